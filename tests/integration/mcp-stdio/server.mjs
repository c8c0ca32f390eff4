// server.mjs - a stdio MCP server on the official TypeScript SDK 2.x, for
// keyward's end-to-end tests (tests/integration/test_mcpclients.py).
//
//   node server.mjs [--log-env=NAME]...
//
// Speaks MCP on stdin/stdout (StdioServerTransport) and offers one tool,
// `env_hash` {name}: the SHA-256 (hex) of the UTF-8 bytes of
// process.env[name], or "unset". A test that planted a credential in an
// MCP client's config can so check what the server was started with without
// the value itself ever crossing the wire. Nothing is written to stdout but
// the protocol.
//
// --log-env=NAME makes it a careless server that logs NAME=VALUE on stderr
// at start, as some do with their configuration: what `keyward run`'s
// masking must catch before it reaches the client's logs. Other arguments
// are ignored (tests pass some to check that args arrive untouched).

import { createHash } from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/server';
import { StdioServerTransport } from '@modelcontextprotocol/server/stdio';
import * as z from 'zod';

// An environment variable's name as POSIX shells accept it, bounded.
const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

function envHash(name) {
  const value = process.env[name];
  if (value === undefined) return 'unset';
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

const server = new McpServer({ name: 'keyward-test-env-hash', version: '0.1.0' });

server.registerTool(
  'env_hash',
  {
    description: 'SHA-256 (hex) of one environment variable of this server, or "unset"',
    inputSchema: z.object({ name: z.string().regex(NAME_RE) }),
  },
  async ({ name }) => ({ content: [{ type: 'text', text: envHash(name) }] }),
);

for (const arg of process.argv.slice(2)) {
  const name = arg.startsWith('--log-env=') ? arg.slice('--log-env='.length) : null;
  if (name !== null && NAME_RE.test(name)) process.stderr.write(`server: ${name}=${process.env[name] ?? ''}\n`);
}

await server.connect(new StdioServerTransport());
