"""End to end: the example MCP server (examples/node-mcp-server, built on
the official @modelcontextprotocol/sdk from npm) protected by keyward, and
called by the SDK's own Client with a token keyward minted.

Setup: `npm ci` of a copy of the example in the build directory (locked
versions, the cache there too, the source tree only read; skipped when
node_modules already matches the lock), then per
test a fresh agent on a test clock set to the real time, a client token
and policy for the server, the server on a free loopback port.

- the SDK Client lists the tools and calls `upstream_status`, which reads
  a secret through keyward (never returned);
- missing or malformed Authorization, and expired, wrong-audience,
  tampered, wrong-kid (edited, or signed by another agent's key),
  alg-none and retired-key tokens get 401 with a WWW-Authenticate header
  naming invalid_token and the resource metadata;
- a valid token without the required scope gets 403 insufficient_scope.

Which cases need which agent work: everything that presents a token needs
token.issue and token.verify (the JWT work); test_retired_signing_key
also needs the signing key to be a rotatable secret (`[token]
signing_key`, rotated with `random:32:raw`) whose replaced version stops
verifying when its overlap ends. The resource metadata and the
missing/malformed header cases need neither."""

import http.client
import json
import os
import re
import select
import subprocess
import sys
import time

import harness
from harness import DaemonTestCase, poll_until, spawn
import kwauth

SCOPE = "mcp:tools"
SECRET = "demo/upstream-token"
SIGNING_KEY = "keyward/token-signing"
START_DEADLINE_S = 60.0
HTTP_DEADLINE_S = 30.0
# Beyond any [token] leeway_seconds (at most 600).
PAST_LEEWAY_S = 601
INIT_BODY = json.dumps({
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "kw-e2e", "version": "0"}}})

_npm = None


def npm_ready():
    """Install the example once per run: (its directory, None), or (None,
    the failure), which every test that needs it reports."""
    global _npm
    if _npm is None:
        _npm = kwauth.install_example()
    return _npm


class McpE2E(DaemonTestCase):

    START = False

    def setUp(self):
        super().setUp()
        self.node = kwauth.require_node(self)
        self.example, failure = npm_ready()
        if failure:
            self.fail(failure)
        self.clock = os.path.join(self.h.work, "clock")
        self.set_clock(int(time.time()))
        self.d.extra_env["KEYWARD_TEST_CLOCK"] = self.clock
        self.d.start()
        self.c = kwauth.client_for(self.h)
        self.addCleanup(self.c.close)
        self.value = os.urandom(24).hex().encode()
        self.put_cli(SECRET, self.value)
        r = self.cli("client", "add", "mcp-demo")
        self.assertRc(r, 0)
        self.server_token = re.search(r"kwt_[A-Za-z0-9_-]{43}",
                                      r.text).group(0)
        kwauth.policy_for_node(self.h, "mcp-demo", "demo/*",
                               token="mcp-demo")
        self.assertRc(self.cli("policy", "reload"), 0)
        self.start_server()

    # -- fixtures --

    def set_clock(self, t):
        tmp = self.clock + ".new"
        with open(tmp, "w") as f:
            f.write("%d\n" % t)
        os.replace(tmp, self.clock)
        self.now = t

    def start_server(self):
        env = dict(self.h.env)
        env.update(KEYWARD_TOKEN=self.server_token, PORT="0",
                   MCP_REQUIRED_SCOPE=SCOPE, MCP_UPSTREAM_SECRET=SECRET)
        self.server_log = os.path.join(self.h.work, "server.log")
        logfd = os.open(self.server_log, os.O_WRONLY | os.O_CREAT |
                        os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            self.server = spawn(
                [self.node, os.path.join(self.example, "server.js")],
                env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=logfd, cwd=self.example)
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
                self.fail("server.js printed no URL within %ss; log:\n%s"
                          % (START_DEADLINE_S, self.server_log_text()))
            chunk = os.read(self.server.stdout.fileno(), 4096)
            if not chunk:
                self.fail("server.js exited (%s); log:\n%s" % (
                    self.server.wait(), self.server_log_text()))
            line += chunk
        m = re.match(rb"listening (http://127\.0\.0\.1:(\d+)/mcp)\n", line)
        self.assertIsNotNone(m, line)
        self.url = m.group(1).decode()
        self.port = int(m.group(2))

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
            sys.stderr.write("\n--- server.js log ---\n%s\n--- end ---\n"
                             % self.server_log_text())

    def server_log_text(self):
        try:
            with open(self.server_log, "rb") as f:
                return f.read().decode("utf-8", "replace")[-4000:]
        except FileNotFoundError:
            return ""

    def mint(self, scopes=(SCOPE,), audience=None, ttl=300, subject="alice",
             client_id="e2e-client"):
        return kwauth.issue_token(self.c, subject, audience or self.url,
                                  scopes=list(scopes), client_id=client_id,
                                  ttl=ttl)["token"]

    def post(self, authorization=None, path="/mcp", body=INIT_BODY):
        """One raw POST; returns (status, headers dict lower-cased, body)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=HTTP_DEADLINE_S)
        headers = {"Content-Type": "application/json",
                   "Accept": "application/json, text/event-stream"}
        if authorization is not None:
            headers["Authorization"] = authorization
        try:
            conn.request("POST", path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            return (resp.status, {k.lower(): v for k, v in resp.getheaders()},
                    data)
        finally:
            conn.close()

    def sdk_client(self, token):
        """examples/node-mcp-server/client.js: (rc, [JSON lines])."""
        env = dict(self.h.env)
        env.pop("KEYWARD_TOKEN", None)
        if token is not None:
            env["MCP_TOKEN"] = token
        r = harness.run([self.node,
                         os.path.join(self.example, "client.js"),
                         self.url], env, timeout=START_DEADLINE_S,
                        cwd=self.example)
        try:
            lines = [json.loads(x) for x in r.text.splitlines() if x.strip()]
        except ValueError:
            self.fail("client.js printed something that is not JSON: %r" % r)
        return r, lines

    # -- assertions --

    def assertChallenge(self, status, headers, body, code, error):
        self.assertEqual(status, code, body)
        www = headers.get("www-authenticate", "")
        self.assertTrue(www.startswith("Bearer "),
                        "no Bearer challenge: %r" % headers)
        self.assertIn('error="%s"' % error, www)
        meta = "http://127.0.0.1:%d/.well-known/oauth-protected-resource/mcp" \
            % self.port
        self.assertIn('resource_metadata="%s"' % meta, www)
        self.assertEqual(json.loads(body).get("error"), error)
        return www

    def assert401(self, authorization, why):
        status, headers, body = self.post(authorization)
        with self.subTest(why=why):
            self.assertChallenge(status, headers, body, 401, "invalid_token")

    def assertAccepted(self, token):
        status, _headers, body = self.post("Bearer " + token)
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["result"]["serverInfo"]["name"],
                         "keyward-example")

    # -- without tokens --

    def test_resource_metadata(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=HTTP_DEADLINE_S)
        try:
            conn.request("GET", "/.well-known/oauth-protected-resource/mcp")
            resp = conn.getresponse()
            meta = json.loads(resp.read())
        finally:
            conn.close()
        self.assertEqual(resp.status, 200)
        self.assertEqual(meta["resource"], self.url)
        self.assertEqual(meta["scopes_supported"], [SCOPE])

    def test_missing_or_malformed_authorization_is_401(self):
        self.assert401(None, "no Authorization header")
        self.assert401("Basic dXNlcjpwYXNz", "not Bearer")
        self.assert401("Bearer", "Bearer without a token")
        r, lines = self.sdk_client(None)
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(lines[-1]["step"], "error", lines)
        self.assertEqual(lines[-1]["status"], 401, lines)

    # -- with tokens (token.issue / token.verify) --

    def test_sdk_client_lists_and_calls_the_tool(self):
        # Minted as an operator would: the CLI prints the token alone.
        r = self.cli("token", "issue", "--sub", "alice", "--aud", self.url,
                     "--scopes", SCOPE, "--client-id", "e2e-client",
                     "--ttl", "5m")
        self.assertRc(r, 0, "keyward token issue")
        token = r.text.strip()
        self.assertEqual(kwauth.jwt_parts(token)[1]["sub"], "alice")
        r, lines = self.sdk_client(token)
        self.assertEqual(r.rc, 0, "%r\nserver log:\n%s" % (
            r, self.server_log_text()))
        steps = {x["step"]: x for x in lines}
        self.assertIn("upstream_status", steps["tools"]["tools"])
        call = steps["call"]
        self.assertFalse(call["isError"], call)
        self.assertEqual(call["result"]["secret"], SECRET)
        self.assertTrue(call["result"]["available"])
        self.assertEqual(call["result"]["length"], len(self.value))
        self.assertEqual(call["result"]["caller"], "alice")
        self.assertEqual(call["result"]["client"], "e2e-client")
        self.assertEqual(call["result"]["scopes"], [SCOPE])
        self.assertNotIn(self.value.decode(), r.text + r.err)
        self.assertNotIn(self.value.decode(), self.server_log_text())

    def test_invalid_tokens_are_401(self):
        good = self.mint()
        self.assertAccepted(good)
        self.assert401("Bearer garbage", "not a JWT")
        self.assert401("Bearer " + self.mint(
            audience="http://127.0.0.1:%d/other" % self.port),
            "wrong audience")
        self.assert401("Bearer " + kwauth.tampered_payload(good),
                       "payload changed")
        self.assert401("Bearer " + kwauth.tampered_signature(good),
                       "signature changed")
        self.assert401("Bearer " + kwauth.wrong_kid(good), "unknown kid")
        self.assert401("Bearer " + kwauth.alg_none(good), "alg none")
        # The SDK's client sees the 401 too.
        r, lines = self.sdk_client(kwauth.tampered_signature(good))
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(lines[-1]["status"], 401, lines)

    def test_token_of_another_agent_is_401(self):
        # Well-formed and validly signed, for this very audience, but by a
        # key this agent never had: its kid is unknown here.
        other = harness.Home()
        self.addCleanup(other.cleanup)
        r = harness.run([harness.BIN_KEYWARD, "init"], other.env,
                        cwd=other.work)
        self.assertEqual(r.rc, 0, r)
        other.write_test_policy()
        d = harness.Daemon(other)
        self.daemons.append(d)
        d.start()
        with kwauth.client_for(other) as oc:
            foreign = kwauth.issue_token(oc, "alice", self.url,
                                         scopes=[SCOPE], ttl=300)["token"]
        self.assertNotIn(kwauth.jwt_parts(foreign)[0]["kid"],
                         [k["kid"] for k in self.c.jwks()["keys"]])
        self.assertAccepted(self.mint())
        self.assert401("Bearer " + foreign, "another agent's key")

    def test_expired_token_is_401(self):
        token = self.mint(ttl=60)
        self.assertAccepted(token)
        self.set_clock(self.now + 60 + PAST_LEEWAY_S)
        self.assert401("Bearer " + token, "expired")
        self.assertAccepted(self.mint())

    def test_missing_scope_is_403(self):
        token = self.mint(scopes=("other",))
        status, headers, body = self.post("Bearer " + token)
        www = self.assertChallenge(status, headers, body, 403,
                                   "insufficient_scope")
        self.assertIn('scope="%s"' % SCOPE, www)
        r, lines = self.sdk_client(token)
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(lines[-1]["status"], 403, lines)

    def test_retired_signing_key_is_401(self):
        # Needs the JWT work's signing key to be a rotatable secret.
        overlap = 600
        # Long-lived tokens: what refuses the old one below is its key,
        # not its exp.
        old = self.mint(ttl=4 * overlap)
        old_kid = kwauth.jwt_parts(old)[0]["kid"]
        self.c.call("schedule.set", {"name": SIGNING_KEY, "every": 86400,
                                     "rotator": "random:32:raw",
                                     "overlap": overlap})
        rid = self.c.call("rotate.start",
                          {"name": SIGNING_KEY})["rotation_id"]

        def finished():
            st = self.c.call("rotate.status", {"name": SIGNING_KEY})
            return next((r for r in st["history"] if r["id"] == rid), None)
        run = poll_until(finished, 30)
        self.assertTrue(run, "the signing key's rotation did not finish")
        self.assertEqual(run["step"], "done", run)
        new = self.mint(ttl=4 * overlap)
        self.assertNotEqual(kwauth.jwt_parts(new)[0]["kid"], old_kid)
        # Both keys verify during the overlap, and both are published.
        self.assertAccepted(old)
        self.assertAccepted(new)
        self.assertIn(old_kid, [k["kid"] for k in self.c.jwks()["keys"]])
        # Once the overlap has ended, the old key's tokens are refused.
        self.set_clock(self.now + overlap + PAST_LEEWAY_S)
        refused = poll_until(
            lambda: self.post("Bearer " + old)[0] == 401, 20)
        self.assertTrue(refused, "a token of the retired key still passes")
        self.assert401("Bearer " + old, "retired signing key")
        self.assertAccepted(new)
        self.assertNotIn(old_kid, [k["kid"] for k in self.c.jwks()["keys"]])
