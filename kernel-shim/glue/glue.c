/*
 * Plugin-protocol glue for a kernel tree's own unwinder (npm run conformance -- --kernel-tree).
 *
 *  - Reads the snapshot with the C example's loader (examples/c-arm64-fp/json.c, snapshot.c).
 *  - Relocates the kernel address window by one constant into a window user space can map, and
 *    maps every data region there, with each word that points into the window moved too.
 *  - Observes every load of the kernel file: it is built with -fsanitize=kernel-address and
 *    outlined checks, so each load calls __asan_load*_noabort() here. Loads of snapshot memory are
 *    logged (the protocol's `accesses`); a load of an unmapped kernel address stops the walk.
 *  - Reports the trace, the kernel's rc and, when it is not 0, a reason built from the kernel's
 *    WARNs, printk()s and the last reads.
 * argv[1]: the start answer (JSON, one line), written by src/kerneltree/build.ts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "json.h"
#include "snapshot.h"
#include "api.h"
#include "shim-abi.h"	/* the abi constants the kernel files were built with (generated) */

#define PROTOCOL_VERSION 1
#define MAX_TRACE 512
#define PAGE 4096UL
#define USER_TOP 0x800000000000UL	/* addresses from here up cannot be mapped by a process */
#define TARGET 0x100000000000UL		/* where the kernel window is moved (16 TiB) */
#define MAX_SPAN 0x7c0000000000UL	/* the window may span up to 124 TiB (x86_64: direct map to kernel text) */
#define WINDOW_PAD 0x100000000UL	/* values this close to a region still count as kernel addresses */

static struct snapshot snap;
static uint64_t win_lo, win_hi, delta;	/* [win_lo, win_hi) moves to [win_lo + delta, win_hi + delta) */
static uint64_t *pages;
static size_t nr_pages, cap_pages;
static uint64_t trace[MAX_TRACE];
static size_t nr_trace;
static char notes[2048];		/* WARNs and printk()s of this walk */
static int in_walk;
static sigjmp_buf fault_jmp;
static uint64_t fault_addr;
static unsigned fault_size;
static const char *fault_kind;
static unsigned long owned_lo, owned_hi;

/* ---------- relocation ---------- */

static int in_window(uint64_t v) { return delta && v >= win_lo && v < win_hi; }
static uint64_t reloc(uint64_t v) { return in_window(v) ? v + delta : v; }
static uint64_t unreloc(uint64_t v) { return delta && v >= win_lo + delta && v < win_hi + delta ? v - delta : v; }

static const char *compute_window(const char *arch)
{
	uint64_t lo = UINT64_MAX, hi = 0, text = 0;
	size_t i;

	for (i = 0; i < snap.nr_regions; i++) {
		struct region *r = &snap.regions[i];
		if (r->base < USER_TOP)
			continue;	/* already mappable (e.g. EFI runtime text at a low address) */
		if (r->base < lo)
			lo = r->base;
		if (r->base + r->size > hi)
			hi = r->base + r->size;
		if (!text && !strcmp(r->kind, "kernel-text"))
			text = r->base;
	}
	delta = 0;
	if (!hi)
		return NULL;
	lo = lo > WINDOW_PAD ? (lo - WINDOW_PAD) & ~(WINDOW_PAD - 1) : 0;
	hi = hi + WINDOW_PAD < hi ? UINT64_MAX : (hi + WINDOW_PAD) & ~(WINDOW_PAD - 1);
	if (hi - lo > MAX_SPAN)
		return "the snapshot's kernel regions span more than 124 TiB: no single constant moves them into user space";
	win_lo = lo;
	win_hi = hi;
	delta = TARGET - lo;
	/* x86_64: core text goes next to the ORC tables linked at a fixed address (PC-relative ints). */
	if (!strcmp(arch, "x86_64") && text) {
		delta = SHIM_X86_TEXT_ANCHOR - text;
		if (lo + delta < 0x10000000000UL || hi + delta > 0x7f0000000000UL)
			return "the snapshot's kernel regions do not fit around the ORC tables' fixed address";
	} else if (hi + delta > 0x7f0000000000UL) {
		return "the snapshot's kernel regions are too far apart to be moved below the top of user space";
	}
	return NULL;
}

static int page_mapped(uint64_t p)
{
	size_t i;

	for (i = 0; i < nr_pages; i++)
		if (pages[i] == p)
			return 1;
	return 0;
}

static void unmap_all(void)
{
	size_t i;

	for (i = 0; i < nr_pages; i++)
		munmap((void *)pages[i], PAGE);
	nr_pages = 0;
}

/* Map every region with data at its relocated address; words that point into the window move too. */
static const char *map_regions(void)
{
	static char err[256];
	size_t i;
	uint64_t off, p;

	for (i = 0; i < snap.nr_regions; i++) {
		struct region *r = &snap.regions[i];
		uint64_t base = reloc(r->base);

		if (!r->data || !r->size)
			continue;
		if (base + r->size > USER_TOP) {
			snprintf(err, sizeof(err), "region %s at 0x%llx cannot be mapped in user space", r->name, (unsigned long long)r->base);
			return err;
		}
		for (p = base & ~(PAGE - 1); p < base + r->size; p += PAGE) {
			void *m;
			if (page_mapped(p))
				continue;
			m = mmap((void *)p, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
			if (m != (void *)p) {
				if (m != MAP_FAILED)
					munmap(m, PAGE);
				snprintf(err, sizeof(err), "cannot map region %s at 0x%llx (relocated 0x%llx): %s", r->name,
					 (unsigned long long)r->base, (unsigned long long)p, strerror(errno));
				return err;
			}
			if (nr_pages == cap_pages) {
				cap_pages = cap_pages ? cap_pages * 2 : 64;
				pages = realloc(pages, cap_pages * sizeof(*pages));
				if (!pages)
					return "out of memory";
			}
			pages[nr_pages++] = p;
		}
		memcpy((void *)base, r->data, r->size);
		for (off = (8 - (base & 7)) & 7; off + 8 <= r->size; off += 8) {
			uint64_t v;
			memcpy(&v, (char *)base + off, 8);
			if (in_window(v)) {
				v += delta;
				memcpy((char *)base + off, &v, 8);
			}
		}
	}
	return NULL;
}

/* The relocated snapshot region holding [addr, addr + size), or NULL. */
static struct region *mapped_region(uint64_t addr, uint64_t size)
{
	return find_region(&snap, unreloc(addr), size);
}

/* ---------- observing loads (the sanitizer's outlined checks) ---------- */

static void log_access(uint64_t addr, unsigned size)
{
	if (snap.nr_accesses == snap.cap_accesses) {
		size_t cap = snap.cap_accesses ? snap.cap_accesses * 2 : 64;
		struct access *a = realloc(snap.accesses, cap * sizeof(*a));
		if (!a)
			return;
		snap.accesses = a;
		snap.cap_accesses = cap;
	}
	snap.accesses[snap.nr_accesses++] = (struct access){ unreloc(addr), size };
}

static void stop_walk(uint64_t addr, unsigned size, const char *kind)
{
	fault_addr = unreloc(addr);
	fault_size = size;
	fault_kind = kind;
	in_walk = 0;
	siglongjmp(fault_jmp, 1);
}

static void check(uint64_t addr, unsigned size, int store)
{
	struct region *r;

	if (!in_walk)
		return;
	if (addr >= owned_lo && addr < owned_hi)
		return;	/* the arch state file's own tables (x86_64 ORC), linked inside the window */
	r = mapped_region(addr, size);
	if (r && r->data) {
		if (!store)
			log_access(addr, size);
		return;
	}
	/* A kernel address (relocated window or any non-user address) that is not mapped: a fault. */
	if (unreloc(addr) != addr || addr >= USER_TOP || r) {
		if (!store)
			log_access(addr, size);
		stop_walk(addr, size, store ? "write to" : "read of");
	}
	/* Otherwise the shim's own memory (the walker's locals, the task struct, per-CPU data). */
}

#define ASAN_HOOKS(n) \
	void __asan_load##n##_noabort(unsigned long a) { check(a, n, 0); } \
	void __asan_store##n##_noabort(unsigned long a) { check(a, n, 1); } \
	void __asan_load##n(unsigned long a) { check(a, n, 0); } \
	void __asan_store##n(unsigned long a) { check(a, n, 1); } \
	void __asan_report_load##n##_noabort(unsigned long a) { check(a, n, 0); } \
	void __asan_report_store##n##_noabort(unsigned long a) { check(a, n, 1); }
ASAN_HOOKS(1)
ASAN_HOOKS(2)
ASAN_HOOKS(4)
ASAN_HOOKS(8)
ASAN_HOOKS(16)
void __asan_loadN_noabort(unsigned long a, unsigned long n) { check(a, (unsigned)n, 0); }
void __asan_storeN_noabort(unsigned long a, unsigned long n) { check(a, (unsigned)n, 1); }
void __asan_loadN(unsigned long a, unsigned long n) { check(a, (unsigned)n, 0); }
void __asan_storeN(unsigned long a, unsigned long n) { check(a, (unsigned)n, 1); }
void __asan_report_load_n_noabort(unsigned long a, unsigned long n) { check(a, (unsigned)n, 0); }
void __asan_report_store_n_noabort(unsigned long a, unsigned long n) { check(a, (unsigned)n, 1); }
void __asan_handle_no_return(void) { }

/* ---------- the kernel's path (coverage callbacks), for the reason ---------- */

#define NR_PATH 32
static uint64_t path[NR_PATH];
static unsigned nr_path;

void __sanitizer_cov_trace_pc(void)
{
	if (in_walk)
		path[nr_path++ % NR_PATH] = (uint64_t)__builtin_return_address(0);
}

/* "func() at file:line, in caller()" of a code address of this program (addr2line -i, cached). */
static const char *code_line(uint64_t pc)
{
	static struct { uint64_t pc; char line[320]; } cache[256];
	static unsigned nr_cache;
	char cmd[128], fn[128] = "", where[200] = "", caller[128] = "";
	const char *w;
	unsigned i;
	FILE *p;

	for (i = 0; i < nr_cache; i++)
		if (cache[i].pc == pc)
			return cache[i].line;
	snprintf(cmd, sizeof(cmd), "addr2line -i -f -e /proc/%d/exe 0x%llx", (int)getpid(), (unsigned long long)(pc - 1));
	p = popen(cmd, "r");
	if (p) {
		if (fgets(fn, sizeof(fn), p) && fgets(where, sizeof(where), p) && fgets(caller, sizeof(caller), p))
			caller[strcspn(caller, "\n")] = '\0';
		fn[strcspn(fn, "\n")] = '\0';
		where[strcspn(where, " \n")] = '\0';
		pclose(p);
	}
	for (w = where; !strncmp(w, "./", 2); w += 2)
		;
	i = nr_cache < 256 ? nr_cache++ : 255;
	cache[i].pc = pc;
	snprintf(cache[i].line, sizeof(cache[i].line), "%s() at %s%s%s%s", fn[0] ? fn : "?", w[0] ? w : "?",
		 caller[0] ? ", in " : "", caller, caller[0] ? "()" : "");
	return cache[i].line;
}

/* The last lines of the tree's own files the walk went through, most recent first. */
static size_t put_path(char *buf, size_t len)
{
	const char *seen[3];
	unsigned n = 0, k, j;
	size_t w = 0;

	for (k = 0; k < NR_PATH && k < nr_path && n < 3; k++) {
		const char *l = code_line(path[(nr_path - 1 - k) % NR_PATH]);
		if (strstr(l, " at /") || strstr(l, " at ?"))
			continue;	/* the shim's headers (absolute paths), or unknown */
		for (j = 0; j < n && strcmp(seen[j], l); j++)
			;
		if (j < n)
			continue;
		seen[n++] = l;
		w += (size_t)snprintf(buf + w, len - w, "%s%s", n == 1 ? "; the kernel's last steps: " : " <- ", l);
		if (w >= len)
			return len;
	}
	return w;
}

/* A load the hooks did not see (e.g. a garbage user-space pointer): still a clean stop. */
static void on_segv(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)ctx;
	if (!in_walk)
		_exit(139);
	stop_walk((uint64_t)si->si_addr, 0, "fault (SIGSEGV) at");
}

/* ---------- services the arch state file calls ---------- */

static void note(const char *fmt, ...)
{
	size_t len = strlen(notes);
	va_list ap;

	if (len + 4 >= sizeof(notes))
		return;
	if (len)
		strcpy(notes + len, "; "), len += 2;
	va_start(ap, fmt);
	vsnprintf(notes + len, sizeof(notes) - len, fmt, ap);
	va_end(ap);
}

void shim_warn(const char *what, const char *cond, const char *file, int line, const char *func)
{
	note("%s(%s) at %s:%d in %s()", what, cond, file, line, func);
}

void shim_vprintk(const char *fmt, va_list ap)
{
	char buf[512];
	size_t n;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	fprintf(stderr, "kernel-tree: printk: %s\n", buf);
	if (in_walk && n)
		note("printk: %s", buf);
}

int printk(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	shim_vprintk(fmt, ap);
	va_end(ap);
	return 0;
}

int shim_consume(unsigned long addr)
{
	if (nr_trace >= MAX_TRACE) {
		note("the shim's trace buffer is full (%d entries)", MAX_TRACE);
		return 0;
	}
	trace[nr_trace++] = unreloc(addr);
	return 1;
}

/* Kernel idx 0 = start from the innermost entry; otherwise 1 + the index last matched. */
unsigned long shim_fgraph_ret(int *idx, unsigned long ret, unsigned long retp)
{
	int i = *idx > 0 ? *idx - 1 : -1;
	uint64_t orig = snap___ftrace_graph_ret_addr(&snap, &i, unreloc(ret), unreloc(retp));

	if (orig == unreloc(ret))
		return ret;
	*idx = i + 1;
	return reloc(orig);
}

unsigned long shim_kretprobe_ret(unsigned long *cursor, unsigned long retp)
{
	size_t cur = *cursor;
	uint64_t orig = snap_kretprobe_find_ret_addr(&snap, &cur, snap.kretprobe_trampoline, unreloc(retp));

	*cursor = cur;
	return orig ? reloc(orig) : 0;
}

int shim_text_address(unsigned long addr, int core_only)
{
	struct region *r = find_region(&snap, unreloc(addr), 1);

	if (!r)
		return 0;
	if (core_only)
		return !strcmp(r->kind, "kernel-text");
	return snap___kernel_text_address(&snap, unreloc(addr));
}

/* ---------- the protocol ---------- */

static void put_json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void answer_error(long seq, const char *what, const char *detail)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "%s%s%s", what, detail ? ": " : "", detail ? detail : "");
	printf("{\"seq\":%ld,\"errored\":true,\"message\":", seq);
	put_json_string(msg);
	printf("}\n");
}

static const char *errno_name(int rc)
{
	switch (-rc) {
	case EINVAL: return "-EINVAL";
	case ENOENT: return "-ENOENT";
	case EFAULT: return "-EFAULT";
	case ENOSYS: return "-ENOSYS";
	default: return NULL;
	}
}

static const char *symbol_name(uint64_t addr)
{
	const struct symbol *s = lookup_symbol(&snap, addr);
	return s ? s->name : "?";
}

/* The reason a walk was not reliable: the kernel's rc, its WARNs / printk()s, where it stopped. */
static void put_reason(int rc, int faulted)
{
	char buf[3072];
	const char *name = errno_name(rc);
	size_t n;

	if (faulted)
		n = (size_t)snprintf(buf, sizeof(buf), "the kernel code's %s 0x%llx (size %u) is not mapped; the walk was stopped there",
				     fault_kind, (unsigned long long)fault_addr, fault_size);
	else if (name)
		n = (size_t)snprintf(buf, sizeof(buf), "arch_stack_walk_reliable() returned %s", name);
	else
		n = (size_t)snprintf(buf, sizeof(buf), "arch_stack_walk_reliable() returned %d", rc);
	if (notes[0] && n < sizeof(buf))
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "; %s", notes);
	if (n < sizeof(buf))
		n += put_path(buf + n, sizeof(buf) - n);
	if (n < sizeof(buf)) {
		if (nr_trace)
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "; after %zu entries, the last 0x%llx (%s)", nr_trace,
					      (unsigned long long)trace[nr_trace - 1], symbol_name(trace[nr_trace - 1]));
		else
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "; before the first entry");
	}
	if (!faulted && snap.nr_accesses && n < sizeof(buf)) {
		uint64_t a = snap.accesses[snap.nr_accesses - 1].addr;
		struct region *r = find_region(&snap, a, 1);
		snprintf(buf + n, sizeof(buf) - n, ", the last read 0x%llx (%s)", (unsigned long long)a, r ? r->name : "unmapped");
	}
	put_json_string(buf);
}

static uint64_t reg(const char *name)
{
	uint64_t v = 0;
	const char *s = json_str(json_get(snap.root, "regs"), name);

	if (s && s[0] == '0' && s[1] == 'x')
		v = strtoull(s + 2, NULL, 16);
	return v;
}

static uint64_t stack_base(enum stack_type type)
{
	size_t i;

	for (i = 0; i < snap.nr_stacks; i++)
		if (snap.stacks[i].type == type)
			return reloc(snap.stacks[i].region->base);
	return 0;
}

/* The snapshot's abi must be the one struct pt_regs was laid out from at build time. */
static const char *check_abi(void)
{
	static const struct { const char *name; long built; } consts[] = {
		{ "PT_REGS_SIZE", SHIM_ABI_PT_REGS_SIZE },
		{ "THREAD_SIZE", SHIM_ABI_THREAD_SIZE },
		{ "IRQ_STACK_SIZE", SHIM_ABI_IRQ_STACK_SIZE },
#ifdef SHIM_ABI_S_STACKFRAME
		{ "S_STACKFRAME", SHIM_ABI_S_STACKFRAME },
		{ "S_PC", SHIM_ABI_S_PC },
#endif
#ifdef SHIM_ABI_PT_RIP
		{ "PT_RIP", SHIM_ABI_PT_RIP },
		{ "ITF_SIZE", SHIM_ABI_ITF_SIZE },
#endif
	};
	static char err[200];
	size_t i;

	for (i = 0; i < sizeof(consts) / sizeof(consts[0]); i++) {
		bool ok = true;
		long v = abi(&snap, consts[i].name, &ok);
		if (!ok || v != consts[i].built) {
			snprintf(err, sizeof(err), "the plugin was built for abi %s = %ld, the snapshot has %ld: run --kernel-tree again",
				 consts[i].name, consts[i].built, v);
			return err;
		}
	}
	return NULL;
}

static uint64_t symbol_start(const char *name)
{
	size_t i;

	for (i = 0; i < snap.nr_symbols; i++)
		if (!strcmp(snap.symbols[i].name, name))
			return snap.symbols[i].start;
	return 0;
}

static int code_of(const char *s, const char *const *names, int n)
{
	int i;

	for (i = 0; s && i < n; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

static struct shim_orc *orc;
static struct shim_text *texts;

/* The text regions and the ORC table (x86_64), relocated, for the arch state file. */
static const char *load_text_and_orc(struct shim_walk *w)
{
	static const char *const regs[] = { "undefined", "prev_sp", "sp", "bp", "sp_indirect", "bp_indirect" };
	static const char *const types[] = { "undefined", "end_of_stack", "call", "regs", "regs_partial" };
	const struct json *arr = json_get(json_get(snap.root, "unwind"), "orc"), *e;
	size_t i, n = 0;

	free(texts);
	free(orc);
	texts = calloc(snap.nr_regions + 1, sizeof(*texts));
	orc = calloc(arr && arr->type == JSON_ARRAY ? arr->len + 1 : 1, sizeof(*orc));
	if (!texts || !orc)
		return "out of memory";
	for (i = 0; i < snap.nr_regions; i++) {
		const char *k = snap.regions[i].kind;
		if (!strcmp(k, "kernel-text") || !strcmp(k, "module-text") || !strcmp(k, "bpf-jit") || !strcmp(k, "trampoline-text"))
			texts[n++] = (struct shim_text){ reloc(snap.regions[i].base), reloc(snap.regions[i].base + snap.regions[i].size),
							 !strcmp(k, "kernel-text") };
	}
	w->text = texts;
	w->nr_text = n;
	n = 0;
	if (arr && arr->type == JSON_ARRAY) {
		for (e = arr->child; e; e = e->next) {
			struct shim_orc *o = &orc[n];
			const char *ip = json_str(e, "ip");
			const struct json *so = json_get(e, "spOffset"), *bo = json_get(e, "bpOffset"), *sig = json_get(e, "signal");

			if (!ip || ip[0] != '0' || ip[1] != 'x')
				return "unwind.orc: an entry without a hex ip";
			o->ip = reloc(strtoull(ip + 2, NULL, 16));
			o->sp_reg = code_of(json_str(e, "spReg"), regs, 6);
			o->bp_reg = code_of(json_str(e, "bpReg"), regs, 6);
			o->type = code_of(json_str(e, "type"), types, 5);
			o->sp_offset = so && so->type == JSON_NUMBER ? (int)so->num : 0;
			o->bp_offset = bo && bo->type == JSON_NUMBER ? (int)bo->num : 0;
			o->signal = sig && sig->type == JSON_BOOL && sig->num;
			if (o->sp_reg < 0 || o->bp_reg < 0 || o->type < 0)
				return "unwind.orc: an entry with an unknown register or type";
			n++;
		}
	}
	w->orc = orc;
	w->nr_orc = n;
	return NULL;
}

static void answer_walk(long seq, struct json *snapshot_json, const char *arch)
{
	struct shim_walk w;
	const char *err = snapshot_load(&snap, snapshot_json);
	const char *state, *kind;
	volatile int faulted = 0;
	volatile int rc = 0;
	size_t i;

	nr_trace = 0;
	nr_path = 0;
	notes[0] = '\0';
	if (err) {
		answer_error(seq, "cannot read snapshot", err);
		snapshot_free(&snap);
		return;
	}
	if (strcmp(snap.arch, arch)) {
		printf("{\"seq\":%ld,\"skipped\":true,\"reason\":\"kernel tree built for %s; snapshot is %s\"}\n", seq, arch, snap.arch);
		snapshot_free(&snap);
		return;
	}
	err = check_abi();
	if (err) {
		answer_error(seq, "snapshot layout", err);
		snapshot_free(&snap);
		return;
	}
	err = compute_window(arch);
	if (!err)
		err = map_regions();
	if (err) {
		answer_error(seq, "cannot map the snapshot", err);
		unmap_all();
		snapshot_free(&snap);
		return;
	}
	state = json_str(json_get(snap.root, "task"), "state");
	kind = json_str(json_get(snap.root, "task"), "kind");
	memset(&w, 0, sizeof(w));
	w.running = state && !strcmp(state, "running");
	w.kthread = kind && !strcmp(kind, "kthread");
	w.pc = reloc(snap.pc);
	w.fp = reloc(snap.fp);
	w.sp = reloc(reg(strcmp(arch, "x86_64") ? "sp" : "rsp"));
	w.task_stack = stack_base(STACK_TYPE_TASK);
	/* The per-CPU stacks are in `stacks` only when this walk may read them. */
	w.irq_stack = stack_base(STACK_TYPE_IRQ);
	w.nmi_stack = stack_base(STACK_TYPE_NMI);
	w.pt_regs = reloc(snap.pt_regs);
	w.rth_addr = reloc(snap.return_to_handler);
	w.krp_addr = reloc(snap.kretprobe_trampoline);
	w.has_fgraph = json_get(snap.root, "fgraph") && json_get(snap.root, "fgraph")->type == JSON_OBJECT;
	w.in_nmi = 0;
	w.ret_from_fork = reloc(symbol_start("ret_from_fork_asm") ? symbol_start("ret_from_fork_asm") : symbol_start("ret_from_fork"));
	err = load_text_and_orc(&w);
	if (err) {
		answer_error(seq, "cannot read the snapshot's unwind tables", err);
		unmap_all();
		snapshot_free(&snap);
		return;
	}

	shim_arch_owned(&owned_lo, &owned_hi);
	if (sigsetjmp(fault_jmp, 1) == 0) {
		in_walk = 1;
		rc = shim_arch_walk(&w);
		in_walk = 0;
	} else {
		faulted = 1;
		rc = -EFAULT;
	}
	unmap_all();

	printf("{\"seq\":%ld,\"rc\":%d,\"trace\":[", seq, rc);
	for (i = 0; i < nr_trace; i++)
		printf("%s\"0x%llx\"", i ? "," : "", (unsigned long long)trace[i]);
	printf("]");
	if (rc) {
		printf(",\"reason\":");
		put_reason(rc, faulted);
	}
	printf(",\"accesses\":[");
	for (i = 0; i < snap.nr_accesses; i++)
		printf("%s{\"addr\":\"0x%llx\",\"size\":%u}", i ? "," : "", (unsigned long long)snap.accesses[i].addr,
		       snap.accesses[i].size ? snap.accesses[i].size : 1);
	printf("]}\n");
	snapshot_free(&snap);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* The start answer the tree's build wrote, sent as it is. */
static char *start_answer;

static void on_start(void *ctx)
{
	(void)ctx;
	printf("%s\n", start_answer);
}

static void on_walk(long seq, struct json *snapshot, void *ctx)
{
	answer_walk(seq, snapshot, ctx);
}

int main(int argc, char **argv)
{
	char *start, *arch_start;
	ssize_t n;
	int rc;
	static char arch[16] = "";
	struct sigaction sa;

	if (argc < 2 || !(start = read_file(argv[1]))) {
		fprintf(stderr, "kernel-tree: usage: %s <start-answer.json>\n", argv[0]);
		return 2;
	}
	while ((n = (ssize_t)strlen(start)) && (start[n - 1] == '\n' || start[n - 1] == '\r'))
		start[n - 1] = '\0';
	arch_start = strstr(start, "\"arch\":\"");
	if (arch_start)
		sscanf(arch_start + 8, "%15[a-z0-9_]", arch);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	start_answer = start;

	rc = json_serve("kernel-tree", PROTOCOL_VERSION, on_start, on_walk, arch);
	free(start);
	return rc;
}
