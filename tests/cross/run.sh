#!/bin/sh
# Build dm-bow.ko for the kernels Android-like devices run beyond the
# one the VM tests boot: cross-built for arm64 and 32-bit ARM against
# Debian's 6.1 for them (see prepare.sh; on 32-bit ARM a 64-bit division
# the kernel does not export fails the link), and for x86-64 against
# Debian 12's 6.12.  Each build must be free of warnings, and the module
# must name the kernel release it was built for.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib.sh"

for arch in ${BOW_CROSS_ARCHS:-arm64 armhf amd64-6.12}; do
	case $arch in
	amd64-6.12)
		# Debian 12's 6.12 (bookworm-security), for x86-64: a native
		# build against its headers package.
		src=$(ls -d /usr/src/linux-headers-6.12.*+deb12-amd64 | sort -V |
			tail -n 1)
		args="" ;;
	*)
		src=$("$top/tests/cross/prepare.sh" "$arch") || {
			not_ok "$arch: kernel tree prepared"
			continue
		}
		args=$(cat "$src/../make-args") ;;
	esac
	dir=$top/build/cross-$arch
	rm -rf "$dir"
	# shellcheck disable=SC2086
	out=$("$top/tests/build-module.sh" "$src" "$dir" $args)
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
