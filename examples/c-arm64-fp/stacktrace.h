#ifndef STACKTRACE_H
#define STACKTRACE_H
#include "snapshot.h"

struct walk_result {
	int rc;			/* 0: reliable; -EINVAL otherwise */
	uint64_t entries[512];	/* innermost first */
	size_t nr_entries;
	char reason[256];	/* the named error path, when rc != 0 */
};

/* Walk the task in `snap` like arch_stack_walk_reliable(); returns res->rc. */
int arch_stack_walk_reliable(struct snapshot *snap, struct walk_result *res);

#endif
