/**
 * arm64 kernel ABI of the simulated machine (mirrors arch/arm64/include/asm/ptrace.h).
 * These constants are also sent in every snapshot's `abi` field so external unwinders need no header.
 */
export const ARM64_ABI = {
  /** struct pt_regs offsets (asm-offsets names), layout of arm64 v6.13 and later */
  S_X0: 0, // regs[0..30], 8 bytes each; x29 at 232, x30 (LR) at 240
  S_FP: 232,
  S_LR: 240,
  S_SP: 248,
  S_PC: 256,
  S_PSTATE: 264,
  S_ORIG_X0: 272,
  /** s32 syscallno, then u32 pmr (GIC priority mask) */
  S_SYSCALLNO: 280,
  S_PMR: 284,
  S_SDEI_TTBR1: 288,
  /** struct frame_record_meta stackframe: record { fp, lr } at +0, type at +16 */
  S_STACKFRAME: 296,
  S_STACKFRAME_TYPE: 312,
  /** lockdep_hardirqs at 320 and exit_rcu at 328 (EL1 entry bookkeeping) */
  S_LOCKDEP_HARDIRQS: 320,
  S_EXIT_RCU: 328,
  PT_REGS_SIZE: 336,
  /** frame_record_meta.type values */
  FRAME_META_TYPE_NONE: 0,
  FRAME_META_TYPE_FINAL: 1,
  FRAME_META_TYPE_PT_REGS: 2,
  /** A frame record is { fp at +0, lr at +8 }, 16 bytes, 8-byte aligned (kunwind checks 8). */
  FRAME_RECORD_SIZE: 16,
  FRAME_RECORD_ALIGN: 8,
  /** PSTATE.M for user (EL0t) and kernel (EL1h) */
  PSR_MODE_EL0t: 0x0,
  PSR_MODE_EL1h: 0x5,
  PSR_MODE_MASK: 0xf,
  THREAD_SIZE: 16384,
  IRQ_STACK_SIZE: 16384,
  OVERFLOW_STACK_SIZE: 4096,
  SDEI_STACK_SIZE: 16384,
} as const;
