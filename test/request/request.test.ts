// request(url, { via }): one call through any proxy chain, with a pool keyed by the whole route.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as net from 'node:net';
import { request } from '../../src/request/request.js';
import { Pool } from '../../src/request/pool.js';
import { isBurrowError } from '../../src/errors/errors.js';
import { createTestPki, type TestPki } from '../../src/testing/pki.js';
import { startOrigin, type TestOrigin } from '../../src/testing/origin.js';
import { startConnectProxy, type TestConnectProxy } from '../../src/testing/connect-proxy.js';
import { startH2ConnectProxy, type TestH2ConnectProxy } from '../../src/testing/h2-proxy.js';
import { startSocks5Server, type TestSocks5Server } from '../../src/testing/socks5-server.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';

function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = i % 251;
  return b;
}

describe('request()', () => {
  let pki: TestPki;
  let https: TestOrigin;
  let http: TestOrigin;
  let hp: TestConnectProxy;
  let hps: TestConnectProxy;
  let authProxy: TestConnectProxy;
  let refuser: TestConnectProxy;
  let h2p: TestH2ConnectProxy;
  let socks: TestSocks5Server;
  let socksTls: TestSocks5Server;
  let socksAuth: TestSocks5Server;
  let pool: Pool;
  let baseline: string[];
  before(async () => {
    baseline = resourceSnapshot();
    pki = createTestPki();
    https = await startOrigin({ protocol: 'http2', transport: 'tls', pki });
    http = await startOrigin({ protocol: 'http', transport: 'tcp' });
    hp = await startConnectProxy({ transport: 'tcp' });
    hps = await startConnectProxy({ transport: 'tls', pki });
    authProxy = await startConnectProxy({ transport: 'tcp', auth: { username: 'u@corp', password: 'p:ss' } });
    refuser = await startConnectProxy({ transport: 'tcp', behavior: { status: 403 } });
    h2p = await startH2ConnectProxy({ transport: 'tls', pki });
    socks = await startSocks5Server({ transport: 'tcp' });
    socksTls = await startSocks5Server({ transport: 'tls', pki });
    socksAuth = await startSocks5Server({ transport: 'tcp', auth: { username: 'alice', password: 'secret' } });
    pool = new Pool();
  });
  after(async () => {
    await pool.close();
    for (const s of [https, http, hp, hps, authProxy, refuser, h2p, socks, socksTls, socksAuth]) await s.close();
    await assertNoLeaks(baseline);
  });

  const tls = (): { ca: string } => ({ ca: pki.ca });

  it('fetches directly over http and https (h2 by ALPN)', async () => {
    const a = await request(`http://127.0.0.1:${http.port}/`, { pool });
    assert.equal(a.status, 200);
    assert.equal(await a.text(), 'hello');
    const b = await request(`https://localhost:${https.port}/`, { tls: tls(), pool });
    assert.equal(b.version, '2');
    assert.equal(await b.text(), 'hello');
  });

  it('goes through every proxy scheme', async () => {
    const chains: Array<[string, Parameters<typeof request>[1]]> = [
      ['http://', { via: [`http://127.0.0.1:${hp.port}`] }],
      ['https://', { via: [{ url: `https://localhost:${hps.port}`, tls: tls() }] }],
      ['h2://', { via: [{ url: `h2://localhost:${h2p.port}`, tls: tls() }] }],
      ['socks5h://', { via: [`socks5h://127.0.0.1:${socks.port}`] }],
      ['socks5://', { via: [`socks5://127.0.0.1:${socks.port}`] }],
      ['socks5hs://', { via: [{ url: `socks5hs://localhost:${socksTls.port}`, tls: tls() }] }],
    ];
    for (const [name, init] of chains) {
      const res = await request(`https://localhost:${https.port}/echo`, { ...init, tls: tls(), pool });
      assert.equal(res.status, 200, name);
      const echo = (await res.json()) as { headers: Array<[string, string]> };
      assert.ok(echo.headers.some(([n, v]) => (n === ':authority' || n === 'host') && v === `localhost:${https.port}`), name);
    }
    // socks5h sends the name to the proxy; socks5 resolves it first.
    const connects = socks.events.filter((e) => e.type === 'connect');
    assert.ok(connects.some((e) => e.type === 'connect' && e.host === 'localhost'));
    assert.ok(connects.some((e) => e.type === 'connect' && e.host === '127.0.0.1'));
  });

  it('runs a three-hop chain with TLS nested three deep, and reports the layers', async () => {
    const res = await request(`https://localhost:${https.port}/`, {
      via: [{ url: `h2://localhost:${h2p.port}`, tls: tls() }, { url: `socks5hs://localhost:${socksTls.port}`, tls: tls() }],
      tls: tls(),
      pool: false,
    });
    assert.equal(await res.text(), 'hello');
    assert.deepEqual(res.info.layers.map((l) => l.kind), ['tcp', 'connect', 'socks5', 'HTTP/2']);
    assert.equal(res.info.reused, false);
  });

  it('uses credentials only on their own hop', async () => {
    const res = await request(`http://127.0.0.1:${http.port}/echo`, {
      via: [`http://u%40corp:p%3Ass@127.0.0.1:${authProxy.port}`, `socks5h://alice:secret@127.0.0.1:${socksAuth.port}`],
      pool: false,
    });
    const echo = (await res.json()) as { headers: Array<[string, string]> };
    assert.ok(!echo.headers.some(([n]) => n === 'proxy-authorization'));
    const req = authProxy.requests.at(-1);
    assert.ok(req?.headers.some(([n, v]) => n === 'proxy-authorization' && v === `Basic ${Buffer.from('u@corp:p:ss').toString('base64')}`));
    assert.ok(socksAuth.events.some((e) => e.type === 'credentials' && e.username === 'alice' && e.password === 'secret'));
  });

  it('a refused CONNECT is a typed error naming the proxy hop and the status', async () => {
    await assert.rejects(
      request(`http://127.0.0.1:${http.port}/`, { via: [`http://127.0.0.1:${hp.port}`, `http://127.0.0.1:${refuser.port}`], pool: false }),
      (e: unknown) => isBurrowError(e, 'ERR_CONNECT_STATUS') && e.stage === 'connect-response' && e.hop?.index === 1 && e.details['status'] === 403,
    );
  });

  it('reuses a pooled connection only for the same route and options', async () => {
    const p = new Pool();
    const before = https.connections;
    const via = (): Array<{ url: string; tls: { ca: string } }> => [{ url: `h2://localhost:${h2p.port}`, tls: tls() }];
    const a = await request(`https://localhost:${https.port}/`, { via: via(), tls: tls(), pool: p });
    await a.text();
    const b = await request(`https://localhost:${https.port}/`, { via: via(), tls: tls(), pool: p });
    await b.text();
    assert.equal(b.info.reused, true);
    const c = await request(`https://localhost:${https.port}/`, { tls: tls(), pool: p });
    await c.text();
    assert.equal(c.info.reused, false);
    assert.equal(https.connections - before, 2);
    // HTTP/2 multiplexes: 20 concurrent requests on the same route share one connection.
    const many = await Promise.all(Array.from({ length: 20 }, () => request(`https://localhost:${https.port}/bytes/1000`, { via: via(), tls: tls(), pool: p })));
    await Promise.all(many.map((r) => r.buffer()));
    assert.equal(https.connections - before, 2);
    await p.close();
  });

  it('streams a download and an upload', async () => {
    const res = await request(`https://localhost:${https.port}/bytes/5000000`, { via: [`http://127.0.0.1:${hp.port}`], tls: tls(), pool });
    const hash = createHash('sha256');
    let n = 0;
    for await (const chunk of res.body) {
      hash.update(chunk);
      n += chunk.length;
    }
    assert.equal(n, 5_000_000);
    assert.equal(hash.digest('hex'), createHash('sha256').update(pattern(5_000_000)).digest('hex'));
    async function* parts(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 10; i++) yield Buffer.from(`part${i};`);
    }
    const up = await request(`https://localhost:${https.port}/echo`, { method: 'POST', body: parts(), via: [`http://127.0.0.1:${hp.port}`], tls: tls(), pool });
    const echo = (await up.json()) as { body: string };
    assert.equal(echo.body, Array.from({ length: 10 }, (_, i) => `part${i};`).join(''));
  });

  it('takes the chain from proxy environment variables when asked, honouring NO_PROXY', async () => {
    const env = { https_proxy: `http://127.0.0.1:${hp.port}`, no_proxy: '' };
    const before = hp.requests.length;
    await (await request(`https://localhost:${https.port}/`, { env, tls: tls(), pool: false })).text();
    assert.equal(hp.requests.length, before + 1);
    await (await request(`https://localhost:${https.port}/`, { env: { ...env, no_proxy: 'localhost' }, tls: tls(), pool: false })).text();
    assert.equal(hp.requests.length, before + 1);
  });

  it('timeouts and abort are typed errors and leave nothing behind', async () => {
    await assert.rejects(request(`http://127.0.0.1:${http.port}/never`, { timeouts: { headers: 50 }, pool: false }), (e: unknown) => isBurrowError(e, 'ERR_HEADERS_TIMEOUT'));
    await assert.rejects(request(`http://127.0.0.1:${http.port}/never`, { timeouts: { total: 50 }, pool: false }), (e: unknown) => isBurrowError(e, 'ERR_REQUEST_TIMEOUT'));
    const ac = new AbortController();
    const p = request(`http://127.0.0.1:${http.port}/never`, { signal: ac.signal, pool: false });
    setImmediate(() => ac.abort());
    await assert.rejects(p, (e: unknown) => isBurrowError(e, 'ERR_ABORTED'));
  });

  it('a URL object changed between requests is read again; a URL string gives the same target each time', async () => {
    const p = new Pool();
    const u = new URL(`http://127.0.0.1:${http.port}/`);
    const a = await request(u, { pool: p });
    assert.equal(await a.text(), 'hello');
    u.pathname = '/bytes/3';
    const b = await request(u, { pool: p });
    assert.equal((await b.buffer()).length, 3);
    assert.equal(b.url, `http://127.0.0.1:${http.port}/bytes/3`);
    for (let i = 0; i < 2; i++) {
      const c = await request(`http://127.0.0.1:${http.port}/bytes/7?x=1`, { pool: p });
      assert.equal((await c.buffer()).length, 7);
      assert.equal(c.url, `http://127.0.0.1:${http.port}/bytes/7?x=1`);
    }
    await p.close();
  });

  it('requests without origin TLS options share a pooled connection (the route key does not change per request)', async () => {
    const p = new Pool();
    const before = http.connections;
    for (let i = 0; i < 3; i++) {
      const r = await request(`http://127.0.0.1:${http.port}/`, { pool: p });
      assert.equal(await r.text(), 'hello');
      assert.equal(r.info.reused, i > 0);
    }
    assert.equal(http.connections - before, 1);
    await p.close();
  });

  it('a request sent at once on a warm route still honours an abort right after the call', async () => {
    const p = new Pool();
    await (await request(`http://127.0.0.1:${http.port}/`, { pool: p })).text();
    const ac = new AbortController();
    const pending = request(`http://127.0.0.1:${http.port}/never`, { signal: ac.signal, pool: p });
    ac.abort();
    await assert.rejects(pending, (e: unknown) => isBurrowError(e, 'ERR_ABORTED'));
    // The aborted HTTP/1.1 connection is not reused; the next request gets a working one.
    const next = await request(`http://127.0.0.1:${http.port}/`, { pool: p });
    assert.equal(await next.text(), 'hello');
    await p.close();
  });

  it('rejects bad input before sending anything', async () => {
    await assert.rejects(request('ftp://x/'), (e: unknown) => isBurrowError(e, 'ERR_INVALID_OPTION'));
    await assert.rejects(request(`http://127.0.0.1:${http.port}/`, { via: ['gopher://x:1'] }), (e: unknown) => isBurrowError(e, 'ERR_INVALID_OPTION'));
    await assert.rejects(request(`http://127.0.0.1:${http.port}/`, { headers: { 'x-a': 'b\r\nc: d' } }), (e: unknown) => isBurrowError(e, 'ERR_INVALID_HEADER'));
    // Options of the wrong type reject too, typed and named: request() never throws.
    await assert.rejects(request(`http://127.0.0.1:${http.port}/`, { signal: {} as AbortSignal, pool: false }), (e: unknown) => isBurrowError(e, 'ERR_INVALID_OPTION') && e.details?.['option'] === 'signal');
    await assert.rejects(request(`http://127.0.0.1:${http.port}/`, { pool: {} as Pool }), (e: unknown) => isBurrowError(e, 'ERR_INVALID_OPTION') && e.details?.['option'] === 'pool');
  });

  it('a pool subclass that overrides acquire() only sees every request, warm routes included', async () => {
    const seen: string[] = [];
    class AuditPool extends Pool {
      override acquire(...args: Parameters<Pool['acquire']>): ReturnType<Pool['acquire']> {
        seen.push(args[0]);
        return super.acquire(...args);
      }
    }
    const p = new AuditPool();
    for (let i = 0; i < 3; i++) {
      const r = await request(`http://127.0.0.1:${http.port}/`, { pool: p });
      assert.equal(await r.text(), 'hello');
      assert.equal(r.info.reused, i > 0);
    }
    assert.equal(seen.length, 3);
    await p.close();
  });

  it('an abort that lands once the route is open and before the request is sent rejects it and sends nothing', async () => {
    const ac = new AbortController();
    class AbortingPool extends Pool {
      override async acquire(...args: Parameters<Pool['acquire']>): ReturnType<Pool['acquire']> {
        const lease = await super.acquire(...args);
        ac.abort();
        return lease;
      }
    }
    const p = new AbortingPool();
    const before = http.requests.length;
    await assert.rejects(request(`http://127.0.0.1:${http.port}/`, { pool: p, signal: ac.signal }), (e: unknown) => isBurrowError(e, 'ERR_ABORTED'));
    assert.equal(http.requests.length, before);
    // The connection went back unused: the next request reuses it.
    const next = await request(`http://127.0.0.1:${http.port}/`, { pool: p });
    assert.equal(await next.text(), 'hello');
    assert.equal(next.info.reused, true);
    await p.close();
  });
});

describe('request(): hop labels', () => {
  it('a first-hop proxy that cannot be reached is named as a proxy, not as the origin', async () => {
    const s = net.createServer();
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    const port = (s.address() as { port: number }).port;
    await new Promise<void>((resolve) => s.close(() => resolve()));
    await assert.rejects(request('http://127.0.0.1:1/', { via: [`http://127.0.0.1:${port}`], pool: false }), (e: unknown) => {
      return isBurrowError(e, 'ERR_CONNECT') && e.hop?.index === 0 && e.hop.kind === 'connect' && e.message.startsWith(`hop 0 (connect tcp://127.0.0.1:${port})`);
    });
  });
});
