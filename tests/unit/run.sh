#!/bin/sh
# Host unit tests of bow-restore, built with AddressSanitizer and UBSan.
set -e
make -s -C "$(dirname "$0")/../../bow-restore"
top=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$top/build"
${CC:-cc} -std=c11 -Wall -Wextra -Werror -Wshadow -g -O1 \
	-fsanitize=address,undefined -fno-sanitize-recover=all \
	-o "$top/build/test-restore" \
	"$top/tests/unit/test-restore.c" "$top"/bow-restore/lib/*.c -lisal
${CC:-cc} -std=c11 -Wall -Wextra -Werror -Wshadow -g -O1 \
	-fsanitize=address,undefined -fno-sanitize-recover=all \
	-o "$top/build/test-extmap" \
	"$top/tests/unit/test-extmap.c" "$top/bow-restore/lib/extmap.c"
"$top/build/test-extmap"
"$top/build/test-restore"
"$top/tests/unit/cli.sh"
