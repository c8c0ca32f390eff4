#!/bin/sh
# set-test-hooks.sh BUILD: make sure the meson build directory BUILD has
# -Dtest_hooks=true (the test suite's clock and crash hooks, which the
# integration tests and bench/scale.py need), reconfiguring only when it
# has not: a tree set up before the option existed, or by hand without
# it. Used by make's build, build-asan, build-valgrind and bench.
set -eu
build=$1
now=$(meson introspect "$build" --buildoptions | python3 -c '
import json, sys
v = [o["value"] for o in json.load(sys.stdin) if o["name"] == "test_hooks"]
print(str(v[0]).lower() if v else "missing")')
if [ "$now" != true ]; then
	echo "$build: test_hooks $now -> true"
	meson setup --reconfigure "$build" -Dtest_hooks=true >/dev/null
fi
