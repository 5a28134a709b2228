/**
 * Verdict per profile (RFC 2119 levels, like Khronos CTS / ETSI verdicts), computed from the
 * ScenarioResult records of one run and the requirement catalogue. Cucumber only collects; this decides.
 */
import type { Requirement, Topic } from '../catalogue/types';
import type { Profile } from '../unwinders/types';
import type { Level, ScenarioResult, ScenarioStatus, WalkKind, WalkReport } from './results';
import { BREACH_MUST } from './views';

export type Verdict = 'conformant' | 'conformant-with-warnings' | 'not-conformant' | 'incomplete';

/** Outcome of one requirement for one profile: the worst of its scenarios, or why none ran. */
export type RequirementOutcome =
  | 'passed'
  | 'failed'
  | 'errored'
  | 'undefined' // a step has no definition
  | 'skipped'
  | 'not-applicable' // its condition does not hold for this profile / arch
  | 'not-run' // testable, applicable, but no scenario ran
  | 'not-selected' // left out by --requirement / --topic / --tags
  | 'review-only'; // not testable by running code (see the catalogue's reviewOnlyReason)

export const REQUIREMENT_OUTCOMES: readonly RequirementOutcome[] = [
  'passed', 'failed', 'errored', 'undefined', 'skipped', 'not-applicable', 'not-run', 'not-selected', 'review-only',
];

/**
 * Worse first: the requirement takes the first of these that any of its scenarios has. A scenario that
 * observed nothing (not-run) does not spoil one that passed, and never counts as a pass on its own.
 */
const STATUS_ORDER: readonly ScenarioStatus[] = ['failed', 'errored', 'undefined', 'skipped', 'passed', 'not-run', 'not-applicable'];

export function worstStatus(statuses: readonly ScenarioStatus[]): ScenarioStatus | undefined {
  for (const s of STATUS_ORDER) if (statuses.includes(s)) return s;
  return undefined;
}

/** Whether a requirement's condition holds for a profile (src/catalogue applicability()), and why not. */
export type Applicability = (req: Requirement, profile: Profile) => boolean | { applies: boolean; reason?: string };

export interface RequirementVerdict {
  id: string;
  title: string;
  topic: Topic;
  level: Level;
  section: Requirement['section'];
  testability: Requirement['testability'];
  applicable: boolean;
  conditionText?: string;
  outcome: RequirementOutcome;
  /** Scenario IDs that ran for this requirement in this profile. */
  scenarios: string[];
  /** Short reason when not applicable / not run / review-only. */
  note?: string;
}

export interface LevelCounts {
  requirements: Partial<Record<RequirementOutcome, number>>;
  scenarios: Partial<Record<ScenarioStatus, number>>;
}

export interface Usefulness {
  /** Walks of sweeps (an exception at every instruction boundary) and how many were sound reliable walks. */
  sweepWalks: number;
  sweepReliable: number;
  sweepShare: number | null;
  /** Every judged walk of the run (sweeps counted by their summary), and the sound reliable ones. */
  judgedWalks: number;
  reliableWalks: number;
  share: number | null;
  /** rc 0 walks that are not the true chain although nothing live is missing (imprecise, undetected corruption). */
  impreciseWalks: number;
  impreciseShare: number | null;
  /** rc 0 walks that omit a live function. */
  unsafeWalks: number;
  unsafeShare: number | null;
  /** Sound reliable walks per kind of walk: blocked tasks are what a livepatch transition mostly needs. */
  byKind: Partial<Record<WalkKind, { walks: number; sound: number; share: number }>>;
  /** One word for the summary table: useless when nothing is reported reliable, limited when little is. */
  rating: 'useless' | 'limited' | 'useful' | 'n/a';
}

/** What the report says about one failed walk: the oracle's explanation in parts a reader can act on. */
export interface FailureExplanation {
  sceneId: string;
  moment: string;
  outcome: WalkReport['outcome'];
  explanation: string;
  missing: string[];
  duplicated: string[];
  spurious: string[];
  inverted: [string, string][];
  faults: { addr: string; region: string | null }[];
}

export interface ScenarioVerdict extends ScenarioResult {
  failures?: FailureExplanation[];
}

export interface Conformance {
  schemaVersion: 1;
  generatedAt: string;
  profile: Profile;
  /** Set for an external unwinder run through the plugin protocol. */
  external?: { command: string };
  /** 'filtered' when --requirement / --topic / --tags narrowed the run. */
  scope: 'full' | 'filtered';
  filter?: string;
  verdict: Verdict;
  /** Why the verdict is what it is, one line per deciding requirement. */
  reasons: string[];
  counts: Record<Level, LevelCounts>;
  usefulness: Usefulness;
  requirements: RequirementVerdict[];
  notApplicable: string[];
  scenarios: ScenarioVerdict[];
}

const GOOD_OUTCOMES = new Set(['sound-reliable', 'correctly-unreliable']);

/** The parts of the oracle's judgement a failure report shows. */
export function explainWalk(w: WalkReport): FailureExplanation {
  return {
    sceneId: w.sceneId,
    moment: w.moment,
    outcome: w.outcome,
    explanation: w.explanation,
    missing: w.missing,
    duplicated: w.extra.filter((e) => e.problem === 'duplicated').map((e) => e.fn),
    spurious: w.extra.filter((e) => e.problem !== 'duplicated').map((e) => e.fn),
    inverted: w.inverted,
    faults: w.faults,
  };
}

/** Walks of a failed scenario worth explaining: the unsafe/imprecise/faulted ones first, else all. */
export function failureExplanations(r: ScenarioResult, max = 5): FailureExplanation[] {
  const bad = r.walks.filter((w) => !GOOD_OUTCOMES.has(w.outcome));
  return (bad.length ? bad : r.walks).slice(0, max).map(explainWalk);
}

/**
 * Usefulness counts sound reliable walks only: a trace reported reliable that omits a live function
 * (unsafe) or is not the true chain (imprecise) helps no livepatch transition, and is shown beside it.
 */
export function usefulness(results: readonly ScenarioResult[]): Usefulness {
  let sweepWalks = 0;
  let sweepReliable = 0;
  let judgedWalks = 0;
  let reliableWalks = 0;
  let impreciseWalks = 0;
  let unsafeWalks = 0;
  const byKind: Usefulness['byKind'] = {};
  for (const r of results) {
    if (r.status === 'not-applicable') continue;
    for (const [k, v] of Object.entries(r.byKind ?? {}) as [WalkKind, { walks: number; sound: number }][]) {
      const t = (byKind[k] ??= { walks: 0, sound: 0, share: 0 });
      t.walks += v.walks;
      t.sound += v.sound;
    }
    const o: Partial<Record<WalkReport['outcome'], number>> = r.sweep ? r.sweep.outcomes : {};
    if (!r.sweep) for (const w of r.walks) o[w.outcome] = (o[w.outcome] ?? 0) + 1;
    const n = r.sweep ? r.sweep.walks : r.walks.length;
    judgedWalks += n;
    reliableWalks += o['sound-reliable'] ?? 0;
    impreciseWalks += (o.imprecise ?? 0) + (o['undetected-corruption'] ?? 0);
    unsafeWalks += o.unsafe ?? 0;
    if (r.sweep) {
      sweepWalks += n;
      sweepReliable += o['sound-reliable'] ?? 0;
    }
  }
  const sweepShare = sweepWalks ? sweepReliable / sweepWalks : null;
  for (const t of Object.values(byKind)) t.share = t.walks ? t.sound / t.walks : 0;
  const of = (k: number) => (judgedWalks ? k / judgedWalks : null);
  const share = of(reliableWalks);
  // Useless: never a sound reliable trace (livepatch transitions would never complete). Limited: few
  // blocked tasks walked soundly, which is what a transition mostly needs (many blocked scenes are
  // rightly rejected: corrupt stacks, BPF, EFI); without blocked walks, the share of all walks decides.
  const main = byKind.blocked?.share ?? share ?? 0;
  const rating = share === null ? 'n/a' : reliableWalks === 0 ? 'useless' : main < 0.25 ? 'limited' : 'useful';
  return { sweepWalks, sweepReliable, sweepShare, judgedWalks, reliableWalks, share, impreciseWalks, impreciseShare: of(impreciseWalks), unsafeWalks, unsafeShare: of(unsafeWalks), byKind, rating };
}

const ran = (s: ScenarioStatus) => s === 'passed' || s === 'failed' || s === 'errored';

export interface ConformanceInput {
  profile: Profile;
  requirements: readonly Requirement[];
  results: readonly ScenarioResult[];
  /** Condition evaluation from the catalogue; without it, applicability is read off the scenarios. */
  applies?: Applicability;
  /** Set when the run was narrowed; requirements with no scenario are then 'not-selected'. */
  filter?: string;
  external?: { command: string };
  now?: Date;
}

export function requirementVerdicts(input: ConformanceInput): RequirementVerdict[] {
  const { profile, requirements, results, applies, filter } = input;
  const byReq = new Map<string, ScenarioResult[]>();
  for (const r of results) byReq.set(r.requirement, [...(byReq.get(r.requirement) ?? []), r]);
  const known = new Set(requirements.map((r) => r.id));
  const out: RequirementVerdict[] = requirements.map((req) => {
    const rs = byReq.get(req.id) ?? [];
    const base = {
      id: req.id,
      title: req.title,
      topic: req.topic,
      level: req.level,
      section: req.section,
      testability: req.testability,
      ...(req.conditionText ? { conditionText: req.conditionText } : {}),
      scenarios: rs.map((r) => r.id),
    };
    const a = applies ? applies(req, profile) : true;
    const holds = typeof a === 'boolean' ? a : a.applies;
    if (!holds) {
      const why = typeof a === 'object' && a.reason ? a.reason : `condition does not hold: ${req.conditionText ?? req.condition ?? '?'}`;
      return { ...base, applicable: false, outcome: 'not-applicable', note: why };
    }
    if (req.testability === 'review-only' && !rs.length) {
      return { ...base, applicable: true, outcome: 'review-only', note: req.reviewOnlyReason ?? 'checked by review, not by running code' };
    }
    const worst = worstStatus(rs.map((r) => r.status));
    if (worst === undefined) {
      return filter
        ? { ...base, applicable: true, outcome: 'not-selected', note: `not selected by ${filter}` }
        : { ...base, applicable: true, outcome: 'not-run', note: 'no scenario ran for this requirement' };
    }
    if (worst === 'not-run') {
      return { ...base, applicable: true, outcome: 'not-run', note: rs.find((r) => r.message)?.message ?? 'nothing was observed' };
    }
    if (worst === 'not-applicable') {
      const why = rs.find((r) => r.message)?.message;
      return { ...base, applicable: false, outcome: 'not-applicable', note: why ?? 'every scenario was marked not applicable' };
    }
    const v: RequirementVerdict = { ...base, applicable: true, outcome: worst };
    const failed = rs.find((r) => r.status === worst && r.message);
    if (worst !== 'passed' && failed?.message) v.note = failed.message;
    return v;
  });
  // A section-2 MUST breached by a walk of any scenario is failed under that MUST, in every view.
  for (const [id, hits] of breachesByMust(results)) {
    const v = out.find((r) => r.id === id);
    if (!v || v.outcome === 'failed' || v.outcome === 'errored') continue;
    v.outcome = 'failed';
    v.applicable = true;
    v.scenarios = [...new Set([...v.scenarios, ...hits.map((h) => h.scenario)])];
    v.note = hits.map((h) => h.line).join('\n');
  }
  // Results for requirements the catalogue does not know are kept, so nothing is dropped silently.
  for (const [id, rs] of byReq) {
    if (known.has(id)) continue;
    const first = rs[0]!;
    const worst = worstStatus(rs.map((r) => r.status)) ?? 'skipped';
    out.push({
      id,
      title: `(not in the catalogue) ${id}`,
      topic: first.topic as Topic,
      level: first.level,
      section: { original: '?', upstream: '?', title: '?' },
      testability: 'runtime',
      applicable: worst !== 'not-applicable',
      outcome: worst,
      scenarios: rs.map((r) => r.id),
      note: 'scenario tagged with a requirement the catalogue does not define',
    });
  }
  return out;
}

/**
 * Walk outcomes that break a section-2 MUST whatever requirement the scenario is filed under: a SHOULD
 * or MAY scenario (PLT veneers, the middle of return_to_handler, ...) that catches an omitted live
 * function, an unsafe read or a runaway walk has caught a MUST violation, not a warning.
 */
const SECTION_2_BREACH = BREACH_MUST;

/**
 * Section-2 MUSTs broken by the walks of scenarios filed under another requirement, by MUST id: a
 * scenario of any level that judged an unsafe, faulted or runaway walk (sweeps counted whole).
 */
function breachesByMust(results: readonly ScenarioResult[]): Map<string, { scenario: string; line: string }[]> {
  const out = new Map<string, { scenario: string; line: string }[]>();
  for (const r of results) {
    if (r.status === 'not-applicable' || r.status === 'skipped' || r.status === 'undefined') continue;
    const counts = new Map<WalkReport['outcome'], number>();
    const add = (o: WalkReport['outcome'], n: number) => {
      if (SECTION_2_BREACH[o] && n > 0) counts.set(o, (counts.get(o) ?? 0) + n);
    };
    if (r.sweep) for (const [o, n] of Object.entries(r.sweep.outcomes)) add(o as WalkReport['outcome'], n ?? 0);
    else for (const w of r.walks) add(w.outcome, 1);
    for (const [o, n] of counts) {
      const must = SECTION_2_BREACH[o]!;
      if (r.requirement === must) continue;
      const line = `broken in ${r.id} (filed under ${r.level.toUpperCase()} ${r.requirement}): ${n} ${o} walk(s)`;
      out.set(must, [...(out.get(must) ?? []), { scenario: r.id, line }]);
    }
  }
  return out;
}


/** First line of a note, shortened: verdict reasons stay one line each; the details are in the failures. */
const brief = (note?: string): string => {
  if (!note) return '';
  const first = note.split('\n')[0]!;
  const more = note.includes('\n') ? ' (details under Failures)' : '';
  return `: ${first.length > 240 ? first.slice(0, 237) + '...' : first}${more}`;
};

/**
 * The verdict rule: MUST failure (a section-2 breach caught by any scenario fails its MUST) → not conformant; a MUST
 * with nothing run → incomplete; SHOULD failure → warnings.
 */
export function decideVerdict(reqs: readonly RequirementVerdict[]): { verdict: Verdict; reasons: string[] } {
  const bad = (o: RequirementOutcome) => o === 'failed' || o === 'errored';
  const unrun = (r: RequirementVerdict) =>
    r.testability !== 'review-only' && (r.outcome === 'not-run' || r.outcome === 'undefined' || r.outcome === 'skipped');
  const mustFail = reqs.filter((r) => r.level === 'must' && bad(r.outcome));
  if (mustFail.length) {
    return { verdict: 'not-conformant', reasons: mustFail.map((r) => `MUST ${r.id} ${r.outcome}${brief(r.note)}`) };
  }
  const mustUnrun = reqs.filter((r) => r.level === 'must' && unrun(r));
  if (mustUnrun.length) {
    return { verdict: 'incomplete', reasons: mustUnrun.map((r) => `MUST ${r.id} has no scenario that ran (${r.outcome})`) };
  }
  const shouldFail = reqs.filter((r) => r.level === 'should' && (bad(r.outcome) || unrun(r)));
  if (shouldFail.length) {
    return { verdict: 'conformant-with-warnings', reasons: shouldFail.map((r) => `SHOULD ${r.id} ${r.outcome}${brief(r.note)}`) };
  }
  return { verdict: 'conformant', reasons: [] };
}

function counts(reqs: readonly RequirementVerdict[], results: readonly ScenarioResult[]): Record<Level, LevelCounts> {
  const c: Record<Level, LevelCounts> = {
    must: { requirements: {}, scenarios: {} },
    should: { requirements: {}, scenarios: {} },
    may: { requirements: {}, scenarios: {} },
  };
  for (const r of reqs) c[r.level].requirements[r.outcome] = (c[r.level].requirements[r.outcome] ?? 0) + 1;
  for (const s of results) c[s.level].scenarios[s.status] = (c[s.level].scenarios[s.status] ?? 0) + 1;
  return c;
}

export function buildConformance(input: ConformanceInput): Conformance {
  const requirements = requirementVerdicts(input);
  const { verdict, reasons } = decideVerdict(requirements);
  const scenarios: ScenarioVerdict[] = input.results.map((r) =>
    r.status === 'failed' || r.status === 'errored' ? { ...r, failures: failureExplanations(r) } : { ...r },
  );
  return {
    schemaVersion: 1,
    generatedAt: (input.now ?? new Date()).toISOString(),
    profile: input.profile,
    ...(input.external ? { external: input.external } : {}),
    scope: input.filter ? 'filtered' : 'full',
    ...(input.filter ? { filter: input.filter } : {}),
    verdict,
    reasons,
    counts: counts(requirements, input.results),
    usefulness: usefulness(input.results),
    requirements,
    notApplicable: requirements.filter((r) => r.outcome === 'not-applicable').map((r) => r.id),
    scenarios,
  };
}

/** A reference profile must be conformant (warnings allowed); anything else fails `npm run conformance`. */
export function acceptable(c: Pick<Conformance, 'verdict'>): boolean {
  return c.verdict === 'conformant' || c.verdict === 'conformant-with-warnings';
}
