"""The systemd units as built (BUILD/packaging): `systemd-analyze verify`
of each with keywardd's path put in, the properties that decide whether
the shipped rotators can work under them and whether systemd stops
restarting an agent that cannot start, and socket activation through
`systemd-socket-activate` with each service's own ExecStart.

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

USER_UNITS = ("keyward.service", "keyward.socket")
SYSTEM_UNITS = ("keywardd@.service", "keywardd@.socket")
SERVICES = ("keyward.service", "keywardd@.service")


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
        # webhook: rotators and command: rotators that call an API need
        # IPv4 and IPv6; nothing else beyond Unix sockets.
        for name in SERVICES:
            families = one(self.units[name], "Service",
                           "RestrictAddressFamilies").split()
            self.assertEqual(sorted(families),
                             ["AF_INET", "AF_INET6", "AF_UNIX"], name)

    def test_jit_allowed(self):
        # MemoryDenyWriteExecute= would stop node or java rotators.
        for name in SERVICES:
            self.assertEqual(values(self.units[name], "Service",
                                    "MemoryDenyWriteExecute"), [], name)

    def test_restart_stops_for_what_a_restart_cannot_fix(self):
        # keywardd's statuses for a bad command line, store data, modes
        # and configuration (test_lifecycle checks keywardd gives them).
        for name in SERVICES:
            unit = self.units[name]
            self.assertEqual(one(unit, "Service", "Restart"), "on-failure")
            listed = one(unit, "Service", "RestartPreventExitStatus")
            self.assertEqual(sorted(int(x) for x in listed.split()),
                             sorted([EXIT_AGENT_USAGE, EXIT_AGENT_DATAERR,
                                     EXIT_AGENT_NOPERM, EXIT_AGENT_CONFIG]),
                             name)

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

    def test_user_pair(self):
        svc = self.units["keyward.service"]
        sock = self.units["keyward.socket"]
        self.assertEqual(one(svc, "Service", "ExecStart"),
                         configured_keywardd())
        self.assertEqual(one(svc, "Service", "ReadWritePaths"),
                         "-%h/.mcp")
        self.assertEqual(one(svc, "Unit", "Requires"), "keyward.socket")
        self.assertEqual(one(sock, "Socket", "ListenStream"),
                         "%t/keyward/agent.sock")
        self.assertEqual(one(sock, "Socket", "SocketMode"), "0600")
        self.assertEqual(one(sock, "Socket", "DirectoryMode"), "0700")

    def test_system_pair(self):
        svc = self.units["keywardd@.service"]
        sock = self.units["keywardd@.socket"]
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
        # keywardd reads its peers' /proc/PID: no ProtectProc=invisible,
        # no ProcSubset=pid (which hides the boot id rotation needs).
        self.assertEqual(values(svc, "Service", "ProtectProc"), [])
        self.assertEqual(values(svc, "Service", "ProcSubset"), [])
        self.assertEqual(one(svc, "Unit", "Requires"), "keywardd@%i.socket")
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
        want = {"keyward.service": "systemd/user/keyward.service",
                "keyward.socket": "systemd/user/keyward.socket",
                "keywardd@.service": "systemd/system/keywardd@.service",
                "keywardd@.socket": "systemd/system/keywardd@.socket",
                "keyward.sysusers.conf": "sysusers.d/keyward.conf"}
        for name, rel in want.items():
            self.assertEqual(installed.get(name), os.path.join(lib, rel),
                             name)


def expand(text, specifiers):
    for spec, value in specifiers.items():
        text = text.replace(spec, value)
    return text


class SocketActivation(DaemonTestCase):
    """Each service's own ExecStart (specifiers filled in, keywardd the one
    just built) started by systemd-socket-activate on its socket unit's
    ListenStream, with only the environment a service manager gives: the
    first client's connection starts it, keywardd serves the socket it was
    passed (LISTEN_FDS=1), put and get work through it, and SIGTERM exits
    0 and leaves the socket to systemd."""

    INIT = False
    START = False

    def exec_start(self, service, specifiers):
        line = one(parse_unit(unit_path(service)), "Service", "ExecStart")
        argv = expand(line, specifiers).split()
        self.assertEqual(argv[0], configured_keywardd())
        return [BIN_KEYWARDD] + argv[1:]

    def listen_path(self, socket_unit, specifiers):
        return expand(one(parse_unit(unit_path(socket_unit)), "Socket",
                          "ListenStream"), specifiers)

    def activate(self, argv, listen, env):
        """systemd-socket-activate listening on listen, passing env only."""
        log = os.path.join(self.h.work, "activated.log")
        logfd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        setenv = []
        for key, value in env.items():
            setenv += ["-E", "%s=%s" % (key, value)]
        try:
            proc = spawn(["systemd-socket-activate", "-l", listen] + setenv +
                         argv, env, stdin=subprocess.DEVNULL, stdout=logfd,
                         stderr=logfd)
        finally:
            os.close(logfd)
        self.addCleanup(self.stop, proc)
        self.assertTrue(poll_until(
            lambda: os.path.exists(listen) or proc.poll() is not None,
            START_DEADLINE_S), "no socket at %s" % listen)
        self.assertIsNone(proc.poll(), self.read(log))
        return proc, log

    def stop(self, proc):
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    def read(self, path):
        with open(path, errors="replace") as f:
            return f.read()

    def round_trip(self, proc, log, listen, cli_env):
        value = os.urandom(24).hex().encode()
        r = run([BIN_KEYWARD, "put", "sa/x"], cli_env, input=value)
        self.assertEqual(r.rc, 0, "%r\n%s" % (r, self.read(log)))
        r = run([BIN_KEYWARD, "get", "sa/x"], cli_env)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.out, value)
        text = self.read(log)
        self.assertIn("using the socket passed by systemd (%s)" % listen,
                      text)
        # Exec'd in place, so LISTEN_PID was its own pid.
        self.assertEqual(os.path.realpath("/proc/%d/exe" % proc.pid),
                         os.path.realpath(BIN_KEYWARDD))
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=STOP_DEADLINE_S), 0, text)
        self.assertTrue(os.path.exists(listen),
                        "keywardd removed the socket systemd made")
        self.assertNotIn(value.decode(), self.read(log))

    def test_user_unit(self):
        # The user manager gives HOME, XDG_RUNTIME_DIR, USER and PATH; the
        # store is ~/.mcp and clients find the socket through
        # XDG_RUNTIME_DIR, as packaging/README.md describes.
        rt = os.path.join(self.h.root, "rt")
        os.mkdir(rt, 0o700)
        listen = self.listen_path("keyward.socket", {"%t": rt})
        os.mkdir(os.path.dirname(listen), 0o700)  # DirectoryMode=0700
        env = {"HOME": self.h.work, "XDG_RUNTIME_DIR": rt,
               "USER": "kwtest", "PATH": os.environ.get("PATH", "/usr/bin")}
        cli_env = dict(self.h.env, XDG_RUNTIME_DIR=rt)
        del cli_env["KEYWARD_HOME"], cli_env["KEYWARD_SOCKET"]
        r = run([BIN_KEYWARD, "init"], cli_env)
        self.assertEqual(r.rc, 0, r)
        argv = self.exec_start("keyward.service", {"%h": self.h.work})
        proc, log = self.activate(argv, listen, env)
        self.round_trip(proc, log, listen, cli_env)

    def test_system_instance(self):
        # The instance's store made as packaging/README.md says (there as
        # the keyward user), ExecStart given only PATH: --home is all it
        # needs.
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
        argv = self.exec_start("keywardd@.service", spec)
        self.assertEqual(argv[1:], ["--home", home])
        proc, log = self.activate(
            argv, listen, {"PATH": os.environ.get("PATH", "/usr/bin")})
        self.round_trip(proc, log, listen, cli_env)


if __name__ == "__main__":
    unittest.main()
