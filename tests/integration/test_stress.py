"""Fault and load tests (issue 7).

Group `crash` (CrashConsistency): the daemon is killed with SIGKILL at
random moments while several connections pipeline `secret.put` and
`rotate.start` and the rotation clock moves; some kills land while it is
still starting. After every kill `PRAGMA integrity_check` of secrets.db is
`ok`; after every restart each acknowledged write (its answer arrived
before the kill) reads back with the acknowledged value at the
acknowledged version, no name's current version is older than its last
acknowledged write, and the audit chain verifies: `keyward audit verify`
after every 5th restart and at the end of each home, and after the other
restarts the audit.verify request that command makes (starting a process
costs more than the check). Verifying walks the whole log, so a fresh
home is begun every 20 kills and the run stays linear in the kills. The seed is
printed; KW_STRESS_SEED replays the same schedule of kills, requests and
values (the interleaving depends on the machine). KW_STRESS_ITERATIONS
sets the number of kills: 200 by default; the sanitizer build's meson
test sets 40, because a sanitized daemon starts and answers 3-5 times
slower and the point there is memory errors on the recovery paths, not
the count.

Group `load`:
- Thousand: 1,000 connections open at once, each pipelining a mix of
  get, put, list, agent.status, apikey.verify and token.verify; every
  answer has the right id and the right content.
- FdExhaustion: the daemon's RLIMIT_NOFILE lowered below what
  max_connections needs; connections beyond it must not disturb the
  clients already connected, and the daemon recovers when they go. That
  they are refused (an error or a close) instead of waiting in the listen
  backlog is an expected failure until the daemon handles EMFILE.
- SlowClients: partial frames trickled a byte a second, clients that
  pipeline big answers and never read them, and clients that push 50+ MB
  of requests without reading the (small) answers, all at once; a normal
  client keeps completing requests and the daemon's RSS stays within a
  bound derived from max_frame_bytes and max_output_bytes.

Deadlines only stop hangs; nothing asserts how long something took.
"""

import base64
import collections
import errno
import json
import os
import random
import resource
import selectors
import signal
import socket
import sqlite3
import time
import unittest
import urllib.parse

import harness
from harness import (BIN_KEYWARDD, DaemonTestCase, Rpc, b64,
                     nonblocking_connect, poll_until, raise_nofile)
from test_hostile import Hammer


# Deadlines stretch with the harness's (KW_SLOW; valgrind runs).
SLOW = getattr(harness, "SLOW", 1)


def deadline(seconds):
    return time.monotonic() + seconds * SLOW


def sanitized_build():
    """True if keywardd was built with AddressSanitizer."""
    try:
        with open(BIN_KEYWARDD, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


def proc_status(pid, key):
    """A /proc/PID/status field in bytes (VmRSS, VmHWM), or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def open_fds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def integrity_check(db):
    """PRAGMA integrity_check of a store whose daemon is not running,
    opened read-only (no WAL checkpoint, nothing written)."""
    uri = "file:%s?mode=ro" % urllib.parse.quote(db)
    con = sqlite3.connect(uri, uri=True, timeout=10)
    try:
        return con.execute("PRAGMA integrity_check").fetchall()
    finally:
        con.close()


def start_quickly(daemon):
    """Daemon.start, polling the socket every 10 ms: the crash test starts
    the daemon hundreds of times, and the harness's backoff would double
    the run time."""
    daemon.start(wait=False)
    end = time.monotonic() + harness.START_DEADLINE_S
    while time.monotonic() < end:
        if not daemon.alive():
            break
        if harness.socket_accepts(daemon.home.socket):
            return
        time.sleep(0.01)
    daemon.wait_ready()  # fails with the log


# --- many raw connections from one thread ------------------------------------

class Conn:
    """One non-blocking connection of a Mux."""

    def __init__(self, sock, tag):
        self.sock = sock
        self.tag = tag
        self.out = bytearray()
        self.buf = b""
        self.expect = collections.deque()  # (id, note) in request order
        self.eof = False
        self.unsolicited = []  # lines that arrived with nothing expected


class Mux:
    """Raw JSON-RPC connections driven from one thread with selectors.

    request() queues a request with a note; answers arrive in request order
    on each connection (protocol.md) and each is handed, with the note and
    the id it should carry, to on_answer(conn, want_id, note, msg)."""

    def __init__(self, on_answer):
        self.sel = selectors.DefaultSelector()
        self.conns = []
        self.on_answer = on_answer

    def close(self):
        for c in self.conns:
            if not c.eof:
                self.sel.unregister(c.sock)
            c.sock.close()
        self.conns = []
        self.sel.close()

    def add(self, sock, tag=None):
        sock.setblocking(False)
        c = Conn(sock, tag)
        self.conns.append(c)
        self.sel.register(sock, selectors.EVENT_READ, c)
        return c

    def connect(self, path, tag=None):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(harness.RPC_DEADLINE_S)
        s.connect(path)
        return self.add(s, tag)

    def request(self, c, method, params, id, note=None):
        msg = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            msg["params"] = params
        c.out += (json.dumps(msg, separators=(",", ":")) + "\n").encode()
        c.expect.append((id, note))
        self._arm(c)

    def _arm(self, c):
        if c.eof:
            return
        events = selectors.EVENT_READ
        if c.out:
            events |= selectors.EVENT_WRITE
        self.sel.modify(c.sock, events, c)

    def _lines(self, c):
        while b"\n" in c.buf:
            line, c.buf = c.buf.split(b"\n", 1)
            msg = json.loads(line)
            if not c.expect:
                c.unsolicited.append(msg)
                continue
            want, note = c.expect.popleft()
            self.on_answer(c, want, note, msg)

    def _eof(self, c):
        c.eof = True
        c.out.clear()
        self.sel.unregister(c.sock)

    def pump(self, until, done=lambda: False):
        """Send and receive until done() or the deadline. Returns done()."""
        while not done():
            left = until - time.monotonic()
            if left <= 0 or all(c.eof for c in self.conns):
                break
            for key, events in self.sel.select(min(left, 0.05)):
                c = key.data
                if c.eof:
                    continue
                if events & selectors.EVENT_WRITE and c.out:
                    try:
                        n = c.sock.send(c.out)
                        del c.out[:n]
                    except BlockingIOError:
                        pass
                    except (BrokenPipeError, ConnectionResetError):
                        c.out.clear()  # the read side will see EOF
                if events & selectors.EVENT_READ:
                    try:
                        chunk = c.sock.recv(262144)
                    except BlockingIOError:
                        chunk = None
                    except ConnectionResetError:
                        chunk = b""
                    if chunk == b"":
                        self._eof(c)
                        continue
                    if chunk:
                        c.buf += chunk
                        self._lines(c)
                self._arm(c)
        return done()

    def answered(self):
        return all(not c.expect or c.eof for c in self.conns)


# --- crash consistency -------------------------------------------------------

PLAIN = ["crash/plain/%d" % i for i in range(8)]
ROTATED = ["crash/rot/%d" % i for i in range(4)]
T0 = 1767268800  # 2026-01-01T12:00:00Z, the rotation clock's start


def stress_iterations():
    value = os.environ.get("KW_STRESS_ITERATIONS")
    if value:
        return int(value)
    if getattr(harness, "VALGRIND", False):
        return 10  # each start under memcheck takes seconds
    # Run by hand against a sanitizer build: as meson would.
    return 40 if sanitized_build() else 200


class CrashConsistency(DaemonTestCase):
    INIT = False  # each home is made by begin_home
    START = False
    CONFIG = {
        "agent": {"idle_timeout_ms": 60000},
        # No acknowledged version may be pruned by later writes.
        "store": {"max_versions": 10000},
        # Checkpoints often, so that kills land in their writes too.
        "audit": {"checkpoint_rows": 50},
    }
    # `keyward audit verify` walks the whole log (about 150 us a row), and
    # it runs after every restart: a fresh home every KILLS_PER_HOME kills
    # keeps that linear instead of quadratic in the number of kills.
    KILLS_PER_HOME = 20

    def setUp(self):
        super().setUp()
        seed = os.environ.get("KW_STRESS_SEED")
        self.seed = int(seed) if seed else \
            int.from_bytes(os.urandom(4), "big")
        self.iterations = stress_iterations()
        print("\n  crash: seed %d (KW_STRESS_SEED=%d replays), %d kills"
              % (self.seed, self.seed, self.iterations), flush=True)
        self.rng = random.Random(self.seed)
        self.where = "setup"
        self.serial = 0
        self.kills = {"startup": 0, "workload": 0}
        self.total_acked = 0

    def begin_home(self, fresh):
        """A new store with every name written once and the rotated names
        on 60-second schedules, its daemon stopped."""
        if fresh:
            self.h = harness.Home(self.CONFIG)
            self.addCleanup(self.h.cleanup)
            self.d = self.new_daemon()
        self.init_store()
        self.clock = os.path.join(self.h.work, "clock")
        self.now = T0
        self.write_clock()
        self.d.extra_env["KEYWARD_TEST_CLOCK"] = self.clock
        self.latest = {}     # name -> (version, value) last acknowledged
        self.acked = []      # every acknowledged (name, version, value)
        self.new_acks = []   # those since the last restart
        self.versions = collections.defaultdict(set)  # acknowledged
        self.floor = {}      # name -> highest version known committed
        start_quickly(self.d)
        rpc = Rpc(self.h.socket)
        try:
            for name in PLAIN + ROTATED:
                value = self.new_value()
                res = self.assertRpcResult(rpc.call(
                    "secret.put", {"name": name, "value": b64(value)}))
                self.ack(name, res, value)
            for name in ROTATED:
                self.assertRpcResult(rpc.call("schedule.set", {
                    "name": name, "every": 60, "rotator": "random:16:hex",
                    "overlap": self.rng.choice([0, 30, 600])}))
        finally:
            rpc.close()
        self.assertEqual(self.d.stop(), 0, self.h.log_tail())

    def ctx(self):
        return "seed %d (KW_STRESS_SEED=%d), %s" % (self.seed, self.seed,
                                                   self.where)

    def write_clock(self):
        tmp = self.clock + ".new"
        with open(tmp, "w") as f:
            f.write("%d\n" % self.now)
        os.replace(tmp, self.clock)

    def new_value(self):
        self.serial += 1
        return b"%d:" % self.serial + self.rng.randbytes(
            self.rng.randint(0, 48))

    def ack(self, name, result, value):
        self.assertEqual(result.get("name"), name, self.ctx())
        version = result.get("version")
        self.assertIsInstance(version, int, self.ctx())
        # Versions are never reused: a put that was lost and redone would
        # hand out a number that was already acknowledged or read.
        self.assertGreater(version, self.floor.get(name, 0),
                           "%s: put of %s acknowledged as version %d, not "
                           "above %d known before this run of puts"
                           % (self.ctx(), name, version,
                              self.floor.get(name, 0)))
        self.assertNotIn(version, self.versions[name],
                         "%s: version %d of %s acknowledged twice"
                         % (self.ctx(), version, name))
        self.versions[name].add(version)
        # Answers on different connections may be read out of order.
        if version > self.latest.get(name, (0, None))[0]:
            self.latest[name] = (version, value)
        self.acked.append((name, version, value))
        self.new_acks.append((name, version, value))

    def raise_floor(self, name, version):
        self.floor[name] = max(self.floor.get(name, 0), version)

    # -- the workload, ended by SIGKILL --

    def workload(self):
        rng = self.rng
        for name, (version, _value) in self.latest.items():
            self.raise_floor(name, version)
        if rng.random() < 0.3:
            # Scheduled rotations (every 60 s) come due.
            self.now += rng.randint(61, 900)
            self.write_clock()
        # The moment: mostly a random number of answers in (so that a slow
        # sanitizer build is killed as deep into the work as a fast one)
        # plus a random delay; sometimes a few ms from the start.
        if rng.random() < 0.2:
            answers, delay = 0, rng.uniform(0, 0.05)
        else:
            answers, delay = rng.randint(1, 40), rng.uniform(0, 0.01)
        window = rng.randint(1, 16)
        errors = []
        count = [0]

        def on_answer(c, want, note, msg):
            count[0] += 1
            if msg.get("id") != want or "result" not in msg:
                errors.append((note, msg))
                return
            kind, name, value = note
            if kind == "put":
                self.ack(name, msg["result"], value)
            else:
                self.assertIsInstance(msg["result"].get("rotation_id"), str,
                                      "%s: %r" % (self.ctx(), msg))
            refill(c)

        def refill(c):
            while len(c.expect) < window:
                self.rid += 1
                if rng.random() < 0.1:
                    name = rng.choice(ROTATED)
                    mux.request(c, "rotate.start", {"name": name},
                                self.rid, ("rotate", name, None))
                else:
                    name = rng.choice(PLAIN + ROTATED)
                    value = self.new_value()
                    mux.request(c, "secret.put",
                                {"name": name, "value": b64(value)},
                                self.rid, ("put", name, value))

        self.rid = 0
        mux = Mux(on_answer)
        try:
            for i in range(rng.randint(2, 4)):
                refill(mux.connect(self.h.socket, i))
            self.assertTrue(mux.pump(deadline(60),
                                     lambda: count[0] >= answers),
                            "%s: %d answers, not %d, before the deadline"
                            % (self.ctx(), count[0], answers))
            mux.pump(time.monotonic() + delay)
            self.d.proc.send_signal(signal.SIGKILL)
            self.d.proc.wait()
            # Answers the daemon sent before it died are still in our
            # sockets: they were acknowledged.
            mux.pump(time.monotonic() + harness.RPC_DEADLINE_S,
                     lambda: all(c.eof for c in mux.conns))
            self.assertTrue(all(c.eof for c in mux.conns), self.ctx())
        finally:
            mux.close()
        self.assertEqual(errors, [], "%s: error answers while the daemon "
                         "ran: %r" % (self.ctx(), errors[:5]))
        self.kills["workload"] += 1

    # -- checks --

    def check_db(self):
        rows = integrity_check(self.h.db)
        self.assertEqual(rows, [("ok",)], "%s: integrity_check of "
                         "secrets.db after the kill" % self.ctx())

    def check_acked(self, writes):
        """Each (name, version, value) reads back; no name's current
        version is older than its last acknowledged write."""
        bad = []

        def on_answer(c, want, note, msg):
            kind, name, version, value = note
            res = msg.get("result")
            if msg.get("id") != want or res is None:
                bad.append((note[:3], msg))
            elif kind == "version":
                if res.get("version") != version or \
                        base64.b64decode(res.get("value", "")) != value:
                    bad.append(("%s version %d: want %r" % (
                        name, version, value), res))
            else:
                self.raise_floor(name, res.get("version", 0))
                if res.get("stage") != "current" or \
                        res.get("version", 0) < version:
                    bad.append(("%s current older than acknowledged "
                                "version %d" % (name, version), res))

        mux = Mux(on_answer)
        try:
            c = mux.connect(self.h.socket)
            n = 0
            for name, version, value in writes:
                n += 1
                mux.request(c, "secret.get",
                            {"name": name, "version": version}, n,
                            ("version", name, version, value))
            for name, (version, value) in sorted(self.latest.items()):
                n += 1
                mux.request(c, "secret.get", {"name": name}, n,
                            ("current", name, version, value))
            done = mux.pump(deadline(120), mux.answered)
            self.assertTrue(done and not c.eof, "%s: reads not answered"
                            % self.ctx())
        finally:
            mux.close()
        self.assertEqual(bad, [], "%s: acknowledged writes lost or "
                         "changed (%d bad): %r" % (self.ctx(), len(bad),
                                                   bad[:5]))

    def check_audit(self, cli):
        """The audit chain verifies: through `keyward audit verify`, or
        (cli false) through audit.verify itself, the request that command
        makes and prints, without the process start it costs."""
        if cli:
            r = self.cli("audit", "verify")
            self.assertEqual(r.rc, 0, "%s: keyward audit verify: %r\n"
                             "log:\n%s" % (self.ctx(), r,
                                           self.h.log_tail(15)))
            self.assertTrue(r.text.startswith("intact"), "%s: %r"
                            % (self.ctx(), r))
            return
        with Rpc(self.h.socket) as rpc:
            resp = rpc.call("audit.verify", timeout=60 * SLOW)
        res = self.assertRpcResult(resp)
        self.assertTrue(res.get("intact"), "%s: audit.verify: %r"
                        % (self.ctx(), res))
        self.assertEqual(res.get("kind"), "intact", self.ctx())

    def after_restart(self, cli=True):
        self.check_acked(self.new_acks)
        self.new_acks = []
        self.check_audit(cli)

    def settle_rotations(self):
        """Every run interrupted by a kill resumes and ends (done or
        failed, as a put during a run makes it); none is left stuck."""
        rpc = Rpc(self.h.socket)
        try:
            for name in ROTATED:
                self.assertRpcResult(rpc.call("schedule.delete",
                                              {"name": name}))

            def idle():
                self.now += 3600  # past any retry's backoff
                self.write_clock()
                for name in ROTATED:
                    st = self.assertRpcResult(rpc.call("rotate.status",
                                                       {"name": name}))
                    if st["rotation"] is not None:
                        return False
                return True
            self.assertTrue(poll_until(idle, 120 * SLOW), "%s: a rotation run "
                            "never ended; log:\n%s"
                            % (self.ctx(), self.h.log_tail()))
        finally:
            rpc.close()

    def end_home(self):
        """Restart, read every write acknowledged in this home once more,
        let rotations end, stop cleanly, check the file."""
        start_quickly(self.d)
        self.after_restart()
        self.check_acked(self.acked)
        self.settle_rotations()
        self.check_acked([])
        self.assertEqual(self.d.stop(), 0, self.h.log_tail())
        self.check_db()
        self.total_acked += len(self.acked)

    def test_kill9_under_puts_and_rotations(self):
        for i in range(self.iterations):
            if i % self.KILLS_PER_HOME == 0:
                if i:
                    self.where = "end of home before kill %d" % (i + 1)
                    self.end_home()
                self.where = "new home before kill %d" % (i + 1)
                self.begin_home(fresh=i > 0)
            self.where = "kill %d of %d" % (i + 1, self.iterations)
            if self.rng.random() < 0.1:
                # Killed while starting: recovery must survive a kill too.
                self.d.start(wait=False)
                time.sleep(self.rng.uniform(0, 0.2))
                self.d.kill()
                self.kills["startup"] += 1
                self.check_db()
            start_quickly(self.d)
            # The CLI every 5th restart and at the end of each home.
            self.after_restart(cli=i % 5 == 0)
            self.workload()
            self.check_db()
        self.where = "after the last kill"
        self.end_home()
        print("  crash: %d acknowledged writes, %d kills under load and "
              "%d during start-up" % (self.total_acked,
                                      self.kills["workload"],
                                      self.kills["startup"]), flush=True)
        self.assertEqual(self.kills["workload"], self.iterations)
        # The workload did run: more than the seeding writes were answered.
        self.assertGreater(self.total_acked, self.iterations,
                           "hardly any write was acknowledged")


# --- a thousand connections --------------------------------------------------

AUDIENCE = "https://mcp.test.example/mcp"


class Thousand(DaemonTestCase):
    """1,000 connections at once, as an operator would allow them: limits
    raised in keyward.ini, RLIMIT_NOFILE raised for the clients."""

    CONNS = 1000
    PER_CONN = 5
    CONFIG = {"agent": {"max_connections": 1100,
                        "max_connections_per_uid": 1100,
                        "idle_timeout_ms": 300000,
                        "frame_timeout_ms": 60000}}

    def setUp(self):
        raise_nofile(self.CONNS + 512)
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < self.CONNS + 64:
            self.skipTest("RLIMIT_NOFILE hard limit %d is below %d"
                          % (soft, self.CONNS + 64))
        super().setUp()
        seed = int.from_bytes(os.urandom(4), "big")
        print("\n  thousand: seed %d" % seed, flush=True)
        self.rng = random.Random(seed)
        rpc = self.rpc()
        self.shared = {}
        for k in range(40):
            name = "load/shared/%02d" % k
            value = self.rng.randbytes(self.rng.randint(1, 200))
            self.assertRpcResult(rpc.call(
                "secret.put", {"name": name, "value": b64(value)}))
            self.shared[name] = value
        self.keys = []
        for j in range(4):
            res = self.assertRpcResult(rpc.call("apikey.create", {
                "principal": "svc-%d" % j, "scopes": ["s:%d" % j]}))
            self.keys.append(res)
        self.tokens = []
        for j in range(4):
            res = self.assertRpcResult(rpc.call("token.issue", {
                "subject": "user-%d" % j, "audience": AUDIENCE,
                "scopes": ["tools:%d" % j], "ttl": 3600}))
            self.tokens.append(("user-%d" % j, "tools:%d" % j,
                                res["token"]))
        rpc.close()

    def plan(self, i):
        """[(method, params, check)] for connection i: check(result) is
        None when right, else what is wrong."""
        rng = self.rng
        reqs = []
        own = 0
        while len(reqs) < self.PER_CONN:
            kind = rng.choice(("get", "get", "put", "list", "status",
                               "apikey", "token"))
            if kind == "get":
                name = rng.choice(sorted(self.shared))
                reqs.append(("secret.get", {"name": name},
                             self.want_value(name, self.shared[name], 1)))
            elif kind == "put":
                # Put, then read back on the same connection: answers
                # come in order, so the get must see this value.
                name = "load/c%04d/%d" % (i, own)
                own += 1
                value = b"c%d-" % i + rng.randbytes(rng.randint(0, 64))
                reqs.append(("secret.put", {"name": name,
                                            "value": b64(value)},
                             self.want_put(name)))
                reqs.append(("secret.get", {"name": name},
                             self.want_value(name, value, 1)))
            elif kind == "list":
                reqs.append(("secret.list", {"prefix": "load/shared/"},
                             self.want_list()))
            elif kind == "status":
                reqs.append(("agent.status", None, self.want_status()))
            elif kind == "apikey":
                key = rng.choice(self.keys)
                reqs.append(("apikey.verify", {"key": key["key"]},
                             self.want_apikey(key)))
            else:
                subject, scope, token = rng.choice(self.tokens)
                reqs.append(("token.verify", {"token": token,
                                              "audience": AUDIENCE},
                             self.want_token(subject, scope)))
        return reqs

    @staticmethod
    def want_value(name, value, version):
        def check(res):
            if res.get("name") != name or res.get("version") != version or \
                    res.get("value") != b64(value):
                return "get %s: want version %d value %r" % (
                    name, version, value)
        return check

    @staticmethod
    def want_put(name):
        def check(res):
            if res != {"name": name, "version": 1}:
                return "put %s: want version 1" % name
        return check

    def want_list(self):
        want = sorted(self.shared)

        def check(res):
            got = [(s.get("name"), s.get("version"))
                   for s in res.get("secrets", [])]
            if got != [(n, 1) for n in want]:
                return "list load/shared/: want %r" % want
        return check

    @staticmethod
    def want_status():
        def check(res):
            if res.get("locked") is not False or \
                    res.get("mode") != "keyfile":
                return "agent.status: want unlocked keyfile mode"
        return check

    @staticmethod
    def want_apikey(key):
        def check(res):
            if res.get("id") != key["id"] or \
                    res.get("principal") != key["principal"] or \
                    res.get("scopes") != key["scopes"]:
                return "apikey.verify: want id %s principal %s" % (
                    key["id"], key["principal"])
        return check

    @staticmethod
    def want_token(subject, scope):
        def check(res):
            if res.get("subject") != subject or \
                    res.get("scopes") != [scope] or \
                    AUDIENCE not in res.get("audience", []):
                return "token.verify: want subject %s" % subject
        return check

    def test_thousand_connections_mixed_requests(self):
        wrong = []
        answered = [0]

        def on_answer(c, want, check, msg):
            answered[0] += 1
            if msg.get("id") != want:
                wrong.append("conn %d: answer id %r for request id %r: %r"
                             % (c.tag, msg.get("id"), want, msg))
            elif "result" not in msg:
                wrong.append("conn %d id %r: error %r" % (c.tag, want, msg))
            else:
                problem = check(msg["result"])
                if problem:
                    wrong.append("conn %d id %r: %s, got %r"
                                 % (c.tag, want, problem, msg["result"]))

        mux = Mux(on_answer)
        self.addCleanup(mux.close)
        # Every connection is open (and accepted: served once) before any
        # of the mixed requests goes out.
        for i in range(self.CONNS):
            c = mux.connect(self.h.socket, i)
            mux.request(c, "agent.status", None, "hello-%d" % i,
                        self.want_status())
        self.assertTrue(mux.pump(deadline(300), mux.answered),
                        "not every connection was served once")
        self.assertEqual(wrong, [])
        self.assertFalse(any(c.eof for c in mux.conns))
        total = 0
        for c in mux.conns:
            for k, (method, params, check) in enumerate(self.plan(c.tag)):
                # Ids unique across connections: an answer sent to the
                # wrong connection cannot match by accident.
                rid = c.tag * 100 + k if k % 2 else "c%d-%d" % (c.tag, k)
                mux.request(c, method, params, rid, check)
                total += 1
        done = mux.pump(deadline(600), mux.answered)
        closed = sum(1 for c in mux.conns if c.eof)
        unanswered = sum(len(c.expect) for c in mux.conns)
        summary = ("%d requests on %d connections: %d answered, %d wrong, "
                   "%d unanswered, %d connections closed"
                   % (total, self.CONNS, answered[0] - self.CONNS,
                      len(wrong), unanswered, closed))
        print("  thousand: " + summary, flush=True)
        self.assertEqual(wrong, [], summary)
        self.assertTrue(done, summary)
        self.assertEqual(closed, 0, summary)
        self.assertEqual(sum(len(c.unsolicited) for c in mux.conns), 0,
                         summary)
        mux.close()
        self.assertTrue(self.d.alive())
        self.assertEqual(self.get_cli("load/shared/00"),
                         self.shared["load/shared/00"])
        self.assertEqual(self.d.stop(), 0, self.h.log_tail())


# --- out of file descriptors -------------------------------------------------

class FdExhaustion(DaemonTestCase):
    """max_connections allows far more than the daemon's RLIMIT_NOFILE
    (lowered with prlimit once it listens: at start it raises its soft
    limit to the hard one). Connections past the fd limit must not disturb
    the clients already connected, and when they go away new clients are
    served again."""

    NOFILE = 96   # about 40 connections: each costs a socket and a pidfd
    HELD = 16
    EXTRA = 150
    CONFIG = {"agent": {"max_connections": 1000,
                        "max_connections_per_uid": 1000,
                        "idle_timeout_ms": 300000,
                        "frame_timeout_ms": 60000}}

    def setUp(self):
        raise_nofile(self.EXTRA + self.HELD + 256)
        super().setUp()
        self.value = os.urandom(48)
        self.put_cli("fd/x", self.value)
        self.pid = self.d.proc.pid
        resource.prlimit(self.pid, resource.RLIMIT_NOFILE,
                         (self.NOFILE, self.NOFILE))
        self.assertEqual(resource.prlimit(self.pid, resource.RLIMIT_NOFILE),
                         (self.NOFILE, self.NOFILE))
        self.held = []
        for i in range(self.HELD):
            rpc = self.rpc()
            self.assertRpcResult(rpc.call("agent.status", id="held-%d" % i))
            self.held.append(rpc)

    def serve_held(self, round_no):
        """One get on every held connection, each answered correctly."""
        for i, rpc in enumerate(self.held):
            resp = rpc.call("secret.get", {"name": "fd/x"},
                            id="r%d-%d" % (round_no, i))
            self.assertEqual(self.assertRpcResult(resp)["value"],
                             b64(self.value),
                             "held connection %d, round %d" % (i, round_no))

    def burst(self, deadline_s):
        """Open EXTRA connections, each asking agent.status; serve the held
        connections meanwhile. Returns (outcomes, extra socket list)."""
        outcome = collections.Counter()
        wrong = []

        def on_answer(c, want, note, msg):
            if "result" in msg and msg.get("id") == want:
                outcome["served"] += 1
            elif "error" in msg and msg.get("id") in (want, None):
                outcome["error:%s" % msg["error"].get("data", {})
                        .get("kind")] += 1
            else:
                wrong.append(msg)

        mux = Mux(on_answer)
        self.addCleanup(mux.close)
        for i in range(self.EXTRA):
            s, err = nonblocking_connect(self.h.socket)
            if s is None:
                self.assertIn(err, (errno.EAGAIN, errno.ECONNREFUSED),
                              os.strerror(err))
                outcome["connect refused"] += 1
                continue
            c = mux.add(s, i)
            mux.request(c, "agent.status", None, "extra-%d" % i)
        peak = open_fds(self.pid)
        self.serve_held(1)  # during the burst
        end = time.monotonic() + deadline_s
        while time.monotonic() < end and not mux.answered():
            mux.pump(min(end, time.monotonic() + 0.5), mux.answered)
            peak = max(peak or 0, open_fds(self.pid) or 0)
        for c in mux.conns:
            if c.expect:
                outcome["closed" if c.eof else "pending"] += 1
        self.serve_held(2)  # the held ones are still served
        self.assertEqual(wrong, [], "wrong answers to the extra "
                         "connections: %r" % wrong[:5])
        self.assertTrue(self.d.alive(), self.h.log_tail())
        print("\n  fd limit %d: %d held, %d extra: %s; peak %s fds"
              % (self.NOFILE, self.HELD, self.EXTRA, dict(outcome), peak),
              flush=True)
        # The burst did reach the limit (else this tests nothing).
        self.assertGreaterEqual(peak, self.NOFILE - 4,
                                "the daemon never came near its fd limit")
        return outcome, mux

    def test_held_clients_served_and_recovery(self):
        outcome, mux = self.burst(5 * SLOW)
        mux.close()  # the extra connections go away
        self.serve_held(3)

        def fresh_served():
            try:
                with Rpc(self.h.socket) as rpc:
                    resp = rpc.call("secret.get", {"name": "fd/x"},
                                    timeout=5)
            except (OSError, TimeoutError, harness.Closed):
                return False
            return resp.get("result", {}).get("value") == b64(self.value)
        self.assertTrue(poll_until(fresh_served, 60 * SLOW),
                        "no new client served after the extra connections "
                        "closed; log:\n%s" % self.h.log_tail())
        # Their descriptors came back.
        self.assertTrue(poll_until(
            lambda: open_fds(self.pid) < self.NOFILE - 20, 30 * SLOW),
            "fds still in use: %s" % open_fds(self.pid))
        self.assertEqual(self.get_cli("fd/x"), self.value)
        for rpc in self.held:
            rpc.close()
        self.assertEqual(self.d.stop(), 0, self.h.log_tail())

    def test_extra_connections_refused(self):
        # Each connection past the fd limit is refused: an error answer or
        # a close, never left waiting in the listen backlog (the agent
        # keeps a reserve descriptor to accept and refuse them with).
        outcome, mux = self.burst(10 * SLOW)
        mux.close()
        self.assertEqual(outcome["pending"], 0, dict(outcome))
        # Out of room is "limit", never a peer that looks unknown because
        # its credentials could not be read ("denied").
        self.assertEqual(outcome["error:denied"], 0, dict(outcome))


# --- slow clients ------------------------------------------------------------

class SlowClients(DaemonTestCase):
    """At once: TRICKLERS connections holding a partial request and adding
    a byte a second; GETTERS connections pipelining gets of a big value and
    never reading; JUNKERS connections pushing JUNK_MB of oversized but
    well-framed requests (answered with small errors) and never reading.
    Meanwhile a normal client completes NORMAL_GETS gets, and the daemon's
    memory stays within what max_frame_bytes and max_output_bytes allow per
    connection."""

    TRICKLERS = 100
    GETTERS = 20
    JUNKERS = 8
    JUNK_MB = 56
    NORMAL_GETS = 100
    MAX_FRAME = 262144
    MAX_OUTPUT = 262144
    BIG = 32768
    ASAN_QUARANTINE_MB = 64
    CONFIG = {"agent": {"max_connections": 400,
                        "max_connections_per_uid": 400,
                        "idle_timeout_ms": 600000,
                        "frame_timeout_ms": 600000,
                        "max_frame_bytes": MAX_FRAME,
                        "max_output_bytes": MAX_OUTPUT}}

    def setUp(self):
        raise_nofile(self.TRICKLERS + self.GETTERS + self.JUNKERS + 256)
        super().setUp()
        self.asan = sanitized_build()
        if self.asan:
            # ASan keeps freed memory in a quarantine (256 MB by default)
            # that would swamp the bound: fix its size and allow for it.
            self.d.stop()
            self.d.extra_env["ASAN_OPTIONS"] = ":".join(
                o for o in (os.environ.get("ASAN_OPTIONS"),
                            "quarantine_size_mb=%d" % self.ASAN_QUARANTINE_MB)
                if o)
            self.d.start()
        self.big = os.urandom(self.BIG)
        self.small = os.urandom(40)
        self.put_cli("slow/big", self.big)
        self.put_cli("slow/x", self.small)
        self.pid = self.d.proc.pid
        with Rpc(self.h.socket) as rpc:  # warm the daemon's caches
            for _ in range(20):
                self.assertRpcResult(rpc.call("secret.get",
                                              {"name": "slow/big"}))
        self.hammer = Hammer(self, "slow/x", self.small)

    def connect_raw(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(harness.RPC_DEADLINE_S)
        s.connect(self.h.socket)
        s.setblocking(False)
        self.addCleanup(s.close)
        return s

    def bound(self, answer_len):
        """Most the daemon may hold for these clients: per connection a
        frame buffer of max_frame_bytes (allocated whole, and resident
        whole when malloc touches it, as with meson's MALLOC_PERTURB_),
        and an output buffer that may hold max_output_bytes
        plus the answer that crossed it, in an allocation up to twice that
        (it grows by doubling); plus 32 MB for everything else (SQLite's
        cache, the request being parsed, the allocator's slack). Under
        ASan twice that (redzones, size classes, shadow memory) plus its
        quarantine."""
        per_getter = self.MAX_FRAME + 2 * (self.MAX_OUTPUT + answer_len)
        per_junker = self.MAX_FRAME + 2 * self.MAX_OUTPUT
        per_trickler = self.MAX_FRAME + 16384
        bound = (self.GETTERS * per_getter + self.JUNKERS * per_junker +
                 self.TRICKLERS * per_trickler + 32 * 2 ** 20)
        if self.asan:
            bound = 2 * bound + self.ASAN_QUARANTINE_MB * 2 ** 20
        return bound

    def rss_parts(self):
        return "/".join("%.1f" % ((proc_status(self.pid, k) or 0) / 2 ** 20)
                        for k in ("RssAnon", "RssFile", "RssShmem"))

    def test_slow_and_non_reading_clients(self):
        rss_before = proc_status(self.pid, "VmRSS")
        parts_before = self.rss_parts()
        # Partial lines, finished at the end: the daemon must keep them.
        tricklers = []
        for i in range(self.TRICKLERS):
            s = self.connect_raw()
            s.send(b'{"jsonrpc":"2.0","id":"t%d","method":"secret.get",'
                   b'"params":{"name":"slow/x"}' % i)
            tricklers.append(s)
        # Big answers, never read: the daemon must stop reading them.
        get_line = (b'{"jsonrpc":"2.0","id":1,"method":"secret.get",'
                    b'"params":{"name":"slow/big"}}\n')
        gets = get_line * 50000
        getters = [[self.connect_raw(), gets, 0]
                   for _ in range(self.GETTERS)]
        # Big requests with small answers, never read: the daemon must
        # take all of them, and its frame buffers bound what it holds.
        pad = b"p" * (self.MAX_FRAME - 200)
        per_junker = self.JUNK_MB * 2 ** 20 // self.JUNKERS // len(pad) + 1
        junk = b"".join(b'{"jsonrpc":"2.0","id":%d,"method":"agent.status",'
                        b'"params":{"pad":"%s"}}\n' % (k, pad)
                        for k in range(per_junker))
        junkers = [[self.connect_raw(), junk, 0]
                   for _ in range(self.JUNKERS)]

        normal = {"done": 0, "bad": []}

        def on_answer(c, want, note, msg):
            res = msg.get("result") or {}
            if msg.get("id") != want or res.get("value") != b64(self.big):
                normal["bad"].append(msg)
                return
            normal["done"] += 1
            if normal["done"] < self.NORMAL_GETS:
                mux.request(c, "secret.get", {"name": "slow/big"},
                            normal["done"])

        mux = Mux(on_answer)
        self.addCleanup(mux.close)
        mux.request(mux.connect(self.h.socket), "secret.get",
                    {"name": "slow/big"}, 0)

        def push(conns):
            for entry in conns:
                s, data, off = entry
                if off < len(data):
                    try:
                        entry[2] += s.send(data[off:off + 1048576])
                    except BlockingIOError:
                        pass

        peak = rss_before
        trickles = 0
        next_trickle = time.monotonic()
        end = deadline(600)
        while time.monotonic() < end:
            push(getters)
            push(junkers)
            if time.monotonic() >= next_trickle:
                for s in tricklers:
                    s.send(b" ")
                trickles += 1
                next_trickle += 1.0
            mux.pump(time.monotonic() + 0.05)
            self.assertEqual(normal["bad"], [])
            peak = max(peak, proc_status(self.pid, "VmRSS") or 0)
            if normal["done"] >= self.NORMAL_GETS and trickles >= 5 and \
                    all(off == len(data) for _s, data, off in junkers):
                break
        hwm = proc_status(self.pid, "VmHWM")
        print("\n  slow: anon/file/shmem MB %s before, %s after"
              % (parts_before, self.rss_parts()))
        bound = self.bound(len(b64(self.big)) + 200)
        junk_sent = sum(off for _s, _d, off in junkers)
        get_sent = sum(off for _s, _d, off in getters)
        summary = ("normal client %d/%d gets; %d trickles; junk %.1f of "
                   "%.1f MB taken; getters %.1f of %.1f MB taken; RSS %.1f "
                   "MB before, peak %.1f MB, VmHWM %.1f MB (bound: growth "
                   "under %.1f MB)"
                   % (normal["done"], self.NORMAL_GETS, trickles,
                      junk_sent / 2 ** 20,
                      sum(len(d) for _s, d, _o in junkers) / 2 ** 20,
                      get_sent / 2 ** 20,
                      sum(len(d) for _s, d, _o in getters) / 2 ** 20,
                      rss_before / 2 ** 20, peak / 2 ** 20, hwm / 2 ** 20,
                      bound / 2 ** 20))
        print("\n  slow: " + summary, flush=True)
        # The normal client was not stalled.
        self.assertEqual(normal["done"], self.NORMAL_GETS, summary)
        # Every junk request went in (the daemon kept reading them).
        self.assertEqual(junk_sent, sum(len(d) for _s, d, _o in junkers),
                         summary)
        self.assertGreaterEqual(junk_sent, 50 * 2 ** 20, summary)
        growth = max(peak, hwm) - rss_before
        if getattr(harness, "VALGRIND", False):
            print("  slow: memory bound not checked under valgrind "
                  "(its own allocator and redzones)", flush=True)
        else:
            self.assertLess(growth, bound, "daemon memory grew by %.1f MB, "
                            "more than the %.1f MB the limits allow: %s"
                            % (growth / 2 ** 20, bound / 2 ** 20, summary))
        # Every getter was held back: the daemon stopped reading it once
        # its unread answers passed max_output_bytes.
        self.assertTrue(all(off < len(data) for _s, data, off in getters),
                        summary)

        # The partial lines survived: finished now, each is answered.
        for s in tricklers:
            s.setblocking(True)
            s.sendall(b"}\n")
        for i, s in enumerate(tricklers):
            rpc = Rpc(self.h.socket, connect=False)
            rpc.sock.close()
            rpc.sock = s
            msg = rpc.recv_json(timeout=60 * SLOW)
            self.assertEqual(msg.get("id"), "t%d" % i, msg)
            self.assertEqual(self.assertRpcResult(msg)["value"],
                             b64(self.small))
        # Each junk request has its answer, in order, unread until now.
        for s, _data, _off in junkers:
            s.setblocking(True)
            rpc = Rpc(self.h.socket, connect=False)
            rpc.sock.close()
            rpc.sock = s
            for k in range(per_junker):
                msg = rpc.recv_json(timeout=60 * SLOW)
                self.assertEqual(msg.get("id"), k, msg)
                self.assertRpcError(msg, -32602, "invalid_params",
                                    field="pad")
        for s, _data, _off in getters:
            s.close()
        self.hammer.finish()
        self.assertTrue(self.d.alive(), self.h.log_tail())
        self.assertEqual(self.get_cli("slow/big"), self.big)
        self.assertEqual(self.d.stop(), 0, self.h.log_tail())
