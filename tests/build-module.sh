#!/bin/sh
# Build dm-bow.ko against the kernel build tree <kdir> in <dir>, apart
# from the production module at the top of the checkout, with the make
# arguments given: BOW_TESTING=y for the test build (Kbuild: the debug_*
# parameters), ARCH= and CROSS_COMPILE= for another architecture.
# Prints the compiler's and modpost's output.
#
#   build-module.sh <kdir> <dir> [make arguments...]
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
kdir=$1
dir=$2
shift 2
mkdir -p "$dir"
sources=$(make -s --no-print-directory -C "$top" module-sources)
for f in $sources; do
	cmp -s "$top/$f" "$dir/$f" || cp "$top/$f" "$dir/$f"
done
# A source the list no longer has must not be built from an old copy.
for f in "$dir"/dm-bow*.[ch]; do
	case " $sources " in
	*" ${f##*/} "*) ;;
	*) case $f in *.mod.c) ;; *) rm -f "$f" ;; esac ;;
	esac
done
make -C "$kdir" M="$dir" "$@" modules 2>&1
