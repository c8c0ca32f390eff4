#!/usr/bin/env python3
"""Run the libFuzzer targets of a -Dfuzz=true build (make fuzz, make test).

usage: fuzz.py [--smoke] BUILD SECONDS JOBS [TARGET...]

Each target (default: all of tests/fuzz/corpus/) runs for SECONDS with JOBS
targets at a time, on a working corpus BUILD/fuzz/corpus/TARGET seeded from
tests/fuzz/corpus/TARGET, with tests/fuzz/TARGET.dict if there is one.
--smoke starts from an empty working corpus (only the committed seeds).
A finding is left as BUILD/fuzz/crashes/TARGET/crash-* (or leak-*,
timeout-*, oom-*); copy it to tests/fuzz/regressions/TARGET/ once fixed.
Logs are in BUILD/fuzz/logs/; the results, one JSON object per target as
meson writes them, in BUILD/fuzz/results.json (scripts/test-summary.py
counts them). Exit status 1 if any target found something.
"""
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import time

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                   "tests", "fuzz")


def run(build, target, seconds, smoke):
    base = os.path.join(build, "fuzz")
    work = os.path.join(base, "corpus", target)
    crashes = os.path.join(base, "crashes", target)
    log = os.path.join(base, "logs", target + ".log")
    if smoke:
        shutil.rmtree(work, ignore_errors=True)
    for d in (work, crashes, os.path.dirname(log)):
        os.makedirs(d, exist_ok=True)
    exe = os.path.join(build, "tests", "fuzz", "fuzz_" + target)
    cmd = [exe, "-max_total_time=%d" % seconds, "-timeout=10",
           "-print_final_stats=1", "-print_funcs=0",
           "-artifact_prefix=" + crashes + "/"]
    dictionary = os.path.join(SRC, target + ".dict")
    if os.path.exists(dictionary):
        cmd.append("-dict=" + dictionary)
    cmd += [work, os.path.join(SRC, "corpus", target)]
    start = time.monotonic()
    with open(log, "w", encoding="utf-8") as out:
        rc = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT)
    took = time.monotonic() - start
    with open(log, encoding="utf-8", errors="replace") as f:
        text = f.read()
    stats = dict(re.findall(r"^stat::(\w+):\s+(\d+)", text, re.M))
    cov = re.findall(r"cov: (\d+) ft: (\d+)", text)
    found = [f for f in os.listdir(crashes)
             if f.split("-")[0] in ("crash", "leak", "timeout", "oom",
                                    "slow")]
    return {
        "name": target,
        "result": "OK" if rc == 0 else "FAIL",
        "duration": round(took, 1),
        "runs": int(stats.get("number_of_executed_units", 0)),
        "exec_per_sec": int(stats.get("average_exec_per_sec", 0)),
        "cov": int(cov[-1][0]) if cov else 0,
        "ft": int(cov[-1][1]) if cov else 0,
        "corpus": len(os.listdir(work)),
        "findings": sorted(os.path.join(crashes, f) for f in found),
        "log": log,
    }


def main(argv):
    smoke = "--smoke" in argv
    args = [a for a in argv if a != "--smoke"]
    if len(args) < 3:
        sys.exit(__doc__)
    build, seconds, jobs = args[0], int(args[1]), int(args[2])
    targets = args[3:] or sorted(os.listdir(os.path.join(SRC, "corpus")))
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        results = list(pool.map(
            lambda t: run(build, t, seconds, smoke), targets))
    with open(os.path.join(build, "fuzz", "results.json"), "w",
              encoding="utf-8") as f:
        for r in results:
            f.write(json.dumps(r) + "\n")
    print("%-10s %6s %9s %7s %6s %7s  %s" % ("target", "result", "runs",
                                              "exec/s", "cov", "corpus",
                                              "findings"))
    for r in results:
        print("%-10s %6s %9d %7d %6d %7d  %s" % (
            r["name"], r["result"], r["runs"], r["exec_per_sec"], r["cov"],
            r["corpus"], " ".join(r["findings"]) or "-"))
        if r["result"] != "OK":
            print("    see %s" % r["log"])
    print("fuzz: %d target(s) in %.0f s" % (len(results),
                                           time.monotonic() - start))
    sys.exit(1 if any(r["result"] != "OK" for r in results) else 0)


if __name__ == "__main__":
    main(sys.argv[1:])
