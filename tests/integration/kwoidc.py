"""A real OAuth 2.0 authorization server for the tests: oidc-provider
(tests/integration/oidc, pinned in its package-lock.json) on 127.0.0.1,
started by Provider() and stopped with the test (or the test class).

    p = kwoidc.Provider(self, resources={kwoidc.RESOURCE: {...}})
    tok = p.token(kwoidc.CC_BASIC_ID, kwoidc.CC_BASIC_SECRET,
                  resource=kwoidc.RESOURCE)
    p.introspect(tok["access_token"], kwoidc.CC_BASIC_ID,
                 kwoidc.CC_BASIC_SECRET)["active"]

The server (oidc/provider.mjs, whose comment lists everything it turns on)
logs in ACCOUNT and grants everything asked for without a page (deny=True:
access_denied instead). Authorization URLs are followed by oidc/browser.py,
the tests' stand-in for a browser (browser_argv() is what $BROWSER should
run); the device grant's user side is driven through the provider's own
pages by approve_device(). The test clients below are registered unless
the test passes clients= itself.

Node: kwauth.sdk2_node() (Node 20 or later); npm ci once per run into
the build directory (kwauth.install_node_package("oidc")). Python 3
standard library only."""

import base64
import hashlib
import http.server
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import harness
import kwauth

HERE = os.path.dirname(os.path.abspath(__file__))
BROWSER = os.path.join(HERE, "oidc", "browser.py")
sys.path.insert(0, os.path.join(HERE, "oidc"))
import browser  # noqa: E402  (oidc/browser.py)

START_DEADLINE_S = 60.0 * harness.SLOW
HTTP_DEADLINE_S = 30.0 * harness.SLOW
STOP_DEADLINE_S = 10.0

# The user every interaction logs in.
ACCOUNT = "alice"
# A resource server (RFC 8707) with its scope; Provider(resources=...)
# says how its JWT access tokens are signed.
RESOURCE = "http://127.0.0.1:1/mcp"
RESOURCE_SCOPE = "mcp:tools"
# Confidential clients of the client_credentials grant: one registered for
# client_secret_basic, one for client_secret_post (oidc-provider accepts
# either method from both), and one whose id and secret need RFC 6749
# 2.3.1's form-urlencoding before Basic: ':' '%' '+' ' ' '&' '=' '/'.
# No non-ASCII: RFC 6749 A.1/A.2 allow only VSCHAR (%x20-7E) in both, and
# oidc-provider refuses anything else, in its client metadata and in a
# decoded Basic header alike.
CC_BASIC_ID = "kw-cc-basic"
CC_BASIC_SECRET = "cc-basic-secret-" + "b" * 32
CC_POST_ID = "kw-cc-post"
CC_POST_SECRET = "cc-post-secret-" + "p" * 32
AWKWARD_ID = "kw:awk%20ward+id &=/"
AWKWARD_SECRET = "s3:cr%2Bet+with space&=/%%~*'()!" + "x" * 16
# A native public client (RFC 8252): loopback redirect on any port, PKCE
# S256 required, code, refresh and device grants.
NATIVE_ID = "kw-native"
NATIVE_REDIRECT = "http://127.0.0.1/callback"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def cc_client(client_id, secret, method="client_secret_basic"):
    """Client metadata of a confidential client_credentials client."""
    return {"client_id": client_id, "client_secret": secret,
            "grant_types": ["client_credentials"], "response_types": [],
            "redirect_uris": [], "token_endpoint_auth_method": method}


def native_client(client_id=NATIVE_ID, redirect_uris=(NATIVE_REDIRECT,)):
    """Client metadata of a native public client."""
    return {"client_id": client_id, "application_type": "native",
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token",
                            DEVICE_GRANT],
            "response_types": ["code"], "redirect_uris": list(redirect_uris)}


CLIENTS = [
    cc_client(CC_BASIC_ID, CC_BASIC_SECRET),
    cc_client(CC_POST_ID, CC_POST_SECRET, "client_secret_post"),
    cc_client(AWKWARD_ID, AWKWARD_SECRET),
    native_client(),
]

_install = []


def _installed(test):
    """The npm install once per run: its directory, or the test fails."""
    if not _install:
        _install.append(kwauth.install_node_package("oidc"))
    directory, failure = _install[0]
    if failure:
        test.fail("oidc-provider could not be installed: %s" % failure)
    return directory


def pkce():
    """(code_verifier, S256 code_challenge)."""
    verifier = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def basic(client_id, secret, encode=True):
    """client_secret_basic's header value: RFC 6749 2.3.1, id and secret
    form-urlencoded before Basic; encode=False is plain RFC 7617 Basic,
    which oidc-provider (rightly) does not accept for ids and secrets
    that need encoding."""
    if encode:
        client_id = urllib.parse.quote_plus(client_id, safe="")
        secret = urllib.parse.quote_plus(secret, safe="")
    return "Basic " + base64.b64encode(
        ("%s:%s" % (client_id, secret)).encode()).decode()


class Response(dict):
    """A parsed JSON answer (the dict), with .status and .headers
    (lower-case names)."""

    def __init__(self, status, headers, body):
        try:
            parsed = json.loads(body) if body else {}
        except ValueError:
            parsed = {"_body": body.decode("utf-8", "replace")}
        super().__init__(parsed if isinstance(parsed, dict)
                         else {"_json": parsed})
        self.status = status
        self.headers = headers


def browser_argv():
    """What $BROWSER runs: this interpreter and oidc/browser.py (the URL
    follows). The script is executable on its own too (BROWSER)."""
    return [sys.executable, BROWSER]


class Provider:
    """oidc-provider on 127.0.0.1 for one test (test.addCleanup) or one
    test class (pass the class, from setUpClass: addClassCleanup).

    clients: client metadata (default CLIENTS); resources: {URI:
    {"scopes": [...], "audience": AUD, "alg": RS256|PS256|ES256|EdDSA}};
    scopes: more scopes besides openid and offline_access; TTLs in
    seconds; deny: every interaction ends with access_denied;
    key_generations: signing keys for rotate_keys()."""

    def __init__(self, test, clients=None, resources=None, scopes=(),
                 access_token_ttl=300, refresh_token_ttl=3600,
                 device_code_ttl=300, deny=False, key_generations=2,
                 account=ACCOUNT):
        if isinstance(test, type):
            self._fail_on = unittest.TestCase()
            cleanup = test.addClassCleanup
            self._test = None
        else:
            self._fail_on = test
            cleanup = test.addCleanup
            self._test = test
        t0 = time.monotonic()
        self.node = kwauth.sdk2_node(self._fail_on)
        self.dir = _installed(self._fail_on)
        self.install_s = time.monotonic() - t0
        self.tmp = tempfile.mkdtemp(prefix="kwoidc-")
        cleanup(self._remove_tmp)
        self.config = {
            "clients": CLIENTS if clients is None else list(clients),
            "resources": dict(resources or {}),
            "scopes": list(scopes),
            "access_token_ttl": access_token_ttl,
            "refresh_token_ttl": refresh_token_ttl,
            "device_code_ttl": device_code_ttl,
            "deny": bool(deny),
            "key_generations": key_generations,
            "account": account,
        }
        config = os.path.join(self.tmp, "config.json")
        with open(config, "w") as f:
            json.dump(self.config, f, indent=1)
        self.log_path = os.path.join(self.tmp, "provider.log")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("KEYWARD_", "NODE_"))}
        logfd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT |
                        os.O_APPEND | os.O_CLOEXEC, 0o600)
        t0 = time.monotonic()
        try:
            self.proc = harness.spawn(
                [self.node, os.path.join(self.dir, "provider.mjs"), config],
                env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=logfd, cwd=self.dir)
        finally:
            os.close(logfd)
        cleanup(self.stop)
        ready = self._ready_line()
        self.start_s = time.monotonic() - t0
        self.issuer = ready["issuer"]
        self.port = ready["port"]
        if self.issuer != "http://127.0.0.1:%d" % self.port:
            self._fail_on.fail("provider.mjs is ready at %r, port %r"
                               % (self.issuer, self.port))

    # --- the process -------------------------------------------------------

    def _ready_line(self):
        line = b""
        end = time.monotonic() + START_DEADLINE_S
        while not line.endswith(b"\n"):
            left = end - time.monotonic()
            ready, _, _ = select.select([self.proc.stdout], [], [],
                                        max(left, 0))
            if not ready:
                self._fail_on.fail("provider.mjs printed nothing within %ss;"
                                   " log:\n%s" % (START_DEADLINE_S,
                                                  self.log_text()))
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                self._fail_on.fail("provider.mjs exited (%s) before it was "
                                   "ready; log:\n%s" % (self.proc.wait(),
                                                        self.log_text()))
            line += chunk
        try:
            return json.loads(line)
        except ValueError:
            self._fail_on.fail("provider.mjs's ready line is not JSON: %r"
                               % line)

    def log_text(self, tail=6000):
        """The server's stderr (its last tail characters)."""
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-tail:]
        except FileNotFoundError:
            return ""

    def stop(self):
        """Close its stdin (it exits), else SIGTERM, else SIGKILL. When
        the test failed or the server had died, its log goes to stderr."""
        died = self.proc.poll() is not None
        if not died:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=STOP_DEADLINE_S)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=STOP_DEADLINE_S)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        failed = (self._test is not None and
                  harness.DaemonTestCase._failed(self._test))
        if died or failed:
            sys.stderr.write("\n--- oidc-provider log (%s) ---\n%s\n--- end "
                             "---\n" % ("it had exited with %s"
                                        % self.proc.returncode if died
                                        else "the test failed",
                                        self.log_text()))

    def _remove_tmp(self):
        if os.environ.get("KW_KEEP_TMP"):
            sys.stderr.write("keeping %s\n" % self.tmp)
            return
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- HTTP ----------------------------------------------------------------

    def url(self, path=""):
        """The issuer's URL with path appended."""
        return self.issuer + path

    def request(self, method, path, form=None, headers=None, body=None):
        """One request to the server (no redirects followed): a Response.
        form: dict or list of pairs, sent form-urlencoded."""
        headers = dict(headers or {})
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        req = urllib.request.Request(
            path if path.startswith("http") else self.url(path),
            data=body, method=method, headers=headers)
        opener = urllib.request.build_opener(browser._NoRedirect())
        try:
            resp = opener.open(req, timeout=HTTP_DEADLINE_S)
        except urllib.error.HTTPError as e:
            resp = e
        with resp:
            return Response(resp.status,
                            {k.lower(): v for k, v in resp.headers.items()},
                            resp.read())

    def _client_auth(self, client_id, secret, auth, form, headers):
        """Add client authentication: auth "basic" (RFC 6749 2.3.1),
        "basic-raw" (RFC 7617 Basic without the form-urlencoding), "post"
        (client_id and client_secret in the body) or "none" (client_id
        only: public clients)."""
        if auth == "basic":
            headers["Authorization"] = basic(client_id, secret)
        elif auth == "basic-raw":
            headers["Authorization"] = basic(client_id, secret, False)
        elif auth == "post":
            form += [("client_id", client_id), ("client_secret", secret)]
        elif auth == "none":
            form.append(("client_id", client_id))
        else:
            raise ValueError("auth must be basic, basic-raw, post or none")

    def token(self, client_id, secret=None, grant="client_credentials",
              auth="basic", resource=None, scope=None, **params):
        """POST the token endpoint: a Response (the parsed JSON, with
        .status). params: the grant's own (code, code_verifier,
        redirect_uri, refresh_token, device_code); grant may be
        "device_code" for RFC 8628's URN."""
        if grant == "device_code":
            grant = DEVICE_GRANT
        form = [("grant_type", grant)]
        if resource is not None:
            form.append(("resource", resource))
        if scope is not None:
            form.append(("scope", scope))
        form += [(k, v) for k, v in params.items() if v is not None]
        headers = {}
        self._client_auth(client_id, secret, auth, form, headers)
        return self.request("POST", "/token", form=form, headers=headers)

    def introspect(self, token, client_id, secret, auth="basic"):
        """RFC 7662: a Response ({"active": ...})."""
        form = [("token", token)]
        headers = {}
        self._client_auth(client_id, secret, auth, form, headers)
        return self.request("POST", "/token/introspection", form=form,
                            headers=headers)

    def revoke(self, token, client_id, secret=None, auth="basic",
               token_type_hint=None):
        """RFC 7009: a Response (status 200 and an empty body when done)."""
        form = [("token", token)]
        if token_type_hint:
            form.append(("token_type_hint", token_type_hint))
        headers = {}
        self._client_auth(client_id, secret, auth, form, headers)
        return self.request("POST", "/token/revocation", form=form,
                            headers=headers)

    def device_authorization(self, client_id=NATIVE_ID, scope=None,
                             resource=None, secret=None, auth="none"):
        """RFC 8628 3.1: a Response (device_code, user_code,
        verification_uri, verification_uri_complete, expires_in)."""
        form = []
        if scope is not None:
            form.append(("scope", scope))
        if resource is not None:
            form.append(("resource", resource))
        headers = {}
        self._client_auth(client_id, secret, auth, form, headers)
        return self.request("POST", "/device/auth", form=form,
                            headers=headers)

    def approve_device(self, user_code):
        """The user's side of the device grant through the provider's own
        pages, as browser.py does it: open the verification URI, type
        user_code, confirm, then the automatic login and consent. Returns
        browser.Outcome (kind "device"); raises browser.BrowserError when
        the provider says anything else (a wrong or used code; with deny,
        "The Sign-in request was interrupted")."""
        return browser.browse(self.url("/device"), user_code=user_code,
                              timeout=HTTP_DEADLINE_S)

    def register(self, metadata):
        """RFC 7591 dynamic registration (open): a Response (201 and the
        client's metadata, client_id and, for confidential clients,
        client_secret)."""
        return self.request("POST", "/reg", body=json.dumps(metadata).encode(),
                            headers={"Content-Type": "application/json"})

    def metadata(self, well_known="oauth-authorization-server"):
        """The discovery document (RFC 8414; well_known
        "openid-configuration" for OIDC Discovery's)."""
        return self.request("GET", "/.well-known/" + well_known)

    def jwks(self):
        return self.request("GET", "/jwks")

    def rotate_keys(self, retire=False):
        """POST /test/jwks-rotate: the next generation of signing keys is
        published and signs from now on; retire=True also drops the old
        ones from /jwks. A Response ({"generation", "kids"}; 409 when no
        generation is left)."""
        return self.request("POST", "/test/jwks-rotate" +
                            ("?retire=1" if retire else ""), body=b"")

    def authorization_url(self, client_id=NATIVE_ID, redirect_uri=None,
                          scope=None, resource=None, state=None,
                          code_challenge=None, code_challenge_method="S256",
                          **extra):
        """An authorization request URL (response_type code); None values
        are left out."""
        params = [("response_type", "code"), ("client_id", client_id),
                  ("redirect_uri", redirect_uri), ("scope", scope),
                  ("resource", resource), ("state", state),
                  ("code_challenge", code_challenge),
                  ("code_challenge_method",
                   code_challenge_method if code_challenge else None)]
        params += list(extra.items())
        return self.url("/auth?" + urllib.parse.urlencode(
            [(k, v) for k, v in params if v is not None]))


# --- a redirect URI for tests that play the client --------------------------

class Callback:
    """A tiny HTTP listener on 127.0.0.1 (a port the kernel picks) that
    records every request's path and query and answers 200. For tests
    that play the OAuth client themselves; keyward's own tests have
    keyward listen instead. Stopped with the test (or class)."""

    def __init__(self, test, path="/callback"):
        self.requests = []
        seen = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                seen.append(self.path)
                body = b"done, you can close this window\n"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        self.port = self.server.server_address[1]
        self.uri = "http://127.0.0.1:%d%s" % (self.port, path)
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()
        (test.addClassCleanup if isinstance(test, type)
         else test.addCleanup)(self.stop)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def last(self):
        """(path, {query parameter: value}) of the last request."""
        if not self.requests:
            raise AssertionError("nothing reached the callback %s" % self.uri)
        parts = urllib.parse.urlsplit(self.requests[-1])
        return parts.path, dict(urllib.parse.parse_qsl(parts.query))
