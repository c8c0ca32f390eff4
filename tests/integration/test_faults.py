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

from harness import DaemonTestCase, Rpc, b64, poll_until

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


class FailingDiskBase(DaemonTestCase):
    """A daemon whose WAL syncs fail while a trigger file exists, with
    one secret stored before."""
    START = False

    def setUp(self):
        super().setUp()
        self.trigger = os.path.join(self.h.work, "failsync.on")
        self.addCleanup(self.disk_ok)
        self.d.extra_env = {
            "LD_PRELOAD": FAILSYNC_SO,
            "KW_FAILSYNC_TRIGGER": self.trigger,
            "ASAN_OPTIONS": "verify_asan_link_order=0",
        }
        self.d.start()
        self.r = self.rpc()
        self.assertRpcResult(self.r.call(
            "secret.put", {"name": "f/x", "value": b64(b"v1")}))

    def disk_fails(self):
        open(self.trigger, "w").close()

    def disk_ok(self):
        if os.path.exists(self.trigger):
            os.unlink(self.trigger)

    def get(self):
        return self.r.call("secret.get", {"name": "f/x"})


@unittest.skipUnless(os.path.exists(FAILSYNC_SO),
                     "KW_FAILSYNC_SO not built")
class ReadsWithFailingDisk(FailingDiskBase):
    """A turn of reads commits without a sync ([audit] flush_ms): a read
    works while the WAL cannot be synced, a write never does."""
    CONFIG = {"audit": {"flush_ms": 60000}}

    def test_reads_commit_without_sync_writes_with(self):
        self.disk_fails()
        self.assertEqual(self.assertRpcResult(self.get())["value"],
                         b64(b"v1"))
        self.assertRpcError(self.r.call(
            "secret.put", {"name": "f/x", "value": b64(b"v2")}), 1014,
            "store")
        # A read and a write pipelined into one turn: the write's batch
        # fails, and no answer of that turn goes out unrecorded.
        self.r.send_obj(self.r.request("secret.get", {"name": "f/x"}, id=1))
        self.r.send_obj(self.r.request(
            "secret.put", {"name": "f/y", "value": b64(b"n")}, id=2))
        answers = {m["id"]: m for m in (self.r.recv_json(),
                                        self.r.recv_json())}
        self.assertRpcError(answers[2], 1014, "store")
        self.disk_ok()
        self.assertRpcError(self.r.call("secret.get", {"name": "f/y"}),
                            1004, "not_found")
        self.assertEqual(self.assertRpcResult(self.get())["value"],
                         b64(b"v1"))
        self.assertRpcResult(self.r.call(
            "secret.put", {"name": "f/x", "value": b64(b"v3")}))
        self.assertEqual(self.assertRpcResult(self.get())["value"],
                         b64(b"v3"))
        self.assertEqual(self.cli("audit", "verify").rc, 0)


@unittest.skipUnless(os.path.exists(FAILSYNC_SO),
                     "KW_FAILSYNC_SO not built")
class DeferredSyncFails(FailingDiskBase):
    """Once a deferred sync fails, every request waits for its own sync
    (and fails while the disk does), until a sync works again."""
    CONFIG = {"audit": {"flush_ms": 200}}

    def test_failed_deferred_sync_fails_reads_closed(self):
        self.disk_fails()
        self.assertRpcResult(self.get())
        self.assertTrue(poll_until(
            lambda: "cannot sync the audit log" in self.d.log_text(), 20),
            "the deferred sync was not attempted")
        self.assertRpcError(self.get(), 1014, "store")
        self.disk_ok()
        self.assertTrue(poll_until(lambda: "result" in self.get(), 20))
        # Logged at the end of the turn, after the answer went out.
        self.assertTrue(poll_until(
            lambda: "the audit log syncs again" in self.d.log_text(), 20),
            "the recovery was not logged:\n%s" % self.d.log_tail())
        self.assertEqual(self.cli("audit", "verify").rc, 0)


@unittest.skipUnless(os.path.exists(FAILSYNC_SO),
                     "KW_FAILSYNC_SO not built")
class ReadsSyncedAtOnce(FailingDiskBase):
    """flush_ms = 0: every read waits for its own sync."""
    CONFIG = {"audit": {"flush_ms": 0}}

    def test_read_fails_when_its_sync_does(self):
        self.disk_fails()
        self.assertRpcError(self.get(), 1014, "store")
        self.disk_ok()
        self.assertEqual(self.assertRpcResult(self.get())["value"],
                         b64(b"v1"))


if __name__ == "__main__":
    unittest.main()
