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
import { BurrowError } from '../../errors/errors.js';
import { createCore, type CoreState } from './core.js';
import { DispatchExchange } from './exchange.js';
import { installGlobal } from './global.js';
import type { DispatchHandler } from './handler.js';
import { checkOptions, type ChainDispatcherOptions, type DispatchOptions } from './options.js';
import type { ProxyEnv } from '../../request/env.js';


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
  readonly #state: CoreState;
  #closed = false;
  #destroyed = false;

  /** Throws `ERR_INVALID_OPTION` for an invalid option (a proxy URL of `via` included). */
  constructor(options: ChainDispatcherOptions = {}) {
    super();
    const { headersTimeout, env } = checkOptions(options);
    this.#state = createCore(options, headersTimeout, env);
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
    return installGlobal(this);
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
    const ex = new DispatchExchange(this.#state.core, handler);
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
    const state = this.#state;
    if (state.active.size > 0) await new Promise<void>((resolve) => (state.onIdle = resolve));
    await state.core.pool.close();
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
    const state = this.#state;
    for (const ex of [...state.active]) ex.abort(reason);
    const p = Promise.all([state.core.pool.close(), ...[...state.dedicated].map((c) => c.close())]).then(() => undefined);
    if (typeof callback === 'function') {
      void p.then(() => callback());
      return;
    }
    return p;
  }
}

