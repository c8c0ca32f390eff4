#!/usr/bin/env python3
"""Run keyward's integration tests.

    run.py [GROUP ...]      groups: see GROUPS below; none means all

Binaries come from KW_BIN_KEYWARDD, KW_BIN_KEYWARD and KW_BIN_KWCLIENT
(meson sets them). Exits 0 only if every selected test passed or was
skipped; prints one summary line at the end.
"""

import os
import signal
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402

GROUPS = {
    "cli": "test_cli",
    "lib": "test_lib",
    "lifecycle": "test_lifecycle",
    "passphrase": "test_passphrase",
    "noleak": "test_noleak",
    "peer": "test_peer",
    "protocol": "test_protocol",
    "hostile": "test_hostile",
    "tamper": "test_tamper",
    "unlock": "test_unlock",
    "faults": "test_faults",
    "policy": "test_policy",
    "audit": ("test_audit", "test_checkpoints"),
    "rotation": "test_rotation",
    "webhook": "test_webhook",
    "tokens": "test_tokens",
    "apikey": "test_apikey",
    "bindings": ("test_bindings_python", "test_bindings_node"),
    "mcp": ("test_mcp_e2e", "test_apikey_example"),
    "crash": "test_stress.CrashConsistency",
    "load": ("test_stress.Thousand", "test_stress.FdExhaustion",
             "test_stress.SlowClients"),
}


def _terminate(signum, _frame):
    # meson's timeout sends SIGTERM: make sure no daemon outlives us.
    harness.kill_all_children()
    sys.stderr.write("integration: interrupted by signal %d\n" % signum)
    os._exit(128 + signum)


def main(argv):
    names = argv[1:] or sorted(GROUPS)
    unknown = [n for n in names if n not in GROUPS]
    if unknown:
        sys.stderr.write("unknown group(s): %s; known: %s\n"
                         % (", ".join(unknown), ", ".join(sorted(GROUPS))))
        return 2
    missing = harness.missing_binaries()
    if missing:
        print("integration: FAIL: binaries not available: " +
              ", ".join(missing))
        return 1
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)

    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for name in names:
        modules = GROUPS[name]
        if isinstance(modules, str):
            modules = (modules,)
        for module in modules:
            suite.addTests(loader.loadTestsFromName(module))
    started = time.monotonic()
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2)
    try:
        result = runner.run(suite)
    finally:
        harness.kill_all_children()
    elapsed = time.monotonic() - started
    failed = len(result.failures) + len(result.errors) + \
        len(getattr(result, "unexpectedSuccesses", []))
    verdict = "PASS" if result.wasSuccessful() else "FAIL"
    print("integration [%s]: %s: %d run, %d failed, %d errors, %d skipped "
          "(%.1fs)" % (" ".join(names), verdict, result.testsRun,
                       len(result.failures), len(result.errors),
                       len(result.skipped), elapsed))
    return 0 if result.wasSuccessful() and failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
