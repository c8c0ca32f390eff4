"""Managed API keys end to end (apikey.* in docs/protocol.md), against the
real daemon with its clock moved by the test (KEYWARD_TEST_CLOCK, as in
test_rotation.py), so expiry and rotation overlaps need no waiting.

- create -> verify gives principal, scopes and expiry, through the raw
  protocol, libkeyward (kwclient apikey-verify) and the CLI;
- malformed keys (one character changed, wrong length, plain keys) are
  refused before any lookup; unknown, revoked and expired keys each get
  their own error, and the end of a rotation's overlap counts as expired;
- a verifier whose grant does not cover apikey/<principal> gets exactly
  the unknown-key answer, and the audit row says denied;
- failed verifications are rate-limited per principal and recover;
- no key, nor its secret part, ever lands in the log, the audit log or
  secrets.db; only a keyed hash does;
- `keyward apikey create|ls|revoke|rotate|verify`, with their exit codes.

Verifying clients are copies of kwclient (harness copy_client) with their
own policy sections in policies/10-apikey.ini, attributed before the
harness's 50-tests.ini."""

import base64
import hashlib
import json
import os
import re
import time

from harness import EXIT_DENIED, EXIT_NOTFOUND, EXIT_USAGE, DaemonTestCase

# 2026-01-01T12:00:00Z
T0 = 1767268800
T0_TEXT = "2026-01-01T12:00:00Z"
DAY = 86400

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
KEY_RE = re.compile(r"^kwk_([0-9A-Za-z]{12})_[0-9A-Za-z]{49}$")
KEY_BYTES_RE = re.compile(rb"kwk_[0-9A-Za-z]{12}_[0-9A-Za-z]{49}")

INVALID = -32602
NOT_FOUND = 1004
DENIED = 1005
LOCKED = 1006
INVALID_NAME = 1007
RATE = 1020
STATE = 1024
REVOKED = 1026
EXPIRED = 1027

EXIT_REVOKED = 6
EXIT_EXPIRED = 7
EXIT_MALFORMED = 8

# The failure budget (agent/rpc/methods/methods_apikey.c): 20 at once, 10 a second.
BURST = 20
REFILL_PER_S = 10


def utc(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def checksum(s):
    """The six base62 check characters of s (common/apikey.h), computed
    here independently of the C code."""
    h = hashlib.blake2b(s.encode(), digest_size=32).digest()
    v = int.from_bytes(h[:4], "big")
    out = ""
    for _ in range(6):
        out = B62[v % 62] + out
        v //= 62
    return out


def rand_b62(n):
    return "".join(B62[b % 62] for b in os.urandom(n))


def forge(key_id=None, secret=None):
    """A well-formed managed key (right checksum) the agent never made."""
    body = "kwk_%s_%s" % (key_id or rand_b62(12), secret or rand_b62(43))
    return body + checksum(body)


def secret_of(key):
    return key[17:60]


def typo(key, i):
    """key with character i replaced by another base62 character."""
    c = key[i]
    return key[:i] + B62[(B62.index(c) + 1) % 62] + key[i + 1:]


class ApiKeyCase(DaemonTestCase):
    """A daemon on a test clock with four verifying clients:

    verifier  verify = apikey/svc-*
    other     verify = apikey/other-*
    noverify  read only: no verify grant at all
    flood     verify = apikey/**   (for the rate-limit test)"""

    START = False

    def setUp(self):
        super().setUp()
        self.clock = os.path.join(self.h.work, "clock")
        self.set_clock(T0)
        self.d.extra_env["KEYWARD_TEST_CLOCK"] = self.clock
        self.exe = {n: self.copy_client(n)
                    for n in ("verifier", "other", "noverify", "flood")}
        grants = {"verifier": "verify = apikey/svc-*",
                  "other": "verify = apikey/other-*",
                  "noverify": "read = x/*",
                  "flood": "verify = apikey/**"}
        text = "".join('[client "%s"]\nexe = %s\n%s\n\n'
                       % (n, self.exe[n], grants[n]) for n in self.exe)
        self.h.write_policy("10-apikey.ini", text)
        self.d.start()
        self.r = self.rpc()

    def set_clock(self, t):
        tmp = self.clock + ".new"
        with open(tmp, "w") as f:
            f.write("%d\n" % t)
        os.replace(tmp, self.clock)

    def call(self, method, params=None):
        resp = self.r.call(method, params or {})
        self.assertIn("result", resp, "%s failed: %r" % (method, resp))
        return resp["result"]

    def error(self, method, params, code, kind=None, field=None):
        return self.assertRpcError(self.r.call(method, params), code, kind,
                                   field)

    def create(self, principal, **kw):
        res = self.call("apikey.create", dict(principal=principal, **kw))
        m = KEY_RE.match(res["key"])
        self.assertIsNotNone(m, res)
        self.assertEqual(m.group(1), res["id"])
        return res

    def verify(self, key):
        return self.r.call("apikey.verify", {"key": key})

    def assertVerifies(self, key, principal=None):
        resp = self.verify(key)
        self.assertIn("result", resp, resp)
        if principal:
            self.assertEqual(resp["result"]["principal"], principal)
        return resp["result"]

    def lib_verify(self, who, keys, scope=None):
        """kwclient apikey-verify as client who: (rc, [line, ...])."""
        args = ["apikey-verify"] + ([scope] if scope else [])
        r = self.as_client(self.exe[who], *args,
                           input=("".join(k + "\n" for k in keys)).encode())
        return r.rc, r.text.splitlines(), r

    def listed(self, key_id):
        for k in self.call("apikey.list")["keys"]:
            if k["id"] == key_id:
                return k
        self.fail("%s not in apikey.list" % key_id)

    def audit_rows(self, op="apikey."):
        rows, cursor = [], None
        while True:
            params = {"limit": 1000, "order": "oldest"}
            if cursor:
                params["cursor"] = cursor
            res = self.call("audit.query", params)
            rows += [r for r in res["rows"] if r["op"].startswith(op)]
            cursor = res["cursor"]
            if not cursor:
                return rows


class TestVerify(ApiKeyCase):

    def test_create_then_verify(self):
        res = self.create("svc-a", scopes=["read", "mcp:tools"], ttl=3600)
        self.assertEqual(res["principal"], "svc-a")
        self.assertEqual(res["scopes"], ["read", "mcp:tools"])
        self.assertEqual(res["created"], T0_TEXT)
        self.assertEqual(res["expires"], utc(T0 + 3600))
        plain = self.create("svc-b")
        self.assertEqual(plain["scopes"], [])
        self.assertIsNone(plain["expires"])
        self.assertNotEqual(plain["id"], res["id"])

        got = self.assertVerifies(res["key"])
        self.assertEqual(got, {"id": res["id"], "principal": "svc-a",
                               "scopes": ["read", "mcp:tools"],
                               "expires": utc(T0 + 3600)})
        self.assertIsNone(self.listed(plain["id"])["last_used"])
        self.assertEqual(self.assertVerifies(plain["key"]),
                         {"id": plain["id"], "principal": "svc-b",
                          "scopes": [], "expires": None})

        # last_used follows the (test) clock.
        self.assertEqual(self.listed(plain["id"])["last_used"], T0_TEXT)
        self.set_clock(T0 + 50)
        self.assertVerifies(res["key"])
        self.assertEqual(self.listed(res["id"])["last_used"], utc(T0 + 50))

        # Through libkeyward, as a client whose grant covers svc-*.
        rc, lines, r = self.lib_verify("verifier", [res["key"]],
                                       scope="mcp:tools")
        self.assertEqual(rc, 0, r)
        self.assertEqual(lines, ["ok %s svc-a %d 2 read,mcp:tools yes"
                                 % (res["id"], T0 + 3600)])
        rc, lines, r = self.lib_verify("verifier", [plain["key"]],
                                       scope="read")
        self.assertEqual(rc, 0, r)
        self.assertEqual(lines, ["ok %s svc-b 0 0 - no" % plain["id"]])

        rows = [r for r in self.audit_rows("apikey.verify")
                if r["outcome"] == "ok"]
        self.assertEqual({r["name"] for r in rows},
                         {res["id"], plain["id"]})

    def test_typo_is_malformed_before_lookup(self):
        key = self.create("svc-a")["key"]
        before = len(self.audit_rows("apikey.verify"))
        # One character changed anywhere after the prefix: in the id (a
        # lookup would say not_found), the separator, the secret or the
        # checksum. (17 failures in all: fewer than the failure budget.)
        for i in (4, 15, 16, 17, 40, 60, 65):
            bad = typo(key, i) if key[i] != "_" else key[:i] + "x" + \
                key[i + 1:]
            err = self.error("apikey.verify", {"key": bad}, INVALID,
                             "invalid_params", "key")
            self.assertNotIn(bad, json.dumps(err))
            self.assertNotIn(secret_of(key), json.dumps(err))
        for bad in ("", "kwk_", key[:-1], key + "A", key + " ",
                    key.replace("_", "-"),
                    "kwk_" + rand_b62(43) + checksum("kwk_" + "x"),
                    "x" * 100000):
            self.error("apikey.verify", {"key": bad}, INVALID,
                       "invalid_params", "key")
        self.error("apikey.verify", {"key": 7}, INVALID, "invalid_params",
                   "key")
        # A plain key from a random:N:apikey rotator is not a managed one.
        plain = "kwk_" + rand_b62(43)
        err = self.error("apikey.verify", {"key": plain + checksum(plain)},
                         INVALID, "invalid_params", "key")
        self.assertIn("short", err["message"])

        rows = self.audit_rows("apikey.verify")[before:]
        self.assertEqual(len(rows), 17)
        self.assertTrue(all(r["outcome"] == "error" for r in rows), rows)
        # Unparseable keys have no id to name: the row names nothing.
        self.assertTrue(all(r["name"] is None for r in rows), rows)

        # libkeyward refuses it without a round trip: no audit row.
        rc, lines, r = self.lib_verify("verifier", [typo(key, 20)])
        self.assertEqual(rc, EXIT_MALFORMED, r)
        self.assertRegex(lines[0], r"^error invalid_params key: .*checksum")
        self.assertEqual(len(self.audit_rows("apikey.verify")),
                         before + len(rows))

    def test_unknown(self):
        real = self.create("svc-a")
        unknown = self.error("apikey.verify", {"key": forge()}, NOT_FOUND,
                             "not_found", "key")
        self.assertEqual(unknown["message"], "key: unknown API key")
        # The right id with another secret is the same answer.
        wrong = self.error("apikey.verify",
                           {"key": forge(key_id=real["id"])}, NOT_FOUND)
        self.assertEqual(wrong, unknown)
        rc, lines, r = self.lib_verify("verifier", [forge(real["id"])])
        self.assertEqual(rc, EXIT_NOTFOUND, r)
        self.assertEqual(lines, ["error not_found key: unknown API key"])
        rows = self.audit_rows("apikey.verify")
        self.assertEqual([r["name"] for r in rows][-2:], [real["id"]] * 2)

    def test_revoked(self):
        res = self.create("svc-a", scopes=["x"])
        other = self.create("svc-a")
        self.set_clock(T0 + 10)
        rv = self.call("apikey.revoke", {"id": res["id"]})
        self.assertEqual(rv, {"id": res["id"], "revoked": utc(T0 + 10)})
        err = self.error("apikey.verify", {"key": res["key"]}, REVOKED,
                         "revoked", "key")
        self.assertIn("revoked", err["message"])
        rc, lines, r = self.lib_verify("verifier", [res["key"]])
        self.assertEqual(rc, EXIT_REVOKED, r)
        self.assertTrue(lines[0].startswith("error revoked "), lines)
        self.assertVerifies(other["key"])  # only that one
        listed = self.listed(res["id"])
        self.assertTrue(listed["revoked"])
        self.assertEqual(listed["status"], "revoked")
        self.error("apikey.revoke", {"id": res["id"]}, REVOKED, "revoked",
                   "id")
        self.error("apikey.revoke", {"id": "AAAAAAAAAAAA"}, NOT_FOUND,
                   "not_found", "id")
        for bad in ("short", "AAAAAAAAAAA_", res["key"], 12):
            self.error("apikey.revoke", {"id": bad}, INVALID,
                       "invalid_params", "id")
        self.error("apikey.rotate", {"id": res["id"]}, REVOKED, "revoked")

    def test_expired(self):
        res = self.create("svc-a", ttl=3600)
        self.set_clock(T0 + 3599)
        self.assertVerifies(res["key"])
        self.assertEqual(self.listed(res["id"])["status"], "active")
        self.set_clock(T0 + 3600)
        err = self.error("apikey.verify", {"key": res["key"]}, EXPIRED,
                         "expired", "key")
        self.assertIn("expired", err["message"])
        rc, lines, r = self.lib_verify("verifier", [res["key"]])
        self.assertEqual(rc, EXIT_EXPIRED, r)
        self.assertEqual(self.listed(res["id"])["status"], "expired")
        self.error("apikey.rotate", {"id": res["id"]}, EXPIRED, "expired")
        # Revoked wins over expired.
        self.call("apikey.revoke", {"id": res["id"]})
        self.error("apikey.verify", {"key": res["key"]}, REVOKED)

    def test_rotate_with_overlap(self):
        old = self.create("svc-a", scopes=["read", "write"], ttl=30 * DAY)
        self.set_clock(T0 + 100)
        new = self.call("apikey.rotate", {"id": old["id"], "overlap": 600})
        self.assertRegex(new["key"], KEY_RE)
        self.assertNotEqual(new["id"], old["id"])
        self.assertEqual(new["replaces"], old["id"])
        self.assertEqual(new["previous_valid_until"], utc(T0 + 700))
        # Same principal, scopes and expiry; a new secret.
        self.assertEqual((new["principal"], new["scopes"], new["expires"]),
                         ("svc-a", ["read", "write"], utc(T0 + 30 * DAY)))
        self.assertEqual(new["created"], utc(T0 + 100))
        self.assertNotEqual(secret_of(new["key"]), secret_of(old["key"]))

        listed = self.listed(old["id"])
        self.assertEqual(listed["replaced_by"], new["id"])
        self.assertEqual(listed["valid_until"], utc(T0 + 700))
        self.assertIsNone(self.listed(new["id"])["replaced_by"])

        # In the overlap both work, for every verifier.
        self.set_clock(T0 + 699)
        self.assertEqual(self.assertVerifies(old["key"])["id"], old["id"])
        self.assertEqual(self.assertVerifies(new["key"])["id"], new["id"])
        rc, lines, r = self.lib_verify("verifier", [old["key"], new["key"]])
        self.assertEqual(rc, 0, r)
        self.assertEqual([ln.split()[1] for ln in lines],
                         [old["id"], new["id"]])

        # After it, only the new one.
        self.set_clock(T0 + 700)
        err = self.error("apikey.verify", {"key": old["key"]}, EXPIRED,
                         "expired", "key")
        self.assertIn("rotated", err["message"])
        self.assertVerifies(new["key"])
        rc, lines, r = self.lib_verify("verifier", [new["key"], old["key"]])
        self.assertEqual(rc, EXIT_EXPIRED, r)
        self.assertTrue(lines[0].startswith("ok "), lines)
        self.assertEqual(self.listed(old["id"])["status"], "expired")

        # A replaced key is not rotated again; its successor is.
        err = self.error("apikey.rotate", {"id": old["id"]}, STATE, "state",
                         "id")
        self.assertIn(new["id"], err["message"])
        third = self.call("apikey.rotate", {"id": new["id"]})
        # Default overlap: [rotation] default_overlap_seconds (1 day).
        self.assertEqual(third["previous_valid_until"],
                         utc(T0 + 700 + DAY))
        self.error("apikey.rotate", {"id": "AAAAAAAAAAAA"}, NOT_FOUND)
        self.error("apikey.rotate", {"id": third["id"],
                                     "overlap": 31536001}, INVALID)
        zero = self.call("apikey.rotate", {"id": third["id"], "overlap": 0})
        self.error("apikey.verify", {"key": third["key"]}, EXPIRED)
        self.assertVerifies(zero["key"])

    def test_grant_must_cover_the_principal(self):
        svc = self.create("svc-a")
        mine = self.create("other-x")
        unknown = forge()

        # "other" may verify other-*: svc-a's key looks unknown to it,
        # with exactly the answer an unknown key gets.
        rc, lines, r = self.lib_verify("other", [svc["key"], unknown,
                                                 mine["key"]])
        self.assertEqual(rc, 0, r)
        self.assertEqual(lines[0], lines[1])
        self.assertEqual(lines[0], "error not_found key: unknown API key")
        self.assertTrue(lines[2].startswith("ok %s other-x " % mine["id"]))
        # Even a revoked or expired key it may not see says unknown.
        self.call("apikey.revoke", {"id": svc["id"]})
        rc, lines, r = self.lib_verify("other", [svc["key"]])
        self.assertEqual(lines, ["error not_found key: unknown API key"])

        rows = [r for r in self.audit_rows("apikey.verify")
                if r["principal"] == "other"]
        self.assertEqual([(r["name"], r["outcome"]) for r in rows],
                         [(svc["id"], "denied"), (unknown[4:16], "error"),
                          (mine["id"], "ok"), (svc["id"], "denied")])
        self.assertIn("apikey/svc-a", rows[0]["reason"])

        # No verify grant at all: denied outright (exit 4).
        rc, lines, r = self.lib_verify("noverify", [mine["key"]])
        self.assertEqual(rc, EXIT_DENIED, r)
        self.assertTrue(lines[0].startswith("error denied "), lines)
        # Nor may a verifier manage keys.
        for method, params in (("apikey.create", {"principal": "svc-z"}),
                               ("apikey.list", {}),
                               ("apikey.revoke", {"id": mine["id"]}),
                               ("apikey.rotate", {"id": mine["id"]})):
            r = self.as_client(self.exe["verifier"], "call", method,
                               json.dumps(params))
            self.assertRc(r, EXIT_DENIED, method)
        self.assertVerifies(mine["key"])

    def test_failures_are_rate_limited_per_principal(self):
        good = self.create("svc-a")
        bad = forge()
        started = time.monotonic()
        failures = 0
        while True:
            resp = self.verify(bad)
            if resp.get("error", {}).get("code") == RATE:
                break
            self.assertRpcError(resp, NOT_FOUND)
            failures += 1
            self.assertLess(failures, 500, "the failure budget never ran "
                            "out")
        elapsed = time.monotonic() - started
        self.assertGreaterEqual(failures, BURST)
        self.assertLessEqual(failures,
                             BURST + REFILL_PER_S * elapsed + 1)
        # Now every verification by this principal waits, good keys too.
        err = self.error("apikey.verify", {"key": good["key"]}, RATE,
                         "rate_limited")
        retry = err["data"]["retry_after_ms"]
        self.assertTrue(1 <= retry <= 1000 // REFILL_PER_S, err)
        self.assertNotIn(good["key"], json.dumps(err))
        # Other principals have budgets of their own.
        rc, lines, r = self.lib_verify("verifier", [good["key"]])
        self.assertEqual(rc, 0, r)
        # The budget refills.
        time.sleep(retry / 1000.0 + 0.05)
        self.assertVerifies(good["key"])
        rows = self.audit_rows("apikey.verify")
        self.assertIn("rate_limited", {r["outcome"] for r in rows})

        # Through libkeyward: KW_ERATE for the flooding client.
        rc, lines, r = self.lib_verify("flood", [forge()] * 60 +
                                       [good["key"]])
        kinds = [ln.split()[1] for ln in lines]
        self.assertIn("rate_limited", kinds, lines)
        self.assertGreaterEqual(kinds.index("rate_limited"), BURST)

    def test_locked_agent_and_restart(self):
        res = self.create("svc-a")
        self.call("agent.lock")
        self.error("apikey.verify", {"key": res["key"]}, LOCKED, "locked")
        self.error("apikey.create", {"principal": "svc-b"}, LOCKED)
        self.call("agent.unlock")
        # The hash key is derived again from the data key: same hashes.
        self.assertVerifies(res["key"], "svc-a")
        self.d.restart()
        self.r = self.rpc()
        self.assertVerifies(res["key"], "svc-a")

    def test_params(self):
        cases = [
            ({}, INVALID, "principal"),
            ({"principal": 5}, INVALID, "principal"),
            ({"principal": "../x"}, INVALID_NAME, "principal"),
            ({"principal": "a" * 65}, INVALID_NAME, "principal"),
            ({"principal": "p", "scopes": "read"}, INVALID, "scopes"),
            ({"principal": "p", "scopes": [1]}, INVALID, "scopes"),
            ({"principal": "p", "scopes": ["a b"]}, INVALID, "scopes"),
            ({"principal": "p", "scopes": [""]}, INVALID, "scopes"),
            ({"principal": "p", "scopes": ["x" * 65]}, INVALID, "scopes"),
            ({"principal": "p", "scopes": ["a", "b", "a"]}, INVALID,
             "scopes"),
            ({"principal": "p", "scopes": ["s%d" % i for i in range(33)]},
             INVALID, "scopes"),
            ({"principal": "p", "ttl": 0}, INVALID, "ttl"),
            ({"principal": "p", "ttl": 315360001}, INVALID, "ttl"),
            ({"principal": "p", "ttl": "1d"}, INVALID, "ttl"),
            ({"principal": "p", "key": "x"}, INVALID, None),
        ]
        for params, code, field in cases:
            with self.subTest(params=params):
                self.error("apikey.create", params, code, field=field)
        self.assertEqual(self.call("apikey.list")["keys"], [])
        ok = self.create("p", scopes=["s%d" % i for i in range(32)],
                         ttl=315360000)
        self.assertEqual(len(ok["scopes"]), 32)
        self.create("team/svc.x_y-z", scopes=["a:b/c.d_e-f"])
        self.error("apikey.list", {"principal": "../x"}, INVALID_NAME)
        self.error("apikey.list", {"prefix": "x"}, INVALID)
        self.assertEqual([k["principal"] for k in self.call(
            "apikey.list", {"principal": "p"})["keys"]], ["p"])
        self.error("apikey.verify", {}, INVALID, field="key")
        self.error("apikey.verify", {"key": ok["key"], "x": 1}, INVALID)
        self.error("apikey.revoke", {}, INVALID, field="id")


class TestNoLeak(ApiKeyCase):

    def test_keys_never_stored_logged_or_audited(self):
        keys = []
        res = self.create("svc-a", scopes=["read"], ttl=DAY)
        keys.append(res["key"])
        self.assertVerifies(res["key"])
        rot = self.call("apikey.rotate", {"id": res["id"], "overlap": 60})
        keys.append(rot["key"])
        self.assertVerifies(rot["key"])
        mistyped = typo(rot["key"], 30)
        keys.append(mistyped)
        self.error("apikey.verify", {"key": mistyped}, INVALID)
        wrong = forge(key_id=rot["id"])
        keys.append(wrong)
        self.error("apikey.verify", {"key": wrong}, NOT_FOUND)
        r = self.cli("apikey", "create", "--principal", "svc-b")
        self.assertRc(r, 0)
        keys.append(r.out.decode().strip())
        self.assertNotIn(keys[-1], r.err)
        r = self.cli("apikey", "verify", input=keys[-1].encode())
        self.assertRc(r, 0)
        self.lib_verify("verifier", [keys[0], keys[1], keys[-1]])
        self.set_clock(T0 + 120)
        self.error("apikey.verify", {"key": res["key"]}, EXPIRED)
        self.call("apikey.revoke", {"id": rot["id"]})
        self.error("apikey.verify", {"key": rot["key"]}, REVOKED)

        audit = json.dumps(self.audit_rows("")).encode()
        self.assertIn(res["id"].encode(), audit)  # ids are audited
        self.d.stop()
        stored = {}
        for path in self.h.files():
            with open(path, "rb") as f:
                stored[path] = f.read()
        self.assertTrue(any(p.endswith("secrets.db") for p in stored))
        haystacks = dict(stored)
        haystacks["audit rows"] = audit
        haystacks["log"] = self.h.log_text().encode()
        for key in keys:
            for needle in (key, secret_of(key), key[17:41]):
                for where, data in haystacks.items():
                    self.assertNotInBytes(needle.encode(), data, where)
            # Not even the unkeyed hash a careless store would keep.
            for digest in (hashlib.blake2b(key.encode(),
                                           digest_size=32).digest(),
                           hashlib.sha256(key.encode()).digest()):
                for where, data in stored.items():
                    self.assertNotInBytes(digest, data, where)
                    self.assertNotInBytes(
                        base64.b64encode(digest), data, where)
        for where, data in haystacks.items():
            self.assertIsNone(KEY_BYTES_RE.search(data), where)


class TestCli(ApiKeyCase):

    def key_of(self, r):
        text = r.out.decode()
        self.assertRegex(text, r"^kwk_[0-9A-Za-z]{12}_[0-9A-Za-z]{49}\n$")
        return text.strip()

    def test_create_ls_verify_revoke(self):
        r = self.cli("apikey", "create", "--principal", "svc-a", "--scopes",
                     "read,mcp:tools", "--ttl", "1h")
        self.assertRc(r, 0)
        key = self.key_of(r)  # the key alone on stdout
        kid = key[4:16]
        self.assertNotIn(key, r.err)
        self.assertIn("shown only this once", r.err)
        self.assertIn("svc-a", r.err)
        self.assertIn(utc(T0 + 3600), r.err)

        r = self.cli("apikey", "create", "--principal", "svc-b", "--json")
        self.assertRc(r, 0)
        res = json.loads(r.out)
        self.assertRegex(res["key"], KEY_RE)
        self.assertIsNone(res["expires"])
        self.assertEqual(r.err, "")

        r = self.cli("apikey", "verify", input=(key + "\n").encode())
        self.assertRc(r, 0)
        self.assertIn("principal: svc-a", r.text)
        self.assertIn("scopes:    read,mcp:tools", r.text)
        self.assertIn("expires:   " + utc(T0 + 3600), r.text)
        r = self.cli("apikey", "verify", "--json", input=key.encode())
        self.assertRc(r, 0)
        self.assertEqual(json.loads(r.out),
                         {"id": kid, "principal": "svc-a",
                          "scopes": ["read", "mcp:tools"],
                          "expires": utc(T0 + 3600)})

        r = self.cli("apikey", "ls")
        self.assertRc(r, 0)
        self.assertIn(kid, r.text)
        self.assertIn(res["id"], r.text)
        self.assertNotIn(key, r.text)
        r = self.cli("apikey", "ls", "--json", "--principal", "svc-a")
        self.assertRc(r, 0)
        rows = [json.loads(ln) for ln in r.text.splitlines()]
        self.assertEqual([(x["id"], x["status"]) for x in rows],
                         [(kid, "active")])
        self.assertNotIn("key", rows[0])
        self.assertNotIn("hash", rows[0])

        # Exit codes of verify, one per outcome.
        self.assertRc(self.cli("apikey", "verify", input=forge().encode()),
                      EXIT_NOTFOUND)
        r = self.cli("apikey", "verify", input=typo(key, 33).encode())
        self.assertRc(r, EXIT_MALFORMED)
        self.assertIn("checksum", r.err)
        self.assertRc(self.cli("apikey", "verify", input=b""),
                      EXIT_MALFORMED)
        self.assertRc(self.cli("apikey", "verify",
                               input=(key + "\n" + key).encode()),
                      EXIT_MALFORMED)
        r = self.cli("apikey", "verify", key)
        self.assertRc(r, EXIT_USAGE)
        self.assertNotIn(key, r.err)

        r = self.cli("apikey", "revoke", kid)
        self.assertRc(r, 0)
        self.assertEqual(r.text, "%s: revoked\n" % kid)
        self.assertRc(self.cli("apikey", "verify", input=key.encode()),
                      EXIT_REVOKED)
        self.assertRc(self.cli("apikey", "revoke", kid), EXIT_REVOKED)
        self.assertRc(self.cli("apikey", "revoke", "AAAAAAAAAAAA"),
                      EXIT_NOTFOUND)
        self.assertRc(self.cli("apikey", "revoke", "nope"), EXIT_USAGE)

        self.set_clock(T0 + 3600)
        r = self.cli("apikey", "create", "--principal", "svc-c", "--ttl",
                     "1s")
        short = self.key_of(r)
        self.set_clock(T0 + 3601)
        self.assertRc(self.cli("apikey", "verify", input=short.encode()),
                      EXIT_EXPIRED)

    def test_rotate(self):
        key = self.key_of(self.cli("apikey", "create", "--principal",
                                   "svc-a"))
        kid = key[4:16]
        r = self.cli("apikey", "rotate", kid, "--overlap", "1h")
        self.assertRc(r, 0)
        new = self.key_of(r)
        self.assertNotEqual(new, key)
        self.assertIn("keeps working until " + utc(T0 + 3600), r.err)
        self.assertNotIn(new, r.err)
        self.assertRc(self.cli("apikey", "verify", input=key.encode()), 0)
        r = self.cli("apikey", "ls")
        self.assertIn("replaced by " + new[4:16], r.text)
        self.set_clock(T0 + 3600)
        self.assertRc(self.cli("apikey", "verify", input=key.encode()),
                      EXIT_EXPIRED)
        self.assertRc(self.cli("apikey", "verify", input=new.encode()), 0)

        r = self.cli("apikey", "rotate", new[4:16], "--overlap", "0",
                     "--json")
        self.assertRc(r, 0)
        res = json.loads(r.out)
        self.assertEqual(res["replaces"], new[4:16])
        self.assertEqual(res["previous_valid_until"], utc(T0 + 3600))
        self.assertRc(self.cli("apikey", "rotate", kid), 1)  # replaced

    def test_usage_errors(self):
        for args in (("apikey",), ("apikey", "frob"),
                     ("apikey", "create"),
                     ("apikey", "create", "--principal", "p", "extra"),
                     ("apikey", "create", "--principal", "p", "--ttl",
                      "soon"),
                     ("apikey", "create", "--principal", "p", "--scopes",
                      "a,,b"),
                     ("apikey", "create", "--principal", "p", "--scopes",
                      "a,"),
                     ("apikey", "rotate"), ("apikey", "rotate", "x"),
                     ("apikey", "rotate", "AAAAAAAAAAAA", "--overlap",
                      "2y"),
                     ("apikey", "ls", "extra")):
            with self.subTest(args=args):
                self.assertRc(self.cli(*args), EXIT_USAGE)
        r = self.cli("apikey", "create", "--principal", "../x")
        self.assertRc(r, 1)
        self.assertEqual(self.call("apikey.list")["keys"], [])
        r = self.cli("apikey", "ls")
        self.assertRc(r, 0)
        self.assertIn("no API keys", r.err)
