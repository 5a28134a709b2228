/**
 * s390x kernel ABI of the simulated machine, as today's kernels are built (-mpacked-stack,
 * -mbackchain). Sent in every snapshot's `abi` field, so external unwinders need no header.
 *
 * struct stack_frame (asm/stacktrace.h, packed layout) is STACK_FRAME_OVERHEAD = 160 bytes: 72 bytes
 * of other use, then gprs[] = r6..r15 at 72 (r14, the return address, at 136; r15 at 144), then the
 * back chain as the frame's LAST word, at 152. A callee saves its registers into the frame its
 * caller allocated (stmg %r6,%r15,72(%r15)); a zero back chain means a struct pt_regs follows the
 * frame (at frame + 160).
 *
 * struct pt_regs (asm/ptrace.h): psw {mask, addr}, gprs[16], orig_gpr2, int_code/int_parm, flags,
 * cr1, last_break. A task's final pt_regs are at the very top of its stack, the 160-byte frame
 * below them (STACK_INIT_OFFSET) with a zero back chain.
 */
import { fromU32Pair, toU32Pair } from '../../machine/addr';

export const S390X_ABI = {
  /** struct stack_frame (packed) */
  STACK_FRAME_OVERHEAD: 160,
  SF_GPRS: 72,
  SF_R14: 136,
  SF_R15: 144,
  SF_BACKCHAIN: 152,
  /** struct pt_regs */
  PT_PSW: 0,
  PT_PSW_ADDR: 8,
  PT_GPRS: 16,
  PT_R14: 16 + 14 * 8,
  PT_R15: 16 + 15 * 8,
  PT_ORIG_GPR2: 144,
  PT_INT_CODE: 152,
  PT_FLAGS: 160,
  PT_CR1: 168,
  PT_LAST_BREAK: 176,
  PT_REGS_SIZE: 184,
  /** PSW mask bits, as their value divided by 2^32 (the high word of the mask): PER, I/O, EXT, PSTATE (problem state: user mode) */
  PSW_HI_IO: 0x02000000,
  PSW_HI_EXT: 0x01000000,
  PSW_HI_PSTATE: 0x00010000,
  /** THREAD_SIZE for every stack (task, async, nodat, restart, mcck) and STACK_INIT_OFFSET within one */
  THREAD_SIZE: 16384,
  STACK_INIT_OFFSET: 16384 - 160 - 184,
  /** struct thread_struct: ksp (the sp __switch_to saved), at offset 0 of task->thread */
  THREAD_KSP: 0,
  /** Every instruction of the model is 4 bytes (real s390 has 2-, 4- and 6-byte forms); MCOUNT_INSN_SIZE likewise. */
  INSN_SIZE: 4,
} as const;

/** The high word of a 64-bit PSW mask, held as the machine holds any word (src/machine/addr.ts). */
export const pswHi = (mask: number): number => toU32Pair(mask)[1];
export const pswMask = (hi: number): number => fromU32Pair(0, hi);
/** A PSW mask in user mode (problem state), and the kernel's with I/O and external interrupts enabled. */
export const PSW_USER = pswMask(S390X_ABI.PSW_HI_PSTATE | S390X_ABI.PSW_HI_IO | S390X_ABI.PSW_HI_EXT);
export const PSW_KERNEL = pswMask(S390X_ABI.PSW_HI_IO | S390X_ABI.PSW_HI_EXT);
export const userMode = (mask: number): boolean => (pswHi(mask) & S390X_ABI.PSW_HI_PSTATE) !== 0;
