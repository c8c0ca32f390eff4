"""Hostile input while a well-behaved client keeps working.

Each test starts `kwclient hammer` first: one libkeyward connection that
keeps fetching a secret and comparing it with the expected bytes. Then the
test attacks the daemon (garbage, malformed JSON, bad requests, oversized
and unfinished frames, a flood of connections). Afterwards the hammer must
have completed every get with the right value, the daemon must still be
running, and a fresh client must be served.
"""

import errno
import json
import os
import random
import select
import subprocess
import time
import unittest

from harness import (BIN_KWCLIENT, Closed, DaemonTestCase, Rpc, b64,
                     nonblocking_connect, poll_until, raise_nofile, spawn)

HAMMER_COUNT = 200
MAX_FRAME = 262144


class Hammer:
    """kwclient hammer running on its own connection until finish()."""

    def __init__(self, tc, name, value, count=HAMMER_COUNT):
        self.tc = tc
        self.count = count
        path = os.path.join(tc.h.work, "hammer-expected")
        with open(path, "wb") as f:
            f.write(value)
        self.proc = spawn([BIN_KWCLIENT, "hammer", name, path, str(count)],
                          tc.h.env, stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          cwd=tc.h.work)
        ready, _, _ = select.select([self.proc.stdout], [], [], 60)
        line = self.proc.stdout.readline() if ready else b""
        if line != b"ready\n":
            self.proc.kill()
            _, err = self.proc.communicate()
            tc.fail("hammer did not get ready: %r %r" % (line, err))

    def finish(self):
        """Stop after at least count gets; assert every one succeeded."""
        try:
            # communicate() closes stdin: the hammer's signal to stop.
            out, err = self.proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            self.tc.fail("hammer hung; stderr %r" % err)
        self.tc.assertEqual(
            self.proc.returncode, 0,
            "the well-behaved client failed during the attack: rc=%s "
            "stdout=%r stderr=%r\nlog:\n%s" % (
                self.proc.returncode, out, err, self.tc.h.log_tail(20)))
        words = out.decode().split()
        self.tc.assertEqual(words[:1], ["ok"], out)
        self.tc.assertGreaterEqual(int(words[1]), self.count, out)


class HostileBase(DaemonTestCase):

    def setUp(self):
        super().setUp()
        self.value = os.urandom(64)
        self.put_cli("hammer/x", self.value)
        self.hammer = Hammer(self, "hammer/x", self.value)

    def after_attack(self):
        """The hammer finished cleanly, the daemon lives, and a fresh
        client (CLI and raw) is served."""
        self.hammer.finish()
        self.assertTrue(self.d.alive(), "keywardd died; log:\n%s"
                        % self.h.log_tail())

        def fresh_ok():
            try:
                with Rpc(self.h.socket) as rpc:
                    resp = rpc.call("secret.get", {"name": "hammer/x"},
                                    timeout=10)
            except Exception:
                return False
            return resp.get("result", {}).get("value") == b64(self.value)
        self.assertTrue(poll_until(fresh_ok, 30),
                        "a fresh client is not served after the attack; "
                        "log:\n%s" % self.h.log_tail())
        self.assertEqual(self.get_cli("hammer/x"), self.value)
        self.assertEqual(self.d.stop(), 0, self.h.log_tail())

    def read_errors_until(self, rpc, want_id):
        """Read until the response with want_id or EOF. Returns (errors
        before it, that response or None)."""
        errors = []
        while True:
            try:
                msg = rpc.recv_json(timeout=30)
            except Closed:
                return errors, None
            if msg.get("id") == want_id and "result" in msg:
                return errors, msg
            errors.append(msg)


class Garbage(HostileBase):

    def test_random_garbage_lines(self):
        seed = int.from_bytes(os.urandom(4), "big")
        rng = random.Random(seed)
        for round_no in range(5):
            lines = []
            for _ in range(rng.randint(5, 40)):
                n = rng.randint(1, 2000)
                line = bytes(rng.getrandbits(8) for _ in range(n))
                lines.append(line.replace(b"\n", b"\x00"))
            blob = b"\n".join(lines) + b"\n"
            rpc = Rpc(self.h.socket)
            try:
                rpc.send(blob)
                rpc.send_obj({"jsonrpc": "2.0", "id": "after",
                              "method": "agent.status"})
                errors, final = self.read_errors_until(rpc, "after")
            finally:
                rpc.close()
            for msg in errors:
                self.assertIn("error", msg, "seed %d: %r" % (seed, msg))
                self.assertIn(msg["error"]["code"], (-32700, -32600),
                              "seed %d: %r" % (seed, msg))
                self.assertIsNone(msg.get("id"), "seed %d" % seed)
            self.assertLessEqual(len(errors), len(lines),
                                 "more answers than lines (seed %d)" % seed)
            if final is not None:
                self.assertEqual(len(errors), len(lines),
                                 "seed %d: a garbage line went unanswered "
                                 "although the connection stayed open"
                                 % seed)
            self.assertTrue(self.d.alive(), "seed %d" % seed)
        self.after_attack()

    def test_binary_without_newline_then_close(self):
        for _ in range(20):
            with Rpc(self.h.socket) as rpc:
                rpc.send(os.urandom(4096).replace(b"\n", b" "))
        self.after_attack()


class InvalidJson(HostileBase):

    BAD = [
        b'{"jsonrpc":"2.0","id":1,"method":',
        b'{"jsonrpc":"2.0","id":1,"method":"agent.status"',
        b'{"jsonrpc":"2.0","id":1,"method":"agent.status"} trailing',
        b'{"jsonrpc":"2.0","id":1,"method":"agent.status",}',
        b"\xff\xfe\xfd",
        b'{"jsonrpc":"2.0","id":1,"method":"agent.\xc3\x28"}',
        b"{'jsonrpc':'2.0'}",
        b"nul\x00inside",
        b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    ]

    def test_parse_errors_keep_connection(self):
        rpc = self.rpc()
        for i, bad in enumerate(self.BAD):
            with self.subTest(line=bad[:40]):
                self.assertTrue(rpc.send(bad + b"\n"))
                msg = rpc.recv_json()
                self.assertRpcError(msg, -32700, "parse_error")
                self.assertIsNone(msg["id"], msg)
                resp = rpc.call("agent.status", id=100 + i)
                self.assertRpcResult(resp)
        self.after_attack()

    def test_deep_nesting(self):
        rpc = self.rpc()
        deep = b"[" * 100000 + b"]" * 100000
        self.assertTrue(rpc.send(deep + b"\n"))
        msg = rpc.recv_json()
        self.assertIn("error", msg)
        self.assertIn(msg["error"]["code"], (-32700, -32600), msg)
        self.assertRpcResult(rpc.call("agent.status"))
        self.after_attack()


class BadRequests(HostileBase):

    NOT_REQUESTS = [
        b"[]",
        b'[{"jsonrpc":"2.0","id":1,"method":"agent.status"}]',
        b'{"x":1}',
        b"{}",
        b'{"jsonrpc":"1.0","id":1,"method":"agent.status"}',
        b'{"jsonrpc":2.0,"id":1,"method":"agent.status"}',
        b'{"id":1,"method":"agent.status"}',
        b'{"jsonrpc":"2.0","id":1,"method":5}',
        b'{"jsonrpc":"2.0","id":1}',
        b'{"jsonrpc":"2.0","id":{"a":1},"method":"agent.status"}',
        b'{"jsonrpc":"2.0","id":[1],"method":"agent.status"}',
        b'{"jsonrpc":"2.0","id":1.5,"method":"agent.status"}',
        b'{"jsonrpc":"2.0","id":true,"method":"agent.status"}',
    ]

    # (method, params, field the message must name)
    BAD_PARAMS = [
        ("secret.get", {}, "name"),
        ("secret.get", {"name": 5}, "name"),
        ("secret.get", {"name": None}, "name"),
        ("secret.get", {"name": ["a"]}, "name"),
        ("secret.get", {"name": "a", "bogus": 1}, "bogus"),
        ("secret.get", {"name": "a", "version": 0}, "version"),
        ("secret.get", {"name": "a", "version": -1}, "version"),
        ("secret.get", {"name": "a", "version": "1"}, "version"),
        ("secret.get", {"name": "a", "version": 1.5}, "version"),
        ("secret.get", {"name": "a", "stage": "bogus"}, "stage"),
        ("secret.get", {"name": "a", "stage": 1}, "stage"),
        ("secret.get", {"name": "a", "version": 1, "stage": "current"},
         None),
        ("secret.put", {"name": "a"}, None),
        ("secret.put", {"value": "YQ=="}, "name"),
        ("secret.put", {"name": "a", "value": "YQ==", "generate": 4}, None),
        ("secret.put", {"name": "a", "value": 5}, "value"),
        ("secret.put", {"name": "a", "value": "YQ="}, "value"),
        ("secret.put", {"name": "a", "value": "Y Q=="}, "value"),
        ("secret.put", {"name": "a", "value": "YQ==\n"}, "value"),
        ("secret.put", {"name": "a", "value": "-_8="}, "value"),
        ("secret.put", {"name": "a", "generate": 0}, "generate"),
        ("secret.put", {"name": "a", "generate": -4}, "generate"),
        ("secret.put", {"name": "a", "generate": "32"}, "generate"),
        ("secret.put", {"name": "a", "generate": 32, "Name": "b"}, "Name"),
        ("secret.list", {"prefix": 5}, "prefix"),
        ("secret.list", {"bogus": 1}, "bogus"),
        ("secret.versions", {}, "name"),
        ("secret.versions", {"name": "a", "version": 1}, "version"),
        ("secret.delete", {"name": "a", "force": True}, "force"),
        ("agent.status", {"verbose": 1}, "verbose"),
    ]

    def test_not_requests(self):
        rpc = self.rpc()
        for i, line in enumerate(self.NOT_REQUESTS):
            with self.subTest(line=line):
                self.assertTrue(rpc.send(line + b"\n"))
                msg = rpc.recv_json()
                self.assertRpcError(msg, -32600, "invalid_request")
                self.assertRpcResult(rpc.call("agent.status", id=1000 + i))
        self.after_attack()

    def test_scalar_json_is_invalid_request(self):
        # RFC 8259 JSON texts that are not objects (a parser needs
        # JSON_DECODE_ANY to see them as JSON): protocol.md says valid JSON
        # that is not a request object gives invalid_request.
        rpc = self.rpc()
        for i, line in enumerate((b'"a string"', b"42", b"null", b"true")):
            with self.subTest(line=line):
                self.assertTrue(rpc.send(line + b"\n"))
                msg = rpc.recv_json()
                self.assertRpcError(msg, -32600, "invalid_request")
                self.assertRpcResult(rpc.call("agent.status", id=1000 + i))
        self.after_attack()

    def test_unknown_method(self):
        rpc = self.rpc()
        for i, method in enumerate(("secret.frobnicate", "agent", "Agent.status",
                                    "secret.get.extra", "x" * 1000)):
            with self.subTest(method=method[:30]):
                resp = rpc.call(method, {}, id=i)
                self.assertRpcError(resp, -32601, "method_not_found")
                self.assertEqual(resp["id"], i)
        self.after_attack()

    def test_bad_params(self):
        rpc = self.rpc()
        for i, (method, params, field) in enumerate(self.BAD_PARAMS):
            with self.subTest(method=method, params=params):
                resp = rpc.call(method, params, id=i)
                self.assertRpcError(resp, -32602, "invalid_params",
                                    field=field)
        for i, params in enumerate((5, "x", [1], True)):
            with self.subTest(params=params):
                resp = rpc.call("secret.get", params, id=500 + i)
                self.assertIn("error", resp, resp)
                self.assertIn(resp["error"]["code"], (-32602, -32600), resp)
        # Nothing was stored by any of them, and the connection still works.
        res = self.assertRpcResult(rpc.call("secret.list"))
        self.assertEqual([s["name"] for s in res["secrets"]], ["hammer/x"])
        self.after_attack()

    def test_generate_over_limit(self):
        rpc = self.rpc()
        resp = rpc.call("secret.put", {"name": "g", "generate": 65537})
        self.assertIn("error", resp, resp)
        self.assertIn(resp["error"]["code"], (-32602, 1008), resp)
        self.assertRpcError(rpc.call("secret.get", {"name": "g"}), 1004,
                            "not_found")
        self.after_attack()


class Frames(HostileBase):
    CONFIG = {"agent": {"idle_timeout_ms": 3000}}

    def assertClosedWith(self, rpc, kind, code, timeout):
        lines, closed = rpc.read_until_closed(timeout)
        self.assertTrue(closed, "connection not closed within %ss (got %r)"
                        % (timeout, lines))
        msgs = [json.loads(l) for l in lines]
        for msg in msgs:
            self.assertRpcError(msg, code, kind)
            self.assertIsNone(msg["id"], msg)
        return msgs

    def test_oversized_line_without_newline(self):
        rpc = self.rpc()
        rpc.send(b"a" * (MAX_FRAME + 1))
        msgs = self.assertClosedWith(rpc, "too_big", 1008, 30)
        self.assertEqual(len(msgs), 1, "expected one too_big error: %r"
                         % msgs)
        self.after_attack()

    def test_oversized_request_with_newline(self):
        rpc = self.rpc()
        head = b'{"jsonrpc":"2.0","id":1,"method":"secret.put","params":' \
               b'{"name":"big","value":"'
        rpc.send(head + b"A" * MAX_FRAME + b'"}}\n')
        msgs = self.assertClosedWith(rpc, "too_big", 1008, 30)
        self.assertEqual(len(msgs), 1, msgs)
        self.assertRc(self.cli("get", "big"), 3)
        self.after_attack()

    def test_largest_allowed_frame_served(self):
        # A value of max_value_bytes fits in a frame of the test config.
        rpc = self.rpc()
        value = os.urandom(65536)
        resp = rpc.call("secret.put", {"name": "big/ok", "value": b64(value)})
        self.assertRpcResult(resp)
        resp = rpc.call("secret.get", {"name": "big/ok"})
        self.assertEqual(self.assertRpcResult(resp)["value"], b64(value))
        self.after_attack()

    def test_half_frame_closed(self):
        rpc = self.rpc()
        rpc.send(b'{"jsonrpc":"2.0","id":1,"method":"agent.sta')
        self.assertClosedWith(rpc, "limit", 1017, 15)
        self.after_attack()

    def test_trickled_frame_closed(self):
        # One byte at a time must not keep a partial line alive: the daemon
        # has to close while we are still trickling.
        rpc = self.rpc()
        payload = b'{"jsonrpc":"2.0","id":1,"method":"agent.status"' + \
            b" " * 2000
        end = time.monotonic() + 30
        ended = False
        for ch in payload:
            if time.monotonic() > end:
                break
            if not rpc.send(bytes([ch])):
                ended = True
                break
            readable, _, _ = select.select([rpc.sock], [], [], 0.1)
            if readable:
                ended = True
                break
        self.assertTrue(ended, "a trickled partial line kept the connection "
                        "open long past frame_timeout_ms")
        lines, closed = rpc.read_until_closed(15)
        self.assertTrue(closed, lines)
        for line in lines:
            self.assertRpcError(json.loads(line), 1017, "limit")
        self.after_attack()

    def test_idle_connection_closed(self):
        rpc = self.rpc()
        lines, closed = rpc.read_until_closed(20)
        self.assertTrue(closed, "idle connection not closed")
        self.assertEqual(lines, [], "an idle close should be silent")
        # A connection that keeps making requests is not idle.
        self.after_attack()


class Flood(HostileBase):
    FLOOD = 500

    def test_flood_of_idle_connections(self):
        raise_nofile(self.FLOOD * 2 + 256)
        socks = []
        refused_connect = 0
        for _ in range(self.FLOOD):
            s, err = nonblocking_connect(self.h.socket)
            if s is None:
                self.assertIn(err, (errno.EAGAIN, errno.ECONNREFUSED),
                              os.strerror(err))
                refused_connect += 1
            else:
                socks.append(s)
        self.addCleanup(lambda: [s.close() for s in socks])
        self.assertTrue(self.d.alive())

        request = b'{"jsonrpc":"2.0","id":1,"method":"agent.status"}\n'
        outcome = {"served": 0, "limit": 0, "closed": 0}
        bad = []
        bufs = {s.fileno(): b"" for s in socks}
        by_fd = {s.fileno(): s for s in socks}
        poller = select.poll()
        for fd in by_fd:
            poller.register(fd, select.POLLIN)
        pending = set(by_fd)

        def settle(fd, kind, detail=None):
            poller.unregister(fd)
            pending.discard(fd)
            by_fd[fd].close()
            if kind in outcome:
                outcome[kind] += 1
            else:
                bad.append(detail)

        def classify(fd, eof):
            buf = bufs[fd]
            if b"\n" not in buf:
                if eof:
                    settle(fd, "closed" if not buf else "bad",
                           "partial line then EOF: %r" % buf[:200])
                return
            line = buf.split(b"\n", 1)[0]
            try:
                msg = json.loads(line)
            except ValueError:
                settle(fd, "bad", "not JSON: %r" % line[:200])
                return
            if "result" in msg:
                settle(fd, "served")
            elif msg.get("error", {}).get("data", {}).get("kind") == "limit":
                settle(fd, "limit")
            else:
                settle(fd, "bad", msg)

        def pump(until):
            while pending and time.monotonic() < until:
                for fd, _ev in poller.poll(200):
                    if fd not in pending:
                        continue
                    try:
                        chunk = by_fd[fd].recv(65536)
                    except BlockingIOError:
                        continue
                    except ConnectionResetError:
                        chunk = b""
                    bufs[fd] += chunk
                    classify(fd, not chunk)

        # Phase 1: hold them idle for a while (limit errors and closes
        # arrive now); the hammer keeps working meanwhile.
        pump(time.monotonic() + 2.0)
        # Phase 2: every connection still open asks for something; each
        # must be answered, refused or closed - none may hang.
        for fd in list(pending):
            try:
                by_fd[fd].send(request)
            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                pass
        pump(time.monotonic() + 180)
        hung = len(pending)
        summary = ("outcomes %r, connect refused %d, hung %d, bad %r"
                   % (outcome, refused_connect, hung, bad[:5]))
        print("\n  flood of %d: %s" % (self.FLOOD, summary))
        self.assertEqual(hung, 0, summary)
        self.assertEqual(bad, [], summary)
        self.assertEqual(sum(outcome.values()) + refused_connect,
                         self.FLOOD, summary)
        self.assertTrue(self.d.alive(), summary)
        self.after_attack()


class Pipelining(HostileBase):
    """A client that pipelines many requests for a large value and reads
    nothing must not make the daemon buffer without bound (max_output_bytes)
    nor stall other clients; when it finally reads, every answer arrives in
    order."""

    CONFIG = {"agent": {"max_output_bytes": 1048576,
                        "idle_timeout_ms": 60000}}
    REQUESTS = 1000

    @staticmethod
    def vm(pid, key):
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
        return None

    @staticmethod
    def sanitized(pid):
        with open("/proc/%d/maps" % pid) as f:
            return any("libasan" in line or "libtsan" in line for line in f)

    def test_pipeline_without_reading(self):
        big = os.urandom(65536)
        self.put_cli("pipe/big", big)
        pid = self.d.proc.pid
        rss_before = self.vm(pid, "VmRSS")
        rpc = self.rpc()
        rpc.sock.setblocking(False)
        line = (b'{"jsonrpc":"2.0","id":%d,"method":"secret.get",'
                b'"params":{"name":"pipe/big"}}\n')
        pending = b"".join(line % i for i in range(self.REQUESTS))
        # Write as much as the daemon takes; it stops reading once its
        # unread output passes the bound, so this may not all go in now.
        end = time.monotonic() + 5
        while pending and time.monotonic() < end:
            try:
                n = rpc.sock.send(pending)
                pending = pending[n:]
            except BlockingIOError:
                select.select([], [rpc.sock], [], 0.1)
        # Other clients are served meanwhile (the hammer runs too).
        self.assertEqual(self.get_cli("pipe/big"), big)
        hwm = self.vm(pid, "VmHWM")
        # Now read everything, sending the rest as room appears.
        rpc.sock.setblocking(True)
        want = b64(big)
        got = 0
        while got < self.REQUESTS:
            if pending:
                r, w, _ = select.select([rpc.sock], [rpc.sock], [], 30)
                if w and not r:
                    rpc.sock.setblocking(False)
                    try:
                        n = rpc.sock.send(pending)
                        pending = pending[n:]
                    except BlockingIOError:
                        pass
                    rpc.sock.setblocking(True)
                    continue
            msg = rpc.recv_json(timeout=60)
            self.assertEqual(msg["id"], got, "answers out of order")
            self.assertEqual(msg["result"]["value"], want)
            got += 1
        hwm = max(hwm, self.vm(pid, "VmHWM"))
        unbounded = self.REQUESTS * len(want)
        if rss_before is not None and not self.sanitized(pid):
            self.assertLess(hwm - rss_before, unbounded // 2,
                            "daemon peak memory grew by %d bytes for %d "
                            "bytes of responses: output not bounded"
                            % (hwm - rss_before, unbounded))
        self.after_attack()


class LimitCheck:
    """Open LIMIT served connections; the next is refused with `limit`;
    the open ones keep working; closing one frees a slot."""

    LIMIT = 8

    def check_limit(self):
        conns = []
        for i in range(self.LIMIT):
            rpc = self.rpc()
            self.assertRpcResult(rpc.call("agent.status", id=i))
            conns.append(rpc)
        over = self.rpc()
        lines, closed = over.read_until_closed(20)
        self.assertTrue(closed, "connection over the limit not closed: %r"
                        % lines)
        self.assertEqual(len(lines), 1, lines)
        msg = json.loads(lines[0])
        self.assertRpcError(msg, 1017, "limit")
        self.assertIsNone(msg["id"])
        for i, rpc in enumerate(conns):
            self.assertRpcResult(rpc.call("agent.status", id=100 + i))
        conns.pop().close()

        def served():
            try:
                with Rpc(self.h.socket) as rpc:
                    return "result" in rpc.call("agent.status", timeout=10)
            except Exception:
                return False
        self.assertTrue(poll_until(served, 20), "slot not freed")
        self.assertTrue(self.d.alive())


class PerUidConnectionLimit(LimitCheck, DaemonTestCase):
    CONFIG = {"agent": {"idle_timeout_ms": 120000,
                        "max_connections": 64,
                        "max_connections_per_uid": LimitCheck.LIMIT}}

    def test_per_uid_limit(self):
        self.check_limit()


class TotalConnectionLimit(LimitCheck, DaemonTestCase):
    CONFIG = {"agent": {"idle_timeout_ms": 120000,
                        "max_connections": LimitCheck.LIMIT,
                        "max_connections_per_uid": 64}}

    def test_total_limit(self):
        self.check_limit()


if __name__ == "__main__":
    unittest.main()
