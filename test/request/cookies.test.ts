// request(url, { cookies: jar }): the jar's cookies go to the origin (never to a proxy) and every Set-Cookie of
// the response is stored, over HTTP/1.1 and HTTP/2, directly and through chains.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { request } from '../../src/request/request.js';
import { Pool } from '../../src/request/pool.js';
import { CookieJar, type CookieRejection } from '../../src/cookies/jar.js';
import { isBurrowError } from '../../src/errors/errors.js';
import { createTestPki, type TestPki } from '../../src/testing/pki.js';
import { startConnectProxy, type TestConnectProxy } from '../../src/testing/connect-proxy.js';
import { startSocks5Server, type TestSocks5Server } from '../../src/testing/socks5-server.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';

/** `/set?c=a%3D1&c=b%3D2`: one Set-Cookie per `c`; every path: the request's cookie headers as JSON. */
function handler(req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse): void {
  const u = new URL(req.url ?? '/', 'http://x');
  const set = u.searchParams.getAll('c');
  if (set.length > 0) res.setHeader('set-cookie', set);
  const raw = req.rawHeaders;
  const cookies: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if ((raw[i] as string).toLowerCase() === 'cookie') cookies.push(raw[i + 1] as string);
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(cookies));
}

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function setUrl(base: string, ...cookies: string[]): string {
  return `${base}/set?${cookies.map((c) => `c=${encodeURIComponent(c)}`).join('&')}`;
}

describe('request() with a cookie jar', () => {
  let pki: TestPki;
  let h1: http.Server;
  let h2: http2.Http2SecureServer;
  let httpBase: string;
  let httpsBase: string;
  let hps: TestConnectProxy;
  let hp: TestConnectProxy;
  let socksTls: TestSocks5Server;
  let pool: Pool;
  let baseline: string[];
  const sessions = new Set<http2.ServerHttp2Session>();
  before(async () => {
    baseline = resourceSnapshot();
    pki = createTestPki();
    h1 = http.createServer(handler);
    h2 = http2.createSecureServer({ key: pki.server.key, cert: pki.server.cert, allowHTTP1: true }, handler);
    h2.on('session', (s) => {
      sessions.add(s);
      s.on('close', () => sessions.delete(s));
    });
    httpBase = `http://127.0.0.1:${await listen(h1)}`;
    httpsBase = `https://localhost:${await listen(h2)}`;
    hps = await startConnectProxy({ transport: 'tls', pki });
    hp = await startConnectProxy({ transport: 'tcp' });
    socksTls = await startSocks5Server({ transport: 'tls', pki });
    pool = new Pool();
  });
  after(async () => {
    await pool.close();
    await hps.close();
    await hp.close();
    await socksTls.close();
    h1.closeAllConnections();
    for (const s of sessions) s.destroy();
    await new Promise((r) => h1.close(r));
    await new Promise((r) => h2.close(r));
    await assertNoLeaks(baseline);
  });

  async function cookiesSeen(res: Awaited<ReturnType<typeof request>>): Promise<string[]> {
    return JSON.parse(await res.text()) as string[];
  }

  it('stores every Set-Cookie of an HTTP/1.1 response and sends them back in one cookie header', async () => {
    const jar = new CookieJar();
    const first = await request(setUrl(httpBase, 'a=1; Path=/', 'b=2; Path=/', 'c=3'), { cookies: jar, pool });
    assert.deepEqual(first.headers.filter(([n]) => n === 'set-cookie').length, 3);
    assert.deepEqual(await cookiesSeen(first), []);
    // c=3 has the default path `/` (the directory of /set).
    assert.equal(jar.size, 3);
    const second = await request(`${httpBase}/page`, { cookies: jar, pool });
    assert.deepEqual(await cookiesSeen(second), ['a=1; b=2; c=3']);
  });

  it('stores every Set-Cookie of an HTTP/2 response (repeated header fields)', async () => {
    const jar = new CookieJar();
    const res = await request(setUrl(httpsBase, 'x=1; Secure; Path=/', 'y=2; HttpOnly; Path=/'), { cookies: jar, pool, tls: { ca: pki.ca } });
    assert.equal(res.version, '2');
    await res.text();
    assert.deepEqual(jar.getAllCookies().map((c) => [c.name, c.secure, c.httpOnly]), [['x', true, false], ['y', false, true]]);
    const again = await request(`${httpsBase}/`, { cookies: jar, pool, tls: { ca: pki.ca } });
    assert.deepEqual(await cookiesSeen(again), ['x=1; y=2']);
  });

  it("puts the user's cookie header first and the jar's after it, in one header", async () => {
    const jar = new CookieJar();
    jar.setCookie('j=1', `${httpBase}/`);
    const res = await request(`${httpBase}/`, { cookies: jar, pool, headers: [['Cookie', 'u=1'], ['x-a', 'b'], ['cookie', 'v=2']] });
    assert.deepEqual(await cookiesSeen(res), ['u=1; v=2; j=1']);
    const none = await request(`${httpBase}/`, { cookies: new CookieJar(), pool, headers: { cookie: 'u=1' } });
    assert.deepEqual(await cookiesSeen(none), ['u=1']);
  });

  it('sends cookies to the origin only: not in the CONNECT request of an HTTPS proxy, not in a SOCKS5 handshake', async () => {
    const jar = new CookieJar();
    const secret = 'sekrit-cookie-value';
    const tls = { ca: pki.ca };
    const via = [{ url: hps.url, tls }, { url: `socks5hs://127.0.0.1:${socksTls.port}`, tls }];
    await (await request(setUrl(httpsBase, `s=${secret}; Secure; Path=/`), { cookies: jar, pool: false, via, tls })).text();
    const res = await request(`${httpsBase}/after`, { cookies: jar, pool: false, via, tls });
    assert.deepEqual(await cookiesSeen(res), [`s=${secret}`]);
    assert.ok(hps.requests.length >= 2);
    for (const r of hps.requests) {
      assert.equal(r.method, 'CONNECT');
      assert.ok(!/cookie/i.test(r.rawHead) && !r.rawHead.includes(secret), r.rawHead);
    }
    assert.ok(socksTls.events.some((e) => e.type === 'connect'));
    assert.ok(!JSON.stringify(socksTls.events).includes(secret));
  });

  it('an http origin through a plain proxy: the cookies travel in the tunnel, never in the CONNECT request', async () => {
    const jar = new CookieJar();
    const secret = 'plain-cookie-value';
    await (await request(setUrl(httpBase, `p=${secret}; Path=/`), { cookies: jar, pool: false, via: [hp.url] })).text();
    const res = await request(`${httpBase}/after`, { cookies: jar, pool: false, via: [hp.url], headers: { cookie: 'own=1' } });
    assert.deepEqual(await cookiesSeen(res), [`own=1; p=${secret}`]);
    assert.equal(hp.requests.length, 2);
    for (const r of hp.requests) {
      assert.equal(r.method, 'CONNECT');
      assert.ok(!/cookie/i.test(r.rawHead) && !r.rawHead.includes(secret), r.rawHead);
    }
  });

  it('skips a Set-Cookie the jar refuses, reports it through onReject, and the request succeeds', async () => {
    const rejected: CookieRejection[] = [];
    const jar = new CookieJar({ onReject: (r) => rejected.push(r) });
    const res = await request(setUrl(httpBase, '=', 's=1; Secure', '__Host-h=1; Path=/', `big=${'x'.repeat(5000)}`, 'ok=1; Domain=com'), { cookies: jar, pool });
    assert.equal(res.status, 200);
    await res.text();
    assert.deepEqual(rejected.map((r) => r.reason), ['empty', 'secure-from-insecure', 'bad-prefix', 'too-large', 'public-suffix']);
    assert.equal(jar.size, 0);
  });

  it('a jar whose onReject throws: ERR_CALLBACK, and the response is cancelled (its connection not leaked)', async () => {
    const jar = new CookieJar({
      onReject: () => {
        throw new Error('listener bug');
      },
    });
    const own = new Pool();
    await assert.rejects(request(setUrl(httpBase, '='), { cookies: jar, pool: own }), (e) => isBurrowError(e) && e.code === 'ERR_CALLBACK' && e.details['callback'] === 'cookies' && (e.cause as Error).message === 'listener bug');
    // The connection went back to the pool (or was closed): the next request on the pool goes through.
    const ok = await request(`${httpBase}/`, { pool: own });
    assert.equal(ok.status, 200);
    await ok.text();
    await own.close();
  });

  it('rejects a cookies option that is not a jar with ERR_INVALID_OPTION', async () => {
    await assert.rejects(request(`${httpBase}/`, { cookies: {} as CookieJar, pool }), (e) => isBurrowError(e) && e.code === 'ERR_INVALID_OPTION' && e.details['option'] === 'cookies');
  });

  it('keeps the error of an invalid URL as the exchange gives it', async () => {
    await assert.rejects(request('not a url', { cookies: new CookieJar(), pool }), (e) => isBurrowError(e) && e.code === 'ERR_INVALID_OPTION' && e.details['option'] === 'url');
  });
});
