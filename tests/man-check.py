#!/usr/bin/env python3
"""Check the man pages in packaging/man against man(1) and the code.

Usage: man-check.py SOURCE_DIR

- Every page renders without a single warning, both as lintian renders it
  (man --warnings ... -Tutf8 -Z) and as a reader's terminal does (80
  columns, where tables that do not fit are reported). A broken page made
  here first proves that the check catches warnings at all.
- keyward.ini(5) documents exactly the keys agent/base/config.c reads, section
  by section, and so do docs/config.md's tables.
- keyward-policy(5) documents exactly the keys agent/policy/policy_parse.c reads.
- libkeyward(3) has a prototype for every function keyward.h declares,
  and none that it does not.
- packaging/meson.build installs every page, and every keyward page a SEE
  ALSO names exists.
"""
import glob
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

failures = []


def fail(msg):
    failures.append(msg)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def render_warnings(page):
    """What man prints on stderr (or its failure) rendering page."""
    env = dict(os.environ, LC_ALL="C.UTF-8", MANROFFSEQ="", MANWIDTH="80",
               MANPAGER="cat", PAGER="cat")
    out = []
    for args in (["-Tutf8", "-Z"], []):
        r = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l"] +
                           args + [page], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True, timeout=60)
        if r.returncode != 0 or r.stderr.strip():
            out.append("man %s: exit %d: %s" % (" ".join(args), r.returncode,
                                                 r.stderr.strip()))
    return out


def check_rendering(pages):
    with tempfile.TemporaryDirectory(prefix="kw-man-") as tmp:
        broken = os.path.join(tmp, "broken.1")
        with open(broken, "w", encoding="utf-8") as f:
            f.write(".TH BROKEN 1\n.SH NAME\nbroken \\- a test\n"
                    ".SH DESCRIPTION\n.NOSUCHMACRO\n" + "x" * 100 + "\n")
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(render_warnings, [broken] + pages))
    if not results[0]:
        fail("man reported no warning for a broken page: the check "
             "below would prove nothing")
    for page, warnings in zip(pages, results[1:]):
        for w in warnings:
            fail("%s: %s" % (os.path.basename(page), w))


def man_items(text):
    """{section heading: set of keys} of a page: the first word of each
    .TP item's tag, under the latest .SH or .SS heading."""
    items = {}
    heading = None
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r'^\.S[HS] "?(.*?)"?$', line)
        if m:
            heading = m.group(1).replace("\\(dq", '"')
            continue
        if line == ".TP" and i + 1 < len(lines):
            m = re.match(r"^\.B[IR]? ([a-z_0-9]+)\b", lines[i + 1])
            if m:
                items.setdefault(heading, set()).add(m.group(1))
    return items


def config_c_keys(src):
    text = read(os.path.join(src, "agent", "base", "config.c"))
    keys = set(re.findall(r'NUM_KEY\("(\w+)",\s*(\w+),', text))
    keys |= set(re.findall(r'strcmp\(section, "(\w+)"\) == 0 &&\s*'
                           r'strcmp\(name, "(\w+)"\) == 0', text))
    sections = set(re.findall(r'strcmp\(section, "(\w+)"\) != 0', text))
    return keys, sections


def config_md_keys(src):
    keys = set()
    section = None
    for line in read(os.path.join(src, "docs", "config.md")).splitlines():
        m = re.match(r"^## `\[(\w+)\]`", line)
        if m:
            section = m.group(1)
        elif line.startswith("## "):
            section = None
        m = re.match(r"^\| `(\w+)` \|", line)
        if m and section:
            keys.add((section, m.group(1)))
    return keys


def check_config(src, man):
    code, sections = config_c_keys(src)
    if len(code) < 20 or len(sections) < 6:
        fail("agent/base/config.c: found only %d keys in %d sections; has its "
             "form changed?" % (len(code), len(sections)))
    items = man_items(read(man))
    page = {(h[1:-1], k) for h, ks in items.items()
            if h and re.fullmatch(r"\[\w+\]", h) for k in ks}
    md = config_md_keys(src)
    for name, keys in (("keyward.ini.5", page), ("docs/config.md", md)):
        for s, k in sorted(code - keys):
            fail("%s lacks [%s] %s, which agent/base/config.c reads" % (name, s, k))
        for s, k in sorted(keys - code):
            fail("%s documents [%s] %s, which agent/base/config.c does not read"
                 % (name, s, k))


def check_policy(src, man):
    text = read(os.path.join(src, "agent", "policy", "policy_parse.c"))
    m = re.search(r"client_keys\[KEY_COUNT\] = \{(.*?)\};", text, re.S)
    if not m:
        fail("agent/policy/policy_parse.c: no client_keys table; has it moved?")
        return
    code = set(re.findall(r'"(\w+)"', m.group(1)))
    items = man_items(read(man))
    page = items.get("Identity keys", set()) | items.get("Grant keys", set())
    for k in sorted(code - page):
        fail("keyward-policy.5 lacks the [client] key %s" % k)
    for k in sorted(page - code):
        fail("keyward-policy.5 documents a [client] key %s that "
             "agent/policy/policy_parse.c does not read" % k)
    if items.get("[defaults]") != {"rate"}:
        fail("keyward-policy.5: [defaults] should document rate, only")


def check_library(src, man):
    header = read(os.path.join(src, "client-lib", "include", "keyward.h"))
    declared = set(re.findall(r"\b(kw_\w+)\(", header))
    page = set()
    for line in read(man).splitlines():
        if line.startswith(".BI "):
            page |= set(re.findall(r"\b(kw_\w+)\(", line))
    if len(declared) < 40:
        fail("keyward.h: found only %d functions" % len(declared))
    for f in sorted(declared - page):
        fail("libkeyward.3 has no prototype for %s" % f)
    for f in sorted(page - declared):
        fail("libkeyward.3 has a prototype for %s, which keyward.h does "
             "not declare" % f)


def check_install_and_refs(src, pages):
    build = read(os.path.join(src, "packaging", "meson.build"))
    m = re.search(r"install_man\((.*?)\)", build, re.S)
    installed = set(re.findall(r"'man/([^']+)'", m.group(1))) if m else set()
    names = {os.path.basename(p) for p in pages}
    for n in sorted(names - installed):
        fail("packaging/meson.build's install_man does not install %s" % n)
    for page in pages:
        text = read(page)
        see = text.split(".SH SEE ALSO", 1)
        if len(see) != 2:
            fail("%s has no SEE ALSO" % os.path.basename(page))
            continue
        for name, sec in re.findall(r"^\.BR ([\w.\\-]+) \((\d)\)",
                                    see[1].split("\n.SH", 1)[0], re.M):
            name = name.replace("\\-", "-")
            if "keyward" in name and "%s.%s" % (name, sec) not in names:
                fail("%s: SEE ALSO names %s(%s), which packaging/man lacks"
                     % (os.path.basename(page), name, sec))


def main(src):
    mandir = os.path.join(src, "packaging", "man")
    pages = sorted(glob.glob(os.path.join(mandir, "*.[1-8]")))
    check_rendering(pages)
    check_config(src, os.path.join(mandir, "keyward.ini.5"))
    check_policy(src, os.path.join(mandir, "keyward-policy.5"))
    check_library(src, os.path.join(mandir, "libkeyward.3"))
    check_install_and_refs(src, pages)
    if failures:
        for f in failures:
            print("FAIL: " + f, file=sys.stderr)
        sys.exit(1)
    print("ok: %d man pages render without warnings and match the code"
          % len(pages))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1])
