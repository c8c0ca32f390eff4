"""Access policies end to end: clients told apart by executable, token and
uid get exactly their grants; exe_sha256 pins; reload (CLI and SIGHUP) is
atomic and a broken file names FILE:LINE; per-principal rate limits;
`keyward policy check` agrees with the daemon; `policy show`; the default
policy written by init.

Client identities are copies of kwclient at different paths under the
test's work directory. Policies go to policies/10-*.ini so that they are
attributed before the harness's 50-tests.ini (first match in file-name
order, then section order)."""

import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import sys
import time
import unittest

import harness
from harness import (EXIT_DENIED, EXIT_ERROR, DaemonTestCase, b64, mode_of,
                     poll_until, run)

TOKEN_RE = re.compile(rb"kwt_[A-Za-z0-9_-]{43}")
# kwclient's errors: "kwclient: WHAT: KIND: TEXT"
KWCLIENT_ERR_RE = re.compile(r"kwclient: [^:\n]+: ([a-z_]+): ")
HEADER_RE = re.compile(r'^\s*\[client\s+"([^"]*)"\]\s*$')

DENIED_CODE = 1005
RATE_CODE = 1020


def value_of(name):
    return ("value of %s" % name).encode()


def policy_text(sections, comment="written by test_policy"):
    """sections: [(name, [(key, value), ...]), ...]. Returns (text, lines)
    where lines maps each section name to the line of its last header."""
    out = ["# %s" % comment]
    lines = {}
    for name, keys in sections:
        out.append("")
        out.append('[client "%s"]' % name)
        lines[name] = len(out)
        for key, value in keys:
            out.append("%s = %s" % (key, value))
    return "\n".join(out) + "\n", lines


def headers_in(path):
    """[(line, name)] of the [client "NAME"] headers in a policy file."""
    found = []
    with open(path) as f:
        for i, line in enumerate(f, 1):
            m = HEADER_RE.match(line)
            if m:
                found.append((i, m.group(1)))
    return found


def sha256_of(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class PolicyCase(DaemonTestCase):
    """Policies are written before the daemon starts, so a test does not
    depend on reload unless it is about reload."""

    START = False

    def setUp(self):
        super().setUp()
        self.work = os.path.realpath(self.h.work)



    def seed(self, *names):
        for name in names:
            self.put_cli(name, value_of(name))

    def reload_cli(self):
        r = self.cli("policy", "reload")
        self.assertRc(r, 0, "keyward policy reload")
        return r

    def kind_of(self, result):
        m = KWCLIENT_ERR_RE.search(result.err)
        return m.group(1) if m else None

    def assertAllowedGet(self, exe, name, token=None):
        r = self.as_client(exe, "get", name, token=token)
        self.assertRc(r, 0, "%s should read %s" % (exe, name))
        self.assertEqual(r.out, value_of(name), r)

    def assertDenied(self, result, others=(), msg=""):
        """Exit 4, kind denied, and no secret name from others in the
        output (a refusal names only what was asked for)."""
        self.assertRc(result, EXIT_DENIED, msg)
        self.assertEqual(self.kind_of(result), "denied",
                         "error kind is not denied: %r" % result)
        text = result.err + result.text
        for other in others:
            self.assertNotIn(other, text, "the refusal names the secret "
                             "%r the client did not ask for: %r"
                             % (other, result))

    def token_for(self, name):
        r = self.cli("client", "add", name)
        self.assertRc(r, 0, "keyward client add %s" % name)
        m = TOKEN_RE.search(r.out)
        self.assertIsNotNone(m, "no kwt_ token on stdout: %r" % r)
        return m.group(0).decode()


# --- 1 and 6: several clients, each with its own grants ----------------------

SEEDED = ("alpha/x", "alpha/sub/x", "beta/x", "beta/a/b", "shared/x",
          "other/x")


class Clients(PolicyCase):

    def setUp(self):
        super().setUp()
        self.exe = {k: self.copy_client(k) for k in "abcde"}
        text, self.lines = policy_text([
            ("alpha", [("exe", self.exe["a"]), ("read", "alpha/*"),
                       ("write", "alpha/*")]),
            ("beta", [("exe", self.exe["b"]), ("read", "beta/**"),
                      ("list", "beta/**")]),
            ("gamma", [("token", "gamma"), ("read", "shared/*")]),
            ("delta", [("exe", self.exe["e"]), ("admin", "yes"),
                       ("list", "**")]),
        ])
        self.h.write_policy("10-clients.ini", text)
        self.d.start()
        self.seed(*SEEDED)
        self.token = self.token_for("gamma")

    def test_each_client_gets_exactly_its_grants(self):
        a, b, c = self.exe["a"], self.exe["b"], self.exe["c"]
        others = [n for n in SEEDED if n not in ("beta/x",)]

        # alpha: read and write alpha/*, nothing of beta's.
        self.assertAllowedGet(a, "alpha/x")
        self.assertDenied(self.as_client(a, "get", "beta/x"),
                          [n for n in SEEDED if n != "beta/x"],
                          "alpha must not read beta/x")
        self.assertDenied(self.as_client(a, "get", "alpha/sub/x"),
                          [n for n in SEEDED if n != "alpha/sub/x"],
                          "alpha/* must not reach alpha/sub/x")
        r = self.as_client(a, "put", "alpha/y", input=b"from alpha")
        self.assertRc(r, 0, "alpha should write alpha/y")
        self.assertEqual(self.get_cli("alpha/y"), b"from alpha")
        self.assertDenied(self.as_client(a, "put", "beta/y", input=b"no"),
                          others)
        self.assertDenied(self.as_client(a, "ls"), others,
                          "alpha has no list grant")

        # beta: read beta/**, list beta/**, no write.
        self.assertAllowedGet(b, "beta/a/b")
        self.assertAllowedGet(b, "beta/x")
        self.assertDenied(self.as_client(b, "get", "alpha/x"),
                          [n for n in SEEDED if n != "alpha/x"])
        self.assertDenied(self.as_client(b, "put", "beta/x", input=b"no"),
                          [n for n in SEEDED if n != "beta/x"],
                          "beta has no write grant")
        self.assertEqual(self.get_cli("beta/x"), value_of("beta/x"))
        r = self.as_client(b, "ls")
        self.assertRc(r, 0, "beta should list")
        names = sorted(line.split()[0] for line in r.text.splitlines()
                       if line.strip())
        self.assertEqual(names, ["beta/a/b", "beta/x"],
                         "beta's listing is not exactly its names: %r" % r)
        r = self.as_client(b, "ls", "alpha/")
        self.assertRc(r, 0, "a listing is filtered, not refused")
        self.assertEqual(r.text.strip(), "",
                         "beta sees alpha/ names: %r" % r)
        r = self.as_client(b, "call", "secret.versions",
                           json.dumps({"name": "beta/a/b"}))
        self.assertRc(r, 0, "beta should see versions of beta/a/b")
        self.assertEqual(json.loads(r.out)["name"], "beta/a/b", r)
        self.assertDenied(self.as_client(b, "call", "secret.versions",
                                         json.dumps({"name": "alpha/x"})),
                          [n for n in SEEDED if n != "alpha/x"])

        # gamma: the token decides, not the executable.
        self.assertAllowedGet(c, "shared/x", token=self.token)
        self.assertDenied(self.as_client(c, "get", "beta/x",
                                         token=self.token),
                          [n for n in SEEDED if n != "beta/x"])
        self.assertDenied(self.as_client(c, "get", "shared/x"),
                          [n for n in SEEDED if n != "shared/x"],
                          "without KEYWARD_TOKEN the copy is nobody")
        r = self.cli("client", "revoke", "gamma")
        self.assertRc(r, 0, "keyward client revoke gamma")
        r = self.as_client(c, "get", "shared/x", token=self.token)
        self.assertDenied(r, [n for n in SEEDED if n != "shared/x"],
                          "a revoked token still reads")
        self.assertNotIn(self.token, r.err + r.text)

    # -- 6: policy check agrees with the daemon --

    def real_op(self, exe, token, op, name):
        if op == "read":
            return self.as_client(exe, "get", name, token=token)
        if op == "write":
            return self.as_client(exe, "put", name, token=token,
                                  input=b"written by a check case")
        if op == "list" and name is None:
            return self.as_client(exe, "ls", token=token)
        if op == "list":
            return self.as_client(exe, "call", "secret.versions",
                                  json.dumps({"name": name}), token=token)
        if op == "admin":
            return self.as_client(exe, "call", "policy.show", token=token)
        raise ValueError(op)

    def test_policy_check_agrees_with_daemon(self):
        e = self.exe
        t = self.token
        # identity: (exe, token, expected principal)
        ident = {
            "alpha": (e["a"], None, "alpha"),
            "beta": (e["b"], None, "beta"),
            "gamma": (e["c"], t, "gamma"),
            "c-no-token": (e["c"], None, None),
            "unknown": (e["d"], None, None),
            "delta-admin": (e["e"], None, "delta"),
        }
        # (identity, op, name, allowed?)
        cases = [
            ("alpha", "read", "alpha/x", True),
            ("alpha", "read", "beta/x", False),
            ("alpha", "read", "alpha/sub/x", False),
            ("alpha", "write", "alpha/y", True),
            ("alpha", "write", "beta/y", False),
            ("alpha", "list", None, False),
            ("alpha", "admin", None, False),
            ("beta", "read", "beta/a/b", True),
            ("beta", "read", "beta/x", True),
            ("beta", "read", "alpha/x", False),
            ("beta", "write", "beta/x", False),
            ("beta", "list", None, True),
            ("beta", "list", "beta/a/b", True),
            ("beta", "list", "alpha/x", False),
            ("beta", "admin", None, False),
            ("gamma", "read", "shared/x", True),
            ("gamma", "read", "beta/x", False),
            ("gamma", "write", "shared/x", False),
            ("c-no-token", "read", "shared/x", False),
            ("unknown", "read", "alpha/x", False),
            ("unknown", "list", None, False),
            ("unknown", "admin", None, False),
            ("delta-admin", "admin", None, True),
            ("delta-admin", "read", "alpha/x", False),
            ("delta-admin", "list", None, True),
            ("delta-admin", "list", "other/x", True),
        ]
        uid = str(os.geteuid())
        rows = []
        bad = 0
        for who, op, name, want in cases:
            exe, token, principal = ident[who]
            argv = ["policy", "check", "--uid", uid, "--exe", exe,
                    "--op", op, "--json"]
            if token is not None:
                argv += ["--token-name", "gamma"]
            if name is not None:
                argv += ["--name", name]
            chk = self.cli(*argv)
            problems = []
            verdict = None
            try:
                res = json.loads(chk.out)
                verdict = res.get("allowed")
            except ValueError:
                res = {}
                problems.append("check output not JSON")
            if chk.rc not in (0, EXIT_DENIED):
                problems.append("check rc %d" % chk.rc)
            elif verdict is not None and chk.rc != (0 if verdict else 4):
                problems.append("check rc %d but allowed=%r"
                                % (chk.rc, verdict))
            if res and res.get("principal") != principal:
                problems.append("principal %r, want %r"
                                % (res.get("principal"), principal))
            if res and principal is not None and (
                    os.path.basename(str(res.get("file"))) !=
                    "10-clients.ini" or
                    res.get("line") != self.lines[principal]):
                problems.append("file:line %r:%r, want 10-clients.ini:%d"
                                % (res.get("file"), res.get("line"),
                                   self.lines[principal]))
            if res and not isinstance(res.get("reason"), str):
                problems.append("no reason")
            real = self.real_op(exe, token, op, name)
            if real.rc == 0:
                daemon = True
            elif real.rc == EXIT_DENIED and self.kind_of(real) == "denied":
                daemon = False
            else:
                daemon = None
                problems.append("real op rc %d: %s"
                                % (real.rc, real.err.strip()[-120:]))
            if verdict is not daemon:
                problems.append("disagree")
            if daemon is not want:
                problems.append("want %s" % ("allow" if want else "deny"))
            if problems:
                bad += 1
            rows.append("%-12s %-6s %-12s want=%-5s check=%-5s daemon=%-5s "
                        "%s" % (who, op, name or "-", want, verdict, daemon,
                                "; ".join(problems) or "ok"))
        self.assertGreaterEqual(len(cases), 20)
        if bad:
            self.fail("policy check and the daemon disagree in %d of %d "
                      "cases:\n%s" % (bad, len(cases), "\n".join(rows)))

    # -- 7: policy show --

    def test_policy_show(self):
        expected = []
        for fname in sorted(os.listdir(self.h.policies)):
            if fname.endswith(".ini"):
                for line, name in headers_in(
                        os.path.join(self.h.policies, fname)):
                    expected.append((fname, line, name))
        self.assertIn(("10-clients.ini", self.lines["beta"], "beta"),
                      expected)
        r = self.cli("policy", "show", "--json")
        self.assertRc(r, 0, "keyward policy show --json")
        shown = json.loads(r.out)
        self.assertEqual([os.path.basename(f) for f in shown["files"]],
                         ["00-owner.ini", "10-clients.ini", "50-tests.ini"],
                         shown.get("files"))
        got = [(os.path.basename(c["file"]), c["line"], c["name"])
               for c in shown["clients"]]
        self.assertEqual(got, expected, "sections not in attribution order "
                         "or with wrong file/line")
        by_name = {c["name"]: c for c in shown["clients"]}
        self.assertEqual(by_name["alpha"]["exe"], self.exe["a"])
        self.assertEqual(by_name["alpha"]["read"], ["alpha/*"])
        self.assertEqual(by_name["beta"]["list"], ["beta/**"])
        self.assertEqual(by_name["gamma"]["token"], "gamma")
        self.assertIs(by_name["delta"]["admin"], True)
        self.assertIs(by_name["alpha"]["admin"], False)
        self.assertNotIn(self.token, r.text)
        r = self.cli("policy", "show")
        self.assertRc(r, 0, "keyward policy show")
        for _f, _l, name in expected:
            self.assertIn(name, r.text, "human output lacks section %r"
                          % name)


# --- 2: another uid ----------------------------------------------------------

# Run as nobody: connect, send agent.status, report. argv: SOCKET MODE where
# MODE is "reply" (stop after the first line) or "close" (read to EOF).
NOBODY_PEER = r"""
import json, socket, sys
rep = {"connected": False, "errno": None, "replies": [], "closed": False}
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(15)
try:
    s.connect(sys.argv[1])
except OSError as e:
    rep["errno"] = e.errno
    print(json.dumps(rep))
    sys.exit(0)
rep["connected"] = True
try:
    s.sendall(b'{"jsonrpc":"2.0","id":7,"method":"agent.status"}\n')
except OSError:
    pass
data = b""
while sys.argv[2] == "close" or b"\n" not in data:
    try:
        chunk = s.recv(4096)
    except socket.timeout:
        break
    except OSError:
        chunk = b""
    if not chunk:
        rep["closed"] = True
        break
    data += chunk
rep["replies"] = [json.loads(l) for l in data.split(b"\n") if l.strip()]
print(json.dumps(rep))
"""


def _nobody_gid():
    try:
        return pwd.getpwnam("nobody").pw_gid
    except KeyError:
        return 65534


@unittest.skipUnless(os.geteuid() == 0,
                     "needs root to run clients as another uid (nobody)")
@unittest.skipUnless(shutil.which("setpriv"), "needs setpriv (util-linux)")
class OtherUid(PolicyCase):
    """The socket reachable by nobody's group (the recommended deployment:
    [agent] socket_mode 0660 and socket_group), in a directory of its own;
    the home stays 0700."""

    CONFIG = {"agent": {"socket_mode": "0660",
                        "socket_group": str(_nobody_gid())}}

    def setUp(self):
        self.uid, self.gid = harness.nobody(self)
        super().setUp()
        self.h.socket = os.path.join(self.h.root, "run", "agent.sock")
        self.h.env["KEYWARD_SOCKET"] = self.h.socket

    def as_nobody(self, argv):
        return run(harness.as_user(self.uid, self.gid, argv),
                   {"PATH": "/usr/bin:/bin", "KEYWARD_SOCKET": self.h.socket},
                   cwd="/", timeout=60)

    def peer(self, mode):
        r = self.as_nobody([self.python, "-c", NOBODY_PEER, self.h.socket,
                            mode])
        self.assertEqual(r.rc, 0, r)
        return json.loads(r.out)

    def test_uid_and_exe_both_count(self):
        exe = self.copy_client("n")
        self.python = None
        for cand in ("/usr/bin/python3", shutil.which("python3")):
            if cand and self.as_nobody([cand, "-c", "pass"]).rc == 0:
                self.python = cand
                break
        text, _ = policy_text([
            ("nobody-reader", [("uid", "nobody"), ("exe", exe),
                               ("read", "pub/*")]),
        ])
        self.h.write_policy("10-nobody.ini", text)
        self.d.start()
        self.seed("pub/x", "priv/x")
        opened = [(self.h.root, 0o711), (self.h.work, 0o711)]
        try:
            for path, mode in opened:
                os.chmod(path, mode)
            probe = self.as_nobody([exe, "status"])
            if probe.rc == 126 or probe.rc == 127:
                self.skipTest("nobody cannot run the kwclient copy: %r"
                              % probe)
            r = self.as_nobody([exe, "get", "pub/x"])
            self.assertRc(r, 0, "nobody-reader should read pub/x")
            self.assertEqual(r.out, value_of("pub/x"))
            r = self.as_nobody([exe, "get", "priv/x"])
            self.assertDenied(r, ["pub/x"], "nobody-reader read priv/x")

            if self.python is None:
                self.skipTest("no python3 executable by uid %d" % self.uid)
            # Same uid, another executable: connected, then denied.
            out = self.peer("reply")
            self.assertTrue(out["connected"], out)
            self.assertEqual(len(out["replies"]), 1, out)
            reply = out["replies"][0]
            self.assertEqual(reply.get("id"), 7, reply)
            self.assertNotIn("result", reply, "served: %r" % reply)
            self.assertEqual(reply["error"]["code"], DENIED_CODE, reply)
            self.assertEqual(reply["error"]["data"]["kind"], "denied", reply)

            # No section names the uid any more: refused at connect.
            os.unlink(os.path.join(self.h.policies, "10-nobody.ini"))
            self.reload_cli()
            mark = len(self.h.log_text())
            out = self.peer("close")
            self.assertTrue(out["connected"], out)
            self.assertTrue(out["closed"], "not closed: %r" % out)
            self.assertEqual(len(out["replies"]), 1, out)
            reply = out["replies"][0]
            self.assertIsNone(reply.get("id"), "a request was processed: %r"
                              % reply)
            self.assertEqual(reply["error"]["data"]["kind"], "denied", reply)
            self.assertTrue(
                poll_until(lambda: str(self.uid) in self.h.log_text()[mark:],
                           10),
                "the log does not mention uid %d:\n%s"
                % (self.uid, self.h.log_tail()))
        finally:
            for path, _ in reversed(opened):
                try:
                    os.chmod(path, 0o700)
                except OSError:
                    pass
        self.assertEqual(self.get_cli("pub/x"), value_of("pub/x"))


# --- 3: exe_sha256 -----------------------------------------------------------

class ExePin(PolicyCase):

    def test_exe_sha256(self):
        good = self.copy_client("pinned")
        wrong = self.copy_client("mispinned")
        text, _ = policy_text([
            ("pinned", [("exe", good), ("exe_sha256", sha256_of(good)),
                        ("read", "pin/*")]),
            ("mispinned", [("exe", wrong), ("exe_sha256", "0" * 64),
                           ("read", "pin/*")]),
        ])
        self.h.write_policy("10-pins.ini", text)
        self.d.start()
        self.seed("pin/x")
        self.assertAllowedGet(good, "pin/x")
        self.assertDenied(self.as_client(wrong, "get", "pin/x"), (),
                          "a wrong exe_sha256 matched")
        with open(good, "ab") as f:
            f.write(b"\0")
        self.assertEqual(mode_of(good), 0o755)
        r = self.as_client(good, "get", "pin/x")
        self.assertDenied(r, (), "the modified binary still matches its pin")
        # The daemon itself is fine and others are served.
        self.assertEqual(self.get_cli("pin/x"), value_of("pin/x"))


# --- 4: reload ---------------------------------------------------------------

class Reload(PolicyCase):

    def write_alpha(self, extra_lines, read="alpha/*"):
        """10-clients.ini with alpha plus extra lines; returns the number
        of the first extra line."""
        lines = ["# reload test", '[client "alpha"]',
                 "exe = %s" % self.alpha, "read = %s" % read]
        first = len(lines) + 1
        lines += extra_lines
        self.h.write_policy("10-clients.ini", "\n".join(lines) + "\n")
        return first

    BROKEN = [
        # (label, extra lines, offset of the bad line, words of the reason)
        ("unknown key", ["colour = blue"], 0, ["colour"]),
        ("bad glob", ["list = a/**b"], 0, ["a/**b", "glob"]),
        ("bad rate", ["rate = 5/x"], 0, ["5/x", "rate"]),
        ("duplicate section", ["", '[client "alpha"]', "exe = /bin/true",
                               "read = dup/*"], 1,
         ["duplicate", "already", "twice"]),
    ]

    def test_reload(self):
        self.alpha = self.copy_client("a")
        self.write_alpha([])
        self.d.start()
        self.seed("alpha/x", "other/x", "dup/x")
        self.assertAllowedGet(self.alpha, "alpha/x")
        self.assertDenied(self.as_client(self.alpha, "get", "other/x"))

        # A valid reload applies to the next request.
        self.write_alpha([], read="alpha/*, other/*")
        self.reload_cli()
        self.assertAllowedGet(self.alpha, "other/x")

        # Broken files: exit 1, FILE:LINE and why; the old policy stays.
        for label, extra, offset, words in self.BROKEN:
            with self.subTest(label):
                first = self.write_alpha(extra)
                where = "10-clients.ini:%d" % (first + offset)
                r = self.cli("policy", "reload")
                self.assertRc(r, EXIT_ERROR, "reload of a broken file")
                text = r.err + r.text
                self.assertIn(where, text, "no FILE:LINE: %r" % r)
                self.assertTrue(any(w in text.lower() for w in words),
                                "the reason is not given (%s): %r"
                                % (label, r))
                self.assertAllowedGet(self.alpha, "other/x")
                self.assertDenied(self.as_client(self.alpha, "get", "dup/x"))

        # The same through SIGHUP.
        first = self.write_alpha(["rate = 5/x"])
        where = "10-clients.ini:%d" % first
        mark = len(self.h.log_text())

        def logged():
            new = self.h.log_text()[mark:]
            return "reload failed" in new and where in new
        self.d.proc.send_signal(signal.SIGHUP)
        self.assertTrue(poll_until(logged, 20),
                        "after SIGHUP the log does not say the reload failed "
                        "at %s:\n%s" % (where, self.h.log_tail()))
        self.assertAllowedGet(self.alpha, "other/x")
        self.assertTrue(self.d.alive())

        # A valid file through SIGHUP revokes other/*.
        self.write_alpha([])
        self.d.proc.send_signal(signal.SIGHUP)
        self.assertTrue(poll_until(
            lambda: self.as_client(self.alpha, "get", "other/x").rc ==
            EXIT_DENIED, 20), "a valid SIGHUP reload did not apply")
        self.assertAllowedGet(self.alpha, "alpha/x")


# --- 5: rate limits ----------------------------------------------------------

class RateLimit(PolicyCase):

    def burst(self, rpc, n):
        """n secret.get requests sent at once; the n responses."""
        reqs = [rpc.request("secret.get", {"name": "rate/x"})
                for _ in range(n)]
        payload = "".join(json.dumps(q, separators=(",", ":")) + "\n"
                          for q in reqs)
        self.assertTrue(rpc.send(payload))
        resps = [rpc.recv_json() for _ in reqs]
        self.assertEqual([p.get("id") for p in resps],
                         [q["id"] for q in reqs])
        return resps

    def test_rate_limit_per_principal(self):
        text, _ = policy_text([
            ("rate-py", [("exe", os.path.realpath(sys.executable)),
                         ("rate", "5/s burst 5"), ("read", "**")]),
        ])
        self.h.write_policy("10-rate.ini", text)
        self.d.start()
        self.seed("rate/x")
        rpc = self.rpc()
        resps = self.burst(rpc, 10)
        for resp in resps[:5]:
            res = self.assertRpcResult(resp)
            self.assertEqual(res["value"], b64(value_of("rate/x")))
        limited = [p for p in resps[5:] if "error" in p]
        self.assertTrue(limited, "10 requests at once with burst 5 were "
                        "all served: %r" % resps)
        retry = 0
        for resp in limited:
            err = self.assertRpcError(resp, RATE_CODE, "rate_limited")
            ms = err["data"].get("retry_after_ms")
            self.assertIsInstance(ms, int, resp)
            self.assertNotIsInstance(ms, bool, resp)
            self.assertGreaterEqual(ms, 1, resp)
            retry = max(retry, ms)
        time.sleep(retry / 1000.0 + 0.05)
        res = self.assertRpcResult(rpc.call("secret.get", {"name": "rate/x"}))
        self.assertEqual(res["value"], b64(value_of("rate/x")))

        # Exhaust it again: the CLI is another principal, unaffected.
        resps = self.burst(rpc, 10)
        self.assertTrue(any("error" in p for p in resps), resps)
        for resp in resps:
            if "error" in resp:
                self.assertRpcError(resp, RATE_CODE, "rate_limited")
        self.assertEqual(self.get_cli("rate/x"), value_of("rate/x"))


# --- 8: the default policy ---------------------------------------------------

class DefaultPolicy(PolicyCase):

    def test_default_policy(self):
        path = os.path.join(self.h.policies, "00-owner.ini")
        self.assertTrue(os.path.isfile(path), "init wrote no 00-owner.ini")
        self.assertEqual(mode_of(path), 0o600)
        self.assertEqual(mode_of(self.h.policies), 0o700)
        self.assertTrue(headers_in(path), "00-owner.ini has no section")
        self.d.start()
        self.put_cli("def/x", value_of("def/x"))
        r = self.cli("policy", "show", "--json")
        self.assertRc(r, 0, "the CLI cannot administer")
        r = self.cli("client", "add", "somebody")
        self.assertRc(r, 0, "the CLI cannot administer")
        stranger = self.copy_client("stranger")
        for argv, label in ((["status"], "agent.status"),
                            (["get", "def/x"], "read"),
                            (["put", "def/y"], "write"),
                            (["ls"], "list"),
                            (["call", "client.list"], "admin")):
            with self.subTest(label):
                r = self.as_client(stranger, *argv, input=b"x")
                self.assertDenied(r, ["def/x"] if label != "read" else (),
                                  "an unknown executable was allowed %s"
                                  % label)
        self.assertNotIn(b"def/y", self.cli("ls").out)
        # The harness's own kwclient (50-tests.ini) is still served.
        r = self.kw("get", "def/x")
        self.assertRc(r, 0)


if __name__ == "__main__":
    unittest.main()
