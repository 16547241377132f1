# On another architecture the host adds a disk holding a log written by
# the x86 kernel (t-raw.sh): this architecture's bow-restore restores it.
if [ -b /dev/vdf ]; then
	bow-restore /dev/vdf > /tmp/out 2>&1
	expect_eq "a log written by the x86 kernel: bow-restore exits 0" 0 $?
fi
