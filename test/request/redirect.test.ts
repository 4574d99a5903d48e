// request()'s redirect step: the method table, replayed and refused bodies, what another origin is not sent,
// bad locations, loops, the route per origin, and the call's timeout and signal over the whole chain.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { request } from '../../src/request/request.js';
import { Pool } from '../../src/request/pool.js';
import { isBurrowError } from '../../src/errors/errors.js';
import { startConnectProxy, type TestConnectProxy } from '../../src/testing/connect-proxy.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * An origin: `/r/CODE?to=URL` answers CODE with `location: URL` (raw, as given); `/loop` redirects to itself;
 * `/hang` never answers; anything else echoes the request as JSON. Every request is kept in `seen`.
 */
async function startRedirectOrigin(host = '127.0.0.1'): Promise<{ url: string; port: number; seen: Seen[]; connections: () => number; close(): Promise<void> }> {
  const seen: Seen[] = [];
  let connections = 0;
  const hanging: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const u = new URL(req.url ?? '/', 'http://x');
      const m = /^\/r\/(\d{3})$/.exec(u.pathname);
      if (m !== null) {
        res.writeHead(Number(m[1]), { location: u.searchParams.get('to') ?? '/', 'content-length': '5' });
        res.end('moved');
      } else if (u.pathname === '/loop') {
        res.writeHead(302, { location: '/loop', 'content-length': '0' });
        res.end();
      } else if (u.pathname === '/hang') {
        hanging.push(res);
      } else {
        const out = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(out)) });
        res.end(out);
      }
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, host, r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}`,
    port,
    seen,
    connections: () => connections,
    close: async () => {
      for (const r of hanging) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A server answering every request with `head` as raw bytes (a Location no HTTP library would write). */
async function startRawOrigin(head: string): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.once('data', () => s.end(head));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

async function* streamed(text: string): AsyncIterable<Uint8Array> {
  yield Buffer.from(text);
}

describe('request(): redirects', () => {
  let a: Awaited<ReturnType<typeof startRedirectOrigin>>;
  let b: Awaited<ReturnType<typeof startRedirectOrigin>>;
  let proxy: TestConnectProxy;
  let pool: Pool;
  let baseline: string[];
  before(async () => {
    baseline = resourceSnapshot();
    a = await startRedirectOrigin('127.0.0.1');
    b = await startRedirectOrigin('localhost');
    proxy = await startConnectProxy({ transport: 'tcp' });
    pool = new Pool();
  });
  after(async () => {
    await pool.close();
    for (const s of [a, b, proxy]) await s.close();
    await assertNoLeaks(baseline);
  });

  it('changes the method as browsers do: 303 (but HEAD) and 301/302 after a POST become a GET without the body', async () => {
    const table: Array<[number, string, string, boolean]> = [
      [301, 'POST', 'GET', false],
      [302, 'POST', 'GET', false],
      [303, 'POST', 'GET', false],
      [303, 'PUT', 'GET', false],
      [303, 'DELETE', 'GET', false],
      [307, 'POST', 'POST', true],
      [308, 'POST', 'POST', true],
      [301, 'PUT', 'PUT', true],
      [302, 'PATCH', 'PATCH', true],
      [307, 'PUT', 'PUT', true],
    ];
    for (const [status, method, want, keepsBody] of table) {
      const res = await request(`${a.url}/r/${status}?to=/echo`, {
        method,
        body: 'x=1',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-language': 'en', 'x-keep': '1' },
        pool,
      });
      const echo = (await res.json()) as Echo;
      const what = `${status} after ${method}`;
      assert.equal(echo.method, want, what);
      assert.equal(echo.body, keepsBody ? 'x=1' : '', what);
      assert.equal(echo.headers['content-type'], keepsBody ? 'application/x-www-form-urlencoded' : undefined, what);
      assert.equal(echo.headers['content-language'], keepsBody ? 'en' : undefined, what);
      assert.equal(echo.headers['content-length'], keepsBody ? '3' : undefined, what);
      assert.equal(echo.headers['x-keep'], '1', what);
      assert.deepEqual(res.redirects, [{ url: `${a.url}/r/${status}?to=/echo`, status }], what);
    }
    const head = await request(`${a.url}/r/303?to=/echo`, { method: 'HEAD', pool });
    assert.equal(head.status, 200);
    assert.equal(a.seen[a.seen.length - 1]?.method, 'HEAD');
    head.cancel();
  });

  it('307 and 308 send a whole body again (string and bytes) and keep the connection of the origin', async () => {
    const own = new Pool();
    const before = a.connections();
    const bytes = Buffer.from([0, 1, 2, 255]);
    const r1 = await request(`${a.url}/r/307?to=/echo`, { method: 'POST', body: bytes, pool: own });
    assert.equal(((await r1.json()) as Echo).body, bytes.toString());
    const r2 = await request(`${a.url}/r/308?to=${encodeURIComponent('/r/307?to=/echo')}`, { method: 'PUT', body: 'again', pool: own });
    const echo = (await r2.json()) as Echo;
    assert.equal(echo.method, 'PUT');
    assert.equal(echo.body, 'again');
    assert.deepEqual(r2.redirects.map((h) => h.status), [308, 307]);
    // The redirect bodies were read to their end: one connection carried all five requests.
    assert.equal(a.connections() - before, 1);
    await own.close();
  });

  it('a streamed body cannot be sent again: ERR_BODY_NOT_REPLAYABLE, not an empty body; onRedirect may give it again', async () => {
    const n = a.seen.length;
    await assert.rejects(request(`${a.url}/r/307?to=/echo`, { method: 'POST', body: streamed('data'), pool }), (e: unknown) => {
      assert.ok(isBurrowError(e, 'ERR_BODY_NOT_REPLAYABLE'), String(e));
      assert.equal(e.details['status'], 307);
      return true;
    });
    assert.equal(a.seen.length, n + 1, 'the redirect was not followed');
    // 303 drops the body: a streamed one is fine.
    const r = await request(`${a.url}/r/303?to=/echo`, { method: 'POST', body: streamed('data'), pool });
    assert.equal(((await r.json()) as Echo).method, 'GET');
    const again = await request(`${a.url}/r/307?to=/echo`, { method: 'POST', body: streamed('data'), pool, onRedirect: () => ({ body: streamed('data') }) });
    assert.equal(((await again.json()) as Echo).body, 'data');
  });

  it('to another origin: authorization, cookie, proxy-authorization and URL credentials are not sent; the rest is', async () => {
    const to = `http://user:pw@localhost:${b.port}/echo`;
    const infos: Array<{ dropped: readonly string[]; to: string; from: string; method: string }> = [];
    const res = await request(`http://me:secret@127.0.0.1:${a.port}/r/302?to=${encodeURIComponent(to)}`, {
      headers: { authorization: 'Bearer t0ken', cookie: 'sid=1', 'proxy-authorization': 'Basic eA==', 'x-keep': 'yes', host: `127.0.0.1:${a.port}` },
      pool,
      onRedirect: (r) => {
        infos.push({ dropped: r.dropped, to: r.to.href, from: r.from, method: r.method });
      },
    });
    const echo = (await res.json()) as Echo;
    assert.equal(echo.headers['authorization'], undefined);
    assert.equal(echo.headers['cookie'], undefined);
    assert.equal(echo.headers['proxy-authorization'], undefined);
    assert.equal(echo.headers['x-keep'], 'yes');
    assert.equal(echo.headers['host'], `localhost:${b.port}`);
    const first = a.seen[a.seen.length - 1] as Seen;
    assert.equal(first.headers['authorization'], 'Bearer t0ken', 'the first origin got them');
    assert.deepEqual(infos, [{ dropped: ['authorization', 'cookie', 'proxy-authorization'], to: `http://localhost:${b.port}/echo`, from: `http://me:***@127.0.0.1:${a.port}/r/302?to=${encodeURIComponent(to)}`, method: 'GET' }]);
    assert.equal(res.url, `http://localhost:${b.port}/echo`);
    assert.ok(!JSON.stringify(res.redirects).includes('secret'), 'res.redirects masks passwords');
    // Within the origin they are kept.
    const same = await request(`${a.url}/r/302?to=/echo`, { headers: { authorization: 'Bearer t0ken', cookie: 'sid=1' }, pool });
    const e2 = (await same.json()) as Echo;
    assert.equal(e2.headers['authorization'], 'Bearer t0ken');
    assert.equal(e2.headers['cookie'], 'sid=1');
  });

  it('resolves a relative Location against the current URL and keeps the fragment (RFC 9110 §10.2.2)', async () => {
    const res = await request(`${a.url}/r/301?to=echo%3Fq%3D1#frag`, { pool });
    assert.equal(res.url, `${a.url}/r/echo?q=1#frag`);
    await res.text();
    const own = await request(`${a.url}/r/301?to=${encodeURIComponent('/echo#mine')}#frag`, { pool });
    assert.equal(own.url, `${a.url}/echo#mine`);
    await own.text();
  });

  it('a loop ends with ERR_TOO_MANY_REDIRECTS listing the chain, at maxRedirects or at the default 20', async () => {
    const n = a.seen.length;
    await assert.rejects(request(`${a.url}/loop`, { maxRedirects: 3, pool }), (e: unknown) => {
      assert.ok(isBurrowError(e, 'ERR_TOO_MANY_REDIRECTS'), String(e));
      assert.equal(e.details['redirects'], 4);
      assert.equal(e.details['chain'], Array(4).fill(`${a.url}/loop`).join(' '));
      return true;
    });
    assert.equal(a.seen.length - n, 4);
    await assert.rejects(request(`${a.url}/loop`, { pool }), (e: unknown) => isBurrowError(e, 'ERR_TOO_MANY_REDIRECTS') && e.details['redirects'] === 21);
    await assert.rejects(request(`${a.url}/r/302?to=/echo`, { maxRedirects: 0, pool }), (e: unknown) => isBurrowError(e, 'ERR_TOO_MANY_REDIRECTS'));
  });

  it("'manual' hands the redirect back; 'error' rejects with ERR_REDIRECT_REFUSED; bad options are refused", async () => {
    const m = await request(`${a.url}/r/302?to=/echo`, { redirect: 'manual', pool });
    assert.equal(m.status, 302);
    assert.equal(m.header('location'), '/echo');
    assert.deepEqual(m.redirects, []);
    assert.equal(await m.text(), 'moved');
    await assert.rejects(request(`${a.url}/r/302?to=/echo`, { redirect: 'error', pool }), (e: unknown) => isBurrowError(e, 'ERR_REDIRECT_REFUSED') && e.details['status'] === 302);
    const plain = await request(`${a.url}/echo`, { redirect: 'error', pool });
    assert.deepEqual(plain.redirects, []);
    await plain.text();
    await assert.rejects(request(`${a.url}/echo`, { redirect: 'sometimes' as 'follow', pool }), (e: unknown) => isBurrowError(e, 'ERR_INVALID_OPTION') && e.details['option'] === 'redirect');
    await assert.rejects(request(`${a.url}/echo`, { maxRedirects: -1, pool }), (e: unknown) => isBurrowError(e, 'ERR_INVALID_OPTION') && e.details['option'] === 'maxRedirects');
  });

  it('follows only http: and https: locations; an unparseable one is ERR_REDIRECT_LOCATION', async () => {
    for (const to of ['ftp://example.com/x', 'file:///etc/passwd', 'javascript:alert(1)', 'data:text/plain,hi']) {
      await assert.rejects(request(`${a.url}/r/302?to=${encodeURIComponent(to)}`, { pool }), (e: unknown) => {
        assert.ok(isBurrowError(e, 'ERR_REDIRECT_LOCATION'), `${to}: ${String(e)}`);
        assert.equal(e.details['reason'], 'scheme');
        return true;
      });
    }
    await assert.rejects(request(`${a.url}/r/302?to=${encodeURIComponent('http://[::1')}`, { pool }), (e: unknown) => isBurrowError(e, 'ERR_REDIRECT_LOCATION') && e.details['reason'] === 'invalid');
  });

  it('a Location with CR or LF in it is a typed error, not a header nor a request line', async () => {
    for (const head of ['HTTP/1.1 302 Found\r\nlocation: /a\rb\r\ncontent-length: 0\r\n\r\n', 'HTTP/1.1 302 Found\r\nlocation: /a\r\n b\r\ncontent-length: 0\r\n\r\n', 'HTTP/1.1 302 Found\r\nlocation: /a\0b\r\ncontent-length: 0\r\n\r\n']) {
      const raw = await startRawOrigin(head);
      await assert.rejects(request(`${raw.url}/`, { pool: false }), (e: unknown) => {
        assert.ok(isBurrowError(e, 'ERR_HTTP_PARSE') || isBurrowError(e, 'ERR_REDIRECT_LOCATION'), `${JSON.stringify(head)}: ${String(e)}`);
        return true;
      });
      await raw.close();
    }
  });

  it('chooses the route again for each origin: via for all, env with NO_PROXY per origin', async () => {
    const n = proxy.requests.length;
    const to = `http://localhost:${b.port}/echo`;
    const viaAll = await request(`${a.url}/r/302?to=${encodeURIComponent(to)}`, { via: [proxy.url], pool });
    assert.equal(viaAll.status, 200);
    await viaAll.text();
    assert.deepEqual(proxy.requests.slice(n).map((r) => r.target), [`127.0.0.1:${a.port}`, `localhost:${b.port}`]);
    const m = proxy.requests.length;
    const env = { http_proxy: proxy.url, no_proxy: 'localhost' };
    // A pool of its own: the tunnel to the first origin above is not reused.
    const own = new Pool();
    const split = await request(`${a.url}/r/302?to=${encodeURIComponent(to)}`, { env, pool: own });
    assert.equal(split.status, 200);
    await split.text();
    assert.deepEqual(proxy.requests.slice(m).map((r) => r.target), [`127.0.0.1:${a.port}`], 'the second origin is in NO_PROXY');
    assert.equal(split.info.layers.length, 2, 'direct: TCP and HTTP only');
    await own.close();
  });

  it('timeouts.total bounds the whole chain with one timer; the signal aborts it between hops', async () => {
    await assert.rejects(request(`${a.url}/r/302?to=/hang`, { timeouts: { total: 150 }, pool }), (e: unknown) => isBurrowError(e, 'ERR_REQUEST_TIMEOUT'));
    const ac = new AbortController();
    await assert.rejects(
      request(`${a.url}/r/302?to=/echo`, { signal: ac.signal, pool, onRedirect: () => ac.abort(new Error('enough')) }),
      (e: unknown) => isBurrowError(e, 'ERR_ABORTED') && (e.cause as Error).message === 'enough',
    );
    // A chain that completes leaves no timer behind (the total timer ends with the last body).
    const snap = resourceSnapshot();
    const ok = await request(`${a.url}/r/302?to=/echo`, { timeouts: { total: 60_000 }, signal: new AbortController().signal, pool });
    await ok.text();
    await assertNoLeaks(snap);
  });

  it('what onRedirect throws rejects the request as it is', async () => {
    const oops = new Error('no thanks');
    await assert.rejects(request(`${a.url}/r/302?to=/echo`, { pool, onRedirect: () => { throw oops; } }), (e: unknown) => e === oops);
  });
});
