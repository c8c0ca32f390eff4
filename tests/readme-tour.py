#!/usr/bin/env python3
"""Run README.md's "A short tour" as a reader would, against the build.

Usage: readme-tour.py BUILD_DIR SOURCE_DIR

Every ```sh block of the section, in order, becomes one bash script that
stops at the first command that fails. It runs in a scratch directory
that holds `build` (a link to BUILD_DIR) and `examples` (a link into the
source tree), so that the README's relative paths mean what they mean at
the top of a checkout, with BUILD_DIR/cli and BUILD_DIR/agent first on
PATH, HOME, TMPDIR and XDG_RUNTIME_DIR in the scratch directory, umask
002 (the loosest a user may have), and a fake token on stdin for the
tour's `read`. Nothing may be left in TMPDIR (the tour's last block
removes its directory) or XDG_RUNTIME_DIR (the tour's agent has a socket
of its own, not the one of the agent the reader may already run). Between two blocks the test may add a probe of its
own (PROBES); the README's lines run unchanged.

Also checked: the README's C program is examples/hello.c without its
leading comment, and that program, built against the uninstalled
library, says why a call failed (kw_last_error_message).
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

TOKEN = "ghp_FAKEreadmeTOURfakeTOKEN0000"
TIMEOUT = 120  # seconds for the whole tour; it takes a few

# The tour's hello program, run before the block that writes its policy:
# it must be refused and say by which rule (kw_last_error_message), not
# only "permission denied".
PROBES = {
    "20-hello.ini": r'''
if LD_LIBRARY_PATH=build/client-lib "$tour/hello" 2>"$tour/hello.err"; then
	echo "PROBE: hello read a secret without a policy" >&2; exit 1
fi
grep -q '^keyward: permission denied: .*no policy section' "$tour/hello.err" || {
	echo "PROBE: hello did not say why it was denied:" >&2
	cat "$tour/hello.err" >&2; exit 1; }
''',
}


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def tour_section(readme):
    start = readme.find("\n## A short tour\n")
    if start < 0:
        fail('README.md has no "## A short tour" section')
    end = readme.find("\n## ", start + 1)
    return readme[start:end if end >= 0 else len(readme)]


def fenced_blocks(text, lang):
    return re.findall(r"^```" + lang + r"\n(.*?)^```$", text, re.M | re.S)


def check_c_copy(section, src):
    blocks = fenced_blocks(section, "c")
    if len(blocks) != 1:
        fail("the tour should hold exactly one ```c block, not %d"
             % len(blocks))
    with open(os.path.join(src, "examples", "hello.c"),
              encoding="utf-8") as f:
        hello = f.read()
    if not hello.startswith("/*") or "*/\n" not in hello:
        fail("examples/hello.c should open with a comment")
    body = hello[hello.index("*/\n") + 3:]
    if body != blocks[0]:
        fail("README.md's C example differs from examples/hello.c "
             "(after its leading comment): keep them identical")


def script_of(blocks):
    lines = ["set -eo pipefail",
             "trap 'echo \"FAILED: $BASH_COMMAND\" >&2' ERR"]
    for b in blocks:
        for marker, probe in PROBES.items():
            if marker in b:
                lines.append(probe)
        lines.append(b)
    return "\n".join(lines) + "\n"


def run_tour(script, work, env):
    old = os.umask(0o002)
    try:
        proc = subprocess.Popen(["bash", "-c", script], cwd=work, env=env,
                                stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
    finally:
        os.umask(old)
    try:
        out, err = proc.communicate(TOKEN + "\n", timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        out, err = "", "(the tour did not finish in %d s)" % TIMEOUT
    finally:
        # The tour's agent, if the tour stopped before stopping it: the
        # group holds only what this bash started.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    return proc.returncode, out, err


def check_connect_message(build, src, scratch, env):
    """hello, built against the uninstalled library, names the socket it
    could not reach: the message comes from kw_last_error_message(NULL)."""
    exe = os.path.join(scratch, "hello-nosock")
    pc = os.path.join(build, "meson-uninstalled")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "keyward"],
                           env=dict(env, PKG_CONFIG_PATH=pc), check=True,
                           capture_output=True, text=True).stdout.split()
    subprocess.run(["cc", "-Wall", "-Werror", "-o", exe,
                    os.path.join(src, "examples", "hello.c")] + flags,
                   check=True)
    sock = os.path.join(scratch, "no-agent.sock")
    r = subprocess.run([exe], env=dict(env, KEYWARD_SOCKET=sock,
                       LD_LIBRARY_PATH=os.path.join(build, "client-lib")),
                       capture_output=True, text=True, timeout=30)
    want = "keyward: cannot connect to the agent: "
    if r.returncode != 1 or not r.stderr.startswith(want) \
            or sock not in r.stderr:
        fail("hello without an agent: exit %d, stderr %r (want %r and "
             "the socket path)" % (r.returncode, r.stderr, want))


def main(build, src):
    build = os.path.abspath(build)
    src = os.path.abspath(src)
    with open(os.path.join(src, "README.md"), encoding="utf-8") as f:
        section = tour_section(f.read())
    check_c_copy(section, src)
    blocks = fenced_blocks(section, "sh")
    if not blocks:
        fail("the tour has no ```sh block")
    for marker in PROBES:
        if not any(marker in b for b in blocks):
            fail("no tour block mentions %s any more: update PROBES"
                 % marker)

    scratch = tempfile.mkdtemp(prefix="kw-tour-")
    try:
        work = os.path.join(scratch, "work")
        for d in ("work", "home", "tmp", "run"):
            os.mkdir(os.path.join(scratch, d), 0o700)
        os.symlink(build, os.path.join(work, "build"))
        os.symlink(os.path.join(src, "examples"),
                   os.path.join(work, "examples"))
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("KEYWARD_")}
        env.update(HOME=os.path.join(scratch, "home"),
                   XDG_RUNTIME_DIR=os.path.join(scratch, "run"),
                   TMPDIR=os.path.join(scratch, "tmp"), LC_ALL="C.UTF-8",
                   PATH=os.pathsep.join([os.path.join(build, "cli"),
                                         os.path.join(build, "agent"),
                                         env.get("PATH", "/usr/bin:/bin")]))
        check_connect_message(build, src, scratch, env)
        rc, out, err = run_tour(script_of(blocks), work, env)
        if rc != 0:
            sys.stdout.write(out)
            sys.stderr.write(err)
            logs = [os.path.join(dp, f)
                    for dp, _, fs in os.walk(os.path.join(scratch, "tmp"))
                    for f in fs if f == "agent.log"]
            for log in logs:
                with open(log, encoding="utf-8", errors="replace") as f:
                    sys.stderr.write("--- %s\n%s" % (log, f.read()[-4000:]))
            fail("the tour stopped (exit %d); see above" % rc)
        # keyward get and the hello program both print the token.
        if out.count(TOKEN) != 2:
            fail("the token should be printed twice (get, hello), was %d "
                 "times:\n%s" % (out.count(TOKEN), out))
        for d in ("tmp", "run"):
            left = os.listdir(os.path.join(scratch, d))
            if left:
                fail("the tour left %s behind in its %s directory"
                     % (left, d))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print("ok: README tour ran (%d blocks), its C example is "
          "examples/hello.c and reports why it failed" % len(blocks))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1], sys.argv[2])
