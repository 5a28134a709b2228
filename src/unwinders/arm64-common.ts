/**
 * The arm64 kernel unwinder state machine shared by arm64-fp and arm64-meta, mirroring
 * arch/arm64/kernel/stacktrace.c (kunwind_*) and arch/arm64/include/asm/stacktrace/common.h
 * (unwind_find_stack / unwind_consume_stack). Every stack read goes through `mem.read64`, and
 * only after the address range was found on an accessible stack of the task.
 */
import type { MonitoredMemory } from '../machine/memory';
import type { LoadedSnapshot } from '../snapshot/io';
import { MAX_FRAMES, ftraceGraphRetAddr, kernelTextAddress, kretprobeFindRetAddr } from './common';
import type { WalkInput, WalkResult } from './types';
import { hex } from '../machine/addr';
import type { StackType } from '../snapshot/types';

export const EINVAL = 22;
export const ENOENT = 2;


/** Layout constants, taken from snapshot.abi (defaults mirror src/isa/arm64/abi.ts). */
export interface Arm64Layout {
  S_FP: number;
  S_LR: number;
  S_SP: number;
  S_PC: number;
  S_PSTATE: number;
  S_STACKFRAME: number;
  S_STACKFRAME_TYPE: number;
  PT_REGS_SIZE: number;
  FRAME_META_TYPE_FINAL: number;
  FRAME_META_TYPE_PT_REGS: number;
  FRAME_RECORD_SIZE: number;
  FRAME_RECORD_ALIGN: number;
}

export function layoutOf(snap: LoadedSnapshot): Arm64Layout {
  const a = snap.abi;
  const need = (k: keyof Arm64Layout): number => {
    const v = a[k];
    if (typeof v !== 'number') throw new Error(`snapshot.abi lacks ${k}`);
    return v;
  };
  return {
    S_FP: need('S_FP'),
    S_LR: need('S_LR'),
    S_SP: need('S_SP'),
    S_PC: need('S_PC'),
    S_PSTATE: need('S_PSTATE'),
    S_STACKFRAME: need('S_STACKFRAME'),
    S_STACKFRAME_TYPE: need('S_STACKFRAME_TYPE'),
    PT_REGS_SIZE: need('PT_REGS_SIZE'),
    FRAME_META_TYPE_FINAL: need('FRAME_META_TYPE_FINAL'),
    FRAME_META_TYPE_PT_REGS: need('FRAME_META_TYPE_PT_REGS'),
    FRAME_RECORD_SIZE: need('FRAME_RECORD_SIZE'),
    FRAME_RECORD_ALIGN: need('FRAME_RECORD_ALIGN'),
  };
}

export type { StackType } from '../snapshot/types';

/** struct stack_info: [low, high) of one stack the walk may still consume. */
export interface StackInfo {
  low: number;
  high: number;
  type: StackType;
  region: string;
}

/**
 * struct unwind_state's stack bookkeeping. `cur` is the stack being consumed; `stacks` are the
 * others. Consuming a frame on another stack moves that stack into `cur` and forgets the old one,
 * so a stack once left is never re-entered, and within a stack frames only move upward.
 */
export class UnwindStacks {
  cur: StackInfo | null = null;
  private readonly stacks: (StackInfo | null)[];

  constructor(snap: LoadedSnapshot) {
    this.stacks = snap.stacks.map((s) => {
      const r = snap.mem.region(s.region);
      return { low: r.base, high: r.base + r.size, type: s.type, region: r.name };
    });
  }

  private static on(info: StackInfo | null, addr: number, size: number): boolean {
    return !!info && Number.isSafeInteger(addr) && addr >= info.low && addr + size <= info.high;
  }

  /** unwind_find_stack(): the current stack first, then the others. */
  find(addr: number, size: number): StackInfo | undefined {
    if (UnwindStacks.on(this.cur, addr, size)) return this.cur!;
    for (const s of this.stacks) if (s && UnwindStacks.on(s, addr, size)) return s;
    return undefined;
  }

  /** unwind_consume_stack(): future steps may only use this stack, above [addr, addr+size). */
  consume(info: StackInfo, addr: number, size: number): void {
    if (info !== this.cur) {
      const i = this.stacks.indexOf(info);
      if (i >= 0) this.stacks[i] = null;
      this.cur = { ...info };
    }
    this.cur.low = addr + size;
  }
}

/** enum kunwind_source */
export type KunwindSource = 'task' | 'caller' | 'frame' | 'regs_pc';

/** struct kunwind_state */
export interface KunwindState {
  snap: LoadedSnapshot;
  mem: MonitoredMemory;
  abi: Arm64Layout;
  pc: number;
  fp: number;
  source: KunwindSource;
  stacks: UnwindStacks;
  /** Cursor into task->ret_stack for ftrace_graph_ret_addr() (-1: start at the innermost entry). */
  graphIdx: { value: number };
  /** Cursor into the kretprobe instance list. */
  krCur: { value: number };
  flags: { fgraph: boolean; kretprobe: boolean };
  /**
   * Set when the pc just reported is entry code whose x29 must be a meta record: the next step
   * must find the FINAL record ('final') or an exception boundary ('regs'), or the walk fails.
   */
  expect?: 'final' | 'regs';
}

/** A named error path, like the kernel's -EINVAL returns, with what went wrong. */
export interface KunwindError {
  rc: number;
  reason: string;
}

const h = hex;

export function err(reason: string, rc = EINVAL): KunwindError {
  return { rc: -rc, reason };
}

/**
 * kunwind_init_from_task() / kunwind_init_from_caller(): a blocked task starts at its saved
 * context (the return address into __schedule and the saved x29); a running task at its live pc/x29.
 */
export function kunwindInit(input: WalkInput): KunwindState | KunwindError {
  const { snap, mem } = input;
  const pc = snap.regs['pc'];
  const fp = snap.regs['x29'];
  if (pc === undefined || fp === undefined) return err('kunwind_init: snapshot has no pc/x29');
  return {
    snap,
    mem,
    abi: layoutOf(snap),
    pc,
    fp,
    source: snap.json.task.state === 'blocked' ? 'task' : 'caller',
    stacks: new UnwindStacks(snap),
    graphIdx: { value: -1 },
    krCur: { value: 0 },
    flags: { fgraph: false, kretprobe: false },
  };
}

/**
 * kunwind_recover_return_address(): replace return_to_handler / __kretprobe_trampoline by the
 * original return address, keyed by the frame pointer (state.fp after the step). Failing to
 * recover is an error: the trace would otherwise name the trampoline and drop the real caller.
 */
export function kunwindRecoverReturnAddress(state: KunwindState): KunwindError | undefined {
  const { snap } = state;
  const g = ftraceGraphRetAddr(snap, state.graphIdx, state.pc, state.fp);
  if (g === undefined) return err(`kunwind_recover_return_address: return_to_handler at fp ${h(state.fp)} has no ret_stack entry`);
  if (g !== state.pc) {
    state.pc = g;
    state.flags.fgraph = true;
  }
  const k = kretprobeFindRetAddr(snap, state.krCur, state.pc, state.fp);
  if (k === undefined) return err(`kunwind_recover_return_address: __kretprobe_trampoline at fp ${h(state.fp)} has no kretprobe instance`);
  if (k !== state.pc) {
    state.pc = k;
    state.flags.kretprobe = true;
    // A kretprobed function tail-called from a graph-traced one: the instance saved the slot as
    // fgraph had rewritten it, so recover that too (the kernel stops here and loses the caller).
    const again = ftraceGraphRetAddr(snap, state.graphIdx, state.pc, state.fp);
    if (again === undefined) return err(`kunwind_recover_return_address: return_to_handler behind __kretprobe_trampoline at fp ${h(state.fp)} has no ret_stack entry`);
    state.pc = again;
  }
  return undefined;
}

/** What one kunwind_next_frame_record() step found. */
export type FrameStep =
  | { kind: 'frame' } // state.pc/fp now describe the caller
  | { kind: 'final' } // the FINAL meta record of task_pt_regs(task): the walk is complete (-ENOENT)
  | { kind: 'regs'; regs: number } // a PT_REGS meta record: an exception boundary; regs = &pt_regs
  | { kind: 'error'; error: KunwindError };

/**
 * kunwind_next_frame_record_meta(): a {0, 0} record is a frame_record_meta (arm64 v6.13+); its
 * type says FINAL (the end of the task's stack, valid only at task_pt_regs(task)->stackframe) or
 * PT_REGS (an exception boundary: the record is pt_regs->stackframe of the interrupted context).
 */
function kunwindNextFrameRecordMeta(state: KunwindState): FrameStep {
  const { abi, fp } = state;
  const metaSize = abi.S_STACKFRAME_TYPE - abi.S_STACKFRAME + 8;
  const info = state.stacks.find(fp, metaSize);
  if (!info) return { kind: 'error', error: err(`kunwind_next_frame_record_meta: meta record at ${h(fp)} is not on an accessible stack`) };
  const type = state.mem.read64(fp + abi.S_STACKFRAME_TYPE - abi.S_STACKFRAME);
  if (type === abi.FRAME_META_TYPE_FINAL) {
    if (fp === state.snap.finalFrame) return { kind: 'final' };
    return { kind: 'error', error: err(`kunwind_next_frame_record_meta: FINAL record at ${h(fp)} is not task_pt_regs(task)->stackframe (${h(state.snap.finalFrame)})`) };
  }
  if (type === abi.FRAME_META_TYPE_PT_REGS) return { kind: 'regs', regs: fp - abi.S_STACKFRAME };
  return { kind: 'error', error: err(`kunwind_next_frame_record_meta: zeroed frame record at ${h(fp)} with unknown meta type ${type}`) };
}

/**
 * kunwind_next_frame_record(): step from the record at state.fp to its caller. The record must be
 * aligned and wholly on a stack the walk may still consume (so never below an earlier record on
 * the same stack, and never on a stack already left).
 */
export function kunwindNextFrameRecord(state: KunwindState): FrameStep {
  const { abi, fp } = state;
  if (fp % abi.FRAME_RECORD_ALIGN !== 0) return { kind: 'error', error: err(`kunwind_next_frame_record: fp ${h(fp)} is misaligned`) };
  const info = state.stacks.find(fp, abi.FRAME_RECORD_SIZE);
  if (!info) return { kind: 'error', error: err(`kunwind_next_frame_record: frame record at ${h(fp)} is not on an accessible stack (or is below an earlier record)`) };
  const newFp = state.mem.read64(fp);
  const newPc = state.mem.read64(fp + 8);
  // Only a zeroed record is a frame_record_meta; any other record chains on, whatever lies after it.
  if (newFp === 0 && newPc === 0) return kunwindNextFrameRecordMeta(state);
  state.stacks.consume(info, fp, abi.FRAME_RECORD_SIZE);
  state.fp = newFp;
  state.pc = newPc;
  state.source = 'frame';
  return { kind: 'frame' };
}

/** The registers an exception boundary saved (struct pt_regs), read after the whole pt_regs was found on a stack. */
export interface SavedRegs {
  regs: number;
  pc: number;
  lr: number;
  fp: number;
  sp: number;
  pstate: number;
  /** Type of the stack the pt_regs are on. */
  stack: StackType;
  /** Type of the stack the walk was on when it reached this boundary (the handler's stack). */
  from: StackType | undefined;
}

/** kunwind_next_regs_pc(): find and consume the pt_regs of an exception boundary and read them. */
/** What kunwind_next_regs_pc() needs of the stack bookkeeping (UnwindStacks, or a patched copy of it). */
export interface StackCursor {
  readonly cur: StackInfo | null;
  find(addr: number, size: number): StackInfo | undefined;
  consume(info: StackInfo, addr: number, size: number): void;
}

export function kunwindReadRegs(state: Pick<KunwindState, 'abi' | 'mem'> & { stacks: StackCursor }, regs: number): SavedRegs | KunwindError {
  const { abi } = state;
  const from = state.stacks.cur?.type;
  const info = state.stacks.find(regs, abi.PT_REGS_SIZE);
  if (!info) return err(`kunwind_next_regs_pc: pt_regs at ${h(regs)} are not wholly on an accessible stack`);
  state.stacks.consume(info, regs, abi.PT_REGS_SIZE);
  const m = state.mem;
  return {
    regs,
    pc: m.read64(regs + abi.S_PC),
    lr: m.read64(regs + abi.S_LR),
    fp: m.read64(regs + abi.S_FP),
    sp: m.read64(regs + abi.S_SP),
    pstate: m.read64(regs + abi.S_PSTATE),
    stack: info.type,
    from,
  };
}

/** __kernel_text_address() check on a pc about to be reported. */
export function checkKernelText(state: KunwindState, what: string): KunwindError | undefined {
  if (!kernelTextAddress(state.snap, state.pc)) return err(`${what}: pc ${h(state.pc)} is not kernel text`);
  return undefined;
}

export function isError(x: unknown): x is KunwindError {
  return typeof x === 'object' && x !== null && 'rc' in x && 'reason' in x;
}

/**
 * How an unwinder handles what the frame-record walk cannot decide on its own. `atPc` vets each
 * pc before it is reported (kernel text, metadata); `boundary` handles a PT_REGS record and
 * either continues the walk (having pushed what it reports) or fails.
 */
export interface KunwindPolicy {
  atPc(state: KunwindState, trace: readonly number[]): KunwindError | undefined;
  boundary(state: KunwindState, regs: number, trace: number[]): KunwindError | undefined;
  /** Called once before the first pc is reported (e.g. to decide where the walk really starts). */
  start?(state: KunwindState, trace: number[]): KunwindError | undefined;
}

/** do_kunwind() for a reliable walk: report pcs innermost first until the FINAL record or an error. */
export function doKunwind(input: WalkInput, policy: KunwindPolicy): WalkResult {
  const init = kunwindInit(input);
  if (isError(init)) return { rc: init.rc, trace: [], reason: init.reason };
  const state = init;
  const trace: number[] = [];
  const fail = (e: KunwindError): WalkResult => ({ rc: e.rc, trace, reason: e.reason });

  let e = kunwindRecoverReturnAddress(state);
  if (e) return fail(e);
  if (policy.start) {
    e = policy.start(state, trace);
    if (e) return fail(e);
  }
  for (;;) {
    if (trace.length >= MAX_FRAMES) return fail(err(`do_kunwind: more than ${MAX_FRAMES} frames`));
    e = policy.atPc(state, trace);
    if (e) return fail(e);
    trace.push(state.pc);
    state.flags = { fgraph: false, kretprobe: false };
    const step = kunwindNextFrameRecord(state);
    if (state.expect && step.kind !== 'error' && step.kind !== state.expect) {
      return fail(err(`do_kunwind: ${h(trace[trace.length - 1]!)} is entry code whose x29 should be a ${state.expect === 'final' ? 'FINAL' : 'PT_REGS'} record, but ${h(state.fp)} is not`));
    }
    state.expect = undefined;
    switch (step.kind) {
      case 'final':
        return { rc: 0, trace };
      case 'error':
        return fail(step.error);
      case 'regs':
        e = policy.boundary(state, step.regs, trace);
        if (e) return fail(e);
        continue; // the boundary pushed what it reports and left state at the next frame record
      case 'frame':
        e = kunwindRecoverReturnAddress(state);
        if (e) return fail(e);
        continue;
    }
  }
}
