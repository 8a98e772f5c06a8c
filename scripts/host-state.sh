#!/usr/bin/env bash
# host-state.sh snapshot FILE | compare FILE
#
# What a test run could leave on this host, written as sorted "kind<TAB>thing" lines:
# mounts, cgroup directories and the v2 root's controllers, network devices, network
# namespaces, users and groups, state dirs of apus/runc/crun, temp files of the tests,
# and processes started from a test bundle, the build tree or the container managers the
# tests start. `compare` takes a new snapshot and fails, listing each difference, when
# anything was added or removed (processes: only added ones count, since unrelated ones
# end all the time). `make test` runs it around the whole suite.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

snapshot() {
    {
        awk '{ print "mount\t" $5 }' /proc/self/mountinfo
        find /sys/fs/cgroup -mindepth 1 -type d 2>/dev/null | sed 's/^/cgroup\t/'
        for f in /sys/fs/cgroup/unified/cgroup.subtree_control /sys/fs/cgroup/unified/cgroup.controllers \
            /sys/fs/cgroup/cgroup.subtree_control; do
            [ -r "$f" ] && printf 'cgroup-file\t%s: %s\n' "$f" "$(cat "$f")"
        done
        ip -o link show 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print "link\t" $2 }'
        ls /run/netns 2>/dev/null | sed 's/^/netns\t/'
        cut -d: -f1 /etc/passwd | sed 's/^/user\t/'
        cut -d: -f1 /etc/group | sed 's/^/group\t/'
        for d in /run/apus /run/runc /run/crun /run/user/*/apus; do
            [ -d "$d" ] && ls -A "$d" | sed "s|^|state\t$d/|"
        done
        ls -A /tmp 2>/dev/null | grep -E '^(apus|runc|crun|podman|ctrd|containerd|docker|buildah)' | sed 's/^/tmp\t/'
        for p in /proc/[0-9]*; do
            pid=${p#/proc/}
            [ "$pid" = $$ ] && continue
            exe=$(readlink "$p/exe" 2>/dev/null) || continue
            case "$exe" in
            "$repo"/.build/* | */apus-bundle-* | */apus-* | *conmon | *containerd* | *dockerd | *podman \
                | *slirp4netns | *qemu-system-*)
                printf 'process\t%s %s\n' "$pid" "$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null | cut -c1-160)"
                ;;
            esac
        done
    } | LC_ALL=C sort
}

case "${1:-}" in
snapshot)
    snapshot >"$2"
    ;;
compare)
    now=$(mktemp)
    trap 'rm -f "$now"' EXIT
    snapshot >"$now"
    changes=$(LC_ALL=C diff "$2" "$now" | grep -E '^[<>] ' | grep -vE '^< process' || true)
    if [ -n "$changes" ]; then
        echo "host-state: the test run changed the host (< was there before, > is there now):"
        echo "$changes" | head -100
        exit 1
    fi
    echo "host-state: the host is as the test run found it (mounts, cgroups, links, users, state, processes)"
    ;;
*)
    echo "usage: $0 snapshot FILE | compare FILE" >&2
    exit 2
    ;;
esac
