"""Stored rows are authenticated and bound to their name and version: a
flipped bit or rows swapped between secrets or versions give a crypto error,
never another secret's value. Edits secrets.db with Python's sqlite3 while
the daemon is stopped (schema: docs/store.md, table versions.sealed)."""

import os
import sqlite3
import unittest

from harness import DaemonTestCase, EXIT_ERROR, EXIT_OK


class Tamper(DaemonTestCase):

    def setUp(self):
        super().setUp()
        self.a1, self.a2, self.b1 = (os.urandom(32) for _ in range(3))
        self.put_cli("t/a", self.a1)
        self.put_cli("t/a", self.a2)
        self.put_cli("t/b", self.b1)
        self.put_cli("t/untouched", b"fine")
        self.assertEqual(self.d.stop(), 0)

    def edit(self, fn):
        db = sqlite3.connect(self.h.db)
        try:
            cols = [r[1] for r in db.execute("PRAGMA table_info(versions)")]
            if "sealed" not in cols:
                self.skipTest("store schema changed: no versions.sealed")
            fn(db)
            db.commit()
        finally:
            db.close()
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(self.h.db + suffix):
                os.chmod(self.h.db + suffix, 0o600)
        self.d.start()

    @staticmethod
    def sealed(db, name, version):
        return db.execute(
            "SELECT v.sealed FROM versions v JOIN secrets s ON "
            "s.id = v.secret_id WHERE s.name = ? AND v.version = ?",
            (name, version)).fetchone()[0]

    @staticmethod
    def set_sealed(db, name, version, blob):
        db.execute(
            "UPDATE versions SET sealed = ? WHERE version = ? AND "
            "secret_id = (SELECT id FROM secrets WHERE name = ?)",
            (blob, version, name))

    def assertCryptoError(self, *get_args):
        r = self.cli("get", *get_args)
        self.assertRc(r, EXIT_ERROR)
        self.assertEqual(r.out, b"", "tampered get printed a value")
        resp = self.rpc().call("secret.get", self.params(*get_args))
        self.assertRpcError(resp, 1013, "crypto")

    @staticmethod
    def params(name, *rest):
        p = {"name": name}
        if rest:
            p["version"] = int(rest[1])
        return p

    def assertUntouchedStillServed(self):
        self.assertEqual(self.get_cli("t/untouched"), b"fine")
        self.assertTrue(self.d.alive())

    def test_flipped_bit(self):
        def flip(db):
            blob = bytearray(self.sealed(db, "t/b", 1))
            blob[len(blob) // 2] ^= 0x01
            self.set_sealed(db, "t/b", 1, bytes(blob))
        self.edit(flip)
        self.assertCryptoError("t/b")
        self.assertUntouchedStillServed()

    def test_rows_swapped_between_secrets(self):
        def swap(db):
            a, b = self.sealed(db, "t/a", 2), self.sealed(db, "t/b", 1)
            self.set_sealed(db, "t/a", 2, b)
            self.set_sealed(db, "t/b", 1, a)
        self.edit(swap)
        self.assertCryptoError("t/a")
        self.assertCryptoError("t/b")
        self.assertUntouchedStillServed()

    def test_rows_swapped_between_versions(self):
        def swap(db):
            v1, v2 = self.sealed(db, "t/a", 1), self.sealed(db, "t/a", 2)
            self.set_sealed(db, "t/a", 1, v2)
            self.set_sealed(db, "t/a", 2, v1)
        self.edit(swap)
        self.assertCryptoError("t/a")
        self.assertCryptoError("t/a", "--version", "1")
        self.assertUntouchedStillServed()

    def test_untampered_control(self):
        # The same edit path without a change must leave everything readable,
        # so the failures above are caused by the tampering alone.
        self.edit(lambda db: None)
        r = self.cli("get", "t/a", "--version", "1")
        self.assertRc(r, EXIT_OK)
        self.assertEqual(r.out, self.a1)
        self.assertEqual(self.get_cli("t/a"), self.a2)
        self.assertEqual(self.get_cli("t/b"), self.b1)


if __name__ == "__main__":
    unittest.main()
