/**
 * riscv64 frame-record reliable unwinder, modelled on the "riscv: Add reliable stack unwinding for
 * livepatch" series (a near copy of arm64's kunwind, FRAME_POINTER && 64BIT). A frame record
 * {fp, ra} is the 16 bytes below the frame pointer; the walk starts at a blocked task's thread.ra /
 * thread.s[0] (or the live pc / s0 of current), follows records strictly upward through the task,
 * IRQ, overflow and SSE stacks (a stack once left is never re-entered), recovers return_to_handler
 * and arch_rethook_trampoline by frame pointer (spec 3.4), gives up at an exception boundary (a
 * PT_REGS meta record: ra may or may not have been live, spec 3.3 / 3.6) and succeeds only at the
 * FINAL meta record of task_pt_regs(task) (spec 3.1). STACK_FRAME_NON_STANDARD code is rejected.
 *
 * `Riscv64Knobs` switch on the historical / plausible bugs the mutant catalogue models
 * (src/mutants); the reference profile uses none.
 */
import { hex } from '../machine/addr';
import type { LoadedSnapshot } from '../snapshot/io';
import { MAX_FRAMES, ftraceGraphRetAddr, kernelTextAddress, kretprobeFindRetAddr, symbolAddr } from './common';
import { EINVAL, UnwindStacks, type StackInfo } from './arm64-common';
import type { Profile, Unwinder, WalkInput, WalkResult } from './types';
import { unhex } from '../snapshot/io';

export interface Riscv64Knobs {
  /** Like the bug 393da6cbb2ff fixed: the ret_stack cursor restarts at every frame and entries are taken in order, not by key. */
  fgraphIdxReset?: boolean;
  /** At an exception boundary, report regs->epc and regs->ra and walk on from regs->s0 (trusting ra). */
  trustRaAtBoundary?: boolean;
  /** Like today's walk_stackframe(): the end of the frame chain (fp zero, off the stack, misaligned) is success; no FINAL record needed. */
  noFinalCheck?: boolean;
  /** No stack bounds: records are read wherever the frame pointer points. */
  noStackBounds?: boolean;
  /** A FINAL meta record ends the walk wherever it is met, not only at task_pt_regs(task)->stackframe. */
  finalAnywhere?: boolean;
  /**
   * Today's walk_stackframe() at an exception boundary: report regs->epc, then guess the frame from the
   * word below regs->s0 — a plausible frame pointer there means a leaf that saved only s0 (go on with
   * regs->ra and that word), anything else a full record (go on from it).
   */
  leafGuessAtBoundary?: boolean;
}

/** Layout constants, taken from snapshot.abi. */
interface Layout {
  PT_EPC: number;
  PT_RA: number;
  PT_S0: number;
  S_STACKFRAME: number;
  S_STACKFRAME_TYPE: number;
  PT_REGS_SIZE: number;
  FRAME_META_TYPE_FINAL: number;
  FRAME_META_TYPE_PT_REGS: number;
  FRAME_RECORD_SIZE: number;
  FRAME_RECORD_OFFSET: number;
  FRAME_RECORD_ALIGN: number;
}

function layoutOf(snap: LoadedSnapshot): Layout {
  const keys: (keyof Layout)[] = ['PT_EPC', 'PT_RA', 'PT_S0', 'S_STACKFRAME', 'S_STACKFRAME_TYPE', 'PT_REGS_SIZE', 'FRAME_META_TYPE_FINAL', 'FRAME_META_TYPE_PT_REGS', 'FRAME_RECORD_SIZE', 'FRAME_RECORD_OFFSET', 'FRAME_RECORD_ALIGN'];
  const out = {} as Layout;
  for (const k of keys) {
    const v = snap.abi[k];
    if (typeof v !== 'number') throw new Error(`snapshot.abi lacks ${k}`);
    out[k] = v;
  }
  return out;
}

interface State {
  snap: LoadedSnapshot;
  mem: WalkInput['mem'];
  abi: Layout;
  pc: number;
  fp: number;
  stacks: UnwindStacks;
  graphIdx: { value: number };
  krCur: { value: number };
  k: Riscv64Knobs;
}

interface Err {
  rc: number;
  reason: string;
}
const err = (reason: string): Err => ({ rc: -EINVAL, reason });
const h = hex;

/** The 393da6cbb2ff bug class: a fresh cursor per frame, the innermost real entry whatever the key. */
function graphByFreshIndex(snap: LoadedSnapshot, ret: number): number | undefined {
  const rth = symbolAddr(snap, 'return_to_handler');
  if (rth === undefined || ret !== rth) return ret;
  const stack = snap.json.fgraph?.stack ?? [];
  for (let i = stack.length - 1; i >= 0; i--) if (unhex(stack[i]!.ret) !== rth) return unhex(stack[i]!.ret);
  return undefined;
}

/** kunwind_recover_return_address(): return_to_handler and the rethook trampoline, keyed by the frame pointer. */
function recoverReturnAddress(s: State): Err | undefined {
  const g = s.k.fgraphIdxReset ? graphByFreshIndex(s.snap, s.pc) : ftraceGraphRetAddr(s.snap, s.graphIdx, s.pc, s.fp);
  if (g === undefined) return err(`kunwind_recover_return_address: return_to_handler at fp ${h(s.fp)} has no ret_stack entry`);
  s.pc = g;
  const r = kretprobeFindRetAddr(s.snap, s.krCur, s.pc, s.fp);
  if (r === undefined) return err(`kunwind_recover_return_address: arch_rethook_trampoline at fp ${h(s.fp)} has no rethook node`);
  if (r !== s.pc) {
    s.pc = r;
    // A kretprobed function tail-called from a graph-traced one: the node saved return_to_handler.
    const again = s.k.fgraphIdxReset ? graphByFreshIndex(s.snap, s.pc) : ftraceGraphRetAddr(s.snap, s.graphIdx, s.pc, s.fp);
    if (again === undefined) return err(`kunwind_recover_return_address: return_to_handler behind arch_rethook_trampoline at fp ${h(s.fp)} has no ret_stack entry`);
    s.pc = again;
  }
  return undefined;
}

/** The stack holding [addr, addr + size), and no bounds at all with the noStackBounds knob. */
function findStack(s: State, addr: number, size: number): StackInfo | undefined {
  const info = s.stacks.find(addr, size);
  if (info || !s.k.noStackBounds) return info;
  return { low: 0, high: 2 ** 64, type: 'task', region: '(anywhere)' };
}

function consume(s: State, info: StackInfo, addr: number, size: number): void {
  if (info.region !== '(anywhere)') s.stacks.consume(info, addr, size);
}

type Step = { kind: 'frame' } | { kind: 'final' } | { kind: 'regs'; regs: number } | { kind: 'error'; error: Err } | { kind: 'chain-end'; why: string };

/** kunwind_next_frame_record(): from the record below s.fp to the caller. */
function nextFrameRecord(s: State): Step {
  const { abi, fp } = s;
  if (fp % abi.FRAME_RECORD_ALIGN !== 0) return s.k.noFinalCheck ? { kind: 'chain-end', why: 'misaligned' } : { kind: 'error', error: err(`kunwind_next_frame_record: fp ${h(fp)} is misaligned`) };
  const rec = fp - abi.FRAME_RECORD_OFFSET;
  const info = findStack(s, rec, abi.FRAME_RECORD_SIZE);
  if (!info) return s.k.noFinalCheck ? { kind: 'chain-end', why: 'off the stack' } : { kind: 'error', error: err(`kunwind_next_frame_record: frame record at ${h(rec)} is not on an accessible stack (or is below an earlier record)`) };
  const newFp = s.mem.read64(rec);
  const newRa = s.mem.read64(rec + 8);
  if (newFp === 0 && newRa === 0) {
    // kunwind_next_frame_record_meta(): the type follows the record, at the frame pointer itself.
    const minfo = findStack(s, rec, abi.FRAME_RECORD_SIZE + 8);
    if (!minfo) return { kind: 'error', error: err(`kunwind_next_frame_record_meta: meta record at ${h(rec)} is not on an accessible stack`) };
    const type = s.mem.read64(rec + abi.S_STACKFRAME_TYPE - abi.S_STACKFRAME);
    if (type === abi.FRAME_META_TYPE_FINAL) {
      if (rec === s.snap.finalFrame || s.k.noFinalCheck || s.k.finalAnywhere) return { kind: 'final' };
      return { kind: 'error', error: err(`kunwind_next_frame_record_meta: FINAL record at ${h(rec)} is not task_pt_regs(task)->stackframe (${h(s.snap.finalFrame)})`) };
    }
    if (type === abi.FRAME_META_TYPE_PT_REGS) return { kind: 'regs', regs: rec - abi.S_STACKFRAME };
    return { kind: 'error', error: err(`kunwind_next_frame_record_meta: zeroed frame record at ${h(rec)} with unknown meta type ${type}`) };
  }
  if (newFp === 0 && s.k.noFinalCheck) return { kind: 'chain-end', why: 'fp zero' };
  consume(s, info, rec, abi.FRAME_RECORD_SIZE);
  s.fp = newFp;
  s.pc = newRa;
  return { kind: 'frame' };
}

/** arch_reliable_kunwind_consume_entry() plus the checks the series adds on every pc. */
function atPc(s: State): Err | undefined {
  if (!kernelTextAddress(s.snap, s.pc)) return err(`arch_reliable_kunwind_consume_entry: pc ${h(s.pc)} is not kernel text`);
  const sym = s.snap.syms.lookup(s.pc);
  if (sym?.nonStandard) return err(`arch_reliable_kunwind_consume_entry: pc ${h(s.pc)} is in ${sym.name}, marked STACK_FRAME_NON_STANDARD`);
  return undefined;
}

/** Today's walk_stackframe() across an exception: epc, then a leaf guess (fp_is_valid(frame->ra, sp)) or the record. */
function leafGuess(s: State, regs: number, trace: number[]): Err | undefined {
  const info = findStack(s, regs, s.abi.PT_REGS_SIZE);
  if (!info) return err(`walk_stackframe: pt_regs at ${h(regs)} are not on an accessible stack`);
  consume(s, info, regs, s.abi.PT_REGS_SIZE);
  s.pc = s.mem.read64(regs + s.abi.PT_EPC);
  const e = atPc(s);
  if (e) return e;
  trace.push(s.pc);
  const fp = s.mem.read64(regs + s.abi.PT_S0);
  const rec = fp - s.abi.FRAME_RECORD_OFFSET;
  const rinfo = findStack(s, rec, s.abi.FRAME_RECORD_SIZE);
  if (!rinfo) return err(`walk_stackframe: fp ${h(fp)} is not on an accessible stack`);
  const word = s.mem.read64(rec + 8);
  const looksLikeFp = word % 8 === 0 && word >= fp && !!findStack(s, word - s.abi.FRAME_RECORD_OFFSET, s.abi.FRAME_RECORD_SIZE);
  consume(s, rinfo, rec, s.abi.FRAME_RECORD_SIZE);
  if (looksLikeFp) {
    s.pc = s.mem.read64(regs + s.abi.PT_RA);
    s.fp = word;
  } else {
    s.fp = s.mem.read64(rec);
    s.pc = word;
  }
  return undefined;
}

/** The faulty boundary policy: epc, then ra, then on from the saved s0. */
function trustRa(s: State, regs: number, trace: number[]): Err | undefined {
  const info = findStack(s, regs, s.abi.PT_REGS_SIZE);
  if (!info) return err(`kunwind_next_regs_pc: pt_regs at ${h(regs)} are not on an accessible stack`);
  consume(s, info, regs, s.abi.PT_REGS_SIZE);
  const epc = s.mem.read64(regs + s.abi.PT_EPC);
  const ra = s.mem.read64(regs + s.abi.PT_RA);
  s.pc = epc;
  let e = atPc(s);
  if (e) return e;
  trace.push(epc);
  s.pc = ra;
  e = atPc(s);
  if (e) return e;
  trace.push(ra);
  s.fp = s.mem.read64(regs + s.abi.PT_S0);
  return undefined;
}

export function walkRiscv64(input: WalkInput, k: Riscv64Knobs = {}): WalkResult {
  const { snap, mem } = input;
  const blocked = snap.json.task.state === 'blocked';
  const pc = blocked ? snap.regs['ra'] : snap.regs['pc'];
  const fp = snap.regs['s0'];
  if (pc === undefined || fp === undefined) return { rc: -EINVAL, trace: [], reason: 'kunwind_init: snapshot has no pc/ra/s0' };
  const s: State = { snap, mem, abi: layoutOf(snap), pc, fp, stacks: new UnwindStacks(snap), graphIdx: { value: -1 }, krCur: { value: 0 }, k };
  const trace: number[] = [];
  const fail = (e: Err): WalkResult => ({ rc: e.rc, trace, reason: e.reason });
  let e = recoverReturnAddress(s);
  if (e) return fail(e);
  for (;;) {
    if (trace.length >= MAX_FRAMES) return fail(err(`do_kunwind: more than ${MAX_FRAMES} frames`));
    e = atPc(s);
    if (e) return fail(e);
    trace.push(s.pc);
    const step = nextFrameRecord(s);
    switch (step.kind) {
      case 'final':
      case 'chain-end':
        return { rc: 0, trace };
      case 'error':
        return fail(step.error);
      case 'regs':
        if (k.leafGuessAtBoundary) {
          e = leafGuess(s, step.regs, trace);
          if (e) return fail(e);
          e = recoverReturnAddress(s);
          if (e) return fail(e);
          continue;
        }
        if (!k.trustRaAtBoundary) return fail(err(`arch_reliable_kunwind_consume_entry: exception boundary (pt_regs at ${h(step.regs)}, fp ${h(s.fp)}); ra may have been live`));
        e = trustRa(s, step.regs, trace);
        if (e) return fail(e);
        e = recoverReturnAddress(s);
        if (e) return fail(e);
        // The next loop pushes s.pc again: step over the record at the saved s0 first.
        {
          const next = nextFrameRecord(s);
          if (next.kind === 'final' || next.kind === 'chain-end') return { rc: 0, trace };
          if (next.kind === 'error') return fail(next.error);
          if (next.kind === 'regs') return fail(err('nested exception boundary'));
          e = recoverReturnAddress(s);
          if (e) return fail(e);
        }
        continue;
      case 'frame':
        e = recoverReturnAddress(s);
        if (e) return fail(e);
        continue;
    }
  }
}

export function create(profile: Profile): Unwinder {
  return { name: profile.name, walk: (input) => walkRiscv64(input) };
}
