/**
 * loongarch64 kernel ABI of the simulated machine: struct pt_regs as arch/loongarch/include/asm/ptrace.h
 * lays it out (regs[32], orig_a0, then the saved CSRs era, badvaddr, crmd, prmd, euen, ecfg, estat), the
 * thread_struct slots __switch_to fills (reg01 = ra, reg03 = sp, reg22 = fp, reg23..reg31 = s0..s8), and
 * the exception-vector layout (EENTRY + exception code * VECSIZE). Sent in every snapshot's `abi` field,
 * so an external unwinder needs no header.
 */
export const LOONGARCH64_ABI = {
  /** struct pt_regs offsets (asm-offsets names): PT_R<n> = 8 * n */
  PT_R0: 0,
  PT_R1: 8,
  PT_R2: 16,
  PT_R3: 24,
  PT_R4: 32,
  PT_R11: 88,
  PT_R22: 176,
  PT_ORIG_A0: 256,
  PT_ERA: 264,
  PT_BVADDR: 272,
  PT_CRMD: 280,
  PT_PRMD: 288,
  PT_EUEN: 296,
  PT_ECFG: 304,
  PT_ESTAT: 312,
  /** sizeof(struct pt_regs) (PT_SIZE) */
  PT_REGS_SIZE: 320,
  /** CSR.CRMD / CSR.PRMD bits: privilege level (0 kernel, 3 user) and the interrupt enable */
  PLV_MASK: 3,
  PLV_USER: 3,
  CSR_CRMD_IE: 4,
  CSR_PRMD_PIE: 4,
  /** exception codes (CSR.ESTAT.Ecode) modelled; interrupts have their own vectors from EXCCODE_INT_START */
  EXCCODE_PIL: 1,
  EXCCODE_SYS: 11,
  EXCCODE_BP: 12,
  EXCCODE_INT_START: 64,
  EXCCODE_INT_END: 78,
  /** bytes per exception vector: a vector is a copy of its handler's first VECSIZE bytes */
  VECSIZE: 0x200,
  /** thread_struct (task->thread) offsets */
  THREAD_REG01: 0,
  THREAD_REG03: 8,
  THREAD_REG22: 16,
  THREAD_REG23: 24,
  THREAD_SIZE: 16384,
  IRQ_STACK_SIZE: 16384,
  /** IRQ_STACK_START: the IRQ stack's usable top is 16 bytes below its end; the word there is next_sp */
  IRQ_STACK_START: 16384 - 16,
  /** ftrace: ftrace_caller builds a struct pt_regs; the fgraph key is CFA - GRAPH_FAKE_OFFSET (the parent-ra slot) */
  GRAPH_FAKE_OFFSET: 320 - 8,
  /** LOONGARCH_INSN_SIZE: a return address minus this is the call instruction */
  INSN_SIZE: 4,
} as const;
