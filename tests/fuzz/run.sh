#!/bin/sh
# Fuzz bow-restore with libFuzzer under ASan and UBSan, two targets for
# FUZZ_SECONDS each (default 60).  fuzz-restore takes whole images: its
# corpus starts from tests/fuzz/corpus (images written by the test model
# and by the real target in the VM tests) and grows in build/fuzz/corpus.
# fuzz-chain builds valid chains from its input with the test model and
# checks what bow-restore does with them (see the file); its corpus grows
# in build/fuzz/chain-corpus.  A crash leaves its input in build/fuzz/ and
# fails; turn it into a regression test in tests/fuzz/regressions (whole
# images) or tests/fuzz/chain-regressions.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib.sh"
out=$top/build/fuzz
mkdir -p "$out/corpus" "$out/chain-corpus"
for target in fuzz-restore fuzz-chain; do
	clang -std=c11 -g -O1 -Wall -Wextra -Werror \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-o "$out/$target" "$top/tests/fuzz/$target.c" \
		"$top"/bow-restore/lib/*.c -lisal ||
		{ not_ok "$target builds"; exit 1; }
done

# Every input that once crashed must stay fixed.
for f in "$top"/tests/fuzz/regressions/*; do
	[ -e "$f" ] || continue
	check "fuzz regression $(basename "$f")" \
		quiet "$out/fuzz-restore" "$f"
done
for f in "$top"/tests/fuzz/chain-regressions/*; do
	[ -e "$f" ] || continue
	check "fuzz-chain regression $(basename "$f")" \
		quiet "$out/fuzz-chain" "$f"
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

"$out/fuzz-chain" -max_total_time="$seconds" -max_len=256 -timeout=10 \
	-rss_limit_mb=2048 -print_final_stats=1 "$out/chain-corpus" \
	> "$out/fuzz-chain.log" 2>&1
status=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/fuzz-chain.log")
cov=$(grep -o 'cov: [0-9]*' "$out/fuzz-chain.log" | tail -n 1)
if [ $status -eq 0 ]; then
	ok "fuzz valid chains for ${seconds}s: $runs chains, $cov, every oracle holds"
else
	not_ok "fuzz valid chains for ${seconds}s: exit $status"
	grep -aE 'fuzz-chain:|ERROR|SUMMARY|crash-' "$out/fuzz-chain.log" |
		head -n 20 | sed 's/^/#   /'
fi
