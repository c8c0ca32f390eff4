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
//   // @modelcontextprotocol/express 2.x (1.x: see KeywardTokenVerifier)
//   app.post('/mcp', unavailable503(requireBearerAuth({
//     verifier: new KeywardTokenVerifier({ audience: 'https://mcp.example.com/mcp' }),
//     resourceMetadataUrl })), handler);
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

import { AsyncLocalStorage } from 'node:async_hooks';
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

// --- the MCP SDK token verifier ---------------------------------------------
//
// How the SDK lines turn what verifyAccessToken throws into a status:
// - @modelcontextprotocol/sdk 1.x (requireBearerAuth): `instanceof` its own
//   InvalidTokenError (401), InsufficientScopeError (403), ServerError
//   (500), OAuthError (400); anything else 500. Plain prototype checks, so
//   only the classes of the very copy of the SDK the server loaded match:
//   the caller passes them (options.errors).
// - The 2.x packages (@modelcontextprotocol/server's web-standard
//   requireBearerAuth and verifyBearerToken, @modelcontextprotocol/express's
//   requireBearerAuth on top of them): `instanceof OAuthError`, which
//   matches any object carrying the SDK's cross-bundle brand (an own
//   Symbol.for('mcp.sdk.errorBrands') set holding 'mcp.OAuthError'), then
//   a switch on its .code: invalid_token 401, insufficient_scope 403,
//   server_error 500, other codes 400; anything else 500. So branded errors
//   work with every copy of the 2.x SDK, and nothing needs importing.
// Neither line answers 503: unavailable503() and unavailable503Gate() wrap
// their middleware to turn "the agent could not answer" into 503.
//
// This module never imports an SDK: one resolved from here (a symlinked
// install finds bindings/node's own node_modules, or none) would be a
// second copy whose classes the server's middleware does not recognise.

const MCP_BRANDS = Symbol.for('mcp.sdk.errorBrands');
const MCP_OAUTH_BRAND = 'mcp.OAuthError';

// Seconds a client is told to wait before retrying after a 503.
export const RETRY_AFTER_S = 5;

/**
 * An OAuth error both SDK lines can read without knowing this class: the
 * 2.x brand and .code, and the 1.x .errorCode and toResponseObject().
 */
export class KeywardOAuthError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'OAuthError';
    this.code = code;
    Object.defineProperty(this, MCP_BRANDS, { value: new Set([MCP_OAUTH_BRAND]), configurable: true });
  }

  get errorCode() { return this.code; }

  toResponseObject() { return { error: this.code, error_description: this.message }; }
}
export class KeywardInvalidTokenError extends KeywardOAuthError {
  constructor(message) { super('invalid_token', message); }
}
export class KeywardInsufficientScopeError extends KeywardOAuthError {
  constructor(message) { super('insufficient_scope', message); }
}

// The agent's reason, safe inside the quoted error_description of a
// WWW-Authenticate header (RFC 6750 3: %x20-21 / %x23-5B / %x5D-7E).
function description(text) {
  return String(text).replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '?').slice(0, 200);
}

// options.errors, checked: a maker of the two errors from the classes given.
function errorMaker(errors) {
  if (errors === undefined || errors === null) {
    return {
      invalid: (msg) => new KeywardInvalidTokenError(msg),
      scope: (msg) => new KeywardInsufficientScopeError(msg),
    };
  }
  if (typeof errors !== 'object') {
    throw KeywardError.client('invalid_params', 'errors must be an object of SDK error classes');
  }
  const { InvalidTokenError, InsufficientScopeError, OAuthError } = errors;
  if (typeof InvalidTokenError === 'function' && typeof InsufficientScopeError === 'function') {
    return { // 1.x: one class per code
      invalid: (msg) => new InvalidTokenError(msg),
      scope: (msg) => new InsufficientScopeError(msg),
    };
  }
  if (typeof OAuthError === 'function') {
    return { // 2.x: one class, the code its first argument
      invalid: (msg) => new OAuthError('invalid_token', msg),
      scope: (msg) => new OAuthError('insufficient_scope', msg),
    };
  }
  throw KeywardError.client('invalid_params',
    'errors must hold InvalidTokenError and InsufficientScopeError (SDK 1.x) or OAuthError (2.x)');
}

// Set by unavailable503() / unavailable503Gate() around one request: the
// verifier records there that the agent could not answer.
const requestState = new AsyncLocalStorage();

/**
 * The MCP TypeScript SDK's OAuthTokenVerifier, backed by keyward:
 * verifyAccessToken(token) resolves to the SDK's AuthInfo, or throws an
 * invalid_token error (requireBearerAuth answers 401 with a
 * WWW-Authenticate header) or, when options.requiredScopes are missing
 * from the token, an insufficient_scope error (403). An agent that cannot
 * be asked (down, locked, this process denied, ...) makes the call throw
 * the KeywardError, logs one line, and under unavailable503() makes the
 * answer 503.
 *
 * options.audience: the resource this server is (its URL), required;
 * options.requiredScopes: scopes the agent must find in the token;
 * options.client: a Client (default: a new one);
 * options.errors: the SDK's classes to throw: { InvalidTokenError,
 *   InsufficientScopeError } from @modelcontextprotocol/sdk 1.x (required
 *   there), or { OAuthError } from @modelcontextprotocol/server 2.x
 *   (optional: without it the verifier throws branded errors 2.x knows);
 * options.log: a function given each log line (default console.error).
 */
export class KeywardTokenVerifier {
  constructor(options = {}) {
    const { audience, requiredScopes = [], client, errors, log } = options;
    if (typeof audience !== 'string' || audience === '') {
      throw KeywardError.client('invalid_params', 'audience must be a non-empty string');
    }
    if (!Array.isArray(requiredScopes) || !requiredScopes.every((s) => typeof s === 'string' && s !== '')) {
      throw KeywardError.client('invalid_params', 'requiredScopes must be an array of non-empty strings');
    }
    if (log !== undefined && typeof log !== 'function') {
      throw KeywardError.client('invalid_params', 'log must be a function');
    }
    this.audience = audience;
    this.requiredScopes = [...requiredScopes];
    this.client = client ?? null;
    this._make = errorMaker(errors);
    this._log = log ?? ((line) => console.error(line));
    this._down = null; // the kind of the agent's last failure, until it answers again
    let resource;
    try {
      resource = new URL(audience);
    } catch {
      resource = undefined; // an audience that is not a URL names no resource
    }
    this.resource = resource;
  }

  async verifyAccessToken(token) {
    if (typeof token !== 'string' || token.length > MAX_BEARER_LEN || !BEARER_RE.test(token)) {
      throw this._make.invalid('malformed token');
    }
    if (!this.client) this.client = new Client();
    let res;
    try {
      res = await this.client.verifyToken(token, this.audience, this.requiredScopes);
    } catch (err) {
      if (!(err instanceof KeywardError)) throw err;
      if (err.kind === 'invalid_token') throw this._make.invalid(description(err.description));
      if (err.kind === 'insufficient_scope') throw this._make.scope(description(err.description));
      this._unavailable(err);
      throw err;
    }
    if (this._down !== null) {
      this._down = null;
      this._log('keyward: the agent verifies bearer tokens again');
    }
    return this._authInfo(token, res);
  }

  // The agent could not answer for this token: one log line when that
  // starts (or its reason changes), and the request marked for a 503.
  _unavailable(err) {
    if (this._down !== err.kind) {
      this._down = err.kind;
      this._log(`keyward: cannot verify bearer tokens: ${err.message}`);
    }
    const state = requestState.getStore();
    if (state) state.unavailable = err;
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

const UNAVAILABLE_BODY = JSON.stringify({
  error: 'temporarily_unavailable',
  error_description: 'the bearer token cannot be verified now; try again later',
});

// Writes the 503 with node:http's own calls (Express's res is one too).
function send503(res) {
  if (res.headersSent) return;
  res.statusCode = 503;
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Retry-After', String(RETRY_AFTER_S));
  res.setHeader('Cache-Control', 'no-store');
  res.end(UNAVAILABLE_BODY);
}

// What the SDK's middleware writes its error answer with; once the
// verifier has marked the request, these are replaced by the 503.
const HEADER_CALLS = new Set(['status', 'set', 'header', 'setHeader', 'type', 'append', 'vary']);
const BODY_CALLS = new Set(['json', 'send', 'end', 'sendStatus']);

function guardedResponse(res, state) {
  const proxy = new Proxy(res, {
    get(target, prop) {
      if (state.unavailable && HEADER_CALLS.has(prop)) return () => proxy;
      if (state.unavailable && BODY_CALLS.has(prop)) {
        return () => {
          send503(target);
          return proxy;
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
    set(target, prop, value) {
      return Reflect.set(target, prop, value, target);
    },
  });
  return proxy;
}

/**
 * Wraps an Express (or node:http) bearer-auth middleware, requireBearerAuth
 * of either SDK line with a KeywardTokenVerifier: a request whose token
 * could not be verified because the agent did not answer gets 503 with
 * Retry-After instead of the SDK's 500. Everything else passes unchanged.
 */
export function unavailable503(middleware) {
  if (typeof middleware !== 'function') {
    throw KeywardError.client('invalid_params', 'unavailable503 needs the middleware to wrap');
  }
  return function keywardBearerAuth(req, res, next) {
    const state = { unavailable: null };
    return requestState.run(state, () => middleware(req, guardedResponse(res, state), next));
  };
}

/**
 * The same for a web-standard gate (requireBearerAuth of
 * @modelcontextprotocol/server: a function of a Request resolving to the
 * AuthInfo or a Response): the Response becomes a 503 when the agent did
 * not answer.
 */
export function unavailable503Gate(gate) {
  if (typeof gate !== 'function') {
    throw KeywardError.client('invalid_params', 'unavailable503Gate needs the gate to wrap');
  }
  return function keywardBearerGate(request) {
    const state = { unavailable: null };
    return requestState.run(state, async () => {
      const answer = await gate(request);
      if (!state.unavailable) return answer;
      return new Response(UNAVAILABLE_BODY, {
        status: 503,
        headers: {
          'Content-Type': 'application/json',
          'Retry-After': String(RETRY_AFTER_S),
          'Cache-Control': 'no-store',
        },
      });
    });
  };
}
