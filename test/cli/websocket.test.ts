// `burrow ws[s]://…` as a child process: stdin lines sent as messages, messages written one per
// line (binary with --base64), exit 0 after a clean close, -v with the layers and the handshake,
// through a proxy chain, and the exit codes of a refused handshake and a bad option.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestPki, startH2ConnectProxy, type TestH2ConnectProxy } from '../../src/testing/index.js';
import { startWsOrigin, type WsOrigin } from '../helpers/ws-origin.js';
import { runCli } from './helpers.js';

let dir: string;
let caFile: string;
let plain: WsOrigin;
let secure: WsOrigin;
let h2proxy: TestH2ConnectProxy;
let refusing: Server;

before(async () => {
  const pki = createTestPki();
  dir = mkdtempSync(join(tmpdir(), 'burrow-cli-ws-'));
  caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, pki.ca);
  [plain, secure, h2proxy] = await Promise.all([startWsOrigin(), startWsOrigin({ transport: 'tls', pki }), startH2ConnectProxy({ transport: 'tls', pki })]);
  refusing = createServer((_req, res) => {
    res.writeHead(401, { 'www-authenticate': 'Bearer' });
    res.end('no');
  });
  await new Promise<void>((r) => refusing.listen(0, '127.0.0.1', r));
});

after(async () => {
  await Promise.all([plain.close(), secure.close(), h2proxy.close(), new Promise<void>((r) => refusing.close(() => r()))]);
  rmSync(dir, { recursive: true, force: true });
});

describe('burrow ws[s]://…', () => {
  it('sends each stdin line, writes each message on its line, exits 0 after the clean close', async () => {
    const r = await runCli([`${plain.url}/echo`], { input: 'hello\nwörld\nbinary 3\n' });
    assert.equal(r.stderr, '');
    assert.equal(r.status, 0);
    assert.deepEqual(r.stdout, Buffer.concat([Buffer.from('hello\nwörld\n'), Buffer.from([0, 1, 2]), Buffer.from('\n')]));
  });

  it('--base64 writes binary messages as base64; -H headers reach the server', async () => {
    const r = await runCli(['--base64', '-H', 'Origin: http://cli.test', `${plain.url}/b`], { input: 'binary 4\n' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), `${Buffer.from([0, 1, 2, 3]).toString('base64')}\n`);
    assert.equal(plain.requests.at(-1)?.headers['origin'], 'http://cli.test');
  });

  it('wss through an h2:// proxy with -v: the layers, the handshake and the close', async () => {
    const r = await runCli(['-v', '-x', `h2://localhost:${h2proxy.port}`, '--proxy-cacert', `1:${caFile}`, '--cacert', caFile, `${secure.url.replace('127.0.0.1', 'localhost')}/v`], { input: 'through the tunnel\n' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'through the tunnel\n');
    assert.match(r.stderr, /hop 0 {2}CONNECT proxy +h2:\/\/localhost:\d+/);
    assert.match(r.stderr, /hop 0 {2}CONNECT .*HTTP\/2 CONNECT via h2:/);
    assert.match(r.stderr, /hop 1 {2}TLS .*TLS depth 2/);
    assert.match(r.stderr, /> GET \/v HTTP\/1\.1/);
    // -v shows the handshake as sent, not only the user's headers.
    assert.match(r.stderr, /> sec-websocket-version: 13/);
    assert.match(r.stderr, /> sec-websocket-key: [A-Za-z0-9+/]{22}==/);
    assert.match(r.stderr, /< HTTP\/1\.1 101/);
    assert.match(r.stderr, /< sec-websocket-accept: /);
    assert.match(r.stderr, /WebSocket closed: 1000 \(clean\), 1 messages sent, 1 received/);
  });

  it('-v and --trace-json show no credential: the URL password and the authorization header are masked', async () => {
    const trace = join(dir, 'ws-secret.jsonl');
    const url = `${plain.url.replace('ws://', 'ws://wu:ws-url-pw-51ac@')}/secret`;
    const r = await runCli(['-v', '--trace-json', trace, '-H', 'Authorization: Bearer ws-token-9e2d', url], { input: 'x\n' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(plain.requests.at(-1)?.headers['authorization'], 'Bearer ws-token-9e2d', 'the header was sent');
    assert.match(r.stderr, /> authorization: Bearer \*\*\*/);
    const published = `${r.stderr}\n${readFileSync(trace, 'utf8')}`;
    assert.ok(published.includes('wu:***@'), published);
    for (const secret of ['ws-url-pw-51ac', 'ws-token-9e2d']) assert.equal(published.includes(secret), false, `${secret} in:\n${published}`);
  });

  it('a refused handshake exits 22 naming the status; -X is a usage error (2)', async () => {
    const port = (refusing.address() as AddressInfo).port;
    const r = await runCli([`ws://127.0.0.1:${port}/`]);
    assert.equal(r.status, 22);
    assert.match(r.stderr, /WebSocket handshake .* 401 .*ERR_WS_HANDSHAKE/);
    const u = await runCli(['-X', 'POST', `${plain.url}/`]);
    assert.equal(u.status, 2);
    assert.match(u.stderr, /-X is not for WebSocket URLs/);
    const b = await runCli(['--base64', 'http://127.0.0.1:1/']);
    assert.equal(b.status, 2);
  });

  it('a server closing with an error code still is a clean close (exit 0); one dropping the connection during the handshake exits 7', async () => {
    const r = await runCli([`${plain.url}/`], { input: 'close 4000 custom\n' });
    assert.equal(r.status, 0, r.stderr);
    const dropping = createServer();
    dropping.on('upgrade', (_req, socket) => socket.destroy());
    await new Promise<void>((res) => dropping.listen(0, '127.0.0.1', res));
    const d = await runCli([`ws://127.0.0.1:${(dropping.address() as AddressInfo).port}/`]);
    assert.equal(d.status, 7, d.stderr);
    assert.match(d.stderr, /ERR_CONNECTION_CLOSED/);
    await new Promise<void>((res) => dropping.close(() => res()));
  });
});
