/**
 * The connection: the one owner of a connection's sockets, layers, timers and
 * stream mailboxes. Protocol layers report to it; it routes user calls to the
 * right layer, delivers messages, and reconnects per the retry options.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { BurrowError, type HopInfo } from '../errors/errors.js';
import { checkRequestLine, normalizeHeaders, type HeaderList, type HeadersInit } from '../protocols/headers.js';
import type { HttpLayer, LayerOrigin, LayerSink, LayerStreamState } from '../protocols/layer.js';
import { Http1Layer } from '../protocols/http1/layer.js';
import { Http2Layer } from '../protocols/http2/layer.js';
import { dialTcp } from '../transport/dial.js';
import { startTls } from '../transport/tls.js';
import { Mailbox } from './mailbox.js';
import { isFinal, type DownEvent, type HttpProtocolName, type Notification, type StreamMessage, type UpEvent } from './messages.js';
import type { ResolvedOptions } from './options.js';
import { StreamRef, nextStreamId } from './stream-ref.js';

/** A request body given whole. */
export type Body = string | Buffer | Uint8Array;

/** Per-request options. */
export interface RequestOptions {
  /** Send the request inside the tunnel this ref names (see docs/tunnels.md). */
  tunnel?: StreamRef;
  /** Flow budget in data messages; default the protocol's `flow` option (Infinity). */
  flow?: number;
  /**
   * Receive this stream's messages with this function instead of the mailbox
   * (`await`/`awaitBody` then do not see them). The `message` event still fires.
   */
  replyTo?: (msg: StreamMessage) => void;
}

/** Where a connection is in its life. */
export type ConnectionState = 'connecting' | 'up' | 'waiting-retry' | 'closing' | 'closed';

/** Events a connection emits. */
export interface ConnectionEvents {
  /** The connection (or a reconnection) is up and takes requests. */
  up: [UpEvent];
  /** The connection was lost; open streams were killed. Reconnection follows when `willRetry`. */
  down: [DownEvent];
  /** A connection attempt failed. Emitted only when a listener is attached. */
  error: [BurrowError];
  /** HTTP/2 settings from the server, ping acknowledgements. */
  notify: [Notification];
  /** Every per-stream message, whatever else consumes it. */
  message: [StreamMessage];
  /** The connection is closed for good: `null` after `close()`/`shutdown()`, else the last failure. */
  close: [BurrowError | null];
}

/** Result of {@link Connection.awaitBody}. */
export interface BodyResult {
  body: Buffer;
  trailers?: HeaderList;
}

/** What {@link Connection.streamInfo} reports. */
export interface StreamInfo {
  ref: StreamRef;
  /** `pending`: waiting for the connection; `stopping`: cancelled, its response still being read. */
  state: LayerStreamState | 'pending';
  /** Proxies between the client and this stream's endpoint (none for a direct connection). */
  intermediaries: IntermediaryInfo[];
}

/** One proxy a stream's data goes through. */
export interface IntermediaryInfo {
  type: 'connect' | 'socks5';
  host: string;
  port: number;
  transport: 'tcp' | 'tls';
  protocol: string;
}

/** What {@link Connection.info} reports. */
export interface ConnectionInfo {
  state: ConnectionState;
  /** The protocol spoken with the endpoint, once up. */
  protocol: HttpProtocolName | undefined;
  transport: 'tcp' | 'tls';
  origin: { scheme: 'http' | 'https'; host: string; port: number };
  intermediaries: IntermediaryInfo[];
  localAddress: string | undefined;
  localPort: number | undefined;
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  /** Negotiated TLS version and cipher, for TLS connections once up. */
  tls: { version: string | null; cipher: string; alpn: string | false | null } | undefined;
  /** Reconnection attempts left. */
  retriesLeft: number;
}

interface StreamEntry {
  readonly ref: StreamRef;
  readonly replyTo: ((msg: StreamMessage) => void) | undefined;
  readonly mailbox: Mailbox | undefined;
  done: boolean;
}

interface Postponed {
  readonly ref: StreamRef | undefined;
  readonly run: () => void;
  readonly fail: (e: BurrowError) => void;
}

interface UpWaiter {
  resolve(p: HttpProtocolName): void;
  reject(e: BurrowError): void;
  timer: NodeJS.Timeout | undefined;
}

const DEFAULT_AWAIT_TIMEOUT = 5000;

function toBuffer(body: Body): Buffer {
  if (typeof body === 'string') return Buffer.from(body);
  if (Buffer.isBuffer(body)) return body;
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  throw new BurrowError('ERR_INVALID_REQUEST', 'a body must be a string, Buffer or Uint8Array', { stage: 'http' });
}

function checkFlow(flow: unknown): void {
  if (flow === undefined || flow === Infinity) return;
  if (typeof flow !== 'number' || !Number.isInteger(flow) || flow < 1) {
    throw new BurrowError('ERR_INVALID_OPTION', 'invalid option flow: must be an integer >= 1 or Infinity', { stage: 'options', details: { option: 'flow' } });
  }
}

/**
 * A connection to one endpoint. Created by {@link open}. Every request method
 * returns a {@link StreamRef} at once; messages arrive through `await`,
 * `awaitBody`, `messages()`, the `message` event, or a `replyTo` function.
 */
export class Connection extends EventEmitter<ConnectionEvents> {
  /** The options after defaults were applied. */
  readonly config: ResolvedOptions;
  readonly #hop: HopInfo;
  #state: ConnectionState = 'connecting';
  #layer: HttpLayer | undefined;
  #socket: Socket | TLSSocket | undefined;
  readonly #postponed: Postponed[] = [];
  readonly #entries = new Map<string, StreamEntry>();
  #retriesLeft: number;
  #attempt: AbortController | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #lastError: BurrowError | undefined;
  #userClosing = false;
  readonly #upWaiters: UpWaiter[] = [];
  readonly #closed: Promise<void>;
  #resolveClosed!: () => void;

  /** @internal Use {@link open}. */
  constructor(options: ResolvedOptions) {
    super();
    this.config = options;
    this.#hop = { index: 0, kind: 'origin', host: options.host, port: options.port, transport: options.transport };
    this.#retriesLeft = options.retry;
    this.#closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    void this.#connect();
  }

  /** Where the connection is in its life. */
  get state(): ConnectionState {
    return this.#state;
  }

  // ---------------------------------------------------------------- connecting

  async #connect(): Promise<void> {
    this.#state = 'connecting';
    const attempt = new AbortController();
    this.#attempt = attempt;
    const ctx = { hop: this.#hop, signal: attempt.signal };
    const o = this.config;
    let socket: Socket | TLSSocket | undefined;
    try {
      socket = await dialTcp(ctx, o);
      let protocol = o.protocols[0] as HttpProtocolName;
      if (o.transport === 'tls') {
        const r = await startTls(ctx, socket, { host: o.host, tls: o.tls, protocols: o.protocols, handshakeTimeout: o.tlsHandshakeTimeout });
        socket = r.socket;
        protocol = r.protocol;
      }
      const holder: { layer: HttpLayer | undefined } = { layer: undefined };
      const layer = this.#createLayer(protocol, socket, this.#sinkFor(holder));
      holder.layer = layer;
      if (attempt.signal.aborted) {
        layer.destroy(new BurrowError('ERR_CLOSED', 'the connection was closed', { stage: 'state', hop: this.#hop }));
        return;
      }
      await layer.ready;
      if (attempt.signal.aborted) {
        layer.destroy(new BurrowError('ERR_CLOSED', 'the connection was closed', { stage: 'state', hop: this.#hop }));
        return;
      }
      this.#attempt = undefined;
      this.#layer = layer;
      this.#socket = socket;
      this.#state = 'up';
      this.#retriesLeft = o.retry;
      this.emit('up', { protocol });
      for (const w of this.#upWaiters.splice(0)) {
        if (w.timer) clearTimeout(w.timer);
        w.resolve(protocol);
      }
      for (const p of this.#postponed.splice(0)) p.run();
    } catch (e) {
      socket?.destroy();
      if (attempt.signal.aborted) return;
      this.#attempt = undefined;
      const err = e instanceof BurrowError ? e : new BurrowError('ERR_CONNECT', `connection failed: ${(e as Error).message}`, { stage: 'tcp', hop: this.#hop, cause: e });
      this.#attemptFailed(err);
    }
  }

  #createLayer(protocol: HttpProtocolName, socket: Socket | TLSSocket, sink: LayerSink): HttpLayer {
    const origin: LayerOrigin = { host: this.config.host, port: this.config.port, transport: this.config.transport, hop: this.#hop };
    return protocol === 'http2'
      ? new Http2Layer(socket, origin, this.config.http2, sink)
      : new Http1Layer(socket, origin, this.config.http, sink);
  }

  #sinkFor(holder: { layer: HttpLayer | undefined }): LayerSink {
    return {
      deliver: (msg) => this.#deliver(msg),
      notify: (n) => this.emit('notify', n),
      closed: (error, killed) => {
        if (holder.layer !== undefined && holder.layer === this.#layer) this.#layerClosed(holder.layer, error, killed);
      },
    };
  }

  #attemptFailed(err: BurrowError): void {
    this.#lastError = err;
    if (this.listenerCount('error') > 0) this.emit('error', err);
    if (this.#userClosing || this.#retriesLeft <= 0) {
      this.#terminate(err);
      return;
    }
    const d = this.config.retryFn(this.#retriesLeft, { retry: this.config.retry, retryTimeout: this.config.retryTimeout });
    this.#retriesLeft = Math.max(0, Math.floor(d.retries));
    this.#state = 'waiting-retry';
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      void this.#connect();
    }, Math.max(0, d.timeout));
  }

  #layerClosed(layer: HttpLayer, error: BurrowError | null, killed: readonly StreamRef[]): void {
    this.#layer = undefined;
    this.#socket = undefined;
    if (this.#userClosing) {
      this.#terminate(null);
      return;
    }
    const reason = error ?? new BurrowError('ERR_CONNECTION_CLOSED', 'the server closed the connection', { stage: 'tcp', hop: this.#hop });
    this.#lastError = reason;
    const willRetry = this.config.retry > 0;
    this.emit('down', { protocol: layer.protocol, reason, killedStreams: killed, willRetry });
    if (!willRetry) {
      this.#terminate(reason);
      return;
    }
    this.#retriesLeft = this.config.retry;
    void this.#connect();
  }

  /** Ends the connection for good. */
  #terminate(error: BurrowError | null): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#attempt?.abort();
    this.#attempt = undefined;
    const streamError = error ?? new BurrowError('ERR_CLOSED', 'the connection was closed', { stage: 'state', hop: this.#hop });
    for (const p of this.#postponed.splice(0)) p.fail(streamError);
    for (const w of this.#upWaiters.splice(0)) {
      if (w.timer) clearTimeout(w.timer);
      w.reject(streamError);
    }
    // Streams that still wait for messages get a final error so no await hangs.
    for (const e of [...this.#entries.values()]) {
      if (!e.done) this.#deliver({ type: 'error', ref: e.ref, error: streamError });
    }
    this.emit('close', error);
    this.#resolveClosed();
  }

  // ---------------------------------------------------------------- delivery

  #deliver(msg: StreamMessage): void {
    const e = this.#entries.get(msg.ref.key);
    if (e !== undefined) {
      if (e.done) return;
      if (msg.type === 'push') this.#register(msg.pushRef, e.replyTo);
      if (isFinal(msg)) e.done = true;
      if (e.replyTo) e.replyTo(msg);
      else e.mailbox?.push(msg);
      if (e.done && (e.mailbox === undefined || e.mailbox.drained)) this.#entries.delete(e.ref.key);
    } else if (msg.type === 'push') {
      this.#register(msg.pushRef, undefined);
    }
    this.emit('message', msg);
  }

  #register(ref: StreamRef, replyTo: ((msg: StreamMessage) => void) | undefined): void {
    if (!replyTo && !this.config.mailbox) return;
    const mailbox = replyTo ? undefined : new Mailbox(ref, () => {
      const cur = this.#entries.get(ref.key);
      if (cur?.done && cur.mailbox?.drained) this.#entries.delete(ref.key);
    });
    this.#entries.set(ref.key, { ref, replyTo, mailbox, done: false });
  }

  /**
   * Runs `run` on the layer now, or once the connection is up. `opens` is true
   * for calls that open a stream; the others (body data) go to the current
   * layer even while it is closing or no longer accepts new streams.
   */
  #dispatch(ref: StreamRef | undefined, tunnel: StreamRef | undefined, run: (layer: HttpLayer) => void, fail: (e: BurrowError) => void, opens = true): void {
    if (!opens && this.#layer !== undefined && (this.#state === 'up' || this.#state === 'closing')) {
      run(this.#layer);
      return;
    }
    if (this.#state === 'closed' || this.#state === 'closing') {
      const err =
        this.#state === 'closing'
          ? new BurrowError('ERR_CLOSING', 'the connection is shutting down and accepts no new requests', { stage: 'state', hop: this.#hop })
          : new BurrowError('ERR_CLOSED', 'the connection is closed', { stage: 'state', hop: this.#hop, cause: this.#lastError });
      queueMicrotask(() => fail(err));
      return;
    }
    if (tunnel !== undefined) {
      const known = this.#entries.has(tunnel.key) || this.#layer?.streamState(tunnel) !== undefined;
      const err = known
        ? new BurrowError('ERR_NOT_A_TUNNEL', `${tunnel} is not a tunnel`, { stage: 'state', hop: this.#hop })
        : new BurrowError('ERR_STREAM_NOT_FOUND', `${tunnel} is not a stream of this connection`, { stage: 'state', hop: this.#hop });
      queueMicrotask(() => fail(err));
      return;
    }
    const layer = this.#layer;
    if (layer !== undefined && this.#state === 'up' && layer.accepting) {
      run(layer);
      return;
    }
    this.#postponed.push({ ref, run: () => this.#dispatch(ref, tunnel, run, fail, opens), fail });
  }

  #failStream(ref: StreamRef): (e: BurrowError) => void {
    return (error) => this.#deliver({ type: 'error', ref, error });
  }

  #newRef(tunnel: StreamRef | undefined): StreamRef {
    if (tunnel !== undefined && !(tunnel instanceof StreamRef)) {
      throw new BurrowError('ERR_INVALID_OPTION', 'invalid option tunnel: must be a StreamRef', { stage: 'options', details: { option: 'tunnel' } });
    }
    const id = nextStreamId();
    return tunnel ? tunnel.child(id) : new StreamRef([id]);
  }

  // ---------------------------------------------------------------- requests

  /**
   * Sends a request with a whole body (content-length is set from it).
   * Throws `ERR_INVALID_HEADER` / `ERR_INVALID_REQUEST` before anything is sent.
   */
  request(method: string, path: string, headers?: HeadersInit, body?: Body | null, opts?: RequestOptions): StreamRef {
    return this.#start(method, path, headers, body === undefined || body === null ? Buffer.alloc(0) : toBuffer(body), opts);
  }

  /**
   * Sends request headers only; stream the body with {@link data}. Without a
   * content-length header, HTTP/1.1 bodies are sent chunked.
   */
  headers(method: string, path: string, headers?: HeadersInit, opts?: RequestOptions): StreamRef {
    return this.#start(method, path, headers, null, opts);
  }

  #start(method: string, path: string, headersInit: HeadersInit | undefined, body: Buffer | null, opts: RequestOptions | undefined): StreamRef {
    checkRequestLine(method, path);
    const headers = normalizeHeaders(headersInit);
    checkFlow(opts?.flow);
    if (opts?.replyTo !== undefined && typeof opts.replyTo !== 'function') {
      throw new BurrowError('ERR_INVALID_OPTION', 'invalid option replyTo: must be a function', { stage: 'options', details: { option: 'replyTo' } });
    }
    const ref = this.#newRef(opts?.tunnel);
    this.#register(ref, opts?.replyTo);
    this.#dispatch(ref, opts?.tunnel, (layer) => {
      const flow = opts?.flow ?? (layer.protocol === 'http2' ? this.config.http2.flow : this.config.http.flow);
      layer.request({ ref, method, path, headers, body, flow });
    }, this.#failStream(ref));
    return ref;
  }

  /** GET `path`. */
  get(path: string, headers?: HeadersInit, opts?: RequestOptions): StreamRef {
    return this.request('GET', path, headers, null, opts);
  }

  /** HEAD `path`. */
  head(path: string, headers?: HeadersInit, opts?: RequestOptions): StreamRef {
    return this.request('HEAD', path, headers, null, opts);
  }

  /** OPTIONS `path` (`*` allowed). */
  options(path: string, headers?: HeadersInit, opts?: RequestOptions): StreamRef {
    return this.request('OPTIONS', path, headers, null, opts);
  }

  /** DELETE `path`. */
  delete(path: string, headers?: HeadersInit, opts?: RequestOptions): StreamRef {
    return this.request('DELETE', path, headers, null, opts);
  }

  /** POST: with a body, a whole request; without one, headers only (stream the body with {@link data}). */
  post(path: string, headers?: HeadersInit, body?: Body, opts?: RequestOptions): StreamRef {
    return body === undefined ? this.headers('POST', path, headers, opts) : this.request('POST', path, headers, body, opts);
  }

  /** PUT: as {@link post}. */
  put(path: string, headers?: HeadersInit, body?: Body, opts?: RequestOptions): StreamRef {
    return body === undefined ? this.headers('PUT', path, headers, opts) : this.request('PUT', path, headers, body, opts);
  }

  /** PATCH: as {@link post}. */
  patch(path: string, headers?: HeadersInit, body?: Body, opts?: RequestOptions): StreamRef {
    return body === undefined ? this.headers('PATCH', path, headers, opts) : this.request('PATCH', path, headers, body, opts);
  }

  /**
   * Sends request body bytes on a stream opened with {@link headers} (or raw
   * bytes on an upgraded stream); `fin` ends the body. Resolves when the
   * transport can take more (backpressure); never rejects — failures arrive
   * as an error message on the stream.
   */
  data(ref: StreamRef, fin: boolean, chunk: Body): Promise<void> {
    const buf = toBuffer(chunk);
    return new Promise<void>((resolve) => {
      this.#dispatch(ref, undefined, (layer) => {
        void layer.data(ref, fin, buf).then(resolve);
      }, (e) => {
        this.#failStream(ref)(e);
        resolve();
      }, false);
    });
  }

  /**
   * Stops a stream: HTTP/2 resets it (CANCEL); HTTP/1.1 stops delivering its
   * messages (its response is still read off the connection). The stream's last
   * message is an error with code `ERR_STREAM_CANCELED`.
   */
  cancel(ref: StreamRef): void {
    const i = this.#postponed.findIndex((p) => p.ref?.equals(ref));
    let known = false;
    if (i >= 0) {
      this.#postponed.splice(i, 1);
      known = true;
    }
    if (this.#layer?.cancel(ref)) known = true;
    if (known || this.#entries.has(ref.key)) {
      this.#deliver({ type: 'error', ref, error: new BurrowError('ERR_STREAM_CANCELED', `${ref} was cancelled`, { stage: 'state', hop: this.#hop }) });
    }
  }

  /** Gives a stream `increment` more data messages of flow budget (Gun's message-count flow control). */
  updateFlow(ref: StreamRef, increment: number): void {
    if (!Number.isInteger(increment) || increment < 1) {
      throw new BurrowError('ERR_INVALID_OPTION', 'invalid flow increment: must be an integer >= 1', { stage: 'options', details: { option: 'increment' } });
    }
    this.#layer?.updateFlow(ref, increment);
  }

  /** Sends an HTTP/2 PING and resolves with the round-trip time in ms. Rejects with `ERR_PING_UNSUPPORTED` on HTTP/1.1. */
  ping(): Promise<number> {
    const layer = this.#layer;
    if (layer === undefined || this.#state !== 'up') {
      return Promise.reject(new BurrowError('ERR_NOT_CONNECTED', 'the connection is not up', { stage: 'state', hop: this.#hop }));
    }
    return layer.ping();
  }

  // ---------------------------------------------------------------- awaiting

  /** Resolves with the protocol once the connection is up (rejects after `timeout` ms or if it closes). */
  awaitUp(timeout: number = DEFAULT_AWAIT_TIMEOUT): Promise<HttpProtocolName> {
    if (this.#state === 'up' && this.#layer) return Promise.resolve(this.#layer.protocol);
    if (this.#state === 'closed') {
      return Promise.reject(this.#lastError ?? new BurrowError('ERR_CLOSED', 'the connection is closed', { stage: 'state', hop: this.#hop }));
    }
    return new Promise((resolve, reject) => {
      const w: UpWaiter = { resolve, reject, timer: undefined };
      if (timeout !== Infinity) {
        w.timer = setTimeout(() => {
          const i = this.#upWaiters.indexOf(w);
          if (i >= 0) this.#upWaiters.splice(i, 1);
          reject(new BurrowError('ERR_AWAIT_TIMEOUT', `the connection was not up within ${timeout} ms`, {
            stage: 'timeout',
            hop: this.#hop,
            cause: this.#lastError,
            details: { timeoutMs: timeout },
          }));
        }, timeout);
      }
      this.#upWaiters.push(w);
    });
  }

  #mailbox(ref: StreamRef): Mailbox {
    const e = this.#entries.get(ref.key);
    if (e?.mailbox === undefined) {
      throw new BurrowError('ERR_STREAM_NOT_FOUND', `${ref} has no mailbox (unknown, finished and read, or consumed by replyTo / mailbox: false)`, { stage: 'state' });
    }
    return e.mailbox;
  }

  /** The next message of a stream (default timeout 5000 ms; `ERR_AWAIT_TIMEOUT` after it). */
  await(ref: StreamRef, timeout: number = DEFAULT_AWAIT_TIMEOUT): Promise<StreamMessage> {
    try {
      return this.#mailbox(ref).next(timeout);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Reads a stream's body to its end (the timeout applies to each message).
   * Informational and response messages on the way are skipped; an error message rejects.
   */
  async awaitBody(ref: StreamRef, timeout: number = DEFAULT_AWAIT_TIMEOUT): Promise<BodyResult> {
    const mb = this.#mailbox(ref);
    const chunks: Buffer[] = [];
    for (;;) {
      const m = await mb.next(timeout);
      switch (m.type) {
        case 'response':
          if (m.fin) return { body: Buffer.alloc(0) };
          break;
        case 'data':
          chunks.push(m.data);
          if (m.fin) return { body: Buffer.concat(chunks) };
          break;
        case 'trailers':
          return { body: Buffer.concat(chunks), trailers: m.headers };
        case 'error':
          throw m.error;
        case 'upgrade':
        case 'up':
          throw new BurrowError('ERR_BAD_STATE', `${ref} switched protocols (${m.type}); it has no HTTP body to await`, { stage: 'state' });
        default:
          break;
      }
    }
  }

  /** Iterates over a stream's messages until its last one. */
  async *messages(ref: StreamRef): AsyncGenerator<StreamMessage, void, undefined> {
    const mb = this.#mailbox(ref);
    for (;;) {
      const m = await mb.next(Infinity);
      yield m;
      if (isFinal(m)) return;
    }
  }

  // ---------------------------------------------------------------- information

  /** A stream's state, or undefined when the connection does not know it. */
  streamInfo(ref: StreamRef): StreamInfo | undefined {
    const state = this.#layer?.streamState(ref);
    if (state !== undefined) return { ref, state, intermediaries: [] };
    if (this.#postponed.some((p) => p.ref?.equals(ref))) return { ref, state: 'pending', intermediaries: [] };
    return undefined;
  }

  /** The connection's state, endpoint, protocol and addresses. */
  info(): ConnectionInfo {
    const s = this.#socket;
    const tlsSocket = s !== undefined && 'encrypted' in s ? (s as TLSSocket) : undefined;
    const cipher = tlsSocket?.getCipher();
    return {
      state: this.#state,
      protocol: this.#state === 'up' ? this.#layer?.protocol : undefined,
      transport: this.config.transport,
      origin: { scheme: this.config.transport === 'tls' ? 'https' : 'http', host: this.config.host, port: this.config.port },
      intermediaries: [],
      localAddress: s?.localAddress,
      localPort: s?.localPort,
      remoteAddress: s?.remoteAddress,
      remotePort: s?.remotePort,
      tls: tlsSocket ? { version: tlsSocket.getProtocol(), cipher: cipher?.name ?? '', alpn: tlsSocket.alpnProtocol } : undefined,
      retriesLeft: this.#retriesLeft,
    };
  }

  // ---------------------------------------------------------------- closing

  /**
   * Graceful close: HTTP/2 sends GOAWAY and lets open streams finish; HTTP/1.1
   * finishes the in-flight responses. New requests fail with `ERR_CLOSING`.
   * No reconnection follows. Resolves once everything is closed.
   */
  shutdown(): Promise<void> {
    if (this.#state === 'closed') return this.#closed;
    this.#userClosing = true;
    if (this.#layer !== undefined && this.#state === 'up') {
      this.#state = 'closing';
      for (const p of this.#postponed.splice(0)) {
        p.fail(new BurrowError('ERR_CLOSING', 'the connection is shutting down and accepts no new requests', { stage: 'state', hop: this.#hop }));
      }
      this.#layer.shutdown();
      return this.#closed;
    }
    return this.close();
  }

  /** Immediate close: open streams get `ERR_CLOSED`; no reconnection. Resolves once everything is closed. */
  close(): Promise<void> {
    if (this.#state === 'closed') return this.#closed;
    this.#userClosing = true;
    const layer = this.#layer;
    if (layer !== undefined) {
      layer.destroy(new BurrowError('ERR_CLOSED', 'the connection was closed by the user', { stage: 'state', hop: this.#hop }));
    }
    this.#terminate(null);
    return this.#closed;
  }
}
