#!/usr/bin/env python3
"""Write the seed inputs of tests/fuzz/corpus/<target>/ (seed-* files).

Run from anywhere: python3 tests/fuzz/make-seeds.py. It rewrites only the
seed-* files; inputs that fuzzing found and were kept (other names) stay.
The EdDSA tokens need the openssl command (3.x); everything else is the
Python standard library. The keys are the fixed ones of fuzz_jwt.c.
"""
import base64
import hashlib
import hmac
import json
import os
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def clear_seeds():
    if not os.path.isdir(CORPUS):
        return
    for target in os.listdir(CORPUS):
        d = os.path.join(CORPUS, target)
        for f in os.listdir(d):
            if f.startswith("seed-"):
                os.unlink(os.path.join(d, f))


# ---- dispatch: one session per file, a request per line ----------------

def rpc(i, method, params=None):
    m = {"jsonrpc": "2.0", "id": i, "method": method}
    if params is not None:
        m["params"] = params
    return json.dumps(m, separators=(",", ":"))


def session(*reqs):
    return "".join(rpc(i + 1, m, p) + "\n" for i, (m, p) in enumerate(reqs))


V = base64.b64encode(b"s3cret-value").decode()
SESSIONS = {
    "agent-status": [("agent.status", None)],
    "agent-unlock": [("agent.unlock", {})],
    "agent-lock": [("agent.lock", {}), ("agent.status", {}),
                   ("agent.unlock", {}), ("secret.list", {})],
    "agent-passwd": [("agent.passwd", {"new": "correct horse"}),
                     ("agent.status", {})],
    "secret-put-get": [
        ("secret.put", {"name": "github/token", "value": V}),
        ("secret.put", {"name": "github/token", "generate": 32}),
        ("secret.get", {"name": "github/token"}),
        ("secret.get", {"name": "github/token", "version": 1}),
        ("secret.get", {"name": "github/token", "stage": "previous"}),
        ("secret.versions", {"name": "github/token"}),
        ("secret.list", {"prefix": "github/"}),
        ("secret.delete", {"name": "github/token"})],
    "secret-watch": [("secret.watch", {"pattern": "github/**"}),
                     ("secret.put", {"name": "github/a", "value": V})],
    "client": [("client.add", {"name": "ci-bot"}), ("client.list", {}),
               ("client.revoke", {"name": "ci-bot"})],
    "client-hello": [("client.hello", {
        "token": "kwt_" + "A" * 43})],
    "policy": [("policy.show", {}), ("policy.reload", {}),
               ("policy.check", {"uid": 0, "exe": "/usr/bin/keyward",
                                 "op": "read", "name": "github/token"}),
               ("policy.check", {"uid": 1000, "gid": 1000, "op": "admin",
                                 "token_name": "ci-bot"})],
    "audit": [("secret.put", {"name": "a", "value": V}),
              ("audit.query", {"name": "**", "limit": 10,
                               "order": "oldest", "outcome": "ok"}),
              ("audit.query", {"since_us": 0, "until_us": 99999999999999999,
                               "principal": "owner-cli",
                               "op": "secret.put", "cursor": 1}),
              ("audit.stats", {}), ("audit.verify", {})],
    "audit-follow": [("audit.follow", {}),
                     ("secret.put", {"name": "b", "value": V})],
    "schedule": [
        ("secret.put", {"name": "db/pass", "value": V}),
        ("schedule.set", {"name": "db/pass", "every": 86400,
                          "rotator": "random:32:base64url",
                          "window": "02:00-04:00", "jitter": 60,
                          "overlap": 3600}),
        ("schedule.list", {"limit": 10, "prefix": "db/"}),
        ("rotate.start", {"name": "db/pass"}),
        ("rotate.status", {"name": "db/pass"}),
        ("schedule.delete", {"name": "db/pass"})],
    "schedule-command": [
        ("secret.put", {"name": "db/x", "value": V}),
        ("schedule.set", {"name": "db/x", "every": 60,
                          "rotator": "command:/bin/true",
                          "generate": "random:16:hex"}),
        ("rotate.start", {"name": "db/x"})],
    "schedule-webhook": [
        ("secret.put", {"name": "hooks/key", "value": V}),
        ("secret.put", {"name": "db/y", "value": V}),
        ("schedule.set", {"name": "db/y", "every": 60,
                          "rotator": "webhook:http://127.0.0.1:9/rotate",
                          "hmac_secret": "hooks/key",
                          "allow_private": True, "allow_insecure": True}),
        ("rotate.start", {"name": "db/y"})],
    "apikey": [
        ("apikey.create", {"principal": "svc", "scopes": ["read:x"],
                           "ttl": 3600}),
        ("apikey.list", {"principal": "svc"}),
        ("apikey.verify", {"key": "kwk_" + "A" * 12 + "_" + "B" * 49}),
        ("apikey.rotate", {"id": "AAAAAAAAAAAA", "overlap": 60}),
        ("apikey.revoke", {"id": "AAAAAAAAAAAA"})],
    "token": [
        ("token.issue", {"subject": "alice",
                         "audience": "https://mcp.example.com/mcp",
                         "scopes": ["tools:read"], "client_id": "cli-1",
                         "ttl": 900}),
        ("token.verify", {"token": "eyJhbGciOiJFZERTQSJ9.e30.AA",
                          "audience": "https://mcp.example.com/mcp",
                          "scopes": ["tools:read"]}),
        ("jwks", {})],
}
# Envelope edge cases, written as raw lines.
RAW = {
    "parse-error": "{\"jsonrpc\":\"2.0\",\n",
    "batch": "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"agent.status\"}]\n",
    "notification": "{\"jsonrpc\":\"2.0\",\"method\":\"agent.status\"}\n",
    "string-id": "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"nope\"}\n",
    "unknown-param": rpc(1, "secret.get", {"name": "a", "nmae": 1}) + "\n",
    "no-newline": rpc(1, "agent.status"),
}


def dispatch():
    for name, reqs in SESSIONS.items():
        write("dispatch", name, session(*reqs))
    for name, text in RAW.items():
        write("dispatch", name, text)


# ---- jwt ---------------------------------------------------------------

ISS = "https://issuer.example"
AUD = "https://mcp.example/mcp"
NOW = 1800000000
SEED = bytes(range(32))
HS = b"\x5a" * 32


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def ed25519(msg):
    """(signature, public key) of msg under SEED, through openssl."""
    der = bytes.fromhex("302e020100300506032b657004220420") + SEED
    with tempfile.TemporaryDirectory() as t:
        key, data, sig = (os.path.join(t, n) for n in ("k", "m", "s"))
        with open(key, "wb") as f:
            f.write(der)
        with open(data, "wb") as f:
            f.write(msg)
        subprocess.run(["openssl", "pkeyutl", "-sign", "-rawin", "-keyform",
                        "DER", "-inkey", key, "-in", data, "-out", sig],
                       check=True)
        pub = subprocess.run(["openssl", "pkey", "-inform", "DER", "-in",
                              key, "-pubout", "-outform", "DER"],
                             check=True, capture_output=True).stdout[-32:]
        with open(sig, "rb") as f:
            return f.read(), pub


def token(alg, claims):
    cj = json.dumps(claims, separators=(",", ":")).encode()
    if alg == "HS256":
        head = {"alg": "HS256", "typ": "at+jwt", "kid": "fuzz-hs"}
    else:
        _, pub = ed25519(b"x")
        x = b64u(pub)
        thumb = b64u(hashlib.sha256(
            ('{"crv":"Ed25519","kty":"OKP","x":"%s"}' % x).encode()).digest())
        head = {"alg": "EdDSA", "typ": "at+jwt", "kid": thumb}
    hj = json.dumps(head, separators=(",", ":")).encode()
    signing = (b64u(hj) + "." + b64u(cj)).encode()
    if alg == "HS256":
        sig = hmac.new(HS, signing, hashlib.sha256).digest()
    else:
        sig, _ = ed25519(signing)
    return signing.decode() + "." + b64u(sig)


def jwt():
    full = {"iss": ISS, "sub": "alice", "aud": AUD, "exp": NOW + 300,
            "iat": NOW, "nbf": NOW - 10, "client_id": "cli-1",
            "scope": "read write:x", "jti": "t-1"}
    short = {"iss": ISS, "aud": [AUD, "https://other.example/"],
             "exp": NOW + 60}
    write("jwt", "hs256-full", token("HS256", full))
    write("jwt", "hs256-short", token("HS256", short))
    write("jwt", "eddsa-full", token("EdDSA", full))
    write("jwt", "eddsa-expired", token("EdDSA", dict(full, exp=NOW - 3600)))
    write("jwt", "claims", json.dumps(full))
    write("jwt", "claims-aud-array", json.dumps(short))
    write("jwt", "audience", "https://MCP.Example:443/mcp/?q=%2f")
    write("jwt", "audience-port", "http://h:0080/a/")


# ---- apikey --------------------------------------------------------------

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def check(text):
    n = int.from_bytes(hashlib.blake2b(text.encode(),
                                       digest_size=32).digest()[:4], "big")
    out = ""
    for _ in range(6):
        out = B62[n % 62] + out
        n //= 62
    return out


def apikey():
    managed = "kwk_" + "AbCdEf012345" + "_" + ("xY9" * 15)[:43]
    plain = "kwk_" + "0123456789abcdefghijKLMN"
    write("apikey", "managed", managed + check(managed))
    write("apikey", "plain", plain + check(plain))
    write("apikey", "bad-check", managed + "000000")


CONFIG = """; every section and key (docs/config.md)
[agent]
socket = /run/user/1000/keyward/agent.sock
max_frame_bytes = 1048576
max_connections = 256
max_connections_per_uid = 128
idle_timeout_ms = 300000
frame_timeout_ms = 10000
max_output_bytes = 4194304
log_level = info

[store]
max_value_bytes = 65536
max_versions = 10

[audit]
checkpoint_rows = 1000
checkpoint_minutes = 60
retention_days = 0
syslog = 0

[rotation]
max_attempts = 5
retry_seconds = 30
command_timeout_seconds = 30
webhook_timeout_seconds = 30
default_overlap_seconds = 86400
webhook_ca_file = /etc/ssl/certs/ca-certificates.crt

[token]
issuer = https://issuer.example
signing_key = keyward/token-signing
alg = HS256
default_ttl_seconds = 900
max_ttl_seconds = 86400
leeway_seconds = 60

[kdf]
opslimit = 3
memlimit_kib = 262144
"""

POLICY = """[client "owner-cli"]
uid = 0
exe = /usr/bin/keyward
admin = yes
read = **
write = **
list = **
rotate = **
verify = **

[client "ci"]
token = ci-bot
gid = 0
exe_sha256 = 0000000000000000000000000000000000000000000000000000000000000000
read = ci/*, deploy/**
rate = 10/s burst 20

[defaults]
rate = 50/m
"""


def jsonspan():
    """MCP client configs (the integration fixtures), JSON edge cases and
    the JSONC that VS Code writes."""
    fixtures = os.path.join(HERE, "..", "integration", "fixtures", "mcp")
    for name in sorted(os.listdir(fixtures)):
        if name.endswith(".json"):
            with open(os.path.join(fixtures, name), "rb") as f:
                write("jsonspan", "fixture-" + name, f.read())
    write("jsonspan", "scalars", '[0, -1.5e+3, true, false, null, ""]')
    write("jsonspan", "escapes",
          '{"k\\u0065y": "a\\"b\\\\c\\n\\u00e9\\ud83d\\ude00\\/"}')
    write("jsonspan", "utf8", "\"\u00e9\u20ac\U0001f600\"")
    write("jsonspan", "duplicate", '{"a": 1, "\\u0061": 2}')
    write("jsonspan", "nul-escape", '["\\u0000"]')
    write("jsonspan", "lone-surrogate", '["\\ud800"]')
    write("jsonspan", "big-number", '[1e999, 123456789012345678901234567890]')
    write("jsonspan", "jsonc", '// c\n{"a": [1, 2,], /* b */ "c": {},}\n')
    write("jsonspan", "deep", "[" * 130 + "]" * 130)


def main():
    clear_seeds()
    dispatch()
    jwt()
    apikey()
    for i, data in enumerate([b"", b"\x00\xff\x10", b"hello world!",
                              bytes(range(256))]):
        write("base64", "bin-%d" % i, data)
        write("base64", "b64-%d" % i, base64.b64encode(data))
        write("base64", "b64url-%d" % i, b64u(data))
    for name, text in [("plain", "github/token"),
                       ("glob-star", "github/*\ngithub/token"),
                       ("glob-double", "a/**/z\na/b/c/z"),
                       ("glob-mixed", "x*y/**\nxay/b"),
                       ("bad-dots", "a/../b")]:
        write("name", name, text)
    write("config", "full", CONFIG)
    write("config", "empty", "")
    write("policy", "owner", POLICY)
    examples = os.path.join(HERE, "..", "..", "policies", "examples")
    for f in sorted(os.listdir(examples)):
        if f.endswith(".ini"):
            with open(os.path.join(examples, f), encoding="utf-8") as src:
                write("policy", "example-" + f[:-4], src.read())
    write("rotresult", "one-line", "error: the server said no\n")
    write("rotresult", "multi", "\n\nfirst\r\nsecond line\n")
    write("rotresult", "value-like", "dGhpcyBpcyBhIHNlY3JldA== deadbeef\x01")
    write("dotenv", "plain", "A=1\nB=2\n")
    write("dotenv", "quotes",
          'export TOKEN="ghp_\\n\\t\\"x"\n# c\n'
          "C='multi\nline' # after\n")
    write("dotenv", "comments-crlf", "A= # c\nB=v#x\r\nexport=1\n")
    write("dotenv", "unterminated", 'A="unterminated\n')
    write("dotenv", "bom-dollar", "\ufeffK=$HOME ${X} \\q\n")
    write("tmpl", "plain", "no references here }} {\n")
    write("tmpl", "refs",
          "token={{ keyward://github/token }}\n"
          "old={{keyward://db/pass@3}} prev={{\tkeyward://db/pass#previous }}"
          "\nkey: {{ keyward://signing/key:base64 }}\n")
    write("tmpl", "bad-open", "a\nb {{ other }}\n")
    write("tmpl", "unclosed", "{{ keyward://a\n}}")
    mask_seeds()
    jsonspan()
    netmsg_seeds()
    sse_seeds()
    oauth_seeds()


def mask_value(v):
    return bytes([len(v)]) + v


def mask_seeds():
    """fuzz_mask: k, (length, bytes) per value, control byte, stream."""
    write("mask", "one", b"\x00" + mask_value(b"sk-1234") + b"\x05" +
          b'{"jsonrpc":"2.0","result":"sk-1234"}\nsk-12sk-1234')
    write("mask", "prefix-of-another", b"\x01" + mask_value(b"abcd") +
          mask_value(b"abcdef") + b"\x21" + b"abcdeabcdefabcdabcdefg")
    write("mask", "folded", b"\x03" + mask_value(b"\x00\x01\x00\x01") +
          mask_value(b"\x00\x00\x00\x00\x00") + mask_value(b"\x01\x02\x00\x01") +
          mask_value(b"\x02") + b"\x93" + bytes(range(64)) * 3)
    write("mask", "binary", b"\x00" + mask_value(b"\x00\xff\x00\xfe\x80") +
          b"\x40" + b"\x00\x00\xff\x00\xfe\x80\x00\xff\x00")



def sse_seeds():
    """fuzz_sse: a control byte (data bound, piece size), then a stream."""
    write("sse", "mcp", b"\xff" +
          b"id: 0_1\ndata:\n\n"
          b"event: message\nid: 0_2\n"
          b'data: {"jsonrpc":"2.0","method":"notifications/progress",\n'
          b'data: "params":{"progress":1}}\n\n'
          b": keep-alive\n\nretry: 1000\n\n")
    write("sse", "line-ends", b"\x12" + b"\xef\xbb\xbfdata:a\r\ndata\rid\r\r"
          b"event:x\n\rdata: b\r\n\n")
    write("sse", "too-big", b"\x03" + b"data: 0123456789\n\ndata: ok\n\n" +
          b"id: " + b"i" * 1100 + b"\nevent: " + b"t" * 80 + b"\n\n")


def nm_str(v):
    v = v.encode() if isinstance(v, str) else v
    return len(v).to_bytes(2, "big") + v


def nm_addr(family, raw, port):
    return bytes([family]) + raw.ljust(16, b"\0") + port.to_bytes(2, "big")


def nm_strs(items):
    return bytes([len(items)]) + b"".join(nm_str(i) for i in items)


def netmsg_seeds():
    """fuzz_netmsg: payloads of agent/net/netmsg.h, one of each type."""
    u32 = lambda n: n.to_bytes(4, "big")
    v4 = nm_addr(4, bytes([127, 0, 0, 1]), 8443)
    v6 = nm_addr(6, bytes(15) + b"\x01", 8443)
    write("netmsg", "resolve", b"\x01" + u32(1) + nm_str("hooks.example"))
    body = b'{"step":"set","value":"c2VjcmV0"}'
    write("netmsg", "http", b"\x02" + u32(2) + nm_str("POST") +
          nm_str("https://hooks.example:8443/rotate") +
          b"\x02" + v4 + v6 +
          nm_strs(["Content-Type: application/json",
                   "Keyward-Signature: t=1,v1=00", "Expect:"]) +
          nm_strs(["Content-Type"]) + u32(len(body)) + body +
          u32(10000) + u32(30000) + u32(65536) + u32(0))
    pem = (b"-----BEGIN CERTIFICATE-----\r\nMIIBkTCB+w==\r\n"
           b"-----END CERTIFICATE-----\r\n")
    write("netmsg", "http-ca", b"\x02" + u32(4) + nm_str("GET") +
          nm_str("https://10.0.0.7/rotate") + b"\x01" +
          nm_addr(4, bytes([10, 0, 0, 7]), 443) + nm_strs([]) +
          nm_strs([]) + u32(0) + u32(5000) + u32(5000) + u32(0) +
          u32(len(pem)) + pem)
    write("netmsg", "cancel", b"\x03" + u32(2))
    write("netmsg", "resolved", b"\x04" + u32(1) + nm_str("") + b"\x02" +
          nm_addr(4, bytes([93, 184, 216, 34]), 0) +
          nm_addr(6, bytes([0x20, 1, 0xd, 0xb8]) + bytes(11) + b"\x01", 0))
    write("netmsg", "resolve-failed", b"\x04" + u32(1) +
          nm_str("Name or service not known") + b"\x00")
    write("netmsg", "done", b"\x05" + u32(2) + u32(0) + (204).to_bytes(
          2, "big") + b"\x00" + nm_str("") +
          nm_strs(["Content-Type: text/plain"]) + u32(5) + b"hello")
    write("netmsg", "done-timeout", b"\x05" + u32(3) + u32(28) +
          bytes(2) + b"\x04" + nm_str("Operation timed out") + b"\x00" +
          u32(0))


def oauth_seeds():
    """fuzz_oauth: a selector byte (see fuzz_oauth.c), then a document as
    an authorization server or MCP server sends it."""
    iss = "https://as.example/tenant"
    res = "https://mcp.example/mcp"
    j = lambda o: json.dumps(o, separators=(",", ":"))
    write("oauth", "token", "t" + j({
        "access_token": "at-2YotnFZFEjr1zCsicMWpAA", "token_type": "Bearer",
        "expires_in": 3600, "refresh_token": "rt-tGzv3JOkF0XG5Qx2TlKWIA",
        "scope": "mcp:tools files:read", "id_token": "a.b.c"}))
    write("oauth", "token-string-expiry", "t" + j({
        "access_token": "x", "token_type": "bearer", "expires_in": "3599"}))
    write("oauth", "token-dpop", "t" + j({
        "access_token": "x", "token_type": "DPoP", "expires_in": 0}))
    write("oauth", "error", "e" + j({
        "error": "invalid_grant",
        "error_description": "The code has expired \u00e9 \"x\"",
        "error_uri": "https://as.example/e"}))
    write("oauth", "as-meta", "a" + j({
        "issuer": iss,
        "authorization_endpoint": iss + "/authorize",
        "token_endpoint": iss + "/token",
        "device_authorization_endpoint": iss + "/device",
        "revocation_endpoint": iss + "/revoke",
        "registration_endpoint": iss + "/register",
        "introspection_endpoint": iss + "/introspect",
        "jwks_uri": iss + "/jwks",
        "code_challenge_methods_supported": ["plain", "S256"],
        "token_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "none"],
        "grant_types_supported":
            ["authorization_code", "refresh_token", "client_credentials",
             "urn:ietf:params:oauth:grant-type:device_code"],
        "authorization_response_iss_parameter_supported": True,
        "client_id_metadata_document_supported": True}))
    write("oauth", "as-meta-slash", "a" + j({
        "issuer": iss + "/", "token_endpoint": iss + "/token"}))
    write("oauth", "resource-meta", "r" + j({
        "resource": res,
        "authorization_servers": [iss, "https://other.example"],
        "scopes_supported": ["mcp:tools", "files:read"],
        "bearer_methods_supported": ["header"]}))
    write("oauth", "challenge",
          'wBasic realm="x", Bearer error="invalid_token", '
          'error_description="say \\"hi\\"", scope="a b", '
          'resource_metadata="https://mcp.example/.well-known/'
          'oauth-protected-resource/mcp"')
    write("oauth", "challenge-token68",
          "wNegotiate abc+/d==, , bearer Scope = x ,")
    write("oauth", "callback",
          "ccode=SplxlOBeZQQYbYS6WxSbIA&state=xyz%20a+b"
          "&iss=https%3A%2F%2Fas.example%2Ftenant&x=1")
    write("oauth", "callback-error",
          "cerror=access_denied&error_description=no+%E2%9C%8B&state=s")
    write("oauth", "device", "d" + j({
        "device_code": "GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS",
        "user_code": "WDJB-MJHT",
        "verification_uri": "https://example.com/device",
        "verification_uri_complete":
            "https://example.com/device?user_code=WDJB-MJHT",
        "expires_in": 1800, "interval": 5}))
    write("oauth", "url", "uHTTPS://MCP.Example.com:443/a/%2fb/?q=%3d")
    write("oauth", "url-ipv6", "uhttp://[::1]:08080/cb")
    write("oauth", "url-dots", "uhttps://h/a/%2e%2E/b")
    write("oauth", "form", "f p:w%+\u00e9~*-._")
    write("oauth", "form-verifier",
          "fdBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")


if __name__ == "__main__":
    main()
