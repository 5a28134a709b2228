/*
 * Plugin-protocol harness for the C arm64 frame-pointer unwinder: NDJSON on stdin/stdout.
 *   {"cmd":"start","version":1}        → who we are and what we claim
 *   {"cmd":"walk","seq":N,"snapshot":…} → {"seq":N,"rc":…,"trace":[…],"reason":…,"accesses":[…]}
 *   {"cmd":"stop"}                      → exit
 * stdout carries only protocol answers; diagnostics go to stderr.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "json.h"
#include "snapshot.h"
#include "stacktrace.h"

#define PROTOCOL_VERSION 1

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

static void answer_start(void)
{
	printf("{\"version\":%d,\"implementation\":{\"name\":\"c-arm64-fp\",\"arch\":\"arm64\","
	       "\"unwinder\":\"frame-pointer\",\"description\":\"Worked example: arm64 frame-record unwinder in C, "
	       "written like arch/arm64/kernel/stacktrace.c\"},"
	       "\"claims\":{\"unwindsAcrossIrq\":false,\"unwindsAcrossNmi\":false,"
	       "\"identifiesReliableExceptionUnwind\":false,\"recoversFgraphReturns\":true,"
	       "\"recoversKretprobeReturns\":true,\"unwindsInsideReturnToHandler\":false,"
	       "\"usesCompileTimeAnalysis\":true,\"usesUnwindMetadata\":false,\"checksTermination\":true}%s}\n",
	       PROTOCOL_VERSION,
	       /* snapshot_load() reads regions sent as chunks: accept the extension when offered. */
	       json_offered("sparse-memory") ? ",\"extensions\":[\"sparse-memory\"]" : "");
}

static void answer_error(long seq, const char *what, const char *detail)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "%s%s%s", what, detail ? ": " : "", detail ? detail : "");
	printf("{\"seq\":%ld,\"errored\":true,\"message\":", seq);
	put_json_string(msg);
	printf("}\n");
}

static void answer_walk(long seq, struct json *snapshot_json)
{
	static struct walk_result res;
	struct snapshot snap;
	const char *err = snapshot_load(&snap, snapshot_json);
	size_t i;

	if (err) {
		answer_error(seq, "cannot read snapshot", err);
		snapshot_free(&snap);
		return;
	}
	if (strcmp(snap.arch, "arm64")) {
		printf("{\"seq\":%ld,\"skipped\":true,\"reason\":\"arm64 unwinder; snapshot is %s\"}\n", seq, snap.arch);
		snapshot_free(&snap);
		return;
	}
	arch_stack_walk_reliable(&snap, &res);
	printf("{\"seq\":%ld,\"rc\":%d,\"trace\":[", seq, res.rc);
	for (i = 0; i < res.nr_entries; i++)
		printf("%s\"0x%llx\"", i ? "," : "", (unsigned long long)res.entries[i]);
	printf("]");
	if (res.rc) {
		printf(",\"reason\":");
		put_json_string(res.reason);
	}
	printf(",\"accesses\":[");
	for (i = 0; i < snap.nr_accesses; i++)
		printf("%s{\"addr\":\"0x%llx\",\"size\":%u}", i ? "," : "", (unsigned long long)snap.accesses[i].addr,
		       snap.accesses[i].size);
	printf("]}\n");
	snapshot_free(&snap);
}

static void on_start(void *ctx)
{
	(void)ctx;
	answer_start();
}

static void on_walk(long seq, struct json *snapshot, void *ctx)
{
	(void)ctx;
	answer_walk(seq, snapshot);
}

int main(void)
{
	return json_serve("c-arm64-fp", PROTOCOL_VERSION, on_start, on_walk, NULL);
}
