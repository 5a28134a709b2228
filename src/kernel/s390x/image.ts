/**
 * The simulated s390x kernel image: memory map and kernel code in s390x assembly. Structure follows
 * today's arch/s390/kernel/entry.S (system_call, the INT_HANDLER ext_int_handler, pgm_check_handler,
 * mcck_int_handler, ret_from_fork, __switch_to_asm), irq.c (do_ext_irq running the handler on the
 * async stack through call_on_stack(), then irqentry_exit() preempting), mcount.S (ftrace_caller
 * entered from the `brasl %r0,ftrace_caller` call site before the prologue; return_to_handler) and
 * rethook.c (arch_rethook_trampoline). C code is built -mpacked-stack -mbackchain: a function saves
 * r6..r15 into its caller's frame (stmg %r6,%r15,72(%r15)), then allocates its own 160-byte frame
 * and stores the back chain as that frame's last word (152). Entry code allocates a frame with a
 * zero back chain right below the pt_regs it saves.
 */
import type { WorkloadCode as FixedWidthWorkloadCode } from '../workload-code';
import { instrumentEntries } from '../instrument';
import { S390X_ABI as A } from '../../isa/s390x/abi';
import { assemble, type AsmUnit, type Program } from '../../isa/s390x/assembler';
import type { Instrumentation, Workload } from '../../scene/types';
import { isGenerated, programOf } from '../../generate/registry';
import { s390xCode } from '../../generate/emit-s390x';

const SZ = A.THREAD_SIZE;
/**
 * Memory map (internal numbers, src/machine/addr.ts): the kernel image, modules, BPF and trampolines
 * in the kernel's high virtual area below 4 TiB, stacks in the vmalloc area. Besides the task stacks,
 * each CPU has its async (IRQ), nodat, restart and machine-check stacks (asm/stacktrace.h's stack
 * types); the nodat and restart stacks are in the model as regions a walk may meet, never used.
 */
export const MAP = {
  ktext: { name: 'kernel-text', kind: 'kernel-text', base: 0x03ffe0010000, size: 0x10000 },
  modtext: { name: 'module-text', kind: 'module-text', base: 0x03ff01000000, size: 0x1000 },
  bpf: { name: 'bpf-jit', kind: 'bpf-jit', base: 0x03ff02000000, size: 0x1000 },
  tramp: { name: 'trampoline-text', kind: 'trampoline-text', base: 0x03ff03000000, size: 0x1000 },
  task: { name: 'task-stack-100', kind: 'task-stack', base: 0x03ff80080000, size: SZ, owner: '100' },
  other: { name: 'task-stack-200', kind: 'task-stack', base: 0x03ff80090000, size: SZ, owner: '200' },
  async: { name: 'async-stack-cpu0', kind: 'irq-stack', base: 0x03ff800a0000, size: SZ, owner: '0' },
  nodat: { name: 'nodat-stack-cpu0', kind: 'exception-stack', base: 0x03ff800b0000, size: SZ, owner: '0' },
  restart: { name: 'restart-stack-cpu0', kind: 'exception-stack', base: 0x03ff800c0000, size: SZ, owner: '0' },
  mcck: { name: 'mcck-stack-cpu0', kind: 'nmi-stack', base: 0x03ff800d0000, size: SZ, owner: '0' },
  data: { name: 'kernel-data', kind: 'data', base: 0x03ffe0400000, size: 0x1000 },
} as const;

/** The initial stack pointer of a stack (STACK_INIT_OFFSET): a frame, then room for pt_regs at the top. */
export const initSp = (r: { base: number }): number => r.base + A.STACK_INIT_OFFSET;
/** task_pt_regs(): the pt_regs at the very top of a task's stack. */
export const TASK_PT_REGS = MAP.task.base + SZ - A.PT_REGS_SIZE;
export const OTHER_PT_REGS = MAP.other.base + SZ - A.PT_REGS_SIZE;

/** The lowcore (this CPU's prefix area, read with absolute addresses), and the fields the model uses. */
export const LC = MAP.data.base;
export const LC_OFF = {
  SVC_OLD_PSW: 0x00,
  PGM_OLD_PSW: 0x10,
  EXT_OLD_PSW: 0x20,
  MCK_OLD_PSW: 0x30,
  RETURN_PSW: 0x40,
  RETURN_MCCK_PSW: 0x50,
  SAVE_AREA_SYNC: 0x80,
  SAVE_AREA_ASYNC: 0xc0,
  GPREGS_SAVE_AREA: 0x100,
  KERNEL_STACK: 0x200,
  ASYNC_STACK: 0x208,
  NODAT_STACK: 0x210,
  RESTART_STACK: 0x218,
  MCCK_STACK: 0x220,
  CURRENT: 0x228,
  PGM_CODE: 0x230,
} as const;
const lc = (k: keyof typeof LC_OFF): number => LC + LC_OFF[k];
/** task_struct of the task, and of another one; thread.ksp at TASK_THREAD. */
export const TASK = MAP.data.base + 0x400;
export const OTHER_TASK = MAP.data.base + 0x600;
export const TASK_THREAD = 0x40;
export const USER_PC = 0x1000100;
export const USER_SP = 0x7fffff00;

/** Program interruption codes modelled: the kprobe breakpoint (an operation exception) and a page fault. */
export const PGM_OPERATION = 0x01;
export const PGM_PAGE_TRANSLATION = 0x11;

const lines = (...ls: (string | string[])[]): string => ls.flat().join('\n');
const ind = (ls: string[]): string[] => ls.map((l) => '  ' + l);

const F = A.STACK_FRAME_OVERHEAD;
const PT = A.PT_REGS_SIZE;
const R = (n: number): number => A.PT_GPRS + 8 * n;

/** The prologue of a C function with `locals` bytes of its own: registers into the caller's frame, then a frame with its back chain. */
export const prologue = (locals = 0): string[] => [`stmg %r6,%r15,${A.SF_GPRS}(%r15)`, 'lgr %r1,%r15', `aghi %r15,-${F + locals}`, `stg %r1,${A.SF_BACKCHAIN}(%r15)`];
export const epilogue = (locals = 0): string[] => [`lmg %r6,%r15,${F + locals + A.SF_GPRS}(%r15)`, 'br %r14'];

/** A compiled C function: prologue, body, epilogue. */
export function cfunc(name: string, body: string[], locals = 0): string {
  return lines(`SYM_FUNC_START(${name})`, ind(prologue(locals)), ind(body), ind(epilogue(locals)), `SYM_FUNC_END(${name})`);
}

/**
 * The common part of the entry handlers once %r15 points at the new frame: zero back chain (pt_regs
 * follow), %r11 = pt_regs, r0..r7 saved, r8..r15 from the save area, the old PSW from %r8/%r9.
 */
function saveRegs(saveArea: keyof typeof LC_OFF): string[] {
  return [`mvghi ${A.SF_BACKCHAIN}(%r15),0`, `la %r11,${F}(%r15)`, `stmg %r0,%r7,${R(0)}(%r11)`, `mvc ${R(8)}(64,%r11),${LC_OFF[saveArea]}(%r13)`, `stmg %r8,%r9,${A.PT_PSW}(%r11)`];
}

/** Back to what the interruption interrupted: the PSW from pt_regs, all registers, LPSWE. */
function restoreRegs(ret: keyof typeof LC_OFF): string[] {
  return [`mvc ${LC_OFF[ret]}(16,%r13),${A.PT_PSW}(%r11)`, `lmg %r0,%r15,${R(0)}(%r11)`, `lpswe ${lc(ret)}(%r0)`];
}

/** A kernel-mode interruption keeps its stack (frame + pt_regs below %r15); one from user mode starts at the top of the task's stack. */
function entryStack(label: string): string[] {
  return ['tmhh %r8,1', `jnz .L${label}_user`, `aghi %r15,-${F + PT}`, `j .L${label}_frame`, `.L${label}_user:`, `lg %r15,${LC_OFF.KERNEL_STACK}(%r13)`, `.L${label}_frame:`];
}

/** call_on_stack(): the handler on a per-CPU stack whose first frame's back chain is the caller's frame address. */
function callOnStack(stack: keyof typeof LC_OFF, fn: string): string[] {
  return ['lgr %r7,%r15', `lg %r15,${lc(stack)}(%r0)`, `la %r1,${F}(%r7)`, `stg %r1,${A.SF_BACKCHAIN}(%r15)`, 'lgr %r2,%r11', `brasl %r14,${fn}`, 'lgr %r15,%r7'];
}

function coreText(kthreadFn?: string): string {
  return lines(
    '// ---- system calls: the SVC new PSW enters here with interrupts off',
    'SYM_CODE_START(system_call)',
    `  stmg %r8,%r15,${lc('SAVE_AREA_SYNC')}(%r0)`,
    '  GET_LC %r13',
    `  lg %r15,${LC_OFF.KERNEL_STACK}(%r13)`,
    `  lmg %r8,%r9,${LC_OFF.SVC_OLD_PSW}(%r13)`,
    ind(saveRegs('SAVE_AREA_SYNC')),
    '  lgr %r2,%r11',
    '  brasl %r14,__do_syscall',
    ind(restoreRegs('RETURN_PSW')),
    'SYM_CODE_END(system_call)',
    'SYM_ENTRY_POINT(system_call)',
    '// __do_syscall(regs): the handler address travels in regs->gprs[1] (our syscall number)',
    cfunc('__do_syscall', ['lgr %r11,%r2', 'LOCAL_IRQ_ENABLE', `lg %r1,${R(1)}(%r11)`, `lg %r2,${R(2)}(%r11)`, 'basr %r14,%r1', `stg %r2,${R(2)}(%r11)`, 'LOCAL_IRQ_DISABLE']),
    '',
    '// ---- a new task: copy_thread() left a frame with a zero back chain below task_pt_regs(), fn in regs->gprs[9]',
    'SYM_CODE_START(ret_from_fork)',
    '  lgr %r3,%r11',
    '  brasl %r14,__ret_from_fork',
    '  GET_LC %r13',
    ind(restoreRegs('RETURN_PSW')),
    'SYM_CODE_END(ret_from_fork)',
    'SYM_ENTRY_POINT(ret_from_fork)',
    cfunc('__ret_from_fork', ['lgr %r11,%r3', 'BODY 1', `lg %r1,${R(9)}(%r11)`, `lg %r2,${R(10)}(%r11)`, 'basr %r14,%r1']),
    // kthread() calls the thread function by pointer: worker_thread, or a generated kernel thread's own
    cfunc('kthread', ['BODY 1', ...(kthreadFn ? [`larl %r1,${kthreadFn}`, 'basr %r14,%r1'] : ['brasl %r14,worker_thread'])]),
    'SYM_FUNC_START(worker_thread)',
    ind(prologue()),
    '.Lworker_loop:',
    '  BODY 1',
    '  brasl %r14,schedule',
    '  j .Lworker_loop',
    'SYM_FUNC_END(worker_thread)',
    '',
    '// ---- scheduler',
    cfunc('schedule', ['BODY 1', 'PREEMPT_DISABLE', 'brasl %r14,__schedule', 'PREEMPT_ENABLE']),
    cfunc('__schedule', ['BODY 2', 'LOCAL_IRQ_DISABLE', `lg %r2,${lc('CURRENT')}(%r0)`, 'brasl %r14,__switch_to', 'LOCAL_IRQ_ENABLE']),
    '// __switch_to(prev): r6..r15 into the frame of __schedule, thread.ksp = %r15, then the switch',
    'SYM_FUNC_START(__switch_to)',
    `  stmg %r6,%r15,${A.SF_GPRS}(%r15)`,
    `  stg %r15,${TASK_THREAD + A.THREAD_KSP}(%r2)`,
    '  CPU_SWITCH',
    `  lmg %r6,%r15,${A.SF_GPRS}(%r15)`,
    '  br %r14',
    'SYM_FUNC_END(__switch_to)',
    cfunc('preempt_schedule_irq', ['PREEMPT_DISABLE', 'LOCAL_IRQ_ENABLE', 'brasl %r14,__schedule', 'LOCAL_IRQ_DISABLE', 'PREEMPT_ENABLE']),
    '',
    '// ---- external interrupts (INT_HANDLER): pt_regs on the interrupted stack, the handler on the async stack',
    'SYM_CODE_START(ext_int_handler)',
    `  stmg %r8,%r15,${lc('SAVE_AREA_ASYNC')}(%r0)`,
    '  GET_LC %r13',
    `  lmg %r8,%r9,${LC_OFF.EXT_OLD_PSW}(%r13)`,
    ind(entryStack('ext')),
    ind(saveRegs('SAVE_AREA_ASYNC')),
    '  lgr %r2,%r11',
    '  brasl %r14,do_ext_irq',
    ind(restoreRegs('RETURN_PSW')),
    'SYM_CODE_END(ext_int_handler)',
    'SYM_ENTRY_POINT(ext_int_handler)',
    '// do_ext_irq(regs): call_on_stack() to the async stack unless already on it; irqentry_exit() may preempt',
    'SYM_FUNC_START(do_ext_irq)',
    ind(prologue()),
    '  lgr %r11,%r2',
    '  ON_TASK_STACK %r1',
    '  ltgr %r1,%r1',
    '  jz .Lext_direct',
    ind(callOnStack('ASYNC_STACK', 'do_irq_async')),
    '  j .Lext_done',
    '.Lext_direct:',
    '  lgr %r2,%r11',
    '  brasl %r14,do_irq_async',
    '.Lext_done:',
    '  NEED_RESCHED %r1',
    '  ltgr %r1,%r1',
    '  jz .Lext_exit',
    '  brasl %r14,preempt_schedule_irq',
    '.Lext_exit:',
    ind(epilogue()),
    'SYM_FUNC_END(do_ext_irq)',
    cfunc('do_irq_async', ['BODY 1', 'brasl %r14,handle_timer_irq']),
    cfunc('handle_timer_irq', ['BODY 1', 'WALK_POINT irq', 'BODY 1']),
    '',
    '// ---- machine checks (the NMI): the CPU saved every register in the lowcore; always the mcck stack',
    'SYM_CODE_START(mcck_int_handler)',
    '  GET_LC %r13',
    `  lmg %r8,%r9,${LC_OFF.MCK_OLD_PSW}(%r13)`,
    `  lg %r15,${LC_OFF.MCCK_STACK}(%r13)`,
    `  la %r11,${F}(%r15)`,
    `  mvc ${R(0)}(128,%r11),${LC_OFF.GPREGS_SAVE_AREA}(%r13)`,
    `  stmg %r8,%r9,${A.PT_PSW}(%r11)`,
    `  mvghi ${A.SF_BACKCHAIN}(%r15),0`,
    '  lgr %r2,%r11',
    '  brasl %r14,s390_do_machine_check',
    ind(restoreRegs('RETURN_MCCK_PSW')),
    'SYM_CODE_END(mcck_int_handler)',
    'SYM_ENTRY_POINT(mcck_int_handler)',
    cfunc('s390_do_machine_check', ['BODY 1', 'brasl %r14,perf_nmi_handler']),
    cfunc('perf_nmi_handler', ['BODY 1', 'WALK_POINT nmi', 'BODY 1']),
    '',
    '// ---- program checks: a kprobe breakpoint, a kernel page fault (which may sleep)',
    'SYM_CODE_START(pgm_check_handler)',
    `  stmg %r8,%r15,${lc('SAVE_AREA_SYNC')}(%r0)`,
    '  GET_LC %r13',
    `  lmg %r8,%r9,${LC_OFF.PGM_OLD_PSW}(%r13)`,
    ind(entryStack('pgm')),
    ind(saveRegs('SAVE_AREA_SYNC')),
    '  lgr %r2,%r11',
    '  brasl %r14,__do_pgm_check',
    ind(restoreRegs('RETURN_PSW')),
    'SYM_CODE_END(pgm_check_handler)',
    'SYM_ENTRY_POINT(pgm_check_handler)',
    '// __do_pgm_check(regs): the pgm_check_table lookup by the interruption code',
    cfunc('__do_pgm_check', ['PGM_CLASS %r1', 'basr %r14,%r1']),
    cfunc('do_trap_break', ['brasl %r14,kprobe_exceptions_notify']),
    cfunc('kprobe_exceptions_notify', ['brasl %r14,kprobe_handler']),
    cfunc('kprobe_handler', ['BODY 1', 'WALK_POINT brk', 'BODY 1']),
    cfunc('do_dat_exception', ['LOCAL_IRQ_ENABLE', 'brasl %r14,handle_mm_fault']),
    cfunc('handle_mm_fault', ['BODY 1', 'WALK_POINT page-fault', 'brasl %r14,schedule', 'BODY 1']),
    '',
    '// ---- ftrace: the call site is `brasl %r0,ftrace_caller` before the prologue, so in the trampoline',
    '// %r0 holds the return address into the traced function and %r14 the traced function\'s own',
    'SYM_CODE_START(ftrace_caller)',
    `  stg %r14,${A.SF_R14}(%r15)`,
    '  lgr %r1,%r15',
    `  aghi %r15,-${F}`,
    `  stg %r1,${A.SF_BACKCHAIN}(%r15)`,
    `  stg %r0,${A.SF_R14}(%r15)`,
    `  stg %r15,${A.SF_R15}(%r15)`,
    '  lgr %r1,%r15',
    `  aghi %r15,-${F + PT}`,
    `  stg %r1,${A.SF_BACKCHAIN}(%r15)`,
    `  stg %r0,${F + A.PT_PSW_ADDR}(%r15)`,
    `  stmg %r2,%r14,${F + R(2)}(%r15)`,
    `  la %r1,${F + F + PT}(%r15)`,
    `  stg %r1,${F + A.PT_R15}(%r15)`,
    '  lgr %r2,%r0',
    `  aghi %r2,-${A.INSN_SIZE}`,
    '  lgr %r3,%r14',
    `  la %r5,${F}(%r15)`,
    '  brasl %r14,ftrace_graph_func',
    `  lg %r1,${F + A.PT_PSW_ADDR}(%r15)`,
    `  lmg %r2,%r15,${F + R(2)}(%r15)`,
    '  br %r1',
    'SYM_CODE_END(ftrace_caller)',
    'SYM_KIND(ftrace_caller, ftrace-trampoline)',
    '// ftrace_graph_func(ip, parent_ip, op, fregs): function_graph_enter_regs(*parent, ip, 0, fregs->gprs[15]) and *parent = return_to_handler',
    cfunc('ftrace_graph_func', ['PREEMPT_DISABLE', 'FGRAPH_PREPARE %r2, %r5', 'PREEMPT_ENABLE']),
    'SYM_CODE_START(return_to_handler)',
    '  stmg %r2,%r5,32(%r15)',
    '  lgr %r1,%r15',
    `  aghi %r15,-${F + PT}`,
    `  stg %r1,${A.SF_BACKCHAIN}(%r15)`,
    `  stg %r1,${F + A.PT_R15}(%r15)`,
    `  la %r2,${F}(%r15)`,
    '  brasl %r14,ftrace_return_to_handler',
    `  aghi %r15,${F + PT}`,
    '  lgr %r14,%r2',
    '  lmg %r2,%r5,32(%r15)',
    '  br %r14',
    'SYM_CODE_END(return_to_handler)',
    'SYM_KIND(return_to_handler, return-trampoline)',
    cfunc('ftrace_return_to_handler', ['FGRAPH_RETURN %r2']),
    '',
    '// ---- kretprobes (rethook): arch_rethook_prepare() saved %r14 and %r15 and pointed %r14 here',
    'SYM_CODE_START(arch_rethook_trampoline)',
    '  lgr %r1,%r15',
    `  aghi %r15,-${F + PT}`,
    `  stg %r1,${A.SF_BACKCHAIN}(%r15)`,
    `  stmg %r0,%r13,${F + R(0)}(%r15)`,
    `  stg %r1,${F + A.PT_R15}(%r15)`,
    `  la %r2,${F}(%r15)`,
    '  brasl %r14,arch_rethook_trampoline_callback',
    '  lgr %r14,%r2',
    `  lmg %r0,%r13,${F + R(0)}(%r15)`,
    `  lg %r15,${F + A.PT_R15}(%r15)`,
    '  br %r14',
    'SYM_CODE_END(arch_rethook_trampoline)',
    'SYM_KIND(arch_rethook_trampoline, return-trampoline)',
    cfunc('arch_rethook_trampoline_callback', ['PREEMPT_DISABLE', 'KRETPROBE_RETURN %r2', 'PREEMPT_ENABLE']),
  );
}

/** The shared workload code without EFI (s390x has none). */
export type WorkloadCode = Omit<FixedWidthWorkloadCode, 'efi'>;

export const BPF_PROG = 'bpf_prog_6deef7357e7b4530';

/** A leaf: no frame, %r14 stays in its register. */
const leaf = (name: string, n = 2): string => lines(`SYM_FUNC_START(${name})`, `  BODY ${n}`, '  br %r14', `SYM_FUNC_END(${name})`);

/** Room regscopy_fn keeps for a local struct pt_regs and the frame below it: a frame with a zero back chain could sit there. */
export const REGS_COPY_LOCALS = F + PT;

/** The s390x forms of the spec's 3.6 examples: `function:` keeps a frame, `caller:` points %r14 at its callee and calls through it. */
export const S390_FUNCTION = lines('function:', ...ind(prologue()), '  brasl %r14,other_function', ...ind(epilogue()));
export const S390_CALLER = lines('caller:', ...ind(prologue()), '  larl %r14,callee', '  basr %r14,%r14', ...ind(epilogue()));

export function workloadCode(w: Workload): WorkloadCode {
  if (isGenerated(w)) return s390xCode(programOf(w));
  switch (w) {
    case 'syscall-sleep':
      return { syscall: 'sys_sleep', kernel: lines(cfunc('sys_sleep', ['BODY 1', 'brasl %r14,do_nanosleep', 'BODY 1']), cfunc('do_nanosleep', ['BODY 1', 'brasl %r14,schedule'])) };
    case 'kthread-sleep':
      return { kthread: true, kernel: '' };
    case 'work-chain':
      return {
        syscall: 'sys_work',
        kernel: lines(cfunc('sys_work', ['BODY 1', 'brasl %r14,work_a', 'BODY 1']), cfunc('work_a', ['BODY 1', 'brasl %r14,work_b', 'BODY 1']), cfunc('work_b', ['BODY 1', 'brasl %r14,work_c', 'BODY 1']), leaf('work_c', 3)),
      };
    case 'module-sleep':
      return {
        syscall: 'sys_modcall',
        kernel: lines(cfunc('sys_modcall', ['larl %r1,mod_fn', 'basr %r14,%r1']), cfunc('mod_helper_target', ['BODY 1', 'brasl %r14,schedule'])),
        module: lines(
          cfunc('mod_fn', ['BODY 1', 'brasl %r14,__plt_mod_helper_target', 'BODY 1']),
          '// module PLT entry to a kernel symbol out of range: larl %r1 / lg %r1 / br %r1',
          'SYM_CODE_START(__plt_mod_helper_target)',
          '  larl %r1,mod_helper_target',
          '  br %r1',
          'SYM_CODE_END(__plt_mod_helper_target)',
          'SYM_KIND(__plt_mod_helper_target, plt)',
        ),
      };
    case 'bpf-sleep':
      return {
        syscall: 'sys_bpf_run',
        kernel: lines(cfunc('sys_bpf_run', [`larl %r1,${BPF_PROG}`, 'basr %r14,%r1']), cfunc('bpf_helper', ['BODY 1', 'brasl %r14,schedule'])),
        bpf: lines(`${BPF_PROG}:`, ...ind(prologue(32)), '  BODY 1', '  larl %r1,bpf_helper', '  basr %r14,%r1', ...ind(epilogue(32))),
      };
    case 'nonstandard-sleep':
      return {
        syscall: 'sys_nonstd',
        kernel: lines(
          cfunc('sys_nonstd', ['brasl %r14,nonstd_fn']),
          '// saves its registers and allocates a frame, but never stores the back chain',
          'SYM_FUNC_START(nonstd_fn)',
          `  stmg %r6,%r15,${A.SF_GPRS}(%r15)`,
          `  aghi %r15,-${F}`,
          '  BODY 1',
          '  brasl %r14,schedule',
          ...ind(epilogue()),
          'SYM_FUNC_END(nonstd_fn)',
          'STACK_FRAME_NON_STANDARD(nonstd_fn)',
        ),
      };
    case 'fp-violation':
      return {
        syscall: 'sys_fpviol',
        kernel: lines(
          cfunc('sys_fpviol', ['brasl %r14,fpviol_fn']),
          '// "inline asm" calls fpviol_leaf before the function saves %r14 and sets up its frame',
          'SYM_FUNC_START(fpviol_fn)',
          '  lgr %r7,%r14',
          '  brasl %r14,fpviol_leaf',
          '  lgr %r14,%r7',
          ...ind(prologue()),
          '  BODY 1',
          ...ind(epilogue()),
          'SYM_FUNC_END(fpviol_fn)',
          cfunc('fpviol_leaf', ['BODY 1', 'brasl %r14,schedule']),
        ),
      };
    case 'spec-function':
      return { syscall: 'sys_specfn', kernel: lines(cfunc('sys_specfn', ['BODY 1', 'brasl %r14,function', 'BODY 1']), S390_FUNCTION, leaf('other_function', 2)) };
    case 'spec-caller':
      return { syscall: 'sys_speccaller', kernel: lines(cfunc('sys_speccaller', ['BODY 1', 'brasl %r14,caller', 'BODY 1']), S390_CALLER, leaf('callee', 2)) };
    case 'tail-call':
      return {
        syscall: 'sys_tail',
        kernel: lines(cfunc('sys_tail', ['brasl %r14,tail_a', 'BODY 1']), 'SYM_FUNC_START(tail_a)', ind(prologue()), '  BODY 1', `  lmg %r6,%r15,${F + A.SF_GPRS}(%r15)`, '  jg tail_b', 'SYM_FUNC_END(tail_a)', cfunc('tail_b', ['BODY 1', 'brasl %r14,schedule'])),
      };
    case 'unreachable-code':
      return {
        syscall: 'sys_unreach',
        kernel: lines(cfunc('sys_unreach', ['BODY 1', 'brasl %r14,schedule']), '// SYM_CODE that nothing jumps to', 'SYM_CODE_START(orphan_stub)', '  BODY 2', '  br %r14', 'SYM_CODE_END(orphan_stub)'),
      };
    case 'hint-undefined':
      return {
        syscall: 'sys_hintundef',
        kernel: lines(
          cfunc('sys_hintundef', ['brasl %r14,hint_undef_code']),
          'SYM_CODE_START(hint_undef_code)',
          '  UNWIND_HINT_FUNC',
          ind(prologue()),
          '  BODY 1',
          '  UNWIND_HINT_UNDEFINED',
          '  BODY 1',
          '  brasl %r14,schedule',
          '  BODY 1',
          `  lmg %r6,%r15,${F + A.SF_GPRS}(%r15)`,
          '  UNWIND_HINT_FUNC',
          '  br %r14',
          'SYM_CODE_END(hint_undef_code)',
        ),
      };
    case 'regs-copy-sleep':
      return {
        syscall: 'sys_regscopy',
        kernel: lines(cfunc('sys_regscopy', ['BODY 1', 'brasl %r14,regscopy_fn', 'BODY 1']), cfunc('regscopy_fn', ['BODY 1', 'brasl %r14,schedule', 'BODY 1'], REGS_COPY_LOCALS)),
      };
    case 'lr-in-gpr':
      return lrInGpr();
    default:
      throw new Error(`s390x builds no workload ${w}`);
  }
}

/**
 * Spec 3.3: "during the function body the return address may be held in an arbitrary general purpose
 * register". lrgpr_leaf keeps no frame, moves its return address to %r5 and uses %r14 as a scratch
 * register holding a text address (inside lrgpr_table), so %r14 is stale while its body runs.
 */
function lrInGpr(): WorkloadCode {
  return {
    syscall: 'sys_lrgpr',
    kernel: lines(
      cfunc('sys_lrgpr', ['BODY 1', 'brasl %r14,lrgpr_fn', 'BODY 1']),
      cfunc('lrgpr_fn', ['BODY 1', 'brasl %r14,lrgpr_leaf', 'BODY 1', 'brasl %r14,schedule', 'BODY 1']),
      'SYM_FUNC_START(lrgpr_leaf)',
      '  lgr %r5,%r14',
      '  larl %r14,lrgpr_table',
      '  aghi %r14,8',
      '  lg %r1,0(%r14)',
      '  aghi %r1,1',
      '  lgr %r2,%r1',
      '  br %r5',
      'SYM_FUNC_END(lrgpr_leaf)',
      cfunc('lrgpr_table', ['BODY 2']),
    ),
  };
}

/** Functions the real kernel never lets ftrace or kprobes patch (noinstr / notrace / NOKPROBE). */
export const NOINSTR: ReadonlySet<string> = new Set([
  '__switch_to',
  '__schedule',
  '__do_syscall',
  'do_ext_irq',
  'do_irq_async',
  's390_do_machine_check',
  '__do_pgm_check',
  'do_trap_break',
  'kprobe_exceptions_notify',
  'kprobe_handler',
  'do_dat_exception',
  'ftrace_graph_func',
  'ftrace_return_to_handler',
  'arch_rethook_trampoline_callback',
]);

/** The ftrace call site the kernel patches in at a traced function's entry, before its prologue. */
export const FTRACE_CALLSITE = ['brasl %r0,ftrace_caller'];

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
  instrumentEntries(units, ins, { ftraceCallsite: FTRACE_CALLSITE, noinstr: NOINSTR });
  const prog = assemble(units);
  for (const b of prog.blocks) {
    const r = Object.values(MAP).find((m) => m.name === b.region)!;
    if (b.end > r.base + r.size) throw new Error(`${b.region} overflows its region`);
  }
  return { workload: w, code, prog, fgraph: new Set(ins?.fgraph ?? []) };
}
