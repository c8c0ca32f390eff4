"""The keyward CLI against a real keywardd: put/get, versions and stages,
listing, deletion, limits, names and exit codes."""

import base64
import json
import os
import pty
import re
import select
import shutil
import subprocess
import unittest

import harness
from harness import (DaemonTestCase, EXIT_DENIED, EXIT_ERROR, EXIT_NOTFOUND,
                     EXIT_USAGE, fd_with, parse_json_lines, parse_json_list,
                     run, spawn)

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
ALL_BYTES = bytes(range(256))


def dispatch_commands():
    """The command names of the CLI's dispatch table (cli/main.c), so a
    command added there without help fails the help tests."""
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "..", "..", "cli", "main.c")
    with open(src) as f:
        text = f.read()
    table = text[text.index("commands[] = {"):]
    table = table[:table.index("};")]
    names = re.findall(r'\{ "([a-z]+)", cmd_[a-z_]+ \}', table)
    assert len(names) >= 25, names
    return names


def listed_names(result):
    """Names from `keyward ls` text output (first column; a header line
    starting with NAME is allowed)."""
    names = [line.split()[0] for line in result.text.splitlines()
             if line.strip()]
    if names and names[0] == "NAME":
        names = names[1:]
    return names


class CliRoundTrip(DaemonTestCase):

    def roundtrip(self, name, value, version=1):
        extra = () if value else ("--allow-empty",)
        r = self.cli("put", name, *extra, input=value)
        self.assertRc(r, 0)
        self.assertEqual(r.text.strip(), "%s: version %d" % (name, version),
                         r)
        self.assertEqual(self.get_cli(name), value)

    def test_text(self):
        self.roundtrip("app/text", b"hello, keyward")
        self.roundtrip("app/multiline", b"line one\nline two\n\tand three")

    def test_binary_all_byte_values(self):
        # NUL, newline and every other byte, twice, in two orders.
        value = ALL_BYTES + bytes(reversed(ALL_BYTES))
        self.roundtrip("bin/all", value)

    def test_empty_value(self):
        self.roundtrip("app/empty", b"")

    def test_max_value_size(self):
        value = os.urandom(65536)
        self.roundtrip("big/max", value)

    def test_over_max_value_size_rejected(self):
        keep = os.urandom(100)
        self.put_cli("big/over", keep)
        r = self.cli("put", "big/over", input=os.urandom(65537))
        self.assertRc(r, EXIT_ERROR)
        self.assertTrue(any(w in r.err.lower() for w in
                            ("too_big", "too big", "larger", "max_value")),
                        "stderr does not say the value is too big: %r" % r)
        self.assertEqual(r.out, b"", r)
        # Nothing half-written: still one version, the old value current.
        self.assertEqual(self.get_cli("big/over"), keep)
        r = self.cli("versions", "big/over", "--json")
        self.assertRc(r, 0)
        self.assertEqual(len(parse_json_list(r.out, "versions")), 1, r)
        # The rejected name must not exist if it never had a version.
        r = self.cli("put", "big/never", input=b"x" * 65537)
        self.assertRc(r, EXIT_ERROR)
        self.assertRc(self.cli("get", "big/never"), EXIT_NOTFOUND)

    def test_generate(self):
        """--format raw: N random bytes made by the agent."""
        r = self.cli("put", "gen/key", "--generate", "32", "--format", "raw")
        self.assertRc(r, 0)
        self.assertEqual(r.text.strip(), "gen/key: version 1", r)
        first = self.get_cli("gen/key")
        self.assertEqual(len(first), 32)
        r = self.cli("put", "gen/key", "--format", "raw", "--generate", "32")
        self.assertRc(r, 0)
        second = self.get_cli("gen/key")
        self.assertEqual(len(second), 32)
        self.assertNotEqual(first, second, "generated values repeat")
        self.assertEqual(self.get_cli("gen/key", "--version", "1"), first)

    def test_empty_input_needs_allow_empty(self):
        """An empty stdin (an unset variable piped in) stores nothing and
        leaves the current value current; --allow-empty stores 0 bytes."""
        self.assertRc(self.cli("put", "e/v", input=b"keep"), 0)
        r = self.cli("put", "e/v")
        self.assertRc(r, EXIT_USAGE)
        self.assertIn("empty", r.err, r)
        self.assertIn("--allow-empty", r.err, r)
        self.assertEqual(self.get_cli("e/v"), b"keep")
        r = self.cli("versions", "e/v", "--json")
        self.assertEqual(len(parse_json_list(r.out, "versions")), 1, r)
        r = self.cli("put", "e/v", "--allow-empty")
        self.assertRc(r, 0)
        self.assertEqual(r.text.strip(), "e/v: version 2", r)
        self.assertEqual(self.get_cli("e/v"), b"")
        self.assertRc(self.cli("put", "e/v", "--allow-empty", "--generate",
                               "8"), EXIT_USAGE)

    def test_get_missing(self):
        r = self.cli("get", "no/such")
        self.assertRc(r, EXIT_NOTFOUND)
        self.assertEqual(r.out, b"")


class CliGenerate(DaemonTestCase):
    """put --generate N [--format F]: a printable value by default, its
    shape and length per format, never printed; refusals."""

    SHAPES = {
        # format: (N, length of the value, its characters)
        "base64url": (32, 43, r"[A-Za-z0-9_-]"),
        "hex": (16, 32, r"[0-9a-f]"),
        "alnum": (40, 40, r"[A-Za-z0-9]"),
    }

    def generate(self, name, *args):
        r = self.cli("put", name, *args)
        self.assertRc(r, 0)
        self.assertEqual(r.out, b"%s: version 1\n" % name.encode(), r)
        self.assertEqual(r.err, "", r)
        return self.get_cli(name)

    def test_formats(self):
        for fmt, (n, length, chars) in self.SHAPES.items():
            with self.subTest(fmt=fmt):
                one = self.generate("gen/%s-1" % fmt, "--generate", str(n),
                                    "--format", fmt)
                two = self.generate("gen/%s-2" % fmt, "--format", fmt,
                                    "--generate", str(n))
                for v in (one, two):
                    self.assertRegex(v.decode(), "^%s{%d}$" % (chars, length))
                self.assertNotEqual(one, two)
        raw = self.generate("gen/raw", "--generate", "48", "--format", "raw")
        self.assertEqual(len(raw), 48)

    def test_default_is_base64url(self):
        v = self.generate("gen/default", "--generate", "32")
        self.assertRegex(v.decode(), r"^[A-Za-z0-9_-]{43}$")
        self.assertEqual(len(base64.urlsafe_b64decode(v + b"=")), 32)
        big = self.generate("gen/big", "--generate", "65536", "--format",
                            "alnum")
        self.assertEqual(len(big), 65536)

    def test_refusals(self):
        cases = [
            (("--format", "hex"), "--format is for --generate"),
            (("--generate", "8", "--format", "base64"), "base64url, hex"),
            (("--generate", "0"), "1-65536"),
            (("--generate", "65537"), "1-65536"),
            (("--generate", "-1"), "1-65536"),
            (("--generate", "8", "--allow-empty"), "--allow-empty"),
        ]
        for args, says in cases:
            with self.subTest(args=args):
                r = self.cli("put", "gen/no", *args, input=b"")
                self.assertRc(r, EXIT_USAGE)
                self.assertIn(says, r.err, r)
        self.assertRc(self.cli("get", "gen/no"), EXIT_NOTFOUND)

    def test_refused_with_data_on_stdin(self):
        """Data on stdin and --generate: which did the user mean? Neither
        is stored (a pipe already written and closed, then a file)."""
        path = os.path.join(self.h.work, "value.txt")
        with open(path, "wb") as f:
            f.write(b"canary-value-not-stored")
        rfd = fd_with(b"canary-value-not-stored")
        try:
            with open(path, "rb") as f:
                for stdin in (rfd, f):
                    proc = spawn([harness.BIN_KEYWARD, "put", "gen/both",
                                  "--generate", "16"], self.h.env,
                                 stdin=stdin, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, cwd=self.h.work)
                    out, err = proc.communicate(timeout=30)
                    self.assertEqual(proc.returncode, EXIT_USAGE, err)
                    self.assertIn(b"stdin must be empty", err)
                    self.assertNotIn(b"canary", out + err)
        finally:
            os.close(rfd)
        self.assertRc(self.cli("get", "gen/both"), EXIT_NOTFOUND)


def read_pty(master):
    """Everything the terminal has received (the writer has exited)."""
    data = b""
    while select.select([master], [], [], 0)[0]:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: no writer left
            break
        if not chunk:
            break
        data += chunk
    return data


class CliGetTerminal(DaemonTestCase):
    """get writes a value to a terminal only when it is text (UTF-8, no
    control bytes but tab, newline, CR); --raw anyway, --base64 encoded.
    A pipe always gets the bytes."""

    # A sample of each kind; valuefmt's unit test has the full table.
    TEXT = {
        "t/lines": b"a\tb\r\nc",
        "t/utf8": "caf\u00e9 \u20ac \U0001f511".encode(),
    }
    BINARY = {
        "b/nul": b"ab\0cd",
        "b/esc": b"\x1b]0;pwned\x07",
        "b/c1": "\u009b2J".encode(),
        "b/latin1": "caf\u00e9".encode("latin-1"),
    }

    def get_tty(self, *args):
        master, slave = pty.openpty()
        try:
            proc = spawn([harness.BIN_KEYWARD, "get"] + list(args),
                         self.h.env, stdin=subprocess.DEVNULL, stdout=slave,
                         stderr=subprocess.PIPE, cwd=self.h.work)
            os.close(slave)
            slave = None
            err = proc.communicate(timeout=30)[1].decode()
            return proc.returncode, read_pty(master), err
        finally:
            if slave is not None:
                os.close(slave)
            os.close(master)

    def setUp(self):
        super().setUp()
        for name, v in list(self.TEXT.items()) + list(self.BINARY.items()):
            self.put_cli(name, v)

    def test_text_to_terminal(self):
        for name, v in self.TEXT.items():
            with self.subTest(name=name):
                rc, out, err = self.get_tty(name)
                self.assertEqual((rc, err), (0, ""))
                # The terminal turns \n into \r\n on output.
                self.assertEqual(out, v.replace(b"\n", b"\r\n"))

    def test_binary_refused_on_terminal(self):
        for name, v in self.BINARY.items():
            with self.subTest(name=name):
                rc, out, err = self.get_tty(name)
                self.assertEqual(rc, EXIT_ERROR, err)
                self.assertEqual(out, b"")
                self.assertIn("--raw", err)
                self.assertIn("--base64", err)
                rc, out, err = self.get_tty(name, "--base64")
                self.assertEqual((rc, err), (0, ""))
                self.assertEqual(base64.b64decode(out.strip()), v)
                rc, out, err = self.get_tty(name, "--raw")
                self.assertEqual((rc, err), (0, ""))
                self.assertEqual(out, v)

    def test_pipe_gets_bytes(self):
        for name, v in self.BINARY.items():
            with self.subTest(name=name):
                self.assertEqual(self.get_cli(name), v)
                r = self.cli("get", name, "--base64")
                self.assertRc(r, 0)
                self.assertEqual(r.out, base64.b64encode(v) + b"\n")
        r = self.cli("get", "b/nul", "--raw", "--base64")
        self.assertRc(r, EXIT_USAGE)
        self.assertEqual(r.out, b"")


class CliTimes(DaemonTestCase):
    """Human output shows times as dates, never as Unix seconds; --json
    keeps the protocol's numbers."""

    UNIX = re.compile(r"(?<![\d.])1[6-9]\d{8}(?![\d.])")
    DATE = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d")

    def test_dates_not_numbers(self):
        self.put_cli("t/a", b"value")
        self.assertRc(self.cli("client", "add", "t-client"), 0)
        key = self.cli("apikey", "create", "--principal", "p", "--ttl", "2d")
        self.assertRc(key, 0)
        self.assertRc(self.cli("schedule", "t/a", "--every", "30d",
                               "--rotator", "random:16"), 0)
        tok = self.cli("token", "issue", "--sub", "s", "--aud",
                       "https://mcp.example", "--ttl", "1h")
        self.assertRc(tok, 0)
        dated = [("ls",), ("versions", "t/a"), ("client", "ls"),
                 ("apikey", "ls"), ("audit",), ("schedule", "ls"),
                 ("rotate", "--status", "t/a")]
        for args in dated + [("status",), ("audit", "stats"),
                             ("audit", "verify")]:
            with self.subTest(args=args):
                r = self.cli(*args)
                self.assertRc(r, 0)
                self.assertNotRegex(r.text + r.err, self.UNIX)
                if args in dated:
                    self.assertRegex(r.text, self.DATE)
        for args, stdin in ((("apikey", "verify"), key.out),
                            (("token", "verify", "--aud",
                              "https://mcp.example"), tok.out)):
            with self.subTest(args=args):
                r = self.cli(*args, input=stdin)
                self.assertRc(r, 0)
                self.assertNotRegex(r.text, self.UNIX)
                self.assertRegex(r.text, self.DATE)
        r = self.cli("token", "verify", "--aud", "https://mcp.example",
                     "--json", input=tok.out)
        self.assertIsInstance(json.loads(r.out)["expires_at"], int)
        r = self.cli("status", "--json")
        self.assertIsInstance(json.loads(r.out)["rotation_checked_at"], int)


class CliVersions(DaemonTestCase):

    def test_stages_after_three_puts(self):
        values = [b"v1-" + os.urandom(8), b"v2-" + os.urandom(8),
                  b"v3-" + os.urandom(8)]
        for i, v in enumerate(values, 1):
            r = self.cli("put", "svc/db", input=v)
            self.assertRc(r, 0)
            self.assertEqual(r.text.strip(), "svc/db: version %d" % i)
        self.assertEqual(self.get_cli("svc/db"), values[2])
        self.assertEqual(self.get_cli("svc/db", "--stage", "current"),
                         values[2])
        self.assertEqual(self.get_cli("svc/db", "--stage", "previous"),
                         values[1])
        for i, v in enumerate(values, 1):
            self.assertEqual(self.get_cli("svc/db", "--version", str(i)), v)

        r = self.cli("versions", "svc/db", "--json")
        self.assertRc(r, 0)
        vers = parse_json_list(r.out, "versions")
        self.assertEqual([v["version"] for v in vers], [3, 2, 1],
                         "versions not newest first: %r" % vers)
        self.assertEqual([v["stage"] for v in vers],
                         ["current", "previous", "retired"], vers)
        for v in vers:
            self.assertRegex(v["created"], RFC3339)
            self.assertNotIn("value", v)

        r = self.cli("versions", "svc/db")
        self.assertRc(r, 0)
        for word in ("current", "previous", "retired"):
            self.assertIn(word, r.text)

    def test_missing_version_and_stage(self):
        self.put_cli("svc/one", b"only")
        self.assertRc(self.cli("get", "svc/one", "--version", "2"),
                      EXIT_NOTFOUND)
        self.assertRc(self.cli("get", "svc/one", "--stage", "previous"),
                      EXIT_NOTFOUND)
        self.assertRc(self.cli("versions", "no/such"), EXIT_NOTFOUND)

    def test_max_versions_prunes_oldest(self):
        # max_versions = 10 in the test config.
        values = [b"value-%02d" % i for i in range(1, 13)]
        for v in values:
            self.put_cli("svc/many", v)
        r = self.cli("versions", "svc/many", "--json")
        self.assertRc(r, 0)
        vers = [v["version"] for v in parse_json_list(r.out, "versions")]
        self.assertLessEqual(len(vers), 10, vers)
        self.assertEqual(vers[0], 12, vers)
        self.assertNotIn(1, vers)
        self.assertNotIn(2, vers)
        self.assertEqual(self.get_cli("svc/many"), values[11])
        self.assertEqual(self.get_cli("svc/many", "--stage", "previous"),
                         values[10])
        self.assertRc(self.cli("get", "svc/many", "--version", "1"),
                      EXIT_NOTFOUND)
        # Versions are never reused after pruning.
        r = self.cli("put", "svc/many", input=b"thirteen")
        self.assertRc(r, 0)
        self.assertEqual(r.text.strip(), "svc/many: version 13")


class CliListAndDelete(DaemonTestCase):

    def setUp(self):
        super().setUp()
        for name in ("a/x", "a/y", "ab", "b/z"):
            self.put_cli(name, b"value of " + name.encode())
        self.put_cli("a/x", b"second")

    def test_ls_all(self):
        r = self.cli("ls")
        self.assertRc(r, 0)
        listed = listed_names(r)
        self.assertEqual(listed, ["a/x", "a/y", "ab", "b/z"], r)
        self.assertNotIn(b"value of", r.out)
        self.assertNotIn(b"second", r.out)

    def test_ls_prefix(self):
        r = self.cli("ls", "a/")
        self.assertRc(r, 0)
        listed = listed_names(r)
        self.assertEqual(listed, ["a/x", "a/y"], r)
        r = self.cli("ls", "a")
        self.assertRc(r, 0)
        listed = listed_names(r)
        self.assertEqual(listed, ["a/x", "a/y", "ab"], r)
        r = self.cli("ls", "zzz/")
        self.assertRc(r, 0)
        self.assertEqual(listed_names(r), [], r)

    def test_ls_json(self):
        r = self.cli("ls", "a/", "--json")
        self.assertRc(r, 0)
        objs = parse_json_lines(r.out)
        self.assertEqual([o["name"] for o in objs], ["a/x", "a/y"], r)
        self.assertEqual(objs[0]["version"], 2)
        self.assertEqual(objs[0]["versions"], 2)
        self.assertEqual(objs[1]["version"], 1)
        self.assertEqual(objs[1]["versions"], 1)
        for o in objs:
            self.assertNotIn("value", o)
        r = self.cli("ls", "--json")
        self.assertRc(r, 0)
        self.assertEqual(len(parse_json_lines(r.out)), 4, r)

    def test_rm(self):
        r = self.cli("rm", "a/x")
        self.assertRc(r, 0)
        r = self.cli("get", "a/x")
        self.assertRc(r, EXIT_NOTFOUND)
        self.assertEqual(r.out, b"")
        self.assertRc(self.cli("get", "a/x", "--version", "1"), EXIT_NOTFOUND)
        self.assertRc(self.cli("versions", "a/x"), EXIT_NOTFOUND)
        r = self.cli("ls", "a/")
        self.assertRc(r, 0)
        listed = listed_names(r)
        self.assertEqual(listed, ["a/y"])
        self.assertRc(self.cli("rm", "a/x"), EXIT_NOTFOUND)
        # Others untouched.
        self.assertEqual(self.get_cli("a/y"), b"value of a/y")

    def test_version_not_reused_after_rm(self):
        # a/x had versions 1 and 2; a new a/x must not be version 1 again.
        self.assertRc(self.cli("rm", "a/x"), 0)
        r = self.cli("put", "a/x", input=b"reborn")
        self.assertRc(r, 0)
        self.assertEqual(r.text.strip(), "a/x: version 3", r)
        self.assertRc(self.cli("get", "a/x", "--version", "1"), EXIT_NOTFOUND)
        self.assertEqual(self.get_cli("a/x"), b"reborn")


class CliNamesAndUsage(DaemonTestCase):

    BAD_NAMES = {
        "../x": "..",
        "a/../b": "..",
        "./a": None,
        "/a": None,
        "a/": None,
        "a//b": None,
        "a b": None,
        "a\tb": None,
        "caf\u00e9": None,
        "a" * 256: None,
    }

    def test_invalid_names_rejected(self):
        for name, must_mention in self.BAD_NAMES.items():
            with self.subTest(name=name[:20]):
                for args in (("put", name), ("get", name), ("rm", name),
                             ("versions", name)):
                    r = self.cli(*args, input=b"canary-value-not-stored")
                    self.assertRc(r, EXIT_ERROR)
                    self.assertIn("name", r.err.lower(),
                                  "stderr does not state the rule: %r" % r)
                    if must_mention:
                        self.assertIn(must_mention, r.err, r)
                    self.assertNotIn("canary-value", r.err)
        r = self.cli("ls", "--json")
        self.assertRc(r, 0)
        self.assertEqual(parse_json_lines(r.out), [],
                         "a bad name was stored: %r" % r)

    def test_longest_name_accepted(self):
        name = "n" * 255
        self.put_cli(name, b"long name")
        self.assertEqual(self.get_cli(name), b"long name")
        name = "A-z_0.9/" + "x" * 10 + "/.hidden-ok"
        self.put_cli(name, b"charset")
        self.assertEqual(self.get_cli(name), b"charset")

    def test_usage_errors(self):
        r = self.cli("frobnicate")
        self.assertRc(r, EXIT_USAGE)
        self.assertTrue(r.err.strip(), r)
        self.assertRc(self.cli(), EXIT_USAGE)
        self.assertRc(self.cli("get"), EXIT_USAGE)
        self.assertRc(self.cli("get", "a", "b", "c"), EXIT_USAGE)
        self.assertRc(self.cli("get", "a", "--version"), EXIT_USAGE)

    def test_help_per_command(self):
        """`keyward help CMD` and `keyward CMD --help` print that
        command's entries of the help, not the whole text; every command
        has some; `keyward help` alone prints everything."""
        full = self.cli("help")
        self.assertRc(full, 0)
        self.assertIn("Commands:", full.text)
        self.assertIn("Exit status:", full.text)
        for cmd in dispatch_commands():
            with self.subTest(cmd=cmd):
                for r in (self.cli("help", cmd), self.cli(cmd, "--help")):
                    self.assertRc(r, 0)
                    entries = [ln for ln in r.text.splitlines()
                               if re.match(r"^  \S", ln)]
                    self.assertTrue(entries, r)
                    for ln in entries:
                        self.assertTrue(ln.startswith("  %s" % cmd), r)
                    self.assertNotIn("Commands:", r.text, r)
                    self.assertLess(len(r.text), len(full.text) / 3, r)
        # --help of a subcommand prints and stops: no agent is asked,
        # nothing is read (import, export and inject went on with no
        # FILE, policy check asked the agent).
        for argv in (("client", "add", "--help"), ("policy", "check",
                     "--help"), ("import", "--help"), ("export", "--help"),
                     ("inject", "--help"), ("mcp", "import", "--help"),
                     ("run", "--help"), ("audit", "verify", "--help")):
            with self.subTest(argv=argv):
                r = self.cli("--socket", "/nonexistent/agent.sock", *argv)
                self.assertRc(r, 0)
                self.assertEqual(r.err, "", r)
        r = self.cli("help", "client")
        self.assertIn("client add", r.text)
        self.assertIn("client revoke", r.text)
        r = self.cli("help", "nosuch")
        self.assertRc(r, EXIT_USAGE)
        self.assertIn("unknown command", r.err, r)
        self.assertRc(self.cli("help", "put", "get"), EXIT_USAGE)

    GROUPS = ["Secrets", "Running programs and MCP configs",
              "Access control", "Tokens and API keys", "Rotation", "Audit",
              "Agent and store", "Help"]

    def test_help_grouped(self):
        """keyward help and --help: the same text, commands under group
        headings in this order, every command of the dispatch table in
        it, and the lines of commands other branches add."""
        full = self.cli("help")
        self.assertRc(full, 0)
        self.assertEqual(self.cli("--help").out, full.out)
        lines = full.text.splitlines()
        heads = [ln for ln in lines if ln in self.GROUPS]
        self.assertEqual(heads, self.GROUPS, full.text)
        group, found = None, {}
        for ln in lines:
            if ln in self.GROUPS:
                group = ln
            m = re.match(r"^  ([a-z]+)", ln)
            if m and group:
                found.setdefault(m.group(1), group)
        for cmd in dispatch_commands():
            self.assertIn(cmd, found, "%s missing from the help" % cmd)
        for cmd, group in (("put", "Secrets"), ("edit", "Secrets"),
                           ("run", "Running programs and MCP configs"),
                           ("policy", "Access control"),
                           ("apikey", "Tokens and API keys"),
                           ("schedule", "Rotation"), ("audit", "Audit"),
                           ("init", "Agent and store"),
                           ("backup", "Agent and store")):
            self.assertEqual(found.get(cmd), group, cmd)
        for usage in ("  policy owner add [PATH]", "  policy owner list",
                      "  backup FILE", "  restore FILE [--force]",
                      "  rekey"):
            self.assertIn("\n" + usage, full.text)

    def test_no_daemon(self):
        self.assertEqual(self.d.stop(), 0)
        for args in (("get", "x"), ("status",), ("ls",)):
            with self.subTest(args=args):
                r = self.cli(*args)
                self.assertRc(r, EXIT_ERROR)
                self.assertTrue(r.err.strip(), r)
        r = self.kw("get", "x")
        self.assertRc(r, EXIT_ERROR)
        self.assertIn("connect", r.err, r)

    def test_status(self):
        r = self.cli("status")
        self.assertRc(r, 0)
        self.assertIn("unlocked", r.text.lower(), r)
        r = self.cli("status", "--json")
        self.assertRc(r, 0)
        st = json.loads(r.out)
        self.assertIs(st["locked"], False, st)
        self.assertEqual(st["mode"], "keyfile", st)

    def test_status_of_a_denied_program(self):
        """A keyward the policy does not name (the installed one, say,
        when init pinned the build's) still learns that the agent runs:
        exit 0 with "denied" and the agent's reason, not exit 4."""
        d = os.path.join(os.path.realpath(self.h.work), "elsewhere")
        os.makedirs(d, 0o755, exist_ok=True)
        other = os.path.join(d, "keyward")
        shutil.copy2(harness.BIN_KEYWARD, other)
        r = run([other, "status"], self.h.env, cwd=self.h.work)
        self.assertRc(r, 0)
        self.assertIn("denied to this program", r.text, r)
        self.assertIn("no policy section matches", r.text, r)
        self.assertIn(other, r.text, r)
        r = run([other, "status", "--json"], self.h.env, cwd=self.h.work)
        self.assertRc(r, 0)
        st = json.loads(r.out)
        self.assertEqual((st["running"], st["denied"]), (True, True), st)
        self.assertIn("no policy section matches", st["reason"], st)
        # Denied commands that act still fail as before.
        self.assertRc(run([other, "ls"], self.h.env, cwd=self.h.work),
                      EXIT_DENIED)


if __name__ == "__main__":
    unittest.main()
