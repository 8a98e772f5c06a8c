#!/usr/bin/env bash
# soak.sh [CYCLES]: run/delete a busybox container CYCLES times (default 1000) and check
# that nothing grows on the host: mounts, apus cgroup directories, state entries, and the
# kernel's count of open files. Bounded in count; prints one line per 100 cycles and a
# verdict. Not part of `make test` (it takes a minute); run with `make soak`.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
apus=${APUS_BIN:-$repo/.build/release/apus}
cycles=${1:-1000}
work=$(mktemp -d /tmp/apus-soak.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$repo/spec-fixtures/make-bundle.sh" "$work/bundle" >/dev/null
"$apus" spec --bundle "$work/bundle"
jq '.process.terminal = false | .process.args = ["/bin/true"]' "$work/bundle/config.json" > "$work/c.json"
mv "$work/c.json" "$work/bundle/config.json"
root="$work/state"

measure() {
    local mounts cgroups states files
    mounts=$(wc -l < /proc/self/mountinfo)
    cgroups=$( (find /sys/fs/cgroup -mindepth 1 -maxdepth 3 -type d -name 'apus-soak-*' 2>/dev/null || true) | wc -l)
    states=$( (ls "$root" 2>/dev/null || true) | wc -l)
    files=$(cut -f1 /proc/sys/fs/file-nr)
    echo "$mounts $cgroups $states $files"
}

read -r m0 c0 s0 f0 < <(measure)
failed=0
for ((i = 1; i <= cycles; i++)); do
    if ! "$apus" --root "$root" run --bundle "$work/bundle" "apus-soak-$$-$i" >/dev/null 2>"$work/err"; then
        failed=$((failed + 1))
        echo "cycle $i failed: $(cat "$work/err")" >&2
    fi
    if ((i % 100 == 0)); then
        read -r m c s f < <(measure)
        echo "cycle $i: mounts $m (start $m0), apus cgroups $c, state entries $s, open files $f (start $f0)"
    fi
done
read -r m c s f < <(measure)
verdict=ok
[ "$failed" -eq 0 ] || verdict=fail
[ "$m" -le "$m0" ] || { echo "mounts grew: $m0 -> $m" >&2; verdict=fail; }
[ "$c" -eq 0 ] || { echo "cgroup directories left: $c" >&2; verdict=fail; }
[ "$s" -eq 0 ] || { echo "state entries left: $s" >&2; verdict=fail; }
# Open files of the whole system move with other activity; a leak of one fd per
# cycle would show as at least `cycles` more.
[ "$f" -lt $((f0 + cycles / 2)) ] || { echo "open files grew: $f0 -> $f" >&2; verdict=fail; }
if [ "$verdict" = ok ]; then
    echo "soak: $cycles passed, 0 failed"
else
    echo "soak: $((cycles - failed)) passed, $failed failed (or host state grew, see above)"
    exit 1
fi
