/*
 * x86_64 kernel state for one walk, built with the shim headers and the tree's asm/orc_types.h
 * (not instrumented): the tasks, `current`, the per-CPU stacks, the ORC tables converted from the
 * snapshot, the modules, and the start of a running task's walk.
 */
#include <linux/kernel.h>
#include <linux/sched.h>
#include <linux/stacktrace.h>
#include <asm/stacktrace.h>
#include <asm/unwind.h>
#include <asm/orc_types.h>
#include "api.h"

/*
 * The ORC tables hold PC-relative ints, so they must lie within 2 GiB of the text they describe:
 * they are linked at a fixed address (section shim_orc_tables, see src/kerneltree/build.ts) and the glue
 * moves core kernel text to SHIM_X86_TEXT_ANCHOR, 1 GiB above them. __stop_* are link-time
 * symbols at the end of each array, so the tables are padded to their full size.
 */
#define ORC_MAX 16384	/* build.ts bounds the tables with --defsym from these sizes */
#define MOD_ORC_MAX 16384
#define MAX_MODULES 8
#define LOOKUP_MAX 65536
_Static_assert(sizeof(struct orc_entry) == 6, "struct orc_entry (asm/orc_types.h) must be the kernel's packed 6 bytes");
int shim_orc_ip[ORC_MAX] __attribute__((section("shim_orc_tables")));
struct orc_entry shim_orc[ORC_MAX] __attribute__((section("shim_orc_tables")));
static int mod_orc_ip[MOD_ORC_MAX] __attribute__((section("shim_orc_tables")));
static struct orc_entry mod_orc[MOD_ORC_MAX] __attribute__((section("shim_orc_tables")));
unsigned int shim_orc_lookup[LOOKUP_MAX];
unsigned int shim_orc_lookup_blocks;
unsigned long shim_stext, shim_etext;

struct cea_exception_stacks *cea_exception_stacks;
void *hardirq_stack_ptr;
unsigned long shim_return_to_handler, shim_kretprobe_trampoline, shim_ret_from_fork;

struct ftrace_ret_stack { int unused; };
static struct ftrace_ret_stack ret_stack;
static struct task_struct walked, walker;
static struct task_struct *cur;
static const struct shim_walk *W;
static struct { struct module mod; unsigned long start, end; } modules[MAX_MODULES];
static int nr_modules;
#define NR_KR 4096
static struct llist_node kr_nodes[NR_KR + 1];

int arch_stack_walk_reliable(stack_trace_consume_fn consume_entry, void *cookie, struct task_struct *task);

struct task_struct *shim_get_current(void) { return cur; }
bool shim_preemptible(void) { return !W->irq_stack; }
bool shim_in_nmi(void) { return W->in_nmi; }

/* dumpstack.c's helpers: the task stack, and no entry stack (the snapshot has none). */
bool in_task_stack(unsigned long *stack, struct task_struct *task, struct stack_info *info)
{
	unsigned long *begin = task_stack_page(task), *end = (unsigned long *)((char *)begin + THREAD_SIZE);

	if (stack < begin || stack >= end)
		return false;
	info->type = STACK_TYPE_TASK;
	info->begin = begin;
	info->end = end;
	info->next_sp = NULL;
	return true;
}

bool in_entry_stack(unsigned long *stack, struct stack_info *info)
{
	(void)stack;
	(void)info;
	return false;
}

/*
 * A running task: the snapshot's live rip / rsp / rbp are where its walk starts (the registers at
 * the interrupted instruction, so rip is looked up as is, like a signal frame's).
 */
void shim_unwind_start_current(struct unwind_state *state)
{
	struct task_struct *task = state->task;

	__builtin_memset(state, 0, sizeof(*state));
	state->task = task;
	state->ip = W->pc;
	state->sp = W->sp;
	state->bp = W->fp;
	state->signal = true;
	if (get_stack_info((unsigned long *)state->sp, task, &state->stack_info, &state->stack_mask)) {
		state->error = true;
		state->stack_info.type = STACK_TYPE_UNKNOWN;
	}
}

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

struct module *__module_address(unsigned long addr)
{
	for (int i = 0; i < nr_modules; i++)
		if (addr >= modules[i].start && addr < modules[i].end)
			return &modules[i].mod;
	return NULL;
}

void sort(void *base, size_t num, size_t size, int (*cmp)(const void *, const void *), void (*swp)(void *, void *, int))
{
	/* Tables come sorted from the snapshot; unwind_module_init() is never called. */
	(void)base; (void)num; (void)size; (void)cmp; (void)swp;
}

static const unsigned int reg_of[] = {
	[SHIM_ORC_UNDEFINED] = ORC_REG_UNDEFINED, [SHIM_ORC_PREV_SP] = ORC_REG_PREV_SP, [SHIM_ORC_SP] = ORC_REG_SP,
	[SHIM_ORC_BP] = ORC_REG_BP, [SHIM_ORC_SP_INDIRECT] = ORC_REG_SP_INDIRECT, [SHIM_ORC_BP_INDIRECT] = ORC_REG_BP_INDIRECT,
};
static const unsigned int type_of[] = {
	[SHIM_ORC_TYPE_UNDEFINED] = ORC_TYPE_UNDEFINED, [SHIM_ORC_TYPE_END_OF_STACK] = ORC_TYPE_END_OF_STACK,
	[SHIM_ORC_TYPE_CALL] = ORC_TYPE_CALL, [SHIM_ORC_TYPE_REGS] = ORC_TYPE_REGS, [SHIM_ORC_TYPE_REGS_PARTIAL] = ORC_TYPE_REGS_PARTIAL,
};

static void put_orc(int *ip_slot, struct orc_entry *e, const struct shim_orc *o)
{
	*ip_slot = (int)(long)(o->ip - (unsigned long)ip_slot);
	*e = (struct orc_entry){ .sp_offset = (s16)o->sp_offset, .bp_offset = (s16)o->bp_offset,
				 .sp_reg = reg_of[o->sp_reg], .bp_reg = reg_of[o->bp_reg], .type = type_of[o->type],
				 .signal = o->signal ? 1 : 0 };
}

/* The snapshot's ORC entries as the linked tables: core text in vmlinux's, the rest per module. */
static int load_orc(const struct shim_walk *w)
{
	unsigned long n = 0, m = 0;
	struct shim_orc pad = { .type = SHIM_ORC_TYPE_UNDEFINED };

	shim_stext = shim_etext = 0;
	nr_modules = 0;
	for (unsigned long i = 0; i < w->nr_text; i++) {
		if (w->text[i].core && !shim_stext) {
			shim_stext = w->text[i].start;
			shim_etext = w->text[i].end;
		} else if (!w->text[i].core && nr_modules < MAX_MODULES) {
			modules[nr_modules].start = w->text[i].start;
			modules[nr_modules].end = w->text[i].end;
			modules[nr_modules].mod = (struct module){ .arch = { 0, NULL, NULL } };
			nr_modules++;
		}
	}
	if (!shim_stext)
		return -ENOENT;
	for (unsigned long i = 0; i < w->nr_orc; i++) {
		const struct shim_orc *o = &w->orc[i];
		struct module *mod;

		if (o->ip >= shim_stext && o->ip < shim_etext) {
			if (n >= ORC_MAX)
				return -ENOSYS;
			put_orc(&shim_orc_ip[n], &shim_orc[n], o);
			n++;
		} else if ((mod = __module_address(o->ip))) {
			if (m >= MOD_ORC_MAX)
				return -ENOSYS;
			if (!mod->arch.orc_unwind_ip) {
				mod->arch.orc_unwind_ip = &mod_orc_ip[m];
				mod->arch.orc_unwind = &mod_orc[m];
			}
			put_orc(&mod_orc_ip[m], &mod_orc[m], o);
			mod->arch.num_orcs++;
			m++;
		}
	}
	/* Pad vmlinux's table with terminators at _etext (never found for an ip inside the text). */
	pad.ip = shim_etext;
	for (; n < ORC_MAX; n++)
		put_orc(&shim_orc_ip[n], &shim_orc[n], &pad);
	shim_orc_lookup_blocks = (unsigned int)((shim_etext - shim_stext + LOOKUP_BLOCK_SIZE - 1) / LOOKUP_BLOCK_SIZE + 1);
	if (shim_orc_lookup_blocks > LOOKUP_MAX)
		return -ENOSYS;
	unwind_init();
	return 0;
}

void shim_arch_owned(unsigned long *lo, unsigned long *hi)
{
	unsigned long a[] = { (unsigned long)shim_orc_ip, (unsigned long)shim_orc, (unsigned long)mod_orc_ip, (unsigned long)mod_orc };
	unsigned long b[] = { (unsigned long)(shim_orc_ip + ORC_MAX), (unsigned long)(shim_orc + ORC_MAX),
			      (unsigned long)(mod_orc_ip + MOD_ORC_MAX), (unsigned long)(mod_orc + MOD_ORC_MAX) };

	*lo = a[0];
	*hi = b[0];
	for (int i = 1; i < 4; i++) {
		*lo = min(*lo, a[i]);
		*hi = max(*hi, b[i]);
	}
}

static bool consume(void *cookie, unsigned long addr)
{
	(void)cookie;
	return shim_consume(addr);
}

int shim_arch_walk(const struct shim_walk *w)
{
	int err;

	W = w;
	shim_return_to_handler = w->rth_addr;
	shim_kretprobe_trampoline = w->krp_addr;
	shim_ret_from_fork = w->ret_from_fork;
	err = load_orc(w);
	if (err) {
		printk("kernel-tree shim: cannot build the ORC tables from the snapshot (%d)", err);
		return err;
	}
	/* hardirq_stack_ptr points at the IRQ stack's top-most word; the NMI stack is the cea one. */
	hardirq_stack_ptr = w->irq_stack ? (void *)(w->irq_stack + IRQ_STACK_SIZE - sizeof(long)) : NULL;
	cea_exception_stacks = w->nmi_stack ? (struct cea_exception_stacks *)(w->nmi_stack - CEA_ESTACK_OFFS(NMI)) : NULL;
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
		walked.thread.sp = w->sp;	/* thread.sp: the blocked task's inactive_task_frame */
		cur = &walker;
	}
	return arch_stack_walk_reliable(consume, NULL, &walked);
}
