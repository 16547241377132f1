#!/bin/sh
# Cross-build dm-bow.ko for the architectures Android-like devices run,
# against Debian's kernels for them (see prepare.sh): arm64, and 32-bit
# ARM, where a 64-bit division the kernel does not export fails the
# link.  Each build must be free of warnings, and the module must name
# the kernel release it was built for.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib.sh"

for arch in ${BOW_CROSS_ARCHS:-arm64 armhf}; do
	src=$("$top/tests/cross/prepare.sh" "$arch") || {
		not_ok "$arch: kernel tree prepared"
		continue
	}
	dir=$top/build/cross-$arch
	rm -rf "$dir"
	# shellcheck disable=SC2046
	out=$("$top/tests/build-module.sh" "$src" "$dir" \
		$(cat "$src/../make-args"))
	diag=$(echo "$out" | grep -E 'warning|error|ERROR|WARNING|dm-bow[a-z-]*\.[ch]:[0-9]+')
	if [ -z "$diag" ] && [ -e "$dir/dm-bow.ko" ]; then
		ok "$arch: dm-bow.ko builds with no warning against Debian's kernel"
	else
		not_ok "$arch: dm-bow.ko builds with no warning against Debian's kernel"
		echo "$out" | tail -n 20 | sed 's/^/#   /'
	fi
	expect_eq "$arch: the module is for Debian's $arch kernel" \
		"$(sed -n 's/^#define UTS_RELEASE "\(.*\)"$/\1/p' \
			"$src/include/generated/utsrelease.h")" \
		"$(modinfo -F vermagic "$dir/dm-bow.ko" | cut -d' ' -f1)"
done
