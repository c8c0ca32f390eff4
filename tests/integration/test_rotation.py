"""Scheduled rotation end to end (docs/rotation.md), against the real
daemon with its rotation clock moved by the test (KEYWARD_TEST_CLOCK), so
no test waits for a schedule.

- schedules fire at the right time, inside their window and jitter; after
  downtime an overdue schedule runs once; 10,000 schedules list in pages
  and due work is found through an index;
- every run goes create -> set -> test -> finish, one audit row per step,
  the overlap keeps the old version at `previous` until it ends;
- a kill -9 inside and right after each step (KEYWARD_TEST_CRASH, and a
  command rotator that blocks) resumes the run exactly once, with the value
  readable throughout and no version lost;
- a command rotator, and what it started, dies with a kill -9 of the agent
  (or, if it got out of reach of that, at the restart) and never runs
  alongside the copy the restart starts;
- a failing command retries with backoff and then fails, leaving `current`
  alone; the command gets its input on stdin only;
- watchers get `secret.rotated` right after finish.

The webhook rotator has its own group (test_webhook.py)."""

import base64
import json
import os
import re
import select
import shutil
import signal
import sqlite3
import stat
import subprocess
import time
import unittest

import harness
from harness import DaemonTestCase, b64, poll_until

# 2026-01-01T12:00:00Z
T0 = 1767268800
DAY = 86400


def utc(s):
    """RFC 3339 UTC (seconds) -> unix seconds."""
    return int(time.mktime(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))
               - time.timezone)


# Skips runs of a command rotator under a valgrind without pidfd_open.
needs_pidfd_open = unittest.skipIf(
    harness.valgrind_lacks_pidfd_open(), harness.accepted_skip(
        "valgrind-no-pidfd_open", "valgrind here answers ENOSYS to "
        "pidfd_open, which keywardd needs to watch a rotation command"))


class RotationCase(DaemonTestCase):
    """A daemon on a test clock; the clock file lives outside the home."""

    START = False
    CRASH = None  # KEYWARD_TEST_CRASH for the first start

    def setUp(self):
        super().setUp()
        self.clock = os.path.join(self.h.work, "clock")
        self.set_clock(T0)
        self.d.extra_env["KEYWARD_TEST_CLOCK"] = self.clock
        self.d.start()
        self.r = self.rpc()

    def set_clock(self, t):
        tmp = self.clock + ".new"
        with open(tmp, "w") as f:
            f.write("%d\n" % t)
        os.replace(tmp, self.clock)
        self.now = t

    def call(self, method, params=None):
        resp = self.r.call(method, params or {})
        self.assertIn("result", resp, "%s failed: %r" % (method, resp))
        return resp["result"]

    def put(self, name, value):
        return self.call("secret.put", {"name": name, "value": b64(value)})

    def get(self, name, **kw):
        res = self.call("secret.get", dict(name=name, **kw))
        return base64.b64decode(res["value"]), res["version"]

    def versions(self, name):
        res = self.call("secret.versions", {"name": name})
        return {v["version"]: v["stage"] for v in res["versions"]}

    def schedule(self, name, every, rotator, **kw):
        params = dict(name=name, every=every, rotator=rotator)
        params.update(kw)
        return self.call("schedule.set", params)

    def status(self, name):
        return self.call("rotate.status", {"name": name})

    def wait_checked(self):
        """Wait until a tick that began after this call has looked for due
        rotation work at the test clock's time (agent.status counts them):
        whatever that look starts or retires is then committed, so the
        test may assert that nothing was. A sleep instead could pass on a
        slow machine where no tick ran at all."""
        st = self.call("agent.status")
        first = st["rotation_checks"]

        def looked():
            st = self.call("agent.status")
            return st["rotation_checks"] > first and \
                st["rotation_checked_at"] >= self.now
        self.assertTrue(poll_until(looked, 10 * harness.SLOW),
                        "the agent never looked for due rotation work at "
                        "%d: %r" % (self.now, self.call("agent.status")))

    def wait_run(self, name, rid=None, step=("done",), deadline=10):
        """Poll rotate.status until run rid (or the latest) reaches one of
        step; return that run."""
        found = {}

        def check():
            st = self.status(name)
            runs = ([st["rotation"]] if st["rotation"] else []) + \
                st["history"]
            for run in runs:
                if (rid is None or run["id"] == rid) and \
                        run["step"] in step:
                    found["run"] = run
                    return True
            return False
        self.assertTrue(poll_until(check, deadline),
                        "run %s of %s never reached %s: %r"
                        % (rid, name, step, self.status(name)))
        return found["run"]

    def audit_rows(self, name, op_prefix="rotate."):
        rows, cursor = [], None
        while True:
            params = {"name": name, "limit": 1000, "order": "oldest"}
            if cursor:
                params["cursor"] = cursor
            res = self.call("audit.query", params)
            rows += [r for r in res["rows"] if r["op"].startswith(op_prefix)]
            cursor = res["cursor"]
            if not cursor:
                return rows

    def steps_of(self, rows, rid):
        return [r["op"] for r in rows if rid in (r["reason"] or "")]

    def write_script(self, name, body):
        path = os.path.join(os.path.realpath(self.h.work), name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body)
        os.chmod(path, 0o700)
        return path


class TestRunSteps(RotationCase):

    def test_manual_run_steps_overlap_and_retire(self):
        self.put("app/key", b"first")
        sc = self.schedule("app/key", 30 * DAY, "random:32:hex",
                           overlap=3600)
        self.assertEqual(sc["rotator"], "random:32:hex")
        self.assertEqual(sc["overlap"], 3600)
        started = self.call("rotate.start", {"name": "app/key"})
        self.assertTrue(started["started"])
        rid = started["rotation_id"]
        self.assertRegex(rid, r"^[0-9a-f]{32}$")
        run = self.wait_run("app/key", rid)
        self.assertEqual(run["trigger"], "manual")
        self.assertEqual(run["previous_version"], 1)
        self.assertEqual(run["new_version"], 2)

        value, ver = self.get("app/key")
        self.assertEqual(ver, 2)
        self.assertRegex(value.decode(), r"^[0-9a-f]{64}$")
        old, _ = self.get("app/key", stage="previous")
        self.assertEqual(old, b"first")
        self.assertEqual(self.versions("app/key"),
                         {1: "previous", 2: "current"})
        rows = self.audit_rows("app/key")
        self.assertEqual(self.steps_of(rows, rid),
                         ["rotate.begin", "rotate.create", "rotate.set",
                          "rotate.test", "rotate.finish"])
        self.assertTrue(all(r["outcome"] == "ok" for r in rows))
        sched = self.status("app/key")["schedule"]
        self.assertEqual(sched["last_outcome"], "ok")

        # The overlap ends: previous is retired, with its own row.
        self.set_clock(T0 + 3599)
        self.wait_checked()
        self.assertEqual(self.versions("app/key")[1], "previous")
        self.set_clock(T0 + 3601)
        self.assertTrue(poll_until(
            lambda: self.versions("app/key")[1] == "retired", 5))
        retire = [r for r in self.audit_rows("app/key")
                  if r["op"] == "rotate.retire"]
        self.assertEqual([(r["version"], r["outcome"]) for r in retire],
                         [(1, "ok")])

    def test_second_start_joins_the_active_run(self):
        script = self.write_script("slow", "sleep 2\n")
        self.schedule("app/slow", DAY, "command:" + script)
        first = self.call("rotate.start", {"name": "app/slow"})
        again = self.call("rotate.start", {"name": "app/slow"})
        self.assertTrue(first["started"])
        self.assertFalse(again["started"])
        self.assertEqual(again["rotation_id"], first["rotation_id"])

    def test_new_secret_is_created_by_its_first_rotation(self):
        self.schedule("fresh/one", DAY, "random:16:base64url", overlap=0)
        rid = self.call("rotate.start", {"name": "fresh/one"})["rotation_id"]
        run = self.wait_run("fresh/one", rid)
        self.assertEqual(run["previous_version"], 0)
        value, ver = self.get("fresh/one")
        self.assertEqual(ver, 1)
        self.assertRegex(value.decode(), r"^[A-Za-z0-9_-]{22}$")

    def test_apikey_format(self):
        self.schedule("svc/api", DAY, "random:32:apikey")
        rid = self.call("rotate.start", {"name": "svc/api"})["rotation_id"]
        self.wait_run("svc/api", rid)
        value, _ = self.get("svc/api")
        self.assertRegex(value.decode(), r"^kwk_[0-9A-Za-z]{43,}$")

    @needs_pidfd_open
    def test_put_during_run_is_not_overwritten(self):
        self.put("app/race", b"v1")
        log = os.path.join(self.h.work, "steps")
        script = self.write_script(
            "slow", "python3 -c 'import json,sys; "
            "print(json.load(sys.stdin)[\"step\"])' >> %s\n"
            "sleep 1\n" % log)
        self.schedule("app/race", DAY, "command:" + script)
        rid = self.call("rotate.start", {"name": "app/race"})["rotation_id"]
        self.assertTrue(poll_until(lambda: os.path.exists(log), 10))
        self.put("app/race", b"operator")
        run = self.wait_run("app/race", rid, step=("failed",))
        self.assertIn("written during the rotation", run["error"])
        self.assertIn("test:", run["error"])
        value, _ = self.get("app/race")
        self.assertEqual(value, b"operator")
        # Nothing was pushed after the write: test never reached upstream.
        with open(log) as f:
            self.assertEqual(f.read().split(), ["set"])

    def test_delete_ends_schedule_and_run(self):
        self.put("gone/key", b"v1")
        self.schedule("gone/key", DAY, "random:8")
        self.call("secret.delete", {"name": "gone/key"})
        self.assertIsNone(self.status("gone/key")["schedule"])
        self.set_clock(T0 + 2 * DAY)
        self.wait_checked()
        self.assertEqual(self.status("gone/key")["history"], [])
        resp = self.r.call("secret.get", {"name": "gone/key"})
        self.assertEqual(resp["error"]["data"]["kind"], "not_found")
        # A run in progress ends too, and does not bring it back.
        gate = os.path.join(self.h.work, "gate")
        script = self.write_script(
            "block", "while [ ! -e %s ]; do sleep 0.05; done\n" % gate)
        self.put("gone/two", b"v1")
        self.schedule("gone/two", DAY, "command:" + script)
        rid = self.call("rotate.start", {"name": "gone/two"})["rotation_id"]
        self.wait_run("gone/two", rid, step=("set",))
        self.call("secret.delete", {"name": "gone/two"})
        open(gate, "w").close()
        run = self.wait_run("gone/two", rid, step=("failed",))
        self.assertIn("deleted", run["error"])
        self.wait_checked()
        resp = self.r.call("secret.get", {"name": "gone/two"})
        self.assertEqual(resp["error"]["data"]["kind"], "not_found")

    def test_status_hides_rotator_target_from_non_admins(self):
        self.put("hooks/key", b"k" * 16)
        self.schedule("svc/hidden", DAY,
                      "webhook:https://hooks.example.com/r?token=upstream",
                      hmac_secret="hooks/key")
        exe = self.copy_client("lister")
        self.h.write_policy("40-lister.ini",
                            "[client \"lister\"]\nexe = %s\nlist = svc/**\n"
                            % exe)
        self.call("policy.reload")
        r = self.as_client(exe, "call", "rotate.status",
                           json.dumps({"name": "svc/hidden"}))
        self.assertEqual(r.rc, 0, r)
        sched = json.loads(r.text)["schedule"]
        self.assertEqual(sched["rotator"], "webhook")
        self.assertIsNone(sched["hmac_secret"])
        self.assertNotIn("upstream", r.text)
        full = self.status("svc/hidden")["schedule"]
        self.assertIn("token=upstream", full["rotator"])

    def test_schedule_validation(self):
        def err(params, field):
            resp = self.r.call("schedule.set", params)
            self.assertIn("error", resp, resp)
            self.assertEqual(resp["error"]["data"].get("field"), field,
                             resp)
        base = {"name": "x/y", "every": DAY, "rotator": "random:32"}
        err(dict(base, every=59), "every")
        err(dict(base, rotator="random:0"), "rotator")
        err(dict(base, rotator="shell:rm -rf /"), "rotator")
        err(dict(base, rotator="command:relative/path"), "rotator")
        err(dict(base, rotator="command:/nonexistent/rot"), "rotator")
        err(dict(base, window="25:00-01:00"), "window")
        err(dict(base, jitter=DAY + 1), "jitter")
        err(dict(base, generate="random:8"), "generate")
        err(dict(base, rotator="webhook:https://example.com/h"),
            "hmac_secret")
        err(dict(base, rotator="webhook:http://127.0.0.1:9/h",
                 hmac_secret="k/h"), "rotator")
        err(dict(base, allow_private=True), "allow_private")
        # A group-writable command is refused: anyone in the group could
        # make the agent run their code.
        script = self.write_script("loose", "exit 0\n")
        os.chmod(script, 0o770)
        err(dict(base, rotator="command:" + script), "rotator")
        os.chmod(script, 0o4700)
        err(dict(base, rotator="command:" + script), "rotator")
        resp = self.r.call("rotate.start", {"name": "no/schedule"})
        self.assertEqual(resp["error"]["data"]["kind"], "not_found")

    def test_delete_schedule(self):
        self.schedule("gone/soon", DAY, "random:8")
        self.assertEqual(self.call("schedule.delete", {"name": "gone/soon"}),
                         {"deleted": True})
        resp = self.r.call("schedule.delete", {"name": "gone/soon"})
        self.assertEqual(resp["error"]["data"]["kind"], "not_found")
        self.assertIsNone(self.status("gone/soon")["schedule"])



@needs_pidfd_open
class TestBusyCommands(RotationCase):
    """Forty command rotators wait on a gate while other work goes on. On a
    loaded 2-core machine (CI runs two groups at once, one of them under a
    sanitizer) starting them all and a random: run can take longer than
    the default 30 s command timeout, and a timed-out step retries on the
    test clock, which this test does not move: the commands get longer."""
    CONFIG = {"rotation": {"command_timeout_seconds": 600}}

    def test_busy_outside_steps_do_not_starve_others(self):
        gate = os.path.join(self.h.work, "gate")
        script = self.write_script(
            "block", "while [ ! -e %s ]; do sleep 0.1; done\n" % gate)
        names = ["busy/n%02d" % i for i in range(40)]
        for n in names:
            self.schedule(n, DAY, "command:" + script)
            self.call("rotate.start", {"name": n})
        self.assertTrue(poll_until(
            lambda: self.status(names[-1])["rotation"]["step"] == "set",
            60))
        # 40 runs wait on their command; a random: run still goes through.
        self.schedule("busy/free", DAY, "random:8")
        rid = self.call("rotate.start", {"name": "busy/free"})["rotation_id"]
        self.wait_run("busy/free", rid, deadline=60)
        open(gate, "w").close()
        for n in names:
            self.wait_run(n, deadline=60)


class TestClock(RotationCase):

    def test_thirty_day_schedule_fires_in_window_and_jitter(self):
        self.put("db/pass", b"v1")
        sc = self.schedule("db/pass", 30 * DAY, "random:24:base64url",
                           window="02:00-04:00", jitter=3600)
        nxt = utc(sc["next_run"])
        # T0 + 30 d is 12:00 on Jan 31; the window next opens on Feb 1.
        window_open = utc("2026-02-01T02:00:00Z")
        self.assertGreaterEqual(nxt, window_open)
        self.assertLessEqual(nxt, window_open + 3600)

        self.set_clock(nxt - 1)
        self.wait_checked()  # nothing may fire yet
        self.assertIsNone(self.status("db/pass")["rotation"])
        self.assertEqual(self.status("db/pass")["history"], [])
        self.assertEqual(self.get("db/pass")[1], 1)

        self.set_clock(nxt)
        run = self.wait_run("db/pass")
        self.assertEqual(run["trigger"], "schedule")
        self.assertEqual(self.get("db/pass")[1], 2)
        sched = self.status("db/pass")["schedule"]
        self.assertEqual(utc(sched["last_run"]), nxt)
        after = utc(sched["next_run"])
        # From the run's start + 30 d (inside the window already), plus
        # up to an hour of jitter, but never past 04:00.
        lo = nxt + 30 * DAY
        self.assertGreaterEqual(after, lo)
        self.assertLess(after, utc("2026-03-03T04:00:00Z"))
        self.assertLessEqual(after, lo + 3600)
        hour = (after % DAY) // 3600
        self.assertIn(hour, (2, 3))

    def test_overdue_after_downtime_runs_once(self):
        self.put("ci/token", b"v1")
        sc = self.schedule("ci/token", DAY, "random:16:hex")
        nxt = utc(sc["next_run"])
        self.assertEqual(nxt, T0 + DAY)
        self.d.stop()
        self.set_clock(T0 + 10 * DAY + 5)  # ten periods missed
        self.d.start()
        self.r = self.rpc()
        self.wait_run("ci/token")
        self.wait_checked()
        st = self.status("ci/token")
        self.assertEqual(len(st["history"]), 1, st)
        self.assertIsNone(st["rotation"])
        self.assertEqual(self.get("ci/token")[1], 2)
        self.assertEqual(utc(st["schedule"]["next_run"]),
                         T0 + 11 * DAY + 5)

    def test_overdue_is_spread_by_jitter_and_window(self):
        self.schedule("w/one", DAY, "random:8", window="02:00-03:00",
                      jitter=1800)
        self.d.stop()
        # Jan 5 12:00: missed; the next window is Jan 6 02:00.
        self.set_clock(T0 + 4 * DAY)
        self.d.start()
        self.r = self.rpc()
        win = utc("2026-01-06T02:00:00Z")
        self.assertTrue(poll_until(
            lambda: utc(self.status("w/one")["schedule"]["next_run"]) >=
            win, 5))
        nxt = utc(self.status("w/one")["schedule"]["next_run"])
        self.assertLessEqual(nxt, win + 1800)
        self.assertEqual(self.status("w/one")["history"], [])
        self.set_clock(nxt)
        self.wait_run("w/one")

    @unittest.skipIf(harness.VALGRIND, harness.accepted_skip(
        "valgrind-scale", "10,000 rotations would dominate the valgrind "
        "run; other TestClock tests run the same paths under memcheck"))
    def test_ten_thousand_schedules(self):
        n = 10000
        sock = harness.Rpc(self.h.socket)
        self.addCleanup(sock.close)
        inflight, sent, done = 0, 0, 0
        while done < n:
            while sent < n and inflight < 200:
                sock.send_obj(sock.request(
                    "schedule.set",
                    {"name": "bulk/s%05d" % sent, "every": 7 * DAY,
                     "rotator": "random:16"}, id=sent))
                sent += 1
                inflight += 1
            resp = sock.recv_json()
            self.assertIn("result", resp, resp)
            inflight -= 1
            done += 1
        # self.r sat idle through the load; the bulk connection is warm.
        self.r = sock
        names, after = [], None
        while True:
            params = {"prefix": "bulk/"}
            if after:
                params["after"] = after
            res = self.call("schedule.list", params)
            names += [s["name"] for s in res["schedules"]]
            after = res["next"]
            if not after:
                break
        self.assertEqual(len(names), n)
        self.assertEqual(names, sorted(names))
        self.assertEqual(len(set(names)), n)
        # Due work is an index lookup, never a scan of the table.
        plan = subprocess.run(
            ["sqlite3", self.h.db,
             "EXPLAIN QUERY PLAN SELECT name FROM schedules"
             " WHERE next_run <= 5 ORDER BY next_run LIMIT 32;"],
            capture_output=True, text=True, timeout=30)
        self.assertIn("USING INDEX schedules_next_run", plan.stdout,
                      plan.stdout + plan.stderr)
        self.assertNotIn("SCAN schedules", plan.stdout)
        # They all fire a week later, in bounded slices.
        self.set_clock(T0 + 7 * DAY)
        self.assertTrue(poll_until(
            lambda: self.status("bulk/s09999")["history"] and
            self.status("bulk/s00000")["history"], 120),
            "10,000 due schedules did not all run")


@needs_pidfd_open
class TestCommand(RotationCase):
    CONFIG = {"rotation": {"max_attempts": 3, "retry_seconds": 10}}

    def test_command_gets_stdin_only_and_value_promotes(self):
        log = os.path.join(self.h.work, "calls")
        script = self.write_script(
            "push", 'cat >> %s\necho >> %s\nenv > %s.env\n'
            'echo "$@" > %s.argv\nexit 0\n' % (log, log, log, log))
        self.put("svc/pw", b"old-value")
        self.schedule("svc/pw", DAY, "command:" + script,
                      generate="random:20:hex")
        rid = self.call("rotate.start", {"name": "svc/pw"})["rotation_id"]
        run = self.wait_run("svc/pw", rid)
        value, ver = self.get("svc/pw")
        self.assertEqual(ver, 2)
        self.assertRegex(value.decode(), r"^[0-9a-f]{40}$")
        with open(log) as f:
            calls = [json.loads(line) for line in f if line.strip()]
        self.assertEqual([c["step"] for c in calls], ["set", "test"])
        for c in calls:
            self.assertEqual(c["name"], "svc/pw")
            self.assertEqual(c["rotation_id"], rid)
            self.assertEqual(c["version"], 2)
            self.assertEqual(c["previous_version"], 1)
            self.assertEqual(base64.b64decode(c["value"]), value)
        with open(log + ".env") as f:
            env = f.read()
        self.assertNotIn(value.decode(), env)
        self.assertNotIn("KEYWARD_HOME", env)
        with open(log + ".argv") as f:
            self.assertEqual(f.read().strip(), "")
        self.assertEqual(run["new_version"], 2)

    def test_failing_command_retries_then_fails_current_untouched(self):
        script = self.write_script("fail", "echo boom; exit 3\n")
        self.put("svc/db", b"keep-me")
        self.schedule("svc/db", DAY, "command:" + script)
        rid = self.call("rotate.start", {"name": "svc/db"})["rotation_id"]
        run = self.wait_run("svc/db", rid, step=("set",),
                            deadline=10)
        self.assertTrue(poll_until(
            lambda: self.status("svc/db")["rotation"]["attempts"] == 1, 5))
        run = self.status("svc/db")["rotation"]
        self.assertIn("exit status 3", run["error"])
        self.assertIn("boom", run["error"])
        retry_at = utc(run["next_try"])
        # Backoff: retry_seconds (10) +-25%.
        self.assertGreaterEqual(retry_at - self.now, 7)
        self.assertLessEqual(retry_at - self.now, 13)
        self.assertEqual(self.get("svc/db"), (b"keep-me", 1))

        self.set_clock(retry_at)
        self.assertTrue(poll_until(
            lambda: self.status("svc/db")["rotation"]["attempts"] == 2, 5))
        run = self.status("svc/db")["rotation"]
        # Second backoff doubles: 20 s +-25%.
        self.assertGreaterEqual(utc(run["next_try"]) - self.now, 15)
        self.assertLessEqual(utc(run["next_try"]) - self.now, 25)
        self.set_clock(utc(run["next_try"]))
        run = self.wait_run("svc/db", rid, step=("failed",))
        self.assertEqual(run["attempts"], 3)
        self.assertEqual(self.get("svc/db"), (b"keep-me", 1))
        # The pending version is kept for inspection...
        self.assertEqual(self.versions("svc/db"),
                         {1: "current", 2: "pending"})
        self.assertEqual(self.status("svc/db")["schedule"]["last_outcome"],
                         "failed")
        ops = self.steps_of(self.audit_rows("svc/db"), rid)
        self.assertEqual(ops, ["rotate.begin", "rotate.create",
                               "rotate.retry", "rotate.retry",
                               "rotate.fail"])
        # ...and cleaned by the next run.
        ok = self.write_script("ok", "exit 0\n")
        self.schedule("svc/db", DAY, "command:" + ok)
        rid2 = self.call("rotate.start", {"name": "svc/db"})["rotation_id"]
        self.wait_run("svc/db", rid2)
        self.assertEqual(self.versions("svc/db"),
                         {1: "previous", 3: "current"})

    def test_output_quoting_the_value_is_withheld(self):
        # The value printed near the end of what is kept, so only a piece
        # of it survives the cut: that piece must not be recorded either.
        script = self.write_script(
            "leak", "python3 -c 'import json,sys; "
            "print(\"x\" * 150 + json.load(sys.stdin)[\"value\"])'; "
            "exit 1\n")
        self.schedule("svc/leak", DAY, "command:" + script,
                      generate="random:48:raw")
        self.call("rotate.start", {"name": "svc/leak"})
        self.assertTrue(poll_until(
            lambda: (self.status("svc/leak")["rotation"] or {})
            .get("attempts") == 1, 10))
        run = self.status("svc/leak")["rotation"]
        self.assertIn("withheld", run["error"])
        value, _ = self.get("svc/leak", version=run["pending_version"])
        enc = base64.b64encode(value).decode()
        texts = [self.h.log_text(), json.dumps(self.audit_rows("svc/leak")),
                 json.dumps(self.status("svc/leak"))]
        for text in texts:
            for i in range(len(enc) - 8):
                self.assertNotIn(enc[i:i + 8], text)


class TestCrash(RotationCase):
    """kill -9 inside and right after each step; the run completes once."""

    def crash_run(self, step, when):
        self.put("crash/key", b"v1")
        self.schedule("crash/key", DAY, "random:16:hex")
        # Restart with the hook armed.
        self.d.stop()
        self.d.extra_env["KEYWARD_TEST_CRASH"] = "%s:%s" % (step, when)
        self.d.start()
        self.r = self.rpc()
        resp = self.r.call("rotate.start", {"name": "crash/key"})
        self.d.proc.wait(timeout=10)
        self.assertEqual(self.d.proc.returncode, -signal.SIGKILL,
                         "the hook did not kill the agent at %s:%s"
                         % (step, when))
        del self.d.extra_env["KEYWARD_TEST_CRASH"]
        self.d.start()
        self.r = self.rpc()
        # Readable right after the restart, whatever the run's state.
        value, ver = self.get("crash/key")
        self.assertIn(ver, (1, 2))
        st = self.status("crash/key")
        runs = ([st["rotation"]] if st["rotation"] else []) + st["history"]
        # rotate.start committed before any step ran, so the run exists.
        self.assertEqual(len(runs), 1, st)
        rid = runs[0]["id"]
        if "result" in resp:
            self.assertEqual(resp["result"]["rotation_id"], rid)
        self.wait_run("crash/key", rid)
        self.wait_checked()
        self.assertEqual(self.get("crash/key")[1], 2)
        self.assertEqual(self.versions("crash/key"),
                         {1: "previous", 2: "current"})
        old, _ = self.get("crash/key", stage="previous")
        self.assertEqual(old, b"v1")
        ops = self.steps_of(self.audit_rows("crash/key"), rid)
        self.assertEqual(ops.count("rotate.finish"), 1, ops)
        self.assertEqual(ops.count("rotate.create"), 1, ops)
        self.assertEqual(ops, ["rotate.begin", "rotate.create",
                               "rotate.set", "rotate.test",
                               "rotate.finish"])
        self.assertEqual(len(self.status("crash/key")["history"]), 1)

    def test_crash_inside_create(self):
        self.crash_run("create", "work")

    def test_crash_after_create(self):
        self.crash_run("create", "commit")

    def test_crash_inside_set(self):
        self.crash_run("set", "work")

    def test_crash_after_set(self):
        self.crash_run("set", "commit")

    def test_crash_inside_test(self):
        self.crash_run("test", "work")

    def test_crash_after_test(self):
        self.crash_run("test", "commit")

    def test_crash_inside_finish(self):
        self.crash_run("finish", "work")

    def test_crash_after_finish(self):
        self.crash_run("finish", "commit")

    @needs_pidfd_open
    def test_kill_while_command_blocks(self):
        """A real outside step in progress when the agent dies: the step
        reruns with the same rotation id and version, once more."""
        gate = os.path.join(self.h.work, "gate")
        log = os.path.join(self.h.work, "calls")
        script = self.write_script(
            "block", 'cat >> %s\necho >> %s\n'
            'while [ ! -e %s ]; do sleep 0.05; done\nexit 0\n'
            % (log, log, gate))
        self.put("crash/cmd", b"v1")
        self.schedule("crash/cmd", DAY, "command:" + script)
        rid = self.call("rotate.start", {"name": "crash/cmd"})["rotation_id"]
        # The whole first call, newline included: killed between its cat
        # and its echo, the script would leave the line open, and the
        # rerun's call would land on the same line.
        self.assertTrue(poll_until(lambda: self.whole_line(log), 10))
        self.d.kill()
        self.assertEqual(self.get_after_restart("crash/cmd"), (b"v1", 1))
        open(gate, "w").close()
        self.wait_run("crash/cmd", rid)
        with open(log) as f:
            calls = [json.loads(line) for line in f if line.strip()]
        self.assertEqual([c["step"] for c in calls], ["set", "set", "test"])
        self.assertEqual({c["rotation_id"] for c in calls}, {rid})
        self.assertEqual({c["version"] for c in calls}, {2})
        self.assertEqual(len({c["value"] for c in calls}), 1)
        value, ver = self.get("crash/cmd")
        self.assertEqual(ver, 2)
        self.assertEqual(base64.b64decode(calls[0]["value"]), value)

    @staticmethod
    def whole_line(path):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return False
        return data.endswith(b"\n")

    def get_after_restart(self, name):
        self.d.start()
        self.r = self.rpc()
        return self.get(name)


def spawner_of(agent):
    """The pid of agent's child named keyward-spawn, or None."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as fh:
                text = fh.read()
        except OSError:
            continue
        comm = text[text.index("(") + 1:text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        if comm == "keyward-spawn" and int(fields[1]) == agent and \
                fields[0] != "Z":
            return int(name)
    return None


# Kills the keeper that the spawner puts in the script's process group
# (docs/rotation.md, "When the agent dies"), found by its name: it joins
# the group after the command starts, so look until it is there and then
# until it is dead (at most 20 s), or it would outlive this and end the
# child with the agent.
KILL_KEEPER = """i=0
killed=
while [ $i -lt 400 ]; do
  live=
  for f in /proc/[0-9]*/stat; do
    read -r s 2>/dev/null < "$f" || continue
    set -- $s
    if [ "$5" = $$ ] && [ "$2" = "(keyward-spawn)" ] && [ "$3" != Z ]; then
      kill -9 "$1" 2>/dev/null
      live=1
      killed=1
    fi
  done
  [ -n "$killed" ] && [ -z "$live" ] && break
  i=$((i + 1))
  sleep 0.05
done
"""


@unittest.skipIf(shutil.which("flock") is None,
                 "flock (util-linux) is needed to see two copies overlap")
class TestLeftRunning(RotationCase):
    """kill -9 of the agent during a slow set step of a command that started
    a child: nothing of it outlives the agent, and the step that runs again
    after the restart never overlaps with an old copy. The command holds a
    lock (flock on fd 9, inherited by its child) for as long as any of it
    runs; a copy that cannot take it at once records an overlap."""

    def setUp(self):
        super().setUp()
        w = os.path.realpath(self.h.work)
        self.f = {k: os.path.join(w, k) for k in
                  ("lock", "overlaps", "pids", "children", "gate", "calls")}

    def tearDown(self):
        # Whatever a failed test left running (the groups, then strays).
        for pid in self.lines("pids") + self.lines("children"):
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        super().tearDown()

    def slow_script(self, prelude=""):
        f = dict(self.f, flock=shutil.which("flock"), prelude=prelude)
        return self.write_script("slow", """exec 9>>%(lock)s
if ! %(flock)s -n 9; then echo "$$" >> %(overlaps)s; fi
input=$(cat)
echo "$input" >> %(calls)s
case "$input" in *'"step":"set"'*) ;; *) exit 0 ;; esac
%(prelude)s
sleep 300 &
echo $! >> %(children)s
echo $$ >> %(pids)s
while [ ! -e %(gate)s ]; do sleep 0.05; done
""" % f)

    def lines(self, key):
        try:
            with open(self.f[key]) as fh:
                return [int(x) for x in fh.read().split()]
        except FileNotFoundError:
            return []

    def wait_copies(self, n):
        self.assertTrue(poll_until(
            lambda: len(self.lines("pids")) >= n and
            len(self.lines("children")) >= n, 10),
            "copy %d of the command did not start" % n)
        return self.lines("pids")[n - 1], self.lines("children")[n - 1]

    def assert_ends(self, pid, what, deadline_s=10):
        """pid exits (a zombie counts) within the deadline: waits on a
        pidfd, an event, not a sleep."""
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            return
        try:
            p = select.poll()
            p.register(fd, select.POLLIN)
            self.assertTrue(p.poll(deadline_s * 1000),
                            "%s (pid %d) outlived the agent" % (what, pid))
        finally:
            os.close(fd)

    def group_live(self, pgid):
        """The members of process group pgid that are not zombies."""
        live = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % name) as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                live.append(int(name))
        return live

    def assert_group_ends(self, pgid, what, deadline_s=10):
        """Every member of the group dies: a member killed with the rest
        (the loop's short sleep) may not have run yet on a busy machine,
        and the restart would then find it and report a kill."""
        self.assertTrue(poll_until(lambda: not self.group_live(pgid),
                                   deadline_s),
                        "%s (group %d) outlived the agent: %s"
                        % (what, pgid, self.group_live(pgid)))

    def assert_running(self, pid, what):
        with open("/proc/%d/stat" % pid) as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
        self.assertNotEqual(state, "Z", "%s (pid %d) is gone" % (what, pid))

    def recorded_group(self, rid):
        db = sqlite3.connect("file:%s?mode=ro" % self.h.db, uri=True)
        try:
            row = db.execute("SELECT cmd_pgid FROM rotations WHERE id = ?",
                             (rid,)).fetchone()
        finally:
            db.close()
        return row[0] if row else None

    def finish(self, name, rid, kills):
        self.assertEqual(self.lines("overlaps"), [],
                         "the restarted step overlapped with an old copy")
        open(self.f["gate"], "w").close()
        self.wait_run(name, rid)
        self.assertEqual(self.lines("overlaps"), [],
                         "a step overlapped with an old copy")
        with open(self.f["calls"]) as fh:
            calls = [json.loads(x) for x in fh if x.strip()]
        self.assertEqual([c["step"] for c in calls], ["set", "set", "test"])
        self.assertEqual({c["rotation_id"] for c in calls}, {rid})
        # Ended normally: nothing left for the next start to kill.
        self.assertIsNone(self.recorded_group(rid))
        ops = self.steps_of(self.audit_rows(name), rid)
        self.assertEqual(ops.count("rotate.kill"), kills, ops)

    @needs_pidfd_open
    def test_kill_during_slow_set(self):
        self.put("left/a", b"v1")
        self.schedule("left/a", DAY, "command:" + self.slow_script())
        rid = self.call("rotate.start", {"name": "left/a"})["rotation_id"]
        cmd, child = self.wait_copies(1)
        self.d.kill()
        self.assert_ends(cmd, "the command")
        self.assert_ends(child, "the command's child")
        self.assert_group_ends(cmd, "the command's group")
        self.d.start()
        self.r = self.rpc()
        self.wait_copies(2)
        self.finish("left/a", rid, kills=0)

    @needs_pidfd_open
    def test_left_over_killed_at_start(self):
        """The command kills the keeper, so its child outlives the agent
        (docs/rotation.md says so): the restart kills it before the step
        runs again."""
        self.put("left/b", b"v1")
        self.schedule("left/b", DAY,
                      "command:" + self.slow_script(KILL_KEEPER))
        rid = self.call("rotate.start", {"name": "left/b"})["rotation_id"]
        cmd, child = self.wait_copies(1)
        # The group is on disk before the agent dies.
        self.assertTrue(poll_until(lambda: self.recorded_group(rid) == cmd,
                                   10), "the command's group was not kept")
        # A spawner that reads the agent's end of its socket closing
        # before its parent-death signal lands ends the group on its way
        # out: stopped, it can only die of the signal, as when the agent
        # and the spawner die together (the case this test is about).
        os.kill(spawner_of(self.d.proc.pid), signal.SIGSTOP)
        self.d.kill()
        self.assert_ends(cmd, "the command")
        self.assert_running(child, "the command's child")
        self.d.start()
        self.r = self.rpc()
        self.assert_ends(child, "the command's child")
        self.wait_copies(2)
        self.assertIn("killed process group %d" % cmd, self.d.log_text())
        self.finish("left/b", rid, kills=1)


class TestWatch(RotationCase):

    def test_watcher_hears_within_a_second(self):
        self.put("github/token", b"v1")
        self.put("other/x", b"v1")
        self.schedule("github/token", DAY, "random:16")
        self.schedule("other/x", DAY, "random:16")
        w = harness.Rpc(self.h.socket)
        self.addCleanup(w.close)
        resp = w.call("secret.watch", {"pattern": "github/*"})
        self.assertEqual(resp["result"], {"watching": "github/*"})
        self.call("rotate.start", {"name": "other/x"})
        rid = self.call("rotate.start",
                        {"name": "github/token"})["rotation_id"]
        msg = w.recv_json(timeout=5)
        finished = time.monotonic()
        self.assertEqual(msg["method"], "secret.rotated")
        self.assertEqual(msg["params"], {"name": "github/token",
                                         "version": 2,
                                         "previous_version": 1,
                                         "rotation_id": rid})
        run = self.wait_run("github/token", rid)
        self.assertEqual(run["step"], "done")
        self.assertLess(time.monotonic() - finished, 1.0 * harness.SLOW)
        # Nothing for other/x: once its run is done (and its notice would
        # have been sent), the next message on the watcher's connection is
        # the answer to a request sent now, not a notification.
        self.wait_run("other/x")
        req = w.request("agent.status")
        self.assertTrue(w.send_obj(req))
        msg = w.recv_json()
        self.assertEqual(msg.get("id"), req["id"],
                         "a watcher of github/* got %r" % msg)

    def test_watch_validation(self):
        resp = self.r.call("secret.watch", {"pattern": "../x"})
        self.assertEqual(resp["error"]["data"]["field"], "pattern")
        for i in range(16):
            self.call("secret.watch", {"pattern": "p%d/*" % i})
        resp = self.r.call("secret.watch", {"pattern": "p99/*"})
        self.assertEqual(resp["error"]["data"]["kind"], "limit")


class TestCli(RotationCase):
    """keyward schedule / rotate / watch, as an operator runs them."""
    CONFIG = {"rotation": {"max_attempts": 2, "retry_seconds": 1}}

    def test_schedule_ls_rm(self):
        r = self.cli("schedule", "app/key", "--every", "30d",
                     "--rotator", "random:32:hex", "--window", "02:00-04:00",
                     "--jitter", "1h", "--overlap", "2h")
        self.assertRc(r, 0)
        self.assertRegex(r.text, r"^app/key: scheduled every 30d, window "
                         r"02:00-04:00 UTC, jitter 1h, overlap 2h; next run ")
        sc = self.status("app/key")["schedule"]
        self.assertEqual((sc["every"], sc["jitter"], sc["overlap"],
                          sc["window"]),
                         (30 * DAY, 3600, 7200, "02:00-04:00"))
        r = self.cli("schedule", "ls", "--json")
        self.assertRc(r, 0)
        rows = [json.loads(line) for line in r.text.splitlines()]
        self.assertEqual([s["name"] for s in rows], ["app/key"])
        r = self.cli("schedule", "ls")
        self.assertRc(r, 0)
        self.assertIn("random:32:hex", r.text)
        self.assertRegex(r.text.splitlines()[0], r"^NAME\s+EVERY\s+ROTATOR")
        for bad in (["--every", "30"], ["--every", "30s"],
                    ["--every", "1h", "--jitter", "2h"],
                    ["--every", "1d", "--window", "25:00-01:00"]):
            r = self.cli("schedule", "x/y", "--rotator", "random:8", *bad)
            self.assertRc(r, harness.EXIT_USAGE, " ".join(bad))
        r = self.cli("schedule", "x/y", "--every", "1d", "--rotator",
                     "bogus:1")
        self.assertRc(r, harness.EXIT_ERROR)
        self.assertIn("rotator", r.err)
        self.assertRc(self.cli("schedule", "rm", "app/key"), 0)
        self.assertRc(self.cli("schedule", "rm", "app/key"),
                      harness.EXIT_NOTFOUND)

    def test_rotate_wait_status_and_watch(self):
        self.put("app/key", b"v1")
        self.assertRc(self.cli("schedule", "app/key", "--every", "1d",
                               "--rotator", "random:16:hex"), 0)
        env = dict(self.h.env)
        watcher = harness.spawn(
            [harness.BIN_KEYWARD, "watch", "--count", "1", "app/*"], env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, cwd=self.h.work)
        line = watcher.stderr.readline().decode()
        self.assertIn("watching app/*", line)
        r = self.cli("rotate", "--wait", "app/key")
        self.assertRc(r, 0)
        self.assertRegex(r.text, r"app/key: rotation [0-9a-f]{32} started")
        self.assertIn("version 2 is current", r.text)
        out, _ = watcher.communicate(timeout=10)
        self.assertEqual(watcher.returncode, 0)
        self.assertRegex(out.decode().strip(),
                         r"^\S+Z app/key rotated to version 2$")
        r = self.cli("rotate", "--status", "app/key")
        self.assertRc(r, 0)
        self.assertIn("history (newest first):", r.text)
        self.assertIn("v1 -> v2", r.text)
        self.assertRc(self.cli("rotate", "no/schedule"),
                      harness.EXIT_NOTFOUND)

    @needs_pidfd_open
    def test_rotate_wait_reports_failure(self):
        script = self.write_script("fail", "echo nope; exit 3\n")
        self.assertRc(self.cli("schedule", "svc/x", "--every", "1d",
                               "--rotator", "command:" + script), 0)
        proc = harness.spawn(
            [harness.BIN_KEYWARD, "rotate", "--wait", "svc/x"], self.h.env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, cwd=self.h.work)
        self.assertTrue(poll_until(
            lambda: (self.status("svc/x")["rotation"] or {})
            .get("attempts") == 1, 10))
        self.set_clock(T0 + 60)  # past the backoff
        out, err = proc.communicate(timeout=20)
        self.assertEqual(proc.returncode, harness.EXIT_ERROR, err)
        self.assertIn("failed after 2 attempts", out.decode() + err.decode())
        self.assertIn("exit status 3: nope", out.decode() + err.decode())
