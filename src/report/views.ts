/**
 * What every view (terminal, summary, traceability, conformance page, JUnit, KTAP, Allure) reads
 * from a conformance record, so they cannot disagree: the scenarios that decide a requirement
 * (including those filed elsewhere whose walks breach a section-2 MUST), the level a failure is
 * listed under, and the colour classes that follow level and outcome.
 */
import type { Level, ScenarioStatus, WalkReport } from './results';
import type { Conformance, RequirementOutcome, ScenarioVerdict } from './verdict';

/** Walk outcomes that break a section-2 MUST, whatever requirement the scenario is filed under. */
export const BREACH_MUST: Partial<Record<WalkReport['outcome'], string>> = {
  unsafe: 'trace-complete-or-nonzero',
  faulted: 'walk-memory-safe',
  runaway: 'walk-terminates',
};

/** Walk outcomes, worst first: what breaks livepatch before what only stalls it. */
export const OUTCOME_ORDER: WalkReport['outcome'][] = ['unsafe', 'faulted', 'runaway', 'errored', 'undetected-corruption', 'imprecise', 'correctly-unreliable', 'sound-reliable'];

/** Every walk outcome a scenario saw (sweeps by their summary). */
export function outcomesSeen(s: Pick<ScenarioVerdict, 'walks' | 'sweep'>): Set<WalkReport['outcome']> {
  const seen = new Set<WalkReport['outcome']>(s.walks.map((w) => w.outcome));
  for (const [o, n] of Object.entries(s.sweep?.outcomes ?? {})) if (n) seen.add(o as WalkReport['outcome']);
  return seen;
}

/** The worst walk outcome of a scenario (sweeps by their summary). */
export function worstOutcome(s: Pick<ScenarioVerdict, 'walks' | 'sweep'>): WalkReport['outcome'] | undefined {
  const seen = outcomesSeen(s);
  return OUTCOME_ORDER.find((o) => seen.has(o));
}

/** The section-2 MUSTs a scenario's walks breach (never its own requirement). */
export function breachedMusts(s: Pick<ScenarioVerdict, 'walks' | 'sweep' | 'requirement' | 'status'>): string[] {
  if (s.status === 'not-applicable' || s.status === 'skipped' || s.status === 'undefined') return [];
  const out = new Set<string>();
  for (const o of outcomesSeen(s)) {
    const m = BREACH_MUST[o];
    if (m && m !== s.requirement) out.add(m);
  }
  return [...out];
}

/** The level a scenario's failure counts at: MUST when its walks breach section 2, else its own. */
export function effectiveLevel(s: Pick<ScenarioVerdict, 'walks' | 'sweep' | 'requirement' | 'level' | 'status'>): Level {
  const w = worstOutcome(s);
  return (w && BREACH_MUST[w]) || breachedMusts(s).length ? 'must' : s.level;
}

/**
 * The scenarios that decide a requirement in one profile, each with its status *for that requirement*:
 * a scenario filed elsewhere whose walks breach this MUST counts as failed here.
 */
export function scenariosFor(c: Conformance, reqId: string): { scenario: ScenarioVerdict; status: ScenarioStatus; breach: boolean }[] {
  const out: { scenario: ScenarioVerdict; status: ScenarioStatus; breach: boolean }[] = [];
  for (const s of c.scenarios) {
    if (s.requirement === reqId) out.push({ scenario: s, status: s.status, breach: false });
    else if (breachedMusts(s).includes(reqId)) out.push({ scenario: s, status: 'failed', breach: true });
  }
  return out;
}

const BAD = new Set<string>(['failed', 'errored']);

/** CSS class of an outcome cell: failures shaded by level (MUST red, SHOULD orange, MAY yellow). */
export function outcomeClass(outcome: RequirementOutcome | ScenarioStatus, level: Level): string {
  return BAD.has(outcome) ? `o-${outcome} l-${level}` : `o-${outcome}`;
}

/** Text of the usefulness rating beside a verdict: never "useful" next to NOT conformant. */
export function usefulnessRating(c: Pick<Conformance, 'verdict' | 'usefulness'>): { text: string; cls: string } {
  const r = c.usefulness.rating;
  if (c.verdict === 'not-conformant' && (r === 'useful' || r === 'limited')) {
    return { text: 'void: not conformant, so no walk can be trusted', cls: 'u-void' };
  }
  return { text: r, cls: r === 'n/a' ? '' : r };
}
