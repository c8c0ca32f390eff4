#!/usr/bin/env python3
"""Run keyward's integration tests.

    run.py [GROUP ...]      groups: see GROUPS below; none means all

Binaries come from KW_BIN_KEYWARDD, KW_BIN_KEYWARD and KW_BIN_KWCLIENT
(meson sets them). Exit status: 1 if a test failed, 77 if every test
skipped (meson shows SKIP), else 0. With KW_REQUIRE_ALL=1 (CI) a skip
fails the run unless its reason is one of harness.ACCEPTED_SKIPS.

Prints unittest's report, one summary line, and one line
"integration-result: {JSON}" with the counts and every skip's reason,
which scripts/test-summary.py reads from meson's test log.
"""

import json
import os
import signal
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402

GROUPS = {
    "cli": ("test_cli", "test_edit"),
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
    "spawner": "test_spawner",
    "spawner_unit": "test_spawner_unit",
    "webhook": "test_webhook",
    "oauth": "test_oauth",
    # The authorization server alone (no keyward code): not run by the
    # sanitizer build (meson.build).
    "oidc": "test_oidc_fixture",
    "net": "test_net",
    "tokens": "test_tokens",
    "apikey": "test_apikey",
    "bindings": ("test_bindings_python", "test_bindings_node"),
    "mcp": ("test_mcp_e2e", "test_apikey_example"),
    "mcp2": "test_mcp_sdk2",
    "mcpcmd": "test_mcpcmd",
    "backup": "test_backup",
    "rekey": "test_rekey",
    "mcpclients": "test_mcpclients",
    "crash": "test_stress.CrashConsistency",
    "load": ("test_stress.Thousand", "test_stress.FdExhaustion",
             "test_stress.SlowClients"),
    "selftest": "test_run",
    "importcmd": "test_importcmd",
    "runcmd": "test_runcmd",
    "systemd": "test_systemd",
    "owner": "test_owner",
    "completions": "test_completions",
    "proxy": "test_mcp_proxy",
}

EXIT_SKIP = 77  # meson's "skipped" exit status
RESULT_PREFIX = "integration-result: "


def require_all():
    return os.environ.get("KW_REQUIRE_ALL", "") not in ("", "0")


def run_suite(suite, label, stream, strict):
    """Run suite, report to stream; returns the exit status (see the module
    comment). strict: KW_REQUIRE_ALL."""
    started = time.monotonic()
    runner = unittest.TextTestRunner(stream=stream, verbosity=2)
    try:
        result = runner.run(suite)
    finally:
        harness.kill_all_children()
    elapsed = time.monotonic() - started
    unexpected = len(getattr(result, "unexpectedSuccesses", []))
    failed = len(result.failures) + len(result.errors) + unexpected
    skips = [{"test": test.id(), "reason": reason,
              "accepted": harness.accepted_skip_key(reason)}
             for test, reason in result.skipped]
    refused = [s for s in skips if s["accepted"] is None] if strict else []
    for s in refused:
        stream.write("integration: FAIL: %s skipped (%s); KW_REQUIRE_ALL=1 "
                     "accepts only the reasons in harness.ACCEPTED_SKIPS\n"
                     % (s["test"], s["reason"]))
    if failed or refused:
        rc, verdict = 1, "FAIL"
    elif result.testsRun == len(skips):
        rc, verdict = EXIT_SKIP, "SKIP (nothing ran)"
    else:
        rc, verdict = 0, "PASS"
    stream.write("integration [%s]: %s: %d run, %d failed, %d errors, "
                 "%d skipped (%.1fs)\n"
                 % (label, verdict, result.testsRun, len(result.failures),
                    len(result.errors), len(skips), elapsed))
    stream.write(RESULT_PREFIX + json.dumps({
        "groups": label.split(),
        "passed": result.testsRun - len(skips) - failed,
        "failed": failed,
        "skipped": skips,
        "require_all": strict,
        "exit": rc,
    }, sort_keys=True) + "\n")
    stream.flush()
    return rc


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
    return run_suite(suite, " ".join(names), sys.stdout, require_all())


if __name__ == "__main__":
    sys.exit(main(sys.argv))
