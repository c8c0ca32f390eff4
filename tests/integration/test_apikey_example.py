"""examples/c-apikey-server: a C HTTP server on loopback that lets in only
requests with an API key the agent knows (libkeyward's kw_apikey_verify).

- a live key, as `Authorization: Bearer` or `X-API-Key`, gets 200 and
  its principal;
- no key, a malformed, unknown or revoked key, or two keys at once get
  401 with a WWW-Authenticate header; a broken request gets 400;
- with the agent stopped the answer is 503, never 200.

The server comes from KW_BIN_APIKEY_SERVER (meson sets it)."""

import http.client
import os
import re
import select
import socket
import subprocess
import time

from harness import DaemonTestCase, spawn
import kwauth

BIN = os.environ.get("KW_BIN_APIKEY_SERVER", "")
START_DEADLINE_S = 30.0
HTTP_DEADLINE_S = 20.0


class ApiKeyServer(DaemonTestCase):

    def setUp(self):
        super().setUp()
        if not BIN or not os.access(BIN, os.X_OK):
            self.fail("KW_BIN_APIKEY_SERVER=%r is not an executable "
                      "(meson builds examples/c-apikey-server)" % BIN)
        self.h.write_policy("10-apikey-example.ini", (
            '[client "apikey-example"]\nexe = %s\nverify = **\n'
            % os.path.realpath(BIN)))
        self.assertRc(self.cli("policy", "reload"), 0)
        self.c = kwauth.client_for(self.h)
        self.addCleanup(self.c.close)
        self.start_server()

    def start_server(self):
        self.server = spawn([BIN, "0"], self.h.env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=self.h.work)
        self.addCleanup(self.stop_server)
        ready, _, _ = select.select([self.server.stdout], [], [],
                                    START_DEADLINE_S)
        line = self.server.stdout.readline() if ready else b""
        m = re.match(rb"listening http://127\.0\.0\.1:(\d+)/\n", line)
        if not m:
            self.server.kill()
            self.fail("c-apikey-server did not start: %r %r" % (
                line, self.server.stderr.read()))
        self.port = int(m.group(1))

    def stop_server(self):
        if self.server.poll() is None:
            self.server.terminate()
            try:
                self.assertEqual(self.server.wait(timeout=10), 0)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
                raise
        self.server.stdout.close()
        self.server.stderr.close()

    def get(self, headers):
        conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=HTTP_DEADLINE_S)
        try:
            conn.request("GET", "/whoami", headers=headers)
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def assert401(self, headers, why):
        status, hdrs, body = self.get(headers)
        with self.subTest(why=why):
            self.assertEqual(status, 401, body)
            # Built by libkeyward's kw_www_authenticate.
            self.assertEqual(hdrs.get("WWW-Authenticate"),
                             'Bearer realm="keyward-example", '
                             'error="invalid_token"', hdrs)

    def test_keys(self):
        key, key_id = kwauth.create_api_key(self.c, "svc-c", scopes=["read"])
        for headers in ({"Authorization": "Bearer " + key},
                        {"X-API-Key": key}, {"x-api-key": key}):
            status, _h, body = self.get(headers)
            self.assertEqual(status, 200, body)
            self.assertEqual(body, b'{"ok":true,"principal":"svc-c"}')
        self.assert401({}, "no key")
        self.assert401({"Authorization": "Basic " + key}, "not Bearer")
        self.assert401({"X-API-Key": "kwk_short"}, "malformed")
        self.assert401({"X-API-Key": key[:-1] + ("A" if key[-1] != "A"
                                                 else "B")}, "checksum")
        self.assert401({"X-API-Key": kwauth.unknown_api_key()}, "unknown")
        self.assert401({"X-API-Key": key, "Authorization": "Bearer " + key},
                       "two keys")
        kwauth.revoke_api_key(self.c, key_id)
        self.assert401({"X-API-Key": key}, "revoked")

    def test_bad_request_and_agent_down(self):
        key, _ = kwauth.create_api_key(self.c, "svc-c")
        with socket.create_connection(("127.0.0.1", self.port),
                                      timeout=HTTP_DEADLINE_S) as s:
            s.sendall(b"x" * 8191)  # a full head buffer, no blank line
            self.assertTrue(s.recv(64).startswith(b"HTTP/1.1 400 "))
        self.d.stop()
        status, _h, _body = self.get({"X-API-Key": key})
        self.assertEqual(status, 503)
        self.d.start()
        deadline = time.monotonic() + START_DEADLINE_S
        while self.get({"X-API-Key": key})[0] != 200:
            self.assertLess(time.monotonic(), deadline,
                            "the server did not recover with the agent")
            time.sleep(0.1)
