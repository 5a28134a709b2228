/**
 * A snapshot of one task at one moment: the ONLY input an unwinder gets.
 * It is what a real unwinder could see: memory, registers, symbols, unwind metadata and
 * per-task tracing state. It never carries the ground truth or an expected outcome.
 *
 * JSON form: addresses and register values are full 64-bit hex strings (kernel addresses canonical:
 * "0xffff800080010000", "0xffffffff81000000"), memory is base64.
 * The in-memory form (LoadedSnapshot) has numbers and a Memory.
 */
import type { RegionKind } from '../machine/memory';
import type { SymbolKind } from '../machine/symbols';

export const ARCHES = ['arm64', 'x86_64', 'riscv64', 'loongarch64', 's390x', 'powerpc64'] as const;
export type Arch = (typeof ARCHES)[number];
export type Hex = string;

export const SNAPSHOT_VERSION = 1;

export interface SnapshotRegion {
  name: string;
  kind: RegionKind;
  base: Hex;
  size: number;
  owner?: string;
  /** base64 of the region's bytes. Omitted for text regions (code is described by symbols). */
  data?: string;
  /** Instead of data, in walk requests of the sparse-memory protocol extension: the non-zero runs. */
  chunks?: { offset: number; data: string }[];
}

export interface SnapshotSymbol {
  name: string;
  start: Hex;
  end: Hex;
  kind: SymbolKind;
  region: string;
  module?: string;
  nonStandard?: boolean;
  entry?: boolean;
}

/**
 * Kinds of stack a walk may use: the task's own, and the CPU's IRQ stack, x86_64 NMI (IST) stack,
 * other IST stacks (`exception`: #DF, #DB, #MC, #VC, #VC2) and entry (trampoline) stack, all in
 * the cpu_entry_area, arm64 overflow stack and SDEI stacks (normal and critical), as
 * get_stack_info() / kunwind's stackinfo_get_*() list them.
 */
export type StackType = 'task' | 'irq' | 'nmi' | 'exception' | 'entry' | 'overflow' | 'sdei';

/** One stack the walk may legitimately read: the task's own stack and this CPU's exception stacks. */
export interface SnapshotStack {
  region: string;
  type: StackType;
}

/** x86_64 ORC entry (arch/x86/include/asm/orc_types.h), covering [ip, next entry's ip). */
export interface OrcEntry {
  ip: Hex;
  /** CFA base register: where the previous frame's SP is computed from. */
  /** r10 / r13 / di / dx: the CFA is that register's value, read from full pt_regs (get_reg()). */
  spReg: 'sp' | 'bp' | 'sp_indirect' | 'bp_indirect' | 'r10' | 'r13' | 'di' | 'dx' | 'undefined';
  spOffset: number;
  /** Where the caller's RBP was saved: relative to the previous SP (CFA), or unchanged. */
  bpReg: 'undefined' | 'prev_sp' | 'bp';
  bpOffset: number;
  type: 'undefined' | 'end_of_stack' | 'call' | 'regs' | 'regs_partial';
  signal?: boolean;
}

/** arm64 unwind metadata (objtool/SFrame-like), covering [ip, next entry's ip). */
export interface Arm64MetaEntry {
  ip: Hex;
  /** Where this function's return address is: LR, the frame record at FP, or unknown (reject). */
  ra: 'lr' | 'frame' | 'unknown';
  /** Whether FP (X29) holds this function's own frame record ('own') or still the caller's ('caller'). */
  fp: 'own' | 'caller' | 'unknown';
  /** Offset of the CFA from SP when fp is 'caller' (for leaf code with SP adjustments). */
  cfaSpOffset?: number;
  type?: 'undefined' | 'end_of_stack' | 'call' | 'regs';
}

/**
 * loongarch64 ORC entry (arch/loongarch/include/asm/orc_types.h), covering [ip, next entry's ip): the CFA
 * is sp + spOffset or fp itself; the caller's fp and the return address are saved at CFA + offset, or
 * (undefined) still in their registers.
 */
export interface LoongarchOrcEntry {
  ip: Hex;
  spReg: 'sp' | 'fp' | 'undefined';
  spOffset: number;
  fpReg: 'prev_sp' | 'undefined';
  fpOffset: number;
  raReg: 'prev_sp' | 'undefined';
  raOffset: number;
  type: 'undefined' | 'end_of_stack' | 'call' | 'regs';
}

/** One entry of the task's function-graph return stack (task->ret_stack). */
export interface FgraphEntry {
  /** Original return address. */
  ret: Hex;
  /** Traced function's address. */
  func: Hex;
  /** Key used to find this entry: x86_64 address of the return-address slot; arm64 the frame pointer. */
  retp: Hex;
}

/** One live kretprobe instance (task->kretprobe_instances). */
export interface KretprobeInstance {
  ret: Hex;
  func: Hex;
  /** Key: x86_64 address of the return-address slot; arm64 the frame pointer. */
  retp: Hex;
}

/**
 * The context the walk runs in, as the kernel's helpers would answer it when
 * arch_stack_walk_reliable() is called: smp_processor_id(), in_nmi(), in_hardirq(), preemptible(),
 * and whether the task is inside an EFI runtime-services call (arm64 current_in_efi(), x86_64
 * efi_mm active). A blocked task is walked from process context under its runqueue lock
 * (task_call_func()), so preemption is off there too.
 */
export interface SnapshotContext {
  cpu: number;
  inNmi: boolean;
  /** True in NMI context as well (nmi_enter() adds HARDIRQ_OFFSET), like in_hardirq(). */
  inHardirq: boolean;
  preemptible: boolean;
  efiRuntimeActive: boolean;
}

export interface Snapshot {
  version: number;
  /** Stable scene ID, e.g. "arm64/irq/work-chain/work_b+3". */
  id: string;
  arch: Arch;
  task: {
    pid: number;
    comm: string;
    kind: 'user' | 'kthread';
    /** 'blocked': registers are the saved context (thread struct); 'running': live registers of current. */
    state: 'running' | 'blocked';
    /** x86_64 blocked task: task->thread.sp (-> struct inactive_task_frame), equal to regs.rsp. */
    threadSp?: Hex;
    /** powerpc64: thread_info->livepatch_sp, the top of the task's livepatch stack (livepatch_handler pushes {r2, LR, magic}). */
    livepatchSp?: Hex;
  };
  /**
   * x86_64: this CPU's per-CPU variables get_stack_info() reads (hardirq_stack_ptr,
   * cea_exception_stacks, cpu_entry_area, cpu_current_top_of_stack, current_task), by kernel name.
   */
  percpu?: Record<string, Hex>;
  /** The context of the walk (absent only in hand-made snapshots: then unknown). */
  context?: SnapshotContext;
  /** Register values by name (arm64: x0..x30, sp, pc, pstate; x86_64: rax..r15, rsp, rip, eflags, cs). */
  regs: Record<string, Hex>;
  regions: SnapshotRegion[];
  stacks: SnapshotStack[];
  /** task_pt_regs(task): the user/kthread pt_regs at the top of the task stack. */
  ptRegs: Hex;
  /** Address of the final frame a reliable walk must end at (arm64: &task_pt_regs(task)->stackframe). */
  finalFrame: Hex;
  symbols: SnapshotSymbol[];
  /** Arch ABI layout constants (pt_regs offsets, frame-record layout); see docs/maintainers.md. */
  abi: Record<string, number>;
  unwind: {
    orc?: OrcEntry[];
    arm64?: Arm64MetaEntry[];
    loongarchOrc?: LoongarchOrcEntry[];
  };
  /**
   * task->ret_stack, oldest first (the last entry is the innermost traced call). null: the task has
   * no ret_stack (graph tracing was never enabled for it); {stack: []}: a ret_stack with no entries.
   */
  fgraph: { stack: FgraphEntry[] } | null;
  /** task->kretprobe_instances, newest first (like the kernel's llist). */
  kretprobes: KretprobeInstance[];
}
