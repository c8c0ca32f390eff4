"""A peer of another uid is refused (SO_PEERCRED), and with the shipped
modes it cannot even reach the socket. Needs root (to become nobody)."""

import json
import os
import pwd
import shutil
import unittest

from harness import BIN_KEYWARD, DaemonTestCase, poll_until, run, spawn

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
        try:
            pw = pwd.getpwnam("nobody")
        except KeyError:
            self.skipTest("no user 'nobody'")
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        self.python = _python_for(self.uid, self.gid)
        if self.python is None:
            self.skipTest("no python3 executable by uid %d" % self.uid)
        super().setUp()
        self.put_cli("peer/secret", b"not for nobody")

    def as_nobody(self):
        r = run(["setpriv", "--reuid", str(self.uid), "--regid",
                 str(self.gid), "--clear-groups", self.python, "-c",
                 PEER_SCRIPT, self.h.socket],
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
        # The owner is still served.
        self.assertTrue(self.d.alive())
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


if __name__ == "__main__":
    unittest.main()
