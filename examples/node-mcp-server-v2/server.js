// server.js - a stateless Streamable HTTP MCP server on the MCP TypeScript
// SDK 2.x (protocol revision 2026-07-28) that keeps no keys of its own.
//
// - Every request to /mcp must carry `Authorization: Bearer <token>`, a JWT
//   keyward issued for this server (its URL is the audience).
//   requireBearerAuth (@modelcontextprotocol/express) asks keyward through
//   KeywardTokenVerifier: a missing, expired, tampered, wrong-audience or
//   wrong-key token gets 401 with a WWW-Authenticate header pointing at the
//   protected resource metadata (RFC 9728, served by mcpAuthMetadataRouter);
//   a valid token without the required scope gets 403 insufficient_scope;
//   an agent that cannot answer (down, locked, this process denied) gets
//   503 with Retry-After (unavailable503), and one line on stderr.
// - MCP itself is the web-standard handler of @modelcontextprotocol/server
//   (createMcpHandler), one fresh McpServer per request, no sessions,
//   adapted to Express by toNodeHandler (@modelcontextprotocol/node), which
//   hands it req.auth.
// - The tool `upstream_status` fetches the server's upstream credential
//   from keyward at call time (secret.get) and reports that it has it (its
//   length), never the value.
//
// Environment (all optional):
//   PORT                 TCP port on 127.0.0.1 (default 3000; 0: any free
//                        port). The server prints "listening URL" once ready.
//   MCP_RESOURCE_URL     the audience tokens must name (default the URL
//                        this server listens on, http://127.0.0.1:PORT/mcp)
//   MCP_REQUIRED_SCOPE   scope every request needs (default mcp:tools)
//   MCP_UPSTREAM_SECRET  the secret the tool reads (default demo/upstream-token)
//   MCP_AUTH_SERVER      the authorization server's issuer URL advertised in
//                        the metadata (default this server's origin)
//   KEYWARD_SOCKET, KEYWARD_TOKEN   where keyward is, and this server's
//                        client token (see README.md)

import http from 'node:http';

import {
  createMcpExpressApp, getOAuthProtectedResourceMetadataUrl, mcpAuthMetadataRouter, requireBearerAuth,
} from '@modelcontextprotocol/express';
import { toNodeHandler } from '@modelcontextprotocol/node';
import { createMcpHandler, McpServer } from '@modelcontextprotocol/server';
import { Client, KeywardError, KeywardTokenVerifier, unavailable503 } from 'keyward';

const HOST = '127.0.0.1';
const port = Number(process.env.PORT ?? 3000);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error('server: PORT must be an integer from 0 to 65535');
  process.exit(2);
}
const requiredScope = process.env.MCP_REQUIRED_SCOPE ?? 'mcp:tools';
const upstreamSecret = process.env.MCP_UPSTREAM_SECRET ?? 'demo/upstream-token';

// One connection to keyward for the whole server: the client queues calls,
// reconnects after an agent restart and presents $KEYWARD_TOKEN first.
const keyward = new Client();

// A fresh server per request (stateless): the tools are defined once here.
function buildMcpServer({ authInfo }) {
  const server = new McpServer({ name: 'keyward-example-v2', version: '0.1.0' });
  server.registerTool('upstream_status', {
    title: 'Upstream credential status',
    description: 'Fetches this server\'s upstream credential from keyward and reports that it is available (never the value).',
    annotations: { readOnlyHint: true },
  }, async () => {
    let value;
    try {
      value = await keyward.getSecret(upstreamSecret);
    } catch (err) {
      if (!(err instanceof KeywardError)) throw err;
      return { isError: true, content: [{ type: 'text', text: `keyward: ${err.kind}` }] };
    }
    // A real server would now call its upstream API with `value`.
    const report = {
      secret: upstreamSecret,
      available: true,
      length: value.length,
      caller: authInfo?.extra?.subject ?? null,
      client: authInfo?.clientId ?? null,
      scopes: authInfo?.scopes ?? [],
    };
    value.fill(0);
    return { content: [{ type: 'text', text: JSON.stringify(report) }] };
  });
  return server;
}

const app = createMcpExpressApp({ host: HOST });
const httpServer = http.createServer(app);

httpServer.on('error', (err) => {
  console.error(`server: ${err.message}`);
  process.exit(1);
});

httpServer.listen(port, HOST, () => {
  const actual = httpServer.address().port;
  const resource = new URL(process.env.MCP_RESOURCE_URL ?? `http://${HOST}:${actual}/mcp`);
  const issuer = new URL(process.env.MCP_AUTH_SERVER ?? resource.origin);
  const resourceMetadataUrl = getOAuthProtectedResourceMetadataUrl(resource);

  // RFC 9728 at /.well-known/oauth-protected-resource/mcp, and the
  // authorization server's RFC 8414 document it points at.
  app.use(mcpAuthMetadataRouter({
    resourceServerUrl: resource,
    scopesSupported: [requiredScope],
    resourceName: 'keyward example MCP server (SDK 2.x)',
    oauthMetadata: {
      issuer: issuer.href,
      authorization_endpoint: new URL('/authorize', issuer).href,
      token_endpoint: new URL('/token', issuer).href,
      response_types_supported: ['code'],
    },
  }));

  // No error classes to pass: the 2.x SDK recognises the verifier's
  // errors by their brand, whatever copy of the SDK this server loaded.
  const auth = unavailable503(requireBearerAuth({
    verifier: new KeywardTokenVerifier({ audience: resource.href, client: keyward }),
    requiredScopes: [requiredScope],
    resourceMetadataUrl,
  }));

  // Stateless (no sessions): each request gets its own server instance;
  // GET and DELETE, session operations of the 2025 revisions, get 405.
  const mcp = createMcpHandler(buildMcpServer, {
    onerror: (err) => console.error(`server: ${err.message}`),
  });
  const serve = toNodeHandler(mcp);
  // express.json() (createMcpExpressApp) has read the body already.
  app.all(resource.pathname, auth, (req, res) => serve(req, res, req.body));

  console.log(`listening ${resource.href}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    keyward.close();
    httpServer.close(() => process.exit(0));
    httpServer.closeAllConnections();
  });
}
