/**
 * `EventSource` with the WHATWG interface (HTML §9.2), whose requests go
 * through burrow's proxy chains: `request()` with `accept: text/event-stream`,
 * the body read by the {@link SseParser}, and the reconnection the standard
 * asks for — after the stream's reconnection time (its `retry` field, else
 * the `retry` option), with `Last-Event-ID`, through the same route. A
 * non-200 answer or another content type fails the source for good.
 */
import { HandlerAttributes } from '../../shared/handler-attributes.js';
import { BurrowError } from '../../errors/errors.js';
import { normalizeHeaders, type Header } from '../../shared/headers.js';
import { request } from '../request.js';
import type { RequestInit } from '../init.js';
import type { Response } from '../response.js';
import { checkMaxEventSize, SseParser, type SseEvent } from './parser.js';

/** Options of an {@link EventSource} (the second constructor argument): the WHATWG `withCredentials` plus `request()`'s route options. */
export interface EventSourceInit extends Pick<RequestInit, 'headers' | 'via' | 'env' | 'tls' | 'protocols' | 'pool' | 'lookup' | 'events' | 'socketPath'> {
  /** Kept as `withCredentials` (burrow sends no ambient credentials either way). */
  withCredentials?: boolean;
  /** Timeouts of each connection, ms: TCP connect of the first hop, TLS handshake with the origin, response headers. */
  timeouts?: { connect?: number; tlsHandshake?: number; headers?: number };
  /** The reconnection time until the stream sets one with a `retry` field, ms; default 3000. */
  retry?: number;
  /** The largest event accepted, characters (see `SseOptions.maxEventSize`); default 4 MiB. Larger fails the source. */
  maxEventSize?: number;
}

/** The `error` event of an {@link EventSource}: `error` says why (undefined when the server ended the stream). */
export class EventSourceErrorEvent extends Event {
  /** What failed: a network error (a reconnection follows), or the answer that failed the source (`ERR_EVENT_SOURCE`). */
  readonly error: BurrowError | undefined;
  readonly message: string;

  constructor(type: string, error: BurrowError | undefined) {
    super(type);
    this.error = error;
    this.message = error?.message ?? 'the event stream ended';
  }
}

/** An `on…` event handler attribute of an {@link EventSource} (`null`: none). */
export type EventSourceEventHandler = ((this: EventSource, ev: Event) => unknown) | null;

const DEFAULT_RETRY = 3000;
/** Largest delay a timer takes (setTimeout fires at once beyond it). */
const MAX_DELAY = 2 ** 31 - 1;
const OWN_HEADERS: ReadonlySet<string> = new Set(['accept', 'cache-control', 'last-event-id']);

/** True for `text/event-stream`, parameters and case aside. */
function isEventStream(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const semi = contentType.indexOf(';');
  return (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase() === 'text/event-stream';
}

/** A server-sent event stream (WHATWG `EventSource`) through burrow's proxy chains. */
export class EventSource extends EventTarget {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 2;
  declare readonly CONNECTING: 0;
  declare readonly OPEN: 1;
  declare readonly CLOSED: 2;

  /** The URL, as resolved. */
  readonly url: string;
  /** As given in the options; burrow sends no ambient credentials. */
  readonly withCredentials: boolean;
  readonly #origin: string;
  readonly #init: RequestInit;
  readonly #headers: Header[];
  readonly #maxEventSize: number;
  #readyState: 0 | 1 | 2 = 0;
  #reconnectionTime: number;
  #lastEventId = '';
  /** The connection in progress: aborting it ends its request and its body. */
  #ac: AbortController | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #handlers = new HandlerAttributes<EventSourceEventHandler>(this);

  /**
   * @param url `http:` or `https:`; anything else throws a `SyntaxError` DOMException.
   * @param init `withCredentials`, and the route (`via`, `env`, `tls`, `pool`…), headers, timeouts, `retry`, `maxEventSize`.
   */
  constructor(url: string | URL, init: EventSourceInit = {}) {
    super();
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new DOMException(`invalid EventSource URL ${String(url)}`, 'SyntaxError');
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new DOMException(`an EventSource URL is http: or https:, not ${u.protocol}`, 'SyntaxError');
    const retry = init.retry;
    if (retry !== undefined && (typeof retry !== 'number' || !Number.isInteger(retry) || retry < 0)) {
      throw new BurrowError('ERR_INVALID_OPTION', 'invalid option retry: an integer >= 0 (ms)', { stage: 'options', details: { option: 'retry' } });
    }
    this.#maxEventSize = checkMaxEventSize(init.maxEventSize);
    this.url = u.href;
    this.#origin = u.origin;
    this.withCredentials = init.withCredentials === true;
    this.#reconnectionTime = retry ?? DEFAULT_RETRY;
    this.#headers = normalizeHeaders(init.headers).filter(([name]) => !OWN_HEADERS.has(name));
    const { headers: _h, withCredentials: _w, retry: _r, maxEventSize: _m, ...rest } = init;
    this.#init = rest;
    this.#connect();
  }

  /** `CONNECTING` (0), `OPEN` (1) or `CLOSED` (2). */
  get readyState(): 0 | 1 | 2 {
    return this.#readyState;
  }

  get onopen(): EventSourceEventHandler {
    return this.#handlers.get('open');
  }

  set onopen(h: EventSourceEventHandler) {
    this.#handlers.set('open', h);
  }

  get onmessage(): EventSourceEventHandler {
    return this.#handlers.get('message');
  }

  set onmessage(h: EventSourceEventHandler) {
    this.#handlers.set('message', h);
  }

  get onerror(): EventSourceEventHandler {
    return this.#handlers.get('error');
  }

  set onerror(h: EventSourceEventHandler) {
    this.#handlers.set('error', h);
  }

  /** Closes the source for good: the request in progress and its body end, a reconnection waiting is cancelled; no event follows. */
  close(): void {
    this.#readyState = 2;
    this.#stop();
  }

  #stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const ac = this.#ac;
    this.#ac = undefined;
    ac?.abort(new BurrowError('ERR_ABORTED', 'the EventSource was closed', { stage: 'state' }));
  }

  #connect(): void {
    const ac = new AbortController();
    this.#ac = ac;
    const headers: Header[] = [...this.#headers, ['accept', 'text/event-stream'], ['cache-control', 'no-store']];
    // The ID is UTF-8 on the wire: header values are written byte per character.
    if (this.#lastEventId !== '') headers.push(['last-event-id', Buffer.from(this.#lastEventId, 'utf8').toString('latin1')]);
    request(this.url, { ...this.#init, method: 'GET', headers, signal: ac.signal }).then(
      (res) => this.#read(res, ac),
      (e: unknown) => this.#failed(e, ac),
    );
  }

  /** A response: announce the connection and read the stream, or fail the source. */
  async #read(res: Response, ac: AbortController): Promise<void> {
    if (this.#ac !== ac) {
      res.cancel();
      return;
    }
    const type = res.header('content-type');
    if (res.status !== 200 || !isEventStream(type)) {
      res.cancel();
      const why = res.status !== 200 ? `status ${res.status}` : `content-type ${type === undefined ? '(none)' : JSON.stringify(type)}`;
      this.#fail(new BurrowError('ERR_EVENT_SOURCE', `the event stream was answered with ${why}: not 200 text/event-stream`, {
        stage: 'http',
        details: { status: res.status, ...(type !== undefined ? { contentType: type } : {}) },
        response: { status: res.status, headers: res.headers },
      }));
      return;
    }
    this.#readyState = 1;
    this.dispatchEvent(new Event('open'));
    const parser = new SseParser({ maxEventSize: this.#maxEventSize }, this.#lastEventId);
    try {
      for await (const chunk of res.body) {
        if (this.#ac !== ac) return;
        let events: SseEvent[];
        try {
          events = parser.push(chunk);
        } finally {
          this.#lastEventId = parser.lastEventId;
          if (parser.retry !== undefined) this.#reconnectionTime = parser.retry;
        }
        for (const e of events) {
          this.dispatchEvent(new MessageEvent(e.event, { data: e.data, origin: this.#origin, lastEventId: e.id }));
          // A listener closed the source: nothing more is dispatched.
          if (this.#ac !== ac) return;
        }
      }
      // An event past maxEventSize found after the events before it were handed out fails the source now.
      parser.end();
    } catch (e) {
      if (this.#ac !== ac) return;
      const err = e instanceof BurrowError ? e : new BurrowError('ERR_CONNECTION_CLOSED', String(e), { stage: 'http', cause: e });
      if (err.code === 'ERR_SSE_EVENT_TOO_LARGE') this.#fail(err);
      else this.#reestablish(err);
      return;
    }
    if (this.#ac === ac) this.#reestablish(undefined);
  }

  /** No response: the route or the request failed. A bad option is for good; anything else is retried. */
  #failed(e: unknown, ac: AbortController): void {
    if (this.#ac !== ac) return;
    const err = e instanceof BurrowError ? e : new BurrowError('ERR_CONNECT', String(e), { stage: 'tcp', cause: e });
    if (err.stage === 'options' || err.code === 'ERR_INVALID_HEADER' || err.code === 'ERR_INVALID_REQUEST') this.#fail(err);
    else this.#reestablish(err);
  }

  /** Fails the connection: CLOSED, then `error`; no reconnection. */
  #fail(error: BurrowError): void {
    this.#ac = undefined;
    this.#readyState = 2;
    this.#stop();
    this.dispatchEvent(new EventSourceErrorEvent('error', error));
  }

  /** Reestablishes the connection: CONNECTING, `error`, then a new request after the reconnection time (unless closed meanwhile). */
  #reestablish(error: BurrowError | undefined): void {
    this.#ac = undefined;
    if (this.#readyState === 2) return;
    this.#readyState = 0;
    this.dispatchEvent(new EventSourceErrorEvent('error', error));
    if (this.#readyState !== 0 || this.#ac !== undefined || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#readyState === 0 && this.#ac === undefined) this.#connect();
    }, Math.min(this.#reconnectionTime, MAX_DELAY));
  }
}
