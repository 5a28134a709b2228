/* Snapshot JSON → struct snapshot, and the kernel-style helpers over it. */
#include "snapshot.h"
#include <stdlib.h>
#include <string.h>

static bool parse_hex(const char *str, uint64_t *out)
{
	char *end;

	if (!str || str[0] != '0' || str[1] != 'x' || !str[2])
		return false;
	*out = strtoull(str + 2, &end, 16);
	return *end == '\0';
}

static bool hex_member(const struct json *obj, const char *key, uint64_t *out)
{
	return parse_hex(json_str(obj, key), out);
}

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

/* Decode base64 `in` into `out` (room for `room` bytes); returns the bytes written, or -1. */
static long long b64decode_into(const char *in, size_t len, uint8_t *out, uint64_t room)
{
	uint64_t n = 0;
	unsigned acc = 0;
	int bits = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		int v = b64val(in[i]);
		if (in[i] == '=')
			break;
		if (v < 0)
			return -1;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= room)
				return -1;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	return (long long)n;
}

/* Decode base64 `in` into a fresh buffer of exactly `size` bytes. */
static uint8_t *b64decode(const char *in, size_t len, uint64_t size)
{
	uint8_t *out = calloc(1, size ? size : 1);

	if (out && b64decode_into(in, len, out, size) != (long long)size) {
		free(out);
		return NULL;
	}
	return out;
}

/* The sparse-memory extension: a zeroed buffer of `size` bytes with each chunk {offset, data} in place. */
static uint8_t *unchunk(const struct json *chunks, uint64_t size)
{
	uint8_t *out = calloc(1, size ? size : 1);
	const struct json *c;

	if (!out || chunks->type != JSON_ARRAY)
		goto bad;
	for (c = chunks->child; c; c = c->next) {
		const struct json *off = json_get(c, "offset"), *data = json_get(c, "data");

		if (!off || off->type != JSON_NUMBER || off->num < 0 || (uint64_t)off->num >= size || !data || data->type != JSON_STRING)
			goto bad;
		if (b64decode_into(data->str, data->len, out + (uint64_t)off->num, size - (uint64_t)off->num) < 0)
			goto bad;
	}
	return out;
bad:
	free(out);
	return NULL;
}

static struct region *region_by_name(const struct snapshot *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->nr_regions; i++)
		if (!strcmp(s->regions[i].name, name))
			return &s->regions[i];
	return NULL;
}

static int cmp_symbol(const void *a, const void *b)
{
	const struct symbol *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

const struct symbol *lookup_symbol(const struct snapshot *s, uint64_t addr)
{
	size_t lo = 0, hi = s->nr_symbols;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct symbol *sym = &s->symbols[mid];

		if (addr < sym->start)
			hi = mid;
		else if (addr >= sym->end)
			lo = mid + 1;
		else
			return sym;
	}
	return NULL;
}

static const char *load_ret_entries(const struct json *arr, struct ret_entry **out, size_t *nr)
{
	const struct json *e;
	size_t i = 0;

	*out = NULL;
	*nr = 0;
	if (!arr || arr->type != JSON_ARRAY)
		return "expected an array of {ret, func, retp}";
	*out = calloc(arr->len ? arr->len : 1, sizeof(**out));
	if (!*out)
		return "out of memory";
	for (e = arr->child; e; e = e->next, i++)
		if (!hex_member(e, "ret", &(*out)[i].ret) || !hex_member(e, "func", &(*out)[i].func) ||
		    !hex_member(e, "retp", &(*out)[i].retp))
			return "bad {ret, func, retp} entry";
	*nr = i;
	return NULL;
}

const char *snapshot_load(struct snapshot *s, struct json *root)
{
	const struct json *regs, *task, *arr, *e, *fg;
	const char *err, *state;
	size_t i;

	memset(s, 0, sizeof(*s));
	s->root = root;
	s->id = json_str(root, "id");
	s->arch = json_str(root, "arch");
	if (!s->id || !s->arch)
		return "snapshot: missing id or arch";
	task = json_get(root, "task");
	state = json_str(task, "state");
	if (!state)
		return "snapshot: missing task.state";
	s->blocked = !strcmp(state, "blocked");

	regs = json_get(root, "regs");
	/* pc / fp are rip / rbp on x86_64 (the kernel-tree glue shares this loader). */
	if (!strcmp(s->arch, "x86_64")) {
		if (!hex_member(regs, "rip", &s->pc) || !hex_member(regs, "rbp", &s->fp))
			return "snapshot: regs.rip / regs.rbp missing or not hex";
	} else if (!hex_member(regs, "pc", &s->pc) || !hex_member(regs, "x29", &s->fp))
		return "snapshot: regs.pc / regs.x29 missing or not hex";
	if (!hex_member(root, "ptRegs", &s->pt_regs) || !hex_member(root, "finalFrame", &s->final_frame))
		return "snapshot: ptRegs / finalFrame missing or not hex";

	arr = json_get(root, "regions");
	if (!arr || arr->type != JSON_ARRAY)
		return "snapshot: regions is not an array";
	s->regions = calloc(arr->len ? arr->len : 1, sizeof(*s->regions));
	if (!s->regions)
		return "out of memory";
	for (e = arr->child, i = 0; e; e = e->next, i++) {
		struct region *r = &s->regions[i];
		const struct json *size = json_get(e, "size"), *data = json_get(e, "data"), *chunks = json_get(e, "chunks");

		r->name = json_str(e, "name");
		r->kind = json_str(e, "kind");
		if (!r->name || !r->kind || !hex_member(e, "base", &r->base) || !size || size->type != JSON_NUMBER)
			return "snapshot: bad region";
		r->size = (uint64_t)size->num;
		if (data && data->type == JSON_STRING) {
			r->data = b64decode(data->str, data->len, r->size);
			if (!r->data)
				return "snapshot: region data is not base64 of `size` bytes";
		} else if (chunks) {
			r->data = unchunk(chunks, r->size);
			if (!r->data)
				return "snapshot: region chunks are not base64 within `size` bytes";
		}
		s->nr_regions++;
	}

	arr = json_get(root, "stacks");
	if (!arr || arr->type != JSON_ARRAY)
		return "snapshot: stacks is not an array";
	s->stacks = calloc(arr->len ? arr->len : 1, sizeof(*s->stacks));
	if (!s->stacks)
		return "out of memory";
	for (e = arr->child, i = 0; e; e = e->next, i++) {
		const char *name = json_str(e, "region"), *type = json_str(e, "type");

		s->stacks[i].region = name ? region_by_name(s, name) : NULL;
		if (!s->stacks[i].region || !s->stacks[i].region->data || !type)
			return "snapshot: a stack names no region with data";
		s->stacks[i].type = !strcmp(type, "task") ? STACK_TYPE_TASK : !strcmp(type, "irq") ? STACK_TYPE_IRQ :
				    !strcmp(type, "nmi") ? STACK_TYPE_NMI : !strcmp(type, "overflow") ? STACK_TYPE_OVERFLOW :
				    !strcmp(type, "sdei") ? STACK_TYPE_SDEI : STACK_TYPE_UNKNOWN;
		s->nr_stacks++;
	}

	arr = json_get(root, "symbols");
	if (!arr || arr->type != JSON_ARRAY)
		return "snapshot: symbols is not an array";
	s->symbols = calloc(arr->len ? arr->len : 1, sizeof(*s->symbols));
	if (!s->symbols)
		return "out of memory";
	for (e = arr->child; e; e = e->next) {
		struct symbol *sym = &s->symbols[s->nr_symbols];
		const struct json *ns = json_get(e, "nonStandard");

		sym->name = json_str(e, "name");
		sym->kind = json_str(e, "kind");
		if (!sym->name || !sym->kind || !hex_member(e, "start", &sym->start) || !hex_member(e, "end", &sym->end))
			return "snapshot: bad symbol";
		sym->non_standard = ns && ns->type == JSON_BOOL && ns->num;
		if (!strcmp(sym->name, "return_to_handler"))
			s->return_to_handler = sym->start;
		else if (!strcmp(sym->kind, "return-trampoline"))
			s->kretprobe_trampoline = sym->start;	/* __kretprobe_trampoline / arch_rethook_trampoline */
		s->nr_symbols++;
	}
	qsort(s->symbols, s->nr_symbols, sizeof(*s->symbols), cmp_symbol);

	fg = json_get(root, "fgraph");
	if (fg && fg->type == JSON_OBJECT) {
		err = load_ret_entries(json_get(fg, "stack"), &s->ret_stack, &s->nr_ret_stack);
		if (err)
			return err;
	}
	err = load_ret_entries(json_get(root, "kretprobes"), &s->kretprobes, &s->nr_kretprobes);
	if (err)
		return err;
	return NULL;
}

void snapshot_free(struct snapshot *s)
{
	size_t i;

	for (i = 0; i < s->nr_regions; i++)
		free(s->regions[i].data);
	free(s->regions);
	free(s->stacks);
	free(s->symbols);
	free(s->ret_stack);
	free(s->kretprobes);
	free(s->accesses);
	memset(s, 0, sizeof(*s));
}

long abi(const struct snapshot *s, const char *name, bool *ok)
{
	const struct json *v = json_get(json_get(s->root, "abi"), name);

	if (!v || v->type != JSON_NUMBER) {
		*ok = false;
		return 0;
	}
	return (long)v->num;
}

struct region *find_region(const struct snapshot *s, uint64_t addr, uint64_t size)
{
	size_t i;

	for (i = 0; i < s->nr_regions; i++) {
		struct region *r = &s->regions[i];
		if (addr >= r->base && size <= r->size && addr - r->base <= r->size - size)
			return r;
	}
	return NULL;
}

uint64_t read_u64(struct snapshot *s, uint64_t addr)
{
	struct region *r = find_region(s, addr, 8);
	uint64_t v = 0;
	int i;

	if (s->nr_accesses == s->cap_accesses) {
		size_t cap = s->cap_accesses ? s->cap_accesses * 2 : 64;
		struct access *a = realloc(s->accesses, cap * sizeof(*a));
		if (a) {
			s->accesses = a;
			s->cap_accesses = cap;
		}
	}
	if (s->nr_accesses < s->cap_accesses)
		s->accesses[s->nr_accesses++] = (struct access){ addr, 8 };
	if (!r || !r->data)
		return 0;
	for (i = 7; i >= 0; i--)	/* little-endian */
		v = (v << 8) | r->data[addr - r->base + (uint64_t)i];
	return v;
}

bool __kernel_text_address(const struct snapshot *s, uint64_t addr)
{
	struct region *r = find_region(s, addr, 1);

	return r && (!strcmp(r->kind, "kernel-text") || !strcmp(r->kind, "module-text") ||
		     !strcmp(r->kind, "bpf-jit") || !strcmp(r->kind, "trampoline-text"));
}

uint64_t ftrace_graph_ret_addr(const struct snapshot *s, int *idx, uint64_t ret, uint64_t retp)
{
	int i;

	if (!s->return_to_handler || ret != s->return_to_handler)
		return ret;
	if (*idx < 0 || (size_t)*idx > s->nr_ret_stack)
		*idx = (int)s->nr_ret_stack;
	for (i = *idx - 1; i >= 0; i--) {
		/* A tail call leaves entries recording return_to_handler itself: skip them, like fgraph.c. */
		if (s->ret_stack[i].retp == retp && s->ret_stack[i].ret != s->return_to_handler) {
			*idx = i;
			return s->ret_stack[i].ret;
		}
	}
	return ret;	/* not found: the caller sees the trampoline unchanged */
}

bool is_kretprobe_trampoline(const struct snapshot *s, uint64_t addr)
{
	return s->kretprobe_trampoline && addr == s->kretprobe_trampoline;
}

uint64_t kretprobe_find_ret_addr(const struct snapshot *s, size_t *cur, uint64_t ret, uint64_t retp)
{
	size_t i;

	(void)ret;
	for (i = *cur; i < s->nr_kretprobes; i++) {
		/* Instances that recorded the trampoline itself (tail call): skip, like __kretprobe_find_ret_addr(). */
		if (s->kretprobes[i].ret == s->kretprobe_trampoline)
			continue;
		if (s->kretprobes[i].retp == retp) {
			*cur = i + 1;
			return s->kretprobes[i].ret;
		}
	}
	return 0;
}
