// Gun's rfc7540_SUITE, HTTP/2 CONNECT part (gun-reference §5.4), in burrow's
// form: h2c and h2 proxies to HTTP/1.1 and HTTP/2 origins, stream-wide tunnels
// sharing one session, concurrency limits, refusals and resets that touch one
// stream only, mixed chains, and pings inside a tunnel.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { type Connection, type Notification, type StreamRef } from '../../src/index.js';
import { createTestPki, type TestPki } from '../../src/testing/pki.js';
import { startOrigin, type TestOrigin } from '../../src/testing/origin.js';
import { startConnectProxy, type TestConnectProxy } from '../../src/testing/connect-proxy.js';
import { startH2ConnectProxy, type H2ConnectBehavior, type H2ProxyConnectRequest, type TestH2ConnectProxy } from '../../src/testing/h2-proxy.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';
import { connTracker, echoBody, echoedAuthority, expectError, expectResponse, expectTunnel, fmt, tunnelInfoOf } from './harness.js';


type OriginKind = 'http' | 'https' | 'h2c' | 'h2';

describe('HTTP/2 CONNECT (Gun rfc7540_SUITE)', () => {
  let pki: TestPki;
  let baseline: string[];
  const conns = connTracker();
  afterEach(() => conns.closeAll());
  const origins = {} as Record<OriginKind, TestOrigin>;
  let h2cProxy: TestH2ConnectProxy;
  let h2Proxy: TestH2ConnectProxy;
  let connectTcp: TestConnectProxy;
  let connectTls: TestConnectProxy;
  /** An h2c proxy whose behaviour per CONNECT is chosen by its `x-test` header. */
  let scripted: TestH2ConnectProxy;
  const behaviors: Record<string, H2ConnectBehavior> = {
    '403': { status: 403 },
    rst: { rst: true },
  };

  before(async () => {
    pki = createTestPki();
    [origins.http, origins.https, origins.h2c, origins.h2] = await Promise.all([
      startOrigin({ protocol: 'http', transport: 'tcp' }),
      startOrigin({ protocol: 'http', transport: 'tls', pki }),
      startOrigin({ protocol: 'http2', transport: 'tcp' }),
      startOrigin({ protocol: 'http2', transport: 'tls', pki }),
    ]);
    [h2cProxy, h2Proxy, connectTcp, connectTls, scripted] = await Promise.all([
      startH2ConnectProxy({ transport: 'tcp' }),
      startH2ConnectProxy({ transport: 'tls', pki }),
      startConnectProxy({ transport: 'tcp' }),
      startConnectProxy({ transport: 'tls', pki }),
      startH2ConnectProxy({
        transport: 'tcp',
        behavior: (req: H2ProxyConnectRequest) => behaviors[req.headers.find(([k]) => k === 'x-test')?.[1] ?? ''] ?? {},
      }),
    ]);
    baseline = resourceSnapshot();
  });
  after(async () => {
    await Promise.all([...Object.values(origins), h2cProxy, h2Proxy, connectTcp, connectTls, scripted].map((s) => s.close()));
  });

  const tlsOf = (t: 'tcp' | 'tls') => (t === 'tls' ? { tls: { ca: pki.ca } } : {});
  const openH2 = (p: TestH2ConnectProxy): Connection =>
    conns.open({ host: 'localhost', port: p.port, transport: p.transport, ...tlsOf(p.transport), protocols: ['http2'], retry: 0 });
  const protoOf = (kind: OriginKind) => (kind === 'http' || kind === 'https' ? ('http' as const) : ('http2' as const));
  const transportOf = (kind: OriginKind) => (kind === 'https' || kind === 'h2' ? ('tls' as const) : ('tcp' as const));
  const originDest = (kind: OriginKind) => ({
    host: 'localhost',
    port: origins[kind].port,
    transport: transportOf(kind),
    ...tlsOf(transportOf(kind)),
    protocols: [protoOf(kind)],
  });

  async function echoThrough(conn: Connection, tunnel: StreamRef, kind: OriginKind): Promise<void> {
    const ref = conn.get('/echo', {}, { tunnel });
    await expectResponse(conn, ref, 200, false);
    const e = await echoBody(conn, ref);
    assert.equal(echoedAuthority(e), `localhost:${origins[kind].port}`, 'host / :authority of the tunneled request is the origin');
    assert.equal(e.httpVersion, protoOf(kind) === 'http2' ? '2.0' : '1.1');
  }

  async function proxyStatus(conn: Connection): Promise<void> {
    const ref = conn.get('/proxy-status');
    await expectResponse(conn, ref, 200, false);
    assert.equal((await conn.awaitBody(ref)).body.toString(), 'proxy ok');
  }

  // connect_{http,https,h2c,h2}_via_{h2c,h2} (and connect_cowboy_*: a normal request on the proxy after the tunnel).
  for (const proxyKind of ['h2c', 'h2'] as const) {
    for (const kind of ['http', 'https', 'h2c', 'h2'] as const) {
      it(`connect_${kind}_via_${proxyKind}`, async () => {
        const proxy = proxyKind === 'h2' ? h2Proxy : h2cProxy;
        const from = proxy.requests.length;
        const conn = openH2(proxy);
        assert.equal(await conn.awaitUp(), 'http2');
        const dest = originDest(kind);
        const ref = conn.connect(dest);
        await expectTunnel(conn, ref, [protoOf(kind)]);
        // The CONNECT as the proxy saw it: :method and :authority only (RFC 9113 §8.5).
        const req = proxy.requests[from];
        assert.ok(req !== undefined);
        assert.equal(req.authority, `localhost:${dest.port}`);
        const names = req.headers.map(([k]) => k);
        assert.ok(names.includes(':method') && names.includes(':authority'), names.join(','));
        for (const absent of [':scheme', ':path', 'host', 'content-length']) assert.ok(!names.includes(absent), `${absent} in ${names.join(',')}`);
        assert.equal(req.headers.find(([k]) => k === ':method')?.[1], 'CONNECT');
        // Gun's stream_info for an HTTP/2 CONNECT stream; info() stays at the proxy.
        assert.deepEqual(tunnelInfoOf(conn, ref), {
          state: 'running',
          intermediaries: [],
          tunnel: { transport: dest.transport, protocol: protoOf(kind), scheme: dest.transport === 'tls' ? 'https' : 'http', host: 'localhost', port: dest.port },
        });
        const info = conn.info();
        assert.deepEqual([info.origin, info.protocol, info.intermediaries], [{ scheme: proxyKind === 'h2' ? 'https' : 'http', host: 'localhost', port: proxy.port }, 'http2', []]);
        await echoThrough(conn, ref, kind);
        // The proxy connection still serves ordinary requests.
        await proxyStatus(conn);
        // And the tunnel still works after that.
        await echoThrough(conn, ref, kind);
        await conn.close();
      });
    }
  }

  it('many tunnels share one proxy session (10 tunnels, sessions === 1)', async () => {
    const proxy = await startH2ConnectProxy({ transport: 'tcp' });
    try {
      const conn = openH2(proxy);
      const kinds: OriginKind[] = ['http', 'https', 'h2c', 'h2', 'http', 'https', 'h2c', 'h2', 'http', 'https'];
      const refs = kinds.map((k) => conn.connect(originDest(k)));
      for (let i = 0; i < refs.length; i++) await expectTunnel(conn, refs[i] as StreamRef, [protoOf(kinds[i] as OriginKind)]);
      const reqs = refs.map((t) => conn.get('/', {}, { tunnel: t }));
      const bodies = await Promise.all(reqs.map((r) => conn.awaitBody(r)));
      assert.deepEqual(bodies.map((b) => b.body.toString()), kinds.map(() => 'hello'));
      assert.equal(proxy.sessions, 1);
      assert.equal(proxy.requests.length, 10);
      assert.ok(proxy.requests.every((r) => r.sessionId === 1));
      await conn.close();
    } finally {
      await proxy.close();
    }
  });

  it('max_concurrent_streams_connect: CONNECT counts toward the proxy limit (ERR_TOO_MANY_STREAMS)', async () => {
    const proxy = await startH2ConnectProxy({ transport: 'tcp', maxConcurrentStreams: 1 });
    try {
      const conn = openH2(proxy);
      const first = conn.connect(originDest('http'));
      await expectTunnel(conn, first, ['http']);
      // The first tunnel is one open stream: a second CONNECT exceeds the limit of 1.
      const second = conn.connect(originDest('http'));
      const e = await expectError(conn, second, 'ERR_TOO_MANY_STREAMS', 2000);
      assert.equal(e.details['maxConcurrentStreams'], 1);
      // The first tunnel is unaffected.
      const r = conn.get('/', {}, { tunnel: first });
      assert.equal((await conn.awaitBody(r)).body.toString(), 'hello');
      await conn.close();
    } finally {
      await proxy.close();
    }
  });

  it('a refused CONNECT (403) is an ordinary response on that stream only', async () => {
    const conn = openH2(scripted);
    const ok = conn.connect(originDest('http'));
    const refused = conn.connect(originDest('http'), { 'x-test': '403' });
    await expectTunnel(conn, ok, ['http']);
    await expectResponse(conn, refused, 403, false);
    assert.equal((await conn.awaitBody(refused)).body.toString(), 'proxy says no');
    const e = await expectError(conn, conn.get('/', {}, { tunnel: refused }), 'ERR_NOT_A_TUNNEL');
    assert.equal(e.stage, 'state');
    await echoThrough(conn, ok, 'http');
    await proxyStatus(conn);
    await conn.close();
  });

  it('an RST_STREAM on a CONNECT stream is an error on that ref only; other tunnels keep working', async () => {
    const snapshot = resourceSnapshot();
    const conn = openH2(scripted);
    const a = conn.connect(originDest('h2c'));
    await expectTunnel(conn, a, ['http2']);
    const reset = conn.connect(originDest('http'), { 'x-test': 'rst' });
    const b = conn.connect(originDest('https'));
    const e = await expectError(conn, reset, 'ERR_STREAM_RESET');
    assert.equal(e.details['h2Error'], 'CONNECT_ERROR');
    await expectTunnel(conn, b, ['http']);
    // A request inside the reset ref fails; the others go on.
    const inner = conn.get('/', {}, { tunnel: reset });
    const m = await conn.await(inner);
    assert.ok(m.type === 'error', fmt(m));
    await echoThrough(conn, b, 'https');
    const ra = conn.get('/', {}, { tunnel: a });
    assert.equal((await conn.awaitBody(ra)).body.toString(), 'hello');
    await proxyStatus(conn);
    await conn.close();
    // The reset CONNECT leaves nothing behind (its connectTimeout timer included).
    await assertNoLeaks(snapshot);
  });

  it('connect_http_via_http_via_h2c: h2c proxy -> HTTP/1.1 CONNECT proxy -> HTTP/1.1 origin', async () => {
    const conn = openH2(h2cProxy);
    const ref1 = conn.connect({ host: 'localhost', port: connectTcp.port, protocols: ['http'] });
    await expectTunnel(conn, ref1, ['http']);
    const ref2 = conn.connect(originDest('http'), undefined, { tunnel: ref1 });
    await expectTunnel(conn, ref2, ['http']);
    assert.equal(connectTcp.requests.at(-1)?.target, `localhost:${origins.http.port}`);
    const h2cEntry = { type: 'connect', host: 'localhost', port: h2cProxy.port, transport: 'tcp', protocol: 'http2' };
    const h1Entry = { type: 'connect', host: 'localhost', port: connectTcp.port, transport: 'tcp', protocol: 'http' };
    assert.deepEqual(tunnelInfoOf(conn, ref2), {
      state: 'running',
      intermediaries: [h2cEntry],
      tunnel: { transport: 'tcp', protocol: 'http', scheme: 'http', host: 'localhost', port: origins.http.port },
    });
    const r = conn.get('/echo', {}, { tunnel: ref2 });
    assert.deepEqual(conn.streamInfo(r)?.intermediaries, [h2cEntry, h1Entry]);
    await expectResponse(conn, r, 200, false);
    assert.equal(echoedAuthority(await echoBody(conn, r)), `localhost:${origins.http.port}`);
    assert.deepEqual(conn.info().intermediaries, []);
    await conn.close();
  });

  it('connect_https_via_https_via_h2: h2 proxy -> HTTPS proxy -> TLS origin (TLS nested 3 deep)', async () => {
    const conn = openH2(h2Proxy);
    const ref1 = conn.connect({ host: 'localhost', port: connectTls.port, transport: 'tls', tls: { ca: pki.ca }, protocols: ['http'] });
    await expectTunnel(conn, ref1, ['http']);
    const ref2 = conn.connect(originDest('https'), undefined, { tunnel: ref1 });
    await expectTunnel(conn, ref2, ['http']);
    const r = conn.get('/echo', {}, { tunnel: ref2 });
    assert.deepEqual(conn.streamInfo(r)?.intermediaries, [
      { type: 'connect', host: 'localhost', port: h2Proxy.port, transport: 'tls', protocol: 'http2' },
      { type: 'connect', host: 'localhost', port: connectTls.port, transport: 'tls', protocol: 'http' },
    ]);
    await expectResponse(conn, r, 200, false);
    assert.equal(echoedAuthority(await echoBody(conn, r)), `localhost:${origins.https.port}`);
    await conn.close();
  });

  // ping_SUITE h2c_user_ping_via_{http,https,h2c,h2}.
  for (const via of ['http', 'https', 'h2c', 'h2'] as const) {
    it(`ping inside a tunnel: h2c origin via ${via} proxy`, async () => {
      const conn =
        via === 'h2c' || via === 'h2'
          ? openH2(via === 'h2' ? h2Proxy : h2cProxy)
          : conns.open({ host: 'localhost', port: (via === 'https' ? connectTls : connectTcp).port, transport: via === 'https' ? 'tls' : 'tcp', ...tlsOf(via === 'https' ? 'tls' : 'tcp'), protocols: ['http'], retry: 0 });
      const notes: Notification[] = [];
      conn.on('notify', (n) => notes.push(n));
      const ref = conn.connect(originDest('h2c'));
      await expectTunnel(conn, ref, ['http2']);
      const rtt = await conn.ping({ tunnel: ref });
      assert.ok(typeof rtt === 'number' && rtt >= 0);
      const ack = notes.find((n) => n.type === 'ping-ack');
      assert.ok(ack !== undefined, 'a ping-ack notification');
      assert.ok(ack.tunnel?.equals(ref), 'the ping-ack names the tunnel');
      if (via === 'h2c' || via === 'h2') {
        // The proxy's own session answers pings too.
        assert.ok((await conn.ping()) >= 0);
      }
      await conn.close();
    });
  }

  it('leaves no socket, TLS, HTTP/2 session or timer behind', async () => {
    await assertNoLeaks(baseline);
  });
});
