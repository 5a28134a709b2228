/**
 * Scenes: a task of a simulated kernel, run on the machine to one moment. Features describe
 * scenes declaratively (SceneSpec); each architecture's kit builds them (src/kernel/<arch>/kit.ts).
 */
import type { Snapshot } from '../snapshot/types';
import type { GroundTruth } from '../truth/shadow';
import type { Arch } from '../snapshot/types';

/**
 * Workloads: what the task runs. Every arch kit builds all arch-neutral workloads from its own
 * assembly with the same function names, so features can name them.
 */
export type Workload =
  /** user task: syscall entry -> sys_sleep -> do_nanosleep -> schedule -> __schedule -> switch */
  | 'syscall-sleep'
  /** kernel thread: ret_from_fork -> kthread -> worker_thread -> schedule ... */
  | 'kthread-sleep'
  /** syscall entry -> sys_work -> work_a -> work_b -> work_c (leaf body), back to user */
  | 'work-chain'
  /** syscall -> sys_modcall -> mod_fn (module text) -> PLT/veneer -> mod_helper_target -> schedule */
  | 'module-sleep'
  /** syscall -> sys_bpf_run -> bpf_prog_<tag> (BPF JIT) -> bpf_helper -> schedule */
  | 'bpf-sleep'
  /** syscall -> sys_efi -> efi_call_rts -> efi_get_time (foreign EFI code), body runs there */
  | 'efi-call'
  /** syscall -> sys_nonstd -> nonstd_fn (STACK_FRAME_NON_STANDARD) -> schedule */
  | 'nonstandard-sleep'
  /** syscall -> sys_fpviol -> fpviol_fn (inline asm: call before the frame is set up) -> fpviol_leaf -> schedule */
  | 'fp-violation'
  /** arm64 only: the spec's `function:` example verbatim, called from sys_specfn, calling other_function */
  | 'spec-function'
  /** arm64 only: the spec's `caller:` example verbatim (ADR LR / BLR LR), calling callee */
  | 'spec-caller'
  /** syscall -> sys_tail -> tail_a which tail-calls (jumps to) tail_b -> schedule */
  | 'tail-call'
  /** a SYM_CODE block reached neither from known code nor by a hint (build-time analysis only) */
  | 'unreachable-code'
  /** a SYM_CODE block with an UNWIND_HINT_UNDEFINED region executed by the task */
  | 'hint-undefined'
  /** syscall -> sys_regscopy -> regscopy_fn (a local buffer the size of struct pt_regs) -> schedule */
  | 'regs-copy-sleep'
  /**
   * arm64 only: syscall -> sys_lrgpr -> lrgpr_fn -> lrgpr_leaf, a leaf that moves its return address to X9
   * and uses X30 as a general purpose register (returning with RET X9); then lrgpr_fn -> schedule
   */
  | 'lr-in-gpr'
  /**
   * powerpc64 only: syscall -> sys_warn -> warn_fn, which takes a WARN trap (a program check handled and
   * returned from on the task stack), then calls down to schedule() with a frame lying exactly over the
   * dead interrupt frame: its stale pt_regs in that frame's unused words, its "regs" marker cleared on return
   */
  | 'stale-marker-sleep'
  /**
   * powerpc64 only: syscall -> sys_klp -> klp_caller -> klp_old_fn, livepatched: its ftrace call site leads
   * through livepatch_handler (the real LR on the livepatch stack) to klp_new_fn -> schedule
   */
  | 'livepatch-sleep'
  /**
   * A generated program (src/generate): `generated:<id>` names a program registered with
   * src/generate/registry.ts, whose code each kit emits for its arch (never in a kit's `workloads` list).
   */
  | `generated:${string}`;

export interface Instrumentation {
  /** Functions traced by the function-graph tracer (ftrace entry trampoline + return_to_handler). */
  fgraph?: string[];
  /** Functions with a kretprobe (return address rewritten to __kretprobe_trampoline). */
  kretprobe?: string[];
  /** x86_64: functions with an optimised kprobe (JMP into an optprobe trampoline) at the given instruction index. */
  optprobe?: { fn: string; index: number }[];
  /**
   * arm64: functions patched with DYNAMIC_FTRACE_WITH_REGS call sites (MOV X9, X30; BL <trampoline>);
   * riscv64: with the ftrace call site before the prologue (auipc t0 / jalr t0, ra left alone).
   */
  ftraceRegs?: string[];
}

/** An instruction boundary: the `index`-th instruction of function `fn` (0-based), its `occurrence`-th execution (1-based). */
export interface InstructionPoint {
  fn: string;
  index: number;
  occurrence?: number;
}

/**
 * 'brk': a synchronous exception taken in kernel code, a kprobe's breakpoint (BRK on arm64, int3 on
 * x86_64) hit before the instruction; its handler runs on the task stack. 'page-fault': a kernel-mode page
 * fault taken at the instruction (a fault on a user address in kernel code); its handler may sleep, so
 * `walk: 'preempted'` walks the task blocked in schedule() below the fault handler.
 */
export type ExceptionKind = 'irq' | 'nmi' | 'brk' | 'page-fault';

export type Moment =
  /** Run until the task is switched out in schedule(): the common livepatch case. */
  | { kind: 'blocked' }
  /**
   * Take an exception just before the instruction at `at` executes. `walk: 'in-handler'` walks
   * current from inside the handler (on the IRQ/NMI stack); `'preempted'` lets the IRQ preempt the
   * task, which then blocks in schedule() with the exception frame on its stack.
   * `nested: 'nmi'` takes an NMI inside the IRQ handler and walks from the NMI handler: at the handler's
   * walk point, or, with `nestedAfter: k`, before the k-th instruction the CPU executes from the IRQ's
   * vector on (its entry code, the stack switch, the handler, its exit); a k past the IRQ's return makes
   * buildScene throw MomentPastException.
   */
  | { kind: 'exception'; exception: ExceptionKind; at: InstructionPoint; walk: 'in-handler' | 'preempted'; nested?: 'nmi'; nestedAfter?: number }
  /**
   * Run until the first kretprobe return handler runs (the probed function has returned into the
   * kretprobe trampoline), which walks current: arch_stack_walk_reliable() on the running task, from
   * the handler, with no exception in between. The task's instances of that frame are still listed.
   */
  | { kind: 'kretprobe-handler' }
  /** Stop at an instruction boundary by step count from the start of the workload (sweeps use this). */
  | { kind: 'exception-at-step'; exception: ExceptionKind; step: number; walk: 'in-handler' | 'preempted'; nested?: 'nmi'; nestedAfter?: number };

/** Corruption applied to the task's stack after the moment is reached (spec 2, robustness). */
export type Corruption =
  | 'frame-pointer-zeroed' // the innermost saved frame link is 0 before the final frame
  | 'frame-chain-cycle' // a saved frame link points back at an inner frame record
  | 'frame-pointer-misaligned' // a saved frame link is not 16/8-byte aligned
  | 'frame-pointer-unmapped' // a saved frame link points into unmapped memory
  | 'frame-pointer-other-task' // a saved frame link points into another task's stack
  | 'frame-pointer-downward' // a saved frame link points below the current record (stack grows the wrong way)
  | 'frame-pointer-straddles-stack-top' // a saved frame link points 8 bytes below the top of its stack: the record would straddle the top
  | 'return-address-garbage' // a saved return address is not kernel text
  // The innermost kernel-mode exception frame (pt_regs) on the task's stacks (exception moments only):
  | 'exception-pc-garbage' // its saved pc / ip is not kernel text
  | 'exception-sp-unmapped' // its saved sp points into unmapped memory
  | 'exception-sp-other-task' // its saved sp points into another task's stack
  | 'exception-fp-misaligned' // its saved x29 / rbp is misaligned
  | 'exception-fp-other-task' // its saved x29 / rbp points at another task's frame record
  // The task's tracing state, while a return trampoline's address is on its stack (src/kernel/tracing.ts):
  | 'fgraph-ret-stack-missing' // graph tracing state NULL (no task->ret_stack)
  | 'fgraph-ret-stack-empty' // task->ret_stack holds no entry
  | 'fgraph-ret-stack-wrong-key' // the innermost ret_stack entry's key (retp) matches no slot
  | 'fgraph-ret-stack-wrong-ret' // the innermost ret_stack entry's saved return address is not kernel text
  | 'kretprobe-instances-empty' // the task's kretprobe instance list is empty
  | 'kretprobe-instance-wrong-key' // the newest kretprobe instance's key (retp) matches no slot
  | 'kretprobe-instance-wrong-ret' // the newest kretprobe instance's saved return address is not kernel text
  // A saved frame link points at a stale copy of the task's user-mode pt_regs (its FINAL frame record) left
  // mid-stack, in the local struct pt_regs of regscopy_fn (workload regs-copy-sleep): the end met too early.
  | 'frame-pointer-to-stale-final'
  // x86_64: the return address of regscopy_fn's call to schedule() is overwritten with the entry code's return
  // point after do_syscall_64, whose ORC entry says user-mode pt_regs follow: they are read from the stale
  // copy in regscopy_fn's frame, right above the slot.
  | 'return-address-to-stale-user-regs';

export interface SceneSpec {
  workload: Workload;
  instrument?: Instrumentation;
  moment: Moment;
  corrupt?: Corruption;
  /**
   * Which saved frame record a frame-record corruption edits: 1 (the default) is the innermost one the
   * task's frame pointer points at, 2 the record its link points at, and so on up the chain.
   */
  corruptDepth?: number;
}

/** A build-time finding of the objtool-like analyser. */
export interface Finding {
  severity: 'warning' | 'error';
  kind: 'fp-protocol' | 'unreachable-instruction' | 'undefined-stack-state' | 'non-standard-skipped' | 'stack-state-mismatch';
  fn: string;
  addr: number;
  message: string;
}

export interface Scene {
  spec: SceneSpec;
  arch: Arch;
  /** What the unwinder sees. */
  snapshot: Snapshot;
  /** What the task really returns to at that moment (from the interpreter's shadow record). */
  truth: GroundTruth;
  /** Findings of the analyser over the kernel image the scene ran on. */
  findings: Finding[];
  /** Human-readable description of the moment ("IRQ before work_b+0x8 (stp x29, x30, [sp, #-16]!)"). */
  moment: string;
}

/** A sweep: the same workload with an exception at every instruction boundary the task executes. */
export interface SweepSpec {
  workload: Workload;
  instrument?: Instrumentation;
  exception: ExceptionKind;
  walk: 'in-handler' | 'preempted';
  nested?: 'nmi';
  /** Only boundaries inside these functions (default: every boundary of the workload's kernel path). */
  functions?: string[];
}

export interface ArchKit {
  arch: Arch;
  /** Workloads this arch can build (arm64-only examples are absent on x86_64, and so on). */
  workloads: readonly Workload[];
  buildScene(spec: SceneSpec): Scene;
  sweep(spec: SweepSpec): Iterable<Scene>;
  /** Analyser findings for the kernel image built with `workload` (build-time checks). */
  analyse(workload: Workload): Finding[];
  /** The text of each instruction of `fn`, by index, in the image built for `workload` and `instrument`. */
  instructions(workload: Workload, instrument: Instrumentation | undefined, fn: string): string[];
  /**
   * This arch's own forms of the spec's code examples (`function:`, `caller:`, the ftrace call site), by
   * name, as its kernel image builds them, with the workload that runs each: features quote them, and the
   * quote is checked against this text. Absent: the arch's examples are the spec's own (src/conformance/spec-text.ts).
   */
  examples?: Readonly<Record<string, { text: string; workload?: Workload }>>;
  /**
   * The exception kinds this arch has (loongarch64 has no NMI); a scenario needing another is not
   * applicable to it. Absent: every kind.
   */
  exceptions?: readonly ExceptionKind[];
}
