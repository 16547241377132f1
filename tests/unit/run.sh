#!/bin/sh
# Host unit tests of bow-restore and bowctl, built with AddressSanitizer
# and UBSan, then their command lines.
set -e
make -s -C "$(dirname "$0")/../../bow-restore"
make -s -C "$(dirname "$0")/../../bowctl"
top=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$top/build"
cc_test()
{
	${CC:-cc} -std=c11 -Wall -Wextra -Werror -Wshadow -g -O1 \
		-fsanitize=address,undefined -fno-sanitize-recover=all "$@"
}
cc_test -o "$top/build/test-restore" "$top/tests/unit/test-restore.c" \
	"$top"/bow-restore/lib/*.c "$top/dm-bow-rules.c" -lisal
cc_test -o "$top/build/test-extmap" "$top/tests/unit/test-extmap.c" \
	"$top/bow-restore/lib/extmap.c"
cc_test -o "$top/build/test-bowctl" "$top/tests/unit/test-bowctl.c" \
	"$top/bowctl/bowtab.c" "$top/bowctl/state.c" "$top/bowctl/bootloader.c" \
	"$top/bowctl/decide.c" \
	"$top"/bow-restore/lib/*.c "$top/dm-bow-rules.c" -lisal
cc_test -o "$top/build/test-changed" "$top/tests/unit/test-changed.c" \
	"$top/bowctl/changed.c"
cc_test -o "$top/build/test-rules" "$top/tests/unit/test-rules.c" \
	"$top/dm-bow-rules.c" "$top"/bow-restore/lib/*.c -lisal
"$top/build/test-extmap"
"$top/build/test-rules"
"$top/build/test-bowctl"
"$top/build/test-changed"
"$top/build/test-restore"
"$top/tests/unit/cli.sh"
"$top/tests/unit/bowctl-cli.sh"
"$top/tests/unit/systemd-boot-slot.sh"
