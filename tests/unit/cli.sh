#!/bin/sh
# bow-restore's command line: usage, help, exit statuses, messages,
# progress, and the test hooks that only the test build has.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib.sh"
tool=$top/bow-restore/bow-restore
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# status <expected status> <expected words on stdout+stderr> <args...>
status()
{
	want=$1 words=$2
	shift 2
	out=$("$tool" "$@" 2>&1)
	got=$?
	if [ "$got" -eq "$want" ] && echo "$out" | grep -q -- "$words"; then
		ok "bow-restore $*: exit $want, '$words'"
	else
		not_ok "bow-restore $*: exit $want, '$words' (got $got: $out)"
	fi
}

status 0 "Exit status:" --help
status 0 "^bow-restore [0-9a-f]" --version
status 2 "Usage:"
status 2 "Usage:" a b
status 2 "Usage:" --frobnicate x
status 2 "bad file descriptor 'x'" -C x y
# The tests' hooks are not in the installed tool ...
status 2 "unrecognized option '--test-stop-after-writes=1'" \
	--test-stop-after-writes=1 x
status 2 "unrecognized option '--test-tear'" --test-tear x
# ... but in bow-restore-test.
tool=$top/bow-restore/bow-restore-test
status 2 "bad count" --test-stop-after-writes=0 x
"$tool" --test-stop-after-writes=1 "$top/build/none.img" > /dev/null 2>&1
expect_eq "bow-restore-test takes --test-stop-after-writes=1" 3 $?
tool=$top/bow-restore/bow-restore
status 3 "^bow-restore: $tmp/none: cannot open for writing: No such file or directory" "$tmp/none"
status 3 "^bow-restore: $tmp/none: cannot open: No such file or directory" -n "$tmp/none"
status 3 "not a block device or regular file" -n "$tmp"
status 3 "not a block device or regular file" -n /dev/null
truncate -s 1M "$tmp/zero.img"
# No checkpoint is the common case at boot: exit 0, said on stdout.
out=$("$tool" "$tmp/zero.img" 2>/dev/null)
expect_eq "no checkpoint: exit 0, said on stdout" \
	"0 $tmp/zero.img: no checkpoint found: block 0 holds no dm-bow log (magic 0x00000000, expected 0x00574f42)" \
	"$? $out"
status 0 "no checkpoint found" --roll-forward "$tmp/zero.img"
: > "$tmp/empty.img"
status 6 "^bow-restore: $tmp/empty.img: device of 0 bytes is too small" -n "$tmp/empty.img"

# A write error on stdout is an error (the restore itself is done).
"$tool" --help > /dev/full 2>"$tmp/err"
expect_eq "--help > /dev/full: exit 3" "3 1" \
	"$? $(grep -c 'cannot write to standard output: No space left on device' "$tmp/err")"
"$tool" -n "$tmp/zero.img" > /dev/full 2>"$tmp/err"
expect_eq "no checkpoint > /dev/full: exit 3" 3 $?

# Images from the unit tests' model of the target.
BOW_SEED_DIR=$tmp "$top/build/test-restore"
img=$tmp/model-bs512-h100.img
"$tool" -n "$img" > "$tmp/out"
expect_eq "model image: dry run" 0 $?
blocks=$(sed -n 's/.*checkpoint found: \([0-9]*\) log block.*/\1/p' "$tmp/out")
bytes=$(sed -n 's/.* entries, \([0-9]*\) bytes to restore.*/\1/p' "$tmp/out")
"$tool" -C 3 "$img" > "$tmp/out" 3> "$tmp/progress"
expect_eq "model image: restored with progress on fd 3" "0 $img: restored to the checkpoint" \
	"$? $(tail -n 1 "$tmp/out")"
expect_eq "progress: checking starts at 1 of $blocks log blocks" "1 1 $blocks $img" \
	"$(head -n 1 "$tmp/progress")"
expect_eq "progress: checking ends at $blocks of $blocks" "1 $blocks $blocks $img" \
	"$(grep '^1 ' "$tmp/progress" | tail -n 1)"
total=$((bytes + 2 * 512))
expect_eq "progress: restoring ends at $total of $total bytes" "2 $total $total $img" \
	"$(tail -n 1 "$tmp/progress")"
check "progress: the counts never go down" sh -c \
	"awk '\$1 == p && \$2 < d { exit 1 } { p = \$1; d = \$2 }' '$tmp/progress'"
"$tool" -C 0 "$tmp/model-bs1024-h28.img" > /dev/null 2> "$tmp/err"
expect_eq "progress on stderr ends at 100%" "restoring 100%" \
	"$(tr '\r' '\n' < "$tmp/err" | tail -n 1 | sed 's/.*: //')"
status 0 "a commit was interrupted" "$tmp/model-commit.img"

# make install: the tool and its man page where Debian puts them, and
# not the test build nor its options.
make -s -C "$top/bow-restore" install DESTDIR="$tmp/root" PREFIX=/usr
expect_eq "make install: what it installs" \
	"$tmp/root/usr/sbin/bow-restore $tmp/root/usr/share/man/man8/bow-restore.8" \
	"$(find "$tmp/root" -type f | sort | tr '\n' ' ' | sed 's/ $//')"
"$tmp/root/usr/sbin/bow-restore" --test-tear x > /dev/null 2>&1
expect_eq "the installed tool has no test option" 2 $?
"$tmp/root/usr/sbin/bow-restore" -n "$tmp/zero.img" > "$tmp/out"
expect_eq "the installed tool runs" "0 1" \
	"$? $(grep -c 'no checkpoint found' "$tmp/out")"
