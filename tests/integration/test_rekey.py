"""keyward rekey against the real daemon: a new data key re-seals every
version, the audit checkpoint key and the sealed subkeys in one
transaction (docs/store.md, "Rekey"). Afterwards every value (all
versions), API key, client token, JWT and the audit chain still work; the
old master.key opens neither the new store nor what is stored after the
rekey; a kill -9 just before the commit or between the commit and the
rename of master.key.new leaves a store that opens with exactly one key
file and every value.

Also here: an interrupted `keyward backup` leaves no temporary file."""

import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import threading
import unittest

from harness import (BIN_KEYWARD, FAILSYNC_SO, DaemonTestCase, EXIT_LOCKED,
                     EXIT_OK, Home, b64, fd_with, keep_busy, mode_of,
                     poll_until, spawn, start_with_failing_sync)

AUD = "https://mcp.example.com/mcp"
TOKEN_RE = re.compile(rb"kwt_[A-Za-z0-9_-]+")
PASS = "correct horse battery staple"


class RekeyCase(DaemonTestCase):

    def call(self, method, params=None):
        return self.assertRpcResult(self.r.call(method, params or {}))

    def seed(self):
        """Three versions of one secret, an empty one, an API key, a client
        token and a JWT: what a rekey must keep working."""
        self.r = self.rpc()
        for v in (b"one", b"two", b"three"):
            self.call("secret.put", {"name": "db/pass", "value": b64(v)})
        self.call("secret.put", {"name": "empty", "value": b64(b"")})
        self.apikey = self.call("apikey.create",
                                {"principal": "svc", "scopes": ["a"]})["key"]
        r = self.cli("client", "add", "robot")
        self.assertRc(r, EXIT_OK)
        self.token = TOKEN_RE.search(r.out).group(0).decode()
        self.h.write_policy("60-robot.ini",
                            '[client "robot"]\ntoken = robot\n'
                            'read = db/*\n')
        self.assertRc(self.cli("policy", "reload"), EXIT_OK)
        self.jwt = self.call("token.issue", {"subject": "alice",
                                             "audience": AUD})["token"]

    def assertAllWork(self):
        self.r = self.rpc()
        vers = {v["version"]: v["stage"] for v in
                self.call("secret.versions", {"name": "db/pass"})
                ["versions"]}
        self.assertEqual(sorted(vers), [1, 2, 3])
        for n, want in ((1, b"one"), (2, b"two"), (3, b"three")):
            got = self.call("secret.get", {"name": "db/pass", "version": n})
            self.assertEqual(got["value"], b64(want), n)
        self.assertEqual(self.call("secret.get", {"name": "empty"})["value"],
                         "")
        self.assertEqual(self.call("apikey.verify", {"key": self.apikey})
                         ["principal"], "svc")
        res = self.call("token.verify", {"token": self.jwt, "audience": AUD})
        self.assertEqual(res["subject"], "alice")
        self.call("token.issue", {"subject": "bob", "audience": AUD})
        # The client token: the robot reads with it.
        exe = self.copy_client("robot")
        r = self.as_client(exe, "get", "db/pass", token=self.token)
        self.assertEqual(r.rc, EXIT_OK, r)
        self.assertEqual(r.out, b"three")
        r = self.cli("audit", "verify")
        self.assertRc(r, EXIT_OK, "audit verify after the rekey")

    def sealed(self):
        con = sqlite3.connect("file:%s?mode=ro" % self.h.db, uri=True)
        try:
            return sorted(r[0] for r in
                          con.execute("SELECT sealed FROM versions"))
        finally:
            con.close()

    def key_files(self):
        return sorted(n for n in os.listdir(self.h.home)
                      if n.startswith("master.key"))


class Rekey(RekeyCase):

    def test_rekey_keeps_everything_working(self):
        self.seed()
        with open(self.h.keyfile, "rb") as f:
            old_key = f.read()
        before = self.sealed()
        r = self.cli("rekey")
        self.assertRc(r, EXIT_OK)
        # db/pass 1-3, empty, and the token signing key.
        self.assertIn("5 version(s) re-sealed", r.text)
        self.assertEqual(r.err, "", "progress is for terminals only")
        with open(self.h.keyfile, "rb") as f:
            self.assertNotEqual(f.read(), old_key, "master.key unchanged")
        self.assertEqual(mode_of(self.h.keyfile), 0o600)
        self.assertEqual(self.key_files(), ["master.key"])
        self.assertEqual(len(set(before) & set(self.sealed())), 0,
                         "a version was not re-sealed")
        self.assertAllWork()
        rows = [row for row in self.call("audit.query", {"op": "store.rekey"})
                ["rows"]]
        self.assertEqual([row["outcome"] for row in rows], ["ok"])
        # And after a restart, with the new master.key.
        self.d.restart()
        self.assertAllWork()

    def test_progress_on_a_terminal(self):
        """With stderr on a terminal, the rekey shows its steps there."""
        self.r = self.rpc()
        self.call("secret.put", {"name": "x", "value": b64(b"v")})
        master, slave = os.openpty()
        try:
            proc = spawn([BIN_KEYWARD, "rekey"], self.h.env,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=slave, cwd=self.h.work)
            os.close(slave)
            slave = -1
            shown = b""
            while True:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the terminal's last writer is gone
                    break
                if not chunk:
                    break
                shown += chunk
            out = proc.stdout.read()
            proc.stdout.close()
            self.assertEqual(proc.wait(timeout=30), EXIT_OK, shown)
        finally:
            os.close(master)
            if slave >= 0:
                os.close(slave)
        self.assertIn(b"rekey: step 1 of 2: re-sealing the store", shown)
        self.assertIn(b"rekey: step 2 of 2: done", shown)
        self.assertIn(b"1 version(s) re-sealed", out)

    def test_old_key_opens_nothing_new(self):
        self.seed()
        self.d.stop()
        old = Home()
        self.addCleanup(old.cleanup)
        shutil.copy2(self.h.keyfile, old.keyfile)
        shutil.copytree(self.h.policies, old.policies, dirs_exist_ok=True)
        shutil.copy2(self.h.db, old.db + ".orig")
        self.d.start()
        self.r = self.rpc()
        self.assertRc(self.cli("rekey"), EXIT_OK)
        self.call("secret.put", {"name": "after", "value": b64(b"new")})
        self.d.stop()
        # The old master.key and the new secrets.db: refused.
        shutil.copy2(self.h.db, old.db)
        os.chmod(old.db, 0o600)
        d2 = self.new_daemon(log=old.log)
        d2.home = old
        d2.start(wait=False)
        self.assertNotEqual(d2.wait_exit(), 0)
        self.assertIn("does not open", d2.log_text())
        # Even with the old wrap (the old data key) put into the new
        # store, nothing sealed after the rekey opens: the agent refuses
        # to unlock, as the sealed keys fail to open.
        old_db = sqlite3.connect(old.db + ".orig")
        wrap = old_db.execute("SELECT mode, salt, opslimit, memlimit, nonce,"
                              " wrapped, updated FROM keywrap").fetchone()
        old_db.close()
        con = sqlite3.connect(old.db)
        con.execute("UPDATE keywrap SET mode=?, salt=?, opslimit=?,"
                    " memlimit=?, nonce=?, wrapped=?, updated=?", wrap)
        con.commit()
        con.close()
        d2.start(wait=False)
        self.assertNotEqual(d2.wait_exit(), 0)
        self.assertIn("cannot open the client-token key", d2.log_text())

    def test_rekey_refused_while_locked_or_not_admin(self):
        self.seed()
        self.assertRc(self.cli("lock"), EXIT_OK)
        r = self.cli("rekey")
        self.assertRc(r, EXIT_LOCKED)
        self.assertIn("locked", r.err)
        self.assertRpcError(self.r.call("store.rekey"), 1006, "locked")
        self.assertRc(self.cli("unlock"), EXIT_OK)
        # The robot may read db/*, but is no admin.
        exe = self.copy_client("robot")
        r = self.as_client(exe, "call", "store.rekey", token=self.token)
        self.assertEqual(r.rc, 4, r)
        self.assertIn("denied", r.err)
        self.assertRpcError(self.r.call("store.rekey",
                                        {"passphrase": "x"}),
                            -32602, "invalid_params", "passphrase")
        self.assertEqual(self.key_files(), ["master.key"])
        self.assertAllWork()

    def crash(self, when):
        self.seed()
        with open(self.h.keyfile, "rb") as f:
            old_key = f.read()
        self.d.stop()
        self.d.extra_env["KEYWARD_TEST_CRASH"] = "rekey:" + when
        self.d.start()
        r = self.cli("rekey")
        self.assertNotEqual(r.rc, EXIT_OK)
        self.d.proc.wait(timeout=10)
        self.assertEqual(self.d.proc.returncode, -signal.SIGKILL,
                         "the hook did not kill the agent (%s)" % when)
        self.assertEqual(self.key_files(), ["master.key", "master.key.new"])
        del self.d.extra_env["KEYWARD_TEST_CRASH"]
        self.d.start()
        self.assertEqual(self.key_files(), ["master.key"])
        with open(self.h.keyfile, "rb") as f:
            return f.read() != old_key

    def test_crash_before_commit(self):
        self.assertFalse(self.crash("work"), "the rekey was kept")
        self.assertIn("did not commit", self.d.log_text())
        self.assertAllWork()

    def test_crash_between_commit_and_rename(self):
        self.assertTrue(self.crash("commit"), "the rekey was lost")
        self.assertIn("is now master.key", self.d.log_text())
        self.assertAllWork()
        self.assertRc(self.cli("rekey"), EXIT_OK)
        self.assertAllWork()


class RekeyPassphrase(RekeyCase):
    PASSPHRASE = PASS

    def rekey(self, passphrase):
        rfd = fd_with(passphrase + "\n")
        try:
            return self.cli("rekey", "--passphrase-fd", str(rfd),
                            pass_fds=(rfd,))
        finally:
            os.close(rfd)

    def test_passphrase_rekey(self):
        self.assertRc(self.unlock_cli(PASS), EXIT_OK)
        self.seed()
        con = sqlite3.connect("file:%s?mode=ro" % self.h.db, uri=True)
        salt = con.execute("SELECT salt FROM keywrap").fetchone()[0]
        con.close()
        r = self.rekey("wrong")
        self.assertRc(r, 1)
        self.assertIn("wrong passphrase", r.err)
        before = self.sealed()
        self.assertRc(self.rekey(PASS), EXIT_OK)
        self.assertEqual(len(set(before) & set(self.sealed())), 0)
        con = sqlite3.connect("file:%s?mode=ro" % self.h.db, uri=True)
        self.assertNotEqual(con.execute("SELECT salt FROM keywrap")
                            .fetchone()[0], salt)
        con.close()
        self.assertAllWork()
        self.d.restart()
        self.assertRc(self.unlock_cli(PASS), EXIT_OK)
        self.assertAllWork()


@unittest.skipUnless(os.path.exists(FAILSYNC_SO),
                     "KW_FAILSYNC_SO not built")
class RekeyWithFailingDisk(RekeyCase):
    """A rekey whose commit fails to sync (tests/integration/failsync.c):
    outcome unknown; once the store is recovered the agent knows which
    key won, keeps exactly one key file, and everything works, also after
    a restart."""
    START = False

    def setUp(self):
        super().setUp()
        start_with_failing_sync(self)

    def test_rekey_in_doubt(self):
        self.seed()
        stop = threading.Event()
        t = threading.Thread(target=keep_busy, args=(self.h.socket, stop))
        t.start()
        try:
            open(self.trigger, "w").close()
            resp = self.r.call("store.rekey", timeout=60)
        finally:
            stop.set()
            t.join(30)
        self.assertRpcError(resp, 1030, "outcome_unknown")
        self.assertEqual(self.key_files(), ["master.key", "master.key.new"])
        os.unlink(self.trigger)
        self.assertTrue(poll_until(
            lambda: "store_fault" not in self.r.call("agent.status")
            ["result"], 30), self.d.log_tail())
        self.assertIn("the rekey in doubt is", self.d.log_text())
        self.assertEqual(self.key_files(), ["master.key"])
        self.assertAllWork()
        self.d.stop()
        self.d.extra_env = {}
        self.d.start()
        self.assertAllWork()


class BackupInterrupted(DaemonTestCase):
    """keyward backup killed by SIGINT, SIGTERM or SIGHUP while it waits
    for the agent removes its FILE.tmp-XXXXXX and dies of the signal."""
    INIT = False

    def test_interrupted_backup_leaves_nothing(self):
        # An "agent" that accepts and never answers: the CLI waits with
        # its temporary file made.
        sock_path = os.path.join(self.h.work, "mute.sock")
        mute = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(mute.close)
        mute.bind(sock_path)
        mute.listen(8)
        target = os.path.join(self.h.work, "b.kwb")
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            proc = spawn([BIN_KEYWARD, "--socket", sock_path, "backup",
                          target], self.h.env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, cwd=self.h.work)
            conn, _ = mute.accept()
            self.addCleanup(conn.close)
            self.assertTrue(poll_until(lambda: conn.recv(1, socket.MSG_PEEK),
                                       10), "the CLI sent no request")
            self.assertTrue([n for n in os.listdir(self.h.work)
                             if n.startswith("b.kwb.tmp-")])
            proc.send_signal(sig)
            self.assertEqual(proc.wait(timeout=10), -sig)
            self.assertEqual([n for n in os.listdir(self.h.work)
                              if n.startswith("b.kwb")], [], sig)
