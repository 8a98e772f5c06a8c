#!/usr/bin/env bash
# Runs `swift test` with the binary under test, keeping the whole log; when a
# test fails, the failures are printed again at the end so that the last lines
# of a CI log say which test failed and why.
set -uo pipefail
log=${TEST_LOG:-.build/swift-test.log}
mkdir -p "$(dirname "$log")"
APUS_BIN="$1" swift test "${@:2}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ]; then
    echo
    echo "==== failures (full log: $log) ===="
    # Each issue with the lines that follow it, up to the next test event.
    awk '/^✘ Test run with/ { next }
         /recorded an issue|^✘ |Fatal error/ { show = 30; print; next }
         /^(◇|✔|✘|━|􀟈|Test Suite|Test Case)/ { show = 0 }
         show > 0 { print; show-- }' "$log" | head -150
fi
exit "$status"
