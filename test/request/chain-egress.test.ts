// "No byte outside the chain": through socks5h://, h2:// and HTTP CONNECT routes, the client looks up
// no name but hop 1's (the origin's name goes to the proxy) and opens TCP connections to hop 1 only,
// whether the request succeeds or the proxy cannot reach the origin; and proxy credentials appear in no
// error message, no util.inspect of an error or of the parsed options, and no connection description.
import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { inspect } from 'node:util';
import { request, type RequestInit } from '../../src/request/request.js';
import { Pool } from '../../src/request/pool.js';
import { parseProxyChain, parseProxyUrl } from '../../src/request/proxy-url.js';
import { open } from '../../src/connection/open.js';
import { BurrowError, isBurrowError, type ErrorCode } from '../../src/errors/errors.js';
import { createTestPki, type TestPki } from '../../src/testing/pki.js';
import { startOrigin, type TestOrigin } from '../../src/testing/origin.js';
import { startConnectProxy, type TestConnectProxy } from '../../src/testing/connect-proxy.js';
import { startH2ConnectProxy, type TestH2ConnectProxy } from '../../src/testing/h2-proxy.js';
import { startSocks5Server, type TestSocks5Server } from '../../src/testing/socks5-server.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';
import { onlyLookup, watchEgress, type EgressWatch } from '../helpers/egress.js';

/** The name of hop 1: known only to the `lookup` option given to request(). */
const PROXY_NAME = 'proxy.burrow.test';
const USER = 'chain-user';
const PASSWORD = 'S3cret-pass_phrase';
const WRONG_PASSWORD = 'Wr0ng-pass_phrase';
const SECRETS = [PASSWORD, WRONG_PASSWORD, Buffer.from(`${USER}:${PASSWORD}`).toString('base64'), Buffer.from(`${USER}:${WRONG_PASSWORD}`).toString('base64')];

/** Asserts that no proxy password (nor a Basic token made of one) is in `text`. */
function assertNoSecret(text: string, what: string): void {
  for (const s of SECRETS) assert.ok(!text.includes(s), `${what} holds a proxy credential (${s}): ${text.slice(0, 2000)}`);
}

/** Everything an error shows: message, inspect (causes, details, hop, response), JSON. */
function assertErrorHidesSecrets(e: unknown): void {
  assert.ok(e instanceof BurrowError, String(e));
  assertNoSecret(e.message, 'the error message');
  assertNoSecret(String(e), 'String(error)');
  assertNoSecret(inspect(e, { depth: Infinity }), 'util.inspect(error)');
  assertNoSecret(inspect(e, { depth: Infinity, showHidden: true }), 'util.inspect(error, showHidden)');
  assertNoSecret(JSON.stringify(e) ?? '', 'JSON.stringify(error)');
  let c: unknown = e.cause;
  while (c instanceof Error) {
    assertNoSecret(c.message, 'a cause message');
    c = c.cause;
  }
}

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

describe('request(): no byte outside the chain', () => {
  let pki: TestPki;
  let origin: TestOrigin;
  let deadPort: number;
  let connectProxy: TestConnectProxy;
  let plainProxy: TestConnectProxy;
  let h2Proxy: TestH2ConnectProxy;
  let socks: TestSocks5Server;
  let socksLocal: TestSocks5Server;
  let pool: Pool;
  let egress: EgressWatch;
  let baseline: string[];

  before(async () => {
    baseline = resourceSnapshot();
    pki = createTestPki({ names: [PROXY_NAME] });
    origin = await startOrigin({ protocol: 'http2', transport: 'tls', pki });
    deadPort = await closedPort();
    const auth = { username: USER, password: PASSWORD };
    connectProxy = await startConnectProxy({ transport: 'tls', pki, auth });
    plainProxy = await startConnectProxy({ transport: 'tcp', auth });
    h2Proxy = await startH2ConnectProxy({ transport: 'tls', pki, auth });
    socks = await startSocks5Server({ transport: 'tcp', auth });
    socksLocal = await startSocks5Server({ transport: 'tcp', auth });
    pool = new Pool();
    egress = watchEgress();
  });
  after(async () => {
    egress.stop();
    await pool.close();
    for (const s of [origin, connectProxy, plainProxy, h2Proxy, socks, socksLocal]) await s.close();
    await assertNoLeaks(baseline);
  });
  beforeEach(() => egress.clear());

  const tls = (): { ca: string } => ({ ca: pki.ca });
  const cred = (password = PASSWORD): string => `${USER}:${password}@`;

  interface Route {
    readonly name: string;
    /** The chain; hop 1 is named PROXY_NAME. */
    readonly via: (password?: string) => RequestInit['via'];
    readonly hop1: () => number;
    /** The origin's name as each proxy received it (it resolves it, not the client). */
    readonly targets: () => string[];
    /** The error when the proxy cannot reach the origin. */
    readonly unreachable: ErrorCode;
    /** The error for a wrong password. */
    readonly badAuth: ErrorCode;
  }
  const routes: Route[] = [
    {
      name: 'socks5h://',
      via: (p) => [`socks5h://${cred(p)}${PROXY_NAME}:${socks.port}`],
      hop1: () => socks.port,
      targets: () => socks.events.flatMap((e) => (e.type === 'connect' ? [`${e.host}:${e.port}`] : [])),
      unreachable: 'ERR_SOCKS_REPLY',
      badAuth: 'ERR_SOCKS_AUTH',
    },
    {
      name: 'h2://',
      via: (p) => [{ url: `h2://${cred(p)}${PROXY_NAME}:${h2Proxy.port}`, tls: tls() }],
      hop1: () => h2Proxy.port,
      targets: () => h2Proxy.requests.map((r) => r.authority),
      unreachable: 'ERR_CONNECT_STATUS',
      badAuth: 'ERR_PROXY_AUTH',
    },
    {
      name: 'https:// (HTTP/1.1 CONNECT)',
      via: (p) => [{ url: `https://${cred(p)}${PROXY_NAME}:${connectProxy.port}`, tls: tls() }],
      hop1: () => connectProxy.port,
      targets: () => connectProxy.requests.map((r) => r.target),
      unreachable: 'ERR_CONNECT_STATUS',
      badAuth: 'ERR_PROXY_AUTH',
    },
    {
      name: 'http:// (HTTP/1.1 CONNECT over TCP)',
      via: (p) => [`http://${cred(p)}${PROXY_NAME}:${plainProxy.port}`],
      hop1: () => plainProxy.port,
      targets: () => plainProxy.requests.map((r) => r.target),
      unreachable: 'ERR_CONNECT_STATUS',
      badAuth: 'ERR_PROXY_AUTH',
    },
    {
      name: 'h2:// then socks5h:// (two hops)',
      via: (p) => [{ url: `h2://${cred(p)}${PROXY_NAME}:${h2Proxy.port}`, tls: tls() }, `socks5h://${cred(p)}localhost:${socksLocal.port}`],
      hop1: () => h2Proxy.port,
      targets: () => socksLocal.events.flatMap((e) => (e.type === 'connect' ? [`${e.host}:${e.port}`] : [])),
      unreachable: 'ERR_SOCKS_REPLY',
      badAuth: 'ERR_PROXY_AUTH', // hop 1 refuses first
    },
  ];

  /** The client looked up PROXY_NAME only (through the lookup option), nothing through the system, and dialled hop 1 only. */
  function assertOnlyHop1(route: Route, calls: readonly string[], what: string): void {
    assert.ok(calls.every((h) => h === PROXY_NAME), `${what}: lookup option asked for ${JSON.stringify(calls)}`);
    assert.deepEqual(egress.clientLookups(), [], `${what}: system DNS lookups by the client`);
    const conns = egress.clientConnects();
    assert.ok(conns.length >= 1, `${what}: no client connect seen`);
    for (const c of conns) {
      assert.deepEqual({ host: c.host, port: c.port }, { host: '127.0.0.1', port: route.hop1() }, `${what}: the client connected to something but hop 1`);
    }
  }

  for (const route of routes) {
    it(`${route.name}: a successful request looks up hop 1's name only and connects to hop 1 only`, async () => {
      const { lookup, calls } = onlyLookup([PROXY_NAME]);
      const before = route.targets().length;
      const res = await request(`https://localhost:${origin.port}/`, { via: route.via(), tls: tls(), lookup, pool: false });
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'hello');
      assert.deepEqual(calls, [PROXY_NAME]);
      assertOnlyHop1(route, calls, route.name);
      assert.equal(egress.clientConnects().length, 1);
      assert.equal(egress.clientConnects()[0]?.onChannel, true, 'the connect was published on net.client.socket');
      // The origin's name went to the proxy, which resolved it.
      assert.deepEqual(route.targets().slice(before), [`localhost:${origin.port}`]);
      // What the response says it went through holds no credential.
      assertNoSecret(inspect(res.info, { depth: Infinity }), 'util.inspect(response.info)');
      assertNoSecret(JSON.stringify(res.info.chain), 'response.info.chain');
    });

    it(`${route.name}: when the proxy cannot reach the origin, nothing else is tried from the client`, async () => {
      const { lookup, calls } = onlyLookup([PROXY_NAME]);
      const before = route.targets().length;
      const err = await request(`https://localhost:${deadPort}/`, { via: route.via(), tls: tls(), lookup, pool }).then(
        () => assert.fail('the request succeeded'),
        (e: unknown) => e,
      );
      assert.ok(isBurrowError(err, route.unreachable), String(err));
      assert.deepEqual(calls, [PROXY_NAME]);
      assertOnlyHop1(route, calls, route.name);
      assert.deepEqual(route.targets().slice(before), [`localhost:${deadPort}`]);
      assertErrorHidesSecrets(err);
    });

    it(`${route.name}: a wrong proxy password is refused without echoing it, and nothing else is tried`, async () => {
      const { lookup, calls } = onlyLookup([PROXY_NAME]);
      const err = await request(`https://localhost:${origin.port}/`, { via: route.via(WRONG_PASSWORD), tls: tls(), lookup, pool }).then(
        () => assert.fail('the request succeeded'),
        (e: unknown) => e,
      );
      assert.ok(isBurrowError(err, route.badAuth), String(err));
      assertOnlyHop1(route, calls, route.name);
      assertErrorHidesSecrets(err);
    });
  }

  it('a socks5h:// hop whose first name does not resolve fails at hop 1, with no other lookup or connect', async () => {
    const { lookup, calls } = onlyLookup([]);
    const err = await request(`https://localhost:${origin.port}/`, { via: [`socks5h://${cred()}${PROXY_NAME}:${socks.port}`], tls: tls(), lookup, pool }).then(
      () => assert.fail('the request succeeded'),
      (e: unknown) => e,
    );
    assert.ok(isBurrowError(err, 'ERR_DNS'), String(err));
    assert.equal(err.hop?.index, 0);
    assert.deepEqual(calls, [PROXY_NAME]);
    assert.deepEqual(egress.clientLookups(), []);
    assert.deepEqual(egress.clientConnects(), []);
    assertErrorHidesSecrets(err);
  });

  it('parsed proxy URLs and chains print no password (util.inspect, JSON, String)', () => {
    const hop = parseProxyUrl(`socks5h://${cred()}${PROXY_NAME}:1080`, 'via[0]');
    assert.equal(hop.password, PASSWORD);
    assertNoSecret(hop.url, 'ProxyHop.url');
    assertNoSecret(inspect(hop, { depth: Infinity }), 'util.inspect(ProxyHop)');
    assertNoSecret(JSON.stringify(hop), 'JSON.stringify(ProxyHop)');
    const chain = parseProxyChain(`https://${cred()}a.test:3128, socks5h://${cred()}b.test:1080`);
    assertNoSecret(inspect(chain, { depth: Infinity }), 'util.inspect(chain)');
    // An invalid URL with a password is not echoed either.
    assert.throws(
      () => parseProxyUrl(`socks5h://${cred()}bad host:1080`, 'via[0]'),
      (e: unknown) => {
        assertErrorHidesSecrets(e);
        return true;
      },
    );
  });

  it('the watch sees what a direct request does (so the checks above can fail)', async () => {
    const res = await request(`https://localhost:${origin.port}/`, { tls: tls(), pool: false });
    assert.equal(await res.text(), 'hello');
    assert.deepEqual(egress.clientLookups(), ['localhost']);
    assert.deepEqual(egress.clientConnects().map((c) => c.port), [origin.port]);
    egress.clear();
    const { lookup, calls } = onlyLookup(['localhost']);
    const res2 = await request(`https://localhost:${origin.port}/`, { tls: tls(), lookup, pool: false });
    assert.equal(await res2.text(), 'hello');
    assert.deepEqual(calls, ['localhost']);
    assert.deepEqual(egress.clientLookups(), []);
  });

  it('open() through SOCKS5 with retries: every reconnection dials hop 1 again, nothing else', async () => {
    const { lookup, calls } = onlyLookup([PROXY_NAME]);
    const conn = open({
      host: PROXY_NAME,
      port: socks.port,
      retry: 2,
      retryTimeout: 0,
      lookup,
      protocols: [{ socks: { host: 'localhost', port: deadPort, auth: [{ username: USER, password: PASSWORD }], protocols: ['http'] } }],
    });
    const reason = await new Promise<BurrowError | null>((resolve) => conn.once('close', resolve));
    try {
      assert.ok(reason !== null && isBurrowError(reason, 'ERR_SOCKS_REPLY'), String(reason));
      assertErrorHidesSecrets(reason);
      assert.deepEqual(calls, [PROXY_NAME, PROXY_NAME, PROXY_NAME]);
      assert.deepEqual(egress.clientLookups(), []);
      assert.deepEqual(egress.clientConnects().map((c) => [c.host, c.port]), [['127.0.0.1', socks.port], ['127.0.0.1', socks.port], ['127.0.0.1', socks.port]]);
    } finally {
      await conn.close();
    }
  });

  it('open() with SOCKS5 credentials: connection.info() and its inspect hold no password', async () => {
    const { lookup, calls } = onlyLookup([PROXY_NAME]);
    const conn = open({
      host: PROXY_NAME,
      port: socks.port,
      retry: 0,
      lookup,
      protocols: [{ socks: { host: 'localhost', port: origin.port, auth: [{ username: USER, password: PASSWORD }], transport: 'tls', tls: tls(), protocols: ['http2'] } }],
    });
    try {
      await conn.awaitUp(5000);
      const ref = conn.get('/');
      assert.equal((await conn.awaitBody(ref, 5000)).body.toString(), 'hello');
      assert.deepEqual(calls, [PROXY_NAME]);
      assert.deepEqual(egress.clientLookups(), []);
      assert.deepEqual(egress.clientConnects().map((c) => c.port), [socks.port]);
      assertNoSecret(JSON.stringify(conn.info()), 'connection.info()');
      assertNoSecret(inspect(conn.info(), { depth: Infinity }), 'util.inspect(connection.info())');
      assertNoSecret(inspect(conn.streamInfo(ref), { depth: Infinity }), 'util.inspect(connection.streamInfo())');
      assertNoSecret(inspect(conn, { depth: 4 }), 'util.inspect(connection)');
    } finally {
      await conn.close();
    }
  });
});
