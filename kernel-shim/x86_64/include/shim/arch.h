/*
 * x86_64 part of the kernel-tree shim: struct pt_regs and struct inactive_task_frame laid out from
 * the snapshot's abi constants (shim-abi.h), the task, the per-CPU IRQ stack and the exception
 * stacks of the cpu_entry_area, the ORC lookup table and the module lookup.
 */
#ifndef SHIM_ARCH_H
#define SHIM_ARCH_H
#include <shim-abi.h>

#define THREAD_SIZE SHIM_ABI_THREAD_SIZE
#define IRQ_STACK_SIZE SHIM_ABI_IRQ_STACK_SIZE
#define PAGE_SHIFT 12
#define PAGE_SIZE (1UL << PAGE_SHIFT)
#define PAGE_ALIGN(x) ALIGN((unsigned long)(x), PAGE_SIZE)
#define PFN_DOWN(x) ((x) >> PAGE_SHIFT)
#define PTR_ALIGN(p, a) ((__typeof__(p))ALIGN((unsigned long)(p), (a)))
#define BITS_PER_LONG 64
#define ____cacheline_aligned __attribute__((__aligned__(64)))
#define __LITTLE_ENDIAN_BITFIELD 1

#define __shim_field(name, off) struct { char __pad_##name[off]; unsigned long name; }
struct pt_regs {
	union {
		__shim_field(r15, SHIM_ABI_PT_R15); __shim_field(r14, SHIM_ABI_PT_R14); __shim_field(r13, SHIM_ABI_PT_R13);
		__shim_field(r12, SHIM_ABI_PT_R12); __shim_field(bp, SHIM_ABI_PT_RBP); __shim_field(bx, SHIM_ABI_PT_RBX);
		__shim_field(r11, SHIM_ABI_PT_R11); __shim_field(r10, SHIM_ABI_PT_R10); __shim_field(r9, SHIM_ABI_PT_R9);
		__shim_field(r8, SHIM_ABI_PT_R8); __shim_field(ax, SHIM_ABI_PT_RAX); __shim_field(cx, SHIM_ABI_PT_RCX);
		__shim_field(dx, SHIM_ABI_PT_RDX); __shim_field(si, SHIM_ABI_PT_RSI); __shim_field(di, SHIM_ABI_PT_RDI);
		__shim_field(orig_ax, SHIM_ABI_PT_ORIG_RAX); __shim_field(ip, SHIM_ABI_PT_RIP); __shim_field(cs, SHIM_ABI_PT_CS);
		__shim_field(flags, SHIM_ABI_PT_EFLAGS); __shim_field(sp, SHIM_ABI_PT_RSP); __shim_field(ss, SHIM_ABI_PT_SS);
		char __size[SHIM_ABI_PT_REGS_SIZE];
	};
};
_Static_assert(sizeof(struct pt_regs) == SHIM_ABI_PT_REGS_SIZE, "PT_REGS_SIZE");
_Static_assert(__builtin_offsetof(struct pt_regs, ip) == SHIM_ABI_PT_IRET_FRAME, "PT_IRET_FRAME is pt_regs.ip");
#define user_mode(regs) ((((regs)->cs) & 3) == 3)

/* The frame switch_to() leaves on a blocked task's stack (asm/switch_to.h). */
struct inactive_task_frame {
	union {
		__shim_field(r15, SHIM_ABI_ITF_R15); __shim_field(r14, SHIM_ABI_ITF_R14); __shim_field(r13, SHIM_ABI_ITF_R13);
		__shim_field(r12, SHIM_ABI_ITF_R12); __shim_field(bx, SHIM_ABI_ITF_RBX); __shim_field(bp, SHIM_ABI_ITF_RBP);
		__shim_field(ret_addr, SHIM_ABI_ITF_RET_ADDR);
		char __size[SHIM_ABI_ITF_SIZE];
	};
};
_Static_assert(sizeof(struct inactive_task_frame) == SHIM_ABI_ITF_SIZE, "ITF_SIZE");

struct thread_struct { unsigned long sp; };
struct task_struct {
	void *stack;
	unsigned int flags;
	struct thread_struct thread;
	struct ftrace_ret_stack *ret_stack;	/* non-NULL when the snapshot has fgraph */
	unsigned long shim_pt_regs;		/* the snapshot's ptRegs (task_pt_regs()) */
};

/* ret_from_fork_asm: the snapshot's ret_from_fork_asm (or ret_from_fork). */
extern unsigned long shim_ret_from_fork;
#define ret_from_fork_asm ((void *)shim_ret_from_fork)

/* The cpu_entry_area's exception stacks: the snapshot's NMI stack is the NMI one. */
enum exception_stack_ordering { ESTACK_DF, ESTACK_NMI, ESTACK_DB, ESTACK_MCE, ESTACK_VC, ESTACK_VC2, N_EXCEPTION_STACKS };
#define EXCEPTION_STKSZ SHIM_ABI_NMI_STACK_SIZE
struct cea_exception_stacks {
	char DF_stack_guard[PAGE_SIZE]; char DF_stack[EXCEPTION_STKSZ];
	char NMI_stack_guard[PAGE_SIZE]; char NMI_stack[EXCEPTION_STKSZ];
	char DB_stack_guard[PAGE_SIZE]; char DB_stack[EXCEPTION_STKSZ];
	char MCE_stack_guard[PAGE_SIZE]; char MCE_stack[EXCEPTION_STKSZ];
	char VC_stack_guard[PAGE_SIZE]; char VC_stack[EXCEPTION_STKSZ];
	char VC2_stack_guard[PAGE_SIZE]; char VC2_stack[EXCEPTION_STKSZ];
	char IST_top_guard[PAGE_SIZE];
};
#define CEA_ESTACK_SIZE(st) sizeof(((struct cea_exception_stacks *)0)->st##_stack)
#define CEA_ESTACK_OFFS(st) __builtin_offsetof(struct cea_exception_stacks, st##_stack)
#define CEA_ESTACK_PAGES (sizeof(struct cea_exception_stacks) / PAGE_SIZE)
DECLARE_PER_CPU(struct cea_exception_stacks *, cea_exception_stacks);
DECLARE_PER_CPU(void *, hardirq_stack_ptr);

/* The ORC fast lookup table (asm/orc_lookup.h), filled per walk from the snapshot. */
extern unsigned int shim_orc_lookup[];
extern unsigned int shim_orc_lookup_blocks;
extern unsigned long shim_stext, shim_etext;
#define LOOKUP_BLOCK_ORDER 8
#define LOOKUP_BLOCK_SIZE (1 << LOOKUP_BLOCK_ORDER)
#define LOOKUP_START_IP (unsigned long)shim_stext
#define LOOKUP_STOP_IP (unsigned long)shim_etext
#define orc_lookup shim_orc_lookup
#define orc_lookup_end (shim_orc_lookup + shim_orc_lookup_blocks)
#define is_kernel_inittext(ip) 0
#define ORC_HEADER static const int __maybe_unused __shim_orc_header

/* Modules: one fake module per non-core text region of the snapshot that has ORC entries. */
struct orc_entry;
struct mod_arch_specific { unsigned int num_orcs; int *orc_unwind_ip; struct orc_entry *orc_unwind; };
struct module { struct mod_arch_specific arch; };
struct module *__module_address(unsigned long addr);

/* Kernel services unwind_orc.c uses in passing. */
#define early_param(name, fn)
#define guard(type) __shim_guard_##type
static inline void __shim_guard_rcu(void) { }
struct mutex { int unused; };
#define DEFINE_MUTEX(m) struct mutex m
#define mutex_lock(m) do { } while (0)
#define mutex_unlock(m) do { } while (0)
#define swap(a, b) do { __typeof__(a) __t = (a); (a) = (b); (b) = __t; } while (0)
void sort(void *base, size_t num, size_t size, int (*cmp)(const void *, const void *), void (*swp)(void *, void *, int));
#define memset(d, c, n) __builtin_memset(d, c, n)
#define printk_deferred(...) printk(__VA_ARGS__)
#define TASK_SIZE 0x00007ffffffff000UL
#define __range_not_ok(p, n, limit) 1
#define __get_user(x, p) ((x) = 0, -EFAULT)

#endif /* SHIM_ARCH_H */
