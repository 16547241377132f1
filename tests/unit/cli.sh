#!/bin/sh
# bow-restore's command line: usage, help, paths it cannot use.
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
status 2 "Usage:"
status 2 "Usage:" a b
status 2 "Usage:" --frobnicate x
status 2 "bad count" --test-stop-after-writes=0 x
status 3 "cannot open for writing: No such file or directory" "$tmp/none"
status 3 "cannot open: No such file or directory" -n "$tmp/none"
status 3 "not a block device or regular file" -n "$tmp"
status 3 "not a block device or regular file" -n /dev/null
truncate -s 1M "$tmp/zero.img"
status 1 "no checkpoint found" "$tmp/zero.img"
: > "$tmp/empty.img"
status 6 "too small" -n "$tmp/empty.img"
