/**
 * The verdict oracle: compares one walk with the ground truth of that moment.
 * Expected outcomes come only from the machine's ground truth and the spec's rules, never from
 * a reference unwinder.
 */
import { STACK_KINDS, type Access } from '../machine/memory';
import { neutral } from './neutral';

/** The longest reason or error text of an unwinder kept in a judgement (the rest is cut). */
export const MAX_TEXT = 2000;
import type { LoadedSnapshot } from '../snapshot/io';
import type { GroundTruth, TruthFrame } from '../truth/shadow';
import type { WalkResult } from '../unwinders/types';
import { hex } from '../machine/addr';

export type Outcome =
  | 'sound-reliable' // rc 0, trace equals the truth after allowed omissions
  | 'correctly-unreliable' // rc != 0
  | 'unsafe' // rc 0 but a live function is missing: breaks livepatch
  | 'imprecise' // rc 0, nothing missing, but duplicated / inverted / spurious entries
  | 'undetected-corruption' // rc 0 following a corrupted return address faithfully; no intact live frame missing
  | 'faulted' // the walk read unmapped or non-stack memory
  | 'runaway' // the walk passed its step / time bound
  | 'errored'; // the unwinder crashed or answered garbage (plugins)

export const OUTCOMES: readonly Outcome[] = ['sound-reliable', 'correctly-unreliable', 'unsafe', 'imprecise', 'undetected-corruption', 'faulted', 'runaway', 'errored'];

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
  /** Reads of unmapped memory or of a stack the walk may not read (another task's, another CPU's). */
  faults: Access[];
  reads: number;
  /** Whether the walk's memory accesses were observed (an external unwinder may not report them). */
  accessesObserved: boolean;
  unreliableReason?: string;
}

export interface WalkRecord {
  result?: WalkResult;
  /** The walk did not finish: the step/time bound was passed. */
  runaway?: string;
  /** The unwinder crashed, hung or answered garbage. */
  error?: string;
  /** Memory accesses made by the walk: always for in-process unwinders, when reported for external ones. */
  accesses?: Access[];
}

const fnName = (snap: LoadedSnapshot, addr: number): string => snap.syms.lookup(addr)?.name ?? hex(addr);

/**
 * Reads that the spec forbids ("access memory in an unsafe way"): unmapped memory, or a stack that is not
 * one of the stacks this walk may read (another task's stack, another CPU's IRQ or NMI stack). Mapped
 * kernel text and data are safe to read (the kernel's own unwinders read text and ret_stack).
 */
export function unsafeAccesses(snap: LoadedSnapshot, accesses: readonly Access[]): Access[] {
  const stackNames = new Set(snap.stacks.map((s) => s.region));
  const kind = new Map(snap.mem.regions.map((r) => [r.name, r.kind]));
  return accesses.filter((a) => a.region === null || (STACK_KINDS.has(kind.get(a.region)!) && !stackNames.has(a.region)));
}

/**
 * The chain the task would really return through after a corruption redirected some returns: each
 * redirected frame resumes at the corrupted address instead (a required frame); every other frame,
 * inner or outer, is intact and stays required as it was, unless the redirect abandons them (the
 * task leaves the kernel from the new address and never returns to them).
 */
function redirectedChain(truth: GroundTruth, fnAt: (addr: number) => string): TruthFrame[] | undefined {
  if (!truth.redirected?.length) return undefined;
  let frames = truth.frames.map((f) => ({ ...f }));
  for (const r of truth.redirected) {
    const f = frames[r.index];
    if (!f) continue;
    frames[r.index] = { fn: fnAt(r.addr), addr: r.addr, why: f.why };
    if (r.abandons) frames = frames.slice(0, r.index + 1);
  }
  return frames;
}

/**
 * A trace entry stands for a truth frame when it names the same function, or reports exactly the address
 * the frame resumes at: after a call to a noreturn function that is the caller's last instruction, the
 * return address is the first byte past the caller (it looks up as the next symbol, or none), and an
 * unwinder that reports it has reported the frame (the kernel's own symbolizers look up address - 1).
 */
const sameFrame = (f: TruthFrame, e: TraceEntry): boolean => f.fn === e.fn || (f.why === 'call' && f.addr === e.addr);

/**
 * Whether the trace is the truth with only omissible frames left out. A subsequence test by dynamic
 * programming, not a greedy scan: with recursion an omissible frame may share its name with a
 * required one, and matching the first occurrence could wrongly leave the required one unmatched.
 */
function embeds(truth: TruthFrame[], trace: TraceEntry[]): boolean {
  // ok[t]: trace[i..] matches truth[t..] (computed for i from the end).
  let ok: boolean[] = new Array<boolean>(truth.length + 1).fill(true);
  for (let t = truth.length - 1; t >= 0; t--) ok[t] = !!truth[t]!.omissible && ok[t + 1]!;
  for (let i = trace.length - 1; i >= 0; i--) {
    const next: boolean[] = new Array<boolean>(truth.length + 1).fill(false);
    for (let t = truth.length - 1; t >= 0; t--) {
      next[t] = (sameFrame(truth[t]!, trace[i]!) && ok[t + 1]!) || (!!truth[t]!.omissible && next[t + 1]!);
    }
    ok = next;
  }
  return ok[0]!;
}

/**
 * Match the trace against the truth. A reliable trace must list the truth's frames in order,
 * where only frames marked omissible may be left out. Otherwise explain by multiset difference
 * (per function name, so recursion counts each activation) and by order.
 */
function compare(truth: TruthFrame[], reported: TraceEntry[]): Pick<Judgement, 'missing' | 'extra' | 'inverted'> & { exact: boolean } {
  if (embeds(truth, reported)) return { exact: true, missing: [], extra: [], inverted: [] };
  // An entry holding exactly the address a call frame resumes at reports that frame (sameFrame), whatever
  // symbol the address falls in (past a noreturn call, the next function's): counted as that frame's function.
  const trace = reported.map((e) => {
    const f = truth.find((x) => x.why === 'call' && x.addr === e.addr && x.fn !== e.fn);
    return f ? { ...e, fn: f.fn } : e;
  });

  // Extra: reported more often than the function is live (duplicated) or never live (spurious).
  const remaining = new Map<string, number>();
  for (const f of truth) remaining.set(f.fn, (remaining.get(f.fn) ?? 0) + 1);
  const extra: Judgement['extra'] = [];
  for (const e of trace) {
    const n = remaining.get(e.fn) ?? 0;
    if (n > 0) remaining.set(e.fn, n - 1);
    else extra.push({ ...e, problem: remaining.has(e.fn) ? 'duplicated' : 'spurious' });
  }
  // Missing: a function reported fewer times than it has required (non-omissible) activations;
  // the outermost required activations are named.
  const reportedCount = new Map<string, number>();
  for (const e of trace) reportedCount.set(e.fn, (reportedCount.get(e.fn) ?? 0) + 1);
  const required = new Map<string, TruthFrame[]>();
  for (const f of truth) if (!f.omissible) required.set(f.fn, [...(required.get(f.fn) ?? []), f]);
  const missingSet = new Set<TruthFrame>();
  for (const [fn, frames] of required) {
    const lacking = frames.length - (reportedCount.get(fn) ?? 0);
    if (lacking > 0) for (const f of frames.slice(frames.length - lacking)) missingSet.add(f);
  }
  const missing = truth.filter((f) => missingSet.has(f));
  // Inversions: the k-th report of a function stands for its k-th live activation (innermost
  // first); two consecutive such reports whose activations are in the reverse order are inverted.
  const inverted: [string, string][] = [];
  const positions = new Map<string, number[]>();
  truth.forEach((f, i) => positions.set(f.fn, [...(positions.get(f.fn) ?? []), i]));
  const used = new Map<string, number>();
  let prev: { fn: string; pos: number } | undefined;
  for (const e of trace) {
    const k = used.get(e.fn) ?? 0;
    used.set(e.fn, k + 1);
    const pos = positions.get(e.fn)?.[k];
    if (pos === undefined) continue; // an extra entry: already reported above
    if (prev && prev.pos > pos && !inverted.some(([a, b]) => a === prev!.fn && b === e.fn)) inverted.push([prev.fn, e.fn]);
    prev = { fn: e.fn, pos };
  }
  return { exact: false, missing, extra, inverted };
}

export function judge(snap: LoadedSnapshot, truth: GroundTruth, walk: WalkRecord): Judgement {
  const faults = unsafeAccesses(snap, walk.accesses ?? []);
  const reads = walk.accesses?.length ?? 0;
  const trace = (walk.result?.trace ?? []).map((addr) => ({ addr, fn: fnName(snap, addr) }));
  const base = { truth: truth.frames, trace, faults, reads, accessesObserved: walk.accesses !== undefined, missing: [], extra: [], inverted: [] };
  const rc = walk.result ? walk.result.rc : null;

  if (walk.error !== undefined) return { ...base, rc, outcome: 'errored', explanation: neutral(walk.error).slice(0, MAX_TEXT) };
  if (walk.runaway !== undefined) return { ...base, rc, outcome: 'runaway', explanation: walk.runaway };
  if (faults.length) {
    const f = faults[0]!;
    const where = f.region === null ? 'unmapped memory' : `${f.region}, which is not an accessible stack of this task`;
    return { ...base, rc, outcome: 'faulted', explanation: `read of ${hex(f.addr)} hit ${where} (${faults.length} unsafe read(s))` };
  }
  const result = walk.result;
  if (!result) return { ...base, rc, outcome: 'errored', explanation: 'the walk gave no result' };
  if (result.rc !== 0) {
    const reason = result.reason === undefined ? undefined : neutral(result.reason).slice(0, MAX_TEXT);
    return {
      ...base,
      rc,
      outcome: 'correctly-unreliable',
      explanation: `reported unreliable (rc ${result.rc})${reason ? `: ${reason}` : ''}`,
      ...(reason ? { unreliableReason: reason } : {}),
    };
  }
  const cmp = compare(truth.frames, trace);
  if (cmp.exact) return { ...base, rc, outcome: 'sound-reliable', explanation: 'reliable trace holds every live function in order' };
  const real = redirectedChain(truth, (a) => fnName(snap, a));
  // How much of the trace is the real chain: all of it, or, past a return the task never comes back from
  // (it leaves the kernel, or a trampoline with no entry panics), a prefix followed by dead frames.
  let live = 0;
  if (real && compare(real, trace).exact) live = trace.length;
  else if (real && truth.redirected!.some((r) => r.abandons)) live = trace.findIndex((_, k) => compare(real, trace.slice(0, k + 1)).exact) + 1;
  if (real && live > 0) {
    const moved = truth.redirected!.map((r) => `${truth.frames[r.index]?.fn ?? '?'} now returns to 0x${r.addr.toString(16)}`).join(', ');
    const dead = live < trace.length ? `, then ${trace.length - live} frame(s) the task can no longer return to` : '';
    return {
      ...base,
      rc,
      outcome: 'undetected-corruption',
      explanation: `reliable trace follows a corrupted return address as if it were valid (${moved})${dead}; no intact live frame is missing`,
    };
  }
  const j = { ...base, rc, missing: cmp.missing, extra: cmp.extra, inverted: cmp.inverted };
  if (cmp.missing.length) {
    return {
      ...j,
      outcome: 'unsafe',
      explanation: `reliable trace omits live function(s): ${cmp.missing.map((f) => `${f.fn} (${hex(f.addr)})`).join(', ')}`,
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
