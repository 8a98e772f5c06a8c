#!/bin/bash
# Runs inside the systemd VM (see run.sh) as apus-checks.service, systemd 252 being PID 1
# on pure cgroup v2: the systemd cgroup driver (`--systemd-cgroup`) with busybox
# containers, checked with what systemd says of the unit (`systemctl show`) and with the
# cgroup files; where runc 1.5.1 is there, the same bundle under `runc --systemd-cgroup`
# must give the same unit properties and files; a cgroupsPath naming a slice, a leftover
# unit of the container's name; podman with cgroup_manager = "systemd" and apus as its
# runtime, rootful and rootless (the user's manager); containerd's runc.v2 shim with
# SystemdCgroup; Docker with native.cgroupdriver=systemd; rootless exec, update and delete
# with and without the bus in the environment. Prints "APUS-SYSTEMD: PASS (n checks)" or
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
# The same id under another --root names the same unit: its cgroup holds sd1's init, so the
# create is refused before systemd is asked (runc: "container's cgroup is not empty"), and
# sd1 keeps its unit and its process.
busy=$("$A" --root /run/apus-other --systemd-cgroup run -d --bundle $B $ID 2>&1) && busy="exit 0: $busy"
check "same unit under another --root: refused, cgroup not empty" has "$busy" "container's cgroup is not empty"
check "the first container's unit is still active" eq "$(prop $U ActiveState)" active
check "the first container's init is still alive" kill -0 "$(pid_of $ID)"
check "the refused create left no state" test ! -e /run/apus-other/$ID

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

# A cgroupsPath whose name ends in .slice: systemd makes that slice (runc's getUnitName;
# the parent comes from Wants=, the cgroup from the name's dashes) and init joins its
# cgroup through cgroupfs (a slice takes no PIDs); delete stops the slice.
slice_checks() { # slice_checks RUNTIME_COMMAND ID NAME
    local run=$1 id=$2 name=$3 cg=/apusslice.slice/$3 who=apus
    [ "$run" = sd ] || who=runc
    bundle /tmp/sl-$id '{"memory":{"limit":67108864},"pids":{"limit":25}}' '["sleep","1000"]' \
        "c['linux']['cgroupsPath']='system.slice:x:$name'"
    check "$who: cgroupsPath name $name: run -d" $run run -d --bundle /tmp/sl-$id $id
    check "$who: $name is active" eq "$(prop $name ActiveState)" active
    check "$who: $name ControlGroup" eq "$(prop $name ControlGroup)" $cg
    check "$who: $name MemoryMax" eq "$(prop $name MemoryMax)" 67108864
    check "$who: $name TasksMax" eq "$(prop $name TasksMax)" 25
    check "$who: $name memory.max" eq "$(cat $CG$cg/memory.max 2>&1)" 67108864
    check "$who: init is in $name" eq "$(cgroup_of "$($run state $id | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')")" $cg
    $run delete --force $id
    # systemd loads any slice name it is asked about (a slice needs no unit file), so
    # `systemctl show` never says not-found of one: gone means inactive, no cgroup, and no
    # longer the transient unit the container made.
    check "$who: delete leaves no transient $name and no cgroup" wait_for 10 bash -c \
        "[ \"\$(systemctl show $name -p ActiveState,Transient --value | tr '\n' ' ')\" = 'inactive no ' ] && [ ! -e $CG$cg ]"
    check "$who: the same slice again after delete" $run run -d --bundle /tmp/sl-$id $id
    check "$who: it is active again" eq "$(prop $name ActiveState)" active
    $run delete --force $id
    systemctl stop apusslice.slice
}
slice_checks sd sl1 apusslice-a.slice
# Not compared: runc 1.5.1 puts PIDs=[init] in the slice's properties too, and systemd 252
# refuses the unit ("Cannot set property PIDs, or unknown property").
skip "runc with a cgroupsPath ending in .slice" "runc 1.5.1 passes PIDs for a slice, which systemd refuses"
runc_sd() { "$RUNC" --root /run/runc-systemd --systemd-cgroup "$@" < /dev/null; }

# "Unit already exists": a failed leftover of the same name (a scope whose RuntimeMaxSec ran
# out) is reset and the start retried once, as runc does; an active unit of that name is
# not the container's to take over: create fails and leaves it alone.
leftover_checks() { # leftover_checks RUNTIME_COMMAND PREFIX
    local run=$1 prefix=$2 u who=apus before
    [ "$run" = sd ] || who=runc
    u=$prefix-ex1.scope
    systemd-run --quiet --scope --unit=$u -p RuntimeMaxSec=1 sleep 1000 > /dev/null 2>&1 &
    check "$who: a failed leftover $u exists" wait_for 30 bash -c "[ \"\$(systemctl show $u -p ActiveState --value)\" = failed ]"
    bundle /tmp/ex-$prefix '{"pids":{"limit":20}}' '["sleep","1000"]' "c['linux']['cgroupsPath']='system.slice:$prefix:ex1'"
    check "$who: unit exists (failed): run -d resets it and starts" $run run -d --bundle /tmp/ex-$prefix $prefix-ex1
    check "$who: the unit is the container's now" eq "$(prop $u TasksMax)/$(prop $u ActiveState)" 20/active
    check "$who: init is in it" eq "$(cgroup_of "$($run state $prefix-ex1 | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')")" /system.slice/$u
    $run delete --force $prefix-ex1
    check "$who: delete leaves no $u" wait_for 10 gone $u /system.slice/$u
    u=$prefix-ex2.scope
    systemd-run --quiet --scope --unit=$u sleep 1000 > /dev/null 2>&1 &
    check "$who: an active $u exists" wait_for 30 bash -c "[ \"\$(systemctl show $u -p ActiveState --value)\" = active ]"
    before="$(systemctl show $u -p ActiveState,TasksMax,MemoryMax,Description)"
    bundle /tmp/ex2-$prefix '{"pids":{"limit":20}}' '["sleep","1000"]' "c['linux']['cgroupsPath']='system.slice:$prefix:ex2'"
    out=$($run run -d --bundle /tmp/ex2-$prefix $prefix-ex2 2>&1)
    code=$?
    echo "  $out" | head -3
    check "$who: unit exists (active): create fails" eq "$code" 1
    # runc finds the cgroup not empty before it asks systemd; apus asks, and names the unit.
    [ "$who" = apus ] && check "$who: the error names the unit" grep -qF -- "$u" <<< "$out"
    check "$who: the other unit is left as it was" eq "$(systemctl show $u -p ActiveState,TasksMax,MemoryMax,Description)" "$before"
    check "$who: its process is still in it" eq "$(cat $CG/system.slice/$u/cgroup.procs | wc -l)" 1
    systemctl stop $u
}
leftover_checks sd apus
check "apus: unit exists (active): no state" test ! -e $ROOT/apus-ex2
if [ -x "$RUNC" ]; then
    leftover_checks runc_sd runc
else
    skip "runc with a leftover unit of the container's name" "no runc 1.5.1 at $RUNC"
fi

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

# podman_conf DIR: a rootful podman whose storage (vfs), networks and config all live in
# DIR, with cgroup_manager = "systemd" (for podman_checks and pid1_checks).
podman_conf() {
    mkdir -p "$1/root" "$1/runroot" "$1/tmp" "$1/networks"
    printf '[engine]\ncgroup_manager = "systemd"\nevents_logger = "file"\n[network]\nnetwork_config_dir = "%s"\n' \
        "$1/networks" > "$1/containers.conf"
    printf '[storage]\ndriver = "vfs"\ngraphroot = "%s"\nrunroot = "%s"\n' "$1/root" "$1/runroot" > "$1/storage.conf"
    export CONTAINERS_CONF="$1/containers.conf" CONTAINERS_STORAGE_CONF="$1/storage.conf"
}

# podman (rootful) with cgroup_manager = "systemd" and apus as its runtime: podman passes
# --systemd-cgroup and machine.slice:libpod:ID, the unit is libpod-ID.scope. Storage in
# /tmp (vfs: the VM's kernel has no overlay module on this host's /lib/modules).
podman_checks() {
    local D=/tmp/podman img=localhost/apus-busybox:latest id
    podman_conf $D
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

# Docker (Debian's dockerd 20.10, a daemon of the checks' own: every path under /tmp, its own
# managed containerd, no bridge, no iptables) with native.cgroupdriver=systemd: the shim
# passes --systemd-cgroup and system.slice:docker:ID, the unit is docker-ID.scope. Each
# step under apus, then under runc 1.5.1 (runtime "runc15"), the two compared. The trust
# key goes under /tmp too (dockerd 20.10 writes /etc/docker/key.json otherwise, and / is
# read-only here); vfs storage (the VM loads no overlay module).
docker_checks() {
    local D=/tmp/dockerd img=apus-busybox rt id out daemon runtimes
    local -A seen
    mkdir -p $D/cli
    runtimes="\"apus\": {\"path\": \"$A\"}"
    [ -x "$RUNC" ] && runtimes="$runtimes, \"runc15\": {\"path\": \"$RUNC\"}"
    cat > $D/daemon.json << JSON
{
  "data-root": "$D/data",
  "exec-root": "$D/exec",
  "pidfile": "$D/docker.pid",
  "hosts": ["unix://$D/docker.sock"],
  "deprecated-key-path": "$D/key.json",
  "exec-opts": ["native.cgroupdriver=systemd"],
  "runtimes": { $runtimes },
  "bridge": "none",
  "iptables": false,
  "ip-masq": false,
  "ip-forward": false,
  "storage-driver": "vfs"
}
JSON
    dockerd --config-file $D/daemon.json > $D/dockerd.log 2>&1 &
    daemon=$!
    dk() { DOCKER_CONFIG=$D/cli /usr/bin/docker -H unix://$D/docker.sock "$@"; }
    dkq() { dk "$@" > /dev/null; } # without the id docker echoes
    answers() { dk version > /dev/null 2>&1; }
    if ! check "dockerd answers" wait_for 120 answers; then
        tail -20 $D/dockerd.log
        kill $daemon
        wait $daemon
        return
    fi
    check "docker info: cgroup driver systemd" eq "$(dk info --format '{{.CgroupDriver}}')" systemd
    bash "$APUS_REPO/spec-fixtures/make-bundle.sh" $D/bundle > /dev/null
    tar -C $D/bundle/rootfs -cf $D/busybox.tar .
    if ! check "docker import" dkq import --change 'CMD ["/bin/sh"]' $D/busybox.tar $img; then
        kill $daemon
        wait $daemon
        return
    fi
    for rt in apus runc15; do
        [ "$rt" = runc15 ] && [ ! -x "$RUNC" ] && { skip "docker --runtime runc15" "no runc 1.5.1 at $RUNC"; continue; }
        out=$(dk run --rm --runtime $rt --network none $img sh -c 'echo hi; cat /proc/self/cgroup; exit 7' 2>&1)
        seen[$rt-run]="$out/$?"
        check "docker --runtime $rt: run --rm" eq "${seen[$rt-run]}" "hi
0:://7"
        id=$(dk run -d --runtime $rt --network none -m 64m $img sleep 1000)
        echo "  $rt: docker container $id"
        check "docker --runtime $rt: run -d -m 64m: docker-ID.scope active" eq "$(prop docker-$id.scope ActiveState)" active
        check "docker --runtime $rt: unit MemoryMax" eq "$(prop docker-$id.scope MemoryMax)" 67108864
        check "docker --runtime $rt: unit ControlGroup" eq "$(prop docker-$id.scope ControlGroup)" /system.slice/docker-$id.scope
        seen[$rt-props]=$(systemctl show docker-$id.scope -p Delegate,MemoryMax,Slice,TasksAccounting,DefaultDependencies)
        seen[$rt-exec]=$(dk exec $id sh -c 'cat /sys/fs/cgroup/memory.max /proc/self/cgroup' 2>&1)
        check "docker --runtime $rt: exec sees memory.max and its cgroup" eq "${seen[$rt-exec]}" "67108864
0::/"
        check "docker --runtime $rt: pause" dkq pause $id
        check "docker --runtime $rt: paused, cgroup.freeze is 1" eq \
            "$(dk inspect -f '{{.State.Status}}' $id) $(cat $CG/system.slice/docker-$id.scope/cgroup.freeze 2>&1)" "paused 1"
        check "docker --runtime $rt: unpause" dkq unpause $id
        check "docker --runtime $rt: running again" eq "$(dk inspect -f '{{.State.Status}}' $id)" running
        check "docker --runtime $rt: stop" dkq stop --time 1 $id
        check "docker --runtime $rt: exited, no unit left" wait_for 10 gone docker-$id.scope /system.slice/docker-$id.scope
        check "docker --runtime $rt: rm" dkq rm $id
    done
    if [ -x "$RUNC" ]; then
        check "docker: run --rm as under runc" eq "${seen[apus-run]}" "${seen[runc15-run]}"
        check "docker: unit properties as under runc" eq "${seen[apus-props]}" "${seen[runc15-props]}"
        check "docker: exec as under runc" eq "${seen[apus-exec]}" "${seen[runc15-exec]}"
    fi
    dk rmi $img > /dev/null 2>&1
    kill $daemon
    wait $daemon
    check "docker: no container unit left" bash -c "! systemctl list-units --all --no-legend | grep -E 'docker-[0-9a-f]{64}\.scope'"
}
if command -v dockerd > /dev/null && [ -x /usr/bin/docker ]; then
    docker_checks
else
    skip "Docker with native.cgroupdriver=systemd" "docker.io is not installed (apt-get install docker.io)"
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
    # The user without the bus in its environment: only what the state recorded.
    bare() { setpriv --reuid "$uid" --regid "$gid" --clear-groups env -i PATH="$PATH" HOME=/tmp "$@"; }
    # Every process of the container (RUNTIME ps) is in CGROUP_PATH.
    user_all_in() { # user_all_in "RUNTIME [FLAGS]" ID CGROUP_PATH MIN_COUNT
        local pids n=0 p
        # shellcheck disable=SC2086 # the runtime and its flags are words
        pids=$(as_user $1 ps --format json "$2" | tr -d '[]' | tr ',' ' ')
        for p in $pids; do
            n=$((n + 1))
            [ "$(cgroup_of "$p")" = "$3" ] || { echo "  pid $p is in $(cgroup_of "$p")"; return 1; }
        done
        [ $n -ge "$4" ] || { echo "  $n processes, expected at least $4"; return 1; }
    }
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
    # exec from outside the user manager's tree (this service runs in system.slice): the
    # kernel does not let the user move the process there, systemd does
    # (AttachProcessesToUnit); the same under runc.
    check "rootless: exec -d" as_user "$A" exec -d r1 sleep 999
    check "rootless: exec'd process is in the unit's cgroup" user_all_in "$A" r1 "$P" 2
    # The bus recorded at create: no DBUS_SESSION_BUS_ADDRESS, no XDG_RUNTIME_DIR now.
    local R=/run/user/$uid/apus
    check "rootless, no bus in the environment: update --memory 48m" bare "$A" --root $R update --memory 48m r1
    check "rootless, no bus in the environment: unit MemoryMax" eq "$(uprop $U MemoryMax)" 50331648
    check "rootless, no bus in the environment: exec -d" bare "$A" --root $R exec -d r1 sleep 998
    check "rootless, no bus in the environment: exec'd process in the unit" user_all_in "$A --root $R" r1 "$P" 3
    check "rootless, no bus in the environment: delete --force" bare "$A" --root $R delete --force r1
    check "rootless: no unit, no cgroup left" wait_for 10 bash -c \
        "[ \"\$(setpriv --reuid $uid --regid $gid --clear-groups env XDG_RUNTIME_DIR=/run/user/$uid DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/$uid/bus systemctl --user show $U -p LoadState --value)\" = not-found ] && [ ! -e $CG$P ]"
    if [ -x "$RUNC" ]; then
        check "runc rootless: run -d --systemd-cgroup" as_user "$RUNC" --systemd-cgroup run -d --bundle $B rr1 > /tmp/rr1.out 2>&1 < /dev/null
        cat /tmp/rr1.out
        check "runc rootless: exec -d" as_user "$RUNC" exec -d rr1 sleep 999
        check "runc rootless: exec'd process is in the unit's cgroup" user_all_in "$RUNC" rr1 "$mgr/user.slice/runc-rr1.scope" 2
        as_user "$RUNC" delete --force rr1
    else
        skip "runc rootless exec (systemd)" "no runc 1.5.1 at $RUNC"
    fi
    if command -v podman > /dev/null; then
        rootless_podman_checks
    else
        skip "rootless podman with cgroup_manager=systemd" "podman is not installed (apt-get install podman)"
    fi
    systemctl stop user@$uid.service
}

# Rootless podman (podman 4.3, the user's systemd instance, cgroup_manager = "systemd"): the
# runtime runs as uid 0 of podman's user namespace and reaches the user's manager on the
# user bus; the container's unit is libpod-ID.scope in the manager's user.slice. Each step
# under apus, then under runc 1.5.1, and the two compared. Runs inside rootless_checks
# (uid, gid, user, mgr, as_user, uprop are its).
rootless_podman_checks() {
    local D=/tmp/rlpod img=localhost/apus-busybox:latest rt id out
    local -A seen
    # Subordinate ids for the user, in the VM only (the host's /etc is read-only here).
    printf '%s:200000:65536\n' "$user" > /tmp/subuid
    mount --bind /tmp/subuid /etc/subuid && mount --bind /tmp/subuid /etc/subgid
    mkdir -p $D/.config/containers
    printf '[engine]\ncgroup_manager = "systemd"\nevents_logger = "file"\n' > $D/.config/containers/containers.conf
    printf '[storage]\ndriver = "vfs"\n' > $D/.config/containers/storage.conf
    bash "$APUS_REPO/spec-fixtures/make-bundle.sh" $D/bundle > /dev/null
    tar -C $D/bundle/rootfs -cf $D/busybox.tar .
    cp "$A" $D/apus
    [ -x "$RUNC" ] && cp "$RUNC" $D/runc
    chown -R "$uid:$gid" $D
    # Not the rootful podman checks' configuration (exported above), the user's own.
    pmu() { as_user env -u CONTAINERS_CONF -u CONTAINERS_STORAGE_CONF HOME=$D podman "$@"; }
    check "rootless podman import" pmu import -q --change 'CMD ["/bin/sh"]' $D/busybox.tar $img
    for rt in apus runc; do
        [ -x $D/$rt ] || { skip "rootless podman --runtime $rt" "no $rt binary"; continue; }
        out=$(pmu --runtime $D/$rt run --rm --network none $img sh -c 'echo hi; cat /proc/self/cgroup; exit 7' 2>&1)
        seen[$rt-run]="$out/$?"
        check "rootless podman --runtime $rt: run --rm" eq "${seen[$rt-run]}" "hi
0:://7"
        id=$(pmu --runtime $D/$rt run -d --network none --memory 64m $img sleep 1000)
        echo "  $rt: podman container $id"
        check "rootless podman --runtime $rt: run -d --memory 64m: unit active" eq "$(uprop libpod-$id.scope ActiveState)" active
        check "rootless podman --runtime $rt: unit MemoryMax" eq "$(uprop libpod-$id.scope MemoryMax)" 67108864
        check "rootless podman --runtime $rt: unit in the user manager's user.slice" eq \
            "$(uprop libpod-$id.scope ControlGroup)" "$mgr/user.slice/libpod-$id.scope"
        check "rootless podman --runtime $rt: memory.max at the unit" eq \
            "$(cat $CG$mgr/user.slice/libpod-$id.scope/memory.max 2>&1)" 67108864
        seen[$rt-exec]=$(pmu exec $id sh -c 'cat /sys/fs/cgroup/memory.max /proc/self/cgroup; id -u' 2>&1)
        check "rootless podman --runtime $rt: exec sees memory.max, its cgroup, uid 0" eq "${seen[$rt-exec]}" "67108864
0::/
0"
        check "rootless podman --runtime $rt: pause" pmu pause $id
        check "rootless podman --runtime $rt: paused" eq "$(pmu inspect -f '{{.State.Status}}' $id)" paused
        check "rootless podman --runtime $rt: cgroup.freeze is 1" eq \
            "$(cat $CG$mgr/user.slice/libpod-$id.scope/cgroup.freeze 2>&1)" 1
        check "rootless podman --runtime $rt: unpause" pmu unpause $id
        check "rootless podman --runtime $rt: running again" eq "$(pmu inspect -f '{{.State.Status}}' $id)" running
        check "rootless podman --runtime $rt: rm --force" pmu rm --force --time 0 $id
        check "rootless podman --runtime $rt: no unit left" wait_for 10 bash -c \
            "[ \"\$(setpriv --reuid $uid --regid $gid --clear-groups env XDG_RUNTIME_DIR=/run/user/$uid DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/$uid/bus systemctl --user show libpod-$id.scope -p LoadState --value)\" = not-found ] && [ ! -e $CG$mgr/user.slice/libpod-$id.scope ]"
    done
    if [ -x $D/runc ]; then
        check "rootless podman: run --rm as under runc" eq "${seen[apus-run]}" "${seen[runc-run]}"
        check "rootless podman: exec as under runc" eq "${seen[apus-exec]}" "${seen[runc-exec]}"
    fi
    pmu rmi --all > /dev/null 2>&1
    umount /etc/subuid /etc/subgid
}
user=$(awk -F: '$3 >= 1000 && $3 < 65534 { print $1; exit }' /etc/passwd)
if [ -n "$user" ] && [ -f /usr/lib/systemd/user/dbus.socket ]; then
    rootless_checks "$user"
else
    skip "rootless --systemd-cgroup (user bus)" "no ordinary user in /etc/passwd or no dbus-user-session"
fi
check "no container unit left" bash -c "! systemctl list-units --all --no-legend | grep -E '(apus|ctr|ctrd|cmp)-[a-z0-9-]+\.scope|libpod-[0-9a-f]{64}\.scope'"
