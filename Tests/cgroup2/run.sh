#!/usr/bin/env bash
# run.sh [APUS_BIN]: boots a pure cgroup v2 kernel (cgroup_no_v1=all) under qemu and runs
# Tests/cgroup2/checks.sh with the given apus binary inside it. The VM's root is this
# host's / exported read-only over 9p (tmpfs on /tmp, /run), so the binary, busybox and
# the repository are used in place. Prints checks.sh's lines; exit 0 iff it printed PASS.
#
# Needs root-free qemu: Debian's qemu-system-x86. The kernel is Debian's linux-image-amd64
# (not installed: its .deb is fetched with `apt-get download` into $APUS_CG2_CACHE and
# unpacked there). KVM does not work on every host, so TCG (-accel tcg,thread=multi).
# Environment: APUS_CG2_CACHE (default .build/cgroup2), APUS_CG2_TESTS=path to the
# apusPackageTests.xctest binary to also run the Swift CgroupTests inside the VM (`make
# test` and `make test-cgroup2` pass it), APUS_CG2_TIMEOUT (seconds, default 1500).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(realpath "${1:-$repo/.build/release/apus}")
cache=$(realpath -m "${APUS_CG2_CACHE:-$repo/.build/cgroup2}")
timeout_s=${APUS_CG2_TIMEOUT:-1500}
[ -x "$bin" ] || { echo "cgroup2: no apus binary at $bin" >&2; exit 2; }
command -v qemu-system-x86_64 >/dev/null || { echo "cgroup2: qemu-system-x86_64 missing (apt-get install qemu-system-x86)" >&2; exit 2; }
[ -x /bin/busybox ] || { echo "cgroup2: /bin/busybox missing (apt-get install busybox-static)" >&2; exit 2; }

mkdir -p "$cache"
kernel=$(ls "$cache"/root/boot/vmlinuz-* 2>/dev/null | head -1 || true)
if [ -z "$kernel" ]; then
    pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: \(linux-image-[0-9].*\)/\1/p' | head -1)
    [ -n "$pkg" ] || { echo "cgroup2: cannot resolve linux-image-amd64" >&2; exit 2; }
    (cd "$cache" && apt-get download "$pkg" >/dev/null 2>&1) || { echo "cgroup2: apt-get download $pkg failed" >&2; exit 2; }
    dpkg-deb -x "$cache"/"$pkg"_*.deb "$cache/root"
    kernel=$(ls "$cache"/root/boot/vmlinuz-* | head -1)
fi
release=${kernel##*/vmlinuz-}
modules="$cache/root/lib/modules/$release/kernel"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/initrd"/{bin,proc,sys,dev,modules,newroot}
cp /bin/busybox "$work/initrd/bin/busybox"
cp "$repo/Tests/cgroup2/init" "$work/initrd/init"
for m in drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_legacy_dev \
    drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci net/9p/9pnet net/9p/9pnet_virtio \
    fs/netfs/netfs fs/fscache/fscache fs/9p/9p; do
    f="$modules/$m.ko"
    [ -f "$f" ] || f="$f.xz"
    [ -f "$f" ] || { echo "cgroup2: module $m missing in $release" >&2; exit 2; }
    case "$f" in *.xz) xz -dc "$f" > "$work/initrd/modules/$(basename "$m").ko" ;; *) cp "$f" "$work/initrd/modules/" ;; esac
done
# What criu needs of the kernel (socket diagnostics, tun, veth, nf_tables), in load order:
# loaded when the kernel has them as modules, so CheckpointTests can run in the VM.
for m in crypto/crc32c_generic lib/libcrc32c net/netfilter/nfnetlink net/netfilter/nf_tables net/unix/unix_diag \
    net/ipv4/inet_diag net/ipv4/tcp_diag net/ipv4/udp_diag net/netlink/netlink_diag net/packet/af_packet \
    net/packet/af_packet_diag drivers/net/tun drivers/net/veth; do
    f="$modules/$m.ko"
    [ -f "$f" ] || f="$f.xz"
    [ -f "$f" ] || continue
    case "$f" in *.xz) xz -dc "$f" > "$work/initrd/modules/$(basename "$m").ko" ;; *) cp "$f" "$work/initrd/modules/" ;; esac
    basename "$m" >> "$work/initrd/modules/extra.list"
done
(cd "$work/initrd" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1 > "$work/initrd.gz")

tests_arg=""
[ -n "${APUS_CG2_TESTS:-}" ] && tests_arg="APUS_TESTS=$(realpath "$APUS_CG2_TESTS")"
start=$(date +%s)
set +e
timeout "$timeout_s" qemu-system-x86_64 -accel tcg,thread=multi -smp 2 -m 2048 -nodefaults -no-reboot \
    -display none -serial stdio -kernel "$kernel" -initrd "$work/initrd.gz" \
    -virtfs local,path=/,mount_tag=hostroot,readonly=on,security_model=none,multidevs=remap \
    -append "console=ttyS0 quiet loglevel=3 panic=-1 cgroup_no_v1=all rdinit=/init APUS_BIN=$bin APUS_REPO=$repo APUS_CHECKS=$repo/Tests/cgroup2/checks.sh $tests_arg" \
    </dev/null | tee "$cache/console.log" | tr -d '\r'
set -e
echo "cgroup2: wall time $(($(date +%s) - start)) s"
grep -q "APUS-CGROUP2: PASS" "$cache/console.log"
