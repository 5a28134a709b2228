/*
 * The interface between the glue (user space: protocol, snapshot, relocation, sanitizer hooks) and
 * the arch state file (built with the shim headers: `current`, per-CPU data, fgraph / kretprobe
 * helpers). Plain C types only: both sides include it.
 */
#ifndef SHIM_GLUE_API_H
#define SHIM_GLUE_API_H

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
};

/* Provided by the arch state file: run arch_stack_walk_reliable() on the walk. */
int shim_arch_walk(const struct shim_walk *w);

/* Provided by the glue. */
int shim_consume(unsigned long addr);
unsigned long shim_fgraph_ret(int *idx, unsigned long ret, unsigned long retp);
unsigned long shim_kretprobe_ret(unsigned long *cursor, unsigned long retp);
int shim_text_address(unsigned long addr, int core_only);
void shim_vprintk(const char *fmt, __builtin_va_list ap);

#endif
