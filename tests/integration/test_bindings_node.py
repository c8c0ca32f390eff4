"""bindings/node against the real keywardd: runs the binding's own tests
(node --test, bindings/node/test/) with an agent, secrets, a client token,
tokens and API keys this file prepares, and checks that every test in
them ran and passed (none skipped: a skipped test here is a setup bug).

- client.test.js: secrets, error kinds, a client token, reconnect after
  the agent's idle close, queued concurrent calls, hostile fake agents;
- verifier.test.js: KeywardTokenVerifier, verifyToken, jwks (needs the
  agent's token.issue, token.verify and jwks);
- apikey.test.js: verifyApiKey (needs the agent's apikey.create,
  apikey.revoke and apikey.verify);
- unavailable.test.js: unavailable503() and unavailable503Gate() turn an
  agent that cannot answer into 503, with one log line per outage."""

import base64
import json
import os
import re

from harness import DaemonTestCase, run
import kwauth

AUD = "https://mcp.example.test/mcp"
IDLE_MS = 1000
NODE_DEADLINE_S = 120
TAP_COUNT_RE = re.compile(r"^# (tests|pass|fail|skipped|cancelled|todo) "
                          r"(\d+)$", re.M)


class NodeBinding(DaemonTestCase):

    CONFIG = {"agent": {"idle_timeout_ms": IDLE_MS}}

    def setUp(self):
        super().setUp()
        self.node = kwauth.require_node(self)
        self.c = kwauth.client_for(self.h)
        self.addCleanup(self.c.close)

    def node_test(self, filename, extra_env):
        env = dict(self.h.env)
        env.pop("KEYWARD_TOKEN", None)
        env["KW_TEST_SOCKET"] = self.h.socket
        env.update(extra_env)
        r = run([self.node, "--test", "--test-reporter=tap",
                 os.path.join(kwauth.BINDINGS_NODE, "test", filename)],
                env, timeout=NODE_DEADLINE_S, cwd=kwauth.BINDINGS_NODE)
        counts = {k: int(v) for k, v in TAP_COUNT_RE.findall(r.text)}
        report = "node --test %s:\n%s\n%s" % (filename, r.text[-6000:],
                                               r.err[-2000:])
        self.assertEqual(r.rc, 0, report)
        self.assertGreater(counts.get("tests", 0), 0, report)
        self.assertEqual(counts.get("pass"), counts.get("tests"), report)
        return counts

    def test_client(self):
        secrets = {"node/all": bytes(range(256)) * 2,
                   "node/empty": b"", "node/text": b"plain text\n"}
        for name, value in secrets.items():
            self.put_cli(name, value)
        self.put_cli("node-token/only", b"for the token holder")
        r = self.cli("client", "add", "node-t")
        self.assertRc(r, 0)
        token = re.search(r"kwt_[A-Za-z0-9_-]{43}", r.text).group(0)
        # The token's section first: with the token, node reads only
        # node-token/*; without it, the exe section reads node/*.
        kwauth.policy_for_node(self.h, "node-t", "node-token/*",
                               token="node-t", verify=None)
        self.h.write_policy("20-node.ini", (
            '[client "node"]\nexe = %s\nread = node/*\n' % self.node))
        self.assertRc(self.cli("policy", "reload"), 0)
        self.node_test("client.test.js", {
            "KW_TEST_SECRETS": json.dumps(
                {k: base64.b64encode(v).decode() for k, v in secrets.items()}),
            "KW_TEST_CLIENT_TOKEN": token,
            "KW_TEST_TOKEN_ONLY": "node-token/only",
            "KW_TEST_IDLE_MS": str(IDLE_MS),
        })

    def test_token_verifier(self):
        self.h.write_policy("20-node.ini", (
            '[client "node"]\nexe = %s\nverify = **\n' % self.node))
        self.assertRc(self.cli("policy", "reload"), 0)
        good = kwauth.issue_token(self.c, "alice", AUD,
                                  scopes=["mcp:tools", "b"],
                                  client_id="node-client", ttl=300)["token"]
        noclient = kwauth.issue_token(self.c, "bob", AUD,
                                      scopes=["mcp:tools"], ttl=300)["token"]
        bad = [kwauth.tampered_payload(good), kwauth.tampered_signature(good),
               kwauth.wrong_kid(good), kwauth.alg_none(good)]
        self.node_test("verifier.test.js", {
            "KW_TEST_AUDIENCE": AUD,
            "KW_TEST_JWT": good,
            "KW_TEST_JWT_NOCLIENT": noclient,
            "KW_TEST_JWT_BAD": json.dumps(bad),
        })

    def test_api_keys(self):
        self.h.write_policy("20-node.ini", (
            '[client "node"]\nexe = %s\nverify = **\n' % self.node))
        self.assertRc(self.cli("policy", "reload"), 0)
        key, _ = kwauth.create_api_key(self.c, "svc-node", scopes=["read"])
        revoked, rid = kwauth.create_api_key(self.c, "svc-node-old")
        kwauth.revoke_api_key(self.c, rid)
        self.node_test("apikey.test.js", {
            "KW_TEST_APIKEY": key,
            "KW_TEST_APIKEY_REVOKED": revoked,
            "KW_TEST_APIKEY_UNKNOWN": kwauth.unknown_api_key(),
        })

    def test_unavailable_503(self):
        # No agent needed: a fake client; run here so that it counts.
        self.node_test("unavailable.test.js", {})
