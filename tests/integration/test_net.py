"""keyward-net, the HTTP helper keywardd has the command spawner start
(agent/net/netclient.h): the key holder never maps libcurl; the helper
starts with an empty environment and nothing of keywardd's open but its
socket (and stderr), dies with keywardd, and a kill -9 of it during a
webhook rotation fails that step with an audited reason, is followed by a
restart, and the step is retried: nothing lost, other clients served
meanwhile. A helper that stops answering, or that makes a system call
outside its filter (killed by SIGSYS), is replaced the same way. The
running helper is confined (no_new_privs, seccomp, Landlock at the
kernel's ABI), and so is the key holder (no_new_privs, seccomp)."""

import ctypes
import json
import os
import shutil
import signal
import threading
import unittest

import harness
from harness import poll_until
from test_rotation import T0, DAY, spawner_of
from test_webhook import WebhookCase, make_ca


def children(pid):
    """The pids of pid's children (every thread's)."""
    out = []
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out += [int(p) for p in f.read().split()]
        except FileNotFoundError:
            pass
    return out


def exe_name(pid):
    try:
        return os.path.basename(os.readlink("/proc/%d/exe" % pid))
    except OSError:
        return None


def fd_targets(pid):
    """{fd: what it points to} of a live process."""
    d = "/proc/%d/fd" % pid
    out = {}
    for fd in os.listdir(d):
        try:
            out[int(fd)] = os.readlink(os.path.join(d, fd))
        except FileNotFoundError:
            pass
    return out


def landlock_abi():
    """The kernel's Landlock ABI version, 0 without Landlock:
    landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)
    (system call 444 on every architecture)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    abi = libc.syscall(ctypes.c_long(444), None, ctypes.c_size_t(0),
                       ctypes.c_uint32(1))
    return abi if abi > 0 else 0


def proc_status(pid):
    with open("/proc/%d/status" % pid) as f:
        return {k: v.strip() for k, v in
                (ln.split(":", 1) for ln in f if ":" in ln)}


class NetCase(WebhookCase):
    CONFIG = {"rotation": {"max_attempts": 3, "retry_seconds": 10}}

    def setUp(self):
        super().setUp()
        self.put("hooks/key", self.KEY)

    def loopback_hook(self, name):
        """A receiver on loopback, and name (value v1) scheduled for
        rotation through it; the receiver."""
        rcv = self.receiver()
        self.put(name, b"v1")
        self.schedule(name, DAY, "webhook:http://127.0.0.1:%d/h" % rcv.port,
                      hmac_secret="hooks/key", allow_insecure=True,
                      allow_private=True)
        return rcv

    def helper(self, other_than=None):
        """keyward-net's pid (a new one if other_than is given), waiting
        for the restart. It is the command spawner's child, not the key
        holder's."""
        found = {}

        def look():
            sp = spawner_of(self.d.proc.pid)
            for c in children(sp) if sp else []:
                if exe_name(c) == "keyward-net" and c != other_than:
                    found["pid"] = c
                    return True
            return False
        self.assertTrue(poll_until(look, 10 * harness.SLOW),
                        "keywardd's spawner has no keyward-net child")
        return found["pid"]


class TestNetHelper(NetCase):

    def test_key_holder_maps_no_libcurl(self):
        net = self.helper()
        with open("/proc/%d/maps" % self.d.proc.pid) as f:
            agent_maps = f.read()
        with open("/proc/%d/maps" % net) as f:
            net_maps = f.read()
        self.assertIn("libcurl", net_maps)  # the check can fail
        self.assertNotIn("libcurl", agent_maps)
        self.assertNotIn("libssl", agent_maps)

    def test_helper_starts_clean_and_dies_with_the_agent(self):
        net = self.helper()
        with open("/proc/%d/environ" % net, "rb") as f:
            self.assertEqual(f.read(), b"")
        mine = fd_targets(net)
        agent = fd_targets(self.d.proc.pid)
        self.assertEqual(mine[0], "/dev/null")
        self.assertEqual(mine[1], "/dev/null")
        self.assertEqual(mine[2], agent[2])  # the log
        self.assertTrue(mine[3].startswith("socket:"), mine)
        # Nothing else of keywardd's: its store, audit, listening socket.
        shared = {fd: t for fd, t in mine.items()
                  if fd > 2 and t in agent.values()}
        self.assertEqual(shared, {})
        self.assertFalse(any(self.h.home in t for fd, t in mine.items()
                             if fd != 2), mine)
        with open("/proc/%d/status" % net) as f:
            status = f.read()
        # Started by the spawner, which keywardd forked before any key.
        self.assertIn("\nPPid:\t%d\n" % spawner_of(self.d.proc.pid),
                      status)
        self.assertNotIn(self.d.proc.pid, [c for c in children(
            self.d.proc.pid) if exe_name(c) == "keyward-net"])
        self.d.kill()
        self.assertTrue(poll_until(
            lambda: not os.path.exists("/proc/%d/exe" % net) or
            exe_name(net) != "keyward-net", 10 * harness.SLOW),
            "keyward-net outlived a kill -9 of keywardd")

    def test_helper_is_confined(self):
        """What /proc shows of the running helper: no_new_privs and a
        seccomp filter. Landlock leaves no trace in /proc, so that the
        helper cannot read secrets.db is shown in two halves: its log line
        says it applied the net profile at the kernel's Landlock ABI (or
        that the kernel lacks Landlock), and the sandbox test
        (tests/sandbox) proves with a probe under the same profile that
        a secrets.db outside its paths is refused."""
        net = self.helper()
        # Only keyward-net logs "sandbox net:", once confined (it is found
        # above as soon as it is exec'd, before that).
        abi = landlock_abi()
        want = ("Landlock ABI %d" % abi if abi else
                "Landlock absent (the kernel lacks it)")
        self.assertTrue(poll_until(
            lambda: "sandbox net: no_new_privs, seccomp (" in
            self.d.log_text(), 10 * harness.SLOW), self.d.log_tail())
        lines = [ln for ln in self.d.log_text().splitlines()
                 if "sandbox net: " in ln]
        self.assertEqual(len(lines), 1, lines)
        self.assertIn(want, lines[0])
        status = proc_status(net)
        self.assertEqual(status["NoNewPrivs"], "1")
        self.assertEqual(status["Seccomp"], "2")  # filter mode
        self.assertGreaterEqual(int(status.get("Seccomp_filters", "1")), 1)
        # Nothing of the home open, the store included.
        self.assertTrue(os.path.exists(self.h.db))
        self.assertNotIn(os.path.realpath(self.h.db),
                         fd_targets(net).values())

    @unittest.skipIf(harness.VALGRIND, harness.accepted_skip(
        "valgrind-unconfined", "the key holder's own sandbox"))
    def test_key_holder_is_confined(self):
        """keywardd itself: no_new_privs and its seccomp filter, seen in
        /proc, and its log line. That the filter refuses AF_INET and
        AF_INET6 sockets and kills on execve is proved by the probe under
        the same profile (tests/sandbox)."""
        status = proc_status(self.d.proc.pid)
        self.assertEqual(status["NoNewPrivs"], "1")
        self.assertEqual(status["Seccomp"], "2")
        lines = [ln for ln in self.d.log_text().splitlines()
                 if "sandbox keyholder: " in ln]
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("no_new_privs, seccomp (", lines[0])
        self.assertIn("listening on %s (keyfile mode, unlocked, confined)"
                      % self.h.socket, self.d.log_text())
        # The spawner, forked before the filter, is not under it: the
        # commands it starts run with the user's full rights.
        self.assertEqual(proc_status(spawner_of(self.d.proc.pid))
                         ["Seccomp"], "0")

    def test_kill_helper_during_webhook_rotation(self):
        rcv = self.loopback_hook("app/wh")
        rcv.hold = threading.Event()
        self.put("other/value", b"still served")
        net = self.helper()
        rid = self.call("rotate.start", {"name": "app/wh"})["rotation_id"]
        # The set step's request is at the receiver, held there.
        self.assertTrue(poll_until(lambda: len(rcv.requests) == 1, 10))
        os.kill(net, signal.SIGKILL)
        self.assertTrue(poll_until(
            lambda: (self.status("app/wh")["rotation"] or {})
            .get("attempts") == 1, 10))
        run = self.status("app/wh")["rotation"]
        self.assertEqual(run["step"], "set")
        self.assertIn("keyward-net", run["error"])
        self.assertIn("signal 9", run["error"])
        retry = [r for r in self.audit_rows("app/wh")
                 if r["op"] == "rotate.retry"]
        self.assertEqual(len(retry), 1, retry)
        self.assertIn("keyward-net (the HTTP helper) was killed by signal 9",
                      retry[0]["reason"])
        # Served meanwhile; the value is untouched.
        for _ in range(5):
            self.assertEqual(self.get("other/value")[0], b"still served")
        self.assertEqual(self.get("app/wh"), (b"v1", 1))

        self.helper(other_than=net)  # restarted
        rcv.hold.set()
        self.set_clock(T0 + 60)  # past the step's backoff
        self.wait_run("app/wh", rid)
        value, ver = self.get("app/wh")
        self.assertEqual(ver, 2)
        steps = [json.loads(b)["step"] for _, _, b in rcv.requests]
        self.assertEqual(steps, ["set", "set", "test"])
        bodies = [json.loads(b) for _, _, b in rcv.requests]
        self.assertTrue(all(b["version"] == 2 for b in bodies), bodies)


class TestNetHelperHung(NetCase):
    """A helper that stops answering (here: SIGSTOP) is killed once a
    request is overdue, and restarted; the step is retried."""
    CONFIG = {"rotation": {"max_attempts": 3, "retry_seconds": 10,
                           "webhook_timeout_seconds": 1}}

    def test_stopped_helper_is_replaced(self):
        rcv = self.loopback_hook("app/wh")
        net = self.helper()
        os.kill(net, signal.SIGSTOP)
        try:
            rid = self.call("rotate.start",
                            {"name": "app/wh"})["rotation_id"]
            self.assertTrue(poll_until(
                lambda: (self.status("app/wh")["rotation"] or {})
                .get("attempts") == 1, 20 * harness.SLOW))
            run = self.status("app/wh")["rotation"]
            self.assertIn("keyward-net", run["error"])
            self.assertIn("did not answer in time", run["error"])
            self.assertEqual(rcv.requests, [])
            self.helper(other_than=net)
        finally:
            try:
                os.kill(net, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self.set_clock(T0 + 60)
        self.wait_run("app/wh", rid)
        self.assertEqual(self.get("app/wh")[1], 2)
        self.assertEqual([json.loads(b)["step"] for _, _, b in rcv.requests],
                         ["set", "test"])


class TestNetHelperSigsys(NetCase):
    """keyward-net makes a system call outside its filter (a test hook the
    spawner arms for one helper: KEYWARD_TEST_NET_SIGSYS) at its first
    transfer: the kernel kills it with SIGSYS, the step fails with an
    audited reason naming the signal, the spawner starts a new helper, and
    the retried step goes through it."""

    def setUp(self):
        self.trigger = None
        super().setUp()

    def start_agent(self):
        """The running agent, restarted with the trigger armed."""
        self.trigger = os.path.join(self.h.root, "net-sigsys")
        with open(self.trigger, "w"):
            pass
        self.d.stop()
        self.d.extra_env["KEYWARD_TEST_NET_SIGSYS"] = self.trigger
        self.d.start()
        self.r = self.rpc()

    def test_forbidden_call_kills_helper_and_agent_recovers(self):
        rcv = self.loopback_hook("app/wh")
        self.start_agent()
        net = self.helper()
        # Taken by the spawner for this helper only.
        self.assertFalse(os.path.exists(self.trigger))
        rid = self.call("rotate.start", {"name": "app/wh"})["rotation_id"]
        self.assertTrue(poll_until(
            lambda: (self.status("app/wh")["rotation"] or {})
            .get("attempts") == 1, 10 * harness.SLOW))
        run = self.status("app/wh")["rotation"]
        self.assertIn("keyward-net (the HTTP helper) was killed by "
                      "signal %d" % signal.SIGSYS, run["error"])
        retry = [r for r in self.audit_rows("app/wh")
                 if r["op"] == "rotate.retry"]
        self.assertEqual(len(retry), 1, retry)
        self.assertIn("signal %d" % signal.SIGSYS, retry[0]["reason"])
        self.assertEqual(rcv.requests, [])  # it died before sending
        self.assertEqual(self.get("app/wh"), (b"v1", 1))

        self.helper(other_than=net)  # a new helper, without the hook
        self.set_clock(T0 + 60)  # past the step's backoff
        self.wait_run("app/wh", rid)
        self.assertEqual(self.get("app/wh")[1], 2)
        self.assertEqual([json.loads(b)["step"] for _, _, b in rcv.requests],
                         ["set", "test"])


class TestKeyHolderFiles(NetCase):
    """The key holder's Landlock rules ([agent] confine_files, on by
    default): a file outside its home, its socket's directory and what the
    configuration named at start is out of its reach, and clients are
    still known by their executables, which the command spawner reads for
    it (peer.h). The file is the webhook CA file, which the key holder
    reads at every webhook step: named in the configuration but created
    only after the start, it is outside the rules."""

    def restart_with_late_ca(self, confine_files=None):
        """The agent restarted with a webhook CA file that does not exist
        yet, which is then created; its path."""
        # Not under the work directory: the test clock's directory is
        # in the rules (test builds read it).
        late = os.path.join(self.h.root, "late")
        os.mkdir(late, 0o700)
        ca = os.path.join(late, "ca.pem")
        self.d.stop()
        self.h.config.setdefault("rotation", {})["webhook_ca_file"] = ca
        if confine_files:
            self.h.config.setdefault("agent", {})["confine_files"] = \
                confine_files
        with open(self.h.ini, "w") as f:
            f.write(harness.render_config(self.h.config))
        self.d.start()
        self.r = self.rpc()
        pki = os.path.join(self.h.work, "pki")
        os.mkdir(pki, 0o700)
        shutil.copy(make_ca(pki)[0], ca)
        return ca

    def sandbox_line(self):
        return [ln for ln in self.d.log_text().splitlines()
                if "sandbox keyholder: " in ln][-1]

    @unittest.skipIf(harness.VALGRIND, harness.accepted_skip(
        "valgrind-unconfined", "the key holder's own sandbox"))
    def test_files_confined_by_default_executables_still_known(self):
        self.loopback_hook("app/wh")
        ca = self.restart_with_late_ca()
        abi = landlock_abi()
        if not abi:
            self.assertIn("Landlock absent (the kernel lacks it)",
                          self.sandbox_line())
            return  # the rest needs Landlock; CI's kernels have it
        self.assertIn("Landlock ABI %d" % abi, self.sandbox_line())
        self.call("rotate.start", {"name": "app/wh"})
        self.assertTrue(poll_until(
            lambda: (self.status("app/wh")["rotation"] or {})
            .get("attempts") == 1, 10 * harness.SLOW))
        err = self.status("app/wh")["rotation"]["error"]
        self.assertIn("cannot use the CA file %s" % ca, err)
        self.assertIn("permission denied", err)
        self.assertEqual(self.get("app/wh"), (b"v1", 1))
        # The owner's keyward is still known by its executable, and
        # refused nothing.
        r = self.cli("put", "conf/x", input=b"v")
        self.assertRc(r, 0)
        r = self.cli("get", "conf/x")
        self.assertRc(r, 0)
        self.assertEqual(r.out, b"v")

    @unittest.skipIf(harness.VALGRIND, harness.accepted_skip(
        "valgrind-unconfined", "the key holder's own sandbox"))
    def test_off_reaches_a_file_created_later(self):
        rcv = self.loopback_hook("app/wh")
        self.restart_with_late_ca("off")
        self.assertIn("no Landlock rules (files are not confined)",
                      self.sandbox_line())
        rid = self.call("rotate.start", {"name": "app/wh"})["rotation_id"]
        self.wait_run("app/wh", rid)
        self.assertEqual(self.get("app/wh")[1], 2)
        self.assertEqual([json.loads(b)["step"] for _, _, b in rcv.requests],
                         ["set", "test"])
        r = self.cli("get", "app/wh")
        self.assertRc(r, 0)
