/**
 * x86_64 ORC reference unwinder, modelled on arch/x86/kernel/unwind_orc.c (unwind_next_frame,
 * __unwind_start) driven by arch_stack_walk_reliable() (arch/x86/kernel/stacktrace.c).
 *
 * Differences from the kernel, all towards rejecting more: no frame-pointer guess when an ip has no
 * ORC entry; user-mode regs end a walk successfully only at task_pt_regs(task), END_OF_STACK only
 * there or in an entry point interrupted before it built a frame;
 * every stack read is aligned and checked before it is made; starting inside a return trampoline
 * is rejected; a return_to_handler or rethook trampoline address that cannot be recovered is an
 * error (the kernel would report the trampoline and lose the real caller).
 *
 * Like the kernel: pt_regs whose ip is exactly arch_rethook_trampoline (an exception right after
 * the RET into it) are unwound through unwind_recover_rethook() with the slot that RET consumed;
 * inside the trampolines the ORC data (UNWIND_HINT_FUNC after the re-pushed or re-claimed slot)
 * leads to the slot that still holds the trampoline's address, which is recovered like any other.
 */
import type { LoadedSnapshot } from '../snapshot/io';
import type { OrcEntry } from '../snapshot/types';
import { coveringEntry, ipTable } from './common';
import type { Profile, Unwinder, WalkInput } from './types';
import { abi, newRecoverState, recoverRetAddr, recoverRethook, reliableWalk, Stacks, UnwindError, inReturnTrampoline, type Frame, type RecoverState, type StackInfo } from './x86_64-common';
import { hex } from '../machine/addr';

const NO_ORC: OrcEntry[] = [];

/** orc_find(): the entry covering ip (see coveringEntry). */
export function orcFind(snap: LoadedSnapshot, ip: number): OrcEntry | undefined {
  return coveringEntry(snap, ipTable(snap.json.unwind.orc ?? NO_ORC), ip);
}

const isRetFromFork = (snap: LoadedSnapshot, ip: number): boolean => {
  const s = snap.syms.lookup(ip);
  return !!s && s.start === ip && (s.name === 'ret_from_fork' || s.name === 'ret_from_fork_asm');
};

interface OrcState {
  ip: number;
  sp: number;
  bp: number;
  /** Address of the pt_regs the state was unwound through (full or iret-only). */
  regs: number | null;
  regsCs: number;
  fullRegs: boolean;
  /** The last full pt_regs passed before iret-only regs (state->prev_regs), for get_reg(). */
  prevRegs: number | null;
  /** ip is not a return address: look up ip itself rather than ip - 1. */
  signal: boolean;
}

/**
 * The points where one behaviour of this walk can be changed (the mutant catalogue, src/mutants,
 * breaks one at a time); left out, each is what this reference does.
 */
export interface OrcSeams {
  /** An ip with no ORC entry: the entry to use instead (the reference rejects the walk). */
  missingEntry?: () => OrcEntry;
  /** An UNDEFINED entry ends the walk successfully (the reference rejects it). */
  undefinedEnds?: boolean;
  /** unwind_recover_ret_addr() for a return address read from `retp`. */
  recover?: (snap: LoadedSnapshot, rec: RecoverState, ret: number, retp: number) => number;
  /** User-mode pt_regs end the walk successfully wherever they are (the reference: only at task_pt_regs). */
  userRegsAnywhere?: boolean;
  /** Kernel-mode pt_regs make the walk unreliable. */
  rejectKernelRegs?: boolean;
}

export function walkOrc({ snap, mem }: WalkInput, seams: OrcSeams = {}) {
  const A = (k: Parameters<typeof abi>[1]) => abi(snap, k);
  const stacks = new Stacks(snap, mem);
  const rec = newRecoverState();
  const recover = seams.recover ?? recoverRetAddr;
  const st: OrcState = { ip: 0, sp: 0, bp: 0, regs: null, regsCs: 0, fullRegs: false, prevRegs: null, signal: true };

  const frame = (): Frame => (st.regs !== null ? { ip: st.ip, regs: { addr: st.regs, cs: st.regsCs } } : { ip: st.ip });

  const first = (): Frame => {
    if (snap.json.task.state === 'blocked') {
      // struct inactive_task_frame at task->thread.sp
      const tsp = snap.regs.rsp ?? 0;
      stacks.start(tsp, A('ITF_SIZE'), 'inactive_task_frame');
      if (stacks.cur!.type !== 'task') throw new UnwindError('a blocked task must be switched out on its task stack');
      st.bp = mem.read64(tsp + A('ITF_RBP'));
      const retp = tsp + A('ITF_RET_ADDR');
      st.ip = recover(snap, rec, mem.read64(retp), retp);
      st.sp = tsp + A('ITF_SIZE');
      st.signal = isRetFromFork(snap, st.ip);
    } else {
      st.ip = snap.regs.rip ?? 0;
      st.sp = snap.regs.rsp ?? 0;
      st.bp = snap.regs.rbp ?? 0;
      st.signal = true;
      stacks.start(st.sp, 8, 'stack pointer');
      if (inReturnTrampoline(snap, st.ip)) throw new UnwindError('unwinding from inside a return trampoline is not supported');
    }
    return frame();
  };

  /**
   * END_OF_STACK is a legitimate end when the entry code that called out sits right on
   * task_pt_regs (ret_from_fork), or when kernel-mode regs show the task was interrupted inside an
   * entry point (`entry` symbol) before it built any frame (nothing of the kernel is live below).
   */
  const legitimateEnd = (): boolean => {
    if (!snap.syms.lookup(st.signal ? st.ip : st.ip - 1)?.entry) return false;
    if (st.regs !== null) return (st.regsCs & 3) !== 3;
    return stacks.find(st.sp, 8)?.type === 'task' && st.sp === snap.ptRegs;
  };

  /** get_reg(): a register from the full pt_regs of this state, or from those before iret-only regs. */
  const getReg = (reg: 'r10' | 'r13' | 'di' | 'dx', at: string): number => {
    const off = A(reg === 'r10' ? 'PT_R10' : reg === 'r13' ? 'PT_R13' : reg === 'di' ? 'PT_RDI' : 'PT_RDX');
    const base = st.regs !== null && st.fullRegs ? st.regs : st.regs !== null ? st.prevRegs : null;
    if (base === null) throw new UnwindError(`missing ${reg.toUpperCase()} value at ${at}: no full pt_regs`);
    return mem.read64(base + off);
  };

  const next = (): Frame | 'done' => {
    if (st.regs !== null && (st.regsCs & 3) === 3) return 'done';
    const origIp = st.ip;
    const prevSp = st.sp;
    const prevStack: StackInfo | undefined = stacks.find(prevSp, 8);
    const lookup = st.signal ? st.ip : st.ip - 1;
    const at = snap.syms.describe(origIp);
    const orc = orcFind(snap, lookup) ?? seams.missingEntry?.();
    if (!orc) throw new UnwindError(`no ORC entry for ${at}`);
    if (orc.type === 'undefined') {
      if (seams.undefinedEnds) return 'done';
      throw new UnwindError(`ORC entry for ${at} is UNDEFINED`);
    }
    if (orc.type === 'end_of_stack') {
      if (legitimateEnd()) return 'done';
      throw new UnwindError(`END_OF_STACK at ${at} (sp ${hex(st.sp)}) is neither an interrupted entry point nor entry code at task_pt_regs`);
    }
    st.signal = orc.signal ?? (orc.type === 'regs' || orc.type === 'regs_partial');

    // Find the previous frame's stack.
    let sp: number;
    switch (orc.spReg) {
      case 'sp':
        sp = st.sp + orc.spOffset;
        break;
      case 'bp':
        sp = st.bp + orc.spOffset;
        break;
      case 'sp_indirect':
        sp = stacks.read(st.sp, `indirect CFA for ${at}`) + orc.spOffset;
        break;
      case 'bp_indirect':
        sp = stacks.read(st.bp + orc.spOffset, `indirect CFA for ${at}`);
        break;
      case 'r10':
      case 'r13':
      case 'di':
      case 'dx':
        sp = getReg(orc.spReg, at);
        break;
      default:
        throw new UnwindError(`ORC entry for ${at} has an undefined CFA base`);
    }

    // Find IP, SP and possibly regs.
    switch (orc.type) {
      case 'call': {
        const ipP = sp - 8;
        const ret = stacks.read(ipP, `return address for ${at}`);
        st.ip = recover(snap, rec, ret, ipP);
        st.sp = sp;
        st.regs = null;
        st.prevRegs = null;
        st.fullRegs = false;
        break;
      }
      case 'regs': {
        stacks.access(sp, A('PT_REGS_SIZE'), `pt_regs for ${at}`);
        st.ip = mem.read64(sp + A('PT_RIP'));
        st.regsCs = mem.read64(sp + A('PT_CS'));
        st.sp = mem.read64(sp + A('PT_RSP'));
        if ((st.regsCs & 3) !== 3) st.ip = recoverRethook(snap, rec, st.ip, st.sp - 8);
        st.regs = sp;
        st.prevRegs = null;
        st.fullRegs = true;
        break;
      }
      case 'regs_partial': {
        // sp points at the iret frame (ip, cs, flags, sp, ss) inside pt_regs.
        stacks.access(sp, 40, `iret frame for ${at}`);
        st.ip = mem.read64(sp);
        st.regsCs = mem.read64(sp + 8);
        st.sp = mem.read64(sp + 24);
        if ((st.regsCs & 3) !== 3) st.ip = recoverRethook(snap, rec, st.ip, st.sp - 8);
        if (st.regs !== null && st.fullRegs) st.prevRegs = st.regs;
        st.regs = sp - A('PT_IRET_FRAME');
        st.fullRegs = false;
        break;
      }
    }

    // Find BP.
    switch (orc.bpReg) {
      case 'undefined':
        if (st.regs !== null && st.fullRegs) st.bp = mem.read64(st.regs + A('PT_RBP'));
        // get_reg(): iret-only regs take rbp from the full regs before them, checked when first read.
        else if (st.regs !== null && st.prevRegs !== null) st.bp = mem.read64(st.prevRegs + A('PT_RBP'));
        break;
      case 'prev_sp':
        st.bp = stacks.read(sp + orc.bpOffset, `saved rbp for ${at}`);
        break;
      case 'bp':
        st.bp = stacks.read(st.bp + orc.bpOffset, `saved rbp for ${at}`);
        break;
    }

    // Prevent a recursive loop due to bad ORC data.
    if (st.regs === null || (st.regsCs & 3) !== 3) {
      const now = stacks.find(st.sp, 8);
      if (prevStack && now && now.region === prevStack.region && st.sp <= prevSp) {
        throw new UnwindError(`stack going in the wrong direction at ${at}`);
      }
    }
    return frame();
  };

  return reliableWalk(snap, first, next, { rejectKernelRegs: seams.rejectKernelRegs ?? false, rejectNonStandard: false, userRegsAnywhere: seams.userRegsAnywhere ?? false });
}

export function create(profile: Profile): Unwinder {
  return { name: profile.name, walk: (input) => walkOrc(input) };
}
