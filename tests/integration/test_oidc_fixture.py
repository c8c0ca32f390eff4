"""The loopback OAuth 2.0 authorization server the OAuth tests use
(kwoidc.py: oidc-provider run by oidc/provider.mjs, oidc/browser.py as
the user's browser), tested alone; no keyward involved. It documents what
the fixture gives:

- discovery (RFC 8414 and OIDC's) names every endpoint, S256 only, and
  the RFC 9207 iss parameter;
- client_credentials with client_secret_basic (also for an id and secret
  that need RFC 6749 2.3.1's form-urlencoding, which oidc-provider
  decodes: plain RFC 7617 Basic of the same is refused, and so is
  non-ASCII, which RFC 6749 A.1/A.2 exclude) and client_secret_post give
  opaque tokens that introspection calls active; with resource=URI, a JWT
  access token (RFC 9068) for that audience, signed with a key of /jwks;
  POST /test/jwks-rotate signs with a new kid;
- the native public client: code + PKCE (required, S256) through
  browser.py to a listener on a random loopback port (RFC 8252 7.3),
  which gets code, state and iss; the code gives access and refresh
  tokens; a refresh rotates the refresh token, and replaying the old one
  is invalid_grant and revokes the grant (its other tokens then
  introspect inactive);
- the device grant, completed through the provider's pages after
  approve_device(), and through browser.py given verification_uri_complete;
- open dynamic registration (RFC 7591);
- deny=True: access_denied at the callback, and for the device grant.

One provider per class (about a second to start). Run by meson as
`oidc_fixture` (`meson test -C build oidc_fixture`), or by hand:
KW_NODE_WORK=DIR python3 tests/integration/test_oidc_fixture.py [TEST ...]
(DIR: where npm installs oidc-provider)."""

import base64
import hashlib
import os
import signal
import sys
import time
import unittest

import harness
import kwauth
import kwoidc
from kwoidc import (AWKWARD_ID, AWKWARD_SECRET, CC_BASIC_ID, CC_BASIC_SECRET,
                    CC_POST_ID, CC_POST_SECRET, NATIVE_ID, RESOURCE,
                    RESOURCE_SCOPE)

ES_RESOURCE = "http://127.0.0.1:2/es"
ES_AUDIENCE = "urn:test:es-audience"
TTL = 300
# DigestInfo of SHA-256 (RFC 8017 9.2, note 1), for checking RS256.
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def rs256_valid(token, jwks):
    """Whether token's RS256 signature verifies with the key of jwks that
    its kid names (RSASSA-PKCS1-v1_5, by hand: standard library only)."""
    header, _payload, sig = kwauth.jwt_parts(token)
    keys = [k for k in jwks["keys"] if k.get("kid") == header["kid"]]
    if header["alg"] != "RS256" or len(keys) != 1:
        return False
    n = int.from_bytes(kwauth.b64u_decode(keys[0]["n"]), "big")
    e = int.from_bytes(kwauth.b64u_decode(keys[0]["e"]), "big")
    size = (n.bit_length() + 7) // 8
    em = pow(int.from_bytes(kwauth.b64u_decode(sig), "big"), e, n)
    digest = hashlib.sha256(token.rsplit(".", 1)[0].encode()).digest()
    t = SHA256_DIGEST_INFO + digest
    want = b"\x00\x01" + b"\xff" * (size - len(t) - 3) + b"\x00" + t
    return em.to_bytes(size, "big") == want


class FixtureCase(unittest.TestCase):
    """One provider for the class."""

    DENY = False

    @classmethod
    def setUpClass(cls):
        t0 = time.monotonic()
        cls.p = kwoidc.Provider(cls, resources={
            RESOURCE: {"scopes": [RESOURCE_SCOPE]},
            ES_RESOURCE: {"scopes": ["es:read"], "audience": ES_AUDIENCE,
                          "alg": "ES256"},
        }, access_token_ttl=TTL, deny=cls.DENY)
        sys.stderr.write("\n%s: oidc-provider ready in %.2fs (node and npm "
                         "%.2fs, start %.2fs)\n"
                         % (cls.__name__, time.monotonic() - t0,
                            cls.p.install_s, cls.p.start_s))

    def browse(self, url, *extra):
        """browser.py URL, as keyward runs it: the harness.Result."""
        return harness.run(kwoidc.browser_argv() + list(extra) + [url],
                           dict(os.environ), timeout=kwoidc.HTTP_DEADLINE_S)

    def authorize(self, **kw):
        """The code flow's front channel through browser.py to a fresh
        callback listener: (callback, its query, verifier, state)."""
        cb = kwoidc.Callback(self)
        verifier, challenge = kwoidc.pkce()
        state = base64.urlsafe_b64encode(os.urandom(12)).decode()
        args = dict(redirect_uri=cb.uri, state=state,
                    code_challenge=challenge)
        args.update(kw)
        r = self.browse(self.p.authorization_url(**args))
        self.assertEqual(r.rc, 0, "%r\n%s" % (r, self.p.log_text()))
        self.assertRegex(r.err, r"^browser: redirect URI /callback 200\n$")
        path, query = cb.last()
        self.assertEqual(path, "/callback")
        return cb, query, verifier, state

    def assertError(self, resp, status, error):
        self.assertEqual((resp.status, resp.get("error")), (status, error),
                         dict(resp))


class Provider(FixtureCase):

    def test_discovery(self):
        meta = self.p.metadata()
        self.assertEqual(meta.status, 200)
        issuer = self.p.issuer
        self.assertEqual(issuer, "http://127.0.0.1:%d" % self.p.port)
        self.assertEqual(meta["issuer"], issuer)
        for name, path in (("authorization_endpoint", "/auth"),
                           ("token_endpoint", "/token"),
                           ("device_authorization_endpoint", "/device/auth"),
                           ("introspection_endpoint", "/token/introspection"),
                           ("revocation_endpoint", "/token/revocation"),
                           ("registration_endpoint", "/reg"),
                           ("jwks_uri", "/jwks")):
            self.assertEqual(meta.get(name), issuer + path, name)
        self.assertEqual(meta["code_challenge_methods_supported"], ["S256"])
        self.assertIs(meta["authorization_response_iss_parameter_supported"],
                      True)
        self.assertTrue({"authorization_code", "refresh_token",
                         "client_credentials", kwoidc.DEVICE_GRANT}
                        <= set(meta["grant_types_supported"]))
        self.assertTrue({"client_secret_basic", "client_secret_post", "none"}
                        <= set(meta["token_endpoint_auth_methods_supported"]))
        self.assertEqual(meta["response_types_supported"], ["code"])
        oidc = self.p.metadata("openid-configuration")
        self.assertEqual(oidc.status, 200)
        self.assertEqual(dict(oidc), dict(meta))

    def test_client_credentials_basic_post_and_encoding(self):
        for client_id, secret, auth in (
                (CC_BASIC_ID, CC_BASIC_SECRET, "basic"),
                (CC_POST_ID, CC_POST_SECRET, "post"),
                (AWKWARD_ID, AWKWARD_SECRET, "basic"),
                (AWKWARD_ID, AWKWARD_SECRET, "post")):
            with self.subTest(client_id=client_id, auth=auth):
                tok = self.p.token(client_id, secret, auth=auth)
                self.assertEqual(tok.status, 200, dict(tok))
                self.assertEqual(tok["token_type"], "Bearer")
                self.assertEqual(tok["expires_in"], TTL)
                self.assertNotIn(".", tok["access_token"])  # opaque
                self.assertEqual(tok.headers.get("cache-control"), "no-store")
                info = self.p.introspect(tok["access_token"], client_id,
                                         secret, auth=auth)
                self.assertEqual(info.status, 200)
                self.assertIs(info["active"], True, dict(info))
                self.assertEqual(info["client_id"], client_id)
        # The wrong secret, and the awkward pair in plain RFC 7617 Basic
        # (not form-urlencoded): what a client that skips 2.3.1 sends.
        self.assertError(self.p.token(CC_BASIC_ID, CC_BASIC_SECRET + "x"),
                         401, "invalid_client")
        self.assertError(self.p.token(AWKWARD_ID, AWKWARD_SECRET,
                                      auth="basic-raw"), 400,
                         "invalid_request")
        self.assertError(self.p.token(AWKWARD_ID, AWKWARD_SECRET.replace(
            "%%", "%25"), auth="basic-raw"), 401, "invalid_client")
        # Non-ASCII (UTF-8, form-urlencoded) is not a VSCHAR: refused.
        self.assertError(self.p.token(CC_BASIC_ID, CC_BASIC_SECRET + "\u00e9"),
                         400, "invalid_request")
        # A revoked opaque token introspects inactive.
        tok = self.p.token(CC_BASIC_ID, CC_BASIC_SECRET)
        self.assertEqual(self.p.revoke(tok["access_token"], CC_BASIC_ID,
                                       CC_BASIC_SECRET).status, 200)
        self.assertIs(self.p.introspect(tok["access_token"], CC_BASIC_ID,
                                        CC_BASIC_SECRET)["active"], False)

    def test_resource_gives_jwt_access_token(self):
        tok = self.p.token(CC_BASIC_ID, CC_BASIC_SECRET, resource=RESOURCE,
                           scope=RESOURCE_SCOPE)
        self.assertEqual(tok.status, 200, dict(tok))
        self.assertEqual(tok["scope"], RESOURCE_SCOPE)
        header, payload, _sig = kwauth.jwt_parts(tok["access_token"])
        self.assertEqual((header["typ"], header["alg"]), ("at+jwt", "RS256"))
        self.assertEqual(payload["aud"], RESOURCE)
        self.assertEqual(payload["iss"], self.p.issuer)
        self.assertEqual(payload["client_id"], CC_BASIC_ID)
        self.assertEqual(payload["sub"], CC_BASIC_ID)
        self.assertEqual(payload["scope"], RESOURCE_SCOPE)
        self.assertEqual(payload["exp"] - payload["iat"], TTL)
        jwks = self.p.jwks()
        self.assertTrue(rs256_valid(tok["access_token"], jwks), header)
        self.assertFalse(rs256_valid(kwauth.tampered_signature(
            tok["access_token"]), jwks))
        # Another resource: its own audience and algorithm.
        es = self.p.token(CC_POST_ID, CC_POST_SECRET, auth="post",
                          resource=ES_RESOURCE, scope="es:read")
        header, payload, _sig = kwauth.jwt_parts(es["access_token"])
        self.assertEqual((header["typ"], header["alg"]), ("at+jwt", "ES256"))
        self.assertEqual(payload["aud"], ES_AUDIENCE)
        self.assertIn(header["kid"], [k["kid"] for k in jwks["keys"]])
        self.assertError(self.p.token(CC_BASIC_ID, CC_BASIC_SECRET,
                                      resource="http://127.0.0.1:3/unknown"),
                         400, "invalid_target")

    def test_jwks_rotation(self):
        before = {k["kid"] for k in self.p.jwks()["keys"]}
        old = kwauth.jwt_parts(self.p.token(
            CC_BASIC_ID, CC_BASIC_SECRET, resource=RESOURCE)[
                "access_token"])[0]["kid"]
        self.assertIn(old, before)
        rotated = self.p.rotate_keys()
        self.assertEqual(rotated.status, 200, dict(rotated))
        after = {k["kid"] for k in self.p.jwks()["keys"]}
        self.assertTrue(before < after, (before, after))
        tok = self.p.token(CC_BASIC_ID, CC_BASIC_SECRET, resource=RESOURCE)
        kid = kwauth.jwt_parts(tok["access_token"])[0]["kid"]
        self.assertNotEqual(kid, old)
        self.assertIn(kid, rotated["kids"])
        self.assertTrue(rs256_valid(tok["access_token"], self.p.jwks()))
        # Two generations (the default): none left.
        self.assertEqual(self.p.rotate_keys().status, 409)

    def test_code_flow_pkce_and_refresh_rotation(self):
        cb, query, verifier, state = self.authorize(
            client_id=NATIVE_ID, scope="openid")
        # RFC 8252 7.3: the registered http://127.0.0.1/callback, another
        # port; RFC 9207: iss.
        self.assertNotEqual(cb.port, 80)
        self.assertEqual(query["state"], state)
        self.assertEqual(query["iss"], self.p.issuer)
        self.assertNotIn("error", query)
        code = query["code"]
        tok = self.p.token(NATIVE_ID, grant="authorization_code", auth="none",
                           code=code, code_verifier=verifier,
                           redirect_uri=cb.uri)
        self.assertEqual(tok.status, 200, "%r\n%s" % (dict(tok),
                                                      self.p.log_text()))
        self.assertEqual(tok["token_type"], "Bearer")
        at1, rt1 = tok["access_token"], tok["refresh_token"]
        info = self.p.introspect(at1, CC_BASIC_ID, CC_BASIC_SECRET)
        self.assertIs(info["active"], True, dict(info))
        self.assertEqual((info["sub"], info["client_id"]),
                         (kwoidc.ACCOUNT, NATIVE_ID))
        # Rotation: a new refresh token each time, the old one consumed.
        ref = self.p.token(NATIVE_ID, grant="refresh_token", auth="none",
                           refresh_token=rt1)
        self.assertEqual(ref.status, 200, "%r\n%s" % (dict(ref),
                                                      self.p.log_text()))
        at2, rt2 = ref["access_token"], ref["refresh_token"]
        self.assertNotEqual(rt2, rt1)
        for token, active in ((at1, True), (at2, True), (rt2, True),
                              (rt1, False)):
            self.assertIs(self.p.introspect(token, CC_BASIC_ID,
                                            CC_BASIC_SECRET)["active"],
                          active)
        # Reuse detection: the replayed refresh token is invalid_grant and
        # every token of the grant is revoked.
        self.assertError(self.p.token(NATIVE_ID, grant="refresh_token",
                                      auth="none", refresh_token=rt1),
                         400, "invalid_grant")
        self.assertIn("(refresh token already used)", self.p.log_text())
        for token in (at1, at2, rt2):
            self.assertIs(self.p.introspect(token, CC_BASIC_ID,
                                            CC_BASIC_SECRET)["active"],
                          False)
        self.assertError(self.p.token(NATIVE_ID, grant="refresh_token",
                                      auth="none", refresh_token=rt2),
                         400, "invalid_grant")

    def test_code_flow_with_resource_gives_jwt(self):
        cb, query, verifier, _state = self.authorize(
            client_id=NATIVE_ID, scope=RESOURCE_SCOPE, resource=RESOURCE)
        tok = self.p.token(NATIVE_ID, grant="authorization_code", auth="none",
                           code=query["code"], code_verifier=verifier,
                           redirect_uri=cb.uri)
        self.assertEqual(tok.status, 200, dict(tok))
        _h, payload, _s = kwauth.jwt_parts(tok["access_token"])
        self.assertEqual((payload["aud"], payload["sub"], payload["scope"]),
                         (RESOURCE, kwoidc.ACCOUNT, RESOURCE_SCOPE))
        rt = tok["refresh_token"]
        self.assertIs(self.p.introspect(rt, CC_BASIC_ID,
                                        CC_BASIC_SECRET)["active"], True)
        # A code is good once, and its replay revokes the grant
        # (RFC 6749 4.1.2).
        self.assertError(self.p.token(
            NATIVE_ID, grant="authorization_code", auth="none",
            code=query["code"], code_verifier=verifier, redirect_uri=cb.uri),
            400, "invalid_grant")
        self.assertIs(self.p.introspect(rt, CC_BASIC_ID,
                                        CC_BASIC_SECRET)["active"], False)

    def test_pkce_required_and_redirect_uri_checked(self):
        for extra in ({"code_challenge": None},
                      {"code_challenge_method": "plain"}):
            with self.subTest(**extra):
                _cb, query, _v, state = self.authorize(client_id=NATIVE_ID,
                                                       **extra)
                self.assertEqual(query["error"], "invalid_request", query)
                self.assertEqual((query["state"], query["iss"]),
                                 (state, self.p.issuer))
                self.assertNotIn("code", query)
        # Any port, but not another path: the provider shows its error
        # page and browser.py says so.
        cb = kwoidc.Callback(self, path="/other")
        r = self.browse(self.p.authorization_url(
            redirect_uri=cb.uri, code_challenge=kwoidc.pkce()[1]))
        self.assertEqual(r.rc, 1, r)
        self.assertIn("answered 400", r.err)
        self.assertIn("redirect_uri did not match", r.err)
        self.assertEqual(cb.requests, [])

    def test_device_grant(self):
        dev = self.p.device_authorization(scope="openid")
        self.assertEqual(dev.status, 200, dict(dev))
        self.assertEqual(dev["verification_uri"], self.p.url("/device"))
        self.assertTrue(dev["verification_uri_complete"].startswith(
            self.p.url("/device?user_code=")))
        poll = dict(grant="device_code", auth="none",
                    device_code=dev["device_code"])
        self.assertError(self.p.token(NATIVE_ID, **poll), 400,
                         "authorization_pending")
        out = self.p.approve_device(dev["user_code"])
        self.assertEqual((out.kind, out.status), ("device", 200))
        tok = self.p.token(NATIVE_ID, **poll)
        self.assertEqual(tok.status, 200, dict(tok))
        self.assertIn("refresh_token", tok)
        self.assertIs(self.p.introspect(tok["access_token"], CC_BASIC_ID,
                                        CC_BASIC_SECRET)["active"], True)
        # A user code is good once.
        with self.assertRaisesRegex(kwoidc.browser.BrowserError,
                                    "The code you entered is incorrect"):
            self.p.approve_device(dev["user_code"])
        # browser.py with verification_uri_complete: no typing needed.
        dev = self.p.device_authorization(resource=RESOURCE,
                                          scope=RESOURCE_SCOPE)
        r = self.browse(dev["verification_uri_complete"])
        self.assertEqual(r.rc, 0, r)
        self.assertRegex(r.err, r"^browser: device sign-in done /device/\S+ "
                         r"200\n$")
        tok = self.p.token(NATIVE_ID, grant="device_code", auth="none",
                           device_code=dev["device_code"])
        self.assertEqual(kwauth.jwt_parts(tok["access_token"])[1]["aud"],
                         RESOURCE)
        # browser.py with the bare verification URI: the user code is
        # asked for, and typed with --user-code.
        dev = self.p.device_authorization(scope="openid")
        r = self.browse(dev["verification_uri"])
        self.assertEqual(r.rc, 1, r)
        self.assertIn("asks for the user code", r.err)
        r = self.browse(dev["verification_uri"], "--user-code",
                        dev["user_code"])
        self.assertEqual(r.rc, 0, r)
        tok = self.p.token(NATIVE_ID, grant="device_code", auth="none",
                           device_code=dev["device_code"])
        self.assertEqual(tok.status, 200, dict(tok))

    def test_dynamic_registration(self):
        reg = self.p.register({
            "client_name": "registered", "token_endpoint_auth_method":
            "client_secret_basic", "grant_types": ["client_credentials"],
            "response_types": [], "redirect_uris": []})
        self.assertEqual(reg.status, 201, dict(reg))
        tok = self.p.token(reg["client_id"], reg["client_secret"])
        self.assertEqual(tok.status, 200, dict(tok))
        native = self.p.register({
            "application_type": "native", "token_endpoint_auth_method":
            "none", "redirect_uris": ["http://127.0.0.1/cb"]})
        self.assertEqual(native.status, 201, dict(native))
        self.assertNotIn("client_secret", native)
        bad = self.p.register({"application_type": "native",
                               "redirect_uris": ["http://example.com/cb"]})
        self.assertError(bad, 400, "invalid_redirect_uri")


class Denied(FixtureCase):

    DENY = True

    # Both ask for a scope the provider grants when deny is off: with
    # nothing granted, oidc-provider says access_denied by itself.

    def test_code_flow_denied(self):
        _cb, query, _v, state = self.authorize(client_id=NATIVE_ID,
                                               scope="openid")
        self.assertEqual(query["error"], "access_denied", query)
        self.assertEqual(query["error_description"],
                         "the test provider denies every request "
                         "(deny: true)")
        self.assertEqual((query["state"], query["iss"]),
                         (state, self.p.issuer))
        self.assertNotIn("code", query)

    def test_device_denied(self):
        dev = self.p.device_authorization(scope="openid")
        with self.assertRaisesRegex(kwoidc.browser.BrowserError,
                                    "interrupted"):
            self.p.approve_device(dev["user_code"])
        self.assertError(self.p.token(NATIVE_ID, grant="device_code",
                                      auth="none",
                                      device_code=dev["device_code"]),
                         400, "access_denied")


def main():
    import run  # noqa: E402  (the integration runner's report format)
    signal.signal(signal.SIGTERM, run._terminate)
    signal.signal(signal.SIGINT, run._terminate)
    loader = unittest.TestLoader()
    module = sys.modules[__name__]
    suite = (loader.loadTestsFromNames(sys.argv[1:], module) if sys.argv[1:]
             else loader.loadTestsFromModule(module))
    return run.run_suite(suite, "oidc_fixture", sys.stdout,
                         run.require_all())


if __name__ == "__main__":
    sys.exit(main())
