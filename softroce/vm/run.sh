#!/usr/bin/env bash
# Soft-RoCE VM harness: runs the suite in softroce/vm/suite.txt inside a qemu
# (TCG) guest that boots Debian's stock kernel, whose rdma_rxe gives the
# guest a Soft-RoCE device. The host kernel has no RDMA, so this is how the
# verbs code is tested. See softroce/README.md.
#
# Steps: install the host packages (if missing); download and unpack the
# guest packages and build the initramfs (cached); build the suite's
# binaries; boot the guest under timeout with the binaries on a 9p share;
# print the guest's output; exit with the suite's status.
#
# Environment:
#   TALOS_SOFTROCE_CACHE    cache directory (default <repo>/.cache/softroce)
#   TALOS_SOFTROCE_TIMEOUT  seconds the guest may run (default 480)
#   TALOS_SOFTROCE_SUITE    suite file (default softroce/vm/suite.txt)
#   TALOS_SOFTROCE_REBUILD  1: rebuild the initramfs even if cached
set -euo pipefail

t_start=$SECONDS
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${TALOS_SOFTROCE_CACHE:-$repo/.cache/softroce}
timeout_s=${TALOS_SOFTROCE_TIMEOUT:-480}
suite=${TALOS_SOFTROCE_SUITE:-$here/suite.txt}
arch=x86_64-linux-gnu

say() { echo "softroce-vm: $*"; }
die() { echo "softroce-vm: error: $*" >&2; exit 1; }

# ---- host packages -------------------------------------------------------
host_pkgs=(qemu-system-x86 busybox-static cpio kmod file iproute2 libc-bin util-linux
	gcc pkg-config libibverbs-dev librdmacm-dev libnl-3-dev libnl-route-3-dev)

install_host_packages() {
	local missing=() p
	for p in "${host_pkgs[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	local sudo=
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null || die "need root to install: ${missing[*]}"
		sudo=sudo
	fi
	say "installing host packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq || die "apt-get update failed"
	$sudo apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends "${missing[@]}" >/dev/null ||
		die "apt-get install ${missing[*]} failed"
}

install_host_packages
command -v qemu-system-x86_64 >/dev/null ||
	die "qemu-system-x86_64 is missing and could not be installed (Debian package qemu-system-x86)"
[ -x /bin/busybox ] || die "/bin/busybox is missing (Debian package busybox-static)"
command -v go >/dev/null || die "go is not in PATH"

# ---- guest packages and initramfs (cached) -------------------------------
guest_pkgs=(libibverbs1 ibverbs-providers ibverbs-utils librdmacm1 libibumad3
	perftest libnl-3-200 libnl-route-3-200 libpci3)
guest_modules=(virtio_pci virtio_net crc32_generic rdma_rxe ib_uverbs rdma_ucm
	veth dummy 9pnet_virtio 9p)

# The kernel package linux-image-amd64 depends on, e.g. linux-image-6.1.0-56-amd64.
kernel_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
	sed -n 's/^ *Depends: <\{0,1\}\(linux-image-[0-9][^ >]*\)>\{0,1\}$/\1/p' | head -n1)
if [ -z "$kernel_pkg" ]; then
	apt-get update -qq || true
	kernel_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: <\{0,1\}\(linux-image-[0-9][^ >]*\)>\{0,1\}$/\1/p' | head -n1)
fi
[ -n "$kernel_pkg" ] || die "cannot resolve the kernel package from 'apt-cache depends linux-image-amd64'"
kver=${kernel_pkg#linux-image-}

# The cache key covers the package versions and the files that shape the image.
versions=$(apt-cache policy "$kernel_pkg" "${guest_pkgs[@]}" | awk '/^[^ ]/ {p=$1} /Candidate:/ {print p, $2}')
key=$({ echo "$versions"; cat "$here/init.sh"; sed -n '/^# ---- guest packages/,/^# ---- end initramfs/p' "$0"; } |
	sha256sum | cut -c1-16)
img=$cache/initramfs-$kver-$key.cpio.gz
vmlinuz=$cache/vmlinuz-$kver
mkdir -p "$cache"

build_initramfs() {
	local work=$cache/work
	rm -rf "$work"
	mkdir -p "$work/debs" "$work/kernel" "$work/user"
	say "downloading $kernel_pkg and ${#guest_pkgs[@]} guest packages"
	# A stale package list names versions the archive no longer has:
	# refresh it once and retry.
	(cd "$work/debs" && apt-get download -qq -o APT::Sandbox::User=root "$kernel_pkg" "${guest_pkgs[@]}") ||
		{ apt-get update -qq && (cd "$work/debs" && apt-get download -qq -o APT::Sandbox::User=root "$kernel_pkg" "${guest_pkgs[@]}"); } ||
		die "apt-get download $kernel_pkg ${guest_pkgs[*]} failed"
	dpkg-deb -x "$work/debs/$kernel_pkg"_*.deb "$work/kernel"
	local d
	for d in "$work"/debs/*.deb; do
		case $d in */"$kernel_pkg"_*) continue ;; esac
		dpkg-deb -x "$d" "$work/user"
	done
	# The kernel package ships no modules.dep: make one to resolve dependencies.
	depmod -b "$work/kernel" "$kver"

	local root=$work/root
	mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,run,mnt,root,usr/bin,usr/sbin,usr/lib/$arch,usr/lib64}
	ln -s usr/lib "$root/lib"
	ln -s usr/lib64 "$root/lib64"
	cp /bin/busybox "$root/bin/busybox"
	local a
	for a in $(/bin/busybox --list); do
		[ "$a" = busybox ] || ln -s busybox "$root/bin/$a"
	done
	# Every applet is in bin/; the kernel calls /sbin/modprobe by full path.
	for d in modprobe insmod rmmod lsmod depmod poweroff reboot; do
		ln -sf ../bin/busybox "$root/sbin/$d"
	done
	rm -f "$root/bin/ip" # the host's iproute2 is used instead
	# usrmerge: paths the packages ship under /lib and /lib64 go to usr/.
	for d in "$work"/user/*; do
		case ${d##*/} in
		lib | lib64) mkdir -p "$root/usr/${d##*/}" && cp -a "$d/." "$root/usr/${d##*/}/" ;;
		*) cp -a "$d" "$root/" ;;
		esac
	done
	cp "$here/init.sh" "$root/init"
	chmod 755 "$root/init"
	cp /etc/ld.so.conf "$root/etc/" 2>/dev/null || true
	[ -d /etc/ld.so.conf.d ] && cp -a /etc/ld.so.conf.d "$root/etc/"
	echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
	echo 'root:x:0:' >"$root/etc/group"
	printf '127.0.0.1 localhost\n10.9.9.9 guest\n' >"$root/etc/hosts"

	# Host tools: iproute2's ip and rdma.
	local f
	for f in /usr/sbin/ip /usr/bin/rdma; do
		[ -x "$f" ] || die "$f is missing (Debian package iproute2)"
		install -D "$f" "$root$f"
	done

	# Shared libraries of every dynamic binary and plug-in, resolved on the
	# host with the unpacked guest libraries first.
	local libpath=$work/user/usr/lib/$arch:$work/user/usr/lib/$arch/libibverbs
	local objs
	objs=$(find "$root/usr/bin" "$root/usr/sbin" "$root/usr/lib/$arch" -type f \
		\( -perm -u+x -o -name '*.so*' \) 2>/dev/null)
	local lib
	for f in $objs; do
		file -b "$f" | grep -q 'dynamically linked' || continue
		LD_LIBRARY_PATH=$libpath ldd "$f" 2>/dev/null | awk '/=> \// {print $3} /^\t\/lib/ {print $1}'
	done | sort -u | while read -r lib; do
		[ -e "$root$lib" ] || install -D -m 755 "$(readlink -f "$lib")" "$root$lib"
	done
	grep -q 'not found' < <(for f in $objs; do
		file -b "$f" | grep -q 'dynamically linked' || continue
		LD_LIBRARY_PATH=$root/usr/lib/$arch:$root/usr/lib/$arch/libibverbs ldd "$f" 2>/dev/null
	done) && die "some guest binaries have unresolved libraries"
	ldconfig -r "$root" 2>/dev/null || true

	# Kernel modules and everything they depend on.
	local m mods
	mods=$(for m in "${guest_modules[@]}"; do
		modprobe -d "$work/kernel" -S "$kver" --show-depends "$m" ||
			die "kernel module $m not found in $kernel_pkg"
	done | awk '$1 == "insmod" {print $2}' | sort -u)
	for m in $mods; do
		install -D -m 644 "$m" "$root/usr/lib/modules/$kver/${m#"$work/kernel/lib/modules/$kver/"}"
	done
	cp "$work/kernel/lib/modules/$kver"/modules.{builtin,builtin.modinfo,order} "$root/usr/lib/modules/$kver/"
	depmod -b "$root" "$kver"

	cp "$work/kernel/boot/vmlinuz-$kver" "$vmlinuz.tmp"
	(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1) >"$img.tmp"
	(cd "$root" && find . -type f -o -type l) | sed 's|^\.||' | LC_ALL=C sort >"$img.files"
	mv "$vmlinuz.tmp" "$vmlinuz"
	mv "$img.tmp" "$img"
	rm -rf "$work"
	# Older images of this cache are of no further use.
	find "$cache" -maxdepth 1 -name 'initramfs-*.cpio.gz' ! -name "${img##*/}" -delete
	find "$cache" -maxdepth 1 -name 'initramfs-*.cpio.gz.files' ! -name "${img##*/}.files" -delete
	find "$cache" -maxdepth 1 -name 'vmlinuz-*' ! -name "${vmlinuz##*/}" -delete
}
# ---- end initramfs -------------------------------------------------------

t0=$SECONDS
# One build at a time per cache: a second run waits for the first's image.
exec 9>"$cache/.lock"
flock 9
if [ ! -s "$img" ] || [ ! -s "$vmlinuz" ] || [ "${TALOS_SOFTROCE_REBUILD:-0}" = 1 ]; then
	build_initramfs
	say "initramfs built in $((SECONDS - t0))s: $img ($(du -h "$img" | cut -f1))"
else
	say "initramfs cached: $img"
fi
flock -u 9

# ---- suite: build binaries, write the guest script -----------------------
share=$(mktemp -d "$cache/share.XXXXXX")
cleanup() { rm -rf "$share"; }
trap cleanup EXIT

cp "$here/guest-lib.sh" "$share/guest-lib.sh"
guest=$share/guest.sh
{
	echo '#!/bin/sh'
	echo '# Written by softroce/vm/run.sh from the suite file.'
	echo '# Run from tmpfs: paging binaries in over 9p is slow under TCG.'
	echo 'mkdir -p /tmp/w && cp -a /mnt/. /tmp/w/ && cd /tmp/w || exit 125'
	echo '. /tmp/w/guest-lib.sh'
	echo 'export PATH=/tmp/w:$PATH LD_LIBRARY_PATH=/tmp/w/lib'
	echo 'rc=0 n=0'
	echo 'step() {'
	echo '	n=$((n + 1))'
	echo '	echo "=== guest step $n: $1"'
	echo '	read -r t0 _ </proc/uptime'
	echo '	sh -c ". /tmp/w/guest-lib.sh; $1" </dev/null 2>&1'
	echo '	r=$?'
	echo '	read -r t1 _ </proc/uptime'
	echo '	if [ $r -eq 0 ]; then res=ok; else res="FAILED (exit $r)"; rc=1; fi'
	echo '	echo "=== guest step $n: $res in $(awk -v a=$t0 -v b=$t1 '"'"'BEGIN{printf "%.1f", b-a}'"'"')s: $1"'
	echo '}'
} >"$guest"

t0=$SECONDS
nbin=0 ncmd=0
entry=
while IFS= read -r line || [ -n "$line" ]; do
	case $line in '' | '#'*) continue ;; esac
	if [[ $line =~ ^[[:space:]] ]]; then
		[ -n "$entry" ] || die "suite: command line before any entry: $line"
		cmd=${line#"${line%%[![:space:]]*}"}
		printf 'step %q\n' "$cmd" >>"$guest"
		ncmd=$((ncmd + 1))
		continue
	fi
	read -r bin kind tags pkg extra <<<"$line"
	[ -z "${extra:-}" ] && [ -n "${pkg:-}" ] || die "suite: want '<binary> <kind> <tags> <package>', got: $line"
	entry=$bin
	tagflag=()
	[ "$tags" != - ] && tagflag=(-tags "$tags")
	case $kind in
	build) (cd "$repo" && go build "${tagflag[@]}" -o "$share/$bin" "$pkg") || die "building $bin from $pkg failed" ;;
	test) (cd "$repo" && go test -c "${tagflag[@]}" -o "$share/$bin" "$pkg") || die "building $bin from $pkg failed" ;;
	none) ;;
	*) die "suite: unknown kind '$kind' in: $line" ;;
	esac
	if [ "$kind" != none ]; then
		[ -x "$share/$bin" ] || die "$pkg built no test binary $bin (no test files for tags '$tags'?)"
		nbin=$((nbin + 1))
	fi
	echo "echo \"=== guest entry: $bin ($kind $pkg, tags $tags)\"" >>"$guest"
done <"$suite"
echo 'echo "=== guest: $n steps, status $rc"' >>"$guest"
echo 'exit $rc' >>"$guest"
say "built $nbin binaries, $ncmd guest steps, in $((SECONDS - t0))s"

# Libraries the binaries need that the initramfs lacks go on the share.
mkdir -p "$share/lib"
for f in "$share"/*; do
	[ -f "$f" ] && file -b "$f" | grep -q 'dynamically linked' || continue
	ldd "$f" | awk '/=> \// {print $3}' | while read -r lib; do
		grep -qxF "$lib" "$img.files" || grep -qxF "/usr$lib" "$img.files" ||
			cp -L "$lib" "$share/lib/"
	done
done

# ---- boot ----------------------------------------------------------------
log=$cache/last-run.log
say "booting $kernel_pkg under qemu (TCG), timeout ${timeout_s}s; log in $log"
t_boot=$SECONDS
set +e
timeout --kill-after=10 "$timeout_s" qemu-system-x86_64 \
	-accel tcg -cpu max -smp 2 -m 1024 \
	-nographic -no-reboot -serial stdio -monitor none \
	-kernel "$vmlinuz" -initrd "$img" \
	-append "console=ttyS0 quiet loglevel=3 panic=-1 oops=panic" \
	-nic none \
	-virtfs "local,path=$share,mount_tag=host,security_model=none,id=host" \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
	</dev/null 2>&1 | sed -u -e 's/\r$//' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' | {
	# Print and log the guest's output; note when /init starts (host clock).
	: >"$log"
	while IFS= read -r l; do
		printf '%s\n' "$l"
		printf '%s\n' "$l" >>"$log"
		case $l in *"guest: /init started"*) echo $((SECONDS - t_boot)) >"$share/.booted" ;; esac
	done
}
qemu_rc=${PIPESTATUS[0]}
set -e
t_guest=$((SECONDS - t_boot))

status=
[ -f "$share/status" ] && status=$(tr -d '[:space:]' <"$share/status")

# ---- summary -------------------------------------------------------------
echo
say "guest ran ${t_guest}s (qemu exit $qemu_rc); whole harness $((SECONDS - t_start))s"
boot=$(sed -n 's/^.*guest: \/init started at \([0-9.]*\)s.*/\1/p' "$log" | head -n1)
[ -n "$boot" ] && say "guest booted to /init in $(cat "$share/.booted" 2>/dev/null || echo '?')s (host clock), ${boot}s of guest kernel uptime"
grep -E '^=== guest step [0-9]+: (ok|FAILED)' "$log" | sed 's/^/softroce-vm: /' || true

# Bandwidth: perftest's ib_write_bw 64 KiB average against the project's
# rdma benchmark at 64 KiB (Go reports MB/s as 10^6 bytes/s; perftest's
# MB/sec are 2^20 bytes/s).
bw_perf=$(awk '/^=== guest step [0-9]+: .*ib_write_bw/ {on=1} /^=== guest step/ && !/ib_write_bw/ {on=0}
	on && v == "" && $1 == 65536 && NF >= 5 && $4 ~ /^[0-9.]+$/ {v=$4} END {if (v != "") print v}' "$log")
bw_talos=$(awk '/^BenchmarkVerbs/ && /64KiB/ {for (i = 2; i <= NF; i++) if ($i == "MB/s") v=$(i-1)} END {if (v != "") print v}' "$log")
if [ -n "$bw_perf" ]; then
	awk -v p="$bw_perf" 'BEGIN {printf "softroce-vm: ib_write_bw 64KiB average: %.2f MB/s (%s MiB/s)\n", p * 1048576 / 1000000, p}'
fi
if [ -n "$bw_perf" ] && [ -n "$bw_talos" ]; then
	say "talos rdma 64KiB write: $bw_talos MB/s"
	awk -v t="$bw_talos" -v p="$bw_perf" 'BEGIN {printf "softroce-vm: bandwidth ratio talos/ib_write_bw: %.2f\n", t / (p * 1048576 / 1000000)}'
else
	say "bandwidth ratio talos/ib_write_bw: not measured (needs ib_write_bw and a BenchmarkVerbs 64KiB result in the log)"
fi
# Latency: ib_write_lat is a ping-pong and reports half the round trip
# (typical = median, and average); the rdma benchmark's ns/op is the mean of
# post-to-completion of one signaled write, which is a whole round trip (the
# completion waits for the responder's ack). Compare round trips.
lat_perf=$(awk '/^=== guest step [0-9]+: .*ib_write_lat/ {on=1} /^=== guest step/ && !/ib_write_lat/ {on=0}
	on && v == "" && $1 ~ /^[0-9]+$/ && NF >= 6 && $5 ~ /^[0-9.]+$/ {v=$5 " " $6} END {if (v != "") print v}' "$log")
lat_talos=$(awk '/^BenchmarkVerbs/ && /[Ll]atency/ {for (i = 2; i <= NF; i++) if ($i == "ns/op") v=$(i-1)} END {if (v != "") print v}' "$log")
if [ -n "$lat_perf" ]; then
	read -r lat_typ lat_avg <<<"$lat_perf"
	awk -v t="$lat_typ" -v a="$lat_avg" 'BEGIN {printf "softroce-vm: ib_write_lat round trip: typical %.1f us, average %.1f us (2x its one-way figures)\n", 2 * t, 2 * a}'
fi
if [ -n "$lat_perf" ] && [ -n "$lat_talos" ]; then
	awk -v t="$lat_talos" -v a="$lat_avg" -v m="$lat_typ" 'BEGIN {
		printf "softroce-vm: talos rdma small-write round trip (mean): %.1f us\n", t / 1000
		printf "softroce-vm: latency ratio talos/ib_write_lat: %.2f against its average round trip, %.2f against its typical one\n", t / 1000 / (2 * a), t / 1000 / (2 * m)
	}'
else
	say "latency comparison: not measured (needs ib_write_lat and a BenchmarkVerbs...Latency result in the log)"
fi

# The Go tests (and subtests) that ran in the guest, by name, and the
# closing count.
dev=$(sed -n 's/^softroce: \([^ ]*\) is up on \(.*\)$/\1 on \2/p' "$log" | head -n1)
say "RDMA device in the guest: ${dev:-none was created}"
npass=$(grep -Ec '^ *--- PASS: ' "$log" || true)
nfail=$(grep -Ec '^ *--- FAIL: ' "$log" || true)
nbench=$(grep -Ec '^Benchmark[^ ]+[[:space:]]+[0-9]' "$log" || true)
grep -E '^ *--- (PASS|FAIL): ' "$log" | sed 's/^/softroce-vm: /' || true
grep -E '^Benchmark[^ ]+[[:space:]]+[0-9]' "$log" | sed 's/^/softroce-vm: /' || true
say "$nbench benchmark results"
# The closing line: the guest's Go tests, counted.
counts() { echo "softroce-vm: $npass passed, $nfail failed"; }

if [ -z "$status" ]; then
	if [ "$qemu_rc" -eq 124 ] || [ "$qemu_rc" -eq 137 ]; then
		say "FAILED: the guest did not finish within ${timeout_s}s (TALOS_SOFTROCE_TIMEOUT)"
	else
		say "FAILED: the guest reported no status (qemu exit $qemu_rc): see the output above"
	fi
	counts
	exit 1
fi
if [ "$status" != 0 ]; then
	say "FAILED: the guest suite exited with status $status"
	counts
	exit "$status"
fi
if [ "$nfail" -ne 0 ]; then
	say "FAILED: the suite passed but $nfail test(s) report FAIL"
	counts
	exit 1
fi
say "PASS: all guest steps succeeded"
counts
