#!/bin/sh
# The range map (dm-bow-ranges.c) on the host against a per-block model,
# built with the kernel's tools/include and tools/lib/rbtree.c, and the
# stand-ins in include/ for what tools/include lacks.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib.sh"
src=$("$top/tests/kernel-source.sh") || exit 1
inc="-I$top/tests/ranges/include -I$src/tools/include -I$src/tools/arch/x86/include"
# shellcheck disable=SC2086
cc -std=gnu11 -O2 -g $inc -c -o "$top/build/rbtree.o" "$src/tools/lib/rbtree.c" &&
	cc -std=gnu11 -O2 -g -Wall -Wextra -Werror $inc \
		-o "$top/build/test-ranges" "$top/tests/ranges/test-ranges.c" \
		"$top/dm-bow-ranges.c" \
		"$top/build/rbtree.o" || { not_ok "range map test builds"; exit 1; }
"$top/build/test-ranges" "${BOW_RANGES_SEED:-$(date +%s)}"
