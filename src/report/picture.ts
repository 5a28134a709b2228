/**
 * The failure picture: the true call chain and the reported trace side by side, aligned on
 * function names, with missing / duplicated / spurious / out-of-order entries marked.
 */
import type { WalkReport } from './results';

export type RowMark = 'ok' | 'missing' | 'omitted' | 'duplicated' | 'spurious' | 'inverted' | 'out-of-order' | 'unreported';

export interface PictureRow {
  truth?: { fn: string; addr: string; why: string; omissible?: string };
  trace?: { fn: string; addr: string };
  mark: RowMark;
}

/** What each mark means, for legends. */
export const MARK_TEXT: Record<RowMark, string> = {
  ok: 'reported in place',
  missing: 'MISSING: live function absent from a reliable trace',
  omitted: 'omitted, as the spec allows',
  duplicated: 'DUPLICATED: reported more often than it is live',
  spurious: 'SPURIOUS: not a live function',
  inverted: 'INVERTED: reported in the wrong order',
  'out-of-order': 'reported, but elsewhere in the trace',
  unreported: 'not in the trace: the walk returned rc != 0 (unreliable), so it claimed no complete trace',
};

/** Align truth and trace (longest common subsequence of function names), innermost first. */
export function alignWalk(w: WalkReport): PictureRow[] {
  const a = w.truth;
  const b = w.trace;
  const n = a.length;
  const m = b.length;
  const L: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--) L[i]![j] = a[i]!.fn === b[j]!.fn ? L[i + 1]![j + 1]! + 1 : Math.max(L[i + 1]![j]!, L[i]![j + 1]!);

  const invertedFns = new Set(w.inverted.flat());
  const extraProblem = new Map<string, string[]>();
  for (const e of w.extra) extraProblem.set(e.fn, [...(extraProblem.get(e.fn) ?? []), e.problem]);
  const missingLeft = new Map<string, number>();
  for (const f of w.missing) missingLeft.set(f, (missingLeft.get(f) ?? 0) + 1);
  const reportedFns = new Set(b.map((e) => e.fn));

  const rows: PictureRow[] = [];
  const truthOnly = (t: (typeof a)[number]) => {
    let mark: RowMark;
    if ((missingLeft.get(t.fn) ?? 0) > 0) {
      missingLeft.set(t.fn, missingLeft.get(t.fn)! - 1);
      mark = 'missing';
    } else if (w.rc !== 0) mark = 'unreported';
    else if (t.omissible) mark = 'omitted';
    else mark = invertedFns.has(t.fn) ? 'inverted' : reportedFns.has(t.fn) ? 'out-of-order' : 'omitted';
    rows.push({ truth: t, mark });
  };
  const traceOnly = (e: (typeof b)[number]) => {
    const probs = extraProblem.get(e.fn);
    let mark: RowMark;
    if (probs && probs.length) {
      mark = probs.shift() as RowMark;
    } else mark = invertedFns.has(e.fn) ? 'inverted' : 'out-of-order';
    rows.push({ trace: e, mark });
  };
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i]!.fn === b[j]!.fn) {
      rows.push({ truth: a[i]!, trace: b[j]!, mark: invertedFns.has(a[i]!.fn) ? 'inverted' : 'ok' });
      i++;
      j++;
    } else if (j < m && (i >= n || L[i]![j + 1]! >= L[i + 1]![j]!)) {
      traceOnly(b[j]!);
      j++;
    } else {
      truthOnly(a[i]!);
      i++;
    }
  }
  return rows;
}

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));

/** Plain-text picture (Markdown code block body). */
export function pictureText(w: WalkReport): string {
  const rows = alignWalk(w);
  const left = rows.map((r) => (r.truth ? `${r.truth.fn} ${r.truth.addr}` : ''));
  const right = rows.map((r) => (r.trace ? `${r.trace.fn} ${r.trace.addr}` : ''));
  const hl = 'true call chain (innermost first)';
  const hr = `reported trace (rc ${w.rc ?? 'none'}${w.rc !== 0 ? ', unreliable' : ''})`;
  const wl = Math.max(hl.length, ...left.map((s) => s.length));
  const wr = Math.max(hr.length, ...right.map((s) => s.length));
  const lines = [`${pad(hl, wl)} | ${pad(hr, wr)} |`];
  lines.push(`${'-'.repeat(wl)}-+-${'-'.repeat(wr)}-+-------`);
  rows.forEach((r, k) => {
    const tag = r.mark === 'ok' || r.mark === 'unreported' ? '' : r.mark.toUpperCase();
    lines.push(`${pad(left[k]!, wl)} | ${pad(right[k]!, wr)} | ${tag}`);
  });
  return lines.join('\n');
}

/**
 * The shape of a walk's picture, without addresses: the outcome, the rc and each row's functions and
 * mark. The walks of a sweep that fail the same way (the same function missing at every instruction
 * of a prologue) share a shape, and are shown as one picture.
 */
export function pictureShape(w: WalkReport): string {
  const rows = alignWalk(w).map((r) => `${r.mark}:${r.truth?.fn ?? ''}>${r.trace?.fn ?? ''}`);
  return `${w.outcome}|${w.rc === 0 ? 0 : 'nz'}|${rows.join(',')}`;
}

/** Walks grouped by their picture's shape, in first-seen order. */
export function groupByPicture<T extends WalkReport>(walks: readonly T[]): T[][] {
  const groups = new Map<string, T[]>();
  for (const w of walks) {
    const k = pictureShape(w);
    groups.set(k, [...(groups.get(k) ?? []), w]);
  }
  return [...groups.values()];
}

/**
 * Lines of a message that differ only in their subject ("IRQ before X (insn), walk from the handler: ...")
 * and addresses, folded into one line each with the subjects that share it.
 */
export function groupLines(lines: readonly string[], maxSubjects = 3): string[] {
  const groups = new Map<string, string[]>();
  const order: string[] = [];
  for (const l of lines) {
    const cut = l.indexOf(': ');
    const subject = cut > 0 ? l.slice(0, cut) : '';
    const rest = (cut > 0 ? l.slice(cut + 2) : l).replace(/0x[0-9a-f]+/gi, '0x…');
    if (!groups.has(rest)) order.push(rest);
    groups.set(rest, [...(groups.get(rest) ?? []), subject]);
  }
  return order.map((rest) => {
    const subs = groups.get(rest)!.filter(Boolean);
    if (subs.length <= 1) return lines.find((l) => l.endsWith(rest) || l.replace(/0x[0-9a-f]+/gi, '0x…').endsWith(rest)) ?? rest;
    const shown = subs.slice(0, maxSubjects).join('; ') + (subs.length > maxSubjects ? `; and ${subs.length - maxSubjects} more` : '');
    return `${subs.length} walks (${shown}): ${rest}`;
  });
}
