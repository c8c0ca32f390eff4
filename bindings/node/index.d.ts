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

export interface KeywardTokenVerifierOptions {
  /** This server's resource identifier (its URL): tokens must name it in `aud`. */
  audience: string;
  /** Scopes the token must carry; missing ones throw InsufficientScopeError (403). */
  requiredScopes?: string[];
  client?: Client;
  /** The SDK's error classes, from '@modelcontextprotocol/sdk/server/auth/errors.js'. */
  errors?: { InvalidTokenError: ErrorClass; InsufficientScopeError: ErrorClass };
}

/** The MCP SDK's OAuthTokenVerifier, backed by keyward. */
export declare class KeywardTokenVerifier {
  constructor(options: KeywardTokenVerifierOptions);
  readonly audience: string;
  readonly requiredScopes: string[];
  readonly resource: URL | undefined;
  verifyAccessToken(token: string): Promise<AuthInfo>;
}

/** Stand-ins used only when the SDK's classes cannot be found. */
export declare class KeywardInvalidTokenError extends Error {
  readonly errorCode: 'invalid_token';
  toResponseObject(): { error: string; error_description: string };
}
export declare class KeywardInsufficientScopeError extends Error {
  readonly errorCode: 'insufficient_scope';
  toResponseObject(): { error: string; error_description: string };
}
