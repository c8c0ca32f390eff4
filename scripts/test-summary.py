#!/usr/bin/env python3
"""Print one closing line, "N passed, N failed, N skipped", for every meson
test run in the given build dirs (and for result files in the same
JSON-lines form, such as the fuzz smoke's BUILD/fuzz/results.json), then
every skip with its reason.

Tests are counted one by one where the program reports them: an
integration group by its "integration-result:" line (tests/integration/
run.py), a cmocka program by its per-test "[       OK ]" and
"[  SKIPPED ]" lines. Any other test counts as one, and so does a test
that failed without saying how many of its own failed.

With KW_REQUIRE_ALL=1 (CI) any skip fails the run, except an integration
test's skip whose reason run.py accepted (harness.ACCEPTED_SKIPS)."""
import json
import os
import re
import sys

RESULT_PREFIX = "integration-result: "
CMOCKA_OK = re.compile(r"^\[       OK \] \S+$", re.M)
CMOCKA_SKIP = re.compile(r"^\[  SKIPPED \] (\S+)$", re.M)
PASSING = ("OK", "EXPECTEDFAIL", "SKIP")


def integration_result(stdout):
    """The last integration-result object in stdout, or None."""
    found = None
    for line in stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            try:
                found = json.loads(line[len(RESULT_PREFIX):])
            except ValueError:
                found = None
    return found


def count(entry, where):
    """(passed, failed, skips) of one test log entry; skips are
    (where, test, reason, accepted-or-None)."""
    name = entry.get("name", "?")
    result = entry.get("result")
    stdout = entry.get("stdout") or ""
    ok = result in PASSING
    res = integration_result(stdout)
    if res is not None:
        skips = [(where, s["test"], s["reason"], s["accepted"])
                 for s in res["skipped"]]
        failed = res["failed"] if ok else max(1, res["failed"])
        return res["passed"], failed, skips
    if not ok:
        return 0, 1, []
    passed = len(CMOCKA_OK.findall(stdout))
    skipped = CMOCKA_SKIP.findall(stdout)
    if passed or skipped:
        return passed, 0, [(where, "%s %s" % (name, t),
                            "cmocka skip(), no reason given", None)
                           for t in skipped]
    if result == "SKIP":
        return 0, 0, [(where, name, "meson: the test exited 77", None)]
    return 1, 0, []


def main(args):
    passed = failed = 0
    skips = []
    for build in args:
        log = build if os.path.isfile(build) \
            else f"{build}/meson-logs/testlog.json"
        with open(log, encoding="utf-8") as f:
            for line in f:
                p, n, s = count(json.loads(line), build)
                passed += p
                failed += n
                skips += s
    print(f"{passed} passed, {failed} failed, {len(skips)} skipped")
    for where, test, reason, accepted in skips:
        note = " (accepted)" if accepted else ""
        print(f"  skipped in {where}: {test}: {reason}{note}")
    strict = os.environ.get("KW_REQUIRE_ALL", "") not in ("", "0")
    refused = [s for s in skips if s[3] is None]
    if strict and refused:
        print(f"KW_REQUIRE_ALL=1: {len(refused)} skip(s) without an "
              "accepted reason (tests/integration/README.md lists those)")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
