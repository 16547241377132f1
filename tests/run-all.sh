#!/bin/sh
# Run every test; print each verdict, then "N passed, N failed".
# BOW_TESTS="lint unit raw ext4" picks a subset; a VM suite with -arm64
# after its name runs on Debian's arm64 kernel (BOW_VM_ARCH=arm64).
top=$(cd "$(dirname "$0")/.." && pwd)
tests=${BOW_TESTS:-"lint unit ranges cross fuzz raw raw-arm64 ioerr ext4 resume rollback changed checkpoint stress crash powercut packages lifecycle"}
log=$top/build/test-results.txt
mkdir -p "$top/build"
: > "$log"

for t in $tests; do
	arch=
	case $t in
	*-arm64) arch=arm64 ;;
	esac
	case ${t%-arm64} in
	lint)	cmd=$top/tests/lint.sh ;;
	unit)	cmd=$top/tests/unit/run.sh ;;
	ranges)	cmd=$top/tests/ranges/run.sh ;;
	fuzz)	cmd=$top/tests/fuzz/run.sh ;;
	cross)	cmd=$top/tests/cross/run.sh ;;
	packages) cmd=$top/tests/packages.sh ;;
	*)	cmd=$top/tests/vm/t-${t%-arm64}.sh ;;
	esac
	echo "# $t"
	start=$(date +%s)
	out=$top/build/test-$t.out
	BOW_VM_ARCH=$arch "$cmd" > "$out" 2>&1
	rc=$?
	# The same checks on another architecture: say which.
	if [ -n "$arch" ]; then
		sed -i "s/^\(\(not \)\{0,1\}ok - \)/\1$arch: /" "$out"
	fi
	# A script that dies (a sanitizer abort, a shell error) must fail
	# even if every check it printed before that passed.
	if [ $rc -ne 0 ] && ! grep -q '^not ok - ' "$out"; then
		echo "not ok - $t exited with status $rc" >> "$out"
		tail -n 20 "$out" | sed 's/^/#   /' >> "$out"
	fi
	cat "$out" >> "$log"
	grep -E '^(not )?ok - |^# ' "$out"
	echo "# $t took $(( $(date +%s) - start )) s"
done

passed=$(grep -c '^ok - ' "$log")
failed=$(grep -c '^not ok - ' "$log")
if [ "$passed" -eq 0 ]; then
	failed=$((failed + 1))
	echo "not ok - no test ran"
fi
echo
grep '^not ok - ' "$log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
