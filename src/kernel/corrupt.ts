/**
 * Corruptions a scene may apply after its moment (spec 2, robustness): edits of the innermost saved
 * frame record {link, return address} a frame-pointer walk would follow (the record layout is the
 * same on both arches: rbp / x29 points at it), or of the saved registers in the innermost
 * kernel-mode exception frame (pt_regs). A corruption that overwrites where the task returns (a saved
 * return address, a saved pc) is reported as a Redirect, and redirectTruth() records it in the ground
 * truth: the task would really resume there. Nothing else about the truth changes.
 */
import type { Memory } from '../machine/memory';
import type { Corruption } from '../scene/types';
import type { GroundTruth } from '../truth/shadow';
import { hex } from '../machine/addr';
import type { TaskTracing } from './tracing';
import type { SymbolTable } from '../machine/symbols';

export interface CorruptionTargets {
  /** The other (blocked) task's innermost frame record. */
  otherRecord: number;
  /** An address no region maps on this machine. */
  unmapped: number;
}

/** A return address that is neither text nor mapped on either machine. */
export const GARBAGE_RA = 0x4141414141;

/** A saved return target overwritten: the task was to resume at `was`, and now resumes at `now`. */
export interface Redirect {
  was: number;
  now: number;
  /** The task never comes back from `now` (it leaves the kernel, or a trampoline finds no entry and panics): the frames outer to the redirected one are dead. */
  abandons?: boolean;
}

/**
 * Record a redirect in the ground truth: the innermost frame (below the current PC) that resumes at
 * `was` now resumes at `now`. When no frame resumes there (the slot held a return trampoline's address),
 * the truth is left as the shadow record has it.
 */
export function redirectTruth(truth: GroundTruth, r: Redirect | undefined, nth = 0): void {
  if (!r) return;
  let seen = 0;
  const index = truth.frames.findIndex((f, i) => i > 0 && f.addr === r.was && seen++ === nth);
  if (index > 0) truth.redirected = [...(truth.redirected ?? []), { index, addr: r.now, ...(r.abandons ? { abandons: true } : {}) }];
}

/**
 * redirectTruth for a corruption of the saved record at `depth` of a chain: with recursion several frames
 * resume at the same address, and the one redirected is the one whose record it is, after as many frames
 * resuming there as the records inside it (depths 1 .. depth-1) save. `savedReturn(k)`: the return
 * address record k saves (the word a return-address corruption of it would overwrite).
 */
export function redirectTruthAtDepth(truth: GroundTruth, r: Redirect | undefined, depth: number | undefined, savedReturn: (k: number) => number, tracing?: { t: TaskTracing; trampolines: { fgraph: number; kretprobe: number } }): void {
  if (!r) return;
  const saved = [...Array.from({ length: (depth ?? 1) - 1 }, (_, k) => savedReturn(k + 1)), r.was];
  // A slot holding a return trampoline's address stands for the return it will make: its tracing entry's.
  const real = tracing ? saved.map(returnResolver(tracing.t, tracing.trampolines)) : saved;
  const was = real[real.length - 1]!;
  redirectTruth(truth, { ...r, was }, real.slice(0, -1).filter((a) => a === was).length);
}

/**
 * Where return addresses met innermost first really send the task, as its returns will: a return
 * trampoline's address takes the next entry of its tracing state (ret_stack innermost last, kretprobe
 * instances innermost first), and an entry that holds a trampoline's address (a traced function that
 * tail-called another traced one) passes the return on to the next entry.
 */
function returnResolver(t: TaskTracing, trampolines: { fgraph: number; kretprobe: number }): (a: number) => number {
  let f = 0;
  let k = 0;
  const resolve = (a: number): number => {
    if (a === trampolines.fgraph) {
      const e = t.fgraph[t.fgraph.length - 1 - f++];
      return e ? resolve(e.ret) : a;
    }
    if (a === trampolines.kretprobe) {
      const e = t.kretprobes[k++];
      return e ? resolve(e.ret) : a;
    }
    return a;
  };
  return resolve;
}

export function corruptFrameRecord(mem: Memory, fp0: number, c: Corruption, t: CorruptionTargets): Redirect | undefined {
  const link = mem.read64(fp0);
  const onStack = (a: number): boolean => {
    const r = mem.find(a, 16);
    return r?.kind === 'task-stack' || r?.kind === 'irq-stack' || r?.kind === 'nmi-stack';
  };
  switch (c) {
    case 'frame-pointer-zeroed':
      mem.write64(fp0, 0);
      return;
    case 'frame-chain-cycle':
      // The next record links back to this one (or this one to itself when there is no next record).
      if (link !== 0 && onStack(link) && mem.read64(link) !== 0) mem.write64(link, fp0);
      else mem.write64(fp0, fp0);
      return;
    case 'frame-pointer-misaligned':
      mem.write64(fp0, (link || fp0 + 16) + 4);
      return;
    case 'frame-pointer-unmapped':
      mem.write64(fp0, t.unmapped);
      return;
    case 'frame-pointer-other-task':
      mem.write64(fp0, t.otherRecord);
      return;
    case 'frame-pointer-downward': {
      // A plausible copy of the record below this one: only the direction gives it away.
      const down = fp0 - 64;
      mem.write64(down, link);
      mem.write64(down + 8, mem.read64(fp0 + 8));
      mem.write64(fp0, down);
      return;
    }
    case 'frame-pointer-straddles-stack-top': {
      // Aligned to 8 and inside the stack, but the 16-byte record it names ends past the stack's top.
      const r = mem.find(fp0, 16);
      if (!r) throw new Error(`frame-pointer-straddles-stack-top: the record at ${hex(fp0)} is not mapped`);
      mem.write64(fp0, r.base + r.size - 8);
      return;
    }
    case 'return-address-garbage': {
      const was = mem.read64(fp0 + 8);
      mem.write64(fp0 + 8, GARBAGE_RA);
      return { was, now: GARBAGE_RA };
    }
  }
  return undefined;
}

/** Where the saved registers sit in an exception frame (struct pt_regs), per arch. */
export interface ExceptionFrameLayout {
  pc: number;
  sp: number;
  fp: number;
  /** A frame record in the frame holding copies of the saved {fp, pc} (arm64 before v6.13), if any. */
  record?: number;
}

/**
 * Edits the saved registers of a kernel-mode exception frame at `regs` (the kit knows where it
 * built it). Every copy of a corrupted register in the frame is edited alike, so the frame stays
 * self-consistent: only its relation to the machine's real control flow is broken.
 */
export function corruptExceptionFrame(mem: Memory, regs: number, L: ExceptionFrameLayout, c: Corruption, t: CorruptionTargets): Redirect | undefined {
  const set = (off: number, copy: number | undefined, v: number): void => {
    mem.write64(regs + off, v);
    if (copy !== undefined) mem.write64(regs + copy, v);
  };
  const fp = (v: number): void => set(L.fp, L.record, v);
  const pc = (v: number): void => set(L.pc, L.record === undefined ? undefined : L.record + 8, v);
  switch (c) {
    case 'exception-pc-garbage': {
      const was = mem.read64(regs + L.pc);
      pc(GARBAGE_RA);
      return { was, now: GARBAGE_RA };
    }
    case 'exception-sp-unmapped':
      set(L.sp, undefined, t.unmapped);
      return undefined;
    case 'exception-sp-other-task':
      set(L.sp, undefined, t.otherRecord);
      return undefined;
    case 'exception-fp-misaligned':
      fp(mem.read64(regs + L.fp) + 4);
      return undefined;
    case 'exception-fp-other-task':
      fp(t.otherRecord);
      return undefined;
    default:
      throw new Error(`${c} is not a corruption of an exception frame`);
  }
}

export const EXCEPTION_FRAME_CORRUPTIONS: readonly Corruption[] = [
  'exception-pc-garbage',
  'exception-sp-unmapped',
  'exception-sp-other-task',
  'exception-fp-misaligned',
  'exception-fp-other-task',
];

export const isExceptionFrameCorruption = (c: Corruption): boolean => EXCEPTION_FRAME_CORRUPTIONS.includes(c);

/**
 * Checks that the frame the kit recorded at exception entry is still live and is the innermost
 * one: its saved pc is where the shadow record says the innermost exception resumes.
 */
export function checkExceptionFrame(mem: Memory, regs: number | undefined, L: ExceptionFrameLayout, truth: GroundTruth, c: Corruption): number {
  if (regs === undefined) throw new Error(`${c}: the moment took no exception on the task's stacks whose frame the kit recorded`);
  const resume = truth.frames.find((f) => f.why === 'exception')?.addr;
  const pc = mem.read64(regs + L.pc);
  if (resume === undefined || pc !== resume) throw new Error(`${c}: the exception frame at ${hex(regs)} saves pc ${hex(pc)}, not the innermost exception's resume address`);
  return regs;
}

/**
 * Corruptions of the task's tracing state (task->ret_stack, the kretprobe instances) while a return
 * trampoline's address sits in a saved return slot: the unwinder cannot recover the original return
 * address from it. The entry is where the traced function's return address is kept, so corrupting it
 * redirects that return (a Redirect): a wrong `ret` sends the task there; a lost or mis-keyed entry
 * leaves the trampoline nothing to hand back, so the task goes no further than the trampoline. A
 * walker that reports the trampoline there faithfully has not detected the corruption (a SHOULD);
 * one that leaves out the frames beyond it is unsafe.
 */
export const TRACING_CORRUPTIONS: readonly Corruption[] = [
  'fgraph-ret-stack-missing',
  'fgraph-ret-stack-empty',
  'fgraph-ret-stack-wrong-key',
  'fgraph-ret-stack-wrong-ret',
  'kretprobe-instances-empty',
  'kretprobe-instance-wrong-key',
  'kretprobe-instance-wrong-ret',
];

export const isTracingCorruption = (c: Corruption): boolean => TRACING_CORRUPTIONS.includes(c);

/** The return trampolines' addresses: return_to_handler, and the kretprobe (rethook) trampoline. */
export function returnTrampolines(syms: SymbolTable): { fgraph: number; kretprobe: number } {
  const all = syms.all.filter((s) => s.kind === 'return-trampoline');
  const fgraph = all.find((s) => s.name === 'return_to_handler');
  // Other return trampolines (powerpc64's livepatch_handler) are not the kretprobe one.
  const kretprobe = all.find((s) => s !== fgraph && /kretprobe|rethook/.test(s.name));
  if (!fgraph || !kretprobe) throw new Error('the image has no return_to_handler or kretprobe trampoline');
  return { fgraph: fgraph.start, kretprobe: kretprobe.start };
}

/** A key no return slot has: the entry's own key moved past the frame (still aligned, still on the stack). */
const WRONG_KEY_DELTA = 0x10;

export function corruptTracing(t: TaskTracing, c: Corruption, trampoline: { fgraph: number; kretprobe: number }): Redirect | undefined {
  const fgraph = c.startsWith('fgraph-');
  // The innermost entry: ret_stack is oldest first, the instance list newest first.
  const entry = fgraph ? t.fgraph[t.fgraph.length - 1] : t.kretprobes[0];
  if (!entry || (fgraph && !t.fgraphEnabled)) throw new Error(`${c}: the task has no ${fgraph ? 'ret_stack entry' : 'kretprobe instance'}, so no return trampoline is on its stack`);
  // The frame the innermost trampoline return was to reach (past entries of traced tail calls).
  const was = returnResolver(t, trampoline)(fgraph ? trampoline.fgraph : trampoline.kretprobe);
  // The trampoline finds no entry for this return (the kernel panics or BUGs there): the frames outer to it are dead.
  const lost: Redirect = { was, now: fgraph ? trampoline.fgraph : trampoline.kretprobe, abandons: true };
  switch (c) {
    case 'fgraph-ret-stack-missing':
      t.fgraphEnabled = false;
      t.fgraph = [];
      return lost;
    case 'fgraph-ret-stack-empty':
      t.fgraph = [];
      return lost;
    case 'kretprobe-instances-empty':
      t.kretprobes = [];
      return lost;
    case 'fgraph-ret-stack-wrong-key':
    case 'kretprobe-instance-wrong-key':
      entry.retp += WRONG_KEY_DELTA;
      return lost;
    case 'fgraph-ret-stack-wrong-ret':
    case 'kretprobe-instance-wrong-ret':
      entry.ret = GARBAGE_RA;
      return { was, now: GARBAGE_RA };
    default:
      throw new Error(`${c} is not a corruption of the tracing state`);
  }
}

/**
 * The saved frame record `depth` links up the chain from `fp0` (1: fp0 itself), read before any
 * corruption: the records the task's own frame pointers chain through.
 */
export function recordAtDepth(mem: Memory, fp0: number, depth = 1, c?: Corruption): number {
  if (!Number.isInteger(depth) || depth < 1) throw new Error(`corruption depth ${depth}: the innermost frame record is depth 1`);
  // Its plausible copy goes below the record: below the innermost one that is dead stack, deeper it is a live frame.
  if (c === 'frame-pointer-downward' && depth > 1) throw new Error('frame-pointer-downward applies to the innermost record only: deeper, its copy would overwrite live frames');
  let rec = fp0;
  for (let d = 1; d < depth; d++) {
    const next = mem.read64(rec);
    if (next === 0 || !mem.find(next, 16)) throw new Error(`corruption depth ${depth}: the frame chain ends after ${d} record(s)`);
    rec = next;
  }
  return rec;
}

/** A stale copy of the task's user-mode pt_regs, and how a frame link reaches it. */
export interface StaleRegs {
  /** The task's own pt_regs (task_pt_regs), the final frame of its stack. */
  from: number;
  /** Where the stale copy is left, mid-stack. */
  at: number;
  size: number;
  /** The frame link that reaches the copy: arm64 &copy->stackframe, x86_64 copy | 1 (an encoded pt_regs pointer). */
  link: number;
}

/**
 * The frame record whose frame pointer is the one `fn` runs with: the record, on the chain from `fp0`,
 * whose saved return address is in `fn` links to it.
 */
export function framePointerOf(mem: Memory, fp0: number, inFn: (ra: number) => boolean): number {
  for (let rec = fp0, n = 0; rec && mem.find(rec, 16) && n < 64; rec = mem.read64(rec), n++) {
    if (inFn(mem.read64(rec + 8))) return mem.read64(rec);
  }
  throw new Error('no frame record on the chain returns into the function that holds the stale pt_regs');
}

/** Copy `size` bytes, a 64-bit word at a time (a stale copy of saved registers). */
export function copyWords(mem: Memory, from: number, to: number, size: number): void {
  for (let o = 0; o < size; o += 8) mem.write64(to + o, mem.read64(from + o));
}

/**
 * frame-pointer-to-stale-final: leave a copy of the task's user-mode pt_regs (with its FINAL frame
 * record) at `s.at`, and point the link of the frame record at `record` at it. The record must lie
 * below the copy, so the link still points up the stack. Returns do not change.
 */
export function linkToStaleRegs(mem: Memory, record: number, s: StaleRegs): void {
  if (record + 16 > s.at) throw new Error(`frame-pointer-to-stale-final: the record at ${hex(record)} is not below the stale pt_regs at ${hex(s.at)}`);
  copyWords(mem, s.from, s.at, s.size);
  mem.write64(record, s.link);
}
