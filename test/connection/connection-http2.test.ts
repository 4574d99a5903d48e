// The connection core over HTTP/2 (h2c prior knowledge and h2 over TLS).
import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { open, isBurrowError, type Connection, type Notification, type StreamMessage, type StreamRef } from '../../src/index.js';
import { startOrigin, type TestOrigin } from '../../src/testing/origin.js';
import { createTestPki, type TestPki } from '../../src/testing/pki.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';

async function collect(conn: Connection, ref: StreamRef): Promise<StreamMessage[]> {
  const out: StreamMessage[] = [];
  for await (const m of conn.messages(ref)) out.push(m);
  return out;
}

describe('HTTP/2 connection over h2c and TLS', () => {
  let pki: TestPki;
  let h2c: TestOrigin;
  let h2: TestOrigin;
  before(async () => {
    pki = createTestPki();
    h2c = await startOrigin({ protocol: 'http2', transport: 'tcp' });
    h2 = await startOrigin({ protocol: 'http2', transport: 'tls', pki });
  });
  after(async () => {
    await h2c.close();
    await h2.close();
  });

  const variants = [
    { name: 'h2c', make: (extra: Record<string, unknown> = {}) => open({ host: '127.0.0.1', port: h2c.port, protocols: ['http2'], retry: 0, ...extra }) },
    { name: 'h2', make: (extra: Record<string, unknown> = {}) => open({ host: 'localhost', port: h2.port, transport: 'tls', tls: { ca: pki.ca }, retry: 0, ...extra }) },
  ];

  for (const v of variants) {
    describe(v.name, () => {
      it('negotiates HTTP/2 and runs requests with bodies, streamed bodies and trailers', async () => {
        const conn = v.make();
        assert.equal(await conn.awaitUp(), 'http2');
        const get = conn.get('/');
        const post = conn.post('/echo', { 'content-type': 'text/plain' }, 'whole');
        const streamed = conn.put('/echo', {});
        await conn.data(streamed, false, 'part1,');
        await conn.data(streamed, true, 'part2');
        const res = await conn.await(get);
        assert.ok(res.type === 'response' && res.status === 200 && res.version === '2');
        assert.equal((await conn.awaitBody(get)).body.toString(), 'hello');
        const echo = JSON.parse((await conn.awaitBody(post)).body.toString()) as { method: string; body: string };
        assert.deepEqual([echo.method, echo.body], ['POST', 'whole']);
        const echo2 = JSON.parse((await conn.awaitBody(streamed)).body.toString()) as { method: string; body: string };
        assert.deepEqual([echo2.method, echo2.body], ['PUT', 'part1,part2']);
        const t = await conn.awaitBody(conn.get('/trailers'));
        assert.equal(t.body.toString(), 'body');
        assert.deepEqual(t.trailers, [['x-checksum', 'abc']]);
        await conn.close();
      });

      it('sends pseudo-headers and drops connection-specific headers', async () => {
        const conn = v.make();
        const ref = conn.get('/echo', { connection: 'keep-alive', 'keep-alive': '5', 'transfer-encoding': 'chunked', upgrade: 'x', 'x-ok': '1' });
        const echo = JSON.parse((await conn.awaitBody(ref)).body.toString()) as { headers: Array<[string, string]> };
        const names = echo.headers.map(([n]) => n);
        for (const forbidden of ['connection', 'keep-alive', 'transfer-encoding', 'upgrade']) assert.ok(!names.includes(forbidden), forbidden);
        assert.ok(names.includes('x-ok'));
        const last = v.name === 'h2c' ? h2c.requests.at(-1) : h2.requests.at(-1);
        assert.equal(last?.authority, v.name === 'h2c' ? `127.0.0.1:${h2c.port}` : `localhost:${h2.port}`);
        await conn.close();
      });

      it('multiplexes 100 concurrent streams on one connection', async () => {
        const origin = v.name === 'h2c' ? h2c : h2;
        const before = origin.connections;
        const conn = v.make();
        const refs = Array.from({ length: 100 }, (_, i) => conn.get(`/bytes/${i + 1}`));
        const bodies = await Promise.all(refs.map((r) => conn.awaitBody(r)));
        bodies.forEach((b, i) => assert.equal(b.body.length, i + 1));
        assert.equal(origin.connections - before, 1);
        await conn.close();
      });

      it('delivers 1xx as inform before the response', async () => {
        const conn = v.make();
        const msgs = await collect(conn, conn.get('/inform'));
        assert.deepEqual(msgs.map((m) => m.type).slice(0, 2), ['inform', 'response']);
        const inf = msgs[0];
        assert.ok(inf?.type === 'inform' && inf.status === 103);
        await conn.close();
      });

      it('ping resolves with a round-trip time and notifies a ping-ack', async () => {
        const conn = v.make();
        await conn.awaitUp();
        const notes: Notification[] = [];
        conn.on('notify', (n) => notes.push(n));
        const rtt = await conn.ping();
        assert.ok(rtt >= 0);
        assert.ok(notes.some((n) => n.type === 'ping-ack'));
        await conn.close();
      });
    });
  }

  it('notifies the server settings, and remoteSettings() reports them from then on', async () => {
    const conn = open({ host: '127.0.0.1', port: h2c.port, protocols: ['http2'], retry: 0 });
    assert.equal(conn.remoteSettings(), undefined, 'nothing before the connection is up');
    const n = await new Promise<Notification>((resolve) => conn.on('notify', resolve));
    assert.equal(n.type, 'settings');
    assert.deepEqual(conn.remoteSettings(), n.type === 'settings' ? n.settings : undefined);
    await conn.close();
    assert.equal(conn.remoteSettings(), undefined, 'nothing once closed');
  });

  it('remoteSettings() is undefined on an HTTP/1.1 connection', async () => {
    const h1 = await startOrigin({ protocol: 'http', transport: 'tcp' });
    const conn = open({ host: '127.0.0.1', port: h1.port, protocols: ['http'], retry: 0 });
    await conn.awaitUp();
    assert.equal(conn.remoteSettings(), undefined);
    await conn.close();
    await h1.close();
  });

  it('a stream reset by the server is a stream error; other streams go on', async () => {
    const conn = open({ host: '127.0.0.1', port: h2c.port, protocols: ['http2'], retry: 0 });
    const bad = conn.get('/rst');
    const good = conn.get('/');
    const m = await conn.await(bad);
    assert.ok(m.type === 'error' && m.error.code === 'ERR_STREAM_RESET');
    assert.equal(m.error.details['h2Error'], 'INTERNAL_ERROR');
    assert.equal((await conn.awaitBody(good)).body.toString(), 'hello');
    await conn.close();
  });

  it('uses large flow-control windows by default', async () => {
    let seen: number | undefined;
    const server = http2.createServer();
    server.on('stream', (stream) => {
      seen = stream.session?.state.remoteWindowSize;
      stream.respond({ ':status': 200 });
      stream.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const conn = open({ host: '127.0.0.1', port, protocols: ['http2'], retry: 0 });
    await conn.awaitBody(conn.get('/'));
    assert.ok(seen !== undefined && seen > 1_000_000, `remote window ${seen}`);
    await conn.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('fails a stream at once when the server concurrency limit is reached', async () => {
    const origin = await startOrigin({ protocol: 'http2', transport: 'tcp', maxConcurrentStreams: 2 });
    const conn = open({ host: '127.0.0.1', port: origin.port, protocols: ['http2'], retry: 0 });
    await conn.awaitUp();
    // Wait for the server's SETTINGS.
    await new Promise<void>((resolve) => {
      const check = (n: Notification): void => {
        if (n.type === 'settings' && n.settings.maxConcurrentStreams === 2) resolve();
      };
      conn.on('notify', check);
    });
    const a = conn.get('/delay/50');
    const b = conn.get('/delay/50');
    const c = conn.get('/');
    const mc = await conn.await(c);
    assert.ok(mc.type === 'error' && mc.error.code === 'ERR_TOO_MANY_STREAMS');
    assert.equal((await conn.awaitBody(a)).body.toString(), 'delayed');
    assert.equal((await conn.awaitBody(b)).body.toString(), 'delayed');
    await conn.close();
    await origin.close();
  });

  it('GOAWAY: the connection goes down gracefully and reconnects', async () => {
    const origin = await startOrigin({ protocol: 'http2', transport: 'tcp' });
    const conn = open({ host: '127.0.0.1', port: origin.port, protocols: ['http2'], retry: 1, retryTimeout: 0 });
    const downSeen = new Promise<unknown>((resolve) => conn.once('down', resolve));
    const ref = conn.get('/goaway');
    assert.equal((await conn.awaitBody(ref)).body.toString(), 'ok');
    await downSeen;
    await conn.awaitUp();
    assert.equal((await conn.awaitBody(conn.get('/'))).body.toString(), 'hello');
    assert.equal(origin.connections, 2);
    await conn.close();
    await origin.close();
  });

  it('server push: push message on the parent, then the pushed response; refused for another authority', async () => {
    const conn = open({ host: '127.0.0.1', port: h2c.port, protocols: ['http2'], retry: 0, http2: { enablePush: true } });
    const parent = conn.get('/push');
    const msgs = await collect(conn, parent);
    const push = msgs.find((m) => m.type === 'push');
    assert.ok(push?.type === 'push');
    assert.equal(push.url, `http://127.0.0.1:${h2c.port}/pushed`);
    assert.equal(msgs.findIndex((m) => m.type === 'push') < msgs.findIndex((m) => m.type === 'response'), true);
    assert.equal((await conn.awaitBody(push.pushRef)).body.toString(), 'pushed');
    const other = await collect(conn, conn.get('/push-other'));
    assert.ok(!other.some((m) => m.type === 'push'));
    await conn.close();
  });

  it('cancel resets the stream and the connection stays usable', async () => {
    const conn = open({ host: '127.0.0.1', port: h2c.port, protocols: ['http2'], retry: 0 });
    const never = conn.get('/never');
    await conn.awaitUp();
    conn.cancel(never);
    const m = await conn.await(never);
    assert.ok(m.type === 'error' && m.error.code === 'ERR_STREAM_CANCELED');
    assert.equal((await conn.awaitBody(conn.get('/'))).body.toString(), 'hello');
    await conn.close();
  });

  it('flow control pauses the stream until updateFlow', async () => {
    const conn = open({ host: '127.0.0.1', port: h2c.port, protocols: ['http2'], retry: 0 });
    const ref = conn.get('/slow-body/4', {}, { flow: 1 });
    assert.equal((await conn.await(ref)).type, 'response');
    assert.equal((await conn.await(ref)).type, 'data');
    await assert.rejects(conn.await(ref, 100), (e: unknown) => isBurrowError(e, 'ERR_AWAIT_TIMEOUT'));
    conn.updateFlow(ref, 10);
    const rest = await conn.awaitBody(ref);
    assert.ok(rest.body.length > 0);
    await conn.close();
  });

  it('keepalive pings beyond the tolerance close the connection with ERR_KEEPALIVE_TIMEOUT', async () => {
    // A server that completes the HTTP/2 handshake (its SETTINGS and a SETTINGS ack) and
    // then never answers anything, so no PING is ever acknowledged.
    const server = net.createServer((socket) => {
      socket.on('error', () => undefined);
      socket.write(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0]));
      socket.resume();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const conn = open({ host: '127.0.0.1', port, protocols: ['http2'], retry: 0, http2: { keepalive: 20, keepaliveTolerance: 2 } });
    const down = await new Promise<{ reason: { code: string } }>((resolve) => conn.once('down', resolve));
    assert.equal(down.reason.code, 'ERR_KEEPALIVE_TIMEOUT');
    await conn.close();
    server.close();
  });

  it('shutdown sends GOAWAY, lets open streams finish, refuses new ones, and leaks nothing', async () => {
    const baseline = resourceSnapshot();
    const conn = open({ host: '127.0.0.1', port: h2c.port, protocols: ['http2'], http2: { keepalive: 1000 } });
    const slow = conn.get('/delay/30');
    await conn.awaitUp();
    const closed = conn.shutdown();
    const late = conn.get('/');
    assert.equal((await conn.awaitBody(slow)).body.toString(), 'delayed');
    const ml = await conn.await(late);
    assert.ok(ml.type === 'error' && ml.error.code === 'ERR_CLOSING');
    await closed;
    await assertNoLeaks(baseline);
  });
});
