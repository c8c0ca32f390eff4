"""Passphrase mode: the daemon starts locked, a wrong passphrase is refused,
the right one unlocks, lock locks again, and data survives a restart."""

import json
import os
import re
import unittest

from harness import (DaemonTestCase, EXIT_ERROR, EXIT_LOCKED, EXIT_OK,
                     fd_with)

PASSPHRASE = "correct horse battery staple 7f3a"
WRONG = "correct horse battery staple 7f3b"


class Passphrase(DaemonTestCase):
    PASSPHRASE = PASSPHRASE

    def assertLocked(self, locked):
        r = self.cli("status", "--json")
        self.assertRc(r, 0)
        st = json.loads(r.out)
        self.assertIs(st["locked"], locked, st)
        self.assertEqual(st["mode"], "passphrase", st)
        r = self.cli("status")
        self.assertRc(r, 0)
        words = set(re.findall(r"[a-z]+", r.text.lower()))
        if locked:
            self.assertIn("locked", words, r)
            self.assertNotIn("unlocked", words, r)
        else:
            self.assertIn("unlocked", words, r)

    def unlock(self, passphrase=PASSPHRASE):
        r = self.unlock_cli(passphrase)
        self.assertRc(r, EXIT_OK)

    def test_init_keeps_no_key_on_disk(self):
        self.assertFalse(os.path.exists(self.h.keyfile),
                         "master.key written in passphrase mode")
        db = open(self.h.db, "rb").read()
        self.assertNotIn(PASSPHRASE.encode(), db)

    def test_starts_locked(self):
        self.assertLocked(True)
        r = self.cli("get", "pp/x")
        self.assertRc(r, EXIT_LOCKED)
        r = self.cli("put", "pp/x", input=b"nope")
        self.assertRc(r, EXIT_LOCKED)
        r = self.kw("get", "pp/x")
        self.assertRc(r, EXIT_LOCKED)
        r = self.kw("status")
        self.assertRc(r, EXIT_OK)
        self.assertEqual(r.text.strip(), "locked")

    def test_wrong_then_right_passphrase(self):
        r = self.unlock_cli(WRONG)
        self.assertRc(r, EXIT_ERROR)
        self.assertTrue("bad_passphrase" in r.err or
                        "passphrase" in r.err.lower(), r)
        self.assertNotIn(WRONG, r.err)
        self.assertLocked(True)
        self.assertRc(self.cli("get", "pp/x"), EXIT_LOCKED)
        self.unlock()
        self.assertLocked(False)
        self.put_cli("pp/x", b"unlocked value")
        self.assertEqual(self.get_cli("pp/x"), b"unlocked value")
        # Unlocking an unlocked agent succeeds.
        self.unlock()

    def test_wrong_passphrase_on_the_wire(self):
        rpc = self.rpc()
        resp = rpc.call("agent.unlock", {"passphrase": WRONG})
        self.assertRpcError(resp, 1012, "bad_passphrase")
        self.assertNotIn(WRONG, json.dumps(resp))
        resp = rpc.call("secret.get", {"name": "pp/x"})
        self.assertRpcError(resp, 1006, "locked")
        resp = rpc.call("agent.unlock", {"passphrase": PASSPHRASE})
        self.assertEqual(self.assertRpcResult(resp), {"locked": False})
        resp = rpc.call("agent.status")
        self.assertIs(self.assertRpcResult(resp)["locked"], False)
        self.assertNotIn(WRONG, self.h.log_text())
        self.assertNotIn(PASSPHRASE, self.h.log_text())

    def test_lock_again(self):
        self.unlock()
        self.put_cli("pp/y", b"value y")
        r = self.cli("lock")
        self.assertRc(r, EXIT_OK)
        self.assertLocked(True)
        self.assertRc(self.cli("get", "pp/y"), EXIT_LOCKED)
        self.assertRc(self.kw("get", "pp/y"), EXIT_LOCKED)
        self.unlock()
        self.assertEqual(self.get_cli("pp/y"), b"value y")

    def test_library_unlock(self):
        r = self.kw("unlock", "-", input=(WRONG + "\n").encode())
        self.assertRc(r, EXIT_ERROR)
        self.assertIn("bad_passphrase", r.err, r)
        r = self.kw("unlock", "-", input=(PASSPHRASE + "\n").encode())
        self.assertRc(r, EXIT_OK)
        self.assertEqual(self.kw("status").text.strip(), "unlocked")
        self.assertRc(self.kw("lock"), EXIT_OK)
        self.assertEqual(self.kw("status").text.strip(), "locked")

    def test_data_survives_restart(self):
        self.unlock()
        value = os.urandom(200)
        self.put_cli("pp/persist", value)
        self.assertEqual(self.d.stop(), 0)
        self.d.start()
        self.assertLocked(True)
        self.assertRc(self.cli("get", "pp/persist"), EXIT_LOCKED)
        self.assertRc(self.unlock_cli(WRONG), EXIT_ERROR)
        self.assertRc(self.cli("get", "pp/persist"), EXIT_LOCKED)
        self.unlock()
        self.assertEqual(self.get_cli("pp/persist"), value)


class Passwd(DaemonTestCase):
    """agent.passwd / `keyward passwd`: keyfile mode switches to passphrase
    mode (master.key removed); passphrase mode re-wraps."""

    def passwd(self, text):
        rfd = fd_with(text)
        try:
            return self.cli("passwd", "--passphrase-fd", str(rfd),
                            pass_fds=(rfd,))
        finally:
            os.close(rfd)

    def status(self):
        r = self.cli("status", "--json")
        self.assertRc(r, 0)
        return json.loads(r.out)

    def test_keyfile_to_passphrase_and_change(self):
        value = os.urandom(64)
        self.put_cli("pw/x", value)
        r = self.passwd(PASSPHRASE + "\n")
        self.assertRc(r, EXIT_OK)
        self.assertFalse(os.path.exists(self.h.keyfile),
                         "master.key kept after switching to passphrase")
        self.assertEqual(self.status()["mode"], "passphrase")
        self.assertEqual(self.get_cli("pw/x"), value)
        self.assertEqual(self.d.stop(), 0)
        self.d.start()
        self.assertIs(self.status()["locked"], True)
        self.assertRc(self.unlock_cli(WRONG), EXIT_ERROR)
        self.assertRc(self.unlock_cli(PASSPHRASE), EXIT_OK)
        self.assertEqual(self.get_cli("pw/x"), value)

        # Wrong current passphrase: refused, nothing changes.
        r = self.passwd(WRONG + "\nnew passphrase one\n")
        self.assertRc(r, EXIT_ERROR)
        # Right current passphrase: the new one is in force after restart.
        r = self.passwd(PASSPHRASE + "\nnew passphrase two\n")
        self.assertRc(r, EXIT_OK)
        self.assertEqual(self.d.stop(), 0)
        self.d.start()
        self.assertRc(self.unlock_cli("new passphrase one"), EXIT_ERROR)
        self.assertRc(self.unlock_cli(PASSPHRASE), EXIT_ERROR)
        self.assertRc(self.unlock_cli("new passphrase two"), EXIT_OK)
        self.assertEqual(self.get_cli("pw/x"), value)
        log = self.h.log_text()
        for p in (PASSPHRASE, WRONG, "new passphrase one",
                  "new passphrase two"):
            self.assertNotIn(p, log)

    def test_passwd_while_locked(self):
        self.assertRc(self.passwd(PASSPHRASE + "\n"), EXIT_OK)
        self.assertRc(self.cli("lock"), EXIT_OK)
        r = self.passwd(PASSPHRASE + "\nanother one\n")
        self.assertRc(r, EXIT_LOCKED)


if __name__ == "__main__":
    unittest.main()
