# keyward - the README's two commands (make run, make test) and lint.
# The build itself is meson; this file only strings the steps together.

BUILD      ?= build
INSTALL_BUILD ?= build-release
ASAN_BUILD ?= build-asan
BENCH_BUILD ?= build-bench
VG_BUILD   ?= build-valgrind
FUZZ_BUILD ?= build-fuzz
FUZZ_CC    ?= clang-14
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 5
SOURCES     = $(shell git ls-files '*.c' '*.h' 2>/dev/null || find agent cli client-lib common tests bench -name '*.[ch]')

.PHONY: run test lint build build-asan deps-run deps-test clean \
	bench deps-bench
.PHONY: test-valgrind build-valgrind
.PHONY: fuzz fuzz-smoke build-fuzz
.PHONY: install uninstall install-configure
.PHONY: deb deps-deb

run: deps-run build
	@scripts/run.sh $(BUILD)

# Most integration tests wait on daemons, Node and subprocesses more than
# they compute: TEST_JOBS at a time keep 2 cores busy (make test's budget
# is 15 minutes on 2 cores).
TEST_JOBS  ?= 4

test: deps-test build build-asan lint
	meson test -C $(BUILD) --print-errorlogs --num-processes $(TEST_JOBS)
	meson test -C $(ASAN_BUILD) --print-errorlogs \
		--num-processes $(TEST_JOBS) --timeout-multiplier 3
	$(MAKE) fuzz-smoke
	@scripts/test-summary.py $(BUILD) $(ASAN_BUILD) \
		$(FUZZ_BUILD)/fuzz/results.json

deps-run:
	@scripts/deps.sh run

deps-test:
	@scripts/deps.sh test

deps-bench:
	@scripts/deps.sh bench

deps-deb:
	@scripts/deps.sh deb

# The Debian packages keyward, libkeyward0 and libkeyward-dev, built by
# dpkg-buildpackage from a copy of the tree with packaging/debian as
# debian/, linted, and left in $(DEB_OUT) (packaging/README.md, "Debian
# packages"). make test builds and checks them too (tests/deb-check.sh).
DEB_OUT ?= build-deb
deb: deps-deb
	scripts/deb-build.sh --lintian $(DEB_OUT)

# Throughput, latency and per-process cost against an echo server, redis and
# ssh-agent, plus bench/scale.py; writes bench/results/latest.{json,md}.
# BENCH_SECONDS sets the measured seconds per scenario (default 5);
# BENCH_ARGS passes options to run.py (e.g. --perf, --no-scale).
bench: deps-bench
	@test -f $(BENCH_BUILD)/build.ninja || meson setup $(BENCH_BUILD) \
		-Dbuildtype=release -Dbench=true -Dtests=false -Dtest_hooks=true
	@scripts/set-test-hooks.sh $(BENCH_BUILD)
	ninja -C $(BENCH_BUILD)
	python3 bench/run.py --build $(BENCH_BUILD) $(BENCH_ARGS)

# The trees the tests run (this one, build-asan, build-valgrind) have the
# test suite's hooks compiled in (-Dtest_hooks=true: a movable clock and
# crash points); a tree set up without them gets them here.
build:
	@test -f $(BUILD)/build.ninja || meson setup $(BUILD) -Dtest_hooks=true
	@scripts/set-test-hooks.sh $(BUILD)
	ninja -C $(BUILD)

# make install [PREFIX=/usr] [DESTDIR=/tmp/stage]: meson install of
# $(INSTALL_BUILD), a release tree of its own (buildtype=release, no tests,
# no test hooks), never the tests' $(BUILD). The prefix is compiled in (the
# keyward path `keyward init` pins, the systemd units' ExecStart), so a
# PREFIX given here reconfigures $(INSTALL_BUILD) with it before building;
# it stays its prefix afterwards. Without PREFIX, $(INSTALL_BUILD) keeps
# the prefix it was set up with (meson's default, /usr/local, at first).
# make uninstall removes what the last install from $(INSTALL_BUILD)
# wrote, DESTDIR included (meson-logs/install-log.txt), and the
# directories that install created (an install over an earlier one
# creates none).
PREFIX ?=
DESTDIR ?=

install-configure:
	@test -f $(INSTALL_BUILD)/build.ninja || meson setup $(INSTALL_BUILD) \
		-Dbuildtype=release -Dtests=false -Dtest_hooks=false \
		$(if $(PREFIX),--prefix="$(PREFIX)")
	@$(if $(PREFIX),scripts/set-prefix.sh $(INSTALL_BUILD) "$(PREFIX)")
	ninja -C $(INSTALL_BUILD)

install: install-configure
	meson install -C $(INSTALL_BUILD) --no-rebuild \
		$(if $(DESTDIR),--destdir "$(abspath $(DESTDIR))")

uninstall:
	@test -f $(INSTALL_BUILD)/meson-logs/install-log.txt || \
		{ echo "nothing to uninstall: $(INSTALL_BUILD) has no install log" >&2; \
		exit 1; }
	ninja -C $(INSTALL_BUILD) uninstall

# AddressSanitizer + UndefinedBehaviorSanitizer build of everything;
# UBSan findings abort instead of printing and carrying on.
build-asan:
	@test -f $(ASAN_BUILD)/build.ninja || meson setup $(ASAN_BUILD) \
		-Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args=-fno-sanitize-recover=all -Dbuildtype=debug \
		-Dtest_hooks=true
	@scripts/set-test-hooks.sh $(ASAN_BUILD)
	ninja -C $(ASAN_BUILD)

# The integration suite with every keywardd under valgrind's memcheck (see
# tests/integration/README.md): a memory error or a definitely lost block
# fails the test whose daemon it was. Not part of `make test`: too slow.
test-valgrind: deps-test build-valgrind
	rm -rf $(VG_BUILD)/valgrind-logs
	mkdir -p $(VG_BUILD)/valgrind-logs
	KW_VALGRIND=1 KW_VALGRIND_LOGDIR=$(CURDIR)/$(VG_BUILD)/valgrind-logs \
		meson test -C $(VG_BUILD) --suite integration --print-errorlogs \
		--num-processes 3 --timeout-multiplier 6
	@scripts/test-summary.py $(VG_BUILD)

build-valgrind:
	@test -f $(VG_BUILD)/build.ninja || meson setup $(VG_BUILD) \
		-Dbuildtype=debug -Dtest_hooks=true
	@scripts/set-test-hooks.sh $(VG_BUILD)
	ninja -C $(VG_BUILD)

# libFuzzer (clang) builds of the targets in tests/fuzz, with ASan and UBSan.
# `make fuzz` runs each for FUZZ_SECONDS, two at a time, on a working corpus
# in $(FUZZ_BUILD)/fuzz/ (tests/fuzz/README.md); `make test` runs each for
# FUZZ_SMOKE_SECONDS (5 s) from the committed seeds only. Only the fuzz
# targets are built there (one per corpus directory), not the programs.
FUZZ_TARGETS = $(addprefix tests/fuzz/fuzz_,$(notdir $(wildcard tests/fuzz/corpus/*)))
build-fuzz:
	@test -f $(FUZZ_BUILD)/build.ninja || CC=$(FUZZ_CC) meson setup \
		$(FUZZ_BUILD) -Dfuzz=true -Dtests=false \
		-Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args=-fno-sanitize-recover=all
	ninja -C $(FUZZ_BUILD) -j2 $(FUZZ_TARGETS)

fuzz: deps-test build-fuzz
	scripts/fuzz.py $(FUZZ_BUILD) $(FUZZ_SECONDS) 2

fuzz-smoke: build-fuzz
	scripts/fuzz.py --smoke $(FUZZ_BUILD) $(FUZZ_SMOKE_SECONDS) 2

lint:
	clang-format --dry-run --Werror $(SOURCES)
	cppcheck --quiet --error-exitcode=1 --std=c11 --inline-suppr \
		--enable=warning,portability,performance \
		--suppress=missingIncludeSystem \
		-D__GNUC__ -D_GNU_SOURCE \
		-I common $(addprefix -I ,$(wildcard agent/*/)) -I client-lib/include \
		agent cli client-lib common bench tests/fuzz

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(VG_BUILD) $(FUZZ_BUILD) $(INSTALL_BUILD)
	rm -rf $(DEB_OUT)
