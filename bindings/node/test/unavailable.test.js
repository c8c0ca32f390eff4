// unavailable503() and unavailable503Gate() with a fake agent client and
// middleware shaped like the SDKs' requireBearerAuth (no SDK installed
// here: tests/integration/test_mcp_sdk2.py runs the real ones).

import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, test } from 'node:test';

import {
  KeywardError, KeywardOAuthError, KeywardTokenVerifier, RETRY_AFTER_S, unavailable503, unavailable503Gate,
} from '../index.js';

// token -> what the fake agent does with it
const fakeClient = {
  async verifyToken(token) {
    if (token === 'good') return { subject: 'alice', scopes: ['s'], expires_at: 2 ** 31 };
    if (token === 'bad') throw new KeywardError(1002, 'invalid_token', 'the token has expired');
    if (token === 'denied') throw new KeywardError(1005, 'denied', 'this process may not verify tokens');
    throw KeywardError.client('connect', 'cannot connect to the agent at /run/x.sock: ENOENT');
  },
};

function verifier(lines) {
  return new KeywardTokenVerifier({ audience: 'https://mcp.test/mcp', client: fakeClient, log: (l) => lines.push(l) });
}

// Like the SDKs' Express middleware: 401 for an OAuthError, else 500.
function sdkLikeMiddleware(v) {
  return async (req, res, next) => {
    try {
      req.auth = await v.verifyAccessToken(req.headers.authorization.slice(7));
      next();
    } catch (err) {
      if (err instanceof KeywardOAuthError) {
        res.set('WWW-Authenticate', `Bearer error="${err.code}"`);
        res.status(401).json(err.toResponseObject());
      } else {
        res.status(500).json({ error: 'server_error' });
      }
    }
  };
}

// A node:http server with the few Express calls the SDKs use on res.
async function serve(handler, fn) {
  const server = http.createServer((req, res) => {
    res.set = (k, v) => { res.setHeader(k, v); return res; };
    res.status = (code) => { res.statusCode = code; return res; };
    res.json = (obj) => { res.setHeader('Content-Type', 'application/json'); res.end(JSON.stringify(obj)); return res; };
    handler(req, res, () => res.status(200).json({ subject: req.auth.extra.subject }));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await fn(`http://127.0.0.1:${server.address().port}/`);
  } finally {
    server.close();
  }
}

const ask = async (url, token) => {
  const r = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
  return { status: r.status, headers: r.headers, body: await r.json() };
};

describe('503 when the agent cannot answer', () => {
  test('unavailable503: 200, 401 pass through; connect and denied become 503', async () => {
    const lines = [];
    const mw = unavailable503(sdkLikeMiddleware(verifier(lines)));
    await serve(mw, async (url) => {
      assert.equal((await ask(url, 'good')).status, 200);
      const bad = await ask(url, 'bad');
      assert.equal(bad.status, 401);
      assert.equal(bad.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
      for (const token of ['down', 'down', 'denied']) {
        const r = await ask(url, token);
        assert.equal(r.status, 503, token);
        assert.equal(r.headers.get('retry-after'), String(RETRY_AFTER_S));
        assert.equal(r.headers.get('www-authenticate'), null);
        assert.equal(r.body.error, 'temporarily_unavailable');
      }
      assert.equal((await ask(url, 'good')).status, 200);
    });
    // One line per outage (and per change of reason), one when it ends.
    assert.deepEqual(lines, [
      'keyward: cannot verify bearer tokens: connect: cannot connect to the agent at /run/x.sock: ENOENT',
      'keyward: cannot verify bearer tokens: denied: this process may not verify tokens',
      'keyward: the agent verifies bearer tokens again',
    ]);
  });

  test('without the wrapper the SDK answers as it would (500)', async () => {
    await serve(sdkLikeMiddleware(verifier([])), async (url) => {
      assert.equal((await ask(url, 'down')).status, 500);
    });
  });

  test('unavailable503Gate: the gate\'s Response becomes a 503', async () => {
    const v = verifier([]);
    const gate = unavailable503Gate(async (request) => {
      try {
        return await v.verifyAccessToken(request.headers.get('authorization').slice(7));
      } catch {
        return new Response('{}', { status: 500 });
      }
    });
    const req = (t) => new Request('https://mcp.test/mcp', { headers: { Authorization: `Bearer ${t}` } });
    assert.equal((await gate(req('good'))).extra.subject, 'alice');
    assert.equal((await gate(req('bad'))).status, 500);
    const r = await gate(req('down'));
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('retry-after'), String(RETRY_AFTER_S));
    assert.equal((await r.json()).error, 'temporarily_unavailable');
  });

  test('bad arguments are refused', () => {
    assert.throws(() => unavailable503(null), (err) => err.kind === 'invalid_params');
    assert.throws(() => unavailable503Gate('x'), (err) => err.kind === 'invalid_params');
    assert.throws(() => new KeywardTokenVerifier({ audience: 'a', errors: { InvalidTokenError: 1 } }),
      (err) => err.kind === 'invalid_params');
    assert.throws(() => new KeywardTokenVerifier({ audience: 'a', log: 'x' }), (err) => err.kind === 'invalid_params');
  });
});
