"""The systemd units as built (BUILD/packaging): `systemd-analyze verify`
of each with keywardd's path put in, the properties that decide whether
the shipped rotators can work under them and whether systemd stops
restarting an agent that cannot start, and socket activation through
`systemd-socket-activate` with each service's own ExecStart (the agent's
connecting to its command spawner's, started the same way).

No service manager runs here (the test machines are containers without
one), so the sandbox itself is not applied: tests/systemd-manager-check.py
does that by hand, as root. packaging/README.md says what the units allow
and what was checked where."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import unittest

from harness import (BIN_KEYWARD, BIN_KEYWARDD, DaemonTestCase,
                     START_DEADLINE_S, STOP_DEADLINE_S, poll_until, run,
                     spawn)
from test_lifecycle import (EXIT_AGENT_CONFIG, EXIT_AGENT_DATAERR,
                            EXIT_AGENT_NOPERM, EXIT_AGENT_USAGE)

UNIT_DIR = os.environ.get("KW_UNIT_DIR", "")
# Where meson's configuration put keywardd (the install's bindir).
UNIT_BINDIR = os.environ.get("KW_UNIT_BINDIR", "")
SOURCE_ROOT = os.environ.get("KW_SOURCE_ROOT", "")

USER_UNITS = ("keyward.service", "keyward.socket",
              "keyward-spawner.service", "keyward-spawner.socket")
SYSTEM_UNITS = ("keywardd@.service", "keywardd@.socket",
                "keywardd-spawner@.service", "keywardd-spawner@.socket")
# The agent's services (the key holder, Unix sockets only) and the command
# spawner's (the command: rotators and keyward-net, which need the
# network).
AGENTS = ("keyward.service", "keywardd@.service")
SPAWNERS = ("keyward-spawner.service", "keywardd-spawner@.service")
SERVICES = AGENTS + SPAWNERS


def parse_unit(path):
    """[(section, key, value)] in file order; a key may repeat."""
    out = []
    section = None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1]
                continue
            key, sep, value = line.partition("=")
            assert sep and section, "%s: not a unit line: %r" % (path, line)
            out.append((section, key.strip(), value.strip()))
    return out


def values(unit, section, key):
    return [v for s, k, v in unit if s == section and k == key]


def one(unit, section, key):
    found = values(unit, section, key)
    assert len(found) == 1, "%s= set %d times" % (key, len(found))
    return found[0]


def unit_path(name):
    return os.path.join(UNIT_DIR, name)


def configured_keywardd():
    return os.path.join(UNIT_BINDIR, "keywardd")


class Units(unittest.TestCase):

    def setUp(self):
        for var, value in (("KW_UNIT_DIR", UNIT_DIR),
                           ("KW_UNIT_BINDIR", UNIT_BINDIR),
                           ("KW_SOURCE_ROOT", SOURCE_ROOT)):
            self.assertTrue(value, "%s is not set (meson sets it)" % var)
        self.units = {name: parse_unit(unit_path(name))
                      for name in USER_UNITS + SYSTEM_UNITS}


class Verify(Units):
    """systemd-analyze verify, with ExecStart pointing at the keywardd
    just built (verify needs the binary to exist). Any output is a
    finding: verify exits 0 on unknown keys and unparsable values."""

    def copy_units(self, names):
        tmp = tempfile.mkdtemp(prefix="kwsd-", dir="/tmp")
        self.addCleanup(shutil.rmtree, tmp, True)
        paths = []
        for name in names:
            with open(unit_path(name)) as f:
                text = f.read()
            self.assertNotIn("@bindir@", text, name)
            text = text.replace("ExecStart=%s" % configured_keywardd(),
                                "ExecStart=%s" % BIN_KEYWARDD)
            paths.append(os.path.join(tmp, name))
            with open(paths[-1], "w") as f:
                f.write(text)
        return tmp, paths

    def verify(self, names, user):
        tmp, paths = self.copy_units(names)
        return self.verify_paths(tmp, paths, user)

    def verify_paths(self, tmp, paths, user):
        # HOME and XDG_CONFIG_HOME in tmp: units of the machine's own user
        # cannot add warnings (the system's may; none do on Debian 12).
        env = dict(os.environ, SYSTEMD_LOG_COLOR="0", HOME=tmp,
                   XDG_CONFIG_HOME=os.path.join(tmp, "config"))
        argv = ["systemd-analyze", "verify", "--man=no"]
        if user:
            # The user manager verify imitates wants a runtime directory.
            rt = os.path.join(tmp, "rt")
            os.mkdir(rt, 0o700)
            env["XDG_RUNTIME_DIR"] = rt
            argv.append("--user")
        return run(argv + paths, env)

    def assertClean(self, r):
        self.assertEqual(r.rc, 0, r)
        self.assertEqual((r.out.decode() + r.err).strip(), "", r)

    def test_user_units(self):
        self.assertClean(self.verify(USER_UNITS, user=True))

    def test_system_units(self):
        self.assertClean(self.verify(SYSTEM_UNITS, user=False))

    def test_verify_reports_mistakes(self):
        """The check above can fail: a misspelt key and a family systemd
        does not know are reported."""
        tmp, paths = self.copy_units(USER_UNITS)
        with open(paths[0], "a") as f:
            f.write("[Service]\nRestrictAdressFamilies=AF_UNIX\n"
                    "RestrictAddressFamilies=AF_NOSUCH\n")
        r = self.verify_paths(tmp, paths, user=True)
        self.assertIn("RestrictAdressFamilies", r.err, r)
        self.assertIn("AF_NOSUCH", r.err, r)

    def test_documentation_pages_exist(self):
        for name, unit in self.units.items():
            for doc in values(unit, "Unit", "Documentation"):
                self.assertTrue(doc.startswith("man:"), doc)
                page, _, sect = doc[4:].rstrip(")").partition("(")
                path = os.path.join(SOURCE_ROOT, "packaging", "man",
                                    "%s.%s" % (page, sect))
                self.assertTrue(os.path.exists(path),
                                "%s: %s has no page %s" % (name, doc, path))


class Properties(Units):
    """What packaging/README.md ("The sandbox", "System-wide instances")
    promises, read from the units as built."""

    def test_network_for_rotators(self):
        # webhook: rotators (keyward-net) and command: rotators that call
        # an API run in the spawner's unit and need IPv4 and IPv6; nothing
        # else beyond Unix sockets. The agent's unit runs only the key
        # holder, which makes no network connection.
        for name in SPAWNERS:
            families = one(self.units[name], "Service",
                           "RestrictAddressFamilies").split()
            self.assertEqual(sorted(families),
                             ["AF_INET", "AF_INET6", "AF_UNIX"], name)
        for name in AGENTS:
            families = one(self.units[name], "Service",
                           "RestrictAddressFamilies").split()
            self.assertEqual(families, ["AF_UNIX"], name)

    def test_jit_allowed(self):
        # MemoryDenyWriteExecute= would stop node or java rotators, which
        # run in the spawner's unit.
        for name in SPAWNERS:
            self.assertEqual(values(self.units[name], "Service",
                                    "MemoryDenyWriteExecute"), [], name)

    def test_restart_stops_for_what_a_restart_cannot_fix(self):
        # keywardd's statuses for a bad command line, store data, modes
        # and configuration (test_lifecycle checks keywardd gives them).
        for name in AGENTS:
            unit = self.units[name]
            self.assertEqual(one(unit, "Service", "Restart"), "on-failure")
            listed = one(unit, "Service", "RestartPreventExitStatus")
            self.assertEqual(sorted(int(x) for x in listed.split()),
                             sorted([EXIT_AGENT_USAGE, EXIT_AGENT_DATAERR,
                                     EXIT_AGENT_NOPERM, EXIT_AGENT_CONFIG]),
                             name)

    def test_spawner_not_restarted(self):
        # The spawner serves one agent and exits when it disconnects; the
        # agent's next start connects again and the socket starts a new
        # spawner. A Restart= would start one that no agent is waiting
        # for, and RestartPreventExitStatus= would mean nothing.
        for name in SPAWNERS:
            unit = self.units[name]
            for key in ("Restart", "RestartSec", "RestartPreventExitStatus"):
                with self.subTest(unit=name, key=key):
                    self.assertEqual(values(unit, "Service", key), [])
            self.assertEqual(one(unit, "Service", "ExecStart"),
                             configured_keywardd() + " --spawner", name)
            self.assertEqual(one(unit, "Service", "Type"), "simple", name)

    def test_hardening_kept(self):
        for name in SERVICES:
            unit = self.units[name]
            for key, want in (("NoNewPrivileges", "yes"),
                              ("LimitCORE", "0"),
                              ("UMask", "0077"),
                              ("ProtectSystem", "strict"),
                              ("PrivateTmp", "yes"),
                              ("KillMode", "control-group"),
                              ("LockPersonality", "yes"),
                              ("RestrictNamespaces", "yes"),
                              ("RestrictRealtime", "yes"),
                              ("RestrictSUIDSGID", "yes"),
                              ("SystemCallArchitectures", "native"),
                              ("SystemCallErrorNumber", "EPERM")):
                with self.subTest(unit=name, key=key):
                    self.assertEqual(one(unit, "Service", key), want)
            self.assertEqual(values(unit, "Service", "SystemCallFilter"),
                             ["@system-service", "~@privileged"], name)

    def assertSpawnerSocket(self, svc, sock_ref, listen):
        """The agent's service requires and follows the spawner's socket
        (sock_ref, as the agent's unit names it) and its service, and
        tells keywardd the socket's path; the socket is a SOCK_SEQPACKET
        one that only its owner can reach, passed to one spawner
        (Accept=no), and has no [Install] section (the agent's Requires=
        starts it)."""
        svc_ref = sock_ref[:-len(".socket")] + ".service"
        sock = self.units[sock_ref.replace("%i", "")]
        spawner = self.units[svc_ref.replace("%i", "")]
        self.assertIn(sock_ref, one(svc, "Unit", "Requires").split())
        after = " ".join(values(svc, "Unit", "After")).split()
        self.assertIn(sock_ref, after)
        self.assertIn(svc_ref, after)
        self.assertEqual(values(svc, "Service", "Environment"),
                         ["KEYWARD_SPAWNER_SOCKET=" + listen])
        for key, want in (("ListenSequentialPacket", listen),
                          ("SocketMode", "0600"),
                          ("Accept", "no"),
                          ("RemoveOnStop", "yes")):
            with self.subTest(socket=sock_ref, key=key):
                self.assertEqual(one(sock, "Socket", key), want)
        self.assertEqual(values(sock, "Socket", "ListenStream"), [])
        self.assertEqual([k for s, k, v in sock if s == "Install"], [])
        self.assertEqual(one(spawner, "Unit", "Requires"), sock_ref)
        self.assertEqual(one(spawner, "Unit", "After"), sock_ref)

    def test_user_pair(self):
        svc = self.units["keyward.service"]
        sock = self.units["keyward.socket"]
        self.assertEqual(one(svc, "Service", "ExecStart"),
                         configured_keywardd())
        self.assertEqual(one(svc, "Service", "ReadWritePaths"),
                         "-%h/.mcp")
        self.assertEqual(one(svc, "Unit", "Requires").split()[0],
                         "keyward.socket")
        self.assertEqual(one(sock, "Socket", "ListenStream"),
                         "%t/keyward/agent.sock")
        self.assertEqual(one(sock, "Socket", "SocketMode"), "0600")
        self.assertEqual(one(sock, "Socket", "DirectoryMode"), "0700")
        self.assertSpawnerSocket(svc, "keyward-spawner.socket",
                                 "%t/keyward/spawner.sock")
        # The spawner's unit keeps the view commands had in the agent's.
        self.assertEqual(one(self.units["keyward-spawner.service"], "Service",
                             "ReadWritePaths"), "-%h/.mcp")
        self.assertEqual(one(self.units["keyward-spawner.socket"], "Socket",
                             "DirectoryMode"), "0700")

    def test_system_pair(self):
        svc = self.units["keywardd@.service"]
        sock = self.units["keywardd@.socket"]
        spawner = self.units["keywardd-spawner@.service"]
        self.assertEqual(one(svc, "Service", "ExecStart"),
                         configured_keywardd() + " --home %S/keyward/%i")
        for key, want in (("User", "keyward"), ("Group", "keyward"),
                          ("StateDirectory", "keyward/%i"),
                          ("StateDirectoryMode", "0700"),
                          ("CapabilityBoundingSet", ""),
                          ("AmbientCapabilities", ""),
                          ("ProtectHome", "yes"),
                          ("PrivateDevices", "yes")):
            with self.subTest(key=key):
                self.assertEqual(one(svc, "Service", key), want)
        # The spawner runs as the agent's user (it refuses a peer of
        # another uid, and keywardd one of another uid), with the same
        # system-unit sandbox; the store is not its StateDirectory=.
        for key, want in (("User", "keyward"), ("Group", "keyward"),
                          ("ReadWritePaths", "-%S/keyward/%i"),
                          ("CapabilityBoundingSet", ""),
                          ("AmbientCapabilities", ""),
                          ("ProtectHome", "yes"),
                          ("PrivateDevices", "yes"),
                          ("ProtectKernelTunables", "yes"),
                          ("ProtectKernelModules", "yes"),
                          ("ProtectKernelLogs", "yes"),
                          ("ProtectControlGroups", "yes"),
                          ("ProtectClock", "yes"),
                          ("ProtectHostname", "yes"),
                          ("RemoveIPC", "yes")):
            with self.subTest(unit="keywardd-spawner@.service", key=key):
                self.assertEqual(one(spawner, "Service", key), want)
        self.assertEqual(values(spawner, "Service", "StateDirectory"), [])
        # keywardd reads its peers' /proc/PID: no ProtectProc=invisible,
        # no ProcSubset=pid (which hides the boot id rotation needs).
        self.assertEqual(values(svc, "Service", "ProtectProc"), [])
        self.assertEqual(values(svc, "Service", "ProcSubset"), [])
        self.assertEqual(one(svc, "Unit", "Requires").split()[0],
                         "keywardd@%i.socket")
        self.assertSpawnerSocket(svc, "keywardd-spawner@%i.socket",
                                 "%t/keyward/%i/spawner.sock")
        spawner_sock = self.units["keywardd-spawner@.socket"]
        for key, want in (("SocketUser", "keyward"),
                          ("SocketGroup", "keyward"),
                          ("DirectoryMode", one(sock, "Socket",
                                                "DirectoryMode"))):
            with self.subTest(socket="keywardd-spawner@.socket", key=key):
                self.assertEqual(one(spawner_sock, "Socket", key), want)
        for key, want in (("ListenStream", "%t/keyward/%i/agent.sock"),
                          ("SocketUser", "keyward"),
                          ("SocketGroup", "keyward-%i"),
                          ("SocketMode", "0660"),
                          ("RemoveOnStop", "yes")):
            with self.subTest(key=key):
                self.assertEqual(one(sock, "Socket", key), want)

    def test_sysusers_declares_the_user(self):
        path = os.path.join(SOURCE_ROOT, "packaging", "systemd",
                            "keyward.sysusers.conf")
        with open(path) as f:
            lines = [l.split() for l in f
                     if l.strip() and not l.startswith("#")]
        self.assertEqual([l[:3] for l in lines], [["u", "keyward", "-"]])


class Installed(Units):
    """meson install puts the units where systemd looks under the prefix
    (PREFIX/lib/systemd/{user,system}; /usr/local/lib is searched too)."""

    def test_install_paths(self):
        build = os.path.dirname(UNIT_DIR)
        r = run(["meson", "introspect", build, "--installed"], os.environ)
        self.assertEqual(r.rc, 0, r)
        installed = {os.path.basename(src): dst
                     for src, dst in json.loads(r.out).items()}
        prefix = os.path.dirname(UNIT_BINDIR.rstrip("/"))
        lib = os.path.join(prefix, "lib")
        want = {name: "systemd/user/" + name for name in USER_UNITS}
        want.update({name: "systemd/system/" + name
                     for name in SYSTEM_UNITS})
        want["keyward.sysusers.conf"] = "sysusers.d/keyward.conf"
        self.assertEqual(len(want), 9)
        for name, rel in want.items():
            self.assertEqual(installed.get(name), os.path.join(lib, rel),
                             name)


def expand(text, specifiers):
    for spec, value in specifiers.items():
        text = text.replace(spec, value)
    return text


class SocketActivation(DaemonTestCase):
    """Each agent service's own ExecStart (specifiers filled in, keywardd
    the one just built) started by systemd-socket-activate on its socket
    unit's ListenStream, with only the environment a service manager
    gives (the unit's Environment= included): the first client's
    connection starts it, keywardd serves the socket it was passed
    (LISTEN_FDS=1), put and get work through it, and SIGTERM exits 0 and
    leaves the socket to systemd. The command spawner's service is started
    the same way on its socket unit's ListenSequentialPacket (Accept=no,
    systemd-socket-activate's default): keywardd connects to it, as the
    unit's KEYWARD_SPAWNER_SOCKET says, instead of forking one, and it
    exits 0 once the agent is gone."""

    INIT = False
    START = False

    def exec_start(self, service, specifiers):
        line = one(parse_unit(unit_path(service)), "Service", "ExecStart")
        argv = expand(line, specifiers).split()
        self.assertEqual(argv[0], configured_keywardd())
        return [BIN_KEYWARDD] + argv[1:]

    def unit_env(self, service, specifiers):
        """The service's Environment= assignments, specifiers filled in
        (each line here is one NAME=VALUE, without quotes)."""
        env = {}
        for line in values(parse_unit(unit_path(service)), "Service",
                           "Environment"):
            key, sep, value = expand(line, specifiers).partition("=")
            self.assertTrue(sep, line)
            env[key] = value
        return env

    def listen_path(self, socket_unit, specifiers, key="ListenStream"):
        return expand(one(parse_unit(unit_path(socket_unit)), "Socket",
                          key), specifiers)

    def activate(self, argv, listen, env, name="activated", options=()):
        """systemd-socket-activate listening on listen, passing env only;
        its output goes to WORK/name.log."""
        log = os.path.join(self.h.work, name + ".log")
        logfd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        setenv = []
        for key, value in env.items():
            setenv += ["-E", "%s=%s" % (key, value)]
        try:
            proc = spawn(["systemd-socket-activate"] + list(options) +
                         ["-l", listen] + setenv + argv, env,
                         stdin=subprocess.DEVNULL, stdout=logfd,
                         stderr=logfd)
        finally:
            os.close(logfd)
        self.addCleanup(self.stop, proc)
        self.assertTrue(poll_until(
            lambda: os.path.exists(listen) or proc.poll() is not None,
            START_DEADLINE_S), "no socket at %s" % listen)
        self.assertIsNone(proc.poll(), self.read(log))
        return proc, log

    def activate_spawner(self, service, socket_unit, specifiers, env):
        """The spawner's ExecStart under systemd-socket-activate
        --seqpacket on its socket unit's path; nothing is exec'd until
        keywardd connects."""
        argv = self.exec_start(service, specifiers)
        self.assertEqual(argv[1:], ["--spawner"])
        listen = self.listen_path(socket_unit, specifiers,
                                  "ListenSequentialPacket")
        proc, log = self.activate(argv, listen, env, "spawner",
                                  ["--seqpacket"])
        return proc, log, listen

    def stop(self, proc):
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    def read(self, path):
        with open(path, errors="replace") as f:
            return f.read()

    def ppid(self, pid):
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("PPid:"):
                    return int(line.split()[1])
        self.fail("no PPid in /proc/%d/status" % pid)

    def round_trip(self, proc, log, listen, cli_env, spawner):
        spawner_proc, spawner_log = spawner
        value = os.urandom(24).hex().encode()
        r = run([BIN_KEYWARD, "put", "sa/x"], cli_env, input=value)
        self.assertEqual(r.rc, 0, "%r\n%s\n%s" % (r, self.read(log),
                                                  self.read(spawner_log)))
        r = run([BIN_KEYWARD, "get", "sa/x"], cli_env)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.out, value)
        text = self.read(log)
        self.assertIn("using the socket passed by systemd (%s)" % listen,
                      text)
        # Exec'd in place, so LISTEN_PID was its own pid.
        self.assertEqual(os.path.realpath("/proc/%d/exe" % proc.pid),
                         os.path.realpath(BIN_KEYWARDD))
        # keywardd connected to the spawner's socket (that is what made
        # systemd-socket-activate exec keywardd --spawner in place), and
        # the spawner is not its child: its parent is this test, as a
        # spawner's is the service manager.
        self.assertTrue(poll_until(
            lambda: os.path.realpath("/proc/%d/exe" % spawner_proc.pid) ==
            os.path.realpath(BIN_KEYWARDD) or spawner_proc.poll() is not None,
            START_DEADLINE_S), self.read(spawner_log))
        self.assertIsNone(spawner_proc.poll(), self.read(spawner_log))
        self.assertEqual(os.path.realpath("/proc/%d/exe" % spawner_proc.pid),
                         os.path.realpath(BIN_KEYWARDD))
        self.assertNotEqual(self.ppid(spawner_proc.pid), proc.pid)
        self.assertEqual(self.ppid(spawner_proc.pid), os.getpid())
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=STOP_DEADLINE_S), 0, text)
        self.assertTrue(os.path.exists(listen),
                        "keywardd removed the socket systemd made")
        # The agent disconnected: the spawner ends what it started and
        # exits 0.
        self.assertEqual(spawner_proc.wait(timeout=STOP_DEADLINE_S), 0,
                         self.read(spawner_log))
        self.assertNotIn(value.decode(), self.read(log))
        self.assertNotIn(value.decode(), self.read(spawner_log))

    def test_user_unit(self):
        # The user manager gives HOME, XDG_RUNTIME_DIR, USER and PATH; the
        # store is ~/.mcp and clients find the socket through
        # XDG_RUNTIME_DIR, as packaging/README.md describes.
        rt = os.path.join(self.h.root, "rt")
        os.mkdir(rt, 0o700)
        spec = {"%t": rt, "%h": self.h.work}
        listen = self.listen_path("keyward.socket", spec)
        os.mkdir(os.path.dirname(listen), 0o700)  # DirectoryMode=0700
        env = {"HOME": self.h.work, "XDG_RUNTIME_DIR": rt,
               "USER": "kwtest", "PATH": os.environ.get("PATH", "/usr/bin")}
        cli_env = dict(self.h.env, XDG_RUNTIME_DIR=rt)
        del cli_env["KEYWARD_HOME"], cli_env["KEYWARD_SOCKET"]
        r = run([BIN_KEYWARD, "init"], cli_env)
        self.assertEqual(r.rc, 0, r)
        spawner_proc, spawner_log, spawner_listen = self.activate_spawner(
            "keyward-spawner.service", "keyward-spawner.socket", spec, env)
        self.assertEqual(os.path.dirname(spawner_listen),
                         os.path.dirname(listen))
        agent_env = dict(env, **self.unit_env("keyward.service", spec))
        self.assertEqual(agent_env["KEYWARD_SPAWNER_SOCKET"], spawner_listen)
        argv = self.exec_start("keyward.service", spec)
        proc, log = self.activate(argv, listen, agent_env)
        self.round_trip(proc, log, listen, cli_env,
                        (spawner_proc, spawner_log))

    def test_system_instance(self):
        # The instance's store made as packaging/README.md says (there as
        # the keyward user), ExecStart given only PATH and the unit's
        # Environment=: --home is all it needs besides the spawner.
        state = os.path.join(self.h.root, "state")
        run_dir = os.path.join(self.h.root, "run")
        os.mkdir(state, 0o755)
        os.mkdir(run_dir, 0o755)
        spec = {"%S": state, "%t": run_dir, "%i": "demo"}
        home = os.path.join(state, "keyward", "demo")
        os.mkdir(os.path.dirname(home), 0o755)
        os.mkdir(home, 0o700)  # StateDirectoryMode=0700
        listen = self.listen_path("keywardd@.socket", spec)
        os.makedirs(os.path.dirname(listen), 0o755)  # DirectoryMode=0755
        cli_env = dict(self.h.env, KEYWARD_HOME=home, KEYWARD_SOCKET=listen)
        r = run([BIN_KEYWARD, "init"], cli_env)
        self.assertEqual(r.rc, 0, r)
        env = {"PATH": os.environ.get("PATH", "/usr/bin")}
        spawner_proc, spawner_log, spawner_listen = self.activate_spawner(
            "keywardd-spawner@.service", "keywardd-spawner@.socket", spec,
            env)
        self.assertEqual(os.path.dirname(spawner_listen),
                         os.path.dirname(listen))
        agent_env = dict(env, **self.unit_env("keywardd@.service", spec))
        self.assertEqual(agent_env["KEYWARD_SPAWNER_SOCKET"], spawner_listen)
        argv = self.exec_start("keywardd@.service", spec)
        self.assertEqual(argv[1:], ["--home", home])
        proc, log = self.activate(argv, listen, agent_env)
        self.round_trip(proc, log, listen, cli_env,
                        (spawner_proc, spawner_log))


if __name__ == "__main__":
    unittest.main()
