// server-v1.mjs - a remote MCP server on the official TypeScript SDK 1.x
// (@modelcontextprotocol/sdk), Streamable HTTP with sessions (protocol
// revisions 2025-06-18 / 2025-11-25), for keyward mcp proxy's tests
// (tests/integration/test_mcp_proxy.py).
//
//   node server-v1.mjs     prints "listening URL" once it listens
//
// Environment:
//   KEY_FILE   the X-Api-Key values it accepts, one a line, read at each
//              request; any other (or none) gets 401
//   RECORD     a file it appends one JSON line to per HTTP request:
//              {"method", "headers" (the MCP and key ones), "body" (the
//              raw body, base64)}, before answering
//
// Tools: echo {text}; progress {steps} (a notifications/progress per
// step on the request's stream); ask {question} (a sampling/createMessage
// request to the client, answered through the proxy); later {text} (a
// notifications/message on the GET stream, after the response); poll
// {text} (closes the request's stream after a progress notification and
// answers later: the client resumes with Last-Event-ID); drop {text}
// (closes the GET stream, then sends a message the client gets after
// reconnecting with Last-Event-ID); expire (the session ends after the
// answer: the next request with it gets 404).

import { appendFileSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { randomUUID } from 'node:crypto';

import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CreateMessageResultSchema, isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import * as z from 'zod';

const HOST = '127.0.0.1';
const BODY_MAX = 8 << 20;
const KEPT_HEADERS = ['x-api-key', 'mcp-session-id', 'mcp-protocol-version', 'mcp-method', 'mcp-name',
  'last-event-id', 'accept', 'content-type', 'authorization'];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const transports = new Map(); // session id -> transport

// An event store for resumption (the SDK's example one cannot replay the
// GET stream, whose id has '_' in it): every event in order, with its
// stream.
class EventStore {
  constructor() {
    this.events = []; // {id, streamId, message}
    this.next = 0;
  }

  async storeEvent(streamId, message) {
    const id = `e${++this.next}`;
    this.events.push({ id, streamId, message });
    return id;
  }

  async getStreamIdForEventId(eventId) {
    return this.events.find((e) => e.id === eventId)?.streamId;
  }

  async replayEventsAfter(lastEventId, { send }) {
    const i = this.events.findIndex((e) => e.id === lastEventId);
    if (i < 0) return '';
    const { streamId } = this.events[i];
    for (const e of this.events.slice(i + 1)) {
      if (e.streamId === streamId) await send(e.id, e.message);
    }
    return streamId;
  }
}

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

function buildServer(transportOf) {
  const server = new McpServer({ name: 'keyward-test-remote-v1', version: '0.1.0' }, { capabilities: { logging: {} } });

  server.registerTool('echo', { description: 'Returns its text', inputSchema: { text: z.string() } },
    async ({ text: t }) => text(t));

  server.registerTool('progress', { description: 'A progress notification per step', inputSchema: { steps: z.number().int().min(1).max(20) } },
    async ({ steps }, extra) => {
      const progressToken = extra._meta?.progressToken;
      for (let i = 1; i <= steps; i++) {
        if (progressToken !== undefined) {
          await extra.sendNotification({ method: 'notifications/progress', params: { progressToken, progress: i, total: steps, message: `step ${i}` } });
        }
        await sleep(20);
      }
      return text(`done ${steps}`);
    });

  server.registerTool('ask', { description: 'Asks the client to sample', inputSchema: { question: z.string() } },
    async ({ question }, extra) => {
      const r = await extra.sendRequest({
        method: 'sampling/createMessage',
        params: { messages: [{ role: 'user', content: { type: 'text', text: question } }], maxTokens: 16 },
      }, CreateMessageResultSchema);
      return text(`answer: ${r.content.text}`);
    });

  server.registerTool('later', { description: 'A log message outside the request, after it', inputSchema: { text: z.string() } },
    async ({ text: t }) => {
      setTimeout(() => { server.server.sendLoggingMessage({ level: 'info', data: t }).catch(() => {}); }, 150);
      return text('scheduled');
    });

  server.registerTool('poll', { description: 'Closes its stream, answers later', inputSchema: { text: z.string() } },
    async ({ text: t }, extra) => {
      const progressToken = extra._meta?.progressToken;
      if (progressToken !== undefined) {
        await extra.sendNotification({ method: 'notifications/progress', params: { progressToken, progress: 1, total: 2 } });
      }
      transportOf().closeSSEStream(extra.requestId);
      await sleep(400);
      return text(`polled ${t}`);
    });

  server.registerTool('drop', { description: 'Closes the GET stream, then logs', inputSchema: { text: z.string() } },
    async ({ text: t }) => {
      transportOf().closeStandaloneSSEStream();
      setTimeout(() => { server.server.sendLoggingMessage({ level: 'info', data: t }).catch(() => {}); }, 100);
      return text('dropped');
    });

  server.registerTool('expire', { description: 'Ends the session after answering' },
    async (extra) => {
      const sid = extra.sessionId;
      setTimeout(() => transports.delete(sid), 50);
      return text('expiring');
    });

  return server;
}

async function handle(req, res) {
  const body = await readBody(req);
  record(req, body);
  if (!keyOk(req)) {
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
  const sid = req.headers['mcp-session-id'];
  let transport = typeof sid === 'string' ? transports.get(sid) : undefined;
  if (!transport) {
    if (sid !== undefined) {
      res.writeHead(404, { 'content-type': 'application/json' })
        .end('{"jsonrpc":"2.0","error":{"code":-32001,"message":"Session not found"},"id":null}\n');
      return;
    }
    if (req.method !== 'POST' || !isInitializeRequest(parsed)) {
      res.writeHead(400, { 'content-type': 'application/json' })
        .end('{"jsonrpc":"2.0","error":{"code":-32000,"message":"No session"},"id":null}\n');
      return;
    }
    const t = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      eventStore: new EventStore(),
      retryInterval: 100,
      onsessioninitialized: (id) => { transports.set(id, t); },
      onsessionclosed: (id) => { transports.delete(id); },
    });
    await buildServer(() => t).connect(t);
    transport = t;
  }
  await transport.handleRequest(req, res, parsed);
}

const httpServer = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    console.error(`server-v1: ${err.message}`);
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
