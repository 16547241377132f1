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
# The shared header defines __packed for userspace: that one definition
# is the only PREFER_DEFINED_ATTRIBUTE_MACRO warning checkpatch can give.
for f in $(make -s --no-print-directory -C "$top" module-sources); do
	case $f in
	Kbuild) continue ;;
	dm-bow-format.h) ignore=--ignore=PREFER_DEFINED_ATTRIBUTE_MACRO ;;
	*) ignore= ;;
	esac
	# shellcheck disable=SC2086
	check "checkpatch --strict: $f" \
		quiet "$cp" --strict --no-tree $ignore -f "$top/$f"
done

out=$(make -C "$kdir" M="$top" C=2 modules 2>&1)
diag=$(echo "$out" | grep -E 'warning|error|dm-bow[a-z-]*\.[ch]:[0-9]+' | grep -v '^make')
if [ -z "$diag" ]; then
	ok "module builds with no warning, sparse clean (make C=2)"
else
	not_ok "module builds with no warning, sparse clean (make C=2)"
	echo "$diag" | sed 's/^/#   /'
fi

# dm_io() with or without an I/O priority: Kbuild compiles a call to see
# which this tree has.  Debian's 6.1 has it; a copy of its dm-io.h
# without it, included first, stands for vanilla 6.1 and older GKI trees.
expect_eq "Kbuild finds dm_io() with an I/O priority in Debian's 6.1" 1 \
	"$(grep -c BOW_DM_IO_IOPRIO "$top/.dm-bow-target.o.cmd")"
old=$top/build/dm-io-4
mkdir -p "$old"
perl -0pe 's/,\s*unsigned short ioprio\)/)/' \
	"/lib/modules/$kver/source/include/linux/dm-io.h" > "$old/dm-io.h"
expect_eq "the copy of dm-io.h declares dm_io() without an I/O priority" \
	"1 0" "$(grep -c 'int dm_io(' "$old/dm-io.h") $(grep -c ioprio "$old/dm-io.h")"
out=$("$top/tests/build-module.sh" "$kdir" "$old" KCFLAGS="-include $old/dm-io.h")
diag=$(echo "$out" | grep -E 'warning|error')
expect_eq "dm-bow builds with dm_io() of 4 arguments, with no warning" \
	"0 " "$(grep -c BOW_DM_IO_IOPRIO "$old/.dm-bow-target.o.cmd") $diag"

# The debug_* parameters break crash safety, fail allocations or stop a
# rollback: only the test build the VMs load has them.
expect_eq "the production module has no parameter" "" \
	"$(modinfo -F parm "$top/dm-bow.ko")"
expect_eq "the test build has the debug parameters" \
	"debug_alloc_lowest debug_changed_room debug_ckpt_ctr_delay debug_ckpt_read_delay debug_ctr_read_delay debug_fail_alloc debug_resume_mem_kb debug_rollback_stop debug_scrub_delay debug_skip_flush" \
	"$(modinfo -F parm "$top/build/test-module/dm-bow.ko" | cut -d: -f1 |
		sort | tr '\n' ' ' | sed 's/ $//')"

for doc in dm-bow dm-bow-design dm-bow-format dm-bow-benchmark dm-bow-lifecycle; do
	check "Documentation/$doc.rst builds with no docutils warning" \
		quiet rst2html --halt=warning --report=warning \
		"$top/Documentation/$doc.rst"
done
for page in bow-restore/bow-restore.8 bowctl/bowctl.8 bowctl/bowtab.5; do
	warn=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$top/$page" 2>&1 >/dev/null)
	expect_eq "$(basename "$page") renders with no groff warning" "" "$warn"
done

# The lifecycle page's table of tested update-client combinations lists
# exactly the update-client scenarios the tests define (sc_<name> in
# tests/system/sc-{rauc,swupdate,mender}.sh), each once.
expect_eq "dm-bow-lifecycle.rst's tested combinations are the tests' scenarios" \
	"$(sed -n 's/^\(sc_[a-z_0-9]*\)()$/\1/p' "$top"/tests/system/sc-rauc.sh \
		"$top"/tests/system/sc-swupdate.sh "$top"/tests/system/sc-mender.sh |
		sed 's/^sc_//' | sort | tr '\n' ' ')" \
	"$(sed -n '/^Tested combinations$/,/^Not in the table/p' \
		"$top/Documentation/dm-bow-lifecycle.rst" |
		sed -n 's/^     - ``\([a-z_0-9]*\)``$/\1/p' | sort | tr '\n' ' ')"
