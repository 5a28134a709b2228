/**
 * Across profiles: the traceability matrix (requirement → section → level → scenarios → outcome
 * per profile, with total / covered / uncovered / review-only counts) and the wpt.fyi-style summary.
 */
import type { Requirement, Topic } from '../catalogue/types';
import { TOPICS } from '../catalogue/types';
import { esc, htmlTable, mdTable, page, pct, VERDICT_TEXT } from './html';
import type { Level } from './results';
import type { Conformance, RequirementOutcome, Usefulness, Verdict } from './verdict';
import { outcomeClass, scenariosFor, usefulnessRating } from './views';
import { anchor } from './conformance-render';

/** A scenario as written in features/ (whether or not it ran). */
export interface CatalogueScenario {
  id: string;
  name: string;
  uri: string;
  requirement: string;
  topic?: string;
}

export interface TraceRow {
  id: string;
  title: string;
  topic: Topic;
  level: Level;
  levelWording: string;
  section: Requirement['section'];
  source: Requirement['source'];
  testability: Requirement['testability'];
  conditionText?: string;
  scenarios: { id: string; name: string; uri: string }[];
  /** Outcome per profile name. */
  outcomes: Record<string, RequirementOutcome>;
}

export interface Traceability {
  schemaVersion: 1;
  generatedAt: string;
  profiles: { name: string; arch: string; reference: boolean; verdict: Verdict; reliableShare: number | null; usefulness: Usefulness['rating'] }[];
  coverage: { total: number; covered: number; uncovered: number; reviewOnly: number; uncoveredIds: string[] };
  /** Scenarios tagged with a requirement the catalogue does not define. */
  orphanScenarios: { id: string; requirement: string; uri: string }[];
  requirements: TraceRow[];
}

export function buildTraceability(
  requirements: readonly Requirement[],
  scenarios: readonly CatalogueScenario[],
  conformances: readonly Conformance[],
  now = new Date(),
): Traceability {
  const byReq = new Map<string, Map<string, { id: string; name: string; uri: string }>>();
  const add = (req: string, s: { id: string; name: string; uri: string }) => {
    const m = byReq.get(req) ?? new Map();
    if (!m.has(s.id)) m.set(s.id, { id: s.id, name: s.name, uri: s.uri });
    byReq.set(req, m);
  };
  for (const s of scenarios) add(s.requirement, s);
  for (const c of conformances) for (const s of c.scenarios) add(s.requirement, s);
  const known = new Set(requirements.map((r) => r.id));
  const rows: TraceRow[] = requirements.map((r) => {
    const outcomes: Record<string, RequirementOutcome> = {};
    for (const c of conformances) outcomes[c.profile.name] = c.requirements.find((x) => x.id === r.id)?.outcome ?? 'not-run';
    return {
      id: r.id,
      title: r.title,
      topic: r.topic,
      level: r.level,
      levelWording: r.levelWording,
      section: r.section,
      source: r.source,
      testability: r.testability,
      ...(r.conditionText ? { conditionText: r.conditionText } : {}),
      scenarios: [...(byReq.get(r.id)?.values() ?? [])].sort((a, b) => a.id.localeCompare(b.id)),
      outcomes,
    };
  });
  const reviewOnly = rows.filter((r) => r.testability === 'review-only');
  const testable = rows.filter((r) => r.testability !== 'review-only');
  const uncovered = testable.filter((r) => !r.scenarios.length);
  const orphans: Traceability['orphanScenarios'] = [];
  for (const [req, m] of byReq) if (!known.has(req)) for (const s of m.values()) orphans.push({ id: s.id, requirement: req, uri: s.uri });
  return {
    schemaVersion: 1,
    generatedAt: now.toISOString(),
    profiles: conformances.map((c) => ({
      name: c.profile.name,
      arch: c.profile.arch,
      reference: c.profile.reference,
      verdict: c.verdict,
      // The share of all judged walks, as the terminal table's 'all' column.
      reliableShare: c.usefulness.share,
      usefulness: c.usefulness.rating,
    })),
    coverage: {
      total: rows.length,
      covered: testable.length - uncovered.length,
      uncovered: uncovered.length,
      reviewOnly: reviewOnly.length,
      uncoveredIds: uncovered.map((r) => r.id),
    },
    orphanScenarios: orphans,
    requirements: rows,
  };
}

const SYMBOL: Record<RequirementOutcome, string> = {
  passed: '✔ pass',
  failed: '✘ FAIL',
  errored: '✘ ERROR',
  undefined: '? undefined',
  skipped: '… skipped',
  'not-applicable': '– n/a',
  'not-run': '○ not run',
  'not-selected': '· not selected',
  'review-only': '◇ review',
};

export function traceabilityMarkdown(t: Traceability): string {
  const c = t.coverage;
  const out = ['# Traceability: requirements → scenarios → outcomes', ''];
  out.push(`Coverage: **${c.total}** requirements: ${c.covered} covered, ${c.uncovered} uncovered, ${c.reviewOnly} review-only.`, '');
  if (c.uncoveredIds.length) out.push(`Uncovered: ${c.uncoveredIds.join(', ')}`, '');
  const names = t.profiles.map((p) => p.name);
  out.push(
    mdTable(
      ['requirement', 'section (reviewed / upstream)', 'level', 'testability', 'scenarios', ...names],
      t.requirements.map((r) => [
        `${r.id}: ${r.title}`,
        `${r.section.original} / ${r.section.upstream} ${r.section.title}`,
        `${r.level.toUpperCase()} ("${r.levelWording}")`,
        r.testability,
        r.scenarios.map((s) => s.id).join(', ') || '—',
        ...names.map((n) => SYMBOL[r.outcomes[n] ?? 'not-run']),
      ]),
    ),
  );
  if (t.orphanScenarios.length) out.push('', `Scenarios tagged with unknown requirements: ${t.orphanScenarios.map((o) => `${o.id} (@req:${o.requirement})`).join(', ')}`);
  return out.join('\n') + '\n';
}

/** The scenarios filed elsewhere whose walks breached a MUST in a profile: shown in its cell, linked. */
function viaHtml(cs: readonly Conformance[], reqId: string, profile: string): string {
  const c = cs.find((x) => x.profile.name === profile);
  const via = c ? scenariosFor(c, reqId).filter((x) => x.breach) : [];
  if (!via.length) return '';
  const links = via.slice(0, 3).map((x) => `<a href="${esc(profile)}/conformance.html#${esc(anchor.scenario(x.scenario.id))}">${esc(x.scenario.id)}</a>`);
  return `<br><span class="small">via ${links.join(', ')}${via.length > 3 ? ` and ${via.length - 3} more` : ''}</span>`;
}

export function traceabilityHtml(t: Traceability, cs: readonly Conformance[] = []): string {
  const c = t.coverage;
  const names = t.profiles.map((p) => p.name);
  const b: string[] = ['<h1>Traceability</h1>'];
  b.push(
    `<p id="coverage">Coverage: <b>${c.total}</b> requirements — <b>${c.covered}</b> covered, <b>${c.uncovered}</b> uncovered, <b>${c.reviewOnly}</b> review-only.</p>`,
  );
  if (c.uncoveredIds.length) b.push(`<p>Uncovered: ${c.uncoveredIds.map((i) => `<code>${esc(i)}</code>`).join(', ')}</p>`);
  b.push(
    htmlTable(
      ['profile', 'verdict', 'reliable walks'],
      t.profiles.map((p) => [`<a href="${esc(p.name)}/conformance.html">${esc(p.name)}</a>${p.reference ? ' <span class="small">(reference)</span>' : ''}`, `<span class="verdict v-${p.verdict}">${esc(VERDICT_TEXT[p.verdict])}</span>`, shareHtml(p)]),
    ),
  );
  const rows = t.requirements;
  b.push(
    htmlTable(
      ['requirement', 'section<br>reviewed / upstream', 'level', 'scenarios', ...names.map(esc)],
      rows.map((r) => [
        `<code>${esc(r.id)}</code><br><span class="small">${esc(r.title)}</span>`,
        `${esc(r.section.original)} / ${esc(r.section.upstream)}<br><span class="small">${esc(r.section.title)}</span>`,
        `<b>${r.level.toUpperCase()}</b><br><span class="small">“${esc(r.levelWording)}”</span>`,
        r.testability === 'review-only' && !r.scenarios.length
          ? '<span class="small">review-only</span>'
          : r.scenarios.map((s) => `<span class="mono small" title="${esc(s.name)}">${esc(s.id)}</span>`).join('<br>') || '<b>uncovered</b>',
        ...names.map((n) => esc(SYMBOL[r.outcomes[n] ?? 'not-run']) + (r.outcomes[n] === 'failed' ? viaHtml(cs, r.id, n) : '')),
      ]),
      (ri, ci) => (ci >= 4 ? outcomeClass(rows[ri]!.outcomes[names[ci - 4]!] ?? 'not-run', rows[ri]!.level) : undefined),
    ),
  );
  b.push(`<p class="small">Generated ${esc(t.generatedAt)}. Machine-readable: <a href="traceability.json">traceability.json</a>.</p>`);
  return page('Traceability', b.join('\n'));
}

/** wpt.fyi-style table: rows = topics and their requirements, columns = profiles, cells = passed / ran. */
interface Cell {
  passed: number;
  ran: number;
  outcome?: RequirementOutcome;
  /** The level whose failure shades the cell. */
  level?: Level;
}

function summaryGrid(t: Traceability, conformances: readonly Conformance[]) {
  const names = t.profiles.map((p) => p.name);
  const byName = new Map(conformances.map((c) => [c.profile.name, c]));
  // A scenario counts under each requirement it decides: its own, and a section-2 MUST its walks breach (failed there).
  const cellFor = (profile: string, reqIds: string[]): Cell => {
    const c = byName.get(profile);
    const st = new Map<string, string>();
    for (const id of reqIds) for (const x of c ? scenariosFor(c, id) : []) {
      const prev = st.get(x.scenario.id);
      if (prev !== 'failed' && prev !== 'errored') st.set(x.scenario.id, x.status);
    }
    const ranS = [...st.values()].filter((s) => s === 'passed' || s === 'failed' || s === 'errored');
    return { passed: ranS.filter((s) => s === 'passed').length, ran: ranS.length };
  };
  const rows: { label: string; topic: boolean; level?: Level; cells: Cell[] }[] = [];
  for (const topic of TOPICS) {
    const reqs = t.requirements.filter((r) => r.topic === topic);
    if (!reqs.length) continue;
    const topicOutcome = (n: string): RequirementOutcome => {
      const os = reqs.map((r) => r.outcomes[n] ?? 'not-run');
      return (['failed', 'errored', 'undefined', 'skipped', 'not-run', 'not-selected', 'review-only'] as const).find((o) => os.includes(o)) ?? 'not-applicable';
    };
    // A topic is shaded by the highest level that failed in it.
    const topicLevel = (n: string): Level | undefined =>
      (['must', 'should', 'may'] as const).find((l) => reqs.some((r) => r.level === l && ['failed', 'errored'].includes(r.outcomes[n] ?? '')));
    rows.push({ label: topic, topic: true, cells: names.map((n) => ({ ...cellFor(n, reqs.map((r) => r.id)), outcome: topicOutcome(n), level: topicLevel(n) })) });
    for (const r of reqs) rows.push({ label: `${r.level.toUpperCase()} ${r.id}`, topic: false, level: r.level, cells: names.map((n) => ({ ...cellFor(n, [r.id]), outcome: r.outcomes[n], level: r.level })) });
  }
  return { names, rows };
}

type ProfileRow = Traceability['profiles'][number];
/** The reliable-walk share, flagged when the unwinder is useless or of limited use to livepatch. */
const shareText = (p: ProfileRow) => pct(p.reliableShare) + (p.usefulness === 'useless' ? ' USELESS' : p.usefulness === 'limited' ? ' (limited)' : '');
/** Never green beside a red verdict: a not-conformant unwinder's share is shown void. */
const shareHtml = (p: ProfileRow) => {
  const u = usefulnessRating({ verdict: p.verdict, usefulness: { rating: p.usefulness } as Usefulness });
  return `<span class="${u.cls}">${esc(shareText(p))}${u.cls === 'u-void' ? ` <span class="small">(${esc(u.text)})</span>` : ''}</span>`;
};

const cellText = (c: Cell) => {
  if (c.outcome && c.ran === 0) return SYMBOL[c.outcome];
  // The requirement's verdict decides the mark: a MUST breached elsewhere fails even if its own scenarios passed.
  const mark = c.outcome === 'failed' || c.outcome === 'errored' ? ' ✘' : '';
  return `${c.passed} / ${c.ran}${mark}`;
};

export function summaryMarkdown(t: Traceability, conformances: readonly Conformance[]): string {
  const { names, rows } = summaryGrid(t, conformances);
  const out = ['# Summary across profiles', ''];
  out.push(mdTable(['', ...names], [
    ['**verdict**', ...t.profiles.map((p) => VERDICT_TEXT[p.verdict]!)],
    ['**reliable walks**', ...t.profiles.map(shareText)],
    ...rows.map((r) => [r.topic ? `**${r.label}**` : r.label, ...r.cells.map((c) => (r.topic ? `**${cellText(c)}**` : cellText(c)))]),
  ]));
  out.push('', 'Cells: scenarios passed / scenarios that ran; otherwise why none ran.');
  return out.join('\n') + '\n';
}

export function summaryHtml(t: Traceability, conformances: readonly Conformance[]): string {
  const { names, rows } = summaryGrid(t, conformances);
  const shade = (c: Cell) =>
    c.outcome === 'failed' || c.outcome === 'errored' ? outcomeClass(c.outcome, c.level ?? 'must') : c.ran === 0 ? `o-${c.outcome ?? 'not-run'}` : c.passed === c.ran ? 'o-passed' : outcomeClass('failed', c.level ?? 'must');
  const body = [
    '<h1>Summary across profiles</h1>',
    htmlTable(
      ['', ...names.map((n) => `<a href="${esc(n)}/conformance.html">${esc(n)}</a>`)],
      [
        ['<b>verdict</b>', ...t.profiles.map((p) => `<span class="verdict v-${p.verdict}">${esc(VERDICT_TEXT[p.verdict])}</span>`)],
        ['<b>reliable walks</b>', ...t.profiles.map(shareHtml)],
        ...rows.map((r) => [r.topic ? `<b>${esc(r.label)}</b>` : `<span class="small mono">${esc(r.label)}</span>`, ...r.cells.map((c) => esc(cellText(c)))]),
      ],
      (ri, ci) => (ri >= 2 && ci >= 1 ? shade(rows[ri - 2]!.cells[ci - 1]!) : undefined),
    ),
    '<p class="small">Cells: scenarios passed / scenarios that ran; otherwise why none ran. See <a href="traceability.html">traceability</a>.</p>',
  ];
  return page('Summary across profiles', body.join('\n'));
}
