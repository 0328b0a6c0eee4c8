// Drives modelguard's MCP adapters with the official TypeScript SDK client and
// the MCP Inspector CLI. The Go test (../node_test.go) starts the servers and
// passes them in MODELGUARD_CONFORMANCE (JSON: an array of targets); this
// script prints "ok"/"not ok" per row and exits 1 if any row failed.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { discoverOAuthProtectedResourceMetadata, extractWWWAuthenticateParams } from '@modelcontextprotocol/sdk/client/auth.js';
import { ErrorCode, McpError, UrlElicitationRequiredError } from '@modelcontextprotocol/sdk/types.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const targets = JSON.parse(process.env.MODELGUARD_CONFORMANCE ?? '[]');
if (targets.length === 0) {
  console.error('MODELGUARD_CONFORMANCE is not set: run this through the Go test (go test ./internal/mcpconformance)');
  process.exit(2);
}
let failed = 0;

async function row(name, fn) {
  try {
    await fn();
    console.log(`ok ${name}`);
  } catch (err) {
    failed++;
    console.log(`not ok ${name}: ${err?.stack ?? err}`);
  }
}

const initialize = (caps = {}) => JSON.stringify({
  jsonrpc: '2.0', id: 1, method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: caps, clientInfo: { name: 'raw', version: '1' } },
});

async function post(url, token, body, session) {
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'Mcp-Protocol-Version': '2025-11-25' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (session) headers['Mcp-Session-Id'] = session;
  return fetch(url, { method: 'POST', headers, body });
}

// connect opens a session with the official TypeScript SDK client.
async function connect(t, token, capabilities = {}) {
  const transport = new StreamableHTTPClientTransport(new URL(t.resource), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  const client = new Client({ name: 'agent', version: '1' }, { capabilities });
  await client.connect(transport);
  return client;
}

const names = (list) => list.tools.map((tool) => tool.name).sort().join(',');
const text = (res) => res.content.filter((c) => c.type === 'text').map((c) => c.text).join('\n');

async function rejects(promise, check) {
  try {
    await promise;
  } catch (err) {
    check(err);
    return;
  }
  assert.fail('the call succeeded');
}

async function inspector(t, token, ...args) {
  const bin = path.join(here, 'node_modules', '.bin', 'mcp-inspector');
  const { stdout } = await promisify(execFile)(bin, ['--cli', t.resource, '--transport', 'http',
    '--header', `Authorization: Bearer ${token}`, ...args], { timeout: 60000 });
  return JSON.parse(stdout);
}

for (const t of targets) {
  const p = `${t.name}:`;
  const challenge = (err) => `Bearer ${err ? `error="${err}", ` : ''}scope="tickets:read tickets:audit", resource_metadata="${t.metadata}"`;

  await row(`${p} metadata (RFC 9728) served without credentials, found by the SDK's discovery`, async () => {
    const want = {
      resource: t.resource, authorization_servers: [t.issuer], scopes_supported: ['tickets:read', 'tickets:audit'],
      bearer_methods_supported: ['header'], resource_documentation: 'https://modelguard.example/docs/mcp',
    };
    for (const url of [t.metadata, t.rootMetadata]) {
      const res = await fetch(url);
      assert.equal(res.status, 200, url);
      assert.deepEqual(await res.json(), want, url);
    }
    assert.deepEqual(await discoverOAuthProtectedResourceMetadata(t.resource), want);
  });

  await row(`${p} 401 with the exact WWW-Authenticate on every refused token, body never says why`, async () => {
    for (const [who, token, err] of [['no token', '', ''], ['garbage', 'x.y.z', 'invalid_token'],
      ['expired', t.tokens.expired, 'invalid_token'], ['other resource', t.tokens.otherResource, 'invalid_token']]) {
      const res = await post(t.resource, token, initialize());
      assert.equal(res.status, 401, who);
      assert.equal(res.headers.get('www-authenticate'), challenge(err), who);
      assert.equal(await res.text(), 'Unauthorized\n', who);
      const parsed = extractWWWAuthenticateParams(res);
      assert.equal(parsed.resourceMetadataUrl?.href, t.metadata, who);
      assert.equal(parsed.error, err || undefined, who);
    }
  });

  await row(`${p} the SDK client without a token cannot connect`, async () => {
    await rejects(connect(t, ''), (err) => assert.match(String(err), /401|Unauthorized/));
  });

  await row(`${p} tools/list per identity`, async () => {
    const support = await connect(t, t.tokens.support);
    const coder = await connect(t, t.tokens.coder);
    assert.equal(names(await support.listTools()), 'attachments.export,tickets.get');
    assert.equal(names(await coder.listTools()), 'attachments.export,repo.read,tickets.get');
    await support.close();
    await coder.close();
  });

  await row(`${p} a per-identity list is not marked public`, async () => {
    const init = await post(t.resource, t.tokens.support, initialize());
    const session = init.headers.get('mcp-session-id');
    await post(t.resource, t.tokens.support, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }), session);
    const res = await post(t.resource, t.tokens.support, JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }), session);
    const body = await res.text();
    assert.equal(res.status, 200, body);
    assert.doesNotMatch(body, /"cacheScope":"public"/);
  });

  await row(`${p} allowed call, policy denial as isError with the model-facing reason`, async () => {
    const support = await connect(t, t.tokens.support);
    const ok = await support.callTool({ name: 'tickets.get', arguments: { id: 'T-1' } });
    assert.equal(ok.isError ?? false, false);
    assert.equal(text(ok), '{"id":"T-1","subject":"printer on fire"}');
    const denied = await support.callTool({ name: 'attachments.export', arguments: { id: 'VIP-9' } });
    assert.equal(denied.isError, true);
    assert.equal(text(denied), 'modelguard: call to attachments.export denied (forbidden): attachments of VIP tickets stay inside');
    await support.close();
  });

  await row(`${p} unknown and hidden tools are JSON-RPC -32602`, async () => {
    const support = await connect(t, t.tokens.support);
    for (const name of ['shell.exec', 'repo.read']) {
      await rejects(support.callTool({ name, arguments: { path: 'src/a.go' } }), (err) => {
        assert.ok(err instanceof McpError, String(err));
        assert.equal(err.code, ErrorCode.InvalidParams, name);
      });
    }
    await support.close();
  });

  await row(`${p} session binding: another identity on a session gets 403`, async () => {
    const init = await post(t.resource, t.tokens.support, initialize());
    const session = init.headers.get('mcp-session-id');
    assert.ok(session, 'no session id');
    const call = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'repo.read', arguments: { path: 'src/a.go' } } });
    const res = await post(t.resource, t.tokens.coder, call, session);
    assert.equal(res.status, 403);
    assert.doesNotMatch(await res.text(), /support/);
    const unknown = await post(t.resource, t.tokens.coder, call, 'no-such-session');
    assert.equal(unknown.status, 404);
  });

  await row(`${p} step-up: 403 insufficient_scope naming every needed scope`, async () => {
    const init = await post(t.resource, t.tokens.coder, initialize());
    const session = init.headers.get('mcp-session-id');
    await post(t.resource, t.tokens.coder, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }), session);
    const call = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'tickets.get', arguments: { id: 'T-1' } } });
    const res = await post(t.resource, t.tokens.coder, call, session);
    assert.equal(res.status, 403);
    assert.equal(res.headers.get('www-authenticate'),
      `Bearer error="insufficient_scope", scope="tickets:read tickets:audit", resource_metadata="${t.metadata}"`);
    const parsed = extractWWWAuthenticateParams(res);
    assert.equal(parsed.error, 'insufficient_scope');
    assert.equal(parsed.scope, 'tickets:read tickets:audit');
    const coder = await connect(t, t.tokens.coder);
    await rejects(coder.callTool({ name: 'tickets.get', arguments: { id: 'T-1' } }), (err) => assert.equal(err.code, 403, String(err)));
    await coder.close();
    const scoped = await connect(t, t.tokens.scopedCoder);
    const ok = await scoped.callTool({ name: 'tickets.get', arguments: { id: 'T-1' } });
    assert.equal(text(ok), '{"id":"T-1","subject":"printer on fire"}');
    await scoped.close();
  });

  await row(`${p} approval: URL elicitation (-32042) to the request's page, retried once approved`, async () => {
    const coder = await connect(t, t.tokens.coder, { elicitation: { url: {} } });
    let elicitation;
    await rejects(coder.callTool({ name: 'attachments.export', arguments: { id: 'T-1' } }), (err) => {
      assert.ok(err instanceof UrlElicitationRequiredError, String(err));
      assert.equal(err.elicitations.length, 1);
      elicitation = err.elicitations[0];
    });
    assert.equal(elicitation.mode, 'url');
    assert.equal(elicitation.url, t.approvalURL.replace('{id}', elicitation.elicitationId));
    const approved = await fetch(`${t.approve}?id=${encodeURIComponent(elicitation.elicitationId)}`, { method: 'POST' });
    assert.equal(approved.status, 200, await approved.text());
    const ok = await coder.callTool({ name: 'attachments.export', arguments: { id: 'T-1' } });
    assert.equal(ok.isError ?? false, false);
    assert.equal(text(ok), '"attachment of T-1"');
    await coder.close();
  });

  await row(`${p} approval: a client without URL elicitation is told the request id and how to get it approved`, async () => {
    const coder = await connect(t, t.tokens.coder);
    const res = await coder.callTool({ name: 'attachments.export', arguments: { id: 'T-2' } });
    assert.equal(res.isError, true);
    const m = text(res).match(/request (\S+) is pending; an approver can approve it at (\S+); make the same call again once it is approved$/);
    assert.ok(m, text(res));
    assert.equal(m[2], t.approvalURL.replace('{id}', m[1]));
    assert.doesNotMatch(text(res), /coder-export/);
    await coder.close();
  });

  await row(`${p} MCP Inspector CLI: lists and calls as each identity`, async () => {
    const list = await inspector(t, t.tokens.support, '--method', 'tools/list');
    assert.equal(names(list), 'attachments.export,tickets.get');
    const call = await inspector(t, t.tokens.support, '--method', 'tools/call', '--tool-name', 'tickets.get', '--tool-arg', 'id=T-1');
    assert.equal(text(call), '{"id":"T-1","subject":"printer on fire"}');
    const denied = await inspector(t, t.tokens.support, '--method', 'tools/call', '--tool-name', 'attachments.export', '--tool-arg', 'id=VIP-1');
    assert.equal(denied.isError, true);
    assert.equal(names(await inspector(t, t.tokens.coder, '--method', 'tools/list')), 'attachments.export,repo.read,tickets.get');
  });
}

console.log(failed === 0 ? 'all rows passed' : `${failed} row(s) failed`);
process.exit(failed === 0 ? 0 : 1);
