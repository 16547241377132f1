#!/bin/sh
# Fuzz bow-restore and the module's walks with libFuzzer under ASan and
# UBSan: two targets for FUZZ_SECONDS each (default 30), side by side,
# then fuzz-freemap for a third of that.  fuzz-restore takes
# whole images: its corpus starts from tests/fuzz/corpus (images written
# by the test model and by the real target in the VM tests) and grows in
# build/fuzz/corpus.
# fuzz-chain builds valid chains from its input with the test model and
# checks what bow-restore does with them (see the file); its corpus grows
# in build/fuzz/chain-corpus.  Both also run the module's walk of the log
# and compare (differential.c).  fuzz-freemap walks free-space maps as the
# module does (see the file).  A crash leaves its input in build/fuzz/ and
# fails; turn it into a regression test in tests/fuzz/regressions (whole
# images), tests/fuzz/chain-regressions or tests/fuzz/freemap-regressions.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib.sh"
out=$top/build/fuzz
mkdir -p "$out/corpus" "$out/chain-corpus"
# The module's walk (kernel-walk.c, the module's dm-bow-vext.c) is built
# against the kernel's tools/include, as tests/ranges builds the range map.
src=$("$top/tests/kernel-source.sh") || exit 1
kinc="-I$top/tests/ranges/include -I$src/tools/include -I$src/tools/arch/x86/include"
san="-fsanitize=address,undefined -fno-sanitize-recover=all"
# shellcheck disable=SC2086
for f in "$src/tools/lib/rbtree.c" "$top/dm-bow-vext.c" \
	"$top/tests/fuzz/kernel-walk.c"; do
	clang -std=gnu11 -g -O1 $san -fsanitize=fuzzer-no-link $kinc \
		-c -o "$out/$(basename "$f" .c).o" "$f" ||
		{ not_ok "$(basename "$f") builds for the fuzzers"; exit 1; }
done
for target in fuzz-restore fuzz-chain fuzz-freemap; do
	# shellcheck disable=SC2086
	clang -std=c11 -g -O1 -Wall -Wextra -Werror \
		-fsanitize=fuzzer $san \
		-o "$out/$target" "$top/tests/fuzz/$target.c" \
		"$top/tests/fuzz/differential.c" "$out/kernel-walk.o" \
		"$out/dm-bow-vext.o" "$out/rbtree.o" \
		"$top"/bow-restore/lib/*.c "$top/dm-bow-rules.c" -lisal ||
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
for f in "$top"/tests/fuzz/freemap-regressions/*; do
	[ -e "$f" ] || continue
	check "fuzz-freemap regression $(basename "$f")" \
		quiet "$out/fuzz-freemap" "$f"
done

seconds=${FUZZ_SECONDS:-30}
cd "$out" || exit 1

# fuzz <target> <what it fuzzes> <max input bytes> <corpus dirs...>
fuzz()
{
	_t=$1 _what=$2 _len=$3
	shift 3
	"$out/$_t" -max_total_time="$seconds" -max_len="$_len" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 "$@" \
		> "$out/$_t.log" 2>&1
	_status=$?
	_runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$_t.log")
	_cov=$(grep -o 'cov: [0-9]*' "$out/$_t.log" | tail -n 1)
	if [ $_status -eq 0 ]; then
		ok "fuzz $_what for ${seconds}s: $_runs inputs, $_cov, no failure"
	else
		not_ok "fuzz $_what for ${seconds}s: exit $_status"
		grep -aE 'fuzz-chain:|ERROR|SUMMARY|crash-|abort' "$out/$_t.log" |
			head -n 20 | sed 's/^/#   /'
	fi
}

# The two targets at once, one a core (each fuzzer is one process);
# their verdicts in a fixed order.
fuzz fuzz-restore "bow-restore on whole images" 131072 "$out/corpus" \
	"$top/tests/fuzz/corpus" > "$out/fuzz-restore.verdict" &
restore_pid=$!
fuzz fuzz-chain "bow-restore on valid chains, with oracles" 256 \
	"$out/chain-corpus" > "$out/fuzz-chain.verdict" &
chain_pid=$!
wait $restore_pid
wait $chain_pid
cat "$out/fuzz-restore.verdict" "$out/fuzz-chain.verdict"
# The module's walk of a free-space map: small inputs, a third as long.
seconds=$(( (seconds + 2) / 3 ))
mkdir -p "$out/freemap-corpus"
fuzz fuzz-freemap "the module's free-space map walk, with oracles" 4096 \
	"$out/freemap-corpus"
