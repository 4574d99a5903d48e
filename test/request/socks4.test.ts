// request() through socks4:// and socks4a:// hops: hop 1, hop 2 behind HTTP/2 and HTTP/1.1 CONNECT proxies
// over TLS, SOCKS4 chains, names resolved by the client (IPv4 only, with the lookup option) or by the proxy
// (4a), the user id from the URL, the IPv6 and password refusals, the proxy environment, refusals naming
// the hop, the layers reported.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as nodeHttp from 'node:http';
import { request } from '../../src/request/request.js';
import { ChainAgent } from '../../src/adapters/agent/agent.js';
import { ChainDispatcher } from '../../src/adapters/undici/dispatcher.js';
import { Pool } from '../../src/request/pool.js';
import { parseProxyUrl } from '../../src/request/proxy-url.js';
import { isBurrowError, type BurrowError } from '../../src/errors/errors.js';
import type { LookupFunction } from '../../src/shared/options/open.js';
import { createTestPki, type TestPki } from '../../src/testing/pki.js';
import { startOrigin, type TestOrigin } from '../../src/testing/origin.js';
import { startConnectProxy, type TestConnectProxy } from '../../src/testing/connect-proxy.js';
import { startH2ConnectProxy, type TestH2ConnectProxy } from '../../src/testing/h2-proxy.js';
import { startSocks4Server, type TestSocks4Server } from '../../src/testing/socks4-server.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';

/** A name only the lookup functions below know (the system resolver does not). */
const ORIGIN_NAME = 'origin.burrow.test';

describe('request() through SOCKS4 and SOCKS4a', () => {
  let pki: TestPki;
  let http: TestOrigin;
  let https: TestOrigin;
  let socks: TestSocks4Server;
  let socks2: TestSocks4Server;
  let alice: TestSocks4Server;
  let h2Proxy: TestH2ConnectProxy;
  let httpsProxy: TestConnectProxy;
  let pool: Pool;
  let baseline: string[];

  before(async () => {
    baseline = resourceSnapshot();
    pki = createTestPki({ names: [ORIGIN_NAME] });
    [http, https, socks, socks2, alice, h2Proxy, httpsProxy] = await Promise.all([
      startOrigin({ protocol: 'http', transport: 'tcp' }),
      startOrigin({ protocol: 'http2', transport: 'tls', pki }),
      startSocks4Server(),
      startSocks4Server(),
      startSocks4Server({ userId: 'alice' }),
      startH2ConnectProxy({ transport: 'tls', pki }),
      startConnectProxy({ transport: 'tls', pki }),
    ]);
    pool = new Pool();
  });
  after(async () => {
    await pool.close();
    await Promise.all([http, https, socks, socks2, alice, h2Proxy, httpsProxy].map((s) => s.close()));
    await assertNoLeaks(baseline);
  });

  /** Resolves ORIGIN_NAME (and localhost) to the given addresses, counting the lookups of ORIGIN_NAME. */
  const lookupOf = (addresses: Array<{ address: string; family: 4 | 6 }>, asked: string[] = []): LookupFunction => async (host) => {
    asked.push(host);
    return host === ORIGIN_NAME ? addresses : [{ address: '127.0.0.1', family: 4 }];
  };
  const last = (s: TestSocks4Server) => s.events[s.events.length - 1];

  async function ok(url: string, init: Parameters<typeof request>[1]): Promise<string> {
    const res = await request(url, { pool: false, ...init });
    assert.equal(res.status, 200);
    return res.text();
  }

  async function fails(url: string, init: Parameters<typeof request>[1], code: string): Promise<BurrowError> {
    let err: unknown;
    try {
      await request(url, { pool: false, ...init });
    } catch (e) {
      err = e;
    }
    assert.ok(isBurrowError(err), `expected ${code}, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }

  it('socks4:// as hop 1: the client resolves the origin (lookup option) and sends its IPv4 address', async () => {
    const asked: string[] = [];
    const lookup = lookupOf([{ address: '::1', family: 6 }, { address: '127.0.0.1', family: 4 }], asked);
    assert.equal(await ok(`http://${ORIGIN_NAME}:${http.port}/`, { via: [`socks4://localhost:${socks.port}`], lookup }), 'hello');
    assert.deepEqual(last(socks), { type: 'connect', version: '4', command: 1, host: '127.0.0.1', port: http.port, userId: '' });
    assert.ok(asked.includes(ORIGIN_NAME));
  });

  it('socks4a:// as hop 1: the proxy resolves the name; the client never looks it up', async () => {
    const asked: string[] = [];
    const lookup = lookupOf([], asked);
    assert.equal(await ok(`http://localhost:${http.port}/`, { via: [`socks4a://127.0.0.1:${socks.port}`], lookup }), 'hello');
    assert.deepEqual(last(socks), { type: 'connect', version: '4a', command: 1, host: 'localhost', port: http.port, userId: '' });
    assert.deepEqual(asked, []);
  });

  it("the URL's user name is the USERID", async () => {
    assert.equal(await ok(`http://127.0.0.1:${http.port}/`, { via: [`socks4://alice@localhost:${alice.port}`] }), 'hello');
    assert.equal(last(alice)?.userId, 'alice');
    const e = await fails(`http://127.0.0.1:${http.port}/`, { via: [`socks4://bob@localhost:${alice.port}`] }, 'ERR_SOCKS_REPLY');
    assert.equal(e.stage, 'socks-reply');
    assert.deepEqual(e.hop, { index: 0, kind: 'socks4', host: 'localhost', port: alice.port, transport: 'tcp' });
    assert.deepEqual(e.details, { reply: 0x5d, replyName: 'identd_mismatch' });
  });

  it('socks4:// as hop 2 behind an HTTP/2 CONNECT proxy over TLS, to an HTTPS origin (TLS in TLS)', async () => {
    const lookup = lookupOf([{ address: '127.0.0.1', family: 4 }]);
    const res = await request(`https://${ORIGIN_NAME}:${https.port}/`, {
      pool: false, lookup, tls: { ca: pki.ca },
      via: [{ url: `h2://localhost:${h2Proxy.port}`, tls: { ca: pki.ca } }, `socks4://localhost:${socks.port}`],
    });
    assert.equal(res.status, 200);
    assert.equal(res.version, '2');
    assert.equal(await res.text(), 'hello');
    assert.deepEqual(last(socks), { type: 'connect', version: '4', command: 1, host: '127.0.0.1', port: https.port, userId: '' });
    assert.deepEqual(res.info.layers.map((l) => l.kind), ['tcp', 'connect', 'socks4', 'HTTP/2']);
  });

  it('socks4a:// as hop 2 behind an HTTPS (HTTP/1.1 CONNECT) proxy, then socks4:// as hop 3', async () => {
    const res = await request(`http://127.0.0.1:${http.port}/`, {
      pool: false,
      via: [{ url: `https://localhost:${httpsProxy.port}`, tls: { ca: pki.ca } }, `socks4a://localhost:${socks.port}`, `socks4://localhost:${socks2.port}`],
    });
    assert.equal(await res.text(), 'hello');
    // Hop 2 was asked for hop 3 by name; hop 3 for the origin's address.
    assert.deepEqual(last(socks), { type: 'connect', version: '4a', command: 1, host: 'localhost', port: socks2.port, userId: '' });
    assert.deepEqual(last(socks2), { type: 'connect', version: '4', command: 1, host: '127.0.0.1', port: http.port, userId: '' });
    assert.deepEqual(res.info.layers.map((l) => l.kind), ['tcp', 'connect', 'socks4', 'socks4', 'HTTP/1.1']);
  });

  it('pooled: a second request over the same socks4 route reuses the connection', async () => {
    const via = [`socks4://localhost:${socks.port}`];
    const before = socks.connections;
    assert.equal(await ok(`http://127.0.0.1:${http.port}/`, { via, pool }), 'hello');
    assert.equal(await ok(`http://127.0.0.1:${http.port}/`, { via, pool }), 'hello');
    assert.equal(socks.connections, before + 1);
  });

  it('the proxy environment: ALL_PROXY=socks4a://…', async () => {
    assert.equal(await ok(`http://localhost:${http.port}/`, { env: { ALL_PROXY: `socks4a://127.0.0.1:${socks.port}` } }), 'hello');
    assert.equal(last(socks)?.version, '4a');
  });

  it('the adapters take SOCKS4 hops too: ChainAgent (http.get) and ChainDispatcher (fetch)', async () => {
    const agent = new ChainAgent({ via: [`socks4a://localhost:${socks.port}`] });
    try {
      const body = await new Promise<string>((resolve, reject) => {
        nodeHttp
          .get(`http://localhost:${http.port}/`, { agent }, (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => (text += c));
            res.on('end', () => resolve(text));
            res.on('error', reject);
          })
          .on('error', reject);
      });
      assert.equal(body, 'hello');
      assert.deepEqual([last(socks)?.version, last(socks)?.host], ['4a', 'localhost']);
    } finally {
      agent.destroy();
    }
    const dispatcher = new ChainDispatcher({ via: [`socks4://localhost:${socks2.port}`] });
    try {
      const fetchWith = globalThis.fetch as unknown as (url: string, init: { dispatcher: ChainDispatcher }) => Promise<{ text(): Promise<string> }>;
      const res = await fetchWith(`http://127.0.0.1:${http.port}/`, { dispatcher });
      assert.equal(await res.text(), 'hello');
      assert.deepEqual([last(socks2)?.version, last(socks2)?.host], ['4', '127.0.0.1']);
    } finally {
      await dispatcher.close();
    }
  });

  describe('refused before anything is sent', () => {
    it('an IPv6 origin through socks4:// or socks4a://: SOCKS4 carries IPv4 only', async () => {
      for (const scheme of ['socks4', 'socks4a']) {
        const from = socks.connections;
        const e = await fails(`http://[::1]:${http.port}/`, { via: [`${scheme}://localhost:${socks.port}`] }, 'ERR_INVALID_OPTION');
        assert.match(e.message, /SOCKS4 carries IPv4 addresses only/);
        assert.equal(e.hop?.kind, 'socks4');
        assert.equal(socks.connections, from);
      }
    });

    it('a name with no IPv4 address through socks4://: ERR_DNS naming the SOCKS4 hop', async () => {
      const e = await fails(`http://${ORIGIN_NAME}:${http.port}/`, { via: [`socks4://localhost:${socks.port}`], lookup: lookupOf([{ address: '::1', family: 6 }]) }, 'ERR_DNS');
      assert.match(e.message, /no IPv4 address \(SOCKS4 carries IPv4 only\)/);
      assert.equal(e.hop?.kind, 'socks4');
    });

    it('a password in a SOCKS4 URL is an option error, the password not shown', async () => {
      const e = await fails(`http://127.0.0.1:${http.port}/`, { via: [`socks4://alice:S3cret@localhost:${socks.port}`] }, 'ERR_INVALID_OPTION');
      assert.match(e.message, /SOCKS4 has no password/);
      assert.ok(!e.message.includes('S3cret'));
    });
  });

  describe('a silent SOCKS4 proxy', () => {
    it("the hop's socksTimeout: ERR_SOCKS_TIMEOUT during socks-reply, naming the hop", async () => {
      const silent = await startSocks4Server({ behavior: { neverAnswer: true } });
      try {
        // retry: false: a route that did not come up is retried by default (details.attempts).
        const e = await fails(`http://127.0.0.1:${http.port}/`, { via: [{ url: `socks4://localhost:${silent.port}`, socksTimeout: 50 }], retry: false }, 'ERR_SOCKS_TIMEOUT');
        assert.deepEqual(e.details, { timeoutMs: 50, during: 'socks-reply' });
        assert.deepEqual(e.hop, { index: 0, kind: 'socks4', host: 'localhost', port: silent.port, transport: 'tcp' });
      } finally {
        await silent.close();
      }
    });

    it('timeouts.total while the SOCKS4 reply is awaited: ERR_REQUEST_TIMEOUT naming the hop and socks-reply', async () => {
      const silent = await startSocks4Server({ behavior: { neverAnswer: true } });
      try {
        const e = await fails(`http://localhost:${http.port}/`, { via: [`socks4a://localhost:${silent.port}`], timeouts: { total: 50 } }, 'ERR_REQUEST_TIMEOUT');
        assert.equal(e.details['during'], 'socks-reply');
        assert.deepEqual(e.hop, { index: 0, kind: 'socks4', host: 'localhost', port: silent.port, transport: 'tcp' });
      } finally {
        await silent.close();
      }
    });
  });

  it('parseProxyUrl: socks4 and socks4a, port 1080 by default, the user id', () => {
    const a = parseProxyUrl('socks4://proxy.example');
    assert.deepEqual([a.scheme, a.kind, a.port, a.transport, a.remoteDns, a.url], ['socks4', 'socks4', 1080, 'tcp', false, 'socks4://proxy.example:1080']);
    const b = parseProxyUrl('socks4a://al%20ice@10.0.0.2:1081');
    assert.deepEqual([b.scheme, b.kind, b.port, b.remoteDns, b.username, b.password], ['socks4a', 'socks4', 1081, true, 'al ice', undefined]);
    assert.throws(() => parseProxyUrl('socks4://a%00b@proxy'), /USERID is at most 255 bytes, without NUL/);
  });
});
