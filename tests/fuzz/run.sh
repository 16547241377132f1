#!/bin/sh
# Fuzz bow-restore with libFuzzer under ASan and UBSan for FUZZ_SECONDS
# (default 60).  The corpus starts from tests/fuzz/corpus (images written
# by the test model and by the real target in the VM tests) and grows in
# build/fuzz/corpus.  A crash leaves its input in build/fuzz/ and fails;
# turn it into a regression test in tests/fuzz/regressions.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib.sh"
out=$top/build/fuzz
mkdir -p "$out/corpus"
clang -std=c11 -g -O1 -Wall -Wextra -Werror \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-o "$out/fuzz-restore" "$top/tests/fuzz/fuzz-restore.c" \
	"$top"/bow-restore/lib/*.c -lisal || { not_ok "fuzz target builds"; exit 1; }

# Every input that once crashed must stay fixed.
for f in "$top"/tests/fuzz/regressions/*; do
	[ -e "$f" ] || continue
	check "fuzz regression $(basename "$f")" \
		quiet "$out/fuzz-restore" "$f"
done

seconds=${FUZZ_SECONDS:-60}
cd "$out" || exit 1
"$out/fuzz-restore" -max_total_time="$seconds" -max_len=131072 \
	-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	"$out/corpus" "$top/tests/fuzz/corpus" > "$out/fuzz.log" 2>&1
status=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/fuzz.log")
cov=$(grep -o 'cov: [0-9]*' "$out/fuzz.log" | tail -n 1)
if [ $status -eq 0 ]; then
	ok "fuzz bow-restore for ${seconds}s: $runs inputs, $cov, no crash"
else
	not_ok "fuzz bow-restore for ${seconds}s: exit $status"
	grep -E 'ERROR|SUMMARY|crash-|abort' "$out/fuzz.log" | head -n 20 |
		sed 's/^/#   /'
fi
