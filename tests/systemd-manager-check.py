#!/usr/bin/env python3
"""Run keyward.service under a real systemd user manager and rotate through
it: a webhook: rotator (keyward-net's HTTP, AF_INET) and a command:
rotator written for node (a JIT), both run by the command spawner in
keyward-spawner.service while the agent's unit allows only AF_UNIX. Then
the same with two settings added to the spawner's unit (AF_UNIX only,
MemoryDenyWriteExecute=yes), where both must fail.

    sudo tests/systemd-manager-check.py BUILD

By hand, not in `make test`: it needs root, and on a machine whose PID 1 is
not systemd (the test containers) it starts a user manager in a private
mount namespace (a tmpfs over /run/systemd with an empty system/ in it,
which is how the manager decides systemd is running) inside control
groups of its own, created under this process's and removed at the end.
Never run it where it shares control groups with others: a user manager
moves every process of its root control group into its init.scope.

Prints one line per check and exits 0 when every check passed.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "integration"))

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
os.environ.setdefault("KW_BIN_KEYWARDD",
                      os.path.join(BUILD, "agent", "keywardd"))
os.environ.setdefault("KW_BIN_KEYWARD", os.path.join(BUILD, "cli", "keyward"))

import harness  # noqa: E402
from test_webhook import Receiver  # noqa: E402

NODE_ROTATOR = """#!/usr/bin/node
// A command: rotator on a JIT runtime: reads its JSON, accepts the value.
let input = "";
process.stdin.on("data", (d) => { input += d; });
process.stdin.on("end", () => {
  const step = JSON.parse(input).step;
  process.exit(step === "set" || step === "test" ? 0 : 1);
});
"""

OLD_SETTINGS = """[Service]
RestrictAddressFamilies=
RestrictAddressFamilies=AF_UNIX
MemoryDenyWriteExecute=yes
"""

failures = []


def check(what, ok, detail=""):
    print("%s: %s%s" % ("ok" if ok else "FAIL", what,
                        "" if ok or not detail else "\n    " + detail))
    if not ok:
        failures.append(what)


def cgroup_dirs(name):
    """A control group called name under this process's own, in every
    hierarchy mounted (v1 and v2)."""
    own = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            own[controllers] = path
    dirs = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            fstype, mnt, opts = fields[sep + 1], fields[4], fields[sep + 3]
            if fstype == "cgroup2":
                dirs.append(os.path.join(mnt + own.get("", "/"), name))
            elif fstype == "cgroup":
                for key, path in own.items():
                    ctl = set(key.split(","))
                    # cpuset takes no process before its cpus and mems
                    # are set; systemd leaves it alone anyway.
                    if key and "cpuset" not in ctl and \
                            ctl <= set(opts.split(",")):
                        dirs.append(os.path.join(mnt + path, name))
    return dirs


def remove_tree(path):
    for sub, _dirs, _files in sorted(os.walk(path), reverse=True):
        try:
            os.rmdir(sub)
        except OSError:
            pass


class Manager:

    def __init__(self, root, env):
        self.root = root
        self.rt = os.path.join(root, "rt")
        os.mkdir(self.rt, 0o700)
        self.cgroups = cgroup_dirs("kwsdcheck-%d" % os.getpid())
        for d in self.cgroups:
            os.makedirs(d, exist_ok=True)
        script = "".join("echo $$ > %s/cgroup.procs && " % d
                         for d in self.cgroups)
        script += ("mount -t tmpfs tmpfs /run/systemd && "
                   "mkdir /run/systemd/system && "
                   "exec /lib/systemd/systemd --user --unit=sockets.target")
        self.env = dict(env, XDG_RUNTIME_DIR=self.rt)
        self.log = open(os.path.join(root, "manager.log"), "wb")
        self.proc = harness.spawn(
            ["unshare", "-m", "--propagation", "private", "sh", "-c",
             script], self.env, stdout=self.log, stderr=self.log)
        ok = harness.poll_until(
            lambda: self.proc.poll() is not None or
            # (is-system-running says "offline" outside the namespace.)
            self.ctl("show", "-p", "SystemState").out.strip() in
            (b"SystemState=running", b"SystemState=degraded"), 30)
        if not ok or self.proc.poll() is not None:
            self.stop()
            raise SystemExit("the user manager did not start; see %s"
                             % self.log.name)

    def ctl(self, *args):
        return harness.run(["systemctl", "--user"] + list(args), self.env)

    def stop(self):
        if self.proc.poll() is None:
            self.ctl("stop", "keyward.socket", "keyward.service",
                     "keyward-spawner.socket")
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for d in self.cgroups:
            remove_tree(d)


def install_units(config_home):
    unit_dir = os.path.join(config_home, "systemd", "user")
    os.makedirs(unit_dir)
    opts = {o["name"]: o["value"] for o in json.loads(subprocess.check_output(
        ["meson", "introspect", BUILD, "--buildoptions"]))}
    configured = os.path.join(opts["prefix"], opts["bindir"], "keywardd")
    for name in ("keyward.service", "keyward.socket",
                 "keyward-spawner.service", "keyward-spawner.socket"):
        with open(os.path.join(BUILD, "packaging", name)) as f:
            text = f.read()
        text = text.replace("ExecStart=" + configured,
                            "ExecStart=" + harness.BIN_KEYWARDD)
        with open(os.path.join(unit_dir, name), "w") as f:
            f.write(text)
    return unit_dir


def rotate(cli_env, name):
    return harness.run([harness.BIN_KEYWARD, "rotate", name, "--wait",
                        "--max-wait", "60s"], cli_env)


def main():
    if os.geteuid() != 0:
        raise SystemExit("run as root (a mount namespace and control "
                         "groups)")
    # Not under /tmp: the unit's PrivateTmp= would hide the store there.
    root = tempfile.mkdtemp(prefix="kwsdcheck-", dir=BUILD)
    os.chmod(root, 0o755)
    work = os.path.join(root, "work")
    os.mkdir(work, 0o755)
    env = {k: v for k, v in os.environ.items()
                   if not k.startswith("KEYWARD_") and
                   k not in ("XDG_RUNTIME_DIR", "XDG_CONFIG_HOME")}
    env.update(HOME=work, XDG_CONFIG_HOME=os.path.join(work, ".config"))
    unit_dir = install_units(env["XDG_CONFIG_HOME"])
    mgr = Manager(root, env)
    rcv = Receiver()
    try:
        cli = dict(mgr.env)
        r = harness.run([harness.BIN_KEYWARD, "init"], cli)
        check("keyward init", r.rc == 0, repr(r))
        with open(os.path.join(work, ".mcp", "keyward.ini"), "a") as f:
            f.write("\n[rotation]\nmax_attempts = 1\n")
        r = mgr.ctl("start", "keyward.socket")
        check("systemctl --user start keyward.socket", r.rc == 0, repr(r))

        r = harness.run([harness.BIN_KEYWARD, "put", "hooks/key"], cli,
                        input=b"shared-hmac-key")
        check("put through the socket-activated agent", r.rc == 0, repr(r))
        for unit in ("keyward.service", "keyward-spawner.service"):
            r = mgr.ctl("show", unit, "-p", "MainPID",
                        "-p", "RestrictAddressFamilies",
                        "-p", "MemoryDenyWriteExecute", "-p", "ActiveState")
            print("    %s:\n    " % unit +
                  r.text.replace("\n", "\n    ").rstrip())
            check("%s is active" % unit, "ActiveState=active" in r.text,
                  r.text)
            if unit == "keyward.service":
                check("keyward.service allows AF_UNIX only",
                      "RestrictAddressFamilies=AF_UNIX\n" in r.text, r.text)

        bindir = os.path.join(work, "bin")
        os.mkdir(bindir, 0o755)
        node_rot = os.path.join(bindir, "node-rotator")
        with open(node_rot, "w") as f:
            f.write(NODE_ROTATOR)
        os.chmod(node_rot, 0o755)
        url = "http://127.0.0.1:%d/rotate" % rcv.port
        for args in (["app/hook", "--rotator", "webhook:" + url,
                      "--hmac-secret", "hooks/key", "--allow-private",
                      "--allow-insecure"],
                     ["app/node", "--rotator", "command:" + node_rot]):
            r = harness.run([harness.BIN_KEYWARD, "put", args[0]], cli,
                            input=b"v1")
            check("put " + args[0], r.rc == 0, repr(r))
            r = harness.run([harness.BIN_KEYWARD, "schedule"] + args[:1] +
                            ["--every", "30d"] + args[1:], cli)
            check("schedule " + args[0], r.rc == 0, repr(r))

        r = rotate(cli, "app/hook")
        check("webhook: rotation under keyward.service", r.rc == 0 and
              len(rcv.requests) == 2, "%r; requests %d" % (r,
                                                           len(rcv.requests)))
        r = rotate(cli, "app/node")
        check("node command: rotation under keyward.service", r.rc == 0,
              repr(r))

        # The agent's unit's two settings on the spawner's, as a drop-in:
        # both rotations fail. Restarting the agent ends the spawner (the
        # agent disconnects), and the agent's new connection starts a new
        # one under the drop-in.
        dropin = os.path.join(unit_dir, "keyward-spawner.service.d")
        os.mkdir(dropin)
        with open(os.path.join(dropin, "old.conf"), "w") as f:
            f.write(OLD_SETTINGS)
        mgr.ctl("daemon-reload")
        r = mgr.ctl("restart", "keyward.service")
        check("restart with the spawner under the agent's settings",
              r.rc == 0, repr(r))
        before = len(rcv.requests)
        r = rotate(cli, "app/hook")
        check("webhook: rotation fails with AF_UNIX only",
              r.rc != 0 and len(rcv.requests) == before, repr(r))
        r = rotate(cli, "app/node")
        check("node rotation fails with MemoryDenyWriteExecute=yes",
              r.rc != 0, repr(r))
        st = harness.run([harness.BIN_KEYWARD, "rotate", "--status",
                          "app/node"], cli)
        print("    " + st.text.replace("\n", "\n    ").rstrip())
    finally:
        rcv.close()
        mgr.stop()
        if failures:
            print("kept %s" % root)
        else:
            shutil.rmtree(root, ignore_errors=True)
    print("%d check(s) failed" % len(failures) if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
