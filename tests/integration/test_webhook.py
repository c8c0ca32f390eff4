"""The webhook: rotator against a real HTTP(S) server on loopback
(docs/rotation.md): signed bodies, TLS verified against a CA made for the
test, retries on 500, the SSRF guard, and a slow endpoint that never holds
up other clients."""

import base64
import hashlib
import hmac
import http.server
import json
import os
import queue
import ssl
import subprocess
import threading
import time

from harness import poll_until
from test_rotation import T0, DAY, RotationCase


def make_ca(directory):
    """A throwaway CA and a certificate for 127.0.0.1/localhost signed by
    it, made with the openssl command; returns (ca, cert, key) paths."""
    def openssl(*args):
        subprocess.run(["openssl"] + list(args), cwd=directory, check=True,
                       capture_output=True, timeout=60)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=keyward test CA", "-keyout", "ca.key",
            "-out", "ca.pem")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "srv.key",
            "-out", "srv.csr")
    with open(os.path.join(directory, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey",
            "ca.key", "-CAcreateserial", "-days", "2", "-extfile",
            "ext.cnf", "-out", "srv.pem")
    return tuple(os.path.join(directory, n)
                 for n in ("ca.pem", "srv.pem", "srv.key"))


class Receiver:
    """An HTTP server in a thread that records each request and answers
    with the next queued (status, body), 204 when none is queued."""

    def __init__(self, tls=None):
        self.requests = []
        self.answers = queue.Queue()
        self.hold = None  # a threading.Event the handler waits for
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                outer.requests.append((self.path, dict(self.headers), body))
                if outer.hold is not None:
                    outer.hold.wait(20)
                try:
                    status, text = outer.answers.get_nowait()
                except queue.Empty:
                    status, text = 204, b""
                self.send_response(status)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls[0], tls[1])
            self.server.socket = ctx.wrap_socket(self.server.socket,
                                                 server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def close(self):
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()


class WebhookCase(RotationCase):
    KEY = b"shared-hmac-key-for-the-receiver"

    def setUp(self):
        self.certs = None
        super().setUp()

    def receiver(self, tls=False):
        if tls and self.certs is None:
            d = os.path.join(self.h.work, "pki")
            os.mkdir(d, 0o700)
            self.certs = make_ca(d)
        rcv = Receiver(self.certs[1:] if tls else None)
        self.addCleanup(rcv.close)
        return rcv

    def check_signature(self, headers, body):
        sig = headers.get("Keyward-Signature")
        self.assertIsNotNone(sig, headers)
        parts = dict(p.split("=", 1) for p in sig.split(","))
        self.assertEqual(set(parts), {"t", "v1"}, sig)
        t = int(parts["t"])
        # Signed with real time (receivers compare with their clock).
        self.assertLess(abs(time.time() - t), 120)
        want = hmac.new(self.KEY, parts["t"].encode() + b"." + body,
                        hashlib.sha256).hexdigest()
        self.assertTrue(hmac.compare_digest(want, parts["v1"]), sig)
        # A tampered body does not verify.
        bad = hmac.new(self.KEY, parts["t"].encode() + b"." + body + b" ",
                       hashlib.sha256).hexdigest()
        self.assertNotEqual(bad, parts["v1"])
        self.assertEqual(headers.get("Content-Type"), "application/json")


class TestWebhookTLS(WebhookCase):

    def setUp(self):
        super().setUp()
        self.rcv = self.receiver(tls=True)
        # Trust the test CA (and only it): restart with the config.
        self.d.stop()
        self.h.config.setdefault("rotation", {})["webhook_ca_file"] = \
            self.certs[0]
        self.h.config["rotation"].update({"retry_seconds": 10,
                                          "max_attempts": 3})
        import harness
        with open(self.h.ini, "w") as f:
            f.write(harness.render_config(self.h.config))
        self.d.start()
        self.r = self.rpc()
        self.put("hooks/key", self.KEY)

    def test_signed_https_with_retry_on_500(self):
        self.put("app/wh", b"v1")
        url = "https://127.0.0.1:%d/rotate" % self.rcv.port
        self.schedule("app/wh", DAY, "webhook:" + url,
                      hmac_secret="hooks/key", allow_private=True)
        self.rcv.answers.put((500, b"upstream down\nsecond line"))
        rid = self.call("rotate.start", {"name": "app/wh"})["rotation_id"]
        self.assertTrue(poll_until(
            lambda: (self.status("app/wh")["rotation"] or {})
            .get("attempts") == 1, 10))
        run = self.status("app/wh")["rotation"]
        self.assertEqual(run["step"], "set")
        self.assertIn("HTTP 500", run["error"])
        self.assertIn("upstream down", run["error"])
        self.assertNotIn("second line", run["error"])
        self.assertEqual(self.get("app/wh"), (b"v1", 1))

        self.set_clock(T0 + 60)  # past the backoff
        self.wait_run("app/wh", rid)
        value, ver = self.get("app/wh")
        self.assertEqual(ver, 2)
        self.assertEqual(len(self.rcv.requests), 3)  # set, set, test
        steps = []
        for path, headers, body in self.rcv.requests:
            self.assertEqual(path, "/rotate")
            self.check_signature(headers, body)
            msg = json.loads(body)
            steps.append(msg["step"])
            self.assertEqual(msg["rotation_id"], rid)
            self.assertEqual(msg["name"], "app/wh")
            self.assertEqual(msg["version"], 2)
            self.assertEqual(msg["previous_version"], 1)
            self.assertEqual(base64.b64decode(msg["value"]), value)
        self.assertEqual(steps, ["set", "set", "test"])

    def test_untrusted_certificate_is_refused(self):
        # Same server, but the agent trusts only the system's CAs now.
        self.d.stop()
        del self.h.config["rotation"]["webhook_ca_file"]
        import harness
        with open(self.h.ini, "w") as f:
            f.write(harness.render_config(self.h.config))
        self.d.start()
        self.r = self.rpc()
        url = "https://127.0.0.1:%d/rotate" % self.rcv.port
        self.schedule("app/tls", DAY, "webhook:" + url,
                      hmac_secret="hooks/key", allow_private=True)
        self.call("rotate.start", {"name": "app/tls"})
        self.assertTrue(poll_until(
            lambda: (self.status("app/tls")["rotation"] or {})
            .get("attempts") == 1, 10))
        err = self.status("app/tls")["rotation"]["error"]
        self.assertRegex(err.lower(), r"ssl|tls|certificate")
        self.assertEqual(self.rcv.requests, [])


class TestWebhookGuard(WebhookCase):

    def setUp(self):
        super().setUp()
        self.put("hooks/key", self.KEY)

    def test_private_destination_refused_without_allow_private(self):
        rcv = self.receiver()
        for host in ("127.0.0.1", "localhost"):
            name = "app/priv-" + host
            url = "http://%s:%d/h" % (host, rcv.port)
            self.schedule(name, DAY, "webhook:" + url,
                          hmac_secret="hooks/key", allow_insecure=True)
            self.call("rotate.start", {"name": name})
            self.assertTrue(poll_until(
                lambda: (self.status(name)["rotation"] or {})
                .get("attempts") == 1, 10))
            err = self.status(name)["rotation"]["error"]
            self.assertIn("allow_private", err)
        self.assertEqual(rcv.requests, [])

    def test_plain_http_to_loopback_with_both_flags(self):
        rcv = self.receiver()
        url = "http://127.0.0.1:%d/h" % rcv.port
        self.schedule("app/plain", DAY, "webhook:" + url,
                      hmac_secret="hooks/key", allow_insecure=True,
                      allow_private=True)
        rid = self.call("rotate.start", {"name": "app/plain"})["rotation_id"]
        self.wait_run("app/plain", rid)
        self.assertEqual([json.loads(b)["step"] for _, _, b in rcv.requests],
                         ["set", "test"])

    def test_slow_endpoint_does_not_hold_up_clients(self):
        rcv = self.receiver()
        rcv.hold = threading.Event()
        url = "http://127.0.0.1:%d/h" % rcv.port
        self.put("other/value", b"still served")
        self.schedule("app/slow", DAY, "webhook:" + url,
                      hmac_secret="hooks/key", allow_insecure=True,
                      allow_private=True)
        rid = self.call("rotate.start", {"name": "app/slow"})["rotation_id"]
        self.assertTrue(poll_until(lambda: len(rcv.requests) == 1, 10))
        # The webhook is waiting on us; the agent answers everyone else.
        for _ in range(20):
            self.assertEqual(self.get("other/value")[0], b"still served")
        self.assertEqual(self.status("app/slow")["rotation"]["step"], "set")
        rcv.hold.set()
        self.wait_run("app/slow", rid)
