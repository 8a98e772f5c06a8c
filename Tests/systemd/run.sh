#!/usr/bin/env bash
# run.sh [APUS_BIN]: boots the pure cgroup v2 VM of Tests/vm/boot.sh with Debian's systemd
# (this host's /lib/systemd/systemd) as PID 1 and runs Tests/systemd/checks.sh in it as the
# service apus-checks.service (Tests/vm/init writes the units): the systemd cgroup driver
# (`--systemd-cgroup`) against a real systemd on the system bus. Prints the checks' lines;
# exit 0 iff they printed PASS.
#
# Environment: APUS_SYSTEMD_HIERARCHY: v2 (default: cgroup_no_v1=all, the VM "systemd")
# or hybrid (systemd's v1 controllers with the unified hierarchy beside them, the VM
# "systemd-hybrid"); APUS_SYSTEMD_CACHE (default .build/<VM>: console.log; the kernel is
# shared with the cgroup2 VM's cache, .build/cgroup2, when that has one),
# APUS_SYSTEMD_TIMEOUT (seconds, default 2400: TCG on a busy 2-core host runs podman and dockerd slowly), APUS_SYSTEMD_CHECKS (another script to run
# there instead of checks.sh, e.g. to debug).
set -euo pipefail
vm_repo=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(realpath "${1:-$vm_repo/.build/release/apus}")
case ${APUS_SYSTEMD_HIERARCHY:-v2} in
v2) name=systemd hierarchy="cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1" ;;
hybrid) name=systemd-hybrid hierarchy="systemd.unified_cgroup_hierarchy=0" ;;
*) echo "systemd: APUS_SYSTEMD_HIERARCHY is v2 or hybrid" >&2; exit 2 ;;
esac
cache=$(realpath -m "${APUS_SYSTEMD_CACHE:-$vm_repo/.build/$name}")
[ -x "$bin" ] || { echo "systemd: no apus binary at $bin" >&2; exit 2; }
[ -x /lib/systemd/systemd ] || { echo "systemd: /lib/systemd/systemd missing (apt-get install systemd)" >&2; exit 2; }
[ -x /usr/bin/dbus-daemon ] || { echo "systemd: dbus-daemon missing (apt-get install dbus)" >&2; exit 2; }
# shellcheck source=../vm/boot.sh
. "$vm_repo/Tests/vm/boot.sh"

# One kernel download for both VMs.
mkdir -p "$cache"
shared="$vm_repo/.build/cgroup2/root"
if [ ! -e "$cache/root" ] && ls "$shared"/boot/vmlinuz-* >/dev/null 2>&1; then ln -s "$shared" "$cache/root"; fi

# The Debian rootfs with systemd that pid1.sh boots as a container (podman --systemd=always),
# made once from the host's apt sources and kept; without mmdebstrap or a mirror the check
# is a reported skip.
image=""
if [ "$name" = systemd ]; then
    image="$vm_repo/.build/debian-systemd.tar"
    if [ ! -s "$image" ] && command -v mmdebstrap > /dev/null; then
        codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
        echo "systemd: making $image (mmdebstrap $codename, minbase + systemd)"
        # mmdebstrap picks the format from the name's extension: the partial file ends in .tar.
        part="${image%.tar}.part.tar"
        mmdebstrap --quiet --variant=minbase --include=systemd,systemd-sysv --mode=root "$codename" "$part" \
            && mv "$part" "$image" || { rm -rf "$part"; echo "systemd: mmdebstrap failed" >&2; }
    fi
fi

# systemd.unit: only the checks' target, none of the host's enabled units. fstab=no: the
# host's /etc/fstab names its disks, which the VM has not. The rest keeps the console
# to the checks' lines and bounds every job.
vm_boot $name "$cache" "${APUS_SYSTEMD_TIMEOUT:-2400}" "$hierarchy" \
    "systemd.unit=apus-checks.target fstab=no systemd.show_status=0 systemd.log_level=warning" \
    "systemd.default_timeout_start_sec=60 systemd.firstboot=no" \
    "APUS_SYSTEMD=1 APUS_BIN=$bin APUS_REPO=$vm_repo APUS_SYSTEMD_IMAGE=$image APUS_CHECKS=${APUS_SYSTEMD_CHECKS:-$vm_repo/Tests/systemd/checks.sh}"
grep -q "APUS-${name^^}: PASS" "$cache/console.log"
