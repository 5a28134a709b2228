/**
 * The simulated loongarch64 kernel image: memory map and kernel code in LA64 assembly. Structure follows
 * today's arch/loongarch/kernel: entry.S (handle_syscall, ret_from_kernel_thread), genex.S (handle_vint
 * and the other exception handlers, built with SAVE_ALL / RESTORE_ALL_AND_RET), switch.S (__switch_to
 * saving ra, sp, fp and s0..s8 into task->thread), irq.c (the IRQ stack, whose top word next_sp keeps the
 * task's sp for the unwinder), mcount_dyn.S (ftrace_caller entered from the patched `move $t0, $ra` /
 * `bl ftrace_caller` call site, return_to_handler) and kprobes/rethook_trampoline.S.
 *
 * Exceptions enter through copies: the CPU jumps to EENTRY + ecode * VECSIZE, where trap_init() copied
 * the handler (set_handler()). Return addresses into entry code therefore point into the vector copy,
 * not at the handler's symbol, and an unwinder must map them back (bt_address()).
 *
 * Compiled C keeps the frame pointer: after its prologue a function's CFA is fp, so its ORC entries are
 * fp-based and unwinding needs the fp of the frame being unwound (for a blocked task, thread.reg22, which
 * __switch_to saves since 677d4a52d4dc). do_syscall() also moves sp by a run-time amount
 * (add_random_kstack_offset()), so only fp finds its frame.
 */
import type { WorkloadCode } from '../workload-code';
import { instrumentEntries } from '../instrument';
import { LOONGARCH64_ABI as A } from '../../isa/loongarch64/abi';
import { assemble, type AsmUnit, type Program } from '../../isa/loongarch64/assembler';
import type { Instrumentation, Workload } from '../../scene/types';
import { isGenerated, programOf } from '../../generate/registry';
import { loongarch64Code } from '../../generate/emit-loongarch64';

/** Memory map (internal numbers, src/machine/addr.ts). */
export const MAP = {
  vectors: { name: 'exception-vectors', kind: 'kernel-text', base: 0xffff80000000, size: 0x10000 },
  ktext: { name: 'kernel-text', kind: 'kernel-text', base: 0xffff80010000, size: 0x10000 },
  modtext: { name: 'module-text', kind: 'module-text', base: 0xffff01000000, size: 0x1000 },
  bpf: { name: 'bpf-jit', kind: 'bpf-jit', base: 0xffff02000000, size: 0x1000 },
  efi: { name: 'efi-runtime', kind: 'foreign-text', base: 0x00001f000000, size: 0x1000 },
  task: { name: 'task-stack-100', kind: 'task-stack', base: 0xffc600080000, size: A.THREAD_SIZE, owner: '100' },
  other: { name: 'task-stack-200', kind: 'task-stack', base: 0xffc600090000, size: A.THREAD_SIZE, owner: '200' },
  irq: { name: 'irq-stack-cpu0', kind: 'irq-stack', base: 0xffc6000a0000, size: A.IRQ_STACK_SIZE, owner: '0' },
  data: { name: 'kernel-data', kind: 'data', base: 0xffff80400000, size: 0x1000 },
} as const;

/** CSR.EENTRY: the exception vectors. */
export const EENTRY = MAP.vectors.base;
/** task_struct of the task: thread (reg01, reg03, reg22, reg23..reg31) at TASK_THREAD. */
export const TASK = MAP.data.base + 0x100;
export const OTHER_TASK = MAP.data.base + 0x300;
export const TASK_THREAD = 0x40;
/** per-CPU kernelsp: the kernel stack top of current, loaded by handle_syscall. */
export const KERNELSP = MAP.data.base + 0x600;
export const TASK_PT_REGS = MAP.task.base + MAP.task.size - A.PT_REGS_SIZE;
export const OTHER_PT_REGS = MAP.other.base + MAP.other.size - A.PT_REGS_SIZE;
/** The IRQ stack's usable top (IRQ_STACK_START): the word there is next_sp. */
export const IRQ_STACK_TOP = MAP.irq.base + A.IRQ_STACK_START;
export const USER_PC = 0x120000100;
export const USER_SP = 0x7ffffff0;

/** The exceptions modelled, their codes and handlers (exception_table[] / handle_vint for interrupts). */
export const TIMER_INT = A.EXCCODE_INT_START + 11;
export const VECTORS: readonly { ecode: number; handler: string }[] = [
  { ecode: A.EXCCODE_PIL, handler: 'handle_tlb_load' },
  { ecode: A.EXCCODE_SYS, handler: 'handle_syscall' },
  { ecode: A.EXCCODE_BP, handler: 'handle_bp' },
  { ecode: TIMER_INT, handler: 'handle_vint' },
];
export const vectorAddr = (ecode: number): number => EENTRY + ecode * A.VECSIZE;

const lines = (...ls: (string | string[])[]): string => ls.flat().join('\n');
const ind = (ls: string[]): string[] => ls.map((l) => '  ' + l);

/**
 * A compiled C function's frame of `frame` bytes, with the frame pointer: the record {fp, ra} is the 16
 * bytes at its top and fp points just above it (the CFA).
 */
export const prologue = (frame = 16): string[] => [`addi.d $sp, $sp, -${frame}`, `st.d $ra, $sp, ${frame - 8}`, `st.d $fp, $sp, ${frame - 16}`, `addi.d $fp, $sp, ${frame}`];
export const epilogue = (frame = 16): string[] => [`ld.d $ra, $sp, ${frame - 8}`, `ld.d $fp, $sp, ${frame - 16}`, `addi.d $sp, $sp, ${frame}`, 'jr $ra'];

/** A compiled C function: prologue, body, epilogue. */
export function cfunc(name: string, body: string[], frame = 16): string {
  return lines(`SYM_FUNC_START(${name})`, ind(prologue(frame)), ind(body), ind(epilogue(frame)), `SYM_FUNC_END(${name})`);
}

/** A function that keeps fp as its CFA and then moves sp by a run-time amount (add_random_kstack_offset()). */
export function fpfunc(name: string, body: string[]): string {
  return lines(
    `SYM_FUNC_START(${name})`,
    '  addi.d $sp, $sp, -16',
    '  st.d $ra, $sp, 8',
    '  st.d $fp, $sp, 0',
    '  addi.d $fp, $sp, 16',
    '  li.d $t1, 48',
    '  sub.d $sp, $sp, $t1',
    ind(body),
    '  addi.d $sp, $fp, -16',
    '  ld.d $ra, $sp, 8',
    '  ld.d $fp, $sp, 0',
    '  addi.d $sp, $sp, 16',
    '  jr $ra',
    `SYM_FUNC_END(${name})`,
  );
}

const GPR_NUMS = [1, 2, ...Array.from({ length: 8 }, (_, k) => 4 + k), 14, 15, 16, 17, 18, 19, 20, 21, 22, ...Array.from({ length: 9 }, (_, k) => 23 + k)];
const rn = (n: number): string => `$r${n}`;

/**
 * SAVE_ALL for an exception taken in kernel or user mode: t0 / t1 parked in KS0 / KS1, pt_regs below the
 * interrupted sp (kernel) or at the top of the task stack (user, from kernelsp), every GPR and the CSRs.
 */
function saveAll(tag: string): string[] {
  return [
    'csrwr $t0, ks0',
    'csrwr $t1, ks1',
    'move $t1, $sp',
    'csrrd $t0, prmd',
    `andi $t0, $t0, ${A.PLV_MASK}`,
    `beqz $t0, .Lkernel_sp_${tag}`,
    `li.d $t0, ${KERNELSP}`,
    'ld.d $sp, $t0, 0',
    `.Lkernel_sp_${tag}:`,
    `addi.d $sp, $sp, -${A.PT_REGS_SIZE}`,
    `st.d $t1, $sp, ${A.PT_R3}`,
    `st.d $zero, $sp, ${A.PT_R0}`,
    'csrrd $t0, ks0',
    `st.d $t0, $sp, ${8 * 12}`,
    'csrrd $t1, ks1',
    `st.d $t1, $sp, ${8 * 13}`,
    ...GPR_NUMS.map((n) => `st.d ${rn(n)}, $sp, ${8 * n}`),
    'csrrd $t0, prmd',
    `st.d $t0, $sp, ${A.PT_PRMD}`,
    'csrrd $t0, era',
    `st.d $t0, $sp, ${A.PT_ERA}`,
    'csrrd $t0, estat',
    `st.d $t0, $sp, ${A.PT_ESTAT}`,
    'csrrd $t0, badv',
    `st.d $t0, $sp, ${A.PT_BVADDR}`,
  ];
}

/** RESTORE_ALL_AND_RET: CSRs, GPRs, sp last, then ertn (kernelsp set again when returning to user). */
function restoreAllAndRet(tag: string): string[] {
  return [
    `ld.d $t0, $sp, ${A.PT_PRMD}`,
    `andi $t1, $t0, ${A.PLV_MASK}`,
    `beqz $t1, .Lrestore_${tag}`,
    `addi.d $t1, $sp, ${A.PT_REGS_SIZE}`,
    `li.d $t2, ${KERNELSP}`,
    'st.d $t1, $t2, 0',
    `.Lrestore_${tag}:`,
    'csrwr $t0, prmd',
    `ld.d $t0, $sp, ${A.PT_ERA}`,
    'csrwr $t0, era',
    ...GPR_NUMS.map((n) => `ld.d ${rn(n)}, $sp, ${8 * n}`),
    `ld.d $t0, $sp, ${8 * 12}`,
    `ld.d $t1, $sp, ${8 * 13}`,
    `ld.d $sp, $sp, ${A.PT_R3}`,
    'UNWIND_HINT_UNDEFINED',
    'ertn',
  ];
}

/** An exception handler (genex.S BUILD_HANDLER): SAVE_ALL, the C handler with pt_regs, RESTORE_ALL_AND_RET. */
function handler(name: string, c: string, syscall = false): string {
  return lines(
    `SYM_CODE_START(${name})`,
    '  UNWIND_HINT_UNDEFINED',
    ind(saveAll(name)),
    ...(syscall ? [`  ld.d $t0, $sp, ${A.PT_ERA}`, '  addi.d $t0, $t0, 4', `  st.d $t0, $sp, ${A.PT_ERA}`] : []),
    '  UNWIND_HINT_REGS',
    '  move $a0, $sp',
    `  bl ${c}`,
    ind(restoreAllAndRet(name)),
    `SYM_CODE_END(${name})`,
  );
}

/**
 * handle_vint: SAVE_ALL, then do_vint on the per-CPU IRQ stack: the task's sp (its pt_regs) is stored at
 * the IRQ stack's top as next_sp, then the stack is switched. irqentry_exit() (and preemption) runs
 * back on the task stack.
 */
function handleVint(): string {
  return lines(
    'SYM_CODE_START(handle_vint)',
    '  UNWIND_HINT_UNDEFINED',
    ind(saveAll('vint')),
    '  UNWIND_HINT_REGS',
    '  move $a0, $sp',
    '  ON_IRQ_STACK $t0',
    '  bnez $t0, .Lvint_nested',
    `  li.d $t1, ${IRQ_STACK_TOP}`,
    '  st.d $sp, $t1, 0',
    '  move $sp, $t1',
    '  UNWIND_HINT_REGS',
    '  bl do_vint',
    '  ld.d $sp, $sp, 0',
    '  UNWIND_HINT_REGS',
    '  b .Lvint_exit',
    '.Lvint_nested:',
    '  bl do_vint',
    '.Lvint_exit:',
    '  move $a0, $sp',
    '  bl irqentry_exit',
    ind(restoreAllAndRet('vint')),
    'SYM_CODE_END(handle_vint)',
  );
}

/** The handlers copied to the vectors, by name (their text is assembled twice: once as the symbol, once per vector). */
export function handlerText(name: string): string {
  switch (name) {
    case 'handle_syscall':
      return handler('handle_syscall', 'do_syscall', true);
    case 'handle_bp':
      return handler('handle_bp', 'do_bp');
    case 'handle_tlb_load':
      return handler('handle_tlb_load', 'do_page_fault');
    case 'handle_vint':
      return handleVint();
  }
  throw new Error(`loongarch64: no exception handler ${name}`);
}

function coreText(kthreadFn = 'worker_thread'): string {
  return lines(
    '// ---- exception handlers (each also copied to its vector at EENTRY + ecode * VECSIZE)',
    ...VECTORS.map((v) => handlerText(v.handler)),
    'SYM_ENTRY_POINT(handle_syscall)',
    '// do_syscall(regs): the handler address travels in regs->a7 (our syscall number)',
    fpfunc('do_syscall', ['st.d $s0, $sp, 0', 'move $s0, $a0', `li.d $t0, ${A.CSR_CRMD_IE}`, `li.d $t2, ${A.CSR_CRMD_IE}`, 'csrxchg $t0, $t2, crmd', `ld.d $t1, $s0, ${A.PT_R11}`, `ld.d $a0, $s0, ${A.PT_R4}`, 'jirl $ra, $t1, 0', `st.d $a0, $s0, ${A.PT_R4}`, 'li.d $t0, 0', `li.d $t2, ${A.CSR_CRMD_IE}`, 'csrxchg $t0, $t2, crmd', 'ld.d $s0, $sp, 0']),
    '',
    '// ---- kernel threads: copy_thread() left a zeroed pt_regs at the stack top, fn in s0, its argument in s1',
    'SYM_CODE_START(ret_from_kernel_thread)',
    '  UNWIND_HINT_REGS',
    '  bl schedule_tail',
    '  move $a0, $s1',
    '  jirl $ra, $s0, 0',
    '  move $a0, $sp',
    '  UNWIND_HINT_UNDEFINED',
    '  b ret_from_kernel_thread',
    'SYM_CODE_END(ret_from_kernel_thread)',
    'SYM_ENTRY_POINT(ret_from_kernel_thread)',
    cfunc('schedule_tail', ['BODY 1']),
    cfunc('kthread', ['BODY 1', `la.pcrel $t1, ${kthreadFn}`, 'jirl $ra, $t1, 0']),
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
    cfunc('__schedule', ['st.d $s0, $sp, 0', 'BODY 2', 'li.d $t0, 0', `li.d $t2, ${A.CSR_CRMD_IE}`, 'csrxchg $t0, $t2, crmd', `li.d $a0, ${TASK}`, 'bl __switch_to', `li.d $t0, ${A.CSR_CRMD_IE}`, `li.d $t2, ${A.CSR_CRMD_IE}`, 'csrxchg $t0, $t2, crmd', 'ld.d $s0, $sp, 0'], 32),
    '// __switch_to(prev): ra, sp, fp and s0..s8 into prev->thread (cpu_save_nonscratch), then the switch',
    'SYM_FUNC_START(__switch_to)',
    `  st.d $ra, $a0, ${TASK_THREAD + A.THREAD_REG01}`,
    `  st.d $sp, $a0, ${TASK_THREAD + A.THREAD_REG03}`,
    `  st.d $fp, $a0, ${TASK_THREAD + A.THREAD_REG22}`,
    ...Array.from({ length: 9 }, (_, k) => `  st.d $s${k}, $a0, ${TASK_THREAD + A.THREAD_REG23 + 8 * k}`),
    '  CPU_SWITCH',
    '  jr $ra',
    'SYM_FUNC_END(__switch_to)',
    cfunc('preempt_schedule_irq', ['PREEMPT_DISABLE', 'bl __schedule', 'PREEMPT_ENABLE']),
    '',
    '// ---- IRQs: do_vint runs on the IRQ stack, irqentry_exit back on the task stack',
    cfunc('do_vint', ['BODY 1', 'bl handle_loongarch_irq']),
    cfunc('handle_loongarch_irq', ['BODY 1', 'bl handle_timer_irq']),
    cfunc('handle_timer_irq', ['BODY 1', 'WALK_POINT irq', 'BODY 1']),
    'SYM_FUNC_START(irqentry_exit)',
    ind(prologue()),
    '  NEED_RESCHED $t0',
    '  beqz $t0, .Lirq_exit',
    '  bl preempt_schedule_irq',
    '.Lirq_exit:',
    ind(epilogue()),
    'SYM_FUNC_END(irqentry_exit)',
    '',
    "// ---- ftrace (DYNAMIC_FTRACE_WITH_ARGS): the call site is `move $t0, $ra; bl ftrace_caller` before the",
    '// prologue, so in the trampoline t0 holds the traced function\'s return address and ra points into it',
    'SYM_CODE_START(ftrace_caller)',
    '  UNWIND_HINT_FUNC',
    `  addi.d $sp, $sp, -${A.PT_REGS_SIZE}`,
    `  st.d $t0, $sp, ${A.PT_R1}`,
    `  st.d $ra, $sp, ${A.PT_ERA}`,
    ...Array.from({ length: 8 }, (_, k) => `  st.d $a${k}, $sp, ${A.PT_R4 + 8 * k}`),
    `  st.d $fp, $sp, ${A.PT_R22}`,
    `  st.d $zero, $sp, ${A.PT_PRMD}`,
    `  addi.d $t1, $sp, ${A.PT_REGS_SIZE}`,
    `  st.d $t1, $sp, ${A.PT_R3}`,
    '  UNWIND_HINT_REGS',
    '  addi.d $a0, $ra, -8',
    '  move $a1, $t0',
    '  move $a3, $sp',
    '  bl ftrace_graph_func',
    ...Array.from({ length: 8 }, (_, k) => `  ld.d $a${k}, $sp, ${A.PT_R4 + 8 * k}`),
    `  ld.d $ra, $sp, ${A.PT_R1}`,
    `  ld.d $t0, $sp, ${A.PT_ERA}`,
    `  addi.d $sp, $sp, ${A.PT_REGS_SIZE}`,
    '  UNWIND_HINT_UNDEFINED',
    '  jr $t0',
    'SYM_CODE_END(ftrace_caller)',
    'SYM_KIND(ftrace_caller, ftrace-trampoline)',
    '// ftrace_graph_func(ip, parent_ip, op, fregs): prepare_ftrace_return(ip, &fregs->regs[1])',
    cfunc('ftrace_graph_func', ['PREEMPT_DISABLE', 'FGRAPH_PREPARE $a0, $a3', 'PREEMPT_ENABLE']),
    'SYM_CODE_START(return_to_handler)',
    '  UNWIND_HINT_UNDEFINED',
    '  addi.d $sp, $sp, -32',
    '  st.d $a0, $sp, 0',
    '  st.d $a1, $sp, 8',
    '  st.d $zero, $sp, 16',
    '  move $a0, $sp',
    '  bl ftrace_return_to_handler',
    '  move $ra, $a0',
    '  ld.d $a0, $sp, 0',
    '  ld.d $a1, $sp, 8',
    '  addi.d $sp, $sp, 32',
    '  jr $ra',
    'SYM_CODE_END(return_to_handler)',
    'SYM_KIND(return_to_handler, return-trampoline)',
    cfunc('ftrace_return_to_handler', ['FGRAPH_RETURN $a0']),
    '',
    '// ---- kretprobes (rethook): the kprobe at entry saved ra and pointed it here',
    'SYM_CODE_START(arch_rethook_trampoline)',
    '  UNWIND_HINT_UNDEFINED',
    `  addi.d $sp, $sp, -${A.PT_REGS_SIZE}`,
    ...Array.from({ length: 8 }, (_, k) => `  st.d $a${k}, $sp, ${A.PT_R4 + 8 * k}`),
    `  addi.d $t0, $sp, ${A.PT_REGS_SIZE}`,
    `  st.d $t0, $sp, ${A.PT_R3}`,
    '  move $a0, $sp',
    '  bl arch_rethook_trampoline_callback',
    '  move $ra, $a0',
    ...Array.from({ length: 8 }, (_, k) => `  ld.d $a${k}, $sp, ${A.PT_R4 + 8 * k}`),
    `  addi.d $sp, $sp, ${A.PT_REGS_SIZE}`,
    '  jr $ra',
    'SYM_CODE_END(arch_rethook_trampoline)',
    'SYM_KIND(arch_rethook_trampoline, return-trampoline)',
    cfunc('arch_rethook_trampoline_callback', ['PREEMPT_DISABLE', 'KRETPROBE_RETURN $a0', 'PREEMPT_ENABLE']),
    '',
    "// ---- synchronous exceptions: a kprobe's break and a kernel page fault (which may sleep)",
    cfunc('do_bp', ['bl kprobe_breakpoint_handler']),
    cfunc('kprobe_breakpoint_handler', ['BODY 1', 'WALK_POINT brk', 'BODY 1']),
    cfunc('do_page_fault', [`li.d $t0, ${A.CSR_CRMD_IE}`, `li.d $t2, ${A.CSR_CRMD_IE}`, 'csrxchg $t0, $t2, crmd', 'bl handle_mm_fault']),
    cfunc('handle_mm_fault', ['BODY 1', 'WALK_POINT page-fault', 'bl schedule', 'BODY 1']),
  );
}

export type { WorkloadCode };

export const BPF_PROG = 'bpf_prog_6deef7357e7b4530';

/** A leaf: no frame, ra stays in its register. */
const leaf = (name: string, n = 2): string => lines(`SYM_FUNC_START(${name})`, `  BODY ${n}`, '  jr $ra', `SYM_FUNC_END(${name})`);

/** regscopy_fn's frame: a local struct pt_regs at its sp, the frame record above it. */
export const REGS_COPY_FRAME = A.PT_REGS_SIZE + 16;
/** Where regscopy_fn keeps its local struct pt_regs: fp - this (its frame record is above the copy). */
export const REGS_COPY_OFFSET = REGS_COPY_FRAME;

export function workloadCode(w: Workload): WorkloadCode {
  if (isGenerated(w)) return loongarch64Code(programOf(w));
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
        kernel: lines(cfunc('sys_modcall', ['la.pcrel $t1, mod_fn', 'jirl $ra, $t1, 0']), cfunc('mod_helper_target', ['BODY 1', 'bl schedule'])),
        module: lines(
          cfunc('mod_fn', ['BODY 1', 'bl __plt_mod_helper_target', 'BODY 1']),
          '// module PLT entry to a kernel symbol out of range',
          'SYM_CODE_START(__plt_mod_helper_target)',
          '  la.abs $t1, mod_helper_target',
          '  jr $t1',
          'SYM_CODE_END(__plt_mod_helper_target)',
          'SYM_KIND(__plt_mod_helper_target, plt)',
        ),
      };
    case 'bpf-sleep':
      return {
        syscall: 'sys_bpf_run',
        kernel: lines(cfunc('sys_bpf_run', [`la.pcrel $t1, ${BPF_PROG}`, 'jirl $ra, $t1, 0']), cfunc('bpf_helper', ['BODY 1', 'bl schedule'])),
        bpf: lines(`${BPF_PROG}:`, '  addi.d $sp, $sp, -32', '  st.d $ra, $sp, 24', '  st.d $fp, $sp, 16', '  addi.d $fp, $sp, 32', '  BODY 1', '  la.abs $t1, bpf_helper', '  jirl $ra, $t1, 0', '  ld.d $ra, $sp, 24', '  ld.d $fp, $sp, 16', '  addi.d $sp, $sp, 32', '  jr $ra'),
      };
    case 'efi-call':
      return {
        syscall: 'sys_efi',
        kernel: lines(cfunc('sys_efi', ['bl efi_call_rts']), cfunc('efi_call_rts', ['la.abs $t2, efi_get_time', 'jirl $ra, $t2, 0'])),
        efi: lines('efi_get_time:', '  addi.d $sp, $sp, -32', '  st.d $s1, $sp, 0', '  BODY 4', '  ld.d $s1, $sp, 0', '  addi.d $sp, $sp, 32', '  jr $ra'),
      };
    case 'nonstandard-sleep':
      return {
        syscall: 'sys_nonstd',
        kernel: lines(
          cfunc('sys_nonstd', ['bl nonstd_fn']),
          '// saves the frame record but never points fp above it',
          'SYM_FUNC_START(nonstd_fn)',
          '  addi.d $sp, $sp, -32',
          '  st.d $ra, $sp, 24',
          '  st.d $fp, $sp, 16',
          '  BODY 1',
          '  bl schedule',
          '  ld.d $ra, $sp, 24',
          '  ld.d $fp, $sp, 16',
          '  addi.d $sp, $sp, 32',
          '  jr $ra',
          'SYM_FUNC_END(nonstd_fn)',
          'STACK_FRAME_NON_STANDARD(nonstd_fn)',
        ),
      };
    case 'fp-violation':
      return {
        syscall: 'sys_fpviol',
        kernel: lines(
          cfunc('sys_fpviol', ['bl fpviol_fn']),
          '// "inline asm" calls fpviol_leaf before the frame is set up, keeping ra in t2 meanwhile',
          'SYM_FUNC_START(fpviol_fn)',
          '  move $t2, $ra',
          '  bl fpviol_leaf',
          '  move $ra, $t2',
          ind(prologue()),
          '  BODY 1',
          ind(epilogue()),
          'SYM_FUNC_END(fpviol_fn)',
          cfunc('fpviol_leaf', ['BODY 1', 'bl schedule']),
        ),
      };
    case 'tail-call':
      return {
        syscall: 'sys_tail',
        kernel: lines(cfunc('sys_tail', ['bl tail_a', 'BODY 1']), 'SYM_FUNC_START(tail_a)', ind(prologue()), '  BODY 1', ind(epilogue().slice(0, 3)), '  b tail_b', 'SYM_FUNC_END(tail_a)', cfunc('tail_b', ['BODY 1', 'bl schedule'])),
      };
    case 'unreachable-code':
      return {
        syscall: 'sys_unreach',
        kernel: lines(cfunc('sys_unreach', ['BODY 1', 'bl schedule']), '// SYM_CODE that nothing jumps to and no hint describes', 'SYM_CODE_START(orphan_stub)', '  BODY 2', '  jr $ra', 'SYM_CODE_END(orphan_stub)'),
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
          '  jr $ra',
          'SYM_CODE_END(hint_undef_code)',
        ),
      };
    case 'regs-copy-sleep':
      return {
        syscall: 'sys_regscopy',
        kernel: lines(cfunc('sys_regscopy', ['BODY 1', 'bl regscopy_fn', 'BODY 1']), cfunc('regscopy_fn', ['BODY 1', 'bl schedule', 'BODY 1'], REGS_COPY_FRAME)),
      };
    case 'lr-in-gpr':
      return lrInGpr();
    default:
      throw new Error(`loongarch64 builds no workload ${w}`);
  }
}

/**
 * Spec 3.3: "during the function body the return address may be held in an arbitrary general purpose
 * register". lrgpr_leaf keeps no frame, moves its return address to t2 and uses ra as a scratch register
 * holding a text address (inside lrgpr_table), so ra is stale while its body runs.
 */
function lrInGpr(): WorkloadCode {
  return {
    syscall: 'sys_lrgpr',
    kernel: lines(
      cfunc('sys_lrgpr', ['BODY 1', 'bl lrgpr_fn', 'BODY 1']),
      cfunc('lrgpr_fn', ['BODY 1', 'bl lrgpr_leaf', 'BODY 1', 'bl schedule', 'BODY 1']),
      'SYM_FUNC_START(lrgpr_leaf)',
      '  move $t2, $ra',
      '  la.pcrel $ra, lrgpr_table',
      '  addi.d $ra, $ra, 8',
      '  ld.d $t1, $ra, 0',
      '  addi.d $t1, $t1, 1',
      '  move $a2, $t1',
      '  jr $t2',
      'SYM_FUNC_END(lrgpr_leaf)',
      cfunc('lrgpr_table', ['BODY 2']),
    ),
  };
}

/** Functions the real kernel never lets ftrace or kprobes patch (noinstr / notrace / NOKPROBE). */
export const NOINSTR: ReadonlySet<string> = new Set([
  '__switch_to',
  '__schedule',
  'do_syscall',
  'do_vint',
  'irqentry_exit',
  'do_bp',
  'kprobe_breakpoint_handler',
  'do_page_fault',
  'ftrace_graph_func',
  'ftrace_return_to_handler',
  'arch_rethook_trampoline_callback',
]);

/** The ftrace call site: the two nops of -fpatchable-function-entry=2, patched (ftrace_make_call()). */
export const FTRACE_CALLSITE = ['move $t0, $ra', 'bl ftrace_caller'];


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
  for (const v of VECTORS) units.push({ region: MAP.vectors.name, base: vectorAddr(v.ecode), text: handlerText(v.handler), labelSuffix: `$v${v.ecode}` });
  const prog = assemble(units);
  for (const b of prog.blocks) {
    const r = Object.values(MAP).find((m) => m.name === b.region)!;
    if (b.end > r.base + r.size) throw new Error(`${b.region} overflows its region`);
    if (b.region === MAP.vectors.name && b.end - b.base > A.VECSIZE) throw new Error(`an exception handler copied at ${b.base.toString(16)} is longer than VECSIZE`);
  }
  return { workload: w, code, prog, fgraph: new Set(ins?.fgraph ?? []) };
}

