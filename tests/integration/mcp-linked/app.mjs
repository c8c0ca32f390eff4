// app.mjs - one bearer-protected route per MCP SDK line, each guarded by
// keyward's KeywardTokenVerifier, for tests/integration/test_mcp_sdk2.py.
// The binding is installed as `npm install ./bindings/node` does it (a
// symlink, see package.json), so it resolves packages from its own
// directory, not this app's: the case that used to answer 500.
//
//   POST /sdk1      @modelcontextprotocol/sdk 1.x requireBearerAuth (errors passed)
//   POST /express2  @modelcontextprotocol/express 2.x requireBearerAuth (nothing passed)
//   POST /web2      @modelcontextprotocol/server 2.x web-standard gate, on
//                   a second port served by node:http through fetch types
// Each wrapped in unavailable503(Gate); 200 {"subject":S} when allowed.
// Prints "listening PORT WEBPORT" once both listen on 127.0.0.1.
// Environment: AUDIENCE (required), KEYWARD_SOCKET, KEYWARD_TOKEN.

import http from 'node:http';

import express from 'express';
import { requireBearerAuth as requireBearerAuth1 } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { InsufficientScopeError, InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { requireBearerAuth as requireBearerAuth2 } from '@modelcontextprotocol/express';
import { requireBearerAuth as webGate } from '@modelcontextprotocol/server';
import { Client, KeywardTokenVerifier, unavailable503, unavailable503Gate } from 'keyward';

const HOST = '127.0.0.1';
const audience = process.env.AUDIENCE;
if (!audience) {
  console.error('app: AUDIENCE must be set');
  process.exit(2);
}
const requiredScopes = ['mcp:tools'];
const resourceMetadataUrl = new URL('/.well-known/oauth-protected-resource/mcp', audience).href;
const client = new Client();
const ok = (auth) => ({ subject: auth.extra.subject });

const app = express();
app.post('/sdk1', unavailable503(requireBearerAuth1({
  verifier: new KeywardTokenVerifier({ audience, client, errors: { InvalidTokenError, InsufficientScopeError } }),
  requiredScopes,
  resourceMetadataUrl,
})), (req, res) => res.json(ok(req.auth)));
app.post('/express2', unavailable503(requireBearerAuth2({
  verifier: new KeywardTokenVerifier({ audience, client }),
  requiredScopes,
  resourceMetadataUrl,
})), (req, res) => res.json(ok(req.auth)));

const gate = unavailable503Gate(webGate({
  verifier: new KeywardTokenVerifier({ audience, client }),
  requiredScopes,
  resourceMetadataUrl,
}));

// node:http to web-standard and back: only what the gate reads.
async function web(req, res) {
  const headers = new Headers();
  if (req.headers.authorization) headers.set('authorization', req.headers.authorization);
  const auth = await gate(new Request(`http://${HOST}${req.url}`, { method: req.method, headers }));
  const answer = auth instanceof Response ? auth : Response.json(ok(auth));
  res.writeHead(answer.status, Object.fromEntries(answer.headers));
  res.end(Buffer.from(await answer.arrayBuffer()));
}

const main = http.createServer(app);
const second = http.createServer((req, res) => {
  web(req, res).catch((err) => {
    console.error(`app: ${err.message}`);
    res.writeHead(500).end();
  });
});
main.listen(0, HOST, () => second.listen(0, HOST, () => {
  console.log(`listening ${main.address().port} ${second.address().port}`);
}));

process.on('SIGTERM', () => {
  client.close();
  main.closeAllConnections();
  second.closeAllConnections();
  main.close();
  second.close();
});
