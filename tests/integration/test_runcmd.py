"""keyward run (issue 13): secrets into a command's environment.

Each test runs `keyward run` against the real agent with a small Python
child (CHILD below) or /bin/cat, and checks what the child saw and what
came out: masking across writes, JSON-RPC passed byte for byte, exit
status and signals, the all-or-nothing start, --watch restarts on
rotation (and their audit rows), --mask none exec'ing in place, .env
files, NUL values and :base64, a locked agent, --token-file's narrowed
principal, and secret.get's purpose member.
"""

import base64
import hashlib
import json
import os
import random
import select
import signal
import string
import subprocess
import sys
import time

import harness
from harness import EXIT_DENIED, EXIT_ERROR, EXIT_LOCKED, EXIT_NOTFOUND

CHILD = r'''
import hashlib, os, signal, sys, time

def h(b):
    return hashlib.sha256(b).hexdigest()

mode = sys.argv[1]
if mode == "bytes":
    # "<VALUE>\n" of VAR, one byte per write, with pauses, on fd
    var, fd = sys.argv[2], int(sys.argv[3])
    for b in b"<" + os.environb[var.encode()] + b">\n":
        os.write(fd, bytes([b]))
        time.sleep(0.02)
elif mode == "prefix":
    # the first bytes of VAR's value, then wait for a line on stdin
    os.write(1, os.environb[sys.argv[2].encode()][:5])
    sys.stdin.readline()
    os.write(1, b"|done\n")
elif mode == "env":
    # VAR=sha256 of each named variable ("-" if unset), and the pid
    out = ["pid=%d" % os.getpid()]
    for var in sys.argv[2:]:
        v = os.environb.get(var.encode())
        out.append("%s=%s" % (var, "-" if v is None else h(v)))
    os.write(1, ("\n".join(out) + "\n").encode())
elif mode == "fds":
    # the descriptors the child was given, beyond 0, 1 and 2
    fds = sorted(int(f) for f in os.listdir("/proc/self/fd"))
    extra = [f for f in fds if f > 2 and os.path.exists(
        "/proc/self/fd/%d" % f)]
    os.write(1, ("fds=%s\n" % extra).encode())
elif mode == "marker":
    open(sys.argv[2], "w").close()
elif mode == "exit":
    sys.exit(int(sys.argv[2]))
elif mode == "killself":
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(60)
elif mode == "signals":
    def on_usr1(signum, frame):
        os.write(1, b"usr1\n")
        sys.exit(5)
    signal.signal(signal.SIGUSR1, on_usr1)
    os.write(1, b"ready\n")
    while True:
        time.sleep(1)
elif mode == "pid":
    os.write(1, b"pid=%d\n" % os.getpid())
    while True:
        time.sleep(1)
elif mode in ("serve", "stubborn"):
    # one line per start: the hash of VAR; then wait to be stopped
    # ("stubborn": SIGTERM is ignored, only SIGKILL stops it)
    if mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.write(1, ("start %s\n" % h(os.environb[sys.argv[2].encode()]))
             .encode())
    while True:
        time.sleep(1)
'''


def sha(b):
    return hashlib.sha256(b).hexdigest()


def random_value(n=24):
    return "".join(random.choice(string.ascii_letters + string.digits)
                   for _ in range(n)).encode()


class RunCase(harness.DaemonTestCase):

    def setUp(self):
        super().setUp()
        self.child = os.path.join(self.h.work, "child.py")
        with open(self.child, "w") as f:
            f.write(CHILD)

    def run_kw(self, *args, input=b"", env=None):
        """keyward run ARGS (a finished Result)."""
        return harness.run([harness.BIN_KEYWARD, "run"] + list(args),
                           env or self.h.env, input=input, cwd=self.h.work)

    def child_argv(self, *args):
        return [sys.executable, "-u", self.child] + list(args)

    def start(self, *args, env=None):
        """keyward run ARGS as a running process with pipes."""
        return harness.spawn([harness.BIN_KEYWARD, "run"] + list(args),
                             env or self.h.env, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             cwd=self.h.work)

    def read_until(self, proc, needle, got=b""):
        """Read proc's stdout until needle appears; returns all read."""
        end = time.monotonic() + harness.CLI_DEADLINE_S
        fd = proc.stdout.fileno()
        while needle not in got:
            left = end - time.monotonic()
            self.assertGreater(left, 0, "no %r on stdout; got %r"
                               % (needle, got))
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                self.assertNotEqual(chunk, b"", "stdout ended before %r; "
                                    "got %r" % (needle, got))
                got += chunk
        return got

    def finish(self, proc):
        out, err = proc.communicate(timeout=harness.CLI_DEADLINE_S)
        return proc.returncode, out, err.decode("utf-8", "replace")

    def audit_rows(self, name):
        r = self.cli("audit", "--json", "--limit", "0", "--name", name)
        self.assertRc(r, 0)
        return harness.parse_json_lines(r.out)


class Masking(RunCase):

    def test_value_written_a_byte_at_a_time_is_masked(self):
        value = random_value()
        self.put_cli("app/token", value)
        for fd in ("1", "2"):
            r = self.run_kw("--mask-hold", "10000", "--env",
                            "TOKEN=app/token", "--",
                            *self.child_argv("bytes", "TOKEN", fd))
            self.assertRc(r, 0)
            both = r.out + r.err.encode()
            self.assertNotIn(value, both)
            self.assertIn(b"<<redacted:TOKEN>>\n", both)

    def test_stderr_only_leaves_stdout_alone(self):
        value = random_value()
        self.put_cli("app/token", value)
        r = self.run_kw("--mask", "stderr", "--mask-hold", "10000",
                        "--env", "TOKEN=app/token", "--",
                        *self.child_argv("bytes", "TOKEN", "1"))
        self.assertRc(r, 0)
        self.assertEqual(r.out, b"<" + value + b">\n")
        r = self.run_kw("--mask", "stderr", "--mask-hold", "10000",
                        "--env", "TOKEN=app/token", "--",
                        *self.child_argv("bytes", "TOKEN", "2"))
        self.assertRc(r, 0)
        self.assertNotIn(value.decode(), r.err)
        self.assertIn("<<redacted:TOKEN>>", r.err)

    def test_held_prefix_is_written_without_more_output(self):
        # The child writes the first bytes of the value and waits: they
        # must come out (after the hold) while it still runs.
        value = random_value()
        self.put_cli("app/token", value)
        p = self.start("--env", "TOKEN=app/token", "--",
                       *self.child_argv("prefix", "TOKEN"))
        got = self.read_until(p, value[:5])
        p.stdin.write(b"go\n")
        p.stdin.flush()
        rc, out, err = self.finish(p)
        self.assertEqual(rc, 0, err)
        self.assertEqual(got + out, value[:5] + b"|done\n")

    def test_short_values_are_not_masked(self):
        self.put_cli("app/flag", b"on")
        r = self.run_kw("--env", "FLAG=app/flag", "--", "sh", "-c",
                        'echo "flag=$FLAG"')
        self.assertRc(r, 0)
        self.assertEqual(r.out, b"flag=on\n")

    def test_jsonrpc_passes_byte_for_byte(self):
        # Nothing secret in the stream, but many bytes that start the
        # value: everything must come through unchanged, in order.
        value = random_value(32)
        self.put_cli("app/token", value)
        rnd = random.Random(1234)
        lines = []
        for i in range(3000):
            params = {"id": i, "text": "".join(
                rnd.choice(string.printable) for _ in range(rnd.randrange(
                    1, 600))), "near": value[:rnd.randrange(1, 31)].decode()}
            lines.append(json.dumps({"jsonrpc": "2.0", "id": i,
                                     "method": "tools/call",
                                     "params": params}).encode())
        data = b"\n".join(lines) + b"\n"
        self.assertNotIn(value, data)
        r = self.run_kw("--env", "TOKEN=app/token", "--", "cat",
                        input=data)
        self.assertRc(r, 0)
        self.assertEqual(len(r.out), len(data))
        self.assertTrue(r.out == data, "the stream changed on its way")


class Status(RunCase):

    def test_exit_status_and_signal_death(self):
        self.put_cli("app/token", random_value())
        r = self.run_kw("--env", "T=app/token", "--",
                        *self.child_argv("exit", "7"))
        self.assertRc(r, 7)
        r = self.run_kw("--env", "T=app/token", "--",
                        *self.child_argv("killself"))
        self.assertRc(r, 128 + signal.SIGTERM)
        r = self.run_kw("--env", "T=app/token", "--",
                        "/nonexistent/program")
        self.assertRc(r, 127)
        self.assertIn("/nonexistent/program", r.err)

    def test_signals_reach_the_child(self):
        self.put_cli("app/token", random_value())
        p = self.start("--env", "T=app/token", "--",
                       *self.child_argv("signals"))
        self.read_until(p, b"ready\n")
        os.kill(p.pid, signal.SIGUSR1)
        rc, out, err = self.finish(p)
        self.assertEqual(rc, 5, err)
        self.assertEqual(out, b"usr1\n")

        p = self.start("--env", "T=app/token", "--",
                       *self.child_argv("signals"))
        self.read_until(p, b"ready\n")
        os.kill(p.pid, signal.SIGTERM)
        rc, _, err = self.finish(p)
        self.assertEqual(rc, 128 + signal.SIGTERM, err)


    def test_child_gets_no_descriptor_of_keyward(self):
        # Not the agent connection, the watch connection, the signalfd
        # or the other ends of its pipes.
        self.put_cli("app/token", random_value())
        for extra in ([], ["--watch"], ["--mask", "stderr"]):
            r = self.run_kw("--env", "T=app/token", *extra, "--",
                            *self.child_argv("fds"))
            self.assertRc(r, 0)
            self.assertEqual(r.out, b"fds=[]\n", extra)

    def test_child_does_not_outlive_keyward(self):
        # keyward killed outright: its child gets SIGTERM, not a life
        # without a supervisor.
        self.put_cli("app/token", random_value())
        p = self.start("--env", "T=app/token", "--",
                       *self.child_argv("pid"))
        got = self.read_until(p, b"\n")
        pid = int(got.decode().strip().split("=")[1])
        p.kill()
        p.wait(timeout=harness.CLI_DEADLINE_S)

        def gone():
            try:
                with open("/proc/%d/stat" % pid) as f:
                    return f.read().rsplit(")", 1)[1].split()[0] in "ZX"
            except FileNotFoundError:
                return True
        self.assertTrue(harness.poll_until(gone, harness.CLI_DEADLINE_S),
                        "the child outlived keyward")


class AllOrNothing(RunCase):

    def test_one_missing_reference_starts_nothing(self):
        value = random_value()
        self.put_cli("app/one", value)
        self.put_cli("app/three", random_value())
        marker = os.path.join(self.h.work, "ran")
        r = self.run_kw("--env", "ONE=app/one", "--env", "TWO=app/two",
                        "--env", "THREE=app/three", "--",
                        *self.child_argv("marker", marker))
        self.assertRc(r, EXIT_NOTFOUND)
        self.assertFalse(os.path.exists(marker), "the command ran")
        self.assertIn("TWO (app/two)", r.err)
        self.assertNotIn(value.decode(), r.err)

    def test_agent_down_starts_nothing(self):
        self.d.stop()
        marker = os.path.join(self.h.work, "ran")
        r = self.run_kw("--env", "T=app/token", "--",
                        *self.child_argv("marker", marker))
        self.assertRc(r, EXIT_ERROR)
        self.assertIn("cannot connect to the agent", r.err)
        self.assertIn("T (app/token): not fetched", r.err)
        self.assertFalse(os.path.exists(marker))
        # Plain variables alone need no agent.
        path = os.path.join(self.h.work, "plain.env")
        with open(path, "w") as f:
            f.write("MODE=offline\n")
        r = self.run_kw("--env-file", path, "--",
                        *self.child_argv("env", "MODE"))
        self.assertRc(r, 0)
        self.assertEqual(r.text.splitlines()[1], "MODE=" + sha(b"offline"))

    def test_nul_refused_base64_works(self):
        binary = b"\x00\x01binary\x00\xff"
        self.put_cli("app/bin", binary)
        marker = os.path.join(self.h.work, "ran")
        r = self.run_kw("--env", "B=app/bin", "--",
                        *self.child_argv("marker", marker))
        self.assertRc(r, EXIT_ERROR)
        self.assertIn("NUL", r.err)
        self.assertIn("app/bin:base64", r.err)
        self.assertFalse(os.path.exists(marker))
        r = self.run_kw("--mask", "none", "--env", "B=app/bin:base64",
                        "--", "sh", "-c", 'printf %s "$B"')
        self.assertRc(r, 0)
        self.assertEqual(base64.b64decode(r.out), binary)

    def test_bad_arguments(self):
        for args, want in (
                (["--env", "1X=a/b", "--", "true"], "--env"),
                (["--env", "X=a/b@0", "--", "true"], "version"),
                (["--env", "X=a/b", "--env", "X=a/c", "--", "true"],
                 "X: variable given twice"),
                (["--grace", "5s", "--", "true"], "--grace needs --watch"),
                (["--mask", "some", "--", "true"], "--mask"),
                (["--env", "X=a/b"], "no command")):
            r = self.run_kw(*args)
            self.assertRc(r, harness.EXIT_USAGE, " ".join(args))
            self.assertIn(want, r.err)


class Locked(RunCase):
    PASSPHRASE = "correct horse battery"

    def test_locked_agent_starts_nothing(self):
        marker = os.path.join(self.h.work, "ran")
        r = self.run_kw("--env", "T=app/token", "--",
                        *self.child_argv("marker", marker))
        self.assertRc(r, EXIT_LOCKED)
        self.assertIn("T (app/token)", r.err)
        self.assertFalse(os.path.exists(marker))


class InPlace(RunCase):

    def test_mask_none_execs_in_place(self):
        value = random_value()
        self.put_cli("app/token", value)
        p = self.start("--mask", "none", "--env", "T=app/token", "--",
                       *self.child_argv("env", "T"))
        rc, out, err = self.finish(p)
        self.assertEqual(rc, 0, err)
        lines = out.decode().splitlines()
        self.assertEqual(lines[0], "pid=%d" % p.pid)
        self.assertEqual(lines[1], "T=" + sha(value))

    def test_env_file_references_and_plain_values(self):
        one, two = random_value(), random_value()
        self.put_cli("x/one", one)
        self.put_cli("x/two", two)
        self.put_cli("x/two", random_value())
        path = os.path.join(self.h.work, "app.env")
        with open(path, "w") as f:
            f.write("# the app's settings\n"
                    'export ONE="keyward://x/one"\n'
                    "PLAIN=just text # comment\n"
                    "TWO='keyward://x/two@1'\n")
        r = self.run_kw("--env-file", path, "--",
                        *self.child_argv("env", "ONE", "TWO", "PLAIN"))
        self.assertRc(r, 0)
        lines = r.text.splitlines()[1:]
        self.assertEqual(lines, ["ONE=" + sha(one), "TWO=" + sha(two),
                                 "PLAIN=" + sha(b"just text")])
        r = self.run_kw("--env", "TWO=keyward://x/two", "--",
                        *self.child_argv("env", "TWO"))
        self.assertRc(r, 0)
        self.assertEqual(r.text.splitlines()[1], "TWO=" + sha(
            self.get_cli("x/two")))
        r = self.run_kw("--env-file", path, "--env", "ONE=x/two", "--",
                        "true")
        self.assertRc(r, harness.EXIT_USAGE)
        self.assertIn("ONE: variable given twice", r.err)
        with open(path, "a") as f:
            f.write("BAD='keyward://x/one@x'\n")
        r = self.run_kw("--env-file", path, "--", "true")
        self.assertRc(r, harness.EXIT_USAGE)
        self.assertIn("line 5", r.err)


class Watch(RunCase):

    def test_rotation_restarts_with_the_new_value(self):
        first = random_value()
        self.put_cli("svc/key", first)
        self.assertRc(self.cli("schedule", "svc/key", "--every", "30d",
                               "--rotator", "random:16:hex"), 0)
        p = self.start("--watch", "--grace", "5s", "--env", "K=svc/key",
                       "--", *self.child_argv("serve", "K"))
        got = self.read_until(p, b"\n")
        self.assertEqual(got, b"start %s\n" % sha(first).encode())
        self.assertRc(self.cli("rotate", "--wait", "svc/key"), 0)
        second = self.get_cli("svc/key")
        self.assertNotEqual(first, second)
        want = b"start %s\n" % sha(second).encode()
        got = self.read_until(p, want, got)
        p.send_signal(signal.SIGTERM)
        rc, _, err = self.finish(p)
        self.assertEqual(rc, 128 + signal.SIGTERM, err)
        reasons = [row["reason"] for row in self.audit_rows("svc/key")
                   if row["op"] == "secret.get" and row["outcome"] == "ok"]
        self.assertIn("read for keyward run", reasons)
        self.assertIn("read for a keyward run restart after rotation",
                      reasons)


    def test_grace_ends_in_sigkill(self):
        self.put_cli("svc/key", random_value())
        self.assertRc(self.cli("schedule", "svc/key", "--every", "30d",
                               "--rotator", "random:16:hex"), 0)
        p = self.start("--watch", "--grace", "1s", "--env", "K=svc/key",
                       "--", *self.child_argv("stubborn", "K"))
        got = self.read_until(p, b"\n")
        self.assertRc(self.cli("rotate", "--wait", "svc/key"), 0)
        want = b"start %s\n" % sha(self.get_cli("svc/key")).encode()
        self.read_until(p, want, got)
        p.send_signal(signal.SIGINT)
        rc, _, err = self.finish(p)
        # SIGINT, forwarded, still ends the stubborn child.
        self.assertEqual(rc, 128 + signal.SIGINT, err)


class TokenFile(RunCase):

    def setUp(self):
        super().setUp()
        r = self.cli("client", "add", "mcp-srv")
        self.assertRc(r, 0)
        self.token = r.text.strip().split()[-1]
        self.assertTrue(self.token.startswith("kwt_"), r)
        self.h.write_policy("00-mcp.ini", (
            '[client "mcp-srv"]\nuid = %d\nexe = %s\ntoken = mcp-srv\n'
            "read = mcp/srv/*\n" % (os.getuid(),
                                    os.path.realpath(harness.BIN_KEYWARD))))
        self.assertRc(self.cli("policy", "reload"), 0)
        self.tf = os.path.join(self.h.work, "srv.token")
        fd = os.open(self.tf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, (self.token + "\n").encode())
        os.close(fd)

    def test_token_narrows_what_run_may_read(self):
        value = random_value()
        self.put_cli("mcp/srv/token", value)
        self.put_cli("other/token", random_value())
        env = dict(self.h.env)
        env["KEYWARD_TOKEN"] = self.token
        r = self.run_kw("--token-file", self.tf, "--env",
                        "T=mcp/srv/token", "--",
                        *self.child_argv("env", "T", "KEYWARD_TOKEN"),
                        env=env)
        self.assertRc(r, 0)
        self.assertEqual(r.text.splitlines()[1:],
                         ["T=" + sha(value), "KEYWARD_TOKEN=-"])
        self.assertNotIn(self.token, r.text + r.err)
        rows = [row for row in self.audit_rows("mcp/srv/token")
                if row["op"] == "secret.get"]
        self.assertEqual(rows[-1]["principal"], "mcp-srv")

        marker = os.path.join(self.h.work, "ran")
        r = self.run_kw("--token-file", self.tf, "--env",
                        "T=mcp/srv/token", "--env", "O=other/token", "--",
                        *self.child_argv("marker", marker))
        self.assertRc(r, EXIT_DENIED)
        self.assertIn("O (other/token)", r.err)
        self.assertFalse(os.path.exists(marker))

    def test_token_file_with_watch(self):
        self.put_cli("mcp/srv/token", random_value())
        self.assertRc(self.cli("schedule", "mcp/srv/token", "--every",
                               "30d", "--rotator", "random:16:hex"), 0)
        p = self.start("--token-file", self.tf, "--watch", "--env",
                       "T=mcp/srv/token", "--",
                       *self.child_argv("serve", "T"))
        got = self.read_until(p, b"\n")
        self.assertRc(self.cli("rotate", "--wait", "mcp/srv/token"), 0)
        want = b"start %s\n" % sha(self.get_cli("mcp/srv/token")).encode()
        self.read_until(p, want, got)
        p.send_signal(signal.SIGTERM)
        rc, _, err = self.finish(p)
        self.assertEqual(rc, 128 + signal.SIGTERM, err)
        restarts = [row for row in self.audit_rows("mcp/srv/token")
                    if row["reason"] == "read for a keyward run restart "
                    "after rotation"]
        self.assertEqual([row["principal"] for row in restarts],
                         ["mcp-srv"])

    def test_token_file_must_be_private(self):
        os.chmod(self.tf, 0o644)
        r = self.run_kw("--token-file", self.tf, "--", "true")
        self.assertRc(r, EXIT_ERROR)
        self.assertIn("mode 0600 or 0400", r.err)
        os.chmod(self.tf, 0o600)
        link = os.path.join(self.h.work, "link.token")
        os.symlink(self.tf, link)
        r = self.run_kw("--token-file", link, "--", "true")
        self.assertRc(r, EXIT_ERROR)
        self.assertIn("symbolic link", r.err)

    def test_cli_token_not_inherited(self):
        # Without --token-file, $KEYWARD_TOKEN is the CLI's own: the
        # child does not get it unless it is injected.
        self.put_cli("mcp/srv/token", random_value())
        env = dict(self.h.env)
        env["KEYWARD_TOKEN"] = self.token
        r = self.run_kw("--env", "T=mcp/srv/token", "--",
                        *self.child_argv("env", "KEYWARD_TOKEN"), env=env)
        self.assertRc(r, 0)
        self.assertEqual(r.text.splitlines()[1], "KEYWARD_TOKEN=-")


class Purpose(RunCase):

    def test_secret_get_purpose(self):
        self.put_cli("app/p", b"value-p")
        rpc = self.rpc()
        resp = rpc.call("secret.get", {"name": "app/p", "purpose": "other"})
        self.assertRpcError(resp, -32602, "invalid_params", "purpose")
        resp = rpc.call("secret.get", {"name": "app/p", "purpose": 7})
        self.assertRpcError(resp, -32602, "invalid_params", "purpose")
        for purpose, reason in (
                ("run", "read for keyward run"),
                ("restart", "read for a keyward run restart after "
                            "rotation")):
            resp = rpc.call("secret.get", {"name": "app/p",
                                           "purpose": purpose})
            self.assertRpcResult(resp)
            self.assertEqual(self.audit_rows("app/p")[-1]["reason"], reason)
        resp = rpc.call("secret.get", {"name": "app/p"})
        self.assertRpcResult(resp)
        self.assertIsNone(self.audit_rows("app/p")[-1]["reason"])
