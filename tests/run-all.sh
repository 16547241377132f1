#!/bin/sh
# Run every test; print each suite's verdicts as it ends, then
# "N passed, N failed".  BOW_TESTS="lint unit raw ext4" picks a subset; a
# VM suite with -arm64 after its name runs on Debian's arm64 kernel
# (BOW_VM_ARCH=arm64).
#
# Suites run BOW_JOBS at a time (default 2, one a core): most are one
# process or one VM that keeps one core busy.  The lifecycle suite runs
# two VMs itself, so it runs alone, after the others.  raw-arm64 restores
# the image raw leaves, so it starts once raw has ended.  The caches that
# suites share (tests/kernel-source.sh, tests/cross/prepare.sh,
# tests/arm64/prepare.sh, tests/system/rootfs.sh) are each built under a
# lock of their own.
top=$(cd "$(dirname "$0")/.." && pwd)
tests=${BOW_TESTS:-"unit powercut raw raw-arm64 ext4 stress fuzz crash rollback resume ranges checkpoint changed races crafted suspended cross lint packages ioerr lifecycle"}
jobs=${BOW_JOBS:-2}
log=$top/build/test-results.txt
run=$top/build/test-run
mkdir -p "$top/build"
rm -rf "$run"
mkdir -p "$run"
: > "$log"

# run_suite <name>: build/test-<name>.out, its verdicts on stdout.
run_suite()
{
	t=$1
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
	# One suite's verdicts at a time on the terminal.
	{
		flock 9
		echo "# $t"
		grep -E '^(not )?ok - |^# ' "$out"
		echo "# $t took $(( $(date +%s) - start )) s"
	} 9> "$run/print.lock"
	touch "$run/$t.done"
}

# next_suite: the next suite of the queue no other worker took (empty
# when none is left).
next_suite()
{
	(
		flock 9
		n=$(cat "$run/next" 2>/dev/null || echo 0)
		echo $((n + 1)) > "$run/next"
		sed -n "$((n + 1))p" "$run/queue"
	) 9> "$run/queue.lock"
}

worker()
{
	while t=$(next_suite) && [ -n "$t" ]; do
		if [ "$t" = raw-arm64 ] && [ -n "$raw_first" ]; then
			while [ ! -e "$run/raw.done" ]; do sleep 1; done
		fi
		run_suite "$t"
	done
}

# The queue; raw_first: raw is queued before raw-arm64, which waits for it.
: > "$run/queue"
raw_seen= raw_first=
for t in $tests; do
	case $t in
	lifecycle) continue ;;
	raw) raw_seen=1 ;;
	raw-arm64) raw_first=$raw_seen ;;
	esac
	echo "$t" >> "$run/queue"
done
i=0
while [ $i -lt "$jobs" ]; do
	worker &
	i=$((i + 1))
done
wait
for t in $tests; do
	[ "$t" = lifecycle ] && run_suite lifecycle
done

# The results in the order of the list, whatever order they ended in.
for t in $tests; do
	cat "$top/build/test-$t.out" >> "$log" 2>/dev/null
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
