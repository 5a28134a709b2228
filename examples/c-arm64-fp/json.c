/* A tiny JSON DOM parser, just enough for snapshots. Strings are unescaped in place. */
#define _POSIX_C_SOURCE 200809L	/* getline() */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "json.h"

struct parser {
	char *p;
	const char *err;
	int depth;
};

static void skip_ws(struct parser *ps)
{
	while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
		ps->p++;
}

static struct json *new_value(enum json_type t)
{
	struct json *v = calloc(1, sizeof(*v));
	if (v)
		v->type = t;
	return v;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/* Parse a string at ps->p (on the opening quote); unescape into the same buffer. */
static char *parse_string(struct parser *ps, size_t *len)
{
	char *out, *start;

	if (*ps->p != '"') { ps->err = "expected a string"; return NULL; }
	start = out = ++ps->p;
	for (;;) {
		char c = *ps->p++;
		if (c == '\0') { ps->err = "unterminated string"; return NULL; }
		if (c == '"') break;
		if (c != '\\') { *out++ = c; continue; }
		c = *ps->p++;
		switch (c) {
		case '"': case '\\': case '/': *out++ = c; break;
		case 'b': *out++ = '\b'; break;
		case 'f': *out++ = '\f'; break;
		case 'n': *out++ = '\n'; break;
		case 'r': *out++ = '\r'; break;
		case 't': *out++ = '\t'; break;
		case 'u': {
			int i, cp = 0;
			for (i = 0; i < 4; i++) {
				int h = hexval(ps->p[i]);
				if (h < 0) { ps->err = "bad \\u escape"; return NULL; }
				cp = cp * 16 + h;
			}
			ps->p += 4;
			/* Snapshot strings are ASCII; anything else becomes '?'. */
			*out++ = cp < 0x80 ? (char)cp : '?';
			break;
		}
		default: ps->err = "bad escape"; return NULL;
		}
	}
	*out = '\0';
	if (len)
		*len = (size_t)(out - start);
	return start;
}

static struct json *parse_value(struct parser *ps);

static struct json *parse_container(struct parser *ps, int object)
{
	struct json *v = new_value(object ? JSON_OBJECT : JSON_ARRAY), **tail;
	char close = object ? '}' : ']';

	if (!v) { ps->err = "out of memory"; return NULL; }
	if (++ps->depth > 64) { ps->err = "nesting too deep"; free(v); return NULL; }
	tail = &v->child;
	ps->p++;
	skip_ws(ps);
	if (*ps->p == close) { ps->p++; ps->depth--; return v; }
	for (;;) {
		char *key = NULL;
		struct json *item;

		skip_ws(ps);
		if (object) {
			key = parse_string(ps, NULL);
			if (!key) goto fail;
			skip_ws(ps);
			if (*ps->p++ != ':') { ps->err = "expected ':'"; goto fail; }
		}
		item = parse_value(ps);
		if (!item) goto fail;
		item->key = key;
		*tail = item;
		tail = &item->next;
		v->len++;
		skip_ws(ps);
		if (*ps->p == ',') { ps->p++; continue; }
		if (*ps->p == close) { ps->p++; break; }
		ps->err = object ? "expected ',' or '}'" : "expected ',' or ']'";
		goto fail;
	}
	ps->depth--;
	return v;
fail:
	json_free(v);
	return NULL;
}

static struct json *parse_value(struct parser *ps)
{
	struct json *v;

	skip_ws(ps);
	switch (*ps->p) {
	case '{': return parse_container(ps, 1);
	case '[': return parse_container(ps, 0);
	case '"':
		v = new_value(JSON_STRING);
		if (!v) { ps->err = "out of memory"; return NULL; }
		v->str = parse_string(ps, &v->len);
		if (!v->str) { free(v); return NULL; }
		return v;
	case 't': case 'f': case 'n': {
		const char *words[] = { "true", "false", "null" };
		int i;
		for (i = 0; i < 3; i++) {
			size_t n = strlen(words[i]);
			if (!strncmp(ps->p, words[i], n)) {
				ps->p += n;
				v = new_value(i == 2 ? JSON_NULL : JSON_BOOL);
				if (v) v->num = (i == 0);
				return v;
			}
		}
		ps->err = "bad literal";
		return NULL;
	}
	default: {
		char *end;
		double d = strtod(ps->p, &end);
		if (end == ps->p) { ps->err = "unexpected character"; return NULL; }
		ps->p = end;
		v = new_value(JSON_NUMBER);
		if (v) v->num = d;
		return v;
	}
	}
}

struct json *json_parse(char *text, const char **err)
{
	struct parser ps = { text, NULL, 0 };
	struct json *v = parse_value(&ps);

	if (v) {
		skip_ws(&ps);
		if (*ps.p) { json_free(v); v = NULL; ps.err = "trailing characters"; }
	}
	if (!v && err)
		*err = ps.err ? ps.err : "parse error";
	return v;
}

void json_free(struct json *v)
{
	while (v) {
		struct json *next = v->next;
		json_free(v->child);
		free(v);
		v = next;
	}
}

struct json *json_get(const struct json *obj, const char *key)
{
	struct json *c;

	if (!obj || obj->type != JSON_OBJECT)
		return NULL;
	for (c = obj->child; c; c = c->next)
		if (!strcmp(c->key, key))
			return c;
	return NULL;
}

const char *json_str(const struct json *obj, const char *key)
{
	struct json *v = json_get(obj, key);
	return v && v->type == JSON_STRING ? v->str : NULL;
}

static char offered[256];	/* the start request's extensions, each followed by a NUL, then an empty one */

int json_offered(const char *extension)
{
	const char *p;

	for (p = offered; *p; p += strlen(p) + 1)
		if (!strcmp(p, extension))
			return 1;
	return 0;
}

static void remember_offers(const struct json *req)
{
	const struct json *arr = json_get(req, "extensions"), *e;
	size_t n = 0;

	memset(offered, 0, sizeof(offered));
	if (!arr || arr->type != JSON_ARRAY)
		return;
	for (e = arr->child; e; e = e->next) {
		if (e->type != JSON_STRING || n + e->len + 2 > sizeof(offered))
			continue;
		memcpy(offered + n, e->str, e->len);
		n += e->len + 1;
	}
}

int json_serve(const char *who, int version, void (*start)(void *ctx), void (*walk)(long seq, struct json *snapshot, void *ctx), void *ctx)
{
	char *line = NULL;
	size_t cap = 0;
	int rc = 0;

	while (getline(&line, &cap, stdin) > 0) {
		const char *err = NULL, *cmd;
		struct json *req = json_parse(line, &err);
		struct json *seq;

		if (!req) {
			fprintf(stderr, "%s: unparseable request: %s\n", who, err);
			continue;
		}
		cmd = json_str(req, "cmd");
		seq = json_get(req, "seq");
		if (cmd && !strcmp(cmd, "start")) {
			struct json *v = json_get(req, "version");
			if (!v || v->type != JSON_NUMBER || (int)v->num != version) {
				fprintf(stderr, "%s: runner speaks another protocol version\n", who);
				json_free(req);
				rc = 2;
				break;
			}
			remember_offers(req);
			start(ctx);
		} else if (cmd && !strcmp(cmd, "walk") && seq && seq->type == JSON_NUMBER) {
			walk((long)seq->num, json_get(req, "snapshot"), ctx);
		} else if (cmd && !strcmp(cmd, "stop")) {
			json_free(req);
			break;
		} else {
			fprintf(stderr, "%s: unknown request\n", who);
		}
		fflush(stdout);
		json_free(req);
	}
	free(line);
	return rc;
}
