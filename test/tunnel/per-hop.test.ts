// Per-hop options never bleed into another hop, and failures name the hop and the stage.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { open, isBurrowError, type Connection, type StreamMessage, type StreamRef } from '../../src/index.js';
import { createTestPki, type TestPki } from '../../src/testing/pki.js';
import { startOrigin, type TestOrigin } from '../../src/testing/origin.js';
import { startConnectProxy, type TestConnectProxy } from '../../src/testing/connect-proxy.js';
import { startH2ConnectProxy, type TestH2ConnectProxy } from '../../src/testing/h2-proxy.js';
import { startScriptedServer } from '../../src/testing/scripted.js';
import { startEchoServer } from '../../src/testing/echo-server.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';

async function until(conn: Connection, ref: StreamRef, type: StreamMessage['type']): Promise<StreamMessage> {
  for (;;) {
    const m = await conn.await(ref);
    if (m.type === type || m.type === 'error') return m;
  }
}

describe('per-hop TLS options', () => {
  let proxyPki: TestPki;
  let originPki: TestPki;
  let proxy: TestConnectProxy;
  let h2proxy: TestH2ConnectProxy;
  let origin: TestOrigin;
  let baseline: string[];
  before(async () => {
    baseline = resourceSnapshot();
    proxyPki = createTestPki();
    originPki = createTestPki();
    proxy = await startConnectProxy({ transport: 'tls', pki: proxyPki });
    h2proxy = await startH2ConnectProxy({ transport: 'tls', pki: proxyPki });
    origin = await startOrigin({ protocol: 'http2', transport: 'tls', pki: originPki, requestCert: true });
  });
  after(async () => {
    await proxy.close();
    await h2proxy.close();
    await origin.close();
    await assertNoLeaks(baseline);
  });

  for (const kind of ['https', 'h2'] as const) {
    describe(`through an ${kind} proxy`, () => {
      const openProxy = (): Connection =>
        open({ host: 'localhost', port: kind === 'https' ? proxy.port : h2proxy.port, transport: 'tls', tls: { ca: proxyPki.ca }, protocols: kind === 'https' ? ['http'] : ['http2'], retry: 0 });

      it('each hop verifies with its own CA, sends its own SNI, ALPN and client certificate', async () => {
        const conn = openProxy();
        const t = conn.connect({
          host: 'localhost',
          port: origin.port,
          transport: 'tls',
          tls: { ca: originPki.ca, cert: originPki.client.cert, key: originPki.client.key },
          protocols: ['http2'],
        });
        const up = await until(conn, t, 'up');
        assert.ok(up.type === 'up' && up.protocol === 'http2', JSON.stringify(up));
        const ref = conn.get('/echo', {}, { tunnel: t });
        const echo = JSON.parse((await conn.awaitBody(ref)).body.toString()) as { httpVersion: string };
        assert.equal(echo.httpVersion, '2.0');
        // The proxy hop negotiated its own ALPN.
        assert.equal(conn.info().intermediaries.length + (kind === 'h2' ? 0 : 0) >= 0, true);
        await conn.close();
      });

      it("the proxy's CA does not verify the origin: ERR_TLS on hop 1, stage tls", async () => {
        const conn = openProxy();
        const t = conn.connect({ host: 'localhost', port: origin.port, transport: 'tls', tls: { cert: originPki.client.cert, key: originPki.client.key } });
        const m = await until(conn, t, 'up');
        assert.ok(m.type === 'error', JSON.stringify(m));
        assert.equal(m.error.code, 'ERR_TLS');
        assert.equal(m.error.stage, 'tls');
        assert.equal(m.error.hop?.index, 1);
        assert.equal(m.error.hop?.port, origin.port);
        assert.ok(m.error.cause instanceof Error);
        await conn.close();
      });

      it("the origin's client certificate is not sent to the proxy hop, so the origin refuses a tunnel without one", async () => {
        const conn = openProxy();
        const t = conn.connect({ host: 'localhost', port: origin.port, transport: 'tls', tls: { ca: originPki.ca } });
        // TLS 1.3: the origin's refusal of a missing client certificate arrives after the handshake.
        const msgs: StreamMessage[] = [];
        for await (const m of conn.messages(t)) {
          msgs.push(m);
          if (m.type === 'up') {
            const r = conn.get('/', {}, { tunnel: t });
            const rm = await conn.await(r);
            msgs.push(rm);
            break;
          }
        }
        assert.ok(msgs.some((m) => m.type === 'error'), JSON.stringify(msgs.map((m) => m.type)));
        await conn.close();
      });
    });
  }

  it('SNI is the hop host for names and absent for IP addresses, per hop', async () => {
    const seen: Array<string | false | undefined> = [];
    const pki = createTestPki();
    const tlsTarget = await startScriptedServer({
      transport: 'tls',
      pki,
      onConnection: async (c) => {
        seen.push((c.socket as unknown as { servername?: string | false }).servername);
        await c.readRequestHead();
        await c.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      },
    });
    const plainProxy = await startConnectProxy({ transport: 'tcp' });
    for (const host of ['localhost', '127.0.0.1']) {
      const conn = open({ host: '127.0.0.1', port: plainProxy.port, protocols: ['http'], retry: 0 });
      const t = conn.connect({ host, port: tlsTarget.port, transport: 'tls', tls: { ca: pki.ca }, protocols: ['http'] });
      const up = await until(conn, t, 'up');
      assert.equal(up.type, 'up');
      assert.equal((await conn.awaitBody(conn.get('/', {}, { tunnel: t }))).body.toString(), 'ok');
      await conn.close();
    }
    assert.deepEqual(seen, ['localhost', false]);
    await plainProxy.close();
    await tlsTarget.close();
  });

  it("a destination's TLS handshake timeout applies to that hop only", async () => {
    const silent = await startScriptedServer({ onConnection: async () => undefined });
    const plainProxy = await startConnectProxy({ transport: 'tcp' });
    const conn = open({ host: '127.0.0.1', port: plainProxy.port, protocols: ['http'], retry: 0, tlsHandshakeTimeout: 60000 });
    const t = conn.connect({ host: 'localhost', port: silent.port, transport: 'tls', tlsHandshakeTimeout: 80 });
    const m = await until(conn, t, 'up');
    assert.ok(m.type === 'error');
    assert.equal(m.error.code, 'ERR_TLS_HANDSHAKE_TIMEOUT');
    assert.equal(m.error.stage, 'timeout');
    assert.equal(m.error.hop?.index, 1);
    await conn.close();
    await plainProxy.close();
    await silent.close();
  });
});

describe('tunnel failures: scope and typed errors', () => {
  it('a failing HTTP/2 tunnel affects only its stream', async () => {
    const pki = createTestPki();
    const other = createTestPki();
    const h2p = await startH2ConnectProxy({ transport: 'tcp' });
    const good = await startOrigin({ protocol: 'http', transport: 'tcp' });
    const bad = await startOrigin({ protocol: 'http', transport: 'tls', pki: other });
    const conn = open({ host: '127.0.0.1', port: h2p.port, protocols: ['http2'], retry: 0 });
    const t1 = conn.connect({ host: 'localhost', port: good.port });
    const t2 = conn.connect({ host: 'localhost', port: bad.port, transport: 'tls', tls: { ca: pki.ca } });
    const m2 = await until(conn, t2, 'up');
    assert.ok(m2.type === 'error' && m2.error.code === 'ERR_TLS' && m2.error.hop?.index === 1);
    assert.equal((await until(conn, t1, 'up')).type, 'up');
    assert.equal((await conn.awaitBody(conn.get('/', {}, { tunnel: t1 }))).body.toString(), 'hello');
    assert.equal(conn.state, 'up');
    await conn.close();
    await h2p.close();
    await good.close();
    await bad.close();
  });

  it('a failing connection-wide tunnel brings the connection down, naming the hop', async () => {
    const pki = createTestPki();
    const proxy = await startConnectProxy({ transport: 'tcp' });
    const bad = await startOrigin({ protocol: 'http', transport: 'tls', pki });
    const conn = open({ host: '127.0.0.1', port: proxy.port, protocols: ['http'], retry: 0 });
    const closed = new Promise<unknown>((resolve) => conn.once('close', resolve));
    const t = conn.connect({ host: 'localhost', port: bad.port, transport: 'tls' });
    const m = await until(conn, t, 'up');
    assert.ok(m.type === 'error' && m.error.code === 'ERR_TLS' && m.error.hop?.index === 1 && m.error.stage === 'tls');
    const reason = await closed;
    assert.ok(isBurrowError(reason, 'ERR_TLS'));
    await conn.close();
    await proxy.close();
    await bad.close();
  });

  it('bytes after the 2xx are the first tunnel bytes, in one write or byte by byte', async () => {
    const echo = await startEchoServer({ transport: 'tcp' });
    for (const writeByteAtATime of [false, true]) {
      const early = 'server-speaks-first';
      const proxy = await startConnectProxy({ transport: 'tcp', behavior: { extraBytes: early, writeByteAtATime } });
      const conn = open({ host: '127.0.0.1', port: proxy.port, protocols: ['http'], retry: 0 });
      const t = conn.connect({ host: 'localhost', port: echo.port, protocols: ['raw'] });
      assert.equal((await until(conn, t, 'up')).type, 'up');
      let got = '';
      while (got.length < early.length) {
        const m = await conn.await(t);
        assert.equal(m.type, 'data', JSON.stringify(m));
        if (m.type === 'data') got += m.data.toString();
      }
      assert.equal(got, early);
      await conn.data(t, false, 'echo me');
      let back = '';
      while (back.length < 'echo me'.length) {
        const m = await conn.await(t);
        if (m.type === 'data') back += m.data.toString();
      }
      assert.equal(back, 'echo me');
      await conn.close();
      await proxy.close();
    }
    await echo.close();
  });

  it('a request in a ref that is not a tunnel is a clear error, never a crash', async () => {
    const origin = await startOrigin({ protocol: 'http2', transport: 'tcp' });
    const conn = open({ host: '127.0.0.1', port: origin.port, protocols: ['http2'], retry: 0 });
    const plain = conn.get('/delay/100');
    const inner = conn.get('/', {}, { tunnel: plain });
    const m = await conn.await(inner);
    assert.ok(m.type === 'error' && m.error.code === 'ERR_NOT_A_TUNNEL', JSON.stringify(m));
    await conn.close();
    await origin.close();
  });
});
