"""The MCP TypeScript SDK 2.x with keyward, and the Node binding installed
the ordinary way (a symlink), against the real agent.

McpSdk2E2E: examples/node-mcp-server-v2 (stateless Streamable HTTP on
@modelcontextprotocol/server, /express and /node, protocol revision
2026-07-28) protected by KeywardTokenVerifier, called by the 2.x SDK's own
Client (its client.js, negotiating with server/discover): a valid token
lists and calls the tool over 2026-07-28; missing, tampered, expired and
wrong-audience tokens get 401 with the
challenge naming the RFC 9728 metadata (which the server publishes), a
token without the scope 403; an agent that is down, or that denies this
server the verification, gets 503 with Retry-After and one log line.

LinkedBinding: tests/integration/mcp-linked, an app with the binding
linked in (file:, as `npm install ./bindings/node` does) and a second
copy of the SDKs in the binding's own node_modules; @modelcontextprotocol/sdk
1.x requireBearerAuth, @modelcontextprotocol/express 2.x requireBearerAuth
and the web-standard gate of @modelcontextprotocol/server each answer
200/401/403 for good, bad and under-scoped tokens, never 500, and 503 when
the agent is down.

Node: the SDK 2.x needs Node 20 (kwauth.sdk2_node()); npm installs are
cached in the build directory like the other MCP groups'."""

import http.client
import json
import os
import re
import select
import subprocess
import sys
import time

import harness
from harness import DaemonTestCase, spawn
import kwauth

SCOPE = "mcp:tools"
SECRET = "demo/upstream-token"
PROTOCOL = "2026-07-28"
START_DEADLINE_S = 60.0
HTTP_DEADLINE_S = 30.0
# Beyond any [token] leeway_seconds (at most 600).
PAST_LEEWAY_S = 601
UNAVAILABLE_LINE = re.compile(
    r"^keyward: cannot verify bearer tokens: (\w+): ", re.M)

_installs = {}


def installed(what):
    """Each npm install once per run: (directory, None) or (None, why)."""
    if what not in _installs:
        _installs[what] = (kwauth.install_example_v2() if what == "example"
                           else kwauth.install_linked_app())
    return _installs[what]


class NodeServerCase(DaemonTestCase):
    """A fresh agent on a test clock, a client token and policy for the
    Node server (the node the SDK 2.x runs on), then the server itself."""

    START = False
    INSTALL = None
    VERIFY = "**"

    def setUp(self):
        super().setUp()
        self.node = kwauth.sdk2_node(self)
        self.dir, failure = installed(self.INSTALL)
        if failure:
            self.fail(failure)
        self.clock = os.path.join(self.h.work, "clock")
        self.set_clock(int(time.time()))
        self.d.extra_env["KEYWARD_TEST_CLOCK"] = self.clock
        self.d.start()
        self.c = kwauth.client_for(self.h)
        self.addCleanup(self.c.close)
        r = self.cli("client", "add", "mcp-server")
        self.assertRc(r, 0)
        self.server_token = re.search(r"kwt_[A-Za-z0-9_-]{43}",
                                      r.text).group(0)
        self.write_server_policy(verify=True)

    def write_server_policy(self, verify):
        lines = ['[client "mcp-server"]', "exe = %s" % self.node,
                 "token = mcp-server", "read = demo/*"]
        if verify:
            lines.append("verify = %s" % self.VERIFY)
        self.h.write_policy("10-mcp-server.ini", "\n".join(lines) + "\n")
        self.assertRc(self.cli("policy", "reload"), 0)

    def set_clock(self, t):
        tmp = self.clock + ".new"
        with open(tmp, "w") as f:
            f.write("%d\n" % t)
        os.replace(tmp, self.clock)
        self.now = t

    def start_server(self, script, extra_env, pattern):
        env = dict(self.h.env)
        env.update(KEYWARD_TOKEN=self.server_token, **extra_env)
        self.server_log = os.path.join(self.h.work, "server.log")
        logfd = os.open(self.server_log, os.O_WRONLY | os.O_CREAT |
                        os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            self.server = spawn([self.node, os.path.join(self.dir, script)],
                                env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=logfd,
                                cwd=self.dir)
        finally:
            os.close(logfd)
        self.addCleanup(self.stop_server)
        line = b""
        end = time.monotonic() + START_DEADLINE_S
        while not line.endswith(b"\n"):
            left = end - time.monotonic()
            ready, _, _ = select.select([self.server.stdout], [], [],
                                        max(left, 0))
            if not ready:
                self.fail("%s printed nothing within %ss; log:\n%s"
                          % (script, START_DEADLINE_S, self.log_text()))
            chunk = os.read(self.server.stdout.fileno(), 4096)
            if not chunk:
                self.fail("%s exited (%s); log:\n%s" % (
                    script, self.server.wait(), self.log_text()))
            line += chunk
        m = re.match(pattern, line)
        self.assertIsNotNone(m, line)
        return m

    def stop_server(self):
        if self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
        self.server.stdout.close()
        if self._failed():
            sys.stderr.write("\n--- server log ---\n%s\n--- end ---\n"
                             % self.log_text())

    def log_text(self):
        try:
            with open(self.server_log, "rb") as f:
                return f.read().decode("utf-8", "replace")[-4000:]
        except FileNotFoundError:
            return ""

    def mint(self, audience, scopes=(SCOPE,), ttl=300):
        return kwauth.issue_token(self.c, "alice", audience,
                                  scopes=list(scopes), client_id="e2e-client",
                                  ttl=ttl)["token"]

    def request(self, port, path, method="POST", authorization=None,
                body=b"{}"):
        """One raw request: (status, headers lower-cased, body)."""
        conn = http.client.HTTPConnection("127.0.0.1", port,
                                          timeout=HTTP_DEADLINE_S)
        headers = {"Content-Type": "application/json",
                   "Accept": "application/json, text/event-stream"}
        if authorization is not None:
            headers["Authorization"] = authorization
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return (resp.status,
                    {k.lower(): v for k, v in resp.getheaders()},
                    resp.read())
        finally:
            conn.close()

    def assert503(self, status, headers, body):
        self.assertEqual(status, 503, body)
        self.assertTrue(headers.get("retry-after", "").isdigit(), headers)
        self.assertNotIn("www-authenticate", headers)
        self.assertEqual(json.loads(body)["error"], "temporarily_unavailable")

    def assertLoggedOnce(self, kind):
        """The server logged the agent's failure: one line, that kind,
        no stack trace."""
        log = self.log_text()
        kinds = UNAVAILABLE_LINE.findall(log)
        self.assertEqual(kinds, [kind], log)
        self.assertNotIn("    at ", log)


class McpSdk2E2E(NodeServerCase):

    INSTALL = "example"

    def setUp(self):
        super().setUp()
        self.value = os.urandom(24).hex().encode()
        self.put_cli(SECRET, self.value)
        m = self.start_server("server.js", {
            "PORT": "0", "MCP_REQUIRED_SCOPE": SCOPE,
            "MCP_UPSTREAM_SECRET": SECRET},
            rb"listening (http://127\.0\.0\.1:(\d+)/mcp)\n")
        self.url = m.group(1).decode()
        self.port = int(m.group(2))
        self.meta = ("http://127.0.0.1:%d/.well-known/oauth-protected-"
                     "resource/mcp" % self.port)

    def sdk_client(self, token):
        """client.js (the SDK 2.x Client): (result, {step: line})."""
        env = dict(self.h.env)
        env.pop("KEYWARD_TOKEN", None)
        if token is not None:
            env["MCP_TOKEN"] = token
        r = harness.run([self.node, os.path.join(self.dir, "client.js"),
                         self.url], env, timeout=START_DEADLINE_S,
                        cwd=self.dir)
        try:
            lines = [json.loads(x) for x in r.text.splitlines() if x.strip()]
        except ValueError:
            self.fail("client.js printed something that is not JSON: %r" % r)
        return r, {x["step"]: x for x in lines}

    def assertClientRefused(self, token, status):
        r, steps = self.sdk_client(token)
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(steps["error"]["status"], status, steps)
        self.assertNotIn("connected", steps)
        return steps

    def assertChallenge(self, token, status, error):
        auth = None if token is None else "Bearer " + token
        code, headers, body = self.request(self.port, "/mcp",
                                           authorization=auth)
        self.assertEqual(code, status, body)
        www = headers.get("www-authenticate", "")
        self.assertTrue(www.startswith("Bearer "), headers)
        self.assertIn('error="%s"' % error, www)
        self.assertIn('resource_metadata="%s"' % self.meta, www)
        self.assertEqual(json.loads(body)["error"], error)
        return www

    def test_sdk_client_lists_and_calls_the_tool(self):
        r, steps = self.sdk_client(self.mint(self.url))
        self.assertEqual(r.rc, 0, "%r\nserver log:\n%s" % (r, self.log_text()))
        self.assertEqual(steps["connected"]["protocolVersion"], PROTOCOL)
        self.assertEqual(steps["tools"]["tools"], ["upstream_status"])
        call = steps["call"]
        self.assertFalse(call["isError"], call)
        self.assertEqual(call["result"], {
            "secret": SECRET, "available": True, "length": len(self.value),
            "caller": "alice", "client": "e2e-client", "scopes": [SCOPE]})
        self.assertNotIn(self.value.decode(), r.text + r.err)
        self.assertNotIn(self.value.decode(), self.log_text())
        # RFC 9728: where a client learns what this resource accepts.
        status, _h, body = self.request(
            self.port, "/.well-known/oauth-protected-resource/mcp", "GET",
            body=None)
        self.assertEqual(status, 200, body)
        meta = json.loads(body)
        self.assertEqual(meta["resource"], self.url)
        self.assertEqual(meta["scopes_supported"], [SCOPE])
        self.assertEqual(meta["authorization_servers"],
                         ["http://127.0.0.1:%d/" % self.port])
        # Stateless: no session to open a stream on or to delete.
        for method in ("GET", "DELETE"):
            status, _h, _b = self.request(
                self.port, "/mcp", method,
                authorization="Bearer " + self.mint(self.url), body=None)
            self.assertEqual(status, 405, method)

    def test_invalid_tokens_are_401(self):
        # One test for several cases: each fresh server costs seconds.
        self.assertChallenge(None, 401, "invalid_token")
        self.assertClientRefused(None, 401)
        other = "http://127.0.0.1:%d/other" % self.port
        self.assertChallenge(self.mint(other), 401, "invalid_token")
        self.assertClientRefused(self.mint(other), 401)
        self.assertChallenge(kwauth.tampered_signature(self.mint(self.url)),
                             401, "invalid_token")
        token = self.mint(self.url, ttl=60)
        self.assertEqual(self.sdk_client(token)[0].rc, 0)
        self.set_clock(self.now + 60 + PAST_LEEWAY_S)
        self.assertChallenge(token, 401, "invalid_token")
        self.assertClientRefused(token, 401)

    def test_missing_scope_is_403(self):
        token = self.mint(self.url, scopes=("other",))
        www = self.assertChallenge(token, 403, "insufficient_scope")
        self.assertIn('scope="%s"' % SCOPE, www)
        steps = self.assertClientRefused(token, 403)
        self.assertEqual(steps["error"]["scope"], SCOPE)

    def test_agent_down_is_503(self):
        token = self.mint(self.url)
        self.assertEqual(self.sdk_client(token)[0].rc, 0)
        self.d.stop()
        self.assert503(*self.request(self.port, "/mcp",
                                     authorization="Bearer " + token))
        self.assertClientRefused(token, 503)
        self.assertLoggedOnce("connect")
        # Still a 401 without a token: nothing to ask the agent.
        self.assertChallenge(None, 401, "invalid_token")

    def test_denied_server_is_503(self):
        token = self.mint(self.url)
        self.write_server_policy(verify=False)
        self.assert503(*self.request(self.port, "/mcp",
                                     authorization="Bearer " + token))
        self.assertClientRefused(token, 503)
        self.assertLoggedOnce("denied")
        self.write_server_policy(verify=True)
        self.assertEqual(self.sdk_client(token)[0].rc, 0)
        self.assertIn("keyward: the agent verifies bearer tokens again",
                      self.log_text())


class LinkedBinding(NodeServerCase):

    INSTALL = "linked"
    AUD = "http://127.0.0.1:1/mcp"

    def setUp(self):
        super().setUp()
        m = self.start_server("app.mjs", {"AUDIENCE": self.AUD},
                              rb"listening (\d+) (\d+)\n")
        self.routes = {"sdk1": (int(m.group(1)), "/sdk1"),
                       "express2": (int(m.group(1)), "/express2"),
                       "web2": (int(m.group(2)), "/web2")}

    def ask(self, route, token):
        port, path = self.routes[route]
        auth = None if token is None else "Bearer " + token
        return self.request(port, path, authorization=auth)

    def test_each_sdk_line_200_401_403_then_503(self):
        # One test: each fresh app costs seconds.
        good = self.mint(self.AUD)
        cases = [
            (good, 200, None),
            (None, 401, "invalid_token"),
            (kwauth.tampered_payload(good), 401, "invalid_token"),
            (self.mint("http://127.0.0.1:1/other"), 401, "invalid_token"),
            (self.mint(self.AUD, scopes=("other",)), 403,
             "insufficient_scope"),
        ]
        for route in self.routes:
            for token, want, error in cases:
                with self.subTest(route=route, want=want, error=error):
                    status, headers, body = self.ask(route, token)
                    self.assertEqual(status, want, body)
                    if error:
                        self.assertIn('error="%s"' % error,
                                      headers.get("www-authenticate", ""))
                        self.assertEqual(json.loads(body)["error"], error)
                    else:
                        self.assertEqual(json.loads(body),
                                         {"subject": "alice"})
        self.d.stop()
        for route in self.routes:
            with self.subTest(route=route):
                self.assert503(*self.ask(route, good))
        # One line per verifier (one each route), naming the failure.
        kinds = UNAVAILABLE_LINE.findall(self.log_text())
        self.assertEqual(kinds, ["connect"] * 3, self.log_text())
