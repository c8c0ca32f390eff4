"""The audit log end to end (docs/audit.md): every operation leaves exactly
its row; no value, token or passphrase is ever written; the four tamperings
an attacker with the sqlite3 shell can make (edit, delete, reorder,
truncate) are each detected at the right row; a log of 100k rows verifies;
a full filesystem fails requests closed and recovers; `keyward audit
--follow`, `--json`, `stats` and the filters.

The database is tampered with through the sqlite3 *shell*, as an attacker
would, never through Python's sqlite3 module. Rows in bulk come from raw
JSON-RPC sockets opened by this Python (granted everything by the
harness's 50-tests.ini), pipelined with a bounded number of requests in
flight."""

import base64
import collections
import errno
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

import harness
from harness import (BIN_KEYWARD, BIN_KWCLIENT, EXIT_DENIED, EXIT_ERROR,
                     EXIT_NOTFOUND, DaemonTestCase, b64, fd_with,
                     poll_until, render_config, run, spawn)

SQLITE3 = shutil.which("sqlite3")

# keywardd's exit status for a store whose data it refuses (keywardd(8)).
EX_DATAERR = 65
ROW_FIELDS = {"seq", "time", "ts_us", "uid", "pid", "exe", "principal", "op",
              "name", "version", "outcome", "reason"}
VERIFY_FIELDS = {"intact", "kind", "seq", "rows", "checkpoints", "detail"}
OUTCOMES = {"ok", "denied", "error", "rate_limited"}
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
TOKEN_RE = re.compile(rb"kwt_[A-Za-z0-9_-]{43}")
HEADER_RE = re.compile(r'^\s*\[client\s+"([^"]*)"\]\s*$')
# kwclient's errors: "kwclient: WHAT: KIND: TEXT"
KWCLIENT_ERR_RE = re.compile(r"kwclient: [^:\n]+: ([a-z_]+): ")

KWCLIENT_PRINCIPAL = "test-kwclient"   # harness 50-tests.ini
PYTHON_PRINCIPAL = "test-python"


def rfc3339_us(ts_us):
    secs, us = divmod(ts_us, 1000000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + \
        ".%06dZ" % us


def glob_match(glob, name):
    """The policy glob syntax (policies/README.md): `*` within a segment,
    a whole-segment `**` for zero or more segments (at the end: one or
    more)."""
    if name is None:
        return False
    pattern = ""
    segs = glob.split("/")
    for i, seg in enumerate(segs):
        last = i == len(segs) - 1
        if seg == "**":
            if last:
                pattern += "[^/]+(/[^/]+)*" if i == 0 else "/[^/]+(/[^/]+)*"
            else:
                pattern += "([^/]+/)*" if i == 0 else "/([^/]+/)*"
            continue
        part = "".join("[^/]*" if ch == "*" else re.escape(ch)
                       for ch in seg)
        if i > 0 and segs[i - 1] != "**":
            pattern += "/"
        pattern += part
    return re.fullmatch(pattern, name) is not None


class LineReader:
    """Collects a pipe's lines in a thread, so that a test can poll them
    with a deadline instead of blocking on readline."""

    def __init__(self, pipe):
        self.lines = []
        self.lock = threading.Lock()
        self.eof = False
        self.thread = threading.Thread(target=self._run, args=(pipe,),
                                       daemon=True)
        self.thread.start()

    def _run(self, pipe):
        for line in iter(pipe.readline, b""):
            with self.lock:
                self.lines.append(line)
        self.eof = True

    def snapshot(self):
        with self.lock:
            return list(self.lines)


class AuditCase(DaemonTestCase):

    def setUp(self):
        super().setUp()
        self.work = os.path.realpath(self.h.work)

    # -- identities --

    @property
    def owner(self):
        """The CLI's principal: the section init wrote to 00-owner.ini."""
        path = os.path.join(self.h.policies, "00-owner.ini")
        with open(path) as f:
            for line in f:
                m = HEADER_RE.match(line)
                if m:
                    return m.group(1)
        self.fail("no [client] section in %s" % path)



    def kind_of(self, result):
        m = KWCLIENT_ERR_RE.search(result.err)
        return m.group(1) if m else None

    def token_for(self, name):
        r = self.cli("client", "add", name)
        self.assertRc(r, 0, "keyward client add %s" % name)
        m = TOKEN_RE.search(r.out)
        self.assertIsNotNone(m, "no kwt_ token on stdout: %r" % r)
        return m.group(0).decode()

    # -- the log through the CLI --

    def audit_json(self, *args):
        """`keyward audit --json ARGS`: the rows in output order. Every
        line must be one JSON object with exactly the documented fields."""
        r = self.cli("audit", "--json", *args)
        self.assertRc(r, 0, "keyward audit --json %s" % " ".join(args))
        rows = []
        for i, line in enumerate(r.text.split("\n")):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                self.fail("line %d of `keyward audit --json` is not JSON: "
                          "%r" % (i + 1, line[:300]))
            self.assertIsInstance(row, dict, line)
            self.assertEqual(set(row), ROW_FIELDS,
                             "fields of an audit row: %r" % line)
            rows.append(row)
        return rows

    def all_rows(self, *args):
        """Every row (--limit 0), by seq."""
        return sorted(self.audit_json("--limit", "0", *args),
                      key=lambda row: row["seq"])

    def verify(self):
        """`keyward audit verify --json`: (result, parsed object)."""
        r = self.cli("audit", "verify", "--json")
        try:
            obj = json.loads(r.out)
        except ValueError:
            self.fail("`keyward audit verify --json` printed no JSON "
                      "object: %r" % r)
        self.assertIsInstance(obj, dict, r)
        self.assertEqual(set(obj), VERIFY_FIELDS, "fields of verify: %r" % r)
        return r, obj

    # -- bulk rows through raw sockets --

    def pipeline_gets(self, name, total, nconn=4, inflight=500):
        """total secret.get requests for name on nconn raw connections,
        at most inflight unanswered per connection. Returns how many were
        answered with a result; fails on any error or a stall."""
        line = (json.dumps({"jsonrpc": "2.0", "id": 1, "method":
                            "secret.get", "params": {"name": name}},
                           separators=(",", ":")) + "\n").encode()
        conns = []
        for i in range(nconn):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(20)
            s.connect(self.h.socket)
            s.setblocking(False)
            self.addCleanup(s.close)
            share = total // nconn + (1 if i < total % nconn else 0)
            conns.append({"sock": s, "left": share, "inflight": 0,
                          "out": b"", "buf": b""})
        answered = 0
        while any(c["left"] or c["inflight"] for c in conns):
            for c in conns:
                if not c["out"] and c["left"] and c["inflight"] < inflight:
                    n = min(inflight - c["inflight"], c["left"])
                    c["out"] = line * n
                    c["left"] -= n
                    c["inflight"] += n
            rlist = [c["sock"] for c in conns if c["inflight"]]
            wlist = [c["sock"] for c in conns if c["out"]]
            readable, writable, _ = select.select(rlist, wlist, [], 60)
            if not readable and not writable:
                self.fail("no progress for 60 s after %d answers; log:\n%s"
                          % (answered, self.h.log_tail()))
            for c in conns:
                s = c["sock"]
                if s in writable:
                    try:
                        n = s.send(c["out"])
                    except BlockingIOError:
                        n = 0
                    c["out"] = c["out"][n:]
                if s in readable:
                    chunk = s.recv(1 << 20)
                    if not chunk:
                        self.fail("the agent closed a pipelining connection "
                                  "after %d answers; log:\n%s"
                                  % (answered, self.h.log_tail()))
                    lines = (c["buf"] + chunk).split(b"\n")
                    c["buf"] = lines.pop()
                    for resp in lines:
                        if b'"result"' not in resp:
                            self.fail("a pipelined get failed: %r"
                                      % resp[:300])
                    c["inflight"] -= len(lines)
                    answered += len(lines)
        return answered

    # -- the database through the sqlite3 shell --

    def sqlite(self, sql, readonly=False):
        if not SQLITE3:
            self.fail("the sqlite3 shell is not installed (scripts/deps.sh "
                      "test installs it)")
        argv = [SQLITE3, "-batch", "-bail"]
        if readonly:
            argv.append("-readonly")
        argv += [self.h.db, sql]
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=60, preexec_fn=lambda: os.umask(0o077))
        self.assertEqual(proc.returncode, 0, "sqlite3 %r failed: %s"
                         % (sql, proc.stderr.decode(errors="replace")))
        return proc.stdout.decode()

    def db_rows(self):
        """[(seq, ts_us)] from the audit table, by seq."""
        out = self.sqlite("SELECT seq, ts_us FROM audit ORDER BY seq;",
                          readonly=True)
        return [tuple(int(x) for x in line.split("|"))
                for line in out.splitlines() if line.strip()]

    def checkpoint_seqs(self):
        path = os.path.join(self.h.home, "audit.checkpoints")
        self.assertTrue(os.path.isfile(path), "no %s" % path)
        seqs = []
        with open(path) as f:
            for line in f:
                if line.strip():
                    seqs.append(int(line.split()[0]))
        return seqs


def row_key(row):
    """(op, name, outcome, principal, version); no version is 0."""
    return (row["op"], row["name"], row["outcome"], row["principal"],
            row["version"] or 0)


def fmt_rows(keys):
    return "\n".join("  %2d %r" % (i, k) for i, k in enumerate(keys))


# --- 1: every operation produces exactly its row -----------------------------

class Sequence(AuditCase):

    PASSPHRASE = "audit sequence passphrase"
    NEW_PASSPHRASE = "audit sequence passphrase, changed"
    START = False

    def setUp(self):
        super().setUp()
        self.unlisted = self.copy_client("unlisted")
        self.rated = self.copy_client("rated")
        self.tokcopy = self.copy_client("tokcopy")
        self.h.write_policy("10-audit.ini", (
            '[client "rated"]\nexe = %s\nrate = 1/s burst 1\nread = **\n\n'
            '[client "bytoken"]\ntoken = tokc\nread = tok/**\n'
            % self.rated))
        self.d.start()
        self.assertRc(self.unlock_cli(self.PASSPHRASE), 0)

    def test_every_operation_recorded(self):
        O, K = self.owner, KWCLIENT_PRINCIPAL
        cli_exe = os.path.realpath(BIN_KEYWARD)
        kw_exe = os.path.realpath(BIN_KWCLIENT)
        exp = []    # (row key, exe of the requesting program or None)

        def expect(key, exe):
            exp.append((key, exe))

        self.put_cli("audit/marker", b"marker")

        self.put_cli("seq/a", b"one")
        expect(("secret.put", "seq/a", "ok", O, 1), cli_exe)
        self.assertRc(self.kw("put", "seq/a", input=b"two"), 0)
        expect(("secret.put", "seq/a", "ok", K, 2), kw_exe)
        self.assertEqual(self.get_cli("seq/a"), b"two")
        expect(("secret.get", "seq/a", "ok", O, 2), cli_exe)
        r = self.kw("get", "seq/a", "--version", "1")
        self.assertRc(r, 0)
        self.assertEqual(r.out, b"one")
        expect(("secret.get", "seq/a", "ok", K, 1), kw_exe)
        self.assertRc(self.cli("ls"), 0)
        expect(("secret.list", None, "ok", O, 0), cli_exe)
        self.assertRc(self.cli("versions", "seq/a"), 0)
        expect(("secret.versions", "seq/a", "ok", O, 0), cli_exe)
        r = self.as_client(self.unlisted, "get", "seq/a")
        self.assertRc(r, EXIT_DENIED, "an unlisted copy of kwclient reads")
        expect(("secret.get", "seq/a", "denied", None, 0), self.unlisted)
        self.assertRc(self.kw("get", "seq/none"), EXIT_NOTFOUND)
        expect(("secret.get", "seq/none", "error", K, 0), kw_exe)
        self.assertRc(self.cli("rm", "seq/a"), 0)
        expect(("secret.delete", "seq/a", "ok", O, 0), cli_exe)

        # Tokens: add, a hello that works, revoke, a hello that does not.
        token = self.token_for("tokc")
        expect(("client.add", "tokc", "ok", O, 0), cli_exe)
        self.put_cli("tok/x", b"token value")
        expect(("secret.put", "tok/x", "ok", O, 1), cli_exe)
        r = self.as_client(self.tokcopy, "get", "tok/x", token=token)
        self.assertRc(r, 0, "the token's section should read tok/x")
        self.assertEqual(r.out, b"token value")
        expect(("client.hello", "tokc", "ok", None, 0), self.tokcopy)
        expect(("secret.get", "tok/x", "ok", "bytoken", 1), self.tokcopy)
        self.assertRc(self.cli("client", "revoke", "tokc"), 0)
        expect(("client.revoke", "tokc", "ok", O, 0), cli_exe)
        r = self.as_client(self.tokcopy, "get", "tok/x", token=token)
        self.assertRc(r, EXIT_DENIED, "a revoked token was accepted")
        expect(("client.hello", None, "denied", None, 0), self.tokcopy)

        # Policy reload: by request, then by SIGHUP (config and policy).
        self.assertRc(self.cli("policy", "reload"), 0)
        expect(("policy.reload", None, "ok", O, 0), cli_exe)
        before = sum(1 for row in self.all_rows()
                     if row["op"] == "policy.reload")
        self.d.proc.send_signal(signal.SIGHUP)
        self.assertTrue(poll_until(
            lambda: sum(1 for row in self.all_rows()
                        if row["op"] == "policy.reload") > before, 20),
            "no policy.reload row after SIGHUP; log:\n%s"
            % self.h.log_tail())
        expect(("config.reload", None, "ok", None, 0), None)
        expect(("policy.reload", None, "ok", None, 0), None)

        # passwd, lock, a wrong passphrase, unlock (rows queued while
        # locked are chained at the unlock, in order).
        rfd = fd_with("%s\n%s\n" % (self.PASSPHRASE, self.NEW_PASSPHRASE))
        try:
            r = self.cli("passwd", "--passphrase-fd", str(rfd),
                         pass_fds=(rfd,))
        finally:
            os.close(rfd)
        self.assertRc(r, 0, "keyward passwd")
        expect(("agent.passwd", None, "ok", O, 0), cli_exe)
        self.assertRc(self.cli("lock"), 0)
        expect(("agent.lock", None, "ok", O, 0), cli_exe)
        self.assertRc(self.unlock_cli(self.PASSPHRASE), EXIT_ERROR,
                      "the old passphrase still unlocks")
        # A wrong passphrase is a refusal (methods_agent.c records it as
        # denied, not as an error of the agent).
        expect(("agent.unlock", None, "denied", O, 0), cli_exe)
        self.assertRc(self.unlock_cli(self.NEW_PASSPHRASE), 0)
        expect(("agent.unlock", None, "ok", O, 0), cli_exe)

        # Rate limit 1/s burst 1: the first get passes, a quick second one
        # is limited. (On a machine slow enough that a second passed, the
        # next get is ok and recorded as such; keep going until one is
        # limited, expecting exactly what the client saw.)
        self.put_cli("rate/x", b"rate value")
        expect(("secret.put", "rate/x", "ok", O, 1), cli_exe)
        r = self.as_client(self.rated, "get", "rate/x")
        self.assertRc(r, 0)
        expect(("secret.get", "rate/x", "ok", "rated", 1), self.rated)
        for _ in range(5):
            r = self.as_client(self.rated, "get", "rate/x")
            if r.rc == 0:
                expect(("secret.get", "rate/x", "ok", "rated", 1),
                       self.rated)
                continue
            self.assertEqual(self.kind_of(r), "rate_limited", r)
            expect(("secret.get", "rate/x", "rate_limited", "rated", 0),
                   self.rated)
            break
        else:
            self.fail("6 quick gets under 1/s burst 1 were all served")

        rows = self.all_rows()
        seqs = [row["seq"] for row in rows]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))),
                         "seqs are not consecutive")
        self.assertEqual(seqs[0], 1, "the first row is not seq 1")
        ts = [row["ts_us"] for row in rows]
        self.assertEqual(ts, sorted(ts), "times go backwards")
        marks = [i for i, row in enumerate(rows)
                 if row["op"] == "secret.put" and
                 row["name"] == "audit/marker"]
        self.assertEqual(len(marks), 1, "marker rows: %r" % marks)
        after = [row for row in rows[marks[0] + 1:]
                 if row["op"] != "agent.start"]
        got = [row_key(row) for row in after]
        want = [key for key, _ in exp]
        self.assertEqual(got, want, "rows after the marker differ\n"
                         "want:\n%s\ngot:\n%s"
                         % (fmt_rows(want), fmt_rows(got)))
        me = os.geteuid()
        for row, (key, exe) in zip(after, exp):
            if exe is None:
                continue
            self.assertEqual(row["uid"], me, row)
            self.assertIsInstance(row["pid"], int, row)
            self.assertGreater(row["pid"], 0, row)
            self.assertNotEqual(row["pid"], self.d.proc.pid, row)
            self.assertEqual(row["exe"], exe, row)
            if row["outcome"] == "ok":
                continue
            self.assertIsInstance(row["reason"], str,
                                  "a refusal without a reason: %r" % row)


# --- 2: never a value, token or passphrase -----------------------------------

class NoLeak(AuditCase):

    TAG = os.urandom(6).hex()
    PASSPHRASE = "kwleak-PASS-" + TAG
    CONFIG = {"audit": {"checkpoint_rows": 5}}

    def needles(self, label, data):
        if isinstance(data, str):
            data = data.encode()
        out = [(label, data),
               (label + " (base64)", base64.b64encode(data)),
               (label + " (base64url)",
                base64.urlsafe_b64encode(data).rstrip(b"=")),
               (label + " (hex)", data.hex().encode()),
               (label + " (HEX)", data.hex().upper().encode())]
        for skip in (1, 2):
            out.append((label + " (base64 from +%d)" % skip,
                        base64.b64encode(data[skip:])[4:-4]))
        return out

    def haystacks(self):
        hay = []
        for path in self.h.files():
            with open(path, "rb") as f:
                hay.append((os.path.relpath(path, self.h.home), f.read()))
        return hay

    def check_files(self, needles, control, when):
        hay = self.haystacks()
        names = [n for n, _ in hay]
        self.assertIn("secrets.db", names, names)
        self.assertIn("audit.checkpoints", names, names)
        self.assertIn(os.path.basename(self.h.log), names, names)
        db = b"".join(data for name, data in hay
                      if name.startswith("secrets.db"))
        self.assertIn(control, db, "the control (a secret name) is not in "
                      "the database %s: the search would find nothing"
                      % when)
        for label, needle in needles:
            for name, data in hay:
                if needle in data:
                    self.fail("%s found in %s at offset %d %s"
                              % (label, name, data.find(needle), when))

    def test_no_value_token_or_passphrase(self):
        tag = self.TAG
        name = "leak/control-" + tag
        value = ("kwleak-VALUE-%s-" % tag).encode() + bytes(range(0, 256, 7))
        wrong = "kwleak-WRONGPASS-" + tag
        newpass = "kwleak-NEWPASS-" + tag
        denied_value = ("kwleak-DENIEDVALUE-" + tag).encode()
        misplaced = "kwleak-MISPLACED-" + tag
        bogus = "kwt_" + ("kwleakBOGUS" + tag + "x" * 43)[:43]

        self.assertRc(self.unlock_cli(wrong), EXIT_ERROR)
        self.assertRc(self.unlock_cli(self.PASSPHRASE), 0)
        self.put_cli(name, value)
        self.assertEqual(self.get_cli(name), value)
        token = self.token_for("leakc")
        r = self.as_client(BIN_KWCLIENT, "get", name, token=token)
        self.assertRc(r, 0, "a get after presenting a token")
        self.assertEqual(r.out, value)
        r = self.as_client(BIN_KWCLIENT, "get", name, token=bogus)
        self.assertRc(r, EXIT_DENIED, "an unknown token was accepted")
        unlisted = self.copy_client("unlisted")
        r = self.as_client(unlisted, "put", "leak/denied", input=denied_value)
        self.assertRc(r, EXIT_DENIED)
        # Secrets pasted into the wrong field.
        rpc = self.rpc()
        for method, params in (
                ("secret.put", {"name": "leak/x", "valu": b64(
                    misplaced.encode())}),
                ("secret.put", {"name": misplaced + " !", "value": b64(
                    misplaced.encode())}),
                ("secret.get", {"name": misplaced + "/../x"}),
                ("client.hello", {"token": misplaced}),
                ("client.add", {"name": misplaced + "?"})):
            resp = rpc.call(method, params)
            self.assertIn("error", resp, resp)
            self.assertNotIn(misplaced, json.dumps(resp), resp)
        rfd = fd_with("%s\n%s\n" % (self.PASSPHRASE, newpass))
        try:
            r = self.cli("passwd", "--passphrase-fd", str(rfd),
                         pass_fds=(rfd,))
        finally:
            os.close(rfd)
        self.assertRc(r, 0, "keyward passwd")
        self.assertRc(self.cli("lock"), 0)
        self.assertRc(self.unlock_cli(newpass), 0)
        self.assertEqual(self.get_cli(name), value)

        rows = self.all_rows()
        ops = [row["op"] for row in rows]
        for op in ("agent.unlock", "agent.passwd", "agent.lock",
                   "client.hello", "client.add", "secret.put",
                   "secret.get"):
            self.assertIn(op, ops)

        needles = []
        needles += self.needles("the value", value)
        needles += self.needles("a denied put's value", denied_value)
        needles += self.needles("the passphrase", self.PASSPHRASE)
        needles += self.needles("a wrong passphrase", wrong)
        needles += self.needles("the new passphrase", newpass)
        needles += self.needles("the token", token)
        needles += [("the token's random part", token[4:].encode())]
        needles += self.needles("an unknown token", bogus)
        needles += self.needles("a misplaced secret", misplaced)
        self.check_files(needles, name.encode(), "while running")
        self.assertEqual(self.d.stop(), 0)
        self.check_files(needles, name.encode(), "after stop")


# --- 3: the four tamperings --------------------------------------------------

class Tamper(AuditCase):

    CONFIG = {"audit": {"checkpoint_rows": 10}}

    def setUp(self):
        super().setUp()
        rpc = self.rpc()
        self.assertRpcResult(rpc.call("secret.put", {
            "name": "t/x", "value": b64(b"tamper value")}))
        rpc.close()
        self.assertEqual(self.pipeline_gets("t/x", 48, nconn=2,
                                            inflight=8), 48)
        self.assertEqual(self.d.stop(), 0)
        self.rows = self.db_rows()
        self.assertGreaterEqual(len(self.rows), 50, self.rows)
        self.assertEqual([s for s, _ in self.rows],
                         list(range(1, len(self.rows) + 1)))
        self.cps = self.checkpoint_seqs()
        self.assertTrue(self.cps, "no checkpoint after %d rows"
                        % len(self.rows))
        self.mid = len(self.rows) // 2

    def restart_and_verify(self):
        if not self.d.alive():
            self.d.start()
        r, obj = self.verify()
        return r, obj

    def assertBroken(self, kind, seq):
        r, obj = self.restart_and_verify()
        self.assertEqual((obj["intact"], obj["kind"], obj["seq"]),
                         (False, kind, seq),
                         "verify after tampering: %r" % r)
        self.assertEqual(r.rc, 1, "a broken log must exit 1: %r" % r)
        r = self.cli("audit", "verify")
        self.assertEqual(r.rc, 1, "`keyward audit verify` on a broken log "
                         "must exit 1: %r" % r)
        self.assertTrue(self.d.alive())

    def test_intact(self):
        r, obj = self.restart_and_verify()
        self.assertRc(r, 0, "an untampered log")
        self.assertEqual((obj["intact"], obj["kind"], obj["seq"]),
                         (True, "intact", None), r)
        self.assertGreaterEqual(obj["rows"], len(self.rows), r)
        self.assertGreaterEqual(obj["checkpoints"], len(self.cps), r)
        self.assertRc(self.cli("audit", "verify"), 0)

    def test_edited_reason(self):
        self.sqlite("UPDATE audit SET reason = 'nothing happened here' "
                    "WHERE seq = %d;" % self.mid)
        self.assertBroken("edited", self.mid)

    def test_edited_name(self):
        self.sqlite("UPDATE audit SET name = 't/y' WHERE seq = %d;"
                    % self.mid)
        self.assertBroken("edited", self.mid)

    def test_deleted(self):
        self.sqlite("DELETE FROM audit WHERE seq = %d;" % self.mid)
        self.assertBroken("deleted", self.mid)

    def test_reordered(self):
        ts = dict(self.rows)
        a = next((s for s in range(self.mid, len(self.rows) - 1)
                  if ts[s] < ts[s + 1]), None)
        self.assertIsNotNone(a, "no two neighbouring rows with different "
                             "times: %r" % self.rows)
        self.sqlite("BEGIN; UPDATE audit SET seq = 1000000 WHERE seq = %d; "
                    "UPDATE audit SET seq = %d WHERE seq = %d; "
                    "UPDATE audit SET seq = %d WHERE seq = 1000000; COMMIT;"
                    % (a, a, a + 1, a + 1))
        swapped = dict(self.db_rows())
        self.assertEqual((swapped[a], swapped[a + 1]), (ts[a + 1], ts[a]))
        self.assertBroken("reordered", a)

    def test_truncated(self):
        # Cut the newest 15 rows, past at least one checkpoint. The agent
        # sees at start that audit.checkpoints signed rows the store no
        # longer has and refuses, naming them (docs/audit.md, "Start-up").
        last = len(self.rows) - 15
        newest = max(self.cps)
        self.assertGreater(newest, last, "no checkpoint past row %d: %r"
                           % (last, self.cps))
        self.sqlite("DELETE FROM audit WHERE seq > %d;" % last)
        self.assertEqual(self.db_rows()[-1][0], last)
        self.d.start(wait=False)
        self.assertEqual(self.d.wait_exit(), EX_DATAERR, "started without the "
                            "rows its checkpoints signed")
        self.assertIn("the store lost rows %d\u2013%d that" % (last + 1,
                                                               newest),
                      self.h.log_text())
        # Accepting the loss is possible, and is itself in the log: the
        # chain goes on after the newest signed line, so the gap is one
        # verify can tell from a deletion.
        self.d.extra_args = ["--accept-loss"]
        self.d.start()
        rows = self.all_rows()
        loss = [r for r in rows if r["op"] == "audit.loss_accepted"]
        self.assertEqual(len(loss), 1, rows[-5:])
        self.assertEqual(loss[0]["seq"], newest + 1, loss)
        self.assertIn("%d\u2013%d" % (last + 1, newest), loss[0]["reason"])
        r, obj = self.verify()
        self.assertRc(r, 0, "verify after an accepted loss")
        self.assertIn("%d rows lost and accepted" % (newest - last),
                      obj["detail"])
        # Accepted once: the next start needs nothing.
        self.d.extra_args = []
        self.d.restart()
        self.assertRc(self.verify()[0], 0)


# --- 4: 100k rows verify -----------------------------------------------------

class BigLog(AuditCase):

    ROWS = 100000
    # The pipelined writer sends 500 requests at a time and may stall
    # mid-line for more than the suite's 1 s on a loaded machine (the
    # agent would close the connection for a slow frame).
    CONFIG = {"agent": {"frame_timeout_ms": 60000}}

    @unittest.skipIf(harness.VALGRIND, harness.accepted_skip(
        "valgrind-scale", "100k audited gets would take most of the "
        "valgrind run; the other audit tests verify chains with "
        "checkpoints under memcheck"))
    def test_100k_rows_verify(self):
        rpc = self.rpc()
        self.assertRpcResult(rpc.call("secret.put", {
            "name": "big/x", "value": b64(b"big value")}))
        rpc.close()
        t0 = time.monotonic()
        self.assertEqual(self.pipeline_gets("big/x", self.ROWS), self.ROWS)
        t1 = time.monotonic()
        r, obj = self.verify()
        t2 = time.monotonic()
        sys.stderr.write("\n  [%d rows: generated in %.1fs, verified in "
                         "%.1fs] " % (self.ROWS, t1 - t0, t2 - t1))
        self.assertRc(r, 0, "verify of an untampered log")
        self.assertEqual((obj["intact"], obj["kind"]), (True, "intact"), r)
        self.assertGreaterEqual(obj["rows"], self.ROWS, r)
        self.assertGreaterEqual(obj["checkpoints"], 1, r)


# --- 5: a full filesystem ----------------------------------------------------

def fill_filesystem(path):
    """Write path until the filesystem has no byte left."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                 0o600)
    try:
        for size in (1 << 20, 1 << 16, 4096, 512, 64, 1):
            buf = b"\xa5" * size
            while True:
                try:
                    os.write(fd, buf)
                except OSError as e:
                    if e.errno == errno.ENOSPC:
                        break
                    raise
    finally:
        os.close(fd)


class FullDisk(AuditCase):

    INIT = False
    START = False

    def test_full_filesystem(self):
        if os.geteuid() != 0:
            self.skipTest("mounting a tmpfs needs root")
        h = self.h
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700",
             "kwaudit-full", h.home], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        if proc.returncode != 0:
            self.skipTest("cannot mount a tmpfs here: %s"
                          % proc.stderr.decode(errors="replace").strip())
        d = None
        try:
            os.chmod(h.home, 0o700)
            with open(h.ini, "w") as f:
                f.write(render_config(h.config))
            os.chmod(h.ini, 0o600)
            # The daemon's log outside the tmpfs, so that it survives.
            h.log = os.path.join(h.work, "keywardd.log")
            self.init_store()
            d = self.new_daemon()
            d.start()
            value = b"full filesystem value"
            self.put_cli("full/x", value)
            self.assertEqual(self.get_cli("full/x"), value)

            filler = os.path.join(h.home, "filler")
            fill_filesystem(filler)
            st = os.statvfs(h.home)
            self.assertEqual(st.f_bavail, 0, "the tmpfs is not full")

            r = self.cli("get", "full/x")
            self.assertNotEqual(r.rc, 0, "a get succeeded with no room for "
                                "its audit row: %r" % r)
            self.assertEqual(r.out, b"", r)
            r = self.kw("get", "full/x")
            self.assertNotEqual(r.rc, 0, r)
            self.assertEqual(r.out, b"", r)
            # The cause, named (issue 12): not "store error".
            self.assertEqual(self.kind_of(r), "disk_full", r)
            self.assertIn("disk full on the filesystem of %s"
                          % os.path.join(h.home, "secrets.db"), r.err)
            self.assertIn("disk full on the filesystem of", h.log_text())
            self.assertNotIn(value, r.err.encode(), r)
            # A full disk is a sure failure (nothing written), not an
            # outcome in doubt: no recovery is needed.
            self.assertNotIn("store_fault", self.rpc().call(
                "agent.status")["result"])
            self.assertTrue(d.alive(), "the daemon died on a full "
                            "filesystem; log:\n%s" % h.log_tail())
            r = self.cli("status")
            self.assertRc(r, 0, "agent.status on a full filesystem")

            os.unlink(filler)
            self.assertEqual(self.get_cli("full/x"), value)
            r = self.kw("get", "full/x")
            self.assertRc(r, 0)
            self.assertEqual(r.out, value)
        finally:
            if d is not None and d.alive():
                try:
                    d.stop()
                except AssertionError:
                    pass
                d.kill()
            proc = subprocess.run(["umount", h.home],
                                  stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, timeout=60)
            if proc.returncode != 0:
                subprocess.run(["umount", "-l", h.home],
                               stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=60)


# --- 6: --follow ------------------------------------------------------------

class SyslogCopy(DaemonTestCase):
    """[audit] syslog = 1 sends each checkpoint's sequence number and head
    hash to syslog. Needs root and a machine without a syslog socket, so
    that the test can stand in for the syslog daemon at /dev/log."""

    CONFIG = {"audit": {"checkpoint_rows": 3, "syslog": 1}}
    START = False

    def test_checkpoints_reach_syslog(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to listen on /dev/log")
        if os.path.lexists("/dev/log"):
            self.skipTest("/dev/log exists (a real syslog daemon owns it)")
        log = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        log.bind("/dev/log")
        self.addCleanup(os.unlink, "/dev/log")
        self.addCleanup(log.close)
        self.d.start()
        for i in range(4):
            self.put_cli("sys/x%d" % i, b"v")
        got = []
        end = time.monotonic() + 20
        while time.monotonic() < end:
            r, _, _ = select.select([log], [], [], 0.5)
            if r:
                got.append(log.recv(4096).decode("utf-8", "replace"))
                if any("keyward audit checkpoint seq=" in m for m in got):
                    break
        hits = [m for m in got if "keyward audit checkpoint seq=" in m]
        self.assertTrue(hits, "no checkpoint in syslog: %r" % got)
        m = re.search(r"seq=(\d+) hash=([0-9a-f]{64})", hits[0])
        self.assertTrue(m, hits[0])
        # The same seq and hash are in the checkpoints file.
        with open(os.path.join(self.h.home, "audit.checkpoints")) as f:
            lines = f.read().split("\n")
        self.assertTrue(any(line.startswith("%s %s " % (m.group(1),
                                                         m.group(2)))
                            for line in lines), lines)


class AuditKeyTampered(DaemonTestCase):
    """An agent that cannot open its audit log must not serve secrets: an
    unlock that fails to open it leaves the agent locked."""

    PASSPHRASE = "audit key tamper test"

    def test_unlock_fails_closed(self):
        self.unlock_cli(self.PASSPHRASE)
        r = self.rpc()
        self.assertRpcResult(r.call("secret.put", {"name": "ak/x",
                                                   "value": b64(b"v")}))
        self.assertRpcResult(r.call("agent.lock"))
        subprocess.run(["sqlite3", self.h.db,
                        "UPDATE audit_keys SET public = randomblob(32);"],
                       check=True, timeout=30)
        resp = r.call("agent.unlock", {"passphrase": self.PASSPHRASE},
                      timeout=60)
        self.assertIn("error", resp, resp)
        st = self.assertRpcResult(r.call("agent.status"))
        self.assertIs(st["locked"], True, st)
        self.assertRpcError(r.call("secret.get", {"name": "ak/x"}), 1006,
                            "locked")


class FollowerLimits(AuditCase):
    """audit.follow keeps needing admin, and a follower that stops reading
    is cut off instead of making the agent buffer rows without bound."""

    CONFIG = {"agent": {"max_output_bytes": 65536}}

    def test_revoked_admin_stops_following(self):
        py = os.path.realpath(sys.executable)
        self.h.write_policy("10-follow.ini",
                            '[client "py-token"]\nexe = %s\ntoken = fol\n'
                            'admin = yes\n' % py)
        # Without the token this Python may only read (it must not fall
        # back to the admin grant the harness gives it).
        self.h.write_policy("50-tests.ini",
                            '[client "test-python"]\nexe = %s\n'
                            'read = **\n' % py)
        self.assertRc(self.cli("policy", "reload"), 0)
        r = self.cli("client", "add", "fol")
        self.assertRc(r, 0)
        token = r.out.decode().strip()
        f = self.rpc()
        self.assertRpcResult(f.call("client.hello", {"token": token}))
        self.assertRpcResult(f.call("audit.follow"))
        self.assertRc(self.cli("client", "revoke", "fol"), 0)
        self.put_cli("fol/x", b"v")  # a row to push, or not
        lines, closed = f.read_until_closed(timeout=20)
        self.assertTrue(closed, "follower kept its stream after revoke")
        pushed_after = [json.loads(l) for l in lines
                        if b'"audit.row"' in l and b"fol/x" in l]
        self.assertEqual(pushed_after, [], "a revoked follower got rows")

    def test_follower_that_does_not_read_is_closed(self):
        f = harness.Rpc(self.h.socket)
        self.addCleanup(f.close)
        f.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.assertRpcResult(f.call("audit.follow"))
        r = self.rpc()
        self.assertRpcResult(r.call("secret.put", {"name": "nr/x",
                                                   "value": b64(b"v")}))
        sent = got = 0
        n = 3000
        while got < n:
            while sent < n and sent - got < 200:
                r.send_obj({"jsonrpc": "2.0", "id": sent,
                            "method": "secret.get",
                            "params": {"name": "nr/x"}})
                sent += 1
            r.recv_json()
            got += 1
        lines, closed = f.read_until_closed(timeout=30)
        self.assertTrue(closed, "a follower that did not read was kept")
        self.assertLess(len(lines), n, "every row was buffered for it")
        self.assertIn("not reading", self.d.log_text())


class Follow(AuditCase):

    def test_follow(self):
        self.put_cli("follow/warm", b"w")
        self.put_cli("follow/live", b"l")
        proc = spawn([BIN_KEYWARD, "audit", "--follow", "--json"],
                     self.h.env, stdin=subprocess.DEVNULL,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                     cwd=self.h.work)
        reader = LineReader(proc.stdout)
        rc = None
        try:
            def rows_for(name, lines):
                found = []
                for line in lines:
                    try:
                        row = json.loads(line)
                    except ValueError:
                        self.fail("the follower printed a line that is not "
                                  "JSON: %r" % line[:300])
                    self.assertIsInstance(row, dict, line)
                    self.assertEqual(set(row), ROW_FIELDS, line)
                    if row["op"] == "secret.get" and row["name"] == name:
                        found.append(row)
                return found

            # Attached once it shows a get made after it started.
            def warm():
                if proc.poll() is not None:
                    return "exited"
                self.assertRc(self.kw("get", "follow/warm"), 0)
                return poll_until(lambda: rows_for(
                    "follow/warm", reader.snapshot()), 1.0)
            state = poll_until(warm, 30, interval_s=0)
            if state == "exited":
                self.fail("the follower exited with %r: %r" % (
                    proc.returncode, proc.stderr.read(2000)))
            self.assertTrue(state, "the follower printed no row for "
                            "follow/warm: %r" % reader.snapshot()[-5:])

            seen = len(reader.snapshot())
            self.assertRc(self.kw("get", "follow/live"), 0)
            found = poll_until(lambda: rows_for(
                "follow/live", reader.snapshot()[seen:]), 20)
            self.assertTrue(found, "the follower did not print the live "
                            "get: %r" % reader.snapshot()[seen:])
            self.assertEqual(len(found), 1, found)
            self.assertEqual(row_key(found[0]),
                             ("secret.get", "follow/live", "ok",
                              KWCLIENT_PRINCIPAL, 1))
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.assertEqual(rc, 0, "the follower's exit status on SIGTERM")


# --- 7 and 8: --json, stats, filters ----------------------------------------

class Query(AuditCase):

    def seed_rows(self):
        """A known mix: three principals and nobody, four outcomes' worth
        (ok, denied, error), puts and gets, nested names."""
        unlisted = self.copy_client("unlisted")
        for name in ("f/a", "f/b", "g/c"):
            self.put_cli(name, ("value of %s" % name).encode())
        for name in ("f/a", "f/b", "g/c"):
            self.assertRc(self.kw("get", name), 0)
        self.assertRc(self.as_client(unlisted, "get", "f/a"), EXIT_DENIED)
        self.assertRc(self.as_client(unlisted, "get", "g/c"), EXIT_DENIED)
        self.assertRc(self.kw("get", "f/none"), EXIT_NOTFOUND)
        rpc = self.rpc()
        self.assertRpcResult(rpc.call("secret.put", {
            "name": "f/sub/d", "value": b64(b"nested")}))
        self.assertRpcResult(rpc.call("secret.get", {"name": "f/sub/d"}))
        self.assertRpcResult(rpc.call("secret.get", {"name": "g/c"}))
        rpc.close()
        rows = self.all_rows()
        self.assertGreaterEqual(len(rows), 13, rows)
        return rows

    def test_json_lines_and_stats(self):
        rows = self.seed_rows()
        printed = [row["seq"] for row in self.audit_json("--limit", "0")]
        self.assertEqual(printed, sorted(printed),
                         "`keyward audit` prints oldest first")
        me = os.geteuid()
        for row in rows:
            self.assertIsInstance(row["seq"], int, row)
            self.assertIsInstance(row["ts_us"], int, row)
            self.assertIsInstance(row["time"], str, row)
            self.assertRegex(row["time"], TIME_RE)
            self.assertEqual(row["time"], rfc3339_us(row["ts_us"]), row)
            self.assertEqual(row["uid"], me, row)
            self.assertIsInstance(row["pid"], int, row)
            self.assertIn(row["outcome"], OUTCOMES, row)
            self.assertIsInstance(row["op"], str, row)
            self.assertIsInstance(row["version"], (int, type(None)), row)
            for key in ("exe", "principal", "name", "reason"):
                self.assertIsInstance(row[key], (str, type(None)), row)
        want = collections.Counter((row["principal"], row["op"],
                                    row["outcome"]) for row in rows)
        r = self.cli("audit", "stats", "--json")
        self.assertRc(r, 0, "keyward audit stats --json")
        text = r.text.strip()
        try:
            whole = json.loads(text)
            counts = whole["counts"] if isinstance(whole, dict) else whole
        except ValueError:
            counts = [json.loads(line) for line in text.splitlines()
                      if line.strip()]
        self.assertIsInstance(counts, list, r)
        got = collections.Counter()
        for c in counts:
            self.assertEqual(set(c), {"principal", "op", "outcome",
                                      "count"}, c)
            key = (c["principal"], c["op"], c["outcome"])
            self.assertNotIn(key, got, "a group counted twice: %r" % r)
            got[key] = c["count"]
        self.assertEqual(dict(got), dict(want),
                         "stats do not match the rows")

    def assertSubset(self, args, want_rows):
        got = self.audit_json("--limit", "0", *args)
        got_seqs = sorted(row["seq"] for row in got)
        want_seqs = sorted(row["seq"] for row in want_rows)
        self.assertTrue(want_seqs, "%s: the expected subset is empty" % args)
        self.assertEqual(got_seqs, want_seqs, "keyward audit %s\nwant:\n%s\n"
                         "got:\n%s" % (" ".join(args),
                                       fmt_rows([row_key(x)
                                                 for x in want_rows]),
                                       fmt_rows([row_key(x) for x in got])))
        return got

    def test_filters(self):
        rows = self.seed_rows()
        everything = len(rows)

        def where(pred):
            sel = [row for row in rows if pred(row)]
            self.assertLess(len(sel), everything, "a filter that keeps "
                            "every row proves nothing")
            return sel

        for glob in ("f/*", "f/**", "g/c", "*/c"):
            with self.subTest(name=glob):
                self.assertSubset(["--name", glob], where(
                    lambda row: glob_match(glob, row["name"])))
        for principal in (KWCLIENT_PRINCIPAL, PYTHON_PRINCIPAL, self.owner):
            with self.subTest(principal=principal):
                self.assertSubset(["--principal", principal], where(
                    lambda row: row["principal"] == principal))
        for op in ("secret.put", "secret.get", "agent.start"):
            with self.subTest(op=op):
                self.assertSubset(["--op", op], where(
                    lambda row: row["op"] == op))
        for outcome in ("denied", "error", "ok"):
            with self.subTest(outcome=outcome):
                self.assertSubset(["--outcome", outcome], where(
                    lambda row: row["outcome"] == outcome))
        with self.subTest("combined"):
            self.assertSubset(
                ["--op", "secret.get", "--principal", KWCLIENT_PRINCIPAL,
                 "--name", "f/*"],
                where(lambda row: row["op"] == "secret.get" and
                      row["principal"] == KWCLIENT_PRINCIPAL and
                      glob_match("f/*", row["name"])))

        # Times (the CLI takes whole seconds): a second with no row in it
        # splits the log, so --until and --since at that second select
        # each side, whichever way the bound's second is rounded.
        with self.subTest(since="1h"):
            got = self.audit_json("--limit", "0", "--since", "1h")
            self.assertEqual(sorted(row["seq"] for row in got),
                             [row["seq"] for row in rows])
        split = rows[-1]["ts_us"] // 1000000 + 1
        poll_until(lambda: time.time() >= split + 1.05, 5)
        self.put_cli("h/e", b"later")
        self.assertRc(self.kw("get", "h/e"), 0)
        later = self.all_rows()[len(rows):]
        self.assertEqual([row["name"] for row in later], ["h/e", "h/e"],
                         later)
        self.assertGreaterEqual(later[0]["ts_us"], (split + 1) * 1000000)
        t = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(split))
        with self.subTest(until=t):
            self.assertSubset(["--until", t], rows)
        with self.subTest(since=t):
            self.assertSubset(["--since", t], later)
        with self.subTest("since 1h until " + t):
            self.assertSubset(["--since", "1h", "--until", t], rows)
        with self.subTest("since %s, a filter" % t):
            self.assertSubset(["--since", t, "--op", "secret.get"],
                              later[1:])
        rows = rows + later

        # --limit N: the N newest rows.
        for n in (1, 3):
            with self.subTest(limit=n):
                got = self.audit_json("--limit", str(n))
                self.assertEqual(sorted(row["seq"] for row in got),
                                 [row["seq"] for row in rows[-n:]])
        with self.subTest("limit with a filter"):
            gets = [row for row in rows if row["op"] == "secret.get"]
            got = self.audit_json("--limit", "2", "--op", "secret.get")
            self.assertEqual(sorted(row["seq"] for row in got),
                             [row["seq"] for row in gets[-2:]])


if __name__ == "__main__":
    unittest.main()
