/**
 * The simulated powerpc64 (Book3S-64, ELFv2, -mprofile-kernel) kernel image: memory map and kernel code
 * in powerpc64 assembly. Structure follows today's arch/powerpc/kernel/interrupt_64.S (system_call_common,
 * interrupt_return), exceptions-64s.S (the common interrupt prolog: back chain, "regs" marker, pt_regs),
 * entry_64.S (_switch, start_kernel_thread), misc_64.S (call_do_irq onto the hardirq stack), irq.c (do_IRQ),
 * trace/ftrace_entry.S (ftrace_caller entered from `mflr r0; bl ftrace_caller`, return_to_handler) and
 * process.c (copy_thread: a kernel thread's initial minimal frame).
 *
 * A C function's frame: `mflr r0; std r0,16(r1)` saves its return address in the CALLER's frame (the LR
 * save slot), then `stdu r1,-N(r1)` makes its own frame whose first word is the back chain.
 */
import type { WorkloadCode as FixedWidthWorkloadCode } from '../workload-code';
import { instrumentEntries } from '../instrument';
import { POWERPC64_ABI as A } from '../../isa/powerpc64/abi';
import { assemble, type AsmUnit, type Program } from '../../isa/powerpc64/assembler';
import type { Instrumentation, Workload } from '../../scene/types';
import { isGenerated, programOf } from '../../generate/registry';
import { powerpc64Code } from '../../generate/emit-powerpc64';

/**
 * Memory map (internal numbers, src/machine/addr.ts: the suite's canonical form; ppc64's 0xc000... linear
 * map keeps its layout here, not its top bits): kernel text, module / BPF text, stacks, the PACA and task data.
 */
export const MAP = {
  ktext: { name: 'kernel-text', kind: 'kernel-text', base: 0xc00000010000, size: 0x10000 },
  modtext: { name: 'module-text', kind: 'module-text', base: 0xc00801000000, size: 0x1000 },
  bpf: { name: 'bpf-jit', kind: 'bpf-jit', base: 0xc00802000000, size: 0x1000 },
  task: { name: 'task-stack-100', kind: 'task-stack', base: 0xc00100080000, size: A.THREAD_SIZE, owner: '100' },
  other: { name: 'task-stack-200', kind: 'task-stack', base: 0xc00100090000, size: A.THREAD_SIZE, owner: '200' },
  irq: { name: 'hardirq-stack-cpu0', kind: 'irq-stack', base: 0xc001000a0000, size: A.IRQ_STACK_SIZE, owner: '0' },
  softirq: { name: 'softirq-stack-cpu0', kind: 'irq-stack', base: 0xc001000b0000, size: A.IRQ_STACK_SIZE, owner: '0' },
  nmi: { name: 'nmi-emergency-stack-cpu0', kind: 'nmi-stack', base: 0xc001000d0000, size: A.IRQ_STACK_SIZE, owner: '0' },
  data: { name: 'kernel-data', kind: 'data', base: 0xc00000400000, size: 0x1000 },
  efi: { name: 'firmware-runtime', kind: 'foreign-text', base: 0x00001f000000, size: 0x1000 },
} as const;

/** The PACA (r13 in the kernel): PACAKSAVE (kernel sp for entry from user space), the EX scratch area. */
export const PACA = MAP.data.base;
export const PACAKSAVE = 0x0;
export const PACA_THREAD_INFO = 0x8;
export const PACA_EX = 0x10;
/** task_struct: thread.ksp (the saved r1 of a switched-out task). */
export const TASK = MAP.data.base + 0x100;
export const OTHER_TASK = MAP.data.base + 0x300;
export const THREAD_KSP = 0x0;
/** thread_info->livepatch_sp (THREAD_INFO_IN_TASK: thread_info at the start of task_struct). */
export const TI_LIVEPATCH_SP = 0x20;
/** What an NMI (system reset) interrupted: pc, msr, r1, kept for system_reset_common. */
export const NMI_INTERRUPTED = MAP.data.base + 0x600;
export const TASK_TOP = MAP.task.base + MAP.task.size;
/** Where the walk must end (arch_stack_walk_reliable's stack_end, after c5cc3ca707bc): user task / kernel thread. */
export const USER_STACK_END = TASK_TOP - A.STACK_USER_INT_FRAME_SIZE;
export const KTHREAD_STACK_END = TASK_TOP - A.STACK_FRAME_MIN_SIZE;
export const USER_PC = 0x10000100;
export const USER_SP = 0x7fffff00;
export const MSR_KERNEL = A.MSR_RI;
export const MSR_USER = A.MSR_PR | A.MSR_EE | A.MSR_RI;

/** Offsets of an interrupt frame's pt_regs fields from r1. */
const R = (off: number): number => A.STACK_INT_FRAME_REGS + off;

const lines = (...ls: (string | string[])[]): string => ls.flat().join('\n');
const ind = (ls: string[]): string[] => ls.map((l) => '  ' + l);

/** The ELFv2 prologue of a C function with a frame of `frame` bytes: LR into the caller's frame, then stdu. */
export const prologue = (frame = 32): string[] => ['mflr r0', 'std r0, 16(r1)', `stdu r1, -${frame}(r1)`];
export const epilogue = (frame = 32): string[] => [`addi r1, r1, ${frame}`, 'ld r0, 16(r1)', 'mtlr r0', 'blr'];

/** A compiled C function: prologue, body, epilogue. */
export function cfunc(name: string, body: string[], frame = 32): string {
  return lines(`SYM_FUNC_START(${name})`, ind(prologue(frame)), ind(body), ind(epilogue(frame)), `SYM_FUNC_END(${name})`);
}

const irqsOn = ['li r9, ' + (A.MSR_EE | A.MSR_RI), 'mtmsrd r9, 1'];
const irqsOff = ['li r9, ' + A.MSR_RI, 'mtmsrd r9, 1'];

/** GPRs an interrupt frame saves directly (r1, r9..r13 are saved by the prolog's own sequence). */
const DIRECT = [0, 2, 3, 4, 5, 6, 7, 8, ...Array.from({ length: 18 }, (_, k) => 14 + k)];
const RESTORE = [0, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, ...Array.from({ length: 18 }, (_, k) => 14 + k)];

/**
 * The common interrupt prolog (EXCEPTION_PROLOG + INT_COMMON): scratch registers into the PACA, a frame
 * of STACK_INT_FRAME_SIZE below the interrupted r1 (past the red zone), or at PACAKSAVE from user space,
 * the back chain, pt_regs, the "regs" marker; then the C handler is called with r3 = regs: `syscall`'s
 * (system_call_common: trap 0xc00, `bl system_call_exception`), or the one TRAP_CLASS names by vector.
 */
function interruptEntry(name: string, syscall?: { trap: number; handler: string }): string {
  return lines(
    `SYM_CODE_START(${name})`,
    '  mtspr SPRN_SPRG_SCRATCH0, r13',
    '  mfspr r13, SPRN_SPRG_PACA',
    ...[9, 10, 11, 12].map((n, k) => `  std r${n}, ${PACA_EX + 8 * k}(r13)`),
    '  mfspr r11, SPRN_SRR0',
    '  mfspr r12, SPRN_SRR1',
    '  mr r10, r1',
    `  andi. r9, r12, ${A.MSR_PR}`,
    `  beq .L${name}_kernel`,
    `  ld r1, ${PACAKSAVE}(r13)`,
    `  b .L${name}_frame`,
    `.L${name}_kernel:`,
    `  subi r1, r1, ${A.STACK_INT_FRAME_SIZE}`,
    `.L${name}_frame:`,
    '  std r10, 0(r1)',
    `  std r10, ${R(A.GPR1)}(r1)`,
    `  std r11, ${R(A.NIP)}(r1)`,
    `  std r12, ${R(A.MSR)}(r1)`,
    ...DIRECT.map((n) => `  std r${n}, ${R(8 * n)}(r1)`),
    ...[9, 10, 11, 12].flatMap((n, k) => [`  ld r9, ${PACA_EX + 8 * k}(r13)`, `  std r9, ${R(8 * n)}(r1)`]),
    '  mfspr r9, SPRN_SPRG_SCRATCH0',
    `  std r9, ${R(A.GPR13)}(r1)`,
    '  mflr r9',
    `  std r9, ${R(A.LINK)}(r1)`,
    '  mfctr r9',
    `  std r9, ${R(A.CTR)}(r1)`,
    syscall ? `  li r9, ${syscall.trap}` : '  TRAP_CLASS r9, r12',
    `  std r9, ${R(A.TRAP)}(r1)`,
    `  LOAD_REG_IMMEDIATE(r9, ${A.STACK_FRAME_REGS_MARKER})`,
    `  std r9, ${A.STACK_INT_FRAME_MARKER}(r1)`,
    `  addi r3, r1, ${A.STACK_INT_FRAME_REGS}`,
    ...(syscall ? [`  bl ${syscall.handler}`] : ['  mtctr r12', '  bctrl']),
    '  b interrupt_return',
    `SYM_CODE_END(${name})`,
    `SYM_ENTRY_POINT(${name})`,
  );
}

/** misc_64.S's call_do_irq / call_do_softirq: `callee` on the stack whose base is in `base`. */
function onStack(name: string, base: string, callee: string): string {
  return lines(
    `SYM_FUNC_START(${name})`,
    '  mflr r0',
    '  std r0, 16(r1)',
    `  stdu r1, ${A.IRQ_STACK_SIZE - A.STACK_FRAME_MIN_SIZE}(${base})`,
    `  mr r1, ${base}`,
    `  bl ${callee}`,
    '  ld r1, 0(r1)',
    '  ld r0, 16(r1)',
    '  mtlr r0',
    '  blr',
    `SYM_FUNC_END(${name})`,
  );
}

function coreText(kthreadFn = 'worker_thread'): string {
  return lines(
    '// ---- interrupt entry: system calls (0xc00) and the other interrupts share the prolog',
    interruptEntry('system_call_common', { trap: A.TRAP_SYSCALL, handler: 'system_call_exception' }),
    interruptEntry('interrupt_common'),
    '',
    '// interrupt_return: hard-disable, SRR0/SRR1 and the registers from pt_regs, then rfid; back to the kernel,',
    '// the marker is cleared first, so no stale "regs" is left under later frames (as interrupt_return_srr_kernel does)',
    'SYM_CODE_START(interrupt_return)',
    ind(irqsOff),
    `  ld r9, ${R(A.MSR)}(r1)`,
    `  andi. r9, r9, ${A.MSR_PR}`,
    '  bne .Lrestore',
    '  li r9, 0',
    `  std r9, ${A.STACK_INT_FRAME_MARKER}(r1)`,
    '.Lrestore:',
    `  ld r9, ${R(A.NIP)}(r1)`,
    '  mtspr SPRN_SRR0, r9',
    `  ld r9, ${R(A.MSR)}(r1)`,
    '  mtspr SPRN_SRR1, r9',
    `  ld r9, ${R(A.LINK)}(r1)`,
    '  mtlr r9',
    `  ld r9, ${R(A.CTR)}(r1)`,
    '  mtctr r9',
    ...RESTORE.map((n) => `  ld r${n}, ${R(8 * n)}(r1)`),
    `  ld r13, ${R(A.GPR13)}(r1)`,
    `  ld r9, ${R(8 * 9)}(r1)`,
    `  ld r1, ${R(A.GPR1)}(r1)`,
    '  rfid',
    'SYM_CODE_END(interrupt_return)',
    '',
    '// system_call_exception(regs): the handler address travels in regs->gpr[0] (our syscall number)',
    cfunc('system_call_exception', ['std r31, 40(r1)', 'mr r31, r3', ...irqsOn, `ld r12, ${A.GPR0}(r31)`, `ld r3, ${A.GPR3}(r31)`, 'mtctr r12', 'bctrl', `std r3, ${A.GPR3}(r31)`, 'ld r31, 40(r1)'], 48),
    '',
    '// ---- kernel threads: copy_thread() left fn in r14, its argument in r15, r1 at the initial minimal frame',
    'SYM_CODE_START(start_kernel_thread)',
    '  UNWIND_HINT_END_OF_STACK',
    '  bl schedule_tail',
    '  mtctr r14',
    '  mr r3, r15',
    '  bctrl',
    '  b start_kernel_thread',
    'SYM_CODE_END(start_kernel_thread)',
    'SYM_ENTRY_POINT(start_kernel_thread)',
    cfunc('schedule_tail', ['BODY 1']),
    '// kthread() keeps a large local state: its frame reaches exactly where a user task\'s stack_end lies',
    cfunc('kthread', ['BODY 1', `LOAD_REG_ADDR(r12, ${kthreadFn})`, 'mtctr r12', 'bctrl'], A.STACK_USER_INT_FRAME_SIZE - A.STACK_FRAME_MIN_SIZE),
    'SYM_FUNC_START(worker_thread)',
    ind(prologue()),
    '.Lworker_loop:',
    '  BODY 1',
    '  bl schedule',
    '  b .Lworker_loop',
    'SYM_FUNC_END(worker_thread)',
    '',
    '// ---- scheduler',
    cfunc('schedule', ['BODY 1', 'PREEMPT_DISABLE', 'bl __schedule', 'PREEMPT_ENABLE']),
    cfunc('__schedule', ['std r31, 40(r1)', 'BODY 2', 'bl pick_next_task', ...irqsOff, `LOAD_REG_IMMEDIATE(r3, ${TASK})`, 'bl _switch', ...irqsOn, 'ld r31, 40(r1)'], 48),
    '// pick_next_task\'s frame is where _switch\'s will be: its callee leaves a stale return address in the',
    '// LR save slot of what becomes the first frame of a blocked task\'s walk',
    cfunc('pick_next_task', ['BODY 1', 'bl update_rq_clock', 'BODY 1'], A.STACK_SWITCH_FRAME_SIZE),
    cfunc('update_rq_clock', ['BODY 1']),
    '// _switch(prev): a switch frame with the non-volatile GPRs, r1 into prev->thread.ksp, then the switch',
    'SYM_FUNC_START(_switch)',
    ind(prologue(A.STACK_SWITCH_FRAME_SIZE)),
    ...Array.from({ length: 18 }, (_, k) => `  std r${14 + k}, ${A.STACK_SWITCH_FRAME_REGS + 8 * (14 + k)}(r1)`),
    `  std r1, ${THREAD_KSP}(r3)`,
    '  CPU_SWITCH',
    ind(epilogue(A.STACK_SWITCH_FRAME_SIZE)),
    'SYM_FUNC_END(_switch)',
    cfunc('preempt_schedule_irq', ['PREEMPT_DISABLE', 'bl __schedule', 'PREEMPT_ENABLE']),
    '',
    '// ---- IRQs: do_IRQ() runs the handler on the hardirq stack when it was taken on the task stack',
    'SYM_FUNC_START(do_IRQ)',
    ind(prologue(48)),
    '  std r31, 24(r1)',
    '  ON_TASK_STACK r9',
    '  cmpdi r9, 0',
    '  beq .Lirq_direct',
    `  LOAD_REG_IMMEDIATE(r4, ${MAP.irq.base})`,
    '  bl call_do_irq',
    '  b .Lirq_done',
    '.Lirq_direct:',
    '  bl __do_irq',
    '.Lirq_done:',
    '  NEED_RESCHED r9',
    '  cmpdi r9, 0',
    '  beq .Lirq_exit',
    '  bl preempt_schedule_irq',
    '.Lirq_exit:',
    '  ld r31, 24(r1)',
    ind(epilogue(48)),
    'SYM_FUNC_END(do_IRQ)',
    '// call_do_irq(regs, irq stack) / call_do_softirq(stack): a frame at the top of the other stack whose',
    '// back chain is the r1 it was called with',
    onStack('call_do_irq', 'r4', '__do_irq'),
    onStack('call_do_softirq', 'r3', '__do_softirq'),
    '// irq_exit(): pending softirqs run on the softirq stack (do_softirq_own_stack())',
    cfunc('__do_irq', ['BODY 1', 'bl handle_timer_irq', `LOAD_REG_IMMEDIATE(r3, ${MAP.softirq.base})`, 'bl call_do_softirq']),
    cfunc('__do_softirq', ['BODY 2']),
    cfunc('handle_timer_irq', ['BODY 1', 'WALK_POINT irq', 'BODY 1']),
    '',
    '// ---- NMI (system reset): delivered on the PACA\'s emergency stack; what it interrupted is kept aside',
    'SYM_CODE_START(system_reset_common)',
    '  UNWIND_HINT_UNDEFINED',
    `  stdu r1, -${A.STACK_INT_FRAME_SIZE}(r1)`,
    ...RESTORE.map((n) => `  std r${n}, ${R(8 * n)}(r1)`),
    `  std r9, ${R(8 * 9)}(r1)`,
    `  std r13, ${R(A.GPR13)}(r1)`,
    '  mflr r9',
    `  std r9, ${R(A.LINK)}(r1)`,
    `  LOAD_REG_IMMEDIATE(r10, ${NMI_INTERRUPTED})`,
    '  ld r9, 0(r10)',
    `  std r9, ${R(A.NIP)}(r1)`,
    '  ld r9, 8(r10)',
    `  std r9, ${R(A.MSR)}(r1)`,
    '  ld r9, 16(r10)',
    `  std r9, ${R(A.GPR1)}(r1)`,
    `  LOAD_REG_IMMEDIATE(r9, ${A.STACK_FRAME_REGS_MARKER})`,
    `  std r9, ${A.STACK_INT_FRAME_MARKER}(r1)`,
    `  addi r3, r1, ${A.STACK_INT_FRAME_REGS}`,
    '  bl system_reset_exception',
    `  ld r9, ${R(A.LINK)}(r1)`,
    '  mtlr r9',
    ...RESTORE.map((n) => `  ld r${n}, ${R(8 * n)}(r1)`),
    `  ld r13, ${R(A.GPR13)}(r1)`,
    `  ld r9, ${R(8 * 9)}(r1)`,
    '  NMI_COMPLETE',
    'SYM_CODE_END(system_reset_common)',
    cfunc('system_reset_exception', ['BODY 1', 'bl perf_nmi_handler']),
    cfunc('perf_nmi_handler', ['BODY 1', 'WALK_POINT nmi', 'BODY 1']),
    '',
    '// ---- ftrace (-mprofile-kernel): the call site is `mflr r0; bl ftrace_caller` before the prologue, so',
    '// LR holds the return into the traced function and r0 (like the caller\'s LR) the return into its caller',
    'SYM_CODE_START(ftrace_caller)',
    '  UNWIND_HINT_UNDEFINED',
    '  std r0, 16(r1)',
    `  stdu r1, -${A.STACK_FRAME_MIN_SIZE}(r1)`,
    '  mflr r11',
    '  std r11, 16(r1)',
    `  stdu r1, -${A.STACK_SWITCH_FRAME_SIZE}(r1)`,
    ...[3, 4, 5, 6, 7, 8, 9, 10].map((n) => `  std r${n}, ${A.STACK_SWITCH_FRAME_REGS + 8 * n}(r1)`),
    `  std r11, ${A.STACK_SWITCH_FRAME_REGS + A.NIP}(r1)`,
    `  std r0, ${A.STACK_SWITCH_FRAME_REGS + A.LINK}(r1)`,
    `  addi r9, r1, ${A.STACK_SWITCH_FRAME_SIZE + A.STACK_FRAME_MIN_SIZE}`,
    `  std r9, ${A.STACK_SWITCH_FRAME_REGS + A.GPR1}(r1)`,
    '  subi r3, r11, 4',
    '  mr r4, r0',
    `  addi r6, r1, ${A.STACK_SWITCH_FRAME_REGS}`,
    '  bl ftrace_graph_func',
    ...[3, 4, 5, 6, 7, 8, 9, 10].map((n) => `  ld r${n}, ${A.STACK_SWITCH_FRAME_REGS + 8 * n}(r1)`),
    `  ld r0, ${A.STACK_SWITCH_FRAME_REGS + A.LINK}(r1)`,
    `  ld r11, ${A.STACK_SWITCH_FRAME_REGS + A.NIP}(r1)`,
    '  KLP_TARGET r12, r11',
    `  addi r1, r1, ${A.STACK_SWITCH_FRAME_SIZE + A.STACK_FRAME_MIN_SIZE}`,
    '  mtlr r0',
    '  cmpdi r12, 0',
    '  bne .Lftrace_livepatch',
    '  mtctr r11',
    '  bctr',
    '// the ftrace ops moved nip to the new function: enter it through livepatch_handler',
    '.Lftrace_livepatch:',
    '  mtctr r12',
    '  b livepatch_handler',
    'SYM_CODE_END(ftrace_caller)',
    '// livepatch_handler: the new function must see its caller\'s frame, so the real LR (and r2) go on the',
    '// livepatch stack in thread_info, not on the stack; the new function returns here, and here to the caller',
    'SYM_CODE_START(livepatch_handler)',
    '  UNWIND_HINT_UNDEFINED',
    `  ld r12, ${PACA_THREAD_INFO}(r13)`,
    `  ld r11, ${TI_LIVEPATCH_SP}(r12)`,
    `  addi r11, r11, ${A.LIVEPATCH_FRAME_SIZE}`,
    `  std r11, ${TI_LIVEPATCH_SP}(r12)`,
    `  LOAD_REG_IMMEDIATE(r12, ${A.STACK_END_MAGIC})`,
    '  std r12, -8(r11)',
    '  std r2, -24(r11)',
    '  mflr r12',
    '  std r12, -16(r11)',
    '  mfctr r12',
    '  bctrl',
    `  ld r12, ${PACA_THREAD_INFO}(r13)`,
    `  ld r11, ${TI_LIVEPATCH_SP}(r12)`,
    '  ld r12, -16(r11)',
    '  mtlr r12',
    '  ld r2, -24(r11)',
    `  ld r12, ${PACA_THREAD_INFO}(r13)`,
    `  subi r11, r11, ${A.LIVEPATCH_FRAME_SIZE}`,
    `  std r11, ${TI_LIVEPATCH_SP}(r12)`,
    '  blr',
    'SYM_CODE_END(livepatch_handler)',
    'SYM_KIND(livepatch_handler, return-trampoline)',
    'SYM_KIND(ftrace_caller, ftrace-trampoline)',
    '// ftrace_graph_func(ip, parent_ip, op, fregs): prepare_ftrace_return() on fregs->link, keyed by fregs->gpr[1]',
    cfunc('ftrace_graph_func', ['PREEMPT_DISABLE', 'FGRAPH_PREPARE r3, r6', 'PREEMPT_ENABLE']),
    'SYM_CODE_START(return_to_handler)',
    '  UNWIND_HINT_UNDEFINED',
    `  stdu r1, -${A.STACK_SWITCH_FRAME_SIZE}(r1)`,
    `  std r3, ${A.STACK_SWITCH_FRAME_REGS + A.GPR3}(r1)`,
    `  std r4, ${A.STACK_SWITCH_FRAME_REGS + A.GPR3 + 8}(r1)`,
    `  addi r3, r1, ${A.STACK_SWITCH_FRAME_REGS}`,
    '  bl ftrace_return_to_handler',
    '  mtlr r3',
    `  ld r3, ${A.STACK_SWITCH_FRAME_REGS + A.GPR3}(r1)`,
    `  ld r4, ${A.STACK_SWITCH_FRAME_REGS + A.GPR3 + 8}(r1)`,
    `  addi r1, r1, ${A.STACK_SWITCH_FRAME_SIZE}`,
    '  blr',
    'SYM_CODE_END(return_to_handler)',
    'SYM_KIND(return_to_handler, return-trampoline)',
    cfunc('ftrace_return_to_handler', ['FGRAPH_RETURN r3']),
    '',
    '// ---- kretprobes (rethook): arch_rethook_prepare() saved LR and r1 and pointed LR here',
    'SYM_CODE_START(arch_rethook_trampoline)',
    '  UNWIND_HINT_UNDEFINED',
    `  stdu r1, -${A.STACK_SWITCH_FRAME_SIZE}(r1)`,
    `  std r3, ${A.STACK_SWITCH_FRAME_REGS + A.GPR3}(r1)`,
    `  addi r3, r1, ${A.STACK_SWITCH_FRAME_REGS}`,
    '  bl arch_rethook_trampoline_callback',
    '  mtlr r3',
    `  ld r3, ${A.STACK_SWITCH_FRAME_REGS + A.GPR3}(r1)`,
    `  addi r1, r1, ${A.STACK_SWITCH_FRAME_SIZE}`,
    '  blr',
    'SYM_CODE_END(arch_rethook_trampoline)',
    'SYM_KIND(arch_rethook_trampoline, return-trampoline)',
    cfunc('arch_rethook_trampoline_callback', ['PREEMPT_DISABLE', 'KRETPROBE_RETURN r3', 'PREEMPT_ENABLE']),
    '',
    '// ---- synchronous interrupts: a kprobe\'s trap (program check) and a kernel page fault (which may sleep)',
    cfunc('program_check_exception', ['bl kprobe_handler']),
    cfunc('kprobe_handler', ['BODY 1', 'WALK_POINT brk', 'BODY 1']),
    cfunc('do_page_fault', [...irqsOn, 'bl handle_page_fault']),
    '// a WARN_ON\'s trap: report_bug() and back (the program check handler, for this trap)',
    cfunc('do_warn_trap', ['bl report_bug']),
    cfunc('report_bug', ['BODY 2']),
    cfunc('handle_page_fault', ['BODY 1', 'WALK_POINT page-fault', 'bl schedule', 'BODY 1']),
  );
}

export interface WorkloadCode extends FixedWidthWorkloadCode {
  /** Livepatched functions and their replacements (the klp_func table). */
  livepatch?: Record<string, string>;
}

export const BPF_PROG = 'bpf_prog_6deef7357e7b4530';

/** A leaf: no frame, LR stays in its register. */
const leaf = (name: string, n = 2): string => lines(`SYM_FUNC_START(${name})`, `  BODY ${n}`, '  blr', `SYM_FUNC_END(${name})`);

/** A frame of the size of a local struct pt_regs plus the minimal frame: regscopy_fn's. */
export const REGS_COPY_FRAME = A.STACK_INT_FRAME_SIZE;

/** The powerpc64 forms of the spec's 3.6 examples: `function:` saves LR in its caller's frame; `caller:` calls through CTR. */
export const PPC_FUNCTION = lines('function:', '  mflr r0', '  std r0, 16(r1)', '  stdu r1, -32(r1)', '  bl other_function', '  addi r1, r1, 32', '  ld r0, 16(r1)', '  mtlr r0', '  blr');
export const PPC_CALLER = lines('caller:', '  mflr r0', '  std r0, 16(r1)', '  stdu r1, -32(r1)', '  LOAD_REG_ADDR(r12, callee)', '  mtctr r12', '  bctrl', '  addi r1, r1, 32', '  ld r0, 16(r1)', '  mtlr r0', '  blr');

export function workloadCode(w: Workload): WorkloadCode {
  if (isGenerated(w)) return powerpc64Code(programOf(w));
  switch (w) {
    case 'syscall-sleep':
      return { syscall: 'sys_sleep', kernel: lines(cfunc('sys_sleep', ['BODY 1', 'bl do_nanosleep', 'BODY 1']), cfunc('do_nanosleep', ['BODY 1', 'bl schedule'])) };
    case 'kthread-sleep':
      return { kthread: true, kernel: '' };
    case 'work-chain':
      return {
        syscall: 'sys_work',
        kernel: lines(cfunc('sys_work', ['BODY 1', 'bl work_a', 'BODY 1']), cfunc('work_a', ['BODY 1', 'bl work_b', 'BODY 1']), cfunc('work_b', ['BODY 1', 'bl work_c', 'BODY 1']), leaf('work_c', 3)),
      };
    case 'module-sleep':
      return {
        syscall: 'sys_modcall',
        kernel: lines(cfunc('sys_modcall', ['LOAD_REG_ADDR(r12, mod_fn)', 'mtctr r12', 'bctrl']), cfunc('mod_helper_target', ['BODY 1', 'bl schedule'])),
        module: lines(
          cfunc('mod_fn', ['BODY 1', 'bl __stub_mod_helper_target', 'BODY 1']),
          '// module stub to a kernel symbol: the target from the TOC into r12, then bctr',
          'SYM_CODE_START(__stub_mod_helper_target)',
          '  std r2, 24(r1)',
          '  LOAD_REG_ADDR(r12, mod_helper_target)',
          '  mtctr r12',
          '  bctr',
          'SYM_CODE_END(__stub_mod_helper_target)',
          'SYM_KIND(__stub_mod_helper_target, plt)',
        ),
      };
    case 'bpf-sleep':
      return {
        syscall: 'sys_bpf_run',
        kernel: lines(cfunc('sys_bpf_run', [`LOAD_REG_ADDR(r12, ${BPF_PROG})`, 'mtctr r12', 'bctrl']), cfunc('bpf_helper', ['BODY 1', 'bl schedule'])),
        bpf: lines(`${BPF_PROG}:`, ...ind(prologue(64)), '  std r31, 40(r1)', '  BODY 1', '  LOAD_REG_ADDR(r12, bpf_helper)', '  mtctr r12', '  bctrl', '  ld r31, 40(r1)', ...ind(epilogue(64))),
      };
    case 'efi-call':
      // powerpc64 has no EFI: firmware runtime code (OPAL-like) in a foreign region stands for it, under the feature names.
      return {
        syscall: 'sys_efi',
        kernel: lines(cfunc('sys_efi', ['bl efi_call_rts']), cfunc('efi_call_rts', ['LOAD_REG_ADDR(r12, efi_get_time)', 'bl __efi_rt_asm_wrapper']), cfunc('__efi_rt_asm_wrapper', ['std r2, 40(r1)', 'mtctr r12', 'bctrl', 'ld r2, 40(r1)'], 48)),
        efi: lines('efi_get_time:', '  stdu r1, -64(r1)', '  std r31, 32(r1)', '  BODY 4', '  ld r31, 32(r1)', '  addi r1, r1, 64', '  blr'),
      };
    case 'fp-violation':
      return {
        syscall: 'sys_fpviol',
        kernel: lines(
          cfunc('sys_fpviol', ['bl fpviol_fn']),
          '// "inline asm" calls fpviol_leaf before LR is saved and the frame made: the leaf saves its own',
          '// return address over sys_fpviol\'s LR save slot',
          'SYM_FUNC_START(fpviol_fn)',
          '  mflr r31',
          '  bl fpviol_leaf',
          '  mtlr r31',
          ind(prologue()),
          '  BODY 1',
          ind(epilogue()),
          'SYM_FUNC_END(fpviol_fn)',
          cfunc('fpviol_leaf', ['BODY 1', 'bl schedule']),
        ),
      };
    case 'nonstandard-sleep':
      return {
        syscall: 'sys_nonstd',
        kernel: lines(
          cfunc('sys_nonstd', ['bl nonstd_fn']),
          '// hand-written: makes its frame before saving LR (not the C prologue order), annotated as such',
          'SYM_FUNC_START(nonstd_fn)',
          '  mflr r0',
          '  stdu r1, -64(r1)',
          '  std r0, 80(r1)',
          '  BODY 1',
          '  bl schedule',
          '  addi r1, r1, 64',
          '  ld r0, 16(r1)',
          '  mtlr r0',
          '  blr',
          'SYM_FUNC_END(nonstd_fn)',
          'STACK_FRAME_NON_STANDARD(nonstd_fn)',
        ),
      };
    case 'spec-function':
      return { syscall: 'sys_specfn', kernel: lines(cfunc('sys_specfn', ['BODY 1', 'bl function', 'BODY 1']), PPC_FUNCTION, leaf('other_function', 2)) };
    case 'spec-caller':
      return { syscall: 'sys_speccaller', kernel: lines(cfunc('sys_speccaller', ['BODY 1', 'bl caller', 'BODY 1']), PPC_CALLER, leaf('callee', 2)) };
    case 'tail-call':
      return {
        syscall: 'sys_tail',
        kernel: lines(cfunc('sys_tail', ['bl tail_a', 'BODY 1']), 'SYM_FUNC_START(tail_a)', ind(prologue()), '  BODY 1', ind(epilogue().slice(0, 3)), '  b tail_b', 'SYM_FUNC_END(tail_a)', cfunc('tail_b', ['BODY 1', 'bl schedule'])),
      };
    case 'unreachable-code':
      return {
        syscall: 'sys_unreach',
        kernel: lines(cfunc('sys_unreach', ['BODY 1', 'bl schedule']), '// SYM_CODE that nothing jumps to and no hint describes', 'SYM_CODE_START(orphan_stub)', '  BODY 2', '  blr', 'SYM_CODE_END(orphan_stub)'),
      };
    case 'hint-undefined':
      return {
        syscall: 'sys_hintundef',
        kernel: lines(
          cfunc('sys_hintundef', ['bl hint_undef_code']),
          'SYM_CODE_START(hint_undef_code)',
          '  UNWIND_HINT_FUNC',
          ind(prologue()),
          '  BODY 1',
          '  UNWIND_HINT_UNDEFINED',
          '  BODY 1',
          '  bl schedule',
          '  BODY 1',
          ind(epilogue().slice(0, 3)),
          '  UNWIND_HINT_FUNC',
          '  blr',
          'SYM_CODE_END(hint_undef_code)',
        ),
      };
    case 'regs-copy-sleep':
      return {
        syscall: 'sys_regscopy',
        kernel: lines(cfunc('sys_regscopy', ['BODY 1', 'bl regscopy_fn', 'BODY 1']), cfunc('regscopy_fn', ['BODY 1', 'bl schedule', 'BODY 1'], REGS_COPY_FRAME)),
      };
    case 'stale-marker-sleep':
      // warn_fn's WARN leaves an interrupt frame STACK_INT_FRAME_SIZE below warn_fn's r1; once it has returned
      // (its marker cleared, its pt_regs stale), warn_mid (640) + schedule (32) + __schedule (48) put
      // __schedule's frame exactly there.
      return {
        syscall: 'sys_warn',
        kernel: lines(
          cfunc('sys_warn', ['BODY 1', 'bl warn_fn', 'BODY 1']),
          cfunc('warn_fn', ['BODY 1', 'WARN_TRAP', 'BODY 1', 'bl warn_mid', 'BODY 1']),
          cfunc('warn_mid', ['BODY 1', 'bl schedule', 'BODY 1'], A.STACK_INT_FRAME_SIZE - 80),
        ),
      };
    case 'livepatch-sleep':
      // klp_old_fn is livepatched: its ftrace call site is patched in, and ftrace_caller sends it on to klp_new_fn.
      return {
        syscall: 'sys_klp',
        livepatch: { klp_old_fn: 'klp_new_fn' },
        kernel: lines(
          cfunc('sys_klp', ['BODY 1', 'bl klp_caller', 'BODY 1']),
          cfunc('klp_caller', ['BODY 1', 'bl klp_old_fn', 'BODY 1']),
          'SYM_FUNC_START(klp_old_fn)',
          ...ind(FTRACE_CALLSITE),
          ind(prologue()),
          '  BODY 1',
          ind(epilogue()),
          'SYM_FUNC_END(klp_old_fn)',
          cfunc('klp_new_fn', ['BODY 1', 'bl schedule', 'BODY 1']),
        ),
      };
    case 'lr-in-gpr':
      return {
        syscall: 'sys_lrgpr',
        kernel: lines(
          cfunc('sys_lrgpr', ['BODY 1', 'bl lrgpr_fn', 'BODY 1']),
          cfunc('lrgpr_fn', ['BODY 1', 'bl lrgpr_leaf', 'BODY 1', 'bl schedule', 'BODY 1']),
          '// a leaf that keeps its return address in r11 and uses LR as a scratch register (a text address)',
          'SYM_FUNC_START(lrgpr_leaf)',
          '  mflr r11',
          '  LOAD_REG_ADDR(r12, lrgpr_table)',
          '  addi r12, r12, 8',
          '  mtlr r12',
          '  ld r10, 0(r12)',
          '  addi r10, r10, 1',
          '  mtctr r11',
          '  bctr',
          'SYM_FUNC_END(lrgpr_leaf)',
          cfunc('lrgpr_table', ['BODY 2']),
        ),
      };
    default:
      throw new Error(`powerpc64 builds no workload ${w}`);
  }
}

/** Functions the real kernel never lets ftrace or kprobes patch (noinstr / notrace / NOKPROBE). */
export const NOINSTR: ReadonlySet<string> = new Set([
  '_switch',
  '__schedule',
  'system_call_exception',
  'do_IRQ',
  'call_do_irq',
  'call_do_softirq',
  'system_reset_exception',
  'program_check_exception',
  'kprobe_handler',
  'do_page_fault',
  'ftrace_graph_func',
  'ftrace_return_to_handler',
  'arch_rethook_trampoline_callback',
]);

/** The ftrace call site the kernel patches in at a traced function's entry, before its prologue (-mprofile-kernel). */
export const FTRACE_CALLSITE = ['mflr r0', 'bl ftrace_caller'];

export interface Image {
  workload: Workload;
  code: WorkloadCode;
  prog: Program;
  fgraph: Set<string>;
}

export function buildImage(w: Workload, ins?: Instrumentation): Image {
  const code = workloadCode(w);
  const units: AsmUnit[] = [{ region: MAP.ktext.name, base: MAP.ktext.base, text: lines(coreText(code.kthreadFn), code.kernel) }];
  if (code.module) units.push({ region: MAP.modtext.name, base: MAP.modtext.base, text: code.module, module: 'demo_mod' });
  if (code.bpf) units.push({ region: MAP.bpf.name, base: MAP.bpf.base, text: code.bpf, defaultKind: 'bpf' });
  if (code.efi) units.push({ region: MAP.efi.name, base: MAP.efi.base, text: code.efi, defaultKind: 'foreign' });
  instrumentEntries(units, ins, { ftraceCallsite: FTRACE_CALLSITE, noinstr: NOINSTR });
  const prog = assemble(units);
  for (const b of prog.blocks) {
    const r = Object.values(MAP).find((m) => m.name === b.region)!;
    if (b.end > r.base + r.size) throw new Error(`${b.region} overflows its region`);
  }
  return { workload: w, code, prog, fgraph: new Set(ins?.fgraph ?? []) };
}
