// Unix domain sockets as the first hop: open({ path }), request(url, { socketPath }), EventSource and WebSocket to an origin on a socket
// (plain and TLS), a CONNECT proxy on a socket with a chain (SOCKS5, then the origin) behind it, the pool keyed by
// the socket path and reusing its connection, a missing socket as a typed error naming the path, and the CLI's
// --unix-socket.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventSource, WebSocket, open, request, Pool, isBurrowError } from '../../src/index.js';
import { WebSocketServer } from 'ws';
import { createTestPki, startConnectProxy, startSocks5Server, type TestConnectProxy, type TestPki, type TestSocks5Server } from '../../src/testing/index.js';
import { parseArgs } from '../../src/cli/args.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';

let dir: string;
let pki: TestPki;
let plainPath: string;
let tlsPath: string;
let proxyPath: string;
let plain: http.Server;
let secure: https.Server;
let tcpOrigin: http.Server;
let tcpOriginPort: number;
let connectProxy: TestConnectProxy;
let socks: TestSocks5Server;
let proxyRelay: net.Server;
const relayed = new Set<net.Socket>();
const hosts: string[] = [];

function answer(name: string): http.RequestListener {
  return (req, res) => {
    hosts.push(`${name} ${req.headers.host ?? ''}`);
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`${name} ${req.url ?? ''}`);
  };
}

function listen(server: net.Server, where: string | number): Promise<void> {
  return new Promise((resolve) => (typeof where === 'string' ? server.listen(where, resolve) : server.listen(where, '127.0.0.1', resolve)));
}

function close(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'burrow-unix-'));
  pki = createTestPki();
  plainPath = join(dir, 'plain.sock');
  tlsPath = join(dir, 'tls.sock');
  proxyPath = join(dir, 'proxy.sock');
  plain = http.createServer(answer('plain'));
  secure = https.createServer({ key: pki.server.key, cert: pki.server.cert }, answer('tls'));
  tcpOrigin = http.createServer(answer('tcp'));
  [connectProxy, socks] = await Promise.all([startConnectProxy(), startSocks5Server()]);
  // The CONNECT proxy, reachable on a Unix socket: every connection to the socket is relayed to it.
  proxyRelay = net.createServer((c) => {
    const up = net.connect(connectProxy.port, '127.0.0.1');
    relayed.add(c);
    c.on('close', () => relayed.delete(c));
    c.pipe(up).pipe(c);
    c.on('error', () => up.destroy());
    up.on('error', () => c.destroy());
    c.on('close', () => up.destroy());
    up.on('close', () => c.destroy());
  });
  await Promise.all([listen(plain, plainPath), listen(secure, tlsPath), listen(tcpOrigin, 0), listen(proxyRelay, proxyPath)]);
  tcpOriginPort = (tcpOrigin.address() as net.AddressInfo).port;
});

after(async () => {
  plain.closeAllConnections();
  secure.closeAllConnections();
  tcpOrigin.closeAllConnections();
  for (const c of relayed) c.destroy();
  await Promise.all([close(plain), close(secure), close(tcpOrigin), close(proxyRelay), connectProxy.close(), socks.close()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('Unix domain sockets: the connection API', () => {
  it('open({ path }) dials the socket; host defaults to localhost (the host header)', async () => {
    const conn = open({ path: plainPath, retry: 0 });
    const { body } = await conn.awaitBody(conn.get('/x'));
    assert.equal(body.toString(), 'plain /x');
    assert.equal(hosts.at(-1), 'plain localhost');
    assert.equal(conn.info().layers[0]?.tcp?.remoteAddress, plainPath);
    await conn.close();
  });

  it('open({ path, host, transport: "tls" }): TLS over the socket, verified against host', async () => {
    const conn = open({ path: tlsPath, host: 'localhost', transport: 'tls', tls: { ca: pki.ca }, protocols: ['http'], retry: 0 });
    const { body } = await conn.awaitBody(conn.get('/s'));
    assert.equal(body.toString(), 'tls /s');
    assert.equal(hosts.at(-1), 'tls localhost');
    await conn.close();
  });

  it('a missing socket: ERR_CONNECT at stage tcp, the hop naming the path', async () => {
    const missing = join(dir, 'nobody.sock');
    const conn = open({ path: missing, retry: 0 });
    await assert.rejects(conn.awaitUp(5000), (e: unknown) =>
      isBurrowError(e, 'ERR_CONNECT') && e.stage === 'tcp' && e.hop?.path === missing && e.message.includes(`unix:${missing}`));
    await conn.close();
  });

  it('rejects a path that is empty or has NUL', () => {
    assert.throws(() => open({ path: '' }), (e: unknown) => isBurrowError(e, 'ERR_INVALID_OPTION'));
    assert.throws(() => open({ path: 'a\0b' }), (e: unknown) => isBurrowError(e, 'ERR_INVALID_OPTION'));
  });
});

describe('Unix domain sockets: request({ socketPath })', () => {
  it('reaches an origin on a socket; the URL gives the host header', async () => {
    const res = await request('http://api.local/v1', { socketPath: plainPath, pool: false });
    assert.equal(await res.text(), 'plain /v1');
    assert.equal(hosts.at(-1), 'plain api.local');
  });

  it('https over the socket, the certificate checked against the URL\'s host', async () => {
    const res = await request('https://localhost/t', { socketPath: tlsPath, tls: { ca: pki.ca }, pool: false });
    assert.equal(await res.text(), 'tls /t');
  });

  it('the pool reuses the socket\'s connection, and keys it by the path (another socket, another connection)', async () => {
    const baseline = resourceSnapshot();
    const pool = new Pool();
    const a = await request('http://localhost/1', { socketPath: plainPath, pool, protocols: ['http'] });
    await a.text();
    const b = await request('http://localhost/2', { socketPath: plainPath, pool, protocols: ['http'] });
    assert.equal(await b.text(), 'plain /2');
    assert.equal(b.info.reused, true);
    assert.equal(b.info.connection, a.info.connection);
    // The same URL over TCP is another route.
    const c = await request(`http://127.0.0.1:${tcpOriginPort}/3`, { pool });
    assert.equal(await c.text(), 'tcp /3');
    assert.notEqual(c.info.connection, a.info.connection);
    await pool.close();
    await assertNoLeaks(baseline);
  });

  it('a CONNECT proxy on a socket, with SOCKS5 and the origin behind it: the chain continues from the socket', async () => {
    const before = connectProxy.requests.length;
    const res = await request(`http://127.0.0.1:${tcpOriginPort}/chain`, {
      socketPath: proxyPath,
      via: ['http://sidecar.local:3128', `socks5h://127.0.0.1:${socks.port}`],
      pool: false,
    });
    assert.equal(await res.text(), 'tcp /chain');
    assert.equal(connectProxy.requests.length, before + 1);
    assert.equal(connectProxy.requests.at(-1)?.target, `127.0.0.1:${socks.port}`);
    assert.deepEqual(res.info.layers.map((l) => l.kind), ['tcp', 'connect', 'socks5', 'HTTP/1.1']);
  });

  it('a missing proxy socket: ERR_CONNECT naming the first proxy and the path', async () => {
    const missing = join(dir, 'gone.sock');
    await assert.rejects(request('http://localhost/', { socketPath: missing, via: ['http://sidecar.local:3128'], pool: false }), (e: unknown) =>
      isBurrowError(e, 'ERR_CONNECT') && e.stage === 'tcp' && e.hop?.index === 0 && e.hop.kind === 'connect' && e.hop.path === missing);
  });

  it('EventSource takes socketPath too', async () => {
    const sse = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' }).end('data: over the socket\n\n');
    });
    const sock = join(dir, 'sse.sock');
    await listen(sse, sock);
    const es = new EventSource('http://localhost/stream', { socketPath: sock, pool: false, retry: 60000 });
    const data = await new Promise<string>((resolve) => {
      es.onmessage = (e) => {
        es.close();
        resolve(String((e as MessageEvent).data));
      };
    });
    assert.equal(data, 'over the socket');
    sse.closeAllConnections();
    await close(sse);
  });

  it('WebSocket takes socketPath too', async () => {
    const server = http.createServer();
    const wss = new WebSocketServer({ server });
    wss.on('connection', (s, req) => s.send(`hello ${req.headers.host ?? ''}`));
    const sock = join(dir, 'ws.sock');
    await listen(server, sock);
    const ws = new WebSocket('ws://chat.local/room', { socketPath: sock });
    const data = await new Promise<string>((resolve, reject) => {
      ws.onmessage = (e) => resolve(String((e as MessageEvent).data));
      ws.onerror = (e) => reject((e as unknown as { error: Error }).error);
    });
    assert.equal(data, 'hello chat.local');
    await new Promise<void>((resolve) => {
      ws.onclose = () => resolve();
      ws.close();
    });
    wss.close();
    server.closeAllConnections();
    await close(server);
  });

  it('rejects an empty socketPath before opening anything', async () => {
    await assert.rejects(request('http://localhost/', { socketPath: '' }), (e: unknown) => isBurrowError(e, 'ERR_INVALID_OPTION') && e.details['option'] === 'socketPath');
  });
});

describe('Unix domain sockets: the CLI', () => {
  it('--unix-socket PATH is parsed; not for WebSocket URLs', () => {
    const c = parseArgs(['--unix-socket', '/run/x.sock', 'http://localhost/']);
    assert.equal(c.type === 'request' ? c.options.unixSocket : undefined, '/run/x.sock');
    assert.throws(() => parseArgs(['--unix-socket', '/run/x.sock', 'ws://localhost/']), /--unix-socket/);
    assert.throws(() => parseArgs(['--unix-socket=', 'http://localhost/']), /socket path/);
  });
});
