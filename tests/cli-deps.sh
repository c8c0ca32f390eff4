#!/bin/sh
# The keyward CLI links no SQLite, no inih and no agent code (issue 15):
# init and restore hand the store work to keywardd's one-shot modes.
# Usage: cli-deps.sh KEYWARD [AGENT_LIBRARY.a ...]
# - ldd: neither libsqlite3 nor libinih is loaded;
# - nm -D: no sqlite3_* or ini_* function is imported;
# - nm (when the binary has a symbol table): no global symbol named
#   sqlite3_*, ini_parse*, store_* or config_load, and none that one of
#   the agent's static libraries defines.
# The installed keyward is checked by install-check.sh with the same script.
set -eu
cli=$1
shift
fail() {
	echo "FAIL: $cli: $*" >&2
	exit 1
}
[ -x "$cli" ] || fail "not an executable"

libs=$(ldd "$cli") || fail "ldd failed"
bad=$(printf '%s\n' "$libs" | grep -Ei 'libsqlite3|libinih' || true)
[ -z "$bad" ] || fail "links $(printf '%s' "$bad" | tr '\n\t' '  ')"

imports=$(nm -D --undefined-only "$cli" | awk '{sub(/@.*/, "", $2); print $2}')
bad=$(printf '%s\n' "$imports" | grep -E '^(sqlite3_|ini_)' || true)
[ -z "$bad" ] || fail "imports $(printf '%s' "$bad" | tr '\n' ' ')"

# Global symbols (upper-case type); a stripped binary has none to list.
globals=$(nm "$cli" 2>/dev/null | awk '$(NF-1) ~ /^[A-Z]$/ {sub(/@.*/, "", $NF); print $NF}' | sort -u)
bad=$(printf '%s\n' "$globals" |
	grep -E '^(sqlite3_|ini_parse|store_|config_load$)' || true)
[ -z "$bad" ] || fail "holds $(printf '%s' "$bad" | tr '\n' ' ')"
for lib in "$@"; do
	agent=$(nm -g --defined-only "$lib" 2>/dev/null |
		awk 'NF == 3 {print $3}' | sort -u)
	bad=$(printf '%s\n%s\n' "$agent" "$globals" | sort | uniq -d | grep -v '^$' || true)
	[ -z "$bad" ] || fail "holds code of ${lib##*/}: $(printf '%s' "$bad" | head -5 | tr '\n' ' ')"
done
echo "ok: $cli links no SQLite, inih or agent code ($(printf '%s\n' "$globals" | grep -c . || true) global symbols checked)"
