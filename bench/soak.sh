#!/bin/bash
# Soak test of keywardd (issue 7; not run in CI).
#
#   bench/soak.sh [BUILD_DIR]          (default build)
#
# Starts BUILD_DIR/agent/keywardd on a temporary KEYWARD_HOME under /tmp,
# runs bench/soak_load.py (mixed concurrent load: secret get/put/list,
# apikey.verify, token.verify, connect/disconnect churn, rotations, audit
# queries, a watcher) for SOAK_SECONDS, and samples the daemon's memory from
# /proc/PID/status every SOAK_SAMPLE seconds into a CSV.
#
# Pass: the daemon is alive at the end, the load saw no unexpected error,
# and the RSS growth after the warm-up (the larger of 60 s and 10 % of the
# run) is below SOAK_MAX_GROWTH_KIB. Growth is the last sample's VmRSS minus
# the first sample at or after the warm-up; the largest sample after the
# warm-up is reported too. Exit 0 on pass, 1 on failure (with the numbers),
# 2 on a usage or setup error.
#
# Environment:
#   SOAK_SECONDS          length of the load (default 600)
#   SOAK_SAMPLE           seconds between samples (default 10)
#   SOAK_CSV              where the samples go (default
#                         /tmp/keyward-soak-YYYYmmdd-HHMMSS.csv; kept)
#   SOAK_THREADS          load threads per kind of work (default 1)
#   SOAK_BURST            also open this many connections at once every 5 s
#                         (default 0: connection churn is one at a time)
#   SOAK_MAX_GROWTH_KIB   growth limit (default 1024, i.e. 1 MiB)
#   SOAK_KEEP=1           keep the temporary home (for inspection)
#
# Every process started here is killed by its PID on exit, error or Ctrl-C,
# and the temporary home is removed.

set -u

here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
seconds=${SOAK_SECONDS:-600}
sample=${SOAK_SAMPLE:-10}
threads=${SOAK_THREADS:-1}
max_growth=${SOAK_MAX_GROWTH_KIB:-1024}
burst=${SOAK_BURST:-0}
csv=${SOAK_CSV:-/tmp/keyward-soak-$(date +%Y%m%d-%H%M%S).csv}

die() {
	echo "soak: $*" >&2
	exit 2
}

for v in "$seconds" "$sample" "$threads" "$max_growth"; do
	[[ $v =~ ^[0-9]+$ && $v -gt 0 ]] || die "bad number: '$v'"
done
[[ $burst =~ ^[0-9]+$ && $burst -le 240 ]] ||
	die "SOAK_BURST must be 0 to 240 (max_connections is 256)"
keywardd=$(realpath -e "$build/agent/keywardd" 2>/dev/null) ||
	die "no $build/agent/keywardd (ninja -C $build first)"
keyward=$(realpath -e "$build/cli/keyward" 2>/dev/null) ||
	die "no $build/cli/keyward"
# The interpreter itself, not a wrapper (pyenv shims): the policy names
# the executable the daemon sees in /proc/PID/exe.
python=$(python3 -c 'import os, sys; print(os.path.realpath(sys.executable))') ||
	die "python3 not found"

warmup=$((seconds / 10))
((warmup < 60)) && warmup=60
((warmup >= seconds)) && die "SOAK_SECONDS=$seconds leaves nothing after \
the ${warmup} s warm-up; use at least $((warmup + 2 * sample))"

root=$(mktemp -d /tmp/kwsoak-XXXXXXXX) || die "mktemp failed"
home=$root/home
work=$root/work
daemon_pid=
load_pid=

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	trap - EXIT INT TERM
	[[ -n $load_pid ]] && kill "$load_pid" 2>/dev/null
	if [[ -n $daemon_pid ]] && kill -0 "$daemon_pid" 2>/dev/null; then
		kill -TERM "$daemon_pid" 2>/dev/null
		for _ in $(seq 100); do
			kill -0 "$daemon_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$daemon_pid" 2>/dev/null
	fi
	[[ -n $load_pid ]] && wait "$load_pid" 2>/dev/null
	[[ -n $daemon_pid ]] && wait "$daemon_pid" 2>/dev/null
	if [[ ${SOAK_KEEP:-} == 1 ]]; then
		echo "soak: keeping $root" >&2
	else
		rm -rf "$root"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -m 700 "$home" "$work" || die "cannot create $home"
cat >"$home/keyward.ini" <<EOF
[agent]
max_connections = 256
max_connections_per_uid = 256
idle_timeout_ms = 60000

[store]
max_versions = 5

[kdf]
opslimit = 1
memlimit_kib = 8192
EOF
chmod 600 "$home/keyward.ini"

export KEYWARD_HOME=$home KEYWARD_SOCKET=$home/agent.sock HOME=$work
unset XDG_RUNTIME_DIR KEYWARD_TEST_CLOCK KEYWARD_TEST_CRASH KEYWARD_TOKEN

"$keyward" init >"$work/init.log" 2>&1 </dev/null ||
	die "keyward init failed: $(tail -3 "$work/init.log")"
# keyward init made the directory (00-owner.ini); make it if it did not.
[[ -d $home/policies ]] || mkdir -m 700 "$home/policies"
cat >"$home/policies/50-soak.ini" <<EOF
[client "soak-python"]
exe = $python
admin = yes
read = **
write = **
list = **
rotate = **
verify = **
EOF
chmod 600 "$home/policies/50-soak.ini"

"$keywardd" </dev/null >>"$work/keywardd.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 300); do
	[[ -S $KEYWARD_SOCKET ]] && break
	kill -0 "$daemon_pid" 2>/dev/null ||
		die "keywardd exited: $(tail -5 "$work/keywardd.log")"
	sleep 0.1
done
[[ -S $KEYWARD_SOCKET ]] || die "keywardd did not create its socket"

mem_line() { # t: seconds since start of the load
	local t=$1 rss hwm anon file thr fds
	read -r rss hwm anon file thr < <(awk '
		/^VmRSS:/ {r=$2} /^VmHWM:/ {h=$2} /^RssAnon:/ {a=$2}
		/^RssFile:/ {f=$2} /^Threads:/ {n=$2}
		END {print r, h, a, f, n}' "/proc/$daemon_pid/status") || return 1
	fds=$(find "/proc/$daemon_pid/fd" -mindepth 1 -maxdepth 1 | wc -l)
	echo "$t,$rss,$hwm,$anon,$file,$thr,$fds"
}

echo "seconds,rss_kib,hwm_kib,anon_kib,file_kib,threads,fds" >"$csv" ||
	die "cannot write $csv"
echo "soak: keywardd pid $daemon_pid, ${seconds} s of load, warm-up" \
	"${warmup} s, samples every ${sample} s to $csv"

"$python" "$here/soak_load.py" --socket "$KEYWARD_SOCKET" \
	--seconds "$seconds" --threads-per-kind "$threads" --burst "$burst" \
	>"$work/load.json" 2>"$work/load.err" &
load_pid=$!

start=$SECONDS
mem_line 0 >>"$csv"
next=$sample
while kill -0 "$load_pid" 2>/dev/null; do
	sleep 1
	t=$((SECONDS - start))
	if ((t >= next)); then
		kill -0 "$daemon_pid" 2>/dev/null || break
		mem_line "$t" >>"$csv"
		next=$((next + sample))
	fi
done
wait "$load_pid"
load_rc=$?
load_pid=
t=$((SECONDS - start))
alive=1
if kill -0 "$daemon_pid" 2>/dev/null; then
	mem_line "$t" >>"$csv"
else
	alive=0
fi

cat "$work/load.json"
[[ -s $work/load.err ]] && tail -20 "$work/load.err" >&2

# baseline: first sample at or after the warm-up; growth: last - baseline.
read -r base_t base last_t last max n < <(awk -F, -v w="$warmup" '
	NR > 1 && $1 >= w {
		if (!seen) { bt = $1; b = $2; seen = 1 }
		lt = $1; l = $2; if ($2 > m) m = $2; n++
	}
	END { print bt + 0, b + 0, lt + 0, l + 0, m + 0, n + 0 }' "$csv")
growth=$((last - base))
maxgrowth=$((max - base))
echo "soak: RSS ${base} KiB at ${base_t} s -> ${last} KiB at ${last_t} s:" \
	"growth ${growth} KiB (limit ${max_growth}), max after warm-up" \
	"${max} KiB (+${maxgrowth}), ${n} samples; CSV $csv"

fail=0
if ((alive == 0)); then
	echo "soak: FAIL: keywardd died; log tail:" >&2
	tail -20 "$work/keywardd.log" >&2
	fail=1
fi
if ((load_rc != 0)); then
	echo "soak: FAIL: the load reported unexpected errors (rc $load_rc)" >&2
	fail=1
fi
if ((n < 2)); then
	echo "soak: FAIL: fewer than 2 samples after the warm-up" >&2
	fail=1
elif ((growth >= max_growth)); then
	echo "soak: FAIL: RSS grew ${growth} KiB after the warm-up" >&2
	fail=1
fi
((fail == 0)) && echo "soak: PASS"
exit "$fail"
