// PAC scripts cached by their HTTP caching headers: served by a local origin that counts fetches; max-age
// honoured, revalidation answered 304, no-store, a failed fetch typed, a stale script kept on a failed
// revalidation, files re-read only when they change.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { mkdtempSync, writeFileSync, utimesSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BurrowError } from '../../src/errors/errors.js';
import { freshUntil, PacCache, DEFAULT_PAC_FRESHNESS_MS } from '../../src/pac/cache.js';
import { DEFAULT_PAC_LIMITS } from '../../src/pac/engine.js';
import { pacSourceOf } from '../../src/pac/source.js';
import { request } from '../../src/request/request.js';
import { Pool } from '../../src/request/pool.js';
import { startOrigin, type TestOrigin } from '../../src/testing/origin.js';

interface PacServer {
  url: (path: string) => string;
  /** Requests per path, with their conditional headers. */
  hits: Array<{ path: string; ifNoneMatch: string | undefined }>;
  close(): Promise<void>;
}

/** Serves `FindProxyForURL` scripts: /max-age (max-age=60), /no-cache (no-cache + etag, 304 when it matches), /no-store, /broken (500). */
async function startPacServer(): Promise<PacServer> {
  const hits: PacServer['hits'] = [];
  const server = http.createServer((req, res) => {
    const path = req.url ?? '/';
    const inm = req.headers['if-none-match'];
    hits.push({ path, ifNoneMatch: typeof inm === 'string' ? inm : undefined });
    const body = 'function FindProxyForURL(url, host) { return "DIRECT"; }';
    if (path === '/max-age') return void res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'application/x-ns-proxy-autoconfig' }).end(body);
    if (path === '/no-cache') {
      if (inm === '"v1"') return void res.writeHead(304, { etag: '"v1"', 'cache-control': 'no-cache' }).end();
      return void res.writeHead(200, { etag: '"v1"', 'cache-control': 'no-cache' }).end(body);
    }
    if (path === '/no-store') return void res.writeHead(200, { 'cache-control': 'no-store' }).end(body);
    res.writeHead(500).end('no');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    hits,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('freshUntil', () => {
  const now = 1_000_000;
  it('reads max-age (minus age), no-cache, no-store, expires (against date), and defaults to five minutes', () => {
    assert.equal(freshUntil([['cache-control', 'public, max-age=60']], now), now + 60_000);
    assert.equal(freshUntil([['Cache-Control', 'max-age=60'], ['age', '10']], now), now + 50_000);
    assert.equal(freshUntil([['cache-control', 'no-cache, max-age=60']], now), now);
    assert.equal(freshUntil([['cache-control', 'no-store']], now), undefined);
    assert.equal(freshUntil([['expires', 'Thu, 01 Jan 2026 00:10:00 GMT'], ['date', 'Thu, 01 Jan 2026 00:00:00 GMT']], now), now + 600_000);
    assert.equal(freshUntil([['expires', '0']], now), now);
    assert.equal(freshUntil([], now), now + DEFAULT_PAC_FRESHNESS_MS);
  });
});

describe('PAC cache', () => {
  let pacs: PacServer;
  let origin: TestOrigin;
  let pool: Pool;
  before(async () => {
    pacs = await startPacServer();
    origin = await startOrigin({ protocol: 'http', transport: 'tcp' });
    pool = new Pool();
  });
  after(async () => {
    await pool.close();
    await pacs.close();
    await origin.close();
  });

  const get = async (path: string): Promise<number> => (await request(`${origin.url}/`, { pac: pacs.url(path), pool })).status;
  const count = (path: string): number => pacs.hits.filter((h) => h.path === path).length;

  it('max-age: fetched once for many requests', async () => {
    assert.equal(await get('/max-age'), 200);
    assert.equal(await get('/max-age'), 200);
    await Promise.all([get('/max-age'), get('/max-age')]);
    assert.equal(count('/max-age'), 1);
  });

  it('no-cache with an etag: revalidated every time, answered 304, the script kept', async () => {
    assert.equal(await get('/no-cache'), 200);
    assert.equal(await get('/no-cache'), 200);
    assert.equal(await get('/no-cache'), 200);
    const hits = pacs.hits.filter((h) => h.path === '/no-cache');
    assert.deepEqual(hits.map((h) => h.ifNoneMatch), [undefined, '"v1"', '"v1"']);
  });

  it('no-store: fetched for every request', async () => {
    await get('/no-store');
    await get('/no-store');
    assert.equal(count('/no-store'), 2);
  });

  it('a failed fetch: ERR_PAC_FETCH at stage pac, with the status', async () => {
    await assert.rejects(get('/broken'), (e: unknown) => e instanceof BurrowError && e.code === 'ERR_PAC_FETCH' && e.stage === 'pac' && e.details['status'] === 500);
  });

  it('an unreachable PAC server: ERR_PAC_FETCH with the cause', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((r) => closed.close(() => r()));
    await assert.rejects(request(`${origin.url}/`, { pac: `http://127.0.0.1:${port}/x.pac`, pool }), (e: unknown) => e instanceof BurrowError && e.code === 'ERR_PAC_FETCH' && e.cause instanceof BurrowError && e.cause.code === 'ERR_CONNECT');
  });

  it('a stale script is used when its revalidation fails', async () => {
    let up = true;
    const cache = new PacCache();
    const source = pacSourceOf('http://pac.test/x.pac', 'pac');
    const fetch = (): Promise<{ status: number; headers: Array<[string, string]>; text: string }> =>
      up ? Promise.resolve({ status: 200, headers: [['cache-control', 'max-age=0'], ['etag', '"a"']], text: 'function FindProxyForURL() { return "DIRECT"; }' }) : Promise.reject(new Error('down'));
    const first = await cache.get(source, { fetch, limits: DEFAULT_PAC_LIMITS });
    up = false;
    assert.equal(await cache.get(source, { fetch, limits: DEFAULT_PAC_LIMITS }), first);
    assert.equal(cache.loads, 2);
    cache.clear();
  });

  it('a file is read again only when it changes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'burrow-pac-'));
    try {
      const path = join(dir, 'proxy.pac');
      writeFileSync(path, 'function FindProxyForURL() { return "DIRECT"; }');
      const cache = new PacCache();
      const source = pacSourceOf(path, 'pac');
      const fetch = (): never => assert.fail('no fetch for a file');
      const a = await cache.get(source, { fetch, limits: DEFAULT_PAC_LIMITS });
      assert.equal(await cache.get(source, { fetch, limits: DEFAULT_PAC_LIMITS }), a);
      assert.equal(cache.loads, 1);
      writeFileSync(path, 'function FindProxyForURL() { return "PROXY changed.test:1"; }');
      utimesSync(path, new Date(), new Date(Date.now() + 5000));
      const b = await cache.get(source, { fetch, limits: DEFAULT_PAC_LIMITS });
      assert.notEqual(b, a);
      assert.equal(await b.find('http://x/', 'x'), 'PROXY changed.test:1');
      await assert.rejects(cache.get(pacSourceOf(join(dir, 'missing.pac'), 'pac'), { fetch, limits: DEFAULT_PAC_LIMITS }), (e: unknown) => e instanceof BurrowError && e.code === 'ERR_PAC_FETCH');
      cache.clear();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
