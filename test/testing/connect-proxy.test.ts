// The HTTP/1.1 CONNECT test proxy, driven by raw sockets writing CONNECT by
// hand: tunnels over TCP and TLS (and TLS through them), every misbehaviour
// byte for byte, authentication, records, and close() leaving nothing.
import * as assert from 'node:assert/strict';
import { once } from 'node:events';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { after, afterEach, before, describe, it } from 'node:test';
import {
  createTestPki,
  ScriptedConnection,
  startConnectProxy,
  startEchoServer,
  startOrigin,
  type StartConnectProxyOptions,
  type TestConnectProxy,
  type TestEchoServer,
  type TestPki,
} from '../../src/testing/index.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';

const baseline = resourceSnapshot();
const ESTABLISHED = 'HTTP/1.1 200 Connection established\r\n\r\n';
const REFUSAL_HEADERS = 'content-type: text/plain\r\ncontent-length: 13\r\n\r\n';
const READ_MS = 5000;

let pki: TestPki;
let echo: TestEchoServer;
const clients: net.Socket[] = [];
const proxies: TestConnectProxy[] = [];

before(async () => {
  pki = createTestPki();
  echo = await startEchoServer();
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

after(async () => {
  await echo.close();
  await assertNoLeaks(baseline);
});

async function proxy(opts: StartConnectProxyOptions = {}): Promise<TestConnectProxy> {
  const p = await startConnectProxy({ pki, ...opts });
  proxies.push(p);
  return p;
}

/** A raw client connected to `server` (TLS verified against the test CA when `tls`). */
async function dialSocket(server: { host: string; port: number; transport: 'tcp' | 'tls' }): Promise<net.Socket> {
  const socket =
    server.transport === 'tls'
      ? tls.connect({ host: server.host, port: server.port, ca: pki.ca, servername: 'localhost' })
      : net.connect({ host: server.host, port: server.port });
  clients.push(socket);
  socket.setNoDelay(true);
  await once(socket, server.transport === 'tls' ? 'secureConnect' : 'connect');
  return socket;
}

async function dial(server: { host: string; port: number; transport: 'tcp' | 'tls' }): Promise<ScriptedConnection> {
  return new ScriptedConnection(await dialSocket(server));
}

function connectHead(target: string, extra = ''): string {
  return `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${extra}\r\n`;
}

function echoTarget(): string {
  return `127.0.0.1:${echo.port}`;
}

/** Reads a response head by hand and hands the (paused) socket back, for TLS on top. */
function readHead(socket: net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const done = (err?: Error): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.pause();
      if (err !== undefined) reject(err);
    };
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      done();
      if (end + 4 !== buf.length) reject(new Error('bytes after the head'));
      else resolve(buf.toString('latin1'));
    };
    const onClose = (): void => done(new Error('closed before the response head'));
    const timer = setTimeout(() => done(new Error('timed out waiting for the response head')), READ_MS);
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}

/** Sends GET / over TLS on `socket` (a tunnel to a TLS origin) and returns the raw response. */
async function httpsGetOver(socket: net.Socket): Promise<string> {
  const secure = tls.connect({ socket, ca: pki.ca, servername: 'localhost' });
  clients.push(secure);
  await once(secure, 'secureConnect');
  const c = new ScriptedConnection(secure);
  await c.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
  return (await c.readToEnd()).toString('latin1');
}

/** Waits (event-loop turns, bounded) until `cond` holds. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 5000; i++) {
    if (cond()) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function hasIpv6Loopback(): Promise<boolean> {
  const s = net.createServer();
  return new Promise((resolve) => {
    s.once('error', () => resolve(false));
    s.listen(0, '::1', () => s.close(() => resolve(true)));
  });
}

for (const transport of ['tcp', 'tls'] as const) {
  describe(`CONNECT proxy over ${transport}: tunnels`, () => {
    it('describes itself', async () => {
      const p = await proxy({ transport });
      assert.equal(p.host, '127.0.0.1');
      assert.equal(p.transport, transport);
      assert.equal(p.url, `${transport === 'tls' ? 'https' : 'http'}://127.0.0.1:${p.port}`);
      assert.equal(p.pki, transport === 'tls' ? pki : undefined);
      assert.equal(p.connections, 0);
    });

    it('replies 200 Connection established and relays both ways', async () => {
      const p = await proxy({ transport });
      const c = await dial(p);
      await c.write(connectHead(echoTarget(), 'User-Agent: raw\r\nX-Mixed-Case: Value \r\n'));
      assert.equal((await c.readUntil('\r\n\r\n')).toString('latin1'), ESTABLISHED);
      await c.write('hello');
      assert.equal((await c.readExactly(5)).toString(), 'hello');
      await c.write('world');
      assert.equal((await c.readExactly(5)).toString(), 'world');
      assert.deepEqual(p.requests, [
        {
          method: 'CONNECT',
          target: echoTarget(),
          host: '127.0.0.1',
          port: echo.port,
          version: '1.1',
          headers: [
            ['host', echoTarget()],
            ['user-agent', 'raw'],
            ['x-mixed-case', 'Value'],
          ],
          rawHead: connectHead(echoTarget(), 'User-Agent: raw\r\nX-Mixed-Case: Value \r\n'),
          connectionId: 1,
        },
      ]);
      assert.equal(p.connections, 1);
    });

    it('forwards bytes sent along with the CONNECT request, and relays half-close', async () => {
      const p = await proxy({ transport });
      const c = await dial(p);
      await c.write(connectHead(echoTarget()) + 'early');
      assert.equal((await c.readUntil('\r\n\r\n')).toString('latin1'), ESTABLISHED);
      assert.equal((await c.readExactly(5)).toString(), 'early');
      await c.write('last');
      c.end();
      // The echo server ends after echoing; the proxy relays its FIN.
      assert.equal((await c.readToEnd()).toString(), 'last');
      await c.closed;
    });

    it('relays what a server-speaks-first target says before the client speaks', async () => {
      const greeter = await startEchoServer({ greeting: 'SSH-2.0-test\r\n' });
      try {
        const p = await proxy({ transport });
        const c = await dial(p);
        await c.write(connectHead(`localhost:${greeter.port}`));
        assert.equal((await c.readUntil('\r\n\r\n')).toString('latin1'), ESTABLISHED);
        assert.equal((await c.readUntil('\r\n')).toString(), 'SSH-2.0-test\r\n');
        assert.equal(p.requests[0]?.host, 'localhost');
      } finally {
        for (const c of clients.splice(0)) c.destroy();
        await greeter.close();
      }
    });

    it('carries TLS to a TLS origin through the tunnel', async () => {
      const origin = await startOrigin({ protocol: 'http', transport: 'tls', pki });
      try {
        const p = await proxy({ transport });
        const socket = await dialSocket(p);
        socket.write(connectHead(`localhost:${origin.port}`));
        assert.equal(await readHead(socket), ESTABLISHED);
        const res = await httpsGetOver(socket);
        assert.match(res, /^HTTP\/1\.1 200 OK\r\n/);
        assert.ok(res.endsWith('\r\n\r\nhello'), res);
        assert.equal(origin.requests.length, 1);
      } finally {
        for (const c of clients.splice(0)) c.destroy();
        await origin.close();
      }
    });

    it('numbers connections and serves GET /proxy-status', async () => {
      const p = await proxy({ transport });
      const a = await dial(p);
      const b = await dial(p);
      await b.write('GET /proxy-status HTTP/1.1\r\nHost: proxy\r\n\r\n');
      assert.equal(
        (await b.readUntil('proxy ok')).toString('latin1'),
        'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 8\r\n\r\nproxy ok',
      );
      await a.write('HEAD /proxy-status HTTP/1.1\r\n\r\n');
      assert.equal((await a.readUntil('\r\n\r\n')).toString('latin1'), 'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 8\r\n\r\n');
      assert.deepEqual(
        p.requests.map((r) => [r.method, r.target, r.host, r.port, r.connectionId]),
        [
          ['GET', '/proxy-status', '', 0, 2],
          ['HEAD', '/proxy-status', '', 0, 1],
        ],
      );
      assert.equal(p.connections, 2);
    });
  });
}

describe('CONNECT proxy: targets', () => {
  it('tunnels to an [::1]:port target', async (t) => {
    if (!(await hasIpv6Loopback())) {
      t.skip('no IPv6 loopback');
      return;
    }
    const echo6 = await startEchoServer({ host: '::1' });
    try {
      const p = await proxy();
      const c = await dial(p);
      await c.write(connectHead(`[::1]:${echo6.port}`));
      assert.equal((await c.readUntil('\r\n\r\n')).toString('latin1'), ESTABLISHED);
      await c.write('six');
      assert.equal((await c.readExactly(3)).toString(), 'six');
      assert.equal(p.requests[0]?.target, `[::1]:${echo6.port}`);
      assert.equal(p.requests[0]?.host, '::1');
      assert.equal(p.requests[0]?.port, echo6.port);
    } finally {
      for (const c of clients.splice(0)) c.destroy();
      await echo6.close();
    }
  });

  it('replies 502 when the target refuses, and keeps the connection', async () => {
    const closedPort = await freePort();
    const p = await proxy();
    const c = await dial(p);
    await c.write(connectHead(`127.0.0.1:${closedPort}`));
    assert.equal((await c.readUntil('proxy says no')).toString('latin1'), `HTTP/1.1 502 Bad Gateway\r\n${REFUSAL_HEADERS}proxy says no`);
    await c.write(connectHead(echoTarget()));
    assert.equal((await c.readUntil('\r\n\r\n')).toString('latin1'), ESTABLISHED);
  });

  it('replies 400 to a CONNECT target that is not host:port, and keeps the connection', async () => {
    const p = await proxy();
    const c = await dial(p);
    await c.write('CONNECT /nope HTTP/1.1\r\n\r\n');
    assert.equal((await c.readUntil('proxy says no')).toString('latin1'), `HTTP/1.1 400 Bad Request\r\n${REFUSAL_HEADERS}proxy says no`);
    assert.deepEqual([p.requests[0]?.target, p.requests[0]?.host, p.requests[0]?.port], ['/nope', '', 0]);
  });

  it('answers a malformed request line with 400 and ends the connection', async () => {
    const p = await proxy();
    const c = await dial(p);
    await c.write('hello there\r\n\r\n');
    const res = (await c.readToEnd()).toString('latin1');
    assert.match(res, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.match(res, /\r\nconnection: close\r\n/);
    assert.equal(p.requests.length, 0);
  });
});

describe('CONNECT proxy: authentication', () => {
  const auth = { username: 'alice', password: 's3cret:x' };
  const basic = (u: string, pw: string): string => `Proxy-Authorization: Basic ${Buffer.from(`${u}:${pw}`).toString('base64')}\r\n`;
  const REFUSED = `HTTP/1.1 407 Proxy Authentication Required\r\ncontent-type: text/plain\r\ncontent-length: 13\r\nproxy-authenticate: Basic realm="burrow test proxy"\r\n\r\nproxy says no`;

  it('replies 407 with proxy-authenticate without credentials or with wrong ones, on the same connection', async () => {
    const p = await proxy({ auth });
    const c = await dial(p);
    await c.write(connectHead(echoTarget()));
    assert.equal((await c.readExactly(REFUSED.length)).toString('latin1'), REFUSED);
    await c.write(connectHead(echoTarget(), basic('alice', 'wrong')));
    assert.equal((await c.readExactly(REFUSED.length)).toString('latin1'), REFUSED);
    await c.write(connectHead(echoTarget(), basic('bob', auth.password)));
    assert.equal((await c.readExactly(REFUSED.length)).toString('latin1'), REFUSED);
    await c.write(connectHead(echoTarget(), 'Proxy-Authorization: Bearer abc\r\n'));
    assert.equal((await c.readExactly(REFUSED.length)).toString('latin1'), REFUSED);
    await c.write(connectHead(echoTarget(), basic(auth.username, auth.password)));
    assert.equal((await c.readUntil('\r\n\r\n')).toString('latin1'), ESTABLISHED);
    await c.write('in');
    assert.equal((await c.readExactly(2)).toString(), 'in');
    assert.equal(p.requests.length, 5);
    assert.deepEqual(p.requests[4]?.headers.find(([k]) => k === 'proxy-authorization'), ['proxy-authorization', `Basic ${Buffer.from('alice:s3cret:x').toString('base64')}`]);
    assert.equal(p.connections, 1);
  });

  it('does not ask for credentials on GET /proxy-status', async () => {
    const p = await proxy({ auth });
    const c = await dial(p);
    await c.write('GET /proxy-status HTTP/1.1\r\n\r\n');
    assert.match((await c.readUntil('proxy ok')).toString('latin1'), /^HTTP\/1\.1 200 OK\r\n/);
  });
});

describe('CONNECT proxy: misbehaviours', () => {
  it('status: a non-2xx refusal keeps the connection for a status request and another CONNECT', async () => {
    let n = 0;
    const p = await proxy({ behavior: () => (++n === 1 ? { status: 403 } : {}) });
    const c = await dial(p);
    await c.write(connectHead(echoTarget()));
    assert.equal((await c.readUntil('proxy says no')).toString('latin1'), `HTTP/1.1 403 Forbidden\r\n${REFUSAL_HEADERS}proxy says no`);
    await c.write('GET /proxy-status HTTP/1.1\r\n\r\n');
    assert.match((await c.readUntil('proxy ok')).toString('latin1'), /^HTTP\/1\.1 200 OK\r\n/);
    await c.write(connectHead(echoTarget()));
    assert.equal((await c.readUntil('\r\n\r\n')).toString('latin1'), ESTABLISHED);
    await c.write('ok');
    assert.equal((await c.readExactly(2)).toString(), 'ok');
    assert.equal(p.connections, 1);
  });

  it('status, reason, version and headers: any 2xx establishes, extra headers are written as given', async () => {
    const p = await proxy({
      behavior: { status: 204, reason: 'Fine', version: '1.0', headers: [['Content-Length', '10'], ['transfer-encoding', 'chunked']] },
    });
    const c = await dial(p);
    await c.write(connectHead(echoTarget()));
    assert.equal(
      (await c.readUntil('\r\n\r\n')).toString('latin1'),
      'HTTP/1.0 204 Fine\r\nContent-Length: 10\r\ntransfer-encoding: chunked\r\n\r\n',
    );
    await c.write('x');
    assert.equal((await c.readExactly(1)).toString(), 'x');
  });

  it('headers as a record, on a refusal', async () => {
    const p = await proxy({ behavior: { status: 503, headers: { 'retry-after': '1' } } });
    const c = await dial(p);
    await c.write(connectHead(echoTarget()));
    assert.equal(
      (await c.readUntil('proxy says no')).toString('latin1'),
      'HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 13\r\nretry-after: 1\r\n\r\nproxy says no',
    );
  });

  it('delayMs: replies no sooner than asked', async () => {
    const p = await proxy({ behavior: { delayMs: 150 } });
    const c = await dial(p);
    const start = performance.now();
    await c.write(connectHead(echoTarget()));
    assert.equal((await c.readUntil('\r\n\r\n')).toString('latin1'), ESTABLISHED);
    assert.ok(performance.now() - start >= 140, `replied after ${performance.now() - start} ms`);
  });

  it('extraBytes: written with the 2xx head in one write, before what the target says', async () => {
    const p = await proxy({ behavior: { extraBytes: 'SSH-2.0-proxy\r\n' } });
    const socket = await dialSocket(p);
    const first = once(socket, 'data');
    socket.write(connectHead(echoTarget()));
    const [chunk] = (await first) as [Buffer];
    assert.equal(chunk.toString('latin1'), ESTABLISHED + 'SSH-2.0-proxy\r\n');
    const c = new ScriptedConnection(socket);
    await c.write('then echo');
    assert.equal((await c.readExactly(9)).toString(), 'then echo');
  });

  it('writeByteAtATime: the head and extra bytes arrive a byte at a time, then the tunnel works', async () => {
    const expected = ESTABLISHED + 'xyz';
    const p = await proxy({ behavior: { writeByteAtATime: true, extraBytes: Buffer.from('xyz') } });
    const socket = await dialSocket(p);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.write(connectHead(echoTarget()));
    await until(() => Buffer.concat(chunks).length >= expected.length, 'the whole head');
    assert.equal(Buffer.concat(chunks).toString('latin1'), expected);
    assert.ok(chunks.length > expected.length / 2, `${chunks.length} chunks`);
    socket.write('after');
    await until(() => Buffer.concat(chunks).length >= expected.length + 5, 'the echo');
    assert.equal(Buffer.concat(chunks).toString('latin1'), expected + 'after');
  });

  it('writeByteAtATime on a refusal', async () => {
    const p = await proxy({ behavior: { writeByteAtATime: true, status: 403 } });
    const c = await dial(p);
    await c.write(connectHead(echoTarget()));
    assert.equal((await c.readUntil('proxy says no')).toString('latin1'), `HTTP/1.1 403 Forbidden\r\n${REFUSAL_HEADERS}proxy says no`);
  });

  it('garbage: these bytes instead of a response, then silence until the client ends', async () => {
    const p = await proxy({ behavior: { garbage: 'SSH-2.0-OpenSSH\r\n\x00\xff' } });
    const c = await dial(p);
    await c.write(connectHead(echoTarget()));
    assert.equal((await c.readExactly(19)).toString('latin1'), 'SSH-2.0-OpenSSH\r\n\x00\xff');
    await c.write(connectHead(echoTarget()));
    c.end();
    assert.equal((await c.readToEnd()).length, 0);
    assert.equal(p.requests.length, 1);
  });

  it('closeAfterHead: closes right after reading the request, without a byte', async () => {
    const before = echo.connections;
    const p = await proxy({ behavior: { closeAfterHead: true } });
    const c = await dial(p);
    await c.write(connectHead(echoTarget()));
    assert.equal((await c.readToEnd()).length, 0);
    await c.closed;
    assert.equal(p.requests.length, 1);
    assert.equal(echo.connections, before);
  });

  it('closeMidResponse: half the status line, then the connection closes', async () => {
    const p = await proxy({ behavior: { closeMidResponse: true } });
    const c = await dial(p);
    await c.write(connectHead(echoTarget()));
    assert.equal((await c.readToEnd()).toString('latin1'), 'HTTP/1.1 200 Conn');
    await c.closed;
  });

  it('neverAnswer: reads the request and says nothing; a later end is answered with an end', async () => {
    const p = await proxy({ behavior: { neverAnswer: true } });
    const c = await dial(p);
    await c.write(connectHead(echoTarget()));
    await until(() => p.requests.length === 1, 'the request');
    c.end();
    assert.equal((await c.readToEnd()).length, 0);
    await c.closed;
  });

  it('refuseTarget: 502 without trying the target', async () => {
    const before = echo.connections;
    const p = await proxy({ behavior: { refuseTarget: true } });
    const c = await dial(p);
    await c.write(connectHead(echoTarget()));
    assert.equal((await c.readUntil('proxy says no')).toString('latin1'), `HTTP/1.1 502 Bad Gateway\r\n${REFUSAL_HEADERS}proxy says no`);
    assert.equal(echo.connections, before);
  });

  it('behavior as a function sees the request', async () => {
    const seen: string[] = [];
    const p = await proxy({
      behavior: (req) => {
        seen.push(`${req.method} ${req.host}:${req.port} #${req.connectionId}`);
        return req.headers.some(([k]) => k === 'x-deny') ? { status: 403 } : {};
      },
    });
    const c = await dial(p);
    await c.write(connectHead(echoTarget(), 'X-Deny: 1\r\n'));
    await c.readUntil('proxy says no');
    await c.write(connectHead(echoTarget()));
    assert.equal((await c.readUntil('\r\n\r\n')).toString('latin1'), ESTABLISHED);
    assert.deepEqual(seen, [`CONNECT 127.0.0.1:${echo.port} #1`, `CONNECT 127.0.0.1:${echo.port} #1`]);
  });
});

describe('CONNECT proxy: close()', () => {
  it('destroys tunnels, pending requests and idle connections, and leaks nothing', async () => {
    const snapshot = resourceSnapshot();
    const delayed = await startConnectProxy({ behavior: { delayMs: 100_000 } });
    const plain = await startConnectProxy({ transport: 'tls', pki });
    const silent = await startConnectProxy({ behavior: { neverAnswer: true } });
    const conns = await Promise.all([dial(delayed), dial(plain), dial(plain), dial(silent)]);
    await Promise.all(conns.map((c) => c.write(connectHead(echoTarget()))));
    await conns[1]?.readUntil('\r\n\r\n');
    await until(() => delayed.requests.length === 1 && silent.requests.length === 1 && plain.requests.length === 2, 'the requests');
    await Promise.all([delayed.close(), plain.close(), silent.close()]);
    await Promise.all(conns.map((c) => c.closed));
    for (const c of clients.splice(0)) c.destroy();
    await plain.close(); // idempotent
    await assertNoLeaks(snapshot);
  });
});

/** A port nothing listens on: bound, then released. */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, '127.0.0.1', resolve);
  });
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
