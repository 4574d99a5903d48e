// Pool: connections keyed by route, one request at a time on HTTP/1.1 routes, and the idle
// timeout counted from the last release (one timer per idle period, not per request).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { Pool } from '../../src/request/pool.js';
import type { OpenRoute } from '../../src/request/route.js';
import type { Connection } from '../../src/connection/connection.js';
import type { Http2SettingsReport } from '../../src/shared/messages.js';

/** A stand-in connection: up until closed; close() emits 'close'. */
class FakeConn extends EventEmitter {
  state: 'up' | 'closed' = 'up';
  closes = 0;
  /** The HTTP/2 server's SETTINGS as remoteSettings() reports them (undefined: not arrived yet). */
  settings: Http2SettingsReport | undefined = { maxConcurrentStreams: 100 };
  hasStream(): boolean {
    return true;
  }
  remoteSettings(): Http2SettingsReport | undefined {
    return this.settings;
  }
  /** The server's SETTINGS arrive. */
  settingsArrive(settings: Http2SettingsReport): void {
    this.settings = settings;
    this.emit('notify', { type: 'settings', settings });
  }
  close(): Promise<void> {
    this.closes++;
    if (this.state !== 'closed') {
      this.state = 'closed';
      this.emit('close', null);
    }
    return Promise.resolve();
  }
}

/** The pool's idle timers are unref'ed: keep the event loop alive while a test waits for one. */
async function whileAlive<T>(p: Promise<T>): Promise<T> {
  const keep = setInterval(() => undefined, 1000);
  try {
    return await p;
  } finally {
    clearInterval(keep);
  }
}

function fakeRoute(protocol: 'http' | 'http2' = 'http'): { route: OpenRoute; conn: FakeConn } {
  const conn = new FakeConn();
  return { conn, route: { conn: conn as unknown as Connection, tunnel: undefined, protocol, layers: [] } };
}

describe('Pool', () => {
  it('reuses an idle HTTP/1.1 connection of the same key, opens another while it is busy', async () => {
    const pool = new Pool();
    const a = fakeRoute();
    const b = fakeRoute();
    const l1 = await pool.acquire('k', async () => a.route);
    assert.equal(l1.reused, false);
    const l2 = await pool.acquire('k', async () => b.route);
    assert.equal(l2.route, b.route, 'a busy HTTP/1.1 connection is not shared');
    l1.release(true);
    const l3 = await pool.acquire('k', async () => assert.fail('should reuse'));
    assert.equal(l3.route, a.route);
    assert.equal(l3.reused, true);
    l2.release(true);
    l3.release(true);
    await pool.close();
    assert.equal(a.conn.state, 'closed');
    assert.equal(b.conn.state, 'closed');
  });

  it('tryAcquire leases a connection that can take a request now and never opens or waits', async () => {
    const pool = new Pool();
    assert.equal(pool.tryAcquire('k'), undefined, 'nothing pooled for the key yet');
    const a = fakeRoute();
    const l1 = await pool.acquire('k', async () => a.route);
    assert.equal(pool.tryAcquire('k'), undefined, 'a busy HTTP/1.1 connection is not shared');
    l1.release(true);
    const l2 = pool.tryAcquire('k');
    assert.equal(l2?.route, a.route);
    assert.equal(l2?.reused, true);
    assert.equal(pool.tryAcquire('other'), undefined, 'another route key gets nothing');
    l2?.release(true);
    const h2 = fakeRoute('http2');
    const l3 = await pool.acquire('h2', async () => h2.route);
    const l4 = pool.tryAcquire('h2');
    assert.equal(l4?.route, h2.route, 'an HTTP/2 connection with free streams is shared');
    l3.release(true);
    l4?.release(true);
    await pool.close();
    assert.equal(pool.tryAcquire('k'), undefined, 'a closed pool leases nothing');
    assert.equal(a.conn.state, 'closed');
  });

  it('an idle timer armed before a connection was leased again does not close it while in use', async () => {
    const idleTimeout = 40;
    const pool = new Pool({ idleTimeout });
    const a = fakeRoute();
    const l1 = await pool.acquire('k', async () => a.route);
    l1.release(true); // arms the idle timer
    const l2 = await pool.acquire('k', async () => assert.fail('should reuse'));
    // A timer of the same duration set after the pool's fires after it.
    await whileAlive(delay(idleTimeout));
    assert.equal(a.conn.state, 'up', 'closed while a request was using it');
    const released = performance.now();
    l2.release(true);
    await whileAlive(once(a.conn, 'close'));
    assert.ok(performance.now() - released >= idleTimeout - 2, `closed ${performance.now() - released} ms after the last release`);
    assert.equal(pool.size, 0);
    await pool.close();
  });

  it('an idle connection closes once the idle timeout has passed since its last release', async () => {
    const idleTimeout = 30;
    const pool = new Pool({ idleTimeout });
    const a = fakeRoute();
    const l1 = await pool.acquire('k', async () => a.route);
    l1.release(true);
    const l2 = await pool.acquire('k', async () => assert.fail('should reuse'));
    const released = performance.now();
    l2.release(true);
    await whileAlive(once(a.conn, 'close'));
    assert.ok(performance.now() - released >= idleTimeout - 2);
    assert.equal(a.conn.closes, 1);
    await pool.close();
  });

  it('a release that is not reusable closes the connection and the key opens a new one', async () => {
    const pool = new Pool();
    const a = fakeRoute();
    const b = fakeRoute();
    const l1 = await pool.acquire('k', async () => a.route);
    l1.release(false);
    assert.equal(a.conn.state, 'closed');
    const l2 = await pool.acquire('k', async () => b.route);
    assert.equal(l2.route, b.route);
    l2.release(true);
    await pool.close();
  });

  it('concurrent first requests on a route that may be HTTP/2 open one connection and share it', async () => {
    const pool = new Pool();
    let opens = 0;
    const a = fakeRoute('http2');
    const open = async (): Promise<OpenRoute> => {
      opens++;
      await delay(1);
      return a.route;
    };
    const leases = await Promise.all(Array.from({ length: 5 }, () => pool.acquire('k', open, { multiplexed: true })));
    assert.equal(opens, 1);
    assert.ok(leases.every((l) => l.route === a.route));
    assert.deepEqual(leases.map((l) => l.reused), [false, true, true, true, true]);
    for (const l of leases) l.release(true);
    await pool.close();
  });

  it('a burst larger than an HTTP/2 connection takes opens one more connection per full one, not one per request', async () => {
    const pool = new Pool({ maxStreamsPerConnection: 2 });
    let opens = 0;
    const open = async (): Promise<OpenRoute> => {
      opens++;
      await delay(1);
      return fakeRoute('http2').route;
    };
    const leases = await Promise.all(Array.from({ length: 6 }, () => pool.acquire('k', open)));
    assert.equal(opens, 3);
    assert.equal(new Set(leases.map((l) => l.route)).size, 3);
    for (const l of leases) l.release(true);
    await pool.close();
  });

  it('when the shared open turns out HTTP/1.1, each waiter opens a connection of its own, in parallel', async () => {
    const pool = new Pool();
    let opens = 0;
    let inFlight = 0;
    let maxInFlight = 0;
    const open = async (): Promise<OpenRoute> => {
      opens++;
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await delay(1);
      inFlight--;
      return fakeRoute('http').route;
    };
    const leases = await Promise.all(Array.from({ length: 4 }, () => pool.acquire('k', open, { multiplexed: true })));
    assert.equal(opens, 4);
    assert.equal(new Set(leases.map((l) => l.route)).size, 4);
    assert.equal(maxInFlight, 3, 'the three waiters open at once, not one after another');
    for (const l of leases) l.release(true);
    await pool.close();
  });

  it('a failed open fails its own request only: the waiters open their own connections', async () => {
    const pool = new Pool();
    let opens = 0;
    const open = async (): Promise<OpenRoute> => {
      opens++;
      await delay(1);
      if (opens === 1) throw new Error('refused');
      return fakeRoute('http2').route;
    };
    const results = await Promise.allSettled([pool.acquire('k', open), pool.acquire('k', open), pool.acquire('k', open)]);
    assert.equal(results[0]?.status, 'rejected');
    assert.equal(results[1]?.status, 'fulfilled');
    assert.equal(results[2]?.status, 'fulfilled');
    for (const r of results) if (r.status === 'fulfilled') r.value.release(true);
    await pool.close();
  });

  it('routes that cannot be HTTP/2 (multiplexed: false) never wait for another request\'s open', async () => {
    const pool = new Pool();
    let opens = 0;
    const open = async (): Promise<OpenRoute> => {
      opens++;
      await delay(1);
      return fakeRoute('http').route;
    };
    const pending = [pool.acquire('k', open, { multiplexed: false }), pool.acquire('k', open, { multiplexed: false })];
    assert.equal(opens, 2, 'both opens start at once');
    for (const l of await Promise.all(pending)) l.release(true);
    await pool.close();
  });

  it('an aborted signal stops a request waiting for another request\'s open; the open goes on', async () => {
    const pool = new Pool();
    const a = fakeRoute('http2');
    let finishOpen: (r: OpenRoute) => void = () => undefined;
    const first = pool.acquire('k', () => new Promise<OpenRoute>((r) => (finishOpen = r)));
    const ac = new AbortController();
    const waiter = pool.acquire('k', () => assert.fail('the waiter must not open'), { signal: ac.signal });
    ac.abort(new Error('stop'));
    await assert.rejects(waiter, /stop/);
    finishOpen(a.route);
    const l = await first;
    assert.equal(l.route, a.route);
    l.release(true);
    await pool.close();
  });

  it('a new HTTP/2 connection takes one request until its SETTINGS arrive, then as many as they allow', async () => {
    const pool = new Pool();
    const a = fakeRoute('http2');
    a.conn.settings = undefined;
    const b = fakeRoute('http2');
    let opens = 0;
    const open = async (): Promise<OpenRoute> => {
      opens++;
      await delay(1);
      return opens === 1 ? a.route : b.route;
    };
    const first = pool.acquire('k', open);
    const others = [pool.acquire('k', open), pool.acquire('k', open), pool.acquire('k', open)];
    const l1 = await first;
    assert.equal(l1.route, a.route);
    // The others wait: nothing tells them yet how many streams the server takes.
    await new Promise<void>((r) => setImmediate(r));
    assert.equal(opens, 1);
    a.conn.settingsArrive({ maxConcurrentStreams: 2 });
    const rest = await Promise.all(others);
    assert.deepEqual(rest.map((l) => (l.route === a.route ? 'a' : 'b')).sort(), ['a', 'b', 'b']);
    assert.equal(opens, 2);
    for (const l of [l1, ...rest]) l.release(true);
    await pool.close();
  });
});
