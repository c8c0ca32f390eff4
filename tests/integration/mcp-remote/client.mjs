// client.mjs - the official MCP TypeScript SDK 2.x stdio client
// (StdioClientTransport), for keyward mcp proxy's tests
// (test_mcp_proxy.py): it launches the proxy as an MCP client launches a
// stdio server and works through a remote server's tools.
//
//   node client.mjs SPEC.json
//
// SPEC.json: {"command": S, "args": [S...], "env": {S: S}, "server": "v1"
// or "v2", "modern": bool}. "modern" pins protocol revision 2026-07-28
// (versionNegotiation); otherwise the client initializes (2025-11-25).
// It lists the tools, calls echo and progress (collecting the progress
// notifications), and, against v1, ask (answering the server's sampling
// request), later (a log message on the GET stream), poll (a stream the
// server closes: resumed) and drop (the GET stream dropped: reopened);
// against v2, region (an x-mcp-header argument). Prints one JSON object:
//   {"tools": [...], "results": {TOOL: TEXT}, "progress": {TOOL: [N...]},
//    "logs": [DATA...], "protocol": VERSION}
// On a failure it prints {"error": MESSAGE} and exits 1; a bad SPEC exits 2.

import { readFileSync } from 'node:fs';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';

function fail(status, message) {
  process.stdout.write(`${JSON.stringify({ error: message })}\n`);
  process.exit(status);
}

let spec;
try {
  spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));
} catch (err) {
  fail(2, `cannot read the spec: ${err.message}`);
}
if (typeof spec?.command !== 'string' || !Array.isArray(spec.args) || !['v1', 'v2'].includes(spec.server)) {
  fail(2, 'spec needs command, args and server ("v1" or "v2")');
}

const v1 = spec.server === 'v1';
const client = new Client({ name: 'keyward-test-proxy-client', version: '0.1.0' }, {
  capabilities: v1 ? { sampling: {} } : {},
  ...(spec.modern ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {}),
});
const logs = [];
const waiters = [];
client.setNotificationHandler('notifications/message', (n) => {
  logs.push(n.params.data);
  for (const w of waiters.splice(0)) w();
});
if (v1) {
  client.setRequestHandler('sampling/createMessage', async (req) => ({
    role: 'assistant',
    model: 'keyward-test',
    content: { type: 'text', text: `forty-two (asked: ${req.params.messages[0].content.text})` },
  }));
}

function textOf(result) {
  if (result.isError) throw new Error(`tool error: ${JSON.stringify(result.content)}`);
  return result.content?.find((c) => c.type === 'text')?.text;
}

async function waitLog(data, ms) {
  const end = Date.now() + ms;
  while (!logs.includes(data)) {
    const left = end - Date.now();
    if (left <= 0) throw new Error(`no log message "${data}" within ${ms} ms (got ${JSON.stringify(logs)})`);
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, left);
      waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

const transport = new StdioClientTransport({
  command: spec.command,
  args: spec.args,
  env: spec.env ?? {},
  stderr: 'inherit',
});

const out = { tools: [], results: {}, progress: {}, logs };
try {
  await client.connect(transport);
  out.protocol = client.getNegotiatedProtocolVersion?.() ?? null;
  out.tools = (await client.listTools()).tools.map((t) => t.name).sort();

  out.results.echo = textOf(await client.callTool({ name: 'echo', arguments: { text: 'héllo “wörld” \u2028 ✓' } }));

  const steps = [];
  out.results.progress = textOf(await client.callTool(
    { name: 'progress', arguments: { steps: 3 } },
    { onprogress: (p) => steps.push(p.progress) },
  ));
  out.progress.progress = steps;

  if (v1) {
    out.results.ask = textOf(await client.callTool({ name: 'ask', arguments: { question: 'the answer?' } }));
    out.results.later = textOf(await client.callTool({ name: 'later', arguments: { text: 'later-1' } }));
    await waitLog('later-1', 10000);
    const polled = [];
    out.results.poll = textOf(await client.callTool(
      { name: 'poll', arguments: { text: 'p1' } },
      { onprogress: (p) => polled.push(p.progress) },
    ));
    out.progress.poll = polled;
    out.results.drop = textOf(await client.callTool({ name: 'drop', arguments: { text: 'after-drop' } }));
    await waitLog('after-drop', 10000);
  } else {
    out.results.region = textOf(await client.callTool({ name: 'region', arguments: { region: 'eu-west-1', text: 'x' } }));
  }
  await client.close();
  process.stdout.write(`${JSON.stringify(out)}\n`);
} catch (err) {
  fail(1, err?.message ?? String(err));
}
