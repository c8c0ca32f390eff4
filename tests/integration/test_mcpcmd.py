"""`keyward mcp scan` and `keyward mcp import` on the MCP client config
fixtures (fixtures/mcp/, one file per client format; its README lists the
planted credentials) placed under a fake HOME and working directory.

- scan reports exactly the planted credentials, in every known location,
  with --json and as text; exit 10 when it finds some, 0 when none, 1 on
  a missing PATH or a file that does not parse (named with line:column);
  no planted value ever reaches stdout or stderr;
- import moves the stdio servers' credentials into the store (keyward get
  gives the planted values back), rewrites those servers to launch
  through keyward run, keeps every other field, comments in JSONC, the
  file's mode, and changes nothing the second time; remote servers with
  credentials in headers launch through keyward mcp proxy, old SSE ones stay;
  the args name the agent's socket (--socket) when a client's minimal
  environment would not find it at $HOME/.mcp/agent.sock;
- one secret name never gets two values: the same server name in two
  files or twice in one shares one value and refuses two, before
  anything is stored;
- --dry-run shows a diff with <redacted> values and changes no byte of
  the config or the store; without --yes and a terminal nothing happens;
- a config changed while import waits for its confirmation (on a pty) is
  not overwritten, and the secrets stay stored;
- --narrow makes a token and a policy section per server that let only
  that server's secrets be read with that token."""

import hashlib
import json
import os
import pty
import re
import select
import shutil
import stat

import harness
from harness import (BIN_KEYWARD, DaemonTestCase, EXIT_DENIED, EXIT_ERROR,
                     EXIT_NOTFOUND, EXIT_OK, EXIT_USAGE, spawn)

EXIT_FOUND = 10
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "fixtures", "mcp")

# file -> [(server, kind, variable, value)], from fixtures/mcp/README.md.
PLANTED = {
    "claude_desktop_config.json": [
        ("github", "env", "GITHUB_PERSONAL_ACCESS_TOKEN",
         "ghp_kwFixtureDesktop00000000000000000001"),
        ("postgres", "env", "PGPASSWORD", "correct-horse-battery-desktop"),
    ],
    "claude.json": [
        ("slack", "env", "SLACK_BOT_TOKEN",
         "xoxb-0000000001-0000000002-kwFixtureClaudeCode01"),
        ("sentry", "header", "Authorization",
         "Bearer sntrys_kwFixtureClaudeCodeRemote0123456789"),
        ("openai", "env", "OPENAI_API_KEY",
         "sk-proj-kwFixtureClaudeCodeProject000000000000"),
    ],
    "mcp.json": [
        ("brave-search", "env", "BRAVE_API_KEY",
         "BSAkwFixtureProjectMcpJson00000001"),
    ],
    "cursor-mcp.json": [
        ("gitlab", "env", "GITLAB_PERSONAL_ACCESS_TOKEN",
         "glpat-kwFixtureCursor00000001"),
        ("aws", "env", "AWS_ACCESS_KEY_ID", "AKIAKWFIXTURECURSOR1"),
        ("aws", "env", "AWS_SECRET_ACCESS_KEY",
         "kwFixture/Cursor+AwsSecret0000000000000001"),
        ("linear", "header", "Authorization",
         "Bearer lin_api_kwFixtureCursorRemote00000000000000"),
    ],
    "vscode-mcp.json": [
        ("huggingface", "env", "HF_TOKEN",
         "hf_kwFixtureVsCode000000000000000000001"),
        ("notion", "env", "NOTION_TOKEN",
         "ntn_kwFixtureVsCode0000000000000000000000002"),
        ("github-remote", "header", "Authorization",
         "Bearer github_pat_kwFixtureVsCodeRemote_0000000000000000000000000000"),
    ],
    "windsurf-mcp_config.json": [
        ("stripe", "env", "STRIPE_SECRET_KEY",
         "sk_test_kwFixtureWindsurf000000000000000001"),
        ("anthropic", "env", "ANTHROPIC_API_KEY",
         "sk-ant-api03-kwFixtureWindsurf00000000000000000000001"),
        ("context7", "header", "CONTEXT7_API_KEY",
         "ctx7sk-kwFixtureWindsurfRemote000000001"),
    ],
    "gemini-settings.json": [
        ("sendgrid", "env", "SENDGRID_API_KEY",
         "SG.kwFixtureGemini0001.kwFixtureGeminiSendGrid000000000001"),
        ("db", "env", "DATABASE_URL",
         "postgresql://app:kwFixtureGeminiDbPw01@db.internal:5432/app"),
        ("internal", "env", "INTERNAL_SERVICE_CONFIG",
         "Ev9MDzVfBwr2pvFjUhn8vtt93yWh8Bth"),
        ("remote-docs", "header", "X-API-Key",
         "kwFixtureGeminiRemoteApiKey000001"),
    ],
}
ALL_VALUES = [v for rows in PLANTED.values() for (_, _, _, v) in rows]

# Where each fixture goes: (under HOME?, relative path), every known
# location of every client.
PLACES = [
    ("claude_desktop_config.json", True,
     ".config/Claude/claude_desktop_config.json"),
    ("claude_desktop_config.json", True,
     "Library/Application Support/Claude/claude_desktop_config.json"),
    ("claude.json", True, ".claude.json"),
    ("mcp.json", False, ".mcp.json"),
    ("cursor-mcp.json", True, ".cursor/mcp.json"),
    ("cursor-mcp.json", False, ".cursor/mcp.json"),
    ("vscode-mcp.json", False, ".vscode/mcp.json"),
    ("vscode-mcp.json", True, ".config/Code/User/mcp.json"),
    ("windsurf-mcp_config.json", True, ".codeium/windsurf/mcp_config.json"),
    ("gemini-settings.json", True, ".gemini/settings.json"),
    ("gemini-settings.json", False, ".gemini/settings.json"),
]


def fixture_bytes(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def tree_digest(root, skip=()):
    """Path -> sha256 of every regular file under root."""
    out = {}
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(dirpath, name)
            if name in skip or not stat.S_ISREG(os.lstat(path).st_mode):
                continue
            out[path] = sha256_file(path)
    return out


def strip_jsonc(text):
    """JSONC to JSON for checking (comments outside strings, trailing
    commas): enough for the fixtures, not a general tool."""
    out, i, n, in_str = [], 0, len(text), False
    while i < n:
        c = text[i]
        if in_str:
            out.append(c)
            if c == "\\":
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
            out.append(c)
        elif text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
            continue
        elif text.startswith("/*", i):
            i = text.index("*/", i) + 2
            continue
        else:
            out.append(c)
        i += 1
    return json.loads(re.sub(r",(\s*[\]}])", r"\1", "".join(out)))


def servers_of(doc):
    """server name -> entry, over every container the fixtures use."""
    out = {}
    for key in ("mcpServers", "servers"):
        out.update(doc.get(key, {}))
    for proj in doc.get("projects", {}).values():
        out.update(proj.get("mcpServers", {}))
    return out


class McpBase(DaemonTestCase):

    def setUp(self):
        super().setUp()
        self.fake_home = os.path.join(self.h.work, "fakehome")
        self.project = os.path.join(self.h.work, "project")
        os.makedirs(self.fake_home, 0o700)
        os.makedirs(self.project, 0o700)
        self.env = dict(self.h.env)
        self.env["HOME"] = self.fake_home
        self.keyward = os.path.realpath(BIN_KEYWARD)

    def mcp(self, *args, input=b"", cwd=None):
        return harness.run([BIN_KEYWARD, "mcp"] + list(args), self.env,
                           input=input, cwd=cwd or self.project)

    def place(self, fixture, in_home, rel):
        path = os.path.join(self.fake_home if in_home else self.project,
                            rel)
        os.makedirs(os.path.dirname(path), 0o700, exist_ok=True)
        with open(path, "wb") as f:
            f.write(fixture_bytes(fixture))
        return path

    def assertNoValue(self, result, values=ALL_VALUES):
        for v in values:
            self.assertNotIn(v.encode(), result.out, result)
            self.assertNotIn(v, result.err, result)


class McpScan(McpBase):
    START = False  # scan never talks to the agent

    def test_scan_finds_exactly_the_planted_credentials(self):
        want = set()
        for fixture, in_home, rel in PLACES:
            path = self.place(fixture, in_home, rel)
            shown = path if in_home else rel
            for server, kind, var, _ in PLANTED[fixture]:
                want.add((shown, server, kind, var))
        r = self.mcp("scan", "--json")
        self.assertEqual(r.rc, EXIT_FOUND, r)
        self.assertNoValue(r)
        doc = json.loads(r.out)
        got = {(f["path"], f["server"], f["kind"], f["variable"])
               for f in doc["findings"]}
        self.assertEqual(got, want)
        self.assertEqual(len(doc["files"]), len(PLACES))
        self.assertEqual(doc["errors"], [])
        # The same value shows the same fingerprint in every file; a
        # password found by name only shows none.
        fps = {}
        for f in doc["findings"]:
            self.assertIn(f["rule"], ("prefix", "url", "name", "entropy"))
            self.assertGreater(f["length"], 0)
            fps.setdefault((f["server"], f["variable"]), set()).add(
                f["fingerprint"])
        self.assertTrue(all(len(s) == 1 for s in fps.values()), fps)
        self.assertEqual(fps[("postgres", "PGPASSWORD")], {None})
        self.assertEqual(fps[("db", "DATABASE_URL")], {None})
        fp = next(iter(fps[("github", "GITHUB_PERSONAL_ACCESS_TOKEN")]))
        self.assertRegex(fp, r"^[0-9a-f]{8}$")
        internal = [f for f in doc["findings"]
                    if f["variable"] == "INTERNAL_SERVICE_CONFIG"]
        self.assertEqual({f["rule"] for f in internal}, {"entropy"})

    def test_scan_text(self):
        for fixture, in_home, rel in PLACES:
            self.place(fixture, in_home, rel)
        r = self.mcp("scan")
        self.assertEqual(r.rc, EXIT_FOUND, r)
        self.assertNoValue(r)
        lines = [l for l in r.text.splitlines() if "plaintext credential (" in l]
        total = sum(len(PLANTED[f]) for f, _, _ in PLACES)
        self.assertEqual(len(lines), total, r.text)
        self.assertIn(
            "%s/.config/Claude/claude_desktop_config.json:7:41: "
            "Claude Desktop: server \"github\": env "
            "GITHUB_PERSONAL_ACCESS_TOKEN: plaintext credential (prefix "
            "rule, 40 bytes, fingerprint " % self.fake_home, r.text)
        self.assertIn(".mcp.json:7:26: Claude Code: server \"brave-search\"",
                      r.text)
        self.assertIn("server \"openai\" in projects./home/user/src/app",
                      r.text)
        self.assertIn("server \"sentry\" (remote): header Authorization",
                      r.text)
        self.assertIn("%d plaintext credentials in 11 of 11 MCP config "
                      "files" % total, r.text)
        for name in ("PATH", "KEYBOARD_LAYOUT", "MAX_TOKENS", "HF_HOME",
                     "WORKSPACE_ID", "OPENAI_MODEL", "PERPLEXITY_API_KEY",
                     "GITHUB_TOKEN", "UPSTREAM_AUTH", "HOME_DIR", "DEBUG"):
            self.assertNotIn(" %s:" % name, r.text)

    def test_scan_nothing_found(self):
        r = self.mcp("scan")
        self.assertEqual(r.rc, EXIT_OK, r)
        self.assertIn("no plaintext credentials in 0 MCP config files",
                      r.text)
        clean = {"mcpServers": {"fs": {"command": "npx", "args": ["-y"],
                                       "env": {"PATH": "/usr/bin",
                                               "TOKEN": "${input:t}"}}}}
        with open(os.path.join(self.project, ".mcp.json"), "w") as f:
            json.dump(clean, f)
        r = self.mcp("scan", "--json")
        self.assertEqual(r.rc, EXIT_OK, r)
        doc = json.loads(r.out)
        self.assertEqual(doc["findings"], [])
        self.assertEqual(len(doc["files"]), 1)

    def test_scan_path_given(self):
        path = os.path.join(self.h.work, "elsewhere.json")
        shutil.copyfile(os.path.join(FIXTURES, "cursor-mcp.json"), path)
        r = self.mcp("scan", path, "--json")
        self.assertEqual(r.rc, EXIT_FOUND, r)
        got = {f["variable"] for f in json.loads(r.out)["findings"]}
        self.assertEqual(got, {v for _, _, v, _ in
                               PLANTED["cursor-mcp.json"]})

    def test_scan_errors(self):
        r = self.mcp("scan", os.path.join(self.h.work, "missing.json"))
        self.assertEqual(r.rc, EXIT_ERROR, r)
        self.assertIn("missing.json", r.err)
        bad = self.place("claude.json", True, ".claude.json")
        with open(bad, "w") as f:
            f.write('{\n  "mcpServers": {\n    "x": {"env": {"A": "ghp_x"}\n'
                    '  }\n')
        self.place("mcp.json", False, ".mcp.json")
        r = self.mcp("scan")
        # The broken file is named with line and column, the good one is
        # still scanned, and errors win over findings.
        self.assertEqual(r.rc, EXIT_ERROR, r)
        self.assertRegex(r.err, r"\.claude\.json: line 5, column 1: ")
        self.assertIn("BRAVE_API_KEY", r.text)
        self.assertNoValue(r, ["ghp_x"] + ALL_VALUES)


class McpImport(McpBase):
    """The agent listens at KEYWARD_SOCKET in the test's KEYWARD_HOME, not
    at $HOME/.mcp/agent.sock where a client-started `keyward run` looks:
    so every rewritten server names it with "--socket" before "run"."""

    def setUp(self):
        super().setUp()
        self.lead = ["--socket", self.h.socket]

    def copy_config(self, fixture, mode=0o640):
        path = os.path.join(self.project, fixture)
        with open(path, "wb") as f:
            f.write(fixture_bytes(fixture))
        os.chmod(path, mode)
        return path

    def load(self, path):
        with open(path) as f:
            return strip_jsonc(f.read())

    def check_proxied(self, name, entry, got, moved):
        """A remote server now launched through keyward mcp proxy."""
        self.assertEqual(got["command"], self.keyward, name)
        url = entry.get("url") or entry.get("serverUrl") or \
            entry.get("httpUrl")
        args = self.lead + ["mcp", "proxy", url]
        for header, value in entry["headers"].items():
            if header in dict(moved):
                value = "{{keyward://mcp/%s/%s}}" % (name, header)
            args += ["--header", "%s: %s" % (header, value)]
        self.assertEqual(got["args"], args, name)
        self.assertNotIn("headers", got)
        self.assertEqual(got.get("type"),
                         "stdio" if "type" in entry else None, name)
        for header, value in moved:
            self.assertEqual(self.get_cli("mcp/%s/%s" % (name, header)),
                             value.encode())

    def check_imported(self, fixture, path, before):
        """The file after one import: no stdio value left, nor a header
        value of a Streamable HTTP server (those of an old SSE one
        stay), every server rewritten as documented, stored values equal
        the planted ones."""
        with open(path, "rb") as f:
            raw = f.read()
        after = self.load(path)
        if fixture != "vscode-mcp.json":
            self.assertEqual(json.loads(raw), after)
        old, new = servers_of(before), servers_of(after)
        self.assertEqual(list(old), list(new))
        moved, proxied = {}, {}
        for server, kind, var, value in PLANTED[fixture]:
            url = old[server].get("url") or ""
            if kind == "env":
                self.assertNotIn(value.encode(), raw, fixture)
                moved.setdefault(server, []).append((var, value))
            elif url.rstrip("/").endswith("/sse"):
                self.assertIn(value.encode(), raw, fixture)
            else:
                self.assertNotIn(value.encode(), raw, fixture)
                proxied.setdefault(server, []).append((var, value))
        for k in set(before) - {"mcpServers", "servers", "projects"}:
            self.assertEqual(before[k], after[k])
        for name, entry in old.items():
            if name in proxied:
                self.check_proxied(name, entry, new[name], proxied[name])
                continue
            if name not in moved:
                self.assertEqual(entry, new[name], name)
                continue
            got = new[name]
            self.assertEqual(got["command"], self.keyward)
            args = self.lead + ["run"]
            for var, _ in moved[name]:
                args += ["--env", "%s=mcp/%s/%s" % (var, name, var)]
            args += ["--", entry["command"]] + entry.get("args", [])
            self.assertEqual(got["args"], args, name)
            self.assertEqual(
                got["env"], {k: v for k, v in entry["env"].items()
                             if k not in dict(moved[name])}, name)
            rest = {k: v for k, v in entry.items()
                    if k not in ("command", "args", "env")}
            self.assertEqual(rest, {k: v for k, v in got.items()
                                    if k not in ("command", "args", "env")})
            self.assertEqual(list(entry), [k for k in got], name)
            for var, value in moved[name]:
                self.assertEqual(self.get_cli("mcp/%s/%s" % (name, var)),
                                 value.encode())

    def test_import_every_format(self):
        for fixture in PLANTED:
            with self.subTest(fixture=fixture):
                path = self.copy_config(fixture)
                if os.geteuid() == 0:
                    # Another owner, so that keeping it is seen (CI runs
                    # as root; otherwise the file stays ours, and kept).
                    os.chown(path, 65534, 65534)
                before = self.load(path)
                st = os.stat(path)
                r = self.mcp("import", path, "--yes")
                self.assertEqual(r.rc, EXIT_OK, r)
                self.assertNoValue(r)
                self.check_imported(fixture, path, before)
                st2 = os.stat(path)
                self.assertEqual(stat.S_IMODE(st2.st_mode), 0o640)
                self.assertEqual((st2.st_uid, st2.st_gid),
                                 (st.st_uid, st.st_gid))
                self.assertNotEqual(st.st_ino, st2.st_ino)  # replaced
                leftovers = [n for n in os.listdir(self.project)
                             if n not in PLANTED]
                self.assertEqual(leftovers, [])
                # Now clean for scan, except remote headers.
                s = self.mcp("scan", path, "--json")
                kinds = {f["kind"] for f in json.loads(s.out)["findings"]}
                self.assertLessEqual(kinds, {"header"}, s)

    def test_second_import_changes_nothing(self):
        path = self.copy_config("claude.json")
        self.assertEqual(self.mcp("import", path, "--yes").rc, EXIT_OK)
        digest = sha256_file(path)
        ino = os.stat(path).st_ino
        r = self.mcp("import", path, "--yes")
        self.assertEqual(r.rc, EXIT_OK, r)
        self.assertIn("slack: already launched through keyward run", r.text)
        self.assertIn("nothing to import, left unchanged", r.text)
        self.assertEqual(sha256_file(path), digest)
        self.assertEqual(os.stat(path).st_ino, ino)

    def test_jsonc_comments_kept(self):
        path = self.copy_config("vscode-mcp.json")
        self.assertEqual(self.mcp("import", path, "--yes").rc, EXIT_OK)
        with open(path) as f:
            text = f.read()
        for comment in ("// Inputs are prompted for once and kept by VS "
                        "Code.", "/* Hugging Face hub, token pasted in by "
                        "hand */", "// cache only"):
            self.assertIn(comment, text)
        # Untouched servers keep their bytes, the multi-line args array
        # stays one element a line at its old indentation.
        self.assertIn('"args": ["-y", "server-perplexity-ask"],', text)
        self.assertIn('      "args": [\n        "--socket",\n'
                      '        "%s",\n' % self.h.socket +
                      '        "run",\n        "--env",\n'
                      '        "HF_TOKEN=mcp/huggingface/HF_TOKEN",\n'
                      '        "--",\n        "uvx",\n'
                      '        "huggingface-mcp-server"\n      ],', text)

    def test_dry_run_changes_nothing(self):
        path = self.copy_config("windsurf-mcp_config.json")
        self.d.stop()  # the store must not change: nothing may write it
        store = tree_digest(self.h.home, skip=("keywardd.log",))
        digest = sha256_file(path)
        r = self.mcp("import", path, "--dry-run")
        self.assertEqual(r.rc, EXIT_OK, r)
        self.assertNoValue(r)
        self.assertEqual(sha256_file(path), digest)
        self.assertEqual(tree_digest(self.h.home, skip=("keywardd.log",)),
                         store)
        self.assertIn("--- %s\n+++ %s (after import)\n" % (path, path),
                      r.text)
        self.assertIn('-        "STRIPE_SECRET_KEY": "<redacted>"\n', r.text)
        self.assertIn('-      "command": "npx",\n', r.text)
        self.assertIn('+      "command": "%s",\n' % self.keyward, r.text)
        self.assertIn("dry run: nothing stored, nothing changed", r.text)
        self.d.start()
        r = self.cli("ls", "mcp/")
        self.assertRc(r, 0)
        self.assertEqual(r.text.strip(), "")

    def test_no_terminal_without_yes_refused(self):
        path = self.copy_config("mcp.json")
        digest = sha256_file(path)
        r = self.mcp("import", path)
        self.assertEqual(r.rc, EXIT_USAGE, r)
        self.assertIn("--yes", r.err)
        self.assertEqual(sha256_file(path), digest)
        self.assertEqual(self.cli("ls", "mcp/").text.strip(), "")

    def test_old_sse_servers_left_alone(self):
        path = self.copy_config("cursor-mcp.json")
        r = self.mcp("import", path, "--server", "linear", "--yes")
        self.assertEqual(r.rc, EXIT_OK, r)
        self.assertIn("linear: remote server, left unchanged: not "
                      "Streamable HTTP", r.text)
        self.assertIn("nothing to import", r.text)
        r = self.mcp("import", path, "--server", "nosuch", "--yes")
        self.assertEqual(r.rc, EXIT_NOTFOUND, r)

    def test_server_filter(self):
        path = self.copy_config("cursor-mcp.json")
        before = self.load(path)
        r = self.mcp("import", path, "--server", "aws", "--yes")
        self.assertEqual(r.rc, EXIT_OK, r)
        after = self.load(path)
        self.assertEqual(after["mcpServers"]["gitlab"],
                         before["mcpServers"]["gitlab"])
        self.assertEqual(after["mcpServers"]["aws"]["command"], self.keyward)
        self.assertEqual(self.get_cli("mcp/aws/AWS_ACCESS_KEY_ID"),
                         b"AKIAKWFIXTURECURSOR1")
        self.assertEqual(self.cli("get", "mcp/gitlab/"
                                  "GITLAB_PERSONAL_ACCESS_TOKEN").rc,
                         EXIT_NOTFOUND)

    def test_unusable_variable_refused_before_storing(self):
        path = os.path.join(self.project, "bad.json")
        with open(path, "w") as f:
            json.dump({"mcpServers": {"s": {
                "command": "srv", "env": {
                    "GOOD_TOKEN": "ghp_kwFixtureBadName000000000000000001",
                    "BAD-TOKEN": "ghp_kwFixtureBadName000000000000000002"}}}},
                f)
        digest = sha256_file(path)
        r = self.mcp("import", path, "--yes")
        self.assertEqual(r.rc, EXIT_ERROR, r)
        self.assertIn("BAD-TOKEN", r.err)
        self.assertIn("keyward run cannot set this variable", r.err)
        self.assertNoValue(r, ["ghp_kwFixtureBadName"])
        self.assertEqual(sha256_file(path), digest)
        self.assertEqual(self.cli("ls", "mcp/").text.strip(), "")

    def test_name_collision_refused(self):
        """The same server name in two projects, and names that come out
        alike once made safe, would share secret names."""
        path = os.path.join(self.project, "two.json")
        env = {"API_KEY": "k1-kwFixtureCollision"}
        with open(path, "w") as f:
            json.dump({"projects": {
                "/a": {"mcpServers": {"x y": {"command": "s", "env": env}}},
                "/b": {"mcpServers": {"x/y": {"command": "s", "env": env}}},
            }}, f)
        digest = sha256_file(path)
        r = self.mcp("import", path, "--yes")
        self.assertEqual(r.rc, EXIT_ERROR, r)
        self.assertIn("would share the secret names mcp/x-y/", r.err)
        self.assertEqual(sha256_file(path), digest)
        self.assertEqual(self.cli("ls", "mcp/").text.strip(), "")
        # One at a time, under different prefixes, both go through.
        r = self.mcp("import", path, "--server", "x y", "--prefix", "a/",
                     "--yes")
        self.assertEqual(r.rc, EXIT_OK, r)
        self.assertEqual(self.get_cli("a/x-y/API_KEY"),
                         b"k1-kwFixtureCollision")

    # -- one secret name, two servers --

    def write_json(self, rel, doc):
        path = os.path.join(self.project, rel)
        os.makedirs(os.path.dirname(path), 0o700, exist_ok=True)
        with open(path, "w") as f:
            json.dump(doc, f, indent=2)
        return path

    def github(self, token):
        return {"command": "github-mcp",
                "env": {"GITHUB_TOKEN": token, "LOG_LEVEL": "info"}}

    def listed(self, prefix="mcp/"):
        """name -> (version, versions) of the stored secrets."""
        r = self.cli("ls", prefix, "--json")
        self.assertRc(r, EXIT_OK)
        return {row["name"]: (row["version"], row["versions"])
                for row in harness.parse_json_lines(r.out)}

    def test_same_server_two_files_same_value_reused(self):
        """The same server with the same token in a user and a project
        config: both launch through one secret, stored once."""
        token = "ghp_kwFixtureSharedSame000000000000000001"
        a = self.write_json("user.json", {"mcpServers": {
            "github": self.github(token)}})
        b = self.write_json(os.path.join("webapp", ".mcp.json"),
                            {"mcpServers": {"github": self.github(token)}})
        self.assertEqual(self.mcp("import", a, "--yes").rc, EXIT_OK)
        r = self.mcp("import", b, "--yes")
        self.assertEqual(r.rc, EXIT_OK, r)
        self.assertIn("stored 1 credential (1 already held that value)",
                      r.text)
        self.assertNoValue(r, [token])
        self.assertEqual(self.listed(), {"mcp/github/GITHUB_TOKEN": (1, 1)})
        for path in (a, b):
            args = self.load(path)["mcpServers"]["github"]["args"]
            self.assertIn("GITHUB_TOKEN=mcp/github/GITHUB_TOKEN", args)

    def test_same_server_two_files_other_value_refused(self):
        """The same server name with another token in a second config:
        refused before anything is stored, naming the secret and the
        server and suggesting a prefix; the suggested prefix works."""
        first = "ghp_kwFixtureSharedFirst00000000000000001"
        second = "ghp_kwFixtureSharedSecond0000000000000001"
        a = self.write_json("user.json", {"mcpServers": {
            "github": self.github(first)}})
        b = self.write_json(os.path.join("webapp", ".cursor", "mcp.json"),
                            {"mcpServers": {
                                "github": self.github(second),
                                "slack": {"command": "slack-mcp", "env": {
                                    "SLACK_TOKEN": "xoxb-kwFixtureShared"}}}})
        self.assertEqual(self.mcp("import", a, "--yes").rc, EXIT_OK)
        digest = sha256_file(b)
        r = self.mcp("import", b, "--yes")
        self.assertEqual(r.rc, EXIT_ERROR, r)
        self.assertNoValue(r, [first, second, "xoxb-kwFixtureShared"])
        self.assertIn("mcp/github/GITHUB_TOKEN: already holds a different "
                      "value", r.err)
        self.assertIn('server "github" (top level)', r.err)
        self.assertIn("--prefix mcp/webapp/", r.err)
        self.assertEqual(sha256_file(b), digest)
        # Nothing stored: not even the server that does not collide.
        self.assertEqual(self.listed(), {"mcp/github/GITHUB_TOKEN": (1, 1)})
        self.assertEqual(self.get_cli("mcp/github/GITHUB_TOKEN"),
                         first.encode())
        r = self.mcp("import", b, "--prefix", "mcp/webapp/", "--yes")
        self.assertEqual(r.rc, EXIT_OK, r)
        self.assertEqual(self.get_cli("mcp/webapp/github/GITHUB_TOKEN"),
                         second.encode())
        self.assertEqual(self.get_cli("mcp/github/GITHUB_TOKEN"),
                         first.encode())

    def test_same_server_twice_in_one_file(self):
        """Claude Code's projects.<dir>.mcpServers with one server name in
        two projects: the same token shares the secret, two tokens are
        refused before anything is stored."""
        same = "ghp_kwFixtureInFileSame00000000000000001"
        path = self.write_json("claude.json", {"projects": {
            "/a": {"mcpServers": {"github": self.github(same)}},
            "/b": {"mcpServers": {"github": self.github(same)}}}})
        r = self.mcp("import", path, "--yes")
        self.assertEqual(r.rc, EXIT_OK, r)
        self.assertIn("stored 2 credentials (1 already held that value)",
                      r.text)
        self.assertEqual(self.listed(), {"mcp/github/GITHUB_TOKEN": (1, 1)})
        projects = self.load(path)["projects"]
        for d in ("/a", "/b"):
            self.assertIn("GITHUB_TOKEN=mcp/github/GITHUB_TOKEN",
                          projects[d]["mcpServers"]["github"]["args"])

        other = ("ghp_kwFixtureInFileOne000000000000000001",
                 "ghp_kwFixtureInFileTwo000000000000000001")
        path = self.write_json("claude2.json", {"projects": {
            "/c": {"mcpServers": {"gitlab": {"command": "gl", "env": {
                "GITLAB_TOKEN": "glpat-kwFixtureInFile0001"}}}},
            "/a": {"mcpServers": {"github": self.github(other[0])}},
            "/b": {"mcpServers": {"github": self.github(other[1])}}}})
        digest = sha256_file(path)
        r = self.mcp("import", path, "--yes")
        self.assertEqual(r.rc, EXIT_ERROR, r)
        self.assertNoValue(r, list(other) + ["glpat-kwFixtureInFile0001"])
        self.assertIn("mcp/github/GITHUB_TOKEN: servers \"github\" "
                      "(projects./a) and \"github\" (projects./b) hold "
                      "different values", r.err)
        self.assertEqual(sha256_file(path), digest)
        self.assertEqual(self.listed(), {"mcp/github/GITHUB_TOKEN": (1, 1)})

    # -- where the agent is --

    def import_first_args(self, env, *global_opts, cwd=None):
        """Import a fresh mcp.json with env and keyward's global options;
        the brave-search server's new args."""
        path = self.copy_config("mcp.json")
        r = harness.run([BIN_KEYWARD] + list(global_opts) +
                        ["mcp", "import", path, "--yes"], env,
                        cwd=cwd or self.project)
        self.assertEqual(r.rc, EXIT_OK, r)
        again = harness.run([BIN_KEYWARD, "mcp", "import", path, "--yes"],
                            env, cwd=self.project)
        self.assertIn("already launched through keyward run", again.text)
        return r, self.load(path)["mcpServers"]["brave-search"]["args"]

    def test_socket_left_out_where_a_client_finds_it(self):
        """No --socket when $HOME/.mcp/agent.sock is the agent's socket:
        by name, or as the same file (here a link to it)."""
        link = os.path.join(self.fake_home, ".mcp", "agent.sock")
        os.makedirs(os.path.dirname(link), 0o700)
        os.symlink(self.h.socket, link)
        env = dict(self.env)
        env["KEYWARD_SOCKET"] = link
        r, args = self.import_first_args(env)
        self.assertEqual(args[0], "run", args)
        self.assertNotIn("--socket", r.text)
        r, args = self.import_first_args(self.env)
        self.assertEqual(args[0], "run", args)

    def test_socket_named_when_elsewhere(self):
        """The agent in $XDG_RUNTIME_DIR/keyward (the packaged socket
        unit), and a relative --socket: the args name the absolute path,
        the plan says so, and a second import is still a no-op."""
        env = dict(self.env)
        del env["KEYWARD_SOCKET"]
        env["XDG_RUNTIME_DIR"] = os.path.join(self.h.work, "run")
        os.makedirs(os.path.join(env["XDG_RUNTIME_DIR"], "keyward"), 0o700)
        xdg = os.path.join(env["XDG_RUNTIME_DIR"], "keyward", "agent.sock")
        os.symlink(self.h.socket, xdg)
        r, args = self.import_first_args(env)
        self.assertEqual(args[:3], ["--socket", xdg, "run"])
        self.assertIn("(keyward run is given --socket %s" % xdg, r.text)
        r, args = self.import_first_args(self.env, "--socket", "agent.sock",
                                         cwd=self.h.home)
        self.assertEqual(args[0], "--socket")
        self.assertTrue(os.path.isabs(args[1]), args)
        self.assertEqual(os.path.realpath(args[1]),
                         os.path.realpath(self.h.socket))
        self.assertEqual(args[2], "run")

    def test_symlink_refused(self):
        path = self.copy_config("mcp.json")
        link = os.path.join(self.project, "link.json")
        os.symlink(path, link)
        digest = sha256_file(path)
        r = self.mcp("import", link, "--yes")
        self.assertEqual(r.rc, EXIT_ERROR, r)
        self.assertTrue(os.path.islink(link))
        self.assertEqual(sha256_file(path), digest)

    def test_changed_while_confirming_not_overwritten(self):
        """Confirmation on a pty; the file changes before the answer."""
        path = self.copy_config("claude_desktop_config.json")
        master, slave = pty.openpty()
        proc = spawn([BIN_KEYWARD, "mcp", "import", path], self.env,
                     stdin=slave, stdout=slave, stderr=slave,
                     cwd=self.project)
        os.close(slave)
        seen = b""
        try:
            while b"[y/N]" not in seen:
                ready, _, _ = select.select([master], [], [],
                                            harness.CLI_DEADLINE_S)
                self.assertTrue(ready, "no prompt: %r" % seen)
                seen += os.read(master, 4096)
            edited = fixture_bytes("claude_desktop_config.json") + b"\n"
            with open(path, "r+b") as f:
                f.write(edited)
            os.write(master, b"y\n")
            while True:
                ready, _, _ = select.select([master], [], [],
                                            harness.CLI_DEADLINE_S)
                self.assertTrue(ready, "no end: %r" % seen)
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
            rc = proc.wait(timeout=harness.CLI_DEADLINE_S)
        finally:
            os.close(master)
        self.assertEqual(rc, EXIT_ERROR, seen)
        self.assertIn(b"are stored in keyward", seen)
        for v in ALL_VALUES:
            self.assertNotIn(v.encode(), seen)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), edited)
        self.assertEqual(self.get_cli("mcp/postgres/PGPASSWORD"),
                         b"correct-horse-battery-desktop")

    def test_narrow(self):
        path = self.copy_config("claude_desktop_config.json")
        r = self.mcp("import", path, "--narrow", "--yes")
        self.assertEqual(r.rc, EXIT_OK, r)
        self.assertNoValue(r)
        doc = self.load(path)
        uid = str(os.getuid())
        for server in ("github", "postgres"):
            token_file = os.path.join(self.h.home, "clients",
                                      server + ".token")
            policy = os.path.join(self.h.policies,
                                  "00-mcp-%s.ini" % server)
            for p in (token_file, policy):
                self.assertEqual(stat.S_IMODE(os.stat(p).st_mode), 0o600)
            args = doc["mcpServers"][server]["args"]
            self.assertEqual(args[:5],
                             self.lead + ["run", "--token-file", token_file])
            self.assertIn("[client \"mcp-%s\"]\n" % server,
                          open(policy).read())
            ok = self.cli("policy", "check", "--uid", uid, "--exe",
                          self.keyward, "--token-name", "mcp-" + server,
                          "--op", "read", "--name",
                          "mcp/%s/ANY" % server)
            self.assertRc(ok, EXIT_OK)
            other = "postgres" if server == "github" else "github"
            no = self.cli("policy", "check", "--uid", uid, "--exe",
                          self.keyward, "--token-name", "mcp-" + server,
                          "--op", "read", "--name", "mcp/%s/ANY" % other)
            self.assertRc(no, EXIT_DENIED)
        # The owner's CLI, with no token, still reads everything.
        self.assertEqual(self.get_cli("mcp/github/"
                                      "GITHUB_PERSONAL_ACCESS_TOKEN"),
                         b"ghp_kwFixtureDesktop00000000000000000001")

    def test_narrow_policy_refused_leaves_config(self):
        """A policy the agent will not load (here: another file in the
        directory is broken) stops the import before the rewrite: the
        credentials are stored, the config and the policy directory are
        as they were."""
        path = self.copy_config("mcp.json")
        digest = sha256_file(path)
        self.h.write_policy("99-broken.ini", "[client \"x\"]\nbogus = 1\n")
        before = sorted(os.listdir(self.h.policies))
        r = self.mcp("import", path, "--narrow", "--yes")
        self.assertEqual(r.rc, EXIT_ERROR, r)
        self.assertIn("policy reload", r.err)
        self.assertIn("are stored in keyward", r.err)
        self.assertEqual(sha256_file(path), digest)
        self.assertEqual(sorted(os.listdir(self.h.policies)), before)
        self.assertEqual(self.get_cli("mcp/brave-search/BRAVE_API_KEY"),
                         b"BSAkwFixtureProjectMcpJson00000001")


if __name__ == "__main__":
    import unittest
    unittest.main()
