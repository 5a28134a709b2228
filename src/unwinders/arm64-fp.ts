/**
 * arm64 frame-record reliable unwinder, modelled on arch/arm64/kernel/stacktrace.c
 * (arch_stack_walk_reliable -> kunwind_stack_walk -> do_kunwind). It follows frame records only:
 * at an exception boundary (a PT_REGS meta record) it gives up, because it cannot know whether the
 * LR was live when the exception was taken (spec 3.3, 3.6). It succeeds only at the FINAL record
 * of task_pt_regs(task) (spec 3.1), and recovers fgraph / kretprobe return addresses by frame
 * pointer (spec 3.4).
 */
import { checkKernelText, doKunwind, err, type KunwindPolicy } from './arm64-common';
import type { Profile, Unwinder } from './types';

const policy: KunwindPolicy = {
  atPc: (state) => checkKernelText(state, 'arch_reliable_kunwind_consume_entry'),
  // arch_reliable_kunwind_consume_entry(): KUNWIND_SOURCE_REGS_PC is never consumed.
  boundary: (state, regs) =>
    err(`arch_reliable_kunwind_consume_entry: exception boundary (pt_regs at 0x${regs.toString(16)}, record at 0x${state.fp.toString(16)}); the LR may have been live`),
};

export function create(profile: Profile): Unwinder {
  return { name: profile.name, walk: (input) => doKunwind(input, policy) };
}
