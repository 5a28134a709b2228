/**
 * The simulated arm64 kernel image: memory map and kernel code in arm64 assembly, built with the
 * assembler. Structure follows arch/arm64/kernel/entry.S, entry-common.c, entry-ftrace.S,
 * probes/kprobes_trampoline.S and process.c/cpu_switch_to, reduced to what unwinding depends on.
 */
import type { WorkloadCode } from '../workload-code';
import { instrumentEntries } from '../instrument';
import { ARM64_ABI as A } from '../../isa/arm64/abi';
import { assemble, type AsmUnit, type Program } from '../../isa/arm64/assembler';
import type { Instrumentation, Workload } from '../../scene/types';
import { arm64Code } from '../../generate/emit';
import { isGenerated, programOf } from '../../generate/registry';

/**
 * Memory map. Bases are internal numbers (src/machine/addr.ts): 0x8000_8001_0000 is the kernel
 * virtual address 0xffff8000_80010000, in the vmalloc area where arm64 places the image and task
 * stacks; modules, BPF and trampolines sit in the module area just below it. EFI runtime code is
 * mapped at a low (user-range) address, as efi_mm does.
 */
export const MAP = {
  ktext: { name: 'kernel-text', kind: 'kernel-text', base: 0x800080010000, size: 0x10000 },
  modtext: { name: 'module-text', kind: 'module-text', base: 0x80007a000000, size: 0x1000 },
  bpf: { name: 'bpf-jit', kind: 'bpf-jit', base: 0x80007c000000, size: 0x1000 },
  tramp: { name: 'trampoline-text', kind: 'trampoline-text', base: 0x80007e000000, size: 0x1000 },
  efi: { name: 'efi-runtime', kind: 'foreign-text', base: 0x00001f000000, size: 0x1000 },
  task: { name: 'task-stack-100', kind: 'task-stack', base: 0x800080080000, size: A.THREAD_SIZE, owner: '100' },
  other: { name: 'task-stack-200', kind: 'task-stack', base: 0x800080090000, size: A.THREAD_SIZE, owner: '200' },
  irq: { name: 'irq-stack-cpu0', kind: 'irq-stack', base: 0x8000800a0000, size: A.IRQ_STACK_SIZE, owner: '0' },
  overflow: { name: 'overflow-stack-cpu0', kind: 'overflow-stack', base: 0x8000800b0000, size: A.OVERFLOW_STACK_SIZE, owner: '0' },
  sdeiNormal: { name: 'sdei-normal-stack-cpu0', kind: 'sdei-stack', base: 0x8000800d0000, size: A.SDEI_STACK_SIZE, owner: '0' },
  sdeiCritical: { name: 'sdei-critical-stack-cpu0', kind: 'sdei-stack', base: 0x8000800e0000, size: A.SDEI_STACK_SIZE, owner: '0' },
  data: { name: 'kernel-data', kind: 'data', base: 0x8000800c0000, size: 0x1000 },
} as const;

/** Saved cpu_context (x19..x28, fp, sp, pc) of the current task and of the other task. */
export const CPU_CONTEXT = MAP.data.base + 0x100;
export const OTHER_CPU_CONTEXT = MAP.data.base + 0x200;
export const TASK_PT_REGS = MAP.task.base + MAP.task.size - A.PT_REGS_SIZE;
export const OTHER_PT_REGS = MAP.other.base + MAP.other.size - A.PT_REGS_SIZE;
export const USER_PC = 0x400100;
export const USER_SP = 0x7ffffff0;

/** ftrace_regs layout used by ftrace_caller / return_to_handler. */
export const FREGS = { FP: 80, LR: 88, SP: 96, PC: 104, SIZE: 112 } as const;

const lines = (...ls: (string | string[])[]): string => ls.flat().join('\n');

/** A C-like function: prologue, body, epilogue. `frame` is the size of the frame (record at SP+0). */
export function cfunc(name: string, body: string[], frame = 16): string {
  return lines(
    `SYM_FUNC_START(${name})`,
    `  STP X29, X30, [SP, #-${frame}]!`,
    '  MOV X29, SP',
    body.map((l) => '  ' + l),
    `  LDP X29, X30, [SP], #${frame}`,
    '  RET',
    `SYM_FUNC_END(${name})`,
  );
}

const saveRegs = (upTo: number): string[] => {
  const out: string[] = [];
  for (let r = 0; r + 1 <= upTo; r += 2) out.push(`STP X${r}, X${r + 1}, [SP, #${r * 8}]`);
  return out;
};
const restoreRegs = (upTo: number): string[] => {
  const out: string[] = [];
  for (let r = 0; r + 1 <= upTo; r += 2) out.push(`LDP X${r}, X${r + 1}, [SP, #${r * 8}]`);
  return out;
};

/**
 * kernel_entry for an exception from EL1 (arm64 v6.13+): pt_regs on the current stack, and
 * pt_regs->stackframe a zeroed record {0, 0} whose meta type PT_REGS marks the exception
 * boundary; x29 then points at it, so the handler's frames chain onto the boundary. (Before
 * v6.13 the record held the interrupted {x29, pc} and chained on like any other.)
 */
function kernelEntryEl1(): string[] {
  return [
    `SUB SP, SP, #${A.PT_REGS_SIZE}`,
    ...saveRegs(29),
    `STR X30, [SP, #${A.S_LR}]`,
    `ADD X21, SP, #${A.PT_REGS_SIZE}`,
    `STR X21, [SP, #${A.S_SP}]`,
    'MRS X22, ELR_EL1',
    'MRS X23, SPSR_EL1',
    `STP X22, X23, [SP, #${A.S_PC}]`,
    `STP XZR, XZR, [SP, #${A.S_STACKFRAME}]`,
    `MOV X24, #${A.FRAME_META_TYPE_PT_REGS}`,
    `STR X24, [SP, #${A.S_STACKFRAME_TYPE}]`,
    `ADD X29, SP, #${A.S_STACKFRAME}`,
  ];
}

function kernelExit(el0: boolean): string[] {
  return [
    `LDP X22, X23, [SP, #${A.S_PC}]`,
    'MSR ELR_EL1, X22',
    'MSR SPSR_EL1, X23',
    ...(el0 ? [`LDR X21, [SP, #${A.S_SP}]`, 'MSR SP_EL0, X21'] : []),
    ...restoreRegs(29),
    `LDR X30, [SP, #${A.S_LR}]`,
    `ADD SP, SP, #${A.PT_REGS_SIZE}`,
    'ERET',
  ];
}

/** Code common to every image: entry, syscall dispatch, scheduler, IRQ/NMI, ftrace, kprobes. */
function coreText(kthreadFn = 'worker_thread'): string {
  return lines(
    '// ---- EL0 synchronous exception (SVC) entry: pt_regs with the FINAL frame record ----',
    'SYM_CODE_START(el0t_64_sync)',
    '  UNWIND_HINT_UNDEFINED',
    `  SUB SP, SP, #${A.PT_REGS_SIZE}`,
    saveRegs(29).map((l) => '  ' + l),
    `  STR X30, [SP, #${A.S_LR}]`,
    '  MRS X21, SP_EL0',
    `  STR X21, [SP, #${A.S_SP}]`,
    '  MRS X22, ELR_EL1',
    '  MRS X23, SPSR_EL1',
    `  STP X22, X23, [SP, #${A.S_PC}]`,
    `  STP XZR, XZR, [SP, #${A.S_STACKFRAME}]`,
    `  MOV X24, #${A.FRAME_META_TYPE_FINAL}`,
    `  STR X24, [SP, #${A.S_STACKFRAME_TYPE}]`,
    `  ADD X29, SP, #${A.S_STACKFRAME}`,
    '  UNWIND_HINT_END_OF_STACK',
    '  MOV X0, SP',
    '  BL <el0t_64_sync_handler>',
    '  B <ret_to_user>',
    'SYM_CODE_END(el0t_64_sync)',
    'SYM_ENTRY_POINT(el0t_64_sync)',
    '',
    'SYM_CODE_START(ret_to_user)',
    '  MSR DAIFSET, #2',
    kernelExit(true).map((l) => '  ' + l),
    'SYM_CODE_END(ret_to_user)',
    '',
    cfunc('el0t_64_sync_handler', ['MSR DAIFCLR, #2', 'BL <invoke_syscall>', 'MSR DAIFSET, #2']),
    '',
    '// invoke_syscall(regs): the handler address travels in regs->regs[8] (our syscall number)',
    cfunc('invoke_syscall', ['STR X19, [SP, #16]', 'MOV X19, X0', 'LDR X9, [X19, #64]', 'LDR X0, [X19, #0]', 'BLR X9', 'STR X0, [X19, #0]', 'LDR X19, [SP, #16]'], 32),
    '',
    '// ---- kernel threads ----',
    'SYM_CODE_START(ret_from_fork)',
    '  UNWIND_HINT_END_OF_STACK',
    '  BL <schedule_tail>',
    '  CBZ X19, .Lret_from_fork_user',
    '  MOV X0, X20',
    '  BLR X19',
    '.Lret_from_fork_user:',
    `  MOV X9, #${TASK_PT_REGS}`,
    '  MOV SP, X9',
    '  B <ret_to_user>',
    'SYM_CODE_END(ret_from_fork)',
    'SYM_ENTRY_POINT(ret_from_fork)',
    cfunc('schedule_tail', ['BODY 1']),
    cfunc('kthread', ['BODY 1', `ADR X9, <${kthreadFn}>`, 'BLR X9']),
    'SYM_FUNC_START(worker_thread)',
    '  STP X29, X30, [SP, #-16]!',
    '  MOV X29, SP',
    '.Lworker_loop:',
    '  BODY 1',
    '  BL <schedule>',
    '  B .Lworker_loop',
    'SYM_FUNC_END(worker_thread)',
    '',
    '// ---- scheduler ----',
    '// schedule() -> __schedule_loop(): preemption is off across __schedule()',
    cfunc('schedule', ['BODY 1', 'PREEMPT_DISABLE', 'BL <__schedule>', 'PREEMPT_ENABLE']),
    cfunc('__schedule', ['STP X19, X20, [SP, #16]', 'BODY 2', 'MSR DAIFSET, #2', `MOV X0, #${CPU_CONTEXT}`, 'BL <cpu_switch_to>', 'MSR DAIFCLR, #2', 'LDP X19, X20, [SP, #16]'], 32),
    '// cpu_switch_to(prev context): save callee-saved registers, sp and pc (= lr), switch out',
    'SYM_FUNC_START(cpu_switch_to)',
    '  MOV X10, X0',
    '  MOV X9, SP',
    '  STP X19, X20, [X10], #16',
    '  STP X21, X22, [X10], #16',
    '  STP X23, X24, [X10], #16',
    '  STP X25, X26, [X10], #16',
    '  STP X27, X28, [X10], #16',
    '  STP X29, X9, [X10], #16',
    '  STR LR, [X10]',
    '  CPU_SWITCH',
    '  RET',
    'SYM_FUNC_END(cpu_switch_to)',
    cfunc('preempt_schedule_irq', ['PREEMPT_DISABLE', 'BL <__schedule>', 'PREEMPT_ENABLE']),
    '',
    '// ---- exceptions from EL1: IRQ and (pseudo-)NMI ----',
    '// Simplified: a pseudo-NMI arrives through el1h_64_irq and el1_interrupt() tells it apart; a',
    '// separate vector here leaves the same pt_regs and frame records, with a name of its own.',
    'SYM_CODE_START(el1h_64_irq)',
    '  UNWIND_HINT_UNDEFINED',
    kernelEntryEl1().map((l) => '  ' + l),
    '  UNWIND_HINT_REGS',
    '  MOV X0, SP',
    '  BL <el1h_64_irq_handler>',
    kernelExit(false).map((l) => '  ' + l),
    'SYM_CODE_END(el1h_64_irq)',
    'SYM_CODE_START(el1h_64_nmi)',
    '  UNWIND_HINT_UNDEFINED',
    kernelEntryEl1().map((l) => '  ' + l),
    '  UNWIND_HINT_REGS',
    '  MOV X0, SP',
    '  BL <el1h_64_nmi_handler>',
    kernelExit(false).map((l) => '  ' + l),
    'SYM_CODE_END(el1h_64_nmi)',
    'SYM_FUNC_START(el1h_64_irq_handler)',
    '  STP X29, X30, [SP, #-16]!',
    '  MOV X29, SP',
    '  ADR X1, <gic_handle_irq>',
    '  BL <call_on_irq_stack>',
    '  NEED_RESCHED X0',
    '  CBZ X0, .Lel1_irq_done',
    '  BL <preempt_schedule_irq>',
    '.Lel1_irq_done:',
    '  LDP X29, X30, [SP], #16',
    '  RET',
    'SYM_FUNC_END(el1h_64_irq_handler)',
    'SYM_FUNC_START(el1h_64_nmi_handler)',
    '  STP X29, X30, [SP, #-16]!',
    '  MOV X29, SP',
    '  ADR X1, <perf_nmi_handler>',
    '  ON_TASK_STACK X9',
    '  CBZ X9, .Lnmi_direct',
    '  BL <call_on_irq_stack>',
    '  B .Lnmi_done',
    '.Lnmi_direct:',
    '  BLR X1',
    '.Lnmi_done:',
    '  LDP X29, X30, [SP], #16',
    '  RET',
    'SYM_FUNC_END(el1h_64_nmi_handler)',
    '// call_on_irq_stack(regs, fn): frame record on the task stack, then run fn on the IRQ stack',
    'SYM_FUNC_START(call_on_irq_stack)',
    '  STP X29, X30, [SP, #-16]!',
    '  MOV X29, SP',
    `  MOV X16, #${MAP.irq.base}`,
    `  ADD SP, X16, #${MAP.irq.size}`,
    '  BLR X1',
    '  MOV SP, X29',
    '  LDP X29, X30, [SP], #16',
    '  RET',
    'SYM_FUNC_END(call_on_irq_stack)',
    cfunc('gic_handle_irq', ['BODY 1', 'BL <handle_timer_irq>']),
    cfunc('handle_timer_irq', ['BODY 1', 'WALK_POINT irq', 'BODY 1']),
    cfunc('perf_nmi_handler', ['BODY 1', 'WALK_POINT nmi', 'BODY 1']),
    '',
    '// ---- ftrace (DYNAMIC_FTRACE_WITH_ARGS): call sites are MOV X9, X30 / BL <ftrace_caller> ----',
    'SYM_CODE_START(ftrace_caller)',
    '  UNWIND_HINT_UNDEFINED',
    '  MOV X10, SP',
    `  SUB SP, SP, #${FREGS.SIZE + 32}`,
    saveRegs(7).map((l) => '  ' + l),
    '  STR X8, [SP, #64]',
    `  STR X29, [SP, #${FREGS.FP}]`,
    `  STR X9, [SP, #${FREGS.LR}]`,
    `  STR X10, [SP, #${FREGS.SP}]`,
    `  STR X30, [SP, #${FREGS.PC}]`,
    `  STP X29, X9, [SP, #${FREGS.SIZE + 16}]`,
    `  ADD X29, SP, #${FREGS.SIZE + 16}`,
    `  STP X29, X30, [SP, #${FREGS.SIZE}]`,
    `  ADD X29, SP, #${FREGS.SIZE}`,
    '  SUB X0, X30, #4',
    '  MOV X1, X9',
    '  MOV X2, SP',
    '  BL <ftrace_graph_func>',
    restoreRegs(7).map((l) => '  ' + l),
    '  LDR X8, [SP, #64]',
    `  LDR X29, [SP, #${FREGS.FP}]`,
    `  LDR X10, [SP, #${FREGS.SP}]`,
    `  LDR X9, [SP, #${FREGS.PC}]`,
    `  LDR X30, [SP, #${FREGS.LR}]`,
    '  MOV SP, X10',
    '  RET X9',
    'SYM_CODE_END(ftrace_caller)',
    'SYM_KIND(ftrace_caller, ftrace-trampoline)',
    '// ftrace_graph_func(ip, parent_ip, fregs): prepare_ftrace_return(ip, &fregs->lr, fregs->fp)',
    cfunc('ftrace_graph_func', ['PREEMPT_DISABLE', 'FGRAPH_PREPARE X0, X2', 'PREEMPT_ENABLE']),
    'SYM_CODE_START(return_to_handler)',
    '  UNWIND_HINT_UNDEFINED',
    `  SUB SP, SP, #${FREGS.SIZE}`,
    saveRegs(7).map((l) => '  ' + l),
    `  STR X29, [SP, #${FREGS.FP}]`,
    '  MOV X0, SP',
    '  BL <ftrace_return_to_handler>',
    '  MOV X30, X0',
    restoreRegs(7).map((l) => '  ' + l),
    `  ADD SP, SP, #${FREGS.SIZE}`,
    '  RET',
    'SYM_CODE_END(return_to_handler)',
    'SYM_KIND(return_to_handler, return-trampoline)',
    cfunc('ftrace_return_to_handler', ['FGRAPH_RETURN X0']),
    '',
    '// ---- kretprobes ----',
    'SYM_CODE_START(__kretprobe_trampoline)',
    '  UNWIND_HINT_UNDEFINED',
    `  SUB SP, SP, #${A.PT_REGS_SIZE}`,
    saveRegs(29).map((l) => '  ' + l),
    `  STR X30, [SP, #${A.S_LR}]`,
    `  ADD X29, SP, #${A.S_FP}`,
    '  MOV X0, SP',
    '  BL <trampoline_probe_handler>',
    '  MOV X30, X0',
    restoreRegs(29).map((l) => '  ' + l),
    `  ADD SP, SP, #${A.PT_REGS_SIZE}`,
    '  RET',
    'SYM_CODE_END(__kretprobe_trampoline)',
    'SYM_KIND(__kretprobe_trampoline, return-trampoline)',
    // __kretprobe_trampoline_handler(): find the real return address, run the return handlers of this
    // frame's instances (each told that address first), then unlink them and return it.
    cfunc('trampoline_probe_handler', ['PREEMPT_DISABLE', 'KRETPROBE_HANDLERS', 'BL <kretprobe_return_handler>', 'KRETPROBE_RETURN X0', 'PREEMPT_ENABLE']),
    cfunc('kretprobe_return_handler', ['BODY 1', 'WALK_POINT kretprobe', 'BODY 1']),
  );
}

/**
 * Synchronous exceptions from EL1 (entry.S el1h_64_sync, entry-common.c el1h_64_sync_handler): two classes
 * are modelled, a kprobe's breakpoint (el1_brk64 -> do_el1_brk64 -> the kprobes BRK hook) and a data
 * abort (el1_abort -> do_mem_abort -> do_page_fault, which may sleep). The handlers run on the task
 * stack, below the pt_regs kernel_entry builds there.
 */
function syncExceptionText(): string {
  return lines(
    'SYM_CODE_START(el1h_64_sync)',
    '  UNWIND_HINT_UNDEFINED',
    kernelEntryEl1().map((l) => '  ' + l),
    '  UNWIND_HINT_REGS',
    '  MOV X0, SP',
    '  BL <el1h_64_sync_handler>',
    kernelExit(false).map((l) => '  ' + l),
    'SYM_CODE_END(el1h_64_sync)',
    'SYM_FUNC_START(el1h_64_sync_handler)',
    '  STP X29, X30, [SP, #-16]!',
    '  MOV X29, SP',
    '  SYNC_CLASS X1',
    '  CBZ X1, .Lel1_sync_brk',
    '  BL <el1_abort>',
    '  B .Lel1_sync_done',
    '.Lel1_sync_brk:',
    '  BL <el1_brk64>',
    '.Lel1_sync_done:',
    '  LDP X29, X30, [SP], #16',
    '  RET',
    'SYM_FUNC_END(el1h_64_sync_handler)',
    cfunc('el1_brk64', ['BL <do_el1_brk64>']),
    cfunc('do_el1_brk64', ['BL <kprobe_brk_handler>']),
    cfunc('kprobe_brk_handler', ['BODY 1', 'WALK_POINT brk', 'BODY 1']),
    '// a kernel-mode fault on a user address: the handler may sleep (waiting for the page)',
    cfunc('el1_abort', ['BL <do_mem_abort>']),
    cfunc('do_mem_abort', ['BL <do_page_fault>']),
    cfunc('do_page_fault', ['BODY 1', 'WALK_POINT page-fault', 'BL <schedule>', 'BODY 1']),
  );
}

/** The spec's arm64 examples, verbatim (reliable-stacktrace.rst 3.6). */
export const SPEC_FUNCTION = `function:
        STP X29, X30, [SP, -16]!
        MOV X29, SP
        BL <other_function>
        LDP X29, X30, [SP], #16
        RET`;

export const SPEC_CALLER = `caller:
        STP X29, X30, [SP, -16]!
        MOV X29, SP
        ADR LR, <callee>
        BLR LR
        LDP X29, X30, [SP], #16
        RET`;

/** The spec's DYNAMIC_FTRACE_WITH_REGS call site (3.5), verbatim. */
export const SPEC_FTRACE_CALLSITE = `MOV X9, X30
BL <trampoline>`;

export type { WorkloadCode };

export const BPF_PROG = 'bpf_prog_6deef7357e7b4530';

const leaf = (name: string, n = 2): string => lines(`SYM_FUNC_START(${name})`, `  BODY ${n}`, '  RET', `SYM_FUNC_END(${name})`);

export function workloadCode(w: Workload): WorkloadCode {
  if (isGenerated(w)) return arm64Code(programOf(w));
  switch (w) {
    case 'syscall-sleep':
      return { syscall: 'sys_sleep', kernel: lines(cfunc('sys_sleep', ['BODY 1', 'BL <do_nanosleep>', 'BODY 1']), cfunc('do_nanosleep', ['BODY 1', 'BL <schedule>'])) };
    case 'kthread-sleep':
      return { kthread: true, kernel: '' };
    case 'work-chain':
      return {
        syscall: 'sys_work',
        kernel: lines(
          cfunc('sys_work', ['BODY 1', 'BL <work_a>', 'BODY 1']),
          cfunc('work_a', ['BODY 1', 'BL <work_b>', 'BODY 1']),
          cfunc('work_b', ['BODY 1', 'BL <work_c>', 'BODY 1']),
          leaf('work_c', 3),
        ),
      };
    case 'module-sleep':
      return {
        syscall: 'sys_modcall',
        kernel: lines(cfunc('sys_modcall', ['ADR X9, <mod_fn>', 'BLR X9']), cfunc('mod_helper_target', ['BODY 1', 'BL <schedule>'])),
        module: lines(
          cfunc('mod_fn', ['BODY 1', 'BL <__plt_mod_helper_target>', 'BODY 1']),
          '// module PLT / veneer to a kernel symbol out of BL range',
          'SYM_CODE_START(__plt_mod_helper_target)',
          '  ADR X16, <mod_helper_target>',
          '  BR X16',
          'SYM_CODE_END(__plt_mod_helper_target)',
          'SYM_KIND(__plt_mod_helper_target, plt)',
        ),
      };
    case 'bpf-sleep':
      return {
        syscall: 'sys_bpf_run',
        kernel: lines(cfunc('sys_bpf_run', [`ADR X9, <${BPF_PROG}>`, 'BLR X9']), cfunc('bpf_helper', ['BODY 1', 'BL <schedule>'])),
        bpf: lines(`${BPF_PROG}:`, '  STP X29, X30, [SP, #-16]!', '  MOV X29, SP', '  STP X19, X20, [SP, #-16]!', '  BODY 1', '  ADR X10, <bpf_helper>', '  BLR X10', '  LDP X19, X20, [SP], #16', '  LDP X29, X30, [SP], #16', '  RET'),
      };
    case 'efi-call':
      return {
        syscall: 'sys_efi',
        kernel: lines(
          cfunc('sys_efi', ['BL <efi_call_rts>']),
          cfunc('efi_call_rts', ['ADR X8, <efi_get_time>', 'BL <__efi_rt_asm_wrapper>']),
          cfunc('__efi_rt_asm_wrapper', ['STR X18, [SP, #16]', 'BLR X8', 'LDR X18, [SP, #16]'], 32),
        ),
        efi: lines('efi_get_time:', '  SUB SP, SP, #32', '  STP X19, X20, [SP]', '  BODY 4', '  LDP X19, X20, [SP]', '  ADD SP, SP, #32', '  RET'),
      };
    case 'nonstandard-sleep':
      return {
        syscall: 'sys_nonstd',
        kernel: lines(
          cfunc('sys_nonstd', ['BL <nonstd_fn>']),
          '// saves the frame record but never points X29 at it',
          'SYM_FUNC_START(nonstd_fn)',
          '  SUB SP, SP, #32',
          '  STP X29, X30, [SP, #16]',
          '  BODY 1',
          '  BL <schedule>',
          '  LDP X29, X30, [SP, #16]',
          '  ADD SP, SP, #32',
          '  RET',
          'SYM_FUNC_END(nonstd_fn)',
          'STACK_FRAME_NON_STANDARD(nonstd_fn)',
        ),
      };
    case 'fp-violation':
      return {
        syscall: 'sys_fpviol',
        kernel: lines(
          cfunc('sys_fpviol', ['BL <fpviol_fn>']),
          '// "inline asm" calls fpviol_leaf before the frame record is set up',
          'SYM_FUNC_START(fpviol_fn)',
          '  MOV X10, X30',
          '  BL <fpviol_leaf>',
          '  MOV X30, X10',
          '  STP X29, X30, [SP, #-16]!',
          '  MOV X29, SP',
          '  BODY 1',
          '  LDP X29, X30, [SP], #16',
          '  RET',
          'SYM_FUNC_END(fpviol_fn)',
          cfunc('fpviol_leaf', ['BODY 1', 'BL <schedule>']),
        ),
      };
    case 'spec-function':
      return { syscall: 'sys_specfn', kernel: lines(cfunc('sys_specfn', ['BODY 1', 'BL <function>', 'BODY 1']), SPEC_FUNCTION, leaf('other_function', 2)) };
    case 'spec-caller':
      return { syscall: 'sys_speccaller', kernel: lines(cfunc('sys_speccaller', ['BODY 1', 'BL <caller>', 'BODY 1']), SPEC_CALLER, leaf('callee', 2)) };
    case 'tail-call':
      return {
        syscall: 'sys_tail',
        kernel: lines(
          cfunc('sys_tail', ['BL <tail_a>', 'BODY 1']),
          'SYM_FUNC_START(tail_a)',
          '  STP X29, X30, [SP, #-16]!',
          '  MOV X29, SP',
          '  BODY 1',
          '  LDP X29, X30, [SP], #16',
          '  B <tail_b>',
          'SYM_FUNC_END(tail_a)',
          cfunc('tail_b', ['BODY 1', 'BL <schedule>']),
        ),
      };
    case 'unreachable-code':
      return {
        syscall: 'sys_unreach',
        kernel: lines(
          cfunc('sys_unreach', ['BODY 1', 'BL <schedule>']),
          '// SYM_CODE that nothing jumps to and no hint describes',
          'SYM_CODE_START(orphan_stub)',
          '  BODY 2',
          '  RET',
          'SYM_CODE_END(orphan_stub)',
        ),
      };
    case 'regs-copy-sleep':
      return regsCopy();
    case 'lr-in-gpr':
      return lrInGpr();
    case 'hint-undefined':
      return {
        syscall: 'sys_hintundef',
        kernel: lines(
          cfunc('sys_hintundef', ['BL <hint_undef_code>']),
          'SYM_CODE_START(hint_undef_code)',
          '  UNWIND_HINT_FUNC',
          '  STP X29, X30, [SP, #-16]!',
          '  MOV X29, SP',
          '  BODY 1',
          '  UNWIND_HINT_UNDEFINED',
          '  BODY 1',
          '  BL <schedule>',
          '  BODY 1',
          '  LDP X29, X30, [SP], #16',
          '  UNWIND_HINT_FUNC',
          '  RET',
          'SYM_CODE_END(hint_undef_code)',
        ),
      };
    case 'stale-marker-sleep':
    case 'livepatch-sleep':
      throw new Error(`arm64 builds no workload ${w} (powerpc64 only)`);
  }
}

/** Where regscopy_fn keeps its local struct pt_regs: above its frame record (x29 + this). */
export const REGS_COPY_OFFSET = A.FRAME_RECORD_SIZE;

/** A function with an on-stack struct pt_regs (a copy of the task's registers, as a core dump takes one). */
function regsCopy(): WorkloadCode {
  return {
    syscall: 'sys_regscopy',
    kernel: lines(cfunc('sys_regscopy', ['BODY 1', 'BL <regscopy_fn>', 'BODY 1']), cfunc('regscopy_fn', ['BODY 1', 'BL <schedule>', 'BODY 1'], REGS_COPY_OFFSET + A.PT_REGS_SIZE)),
  };
}

/**
 * Spec 3.3: "during the function body the return address may be held in an arbitrary general purpose
 * register". lrgpr_leaf keeps no frame record, moves its return address to X9 and uses X30 as a
 * scratch register holding a text address (inside lrgpr_table's body), so the LR is stale while the body runs.
 * Its body is written out (BODY would clobber X9).
 */
function lrInGpr(): WorkloadCode {
  return {
    syscall: 'sys_lrgpr',
    kernel: lines(
      cfunc('sys_lrgpr', ['BODY 1', 'BL <lrgpr_fn>', 'BODY 1']),
      cfunc('lrgpr_fn', ['BODY 1', 'BL <lrgpr_leaf>', 'BODY 1', 'BL <schedule>', 'BODY 1']),
      'SYM_FUNC_START(lrgpr_leaf)',
      '  MOV X9, X30',
      '  ADR X30, <lrgpr_table>',
      '  ADD X30, X30, #8',
      '  LDR X10, [X30]',
      '  ADD X10, X10, #1',
      '  MOV X11, X10',
      '  RET X9',
      'SYM_FUNC_END(lrgpr_leaf)',
      cfunc('lrgpr_table', ['BODY 2']),
    ),
  };
}

/** Functions the real kernel never lets ftrace or kprobes patch (noinstr / notrace / NOKPROBE). */
export const NOINSTR: ReadonlySet<string> = new Set([
  'cpu_switch_to',
  '__schedule',
  'el0t_64_sync_handler',
  'el1h_64_irq_handler',
  'el1h_64_nmi_handler',
  'el1h_64_sync_handler',
  'el1_brk64',
  'do_el1_brk64',
  'kprobe_brk_handler',
  'el1_abort',
  'do_mem_abort',
  'call_on_irq_stack',
  'ftrace_graph_func',
  'ftrace_return_to_handler',
  'trampoline_probe_handler',
  'kretprobe_return_handler',
]);


export interface Image {
  workload: Workload;
  code: WorkloadCode;
  prog: Program;
  fgraph: Set<string>;
}

export function buildImage(w: Workload, ins?: Instrumentation): Image {
  const code = workloadCode(w);
  const units: AsmUnit[] = [{ region: MAP.ktext.name, base: MAP.ktext.base, text: lines(coreText(code.kthreadFn), syncExceptionText(), code.kernel) }];
  if (code.module) units.push({ region: MAP.modtext.name, base: MAP.modtext.base, text: code.module, module: 'demo_mod' });
  if (code.bpf) units.push({ region: MAP.bpf.name, base: MAP.bpf.base, text: code.bpf, defaultKind: 'bpf' });
  if (code.efi) units.push({ region: MAP.efi.name, base: MAP.efi.base, text: code.efi, defaultKind: 'foreign' });
  instrumentEntries(units, ins, { ftraceCallsite: ['MOV X9, X30', 'BL <ftrace_caller>'], noinstr: NOINSTR });
  const prog = assemble(units);
  for (const b of prog.blocks) {
    const r = Object.values(MAP).find((m) => m.name === b.region)!;
    if (b.end > r.base + r.size) throw new Error(`${b.region} overflows its region`);
  }
  return { workload: w, code, prog, fgraph: new Set(ins?.fgraph ?? []) };
}
