/*
 * The snapshot of one task, as a kernel-side unwinder would see it: memory regions, the task's
 * accessible stacks, registers, symbols, ABI constants and per-task tracing state. Helpers named
 * after their kernel counterparts give arch-style code the same view it has in the kernel.
 */
#ifndef SNAPSHOT_H
#define SNAPSHOT_H
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include "json.h"

enum stack_type { STACK_TYPE_UNKNOWN, STACK_TYPE_TASK, STACK_TYPE_IRQ, STACK_TYPE_NMI, STACK_TYPE_OVERFLOW, STACK_TYPE_SDEI };

struct region {
	const char *name;
	const char *kind;	/* kernel-text, module-text, bpf-jit, trampoline-text, foreign-text, *-stack, data */
	uint64_t base, size;
	uint8_t *data;		/* NULL for text regions (no bytes are sent for code) */
};

struct symbol {
	const char *name;
	uint64_t start, end;	/* [start, end) */
	const char *kind;	/* func, code, ftrace-trampoline, return-trampoline, plt, bpf, foreign, ... */
	bool non_standard;	/* STACK_FRAME_NON_STANDARD() */
};

struct ret_entry {		/* task->ret_stack entry, or a kretprobe_instance */
	uint64_t ret, func, retp;
};

struct access {
	uint64_t addr;
	unsigned size;
};

struct snapshot {
	struct json *root;
	const char *id;
	const char *arch;
	bool blocked;		/* task->__state != TASK_RUNNING: start from the saved context */
	uint64_t pc, fp;	/* regs.pc, regs.x29 (x86_64: regs.rip, regs.rbp) */
	struct region *regions;
	size_t nr_regions;
	struct {
		struct region *region;
		enum stack_type type;
	} *stacks;
	size_t nr_stacks;
	uint64_t pt_regs, final_frame;
	struct symbol *symbols;	/* sorted by start */
	size_t nr_symbols;
	uint64_t return_to_handler;	/* 0 when there is no such symbol */
	uint64_t kretprobe_trampoline;
	struct ret_entry *ret_stack;	/* oldest first; NULL with nr 0 when graph tracing is off */
	size_t nr_ret_stack;
	struct ret_entry *kretprobes;	/* newest first */
	size_t nr_kretprobes;
	/* Every memory read the walk made, reported back so unsafe reads can be judged. */
	struct access *accesses;
	size_t nr_accesses, cap_accesses;
};

/* Fill `s` from parsed JSON; returns NULL or an error message. */
const char *snapshot_load(struct snapshot *s, struct json *root);
void snapshot_free(struct snapshot *s);

/* ABI constant from snapshot.abi (pt_regs offsets, meta types); `*ok` cleared when missing. */
long abi(const struct snapshot *s, const char *name, bool *ok);

/* The region holding [addr, addr+size), or NULL. */
struct region *find_region(const struct snapshot *s, uint64_t addr, uint64_t size);

/* READ_ONCE() of a 64-bit word: logged; 0 (and still logged) when unmapped. */
uint64_t read_u64(struct snapshot *s, uint64_t addr);

/* The symbol whose [start, end) holds addr (like kallsyms_lookup()), or NULL. */
const struct symbol *lookup_symbol(const struct snapshot *s, uint64_t addr);

/* __kernel_text_address(): core kernel, module, BPF JIT and ftrace/optprobe trampoline text. */
bool __kernel_text_address(const struct snapshot *s, uint64_t addr);

/*
 * ftrace_graph_ret_addr(): if `ret` is return_to_handler, the original return address of the
 * ret_stack entry keyed by `retp`, searching down from *idx (-1: the innermost entry). Returns
 * `ret` unchanged when it is not return_to_handler or when no entry matches (as the kernel does).
 */
uint64_t ftrace_graph_ret_addr(const struct snapshot *s, int *idx, uint64_t ret, uint64_t retp);

bool is_kretprobe_trampoline(const struct snapshot *s, uint64_t addr);

/*
 * kretprobe_find_ret_addr(): the original return address of the kretprobe instance keyed by
 * `retp`, walking the instances from *cur; 0 when none matches. Call it for the trampoline only.
 */
uint64_t kretprobe_find_ret_addr(const struct snapshot *s, size_t *cur, uint64_t ret, uint64_t retp);

#endif
