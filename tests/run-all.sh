#!/bin/sh
# Run every test; print each verdict, then "N passed, N failed".
# BOW_TESTS="lint unit raw ext4" picks a subset.
top=$(cd "$(dirname "$0")/.." && pwd)
tests=${BOW_TESTS:-"lint unit ranges cross fuzz raw ioerr ext4 stress crash powercut"}
log=$top/build/test-results.txt
mkdir -p "$top/build"
: > "$log"

for t in $tests; do
	case $t in
	lint)	cmd=$top/tests/lint.sh ;;
	unit)	cmd=$top/tests/unit/run.sh ;;
	ranges)	cmd=$top/tests/ranges/run.sh ;;
	fuzz)	cmd=$top/tests/fuzz/run.sh ;;
	cross)	cmd=$top/tests/cross/run.sh ;;
	*)	cmd=$top/tests/vm/t-$t.sh ;;
	esac
	echo "# $t"
	start=$(date +%s)
	out=$top/build/test-$t.out
	"$cmd" > "$out" 2>&1
	rc=$?
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
