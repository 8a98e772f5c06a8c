# Sourced by Tests/systemd/checks.sh (pure v2): a container whose PID 1 is systemd, as
# `podman run --systemd=always` starts it (podman gives it its own cgroup namespace, a
# cgroup2 mount of its own cgroup, tmpfs on /run /tmp, SIGRTMIN+3 to stop), with apus and
# then runc 1.5.1 as podman's runtime. The image is a Debian rootfs with systemd that run.sh
# made on the host with mmdebstrap ($APUS_SYSTEMD_IMAGE, a tar). Checked: the container's
# systemd reaches `running` or `degraded`, it sees its own cgroup as its root, and the VM's
# cgroup tree outside the container's unit is the same before, during and after.

# The VM's cgroup tree as a list of directories and the cgroup2 mount's options, minus the
# containers' own units (what a container may change is inside them) and what podman's
# first container makes appear whatever the runtime (machine.slice, and dbus.service, which
# podman's D-Bus call to systemd activates). A systemd that reached the VM's cgroupfs would
# add its own units' cgroups (system.slice/systemd-journald.service, …) at the top.
pid1_host_tree() {
    find $CG -mindepth 1 -maxdepth 3 -type d \
        | grep -Ev "/libpod-(conmon-)?[0-9a-f]{64}\.scope|^$CG/machine.slice\$|^$CG/system.slice/dbus.service\$" | sort
    grep ' /sys/fs/cgroup ' /proc/self/mountinfo | awk '{ print $6, $NF }'
}

# pid1_boot RUNTIME_NAME RUNTIME_PATH: one systemd container under that runtime; prints
# the state its systemd reached.
pid1_boot() {
    local name=$1 runtime=$2 id state="" unit
    id=$(pm1 --runtime "$runtime" run -d --systemd=always --network none "$PID1_IMAGE" /sbin/init) || return 1
    unit=libpod-$id.scope
    # systemd in a TCG VM takes a while: first its private bus socket, then
    # `is-system-running --wait` returns once the boot settles.
    wait_for 120 pm1 exec "$id" test -S /run/systemd/private
    state=$(timeout 300 podman "${PM1_ARGS[@]}" exec "$id" systemctl is-system-running --wait 2> /tmp/pid1.err)
    echo "  $name: systemd in the container reached '$state'"
    case $state in running | degraded) ;; *)
        cat /tmp/pid1.err
        pm1 exec "$id" systemctl --failed --no-legend 2>&1 | head -20
        pm1 logs "$id" 2>&1 | tail -20
        ;;
    esac
    PID1_STATE=$state
    PID1_CGROUP=$(pm1 exec "$id" cat /proc/1/cgroup)
    PID1_MOUNT=$(pm1 exec "$id" sh -c "grep ' /sys/fs/cgroup ' /proc/self/mountinfo | cut -d' ' -f4,9")
    PID1_TREE_DURING=$(pid1_host_tree)
    PID1_UNIT_ACTIVE=$(prop "$unit" ActiveState)
    pm1 stop --time 60 "$id" > /dev/null 2>&1
    PID1_EXIT=$(pm1 inspect --format '{{.State.ExitCode}}' "$id")
    pm1 rm --force --time 0 "$id" > /dev/null 2>&1
    wait_for 20 gone "$unit" "/machine.slice/$unit"
    PID1_UNIT_GONE=$?
}

pid1_checks() {
    local D=/tmp/pid1 before after
    podman_conf $D
    PM1_ARGS=(--root $D/root --runroot $D/runroot --tmpdir $D/tmp)
    pm1() { podman "${PM1_ARGS[@]}" "$@"; }
    PID1_IMAGE=localhost/apus-debian-systemd:latest
    check "systemd image: podman import of the mmdebstrap rootfs" \
        pm1 import -q --change 'CMD ["/sbin/init"]' "$APUS_SYSTEMD_IMAGE" $PID1_IMAGE
    before=$(pid1_host_tree)
    pid1_boot apus "$A"
    check "systemd as PID 1 under apus: running or degraded" bash -c "[ '$PID1_STATE' = running ] || [ '$PID1_STATE' = degraded ]"
    # In its own cgroup namespace: init.scope of its own tree, not the VM's machine.slice/….
    check "systemd as PID 1 under apus: in its cgroup namespace, in its own init.scope" eq "$PID1_CGROUP" "0::/init.scope"
    check "systemd as PID 1 under apus: /sys/fs/cgroup is a cgroup2 mount" eq "${PID1_MOUNT#* }" cgroup2
    check "systemd as PID 1 under apus: the unit is active while it runs" eq "$PID1_UNIT_ACTIVE" active
    check "systemd as PID 1 under apus: the VM's cgroup tree is untouched while it runs" eq "$PID1_TREE_DURING" "$before"
    check "systemd as PID 1 under apus: podman stop ends it cleanly" eq "$PID1_EXIT" 0
    check "systemd as PID 1 under apus: rm leaves no unit" eq "$PID1_UNIT_GONE" 0
    after=$(pid1_host_tree)
    check "systemd as PID 1 under apus: the VM's cgroup tree is as before" eq "$after" "$before"
    if [ -x "$RUNC" ]; then
        local apus_state=$PID1_STATE apus_cgroup=$PID1_CGROUP apus_exit=$PID1_EXIT
        pid1_boot runc "$RUNC"
        check "systemd as PID 1: same state as under runc" eq "$apus_state" "$PID1_STATE"
        check "systemd as PID 1: same /proc/1/cgroup as under runc" eq "$apus_cgroup" "$PID1_CGROUP"
        check "systemd as PID 1: same exit code on stop as under runc" eq "$apus_exit" "$PID1_EXIT"
    else
        skip "systemd as PID 1 under runc" "no runc 1.5.1 at $RUNC"
    fi
    pm1 rmi --all > /dev/null 2>&1
    unset CONTAINERS_CONF CONTAINERS_STORAGE_CONF
    rm -rf $D
}

if ! command -v podman > /dev/null; then
    skip "systemd as PID 1 (podman --systemd=always)" "podman is not installed (apt-get install podman)"
elif [ ! -s "${APUS_SYSTEMD_IMAGE:-}" ]; then
    skip "systemd as PID 1 (podman --systemd=always)" \
        "no Debian image with systemd (run.sh makes it with mmdebstrap; apt-get install mmdebstrap, and an apt mirror)"
else
    pid1_checks
fi
