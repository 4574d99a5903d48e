/**
 * The two handler interfaces undici's dispatchers are called with, and one
 * sink that speaks to either. The legacy interface (`onConnect`, `onHeaders`,
 * `onData`, `onComplete`, `onError`, `onUpgrade`) is what undici 6 — Node 20's
 * and 22's `fetch` — and undici 7's `fetch` use; the controller interface
 * (`onRequestStart`, `onResponseStart`, `onResponseData`, `onResponseEnd`,
 * `onResponseError`, `onRequestUpgrade`) is undici 8's (Node 26's `fetch`), and
 * what undici 8's `setGlobalDispatcher` turns legacy handlers into.
 */
import type { Duplex } from 'node:stream';
import type { HeaderList } from '../../shared/headers.js';

/** Response headers as undici's handlers receive them: name and value, alternating, as bytes. */
export type RawHeaders = Buffer[];

/** undici's legacy dispatch handler (undici ≤ 7; Node 20, 22 and 24's `fetch`). */
export interface LegacyDispatchHandler {
  onConnect?(abort: (reason?: Error) => void, context?: object): void;
  onError?(err: Error): void;
  onUpgrade?(statusCode: number, headers: RawHeaders, socket: Duplex): void;
  onResponseStarted?(): void;
  onHeaders?(statusCode: number, headers: RawHeaders, resume: () => void, statusText: string): boolean | void;
  onData?(chunk: Buffer): boolean | void;
  onComplete?(trailers: RawHeaders | null): void;
  onBodySent?(chunk: Buffer | string): void;
  onRequestSent?(): void;
}

/** What a controller-interface handler is given to steer the request. */
export interface DispatchController {
  /** Aborts the request: the handler's `onResponseError` is called with `reason`. */
  abort(reason: Error): void;
  /** Stops delivering body data until {@link resume}. */
  pause(): void;
  resume(): void;
  readonly aborted: boolean;
  readonly paused: boolean;
  readonly reason: Error | null;
  /** The response's headers (then its trailers) as raw bytes, once they arrived. */
  readonly rawHeaders: RawHeaders | undefined;
  readonly rawTrailers: RawHeaders | undefined;
}

/** undici's controller dispatch handler (undici ≥ 7; Node 26's `fetch`). */
export interface ControllerDispatchHandler {
  onRequestStart?(controller: DispatchController, context: object): void;
  onRequestUpgrade?(controller: DispatchController, statusCode: number, headers: Record<string, string | string[]>, socket: Duplex): void;
  onResponseStart?(controller: DispatchController, statusCode: number, headers: Record<string, string | string[]>, statusMessage?: string): void;
  onResponseData?(controller: DispatchController, chunk: Buffer): void;
  onResponseEnd?(controller: DispatchController, trailers: Record<string, string | string[]>): void;
  onResponseError?(controller: DispatchController, error: Error): void;
  onResponseStarted?(): void;
  onBodySent?(chunk: Buffer | string): void;
  onRequestSent?(): void;
}

/** Either handler interface. */
export type DispatchHandler = LegacyDispatchHandler | ControllerDispatchHandler;

/** What the exchange asks of the handler's sink when the handler pauses, resumes or aborts. */
export interface SinkOwner {
  /** The handler wants no more body data for now. */
  pause(): void;
  /** The handler wants body data again. */
  resume(): void;
  /** The handler gave up on the request. */
  abort(reason: Error): void;
}

/** Header names seen often, as bytes (one Buffer each, shared: handlers only read them). */
const NAME_BYTES = new Map<string, Buffer>();

function nameBytes(name: string): Buffer {
  let b = NAME_BYTES.get(name);
  if (b === undefined) {
    b = Buffer.from(name, 'latin1');
    if (NAME_BYTES.size < 512) NAME_BYTES.set(name, b);
  }
  return b;
}

/** A header list as undici's raw headers: names and values alternating, as bytes. */
export function rawHeaders(headers: HeaderList): RawHeaders {
  const out: Buffer[] = new Array<Buffer>(headers.length * 2);
  let i = 0;
  for (const [n, v] of headers) {
    out[i++] = nameBytes(n);
    out[i++] = Buffer.from(v, 'latin1');
  }
  return out;
}

/** A header list as an object: lowercase names, repeated headers as arrays. */
export function headersObject(headers: HeaderList): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [n, v] of headers) {
    const prev = out[n];
    if (prev === undefined) out[n] = v;
    else if (Array.isArray(prev)) prev.push(v);
    else out[n] = [prev, v];
  }
  return out;
}

/**
 * What the exchange calls, whatever the handler's interface. Each method is
 * called at most in this order: start, then head or upgrade, data, end; or
 * error at any point (then nothing more).
 */
export interface HandlerSink {
  start(): void;
  /** The response head. False: the handler asked to pause at once. */
  head(status: number, headers: HeaderList, statusText: string): boolean;
  /** A piece of the body. False: the handler asks to pause. */
  data(chunk: Buffer): boolean;
  end(trailers: HeaderList | undefined): void;
  error(err: Error): void;
  upgrade(status: number, headers: HeaderList, socket: Duplex): void;
  bodySent(chunk: Buffer): void;
  requestSent(): void;
  /** Whether the handler wants `bodySent` calls (saves work when it does not). */
  readonly wantsBodySent: boolean;
}

/** The sink for a legacy handler. */
class LegacySink implements HandlerSink {
  readonly #h: LegacyDispatchHandler;
  readonly #owner: SinkOwner;
  readonly wantsBodySent: boolean;

  constructor(h: LegacyDispatchHandler, owner: SinkOwner) {
    this.#h = h;
    this.#owner = owner;
    this.wantsBodySent = typeof h.onBodySent === 'function';
  }

  start(): void {
    const owner = this.#owner;
    this.#h.onConnect?.((reason?: Error) => owner.abort(reason ?? abortError()), {});
  }

  head(status: number, headers: HeaderList, statusText: string): boolean {
    const h = this.#h;
    h.onResponseStarted?.();
    const owner = this.#owner;
    return h.onHeaders?.(status, rawHeaders(headers), () => owner.resume(), statusText) !== false;
  }

  data(chunk: Buffer): boolean {
    return this.#h.onData?.(chunk) !== false;
  }

  end(trailers: HeaderList | undefined): void {
    this.#h.onComplete?.(trailers === undefined ? [] : rawHeaders(trailers));
  }

  error(err: Error): void {
    const h = this.#h;
    if (typeof h.onError !== 'function') throw err;
    h.onError(err);
  }

  upgrade(status: number, headers: HeaderList, socket: Duplex): void {
    this.#h.onUpgrade?.(status, rawHeaders(headers), socket);
  }

  bodySent(chunk: Buffer): void {
    this.#h.onBodySent?.(chunk);
  }

  requestSent(): void {
    this.#h.onRequestSent?.();
  }
}

/** The sink for a controller-interface handler; it is the controller too. */
class ControllerSink implements HandlerSink, DispatchController {
  readonly #h: ControllerDispatchHandler;
  readonly #owner: SinkOwner;
  readonly wantsBodySent: boolean;
  aborted = false;
  paused = false;
  reason: Error | null = null;
  rawHeaders: RawHeaders | undefined;
  rawTrailers: RawHeaders | undefined;

  constructor(h: ControllerDispatchHandler, owner: SinkOwner) {
    this.#h = h;
    this.#owner = owner;
    this.wantsBodySent = typeof h.onBodySent === 'function';
  }

  abort(reason: Error): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.#owner.abort(reason);
  }

  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.#owner.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.#owner.resume();
  }

  start(): void {
    this.#h.onRequestStart?.(this, {});
  }

  head(status: number, headers: HeaderList, statusText: string): boolean {
    const h = this.#h;
    h.onResponseStarted?.();
    this.rawHeaders = rawHeaders(headers);
    h.onResponseStart?.(this, status, headersObject(headers), statusText);
    return !this.paused;
  }

  data(chunk: Buffer): boolean {
    this.#h.onResponseData?.(this, chunk);
    return !this.paused;
  }

  end(trailers: HeaderList | undefined): void {
    const t = trailers ?? [];
    this.rawTrailers = rawHeaders(t);
    this.#h.onResponseEnd?.(this, headersObject(t));
  }

  error(err: Error): void {
    const h = this.#h;
    if (typeof h.onResponseError !== 'function') throw err;
    h.onResponseError(this, err);
  }

  upgrade(status: number, headers: HeaderList, socket: Duplex): void {
    this.rawHeaders = rawHeaders(headers);
    this.#h.onRequestUpgrade?.(this, status, headersObject(headers), socket);
  }

  bodySent(chunk: Buffer): void {
    this.#h.onBodySent?.(chunk);
  }

  requestSent(): void {
    this.#h.onRequestSent?.();
  }
}

function abortError(): Error {
  const e = new Error('The operation was aborted.');
  e.name = 'AbortError';
  return e;
}

/** True when `h` uses the controller interface (it has `onRequestStart` or `onResponseStart`). */
export function isControllerHandler(h: DispatchHandler): h is ControllerDispatchHandler {
  return typeof (h as ControllerDispatchHandler).onResponseStart === 'function' || typeof (h as ControllerDispatchHandler).onRequestStart === 'function';
}

/** The sink for `handler`, whichever interface it has. */
export function sinkFor(handler: DispatchHandler, owner: SinkOwner): HandlerSink {
  return isControllerHandler(handler) ? new ControllerSink(handler, owner) : new LegacySink(handler, owner);
}
