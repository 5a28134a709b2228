/*
 * The interface between the glue (user space: protocol, snapshot, relocation, sanitizer hooks) and
 * the arch state file (built with the shim headers: `current`, per-CPU data, fgraph / kretprobe
 * helpers). Plain C types only: both sides include it.
 */
#ifndef SHIM_GLUE_API_H
#define SHIM_GLUE_API_H

/* One entry of the snapshot's ORC table (x86_64), ip relocated; regs and types are SHIM_ORC_* codes. */
enum { SHIM_ORC_UNDEFINED, SHIM_ORC_PREV_SP, SHIM_ORC_SP, SHIM_ORC_BP, SHIM_ORC_SP_INDIRECT, SHIM_ORC_BP_INDIRECT };
enum { SHIM_ORC_TYPE_UNDEFINED, SHIM_ORC_TYPE_END_OF_STACK, SHIM_ORC_TYPE_CALL, SHIM_ORC_TYPE_REGS, SHIM_ORC_TYPE_REGS_PARTIAL };
struct shim_orc {
	unsigned long ip;
	int sp_reg, sp_offset, bp_reg, bp_offset, type, signal;
};

/* A text region (relocated): core kernel text, or another kind (modules, BPF, trampolines). */
struct shim_text {
	unsigned long start, end;
	int core;
};

/* One walk, with every address already relocated into the mapped window. */
struct shim_walk {
	int running;			/* task.state == running: the walk is of `current` */
	unsigned long pc, fp, sp;	/* arm64 pc / x29 / sp; x86_64 rip / rbp / rsp */
	unsigned long task_stack;	/* the task's stack (base) */
	unsigned long irq_stack;	/* this CPU's IRQ stack, 0 when not accessible */
	unsigned long nmi_stack;	/* this CPU's NMI stack, 0 when not accessible */
	unsigned long pt_regs;		/* task_pt_regs(task) */
	unsigned long rth_addr, krp_addr;	/* return_to_handler, __kretprobe_trampoline */
	int has_fgraph;			/* task->ret_stack != NULL */
	int in_nmi;
	int kthread;			/* task.kind == kthread (PF_KTHREAD) */
	unsigned long ret_from_fork;	/* ret_from_fork_asm (or ret_from_fork), 0 when absent */
	const struct shim_orc *orc;	/* x86_64: unwind.orc, sorted by ip */
	unsigned long nr_orc;
	const struct shim_text *text;
	unsigned long nr_text;
};

/* x86_64: where relocated core kernel text must start (its ORC tables are linked at a fixed address). */
#define SHIM_X86_TEXT_ANCHOR 0x7e0040000000UL

/* Provided by the arch state file: run arch_stack_walk_reliable() on the walk. */
int shim_arch_walk(const struct shim_walk *w);
/* Provided by the arch state file: its own memory inside the relocated window ([0, 0) when none). */
void shim_arch_owned(unsigned long *lo, unsigned long *hi);

/* Provided by the glue. */
int shim_consume(unsigned long addr);
unsigned long shim_fgraph_ret(int *idx, unsigned long ret, unsigned long retp);
unsigned long shim_kretprobe_ret(unsigned long *cursor, unsigned long retp);
int shim_text_address(unsigned long addr, int core_only);
void shim_vprintk(const char *fmt, __builtin_va_list ap);

#endif
