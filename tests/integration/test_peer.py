"""A peer of another uid is refused (SO_PEERCRED), and with the shipped
modes it cannot even reach the socket (root only, to become nobody).
Identity is bound to each message, not only to the connection: a process
that did not open a connection cannot use it, not even when the one that
did exec'd an allowed binary before the agent looked at it; an exec on a
live connection is noticed at the next request; threads of the connecting
process are served."""

import grp
import hashlib
import json
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import unittest

import harness
from harness import (BIN_KEYWARD, BIN_KWCLIENT, DaemonTestCase, b64,
                     poll_until, run, spawn)

# Runs as the other uid: connect, send agent.status, report what happened.
PEER_SCRIPT = r"""
import json, socket, sys
out = {"connect": None, "lines": [], "closed": False}
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
try:
    s.connect(sys.argv[1])
    out["connect"] = "ok"
except OSError as e:
    out["connect"] = e.errno
    print(json.dumps(out)); sys.exit(0)
try:
    s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"agent.status"}\n')
except OSError:
    pass
buf = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            out["closed"] = True
            break
        buf += chunk
except socket.timeout:
    pass
except ConnectionResetError:
    out["closed"] = True
out["lines"] = [l.decode("utf-8", "replace") for l in buf.split(b"\n") if l]
print(json.dumps(out))
"""


def _python_for(uid, gid):
    """A python3 the other uid can execute, or None."""
    for cand in ("/usr/bin/python3", "/usr/local/bin/python3",
                 shutil.which("python3")):
        if not cand or not os.path.exists(cand):
            continue
        r = run(["setpriv", "--reuid", str(uid), "--regid", str(gid),
                 "--clear-groups", cand, "-c", "pass"],
                {"PATH": "/usr/bin:/bin"}, cwd="/", timeout=30)
        if r.rc == 0:
            return cand
    return None


@unittest.skipUnless(os.geteuid() == 0,
                     "needs root to run a client as another uid (nobody)")
@unittest.skipUnless(shutil.which("setpriv"), "needs setpriv (util-linux)")
class OtherUid(DaemonTestCase):

    def setUp(self):
        self.uid, self.gid = harness.nobody(self)
        self.python = _python_for(self.uid, self.gid)
        if self.python is None:
            self.skipTest("no python3 executable by uid %d" % self.uid)
        super().setUp()
        self.put_cli("peer/secret", b"not for nobody")

    def as_nobody(self):
        r = run(harness.as_user(self.uid, self.gid,
                                [self.python, "-c", PEER_SCRIPT,
                                 self.h.socket]),
                {"PATH": "/usr/bin:/bin"}, cwd="/", timeout=60)
        self.assertEqual(r.rc, 0, r)
        return json.loads(r.out)

    def test_cannot_reach_socket_with_shipped_modes(self):
        out = self.as_nobody()
        self.assertEqual(out["connect"], 13, "uid %d connected or failed "
                         "otherwise: %r" % (self.uid, out))

    def test_other_uid_refused_by_daemon(self):
        # Open the path up so that only the daemon's own check stands.
        os.chmod(self.h.root, 0o711)
        os.chmod(self.h.home, 0o711)
        os.chmod(self.h.socket, 0o666)
        try:
            out = self.as_nobody()
        finally:
            os.chmod(self.h.socket, 0o600)
            os.chmod(self.h.home, 0o700)
            os.chmod(self.h.root, 0o700)
        self.assertEqual(out["connect"], "ok",
                         "could not connect with opened modes: %r" % out)
        self.assertTrue(out["closed"], "connection not closed: %r" % out)
        for line in out["lines"]:
            msg = json.loads(line)
            self.assertNotIn("result", msg, "other uid was served: %r" % out)
            err = msg.get("error", {})
            self.assertEqual(err.get("data", {}).get("kind"), "denied", msg)
            self.assertEqual(err.get("code"), 1005, msg)
            self.assertNotIn("not for nobody", line)
        uid = str(self.uid)
        self.assertTrue(poll_until(lambda: uid in self.h.log_text(), 10),
                        "the log does not mention uid %s:\n%s"
                        % (uid, self.h.log_tail()))
        # The owner is still served, once the agent has seen the home
        # closed again (it refuses requests while the home is open).
        self.assertTrue(self.d.alive())
        if "refusing every request" in self.h.log_text():
            self.assertTrue(poll_until(
                lambda: "modes safe again" in self.h.log_text(), 10),
                self.h.log_tail())
        self.assertEqual(self.get_cli("peer/secret"), b"not for nobody")

    def test_client_refuses_an_impostor_agent(self):
        """A socket served by another uid gets nothing from a client: not
        a value, not a passphrase. KEYWARD_AGENT_UID names one expected
        agent uid."""
        d = os.path.join(self.h.root, "impostor")
        os.mkdir(d)
        os.chmod(self.h.root, 0o711)
        os.chmod(d, 0o777)
        sock = os.path.join(d, "agent.sock")
        got = os.path.join(d, "got")
        listener = (
            "import socket, sys\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            "s.bind(sys.argv[1]); s.listen(4)\n"
            "import os; os.chmod(sys.argv[1], 0o666)\n"
            "s.settimeout(20)\n"
            "data = b''\n"
            "try:\n"
            "    for _ in range(2):\n"
            "        c, _ = s.accept(); c.settimeout(2)\n"
            "        try:\n"
            "            data += c.recv(65536)\n"
            "        except OSError:\n"
            "            pass\n"
            "except OSError:\n"
            "    pass\n"
            "open(sys.argv[2], 'wb').write(data)\n")
        proc = spawn(["setpriv", "--reuid", str(self.uid), "--regid",
                      str(self.gid), "--clear-groups", self.python, "-c",
                      listener, sock, got],
                     {"PATH": "/usr/bin:/bin"}, cwd="/")
        try:
            self.assertTrue(poll_until(lambda: os.path.exists(sock), 20))
            value = b"value for the real agent only"
            r = run([BIN_KEYWARD, "--socket", sock, "--timeout", "1000",
                     "put", "peer/x"], self.h.env, input=value)
            self.assertEqual(r.rc, 1, r)
            self.assertIn("runs as uid %d" % self.uid, r.err)
            env = dict(self.h.env)
            env["KEYWARD_AGENT_UID"] = str(self.uid)
            r = run([BIN_KEYWARD, "--socket", sock, "--timeout", "1000",
                     "status"], env)
            self.assertNotIn("runs as uid", r.err)  # allowed to talk
            proc.wait(timeout=30)
            with open(got, "rb") as f:
                seen = f.read()
            # The put never reached the impostor; the allowed status did.
            self.assertNotIn(b"value for the real agent", seen)
            self.assertNotIn(b"secret.put", seen)
            self.assertIn(b"agent.status", seen)
        finally:
            if proc.poll() is None:
                proc.kill()
            os.chmod(self.h.root, 0o700)


DENIED = 1005

# Connect, fork, and exec argv[2:] in the parent (which connected) while
# the child keeps the socket. The child says "ready PID" once the exec
# happened (the pipe's write end is close-on-exec), waits for a line on
# stdin, asks for secret argv[1] and prints the first line it gets back.
FORK_EXEC_SCRIPT = r"""
import json, os, socket, sys
sock_path, name, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sock_path)
r, w = os.pipe()
if os.fork() == 0:
    os.close(w)
    os.read(r, 1)
    print("ready %d" % os.getpid(), flush=True)
    sys.stdin.readline()
    req = {"jsonrpc": "2.0", "id": 1, "method": "secret.get",
           "params": {"name": name}}
    s.settimeout(30)
    buf = b""
    try:
        s.sendall(json.dumps(req).encode() + b"\n")
        while b"\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    except OSError as e:
        buf = ("oserror %d" % e.errno).encode()
    print(buf.split(b"\n")[0].decode() or "closed", flush=True)
    os._exit(0)
os.close(r)
os.execv(argv[0], argv)
"""

# One process, one connection: a request from the main thread, one from
# another thread, then one from a forked child (on the same connection),
# then one more from the parent. Prints the four answers as JSON.
THREAD_FORK_SCRIPT = r"""
import json, os, socket, sys, threading
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.settimeout(30)
f = s.makefile("rb")
def call(i):
    req = {"jsonrpc": "2.0", "id": i, "method": "secret.get",
           "params": {"name": sys.argv[2]}}
    try:
        s.sendall(json.dumps(req).encode() + b"\n")
        line = f.readline()
    except OSError as e:
        return {"oserror": e.errno}
    return json.loads(line) if line else "closed"
out = {"main": call(1), "pid": os.getpid()}
t = threading.Thread(target=lambda: out.__setitem__("thread", call(2)))
t.start(); t.join()
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.write(w, json.dumps({"answer": call(3),
                            "pid": os.getpid()}).encode())
    os._exit(0)
os.close(w)
os.waitpid(pid, 0)
child = json.loads(os.read(r, 65536))
out["child"], out["child_pid"] = child["answer"], child["pid"]
out["after"] = call(4)
print(json.dumps(out))
"""

# Connect as this Python (an admin in the harness's policy), be served,
# then exec a shell that keeps the socket (fd 7) and asks on it.
EXEC_SCRIPT = r"""
import json, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"agent.status"}\n')
f = s.makefile("rb")
print(f.readline().decode().strip(), flush=True)
os.dup2(s.fileno(), 7)
req = json.dumps({"jsonrpc": "2.0", "id": 2, "method": "secret.get",
                  "params": {"name": sys.argv[2]}})
os.execv("/bin/sh", ["sh", "-c", 'printf "%s\\n" "$1" >&7; head -n 1 <&7',
                     "sh", req])
"""


def sha256_of(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class PerMessage(DaemonTestCase):
    """Per-message identity (SO_PASSCRED, SO_PASSPIDFD)."""

    START = False
    VALUE = b"only for the pinned program"

    def setUp(self):
        super().setUp()
        sleep = shutil.which("sleep") or "/bin/sleep"
        self.sleep = os.path.realpath(sleep)

    def audit_rows(self, op):
        r = self.cli("audit", "--json", "--op", op)
        self.assertRc(r, 0, "keyward audit --json --op %s" % op)
        return [json.loads(l) for l in r.text.splitlines() if l.strip()]

    def assertRefusedByProcess(self, answer, sender_pid, owner_pid):
        self.assertIsInstance(answer, dict, answer)
        self.assertNotIn("result", answer, "served: %r" % answer)
        err = answer["error"]
        self.assertEqual(err["code"], DENIED, answer)
        self.assertEqual(err["data"]["kind"], "denied", answer)
        self.assertIn("sent by process %d, not by process %d"
                      % (sender_pid, owner_pid), err["message"])
        self.assertNotIn(b64(self.VALUE), json.dumps(answer))
        rows = [row for row in self.audit_rows("peer.refused")
                if row.get("pid") == sender_pid]
        self.assertEqual(len(rows), 1, rows)
        self.assertEqual(rows[0]["outcome"], "denied", rows)
        self.assertIn("process %d that opened this connection" % owner_pid,
                      rows[0]["reason"])

    def test_connect_fork_exec_child_refused(self):
        """The connecting process forks, then execs a root-owned,
        exe_sha256-pinned binary before the agent reads the peer (the
        agent is stopped meanwhile, so the exec always wins); the child
        asks on the connection and must be refused."""
        # Only the owner's CLI, kwclient and the pinned program: this
        # Python, which connects, is nobody.
        self.h.write_policy("50-tests.ini",
                            '[client "test-kwclient"]\nexe = %s\n'
                            'admin = yes\nread = **\n'
                            % os.path.realpath(BIN_KWCLIENT))
        self.h.write_policy("10-pinned.ini",
                            '[client "pinned-sleep"]\nexe = %s\n'
                            'exe_sha256 = %s\nread = fork/*\n'
                            % (self.sleep, sha256_of(self.sleep)))
        self.d.start()
        self.put_cli("fork/x", self.VALUE)
        daemon = self.d.proc.pid
        os.kill(daemon, signal.SIGSTOP)
        proc = None
        try:
            proc = spawn([sys.executable, "-c", FORK_EXEC_SCRIPT,
                          self.h.socket, "fork/x", self.sleep, "60"],
                         self.h.env, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, cwd=self.h.work)
            self.addCleanup(proc.kill)  # the parent, now sleep(1)
            ready = proc.stdout.readline().decode().split()
            self.assertEqual(ready[:1], ["ready"], ready)
            child = int(ready[1])
            # The parent runs the pinned binary now.
            self.assertEqual(os.path.realpath("/proc/%d/exe" % proc.pid),
                             self.sleep)
        finally:
            os.kill(daemon, signal.SIGCONT)
        proc.stdin.write(b"go\n")
        proc.stdin.flush()
        line = proc.stdout.readline().decode().strip()
        self.assertTrue(line.startswith("{"), line)
        self.assertRefusedByProcess(json.loads(line), child, proc.pid)
        # Normal clients are unaffected.
        self.assertTrue(self.d.alive())
        self.assertEqual(self.get_cli("fork/x"), self.VALUE)
        r = self.kw("get", "fork/x")
        self.assertRc(r, 0)
        self.assertEqual(r.out, self.VALUE)

    def test_threads_served_forked_child_refused(self):
        self.d.start()
        self.put_cli("fork/x", self.VALUE)
        r = run([sys.executable, "-c", THREAD_FORK_SCRIPT, self.h.socket,
                 "fork/x"], self.h.env, cwd=self.h.work, timeout=60)
        self.assertEqual(r.rc, 0, r)
        out = json.loads(r.out)
        for who in ("main", "thread"):
            self.assertEqual(out[who].get("result", {}).get("value"),
                             b64(self.VALUE), (who, out))
        self.assertRefusedByProcess(out["child"], out["child_pid"],
                                    out["pid"])
        # The connection ends: what the two wrote may be interleaved.
        self.assertIn(out["after"], ("closed", {"oserror": 104},
                                     {"oserror": 32}), out)
        self.assertEqual(self.get_cli("fork/x"), self.VALUE)

    def test_exec_on_a_live_connection_is_noticed(self):
        self.d.start()
        self.put_cli("fork/x", self.VALUE)
        r = run([sys.executable, "-c", EXEC_SCRIPT, self.h.socket,
                 "fork/x"], self.h.env, cwd=self.h.work, timeout=60)
        self.assertEqual(r.rc, 0, r)
        first, second = [json.loads(l) for l in r.text.splitlines()[:2]]
        self.assertIn("result", first, first)  # served as this Python
        self.assertNotIn("result", second, "the shell was served as the "
                         "Python that connected: %r" % second)
        self.assertEqual(second["error"]["code"], DENIED, second)
        self.assertIn("no policy section matches", second["error"]
                      ["message"])
        self.assertNotIn(b64(self.VALUE), r.text)
        self.assertTrue(poll_until(
            lambda: "attributing it anew" in self.h.log_text(), 10),
            self.h.log_tail())

    def test_exec_into_a_pinned_program_is_hashed(self):
        """The other way round: the program exec'd is one a section pins
        by exe_sha256; it is hashed and served under that section."""
        shell = os.path.realpath("/bin/sh")
        self.h.write_policy("10-shell.ini",
                            '[client "pinned-shell"]\nexe = %s\n'
                            'exe_sha256 = %s\nread = fork/*\n'
                            % (shell, sha256_of(shell)))
        self.d.start()
        self.put_cli("fork/x", self.VALUE)
        r = run([sys.executable, "-c", EXEC_SCRIPT, self.h.socket,
                 "fork/x"], self.h.env, cwd=self.h.work, timeout=60)
        self.assertEqual(r.rc, 0, r)
        second = json.loads(r.text.splitlines()[1])
        self.assertEqual(second.get("result", {}).get("value"),
                         b64(self.VALUE), second)
        rows = [row for row in self.audit_rows("secret.get")
                if row.get("principal") == "pinned-shell"]
        self.assertEqual(len(rows), 1, rows)
        self.assertEqual(rows[0]["exe"], shell)


# As another uid: connect, ask for secret argv[2], print what came back
# (or the errno of a refused connect).
GET_SCRIPT = r"""
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(20)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print(json.dumps({"connect": e.errno})); sys.exit(0)
req = {"jsonrpc": "2.0", "id": 1, "method": "secret.get",
       "params": {"name": sys.argv[2]}}
s.sendall(json.dumps(req).encode() + b"\n")
f = s.makefile("rb")
print(f.readline().decode().strip())
"""


@unittest.skipUnless(os.geteuid() == 0,
                     "needs root to run a client as another uid (nobody)")
@unittest.skipUnless(shutil.which("setpriv"), "needs setpriv (util-linux)")
class SocketGroup(DaemonTestCase):
    """The recommended deployment: the socket reachable by one group
    ([agent] socket_mode = 0660, socket_group), in a directory of its own
    that is 0750 with that group, the home staying 0700."""

    START = False
    CONFIG = {"agent": {"socket_mode": "0660", "socket_group": "nogroup"}}
    VALUE = b"for the group's server"

    def setUp(self):
        try:
            self.uid = pwd.getpwnam("nobody").pw_uid
            self.gid = grp.getgrnam("nogroup").gr_gid
        except KeyError:
            self.skipTest("no user nobody or group nogroup")
        self.python = _python_for(self.uid, self.gid)
        if self.python is None:
            self.skipTest("no python3 executable by uid %d" % self.uid)
        super().setUp()
        self.run_dir = os.path.join(self.h.root, "run")
        self.h.socket = os.path.join(self.run_dir, "agent.sock")
        self.h.env["KEYWARD_SOCKET"] = self.h.socket

    def as_nobody(self, gid):
        r = run(harness.as_user(self.uid, gid,
                                [self.python, "-c", GET_SCRIPT,
                                 self.h.socket, "grp/x"]),
                {"PATH": "/usr/bin:/bin"}, cwd="/", timeout=60)
        self.assertEqual(r.rc, 0, r)
        return json.loads(r.out)

    def test_group_may_connect_others_may_not(self):
        self.h.write_policy("10-nobody.ini",
                            '[client "group-server"]\nuid = nobody\n'
                            'exe = %s\nread = grp/*\n'
                            % os.path.realpath(self.python))
        self.d.start()
        self.put_cli("grp/x", self.VALUE)
        st = os.stat(self.run_dir)
        self.assertEqual((stat.S_IMODE(st.st_mode), st.st_gid),
                         (0o750, self.gid))
        st = os.stat(self.h.socket)
        self.assertEqual((stat.S_IMODE(st.st_mode), st.st_gid),
                         (0o660, self.gid))
        self.assertEqual(stat.S_IMODE(os.stat(self.h.home).st_mode), 0o700)
        os.chmod(self.h.root, 0o711)  # let nobody walk to run/
        try:
            out = self.as_nobody(self.gid)
            self.assertEqual(out.get("result", {}).get("value"),
                             b64(self.VALUE), out)
            # Another group: the directory keeps it out.
            out = self.as_nobody(1)
            self.assertEqual(out, {"connect": 13})
        finally:
            os.chmod(self.h.root, 0o700)
        # Still watched: the directory opened to everyone is noticed.
        os.chmod(self.run_dir, 0o755)
        try:
            self.assertTrue(poll_until(
                lambda: "refusing every request" in self.h.log_text(), 10),
                self.h.log_tail())
            r = self.cli("get", "grp/x")
            self.assertNotEqual(r.rc, 0, r)
            self.assertIn("chmod 750 %s" % self.run_dir, r.err)
        finally:
            os.chmod(self.run_dir, 0o750)
        self.assertTrue(poll_until(
            lambda: "modes safe again" in self.h.log_text(), 10))
        self.assertEqual(self.get_cli("grp/x"), self.VALUE)

    def test_home_as_socket_directory_refused(self):
        self.h.socket = os.path.join(self.h.home, "agent.sock")
        self.h.env["KEYWARD_SOCKET"] = self.h.socket
        self.d.start(wait=False)
        self.assertNotEqual(self.d.wait_exit(), 0)
        self.assertIn("needs a directory of its own", self.h.log_text())


if __name__ == "__main__":
    unittest.main()
