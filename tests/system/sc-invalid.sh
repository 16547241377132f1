# Scenario invalid, sourced by tests/system/run.sh.
# A live log that does not validate, under either on_invalid policy:
# roll forward (the default, as vold: the new data is kept, and the
# status says failed), or fail (the device left as it is, its mount
# failed: fstab says nofail here, so that the boot goes on to report).
#
# Kernels: the first kernel: on_invalid=fail in make check, roll-forward too in check-long.
# Boots: 2 a policy.

# corrupt_log: flip a bit of the checksum of entry 0 in the newest log
# block (block 0 of the partition), so that the log fails validation.
corrupt_log()
{
	python3 - "$sc_data" $data_offset <<-'EOT'
	import struct, sys
	f = open(sys.argv[1], "r+b")
	base = int(sys.argv[2])
	f.seek(base)
	magic, ver, hsize = struct.unpack("<IHH", f.read(8))
	assert magic == 0x00574f42, hex(magic)
	f.seek(base + hsize + 20)
	c = f.read(1)[0]
	f.seek(base + hsize + 20)
	f.write(bytes([c ^ 1]))
	EOT
}

sc_invalid()
{
	k=$1
	sc_new invalid-$2 "$k" "state=/var/lib/bow,min_free=1M,on_invalid=$2"
	root_put "$sc_root" /etc/bowtest/health fail
	root_put "$sc_root" /etc/fstab "/dev/vda / ext4 rw,errors=remount-ro 0 1
/dev/mapper/data /data ext4 defaults,nofail 0 2
"
	sc_arm_host 2
	sc_boot
	expect_status "checkpoint live" 'd["lifecycle"], d["dm_state"]' "checkpoint 1"
	corrupt_log
	data_part "$sc_data" "$sc_data.part"
	"$top/bow-restore/bow-restore" -n "$sc_data.part" > /dev/null 2>&1
	expect_eq "$sc: the log now fails its checksum (bow-restore status 5)" 5 $?
	rm -f "$sc_data.part"
	sc_boot
	if [ "$2" = roll-forward ]; then
		expect_status "rolled forward: failed, pass-through, disarmed" \
			'd["lifecycle"], d["attempts_left"], d["mapping"], d["last_event"]["event"]' \
			"failed 0 linear rolled-forward"
		expect_data post
	else
		expect_status "left for inspection: failed, no mapping" \
			'd["lifecycle"], d["attempts_left"], d["mapping"], d["last_event"]["event"]' \
			"failed 0 none invalid-log"
		expect_unit bow-setup@data "failed exit-code"
		data_part "$sc_data" "$sc_data.part"
		"$top/bow-restore/bow-restore" -n "$sc_data.part" > /dev/null 2>&1
		expect_eq "$sc: boot $sc_boots: the log is left as it was" 5 $?
		rm -f "$sc_data.part"
	fi
}
