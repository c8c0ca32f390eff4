#!/usr/bin/env python3
"""Mixed load for bench/soak.sh (Python 3 standard library only).

    python3 bench/soak_load.py --socket PATH --seconds N [--threads-per-kind K]

Speaks the wire protocol (docs/protocol.md) to a running keywardd whose
policy grants this interpreter everything. Sets up secrets, API keys,
tokens and rotation schedules, then runs these workers concurrently until
the time is up:

  reader    secret.get of random secrets (current, sometimes previous)
  writer    secret.put of random values (16 B - 4 KiB), sometimes generate
  lister    secret.list with a prefix, secret.versions
  apikey    apikey.verify: good keys, and now and then a mistyped or
            unknown one (expected errors: invalid_params, not_found,
            rate_limited once the failure budget is spent)
  token     token.verify of good tokens, now and then a tampered one or a
            wrong audience (expected: invalid_token), token.issue now and
            then
  churn     connect, agent.status, disconnect; also connect-and-close,
            a half-sent line then close, and a request whose answer is
            never read
  rotator   rotate.start on a random schedule (random: rotator) every
            0.5-2 s, rotate.status
  auditor   audit.query with filters and paging, audit.stats
  watcher   secret.watch on the rotated names; reads its notifications
  burst     (only with --burst N) every 5 s, N connections at once, one
            agent.status each, then all closed

Each worker keeps one connection (churn makes its own) and sleeps a little
between requests so that the load does not take a whole core of a shared
machine. At the end one JSON object goes to stdout: per kind the count of
requests, expected errors and unexpected errors (with the first few), and
the count of rotations seen as notifications. Exit status 1 if any
unexpected error happened or a worker died.
"""

import argparse
import base64
import json
import random
import socket
import sys
import threading
import time

import kwrpc
from kwrpc import Closed

RPC_TIMEOUT_S = 60.0
AUDIENCE = "https://mcp.example.com/mcp"
N_SECRETS = 200
N_ROTATED = 8
N_KEYS = 8


class Conn(kwrpc.Conn):
    def __init__(self, path):
        super().__init__(path, RPC_TIMEOUT_S)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.kinds = {}

    def add(self, kind, outcome, detail=None):
        with self.lock:
            k = self.kinds.setdefault(kind, {"ok": 0, "expected": 0,
                                             "unexpected": 0, "first": []})
            k[outcome] += 1
            if outcome == "unexpected" and len(k["first"]) < 5:
                k["first"].append(detail)


def b64(data):
    return base64.b64encode(data).decode("ascii")


class Load:
    def __init__(self, args):
        self.path = args.socket
        self.end = time.monotonic() + args.seconds
        self.stats = Stats()
        self.rnd_seed = args.seed
        self.keys = []
        self.tokens = []
        self.tok_lock = threading.Lock()
        self.rotations_seen = 0
        self.died = []
        self.burst_n = args.burst

    def running(self):
        return time.monotonic() < self.end

    def check(self, kind, resp, expected=()):
        """Count resp; returns its result or None."""
        if "result" in resp:
            self.stats.add(kind, "ok")
            return resp["result"]
        err = resp.get("error") or {}
        wire_kind = (err.get("data") or {}).get("kind")
        if wire_kind in expected:
            self.stats.add(kind, "expected")
        else:
            self.stats.add(kind, "unexpected",
                           "%s: %s" % (wire_kind, err.get("message")))
        return None

    def setup(self):
        c = Conn(self.path)
        rnd = random.Random(self.rnd_seed)
        for i in range(N_SECRETS):
            self.check("setup", c.call("secret.put", {
                "name": "soak/s%03d" % i,
                "value": b64(rnd.randbytes(rnd.randrange(16, 512)))}))
        for i in range(N_ROTATED):
            self.check("setup", c.call("schedule.set", {
                "name": "soak/rot/r%d" % i, "every": 86400,
                "rotator": "random:32:hex", "overlap": 60}))
        for i in range(N_KEYS):
            res = self.check("setup", c.call("apikey.create", {
                "principal": "svc%d" % (i % 3), "scopes": ["tools:read"]}))
            if res:
                self.keys.append(res["key"])
        for _ in range(4):
            self.issue(c, "setup")
        c.close()
        if not self.keys or not self.tokens:
            raise SystemExit("setup failed: %r" % self.stats.kinds)

    def issue(self, c, kind):
        res = self.check(kind, c.call("token.issue", {
            "subject": "soak-user", "audience": AUDIENCE,
            "scopes": ["tools:read"], "ttl": 3600}))
        if res:
            with self.tok_lock:
                self.tokens.append(res["token"])
                del self.tokens[:-8]

    # --- workers ---

    def pause(self, rnd, base=0.004):
        time.sleep(base * (0.5 + rnd.random()))

    def reader(self, rnd):
        c = Conn(self.path)
        while self.running():
            p = {"name": "soak/s%03d" % rnd.randrange(N_SECRETS)}
            if rnd.random() < 0.2:
                p["stage"] = "previous"
            # A secret not yet written twice has no previous version.
            self.check("reader", c.call("secret.get", p), ("not_found",))
            self.pause(rnd)
        c.close()

    def writer(self, rnd):
        c = Conn(self.path)
        while self.running():
            name = "soak/s%03d" % rnd.randrange(N_SECRETS)
            if rnd.random() < 0.1:
                p = {"name": name, "generate": rnd.randrange(16, 64)}
            else:
                p = {"name": name,
                     "value": b64(rnd.randbytes(rnd.randrange(16, 4096)))}
            self.check("writer", c.call("secret.put", p))
            self.pause(rnd, 0.02)
        c.close()

    def lister(self, rnd):
        c = Conn(self.path)
        while self.running():
            if rnd.random() < 0.5:
                self.check("lister", c.call("secret.list",
                                            {"prefix": "soak/s0"}))
            else:
                self.check("lister", c.call("secret.versions", {
                    "name": "soak/s%03d" % rnd.randrange(N_SECRETS)}))
            self.pause(rnd, 0.02)
        c.close()

    def apikey(self, rnd):
        c = Conn(self.path)
        while self.running():
            key = rnd.choice(self.keys)
            x = rnd.random()
            if x < 0.02:
                # A typo: the checksum catches it before any lookup.
                i = rnd.randrange(4, len(key))
                ch = "A" if key[i] != "A" else "B"
                key = key[:i] + ch + key[i + 1:]
                self.check("apikey", c.call("apikey.verify", {"key": key}),
                           ("invalid_params", "rate_limited"))
            elif x < 0.03:
                self.check("apikey", c.call("apikey.verify", {
                    "key": "kwk_" + "x" * 12}),
                    ("invalid_params", "not_found", "rate_limited"))
            else:
                self.check("apikey", c.call("apikey.verify", {"key": key}),
                           ("rate_limited",))
            self.pause(rnd)
        c.close()

    def token(self, rnd):
        c = Conn(self.path)
        while self.running():
            with self.tok_lock:
                tok = rnd.choice(self.tokens)
            x = rnd.random()
            if x < 0.01:
                self.issue(c, "token")
            elif x < 0.03:
                bad = tok[:-3] + ("AAA" if tok[-3:] != "AAA" else "BBB")
                self.check("token", c.call("token.verify", {
                    "token": bad, "audience": AUDIENCE}),
                    ("invalid_token",))
            elif x < 0.04:
                self.check("token", c.call("token.verify", {
                    "token": tok, "audience": "https://other.example/"}),
                    ("invalid_token",))
            else:
                self.check("token", c.call("token.verify", {
                    "token": tok, "audience": AUDIENCE,
                    "scopes": ["tools:read"]}))
            self.pause(rnd)
        c.close()

    def churn(self, rnd):
        while self.running():
            x = rnd.random()
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(RPC_TIMEOUT_S)
                s.connect(self.path)
            except OSError as e:
                self.stats.add("churn", "unexpected", "connect: %s" % e)
                time.sleep(0.1)
                continue
            try:
                if x < 0.6:
                    s.sendall(b'{"jsonrpc":"2.0","id":1,'
                              b'"method":"agent.status"}\n')
                    buf = b""
                    while b"\n" not in buf:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        buf += chunk
                    self.stats.add("churn", "ok" if b'"result"' in buf
                                   else "unexpected", buf[:200])
                elif x < 0.75:
                    self.stats.add("churn", "ok")
                elif x < 0.9:
                    s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"secr')
                    self.stats.add("churn", "ok")
                else:
                    # Ask, then hang up without reading the answer.
                    s.sendall(b'{"jsonrpc":"2.0","id":1,"method":'
                              b'"secret.list","params":{}}\n')
                    self.stats.add("churn", "ok")
            except OSError as e:
                self.stats.add("churn", "unexpected", str(e))
            finally:
                s.close()
            self.pause(rnd, 0.01)

    def burst(self, rnd):
        """Every 5 s, BURST connections at once, one agent.status each,
        then all closed."""
        while self.running():
            socks = []
            try:
                for _ in range(self.burst_n):
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    socks.append(s)
                    s.settimeout(RPC_TIMEOUT_S)
                    s.connect(self.path)
                    s.sendall(b'{"jsonrpc":"2.0","id":1,'
                              b'"method":"agent.status"}\n')
                for s in socks:
                    buf = b""
                    while b"\n" not in buf:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        buf += chunk
                    self.stats.add("burst", "ok" if b'"result"' in buf
                                   else "unexpected", buf[:200])
            except OSError as e:
                self.stats.add("burst", "unexpected", str(e))
            finally:
                for s in socks:
                    s.close()
            end = time.monotonic() + 5.0
            while self.running() and time.monotonic() < end:
                time.sleep(0.2)

    def rotator(self, rnd):
        c = Conn(self.path)
        while self.running():
            name = "soak/rot/r%d" % rnd.randrange(N_ROTATED)
            self.check("rotator", c.call("rotate.start", {"name": name}))
            self.check("rotator", c.call("rotate.status", {"name": name}))
            time.sleep(0.5 + 1.5 * rnd.random())
        c.close()

    def auditor(self, rnd):
        c = Conn(self.path)
        while self.running():
            x = rnd.random()
            if x < 0.2:
                self.check("auditor", c.call("audit.stats", {
                    "since_us": int((time.time() - 30) * 1e6)}))
            else:
                p = {"limit": rnd.choice((10, 50, 100))}
                if x < 0.5:
                    p["op"] = rnd.choice(("secret.get", "apikey.verify",
                                          "rotate.finish", "token.verify"))
                elif x < 0.7:
                    p["name"] = "soak/rot/**"
                res = self.check("auditor", c.call("audit.query", p))
                if res and res.get("cursor") and rnd.random() < 0.5:
                    p["cursor"] = res["cursor"]
                    self.check("auditor", c.call("audit.query", p))
            self.pause(rnd, 0.05)
        c.close()

    def watcher(self, rnd):
        c = Conn(self.path)
        self.check("watcher", c.call("secret.watch",
                                     {"pattern": "soak/rot/**"}))
        c.sock.settimeout(0.5)
        while self.running():
            try:
                msg = c.recv()
            except socket.timeout:
                continue
            if msg.get("method") == "secret.rotated":
                self.rotations_seen += 1
        c.close()

    def run_worker(self, fn, seed):
        rnd = random.Random(seed)
        try:
            fn(rnd)
        except Exception as e:  # report any worker death, then go on
            self.died.append("%s: %s: %s" % (fn.__name__, type(e).__name__,
                                             e))

    def run(self, per_kind):
        self.setup()
        workers = [self.reader, self.writer, self.lister, self.apikey,
                   self.token, self.churn, self.rotator, self.auditor,
                   self.watcher]
        if self.burst_n:
            workers.append(self.burst)
        threads = []
        seed = self.rnd_seed
        for fn in workers:
            for _ in range(per_kind if fn not in (self.watcher, self.burst,
                                                  self.rotator) else 1):
                seed += 1
                t = threading.Thread(target=self.run_worker,
                                     args=(fn, seed), daemon=True)
                t.start()
                threads.append(t)
        for t in threads:
            t.join()


def main():
    p = argparse.ArgumentParser(description="mixed load for soak.sh")
    p.add_argument("--socket", required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--threads-per-kind", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--burst", type=int, default=0,
                   help="also open this many connections at once every 5 s")
    args = p.parse_args()
    load = Load(args)
    t0 = time.monotonic()
    load.run(args.threads_per_kind)
    kinds = load.stats.kinds
    total = sum(k["ok"] + k["expected"] + k["unexpected"]
                for k in kinds.values())
    unexpected = sum(k["unexpected"] for k in kinds.values())
    out = {"seconds": round(time.monotonic() - t0, 1), "requests": total,
           "unexpected": unexpected, "rotations_notified":
           load.rotations_seen, "workers_died": load.died, "kinds": kinds}
    print(json.dumps(out))
    return 1 if unexpected or load.died else 0


if __name__ == "__main__":
    sys.exit(main())
