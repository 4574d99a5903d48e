/**
 * One exchange: a request checked, its route leased from the pool (or opened),
 * the request sent and its response handed back as its head arrives. The
 * steps around it (redirects, retries, cookies, decompression) are
 * `request()`'s, in request.ts.
 */
import { BurrowError } from '../errors/errors.js';
import type { TlsOptions } from '../shared/options/tls.js';
import { checkTimeout } from '../shared/options/validate.js';
import { checkSocketPath } from '../shared/options/open.js';
import type { StreamMessage } from '../shared/messages.js';
import type { RequestOptions } from '../connection/connection.js';
import type { StreamRef } from '../shared/stream-ref.js';
import { authority, hasHeader, normalizeHeaders, type HeaderList } from '../shared/headers.js';
import { defaultPool, Pool, type Lease } from './pool.js';
import { BodyQueue, Response, type BodyHooks } from './response.js';
import { targetOf } from './target.js';
import { maskUrl } from '../shared/redact.js';
import type { EventHandler, LayerInfo } from '../shared/events.js';
import { routeHops, type RequestInit } from './init.js';
import { wireBody, type WireBody } from './body.js';
import { addAcceptEncoding } from './decompress.js';
import { CALL_SCOPE, type CallScope, type ScopedInit } from './scope.js';
import { openRoute, routeKey, type RouteHop, type RouteOrigin, type RouteProgress } from './route.js';


/**
 * Errors of exchanges that failed before their request was handed to a connection (the route did not
 * come up, or no connection could be leased): the request cannot have reached the origin, and a
 * streamed body was not read. The retry step (retry.ts) asks {@link wasNotSent}.
 */
const notSent = new WeakSet<object>();

/** True when `e` is the failure of an exchange whose request was never handed to a connection. */
export function wasNotSent(e: unknown): boolean {
  return typeof e === 'object' && e !== null && notSent.has(e);
}

/** The stream handler of a request that has none: no methods. */
const NO_EVENTS: EventHandler = Object.freeze({});

/** Data messages delivered ahead of the reader: bounds the memory a slow reader costs. */
const BODY_WINDOW = 16;

function isWholeBody(b: WireBody): b is string | Uint8Array {
  return typeof b === 'string' || b instanceof Uint8Array;
}

// The origin's TLS options when none are given: one shared object, so that the route key's TLS part is
// remembered (a new `{}` per request would be hashed every time).
const NO_TLS: TlsOptions = Object.freeze({});
const HTTPS_PROTOCOLS: readonly ('http' | 'http2')[] = Object.freeze(['http2', 'http'] as const);
const HTTP_PROTOCOLS: readonly ('http' | 'http2')[] = Object.freeze(['http'] as const);

/** A request checked and resolved: what it sends and along which route. */
interface Plan {
  readonly started: bigint;
  readonly href: string;
  readonly hops: RouteHop[];
  readonly origin: RouteOrigin;
  readonly method: string;
  readonly path: string;
  readonly headers: HeaderList;
  readonly body: WireBody | null;
  readonly headersTimeout: number;
  readonly totalTimeout: number;
}

/** Checks `url` and `init` and resolves the route: throws a BurrowError (`ERR_INVALID_OPTION`, `ERR_INVALID_HEADER`) before anything is opened. */
function planOf(url: string | URL, init: RequestInit): Plan {
  const started = process.hrtime.bigint();
  const target = targetOf(url);
  const { scheme, host, port } = target;
  const asked = init.protocols ?? (scheme === 'https' ? HTTPS_PROTOCOLS : HTTP_PROTOCOLS);
  // HTTP/1.0: an HTTP/1.1 layer sending HTTP/1.0 requests (the route key keeps its connections apart).
  const http10 = asked.includes('http/1.0');
  if (http10 && asked.length !== 1) throw new BurrowError('ERR_INVALID_OPTION', "invalid option protocols: 'http/1.0' goes alone", { stage: 'options', details: { option: 'protocols' } });
  const protocols = http10 ? HTTP_PROTOCOLS : (asked as readonly ('http' | 'http2')[]);
  if (scheme === 'http' && protocols.length !== 1) throw new BurrowError('ERR_INVALID_OPTION', "invalid option protocols: over http, exactly one of 'http' or 'http2'", { stage: 'options', details: { option: 'protocols' } });
  const signal = init.signal;
  if (signal !== undefined && !(typeof signal === 'object' && signal !== null && typeof signal.aborted === 'boolean' && typeof signal.addEventListener === 'function')) {
    throw new BurrowError('ERR_INVALID_OPTION', 'invalid option signal: an AbortSignal', { stage: 'options', details: { option: 'signal' } });
  }
  const pool = init.pool;
  if (pool !== undefined && pool !== false && !(typeof pool === 'object' && pool !== null && typeof pool.acquire === 'function' && typeof pool.tryAcquire === 'function')) {
    throw new BurrowError('ERR_INVALID_OPTION', 'invalid option pool: a Pool or false', { stage: 'options', details: { option: 'pool' } });
  }
  const timeouts = init.timeouts ?? {};
  const headersTimeout = checkTimeout('timeouts.headers', timeouts.headers, Infinity);
  const totalTimeout = checkTimeout('timeouts.total', timeouts.total, Infinity);
  const hops = routeHops(init.via, target.href, init.env);
  const tcpOrigin: RouteOrigin = { scheme, host, port, tls: init.tls ?? NO_TLS, protocols, tlsHandshakeTimeout: timeouts.tlsHandshake, ...(http10 ? { version: '1.0' as const } : {}) };
  // A Unix socket for the first hop: a key of its own in the pool.
  const origin = init.socketPath === undefined ? tcpOrigin : { ...tcpOrigin, socketPath: checkSocketPath(init.socketPath, 'socketPath') };
  const headers = normalizeHeaders(init.headers);
  if (!hasHeader(headers, 'host')) headers.unshift(['host', authority(host, port, scheme === 'https' ? 'tls' : 'tcp')]);
  addAcceptEncoding(headers, init);
  const body = wireBody(init.body, headers);
  return {
    started,
    href: target.href,
    hops,
    origin,
    method: (init.method ?? 'GET').toUpperCase(),
    path: target.path,
    headers,
    body,
    headersTimeout,
    totalTimeout,
  };
}

/** Sends one request as `init` says, and settles with its response head: no redirect followed, nothing retried. */
export function exchange(url: string | URL, init: RequestInit): Promise<Response> {
  // Nothing here throws: every failure, bad input included, is a rejection.
  let ex: Exchange;
  let pool: Pool | undefined;
  let key: string;
  try {
    const plan = planOf(url, init);
    pool = init.pool === false ? undefined : (init.pool ?? defaultPool);
    key = pool === undefined ? '' : routeKey(plan.hops, plan.origin);
    ex = new Exchange(plan, init);
  } catch (e) {
    return Promise.reject(e);
  }
  if (ex.abortError !== undefined) {
    ex.cleanup();
    return Promise.reject(ex.abortError);
  }
  // A warm route: lease its connection now (no promise, no turn of the event loop before the request is sent).
  // A pool whose class overrides acquire() and not tryAcquire() has every request go through its acquire().
  let ready: Lease | undefined;
  try {
    if (pool !== undefined && (pool.acquire === Pool.prototype.acquire || pool.tryAcquire !== Pool.prototype.tryAcquire)) ready = pool.tryAcquire(key);
  } catch (e) {
    ex.cleanup();
    return Promise.reject(e);
  }
  return ready !== undefined ? ex.send(ready) : ex.acquireAndSend(pool, key);
}

/**
 * One request from its lease to the end of its response: the connection's
 * `replyTo`, the body queue's hooks, the timers and the abort signal, in one
 * object (one allocation per request, not a closure per step).
 */
class Exchange implements BodyHooks {
  readonly #plan: Plan;
  readonly #init: RequestInit;
  /** One controller for the user's signal and the whole-request timeout; none when neither is given. */
  readonly #ac: AbortController | undefined;
  /** Why the request was aborted (the user's signal or the total timeout), once it was. */
  abortError: BurrowError | undefined;
  readonly #onUserAbort: (() => void) | undefined;
  /** The signal `#onUserAbort` listens to: the user's, or the call scope's. */
  #signal: AbortSignal | undefined;
  /** The call's scope, held until this exchange is done. */
  #scope: CallScope | undefined;
  #onAbort: (() => void) | undefined;
  #totalTimer: NodeJS.Timeout | undefined;
  #headersTimer: NodeJS.Timeout | undefined;
  #lease: Lease | undefined;
  #ref: StreamRef | undefined;
  #queue: BodyQueue | undefined;
  #resolve: ((r: Response) => void) | undefined;
  #reject: ((e: unknown) => void) | undefined;
  #headDone = false;
  #finished = false;
  #ended = false;
  #trailers: HeaderList | undefined;
  #consumed = 0;

  constructor(plan: Plan, init: RequestInit) {
    this.#plan = plan;
    this.#init = init;
    // Within a call that may make several exchanges, the call's scope bounds them all (scope.ts): its
    // signal stands for the user's and the total timeout, and its error is the one reported.
    const scope = (init as ScopedInit)[CALL_SCOPE];
    const signal = scope !== undefined ? scope.signal : init.signal;
    const total = scope !== undefined ? Infinity : plan.totalTimeout;
    if (signal === undefined && total === Infinity) return;
    this.#ac = new AbortController();
    if (scope !== undefined) {
      scope.hold();
      this.#scope = scope;
    }
    if (signal !== undefined) {
      this.#signal = signal;
      const onUserAbort = (): void => this.#abort(scope?.error ?? new BurrowError('ERR_ABORTED', 'the request was aborted', { stage: 'state', cause: signal.reason }));
      this.#onUserAbort = onUserAbort;
      if (signal.aborted) onUserAbort();
      signal.addEventListener('abort', onUserAbort);
    }
    if (total !== Infinity) {
      this.#totalTimer = setTimeout(() => this.#abort(new BurrowError('ERR_REQUEST_TIMEOUT', `the request did not complete within ${total} ms`, { stage: 'timeout', details: { timeoutMs: total } })), total);
    }
  }

  /** The total timeout or the signal fired while the route was coming up: the error names the hop and the stage waited for. */
  #abortAt(where: RouteProgress): void {
    const e = this.abortError;
    if (e === undefined || e.hop !== undefined) return;
    const opts = { stage: e.stage, hop: where.hop, cause: e.cause, details: { ...e.details, during: where.during } };
    if (e.code === 'ERR_REQUEST_TIMEOUT') {
      this.abortError = new BurrowError(e.code, `the request did not complete within ${String(e.details['timeoutMs'])} ms (waiting for ${where.during})`, opts);
    } else if (e.code === 'ERR_ABORTED') {
      this.abortError = new BurrowError(e.code, `the request was aborted (waiting for ${where.during})`, opts);
    }
  }

  #abort(e: BurrowError): void {
    if (this.abortError) return;
    this.abortError = e;
    this.#ac?.abort(e);
  }

  /** Stops the timers and forgets the user's signal. */
  cleanup(): void {
    if (this.#totalTimer) clearTimeout(this.#totalTimer);
    if (this.#headersTimer) clearTimeout(this.#headersTimer);
    if (this.#onUserAbort) this.#signal?.removeEventListener('abort', this.#onUserAbort);
    const scope = this.#scope;
    this.#scope = undefined;
    scope?.release();
  }

  /** Opens the route (or waits for the pool's connection), then sends. */
  async acquireAndSend(pool: Pool | undefined, key: string): Promise<Response> {
    const { hops, origin } = this.#plan;
    const signal = this.#ac?.signal;
    let lease: Lease;
    try {
      const open = (): ReturnType<typeof openRoute> =>
        openRoute(hops, origin, { lookup: this.#init.lookup, signal, connectTimeout: this.#init.timeouts?.connect, events: this.#init.events, onAbortAt: (where) => this.#abortAt(where) });
      if (pool === undefined) {
        const route = await open();
        lease = { route, reused: false, release: () => void route.conn.close() };
      } else {
        lease = await pool.acquire(key, open, { multiplexed: origin.protocols.includes('http2'), signal });
      }
      // Aborted after the route was open and before the request is sent.
      if (this.abortError) {
        lease.release(true);
        throw this.abortError;
      }
    } catch (e) {
      this.cleanup();
      if (this.abortError !== undefined) throw this.abortError;
      if (typeof e === 'object' && e !== null) notSent.add(e);
      throw e;
    }
    return this.send(lease);
  }

  /** Sends the request on `lease`; settles with the response head. */
  send(lease: Lease): Promise<Response> {
    this.#lease = lease;
    return new Promise<Response>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
      this.#start(lease);
    });
  }

  #start(lease: Lease): void {
    const { conn, tunnel } = lease.route;
    const plan = this.#plan;
    this.#queue = new BodyQueue(this);
    if (this.#ac !== undefined) {
      const onAbort = (): void => {
        this.#fail(this.abortError ?? new BurrowError('ERR_ABORTED', 'the request was aborted', { stage: 'state' }));
        if (this.#ref !== undefined) conn.cancel(this.#ref);
      };
      this.#onAbort = onAbort;
      this.#ac.signal.addEventListener('abort', onAbort);
    }
    const headersTimeout = plan.headersTimeout;
    if (headersTimeout !== Infinity) {
      this.#headersTimer = setTimeout(() => {
        if (this.#headDone) return;
        this.#fail(new BurrowError('ERR_HEADERS_TIMEOUT', `no response headers within ${headersTimeout} ms`, { stage: 'timeout', details: { timeoutMs: headersTimeout } }));
        if (this.#ref !== undefined) conn.cancel(this.#ref);
      }, headersTimeout);
    }
    // A request without a handler of its own: its stream events go to no handler (not to the pooled
    // connection's, which is the handler of the request that opened the route).
    const events = this.#init.events ?? NO_EVENTS;
    const opts = tunnel ? { replyTo: this.#replyTo, flow: BODY_WINDOW, tunnel, events } : { replyTo: this.#replyTo, flow: BODY_WINDOW, events };
    if (plan.origin.version !== undefined) (opts as RequestOptions).version = plan.origin.version;
    const body = plan.body;
    try {
      if (body === null || isWholeBody(body)) {
        this.#ref = conn.request(plan.method, plan.path, plan.headers, body, opts);
      } else {
        const ref = conn.headers(plan.method, plan.path, plan.headers, opts);
        this.#ref = ref;
        void this.#sendBody(conn, ref, body);
      }
    } catch (e) {
      this.#fail(e instanceof BurrowError ? e : new BurrowError('ERR_INVALID_REQUEST', String(e), { stage: 'http', cause: e }));
    }
  }

  async #sendBody(conn: Lease['route']['conn'], ref: StreamRef, body: AsyncIterable<Uint8Array | string>): Promise<void> {
    try {
      for await (const chunk of body) {
        if (this.#finished) return;
        await conn.data(ref, false, typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      }
      if (!this.#finished) await conn.data(ref, true, Buffer.alloc(0));
    } catch (e) {
      conn.cancel(ref);
      this.#fail(new BurrowError('ERR_INVALID_REQUEST', `reading the request body failed: ${(e as Error).message}`, { stage: 'http', cause: e }));
    }
  }

  #finish(reusable: boolean): void {
    if (this.#finished) return;
    this.#finished = true;
    this.cleanup();
    if (this.#onAbort) this.#ac?.signal.removeEventListener('abort', this.#onAbort);
    this.#lease?.release(reusable);
  }

  #fail(e: BurrowError): void {
    if (!this.#headDone) {
      this.#headDone = true;
      this.#reject?.(e);
    } else {
      this.#queue?.fail(e);
    }
    // One failed stream on a multiplexed HTTP/2 connection leaves it usable for the others
    // (the pool checks the connection is still up); an HTTP/1.1 connection is not reused.
    const route = this.#lease?.route;
    this.#finish(route !== undefined && route.protocol === 'http2' && route.conn.state === 'up');
  }

  /** The connection's messages for this request's stream. */
  readonly #replyTo = (m: StreamMessage): void => {
    const queue = this.#queue as BodyQueue;
    switch (m.type) {
      case 'response': {
        if (this.#headDone) return;
        this.#headDone = true;
        if (this.#headersTimer) clearTimeout(this.#headersTimer);
        if (m.fin) {
          this.#ended = true;
          queue.end();
          this.#finish(true);
        }
        const lease = this.#lease as Lease;
        const headersMs = Number(process.hrtime.bigint() - this.#plan.started) / 1e6;
        this.#resolve?.(new Response({ status: m.status, headers: m.headers, version: m.version, url: maskUrl(this.#plan.href), info: new Info(lease, headersMs, m.ref.path) }, queue));
        return;
      }
      case 'data':
        if (m.fin) this.#ended = true;
        if (m.data.length > 0) queue.push(m.data);
        if (m.fin) {
          queue.end();
          this.#finish(true);
        }
        return;
      case 'trailers':
        this.#trailers = m.headers;
        this.#ended = true;
        queue.end();
        this.#finish(true);
        return;
      case 'error':
        this.#fail(m.error);
        return;
      default:
        return;
    }
  };

  // BodyHooks: what the body queue asks of the request.

  /** Flow credit goes back in batches of half the window, not one call per chunk. */
  consumed(): void {
    if (!this.#ended && this.#ref !== undefined && ++this.#consumed >= BODY_WINDOW / 2) {
      this.#lease?.route.conn.updateFlow(this.#ref, this.#consumed);
      this.#consumed = 0;
    }
  }

  cancel(): void {
    if (this.#finished) return;
    const route = this.#lease?.route;
    if (this.#ref !== undefined && !this.#ended) route?.conn.cancel(this.#ref);
    this.#finish(this.#ended || route?.protocol === 'http2');
  }

  trailers(): HeaderList | undefined {
    return this.#trailers;
  }
}

/** `Response.info`: what the response went through; the layer chain is read once, when first asked for. */
class Info {
  readonly layers: Lease['route']['layers'];
  readonly reused: boolean;
  readonly headersMs: number;
  readonly connection: number;
  readonly stream: readonly number[];
  readonly #route: Lease['route'];
  #chain: readonly LayerInfo[] | undefined;

  constructor(lease: Lease, headersMs: number, stream: readonly number[]) {
    this.#route = lease.route;
    this.layers = lease.route.layers;
    this.reused = lease.reused;
    this.headersMs = headersMs;
    this.connection = lease.route.conn.id;
    this.stream = stream;
  }

  get chain(): readonly LayerInfo[] {
    if (this.#chain === undefined) {
      const { conn, tunnel } = this.#route;
      this.#chain = tunnel === undefined ? conn.info().layers : (conn.streamInfo(tunnel)?.layers ?? []);
    }
    return this.#chain;
  }
}

