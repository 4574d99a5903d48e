/**
 * `ChainDispatcher`: an undici `Dispatcher` whose requests travel through a
 * burrow proxy chain. It drives burrow's own layers — the route (`open()` +
 * one `connect()` per CONNECT proxy), the pool keyed by the whole route, the
 * HTTP/1.1 codec and the HTTP/2 layer — and speaks undici's handler interfaces
 * (both of them) on top. undici itself is never imported: `fetch()` (Node's
 * global one or the npm package's), `undici.request()` and
 * `setGlobalDispatcher()` only ever call `dispatch()`.
 */
import { EventEmitter } from 'node:events';
import { STATUS_CODES } from 'node:http';
import { BurrowError, invalidOption } from '../../errors/errors.js';
import type { Connection } from '../../connection/connection.js';
import { authority, hasHeader, normalizeHeaders, type Header, type HeaderList, type HeadersInit } from '../../shared/headers.js';
import type { StreamMessage } from '../../shared/messages.js';
import type { EventHandler } from '../../shared/events.js';
import type { LookupFunction } from '../../shared/options/open.js';
import type { TlsOptions } from '../../shared/options/tls.js';
import { checkTimeout } from '../../shared/options/validate.js';
import type { StreamRef } from '../../shared/stream-ref.js';
import type { ProxyEnv } from '../../request/env.js';
import { Pool, type Lease, type PoolOptions } from '../../request/pool.js';
import { routeHops, type ViaEntry } from '../../request/request.js';
import { openRoute, routeKey, type OpenRoute, type RouteHop, type RouteOrigin } from '../../request/route.js';
import { StreamDuplex } from './duplex.js';
import { sinkFor, type DispatchHandler, type HandlerSink, type SinkOwner } from './handler.js';

/** Options of {@link ChainDispatcher}. */
export interface ChainDispatcherOptions {
  /**
   * The proxy chain, first hop first, as `request()`'s `via`: proxy URLs (`http://`, `https://`, `h2c://`,
   * `h2://`, `socks5://`, `socks5h://`, `socks5s://`, `socks5hs://`) or `{ url, tls, connectTimeout, … }`
   * for options of one hop; a string may name a chain. Every request goes through it.
   */
  via?: readonly ViaEntry[] | string;
  /**
   * When `via` is not given: the chain for each origin comes from these proxy environment variables
   * (`https_proxy`, `http_proxy`, `all_proxy`, `no_proxy`; burrow's semantics: chains allowed, CIDR in
   * `no_proxy`). `true` reads `process.env` once, now. No `via` and no `env`: direct connections.
   */
  env?: boolean | ProxyEnv;
  /** TLS options for the origins only (each hop has its own in `via`). */
  tls?: TlsOptions;
  /** What to offer https origins, in order of preference: default `['http2', 'http']` (ALPN decides). */
  protocols?: readonly ('http' | 'http2')[];
  /** The dispatcher's own connection pool (keyed by the whole route): idle timeout, streams per HTTP/2 connection. */
  pool?: PoolOptions;
  /** Timeouts, ms: `connect` (TCP to the first hop), `tlsHandshake` (the origin), `headers` (until the response head). */
  timeouts?: { connect?: number; tlsHandshake?: number; headers?: number };
  /** Custom DNS for the first hop and for `socks5://` hops. */
  lookup?: LookupFunction;
  /** burrow's events handler for the routes this dispatcher opens and their streams (docs/events.md). */
  events?: EventHandler;
}

/**
 * What undici passes to `dispatch()`: the fields burrow reads. Other fields
 * (`blocking`, `reset`, `idempotent`, `maxRedirections` …) are accepted and
 * ignored: redirects are the caller's (fetch follows them itself).
 */
export interface DispatchOptions {
  /** `https://host:port` (a string or a URL). */
  origin?: string | URL;
  /** Path and query; for CONNECT, `host:port`. */
  path: string;
  method: string;
  /** A string, bytes, or an async iterable of chunks (a `Readable`, or fetch's body generator). */
  body?: string | Uint8Array | ArrayBuffer | AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string> | null;
  /** An object, a flat `[name, value, …]` list, or any iterable of pairs. */
  headers?: Record<string, string | string[] | number | undefined> | readonly (string | string[])[] | Iterable<readonly [string, string]> | null;
  /** `'websocket'` (or another protocol): an HTTP/1.1 `Upgrade`; the socket goes to `onUpgrade`. */
  upgrade?: string | null;
  /** False: HTTP/1.1 to the origin even when it offers HTTP/2. */
  allowH2?: boolean;
  /** Ms until the response head (overrides the dispatcher's `timeouts.headers`). */
  headersTimeout?: number | null;
}

const HTTPS_PROTOCOLS: readonly ('http' | 'http2')[] = Object.freeze(['http2', 'http'] as const);
const HTTP_ONLY: readonly ('http' | 'http2')[] = Object.freeze(['http'] as const);
const NO_TLS: TlsOptions = Object.freeze({});
const EMPTY = Buffer.alloc(0);
/** Data messages delivered ahead of the handler's reader. */
const BODY_WINDOW = 16;
/** Routes remembered by origin. */
const MAX_ROUTES = 256;

const PROXY_VARIABLES = ['https_proxy', 'HTTPS_PROXY', 'http_proxy', 'HTTP_PROXY', 'all_proxy', 'ALL_PROXY', 'no_proxy', 'NO_PROXY'];

/** A route resolved for one origin. */
interface Route {
  readonly hops: RouteHop[];
  readonly origin: RouteOrigin;
  readonly key: string;
  readonly host: string;
}

/** What one dispatch resolves to. */
interface Plan {
  readonly route: Route;
  readonly method: string;
  readonly path: string;
  readonly headers: Header[];
  readonly body: Buffer | AsyncIterable<Uint8Array | string> | null;
  readonly kind: 'request' | 'upgrade' | 'connect';
  readonly headersTimeout: number;
}

/** @internal What the exchanges share with their dispatcher. */
interface Core {
  readonly pool: Pool;
  readonly options: ChainDispatcherOptions;
  readonly headersTimeout: number;
  route(origin: string, h1only: boolean): Route;
  started(ex: DispatchExchange): void;
  ended(ex: DispatchExchange): void;
  /** Routes opened for one upgraded stream or CONNECT tunnel (outside the pool), closed by `destroy()`. */
  readonly dedicated: Set<Connection>;
  /** A request is using `conn`: its socket keeps the process running. */
  hold(conn: Connection): void;
  /** A request is done with `conn`: when none is left, its socket no longer keeps the process running (as undici's idle sockets). */
  letGo(conn: Connection): void;
}

function toBuffer(b: string | Uint8Array | ArrayBuffer): Buffer {
  if (typeof b === 'string') return Buffer.from(b);
  if (b instanceof ArrayBuffer) return Buffer.from(b);
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** undici's header shapes → burrow's checked list. */
function headerList(h: DispatchOptions['headers']): Header[] {
  if (h === undefined || h === null) return [];
  if (Array.isArray(h)) {
    if (h.length > 0 && typeof h[0] === 'string') {
      // undici's flat form: name, value, name, value …
      const pairs: [string, string][] = [];
      for (let i = 0; i + 1 < h.length; i += 2) {
        const v = h[i + 1] as string | string[];
        for (const item of Array.isArray(v) ? v : [v]) pairs.push([h[i] as string, item]);
      }
      return normalizeHeaders(pairs);
    }
    return normalizeHeaders(h as unknown as HeadersInit);
  }
  if (typeof (h as Iterable<unknown>)[Symbol.iterator] === 'function') return normalizeHeaders([...(h as Iterable<readonly [string, string]>)]);
  return normalizeHeaders(h as HeadersInit);
}

function bodyOf(b: DispatchOptions['body']): Buffer | AsyncIterable<Uint8Array | string> | null {
  if (b === undefined || b === null) return null;
  if (typeof b === 'string' || b instanceof Uint8Array || b instanceof ArrayBuffer) return toBuffer(b);
  if (typeof (b as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') return b as AsyncIterable<Uint8Array | string>;
  if (typeof (b as Iterable<unknown>)[Symbol.iterator] === 'function') {
    const it = b as Iterable<Uint8Array | string>;
    return (async function* () {
      yield* it;
    })();
  }
  throw new BurrowError('ERR_INVALID_REQUEST', 'invalid request body: a string, bytes, or an (async) iterable of chunks', { stage: 'http' });
}

/** `host:port` of a CONNECT (`[v6]:port` allowed). */
function connectTarget(path: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:/[\]]+)):(\d{1,5})$/.exec(path);
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || !(port >= 1 && port <= 65535)) throw new BurrowError('ERR_INVALID_REQUEST', `invalid CONNECT target ${JSON.stringify(path)}: host:port`, { stage: 'http' });
  return { host: (m[1] ?? m[2]) as string, port };
}

/**
 * An undici `Dispatcher` that sends every request through a burrow proxy chain:
 * `fetch(url, { dispatcher: new ChainDispatcher({ via }) })` with Node's global
 * `fetch` (Node 20 to 26) or the npm `undici` package (7 and 8), undici's
 * `request()`/`stream()`, `setGlobalDispatcher()`, or {@link ChainDispatcher.install}.
 *
 * Request and response bodies stream (the handler's pause/resume is burrow's
 * flow control); HTTP/2 is used to the origin when ALPN picks it; connections
 * and tunnels are reused per route; an `upgrade` request hands undici the
 * upgraded stream as its socket (undici's `WebSocket`), and so does `CONNECT`
 * (a raw tunnel from the origin, taken as a proxy, to `path`). A failure reaches
 * the handler's `onError`/`onResponseError` as the {@link BurrowError} naming the
 * hop and the stage, so that `fetch()` rejects with `TypeError('fetch failed')`
 * whose `cause` is that error.
 *
 * @example
 * ```ts
 * import { ChainDispatcher } from 'burrow';
 *
 * const dispatcher = new ChainDispatcher({ via: ['h2://proxy.example:443', 'socks5hs://10.0.0.2:1080'] });
 * const res = await fetch('https://internal.example/data', { dispatcher });
 * console.log(res.status, await res.text());
 * await dispatcher.close();
 * ```
 */
export class ChainDispatcher extends EventEmitter {
  readonly #options: ChainDispatcherOptions;
  readonly #env: ProxyEnv | undefined;
  readonly #pool: Pool;
  readonly #routes = new Map<string, Route>();
  readonly #core: Core;
  readonly #active = new Set<DispatchExchange>();
  readonly #dedicated = new Set<Connection>();
  #closed = false;
  #destroyed = false;
  #idle: (() => void) | undefined;

  /** Throws `ERR_INVALID_OPTION` for an invalid option (a proxy URL of `via` included). */
  constructor(options: ChainDispatcherOptions = {}) {
    super();
    if (typeof options !== 'object' || options === null) throw invalidOption('options', 'an object');
    const known = new Set(['via', 'env', 'tls', 'protocols', 'pool', 'timeouts', 'lookup', 'events']);
    for (const k of Object.keys(options)) if (!known.has(k)) throw invalidOption(k, 'unknown option');
    const protocols = options.protocols;
    if (protocols !== undefined && (!Array.isArray(protocols) || protocols.length === 0 || protocols.some((p) => p !== 'http' && p !== 'http2'))) {
      throw invalidOption('protocols', "a non-empty list of 'http' and 'http2'");
    }
    const headersTimeout = checkTimeout('timeouts.headers', options.timeouts?.headers, Infinity);
    checkTimeout('timeouts.connect', options.timeouts?.connect, Infinity);
    checkTimeout('timeouts.tlsHandshake', options.timeouts?.tlsHandshake, Infinity);
    this.#options = options;
    // The environment is read once: a snapshot of the proxy variables.
    if (options.via === undefined && options.env !== undefined && options.env !== false) {
      const src = options.env === true ? process.env : options.env;
      const snap: ProxyEnv = {};
      for (const name of PROXY_VARIABLES) if (typeof src[name] === 'string') snap[name] = src[name];
      this.#env = snap;
    }
    // A chain given now is checked now (routeHops parses every URL).
    if (options.via !== undefined) routeHops(options.via, 'https://check.invalid/', undefined);
    this.#pool = new Pool(options.pool);
    const routes = this.#routes;
    const env = this.#env;
    const active = this.#active;
    const inUse = new WeakMap<Connection, number>();
    this.#core = {
      pool: this.#pool,
      options,
      headersTimeout,
      dedicated: this.#dedicated,
      route: (origin, h1only) => {
        const cacheKey = h1only ? `1${origin}` : `2${origin}`;
        let r = routes.get(cacheKey);
        if (r !== undefined) return r;
        r = resolveRoute(origin, h1only, options, env);
        if (routes.size >= MAX_ROUTES) routes.clear();
        routes.set(cacheKey, r);
        return r;
      },
      hold: (conn) => {
        const n = inUse.get(conn) ?? 0;
        inUse.set(conn, n + 1);
        if (n === 0) conn.refSocket();
      },
      letGo: (conn) => {
        const n = (inUse.get(conn) ?? 1) - 1;
        inUse.set(conn, n);
        if (n === 0) conn.unrefSocket();
      },
      started: (ex) => void active.add(ex),
      ended: (ex) => {
        active.delete(ex);
        if (active.size === 0) this.#idle?.();
      },
    };
  }

  /**
   * A dispatcher whose chains come from the proxy environment variables, read now from `env`
   * (default `process.env`): `https_proxy` for https URLs, `http_proxy` for http ones, `all_proxy`
   * otherwise, lowercase first, uppercase `HTTP_PROXY` ignored; a variable may name a chain
   * (URLs separated by commas or spaces, first hop first); `no_proxy` takes names, suffixes,
   * ports, IP literals and CIDR blocks. Origins no variable names are reached directly.
   */
  static fromEnv(options: Omit<ChainDispatcherOptions, 'via' | 'env'> & { env?: ProxyEnv } = {}): ChainDispatcher {
    return new ChainDispatcher({ ...options, env: options.env ?? true });
  }

  /**
   * Makes this the global dispatcher of every `fetch` in the process — Node's own (whichever undici
   * it bundles) and the npm `undici` package's — as `setGlobalDispatcher()` does, without importing
   * undici. Returns a function that puts back the dispatcher that was there before.
   *
   * @example
   * ```ts
   * ChainDispatcher.fromEnv().install();   // every fetch() now honours HTTPS_PROXY chains and NO_PROXY CIDRs
   * ```
   */
  install(): () => void {
    const previous = GLOBAL_SYMBOLS.map((s) => (globalThis as Record<symbol, unknown>)[s]);
    for (const s of GLOBAL_SYMBOLS) setGlobal(s, this);
    return () => {
      GLOBAL_SYMBOLS.forEach((s, i) => {
        if (previous[i] !== undefined) setGlobal(s, previous[i]);
      });
    };
  }

  /** True once {@link close} or {@link destroy} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** True once {@link destroy} was called. */
  get destroyed(): boolean {
    return this.#destroyed;
  }

  /**
   * undici's entry point: sends the request `opts` describes and reports to `handler` (either of
   * undici's handler interfaces). Returns true (the dispatcher always takes more).
   */
  dispatch(opts: DispatchOptions, handler: DispatchHandler): boolean {
    if (handler === null || typeof handler !== 'object') throw new TypeError('handler must be an object');
    const ex = new DispatchExchange(this.#core, handler);
    if (this.#closed) {
      ex.refuse(new BurrowError('ERR_CLOSED', this.#destroyed ? 'the dispatcher was destroyed' : 'the dispatcher is closed', { stage: 'state' }));
      return false;
    }
    ex.run(opts);
    return true;
  }

  /**
   * Takes no new requests, waits for those in flight to finish, then closes every pooled connection.
   * With a callback, calls it instead of returning a promise.
   */
  close(): Promise<void>;
  close(callback: () => void): void;
  close(callback?: () => void): Promise<void> | void {
    const p = this.#close();
    if (typeof callback === 'function') {
      void p.then(() => callback());
      return;
    }
    return p;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    if (this.#active.size > 0) await new Promise<void>((resolve) => (this.#idle = resolve));
    await this.#pool.close();
  }

  /**
   * Closes every connection now, pooled or carrying an upgraded stream: requests in flight fail
   * (with `err` when given, else `ERR_CLOSED`).
   */
  destroy(err?: Error | null): Promise<void>;
  destroy(callback: () => void): void;
  destroy(err: Error | null | undefined, callback: () => void): void;
  destroy(a?: Error | null | (() => void), b?: () => void): Promise<void> | void {
    const callback = typeof a === 'function' ? a : b;
    const err = typeof a === 'function' ? undefined : (a ?? undefined);
    this.#closed = true;
    this.#destroyed = true;
    const reason = err ?? new BurrowError('ERR_CLOSED', 'the dispatcher was destroyed', { stage: 'state' });
    for (const ex of [...this.#active]) ex.abort(reason);
    const p = Promise.all([this.#pool.close(), ...[...this.#dedicated].map((c) => c.close())]).then(() => undefined);
    if (typeof callback === 'function') {
      void p.then(() => callback());
      return;
    }
    return p;
  }
}

/** Where undici keeps the global dispatcher: `.1` is read by undici ≤ 7 (Node 20–24's fetch), `.2` by undici 8 (Node 26's). */
const GLOBAL_SYMBOLS = [Symbol.for('undici.globalDispatcher.1'), Symbol.for('undici.globalDispatcher.2')];

function setGlobal(s: symbol, value: unknown): void {
  const g = globalThis as Record<symbol, unknown>;
  if (Object.getOwnPropertyDescriptor(g, s) !== undefined) g[s] = value;
  // As undici defines it: writable, so that its setGlobalDispatcher() can replace it later.
  else Object.defineProperty(g, s, { value, writable: true, enumerable: false, configurable: false });
}

function resolveRoute(origin: string, h1only: boolean, options: ChainDispatcherOptions, env: ProxyEnv | undefined): Route {
  let u: URL;
  try {
    u = new URL(origin);
  } catch (e) {
    throw new BurrowError('ERR_INVALID_REQUEST', `invalid origin ${JSON.stringify(origin)}`, { stage: 'options', cause: e });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new BurrowError('ERR_INVALID_REQUEST', `invalid origin: ${u.protocol} is not http: or https:`, { stage: 'options' });
  const scheme = u.protocol === 'https:' ? 'https' : 'http';
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const port = u.port === '' ? (scheme === 'https' ? 443 : 80) : Number(u.port);
  const protocols = scheme === 'http' || h1only ? HTTP_ONLY : (options.protocols ?? HTTPS_PROTOCOLS);
  const hops = routeHops(options.via, u.href, options.via === undefined ? env : undefined);
  const ro: RouteOrigin = { scheme, host, port, tls: options.tls ?? NO_TLS, protocols, tlsHandshakeTimeout: options.timeouts?.tlsHandshake };
  return { hops, origin: ro, key: routeKey(hops, ro), host: authority(host, port, scheme === 'https' ? 'tls' : 'tcp') };
}

function planOf(core: Core, opts: DispatchOptions): Plan {
  if (opts === null || typeof opts !== 'object') throw new BurrowError('ERR_INVALID_REQUEST', 'dispatch options must be an object', { stage: 'options' });
  const origin = opts.origin instanceof URL ? opts.origin.origin : opts.origin;
  if (typeof origin !== 'string') throw new BurrowError('ERR_INVALID_REQUEST', 'dispatch options: origin is required', { stage: 'options' });
  const method = typeof opts.method === 'string' ? opts.method.toUpperCase() : 'GET';
  const path = typeof opts.path === 'string' ? opts.path : '/';
  const kind = method === 'CONNECT' ? 'connect' : typeof opts.upgrade === 'string' && opts.upgrade !== '' ? 'upgrade' : 'request';
  // An upgraded stream takes its connection: HTTP/1.1, never an HTTP/2 connection that others share.
  const route = core.route(origin, kind === 'upgrade' || opts.allowH2 === false);
  const headers = headerList(opts.headers);
  if (kind === 'upgrade') {
    if (!hasHeader(headers, 'upgrade')) headers.push(['upgrade', opts.upgrade as string]);
    if (!hasHeader(headers, 'connection')) headers.push(['connection', 'upgrade']);
  }
  if (!hasHeader(headers, 'host')) headers.unshift(['host', route.host]);
  const headersTimeout = opts.headersTimeout === undefined || opts.headersTimeout === null || opts.headersTimeout === 0 ? core.headersTimeout : checkTimeout('headersTimeout', opts.headersTimeout, Infinity);
  return { route, method, path, headers, body: bodyOf(opts.body), kind, headersTimeout };
}

/**
 * One dispatched request, from its lease to the end of its response: the
 * connection's `replyTo`, the handler's pause/resume/abort, the body sender.
 */
class DispatchExchange implements SinkOwner {
  readonly #core: Core;
  readonly #sink: HandlerSink;
  #plan: Plan | undefined;
  #lease: Lease | undefined;
  #conn: Connection | undefined;
  #ref: StreamRef | undefined;
  /** Stops the pool's wait or the route's opening when the handler aborts meanwhile. */
  #ac: AbortController | undefined;
  #aborted: Error | undefined;
  #headDone = false;
  #finished = false;
  #ended = false;
  #paused = false;
  /** Data messages delivered since flow credit last went back. */
  #owed = 0;
  #headersTimer: NodeJS.Timeout | undefined;
  #duplex: StreamDuplex | undefined;
  #tunnelUp = false;
  #connectStatus = 0;
  #connectHeaders: HeaderList = [];

  constructor(core: Core, handler: DispatchHandler) {
    this.#core = core;
    this.#sink = sinkFor(handler, this);
  }

  /** A dispatch the dispatcher cannot take (closed): the handler hears of it as of any failure. */
  refuse(e: Error): void {
    this.#sink.start();
    this.#finished = true;
    this.#sink.error(e);
  }

  run(opts: DispatchOptions): void {
    this.#core.started(this);
    let plan: Plan;
    try {
      plan = planOf(this.#core, opts);
    } catch (e) {
      this.#sink.start();
      this.#fail(e instanceof Error ? e : new BurrowError('ERR_INVALID_REQUEST', String(e), { stage: 'options', cause: e }));
      return;
    }
    this.#plan = plan;
    this.#sink.start();
    if (this.#aborted !== undefined || this.#finished) return;
    if (plan.headersTimeout !== Infinity) {
      const ms = plan.headersTimeout;
      this.#headersTimer = setTimeout(() => {
        if (this.#headDone) return;
        this.abort(new BurrowError('ERR_HEADERS_TIMEOUT', `no response headers within ${ms} ms`, { stage: 'timeout', details: { timeoutMs: ms } }));
      }, ms);
    }
    if (plan.kind === 'request') {
      const ready = this.#core.pool.tryAcquire(plan.route.key);
      if (ready !== undefined) {
        this.#send(ready);
        return;
      }
    }
    void this.#acquireAndSend(plan);
  }

  async #acquireAndSend(plan: Plan): Promise<void> {
    const ac = new AbortController();
    this.#ac = ac;
    const { hops, origin, key } = plan.route;
    const o = this.#core.options;
    const open = (): Promise<OpenRoute> => openRoute(hops, origin, { lookup: o.lookup, signal: ac.signal, connectTimeout: o.timeouts?.connect, events: o.events });
    let lease: Lease;
    try {
      if (plan.kind === 'request') {
        lease = await this.#core.pool.acquire(key, open, { multiplexed: origin.protocols.includes('http2'), signal: ac.signal });
      } else {
        // An upgraded stream or a CONNECT tunnel owns its route: opened for it, closed with it.
        const route = await open();
        const dedicated = this.#core.dedicated;
        dedicated.add(route.conn);
        lease = {
          route,
          reused: false,
          release: () => {
            dedicated.delete(route.conn);
            void route.conn.close();
          },
        };
      }
    } catch (e) {
      this.#ac = undefined;
      this.#fail(this.#aborted ?? (e instanceof Error ? e : new BurrowError('ERR_BAD_STATE', String(e), { stage: 'state', cause: e })));
      return;
    }
    this.#ac = undefined;
    if (this.#aborted !== undefined || this.#finished) {
      lease.release(true);
      return;
    }
    this.#send(lease);
  }

  #send(lease: Lease): void {
    this.#lease = lease;
    const plan = this.#plan as Plan;
    const { conn, tunnel } = lease.route;
    this.#conn = conn;
    this.#core.hold(conn);
    const events = this.#core.options.events;
    const opts = { replyTo: this.#replyTo, flow: BODY_WINDOW, ...(tunnel !== undefined ? { tunnel } : {}), ...(events !== undefined ? { events } : {}) };
    try {
      if (plan.kind === 'connect') {
        const { host, port } = connectTarget(plan.path);
        this.#ref = conn.connect({ host, port, protocols: ['raw'] }, plan.headers.filter(([n]) => n !== 'host'), opts);
        return;
      }
      const body = plan.body;
      if (body === null || Buffer.isBuffer(body)) {
        this.#ref = conn.request(plan.method, plan.path, plan.headers, body, opts);
        if (body !== null && this.#sink.wantsBodySent) this.#sink.bodySent(body);
        this.#sink.requestSent();
      } else {
        const ref = conn.headers(plan.method, plan.path, plan.headers, opts);
        this.#ref = ref;
        void this.#sendBody(conn, ref, body);
      }
    } catch (e) {
      this.#fail(e instanceof BurrowError ? e : new BurrowError('ERR_INVALID_REQUEST', String(e), { stage: 'http', cause: e }));
    }
  }

  async #sendBody(conn: Connection, ref: StreamRef, body: AsyncIterable<Uint8Array | string>): Promise<void> {
    const sink = this.#sink;
    try {
      for await (const chunk of body) {
        if (this.#finished) return;
        const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        await conn.data(ref, false, b);
        if (sink.wantsBodySent) sink.bodySent(Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));
      }
      if (this.#finished) return;
      await conn.data(ref, true, EMPTY);
      sink.requestSent();
    } catch (e) {
      if (this.#finished) return;
      conn.cancel(ref);
      this.#fail(new BurrowError('ERR_INVALID_REQUEST', `reading the request body failed: ${(e as Error).message}`, { stage: 'http', cause: e }));
    }
  }

  // SinkOwner: what the handler asks.

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#credit();
  }

  abort(reason: Error): void {
    if (this.#finished || this.#aborted !== undefined) return;
    this.#aborted = reason;
    if (this.#ac !== undefined) {
      // Still waiting for a connection: stop waiting; the failure is reported from there.
      this.#ac.abort(reason);
      return;
    }
    if (this.#plan === undefined) return; // inside start(): run() stops after it
    // From inside the handler's callbacks: report it once they returned.
    queueMicrotask(() => {
      if (this.#ref !== undefined && !this.#ended) this.#conn?.cancel(this.#ref);
      this.#fail(reason);
    });
  }

  #credit(): void {
    const n = this.#owed;
    if (n === 0 || this.#ended || this.#ref === undefined) return;
    this.#owed = 0;
    this.#conn?.updateFlow(this.#ref, n);
  }

  #finish(reusable: boolean): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#headersTimer !== undefined) clearTimeout(this.#headersTimer);
    const conn = this.#conn;
    if (this.#duplex === undefined) {
      this.#lease?.release(reusable);
      if (conn !== undefined) this.#core.letGo(conn);
    }
    this.#core.ended(this);
  }

  #fail(e: Error): void {
    if (this.#finished) return;
    const route = this.#lease?.route;
    // One failed stream on an HTTP/2 connection leaves it usable for the others; an HTTP/1.1 one is not reused.
    this.#finish(route !== undefined && route.protocol === 'http2' && route.conn.state === 'up');
    this.#sink.error(e);
  }

  /** The connection's messages for this request's stream. */
  readonly #replyTo = (m: StreamMessage): void => {
    if (this.#finished && this.#duplex === undefined) return;
    switch (m.type) {
      case 'response': {
        const plan = this.#plan as Plan;
        if (plan.kind === 'connect') {
          this.#onConnectResponse(m.status, m.headers);
          return;
        }
        if (this.#headDone) return;
        this.#headDone = true;
        if (this.#headersTimer !== undefined) clearTimeout(this.#headersTimer);
        if (!this.#sink.head(m.status, m.headers, STATUS_CODES[m.status] ?? '')) this.#paused = true;
        if (m.fin && !this.#finished) {
          this.#ended = true;
          this.#finish(true);
          this.#sink.end(undefined);
        }
        return;
      }
      case 'data': {
        const d = this.#duplex;
        if (d !== undefined) {
          d.incoming(m.data, m.fin);
          return;
        }
        if (this.#finished) return;
        if (m.fin) this.#ended = true;
        if (m.data.length > 0 && !this.#sink.data(m.data)) this.#paused = true;
        if (m.fin) {
          if (this.#finished) return;
          this.#finish(true);
          this.#sink.end(undefined);
          return;
        }
        this.#owed++;
        if (!this.#paused && this.#owed >= BODY_WINDOW / 2) this.#credit();
        return;
      }
      case 'trailers':
        if (this.#finished) return;
        this.#ended = true;
        this.#finish(true);
        this.#sink.end(m.headers);
        return;
      case 'upgrade':
        this.#onUpgraded(101, m.headers);
        return;
      case 'up':
        if ((this.#plan as Plan).kind === 'connect' && !this.#tunnelUp) {
          this.#tunnelUp = true;
          this.#onUpgraded(this.#connectStatus, this.#connectHeaders);
        }
        return;
      case 'error':
        if (this.#duplex !== undefined) {
          this.#duplex.failed(m.error);
          return;
        }
        this.#ended = true;
        this.#fail(m.error);
        return;
      default:
        return;
    }
  };

  #onConnectResponse(status: number, headers: HeaderList): void {
    if (status >= 200 && status < 300) {
      this.#connectStatus = status;
      this.#connectHeaders = headers;
      return;
    }
    const plan = this.#plan as Plan;
    this.#ended = true;
    this.#fail(new BurrowError('ERR_CONNECT_STATUS', `${plan.route.origin.host}:${plan.route.origin.port} refused CONNECT ${plan.path} with status ${status}`, { stage: 'connect-response', details: { status }, response: { status, headers } }));
  }

  /** The stream now carries another protocol (a 101, or a CONNECT tunnel up): hand undici a socket over it. */
  #onUpgraded(status: number, headers: HeaderList): void {
    if (this.#finished || this.#duplex !== undefined) return;
    this.#headDone = true;
    const lease = this.#lease as Lease;
    const duplex = new StreamDuplex(lease.route.conn, this.#ref as StreamRef, () => lease.release(false));
    this.#duplex = duplex;
    this.#finish(false);
    this.#sink.upgrade(status, headers, duplex);
  }
}
