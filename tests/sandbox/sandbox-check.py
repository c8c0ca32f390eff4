#!/usr/bin/env python3
"""Confinement proved, not assumed: probe (probe.c) applies each sandbox
profile of agent/base/sandbox.c, then tries one thing; this checks what
happened. Usage: sandbox-check.py PROBE

Exits 0 when every check holds, 1 on a failure, 77 (skip, which CI does
not accept) when the kernel lacks Landlock: the no_new_privs and seccomp
checks have then passed, the filesystem ones cannot run."""
import os
import signal
import socket
import subprocess
import sys
import tempfile

PROBE = sys.argv[1]
failures = []


def probe(profile, root, *args, expect_signal=None):
    """Run the probe; the line it printed, or "signal N"."""
    p = subprocess.run([PROBE, profile, root] + list(args),
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=60)
    if p.returncode < 0:
        return "signal %d" % -p.returncode, p.stderr
    if p.returncode != 0:
        return "exit %d" % p.returncode, p.stderr
    return p.stdout.strip(), p.stderr


def check(what, profile, root, args, want):
    got, err = probe(profile, root, *args)
    if got != want:
        failures.append("%s (%s %s): want %r, got %r; stderr: %s"
                        % (what, profile, " ".join(args), want, got,
                           err.strip()))
    else:
        print("ok   %-9s %s" % (profile, what))


def status_of_sandboxed(profile, root):
    """/proc/PID/status of a probe that has applied profile, read from
    outside (the net profile cannot read /proc itself)."""
    p = subprocess.Popen([PROBE, profile, root, "wait"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline().strip()
        if line != "ready":
            return None, p.stderr.read()
        with open("/proc/%d/status" % p.pid) as f:
            status = dict(ln.split(":", 1) for ln in f if ":" in ln)
        return {k: v.strip() for k, v in status.items()}, ""
    finally:
        p.stdin.close()
        p.wait(timeout=60)
        p.stdout.close()
        p.stderr.close()


def check_status(profile, root):
    st, err = status_of_sandboxed(profile, root)
    if st is None:
        failures.append("%s: probe did not get ready: %s" % (profile, err))
        return
    for key, want in (("NoNewPrivs", "1"), ("Seccomp", "2")):
        if st.get(key) != want:
            failures.append("%s: /proc/PID/status %s is %r, want %r"
                            % (profile, key, st.get(key), want))
        else:
            print("ok   %-9s %s: %s" % (profile, key, want))


def check_log(profile, root, abi):
    _, err = probe(profile, root, "thread")
    want = ("Landlock ABI %d" % abi) if abi else "Landlock absent"
    if ("sandbox %s: no_new_privs, seccomp (" % profile) not in err or \
            want not in err:
        failures.append("%s: log line lacks %r: %s" % (profile, want, err))
    else:
        print("ok   %-9s log says %s" % (profile, want))


def seccomp_checks(root):
    sigsys = "signal %d" % signal.SIGSYS
    for prof in ("keyholder", "net"):
        check("refused with two threads", prof, root, ["threaded"],
              "refused threads")
        check_status(prof, root)
        check("a thread starts", prof, root, ["thread"], "ok")
        check("execve is killed", prof, root, ["exec"], sigsys)
        check("unshare is killed", prof, root, ["unshare"], sigsys)
        check("unix socket", prof, root, ["socket", "unix"], "ok")
    check("no AF_INET socket", "keyholder", root, ["socket", "inet"],
          "errno EAFNOSUPPORT")
    check("no AF_INET6 socket", "keyholder", root, ["socket", "inet6"],
          "errno EAFNOSUPPORT")
    check("AF_INET socket", "net", root, ["socket", "inet"], "ok")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as lst:
        lst.bind(("127.0.0.1", 0))
        lst.listen(4)
        port = str(lst.getsockname()[1])
        check("no TCP", "keyholder", root, ["tcp", port],
              "errno EAFNOSUPPORT")
        check("TCP over loopback", "net", root, ["tcp", port], "ok")
        lst.settimeout(30)
        conn, _ = lst.accept()
        with conn:
            if conn.recv(1) != b"x":
                failures.append("net: the byte sent over TCP did not "
                                "arrive")


def landlock_checks(root):
    home = os.path.join(root, "home")
    secrets = os.path.join(home, "secrets.db")
    outside = os.path.join(root, "outside")
    kh = "keyholder"
    check("reads its home", kh, root, ["read", secrets], "ok")
    check("writes its home", kh, root,
          ["write", os.path.join(home, "new")], "ok")
    check("binds its socket", kh, root,
          ["unixbind", os.path.join(root, "run", "sock")], "ok")
    check("reads policies", kh, root,
          ["read", os.path.join(root, "policies", "p.ini")], "ok")
    check("policies are read-only", kh, root,
          ["write", os.path.join(root, "policies", "p.ini")],
          "errno EACCES")
    check("reads /proc/self/status", kh, root,
          ["read", "/proc/self/status"], "ok")
    check("reads /dev/urandom", kh, root, ["read", "/dev/urandom"], "ok")
    check("file outside refused", kh, root, ["read", outside],
          "errno EACCES")
    check("reads /etc/passwd (names in policies)", kh, root,
          ["read", "/etc/passwd"], "ok")
    check("/etc/hosts refused", kh, root, ["read", "/etc/hosts"],
          "errno EACCES")
    check("no new file outside", kh, root,
          ["write", os.path.join(root, "made")], "errno EACCES")
    check("CA bundle refused", kh, root, ["list", "/etc/ssl/certs"],
          "errno EACCES")
    check("secrets.db refused", "net", root, ["read", secrets],
          "errno EACCES")
    check("home not listed", "net", root, ["list", home], "errno EACCES")
    check("/etc/passwd refused", "net", root, ["read", "/etc/passwd"],
          "errno EACCES")
    check("no file written", "net", root,
          ["write", os.path.join(root, "made")], "errno EACCES")
    check("reads the CA bundle", "net", root, ["list", "/etc/ssl/certs"],
          "ok")
    check("reads /etc/hosts", "net", root, ["read", "/etc/hosts"], "ok")
    check("reads /dev/urandom", "net", root, ["read", "/dev/urandom"],
          "ok")


def main():
    with tempfile.TemporaryDirectory(prefix="kw-sandbox-") as root:
        for d in ("home", "run", "policies"):
            os.mkdir(os.path.join(root, d), 0o700)
        for f in ("home/secrets.db", "policies/p.ini", "outside"):
            with open(os.path.join(root, f), "w") as fh:
                fh.write("not a secret\n")
        got, err = probe("keyholder", root, "abi")
        abi = int(got)
        print("Landlock ABI offered by the kernel: %d" % abi)
        seccomp_checks(root)
        check_log("keyholder", root, abi)
        check_log("net", root, abi)
        if abi > 0:
            landlock_checks(root)
    for f in failures:
        print("FAIL " + f)
    if failures:
        return 1
    if abi == 0:
        print("SKIP the filesystem checks: this kernel lacks Landlock "
              "(no_new_privs and seccomp checks passed)")
        return 77
    return 0


if __name__ == "__main__":
    sys.exit(main())
