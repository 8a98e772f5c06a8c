# boot.sh: sourced by Tests/cgroup2/run.sh and Tests/systemd/run.sh. Boots this host's /
# (exported read-only over 9p, tmpfs on /tmp /run /var/tmp /root, see Tests/vm/init) under
# qemu on Debian's kernel, so the binary, busybox and the repository are used in place.
#
# The kernel is Debian's linux-image-amd64 (not installed: its .deb is fetched with
# `apt-get download` into the cache and unpacked there). KVM does not work on every host,
# so TCG (-accel tcg,thread=multi).
#
#   vm_boot NAME CACHE TIMEOUT KERNEL_ARGS...
# boots with the kernel arguments given (after console=ttyS0 …), bounded by TIMEOUT
# seconds, teeing the console to CACHE/console.log; prints "NAME: wall time". The caller
# decides PASS/FAIL from the console log.

vm_fail() {
    echo "$vm_name: $*" >&2
    exit 2
}

vm_boot() {
    vm_name=$1
    local cache timeout_s kernel release modules work pkg start f m
    cache=$(realpath -m "$2")
    timeout_s=$3
    shift 3
    command -v qemu-system-x86_64 >/dev/null || vm_fail "qemu-system-x86_64 missing (apt-get install qemu-system-x86)"
    [ -x /bin/busybox ] || vm_fail "/bin/busybox missing (apt-get install busybox-static)"

    mkdir -p "$cache"
    kernel=$(ls "$cache"/root/boot/vmlinuz-* 2>/dev/null | head -1 || true)
    if [ -z "$kernel" ]; then
        pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: \(linux-image-[0-9].*\)/\1/p' | head -1)
        [ -n "$pkg" ] || vm_fail "cannot resolve linux-image-amd64"
        (cd "$cache" && apt-get download "$pkg" >/dev/null 2>&1) || vm_fail "apt-get download $pkg failed"
        dpkg-deb -x "$cache"/"$pkg"_*.deb "$cache/root"
        kernel=$(ls "$cache"/root/boot/vmlinuz-* | head -1)
    fi
    release=${kernel##*/vmlinuz-}
    modules="$cache/root/lib/modules/$release/kernel"

    work=$(mktemp -d)
    # shellcheck disable=SC2064 # expanded now: $work is local
    trap "rm -rf '$work'" EXIT
    mkdir -p "$work/initrd"/{bin,proc,sys,dev,modules,newroot}
    cp /bin/busybox "$work/initrd/bin/busybox"
    cp "$vm_repo/Tests/vm/init" "$work/initrd/init"
    for m in drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_legacy_dev \
        drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci net/9p/9pnet net/9p/9pnet_virtio \
        fs/netfs/netfs fs/fscache/fscache fs/9p/9p; do
        f="$modules/$m.ko"
        [ -f "$f" ] || f="$f.xz"
        [ -f "$f" ] || vm_fail "module $m missing in $release"
        case "$f" in *.xz) xz -dc "$f" > "$work/initrd/modules/$(basename "$m").ko" ;; *) cp "$f" "$work/initrd/modules/" ;; esac
    done
    # What criu needs of the kernel (socket diag, tun, veth, nf_tables), in load order: loaded
    # when the kernel has them as modules, so CheckpointTests can run in the VM.
    for m in crypto/crc32c_generic lib/libcrc32c net/netfilter/nfnetlink net/netfilter/nf_tables \
        net/unix/unix_diag net/ipv4/inet_diag net/ipv4/tcp_diag net/ipv4/udp_diag net/netlink/netlink_diag \
        net/packet/af_packet net/packet/af_packet_diag drivers/net/tun drivers/net/veth; do
        f="$modules/$m.ko"
        [ -f "$f" ] || f="$f.xz"
        [ -f "$f" ] || continue
        case "$f" in *.xz) xz -dc "$f" > "$work/initrd/modules/$(basename "$m").ko" ;; *) cp "$f" "$work/initrd/modules/" ;; esac
        basename "$m" >> "$work/initrd/modules/extra.list"
    done
    (cd "$work/initrd" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1 > "$work/initrd.gz")

    start=$(date +%s)
    set +e
    timeout "$timeout_s" qemu-system-x86_64 -accel tcg,thread=multi -smp 2 -m 2048 -nodefaults -no-reboot \
        -display none -serial stdio -kernel "$kernel" -initrd "$work/initrd.gz" \
        -virtfs local,path=/,mount_tag=hostroot,readonly=on,security_model=none,multidevs=remap \
        -append "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init APUS_VM=$vm_name $*" \
        </dev/null | tee "$cache/console.log" | tr -d '\r'
    local status=${PIPESTATUS[0]}
    set -e
    [ "$status" = 124 ] && echo "$vm_name: timed out after $timeout_s s"
    echo "$vm_name: wall time $(($(date +%s) - start)) s"
}
