// Fail-over among routes: `via` then `fallback` chains tried in order when a route fails before the request
// reached the origin; a dead route remembered (tried last) for failoverTtl; ERR_ALL_ROUTES_FAILED listing every
// route with its error; no fail-over once the request reached the origin; the total timeout over all attempts.
import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { request, type RouteAttempt } from '../../src/request/request.js';
import { AllRoutesFailedError, failedBeforeOrigin, forgetDeadRoutes } from '../../src/request/failover.js';
import { Pool } from '../../src/request/pool.js';
import { BurrowError } from '../../src/errors/errors.js';
import { startOrigin, type TestOrigin } from '../../src/testing/origin.js';
import { startConnectProxy, type TestConnectProxy } from '../../src/testing/connect-proxy.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('fail-over', () => {
  let origin: TestOrigin;
  let live: TestConnectProxy;
  let live2: TestConnectProxy;
  let refusing: TestConnectProxy;
  let silent: TestConnectProxy;
  let closed: number;
  let pool: Pool;
  let baseline: string[];

  before(async () => {
    baseline = resourceSnapshot();
    origin = await startOrigin({ protocol: 'http', transport: 'tcp' });
    live = await startConnectProxy();
    live2 = await startConnectProxy();
    refusing = await startConnectProxy({ behavior: { refuseTarget: true } });
    silent = await startConnectProxy({ behavior: { neverAnswer: true } });
    closed = await closedPort();
  });
  beforeEach(() => {
    forgetDeadRoutes();
    pool = new Pool();
  });
  after(async () => {
    await pool.close();
    for (const s of [origin, live, live2, refusing, silent]) await s.close();
    await assertNoLeaks(baseline);
  });

  it('a refused CONNECT: the fallback chain carries the request; onRoute tells the failure and the route taken', async () => {
    const seen: RouteAttempt[] = [];
    const res = await request(`${origin.url}/`, { via: [refusing.url], fallback: [[live.url]], pool, onRoute: (a) => a.outcome !== 'trying' && seen.push(a) });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'hello');
    assert.deepEqual(seen.map((a) => [a.source, a.route, a.error?.code]), [
      ['via', [refusing.url], 'ERR_CONNECT_STATUS'],
      ['fallback[0]', [live.url], undefined],
    ]);
    await pool.close();
  });

  it('the dead route is remembered: the next request goes straight to the live one, the dead one is tried last', async () => {
    const first = await request(`${origin.url}/`, { via: [refusing.url], fallback: [[live.url]], pool });
    await first.text();
    const refused = refusing.connections;
    const seen: RouteAttempt[] = [];
    const second = await request(`${origin.url}/`, { via: [refusing.url], fallback: [[live.url]], pool, onRoute: (a) => a.outcome !== 'trying' && seen.push(a) });
    await second.text();
    assert.equal(refusing.connections, refused);
    assert.deepEqual(seen.map((a) => [a.source, a.error?.code]), [['fallback[0]', undefined]]);
    await pool.close();
  });

  it('failoverTtl 0: nothing is remembered', async () => {
    for (let i = 0; i < 2; i++) {
      const before = refusing.connections;
      const res = await request(`${origin.url}/`, { via: [refusing.url], fallback: [[live.url]], pool, failoverTtl: 0 });
      await res.text();
      assert.equal(refusing.connections, before + 1);
    }
    await pool.close();
  });

  it('a closed port, then a direct route ([]): direct taken', async () => {
    const seen: RouteAttempt[] = [];
    const res = await request(`${origin.url}/`, { via: [`http://127.0.0.1:${closed}`], fallback: [[]], pool, onRoute: (a) => a.outcome !== 'trying' && seen.push(a) });
    assert.equal(await res.text(), 'hello');
    assert.deepEqual(seen.map((a) => [a.route, a.error?.code]), [[[`http://127.0.0.1:${closed}`], 'ERR_CONNECT'], [[], undefined]]);
    await pool.close();
  });

  it('every route failing: ERR_ALL_ROUTES_FAILED listing each route with its typed error, passwords masked', async () => {
    const err = await request(`${origin.url}/`, { via: [refusing.url], fallback: [`http://user:s3cret@127.0.0.1:${closed}`], pool }).then(
      () => assert.fail('expected a rejection'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof AllRoutesFailedError);
    assert.equal(err.code, 'ERR_ALL_ROUTES_FAILED');
    assert.equal(err.stage, 'route');
    assert.deepEqual(err.attempts.map((a) => [a.source, a.route, a.error?.code]), [
      ['via', [refusing.url], 'ERR_CONNECT_STATUS'],
      ['fallback[0]', [`http://user:***@127.0.0.1:${closed}`], 'ERR_CONNECT'],
    ]);
    assert.deepEqual(err.errors.map((e) => e.code), ['ERR_CONNECT_STATUS', 'ERR_CONNECT']);
    assert.equal(err.details['attempts'], 2);
    assert.ok(err.cause instanceof BurrowError);
    assert.doesNotMatch(err.message, /s3cret/);
    assert.match(err.message, /fallback\[0\]/);
    await pool.close();
  });

  it('one route only: its own error, unchanged', async () => {
    await assert.rejects(request(`${origin.url}/`, { via: [refusing.url], fallback: [], pool }), (e: unknown) => e instanceof BurrowError && e.code === 'ERR_CONNECT_STATUS');
  });

  it('no fail-over once the request reached the origin (the origin drops it): the error is the request\'s', async () => {
    const before = live2.connections;
    await assert.rejects(request(`${origin.url}/rst`, { via: [live.url], fallback: [[live2.url]], pool }), (e: unknown) => e instanceof BurrowError && e.code !== 'ERR_ALL_ROUTES_FAILED');
    assert.equal(live2.connections, before);
    await pool.close();
  });

  it('the total timeout covers every attempt: a proxy that never answers ends with ERR_REQUEST_TIMEOUT, not the next route', async () => {
    const started = performance.now();
    const before = live.connections;
    await assert.rejects(request(`${origin.url}/`, { via: [silent.url], fallback: [[live.url]], pool, timeouts: { total: 200 } }), (e: unknown) => e instanceof BurrowError && e.code === 'ERR_REQUEST_TIMEOUT');
    assert.ok(performance.now() - started < 3000);
    assert.equal(live.connections, before);
    await pool.close();
  });

  it('a hop timeout (CONNECT unanswered) fails over; the time left is the next attempt\'s', async () => {
    const res = await request(`${origin.url}/`, { via: [{ url: silent.url, connectTimeout: 100 }], fallback: [[live.url]], pool, timeouts: { total: 5000 } });
    assert.equal(await res.text(), 'hello');
    await pool.close();
  });

  it('an aborted signal stops the choice', async () => {
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(request(`${origin.url}/`, { via: [refusing.url], fallback: [[live.url]], pool, signal: ac.signal }), (e: unknown) => e instanceof BurrowError && e.code === 'ERR_ABORTED');
  });

  it('bad fallback input: ERR_INVALID_OPTION', async () => {
    await assert.rejects(request(`${origin.url}/`, { fallback: 'nope' as unknown as [], pool }), (e: unknown) => e instanceof BurrowError && e.code === 'ERR_INVALID_OPTION');
    await assert.rejects(request(`${origin.url}/`, { fallback: [['ftp://x']], pool }), (e: unknown) => e instanceof BurrowError && e.code === 'ERR_INVALID_OPTION');
  });

  it('failedBeforeOrigin: which failures fail over', () => {
    const hop = (kind: 'origin' | 'connect' | 'socks5') => ({ index: 0, kind, host: 'h', port: 1, transport: 'tls' as const });
    assert.equal(failedBeforeOrigin(new BurrowError('ERR_CONNECT', 'x', { stage: 'tcp', hop: hop('origin') })), true);
    assert.equal(failedBeforeOrigin(new BurrowError('ERR_TLS', 'x', { stage: 'tls', hop: hop('connect') })), true);
    assert.equal(failedBeforeOrigin(new BurrowError('ERR_TLS', 'x', { stage: 'tls', hop: hop('origin') })), false);
    assert.equal(failedBeforeOrigin(new BurrowError('ERR_SOCKS_REPLY', 'x', { stage: 'socks-reply', hop: hop('socks5') })), true);
    assert.equal(failedBeforeOrigin(new BurrowError('ERR_HTTP_PARSE', 'x', { stage: 'connect-response', hop: hop('connect') })), true);
    assert.equal(failedBeforeOrigin(new BurrowError('ERR_CONNECTION_CLOSED', 'x', { stage: 'tcp', hop: hop('connect') })), false);
    assert.equal(failedBeforeOrigin(new BurrowError('ERR_HEADERS_TIMEOUT', 'x', { stage: 'timeout' })), false);
    assert.equal(failedBeforeOrigin(new Error('x')), false);
  });
});
