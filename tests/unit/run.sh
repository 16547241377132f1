#!/bin/sh
# Host unit tests of bow-restore, built with AddressSanitizer and UBSan.
set -e
make -s -C "$(dirname "$0")/../../bow-restore"
top=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$top/build"
${CC:-cc} -std=c11 -Wall -Wextra -Werror -Wshadow -g -O1 \
	-fsanitize=address,undefined -fno-sanitize-recover=all \
	-o "$top/build/test-restore" \
	"$top/tests/unit/test-restore.c" "$top/bow-restore/restore.c" -lisal
"$top/build/test-restore"
"$top/tests/unit/cli.sh"
