#!/bin/sh
# VM test: real power cuts.  Kill QEMU at a random moment of a workload
# on a checkpoint (host cache bypassed), restore the image on the host,
# check every block in use at the checkpoint and e2fsck.  BOW_POWERCUT_RUNS
# times (default 8); BOW_POWERCUT_SEED fixes the moments.  The first two
# cuts are first resumed by a second boot (guest/powercut-resume.sh),
# which writes more before the restore; the next two are also rolled
# back in the kernel (guest/powercut-rollback.sh), from a copy.
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/vm/lib.sh"

vm_workdir powercut "$top/tests/vm/guest/powercut.sh"
mkdir -p "$work/resume" "$work/rollback"
cp "$top/tests/vm/guest/powercut-resume.sh" "$work/resume/run.sh"
cp "$top/tests/vm/guest/powercut-rollback.sh" "$work/rollback/run.sh"
mkdir -p "$work/tree/files"
make_files "$work/tree/files" 120 5 4096
head -c 4M /dev/urandom > "$work/tree/big"
truncate -s 32M "$work/template.img"
mkfs.ext4 -q -F -b 4096 -J size=4 -d "$work/tree" "$work/template.img"

seed=${BOW_POWERCUT_SEED:-$(date +%s)}
runs=${BOW_POWERCUT_RUNS:-8}
echo "# power cuts: seed $seed, $runs runs"
run=1
cut=0
while [ $run -le "$runs" ]; do
	cp "$work/template.img" "$work/data.img"
	truncate -s 0 "$work/ckpt.img"
	truncate -s 32M "$work/ckpt.img"
	# A moment from 0 to 6 s after the checkpoint, in tenths.
	tenths=$(( (seed % 100003 * 7919 + run * 2654435761) % 61 ))
	delay=$((tenths / 10)).$((tenths % 10))
	BOW_VM_CACHE=none vm_start "$work/console.log" "$work/guest" \
		"$work/data.img" "$work/ckpt.img"
	# Wait as long as the guest runs: a loaded machine or a debug
	# kernel can take minutes to boot (BOW_VM_TIMEOUT bounds it).
	while ! grep -q '^=== checkpointed' "$work/console.log" 2>/dev/null &&
	      kill -0 "$vm_pid" 2>/dev/null; do
		sleep 0.2
	done
	if ! grep -q '^=== checkpointed' "$work/console.log"; then
		not_ok "power cut $run: the guest never checkpointed"
		vm_power_cut
		# The next run writes over the console: keep this one's.
		cp "$work/console.log" "$work/console-run$run.log"
		tail -n 40 "$work/console.log" | sed "s/^/#   /"
		run=$((run + 1))
		continue
	fi
	sleep "$delay"
	if grep -q '^=== workload done' "$work/console.log"; then
		echo "# run $run: the workload ended before the cut at +${delay}s"
	else
		cut=$((cut + 1))
	fi
	vm_power_cut
	# Killed before it could print its kernel log: read the console.
	if grep -nE 'BUG:|WARNING:|Oops|Call Trace|Kernel panic' "$work/console.log"; then
		not_ok "power cut $run: guest kernel reported a problem"
	fi
	# The first two cuts are resumed and written to before the restore.
	if [ $run -le 2 ]; then
		vm_run "$work/resume.log" "$work/resume" "$work/data.img"
		vm_results "$work/resume.log" | sed "s/^\(\(not \)*ok - \)/\1power cut $run: /"
	fi
	# Cuts 3 and 4: the kernel rolls a copy back.
	krb=
	if [ $run -eq 3 ] || [ $run -eq 4 ]; then
		krb=$work/krb.img
		cp "$work/data.img" "$krb"
		vm_run "$work/rollback.log" "$work/rollback" "$krb"
		vm_results "$work/rollback.log" | sed "s/^\(\(not \)*ok - \)/\1power cut $run: /"
	fi
	"$restore" "$work/data.img" > "$work/restore.out" 2>&1
	status=$?
	if [ -n "$krb" ]; then
		check "power cut $run: the kernel's rollback and bow-restore's, byte-identical" \
			cmp -s "$work/data.img" "$krb"
		rm -f "$krb"
	fi
	if [ $status -eq 0 ] && same_in_use "$work/data.img" "$work/ckpt.img" &&
	   e2fsck -fn "$work/data.img" > /dev/null 2>&1; then
		ok "power cut $run at +${delay}s: restored exactly, e2fsck clean"
	else
		not_ok "power cut $run at +${delay}s: bow-restore exit $status: $(cat "$work/restore.out")"
		cp "$work/data.img" "$work/failed-$run.img"
		cp "$work/ckpt.img" "$work/failed-$run.ckpt"
	fi
	run=$((run + 1))
done
expect_eq "power cuts landed during the workload" "$runs" "$cut"

# A power cut while the log's entries write is held back (guest/slowlog.sh):
# the header on disk counts only entries that are on disk too.
vm_workdir powercut-slowlog "$top/tests/vm/guest/slowlog.sh"
head -c 64M /dev/urandom > "$work/data.img"
cp "$work/data.img" "$work/before.img"
vm_run "$work/console.log" "$work/guest" "$work/data.img"
vm_results "$work/console.log"
"$restore" "$work/data.img" > "$work/restore.out" 2>&1
status=$?
expect_eq "slow log: bow-restore exit status ($(tail -n 1 "$work/restore.out"))" 0 $status
check "slow log: the 32 MiB in use at the checkpoint restored exactly" \
	cmp -s -n $((32 * 1048576)) "$work/data.img" "$work/before.img"
rm -f "$work/before.img"
