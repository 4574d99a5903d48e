// SOCKS4 and SOCKS4a through the connection API: `{ socks: { version, userId } }` at open(), inside HTTP/1.1
// and HTTP/2 CONNECT tunnels and over TLS; the reply codes as typed errors naming the hop; bytes sent with the
// reply are the tunnel's first bytes; the handshake timeout; no leak.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { isBurrowError, type Connection, type SocksOptions } from '../../src/index.js';
import { createTestPki, type TestPki } from '../../src/testing/pki.js';
import { startOrigin, type TestOrigin } from '../../src/testing/origin.js';
import { startConnectProxy, type TestConnectProxy } from '../../src/testing/connect-proxy.js';
import { startH2ConnectProxy, type TestH2ConnectProxy } from '../../src/testing/h2-proxy.js';
import { startEchoServer, type TestEchoServer } from '../../src/testing/echo-server.js';
import { startSocks4Server, type Socks4Behavior, type TestSocks4Server } from '../../src/testing/socks4-server.js';
import type { StreamRef } from '../../src/shared/stream-ref.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';
import { connTracker, echoBody, echoedAuthority, expectError, expectTunnel, fmt, readBytes } from './harness.js';

const EXTRA = 'first-bytes-of-the-tunnel';

describe('SOCKS4 and SOCKS4a (connection API)', () => {
  let pki: TestPki;
  let baseline: string[];
  const conns = connTracker();
  afterEach(() => conns.closeAll());
  let http: TestOrigin;
  let h2: TestOrigin;
  let echo: TestEchoServer;
  let socks: TestSocks4Server;
  let socksTls: TestSocks4Server;
  let connectTcp: TestConnectProxy;
  let h2Proxy: TestH2ConnectProxy;

  before(async () => {
    pki = createTestPki();
    [http, h2, echo, socks, socksTls, connectTcp, h2Proxy] = await Promise.all([
      startOrigin({ protocol: 'http', transport: 'tcp' }),
      startOrigin({ protocol: 'http2', transport: 'tls', pki }),
      startEchoServer({ transport: 'tcp' }),
      startSocks4Server(),
      startSocks4Server({ transport: 'tls', pki }),
      startConnectProxy({ transport: 'tcp' }),
      startH2ConnectProxy({ transport: 'tls', pki }),
    ]);
    baseline = resourceSnapshot();
  });
  after(async () => {
    await Promise.all([http, h2, echo, socks, socksTls, connectTcp, h2Proxy].map((s) => s.close()));
  });

  const toHttp = (extra: Partial<SocksOptions> = {}): SocksOptions => ({ host: '127.0.0.1', port: http.port, version: 4, ...extra });
  const toH2 = (extra: Partial<SocksOptions> = {}): SocksOptions => ({
    host: '127.0.0.1', port: h2.port, version: 4, transport: 'tls', tls: { ca: pki.ca, servername: 'localhost' }, protocols: ['http2'], ...extra,
  });

  async function get(conn: Connection, tunnel?: StreamRef): Promise<string | undefined> {
    const ref = conn.get('/echo', {}, tunnel ? { tunnel } : {});
    const res = await conn.await(ref);
    assert.ok(res.type === 'response' && res.status === 200, fmt(res));
    return echoedAuthority(await echoBody(conn, ref));
  }

  it('SOCKS4 at open(): an IPv4 destination, the user id sent, up socks then http', async () => {
    const from = socks.events.length;
    const conn = conns.open({ host: 'localhost', port: socks.port, protocols: [{ socks: toHttp({ userId: 'alice' }) }], retry: 0 });
    assert.equal(await conn.awaitUp(), 'http');
    assert.equal(await get(conn), `127.0.0.1:${http.port}`);
    assert.deepEqual(socks.events.slice(from), [{ type: 'connect', version: '4', command: 1, host: '127.0.0.1', port: http.port, userId: 'alice' }]);
    assert.deepEqual(conn.info().intermediaries, [{ type: 'socks4', host: 'localhost', port: socks.port, transport: 'tcp', protocol: 'socks', bound: { host: '0.0.0.0', port: 0 } }]);
  });

  it('SOCKS4a at open(): the name goes to the proxy, which resolves it', async () => {
    const from = socks.events.length;
    const conn = conns.open({ host: 'localhost', port: socks.port, protocols: [{ socks: toHttp({ host: 'localhost', version: '4a' }) }], retry: 0 });
    assert.equal(await conn.awaitUp(), 'http');
    assert.equal(await get(conn), `localhost:${http.port}`);
    assert.deepEqual(socks.events.slice(from), [{ type: 'connect', version: '4a', command: 1, host: 'localhost', port: http.port, userId: '' }]);
  });

  it('SOCKS4 over TLS, then TLS to an HTTP/2 origin (TLS in TLS)', async () => {
    const conn = conns.open({ host: 'localhost', port: socksTls.port, transport: 'tls', tls: { ca: pki.ca }, protocols: [{ socks: toH2() }], retry: 0 });
    assert.equal(await conn.awaitUp(), 'http2');
    // Reached by address, verified by the servername given.
    assert.equal(await get(conn), `127.0.0.1:${h2.port}`);
  });

  it('SOCKS4 as hop 2 inside an HTTP/1.1 CONNECT tunnel', async () => {
    const conn = conns.open({ host: 'localhost', port: connectTcp.port, protocols: ['http'], retry: 0 });
    const ref = conn.connect({ host: 'localhost', port: socks.port, protocols: [{ socks: toHttp() }] });
    await expectTunnel(conn, ref, ['socks', 'http']);
    assert.equal(await get(conn, ref), `127.0.0.1:${http.port}`);
  });

  it('SOCKS4a as hop 2 inside an HTTP/2 CONNECT stream, two tunnels on one connection', async () => {
    const conn = conns.open({ host: 'localhost', port: h2Proxy.port, transport: 'tls', tls: { ca: pki.ca }, protocols: ['http2'], retry: 0 });
    const a = conn.connect({ host: 'localhost', port: socks.port, protocols: [{ socks: toH2({ host: 'localhost', version: '4a', tls: { ca: pki.ca } }) }] });
    const b = conn.connect({ host: 'localhost', port: socks.port, protocols: [{ socks: toHttp() }] });
    await expectTunnel(conn, a, ['socks', 'http2']);
    await expectTunnel(conn, b, ['socks', 'http']);
    assert.deepEqual(await Promise.all([get(conn, a), get(conn, b)]), [`localhost:${h2.port}`, `127.0.0.1:${http.port}`]);
    const si = conn.streamInfo(a);
    assert.deepEqual(si?.tunnel, { transport: 'tcp', protocol: 'socks', scheme: undefined, host: 'localhost', port: socks.port });
  });

  it('the layer events: kind socks4, its target, version, reply and bound address', async () => {
    const seen: Array<{ kind: string; hop: string; socks4: unknown }> = [];
    const conn = conns.open({
      host: 'localhost', port: socks.port, protocols: [{ socks: toHttp({ host: 'localhost', version: '4a' }) }], retry: 0,
      events: { layerUp: (e) => void seen.push({ kind: e.layer.kind, hop: `${e.layer.hop.index}:${e.layer.hop.kind}`, socks4: e.layer.socks4 }) },
    });
    await conn.awaitUp();
    assert.deepEqual(seen.find((l) => l.kind === 'socks4'), {
      kind: 'socks4', hop: '0:socks4', socks4: { target: `localhost:${http.port}`, version: '4a', reply: 0x5a, bound: { host: '0.0.0.0', port: 0 } },
    });
  });

  describe('refusals and broken replies name the hop', () => {
    const cases: Array<[string, Socks4Behavior, string, Record<string, unknown>]> = [
      ['0x5B rejected', { reply: 0x5b }, 'ERR_SOCKS_REPLY', { reply: 0x5b, replyName: 'rejected' }],
      ['0x5C identd unreachable', { reply: 0x5c }, 'ERR_SOCKS_REPLY', { reply: 0x5c, replyName: 'identd_unreachable' }],
      ['0x5D identd mismatch', { reply: 0x5d }, 'ERR_SOCKS_REPLY', { reply: 0x5d, replyName: 'identd_mismatch' }],
      ['a SOCKS5 answer', { garbage: Buffer.from([5, 0]) }, 'ERR_SOCKS_PROTOCOL', { phase: 'connect', version: 5 }],
      ['an unknown code', { reply: 0x42 }, 'ERR_SOCKS_PROTOCOL', { phase: 'connect', reply: 0x42, replyName: 'unknown_66' }],
      ['half a reply then close', { closeMidHandshake: true }, 'ERR_SOCKS_PROTOCOL', { phase: 'connect' }],
    ];
    for (const [name, behavior, code, details] of cases) {
      it(`${name}: ${code} at open(), stage socks-reply, hop 0 socks4`, async () => {
        const server = await startSocks4Server({ behavior });
        try {
          const conn = conns.open({ host: 'localhost', port: server.port, protocols: [{ socks: toHttp() }], retry: 0 });
          await assert.rejects(conn.awaitUp(), (e: unknown) => {
            assert.ok(isBurrowError(e), String(e));
            assert.equal(e.code, code, e.message);
            assert.equal(e.stage, 'socks-reply');
            assert.deepEqual(e.hop, { index: 0, kind: 'socks4', host: 'localhost', port: server.port, transport: 'tcp' });
            assert.deepEqual(e.details, details);
            return true;
          });
        } finally {
          await server.close();
        }
      });
    }

    it('a refusal inside an HTTP/2 CONNECT stream fails that tunnel only, naming hop 1', async () => {
      const server = await startSocks4Server({ userId: 'alice' });
      try {
        const conn = conns.open({ host: 'localhost', port: h2Proxy.port, transport: 'tls', tls: { ca: pki.ca }, protocols: ['http2'], retry: 0 });
        const bad = conn.connect({ host: 'localhost', port: server.port, protocols: [{ socks: toHttp({ userId: 'mallory' }) }] });
        const good = conn.connect({ host: 'localhost', port: server.port, protocols: [{ socks: toHttp({ userId: 'alice' }) }] });
        const m = await conn.await(bad);
        assert.ok(m.type === 'response' && m.status === 200, fmt(m));
        const e = await expectError(conn, bad, 'ERR_SOCKS_REPLY');
        assert.equal(e.details['replyName'], 'identd_mismatch');
        assert.deepEqual(e.hop, { index: 1, kind: 'socks4', host: 'localhost', port: server.port, transport: 'tcp' });
        await expectTunnel(conn, good, ['socks', 'http']);
        assert.equal(await get(conn, good), `127.0.0.1:${http.port}`);
      } finally {
        await server.close();
      }
    });

    it('no reply within handshakeTimeout: ERR_SOCKS_TIMEOUT during socks-reply', async () => {
      const server = await startSocks4Server({ behavior: { neverAnswer: true } });
      try {
        const conn = conns.open({ host: 'localhost', port: server.port, protocols: [{ socks: toHttp({ handshakeTimeout: 50 }) }], retry: 0 });
        await assert.rejects(conn.awaitUp(), (e: unknown) => {
          assert.ok(isBurrowError(e, 'ERR_SOCKS_TIMEOUT'), String(e));
          assert.match(e.message, /SOCKS4 handshake timed out after 50 ms/);
          assert.deepEqual(e.details, { timeoutMs: 50, during: 'socks-reply' });
          assert.equal(e.hop?.kind, 'socks4');
          return true;
        });
      } finally {
        await server.close();
      }
    });
  });

  describe('bytes in the same write as the reply are the first data, never dropped', () => {
    for (const [name, behavior] of [
      ['in one write', { extraBytes: EXTRA }],
      ['one byte at a time', { extraBytes: EXTRA, writeByteAtATime: true }],
    ] as ReadonlyArray<readonly [string, Socks4Behavior]>) {
      it(`granted reply followed by extra bytes ${name}: first data on conn.ref, then the echo`, async () => {
        const server = await startSocks4Server({ behavior });
        try {
          const conn = conns.open({ host: 'localhost', port: server.port, protocols: [{ socks: { host: '127.0.0.1', port: echo.port, version: 4, protocols: ['raw'] } }], retry: 0 });
          assert.equal(await conn.awaitUp(), 'raw');
          assert.equal((await readBytes(conn, conn.ref, EXTRA.length)).toString('latin1'), EXTRA);
          await conn.data(conn.ref, false, 'Hello world!');
          assert.equal((await readBytes(conn, conn.ref, 12)).toString(), 'Hello world!');
        } finally {
          await server.close();
        }
      });
    }
  });

  describe('options', () => {
    const bad: Array<[string, Record<string, unknown>, string, RegExp]> = [
      ['a name with version 4', { host: 'localhost', port: 80, version: 4 }, 'protocols[0].socks.host', /resolve it first/],
      ['an IPv6 address', { host: '::1', port: 80, version: '4a' }, 'protocols[0].socks.host', /IPv4 addresses only/],
      ['auth with SOCKS4', { host: '127.0.0.1', port: 80, version: 4, auth: ['none'] }, 'protocols[0].socks.auth', /SOCKS5/],
      ['userId with SOCKS5', { host: '127.0.0.1', port: 80, userId: 'a' }, 'protocols[0].socks.userId', /SOCKS4/],
      ['a NUL in the user id', { host: '127.0.0.1', port: 80, version: 4, userId: 'a\0' }, 'protocols[0].socks.userId', /NUL/],
      ['an unknown version', { host: '127.0.0.1', port: 80, version: 6 }, 'protocols[0].socks.version', /5, 4 or '4a'/],
    ];
    for (const [name, socksOpts, option, message] of bad) {
      it(`open() refuses ${name}`, () => {
        assert.throws(
          () => conns.open({ host: 'localhost', port: 1, protocols: [{ socks: socksOpts as unknown as SocksOptions }] }),
          (e: unknown) => isBurrowError(e, 'ERR_INVALID_OPTION') && e.details['option'] === option && message.test(e.message),
        );
      });
    }
  });

  it('leaves no socket, TLS, HTTP/2 session or timer behind', async () => {
    await conns.closeAll();
    await assertNoLeaks(baseline);
  });
});
