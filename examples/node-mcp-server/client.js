// client.js - call server.js with the MCP SDK's own client.
//
//   MCP_TOKEN=$(keyward token issue --sub alice --aud http://127.0.0.1:3000/mcp \
//                 --scopes mcp:tools --ttl 5m) node client.js http://127.0.0.1:3000/mcp
//
// Connects (initialize), lists the tools, calls `upstream_status`, and
// prints one JSON object per step on stdout:
//   {"step":"tools","tools":[NAME...]}
//   {"step":"call","isError":BOOL,"result":OBJECT|TEXT}
// On failure it prints {"step":"error","status":HTTP_STATUS|null,"message":S}
// and exits 1. The token is sent as `Authorization: Bearer` only if
// MCP_TOKEN is set.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const url = process.argv[2];
if (!url) {
  console.error('usage: node client.js URL');
  process.exit(2);
}

const headers = {};
if (process.env.MCP_TOKEN) headers.Authorization = `Bearer ${process.env.MCP_TOKEN}`;

const client = new Client({ name: 'keyward-example-client', version: '0.1.0' });
const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });

function emit(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

try {
  await client.connect(transport);
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
  emit({
    step: 'error',
    status: err instanceof StreamableHTTPError ? err.code ?? null : null,
    message: String(err.message ?? err),
  });
  await client.close().catch(() => {});
  process.exit(1);
}
