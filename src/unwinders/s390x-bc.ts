/**
 * s390x back-chain reliable unwinder, modelled on today's arch/s390/kernel/stacktrace.c
 * (arch_stack_walk_reliable) over unwind_bc.c (__unwind_start / unwind_next_frame) and
 * asm/unwind.h (unwind_recover_ret_addr). With -mpacked-stack a frame's back chain is its last
 * word (sp + 152) and the return address into the frame's function is in the r14 slot of that
 * frame (sp + 136), saved there by its callee. The walk starts at a blocked task's thread.ksp (or
 * the live %r15 / pc of current), follows non-zero back chains strictly upward; a back chain leaving
 * the stack must land on another stack of the task not visited yet (get_stack_info's visit mask).
 * A zero back chain means pt_regs follow the frame: the walk ends well only if they are the task's
 * final pt_regs (is_final_pt_regs); any other pt_regs, and any frame off the task stack (async,
 * nodat, restart, mcck), make arch_stack_walk_reliable() fail. Every return address goes through
 * unwind_recover_ret_addr() keyed by the frame's sp: ftrace_graph_ret_addr() for return_to_handler,
 * rethook_find_ret_addr() for arch_rethook_trampoline; a trampoline address left unrecovered
 * ends the walk (upstream checks arch_rethook_trampoline only: see `S390xKnobs.keepReturnToHandler`).
 *
 * `S390xKnobs` switch on the historical bugs the mutant catalogue models (src/mutants); the
 * reference profile uses none.
 */
import { hex, toU32Pair } from '../machine/addr';
import type { LoadedSnapshot } from '../snapshot/io';
import type { StackType } from '../snapshot/types';
import { MAX_FRAMES, ftraceGraphRetAddr, kernelTextAddress, kretprobeFindRetAddr, kretprobeTrampoline, symbolAddr } from './common';
import { EINVAL } from './arm64-common';
import type { Profile, Unwinder, WalkInput, WalkResult } from './types';

export interface S390xKnobs {
  /** Like the bug ded466e18066 fixed: ftrace_graph_ret_addr() keyed by NULL instead of the frame's sp, so no entry matches and return_to_handler stays in the trace. */
  fgraphNullKey?: boolean;
  /** Like the code before d81675b60d09: rethook returns are not recovered, arch_rethook_trampoline is reported in its caller's place. */
  noRethookRecovery?: boolean;
  /**
   * Walks across pt_regs and off the task stack as the non-reliable walk does: regs->psw.addr, then the
   * r14 slot of the frame at regs->gprs[15], which the interrupted function's callees wrote (a leaf's
   * caller is not there). 'unfiltered': the slot is reported whatever it holds, as before bf018ee64489
   * filtered out a bogus %r14, and user-mode pt_regs anywhere (the IRQ-stack clause of
   * is_final_pt_regs()) end the walk well. 'no-duplicate-check': a slot that is kernel text is reported
   * even when it gives the entry psw.addr just gave, the check 708b13763920 added (for kretprobes, after
   * recovery): the same frame twice.
   */
  acrossRegs?: 'unfiltered' | 'no-duplicate-check';
  /** Conservative: a return trampoline in a return slot fails the walk (no recovery attempted). */
  rejectTrampolines?: boolean;
  /** Upstream as it is: an unrecovered return_to_handler (corrupt ret_stack) is reported as a frame. */
  keepReturnToHandler?: boolean;
}

/** Layout constants, taken from snapshot.abi. */
interface Layout {
  STACK_FRAME_OVERHEAD: number;
  SF_R14: number;
  SF_BACKCHAIN: number;
  PT_PSW: number;
  PT_PSW_ADDR: number;
  PT_R15: number;
  PT_REGS_SIZE: number;
  PSW_HI_PSTATE: number;
}

function layoutOf(snap: LoadedSnapshot): Layout {
  const keys: (keyof Layout)[] = ['STACK_FRAME_OVERHEAD', 'SF_R14', 'SF_BACKCHAIN', 'PT_PSW', 'PT_PSW_ADDR', 'PT_R15', 'PT_REGS_SIZE', 'PSW_HI_PSTATE'];
  const out = {} as Layout;
  for (const k of keys) {
    const v = snap.abi[k];
    if (typeof v !== 'number') throw new Error(`snapshot.abi lacks ${k}`);
    out[k] = v;
  }
  return out;
}

/** struct stack_info: one stack of the task, [begin, end). */
interface StackInfo {
  type: StackType;
  region: string;
  begin: number;
  end: number;
}

/** struct unwind_state */
interface State {
  snap: LoadedSnapshot;
  mem: WalkInput['mem'];
  abi: Layout;
  info: StackInfo | undefined;
  /** get_stack_info()'s visit mask: stacks (by region) already walked. */
  visited: Set<string>;
  sp: number;
  ip: number;
  regs: number;
  graphIdx: { value: number };
  krCur: { value: number };
  error?: string;
  k: S390xKnobs;
}

const h = hex;
const FAIL = (reason: string): WalkResult & { rc: number } => ({ rc: -EINVAL, trace: [], reason });

/** get_stack_info(): the task's stack holding sp, if not visited yet; marks it visited. */
function getStackInfo(s: State, sp: number): StackInfo | undefined {
  for (const st of s.snap.stacks) {
    const r = s.snap.mem.region(st.region);
    if (sp >= r.base && sp < r.base + r.size) {
      if (s.visited.has(r.name)) return undefined;
      s.visited.add(r.name);
      return { type: st.type, region: r.name, begin: r.base, end: r.base + r.size };
    }
  }
  return undefined;
}

const onStack = (info: StackInfo | undefined, addr: number, len: number): boolean => !!info && Number.isSafeInteger(addr) && addr >= info.begin && addr + len <= info.end;

/** update_stack_info() */
function updateStackInfo(s: State, sp: number): boolean {
  const info = getStackInfo(s, sp);
  if (!info || !onStack(info, sp, s.abi.STACK_FRAME_OVERHEAD)) return false;
  s.info = info;
  return true;
}

/** outside_of_stack(): the new sp is not above the current one within the current stack. */
const outsideOfStack = (s: State, sp: number): boolean => sp <= s.sp || sp > s.info!.end - s.abi.STACK_FRAME_OVERHEAD;

/** unwind_recover_ret_addr(): fgraph, then rethook, both keyed by the frame's sp. */
function recoverRetAddr(s: State, ip: number): number {
  if (s.k.rejectTrampolines && (ip === symbolAddr(s.snap, 'return_to_handler') || ip === kretprobeTrampoline(s.snap))) return 0;
  const g = ftraceGraphRetAddr(s.snap, s.graphIdx, ip, s.k.fgraphNullKey ? 0 : s.sp);
  // ftrace_graph_ret_addr() gives `ip` back when no entry matches.
  ip = g ?? ip;
  if (s.k.noRethookRecovery) return ip;
  return kretprobeFindRetAddr(s.snap, s.krCur, ip, s.sp) ?? 0;
}

const userRegs = (s: State, regs: number): boolean => (toU32Pair(s.mem.read64(regs + s.abi.PT_PSW))[1] & s.abi.PSW_HI_PSTATE) !== 0;

/** is_final_pt_regs(): task_pt_regs(task), or user-mode pt_regs at the bottom of the IRQ stack. */
function isFinalPtRegs(s: State, regs: number): boolean {
  if (regs === s.snap.ptRegs) return true;
  return s.info?.type === 'irq' && s.info.end - s.abi.PT_REGS_SIZE === regs && userRegs(s, regs);
}

type Next = 'frame' | 'stop' | 'error';

/** unwind_next_frame() */
function nextFrame(s: State): Next {
  const a = s.abi;
  let sp: number;
  let ip: number;
  let regs = 0;
  if (s.regs) {
    // The frame the pt_regs interrupted: its r14 slot, unreliable; skipped when bogus or a duplicate of psw.addr.
    sp = s.sp;
    ip = s.mem.read64(sp + a.SF_R14);
    const skip = s.k.acrossRegs === 'unfiltered' ? false : !kernelTextAddress(s.snap, ip) || (s.k.acrossRegs !== 'no-duplicate-check' && s.ip === recoverRetAddr(s, ip));
    s.regs = 0;
    if (skip) return nextFrame(s);
  } else {
    const bc = s.mem.read64(s.sp + a.SF_BACKCHAIN);
    if (bc !== 0) {
      sp = bc;
      if (outsideOfStack(s, sp) && !updateStackInfo(s, sp)) return fail(s, `unwind_next_frame: back chain ${h(sp)} of the frame at ${h(s.sp)} is not above it on an unvisited stack of the task`);
      ip = s.mem.read64(sp + a.SF_R14);
    } else {
      // No back chain: pt_regs follow the frame.
      const r = s.sp + a.STACK_FRAME_OVERHEAD;
      if (!onStack(s.info, r, a.PT_REGS_SIZE)) return fail(s, `unwind_next_frame: zero back chain at ${h(s.sp)}, and no room for pt_regs above it on its stack`);
      if (isFinalPtRegs(s, r) || (s.k.acrossRegs === 'unfiltered' && userRegs(s, r))) return stop(s);
      regs = r;
      ip = s.mem.read64(r + a.PT_PSW_ADDR);
      sp = s.mem.read64(r + a.PT_R15);
      if (outsideOfStack(s, sp) && !updateStackInfo(s, sp)) return fail(s, `unwind_next_frame: pt_regs at ${h(r)} hold r15 ${h(sp)}, not above them on an unvisited stack of the task`);
    }
  }
  if (sp % 8 !== 0) return fail(s, `unwind_next_frame: sp ${h(sp)} is not 8-byte aligned`);
  s.sp = sp;
  s.regs = regs;
  s.ip = recoverRetAddr(s, ip);
  return 'frame';
}

function fail(s: State, why: string): Next {
  s.error = why;
  s.info = undefined;
  return 'error';
}
function stop(s: State): Next {
  s.info = undefined;
  return 'stop';
}

export function walkS390x(input: WalkInput, k: S390xKnobs = {}): WalkResult {
  const { snap, mem } = input;
  const blocked = snap.json.task.state === 'blocked';
  const sp0 = snap.regs['r15'];
  if (sp0 === undefined) return FAIL('__unwind_start: snapshot has no r15');
  const s: State = { snap, mem, abi: layoutOf(snap), info: undefined, visited: new Set(), sp: sp0, ip: 0, regs: 0, graphIdx: { value: -1 }, krCur: { value: 0 }, k };
  // __unwind_start(): a blocked task from thread.ksp and the r14 __switch_to saved there; current from its live frame and pc.
  if (!updateStackInfo(s, sp0)) return FAIL(`__unwind_start: sp ${h(sp0)} is not on a stack of the task`);
  const ip0 = blocked ? mem.read64(sp0 + s.abi.SF_R14) : snap.regs['pc'];
  if (ip0 === undefined) return FAIL('__unwind_start: snapshot has no pc');
  s.ip = recoverRetAddr(s, ip0);
  const trace: number[] = [];
  const rethook = kretprobeTrampoline(snap);
  const rth = symbolAddr(snap, 'return_to_handler');
  const across = k.acrossRegs !== undefined;
  for (;;) {
    const err = (reason: string): WalkResult => ({ rc: -EINVAL, trace, reason });
    if (trace.length >= MAX_FRAMES) return err(`arch_stack_walk_reliable: more than ${MAX_FRAMES} frames`);
    if (!across && s.info!.type !== 'task') return err(`arch_stack_walk_reliable: the frame at ${h(s.sp)} is on the ${s.info!.region} (${s.info!.type}) stack, not the task stack`);
    if (!across && s.regs) return err(`arch_stack_walk_reliable: pt_regs at ${h(s.regs)} are not the task's final pt_regs (an exception boundary)`);
    if (!kernelTextAddress(snap, s.ip)) return err(`unwind_get_return_address: ${h(s.ip)} is not kernel text`);
    if (rethook !== undefined && s.ip === rethook && !k.noRethookRecovery) return err('arch_stack_walk_reliable: arch_rethook_trampoline was not recovered');
    if (rth !== undefined && s.ip === rth && !k.keepReturnToHandler && !k.fgraphNullKey) return err('arch_stack_walk_reliable: return_to_handler was not recovered (the ret_stack has no entry for this frame)');
    trace.push(s.ip);
    const n = nextFrame(s);
    if (n === 'stop') return { rc: 0, trace };
    if (n === 'error') return err(s.error!);
  }
}

export function create(profile: Profile): Unwinder {
  return { name: profile.name, walk: (input) => walkS390x(input) };
}
