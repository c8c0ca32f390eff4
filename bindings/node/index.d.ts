// Types for keyward's Node binding (index.js). No dependency on the MCP
// SDK: AuthInfo below has the shape of the SDK's AuthInfo
// (@modelcontextprotocol/sdk/server/auth/types.js), and
// KeywardTokenVerifier satisfies its OAuthTokenVerifier.

export declare const DEFAULT_TIMEOUT_MS: number;
export declare const MAX_LINE: number;
export declare const SOCKET_PATH_MAX: number;
export declare const MAX_BEARER_LEN: number;

/** An error from the agent or from talking to it. Code against `kind`. */
export declare class KeywardError extends Error {
  /** The wire code (docs/protocol.md, "Errors"). */
  readonly code: number;
  /** The stable word: "not_found", "denied", "invalid_token", ... */
  readonly kind: string;
  /** What was wrong, without the `kind: ` prefix of `message`. */
  readonly description: string;
  /** error.data as the agent sent it (always has `kind`). */
  readonly data: { kind: string; [key: string]: unknown };
}

/** The agent's socket: $KEYWARD_SOCKET, $XDG_RUNTIME_DIR/keyward/agent.sock, $KEYWARD_HOME/agent.sock. */
export declare function socketPath(env?: Record<string, string | undefined>): string;

/** Throws a KeywardError of kind unsafe_permissions unless the socket and
 *  every directory above it belong to us, root or $KEYWARD_AGENT_UID and
 *  are not writable by others (Node's stand-in for libkeyward's
 *  SO_PEERCRED check). */
export declare function checkSocketPath(path: string, env?: Record<string, string | undefined>): void;

export interface ClientOptions {
  /** The socket; default socketPath(). */
  path?: string;
  /** A client token (`keyward client add`); default $KEYWARD_TOKEN, '' for none. */
  token?: string;
  /** Deadline of each call, in milliseconds (default 10000). */
  timeoutMs?: number;
}

export interface ApiKeyInfo {
  id: string;
  principal: string;
  scopes: string[];
  /** RFC 3339 UTC, or null for a key that does not expire. */
  expires: string | null;
}

export interface IssuedToken {
  token: string;
  /** Unix seconds. */
  expires_at: number;
  kid: string;
}

export interface VerifiedToken {
  subject: string;
  client_id: string | null;
  scopes: string[];
  /** Unix seconds. */
  expires_at: number;
  audience: string[];
  issuer: string;
  kid: string;
  extra: Record<string, unknown>;
}

export interface Jwk {
  kty: string;
  kid: string;
  [member: string]: unknown;
}

export declare class Client {
  constructor(options?: ClientOptions);
  readonly path: string;
  readonly timeoutMs: number;
  /** Any method of docs/protocol.md; resolves to its result object. */
  call(method: string, params?: Record<string, unknown>): Promise<Record<string, any>>;
  status(): Promise<Record<string, any>>;
  getSecret(name: string, options?: { version?: number; stage?: string }): Promise<Buffer>;
  /** Rejects with kind invalid_params (malformed), not_found, revoked or expired. */
  verifyApiKey(key: string): Promise<ApiKeyInfo>;
  issueToken(params: {
    subject: string;
    audience: string | string[];
    scopes?: string[];
    clientId?: string;
    /** Seconds. */
    ttl?: number;
  }): Promise<IssuedToken>;
  /** Rejects with kind invalid_token, or insufficient_scope (data.scope). */
  verifyToken(token: string, audience: string, scopes?: string[]): Promise<VerifiedToken>;
  jwks(): Promise<{ keys: Jwk[] }>;
  /** Close the connection; a later call opens a new one. */
  close(): void;
}

/** The shape of the MCP SDK's AuthInfo. */
export interface AuthInfo {
  token: string;
  clientId: string;
  scopes: string[];
  /** Seconds since the epoch; always set. */
  expiresAt?: number;
  resource?: URL;
  extra?: Record<string, unknown>;
}

type ErrorClass = new (message: string) => Error;
type OAuthErrorClass = new (code: string, message: string) => Error;

export interface KeywardTokenVerifierOptions {
  /** This server's resource identifier (its URL): tokens must name it in `aud`. */
  audience: string;
  /** Scopes the token must carry; missing ones throw insufficient_scope (403). */
  requiredScopes?: string[];
  client?: Client;
  /**
   * The SDK's error classes: required with @modelcontextprotocol/sdk 1.x
   * (from '@modelcontextprotocol/sdk/server/auth/errors.js'), optional with
   * the 2.x packages ({ OAuthError } from '@modelcontextprotocol/server').
   */
  errors?:
    | { InvalidTokenError: ErrorClass; InsufficientScopeError: ErrorClass }
    | { OAuthError: OAuthErrorClass };
  /** Receives the one line logged when the agent stops answering, and when it answers again (default console.error). */
  log?: (line: string) => void;
}

/** The MCP SDK's OAuthTokenVerifier, backed by keyward. */
export declare class KeywardTokenVerifier {
  constructor(options: KeywardTokenVerifierOptions);
  readonly audience: string;
  readonly requiredScopes: string[];
  readonly resource: URL | undefined;
  verifyAccessToken(token: string): Promise<AuthInfo>;
}

/**
 * Thrown without options.errors: the 2.x SDK recognises it by its brand
 * and .code; the 1.x SDK does not (pass errors there).
 */
export declare class KeywardOAuthError extends Error {
  constructor(code: string, message: string);
  readonly code: string;
  readonly errorCode: string;
  toResponseObject(): { error: string; error_description: string };
}
export declare class KeywardInvalidTokenError extends KeywardOAuthError {
  constructor(message: string);
}
export declare class KeywardInsufficientScopeError extends KeywardOAuthError {
  constructor(message: string);
}

/** Seconds sent in Retry-After with a 503. */
export declare const RETRY_AFTER_S: number;

type Middleware = (req: any, res: any, next: (err?: unknown) => void) => unknown;

/**
 * Wraps requireBearerAuth (Express, either SDK line): 503 with Retry-After
 * instead of the SDK's 500 when the agent could not verify the token.
 */
export declare function unavailable503<M extends Middleware>(middleware: M): M;

/**
 * The same for the web-standard gate of @modelcontextprotocol/server:
 * its Response becomes a 503 when the agent could not verify the token.
 */
export declare function unavailable503Gate<T>(
  gate: (request: Request) => Promise<T | Response>,
): (request: Request) => Promise<T | Response>;
