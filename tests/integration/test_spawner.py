"""The command spawner (docs/rotation.md, "Where commands run"): keywardd
starts `command:` rotators through a process of its own, forked before
any key is loaded.

- kill -9 of the spawner while a command blocks in its set step: the
  command and what it started die, and so does keyward-net; the agent,
  which is confined and can start no process of its own, stops in order
  with exit status 75 (EX_TEMPFAIL), the stop audited with the reason, for
  its service manager to start it again; started again, it runs the step
  again: no version lost, no overlap;
- the spawner dies with the agent.

Reuses test_rotation's slow command (TestLeftRunning)."""

import os
import signal
import unittest

# Not "from test_rotation import TestLeftRunning": the loader would run
# that class here too.
import test_rotation
from harness import poll_until
from test_rotation import DAY, needs_pidfd_open, spawner_of


class TestSpawner(test_rotation.TestLeftRunning):
    CONFIG = {"rotation": {"max_attempts": 3, "retry_seconds": 10}}

    # TestLeftRunning's own tests run in the rotation group.
    test_kill_during_slow_set = None
    test_left_over_killed_at_start = None

    def spawner(self):
        pid = spawner_of(self.d.proc.pid)
        self.assertIsNotNone(pid, "keywardd has no command spawner")
        return pid

    @needs_pidfd_open
    def test_spawner_killed_during_set(self):
        self.put("spawn/a", b"v1")
        self.schedule("spawn/a", DAY, "command:" + self.slow_script())
        first = self.spawner()
        rid = self.call("rotate.start", {"name": "spawn/a"})["rotation_id"]
        cmd, child = self.wait_copies(1)
        os.kill(first, signal.SIGKILL)
        self.assert_ends(cmd, "the command")
        self.assert_ends(child, "the command's child")
        self.assert_group_ends(cmd, "the command's group")
        # The agent cannot start another spawner once confined: it
        # stops in order, for its service manager to start it again.
        self.assertEqual(self.d.wait_exit(), 75, self.d.log_tail())
        log = self.d.log_text()
        self.assertIn("the command spawner (pid %d) died" % first, log)
        self.assertIn("exit status 75", log)

        self.d.start()
        self.r = self.rpc()
        stop = self.call("audit.query", {"op": "agent.stop", "limit": 1})
        self.assertEqual(stop["rows"][0]["reason"],
                         "the command spawner died")
        second = self.spawner()
        self.assertNotEqual(second, first)
        # The step in flight when the agent stopped runs again at start,
        # as after any stop; the old copy is gone, so nothing overlaps.
        self.assertEqual(self.get("spawn/a"), (b"v1", 1))
        self.wait_copies(2)
        self.finish("spawn/a", rid, kills=0)
        self.assertEqual(self.get("spawn/a")[1], 2)

    def test_spawner_dies_with_agent(self):
        pid = self.spawner()
        self.d.kill()
        self.assert_ends(pid, "the command spawner")


if __name__ == "__main__":
    unittest.main()
