"""A stored value's bytes never reach the disk in the clear: not in
secrets.db, its -wal/-shm, the daemon's log or any other file in the home,
before or after the daemon stops (which checkpoints the WAL)."""

import base64
import json
import os
import unittest

from harness import DaemonTestCase, EXIT_OK, b64


def needles(value):
    """The forms in which a value might leak."""
    forms = {
        "raw": value,
        "base64": base64.b64encode(value),
        "base64url": base64.urlsafe_b64encode(value),
        "hex": value.hex().encode(),
        "HEX": value.hex().upper().encode(),
    }
    # A leaked fragment is still a leak: check the middle third too.
    third = len(value) // 3
    forms["raw-middle"] = value[third:2 * third]
    return forms


class NeverOnDisk(DaemonTestCase):
    # The most talkative log level: still no values.
    CONFIG = {"agent": {"log_level": "debug"}}

    def setUp(self):
        super().setUp()
        self.secrets = {}   # name -> current value (read back by exercise)
        self.scanned = []   # (label, value): everything ever stored

    def store(self, how, name, value):
        if how == "cli":
            self.put_cli(name, value)
        elif how == "lib":
            self.assertRc(self.kw("put", name, input=value), EXIT_OK)
        else:
            resp = self.rpc().call("secret.put",
                                   {"name": name, "value": b64(value)})
            self.assertRpcResult(resp)
        self.secrets[name] = value
        self.scanned.append(("%s v%d" % (name, len(self.scanned)), value))

    def exercise(self):
        """Read every secret back through each client, and make a few
        requests fail, so every code path that might log has run."""
        rpc = self.rpc()
        for name, value in self.secrets.items():
            self.assertEqual(self.get_cli(name), value)
            r = self.kw("get", name)
            self.assertEqual(r.out, value)
            resp = rpc.call("secret.get", {"name": name})
            self.assertEqual(self.assertRpcResult(resp)["value"], b64(value))
            self.assertRc(self.cli("versions", name), EXIT_OK)
        self.assertRc(self.cli("ls"), EXIT_OK)
        # Failing requests that carry a value.
        value = next(iter(self.secrets.values()))
        rpc.call("secret.put", {"name": "../bad", "value": b64(value)})
        rpc.call("secret.put", {"name": "ok/name", "value": b64(value),
                                "unknown": b64(value)})
        rpc.send(json.dumps({"jsonrpc": "2.0", "id": 9, "method":
                             "secret.put", "params": {"value": b64(value),
                                                      "name": "xyz"}})[:-5]
                 + "\n")
        rpc.recv_line()

    def scan(self, when):
        files = self.h.files()
        names = [os.path.basename(f) for f in files]
        self.assertIn("secrets.db", names)
        for path in files:
            with open(path, "rb") as f:
                data = f.read()
            for name, value in self.scanned:
                for form, needle in needles(value).items():
                    self.assertNotInBytes(
                        needle, data, "%s (%s form of %s, %s)" % (
                            path, form, name, when))

    def test_values_never_in_files(self):
        self.store("cli", "leak/cli", os.urandom(48))
        self.store("lib", "leak/lib", os.urandom(48))
        self.store("rpc", "leak/rpc", os.urandom(48))
        self.store("cli", "leak/text",
                   b"kw-canary-" + os.urandom(19).hex().encode())
        # Several versions: older ones must be sealed too.
        self.store("lib", "leak/rotated", os.urandom(48))
        self.store("lib", "leak/rotated", os.urandom(48))
        self.exercise()
        self.assertTrue(os.path.exists(self.h.db + "-wal") or
                        os.path.getsize(self.h.db) > 0)
        self.scan("while running")
        self.assertEqual(self.d.stop(), 0)
        self.scan("after stop")
        # And after the next start has replayed/checkpointed the store.
        self.d.start()
        self.exercise()
        self.assertEqual(self.d.stop(), 0)
        self.scan("after restart and stop")

    def test_scan_finds_a_planted_value(self):
        # The scan itself must be able to fail: plant one form of a stored
        # value in a file of the home and expect the scan to notice.
        value = os.urandom(48)
        self.store("lib", "leak/planted", value)
        for form, needle in needles(value).items():
            with self.subTest(form=form):
                path = os.path.join(self.h.home, "planted")
                with open(path, "wb") as f:
                    f.write(os.urandom(100) + needle + os.urandom(100))
                try:
                    with self.assertRaises(AssertionError):
                        self.scan("planted")
                finally:
                    os.unlink(path)
        self.scan("after removing the plant")

    def test_deleted_value_not_left_behind(self):
        self.store("cli", "leak/deleted", os.urandom(48))
        self.assertRc(self.cli("rm", "leak/deleted"), EXIT_OK)
        del self.secrets["leak/deleted"]
        self.assertEqual(self.d.stop(), 0)
        self.scan("after delete and stop")

    def test_generated_value_not_on_disk(self):
        # raw: the agent makes the bytes; the CLI never holds them
        r = self.cli("put", "leak/gen", "--generate", "48", "--format",
                     "raw")
        self.assertRc(r, EXIT_OK)
        value = self.get_cli("leak/gen")
        self.assertEqual(len(value), 48)
        self.secrets["leak/gen"] = value
        self.scanned.append(("leak/gen", value))
        self.scan("while running")
        self.assertEqual(self.d.stop(), 0)
        self.scan("after stop")


class NeverOnDiskPassphrase(NeverOnDisk):
    PASSPHRASE = "leak test passphrase 91c2"

    def setUp(self):
        super().setUp()
        self.assertRc(self.unlock_cli(self.PASSPHRASE), EXIT_OK)

    def scan(self, when):
        super().scan(when)
        for path in self.h.files():
            with open(path, "rb") as f:
                self.assertNotInBytes(self.PASSPHRASE.encode(), f.read(),
                                      "%s (passphrase, %s)" % (path, when))

    def test_values_never_in_files(self):
        # After a restart the daemon is locked again; unlock before use.
        orig_start = self.d.start

        def start_and_unlock(wait=True):
            orig_start(wait)
            self.assertRc(self.unlock_cli(self.PASSPHRASE), EXIT_OK)
            return self.d
        self.d.start = start_and_unlock
        super().test_values_never_in_files()


if __name__ == "__main__":
    unittest.main()
