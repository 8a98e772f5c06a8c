#!/usr/bin/env bash
# make-bundle.sh DIR [--config FILE]
#
# Builds an OCI bundle at DIR whose DIR/rootfs is a statically linked busybox
# (Debian package busybox-static) with every applet installed as a symlink the way
# `busybox --install -s` lays them out (bin/, sbin/, usr/bin/, usr/sbin/), the
# directories a runtime mounts on, and a minimal /etc (passwd, group, hostname,
# resolv.conf).  With --config FILE, FILE is copied to DIR/config.json; without it
# no config.json is written (the caller runs `apus spec` or `runc spec`).
#
# Environment: APUS_BUSYBOX=/path/to/busybox uses that binary instead of the
# package's /bin/busybox (it must be static: it runs inside the container).
#
# Idempotent: running it again on the same DIR refreshes the rootfs in place and
# leaves an existing config.json alone unless --config is given.
set -euo pipefail

usage() {
    echo "usage: $0 DIR [--config FILE]" >&2
    echo "  env APUS_BUSYBOX=PATH: busybox binary to use (default: /bin/busybox from busybox-static)" >&2
    exit 2
}

die() {
    echo "make-bundle: $*" >&2
    exit 1
}

dir=""
config=""
while [ $# -gt 0 ]; do
    case "$1" in
        --config)
            [ $# -ge 2 ] || usage
            config="$2"
            shift 2
            ;;
        --config=*)
            config="${1#--config=}"
            shift
            ;;
        -h | --help) usage ;;
        -*) echo "make-bundle: unknown option $1" >&2; usage ;;
        *)
            [ -z "$dir" ] || usage
            dir="$1"
            shift
            ;;
    esac
done
[ -n "$dir" ] || usage
if [ -n "$config" ] && [ ! -f "$config" ]; then
    die "config file $config: not found"
fi

# Find a busybox: APUS_BUSYBOX, else the busybox-static package's /bin/busybox
# (installed on demand when we are root, as in CI).
busybox="${APUS_BUSYBOX:-}"
if [ -n "$busybox" ]; then
    [ -x "$busybox" ] || die "APUS_BUSYBOX=$busybox: not an executable file"
else
    busybox=/bin/busybox
    # Debian's busybox (dynamic) package also installs /bin/busybox; only the static
    # one runs inside a rootfs that has no libc.
    status="$(dpkg-query -W -f='${Status}' busybox-static 2>/dev/null || true)"
    if [ "$status" != "install ok installed" ]; then
        if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "make-bundle: installing busybox-static" >&2
            export DEBIAN_FRONTEND=noninteractive
            apt-get install -y -qq busybox-static >/dev/null 2>&1 ||
                { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq busybox-static >/dev/null; } ||
                die "apt-get install busybox-static failed"
        elif [ ! -x "$busybox" ]; then
            die "busybox-static is not installed (apt-get install busybox-static as root, or set APUS_BUSYBOX)"
        else
            echo "make-bundle: busybox-static is not installed; using $busybox, which must be static" >&2
        fi
    fi
    [ -x "$busybox" ] || die "$busybox missing after installing busybox-static"
fi

mkdir -p "$dir"
dir="$(cd "$dir" && pwd -P)"
rootfs="$dir/rootfs"

# The directories a runtime mounts on (proc, sys, dev, tmp, ...) plus the applet dirs.
mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,etc,root,run,var,tmp,home/apus}
chmod 1777 "$rootfs/tmp"
chmod 0700 "$rootfs/root"

# Copy, never hardlink: a container that can write its /bin/busybox must not be able
# to rewrite the host's.  Skip the copy when the same bytes are already there.
if ! cmp -s "$busybox" "$rootfs/bin/busybox" 2>/dev/null; then
    rm -f "$rootfs/bin/busybox.tmp"
    cp "$busybox" "$rootfs/bin/busybox.tmp"
    chmod 0755 "$rootfs/bin/busybox.tmp"
    mv -f "$rootfs/bin/busybox.tmp" "$rootfs/bin/busybox"
fi

# Applet symlinks, absolute (/bin/busybox) as `busybox --install -s` makes them.
# As root, let busybox do it in a chroot (one process, ~10 ms); otherwise create the
# links from `busybox --list-full` (existing links are kept, which keeps re-runs fast).
if [ "$(id -u)" -eq 0 ] && command -v chroot >/dev/null 2>&1 &&
    chroot "$rootfs" /bin/busybox --install -s 2>/dev/null; then
    :
else
    "$rootfs/bin/busybox" --list-full | {
        if command -v perl >/dev/null 2>&1; then
            (cd "$rootfs" && perl -ne 'chomp; next if $_ eq "" or $_ eq "bin/busybox";
                next if -e $_ or -l $_; symlink("/bin/busybox", $_) or die "symlink $_: $!\n"')
        else
            while IFS= read -r applet; do
                [ -n "$applet" ] && [ "$applet" != bin/busybox ] || continue
                [ -e "$rootfs/$applet" ] || [ -L "$rootfs/$applet" ] || ln -s /bin/busybox "$rootfs/$applet"
            done
        fi
    }
fi

# /etc: root, nobody (65534) and an unprivileged user apus (1000) for USER tests.
write_if_changed() {
    # $1 path, stdin content; rewrite only on change so mtimes stay put on re-runs.
    local content
    content="$(cat)"
    if [ ! -f "$1" ] || [ "$(cat "$1")" != "$content" ]; then
        printf '%s\n' "$content" >"$1.tmp"
        mv -f "$1.tmp" "$1"
    fi
}
write_if_changed "$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
apus:x:1000:1000:apus:/home/apus:/bin/sh
EOF
write_if_changed "$rootfs/etc/group" <<'EOF'
root:x:0:
tty:x:5:
nogroup:x:65534:
apus:x:1000:
EOF
write_if_changed "$rootfs/etc/hostname" <<'EOF'
apus
EOF
[ -f "$rootfs/etc/resolv.conf" ] || : >"$rootfs/etc/resolv.conf"
if [ "$(id -u)" -eq 0 ]; then
    chown 1000:1000 "$rootfs/home/apus"
fi

if [ -n "$config" ]; then
    # cmp first: copying a file onto itself (DIR/config.json) must stay a no-op.
    cmp -s "$config" "$dir/config.json" 2>/dev/null || cp "$config" "$dir/config.json"
fi
