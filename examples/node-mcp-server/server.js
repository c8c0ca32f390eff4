// server.js - a Streamable HTTP MCP server that keeps no keys of its own.
//
// - Every request to /mcp must carry `Authorization: Bearer <token>`, a JWT
//   access token keyward issued for this server (its URL is the audience).
//   The SDK's requireBearerAuth asks keyward through KeywardTokenVerifier:
//   a missing, expired, tampered, wrong-audience or wrong-key token gets
//   401 with a WWW-Authenticate header pointing at this server's protected
//   resource metadata (RFC 9728); a valid token without the required scope
//   gets 403 insufficient_scope.
// - The tool `upstream_status` fetches the server's upstream credential
//   from keyward at call time (secret.get) and reports that it has it -
//   its version and length - never the value.
//
// Environment (all optional):
//   PORT                 TCP port on 127.0.0.1 (default 3000; 0: any free
//                        port). The server prints "listening URL" once ready.
//   MCP_RESOURCE_URL     the audience tokens must name (default the URL
//                        this server listens on, http://127.0.0.1:PORT/mcp)
//   MCP_REQUIRED_SCOPE   scope every request needs (default mcp:tools)
//   MCP_UPSTREAM_SECRET  the secret the tool reads (default demo/upstream-token)
//   MCP_AUTH_SERVER      issuer URL to advertise in the resource metadata
//   KEYWARD_SOCKET, KEYWARD_TOKEN   where keyward is, and this server's
//                        client token (see README.md)

import http from 'node:http';

import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { getOAuthProtectedResourceMetadataUrl } from '@modelcontextprotocol/sdk/server/auth/router.js';
import { InsufficientScopeError, InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
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

function buildMcpServer() {
  const server = new McpServer({ name: 'keyward-example', version: '0.1.0' });
  server.registerTool('upstream_status', {
    title: 'Upstream credential status',
    description: 'Fetches this server\'s upstream credential from keyward and reports that it is available (never the value).',
    annotations: { readOnlyHint: true },
  }, async (extra) => {
    let value;
    try {
      value = await keyward.getSecret(upstreamSecret);
    } catch (err) {
      if (!(err instanceof KeywardError)) throw err;
      return {
        isError: true,
        content: [{ type: 'text', text: `keyward: ${err.kind}` }],
      };
    }
    // A real server would now call its upstream API with `value`.
    const report = {
      secret: upstreamSecret,
      available: true,
      length: value.length,
      caller: extra.authInfo?.extra?.subject ?? null,
      client: extra.authInfo?.clientId ?? null,
      scopes: extra.authInfo?.scopes ?? [],
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
  const resourceMetadataUrl = getOAuthProtectedResourceMetadataUrl(resource);

  // unavailable503: 503, not the SDK's 500, when keyward cannot answer.
  const auth = unavailable503(requireBearerAuth({
    verifier: new KeywardTokenVerifier({
      audience: resource.href,
      client: keyward,
      // The classes of the SDK this server uses, so that requireBearerAuth
      // recognises them (401 / 403) whatever way keyward is installed.
      errors: { InvalidTokenError, InsufficientScopeError },
    }),
    requiredScopes: [requiredScope],
    resourceMetadataUrl,
  }));

  // RFC 9728: how a client learns what this resource accepts.
  app.get(new URL(resourceMetadataUrl).pathname, (req, res) => {
    const metadata = {
      resource: resource.href,
      scopes_supported: [requiredScope],
      bearer_methods_supported: ['header'],
      resource_name: 'keyward example MCP server',
    };
    if (process.env.MCP_AUTH_SERVER) metadata.authorization_servers = [process.env.MCP_AUTH_SERVER];
    res.json(metadata);
  });

  // Stateless Streamable HTTP: every POST is verified and served on its own.
  app.post(resource.pathname, auth, async (req, res) => {
    const server = buildMcpServer();
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    });
    res.on('close', () => {
      transport.close();
      server.close();
    });
    try {
      await server.connect(transport);
      await transport.handleRequest(req, res, req.body);
    } catch (err) {
      console.error(`server: ${err.message}`);
      if (!res.headersSent) {
        res.status(500).json({ jsonrpc: '2.0', error: { code: -32603, message: 'Internal server error' }, id: null });
      }
    }
  });
  // No server-initiated stream and no sessions in stateless mode.
  const notAllowed = (req, res) => {
    res.set('Allow', 'POST').status(405).json({
      jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed' }, id: null,
    });
  };
  app.get(resource.pathname, auth, notAllowed);
  app.delete(resource.pathname, auth, notAllowed);

  console.log(`listening ${resource.href}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    keyward.close();
    httpServer.close(() => process.exit(0));
    httpServer.closeAllConnections();
  });
}
