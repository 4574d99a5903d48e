// Chains deeper than Gun's matrix: three and four proxies mixing HTTP/1.1
// CONNECT, HTTP/2 CONNECT and SOCKS5 over TCP and TLS (TLS nested up to four
// deep), and 200 concurrent tunnels multiplexed on one HTTP/2 proxy session.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { type Connection, type IntermediaryInfo, type Notification, type StreamRef } from '../../src/index.js';
import { startH2ConnectProxy } from '../../src/testing/h2-proxy.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';
import {
  connTracker,
  echoBody,
  echoedAuthority,
  expectResponse,
  expectTunnel,
  hopTo,
  intermediary,
  isH2,
  isSocks,
  originPort,
  protocolOf,
  proxyPort,
  readBytes,
  socksTo,
  startServerSet,
  transportOf,
  tunnelInfoOf,
  type EndpointKind,
  type HopTarget,
  type OriginKind,
  type ProxyKind,
  type ServerSet,
} from './harness.js';

function schemeOf(kind: EndpointKind): 'http' | 'https' | undefined {
  const p = protocolOf(kind);
  if (p !== 'http' && p !== 'http2') return undefined;
  return transportOf(kind) === 'tls' ? 'https' : 'http';
}

describe('deep chains', () => {
  let s: ServerSet;
  let baseline: string[];
  const conns = connTracker();
  afterEach(() => conns.closeAll());
  before(async () => {
    s = await startServerSet();
    baseline = resourceSnapshot();
  });
  after(async () => {
    await s.close();
  });

  /**
   * Walks a chain of proxies to an origin: SOCKS hops are part of the
   * protocols of the hop before them (open() or a CONNECT destination), every
   * HTTP proxy gets a connect() to the next hop inside the previous tunnel.
   * Checks the up messages, streamInfo of every tunnel, info(), and the
   * origin traffic with streamInfo of the request while it runs.
   */
  async function runChain(proxies: readonly ProxyKind[], origin: OriginKind): Promise<void> {
    const kinds: EndpointKind[] = [...proxies, origin];
    const ports = [...proxies.map((k) => proxyPort(s, k)), originPort(s, origin)];
    const targets: HopTarget[] = new Array<HopTarget>(kinds.length);
    for (let i = kinds.length - 1; i >= 0; i--) {
      const next = targets[i + 1];
      const kind = kinds[i] as EndpointKind;
      targets[i] = hopTo(s.pki, kind, ports[i] as number, isSocks(kind) ? socksTo(next as HopTarget) : undefined);
    }
    const entries: IntermediaryInfo[] = proxies.map((k, i) => intermediary(k, ports[i] as number));
    const nextNonSocks = (from: number): number => {
      let j = from;
      while (isSocks(kinds[j] as EndpointKind)) j++;
      return j;
    };
    const endpoint = (i: number) => ({
      transport: transportOf(kinds[i] as EndpointKind),
      protocol: protocolOf(kinds[i] as EndpointKind),
      scheme: schemeOf(kinds[i] as EndpointKind),
      host: 'localhost',
      port: ports[i] as number,
    });

    const conn: Connection = conns.open({ ...(targets[0] as HopTarget), retry: 0 });
    let j = nextNonSocks(0);
    assert.equal(await conn.awaitUp(), protocolOf(kinds[j] as EndpointKind), 'awaitUp');
    let tunnel: StreamRef | undefined;
    while (j < kinds.length - 1) {
      // Hop j is an HTTP proxy: CONNECT to hop j + 1.
      const ref = conn.connect(targets[j + 1] as HopTarget, undefined, tunnel === undefined ? undefined : { tunnel });
      const m = nextNonSocks(j + 1);
      const ups: string[] = [];
      for (let k = j + 1; k < m; k++) ups.push('socks');
      ups.push(protocolOf(kinds[m] as EndpointKind));
      await expectTunnel(conn, ref, ups);
      assert.deepEqual(tunnelInfoOf(conn, ref), { state: 'running', intermediaries: entries.slice(0, j), tunnel: endpoint(j + 1) }, `streamInfo of the CONNECT to hop ${j + 1}`);
      tunnel = ref;
      j = m;
    }

    // info(): stops at the first HTTP/2 proxy, else the origin.
    const h = kinds.findIndex((k, i) => i < proxies.length && isH2(k));
    const at = h >= 0 ? h : kinds.length - 1;
    const info = conn.info();
    assert.deepEqual(
      { protocol: info.protocol, transport: info.transport, origin: info.origin, intermediaries: info.intermediaries },
      {
        protocol: protocolOf(kinds[at] as EndpointKind),
        transport: transportOf(kinds[at] as EndpointKind),
        origin: { scheme: schemeOf(kinds[at] as EndpointKind), host: 'localhost', port: ports[at] },
        intermediaries: entries.slice(0, at),
      },
      'info()',
    );

    if (protocolOf(origin) === 'raw') {
      const ref = tunnel ?? conn.ref;
      await conn.data(ref, false, 'Hello world!');
      assert.equal((await readBytes(conn, ref, 12)).toString(), 'Hello world!');
    } else {
      const r = conn.get('/echo', {}, tunnel === undefined ? undefined : { tunnel });
      assert.deepEqual(conn.streamInfo(r)?.intermediaries, entries, 'streamInfo(request).intermediaries');
      await expectResponse(conn, r, 200, false);
      const e = await echoBody(conn, r);
      assert.equal(echoedAuthority(e), `localhost:${ports.at(-1)}`);
      assert.equal(e.httpVersion, protocolOf(origin) === 'http2' ? '2.0' : '1.1');
    }
    await conn.close();
  }

  const chains: ReadonlyArray<readonly [readonly ProxyKind[], OriginKind, string]> = [
    [['https', 'h2', 'socks5tls'], 'https', 'TLS 4 deep: https proxy, h2 proxy, SOCKS over TLS, TLS origin'],
    [['socks5tls', 'https', 'h2', 'socks5'], 'h2', 'TLS 4 deep: SOCKS over TLS, https proxy, h2 proxy, SOCKS, h2 origin'],
    [['socks5tls', 'https', 'h2', 'socks5'], 'https', 'TLS 4 deep, HTTP/1.1 origin'],
    [['h2', 'https', 'h2c'], 'rawtls', 'h2 -> https -> h2c -> raw TLS'],
    [['socks5', 'socks5tls', 'h2', 'https'], 'h2c', 'two SOCKS at open(), then h2 and https proxies'],
    [['http', 'socks5', 'h2c', 'socks5tls'], 'http', 'SOCKS inside CONNECT tunnels of both HTTP versions'],
    [['https', 'http', 'socks5tls'], 'rawtls', 'conn-wide all the way to a raw TLS origin (TLS 3 deep)'],
    [['h2c', 'h2', 'https', 'socks5tls'], 'https', 'stream-wide tunnels nested: h2c -> h2 -> https -> SOCKS TLS -> https'],
  ];
  for (const [proxies, origin, what] of chains) {
    it(`${[...proxies, origin].join('_')} (${what})`, () => runChain(proxies, origin));
  }

  for (const when of ['right after awaitUp()', "after the proxy's SETTINGS arrived"] as const) {
    it(`200 concurrent tunnels over one h2c proxy connection, one request each (${when})`, async () => {
      const proxy = await startH2ConnectProxy({ transport: 'tcp' });
      try {
        const conn = conns.open({ host: 'localhost', port: proxy.port, protocols: ['http2'], retry: 0 });
        const settings = new Promise<Notification>((resolve) => conn.once('notify', resolve));
        assert.equal(await conn.awaitUp(), 'http2');
        if (when !== 'right after awaitUp()') assert.equal((await settings).type, 'settings');
        const kinds: OriginKind[] = ['http', 'https'];
        const results = await Promise.all(
          Array.from({ length: 200 }, async (_, i) => {
            const kind = kinds[i % kinds.length] as OriginKind;
            const ref = conn.connect(hopTo(s.pki, kind, originPort(s, kind)));
            await expectTunnel(conn, ref, [protocolOf(kind)], 200);
            const r = conn.get('/echo', { 'x-n': String(i) }, { tunnel: ref });
            await expectResponse(conn, r, 200, false, 10000);
            const e = await echoBody(conn, r, 10000);
            assert.equal(echoedAuthority(e), `localhost:${originPort(s, kind)}`);
            return e.headers.find(([k]) => k === 'x-n')?.[1];
          }),
        );
        assert.deepEqual(results, Array.from({ length: 200 }, (_, i) => String(i)));
        assert.equal(proxy.sessions, 1);
        assert.equal(proxy.requests.length, 200);
        await conn.close();
      } finally {
        await proxy.close();
      }
    });
  }

  it('leaves no socket, TLS, HTTP/2 session or timer behind', async () => {
    await assertNoLeaks(baseline);
  });
});
