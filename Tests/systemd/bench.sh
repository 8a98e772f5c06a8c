#!/bin/bash
# Runs inside the systemd VM (Tests/systemd/run.sh, APUS_SYSTEMD_CHECKS) for `make
# bench-systemd`: spec-fixtures/bench/bench.sh's `run` row and its `systemd` row (a `run`
# with --systemd-cgroup, one transient scope per container) with systemd 252 as PID 1 on
# pure cgroup v2, apus against runc 1.5.1 (crun 1.27.1 is built without systemd). The
# VM emulates its CPU (TCG): the times are for comparing the runtimes in one run, not
# with the host's. Prints the table, then "APUS-SYSTEMD: PASS (bench)" or FAIL.
# Environment (/run/apus-vm.env): APUS_BIN, APUS_REPO; APUS_BENCH_RUNS (default 20).
MARKER="APUS-${APUS_VM^^}"
status=FAIL
# The repository is the host's, read-only over 9p: the table goes to the VM's /tmp.
if BENCH_OUT=/tmp/apus-bench-out APUS_BIN="$APUS_BIN" bash "$APUS_REPO/spec-fixtures/bench/bench.sh" \
    --runs "${APUS_BENCH_RUNS:-20}" --only run,systemd --runtimes apus,runc,crun </dev/null; then
    # A row that failed says so in the table: the bench passes only if apus's systemd row has a value.
    awk '$1 == "systemd" && $2 == "apus" { found = 1 } END { exit !found }' /tmp/apus-bench-out/bench.tsv && status=PASS
fi
# Nothing of the bench may be left: its scopes are gone with their containers.
if systemctl list-units --all --no-legend '*apusbench-*' | grep -q .; then
    echo "bench left units behind:"
    systemctl list-units --all --no-legend '*apusbench-*'
    status=FAIL
fi
echo "$MARKER: $status (bench)"
