/**
 * Per-scenario result records: written by the Cucumber After hook (steps/support), one JSON line
 * each, and read by the report builder. The domain (src/) decides pass/fail; Cucumber only carries it.
 */
import type { Judgement, Outcome } from '../oracle/oracle';
import { hex } from '../machine/addr';

export type Level = 'must' | 'should' | 'may';

export type ScenarioStatus =
  | 'passed'
  | 'failed'
  | 'errored' // the step machinery or the unwinder under test broke (not an assertion)
  | 'not-applicable' // the requirement's condition does not hold for this profile / arch
  | 'skipped'
  | 'not-run' // it ran, but nothing it checks was observed (no observation, no pass)
  | 'undefined';

/** A judged walk as stored in reports (addresses as hex strings). */
export interface WalkReport {
  sceneId: string;
  moment: string;
  outcome: Outcome;
  explanation: string;
  rc: number | null;
  truth: { fn: string; addr: string; why: string; omissible?: string }[];
  trace: { fn: string; addr: string }[];
  missing: string[];
  extra: { fn: string; addr: string; problem: string }[];
  inverted: [string, string][];
  /** The first MAX_FAULTS_KEPT unsafe reads (a plugin may report thousands: reports stay bounded). */
  faults: { addr: string; region: string | null }[];
  /** Unsafe reads beyond those kept in `faults`. */
  faultsOmitted?: number;
  reads: number;
  /** Stack memory around the frames, for the report's picture: [addr, value, symbol?]. */
  stackDump?: { addr: string; value: string; note?: string }[];
  /** Path (relative to the profile's report folder) of the exact snapshot sent, kept for failures. */
  snapshotFile?: string;
}

/** What kind of walk: a blocked task, a task preempted by an exception and then blocked, or current from a handler. */
/** How a walk was requested: a blocked task, a task preempted by an exception, from an exception handler, or of current with no exception in between (e.g. from a kretprobe return handler). */
export type WalkKind = 'blocked' | 'preempted' | 'in-handler' | 'running';

export interface SweepSummary {
  walks: number;
  reliable: number;
  outcomes: Partial<Record<Outcome, number>>;
}

export interface ScenarioResult {
  profile: string;
  /** Stable example ID (its @id: tag). */
  id: string;
  name: string;
  /** features/<topic>/... path */
  uri: string;
  topic: string;
  requirement: string;
  level: Level;
  status: ScenarioStatus;
  /** Why it failed, errored or was not applicable. */
  message?: string;
  walks: WalkReport[];
  /** Every walk of the scenario by kind, with the sound reliable ones (usefulness per kind). */
  byKind?: Partial<Record<WalkKind, { walks: number; sound: number }>>;
  sweep?: SweepSummary;
  durationMs: number;
}

/** Unsafe reads kept per walk in reports; the rest are counted (faultsOmitted). */
export const MAX_FAULTS_KEPT = 16;

export function toWalkReport(sceneId: string, moment: string, j: Judgement): WalkReport {
  const h = hex;
  return {
    sceneId,
    moment,
    outcome: j.outcome,
    explanation: j.explanation,
    rc: j.rc,
    truth: j.truth.map((f) => ({ fn: f.fn, addr: h(f.addr), why: f.why, ...(f.omissible ? { omissible: f.omissible } : {}) })),
    trace: j.trace.map((e) => ({ fn: e.fn, addr: h(e.addr) })),
    missing: j.missing.map((f) => f.fn),
    extra: j.extra.map((e) => ({ fn: e.fn, addr: h(e.addr), problem: e.problem })),
    inverted: j.inverted,
    faults: j.faults.slice(0, MAX_FAULTS_KEPT).map((f) => ({ addr: h(f.addr), region: f.region })),
    ...(j.faults.length > MAX_FAULTS_KEPT ? { faultsOmitted: j.faults.length - MAX_FAULTS_KEPT } : {}),
    reads: j.reads,
  };
}
