"""keywardd as a process: restarts keep data, file and socket modes, refusal
of unsafe files, one daemon per socket, stale sockets, clean SIGTERM."""

import json
import os
import shutil
import signal
import stat
import unittest

from harness import (BIN_KEYWARD, BIN_KEYWARDD, DaemonTestCase, EXIT_OK, Rpc,
                     fd_with, mode_of, poll_until, render_config, run,
                     socket_accepts)

# keywardd's exit statuses (keywardd(8), EXIT STATUS; sysexits.h). The
# units' RestartPreventExitStatus= lists all but EXIT_AGENT_FAILED, which
# a restart may cure (test_systemd checks the units against these).
EXIT_AGENT_FAILED = 1
EXIT_AGENT_USAGE = 2
EXIT_AGENT_DATAERR = 65
EXIT_AGENT_NOPERM = 77
EXIT_AGENT_CONFIG = 78


class Restart(DaemonTestCase):

    def test_data_survives_sigterm_restart(self):
        text = b"persist me"
        binary = bytes(range(256)) + os.urandom(300)
        self.put_cli("keep/text", text)
        self.put_cli("keep/bin", binary)
        self.put_cli("keep/bin", binary[::-1])
        self.assertEqual(self.d.stop(), 0, "SIGTERM must exit 0; log:\n%s"
                         % self.h.log_tail())
        self.d.start()
        self.assertEqual(self.get_cli("keep/text"), text)
        self.assertEqual(self.get_cli("keep/bin"), binary[::-1])
        self.assertEqual(self.get_cli("keep/bin", "--version", "1"), binary)
        r = self.kw("get", "keep/bin", "--stage", "previous")
        self.assertRc(r, EXIT_OK)
        self.assertEqual(r.out, binary)
        # Versions keep counting after a restart.
        r = self.cli("put", "keep/bin", input=b"third")
        self.assertRc(r, 0)
        self.assertEqual(r.text.strip(), "keep/bin: version 3")

    def test_sigterm_with_idle_client_connected(self):
        self.put_cli("keep/x", b"x")
        with Rpc(self.h.socket) as idle, Rpc(self.h.socket) as used:
            resp = used.call("agent.status")
            self.assertRpcResult(resp)
            idle.send(b'{"jsonrpc":"2.0",')  # a partial line, too
            self.assertEqual(self.d.stop(), 0, self.h.log_tail())
        self.d.start()
        self.assertEqual(self.get_cli("keep/x"), b"x")

    def test_stale_socket_replaced(self):
        self.put_cli("keep/stale", b"still here")
        self.d.kill()
        self.assertTrue(os.path.exists(self.h.socket),
                        "SIGKILL cannot remove the socket; test assumption")
        self.assertFalse(socket_accepts(self.h.socket))
        self.d.start()
        self.assertEqual(self.get_cli("keep/stale"), b"still here")
        self.assertEqual(mode_of(self.h.socket), 0o600)

    def test_second_daemon_refused(self):
        self.put_cli("keep/one", b"first daemon")
        second = self.new_daemon(log=os.path.join(self.h.work, "second.log"))
        second.start(wait=False)
        rc = second.wait_exit()
        # 1, not a status that stops systemd's restarts: the first agent
        # may be gone by the next try.
        self.assertEqual(rc, EXIT_AGENT_FAILED, "a second daemon on a live "
                         "socket; its log:\n%s" % second.log_tail())
        self.assertTrue(second.log_text().strip(),
                        "the second daemon said nothing on stderr")
        self.assertTrue(self.d.alive(), "the first daemon died")
        # The first still serves on the same path (its socket not unlinked).
        self.assertTrue(os.path.exists(self.h.socket))
        self.assertEqual(self.get_cli("keep/one"), b"first daemon")
        self.assertEqual(self.d.stop(), 0)

    def test_reinit_refused(self):
        self.put_cli("keep/init", b"precious")
        with open(self.h.keyfile, "rb") as f:
            key = f.read()
        r = self.cli("init")
        self.assertNotEqual(r.rc, 0, "init over an existing store: %r" % r)
        with open(self.h.keyfile, "rb") as f:
            self.assertEqual(f.read(), key, "init replaced master.key")
        self.assertEqual(self.d.stop(), 0)
        self.d.start()
        self.assertEqual(self.get_cli("keep/init"), b"precious")


class Modes(DaemonTestCase):

    def test_file_and_socket_modes(self):
        self.put_cli("modes/x", os.urandom(32))
        self.assertEqual(mode_of(self.h.home), 0o700)
        self.assertEqual(mode_of(self.h.db), 0o600)
        self.assertEqual(mode_of(self.h.keyfile), 0o600)
        self.assertEqual(os.path.getsize(self.h.keyfile), 32)
        st = os.stat(self.h.socket)
        self.assertTrue(stat.S_ISSOCK(st.st_mode), "socket is not a socket")
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual(mode_of(os.path.dirname(self.h.socket)), 0o700)
        for suffix in ("-wal", "-shm"):
            path = self.h.db + suffix
            if os.path.exists(path):
                self.assertEqual(mode_of(path), 0o600, path)
        self.assertTrue(os.path.exists(self.h.db + "-wal"),
                        "secrets.db is not in WAL mode (no -wal file while "
                        "the daemon has it open)")
        for path in self.h.files():
            if path in (self.h.ini, self.h.log):
                continue  # written by the test
            self.assertEqual(mode_of(path) & 0o077, 0,
                             "%s is accessible to others" % path)


class SocketDirectory(DaemonTestCase):
    START = False

    def test_socket_directory_created_0700(self):
        # docs/config.md: the directory holding the socket is created 0700.
        self.h.socket = os.path.join(self.h.home, "run", "agent.sock")
        self.h.env["KEYWARD_SOCKET"] = self.h.socket
        self.d.start()
        self.assertEqual(mode_of(os.path.dirname(self.h.socket)), 0o700)
        self.assertEqual(mode_of(self.h.socket), 0o600)
        self.put_cli("sock/x", b"via run/agent.sock")
        self.assertEqual(self.get_cli("sock/x"), b"via run/agent.sock")


class InitModes(DaemonTestCase):
    INIT = False
    START = False

    def test_init_creates_home(self):
        os.unlink(self.h.ini)
        os.rmdir(self.h.home)
        r = self.cli("init")
        self.assertRc(r, 0)
        self.assertEqual(mode_of(self.h.home), 0o700)
        self.assertEqual(mode_of(self.h.db), 0o600)
        self.assertEqual(mode_of(self.h.keyfile), 0o600)
        self.assertEqual(os.path.getsize(self.h.keyfile), 32)
        self.d.start()
        self.put_cli("init/x", b"works")
        self.assertEqual(self.get_cli("init/x"), b"works")

    def lone_keyward(self, keywardd=None):
        """A copy of keyward in a directory of its own, with keywardd
        (a script) beside it, or nothing."""
        d = os.path.join(self.h.work, "lone")
        os.makedirs(d, 0o755, exist_ok=True)
        path = os.path.join(d, "keyward")
        shutil.copyfile(BIN_KEYWARD, path)
        os.chmod(path, 0o755)
        if keywardd is not None:
            beside = os.path.join(d, "keywardd")
            with open(beside, "w") as f:
                f.write(keywardd)
            os.chmod(beside, 0o755)
        return path

    def test_init_runs_the_keywardd_beside_it(self):
        # keyward links no store code: init runs keywardd --init, the one
        # beside it, and the passphrase reaches it on a descriptor, never
        # in its arguments.
        argv_log = os.path.join(self.h.work, "keywardd.argv")
        cli = self.lone_keyward("#!/bin/sh\nprintf '%%s\\n' \"$@\" >%s\n"
                                "exec %s \"$@\"\n" % (argv_log, BIN_KEYWARDD))
        secret = "horse staple 42 lifecycle"
        rfd = fd_with(secret + "\n")
        try:
            r = run([cli, "init", "--passphrase-fd", str(rfd)], self.h.env,
                    pass_fds=(rfd,), cwd=self.h.work)
        finally:
            os.close(rfd)
        self.assertRc(r, 0)
        with open(argv_log) as f:
            argv = f.read().split("\n")
        self.assertEqual(argv[:3], ["--init", "--home", self.h.home])
        self.assertIn("--passphrase-fd", argv)
        self.assertNotIn(secret, "\n".join(argv) + r.text + r.err)
        # The store opens with that passphrase (the policy init wrote
        # names the keyward that ran it).
        self.d.start()
        rfd = fd_with(secret + "\n")
        try:
            r = run([cli, "unlock", "--passphrase-fd", str(rfd)],
                    self.h.env, pass_fds=(rfd,), cwd=self.h.work)
        finally:
            os.close(rfd)
        self.assertRc(r, EXIT_OK)
        self.assertRc(run([cli, "put", "init/p"], self.h.env, input=b"ok",
                          cwd=self.h.work), EXIT_OK)
        r = run([cli, "get", "init/p"], self.h.env, cwd=self.h.work)
        self.assertEqual((r.rc, r.out), (EXIT_OK, b"ok"), r)

    def test_init_without_keywardd_beside_it(self):
        r = run([self.lone_keyward(), "init"], self.h.env, cwd=self.h.work)
        self.assertRc(r, 1)
        self.assertIn("keywardd installed beside it", r.err)
        self.assertEqual(sorted(os.listdir(self.h.home)), ["keyward.ini"])


class UnsafePermissions(DaemonTestCase):
    START = False

    def refused(self, path):
        d = self.new_daemon(log=os.path.join(self.h.work, "refused.log"))
        d.start(wait=False)
        rc = d.wait_exit()
        log = d.log_text()
        self.assertEqual(rc, EXIT_AGENT_NOPERM, "unsafe %s; log:\n%s"
                         % (path, log))
        self.assertIn(path, log, "the refusal does not name %s:\n%s"
                      % (path, log))
        self.assertFalse(socket_accepts(self.h.socket))
        return log

    def test_home_group_world_accessible(self):
        os.chmod(self.h.home, 0o755)
        self.refused(self.h.home)
        os.chmod(self.h.home, 0o700)
        self.d.start()

    def test_home_group_accessible(self):
        os.chmod(self.h.home, 0o750)
        self.refused(self.h.home)
        os.chmod(self.h.home, 0o700)
        self.d.start()

    def test_db_world_readable(self):
        os.chmod(self.h.db, 0o644)
        self.refused(self.h.db)
        self.assertEqual(mode_of(self.h.db), 0o644,
                         "the daemon must refuse, not silently chmod")
        os.chmod(self.h.db, 0o600)
        self.d.start()

    def test_keyfile_world_readable(self):
        os.chmod(self.h.keyfile, 0o644)
        self.refused(self.h.keyfile)
        os.chmod(self.h.keyfile, 0o600)
        self.d.start()


class Config(DaemonTestCase):
    """keyward.ini errors stop the start (naming file, line and key);
    SIGHUP applies a good file and keeps the old one on a bad file."""

    START = False

    def write_ini(self, text, mode=0o600):
        with open(self.h.ini, "w") as f:
            f.write(text)
        os.chmod(self.h.ini, mode)

    def refused(self, *must_mention, status=EXIT_AGENT_CONFIG):
        d = self.new_daemon(log=os.path.join(self.h.work, "refused.log"))
        d.start(wait=False)
        rc = d.wait_exit()
        log = d.log_text()
        self.assertEqual(rc, status, "a bad config:\n%s" % log)
        for text in must_mention:
            self.assertIn(text, log)
        return log

    def test_unknown_key_refused(self):
        self.write_ini("[agent]\nmax_conections = 5\n")
        self.refused(self.h.ini, "max_conections", ":2")

    def test_out_of_range_refused(self):
        self.write_ini("[agent]\n\nmax_connections = 0\n")
        self.refused(self.h.ini, "max_connections", ":3")

    def test_not_a_number_refused(self):
        self.write_ini("[store]\nmax_versions = 10k\n")
        self.refused(self.h.ini, "max_versions")

    def test_group_writable_ini_refused(self):
        os.chmod(self.h.ini, 0o620)
        self.refused(self.h.ini, status=EXIT_AGENT_NOPERM)

    def test_sighup_reload(self):
        self.d.start()
        self.put_cli("hup/x", b"a" * 200)
        text = open(self.h.ini).read().replace("max_value_bytes = 65536",
                                               "max_value_bytes = 100")
        self.assertIn("max_value_bytes = 100", text)
        self.write_ini(text)
        self.d.proc.send_signal(signal.SIGHUP)

        def applied():
            r = self.cli("put", "hup/x", input=b"b" * 101)
            return r.rc == 1
        self.assertTrue(poll_until(applied, 15),
                        "max_value_bytes not lowered by SIGHUP; log:\n%s"
                        % self.h.log_tail())
        self.put_cli("hup/x", b"c" * 100)

        # A bad file changes nothing and the daemon keeps running.
        self.write_ini(text + "\n[agent]\nbogus_key = 1\n")
        log_before = len(self.h.log_text())
        self.d.proc.send_signal(signal.SIGHUP)
        self.assertTrue(poll_until(
            lambda: "bogus_key" in self.h.log_text()[log_before:], 15),
            "no log line explains the rejected reload:\n%s"
            % self.h.log_tail())
        self.assertTrue(self.d.alive())
        self.assertRc(self.cli("put", "hup/x", input=b"d" * 101), 1)
        self.put_cli("hup/x", b"e" * 100)
        self.assertEqual(self.get_cli("hup/x"), b"e" * 100)
        self.assertEqual(self.d.stop(), 0)


class StartFailures(DaemonTestCase):
    """What starting again cannot cure has an exit status of its own
    (keywardd(8)), so that systemd stops restarting it: a missing store or
    policy directory is a configuration error, a store that is not a
    database a data error. The log says what to do."""

    START = False

    def failed_start(self, status, *must_mention):
        d = self.new_daemon(log=os.path.join(self.h.work, "failed.log"))
        d.start(wait=False)
        rc = d.wait_exit()
        log = d.log_text()
        self.assertEqual(rc, status, log)
        for text in must_mention:
            self.assertIn(text, log)
        self.assertFalse(socket_accepts(self.h.socket))

    def test_missing_store(self):
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(self.h.db + suffix):
                os.unlink(self.h.db + suffix)
        self.failed_start(EXIT_AGENT_CONFIG, self.h.db, "keyward init")

    def test_missing_policy_directory(self):
        for name in os.listdir(self.h.policies):
            os.unlink(os.path.join(self.h.policies, name))
        os.rmdir(self.h.policies)
        self.failed_start(EXIT_AGENT_CONFIG, self.h.policies,
                          "keyward policy init")

    def test_not_initialised(self):
        # A home with neither store nor policies (a fresh systemd
        # instance): the hint is `keyward init`, which makes both.
        os.rename(self.h.db, self.h.db + ".aside")
        shutil.rmtree(self.h.policies)
        self.failed_start(EXIT_AGENT_CONFIG, self.h.db, "keyward init")

    def test_missing_home(self):
        self.h.env["KEYWARD_HOME"] = os.path.join(self.h.root, "nowhere")
        self.failed_start(EXIT_AGENT_CONFIG, "nowhere")

    def test_store_not_a_database(self):
        with open(self.h.db, "wb") as f:
            f.write(b"not an SQLite database, " * 200)
        self.failed_start(EXIT_AGENT_DATAERR, self.h.db, "backup")

    def test_bad_command_line(self):
        r = run([BIN_KEYWARDD, "--no-such-option"], self.h.env)
        self.assertEqual(r.rc, EXIT_AGENT_USAGE, r)
        self.assertIn("usage", r.err)


class ModesWatched(DaemonTestCase):
    """The home's and the socket's modes are checked on every sweep, not
    only at start: loosened while the agent runs, every request is refused
    (saying why) until they are put back; logged and audited once."""

    def test_loosened_while_running(self):
        value = b"not while the home is open"
        self.put_cli("modes/x", value)
        for path, loose, fixed, text in (
                (self.h.home, 0o755, 0o700, "chmod 700"),
                (self.h.socket, 0o666, 0o600, "socket_mode is 0600")):
            with self.subTest(path=path):
                before = self.h.log_text().count("refusing every request")
                os.chmod(path, loose)
                try:
                    self.assertTrue(poll_until(
                        lambda: self.h.log_text().count(
                            "refusing every request") > before, 10),
                        "a loosened %s went unnoticed:\n%s"
                        % (path, self.h.log_tail()))
                    r = self.cli("get", "modes/x")
                    self.assertNotEqual(r.rc, EXIT_OK, r)
                    self.assertIn("refuses every request", r.err)
                    self.assertIn(path, r.err)
                    self.assertIn(text, r.err)
                    self.assertNotIn(value, r.out + r.err.encode())
                finally:
                    os.chmod(path, fixed)
                self.assertTrue(poll_until(
                    lambda: self.h.log_text().count("modes safe again") >
                    before, 10), self.h.log_tail())
                self.assertEqual(self.get_cli("modes/x"), value)
        r = self.cli("audit", "--json", "--op", "agent.modes")
        self.assertRc(r, 0)
        rows = [json.loads(l) for l in r.text.splitlines() if l.strip()]
        self.assertEqual([row["outcome"] for row in rows],
                         ["error", "ok", "error", "ok"], rows)
        self.assertIn(self.h.home, rows[0]["reason"])
        self.assertIn(self.h.socket, rows[2]["reason"])


    def test_reload_keeps_the_socket_mode(self):
        """socket_mode and socket_group take a restart: a reload that
        changes them keeps the running ones, also for the watch."""
        config = {k: dict(v) for k, v in self.h.config.items()}
        config["agent"].update({"socket_mode": "0660",
                                "socket_group": str(os.getegid())})
        with open(self.h.ini, "w") as f:
            f.write(render_config(config))
        os.kill(self.d.proc.pid, signal.SIGHUP)
        self.assertTrue(poll_until(
            lambda: "configuration reloaded" in self.h.log_text(), 10),
            self.h.log_tail())
        self.assertIn("takes a restart", self.h.log_text())
        self.put_cli("modes/y", b"y")
        # The watch still wants the mode the socket was made with.
        os.chmod(self.h.socket, 0o660)
        try:
            self.assertTrue(poll_until(
                lambda: "socket_mode is 0600" in self.h.log_text(), 10),
                self.h.log_tail())
        finally:
            os.chmod(self.h.socket, 0o600)
        self.assertTrue(poll_until(
            lambda: "modes safe again" in self.h.log_text(), 10))
        self.assertEqual(self.get_cli("modes/y"), b"y")

if __name__ == "__main__":
    unittest.main()
