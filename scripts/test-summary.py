#!/usr/bin/env python3
"""Print one closing line for every meson test run in the given build dirs
(and for result files in the same JSON-lines form, such as the fuzz smoke's
BUILD/fuzz/results.json)."""
import json
import os
import sys

passed = failed = skipped = 0
for build in sys.argv[1:]:
    log = build if os.path.isfile(build) else f"{build}/meson-logs/testlog.json"
    with open(log, encoding="utf-8") as f:
        for line in f:
            result = json.loads(line).get("result")
            if result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result == "SKIP":
                skipped += 1
            else:
                failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
