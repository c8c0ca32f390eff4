// client.mjs - the official MCP TypeScript SDK 2.x stdio client, for
// keyward's end-to-end tests (tests/integration/test_mcpclients.py).
//
//   node client.mjs SPEC.json
//
// SPEC.json: {"command": S, "args": [S...], "env": {S: S}, "cwd": S?,
// "names": [S...]}. Starts the server the way an MCP client does
// (StdioClientTransport: command and args without a shell, the SDK's default
// inherited variables plus env), lists its tools, calls `env_hash` for each
// name and prints one JSON object on stdout:
//   {"tools": [NAME...], "hashes": {NAME: HEX|"unset"}}
// The server's stderr passes through to ours. On any failure it prints
// {"error": MESSAGE} and exits 1; a bad SPEC exits 2.

import { readFileSync } from 'node:fs';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';

function fail(status, message) {
  process.stdout.write(`${JSON.stringify({ error: message })}\n`);
  process.exit(status);
}

function isStringArray(v) {
  return Array.isArray(v) && v.every((s) => typeof s === 'string');
}

function isStringMap(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v) &&
    Object.values(v).every((s) => typeof s === 'string');
}

// The spec file, checked field by field so that a test's mistake is named.
function readSpec(path) {
  let spec;
  try {
    spec = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    fail(2, `cannot read the spec ${path}: ${err.message}`);
  }
  if (typeof spec?.command !== 'string' || spec.command === '') fail(2, 'spec.command must be a non-empty string');
  if (spec.args !== undefined && !isStringArray(spec.args)) fail(2, 'spec.args must be an array of strings');
  if (spec.env !== undefined && !isStringMap(spec.env)) fail(2, 'spec.env must map strings to strings');
  if (spec.cwd !== undefined && typeof spec.cwd !== 'string') fail(2, 'spec.cwd must be a string');
  if (!isStringArray(spec.names)) fail(2, 'spec.names must be an array of strings');
  return spec;
}

function textOf(result) {
  return result.content?.find((c) => c.type === 'text')?.text;
}

if (process.argv.length !== 3) fail(2, 'usage: node client.mjs SPEC.json');
const spec = readSpec(process.argv[2]);

const client = new Client({ name: 'keyward-test-client', version: '0.1.0' });
const transport = new StdioClientTransport({
  command: spec.command,
  args: spec.args ?? [],
  env: spec.env ?? {},
  cwd: spec.cwd,
  stderr: 'inherit',
});

try {
  await client.connect(transport);
  const { tools } = await client.listTools();
  const hashes = {};
  for (const name of spec.names) {
    const res = await client.callTool({ name: 'env_hash', arguments: { name } });
    const text = textOf(res);
    if (res.isError || typeof text !== 'string') fail(1, `env_hash(${name}) failed: ${JSON.stringify(res.content ?? null)}`);
    hashes[name] = text;
  }
  await client.close();
  process.stdout.write(`${JSON.stringify({ tools: tools.map((t) => t.name), hashes })}\n`);
} catch (err) {
  fail(1, err?.message ?? String(err));
}
