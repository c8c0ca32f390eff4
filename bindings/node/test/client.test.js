// The Node binding's Client: against fake agents on sockets of our own
// (always), and against the real keywardd when the integration test
// (tests/integration/test_bindings_node.py) names one in KW_TEST_SOCKET.
//
//   node --test bindings/node/test/
//
// Environment from the integration test: KW_TEST_SOCKET, KW_TEST_SECRETS
// (JSON {name: base64}), KW_TEST_CLIENT_TOKEN and KW_TEST_TOKEN_ONLY (a
// secret only that token may read), KW_TEST_IDLE_MS (the agent's idle
// timeout).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { checkSocketPath, Client, KeywardError, socketPath } from '../index.js';

const live = process.env.KW_TEST_SOCKET;

async function rejectsKind(promise, kind) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof KeywardError, `not a KeywardError: ${err}`);
    assert.equal(err.kind, kind, err.message);
    assert.equal(err.data.kind, kind);
    return true;
  });
}

describe('socketPath', () => {
  test('follows docs/config.md', () => {
    assert.equal(socketPath({ KEYWARD_SOCKET: '/s/a.sock', XDG_RUNTIME_DIR: '/run/u', KEYWARD_HOME: '/h' }), '/s/a.sock');
    assert.equal(socketPath({ XDG_RUNTIME_DIR: '/run/u', KEYWARD_HOME: '/h' }), '/run/u/keyward/agent.sock');
    assert.equal(socketPath({ KEYWARD_HOME: '/h', HOME: '/home/x' }), '/h/agent.sock');
    assert.equal(socketPath({ HOME: '/home/x' }), '/home/x/.mcp/agent.sock');
  });
  test('refuses relative and overlong paths', () => {
    for (const env of [{ KEYWARD_SOCKET: 'rel.sock' }, { XDG_RUNTIME_DIR: 'run' }, { KEYWARD_SOCKET: `/${'x'.repeat(200)}` }]) {
      assert.throws(() => socketPath(env), (err) => err.kind === 'invalid_params');
    }
  });
  test('refuses a malformed client token before connecting', () => {
    assert.throws(() => new Client({ path: '/nonexistent', token: 'kwt_short' }), (err) => err.kind === 'invalid_params');
  });
});

// A fake agent: reply(state, request) returns a string to send, 'CLOSE'
// to close the connection, or null to stay silent.
function fakeAgent(reply) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kwfake-'));
  const sockPath = path.join(dir, 's');
  const state = { accepted: 0, seen: [] };
  const server = net.createServer((conn) => {
    state.accepted++;
    let buf = '';
    conn.on('error', () => {});
    conn.on('data', (d) => {
      buf += d.toString('utf8');
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const req = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        state.seen.push(req);
        const out = reply(state, req);
        if (out === 'CLOSE') {
          conn.destroy();
          return;
        }
        if (out) conn.write(out);
      }
    });
  });
  server.listen(sockPath);
  state.path = sockPath;
  state.close = () => new Promise((resolve) => {
    server.close(() => {
      fs.rmSync(dir, { recursive: true, force: true });
      resolve();
    });
    server.unref();
  });
  return new Promise((resolve) => server.once('listening', () => resolve(state)));
}

const answer = (req, result) => `${JSON.stringify({ jsonrpc: '2.0', id: req.id, result })}\n`;

describe('against a hostile agent', () => {
  test('a timeout drops the connection; the late answer is never taken', async () => {
    let n = 0;
    const agent = await fakeAgent((s, req) => (++n === 1 ? null : answer(req, { n })));
    const c = new Client({ path: agent.path, token: '', timeoutMs: 300 });
    await rejectsKind(c.call('x.y'), 'timeout');
    assert.deepEqual(await c.call('x.y'), { n: 2 });
    assert.equal(agent.accepted, 2);
    c.close();
    await agent.close();
  });

  test('one reconnect when closed before any answer, not two', async () => {
    const agent = await fakeAgent((s, req) => (s.accepted === 1 ? 'CLOSE' : answer(req, { conn: s.accepted })));
    const c = new Client({ path: agent.path, token: '' });
    assert.deepEqual(await c.call('x.y'), { conn: 2 });
    c.close();
    await agent.close();

    const never = await fakeAgent(() => 'CLOSE');
    const d = new Client({ path: never.path, token: '' });
    await rejectsKind(d.call('x.y'), 'closed');
    assert.equal(never.accepted, 2);
    await never.close();
  });

  test('an overlong line or a wrong id closes the connection', async () => {
    const agent = await fakeAgent((s, req) => (req.method === 'long'
      ? `${'x'.repeat(33 * 1024 * 1024)}\n`
      : answer({ id: req.id + 7 }, {})));
    const c = new Client({ path: agent.path, token: '' });
    await rejectsKind(c.call('long'), 'too_big');
    await rejectsKind(c.call('other'), 'invalid_request');
    c.close();
    await agent.close();
  });

  test('hello comes first, notifications are skipped, calls queue', async () => {
    const token = `kwt_${'A'.repeat(43)}`;
    const agent = await fakeAgent((s, req) => {
      if (req.method === 'client.hello') return answer(req, { client: 't' });
      return `{"jsonrpc":"2.0","method":"audit.row","params":{}}\n${answer(req, { echo: req.params.i })}`;
    });
    const c = new Client({ path: agent.path, token });
    const results = await Promise.all([0, 1, 2, 3, 4].map((i) => c.call('a.b', { i })));
    assert.deepEqual(results.map((r) => r.echo), [0, 1, 2, 3, 4]);
    assert.deepEqual(agent.seen.map((r) => r.method), ['client.hello', 'a.b', 'a.b', 'a.b', 'a.b', 'a.b']);
    assert.deepEqual(agent.seen[0].params, { token });
    c.close();
    await agent.close();
  });

  test('a socket others could have planted is refused', async () => {
    const agent = await fakeAgent((s, req) => answer(req, {}));
    const dir = path.dirname(agent.path);
    fs.chmodSync(dir, 0o777); // anyone could swap the socket
    const c = new Client({ path: agent.path, token: '' });
    await rejectsKind(c.call('x.y'), 'unsafe_permissions');
    fs.chmodSync(dir, 0o1777); // sticky, like /tmp: fine
    assert.deepEqual(await c.call('x.y'), {});
    c.close();
    if (process.geteuid() === 0) {
      fs.chmodSync(dir, 0o700);
      fs.chownSync(agent.path, 4242, 4242);
      assert.throws(() => checkSocketPath(agent.path, {}), (err) => err.kind === 'unsafe_permissions');
      checkSocketPath(agent.path, { KEYWARD_AGENT_UID: '4242' });
    }
    assert.equal(agent.accepted, 1);
    await agent.close();
  });

  test('cannot connect', async () => {
    const c = new Client({ path: path.join(os.tmpdir(), `kw-none-${process.pid}.sock`), token: '' });
    await rejectsKind(c.call('x.y'), 'connect');
  });
});

describe('against keywardd', { skip: live ? false : 'KW_TEST_SOCKET not set (run by tests/integration)' }, () => {
  const secrets = live ? JSON.parse(process.env.KW_TEST_SECRETS) : {};
  const c = live ? new Client({ path: live, token: '' }) : null;
  after(() => c?.close());

  test('getSecret returns the exact bytes', async () => {
    for (const [name, b64] of Object.entries(secrets)) {
      const value = await c.getSecret(name);
      assert.ok(Buffer.isBuffer(value));
      assert.equal(value.toString('base64'), b64, name);
    }
  });

  test('errors carry the kind and code', async () => {
    await rejectsKind(c.getSecret('node/missing'), 'not_found');
    await assert.rejects(c.getSecret('node/missing'), (err) => err.code === 1004);
    await rejectsKind(c.getSecret('../etc'), 'invalid_name');
    await rejectsKind(c.call('no.such.method'), 'method_not_found');
    await rejectsKind(c.call('secret.get', { name: 'node/a', nmae: 'b' }), 'invalid_params');
  });

  test('concurrent calls on one client all get their own answer', async () => {
    const names = Object.keys(secrets);
    const calls = [];
    for (let i = 0; i < 40; i++) calls.push(names[i % names.length]);
    const values = await Promise.all(calls.map((n) => c.getSecret(n)));
    values.forEach((v, i) => assert.equal(v.toString('base64'), secrets[calls[i]]));
  });

  test('the client token is presented first and decides attribution', async () => {
    const only = process.env.KW_TEST_TOKEN_ONLY;
    await rejectsKind(c.getSecret(only), 'denied');
    const t = new Client({ path: live, token: process.env.KW_TEST_CLIENT_TOKEN });
    assert.ok((await t.getSecret(only)).length > 0);
    // The token's section reads only its own secret.
    await rejectsKind(t.getSecret(Object.keys(secrets)[0]), 'denied');
    t.close();
  });

  test('the same client goes on after the agent closes an idle connection', async () => {
    const name = Object.keys(secrets)[0];
    const t = new Client({ path: live, token: process.env.KW_TEST_CLIENT_TOKEN });
    await t.getSecret(process.env.KW_TEST_TOKEN_ONLY);
    await sleep(Number(process.env.KW_TEST_IDLE_MS) + 700);
    // Reconnected, and the token presented again (else this is allowed
    // by the exe section or denied for another reason).
    await rejectsKind(t.getSecret(name), 'denied');
    assert.ok((await t.getSecret(process.env.KW_TEST_TOKEN_ONLY)).length > 0);
    t.close();
  });
});
