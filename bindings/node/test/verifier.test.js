// KeywardTokenVerifier, verifyToken and jwks against the real keywardd,
// with tokens tests/integration/test_bindings_node.py made:
//   KW_TEST_SOCKET, KW_TEST_AUDIENCE, KW_TEST_JWT (scopes mcp:tools and b,
//   client_id node-client), KW_TEST_JWT_NOCLIENT (no client_id),
//   KW_TEST_JWT_BAD (JSON list of hostile variants).

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import {
  Client, KeywardError, KeywardInsufficientScopeError, KeywardInvalidTokenError, KeywardTokenVerifier,
} from '../index.js';

const live = process.env.KW_TEST_SOCKET && process.env.KW_TEST_JWT;

// Stand-ins for the SDK's classes: the verifier must throw what it is given.
class InvalidTokenError extends Error {}
class InsufficientScopeError extends Error {}
const errors = { InvalidTokenError, InsufficientScopeError };

describe('verifier and verify methods', { skip: live ? false : 'run by tests/integration with tokens' }, () => {
  const env = process.env;
  const c = live ? new Client({ path: env.KW_TEST_SOCKET, token: '' }) : null;
  after(() => c?.close());
  const audience = env.KW_TEST_AUDIENCE;

  test('a valid token becomes the SDK\'s AuthInfo', async () => {
    const v = new KeywardTokenVerifier({ audience, client: c, errors });
    const info = await v.verifyAccessToken(env.KW_TEST_JWT);
    assert.equal(info.token, env.KW_TEST_JWT);
    assert.equal(info.clientId, 'node-client');
    assert.deepEqual([...info.scopes].sort(), ['b', 'mcp:tools']);
    assert.ok(Number.isInteger(info.expiresAt));
    assert.ok(info.expiresAt > Date.now() / 1000);
    assert.ok(info.resource instanceof URL);
    assert.equal(info.resource.href, new URL(audience).href);
    assert.equal(info.extra.subject, 'alice');
    assert.equal(typeof info.extra.kid, 'string');

    const noClient = await v.verifyAccessToken(env.KW_TEST_JWT_NOCLIENT);
    assert.equal(noClient.clientId, 'bob'); // the subject stands in
  });

  test('invalid tokens throw the InvalidTokenError given', async () => {
    const v = new KeywardTokenVerifier({ audience, client: c, errors });
    for (const bad of [...JSON.parse(env.KW_TEST_JWT_BAD), 'garbage', 'two words', 'x'.repeat(20000)]) {
      await assert.rejects(v.verifyAccessToken(bad), InvalidTokenError, bad.slice(0, 40));
    }
    const other = new KeywardTokenVerifier({ audience: 'https://other.test/mcp', client: c, errors });
    await assert.rejects(other.verifyAccessToken(env.KW_TEST_JWT), InvalidTokenError);
  });

  test('a missing required scope throws InsufficientScopeError', async () => {
    const v = new KeywardTokenVerifier({ audience, requiredScopes: ['admin'], client: c, errors });
    await assert.rejects(v.verifyAccessToken(env.KW_TEST_JWT), InsufficientScopeError);
    const ok = new KeywardTokenVerifier({ audience, requiredScopes: ['mcp:tools'], client: c, errors });
    assert.equal((await ok.verifyAccessToken(env.KW_TEST_JWT)).clientId, 'node-client');
  });

  test('without errors, OAuth errors the 2.x SDK knows by their brand', async () => {
    const v = new KeywardTokenVerifier({ audience, client: c });
    await assert.rejects(v.verifyAccessToken('garbage'), (err) => err instanceof KeywardInvalidTokenError &&
      err.code === 'invalid_token' && err.errorCode === 'invalid_token' &&
      err[Symbol.for('mcp.sdk.errorBrands')].has('mcp.OAuthError'));
    const scoped = new KeywardTokenVerifier({ audience, requiredScopes: ['admin'], client: c });
    await assert.rejects(scoped.verifyAccessToken(env.KW_TEST_JWT), (err) => err instanceof KeywardInsufficientScopeError &&
      err.code === 'insufficient_scope');
  });

  test('errors: { OAuthError } (2.x) is constructed with the code', async () => {
    class OAuthError extends Error {
      constructor(code, message) { super(message); this.code = code; }
    }
    const v = new KeywardTokenVerifier({ audience, client: c, errors: { OAuthError } });
    await assert.rejects(v.verifyAccessToken('garbage'), (err) => err instanceof OAuthError && err.code === 'invalid_token');
  });

  test('an unreachable agent is an error, not an invalid token', async () => {
    const gone = new Client({ path: '/nonexistent/kw.sock', token: '' });
    const lines = [];
    const v = new KeywardTokenVerifier({ audience, client: gone, errors, log: (l) => lines.push(l) });
    await assert.rejects(v.verifyAccessToken(env.KW_TEST_JWT), (err) => err instanceof KeywardError && err.kind === 'connect');
    await assert.rejects(v.verifyAccessToken(env.KW_TEST_JWT), (err) => err instanceof KeywardError && err.kind === 'connect');
    // One line for the outage, naming the socket, never the token.
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0], /^keyward: cannot verify bearer tokens: connect: .*\/nonexistent\/kw\.sock/);
    assert.ok(!lines[0].includes(env.KW_TEST_JWT));
  });

  test('verifyToken, jwks', async () => {
    const res = await c.verifyToken(env.KW_TEST_JWT, audience);
    assert.equal(res.subject, 'alice');
    assert.ok(res.audience.includes(audience));
    const { keys } = await c.jwks();
    assert.ok(keys.some((k) => k.kid === res.kid));
    await assert.rejects(c.verifyToken(env.KW_TEST_JWT, audience, ['admin']),
      (err) => err.kind === 'insufficient_scope' && String(err.data.scope).includes('admin'));
  });
});
