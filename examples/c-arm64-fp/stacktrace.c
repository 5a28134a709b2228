/*
 * arch_stack_walk_reliable() for arm64 frame records, written the way
 * arch/arm64/kernel/stacktrace.c writes it (kunwind_*), over a snapshot instead of live memory.
 *
 *  - A frame record { fp, lr } must be 8-byte aligned and wholly on an accessible stack.
 *  - Frames only move upward within a stack, and a stack once left is never re-entered
 *    (unwind_find_stack() / unwind_consume_stack()).
 *  - A zeroed record is a frame_record_meta: FINAL at &task_pt_regs(task)->stackframe ends a
 *    successful walk; PT_REGS is an exception boundary, where the LR may have been live, so a
 *    reliable walk gives up (arch_reliable_kunwind_consume_entry()).
 *  - Every reported pc must be kernel text, outside STACK_FRAME_NON_STANDARD code.
 *  - return_to_handler / __kretprobe_trampoline are replaced by the original return address,
 *    keyed by the frame pointer; failing that, the walk is unreliable.
 */
#include "stacktrace.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define EINVAL 22
#define ENOENT 2
#define MAX_FRAMES 512

struct stack_info {
	uint64_t low, high;
	enum stack_type type;
	bool valid;
};

enum kunwind_source { KUNWIND_SOURCE_TASK, KUNWIND_SOURCE_CALLER, KUNWIND_SOURCE_FRAME, KUNWIND_SOURCE_REGS_PC };

struct kunwind_state {
	struct snapshot *snap;
	uint64_t pc, fp;
	enum kunwind_source source;
	struct stack_info stack;	/* the stack being consumed (common.stack) */
	struct stack_info stacks[8];	/* the others (common.stacks) */
	size_t nr_stacks;
	int graph_idx;
	size_t kr_cur;
	struct walk_result *res;
	/* abi constants */
	long s_fp, s_pc, s_stackframe, s_stackframe_type, pt_regs_size, meta_final, meta_pt_regs, record_size, record_align;
};

__attribute__((format(printf, 3, 4)))
static int fail(struct kunwind_state *state, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(state->res->reason, sizeof(state->res->reason), fmt, ap);
	va_end(ap);
	state->res->rc = -rc;
	return -rc;
}

static bool on_stack(const struct stack_info *info, uint64_t addr, uint64_t size)
{
	return info->valid && addr >= info->low && addr + size >= addr && addr + size <= info->high;
}

/* unwind_find_stack(): the current stack first, then the stacks not yet left. */
static struct stack_info *unwind_find_stack(struct kunwind_state *state, uint64_t addr, uint64_t size)
{
	size_t i;

	if (on_stack(&state->stack, addr, size))
		return &state->stack;
	for (i = 0; i < state->nr_stacks; i++)
		if (on_stack(&state->stacks[i], addr, size))
			return &state->stacks[i];
	return NULL;
}

/* unwind_consume_stack(): from now on only this stack, above [addr, addr+size). */
static void unwind_consume_stack(struct kunwind_state *state, struct stack_info *info, uint64_t addr, uint64_t size)
{
	if (info != &state->stack) {
		state->stack = *info;
		info->valid = false;
	}
	state->stack.low = addr + size;
}

/* kunwind_recover_return_address() */
static int kunwind_recover_return_address(struct kunwind_state *state)
{
	struct snapshot *snap = state->snap;
	uint64_t orig;

	if (snap->return_to_handler && state->pc == snap->return_to_handler) {
		orig = ftrace_graph_ret_addr(snap, &state->graph_idx, state->pc, state->fp);
		if (orig == state->pc)
			return fail(state, EINVAL, "kunwind_recover_return_address: return_to_handler at fp 0x%llx has no ret_stack entry",
				    (unsigned long long)state->fp);
		state->pc = orig;
	}
	if (is_kretprobe_trampoline(snap, state->pc)) {
		orig = kretprobe_find_ret_addr(snap, &state->kr_cur, state->pc, state->fp);
		if (!orig)
			return fail(state, EINVAL, "kunwind_recover_return_address: __kretprobe_trampoline at fp 0x%llx has no kretprobe instance",
				    (unsigned long long)state->fp);
		state->pc = orig;
	}
	return 0;
}

/*
 * An exception boundary: kunwind_next_regs_pc() would continue from regs->pc, but a reliable walk
 * cannot consume it: arch_reliable_kunwind_consume_entry() rejects KUNWIND_SOURCE_REGS_PC, since
 * the LR may or may not have been live when the exception was taken.
 */
static int fail_at_boundary(struct kunwind_state *state, uint64_t fp)
{
	state->source = KUNWIND_SOURCE_REGS_PC;
	return fail(state, EINVAL, "arch_reliable_kunwind_consume_entry: exception boundary (pt_regs at 0x%llx, record at 0x%llx); the LR may have been live",
		    (unsigned long long)(fp - (uint64_t)state->s_stackframe), (unsigned long long)fp);
}

/* kunwind_next_frame_record_meta(): a {0, 0} record; its type says FINAL or PT_REGS. */
static int kunwind_next_frame_record_meta(struct kunwind_state *state)
{
	uint64_t fp = state->fp, type;
	uint64_t meta_size = (uint64_t)(state->s_stackframe_type - state->s_stackframe + 8);

	if (!unwind_find_stack(state, fp, meta_size))
		return fail(state, EINVAL, "kunwind_next_frame_record_meta: meta record at 0x%llx is not on an accessible stack", (unsigned long long)(fp));
	type = read_u64(state->snap, fp + (uint64_t)(state->s_stackframe_type - state->s_stackframe));
	if (type == (uint64_t)state->meta_final) {
		if (fp == state->snap->final_frame)
			return -ENOENT;
		return fail(state, EINVAL, "kunwind_next_frame_record_meta: FINAL record at 0x%llx is not task_pt_regs(task)->stackframe (0x%llx)", (unsigned long long)(fp), (unsigned long long)(state->snap->final_frame));
	}
	if (type == (uint64_t)state->meta_pt_regs)
		return fail_at_boundary(state, fp);
	return fail(state, EINVAL, "kunwind_next_frame_record_meta: zeroed frame record at 0x%llx with unknown meta type %llu", (unsigned long long)(fp), (unsigned long long)(type));
}

/* kunwind_next_frame_record() */
static int kunwind_next_frame_record(struct kunwind_state *state)
{
	uint64_t fp = state->fp, new_fp, new_pc;
	struct stack_info *info;

	if (fp % (uint64_t)state->record_align)
		return fail(state, EINVAL, "kunwind_next_frame_record: fp 0x%llx is misaligned", (unsigned long long)(fp));
	info = unwind_find_stack(state, fp, (uint64_t)state->record_size);
	if (!info)
		return fail(state, EINVAL, "kunwind_next_frame_record: frame record at 0x%llx is not on an accessible stack (or is below an earlier record)", (unsigned long long)(fp));
	new_fp = read_u64(state->snap, fp);
	new_pc = read_u64(state->snap, fp + 8);
	/* Only a zeroed record is a frame_record_meta (v6.13+); any other chains on. */
	if (!new_fp && !new_pc)
		return kunwind_next_frame_record_meta(state);
	unwind_consume_stack(state, info, fp, (uint64_t)state->record_size);
	state->fp = new_fp;
	state->pc = new_pc;
	state->source = KUNWIND_SOURCE_FRAME;
	return 0;
}

/* kunwind_next() */
static int kunwind_next(struct kunwind_state *state)
{
	int err = kunwind_next_frame_record(state);

	if (err)
		return err;
	return kunwind_recover_return_address(state);
}

/* arch_reliable_kunwind_consume_entry(): report the pc, if it is kernel text we can unwind from. */
static bool consume_entry(struct kunwind_state *state)
{
	struct walk_result *res = state->res;
	const struct symbol *sym;

	if (res->nr_entries >= MAX_FRAMES) {
		fail(state, EINVAL, "do_kunwind: more than %d frames", MAX_FRAMES);
		return false;
	}
	if (!__kernel_text_address(state->snap, state->pc)) {
		fail(state, EINVAL, "arch_reliable_kunwind_consume_entry: pc 0x%llx is not kernel text", (unsigned long long)(state->pc));
		return false;
	}
	/* Code marked STACK_FRAME_NON_STANDARD may not keep the frame-pointer protocol (spec 3.2). */
	sym = lookup_symbol(state->snap, state->pc);
	if (sym && sym->non_standard) {
		fail(state, EINVAL, "arch_reliable_kunwind_consume_entry: pc 0x%llx is in %s, marked STACK_FRAME_NON_STANDARD",
		     (unsigned long long)state->pc, sym->name);
		return false;
	}
	res->entries[res->nr_entries++] = state->pc;
	return true;
}

/* kunwind_init_from_task() / kunwind_init_from_caller() and the stacks of this task and CPU. */
static int kunwind_init(struct kunwind_state *state, struct snapshot *snap, struct walk_result *res)
{
	bool ok = true;
	size_t i;

	memset(state, 0, sizeof(*state));
	state->snap = snap;
	state->res = res;
	state->pc = snap->pc;
	state->fp = snap->fp;
	state->source = snap->blocked ? KUNWIND_SOURCE_TASK : KUNWIND_SOURCE_CALLER;
	state->graph_idx = -1;
	state->s_fp = abi(snap, "S_FP", &ok);
	state->s_pc = abi(snap, "S_PC", &ok);
	state->s_stackframe = abi(snap, "S_STACKFRAME", &ok);
	state->s_stackframe_type = abi(snap, "S_STACKFRAME_TYPE", &ok);
	state->pt_regs_size = abi(snap, "PT_REGS_SIZE", &ok);
	state->meta_final = abi(snap, "FRAME_META_TYPE_FINAL", &ok);
	state->meta_pt_regs = abi(snap, "FRAME_META_TYPE_PT_REGS", &ok);
	state->record_size = abi(snap, "FRAME_RECORD_SIZE", &ok);
	state->record_align = abi(snap, "FRAME_RECORD_ALIGN", &ok);
	if (!ok || state->record_align <= 0)
		return fail(state, EINVAL, "kunwind_init: snapshot.abi lacks a frame-record constant");
	for (i = 0; i < snap->nr_stacks && i < sizeof(state->stacks) / sizeof(state->stacks[0]); i++) {
		state->stacks[i].low = snap->stacks[i].region->base;
		state->stacks[i].high = snap->stacks[i].region->base + snap->stacks[i].region->size;
		state->stacks[i].type = snap->stacks[i].type;
		state->stacks[i].valid = true;
	}
	state->nr_stacks = i;
	return 0;
}

int arch_stack_walk_reliable(struct snapshot *snap, struct walk_result *res)
{
	struct kunwind_state state;
	int ret;

	res->nr_entries = 0;
	res->rc = 0;
	res->reason[0] = '\0';
	if (kunwind_init(&state, snap, res))
		return res->rc;
	/* do_kunwind() */
	if (kunwind_recover_return_address(&state))
		return res->rc;
	for (;;) {
		if (!consume_entry(&state))
			return res->rc;
		ret = kunwind_next(&state);
		if (ret == -ENOENT)
			return res->rc = 0;
		if (ret < 0)
			return res->rc;
	}
}
