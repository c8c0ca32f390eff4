"""The checkpoint file under faults and attack (issue 12; docs/audit.md,
"Checkpoints" and "Start-up"): an append cut short by a full disk leaves no
half line; a torn tail an older agent left does not break verify; a
checkpoint that cannot be written is logged once, shown by `keyward status`
and `keyward audit verify` (stale), and with checkpoint_failure = refuse
fails audited requests closed; a cut, emptied or deleted checkpoint file is
reported; a store that lost rows the checkpoints signed (its -wal deleted)
or that was rolled back together with them (caught by the anchor) is
refused at start unless the loss is accepted, which is audited."""

import json
import os
import re
import shutil
import signal
import unittest

from harness import (EXIT_ERROR, b64, poll_until, render_config,
                     start_with_shim)
from test_audit import EX_DATAERR, AuditCase

FAILWRITE_SO = os.environ.get("KW_FAILWRITE_SO", "")
DEADLINE_S = 30


class CheckpointCase(AuditCase):

    CONFIG = {"audit": {"checkpoint_rows": 5}}

    @property
    def cp_path(self):
        return os.path.join(self.h.home, "audit.checkpoints")

    def cp_text(self):
        try:
            with open(self.cp_path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""

    def cp_lines(self):
        return [line for line in self.cp_text().split(b"\n") if line]

    def put_secret(self):
        rpc = self.rpc()
        self.assertRpcResult(rpc.call("secret.put", {
            "name": "cp/x", "value": b64(b"checkpoint value")}))
        rpc.close()

    def status(self):
        r = self.cli("status", "--json")
        self.assertRc(r, 0, "keyward status --json")
        return json.loads(r.out)

    def gets_until(self, predicate, what):
        """secret.get requests (each an audit row) until predicate() holds;
        fails after DEADLINE_S."""
        rpc = self.rpc()
        self.addCleanup(rpc.close)

        def step():
            rpc.call("secret.get", {"name": "cp/x"})
            return predicate()
        self.assertTrue(poll_until(step, DEADLINE_S, 0.05),
                        "%s did not happen; log:\n%s"
                        % (what, self.h.log_tail()))

    def failing(self):
        return self.status()["checkpoints"]["state"] == "failing"

    def wait_state(self, state):
        ok = poll_until(lambda: self.status()["checkpoints"]["state"]
                        == state, DEADLINE_S, 0.05)
        self.assertTrue(ok, "checkpoints never became %s; log:\n%s"
                        % (state, self.h.log_tail()))

    def assertStale(self):
        r, obj = self.verify()
        self.assertEqual(obj["kind"], "stale", r)
        self.assertFalse(obj["intact"], r)
        self.assertRegex(obj["detail"],
                         r"^newest checkpoint at seq \d+, log at seq \d+", r)
        self.assertEqual(r.rc, 1, "a stale log must exit 1: %r" % r)
        r = self.cli("audit", "verify")
        self.assertEqual(r.rc, 1, r)
        self.assertIn("stale: newest checkpoint at seq", r.text, r)

    def assertIntact(self):
        r, obj = self.verify()
        self.assertRc(r, 0, "verify")
        self.assertEqual(obj["kind"], "intact", r)
        return obj

    def assertBadCheckpoint(self, words):
        """bad_checkpoint saying words, or, if the agent wrote a line
        since it started (a checkpoint due by time), that this line does
        not follow what the file holds: new lines chain from the store's
        record, so the damage stays visible either way."""
        r, obj = self.verify()
        self.assertEqual((obj["intact"], obj["kind"]),
                         (False, "bad_checkpoint"), r)
        self.assertRegex(obj["detail"], "%s|does not follow the line "
                         "before it" % re.escape(words), r)
        self.assertEqual(r.rc, 1, r)


# --- an append cut short ------------------------------------------------------

@unittest.skipUnless(os.path.exists(FAILWRITE_SO), "KW_FAILWRITE_SO not built")
class ShortWrite(CheckpointCase):

    START = False

    def setUp(self):
        super().setUp()
        start_with_shim(self, FAILWRITE_SO, "KW_FAILWRITE_TRIGGER",
                        "failwrite.on")
        self.put_secret()

    def test_short_writes_then_enospc_leave_no_half_line(self):
        self.gets_until(lambda: len(self.cp_lines()) >= 1, "a checkpoint")
        before = self.cp_text()
        open(self.trigger, "w").close()
        self.gets_until(self.failing, "a failing checkpoint")
        # All or nothing: the file is as it was, no half line.
        self.assertEqual(self.cp_text(), before)
        r = self.cli("status")
        self.assertRc(r, 0)
        self.assertIn("checkpoints: failing since ", r.text, r)
        self.assertIn("No space left on device", r.text, r)
        self.assertStale()
        # Space again: the next attempts succeed and the file verifies.
        os.unlink(self.trigger)
        self.wait_state("ok")
        self.assertTrue(self.cp_text().startswith(before))
        self.assertTrue(self.cp_text().endswith(b"\n"))
        self.assertIntact()
        self.assertEqual(self.d.stop(), 0)
        self.d.start()
        self.assertIntact()


class TornTail(CheckpointCase):

    def test_torn_tail_of_an_older_agent(self):
        # What an older agent left after a short write: part of a line,
        # no newline. The next line must not be glued onto it.
        self.put_secret()
        self.gets_until(lambda: len(self.cp_lines()) >= 1, "a checkpoint")
        self.assertEqual(self.d.stop(), 0)
        with open(self.cp_path, "ab") as f:
            f.write(b"17 9f3a0c55e1")
        self.d.start()
        self.assertIntact()
        n = len(self.cp_lines())
        self.gets_until(lambda: len(self.cp_lines()) > n, "a new checkpoint")
        self.assertNotIn(b"9f3a0c55e1", self.cp_text())
        self.assertEqual(self.d.stop(), 0)
        self.d.start()
        obj = self.assertIntact()
        self.assertGreaterEqual(obj["checkpoints"], n + 1, obj)


# --- checkpoints that cannot be written ---------------------------------------

class Unwritable(CheckpointCase):

    def test_mode_0644_logged_once_shown_and_recovered(self):
        self.put_secret()
        self.gets_until(lambda: len(self.cp_lines()) >= 1, "a checkpoint")
        os.chmod(self.cp_path, 0o644)
        self.gets_until(self.failing, "a failing checkpoint")
        st = self.status()["checkpoints"]
        self.assertIn("mode 600", st["reason"], st)
        self.assertGreater(st["log_seq"], st["newest_seq"], st)
        self.assertIsInstance(st["failing_since"], int, st)
        # warn (the default): requests are still served.
        self.assertEqual(self.get_cli("cp/x"), b"checkpoint value")
        self.assertIn("checkpoints: failing since", self.cli("status").text)
        self.assertStale()
        # More failed attempts, still one error line.
        n = self.status()["checkpoints"]["log_seq"]
        self.gets_until(lambda: self.status()["checkpoints"]["log_seq"]
                        > n + 20, "more rows")
        log = self.h.log_text()
        self.assertEqual(log.count("audit checkpoints cannot be written"), 1,
                         log)
        os.chmod(self.cp_path, 0o600)
        self.wait_state("ok")
        self.assertIn("audit checkpoints are written again",
                      self.h.log_text())
        self.assertIn("checkpoints: ok", self.cli("status").text)
        self.assertIntact()


class Refuse(CheckpointCase):

    CONFIG = {"audit": {"checkpoint_rows": 5,
                        "checkpoint_failure": "refuse"}}

    def test_directory_in_place_fails_closed(self):
        self.put_secret()
        self.gets_until(lambda: len(self.cp_lines()) >= 1, "a checkpoint")
        os.unlink(self.cp_path)
        os.mkdir(self.cp_path, 0o700)
        rpc = self.rpc()
        self.addCleanup(rpc.close)

        def refused():
            resp = rpc.call("secret.get", {"name": "cp/x"})
            return "error" in resp and resp
        resp = poll_until(refused, DEADLINE_S, 0.05)
        self.assertTrue(resp, "never refused; log:\n%s" % self.h.log_tail())
        self.assertNotIn("result", resp)
        self.assertIn("checkpoint", resp["error"]["message"], resp)
        self.assertNotIn("checkpoint value", json.dumps(resp))
        r = self.cli("get", "cp/x")
        self.assertRc(r, EXIT_ERROR)
        self.assertEqual(r.out, b"", r)
        st = self.status()["checkpoints"]
        self.assertEqual(st["state"], "failing", st)
        self.assertIn("refuse", self.h.log_text())
        # Fixed: served again. The lines that were in the deleted file
        # are gone, and verify says so.
        os.rmdir(self.cp_path)
        self.wait_state("ok")
        self.assertEqual(self.get_cli("cp/x"), b"checkpoint value")
        self.assertBadCheckpoint("does not follow the line before it")


# --- a cut, emptied or deleted checkpoint file ---------------------------------

class RolledBackFile(CheckpointCase):

    def setUp(self):
        super().setUp()
        self.put_secret()
        self.gets_until(lambda: len(self.cp_lines()) >= 4, "4 checkpoints")
        self.assertEqual(self.d.stop(), 0)

    def test_cut_to_an_earlier_line_with_its_rows(self):
        first = self.cp_lines()[0]
        with open(self.cp_path, "wb") as f:
            f.write(first + b"\n")
        self.sqlite("DELETE FROM audit WHERE seq > %d;"
                    % int(first.split()[0]))
        self.d.start()
        self.assertBadCheckpoint("shorter than the store recorded")

    def test_emptied(self):
        open(self.cp_path, "wb").close()
        self.d.start()
        self.assertBadCheckpoint("shorter than the store recorded")

    def test_deleted(self):
        os.unlink(self.cp_path)
        self.d.start()
        self.assertBadCheckpoint("is missing")


# --- a store that lost rows -----------------------------------------------------

class LostRows(CheckpointCase):

    def test_wal_deleted_after_kill(self):
        self.put_secret()
        # A clean stop leaves the rows so far in secrets.db itself.
        self.assertEqual(self.d.stop(), 0)
        kept = self.db_rows()[-1][0]
        self.d.start()
        self.gets_until(lambda: any(int(line.split()[0]) > kept + 5
                                    for line in self.cp_lines()),
                        "a checkpoint past the rows in secrets.db")
        signed = max(int(line.split()[0]) for line in self.cp_lines())
        self.d.proc.send_signal(signal.SIGKILL)
        self.d.wait_exit()
        for suffix in ("-wal", "-shm"):
            if os.path.exists(self.h.db + suffix):
                os.unlink(self.h.db + suffix)
        self.d.start(wait=False)
        self.assertEqual(self.d.wait_exit(), EX_DATAERR,
                            "started without rows its checkpoints signed")
        self.assertIn("the store lost rows %d\u2013%d that %s signed; was "
                      "secrets.db-wal deleted or the store restored from a "
                      "backup?" % (kept + 1, signed, self.cp_path),
                      self.h.log_text())
        self.assertIn("--accept-loss", self.h.log_text())
        self.d.extra_args = ["--accept-loss"]
        self.d.start()
        loss = [r for r in self.all_rows() if r["op"] == "audit.loss_accepted"]
        self.assertEqual(len(loss), 1, loss)
        self.assertEqual(loss[0]["seq"], signed + 1, loss)
        self.assertIn("%d\u2013%d" % (kept + 1, signed), loss[0]["reason"])
        obj = self.assertIntact()
        self.assertIn("rows lost and accepted", obj["detail"])
        self.d.extra_args = []
        self.assertEqual(self.d.restart(), 0)
        self.assertIntact()


# --- the anchor -----------------------------------------------------------------

class Anchor(CheckpointCase):

    START = False

    def setUp(self):
        super().setUp()
        self.anchor = os.path.join(self.h.work, "anchor", "keyward.anchor")
        os.makedirs(os.path.dirname(self.anchor), 0o700)
        self.h.config["audit"]["anchor"] = self.anchor
        with open(self.h.ini, "w") as f:
            f.write(render_config(self.h.config))
        self.d.start()

    def test_store_and_checkpoints_rolled_back_together(self):
        self.put_secret()
        self.gets_until(lambda: len(self.cp_lines()) >= 1, "a checkpoint")
        self.assertEqual(self.d.stop(), 0)
        backup = os.path.join(self.h.work, "backup")
        os.mkdir(backup, 0o700)
        for name in ("secrets.db", "audit.checkpoints"):
            shutil.copy2(os.path.join(self.h.home, name), backup)
        old_head = self.db_rows()[-1][0]
        self.d.start()
        self.gets_until(lambda: len(self.cp_lines()) >= 4,
                        "more checkpoints")
        self.assertEqual(self.d.stop(), 0)
        with open(self.anchor, "rb") as f:
            newest = int(f.read().split(b"\n")[-2].split()[0])
        self.assertGreater(newest, old_head)
        for name in ("secrets.db", "audit.checkpoints"):
            shutil.copy2(os.path.join(backup, name), self.h.home)
        # The pair agrees with itself ...
        self.d.start(wait=False)
        self.assertEqual(self.d.wait_exit(), EX_DATAERR,
                            "a rolled-back store was accepted")
        # ... but not with the anchor, which the message names.
        log = self.h.log_text()
        self.assertIn("the store ends at row %d but the audit anchor %s "
                      "signed row %d" % (old_head, self.anchor, newest), log)
        self.d.extra_args = ["--accept-loss"]
        self.d.start()
        loss = [r for r in self.all_rows() if r["op"] == "audit.loss_accepted"]
        self.assertEqual(len(loss), 1, loss)
        self.assertIn("anchor", loss[0]["reason"])
        self.assertIntact()


if __name__ == "__main__":
    unittest.main()
