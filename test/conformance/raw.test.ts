// Gun's raw_SUITE through tunnels (gun-reference §5.5) in burrow's form: raw
// TCP/TLS origins behind HTTP/1.1 CONNECT, HTTP/2 CONNECT and SOCKS5 proxies;
// servers that speak first, with their first bytes in the same write as the
// proxy's 2xx or SOCKS reply (or trickling one byte at a time); raw flow control.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { isBurrowError, type Connection, type StreamMessage, type StreamRef } from '../../src/index.js';
import { createTestPki, type TestPki } from '../../src/testing/pki.js';
import { startConnectProxy, type ConnectBehavior, type ProxyConnectRequest, type TestConnectProxy } from '../../src/testing/connect-proxy.js';
import { startH2ConnectProxy, type H2ConnectBehavior, type H2ProxyConnectRequest, type TestH2ConnectProxy } from '../../src/testing/h2-proxy.js';
import { startSocks5Server, type Socks5Behavior, type TestSocks5Server } from '../../src/testing/socks5-server.js';
import { startEchoServer, type TestEchoServer } from '../../src/testing/echo-server.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';
import { connTracker, expectResponse, expectTunnel, expectUp, fmt, readBytes, tunnelInfoOf } from './harness.js';

const GREETING = 'GREETING: server speaks first\n';
const EXTRA = 'EXTRA-BYTES-AFTER-REPLY|';

describe('raw protocol through tunnels (Gun raw_SUITE)', () => {
  let pki: TestPki;
  let baseline: string[];
  const conns = connTracker();
  afterEach(() => conns.closeAll());
  let echoTcp: TestEchoServer;
  let echoTls: TestEchoServer;
  let greetTcp: TestEchoServer;
  let greetTls: TestEchoServer;
  let connectTcp: TestConnectProxy;
  let connectTls: TestConnectProxy;
  let h2cProxy: TestH2ConnectProxy;
  let h2Proxy: TestH2ConnectProxy;
  let socksTcp: TestSocks5Server;
  let socksTls: TestSocks5Server;
  /** A TCP CONNECT proxy whose behaviour is chosen by the CONNECT's `x-test` header. */
  let scripted: TestConnectProxy;
  /** An h2c CONNECT proxy whose behaviour is chosen by the CONNECT's `x-test` header. */
  let scriptedH2: TestH2ConnectProxy;
  const behaviors: Record<string, ConnectBehavior> = {
    extra: { extraBytes: EXTRA },
    'extra-slow': { extraBytes: EXTRA, writeByteAtATime: true },
    slow: { writeByteAtATime: true },
  };
  const h2Behaviors: Record<string, H2ConnectBehavior> = { extra: { extraBytes: EXTRA } };

  before(async () => {
    pki = createTestPki();
    [echoTcp, echoTls, greetTcp, greetTls, connectTcp, connectTls, h2cProxy, h2Proxy, socksTcp, socksTls, scripted, scriptedH2] = await Promise.all([
      startEchoServer({ transport: 'tcp' }),
      startEchoServer({ transport: 'tls', pki }),
      startEchoServer({ transport: 'tcp', greeting: GREETING }),
      startEchoServer({ transport: 'tls', pki, greeting: GREETING }),
      startConnectProxy({ transport: 'tcp' }),
      startConnectProxy({ transport: 'tls', pki }),
      startH2ConnectProxy({ transport: 'tcp' }),
      startH2ConnectProxy({ transport: 'tls', pki }),
      startSocks5Server({ transport: 'tcp' }),
      startSocks5Server({ transport: 'tls', pki }),
      startConnectProxy({ transport: 'tcp', behavior: (req: ProxyConnectRequest) => behaviors[req.headers.find(([k]) => k === 'x-test')?.[1] ?? ''] ?? {} }),
      startH2ConnectProxy({ transport: 'tcp', behavior: (req: H2ProxyConnectRequest) => h2Behaviors[req.headers.find(([k]) => k === 'x-test')?.[1] ?? ''] ?? {} }),
    ]);
    baseline = resourceSnapshot();
  });
  after(async () => {
    await Promise.all([echoTcp, echoTls, greetTcp, greetTls, connectTcp, connectTls, h2cProxy, h2Proxy, socksTcp, socksTls, scripted, scriptedH2].map((s) => s.close()));
  });

  const tlsOf = (t: 'tcp' | 'tls') => (t === 'tls' ? { tls: { ca: pki.ca } } : {});
  const rawDest = (e: TestEchoServer) => ({ host: 'localhost', port: e.port, transport: e.transport, ...tlsOf(e.transport), protocols: ['raw' as const] });
  const openProxy = (p: { port: number; transport: 'tcp' | 'tls' }, protocol: 'http' | 'http2'): Connection =>
    conns.open({ host: 'localhost', port: p.port, transport: p.transport, ...tlsOf(p.transport), protocols: [protocol], retry: 0 });

  /** Sends `Hello world!` on `ref` and expects it back. */
  async function helloEcho(conn: Connection, ref: StreamRef): Promise<void> {
    await conn.data(ref, false, 'Hello world!');
    assert.equal((await readBytes(conn, ref, 12)).toString(), 'Hello world!');
  }

  /** Reads exactly `expected` on `ref`; the first data message must be the start of it. */
  async function expectFirstBytes(conn: Connection, ref: StreamRef, expected: string): Promise<void> {
    const first = await conn.await(ref);
    assert.ok(first.type === 'data', `the first message after the tunnel came up must be data, got ${fmt(first)}`);
    assert.ok(first.data.length > 0 && expected.startsWith(first.data.toString('latin1')), `first data message ${JSON.stringify(first.data.toString('latin1'))}`);
    const rest = expected.length > first.data.length ? await readBytes(conn, ref, expected.length - first.data.length) : Buffer.alloc(0);
    assert.equal(Buffer.concat([first.data, rest]).toString('latin1'), expected);
  }

  // connect_{tcp,tls}_raw_{tcp,tls}: HTTP/1.1 CONNECT proxy -> raw origin, data on the CONNECT ref.
  for (const proxyT of ['tcp', 'tls'] as const) {
    for (const originT of ['tcp', 'tls'] as const) {
      it(`connect_${proxyT}_raw_${originT}`, async () => {
        const proxy = proxyT === 'tls' ? connectTls : connectTcp;
        const echo = originT === 'tls' ? echoTls : echoTcp;
        const conn = openProxy(proxy, 'http');
        const ref = conn.connect(rawDest(echo));
        await expectTunnel(conn, ref, ['raw']);
        assert.deepEqual(tunnelInfoOf(conn, ref), {
          state: 'running',
          intermediaries: [],
          tunnel: { transport: originT, protocol: 'raw', scheme: undefined, host: 'localhost', port: echo.port },
        });
        const info = conn.info();
        assert.deepEqual([info.protocol, info.origin, info.intermediaries], [
          'raw',
          { scheme: undefined, host: 'localhost', port: echo.port },
          [{ type: 'connect', host: 'localhost', port: proxy.port, transport: proxyT, protocol: 'http' }],
        ]);
        await helloEcho(conn, ref);
        await helloEcho(conn, ref);
        await conn.close();
      });
    }
  }

  // http2_connect_{tcp,tls}_raw_{tcp,tls}: HTTP/2 CONNECT proxy -> raw origin.
  for (const proxyT of ['tcp', 'tls'] as const) {
    for (const originT of ['tcp', 'tls'] as const) {
      it(`http2_connect_${proxyT}_raw_${originT}`, async () => {
        const proxy = proxyT === 'tls' ? h2Proxy : h2cProxy;
        const echo = originT === 'tls' ? echoTls : echoTcp;
        const conn = openProxy(proxy, 'http2');
        const ref = conn.connect(rawDest(echo));
        await expectTunnel(conn, ref, ['raw']);
        assert.deepEqual(tunnelInfoOf(conn, ref), {
          state: 'running',
          intermediaries: [],
          tunnel: { transport: originT, protocol: 'raw', scheme: undefined, host: 'localhost', port: echo.port },
        });
        // info() stays at the HTTP/2 proxy.
        assert.deepEqual(conn.info().origin, { scheme: proxyT === 'tls' ? 'https' : 'http', host: 'localhost', port: proxy.port });
        await helloEcho(conn, ref);
        // The proxy session serves other streams meanwhile.
        const st = conn.get('/proxy-status');
        assert.equal((await conn.awaitBody(st)).body.toString(), 'proxy ok');
        await helloEcho(conn, ref);
        await conn.close();
      });
    }
  }

  // socks5_{tcp,tls}_raw_{tcp,tls}: SOCKS at open(), raw at connection level: bytes on conn.ref.
  for (const socksT of ['tcp', 'tls'] as const) {
    for (const originT of ['tcp', 'tls'] as const) {
      it(`socks5_${socksT}_raw_${originT}`, async () => {
        const server = socksT === 'tls' ? socksTls : socksTcp;
        const echo = originT === 'tls' ? echoTls : echoTcp;
        const conn = conns.open({ host: 'localhost', port: server.port, transport: socksT, ...tlsOf(socksT), protocols: [{ socks: rawDest(echo) }], retry: 0 });
        assert.equal(await conn.awaitUp(), 'raw');
        const info = conn.info();
        assert.deepEqual([info.protocol, info.origin, info.intermediaries.map((i) => i.type)], ['raw', { scheme: undefined, host: 'localhost', port: echo.port }, ['socks5']]);
        await helloEcho(conn, conn.ref);
        await conn.close();
      });
    }
  }

  it('raw through SOCKS inside an HTTP/1.1 CONNECT tunnel: up socks, up raw, data on the CONNECT ref', async () => {
    const conn = openProxy(connectTcp, 'http');
    const ref = conn.connect({ host: 'localhost', port: socksTls.port, transport: 'tls', tls: { ca: pki.ca }, protocols: [{ socks: rawDest(echoTls) }] });
    await expectTunnel(conn, ref, ['socks', 'raw']);
    await helloEcho(conn, ref);
    await conn.close();
  });

  it('a server-side close ends the raw tunnel with a final data message', async () => {
    const conn = openProxy(h2cProxy, 'http2');
    const ref = conn.connect(rawDest(echoTcp));
    await expectTunnel(conn, ref, ['raw']);
    await conn.data(ref, false, 'close');
    assert.equal((await readBytes(conn, ref, 5)).toString(), 'close');
    const m = await conn.await(ref);
    assert.ok(m.type === 'data' && m.fin && m.data.length === 0, fmt(m));
    // The proxy connection is unaffected.
    assert.equal((await conn.awaitBody(conn.get('/proxy-status'))).body.toString(), 'proxy ok');
    await conn.close();
  });

  describe('servers that speak first', () => {
    for (const [name, make] of [
      ['HTTP/1.1 CONNECT (tcp)', () => ({ conn: openProxy(connectTcp, 'http'), tls: 'tcp' as const })],
      ['HTTP/1.1 CONNECT (tls)', () => ({ conn: openProxy(connectTls, 'http'), tls: 'tls' as const })],
      ['HTTP/2 CONNECT (h2c)', () => ({ conn: openProxy(h2cProxy, 'http2'), tls: 'tcp' as const })],
      ['HTTP/2 CONNECT (h2)', () => ({ conn: openProxy(h2Proxy, 'http2'), tls: 'tls' as const })],
    ] as const) {
      for (const originT of ['tcp', 'tls'] as const) {
        it(`the greeting of a raw ${originT} origin arrives first through ${name}`, async () => {
          const { conn } = make();
          const ref = conn.connect(rawDest(originT === 'tls' ? greetTls : greetTcp));
          await expectTunnel(conn, ref, ['raw']);
          await expectFirstBytes(conn, ref, GREETING);
          await helloEcho(conn, ref);
          await conn.close();
        });
      }
    }

    it('the greeting arrives first on conn.ref behind SOCKS at open()', async () => {
      const conn = conns.open({ host: 'localhost', port: socksTcp.port, protocols: [{ socks: rawDest(greetTls) }], retry: 0 });
      assert.equal(await conn.awaitUp(), 'raw');
      await expectFirstBytes(conn, conn.ref, GREETING);
      await helloEcho(conn, conn.ref);
      await conn.close();
    });
  });

  describe('bytes in the same write as the proxy reply are the first data, never dropped', () => {
    for (const tag of ['extra', 'extra-slow', 'slow'] as const) {
      for (const origin of ['plain', 'greeting'] as const) {
        it(`HTTP/1.1 CONNECT 2xx ${tag === 'slow' ? 'written one byte at a time' : `followed by extra bytes${tag === 'extra-slow' ? ', one byte at a time' : ' in one write'}`}, ${origin} raw origin`, async () => {
          const conn = openProxy(scripted, 'http');
          const target = origin === 'greeting' ? greetTcp : echoTcp;
          const ref = conn.connect(rawDest(target), { 'x-test': tag });
          await expectResponse(conn, ref, 200, true);
          await expectUp(conn, ref, 'raw');
          const expected = (tag === 'slow' ? '' : EXTRA) + (origin === 'greeting' ? GREETING : '');
          if (expected.length > 0) await expectFirstBytes(conn, ref, expected);
          await helloEcho(conn, ref);
          await conn.close();
        });
      }
    }

    it('HTTP/2 CONNECT 2xx followed at once by DATA: the first data message', async () => {
      const conn = openProxy(scriptedH2, 'http2');
      const ref = conn.connect(rawDest(greetTcp), { 'x-test': 'extra' });
      await expectTunnel(conn, ref, ['raw']);
      await expectFirstBytes(conn, ref, EXTRA + GREETING);
      await helloEcho(conn, ref);
      await conn.close();
    });

    for (const [name, behavior] of [
      ['in one write', { extraBytes: EXTRA }],
      ['one byte at a time', { extraBytes: EXTRA, writeByteAtATime: true }],
    ] as ReadonlyArray<readonly [string, Socks5Behavior]>) {
      it(`SOCKS5 success reply followed by extra bytes ${name}: first data on conn.ref`, async () => {
        const server = await startSocks5Server({ transport: 'tcp', behavior });
        try {
          const conn = conns.open({ host: 'localhost', port: server.port, protocols: [{ socks: rawDest(greetTcp) }], retry: 0 });
          assert.equal(await conn.awaitUp(), 'raw');
          await expectFirstBytes(conn, conn.ref, EXTRA + GREETING);
          await helloEcho(conn, conn.ref);
          await conn.close();
        } finally {
          await server.close();
        }
      });

      it(`SOCKS5 success reply followed by extra bytes ${name}, through an HTTP/1.1 CONNECT proxy: first data on the CONNECT ref`, async () => {
        const server = await startSocks5Server({ transport: 'tcp', behavior });
        try {
          const conn = openProxy(connectTcp, 'http');
          const ref = conn.connect({ host: 'localhost', port: server.port, protocols: [{ socks: rawDest(echoTcp) }] });
          await expectTunnel(conn, ref, ['socks', 'raw']);
          await expectFirstBytes(conn, ref, EXTRA);
          await helloEcho(conn, ref);
          await conn.close();
        } finally {
          await server.close();
        }
      });

      it(`SOCKS5 success reply followed by extra bytes ${name}, through an HTTP/2 CONNECT proxy`, async () => {
        const server = await startSocks5Server({ transport: 'tcp', behavior });
        try {
          const conn = openProxy(h2cProxy, 'http2');
          const ref = conn.connect({ host: 'localhost', port: server.port, protocols: [{ socks: rawDest(greetTcp) }] });
          await expectTunnel(conn, ref, ['socks', 'raw']);
          await expectFirstBytes(conn, ref, EXTRA + GREETING);
          await helloEcho(conn, ref);
          await conn.close();
        } finally {
          await server.close();
        }
      });
    }
  });

  describe('raw flow control', () => {
    for (const [name, proxyKind] of [
      ['HTTP/1.1 CONNECT', 'http'],
      ['HTTP/2 CONNECT', 'http2'],
    ] as const) {
      it(`{ flow: 1 } on connect() through ${name}: one data message, then nothing until updateFlow`, async () => {
        const conn = openProxy(proxyKind === 'http' ? connectTcp : h2cProxy, proxyKind);
        const ref = conn.connect(rawDest(echoTcp), undefined, { flow: 1 });
        await expectTunnel(conn, ref, ['raw']);
        await conn.data(ref, false, 'first');
        assert.equal((await readBytes(conn, ref, 5)).toString(), 'first');
        // The budget is spent: the echo of `second` must wait for updateFlow.
        await conn.data(ref, false, 'second');
        const early = await conn.await(ref, 300).catch((e: unknown) => e);
        assert.ok(isBurrowError(early, 'ERR_AWAIT_TIMEOUT'), `expected no message while the flow budget is spent, got ${isBurrowError(early) ? early.code : fmt(early as StreamMessage)}`);
        conn.updateFlow(ref, 1);
        assert.equal((await readBytes(conn, ref, 6)).toString(), 'second');
        await conn.close();
      });
    }
  });

  it('leaves no socket, TLS, HTTP/2 session or timer behind', async () => {
    await assertNoLeaks(baseline);
  });
});
