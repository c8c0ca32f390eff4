"""The runner itself (run.py, scripts/test-summary.py): skips cannot hide.

- a group whose every test skips exits 77, so that meson shows SKIP;
- with KW_REQUIRE_ALL=1 a skip fails the group unless its reason comes
  from harness.accepted_skip() with a key whose condition holds;
- test-summary.py counts skipped sub-tests of passing programs (integration
  groups and cmocka), lists each with its reason, and with KW_REQUIRE_ALL=1
  fails on any skip that was not accepted;
- a test that gives the daemon a test hook (KEYWARD_TEST_CLOCK, ...) fails,
  saying why, against a keywardd built without -Dtest_hooks, instead of
  running on the real clock; the keywardd under test has the hooks.

No daemon: the suites run here are made up in this file."""

import io
import json
import os
import subprocess
import sys
import tempfile
import unittest

import harness
import run

SUMMARY = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "..", "..", "scripts", "test-summary.py")


def make_suite(**bodies):
    """A suite of one TestCase class with a test per body (name -> function
    of the TestCase); made here so that the loader of this module does not
    collect it."""
    attrs = {"test_" + name: body for name, body in bodies.items()}
    case = type("Made", (unittest.TestCase,), attrs)
    return unittest.defaultTestLoader.loadTestsFromTestCase(case)


def passes(self):
    self.assertTrue(True)


def fails(self):
    self.fail("made to fail")


def skips_plainly(self):
    self.skipTest("no user 'nobody'")


def skips_accepted(self):
    self.skipTest(harness.accepted_skip("selftest-holds", "always holds"))


def skips_accepted_elsewhere(self):
    self.skipTest(harness.accepted_skip("selftest-never", "never holds"))


class Runner(unittest.TestCase):

    def setUp(self):
        # Two keys of the test's own: one whose condition holds here, one
        # whose condition does not (as valgrind-scale outside valgrind).
        saved = dict(harness.ACCEPTED_SKIPS)
        self.addCleanup(lambda: (harness.ACCEPTED_SKIPS.clear(),
                                 harness.ACCEPTED_SKIPS.update(saved)))
        harness.ACCEPTED_SKIPS["selftest-holds"] = (lambda: True, "test")
        harness.ACCEPTED_SKIPS["selftest-never"] = (lambda: False, "test")

    def run_made(self, strict, **bodies):
        out = io.StringIO()
        rc = run.run_suite(make_suite(**bodies), "made", out, strict)
        text = out.getvalue()
        lines = [ln for ln in text.splitlines()
                 if ln.startswith(run.RESULT_PREFIX)]
        self.assertEqual(len(lines), 1, text)
        res = json.loads(lines[0][len(run.RESULT_PREFIX):])
        self.assertEqual(res["exit"], rc, text)
        return rc, res, text

    def test_only_skips_exits_77(self):
        rc, res, text = self.run_made(False, a=skips_plainly,
                                      b=skips_accepted)
        self.assertEqual(rc, 77, text)
        self.assertEqual((res["passed"], res["failed"], len(res["skipped"])),
                         (0, 0, 2), text)
        self.assertIn("SKIP (nothing ran)", text)
        # Accepted or not, nothing ran: still 77 with KW_REQUIRE_ALL.
        rc, _, text = self.run_made(True, b=skips_accepted)
        self.assertEqual(rc, 77, text)

    def test_unexplained_skip_fails_only_with_require_all(self):
        rc, res, text = self.run_made(False, a=passes, b=skips_plainly)
        self.assertEqual(rc, 0, text)
        self.assertEqual(res["skipped"][0]["accepted"], None)
        rc, res, text = self.run_made(True, a=passes, b=skips_plainly)
        self.assertEqual(rc, 1, text)
        self.assertIn("test_b skipped (no user 'nobody'); KW_REQUIRE_ALL=1",
                      text)
        self.assertEqual(res["failed"], 0, text)

    def test_accepted_reason_passes_require_all_where_it_holds(self):
        rc, res, text = self.run_made(True, a=passes, b=skips_accepted)
        self.assertEqual(rc, 0, text)
        self.assertEqual(res["skipped"][0]["accepted"], "selftest-holds")
        # A registered key whose condition does not hold in this run.
        rc, _, text = self.run_made(True, a=passes,
                                    b=skips_accepted_elsewhere)
        self.assertEqual(rc, 1, text)
        # The prefix alone, with a key nobody registered.
        self.assertIsNone(harness.accepted_skip_key(
            harness.ACCEPTED_PREFIX + "[made-up]: anything"))
        with self.assertRaises(KeyError):
            harness.accepted_skip("made-up", "anything")

    def test_failure_wins_over_skips(self):
        rc, res, text = self.run_made(False, a=fails, b=skips_plainly)
        self.assertEqual(rc, 1, text)
        self.assertEqual(res["failed"], 1, text)

    def test_valgrind_keys_hold_only_under_valgrind(self):
        reason = harness.accepted_skip("valgrind-scale", "big")
        self.assertEqual(harness.accepted_skip_key(reason),
                         "valgrind-scale" if harness.VALGRIND else None)


class TestHooks(unittest.TestCase):

    def use_keywardd(self, content):
        """Make harness.BIN_KEYWARDD a file holding content."""
        fd, path = tempfile.mkstemp(prefix="kw-hooks-")
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        self.addCleanup(os.unlink, path)
        saved = harness.BIN_KEYWARDD
        harness.BIN_KEYWARDD = path
        self.addCleanup(setattr, harness, "BIN_KEYWARDD", saved)

    def test_keywardd_under_test_has_them(self):
        self.assertTrue(harness.keywardd_has_test_hooks(),
                        "%s lacks the test hooks" % harness.BIN_KEYWARDD)

    def test_refused_without_them(self):
        self.use_keywardd(b"\x7fELF keywardd KEYWARD_TEST_ nothing more")
        with self.assertRaises(AssertionError) as cm:
            harness.require_test_hooks({"KEYWARD_TEST_CRASH": "rekey:work",
                                        "ASAN_OPTIONS": "x"})
        self.assertIn("KEYWARD_TEST_CRASH needs a keywardd built with "
                      "-Dtest_hooks=true", str(cm.exception))
        # Other variables (fault injection, sanitizer options) still go.
        harness.require_test_hooks({"LD_PRELOAD": "x", "ASAN_OPTIONS": "x"})

    def test_given_with_them(self):
        self.use_keywardd(b"\x7fELF ...\0KEYWARD_TEST_CLOCK\0...")
        harness.require_test_hooks({"KEYWARD_TEST_CLOCK": "/tmp/clock"})


class Summary(unittest.TestCase):
    """scripts/test-summary.py on a made-up meson test log."""

    def summary(self, entries, require_all):
        with tempfile.TemporaryDirectory(prefix="kwit-summary-") as d:
            os.makedirs(os.path.join(d, "meson-logs"))
            with open(os.path.join(d, "meson-logs", "testlog.json"),
                      "w") as f:
                for e in entries:
                    f.write(json.dumps(e) + "\n")
            env = dict(os.environ)
            env.pop("KW_REQUIRE_ALL", None)
            if require_all:
                env["KW_REQUIRE_ALL"] = "1"
            r = subprocess.run([sys.executable, SUMMARY, d], env=env,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=60)
        return r.returncode, r.stdout.decode()

    @staticmethod
    def group(result, passed, skipped):
        res = {"groups": ["g"], "passed": passed, "failed": 0,
               "skipped": skipped, "require_all": False,
               "exit": 0 if result == "OK" else 77}
        return {"name": "keyward:integration / integration-g",
                "result": result,
                "stdout": "...\n" + run.RESULT_PREFIX + json.dumps(res)}

    CMOCKA = {"name": "keyward:unit / rotspec", "result": "OK",
              "stdout": "[ RUN      ] test_a\n[       OK ] test_a\n"
                        "[ RUN      ] test_b\n[  SKIPPED ] test_b\n"
                        "[==========] 2 test(s) run.\n"}
    OTHER = {"name": "keyward:unit / exports", "result": "OK",
             "stdout": ""}

    def test_counts_skipped_sub_tests(self):
        plain = {"test": "t.A.test_x", "reason": "needs root",
                 "accepted": None}
        rc, out = self.summary([self.group("OK", 5, [plain]), self.CMOCKA,
                                self.OTHER], False)
        self.assertEqual(rc, 0, out)
        self.assertEqual(out.splitlines()[0], "7 passed, 0 failed, "
                         "2 skipped", out)
        self.assertIn("t.A.test_x: needs root", out)
        self.assertIn("rotspec test_b: cmocka skip()", out)
        rc, out = self.summary([self.group("OK", 5, [plain])], True)
        self.assertEqual(rc, 1, out)
        self.assertIn("KW_REQUIRE_ALL=1: 1 skip(s)", out)

    def test_accepted_skips_and_a_skipped_group(self):
        accepted = {"test": "t.A.test_y", "reason": "big",
                    "accepted": "valgrind-scale"}
        rc, out = self.summary([self.group("OK", 3, [accepted]),
                                self.OTHER], True)
        self.assertEqual(rc, 0, out)
        self.assertEqual(out.splitlines()[0], "4 passed, 0 failed, "
                         "1 skipped", out)
        self.assertIn("t.A.test_y: big (accepted)", out)
        # A group that ran nothing (meson SKIP) counts each skip.
        plain = {"test": "t.B.test_z", "reason": "needs root",
                 "accepted": None}
        rc, out = self.summary([self.group("SKIP", 0, [plain, plain])],
                               False)
        self.assertEqual(rc, 0, out)
        self.assertEqual(out.splitlines()[0], "0 passed, 0 failed, "
                         "2 skipped", out)
        rc, out = self.summary([self.group("SKIP", 0, [plain])], True)
        self.assertEqual(rc, 1, out)
