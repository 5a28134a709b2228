/**
 * A patchable copy of the x86_64 ORC reference unwinder (src/unwinders/x86_64-orc.ts) and of the
 * reliable-walk driver (arch_stack_walk_reliable(), src/unwinders/x86_64-common.ts reliableWalk).
 * With every knob off it walks exactly as x86_64-orc; a mutant turns on one knob.
 */
import type { LoadedSnapshot } from '../snapshot/io';
import { unhex } from '../snapshot/io';
import type { OrcEntry } from '../snapshot/types';
import { MAX_FRAMES, ftraceGraphRetAddr, kernelTextAddress, kretprobeFindRetAddr, kretprobeTrampoline, symbolAddr } from '../unwinders/common';
import { orcFind } from '../unwinders/x86_64-orc';
import { EINVAL, abi, inReturnTrampoline, newRecoverState, recoverRethook, Stacks, UnwindError, userMode, type Frame, type RecoverState, type StackInfo } from '../unwinders/x86_64-common';
import type { WalkInput, WalkResult } from '../unwinders/types';

export interface OrcKnobs {
  /** An UNDEFINED ORC entry ends the walk successfully (UNWIND_HINT_EMPTY before the split). */
  undefinedIsEnd?: boolean;
  /** No ORC entry for an ip: guess a frame-pointer frame (orc_fp_entry) without flagging the walk unreliable. */
  fpGuessWithoutError?: boolean;
  /** Recovery of return_to_handler: reference (retp key, cursor), unchecked (a failed lookup returns return_to_handler itself, as ftrace_graph_ret_addr() does), none (never recovered), by-index. */
  fgraph?: 'reference' | 'unchecked' | 'none' | 'by-index' | 'reject';
  /** User-mode pt_regs end the walk successfully wherever they are, not only at task_pt_regs(task). */
  userRegsAnywhere?: boolean;
  /** Kernel-mode pt_regs make the walk unreliable (conservative, correct). */
  rejectKernelRegs?: boolean;
}

interface OrcState {
  ip: number;
  sp: number;
  bp: number;
  regs: number | null;
  regsCs: number;
  fullRegs: boolean;
  prevRegs: number | null;
  signal: boolean;
}

const isRetFromFork = (snap: LoadedSnapshot, ip: number): boolean => {
  const s = snap.syms.lookup(ip);
  return !!s && s.start === ip && (s.name === 'ret_from_fork' || s.name === 'ret_from_fork_asm');
};

/** unwind_recover_ret_addr(), with the knob. */
function recoverRet(snap: LoadedSnapshot, rec: RecoverState & { used: number }, k: OrcKnobs, ret: number, retp: number): number {
  const rth = symbolAddr(snap, 'return_to_handler');
  let g: number | undefined = ret;
  if (rth !== undefined && ret === rth) {
    switch (k.fgraph ?? 'reference') {
      case 'reference':
        g = ftraceGraphRetAddr(snap, rec.graphIdx, ret, retp);
        break;
      case 'unchecked':
        g = ftraceGraphRetAddr(snap, rec.graphIdx, ret, retp) ?? ret;
        break;
      case 'none':
        g = ret;
        break;
      case 'reject':
        throw new UnwindError(`return_to_handler at 0x${retp.toString(16)}: rewritten return addresses are not recovered`);
      case 'by-index': {
        const real = (snap.json.fgraph?.stack ?? []).filter((e) => unhex(e.ret) !== rth).reverse();
        const e = real[rec.used];
        g = e ? unhex(e.ret) : undefined;
        if (e) rec.used++;
        break;
      }
    }
  }
  if (g === undefined) throw new UnwindError(`return_to_handler at 0x${retp.toString(16)} has no matching ret_stack entry`);
  if ((k.fgraph ?? 'reference') === 'none') return g;
  const kr = kretprobeFindRetAddr(snap, rec.krCur, g, retp);
  if (kr === undefined) throw new UnwindError(`kretprobe trampoline at 0x${retp.toString(16)} has no matching instance`);
  return kr;
}

/** arch_stack_walk_reliable() (see reliableWalk in x86_64-common.ts), with the knobs. */
function reliableWalk(snap: LoadedSnapshot, first: () => Frame | 'done', next: () => Frame | 'done', k: OrcKnobs): WalkResult {
  const trace: number[] = [];
  try {
    let f = first();
    for (let n = 0; f !== 'done'; n++) {
      if (n >= MAX_FRAMES) return { rc: EINVAL, trace, reason: `more than ${MAX_FRAMES} frames: giving up` };
      if (f.regs) {
        if (userMode(f.regs.cs)) {
          if (f.regs.addr === snap.ptRegs || k.userRegsAnywhere) return { rc: 0, trace };
          return { rc: EINVAL, trace, reason: `user-mode pt_regs at 0x${f.regs.addr.toString(16)} are not task_pt_regs` };
        }
        if (k.rejectKernelRegs) return { rc: EINVAL, trace, reason: `conservative: kernel-mode pt_regs at 0x${f.regs.addr.toString(16)}` };
      }
      if (!kernelTextAddress(snap, f.ip)) return { rc: EINVAL, trace, reason: `address 0x${f.ip.toString(16)} is not kernel text` };
      trace.push(f.ip);
      f = next();
    }
  } catch (e) {
    if (e instanceof UnwindError) return { rc: EINVAL, trace, reason: e.message };
    throw e;
  }
  return { rc: 0, trace };
}

/** orc_fp_entry: what the kernel assumes for an ip without ORC data (a standard frame-pointer frame). */
const ORC_FP_ENTRY: OrcEntry = { ip: '0x0', spReg: 'bp', spOffset: 16, bpReg: 'prev_sp', bpOffset: -16, type: 'call' };

export function walkOrcMutant({ snap, mem }: WalkInput, k: OrcKnobs): WalkResult {
  const A = (key: Parameters<typeof abi>[1]) => abi(snap, key);
  const stacks = new Stacks(snap, mem);
  const rec = Object.assign(newRecoverState(), { used: 0 });
  const st: OrcState = { ip: 0, sp: 0, bp: 0, regs: null, regsCs: 0, fullRegs: false, prevRegs: null, signal: true };
  const frame = (): Frame => (st.regs !== null ? { ip: st.ip, regs: { addr: st.regs, cs: st.regsCs } } : { ip: st.ip });

  const first = (): Frame => {
    if (snap.json.task.state === 'blocked') {
      const tsp = snap.regs.rsp ?? 0;
      stacks.start(tsp, A('ITF_SIZE'), 'inactive_task_frame');
      if (stacks.cur!.type !== 'task') throw new UnwindError('a blocked task must be switched out on its task stack');
      st.bp = mem.read64(tsp + A('ITF_RBP'));
      const retp = tsp + A('ITF_RET_ADDR');
      st.ip = recoverRet(snap, rec, k, mem.read64(retp), retp);
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

  const legitimateEnd = (): boolean => {
    if (!snap.syms.lookup(st.signal ? st.ip : st.ip - 1)?.entry) return false;
    if (st.regs !== null) return (st.regsCs & 3) !== 3;
    return stacks.find(st.sp, 8)?.type === 'task' && st.sp === snap.ptRegs;
  };

  /** unwind_recover_rethook() at pt_regs, following the recovery knob like recoverRet(). */
  const rethook = (ip: number, retp: number): number => {
    const mode = k.fgraph ?? 'reference';
    if (mode === 'none') return ip;
    if (mode === 'reject' && ip === kretprobeTrampoline(snap)) throw new UnwindError(`kretprobe trampoline at 0x${retp.toString(16)}: rewritten return addresses are not recovered`);
    return recoverRethook(snap, rec, ip, retp);
  };

  const next = (): Frame | 'done' => {
    if (st.regs !== null && (st.regsCs & 3) === 3) return 'done';
    const origIp = st.ip;
    const prevSp = st.sp;
    const prevStack: StackInfo | undefined = stacks.find(prevSp, 8);
    const lookup = st.signal ? st.ip : st.ip - 1;
    let orc = orcFind(snap, lookup);
    const at = snap.syms.describe(origIp);
    if (!orc) {
      if (!k.fpGuessWithoutError) throw new UnwindError(`no ORC entry for ${at}`);
      orc = ORC_FP_ENTRY;
    }
    if (orc.type === 'undefined') {
      if (k.undefinedIsEnd) return 'done';
      throw new UnwindError(`ORC entry for ${at} is UNDEFINED`);
    }
    if (orc.type === 'end_of_stack') {
      if (legitimateEnd()) return 'done';
      throw new UnwindError(`END_OF_STACK at ${at} is neither an interrupted entry point nor entry code at task_pt_regs`);
    }
    st.signal = orc.signal ?? (orc.type === 'regs' || orc.type === 'regs_partial');

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
      case 'dx': {
        const off = A(orc.spReg === 'r10' ? 'PT_R10' : orc.spReg === 'r13' ? 'PT_R13' : orc.spReg === 'di' ? 'PT_RDI' : 'PT_RDX');
        const base = st.regs !== null && st.fullRegs ? st.regs : st.regs !== null ? st.prevRegs : null;
        if (base === null) throw new UnwindError(`missing ${orc.spReg.toUpperCase()} value at ${at}: no full pt_regs`);
        sp = mem.read64(base + off);
        break;
      }
      default:
        throw new UnwindError(`ORC entry for ${at} has an undefined CFA base`);
    }

    switch (orc.type) {
      case 'call': {
        const ipP = sp - 8;
        const ret = stacks.read(ipP, `return address for ${at}`);
        st.ip = recoverRet(snap, rec, k, ret, ipP);
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
        if ((st.regsCs & 3) !== 3) st.ip = rethook(st.ip, st.sp - 8);
        st.regs = sp;
        st.prevRegs = null;
        st.fullRegs = true;
        break;
      }
      case 'regs_partial': {
        stacks.access(sp, 40, `iret frame for ${at}`);
        st.ip = mem.read64(sp);
        st.regsCs = mem.read64(sp + 8);
        st.sp = mem.read64(sp + 24);
        if ((st.regsCs & 3) !== 3) st.ip = rethook(st.ip, st.sp - 8);
        if (st.regs !== null && st.fullRegs) st.prevRegs = st.regs;
        st.regs = sp - A('PT_IRET_FRAME');
        st.fullRegs = false;
        break;
      }
    }

    switch (orc.bpReg) {
      case 'undefined':
        if (st.regs !== null && st.fullRegs) st.bp = mem.read64(st.regs + A('PT_RBP'));
        else if (st.regs !== null && st.prevRegs !== null) st.bp = mem.read64(st.prevRegs + A('PT_RBP'));
        break;
      case 'prev_sp':
        st.bp = stacks.read(sp + orc.bpOffset, `saved rbp for ${at}`);
        break;
      case 'bp':
        st.bp = stacks.read(st.bp + orc.bpOffset, `saved rbp for ${at}`);
        break;
    }

    if (st.regs === null || (st.regsCs & 3) !== 3) {
      const now = stacks.find(st.sp, 8);
      if (prevStack && now && now.region === prevStack.region && st.sp <= prevSp) {
        throw new UnwindError(`stack going in the wrong direction at ${at}`);
      }
    }
    return frame();
  };

  return reliableWalk(snap, first, next, k);
}
