/**
 * loongarch64 ORC reference unwinder, modelled on arch/loongarch/kernel/unwind_orc.c (unwind_next_frame(),
 * bt_address()) driven by arch_stack_walk_reliable() (arch/loongarch/kernel/stacktrace.c).
 *
 * The walk starts from the saved context of a blocked task (thread.reg01 as pc, reg03 as sp and, since
 * 677d4a52d4dc, reg22 as fp) or from the live registers of current, with ra unknown (0). Each step looks
 * the pc up in the ORC table: the CFA is sp + offset or fp; the caller's fp and the return address are
 * read at CFA + offset, or the return address is still in ra, known only from the pt_regs the walk came
 * through (used once, and never when it equals the pc). A return address is reported as ra - 4 (the call
 * instruction), after the function-graph and rethook trampolines are recovered (keyed by the frame's CFA).
 * pt_regs (type REGS, or any sp-based entry while sp is the top of the IRQ stack, where next_sp leads back
 * to the task's pt_regs) continue at era with their sp, ra and fp. An address inside an exception vector
 * is mapped to the handler it is a copy of (bt_address()).
 *
 * A walk ends successfully only at task_pt_regs(task): user-mode pt_regs, or a kernel thread's pt_regs
 * with zeroed sp and ra. Differences from the kernel, all towards rejecting more: no frame-pointer guess
 * when a pc has no ORC entry (the kernel guesses and marks the walk unreliable anyway); every stack read
 * is aligned and made only on an accessible stack, left in one direction; a return trampoline that cannot
 * be recovered is an error; a walk starting inside a return trampoline is rejected. The rethook trampoline
 * is recovered by the probed frame's CFA (upstream records frame 0 and cannot recover it).
 */
import { hex } from '../machine/addr';
import type { LoadedSnapshot } from '../snapshot/io';
import type { LoongarchOrcEntry } from '../snapshot/types';
import { LOONGARCH64_ABI } from '../isa/loongarch64/abi';
import { coveringEntry, ftraceGraphRetAddr, ipTable, kernelTextAddress, kretprobeFindRetAddr, MAX_FRAMES, symbolAddr } from './common';
import type { Profile, Unwinder, WalkInput, WalkResult } from './types';
import { inReturnTrampoline, Stacks, UnwindError } from './x86_64-common';

export const EINVAL = -22;
const NO_ORC: LoongarchOrcEntry[] = [];

function abi(snap: LoadedSnapshot, key: keyof typeof LOONGARCH64_ABI | 'EENTRY'): number {
  const v = snap.abi[key];
  if (typeof v === 'number') return v;
  if (key === 'EENTRY') throw new UnwindError('the snapshot has no EENTRY');
  return LOONGARCH64_ABI[key];
}

/** orc_find(): the entry covering pc. */
export function orcFind(snap: LoadedSnapshot, pc: number): LoongarchOrcEntry | undefined {
  return coveringEntry(snap, ipTable(snap.json.unwind.loongarchOrc ?? NO_ORC), pc);
}

/** exception_table[] as trap_init() fills it for the exceptions the kernel handles (interrupts: handle_vint). */
const EXCEPTION_TABLE: Record<number, string> = {
  [LOONGARCH64_ABI.EXCCODE_PIL]: 'handle_tlb_load',
  [LOONGARCH64_ABI.EXCCODE_SYS]: 'handle_syscall',
  [LOONGARCH64_ABI.EXCCODE_BP]: 'handle_bp',
};

/** bt_address(): an address inside an exception vector is its handler at the same offset; then it must be kernel text (else 0). */
export function btAddress(snap: LoadedSnapshot, ra: number): number {
  const eentry = abi(snap, 'EENTRY');
  const vecsz = abi(snap, 'VECSIZE');
  if (ra >= eentry && ra < eentry + abi(snap, 'EXCCODE_INT_END') * vecsz) {
    const type = Math.floor((ra - eentry) / vecsz);
    const offset = (ra - eentry) % vecsz;
    const name = type >= abi(snap, 'EXCCODE_INT_START') ? 'handle_vint' : EXCEPTION_TABLE[type];
    const func = name === undefined ? undefined : symbolAddr(snap, name);
    if (func === undefined) return 0;
    ra = func + offset;
  }
  return kernelTextAddress(snap, ra) ? ra : 0;
}

/** Cursors into task->ret_stack and the kretprobe instance list. */
export interface LoongRecover {
  graphIdx: { value: number };
  krCur: { value: number };
}

/**
 * unwind_graph_addr() (and the rethook equivalent): the original return address behind return_to_handler
 * (keyed by CFA - GRAPH_FAKE_OFFSET, the parent-ra slot of ftrace_caller's pt_regs) or behind
 * arch_rethook_trampoline (keyed by the probed frame's CFA). Any other address is returned unchanged;
 * undefined when a trampoline cannot be recovered.
 */
export function recoverReturn(snap: LoadedSnapshot, rec: LoongRecover, ret: number, cfa: number): number | undefined {
  const fgKey = cfa - abi(snap, 'GRAPH_FAKE_OFFSET');
  let r = ftraceGraphRetAddr(snap, rec.graphIdx, ret, fgKey);
  if (r === undefined) return undefined;
  const k = kretprobeFindRetAddr(snap, rec.krCur, r, cfa);
  if (k === undefined) return undefined;
  if (k !== r) {
    // A kretprobed function tail-called from a graph-traced one: the instance saved the rewritten slot.
    r = ftraceGraphRetAddr(snap, rec.graphIdx, k, fgKey);
    return r;
  }
  return r;
}

/**
 * The points where one behaviour of this walk can be changed (the mutant catalogue, src/mutants, breaks
 * one at a time); left out, each is what this reference does.
 */
export interface LoongSeams {
  /** A blocked task's fp is not taken from thread.reg22 (before 677d4a52d4dc: 0). */
  noBlockedFp?: boolean;
  /** A pc with no ORC entry: the entry to use instead (the reference rejects the walk). */
  missingEntry?: () => LoongarchOrcEntry;
  /** An UNDEFINED entry is walked through as if it were the entry of a function (the reference rejects it). */
  undefinedAsEntry?: boolean;
  /** The ra known from pt_regs is used for the next frame whatever the ORC entry says (saved on the stack or not). */
  trustRa?: boolean;
  /** Kernel-mode pt_regs make the walk unreliable (no exception boundary is crossed). */
  rejectKernelRegs?: boolean;
  /** Return recovery: the reference's recoverReturn, or a replacement. */
  recover?: (snap: LoadedSnapshot, rec: LoongRecover, ret: number, cfa: number) => number | undefined;
}

interface State {
  pc: number;
  sp: number;
  fp: number;
  ra: number;
}

export function walkLoongarchOrc({ snap, mem }: WalkInput, seams: LoongSeams = {}): WalkResult {
  const A = (k: keyof typeof LOONGARCH64_ABI) => abi(snap, k);
  const stacks = new Stacks(snap, mem);
  const rec: LoongRecover = { graphIdx: { value: -1 }, krCur: { value: 0 } };
  const recover = seams.recover ?? recoverReturn;
  const trace: number[] = [];
  const st: State = { pc: 0, sp: 0, fp: 0, ra: 0 };

  /** The state's pc as reported: bt_address() of it, which must be kernel text. */
  const report = (pc: number, what: string): void => {
    const p = btAddress(snap, pc);
    if (!p) throw new UnwindError(`cannot find unwind pc at ${hex(pc)} (${what})`);
    st.pc = p;
    trace.push(p);
  };

  const start = (): void => {
    if (snap.json.task.state === 'blocked') {
      st.pc = snap.regs.ra ?? 0;
      st.sp = snap.regs.sp ?? 0;
      st.fp = seams.noBlockedFp ? 0 : snap.regs.fp ?? 0;
      stacks.start(st.sp, 8, 'thread.reg03 (sp)');
      if (stacks.cur!.type !== 'task') throw new UnwindError('a blocked task must be switched out on its task stack');
    } else {
      st.pc = snap.regs.pc ?? 0;
      st.sp = snap.regs.sp ?? 0;
      st.fp = snap.regs.fp ?? 0;
      stacks.start(st.sp, 8, 'stack pointer');
    }
    st.ra = 0;
    if (inReturnTrampoline(snap, st.pc)) throw new UnwindError('unwinding from inside a return trampoline is not supported');
    report(st.pc, 'start');
  };

  /** One unwind_next_frame(): 'done' at a legitimate end, else the next state was reported. */
  const next = (): 'done' | 'more' => {
    const at = snap.syms.describe(st.pc);
    let orc = orcFind(snap, st.pc);
    if (!orc) {
      orc = seams.missingEntry?.();
      if (!orc) throw new UnwindError(`no ORC entry for ${at}`);
    }
    if (orc.type === 'undefined') {
      if (!seams.undefinedAsEntry) throw new UnwindError(`ORC entry for ${at} is UNDEFINED`);
      orc = { ip: orc.ip, spReg: 'sp', spOffset: 0, fpReg: 'undefined', fpOffset: 0, raReg: 'undefined', raOffset: 0, type: 'call' };
    }
    if (orc.type === 'end_of_stack') {
      if (st.sp === snap.ptRegs) return 'done';
      throw new UnwindError(`END_OF_STACK at ${at} away from task_pt_regs`);
    }
    const prevSp = st.sp;
    const prevRegion = stacks.find(prevSp, 8)?.region;
    let type = orc.type;
    let regs: number | undefined;
    switch (orc.spReg) {
      case 'sp': {
        const cur = stacks.find(st.sp, 8);
        if (cur?.type === 'irq' && st.sp === cur.base + A('IRQ_STACK_START')) {
          // The top of the IRQ stack: next_sp there is the task's sp when the IRQ came, its pt_regs.
          type = 'regs';
          regs = stacks.read(st.sp, `next_sp of the IRQ stack (${at})`);
        } else st.sp = st.sp + orc.spOffset;
        break;
      }
      case 'fp':
        st.sp = st.fp;
        break;
      default:
        throw new UnwindError(`ORC entry for ${at} has an undefined CFA base`);
    }
    if (orc.fpReg === 'prev_sp') st.fp = stacks.read(st.sp + orc.fpOffset, `saved fp for ${at}`);

    if (type === 'call') {
      // ra from pt_regs describes only the frame they interrupted: gone after this step, used or not.
      const ra = st.ra;
      st.ra = 0;
      let ret: number;
      if (seams.trustRa && ra) {
        ret = ra;
      } else if (orc.raReg === 'prev_sp') {
        ret = stacks.read(st.sp + orc.raOffset, `return address for ${at}`);
      } else {
        if (!ra || ra === st.pc) throw new UnwindError(`return address of ${at} is in ra, which is not known here`);
        ret = ra;
      }
      const r = recover(snap, rec, ret, st.sp);
      if (r === undefined) throw new UnwindError(`return trampoline ${snap.syms.describe(ret)} for the frame at ${hex(st.sp)} cannot be recovered`);
      if (orc.raReg === 'undefined' ? st.sp < prevSp : st.sp <= prevSp) {
        if (stacks.find(st.sp, 8)?.region === prevRegion) throw new UnwindError(`stack going in the wrong direction at ${at}`);
      }
      report(r - A('INSN_SIZE'), `return address ${hex(r)}`);
      return 'more';
    }
    // pt_regs
    const p = regs ?? st.sp;
    stacks.access(p, A('PT_REGS_SIZE'), `pt_regs for ${at}`);
    const rsp = mem.read64(p + A('PT_R3'));
    const rra = mem.read64(p + A('PT_R1'));
    const top = stacks.cur!.end;
    if (top === p + A('PT_REGS_SIZE') && rsp === 0 && rra === 0) {
      if (p === snap.ptRegs) return 'done';
      throw new UnwindError(`zeroed pt_regs at ${hex(p)} are not task_pt_regs (${hex(snap.ptRegs)})`);
    }
    if ((mem.read64(p + A('PT_PRMD')) & A('PLV_MASK')) === A('PLV_USER')) {
      if (p === snap.ptRegs) return 'done';
      throw new UnwindError(`user-mode pt_regs at ${hex(p)} are not task_pt_regs (${hex(snap.ptRegs)})`);
    }
    if (seams.rejectKernelRegs) throw new UnwindError(`kernel-mode pt_regs at ${hex(p)}: exception boundaries are not crossed`);
    const era = mem.read64(p + A('PT_ERA'));
    st.sp = rsp;
    st.ra = rra;
    st.fp = mem.read64(p + A('PT_R22'));
    // An exception right after a return into a trampoline: its frame's CFA is the saved sp.
    const r = recover(snap, rec, era, st.sp);
    if (r === undefined) throw new UnwindError(`return trampoline interrupted at its entry: no matching record for the frame at ${hex(st.sp)}`);
    if (!stacks.find(st.sp, 8)) throw new UnwindError(`pt_regs at ${hex(p)} hold sp ${hex(st.sp)}, not on an accessible stack`);
    report(r, `pt_regs era ${hex(era)}`);
    return 'more';
  };

  try {
    start();
    for (let n = 0; ; n++) {
      if (n >= MAX_FRAMES) return { rc: EINVAL, trace, reason: `more than ${MAX_FRAMES} frames: giving up` };
      if (next() === 'done') return { rc: 0, trace };
    }
  } catch (e) {
    if (e instanceof UnwindError) return { rc: EINVAL, trace, reason: e.message };
    throw e;
  }
}

export function create(profile: Profile): Unwinder {
  return { name: profile.name, walk: (input) => walkLoongarchOrc(input) };
}
