#!/usr/bin/env bash
# The README's first command: build a busybox bundle from the fixtures, write
# the default config with `apus spec`, and run a container that shows what it sees.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
apus=${APUS_BIN:-$repo/.build/release/apus}
bundle=$(mktemp -d /tmp/apus-demo.XXXXXX)
trap 'rm -rf "$bundle"' EXIT
"$repo/spec-fixtures/make-bundle.sh" "$bundle" >/dev/null
"$apus" spec --bundle "$bundle"
jq '.process.terminal = false
    | .process.args = ["sh", "-c", "echo \"hello from $(hostname), pid $$ in its own namespaces\"; id; grep -E \"^Cap(Eff|Bnd)\" /proc/self/status; mount | head -4"]' \
    "$bundle/config.json" > "$bundle/config.json.new"
mv "$bundle/config.json.new" "$bundle/config.json"
"$apus" run --bundle "$bundle" "demo-$$"
