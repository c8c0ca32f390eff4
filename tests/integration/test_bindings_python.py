"""bindings/python/keyward.py against the real keywardd (and, for what an
agent never does on purpose, against a fake one on a socket of our own).

- secret.get returns the exact bytes; errors carry the protocol's kind and
  code; the socket is found from the environment as docs/config.md says;
- $KEYWARD_TOKEN / token= is presented first, and decides attribution;
- one Client survives an agent restart (one transparent reconnect) and is
  shared by threads;
- timeouts, oversized lines and mismatched ids close the connection;
- put_secret / delete_secret, and their argument checks;
- no repr or str of an object holding a token shows it;
- apikey.verify, token.verify, jwks and TokenVerifier (these need the
  agent's apikey.* and token.* methods);
- bindings/python installs with pip (pyproject.toml, offline, no build
  isolation) and the installed copy does a round trip in a new process."""

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import unittest
from unittest import mock

from harness import CLI_DEADLINE_S, DaemonTestCase, b64, run
import kwauth
from kwauth import keyward

ALL_BYTES = bytes(range(256))
AUD = "https://mcp.example.test/mcp"


class PythonClient(DaemonTestCase):

    def setUp(self):
        super().setUp()
        self.c = kwauth.client_for(self.h)
        self.addCleanup(self.c.close)

    def test_get_secret_bytes(self):
        values = {"py/all": ALL_BYTES * 4, "py/empty": b"",
                  "py/big": os.urandom(65536), "py/nl": b"line\n"}
        for name, value in values.items():
            self.put_cli(name, value)
        for name, value in values.items():
            self.assertEqual(self.c.get_secret(name), value, name)
        self.put_cli("py/all", b"second")
        self.assertEqual(self.c.get_secret("py/all"), b"second")
        self.assertEqual(self.c.get_secret("py/all", version=1),
                         ALL_BYTES * 4)
        self.assertEqual(self.c.get_secret("py/all", stage="previous"),
                         ALL_BYTES * 4)
        res = self.c.call("secret.get", {"name": "py/all"})
        self.assertEqual(res["version"], 2)
        self.assertEqual(res["value"], b64(b"second"))

    def test_put_and_delete_secret(self):
        res = self.c.put_secret("py/put", ALL_BYTES)
        self.assertEqual(res, {"name": "py/put", "version": 1})
        self.assertEqual(self.c.put_secret("py/put", bytearray(b"two")),
                         {"name": "py/put", "version": 2})
        self.assertEqual(self.c.put_secret("py/put", memoryview(b"three")),
                         {"name": "py/put", "version": 3})
        self.assertEqual(self.c.put_secret("py/empty", b"")["version"], 1)
        self.assertEqual(self.c.get_secret("py/put", version=1), ALL_BYTES)
        self.assertEqual(self.c.get_secret("py/put"), b"three")
        self.assertEqual(self.c.get_secret("py/empty"), b"")
        gen = self.c.put_secret("py/gen", generate=48)
        self.assertEqual(gen, {"name": "py/gen", "version": 1})
        self.assertEqual(len(self.c.get_secret("py/gen")), 48)
        res = self.c.delete_secret("py/put")
        self.assertEqual(res, {"name": "py/put", "deleted_versions": 3})
        self.assertRc(self.cli("get", "py/put"), 3)  # not found
        for fn, kind in (
                (lambda: self.c.get_secret("py/put"), "not_found"),
                (lambda: self.c.delete_secret("py/put"), "not_found"),
                (lambda: self.c.delete_secret("../x"), "invalid_name"),
                (lambda: self.c.put_secret("../x", b"v"), "invalid_name"),
                # over the agent's max_value_bytes (64 KiB by default)
                (lambda: self.c.put_secret("py/big", b"x" * 65537),
                 "too_big")):
            with self.subTest(kind=kind):
                with self.assertRaises(keyward.KeywardError) as cm:
                    fn()
                self.assertEqual(cm.exception.kind, kind)

    def test_put_secret_arguments_checked_before_sending(self):
        bad = [((b"v",), {"generate": 4}), ((), {}),
               (("text",), {}), ((12,), {}), (([1, 2],), {}),
               ((), {"generate": 0}), ((), {"generate": True}),
               ((), {"generate": 1.5}),
               ((), {"generate": keyward.MAX_VALUE_BYTES + 1})]
        # An unreachable socket: anything sent would fail as "connect".
        c = keyward.Client(path=os.path.join(self.h.work, "nothing.sock"),
                           token="")
        for args, kwargs in bad:
            with self.subTest(args=args, kwargs=kwargs):
                with self.assertRaises(keyward.KeywardError) as cm:
                    c.put_secret("py/x", *args, **kwargs)
                self.assertEqual(cm.exception.kind, "invalid_params")
        with mock.patch.object(keyward, "MAX_VALUE_BYTES", 8):
            with self.assertRaises(keyward.KeywardError) as cm:
                c.put_secret("py/x", b"123456789")
        self.assertEqual(cm.exception.kind, "too_big")

    def test_errors_carry_kind_and_code(self):
        cases = [
            (lambda: self.c.get_secret("py/missing"), "not_found", 1004),
            (lambda: self.c.get_secret("../etc"), "invalid_name", 1007),
            (lambda: self.c.call("no.such.method"), "method_not_found",
             -32601),
            (lambda: self.c.call("secret.get", {"name": "a", "nmae": "b"}),
             "invalid_params", -32602),
        ]
        for fn, kind, code in cases:
            with self.subTest(kind=kind):
                with self.assertRaises(keyward.KeywardError) as cm:
                    fn()
                self.assertEqual(cm.exception.kind, kind)
                self.assertEqual(cm.exception.code, code)
                self.assertEqual(cm.exception.data.get("kind"), kind)
                self.assertTrue(cm.exception.message)
        # The connection stays usable after errors.
        self.put_cli("py/after", b"ok")
        self.assertEqual(self.c.get_secret("py/after"), b"ok")

    def test_socket_from_environment(self):
        env = {"KEYWARD_SOCKET": self.h.socket}
        with mock.patch.dict(os.environ, env, clear=True):
            self.assertEqual(keyward.socket_path(), self.h.socket)
            self.put_cli("py/env", b"via env")
            with keyward.Client() as c:
                self.assertEqual(c.get_secret("py/env"), b"via env")
        rules = [
            ({"KEYWARD_SOCKET": "/s/a.sock", "XDG_RUNTIME_DIR": "/run/u",
              "KEYWARD_HOME": "/h"}, "/s/a.sock"),
            ({"XDG_RUNTIME_DIR": "/run/u", "KEYWARD_HOME": "/h"},
             "/run/u/keyward/agent.sock"),
            ({"KEYWARD_HOME": "/h", "HOME": "/home/x"}, "/h/agent.sock"),
            ({"HOME": "/home/x"}, "/home/x/.mcp/agent.sock"),
        ]
        for env, want in rules:
            with self.subTest(env=env), \
                    mock.patch.dict(os.environ, env, clear=True):
                self.assertEqual(keyward.socket_path(), want)
        for env in ({"KEYWARD_SOCKET": "relative.sock"},
                    {"XDG_RUNTIME_DIR": "run"},
                    {"KEYWARD_SOCKET": "/" + "x" * 200}):
            with self.subTest(env=env), \
                    mock.patch.dict(os.environ, env, clear=True):
                with self.assertRaises(keyward.KeywardError) as cm:
                    keyward.socket_path()
                self.assertEqual(cm.exception.kind, "invalid_params")

    def test_connect_failure(self):
        c = keyward.Client(path=os.path.join(self.h.work, "nothing.sock"),
                           token="")
        with self.assertRaises(keyward.KeywardError) as cm:
            c.get_secret("x")
        self.assertEqual(cm.exception.kind, "connect")
        self.assertEqual(cm.exception.code, 1010)

    def test_client_token_decides_attribution(self):
        token = self.client_token("py-narrow")
        self.h.write_policy("10-py-narrow.ini", (
            '[client "py-narrow"]\ntoken = py-narrow\nexe = %s\n'
            'read = narrow/*\n' % os.path.realpath(sys.executable)))
        self.assertRc(self.cli("policy", "reload"), 0)
        self.put_cli("narrow/x", b"narrow")
        self.put_cli("other/x", b"other")
        # With the token this program is py-narrow: narrow/* only.
        with kwauth.client_for(self.h, token=token) as c:
            self.assertEqual(c.get_secret("narrow/x"), b"narrow")
            with self.assertRaises(keyward.KeywardError) as cm:
                c.get_secret("other/x")
            self.assertEqual(cm.exception.kind, "denied")
            for fn in (lambda: c.put_secret("narrow/x", b"new"),
                       lambda: c.delete_secret("narrow/x")):
                with self.assertRaises(keyward.KeywardError) as cm:
                    fn()
                self.assertEqual(cm.exception.kind, "denied")
        self.assertEqual(self.c.get_secret("narrow/x"), b"narrow")
        # $KEYWARD_TOKEN is the default, and is presented again after a
        # reconnect.
        with mock.patch.dict(os.environ, {"KEYWARD_TOKEN": token}):
            with keyward.Client(path=self.h.socket) as c:
                self.assertEqual(c.get_secret("narrow/x"), b"narrow")
                self.d.restart()
                with self.assertRaises(keyward.KeywardError) as cm:
                    c.get_secret("other/x")
                self.assertEqual(cm.exception.kind, "denied")
        # Without it: the harness's test-python section, which reads all.
        self.assertEqual(self.c.get_secret("other/x"), b"other")
        # A malformed token is refused before any round trip; a revoked
        # one by the agent.
        with self.assertRaises(keyward.KeywardError) as cm:
            keyward.Client(path=self.h.socket, token="kwt_short")
        self.assertEqual(cm.exception.kind, "invalid_params")
        self.assertRc(self.cli("client", "revoke", "py-narrow"), 0)
        with kwauth.client_for(self.h, token=token) as c:
            with self.assertRaises(keyward.KeywardError) as cm:
                c.get_secret("narrow/x")
            self.assertEqual(cm.exception.kind, "denied")

    def client_token(self, name):
        r = self.cli("client", "add", name)
        self.assertRc(r, 0)
        m = re.search(r"kwt_[A-Za-z0-9_-]{43}", r.text)
        self.assertIsNotNone(m, r)
        return m.group(0)

    def test_survives_agent_restart(self):
        self.put_cli("py/r", b"one")
        self.assertEqual(self.c.get_secret("py/r"), b"one")
        self.d.restart()
        self.assertEqual(self.c.get_secret("py/r"), b"one")
        self.d.kill()
        with self.assertRaises(keyward.KeywardError) as cm:
            self.c.get_secret("py/r")
        self.assertIn(cm.exception.kind, ("connect", "closed"))
        self.d.start()
        self.assertEqual(self.c.get_secret("py/r"), b"one")

    def test_threads_share_one_client(self):
        values = {"py/t%d" % i: os.urandom(100 + i) for i in range(8)}
        for name, value in values.items():
            self.put_cli(name, value)
        bad = []

        def worker(name, value):
            for _ in range(25):
                if self.c.get_secret(name) != value:
                    bad.append(name)

        threads = [threading.Thread(target=worker, args=kv)
                   for kv in values.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(bad, [])


class FakeAgent:
    """A Unix socket that answers each request line with what `reply`
    returns for it (bytes to send, or None to send nothing)."""

    def __init__(self, reply):
        self.dir = tempfile.mkdtemp(prefix="kwfake-", dir="/tmp")
        self.path = os.path.join(self.dir, "s")
        self.reply = reply
        self.accepted = 0
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(self.path)
        self.srv.listen(8)
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self.handle, args=(conn,),
                             daemon=True).start()

    def handle(self, conn):
        buf = b""
        with conn:
            while True:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    out = self.reply(self, json.loads(line))
                    if out == b"CLOSE":
                        return
                    if out:
                        try:
                            conn.sendall(out)
                        except OSError:
                            return

    def close(self):
        self.stop = True
        self.srv.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def answer(req, result):
    return (json.dumps({"jsonrpc": "2.0", "id": req["id"],
                        "result": result}) + "\n").encode()


class PythonClientHostileAgent(unittest.TestCase):

    def fake(self, reply):
        f = FakeAgent(reply)
        self.addCleanup(f.close)
        return f

    def test_agent_of_another_uid_is_refused(self):
        f = self.fake(lambda agent, req: answer(req, {}))
        c = keyward.Client(path=f.path, token="")
        with mock.patch.object(keyward, "_peer_uid", return_value=4242):
            with mock.patch.dict(os.environ):
                os.environ.pop("KEYWARD_AGENT_UID", None)
                with self.assertRaises(keyward.KeywardError) as cm:
                    c.call("x.y")
                self.assertEqual(cm.exception.kind, "unsafe_permissions")
                self.assertEqual(cm.exception.code, 1016)
                os.environ["KEYWARD_AGENT_UID"] = "4242"
                self.assertEqual(c.call("x.y"), {})
        self.assertEqual(f.accepted, 2)

    def test_timeout_drops_the_connection(self):
        calls = []

        def reply(agent, req):
            calls.append(req["method"])
            if len(calls) == 1:
                return None  # never answers the first request
            return answer(req, {"ok": len(calls)})

        f = self.fake(reply)
        c = keyward.Client(path=f.path, token="", timeout=0.3)
        with self.assertRaises(keyward.KeywardError) as cm:
            c.call("x.y")
        self.assertEqual(cm.exception.kind, "timeout")
        # A late answer to the first request cannot be taken for the
        # second: that one goes on a new connection.
        self.assertEqual(c.call("x.y"), {"ok": 2})
        self.assertEqual(f.accepted, 2)

    def test_one_reconnect_when_closed_before_any_answer(self):
        def reply(agent, req):
            if agent.accepted == 1:
                return b"CLOSE"
            return answer(req, {"n": agent.accepted})

        f = self.fake(reply)
        c = keyward.Client(path=f.path, token="")
        self.assertEqual(c.call("x.y"), {"n": 2})

    def test_closed_twice_is_an_error(self):
        f = self.fake(lambda agent, req: b"CLOSE")
        c = keyward.Client(path=f.path, token="")
        with self.assertRaises(keyward.KeywardError) as cm:
            c.call("x.y")
        self.assertEqual(cm.exception.kind, "closed")
        self.assertEqual(f.accepted, 2)

    def test_long_line_and_wrong_id(self):
        f = self.fake(lambda agent, req: b"x" * 5000 + b"\n"
                      if req["method"] == "long"
                      else answer(dict(req, id=req["id"] + 7), {}))
        c = keyward.Client(path=f.path, token="")
        with mock.patch.object(keyward, "MAX_LINE", 1024):
            with self.assertRaises(keyward.KeywardError) as cm:
                c.call("long")
        self.assertEqual(cm.exception.kind, "too_big")
        with self.assertRaises(keyward.KeywardError) as cm:
            c.call("other")
        self.assertEqual(cm.exception.kind, "invalid_request")

    def test_notifications_are_skipped_and_hello_comes_first(self):
        token = "kwt_" + "A" * 43
        seen = []

        def reply(agent, req):
            seen.append(req)
            note = b'{"jsonrpc":"2.0","method":"audit.row","params":{}}\n'
            if req["method"] == "client.hello":
                return answer(req, {"client": "t"})
            return note + answer(req, {"v": 1})

        f = self.fake(reply)
        c = keyward.Client(path=f.path, token=token)
        self.assertEqual(c.call("a.b"), {"v": 1})
        self.assertEqual(c.call("a.b"), {"v": 1})
        self.assertEqual([r["method"] for r in seen],
                         ["client.hello", "a.b", "a.b"])
        self.assertEqual(seen[0]["params"], {"token": token})


class PythonVerify(DaemonTestCase):
    """apikey.verify, token.verify and jwks: need the agent's apikey.* and
    token.* methods."""

    def setUp(self):
        super().setUp()
        self.c = kwauth.client_for(self.h)
        self.addCleanup(self.c.close)

    def test_verify_api_key(self):
        key, key_id = kwauth.create_api_key(self.c, "svc-py",
                                            scopes=["read", "write"])
        info = self.c.verify_api_key(key)
        self.assertEqual(info["id"], key_id)
        self.assertEqual(info["principal"], "svc-py")
        self.assertEqual(sorted(info["scopes"]), ["read", "write"])
        self.assertIsInstance(info["id"], str)
        self.assertIn("expires", info)
        for bad, kind in ((kwauth.unknown_api_key(), "not_found"),
                          (key[:-1] + ("A" if key[-1] != "A" else "B"),
                           "invalid_params"),
                          ("not-a-key", "invalid_params")):
            with self.subTest(kind=kind):
                with self.assertRaises(keyward.KeywardError) as cm:
                    self.c.verify_api_key(bad)
                self.assertEqual(cm.exception.kind, kind)
        kwauth.revoke_api_key(self.c, key_id)
        with self.assertRaises(keyward.KeywardError) as cm:
            self.c.verify_api_key(key)
        self.assertEqual(cm.exception.kind, "revoked")

    def test_verify_token_and_jwks(self):
        issued = self.c.issue_token("alice", AUD, scopes=["mcp:tools", "b"],
                                    client_id="py-client", ttl=300)
        self.assertIsInstance(issued["expires_at"], int)
        res = self.c.verify_token(issued["token"], AUD)
        self.assertEqual(res["subject"], "alice")
        self.assertEqual(res["client_id"], "py-client")
        self.assertEqual(sorted(res["scopes"]), ["b", "mcp:tools"])
        self.assertEqual(res["expires_at"], issued["expires_at"])
        self.assertIn(AUD, res["audience"])
        self.assertEqual(res["kid"], issued["kid"])
        self.assertEqual(self.c.verify_token(issued["token"], AUD,
                                             ["mcp:tools"])["subject"],
                         "alice")
        kids = [k.get("kid") for k in self.c.jwks()["keys"]]
        self.assertIn(issued["kid"], kids)
        for bad in (kwauth.tampered_payload(issued["token"]),
                    kwauth.tampered_signature(issued["token"]),
                    kwauth.wrong_kid(issued["token"]),
                    kwauth.alg_none(issued["token"]), "garbage"):
            with self.subTest(token=bad[:40]):
                with self.assertRaises(keyward.KeywardError) as cm:
                    self.c.verify_token(bad, AUD)
                self.assertEqual(cm.exception.kind, "invalid_token")
        with self.assertRaises(keyward.KeywardError) as cm:
            self.c.verify_token(issued["token"], "https://other.test/mcp")
        self.assertEqual(cm.exception.kind, "invalid_token")
        with self.assertRaises(keyward.KeywardError) as cm:
            self.c.verify_token(issued["token"], AUD, ["admin"])
        self.assertEqual(cm.exception.kind, "insufficient_scope")
        self.assertIn("admin", cm.exception.data.get("scope", ""))

    def test_reprs_never_show_tokens(self):
        issued = self.c.issue_token("carol", AUD, scopes=["mcp:tools"],
                                    ttl=300)
        token = issued["token"]
        self.assertIsInstance(issued, dict)
        self.assertEqual(json.loads(json.dumps(issued))["token"], token)
        at = asyncio.run(keyward.TokenVerifier(AUD, client=self.c)
                         .verify_token(token))
        client_token = "kwt_" + "Q" * 43
        holders = [issued, at, keyward.Client(path=self.h.socket,
                                              token=client_token)]
        for obj in holders:
            with self.subTest(type=type(obj).__name__):
                for text in (repr(obj), str(obj), "%s" % (obj,),
                             "{}".format(obj), repr([obj])):
                    self.assertNotIn(token, text)
                    self.assertNotIn(client_token, text)
                    # nor a piece of either that would identify it
                    self.assertNotIn(token.split(".")[2][:16], text)
                    self.assertNotIn("Q" * 16, text)
        self.assertIn("carol", repr(at))
        self.assertIn(repr(issued["kid"]), repr(issued))
        self.assertIn("<redacted>", repr(issued))
        self.assertIn("token=<set>", repr(holders[2]))
        self.assertIn("token=None",
                      repr(keyward.Client(path=self.h.socket, token="")))

    def test_token_verifier_for_the_python_sdk(self):
        issued = self.c.issue_token("bob", AUD, scopes=["mcp:tools"],
                                    ttl=300)
        v = keyward.TokenVerifier(AUD, client=self.c)
        at = asyncio.run(v.verify_token(issued["token"]))
        self.assertIsInstance(at, keyward.AccessToken)
        self.assertEqual(at.token, issued["token"])
        self.assertEqual(at.client_id, "bob")  # no client_id: the subject
        self.assertEqual(at.scopes, ["mcp:tools"])
        self.assertEqual(at.expires_at, issued["expires_at"])
        self.assertEqual(at.resource, AUD)
        self.assertEqual(at.subject, "bob")
        self.assertEqual(at.claims["sub"], "bob")
        for bad in (kwauth.tampered_signature(issued["token"]), "",
                    "two words", "x" * 20000):
            with self.subTest(token=bad[:40]):
                self.assertIsNone(asyncio.run(v.verify_token(bad)))
        other = keyward.TokenVerifier("https://other.test/mcp",
                                      client=self.c)
        self.assertIsNone(asyncio.run(other.verify_token(issued["token"])))
        scoped = keyward.TokenVerifier(AUD, required_scopes=["admin"],
                                       client=self.c)
        self.assertIsNone(asyncio.run(scoped.verify_token(issued["token"])))
        # An agent that cannot be asked is an error, not an invalid token.
        gone = keyward.TokenVerifier(AUD, client=keyward.Client(
            path=os.path.join(self.h.work, "nothing.sock"), token=""))
        with self.assertRaises(keyward.KeywardError) as cm:
            asyncio.run(gone.verify_token(issued["token"]))
        self.assertEqual(cm.exception.kind, "connect")


def pip_python():
    """An interpreter that can build bindings/python offline: pip and
    setuptools, and wheel where setuptools is older than 70.1 (which took
    bdist_wheel in). This one if it can, else Debian's, for which
    scripts/deps.sh test installs python3-pip, -setuptools and -wheel."""
    probe = ("from importlib.metadata import version\n"
             "v = tuple(int(x) for x in version('setuptools')."
             "split('.')[:2])\n"
             "need = ['pip'] + (['wheel'] if v < (70, 1) else [])\n"
             "[version(n) for n in need]\n")
    for exe in dict.fromkeys((sys.executable, "/usr/bin/python3")):
        if os.access(exe, os.X_OK) and subprocess.run(
                [exe, "-c", probe], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                timeout=CLI_DEADLINE_S).returncode == 0:
            return exe
    return None


def project_version():
    with open(os.path.join(kwauth.SRC, "meson.build")) as f:
        m = re.search(r"version\s*:\s*'([^']+)'", f.read())
    return m.group(1)


# Run by the test's own interpreter (the one the harness's test-python
# policy section names) with only the installed copy on its path.
ROUND_TRIP = """
import json, sys
import keyward
value = sys.stdin.buffer.read()
c = keyward.Client()
out = {"file": keyward.__file__, "version": keyward.__version__,
       "put": c.put_secret("pkg/new", value),
       "same": c.get_secret("pkg/new") == value,
       "deleted": c.delete_secret("pkg/old"),
       "repr": repr(c)}
print(json.dumps(out))
"""


class PythonPackage(DaemonTestCase):
    """pyproject.toml: pip builds and installs the binding offline, and
    the installed copy works in a new process."""

    def test_pip_install_then_round_trip(self):
        py = pip_python()
        self.assertIsNotNone(py, "no interpreter here has pip, setuptools "
                             "and wheel: run scripts/deps.sh test")
        # pip builds in the directory it is given: a copy keeps the source
        # tree unwritten.
        src = os.path.join(self.h.work, "src")
        shutil.copytree(kwauth.BINDINGS_PY, src,
                        ignore=shutil.ignore_patterns(
                            "__pycache__", "build", "*.egg-info"))
        site = os.path.join(self.h.work, "site")
        pip_env = dict(self.h.env, PIP_CONFIG_FILE=os.devnull,
                       PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1",
                       PIP_ROOT_USER_ACTION="ignore")
        r = run([py, "-m", "pip", "install", "--no-build-isolation",
                 "--no-index", "--no-deps", "--no-compile", "--no-cache-dir",
                 "--target", site, src],
                pip_env, timeout=4 * CLI_DEADLINE_S)
        self.assertEqual(r.rc, 0, r)
        version = project_version()
        dist = os.path.join(site, "keyward-%s.dist-info" % version)
        with open(os.path.join(dist, "METADATA")) as f:
            meta = f.read()
        self.assertIn("\nName: keyward\n", meta)
        self.assertIn("\nVersion: %s\n" % version, meta)
        self.assertIn("\nRequires-Python: >=3.11\n", meta)
        self.assertNotIn("Requires-Dist", meta)  # standard library only
        with open(os.path.join(site, "keyward.py"), "rb") as f, \
                open(os.path.join(kwauth.BINDINGS_PY, "keyward.py"),
                     "rb") as g:
            self.assertEqual(f.read(), g.read())

        self.put_cli("pkg/old", b"old")
        value = b64(os.urandom(48)).encode()
        empty = os.path.join(self.h.work, "empty")
        os.mkdir(empty)
        env = dict(self.h.env, PYTHONPATH=site)
        r = run([sys.executable, "-s", "-c", ROUND_TRIP], env, input=value,
                cwd=empty)
        self.assertEqual(r.rc, 0, r)
        out = json.loads(r.out)
        self.assertEqual(out["file"], os.path.join(site, "keyward.py"))
        self.assertEqual(out["version"], version)
        self.assertEqual(out["put"], {"name": "pkg/new", "version": 1})
        self.assertTrue(out["same"])
        self.assertEqual(out["deleted"],
                         {"name": "pkg/old", "deleted_versions": 1})
        self.assertIn("keyward.Client(", out["repr"])
        got = self.cli("get", "pkg/new")
        self.assertRc(got, 0)
        self.assertEqual(got.out, value)
        self.assertRc(self.cli("get", "pkg/old"), 3)


if __name__ == "__main__":
    unittest.main()
