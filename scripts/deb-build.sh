#!/bin/sh
# Build keyward's Debian packages (packaging/debian) into OUTDIR: copy the
# source tree (its git-tracked files, as they are in the work tree) into a
# temporary directory, put packaging/debian there as debian/, and run
# dpkg-buildpackage -us -uc -b in it. OUTDIR then holds the three .debs,
# the .changes and the .buildinfo, and nothing else.
# Usage: deb-build.sh [--lintian] OUTDIR
#   --lintian  also run lintian on the packages; an error, or a warning
#              not overridden in packaging/debian/*.lintian-overrides,
#              fails the build.
# KW_DEB_JOBS sets the parallel jobs of the build (default 2).
set -eu

lint=0
if [ "${1:-}" = --lintian ]; then
	lint=1
	shift
fi
[ $# -eq 1 ] || { echo "usage: deb-build.sh [--lintian] OUTDIR" >&2; exit 2; }
mkdir -p "$1"
out=$(cd "$1" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
jobs=${KW_DEB_JOBS:-2}
case "$jobs" in
'' | *[!0-9]*) echo "deb-build: KW_DEB_JOBS must be a number" >&2; exit 2 ;;
esac

# The package version is meson's project version plus a Debian revision;
# a version bump in meson.build needs a new debian/changelog entry.
version=$(meson introspect --projectinfo "$src/meson.build" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
debversion=$(dpkg-parsechangelog -l "$src/packaging/debian/changelog" -S Version)
if [ "${debversion%-*}" != "$version" ]; then
	echo "deb-build: packaging/debian/changelog is at $debversion but" \
		"meson.build's version is $version: add a changelog entry" >&2
	exit 1
fi

tmp=$(mktemp -d /tmp/kw-deb-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
tree="$tmp/keyward-$version"
mkdir "$tree"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$src" && git ls-files -z | tar --null -T - -cf -) | tar -C "$tree" -xf -
else
	# A release tarball: everything but build trees.
	(cd "$src" && tar --exclude='./build*' --exclude=./.git -cf - .) |
		tar -C "$tree" -xf -
fi
rm -rf "$tree/debian"
cp -R "$src/packaging/debian" "$tree/debian"

# No -dbgsym packages: make deb ships the three packages, nothing else.
DEB_BUILD_OPTIONS="noautodbgsym${DEB_BUILD_OPTIONS:+ $DEB_BUILD_OPTIONS}"
export DEB_BUILD_OPTIONS
log="$tmp/build.log"
if ! (cd "$tree" && dpkg-buildpackage -us -uc -b -J"$jobs") >"$log" 2>&1; then
	tail -n 60 "$log" >&2
	echo "deb-build: dpkg-buildpackage failed (last 60 lines above)" >&2
	exit 1
fi

rm -f "$out"/*.deb "$out"/*.changes "$out"/*.buildinfo
cp "$tmp"/*.deb "$tmp"/*.changes "$tmp"/*.buildinfo "$out"/

if [ "$lint" -eq 1 ]; then
	# --suppress-tags-from-file is not used: overrides live with the
	# packages (debian/*.lintian-overrides), each with its reason.
	lintian --fail-on error,warning --info "$out"/*.changes
fi
ls "$out"
