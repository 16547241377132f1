#!/bin/sh
# Build the test build of dm-bow.ko (Kbuild: BOW_TESTING, the debug_*
# parameters) against the kernel build tree <kdir>, in <dir>, apart from
# the production module at the top of the checkout.  Prints the
# compiler's and modpost's output.
#
#   build-module.sh <kdir> <dir>
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
kdir=$1
dir=$2
mkdir -p "$dir"
for f in Kbuild dm-bow.c dm-bow-format.h dm-bow-ranges.h; do
	cmp -s "$top/$f" "$dir/$f" || cp "$top/$f" "$dir/$f"
done
make -C "$kdir" M="$dir" BOW_TESTING=y modules 2>&1
