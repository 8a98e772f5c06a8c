#!/usr/bin/env python3
"""test-summary.py [--events FILE]... [--vm CONSOLE_LOG]...

The closing lines of `make test`: every test that did not run (skipped, or cancelled at
run time with Test.cancel) with its reason, then one line of totals.

--events: a Swift Testing event stream (JSON lines, `swift test --event-stream-output-path`).
--vm: the console log of a test VM (Tests/cgroup2, Tests/systemd): its shell checks print
  "ok   NAME", "FAIL NAME" and "SKIP NAME: REASON"; the skip events of the Swift tests
  it runs follow as "APUS-EVENT {json}" lines. A VM that printed no verdict line
  ("APUS-…: PASS" or "APUS-…: FAIL") counts as one failure: it did not finish.
Exit status 1 when any test failed or a file could not be read.
"""
import json
import re
import sys


def swift_events(path):
    with open(path, encoding="utf-8") as stream:
        return tally([json.loads(line) for line in stream if line.strip()])


def tally(records):
    """Passed and failed tests (functions, not suites) and every skip with its reason."""
    passed, failed, skips = 0, 0, []
    names, functions = {}, set()
    for record in records:
        if record.get("kind") == "test":
            test = record["payload"]
            names[test["id"]] = test.get("displayName") or test["name"]
            if test.get("kind") == "function":
                functions.add(test["id"])
    for record in records:
        if record.get("kind") != "event":
            continue
        event = record["payload"]
        kind = event["kind"]
        name = names.get(event.get("testID"), event.get("testID", "?"))
        comments = event.get("_comments") or []
        reason = "; ".join(comments) if comments else "(no reason given)"
        if kind == "testSkipped":
            skips.append((name, reason))
        elif kind == "testCaseCancelled" and "_testCase" in event:
            # One case of a parameterized test; the others may still run and pass.
            skips.append((f"{name} [{event['_testCase'].get('displayName', '?')}]", reason))
        elif kind == "testCancelled":
            skips.append((name, reason))
        elif kind == "testEnded" and event.get("testID") in functions:  # suites end too
            symbols = {m.get("symbol") for m in event.get("messages", [])}
            if "fail" in symbols:
                failed += 1
            elif symbols & {"pass", "passWithKnownIssue", "passWithWarnings"}:
                passed += 1
    return passed, failed, skips


def vm_console(path):
    passed, failed, skips, events, verdict = 0, 0, [], [], None
    with open(path, encoding="utf-8", errors="replace") as log:
        for line in log:
            line = line.rstrip("\r\n")
            if line.startswith("ok   "):
                passed += 1
            elif line.startswith("FAIL "):
                failed += 1
            elif line.startswith("SKIP "):
                name, _, reason = line[5:].partition(": ")
                skips.append((name, reason or "(no reason given)"))
            elif line.startswith("APUS-EVENT "):
                events.append(json.loads(line[len("APUS-EVENT "):]))
            else:
                found = re.match(r"(APUS-[A-Z0-9-]+): (PASS|FAIL)", line)
                verdict = found.group(1) if found else verdict
    # The Swift tests in the VM are one check above; only their skips are added here.
    skips += tally(events)[2]
    vm = f"vm {verdict[len('APUS-'):].lower()}" if verdict else "vm"
    if verdict is None:
        print(f"test-summary: {path}: the VM printed no verdict (it did not finish)")
        failed += 1
    return passed, failed, [(f"{vm}: {name}", reason) for name, reason in skips]


def main(argv):
    passed, failed, skips, problems = 0, 0, [], []
    args = iter(argv)
    for flag in args:
        path = next(args, None)
        reader = {"--events": swift_events, "--vm": vm_console}.get(flag)
        if reader is None or path is None:
            print(__doc__, file=sys.stderr)
            return 2
        try:
            p, f, s = reader(path)
        except (OSError, ValueError) as error:
            problems.append(f"{path}: {error}")
            continue
        passed, failed, skips = passed + p, failed + f, skips + s
    if skips:
        print(f"Skipped ({len(skips)}), each with its reason:")
        for name, reason in skips:
            print(f"  SKIPPED {name}: {reason}")
    for problem in problems:
        print(f"test-summary: cannot read {problem}")
    print(f"tests: {passed} passed, {failed} failed, {len(skips)} skipped")
    return 1 if failed or problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
