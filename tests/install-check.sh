#!/bin/sh
# make install of BUILD (as INSTALL_BUILD: the tree under test, not make
# install's own release tree) into a scratch DESTDIR, then:
# - everything the install layout lists is there: binaries, library,
#   header, keyward.pc, man pages, the docs (README, docs/*.md, the
#   policies README and examples) and the example policies;
# - examples/hello.c (the README's C example) builds against the installed
#   header, keyward.pc and both the shared and the static library, and
#   each fetches a secret from a daemon started from the installed
#   binaries (a usable SDK);
# - a store made by the build's keyward is administered by the installed
#   keyward, and the other way round (keyward policy owner add);
# - the installed keyward links no SQLite, inih or agent code (ldd, nm),
#   and its init runs the keywardd installed beside it;
# - make uninstall removes what make install wrote.
# The user's own install log (make uninstall reads it) is kept aside.
set -eu

build=$1
src=$2
tmp=$(mktemp -d /tmp/kw-install-XXXXXX)
log="$build/meson-logs/install-log.txt"
pids=""
cleanup() {
	for p in $pids; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	if [ -e "$tmp/install-log.txt" ]; then
		mv "$tmp/install-log.txt" "$log"
	else
		rm -f "$log"
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
# Moved, not copied: after a sudo make install it may be root's.
[ ! -e "$log" ] || mv "$log" "$tmp/install-log.txt"
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

make -s -C "$src" install INSTALL_BUILD="$build" DESTDIR="$tmp/dest" >/dev/null
prefix=$(meson introspect "$build" --buildoptions |
	python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')
root="$tmp/dest$prefix"
pc=$(dirname "$(find "$root" -name keyward.pc)")
libexec=$(meson introspect "$build" --buildoptions |
	python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="libexecdir"][0])')
for f in bin/keyward bin/keywardd "$libexec/keyward/keyward-net" include/keyward.h; do
	[ -e "$root/$f" ] || fail "$f not installed"
done
for m in man1/keyward.1 man8/keywardd.8 man5/keyward.ini.5 \
	man5/keyward-policy.5 man3/libkeyward.3; do
	[ -s "$root/share/man/$m" ] || { echo "FAIL: man page $m not installed" >&2; exit 1; }
done
# The docs the man pages and init point to, as in the source tree.
doc="$root/share/doc/keyward"
same() {
	cmp -s "$1" "$2" || fail "$2 not installed (or not as $1)"
}
same "$src/README.md" "$doc/README.md"
same "$src/policies/README.md" "$doc/policies/README.md"
for f in "$src"/docs/*.md; do
	same "$f" "$doc/docs/${f##*/}"
done
for f in "$src"/policies/examples/*; do
	same "$f" "$doc/policies/examples/${f##*/}"
	same "$f" "$root/share/keyward/policies/${f##*/}"
done

pcflags() {
	PKG_CONFIG_PATH="$pc" pkg-config --define-variable=prefix="$root" "$@" keyward
}
libdir=$(pcflags --variable=libdir)
cc -Wall -Werror -o "$tmp/hello-shared" "$src/examples/hello.c" \
	$(pcflags --cflags --libs) -Wl,-rpath,"$libdir"
cc -Wall -Werror -o "$tmp/hello-static" "$src/examples/hello.c" \
	$(pcflags --cflags) "$libdir/libkeyward.a" \
	$(pkg-config --libs libsodium jansson) -pthread

unset XDG_RUNTIME_DIR
# use_store NAME: point KEYWARD_HOME and KEYWARD_SOCKET at store NAME.
use_store() {
	export KEYWARD_HOME="$tmp/$1" KEYWARD_SOCKET="$tmp/$1/agent.sock"
}
# start_agent KEYWARDD: run it on the current store; wait until it answers
# (denied counts: status exits 0 whenever the agent answers).
start_agent() {
	"$1" 2>>"$KEYWARD_HOME.log" &
	pids="$pids $!"
	i=0
	until "$root/bin/keyward" status >/dev/null 2>&1; do
		i=$((i + 1))
		[ "$i" -lt 300 ] || { cat "$KEYWARD_HOME.log" >&2; fail "keywardd did not start"; }
		sleep 0.1
	done
}

sh "$src/tests/cli-deps.sh" "$root/bin/keyward"

use_store home
mkdir -m 700 "$KEYWARD_HOME"
"$root/bin/keyward" init >/dev/null
start_agent "$root/bin/keywardd"
# The installed agent found the installed helper (under DESTDIR too).
grep -q "keyward-net started" "$KEYWARD_HOME.log" ||
	{ cat "$KEYWARD_HOME.log" >&2; fail "the installed keywardd did not start keyward-net"; }
value="ghp_install_check_$$"
printf %s "$value" | "$root/bin/keyward" put github/token >/dev/null
# Deny by default: the example may read its one secret only once a policy
# names it (as README.md shows).
for kind in shared static; do
	printf '[client "hello-%s"]\nexe = %s\nread = github/token\n\n' \
		"$kind" "$tmp/hello-$kind"
done >"$KEYWARD_HOME/policies/10-hello.ini"
chmod 600 "$KEYWARD_HOME/policies/10-hello.ini"
got=$("$tmp/hello-shared" 2>&1 || true)
case "$got" in
*"permission denied"*) ;;
*) echo "FAIL: an unlisted program was not refused before reload: '$got'" >&2; exit 1 ;;
esac
"$root/bin/keyward" policy reload >/dev/null
for kind in shared static; do
	got=$("$tmp/hello-$kind")
	[ "$got" = "$value" ] || { echo "FAIL: hello-$kind printed '$got'" >&2; exit 1; }
done
echo "ok: installed SDK builds the README example (shared and static) and it fetches a secret"

# The store the installed keyward made, administered by the build's: it is
# refused, told what to run, runs it (the agent reloads on SIGHUP: the
# build's keyward may not ask it to), and then reads the secret.
out=$("$build/cli/keyward" status)
case "$out" in
*"denied to this program"*"run: $build/cli/keyward policy owner add"*) ;;
*) fail "the build's keyward was not told how to get in: '$out'" ;;
esac
"$build/cli/keyward" policy owner add >"$tmp/add.out" ||
	{ cat "$tmp/add.out" >&2; fail "policy owner add (build's keyward)"; }
got=$("$build/cli/keyward" get github/token)
[ "$got" = "$value" ] || fail "the build's keyward read '$got'"

# The other way round: a store made by the build's keyward (as make run
# does) names where this build installs keyward, so a real make install
# is let in as it is; the DESTDIR copy is added by the build's keyward
# through policy.reload.
use_store home2
mkdir -m 700 "$KEYWARD_HOME"
"$build/cli/keyward" init >/dev/null
"$build/cli/keyward" policy owner list |
	grep -Eq "^owner-cli(-[0-9]+)? +$prefix/bin/keyward( |$)" ||
	fail "init did not pin $prefix/bin/keyward"
start_agent "$build/agent/keywardd"
"$build/cli/keyward" policy owner add "$(realpath "$root/bin/keyward")" >/dev/null
printf %s "$value" | "$root/bin/keyward" put other/token >/dev/null
got=$("$root/bin/keyward" get other/token)
[ "$got" = "$value" ] || fail "the installed keyward read '$got'"
echo "ok: the build's and the installed keyward administer each other's stores"

make -s -C "$src" uninstall INSTALL_BUILD="$build" >/dev/null
[ ! -e "$tmp/dest" ] || { find "$tmp/dest" >&2; fail "make uninstall left files"; }
echo "ok: make uninstall removed everything make install wrote"
