# Scenario group, sourced by tests/system/run.sh.
# Two devices one update changes (one group: bowtab's default), data and
# data2 (a third disk), both armed; the boot's health check fails, so
# only the update tool commits: "bowctl commit data" commits both.  The
# next boot restores nothing: data2 keeps what was written to it.  (A
# commit of data alone left data2 live, and that boot restored it.)
#
# Kernels: the first kernel.
# Boots: 2.

sc_group()
{
	k=$1
	sc_new group "$k" "state=/var/lib/bow,min_free=1M"
	root_put "$sc_root" /etc/bowtab "data PARTLABEL=data state=/var/lib/bow,min_free=1M
data2 /dev/vdc1 state=/var/lib/bow,min_free=1M
"
	root_put "$sc_root" /etc/fstab "/dev/vda / ext4 rw,errors=remount-ro 0 1
/dev/mapper/data /data ext4 defaults 0 2
/dev/mapper/data2 /data2 ext4 defaults 0 2
"
	debugfs -w -R "mkdir /data2" "$sc_root" > /dev/null 2>&1
	sys_disk3=$sys_dir/$sc.data2
	rm -rf "$sys_disk3" "$sys_dir/$sc.data2.d"
	mkdir -p "$sys_dir/$sc.data2.d"
	head -c 200000 /dev/urandom > "$sys_dir/$sc.data2.d/old"
	truncate -s 32M "$sys_disk3"
	printf 'label: gpt\nstart=2048, name=data2\n' | sfdisk -q "$sys_disk3" > /dev/null
	mke2fs -q -t ext4 -b 4096 -E offset=$data_offset -d "$sys_dir/$sc.data2.d" \
		"$sys_disk3" $((30 * 256))
	root_put "$sc_root" /etc/bowtest/health fail
	sc_arm_host 1
	sc_arm_host 1 "$sc_root" /var/lib/bow data2
	sc_boot "echo written > /data2/new; sync
bowctl commit data; echo \"commit: \$?\""
	expect_eq "$sc: boot 1: one commit, both devices committed (the other with its group)" \
		"commit: 0
data committed 2 bowctl commit
data2 committed 2 bowctl commit (with its group all)" \
		"$(root_get "$sc_root" /var/lib/bowtest/actions.out | grep -v '^+')
$(python3 -c 'import json, sys
for d in json.load(open(sys.argv[1]))["devices"]:
	print(d["name"], d["lifecycle"], d["dm_state"], d["last_event"]["reason"])' "$st")"
	sc_boot
	data_part "$sys_disk3" "$sys_disk3.part" data2
	expect_eq "$sc: boot 2: nothing restored: data2 keeps what the update wrote" \
		"written
data committed linear
data2 committed linear" \
		"$(debugfs -R 'cat /new' "$sys_disk3.part" 2>/dev/null)
$(python3 -c 'import json, sys
for d in json.load(open(sys.argv[1]))["devices"]:
	print(d["name"], d["lifecycle"], d["mapping"])' "$st")"
	rm -f "$sys_disk3.part"
	expect_data post
	sys_disk3=
}
