/**
 * Assembly of the simulated x86_64 kernel (AT&T syntax, frame pointers on), modelled on
 * arch/x86/entry/entry_64.S, arch/x86/kernel/ftrace_64.S, arch/x86/kernel/kprobes/{core,opt}.c
 * and compiled C (push %rbp; mov %rsp,%rbp ... pop %rbp; ret). `HOOK` lines stand for the effects
 * of C code the interpreter does not model instruction by instruction; every control transfer is
 * a real instruction.
 */
import type { Workload } from '../../scene/types';
import { x86_64Source } from '../../generate/emit';
import { isGenerated, programOf } from '../../generate/registry';
import { X86_64_ABI } from '../../isa/x86_64/abi';

/** PUSH_AND_CLEAR_REGS after the iret frame and orig_ax: builds struct pt_regs. */
const PUSH_REGS = ['rdi', 'rsi', 'rdx', 'rcx', 'rax', 'r8', 'r9', 'r10', 'r11', 'rbx', 'rbp', 'r12', 'r13', 'r14', 'r15'];
export const pushRegs = (): string => PUSH_REGS.map((r) => `\tpushq %${r}`).join('\n');
export const popRegs = (): string => [...PUSH_REGS].reverse().map((r) => `\tpopq %${r}`).join('\n');

/** The spec's return_to_handler, verbatim (Documentation/livepatch/reliable-stacktrace.rst 3.4). */
export const RETURN_TO_HANDLER = `SYM_CODE_START(return_to_handler)
        UNWIND_HINT_EMPTY
        subq  $24, %rsp

        /* Save the return values */
        movq %rax, (%rsp)
        movq %rdx, 8(%rsp)
        movq %rbp, %rdi

        call ftrace_return_to_handler

        movq %rax, %rdi
        movq 8(%rsp), %rdx
        movq (%rsp), %rax
        addq $24, %rsp
        JMP_NOSPEC rdi
SYM_CODE_END(return_to_handler)`;

/**
 * Today's return_to_handler (arch/x86/kernel/ftrace_64.S since 20a0bc10272f): it steps back over
 * the slot its RET just consumed (which still holds return_to_handler, so the unwinder finds the
 * ret_stack entry by that slot), builds an ftrace_regs (a pt_regs-sized frame) for the exit
 * handlers, and returns to the original address through an intra-function call (a retpoline-style
 * RET, not an indirect jump, for IBT and the return stack buffer).
 */
export const RETURN_TO_HANDLER_FTRACE_REGS = `SYM_CODE_START(return_to_handler)
\tUNWIND_HINT_UNDEFINED
\tsubq $8, %rsp
\tUNWIND_HINT_FUNC
\tsubq $FRAME_SIZE, %rsp
\tmovq %rax, RAX(%rsp)
\tmovq %rdx, RDX(%rsp)
\tmovq %rbp, RBP(%rsp)
\tmovq %rsp, RSP(%rsp)
\tmovq %rsp, %rdi
\tcall ftrace_return_to_handler
\tmovq %rax, %rdi
\tmovq RDX(%rsp), %rdx
\tmovq RAX(%rsp), %rax
\taddq $(FRAME_SIZE+8), %rsp
\tANNOTATE_INTRA_FUNCTION_CALL
\tcall .Ldo_rop
\tint3
.Ldo_rop:
\tmovq %rdi, (%rsp)
\tret
SYM_CODE_END(return_to_handler)`;

/** A compiled C function with a frame: fentry site (if traceable), prologue, body, epilogue. */
export function cfn(name: string, body: string, opts: { notrace?: boolean; saveRbx?: boolean } = {}): string {
  return `SYM_FUNC_START(${name})
${opts.notrace ? '' : '\tcall __fentry__\n'}\tpushq %rbp
\tmovq %rsp, %rbp
${opts.saveRbx ? '\tpushq %rbx\n\tsubq $8, %rsp\n' : ''}${body}
${opts.saveRbx ? '\taddq $8, %rsp\n\tpopq %rbx\n' : ''}\tpopq %rbp
\tret
SYM_FUNC_END(${name})
`;
}

function idtentry(name: string, handler: string): string {
  return `SYM_CODE_START(${name})
\tUNWIND_HINT_IRET_REGS
\tpushq $-1
${pushRegs()}
\tUNWIND_HINT_REGS
\tENCODE_FRAME_POINTER
\tmovq %rsp, %rdi
\tcall ${handler}
${popRegs()}
\taddq $8, %rsp
\tUNWIND_HINT_IRET_REGS
\tiretq
SYM_CODE_END(${name})
`;
}

const copy5 = (disp: number): string => Array(5).fill(`\tpushq ${disp}(%rsp)`).join('\n');

/**
 * asm_exc_nmi for an NMI from kernel mode, first NMI (entry_64.S): below the hardware frame at the
 * top of the NMI stack it keeps rdx's temporary slot, the "NMI executing" variable, the "iret" frame
 * and the "outermost" frame (a copy of the hardware frame); pt_regs is built under the "outermost"
 * frame, which is its iret part, and the NMI returns through the "iret" copy. Not modelled: the
 * checks that tell a nested NMI (an NMI never nests an NMI here) and the user-mode path.
 */
const NMI_ENTRY = `SYM_CODE_START(asm_exc_nmi)
\tUNWIND_HINT_IRET_REGS
\tpushq %rdx
\tmovq (%rsp), %rdx
\t/* first_nmi: "NMI executing", room for the "iret" frame, then the "outermost" copy */
\tpushq $0
\tsubq $40, %rsp
${copy5(88)}
\tUNWIND_HINT_IRET_REGS
SYM_INNER_LABEL(repeat_nmi)
\tmovq $1, 80(%rsp)
\taddq $80, %rsp
${copy5(-48)}
\tsubq $40, %rsp
SYM_INNER_LABEL(end_repeat_nmi)
\tpushq $-1
${pushRegs()}
\tUNWIND_HINT_REGS
\tENCODE_FRAME_POINTER
\tmovq %rsp, %rdi
\tcall exc_nmi
${popRegs()}
\t/* nmi_restore: skip orig_ax and the "outermost" frame, clear "NMI executing", return via "iret" */
\taddq $48, %rsp
\tUNWIND_HINT_IRET_REGS
\tmovq $0, 40(%rsp)
\tiretq
SYM_CODE_END(asm_exc_nmi)
`;

/** Core kernel text shared by every workload. */
export function coreKernel(): string {
  return `
.entry entry_SYSCALL_64
SYM_CODE_START(entry_SYSCALL_64)
\tUNWIND_HINT_EMPTY
\tswapgs
\tmovq %rsp, PER_CPU_VAR(cpu_tss_sp2)
\tmovq PER_CPU_VAR(cpu_current_top_of_stack), %rsp
SYM_INNER_LABEL(entry_SYSCALL_64_after_hwframe)
\tpushq $__USER_DS
\tpushq PER_CPU_VAR(cpu_tss_sp2)
\tpushq %r11
\tpushq $__USER_CS
\tpushq %rcx
\tpushq %rax
${pushRegs()}
\tUNWIND_HINT_REGS
\txorl %ebp, %ebp
\tmovq %rsp, %rdi
\tcall do_syscall_64
SYM_INNER_LABEL(syscall_return_to_user)
${popRegs()}
\taddq $8, %rsp
\tUNWIND_HINT_IRET_REGS
\tmovq (%rsp), %rcx
\tmovq 16(%rsp), %r11
\tmovq 24(%rsp), %rsp
\tUNWIND_HINT_END_OF_STACK
\tswapgs
\tsysretq
SYM_CODE_END(entry_SYSCALL_64)

.entry ret_from_fork_asm
SYM_CODE_START(ret_from_fork_asm)
\t/* A new task's first instruction (copy_thread): nothing of the kernel lies below; the
\t   pt_regs above are the user's, or a kthread's zeroed ones. */
\tUNWIND_HINT_END_OF_STACK
\tmovq %rax, %rdi
\tmovq %rsp, %rsi
\tmovq %rbx, %rdx
\tmovq %r12, %rcx
\tcall ret_from_fork
\tUNWIND_HINT_REGS
\tjmp syscall_return_to_user
SYM_CODE_END(ret_from_fork_asm)

SYM_FUNC_START(ret_from_fork)
\tpushq %rbp
\tmovq %rsp, %rbp
\tpushq %rbx
\tsubq $8, %rsp
\tmovq %rsi, %rbx
\tHOOK schedule_tail
\ttestq %rdx, %rdx
\tjz ret_from_fork_user
\tmovq %rcx, %rdi
\tCALL_NOSPEC rdx
\tmovq $0, PT_RAX(%rbx)
ret_from_fork_user:
\tmovq %rbx, %rdi
\tHOOK syscall_exit_to_user_mode
\taddq $8, %rsp
\tpopq %rbx
\tpopq %rbp
\tret
SYM_FUNC_END(ret_from_fork)

SYM_FUNC_START(do_syscall_64)
\tpushq %rbp
\tmovq %rsp, %rbp
\tpushq %rbx
\tsubq $8, %rsp
\tmovq %rdi, %rbx
\tsti
\tHOOK syscall_lookup
\tmovq %rbx, %rdi
\tCALL_NOSPEC rax
\tmovq %rax, PT_RAX(%rbx)
\tcli
\taddq $8, %rsp
\tpopq %rbx
\tpopq %rbp
\tret
SYM_FUNC_END(do_syscall_64)

${cfn('schedule', '\tHOOK preempt_disable\n\tcall __schedule\n\tHOOK preempt_enable')}
${cfn('__schedule', '\tcli\n\tmovq PER_CPU_VAR(current_task), %rdi\n\tmovq %rdi, %rsi\n\tcall __switch_to_asm\n\tsti', { notrace: true, saveRbx: true })}
SYM_FUNC_START(__switch_to_asm)
\tpushq %rbp
\tpushq %rbx
\tpushq %r12
\tpushq %r13
\tpushq %r14
\tpushq %r15
\tmovq %rsp, TASK_threadsp(%rdi)
\tHOOK switch_out
\tmovq TASK_threadsp(%rsi), %rsp
\tpopq %r15
\tpopq %r14
\tpopq %r13
\tpopq %r12
\tpopq %rbx
\tpopq %rbp
\tjmp __switch_to
SYM_FUNC_END(__switch_to_asm)
${cfn('__switch_to', '\tBODY 1', { notrace: true })}
${cfn('preempt_schedule_irq', '\tHOOK preempt_disable\n\tcall __schedule\n\tHOOK preempt_enable', { notrace: true })}

${idtentry('asm_common_interrupt', 'common_interrupt')}
SYM_FUNC_START(common_interrupt)
\tpushq %rbp
\tmovq %rsp, %rbp
\tpushq %rbx
\tsubq $8, %rsp
\tmovq %rdi, %rbx
\t/* run_irq_on_irqstack_cond() -> call_on_irq_stack(): inline asm (asm/irq_stack.h), no frame of
\t   its own. The interrupted rsp goes in the IRQ stack's top word (next_sp), then rsp moves there. */
\tmovq PER_CPU_VAR(hardirq_stack_ptr), %r11
\tmovq %rsp, (%r11)
\tmovq %r11, %rsp
\tmovq %rbx, %rdi
\tcall __common_interrupt
\tpopq %rsp
\tmovq %rbx, %rdi
\tcall irqentry_exit
\taddq $8, %rsp
\tpopq %rbx
\tpopq %rbp
\tret
SYM_FUNC_END(common_interrupt)

${cfn('__common_interrupt', '\tBODY 2\n\tHOOK irq_walk_point\n\tBODY 1', { notrace: true })}
SYM_FUNC_START(irqentry_exit)
\tpushq %rbp
\tmovq %rsp, %rbp
\tHOOK need_resched
\ttestq %rax, %rax
\tjz irqentry_exit_done
\tcall preempt_schedule_irq
irqentry_exit_done:
\tpopq %rbp
\tret
SYM_FUNC_END(irqentry_exit)

${NMI_ENTRY}
${cfn('exc_nmi', '\tcall default_do_nmi', { notrace: true })}
${cfn('default_do_nmi', '\tBODY 1\n\tHOOK nmi_walk_point\n\tBODY 1', { notrace: true })}

${idtentry('asm_exc_int3', 'exc_int3')}
${cfn('exc_int3', '\tcall kprobe_int3_handler', { notrace: true })}
${idtentry('asm_exc_page_fault', 'exc_page_fault')}
${cfn('exc_page_fault', '\tcall handle_page_fault', { notrace: true })}
${cfn('handle_page_fault', '\tcall do_user_addr_fault', { notrace: true })}
${cfn('do_user_addr_fault', '\tBODY 1\n\tHOOK fault_walk_point\n\tcall schedule\n\tBODY 1', { notrace: true })}
${cfn('kprobe_int3_handler', '\tHOOK kprobe_pre_handler', { notrace: true })}

.kind ftrace_caller ftrace-trampoline
STACK_FRAME_NON_STANDARD_FP(ftrace_caller)
SYM_FUNC_START(ftrace_caller)
\t/* save_mcount_regs: a frame for the traced function's parent, then one for the traced function */
\tpushq %rbp
\tpushq 16(%rsp)
\tpushq %rbp
\tmovq %rsp, %rbp
\tpushq 24(%rsp)
\tpushq %rbp
\tmovq %rsp, %rbp
\tsubq $40, %rsp
\tmovq %rax, (%rsp)
\tmovq %rcx, 8(%rsp)
\tmovq %rdx, 16(%rsp)
\tmovq %rsi, 24(%rsp)
\tmovq %rdi, 32(%rsp)
\t/* ftrace_graph_func -> prepare_ftrace_return(ip, parent, frame_pointer) */
\tleaq 48(%rbp), %rdi
\tmovq 8(%rbp), %rsi
\tsubq $MCOUNT_INSN_SIZE, %rsi
\tcall prepare_ftrace_return
\tmovq 32(%rsp), %rdi
\tmovq 24(%rsp), %rsi
\tmovq 16(%rsp), %rdx
\tmovq 8(%rsp), %rcx
\tmovq (%rsp), %rax
\taddq $40, %rsp
\tpopq %rbp
\taddq $24, %rsp
\tpopq %rbp
\tret
SYM_FUNC_END(ftrace_caller)
${cfn('prepare_ftrace_return', '\tHOOK preempt_disable\n\tHOOK prepare_ftrace_return\n\tHOOK preempt_enable', { notrace: true })}

.kind return_to_handler return-trampoline
${RETURN_TO_HANDLER_FTRACE_REGS}

SYM_FUNC_START(ftrace_return_to_handler)
\tpushq %rbp
\tmovq %rsp, %rbp
\tpushq %rbx
\tsubq $8, %rsp
\tHOOK ftrace_return_to_handler
\tmovq %rbx, (%rsp)
\tmovq (%rsp), %rax
\taddq $8, %rsp
\tpopq %rbx
\tpopq %rbp
\tret
SYM_FUNC_END(ftrace_return_to_handler)

.kind arch_rethook_trampoline return-trampoline
STACK_FRAME_NON_STANDARD_FP(arch_rethook_trampoline)
SYM_FUNC_START(arch_rethook_trampoline)
\t/* Entered by the RET of a function whose return address rethook replaced: that slot is just
\t   below rsp. It gets the trampoline's own address back, as a marker for the unwinder. */
\tpushq $arch_rethook_trampoline
\tUNWIND_HINT_FUNC
\t/* pt_regs: sp (fixed up by the callback), flags, then cs / ip / orig_ax skipped, then the GPRs */
\tpushq %rsp
\tpushfq
\tsubq $24, %rsp
${pushRegs()}
\tmovq %rsp, %rdi
\tcall arch_rethook_trampoline_callback
${popRegs()}
\taddq $24, %rsp
\t/* the callback copied flags into the sp slot: skip the flags slot, pop flags from the sp slot */
\taddq $8, %rsp
\tpopfq
\tret
SYM_FUNC_END(arch_rethook_trampoline)
${cfn('arch_rethook_trampoline_callback', '\tmovq %rdi, %rbx\n\tHOOK arch_rethook_fixup_regs\n\tcall rethook_trampoline_handler\n\tHOOK arch_rethook_flags_to_sp', { notrace: true, saveRbx: true })}
${cfn('rethook_trampoline_handler', '\tmovq %rdi, %rbx\n\tHOOK preempt_disable\n\tHOOK rethook_find_correct_ret\n\tBODY 1\n\tHOOK arch_rethook_fixup_return\n\tHOOK preempt_enable', { notrace: true, saveRbx: true })}
${cfn('optimized_callback', '\tHOOK optprobe_callback\n\tBODY 1', { notrace: true })}
`;
}

export interface WorkloadSource {
  /** Kernel text for this workload. */
  kernel: string;
  module?: string;
  bpf?: string;
  efi?: string;
  /** The sys_* function the syscall dispatches to (user tasks), or the kthread function. */
  sys?: string;
  kthread?: boolean;
  /** Whether the task ends blocked in schedule() when nothing interrupts it. */
  blocks: boolean;
}

const SLEEP = `${cfn('sys_sleep', '\tcall do_nanosleep')}
${cfn('do_nanosleep', '\tBODY 2\n\tcall schedule\n\tBODY 1')}`;

export const BPF_PROG = 'bpf_prog_6deef7357e7b4530';

export function workloadSource(w: Workload): WorkloadSource {
  if (isGenerated(w)) return x86_64Source(programOf(w));
  switch (w) {
    case 'syscall-sleep':
      return { kernel: SLEEP, sys: 'sys_sleep', blocks: true };
    case 'kthread-sleep':
      return {
        kernel: `${cfn('kthread', '\tBODY 2\n\tmovq $worker_thread, %rax\n\tCALL_NOSPEC rax', { saveRbx: true })}
${cfn('worker_thread', '\tBODY 2\n\tcall schedule\n\tBODY 1')}`,
        kthread: true,
        blocks: true,
      };
    case 'work-chain':
      return {
        kernel: `${cfn('sys_work', '\tBODY 1\n\tcall work_a\n\tBODY 1')}
${cfn('work_a', '\tBODY 1\n\tcall work_b\n\tBODY 1')}
${cfn('work_b', '\tBODY 1\n\tcall work_c\n\tBODY 1')}
${cfn('work_c', '\tBODY 3')}`,
        sys: 'sys_work',
        blocks: false,
      };
    case 'module-sleep':
      return {
        kernel: `${cfn('sys_modcall', '\tcall mod_fn')}
${cfn('mod_helper_target', '\tBODY 1\n\tcall schedule')}`,
        module: `${cfn('mod_fn', '\tBODY 1\n\tcall __plt_mod_helper_target\n\tBODY 1')}
.kind __plt_mod_helper_target plt
SYM_FUNC_START(__plt_mod_helper_target)
\tmovq $mod_helper_target, %r11
\tjmp *%r11
SYM_FUNC_END(__plt_mod_helper_target)
`,
        sys: 'sys_modcall',
        blocks: true,
      };
    case 'bpf-sleep':
      return {
        kernel: `${cfn('sys_bpf_run', `\tmovq $${BPF_PROG}, %rax\n\tCALL_NOSPEC rax`)}
${cfn('bpf_helper', '\tBODY 1\n\tcall schedule')}`,
        bpf: `SYM_FUNC_START(${BPF_PROG})
\txorl %eax, %eax
\tpushq %rbp
\tmovq %rsp, %rbp
\tsubq $8, %rsp
\tBODY 2
\tcall bpf_helper
\tleave
\tret
SYM_FUNC_END(${BPF_PROG})
`,
        sys: 'sys_bpf_run',
        blocks: true,
      };
    case 'efi-call':
      return {
        kernel: `${cfn('sys_efi', '\tcall efi_call_rts')}
${cfn('efi_call_rts', '\tmovq $efi_get_time, %rax\n\tCALL_NOSPEC rax', { notrace: true, saveRbx: true })}`,
        efi: `SYM_FUNC_START(efi_get_time)
\tsubq $40, %rsp
\tBODY 4
\taddq $40, %rsp
\tret
SYM_FUNC_END(efi_get_time)
`,
        sys: 'sys_efi',
        blocks: false,
      };
    case 'nonstandard-sleep':
      return {
        kernel: `${cfn('sys_nonstd', '\tcall nonstd_fn')}
STACK_FRAME_NON_STANDARD(nonstd_fn)
SYM_FUNC_START(nonstd_fn)
\tcall __fentry__
\tpushq %rbx
\tsubq $16, %rsp
\tmovq %rsp, %rbx
\tcall schedule
\taddq $16, %rsp
\tpopq %rbx
\tret
SYM_FUNC_END(nonstd_fn)
`,
        sys: 'sys_nonstd',
        blocks: true,
      };
    case 'fp-violation':
      return {
        kernel: `${cfn('sys_fpviol', '\tcall fpviol_fn')}
SYM_FUNC_START(fpviol_fn)
\tcall __fentry__
\t/* inline asm: call before the frame is set up */
\tcall fpviol_leaf
\tpushq %rbp
\tmovq %rsp, %rbp
\tBODY 1
\tpopq %rbp
\tret
SYM_FUNC_END(fpviol_fn)
${cfn('fpviol_leaf', '\tBODY 1\n\tcall schedule')}`,
        sys: 'sys_fpviol',
        blocks: true,
      };
    case 'tail-call':
      return {
        kernel: `${cfn('sys_tail', '\tcall tail_a\n\tBODY 1')}
SYM_FUNC_START(tail_a)
\tcall __fentry__
\tpushq %rbp
\tmovq %rsp, %rbp
\tBODY 2
\tpopq %rbp
\tjmp tail_b
SYM_FUNC_END(tail_a)
${cfn('tail_b', '\tBODY 1\n\tcall schedule')}`,
        sys: 'sys_tail',
        blocks: true,
      };
    case 'unreachable-code':
      return {
        kernel: `${cfn('sys_unreach', '\tBODY 1\n\tcall schedule')}
SYM_CODE_START(orphan_stub)
\tpushq %rbp
\tmovq %rsp, %rbp
\tBODY 1
\tpopq %rbp
\tret
SYM_CODE_END(orphan_stub)
`,
        sys: 'sys_unreach',
        blocks: true,
      };
    case 'regs-copy-sleep':
      return regsCopy();
    case 'hint-undefined':
      return {
        kernel: `${cfn('sys_hintundef', '\tcall hint_undef_code')}
SYM_CODE_START(hint_undef_code)
\tUNWIND_HINT_FUNC
\tpushq %rbp
\tmovq %rsp, %rbp
\tBODY 1
\tUNWIND_HINT_UNDEFINED
\tBODY 1
\tcall schedule
\tBODY 1
\tleave
\tUNWIND_HINT_FUNC
\tret
SYM_CODE_END(hint_undef_code)
`,
        sys: 'sys_hintundef',
        blocks: true,
      };
    default:
      throw new Error(`x86_64 has no workload ${w}`);
  }
}

/** regscopy_fn keeps a local struct pt_regs right under its frame (rbp - this). */
export const REGS_COPY_OFFSET = X86_64_ABI.PT_REGS_SIZE;

/** A function with an on-stack struct pt_regs (a copy of the task's registers, as a core dump takes one). */
function regsCopy(): WorkloadSource {
  return {
    kernel: `${cfn('sys_regscopy', '\tBODY 1\n\tcall regscopy_fn\n\tBODY 1')}
${cfn('regscopy_fn', `\tsubq $${REGS_COPY_OFFSET}, %rsp\n\tBODY 1\n\tcall schedule\n\tBODY 1\n\taddq $${REGS_COPY_OFFSET}, %rsp`)}`,
    sys: 'sys_regscopy',
    blocks: true,
  };
}
