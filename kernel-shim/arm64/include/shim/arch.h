/*
 * arm64 part of the kernel-tree shim: struct pt_regs laid out from the snapshot's abi constants
 * (shim-abi.h, generated at build time), the task's saved context, the per-CPU stacks and the
 * caller-start builtins that make the snapshot's live registers the walker's caller.
 */
#ifndef SHIM_ARCH_H
#define SHIM_ARCH_H
#include <shim-abi.h>
#include <asm/stacktrace/frame.h>

#define THREAD_SIZE SHIM_ABI_THREAD_SIZE
#define IRQ_STACK_SIZE SHIM_ABI_IRQ_STACK_SIZE
#define OVERFLOW_STACK_SIZE 4096
#define SDEI_STACK_SIZE 4096
#define PSR_MODE_MASK SHIM_ABI_PSR_MODE_MASK
#define PSR_MODE_EL0t SHIM_ABI_PSR_MODE_EL0t

/* struct pt_regs: each field the walker reads sits at the snapshot's offset; the size is PT_REGS_SIZE. */
struct pt_regs {
	union {
		struct { u64 regs[31]; };
		struct { char __pad_sp[SHIM_ABI_S_SP]; u64 sp; };
		struct { char __pad_pc[SHIM_ABI_S_PC]; u64 pc; };
		struct { char __pad_pstate[SHIM_ABI_S_PSTATE]; u64 pstate; };
		struct { char __pad_stackframe[SHIM_ABI_S_STACKFRAME]; struct frame_record_meta stackframe; };
		char __size[SHIM_ABI_PT_REGS_SIZE];
	};
};
_Static_assert(SHIM_ABI_S_X0 == 0, "pt_regs.regs[] must start at offset 0");
_Static_assert(__builtin_offsetof(struct pt_regs, regs[29]) == SHIM_ABI_S_FP, "S_FP is regs[29]");
_Static_assert(__builtin_offsetof(struct pt_regs, stackframe.type) == SHIM_ABI_S_STACKFRAME_TYPE, "S_STACKFRAME_TYPE");
_Static_assert(sizeof(struct pt_regs) == SHIM_ABI_PT_REGS_SIZE, "PT_REGS_SIZE");

#define user_mode(regs) (((regs)->pstate & PSR_MODE_MASK) == PSR_MODE_EL0t)
#define compat_user_mode(regs) 0
#define interrupts_enabled(regs) 0

/* thread.cpu_context (asm/processor.h): a blocked task's saved fp / pc. */
struct cpu_context { unsigned long fp, sp, pc; };
struct thread_struct { struct cpu_context cpu_context; };
#define thread_saved_pc(tsk) ((unsigned long)(tsk)->thread.cpu_context.pc)
#define thread_saved_sp(tsk) ((unsigned long)(tsk)->thread.cpu_context.sp)
#define thread_saved_fp(tsk) ((unsigned long)(tsk)->thread.cpu_context.fp)

struct task_struct {
	void *stack;
	unsigned int flags;
	struct thread_struct thread;
	struct ftrace_ret_stack *ret_stack;	/* non-NULL when the snapshot has fgraph */
	struct llist_head kretprobe_instances;
	unsigned long shim_pt_regs;		/* the snapshot's ptRegs (task_pt_regs()) */
};

/* Pointer authentication: no PAC in the snapshot, so stripping is the identity. */
#define ptrauth_strip_kernel_insn_pac(p) ((unsigned long)(p))
#define ptrauth_strip_user_insn_pac(p) ((unsigned long)(p))

/* EFI runtime services: the snapshot has no EFI stack, so never in EFI. */
bool shim_current_in_efi(void);
#define current_in_efi() shim_current_in_efi()

/*
 * kunwind_init_from_caller(): the walk of a running task starts at its caller. The snapshot's live
 * x29 / pc are that caller's frame and return address.
 */
unsigned long shim_caller_fp(void);
unsigned long shim_caller_pc(void);
#define __builtin_frame_address(n) ((void *)shim_caller_fp())
#define __builtin_return_address(n) ((void *)shim_caller_pc())

#endif /* SHIM_ARCH_H */
