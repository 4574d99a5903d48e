// Gun's tunnel_SUITE (gun-reference §5.1): every Proxy1 -> Proxy2 -> Origin
// combination of HTTP/1.1 CONNECT, HTTP/2 CONNECT and SOCKS5 proxies over TCP
// and TLS, and SOCKS4a over TCP, to HTTP/1.1, HTTP/2 and raw origins over TCP
// and TLS: 7 x 7 x 6 = 294 cases named `proxy1_proxy2_origin`, generated here.
//
// Each case, in burrow's form of do_tunnel/1:
// 1. open() to Proxy1 (a SOCKS Proxy1 carries the SOCKS options reaching
//    Proxy2 in `protocols`, so awaitUp() resolves with what runs after it);
// 2. reach Proxy2: connect() through Proxy1 (response 200 fin, then `up`
//    messages: `socks` and the next protocol when Proxy2 is SOCKS);
// 3. reach the Origin: connect() through Proxy2 unless Proxy2 is SOCKS;
// 4. origin traffic: GET /echo inside the innermost tunnel (200, the echoed
//    request names the origin's authority), or `Hello world!` echoed by a raw
//    origin;
// 5. streamInfo of each tunnel, of the request while it runs, and info().
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { open, type Connection, type IntermediaryInfo, type StreamRef } from '../../src/index.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';
import {
  ORIGIN_KINDS,
  PROXY_KINDS,
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
  type OriginKind,
  type ProxyKind,
  type ServerSet,
} from './harness.js';

function schemeOf(kind: EndpointKind): 'http' | 'https' | undefined {
  const p = protocolOf(kind);
  if (p !== 'http' && p !== 'http2') return undefined;
  return transportOf(kind) === 'tls' ? 'https' : 'http';
}

async function runCase(s: ServerSet, p1: ProxyKind, p2: ProxyKind, o: OriginKind): Promise<void> {
  const pki = s.pki;
  const p1Port = proxyPort(s, p1);
  const p2Port = proxyPort(s, p2);
  const oPort = originPort(s, o);
  const originHop = hopTo(pki, o, oPort);
  const p2Hop = hopTo(pki, p2, p2Port, isSocks(p2) ? socksTo(originHop) : undefined);
  const p1Hop = hopTo(pki, p1, p1Port, isSocks(p1) ? socksTo(p2Hop) : undefined);
  const conn: Connection = open({ ...p1Hop, retry: 0 });
  try {
    // 1. Proxy1 (and whatever a SOCKS Proxy1 chain reaches).
    const expectedUp = isSocks(p1) ? (isSocks(p2) ? protocolOf(o) : protocolOf(p2)) : protocolOf(p1);
    assert.equal(await conn.awaitUp(), expectedUp, 'awaitUp');

    // 2. Proxy2.
    let ref1: StreamRef | undefined;
    if (!isSocks(p1)) {
      ref1 = conn.connect(p2Hop);
      await expectTunnel(conn, ref1, isSocks(p2) ? ['socks', protocolOf(o)] : [protocolOf(p2)]);
    }

    // 3. Origin.
    let ref2: StreamRef | undefined;
    if (!isSocks(p2)) {
      ref2 = conn.connect(originHop, undefined, ref1 === undefined ? undefined : { tunnel: ref1 });
      await expectTunnel(conn, ref2, [protocolOf(o)]);
    }
    const inner = ref2 ?? ref1;

    const i1 = intermediary(p1, p1Port);
    const i2 = intermediary(p2, p2Port);
    const endpoint = (kind: EndpointKind, port: number) => ({ transport: transportOf(kind), protocol: protocolOf(kind), scheme: schemeOf(kind), host: 'localhost', port });

    // streamInfo of the tunnels: the endpoint each CONNECT reached first, and
    // the proxies before the one that answered it.
    if (ref1 !== undefined) {
      assert.deepEqual(tunnelInfoOf(conn, ref1), { state: 'running', intermediaries: [], tunnel: endpoint(p2, p2Port) }, 'streamInfo(ref1)');
    }
    if (ref2 !== undefined) {
      assert.deepEqual(tunnelInfoOf(conn, ref2), { state: 'running', intermediaries: [i1], tunnel: endpoint(o, oPort) }, 'streamInfo(ref2)');
    }

    // info(): the innermost connection-wide endpoint.
    const info = conn.info();
    let expected: { protocol: string; transport: string; origin: unknown; intermediaries: IntermediaryInfo[] };
    if (isH2(p1)) {
      expected = { protocol: 'http2', transport: transportOf(p1), origin: { scheme: schemeOf(p1), host: 'localhost', port: p1Port }, intermediaries: [] };
    } else if (isH2(p2)) {
      expected = { protocol: 'http2', transport: transportOf(p2), origin: { scheme: schemeOf(p2), host: 'localhost', port: p2Port }, intermediaries: [i1] };
    } else {
      expected = { protocol: protocolOf(o), transport: transportOf(o), origin: { scheme: schemeOf(o), host: 'localhost', port: oPort }, intermediaries: [i1, i2] };
    }
    assert.deepEqual(
      { protocol: info.protocol, transport: info.transport, origin: info.origin, intermediaries: info.intermediaries },
      expected,
      'info()',
    );
    assert.equal(info.state, 'up');

    // 4. Origin traffic.
    if (protocolOf(o) === 'raw') {
      const dataRef = inner ?? conn.ref;
      if (inner === undefined) {
        // Raw reached at connection level (SOCKS chain from open()): bytes travel on conn.ref.
        assert.deepEqual(tunnelInfoOf(conn, conn.ref), { state: 'running', intermediaries: [i1, i2], tunnel: undefined }, 'streamInfo(conn.ref)');
      }
      await conn.data(dataRef, false, 'Hello world!');
      assert.equal((await readBytes(conn, dataRef, 12)).toString(), 'Hello world!');
    } else {
      const ref3 = conn.get('/echo', { 'x-case': `${p1}_${p2}_${o}` }, inner === undefined ? undefined : { tunnel: inner });
      // Checked while the request runs: every proxy traversed, first first.
      const si = conn.streamInfo(ref3);
      assert.ok(si !== undefined, 'streamInfo(request) while it runs');
      assert.ok(si.ref.equals(ref3));
      assert.equal(si.state, 'running');
      assert.deepEqual(si.intermediaries, [i1, i2], 'streamInfo(request).intermediaries');
      if (inner !== undefined) assert.ok(ref3.startsWith(inner), 'the request ref is nested in the tunnel ref');
      await expectResponse(conn, ref3, 200, false);
      const echo = await echoBody(conn, ref3);
      assert.equal(echo.method, 'GET');
      assert.equal(echo.path, '/echo');
      assert.equal(echoedAuthority(echo), `localhost:${oPort}`);
      assert.ok(echo.headers.some(([k, v]) => k === 'x-case' && v === `${p1}_${p2}_${o}`));
      assert.equal(echo.httpVersion, protocolOf(o) === 'http2' ? '2.0' : '1.1');
    }
  } finally {
    await conn.close();
  }
}

describe('tunnel matrix (Gun tunnel_SUITE, 216 cases)', () => {
  let s: ServerSet;
  let baseline: string[];
  before(async () => {
    s = await startServerSet();
    baseline = resourceSnapshot();
  });
  after(async () => {
    await s.close();
  });

  for (const p1 of PROXY_KINDS) {
    for (const p2 of PROXY_KINDS) {
      for (const o of ORIGIN_KINDS) {
        it(`${p1}_${p2}_${o}`, () => runCase(s, p1, p2, o));
      }
    }
  }

  it('leaves no socket, TLS, HTTP/2 session or timer behind', async () => {
    await assertNoLeaks(baseline);
  });
});
