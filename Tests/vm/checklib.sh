# checklib.sh: sourced by the checks scripts the test VMs run (Tests/cgroup2/checks.sh,
# Tests/systemd/checks.sh). One line per check, read by scripts/test-summary.py:
# "ok   NAME", "FAIL NAME", "SKIP NAME: REASON"; at exit "$MARKER: PASS (n checks)" or
# "$MARKER: FAIL (names)", which the VM's run.sh looks for.
# Set before sourcing: MARKER (e.g. APUS-CGROUP2), ROOT (apus --root); the environment has
# APUS_BIN and APUS_REPO (from the kernel command line).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TMPDIR=/tmp
A="$APUS_BIN"
passed=0
failed=()

# Prints the verdict; the caller's EXIT trap calls it and then ends the VM its own way.
verdict() {
    if [ ${#failed[@]} -eq 0 ] && [ $passed -gt 0 ]; then
        echo "$MARKER: PASS ($passed checks)"
    else
        echo "$MARKER: FAIL (${failed[*]:-nothing ran})"
    fi
}

check() { # check NAME COMMAND...: passes when COMMAND succeeds
    local name="$1"
    shift
    if "$@"; then
        passed=$((passed + 1))
        echo "ok   $name"
    else
        failed+=("$name")
        echo "FAIL $name"
    fi
}

skip() { echo "SKIP $1: $2"; } # skip NAME REASON

eq() { [ "$1" = "$2" ] || { echo "  expected '$2', got '$1'"; return 1; }; }
has() { case "$1" in *"$2"*) ;; *) echo "  expected it to say '$2', got '$1'"; return 1 ;; esac; }

apus() { "$A" --root "$ROOT" "$@"; }

# bundle DIR RESOURCES_JSON ARGS_JSON [EXTRA_PYTHON]: busybox bundle with linux.resources set.
bundle() {
    bash "$APUS_REPO/spec-fixtures/make-bundle.sh" "$1" >/dev/null || return 1
    (cd "$1" && "$A" spec) || return 1
    python3 - "$1/config.json" "$2" "$3" "${4:-}" <<'PY'
import json, sys
path, resources, args, extra = sys.argv[1:5]
c = json.load(open(path))
c["process"]["terminal"] = False
c["process"]["args"] = json.loads(args)
c["root"]["readonly"] = False
c["linux"]["resources"] = {**c["linux"].get("resources", {}), **json.loads(resources)}
if extra:
    exec(extra)
json.dump(c, open(path, "w"))
PY
}

state_of() { apus state "$1" 2>/dev/null | sed -n 's/.*"status": "\(.*\)".*/\1/p'; }

wait_for() { # wait_for SECONDS COMMAND...
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        [ $SECONDS -ge $deadline ] && return 1
        sleep 0.1
    done
}
