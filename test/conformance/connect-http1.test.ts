// Gun's rfc7231_SUITE (gun-reference §5.3): HTTP/1.1 CONNECT (RFC 9110
// §9.3.6) in burrow's form: the request burrow writes, which answers
// establish a tunnel, refusals, nesting, a slow proxy, the CONNECT timeout,
// and IPv6 targets.
import { describe, it, before, after, afterEach, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { type Connection } from '../../src/index.js';
import { createTestPki, type TestPki } from '../../src/testing/pki.js';
import { startOrigin, type TestOrigin } from '../../src/testing/origin.js';
import { startConnectProxy, type ConnectBehavior, type ProxyConnectRequest, type TestConnectProxy } from '../../src/testing/connect-proxy.js';
import { startEchoServer, type TestEchoServer } from '../../src/testing/echo-server.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';
import { connTracker, echoBody, echoedAuthority, expectError, expectResponse, expectTunnel, fmt, readBytes, tunnelInfoOf } from './harness.js';


const CREDENTIALS = { username: 'user', password: 'password' };

/** Header lines of a raw request head, names lowercased. */
function headLines(rawHead: string): { requestLine: string; headers: Array<[string, string]> } {
  const lines = rawHead.replace(/\r\n\r\n$/, '').split('\r\n');
  const headers: Array<[string, string]> = [];
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    headers.push([l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()]);
  }
  return { requestLine: lines[0] ?? '', headers };
}

async function canListenIpv6(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(0, '::1', () => s.close(() => resolve(true)));
  });
}

describe('HTTP/1.1 CONNECT (Gun rfc7231_SUITE)', () => {
  let pki: TestPki;
  let baseline: string[];
  const conns = connTracker();
  afterEach(() => conns.closeAll());
  const origins = {} as Record<'http' | 'https' | 'h2c' | 'h2', TestOrigin>;
  let proxyTcp: TestConnectProxy;
  let proxyTls: TestConnectProxy;
  let proxyTcp2: TestConnectProxy;
  let proxyTls2: TestConnectProxy;
  /** A TCP proxy whose behaviour is chosen by the CONNECT's `x-test` header. */
  let scripted: TestConnectProxy;
  let authProxy: TestConnectProxy;
  let echo: TestEchoServer;
  const behaviors: Record<string, ConnectBehavior> = {
    '201': { status: 201, reason: 'Created' },
    http10: { status: 200, version: '1.0' },
    http10_201: { status: 201, version: '1.0' },
    'content-length': { headers: { 'content-length': '12' } },
    'transfer-encoding': { headers: { 'transfer-encoding': 'chunked' } },
    '302': { status: 302, headers: { location: 'http://elsewhere.example/' } },
    '403': { status: 403 },
    '500': { status: 500 },
    delay: { delayMs: 300, status: 201 },
    never: { neverAnswer: true },
  };

  before(async () => {
    pki = createTestPki();
    [origins.http, origins.https, origins.h2c, origins.h2] = await Promise.all([
      startOrigin({ protocol: 'http', transport: 'tcp' }),
      startOrigin({ protocol: 'http', transport: 'tls', pki }),
      startOrigin({ protocol: 'http2', transport: 'tcp' }),
      startOrigin({ protocol: 'http2', transport: 'tls', pki }),
    ]);
    [proxyTcp, proxyTls, proxyTcp2, proxyTls2, scripted, authProxy, echo] = await Promise.all([
      startConnectProxy({ transport: 'tcp' }),
      startConnectProxy({ transport: 'tls', pki }),
      startConnectProxy({ transport: 'tcp' }),
      startConnectProxy({ transport: 'tls', pki }),
      startConnectProxy({
        transport: 'tcp',
        behavior: (req: ProxyConnectRequest) => behaviors[req.headers.find(([k]) => k === 'x-test')?.[1] ?? ''] ?? {},
      }),
      startConnectProxy({ transport: 'tcp', auth: CREDENTIALS }),
      startEchoServer({ transport: 'tcp' }),
    ]);
    baseline = resourceSnapshot();
  });
  after(async () => {
    await Promise.all([...Object.values(origins), proxyTcp, proxyTls, proxyTcp2, proxyTls2, scripted, authProxy, echo].map((s) => s.close()));
  });

  const tlsOf = (t: 'tcp' | 'tls') => (t === 'tls' ? { tls: { ca: pki.ca } } : {});
  const openProxy = (p: TestConnectProxy, extra: Record<string, unknown> = {}): Connection =>
    conns.open({ host: 'localhost', port: p.port, transport: p.transport, ...tlsOf(p.transport), protocols: ['http'], retry: 0, ...extra });
  const originDest = (kind: 'http' | 'https' | 'h2c' | 'h2') => {
    const transport = kind === 'https' || kind === 'h2' ? ('tls' as const) : ('tcp' as const);
    return { host: 'localhost', port: origins[kind].port, transport, ...tlsOf(transport), protocols: [kind === 'http' || kind === 'https' ? ('http' as const) : ('http2' as const)] };
  };
  const proxyEntry = (p: TestConnectProxy) => ({ type: 'connect' as const, host: 'localhost', port: p.port, transport: p.transport, protocol: 'http' });

  /** GET /echo inside `tunnel`; returns the origin's view of it. */
  async function echoThrough(conn: Connection, tunnel: ReturnType<Connection['connect']>, originPort: number) {
    const ref = conn.get('/echo', {}, { tunnel });
    await expectResponse(conn, ref, 200, false);
    const e = await echoBody(conn, ref);
    assert.equal(echoedAuthority(e), `localhost:${originPort}`);
    return e;
  }

  // connect_http, connect_https, connect_h2c, connect_h2 and their *_over_https_proxy twins.
  for (const proxyT of ['tcp', 'tls'] as const) {
    for (const kind of ['http', 'https', 'h2c', 'h2'] as const) {
      it(`connect_${kind}${proxyT === 'tls' ? '_over_https_proxy' : ''}`, async () => {
        const proxy = proxyT === 'tls' ? proxyTls : proxyTcp;
        const dest = originDest(kind);
        const proto = kind === 'http' || kind === 'https' ? 'http' : 'http2';
        const conn = openProxy(proxy);
        assert.equal(await conn.awaitUp(), 'http');
        const ref = conn.connect(dest);
        await expectTunnel(conn, ref, [proto]);
        const info = conn.info();
        assert.deepEqual(info.origin, { scheme: dest.transport === 'tls' ? 'https' : 'http', host: 'localhost', port: dest.port });
        assert.equal(info.protocol, proto);
        assert.deepEqual(info.intermediaries, [proxyEntry(proxy)]);
        assert.deepEqual(tunnelInfoOf(conn, ref), {
          state: 'running',
          intermediaries: [],
          tunnel: { transport: dest.transport, protocol: proto, scheme: dest.transport === 'tls' ? 'https' : 'http', host: 'localhost', port: dest.port },
        });
        await echoThrough(conn, ref, dest.port);
        await conn.close();
      });
    }
  }

  it('connect_authority_form: the request line is CONNECT localhost:PORT HTTP/1.1 and host is the authority', async () => {
    const from = proxyTcp.requests.length;
    const conn = openProxy(proxyTcp);
    const ref = conn.connect(originDest('http'));
    await expectTunnel(conn, ref, ['http']);
    const req = proxyTcp.requests[from];
    assert.ok(req !== undefined);
    const authority = `localhost:${origins.http.port}`;
    assert.equal(req.method, 'CONNECT');
    assert.equal(req.target, authority);
    assert.equal(req.version, '1.1');
    const { requestLine, headers } = headLines(req.rawHead);
    assert.equal(requestLine, `CONNECT ${authority} HTTP/1.1`);
    assert.deepEqual(headers.filter(([k]) => k === 'host'), [['host', authority]]);
    await echoThrough(conn, ref, origins.http.port);
    await conn.close();
  });

  it('connect_request_no_content_length / no_transfer_encoding: neither is sent, even when given', async () => {
    const from = proxyTcp.requests.length;
    const conn = openProxy(proxyTcp);
    const ref = conn.connect(originDest('http'), { 'content-length': '0', 'transfer-encoding': 'chunked', 'x-kept': 'yes' });
    await expectTunnel(conn, ref, ['http']);
    const { headers } = headLines(proxyTcp.requests[from]?.rawHead ?? '');
    const names = headers.map(([k]) => k);
    const seen = `CONNECT headers: ${names.join(', ')}`;
    assert.ok(!names.includes('content-length'), seen);
    assert.ok(!names.includes('transfer-encoding'), seen);
    assert.ok(names.includes('x-kept'), seen);
    await conn.close();
  });

  it('connect_proxy_authorization: username/password give Basic proxy-authorization, not sent to the origin', async () => {
    const from = authProxy.requests.length;
    const originFrom = origins.http.requests.length;
    const conn = openProxy(authProxy);
    const ref = conn.connect({ ...originDest('http'), ...CREDENTIALS });
    await expectTunnel(conn, ref, ['http']);
    const { headers } = headLines(authProxy.requests[from]?.rawHead ?? '');
    const expected = `Basic ${Buffer.from('user:password').toString('base64')}`;
    assert.deepEqual(headers.filter(([k]) => k === 'proxy-authorization'), [['proxy-authorization', expected]]);
    const e = await echoThrough(conn, ref, origins.http.port);
    assert.ok(!e.headers.some(([k]) => k.toLowerCase() === 'proxy-authorization'), 'the origin saw no proxy-authorization');
    const seen = origins.http.requests.slice(originFrom);
    assert.equal(seen.length, 1);
    assert.ok(!seen[0]?.headers.some(([k]) => k.toLowerCase() === 'proxy-authorization'));
    await conn.close();
  });

  it('connect_proxy_authorization: without credentials the proxy answers 407, an ordinary response', async () => {
    const conn = openProxy(authProxy);
    const ref = conn.connect(originDest('http'));
    const res = await expectResponse(conn, ref, 407, false);
    assert.ok(res.headers.some(([k]) => k === 'proxy-authenticate'));
    assert.equal((await conn.awaitBody(ref)).body.toString(), 'proxy says no');
    await conn.close();
  });

  for (const [name, tag, status, version] of [
    ['connect_response_201', '201', 201, '1.1'],
    ['connect_response_http10', 'http10', 200, '1.0'],
    ['connect_response_http10 (201)', 'http10_201', 201, '1.0'],
  ] as const) {
    it(`${name}: a ${status} HTTP/${version} answer establishes the tunnel`, async () => {
      const conn = openProxy(scripted);
      const ref = conn.connect(originDest('https'), { 'x-test': tag });
      const res = await expectResponse(conn, ref, status, true);
      assert.equal(res.version, version);
      const m = await conn.await(ref);
      assert.ok(m.type === 'up' && m.protocol === 'http', fmt(m));
      await echoThrough(conn, ref, origins.https.port);
      await conn.close();
    });
  }

  for (const tag of ['content-length', 'transfer-encoding'] as const) {
    it(`connect_response_ignore_${tag.replace('-', '_')}: a 2xx with ${tag} has no body; the tunnel starts right after the head`, async () => {
      const conn = openProxy(scripted);
      const ref = conn.connect(originDest('http'), { 'x-test': tag });
      const res = await expectResponse(conn, ref, 200, true);
      assert.ok(res.headers.some(([k]) => k === tag));
      const m = await conn.await(ref);
      assert.ok(m.type === 'up' && m.protocol === 'http', fmt(m));
      await echoThrough(conn, ref, origins.http.port);
      await conn.close();
    });
  }

  for (const status of [302, 403, 500] as const) {
    it(`connect_response_${status}: an ordinary response; no tunnel; the proxy connection goes on`, async () => {
      const conn = openProxy(scripted);
      const before = conn.info();
      const ref = conn.connect(originDest('http'), { 'x-test': String(status) });
      await expectResponse(conn, ref, status, false);
      assert.equal((await conn.awaitBody(ref)).body.toString(), 'proxy says no');
      // The ref is no tunnel.
      const inner = conn.get('/', {}, { tunnel: ref });
      const e = await expectError(conn, inner, 'ERR_NOT_A_TUNNEL');
      assert.equal(e.stage, 'state');
      assert.equal(conn.streamInfo(ref)?.tunnel, undefined);
      // info() unchanged: still the proxy, no intermediaries.
      const after = conn.info();
      assert.deepEqual([after.origin, after.intermediaries, after.protocol], [before.origin, [], 'http']);
      // The proxy connection still serves requests.
      const status2 = conn.get('/proxy-status');
      await expectResponse(conn, status2, 200, false);
      assert.equal((await conn.awaitBody(status2)).body.toString(), 'proxy ok');
      await conn.close();
    });
  }

  it('CONNECT while another request is in flight is ERR_BAD_STATE; the request completes', async () => {
    const snapshot = resourceSnapshot();
    const conn = openProxy(proxyTcp);
    await conn.awaitUp();
    const get = conn.get('/proxy-status');
    const ref = conn.connect(originDest('http'));
    const e = await expectError(conn, ref, 'ERR_BAD_STATE');
    assert.equal(e.stage, 'state');
    await expectResponse(conn, get, 200, false);
    assert.equal((await conn.awaitBody(get)).body.toString(), 'proxy ok');
    // Once idle, CONNECT works.
    const ok = conn.connect(originDest('http'));
    await expectTunnel(conn, ok, ['http']);
    await conn.close();
    // The refused CONNECT leaves no timer behind (its connectTimeout timer included).
    await assertNoLeaks(snapshot);
  });

  it('connect_tcp_through_multiple_tcp_proxies: nested CONNECT through two HTTP/1.1 proxies', async () => {
    const conn = openProxy(proxyTcp);
    const ref1 = conn.connect({ host: 'localhost', port: proxyTcp2.port, protocols: ['http'] });
    await expectTunnel(conn, ref1, ['http']);
    const ref2 = conn.connect(originDest('http'), undefined, { tunnel: ref1 });
    await expectTunnel(conn, ref2, ['http']);
    const last = proxyTcp2.requests.at(-1);
    assert.equal(last?.target, `localhost:${origins.http.port}`);
    assert.deepEqual(conn.info().intermediaries, [proxyEntry(proxyTcp), proxyEntry(proxyTcp2)]);
    assert.deepEqual(tunnelInfoOf(conn, ref2), {
      state: 'running',
      intermediaries: [proxyEntry(proxyTcp)],
      tunnel: { transport: 'tcp', protocol: 'http', scheme: 'http', host: 'localhost', port: origins.http.port },
    });
    const r = conn.get('/echo', {}, { tunnel: ref2 });
    assert.deepEqual(conn.streamInfo(r)?.intermediaries, [proxyEntry(proxyTcp), proxyEntry(proxyTcp2)]);
    await expectResponse(conn, r, 200, false);
    assert.equal(echoedAuthority(await echoBody(conn, r)), `localhost:${origins.http.port}`);
    await conn.close();
  });

  it('connect_tls_through_multiple_tls_proxies: TLS in TLS in TLS to a TLS origin', async () => {
    const conn = openProxy(proxyTls);
    const ref1 = conn.connect({ host: 'localhost', port: proxyTls2.port, transport: 'tls', tls: { ca: pki.ca }, protocols: ['http'] });
    await expectTunnel(conn, ref1, ['http']);
    const ref2 = conn.connect(originDest('https'), undefined, { tunnel: ref1 });
    await expectTunnel(conn, ref2, ['http']);
    const info = conn.info();
    assert.deepEqual(info.origin, { scheme: 'https', host: 'localhost', port: origins.https.port });
    assert.deepEqual(info.intermediaries, [proxyEntry(proxyTls), proxyEntry(proxyTls2)]);
    assert.ok(info.tls !== undefined, 'info().tls describes the innermost TLS session');
    await echoThrough(conn, ref2, origins.https.port);
    await conn.close();
  });

  it('connect_delay: a CONNECT answered after 300 ms still works, and no keepalive bytes leak into the tunnel', async () => {
    const conn = openProxy(scripted, { http: { keepalive: 50 } });
    const ref = conn.connect({ host: 'localhost', port: echo.port, protocols: ['raw'] }, { 'x-test': 'delay' });
    await expectResponse(conn, ref, 201, true, 2000);
    const m = await conn.await(ref);
    assert.ok(m.type === 'up' && m.protocol === 'raw', fmt(m));
    await conn.data(ref, false, 'ping');
    assert.equal((await readBytes(conn, ref, 4)).toString('latin1'), 'ping');
    await conn.close();
  });

  it('destination.connectTimeout: a proxy that never answers gives ERR_CONNECT_RESPONSE_TIMEOUT naming the proxy', async () => {
    const conn = openProxy(scripted);
    await conn.awaitUp();
    const started = Date.now();
    const ref = conn.connect({ ...originDest('http'), connectTimeout: 100 }, { 'x-test': 'never' });
    const e = await expectError(conn, ref, 'ERR_CONNECT_RESPONSE_TIMEOUT', 3000);
    assert.ok(Date.now() - started >= 90, 'not before the timeout');
    assert.equal(e.stage, 'timeout');
    assert.deepEqual(e.hop, { index: 0, kind: 'connect', host: 'localhost', port: scripted.port, transport: 'tcp' });
    assert.equal(e.details['timeoutMs'], 100);
    await conn.close();
  });

  it('an IPv6 target is sent bracketed: CONNECT [::1]:PORT, host [::1]:PORT', async (t: TestContext) => {
    if (!(await canListenIpv6())) {
      // No ::1 on this host: the bracketing is still checked on the wire, against a refusing proxy answer.
      t.diagnostic('::1 cannot be listened on here: checking the request line only');
      const from = scripted.requests.length;
      const conn = openProxy(scripted);
      const ref = conn.connect({ host: '::1', port: 8080 }, { 'x-test': '403' });
      await expectResponse(conn, ref, 403, false);
      assert.equal(scripted.requests[from]?.target, '[::1]:8080');
      await conn.close();
      return;
    }
    const origin6 = await startOrigin({ protocol: 'http', transport: 'tcp', host: '::1' });
    try {
      const from = proxyTcp.requests.length;
      const conn = openProxy(proxyTcp);
      const ref = conn.connect({ host: '::1', port: origin6.port });
      await expectTunnel(conn, ref, ['http']);
      const req = proxyTcp.requests[from];
      const authority = `[::1]:${origin6.port}`;
      assert.equal(req?.target, authority);
      assert.equal(req?.host, '::1');
      assert.equal(headLines(req?.rawHead ?? '').requestLine, `CONNECT ${authority} HTTP/1.1`);
      assert.deepEqual(headLines(req?.rawHead ?? '').headers.filter(([k]) => k === 'host'), [['host', authority]]);
      const r = conn.get('/echo', {}, { tunnel: ref });
      await expectResponse(conn, r, 200, false);
      assert.equal(echoedAuthority(await echoBody(conn, r)), authority);
      await conn.close();
    } finally {
      await origin6.close();
    }
  });

  it('leaves no socket, TLS, HTTP/2 session or timer behind', async () => {
    await assertNoLeaks(baseline);
  });
});
