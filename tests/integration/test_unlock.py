"""Unlocking never stalls the event loop, and failed attempts cost more
each time.

Argon2id runs on the agent's worker thread: while one client's unlock is
being derived, other clients are answered. After a wrong passphrase the
agent holds the answer back and refuses further attempts (rate_limited,
with retry_after_ms) for a delay that doubles with each consecutive
failure. No assertion here depends on how fast the machine is: the tests
observe states (unlocking, busy, rate_limited) and the delays the agent
logs, never elapsed time.
"""

import re
import select
import unittest

from harness import DaemonTestCase, poll_until

PASSPHRASE = "unlock test passphrase 91c2"
WRONG = "unlock test passphrase 91c3"


def readable(rpc):
    """True if a response is already waiting on rpc's socket."""
    if b"\n" in rpc.buf:
        return True
    r, _, _ = select.select([rpc.sock], [], [], 0)
    return bool(r)


class UnlockOffTheLoop(DaemonTestCase):
    # Heavy enough that the derivation visibly takes a while even on a fast
    # machine (hundreds of milliseconds), light enough for CI.
    CONFIG = {"kdf": {"opslimit": 4, "memlimit_kib": 131072}}
    PASSPHRASE = PASSPHRASE

    def test_other_clients_served_during_unlock(self):
        a = self.rpc()
        b = self.rpc()
        req = a.request("agent.unlock", {"passphrase": PASSPHRASE})
        self.assertTrue(a.send_obj(req))
        seen_unlocking = 0
        answered_while_pending = 0
        # Poll the other connection until A's unlock has finished.
        for _ in range(100000):
            st = self.assertRpcResult(b.call("agent.status"))
            if st["unlocking"]:
                seen_unlocking += 1
                if not readable(a):
                    answered_while_pending += 1
            if not st["locked"]:
                break
        self.assertGreater(seen_unlocking, 0,
                           "never saw the unlock in progress")
        self.assertGreater(answered_while_pending, 0,
                           "B was never answered while A's unlock ran")
        resp = a.recv_json()
        self.assertEqual(resp["id"], req["id"])
        self.assertIs(self.assertRpcResult(resp)["locked"], False)

    def test_second_unlock_while_one_runs_is_busy(self):
        a = self.rpc()
        b = self.rpc()
        self.assertTrue(a.send_obj(a.request("agent.unlock",
                                             {"passphrase": PASSPHRASE})))
        self.assertTrue(poll_until(
            lambda: b.call("agent.status")["result"]["unlocking"], 20))
        resp = b.call("agent.unlock", {"passphrase": PASSPHRASE})
        if "error" in resp:
            self.assertRpcError(resp, 1019, "busy")
        else:
            # A finished between the status and this call: then the agent
            # is unlocked and the call is a no-op success.
            self.assertIs(resp["result"]["locked"], False)
        self.assertIs(self.assertRpcResult(a.recv_json())["locked"], False)


class FailedUnlockDelay(DaemonTestCase):
    PASSPHRASE = PASSPHRASE

    def delays_logged(self):
        return [int(m) for m in re.findall(
            r"next attempt allowed in (\d+) ms", self.d.log_text())]

    def test_delay_doubles_per_failure_and_resets(self):
        a = self.rpc()
        for _ in range(3):
            resp = a.call("agent.unlock", {"passphrase": WRONG})
            self.assertRpcError(resp, 1012, "bad_passphrase")
        self.assertEqual(self.delays_logged(), [250, 500, 1000])
        self.assertIs(self.assertRpcResult(a.call("agent.status"))["locked"],
                      True)
        # The right passphrase still works (the delay passed while the
        # third answer was held), and a success resets the count.
        resp = a.call("agent.unlock", {"passphrase": PASSPHRASE})
        self.assertIs(self.assertRpcResult(resp)["locked"], False)
        self.assertIs(self.assertRpcResult(a.call("agent.lock"))["locked"],
                      True)
        resp = a.call("agent.unlock", {"passphrase": WRONG})
        self.assertRpcError(resp, 1012, "bad_passphrase")
        self.assertEqual(self.delays_logged(), [250, 500, 1000, 250])

    def test_attempts_during_the_delay_are_rate_limited(self):
        a = self.rpc()
        b = self.rpc()
        req = a.request("agent.unlock", {"passphrase": WRONG})
        self.assertTrue(a.send_obj(req))
        self.assertTrue(poll_until(
            lambda: b.call("agent.status")["result"]["unlocking"]
            or readable(a) or "allowed in" in self.d.log_text(), 20))
        kinds = []
        retry = []
        # Until A's (held) failure arrives, every other attempt is refused.
        while not readable(a):
            resp = b.call("agent.unlock", {"passphrase": PASSPHRASE})
            if "result" in resp:
                break
            data = resp["error"]["data"]
            kinds.append(data["kind"])
            if data["kind"] == "rate_limited":
                self.assertIsInstance(data.get("retry_after_ms"), int)
                retry.append(data["retry_after_ms"])
            else:
                self.assertEqual(data["kind"], "busy", resp)
        self.assertIn("rate_limited", kinds,
                      "no attempt was refused during the delay")
        self.assertTrue(all(0 < r <= 250 for r in retry), retry)
        self.assertRpcError(a.recv_json(), 1012, "bad_passphrase")
        # Once the delay has passed, the right passphrase unlocks.
        resp = poll_until(lambda: (lambda r: r if "result" in r else None)(
            b.call("agent.unlock", {"passphrase": PASSPHRASE})), 20)
        self.assertTrue(resp, "never unlocked after the delay")
        self.assertIs(resp["result"]["locked"], False)


if __name__ == "__main__":
    unittest.main()
