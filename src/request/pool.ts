/**
 * Connection reuse for `request()`: connections (with their tunnels) keyed by
 * the whole route. HTTP/2 routes multiplex; an HTTP/1.1 route carries one
 * request at a time per connection. Idle connections close after `idleTimeout`.
 */
import { BurrowError } from '../errors/errors.js';
import type { Http2SettingsReport } from '../shared/messages.js';
import type { OpenRoute } from './route.js';

/** Pool options. */
export interface PoolOptions {
  /** How long an idle connection is kept, ms; default 30000. */
  idleTimeout?: number;
  /** Most concurrent requests on one HTTP/2 route connection before another is opened; default 100. */
  maxStreamsPerConnection?: number;
}

interface Entry {
  readonly key: string;
  readonly route: OpenRoute;
  active: number;
  /** The server's SETTINGS_MAX_CONCURRENT_STREAMS for the route's HTTP/2 layer, once known. */
  serverLimit: number;
  /** HTTP/2: the server's SETTINGS have arrived (until then the connection takes one request at a time). */
  settingsKnown: boolean;
  /** Settles when the SETTINGS arrive or the connection goes. */
  readonly settingsReady: Promise<void>;
  /** Closes the connection once it has been idle for the idle timeout (armed once per idle period, not per request). */
  idleTimer: NodeJS.Timeout | undefined;
  /** When `active` last dropped to 0 (ms, performance.now()). */
  idleSince: number;
  dead: boolean;
}

/** Options of {@link Pool.acquire}. */
export interface AcquireOptions {
  /** False when the route cannot be HTTP/2 (the origin is offered HTTP/1.1 only): never wait for another request's connection. */
  multiplexed?: boolean;
  /** Stops waiting for a connection another request is opening. */
  signal?: AbortSignal;
}

/** Waits until `p` settles: its value, or undefined when it failed; rejects when `signal` aborts. */
function waitFor<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T | undefined> {
  const settled = p.then(
    (v) => v,
    () => undefined,
  );
  if (signal === undefined) return settled;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T | undefined>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    void settled.then((v) => {
      signal.removeEventListener('abort', onAbort);
      resolve(v);
    });
  });
}

/** A lease on a pooled route: release it when the response is done. */
export interface Lease {
  readonly route: OpenRoute;
  /** True when the connection was reused rather than opened for this request. */
  readonly reused: boolean;
  /** Gives the connection back (`reusable: false` closes it). */
  release(reusable: boolean): void;
}

/** A pool of route connections. */
export class Pool {
  readonly #idleTimeout: number;
  readonly #maxStreams: number;
  readonly #entries = new Map<string, Entry[]>();
  /** Connections being opened, by key (only for routes that may be HTTP/2). */
  readonly #opening = new Map<string, Promise<Entry>>();
  #closed = false;

  constructor(opts: PoolOptions = {}) {
    this.#idleTimeout = opts.idleTimeout ?? 30000;
    this.#maxStreams = opts.maxStreamsPerConnection ?? 100;
  }

  /**
   * A connection for `key`: a reusable one, or a new one from `open`.
   *
   * Requests that arrive while a connection for their key is being opened wait for it
   * when it may be HTTP/2 (`opts.multiplexed` not false), and share it if it is: a burst
   * of concurrent first requests opens one connection, not one each. When it turns out
   * to be HTTP/1.1, or fails, each waiter opens a connection of its own (in parallel).
   * `opts.signal` stops the waiting (the open itself belongs to the request that started it).
   */
  async acquire(key: string, openRoute: () => Promise<OpenRoute>, opts: AcquireOptions = {}): Promise<Lease> {
    let shareable = opts.multiplexed !== false;
    for (;;) {
      const reusable = this.#reusable(key);
      if (reusable !== undefined) return this.#lease(reusable, true);
      if (this.#closed) throw new BurrowError('ERR_CLOSED', 'the pool is closed', { stage: 'state' });
      // A new HTTP/2 connection whose SETTINGS have not arrived: how many streams it takes is not
      // known yet (a server may allow fewer than we send); wait for them rather than guess.
      const unsettled = shareable ? this.#entries.get(key)?.find((e) => !e.dead && !e.settingsKnown) : undefined;
      if (unsettled !== undefined) {
        await waitFor(unsettled.settingsReady, opts.signal);
        continue;
      }
      const opening = this.#opening.get(key);
      if (opening === undefined || !shareable) break;
      // An HTTP/2 connection that filled up before this request got a stream: wait for the next one
      // opened (one of the other waiters opens it). HTTP/1.1 or a failure: open our own now.
      const e = await waitFor(opening, opts.signal);
      if (e === undefined || e.route.protocol !== 'http2') shareable = false;
    }
    const opened = this.#open(key, openRoute);
    if (opts.multiplexed !== false) {
      this.#opening.set(key, opened);
      const forget = (): void => {
        if (this.#opening.get(key) === opened) this.#opening.delete(key);
      };
      opened.then(forget, forget);
    }
    const e = await opened;
    // Added and leased in one go: a waiter resuming first cannot take an HTTP/1.1 connection from its opener.
    if (!e.dead) this.#entries.set(key, [...(this.#entries.get(key) ?? []), e]);
    return this.#lease(e, false);
  }

  /**
   * A lease on a pooled connection for `key` that can take one more request now, or
   * undefined (then {@link acquire} waits for one or opens one). Never opens a connection
   * and never waits: `request()` tries it first, so a request on a warm route costs no
   * extra promise. A lease it returns must be released exactly once, as one from
   * {@link acquire}. On its way it retires the pooled connections of `key` found unusable
   * (an HTTP/2 tunnel gone while its proxy connection stayed up), closing those not in use.
   *
   * A subclass that overrides {@link acquire} and not this method has `request()` call
   * its `acquire()` for every request; one that overrides both sees warm-route leases here.
   */
  tryAcquire(key: string): Lease | undefined {
    if (this.#closed) return undefined;
    const e = this.#reusable(key);
    return e === undefined ? undefined : this.#lease(e, true);
  }

  /** A pooled connection for `key` with room for one more request. */
  #reusable(key: string): Entry | undefined {
    const list = this.#entries.get(key);
    if (list === undefined) return undefined;
    for (const e of list) {
      if (e.dead || e.route.conn.state !== 'up') continue;
      // An HTTP/2 tunnel can close while its proxy connection stays up.
      if (e.route.tunnel !== undefined && !e.route.conn.hasStream(e.route.tunnel)) {
        e.dead = true;
        if (e.active === 0) void e.route.conn.close();
        continue;
      }
      const limit = e.route.protocol === 'http2' && e.settingsKnown ? Math.min(this.#maxStreams, e.serverLimit) : 1;
      if (e.active < limit) return e;
    }
    return undefined;
  }

  /** Opens a connection for `key` (added to the pool by its opener, when it leases it). */
  async #open(key: string, openRoute: () => Promise<OpenRoute>): Promise<Entry> {
    const route = await openRoute();
    if (this.#closed) {
      await route.conn.close();
      throw new BurrowError('ERR_CLOSED', 'the pool is closed', { stage: 'state' });
    }
    let settled: () => void = () => undefined;
    const e: Entry = {
      key,
      route,
      active: 0,
      serverLimit: Infinity,
      settingsKnown: route.protocol !== 'http2',
      settingsReady: new Promise<void>((r) => (settled = r)),
      idleTimer: undefined,
      idleSince: 0,
      dead: false,
    };
    const learn = (settings: Http2SettingsReport): void => {
      if (settings.maxConcurrentStreams !== undefined) e.serverLimit = settings.maxConcurrentStreams;
      e.settingsKnown = true;
      settled();
    };
    route.conn.on('notify', (n) => {
      const sameLayer = n.tunnel === undefined ? route.tunnel === undefined : route.tunnel !== undefined && n.tunnel.equals(route.tunnel);
      if (n.type === 'settings' && sameLayer) learn(n.settings);
    });
    // The SETTINGS may have arrived while the route was being opened.
    const known = e.settingsKnown ? undefined : route.conn.remoteSettings(route.tunnel === undefined ? undefined : { tunnel: route.tunnel });
    if (known !== undefined) learn(known);
    if (e.settingsKnown) settled();
    const remove = (): void => {
      settled();
      e.dead = true;
      if (e.idleTimer) clearTimeout(e.idleTimer);
      const l = this.#entries.get(key);
      if (l) {
        const i = l.indexOf(e);
        if (i >= 0) l.splice(i, 1);
        if (l.length === 0) this.#entries.delete(key);
      }
    };
    route.conn.once('close', remove);
    route.conn.once('down', remove);
    return e;
  }

  #lease(e: Entry, reused: boolean): Lease {
    e.active++;
    let released = false;
    return {
      route: e.route,
      reused,
      release: (reusable: boolean) => {
        if (released) return;
        released = true;
        e.active--;
        if (!reusable || e.dead || this.#closed) {
          // No new lease; requests still running on it finish first.
          e.dead = true;
          if (e.active === 0) void e.route.conn.close();
          return;
        }
        if (e.active === 0) {
          e.idleSince = performance.now();
          if (e.idleTimer === undefined) this.#armIdle(e, this.#idleTimeout);
        }
      },
    };
  }

  /**
   * The idle timer is not cleared when the connection is leased again: when it fires, a
   * connection in use is left alone (its next release arms a new timer) and one released
   * since waits out the rest of its idle time.
   */
  #armIdle(e: Entry, ms: number): void {
    e.idleTimer = setTimeout(() => {
      e.idleTimer = undefined;
      if (e.dead || e.active > 0) return;
      const left = e.idleSince + this.#idleTimeout - performance.now();
      if (left > 1) this.#armIdle(e, left);
      else {
        e.dead = true;
        void e.route.conn.close();
      }
    }, ms);
    e.idleTimer.unref();
  }

  /** Connections currently pooled (for tests and diagnostics). */
  get size(): number {
    let n = 0;
    for (const l of this.#entries.values()) n += l.length;
    return n;
  }

  /** Closes every pooled connection. */
  async close(): Promise<void> {
    this.#closed = true;
    const all = [...this.#entries.values()].flat();
    this.#entries.clear();
    await Promise.all(all.map((e) => {
      if (e.idleTimer) clearTimeout(e.idleTimer);
      return e.route.conn.close();
    }));
  }
}

/** The pool `request()` uses when none is given. */
export const defaultPool = new Pool();
