"""The owner's keyward CLIs: the keyward executables init pins in
policies/00-owner.ini, `keyward policy owner add/list`, the agent reloading
on SIGHUP when it refuses the keyward asking, and the hint a refused
keyward of the owner's uid prints."""

import os
import shutil
import socket
import stat
import subprocess
import tempfile
import unittest

import harness
from harness import (BIN_KEYWARD, BIN_KEYWARDD, DaemonTestCase, EXIT_DENIED,
                     EXIT_ERROR, EXIT_USAGE, run)
from test_net import landlock_abi

OWNER_FILE = "00-owner.ini"


def owner_list(result):
    """(section, exe) pairs from `keyward policy owner list`."""
    pairs = []
    for line in result.text.splitlines():
        fields = line.split()
        if fields:
            pairs.append((fields[0], fields[1]))
    return pairs


def hint_for(exe):
    return ("keyward: this keyward (%s) is not named in the owner policy "
            "(policies/00-owner.ini); to let it administer this store, run: "
            "%s policy owner add" % (exe, exe))


class OwnerTestCase(DaemonTestCase):

    @property
    def owner_file(self):
        return os.path.join(self.h.policies, OWNER_FILE)

    def read_owner_file(self):
        with open(self.owner_file) as f:
            return f.read()

    def moved_keyward(self, sub="moved"):
        """A copy of the build's keyward elsewhere: a keyward init did not
        pin, as an installed one is to a store make run made."""
        d = os.path.join(os.path.realpath(self.h.work), sub)
        os.makedirs(d, 0o755, exist_ok=True)
        path = os.path.join(d, "keyward")
        shutil.copyfile(BIN_KEYWARD, path)
        os.chmod(path, 0o755)
        return path

    def run_as(self, exe, *args, input=b""):
        return run([exe] + list(args), self.h.env, input=input,
                   cwd=self.h.work)


class InitPins(OwnerTestCase):

    def test_init_names_every_keyward_it_knows(self):
        text = self.read_owner_file()
        self.assertTrue(text.startswith("# 00-owner.ini - the default "
                                        "policy, written by keyward init."),
                        text)
        self.assertIn("policy owner add", text)
        r = self.cli("policy", "owner", "list")
        self.assertRc(r, 0)
        pairs = owner_list(r)
        exes = [exe for _, exe in pairs]
        self.assertEqual(pairs[0], ("owner-cli",
                                    os.path.realpath(BIN_KEYWARD)), r)
        self.assertIn("(this keyward)", r.text.splitlines()[0])
        for usual in ("/usr/bin/keyward", "/usr/local/bin/keyward"):
            self.assertIn(os.path.realpath(usual), exes, r)
        self.assertEqual(len(exes), len(set(exes)), "a path twice: %r" % r)
        self.assertEqual([name for name, _ in pairs],
                         ["owner-cli"] + ["owner-cli-%d" % i
                                          for i in range(2, len(pairs) + 1)])
        # Each section is loaded, with the owner's grants.
        for exe in exes:
            r = self.cli("policy", "check", "--uid", str(os.geteuid()),
                         "--exe", exe, "--op", "admin")
            self.assertRc(r, 0, "not an admin: %s" % exe)
        self.assertEqual(stat.S_IMODE(os.stat(self.owner_file).st_mode),
                         0o600)


class OwnerAdd(OwnerTestCase):

    def test_moved_keyward_is_told_then_added_through_sighup(self):
        moved = self.moved_keyward()
        r = self.run_as(moved, "status")
        self.assertRc(r, 0)
        self.assertIn("denied to this program", r.text)
        self.assertIn(hint_for(moved), r.text)
        r = self.run_as(moved, "ls")
        self.assertRc(r, EXIT_DENIED)
        self.assertIn(hint_for(moved), r.err)
        # It may not ask for policy.reload: the agent is sent SIGHUP, and
        # add returns once the agent lets it in.
        r = self.run_as(moved, "policy", "owner", "add")
        self.assertRc(r, 0)
        self.assertIn("sent SIGHUP to keywardd (pid %d)" % self.d.proc.pid,
                      r.text)
        self.assertIn("lets this keyward in now", r.text)
        self.assertIn("exe = %s\n" % moved, self.read_owner_file())
        self.assertEqual(stat.S_IMODE(os.stat(self.owner_file).st_mode),
                         0o600)
        r = self.run_as(moved, "put", "app/moved", input=b"v1")
        self.assertRc(r, 0)
        r = self.run_as(moved, "get", "app/moved")
        self.assertRc(r, 0)
        self.assertEqual(r.out, b"v1")
        r = self.run_as(moved, "policy", "owner", "list")
        self.assertIn(("owner-cli-%d" % len(owner_list(r)), moved),
                      owner_list(r))
        # Again: nothing to add, and the agent is left alone.
        before = self.read_owner_file()
        r = self.run_as(moved, "policy", "owner", "add")
        self.assertRc(r, 0)
        self.assertIn("is named already", r.text)
        self.assertNotIn("SIGHUP", r.text)
        self.assertEqual(self.read_owner_file(), before)

    def test_admin_adds_a_path_through_policy_reload(self):
        path = os.path.join(os.path.realpath(self.h.work), "later",
                            "keyward")
        r = self.cli("policy", "check", "--uid", str(os.geteuid()), "--exe",
                     path, "--op", "admin")
        self.assertRc(r, EXIT_DENIED)
        r = self.cli("policy", "owner", "add", path)
        self.assertRc(r, 0)
        self.assertIn("policy reloaded", r.text)
        self.assertNotIn("SIGHUP", r.text)
        r = self.cli("policy", "check", "--uid", str(os.geteuid()), "--exe",
                     path, "--op", "admin")
        self.assertRc(r, 0)
        self.assertIn(path, [exe for _, exe in
                             owner_list(self.cli("policy", "owner", "list"))])

    def test_bad_paths_refused(self):
        before = self.read_owner_file()
        for bad in ("keyward", "/opt/../bin/keyward", "/opt//keyward",
                    "/opt/kw/"):
            r = self.cli("policy", "owner", "add", bad)
            self.assertRc(r, EXIT_USAGE, bad)
            self.assertIn("PATH must be", r.err)
        link = os.path.join(os.path.realpath(self.h.work), "kw-link")
        os.symlink(os.path.realpath(BIN_KEYWARD), link)
        r = self.cli("policy", "owner", "add", link)
        self.assertRc(r, EXIT_USAGE)
        self.assertIn("resolves to %s" % os.path.realpath(BIN_KEYWARD),
                      r.err)
        r = self.cli("policy", "owner", "add", "/" + "k" * 150)
        self.assertRc(r, EXIT_USAGE)
        self.assertEqual(self.read_owner_file(), before)

    def test_unsafe_owner_file_refused(self):
        before = self.read_owner_file()
        os.chmod(self.owner_file, 0o644)
        r = self.cli("policy", "owner", "add", "/opt/kw/bin/keyward")
        self.assertRc(r, EXIT_ERROR)
        self.assertIn(self.owner_file, r.err)
        self.assertIn("mode 0600", r.err)
        self.assertEqual(self.read_owner_file(), before)
        os.chmod(self.owner_file, 0o600)
        # A symbolic link in its place is not followed.
        aside = os.path.join(self.h.work, "owner-aside.ini")
        os.rename(self.owner_file, aside)
        os.symlink(aside, self.owner_file)
        r = self.cli("policy", "owner", "add", "/opt/kw/bin/keyward")
        self.assertRc(r, EXIT_ERROR)
        with open(aside) as f:
            self.assertEqual(f.read(), before)
        os.unlink(self.owner_file)
        r = self.cli("policy", "owner", "list")
        self.assertRc(r, EXIT_ERROR)
        self.assertIn("does not exist", r.err)


class DenialHint(OwnerTestCase):

    def test_no_hint_when_a_section_names_the_program(self):
        """Refused by its own section's grants, not for being unnamed:
        adding an owner section is not the answer, so no hint."""
        moved = self.moved_keyward("narrow")
        self.h.write_policy("40-narrow.ini",
                            "[client \"narrow\"]\nexe = %s\nread = app/*\n"
                            % moved)
        self.assertRc(self.cli("policy", "reload"), 0)
        r = self.run_as(moved, "ls")
        self.assertRc(r, EXIT_DENIED)
        self.assertIn("grants no list", r.err)
        self.assertNotIn("policy owner add", r.err)
        r = self.run_as(moved, "status")
        self.assertRc(r, 0)
        self.assertNotIn("policy owner add", r.text)


class SocketActivated(OwnerTestCase):
    """Under socket activation the socket's peer credentials are the
    service manager's: add must not signal it."""

    START = False

    def test_sighup_only_to_keywardd(self):
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(listener.close)
        listener.bind(self.h.socket)
        os.chmod(self.h.socket, 0o600)
        listener.listen(16)
        fd = listener.fileno()
        env = dict(self.h.env, LISTEN_FDS="1")
        # keywardd takes fd 3 when LISTEN_PID is its own pid: sh sets it
        # to $$ and execs keywardd in the same process.
        proc = subprocess.Popen(
            ["sh", "-c", 'exec 3<&%d; LISTEN_PID=$$ exec "$0"' % fd,
             BIN_KEYWARDD],
            env=env, pass_fds=(fd,), stdin=subprocess.DEVNULL,
            stdout=open(self.h.log, "ab"), stderr=subprocess.STDOUT,
            cwd=self.h.work)
        self.addCleanup(proc.wait)
        self.addCleanup(proc.kill)
        moved = self.moved_keyward()
        self.assertTrue(harness.poll_until(
            lambda: "denied" in self.run_as(moved, "status").text,
            harness.START_DEADLINE_S), self.h.log_tail())
        r = self.run_as(moved, "policy", "owner", "add")
        self.assertRc(r, EXIT_ERROR)
        self.assertIn("pid %d, which is not a keywardd" % os.getpid(), r.err)
        self.assertIn("systemctl --user reload keyward", r.err)
        self.assertIsNone(proc.poll())
        # The section was written: a reload by other means lets it in.
        self.assertIn("exe = %s\n" % moved, self.read_owner_file())
        proc.send_signal(1)
        self.assertTrue(harness.poll_until(
            lambda: self.run_as(moved, "ls").rc == 0,
            harness.START_DEADLINE_S), self.h.log_tail())


class NotRoot(unittest.TestCase):
    """The agent and the owner's keyward as an ordinary user (nobody), as
    people run them; the rest of the suite runs as root, which may read
    any process's /proc/PID/exe. A process that is not dumpable hides that
    link from every other process without CAP_SYS_PTRACE, so a keyward
    that made itself undumpable was refused by a non-root agent as an
    unknown executable. Under Landlock (by default) the agent's spawner
    reads the link, as that same ordinary user."""

    def setUp(self):
        self.uid, self.gid = harness.nobody(self)
        for path in (BIN_KEYWARD, BIN_KEYWARDD):
            if not self.reachable(path):
                self.skipTest("%s is not reachable by uid %d"
                              % (path, self.uid))
        self.root = tempfile.mkdtemp(prefix="kwit-nobody-")
        self.addCleanup(shutil.rmtree, self.root, ignore_errors=True)
        os.chown(self.root, self.uid, self.gid)
        self.home = os.path.join(self.root, "home")
        self.env = {"PATH": "/usr/bin:/bin", "HOME": self.root,
                    "KEYWARD_HOME": self.home,
                    "KEYWARD_SOCKET": os.path.join(self.home, "agent.sock")}
        for key in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if key in os.environ:
                self.env[key] = os.environ[key]

    def reachable(self, path):
        """Could uid nobody execute path (every directory searchable)?"""
        st = os.stat(path)
        if not st.st_mode & 0o001:
            return False
        d = os.path.dirname(path)
        while d != "/":
            if not os.stat(d).st_mode & 0o001:
                return False
            d = os.path.dirname(d)
        return True

    def as_nobody(self, argv):
        return harness.as_user(self.uid, self.gid, argv)

    def keyward(self, *args, input=b""):
        return run(self.as_nobody([BIN_KEYWARD] + list(args)), self.env,
                   input=input, cwd=self.root)

    def test_owner_keyward_as_an_ordinary_user(self):
        r = self.keyward("init")
        self.assertEqual(r.rc, 0, r)
        log = os.path.join(self.root, "keywardd.log")
        with open(log, "wb") as out:
            agent = harness.spawn(self.as_nobody([BIN_KEYWARDD]), self.env,
                                  stdin=subprocess.DEVNULL, stdout=out,
                                  stderr=out, cwd=self.root)

        def stop():
            if agent.poll() is None:
                agent.terminate()
                agent.wait(timeout=30)
        self.addCleanup(stop)
        self.assertTrue(harness.poll_until(
            lambda: os.path.exists(self.env["KEYWARD_SOCKET"]) or
            agent.poll() is not None, harness.START_DEADLINE_S))
        r = self.keyward("put", "me/x", input=b"mine")
        self.assertEqual(r.rc, 0, "%r\nlog:\n%s" % (r, open(log).read()))
        r = self.keyward("get", "me/x")
        self.assertEqual((r.rc, r.out), (0, b"mine"), r)
        stop()
        self.assertEqual(agent.returncode, 0, open(log).read())
        text = open(log).read()
        self.assertIn("sandbox keyholder: ", text)
        if landlock_abi():
            self.assertIn("Landlock ABI", text)
