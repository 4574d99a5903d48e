/**
 * A WebSocket client with the WHATWG interface (the same as Node's global
 * `WebSocket`), that reaches its server through any proxy chain burrow
 * builds: `via` (or the proxy environment variables) as in `request()`.
 * Under it: a route opened with the low-level API, then `wsUpgrade` on the
 * origin's layer, whose messages arrive through `replyTo` with message-count
 * flow control. Besides the events: an async iterator of messages and a
 * duplex stream view.
 */
import { HandlerAttributes } from '../shared/handler-attributes.js';
import type { Duplex } from 'node:stream';
import { BurrowError, isBurrowError } from '../errors/errors.js';
import type { Connection } from '../connection/connection.js';
import { getHeader, normalizeHeaders, type HeadersInit } from '../shared/headers.js';
import type { StreamMessage } from '../shared/messages.js';
import type { TlsOptions } from '../shared/options/tls.js';
import { checkSocketPath, type LookupFunction } from '../shared/options/open.js';
import type { StreamRef } from '../shared/stream-ref.js';
import type { WsDeflateOptions } from '../shared/ws.js';
import type { EventHandler } from '../shared/events.js';
import { routeHops, type ViaEntry } from '../request/request.js';
import { openRoute, type RouteOrigin } from '../request/route.js';
import type { ProxyEnv } from '../request/env.js';
import { CloseEvent, WebSocketErrorEvent } from './events.js';
import { MessageQueue, type WsMessageData } from './queue.js';
import { webSocketDuplex } from './duplex.js';

/** How a binary message's `data` is given to `message` listeners. */
export type BinaryType = 'blob' | 'arraybuffer' | 'nodebuffer';

/** Options of a {@link WebSocket} (the third constructor argument). */
export interface WebSocketInit {
  /** Subprotocols offered (also the second constructor argument). */
  protocols?: string | readonly string[];
  /** Extra request headers of the handshake (`origin`, `authorization`, cookies…). */
  headers?: HeadersInit;
  /** The proxy chain, first hop first, as in `request()`. */
  via?: readonly ViaEntry[] | string;
  /** When `via` is not given: take the chain from the proxy environment variables (`true`: process.env). */
  env?: boolean | ProxyEnv;
  /** TLS options for the server only (`wss:`). */
  tls?: TlsOptions;
  /** Offer permessage-deflate (`true`, or its parameters); default true. */
  perMessageDeflate?: boolean | WsDeflateOptions;
  /** Open the WebSocket with HTTP/2 (RFC 8441) when the server speaks it; default false (HTTP/1.1 upgrade). */
  http2?: boolean;
  /** Largest message accepted, bytes (after decompression); default 100 MiB. */
  maxPayload?: number;
  /** Timeouts, ms: TCP connect of the first hop, TLS handshake with the server, the WebSocket handshake, the close handshake. */
  timeouts?: { connect?: number; tlsHandshake?: number; handshake?: number; closing?: number };
  /** Interval in ms between pings sent to keep the connection alive; default none. */
  keepalive?: number;
  /** Custom DNS lookup. */
  lookup?: LookupFunction;
  /** A Unix domain socket to reach the first hop (the server, or the first proxy of `via`) by, as in `request()`. */
  socketPath?: string;
  /** Methods called as the route's layers and the WebSocket's stream start, come up and end (docs/events.md). */
  events?: EventHandler;
}

/** Messages received ahead of the reader (events, iterator or stream) before the server is made to wait. */
const WINDOW = 256;
/** Credit is given back to the server in batches of this many messages. */
const BATCH = 64;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** An `on…` event handler attribute of a {@link WebSocket} (`null`: none). */
export type WebSocketEventHandler = ((this: WebSocket, ev: Event) => unknown) | null;
type Listener = Parameters<EventTarget['addEventListener']>[1];
type AddOptions = Parameters<EventTarget['addEventListener']>[2];
type RemoveOptions = Parameters<EventTarget['removeEventListener']>[2];

/** A WebSocket (WHATWG interface) through burrow's proxy chains. */
export class WebSocket extends EventTarget {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  declare readonly CONNECTING: 0;
  declare readonly OPEN: 1;
  declare readonly CLOSING: 2;
  declare readonly CLOSED: 3;

  /** The URL, as resolved (`ws:` or `wss:`). */
  readonly url: string;
  /** The URL's origin, as `message` events give it. */
  readonly #origin: string;
  #readyState: 0 | 1 | 2 | 3 = 0;
  #protocol = '';
  #extensions = '';
  #binaryType: BinaryType = 'blob';
  #buffered = 0;
  #conn: Connection | undefined;
  #ref: StreamRef | undefined;
  /** close() was called while connecting. */
  #cancelled = false;
  #closeFired = false;
  /** Messages received and not yet consumed, beyond those given credit back. */
  #unreturned = 0;
  #queue: MessageQueue | undefined;
  /** A `message` listener was added at some point: messages are dispatched as events (else only queued for readers). */
  #messageListened = false;
  readonly #handlers = new HandlerAttributes<WebSocketEventHandler>(this);
  /** Blobs being read for send(): later sends wait for them, in order. */
  #sendChain: Promise<void> | undefined;

  /**
   * @param url `ws:` or `wss:` (`http:` and `https:` are taken as those).
   * @param protocols subprotocols offered, in order of preference.
   * @param init proxies, TLS, compression, timeouts.
   */
  constructor(url: string | URL, protocols?: string | readonly string[] | WebSocketInit, init: WebSocketInit = {}) {
    super();
    if (protocols !== undefined && typeof protocols === 'object' && !Array.isArray(protocols)) {
      init = protocols as WebSocketInit;
      protocols = init.protocols;
    }
    protocols ??= init.protocols;
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new DOMException(`invalid WebSocket URL ${String(url)}`, 'SyntaxError');
    }
    if (u.protocol === 'http:') u.protocol = 'ws:';
    else if (u.protocol === 'https:') u.protocol = 'wss:';
    if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new DOMException(`a WebSocket URL is ws: or wss:, not ${u.protocol}`, 'SyntaxError');
    if (u.hash !== '' || u.href.endsWith('#')) throw new DOMException('a WebSocket URL has no fragment', 'SyntaxError');
    const list = protocols === undefined ? [] : typeof protocols === 'string' ? [protocols] : [...(protocols as readonly string[])];
    for (const p of list) {
      if (!TOKEN.test(p)) throw new DOMException(`invalid subprotocol ${JSON.stringify(p)}`, 'SyntaxError');
    }
    if (new Set(list).size !== list.length) throw new DOMException('a subprotocol is offered twice', 'SyntaxError');
    this.url = u.href;
    this.#origin = u.origin;
    void this.#open(u, list, init);
  }

  get readyState(): 0 | 1 | 2 | 3 {
    return this.#readyState;
  }

  /** The subprotocol the server chose ('' for none). */
  get protocol(): string {
    return this.#protocol;
  }

  /** The extensions in force, as the server answered them ('' for none). */
  get extensions(): string {
    return this.#extensions;
  }

  /** Bytes given to `send()` not yet handed to the transport. */
  get bufferedAmount(): number {
    return this.#buffered;
  }

  get binaryType(): BinaryType {
    return this.#binaryType;
  }

  set binaryType(t: BinaryType) {
    if (t === 'blob' || t === 'arraybuffer' || t === 'nodebuffer') this.#binaryType = t;
  }

  get onopen(): WebSocketEventHandler {
    return this.#handlers.get('open');
  }

  set onopen(h: WebSocketEventHandler) {
    this.#handlers.set('open', h);
  }

  get onmessage(): WebSocketEventHandler {
    return this.#handlers.get('message');
  }

  set onmessage(h: WebSocketEventHandler) {
    this.#handlers.set('message', h);
  }

  get onerror(): WebSocketEventHandler {
    return this.#handlers.get('error');
  }

  set onerror(h: WebSocketEventHandler) {
    this.#handlers.set('error', h);
  }

  get onclose(): WebSocketEventHandler {
    return this.#handlers.get('close');
  }

  set onclose(h: WebSocketEventHandler) {
    this.#handlers.set('close', h);
  }

  override addEventListener(type: string, listener: Listener | null, options?: AddOptions): void {
    if (listener === null) return;
    if (type === 'message') this.#messageListened = true;
    super.addEventListener(type, listener, options);
  }

  override removeEventListener(type: string, listener: Listener | null, options?: RemoveOptions): void {
    if (listener === null) return;
    super.removeEventListener(type, listener, options);
  }

  /**
   * Sends a message: a string as text, bytes (or a Blob) as binary. Throws
   * `InvalidStateError` while connecting; after close() the data is dropped
   * (and counted in `bufferedAmount`), as the standard says.
   */
  send(data: string | ArrayBufferLike | ArrayBufferView | Blob): void {
    if (this.#readyState === 0) throw new DOMException('the WebSocket is still connecting', 'InvalidStateError');
    if (typeof data !== 'string' && !(data instanceof Blob) && !ArrayBuffer.isView(data) && !(data instanceof ArrayBuffer) && !isSharedArrayBuffer(data)) {
      throw new TypeError('send() takes a string, an ArrayBuffer, a typed array, a DataView or a Blob');
    }
    const size = typeof data === 'string' ? Buffer.byteLength(data) : data instanceof Blob ? data.size : data.byteLength;
    this.#buffered += size;
    if (this.#readyState !== 1) return;
    if (data instanceof Blob || this.#sendChain !== undefined) {
      const prev = this.#sendChain ?? Promise.resolve();
      const next = prev.then(async () => {
        const bytes = data instanceof Blob ? Buffer.from(await data.arrayBuffer()) : data;
        this.#sendNow(bytes, size);
      });
      this.#sendChain = next;
      void next.then(() => {
        if (this.#sendChain === next) this.#sendChain = undefined;
      });
      return;
    }
    this.#sendNow(data, size);
  }

  #sendNow(data: string | ArrayBufferLike | ArrayBufferView, size: number): void {
    const conn = this.#conn;
    const ref = this.#ref;
    if (conn === undefined || ref === undefined || this.#readyState !== 1) return;
    const frame = typeof data === 'string'
      ? { type: 'text' as const, data }
      : { type: 'binary' as const, data: ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data) };
    conn.wsSend(ref, frame).then(
      () => {
        this.#buffered -= size;
      },
      () => undefined,
    );
  }

  /**
   * Starts the close handshake (`code`: 1000 or 3000–4999; `reason`: at most
   * 123 UTF-8 bytes). While connecting, the opening is abandoned (close
   * event 1006).
   */
  close(code?: number, reason?: string): void {
    if (code !== undefined && (!Number.isInteger(code) || !(code === 1000 || (code >= 3000 && code <= 4999)))) {
      throw new DOMException(`close code ${code}: 1000 or 3000–4999`, 'InvalidAccessError');
    }
    if (reason !== undefined && Buffer.byteLength(reason) > 123) throw new DOMException('a close reason is at most 123 UTF-8 bytes', 'SyntaxError');
    if (this.#readyState >= 2) return;
    if (this.#readyState === 0) {
      // Failing the opening: error and close (1006) are dispatched after this call returns.
      this.#cancelled = true;
      this.#readyState = 2;
      if (this.#conn !== undefined) void this.#conn.close();
      const err = new BurrowError('ERR_ABORTED', 'the WebSocket was closed before it opened', { stage: 'state' });
      queueMicrotask(() => this.#failed(err));
      return;
    }
    this.#readyState = 2;
    const conn = this.#conn as Connection;
    const frame = code === undefined ? { type: 'close' as const } : { type: 'close' as const, code, reason: reason ?? '' };
    const send = (): void => {
      conn.wsSend(this.#ref as StreamRef, frame).catch(() => undefined);
    };
    if (this.#sendChain !== undefined) void this.#sendChain.then(send);
    else send();
  }

  /**
   * The messages, as they come (text as strings, binary as Buffers), until
   * the close; throws the WebSocket's error when it fails. Messages received
   * before the iteration started were only dispatched as events.
   */
  [Symbol.asyncIterator](): AsyncIterator<WsMessageData> {
    return this.#consumer().iterator();
  }

  /**
   * A duplex stream view, for piping: reads are the messages' bytes (text as
   * UTF-8), each write is sent as one message (strings as text, bytes as
   * binary); `end()` closes the WebSocket (1000). The server is made to wait
   * while the readable side is not read.
   */
  duplex(): Duplex {
    return webSocketDuplex(this, this.#consumer());
  }

  #consumer(): MessageQueue {
    this.#queue ??= new MessageQueue(() => this.#returnCredit(1));
    return this.#queue;
  }

  async #open(u: URL, protocols: readonly string[], init: WebSocketInit): Promise<void> {
    const secure = u.protocol === 'wss:';
    const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    const port = u.port === '' ? (secure ? 443 : 80) : Number(u.port);
    const path = `${u.pathname === '' ? '/' : u.pathname}${u.search}`;
    const t = init.timeouts ?? {};
    let conn: Connection | undefined;
    try {
      const hops = routeHops(init.via, u.href.replace(/^ws/, 'http'), init.env);
      const origin: RouteOrigin = {
        scheme: secure ? 'https' : 'http',
        host,
        port,
        tls: init.tls ?? {},
        protocols: init.http2 === true ? (secure ? ['http2', 'http'] : ['http2']) : ['http'],
        tlsHandshakeTimeout: t.tlsHandshake,
        ...(init.socketPath !== undefined ? { socketPath: checkSocketPath(init.socketPath, 'socketPath') } : {}),
      };
      const route = await openRoute(hops, origin, { lookup: init.lookup, connectTimeout: t.connect, events: init.events });
      conn = route.conn;
      if (this.#cancelled) {
        await conn.close();
        return;
      }
      this.#conn = conn;
      const headers = normalizeHeaders(init.headers);
      const deflate = init.perMessageDeflate ?? true;
      this.#ref = conn.wsUpgrade(path, headers, {
        ...(route.tunnel !== undefined ? { tunnel: route.tunnel } : {}),
        protocols,
        compress: deflate,
        flow: WINDOW,
        silencePings: true,
        replyTo: this.#onMessage,
        ...(init.maxPayload !== undefined ? { maxPayload: init.maxPayload } : {}),
        ...(t.handshake !== undefined ? { handshakeTimeout: t.handshake } : {}),
        ...(t.closing !== undefined ? { closingTimeout: t.closing } : {}),
        ...(init.keepalive !== undefined ? { keepalive: init.keepalive } : {}),
        ...(init.events !== undefined ? { events: init.events } : {}),
      });
    } catch (e) {
      if (conn !== undefined) void conn.close();
      if (!this.#cancelled) this.#failed(isBurrowError(e) ? e : new BurrowError('ERR_CONNECT', `the WebSocket could not open: ${(e as Error).message}`, { stage: 'tcp', cause: e }));
    }
  }

  readonly #onMessage = (msg: StreamMessage): void => {
    switch (msg.type) {
      case 'upgrade':
        if (this.#readyState !== 0) return;
        this.#readyState = 1;
        this.#protocol = getHeader(msg.headers, 'sec-websocket-protocol')?.trim() ?? '';
        this.#extensions = getHeader(msg.headers, 'sec-websocket-extensions')?.trim() ?? '';
        this.dispatchEvent(new Event('open'));
        return;
      case 'ws': {
        const f = msg.frame;
        if (f.type === 'close') {
          this.#closed(f.code ?? 1005, f.reason, true);
          return;
        }
        if (f.type !== 'text' && f.type !== 'binary') return;
        if (this.#messageListened || this.#queue === undefined) this.dispatchEvent(new MessageEvent('message', { data: f.type === 'text' ? f.data : this.#binary(f.data), origin: this.#origin }));
        const q = this.#queue;
        if (q !== undefined && q.push(f.data)) return;
        this.#returnCredit(1);
        return;
      }
      case 'error':
        this.#failed(msg.error);
        return;
      default:
    }
  };

  #binary(data: Buffer): Blob | ArrayBuffer | Buffer {
    switch (this.#binaryType) {
      case 'nodebuffer':
        return data;
      case 'arraybuffer':
        return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
      default:
        return new Blob([data]);
    }
  }

  /** One message consumed: the server gets credit back, in batches. */
  #returnCredit(n: number): void {
    this.#unreturned += n;
    if (this.#unreturned < BATCH) return;
    const give = this.#unreturned;
    this.#unreturned = 0;
    const conn = this.#conn;
    const ref = this.#ref;
    if (conn !== undefined && ref !== undefined && this.#readyState <= 2) conn.updateFlow(ref, give);
  }

  /** The WebSocket failed: `error`, then `close` (1006). */
  #failed(error: BurrowError): void {
    if (this.#closeFired) return;
    this.dispatchEvent(new WebSocketErrorEvent('error', error));
    this.#queue?.fail(error);
    this.#closed(1006, '', false);
  }

  #closed(code: number, reason: string, wasClean: boolean): void {
    if (this.#closeFired) return;
    this.#closeFired = true;
    this.#readyState = 3;
    this.#queue?.end();
    const conn = this.#conn;
    const fire = (): void => {
      this.dispatchEvent(new CloseEvent('close', { code, reason, wasClean }));
    };
    if (conn === undefined) {
      // A task of its own, after the error event's (as the standard queues it).
      setImmediate(fire);
      return;
    }
    // The close event once the transport is closed (the close handshake's last step).
    conn.shutdown().then(fire, fire);
  }
}

Object.defineProperties(WebSocket.prototype, {
  CONNECTING: { value: 0, enumerable: true },
  OPEN: { value: 1, enumerable: true },
  CLOSING: { value: 2, enumerable: true },
  CLOSED: { value: 3, enumerable: true },
});

function isSharedArrayBuffer(v: unknown): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && v instanceof SharedArrayBuffer;
}
