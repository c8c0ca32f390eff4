"""keyward mcp proxy: the stdio bridge to remote MCP servers, against real
remote servers on the official MCP TypeScript SDK and a real agent.

The remote servers are tests/integration/mcp-remote/: server-v1.mjs on
the SDK 1.x (@modelcontextprotocol/sdk, Streamable HTTP with sessions,
2025-06-18/2025-11-25) and server-v2.mjs on the SDK 2.x
(@modelcontextprotocol/server, stateless, 2026-07-28). Each requires an
X-Api-Key whose value the test stored in keyward as remote/key, and
records every HTTP request it gets (method, the MCP headers, the raw
body). The proxy always runs as an MCP client config would start it:
`keyward mcp proxy URL --header 'X-Api-Key: {{keyward://remote/key}}'
--allow-private --allow-insecure` (the servers listen on 127.0.0.1).

- SdkClient: the SDK 2.x's own stdio client (mcp-remote/client.mjs,
  StdioClientTransport) launches the proxy and lists and calls tools: on
  v1 it gets progress notifications on the request's stream, answers the
  server's sampling request through the proxy, gets a log message on the
  GET stream, a response after the server closed the request's stream
  (resumed with Last-Event-ID) and a message after the GET stream was
  dropped (reopened with Last-Event-ID); v1 sees one session, every later
  request with its id and the negotiated MCP-Protocol-Version, and a
  DELETE for it at the end. On v2, pinned to 2026-07-28, every POST
  mirrors MCP-Protocol-Version, Mcp-Method, Mcp-Name and the tool's
  x-mcp-header argument (Mcp-Param-Region), no session, and the tool
  whose declaration breaks the rules is left out; with the 2025
  initialize, the GET stream gets 405 and nothing else changes.
- Raw: the test speaks JSON-RPC to the proxy itself: a message with
  unusual formatting and escapes reaches the server byte for byte; after
  a rotation of remote/key the next request carries the new value; after
  `keyward put remote/key NEW` (which sends no secret.rotated) the server
  refuses the old value and the request goes out again with NEW; a server
  that is down gives a JSON-RPC error and the proxy serves the next
  request once it is back; an oversized message gets a JSON-RPC error and
  never reaches the server; an expired session gives an error and a new
  session (the client's initialize sent again, byte for byte); a slow
  request does not hold up a fast one, and both are answered after stdin
  ends; a 2026-07-28 request the client cancels has its stream closed
  (no notification posted, no response after); --protocol-version is
  sent until the server names one; an https server whose certificate no
  CA vouches for is refused; the key is in neither the proxy's argv, its
  environment nor its stderr, even with KEYWARD_DEBUG=2.
- Refusals at start: a private address without --allow-private, plain
  http without --allow-insecure.
- OAuth: server-v2.mjs protected as the MCP authorization specification
  says (mcp-remote/auth.mjs) by the test authorization server (kwoidc.py),
  and a proxy started with no credential: discovery, dynamic registration
  and a PKCE login on the first 401, the credential reused by the next
  proxy, a step-up login on 403 insufficient_scope, a token the server
  drops renewed by the agent (no login), an authorization server whose
  metadata names another issuer refused with nothing stored, --oauth for
  another server refused.
"""

import base64
import json
import os
import queue
import secrets
import socket
import subprocess
import threading
import time

import harness
from harness import BIN_KEYWARD, DaemonTestCase, spawn
import kwauth
import kwoidc

REMOTE = "tests/integration/mcp-remote"
kwauth.NODE_PACKAGES["mcp-remote"] = (REMOTE, {
    REMOTE: ("package.json", "package-lock.json", "server-v1.mjs",
             "server-v2.mjs", "client.mjs", "auth.mjs"),
})
KEY_NAME = "remote/key"
HEADER = "X-Api-Key: {{keyward://%s}}" % KEY_NAME
START_DEADLINE_S = 60.0 * harness.SLOW
MSG_DEADLINE_S = 20.0 * harness.SLOW
MSG_MAX = 4 << 20
LEGACY = "2025-11-25"
MODERN = "2026-07-28"
META = {"io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {}}

_install = None


def installed():
    """mcp-remote/ installed once per run: (directory, None) or (None,
    why)."""
    global _install
    if _install is None:
        _install = kwauth.install_node_package("mcp-remote")
    return _install


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Remote:
    """A remote MCP server (server-v1.mjs or server-v2.mjs) on 127.0.0.1."""

    def __init__(self, test, script, port=0, env_extra=None):
        self.test = test
        self.record = os.path.join(test.h.work, "record-%s.jsonl" % script)
        env = dict(os.environ, KEY_FILE=test.key_file, RECORD=self.record,
                   PORT=str(port), **(env_extra or {}))
        self.proc = spawn([test.node, script], env, cwd=test.dir,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        test.addCleanup(self.stop)
        line = self._first_line()
        if not line.startswith(b"listening "):
            test.fail("%s did not start: %r %s" % (
                script, line, self.proc.stderr.read(4000)))
        self.url = line.split()[1].decode()
        self.port = int(self.url.rsplit(":", 1)[1].split("/")[0])

    def _first_line(self):
        out = queue.Queue()
        threading.Thread(target=lambda: out.put(self.proc.stdout.readline()),
                         daemon=True).start()
        try:
            return out.get(timeout=START_DEADLINE_S)
        except queue.Empty:
            return b""

    def records(self):
        """Every request so far: {"method", "headers", "body" (bytes)}."""
        try:
            with open(self.record, encoding="utf-8") as f:
                rows = [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []
        for r in rows:
            r["body"] = base64.b64decode(r["body"])
        return rows

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Bridge:
    """keyward mcp proxy, spoken to over its stdio by the test."""

    def __init__(self, test, url, args=(), env=None, header=True):
        self.test = test
        argv = [BIN_KEYWARD, "mcp", "proxy", url] + \
            (["--header", HEADER] if header else []) + \
            ["--allow-private", "--allow-insecure"] + list(args)
        self.proc = spawn(argv, env or test.h.env, stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        test.addCleanup(self.kill)
        self.lines = queue.Queue()
        self.err = []
        self.err_reader = threading.Thread(target=self._read_err, daemon=True)
        threading.Thread(target=self._read_out, daemon=True).start()
        self.err_reader.start()

    def _read_out(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _read_err(self):
        for line in self.proc.stderr:
            self.err.append(line)

    @property
    def stderr(self):
        return b"".join(self.err)

    def send(self, msg):
        data = msg if isinstance(msg, bytes) else json.dumps(msg).encode()
        self.proc.stdin.write(data + b"\n")
        self.proc.stdin.flush()

    def recv(self, timeout=MSG_DEADLINE_S):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            self.test.fail("no message from the proxy within %ss; stderr:\n%s"
                           % (timeout, self.stderr.decode(errors="replace")))
        if line is None:
            self.test.fail("the proxy closed stdout; stderr:\n%s"
                           % self.stderr.decode(errors="replace"))
        self.test.assertTrue(line.endswith(b"\n"))
        self.test.assertNotIn(b"\n", line[:-1])
        return json.loads(line)

    def call(self, msg):
        """Send a request; the messages up to its response, and that."""
        self.send(msg)
        before = []
        while True:
            m = self.recv()
            if m.get("id") == msg["id"] and "method" not in m:
                return before, m
            before.append(m)

    def initialize(self, protocol=LEGACY):
        _, r = self.call({"jsonrpc": "2.0", "id": "init",
                          "method": "initialize",
                          "params": {"protocolVersion": protocol,
                                     "capabilities": {},
                                     "clientInfo": {"name": "raw",
                                                    "version": "1"}}})
        self.test.assertIn("result", r, r)
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return r["result"]

    def echo(self, id, text, modern=False):
        params = {"name": "echo", "arguments": {"text": text}}
        if modern:
            params["_meta"] = META
        return self.call({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                          "params": params})[1]

    def close(self, timeout=30):
        self.proc.stdin.close()
        try:
            rc = self.proc.wait(timeout=timeout * harness.SLOW)
        except subprocess.TimeoutExpired:
            self.test.fail("the proxy did not exit after stdin closed")
        # All of stderr read, so that what it said can be asserted.
        self.err_reader.join(timeout=10)
        return rc

    def wait_stderr(self, needle, timeout=MSG_DEADLINE_S):
        return harness.poll_until(lambda: needle in self.stderr, timeout)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def text_of(resp):
    return resp["result"]["content"][0]["text"]


class ProxyCase(DaemonTestCase):
    """An agent with remote/key stored (a random value), the file of keys
    the remote servers accept, Node and mcp-remote/ installed."""

    def setUp(self):
        super().setUp()
        self.node = kwauth.sdk2_node(self)
        self.dir, failure = installed()
        if failure:
            self.fail(failure)
        self.key = "kwtest-" + secrets.token_urlsafe(24)
        self.put_cli(KEY_NAME, self.key.encode())
        self.key_file = os.path.join(self.h.work, "keys")
        self.accept(self.key)

    def accept(self, *keys):
        with open(self.key_file, "w") as f:
            f.write("".join(k + "\n" for k in keys))

    def assertNoKey(self, data, where, *keys):
        for k in keys or (self.key,):
            self.assertNotInBytes(k.encode(), data, where)


class SdkClient(ProxyCase):

    def run_client(self, server, modern=False):
        remote = Remote(self, "server-%s.mjs" % server)
        spec = os.path.join(self.h.work, "spec.json")
        with open(spec, "w") as f:
            json.dump({"command": BIN_KEYWARD,
                       "args": ["mcp", "proxy", remote.url, "--header",
                                HEADER, "--allow-private",
                                "--allow-insecure"],
                       # What the client's config would say: where the
                       # agent is (its default environment has no more).
                       "env": {"KEYWARD_SOCKET": self.h.socket},
                       "server": server, "modern": modern}, f)
        r = harness.run([self.node, "client.mjs", spec], self.h.env,
                        cwd=self.dir, timeout=120 * harness.SLOW)
        self.assertEqual(r.rc, 0, r)
        self.assertNoKey(r.err.encode(), "the proxy's stderr")
        out = json.loads(r.out)
        return out, remote.records()

    def test_v1_sessions(self):
        out, rec = self.run_client("v1")
        self.assertEqual(out["protocol"], LEGACY)
        self.assertEqual(out["tools"], ["ask", "drop", "echo", "expire",
                                        "later", "poll", "progress"])
        self.assertEqual(out["results"], {
            "echo": "héllo “wörld” \u2028 ✓",
            "progress": "done 3",
            "ask": "answer: forty-two (asked: the answer?)",
            "later": "scheduled",
            "poll": "polled p1",
            "drop": "dropped"})
        self.assertEqual(out["progress"], {"progress": [1, 2, 3], "poll": [1]})
        self.assertEqual(sorted(out["logs"]), ["after-drop", "later-1"])

        self.assertTrue(all(r["headers"].get("x-api-key") == self.key
                            for r in rec), rec)
        init = [r for r in rec if b'"initialize"' in r["body"]]
        self.assertEqual(len(init), 1)
        self.assertNotIn("mcp-session-id", init[0]["headers"])
        later = rec[rec.index(init[0]) + 1:]
        sessions = {r["headers"].get("mcp-session-id") for r in later}
        self.assertEqual(len(sessions), 1, sessions)
        self.assertNotIn(None, sessions)
        self.assertTrue(all(r["headers"].get("mcp-protocol-version") ==
                            LEGACY for r in later))
        self.assertEqual(later[-1]["method"], "DELETE")
        self.assertEqual([r["method"] for r in rec].count("DELETE"), 1)
        gets = [r for r in rec if r["method"] == "GET"]
        self.assertEqual(gets[0]["headers"].get("accept"),
                         "text/event-stream")
        # The resumed request and the reopened GET stream.
        self.assertGreaterEqual(
            len([g for g in gets if g["headers"].get("last-event-id")]), 2)
        for r in rec:
            if r["method"] == "POST":
                self.assertEqual(r["headers"]["content-type"],
                                 "application/json")
                self.assertEqual(r["headers"]["accept"],
                                 "application/json, text/event-stream")
        # The client's answer to the server's sampling request went out.
        self.assertTrue(any(b'"forty-two' in r["body"] and b'"result"' in
                            r["body"] for r in rec))

    def test_v2_stateless_2026(self):
        out, rec = self.run_client("v2", modern=True)
        self.assertEqual(out["protocol"], MODERN)
        # "broken" declares x-mcp-header on a number: left out.
        self.assertEqual(out["tools"], ["echo", "progress", "region"])
        self.assertEqual(out["results"]["region"], "eu-west-1: x")
        self.assertEqual(out["results"]["echo"], "héllo “wörld” \u2028 ✓")
        self.assertEqual(out["progress"]["progress"], [1, 2, 3])
        self.assertTrue(rec)
        for r in rec:
            self.assertEqual(r["method"], "POST")
            h = r["headers"]
            body = json.loads(r["body"])
            self.assertEqual(h.get("mcp-protocol-version"), MODERN, r)
            self.assertEqual(h.get("mcp-method"), body["method"])
            self.assertNotIn("mcp-session-id", h)
            if body["method"] == "tools/call":
                self.assertEqual(h.get("mcp-name"), body["params"]["name"])
        region = [r for r in rec if r["headers"].get("mcp-name") == "region"]
        self.assertEqual(len(region), 1)
        self.assertEqual(region[0]["headers"].get("mcp-param-region"),
                         "eu-west-1")

    def test_v2_initialize(self):
        out, rec = self.run_client("v2")
        self.assertEqual(out["protocol"], LEGACY)
        self.assertEqual(out["results"]["echo"], "héllo “wörld” \u2028 ✓")
        self.assertEqual(out["progress"]["progress"], [1, 2, 3])
        methods = [r["method"] for r in rec]
        # The GET stream is answered 405: no retry, no session to end.
        self.assertEqual(methods.count("GET"), 1)
        self.assertNotIn("DELETE", methods)
        self.assertFalse(any("mcp-session-id" in r["headers"] for r in rec))


class Raw(ProxyCase):

    def test_byte_for_byte(self):
        remote = Remote(self, "server-v1.mjs")
        b = Bridge(self, remote.url)
        init = (b'{ "jsonrpc" :"2.0","id":"i-\\u00e9" ,\t"method":"initialize",'
                b'"params":{"protocolVersion":"2025-11-25","capabilities":{}'
                b',"clientInfo":{"name":"caf\xc3\xa9 \\ud83d\\ude00 \\"q\\"",'
                b'"version":"1.0"}}   }')
        b.send(init)
        r = b.recv()
        self.assertEqual(r["id"], "i-\u00e9")
        self.assertIn("result", r)
        b.send(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
        call = (b'  {"params" : {"arguments":{"text":"\\u00fcber \xe2\x9c\x93'
                b' \\n \\\\ \\/"}, "name":"echo"}, "id": 7.0e0, "method":'
                b'"tools/call",   "jsonrpc":"2.0"}')
        b.send(call)
        r = b.recv()
        self.assertEqual(r["id"], 7)
        self.assertEqual(text_of(r), "über ✓ \n \\ /")
        self.assertEqual(b.close(), 0)
        bodies = [r["body"] for r in remote.records()]
        self.assertIn(init, bodies)
        self.assertIn(call, bodies)

    def test_rotation(self):
        """secret.rotated: the next request carries the new value."""
        remote = Remote(self, "server-v2.mjs")
        self.assertRc(self.cli("schedule", KEY_NAME, "--every", "30d",
                               "--rotator", "random:24:hex"), 0)
        b = Bridge(self, remote.url)
        self.assertEqual(text_of(b.echo(1, "one", modern=True)), "one")
        self.assertEqual(remote.records()[-1]["headers"]["x-api-key"],
                         self.key)
        self.assertRc(self.cli("rotate", "--wait", KEY_NAME), 0)
        new = self.get_cli(KEY_NAME).decode()
        self.assertNotEqual(new, self.key)
        self.accept(self.key, new)
        self.assertTrue(b.wait_stderr(b"header values fetched again"),
                        b.stderr)
        self.assertEqual(text_of(b.echo(2, "two", modern=True)), "two")
        self.assertEqual(remote.records()[-1]["headers"]["x-api-key"], new)
        self.assertEqual(b.close(), 0)
        self.assertNoKey(b.stderr, "the proxy's stderr", self.key, new)

    def test_put_new_value(self):
        """keyward put sends no secret.rotated: a 401 has the proxy fetch
        the values again, and the request goes out once more with NEW."""
        remote = Remote(self, "server-v2.mjs")
        b = Bridge(self, remote.url)
        self.assertEqual(text_of(b.echo(1, "one", modern=True)), "one")
        new = "kwtest-" + secrets.token_urlsafe(24)
        self.put_cli(KEY_NAME, new.encode())
        self.accept(new)
        self.assertEqual(text_of(b.echo(2, "two", modern=True)), "two")
        last = remote.records()[-2:]
        self.assertEqual([r["headers"]["x-api-key"] for r in last],
                         [self.key, new])
        self.assertEqual(last[0]["body"], last[1]["body"])
        self.assertEqual(text_of(b.echo(3, "three", modern=True)), "three")
        self.assertEqual(remote.records()[-1]["headers"]["x-api-key"], new)
        self.assertEqual(b.close(), 0)
        self.assertNoKey(b.stderr, "the proxy's stderr", self.key, new)

    def test_server_down(self):
        port = free_port()
        b = Bridge(self, "http://127.0.0.1:%d/mcp" % port)
        r = b.echo(1, "x", modern=True)
        self.assertEqual(r["error"]["code"], -32000, r)
        self.assertIn("cannot reach the server", r["error"]["message"])
        # Still serving: the next request goes through once it is up.
        remote = Remote(self, "server-v2.mjs", port=port)
        self.assertEqual(text_of(b.echo(2, "back", modern=True)), "back")
        remote.stop()
        r = b.echo(3, "y", modern=True)
        self.assertEqual(r["error"]["code"], -32000, r)
        self.assertEqual(b.close(), 0)

    def test_status_errors(self):
        remote = Remote(self, "server-v2.mjs")
        b = Bridge(self, remote.url)
        # The server's own JSON-RPC error (a 4xx with it as body) as is.
        _, r = b.call({"jsonrpc": "2.0", "id": 1, "method": "nosuch/method",
                       "params": {"_meta": META}})
        self.assertIn("error", r)
        self.assertNotIn("keyward mcp proxy", r["error"]["message"])
        # A key the server refuses: 401, said with the status.
        self.accept("something-else")
        r = b.echo(2, "x", modern=True)
        self.assertEqual(r["error"]["code"], -32000, r)
        self.assertEqual(r["error"]["data"], {"httpStatus": 401})
        self.assertIn("HTTP 401", r["error"]["message"])
        self.assertEqual(b.close(), 0)
        self.assertNoKey(b.stderr, "the proxy's stderr")

    def test_oversized(self):
        remote = Remote(self, "server-v2.mjs")
        b = Bridge(self, remote.url)
        big = json.dumps({"jsonrpc": "2.0", "method": "tools/call",
                          "params": {"name": "echo",
                                     "arguments": {"text": "a" * MSG_MAX},
                                     "_meta": META},
                          "id": "big"}).encode()
        b.send(big)
        r = b.recv()
        self.assertEqual(r["id"], "big")
        self.assertEqual(r["error"]["code"], -32600)
        self.assertIn("larger than", r["error"]["message"])
        # One without an id is dropped, with a line on stderr.
        b.send(b'{"jsonrpc":"2.0","method":"x","params":{"p":"' +
               b"b" * MSG_MAX + b'"}}')
        self.assertEqual(text_of(b.echo(1, "fine", modern=True)), "fine")
        self.assertEqual(b.close(), 0)
        self.assertTrue(all(len(r["body"]) < MSG_MAX
                            for r in remote.records()))
        self.assertIn(b"it has no id to answer", b.stderr)

    def test_session_expiry(self):
        remote = Remote(self, "server-v1.mjs")
        b = Bridge(self, remote.url)
        b.initialize()
        self.assertEqual(text_of(b.call({
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "expire", "arguments": {}}})[1]), "expiring")
        time.sleep(0.3)
        r = b.echo(2, "x")
        self.assertEqual(r["error"]["code"], -32000, r)
        self.assertIn("session expired", r["error"]["message"])
        self.assertTrue(b.wait_stderr(b"a new session started"), b.stderr)
        self.assertEqual(text_of(b.echo(3, "again")), "again")
        self.assertEqual(b.close(), 0)
        rec = remote.records()
        inits = [r for r in rec if b'"initialize"' in r["body"]]
        self.assertEqual(len(inits), 2)
        self.assertEqual(inits[0]["body"], inits[1]["body"])
        old = rec[rec.index(inits[0]) + 1]["headers"]["mcp-session-id"]
        new = rec[-1]["headers"]["mcp-session-id"]
        self.assertNotEqual(old, new)
        self.assertEqual(rec[-1]["method"], "DELETE")

    def test_concurrent_and_end(self):
        """A slow request does not hold up a fast one sent after it; at the
        end of stdin, what is in flight still gets its answer."""
        remote = Remote(self, "server-v2.mjs")
        b = Bridge(self, remote.url)
        meta = dict(META, progressToken="slow")
        b.send({"jsonrpc": "2.0", "id": "slow", "method": "tools/call",
                "params": {"name": "progress", "arguments": {"steps": 15},
                           "_meta": meta}})
        b.send({"jsonrpc": "2.0", "id": "fast", "method": "tools/call",
                "params": {"name": "echo", "arguments": {"text": "f"},
                           "_meta": META}})
        b.proc.stdin.close()
        got = []
        while True:
            line = b.lines.get(timeout=MSG_DEADLINE_S)
            if line is None:
                break
            got.append(json.loads(line))
        self.assertEqual(b.proc.wait(timeout=30), 0, b.stderr)
        order = [m.get("id") for m in got if "id" in m]
        self.assertEqual(order, ["fast", "slow"], got)
        self.assertEqual(text_of(got[-1]), "done 15")
        steps = [m["params"]["progress"] for m in got
                 if m.get("method") == "notifications/progress"]
        self.assertEqual(steps, list(range(1, 16)))

    def test_cancel_2026(self):
        """notifications/cancelled for a 2026-07-28 request closes its
        stream (no POST of the notification, no response after it)."""
        remote = Remote(self, "server-v2.mjs")
        b = Bridge(self, remote.url)
        meta = dict(META, progressToken=1)
        b.send({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
                "params": {"name": "progress", "arguments": {"steps": 20},
                           "_meta": meta}})
        first = b.recv()
        self.assertEqual(first.get("method"), "notifications/progress")
        b.send({"jsonrpc": "2.0", "method": "notifications/cancelled",
                "params": {"requestId": 5, "reason": "enough"}})
        _, r = b.call({"jsonrpc": "2.0", "id": 6, "method": "tools/call",
                       "params": {"name": "echo", "arguments": {"text": "y"},
                                  "_meta": META}})
        self.assertEqual(text_of(r), "y")
        time.sleep(0.6)  # the 20 steps would have ended by now
        late = []
        while not b.lines.empty():
            late.append(json.loads(b.lines.get()))
        self.assertFalse([m for m in late if m.get("id") == 5], late)
        self.assertEqual(b.close(), 0)
        self.assertFalse(any(b"notifications/cancelled" in r["body"]
                             for r in remote.records()))

    def test_protocol_version_option(self):
        remote = Remote(self, "server-v1.mjs")
        b = Bridge(self, remote.url, ["--protocol-version", "2025-06-18"])
        b.initialize(protocol="2025-06-18")
        self.assertEqual(text_of(b.echo(1, "v")), "v")
        self.assertEqual(b.close(), 0)
        versions = [r["headers"].get("mcp-protocol-version")
                    for r in remote.records()]
        self.assertEqual(set(versions), {"2025-06-18"})

    def test_tls_verified(self):
        """https to a server whose certificate no CA vouches for: the
        request fails, saying why."""
        d = self.h.work
        r = harness.run(["openssl", "req", "-x509", "-newkey", "ec",
                         "-pkeyopt", "ec_paramgen_curve:prime256v1",
                         "-nodes", "-keyout", os.path.join(d, "k.pem"),
                         "-out", os.path.join(d, "c.pem"), "-days", "1",
                         "-subj", "/CN=127.0.0.1"], self.h.env)
        self.assertEqual(r.rc, 0, r)
        script = ("const fs=require('fs');require('https').createServer("
                  "{key:fs.readFileSync('k.pem'),cert:fs.readFileSync("
                  "'c.pem')},(q,s)=>{s.setHeader('content-type',"
                  "'application/json');s.end('{}')}).listen(0,'127.0.0.1',"
                  "function(){console.log('listening '+this.address().port)"
                  "})")
        srv = spawn([self.node, "-e", script], dict(os.environ), cwd=d,
                    stdout=subprocess.PIPE)
        self.addCleanup(srv.kill)
        port = int(srv.stdout.readline().split()[1])
        b = Bridge(self, "https://127.0.0.1:%d/mcp" % port)
        r = b.echo(1, "x", modern=True)
        self.assertEqual(r["error"]["code"], -32000, r)
        self.assertIn("certificate", r["error"]["message"])
        self.assertEqual(b.close(), 0)

    def test_no_key_in_ps_or_stderr(self):
        remote = Remote(self, "server-v1.mjs")
        env = dict(self.h.env, KEYWARD_DEBUG="2")
        b = Bridge(self, remote.url, env=env)
        b.initialize()
        self.assertEqual(text_of(b.echo(1, "x")), "x")
        for part in ("cmdline", "environ"):
            with open("/proc/%d/%s" % (b.proc.pid, part), "rb") as f:
                self.assertNoKey(f.read(), "/proc/PID/" + part)
        ps = harness.run(["ps", "-ww", "-o", "args=", "-p",
                          str(b.proc.pid)], self.h.env)
        self.assertIn(b"{{keyward://remote/key}}", ps.out)
        self.assertNoKey(ps.out, "ps")
        self.assertEqual(b.close(), 0)
        self.assertIn(b"POST tools/call (id 1) -> 200", b.stderr)
        self.assertIn(b"x", b.stderr)  # the bodies, at debug level 2
        self.assertNoKey(b.stderr, "the proxy's stderr")


class Refusals(ProxyCase):

    def test_private_address(self):
        r = self.cli("mcp", "proxy", "https://127.0.0.1:9/mcp",
                     "--header", HEADER)
        self.assertRc(r, 1)
        self.assertIn("127.0.0.1 is a loopback address", r.err)
        self.assertIn("--allow-private", r.err)
        r = self.cli("mcp", "proxy", "http://127.0.0.1:9/mcp",
                     "--allow-private")
        self.assertRc(r, 2)
        self.assertIn("--allow-insecure", r.err)
        r = self.cli("mcp", "proxy", "https://example.com/mcp",
                     "--header", "Mcp-Session-Id: x")
        self.assertRc(r, 2)

    def test_agent_errors(self):
        r = self.cli("mcp", "proxy", "http://127.0.0.1:9/mcp",
                     "--allow-private", "--allow-insecure",
                     "--header", "X-Api-Key: {{keyward://no/such}}")
        self.assertRc(r, 3)
        self.assertIn("no/such", r.err)
        self.put_cli("multi/line", b"a\r\nInjected: yes")
        r = self.cli("mcp", "proxy", "http://127.0.0.1:9/mcp",
                     "--allow-private", "--allow-insecure",
                     "--header", "X-Api-Key: {{keyward://multi/line}}")
        self.assertRc(r, 1)
        self.assertIn("line break", r.err)
        self.assertNotIn("Injected", r.err)


class OAuth(ProxyCase):
    """The MCP authorization specification, client side: server-v2.mjs
    protected by OAuth (mcp-remote/auth.mjs: RFC 9728 metadata naming the
    test authorization server, 401/403 Bearer challenges, tokens checked
    by introspection for this resource), and the proxy started with no
    credential at all. The first request's 401 makes it fetch the
    metadata, discover the authorization server, register a client
    (RFC 7591), add mcp/127.0.0.1-PORT/oauth with the server's canonical
    URI as its resource, and log in with PKCE (oidc/browser.py as
    $BROWSER); then the request goes through. A second proxy uses the
    stored credential without a login; a tool needing more scope gets a
    403 insufficient_scope, a step-up login and then succeeds. No token
    reaches the proxy's stderr, the store files or argv."""

    def setUp(self):
        super().setUp()
        self.p = kwoidc.Provider(self, clients=kwoidc.CLIENTS, resources={
            "http://127.0.0.1:*": {"scopes": ["mcp:tools", "mcp:admin"],
                                   "format": "opaque"}},
            scopes=("mcp:tools", "mcp:admin"))
        self.reject_once = os.path.join(self.h.work, "reject-once")
        self.server = Remote(self, "server-v2.mjs", env_extra={
            "REJECT_ONCE": self.reject_once,
            "AUTH_ISSUER": self.p.issuer, "AUTH_SCOPE": "mcp:tools",
            "STEP_UP_SCOPE": "mcp:admin",
            "AUTH_CLIENT_ID": kwoidc.CC_BASIC_ID,
            "AUTH_CLIENT_SECRET": kwoidc.CC_BASIC_SECRET})
        self.env = dict(self.h.env, BROWSER=kwoidc.BROWSER)
        self.name = "mcp/127.0.0.1-%d/oauth" % self.server.port

    def bridge(self):
        return Bridge(self, self.server.url, env=self.env, header=False)

    def test_first_contact_logs_in_then_the_credential_is_reused(self):
        b = self.bridge()
        b.initialize()
        self.assertEqual(text_of(b.echo(1, "hello")), "hello")
        err = b.stderr
        self.assertIn(b"a new OAuth credential", err)
        self.assertEqual(b.close(), 0)
        st = json.loads(self.cli("oauth", "status", self.name, "--json").out)
        self.assertEqual(st["state"], "ok", st)
        self.assertEqual(st["resources"], [self.server.url])
        self.assertEqual(st["grant"], "authorization_code")
        tok = self.get_cli(self.name)
        self.assertTrue(self.p.introspect(
            tok.decode(), kwoidc.CC_BASIC_ID,
            kwoidc.CC_BASIC_SECRET)["active"])
        self.assertNotInBytes(tok, err, "the proxy's stderr")
        # The server saw the token only as a Bearer header.
        auths = {r["headers"].get("authorization")
                 for r in self.server.records()}
        self.assertIn("Bearer " + tok.decode(), auths)
        # Again: the stored credential, no login.
        b = self.bridge()
        b.initialize()
        self.assertEqual(text_of(b.echo(2, "again")), "again")
        self.assertNotIn(b"logging in", b.stderr)
        self.assertEqual(b.close(), 0)
        self.d.stop()
        for path in self.h.files():
            with open(path, "rb") as f:
                self.assertNotIn(tok, f.read(), path)

    def test_step_up_on_insufficient_scope(self):
        b = self.bridge()
        b.initialize()
        self.assertEqual(text_of(b.echo(1, "x")), "x")
        _, r = b.call({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                       "params": {"name": "admin", "arguments": {}}})
        self.assertEqual(text_of(r), "admin ok", r)
        self.assertTrue(b.wait_stderr(b"needs the scope"), b.stderr)
        st = json.loads(self.cli("oauth", "status", self.name, "--json").out)
        self.assertIn("mcp:admin", st["granted_scope"])
        self.assertEqual(b.close(), 0)

    def test_a_refused_token_is_renewed_once(self):
        b = self.bridge()
        b.initialize()
        self.assertEqual(text_of(b.echo(1, "x")), "x")
        first = self.get_cli(self.name)
        # The server drops the token: the proxy gets a new one from the
        # agent (a refresh, no login) and the request goes through.
        with open(self.reject_once, "w"):
            pass
        self.assertEqual(text_of(b.echo(2, "y")), "y")
        self.assertFalse(os.path.exists(self.reject_once))
        second = self.get_cli(self.name)
        self.assertNotEqual(first, second)
        self.assertEqual(b.stderr.count(b"logging in"), 1, b.stderr)
        self.assertEqual(b.close(), 0)

    def test_authorization_server_naming_another_issuer(self):
        # The resource's metadata names an authorization server whose
        # metadata says it is another issuer: refused, nothing stored.
        import http.server

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                port = self.server.server_address[1]
                base = "http://127.0.0.1:%d" % port
                if self.path.startswith("/.well-known/oauth-protected"):
                    body = {"resource": base + "/mcp",
                            "authorization_servers": [base + "/as"]}
                elif self.path.startswith("/.well-known/"):
                    body = {"issuer": "https://evil.example",
                            "token_endpoint": "https://evil.example/t"}
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(n)
                port = self.server.server_address[1]
                self.send_response(401)
                self.send_header(
                    "WWW-Authenticate", 'Bearer resource_metadata="http://'
                    '127.0.0.1:%d/.well-known/oauth-protected-resource/mcp"'
                    % port)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        url = "http://127.0.0.1:%d/mcp" % srv.server_address[1]
        b = Bridge(self, url, env=self.env, header=False)
        _, r = b.call({"jsonrpc": "2.0", "id": "init", "method": "initialize",
                       "params": {"protocolVersion": LEGACY,
                                  "capabilities": {},
                                  "clientInfo": {"name": "t",
                                                 "version": "1"}}})
        self.assertIn("error", r)
        self.assertTrue(b.wait_stderr(b"evil.example"), b.stderr)
        self.assertEqual(b.close(), 0)
        r = self.cli("oauth", "status", "--json")
        self.assertEqual(r.out, b"")

    def test_named_credential_for_another_server_is_refused(self):
        b = self.bridge()
        b.initialize()
        self.assertEqual(text_of(b.echo(1, "x")), "x")
        b.close()
        other = Bridge(self, "http://127.0.0.1:%d/mcp" % free_port(),
                       args=["--oauth", self.name], env=self.env,
                       header=False)
        self.assertNotEqual(other.proc.wait(timeout=30 * harness.SLOW), 0)
        # stderr is read by a thread: wait for it, not only for the exit.
        self.assertTrue(other.wait_stderr(b"is not a credential for"),
                        other.stderr)
