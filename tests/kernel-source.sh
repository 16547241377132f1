#!/bin/sh
# Unpack, once, the parts of Debian's linux-source-6.1 the tests use:
# scripts/ (checkpatch.pl) and tools/ (userspace rbtree and list, for the
# range map test).  Prints the tree's path.
top=$(cd "$(dirname "$0")/.." && pwd)
src=$top/build/linux-source-6.1
# One builder at a time (suites run side by side: tests/run-all.sh);
# the others wait, then find it done.
mkdir -p "$top/build"
exec 9> "$top/build/.lock"
flock 9
if [ ! -e "$src/.unpacked" ]; then
	tar -C "$top/build" -xf /usr/src/linux-source-6.1.tar.xz \
		linux-source-6.1/scripts linux-source-6.1/tools/include \
		linux-source-6.1/tools/arch/x86/include \
		linux-source-6.1/tools/lib/rbtree.c || exit 1
	touch "$src/.unpacked"
fi
echo "$src"
