#!/bin/sh
# Install the Debian packages keyward needs, but only those missing.
# Usage: deps.sh run|test|bench|deb   (test adds the linters and test tools;
# bench adds what test needs plus the programs `make bench` compares with;
# deb adds what `make deb` needs to build and lint the Debian packages,
# which test needs too: make test builds and checks them)
set -eu

mode=${1:-run}
missing=""

need_pc() { # pkg-config-name debian-package
	pkg-config --exists "$1" 2>/dev/null || missing="$missing $2"
}
need_cmd() { # command debian-package
	command -v "$1" >/dev/null 2>&1 || missing="$missing $2"
}
need_pkg() { # debian-package (one with no command or .pc file to look for)
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q ' installed$' ||
		missing="$missing $1"
}

need_cmd pkg-config pkg-config
need_cmd cc gcc
need_cmd meson meson
need_cmd ninja ninja-build
need_cmd python3 python3
if command -v pkg-config >/dev/null 2>&1; then
	need_pc libsodium libsodium-dev
	need_pc sqlite3 libsqlite3-dev
	need_pc jansson libjansson-dev
	need_pc inih libinih-dev
	need_pc libcurl libcurl4-openssl-dev
	need_pc cmocka libcmocka-dev
	need_pc libseccomp libseccomp-dev # the sandbox (agent/base/sandbox.c)
else
	missing="$missing libsodium-dev libsqlite3-dev libjansson-dev"
	missing="$missing libinih-dev libcurl4-openssl-dev libcmocka-dev"
	missing="$missing libseccomp-dev"
fi
if [ "$mode" = test ] || [ "$mode" = bench ]; then
	need_cmd clang-format clang-format
	need_cmd cppcheck cppcheck
	need_cmd setpriv util-linux
	need_cmd sqlite3 sqlite3
	need_cmd openssl openssl
	# test_systemd: verify the units, socket activation
	need_cmd systemd-analyze systemd
	need_cmd systemd-socket-activate systemd
	need_cmd valgrind valgrind # make test-valgrind
	# The Node binding's tests and the MCP end-to-end test (the example
	# server's SDK comes from npm during the test).
	need_cmd node nodejs
	need_cmd npm npm
	# The shell completions' test runs each shell's own completion.
	need_cmd zsh zsh
	need_cmd fish fish
	# The Python binding's pip install test builds it offline with
	# Debian's interpreter (pip, setuptools, and wheel for setuptools'
	# bdist_wheel before 70.1).
	for mod in pip setuptools wheel; do
		/usr/bin/python3 -c "import importlib.metadata as m; m.version('$mod')" \
			>/dev/null 2>&1 || missing="$missing python3-$mod"
	done
	# libFuzzer (make fuzz, and the fuzz smoke of make test): the runtime
	# is in libclang-rt-14-dev, which clang-14 only recommends.
	need_cmd clang-14 clang-14
	ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a \
		>/dev/null 2>&1 || missing="$missing libclang-rt-14-dev"
fi
if [ "$mode" = deb ] || [ "$mode" = test ] || [ "$mode" = bench ]; then
	need_cmd dpkg-buildpackage dpkg-dev
	need_cmd dh debhelper
	need_cmd fakeroot fakeroot
	need_cmd lintian lintian
	need_pkg build-essential # dpkg-buildpackage checks for it
fi
if [ "$mode" = bench ]; then
	need_cmd redis-server redis-server
	need_cmd ssh-agent openssh-client
	need_cmd ssh-add openssh-client
	need_cmd pass pass
	need_cmd gpg gnupg
	need_cmd hyperfine hyperfine
fi

[ -z "$missing" ] && exit 0

echo "keyward: installing missing Debian packages:$missing"
if [ "$(id -u)" -eq 0 ]; then
	sudo=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
	sudo="sudo"
else
	echo "keyward: these packages are missing:$missing" >&2
	echo "keyward: run as root, or install them first:" >&2
	echo "    sudo apt-get install$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086 # word splitting of the list is intended
$sudo apt-get install -y -qq --no-install-recommends $missing
