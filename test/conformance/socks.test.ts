// Gun's socks_SUITE (gun-reference §5.2) in burrow's form: SOCKS5 over TCP and
// TLS to HTTP/1.1 and HTTP/2 origins over TCP and TLS, without and with
// username/password authentication; chains of SOCKS servers; SOCKS behind
// HTTP/1.1 and HTTP/2 CONNECT proxies; every failure reply; the bound address.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { isBurrowError, type Connection, type SocksAuth } from '../../src/index.js';
import { createTestPki, type TestPki } from '../../src/testing/pki.js';
import { startOrigin, type TestOrigin } from '../../src/testing/origin.js';
import { startConnectProxy, type TestConnectProxy } from '../../src/testing/connect-proxy.js';
import { startH2ConnectProxy, type TestH2ConnectProxy } from '../../src/testing/h2-proxy.js';
import { startSocks5Server, type Socks5Behavior, type Socks5Event, type TestSocks5Server } from '../../src/testing/socks5-server.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';
import { connTracker, DEFAULT_BOUND, echoBody, echoedAuthority, expectError, expectResponse, expectTunnel, fmt, tunnelInfoOf } from './harness.js';


const CREDENTIALS = { username: 'user', password: 'password' };

type Transport = 'tcp' | 'tls';

describe('SOCKS5 (Gun socks_SUITE)', () => {
  let pki: TestPki;
  let baseline: string[];
  const conns = connTracker();
  afterEach(() => conns.closeAll());
  const origins = {} as Record<'http' | 'https' | 'h2c' | 'h2', TestOrigin>;
  const socks = {} as Record<`${Transport}-${'none' | 'auth'}` | `${Transport}-2`, TestSocks5Server>;
  let connectTcp: TestConnectProxy;
  let connectTls: TestConnectProxy;
  let h2cProxy: TestH2ConnectProxy;
  let h2Proxy: TestH2ConnectProxy;

  before(async () => {
    pki = createTestPki();
    [origins.http, origins.https, origins.h2c, origins.h2] = await Promise.all([
      startOrigin({ protocol: 'http', transport: 'tcp' }),
      startOrigin({ protocol: 'http', transport: 'tls', pki }),
      startOrigin({ protocol: 'http2', transport: 'tcp' }),
      startOrigin({ protocol: 'http2', transport: 'tls', pki }),
    ]);
    [socks['tcp-none'], socks['tls-none'], socks['tcp-auth'], socks['tls-auth'], socks['tcp-2'], socks['tls-2']] = await Promise.all([
      startSocks5Server({ transport: 'tcp' }),
      startSocks5Server({ transport: 'tls', pki }),
      startSocks5Server({ transport: 'tcp', auth: CREDENTIALS }),
      startSocks5Server({ transport: 'tls', pki, auth: CREDENTIALS }),
      startSocks5Server({ transport: 'tcp' }),
      startSocks5Server({ transport: 'tls', pki }),
    ]);
    [connectTcp, connectTls, h2cProxy, h2Proxy] = await Promise.all([
      startConnectProxy({ transport: 'tcp' }),
      startConnectProxy({ transport: 'tls', pki }),
      startH2ConnectProxy({ transport: 'tcp' }),
      startH2ConnectProxy({ transport: 'tls', pki }),
    ]);
    baseline = resourceSnapshot();
  });
  after(async () => {
    await Promise.all([...Object.values(origins), ...Object.values(socks), connectTcp, connectTls, h2cProxy, h2Proxy].map((s) => s.close()));
  });

  const tlsOf = (t: Transport) => (t === 'tls' ? { tls: { ca: pki.ca } } : {});
  const originHop = (kind: 'http' | 'https' | 'h2c' | 'h2') => {
    const transport: Transport = kind === 'https' || kind === 'h2' ? 'tls' : 'tcp';
    return {
      host: 'localhost',
      port: origins[kind].port,
      transport,
      ...tlsOf(transport),
      protocols: [kind === 'http' || kind === 'https' ? ('http' as const) : ('http2' as const)],
    };
  };
  const socksEntry = (s: TestSocks5Server, bound: { host: string; port: number } = DEFAULT_BOUND) => ({
    type: 'socks5' as const,
    host: 'localhost',
    port: s.port,
    transport: s.transport,
    protocol: 'socks',
    bound,
  });
  const newEvents = (s: TestSocks5Server, from: number): Socks5Event[] => s.events.slice(from);

  async function getEcho(conn: Connection, originPort: number, intermediaries: unknown[], tunnel?: Parameters<Connection['get']>[2]): Promise<void> {
    const ref = conn.get('/echo', {}, tunnel);
    assert.deepEqual(conn.streamInfo(ref)?.intermediaries, intermediaries, 'streamInfo(request).intermediaries');
    await expectResponse(conn, ref, 200, false);
    const echo = await echoBody(conn, ref);
    assert.equal(echoedAuthority(echo), `localhost:${originPort}`);
  }

  // socks5_{tcp,tls}_{http,https,h2c,h2}_{none,username_password}
  for (const transport of ['tcp', 'tls'] as const) {
    for (const kind of ['http', 'https', 'h2c', 'h2'] as const) {
      for (const auth of ['none', 'username_password'] as const) {
        it(`socks5_${transport}_${kind}_${auth}`, async () => {
          const server = socks[`${transport}-${auth === 'none' ? 'none' : 'auth'}`];
          const from = server.events.length;
          const methods: SocksAuth[] = auth === 'none' ? ['none'] : [CREDENTIALS];
          const target = originHop(kind);
          const conn = conns.open({
            host: 'localhost',
            port: server.port,
            transport,
            ...tlsOf(transport),
            protocols: [{ socks: { ...target, auth: methods } }],
            retry: 0,
          });
          const ups: string[] = [];
          conn.on('up', (e) => ups.push(e.protocol));
          assert.equal(await conn.awaitUp(), target.protocols[0]);
          assert.deepEqual(ups, [target.protocols[0]], 'one up event, for the protocol after SOCKS');
          const info = conn.info();
          assert.deepEqual(info.origin, { scheme: target.transport === 'tls' ? 'https' : 'http', host: 'localhost', port: target.port });
          assert.equal(info.transport, target.transport);
          assert.deepEqual(info.intermediaries, [socksEntry(server)]);
          await getEcho(conn, target.port, [socksEntry(server)]);
          const ev = newEvents(server, from);
          const expected: Socks5Event[] = [{ type: 'auth-methods', methods: [auth === 'none' ? 0 : 2] }];
          if (auth !== 'none') expected.push({ type: 'credentials', ...CREDENTIALS });
          expected.push({ type: 'connect', command: 1, atyp: 3, host: 'localhost', port: target.port });
          assert.deepEqual(ev, expected, 'what the SOCKS server saw');
          await conn.close();
        });
      }
    }
  }

  // socks5_{tcp,tls}_through_multiple_{tcp,tls}_proxies
  for (const proxies of ['tcp', 'tls'] as const) {
    for (const originTransport of ['tcp', 'tls'] as const) {
      it(`socks5_${originTransport}_through_multiple_${proxies}_proxies`, async () => {
        const first = socks[`${proxies}-none`];
        const second = socks[`${proxies}-2`];
        const kind = originTransport === 'tls' ? 'https' : 'http';
        const target = originHop(kind);
        const f1 = first.events.length;
        const f2 = second.events.length;
        const conn = conns.open({
          host: 'localhost',
          port: first.port,
          transport: proxies,
          ...tlsOf(proxies),
          protocols: [{ socks: { host: 'localhost', port: second.port, transport: proxies, ...tlsOf(proxies), protocols: [{ socks: target }] } }],
          retry: 0,
        });
        assert.equal(await conn.awaitUp(), 'http');
        const info = conn.info();
        assert.deepEqual(info.origin, { scheme: originTransport === 'tls' ? 'https' : 'http', host: 'localhost', port: target.port });
        assert.deepEqual(info.intermediaries, [socksEntry(first), socksEntry(second)]);
        await getEcho(conn, target.port, [socksEntry(first), socksEntry(second)]);
        assert.deepEqual(newEvents(first, f1).at(-1), { type: 'connect', command: 1, atyp: 3, host: 'localhost', port: second.port });
        assert.deepEqual(newEvents(second, f2).at(-1), { type: 'connect', command: 1, atyp: 3, host: 'localhost', port: target.port });
        await conn.close();
      });
    }
  }

  // socks5_{tcp,tls}_through_connect_{tcp,tls}_to_{tcp,tls}_origin
  for (const [socksT, proxyT, originT] of [
    ['tcp', 'tcp', 'tcp'],
    ['tls', 'tls', 'tcp'],
    ['tcp', 'tcp', 'tls'],
    ['tls', 'tls', 'tls'],
  ] as const) {
    it(`socks5_${socksT}_through_connect_${proxyT}_to_${originT}_origin`, async () => {
      const proxy = proxyT === 'tls' ? connectTls : connectTcp;
      const server = socks[`${socksT}-none`];
      const target = originHop(originT === 'tls' ? 'https' : 'http');
      const conn = conns.open({ host: 'localhost', port: proxy.port, transport: proxyT, ...tlsOf(proxyT), protocols: ['http'], retry: 0 });
      assert.equal(await conn.awaitUp(), 'http');
      const ref = conn.connect({ host: 'localhost', port: server.port, transport: socksT, ...tlsOf(socksT), protocols: [{ socks: target }] });
      await expectTunnel(conn, ref, ['socks', 'http']);
      const proxyEntry = { type: 'connect' as const, host: 'localhost', port: proxy.port, transport: proxyT, protocol: 'http' };
      assert.deepEqual(tunnelInfoOf(conn, ref), {
        state: 'running',
        intermediaries: [],
        tunnel: { transport: socksT, protocol: 'socks', scheme: undefined, host: 'localhost', port: server.port },
      });
      const info = conn.info();
      assert.deepEqual(info.origin, { scheme: originT === 'tls' ? 'https' : 'http', host: 'localhost', port: target.port });
      assert.deepEqual(info.intermediaries, [proxyEntry, socksEntry(server)]);
      await getEcho(conn, target.port, [proxyEntry, socksEntry(server)], { tunnel: ref });
      await conn.close();
    });
  }

  // socks5_tcp_through_h2_connect_tcp_to_tcp_origin (and its TLS twin).
  for (const [proxyT, socksT, originT] of [
    ['tcp', 'tcp', 'tcp'],
    ['tls', 'tls', 'tls'],
  ] as const) {
    it(`socks5_${socksT}_through_h2_connect_${proxyT}_to_${originT}_origin`, async () => {
      const proxy = proxyT === 'tls' ? h2Proxy : h2cProxy;
      const server = socks[`${socksT}-none`];
      const target = originHop(originT === 'tls' ? 'https' : 'http');
      const conn = conns.open({ host: 'localhost', port: proxy.port, transport: proxyT, ...tlsOf(proxyT), protocols: ['http2'], retry: 0 });
      assert.equal(await conn.awaitUp(), 'http2');
      const ref = conn.connect({ host: 'localhost', port: server.port, transport: socksT, ...tlsOf(socksT), protocols: [{ socks: target }] });
      await expectTunnel(conn, ref, ['socks', 'http']);
      // The connection-level view stops at the HTTP/2 proxy.
      const info = conn.info();
      assert.deepEqual(info.origin, { scheme: proxyT === 'tls' ? 'https' : 'http', host: 'localhost', port: proxy.port });
      assert.equal(info.protocol, 'http2');
      assert.deepEqual(info.intermediaries, []);
      assert.deepEqual(tunnelInfoOf(conn, ref), {
        state: 'running',
        intermediaries: [],
        tunnel: { transport: socksT, protocol: 'socks', scheme: undefined, host: 'localhost', port: server.port },
      });
      const proxyEntry = { type: 'connect' as const, host: 'localhost', port: proxy.port, transport: proxyT, protocol: 'http2' };
      await getEcho(conn, target.port, [proxyEntry, socksEntry(server)], { tunnel: ref });
      await conn.close();
    });
  }

  describe('failures', () => {
    const REPLY_NAMES = [
      '',
      'general_failure',
      'connection_not_allowed',
      'network_unreachable',
      'host_unreachable',
      'connection_refused',
      'ttl_expired',
      'command_not_supported',
      'address_type_not_supported',
    ];

    async function withSocks<T>(opts: { transport?: Transport; auth?: typeof CREDENTIALS; behavior?: Socks5Behavior }, fn: (s: TestSocks5Server) => Promise<T>): Promise<T> {
      const s = await startSocks5Server({ transport: opts.transport ?? 'tcp', ...(opts.transport === 'tls' ? { pki } : {}), ...(opts.auth ? { auth: opts.auth } : {}), ...(opts.behavior ? { behavior: opts.behavior } : {}) });
      try {
        return await fn(s);
      } finally {
        await s.close();
      }
    }

    for (let code = 1; code <= 8; code++) {
      it(`reply ${code} (${REPLY_NAMES[code]}) at open() is ERR_SOCKS_REPLY naming the SOCKS hop`, async () => {
        await withSocks({ behavior: { reply: code } }, async (s) => {
          const conn = conns.open({ host: 'localhost', port: s.port, protocols: [{ socks: originHop('http') }], retry: 0 });
          await assert.rejects(conn.awaitUp(), (e: unknown) => {
            assert.ok(isBurrowError(e, 'ERR_SOCKS_REPLY'), String(e));
            assert.equal(e.stage, 'socks-reply');
            assert.equal(e.details['replyName'], REPLY_NAMES[code]);
            assert.equal(e.details['reply'], code);
            assert.deepEqual(e.hop, { index: 0, kind: 'socks5', host: 'localhost', port: s.port, transport: 'tcp' });
            return true;
          });
          assert.equal(conn.state, 'closed');
          await conn.close();
        });
      });
    }

    it('a failure reply through an HTTP/1.1 CONNECT proxy is an error on the CONNECT ref naming hop 1', async () => {
      await withSocks({ transport: 'tls', behavior: { reply: 5 } }, async (s) => {
        const conn = conns.open({ host: 'localhost', port: connectTcp.port, protocols: ['http'], retry: 0 });
        const ref = conn.connect({ host: 'localhost', port: s.port, transport: 'tls', tls: { ca: pki.ca }, protocols: [{ socks: originHop('http') }] });
        await expectResponse(conn, ref, 200, true);
        const e = await expectError(conn, ref, 'ERR_SOCKS_REPLY');
        assert.equal(e.stage, 'socks-reply');
        assert.equal(e.details['replyName'], 'connection_refused');
        assert.deepEqual(e.hop, { index: 1, kind: 'socks5', host: 'localhost', port: s.port, transport: 'tls' });
        await conn.close();
      });
    });

    it('a failure reply through an HTTP/2 CONNECT proxy fails that tunnel only', async () => {
      await withSocks({ behavior: { reply: 2 } }, async (s) => {
        const conn = conns.open({ host: 'localhost', port: h2cProxy.port, protocols: ['http2'], retry: 0 });
        const ref = conn.connect({ host: 'localhost', port: s.port, protocols: [{ socks: originHop('http') }] });
        await expectResponse(conn, ref, 200, true);
        const e = await expectError(conn, ref, 'ERR_SOCKS_REPLY');
        assert.equal(e.details['replyName'], 'connection_not_allowed');
        assert.deepEqual(e.hop, { index: 1, kind: 'socks5', host: 'localhost', port: s.port, transport: 'tcp' });
        // The proxy connection still serves requests.
        const status = conn.get('/proxy-status');
        await expectResponse(conn, status, 200, false);
        assert.equal((await conn.awaitBody(status)).body.toString(), 'proxy ok');
        await conn.close();
      });
    });

    it('refused credentials are ERR_SOCKS_AUTH at stage socks-auth', async () => {
      const server = socks['tcp-auth'];
      const from = server.events.length;
      const conn = conns.open({
        host: 'localhost',
        port: server.port,
        protocols: [{ socks: { ...originHop('http'), auth: [{ username: 'user', password: 'wrong' }] } }],
        retry: 0,
      });
      await assert.rejects(conn.awaitUp(), (e: unknown) => {
        assert.ok(isBurrowError(e, 'ERR_SOCKS_AUTH'), String(e));
        assert.equal(e.stage, 'socks-auth');
        assert.deepEqual(e.hop, { index: 0, kind: 'socks5', host: 'localhost', port: server.port, transport: 'tcp' });
        return true;
      });
      assert.deepEqual(newEvents(server, from), [
        { type: 'auth-methods', methods: [2] },
        { type: 'credentials', username: 'user', password: 'wrong' },
      ]);
      await conn.close();
    });

    it('a server rejecting good credentials (rejectAuth) is ERR_SOCKS_AUTH', async () => {
      await withSocks({ auth: CREDENTIALS, behavior: { rejectAuth: true } }, async (s) => {
        const conn = conns.open({ host: 'localhost', port: s.port, protocols: [{ socks: { ...originHop('http'), auth: [CREDENTIALS] } }], retry: 0 });
        await assert.rejects(conn.awaitUp(), (e: unknown) => isBurrowError(e, 'ERR_SOCKS_AUTH') && e.stage === 'socks-auth');
        await conn.close();
      });
    });

    it('no acceptable method is ERR_SOCKS_NO_ACCEPTABLE_METHOD', async () => {
      const server = socks['tls-auth'];
      const conn = conns.open({
        host: 'localhost',
        port: server.port,
        transport: 'tls',
        tls: { ca: pki.ca },
        protocols: [{ socks: { ...originHop('http'), auth: ['none'] } }],
        retry: 0,
      });
      await assert.rejects(conn.awaitUp(), (e: unknown) => {
        assert.ok(isBurrowError(e, 'ERR_SOCKS_NO_ACCEPTABLE_METHOD'), String(e));
        assert.equal(e.stage, 'socks-auth');
        assert.deepEqual(e.hop, { index: 0, kind: 'socks5', host: 'localhost', port: server.port, transport: 'tls' });
        return true;
      });
      await conn.close();
    });

    it('offering none and username/password lets the server pick username/password', async () => {
      const server = socks['tcp-auth'];
      const from = server.events.length;
      const conn = conns.open({ host: 'localhost', port: server.port, protocols: [{ socks: { ...originHop('http'), auth: ['none', CREDENTIALS] } }], retry: 0 });
      assert.equal(await conn.awaitUp(), 'http');
      assert.deepEqual(newEvents(server, from).slice(0, 2), [
        { type: 'auth-methods', methods: [0, 2] },
        { type: 'credentials', ...CREDENTIALS },
      ]);
      await conn.close();
    });
  });

  describe('bound address', () => {
    for (const [name, boundHost, boundPort] of [
      ['IPv4', '10.20.30.40', 1080],
      ['IPv6', '2001:db8::1', 4242],
      ['domain name', 'bound.example', 65535],
    ] as const) {
      it(`the ${name} bound address is reported in info().intermediaries[i].bound`, async () => {
        const first = await startSocks5Server({ transport: 'tcp', behavior: { boundHost, boundPort } });
        try {
          const second = socks['tcp-2'];
          const target = originHop('h2c');
          const conn = conns.open({
            host: 'localhost',
            port: first.port,
            protocols: [{ socks: { host: 'localhost', port: second.port, protocols: [{ socks: target }] } }],
            retry: 0,
          });
          assert.equal(await conn.awaitUp(), 'http2');
          const inter = conn.info().intermediaries;
          assert.deepEqual(inter.map((i) => i.bound), [{ host: boundHost, port: boundPort }, DEFAULT_BOUND]);
          await conn.close();
        } finally {
          await first.close();
        }
      });
    }
  });

  describe('SOCKS inside an HTTP/2 CONNECT tunnel carries up messages on the CONNECT ref', () => {
    it('up socks, then up http2 for an h2 origin behind SOCKS over TLS', async () => {
      const server = socks['tls-none'];
      const target = originHop('h2');
      const conn = conns.open({ host: 'localhost', port: h2Proxy.port, transport: 'tls', tls: { ca: pki.ca }, protocols: ['http2'], retry: 0 });
      const ref = conn.connect({ host: 'localhost', port: server.port, transport: 'tls', tls: { ca: pki.ca }, protocols: [{ socks: target }] });
      const msgs: string[] = [];
      for (let i = 0; i < 3; i++) msgs.push(fmt(await conn.await(ref)));
      assert.deepEqual(msgs, ['response 200 fin=true', 'up socks', 'up http2']);
      await conn.close();
    });
  });

  it('leaves no socket, TLS, HTTP/2 session or timer behind', async () => {
    await assertNoLeaks(baseline);
  });
});
