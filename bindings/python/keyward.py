"""keyward - a client of the keyward agent, in the Python standard library.

keywardd speaks JSON-RPC 2.0, one JSON object per line, over a Unix socket
(docs/protocol.md). This module is that protocol and nothing more: no
dependencies, one file, Python 3.11+ (pyproject.toml makes it installable
with pip).

    import keyward

    kw = keyward.Client()                 # finds the agent like keyward does
    token = kw.get_secret("github/token")   # bytes
    kw.put_secret("github/token", b"...")   # a new version
    info = kw.verify_api_key(presented)     # {"id", "principal", ...}

    # An MCP server built with the Python SDK (2.x MCPServer, 1.x FastMCP):
    verifier = keyward.TokenVerifier("https://mcp.example.com/mcp")
    mcp = MCPServer(..., token_verifier=verifier, auth=AuthSettings(...))

Behaviour, mirroring libkeyward:

- Socket: `$KEYWARD_SOCKET`, else `$XDG_RUNTIME_DIR/keyward/agent.sock`,
  else `$KEYWARD_HOME/agent.sock` (KEYWARD_HOME defaults to `~/.mcp`), as in
  docs/config.md. A variable that is set must hold an absolute path.
- Only an agent running as our own uid or root, or as `$KEYWARD_AGENT_UID`,
  is talked to (SO_PEERCRED): anyone can bind a socket at a path a client
  was misconfigured to use, and a fake agent could hand out fake secrets
  or call any token valid.
- Client token: `$KEYWARD_TOKEN` (or `token=`) is presented with
  `client.hello` on every new connection before any request, so a request
  is never attributed to the wrong principal. A locked agent cannot check
  it; it is presented again once the agent answers something else.
- Every call has a deadline (`timeout`, seconds). A connection that timed
  out or returned something malformed is closed (what arrives next could be
  the answer to a request given up on); the next call reconnects. A
  connection found dead before the agent answered anything (an agent
  restart, an idle-timeout close) is reopened once and the request sent
  again.
- Response lines are bounded (MAX_LINE); a longer one closes the
  connection with a `too_big` error.
- Errors are KeywardError with `.code`, `.kind` (the stable word from the
  protocol's error table: "not_found", "denied", "invalid_token", ...),
  `.message` and `.data`. Code against `.kind`.

One Client may be shared by threads: calls on it are serialised, as the
protocol answers one request at a time per connection.

No repr or str of an object here shows a token: Client, IssuedToken and
AccessToken leave theirs out.
"""

import asyncio
import base64
import binascii
import dataclasses
import json
import os
import pwd
import re
import socket
import struct
import threading
import time

__all__ = ["AccessToken", "Client", "IssuedToken", "KeywardError",
           "TokenVerifier", "socket_path"]

# Kept equal to the project's version (meson.build; pyproject.toml).
__version__ = "0.1.0"

DEFAULT_TIMEOUT = 10.0
# The largest answer: a 16 MiB value (max_value_bytes at its maximum) is
# about 22.4 MiB of base64, plus the JSON around it.
MAX_LINE = 32 * 1024 * 1024
# sockaddr_un.sun_path holds 108 bytes including the NUL.
SOCKET_PATH_MAX = 107
# Bearer tokens longer than this are refused without asking the agent.
MAX_BEARER_LEN = 16384
# The agent's own ceiling on max_value_bytes (docs/config.md): a larger
# value could never be stored, so it is refused before it is encoded.
MAX_VALUE_BYTES = 16 * 1024 * 1024

_TOKEN_RE = re.compile(r"kwt_[A-Za-z0-9_-]{43}\Z")
_BEARER_RE = re.compile(r"[\x21-\x7e]+\Z")
_RECV_CHUNK = 65536

# Client-side error codes, from the protocol's table (docs/protocol.md).
_CLIENT_ERRORS = {
    "invalid_request": -32600,
    "invalid_params": -32602,
    "too_big": 1008,
    "connect": 1010,
    "unsafe_permissions": 1016,
    "timeout": 1011,
    "closed": 1021,
}


class KeywardError(Exception):
    """An error from the agent, or from talking to it.

    code: the wire code (int); kind: the stable word (str); message: what
    was wrong (never a value or token); data: error.data as sent (dict)."""

    def __init__(self, code, kind, message, data=None):
        super().__init__("%s: %s" % (kind, message))
        self.code = code
        self.kind = kind
        self.message = message
        self.data = data if data is not None else {"kind": kind}

    @classmethod
    def client(cls, kind, message):
        return cls(_CLIENT_ERRORS[kind], kind, message)


class _Closed(Exception):
    """The agent closed the connection (internal)."""


def _env_path(var):
    value = os.environ.get(var)
    if value is None:
        return None
    if not value.startswith("/"):
        raise KeywardError.client("invalid_params",
                                  "%s must be an absolute path" % var)
    return value


def socket_path():
    """The agent's socket path, resolved as docs/config.md says."""
    path = _env_path("KEYWARD_SOCKET")
    if path is None:
        runtime = _env_path("XDG_RUNTIME_DIR")
        if runtime is not None:
            path = os.path.join(runtime, "keyward", "agent.sock")
        else:
            home = _env_path("KEYWARD_HOME")
            if home is None:
                user_home = _env_path("HOME")
                if user_home is None:
                    user_home = pwd.getpwuid(os.geteuid()).pw_dir
                home = os.path.join(user_home, ".mcp")
            path = os.path.join(home, "agent.sock")
    if len(os.fsencode(path)) > SOCKET_PATH_MAX:
        raise KeywardError.client("invalid_params",
                                  "the socket path does not fit a socket "
                                  "address (at most %d bytes)"
                                  % SOCKET_PATH_MAX)
    return path


def _peer_uid(sock):
    """The uid of the process listening at the other end of sock."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                            struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


def _check_agent(sock, path):
    """Raise unsafe_permissions unless the agent is one we trust."""
    try:
        uid = _peer_uid(sock)
    except OSError:
        raise KeywardError.client("connect", "cannot tell who listens at %s"
                                  % path) from None
    if uid in (os.geteuid(), 0):
        return
    want = os.environ.get("KEYWARD_AGENT_UID", "")
    if want.isdigit() and int(want) == uid:
        return
    raise KeywardError.client(
        "unsafe_permissions", "the process listening at %s runs as uid %d, "
        "neither you nor root: not talking to it (set KEYWARD_AGENT_UID=%d "
        "if that agent is expected)" % (path, uid, uid))


class Client:
    """A connection to keywardd (opened on the first call)."""

    def __init__(self, path=None, token=None, timeout=DEFAULT_TIMEOUT):
        """path: the socket (default: socket_path()); token: a client token
        (default: $KEYWARD_TOKEN; "" for none); timeout: seconds per call."""
        if token is None:
            token = os.environ.get("KEYWARD_TOKEN", "")
        if token and not _TOKEN_RE.match(token):
            raise KeywardError.client(
                "invalid_params", "the client token is malformed (expected "
                "kwt_ followed by 43 base64url characters)")
        if not (isinstance(timeout, (int, float)) and timeout > 0):
            raise KeywardError.client("invalid_params",
                                      "timeout must be a positive number")
        self.path = path if path is not None else socket_path()
        self.timeout = float(timeout)
        self._token = token or None
        self._token_pending = False
        self._sock = None
        self._pid = None
        self._buf = bytearray()
        self._scanned = 0
        self._next_id = 0
        self._lock = threading.Lock()

    def __repr__(self):
        # Never the client token: whether one is set is all a log needs.
        return "keyward.Client(path=%r, token=%s, timeout=%g)" % (
            self.path, "<set>" if self._token else "None", self.timeout)

    # -- connection ----------------------------------------------------

    def close(self):
        with self._lock:
            self._drop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _drop(self):
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        self._sock = None
        self._buf = bytearray()
        self._scanned = 0

    def _open(self, deadline):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            sock.connect(self.path)
        except socket.timeout:
            sock.close()
            raise KeywardError.client(
                "timeout", "connecting to the agent timed out") from None
        except OSError as e:
            sock.close()
            raise KeywardError.client(
                "connect", "cannot connect to the agent at %s: %s"
                % (self.path, e.strerror or e)) from None
        try:
            _check_agent(sock, self.path)
        except KeywardError:
            sock.close()
            raise
        self._sock = sock
        self._pid = os.getpid()
        self._buf = bytearray()
        self._scanned = 0
        self._token_pending = self._token is not None

    def _read_line(self, deadline):
        """The next line without its newline; _Closed at EOF."""
        while True:
            nl = self._buf.find(b"\n", self._scanned)
            if nl > MAX_LINE or (nl < 0 and len(self._buf) > MAX_LINE):
                self._drop()
                raise KeywardError.client(
                    "too_big", "the agent sent a line longer than %d bytes"
                    % MAX_LINE)
            if nl >= 0:
                line = bytes(self._buf[:nl])
                del self._buf[:nl + 1]
                self._scanned = 0
                return line
            self._scanned = len(self._buf)
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout()
            self._sock.settimeout(left)
            try:
                chunk = self._sock.recv(_RECV_CHUNK)
            except (ConnectionResetError, BrokenPipeError):
                chunk = b""
            if not chunk:
                raise _Closed()
            self._buf += chunk

    def _exchange(self, method, params, deadline):
        """Send one request and return its answer (a dict) from the open
        connection; _Closed(got_bytes) if the agent closed it first."""
        self._next_id += 1
        req_id = self._next_id
        msg = {"jsonrpc": "2.0", "id": req_id, "method": method}
        if params is not None:
            msg["params"] = params
        try:
            # ASCII with escapes: one line, whatever the strings hold.
            line = json.dumps(msg, separators=(",", ":")).encode() + b"\n"
        except (TypeError, ValueError) as e:
            raise KeywardError.client("invalid_params",
                                      "params cannot be sent as JSON: %s"
                                      % e) from None
        got = False
        try:
            self._sock.settimeout(max(deadline - time.monotonic(), 0.001))
            self._sock.sendall(line)
        except (BrokenPipeError, ConnectionResetError):
            pass  # an answer (e.g. an error with id null) may still wait
        while True:
            try:
                raw = self._read_line(deadline)
            except _Closed:
                raise _Closed(got)
            got = True
            try:
                resp = json.loads(raw)
            except ValueError:
                resp = None
            if not isinstance(resp, dict) or resp.get("jsonrpc") != "2.0":
                self._drop()
                raise KeywardError.client(
                    "invalid_request", "the agent sent a line that is not "
                    "a JSON-RPC 2.0 message")
            if "id" not in resp and "method" in resp:
                continue  # a notification: this client watches nothing
            rid = resp.get("id")
            if rid is None and "error" in resp:
                # Sent before closing: about the connection, not a request.
                self._drop()
                return resp
            if rid != req_id:
                self._drop()
                raise KeywardError.client(
                    "invalid_request", "the agent answered request %r, "
                    "expected %r" % (rid, req_id))
            return resp

    # -- calls -----------------------------------------------------------

    def call(self, method, params=None):
        """Call METHOD with PARAMS (a dict) and return the result (a dict).
        Raises KeywardError."""
        if not isinstance(method, str) or not method:
            raise KeywardError.client("invalid_params",
                                      "method must be a non-empty string")
        if params is not None and not isinstance(params, dict):
            raise KeywardError.client("invalid_params",
                                      "params must be a dict")
        with self._lock:
            deadline = time.monotonic() + self.timeout
            try:
                return self._call_locked(method, params, deadline)
            except socket.timeout:
                self._drop()
                raise KeywardError.client(
                    "timeout", "no answer from the agent within %g s"
                    % self.timeout) from None
            except OSError as e:
                self._drop()
                raise KeywardError.client(
                    "connect", "talking to the agent failed: %s"
                    % (e.strerror or e)) from None

    def _call_locked(self, method, params, deadline):
        if self._sock is not None and self._pid != os.getpid():
            # Forked: the connection belongs to the parent. Closing our
            # copy of the descriptor leaves the parent's open.
            self._drop()
        for attempt in range(2):
            if self._sock is None:
                self._open(deadline)
            try:
                if self._token_pending and method != "client.hello":
                    self._hello(deadline)
                resp = self._exchange(method, params, deadline)
                break
            except _Closed as closed:
                self._drop()
                got = bool(closed.args and closed.args[0])
                if got or attempt == 1:
                    raise KeywardError.client(
                        "closed", "the agent closed the connection") from None
        return self._result(resp)

    def _hello(self, deadline):
        resp = self._exchange("client.hello", {"token": self._token},
                              deadline)
        err = resp.get("error")
        if err is None:
            self._token_pending = False
            return
        kind = (err.get("data") or {}).get("kind") \
            if isinstance(err, dict) else None
        if kind == "locked":
            return  # presented again on the next request
        self._result(resp)

    @staticmethod
    def _result(resp):
        if "error" in resp:
            err = resp["error"]
            if not isinstance(err, dict):
                raise KeywardError.client("invalid_request",
                                          "malformed error from the agent")
            data = err.get("data")
            if not isinstance(data, dict):
                data = {}
            kind = data.get("kind")
            if not isinstance(kind, str):
                kind = "unknown"
            code = err.get("code")
            raise KeywardError(code if isinstance(code, int) else 0, kind,
                               str(err.get("message") or kind), data)
        result = resp.get("result")
        if not isinstance(result, dict):
            raise KeywardError.client("invalid_request",
                                      "the agent's result is not an object")
        return result

    # -- methods ---------------------------------------------------------

    def status(self):
        """agent.status: {"version", "locked", "mode", ...}."""
        return self.call("agent.status")

    def get_secret(self, name, version=None, stage=None):
        """The value (bytes) of secret NAME: current, or a version/stage."""
        params = {"name": name}
        if version is not None:
            params["version"] = version
        if stage is not None:
            params["stage"] = stage
        result = self.call("secret.get", params)
        value = result.get("value")
        if not isinstance(value, str):
            raise KeywardError.client("invalid_request",
                                      "secret.get answered without a value")
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise KeywardError.client("invalid_request",
                                      "secret.get answered a value that is "
                                      "not base64") from None

    def put_secret(self, name, value=None, generate=None):
        """secret.put: store VALUE (bytes-like) as a new current version of
        NAME, or GENERATE random bytes made in the agent (which are not
        returned). Exactly one of the two. Returns {"name", "version"}.
        Kinds: invalid_name, too_big, denied, invalid_params."""
        if (value is None) == (generate is None):
            raise KeywardError.client("invalid_params",
                                      "give exactly one of value and "
                                      "generate")
        params = {"name": name}
        if value is not None:
            params["value"] = _encode_value(value)
        else:
            if isinstance(generate, bool) or \
                    not isinstance(generate, int) or \
                    not 1 <= generate <= MAX_VALUE_BYTES:
                raise KeywardError.client(
                    "invalid_params", "generate must be a number of bytes "
                    "from 1 to %d" % MAX_VALUE_BYTES)
            params["generate"] = generate
        return self.call("secret.put", params)

    def delete_secret(self, name):
        """secret.delete: remove NAME with every version (and its rotation
        schedule). Returns {"name", "deleted_versions"}.
        Kinds: not_found, invalid_name, denied."""
        return self.call("secret.delete", {"name": name})

    def verify_api_key(self, key):
        """apikey.verify: {"id", "principal", "scopes", "expires"}.
        Kinds: invalid_params, not_found, revoked, expired."""
        return self.call("apikey.verify", {"key": key})

    def issue_token(self, subject, audience, scopes=None, client_id=None,
                    ttl=None):
        """token.issue: an IssuedToken, a dict {"token", "expires_at",
        "kid"} whose repr leaves the token out."""
        params = {"subject": subject, "audience": audience}
        if scopes is not None:
            params["scopes"] = list(scopes)
        if client_id is not None:
            params["client_id"] = client_id
        if ttl is not None:
            params["ttl"] = ttl
        return IssuedToken(self.call("token.issue", params))

    def verify_token(self, token, audience, scopes=None):
        """token.verify: {"subject", "client_id", "scopes", "expires_at",
        "audience", "issuer", "kid", "extra"}. Kinds: invalid_token,
        insufficient_scope (data.scope: the required scopes)."""
        params = {"token": token, "audience": audience}
        if scopes:
            params["scopes"] = list(scopes)
        return self.call("token.verify", params)

    def jwks(self):
        """The public JWK Set: {"keys": [...]}."""
        return self.call("jwks", {})


def _encode_value(value):
    """VALUE (bytes-like) as the protocol's base64 string."""
    if isinstance(value, str):
        raise KeywardError.client("invalid_params",
                                  "value must be bytes (encode a str "
                                  "first, e.g. value.encode())")
    try:
        size = memoryview(value).nbytes
        encoded = base64.b64encode(value) if size <= MAX_VALUE_BYTES \
            else None
    except (TypeError, ValueError):
        raise KeywardError.client("invalid_params",
                                  "value must be bytes-like, not %s"
                                  % type(value).__name__) from None
    if encoded is None:
        raise KeywardError.client("too_big", "value is longer than %d bytes"
                                  % MAX_VALUE_BYTES)
    return encoded.decode("ascii")


class IssuedToken(dict):
    """token.issue's result: a dict, so issued["token"] works, whose repr
    (and str) shows every member but the token, so printing or logging
    it does not leak a bearer credential."""

    def __repr__(self):
        shown = {k: ("<redacted>" if k == "token" else v)
                 for k, v in self.items()}
        return "keyward.IssuedToken(%r)" % shown

    __str__ = __repr__


@dataclasses.dataclass
class AccessToken:
    """The fields of the MCP Python SDK's AccessToken
    (mcp.server.auth.provider), so a TokenVerifier result can be used
    wherever the SDK expects one without this module importing it. The
    repr leaves the bearer token out."""
    token: str = dataclasses.field(repr=False)
    client_id: str
    scopes: list
    expires_at: int | None = None
    resource: str | None = None
    subject: str | None = None
    claims: dict | None = None


class TokenVerifier:
    """The MCP Python SDK's TokenVerifier protocol, backed by keyward:
    `await verify_token(token)` returns an AccessToken, or None when the
    token is not valid for `audience` (bad signature, expired, wrong
    audience, unknown or retired key, malformed) — the SDK then answers
    401 invalid_token.

    required_scopes: scopes the agent must also find in the token; a
    token without them gives None (401). To answer 403 insufficient_scope
    instead, leave this empty and put the scopes in the SDK's
    AuthSettings.required_scopes: the SDK checks them after verify_token.

    Failing to reach the agent raises KeywardError (the server answers
    500): an agent that cannot be asked does not make tokens invalid."""

    def __init__(self, audience, required_scopes=(), client=None):
        if not isinstance(audience, str) or not audience:
            raise KeywardError.client("invalid_params",
                                      "audience must be a non-empty string")
        self.audience = audience
        self.required_scopes = tuple(required_scopes)
        self._client = client
        self._client_lock = threading.Lock()

    def _get_client(self):
        with self._client_lock:
            if self._client is None:
                self._client = Client()
            return self._client

    def _verify(self, token):
        return self._get_client().verify_token(
            token, self.audience, list(self.required_scopes) or None)

    async def verify_token(self, token: str):
        if not isinstance(token, str) or len(token) > MAX_BEARER_LEN or \
                not _BEARER_RE.match(token):
            return None
        try:
            res = await asyncio.to_thread(self._verify, token)
        except KeywardError as e:
            if e.kind in ("invalid_token", "insufficient_scope"):
                return None
            raise
        return self._access_token(token, res)

    def _access_token(self, token, res):
        subject = res.get("subject")
        client_id = res.get("client_id")
        scopes = res.get("scopes")
        expires_at = res.get("expires_at")
        extra = res.get("extra") or {}
        if not isinstance(subject, str) or not isinstance(extra, dict) or \
                not isinstance(scopes, list) or \
                not all(isinstance(s, str) for s in scopes) or \
                not isinstance(expires_at, int) or \
                (client_id is not None and not isinstance(client_id, str)):
            raise KeywardError.client("invalid_request",
                                      "token.verify answered a malformed "
                                      "result")
        claims = dict(extra)
        claims.update(sub=subject, iss=res.get("issuer"),
                      aud=res.get("audience"), exp=expires_at,
                      scope=" ".join(scopes))
        if client_id is not None:
            claims["client_id"] = client_id
        return AccessToken(token=token,
                           # A token issued to no client acts for its
                           # subject; the SDK needs a non-empty client_id.
                           client_id=client_id or subject,
                           scopes=list(scopes),
                           expires_at=expires_at,
                           resource=self.audience,
                           subject=subject,
                           claims=claims)
