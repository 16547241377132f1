# After a power cut: the log as the cut left it is taken up again (vdb)
# and rolled back in the kernel; the host compares the result with
# bow-restore's on a copy of the same image.
. ./guest-lib.sh
check "taken up after the power cut" bow_create p /dev/vdb 2 block_size:4096 resume
check "rollback" dmsetup message p 0 rollback
expect_eq "state 2" 2 "$(bow_status p 1)"
check "remove" dmsetup remove --noudevsync p
