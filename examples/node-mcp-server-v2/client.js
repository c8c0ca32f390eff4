// client.js - call server.js with the MCP SDK 2.x's own client.
//
//   MCP_TOKEN=$(keyward token issue --sub alice --aud http://127.0.0.1:3000/mcp \
//                 --scopes mcp:tools --ttl 5m) node client.js http://127.0.0.1:3000/mcp
//
// Connects, lists the tools, calls `upstream_status`, and prints one JSON
// object per step on stdout:
//   {"step":"connected","protocolVersion":V}
//   {"step":"tools","tools":[NAME...]}
//   {"step":"call","isError":BOOL,"result":OBJECT|TEXT}
// On failure it prints {"step":"error","status":HTTP_STATUS|null,"message":S}
// (with "scope":S when the server asked for more scope: 403) and exits 1. The token is sent as `Authorization: Bearer` only if
// MCP_TOKEN is set.

import {
  Client, InsufficientScopeError, SdkHttpError, StreamableHTTPClientTransport,
} from '@modelcontextprotocol/client';

const url = process.argv[2];
if (!url) {
  console.error('usage: node client.js URL');
  process.exit(2);
}

const headers = {};
if (process.env.MCP_TOKEN) headers.Authorization = `Bearer ${process.env.MCP_TOKEN}`;

// 'auto': ask the server which revisions it serves (server/discover) and
// use the newest both know, 2026-07-28 here; a 2025 server gets initialize.
const client = new Client({ name: 'keyward-example-client-v2', version: '0.1.0' },
  { versionNegotiation: { mode: 'auto' } });
const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });

function emit(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

// The HTTP status behind an error, wherever the SDK put it. A 403
// insufficient_scope challenge surfaces as InsufficientScopeError.
function failure(err) {
  for (let e = err; e; e = e.cause) {
    if (e instanceof InsufficientScopeError) return { status: 403, scope: e.requiredScope ?? null };
    if (e instanceof SdkHttpError) return { status: e.status };
  }
  return { status: null };
}

try {
  await client.connect(transport);
  emit({ step: 'connected', protocolVersion: client.getNegotiatedProtocolVersion() ?? null });
  const { tools } = await client.listTools();
  emit({ step: 'tools', tools: tools.map((t) => t.name) });
  const res = await client.callTool({ name: 'upstream_status', arguments: {} });
  const text = res.content?.find((c) => c.type === 'text')?.text ?? '';
  let result;
  try {
    result = JSON.parse(text);
  } catch {
    result = text;
  }
  emit({ step: 'call', isError: Boolean(res.isError), result });
  await client.close();
} catch (err) {
  emit({ step: 'error', ...failure(err), message: String(err.message ?? err) });
  await client.close().catch(() => {});
  process.exit(1);
}
