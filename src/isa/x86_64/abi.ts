/**
 * x86_64 kernel ABI of the simulated machine (mirrors arch/x86/include/asm/ptrace.h and
 * struct inactive_task_frame). Also sent in every snapshot's `abi` field.
 */
export const X86_64_ABI = {
  /** struct pt_regs offsets */
  PT_R15: 0,
  PT_R14: 8,
  PT_R13: 16,
  PT_R12: 24,
  PT_RBP: 32,
  PT_RBX: 40,
  PT_R11: 48,
  PT_R10: 56,
  PT_R9: 64,
  PT_R8: 72,
  PT_RAX: 80,
  PT_RCX: 88,
  PT_RDX: 96,
  PT_RSI: 104,
  PT_RDI: 112,
  PT_ORIG_RAX: 120,
  PT_RIP: 128,
  PT_CS: 136,
  PT_EFLAGS: 144,
  PT_RSP: 152,
  PT_SS: 160,
  PT_REGS_SIZE: 168,
  /** Offset of the iret frame (ip, cs, flags, sp, ss) inside pt_regs: REGS_PARTIAL points here. */
  PT_IRET_FRAME: 128,
  /** struct inactive_task_frame, from task->thread.sp upwards: r15 r14 r13 r12 rbx rbp ret_addr */
  ITF_R15: 0,
  ITF_R14: 8,
  ITF_R13: 16,
  ITF_R12: 24,
  ITF_RBX: 32,
  ITF_RBP: 40,
  ITF_RET_ADDR: 48,
  ITF_SIZE: 56,
  /** Code segment selectors; user_mode(regs) is (cs & 3) == 3 */
  KERNEL_CS: 0x10,
  USER_CS: 0x33,
  THREAD_SIZE: 16384,
  IRQ_STACK_SIZE: 16384,
  /** Frame-pointer unwinder: entry code encodes pt_regs in rbp as (regs | 1) (ENCODE_FRAME_POINTER). */
  FP_REGS_ENCODE_BIT: 1,
} as const;
