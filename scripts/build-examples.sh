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
# Build beside the binary and rename it into place: test files that build and run it in parallel
# never run a half-written binary.
tmp="$out/.c-arm64-fp.$$"
trap 'rm -f "$tmp"' EXIT
# shellcheck disable=SC2086
"$CC" $CFLAGS -o "$tmp" examples/c-arm64-fp/json.c examples/c-arm64-fp/snapshot.c \
  examples/c-arm64-fp/stacktrace.c examples/c-arm64-fp/main.c
mv -f "$tmp" "$out/c-arm64-fp"
echo "build-examples: built $out/c-arm64-fp"
