#!/bin/sh
# /init of the Soft-RoCE test guest (busybox ash). Mounts the pseudo file
# systems, sets up dummy0 with 10.9.9.9/24, mounts the host's 9p share on
# /mnt, runs /mnt/guest.sh, and reports its exit status twice: in
# /mnt/status, and through the isa-debug-exit port 0xf4 (qemu then exits
# with (status<<1)|1). The rxe device itself is created by the suite
# (talosd softroce up), not here.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TMPDIR=/tmp

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run

read -r up _ </proc/uptime
echo "guest: /init started at ${up}s of kernel uptime ($(uname -r))"

# Memory registration pins pages: a low memlock limit makes ibv_reg_mr fail.
ulimit -l unlimited

fail() {
	echo "guest: $*"
	echo 125 >/mnt/status 2>/dev/null
	printf '\175' | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
	poweroff -f
}

for m in virtio_pci 9pnet_virtio 9p dummy veth; do
	modprobe "$m" || fail "modprobe $m failed"
done

# busybox's own ip shadows PATH: the host's iproute2 is called by full path.
IP=/usr/sbin/ip
$IP link set lo up || fail "lo up failed"
# The dummy module makes dummy0 itself (numdummies=1); add it if it did not.
[ -e /sys/class/net/dummy0 ] || $IP link add dummy0 type dummy || fail "adding dummy0 failed"
$IP addr add 10.9.9.9/24 dev dummy0 || fail "addressing dummy0 failed"
$IP link set dummy0 up || fail "dummy0 up failed"

mkdir -p /mnt
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 host /mnt || fail "mounting the 9p share failed"

cd /mnt || fail "no /mnt"
sh /mnt/guest.sh
rc=$?
echo "$rc" >/mnt/status
sync
cd /
umount /mnt
read -r up _ </proc/uptime
echo "guest: suite finished with status $rc at ${up}s of kernel uptime"
# isa-debug-exit: qemu exits with (rc<<1)|1.
printf "\\$(printf '%03o' "$((rc & 255))")" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
poweroff -f
