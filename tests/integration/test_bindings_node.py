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
  agent that cannot answer into 503, with one log line per outage.

NodePackage: `npm pack` ships exactly the module, and the tarball installs
and loads offline."""

import base64
import json
import os
import re
import shutil
import tarfile
import tempfile
import unittest

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


class NodePackage(unittest.TestCase):
    """bindings/node as an npm package: `npm pack` of a copy ships exactly
    the module, its types, README and package.json; the manifest declares
    no runtime dependency and the MCP SDKs only as optional peers; the
    tarball installs with no registry (no dependency to fetch) and loads
    from an app."""

    SHIPPED = {"package/package.json", "package/index.js",
               "package/index.d.ts", "package/README.md"}
    PEERS = {"@modelcontextprotocol/sdk", "@modelcontextprotocol/server",
             "@modelcontextprotocol/express"}

    def setUp(self):
        self.node = kwauth.require_node(self)
        self.npm = kwauth.npm_exe()
        if self.npm is None:
            self.fail("npm is not installed (scripts/deps.sh test installs "
                      "Debian's npm)")
        self.tmp = tempfile.mkdtemp(prefix="kw-npm-pack-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.env = kwauth._npm_env(os.path.join(self.tmp, "cache"))
        self.env["npm_config_offline"] = "true"  # nothing may be fetched

    def test_pack_ships_exactly_the_module(self):
        # A copy with every file of the source folder (tests included):
        # what is left out must be left out by package.json's "files".
        src = os.path.join(self.tmp, "src")
        shutil.copytree(kwauth.BINDINGS_NODE, src,
                        ignore=shutil.ignore_patterns("node_modules"))
        out = os.path.join(self.tmp, "out")
        os.mkdir(out)
        r = run([self.npm, "pack", "--pack-destination", out, "--json",
                 "--loglevel=error"], self.env, cwd=src, timeout=120)
        self.assertEqual(r.rc, 0, r)
        (tgz,) = os.listdir(out)
        self.assertRegex(tgz, r"^keyward-\d+\.\d+\.\d+\.tgz$")
        with tarfile.open(os.path.join(out, tgz)) as tar:
            names = {m.name for m in tar.getmembers() if m.isfile()}
            manifest = json.load(tar.extractfile("package/package.json"))
        self.assertEqual(names, self.SHIPPED)
        self.assertNotIn("dependencies", manifest)
        self.assertEqual(set(manifest["peerDependencies"]), self.PEERS)
        self.assertEqual(manifest["peerDependenciesMeta"],
                         {p: {"optional": True} for p in self.PEERS})

        app = os.path.join(self.tmp, "app")
        os.mkdir(app)
        with open(os.path.join(app, "package.json"), "w") as f:
            json.dump({"name": "app", "version": "1.0.0", "private": True,
                       "type": "module"}, f)
        r = run([self.npm, "install", "--no-audit", "--no-fund",
                 "--loglevel=error", os.path.join(out, tgz)], self.env,
                cwd=app, timeout=120)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(sorted(os.listdir(os.path.join(app,
                                                        "node_modules"))),
                         [".package-lock.json", "keyward"])
        r = run([self.node, "--input-type=module", "-e",
                 "import * as kw from 'keyward';"
                 "console.log(Object.keys(kw).sort().join(' '))"],
                self.env, cwd=app)
        self.assertEqual(r.rc, 0, r)
        for name in ("Client", "KeywardTokenVerifier", "unavailable503",
                     "unavailable503Gate"):
            self.assertIn(name, r.text.split())
