"""libkeyward (through kwclient) against a real keywardd, including the
transparent reconnect of one kw_client across a daemon restart."""

import os
import subprocess
import unittest

from harness import (BIN_KWCLIENT, DaemonTestCase, EXIT_ERROR, EXIT_NOTFOUND,
                     EXIT_OK, spawn)

ALL_BYTES = bytes(range(256))


class LibRoundTrip(DaemonTestCase):

    def put(self, name, value):
        r = self.kw("put", name, input=value)
        self.assertRc(r, EXIT_OK)
        return int(r.text.split()[1])

    def get(self, name, *extra):
        r = self.kw("get", name, *extra)
        self.assertRc(r, EXIT_OK)
        return r.out

    def test_values(self):
        cases = {
            "lib/text": b"a plain token",
            "lib/binary": ALL_BYTES * 3,
            "lib/trailing-newline": b"ends with newline\n",
            "lib/nul-only": b"\0",
            "lib/empty": b"",
            "lib/max": os.urandom(65536),
        }
        for name, value in cases.items():
            with self.subTest(name=name):
                self.assertEqual(self.put(name, value), 1)
                self.assertEqual(self.get(name), value)
        # The CLI reads what the library wrote, and the other way round.
        self.assertEqual(self.get_cli("lib/binary"), ALL_BYTES * 3)
        self.put_cli("lib/from-cli", ALL_BYTES)
        self.assertEqual(self.get("lib/from-cli"), ALL_BYTES)

    def test_too_big(self):
        r = self.kw("put", "lib/over", input=os.urandom(65537))
        self.assertRc(r, EXIT_ERROR)
        self.assertIn("too_big", r.err, r)
        self.assertRc(self.kw("get", "lib/over"), EXIT_NOTFOUND)

    def test_versions_and_stages(self):
        values = [os.urandom(16) for _ in range(3)]
        for i, v in enumerate(values, 1):
            self.assertEqual(self.put("lib/rot", v), i)
        self.assertEqual(self.get("lib/rot"), values[2])
        self.assertEqual(self.get("lib/rot", "--stage", "current"), values[2])
        self.assertEqual(self.get("lib/rot", "--stage", "previous"),
                         values[1])
        self.assertEqual(self.get("lib/rot", "--version", "1"), values[0])
        self.assertRc(self.kw("get", "lib/rot", "--version", "9"),
                      EXIT_NOTFOUND)

    def test_generate_ls_rm(self):
        r = self.kw("generate", "lib/gen", "48")
        self.assertRc(r, EXIT_OK)
        self.assertEqual(r.text.strip(), "version 1")
        self.assertEqual(len(self.get("lib/gen")), 48)
        self.put("lib/a", b"1")
        self.put("other/b", b"2")
        r = self.kw("ls", "lib/")
        self.assertRc(r, EXIT_OK)
        self.assertEqual(r.text.splitlines(), ["lib/a 1", "lib/gen 1"], r)
        r = self.kw("ls")
        self.assertRc(r, EXIT_OK)
        self.assertEqual([l.split()[0] for l in r.text.splitlines()],
                         ["lib/a", "lib/gen", "other/b"], r)
        self.assertRc(self.kw("rm", "lib/a"), EXIT_OK)
        self.assertRc(self.kw("get", "lib/a"), EXIT_NOTFOUND)
        self.assertRc(self.kw("rm", "lib/a"), EXIT_NOTFOUND)
        r = self.kw("ls", "lib/")
        self.assertEqual(r.text.splitlines(), ["lib/gen 1"], r)

    def test_invalid_name(self):
        r = self.kw("put", "../etc", input=b"canary-lib-value")
        self.assertRc(r, EXIT_ERROR)
        self.assertIn("invalid_name", r.err, r)
        self.assertNotIn("canary-lib-value", r.err)

    def test_status(self):
        r = self.kw("status")
        self.assertRc(r, EXIT_OK)
        self.assertEqual(r.text.strip(), "unlocked")


class LibSurvivesRestart(DaemonTestCase):
    """One kw_client, used before and after the daemon restarts."""

    def survive(self, restart):
        value = os.urandom(24)
        r = self.kw("put", "re/connect", input=value)
        self.assertRc(r, EXIT_OK)
        proc = spawn([BIN_KWCLIENT, "survive-restart", "re/connect"],
                     self.h.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, cwd=self.h.work)
        first = proc.stdout.readline().decode().strip()
        self.assertEqual(first, "1 " + value.hex(),
                         "first get failed: %r %r" % (
                             first, proc.stderr.read1(4096)
                             if proc.poll() is not None else b""))
        restart()
        out, err = proc.communicate(input=b"go\n", timeout=60)
        self.assertEqual(proc.returncode, 0,
                         "the client did not survive the restart: rc=%s "
                         "stderr=%r\nlog:\n%s" % (proc.returncode, err,
                                                 self.h.log_tail(15)))
        self.assertEqual(out.decode().strip(), "2 " + value.hex())

    def test_after_sigterm(self):
        def restart():
            self.assertEqual(self.d.stop(), 0)
            self.d.start()
        self.survive(restart)

    def test_after_sigkill(self):
        def restart():
            self.d.kill()
            self.d.start()
        self.survive(restart)


if __name__ == "__main__":
    unittest.main()
