"""Process-level test harness for keyward.

Starts the real keywardd with a private KEYWARD_HOME and socket, and drives
it through the keyward CLI, the kwclient helper (libkeyward) and raw
JSON-RPC sockets. Binaries come from the environment:

    KW_BIN_KEYWARDD   path of keywardd
    KW_BIN_KEYWARD    path of the keyward CLI
    KW_BIN_KWCLIENT   path of tests/integration/kwclient

Nothing here depends on the machine's state: every test gets a fresh home
under /tmp, HOME points into it, and XDG_RUNTIME_DIR is removed. Every child
process is registered and killed at teardown (and gets PR_SET_PDEATHSIG so
that it dies with the runner even if the runner is killed).

Deadlines in this module only stop a broken build from hanging the run; no
test asserts on how long something took.
"""

import atexit
import base64
import ctypes
import errno
import itertools
import json
import os
import pwd
import re
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import unittest
import xml.etree.ElementTree as ET

BIN_KEYWARDD = os.environ.get("KW_BIN_KEYWARDD", "")
BIN_KEYWARD = os.environ.get("KW_BIN_KEYWARD", "")
BIN_KWCLIENT = os.environ.get("KW_BIN_KWCLIENT", "")

# KW_VALGRIND=1 (make test-valgrind): keywardd runs under valgrind's
# memcheck, every deadline is multiplied by SLOW (KW_SLOW overrides it), and
# each daemon process's valgrind log is checked when its test ends.
VALGRIND = os.environ.get("KW_VALGRIND", "") not in ("", "0")
SLOW = float(os.environ.get("KW_SLOW") or (6 if VALGRIND else 1))

# Generous: an AddressSanitizer build on a loaded machine is slow.
START_DEADLINE_S = 30.0 * SLOW
STOP_DEADLINE_S = 30.0 * SLOW
CLI_DEADLINE_S = 60.0 * SLOW
RPC_DEADLINE_S = 20.0 * SLOW

# Exit codes of the CLI (and of kwclient, which mirrors them).
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOTFOUND = 3
EXIT_DENIED = 4
EXIT_LOCKED = 5

# Fast settings for tests; individual test classes may override keys.
DEFAULT_CONFIG = {
    "agent": {
        # Long enough that a connection a test holds while it loads the
        # daemon from another is not closed under it on a busy machine;
        # test_hostile's Frames sets a short one to see the idle close.
        "idle_timeout_ms": 30000,
        "frame_timeout_ms": 1000,
        "max_connections": 64,
        "max_connections_per_uid": 64,
        "max_frame_bytes": 262144,
    },
    "store": {
        "max_value_bytes": 65536,
        "max_versions": 10,
    },
    "kdf": {
        "opslimit": 1,
        "memlimit_kib": 8192,
    },
}


def missing_binaries():
    """Names of the required binaries that are not set or not executable."""
    missing = []
    for var, path in (("KW_BIN_KEYWARDD", BIN_KEYWARDD),
                      ("KW_BIN_KEYWARD", BIN_KEYWARD),
                      ("KW_BIN_KWCLIENT", BIN_KWCLIENT)):
        if not path or not os.access(path, os.X_OK):
            missing.append("%s=%r" % (var, path))
    return missing


# --- child processes ---------------------------------------------------------

_PR_SET_PDEATHSIG = 1
try:
    _libc = ctypes.CDLL(None, use_errno=True)
except OSError:
    _libc = None

_children = []


def _die_with_parent():
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


def spawn(argv, env, **kw):
    """Popen registered for cleanup; the child is killed if we die."""
    proc = subprocess.Popen(argv, env=env, preexec_fn=_die_with_parent, **kw)
    _children.append(proc)
    return proc


def kill_all_children():
    """Kill every child still running (last-resort cleanup)."""
    for proc in _children:
        if proc.poll() is None:
            try:
                proc.kill()
            except OSError:
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
    _children[:] = [p for p in _children if p.poll() is None]


atexit.register(kill_all_children)


def poll_until(predicate, deadline_s, interval_s=0.02):
    """Call predicate until it returns a true value or the deadline passes.
    Returns the last value (false on timeout)."""
    end = time.monotonic() + deadline_s
    while True:
        value = predicate()
        if value or time.monotonic() >= end:
            return value
        time.sleep(interval_s)
        interval_s = min(interval_s * 1.5, 0.2)


class Result:
    """Outcome of a finished command: rc, out (bytes), err (str)."""

    def __init__(self, argv, rc, out, err):
        self.argv = argv
        self.rc = rc
        self.out = out
        self.err = err

    @property
    def text(self):
        return self.out.decode("utf-8", "replace")

    def __repr__(self):
        out = self.out if len(self.out) <= 400 else self.out[:400] + b"..."
        return "<%s rc=%r stdout=%r stderr=%r>" % (
            " ".join(os.path.basename(a) if i == 0 else a
                     for i, a in enumerate(self.argv)), self.rc, out,
            self.err[-2000:])


def run(argv, env, input=b"", pass_fds=(), timeout=CLI_DEADLINE_S, cwd=None):
    """Run argv to completion; stdin is input (bytes)."""
    proc = spawn(argv, env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE, pass_fds=pass_fds, cwd=cwd)
    try:
        out, err = proc.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError("%s did not finish within %ss; stderr: %s" % (
            argv, timeout, err.decode("utf-8", "replace")[-2000:]))
    return Result(argv, proc.returncode, out, err.decode("utf-8", "replace"))


def nobody(test):
    """(uid, gid) of the user nobody, for a test that runs a program as an
    ordinary user; skips test if there is none."""
    try:
        pw = pwd.getpwnam("nobody")
    except KeyError:
        test.skipTest("no user 'nobody'")
    return pw.pw_uid, pw.pw_gid


def as_user(uid, gid, argv):
    """argv run with uid and gid and no supplementary groups (setpriv)."""
    return ["setpriv", "--reuid", str(uid), "--regid", str(gid),
            "--clear-groups"] + list(argv)


def fd_with(data):
    """A pipe's read end with data already written and the writer closed.
    The caller passes it in pass_fds and closes it afterwards."""
    if isinstance(data, str):
        data = data.encode()
    rfd, wfd = os.pipe()
    try:
        os.write(wfd, data)
    finally:
        os.close(wfd)
    return rfd


# --- temporary home ----------------------------------------------------------

def _tmp_base():
    # /tmp keeps the socket path short (sockaddr_un) and lets another uid
    # traverse to a home we deliberately open up (test_peer).
    return "/tmp" if os.path.isdir("/tmp") else None


def render_config(config):
    lines = []
    for section, values in config.items():
        lines.append("[%s]" % section)
        for key, value in values.items():
            lines.append("%s = %s" % (key, value))
        lines.append("")
    return "\n".join(lines)


class Home:
    """A private KEYWARD_HOME (0700) with the socket inside it, plus a work
    directory outside it for files the test itself writes. The work
    directory is also HOME; with in_user_home the KEYWARD_HOME is
    HOME/.mcp, where keyward looks when nothing in the environment names
    it (as for a program an MCP client starts with a cleaned
    environment)."""

    def __init__(self, config_overrides=None, in_user_home=False):
        self.root = tempfile.mkdtemp(prefix="kwit-", dir=_tmp_base())
        self.work = os.path.join(self.root, "work")
        os.mkdir(self.work, 0o700)
        self.home = os.path.join(self.work if in_user_home else self.root,
                                 ".mcp" if in_user_home else "home")
        os.mkdir(self.home, 0o700)
        os.chmod(self.home, 0o700)
        self.socket = os.path.join(self.home, "agent.sock")
        self.db = os.path.join(self.home, "secrets.db")
        self.keyfile = os.path.join(self.home, "master.key")
        self.ini = os.path.join(self.home, "keyward.ini")
        self.log = os.path.join(self.home, "keywardd.log")
        config = {s: dict(v) for s, v in DEFAULT_CONFIG.items()}
        for section, values in (config_overrides or {}).items():
            config.setdefault(section, {}).update(values)
        self.config = config
        with open(self.ini, "w") as f:
            f.write(render_config(config))
        os.chmod(self.ini, 0o600)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("KEYWARD_") and k != "XDG_RUNTIME_DIR"}
        env["KEYWARD_HOME"] = self.home
        env["KEYWARD_SOCKET"] = self.socket
        env["HOME"] = self.work
        self.env = env

    @property
    def policies(self):
        return os.path.join(self.home, "policies")

    def write_policy(self, filename, text):
        """Write policies/FILENAME (0600), creating the directory."""
        os.makedirs(self.policies, mode=0o700, exist_ok=True)
        path = os.path.join(self.policies, filename)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o600)
        return path

    def write_test_policy(self):
        """Let the test's own clients (kwclient and this Python, for raw
        sockets) do everything, as the owner's CLI may after init."""
        text = ""
        for name, exe in (("test-kwclient", BIN_KWCLIENT),
                          ("test-python", sys.executable)):
            text += ("[client \"%s\"]\nexe = %s\nadmin = yes\n"
                     "read = **\nwrite = **\nlist = **\nrotate = **\n"
                     "verify = **\n\n" % (name, os.path.realpath(exe)))
        return self.write_policy("50-tests.ini", text)

    def cleanup(self):
        if os.environ.get("KW_KEEP_TMP"):
            sys.stderr.write("keeping %s\n" % self.root)
            return
        # Restore modes a test may have changed so rmtree can proceed.
        for path in (self.root, self.work, self.home):
            try:
                os.chmod(path, 0o700)
            except OSError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)

    def files(self):
        """Every regular file under the home (path list)."""
        out = []
        for dirpath, _dirs, names in os.walk(self.home):
            for name in names:
                path = os.path.join(dirpath, name)
                if stat.S_ISREG(os.lstat(path).st_mode):
                    out.append(path)
        return sorted(out)

    def log_text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=40):
        return "\n".join(self.log_text().splitlines()[-n:])


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


# --- the daemon --------------------------------------------------------------

def socket_accepts(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2.0)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


# --- valgrind (KW_VALGRIND) --------------------------------------------------

VALGRIND_EXIT = 99  # keywardd's own: 0-2, 65, 77, 78
VALGRIND_SUPP = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                             "valgrind.supp")
_valgrind_runs = itertools.count(1)


def valgrind_argv(base):
    """The memcheck prefix for keywardd: findings to BASE.PID.xml, valgrind's
    own messages to BASE.PID.log (not into the daemon's log)."""
    return ["valgrind", "--tool=memcheck", "--leak-check=full",
            "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite",
            "--error-exitcode=%d" % VALGRIND_EXIT, "--num-callers=30",
            "--child-silent-after-fork=yes", "--gen-suppressions=all",
            "--suppressions=" + VALGRIND_SUPP, "--xml=yes",
            "--xml-file=%s.%%p.xml" % base, "--log-file=%s.%%p.log" % base]


def _valgrind_error_text(err):
    lines = []
    for el in err:
        if el.tag in ("what", "auxwhat"):
            lines.append(el.text or "")
        elif el.tag in ("xwhat", "xauxwhat"):
            lines.append(el.findtext("text") or "")
        elif el.tag == "stack":
            for fr in el.findall("frame"):
                where = fr.findtext("obj") or ""
                if fr.findtext("file"):
                    where = "%s:%s" % (fr.findtext("file"),
                                       fr.findtext("line"))
                lines.append("    %s (%s)" % (
                    fr.findtext("fn") or fr.findtext("ip"), where))
        elif el.tag == "suppression":
            lines.append((el.findtext("rawtext") or "").strip())
    return "\n".join(lines)


def valgrind_findings(xml_file, complete):
    """Memcheck's errors (definite leaks included) in xml_file as text, ""
    if there are none. complete: the process was not SIGKILLed, so the file
    must hold the whole run, leak check included."""
    try:
        with open(xml_file, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except FileNotFoundError:  # fine if SIGKILLed before valgrind wrote
        return "no valgrind output in %s" % xml_file if complete else ""
    errors = [_valgrind_error_text(ET.fromstring(e)) for e in
              re.findall(r"<error>.*?</error>", text, re.S)]
    if complete and "</valgrindoutput>" not in text:
        errors.append("valgrind did not finish (no leak check) in %s"
                      % xml_file)
    return "\n\n".join(errors)


_pidfd_open_ok = None


def valgrind_lacks_pidfd_open():
    """True under a valgrind that answers ENOSYS to pidfd_open (3.19 does):
    keywardd needs it to watch a rotation command, so such runs fail."""
    global _pidfd_open_ok
    if not VALGRIND:
        return False
    if _pidfd_open_ok is None:
        r = subprocess.run(
            ["valgrind", "-q", "--tool=none", sys.executable, "-c",
             "import os; os.close(os.pidfd_open(os.getpid()))"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, timeout=START_DEADLINE_S)
        _pidfd_open_ok = r.returncode == 0
    return not _pidfd_open_ok


# --- skips that CI accepts ---------------------------------------------------

# A run with KW_REQUIRE_ALL=1 (.ci/run sets it) fails on any skipped test
# (run.py), except a skip whose reason is made by accepted_skip() with one
# of these keys while its condition holds. Each is a limit of one CI leg
# that the test cannot work around, and the same test runs un-skipped in
# another leg of the same CI run. tests/integration/README.md lists them;
# add one only with the same two properties.
ACCEPTED_SKIPS = {
    "valgrind-scale": (
        lambda: VALGRIND,
        "a scale test under valgrind (it would take most of the valgrind "
        "leg); it runs in the normal and sanitizer builds"),
    "valgrind-unconfined": (
        lambda: VALGRIND,
        "keywardd runs with --no-sandbox under valgrind (valgrind executes "
        "its system calls itself, so the filter would judge valgrind's); "
        "the test runs in the normal and sanitizer builds"),
    "valgrind-exe": (
        lambda: VALGRIND,
        "under valgrind keywardd's /proc/PID/exe names valgrind's tool, so "
        "a check that a peer runs keywardd's own executable (the command "
        "spawner's of its agent) refuses it; the test runs in the normal "
        "and sanitizer builds"),
    "valgrind-no-pidfd_open": (
        lambda: valgrind_lacks_pidfd_open(),
        "valgrind answers ENOSYS to pidfd_open (3.19 does), which keywardd "
        "needs to watch a rotation command; the test runs in the normal "
        "and sanitizer builds"),
}
ACCEPTED_PREFIX = "accepted skip "
_ACCEPTED_RE = re.compile(r"^accepted skip \[([a-z0-9_-]+)\]: ")


def accepted_skip(key, detail):
    """The reason text for a skip that KW_REQUIRE_ALL accepts (key from
    ACCEPTED_SKIPS), for unittest.skipIf or TestCase.skipTest."""
    if key not in ACCEPTED_SKIPS:
        raise KeyError("no accepted skip %r in harness.ACCEPTED_SKIPS"
                       % key)
    return "%s[%s]: %s" % (ACCEPTED_PREFIX, key, detail)


def accepted_skip_key(reason):
    """The ACCEPTED_SKIPS key of a skip reason if KW_REQUIRE_ALL accepts
    it here (registered and its condition holds in this run), else None."""
    m = _ACCEPTED_RE.match(reason or "")
    entry = ACCEPTED_SKIPS.get(m.group(1)) if m else None
    if entry is None or not entry[0]():
        return None
    return m.group(1)


# --- the daemon's test hooks -----------------------------------------------

# KEYWARD_TEST_CLOCK and KEYWARD_TEST_CRASH exist only in a keywardd built
# with -Dtest_hooks=true (make's build, build-asan and build-valgrind
# trees); any other keywardd never reads them, so a test that sets one
# would run on the real clock, or never crash where it means to. The
# variable names are in such a binary (getenv's argument) and in no other
# (tests/deb-check.sh checks both ways), which is what is looked for.
TEST_HOOK_MARK = b"KEYWARD_TEST_CLOCK"
_test_hooks = {}


def keywardd_has_test_hooks(path=None):
    """Was keywardd (BIN_KEYWARDD unless path) built with test hooks?"""
    path = path or BIN_KEYWARDD
    if path not in _test_hooks:
        with open(path, "rb") as f:
            _test_hooks[path] = TEST_HOOK_MARK in f.read()
    return _test_hooks[path]


def require_test_hooks(names):
    """Fail, saying why, if names (environment variables a test gives the
    daemon) include a test hook that this keywardd does not have."""
    hooks = sorted(n for n in names if n.startswith("KEYWARD_TEST_"))
    if hooks and not keywardd_has_test_hooks():
        raise AssertionError(
            "%s needs a keywardd built with -Dtest_hooks=true, and %s was "
            "built without (make build sets it up so; for a tree of your "
            "own: scripts/set-test-hooks.sh BUILD)"
            % (", ".join(hooks), BIN_KEYWARDD))


class Daemon:
    """keywardd in the foreground, stderr appended to a log file."""

    def __init__(self, home, log=None):
        self.extra_env = {}  # for the daemon only (fault injection)
        self.extra_args = []  # keywardd options (--accept-loss)
        self.home = home
        self.log = log or home.log
        self.proc = None
        self.vg_runs = []  # (process, valgrind xml) not yet checked

    def start(self, wait=True):
        assert self.proc is None or self.proc.poll() is not None, \
            "daemon already running"
        require_test_hooks(self.extra_env)
        logfd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT |
                        os.O_CLOEXEC, 0o600)
        try:
            env = dict(self.home.env)
            env.update(self.extra_env)
            argv = [BIN_KEYWARDD] + list(self.extra_args)
            if VALGRIND:
                # Valgrind runs the client's system calls itself: under
                # the agent's seccomp filter it would be killed.
                argv.append("--no-sandbox")
                base = os.path.join(
                    os.environ.get("KW_VALGRIND_LOGDIR") or self.home.root,
                    "%s-%d" % (os.path.basename(self.home.root),
                               next(_valgrind_runs)))
                argv = valgrind_argv(base) + argv
            self.proc = spawn(argv, env,
                              stdin=subprocess.DEVNULL, stdout=logfd,
                              stderr=logfd, cwd=self.home.work)
            if VALGRIND:
                self.vg_runs.append((self.proc, "%s.%d.xml"
                                     % (base, self.proc.pid)))
        finally:
            os.close(logfd)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self):
        """Poll until the socket accepts connections; fail (with the log)
        if the daemon exits first or the deadline passes."""
        def ready():
            if self.proc.poll() is not None:
                return "exited"
            return socket_accepts(self.home.socket)
        state = poll_until(ready, START_DEADLINE_S)
        if state is True:
            return
        if state == "exited":
            raise AssertionError(
                "keywardd exited with %s before accepting connections; "
                "log:\n%s" % (self.proc.returncode, self.log_tail()))
        raise AssertionError("keywardd did not accept connections within "
                             "%ss; log:\n%s" % (START_DEADLINE_S,
                                                self.log_tail()))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout=STOP_DEADLINE_S):
        """Exit status, or an AssertionError (after killing it) if it does
        not exit in time."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("keywardd did not exit within %ss; log:\n%s"
                                 % (timeout, self.log_tail()))

    def stop(self):
        """SIGTERM and wait; returns the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        return self.wait_exit()

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self):
        rc = self.stop()
        self.start()
        return rc

    def log_text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=40):
        return "\n".join(self.log_text().splitlines()[-n:])

    def valgrind_problems(self):
        """Memcheck's findings for each process started since the last call
        (all must have exited), one text per process with any."""
        out = []
        for proc, xml in self.vg_runs:
            found = valgrind_findings(xml, proc.returncode != -signal.SIGKILL)
            if found:
                out.append("valgrind: keywardd pid %d (exit %s, %s):\n%s"
                           % (proc.pid, proc.returncode, xml, found))
        self.vg_runs = []
        return out


# --- raw JSON-RPC ------------------------------------------------------------

class Closed(Exception):
    """The agent closed the connection."""


class Rpc:
    """A raw connection speaking newline-delimited JSON."""

    def __init__(self, path, connect=True):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.buf = b""
        self.eof = False
        self.next_id = 1
        if connect:
            self.sock.settimeout(RPC_DEADLINE_S)
            self.sock.connect(path)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        """Send raw bytes. Returns False if the agent already closed."""
        if isinstance(data, str):
            data = data.encode()
        self.sock.settimeout(RPC_DEADLINE_S)
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def send_obj(self, obj):
        return self.send(json.dumps(obj, separators=(",", ":")) + "\n")

    def recv_line(self, timeout=RPC_DEADLINE_S):
        """The next line (bytes, without newline), or None at EOF."""
        end = time.monotonic() + timeout
        while b"\n" not in self.buf:
            if self.eof:
                return None
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError("no complete line within %ss (have %r)"
                                   % (timeout, self.buf[:200]))
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            except socket.timeout:
                continue
            if not chunk:
                self.eof = True
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def recv_json(self, timeout=RPC_DEADLINE_S):
        """The next message, parsed; raises Closed at EOF."""
        line = self.recv_line(timeout)
        if line is None:
            raise Closed("connection closed by the agent")
        try:
            return json.loads(line)
        except ValueError:
            raise AssertionError("agent sent a line that is not JSON: %r"
                                 % line[:300])

    def request(self, method, params=None, id=None):
        if id is None:
            id = self.next_id
            self.next_id += 1
        msg = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            msg["params"] = params
        return msg

    def call(self, method, params=None, id=None, timeout=RPC_DEADLINE_S):
        """Send one request and return the parsed response."""
        msg = self.request(method, params, id)
        if not self.send_obj(msg):
            raise Closed("agent closed the connection before the request")
        resp = self.recv_json(timeout)
        if resp.get("id") != msg["id"]:
            raise AssertionError("response id %r does not match request id "
                                 "%r: %r" % (resp.get("id"), msg["id"], resp))
        return resp

    def read_until_closed(self, timeout=RPC_DEADLINE_S):
        """Collect lines until EOF. Returns (lines, closed)."""
        lines = []
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return lines, False
            try:
                line = self.recv_line(left)
            except TimeoutError:
                return lines, False
            if line is None:
                return lines, True
            lines.append(line)


def b64(data):
    return base64.b64encode(data).decode("ascii")


# --- a failing disk (tests/integration/failsync.c) ---------------------------

FAILSYNC_SO = os.environ.get("KW_FAILSYNC_SO", "")


def start_with_shim(case, so, trigger_var, trigger_name):
    """Start case's daemon (a DaemonTestCase with START = False) with the
    fault shim so preloaded, and set case.trigger to WORK/trigger_name,
    named to the shim in trigger_var: the fault is on while it exists."""
    case.trigger = os.path.join(case.h.work, trigger_name)
    case.d.extra_env = {
        "LD_PRELOAD": so,
        trigger_var: case.trigger,
        # The shim loads before the sanitizer runtime in ASan builds.
        "ASAN_OPTIONS": "verify_asan_link_order=0",
    }
    case.d.start()


def start_with_failing_sync(case):
    """start_with_shim with failsync.c: while case.trigger exists, syncing
    SQLite's WAL fails with EIO."""
    start_with_shim(case, FAILSYNC_SO, "KW_FAILSYNC_TRIGGER", "failsync.on")


def keep_busy(socket_path, stop):
    """Another client in the agent's turns: agent.status in batches of 20
    until stop (a threading.Event) is set."""
    b = Rpc(socket_path)
    n = 0
    try:
        while not stop.is_set():
            for _ in range(20):
                b.send_obj({"jsonrpc": "2.0", "id": n,
                            "method": "agent.status"})
                n += 1
            for _ in range(20):
                b.recv_json()
    finally:
        b.close()


# --- test case base ----------------------------------------------------------

class DaemonTestCase(unittest.TestCase):
    """Each test gets a fresh home, `keyward init` (keyfile mode unless
    PASSPHRASE is set) and a running daemon."""

    CONFIG = None          # overrides of DEFAULT_CONFIG
    HOME_IN_USER_HOME = False  # KEYWARD_HOME is HOME/.mcp (see Home)
    PASSPHRASE = None      # init in passphrase mode with this passphrase
    INIT = True            # run `keyward init` in setUp
    START = True           # start the daemon in setUp (needs INIT)

    def setUp(self):
        missing = missing_binaries()
        if missing:
            self.fail("binaries not available: " + ", ".join(missing))
        self.h = Home(self.CONFIG, in_user_home=self.HOME_IN_USER_HOME)
        self.addCleanup(self.h.cleanup)
        self.daemons = []
        self.addCleanup(self._stop_daemons)
        self.addCleanup(self._dump_log_on_failure)
        if self.INIT:
            self.init_store(self.PASSPHRASE)
        self.d = self.new_daemon()
        if self.INIT and self.START:
            self.d.start()

    # cleanups run in reverse: the log is dumped before daemons are stopped
    def _stop_daemons(self):
        problems = []
        for d in self.daemons:
            if VALGRIND:  # SIGTERM: a SIGKILLed process gets no leak check
                try:
                    d.stop()
                except AssertionError as e:
                    problems.append(str(e))
            d.kill()
        kill_all_children()
        for d in self.daemons:
            problems.extend(d.valgrind_problems())
        if problems:
            self.fail("\n\n".join(problems))

    def _failed(self):
        outcome = getattr(self, "_outcome", None)
        result = getattr(outcome, "result", None)
        if result is None:
            return False
        for test, _ in list(result.failures) + list(result.errors):
            if test is self:
                return True
        return not getattr(outcome, "success", True)

    def _dump_log_on_failure(self):
        if self._failed():
            sys.stderr.write("\n--- keywardd log of %s ---\n%s\n--- end ---\n"
                             % (self.id(), self.h.log_tail(60)))

    def new_daemon(self, log=None):
        d = Daemon(self.h, log)
        self.daemons.append(d)
        return d

    def init_store(self, passphrase=None):
        if passphrase is None:
            r = self.cli("init")
        else:
            rfd = fd_with(passphrase + "\n")
            try:
                r = self.cli("init", "--passphrase", "--passphrase-fd",
                             str(rfd), pass_fds=(rfd,))
            finally:
                os.close(rfd)
        self.assertEqual(r.rc, 0, "keyward init failed: %r" % r)
        self.h.write_test_policy()
        return r

    # -- clients --

    def cli(self, *args, input=b"", pass_fds=()):
        return run([BIN_KEYWARD] + list(args), self.h.env, input=input,
                   pass_fds=pass_fds, cwd=self.h.work)

    def kw(self, *args, input=b""):
        return run([BIN_KWCLIENT] + list(args), self.h.env, input=input,
                   cwd=self.h.work)

    def copy_client(self, sub):
        """A copy of kwclient at WORK/SUB/kwclient (dirs and file 0755):
        a program of its own path, for policy sections naming an exe."""
        d = os.path.join(os.path.realpath(self.h.work), sub)
        os.makedirs(d, 0o755, exist_ok=True)
        os.chmod(d, 0o755)
        path = os.path.join(d, "kwclient")
        shutil.copyfile(BIN_KWCLIENT, path)
        os.chmod(path, 0o755)
        return path

    def as_client(self, exe, *args, token=None, input=b""):
        """Run a kwclient copy, with KEYWARD_TOKEN only if token is set."""
        env = dict(self.h.env)
        env.pop("KEYWARD_TOKEN", None)
        if token is not None:
            env["KEYWARD_TOKEN"] = token
        return run([exe] + list(args), env, input=input, cwd=self.h.work)

    def rpc(self):
        r = Rpc(self.h.socket)
        self.addCleanup(r.close)
        return r

    def unlock_cli(self, passphrase):
        rfd = fd_with(passphrase + "\n")
        try:
            return self.cli("unlock", "--passphrase-fd", str(rfd),
                            pass_fds=(rfd,))
        finally:
            os.close(rfd)

    # -- assertions --

    def assertRc(self, result, rc, msg=""):
        self.assertEqual(result.rc, rc, "%s%s\nlog:\n%s" % (
            msg + "\n" if msg else "", result, self.h.log_tail(15)))

    def put_cli(self, name, value):
        # An empty value is stored on purpose here (put refuses empty
        # stdin unless told).
        extra = () if value else ("--allow-empty",)
        r = self.cli("put", name, *extra, input=value)
        self.assertRc(r, 0)
        return r

    def get_cli(self, name, *extra):
        r = self.cli("get", name, *extra)
        self.assertRc(r, 0)
        return r.out

    def assertRpcResult(self, resp):
        self.assertIn("result", resp, "expected a result: %r" % resp)
        self.assertNotIn("error", resp, resp)
        self.assertEqual(resp.get("jsonrpc"), "2.0", resp)
        return resp["result"]

    def assertRpcError(self, resp, code, kind=None, field=None):
        """resp is an error with this code (and kind); if field is given the
        message names it, and data.field, when present, equals it."""
        self.assertNotIn("result", resp, "expected an error: %r" % resp)
        self.assertIn("error", resp, resp)
        self.assertEqual(resp.get("jsonrpc"), "2.0", resp)
        err = resp["error"]
        self.assertEqual(err.get("code"), code, resp)
        self.assertIsInstance(err.get("message"), str, resp)
        self.assertTrue(err["message"], "empty error message: %r" % resp)
        data = err.get("data")
        self.assertIsInstance(data, dict, "error.data missing: %r" % resp)
        if kind is not None:
            self.assertEqual(data.get("kind"), kind, resp)
        if field is not None:
            self.assertIn(field, err["message"],
                          "message does not name %r: %r" % (field, resp))
            if "field" in data:
                self.assertEqual(data["field"], field, resp)
        return err

    def assertNotInBytes(self, needle, haystack, where):
        if needle in haystack:
            i = haystack.find(needle)
            self.fail("secret bytes (%d long) found in %s at offset %d"
                      % (len(needle), where, i))


def parse_json_lines(out):
    """A list of objects from output that is one JSON object per line."""
    objs = []
    for line in out.decode("utf-8").splitlines():
        if line.strip():
            objs.append(json.loads(line))
    return objs


def parse_json_list(out, key):
    """Objects from output that is JSON lines, a JSON array, or an object
    holding the list under key."""
    text = out.decode("utf-8").strip()
    try:
        whole = json.loads(text)
    except ValueError:
        return parse_json_lines(out)
    if isinstance(whole, list):
        return whole
    if isinstance(whole, dict) and isinstance(whole.get(key), list):
        return whole[key]
    return [whole]


def raise_nofile(want):
    """Raise RLIMIT_NOFILE's soft limit to at least want (up to the hard
    limit). Returns the resulting soft limit."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        soft = new
    return soft


def nonblocking_connect(path):
    """(sock, None) when connected, (None, errno) when refused."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setblocking(False)
    rc = s.connect_ex(path)
    if rc == 0:
        return s, None
    if rc == errno.EINPROGRESS:
        # Unix sockets do not normally report this; wait for writability.
        _, w, _ = select.select([], [s], [], RPC_DEADLINE_S)
        if w:
            rc = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if rc == 0:
                return s, None
    s.close()
    return None, rc
