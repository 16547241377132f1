# Small logs written by the real target, for the fuzz corpus: dm-bow on
# 64 and 128 KiB dm-linear slices of /dev/vdb, with roll-overs (512-byte
# blocks: 20 entries a log block), backup moves and a live block 0 move.
. ./guest-lib.sh
slice()	# <name> <first sector> <sectors> <block size>
{
	dmsetup create --noudevsync "$1-lin" --table "0 $3 linear /dev/vdb $2"
	dmsetup mknodes "$1-lin"
	bow_create "$1" "/dev/mapper/$1-lin" 1 block_size:$4
	b=/dev/mapper/$1
	bs=$4
	n=$(( $3 * 512 / bs ))
	blkdiscard -o $(( n / 2 * bs )) -l $(( n / 2 * bs )) $b
	dmsetup message "$1" 0 checkpoint
	i=1
	while [ $i -lt $(( n / 2 )) ]; do
		dd if=/dev/urandom of=$b bs=$bs seek=$i count=1 conv=notrunc oflag=direct
		i=$((i + 2))
	done
	# write over free space that now holds backups: moves
	i=$(( n / 2 ))
	while [ $i -lt $(( n / 2 + 8 )) ]; do
		dd if=/dev/urandom of=$b bs=$bs seek=$i count=1 conv=notrunc oflag=direct
		i=$((i + 1))
	done
	echo "# $1: $(dmsetup status "$1")"
	dmsetup remove --noudevsync "$1"
	dmsetup remove --noudevsync "$1-lin"
}
slice s512 0 128 512
slice s1k 128 256 1024
slice s4k 384 256 4096
ok "seed logs written"
