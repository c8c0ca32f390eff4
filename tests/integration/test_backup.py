"""keyward backup, restore and rekey against the real daemon: the backup
is one consistent snapshot taken while the agent serves, in the container
of docs/store.md ("Backups"), never overwrites a file, and carries no key."""

import base64
import hashlib
import os
import sqlite3
import struct

from harness import (DaemonTestCase, EXIT_OK, Rpc, b64, fd_with, mode_of)

HEADER = 40
SUM = 32


def parse_backup(data):
    """(info, db image, checkpoints) of a container, checking it."""
    if data[:8] != b"KWBACKUP":
        raise AssertionError("no KWBACKUP magic")
    version, schema, created, db_len, cp_len = struct.unpack(
        ">IIqQQ", data[8:HEADER])
    if HEADER + db_len + cp_len + SUM != len(data):
        raise AssertionError("lengths do not add up to the file size")
    body = data[:-SUM]
    if hashlib.blake2b(body, digest_size=32).digest() != data[-SUM:]:
        raise AssertionError("checksum does not match")
    db = data[HEADER:HEADER + db_len]
    cp = data[HEADER + db_len:HEADER + db_len + cp_len]
    info = {"version": version, "schema": schema, "created": created}
    return info, db, cp


def make_backup(db, cp=b"", schema=7, created=1700000000):
    """A container around db and cp, checksum and all."""
    body = (b"KWBACKUP" + struct.pack(">IIqQQ", 1, schema, created, len(db),
                                      len(cp)) + db + cp)
    return body + hashlib.blake2b(body, digest_size=32).digest()


def secret_names(db_image, work):
    path = os.path.join(work, "image-%d.db" % len(db_image))
    with open(path, "wb") as f:
        f.write(db_image)
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        return sorted(r[0] for r in con.execute("SELECT name FROM secrets"))
    finally:
        con.close()
        os.unlink(path)


class Backup(DaemonTestCase):

    def assertErrorKind(self, resp, kind, field=None):
        err = resp.get("error")
        self.assertIsInstance(err, dict, "expected an error: %r" % resp)
        self.assertEqual(err.get("data", {}).get("kind"), kind, resp)
        if field:
            self.assertIn(field, err.get("message", ""), resp)

    def backup_path(self, name="store.kwb"):
        return os.path.join(self.h.work, name)

    def test_backup_is_a_checked_copy_without_the_key(self):
        self.put_cli("db/one", b"first")
        self.put_cli("db/two", b"second")
        path = self.backup_path()
        r = self.cli("backup", path)
        self.assertRc(r, EXIT_OK)
        self.assertIn("master.key", r.text)
        self.assertEqual(r.err, "", "progress is for terminals only")
        self.assertEqual(mode_of(path), 0o600)
        with open(path, "rb") as f:
            data = f.read()
        info, db, cp = parse_backup(data)
        self.assertEqual(info["version"], 1)
        self.assertGreaterEqual(info["schema"], 7)
        self.assertEqual(secret_names(db, self.h.work), ["db/one", "db/two"])
        with open(self.h.keyfile, "rb") as f:
            self.assertNotIn(f.read(), data, "master.key is in the backup")
        self.assertNotIn(b"second", data, "a value in clear")
        # No temporary file is left beside it.
        self.assertEqual(os.listdir(self.h.work).count("store.kwb"), 1)
        self.assertEqual([n for n in os.listdir(self.h.work)
                          if n.startswith("store.kwb.tmp")], [])

    def test_backup_never_overwrites(self):
        path = self.backup_path()
        with open(path, "wb") as f:
            f.write(b"precious")
        r = self.cli("backup", path)
        self.assertRc(r, 1)
        self.assertIn("exists", r.err)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"precious")

    def test_snapshot_is_consistent_while_serving(self):
        # Over one chunk (1 MiB), so the snapshot is read in parts while
        # another client writes in between.
        with Rpc(self.h.socket) as b, Rpc(self.h.socket) as w:
            for i in range(20):
                self.assertRpcResult(w.call("secret.put", {
                    "name": "big/%02d" % i,
                    "value": b64(os.urandom(60000))}))
            first = b.call("store.backup", {"offset": 0})
            self.assertRpcResult(first)
            res = first["result"]
            self.assertFalse(res["done"])
            put = w.call("secret.put", {"name": "late/one",
                                        "value": b64(b"after")})
            self.assertRpcResult(put)
            # Another connection cannot start one meanwhile.
            busy = w.call("store.backup", {"offset": 0})
            self.assertErrorKind(busy, "busy")
            parts = [res]
            while not parts[-1]["done"]:
                off = parts[-1]["offset"] + len(
                    base64.b64decode(parts[-1]["data"]))
                nxt = b.call("store.backup", {"offset": off})
                self.assertRpcResult(nxt)
                parts.append(nxt["result"])
        data = b"".join(base64.b64decode(p["data"])
                        for p in parts)
        self.assertEqual(len(data), res["size"])
        _, db, _ = parse_backup(data)
        names = secret_names(db, self.h.work)
        self.assertEqual(len(names), 20)
        self.assertNotIn("late/one", names)
        self.assertEqual(self.get_cli("late/one"), b"after")

    def test_snapshot_freed_with_its_connection(self):
        with Rpc(self.h.socket) as b:
            self.assertRpcResult(b.call("store.backup", {"offset": 0}))
        # Not done, but gone with its connection: another may start.
        r = self.cli("backup", self.backup_path())
        self.assertRc(r, EXIT_OK)

    def test_only_an_admin_may_take_one(self):
        exe = self.copy_client("reader")
        self.h.write_policy("10-reader.ini", '[client "reader"]\nexe = %s\n'
                            'read = **\n' % exe)
        self.assertRc(self.cli("policy", "reload"), EXIT_OK)
        r = self.as_client(exe, "call", "store.backup", "{}")
        self.assertNotEqual(r.rc, 0, r)
        self.assertIn("not an admin", r.err + r.text)

    def test_read_on_without_a_snapshot_refused(self):
        with Rpc(self.h.socket) as b:
            resp = b.call("store.backup", {"offset": 5})
            self.assertErrorKind(resp, "state", "offset")

    def test_backup_while_locked_is_audited(self):
        path = self.backup_path()
        self.assertRc(self.cli("lock"), EXIT_OK)
        self.assertRc(self.cli("backup", path), EXIT_OK)
        self.assertRc(self.cli("unlock"), EXIT_OK)
        r = self.cli("audit", "--op", "store.backup", "--json")
        self.assertRc(r, EXIT_OK)
        self.assertIn("store.backup", r.text)


class Restore(DaemonTestCase):

    def take_backup(self, name="store.kwb"):
        path = os.path.join(self.h.work, name)
        self.assertRc(self.cli("backup", path), EXIT_OK)
        return path

    def aside(self):
        return sorted(n for n in os.listdir(self.h.home)
                      if ".before-restore-" in n)

    def test_round_trip_keeps_old_store_and_is_audited(self):
        self.put_cli("keep/a", b"alpha")
        self.put_cli("keep/b", b"beta")
        path = self.take_backup()
        self.put_cli("later/c", b"gamma")
        self.assertRc(self.cli("rm", "keep/a"), EXIT_OK)
        self.assertEqual(self.d.stop(), 0)
        r = self.cli("restore", path)
        self.assertRc(r, EXIT_OK)
        self.assertIn("before-restore-", r.text)
        aside = self.aside()
        self.assertTrue(any(n.startswith("secrets.db.before-restore-")
                            for n in aside), aside)
        self.assertTrue(any(n.startswith("audit.checkpoints.before-restore-")
                            for n in aside), aside)
        self.assertEqual(mode_of(self.h.db), 0o600)
        self.d.start()
        self.assertEqual(self.get_cli("keep/a"), b"alpha")
        self.assertEqual(self.get_cli("keep/b"), b"beta")
        self.assertRc(self.cli("get", "later/c"), 3)
        r = self.cli("audit", "--op", "store.restore", "--json")
        self.assertRc(r, EXIT_OK)
        self.assertIn("restored from a backup taken at", r.text)
        self.assertFalse(os.path.exists(
            os.path.join(self.h.home, "restore.pending")))
        self.assertRc(self.cli("audit", "verify"), EXIT_OK)
        # The set-aside store still holds what came after the backup.
        self.assertEqual(self.d.stop(), 0)
        old = [n for n in aside if n.startswith("secrets.db.before-restore-")
               and not n.endswith(("-wal", "-shm"))][0]
        con = sqlite3.connect("file:%s?mode=ro" % os.path.join(
            self.h.home, old), uri=True)
        names = sorted(x[0] for x in con.execute("SELECT name FROM secrets"))
        con.close()
        self.assertEqual(names, ["keep/b", "later/c"])

    def test_refused_while_the_agent_runs(self):
        path = self.take_backup()
        r = self.cli("restore", path)
        self.assertRc(r, 1)
        self.assertIn("running", r.err)
        self.assertEqual(self.aside(), [])

    def test_damaged_and_truncated_backups_refused(self):
        self.put_cli("keep/a", b"alpha")
        path = self.take_backup()
        self.assertEqual(self.d.stop(), 0)
        with open(path, "rb") as f:
            data = f.read()
        cases = (("truncated", data[:-100], "truncated"),
                 ("flipped", data[:500] + bytes([data[500] ^ 1])
                  + data[501:], "checksum"),
                 ("empty", b"", "KWBACKUP"))
        for name, content, says in cases:
            bad = os.path.join(self.h.work, name)
            with open(bad, "wb") as f:
                f.write(content)
            r = self.cli("restore", bad)
            self.assertRc(r, 1, name)
            self.assertIn(says, r.err, name)
        # Whole and well formed, but not a keyward store.
        plain = os.path.join(self.h.work, "plain.db")
        con = sqlite3.connect(plain)
        con.execute("CREATE TABLE t (x)")
        con.commit()
        con.close()
        with open(plain, "rb") as f:
            image = f.read()
        foreign = os.path.join(self.h.work, "foreign.kwb")
        with open(foreign, "wb") as f:
            f.write(make_backup(image))
        r = self.cli("restore", foreign)
        self.assertRc(r, 1)
        self.assertIn("not a keyward store", r.err)
        self.assertEqual(self.aside(), [])
        self.assertEqual(sorted(n for n in os.listdir(self.h.home)
                                if n.endswith(".restoring")), [])
        self.d.start()
        self.assertEqual(self.get_cli("keep/a"), b"alpha")

    def test_backup_of_another_key_refused_unless_forced(self):
        path = self.take_backup()
        self.assertEqual(self.d.stop(), 0)
        with open(self.h.keyfile, "rb") as f:
            key = f.read()
        # Another store's key in place of this one's.
        os.chmod(self.h.keyfile, 0o600)
        with open(self.h.keyfile, "wb") as f:
            f.write(os.urandom(32))
        r = self.cli("restore", path)
        self.assertRc(r, 1)
        self.assertIn("master.key does not open it", r.err)
        self.assertEqual(self.aside(), [])
        r = self.cli("restore", "--force", path)
        self.assertRc(r, EXIT_OK)
        with open(self.h.keyfile, "wb") as f:
            f.write(key)
        self.d.start()
        self.assertRc(self.cli("audit", "verify"), EXIT_OK)


PASSPHRASE = "restore me, horse battery 41"


class RestorePassphrase(DaemonTestCase):
    PASSPHRASE = PASSPHRASE

    def restore(self, path, passphrase):
        rfd = fd_with(passphrase + "\n")
        try:
            return self.cli("restore", "--passphrase-fd", str(rfd), path,
                            pass_fds=(rfd,))
        finally:
            os.close(rfd)

    def test_passphrase_checked_then_row_written_at_unlock(self):
        self.assertRc(self.unlock_cli(PASSPHRASE), EXIT_OK)
        self.put_cli("pp/a", b"alpha")
        path = os.path.join(self.h.work, "pp.kwb")
        r = self.cli("backup", path)
        self.assertRc(r, EXIT_OK)
        self.assertIn("passphrase", r.text)
        self.assertEqual(self.d.stop(), 0)
        r = self.restore(path, "not the passphrase")
        self.assertRc(r, 1)
        self.assertIn("passphrase does not open it", r.err)
        self.assertRc(self.restore(path, PASSPHRASE), EXIT_OK)
        self.d.start()
        self.assertRc(self.unlock_cli(PASSPHRASE), EXIT_OK)
        self.assertEqual(self.get_cli("pp/a"), b"alpha")
        r = self.cli("audit", "--op", "store.restore", "--json")
        self.assertRc(r, EXIT_OK)
        self.assertIn("restored from a backup taken at", r.text)
