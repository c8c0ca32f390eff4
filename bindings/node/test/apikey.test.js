// Client.verifyApiKey against the real keywardd, with API keys
// tests/integration/test_bindings_node.py made: KW_TEST_SOCKET,
// KW_TEST_APIKEY (principal svc-node, scope read), KW_TEST_APIKEY_REVOKED,
// KW_TEST_APIKEY_UNKNOWN (well-formed, never issued).

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import { Client, KeywardError } from '../index.js';

const live = process.env.KW_TEST_SOCKET && process.env.KW_TEST_APIKEY;

describe('verifyApiKey', { skip: live ? false : 'run by tests/integration with API keys' }, () => {
  const env = process.env;
  const c = live ? new Client({ path: env.KW_TEST_SOCKET, token: '' }) : null;
  after(() => c?.close());

  test('principal and scopes of a live key; the kind of each refusal', async () => {
    const info = await c.verifyApiKey(env.KW_TEST_APIKEY);
    assert.equal(info.principal, 'svc-node');
    assert.deepEqual(info.scopes, ['read']);
    for (const [key, kind] of [[env.KW_TEST_APIKEY_REVOKED, 'revoked'], [env.KW_TEST_APIKEY_UNKNOWN, 'not_found'], ['not-a-key', 'invalid_params']]) {
      await assert.rejects(c.verifyApiKey(key), (err) => err instanceof KeywardError && err.kind === kind, kind);
    }
  });
});
