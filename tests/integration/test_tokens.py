"""JWT access tokens end to end (docs/tokens.md): token.issue, token.verify
and jwks on the real daemon, with the rotation clock moved by the test, and
the signing key rotated by the rotation engine with an overlap during which
tokens of the previous key still verify."""

import base64
import hashlib
import hmac
import json
import os
import time
import re
import subprocess

import harness
from harness import poll_until
from test_rotation import T0, DAY, RotationCase

AUD = "https://mcp.example.com/mcp"
SIGNER = "keyward/token-signing"


def b64url_json(obj):
    raw = json.dumps(obj, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def parts(token):
    h, p, s = token.split(".")
    pad = lambda x: x + "=" * (-len(x) % 4)  # noqa: E731
    return (json.loads(base64.urlsafe_b64decode(pad(h))),
            json.loads(base64.urlsafe_b64decode(pad(p))), s)


class TokenCase(RotationCase):

    def issue(self, **kw):
        params = {"subject": "alice", "audience": AUD}
        params.update(kw)
        return self.call("token.issue", params)

    def verify(self, token, audience=AUD, scopes=None):
        params = {"token": token, "audience": audience}
        if scopes is not None:
            params["scopes"] = scopes
        return self.r.call("token.verify", params)

    def assertInvalid(self, resp, reason=None):
        self.assertIn("error", resp, resp)
        err = resp["error"]
        self.assertEqual(err["code"], 1028, resp)
        self.assertEqual(err["data"]["kind"], "invalid_token", resp)
        if reason:
            self.assertEqual(err["data"]["reason"], reason, resp)


class TestTokens(TokenCase):

    def test_issue_and_verify(self):
        res = self.issue(scopes=["tools:read", "tools:call"],
                         client_id="cli-1", ttl=600)
        tok = res["token"]
        self.assertEqual(res["expires_at"], T0 + 600)
        header, claims, _ = parts(tok)
        self.assertEqual(header, {"alg": "EdDSA", "typ": "at+jwt",
                                  "kid": res["kid"]})
        self.assertEqual(claims["iss"], "keyward")
        self.assertEqual(claims["aud"], AUD)
        self.assertEqual(claims["scope"], "tools:read tools:call")
        self.assertEqual((claims["iat"], claims["exp"]), (T0, T0 + 600))
        v = self.verify(tok)["result"]
        self.assertEqual(v["subject"], "alice")
        self.assertEqual(v["client_id"], "cli-1")
        self.assertEqual(v["scopes"], ["tools:read", "tools:call"])
        self.assertEqual(v["expires_at"], T0 + 600)
        self.assertEqual(v["audience"], [AUD])
        self.assertEqual(v["kid"], res["kid"])
        # RFC 8707 comparison: case of scheme and host, trailing slash.
        self.assertIn("result",
                      self.verify(tok, "HTTPS://MCP.Example.com/mcp/"))
        # The signing key was made on first use, as a secret of its own.
        self.assertEqual(self.call("secret.versions", {"name": SIGNER})
                         ["versions"][0]["stage"], "current")
        jwks = self.call("jwks")["keys"]
        self.assertEqual(len(jwks), 1)
        self.assertEqual(jwks[0]["kid"], res["kid"])
        self.assertEqual((jwks[0]["kty"], jwks[0]["crv"], jwks[0]["alg"]),
                         ("OKP", "Ed25519", "EdDSA"))

    def test_refusals(self):
        tok = self.issue(scopes=["tools:read"], ttl=300)["token"]
        h, c, s = tok.split(".")
        self.assertInvalid(self.verify(tok, "https://other.example.com/"),
                           "bad_audience")
        # Tampered payload: the signature no longer matches.
        _, claims, _ = parts(tok)
        claims["sub"] = "mallory"
        self.assertInvalid(self.verify(h + "." + b64url_json(claims) + "." +
                                       s), "bad_signature")
        # alg none, and a kid no key has.
        self.assertInvalid(self.verify(
            b64url_json({"alg": "none", "typ": "at+jwt",
                         "kid": parts(tok)[0]["kid"]}) + "." + c + "."))
        self.assertInvalid(self.verify(
            b64url_json({"alg": "EdDSA", "typ": "at+jwt", "kid": "nope"}) +
            "." + c + "." + s), "unknown_kid")
        self.assertInvalid(self.verify("not-a-token"), "malformed")
        self.assertInvalid(self.verify("a" * 9000), "too_big")
        # Missing scope: 403-shaped.
        resp = self.verify(tok, scopes=["tools:read", "admin"])
        self.assertEqual(resp["error"]["data"]["kind"],
                         "insufficient_scope", resp)
        self.assertEqual(resp["error"]["data"]["scope"], "tools:read admin")
        self.assertIn("result", self.verify(tok, scopes=["tools:read"]))
        # Expired, with the leeway (60 s) honoured.
        self.set_clock(T0 + 300 + 59)
        self.assertIn("result", self.verify(tok))
        self.set_clock(T0 + 300 + 60)
        self.assertInvalid(self.verify(tok), "expired")
        # Parameters.
        for bad in ({"subject": "alice", "audience": "not a uri"},
                    {"subject": "alice", "audience": AUD + "#frag"},
                    {"subject": "", "audience": AUD},
                    {"subject": "alice", "audience": AUD, "ttl": 10 ** 9},
                    {"subject": "alice", "audience": AUD,
                     "scopes": ["a b"]}):
            resp = self.r.call("token.issue", bad)
            self.assertEqual(resp["error"]["data"]["kind"],
                             "invalid_params", (bad, resp))

    def test_tokens_never_logged(self):
        tok = self.issue()["token"]
        self.verify(tok)
        sig = tok.split(".")[2]
        self.assertNotIn(sig, self.h.log_text())
        rows = self.call("audit.query", {"limit": 1000})["rows"]
        self.assertNotIn(sig, json.dumps(rows))
        ops = [r["op"] for r in rows]
        self.assertIn("token.issue", ops)
        self.assertIn("token.verify", ops)
        with open(self.h.db, "rb") as f:
            self.assertNotIn(sig.encode(), f.read())

    def test_signing_key_rotation_overlap(self):
        old = self.issue(ttl=DAY)["token"]
        old_kid = parts(old)[0]["kid"]
        self.schedule(SIGNER, 30 * DAY, "random:32", overlap=3600)
        rid = self.call("rotate.start", {"name": SIGNER})["rotation_id"]
        self.wait_run(SIGNER, rid)
        new = self.issue(ttl=DAY)["token"]
        new_kid = parts(new)[0]["kid"]
        self.assertNotEqual(old_kid, new_kid)
        # During the overlap both verify and both keys are published.
        self.assertIn("result", self.verify(old))
        self.assertIn("result", self.verify(new))
        kids = [k["kid"] for k in self.call("jwks")["keys"]]
        self.assertEqual(kids, [new_kid, old_kid])
        # After it, only the new key's tokens do.
        self.set_clock(T0 + 3601)
        self.assertTrue(poll_until(lambda: "error" in self.verify(old), 5))
        self.assertInvalid(self.verify(old), "unknown_kid")
        self.assertIn("result", self.verify(new))
        self.assertEqual([k["kid"] for k in self.call("jwks")["keys"]],
                         [new_kid])

    def test_grants(self):
        exe = self.copy_client("verifier")
        self.h.write_policy("40-verifier.ini",
                            "[client \"verifier\"]\nexe = %s\n"
                            "verify = keyward/**\nread = **\n"
                            "write = **\n" % exe)
        self.call("policy.reload")
        tok = self.issue()["token"]
        r = self.as_client(exe, "call", "token.verify",
                           json.dumps({"token": tok, "audience": AUD}))
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(json.loads(r.text)["subject"], "alice")
        # Verifying is not issuing.
        r = self.as_client(exe, "call", "token.issue",
                           json.dumps({"subject": "x", "audience": AUD}))
        self.assertEqual(r.rc, harness.EXIT_DENIED, r)
        # Nor may a read or write glob reach the signing key itself: it
        # would forge any token. Only an admin may.
        r = self.as_client(exe, "get", SIGNER)
        self.assertEqual(r.rc, harness.EXIT_DENIED, r)
        self.assertIn("token signing key", r.err)
        r = self.as_client(exe, "put", SIGNER, input=b"x" * 32)
        self.assertEqual(r.rc, harness.EXIT_DENIED, r)
        self.assertEqual(self.as_client(exe, "get", "other/x").rc,
                         harness.EXIT_NOTFOUND)

    def test_cli(self):
        r = self.cli("token", "issue", "--sub", "bob", "--aud", AUD,
                     "--scopes", "a,b", "--ttl", "10m")
        self.assertRc(r, 0)
        tok = r.text.strip()
        self.assertEqual(parts(tok)[1]["scope"], "a b")
        r = self.cli("token", "verify", "--aud", AUD, "--scopes", "a",
                     input=tok.encode() + b"\n")
        self.assertRc(r, 0)
        self.assertIn("valid: subject bob, scopes a b", r.text)
        # The expiry as a local date, ten minutes after the agent's (test)
        # clock; --json keeps the number.
        m = re.search(r"expires at (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)$",
                      r.text.strip())
        self.assertIsNotNone(m, r)
        shown = time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S"))
        self.assertEqual(shown, T0 + 600, r)
        r = self.cli("token", "verify", "--aud", AUD, "--json",
                     input=tok.encode())
        self.assertRc(r, 0)
        exp = json.loads(r.out)["expires_at"]
        self.assertIsInstance(exp, int)
        self.assertEqual(exp, shown, r)
        r = self.cli("token", "verify", "--aud", "https://x.example/",
                     input=tok.encode())
        self.assertRc(r, harness.EXIT_ERROR)
        self.assertIn("not meant for this resource", r.err)
        r = self.cli("jwks")
        self.assertRc(r, 0)
        self.assertEqual(json.loads(r.text)["keys"][0]["kid"],
                         parts(tok)[0]["kid"])


class TestHS256(TokenCase):
    CONFIG = {"token": {"alg": "HS256", "issuer": "https://auth.local"}}

    def test_hs256(self):
        res = self.issue()
        header, claims, _ = parts(res["token"])
        self.assertEqual(header["alg"], "HS256")
        self.assertTrue(header["kid"].startswith("hs."))
        self.assertEqual(claims["iss"], "https://auth.local")
        self.assertIn("result", self.verify(res["token"]))
        # Nothing public to publish.
        self.assertEqual(self.call("jwks"), {"keys": []})

    def test_access_token_claims_required(self):
        """RFC 9068 section 2.2: sub, iat and jti are required. token.issue
        sets them; a token signed with the real key but lacking one is
        refused (missing_claim), so no server is handed "subject": null."""
        res = self.issue()
        header, claims, _ = parts(res["token"])
        self.assertEqual(claims["sub"], "alice")
        self.assertEqual(claims["iat"], T0)
        self.assertIsInstance(claims["jti"], str)
        self.assertTrue(claims["jti"])
        self.assertNotEqual(claims["jti"], parts(self.issue()["token"])[1]
                            ["jti"], "two tokens share a jti")
        # Forge with the signing key itself (an admin may read it).
        key = base64.b64decode(self.call("secret.get", {"name": SIGNER})
                               ["value"])

        def forge(payload):
            signing_input = (b64url_json(header) + "." +
                             b64url_json(payload)).encode()
            mac = hmac.new(key, signing_input, hashlib.sha256).digest()
            return (signing_input.decode() + "." +
                    base64.urlsafe_b64encode(mac).rstrip(b"=").decode())

        # The forger is right: the full claims verify.
        self.assertIn("result", self.verify(forge(claims)))
        for claim in ("sub", "iat", "jti"):
            with self.subTest(missing=claim):
                partial = {k: v for k, v in claims.items() if k != claim}
                self.assertInvalid(self.verify(forge(partial)),
                                   "missing_claim")
            with self.subTest(null=claim):
                nulled = dict(claims)
                nulled[claim] = None
                self.assertInvalid(self.verify(forge(nulled)), "bad_claim")
