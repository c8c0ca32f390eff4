"""keyward edit NAME against a real keywardd: $EDITOR scripts that edit
the file in place, replace it (sed -i: a new file renamed over it), leave
it alone or fail; the temporary file is gone afterwards; where the value
may be put (a private tmpfs $XDG_RUNTIME_DIR, else a memfd)."""

import os
import shutil
import signal
import subprocess
import tempfile
import unittest

import harness
from harness import (DaemonTestCase, EXIT_ERROR, EXIT_NOTFOUND, EXIT_USAGE,
                     parse_json_list, poll_until, run, spawn)

# Each editor records the path it was given in SEEN, then acts on it.
SCRIPTS = {
    "rename": 'exec sed -i "s/old/new/" "$1"\n',
    "append": 'printf %s "-more" >> "$1"\n',
    "same": 'test -s "$1"\n',
    "fail": 'printf %s "changed" > "$1"; exit 3\n',
    "empty": ': > "$1"\n',
    "hang": 'printf %s "changed" > "$1"; exec sleep 600\n',
}


def shm_dir():
    """A tmpfs to act as $XDG_RUNTIME_DIR: /dev/shm on Linux."""
    return "/dev/shm" if os.path.isdir("/dev/shm") else None


class Edit(DaemonTestCase):

    def setUp(self):
        super().setUp()
        self.bin = os.path.join(self.h.work, "editors")
        os.makedirs(self.bin, 0o700, exist_ok=True)
        self.seen = os.path.join(self.h.work, "seen")
        for name, body in SCRIPTS.items():
            path = os.path.join(self.bin, name)
            with open(path, "w") as f:
                # Written aside and renamed: whoever sees SEEN sees it
                # whole.
                f.write('#!/bin/sh\nprintf %%s "$1" > "%s.tmp"\n'
                        'mv "%s.tmp" "%s"\n%s'
                        % (self.seen, self.seen, self.seen, body))
            os.chmod(path, 0o700)
        base = shm_dir()
        self.assertIsNotNone(base, "no /dev/shm tmpfs on this machine")
        self.runtime = tempfile.mkdtemp(prefix="kwedit-", dir=base)
        self.addCleanup(shutil.rmtree, self.runtime, True)
        os.chmod(self.runtime, 0o700)

    def edit(self, editor, *args, runtime=True, env_extra=None):
        env = dict(self.h.env)
        env.pop("VISUAL", None)
        env["EDITOR"] = os.path.join(self.bin, editor)
        if runtime:
            env["XDG_RUNTIME_DIR"] = self.runtime
        else:
            env.pop("XDG_RUNTIME_DIR", None)
        env.update(env_extra or {})
        if os.path.exists(self.seen):
            os.unlink(self.seen)
        return run([harness.BIN_KEYWARD, "edit"] + list(args), env,
                   cwd=self.h.work)

    def seen_path(self):
        with open(self.seen) as f:
            return f.read()

    def versions(self, name):
        r = self.cli("versions", name, "--json")
        self.assertRc(r, 0)
        return len(parse_json_list(r.out, "versions"))

    def assert_cleaned(self):
        """The file the editor had, and its directory, are gone; the
        runtime dir is empty again."""
        path = self.seen_path()
        self.assertTrue(path.startswith(self.runtime + "/keyward-edit-"),
                        path)
        self.assertFalse(os.path.exists(path), path)
        self.assertFalse(os.path.exists(os.path.dirname(path)), path)
        self.assertEqual(os.listdir(self.runtime), [])

    def test_rename_editor_stores_new_version(self):
        self.put_cli("e/x", b"the old value")
        r = self.edit("rename", "e/x")
        self.assertRc(r, 0)
        self.assertEqual(r.text, "e/x: version 2\n", r)
        self.assertEqual(self.get_cli("e/x"), b"the new value")
        self.assert_cleaned()
        self.assertNotIn("value", r.err)

    def test_unchanged_stores_nothing(self):
        self.put_cli("e/x", b"keep \x00 me")
        r = self.edit("same", "e/x")
        self.assertRc(r, 0)
        self.assertIn("unchanged", r.err, r)
        self.assertEqual(r.out, b"", r)
        self.assertEqual(self.versions("e/x"), 1)
        self.assert_cleaned()

    def test_failing_editor_stores_nothing(self):
        self.put_cli("e/x", b"old")
        r = self.edit("fail", "e/x")
        self.assertRc(r, EXIT_ERROR)
        self.assertIn("status 3", r.err, r)
        self.assertEqual(self.get_cli("e/x"), b"old")
        self.assertEqual(self.versions("e/x"), 1)
        self.assert_cleaned()

    def test_empty_needs_allow_empty(self):
        self.put_cli("e/x", b"old")
        r = self.edit("empty", "e/x")
        self.assertRc(r, EXIT_USAGE)
        self.assertIn("--allow-empty", r.err, r)
        self.assertEqual(self.versions("e/x"), 1)
        self.assert_cleaned()
        r = self.edit("empty", "e/x", "--allow-empty")
        self.assertRc(r, 0)
        self.assertEqual(self.get_cli("e/x"), b"")

    def test_missing_name_needs_create(self):
        r = self.edit("append", "e/new")
        self.assertRc(r, EXIT_NOTFOUND)
        self.assertIn("--create", r.err, r)
        self.assertFalse(os.path.exists(self.seen), "editor was run")
        r = self.edit("append", "--create", "e/new")
        self.assertRc(r, 0)
        self.assertEqual(self.get_cli("e/new"), b"-more")
        self.assert_cleaned()

    def test_memfd_without_runtime_dir(self):
        """No XDG_RUNTIME_DIR: the value is in a memfd the editor opens
        as /proc/self/fd/N; an in-place editor saves, sed -i cannot (and
        nothing is stored)."""
        self.put_cli("e/x", b"old")
        r = self.edit("append", "e/x", runtime=False)
        self.assertRc(r, 0)
        self.assertRegex(self.seen_path(), r"^/proc/self/fd/\d+$")
        self.assertEqual(self.get_cli("e/x"), b"old-more")
        r = self.edit("rename", "e/x", runtime=False)
        self.assertRc(r, EXIT_ERROR)
        self.assertIn("XDG_RUNTIME_DIR", r.err, r)
        self.assertEqual(self.get_cli("e/x"), b"old-more")

    def test_unsafe_runtime_dir_refused(self):
        self.put_cli("e/x", b"old")
        os.chmod(self.runtime, 0o755)
        r = self.edit("append", "e/x")
        self.assertRc(r, EXIT_ERROR)
        self.assertIn("not private", r.err, r)
        self.assertFalse(os.path.exists(self.seen), "editor was run")
        os.chmod(self.runtime, 0o700)
        disk = os.path.join(self.h.work, "not-tmpfs")
        os.mkdir(disk, 0o700)
        if os.statvfs(disk).f_fsid != os.statvfs(self.runtime).f_fsid:
            r = self.edit("append", "e/x",
                          env_extra={"XDG_RUNTIME_DIR": disk})
            if r.rc == EXIT_ERROR:
                self.assertIn("tmpfs", r.err, r)
            else:  # the test home is itself on a tmpfs
                self.assertRc(r, 0)
        self.assertEqual(os.listdir(self.runtime), [])

    def test_signal_while_editing(self):
        """SIGTERM or SIGHUP to keyward while the editor runs: passed to
        the editor, the file wiped and removed, nothing stored, and
        keyward dies of the signal."""
        self.put_cli("e/x", b"old")
        env = dict(self.h.env)
        env["EDITOR"] = os.path.join(self.bin, "hang")
        env["XDG_RUNTIME_DIR"] = self.runtime
        for sig in (signal.SIGTERM, signal.SIGHUP):
            with self.subTest(sig=sig):
                if os.path.exists(self.seen):
                    os.unlink(self.seen)
                proc = spawn([harness.BIN_KEYWARD, "edit", "e/x"], env,
                             stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, cwd=self.h.work)
                self.assertTrue(poll_until(
                    lambda: os.path.exists(self.seen), 30),
                    "the editor did not start")
                proc.send_signal(sig)
                out, err = proc.communicate(timeout=30)
                self.assertEqual(proc.returncode, -sig, err)
                self.assertEqual(out, b"")
                self.assert_cleaned()
        self.assertEqual(self.get_cli("e/x"), b"old")
        self.assertEqual(self.versions("e/x"), 1)

    def test_editor_words_and_shell_syntax(self):
        self.put_cli("e/x", b"old")
        r = self.edit("append", "e/x", env_extra={
            "VISUAL": "%s  e/ignored-word" % os.path.join(self.bin,
                                                           "same")})
        # VISUAL wins over EDITOR; its extra word comes before the path
        # (the "same" script tests "$1", which is that word: it fails).
        self.assertRc(r, EXIT_ERROR)
        self.assertEqual(self.seen_path(), "e/ignored-word")
        self.assertEqual(os.listdir(self.runtime), [])
        for bad in ("vi; rm -rf x", "'vi'", "vi $HOME", "vi `x`"):
            with self.subTest(bad=bad):
                r = self.edit("append", "e/x", env_extra={"VISUAL": bad})
                self.assertRc(r, EXIT_USAGE)
                self.assertIn("shell syntax", r.err, r)
        self.assertEqual(self.versions("e/x"), 1)


if __name__ == "__main__":
    unittest.main()
