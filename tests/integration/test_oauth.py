"""Managed OAuth credentials (docs/oauth.md) against a real authorization
server: oidc-provider on loopback (kwoidc.py), the real agent on a test
clock (KEYWARD_TEST_CLOCK) and the keyward CLI.

ClientCredentials:
- `keyward oauth add` (secret on stdin) and `keyward get` give a token the
  provider's introspection calls active, for client_secret_basic,
  client_secret_post and an id and secret that need RFC 6749 2.3.1's
  form-urlencoding before Basic; `--issuer` finds the endpoints;
- callers that find no token wait on one request: two at once get the
  same version and the audit log has one oauth.refresh row;
- the token is refreshed ahead of expiry when the clock passes
  [oauth] refresh_at_percent of its lifetime, never on a caller's path,
  watchers hear of it, and it survives a restart without a new request;
- a wrong secret fails `oauth add` with the server's error and keeps
  nothing; a credential's name refuses secret.put, secret.delete and
  schedule.set; `oauth revoke` revokes at the RFC 7009 endpoint (the token
  is then inactive) and forgets; status never shows a token or secret,
  and neither do the store files.

Login: `keyward oauth login` with oidc/browser.py as $BROWSER, for the
authorization code with PKCE (the agent keeps the verifier and state; a
state from another login is refused and ends it) and the device grant;
a denied login; the refresh token rotates at each refresh. A kill -9
(KEYWARD_TEST_OAUTH_CRASH) before the in-flight mark commits or after
the new tokens commit keeps the grant; one after the answer arrived and
before it was written loses it to the provider's reuse detection, which
the agent finds with one retry: needs-reauth, one audit row, no loop, and
a new login mends it. Watchers hear needs_reauth.

Hostile: a token endpoint that answers too much, malformed JSON, a token
type that is not Bearer, or nothing at all (timeout); an issuer whose
metadata names another issuer; a loopback endpoint without
--allow-private. Each fails with a sentence naming what was wrong and
leaves nothing stored."""

import base64
import http.server
import json
import os
import threading
import time

import harness
from harness import poll_until
import kwoidc
from test_rotation import T0, RotationCase

NAME = "upstream/api"


def both(r):
    """What a command printed, stdout and stderr."""
    return r.out.decode("utf-8", "replace") + r.err


class OAuthCase(RotationCase):
    """A daemon on a test clock and, with PROVIDER, a provider of its own
    (harness stops every child a test started, so one per test)."""

    PROVIDER = {}

    def setUp(self):
        super().setUp()
        if self.PROVIDER is not None:
            self.p = kwoidc.Provider(self, **self.PROVIDER)

    def add(self, name=NAME, client_id=kwoidc.CC_BASIC_ID,
            secret=kwoidc.CC_BASIC_SECRET, *extra):
        args = ["oauth", "add", name, "--grant", "client_credentials",
                "--client-id", client_id, "--allow-private",
                "--allow-insecure"]
        if not any(a in ("--issuer", "--token-url") for a in extra):
            args += ["--token-url", self.p.url("/token")]
        args += list(extra)
        if secret is not None:
            args.append("--client-secret-stdin")
        return self.cli(*args, input=(secret or "").encode() + b"\n")

    def token(self, name=NAME):
        r = self.cli("get", name)
        self.assertEqual(r.rc, 0, r)
        return r.out.decode().strip()

    def active(self, token, client_id=kwoidc.CC_BASIC_ID,
               secret=kwoidc.CC_BASIC_SECRET):
        return self.p.introspect(token, client_id, secret).get("active")

    def status(self, name=NAME):
        r = self.cli("oauth", "status", name, "--json")
        self.assertEqual(r.rc, 0, r)
        return json.loads(r.out)

    def audit_ops(self, op):
        res = self.call("audit.query", {"op": op, "limit": 100})
        return res["rows"]


class ClientCredentials(OAuthCase):

    def test_basic_post_and_awkward_ids_give_active_tokens(self):
        cases = [
            ("up/basic", kwoidc.CC_BASIC_ID, kwoidc.CC_BASIC_SECRET, []),
            ("up/post", kwoidc.CC_POST_ID, kwoidc.CC_POST_SECRET,
             ["--auth", "client_secret_post"]),
            ("up/awkward", kwoidc.AWKWARD_ID, kwoidc.AWKWARD_SECRET, []),
        ]
        for name, cid, secret, extra in cases:
            with self.subTest(name=name):
                r = self.add(name, cid, secret, *extra)
                self.assertEqual(r.rc, 0, r)
                self.assertIn("has an access token", both(r))
                tok = self.token(name)
                self.assertTrue(self.active(tok, cid, secret), name)
                st = self.status(name)
                self.assertEqual(st["state"], "ok")
                self.assertEqual(st["version"], 1)
                for text in (both(r), json.dumps(st)):
                    self.assertNotIn(tok, text)
                    self.assertNotIn(secret, text)

    def test_issuer_discovery_fills_the_endpoints(self):
        r = self.add(NAME, kwoidc.CC_BASIC_ID, kwoidc.CC_BASIC_SECRET,
                     "--issuer", self.p.issuer)
        self.assertEqual(r.rc, 0, r)
        st = self.status()
        self.assertEqual(st["token_url"], self.p.url("/token"))
        self.assertTrue(self.active(self.token()))

    def test_waiting_callers_share_one_request(self):
        res = self.call("oauth.add", {
            "name": NAME, "grant": "client_credentials",
            "token_url": self.p.url("/token"),
            "client_id": kwoidc.CC_BASIC_ID,
            "client_secret": kwoidc.CC_BASIC_SECRET,
            "allow_private": True, "allow_insecure": True})
        self.assertEqual(res["name"], NAME)
        conns = [self.rpc() for _ in range(3)]
        for i, c in enumerate(conns):
            c.send_obj({"jsonrpc": "2.0", "id": i, "method": "secret.get",
                        "params": {"name": NAME}})
        answers = [c.recv_json(timeout=30) for c in conns]
        for a in answers:
            self.assertIn("result", a, a)
        self.assertEqual({a["result"]["version"] for a in answers}, {1})
        self.assertEqual(len({a["result"]["value"] for a in answers}), 1)
        rows = self.audit_ops("oauth.refresh")
        self.assertEqual(len(rows), 1, rows)
        self.assertEqual(rows[0]["outcome"], "ok")
        gets = [r for r in self.audit_ops("secret.get")
                if r["name"] == NAME]
        self.assertEqual(len(gets), 3, gets)
        for c in conns:
            c.close()

    def test_refreshed_ahead_of_expiry_and_kept_across_restart(self):
        self.assertEqual(self.add().rc, 0)
        first = self.token()
        st = self.status()
        lifetime = 300  # kwoidc's default access_token_ttl
        self.assertEqual(st["version"], 1)
        w = self.rpc()
        self.assertIn("result", w.call("secret.watch", {"pattern": NAME}))
        # Before refresh_at_percent (75) of the lifetime: nothing.
        self.set_clock(T0 + lifetime * 70 // 100)
        self.wait_checked()
        self.assertEqual(self.status()["version"], 1)
        self.assertEqual(self.token(), first)
        # Past it: one new token, without a caller asking.
        self.set_clock(T0 + lifetime * 80 // 100)
        self.assertTrue(poll_until(lambda: self.status()["version"] == 2,
                                   10 * harness.SLOW), self.status())
        note = w.recv_json(timeout=10)
        self.assertEqual(note["method"], "secret.rotated")
        self.assertEqual(note["params"]["name"], NAME)
        self.assertEqual(note["params"]["version"], 2)
        second = self.token()
        self.assertNotEqual(second, first)
        self.assertTrue(self.active(second))
        w.close()
        # A restart reads what was stored: no new request.
        self.d.restart()
        self.r = self.rpc()
        self.wait_checked()
        st = self.status()
        self.assertEqual((st["state"], st["version"]), ("ok", 2))
        self.assertEqual(self.token(), second)
        rows = self.audit_ops("oauth.refresh")
        self.assertEqual(len(rows), 2, rows)

    def test_wrong_secret_fails_and_keeps_nothing(self):
        r = self.add(NAME, kwoidc.CC_BASIC_ID, "not-the-secret")
        self.assertNotEqual(r.rc, 0, r)
        self.assertIn("invalid_client", both(r))
        self.assertIn("was not kept", both(r))
        self.assertEqual(self.cli("get", NAME).rc, 3)
        st = self.cli("oauth", "status", "--json")
        self.assertEqual(st.rc, 0, st)
        self.assertEqual(st.out.strip(), b"")
        rows = self.audit_ops("oauth.refresh")
        self.assertEqual([r["outcome"] for r in rows], ["error"], rows)
        self.assertNotIn("not-the-secret", json.dumps(rows))

    def test_a_credential_refuses_plain_writes(self):
        self.assertEqual(self.add().rc, 0)
        for method, params in [
                ("secret.put", {"name": NAME, "value": "eA=="}),
                ("secret.delete", {"name": NAME}),
                ("schedule.set", {"name": NAME, "every": 3600,
                                  "rotator": "random:32"})]:
            resp = self.r.call(method, params)
            self.assertIn("error", resp, method)
            self.assertIn("is an OAuth credential", resp["error"]["message"])
        self.assertTrue(self.active(self.token()))

    def test_revoke_at_the_endpoint_and_forget(self):
        r = self.add(NAME, kwoidc.CC_BASIC_ID, kwoidc.CC_BASIC_SECRET,
                     "--issuer", self.p.issuer)
        self.assertEqual(r.rc, 0, r)
        tok = self.token()
        self.assertTrue(self.active(tok))
        r = self.cli("oauth", "revoke", NAME)
        self.assertEqual(r.rc, 0, r)
        self.assertIn("revoked at the revocation endpoint", both(r))
        self.assertFalse(self.active(tok))
        self.assertEqual(self.cli("get", NAME).rc, 3)
        self.assertEqual(self.cli("oauth", "status", NAME).rc, 3)

    def test_store_files_hold_no_token_or_secret(self):
        self.assertEqual(self.add().rc, 0)
        tok = self.token().encode()
        self.d.stop()
        for path in self.h.files():
            with open(path, "rb") as f:
                data = f.read()
            self.assertNotIn(tok, data, path)
            self.assertNotIn(kwoidc.CC_BASIC_SECRET.encode(), data, path)


class Login(OAuthCase):
    """authorization_code + PKCE and the device grant, with oidc/browser.py
    as the user's browser ($BROWSER), then refresh-token rotation."""

    def add_native(self, name=NAME, *extra):
        r = self.cli("oauth", "add", name, "--grant", "authorization_code",
                     "--client-id", kwoidc.NATIVE_ID, "--auth", "none",
                     "--scope", "openid", "--issuer", self.p.issuer,
                     "--allow-private", "--allow-insecure", *extra)
        self.assertEqual(r.rc, 0, r)
        self.assertIn("log in", both(r))
        return r

    def login(self, name=NAME, *extra, browser=kwoidc.BROWSER):
        env = dict(self.h.env)
        env["BROWSER"] = browser
        return harness.run([harness.BIN_KEYWARD, "oauth", "login", name]
                           + list(extra), env, cwd=self.h.work,
                           timeout=120)

    def active(self, token, client_id=kwoidc.CC_BASIC_ID,
               secret=kwoidc.CC_BASIC_SECRET):
        return self.p.introspect(token, client_id, secret).get("active")

    def assertLoggedIn(self, r, name=NAME):
        self.assertEqual(r.rc, 0, "%r\n%s" % (r, self.p.log_text()))
        self.assertIn("logged in", both(r))
        st = self.status(name)
        self.assertEqual(st["state"], "ok", st)
        self.assertTrue(st["refresh_token"], st)
        tok = self.token(name)
        self.assertTrue(self.active(tok))
        for text in (both(r), json.dumps(st)):
            self.assertNotIn(tok, text)
        return tok

    def test_code_with_pkce_then_refresh_rotates(self):
        self.add_native()
        self.assertEqual(self.cli("get", NAME).rc, 1)
        first = self.assertLoggedIn(self.login())
        self.assertEqual(self.status()["version"], 1)
        # 80 % of the provider's 300 s: the refresh token is spent and
        # replaced; the new access token works.
        self.set_clock(T0 + 240)
        self.assertTrue(poll_until(lambda: self.status()["version"] == 2,
                                   10 * harness.SLOW), self.status())
        second = self.token()
        self.assertNotEqual(first, second)
        self.assertTrue(self.active(second))
        rows = self.audit_ops("oauth.refresh")
        self.assertEqual([r["outcome"] for r in rows], ["ok", "ok"], rows)
        self.assertIn("a new refresh token", rows[0]["reason"])

    def test_device_grant(self):
        self.add_native()
        r = self.login(NAME, "--device")
        self.assertIn("enter the code", both(r))
        self.assertLoggedIn(r)

    def test_state_from_another_login_is_refused(self):
        self.add_native()
        res = self.call("oauth.login_begin", {
            "name": NAME, "redirect_uri": "http://127.0.0.1:9/callback"})
        self.assertIn("code_challenge_method=S256", res["authorize_url"])
        resp = self.r.call("oauth.login_finish", {
            "name": NAME, "code": "whatever", "state": "not-the-state"})
        self.assertIn("error", resp)
        self.assertIn("state", resp["error"]["message"])
        # The login is over: the right state cannot be tried after it.
        resp = self.r.call("oauth.login_finish", {
            "name": NAME, "code": "whatever", "state": "x"})
        self.assertIn("no login", resp["error"]["message"])
        resp = self.r.call("oauth.login_begin", {
            "name": NAME, "redirect_uri": "https://evil.example/cb"})
        self.assertIn("redirect_uri", resp["error"]["message"])

    def test_step_up_scope_then_login(self):
        self.p = kwoidc.Provider(self, scopes=("mcp:extra",))
        self.add_native()
        self.assertLoggedIn(self.login())
        self.assertNotIn("mcp:extra", self.status()["granted_scope"])
        res = self.call("oauth.set_scope", {"name": NAME,
                                             "scope": "openid mcp:extra"})
        self.assertEqual(res["scope"], "openid mcp:extra")
        self.assertEqual(self.status()["scope"], "openid mcp:extra")
        resp = self.r.call("oauth.set_scope", {"name": NAME,
                                                "scope": "bad  scope"})
        self.assertIn("error", resp)
        self.assertLoggedIn(self.login())
        self.assertIn("mcp:extra", self.status()["granted_scope"])

    def test_denied_login(self):
        # The provider of this test refuses every interaction.
        self.p = kwoidc.Provider(self, deny=True)
        self.add_native()
        r = self.login()
        self.assertNotEqual(r.rc, 0, r)
        self.assertIn("access_denied", both(r))
        self.assertEqual(self.status()["state"], "new")

    def crash_refresh(self, at):
        """Log in, then die (KEYWARD_TEST_OAUTH_CRASH=at) in the refresh
        at 80 % of the token's life, and start again without the hook.
        Returns the status after the restart settled."""
        self.add_native()
        self.assertLoggedIn(self.login())
        self.d.stop()
        self.d.extra_env["KEYWARD_TEST_OAUTH_CRASH"] = at
        self.d.start()
        self.r = self.rpc()
        self.set_clock(T0 + 240)
        self.assertTrue(poll_until(lambda: not self.d.alive(),
                                   10 * harness.SLOW),
                        "the hook did not fire at %s" % at)
        del self.d.extra_env["KEYWARD_TEST_OAUTH_CRASH"]
        self.d.start()
        self.r = self.rpc()

        def settled():
            st = self.status()
            return st["state"] in ("ok", "needs-reauth") and \
                st["version"] >= 1 and st["next_refresh"] is not None \
                or st["state"] == "needs-reauth"
        self.assertTrue(poll_until(settled, 10 * harness.SLOW),
                        self.status())
        return self.status()

    def test_kill_before_the_mark_commits_keeps_the_grant(self):
        self.crash_refresh("mark")
        self.assertTrue(poll_until(lambda: self.status()["version"] == 2,
                                   10 * harness.SLOW), self.status())
        self.assertTrue(self.active(self.token()))

    def test_kill_after_the_commit_keeps_the_grant(self):
        st = self.crash_refresh("commit")
        self.assertEqual((st["state"], st["version"]), ("ok", 2), st)
        self.assertTrue(self.active(self.token()))
        # The next refresh spends the refresh token the commit kept.
        self.set_clock(T0 + 240 + 240)
        self.assertTrue(poll_until(lambda: self.status()["version"] == 3,
                                   10 * harness.SLOW), self.status())

    def test_lost_answer_is_retried_once_then_needs_reauth(self):
        # The answer arrived and was lost before its commit: the refresh
        # token was spent. The agent tries once more with it; the
        # provider's reuse detection refuses and revokes the grant. One
        # audit row, one notice, no loop.
        self.crash_refresh("answer")
        self.assertTrue(poll_until(
            lambda: self.status()["state"] == "needs-reauth",
            10 * harness.SLOW), self.status())
        st = self.status()
        self.assertIn("invalid_grant", st["last_error"])
        self.assertFalse(st["refresh_token"])
        self.set_clock(T0 + 3 * 3600)
        self.wait_checked()
        rows = [r for r in self.audit_ops("oauth.refresh")
                if r["outcome"] == "error"]
        self.assertEqual(len(rows), 1, rows)
        self.assertIn("invalid_grant", rows[0]["reason"])
        r = self.cli("get", NAME)
        self.assertNotEqual(r.rc, 0)
        self.assertIn("needs a new login", r.err)
        self.assertIn("keyward oauth login " + NAME, r.err)
        # A new login mends it.
        self.assertLoggedIn(self.login())

    def test_dynamic_registration_then_login(self):
        meta = self.call("oauth.discover", {
            "issuer": self.p.issuer, "allow_private": True,
            "allow_insecure": True})
        reg = self.call("oauth.register", {
            "registration_endpoint": meta["registration_endpoint"],
            "redirect_uri": "http://127.0.0.1/callback",
            "client_name": "keyward test", "allow_private": True,
            "allow_insecure": True})
        self.assertTrue(reg["client_id"])
        self.assertNotEqual(reg["client_id"], kwoidc.NATIVE_ID)
        r = self.cli("oauth", "add", NAME, "--grant", "authorization_code",
                     "--client-id", reg["client_id"], "--auth", "none",
                     "--scope", "openid", "--issuer", self.p.issuer,
                     "--allow-private", "--allow-insecure")
        self.assertEqual(r.rc, 0, r)
        self.assertLoggedIn(self.login())
        rows = self.audit_ops("oauth.register")
        self.assertEqual([r["outcome"] for r in rows], ["ok"], rows)

    def test_needs_reauth_reaches_watchers(self):
        self.add_native()
        self.assertLoggedIn(self.login())
        w = self.rpc()
        self.assertIn("result", w.call("secret.watch", {"pattern": NAME}))
        # The grant ends at the provider (oidc-provider revokes a grant
        # with any of its tokens): the next refresh is invalid_grant.
        tok = self.token()
        self.assertEqual(self.p.revoke(tok, kwoidc.NATIVE_ID,
                                       auth="none").status, 200)
        self.set_clock(T0 + 240)
        note = w.recv_json(timeout=10 * harness.SLOW)
        self.assertEqual(note["method"], "secret.rotated")
        self.assertEqual(note["params"], {"name": NAME, "needs_reauth": True})
        self.assertEqual(self.status()["state"], "needs-reauth")
        w.close()


class Hostile(http.server.ThreadingHTTPServer):
    """A token endpoint on 127.0.0.1 that answers what the test says."""

    daemon_threads = True

    def __init__(self, status, body, content_type="application/json",
                 hang=False):
        self.answer = (status, body, content_type)
        self.hang = hang
        self.release = threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.answer()

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(n)
                self.answer()

            def answer(self):
                srv = self.server
                if srv.hang:
                    srv.release.wait(60)
                    return
                status, body, ctype = srv.answer
                if callable(body):
                    body = body(srv)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever,
                                       daemon=True)
        self.thread.start()

    def url(self, path="/token"):
        return "http://127.0.0.1:%d%s" % (self.server_address[1], path)

    def close(self):
        self.release.set()
        self.shutdown()
        self.server_close()


class HostileEndpoints(OAuthCase):
    CONFIG = {"oauth": {"timeout_seconds": "2"}}
    PROVIDER = None

    def hostile(self, *args, **kw):
        srv = Hostile(*args, **kw)
        self.addCleanup(srv.close)
        return srv

    def assertAddFails(self, token_url, want, *extra):
        r = self.cli("oauth", "add", NAME, "--grant", "client_credentials",
                     "--client-id", "c", "--client-secret-stdin",
                     "--token-url", token_url, *extra, input=b"s\n")
        self.assertNotEqual(r.rc, 0, r)
        self.assertIn(want, both(r))
        self.assertEqual(self.cli("get", NAME).rc, 3)
        self.assertEqual(self.cli("oauth", "status", "--json").out, b"")
        return r

    def test_bad_answers(self):
        flags = ("--allow-private", "--allow-insecure")
        big = b'{"access_token": "' + b"a" * 70000 + b'"}'
        cases = [
            (200, big, "larger than 65536 bytes"),
            (200, b"{not json", "token endpoint's answer"),
            (200, b'{"access_token": "x", "token_type": "DPoP"}',
             "token_type"),
            (200, b'{"token_type": "Bearer"}', "access_token"),
            (500, b"database on fire\nsecond line", "HTTP 500: database"),
        ]
        for status, body, want in cases:
            with self.subTest(want=want):
                srv = self.hostile(status, body)
                self.assertAddFails(srv.url(), want, *flags)

    def test_hanging_endpoint_times_out(self):
        srv = self.hostile(200, b"", hang=True)
        t0 = time.monotonic()
        self.assertAddFails(srv.url(), "timed out", "--allow-private",
                            "--allow-insecure")
        self.assertLess(time.monotonic() - t0, 30)

    def test_private_address_needs_the_flag(self):
        srv = self.hostile(200, b"{}")
        self.assertAddFails(srv.url(), "needs --allow-private",
                            "--allow-insecure")

    def test_resource_metadata(self):
        resource = "https://mcp.example.com/mcp"
        doc = {"resource": resource,
               "authorization_servers": ["https://auth.example.com"],
               "scopes_supported": ["mcp:tools", "mcp:read"]}
        srv = self.hostile(200, json.dumps(doc).encode())
        params = {"url": srv.url("/.well-known/oauth-protected-resource/mcp"),
                  "resource": resource, "allow_private": True,
                  "allow_insecure": True}
        res = self.call("oauth.resource_metadata", params)
        self.assertEqual(res["authorization_servers"],
                         ["https://auth.example.com"])
        self.assertEqual(res["scopes_supported"], "mcp:tools mcp:read")
        # A document about another resource is refused (RFC 9728 3.3).
        params["resource"] = "https://other.example.com/mcp"
        resp = self.r.call("oauth.resource_metadata", params)
        self.assertIn("error", resp)
        self.assertIn("resource", resp["error"]["message"])

    def test_issuer_naming_another_issuer(self):
        meta = json.dumps({"issuer": "https://elsewhere.example",
                           "token_endpoint": "https://elsewhere.example/t"})
        srv = self.hostile(200, meta.encode())
        r = self.cli("oauth", "add", NAME, "--grant", "client_credentials",
                     "--client-id", "c", "--client-secret-stdin",
                     "--issuer", srv.url(""), "--allow-private",
                     "--allow-insecure", input=b"s\n")
        self.assertNotEqual(r.rc, 0, r)
        self.assertIn("issuer", both(r))
        self.assertIn("elsewhere.example", both(r))
        self.assertEqual(self.cli("oauth", "status", "--json").out, b"")


if __name__ == "__main__":
    import unittest
    unittest.main()
