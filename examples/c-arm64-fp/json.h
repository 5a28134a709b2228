/* A tiny JSON DOM parser, just enough for snapshots (single-file, no dependencies). */
#ifndef JSON_H
#define JSON_H
#include <stddef.h>

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json {
	enum json_type type;
	double num;		/* JSON_NUMBER, JSON_BOOL */
	char *str;		/* JSON_STRING (NUL-terminated, unescaped) */
	size_t len;		/* string length, or number of children */
	struct json *child;	/* arrays and objects: first child */
	struct json *next;	/* next sibling */
	char *key;		/* member name inside an object */
};

/* Parse `text` (modified in place; strings point into it). NULL on error, with *err set. */
struct json *json_parse(char *text, const char **err);
void json_free(struct json *v);
/* Object member by name, or NULL. */
struct json *json_get(const struct json *obj, const char *key);
/* String member, or NULL. */
const char *json_str(const struct json *obj, const char *key);

/*
 * The plugin protocol's request loop on stdin: `start` (checked against `version`) calls start(),
 * `walk` calls walk(seq, snapshot), `stop` ends it. Returns 0, or 2 for another protocol version.
 * `who` prefixes messages on stderr.
 */
/* Whether the runner's start request offered this protocol extension (valid once start was received). */
int json_offered(const char *extension);

int json_serve(const char *who, int version, void (*start)(void *ctx), void (*walk)(long seq, struct json *snapshot, void *ctx), void *ctx);

#endif
