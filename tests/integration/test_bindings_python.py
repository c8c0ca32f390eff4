"""bindings/python/keyward.py against the real keywardd (and, for what an
agent never does on purpose, against a fake one on a socket of our own).

- secret.get returns the exact bytes; errors carry the protocol's kind and
  code; the socket is found from the environment as docs/config.md says;
- $KEYWARD_TOKEN / token= is presented first, and decides attribution;
- one Client survives an agent restart (one transparent reconnect) and is
  shared by threads;
- timeouts, oversized lines and mismatched ids close the connection;
- apikey.verify, token.verify, jwks and TokenVerifier (these need the
  agent's apikey.* and token.* methods)."""

import asyncio
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import threading
import unittest
from unittest import mock

from harness import DaemonTestCase, b64
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


if __name__ == "__main__":
    unittest.main()
