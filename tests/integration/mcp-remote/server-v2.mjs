// server-v2.mjs - a remote MCP server on the official TypeScript SDK 2.x
// (@modelcontextprotocol/server, createMcpHandler: stateless, protocol
// revision 2026-07-28, which also answers the 2025 initialize without a
// session), for keyward mcp proxy's tests (test_mcp_proxy.py).
//
//   node server-v2.mjs     prints "listening URL" once it listens
//
// Environment: KEY_FILE and RECORD as for server-v1.mjs.
//
// Tools: echo {text}; progress {steps} (a notifications/progress per step
// on the request's stream); region {region, text} (its region argument
// is declared x-mcp-header "Region": the SDK checks Mcp-Param-Region);
// broken (declares x-mcp-header on a number: a client must leave it out
// of tools/list).

import { appendFileSync, readFileSync } from 'node:fs';
import http from 'node:http';

import { toNodeHandler } from '@modelcontextprotocol/node';
import * as auth from './auth.mjs';
import { createMcpHandler, fromJsonSchema, McpServer } from '@modelcontextprotocol/server';
import * as z from 'zod';

const HOST = '127.0.0.1';
const BODY_MAX = 8 << 20;
const KEPT_HEADERS = ['x-api-key', 'mcp-session-id', 'mcp-protocol-version', 'mcp-method', 'mcp-name',
  'last-event-id', 'accept', 'content-type', 'authorization'];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function record(req, body) {
  if (!process.env.RECORD) return;
  const headers = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (KEPT_HEADERS.includes(k) || k.startsWith('mcp-param-')) headers[k] = v;
  }
  appendFileSync(process.env.RECORD, `${JSON.stringify({ method: req.method, headers, body: body.toString('base64') })}\n`);
}

function keyOk(req) {
  const keys = readFileSync(process.env.KEY_FILE, 'utf8').split('\n').filter((k) => k !== '');
  return typeof req.headers['x-api-key'] === 'string' && keys.includes(req.headers['x-api-key']);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const parts = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > BODY_MAX) reject(new Error('body too large'));
      else parts.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

function text(t) {
  return { content: [{ type: 'text', text: t }] };
}

function buildServer() {
  const server = new McpServer({ name: 'keyward-test-remote-v2', version: '0.1.0' });

  server.registerTool('echo', { description: 'Returns its text', inputSchema: z.object({ text: z.string() }) },
    async ({ text: t }) => text(t));

  if (auth.enabled()) {
    server.registerTool('admin', { description: 'Needs the step-up scope', inputSchema: z.object({}) },
      async () => text('admin ok'));
  }

  server.registerTool('progress', { description: 'A progress notification per step', inputSchema: z.object({ steps: z.number().int().min(1).max(20) }) },
    async ({ steps }, ctx) => {
      const progressToken = ctx.mcpReq._meta?.progressToken;
      for (let i = 1; i <= steps; i++) {
        if (progressToken !== undefined) {
          await ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken, progress: i, total: steps, message: `step ${i}` } });
        }
        await sleep(20);
      }
      return text(`done ${steps}`);
    });

  server.registerTool('region', {
    description: 'Echoes its region, which travels as Mcp-Param-Region too',
    inputSchema: fromJsonSchema({
      type: 'object',
      properties: { region: { type: 'string', 'x-mcp-header': 'Region' }, text: { type: 'string' } },
      required: ['region', 'text'],
    }),
  }, async ({ region, text: t }) => text(`${region}: ${t}`));

  server.registerTool('broken', {
    description: 'Declares x-mcp-header on a number, which the spec forbids',
    inputSchema: fromJsonSchema({
      type: 'object',
      properties: { n: { type: 'number', 'x-mcp-header': 'N' } },
    }),
  }, async () => text('should not be listed'));

  return server;
}

const serve = toNodeHandler(createMcpHandler(buildServer, {
  onerror: (err) => console.error(`server-v2: ${err.message}`),
}));

// With OAuth (auth.mjs): a tools/call of "admin" needs STEP_UP_SCOPE too.
async function oauthOk(req, res, body) {
  const resource = `http://${HOST}:${httpServer.address().port}/mcp`;
  let needs = process.env.AUTH_SCOPE;
  try {
    const m = JSON.parse(body.toString('utf8'));
    if (m.method === 'tools/call' && m.params?.name === 'admin') {
      needs = `${needs} ${process.env.STEP_UP_SCOPE}`;
    }
  } catch {
    // not JSON: the handler says so
  }
  return (await auth.gate(req, res, resource, needs)) !== null;
}

async function handle(req, res) {
  if (auth.enabled() && auth.serveMetadata(req, res, `http://${HOST}:${httpServer.address().port}/mcp`)) {
    return;
  }
  const body = await readBody(req);
  record(req, body);
  if (auth.enabled()) {
    if (!(await oauthOk(req, res, body))) return;
  } else if (!keyOk(req)) {
    res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'ApiKey realm="keyward-test"' });
    res.end('{"error":"missing or wrong X-Api-Key"}\n');
    return;
  }
  let parsed;
  if (req.method === 'POST') {
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"not JSON"}\n');
      return;
    }
  }
  await serve(req, res, parsed);
}

const httpServer = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    console.error(`server-v2: ${err.message}`);
    if (!res.headersSent) res.writeHead(500).end();
  });
});
httpServer.listen(Number(process.env.PORT ?? 0), HOST, () => {
  console.log(`listening http://${HOST}:${httpServer.address().port}/mcp`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    httpServer.closeAllConnections();
    httpServer.close(() => process.exit(0));
  });
}
