// keyward - a client of the keyward agent for Node.js, without dependencies.
//
// keywardd speaks JSON-RPC 2.0, one JSON object per line, over a Unix
// socket (docs/protocol.md). This module is that protocol, plus a token
// verifier for the official MCP TypeScript SDK:
//
//   import { Client, KeywardTokenVerifier } from 'keyward';
//   const kw = new Client();                        // finds the agent
//   const value = await kw.getSecret('github/token'); // a Buffer
//
//   app.post('/mcp', requireBearerAuth({
//     verifier: new KeywardTokenVerifier({ audience: 'https://mcp.example.com/mcp',
//                                          errors: { InvalidTokenError, InsufficientScopeError } }),
//     resourceMetadataUrl }), handler);
//
// Behaviour, mirroring libkeyward:
// - Socket: $KEYWARD_SOCKET, else $XDG_RUNTIME_DIR/keyward/agent.sock, else
//   $KEYWARD_HOME/agent.sock (KEYWARD_HOME defaults to ~/.mcp), as in
//   docs/config.md. A variable that is set must hold an absolute path.
// - Only an agent we trust is talked to: libkeyward asks the kernel who
//   listens (SO_PEERCRED), which Node cannot, so this client checks who
//   could have put the socket there instead. The socket (after symlinks)
//   must belong to our uid, root or $KEYWARD_AGENT_UID, and so must every
//   directory above it, none of them writable by others unless sticky
//   (like /tmp). Anyone can bind a socket at a path a client was
//   misconfigured to use, and a fake agent could hand out fake secrets or
//   call any token valid.
// - Client token: $KEYWARD_TOKEN (or the `token` option) is presented with
//   client.hello on every new connection before any request. A locked agent
//   cannot check it; it is presented again until one is accepted.
// - Calls are answered in order, one at a time per connection: a Client
//   queues them. Every call has a deadline (timeoutMs). A connection that
//   timed out or returned something malformed is closed; the next call
//   reconnects. A connection found dead before the agent answered anything
//   is reopened once and the request sent again.
// - Response lines are bounded (MAX_LINE); a longer one closes the
//   connection with a `too_big` error.
// - Errors are KeywardError with .code, .kind (the stable word of the
//   protocol's error table), .message and .data. Code against .kind.
// - An idle connection does not keep the process alive.

import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const DEFAULT_TIMEOUT_MS = 10000;
// The largest answer: a 16 MiB value is about 22.4 MiB of base64.
export const MAX_LINE = 32 * 1024 * 1024;
// sockaddr_un.sun_path holds 108 bytes including the NUL.
export const SOCKET_PATH_MAX = 107;
// Bearer tokens longer than this are refused without asking the agent.
export const MAX_BEARER_LEN = 16384;

const TOKEN_RE = /^kwt_[A-Za-z0-9_-]{43}$/;
const BEARER_RE = /^[\x21-\x7e]+$/;

// Client-side error codes, from the protocol's table.
const CLIENT_CODES = {
  invalid_request: -32600,
  invalid_params: -32602,
  too_big: 1008,
  connect: 1010,
  timeout: 1011,
  unsafe_permissions: 1016,
  closed: 1021,
};

export class KeywardError extends Error {
  constructor(code, kind, message, data) {
    super(`${kind}: ${message}`);
    this.name = 'KeywardError';
    this.code = code;
    this.kind = kind;
    this.description = message;
    this.data = data ?? { kind };
  }

  static client(kind, message) {
    return new KeywardError(CLIENT_CODES[kind], kind, message);
  }
}

function envPath(env, name) {
  const v = env[name];
  if (v === undefined) return undefined;
  if (!v.startsWith('/')) {
    throw KeywardError.client('invalid_params', `${name} must be an absolute path`);
  }
  return v;
}

/** The agent's socket path, resolved as docs/config.md says. */
export function socketPath(env = process.env) {
  let p = envPath(env, 'KEYWARD_SOCKET');
  if (p === undefined) {
    const runtime = envPath(env, 'XDG_RUNTIME_DIR');
    if (runtime !== undefined) {
      p = path.join(runtime, 'keyward', 'agent.sock');
    } else {
      let home = envPath(env, 'KEYWARD_HOME');
      if (home === undefined) {
        home = path.join(envPath(env, 'HOME') ?? os.userInfo().homedir, '.mcp');
      }
      p = path.join(home, 'agent.sock');
    }
  }
  if (Buffer.byteLength(p) > SOCKET_PATH_MAX) {
    throw KeywardError.client('invalid_params',
      `the socket path does not fit a socket address (at most ${SOCKET_PATH_MAX} bytes)`);
  }
  return p;
}

function trustedUids(env) {
  const uids = new Set([process.geteuid(), 0]);
  const want = env.KEYWARD_AGENT_UID;
  if (want && /^[0-9]+$/.test(want)) uids.add(Number(want));
  return uids;
}

/**
 * Throws unsafe_permissions unless the socket at p, and every directory
 * above it, belong to a trusted uid and cannot be replaced by anyone
 * else. A socket that does not exist is left for connect() to report.
 */
export function checkSocketPath(p, env = process.env) {
  const trusted = trustedUids(env);
  const unsafe = (why) => KeywardError.client('unsafe_permissions', `${why}: not talking to it`);
  let real;
  try {
    real = fs.realpathSync(p);
  } catch {
    return;
  }
  const stat = (f, file) => {
    try {
      return f(file);
    } catch (err) {
      throw KeywardError.client('connect', `cannot check ${file}: ${err.code ?? err.message}`);
    }
  };
  const st = stat(fs.lstatSync, real);
  if (!st.isSocket()) throw unsafe(`${real} is not a socket`);
  if (!trusted.has(st.uid)) {
    throw unsafe(`the socket ${real} belongs to uid ${st.uid}, neither you nor root ` +
      `(set KEYWARD_AGENT_UID=${st.uid} if that agent is expected)`);
  }
  for (let dir = path.dirname(real); ; dir = path.dirname(dir)) {
    const ds = stat(fs.statSync, dir);
    const othersWrite = (ds.mode & 0o022) !== 0 && (ds.mode & 0o1000) === 0;
    if (!trusted.has(ds.uid) || othersWrite) {
      throw unsafe(`${dir}, above the socket, could be changed by someone else`);
    }
    if (dir === '/') break;
  }
}

class Closed extends Error {
  constructor(gotBytes) {
    super('closed');
    this.gotBytes = gotBytes;
  }
}

// One open socket: splits what arrives into lines and hands them to the
// one reader waiting (a Client runs one exchange at a time).
class Connection {
  constructor(socket) {
    this.socket = socket;
    this.chunks = [];
    this.pending = 0; // bytes in chunks (no newline among them)
    this.lines = [];
    this.closed = false;
    this.failure = null;
    this.waiter = null;
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('error', () => this.onClose());
    socket.on('close', () => this.onClose());
  }

  onData(chunk) {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      const end = nl < 0 ? chunk.length : nl;
      this.pending += end - start;
      if (this.pending > MAX_LINE) {
        this.failure = KeywardError.client('too_big',
          `the agent sent a line longer than ${MAX_LINE} bytes`);
        this.destroy();
        return;
      }
      if (end > start) this.chunks.push(chunk.subarray(start, end));
      if (nl < 0) break;
      this.lines.push(Buffer.concat(this.chunks));
      this.chunks = [];
      this.pending = 0;
      start = nl + 1;
    }
    this.wake();
  }

  onClose() {
    this.closed = true;
    this.wake();
  }

  wake() {
    const w = this.waiter;
    if (w) {
      this.waiter = null;
      w();
    }
  }

  // The next line (Buffer); rejects with Closed at EOF.
  async readLine(gotBytes) {
    for (;;) {
      if (this.lines.length) return this.lines.shift();
      if (this.failure) throw this.failure;
      if (this.closed) throw new Closed(gotBytes);
      await new Promise((resolve) => { this.waiter = resolve; });
    }
  }

  write(data) {
    if (this.closed) return;
    this.socket.write(data);
  }

  destroy() {
    this.closed = true;
    this.socket.destroy();
    this.wake();
  }
}

export class Client {
  /**
   * options.path: the socket (default socketPath()); options.token: a client
   * token (default $KEYWARD_TOKEN; '' for none); options.timeoutMs: per call.
   */
  constructor(options = {}) {
    const token = options.token ?? process.env.KEYWARD_TOKEN ?? '';
    if (token && !TOKEN_RE.test(token)) {
      throw KeywardError.client('invalid_params',
        'the client token is malformed (expected kwt_ followed by 43 base64url characters)');
    }
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw KeywardError.client('invalid_params', 'timeoutMs must be a positive number');
    }
    this.path = options.path ?? socketPath();
    this.timeoutMs = timeoutMs;
    this._token = token || null;
    this._tokenPending = false;
    this._conn = null;
    this._nextId = 0;
    this._queue = Promise.resolve();
  }

  /** Close the connection (a later call opens a new one). */
  close() {
    this._drop();
  }

  _drop() {
    if (this._conn) this._conn.destroy();
    this._conn = null;
  }

  _open(state) {
    try {
      checkSocketPath(this.path);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      const socket = net.createConnection({ path: this.path });
      const fail = (err) => {
        socket.destroy();
        reject(KeywardError.client('connect',
          `cannot connect to the agent at ${this.path}: ${err.code ?? err.message}`));
      };
      socket.once('error', fail);
      socket.once('connect', () => {
        socket.removeListener('error', fail);
        if (state.abandoned) {
          // The call timed out meanwhile; a later call opens its own.
          socket.destroy();
          reject(new Closed(false));
          return;
        }
        this._conn = new Connection(socket);
        this._tokenPending = this._token !== null;
        resolve();
      });
    });
  }

  /** Call METHOD with PARAMS (an object); resolves to the result object. */
  call(method, params) {
    if (typeof method !== 'string' || method === '') {
      return Promise.reject(KeywardError.client('invalid_params', 'method must be a non-empty string'));
    }
    if (params !== undefined && (params === null || typeof params !== 'object' || Array.isArray(params))) {
      return Promise.reject(KeywardError.client('invalid_params', 'params must be an object'));
    }
    const run = () => this._callWithDeadline(method, params);
    const p = this._queue.then(run, run);
    this._queue = p.catch(() => {});
    return p;
  }

  async _callWithDeadline(method, params) {
    // Set when the deadline passes: the abandoned call must then stop at
    // its next step instead of reconnecting or sending again, since the
    // next queued call already owns the client.
    const state = { abandoned: false };
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => {
        state.abandoned = true;
        this._drop(); // what arrives next could answer the abandoned call
        reject(KeywardError.client('timeout',
          `no answer from the agent within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
    });
    const work = this._call(method, params, state);
    work.catch(() => {}); // settled by the race; avoid an unhandled rejection
    try {
      return await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
      // An idle connection does not keep the process alive.
      if (this._conn) this._conn.socket.unref();
    }
  }

  async _call(method, params, state) {
    let resp;
    for (let attempt = 0; ; attempt++) {
      if (!this._conn || this._conn.closed) {
        this._drop();
        await this._open(state);
      }
      this._conn.socket.ref();
      try {
        if (this._tokenPending && method !== 'client.hello') await this._hello(state);
        resp = await this._exchange(method, params, state);
        break;
      } catch (err) {
        if (!(err instanceof Closed)) throw err;
        if (state.abandoned) throw err;
        this._drop();
        if (err.gotBytes || attempt === 1) {
          throw KeywardError.client('closed', 'the agent closed the connection');
        }
      }
    }
    return resultOf(resp);
  }

  async _hello(state) {
    const resp = await this._exchange('client.hello', { token: this._token }, state);
    if (!('error' in resp)) {
      this._tokenPending = false;
      return;
    }
    if (resp.error?.data?.kind === 'locked') return; // presented again next time
    resultOf(resp);
  }

  async _exchange(method, params, state) {
    if (state.abandoned) throw new Closed(true);
    const conn = this._conn;
    const id = ++this._nextId;
    const msg = { jsonrpc: '2.0', id, method };
    if (params !== undefined) msg.params = params;
    let line;
    try {
      line = `${JSON.stringify(msg)}\n`; // one line: JSON escapes newlines
    } catch (err) {
      throw KeywardError.client('invalid_params', `params cannot be sent as JSON: ${err.message}`);
    }
    conn.write(line);
    let got = false;
    for (;;) {
      const raw = await conn.readLine(got);
      if (state.abandoned) throw new Closed(true);
      got = true;
      let resp;
      try {
        resp = JSON.parse(raw.toString('utf8'));
      } catch {
        resp = null;
      }
      if (resp === null || typeof resp !== 'object' || Array.isArray(resp) || resp.jsonrpc !== '2.0') {
        this._drop();
        throw KeywardError.client('invalid_request', 'the agent sent a line that is not a JSON-RPC 2.0 message');
      }
      if (!('id' in resp) && 'method' in resp) continue; // a notification
      if (resp.id === null && 'error' in resp) {
        // Sent before closing: about the connection, not a request.
        this._drop();
        return resp;
      }
      if (resp.id !== id) {
        this._drop();
        throw KeywardError.client('invalid_request', `the agent answered request ${resp.id}, expected ${id}`);
      }
      return resp;
    }
  }

  /** agent.status */
  status() {
    return this.call('agent.status');
  }

  /** The value (a Buffer) of secret NAME; options.version or options.stage. */
  async getSecret(name, options = {}) {
    const params = { name };
    if (options.version !== undefined) params.version = options.version;
    if (options.stage !== undefined) params.stage = options.stage;
    const res = await this.call('secret.get', params);
    if (typeof res.value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(res.value) || res.value.length % 4 !== 0) {
      throw KeywardError.client('invalid_request', 'secret.get answered a value that is not base64');
    }
    return Buffer.from(res.value, 'base64');
  }

  /** apikey.verify: {id, principal, scopes, expires}. Kinds: invalid_params, not_found, revoked, expired. */
  verifyApiKey(key) {
    return this.call('apikey.verify', { key });
  }

  /** token.issue: {token, expires_at, kid}. */
  issueToken({ subject, audience, scopes, clientId, ttl }) {
    const params = { subject, audience };
    if (scopes !== undefined) params.scopes = scopes;
    if (clientId !== undefined) params.client_id = clientId;
    if (ttl !== undefined) params.ttl = ttl;
    return this.call('token.issue', params);
  }

  /** token.verify: {subject, client_id, scopes, expires_at, audience, issuer, kid, extra}.
   *  Kinds: invalid_token, insufficient_scope (data.scope). */
  verifyToken(token, audience, scopes) {
    const params = { token, audience };
    if (scopes && scopes.length) params.scopes = [...scopes];
    return this.call('token.verify', params);
  }

  /** The public JWK Set: {keys: [...]}. */
  jwks() {
    return this.call('jwks', {});
  }
}

function resultOf(resp) {
  if ('error' in resp) {
    const err = resp.error;
    if (err === null || typeof err !== 'object') {
      throw KeywardError.client('invalid_request', 'malformed error from the agent');
    }
    const data = err.data !== null && typeof err.data === 'object' ? err.data : {};
    const kind = typeof data.kind === 'string' ? data.kind : 'unknown';
    throw new KeywardError(Number.isInteger(err.code) ? err.code : 0, kind,
      String(err.message || kind), data);
  }
  const res = resp.result;
  if (res === null || typeof res !== 'object' || Array.isArray(res)) {
    throw KeywardError.client('invalid_request', "the agent's result is not an object");
  }
  return res;
}

// Used when the SDK's error classes can be neither imported nor were
// passed in. requireBearerAuth recognises only its own classes, so it
// answers these with 500: refused, but not with the right status.
export class KeywardInvalidTokenError extends Error {
  get errorCode() { return 'invalid_token'; }
  toResponseObject() { return { error: this.errorCode, error_description: this.message }; }
}
export class KeywardInsufficientScopeError extends Error {
  get errorCode() { return 'insufficient_scope'; }
  toResponseObject() { return { error: this.errorCode, error_description: this.message }; }
}

const SDK_ERRORS = '@modelcontextprotocol/sdk/server/auth/errors.js';

// The agent's reason, safe inside the quoted error_description of a
// WWW-Authenticate header (RFC 6750 3: %x20-21 / %x23-5B / %x5D-7E).
function description(text) {
  return String(text).replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '?').slice(0, 200);
}

/**
 * The MCP TypeScript SDK's OAuthTokenVerifier, backed by keyward:
 * verifyAccessToken(token) resolves to the SDK's AuthInfo, or throws the
 * SDK's InvalidTokenError (requireBearerAuth answers 401 with a
 * WWW-Authenticate header) or, when options.requiredScopes are missing
 * from the token, InsufficientScopeError (403). An agent that cannot be
 * asked makes the call throw a KeywardError (the SDK answers 500).
 *
 * options.audience: the resource this server is (its URL), required;
 * options.requiredScopes: scopes the agent must find in the token;
 * options.client: a Client (default: a new one);
 * options.errors: { InvalidTokenError, InsufficientScopeError } from the
 *   SDK the server uses. Without it they are imported from the SDK as this
 *   module resolves it, which finds the server's copy only when this
 *   package is installed in the server's node_modules (not linked).
 */
export class KeywardTokenVerifier {
  constructor(options = {}) {
    const { audience, requiredScopes = [], client, errors } = options;
    if (typeof audience !== 'string' || audience === '') {
      throw KeywardError.client('invalid_params', 'audience must be a non-empty string');
    }
    this.audience = audience;
    this.requiredScopes = [...requiredScopes];
    this.client = client ?? null;
    this._errors = errors ?? null;
    let resource;
    try {
      resource = new URL(audience);
    } catch {
      resource = undefined; // an audience that is not a URL names no resource
    }
    this.resource = resource;
  }

  async _errorClasses() {
    if (!this._errors) {
      try {
        const sdk = await import(SDK_ERRORS);
        this._errors = { InvalidTokenError: sdk.InvalidTokenError, InsufficientScopeError: sdk.InsufficientScopeError };
      } catch {
        this._errors = { InvalidTokenError: KeywardInvalidTokenError, InsufficientScopeError: KeywardInsufficientScopeError };
      }
    }
    return this._errors;
  }

  async verifyAccessToken(token) {
    const errors = await this._errorClasses();
    if (typeof token !== 'string' || token.length > MAX_BEARER_LEN || !BEARER_RE.test(token)) {
      throw new errors.InvalidTokenError('malformed token');
    }
    if (!this.client) this.client = new Client();
    let res;
    try {
      res = await this.client.verifyToken(token, this.audience, this.requiredScopes);
    } catch (err) {
      if (err instanceof KeywardError && err.kind === 'invalid_token') {
        throw new errors.InvalidTokenError(description(err.description));
      }
      if (err instanceof KeywardError && err.kind === 'insufficient_scope') {
        throw new errors.InsufficientScopeError(description(err.description));
      }
      throw err;
    }
    return this._authInfo(token, res);
  }

  _authInfo(token, res) {
    const { subject, scopes } = res;
    const clientId = res.client_id ?? null;
    const extra = res.extra ?? {};
    if (typeof subject !== 'string' || !Array.isArray(scopes) || !scopes.every((s) => typeof s === 'string') ||
        !Number.isInteger(res.expires_at) || (clientId !== null && typeof clientId !== 'string') ||
        typeof extra !== 'object' || Array.isArray(extra)) {
      throw KeywardError.client('invalid_request', 'token.verify answered a malformed result');
    }
    return {
      token,
      // A token issued to no client acts for its subject; AuthInfo needs one.
      clientId: clientId ?? subject,
      scopes: [...scopes],
      expiresAt: res.expires_at,
      resource: this.resource,
      extra: {
        ...extra,
        subject,
        issuer: res.issuer,
        audience: res.audience,
        kid: res.kid,
      },
    };
  }
}
