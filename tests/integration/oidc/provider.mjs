// A real OAuth 2.0 authorization server for keyward's tests: oidc-provider
// (panva/node-oidc-provider, pinned in package.json) on 127.0.0.1, with the
// user's part done by the server itself.
//
//     node provider.mjs CONFIG.json
//
// Listens on 127.0.0.1, a port the kernel picks, with the issuer
// http://127.0.0.1:PORT; prints one line {"issuer": "...", "port": N} on
// stdout once it accepts connections; logs go to stderr. Exits when its
// stdin closes (so it never outlives the test that started it) or on
// SIGTERM. All state (clients registered at run time, grants, tokens) is
// in memory and dies with it.
//
// CONFIG.json (tests/integration/kwoidc.py writes it):
//   clients           oidc-provider client metadata objects
//   resources         {URI: {scopes: [...], audience?, alg?, format?}}:
//                     (a URI ending in '*': every resource it is a prefix
//                     of); format "opaque" gives opaque tokens introspection
//                     answers with their aud, else, with
//                     resource=URI the access token is a JWT (RFC 9068,
//                     typ at+jwt) for that audience, signed with alg
//                     (RS256 default, PS256, ES256, EdDSA); without a
//                     resource access tokens are opaque
//   scopes            scopes besides openid and offline_access
//   access_token_ttl, refresh_token_ttl, device_code_ttl   seconds
//   account           the user every interaction logs in (alice)
//   deny              true: every interaction ends with access_denied
//   key_generations   signing keys made per key type (2); POST
//                     /test/jwks-rotate moves to the next generation
//
// What it configures, and why:
//   - clientCredentials, introspection, revocation, deviceFlow,
//     registration (open: no initial access token), resourceIndicators on;
//     devInteractions off (their login page is replaced, below).
//   - Refresh tokens for the code and device grants of any client allowed
//     the refresh_token grant (issueRefreshToken; no offline_access
//     needed), rotated on every use (rotateRefreshToken: true). Presenting
//     an already used one is invalid_grant "refresh token already used"
//     and revokes the grant's tokens (oidc-provider's own behaviour, see
//     actions/grants/refresh_token.js and helpers/revoke.js).
//   - PKCE: required for public clients (token_endpoint_auth_method
//     none); oidc-provider 9 knows only S256 (its pkce.methods option was
//     removed in 9.0.0).
//   - RFC 9207: oidc-provider 9 always adds iss to authorization responses
//     (success and error) and advertises
//     authorization_response_iss_parameter_supported; the old
//     features.issAuthResp flag was graduated to always on, so there is
//     nothing to configure.
//   - RFC 8252 7.3: for a native client, oidc-provider compares loopback
//     http redirect URIs (127.0.0.1, [::1], localhost) without their port,
//     so http://127.0.0.1/callback admits http://127.0.0.1:ANY/callback.
//     Nothing to configure either; the self-test shows it.
//   - Tokens do not end with the browser session (expiresWithSession
//     false): they live for their TTL.
//
// Node: oidc-provider 9 declares no "engines", but its 9.0.0 changelog
// dropped Node 18 and 20 and it warns "Unsupported runtime" at import on
// anything older than Node 22 (to stderr). It runs on the Node 20.20 that
// kwauth.sdk2_node() gives (it needs crypto.hash, 20.12+, and URL.parse,
// 20.18+); test_oidc_fixture.py is what shows it.
//
// Test-only parts:
//   - GET /interaction/:uid (interactions.url) finishes the interaction at
//     once: the login prompt logs in `account`, the consent prompt grants
//     every scope, claim and resource asked for; with deny it ends with
//     access_denied instead. No page is shown: it answers 303 to where
//     oidc-provider resumes.
//   - The device grant's user side is oidc-provider's own pages (GET/POST
//     /device): tests drive them like a browser (kwoidc.approve_device,
//     or browser.py given the verification URI).
//   - POST /test/jwks-rotate: the next generation of signing keys is
//     published in /jwks (the old ones stay, unless ?retire=1) and signs
//     every JWT access token from now on. 409 once none is left.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as util from 'node:util';

import { Provider, errors } from 'oidc-provider';

// stdout carries the ready line and nothing else: oidc-provider's NOTICEs
// (console.info) and anything else printed go to stderr.
console.log = (...args) => process.stderr.write(`${util.format(...args)}\n`);
console.info = console.log;

const log = (...args) => process.stderr.write(`oidc-provider-test: ${args.join(' ')}\n`);

if (process.argv.length !== 3) {
  log('usage: node provider.mjs CONFIG.json');
  process.exit(2);
}
const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const account = config.account || 'alice';
const resources = config.resources || {};
const generations = config.key_generations || 2;
const ALGS = new Set(['RS256', 'PS256', 'ES256', 'EdDSA']);
for (const [uri, rs] of Object.entries(resources)) {
  if (rs.alg !== undefined && !ALGS.has(rs.alg)) {
    log(`resource ${uri}: alg ${rs.alg} is not one of ${[...ALGS].join(', ')}`);
    process.exit(2);
  }
}

// Signing keys: one RSA (RS256 and PS256), one P-256 (ES256) and one
// Ed25519 (EdDSA) key per generation, kid "g<N>-<type>".
const KEY_TYPES = {
  rsa: ['rsa', { modulusLength: 2048 }],
  ec: ['ec', { namedCurve: 'P-256' }],
  ed: ['ed25519', {}],
};
const KTY_OF = { RS256: 'rsa', PS256: 'rsa', ES256: 'ec', EdDSA: 'ed' };
const keys = [];
for (let g = 1; g <= generations; g += 1) {
  for (const [name, [type, options]] of Object.entries(KEY_TYPES)) {
    const { privateKey } = crypto.generateKeyPairSync(type, options);
    keys.push({ ...privateKey.export({ format: 'jwk' }), kid: `g${g}-${name}`, use: 'sig' });
  }
}
let generation = 1; // the generation that signs
let published = 1; // generations before this one are retired: 1 = none

// A key ending in '*' stands for every resource it is a prefix of (an MCP
// server on a port the test learns only once it listens).
function resourceOf(indicator) {
  if (resources[indicator]) {
    return resources[indicator];
  }
  for (const [uri, rs] of Object.entries(resources)) {
    if (uri.endsWith('*') && indicator.startsWith(uri.slice(0, -1))) {
      return rs;
    }
  }
  return undefined;
}

function resourceServerInfo(indicator) {
  const rs = resourceOf(indicator);
  if (!rs) {
    throw new errors.InvalidTarget(`unknown resource ${indicator}`);
  }
  const alg = rs.alg || 'RS256';
  const info = {
    scope: (rs.scopes || []).join(' '),
    audience: rs.audience || indicator,
    accessTokenTTL: config.access_token_ttl,
    accessTokenFormat: rs.format === 'opaque' ? 'opaque' : 'jwt',
  };
  if (info.accessTokenFormat === 'jwt') {
    info.jwt = { sign: { alg, kid: `g${generation}-${KTY_OF[alg]}` } };
  }
  return info;
}

const ttl = (value, fallback) => (value === undefined ? fallback : value);

function configuration() {
  return {
    clients: config.clients || [],
    // Random per run: oidc-provider signs its cookies with these.
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    jwks: { keys },
    scopes: ['openid', 'offline_access', ...(config.scopes || [])],
    responseTypes: ['code'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      deviceFlow: { enabled: true },
      registration: { enabled: true, initialAccessToken: false },
      resourceIndicators: {
        enabled: true,
        getResourceServerInfo: async (ctx, indicator) => resourceServerInfo(indicator),
      },
    },
    // PKCE (S256, the only method oidc-provider 9 has) for every public
    // client, as RFC 9700 2.1.1 says; confidential clients may use it.
    pkce: { required: (ctx, client) => client.clientAuthMethod === 'none' },
    issueRefreshToken: async (ctx, client, code) => (
      client.grantTypeAllowed('refresh_token')
      && ['AuthorizationCode', 'DeviceCode'].includes(code.kind)
    ),
    rotateRefreshToken: true,
    expiresWithSession: async () => false,
    findAccount: async (ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
    interactions: { url: async (ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: {
      AccessToken: ttl(config.access_token_ttl, 3600),
      ClientCredentials: ttl(config.access_token_ttl, 600),
      RefreshToken: ttl(config.refresh_token_ttl, 14 * 24 * 3600),
      DeviceCode: ttl(config.device_code_ttl, 600),
    },
  };
}

// The interaction: log in `account`, grant all that is asked, or deny.
async function interaction(provider, ctx) {
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const { prompt, params, session } = details;
  let result;
  if (config.deny) {
    result = { error: 'access_denied', error_description: 'the test provider denies every request (deny: true)' };
  } else if (prompt.name === 'login') {
    result = { login: { accountId: account } };
  } else if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) {
      grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    }
    if (missing.missingOIDCClaims) {
      grant.addOIDCClaims(missing.missingOIDCClaims);
    }
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    result = { consent: details.grantId ? {} : { grantId } };
  } else {
    result = { error: 'access_denied', error_description: `the test provider cannot do the ${prompt.name} prompt` };
  }
  log(`interaction ${prompt.name}: ${result.error || 'done'}`);
  const to = await provider.interactionResult(ctx.req, ctx.res, result, {
    mergeWithLastSubmission: prompt.name !== 'login',
  });
  ctx.status = 303;
  ctx.redirect(to);
}

function rotate(ctx) {
  if (generation >= generations) {
    ctx.status = 409;
    ctx.body = { error: 'no spare key generation left', key_generations: generations };
    return;
  }
  generation += 1;
  if (ctx.query.retire === '1') {
    published = generation;
  }
  log(`signing keys rotated to generation ${generation}`);
  ctx.body = { generation, kids: keys.filter((k) => k.kid.startsWith(`g${generation}-`)).map((k) => k.kid) };
}

// Keys of generations not yet reached, or retired, are left out of /jwks.
const isPublished = (kid) => {
  const g = Number(/^g(\d+)-/.exec(kid)?.[1]);
  return g >= published && g <= generation;
};

function start(provider, server, port) {
  provider.use(async (ctx, next) => {
    try {
      if (/^\/interaction\/[^/]+$/.test(ctx.path) && ctx.method === 'GET') {
        await interaction(provider, ctx);
      } else if (ctx.path === '/test/jwks-rotate' && ctx.method === 'POST') {
        rotate(ctx);
      } else {
        await next();
        if (ctx.oidc?.route === 'jwks' && ctx.body?.keys) {
          ctx.body = { keys: ctx.body.keys.filter((k) => isPublished(k.kid)) };
        }
      }
    } finally {
      log(`${ctx.method} ${ctx.path} ${ctx.status}`);
    }
  });
  for (const event of ['server_error', 'authorization.error', 'grant.error', 'introspection.error',
    'revocation.error', 'registration_create.error', 'device_authorization.error',
    'code_verification.error', 'device_resume.error', 'resume.error', 'userinfo.error',
    'jwks.error', 'discovery.error']) {
    provider.on(event, (ctx, err) => {
      log(`${event}: ${err?.error || err?.name || ''}: ${err?.error_description || err?.message || ''}`
        + (err?.error_detail ? ` (${err.error_detail})` : '')
        + (event === 'server_error' ? `\n${err?.stack}` : ''));
    });
  }
  provider.on('grant.revoked', (ctx, grantId) => log(`grant revoked: ${grantId}`));
  server.on('request', provider.callback());
  process.stdout.write(`{"issuer": ${JSON.stringify(provider.issuer)}, "port": ${port}}\n`);
}

const server = http.createServer();
server.on('error', (err) => {
  log(`server: ${err.message}`);
  process.exit(1);
});
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  let provider;
  try {
    provider = new Provider(`http://127.0.0.1:${port}`, configuration());
  } catch (err) {
    log(`configuration refused: ${err.stack}`);
    process.exit(1);
  }
  start(provider, server, port);
});

function stop(why) {
  log(`stopping: ${why}`);
  server.close();
  process.exit(0);
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.stdin.on('end', () => stop('stdin closed'));
process.stdin.on('error', () => stop('stdin error'));
process.stdin.resume();
