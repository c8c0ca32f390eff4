"""The command spawner as a service of its own (keyward-spawner.socket):
keywardd --spawner under socket activation (systemd-socket-activate
--seqpacket stands in for systemd), and a keywardd told where it listens
(KEYWARD_SPAWNER_SOCKET) connecting to it instead of forking one.

- command: rotators and keyward-net run under that spawner, not under the
  agent, and the rotation completes;
- the spawner ends when the agent dies, taking its commands with it;
- the agent refuses a listener that is not keywardd --spawner of its own
  executable and uid (the pipes that carry a new value go to the
  spawner): one that sends another program's hello, forged credentials,
  something else or nothing; and says so when nothing listens;
- the spawner refuses a peer that is not the agent;
- the whole handshake works for a user other than root, who cannot read
  a non-dumpable peer's /proc/PID/exe (root can: the tests above run as
  root).

Statuses (keywardd(8), EXIT STATUS): 77 a refused spawner or agent, 1 no
spawner to talk to (it is not there, or did not say hello in time)."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import unittest

import harness
import test_rotation
from harness import (BIN_KEYWARD, BIN_KEYWARDD, START_DEADLINE_S,
                     STOP_DEADLINE_S, poll_until, run, spawn)
from test_net import children, exe_name
from test_rotation import DAY, T0

EXIT_REFUSED = 77
EXIT_NO_SPAWNER = 1
EXIT_USAGE = 2
HELLO_MS = 5000  # SPAWN_HELLO_MS
IMPOSTOR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "impostor_spawner.py")


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def activate(path, argv, env, log, prefix=()):
    """systemd-socket-activate --seqpacket on path running argv (exec'd
    in its place on the first connection); output to log."""
    logfd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        proc = spawn(list(prefix) + ["systemd-socket-activate", "--seqpacket",
                                     "-l", path] + argv, env,
                     stdin=subprocess.DEVNULL, stdout=logfd, stderr=logfd)
    finally:
        os.close(logfd)
    ok = poll_until(lambda: os.path.exists(path) or proc.poll() is not None,
                    START_DEADLINE_S)
    if not ok or proc.poll() is not None:
        raise AssertionError("no socket at %s:\n%s" % (path, read(log)))
    return proc


def gone(pid):
    """pid has exited (a zombie, or reaped meanwhile)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def end(proc):
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@unittest.skipIf(harness.VALGRIND, harness.accepted_skip(
    "valgrind-exe", "a spawner serving an agent under memcheck"))
class SpawnerService(test_rotation.RotationCase):

    def setUp(self):
        # RotationCase's set-up, with the spawner's service started
        # first and the agent pointed at it.
        harness.DaemonTestCase.setUp(self)
        self.clock = os.path.join(self.h.work, "clock")
        self.set_clock(T0)
        self.d.extra_env["KEYWARD_TEST_CLOCK"] = self.clock
        self.sock = os.path.join(self.h.root, "spawner.sock")
        self.sp_log = os.path.join(self.h.root, "spawner.log")
        self.sp = activate(self.sock, [BIN_KEYWARDD, "--spawner"],
                           dict(self.h.env), self.sp_log)
        self.addCleanup(end, self.sp)
        self.d.extra_env["KEYWARD_SPAWNER_SOCKET"] = self.sock
        self.d.start()
        self.r = self.rpc()

    def test_commands_and_net_run_under_the_service(self):
        ppids = os.path.join(self.h.work, "ppids")
        script = self.write_script(
            "rot", "cat > /dev/null\necho $PPID >> %s\n" % ppids)
        self.put("svc/a", b"v1")
        self.schedule("svc/a", DAY, "command:" + script)
        rid = self.call("rotate.start", {"name": "svc/a"})["rotation_id"]
        self.wait_run("svc/a", rid)
        self.assertEqual(self.get("svc/a")[1], 2)
        self.assertIn("using the command spawner at %s (pid %d)"
                      % (self.sock, self.sp.pid), self.d.log_text())
        self.assertIn("command spawner: serving the agent (pid %d)"
                      % self.d.proc.pid, read(self.sp_log))
        # Every step's command is the service's child (it exec'd in
        # place of systemd-socket-activate), and so is keyward-net.
        with open(ppids) as f:
            self.assertEqual({int(x) for x in f.read().split()},
                             {self.sp.pid})
        self.assertIn("keyward-net", [exe_name(c)
                                       for c in children(self.sp.pid)])
        # The agent forked nothing.
        self.assertEqual(children(self.d.proc.pid), [])

    def test_service_ends_with_the_agent(self):
        script = self.write_script(
            "hang", "cat > /dev/null\necho $$ > %s/cmd\nsleep 300\n"
            % self.h.work)
        self.put("svc/b", b"v1")
        self.schedule("svc/b", DAY, "command:" + script)
        self.call("rotate.start", {"name": "svc/b"})
        cmd_file = os.path.join(self.h.work, "cmd")
        self.assertTrue(poll_until(lambda: os.path.exists(cmd_file) and
                                   open(cmd_file).read().strip(), 10))
        with open(cmd_file) as f:
            cmd = int(f.read())
        self.d.kill()
        self.assertEqual(self.sp.wait(timeout=STOP_DEADLINE_S), 0,
                         read(self.sp_log))
        self.assertTrue(poll_until(lambda: gone(cmd), 10),
                        "the command outlived its spawner")


class SpawnerRefused(harness.DaemonTestCase):
    """keywardd pointed at a listener that is not its spawner: it exits
    with a status and a line that say why, and sends it nothing past the
    handshake."""

    START = False

    def impostor(self, mode):
        sock = os.path.join(self.h.root, "fake.sock")
        proc = spawn([sys.executable, IMPOSTOR, sock, mode],
                     dict(os.environ), stdin=subprocess.DEVNULL,
                     stdout=subprocess.PIPE)
        self.addCleanup(end, proc)
        self.addCleanup(proc.stdout.close)
        self.assertEqual(proc.stdout.readline(), b"ready\n")
        self.d.extra_env["KEYWARD_SPAWNER_SOCKET"] = sock
        return sock, proc

    def refused(self, mode, status, why):
        """Start keywardd against an impostor in mode; it must exit with
        status and log why (a format taking the impostor's pid and the
        agent's)."""
        sock, proc = self.impostor(mode)
        self.d.start(wait=False)
        self.assertEqual(self.d.wait_exit(), status, self.d.log_tail())
        self.assertIn("refusing the command spawner at %s: %s"
                      % (sock, why % {"impostor": proc.pid,
                                      "agent": self.d.proc.pid,
                                      "uid": os.geteuid()}),
                      self.d.log_text())
        self.assertNotIn("listening on", self.d.log_text())
        # keywardd sent nothing (its own hello goes only to a spawner it
        # accepted) and closed the connection.
        self.assertEqual(proc.stdout.readline(), b"received 0 bytes\n")
        self.assertEqual(proc.wait(timeout=STOP_DEADLINE_S), 0)

    def test_nothing_listening(self):
        sock = os.path.join(self.h.root, "none.sock")
        self.d.extra_env["KEYWARD_SPAWNER_SOCKET"] = sock
        self.d.start(wait=False)
        self.assertEqual(self.d.wait_exit(), EXIT_NO_SPAWNER,
                         self.d.log_tail())
        self.assertIn("cannot reach the command spawner at %s: No such file "
                      "or directory" % sock, self.d.log_text())

    def test_relative_path(self):
        self.d.extra_env["KEYWARD_SPAWNER_SOCKET"] = "spawner.sock"
        self.d.start(wait=False)
        self.assertEqual(self.d.wait_exit(), 78, self.d.log_tail())
        self.assertIn("KEYWARD_SPAWNER_SOCKET must be an absolute path",
                      self.d.log_text())

    def test_hello_from_another_program(self):
        # A well-formed hello with the sender's true credentials: python
        # is not this keywardd.
        self.refused("hello", EXIT_REFUSED,
                     "pid %(impostor)d does not run this keywardd's "
                     "executable")

    def test_not_a_hello(self):
        self.refused("other", EXIT_REFUSED,
                     "its first message is not a hello")

    def test_silent_listener(self):
        self.refused("silent", EXIT_NO_SPAWNER,
                     "it sent no hello within %d ms" % HELLO_MS)

    def test_listener_that_closes(self):
        self.refused("close", EXIT_NO_SPAWNER,
                     "it closed the connection before its hello")

    @unittest.skipUnless(os.geteuid() == 0,
                         "only root may claim another uid")
    def test_forged_uid(self):
        self.refused("forged-uid", EXIT_REFUSED,
                     "pid %(impostor)d runs as uid 65534, not as uid "
                     "%(uid)d")


class ServiceRefusesStrangers(harness.DaemonTestCase):
    """keywardd --spawner talks only to its own keywardd."""

    INIT = False
    START = False

    def test_peer_that_is_not_keywardd(self):
        sock = os.path.join(self.h.root, "spawner.sock")
        log = os.path.join(self.h.root, "spawner.log")
        sp = activate(sock, [BIN_KEYWARDD, "--spawner"], dict(self.h.env),
                      log)
        self.addCleanup(end, sp)
        c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.addCleanup(c.close)
        c.connect(sock)
        c.settimeout(STOP_DEADLINE_S)
        # No hello for us: the connection just ends.
        self.assertEqual(c.recv(65536), b"")
        self.assertEqual(sp.wait(timeout=STOP_DEADLINE_S), EXIT_REFUSED,
                         read(log))
        self.assertIn("command spawner: refusing pid %d: pid %d does not "
                      "run this keywardd's executable"
                      % (os.getpid(), os.getpid()), read(log))

    def test_no_socket_passed(self):
        r = run([BIN_KEYWARDD, "--spawner"], self.h.env)
        self.assertEqual(r.rc, EXIT_USAGE, r)
        self.assertIn("it needs one SOCK_SEQPACKET socket passed as "
                      "LISTEN_FDS=1", r.err)
        r = run([BIN_KEYWARDD, "--spawner", "--home", self.h.home],
                self.h.env)
        self.assertEqual(r.rc, EXIT_USAGE, r)


@unittest.skipUnless(os.geteuid() == 0, "needs root to become nobody")
@unittest.skipUnless(shutil.which("setpriv"), "needs setpriv (util-linux)")
class NotRoot(unittest.TestCase):
    """Agent and spawner as nobody. Neither can read a non-dumpable
    process's executable: the agent reads the spawner's while the spawner
    is still dumpable (it hardens itself after the HELLOs), and the
    spawner, which cannot read the agent's (keywardd is not dumpable from
    its start), checks its uid."""

    def setUp(self):
        self.uid, self.gid = harness.nobody(self)
        for path in (BIN_KEYWARDD, BIN_KEYWARD):
            r = run(self.as_nobody([path, "--version"]), {"PATH": "/usr/bin"},
                    cwd="/")
            if r.rc != 0:
                self.skipTest("%s cannot be run by nobody: %r" % (path, r))
        self.root = tempfile.mkdtemp(prefix="kwit-", dir="/tmp")
        self.addCleanup(shutil.rmtree, self.root, True)
        os.chmod(self.root, 0o711)
        self.work = os.path.join(self.root, "work")
        self.home = os.path.join(self.work, ".mcp")
        os.mkdir(self.work, 0o700)
        os.chown(self.work, self.uid, self.gid)
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "HOME": self.work, "KEYWARD_HOME": self.home,
                    "KEYWARD_SOCKET": os.path.join(self.home, "agent.sock")}
        for key in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if key in os.environ:
                self.env[key] = os.environ[key]

    def as_nobody(self, argv):
        return harness.as_user(self.uid, self.gid, argv)

    def test_handshake(self):
        r = run(self.as_nobody([BIN_KEYWARD, "init"]), self.env,
                cwd=self.work)
        self.assertEqual(r.rc, 0, r)
        sock = os.path.join(self.work, "spawner.sock")
        sp_log = os.path.join(self.work, "spawner.log")
        sp = activate(sock, [BIN_KEYWARDD, "--spawner"], self.env, sp_log,
                      prefix=self.as_nobody([]))
        self.addCleanup(end, sp)
        log = os.path.join(self.work, "keywardd.log")
        logfd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            agent = spawn(self.as_nobody([BIN_KEYWARDD]),
                          dict(self.env, KEYWARD_SPAWNER_SOCKET=sock),
                          stdin=subprocess.DEVNULL, stdout=logfd,
                          stderr=logfd, cwd=self.work)
        finally:
            os.close(logfd)
        self.addCleanup(end, agent)
        self.assertTrue(poll_until(
            lambda: "listening on" in read(log) or agent.poll() is not None,
            START_DEADLINE_S), read(log))
        self.assertIsNone(agent.poll(), read(log) + read(sp_log))
        self.assertIn("using the command spawner at %s (pid %d)"
                      % (sock, sp.pid), read(log))
        self.assertIn("command spawner: serving the agent (pid %d)"
                      % agent.pid, read(sp_log))
        # Both are nobody's, and neither is dumpable any more (the
        # kernel then gives its /proc/PID entries to root).
        for pid in (agent.pid, sp.pid):
            with open("/proc/%d/status" % pid) as f:
                status = f.read()
            self.assertIn("\nUid:\t%d\t%d" % (self.uid, self.uid), status)
            self.assertEqual(os.stat("/proc/%d/status" % pid).st_uid, 0,
                             pid)
        agent.send_signal(signal.SIGTERM)
        self.assertEqual(agent.wait(timeout=STOP_DEADLINE_S), 0, read(log))
        self.assertEqual(sp.wait(timeout=STOP_DEADLINE_S), 0, read(sp_log))


if __name__ == "__main__":
    unittest.main()
