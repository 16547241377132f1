#!/bin/sh
# Kernel style and static checks: checkpatch.pl --strict (from Debian's
# linux-source-6.1, unpacked once into build/), sparse via make C=2, and
# a warning-free module build.
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tests/lib.sh"
kver=$("$top/tests/vm/kernel-version")
kdir=/lib/modules/$kver/build

src=$("$top/tests/kernel-source.sh")
cp=$src/scripts/checkpatch.pl
check "checkpatch --strict: dm-bow.c" \
	quiet "$cp" --strict --no-tree -f "$top/dm-bow.c"
check "checkpatch --strict: dm-bow-ranges.h" \
	quiet "$cp" --strict --no-tree -f "$top/dm-bow-ranges.h"
# The shared header defines __packed for userspace: that one definition
# is the only PREFER_DEFINED_ATTRIBUTE_MACRO warning checkpatch can give.
check "checkpatch --strict: dm-bow-format.h" \
	quiet "$cp" --strict --no-tree --ignore PREFER_DEFINED_ATTRIBUTE_MACRO \
	-f "$top/dm-bow-format.h"

out=$(make -C "$kdir" M="$top" C=2 modules 2>&1)
diag=$(echo "$out" | grep -E 'warning|error|dm-bow[a-z-]*\.[ch]:[0-9]+' | grep -v '^make')
if [ -z "$diag" ]; then
	ok "module builds with no warning, sparse clean (make C=2)"
else
	not_ok "module builds with no warning, sparse clean (make C=2)"
	echo "$diag" | sed 's/^/#   /'
fi

# The debug_* parameters break crash safety or fail allocations: only the
# test build the VMs load has them.
expect_eq "the production module has no parameter" "" \
	"$(modinfo -F parm "$top/dm-bow.ko")"
expect_eq "the test build has the debug parameters" \
	"debug_alloc_lowest debug_fail_alloc debug_skip_flush" \
	"$(modinfo -F parm "$top/build/test-module/dm-bow.ko" | cut -d: -f1 |
		sort | tr '\n' ' ' | sed 's/ $//')"

check "Documentation/dm-bow.rst builds with no docutils warning" \
	quiet rst2html --halt=warning --report=warning "$top/Documentation/dm-bow.rst"
warn=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$top/bow-restore/bow-restore.8" 2>&1 >/dev/null)
expect_eq "bow-restore.8 renders with no groff warning" "" "$warn"
