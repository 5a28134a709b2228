/*
 * Shim asm/stacktrace.h (x86_64): the interface of the kernel's, written for the shim. The stack
 * kinds get_stack_info() tells apart, and the start of a walk.
 */
#ifndef SHIM_ASM_STACKTRACE_H
#define SHIM_ASM_STACKTRACE_H
#include <shim/kernel.h>

enum stack_type {
	STACK_TYPE_UNKNOWN,
	STACK_TYPE_TASK,
	STACK_TYPE_IRQ,
	STACK_TYPE_SOFTIRQ,
	STACK_TYPE_ENTRY,
	STACK_TYPE_EXCEPTION,
	STACK_TYPE_EXCEPTION_LAST = STACK_TYPE_EXCEPTION + N_EXCEPTION_STACKS - 1,
};

struct stack_info {
	enum stack_type type;
	unsigned long *begin, *end, *next_sp;
};

bool in_task_stack(unsigned long *stack, struct task_struct *task, struct stack_info *info);
bool in_entry_stack(unsigned long *stack, struct stack_info *info);
int get_stack_info(unsigned long *stack, struct task_struct *task, struct stack_info *info, unsigned long *visit_mask);
bool get_stack_info_noinstr(unsigned long *stack, struct task_struct *task, struct stack_info *info);
const char *stack_type_name(enum stack_type type);

/* [addr, addr + len) wholly inside a known stack. */
static inline bool on_stack(struct stack_info *info, void *addr, size_t len)
{
	void *begin = info->begin, *end = info->end;

	return info->type != STACK_TYPE_UNKNOWN && addr >= begin && addr < end && addr + len > begin && addr + len <= end;
}

static inline unsigned long *get_stack_pointer(struct task_struct *task, struct pt_regs *regs)
{
	if (regs)
		return (unsigned long *)regs->sp;
	if (task == current)
		return NULL;	/* the shim starts a running task's walk itself (asm/unwind.h) */
	return (unsigned long *)task->thread.sp;
}
#endif
