#!/bin/sh
# Build the compiled plugin examples (outputs under examples/**/build/, git-ignored).
# Exit 0 when built, 3 when no C compiler is available, other non-zero on a build error.
set -eu
cd "$(dirname "$0")/.."
CC="${CC:-gcc}"
if ! command -v "$CC" >/dev/null 2>&1; then
  echo "build-examples: no C compiler ($CC) found; skipping the C examples" >&2
  exit 3
fi
CFLAGS="${CFLAGS:--std=c11 -O2 -Wall -Wextra -Werror -pedantic}"
out=examples/c-arm64-fp/build
mkdir -p "$out"
# shellcheck disable=SC2086
"$CC" $CFLAGS -o "$out/c-arm64-fp" examples/c-arm64-fp/json.c examples/c-arm64-fp/snapshot.c \
  examples/c-arm64-fp/stacktrace.c examples/c-arm64-fp/main.c
echo "build-examples: built $out/c-arm64-fp"
