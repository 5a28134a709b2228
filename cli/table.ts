/** The short summary table printed at the end of a run. */
import { VERDICT_TEXT, pct } from '../src/report/html';
import type { Conformance } from '../src/report/verdict';

const pad = (s: string, n: number) => s + ' '.repeat(Math.max(0, n - s.length));

export function summaryTable(cs: readonly Conformance[]): string {
  const head = ['profile', 'verdict', 'MUSTs pass/fail', 'SHOULDs pass/fail', 'sound reliable walks (usefulness)'];
  // Requirements, not scenarios: a MUST breached by a scenario filed elsewhere counts as that MUST failed.
  const pf = (c: Conformance, l: 'must' | 'should') => {
    const s = c.counts[l].requirements;
    return `${s.passed ?? 0}/${(s.failed ?? 0) + (s.errored ?? 0)}`;
  };
  const rows = cs.map((c) => {
    const u = c.usefulness;
    const k = u.byKind;
    const exc = (k['in-handler']?.walks ?? 0) + (k.preempted?.walks ?? 0);
    const excSound = (k['in-handler']?.sound ?? 0) + (k.preempted?.sound ?? 0);
    const sweep = `blocked ${k.blocked ? pct(k.blocked.share) : 'n/a'}, across exceptions ${exc ? pct(excSound / exc) : 'n/a'}`;
    const bad = u.unsafeWalks || u.impreciseWalks ? ` (+${pct(u.unsafeShare)} unsafe, ${pct(u.impreciseShare)} imprecise)` : '';
    const flag = (u.rating === 'useless' ? '  USELESS' : u.rating === 'limited' ? '  limited' : '') + bad;
    return [
      c.profile.name + (c.profile.reference ? ' (ref)' : ''),
      VERDICT_TEXT[c.verdict]!,
      pf(c, 'must'),
      pf(c, 'should'),
      `${sweep}, all ${pct(u.share)} of ${u.judgedWalks}${flag}`,
    ];
  });
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => pad(c, w[i]!)).join('  ');
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}
