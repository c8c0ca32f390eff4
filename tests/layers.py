#!/usr/bin/env python3
"""Check that the agent's layers call downward only (docs/architecture.md).

Usage: layers.py includes SOURCE_DIR
       layers.py libraries BUILD_DIR SOURCE_DIR

includes: every #include "x.h" of every file under agent/FOLDER/ names a
header of FOLDER, of a layer FOLDER may use (LOWER below), of common/ or of
client-lib/include. A header found in no allowed place, or in two agent
folders, fails.

libraries: from the build's meson-info (what `meson introspect --targets`
prints), each agent library kwFOLDER compiles only sources of agent/FOLDER/
and sees, through its include path, only agent folders FOLDER may use. The
table of what each library sees is printed. This is what makes a call to a
higher layer fail to compile; the includes check says which line would.
"""
import json
import os
import re
import sys

# What each folder may use besides itself: the layers below it.
LOWER = {
    "base": set(),
    "store": {"base"},
    "policy": {"store", "base"},
    # audit and policy are beside each other: neither uses the other.
    "audit": {"store", "base"},
    "auth": {"store", "base"},
    "net": {"base"},
    "spawn": {"base"},
    "rotate": {"audit", "policy", "auth", "net", "spawn", "store", "base"},
    "rpc": {"rotate", "audit", "policy", "auth", "net", "spawn", "store",
            "base"},
    "core": {"rpc", "rotate", "audit", "policy", "auth", "net", "spawn",
             "store", "base"},
}
# Known upward uses, each with the reason it is still there. Removing one
# here is how the layering tightens; adding one needs a reason in review.
TRANSITIONAL = {}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
failures = []


def fail(msg):
    failures.append(msg)


def allowed(folder):
    extra = {hi for (lo, hi) in TRANSITIONAL if lo == folder}
    return {folder} | LOWER[folder] | extra


def folder_files(agent):
    """{folder: [paths relative to agent/]} for every .c and .h."""
    out = {}
    for folder in sorted(os.listdir(agent)):
        top = os.path.join(agent, folder)
        if not os.path.isdir(top):
            continue
        if folder not in LOWER:
            fail("agent/%s/: not a layer this check knows (add it to "
                 "LOWER and docs/architecture.md)" % folder)
            continue
        for dirpath, _, names in os.walk(top):
            for n in names:
                if n.endswith((".c", ".h")):
                    out.setdefault(folder, []).append(
                        os.path.relpath(os.path.join(dirpath, n), agent))
    return out


def check_includes(src):
    agent = os.path.join(src, "agent")
    files = folder_files(agent)
    where = {}  # header name -> agent folders holding it
    for folder, paths in files.items():
        for p in paths:
            if p.endswith(".h"):
                where.setdefault(os.path.basename(p), set()).add(folder)
    outside = set()
    for d in ("common", os.path.join("client-lib", "include")):
        outside |= {n for n in os.listdir(os.path.join(src, d))
                    if n.endswith(".h")}
    for name, folders in where.items():
        if len(folders) > 1:
            fail("%s is in agent/%s: bare includes cannot tell them apart"
                 % (name, " and agent/".join(sorted(folders))))
    used = set()
    nincludes = 0
    for folder, paths in sorted(files.items()):
        ok = allowed(folder)
        for p in sorted(paths):
            with open(os.path.join(agent, p), encoding="utf-8") as f:
                text = f.read()
            for m in INCLUDE.finditer(text):
                nincludes += 1
                h = m.group(1)
                line = text.count("\n", 0, m.start()) + 1
                if "/" in h:
                    fail("agent/%s:%d: #include \"%s\": include by bare "
                         "name; the library's include path decides" %
                         (p, line, h))
                    continue
                found = where.get(h, set())
                if not found:
                    if h not in outside:
                        fail("agent/%s:%d: #include \"%s\": no such header "
                             "in agent/, common/ or client-lib/include" %
                             (p, line, h))
                    continue
                for hf in found:
                    if hf not in ok:
                        fail("agent/%s:%d: #include \"%s\" (agent/%s/): "
                             "%s may use only %s" %
                             (p, line, h, hf, folder,
                              ", ".join(sorted(ok))))
                    elif hf != folder and hf not in LOWER[folder]:
                        used.add((folder, hf))
    for (lo, hi), why in TRANSITIONAL.items():
        if (lo, hi) not in used:
            fail("TRANSITIONAL lists %s -> %s (%s), which no include uses "
                 "any more: remove it" % (lo, hi, why))
    print("%d includes in %d files: downward only" %
          (nincludes, sum(len(v) for v in files.values())))
    for lo, hi in sorted(used):
        print("  transitional: %s -> %s (%s)" % (lo, hi,
                                                 TRANSITIONAL[(lo, hi)]))


def check_libraries(build, src):
    agent = os.path.realpath(os.path.join(src, "agent"))
    with open(os.path.join(build, "meson-info", "intro-targets.json")) as f:
        targets = json.load(f)
    seen = set()
    for t in targets:
        m = re.fullmatch(r"kw(\w+)", t["name"])
        if t["type"] != "static library" or not m or m.group(1) not in LOWER:
            continue
        folder = m.group(1)
        seen.add(folder)
        sees = set()
        for ts in t["target_sources"]:
            for s in ts["sources"]:
                rel = os.path.relpath(os.path.realpath(s), agent)
                if rel.split(os.sep)[0] != folder:
                    fail("%s compiles %s, which is not in agent/%s/" %
                         (t["name"], s, folder))
            for p in ts["parameters"]:
                if not p.startswith("-I"):
                    continue
                rel = os.path.relpath(os.path.realpath(p[2:]), agent)
                if rel == "." :
                    fail("%s has agent/ itself on its include path (set "
                         "implicit_include_directories : false)" % t["name"])
                elif not rel.startswith(".."):
                    sees.add(rel.split(os.sep)[0])
        bad = sees - allowed(folder)
        if bad:
            fail("%s sees agent/%s/: a lower layer must not see a higher "
                 "one's headers" % (t["name"], ", agent/".join(sorted(bad))))
        print("%-9s sees %s" % (t["name"], ", ".join(
            sorted(sees - {folder}, key=list(LOWER).index)) or "-"))
    for folder in sorted(set(os.listdir(agent)) & set(LOWER)):
        has_c = any(n.endswith(".c") for _, _, ns in
                    os.walk(os.path.join(agent, folder)) for n in ns)
        if has_c and folder not in seen:
            fail("agent/%s/ has sources but no library kw%s" %
                 (folder, folder))


def main(argv):
    if len(argv) == 3 and argv[1] == "includes":
        check_includes(argv[2])
    elif len(argv) == 4 and argv[1] == "libraries":
        check_libraries(argv[2], argv[3])
    else:
        sys.exit(__doc__)
    for f in failures:
        print("FAIL:", f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main(sys.argv)
