"""End to end through the MCP clients' own config files (issue 13).

For each client whose config `keyward mcp` knows (Claude Desktop, Claude
Code, Cursor, VS Code, Windsurf, Gemini CLI): a fixture written in the
shape that client documents, with realistic fields around the servers,
launching a real stdio MCP server (mcp-stdio/server.mjs, on the official
TypeScript SDK 2.x) with planted fake credentials (random each run) and
non-secret env entries. Then:

- `keyward mcp scan --json` (HOME and the working directory set as a
  user's would be) exits 10 and lists exactly the planted credentials,
  none of the non-secret entries, and prints no value;
- `keyward mcp import CONFIG --yes` leaves no planted value in any file
  anywhere under the test's root (the config, a backup, a temporary file,
  the store), the config parses and keeps every other field, its key
  order, indentation and mode; each value is stored at mcp/SERVER/VAR
  (SERVER made a name segment when people wrote it otherwise);
- each rewritten server is started exactly as an MCP client starts it:
  mcp-stdio/client.mjs (the SDK's StdioClientTransport) spawns `command`
  with `args` and `env` from the rewritten file, with the SDK's default
  inherited environment only (so `keyward run` finds the agent where a
  default install puts it, $HOME/.mcp), and its `env_hash` tool answers
  the SHA-256 of the stored secret for every credential and the
  unchanged value for every other variable;
- `keyward mcp scan` exits 0 afterwards, and a second import changes no
  byte.

Setup: `npm ci` of a copy of mcp-stdio/ in the build directory (locked SDK,
the cache there too; kwauth.install_mcp_stdio()). SdkPair checks the
server and client by themselves, without keyward, as a baseline."""

import hashlib
import json
import os
import re
import secrets
import stat
import string

import harness
from harness import DaemonTestCase, run
import kwauth

EXIT_FOUND = 10  # `keyward mcp scan`: plaintext credentials found
PREFIX = "mcp/"
# What an import may add to a server's env to lead keyward run to the agent
AGENT_VARS = ("KEYWARD_SOCKET", "KEYWARD_HOME")
# A server name usable as it is in a secret name (common/name.h)
SEGMENT_RE = re.compile(r"[A-Za-z0-9._-]+")
CLIENT_DEADLINE_S = 120.0 * harness.SLOW

ALNUM = string.ascii_letters + string.digits
B64URL = ALNUM + "-_"
UPPER32 = string.ascii_uppercase + "234567"
AWS_SECRET = ALNUM + "/+"

_npm = None


def npm_ready():
    """Install mcp-stdio/ once per run: (its directory, None), or (None,
    the failure), which every test that needs it reports."""
    global _npm
    if _npm is None:
        _npm = kwauth.install_mcp_stdio()
    return _npm


def rand(alphabet, n):
    return "".join(secrets.choice(alphabet) for _ in range(n))


def sha256_hex(value):
    if isinstance(value, str):
        value = value.encode()
    return hashlib.sha256(value).hexdigest()


# --- planted credentials: fake, random each run, in each vendor's shape -----

def github_classic():
    return "ghp_" + rand(ALNUM, 36)


def github_fine_grained():
    return "github_pat_" + rand(ALNUM, 22) + "_" + rand(ALNUM, 59)


def anthropic_key():
    return "sk-ant-api03-" + rand(B64URL, 93) + "AA"


def openai_key():
    return "sk-proj-" + rand(B64URL, 48)


def slack_bot():
    return "xoxb-%s-%s-%s" % (rand(string.digits, 12), rand(string.digits, 13),
                              rand(ALNUM, 24))


def gitlab_pat():
    return "glpat-" + rand(B64URL, 20)


def aws_key_id():
    return "AKIA" + rand(UPPER32, 16)


def aws_secret():
    return rand(AWS_SECRET, 40)


def google_key():
    return "AIza" + rand(B64URL, 35)


def stripe_key():
    return "sk_live_" + rand(ALNUM, 99)


def sentry_token():
    return "sntryu_" + rand(string.hexdigits.lower()[:16], 64)


def password():
    """Recognisable only by its variable's name."""
    return "pw-" + rand(ALNUM, 14)


def opaque():
    """Recognisable only by its entropy: 32 random bytes, base64url, drawn
    again in the rare case (under 1 in 1,000) that it lacks a digit, a
    lower or an upper case letter, so that what the test plants always
    looks random and the test cannot fail by chance."""
    while True:
        value = rand(B64URL, 43)
        if all(any(c in cls for c in value) for cls in (
                string.digits, string.ascii_lowercase,
                string.ascii_uppercase)):
            return value


# --- fixtures ----------------------------------------------------------------

class Server:
    """One stdio server entry: command, args and env, plus the entry's
    other fields around them in the order the client's docs show them."""

    def __init__(self, name, script, secret_env, plain_env, before=(),
                 after=(), extra_args=()):
        self.name = name
        self.secret_env = dict(secret_env)
        self.plain_env = dict(plain_env)
        entry = dict(before)
        entry["command"] = "node"
        entry["args"] = [script] + list(extra_args)
        env = {}
        # Interleave so that import must drop entries from the middle.
        for pair in _interleave(list(secret_env.items()),
                                list(plain_env.items())):
            env[pair[0]] = pair[1]
        if env:
            entry["env"] = env
        entry.update(after)
        self.entry = entry


def _interleave(a, b):
    out = []
    for i in range(max(len(a), len(b))):
        out.extend(x[i] for x in (a, b) if i < len(x))
    return out


class ConfigFile:
    """A client's config file: its document (servers placed in it at
    the paths in `maps`), how it is indented, and its mode."""

    def __init__(self, path, doc, maps, indent, mode=0o600, text=None,
                 comments=()):
        self.path = path
        self.doc = doc
        self.maps = maps          # key paths of the name->server objects
        self.indent = indent      # 2, 4 or "\t"
        self.mode = mode
        # JSONC: the comments import must keep (or refuse the file)
        self.comments = comments
        self.text = text if text is not None else (
            json.dumps(doc, indent=indent, ensure_ascii=False) + "\n")

    def servers(self):
        """(name, entry) of every server the document holds."""
        for keys in self.maps:
            node = self.doc
            for k in keys:
                node = node[k]
            yield from node.items()


def remote_with_reference():
    """A remote server whose header refers to the environment: no
    plaintext credential, so neither reported nor changed."""
    return {"url": "https://mcp.context7.com/mcp",
            "headers": {"CONTEXT7_API_KEY": "${env:CONTEXT7_API_KEY}"}}


# --- the scan's JSON answer --------------------------------------------------

def findings_of(out):
    """The (server, variable) pairs a `keyward mcp scan --json` answer
    reports (JSON lines, a list, or an object holding the list under
    "findings"), each finding naming its server and its env variable or
    header."""
    pairs = set()
    for item in harness.parse_json_list(out, "findings"):
        var = next((item[k] for k in ("var", "variable", "header", "key")
                    if isinstance(item.get(k), str)), None)
        if not isinstance(item.get("server"), str) or var is None:
            raise AssertionError("a finding without server and variable: "
                                 "%r" % (item,))
        pairs.add((item["server"], var))
    return pairs


# --- JSON comparison that sees key order ------------------------------------

def ordered(value):
    """value with every object turned into its list of (key, value)
    pairs, so that == also compares key order."""
    if isinstance(value, dict):
        return [(k, ordered(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [ordered(v) for v in value]
    return value


def strip_jsonc(text):
    """JSON text from JSON with comments and trailing commas (VS Code's
    dialect): comments and trailing commas outside strings removed."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        else:
            out.append(c)
            i += 1
    return re.sub(r",(\s*[}\]])", r"\1", "".join(out))


def indent_ok(text, indent):
    """Every line's leading whitespace is whole units of indent, and the
    first level uses exactly one unit."""
    unit = indent if isinstance(indent, str) else " " * indent
    seen_one = False
    for line in text.splitlines():
        lead = line[:len(line) - len(line.lstrip(" \t"))]
        if not line.strip():
            continue
        if lead.replace(unit, ""):
            return False
        seen_one = seen_one or lead == unit
    return seen_one


class SdkPair(DaemonTestCase):
    """The SDK 2.x stdio server and client by themselves (no keyward):
    what every test below relies on."""

    INIT = False

    def setUp(self):
        super().setUp()
        self.node = kwauth.sdk2_node(self)
        kwauth.node_first_on_path(self.h.env, self.node)
        self.pkg, failure = npm_ready()
        if failure:
            self.fail(failure)

    def call(self, spec):
        path = os.path.join(self.h.work, "spec.json")
        with open(path, "w") as f:
            json.dump(spec, f)
        r = run([self.node, os.path.join(self.pkg, "client.mjs"), path],
                self.h.env, timeout=CLIENT_DEADLINE_S, cwd=self.h.work)
        return r

    def test_env_hash_through_the_sdk(self):
        planted = {"GITHUB_PERSONAL_ACCESS_TOKEN": github_classic(),
                   "LOG_LEVEL": "debug",
                   "GREETING": "gr\u00fc\u00df dich \u2713",
                   "EMPTY": ""}
        r = self.call({"command": "node",
                       "args": [os.path.join(self.pkg, "server.mjs"),
                                "--label=two words"],
                       "env": planted,
                       "names": sorted(planted) + ["NOT_SET_AT_ALL"]})
        self.assertEqual(r.rc, 0, r)
        res = json.loads(r.out)
        self.assertEqual(res["tools"], ["env_hash"], res)
        want = {k: sha256_hex(v) for k, v in planted.items()}
        want["NOT_SET_AT_ALL"] = "unset"
        self.assertEqual(res["hashes"], want)
        for value in planted.values():
            if value:
                self.assertNotInBytes(value.encode(), r.out + r.err.encode(),
                                      "the client's output")

    def test_default_environment_only(self):
        # What a server started by an MCP client sees: the SDK's default
        # variables and the config's env, nothing else of the client's.
        env = dict(self.h.env)
        env["KW_SHOULD_NOT_PASS"] = "x"
        self.h.env = env
        r = self.call({"command": "node",
                       "args": [os.path.join(self.pkg, "server.mjs")],
                       "names": ["KW_SHOULD_NOT_PASS", "KEYWARD_SOCKET",
                                 "HOME"]})
        self.assertEqual(r.rc, 0, r)
        hashes = json.loads(r.out)["hashes"]
        self.assertEqual(hashes["KW_SHOULD_NOT_PASS"], "unset")
        self.assertEqual(hashes["KEYWARD_SOCKET"], "unset")
        self.assertEqual(hashes["HOME"], sha256_hex(env["HOME"]))

    def test_log_env_logs_the_value(self):
        # Without keyward in between the careless server's log line holds
        # the value: what makes the masking test of McpClients mean
        # something.
        value = github_classic()
        r = self.call({"command": "node",
                       "args": [os.path.join(self.pkg, "server.mjs"),
                                "--log-env=GITHUB_PERSONAL_ACCESS_TOKEN"],
                       "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": value},
                       "names": []})
        self.assertEqual(r.rc, 0, r)
        self.assertIn("server: GITHUB_PERSONAL_ACCESS_TOKEN=%s\n" % value,
                      r.err)

    def test_bad_tool_argument_is_an_error(self):
        r = self.call({"command": "node",
                       "args": [os.path.join(self.pkg, "server.mjs")],
                       "names": ["1NOT A NAME"]})
        self.assertEqual(r.rc, 1, r)
        self.assertIn("env_hash(1NOT A NAME) failed", r.text)


class ClientConfigCase(DaemonTestCase):
    """Fixtures, the journey from scan to a started server, and its
    checks; the tests are in the subclasses."""

    HOME_IN_USER_HOME = True

    def setUp(self):
        super().setUp()
        self.node = kwauth.sdk2_node(self)
        kwauth.node_first_on_path(self.h.env, self.node)
        self.pkg, failure = npm_ready()
        if failure:
            self.fail(failure)
        self.script = os.path.join(self.pkg, "server.mjs")
        self.project = os.path.join(self.h.work, "src", "webapp")
        os.makedirs(self.project)
        self.keyward = os.path.realpath(harness.BIN_KEYWARD)
        self.import_flags = ()    # ("--narrow",) in test_narrow
        self.slugs = {}           # server name -> its part of secret names

    # -- running things as the user would --

    def kw_at(self, *args, cwd=None):
        """The CLI with HOME set and the project as working directory."""
        return run([harness.BIN_KEYWARD] + list(args), self.h.env,
                   cwd=cwd or self.project)

    def user_path(self, *parts):
        return os.path.join(self.h.work, *parts)

    def project_path(self, *parts):
        return os.path.join(self.project, *parts)

    def write(self, cfg):
        os.makedirs(os.path.dirname(cfg.path), exist_ok=True)
        with open(cfg.path, "w") as f:
            f.write(cfg.text)
        os.chmod(cfg.path, cfg.mode)

    def start_as_client(self, entry, names):
        """client.mjs spawns entry's command, args, env (and cwd) the way
        an MCP client does; returns its {"tools", "hashes"} answer."""
        r = self.try_as_client(entry, names)
        self.assertEqual(r.rc, 0, "the SDK client could not use %s %s: %r"
                         % (entry["command"], entry.get("args"), r))
        return json.loads(r.out)

    def try_as_client(self, entry, names):
        """start_as_client()'s run of client.mjs, as a harness.Result."""
        spec = {"command": entry["command"], "args": entry.get("args", []),
                "env": entry.get("env", {}), "names": names}
        if "cwd" in entry:
            spec["cwd"] = entry["cwd"]
        path = os.path.join(self.h.root, "client-spec.json")
        with open(path, "w") as f:
            json.dump(spec, f)
        r = run([self.node, os.path.join(self.pkg, "client.mjs"), path],
                self.h.env, timeout=CLIENT_DEADLINE_S, cwd=self.h.work)
        os.unlink(path)
        return r

    # -- checks --

    def assertNoValueAnywhere(self, values, where):
        """No planted value in any regular file under the test's root
        (configs, backups, temporaries, the store, the log)."""
        for dirpath, _dirs, names in os.walk(self.h.root):
            for name in names:
                path = os.path.join(dirpath, name)
                if not stat.S_ISREG(os.lstat(path).st_mode):
                    continue
                with open(path, "rb") as f:
                    data = f.read()
                for value in values:
                    self.assertNotInBytes(value.encode(), data,
                                          "%s (%s)" % (path, where))

    def assertScanFinds(self, expected, values):
        r = self.kw_at("mcp", "scan", "--json")
        self.assertRc(r, EXIT_FOUND)
        for value in values:
            self.assertNotInBytes(value.encode(), r.out + r.err.encode(),
                                  "mcp scan --json's output")
        self.assertEqual(findings_of(r.out), set(expected), r)
        r = self.kw_at("mcp", "scan")
        self.assertRc(r, EXIT_FOUND)
        for value in values:
            self.assertNotInBytes(value.encode(), r.out + r.err.encode(),
                                  "mcp scan's output")

    def parse(self, cfg, text):
        if cfg.path.endswith(os.path.join(".vscode", "mcp.json")):
            text = strip_jsonc(text)
        return json.loads(text)

    def assertRewritten(self, cfg, secret_vars):
        """cfg's file after import: servers holding a credential launch
        through `keyward run`, everything else is as it was."""
        with open(cfg.path, "rb") as f:
            raw = f.read()
        text = raw.decode("utf-8")
        new = self.parse(cfg, text)
        self.assertEqual(stat.S_IMODE(os.stat(cfg.path).st_mode), cfg.mode,
                         "import changed %s's mode" % cfg.path)
        self.assertTrue(indent_ok(text, cfg.indent),
                        "import changed %s's indentation:\n%s"
                        % (cfg.path, text))
        self.assertTrue(text.endswith("\n"), cfg.path)
        old = json.loads(json.dumps(cfg.doc))
        rewritten = {}
        for keys in cfg.maps:
            old_map, new_map = old, new
            for k in keys:
                old_map, new_map = old_map[k], new_map[k]
            self.assertEqual(list(new_map), list(old_map), cfg.path)
            for name, old_entry in old_map.items():
                moved = [v for v in secret_vars.get(name, ())]
                if not moved:
                    self.assertEqual(ordered(new_map[name]),
                                     ordered(old_entry),
                                     "%s: server %s changed" % (cfg.path,
                                                                name))
                    continue
                self.assertEntry(cfg.path, name, old_entry, new_map[name],
                                 moved)
                rewritten[name] = new_map[name]
                # compare the rest of the document without the servers
                new_map[name] = old_map[name] = None
        self.assertEqual(ordered(new), ordered(old),
                         "%s: fields outside the rewritten servers changed"
                         % cfg.path)
        return raw, rewritten

    def assertEntry(self, path, name, old, new, moved):
        where = "%s: server %s" % (path, name)
        old_env = old.get("env", {})
        kept_env = [(k, v) for k, v in old_env.items() if k not in moved]
        keys = list(old)
        if not kept_env and "env" not in new:
            keys.remove("env")
        self.assertEqual(list(new), keys, where + ": keys or their order")
        for k in keys:
            if k not in ("command", "args", "env"):
                self.assertEqual(ordered(new[k]), ordered(old[k]),
                                 "%s: %s changed" % (where, k))
        # Where the agent is may be added for keyward run (see
        # SocketInRuntimeDir); nothing else.
        self.assertEqual([(k, v) for k, v in ordered(new.get("env", {}))
                          if k not in AGENT_VARS], kept_env,
                         where + ": env should keep exactly the entries that "
                         "are not credentials")
        self.assertEqual(os.path.realpath(new["command"]), self.keyward,
                         where + ": command is not the keyward in use")
        self.assertTrue(os.path.isabs(new["command"]), where)
        args = new["args"]
        if args[:1] == ["--socket"]:
            args = args[2:]
        self.assertEqual(args[:1], ["run"], where)
        self.assertIn("--", args, where)
        sep = args.index("--")
        self.assertEqual(args[sep + 1:], [old["command"]] + old["args"],
                         where + ": the old command and args follow --")
        opts = args[1:sep]
        self.assertEqual(len(opts) % 2, 0, where + ": " + repr(opts))
        pairs = [(opts[i], opts[i + 1]) for i in range(0, len(opts), 2)]
        if "--narrow" in self.import_flags:
            tokens = [p for p in pairs if p[0] == "--token-file"]
            self.assertEqual(len(tokens), 1, where + ": " + repr(opts))
            self.assertTokenFile(where, tokens[0][1])
            pairs.remove(tokens[0])
        slug = name
        if not SEGMENT_RE.fullmatch(name) or name in (".", ".."):
            # not a name segment as it is: import makes one of it
            ref = pairs[0][1].split("=", 1)[-1]
            slug = ref[len(PREFIX):ref.rfind("/")]
            self.assertTrue(ref.startswith(PREFIX) and
                            SEGMENT_RE.fullmatch(slug) and
                            slug not in (".", ".."), where + ": " + ref)
        self.slugs[name] = slug
        self.assertEqual(
            sorted(pairs),
            sorted(("--env", "%s=%s%s/%s" % (v, PREFIX, slug, v))
                   for v in moved),
            where + ": one --env VAR=mcp/SERVER/VAR per credential")

    def assertTokenFile(self, where, path):
        """--narrow's token: in a private regular file, never in the
        config."""
        self.assertTrue(os.path.isabs(path), where + ": " + path)
        st = os.lstat(path)
        self.assertTrue(stat.S_ISREG(st.st_mode), where + ": " + path)
        self.assertEqual(stat.S_IMODE(st.st_mode) & 0o077, 0,
                         where + ": others may read " + path)

    # -- the whole path, for one client's files --

    def journey(self, files, project_files=()):
        """files: ConfigFiles (already holding Servers' entries); every
        Server of them is listed in self.servers."""
        for cfg in list(files) + list(project_files):
            self.write(cfg)
        secret_values = [v for s in self.servers
                         for v in s.secret_env.values()]
        expected = {(s.name, v) for s in self.servers for v in s.secret_env}
        self.assertScanFinds(expected, secret_values)

        by_server = {s.name: s for s in self.servers}
        started = {}
        for cfg in list(files) + list(project_files):
            names = [n for n, _ in cfg.servers()]
            secret_vars = {n: list(by_server[n].secret_env)
                           for n in names if n in by_server}
            self.assertDryRun(cfg, secret_vars, secret_values)
            r = self.kw_at("mcp", "import", cfg.path, "--yes",
                           *self.import_flags)
            for value in secret_values:
                self.assertNotInBytes(value.encode(),
                                      r.out + r.err.encode(),
                                      "mcp import's output")
            if r.rc != 0 and cfg.comments:
                self.assertRefusedJsonc(cfg, r)
                return
            self.assertRc(r, 0)
            # before anything else writes: a .bak or a temporary file
            # holding the old text would be caught here
            self.assertNoValueAnywhere(
                [v for n in secret_vars
                 for v in by_server[n].secret_env.values()],
                "after importing %s" % cfg.path)
            raw, rewritten = self.assertRewritten(cfg, secret_vars)
            for comment in cfg.comments:
                self.assertIn(comment, raw.decode("utf-8"),
                              "import dropped a comment of %s" % cfg.path)
            started.update(rewritten)
            again = self.kw_at("mcp", "import", cfg.path, "--yes",
                               *self.import_flags)
            self.assertRc(again, 0)
            with open(cfg.path, "rb") as f:
                self.assertEqual(f.read(), raw,
                                 "a second import changed %s" % cfg.path)
        self.assertNoValueAnywhere(secret_values, "after import")

        for server in self.servers:
            for var, value in server.secret_env.items():
                self.assertEqual(self.get_cli(self.secret_name(server, var)),
                                 value.encode())
        self.assertEqual(sorted(started), sorted(by_server))
        for name, entry in started.items():
            server = by_server[name]
            names = sorted(server.secret_env) + sorted(server.plain_env)
            res = self.start_as_client(entry, names)
            self.assertEqual(res["tools"], ["env_hash"], res)
            want = {v: sha256_hex(x) for v, x in server.secret_env.items()}
            want.update({v: sha256_hex(x)
                         for v, x in server.plain_env.items()})
            self.assertEqual(res["hashes"], want,
                             "server %s did not get its environment" % name)
            self.assertReadForRun(server)
        r = self.kw_at("mcp", "scan", "--json")
        self.assertRc(r, 0)
        self.assertEqual(findings_of(r.out), set(), r)
        return started

    def secret_name(self, server, var):
        """Where import stored server's var."""
        return PREFIX + self.slugs[server.name] + "/" + var

    def assertReadForRun(self, server):
        """Each credential the started server got was read by keyward
        run, and the audit log says so."""
        for var in server.secret_env:
            name = self.secret_name(server, var)
            r = self.cli("audit", "--json", "--name", name, "--op",
                         "secret.get")
            self.assertRc(r, 0)
            rows = harness.parse_json_lines(r.out)
            self.assertIn(("ok", "read for keyward run"),
                          [(row["outcome"], row["reason"]) for row in rows],
                          "no audit row of keyward run reading %s: %r"
                          % (name, rows))

    def assertDryRun(self, cfg, secret_vars, values):
        """--dry-run prints the change with values redacted and changes
        nothing: not the file, not the store."""
        with open(cfg.path, "rb") as f:
            before = f.read()
        stored = self.stored()
        r = self.kw_at("mcp", "import", cfg.path, "--dry-run")
        for value in values:
            self.assertNotInBytes(value.encode(), r.out + r.err.encode(),
                                  "mcp import --dry-run's output")
        with open(cfg.path, "rb") as f:
            self.assertEqual(f.read(), before,
                             "--dry-run changed %s" % cfg.path)
        self.assertEqual(self.stored(), stored, "--dry-run stored secrets")
        if r.rc != 0 and cfg.comments:
            return
        self.assertRc(r, 0)
        if any(secret_vars.values()):
            self.assertIn(b"<redacted>", r.out, r)

    def stored(self):
        """Every secret in the store, with its versions (never values)."""
        r = self.cli("ls", "--json")
        self.assertRc(r, 0)
        return harness.parse_json_lines(r.out)

    def assertRefusedJsonc(self, cfg, r):
        """The issue lets import refuse JSON with comments, with a clear
        message and the file left as it was."""
        self.assertIn("comment", (r.err + r.text).lower(),
                      "refused %s without saying why: %r" % (cfg.path, r))
        with open(cfg.path) as f:
            self.assertEqual(f.read(), cfg.text,
                             "a refused import changed %s" % cfg.path)

    def server(self, name, secret_env, plain_env, **kw):
        s = Server(name, self.script, secret_env, plain_env, **kw)
        self.servers.append(s)
        return s


class McpClients(ClientConfigCase):
    """Each client's config: scan, import, start as the client would."""

    # -- one test per client --

    def test_claude_desktop(self):
        self.claude_desktop(".config", "Claude")

    def test_claude_desktop_macos_path(self):
        # Where the macOS app keeps it; scan looks there on every system.
        self.claude_desktop("Library", "Application Support", "Claude")

    def claude_desktop(self, *where):
        self.servers = []
        github = self.server(
            "github", {"GITHUB_PERSONAL_ACCESS_TOKEN": github_classic()},
            {"GITHUB_TOOLSETS": "repos,issues,pull_requests",
             "GITHUB_API_URL": "https://api.github.com"})
        slack = self.server(
            "slack", {"SLACK_BOT_TOKEN": slack_bot()},
            {"SLACK_TEAM_ID": "T01ABCDE2FG", "LOG_LEVEL": "info"},
            extra_args=("--transport", "stdio"))
        doc = {
            "mcpServers": {
                "filesystem": {"command": "npx", "args": [
                    "-y", "@modelcontextprotocol/server-filesystem",
                    "/home/user/Documents"]},
                "github": github.entry,
                "slack": slack.entry,
            },
            "globalShortcut": "Ctrl+Alt+Space",
            "preferences": {"menuBarEnabled": False,
                            "quickEntryShortcut": "double-tap-option"},
        }
        cfg = ConfigFile(self.user_path(*where,
                                        "claude_desktop_config.json"),
                         doc, [("mcpServers",)], 2)
        self.journey([cfg])

    def test_claude_code(self):
        self.servers = []
        sentry = self.server(
            "sentry", {"SENTRY_AUTH_TOKEN": sentry_token()},
            {"SENTRY_HOST": "https://sentry.io"},
            before={"type": "stdio"})
        gitlab = self.server(
            "gitlab", {"GITLAB_PERSONAL_ACCESS_TOKEN": gitlab_pat()},
            {"GITLAB_API_URL": "https://gitlab.example.com/api/v4"},
            before={"type": "stdio"})
        anthropic = self.server(
            "anthropic-tools", {"ANTHROPIC_API_KEY": anthropic_key()},
            {"ANTHROPIC_BASE_URL": "https://api.anthropic.com",
             "MEMORY_FILE_PATH": self.project_path("memory.json")},
            before={"type": "stdio"})
        project = os.path.realpath(self.project)
        user = {
            "numStartups": 42,
            "installMethod": "native",
            "autoUpdates": True,
            "theme": "dark",
            "userID": secrets.token_hex(32),
            "mcpServers": {"sentry": sentry.entry},
            "projects": {
                project: {
                    "allowedTools": ["Bash(npm test:*)"],
                    "mcpContextUris": [],
                    "mcpServers": {"gitlab": gitlab.entry},
                    "enabledMcpjsonServers": ["anthropic-tools"],
                    "disabledMcpjsonServers": [],
                    "hasTrustDialogAccepted": True,
                    "lastCost": 0.4213,
                },
            },
            "hasCompletedOnboarding": True,
        }
        shared = {"mcpServers": {
            "anthropic-tools": anthropic.entry,
            "docs": {"type": "http", "url": "https://docs.example.com/mcp"},
        }}
        self.journey(
            [ConfigFile(self.user_path(".claude.json"), user,
                        [("mcpServers",),
                         ("projects", project, "mcpServers")], 2)],
            [ConfigFile(self.project_path(".mcp.json"), shared,
                        [("mcpServers",)], 2, mode=0o644)])

    def test_server_names_as_people_write_them(self):
        # Claude Desktop takes any string as a server's name; the secrets
        # need a name of their own, and the servers still get them.
        self.servers = []
        brave = self.server("Brave Search",
                            {"BRAVE_API_KEY": "BSA" + rand(ALNUM, 28)},
                            {"LOG_LEVEL": "info"})
        notion = self.server("notion.so (work)",
                             {"NOTION_TOKEN": "ntn_" + rand(ALNUM, 46)},
                             {"NOTION_VERSION": "2022-06-28"})
        doc = {"mcpServers": {"Brave Search": brave.entry,
                              "notion.so (work)": notion.entry}}
        self.journey([ConfigFile(self.user_path(".config", "Claude",
                                                "claude_desktop_config.json"),
                                 doc, [("mcpServers",)], 2)])

    def test_cursor(self):
        self.servers = []
        aws = self.server(
            "aws", {"AWS_ACCESS_KEY_ID": aws_key_id(),
                    "AWS_SECRET_ACCESS_KEY": aws_secret()},
            {"AWS_REGION": "eu-west-1", "LOG_LEVEL": "warn"})
        maps = self.server(
            "maps", {"GOOGLE_MAPS_API_KEY": google_key()}, {},
            after={"envFile": "${workspaceFolder}/.env.local"})
        doc = {"mcpServers": {
            "aws": aws.entry,
            "context7": remote_with_reference(),
            "maps": maps.entry,
        }}
        self.journey([ConfigFile(self.user_path(".cursor", "mcp.json"), doc,
                                 [("mcpServers",)], 2)])

    def vscode_doc(self):
        self.servers = []
        openai = self.server(
            "openai", {"OPENAI_API_KEY": openai_key()},
            {"OPENAI_BASE_URL": "https://api.openai.com/v1",
             "NODE_ENV": "production"},
            before={"type": "stdio"})
        return {
            "inputs": [{"type": "promptString", "id": "perplexity-key",
                        "description": "Perplexity API Key",
                        "password": True}],
            "servers": {
                "openai": openai.entry,
                "perplexity": {"type": "stdio", "command": "npx",
                               "args": ["-y", "server-perplexity-ask"],
                               "env": {"PERPLEXITY_API_KEY":
                                       "${input:perplexity-key}"}},
            },
        }

    def test_vscode(self):
        doc = self.vscode_doc()
        self.journey([], [ConfigFile(self.project_path(".vscode",
                                                       "mcp.json"),
                                     doc, [("servers",)], "\t",
                                     mode=0o644)])

    def test_vscode_with_comments(self):
        # VS Code's mcp.json is JSONC: comments of both kinds and trailing
        # commas. Import keeps the comments, or refuses with a clear
        # message and leaves the file as it was.
        doc = self.vscode_doc()
        plain = json.dumps(doc, indent="\t") + "\n"
        edits = [
            ('\t"servers": {\n',
             '\t// Servers for this workspace\n\t"servers": {\n'),
            ('\t\t"openai": {\n',
             '\t\t/* pasted from the vendor\'s README */\n'
             '\t\t"openai": {\n'),
            ('"password": true\n', '"password": true, // asked once\n'),
            ('"%s"\n' % self.script, '"%s",\n' % self.script),
            ("\t}\n}\n", "\t},\n}\n"),
        ]
        text = plain
        for old, new in edits:
            self.assertEqual(text.count(old), 1, old)
            text = text.replace(old, new)
        self.assertEqual(json.loads(strip_jsonc(text)), doc)
        self.journey([], [ConfigFile(
            self.project_path(".vscode", "mcp.json"), doc, [("servers",)],
            "\t", mode=0o644, text=text,
            comments=("// Servers for this workspace",
                      "/* pasted from the vendor's README */",
                      "// asked once"))])

    def test_windsurf(self):
        self.servers = []
        brave = self.server(
            "brave-search", {"BRAVE_API_KEY": "BSA" + rand(ALNUM, 28)}, {},
            after={"disabled": False,
                   "disabledTools": ["brave_local_search"]})
        postgres = self.server(
            "postgres", {"PGPASSWORD": password()},
            {"PGUSER": "app", "PGHOST": "localhost"},
            extra_args=("postgresql://localhost/mydb",))
        ghe = self.server(
            "github-enterprise", {"GH_ENTERPRISE": github_fine_grained()},
            {"GH_HOST": "github.example.com"})
        doc = {"mcpServers": {
            "brave-search": brave.entry,
            "postgres": postgres.entry,
            "github-enterprise": ghe.entry,
            "docs": {"serverUrl": "https://docs.example.com/mcp"},
        }}
        self.journey([ConfigFile(self.user_path(".codeium", "windsurf",
                                                "mcp_config.json"),
                                 doc, [("mcpServers",)], 4)])

    def test_gemini_cli(self):
        self.servers = []
        stripe = self.server(
            "stripe", {"STRIPE_SECRET_KEY": stripe_key()}, {},
            after={"cwd": self.project, "timeout": 30000, "trust": False,
                   "includeTools": ["env_hash"]})
        notes = self.server(
            "notes", {"UPSTREAM_BEARER": opaque()},
            {"MEMORY_FILE_PATH": self.user_path("notes.json"),
             "LOG_LEVEL": "debug"},
            after={"description": "Personal notes"})
        doc = {
            "general": {"vimMode": True, "preferredEditor": "code"},
            "ui": {"theme": "GitHub", "hideBanner": True},
            "mcp": {"allowed": ["stripe", "notes"]},
            "mcpServers": {"stripe": stripe.entry, "notes": notes.entry},
            "telemetry": {"enabled": False},
        }
        self.journey([ConfigFile(self.user_path(".gemini", "settings.json"),
                                 doc, [("mcpServers",)], 2)])

    def test_narrow(self):
        # --narrow: each server's keyward run presents its own client
        # token, which reads that server's secrets and nothing else.
        self.import_flags = ("--narrow",)
        self.servers = []
        github = self.server(
            "github", {"GITHUB_PERSONAL_ACCESS_TOKEN": github_classic()},
            {"LOG_LEVEL": "info"})
        stripe = self.server(
            "stripe", {"STRIPE_SECRET_KEY": stripe_key()},
            {"STRIPE_API_VERSION": "2024-06-20"})
        doc = {"mcpServers": {"github": github.entry,
                              "stripe": stripe.entry}}
        cfg = ConfigFile(self.user_path(".cursor", "mcp.json"), doc,
                         [("mcpServers",)], 2)
        started = self.journey([cfg])
        with open(cfg.path, "rb") as f:
            config = f.read()
        for dirpath, _dirs, names in os.walk(self.h.home):
            for leaf in names:
                if leaf.endswith(".token"):
                    with open(os.path.join(dirpath, leaf), "rb") as f:
                        self.assertNotInBytes(f.read().strip(), config,
                                              cfg.path)
        # github's entry, pointed at stripe's secret: keyward run must
        # refuse it and start nothing.
        entry = json.loads(json.dumps(started["github"]))
        args = entry["args"]
        i = args.index("GITHUB_PERSONAL_ACCESS_TOKEN=%sgithub/"
                       "GITHUB_PERSONAL_ACCESS_TOKEN" % PREFIX)
        args[i] = "STOLEN=%sstripe/STRIPE_SECRET_KEY" % PREFIX
        r = self.try_as_client(entry, ["STOLEN"])
        self.assertNotEqual(r.rc, 0, r)
        self.assertNotIn(b'"hashes"', r.out, r)
        self.assertNotInBytes(stripe.secret_env["STRIPE_SECRET_KEY"].encode(),
                              r.out + r.err.encode(), "the client's output")
        self.assertIn("%sstripe/STRIPE_SECRET_KEY" % PREFIX, r.err, r)
        r = self.cli("audit", "--json", "--name",
                     PREFIX + "stripe/STRIPE_SECRET_KEY", "--outcome",
                     "denied")
        self.assertRc(r, 0)
        self.assertTrue(harness.parse_json_lines(r.out),
                        "the refused read is not in the audit log")

    def test_same_server_name_in_two_configs(self):
        # A user-scope and a project-scope server of the same name with
        # different tokens (Claude Code allows both). After importing both
        # files each must still start with its own token, or the second
        # import must refuse and leave its file as it was: never may one
        # server silently get the other's credential.
        user_token, project_token = github_classic(), github_classic()
        user = Server("github", self.script,
                      {"GITHUB_PERSONAL_ACCESS_TOKEN": user_token}, {})
        project = Server("github", self.script,
                         {"GITHUB_PERSONAL_ACCESS_TOKEN": project_token}, {})
        files = [ConfigFile(self.user_path(".claude.json"),
                            {"mcpServers": {"github": user.entry}},
                            [("mcpServers",)], 2),
                 ConfigFile(self.project_path(".mcp.json"),
                            {"mcpServers": {"github": project.entry}},
                            [("mcpServers",)], 2)]
        for cfg in files:
            self.write(cfg)
        r = self.kw_at("mcp", "import", files[0].path, "--yes")
        self.assertRc(r, 0)
        r = self.kw_at("mcp", "import", files[1].path, "--yes")
        for value in (user_token, project_token):
            self.assertNotInBytes(value.encode(), r.out + r.err.encode(),
                                  "mcp import's output")
        if r.rc != 0:
            self.assertIn("github", r.err + r.text, r)
            with open(files[1].path) as f:
                self.assertEqual(f.read(), files[1].text,
                                 "a refused import changed the file")
            servers = [(files[0], user)]
        else:
            servers = [(files[0], user), (files[1], project)]
        for cfg, server in servers:
            with open(cfg.path) as f:
                entry = json.load(f)["mcpServers"]["github"]
            res = self.start_as_client(entry,
                                       ["GITHUB_PERSONAL_ACCESS_TOKEN"])
            self.assertEqual(
                res["hashes"]["GITHUB_PERSONAL_ACCESS_TOKEN"],
                sha256_hex(server.secret_env["GITHUB_PERSONAL_ACCESS_TOKEN"]),
                "%s's server started with another token" % cfg.path)

    def test_server_logging_its_token_is_masked(self):
        # A server that logs its configuration on stderr, as some do: the
        # client (which keeps server stderr in its logs) sees
        # <redacted:VAR>, while the server itself still has the value.
        self.servers = []
        token = github_classic()
        github = self.server(
            "github", {"GITHUB_PERSONAL_ACCESS_TOKEN": token},
            {"LOG_LEVEL": "debug"},
            extra_args=("--log-env=GITHUB_PERSONAL_ACCESS_TOKEN",
                        "--log-env=LOG_LEVEL"))
        cfg = ConfigFile(self.user_path(".cursor", "mcp.json"),
                         {"mcpServers": {"github": github.entry}},
                         [("mcpServers",)], 2)
        started = self.journey([cfg])
        r = self.try_as_client(started["github"],
                               ["GITHUB_PERSONAL_ACCESS_TOKEN"])
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(json.loads(r.out)["hashes"],
                         {"GITHUB_PERSONAL_ACCESS_TOKEN": sha256_hex(token)})
        self.assertNotInBytes(token.encode(), r.out + r.err.encode(),
                              "what the client got from the server")
        self.assertIn("server: GITHUB_PERSONAL_ACCESS_TOKEN=<redacted:"
                      "GITHUB_PERSONAL_ACCESS_TOKEN>\n", r.err, r)
        self.assertIn("server: LOG_LEVEL=debug\n", r.err, r)

    def test_remote_server_through_the_proxy(self):
        # A remote server's plaintext header moves into keyward, and the
        # entry launches `keyward mcp proxy` instead.
        self.servers = []
        aws = self.server("aws", {"AWS_SECRET_ACCESS_KEY": aws_secret()},
                          {"AWS_REGION": "us-east-1"})
        bearer = "Bearer " + opaque()
        remote = {"url": "https://mcp.example.com/mcp",
                  "headers": {"Authorization": bearer}}
        doc = {"mcpServers": {"aws": aws.entry, "remote": remote}}
        cfg = ConfigFile(self.user_path(".cursor", "mcp.json"), doc,
                         [("mcpServers",)], 2)
        self.write(cfg)
        values = list(aws.secret_env.values()) + [bearer]
        self.assertScanFinds({("aws", "AWS_SECRET_ACCESS_KEY"),
                              ("remote", "Authorization")}, values)
        r = self.kw_at("mcp", "import", cfg.path, "--yes")
        self.assertRc(r, 0)
        self.assertIn("remote: to launch through keyward mcp proxy",
                      r.text)
        with open(cfg.path) as f:
            text = f.read()
        self.assertNotIn(bearer, text)
        new = json.loads(text)
        got = new["mcpServers"]["remote"]
        self.assertEqual(os.path.realpath(got["command"]), self.keyward)
        self.assertEqual(got["args"][-5:], [
            "mcp", "proxy", "https://mcp.example.com/mcp", "--header",
            "Authorization: {{keyward://mcp/remote/Authorization}}"])
        self.assertEqual(os.path.realpath(new["mcpServers"]["aws"]
                                          ["command"]), self.keyward)
        r = self.kw_at("mcp", "scan", "--json")
        self.assertRc(r, 0)
        self.assertEqual(findings_of(r.out), set())


class SocketInRuntimeDir(ClientConfigCase):
    """The agent where the packaged systemd socket unit puts it,
    $XDG_RUNTIME_DIR/keyward/agent.sock, found by the user's CLI through
    XDG_RUNTIME_DIR. An MCP client on the SDK passes its servers only
    HOME, LOGNAME, PATH, SHELL, TERM and USER, so the rewritten entry
    itself must lead `keyward run` to the agent."""

    START = False

    def setUp(self):
        super().setUp()
        run_dir = os.path.join(self.h.root, "run")
        os.makedirs(os.path.join(run_dir, "keyward"), 0o700)
        self.h.socket = os.path.join(run_dir, "keyward", "agent.sock")
        self.h.env.pop("KEYWARD_SOCKET")
        self.h.env["XDG_RUNTIME_DIR"] = run_dir
        self.d.start()

    def test_claude_desktop(self):
        self.servers = []
        github = self.server(
            "github", {"GITHUB_PERSONAL_ACCESS_TOKEN": github_classic()},
            {"LOG_LEVEL": "info"})
        doc = {"mcpServers": {"github": github.entry}}
        self.journey([ConfigFile(self.user_path(".config", "Claude",
                                                "claude_desktop_config.json"),
                                 doc, [("mcpServers",)], 2)])


if __name__ == "__main__":
    import unittest
    unittest.main()
