# keyward - the README's two commands (make run, make test) and lint.
# The build itself is meson; this file only strings the steps together.

BUILD      ?= build
ASAN_BUILD ?= build-asan
SOURCES     = $(shell git ls-files '*.c' '*.h' 2>/dev/null || find agent cli client-lib common tests -name '*.[ch]')

.PHONY: run test lint build build-asan deps-run deps-test clean

run: deps-run build
	@scripts/run.sh $(BUILD)

test: deps-test build build-asan lint
	meson test -C $(BUILD) --print-errorlogs --num-processes 2
	meson test -C $(ASAN_BUILD) --print-errorlogs --num-processes 2 \
		--timeout-multiplier 3
	@scripts/test-summary.py $(BUILD) $(ASAN_BUILD)

deps-run:
	@scripts/deps.sh run

deps-test:
	@scripts/deps.sh test

build:
	@test -f $(BUILD)/build.ninja || meson setup $(BUILD)
	ninja -C $(BUILD)

# AddressSanitizer + UndefinedBehaviorSanitizer build of everything;
# UBSan findings abort instead of printing and carrying on.
build-asan:
	@test -f $(ASAN_BUILD)/build.ninja || meson setup $(ASAN_BUILD) \
		-Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args=-fno-sanitize-recover=all -Dbuildtype=debug
	ninja -C $(ASAN_BUILD)

lint:
	clang-format --dry-run --Werror $(SOURCES)
	cppcheck --quiet --error-exitcode=1 --std=c11 --inline-suppr \
		--enable=warning,portability,performance \
		--suppress=missingIncludeSystem \
		-D__GNUC__ -D_GNU_SOURCE \
		-I common -I agent -I client-lib/include \
		agent cli client-lib common

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
