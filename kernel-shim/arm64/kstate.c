/*
 * arm64 kernel state for one walk, built with the shim headers (not instrumented): the tasks,
 * `current`, the per-CPU stack pointers and the fgraph / kretprobe helpers the unwinder calls.
 */
#include <linux/kernel.h>
#include <linux/sched.h>
#include <linux/stacktrace.h>
#include "api.h"

unsigned long *irq_stack_ptr;
unsigned long overflow_stack[OVERFLOW_STACK_SIZE / sizeof(long)];
unsigned long *sdei_stack_normal_ptr, *sdei_stack_critical_ptr;
u64 *efi_rt_stack_top;
unsigned long shim_return_to_handler, shim_kretprobe_trampoline;

struct ftrace_ret_stack { int unused; };
static struct ftrace_ret_stack ret_stack;
static struct task_struct walked, walker;
static struct task_struct *cur;
static const struct shim_walk *W;
#define NR_KR 4096
static struct llist_node kr_nodes[NR_KR + 1];

int arch_stack_walk_reliable(stack_trace_consume_fn consume_entry, void *cookie, struct task_struct *task);

struct task_struct *shim_get_current(void) { return cur; }
/* Per-CPU stacks are readable exactly when the snapshot lists them for this walk. */
bool shim_preemptible(void) { return !W->irq_stack; }
bool shim_in_nmi(void) { return W->in_nmi; }
bool shim_current_in_efi(void) { return false; }
unsigned long shim_caller_fp(void) { return W->fp; }
unsigned long shim_caller_pc(void) { return W->pc; }

unsigned long ftrace_graph_ret_addr(struct task_struct *task, int *idx, unsigned long ret, unsigned long *retp)
{
	(void)task;
	if (!shim_return_to_handler || ret != shim_return_to_handler)
		return ret;
	return shim_fgraph_ret(idx, ret, (unsigned long)retp);
}

unsigned long kretprobe_find_ret_addr(struct task_struct *tsk, void *fp, struct llist_node **cursor)
{
	unsigned long pos, ret;

	(void)tsk;
	if (WARN_ON_ONCE(!cursor))
		return 0;
	pos = *cursor ? (unsigned long)(*cursor - kr_nodes) : 0;
	ret = shim_kretprobe_ret(&pos, (unsigned long)fp);
	if (ret && pos <= NR_KR)
		*cursor = &kr_nodes[pos];
	return ret;
}

bool __kernel_text_address(unsigned long addr) { return shim_text_address(addr, 0); }
bool kernel_text_address(unsigned long addr) { return shim_text_address(addr, 0); }
bool core_kernel_text(unsigned long addr) { return shim_text_address(addr, 1); }

void shim_arch_owned(unsigned long *lo, unsigned long *hi)
{
	*lo = *hi = 0;
}

static bool consume(void *cookie, unsigned long addr)
{
	(void)cookie;
	return shim_consume(addr);
}

int shim_arch_walk(const struct shim_walk *w)
{
	W = w;
	shim_return_to_handler = w->rth_addr;
	shim_kretprobe_trampoline = w->krp_addr;
	irq_stack_ptr = (unsigned long *)w->irq_stack;
	walked = (struct task_struct){
		.stack = (void *)w->task_stack,
		.flags = w->kthread ? PF_KTHREAD : 0,
		.ret_stack = w->has_fgraph ? &ret_stack : NULL,
		.shim_pt_regs = w->pt_regs,
	};
	walker = (struct task_struct){ .stack = NULL };
	if (w->running) {
		cur = &walked;
	} else {
		/* A blocked task: its saved context, walked from another task. */
		walked.thread.cpu_context.fp = w->fp;
		walked.thread.cpu_context.pc = w->pc;
		walked.thread.cpu_context.sp = w->sp;
		cur = &walker;
	}
	return arch_stack_walk_reliable(consume, NULL, &walked);
}
