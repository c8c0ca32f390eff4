#!/bin/sh
# libkeyward.so must export exactly the kw_* API: nothing from common/,
# libsodium or jansson may leak into the ABI, and every function declared
# in keyward.h must be there.
set -eu
lib=$1
header=$2

exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRW]$/ {sub(/@.*/, "", $3); print $3}' | sort)
bad=$(printf '%s\n' "$exported" | grep -v '^kw_' || true)
if [ -n "$bad" ]; then
	echo "FAIL: symbols outside kw_* exported:" >&2
	printf '%s\n' "$bad" >&2
	exit 1
fi
declared=$(grep -oE '\bkw_[a-z_]+\(' "$header" | tr -d '(' | sort -u)
missing=""
for f in $declared; do
	printf '%s\n' "$exported" | grep -qx "$f" || missing="$missing $f"
done
if [ -n "$missing" ]; then
	echo "FAIL: declared in keyward.h but not exported:$missing" >&2
	exit 1
fi
internal=$(printf '%s\n' "$exported" | grep -E '^kw_(framer|name_check|prefix_check|glob|scope|write_all|wipe|secmem|wire|b64|path|json_get)' || true)
if [ -n "$internal" ]; then
	echo "FAIL: internal helpers exported: $internal" >&2
	exit 1
fi
echo "ok: $(printf '%s\n' "$exported" | wc -l) kw_* symbols exported"
