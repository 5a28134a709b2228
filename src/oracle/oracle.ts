/**
 * The verdict oracle: compares one walk with the ground truth of that moment.
 * Expected outcomes come only from the machine's ground truth and the spec's rules, never from
 * a reference unwinder.
 */
import type { Access } from '../machine/memory';
import type { LoadedSnapshot } from '../snapshot/io';
import type { GroundTruth, TruthFrame } from '../truth/shadow';
import type { WalkResult } from '../unwinders/types';

export type Outcome =
  | 'sound-reliable' // rc 0, trace equals the truth after allowed omissions
  | 'correctly-unreliable' // rc != 0
  | 'unsafe' // rc 0 but a live function is missing: breaks livepatch
  | 'imprecise' // rc 0, nothing missing, but duplicated / inverted / spurious entries
  | 'faulted' // the walk read unmapped or non-stack memory
  | 'runaway' // the walk passed its step / time bound
  | 'errored'; // the unwinder crashed or answered garbage (plugins)

export const OUTCOMES: readonly Outcome[] = ['sound-reliable', 'correctly-unreliable', 'unsafe', 'imprecise', 'faulted', 'runaway', 'errored'];

export interface TraceEntry {
  addr: number;
  fn: string;
}

export interface Judgement {
  outcome: Outcome;
  rc: number | null;
  /** One line a maintainer can act on. */
  explanation: string;
  truth: TruthFrame[];
  trace: TraceEntry[];
  /** Required frames absent from a reliable trace. */
  missing: TruthFrame[];
  /** Trace entries that are not live (spurious) or repeated (duplicated). */
  extra: (TraceEntry & { problem: 'duplicated' | 'spurious' })[];
  /** Pairs of functions reported in the wrong order (callee reported as parent). */
  inverted: [string, string][];
  /** Reads of unmapped memory or of memory that is not one of the task's accessible stacks. */
  faults: Access[];
  reads: number;
  unreliableReason?: string;
}

export interface WalkRecord {
  result?: WalkResult;
  /** The walk did not finish: the step/time bound was passed. */
  runaway?: string;
  /** The unwinder crashed, hung or answered garbage. */
  error?: string;
  /** Memory accesses made by the walk (in-process unwinders only). */
  accesses?: Access[];
}

const fnName = (snap: LoadedSnapshot, addr: number): string => snap.syms.lookup(addr)?.name ?? `0x${addr.toString(16)}`;

/** Reads that the spec forbids: unmapped memory, or memory that is not an accessible stack of this task. */
export function unsafeAccesses(snap: LoadedSnapshot, accesses: readonly Access[]): Access[] {
  const stackNames = new Set(snap.stacks.map((s) => s.region));
  return accesses.filter((a) => a.region === null || !stackNames.has(a.region));
}

/**
 * Match the trace against the truth. A reliable trace must list the truth's frames in order,
 * where only frames marked omissible may be left out.
 */
function compare(truth: TruthFrame[], trace: TraceEntry[]): Pick<Judgement, 'missing' | 'extra' | 'inverted'> & { exact: boolean } {
  let t = 0;
  let exact = true;
  for (const e of trace) {
    while (t < truth.length && truth[t]!.fn !== e.fn && truth[t]!.omissible) t++;
    if (t < truth.length && truth[t]!.fn === e.fn) t++;
    else {
      exact = false;
      break;
    }
  }
  if (exact && truth.slice(t).every((f) => f.omissible)) return { exact: true, missing: [], extra: [], inverted: [] };

  // Not exact: explain by multiset difference and order.
  const remaining = new Map<string, number>();
  for (const f of truth) remaining.set(f.fn, (remaining.get(f.fn) ?? 0) + 1);
  const extra: Judgement['extra'] = [];
  const truthFns = new Set(truth.map((f) => f.fn));
  for (const e of trace) {
    const n = remaining.get(e.fn) ?? 0;
    if (n > 0) remaining.set(e.fn, n - 1);
    else extra.push({ ...e, problem: truthFns.has(e.fn) ? 'duplicated' : 'spurious' });
  }
  const reportedCount = new Map<string, number>();
  for (const e of trace) reportedCount.set(e.fn, (reportedCount.get(e.fn) ?? 0) + 1);
  const missing: TruthFrame[] = [];
  const seen = new Map<string, number>();
  for (const f of truth) {
    const k = (seen.get(f.fn) ?? 0) + 1;
    seen.set(f.fn, k);
    if (!f.omissible && k > (reportedCount.get(f.fn) ?? 0)) missing.push(f);
  }
  // Inversions: a pair whose order in the trace is the reverse of the truth (first occurrences).
  const inverted: [string, string][] = [];
  const posTruth = new Map<string, number>();
  truth.forEach((f, i) => posTruth.has(f.fn) || posTruth.set(f.fn, i));
  const firsts: string[] = [];
  for (const e of trace) if (!firsts.includes(e.fn) && posTruth.has(e.fn)) firsts.push(e.fn);
  for (let i = 0; i + 1 < firsts.length; i++) {
    const a = firsts[i]!;
    const b = firsts[i + 1]!;
    if (posTruth.get(a)! > posTruth.get(b)!) inverted.push([a, b]);
  }
  return { exact: false, missing, extra, inverted };
}

export function judge(snap: LoadedSnapshot, truth: GroundTruth, walk: WalkRecord): Judgement {
  const faults = unsafeAccesses(snap, walk.accesses ?? []);
  const reads = walk.accesses?.length ?? 0;
  const trace = (walk.result?.trace ?? []).map((addr) => ({ addr, fn: fnName(snap, addr) }));
  const base = { truth: truth.frames, trace, faults, reads, missing: [], extra: [], inverted: [] };
  const rc = walk.result ? walk.result.rc : null;

  if (walk.error !== undefined) return { ...base, rc, outcome: 'errored', explanation: walk.error };
  if (walk.runaway !== undefined) return { ...base, rc, outcome: 'runaway', explanation: walk.runaway };
  if (faults.length) {
    const f = faults[0]!;
    const where = f.region === null ? 'unmapped memory' : `${f.region}, which is not an accessible stack of this task`;
    return { ...base, rc, outcome: 'faulted', explanation: `read of 0x${f.addr.toString(16)} hit ${where} (${faults.length} unsafe read(s))` };
  }
  const result = walk.result!;
  if (result.rc !== 0) {
    return {
      ...base,
      rc,
      outcome: 'correctly-unreliable',
      explanation: `reported unreliable (rc ${result.rc})${result.reason ? `: ${result.reason}` : ''}`,
      ...(result.reason ? { unreliableReason: result.reason } : {}),
    };
  }
  const cmp = compare(truth.frames, trace);
  if (cmp.exact) return { ...base, rc, outcome: 'sound-reliable', explanation: 'reliable trace holds every live function in order' };
  const j = { ...base, rc, missing: cmp.missing, extra: cmp.extra, inverted: cmp.inverted };
  if (cmp.missing.length) {
    return {
      ...j,
      outcome: 'unsafe',
      explanation: `reliable trace omits live function(s): ${cmp.missing.map((f) => `${f.fn} (0x${f.addr.toString(16)})`).join(', ')}`,
    };
  }
  const parts: string[] = [];
  const dup = cmp.extra.filter((e) => e.problem === 'duplicated');
  const spur = cmp.extra.filter((e) => e.problem === 'spurious');
  if (dup.length) parts.push(`duplicated ${dup.map((e) => e.fn).join(', ')}`);
  if (spur.length) parts.push(`spurious ${spur.map((e) => e.fn).join(', ')}`);
  if (cmp.inverted.length) parts.push(`inverted ${cmp.inverted.map(([a, b]) => `${a} before ${b}`).join(', ')}`);
  if (!parts.length) parts.push('entries out of order');
  return { ...j, outcome: 'imprecise', explanation: `reliable trace is not the true call chain: ${parts.join('; ')}` };
}
