#!/bin/sh
# Build the Debian packages (scripts/deb-build.sh --lintian: lintian errors
# and unexplained warnings fail), then check them as a user of each would:
# - dpkg -c: the layout's key paths are in the right package, every file
#   meson installs (BUILD's meson install) is in exactly the package its
#   kind belongs to, and nothing else is shipped;
# - dpkg -x of all three into a scratch root: the extracted keyward and
#   keywardd report meson's version and do a put/get round trip, and the
#   README's C example, built against the extracted libkeyward-dev, reads
#   the secret through the extracted libkeyward.so.0;
# - the test suite's hooks (KEYWARD_TEST_CLOCK, KEYWARD_TEST_CRASH,
#   KEYWARD_TEST_OAUTH_CRASH) are in
#   no packaged binary or library, and are in BUILD's keywardd (built with
#   -Dtest_hooks=true, as make's test trees are), so that the first check
#   cannot pass because the hooks were renamed.
# Usage: deb-check.sh BUILD SRC [DEBDIR]
#   DEBDIR: check the packages already there (make deb's build-deb/)
#   instead of building them.
#   KW_BIN_KEYWARDD: BUILD's keywardd (default BUILD/agent/keywardd).
set -eu

build=$1
src=$2
debdir=${3:-}
tmp=$(mktemp -d /tmp/kw-debcheck-XXXXXX)
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

if [ -z "$debdir" ]; then
	debdir="$tmp/debs"
	"$src/scripts/deb-build.sh" --lintian "$debdir" >/dev/null
fi
version=$(meson introspect --projectinfo "$src/meson.build" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
debs=""
for p in keyward libkeyward0 libkeyward-dev; do
	set -- "$debdir/${p}_"*.deb
	if [ $# -ne 1 ] || [ ! -f "$1" ]; then
		fail "no single $p .deb in $debdir"
	fi
	v=$(dpkg-deb -f "$1" Version)
	[ "${v%-*}" = "$version" ] || fail "$p is version $v, meson.build says $version"
	# Files and links only, as usr/..., one a line; without the .gz that
	# dh_compress gives man pages and larger docs.
	dpkg -c "$1" | awk '$1 !~ /^d/ { print $6 }' |
		sed -e 's|^\./||' -e 's#^\(usr/share/\(man\|doc\)/.*\)\.gz$#\1#' |
		sort >"$tmp/$p.list"
	debs="$debs $1"
done

# Where each kind of file belongs (packaging/README.md, "Debian packages").
owner() {
	case "$1" in
	usr/lib/"$ma"/libkeyward.so.0*) echo libkeyward0 ;;
	usr/include/* | usr/lib/"$ma"/libkeyward.a | usr/lib/"$ma"/libkeyward.so | \
		usr/lib/"$ma"/pkgconfig/* | usr/share/man/man3/*) echo libkeyward-dev ;;
	*) echo keyward ;;
	esac
}

for path in keyward:usr/bin/keyward keyward:usr/bin/keywardd \
	keyward:usr/libexec/keyward/keyward-net \
	keyward:usr/lib/systemd/user/keyward.service \
	keyward:usr/lib/systemd/user/keyward.socket \
	keyward:usr/lib/systemd/user/keyward-spawner.service \
	keyward:usr/lib/systemd/user/keyward-spawner.socket \
	keyward:usr/lib/systemd/system/keywardd-spawner@.service \
	keyward:usr/lib/systemd/system/keywardd-spawner@.socket \
	keyward:usr/share/man/man1/keyward.1 \
	keyward:usr/share/man/man8/keywardd.8 \
	libkeyward0:usr/lib/"$ma"/libkeyward.so.0 \
	libkeyward0:usr/lib/"$ma"/libkeyward.so.0.1.0 \
	libkeyward-dev:usr/include/keyward.h \
	libkeyward-dev:usr/lib/"$ma"/libkeyward.a \
	libkeyward-dev:usr/lib/"$ma"/libkeyward.so \
	libkeyward-dev:usr/lib/"$ma"/pkgconfig/keyward.pc; do
	grep -qx "${path#*:}" "$tmp/${path%%:*}.list" ||
		fail "${path#*:} is not in ${path%%:*}"
done

# What meson installs (BUILD's own install, into a scratch DESTDIR), as
# paths under /usr.
DESTDIR="$tmp/dest" meson install -C "$build" --quiet --no-rebuild >/dev/null
prefix=$(meson introspect "$build" --buildoptions |
	python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')
(cd "$tmp/dest$prefix" && find . -type f -o -type l) | sed 's|^\./|usr/|' |
	sort >"$tmp/meson.list"
[ -s "$tmp/meson.list" ] || fail "meson install of $build installed nothing"
for p in keyward libkeyward0 libkeyward-dev; do
	# debhelper adds these to each: copyright, changelog, and the lintian
	# overrides of packaging/debian.
	grep -vx -e "usr/share/doc/$p/copyright" \
		-e "usr/share/doc/$p/changelog.Debian" \
		-e "usr/share/lintian/overrides/$p" "$tmp/$p.list" \
		>"$tmp/$p.own" || true
	while IFS= read -r f; do
		[ "$(owner "$f")" = "$p" ] || fail "$f is in $p, not in $(owner "$f")"
		grep -qx "$f" "$tmp/meson.list" ||
			fail "$p ships $f, which meson does not install"
	done <"$tmp/$p.own"
done
cat "$tmp/keyward.list" "$tmp/libkeyward0.list" "$tmp/libkeyward-dev.list" |
	sort >"$tmp/all.list"
dups=$(uniq -d "$tmp/all.list")
[ -z "$dups" ] || fail "in two packages: $dups"
missing=$(comm -23 "$tmp/meson.list" "$tmp/all.list")
[ -z "$missing" ] || fail "meson installs these, no package has them: $missing"

# The packages as installed, in a scratch root.
root="$tmp/root"
for d in $debs; do
	dpkg -x "$d" "$root"
done
LD_LIBRARY_PATH="$root/usr/lib/$ma${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LD_LIBRARY_PATH
# Test hooks: in the test build, in nothing packaged. grep -r reads the
# binaries whole; the docs, which name the hooks, are not searched.
test_keywardd=${KW_BIN_KEYWARDD:-$build/agent/keywardd}
for name in KEYWARD_TEST_CLOCK KEYWARD_TEST_CRASH KEYWARD_TEST_OAUTH_CRASH; do
	grep -q "$name" "$test_keywardd" ||
		fail "$test_keywardd (a test build) does not contain $name: is" \
			"-Dtest_hooks off there, or was the hook renamed (then" \
			"rename it in this check too)?"
done
hooked=$(grep -rl KEYWARD_TEST_ "$root/usr/bin" "$root/usr/lib" || true)
[ -z "$hooked" ] || fail "the test hooks are compiled into: $hooked"
[ -x "$root/usr/bin/keywardd" ] && [ -x "$root/usr/bin/keyward" ] ||
	fail "no keyward and keywardd under $root/usr/bin to search"

got=$("$root/usr/bin/keyward" --version)
[ "$got" = "keyward $version" ] || fail "keyward --version printed '$got'"
got=$("$root/usr/bin/keywardd" --version)
[ "$got" = "keywardd $version" ] || fail "keywardd --version printed '$got'"

pcdir="$root/usr/lib/$ma/pkgconfig"
pcflags() {
	PKG_CONFIG_PATH="$pcdir" pkg-config --define-variable=prefix="$root/usr" "$@" keyward
}
# shellcheck disable=SC2046 # pkg-config's flags are words
cc -Wall -Werror -o "$tmp/hello" "$src/examples/hello.c" \
	$(pcflags --cflags --libs)

export KEYWARD_HOME="$tmp/home" KEYWARD_SOCKET="$tmp/home/agent.sock"
unset XDG_RUNTIME_DIR
mkdir -m 700 "$KEYWARD_HOME"
"$root/usr/bin/keyward" init >/dev/null
"$root/usr/bin/keywardd" 2>"$tmp/keywardd.log" &
pid=$!
i=0
until "$root/usr/bin/keyward" status >/dev/null 2>&1; do
	i=$((i + 1))
	if [ "$i" -ge 300 ] || ! kill -0 "$pid" 2>/dev/null; then
		cat "$tmp/keywardd.log" >&2
		fail "the extracted keywardd did not start"
	fi
	sleep 0.1
done
grep -q "keyward-net started" "$tmp/keywardd.log" ||
	{ cat "$tmp/keywardd.log" >&2; fail "the extracted keywardd did not start keyward-net"; }
value="deb_check_$$"
printf %s "$value" | "$root/usr/bin/keyward" put github/token >/dev/null
got=$("$root/usr/bin/keyward" get github/token)
[ "$got" = "$value" ] || fail "keyward get did not return what keyward put stored"

printf '[client "hello"]\nexe = %s\nread = github/token\n' "$tmp/hello" \
	>"$KEYWARD_HOME/policies/10-hello.ini"
chmod 600 "$KEYWARD_HOME/policies/10-hello.ini"
"$root/usr/bin/keyward" policy reload >/dev/null
got=$("$tmp/hello") || fail "hello (extracted libkeyward) could not read the secret"
[ "$got" = "$value" ] || fail "hello, built against libkeyward-dev, read another value"
echo "ok: three packages, layout as meson installs it," \
	"put/get and the C example work from the extracted packages"
