/**
 * The x86_64 ORC reference unwinder (src/unwinders/x86_64-orc.ts) with one behaviour changed through
 * its seams: with every knob off it is exactly x86_64-orc; a mutant turns on one knob.
 */
import type { LoadedSnapshot } from '../snapshot/io';
import { hex, unhex } from '../snapshot/io';
import type { OrcEntry } from '../snapshot/types';
import { ftraceGraphRetAddr, kretprobeFindRetAddr, symbolAddr } from '../unwinders/common';
import { walkOrc } from '../unwinders/x86_64-orc';
import { UnwindError, type RecoverState } from '../unwinders/x86_64-common';
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

/** unwind_recover_ret_addr(), with the knob. */
function recoverRet(snap: LoadedSnapshot, rec: RecoverState & { used?: number }, k: OrcKnobs, ret: number, retp: number): number {
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
        throw new UnwindError(`return_to_handler at ${hex(retp)}: rewritten return addresses are not recovered`);
      case 'by-index': {
        const real = (snap.json.fgraph?.stack ?? []).filter((e) => unhex(e.ret) !== rth).reverse();
        const e = real[rec.used ?? 0];
        g = e ? unhex(e.ret) : undefined;
        if (e) rec.used = (rec.used ?? 0) + 1;
        break;
      }
    }
  }
  if (g === undefined) throw new UnwindError(`return_to_handler at ${hex(retp)} has no matching ret_stack entry`);
  if ((k.fgraph ?? 'reference') === 'none') return g;
  const kr = kretprobeFindRetAddr(snap, rec.krCur, g, retp);
  if (kr === undefined) throw new UnwindError(`kretprobe trampoline at ${hex(retp)} has no matching instance`);
  return kr;
}

/** orc_fp_entry: what the kernel assumes for an ip without ORC data (a standard frame-pointer frame). */
const ORC_FP_ENTRY: OrcEntry = { ip: '0x0', spReg: 'bp', spOffset: 16, bpReg: 'prev_sp', bpOffset: -16, type: 'call' };

export function walkOrcMutant(input: WalkInput, k: OrcKnobs): WalkResult {
  return walkOrc(input, {
    ...(k.fpGuessWithoutError ? { missingEntry: () => ORC_FP_ENTRY } : {}),
    ...(k.undefinedIsEnd ? { undefinedEnds: true } : {}),
    ...(k.fgraph && k.fgraph !== 'reference' ? { recover: (snap: LoadedSnapshot, rec: RecoverState, ret: number, retp: number) => recoverRet(snap, rec, k, ret, retp) } : {}),
    ...(k.userRegsAnywhere ? { userRegsAnywhere: true } : {}),
    ...(k.rejectKernelRegs ? { rejectKernelRegs: true } : {}),
  });
}
