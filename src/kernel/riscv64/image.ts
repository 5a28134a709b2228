/**
 * The simulated riscv64 kernel image: memory map and kernel code in riscv64 assembly. Structure
 * follows today's arch/riscv/kernel/entry.S (handle_exception, ret_from_exception, ret_from_fork,
 * __switch_to, call_on_irq_stack), traps.c (do_irq, do_trap_ecall_u, do_trap_break), mcount-dyn.S
 * (ftrace_caller entered from the `auipc t0 / jalr t0` call site), mcount.S (return_to_handler) and
 * probes/rethook_trampoline.S, plus the reliable-stacktrace series under review: SAVE_ALL ends by
 * zeroing pt_regs->stackframe, typing it FINAL (trap from U-mode) or PT_REGS (trap from S-mode), and
 * pointing s0 just above it, so the handlers' frame records chain onto the boundary.
 * CONFIG_FRAME_POINTER: a C function's frame record {s0, ra} is the 16 bytes below its s0.
 */
import type { WorkloadCode } from '../workload-code';
import { instrumentEntries } from '../instrument';
import { RISCV64_ABI as A } from '../../isa/riscv64/abi';
import { assemble, type AsmUnit, type Program } from '../../isa/riscv64/assembler';
import type { Instrumentation, Workload } from '../../scene/types';
import { isGenerated, programOf } from '../../generate/registry';
import { riscv64Code } from '../../generate/emit-riscv64';

/**
 * Memory map (internal numbers, src/machine/addr.ts). Sv48-style canonical addresses: the kernel image
 * at 0xffffffff_80010000, modules, BPF and trampolines in the module area just below it
 * (0xffffffff_0xxxxxxx), stacks in the vmalloc area (0xffffffc6_00xxxxxx), EFI runtime code low.
 */
export const MAP = {
  ktext: { name: 'kernel-text', kind: 'kernel-text', base: 0xffff80010000, size: 0x10000 },
  modtext: { name: 'module-text', kind: 'module-text', base: 0xffff01000000, size: 0x1000 },
  bpf: { name: 'bpf-jit', kind: 'bpf-jit', base: 0xffff02000000, size: 0x1000 },
  tramp: { name: 'trampoline-text', kind: 'trampoline-text', base: 0xffff03000000, size: 0x1000 },
  efi: { name: 'efi-runtime', kind: 'foreign-text', base: 0x00001f000000, size: 0x1000 },
  task: { name: 'task-stack-100', kind: 'task-stack', base: 0xffc600080000, size: A.THREAD_SIZE, owner: '100' },
  other: { name: 'task-stack-200', kind: 'task-stack', base: 0xffc600090000, size: A.THREAD_SIZE, owner: '200' },
  irq: { name: 'irq-stack-cpu0', kind: 'irq-stack', base: 0xffc6000a0000, size: A.IRQ_STACK_SIZE, owner: '0' },
  overflow: { name: 'overflow-stack-cpu0', kind: 'overflow-stack', base: 0xffc6000b0000, size: A.OVERFLOW_STACK_SIZE, owner: '0' },
  sse: { name: 'sse-stack-cpu0', kind: 'nmi-stack', base: 0xffc6000d0000, size: A.IRQ_STACK_SIZE, owner: '0' },
  data: { name: 'kernel-data', kind: 'data', base: 0xffff80400000, size: 0x1000 },
} as const;

/** task_struct of the task (tp in the kernel): thread_info's kernel_sp / user_sp, then thread (ra, sp, s0..s11). */
export const TASK = MAP.data.base + 0x100;
export const OTHER_TASK = MAP.data.base + 0x300;
export const TI_KERNEL_SP = 0x10;
export const TI_USER_SP = 0x18;
export const TASK_THREAD = 0x40;
/** The SBI's record of what an SSE event interrupted (pc, sp), read by handle_sse. */
export const SSE_INTERRUPTED = MAP.data.base + 0x600;
export const TASK_PT_REGS = MAP.task.base + MAP.task.size - A.PT_REGS_SIZE;
export const OTHER_PT_REGS = MAP.other.base + MAP.other.size - A.PT_REGS_SIZE;
/** The frame pointer whose record is task_pt_regs(task)->stackframe. */
export const FINAL_FP = TASK_PT_REGS + A.S_STACKFRAME + A.FRAME_RECORD_OFFSET;
export const USER_PC = 0x400100;
export const USER_SP = 0x7ffffff0;

/** struct ftrace_regs as ftrace_caller lays it out on the stack (mcount-dyn.S SAVE_ABI_REGS). */
export const FREGS = { EPC: 0, RA: 8, S0: 16, T1: 24, A0: 32, SIZE: 112 } as const;

const lines = (...ls: (string | string[])[]): string => ls.flat().join('\n');
const ind = (ls: string[]): string[] => ls.map((l) => '  ' + l);

/** The prologue of a C function with a frame of `frame` bytes: the record {s0, ra} at the top. */
export const prologue = (frame = 16): string[] => [`addi sp, sp, -${frame}`, `sd ra, ${frame - 8}(sp)`, `sd s0, ${frame - 16}(sp)`, `addi s0, sp, ${frame}`];
export const epilogue = (frame = 16): string[] => [`ld ra, ${frame - 8}(sp)`, `ld s0, ${frame - 16}(sp)`, `addi sp, sp, ${frame}`, 'ret'];

/** A compiled C function: prologue, body, epilogue. */
export function cfunc(name: string, body: string[], frame = 16): string {
  return lines(`SYM_FUNC_START(${name})`, ind(prologue(frame)), ind(body), ind(epilogue(frame)), `SYM_FUNC_END(${name})`);
}

const GPRS = ['ra', 'gp', 't0', 't1', 't2', 's0', 's1', 'a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 's2', 's3', 's4', 's5', 's6', 's7', 's8', 's9', 's10', 's11', 't3', 't4', 't5', 't6'];
const NUM: Record<string, number> = { ra: 1, gp: 3, tp: 4, t0: 5, t1: 6, t2: 7, s0: 8, s1: 9, a0: 10, a1: 11, a2: 12, a3: 13, a4: 14, a5: 15, a6: 16, a7: 17, s2: 18, s3: 19, s4: 20, s5: 21, s6: 22, s7: 23, s8: 24, s9: 25, s10: 26, s11: 27, t3: 28, t4: 29, t5: 30, t6: 31 };
/** pt_regs slot of a register: x_n at 8 * n (x0's slot holds epc). */
export const ptSlot = (r: string): number => 8 * NUM[r]!;
const saveGprs = (except: string[] = []): string[] => GPRS.filter((r) => !except.includes(r)).map((r) => `sd ${r}, ${ptSlot(r)}(sp)`);
const restoreGprs = (except: string[] = []): string[] => GPRS.filter((r) => !except.includes(r)).map((r) => `ld ${r}, ${ptSlot(r)}(sp)`);

/**
 * The series' addition to SAVE_ALL: pt_regs->stackframe zeroed, typed by where the trap came from
 * (sstatus.SPP clear: U-mode, the FINAL record of the task; set: an exception boundary), and s0 set
 * to the frame pointer of that record. `status` holds the saved sstatus.
 */
function metaRecord(status: string, fixed?: number): string[] {
  return [
    `sd zero, ${A.S_STACKFRAME}(sp)`,
    `sd zero, ${A.S_STACKFRAME + 8}(sp)`,
    ...(fixed !== undefined
      ? [`li t1, ${fixed}`]
      : [`andi t0, ${status}, ${A.SR_SPP}`, `li t1, ${A.FRAME_META_TYPE_FINAL}`, 'beqz t0, .Lmeta_typed', `li t1, ${A.FRAME_META_TYPE_PT_REGS}`, '.Lmeta_typed:']),
    `sd t1, ${A.S_STACKFRAME_TYPE}(sp)`,
    `addi s0, sp, ${A.S_STACKFRAME + A.FRAME_RECORD_OFFSET}`,
  ];
}

function coreText(kthreadFn = 'worker_thread'): string {
  return lines(
    '// ---- the trap vector (stvec): syscalls, IRQs, breakpoints, page faults',
    'SYM_CODE_START(handle_exception)',
    '  UNWIND_HINT_UNDEFINED',
    '  csrrw tp, sscratch, tp',
    '  bnez tp, .Lsave_context',
    '  csrr tp, sscratch',
    `  sd sp, ${TI_KERNEL_SP}(tp)`,
    '.Lsave_context:',
    `  sd sp, ${TI_USER_SP}(tp)`,
    `  ld sp, ${TI_KERNEL_SP}(tp)`,
    `  addi sp, sp, -${A.PT_REGS_SIZE}`,
    ind(saveGprs()),
    `  ld s0, ${TI_USER_SP}(tp)`,
    '  csrr s1, sstatus',
    '  csrr s2, sepc',
    '  csrr s3, stval',
    '  csrr s4, scause',
    '  csrr s5, sscratch',
    `  sd s0, ${A.PT_SP}(sp)`,
    `  sd s1, ${A.PT_STATUS}(sp)`,
    `  sd s2, ${A.PT_EPC}(sp)`,
    `  sd s3, ${A.PT_BADADDR}(sp)`,
    `  sd s4, ${A.PT_CAUSE}(sp)`,
    `  sd s5, ${A.PT_TP}(sp)`,
    ind(metaRecord('s1')),
    '  UNWIND_HINT_REGS',
    '  csrw sscratch, zero',
    '  mv a0, sp',
    '  TRAP_CLASS t1',
    '  jalr t1',
    '  j ret_from_exception',
    'SYM_CODE_END(handle_exception)',
    'SYM_ENTRY_POINT(handle_exception)',
    '',
    'SYM_CODE_START(ret_from_exception)',
    '  csrci sstatus, 2',
    `  ld s0, ${A.PT_STATUS}(sp)`,
    `  andi s0, s0, ${A.SR_SPP}`,
    '  bnez s0, .Lrestore_all',
    `  addi s0, sp, ${A.PT_REGS_SIZE}`,
    `  sd s0, ${TI_KERNEL_SP}(tp)`,
    '  csrw sscratch, tp',
    '.Lrestore_all:',
    `  ld a0, ${A.PT_STATUS}(sp)`,
    `  ld a2, ${A.PT_EPC}(sp)`,
    '  csrw sstatus, a0',
    '  csrw sepc, a2',
    `  ld tp, ${A.PT_TP}(sp)`,
    ind(restoreGprs()),
    `  ld sp, ${A.PT_SP}(sp)`,
    '  sret',
    'SYM_CODE_END(ret_from_exception)',
    '',
    '// do_trap_ecall_u(regs): the handler address travels in regs->a7 (our syscall number)',
    cfunc('do_trap_ecall_u', ['sd s1, 8(sp)', 'mv s1, a0', `ld t2, ${A.PT_EPC}(s1)`, 'addi t2, t2, 4', `sd t2, ${A.PT_EPC}(s1)`, 'csrsi sstatus, 2', `ld t1, ${A.PT_A7}(s1)`, `ld a0, ${A.PT_A0}(s1)`, 'jalr t1', `sd a0, ${A.PT_A0}(s1)`, 'csrci sstatus, 2', 'ld s1, 8(sp)'], 32),
    '',
    '// ---- kernel threads: copy_thread() left fn in s1, its argument in s2 and s0 at the FINAL record',
    'SYM_CODE_START(ret_from_fork)',
    '  UNWIND_HINT_END_OF_STACK',
    '  call schedule_tail',
    '  beqz s1, .Lret_from_fork_user',
    '  mv a0, s2',
    '  jalr s1',
    '.Lret_from_fork_user:',
    '  j ret_from_exception',
    'SYM_CODE_END(ret_from_fork)',
    'SYM_ENTRY_POINT(ret_from_fork)',
    cfunc('schedule_tail', ['BODY 1']),
    cfunc('kthread', ['BODY 1', `la t1, ${kthreadFn}`, 'jalr t1']),
    'SYM_FUNC_START(worker_thread)',
    ind(prologue()),
    '.Lworker_loop:',
    '  BODY 1',
    '  call schedule',
    '  j .Lworker_loop',
    'SYM_FUNC_END(worker_thread)',
    '',
    '// ---- scheduler',
    cfunc('schedule', ['BODY 1', 'PREEMPT_DISABLE', 'call __schedule', 'PREEMPT_ENABLE']),
    cfunc('__schedule', ['sd s1, 8(sp)', 'BODY 2', 'csrci sstatus, 2', `li a0, ${TASK}`, 'call __switch_to', 'csrsi sstatus, 2', 'ld s1, 8(sp)'], 32),
    '// __switch_to(prev): ra, sp and s0..s11 into prev->thread, then the switch',
    'SYM_FUNC_START(__switch_to)',
    `  sd ra, ${TASK_THREAD + A.THREAD_RA}(a0)`,
    `  sd sp, ${TASK_THREAD + A.THREAD_SP}(a0)`,
    ...Array.from({ length: 12 }, (_, k) => `  sd s${k}, ${TASK_THREAD + A.THREAD_S0 + 8 * k}(a0)`),
    '  CPU_SWITCH',
    '  ret',
    'SYM_FUNC_END(__switch_to)',
    cfunc('preempt_schedule_irq', ['PREEMPT_DISABLE', 'call __schedule', 'PREEMPT_ENABLE']),
    '',
    '// ---- IRQs: do_irq() runs the handler on the IRQ stack when it was taken on the task stack',
    'SYM_FUNC_START(do_irq)',
    ind(prologue()),
    '  la a1, handle_riscv_irq',
    '  ON_TASK_STACK t0',
    '  beqz t0, .Lirq_direct',
    '  call call_on_irq_stack',
    '  j .Lirq_done',
    '.Lirq_direct:',
    '  jalr a1',
    '.Lirq_done:',
    '  NEED_RESCHED t0',
    '  beqz t0, .Lirq_exit',
    '  call preempt_schedule_irq',
    '.Lirq_exit:',
    ind(epilogue()),
    'SYM_FUNC_END(do_irq)',
    '// call_on_irq_stack(regs, fn): a frame record on the task stack, then fn on the per-CPU IRQ stack',
    'SYM_FUNC_START(call_on_irq_stack)',
    ind(prologue()),
    `  li t0, ${MAP.irq.base}`,
    `  li t1, ${MAP.irq.size}`,
    '  add sp, t0, t1',
    '  jalr a1',
    '  addi sp, s0, -16',
    ind(epilogue()),
    'SYM_FUNC_END(call_on_irq_stack)',
    cfunc('handle_riscv_irq', ['BODY 1', 'call handle_timer_irq']),
    cfunc('handle_timer_irq', ['BODY 1', 'WALK_POINT irq', 'BODY 1']),
    '',
    '// ---- NMI-like: an SBI Supervisor Software Event (the perf overflow NMI). The SBI records what it',
    '// interrupted (pc, sp) and enters on the per-CPU SSE stack; handle_sse builds pt_regs there.',
    'SYM_CODE_START(handle_sse)',
    '  UNWIND_HINT_UNDEFINED',
    `  addi sp, sp, -${A.PT_REGS_SIZE}`,
    ind(saveGprs()),
    `  sd tp, ${A.PT_TP}(sp)`,
    `  li t0, ${SSE_INTERRUPTED}`,
    '  ld t1, 0(t0)',
    `  sd t1, ${A.PT_EPC}(sp)`,
    '  ld t1, 8(t0)',
    `  sd t1, ${A.PT_SP}(sp)`,
    `  li t1, ${A.SR_SPP}`,
    `  sd t1, ${A.PT_STATUS}(sp)`,
    ind(metaRecord('t1', A.FRAME_META_TYPE_PT_REGS)),
    '  UNWIND_HINT_REGS',
    '  mv a0, sp',
    '  call do_sse',
    ind(restoreGprs()),
    '  SSE_COMPLETE',
    'SYM_CODE_END(handle_sse)',
    cfunc('do_sse', ['BODY 1', 'call perf_nmi_handler']),
    cfunc('perf_nmi_handler', ['BODY 1', 'WALK_POINT nmi', 'BODY 1']),
    '',
    '// ---- ftrace (DYNAMIC_FTRACE_WITH_ARGS): call sites are auipc t0 / jalr t0 before the prologue,',
    '// so at the start of the trampoline the return address into the traced function is in t0 and ra',
    '// still holds the traced function\'s own return address',
    'SYM_CODE_START(ftrace_caller)',
    '  UNWIND_HINT_UNDEFINED',
    `  addi sp, sp, -${FREGS.SIZE}`,
    `  sd t0, ${FREGS.EPC}(sp)`,
    `  sd ra, ${FREGS.RA}(sp)`,
    `  sd s0, ${FREGS.S0}(sp)`,
    `  sd t1, ${FREGS.T1}(sp)`,
    ...Array.from({ length: 8 }, (_, k) => `  sd a${k}, ${FREGS.A0 + 8 * k}(sp)`),
    '  addi a0, t0, -8',
    '  mv a1, ra',
    '  mv a3, sp',
    '  call ftrace_graph_func',
    ...Array.from({ length: 8 }, (_, k) => `  ld a${k}, ${FREGS.A0 + 8 * k}(sp)`),
    `  ld t1, ${FREGS.T1}(sp)`,
    `  ld s0, ${FREGS.S0}(sp)`,
    `  ld ra, ${FREGS.RA}(sp)`,
    `  ld t0, ${FREGS.EPC}(sp)`,
    `  addi sp, sp, ${FREGS.SIZE}`,
    '  jr t0',
    'SYM_CODE_END(ftrace_caller)',
    'SYM_KIND(ftrace_caller, ftrace-trampoline)',
    '// ftrace_graph_func(ip, parent_ip, op, fregs): prepare_ftrace_return(ip, &fregs->ra, fregs->s0)',
    cfunc('ftrace_graph_func', ['PREEMPT_DISABLE', 'FGRAPH_PREPARE a0, a3', 'PREEMPT_ENABLE']),
    'SYM_CODE_START(return_to_handler)',
    '  UNWIND_HINT_UNDEFINED',
    `  addi sp, sp, -${FREGS.SIZE}`,
    `  sd a0, ${FREGS.A0}(sp)`,
    `  sd a1, ${FREGS.A0 + 8}(sp)`,
    `  sd s0, ${FREGS.S0}(sp)`,
    '  mv a0, sp',
    '  call ftrace_return_to_handler',
    '  mv a2, a0',
    `  ld a0, ${FREGS.A0}(sp)`,
    `  ld a1, ${FREGS.A0 + 8}(sp)`,
    `  addi sp, sp, ${FREGS.SIZE}`,
    '  jr a2',
    'SYM_CODE_END(return_to_handler)',
    'SYM_KIND(return_to_handler, return-trampoline)',
    cfunc('ftrace_return_to_handler', ['FGRAPH_RETURN a0']),
    '',
    '// ---- kretprobes (rethook): arch_rethook_prepare() saved ra and s0 and pointed ra here',
    'SYM_CODE_START(arch_rethook_trampoline)',
    '  UNWIND_HINT_UNDEFINED',
    `  addi sp, sp, -${A.PT_REGS_SIZE}`,
    ind(saveGprs(['ra'])),
    '  mv a0, sp',
    '  call arch_rethook_trampoline_callback',
    '  mv ra, a0',
    ind(restoreGprs(['ra'])),
    `  addi sp, sp, ${A.PT_REGS_SIZE}`,
    '  ret',
    'SYM_CODE_END(arch_rethook_trampoline)',
    'SYM_KIND(arch_rethook_trampoline, return-trampoline)',
    cfunc('arch_rethook_trampoline_callback', ['PREEMPT_DISABLE', 'KRETPROBE_RETURN a0', 'PREEMPT_ENABLE']),
    '',
    '// ---- synchronous exceptions: a kprobe\'s ebreak and a kernel page fault (which may sleep)',
    cfunc('do_trap_break', ['call handle_break']),
    cfunc('handle_break', ['call kprobe_breakpoint_handler']),
    cfunc('kprobe_breakpoint_handler', ['BODY 1', 'WALK_POINT brk', 'BODY 1']),
    cfunc('do_page_fault', ['csrsi sstatus, 2', 'call handle_page_fault']),
    cfunc('handle_page_fault', ['BODY 1', 'WALK_POINT page-fault', 'call schedule', 'BODY 1']),
  );
}

export type { WorkloadCode };

export const BPF_PROG = 'bpf_prog_6deef7357e7b4530';

/** A leaf: no frame record, ra stays in its register. */
const leaf = (name: string, n = 2): string => lines(`SYM_FUNC_START(${name})`, `  BODY ${n}`, '  ret', `SYM_FUNC_END(${name})`);

/**
 * A leaf as gcc compiles one with frame pointers on riscv: s0 is saved and set, ra stays in its register,
 * so the caller's s0 sits at s0 - 8, where a full record keeps ra (the case walk_stackframe()'s
 * fp_is_valid(frame->ra, sp) check handles at an exception boundary).
 */
const leafFrame = (name: string, n = 2): string =>
  lines(`SYM_FUNC_START(${name})`, '  addi sp, sp, -16', '  sd s0, 8(sp)', '  addi s0, sp, 16', `  BODY ${n}`, '  ld s0, 8(sp)', '  addi sp, sp, 16', '  ret', `SYM_FUNC_END(${name})`);

/** Where regscopy_fn keeps its local struct pt_regs: below its frame record (s0 - this). */
export const REGS_COPY_OFFSET = A.FRAME_RECORD_SIZE + A.PT_REGS_SIZE;

/** The riscv64 forms of the spec's 3.6 examples: `function:` keeps a frame record, `caller:` sets ra to its callee and calls through it. */
export const RISCV_FUNCTION = lines('function:', '  addi sp, sp, -16', '  sd ra, 8(sp)', '  sd s0, 0(sp)', '  addi s0, sp, 16', '  call other_function', '  ld ra, 8(sp)', '  ld s0, 0(sp)', '  addi sp, sp, 16', '  ret');
export const RISCV_CALLER = lines('caller:', '  addi sp, sp, -16', '  sd ra, 8(sp)', '  sd s0, 0(sp)', '  addi s0, sp, 16', '  la ra, callee', '  jalr ra, 0(ra)', '  ld ra, 8(sp)', '  ld s0, 0(sp)', '  addi sp, sp, 16', '  ret');

export function workloadCode(w: Workload): WorkloadCode {
  if (isGenerated(w)) return riscv64Code(programOf(w));
  switch (w) {
    case 'syscall-sleep':
      return { syscall: 'sys_sleep', kernel: lines(cfunc('sys_sleep', ['BODY 1', 'call do_nanosleep', 'BODY 1']), cfunc('do_nanosleep', ['BODY 1', 'call schedule'])) };
    case 'kthread-sleep':
      return { kthread: true, kernel: '' };
    case 'work-chain':
      return {
        syscall: 'sys_work',
        kernel: lines(cfunc('sys_work', ['BODY 1', 'call work_a', 'BODY 1']), cfunc('work_a', ['BODY 1', 'call work_b', 'BODY 1']), cfunc('work_b', ['BODY 1', 'call work_c', 'BODY 1']), leafFrame('work_c', 3)),
      };
    case 'module-sleep':
      return {
        syscall: 'sys_modcall',
        kernel: lines(cfunc('sys_modcall', ['la t1, mod_fn', 'jalr t1']), cfunc('mod_helper_target', ['BODY 1', 'call schedule'])),
        module: lines(
          cfunc('mod_fn', ['BODY 1', 'call __plt_mod_helper_target', 'BODY 1']),
          '// module PLT entry to a kernel symbol out of range: auipc t0 / ld t1 / jr t1',
          'SYM_CODE_START(__plt_mod_helper_target)',
          '  la t1, mod_helper_target',
          '  jr t1',
          'SYM_CODE_END(__plt_mod_helper_target)',
          'SYM_KIND(__plt_mod_helper_target, plt)',
        ),
      };
    case 'bpf-sleep':
      return {
        syscall: 'sys_bpf_run',
        kernel: lines(cfunc('sys_bpf_run', [`la t1, ${BPF_PROG}`, 'jalr t1']), cfunc('bpf_helper', ['BODY 1', 'call schedule'])),
        bpf: lines(`${BPF_PROG}:`, ...ind(prologue(32)), '  sd s1, 8(sp)', '  BODY 1', '  la t1, bpf_helper', '  jalr t1', '  ld s1, 8(sp)', ...ind(epilogue(32))),
      };
    case 'efi-call':
      return {
        syscall: 'sys_efi',
        kernel: lines(cfunc('sys_efi', ['call efi_call_rts']), cfunc('efi_call_rts', ['la t2, efi_get_time', 'call __efi_rt_asm_wrapper']), cfunc('__efi_rt_asm_wrapper', ['sd gp, 8(sp)', 'jalr t2', 'ld gp, 8(sp)'], 32)),
        efi: lines('efi_get_time:', '  addi sp, sp, -32', '  sd s1, 0(sp)', '  BODY 4', '  ld s1, 0(sp)', '  addi sp, sp, 32', '  ret'),
      };
    case 'nonstandard-sleep':
      return {
        syscall: 'sys_nonstd',
        kernel: lines(
          cfunc('sys_nonstd', ['call nonstd_fn']),
          '// saves the frame record but never points s0 above it',
          'SYM_FUNC_START(nonstd_fn)',
          '  addi sp, sp, -32',
          '  sd ra, 24(sp)',
          '  sd s0, 16(sp)',
          '  BODY 1',
          '  call schedule',
          '  ld ra, 24(sp)',
          '  ld s0, 16(sp)',
          '  addi sp, sp, 32',
          '  ret',
          'SYM_FUNC_END(nonstd_fn)',
          'STACK_FRAME_NON_STANDARD(nonstd_fn)',
        ),
      };
    case 'fp-violation':
      return {
        syscall: 'sys_fpviol',
        kernel: lines(
          cfunc('sys_fpviol', ['call fpviol_fn']),
          '// "inline asm" calls fpviol_leaf before the frame record is set up',
          'SYM_FUNC_START(fpviol_fn)',
          '  mv t2, ra',
          '  call fpviol_leaf',
          '  mv ra, t2',
          ind(prologue()),
          '  BODY 1',
          ind(epilogue()),
          'SYM_FUNC_END(fpviol_fn)',
          cfunc('fpviol_leaf', ['BODY 1', 'call schedule']),
        ),
      };
    case 'spec-function':
      return { syscall: 'sys_specfn', kernel: lines(cfunc('sys_specfn', ['BODY 1', 'call function', 'BODY 1']), RISCV_FUNCTION, leaf('other_function', 2)) };
    case 'spec-caller':
      return { syscall: 'sys_speccaller', kernel: lines(cfunc('sys_speccaller', ['BODY 1', 'call caller', 'BODY 1']), RISCV_CALLER, leaf('callee', 2)) };
    case 'tail-call':
      return {
        syscall: 'sys_tail',
        kernel: lines(cfunc('sys_tail', ['call tail_a', 'BODY 1']), 'SYM_FUNC_START(tail_a)', ind(prologue()), '  BODY 1', ind(epilogue().slice(0, 3)), '  tail tail_b', 'SYM_FUNC_END(tail_a)', cfunc('tail_b', ['BODY 1', 'call schedule'])),
      };
    case 'unreachable-code':
      return {
        syscall: 'sys_unreach',
        kernel: lines(cfunc('sys_unreach', ['BODY 1', 'call schedule']), '// SYM_CODE that nothing jumps to and no hint describes', 'SYM_CODE_START(orphan_stub)', '  BODY 2', '  ret', 'SYM_CODE_END(orphan_stub)'),
      };
    case 'hint-undefined':
      return {
        syscall: 'sys_hintundef',
        kernel: lines(
          cfunc('sys_hintundef', ['call hint_undef_code']),
          'SYM_CODE_START(hint_undef_code)',
          '  UNWIND_HINT_FUNC',
          ind(prologue()),
          '  BODY 1',
          '  UNWIND_HINT_UNDEFINED',
          '  BODY 1',
          '  call schedule',
          '  BODY 1',
          ind(epilogue().slice(0, 3)),
          '  UNWIND_HINT_FUNC',
          '  ret',
          'SYM_CODE_END(hint_undef_code)',
        ),
      };
    case 'regs-copy-sleep':
      return {
        syscall: 'sys_regscopy',
        kernel: lines(cfunc('sys_regscopy', ['BODY 1', 'call regscopy_fn', 'BODY 1']), cfunc('regscopy_fn', ['BODY 1', 'call schedule', 'BODY 1'], REGS_COPY_OFFSET)),
      };
    case 'lr-in-gpr':
      return lrInGpr();
    default:
      throw new Error(`riscv64 builds no workload ${w}`);
  }
}

/**
 * Spec 3.3: "during the function body the return address may be held in an arbitrary general purpose
 * register". lrgpr_leaf keeps no frame record, moves its return address to t2 and uses ra as a scratch
 * register holding a text address (inside lrgpr_table), so ra is stale while its body runs.
 */
function lrInGpr(): WorkloadCode {
  return {
    syscall: 'sys_lrgpr',
    kernel: lines(
      cfunc('sys_lrgpr', ['BODY 1', 'call lrgpr_fn', 'BODY 1']),
      cfunc('lrgpr_fn', ['BODY 1', 'call lrgpr_leaf', 'BODY 1', 'call schedule', 'BODY 1']),
      'SYM_FUNC_START(lrgpr_leaf)',
      '  mv t2, ra',
      '  la ra, lrgpr_table',
      '  addi ra, ra, 8',
      '  ld t1, 0(ra)',
      '  addi t1, t1, 1',
      '  mv a2, t1',
      '  jr t2',
      'SYM_FUNC_END(lrgpr_leaf)',
      cfunc('lrgpr_table', ['BODY 2']),
    ),
  };
}

/** Functions the real kernel never lets ftrace or kprobes patch (noinstr / notrace / NOKPROBE). */
export const NOINSTR: ReadonlySet<string> = new Set([
  '__switch_to',
  '__schedule',
  'do_trap_ecall_u',
  'do_irq',
  'do_sse',
  'do_trap_break',
  'handle_break',
  'kprobe_breakpoint_handler',
  'do_page_fault',
  'call_on_irq_stack',
  'ftrace_graph_func',
  'ftrace_return_to_handler',
  'arch_rethook_trampoline_callback',
]);

/** The ftrace call site the kernel patches in at a traced function's entry, before its prologue. */
export const FTRACE_CALLSITE = ['auipc t0, ftrace_caller', 'jalr t0, ftrace_caller(t0)'];


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
