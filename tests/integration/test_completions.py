"""packaging/completions: the bash, zsh and fish completions of keyward,
each run by its own shell against the real CLI and agent.

- every command, subcommand and option that `keyward help` and
  `keyward help CMD` show is offered (the lists cannot drift from the
  CLI), and so are the commands another change adds (edit, backup,
  restore, rekey, policy owner);
- secret names come from `keyward ls` on the agent (by the part of the
  word before its last /, with a --socket typed on the line); when the
  agent refuses the listing, or is not there, nothing is offered and
  nothing is printed.

bash is driven by calling _keyward with COMP_WORDS set; fish by
`complete -C`; zsh interactively on a pty, its Tab bound to a widget that
records what the completion system was given (compadd)."""

import os
import pty
import re
import select
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from harness import BIN_KEYWARD, CLI_DEADLINE_S, DaemonTestCase, run, spawn
import kwauth

COMPLETIONS = os.path.join(kwauth.SRC, "packaging", "completions")
BASH_FILE = os.path.join(COMPLETIONS, "keyward.bash")
FISH_FILE = os.path.join(COMPLETIONS, "keyward.fish")
SEP = "\x1e"
_EXPECTED = None  # Completions.expected(), once read

# Commands and subcommands being added to the CLI by other changes of
# issue 14; offered already, so they are checked whatever help says.
ADDED = [("edit", ""), ("backup", ""), ("restore", ""), ("rekey", ""),
         ("policy", "owner")]

_ENTRY = re.compile(r"  ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?(?=\s|$)")
_OPTION = re.compile(r"(?<![\w-])(--?[a-z][a-z0-9-]*)")


def help_entries(text):
    """{(command, subcommand or ""): set of options} from a help text: an
    entry is a line indented by two spaces that starts with a word, with
    the more indented lines after it."""
    entries = {}
    current = None
    for line in text.splitlines():
        m = _ENTRY.match(line)
        if m and not line.startswith("   "):
            current = entries.setdefault((m.group(1), m.group(2) or ""),
                                         set())
        elif not line.startswith("   "):
            current = None
        if current is not None:
            current.update(_OPTION.findall(line))
    return entries


class Completions(DaemonTestCase):

    def setUp(self):
        super().setUp()
        self.env = dict(self.h.env)
        self.env["PATH"] = "%s:%s" % (os.path.dirname(BIN_KEYWARD),
                                      self.env.get("PATH", "/usr/bin:/bin"))
        self.names = ["github/token", "github/app-key", "gitlab/ci",
                      "db/password"]
        for name in self.names:
            self.put_cli(name, b"v")

    def expected(self):
        """What the completions must offer, read from the CLI's help (the
        same for every test: read once)."""
        global _EXPECTED
        if _EXPECTED is None:
            _EXPECTED = self.read_help()
        return {k: set(v) for k, v in _EXPECTED.items()}

    def read_help(self):
        r = self.cli("help")
        self.assertRc(r, 0)
        entries = help_entries(r.text)
        commands = sorted({c for c, _ in entries})
        self.assertGreater(len(commands), 20, r.text)
        # Each command's own help too, in case the global one leaves
        # options out (help's own entry is in the global text); one shell
        # runs them all.
        script = ('for c in "$@"; do "$KW" "$c" --help || exit 1; '
                  'printf "\\036\\n"; done')
        commands.remove("help")
        r = run(["sh", "-c", script, "sh"] + commands,
                dict(self.h.env, KW=BIN_KEYWARD))
        self.assertEqual(r.rc, 0, r)
        for text in split_answers(r.text, len(commands), keep_lines=True):
            for key, opts in help_entries(text).items():
                entries.setdefault(key, set()).update(opts)
        for key in ADDED:
            entries.setdefault(key, set())
        for key in entries:
            entries[key].add("--help")
        return entries

    def queries(self, entries):
        """(line, words that must be offered) for every entry."""
        cmds = sorted({c for c, _ in entries})
        out = [("keyward ", cmds)]
        subs = {}
        for cmd, sub in entries:
            if sub:
                subs.setdefault(cmd, set()).add(sub)
        for cmd, s in sorted(subs.items()):
            out.append(("keyward %s " % cmd, sorted(s)))
        for (cmd, sub), opts in sorted(entries.items()):
            line = "keyward %s%s -" % (cmd, " " + sub if sub else "")
            out.append((line, sorted(opts)))
        return out

    def check_shell(self, complete):
        """complete(lines, env) -> one list of offered words per line."""
        entries = self.expected()
        queries = self.queries(entries)
        with open(os.path.join(self.h.work, "secrets.json"), "w"):
            pass
        extra = ["keyward import secr", "keyward put --", "keyward p",
                 "keyward get gi",
                 "keyward get github/",
                 "keyward rm ", "keyward get --stage ",
                 "keyward run -- keyw", "keyward run -- cat secr",
                 "keyward --socket %s versions gitl" % self.h.socket]
        lines = [q for q, _ in queries] + extra
        got = dict(zip(lines, complete(lines, self.env)))
        for line, want in queries:
            with self.subTest(line=line):
                missing = sorted(set(want) - set(got[line]))
                self.assertEqual(missing, [], "%r offers %r" % (
                    line, got[line]))
        self.assertEqual(got["keyward import secr"], ["secrets.json"])
        self.assertLessEqual({"--allow-empty", "--generate", "--help"},
                             set(got["keyward put --"]))
        self.assertTrue(all(w.startswith("--")
                            for w in got["keyward put --"]))
        self.assertIn("put", got["keyward p"])
        self.assertTrue(all(w.startswith("p") for w in got["keyward p"]),
                        got["keyward p"])
        self.assertEqual(sorted(got["keyward get gi"]),
                         ["github/app-key", "github/token", "gitlab/ci"])
        self.assertEqual(sorted(got["keyward get github/"]),
                         ["github/app-key", "github/token"])
        self.assertEqual(sorted(got["keyward rm "]), sorted(self.names))
        self.assertEqual(sorted(got["keyward get --stage "]),
                         ["current", "pending", "previous", "retired"])
        self.assertEqual(got[extra[-1]], ["gitlab/ci"])
        # run's command line after --: a command, then its own operands.
        self.assertIn("keyward", got["keyward run -- keyw"])
        self.assertEqual(got["keyward run -- cat secr"], ["secrets.json"])

        # A keyward the policy lets list nothing (the agent filters the
        # list), one the agent refuses, no agent at the socket: no names,
        # and no noise (complete() checks the shells' stderr).
        quiet = ["keyward get gi", "keyward rm "]
        for what, env in self.unlisting_envs():
            with self.subTest(agent=what):
                self.assertEqual(complete(quiet, env), [[], []])

    def copy_cli(self, sub):
        """A copy of the CLI at WORK/SUB/keyward: a program of its own
        path, which the owner's policy section does not name."""
        d = os.path.join(os.path.realpath(self.h.work), sub)
        os.makedirs(d, 0o755)
        path = os.path.join(d, "keyward")
        shutil.copyfile(BIN_KEYWARD, path)
        os.chmod(path, 0o755)
        return path

    def unlisting_envs(self):
        """(what, environment) where `keyward` on the PATH lists no
        names: a copy whose policy section may list only x/** (its file
        sorts before the owner's, should that section come to match
        copies too), the CLI presenting a revoked client token (the agent
        refuses it), and the CLI with no agent."""
        narrow = self.copy_cli("narrow")
        self.h.write_policy("00-0narrow.ini", (
            '[client "narrow"]\nexe = %s\nread = x/*\nlist = x/**\n'
            % narrow))
        self.assertRc(self.cli("policy", "reload"), 0)
        r = self.cli("client", "add", "gone")
        self.assertRc(r, 0)
        revoked = re.search(r"kwt_[A-Za-z0-9_-]{43}", r.text).group(0)
        self.assertRc(self.cli("client", "revoke", "gone"), 0)
        envs = [
            ("nothing listable", dict(self.env, PATH="%s:%s" % (
                os.path.dirname(narrow), self.env["PATH"]))),
            ("denied", dict(self.env, KEYWARD_TOKEN=revoked)),
            ("no agent", dict(self.env, KEYWARD_SOCKET=os.path.join(
                self.h.work, "nothing.sock")))]
        r = run(["keyward", "ls", "--json"], envs[0][1])
        self.assertEqual((r.rc, r.out), (0, b""), r)
        r = run(["keyward", "ls", "--json"], envs[1][1])
        self.assertEqual(r.rc, 4, r)
        return envs

    # -- bash ------------------------------------------------------------

    def bash_complete(self, lines, env):
        script = ["source %s" % shlex.quote(BASH_FILE),
                  "q() { COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1));"
                  " COMP_LINE=\"$*\"; COMP_POINT=${#COMP_LINE};"
                  " COMPREPLY=(); _keyward;"
                  " printf '%s\\n' \"${COMPREPLY[@]}\"; printf '\\x1e\\n'; }"]
        for line in lines:
            words = line.split(" ")
            script.append("q " + " ".join(shlex.quote(w) for w in words))
        r = subprocess.run(["bash", "--norc", "--noprofile", "-c",
                            "\n".join(script)], env=env, cwd=self.h.work,
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=CLI_DEADLINE_S)
        self.assertEqual((r.returncode, r.stderr), (0, b""), r)
        return split_answers(r.stdout.decode(), len(lines))

    def test_bash(self):
        r = subprocess.run(["bash", "--norc", "--noprofile", "-c",
                            "source %s; complete -p keyward"
                            % shlex.quote(BASH_FILE)],
                           capture_output=True, timeout=CLI_DEADLINE_S)
        self.assertEqual(r.stdout, b"complete -F _keyward keyward\n", r)
        self.check_shell(self.bash_complete)

    # -- fish ------------------------------------------------------------

    def fish_complete(self, lines, env):
        with tempfile.NamedTemporaryFile("w", dir=self.h.work,
                                         delete=False) as f:
            f.write("\n".join(lines) + "\n")
        r = subprocess.run(
            ["fish", "--no-config", "-c",
             "source %s; for l in (cat %s)\ncomplete -C\"$l\"\n"
             "printf '\\x1e\\n'\nend" % (shlex.quote(FISH_FILE),
                                         shlex.quote(f.name))],
            env=env, cwd=self.h.work, stdin=subprocess.DEVNULL,
            capture_output=True, timeout=CLI_DEADLINE_S)
        self.assertEqual((r.returncode, r.stderr), (0, b""), r)
        answers = split_answers(r.stdout.decode(), len(lines))
        return [[w.split("\t")[0] for w in a] for a in answers]

    def test_fish(self):
        self.assertTrue(shutil.which("fish"),
                        "fish is missing: scripts/deps.sh test installs it")
        r = subprocess.run(["fish", "--no-config", "-n", FISH_FILE],
                           capture_output=True, timeout=CLI_DEADLINE_S)
        self.assertEqual(r.returncode, 0, r)
        self.check_shell(self.fish_complete)

    # -- zsh -------------------------------------------------------------

    def zsh_complete(self, lines, env):
        # One shell for the test (compinit is its slow part): the
        # variables a call changes are exported into it first.
        if self.zsh is None:
            self.zsh = ZshSession(self.h.work, env)
            self.zsh_env = env
            self.addCleanup(self.zsh.close)
        for var in sorted(set(env) | set(self.zsh_env)):
            if var not in env:
                self.zsh.command("unset %s" % var)
            elif env[var] != self.zsh_env.get(var):
                self.zsh.command("export %s=%s" % (var,
                                                   shlex.quote(env[var])))
        self.zsh_env = env
        return [self.zsh.complete(line) for line in lines]

    def test_zsh(self):
        self.assertTrue(shutil.which("zsh"),
                        "zsh is missing: scripts/deps.sh test installs it")
        r = subprocess.run(["zsh", "-n", os.path.join(COMPLETIONS,
                                                      "_keyward")],
                           capture_output=True, timeout=CLI_DEADLINE_S)
        self.assertEqual(r.returncode, 0, r)
        self.zsh = None
        self.check_shell(self.zsh_complete)


def split_answers(text, count, keep_lines=False):
    """COUNT answers, each ended by a SEP line: lists of non-empty lines
    (or, keep_lines, each answer's text)."""
    parts = text.split(SEP + "\n")
    assert len(parts) == count + 1 and parts[-1] == "", (count, text)
    if keep_lines:
        return parts[:-1]
    return [[w for w in p.split("\n") if w] for p in parts[:-1]]


# Loaded into an interactive zsh: compinit with only our directory (and
# compinit's own) on fpath, as scanning all of zsh's completions takes
# seconds; the rest of fpath is then marked for autoloading, for the
# completion system's functions (_main_complete, _files, ...), and the two
# contexts run's -- needs (a command name; a command no completion knows)
# get the functions a full compinit gives them. Tab is bound to a
# completion widget that runs the completion system, writes every word
# given to compadd (after zsh's own matching against the typed prefix) to
# $KWCAP, then a separator, and neither inserts nor lists anything.
ZSH_SETUP = r"""
PS1='' RPS1='' PS2=''
unsetopt zle_bracketed_paste 2>/dev/null
bindkey -e
setopt extendedglob
kwcap_fpath=($fpath)
fpath=(%(dir)s $^kwcap_fpath/compinit(N:h))
autoload -Uz compinit
compinit -u -D
fpath+=($kwcap_fpath)
autoload -Uz $^kwcap_fpath/_*~*.zwc(N.:t)
compdef _autocd -command-
compdef _default -default-
compadd() {
	if (( ${@[(I)-[OAD]*]} )); then
		builtin compadd "$@"
		return
	fi
	local -a kwcap_hits
	builtin compadd -A kwcap_hits "$@"
	(( $#kwcap_hits )) && print -rl -- $kwcap_hits >> $KWCAP
	builtin compadd "$@"
}
kwcap-widget() {
	_main_complete
	compstate[insert]=''
	compstate[list]=''
	print -r -- $'\x1e' >> $KWCAP
}
zle -C kwcap-complete complete-word kwcap-widget
bindkey '^I' kwcap-complete
print -r -- ready >> $KWCAP
"""


class ZshSession:
    """An interactive zsh on a pty, for zsh's real completion system."""

    def __init__(self, work, env):
        self.dir = tempfile.mkdtemp(prefix="zsh-", dir=work)
        self.out = os.path.join(self.dir, "captured")
        open(self.out, "w").close()
        setup = os.path.join(self.dir, "setup.zsh")
        with open(setup, "w") as f:
            f.write(ZSH_SETUP % {"dir": COMPLETIONS})
        env = dict(env, KWCAP=self.out, TERM="dumb")
        master, slave = pty.openpty()
        self.master = master
        self.proc = spawn(["zsh", "-f", "-i"], env, stdin=slave,
                          stdout=slave, stderr=slave, cwd=work,
                          start_new_session=True)
        os.close(slave)
        self.screen = bytearray()
        self.stop = False
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()
        self.done = 0
        self._write("source %s\n" % setup)
        self._wait(lambda text: text.startswith("ready\n"))
        self.offset = len("ready\n")

    def _drain(self):
        # Keep reading the terminal so zsh never blocks on a full pty.
        while not self.stop:
            r, _, _ = select.select([self.master], [], [], 0.2)
            if r:
                try:
                    data = os.read(self.master, 65536)
                except OSError:
                    return
                if not data:
                    return
                self.screen += data[-4096:]

    def _write(self, text):
        os.write(self.master, text.encode())

    def _wait(self, ready):
        deadline = time.monotonic() + CLI_DEADLINE_S
        while True:
            with open(self.out) as f:
                text = f.read()
            if ready(text):
                return text
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError("zsh did not answer; captured %r, "
                                     "terminal %r" % (text,
                                                      bytes(self.screen)))
            time.sleep(0.02)

    def _answer(self, keys):
        want = self.done + 1
        self._write(keys)
        text = self._wait(lambda t: t.count(SEP) >= want)
        self.done = want
        answer = text[self.offset:].split(SEP + "\n")[0]
        self.offset += len(answer) + 2
        return answer

    def complete(self, line):
        """The words offered for LINE (Tab at its end)."""
        answer = self._answer(line + "\t")
        self._write("\x15")  # kill the line for the next one
        return sorted(set(w for w in answer.split("\n") if w))

    def command(self, line):
        """Run LINE in the shell and wait until it is done."""
        self._answer("%s; print -r -- $'\\x1e' >> $KWCAP\n" % line)

    def close(self):
        self.stop = True
        self.proc.kill()
        self.proc.wait()
        self.reader.join(5)
        os.close(self.master)


if __name__ == "__main__":
    import unittest
    sys.exit(unittest.main())
