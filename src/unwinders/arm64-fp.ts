/**
 * arm64 frame-record reliable unwinder, modelled on arch/arm64/kernel/stacktrace.c
 * (arch_stack_walk_reliable -> kunwind_stack_walk -> do_kunwind). It follows frame records only:
 * at an exception boundary (a PT_REGS meta record) it gives up, because it cannot know whether the
 * LR was live when the exception was taken (spec 3.3, 3.6). It succeeds only at the FINAL record
 * of task_pt_regs(task) (spec 3.1), and recovers fgraph / kretprobe return addresses by frame
 * pointer (spec 3.4). Code marked STACK_FRAME_NON_STANDARD is rejected (spec 3.2).
 */
import { checkKernelText, doKunwind, err, type KunwindError, type KunwindPolicy, type KunwindState } from './arm64-common';
import type { Profile, Unwinder } from './types';
import { hex } from '../machine/addr';

/**
 * Each reported pc must be kernel text (__kernel_text_address), and not in a function marked
 * STACK_FRAME_NON_STANDARD: such code may not keep the frame-pointer protocol (spec 3.2). Both
 * checks go beyond the kernel's arch_reliable_kunwind_consume_entry(), which reports any pc.
 */
function atPc(state: KunwindState): KunwindError | undefined {
  const e = checkKernelText(state, 'arch_reliable_kunwind_consume_entry');
  if (e) return e;
  const sym = state.snap.syms.lookup(state.pc);
  if (sym?.nonStandard) return err(`arch_reliable_kunwind_consume_entry: pc ${hex(state.pc)} is in ${sym.name}, marked STACK_FRAME_NON_STANDARD`);
  return undefined;
}

const policy: KunwindPolicy = {
  atPc,
  // arch_reliable_kunwind_consume_entry(): KUNWIND_SOURCE_REGS_PC is never consumed.
  boundary: (state, regs) =>
    err(`arch_reliable_kunwind_consume_entry: exception boundary (pt_regs at ${hex(regs)}, record at ${hex(state.fp)}); the LR may have been live`),
};

export function create(profile: Profile): Unwinder {
  return { name: profile.name, walk: (input) => doKunwind(input, policy) };
}
