// The WebSocket calls of a connection (Gun's ws_upgrade / ws_send): HTTP/1.1 upgrades and HTTP/2
// extended CONNECTs against the `ws` package's server, frames both ways, the close handshake,
// subprotocols and their handlers, compression, flow control, frames sent before the upgrade,
// refused handshakes, and WebSockets inside tunnels.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { open, type BurrowError, type Connection, type StreamMessage, type StreamRef, type WsFrame } from '../../src/index.js';
import { createTestPki, startConnectProxy, startH2ConnectProxy, type TestConnectProxy, type TestH2ConnectProxy, type TestPki } from '../../src/testing/index.js';
import { startWsOrigin, type WsOrigin } from '../helpers/ws-origin.js';

let pki: TestPki;
let h1: WsOrigin;
let h1tls: WsOrigin;
let h1deflate: WsOrigin;
let h2: WsOrigin;
let h2tls: WsOrigin;
let connectProxy: TestConnectProxy;
let h2proxy: TestH2ConnectProxy;

before(async () => {
  pki = createTestPki();
  [h1, h1tls, h1deflate, h2, h2tls, connectProxy, h2proxy] = await Promise.all([
    startWsOrigin(),
    startWsOrigin({ transport: 'tls', pki }),
    startWsOrigin({ deflate: true }),
    startWsOrigin({ h2: true }),
    startWsOrigin({ h2: true, transport: 'tls', pki }),
    startConnectProxy(),
    startH2ConnectProxy({ transport: 'tls', pki }),
  ]);
});

after(async () => {
  await Promise.all([h1, h1tls, h1deflate, h2, h2tls, connectProxy, h2proxy].map((s) => s.close()));
});

/** The next message of `ref`, which must be a WebSocket frame. */
async function frame(conn: Connection, ref: StreamRef): Promise<WsFrame> {
  const m = await conn.await(ref, 5000);
  if (m.type !== 'ws') assert.fail(`expected a ws message, got ${m.type}${m.type === 'error' ? `: ${m.error.message}` : ''}`);
  return m.frame;
}

async function upgraded(conn: Connection, ref: StreamRef): Promise<StreamMessage & { type: 'upgrade' }> {
  const m = await conn.await(ref, 5000);
  if (m.type !== 'upgrade') assert.fail(`expected upgrade, got ${m.type}${m.type === 'error' ? `: ${m.error.message}` : ''}`);
  return m;
}

function h1conn(port: number, extra: Parameters<typeof open>[0] | object = {}): Connection {
  return open({ host: '127.0.0.1', port, protocols: ['http'], retry: 0, ...extra });
}

describe('wsUpgrade over HTTP/1.1', () => {
  it('upgrades, echoes text and binary, joins fragments, and ends with the close frame; the connection is the WebSocket', async () => {
    const conn = h1conn(h1.port);
    const ref = conn.wsUpgrade('/echo?x=1', { origin: 'http://example' });
    const up = await upgraded(conn, ref);
    assert.deepEqual(up.protocols, ['websocket']);
    assert.equal(h1.requests.at(-1)?.path, '/echo?x=1');
    assert.equal(h1.requests.at(-1)?.headers['origin'], 'http://example');
    assert.equal(conn.info().protocol, 'websocket');
    assert.deepEqual(conn.info().layers?.map((l) => `${l.kind}:${l.state}`), ['tcp:up', 'websocket:up']);
    await conn.wsSend(ref, [{ type: 'text', data: 'héllo' }, { type: 'binary', data: Buffer.from([0, 1, 255]) }, { type: 'text', data: 'fragments' }]);
    assert.deepEqual(await frame(conn, ref), { type: 'text', data: 'héllo' });
    assert.deepEqual(await frame(conn, ref), { type: 'binary', data: Buffer.from([0, 1, 255]) });
    assert.deepEqual(await frame(conn, ref), { type: 'text', data: 'fragmented' });
    await conn.wsSend(ref, { type: 'close', code: 1000, reason: 'done' });
    assert.deepEqual(await frame(conn, ref), { type: 'close', code: 1000, reason: 'done' });
    assert.equal(conn.hasStream(ref), false);
    await assert.rejects(conn.wsSend(ref, { type: 'text', data: 'late' }), (e: BurrowError) => e.code === 'ERR_WS_CLOSED' || e.code === 'ERR_STREAM_NOT_FOUND' || e.code === 'ERR_CLOSED');
    await conn.close();
  });

  it('a close from the server is the last message, with its code and reason; the close is echoed', async () => {
    const conn = h1conn(h1.port);
    const ref = conn.wsUpgrade('/');
    await upgraded(conn, ref);
    void conn.wsSend(ref, { type: 'text', data: 'close 4001 going' });
    assert.deepEqual(await frame(conn, ref), { type: 'close', code: 4001, reason: 'going' });
    const closed = await new Promise<BurrowError | null>((resolve) => conn.once('close', resolve));
    assert.equal(closed?.code ?? null, 'ERR_CONNECTION_CLOSED', 'the WebSocket was the connection: it is gone');
  });

  it('pings are answered; with silencePings false, pings and pongs are delivered', async () => {
    const conn = h1conn(h1.port);
    const ref = conn.wsUpgrade('/', {}, { silencePings: false });
    await upgraded(conn, ref);
    await conn.wsSend(ref, [{ type: 'ping', data: 'abc' }, { type: 'text', data: 'ping' }]);
    assert.deepEqual(await frame(conn, ref), { type: 'pong', data: Buffer.from('abc') });
    assert.deepEqual(await frame(conn, ref), { type: 'ping', data: Buffer.from('p') });
    const rtt = await conn.ping({ tunnel: ref });
    assert.ok(rtt >= 0 && rtt < 5000);
    await conn.close();
  });

  it('frames sent before the upgrade wait for it, in order', async () => {
    const conn = h1conn(h1.port);
    const ref = conn.wsUpgrade('/');
    const sent = conn.wsSend(ref, [{ type: 'text', data: 'one' }, { type: 'text', data: 'two' }]);
    await upgraded(conn, ref);
    await sent;
    assert.deepEqual([await frame(conn, ref), await frame(conn, ref)], [{ type: 'text', data: 'one' }, { type: 'text', data: 'two' }]);
    await conn.close();
  });

  it('flow control counts messages: with flow 2, updateFlow lets the third in (the holding itself: test/protocols/websocket/layer.test.ts)', async () => {
    const conn = h1conn(h1.port);
    const got: WsFrame[] = [];
    let upgradedOk = false;
    const ref = conn.wsUpgrade('/', {}, {
      flow: 2,
      replyTo: (m) => {
        if (m.type === 'upgrade') upgradedOk = true;
        if (m.type === 'ws') got.push(m.frame);
      },
    });
    await conn.wsSend(ref, [{ type: 'text', data: 'a' }, { type: 'text', data: 'b' }, { type: 'text', data: 'c' }]);
    while (got.length < 2) await new Promise((r) => setImmediate(r));
    assert.equal(upgradedOk, true);
    conn.updateFlow(ref, 1);
    while (got.length < 3) await new Promise((r) => setImmediate(r));
    assert.deepEqual(got.map((f) => (f.type === 'text' ? f.data : f.type)), ['a', 'b', 'c']);
    await conn.close();
  });

  it('subprotocols: the server chooses one; its handler receives the messages', async () => {
    const conn = h1conn(h1.port);
    const mine: StreamMessage[] = [];
    const ref = conn.wsUpgrade('/', {}, { protocols: ['v2.chat', { name: 'v1.chat', replyTo: (m) => mine.push(m) }] });
    // `ws` chooses the first offered: v2.chat has no handler, so messages stay in the mailbox.
    const up = await upgraded(conn, ref);
    assert.equal(up.headers.find(([n]) => n === 'sec-websocket-protocol')?.[1], 'v2.chat');
    assert.equal(h1.requests.at(-1)?.protocols, 'v2.chat, v1.chat');
    await conn.close();

    const conn2 = h1conn(h1.port);
    const ref2 = conn2.wsUpgrade('/', {}, { protocols: [{ name: 'v1.chat', replyTo: (m) => mine.push(m) }] });
    await conn2.wsSend(ref2, { type: 'text', data: 'to the handler' });
    while (mine.length < 2) await new Promise((r) => setImmediate(r));
    assert.deepEqual(mine.map((m) => m.type), ['upgrade', 'ws']);
    assert.deepEqual((mine[1] as StreamMessage & { type: 'ws' }).frame, { type: 'text', data: 'to the handler' });
    await conn2.close();
  });

  it('compress: permessage-deflate negotiated, large messages compressed both ways; a compressed message and a small one after it go out in the order sent', async () => {
    const conn = h1conn(h1deflate.port);
    const ref = conn.wsUpgrade('/', {}, { compress: true });
    const up = await upgraded(conn, ref);
    assert.match(up.headers.find(([n]) => n === 'sec-websocket-extensions')?.[1] ?? '', /permessage-deflate/);
    const ws = conn.info().layers?.find((l) => l.kind === 'websocket');
    assert.equal(ws?.websocket?.via, 'http1-upgrade');
    assert.match(ws?.websocket?.extensions ?? '', /permessage-deflate/);
    const big = 'abcdefgh'.repeat(100_000);
    const before = ws?.bytesOut ?? 0;
    await conn.wsSend(ref, [{ type: 'text', data: big }, { type: 'text', data: 'small' }]);
    const first = await frame(conn, ref);
    assert.ok(first.type === 'text' && first.data === big, `the large message first, whole (got ${first.type} of ${first.type === 'text' ? first.data.length : 0} characters)`);
    assert.deepEqual(await frame(conn, ref), { type: 'text', data: 'small' });
    const after = conn.info().layers?.find((l) => l.kind === 'websocket');
    assert.ok((after?.bytesOut ?? 0) - before < big.length / 10, `sent ${(after?.bytesOut ?? 0) - before} bytes for ${big.length}`);
    await conn.close();
  });

  it('over TLS (wss), with the connection level defaults of open({ ws })', async () => {
    const conn = open({ host: '127.0.0.1', port: h1tls.port, transport: 'tls', tls: { ca: pki.ca }, protocols: ['http'], retry: 0, ws: { protocols: ['default.proto'] } });
    const ref = conn.wsUpgrade('/tls');
    await upgraded(conn, ref);
    assert.equal(h1tls.requests.at(-1)?.protocols, 'default.proto');
    await conn.wsSend(ref, { type: 'text', data: 'secure' });
    assert.deepEqual(await frame(conn, ref), { type: 'text', data: 'secure' });
    await conn.close();
  });

  it('a refused handshake is ERR_WS_HANDSHAKE with the status and headers; the connection goes on', async () => {
    const server = http.createServer((req, res) => {
      res.writeHead(req.url === '/ws' ? 403 : 200, { 'x-why': 'no', 'content-type': 'text/plain' });
      res.end(req.url === '/ws' ? 'forbidden body' : 'ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const conn = h1conn((server.address() as AddressInfo).port);
    const ref = conn.wsUpgrade('/ws');
    const m = await conn.await(ref, 5000);
    assert.equal(m.type, 'error');
    const e = (m as StreamMessage & { type: 'error' }).error;
    assert.equal(e.code, 'ERR_WS_HANDSHAKE');
    assert.equal(e.response?.status, 403);
    assert.ok(e.response?.headers.some(([n, v]) => n === 'x-why' && v === 'no'));
    assert.equal(conn.hasStream(ref), false);
    const get = conn.get('/next');
    assert.equal((await conn.awaitBody(get, 5000)).body.toString(), 'ok');
    await assert.rejects(conn.wsSend(ref, { type: 'text', data: 'x' }), (err: BurrowError) => err.code === 'ERR_WS_HANDSHAKE' || err.code === 'ERR_BAD_STATE' || err.code === 'ERR_STREAM_NOT_FOUND');
    await conn.close();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('invalid frames throw at once', () => {
    const conn = h1conn(h1.port);
    const ref = conn.wsUpgrade('/');
    assert.throws(() => void conn.wsSend(ref, { type: 'close', code: 1005 }), (e: BurrowError) => e.code === 'ERR_INVALID_REQUEST');
    assert.throws(() => void conn.wsSend(ref, { type: 'ping', data: Buffer.alloc(126) }), (e: BurrowError) => e.code === 'ERR_INVALID_REQUEST');
    assert.throws(() => void conn.wsSend(ref, { type: 'close', code: 1000, reason: 'x'.repeat(124) }), (e: BurrowError) => e.code === 'ERR_INVALID_REQUEST');
    assert.throws(() => void conn.wsSend(ref, { type: 'nope' } as never), (e: BurrowError) => e.code === 'ERR_INVALID_REQUEST');
    assert.throws(() => conn.wsUpgrade('/', {}, { maxPayload: 0 }), (e: BurrowError) => e.code === 'ERR_INVALID_OPTION');
    assert.throws(() => conn.wsUpgrade('/', {}, { protocols: ['a b'] }), (e: BurrowError) => e.code === 'ERR_INVALID_OPTION');
    void conn.close();
  });
});

describe('wsUpgrade over HTTP/2 (RFC 8441)', () => {
  it('several WebSockets and requests share one connection; each WebSocket is one stream', async () => {
    for (const origin of [h2, h2tls]) {
      const tls = origin === h2tls;
      const conn = open({ host: '127.0.0.1', port: origin.port, transport: tls ? 'tls' : 'tcp', ...(tls ? { tls: { ca: pki.ca } } : {}), protocols: ['http2'], retry: 0 });
      const a = conn.wsUpgrade('/a');
      const b = conn.wsUpgrade('/b', {}, { protocols: ['p1'] });
      const [ua, ub] = [await upgraded(conn, a), await upgraded(conn, b)];
      assert.equal(ua.headers.find(([n]) => n === 'sec-websocket-accept'), undefined, 'no accept key over HTTP/2');
      assert.equal(ub.headers.find(([n]) => n === 'sec-websocket-protocol')?.[1], 'p1');
      assert.deepEqual(origin.requests.slice(-2).map((r) => [r.path, r.version]), [['/a', '2'], ['/b', '2']]);
      await conn.wsSend(a, { type: 'text', data: 'to a' });
      await conn.wsSend(b, { type: 'binary', data: Buffer.alloc(70_000, 7) });
      assert.deepEqual(await frame(conn, a), { type: 'text', data: 'to a' });
      assert.deepEqual(await frame(conn, b), { type: 'binary', data: Buffer.alloc(70_000, 7) });
      const get = conn.get('/plain');
      assert.equal(((await conn.await(get, 5000)) as StreamMessage & { type: 'response' }).status, 404);
      assert.equal(conn.info().protocol, 'http2');
      const kinds = conn.streamInfo(a)?.layers?.map((l) => l.kind);
      assert.deepEqual(kinds?.slice(-2), ['http2', 'websocket']);
      await conn.wsSend(a, { type: 'close', code: 1000 });
      assert.deepEqual(await frame(conn, a), { type: 'close', code: 1000, reason: '' });
      await conn.wsSend(b, { type: 'text', data: 'b still open' });
      assert.deepEqual(await frame(conn, b), { type: 'text', data: 'b still open' });
      await conn.close();
    }
  });

  it('a server that does not enable the extended CONNECT: ERR_WS_UNSUPPORTED, the connection goes on', async () => {
    const server = http2.createServer();
    server.on('stream', (s) => {
      s.respond({ ':status': 200 });
      s.end('plain');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const conn = open({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, protocols: ['http2'], retry: 0 });
    const ref = conn.wsUpgrade('/');
    const m = await conn.await(ref, 5000);
    assert.equal(m.type === 'error' && m.error.code, 'ERR_WS_UNSUPPORTED');
    assert.equal((await conn.awaitBody(conn.get('/'), 5000)).body.toString(), 'plain');
    await conn.close();
    await new Promise<void>((r) => server.close(() => r()));
  });
});

describe('ending WebSockets', () => {
  it('shutdown() sends close 1001 on every open WebSocket and waits for the close handshakes', async () => {
    const conn = open({ host: '127.0.0.1', port: h2.port, protocols: ['http2'], retry: 0 });
    const a = conn.wsUpgrade('/a');
    const b = conn.wsUpgrade('/b');
    await upgraded(conn, a);
    await upgraded(conn, b);
    await conn.shutdown();
    assert.deepEqual([await frame(conn, a), await frame(conn, b)], [{ type: 'close', code: 1001, reason: '' }, { type: 'close', code: 1001, reason: '' }]);
    assert.equal(conn.state, 'closed');
  });

  it('cancel() drops a WebSocket without a close handshake: ERR_STREAM_CANCELED, the server sees the transport go', async () => {
    const conn = open({ host: '127.0.0.1', port: h2.port, protocols: ['http2'], retry: 0 });
    const a = conn.wsUpgrade('/a');
    await upgraded(conn, a);
    conn.cancel(a);
    const m = await conn.await(a, 5000);
    assert.equal(m.type === 'error' && m.error.code, 'ERR_STREAM_CANCELED');
    assert.equal(conn.hasStream(a), false);
    const b = conn.wsUpgrade('/b');
    await upgraded(conn, b);
    await conn.close();
  });
});

describe('WebSockets inside tunnels', () => {
  it('through an HTTP/1.1 CONNECT tunnel (conn-wide) and an HTTP/2 CONNECT tunnel over TLS (stream-wide, next to another)', async () => {
    const c1 = open({ host: '127.0.0.1', port: connectProxy.port, protocols: ['http'], retry: 0 });
    const t1 = c1.connect({ host: '127.0.0.1', port: h1tls.port, transport: 'tls', tls: { ca: pki.ca }, protocols: ['http'] });
    const w1 = c1.wsUpgrade('/via-h1', {}, { tunnel: t1 });
    await upgraded(c1, w1);
    assert.deepEqual(w1.path.slice(0, 1), t1.path);
    await c1.wsSend(w1, { type: 'text', data: 'through CONNECT' });
    assert.deepEqual(await frame(c1, w1), { type: 'text', data: 'through CONNECT' });
    assert.deepEqual(c1.streamInfo(w1)?.layers?.map((l) => l.kind), ['tcp', 'http1-connect', 'tls', 'websocket']);
    await c1.close();

    const c2 = open({ host: '127.0.0.1', port: h2proxy.port, transport: 'tls', tls: { ca: pki.ca }, protocols: ['http2'], retry: 0 });
    const ta = c2.connect({ host: '127.0.0.1', port: h1.port, protocols: ['http'] });
    const tb = c2.connect({ host: '127.0.0.1', port: h2.port, protocols: ['http2'] });
    const wa = c2.wsUpgrade('/a', {}, { tunnel: ta });
    const wb = c2.wsUpgrade('/b', {}, { tunnel: tb });
    await upgraded(c2, wa);
    await upgraded(c2, wb);
    await c2.wsSend(wa, { type: 'text', data: 'a' });
    await c2.wsSend(wb, { type: 'text', data: 'b' });
    assert.deepEqual(await frame(c2, wa), { type: 'text', data: 'a' });
    assert.deepEqual(await frame(c2, wb), { type: 'text', data: 'b' });
    assert.deepEqual(c2.streamInfo(wb)?.layers?.map((l) => l.kind), ['tcp', 'tls', 'http2', 'http2-connect', 'http2', 'websocket']);
    // Closing one WebSocket leaves the other, and the tunnel of the HTTP/2 one, up.
    await c2.wsSend(wa, { type: 'close', code: 1000 });
    assert.deepEqual(await frame(c2, wa), { type: 'close', code: 1000, reason: '' });
    await c2.wsSend(wb, { type: 'text', data: 'b again' });
    assert.deepEqual(await frame(c2, wb), { type: 'text', data: 'b again' });
    const again = c2.wsUpgrade('/c', {}, { tunnel: tb });
    await upgraded(c2, again);
    await c2.close();
  });
});
