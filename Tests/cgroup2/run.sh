#!/usr/bin/env bash
# run.sh [APUS_BIN]: boots a pure cgroup v2 kernel (cgroup_no_v1=all) under qemu
# (Tests/vm/boot.sh) and runs Tests/cgroup2/checks.sh with the given apus binary inside it,
# as PID 1. Prints checks.sh's lines; exit 0 iff it printed PASS.
#
# Environment: APUS_CG2_CACHE (default .build/cgroup2: the kernel and console.log),
# APUS_CG2_TESTS=path to the apusPackageTests.xctest binary to also run the Swift
# CgroupTests and CheckpointTests inside the VM (`make test` and `make test-cgroup2` pass it),
# APUS_CG2_TIMEOUT (seconds, default 1500: it also runs CheckpointTests).
set -euo pipefail
vm_repo=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(realpath "${1:-$vm_repo/.build/release/apus}")
cache=$(realpath -m "${APUS_CG2_CACHE:-$vm_repo/.build/cgroup2}")
[ -x "$bin" ] || { echo "cgroup2: no apus binary at $bin" >&2; exit 2; }
# shellcheck source=../vm/boot.sh
. "$vm_repo/Tests/vm/boot.sh"

tests_arg=""
[ -n "${APUS_CG2_TESTS:-}" ] && tests_arg="APUS_TESTS=$(realpath "$APUS_CG2_TESTS")"
vm_boot cgroup2 "$cache" "${APUS_CG2_TIMEOUT:-1500}" cgroup_no_v1=all \
    "APUS_BIN=$bin APUS_REPO=$vm_repo APUS_CHECKS=$vm_repo/Tests/cgroup2/checks.sh $tests_arg"
grep -q "APUS-CGROUP2: PASS" "$cache/console.log"
