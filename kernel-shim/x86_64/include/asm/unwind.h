/*
 * Shim asm/unwind.h (x86_64): the interface of the kernel's ORC unwind state, written for the
 * shim. unwind_start() is where a running task's walk begins: __unwind_start() reads the live
 * rip / rsp / rbp with inline asm, which in user space are the glue's own; the shim then starts
 * the state where the snapshot's running task is (shim_unwind_start_current(), kstate.c).
 */
#ifndef SHIM_ASM_UNWIND_H
#define SHIM_ASM_UNWIND_H
#include <shim/kernel.h>
#include <asm/stacktrace.h>

#define IRET_FRAME_OFFSET (offsetof(struct pt_regs, ip))
#define IRET_FRAME_SIZE (sizeof(struct pt_regs) - IRET_FRAME_OFFSET)

struct unwind_state {
	struct stack_info stack_info;
	unsigned long stack_mask;
	struct task_struct *task;
	int graph_idx;
	struct llist_node *kr_cur;
	bool error;
	bool signal, full_regs;
	unsigned long sp, bp, ip;
	struct pt_regs *regs, *prev_regs;
};

void __unwind_start(struct unwind_state *state, struct task_struct *task, struct pt_regs *regs, unsigned long *first_frame);
bool unwind_next_frame(struct unwind_state *state);
unsigned long unwind_get_return_address(struct unwind_state *state);
unsigned long *unwind_get_return_address_ptr(struct unwind_state *state);
void unwind_init(void);
void unwind_module_init(struct module *mod, void *orc_ip, size_t orc_ip_size, void *orc, size_t orc_size);
void shim_unwind_start_current(struct unwind_state *state);

static inline bool unwind_done(struct unwind_state *state)
{
	return state->stack_info.type == STACK_TYPE_UNKNOWN;
}

static inline bool unwind_error(struct unwind_state *state)
{
	return state->error;
}

static inline void unwind_start(struct unwind_state *state, struct task_struct *task, struct pt_regs *regs, unsigned long *first_frame)
{
	first_frame = first_frame ? : get_stack_pointer(task, regs);
	__unwind_start(state, task, regs, first_frame);
	if (!regs && task == current)
		shim_unwind_start_current(state);
}

static inline struct pt_regs *unwind_get_entry_regs(struct unwind_state *state, bool *partial)
{
	if (unwind_done(state))
		return NULL;
	if (partial)
		*partial = !state->full_regs;
	return state->regs;
}

static inline unsigned long unwind_recover_rethook(struct unwind_state *state, unsigned long addr, unsigned long *addr_p)
{
	if (is_rethook_trampoline(addr))
		return rethook_find_ret_addr(state->task, (unsigned long)addr_p, &state->kr_cur);
	return addr;
}

/* The return address fgraph or a kretprobe replaced, found again by its slot. */
static inline unsigned long unwind_recover_ret_addr(struct unwind_state *state, unsigned long addr, unsigned long *addr_p)
{
	unsigned long ret = ftrace_graph_ret_addr(state->task, &state->graph_idx, addr, addr_p);

	return unwind_recover_rethook(state, ret, addr_p);
}

static inline bool task_on_another_cpu(struct task_struct *task)
{
	(void)task;
	return false;
}
#endif
