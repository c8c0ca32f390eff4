#!/usr/bin/env python3
"""Scale measurements of keywardd (issue 7).

    python3 bench/scale.py --build BUILD_DIR --out FILE.json

Runs the real BUILD_DIR/agent/keywardd (and BUILD_DIR/cli/keyward for
`init`) on a temporary KEYWARD_HOME under /tmp, fills a big store through
the protocol, and measures start-up, memory and the cost of rotation
schedules. Writes one JSON object to FILE (bench/run.py merges it into the
benchmark report) and prints a short summary. Python 3 standard library
only. Every process it starts is killed by PID and the temporary directory
removed on exit, error or Ctrl-C.

The store is keyfile mode, WAL, on whatever filesystem /tmp is; the page
cache is warm (the store was just written), so start-up is a warm start.
The daemon runs with KEYWARD_TEST_CLOCK set (a file the agent's clock reads
each loop turn) so that schedules can be made due without waiting; it needs
a build with -Dtest_hooks=true, which make bench sets up.

JSON fields (times in seconds unless the name says _ms; memory in KiB):

  version            1
  build              the build directory measured
  machine            {"cpus", "kernel", "python", "loadavg_start",
                      "loadavg_end"}: a loaded machine slows the fill
  config             what was run: secrets, versions, connections, pipeline
                     depth, sample_reads, idle_conns, schedules, idle_seconds
  fill               the store filled with secret.put over the protocol:
                     {"secrets", "versions", "puts", "connections",
                      "pipeline_depth", "seconds", "puts_per_s",
                      "db_bytes" (secrets.db + WAL after the fill),
                      "daemon_cpu_s" (keywardd utime+stime during the fill),
                      "errors"}
  startup            a fresh keywardd on the filled store, from just before
                     exec to the first answered agent.status, repeated:
                     {"seconds" (median), "runs": [...], "secrets" (as
                      agent.status counts them), "rss_kib", "hwm_kib"
                      (VmRSS/VmHWM right after start-up, last run),
                      "anon_kib", "file_kib" (RssAnon/RssFile: heap and
                      stacks vs. mapped files, mostly shared libraries),
                      "threads", "empty_store_seconds" (the same start-up
                      before the fill, on an empty store, once)}
  after_reads        after `reads` secret.get of random secrets (current
                     stage and the previous version each), one connection,
                     one request at a time (each answer waits for its
                     audit row's commit, so this is commit latency bound):
                     {"reads", "seconds", "gets_per_s", "rss_kib", "hwm_kib",
                      "anon_kib", "file_kib", "threads"}
  idle_1000          N idle connections open at once, each having been
                     answered one agent.status (so accepted and attributed),
                     then left alone `settle_s`:
                     {"connections", "open_seconds", "rss_kib", "hwm_kib",
                      "anon_kib", "file_kib", "threads",
                      "kib_per_conn" (RSS delta over after_reads / N),
                      "cpu_ms_idle" (daemon CPU over settle_s with them open),
                      "settle_s", "max_connections", "nofile"}
  schedules_10k      rotation schedules (docs/rotation.md):
    create           {"schedules", "seconds", "per_s"}: schedule.set,
                     pipelined, on existing secrets, every 7 days
    idle_cpu         daemon utime+stime over the same interval with no
                     schedule and then with all of them, none due, one
                     client connection open and silent:
                     {"interval_s", "cpu_ms_0", "cpu_ms_10k" (utime+stime
                      from /proc/PID/stat; resolution 1000/clk_tck ms),
                      "clk_tck", "sched_us_0", "sched_us_10k" (the same
                      from /proc/PID/task/*/schedstat, in microseconds),
                      "wakeups_0", "wakeups_10k" (voluntary context
                      switches of the main thread: loop wake-ups)}
    one_due_polled   clock moved so exactly one schedule (random:16, every
                     hour) is due; seconds from rewriting the clock file
                     until rotate.status shows its run done. The poller
                     asks every 2 ms, and each request also wakes the
                     daemon's loop, so this is the run's own latency:
                     {"runs": [...], "median", "max"}
    one_due_watched  the same, but nothing polls: seconds until the
                     secret.rotated notification (secret.watch) arrives.
                     Includes waiting for the loop's next turn, which on
                     an idle daemon is its sweep period (250 ms), so this
                     is what a server sees: {"runs": [...], "median", "max"}
    all_due          clock moved past every schedule's next run at once:
                     {"schedules", "seconds" (until every schedule's
                      secret.rotated notification arrived), "per_s",
                      "ok", "failed" (last_outcome per schedule.list
                      afterwards), "complete" (all notified within
                      the deadline)}
  rss_target_mib     16
  rss_max_kib        the largest VmRSS of startup, after_reads, idle_1000
  rss_ok             rss_max_kib <= 16 MiB (VmRSS, i.e. steady-state
                     resident memory; VmHWM is reported, not judged: the
                     fill and the 10k runs are not part of the target)
  rss_end_kib        VmRSS after the schedules phase (informative)
  total_seconds      wall time of the whole script
  ok                 every phase completed without protocol errors
  errors             list of strings describing what went wrong
"""

import argparse
import base64
import ctypes
import json
import os
import platform
import random
import resource
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import kwrpc

DAY = 86400
HOUR = 3600
RSS_TARGET_MIB = 16

# Deadlines only stop a broken build from hanging the run.
START_DEADLINE_S = 30.0
RPC_DEADLINE_S = 60.0


class BenchError(Exception):
    """A phase could not be completed."""


# --- processes and cleanup ---------------------------------------------------

_PR_SET_PDEATHSIG = 1
try:
    _libc = ctypes.CDLL(None, use_errno=True)
except OSError:
    _libc = None


def _die_with_parent():
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


class Cleanup:
    """Processes (by Popen) and directories to remove, in reverse order."""

    def __init__(self):
        self.procs = []
        self.dirs = []

    def spawn(self, argv, env, **kw):
        proc = subprocess.Popen(argv, env=env, preexec_fn=_die_with_parent,
                                **kw)
        self.procs.append(proc)
        return proc

    def stop(self, proc, timeout=20.0):
        """SIGTERM, then SIGKILL; always reaps. Returns the exit status."""
        if proc.poll() is None:
            try:
                os.kill(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        if proc in self.procs:
            self.procs.remove(proc)
        return proc.returncode

    def run(self):
        for proc in reversed(list(self.procs)):
            try:
                self.stop(proc, timeout=5.0)
            except OSError:
                pass
        for d in reversed(self.dirs):
            shutil.rmtree(d, ignore_errors=True)
        self.dirs = []


def proc_status(pid):
    """The memory lines of /proc/PID/status (KiB) and the thread count."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem",
                       "Threads", "voluntary_ctxt_switches"):
                out[key] = int(rest.split()[0])
    return out


def mem_fields(pid):
    st = proc_status(pid)
    return {"rss_kib": st.get("VmRSS", 0), "hwm_kib": st.get("VmHWM", 0),
            "anon_kib": st.get("RssAnon", 0),
            "file_kib": st.get("RssFile", 0),
            "threads": st.get("Threads", 0)}


def proc_sched_ns(pid):
    """Nanoseconds on CPU summed over pid's threads (schedstat), and the
    main thread's voluntary context switches (its wake-ups)."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total, proc_status(pid).get("voluntary_ctxt_switches", 0)


CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid):
    """utime + stime of pid in seconds (/proc/PID/stat fields 14 and 15)."""
    with open("/proc/%d/stat" % pid) as f:
        data = f.read()
    # The command name is in parentheses and may hold spaces.
    fields = data[data.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


# --- protocol ----------------------------------------------------------------

class Conn(kwrpc.Conn):
    """kwrpc.Conn whose call gives the result, and whose failures are
    BenchErrors."""

    def __init__(self, path, timeout=RPC_DEADLINE_S):
        super().__init__(path, timeout)

    def recv(self):
        try:
            return super().recv()
        except kwrpc.Closed as e:
            raise BenchError(str(e)) from None

    def call(self, method, params=None):
        try:
            resp = super().call(method, params)
        except kwrpc.Closed as e:
            raise BenchError(str(e)) from None
        if "result" not in resp:
            raise BenchError("%s failed: %r" % (method, resp.get("error")))
        return resp["result"]


def pipelined(path, requests, connections, depth, deadline_s):
    """Send pre-encoded request lines over several connections with up to
    depth in flight on each. Returns (seconds, errors, first_error)."""
    sel = selectors.DefaultSelector()
    states = []
    for i in range(connections):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.setblocking(False)
        st = {"sock": s, "todo": requests[i::connections], "next": 0,
              "inflight": 0, "out": b"", "in": b"", "done": 0,
              "want": selectors.EVENT_READ | selectors.EVENT_WRITE}
        states.append(st)
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, st)
    errors = 0
    first_error = None
    remaining = len(requests)
    t0 = time.monotonic()
    end = t0 + deadline_s
    try:
        while remaining:
            if time.monotonic() > end:
                raise BenchError("pipelined requests not done within %ss "
                                 "(%d left)" % (deadline_s, remaining))
            for key, mask in sel.select(timeout=1.0):
                st = key.data
                s = st["sock"]
                if mask & selectors.EVENT_READ:
                    chunk = s.recv(65536)
                    if not chunk:
                        raise BenchError("the agent closed a connection")
                    st["in"] += chunk
                    lines = st["in"].split(b"\n")
                    st["in"] = lines.pop()
                    for line in lines:
                        if b'"result"' not in line:
                            errors += 1
                            if first_error is None:
                                first_error = line[:300].decode(
                                    "utf-8", "replace")
                        st["inflight"] -= 1
                        st["done"] += 1
                        remaining -= 1
                if mask & selectors.EVENT_WRITE or st["out"] == b"":
                    room = depth - st["inflight"]
                    if room > 0 and st["next"] < len(st["todo"]):
                        batch = st["todo"][st["next"]:st["next"] + room]
                        st["next"] += len(batch)
                        st["inflight"] += len(batch)
                        st["out"] += b"".join(batch)
                    if st["out"]:
                        try:
                            n = s.send(st["out"])
                        except BlockingIOError:
                            n = 0
                        st["out"] = st["out"][n:]
                want = selectors.EVENT_READ
                if st["out"]:
                    want |= selectors.EVENT_WRITE
                if want != st["want"]:
                    # epoll_ctl only when the interest changes.
                    sel.modify(s, want, st)
                    st["want"] = want
    finally:
        for st in states:
            sel.unregister(st["sock"])
            st["sock"].close()
        sel.close()
    return time.monotonic() - t0, errors, first_error


def req_line(id, method, params=None):
    msg = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        msg["params"] = params
    return (json.dumps(msg, separators=(",", ":")) + "\n").encode()


# --- the home and the daemon -------------------------------------------------

def render_ini(config):
    out = []
    for section, values in config.items():
        out.append("[%s]" % section)
        for k, v in values.items():
            out.append("%s = %s" % (k, v))
        out.append("")
    return "\n".join(out)


class Bench:
    def __init__(self, args, cleanup):
        self.args = args
        self.cl = cleanup
        build = os.path.abspath(args.build)
        self.keywardd = os.path.join(build, "agent", "keywardd")
        self.keyward = os.path.join(build, "cli", "keyward")
        for path in (self.keywardd, self.keyward):
            if not os.access(path, os.X_OK):
                raise BenchError("%s is not an executable (build first: "
                                 "ninja -C %s)" % (path, args.build))
        # Only a keywardd with the test hooks reads KEYWARD_TEST_CLOCK;
        # any other would leave every schedule not due.
        with open(self.keywardd, "rb") as f:
            if b"KEYWARD_TEST_CLOCK" not in f.read():
                raise BenchError("%s was built without -Dtest_hooks=true, "
                                 "which scale.py needs to move the clock "
                                 "(make bench sets it up so)"
                                 % self.keywardd)
        self.root = tempfile.mkdtemp(prefix="kwscale-", dir="/tmp")
        cleanup.dirs.append(self.root)
        self.home = os.path.join(self.root, "home")
        self.work = os.path.join(self.root, "work")
        os.mkdir(self.home, 0o700)
        os.mkdir(self.work, 0o700)
        self.sock = os.path.join(self.home, "agent.sock")
        self.log = os.path.join(self.work, "keywardd.log")
        self.clock = os.path.join(self.work, "clock")
        # The rotation clock starts at the real time, so schedules made on
        # it are not due in real time either.
        self.t0 = int(time.time())
        self.set_clock(self.t0)
        self.max_conns = args.idle_conns + 64
        cfg = {
            "agent": {
                "max_connections": self.max_conns,
                "max_connections_per_uid": self.max_conns,
                "idle_timeout_ms": 3600000,
                "max_output_bytes": 16777216,
            },
            "store": {"max_versions": args.versions},
            "kdf": {"opslimit": 1, "memlimit_kib": 8192},
        }
        ini = os.path.join(self.home, "keyward.ini")
        with open(ini, "w") as f:
            f.write(render_ini(cfg))
        os.chmod(ini, 0o600)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("KEYWARD_") and k != "XDG_RUNTIME_DIR"}
        env["KEYWARD_HOME"] = self.home
        env["KEYWARD_SOCKET"] = self.sock
        env["HOME"] = self.work
        self.env = env
        self.proc = None
        self.errors = []

    def set_clock(self, t):
        tmp = self.clock + ".new"
        with open(tmp, "w") as f:
            f.write("%d\n" % t)
        os.replace(tmp, self.clock)

    def init(self):
        p = self.cl.spawn([self.keyward, "init"], self.env,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, cwd=self.work)
        out, err = p.communicate(timeout=60)
        self.cl.procs.remove(p)
        if p.returncode != 0:
            raise BenchError("keyward init failed (%d): %s"
                             % (p.returncode, err.decode()[-500:]))
        pol = os.path.join(self.home, "policies")
        os.makedirs(pol, mode=0o700, exist_ok=True)
        path = os.path.join(pol, "50-bench.ini")
        with open(path, "w") as f:
            f.write('[client "bench-python"]\nexe = %s\nadmin = yes\n'
                    "read = **\nwrite = **\nlist = **\nrotate = **\n"
                    "verify = **\n" % os.path.realpath(sys.executable))
        os.chmod(path, 0o600)

    def start(self):
        """Exec keywardd; returns seconds until agent.status answered."""
        if self.proc is not None and self.proc.poll() is None:
            raise BenchError("keywardd already running")
        logfd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT |
                        os.O_CLOEXEC, 0o600)
        env = dict(self.env)
        env["KEYWARD_TEST_CLOCK"] = self.clock
        try:
            t0 = time.monotonic()
            self.proc = self.cl.spawn([self.keywardd], env,
                                      stdin=subprocess.DEVNULL, stdout=logfd,
                                      stderr=logfd, cwd=self.work)
        finally:
            os.close(logfd)
        end = t0 + START_DEADLINE_S
        while True:
            if self.proc.poll() is not None:
                raise BenchError("keywardd exited with %s; log:\n%s"
                                 % (self.proc.returncode, self.log_tail()))
            try:
                c = Conn(self.sock, timeout=5.0)
            except OSError:
                if time.monotonic() > end:
                    raise BenchError("keywardd did not answer within %ss"
                                     % START_DEADLINE_S)
                time.sleep(0.001)
                continue
            try:
                st = c.call("agent.status")
            finally:
                c.close()
            secs = time.monotonic() - t0
            self.status = st
            return secs

    def stop(self):
        if self.proc is not None:
            rc = self.cl.stop(self.proc)
            self.proc = None
            if rc != 0:
                self.errors.append("keywardd exited with %s on SIGTERM" % rc)

    def log_tail(self, n=20):
        try:
            with open(self.log, "rb") as f:
                return "\n".join(f.read().decode("utf-8", "replace")
                                 .splitlines()[-n:])
        except OSError:
            return ""

    def mem(self):
        return mem_fields(self.proc.pid)

    def cpu(self):
        return proc_cpu_s(self.proc.pid)

    def db_bytes(self):
        total = 0
        for suffix in ("", "-wal", "-shm"):
            try:
                total += os.path.getsize(
                    os.path.join(self.home, "secrets.db" + suffix))
            except OSError:
                pass
        return total

    # --- phases ---

    def name(self, i):
        return "scale/s%06d" % i

    def fill(self):
        a = self.args
        rnd = random.Random(7)
        reqs = []
        id = 1
        for v in range(a.versions):
            for i in range(a.secrets):
                value = base64.b64encode(rnd.randbytes(32)).decode()
                reqs.append(req_line(id, "secret.put",
                                     {"name": self.name(i), "value": value}))
                id += 1
        cpu0 = self.cpu()
        secs, errs, first = pipelined(self.sock, reqs, a.connections,
                                      a.depth, a.deadline_fill)
        cpu = self.cpu() - cpu0
        if errs:
            self.errors.append("fill: %d errors, first %s" % (errs, first))
        return {"secrets": a.secrets, "versions": a.versions,
                "puts": len(reqs), "connections": a.connections,
                "pipeline_depth": a.depth, "seconds": round(secs, 3),
                "puts_per_s": round(len(reqs) / secs, 1),
                "db_bytes": self.db_bytes(), "daemon_cpu_s": round(cpu, 2),
                "errors": errs}

    def startup(self):
        runs = []
        for k in range(self.args.startups):
            if k:
                self.stop()
            runs.append(self.start())
        out = {"seconds": round(statistics.median(runs), 4),
               "runs": [round(r, 4) for r in runs],
               "secrets": self.status.get("secrets")}
        out.update(self.mem())
        return out

    def reads(self, c):
        a = self.args
        rnd = random.Random(11)
        t0 = time.monotonic()
        for _ in range(a.reads):
            name = self.name(rnd.randrange(a.secrets))
            c.call("secret.get", {"name": name})
            if a.versions > 1:
                c.call("secret.get", {"name": name, "stage": "previous"})
        secs = time.monotonic() - t0
        n = a.reads * (2 if a.versions > 1 else 1)
        out = {"reads": n, "seconds": round(secs, 3),
               "gets_per_s": round(n / secs, 1)}
        out.update(self.mem())
        return out

    def idle_conns(self, base_rss):
        a = self.args
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = a.idle_conns + 256
        if soft < want:
            new = want if hard == resource.RLIM_INFINITY else min(want, hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        with open("/proc/%d/limits" % self.proc.pid) as f:
            daemon_nofile = [ln.split()[3] for ln in f
                             if ln.startswith("Max open files")][0]
        socks = []
        t0 = time.monotonic()
        try:
            line = req_line(1, "agent.status")
            for _ in range(a.idle_conns):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(RPC_DEADLINE_S)
                s.connect(self.sock)
                socks.append(s)
                s.sendall(line)
            for s in socks:
                buf = b""
                while b"\n" not in buf:
                    chunk = s.recv(4096)
                    if not chunk:
                        raise BenchError("an idle connection was closed "
                                         "(limits?); log:\n%s"
                                         % self.log_tail())
                    buf += chunk
                if b'"result"' not in buf:
                    raise BenchError("agent.status refused: %r" % buf[:300])
            opened = time.monotonic() - t0
            cpu0 = self.cpu()
            time.sleep(a.settle)
            cpu = self.cpu() - cpu0
            mem = self.mem()
        finally:
            for s in socks:
                s.close()
        n = a.idle_conns
        out = {"connections": n, "open_seconds": round(opened, 3)}
        out.update(mem)
        out.update({"kib_per_conn": round((mem["rss_kib"] - base_rss) / n, 2)
                    if n else 0,
                    "cpu_ms_idle": round(cpu * 1000), "settle_s": a.settle,
                    "max_connections": self.max_conns,
                    "nofile": daemon_nofile})
        return out

    def idle_cpu(self, c):
        """(utime+stime seconds, schedstat ns, wake-ups) over the idle
        interval."""
        # One request first so the loop is past any follow-up work.
        c.call("agent.status")
        time.sleep(0.5)
        cpu0 = self.cpu()
        ns0, sw0 = proc_sched_ns(self.proc.pid)
        time.sleep(self.args.idle_seconds)
        ns1, sw1 = proc_sched_ns(self.proc.pid)
        return self.cpu() - cpu0, ns1 - ns0, sw1 - sw0

    def wait_done(self, c, name, seen):
        """Poll rotate.status until a finished run not in seen shows up."""
        end = time.monotonic() + RPC_DEADLINE_S
        while time.monotonic() < end:
            st = c.call("rotate.status", {"name": name})
            for run in st["history"]:
                if run["id"] not in seen and run["step"] in ("done",
                                                             "failed"):
                    seen.add(run["id"])
                    if run["step"] != "done":
                        raise BenchError("run of %s failed: %r"
                                         % (name, run))
                    return
            time.sleep(0.002)
        raise BenchError("run of %s did not finish" % name)

    def wait_notice(self, w, names, count, deadline):
        """Read secret.rotated notifications on w until count distinct
        names of the set names arrived. Returns the number seen."""
        got = set()
        end = time.monotonic() + deadline
        w.sock.settimeout(1.0)
        while len(got) < count and time.monotonic() < end:
            try:
                msg = w.recv()
            except socket.timeout:
                continue
            if msg.get("method") == "secret.rotated":
                name = msg["params"]["name"]
                if names is None or name in names:
                    got.add(name)
        w.sock.settimeout(RPC_DEADLINE_S)
        return len(got)

    def schedules(self, c):
        a = self.args
        n = a.schedules
        out = {}
        cpu0 = self.idle_cpu(c)
        reqs = [req_line(i + 1, "schedule.set",
                         {"name": self.name(i), "every": 7 * DAY,
                          "rotator": "random:16"}) for i in range(n)]
        secs, errs, first = pipelined(self.sock, reqs, 1, 200, 120)
        if errs:
            self.errors.append("schedule.set: %d errors, first %s"
                               % (errs, first))
        out["create"] = {"schedules": n, "seconds": round(secs, 3),
                         "per_s": round(n / secs, 1)}
        cpu1 = self.idle_cpu(c)
        out["idle_cpu"] = {"interval_s": a.idle_seconds,
                           "cpu_ms_0": round(cpu0[0] * 1000),
                           "cpu_ms_10k": round(cpu1[0] * 1000),
                           "clk_tck": CLK_TCK,
                           "sched_us_0": round(cpu0[1] / 1000),
                           "sched_us_10k": round(cpu1[1] / 1000),
                           "wakeups_0": cpu0[2], "wakeups_10k": cpu1[2]}

        # One schedule due at a time: a probe that runs every hour.
        probe = "scale/probe"
        c.call("secret.put", {"name": probe, "value": "cHJvYmU="})
        c.call("schedule.set", {"name": probe, "every": HOUR,
                                "rotator": "random:16", "overlap": 0})
        w = Conn(self.sock)
        try:
            w.call("secret.watch", {"pattern": "scale/**"})
            seen = set()
            polled, watched = [], []
            k = 0
            for _ in range(a.probes):
                k += 1
                self.set_clock(self.t0 + k * HOUR)
                t0 = time.monotonic()
                self.wait_done(c, probe, seen)
                polled.append(time.monotonic() - t0)
            # Drain the notifications of the polled runs.
            self.wait_notice(w, {probe}, 1, 2.0)
            w.sock.settimeout(0.2)
            try:
                while True:
                    w.recv()
            except socket.timeout:
                pass
            w.sock.settimeout(RPC_DEADLINE_S)
            for _ in range(a.probes):
                k += 1
                time.sleep(0.3)
                self.set_clock(self.t0 + k * HOUR)
                t0 = time.monotonic()
                if self.wait_notice(w, {probe}, 1, 30.0) != 1:
                    raise BenchError("no secret.rotated for the probe")
                watched.append(time.monotonic() - t0)
            out["one_due_polled"] = {
                "runs": [round(x, 4) for x in polled],
                "median": round(statistics.median(polled), 4),
                "max": round(max(polled), 4)}
            out["one_due_watched"] = {
                "runs": [round(x, 4) for x in watched],
                "median": round(statistics.median(watched), 4),
                "max": round(max(watched), 4)}

            # Everything due at once.
            names = {self.name(i) for i in range(n)}
            self.set_clock(self.t0 + 7 * DAY)
            t0 = time.monotonic()
            got = self.wait_notice(w, names, n, a.deadline_due)
            secs = time.monotonic() - t0
        finally:
            w.close()
        ok = failed = 0
        after = None
        while True:
            params = {"prefix": "scale/s"}
            if after:
                params["after"] = after
            res = c.call("schedule.list", params)
            for sc in res["schedules"]:
                if sc["last_outcome"] == "ok":
                    ok += 1
                elif sc["last_outcome"] == "failed":
                    failed += 1
            after = res["next"]
            if not after:
                break
        out["all_due"] = {"schedules": n, "notified": got,
                          "seconds": round(secs, 3),
                          "per_s": round(got / secs, 1),
                          "ok": ok, "failed": failed,
                          "complete": got == n}
        if got != n:
            self.errors.append("all_due: only %d of %d runs finished "
                               "within %ss" % (got, n, a.deadline_due))
        return out


def summary(r):
    lines = []
    f = r.get("fill")
    if f:
        lines.append("fill: %d puts (%d secrets x %d) in %.1f s = %.0f "
                     "puts/s (%d conns x %d deep), db %.1f MiB"
                     % (f["puts"], f["secrets"], f["versions"], f["seconds"],
                        f["puts_per_s"], f["connections"],
                        f["pipeline_depth"], f["db_bytes"] / 1048576))
    s = r.get("startup")
    if s:
        lines.append("startup: %.3f s (runs %s), %s secrets, RSS %d KiB "
                     "(anon %d, file %d), HWM %d KiB"
                     % (s["seconds"], s["runs"], s["secrets"], s["rss_kib"],
                        s["anon_kib"], s["file_kib"], s["hwm_kib"]))
    s = r.get("after_reads")
    if s:
        lines.append("after %d gets (%.0f/s, one connection): RSS %d KiB, "
                     "HWM %d KiB" % (s["reads"], s["gets_per_s"],
                                     s["rss_kib"], s["hwm_kib"]))
    s = r.get("idle_1000")
    if s:
        lines.append("%d idle connections: RSS %d KiB (anon %d; %.1f KiB/"
                     "conn), HWM %d KiB, %d ms CPU in %.0f s"
                     % (s["connections"], s["rss_kib"], s["anon_kib"],
                        s["kib_per_conn"], s["hwm_kib"], s["cpu_ms_idle"],
                        s["settle_s"]))
    s = r.get("schedules_10k")
    if s:
        if "create" in s:
            lines.append("schedule.set: %d in %.1f s (%.0f/s)"
                         % (s["create"]["schedules"], s["create"]["seconds"],
                            s["create"]["per_s"]))
        if "idle_cpu" in s:
            i = s["idle_cpu"]
            lines.append("idle CPU over %.0f s: %.1f ms with 0 schedules, "
                         "%.1f ms with %d (none due); wake-ups %d / %d"
                         % (i["interval_s"], i["sched_us_0"] / 1000,
                            i["sched_us_10k"] / 1000,
                            s["create"]["schedules"], i["wakeups_0"],
                            i["wakeups_10k"]))
        for key, what in (("one_due_polled", "one due, polled"),
                          ("one_due_watched", "one due, notified")):
            if key in s:
                lines.append("%s: median %.1f ms, max %.1f ms"
                             % (what, s[key]["median"] * 1000,
                                s[key]["max"] * 1000))
        if "all_due" in s:
            a = s["all_due"]
            lines.append("all %d due: %d finished in %.1f s (%.0f/s), "
                         "ok %d, failed %d"
                         % (a["schedules"], a["notified"], a["seconds"],
                            a["per_s"], a["ok"], a["failed"]))
    if "rss_ok" in r:
        lines.append("RSS max %d KiB vs target %d MiB: %s"
                     % (r["rss_max_kib"], r["rss_target_mib"],
                        "ok" if r["rss_ok"] else "OVER"))
    lines.append("total %.1f s%s" % (r["total_seconds"],
                                     "" if r["ok"] else
                                     "; ERRORS: " + "; ".join(r["errors"])))
    return "\n".join(lines)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build", required=True, help="meson build directory")
    p.add_argument("--out", required=True, help="JSON file to write")
    p.add_argument("--secrets", type=int, default=100000)
    p.add_argument("--versions", type=int, default=3)
    p.add_argument("--connections", type=int, default=4,
                   help="connections used to fill")
    p.add_argument("--depth", type=int, default=128,
                   help="requests in flight per connection while filling")
    p.add_argument("--startups", type=int, default=3)
    p.add_argument("--reads", type=int, default=500)
    p.add_argument("--idle-conns", type=int, default=1000)
    p.add_argument("--settle", type=float, default=3.0,
                   help="seconds the idle connections stay open")
    p.add_argument("--schedules", type=int, default=10000)
    p.add_argument("--idle-seconds", type=float, default=5.0)
    p.add_argument("--probes", type=int, default=5)
    p.add_argument("--deadline-fill", type=float, default=240.0)
    p.add_argument("--deadline-due", type=float, default=120.0)
    return p.parse_args()


def main():
    args = parse_args()
    t_start = time.monotonic()
    result = {"version": 1, "build": args.build,
              "machine": {"cpus": os.cpu_count(),
                          "kernel": platform.release(),
                          "python": platform.python_version(),
                          "loadavg_start": os.getloadavg()[0]},
              "config": {"secrets": args.secrets, "versions": args.versions,
                         "connections": args.connections,
                         "pipeline_depth": args.depth,
                         "sample_reads": args.reads,
                         "idle_conns": args.idle_conns,
                         "schedules": args.schedules,
                         "idle_seconds": args.idle_seconds},
              "rss_target_mib": RSS_TARGET_MIB}
    cl = Cleanup()

    def on_term(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    # SIGINT too: a shell may start us with it ignored (background jobs).
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    errors = []
    b = None
    try:
        b = Bench(args, cl)
        errors = b.errors
        b.init()
        empty = b.start()
        result["fill"] = b.fill()
        b.stop()
        result["startup"] = b.startup()
        result["startup"]["empty_store_seconds"] = round(empty, 4)
        c = Conn(b.sock)
        try:
            result["after_reads"] = b.reads(c)
            result["idle_1000"] = b.idle_conns(
                result["after_reads"]["rss_kib"])
            result["schedules_10k"] = {}
            result["schedules_10k"] = b.schedules(c)
            result["rss_end_kib"] = b.mem()["rss_kib"]
        finally:
            c.close()
        b.stop()
    except KeyboardInterrupt:
        errors.append("interrupted")
    except (BenchError, OSError, ValueError, KeyError) as e:
        errors.append("%s: %s" % (type(e).__name__, e))
        if b is not None:
            tail = b.log_tail(10)
            if tail:
                errors.append("keywardd log tail:\n" + tail)
    finally:
        cl.run()
    rss = [result[k]["rss_kib"] for k in ("startup", "after_reads",
                                          "idle_1000") if k in result]
    if rss:
        result["rss_max_kib"] = max(rss)
        result["rss_ok"] = max(rss) <= RSS_TARGET_MIB * 1024
    result["machine"]["loadavg_end"] = os.getloadavg()[0]
    result["total_seconds"] = round(time.monotonic() - t_start, 1)
    result["errors"] = errors
    result["ok"] = not errors
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print(summary(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
