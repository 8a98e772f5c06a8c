#!/usr/bin/env bash
# swift-test.sh APUS_BIN [swift test args…]: runs `swift test` with the binary under test
# (an empty APUS_BIN for unit tests), keeping the whole log and Swift Testing's event
# stream ($TEST_EVENTS). When a test fails, the failures are printed again at the end so
# that the last lines of a CI log say which test failed and why; then every skipped test
# with its reason, and the totals.
set -uo pipefail
cd "$(dirname "$0")/.."
log=${TEST_LOG:-.build/swift-test.log}
events=${TEST_EVENTS:-.build/test-events.jsonl}
mkdir -p "$(dirname "$log")" "$(dirname "$events")"
rm -f "$events"
APUS_BIN="$1" swift test --event-stream-output-path "$events" --event-stream-version 0 "${@:2}" 2>&1 | tee "$log"
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
echo
python3 scripts/test-summary.py --events "$events" || status=1
exit "$status"
