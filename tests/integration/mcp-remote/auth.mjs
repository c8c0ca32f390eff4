// auth.mjs - OAuth for the test remote servers (test_mcp_proxy.py's
// OAuth class): what the MCP authorization specification asks of a
// protected server, against the test authorization server (kwoidc.py).
//
// Environment (all or none): AUTH_ISSUER (the authorization server),
// AUTH_SCOPE (the scope a tool call needs; STEP_UP_SCOPE too for the tool
// "admin"), AUTH_CLIENT_ID and AUTH_CLIENT_SECRET (a client the server
// introspects tokens with, RFC 7662); REJECT_ONCE (below).
//
// - GET /.well-known/oauth-protected-resource/mcp: the RFC 9728 document
//   naming AUTH_ISSUER;
// - a request without a token, or with one introspection does not call
//   active for this resource: 401 with WWW-Authenticate Bearer
//   (resource_metadata, scope); one without the scope: 403
//   insufficient_scope naming it.

import { existsSync, unlinkSync } from 'node:fs';

export const enabled = () => Boolean(process.env.AUTH_ISSUER);

const WELL_KNOWN = '/.well-known/oauth-protected-resource';

export function metadataUrl(resource) {
  const u = new URL(resource);
  return `${u.origin}${WELL_KNOWN}${u.pathname}`;
}

// Serve the metadata; true if req was that request.
export function serveMetadata(req, res, resource) {
  if (req.method !== 'GET' || new URL(metadataUrl(resource)).pathname !== req.url) return false;
  const scopes = [process.env.AUTH_SCOPE, process.env.STEP_UP_SCOPE].filter(Boolean);
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({
    resource,
    authorization_servers: [process.env.AUTH_ISSUER],
    scopes_supported: scopes,
    bearer_methods_supported: ['header'],
  }));
  return true;
}

async function introspect(token) {
  const basic = Buffer.from(`${encodeURIComponent(process.env.AUTH_CLIENT_ID)}:${encodeURIComponent(process.env.AUTH_CLIENT_SECRET)}`).toString('base64');
  const r = await fetch(`${process.env.AUTH_ISSUER}/token/introspection`, {
    method: 'POST',
    headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }).toString(),
  });
  return r.ok ? r.json() : { active: false };
}

function challenge(res, status, resource, error, scope) {
  const parts = [`resource_metadata="${metadataUrl(resource)}"`, `scope="${scope}"`];
  if (error) parts.unshift(`error="${error}"`);
  res.writeHead(status, { 'content-type': 'application/json', 'www-authenticate': `Bearer ${parts.join(', ')}` });
  res.end(JSON.stringify({ error: error || 'unauthorized' }));
}

// REJECT_ONCE (a file): while it exists, the next request with a token
// gets 401 invalid_token whatever the token, and the file goes (as a
// server does when its token cache drops one).
function rejectOnce() {
  const f = process.env.REJECT_ONCE;
  if (!f || !existsSync(f)) return false;
  unlinkSync(f);
  return true;
}

// The token of req, checked; the scopes it has, or null after answering.
export async function gate(req, res, resource, needs) {
  const h = req.headers.authorization || '';
  const m = /^Bearer ([\x21-\x7e]+)$/.exec(h);
  if (!m) {
    challenge(res, 401, resource, null, needs);
    return null;
  }
  if (rejectOnce()) {
    challenge(res, 401, resource, 'invalid_token', needs);
    return null;
  }
  const info = await introspect(m[1]);
  const aud = [].concat(info.aud || []);
  if (!info.active || !aud.includes(resource)) {
    challenge(res, 401, resource, 'invalid_token', needs);
    return null;
  }
  const have = (info.scope || '').split(' ');
  const missing = needs.split(' ').filter((s) => !have.includes(s));
  if (missing.length > 0) {
    challenge(res, 403, resource, 'insufficient_scope', needs);
    return null;
  }
  return have;
}
