/**
 * powerpc64 (little-endian, ELFv2) kernel ABI of the simulated machine, as arch/powerpc/include/asm/ptrace.h
 * lays it out today: struct pt_regs (gpr[0..31], nip, msr, orig_gpr3, ctr, link, xer, ccr, softe, trap,
 * dar, dsisr, result, then the 64-bit extras), the ELFv2 minimal frame (back chain at 0, CR save at 8, LR
 * save at 16, TOC save at 24), and interrupt frames: the "regs" marker at STACK_INT_FRAME_MARKER and
 * pt_regs at STACK_INT_FRAME_REGS above the frame's back chain. Sent in every snapshot's `abi` field.
 */
export const POWERPC64_ABI = {
  /** struct pt_regs offsets (asm-offsets names: GPRn = 8 * n) */
  GPR0: 0,
  GPR1: 8,
  GPR2: 16,
  GPR3: 24,
  GPR13: 104,
  GPR14: 112,
  GPR15: 120,
  NIP: 256,
  MSR: 264,
  ORIG_GPR3: 272,
  CTR: 280,
  LINK: 288,
  XER: 296,
  CCR: 304,
  SOFTE: 312,
  TRAP: 320,
  DAR: 328,
  RESULT: 344,
  PT_REGS_SIZE: 384,
  /** ELFv2 minimal frame: back chain, CR save, LR save (STACK_FRAME_LR_SAVE = 2 longs), TOC save */
  STACK_FRAME_MIN_SIZE: 32,
  STACK_FRAME_LR_SAVE: 2,
  /** Interrupt frames: marker and pt_regs above the back chain; the kernel red zone is skipped from a kernel-mode interrupt */
  STACK_INT_FRAME_MARKER: 32,
  STACK_INT_FRAME_REGS: 48,
  STACK_USER_INT_FRAME_SIZE: 432,
  KERNEL_REDZONE_SIZE: 288,
  STACK_INT_FRAME_SIZE: 720,
  /** _switch's frame: a pt_regs for the non-volatile registers above a minimal frame */
  STACK_SWITCH_FRAME_SIZE: 416,
  STACK_SWITCH_FRAME_REGS: 32,
  /** "regs" (a 32-bit immediate on 64-bit since the ELFv2 frame rework) */
  STACK_FRAME_REGS_MARKER: 0x72656773,
  /** MSR bits modelled: EE (external interrupts enabled), PR (problem state = user mode), RI */
  MSR_EE: 0x8000,
  MSR_PR: 0x4000,
  MSR_RI: 0x2,
  /** trap numbers (pt_regs->trap) */
  TRAP_SYSCALL: 0xc00,
  TRAP_EXTERNAL: 0x500,
  TRAP_PROGRAM: 0x700,
  TRAP_DATA_STORAGE: 0x300,
  TRAP_PERF: 0xf00,
  /** sizeof(struct thread_struct) is below the lowest valid sp on the task stack (the check at the walk's start) */
  THREAD_STRUCT_SIZE: 0x100,
  THREAD_SIZE: 16384,
  IRQ_STACK_SIZE: 16384,
  /** livepatch stack in thread_info: each livepatch_handler entry pushes {r2 (TOC), r0 (real LR)} and a magic word */
  LIVEPATCH_FRAME_SIZE: 24,
  STACK_END_MAGIC: 0x57ac6e9d,
} as const;
