#!/bin/bash
# Runs inside the systemd VM (see run.sh) as apus-checks.service, systemd 252 being PID 1
# on pure cgroup v2: the systemd cgroup driver (`--systemd-cgroup`) with busybox
# containers, checked with what systemd says of the unit (`systemctl show`) and with the
# cgroup files; where runc 1.5.1 is there, the same bundle under `runc --systemd-cgroup`
# must give the same unit properties and files; podman with cgroup_manager = "systemd" and
# apus as its runtime; containerd's runc.v2 shim with SystemdCgroup. Prints "APUS-SYSTEMD: PASS (n checks)" or
# "APUS-SYSTEMD: FAIL (names)"; the unit's end powers the VM off.
# Environment (/run/apus-vm.env, from the kernel command line): APUS_BIN, APUS_REPO.
MARKER="APUS-${APUS_VM^^}" # APUS-SYSTEMD, APUS-SYSTEMD-HYBRID
ROOT=/run/apus-systemd
CG=/sys/fs/cgroup
RUNC=${APUS_RUNC:-/work/shared/tools/runc}
# shellcheck source=../vm/checklib.sh
. "$APUS_REPO/Tests/vm/checklib.sh"
trap verdict EXIT

sd() { "$A" --root "$ROOT" --systemd-cgroup "$@"; }
prop() { systemctl show "$1" -p "$2" --value; }
gone() { [ "$(prop "$1" LoadState)" = not-found ] && [ ! -e "$CG$2" ]; } # gone UNIT CGROUP_PATH
pid_of() { apus state "$1" | sed -n 's/.*"pid": \([0-9]*\).*/\1/p'; }
cgroup_of() { sed -n 's/^0:://p' "/proc/$1/cgroup"; }
# Every process of the container (apus ps) is in CGROUP_PATH.
all_in() { # all_in ID CGROUP_PATH MIN_COUNT
    local pids n=0 p
    pids=$(apus ps --format json "$1" | tr -d '[]' | tr ',' ' ')
    for p in $pids; do
        n=$((n + 1))
        [ "$(cgroup_of "$p")" = "$2" ] || { echo "  pid $p is in $(cgroup_of "$p")"; return 1; }
    done
    [ $n -ge "$3" ] || { echo "  $n processes, expected at least $3"; return 1; }
}

# systemd on a hybrid hierarchy (v1 controllers, the unified one beside them): the v1
# properties (MemoryLimit, CPUShares) and files, every hierarchy joined, nothing left.
hybrid_checks() {
    local ID=hy1 U=apus-hy1.scope P=/system.slice/apus-hy1.scope pid
    echo "apus systemd checks, hybrid: kernel $(uname -r), $(systemctl --version | head -1)"
    check "systemd is PID 1" eq "$(cat /proc/1/comm)" systemd
    check "hybrid layout" bash -c "[ -d $CG/memory ] && [ -f $CG/unified/cgroup.controllers ]"
    bundle /tmp/h1 '{"memory":{"limit":33554432},"cpu":{"shares":512},"pids":{"limit":20}}' '["sleep","1000"]'
    check "run -d --systemd-cgroup" sd run -d --bundle /tmp/h1 $ID
    check "unit is active" eq "$(prop $U ActiveState)" active
    check "unit ControlGroup" eq "$(prop $U ControlGroup)" $P
    check "unit Delegate" eq "$(prop $U Delegate)" yes
    check "unit MemoryLimit" eq "$(prop $U MemoryLimit)" 33554432
    check "unit CPUShares" eq "$(prop $U CPUShares)" 512
    check "unit TasksMax" eq "$(prop $U TasksMax)" 20
    check "memory.limit_in_bytes" eq "$(cat $CG/memory$P/memory.limit_in_bytes)" 33554432
    check "cpu.shares" eq "$(cat $CG/cpu,cpuacct$P/cpu.shares)" 512
    check "pids.max" eq "$(cat $CG/pids$P/pids.max)" 20
    pid=$(pid_of $ID)
    check "init is in the unit's cgroup in every hierarchy" eq "$(awk -F: -v p=$P '$3 != p' /proc/$pid/cgroup)" ""
    check "exec -d" apus exec -d $ID sleep 999
    check "exec'd process joins the unit's cgroup" all_in $ID $P 2
    check "update --memory 64m" apus update --memory 64m $ID
    check "unit MemoryLimit after update" eq "$(prop $U MemoryLimit)" 67108864
    check "memory.limit_in_bytes after update" eq "$(cat $CG/memory$P/memory.limit_in_bytes)" 67108864
    check "systemctl daemon-reload" systemctl daemon-reload
    check "memory.limit_in_bytes after daemon-reload" eq "$(cat $CG/memory$P/memory.limit_in_bytes)" 67108864
    check "cpu.shares after daemon-reload" eq "$(cat $CG/cpu,cpuacct$P/cpu.shares)" 512
    check "pause" apus pause $ID
    check "freezer.state FROZEN" eq "$(cat $CG/freezer$P/freezer.state)" FROZEN
    check "resume" apus resume $ID
    check "delete --force" apus delete --force $ID
    check "delete leaves no unit" wait_for 10 gone $U /memory$P
    check "delete leaves no cgroup in any hierarchy" bash -c "! ls -d $CG/*$P 2>/dev/null"
    bundle /tmp/h2 '{"memory":{"limit":67108864}}' '["/no/such/program"]'
    sd run --bundle /tmp/h2 hyfail > /dev/null 2>&1
    check "failing create leaves no unit and no cgroup" wait_for 10 bash -c \
        "[ \"\$(systemctl show apus-hyfail.scope -p LoadState --value)\" = not-found ] && ! ls -d $CG/*/system.slice/apus-hyfail.scope 2>/dev/null"
    if [ -x "$RUNC" ]; then
        bundle /tmp/h3 '{"memory":{"limit":33554432},"pids":{"limit":20}}' '["sleep","1000"]' "c['linux']['cgroupsPath']='system.slice:cmp:apus'"
        bundle /tmp/h4 '{"memory":{"limit":33554432},"pids":{"limit":20}}' '["sleep","1000"]' "c['linux']['cgroupsPath']='system.slice:cmp:runc'"
        sd run -d --bundle /tmp/h3 cmp-apus
        "$RUNC" --root /run/runc-systemd --systemd-cgroup run -d --bundle /tmp/h4 cmp-runc > /dev/null 2>&1 < /dev/null
        for p in Delegate MemoryLimit TasksMax Slice; do
            check "as runc: unit $p" eq "$(prop cmp-apus.scope $p)" "$(prop cmp-runc.scope $p)"
        done
        check "as runc: memory.limit_in_bytes" eq "$(cat $CG/memory/system.slice/cmp-apus.scope/memory.limit_in_bytes)" \
            "$(cat $CG/memory/system.slice/cmp-runc.scope/memory.limit_in_bytes)"
        apus delete --force cmp-apus
        "$RUNC" --root /run/runc-systemd delete --force cmp-runc
    else
        skip "comparison with runc --systemd-cgroup (hybrid)" "no runc 1.5.1 at $RUNC"
    fi
    check "no container unit left" bash -c "! systemctl list-units --all --no-legend | grep -E '(apus|cmp)-[a-z0-9-]+\.scope'"
}
if [ ! -f $CG/cgroup.controllers ]; then
    hybrid_checks
    exit
fi

echo "apus systemd checks: kernel $(uname -r), $(systemctl --version | head -1)"
check "systemd is PID 1" eq "$(cat /proc/1/comm)" systemd
check "pure cgroup v2" test -f $CG/cgroup.controllers
check "apus info: systemd reachable on the system bus" bash -c "'$A' info | grep -q 'systemd reachable on the system bus'"

LIMITS='{"memory":{"limit":33554432,"reservation":16777216},"cpu":{"shares":512,"quota":10000,"period":100000},"pids":{"limit":20}}'
B=/tmp/b1
# A block device node the device rules deny: what systemd does not manage (apus's eBPF
# program) must hold as well as what it does.
bundle $B "$LIMITS" '["sleep","1000"]' \
    "c['linux']['devices']=[{'path':'/dev/loop-apus','type':'b','major':7,'minor':0,'fileMode':0o660}]"
denied() { apus exec "$1" sh -c 'head -c 0 /dev/loop-apus 2>&1' | grep -q "not permitted"; }

# run -d: the unit, its properties, the cgroup files, where init is.
ID=sd1
U=apus-$ID.scope
P=/system.slice/$U
check "run -d --systemd-cgroup" sd run -d --bundle $B $ID
check "unit is active" eq "$(prop $U ActiveState)" active
check "unit ControlGroup" eq "$(prop $U ControlGroup)" $P
check "unit Slice" eq "$(prop $U Slice)" system.slice
check "unit Delegate" eq "$(prop $U Delegate)" yes
check "unit MemoryMax" eq "$(prop $U MemoryMax)" 33554432
check "unit MemoryLow" eq "$(prop $U MemoryLow)" 16777216
check "unit CPUWeight from shares 512" eq "$(prop $U CPUWeight)" 59
check "unit CPUQuotaPerSecUSec" eq "$(prop $U CPUQuotaPerSecUSec)" 100ms
check "unit TasksMax" eq "$(prop $U TasksMax)" 20
check "unit Description" eq "$(prop $U Description)" "apus container $ID"
check "memory.max" eq "$(cat $CG$P/memory.max)" 33554432
check "memory.low" eq "$(cat $CG$P/memory.low)" 16777216
check "cpu.max" eq "$(cat $CG$P/cpu.max)" "10000 100000"
check "cpu.weight" eq "$(cat $CG$P/cpu.weight)" 59
check "pids.max" eq "$(cat $CG$P/pids.max)" 20
check "init's /proc/PID/cgroup is the unit's" eq "$(cgroup_of "$(pid_of $ID)")" $P
check "state.json records the unit" grep -q "\"name\":\"$U\"" $ROOT/$ID/state.json

check "device rule denies /dev/loop-apus" denied $ID
check "exec -d" apus exec -d $ID sleep 999
check "exec'd process joins the unit's cgroup" all_in $ID $P 2
check "systemd sees both processes" wait_for 10 bash -c "[ \"\$(systemctl show $U -p TasksCurrent --value)\" = 2 ]"

check "update --memory 64m --pids-limit 30 --cpu-quota 20000" apus update --memory 64m --pids-limit 30 --cpu-quota 20000 $ID
check "unit MemoryMax after update" eq "$(prop $U MemoryMax)" 67108864
check "unit TasksMax after update" eq "$(prop $U TasksMax)" 30
check "unit CPUQuotaPerSecUSec after update" eq "$(prop $U CPUQuotaPerSecUSec)" 200ms
check "memory.max after update" eq "$(cat $CG$P/memory.max)" 67108864
check "cpu.max after update" eq "$(cat $CG$P/cpu.max)" "20000 100000"
check "systemctl daemon-reload" systemctl daemon-reload
check "memory.max after daemon-reload" eq "$(cat $CG$P/memory.max)" 67108864
check "pids.max after daemon-reload" eq "$(cat $CG$P/pids.max)" 30
check "memory.low after daemon-reload" eq "$(cat $CG$P/memory.low)" 16777216
check "cpu.weight after daemon-reload" eq "$(cat $CG$P/cpu.weight)" 59
check "cpu.max after daemon-reload" eq "$(cat $CG$P/cpu.max)" "20000 100000"
check "unit MemoryMax after daemon-reload" eq "$(prop $U MemoryMax)" 67108864
check "device rule still denies after daemon-reload" denied $ID

check "pause" apus pause $ID
check "state paused" eq "$(state_of $ID)" paused
check "cgroup.freeze is 1" eq "$(cat $CG$P/cgroup.freeze)" 1
check "resume" apus resume $ID
check "state running" eq "$(state_of $ID)" running
check "events --stats" bash -c "'$A' --root $ROOT events --stats $ID | grep -q '\"type\":\"stats\"'"
check "kill --all KILL" apus kill --all $ID KILL
check "stopped after kill --all" wait_for 10 bash -c "[ \"\$('$A' --root $ROOT state $ID 2>/dev/null | grep -c stopped)\" = 1 ]"
check "delete" apus delete $ID
check "delete leaves no unit and no cgroup" wait_for 10 gone $U $P
check "delete leaves no state" test ! -e $ROOT/$ID

# create, then start: the unit exists from create on; delete --force of a running one.
ID=sd2
U=apus-$ID.scope
check "create --systemd-cgroup" sd create --bundle $B $ID
check "created: unit is active" eq "$(prop $U ActiveState)" active
check "state created" eq "$(state_of $ID)" created
check "start" apus start $ID
check "state running after start" eq "$(state_of $ID)" running
check "delete --force of a running container" apus delete --force $ID
check "delete --force leaves no unit and no cgroup" wait_for 10 gone $U /system.slice/$U

# slice:prefix:name, and an org.systemd.property.* annotation.
ID=sd3
U=ctr-$ID.scope
bundle /tmp/b3 '{"memory":{"limit":67108864}}' '["sleep","1000"]' \
    "c['linux']['cgroupsPath']='machine.slice:ctr:$ID'; c['annotations']={'org.systemd.property.CollectMode':\"'inactive-or-failed'\"}"
check "run with cgroupsPath machine.slice:ctr:$ID" sd run -d --bundle /tmp/b3 $ID
check "unit in machine.slice" eq "$(prop $U ControlGroup)" /machine.slice/$U
check "annotation org.systemd.property.CollectMode" eq "$(prop $U CollectMode)" inactive-or-failed
check "its memory.max" eq "$(cat $CG/machine.slice/$U/memory.max)" 67108864
apus delete --force $ID
check "slice:prefix:name: delete leaves no unit" wait_for 10 gone $U /machine.slice/$U

# Foreground run (deleted when it exits) with a cgroup namespace, and with a user namespace
# too: init enters its cgroup before it makes the namespace, whose root is the unit's.
cgns="c['linux']['namespaces'].append({'type':'cgroup'})"
userns="c['linux']['namespaces'].append({'type':'user'}); c['linux']['uidMappings']=[{'containerID':0,'hostID':0,'size':65536}]; c['linux']['gidMappings']=[{'containerID':0,'hostID':0,'size':65536}]"
bundle /tmp/b8 '{"pids":{"limit":50}}' '["cat","/proc/self/cgroup"]' "$cgns"
check "run, cgroup namespace: the container sees 0::/" eq "$(sd run --bundle /tmp/b8 sdns 2>&1)" "0::/"
check "run, cgroup namespace: leaves no unit" wait_for 10 gone apus-sdns.scope /system.slice/apus-sdns.scope
bundle /tmp/b9 '{"pids":{"limit":50}}' '["cat","/proc/self/cgroup"]' "$cgns; $userns"
check "run, user+cgroup namespaces: the container sees 0::/" eq "$(sd run --bundle /tmp/b9 sdus 2>&1)" "0::/"
check "run, user+cgroup namespaces: leaves no unit" wait_for 10 gone apus-sdus.scope /system.slice/apus-sdus.scope

# A create that fails after the unit started (the executable does not exist: init finds
# out after systemd placed it) leaves no unit, no cgroup, no state.
bundle /tmp/b4 '{"memory":{"limit":67108864}}' '["/no/such/program"]'
out=$(sd run --bundle /tmp/b4 sdfail 2>&1)
echo "  $out"
check "failing create fails" bash -c "echo '$out' | grep -q 'no/such/program'"
check "failing create leaves no unit and no cgroup" wait_for 10 gone apus-sdfail.scope /system.slice/apus-sdfail.scope
check "failing create leaves no state" test ! -e $ROOT/sdfail

# A property systemd refuses: the error names the unit, systemd's reason and the field.
bundle /tmp/b5 '{}' '["sleep","1000"]' "c['annotations']={'org.systemd.property.NoSuchProperty':'true'}"
out=$(sd run -d --bundle /tmp/b5 sdbad 2>&1)
code=$?
echo "  $out"
check "refused property: exit 1" eq "$code" 1
check "refused property: names the unit" bash -c "echo '$out' | grep -q 'apus-sdbad.scope'"
check "refused property: names the annotation" bash -c "echo '$out' | grep -q 'org.systemd.property.NoSuchProperty'"
check "refused property: leaves no unit" wait_for 10 gone apus-sdbad.scope /system.slice/apus-sdbad.scope
check "refused property: leaves no state" test ! -e $ROOT/sdbad

# runc 1.5.1 on the same bundle: the same unit properties and cgroup files.
if [ -x "$RUNC" ]; then
    bundle /tmp/b6 "$LIMITS" '["sleep","1000"]' "c['linux']['cgroupsPath']='system.slice:cmp:apus'"
    bundle /tmp/b7 "$LIMITS" '["sleep","1000"]' "c['linux']['cgroupsPath']='system.slice:cmp:runc'"
    sd run -d --bundle /tmp/b6 cmp-apus
    "$RUNC" --root /run/runc-systemd --systemd-cgroup run -d --bundle /tmp/b7 cmp-runc > /dev/null 2>&1 < /dev/null
    for p in Delegate MemoryMax MemoryLow CPUQuotaPerSecUSec TasksMax Slice DefaultDependencies MemoryAccounting \
        TasksAccounting; do
        check "as runc: unit $p" eq "$(prop cmp-apus.scope $p)" "$(prop cmp-runc.scope $p)"
    done
    for f in memory.max memory.low cpu.max pids.max cgroup.subtree_control; do
        check "as runc: $f" eq "$(cat $CG/system.slice/cmp-apus.scope/$f)" "$(cat $CG/system.slice/cmp-runc.scope/$f)"
    done
    check "as runc: unit CPUWeight" eq "$(prop cmp-apus.scope CPUWeight)" "$(prop cmp-runc.scope CPUWeight)"
    check "as runc: cpu.weight" eq "$(cat $CG/system.slice/cmp-apus.scope/cpu.weight)" \
        "$(cat $CG/system.slice/cmp-runc.scope/cpu.weight)"
    check "unit CPUWeight is the cpu.weight file" eq "$(prop cmp-apus.scope CPUWeight)" "$(cat $CG/system.slice/cmp-apus.scope/cpu.weight)"
    apus delete --force cmp-apus
    "$RUNC" --root /run/runc-systemd delete --force cmp-runc
    check "as runc: both units gone after delete" wait_for 10 bash -c \
        "[ \"\$(systemctl show cmp-apus.scope cmp-runc.scope -p LoadState --value | grep . | sort -u)\" = not-found ]"
else
    skip "comparison with runc --systemd-cgroup" "no runc 1.5.1 at $RUNC"
fi

# podman (rootful) with cgroup_manager = "systemd" and apus as its runtime: podman passes
# --systemd-cgroup and machine.slice:libpod:ID, the unit is libpod-ID.scope. Storage in
# /tmp (vfs: the VM's kernel has no overlay module on this host's /lib/modules).
podman_checks() {
    local D=/tmp/podman img=localhost/apus-busybox:latest id
    mkdir -p $D/root $D/runroot $D/tmp $D/networks
    printf '[engine]\ncgroup_manager = "systemd"\nevents_logger = "file"\n[network]\nnetwork_config_dir = "%s"\n' \
        "$D/networks" > $D/containers.conf
    printf '[storage]\ndriver = "vfs"\ngraphroot = "%s"\nrunroot = "%s"\n' $D/root $D/runroot > $D/storage.conf
    export CONTAINERS_CONF=$D/containers.conf CONTAINERS_STORAGE_CONF=$D/storage.conf
    pm() { podman --root $D/root --runroot $D/runroot --tmpdir $D/tmp --runtime "$A" "$@"; }
    bash "$APUS_REPO/spec-fixtures/make-bundle.sh" $D/bundle > /dev/null
    tar -C $D/bundle/rootfs -cf $D/busybox.tar .
    check "podman import" pm import -q --change 'CMD ["/bin/sh"]' $D/busybox.tar $img
    check "podman run (systemd manager)" eq "$(pm run --rm --network none $img sh -c 'echo hi; exit 7'; echo $?)" "hi
7"
    id=$(pm run -d --network none --memory 64m --pids-limit 42 $img sleep 1000)
    echo "  podman container $id"
    check "podman run -d --memory 64m: unit libpod-ID.scope" eq "$(prop libpod-$id.scope ActiveState)" active
    check "podman: unit MemoryMax" eq "$(prop libpod-$id.scope MemoryMax)" 67108864
    check "podman: unit TasksMax" eq "$(prop libpod-$id.scope TasksMax)" 42
    check "podman: unit in machine.slice" eq "$(prop libpod-$id.scope ControlGroup)" "/machine.slice/libpod-$id.scope"
    check "podman exec" eq "$(pm exec $id cat /proc/1/cmdline | tr '\0' ' ')" "sleep 1000 "
    check "podman pause" pm pause $id
    check "podman: cgroup.freeze is 1" eq "$(cat $CG/machine.slice/libpod-$id.scope/cgroup.freeze)" 1
    check "podman unpause" pm unpause $id
    check "podman rm --force" pm rm --force --time 0 $id
    check "podman rm leaves no unit" wait_for 10 gone libpod-$id.scope /machine.slice/libpod-$id.scope
    pm rmi --all > /dev/null 2>&1
}
if command -v podman > /dev/null; then
    podman_checks
else
    skip "podman with cgroup_manager=systemd" "podman is not installed (apt-get install podman)"
fi
# systemd as the container's PID 1 (podman --systemd=always): Tests/systemd/pid1.sh.
# shellcheck source=pid1.sh
. "$APUS_REPO/Tests/systemd/pid1.sh"

# containerd (a daemon of its own, state in /tmp) with the runc.v2 shim driving apus with
# SystemdCgroup (ctr run --runc-systemd-cgroup): the unit of the cgroupsPath it passes.
containerd_checks() {
    local D=/tmp/ctrd id out daemon
    mkdir -p $D/tmp
    cat > $D/config.toml <<EOF
version = 2
root = "$D/root"
state = "$D/state"
temp = "$D/tmp"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt", "io.containerd.internal.v1.tracing",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs"]
[grpc]
  address = "$D/containerd.sock"
[ttrpc]
  address = "$D/containerd.sock.ttrpc"
EOF
    containerd --config $D/config.toml > $D/containerd.log 2>&1 &
    daemon=$!
    ctr_() { ctr --address $D/containerd.sock --namespace apus "$@"; }
    answers() { ctr_ version > /dev/null 2>&1; }
    check "containerd answers" wait_for 60 answers
    bash "$APUS_REPO/spec-fixtures/make-bundle.sh" $D/bundle > /dev/null
    local flags=(--runc-binary "$A" --runc-systemd-cgroup --rootfs)
    out=$(ctr_ run --rm --cgroup system.slice:ctrd:c1 "${flags[@]}" $D/bundle/rootfs c1 cat /proc/self/cgroup 2>&1)
    check "ctr run --rm (SystemdCgroup): the process is in the unit's cgroup" eq "$out" "0::/system.slice/ctrd-c1.scope"
    check "ctr run --rm: no unit left" wait_for 10 gone ctrd-c1.scope /system.slice/ctrd-c1.scope
    check "ctr run -d" ctr_ run -d --cgroup system.slice:ctrd:c2 --memory-limit 67108864 "${flags[@]}" $D/bundle/rootfs c2 sleep 1000
    check "ctr: unit ctrd-c2.scope active" eq "$(prop ctrd-c2.scope ActiveState)" active
    check "ctr: unit MemoryMax" eq "$(prop ctrd-c2.scope MemoryMax)" 67108864
    check "ctr task pause" ctr_ task pause c2
    check "ctr: cgroup.freeze is 1" eq "$(cat $CG/system.slice/ctrd-c2.scope/cgroup.freeze)" 1
    check "ctr task resume" ctr_ task resume c2
    check "ctr task kill" ctr_ task kill -s KILL c2
    check "ctr task stops" wait_for 20 bash -c "ctr --address $D/containerd.sock --namespace apus task ls | grep -q 'c2 .*STOPPED'"
    check "ctr task rm" ctr_ task rm c2
    ctr_ container rm c2
    check "ctr: no unit left" wait_for 10 gone ctrd-c2.scope /system.slice/ctrd-c2.scope
    kill $daemon
    wait $daemon
}
if command -v containerd > /dev/null && command -v ctr > /dev/null; then
    containerd_checks
else
    skip "containerd with SystemdCgroup" "containerd is not installed (apt-get install containerd)"
fi

# Rootless: an ordinary user's systemd instance (user@UID.service, cpu memory pids
# delegated) on the user bus; apus as that user, its unit in the user manager's tree.
rootless_checks() {
    local user=$1 uid gid B=/tmp/r1 U=apus-r1.scope mgr P out
    uid=$(id -u "$user")
    gid=$(id -g "$user")
    check "start user@$uid.service" timeout 60 systemctl start user@$uid.service
    mgr=$(prop user@$uid.service ControlGroup)
    P=$mgr/user.slice/$U
    as_user() {
        setpriv --reuid "$uid" --regid "$gid" --clear-groups env HOME=/tmp XDG_RUNTIME_DIR=/run/user/$uid \
            DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/$uid/bus "$@"
    }
    uprop() { as_user systemctl --user show "$1" -p "$2" --value; }
    # `apus spec --rootless` as the user: its own ids mapped, no device rules, /sys bound.
    bash "$APUS_REPO/spec-fixtures/make-bundle.sh" $B > /dev/null
    chown -R "$uid:$gid" $B
    as_user sh -c "cd $B && '$A' spec --rootless"
    python3 - $B/config.json <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["terminal"] = False
c["process"]["args"] = ["sleep", "1000"]
c["linux"]["resources"] = {"memory": {"limit": 67108864}, "pids": {"limit": 30}}
json.dump(c, open(sys.argv[1], "w"))
PY
    # The container's stdio is a file: a pipe would stay open as long as it runs.
    check "rootless run -d --systemd-cgroup" as_user "$A" --systemd-cgroup run -d --bundle $B r1 > /tmp/r1.out 2>&1 < /dev/null
    cat /tmp/r1.out
    check "rootless: unit active on the user's manager" eq "$(uprop $U ActiveState)" active
    check "rootless: unit ControlGroup in the user's tree" eq "$(uprop $U ControlGroup)" "$P"
    check "rootless: unit MemoryMax" eq "$(uprop $U MemoryMax)" 67108864
    check "rootless: unit TasksMax" eq "$(uprop $U TasksMax)" 30
    check "rootless: memory.max" eq "$(cat $CG$P/memory.max)" 67108864
    check "rootless: init is in the unit's cgroup" eq "$(cgroup_of "$(as_user "$A" state r1 | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')")" "$P"
    check "rootless: update --memory 32m" as_user "$A" --systemd-cgroup update --memory 32m r1
    check "rootless: unit MemoryMax after update" eq "$(uprop $U MemoryMax)" 33554432
    check "rootless: pause" as_user "$A" pause r1
    check "rootless: cgroup.freeze is 1" eq "$(cat $CG$P/cgroup.freeze)" 1
    check "rootless: resume" as_user "$A" resume r1
    check "rootless: delete --force" as_user "$A" delete --force r1
    check "rootless: no unit, no cgroup left" wait_for 10 bash -c \
        "[ \"\$(setpriv --reuid $uid --regid $gid --clear-groups env XDG_RUNTIME_DIR=/run/user/$uid DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/$uid/bus systemctl --user show $U -p LoadState --value)\" = not-found ] && [ ! -e $CG$P ]"
    systemctl stop user@$uid.service
}
user=$(awk -F: '$3 >= 1000 && $3 < 65534 { print $1; exit }' /etc/passwd)
if [ -n "$user" ] && [ -f /usr/lib/systemd/user/dbus.socket ]; then
    rootless_checks "$user"
else
    skip "rootless --systemd-cgroup (user bus)" "no ordinary user in /etc/passwd or no dbus-user-session"
fi
check "no container unit left" bash -c "! systemctl list-units --all --no-legend | grep -E '(apus|ctr|ctrd|cmp)-[a-z0-9-]+\.scope|libpod-[0-9a-f]{64}\.scope'"
