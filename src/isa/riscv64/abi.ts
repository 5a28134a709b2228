/**
 * riscv64 kernel ABI of the simulated machine: struct pt_regs as arch/riscv/include/asm/ptrace.h
 * lays it out (epc, then x1..x31 in register order with x0's slot holding epc, then status, badaddr,
 * cause, orig_a0), extended the way the reliable-stacktrace series extends it: a struct
 * frame_record_meta (a frame record {fp, ra} and its type) after orig_a0. Sent in every snapshot's
 * `abi` field, so external unwinders need no header.
 *
 * A riscv frame record sits BELOW the frame pointer: s0 (fp) points at the caller's sp (the CFA),
 * the saved ra is at fp - 8 and the caller's fp at fp - 16. A meta record is the same {fp, ra} pair,
 * zeroed, with its type in the word after it, i.e. at the frame pointer itself.
 */
export const RISCV64_ABI = {
  /** struct pt_regs offsets (asm-offsets names) */
  PT_EPC: 0,
  PT_RA: 8,
  PT_SP: 16,
  PT_GP: 24,
  PT_TP: 32,
  PT_T0: 40,
  PT_T1: 48,
  PT_T2: 56,
  PT_S0: 64,
  PT_S1: 72,
  PT_A0: 80,
  PT_A7: 136,
  PT_STATUS: 256,
  PT_BADADDR: 264,
  PT_CAUSE: 272,
  PT_ORIG_A0: 280,
  /** struct frame_record_meta stackframe: record {fp at +0, ra at +8}, type at +16 */
  S_STACKFRAME: 288,
  S_STACKFRAME_TYPE: 304,
  /** sizeof(struct pt_regs) rounded to the 16-byte stack alignment (PT_SIZE_ON_STACK) */
  PT_REGS_SIZE: 320,
  /** frame_record_meta.type values */
  FRAME_META_TYPE_NONE: 0,
  FRAME_META_TYPE_FINAL: 1,
  FRAME_META_TYPE_PT_REGS: 2,
  /** A frame record {fp, ra} is the 16 bytes below the frame pointer; fp is 8-byte aligned (checked like kunwind). */
  FRAME_RECORD_SIZE: 16,
  FRAME_RECORD_OFFSET: 16,
  FRAME_RECORD_ALIGN: 8,
  /** sstatus bits: SIE (interrupts enabled), SPIE, SPP (the trap came from S-mode) */
  SR_SIE: 0x2,
  SR_SPIE: 0x20,
  SR_SPP: 0x100,
  /** scause exception codes modelled (an interrupt has the top bit set as well) */
  EXC_BREAKPOINT: 3,
  EXC_SYSCALL: 8,
  EXC_LOAD_PAGE_FAULT: 13,
  /** struct thread_struct (task->thread) offsets: ra, sp, s[0..11] */
  THREAD_RA: 0,
  THREAD_SP: 8,
  THREAD_S0: 16,
  THREAD_SIZE: 16384,
  IRQ_STACK_SIZE: 16384,
  OVERFLOW_STACK_SIZE: 4096,
} as const;
