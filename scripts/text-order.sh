#!/usr/bin/env bash
# text-order.sh - writes the function order the release link lays `.text` out in
# (link/text-order.txt, gold's --section-ordering-file): the functions a start runs, in
# the order it first runs them, so that they sit in a few 64 KiB fault-around windows
# instead of all over the binary's text.
#
# usage: scripts/text-order.sh [OUT]   (root; default OUT link/text-order.txt)
#
# How: an unstripped release build (the flags of `make build`, see below) runs the
# bench's commands (run, create/start/state/exec/kill/delete, list, --version) under
# `perf record -e major-faults -d`, its file dropped from the page cache first and the
# disk's readahead off (read_ahead_kb 0, put back afterwards): every first touch of a
# 4 KiB page is then one major fault that reads just that page (fault-around maps only
# pages already cached). The functions that overlap a touched text page, ordered by the
# first touch of their page, are the hot list. Entries the next build no longer has are
# passed over by the linker, so a stale file costs only some faults, never a failed link.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
out="${1:-$repo/link/text-order.txt}"
[ "$(id -u)" = 0 ] || { echo "text-order: needs root (perf, readahead, containers)" >&2; exit 2; }
command -v perf >/dev/null || { echo "text-order: needs perf" >&2; exit 2; }

scratch="$repo/.build/text-order"
tmp="$(mktemp -d /tmp/apus-text-order.XXXXXX)"
bin=""
ra=""
ra_before=""
# perf drops samples of a burst of faults above these limits: lifted while measuring.
pct=/proc/sys/kernel/perf_cpu_time_max_percent
rate=/proc/sys/kernel/perf_event_max_sample_rate
pct_before="$(cat $pct)"
rate_before="$(cat $rate)"
cleanup() {
    [ -n "$ra_before" ] && echo "$ra_before" >"$ra"
    echo "$pct_before" >$pct
    echo "$rate_before" >$rate 2>/dev/null || true
    for id in to-run to-cycle to-sleep; do
        [ -n "$bin" ] && "$bin" --root "$tmp/state" delete --force "$id" >/dev/null 2>&1 || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

# The release flags of the Makefile, unstripped and without an order file, with every
# function of apus's own modules on a page of its own (LLVM's -align-all-functions=12):
# a touched page then names exactly one function. Code from archives (the Swift runtime
# and standard library, glibc) keeps its packing, so for it the list is the superset of
# functions sharing a touched page.
read -r -a flags <<<"$(make -s -C "$repo" ORDER_FILE=/nonexistent release-flags)"
flags+=(-Xswiftc -Xllvm -Xswiftc -align-all-functions=12 -Xlinker "-Map=$scratch/apus.map")
# The object files must be made anew: with the same IR, swift-frontend keeps an object
# file compiled with other code generation options.
[ -n "${TEXT_ORDER_REUSE:-}" ] || find "$scratch" -name '*.swift.o' -delete 2>/dev/null || true
swift build --package-path "$repo" --scratch-path "$scratch" "${flags[@]}" --product apus >&2
# A copy of its own on the disk, whose pages this script may drop from the cache.
mkdir -p "$scratch/measured"
cp "$scratch/release/apus" "$scratch/measured/apus"
bin="$scratch/measured/apus"

bash "$repo/spec-fixtures/make-bundle.sh" "$tmp/bundle" >&2
(cd "$tmp" && "$bin" spec && mv config.json spec.json)
jq '.process.terminal = false | .process.args = ["/bin/true"]' "$tmp/spec.json" >"$tmp/bundle/config.json"
mkdir -p "$tmp/sleep"
jq --arg r "$tmp/bundle/rootfs" '.process.terminal = false | .process.args = ["/bin/sleep", "3600"] | .root.path = $r' \
    "$tmp/spec.json" >"$tmp/sleep/config.json"

disk="$(lsblk -no PKNAME "$(df --output=source "$bin" | tail -1)" 2>/dev/null || true)"
[ -n "$disk" ] || disk="$(basename "$(df --output=source "$bin" | tail -1)")"
ra="/sys/block/$disk/queue/read_ahead_kb"
[ -w "$ra" ] || { echo "text-order: no readahead setting for $bin's disk ($ra)" >&2; exit 1; }

cat >"$tmp/workload.sh" <<EOF
set -e
a() { "$bin" --root "$tmp/state" "\$@"; }
a --version >/dev/null
a run --bundle "$tmp/bundle" to-run
a create --bundle "$tmp/bundle" to-cycle
a start to-cycle
a delete to-cycle
a run -d --bundle "$tmp/sleep" to-sleep
a exec to-sleep /bin/true
a state to-sleep >/dev/null
a list >/dev/null
a kill to-sleep KILL
a delete --force to-sleep
EOF
sync "$bin"
echo 1000000 >$rate # the kernel takes a new rate only while throttling is on
echo 0 >$pct
ra_before="$(cat "$ra")"
echo 0 >"$ra"
python3 -c "import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)" "$bin"
perf record -e major-faults -c 1 -d -o "$tmp/perf.data" -- bash "$tmp/workload.sh" 2>"$tmp/perf.log" >&2
if grep -qi "lost" "$tmp/perf.log"; then
    echo "text-order: perf lost samples:" >&2
    cat "$tmp/perf.log" >&2
    exit 1
fi
echo "$ra_before" >"$ra"
ra_before=""

# Only apus's own faults: busybox and bash may sit at the same fixed addresses.
perf script -i "$tmp/perf.data" -F comm,addr 2>/dev/null | awk '$1 == "apus" { print $2 }' >"$tmp/addrs"
mkdir -p "$(dirname "$out")"
python3 - "$tmp/addrs" "$scratch/apus.map" "$out" <<'EOF'
import bisect, re, sys
addrs, linkmap, out = sys.argv[1:]
# The link map names every input section with its address and size: a function in a
# section of its own (".text.NAME") can be ordered; an object's plain ".text" (the
# standard library's internal functions, glibc) cannot, and stays where it is.
sections = []
pending = None
for line in open(linkmap, errors="replace"):
    m = re.match(r"^ (\.text\.\S+)\s*$", line)
    if m:
        pending = m.group(1)
        continue
    m = re.match(r"^ (\.text\.\S+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s", line)
    if m:
        sections.append((int(m.group(2), 16), int(m.group(3), 16), m.group(1)))
        pending = None
        continue
    m = re.match(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s", line)
    if m and pending:
        sections.append((int(m.group(1), 16), int(m.group(2), 16), pending))
    pending = None
sections = sorted(s for s in sections if s[0] and s[1])
starts = [s for s, _, _ in sections]
order, taken, pages, seen = [], set(), 0, set()
for line in open(addrs):
    page = int(line.strip() or "0", 16) >> 12
    if page in seen:
        continue
    seen.add(page)
    lo, hi = page << 12, (page + 1) << 12
    i = max(bisect.bisect_right(starts, lo) - 1, 0)
    hit = False
    while i < len(sections) and sections[i][0] < hi:
        start, size, name = sections[i]
        if start + size > lo:
            hit = True
            if name not in taken:
                taken.add(name)
                order.append(name)
        i += 1
    pages += hit
with open(out, "w") as f:
    f.write("".join(name + "\n" for name in order))
print(f"text-order: {pages} pages of orderable text touched, {len(order)} functions -> {out}", file=sys.stderr)
EOF
