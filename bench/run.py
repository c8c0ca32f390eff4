#!/usr/bin/env python3
"""keyward benchmark: keywardd side by side with the floor and its peers.

    python3 bench/run.py [--build build-bench] [--seconds S] [--warmup S]
                         [--out-dir bench/results] [--no-scale] [--perf]

One run starts, on temporary directories under /tmp:
  - keywardd of BUILD (keyfile mode, the shipped default config and policy,
    audit on), with one 64-byte secret, one API key, one Ed25519 access
    token, and a policy section for the load generator as an operator
    would write it (read on bench/*, verify on the key's principal and the
    token signing key);
  - bench/echo_server (the floor: a Unix-socket round trip and nothing
    else), redis-server on a Unix socket (no persistence), and ssh-agent
    with a throwaway Ed25519 key;
and drives each with the same closed-loop generator (bench/loadgen) at 1
and 16 connections, measures raw libsodium Ed25519 verification
(bench/sodium_verify), and the per-process cost of `keyward get` against a
minimal C client (bench/oneshot) and `pass show` (when pass is installed).
If bench/scale.py exists its JSON is merged under "scale".

Results: OUT_DIR/latest.json (everything, with a machine block) and
OUT_DIR/latest.md (tables, and the issue's targets marked met or missed).
Every process started is killed by PID and every temporary directory
removed at the end, also on Ctrl-C or an error. BENCH_SECONDS sets the
measured seconds per scenario (default 5).

Exit status: 0 when every scenario ran without a wrong answer (targets
missed are reported, not failures); 1 otherwise.
"""

import argparse
import base64
import ctypes
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Sockets of the peers must accept within this long, or the run fails.
START_DEADLINE_S = 30.0
AUDIENCE = "https://bench.example/mcp"
SECRET_NAME = "bench/s64"
API_PRINCIPAL = "bench-svc"
SIGNING_KEY = "keyward/token-signing"   # [token] signing_key, as shipped
CLIENTS = (1, 16)


try:
    _LIBC = ctypes.CDLL(None, use_errno=True)
except OSError:
    _LIBC = None


def _die_with_parent():
    """Children get SIGKILL if run.py itself is killed (PR_SET_PDEATHSIG),
    so not even a SIGKILL of the runner leaves a daemon behind."""
    if _LIBC is not None:
        _LIBC.prctl(1, int(signal.SIGKILL), 0, 0, 0)


def log(msg):
    sys.stderr.write("bench: %s\n" % msg)
    sys.stderr.flush()


class Bench:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build)
        self.bin = {
            "keywardd": os.path.join(self.build, "agent", "keywardd"),
            "keyward": os.path.join(self.build, "cli", "keyward"),
            "loadgen": os.path.join(self.build, "bench", "loadgen"),
            "echo_server": os.path.join(self.build, "bench", "echo_server"),
            "oneshot": os.path.join(self.build, "bench", "oneshot"),
            "sodium_verify": os.path.join(self.build, "bench",
                                          "sodium_verify"),
            "stdio_echo": os.path.join(self.build, "bench", "stdio_echo"),
            "stdio_rtt": os.path.join(self.build, "bench", "stdio_rtt"),
        }
        self.procs = []        # Popen of every long-running child
        self.tmp = None
        self.gnupghome = None
        self.results = {"scenarios": [], "notes": []}
        self.failed = False

    # --- processes and files -------------------------------------------

    def spawn(self, argv, env=None, **kw):
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                start_new_session=True,
                                preexec_fn=_die_with_parent, **kw)
        self.procs.append(proc)
        return proc

    def stop(self, proc):
        """SIGTERM, then SIGKILL after 5 s; by PID only."""
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            except OSError:
                pass

    def cleanup(self):
        for proc in reversed(self.procs):
            self.stop(proc)
        self.procs = []
        if self.gnupghome and shutil.which("gpgconf"):
            # gpg started an agent for the throwaway GNUPGHOME; only that
            # home's daemons are told to go.
            subprocess.run(["gpgconf", "--kill", "all"],
                           env=dict(os.environ, GNUPGHOME=self.gnupghome),
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=30)
        if self.tmp and os.path.isdir(self.tmp):
            shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp = None

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def write_private(self, name, text):
        path = self.path(name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return path

    def wait_socket(self, path, proc, what):
        end = time.monotonic() + START_DEADLINE_S
        while time.monotonic() < end:
            if proc.poll() is not None:
                raise RuntimeError("%s exited (%s) before listening"
                                   % (what, proc.returncode))
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                return
            except OSError:
                time.sleep(0.05)
            finally:
                s.close()
        raise RuntimeError("%s did not listen on %s within %ss"
                           % (what, path, START_DEADLINE_S))

    # --- keywardd --------------------------------------------------------

    def kw(self, *argv, input=b""):
        r = subprocess.run([self.bin["keyward"]] + list(argv),
                           env=self.kw_env, input=input,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           cwd=self.path("work"), timeout=60)
        if r.returncode != 0:
            raise RuntimeError("keyward %s failed (%d): %s" % (
                argv[0], r.returncode, r.stderr.decode(errors="replace")))
        return r.stdout

    def start_keyward(self):
        home = self.path("kwhome")
        os.mkdir(home, 0o700)
        os.mkdir(self.path("work"), 0o700)
        self.kw_home = home
        self.kw_socket = os.path.join(home, "agent.sock")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("KEYWARD_") and k != "XDG_RUNTIME_DIR"}
        env.update(KEYWARD_HOME=home, KEYWARD_SOCKET=self.kw_socket,
                   HOME=self.path("work"))
        self.kw_env = env
        # The shipped defaults: no keyward.ini (every setting at its
        # default), keyfile mode, the default policy that init writes.
        self.kw("init")
        # What an operator adds so that one program may read the bench
        # secret and verify the bench credentials (policies/README.md).
        policy = ("[client \"bench-loadgen\"]\n"
                  "exe = %s\n"
                  "read = bench/*\n"
                  "verify = apikey/%s, %s\n"
                  % (os.path.realpath(self.bin["loadgen"]), API_PRINCIPAL,
                     SIGNING_KEY))
        ppath = os.path.join(home, "policies", "50-bench.ini")
        fd = os.open(ppath, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(policy)
        logfd = os.open(self.path("keywardd.log"),
                        os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            self.kwd = self.spawn([self.bin["keywardd"]] +
                                  self.args.keywardd_arg, env=env,
                                  stdout=logfd, stderr=logfd,
                                  cwd=self.path("work"))
        finally:
            os.close(logfd)
        self.wait_socket(self.kw_socket, self.kwd, "keywardd")

        value = os.urandom(64)
        self.kw("put", SECRET_NAME, input=value)
        self.value_b64 = base64.b64encode(value).decode()
        self.expect_get = self.write_private(
            "expect-get", '"value":"%s"' % self.value_b64)
        self.params_get = self.write_private(
            "params-get", json.dumps({"name": SECRET_NAME},
                                     separators=(",", ":")))
        key = self.kw("apikey", "create", "--principal", API_PRINCIPAL,
                      "--scopes", "bench:read").decode().strip()
        self.params_apikey = self.write_private(
            "params-apikey", json.dumps({"key": key}, separators=(",", ":")))
        self.expect_apikey = self.write_private(
            "expect-apikey", '"principal":"%s"' % API_PRINCIPAL)
        token = self.kw("token", "issue", "--sub", "bench-user", "--aud",
                        AUDIENCE, "--scopes", "bench:read", "--ttl",
                        "1h").decode().strip()
        self.token_signing_input = len(token.rsplit(".", 1)[0])
        self.results["token"] = {
            "length": len(token),
            "signing_input_bytes": self.token_signing_input,
        }
        self.params_token = self.write_private(
            "params-token", json.dumps(
                {"token": token, "audience": AUDIENCE},
                separators=(",", ":")))
        self.expect_token = self.write_private(
            "expect-token", '"subject":"bench-user"')

    def keywardd_memory(self):
        out = {}
        try:
            with open("/proc/%d/status" % self.kwd.pid) as f:
                for line in f:
                    key, _, rest = line.partition(":")
                    if key in ("VmRSS", "VmHWM"):
                        out[key.lower() + "_kib"] = int(rest.split()[0])
        except OSError:
            pass
        return out

    # --- the peers -------------------------------------------------------

    def start_echo(self):
        self.echo_socket = self.path("echo.sock")
        self.echo = self.spawn([self.bin["echo_server"], self.echo_socket])
        self.wait_socket(self.echo_socket, self.echo, "echo_server")

    def start_redis(self):
        exe = shutil.which("redis-server")
        if not exe:
            self.results["notes"].append("redis-server not installed")
            self.redis_socket = None
            return
        rdir = self.path("redis")
        os.mkdir(rdir, 0o700)
        self.redis_socket = os.path.join(rdir, "redis.sock")
        self.redis = self.spawn(
            [exe, "--port", "0", "--unixsocket", self.redis_socket,
             "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
             "--dir", rdir, "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.wait_socket(self.redis_socket, self.redis, "redis-server")
        value = base64.b64encode(os.urandom(48))  # 64 bytes of text
        cmd = b"*3\r\n$3\r\nSET\r\n$9\r\nbench:s64\r\n$64\r\n" + value + \
            b"\r\n"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(self.redis_socket)
            s.sendall(cmd)
            if not s.recv(64).startswith(b"+OK"):
                raise RuntimeError("redis SET failed")
        self.results["redis_version"] = subprocess.run(
            [exe, "--version"], stdout=subprocess.PIPE,
            timeout=10).stdout.decode().strip()

    def start_ssh_agent(self):
        agent = shutil.which("ssh-agent")
        if not agent or not shutil.which("ssh-add"):
            self.results["notes"].append("ssh-agent not installed")
            self.ssh_socket = None
            return
        sdir = self.path("ssh")
        os.mkdir(sdir, 0o700)
        self.ssh_socket = os.path.join(sdir, "agent.sock")
        self.ssh = self.spawn([agent, "-D", "-a", self.ssh_socket],
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
        self.wait_socket(self.ssh_socket, self.ssh, "ssh-agent")
        keyfile = os.path.join(sdir, "id_ed25519")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "",
                        "-C", "keyward-bench", "-f", keyfile], check=True,
                       stdout=subprocess.DEVNULL, timeout=30)
        subprocess.run(["ssh-add", "-q", keyfile], check=True,
                       env=dict(os.environ, SSH_AUTH_SOCK=self.ssh_socket),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=30)

    # --- measurements ----------------------------------------------------

    def loadgen(self, target, socket_path, clients, label, extra):
        argv = [self.bin["loadgen"], "--target", target, "--socket",
                socket_path, "--clients", str(clients), "--warmup",
                str(self.args.warmup), "--seconds", str(self.args.seconds),
                "--scenario", label] + extra
        r = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE,
                           timeout=self.args.warmup + self.args.seconds + 60)
        try:
            res = json.loads(r.stdout.decode())
        except ValueError:
            res = {"target": target, "scenario": label, "clients": clients,
                   "requests": 0, "errors": 1, "req_per_s": 0.0}
        res["exit"] = r.returncode
        if r.returncode != 0:
            res["stderr"] = r.stderr.decode(errors="replace")[-1000:]
            self.failed = True
        return res

    @staticmethod
    def cpu_seconds(proc):
        """utime + stime of a child so far (from /proc), or None."""
        if proc is None:
            return None
        try:
            with open("/proc/%d/stat" % proc.pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / \
                os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return None

    def scenarios(self):
        kw_get = ["--method", "secret.get", "--params-file",
                  self.params_get, "--expect-file", self.expect_get]
        kw_api = ["--method", "apikey.verify", "--params-file",
                  self.params_apikey, "--expect-file", self.expect_apikey]
        kw_tok = ["--method", "token.verify", "--params-file",
                  self.params_token, "--expect-file", self.expect_token]
        todo = [("echo", self.echo_socket, "echo", [], self.echo)]
        if self.redis_socket:
            todo.append(("redis", self.redis_socket, "redis GET 64B",
                         ["--key", "bench:s64", "--value-bytes", "64"],
                         self.redis))
        if self.ssh_socket:
            todo.append(("ssh-ids", self.ssh_socket,
                         "ssh-agent REQUEST_IDENTITIES", ["--keys", "1"],
                         self.ssh))
            todo.append(("ssh-sign", self.ssh_socket,
                         "ssh-agent SIGN_REQUEST", [], self.ssh))
        todo += [("keyward", self.kw_socket, "keyward secret.get", kw_get,
                  self.kwd),
                 ("keyward", self.kw_socket, "keyward apikey.verify",
                  kw_api, self.kwd),
                 ("keyward", self.kw_socket, "keyward token.verify",
                  kw_tok, self.kwd)]
        return todo

    def run_scenarios(self):
        for target, sock, label, extra, server in self.scenarios():
            for clients in CLIENTS:
                perf = (self.args.perf and label == "keyward secret.get"
                        and clients == 16)
                rec = self.start_perf() if perf else None
                cpu0 = self.cpu_seconds(server)
                res = self.loadgen(target, sock, clients,
                                   label.replace(" ", "_"), extra)
                cpu1 = self.cpu_seconds(server)
                if rec:
                    self.finish_perf(rec)
                res["scenario"] = label
                # The server's own CPU per answer (warm-up included): less
                # sensitive to a busy machine than req/s.
                if cpu0 is not None and cpu1 is not None and \
                        res.get("answers"):
                    res["server_cpu_us_per_req"] = round(
                        (cpu1 - cpu0) * 1e6 / res["answers"], 1)
                self.results["scenarios"].append(res)
                log("%-32s c=%-2d %10.0f req/s  p50 %7.1f us  p99 %8.1f us"
                    "  errors %d" % (label, clients,
                                     res.get("req_per_s", 0.0),
                                     res.get("p50_us", 0.0),
                                     res.get("p99_us", 0.0),
                                     res.get("errors", 0)))
        self.results["keywardd_memory_after"] = self.keywardd_memory()

    def start_perf(self):
        if not shutil.which("perf"):
            self.results["notes"].append("--perf: perf not installed")
            return None
        data = self.path("perf.data")
        proc = self.spawn(["perf", "record", "-g", "-F", "999", "-o", data,
                           "-p", str(self.kwd.pid)],
                          stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        return proc, data

    def finish_perf(self, rec):
        proc, data = rec
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        r = subprocess.run(["perf", "report", "-i", data, "--stdio",
                            "--no-children", "--sort", "dso,symbol",
                            "-g", "none", "--percent-limit", "1"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           timeout=120)
        lines = [re.sub(r"[\s-]+$", "", ln)
                 for ln in r.stdout.decode(errors="replace").splitlines()
                 if ln.strip() and not ln.startswith("#")]
        self.results["perf_secret_get_16"] = lines[:40]

    def sodium(self):
        r = subprocess.run([self.bin["sodium_verify"], "--bytes",
                            str(self.token_signing_input), "--seconds",
                            str(self.args.seconds)], stdout=subprocess.PIPE,
                           timeout=self.args.seconds + 60)
        res = json.loads(r.stdout.decode())
        res["exit"] = r.returncode
        if r.returncode != 0:
            self.failed = True
        self.results["sodium_verify"] = res
        log("libsodium Ed25519 verify (%d B): %.0f/s on one core"
            % (res["msg_bytes"], res["verifies_per_s"]))

    def setup_pass(self):
        """A throwaway GNUPGHOME with a passphrase-less key and a password
        store holding the same kind of value. Returns the env, or None."""
        if not shutil.which("pass") or not shutil.which("gpg"):
            self.results["notes"].append("pass not installed: no pass show "
                                         "comparison")
            return None
        self.gnupghome = self.path("gnupg")
        os.mkdir(self.gnupghome, 0o700)
        env = dict(os.environ, GNUPGHOME=self.gnupghome,
                   PASSWORD_STORE_DIR=self.path("pass"),
                   HOME=self.path("work"))
        env.pop("GPG_AGENT_INFO", None)
        r = subprocess.run(["gpg", "--batch", "--pinentry-mode", "loopback",
                            "--passphrase", "", "--quick-gen-key",
                            "keyward bench <bench@invalid>",
                            "future-default", "default", "never"],
                           env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, timeout=120)
        if r.returncode != 0:
            self.results["notes"].append("gpg key generation failed: %s"
                                         % r.stderr.decode()[-300:])
            return None
        subprocess.run(["pass", "init", "bench@invalid"], env=env,
                       check=True, stdout=subprocess.DEVNULL, timeout=60)
        subprocess.run(["pass", "insert", "-m", SECRET_NAME], env=env,
                       input=self.value_b64.encode() + b"\n", check=True,
                       stdout=subprocess.DEVNULL, timeout=60)
        return env

    def per_process(self):
        pass_env = self.setup_pass()
        cmds = [("keyward get", [self.bin["keyward"], "get", SECRET_NAME],
                 self.kw_env),
                ("oneshot (C, echo server)",
                 [self.bin["oneshot"], self.echo_socket], None)]
        if pass_env:
            cmds.append(("pass show", ["pass", "show", SECRET_NAME],
                         pass_env))
        # Every command once, to fail early and to warm caches.
        for name, argv, env in cmds:
            r = subprocess.run(argv, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=60,
                               cwd=self.path("work"))
            if r.returncode != 0:
                raise RuntimeError("%s failed: %s" % (
                    name, r.stderr.decode(errors="replace")[-500:]))
        out = {"tool": None, "commands": []}
        if shutil.which("hyperfine"):
            out["tool"] = "hyperfine"
            for name, argv, env in cmds:
                jpath = self.path("hyperfine.json")
                subprocess.run(["hyperfine", "-N", "--style", "none",
                                "--warmup", "5", "--min-runs", "50",
                                "--max-runs", "2000", "--export-json",
                                jpath, " ".join(argv)],
                               env=env, cwd=self.path("work"), check=True,
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, timeout=300)
                with open(jpath) as f:
                    h = json.load(f)["results"][0]
                out["commands"].append({
                    "name": name, "runs": len(h.get("times", [])),
                    "mean_ms": h["mean"] * 1e3,
                    "stddev_ms": (h.get("stddev") or 0.0) * 1e3,
                    "median_ms": h["median"] * 1e3,
                    "min_ms": h["min"] * 1e3})
        else:
            out["tool"] = "run.py timing loop"
            for name, argv, env in cmds:
                times = []
                end = time.monotonic() + 3.0
                while time.monotonic() < end or len(times) < 50:
                    t0 = time.perf_counter()
                    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, check=True,
                                   cwd=self.path("work"))
                    times.append(time.perf_counter() - t0)
                    if len(times) >= 2000:
                        break
                times.sort()
                out["commands"].append({
                    "name": name, "runs": len(times),
                    "mean_ms": sum(times) / len(times) * 1e3,
                    "median_ms": times[len(times) // 2] * 1e3,
                    "min_ms": times[0] * 1e3})
        base = out["commands"][1]["mean_ms"]
        for c in out["commands"]:
            c["ratio_to_oneshot"] = c["mean_ms"] / base if base else None
            log("%-28s mean %7.2f ms  (x%.2f of oneshot)"
                % (c["name"], c["mean_ms"], c["ratio_to_oneshot"] or 0))
        self.results["per_process"] = out

    def mcp_stdio_server(self):
        """argv of the stdio MCP server on the official SDK 2.x that the
        end-to-end tests use (tests/integration/mcp-stdio), installed
        into BUILD/node with the tests' installer; (None, why) when Node
        or npm cannot provide it."""
        sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
        os.environ.setdefault("KW_NODE_WORK",
                              os.path.join(os.path.abspath(self.build),
                                           "node"))
        try:
            import kwauth
        except Exception as e:  # noqa: BLE001 (any import failure)
            return None, "cannot load tests/integration/kwauth.py: %s" % e

        class Need:
            def fail(self, why):
                raise RuntimeError(why)
        try:
            node = kwauth.sdk2_node(Need())
        except RuntimeError as e:
            return None, str(e)
        directory, failure = kwauth.install_mcp_stdio()
        if failure:
            return None, failure
        return [node, os.path.join(directory, "server.mjs")], None

    def stdio_series(self, label, server, rtt_args, n):
        """One server bare and through `keyward run`: rows of mean, p50,
        p99 (median of 3 alternating rounds) with the ratio to bare."""
        run = [self.bin["keyward"], "run", "--env", "TOKEN=bench/stdio"]
        cases = [("%s, bare" % label, server)]
        if label == "echo":
            cases.append(("echo, behind cat",
                          ["sh", "-c", 'exec "$0" "$@" | cat'] + server))
        cases += [
            ("%s, keyward run --mask all" % label,
             run + ["--mask", "all", "--"] + server),
            ("%s, keyward run --mask stderr" % label,
             run + ["--mask", "stderr", "--"] + server),
        ]
        means = {name: [] for name, _ in cases}
        last = {}
        for _ in range(3):
            for name, argv in cases:
                r = subprocess.run([self.bin["stdio_rtt"], str(n)] +
                                   rtt_args + ["--"] + argv,
                                   env=self.kw_env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, timeout=600)
                if r.returncode != 0:
                    raise RuntimeError("%s: %s" % (name, r.stderr.decode(
                        errors="replace")[-2000:]))
                last[name] = json.loads(r.stdout)
                means[name].append(last[name]["mean_us"])
        rows = []
        for name, _ in cases:
            row = dict(last[name], name=name,
                       mean_us=sorted(means[name])[1])
            rows.append(row)
            log("stdio %-40s mean %8.2f us" % (name, row["mean_us"]))
        bare = rows[0]["mean_us"]
        for row in rows:
            row["ratio_to_bare"] = ratio(row["mean_us"], bare)
            row["added_us"] = row["mean_us"] - bare
        return rows

    def stdio_roundtrip(self):
        """keyward run's cost on stdio round trips (issue 13), sequential
        requests through bench/stdio_rtt: to the official SDK 2.x stdio
        MCP server (tools/call env_hash, what an MCP client does; the
        target applies here), and to bench/stdio_echo, a server that does
        no work at all, which shows the relay's own cost in µs (behind
        `cat` too: the floor of any process that relays output)."""
        n = max(2000, int(self.args.seconds * 2000))
        value = base64.b16encode(os.urandom(16))
        self.kw("put", "bench/stdio", input=value)
        out = {"requests": n}
        try:
            server, why = self.mcp_stdio_server()
            if server is None:
                out["mcp_skipped"] = why
                log("stdio: no SDK server: %s" % why)
            else:
                out["mcp_rows"] = self.stdio_series(
                    "MCP server (SDK 2.x)", server,
                    ["--mcp", "env_hash", '{"name":"TOKEN"}'], n)
            out["echo_rows"] = self.stdio_series(
                "echo", [self.bin["stdio_echo"]], [], n)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            self.failed = True
            out["failed"] = str(e)
            log("stdio round trip failed: %s" % e)
        self.results["stdio"] = out

    def scale(self):
        script = os.path.join(ROOT, "bench", "scale.py")
        if self.args.no_scale:
            self.results["scale"] = {"skipped": "--no-scale"}
            return
        if not os.path.exists(script):
            self.results["scale"] = {"skipped": "bench/scale.py is absent"}
            log("bench/scale.py is absent: no scale figures")
            return
        out = self.path("scale.json")
        log("running bench/scale.py (its own daemon and store)")
        try:
            r = subprocess.run([sys.executable, script, "--build",
                                self.build, "--out", out],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=900)
        except subprocess.TimeoutExpired:
            self.results["scale"] = {"failed": "timed out after 900 s"}
            return
        if r.returncode != 0 or not os.path.exists(out):
            self.results["scale"] = {
                "failed": "exit %d" % r.returncode,
                "stderr": r.stderr.decode(errors="replace")[-2000:]}
            log("bench/scale.py failed (exit %d); carrying on"
                % r.returncode)
            return
        with open(out) as f:
            self.results["scale"] = json.load(f)
        self.results["scale_summary"] = r.stdout.decode(
            errors="replace")[-4000:]

    # --- the whole run ---------------------------------------------------

    def run(self):
        for name, path in self.bin.items():
            if not os.access(path, os.X_OK):
                raise RuntimeError("%s not built: %s (configure with "
                                   "-Dbench=true)" % (name, path))
        self.tmp = tempfile.mkdtemp(prefix="kwbench-", dir="/tmp")
        t0 = time.monotonic()
        self.results["machine"] = machine_info(self.build)
        self.results["config"] = {"seconds": self.args.seconds,
                                  "warmup": self.args.warmup,
                                  "clients": list(CLIENTS)}
        self.start_keyward()
        self.start_echo()
        self.start_redis()
        self.start_ssh_agent()
        self.run_scenarios()
        self.sodium()
        self.per_process()
        self.stdio_roundtrip()
        # The daemons of this run stop before scale.py starts its own, so
        # the two do not compete for the machine.
        self.results["keywardd_memory_end"] = self.keywardd_memory()
        for proc in reversed(self.procs):
            self.stop(proc)
        self.scale()
        self.results["machine"]["loadavg_end"] = loadavg()
        self.results["total_seconds"] = round(time.monotonic() - t0, 1)
        self.results["targets"] = targets(self.results)


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return None


def machine_info(build):
    info = {"date": datetime.datetime.now(datetime.timezone.utc)
            .strftime("%Y-%m-%dT%H:%M:%SZ"),
            "kernel": platform.release(), "cores": os.cpu_count(),
            "cpu": None, "mem_total_mib": None, "loadavg_start": loadavg()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    info["mem_total_mib"] = int(line.split()[1]) // 1024
    except OSError:
        pass
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"],
                              stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, timeout=10)
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain",
                                "--untracked-files=no"],
                               stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, timeout=10)
        info["git_commit"] = head.stdout.decode().strip() or None
        info["git_dirty"] = bool(dirty.stdout.strip())
    except (OSError, subprocess.TimeoutExpired):
        info["git_commit"] = None
    try:
        with open(os.path.join(build, "meson-info",
                               "intro-buildoptions.json")) as f:
            for opt in json.load(f):
                if opt.get("name") in ("buildtype", "b_sanitize"):
                    info[opt["name"]] = opt.get("value")
    except (OSError, ValueError):
        pass
    return info


# --- targets and report ----------------------------------------------------

def find(results, scenario, clients):
    for s in results["scenarios"]:
        if s["scenario"] == scenario and s["clients"] == clients:
            return s
    return None


def ratio(a, b):
    if a is None or b is None or not b:
        return None
    return a / b


def scale_rss_mib(scale):
    """The largest resident size (VmRSS or VmHWM, KiB) anywhere in the
    scale results, in MiB; None if there is none."""
    best = None

    def walk(obj):
        nonlocal best
        if isinstance(obj, dict):
            for k, v in obj.items():
                if (isinstance(v, (int, float)) and not isinstance(v, bool)
                        and ("rss" in k or "hwm" in k) and k.endswith("kib")):
                    best = v if best is None else max(best, v)
                else:
                    walk(v)
        elif isinstance(obj, list):
            for v in obj:
                walk(v)
    walk(scale)
    return None if best is None else best / 1024.0


def targets(results):
    """The issue's targets: (name, wanted, measured ratio, met)."""
    out = []

    def add(name, want, value, limit, higher_is_better=True):
        if value is None:
            out.append({"target": name, "want": want, "measured": None,
                        "met": None})
            return
        met = value >= limit if higher_is_better else value <= limit
        out.append({"target": name, "want": want,
                    "measured": round(value, 3), "met": met})

    def rps(label, c):
        s = find(results, label, c)
        return s["req_per_s"] if s and s.get("exit") == 0 else None

    def p99(label, c):
        s = find(results, label, c)
        return s["p99_us"] if s and s.get("exit") == 0 else None

    echo16 = rps("echo", 16)
    ids16 = rps("ssh-agent REQUEST_IDENTITIES", 16)
    for m in ("secret.get", "apikey.verify"):
        label = "keyward " + m
        add("%s (16 clients) vs echo" % m, ">= 0.5x echo req/s",
            ratio(rps(label, 16), echo16), 0.5)
        add("%s (16 clients) vs ssh-agent" % m,
            ">= 1.0x ssh-agent REQUEST_IDENTITIES req/s",
            ratio(rps(label, 16), ids16), 1.0)
    sod = results.get("sodium_verify", {}).get("verifies_per_s")
    add("token.verify (16 clients) vs libsodium",
        ">= 0.8x raw Ed25519 verify on one core",
        ratio(rps("keyward token.verify", 16), sod), 0.8)
    for c in CLIENTS:
        add("secret.get p99 (%d client%s) vs echo p99"
            % (c, "" if c == 1 else "s"), "<= 2x echo p99",
            ratio(p99("keyward secret.get", c), p99("echo", c)), 2.0,
            higher_is_better=False)
    pp = {c["name"]: c["mean_ms"]
          for c in results.get("per_process", {}).get("commands", [])}
    add("keyward get vs one-shot C client", "<= 1.5x mean time",
        ratio(pp.get("keyward get"), pp.get("oneshot (C, echo server)")),
        1.5, higher_is_better=False)
    st = {r["name"]: r["mean_us"]
          for r in results.get("stdio", {}).get("mcp_rows", [])}
    server = "MCP server (SDK 2.x)"
    for mode in ("all", "stderr"):
        add("stdio MCP round trip through keyward run --mask %s" % mode,
            "<= 1.1x the bare server's mean",
            ratio(st.get("%s, keyward run --mask %s" % (server, mode)),
                  st.get("%s, bare" % server)),
            1.1, higher_is_better=False)
    sc = results.get("scale", {})
    if isinstance(sc.get("rss_max_kib"), (int, float)):
        rss = sc["rss_max_kib"] / 1024.0
    else:
        rss = scale_rss_mib(sc)
    add("RSS at scale (largest seen by scale.py)",
        "<= 16 MiB (measured: MiB)", rss, 16.0,
        higher_is_better=False)
    return out


def fmt(v, digits=1):
    if v is None:
        return "-"
    return "%.*f" % (digits, v)


def markdown(results):
    m = results["machine"]
    lines = ["# keyward benchmark", "",
             "%s; %s, %s cores, %s MiB, kernel %s; build %s; commit %s%s; "
             "load %s at start, %s at end." % (
                 m.get("date"), m.get("cpu"), m.get("cores"),
                 m.get("mem_total_mib"), m.get("kernel"),
                 m.get("buildtype"), (m.get("git_commit") or "?")[:12],
                 " (dirty)" if m.get("git_dirty") else "",
                 m.get("loadavg_start"), m.get("loadavg_end")),
             "",
             "Closed loop, %s s measured after %s s warm-up per row; one "
             "single-threaded epoll generator (bench/loadgen) for every "
             "target. Ratios are req/s over the same row of the other "
             "target at the same number of clients. Server CPU is the "
             "server process's utime+stime per answer (10 ms clock ticks, "
             "warm-up included)."
             % (results["config"]["seconds"], results["config"]["warmup"]),
             "",
             "| scenario | clients | req/s | p50 µs | p99 µs | p999 µs | "
             "x echo | x redis | x ssh-agent ids | server CPU µs/req | "
             "errors |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in results["scenarios"]:
        c = s["clients"]
        base = {}
        for name in ("echo", "redis GET 64B", "ssh-agent REQUEST_IDENTITIES"):
            b = find(results, name, c)
            base[name] = b["req_per_s"] if b else None
        lines.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | "
                     "%s |" % (
            s["scenario"], c, fmt(s.get("req_per_s"), 0),
            fmt(s.get("p50_us")), fmt(s.get("p99_us")),
            fmt(s.get("p999_us")),
            fmt(ratio(s.get("req_per_s"), base["echo"]), 2),
            fmt(ratio(s.get("req_per_s"), base["redis GET 64B"]), 2),
            fmt(ratio(s.get("req_per_s"),
                      base["ssh-agent REQUEST_IDENTITIES"]), 2),
            fmt(s.get("server_cpu_us_per_req")), s.get("errors", "-")))
    sod = results.get("sodium_verify")
    if sod:
        lines += ["", "libsodium `crypto_sign_verify_detached`, one core, "
                  "%d-byte message (the token's signing input): **%.0f "
                  "verifies/s**." % (sod["msg_bytes"], sod["verifies_per_s"])]
    pp = results.get("per_process")
    if pp:
        lines += ["", "## One process per fetch (%s)" % pp["tool"], "",
                  "| command | runs | mean ms | median ms | min ms | "
                  "x oneshot |", "|---|---:|---:|---:|---:|---:|"]
        for c in pp["commands"]:
            lines.append("| %s | %d | %s | %s | %s | %s |" % (
                c["name"], c["runs"], fmt(c["mean_ms"], 2),
                fmt(c["median_ms"], 2), fmt(c["min_ms"], 2),
                fmt(c.get("ratio_to_oneshot"), 2)))
    st = results.get("stdio")
    if st and ("mcp_rows" in st or "echo_rows" in st):
        lines += ["", "## stdio round trips through keyward run (%d "
                  "sequential requests, median of 3 rounds)"
                  % st["requests"], "",
                  "| server, command | mean µs | p50 µs | p99 µs | "
                  "+µs | x bare |",
                  "|---|---:|---:|---:|---:|---:|"]
        for r in st.get("mcp_rows", []) + st.get("echo_rows", []):
            lines.append("| %s | %s | %s | %s | %s | %s |" % (
                r["name"], fmt(r["mean_us"]), fmt(r["p50_us"]),
                fmt(r["p99_us"]), fmt(r.get("added_us")),
                fmt(r.get("ratio_to_bare"), 2)))
        if "mcp_skipped" in st:
            lines.append("")
            lines.append("MCP server not measured: %s" % st["mcp_skipped"])
    lines += ["", "## Scale (bench/scale.py)", ""]
    sc = results.get("scale", {})
    if "skipped" in sc or "failed" in sc:
        lines.append("Not measured: %s." % (sc.get("skipped")
                                             or sc.get("failed")))
    else:
        lines += ["| measurement | value |", "|---|---|"]
        for key, val in flatten(sc):
            lines.append("| %s | %s |" % (key, val))
    mem = results.get("keywardd_memory_end")
    if mem:
        lines += ["", "keywardd of this run after all scenarios: VmRSS %s "
                  "KiB, VmHWM %s KiB." % (mem.get("vmrss_kib"),
                                          mem.get("vmhwm_kib"))]
    lines += ["", "## Targets (issue 7)", "",
              "| target | wanted | measured | |", "|---|---|---:|---|"]
    for t in results["targets"]:
        mark = {True: "met", False: "**missed**", None: "not measured"}
        lines.append("| %s | %s | %s | %s |" % (
            t["target"], t["want"], fmt(t["measured"], 2), mark[t["met"]]))
    if results.get("perf_secret_get_16"):
        lines += ["", "## perf: keywardd during secret.get, 16 clients", "",
                  "```"] + results["perf_secret_get_16"] + ["```"]
    if results["notes"]:
        lines += ["", "Notes: " + "; ".join(results["notes"]) + "."]
    lines += ["", "Total run time %s s. Numbers from a shared or busy "
              "machine are rough; compare rows of one run, not runs."
              % results.get("total_seconds"), ""]
    return "\n".join(lines)


def flatten(obj, prefix=""):
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += flatten(v, "%s.%s" % (prefix, k) if prefix else k)
    elif isinstance(obj, list):
        if len(obj) <= 8 and all(not isinstance(v, (dict, list))
                                 for v in obj):
            out.append((prefix, json.dumps(obj)))
        else:
            for i, v in enumerate(obj):
                out += flatten(v, "%s[%d]" % (prefix, i))
    elif isinstance(obj, float):
        out.append((prefix, "%.3f" % obj))
    elif isinstance(obj, str):
        out.append((prefix, obj.replace("|", "\\|").replace("\n", " ")))
    else:
        out.append((prefix, json.dumps(obj)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build-bench"))
    ap.add_argument("--seconds", type=float,
                    default=float(os.environ.get("BENCH_SECONDS", "5")))
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "bench",
                                                      "results"))
    ap.add_argument("--no-scale", action="store_true",
                    help="do not run bench/scale.py")
    ap.add_argument("--perf", action="store_true",
                    help="perf record keywardd during secret.get, 16 "
                         "clients, and add the top symbols to the report")
    ap.add_argument("--keywardd-arg", action="append", default=[],
                    metavar="ARG",
                    help="pass ARG to keywardd (repeatable), e.g. "
                         "--no-sandbox to measure what its sandbox costs")
    args = ap.parse_args()
    if not 0.1 <= args.seconds <= 600 or not 0 <= args.warmup <= 60:
        ap.error("--seconds 0.1..600, --warmup 0..60")

    bench = Bench(args)

    def on_signal(sig, _frame):
        raise KeyboardInterrupt("signal %d" % sig)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        bench.run()
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        bench.cleanup()
        return 130
    except Exception as e:  # report, clean up, fail
        log("failed: %s" % e)
        bench.cleanup()
        return 1
    finally:
        bench.cleanup()

    os.makedirs(args.out_dir, exist_ok=True)
    jpath = os.path.join(args.out_dir, "latest.json")
    mpath = os.path.join(args.out_dir, "latest.md")
    with open(jpath, "w") as f:
        json.dump(bench.results, f, indent=2)
        f.write("\n")
    with open(mpath, "w") as f:
        f.write(markdown(bench.results))
    sys.stdout.write(markdown(bench.results))
    log("wrote %s and %s" % (jpath, mpath))
    if bench.failed:
        log("some scenarios failed (wrong answers or errors): see exit and "
            "stderr in latest.json")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
