"""Disk faults must never cost the store.

The daemon runs with tests/integration/failsync.c preloaded: while a
trigger file exists, syncing SQLite's WAL fails with EIO. A passphrase
change then fails as a whole: the old wrap stays in force, master.key
stays on disk, and after a restart the store opens as before. Other
clients keep the agent busy meanwhile, so that the change would share a
turn's batch if the agent let it (a rolled-back batch after master.key is
gone would lose every secret).
"""

import os
import threading
import unittest

from harness import DaemonTestCase, Rpc, b64

FAILSYNC_SO = os.environ.get("KW_FAILSYNC_SO", "")


@unittest.skipUnless(os.path.exists(FAILSYNC_SO),
                     "KW_FAILSYNC_SO not built")
class PasswdWithFailingDisk(DaemonTestCase):
    START = False

    def setUp(self):
        super().setUp()
        self.trigger = os.path.join(self.h.work, "failsync.on")
        self.d.extra_env = {
            "LD_PRELOAD": FAILSYNC_SO,
            "KW_FAILSYNC_TRIGGER": self.trigger,
            # The shim loads before the sanitizer runtime in ASan builds.
            "ASAN_OPTIONS": "verify_asan_link_order=0",
        }
        self.d.start()

    def busy(self, stop):
        b = Rpc(self.h.socket)
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

    def test_failed_passwd_keeps_keyfile_and_store(self):
        r = self.rpc()
        self.assertRpcResult(r.call("secret.put", {"name": "f/x",
                                                   "value": b64(b"kept")}))
        stop = threading.Event()
        t = threading.Thread(target=self.busy, args=(stop,))
        t.start()
        try:
            open(self.trigger, "w").close()
            resp = r.call("agent.passwd", {"new": "new passphrase 4c1"},
                          timeout=60)
        finally:
            if os.path.exists(self.trigger):
                os.unlink(self.trigger)
            stop.set()
            t.join(30)
        self.assertRpcError(resp, 1014, "store")
        self.assertTrue(os.path.exists(self.h.keyfile),
                        "master.key removed though the change failed")
        st = self.assertRpcResult(r.call("agent.status"))
        self.assertEqual(st["mode"], "keyfile", st)
        r.close()
        # The store opens with the keyfile after a restart, value intact.
        self.d.stop()
        self.d.extra_env = {}
        self.d.start()
        self.assertEqual(self.get_cli("f/x"), b"kept")
        # And the change succeeds once the disk is healthy.
        resp = self.rpc().call("agent.passwd", {"new": "new passphrase 4c1"},
                               timeout=60)
        self.assertEqual(self.assertRpcResult(resp)["mode"], "passphrase")
        self.assertFalse(os.path.exists(self.h.keyfile))


if __name__ == "__main__":
    unittest.main()
