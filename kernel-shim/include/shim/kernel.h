/*
 * The kernel-tree shim: the few kernel types, macros and services an arch unwinder uses, for
 * building a tree's own unwinder source in user space (npm run conformance -- --kernel-tree).
 * Compiled with -nostdinc: nothing here comes from the C library. Every fake linux/ and asm/ header
 * is a one-line include of this file or of shim/arch.h. Each macro is listed in docs/maintainers.md.
 */
#ifndef SHIM_KERNEL_H
#define SHIM_KERNEL_H

/* Types (linux/types.h). */
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef signed char s8;
typedef short s16;
typedef int s32;
typedef long long s64;
typedef _Bool bool;
typedef unsigned long size_t;
typedef long ssize_t;
typedef unsigned long uintptr_t;
typedef u32 compat_uptr_t;
#define true 1
#define false 0
#define NULL ((void *)0)
#define ULONG_MAX (~0UL)

/* Compiler attributes (linux/compiler*.h). noinstr keeps the sanitizer on, so the walk is observed. */
#define __always_inline inline __attribute__((__always_inline__))
#define noinline __attribute__((__noinline__))
#define notrace
#define noinstr noinline notrace
#define __user
#define __init
#define __initdata
#define __ro_after_init
#define __maybe_unused __attribute__((__unused__))
#define __packed __attribute__((__packed__))
#define __aligned(x) __attribute__((__aligned__(x)))
#define __section(s) __attribute__((__section__(s)))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define barrier() __asm__ __volatile__("" ::: "memory")
#define offsetof(t, m) __builtin_offsetof(t, m)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ALIGN(x, a) (((x) + ((a) - 1)) & ~((__typeof__(x))(a) - 1))
#define IS_ALIGNED(x, a) (((x) & ((__typeof__(x))(a) - 1)) == 0)
#define BUILD_BUG_ON(c) _Static_assert(!(c), #c)
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#define min(a, b) ((a) < (b) ? (a) : (b))
#define max(a, b) ((a) > (b) ? (a) : (b))
#define IS_ENABLED(option) __shim_is_defined(option)
#define __shim_is_defined(x) __shim_is_defined2(__shim_arg_##x)
#define __shim_arg_1 0,
#define __shim_is_defined2(v) __shim_is_defined3(v 1, 0)
#define __shim_is_defined3(ignored, val, ...) val
#define EXPORT_SYMBOL(s)
#define EXPORT_SYMBOL_GPL(s)
#define NOKPROBE_SYMBOL(s)
#define STACK_FRAME_NON_STANDARD(s)
#define STACK_FRAME_NON_STANDARD_FP(s)

/* READ_ONCE() and friends: plain volatile loads, each one seen by the sanitizer hooks. */
#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))
#define READ_ONCE_NOCHECK(x) READ_ONCE(x)
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))

/* errno (uapi/asm-generic/errno-base.h). */
#define ENOENT 2
#define EFAULT 14
#define EINVAL 22
#define ENOSYS 38

/* WARN*() and BUG(): recorded by the glue and reported as the walk's reason. */
void shim_warn(const char *what, const char *cond, const char *file, int line, const char *func);
#define WARN_ON(c) ({ bool __w = !!(c); if (__w) shim_warn("WARN_ON", #c, __FILE__, __LINE__, __func__); __w; })
#define WARN_ON_ONCE(c) ({ bool __w = !!(c); if (__w) shim_warn("WARN_ON_ONCE", #c, __FILE__, __LINE__, __func__); __w; })
#define WARN(c, ...) ({ bool __w = !!(c); if (__w) shim_warn("WARN", #c, __FILE__, __LINE__, __func__); __w; })
#define WARN_ONCE(c, ...) WARN(c, __VA_ARGS__)
#define BUG() shim_warn("BUG", "", __FILE__, __LINE__, __func__)
#define BUG_ON(c) do { if (c) shim_warn("BUG_ON", #c, __FILE__, __LINE__, __func__); } while (0)

/* printk(): kept for the report (the glue prints it on stderr, which the suite keeps). */
int printk(const char *fmt, ...) __attribute__((__format__(__printf__, 1, 2)));
#define pr_debug(...) do { } while (0)
#define pr_info(...) printk(__VA_ARGS__)
#define pr_warn(...) printk(__VA_ARGS__)
#define pr_err(...) printk(__VA_ARGS__)
#define pr_warn_once(...) printk(__VA_ARGS__)
#define printk_deferred_once(...) printk(__VA_ARGS__)
#define KERN_DEFAULT ""
#define KERN_WARNING ""

/* Per-CPU variables: one CPU, plain variables the glue fills from the snapshot. */
#define DECLARE_PER_CPU(type, name) extern __typeof__(type) name
#define DEFINE_PER_CPU(type, name) __typeof__(type) name
#define raw_cpu_read(v) (v)
#define this_cpu_read(v) (v)
#define __this_cpu_read(v) (v)
#define raw_cpu_ptr(v) (&(v))
#define this_cpu_ptr(v) (&(v))
#define per_cpu(v, cpu) (v)
#define per_cpu_ptr(v, cpu) (&(v))
#define smp_processor_id() 0
#define raw_smp_processor_id() 0

/* Context the snapshot decides (the glue answers from the snapshot, see docs/maintainers.md). */
bool shim_preemptible(void);
bool shim_in_nmi(void);
#define preemptible() shim_preemptible()
#define in_nmi() shim_in_nmi()
#define preempt_disable() do { } while (0)
#define preempt_enable() do { } while (0)
#define pagefault_disable() do { } while (0)
#define pagefault_enable() do { } while (0)
#define rcu_read_lock() do { } while (0)
#define rcu_read_unlock() do { } while (0)
#define access_ok(p, n) 0
#define __copy_from_user_inatomic(d, s, n) (n)
#define compat_ptr(p) ((void *)(unsigned long)(p))

/* Lists a walker may look at (linux/llist.h, linux/list.h). */
struct llist_node { struct llist_node *next; };
struct llist_head { struct llist_node *first; };
struct list_head { struct list_head *next, *prev; };

/* The task: `current` and the fields arch unwinders read (linux/sched.h); arch part in shim/arch.h. */
struct task_struct;
struct task_struct *shim_get_current(void);
#define current shim_get_current()
#define get_current() shim_get_current()
#define try_get_task_stack(t) ((t)->stack != NULL)
#define put_task_stack(t) do { } while (0)
#define task_stack_page(t) ((void *)(t)->stack)
#define task_pt_regs(t) ((struct pt_regs *)(t)->shim_pt_regs)
#define PF_KTHREAD 0x00200000

/* stack_trace_consume_fn (linux/stacktrace.h). */
typedef bool (*stack_trace_consume_fn)(void *cookie, unsigned long addr);

/* Function-graph tracer and kretprobes (linux/ftrace.h, linux/kprobes.h): the snapshot's state. */
struct ftrace_ret_stack;
extern unsigned long shim_return_to_handler;
extern unsigned long shim_kretprobe_trampoline;
#define return_to_handler ((void (*)(void))shim_return_to_handler)
unsigned long ftrace_graph_ret_addr(struct task_struct *task, int *idx, unsigned long ret, unsigned long *retp);
unsigned long kretprobe_find_ret_addr(struct task_struct *tsk, void *fp, struct llist_node **cur);
static inline bool is_kretprobe_trampoline(unsigned long addr)
{
	return shim_kretprobe_trampoline && addr == shim_kretprobe_trampoline;
}
#define is_rethook_trampoline(addr) is_kretprobe_trampoline(addr)
#define rethook_find_ret_addr(tsk, fp, cur) kretprobe_find_ret_addr(tsk, (void *)(fp), cur)

/* Kernel text (linux/kallsyms.h, linux/kernel.h): snapshot regions of kind *-text, except foreign. */
bool __kernel_text_address(unsigned long addr);
bool kernel_text_address(unsigned long addr);
bool core_kernel_text(unsigned long addr);

#include <shim/arch.h>

#endif /* SHIM_KERNEL_H */
