#!/bin/sh
# set-prefix.sh BUILD PREFIX: give the meson build directory BUILD the
# install prefix PREFIX, reconfiguring only when it differs (a reconfigure
# rebuilds what has the prefix compiled in). Used by make install PREFIX=.
set -eu
build=$1
prefix=$2
case "$prefix" in
/*) ;;
*) echo "PREFIX must be an absolute path: $prefix" >&2; exit 2 ;;
esac
now=$(meson introspect "$build" --buildoptions | python3 -c '
import json, sys
print([o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"][0])')
if [ "$now" != "$prefix" ]; then
	echo "$build: prefix $now -> $prefix"
	meson configure "$build" -Dprefix="$prefix"
fi
