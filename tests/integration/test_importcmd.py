"""`keyward import`, `export`, `inject` and what `init` does about a
plaintext secrets file, against a real keywardd.

- import: a 1,000-entry nested secrets.json round-trips every value;
  --dry-run stores nothing and leaves the source alone; an invalid entry
  aborts with nothing written; existing names are skipped unless
  --overwrite; .env files; --shred zeroes and removes the source only when
  every value reads back equal.
- export: refuses a terminal; JSON and .env round trips through import;
  names a format cannot hold are refused with nothing written.
- inject: renders references with mode 0600 (or --mode), refuses a
  symlink, names the line of a bad reference, replaces the file so that a
  reader never sees a partial one, re-renders on rotation and runs --exec.
- init: a 0755 home is made 0700 so that keywardd starts, and a
  secrets.json found there gets the import command printed.
"""

import hashlib
import json
import os
import pty
import random
import signal
import sqlite3
import string
import subprocess
import threading
import time

from harness import (BIN_KEYWARD, CLI_DEADLINE_S, EXIT_ERROR, EXIT_USAGE,
                     DaemonTestCase, mode_of, parse_json_lines,
                     poll_until, spawn)

ALPHABET = string.ascii_letters + string.digits + " !#%&()*+,-./:;<=>?@[]^_`{|}~"


def random_text(rng, n):
    """Printable text with the bytes quoting gets wrong mixed in."""
    extra = ['"', "'", "\\", "$", "\n", "\t", "é", "€"]
    return "".join(rng.choice(ALPHABET) if rng.random() < 0.9
                   else rng.choice(extra) for _ in range(n))


def flatten(tree, prefix=""):
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out.update(flatten(v, prefix + k + "/"))
        else:
            out[prefix + k] = v
    return out


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class ImportBase(DaemonTestCase):

    def write(self, leaf, data, mode=0o600):
        path = os.path.join(self.h.work, leaf)
        if isinstance(data, str):
            data = data.encode()
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
        return path

    def write_json(self, leaf, tree):
        return self.write(leaf, json.dumps(tree, indent=2))

    def names(self):
        r = self.cli("ls", "--json")
        self.assertRc(r, 0)
        return [e["name"] for e in parse_json_lines(r.out)]

    def export_json(self, *args):
        r = self.cli("export", *args)
        self.assertRc(r, 0)
        return json.loads(r.out)

    def stored_rows(self):
        """Every table but the audit log's, read-only: what an import
        changes when it stores something."""
        db = sqlite3.connect("file:%s?mode=ro" % self.h.db, uri=True)
        try:
            tables = [t for (t,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "ORDER BY name") if not t.startswith("audit")]
            return {t: sorted(db.execute("SELECT * FROM \"%s\"" % t))
                    for t in tables}
        finally:
            db.close()


class ImportJson(ImportBase):

    def test_thousand_nested_round_trip(self):
        rng = random.Random(1300)
        tree = {}
        for i in range(1000):
            svc = tree.setdefault("svc%02d" % (i % 37), {})
            grp = svc.setdefault("g%d" % (i % 3), {})
            grp["key%04d" % i] = random_text(rng, rng.randint(0, 120))
        src = self.write_json("secrets.json", tree)
        r = self.cli("import", src)
        self.assertRc(r, 0)
        self.assertIn("imported 1000 of 1000", r.text)
        self.assertIn("1000 created, 0 overwritten, 0 skipped", r.text)
        # Progress goes to a terminal only: not here.
        self.assertNotIn("importing", r.err)
        # Every value, through export (one connection) ...
        self.assertEqual(self.export_json(), tree)
        # ... and a sample through `keyward get`, byte for byte.
        flat = flatten(tree)
        for name in rng.sample(sorted(flat), 8):
            self.assertEqual(self.get_cli(name), flat[name].encode())
        # The source is left alone without --shred.
        self.assertTrue(os.path.exists(src))

    def test_prefix_and_values_never_printed(self):
        value = "ghp_" + "Z" * 36
        src = self.write_json("s.json", {"github": {"token": value}})
        r = self.cli("import", src, "--prefix", "mcp/")
        self.assertRc(r, 0)
        self.assertEqual(self.get_cli("mcp/github/token"), value.encode())
        self.assertNotIn(value, r.text + r.err)

    def test_dry_run_changes_nothing(self):
        self.put_cli("app/old", b"old value")
        src = self.write_json("secrets.json", {"app": {"old": "new value",
                                                       "new": "x"}})
        source_stat = os.stat(src)
        source_sum = sha256_file(src)
        rows = self.stored_rows()
        others = {p: sha256_file(p) for p in self.h.files()
                  if os.path.basename(p) not in (
                      "secrets.db", "secrets.db-wal", "secrets.db-shm",
                      "audit.checkpoints", "keywardd.log")}
        for extra in ([], ["--overwrite"]):
            r = self.cli("import", src, "--dry-run", *extra)
            self.assertRc(r, 0)
            verb = "overwrite" if extra else "skip"
            self.assertIn("would create app/new", r.text)
            self.assertIn("would %s app/old" % verb, r.text)
            self.assertIn("nothing changed", r.text)
            self.assertNotIn("new value", r.text + r.err)
        # No stored row changed (the audit log records the listing), no
        # other file of the home, and not the source.
        self.assertEqual(self.stored_rows(), rows)
        self.assertEqual({p: sha256_file(p) for p in others}, others)
        self.assertEqual(sha256_file(src), source_sum)
        self.assertEqual(os.stat(src).st_mtime_ns, source_stat.st_mtime_ns)
        self.assertEqual(self.get_cli("app/old"), b"old value")
        self.assertEqual(self.names(), ["app/old"])

    def test_invalid_entries_abort_with_nothing_written(self):
        src = self.write(
            "secrets.json",
            '{"ok": "1", "also": {"fine": "2"}, "bad name": "3",'
            ' "port": 8080, "list": ["a"], "flag": true, "nil": null,'
            ' "deep": {"..": "4", "%s": "5"}}' % ("b" * 300))
        rows = self.stored_rows()
        r = self.cli("import", src)
        self.assertRc(r, EXIT_ERROR)
        for name in ("bad name", "port", "list", "flag", "nil", "deep/.."):
            self.assertIn("import %s:" % name, r.err)
        self.assertIn("import deep: a member's name would be longer than "
                      "255 bytes", r.err)
        self.assertIn("nothing imported: 7 entries are not valid", r.err)
        self.assertEqual(self.names(), [])
        self.assertEqual(self.stored_rows(), rows)

    def test_json_syntax_and_duplicates(self):
        cases = {
            '{"a": "secret-one", "a": "secret-two"}': "duplicate",
            '{"a": "secret-one",}': "line 1",
            '["secret-one"]': "top level must be an object",
        }
        for text, want in cases.items():
            src = self.write("bad.json", text)
            r = self.cli("import", src)
            self.assertRc(r, EXIT_ERROR, text)
            self.assertIn(want, r.err)
            self.assertNotIn("secret-", r.err)
        # One name reached two ways.
        src = self.write("twice.json", '{"a/b": "1", "a": {"b": "2"}}')
        r = self.cli("import", src)
        self.assertRc(r, EXIT_ERROR)
        self.assertIn("import a/b: given twice", r.err)
        self.assertEqual(self.names(), [])

    def test_skip_and_overwrite(self):
        self.put_cli("a/b", b"kept")
        src = self.write_json("s.json", {"a": {"b": "replacement"},
                                         "c": "created"})
        r = self.cli("import", src)
        self.assertRc(r, 0)
        self.assertIn("skipped a/b (exists", r.text)
        self.assertIn("1 created, 0 overwritten, 1 skipped", r.text)
        self.assertEqual(self.get_cli("a/b"), b"kept")
        self.assertEqual(self.get_cli("c"), b"created")
        r = self.cli("import", src, "--overwrite")
        self.assertRc(r, 0)
        self.assertIn("0 created, 2 overwritten, 0 skipped", r.text)
        self.assertEqual(self.get_cli("a/b"), b"replacement")
        self.assertEqual(self.get_cli("a/b", "--version", "1"), b"kept")

    def test_partial_failure_lists_done_and_not_done(self):
        # The agent's max_value_bytes (64 KiB here) is only known to it:
        # a bigger value fails its put, and import stops there.
        tree = {"a": "stored", "b": "x" * 65537, "c": "never"}
        src = self.write_json("s.json", tree)
        r = self.cli("import", src)
        self.assertRc(r, EXIT_ERROR)
        self.assertIn("import b:", r.err)
        self.assertIn("imported before the failure (1):\n  a\n", r.err)
        self.assertIn("not imported:\n  b\n  c\n", r.err)
        self.assertEqual(self.names(), ["a"])
        self.assertNotIn("stored", r.err)

    def test_progress_on_a_terminal(self):
        tree = {"k%03d" % i: "v%d" % i for i in range(150)}
        src = self.write_json("s.json", tree)
        master, slave = pty.openpty()
        self.addCleanup(os.close, master)
        try:
            proc = spawn([BIN_KEYWARD, "import", src], self.h.env,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=slave, cwd=self.h.work)
            out, _ = proc.communicate(timeout=CLI_DEADLINE_S)
        finally:
            os.close(slave)
        self.assertEqual(proc.returncode, 0)
        self.assertIn(b"imported 150 of 150", out)
        os.set_blocking(master, False)
        err = [b""]

        def read_some():
            try:
                err[0] += os.read(master, 4096)
            except (BlockingIOError, OSError):
                pass
            return b"importing 150/150 (" in err[0]

        self.assertTrue(poll_until(read_some, CLI_DEADLINE_S), err[0])
        self.assertRegex(err[0].decode(), r"importing 150/150 \(\d+/s\)")

    def test_format_from_name_or_option(self):
        src = self.write("creds", '{"k": "v"}')
        r = self.cli("import", src)
        self.assertRc(r, EXIT_USAGE)
        self.assertIn("--format", r.err)
        r = self.cli("import", src, "--format", "json")
        self.assertRc(r, 0)
        self.assertEqual(self.get_cli("k"), b"v")
        r = self.cli("import", self.write("x.json", "{}"), "--format", "yaml")
        self.assertRc(r, EXIT_USAGE)

    def test_missing_file_and_symlink(self):
        r = self.cli("import", os.path.join(self.h.work, "none.json"))
        self.assertNotEqual(r.rc, 0)
        self.assertIn("none.json", r.err)
        src = self.write_json("real.json", {"k": "v"})
        link = os.path.join(self.h.work, "link.json")
        os.symlink(src, link)
        r = self.cli("import", link)
        self.assertRc(r, EXIT_ERROR)
        self.assertIn("symbolic link", r.err)
        self.assertEqual(self.names(), [])


class ImportDotenv(ImportBase):

    ENV = ("# a comment\n"
           "export GITHUB_TOKEN=ghp_plain\n"
           "SINGLE='it is $HOME'\n"
           "DOUBLE=\"line1\\nline2 \\\"q\\\" \\$x\"\n"
           "SPACED = value with spaces   # trailing comment\n"
           "EMPTY=\n")
    WANT = {
        "GITHUB_TOKEN": b"ghp_plain",
        "SINGLE": b"it is $HOME",
        "DOUBLE": b'line1\nline2 "q" $x',
        "SPACED": b"value with spaces",
        "EMPTY": b"",
    }

    def test_dotenv_names_and_values(self):
        for leaf in (".env", "prod.env", ".env.local"):
            prefix = "app/%s/" % leaf.strip(".").replace(".", "-")
            src = self.write(leaf, self.ENV)
            r = self.cli("import", src, "--prefix", prefix)
            self.assertRc(r, 0, leaf)
            for name, value in self.WANT.items():
                self.assertEqual(self.get_cli(prefix + name), value)

    def test_dotenv_errors_name_the_line(self):
        src = self.write(".env", "A=1\nB=\"unterminated-secret\n")
        r = self.cli("import", src)
        self.assertRc(r, EXIT_ERROR)
        self.assertIn("line 2", r.err)
        self.assertNotIn("unterminated-secret", r.err)
        src = self.write(".env", "A=1\nB=2\nA=3\n")
        r = self.cli("import", src)
        self.assertRc(r, EXIT_ERROR)
        self.assertIn("import A: assigned twice (lines 1 and 3)", r.err)
        self.assertEqual(self.names(), [])


class ImportShred(ImportBase):

    def test_shred_zeroes_and_removes(self):
        tree = {"a": {"b": "one"}, "c": "two" * 1000}
        src = self.write_json("secrets.json", tree)
        size = os.path.getsize(src)
        # An fd kept open sees the bytes the shred leaves in the inode.
        fd = os.open(src, os.O_RDONLY)
        self.addCleanup(os.close, fd)
        r = self.cli("import", src, "--shred")
        self.assertRc(r, 0)
        self.assertIn("shredded", r.text)
        self.assertFalse(os.path.lexists(src))
        self.assertEqual(os.pread(fd, size + 1, 0), b"\0" * size)
        self.assertEqual(self.export_json(), tree)

    def test_mismatch_keeps_the_source(self):
        self.put_cli("a/b", b"something else")
        src = self.write_json("secrets.json", {"a": {"b": "one"}, "c": "x"})
        before = sha256_file(src)
        r = self.cli("import", src, "--shred")
        self.assertRc(r, EXIT_ERROR)
        self.assertIn("import a/b: the store holds another value", r.err)
        self.assertIn("not shredded", r.err)
        self.assertEqual(sha256_file(src), before)
        # With --overwrite the store matches, and the file goes.
        r = self.cli("import", src, "--shred", "--overwrite")
        self.assertRc(r, 0)
        self.assertFalse(os.path.lexists(src))

    def test_file_changed_after_reading_is_kept(self):
        # The agent is stopped, so import blocks on its first request
        # after reading the file (it reads before it connects); the file
        # changes then, and the shred must notice.
        src = self.write_json("secrets.json", {"a": "one"})
        os.kill(self.d.proc.pid, signal.SIGSTOP)
        try:
            proc = spawn([BIN_KEYWARD, "import", src, "--shred"], self.h.env,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=self.h.work)
            self.addCleanup(proc.kill)

            def connected():
                fds = "/proc/%d/fd" % proc.pid
                try:
                    return any(os.readlink(os.path.join(fds, f))
                               .startswith("socket:")
                               for f in os.listdir(fds))
                except OSError:
                    return False

            self.assertTrue(poll_until(connected, CLI_DEADLINE_S))
            with open(src, "a") as f:
                f.write("\n")
        finally:
            os.kill(self.d.proc.pid, signal.SIGCONT)
        out, err = proc.communicate(timeout=CLI_DEADLINE_S)
        self.assertEqual(proc.returncode, EXIT_ERROR, err)
        self.assertIn(b"not shredded: the file changed since it was read",
                      err)
        self.assertTrue(os.path.exists(src))
        self.assertEqual(self.get_cli("a"), b"one")

    def test_shred_refused_with_dry_run(self):
        src = self.write_json("secrets.json", {"a": "1"})
        r = self.cli("import", src, "--shred", "--dry-run")
        self.assertRc(r, EXIT_USAGE)
        self.assertTrue(os.path.exists(src))


class Export(ImportBase):

    def test_refuses_a_terminal(self):
        self.put_cli("k", b"terminal-secret")
        master, slave = pty.openpty()
        self.addCleanup(os.close, master)
        try:
            for extra, rc in (([], EXIT_ERROR), (["--force"], 0)):
                proc = spawn([BIN_KEYWARD, "export"] + extra, self.h.env,
                             stdin=subprocess.DEVNULL, stdout=slave,
                             stderr=subprocess.PIPE, cwd=self.h.work)
                _, err = proc.communicate(timeout=CLI_DEADLINE_S)
                self.assertEqual(proc.returncode, rc, err)
                if rc:
                    self.assertIn(b"terminal", err)
        finally:
            os.close(slave)
        # Only --force wrote to the terminal.
        os.set_blocking(master, False)
        out = [b""]

        def read_some():
            try:
                out[0] += os.read(master, 4096)
            except BlockingIOError:
                pass
            return b"terminal-secret" in out[0]

        self.assertTrue(poll_until(read_some, CLI_DEADLINE_S), out[0])

    def test_json_round_trip_with_prefix(self):
        values = {"p/a": "1", "p/b/c": "two\nlines", "p/b/d": "\u20ac",
                  "p/nul": "x\u0000y", "other": "not exported"}
        for name, value in values.items():
            self.put_cli(name, value.encode())
        r = self.cli("export", "p/")
        self.assertRc(r, 0)
        out = json.loads(r.out)
        self.assertEqual(out, {"a": "1", "b": {"c": "two\nlines",
                                               "d": "\u20ac"},
                               "nul": "x\u0000y"})
        src = self.write("p.json", r.out)
        r = self.cli("import", src, "--prefix", "q/")
        self.assertRc(r, 0)
        for name, value in values.items():
            if name.startswith("p/"):
                self.assertEqual(self.get_cli("q/" + name[2:]),
                                 value.encode())

    def test_dotenv_round_trip(self):
        values = {"A": b"plain", "B": b'q"uo\'te $x \\n', "C": b"l1\nl2\r\t",
                  "D": b""}
        for name, value in values.items():
            self.put_cli("env/" + name, value)
        r = self.cli("export", "env/", "--format", "dotenv")
        self.assertRc(r, 0)
        src = self.write("round.env", r.out)
        r = self.cli("import", src, "--prefix", "back/")
        self.assertRc(r, 0)
        for name, value in values.items():
            self.assertEqual(self.get_cli("back/" + name), value)

    def test_unrepresentable_refused_with_nothing_written(self):
        self.put_cli("x/ok", b"1")
        self.put_cli("x/not/env", b"2")
        self.put_cli("x/BIN", b"a\0b")
        r = self.cli("export", "x/", "--format", "dotenv")
        self.assertRc(r, EXIT_ERROR)
        self.assertEqual(r.out, b"")
        self.assertIn("export x/not/env: not a .env variable name", r.err)
        self.assertIn("export x/BIN: the value holds a NUL", r.err)
        self.put_cli("y/a", b"leaf")
        self.put_cli("y/a/b", b"under it")
        self.put_cli("y/bin", b"\xff\xfe")
        r = self.cli("export", "y/")
        self.assertRc(r, EXIT_ERROR)
        self.assertEqual(r.out, b"")
        self.assertIn("export y/a/b: a value and a folder", r.err)
        self.assertIn("export y/bin: the value is not UTF-8", r.err)
        r = self.cli("export", "y")
        self.assertRc(r, EXIT_USAGE)


class Inject(ImportBase):

    def template(self, text):
        return self.write("app.tmpl", text)

    def test_render_mode_and_references(self):
        self.put_cli("db/password", b"v1")
        self.put_cli("db/password", b"v2")
        self.put_cli("bin/key", b"\x00\x01\xff")
        tmpl = self.template(
            "password={{keyward://db/password}}\n"
            "old = {{ keyward://db/password@1 }}; prev={{\tkeyward://"
            "db/password#previous }}\nkey: {{ keyward://bin/key:base64 }}\n"
            "braces }} stay\n")
        out = os.path.join(self.h.work, "app.conf")
        r = self.cli("inject", "-i", tmpl, "-o", out)
        self.assertRc(r, 0)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), b"password=v2\nold = v1; prev=v1\n"
                             b"key: AAH/\nbraces }} stay\n")
        self.assertEqual(mode_of(out), 0o600)
        self.assertNotIn("v2", r.text + r.err)
        # An existing file gets the mode asked for.
        r = self.cli("inject", "-i", tmpl, "-o", out, "--mode", "0640")
        self.assertRc(r, 0)
        self.assertEqual(mode_of(out), 0o640)
        r = self.cli("inject", "-i", tmpl, "-o", out, "--mode", "4755")
        self.assertRc(r, EXIT_USAGE)

    def test_refuses_symlink(self):
        self.put_cli("k", b"value")
        tmpl = self.template("{{ keyward://k }}")
        target = self.write("target", b"untouched")
        link = os.path.join(self.h.work, "link")
        os.symlink(target, link)
        r = self.cli("inject", "-i", tmpl, "-o", link)
        self.assertRc(r, EXIT_ERROR)
        self.assertIn("link", r.err)
        self.assertTrue(os.path.islink(link))
        with open(target, "rb") as f:
            self.assertEqual(f.read(), b"untouched")

    def test_errors_name_the_line(self):
        self.put_cli("k", b"value")
        out = os.path.join(self.h.work, "out")
        cases = {
            "a\nb\n{{ other }}\n": "line 3",
            "a\n{{ keyward://k\n}}\n": "line 2",
            "{{ keyward://../x }}": "line 1",
            "x {{ keyward://k@0 }}": "line 1",
        }
        for text, want in cases.items():
            r = self.cli("inject", "-i", self.template(text), "-o", out)
            self.assertRc(r, EXIT_ERROR, text)
            self.assertIn(want, r.err)
        r = self.cli("inject", "-i", self.template("\n{{ keyward://none }}"),
                     "-o", out)
        self.assertRc(r, 3)
        self.assertIn("line 2", r.err)
        self.assertFalse(os.path.exists(out))

    def test_reader_never_sees_a_partial_file(self):
        tmpl = self.template("begin\n{{ keyward://big }}\nend\n")
        out = os.path.join(self.h.work, "big.out")
        contents = set()
        rounds = 20

        def render(i):
            value = (b"%02d" % i) * 30000
            self.put_cli("big", value)
            r = self.cli("inject", "-i", tmpl, "-o", out)
            self.assertRc(r, 0)

        contents.update(b"begin\n" + (b"%02d" % i) * 30000 + b"\nend\n"
                        for i in range(rounds))
        render(0)
        seen, bad, stop = [0], [], threading.Event()

        def reader():
            while not stop.is_set():
                with open(out, "rb") as f:
                    data = f.read()
                if data not in contents:
                    bad.append(len(data))
                seen[0] += 1

        t = threading.Thread(target=reader)
        t.start()
        try:
            for i in range(1, rounds):
                render(i)
        finally:
            stop.set()
            t.join()
        self.assertEqual(bad, [], "partial files seen")
        self.assertGreater(seen[0], rounds)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), b"begin\n" + (b"%02d" % (rounds - 1))
                             * 30000 + b"\nend\n")
        # No temporary file left beside it.
        self.assertEqual(sorted(os.listdir(self.h.work)),
                         ["app.tmpl", "big.out"])

    def test_watch_rerenders_and_runs_exec(self):
        self.put_cli("svc/token", b"first")
        self.put_cli("svc/user", b"me")
        r = self.cli("schedule", "svc/token", "--every", "30d", "--rotator",
                     "random:16:hex")
        self.assertRc(r, 0)
        tmpl = self.template("token={{ keyward://svc/token }}\n"
                             "user={{ keyward://svc/user }}\n")
        out = os.path.join(self.h.work, "out.conf")
        copy = os.path.join(self.h.work, "copy.conf")
        proc = spawn([BIN_KEYWARD, "inject", "-i", tmpl, "-o", out,
                      "--watch", "--exec", "cp %s %s" % (out, copy)],
                     self.h.env, stdin=subprocess.DEVNULL,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                     cwd=self.h.work)
        self.addCleanup(proc.kill)
        line = proc.stderr.readline()
        self.assertIn(b"watching 2 secrets", line)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), b"token=first\nuser=me\n")
        self.assertFalse(os.path.exists(copy), "--exec ran before a rotation")
        r = self.cli("rotate", "svc/token", "--wait")
        self.assertRc(r, 0)
        new = self.get_cli("svc/token")
        self.assertNotEqual(new, b"first")
        want = b"token=" + new + b"\nuser=me\n"

        def copied():
            try:
                with open(copy, "rb") as f:
                    return f.read() == want
            except FileNotFoundError:
                return False

        self.assertTrue(poll_until(copied, CLI_DEADLINE_S),
                        "--exec did not copy the re-rendered file")
        with open(out, "rb") as f:
            self.assertEqual(f.read(), want)
        self.assertEqual(mode_of(out), 0o600)
        proc.terminate()
        self.assertEqual(proc.wait(timeout=CLI_DEADLINE_S), 0)
        err = proc.stderr.read().decode()
        self.assertIn("rendered %s again" % out, err)
        self.assertNotIn(new.decode(), err)

    def test_exec_needs_watch(self):
        tmpl = self.template("x")
        out = os.path.join(self.h.work, "o")
        r = self.cli("inject", "-i", tmpl, "-o", out, "--exec", "true")
        self.assertRc(r, EXIT_USAGE)


class InitPlaintext(ImportBase):
    INIT = False
    START = False

    def test_repairs_0755_home_and_points_at_secrets_json(self):
        os.chmod(self.h.home, 0o755)
        plain = os.path.join(self.h.home, "secrets.json")
        with open(plain, "w") as f:
            json.dump({"github": {"token": "ghp_moved"}}, f)
        os.chmod(plain, 0o644)
        r = self.cli("init")
        self.assertRc(r, 0)
        self.assertEqual(mode_of(self.h.home), 0o700)
        self.assertIn("mode 0755", r.err)
        self.assertIn("changed it to 0700", r.err)
        command = "keyward import %s --shred" % plain
        self.assertIn(command, r.text)
        self.assertNotIn("ghp_moved", r.text + r.err)
        # The agent starts on the repaired home, and the printed command
        # moves the file in.
        self.h.write_test_policy()
        self.d.start()
        r = self.cli(*command.split()[1:])
        self.assertRc(r, 0)
        self.assertFalse(os.path.exists(plain))
        self.assertEqual(self.get_cli("github/token"), b"ghp_moved")

    def test_quiet_without_plaintext(self):
        r = self.cli("init")
        self.assertRc(r, 0)
        self.assertNotIn("keyward import", r.text)
        self.assertNotIn("changed it to 0700", r.err)

    def test_symlinked_home_not_followed(self):
        # Only the directory itself is repaired: a symlink in its place
        # is refused, and its target keeps its mode.
        os.unlink(self.h.ini)
        os.rmdir(self.h.home)
        real = os.path.join(self.h.work, "elsewhere")
        os.mkdir(real, 0o755)
        os.symlink(real, self.h.home)
        r = self.cli("init")
        self.assertRc(r, EXIT_ERROR)
        self.assertEqual(mode_of(real), 0o755)
