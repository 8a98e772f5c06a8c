#!/usr/bin/env bash
# bench.sh - apus against runc, crun and the physical floor, side by side in one run.
#
# usage: bash spec-fixtures/bench/bench.sh [--quick] [--runs N] [--only METRICS] [--runtimes NAMES]
#   --quick           smoke run: 5 runs per timing, 1 repetition of the rest
#   --runs N          timed runs per runtime and timing metric (default 50, env BENCH_RUNS)
#   --only M,M        metrics: run,faults,sporadic,rootless,systemd,cycle,exec,concurrent,memory,createmem,createmem50,syscalls,size,version
#                     (default all; systemd, a `run` with --systemd-cgroup, only where systemd is
#                     PID 1: `make bench-systemd` runs it in the systemd VM)
#   --runtimes R,R    apus,apus-base,crun,runc,crun-debian,runc-debian,floor,floor-seccomp,floor-full
#                     (default all that exist)
# env:
#   APUS_BIN          apus binary (default <repo>/.build/release/apus); missing => "not built"
#   APUS_BASE         a second apus binary (an older build), measured in the same run as the
#                     row apus-base: before/after figures of a change without run-to-run drift
#   RUNC, CRUN        runc and crun binaries (default: runc 1.5.1 and crun 1.27.1 from
#                     <repo>/../shared/tools, else from PATH); Debian's own runc and crun
#                     (/usr/sbin/runc, /usr/bin/crun), when installed, are extra rows
#                     runc-debian and crun-debian
#   FLOOR_C           floor.c (default <repo>/../shared/bench/floor.c)
#   BENCH_OUT         where the table and raw samples go (default <repo>/bench-out)
#   BENCH_CONCURRENCY containers started at once in the "concurrent" metric (default 50)
#   BENCH_KEEP=1      keep the temp dir (bundle, samples; state roots with BENCH_STATE_DISK=1)
#   BENCH_GAP_MS      pause before every start in the "sporadic" metric (default 100)
#   BENCH_ROOTLESS_UID uid (and gid) the "rootless" metric runs as (default 64999; it
#                     needs no passwd entry, nothing is created outside the temp dir)
#   BENCH_STATE_DISK=1 keep the runtimes' state roots in the temp dir's filesystem instead of
#                     a private tmpfs (see "State roots" below)
#
# Needs root (runtimes, cgroups, mounts), gcc (floor and the timing harness), unshare;
# strace for the syscall row; libseccomp-dev for floor-seccomp.
#
# How: the script re-executes itself under `runner reap` (a child subreaper, so detached
# container processes are reaped by us and never by the host's pid 1) inside a private
# mount namespace.  On a hybrid cgroup host whose cgroup2 holds only hugetlb (this
# machine), crun 1.8 refuses to run ("cgroups in hybrid mode not supported, drop all
# controllers from cgroupv2"); binding hugetlb to a v1 hierarchy empties cgroup2's
# cgroup.controllers.  The hierarchy is mounted at /sys/fs/cgroup/hugetlb on a private
# tmpfs laid over /sys/fs/cgroup (so nothing is created in the host's /sys/fs/cgroup),
# and unmounted explicitly once the kernel has freed every hugetlb cgroup the runtimes
# made: a v1 root that still has (dying) children when its last mount goes keeps the
# controller, and cgroup2 would stay without hugetlb.  Every timing is taken by
# runner.c with clock_gettime, fresh container ids per run, runtimes interleaved in
# chunks of 10 runs so drift hits all of them alike; medians and p90 are interpolated.
#
# State roots: every runtime's --root is on a private tmpfs, as /run (the runtimes' default
# roots /run/apus, /run/crun, /run/runc) is on a host that boots with systemd. Left on the
# temp dir's filesystem (this VM's ext4 is mounted with `discard`), each container's state
# directory removal waited for a synchronous discard of the directory's block
# (ext4_free_blocks -> blkdev_issue_discard): 0.14-2 ms in every runtime, measured there.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
repo="$(git -C "$here" rev-parse --show-toplevel 2>/dev/null || (cd "$here/../.." && pwd -P))"

usage() {
    sed -n '2,/^# Needs root/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

runs="${BENCH_RUNS:-50}"
quick=0
only="run,faults,sporadic,rootless,systemd,cycle,exec,concurrent,memory,createmem,createmem50,syscalls,size,version"
want_rt="apus,apus-base,crun,runc,crun-debian,runc-debian,floor,floor-seccomp,floor-full"
args=("$@")
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1; shift ;;
        --runs) runs="${2:?--runs N}"; shift 2 ;;
        --runs=*) runs="${1#*=}"; shift ;;
        --only) only="${2:?--only METRICS}"; shift 2 ;;
        --only=*) only="${1#*=}"; shift ;;
        --runtimes) want_rt="${2:?--runtimes NAMES}"; shift 2 ;;
        --runtimes=*) want_rt="${1#*=}"; shift ;;
        -h | --help) usage ;;
        *) echo "bench: unknown argument $1" >&2; usage ;;
    esac
done
if [ "$quick" = 1 ] && [ -z "${BENCH_RUNS:-}" ]; then runs=5; fi
case "$runs" in '' | *[!0-9]*) echo "bench: --runs wants a number" >&2; exit 2 ;; esac
[ "$runs" -ge 1 ] || { echo "bench: --runs must be >= 1" >&2; exit 2; }
reps=3 # repetitions of the non-timing rows (memory, syscalls)
conc_reps=$((runs / 10 > 3 ? runs / 10 : 3))
if [ "$quick" = 1 ]; then reps=1; conc_reps=1; fi
concurrency="${BENCH_CONCURRENCY:-50}"

log() { echo "bench: $*" >&2; }
has() { case ",$1," in *",$2,"*) return 0 ;; esac; return 1; }

hugetlb_in_v2() { grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null; }
hybrid_host() {
    [ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" = tmpfs ] &&
        [ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]
}
# Number of live (including dying, not yet freed) cgroups in the hugetlb hierarchy.
hugetlb_ncgroups() { awk '$1 == "hugetlb" { print $3 }' /proc/cgroups; }

# ---------------------------------------------------------------------------------
# Outer half: temp dir, harness, private mount namespace, and the check afterwards.
# ---------------------------------------------------------------------------------
if [ -z "${APUS_BENCH_INNER:-}" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        log "needs root (containers, cgroups and mounts); run it as root"
        exit 2
    fi
    for tool in gcc unshare; do
        command -v "$tool" >/dev/null || { log "$tool not found (apt-get install gcc util-linux)"; exit 2; }
    done
    # One bench at a time: two would fight over the hugetlb binding.
    exec 9<"${BASH_SOURCE[0]}"
    if ! flock -w 600 9; then log "another bench is running (flock on ${BASH_SOURCE[0]})"; exit 2; fi

    tmp="$(mktemp -d "${TMPDIR:-/tmp}/apus-bench.XXXXXX")"
    hugetlb_before=0
    if hybrid_host && hugetlb_in_v2; then hugetlb_before=1; fi
    # A controller enabled for the cgroup2 root's children cannot be bound to a v1
    # hierarchy: switched off for the bench and back on afterwards (it fails, and crun's
    # rows say why, when a child cgroup still enables it for its own children).
    subtree=/sys/fs/cgroup/unified/cgroup.subtree_control
    hugetlb_subtree=0
    if hybrid_host && grep -qw hugetlb "$subtree" 2>/dev/null; then
        if echo -hugetlb >"$subtree" 2>/dev/null; then
            hugetlb_subtree=1
        else
            log "cannot take hugetlb out of $subtree (a child cgroup enables it): crun cannot run here"
        fi
    fi
    outer_done() {
        local rc=$?
        trap - EXIT INT TERM
        if [ "$hugetlb_before" = 1 ]; then
            # The namespace is gone; the kernel rebinds hugetlb to cgroup2 once the v1
            # root is destroyed, which can lag behind the umount.
            for _ in $(seq 100); do hugetlb_in_v2 && break; sleep 0.1; done
            if ! hugetlb_in_v2; then
                log "hugetlb is not back in /sys/fs/cgroup/unified/cgroup.controllers; trying to release it"
                # Remounting reuses the stale v1 root; unmounting it once it has no
                # children destroys it.  Only cgroups this bench created are removed.
                unshare -m --propagation private bash -c '
                    set -u
                    m="$1/hugetlb-release"; mkdir -p "$m"
                    mount -t cgroup -o hugetlb apus-bench-hugetlb "$m" || exit 1
                    find "$m" -mindepth 1 -depth -type d -name "$2*" -exec rmdir {} + 2>/dev/null
                    for _ in $(seq 300); do
                        [ "$(awk "\$1 == \"hugetlb\" { print \$3 }" /proc/cgroups)" = 1 ] && break
                        sleep 0.1
                    done
                    umount "$m"' _ "$tmp" "apusbench-" || true
                for _ in $(seq 100); do hugetlb_in_v2 && break; sleep 0.1; done
            fi
            if hugetlb_in_v2; then
                echo "cgroup2 check: /sys/fs/cgroup/unified/cgroup.controllers still lists hugetlb"
            else
                echo "WARNING: /sys/fs/cgroup/unified/cgroup.controllers lost hugetlb (now: '$(cat /sys/fs/cgroup/unified/cgroup.controllers)');" \
                    "a v1 hugetlb hierarchy is still bound (see /proc/cgroups)" >&2
            fi
        fi
        if [ "$hugetlb_subtree" = 1 ] && ! echo +hugetlb >"$subtree"; then
            echo "WARNING: could not put hugetlb back in $subtree" >&2
        fi
        if [ "${BENCH_KEEP:-0}" = 1 ]; then
            log "kept $tmp"
        else
            rm -rf "$tmp"
        fi
        exit "$rc"
    }
    trap outer_done EXIT
    trap 'exit 130' INT TERM

    gcc -O2 -Wall -o "$tmp/runner" "$here/runner.c"
    set +e
    # In the background so a SIGTERM to this shell reaches the inner half at once (it
    # cleans up and exits); Ctrl-C reaches it through the process group.
    "$tmp/runner" reap -k 10 -- unshare -m --propagation private \
        env APUS_BENCH_INNER="$tmp" bash "${BASH_SOURCE[0]}" "${args[@]}" &
    rpid=$!
    trap 'kill -TERM "$rpid" 2>/dev/null' TERM HUP
    trap '' INT
    while :; do
        wait "$rpid"
        rc=$?
        kill -0 "$rpid" 2>/dev/null || break
    done
    set -e
    exit "$rc"
fi

# ---------------------------------------------------------------------------------
# Inner half: runs in the private mount namespace, under the subreaper.
# ---------------------------------------------------------------------------------
T="$APUS_BENCH_INNER"
exec 9>&- # the outer half holds the lock; keep it out of runtimes and containers
runner="$T/runner"
prefix="apusbench-$$"
mkdir -p "$T/samples" "$T/state" "$T/log"
state_note="state roots: the temp dir's filesystem ($(stat -f -c %T "$T/state"))"
if [ "${BENCH_STATE_DISK:-}" != 1 ]; then
    # Gone with this mount namespace; nothing of it outlives the run.
    mount -t tmpfs -o mode=711,nosuid,nodev apus-bench-state "$T/state"
    state_note="state roots: a private tmpfs, as /run on a systemd host (BENCH_STATE_DISK=1: the temp dir's filesystem)"
fi
out="${BENCH_OUT:-$repo/bench-out}"
mkdir -p "$out"

# The newest peers by default: the README's claims are made against them.
tools="$repo/../shared/tools"
if [ -x "$tools/runc" ]; then RUNC="${RUNC:-$(readlink -f "$tools/runc")}"; fi
if [ -x "$tools/crun" ]; then CRUN="${CRUN:-$(readlink -f "$tools/crun")}"; fi
RUNC="${RUNC:-$(command -v runc || true)}"
CRUN="${CRUN:-$(command -v crun || true)}"
APUS_BIN="${APUS_BIN:-$repo/.build/release/apus}"
FLOOR_C="${FLOOR_C:-$repo/../shared/bench/floor.c}"
if [ -f "$FLOOR_C" ]; then FLOOR_C="$(readlink -f "$FLOOR_C")"; fi

declare -A STATUS=()  # runtime -> "" when usable, else why not
declare -A BIN=()     # runtime -> binary
declare -A VAL=()     # metric.runtime -> "median p90" (or "value")
declare -A NOTE=()    # metric.runtime -> why there is no value
declare -A MEMDETAIL=()
runtimes=()           # usable or not, in table order
hugetlb_mounted=0
floor_cgroups_before=""

# ---- cleanup: containers, cgroups, the hugetlb hierarchy --------------------------
rt_cmd() { # rt_cmd RT -> RTC array: the runtime with its private --root
    RTC=("${BIN[$1]}" --root "$T/state/$1")
}
cleanup_containers() {
    local rt id
    for rt in apus apus-base crun runc crun-debian runc-debian; do
        [ -n "${BIN[$rt]:-}" ] && [ -d "$T/state/$rt" ] || continue
        rt_cmd "$rt"
        for id in $("${RTC[@]}" list -q 2>/dev/null); do
            case "$id" in "$prefix"*) "${RTC[@]}" delete --force "$id" >/dev/null 2>&1 || true ;; esac
        done
        [ -d "$T/state/$rt-rootless" ] || continue
        for id in $("${BIN[$rt]}" --root "$T/state/$rt-rootless" list -q 2>/dev/null); do
            case "$id" in "$prefix"*) "${BIN[$rt]}" --root "$T/state/$rt-rootless" delete --force "$id" >/dev/null 2>&1 || true ;; esac
        done
    done
}
cleanup_cgroups() {
    # Cgroups named after our container ids, wherever a runtime put them.
    find /sys/fs/cgroup -depth -mindepth 2 -type d -name "$prefix-*" -exec rmdir {} + 2>/dev/null || true
    # floor.c makes <ctrl>/floor-<pid> and removes it unless killed; remove new ones
    # whose process is gone.
    local d pid
    for d in /sys/fs/cgroup/*/floor-*; do
        [ -d "$d" ] || continue
        case " $floor_cgroups_before " in *" $d "*) continue ;; esac
        pid="${d##*/floor-}"
        [ -d "/proc/$pid" ] || rmdir "$d" 2>/dev/null || true
    done
}
release_hugetlb() {
    [ "$hugetlb_mounted" = 1 ] || return 0
    # Wait until the kernel has freed every hugetlb cgroup (dying ones included) and a
    # couple of seconds have passed since the last container: a v1 root that still has
    # children when its last mount goes away is kept, hugetlb stays bound to it and
    # cgroup2 loses the controller.
    local n t0
    t0="$(date +%s.%N)"
    sleep "${BENCH_HUGETLB_SETTLE:-2}"
    for _ in $(seq 300); do
        n="$(hugetlb_ncgroups)"
        [ "$n" = 1 ] && break
        sleep 0.1
    done
    [ "$n" = 1 ] || log "hugetlb hierarchy still has $((n - 1)) cgroup(s) after 30 s; unmounting anyway"
    umount /sys/fs/cgroup/hugetlb && hugetlb_mounted=0
    for _ in $(seq 100); do hugetlb_in_v2 && break; sleep 0.1; done
    log "released the v1 hugetlb hierarchy $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s" \
        "after the last container; cgroup2 controllers now: '$(cat /sys/fs/cgroup/unified/cgroup.controllers)'"
}
inner_done() {
    local rc=$?
    trap - EXIT
    trap '' INT TERM HUP # a second signal must not cut the cleanup short
    cleanup_containers
    cleanup_cgroups
    release_hugetlb
    exit "$rc"
}
trap inner_done EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# ---- cgroups: what crun needs on a hybrid host -----------------------------------
floor_cgroups_before="$(echo /sys/fs/cgroup/*/floor-*)"
cgroup_note=""
if hybrid_host && { has "$want_rt" crun || has "$want_rt" crun-debian; }; then
    ctrls="$(cat /sys/fs/cgroup/unified/cgroup.controllers)"
    if [ "$ctrls" = hugetlb ]; then
        # Lay a private tmpfs over /sys/fs/cgroup carrying the same hierarchies (moved,
        # not copied, so each appears once in mountinfo) plus hugetlb.  Nothing is
        # created in the host's /sys/fs/cgroup.
        staging="$T/cgroup"
        mkdir -p "$staging"
        mount -t tmpfs -o mode=755,nosuid,nodev,noexec apus-bench-cgroup "$staging"
        for e in /sys/fs/cgroup/* /sys/fs/cgroup/.[!.]*; do
            [ -e "$e" ] || [ -L "$e" ] || continue
            name="${e##*/}"
            if [ -L "$e" ]; then
                cp -P "$e" "$staging/$name"
            elif [ -d "$e" ]; then
                mkdir "$staging/$name"
                if mountpoint -q "$e"; then mount --move "$e" "$staging/$name"; fi
            fi
        done
        mount --move "$staging" /sys/fs/cgroup
        mkdir /sys/fs/cgroup/hugetlb
        # Binding a controller to v1 needs it unused in v2: the kernel refuses (EBUSY)
        # while any cgroup2 cgroup has it enabled (rebind_subsystems).
        if mount -t cgroup -o hugetlb apus-bench-hugetlb /sys/fs/cgroup/hugetlb; then
            hugetlb_mounted=1
            cgroup_note="hybrid cgroups: hugetlb bound to v1 at /sys/fs/cgroup/hugetlb for this run (crun needs cgroup2 empty)"
        else
            rmdir /sys/fs/cgroup/hugetlb
            cgroup_note="hybrid cgroups: could not bind hugetlb to v1 (in use in cgroup2?); crun will fail"
        fi
    elif [ -n "$ctrls" ]; then
        cgroup_note="hybrid cgroups: cgroup2 holds '$ctrls'; crun 1.8 will refuse to run"
    fi
fi

# ---- bundle and configs ------------------------------------------------------------
bundle="$T/bundle"
bash "$repo/spec-fixtures/make-bundle.sh" "$bundle" >&2
spec_dir="$T/spec"
mkdir -p "$spec_dir"
if [ -n "$RUNC" ]; then
    (cd "$spec_dir" && "$RUNC" spec)
elif [ -n "$CRUN" ]; then
    (cd "$spec_dir" && "$CRUN" spec)
elif [ -x "$APUS_BIN" ]; then
    (cd "$spec_dir" && "$APUS_BIN" spec)
else
    log "no runtime to write the default config.json (runc spec)"
    exit 2
fi
edit_config() { # edit_config OUT ROOTPATH ARG...
    local o="$1" r="$2"
    shift 2
    if command -v jq >/dev/null; then
        # Args travel \x01-separated: jq would take a "-c" among --args as its own option.
        # ociVersion 1.0.2: the 1.3.0 of runc 1.5's spec is refused by Debian's crun 1.8.1,
        # and nothing in the default config needs more than 1.0.
        jq --arg r "$r" --arg a "$(printf '%s\001' "$@")" \
            '.ociVersion = "1.0.2" | .process.terminal = false | .process.args = ($a | rtrimstr("\u0001") | split("\u0001")) | .root.path = $r' \
            <"$spec_dir/config.json" >"$o"
    else
        local a
        a="$(printf '"%s", ' "$@")"
        a="[${a%, }]"
        tr '\n' '\r' <"$spec_dir/config.json" |
            sed -e 's/"terminal": true/"terminal": false/' -e 's/"ociVersion": "[^"]*"/"ociVersion": "1.0.2"/' \
                -e 's/"args": \[[^]]*\]/"args": '"$(printf '%s' "$a" | sed 's/[\/&]/\\&/g')"'/' \
                -e 's/"path": "rootfs"/"path": "'"$(printf '%s' "$r" | sed 's/[\/&]/\\&/g')"'"/' |
            tr '\r' '\n' >"$o"
    fi
}
edit_config "$bundle/config.json" rootfs /bin/true
mkdir -p "$T/bundle-sleep" "$T/bundle-echo"
edit_config "$T/bundle-sleep/config.json" "$bundle/rootfs" /bin/sleep 3600
marker="apus-bench-ok"
edit_config "$T/bundle-echo/config.json" "$bundle/rootfs" /bin/sh -c "echo $marker"

# ---- runtimes ------------------------------------------------------------------------
add_rt() { # add_rt NAME BINARY|"" WHY-MISSING
    has "$want_rt" "$1" || return 0
    runtimes+=("$1")
    if [ -n "$2" ] && [ -x "$2" ]; then
        BIN[$1]="$2"
        STATUS[$1]=""
    else
        BIN[$1]=""
        STATUS[$1]="$3"
    fi
}
# Both apus builds run from a fresh copy in the temp dir. The linker writes its output in
# pieces, and such a file's page cache made `exec` measure 0.4-0.5 ms slower than a
# byte-identical copy of it (session 8: 3.4 against 2.9 ms), which the base build, a copy,
# did not pay. `make install` copies too, so a copy is also what users run.
fresh_copy() { # fresh_copy NAME BINARY: prints the copy's path (or BINARY when it is missing)
    if [ -x "$2" ]; then cp "$2" "$T/bin-$1" && echo "$T/bin-$1"; else echo "$2"; fi
}
add_rt apus "$(fresh_copy apus "$APUS_BIN")" "not built"
[ -n "${APUS_BASE:-}" ] && add_rt apus-base "$(fresh_copy apus-base "$(readlink -f "$APUS_BASE")")" \
    "APUS_BASE is not an executable"
add_rt crun "$CRUN" "not installed"
add_rt runc "$RUNC" "not installed"
# Debian's 2023 runtimes (runc 1.1.5, crun 1.8.1) as extra rows where installed.
for debian in /usr/bin/crun /usr/sbin/runc; do
    [ -x "$debian" ] && [ "$(readlink -f "$debian")" != "$CRUN" ] && [ "$(readlink -f "$debian")" != "$RUNC" ] &&
        add_rt "${debian##*/}-debian" "$debian" "not installed"
done

build_floor() { # build_floor NAME CFLAGS...
    local name="$1"
    shift
    has "$want_rt" "$name" || return 0
    runtimes+=("$name")
    BIN[$name]=""
    if [ ! -f "$FLOOR_C" ]; then
        STATUS[$name]="floor.c not found ($FLOOR_C)"
        return 0
    fi
    local libs=()
    case " $* " in *" -DSECCOMP "*) libs=(-lseccomp) ;; esac
    if gcc -O2 -static -DROOTFS="\"$bundle/rootfs\"" "$@" -o "$T/$name" "$FLOOR_C" "${libs[@]}" 2>"$T/log/$name.cc"; then
        BIN[$name]="$T/$name"
        STATUS[$name]=""
    elif [ ${#libs[@]} -gt 0 ]; then
        STATUS[$name]="no static libseccomp (apt-get install libseccomp-dev)"
    else
        STATUS[$name]="gcc failed: $(head -c 200 "$T/log/$name.cc" | tr '\n' ' ')"
    fi
}
build_floor floor
build_floor floor-seccomp -DSECCOMP
build_floor floor-full -DFULL

is_floor() { case "$1" in floor*) return 0 ;; esac; return 1; }

# Smoke test: one `run` each of `sh -c "echo $marker"`, whose output must come back (a
# stub that exits 0 without running anything is caught here); a runtime that fails is
# reported in its rows, not fatal.
for rt in "${runtimes[@]}"; do
    [ -z "${STATUS[$rt]}" ] || continue
    if is_floor "$rt"; then
        smoke=("${BIN[$rt]}" /bin/sh -c "echo $marker")
    else
        rt_cmd "$rt"
        smoke=("${RTC[@]}" run --bundle "$T/bundle-echo" "$prefix-smoke-$rt")
    fi
    if ! timeout 60 "${smoke[@]}" </dev/null >"$T/log/$rt.smoke.out" 2>"$T/log/$rt.smoke" ||
        [ "$(cat "$T/log/$rt.smoke.out")" != "$marker" ]; then
        if [ -s "$T/log/$rt.smoke" ]; then
            STATUS[$rt]="failed: $(grep -v '^$' "$T/log/$rt.smoke" | tail -n 1 | cut -c1-120)"
        else
            STATUS[$rt]="failed: exit 0, printed '$(head -c 40 "$T/log/$rt.smoke.out" | tr '\n' ' ' | sed 's/ $//')' instead of running the container"
        fi
        if [ "$rt" = apus ]; then STATUS[$rt]="not built (smoke run ${STATUS[$rt]})"; fi
        cleanup_containers
        cleanup_cgroups
    fi
done

usable() { [ -z "${STATUS[$1]}" ]; }

# ---- timing metrics --------------------------------------------------------------------
# metric_cmd METRIC RT -> CMD array for one run ({id} is replaced by the runner), or
# returns 1 when the runtime has no such operation.
metric_cmd() {
    local m="$1" rt="$2"
    if is_floor "$rt"; then
        case "$m" in run | faults | sporadic | concurrent) CMD=("${BIN[$rt]}") ;; *) return 1 ;; esac
        return 0
    fi
    rt_cmd "$rt"
    case "$m" in
        run | faults | sporadic | concurrent) CMD=("${RTC[@]}" run --bundle "$bundle" "{id}") ;;
        rootless) CMD=("${BIN[$rt]}" --root "$T/state/$rt-rootless" run --bundle "$T/rootless/true" "{id}") ;;
        systemd) CMD=("${RTC[@]}" --systemd-cgroup run --bundle "$bundle" "{id}") ;;
        cycle) CMD=("${RTC[@]}" create --bundle "$bundle" "{id}" :: "${RTC[@]}" start "{id}"
            :: "${RTC[@]}" delete --force "{id}") ;;
        exec) CMD=("${RTC[@]}" exec "$prefix-exec-$rt" /bin/true) ;;
        version) CMD=("${BIN[$rt]}" --version) ;;
        *) return 1 ;;
    esac
}

# verify_metric METRIC RT: the operation must really happen (the process's output comes
# back), else NOTE says why and the row is skipped.
verify_metric() {
    local m="$1" rt="$2" id="$prefix-verify-$1-$2" o="$T/log/verify.$1.$2" st
    is_floor "$rt" && return 0
    rt_cmd "$rt"
    case "$m" in
        cycle)
            {
                "${RTC[@]}" create --bundle "$T/bundle-echo" "$id" && "${RTC[@]}" start "$id" &&
                    for _ in $(seq 100); do
                        st="$("${RTC[@]}" state "$id" 2>/dev/null | tr -d ' \n')"
                        case "$st" in *'"status":"stopped"'*) break ;; esac
                        sleep 0.02
                    done &&
                    "${RTC[@]}" delete --force "$id"
            } </dev/null >"$o.out" 2>"$o.err" || true
            ;;
        exec)
            "${RTC[@]}" exec "$prefix-exec-$rt" /bin/sh -c "echo $marker" </dev/null >"$o.out" 2>"$o.err" || true
            ;;
        rootless)
            if [ -z "$rootless_ready" ]; then
                : >"$o.out"
                echo "$rootless_note" >"$o.err"
            else
                setpriv --reuid="$rootless_uid" --regid="$rootless_uid" --clear-groups \
                    "${BIN[$rt]}" --root "$T/state/$rt-rootless" run --bundle "$T/rootless/echo" "$id" \
                    </dev/null >"$o.out" 2>"$o.err" || true
            fi
            ;;
        systemd)
            if [ -d /run/systemd/system ]; then
                "${RTC[@]}" --systemd-cgroup run --bundle "$T/bundle-echo" "$id" </dev/null >"$o.out" 2>"$o.err" || true
            else
                : >"$o.out"
                echo "systemd is not PID 1 here (make bench-systemd runs this row in the systemd VM)" >"$o.err"
            fi
            ;;
        *) return 0 ;;
    esac
    if [ "$(cat "$o.out")" != "$marker" ]; then
        if [ -s "$o.err" ]; then
            NOTE[$m.$rt]="failed: $(grep -v '^$' "$o.err" | tail -n 1 | cut -c1-100)"
        else
            NOTE[$m.$rt]="failed: the container's output did not come back"
        fi
        cleanup_containers
        cleanup_cgroups
    fi
}

# time_metric METRIC CHUNK CONC TOTAL: runtimes take turns, CHUNK timed runs at a time.
time_metric() {
    local m="$1" chunk="$2" conc="$3" total="$4" done_n=0 round=0 n rt extra=()
    for rt in "${runtimes[@]}"; do
        rm -f "$T/samples/$m.$rt" "$T/samples/$m.$rt.faults"
        if usable "$rt" && [ -z "${NOTE[$m.$rt]:-}" ]; then verify_metric "$m" "$rt"; fi
    done
    case "$m" in
        sporadic) extra=(-g "${BENCH_GAP_MS:-100}") ;;
        rootless) extra=(-u "$rootless_uid:$rootless_uid") ;;
    esac
    while [ "$done_n" -lt "$total" ]; do
        n=$((total - done_n < chunk ? total - done_n : chunk))
        for rt in "${runtimes[@]}"; do
            usable "$rt" && [ -z "${NOTE[$m.$rt]:-}" ] || continue
            metric_cmd "$m" "$rt" || { NOTE[$m.$rt]="-"; continue; }
            local warm=1
            [ "$round" = 0 ] && warm=2
            [ "$conc" -gt 1 ] && warm=$((round == 0 ? 1 : 0))
            if ! "$runner" time -n "$n" -w "$warm" -c "$conc" -t 120 -p "$prefix-$m-$rt-$round" "${extra[@]}" \
                -f "$T/samples/$m.$rt.faults" -o "$T/samples/$m.$rt" -e "$T/log/$m.$rt.err" -- "${CMD[@]}" \
                2>"$T/log/$m.$rt.fail"; then
                NOTE[$m.$rt]="failed: $(grep -v '^runner: run' "$T/log/$m.$rt.fail" | grep -v '^$' | tail -n 1 | cut -c1-100)"
                [ "${NOTE[$m.$rt]}" = "failed: " ] && NOTE[$m.$rt]="failed: $(tail -n 1 "$T/log/$m.$rt.fail" | cut -c1-100)"
                cleanup_containers
                cleanup_cgroups
            fi
        done
        done_n=$((done_n + n))
        round=$((round + 1))
    done
    for rt in "${runtimes[@]}"; do
        usable "$rt" && [ -z "${NOTE[$m.$rt]:-}" ] || continue
        if [ "$m" = faults ]; then
            VAL[$m.$rt]="$("$runner" stats "$T/samples/$m.$rt.faults" | awk '{ printf "%d %d", $2, $3 }')"
        else
            VAL[$m.$rt]="$("$runner" stats "$T/samples/$m.$rt" | awk '{ print $2, $3 }')"
        fi
    done
}

# ---- rootless: `run` as an ordinary uid, config from `runc spec --rootless` -------------
rootless_uid="${BENCH_ROOTLESS_UID:-64999}"
rootless_ready=""
rootless_note=""
rootless_setup() {
    local r="$T/rootless" rt gen=""
    case "$rootless_uid" in '' | 0 | *[!0-9]*) rootless_note="BENCH_ROOTLESS_UID must be a non-zero uid"; return 0 ;; esac
    command -v setpriv >/dev/null || { rootless_note="setpriv not found (apt-get install util-linux)"; return 0; }
    chmod 711 "$T" "$T/state"
    mkdir -p "$r/true" "$r/echo"
    cp -a "$bundle/rootfs" "$r/rootfs"
    chown -R "$rootless_uid:$rootless_uid" "$r"
    chmod 755 "$r"
    for rt in runc apus; do [ -n "${BIN[$rt]:-}" ] && gen="${BIN[$rt]}" && break; done
    if [ -z "$gen" ] || ! setpriv --reuid="$rootless_uid" --regid="$rootless_uid" --clear-groups \
        "$gen" spec --rootless --bundle "$r" 2>"$T/log/rootless.spec"; then
        rootless_note="could not write a rootless config.json: $(tail -n 1 "$T/log/rootless.spec" 2>/dev/null | cut -c1-80)"
        return 0
    fi
    jq --arg r "$r/rootfs" '.ociVersion = "1.0.2" | .process.terminal = false | .process.args = ["/bin/true"] | .root.path = $r' \
        <"$r/config.json" >"$r/true/config.json"
    jq --arg r "$r/rootfs" --arg m "echo $marker" \
        '.ociVersion = "1.0.2" | .process.terminal = false | .process.args = ["/bin/sh", "-c", $m] | .root.path = $r' \
        <"$r/config.json" >"$r/echo/config.json"
    for rt in "${runtimes[@]}"; do
        is_floor "$rt" && continue
        mkdir -p "$T/state/$rt-rootless"
        chown "$rootless_uid:$rootless_uid" "$T/state/$rt-rootless"
    done
    rootless_ready=1
}

exec_setup() {
    local rt
    for rt in "${runtimes[@]}"; do
        usable "$rt" && ! is_floor "$rt" || continue
        rt_cmd "$rt"
        if ! { "${RTC[@]}" create --bundle "$T/bundle-sleep" "$prefix-exec-$rt" &&
            "${RTC[@]}" start "$prefix-exec-$rt"; } </dev/null >/dev/null 2>"$T/log/exec.$rt.setup"; then
            NOTE[exec.$rt]="failed: create/start: $(tail -n 1 "$T/log/exec.$rt.setup" | cut -c1-90)"
        fi
    done
}
exec_teardown() {
    local rt
    for rt in "${runtimes[@]}"; do
        usable "$rt" && ! is_floor "$rt" || continue
        rt_cmd "$rt"
        "${RTC[@]}" kill "$prefix-exec-$rt" KILL >/dev/null 2>&1 || true
        "${RTC[@]}" delete --force "$prefix-exec-$rt" >/dev/null 2>&1 || true
    done
}

# ---- memory: Pss of the runtime's processes while the container runs ----------------
tree_pids() { # all descendants of $1 and $1 itself
    local p c
    echo "$1"
    for p in /proc/"$1"/task/*/children; do
        [ -r "$p" ] || continue
        for c in $(cat "$p" 2>/dev/null); do tree_pids "$c"; done
    done
}
is_container_proc() { case "$(readlink "/proc/$1/exe" 2>/dev/null)" in *busybox*) return 0 ;; esac; return 1; }
# add_smaps PID: adds the process's Pss, private and Rss (KiB, smaps_rollup) to the
# caller's pss, priv, rss and np (bash functions see their callers' locals).
add_smaps() {
    local line
    line="$(awk '/^Pss:/ { s = $2 } /^Private_(Clean|Dirty):/ { v += $2 } /^Rss:/ { r = $2 }
        END { print s + 0, v + 0, r + 0 }' "/proc/$1/smaps_rollup" 2>/dev/null)" || return 0
    [ -n "$line" ] || return 0
    set -- $line
    pss=$((pss + $1)); priv=$((priv + $2)); rss=$((rss + $3)); np=$((np + 1))
}
memory_once() { # memory_once RT ID -> "pss_kib private_kib rss_kib nprocs" on stdout
    local rt="$1" id="$2" pid p cpid="" pss=0 priv=0 rss=0 np=0
    if is_floor "$rt"; then
        "${BIN[$rt]}" /bin/sleep 3600 </dev/null >/dev/null 2>"$T/log/memory.$rt.err" &
    else
        rt_cmd "$rt"
        "${RTC[@]}" run --bundle "$T/bundle-sleep" "$id" </dev/null >/dev/null 2>"$T/log/memory.$rt.err" &
    fi
    pid=$!
    for _ in $(seq 100); do
        for p in $(tree_pids "$pid"); do
            if is_container_proc "$p"; then cpid="$p"; break; fi
        done
        [ -n "$cpid" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if [ -n "$cpid" ]; then
        sleep 0.2 # let the runtime settle into its wait
        for p in $(tree_pids "$pid"); do
            is_container_proc "$p" && continue
            add_smaps "$p"
        done
        if is_floor "$rt"; then kill -KILL "$cpid" 2>/dev/null || true; else "${RTC[@]}" kill "$id" KILL >/dev/null 2>&1 || kill -KILL "$cpid" 2>/dev/null || true; fi
    else
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    is_floor "$rt" || "${RTC[@]}" delete --force "$id" >/dev/null 2>&1 || true
    [ -n "$cpid" ] || return 1
    echo "$pss $priv $rss $np"
}
median_of() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1; if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
memory_metric() {
    local rt r res
    for rt in "${runtimes[@]}"; do
        usable "$rt" || continue
        : >"$T/samples/memory.$rt"
        for r in $(seq "$reps"); do
            if res="$(memory_once "$rt" "$prefix-mem-$rt-$r")"; then
                echo "$res" >>"$T/samples/memory.$rt"
            else
                NOTE[memory.$rt]="failed: container did not start ($(tail -n 1 "$T/log/memory.$rt.err" | cut -c1-80))"
                break
            fi
        done
        [ -z "${NOTE[memory.$rt]:-}" ] || continue
        # Pss in MiB (median), with private and Rss for the detail column.
        local pss priv rss np
        pss="$(awk '{ print $1 }' "$T/samples/memory.$rt" | median_of)"
        priv="$(awk '{ print $2 }' "$T/samples/memory.$rt" | median_of)"
        rss="$(awk '{ print $3 }' "$T/samples/memory.$rt" | median_of)"
        np="$(awk '{ print $4 }' "$T/samples/memory.$rt" | median_of)"
        if [ "$np" = 0 ]; then
            NOTE[memory.$rt]="no runtime process stays alive during run"
            continue
        fi
        VAL[memory.$rt]="$(awk -v k="$pss" 'BEGIN { printf "%.2f", k / 1024 }')"
        MEMDETAIL[memory.$rt]="private ${priv} KiB, rss ${rss} KiB, $np process(es)"
    done
}

# ---- memory after create: Pss of the runtime's processes of N created containers ---------
# What the issue asks: the processes a runtime leaves alive after `create` (apus's and crun's
# waiting init, runc's `runc init`), for one container and summed over 50 created at once.
create_memory_once() { # create_memory_once RT N -> "pss_kib private_kib rss_kib nprocs"
    local rt="$1" n="$2" i id pid pss=0 priv=0 rss=0 np=0 ids=()
    rt_cmd "$rt"
    for i in $(seq "$n"); do
        id="$prefix-cmem-$rt-$i"
        "${RTC[@]}" create --bundle "$T/bundle-sleep" "$id" </dev/null >/dev/null 2>"$T/log/cmem.$rt.err" || break
        ids+=("$id")
    done
    if [ "${#ids[@]}" = "$n" ]; then
        sleep 0.2
        for id in "${ids[@]}"; do
            pid="$("${RTC[@]}" state "$id" 2>/dev/null | tr -d ' \n' | sed -n 's/.*"pid":\([0-9]*\).*/\1/p')"
            [ -n "$pid" ] && ! is_container_proc "$pid" || continue
            add_smaps "$pid"
        done
    fi
    for id in "${ids[@]}"; do "${RTC[@]}" delete --force "$id" >/dev/null 2>&1 || true; done
    [ "${#ids[@]}" = "$n" ] && [ "$np" -gt 0 ] || return 1
    echo "$pss $priv $rss $np"
}
create_memory_metric() { # create_memory_metric METRIC N
    local m="$1" n="$2" rt r res pss priv rss np
    for rt in "${runtimes[@]}"; do
        usable "$rt" || continue
        if is_floor "$rt"; then NOTE[$m.$rt]="-"; continue; fi
        : >"$T/samples/$m.$rt"
        for r in $(seq "$reps"); do
            if res="$(create_memory_once "$rt" "$n")"; then
                echo "$res" >>"$T/samples/$m.$rt"
            else
                NOTE[$m.$rt]="failed: create ($(tail -n 1 "$T/log/cmem.$rt.err" | cut -c1-80))"
                break
            fi
        done
        [ -z "${NOTE[$m.$rt]:-}" ] || continue
        pss="$(awk '{ print $1 }' "$T/samples/$m.$rt" | median_of)"
        priv="$(awk '{ print $2 }' "$T/samples/$m.$rt" | median_of)"
        rss="$(awk '{ print $3 }' "$T/samples/$m.$rt" | median_of)"
        np="$(awk '{ print $4 }' "$T/samples/$m.$rt" | median_of)"
        VAL[$m.$rt]="$(awk -v k="$pss" 'BEGIN { printf "%.2f", k / 1024 }')"
        MEMDETAIL[$m.$rt]="private ${priv} KiB, rss ${rss} KiB, $np process(es)"
    done
}

# ---- syscalls: strace -f -c over one `run` (container's /bin/true included) --------------
syscalls_metric() {
    local rt r f calls
    if ! command -v strace >/dev/null; then
        for rt in "${runtimes[@]}"; do usable "$rt" && NOTE[syscalls.$rt]="strace not installed"; done
        return 0
    fi
    for rt in "${runtimes[@]}"; do
        usable "$rt" || continue
        metric_cmd run "$rt"
        : >"$T/samples/syscalls.$rt"
        for r in $(seq "$reps"); do
            f="$T/log/strace.$rt.$r"
            if ! strace -f -c -o "$f" "${CMD[@]//\{id\}/$prefix-sys-$rt-$r}" </dev/null >/dev/null 2>"$T/log/syscalls.$rt.err"; then
                NOTE[syscalls.$rt]="failed under strace: $(tail -n 1 "$T/log/syscalls.$rt.err" | cut -c1-80)"
                cleanup_containers
                cleanup_cgroups
                break
            fi
            calls="$(awk '$NF == "total" { print $4 }' "$f")"
            echo "${calls:-0}" >>"$T/samples/syscalls.$rt"
        done
        [ -z "${NOTE[syscalls.$rt]:-}" ] || continue
        VAL[syscalls.$rt]="$(median_of <"$T/samples/syscalls.$rt")"
    done
}

# ---- binary size ------------------------------------------------------------------------
declare -A SIZEDETAIL=()
size_metric() {
    local rt b sz kind
    for rt in "${runtimes[@]}"; do
        usable "$rt" || continue
        b="${BIN[$rt]:-}"
        [ -n "$b" ] && [ -f "$b" ] || continue
        b="$(readlink -f "$b")"
        sz="$(stat -c %s "$b")"
        VAL[size.$rt]="$(awk -v s="$sz" 'BEGIN { printf "%.2f", s / 1048576 }')"
        kind=static
        if command -v readelf >/dev/null && readelf -l "$b" 2>/dev/null | grep -q 'Requesting program interpreter'; then
            kind="dynamic: $(readelf -d "$b" 2>/dev/null | grep -c NEEDED) libs"
        fi
        SIZEDETAIL[$rt]="$kind"
    done
}

# ---- the run ----------------------------------------------------------------------------
metric_title() {
    case "$1" in
        run) echo "run /bin/true (ms)" ;;
        faults) echo "page faults per run /bin/true, runtime and container (minor + major, getrusage)" ;;
        sporadic) echo "run /bin/true, one start every ${BENCH_GAP_MS:-100} ms (ms)" ;;
        rootless) echo "rootless run /bin/true as uid $rootless_uid, runc spec --rootless, no cgroups (ms)" ;;
        systemd) echo "run /bin/true with --systemd-cgroup: a transient scope unit per container (ms)" ;;
        cycle) echo "create+start+delete /bin/true (ms)" ;;
        exec) echo "exec /bin/true in a running container (ms)" ;;
        concurrent) echo "$concurrency concurrent runs, wall time (ms)" ;;
        memory) echo "memory: Pss of the runtime's processes while the container runs (MiB)" ;;
        createmem) echo "memory after create: Pss of the runtime's processes left by one create (MiB)" ;;
        createmem50) echo "memory after $concurrency creates: Pss of the runtime's processes, summed (MiB)" ;;
        syscalls) echo "syscalls per run, strace -f -c, container included (count)" ;;
        size) echo "binary size (MiB)" ;;
        version) echo "--version (ms)" ;;
    esac
}
metric_n() {
    case "$1" in
        run | faults | sporadic | rootless | systemd | cycle | exec | version) echo " [$runs runs]" ;;
        concurrent) echo " [$conc_reps runs]" ;;
        memory | createmem | createmem50 | syscalls) echo " [median of $reps]" ;;
        size) echo "" ;;
    esac
}

start_s="$(date +%s)"
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
for m in run faults sporadic rootless systemd cycle exec concurrent memory createmem createmem50 syscalls size version; do
    has "$only" "$m" || continue
    log "measuring $m"
    case "$m" in
        run | faults | sporadic | cycle | version) time_metric "$m" 10 1 "$runs" ;;
        systemd)
            for rt in "${runtimes[@]}"; do is_floor "$rt" && NOTE[systemd.$rt]="-"; done
            time_metric systemd 10 1 "$runs"
            ;;
        rootless)
            rootless_setup
            for rt in "${runtimes[@]}"; do is_floor "$rt" && NOTE[rootless.$rt]="-"; done
            time_metric rootless 10 1 "$runs"
            ;;
        exec)
            exec_setup
            time_metric exec 10 1 "$runs"
            exec_teardown
            ;;
        concurrent) time_metric concurrent 1 "$concurrency" "$conc_reps" ;;
        memory) memory_metric ;;
        createmem) create_memory_metric createmem 1 ;;
        createmem50) create_memory_metric createmem50 "$concurrency" ;;
        syscalls) syscalls_metric ;;
        size) size_metric ;;
    esac
    cleanup_containers
    cleanup_cgroups
done

# ---- the table ----------------------------------------------------------------------------
ver() { "$1" --version 2>/dev/null | head -n 1 || true; }
first() { printf '%s' "${1%% *}"; }
ratio() { # ratio METRIC RT REF
    local a="${VAL[$1.$2]:-}" b="${VAL[$1.$3]:-}"
    if [ -z "$a" ] || [ -z "$b" ] || [ "$2" = "$3" ]; then printf '%8s' "-"; return; fi
    awk -v a="$(first "$a")" -v b="$(first "$b")" 'BEGIN { if (b + 0 == 0) printf "%8s", "-"; else printf "%7.2fx", a / b }'
}
table="$T/table.txt"
tsv="$T/results.tsv"
{
    printf 'apus bench  %s  kernel %s  %s cores  runs %s%s\n' "$(date -u +%Y-%m-%dT%H:%MZ)" "$(uname -r)" \
        "$(nproc)" "$runs" "$([ "$quick" = 1 ] && echo " (quick)")"
    for rt in apus apus-base crun runc crun-debian runc-debian; do
        [ -n "${BIN[$rt]:-}" ] && printf '  %-11s %s  (%s)\n' "$rt" "$(ver "${BIN[$rt]}")" "${BIN[$rt]}"
    done
    [ -n "$cgroup_note" ] && printf '  %s\n' "$cgroup_note"
    printf '  %s\n' "$state_note"
    printf '  load average at start: %s%s\n' "$load_start" \
        "$(awk -v l="${load_start%% *}" 'BEGIN { if (l + 0 > 0.5) print " (busy machine: numbers are inflated)" }')"
    printf '  config: runc spec defaults, terminal false, args ["/bin/true"]; ratios are row / column\n'
    printf '  floor: %s built -O2 -static; floor-seccomp adds -DSECCOMP, floor-full -DFULL (ro root, masked paths, rlimit, lo up)\n' \
        "$FLOOR_C"
    for m in run faults sporadic rootless systemd cycle exec concurrent memory createmem createmem50 syscalls size version; do
        has "$only" "$m" || continue
        echo
        case "$m" in
            memory | createmem | createmem50 | syscalls | size) c1=value; c2="" ;;
            *) c1=median; c2=p90 ;;
        esac
        printf '%s%s\n' "$(metric_title "$m")" "$(metric_n "$m")"
        printf '  %-14s %9s %9s %8s %8s %8s\n' runtime "$c1" "$c2" "x apus" "x crun" "x floor"
        for rt in "${runtimes[@]}"; do
            v="${VAL[$m.$rt]:-}"
            if ! usable "$rt"; then
                if is_floor "$rt"; then
                    case "$m" in cycle | exec | version) continue ;; esac
                fi
                printf '  %-14s %s\n' "$rt" "$rt: ${STATUS[$rt]}"
            elif [ -n "$v" ]; then
                set -- $v
                detail=""
                [ -n "${MEMDETAIL[$m.$rt]:-}" ] && detail="  ${MEMDETAIL[$m.$rt]}"
                [ "$m" = size ] && detail="  ${SIZEDETAIL[$rt]:-}"
                printf '  %-14s %9s %9s %s %s %s%s\n' "$rt" "$1" "${2:-}" "$(ratio "$m" "$rt" apus)" \
                    "$(ratio "$m" "$rt" crun)" "$(ratio "$m" "$rt" floor)" "$detail"
                printf '%s\t%s\t%s\t%s\n' "$m" "$rt" "$1" "${2:-}" >>"$tsv"
            elif [ "${NOTE[$m.$rt]:-}" = "-" ]; then
                continue # the floor has no such operation
            elif [ -n "${NOTE[$m.$rt]:-}" ]; then
                printf '  %-14s %s\n' "$rt" "${NOTE[$m.$rt]}"
            fi
        done
    done
    echo
    printf 'took %s s; raw samples in %s\n' "$(($(date +%s) - start_s))" "$out/samples"
} >"$table"
: >>"$tsv"

rm -rf "$out/samples"
cp -r "$T/samples" "$out/samples"
cp "$table" "$out/bench.txt"
cp "$tsv" "$out/bench.tsv"
cat "$table"
