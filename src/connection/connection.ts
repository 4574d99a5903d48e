/**
 * The public `Connection`: the Gun-shaped API of one connection. It holds the
 * parts of the connection core and delegates every call to the one that does
 * the work:
 *
 * | part | file | holds |
 * |---|---|---|
 * | lifecycle | `lifecycle.ts` | connect, reconnect decision, lost, shutdown, close |
 * | layer stack | `layer-stack.ts` + `layer-tree.ts` | what is stacked on what; layers built and torn down |
 * | tunnels up | `tunnel-up.ts`, `ws-handover.ts` | the next hop's layers on a CONNECT's tunnel; a WebSocket on a handed-over stream |
 * | routing | `routing.ts` | which layer a call goes to; calls waiting for the connection |
 * | tunnels | `tunnels.ts` | CONNECTs not yet answered; refused and closed tunnel refs |
 * | streams | `streams.ts` + `mailbox.ts` | each stream's `replyTo` or mailbox; delivery |
 * | calls | `requests.ts` | request, connect, data, cancel, updateFlow, ping |
 * | callbacks | `callbacks.ts` | re-entrancy: calls from inside callbacks, throwing callbacks |
 * | WebSockets | `websockets.ts` | wsUpgrade, wsSend |
 * | stream events | `stream-events.ts` | each stream's events, in its request's async context |
 * | descriptions | `describe.ts` | `info()`, `streamInfo()` |
 *
 * Its length is the public API and its documentation: every method is a few
 * lines that hand the call to one of the parts above.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { BurrowError } from '../errors/errors.js';
import type { HeaderList, HeadersInit } from '../shared/headers.js';
import type { LayerInfo } from '../shared/events.js';
import type { ConnectionInfo, ConnectionState, StreamInfo } from '../shared/info.js';
import type { DownEvent, Http2SettingsReport, LayerProtocolName, Notification, StreamMessage, UpEvent } from '../shared/messages.js';
import type { ConnectDestination } from '../shared/options/hop.js';
import type { ResolvedOptions } from '../shared/options/open.js';
import { StreamRef, nextStreamId } from '../shared/stream-ref.js';
import { layerFailed } from '../observe/layer-events.js';
import { nextConnection, Observer } from '../observe/observer.js';
import { StreamEvents } from './stream-events.js';
import { CallbackGuard } from './callbacks.js';
import { connectionInfo, hasStream, layersStarting, streamInfo, type DescribeParts } from './describe.js';
import { LayerStack } from './layer-stack.js';
import { LayerTree } from './layer-tree.js';
import { Lifecycle } from './lifecycle.js';
import { NO_BODY, Requests, toBuffer, type Body, type RequestOptions } from './requests.js';
import { Router } from './routing.js';
import { ConnectionStatus } from './status.js';
import { StreamTable } from './streams.js';
import { TunnelBook } from './tunnels.js';
import { WebSockets, type WsUpgradeOptions } from './websockets.js';
import type { WsSendFrame } from '../shared/ws.js';

export type { ConnectionInfo, ConnectionState, IntermediaryInfo, StreamInfo } from '../shared/info.js';
export type { Body, RequestOptions } from './requests.js';

/** Events a connection emits. */
export interface ConnectionEvents {
  /** The connection (or a reconnection) is up and takes requests. */
  up: [UpEvent];
  /** The connection was lost; open streams were killed. Reconnection follows when `willRetry`. */
  down: [DownEvent];
  /**
   * A connection attempt failed, or a callback threw (`ERR_CALLBACK`, the
   * exception as `cause`). Emitted only when a listener is attached; without
   * one, a callback's exception is re-thrown on the next tick.
   */
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

const DEFAULT_AWAIT_TIMEOUT = 5000;

/**
 * A connection to one endpoint, and through it to whatever its tunnels reach.
 * Created by {@link open}. Every request method returns a {@link StreamRef} at
 * once; messages arrive through `await`, `awaitBody`, `messages()`, the
 * `message` event, or a `replyTo` function.
 *
 * Callbacks may call the connection: such a call takes effect once the
 * connection has finished handling the event that called the callback (see
 * docs/architecture.md, "Re-entrancy").
 */
export class Connection extends EventEmitter<ConnectionEvents> {
  /** The options after defaults were applied. */
  readonly config: ResolvedOptions;
  /**
   * The connection-level stream: when the connection's own protocol is `raw`
   * (`protocols: ['raw']`, or a SOCKS chain ending in raw), its bytes travel on
   * this ref (`data(conn.ref, …)` and data messages).
   */
  readonly ref: StreamRef;
  /** Unique in the process: the `connection` of this connection's events (docs/events.md). */
  readonly id: number;
  readonly #guard: CallbackGuard;
  readonly #status: ConnectionStatus;
  readonly #streams: StreamTable;
  readonly #lifecycle: Lifecycle;
  readonly #requests: Requests;
  readonly #ws: WebSockets;
  readonly #describe: DescribeParts;
  /** While true (in the constructor), a callback's exception is reported once `open()` returned: a listener may be added. */
  #constructing = true;

  /** @internal Use {@link open}. */
  constructor(options: ResolvedOptions) {
    super();
    this.config = options;
    this.ref = new StreamRef([nextStreamId()]);
    const connRef = this.ref;
    const guard = new CallbackGuard((e, callback) => this.#callbackThrew(e, callback));
    this.#guard = guard;
    this.id = nextConnection();
    const observer = new Observer(this.id, options.events, (fn, payload, callback) => guard.call(fn, payload, callback));
    const streamEvents = new StreamEvents(observer);
    const status = new ConnectionStatus({ index: 0, kind: 'origin', host: options.host, port: options.port, transport: options.transport, ...(options.path !== undefined ? { path: options.path } : {}) });
    this.#status = status;
    const streams = new StreamTable(guard, options.mailbox, (m) => {
      if (this.listenerCount('message') > 0) guard.call((msg) => this.emit('message', msg), m, "a 'message' listener");
    });
    this.#streams = streams;
    const tree = new LayerTree();
    const tunnels = new TunnelBook((p, error) => {
      // A tunnel being set up is abandoned (its records end); a CONNECT not answered yet fails.
      if (p.setup !== undefined) p.setup.abandon(error);
      else if (p.record !== undefined && p.record.state === 'starting') layerFailed(observer, p.record, error);
    });
    const router = new Router(status, tree, tunnels, streams, connRef);
    const stack = new LayerStack(status, tree, tunnels, streams, router, options, connRef, {
      lost: (error, killed) => lifecycle.lost(error, killed),
      ended: () => lifecycle.terminate(null),
      responded: () => lifecycle.responded(),
      notify: (n) => this.#emit('notify', n),
    }, { observer, streamEvents });
    const lifecycle = new Lifecycle({
      config: options,
      status,
      tree,
      tunnels,
      streams,
      router,
      stack,
      guard,
      connRef,
      observer,
      streamEvents,
      dropQueued: (error) => requests.dropQueued(error),
      events: {
        up: (e) => this.#emit('up', e),
        down: (e) => this.#emit('down', e),
        error: (e) => {
          if (this.listenerCount('error') > 0) this.#emit('error', e);
        },
        close: (e) => this.#emit('close', e),
      },
    });
    this.#lifecycle = lifecycle;
    const requests = new Requests({ config: options, status, tree, tunnels, streams, router, stack, guard, connRef, observer, streamEvents });
    this.#requests = requests;
    this.#ws = new WebSockets({ config: options, status, tree, tunnels, streams, router, stack, guard, connRef, observer, streamEvents }, requests);
    this.#describe = { config: options, status, tree, tunnels, router, connRef, retriesLeft: () => lifecycle.retriesLeft, isQueued: (ref) => requests.isQueued(ref), attemptRecords: () => lifecycle.attemptRecords };
    if (observer.wants('burrow:connection:created')) {
      observer.publish('burrow:connection:created', { connection: this.id, host: options.host, port: options.port, transport: options.transport });
    }
    void lifecycle.connect();
    this.#constructing = false;
  }

  /** Emits a connection event as a callback (see {@link CallbackGuard}). */
  #emit<K extends keyof ConnectionEvents>(event: K, arg: ConnectionEvents[K][0]): void {
    const emit = this.emit as (event: string, arg: unknown) => boolean;
    this.#guard.call((a) => emit.call(this, event, a), arg, `a '${event}' listener`);
  }

  /** A callback threw: an `ERR_CALLBACK` error event, or an uncaught exception on the next tick. */
  #callbackThrew(e: unknown, callback: string): void {
    if (this.#constructing) {
      queueMicrotask(() => this.#callbackThrew(e, callback));
      return;
    }
    if (this.listenerCount('error') === 0 || callback === "a 'error' listener") {
      process.nextTick(() => {
        throw e;
      });
      return;
    }
    const err = new BurrowError('ERR_CALLBACK', `${callback} threw: ${e instanceof Error ? e.message : String(e)}`, {
      stage: 'state',
      cause: e,
      details: { callback },
    });
    this.#guard.call(() => this.emit('error', err), undefined, "a 'error' listener");
  }

  /** Where the connection is in its life. */
  get state(): ConnectionState {
    return this.#status.state;
  }

  // ---------------------------------------------------------------- requests

  /**
   * Sends a request with a whole body (content-length is set from it).
   * Throws `ERR_INVALID_HEADER` / `ERR_INVALID_REQUEST` before anything is sent.
   */
  request(method: string, path: string, headers?: HeadersInit, body?: Body | null, opts?: RequestOptions): StreamRef {
    return this.#requests.start(method, path, headers, body === undefined || body === null ? NO_BODY : toBuffer(body), opts);
  }

  /**
   * Sends request headers only; stream the body with {@link data}. Without a
   * content-length header, HTTP/1.1 bodies are sent chunked.
   */
  headers(method: string, path: string, headers?: HeadersInit, opts?: RequestOptions): StreamRef {
    return this.#requests.start(method, path, headers, null, opts);
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
   * Opens a tunnel: sends CONNECT to the HTTP layer addressed by `opts.tunnel`
   * (or the connection's own layer). On success the ref gets a `response` (2xx,
   * fin) then one `up` message per layer that comes up inside (`socks`, then
   * the protocol reached). Requests then go through it with `{ tunnel: ref }`;
   * a raw tunnel carries bytes with `data(ref, …)`. A non-2xx is an ordinary
   * response and the ref is no tunnel. Over HTTP/1.1 the whole connection
   * becomes the tunnel; over HTTP/2 only this stream does. The CONNECT's `host`
   * header (HTTP/1.1) and `:authority` (HTTP/2) are always the destination's
   * `host:port`: a `host` header given in `headers` is replaced.
   */
  connect(destination: ConnectDestination, headers?: HeadersInit, opts?: RequestOptions): StreamRef {
    return this.#requests.connect(destination, headers, opts);
  }

  /**
   * Sends request body bytes on a stream opened with {@link headers} (or raw
   * bytes on an upgraded stream or a raw tunnel); `fin` ends the body. Resolves
   * when the transport can take more (backpressure); never rejects — failures
   * arrive as an error message on the stream.
   */
  data(ref: StreamRef, fin: boolean, chunk: Body): Promise<void> {
    return this.#requests.data(ref, fin, chunk);
  }

  /**
   * Stops a stream: HTTP/2 resets it (CANCEL); HTTP/1.1 stops delivering its
   * messages (its response is still read off the connection). Cancelling a
   * tunnel closes it (for a connection-wide tunnel: the connection). The
   * stream's last message is an error with code `ERR_STREAM_CANCELED`.
   */
  cancel(ref: StreamRef): void {
    this.#requests.cancel(ref);
  }

  /**
   * Takes the transport of an open raw tunnel out of the connection and
   * returns it: the duplex the raw layer ran on — the innermost `TLSSocket`
   * (when the tunnel's destination is TLS), the `net.Socket` or `TLSSocket` of
   * a connection-wide tunnel, or the HTTP/2 stream of a stream-wide one. It is
   * returned paused with no listener of burrow's on it, every byte the
   * destination sent still unread: `resume()` it, `pipe()` it, or hand it to
   * another client (`tls.connect({ socket })`, `http.request({ createConnection })`).
   * Call it as soon as the tunnel's `up raw` message (or, for the connection's
   * own raw stream, `awaitUp()`) arrives; once bytes were delivered as data
   * messages it throws `ERR_BAD_STATE`.
   *
   * The ref's last message is `ERR_TUNNEL_CLOSED` with `details.detached`. The
   * caller owns the duplex: destroying it closes what it runs on (for a
   * connection-wide tunnel, every socket down to the TCP connection; for a
   * stream-wide one, the HTTP/2 stream is reset and the connection goes on).
   * When the tunnel is connection-wide — every hop an HTTP/1.1 CONNECT or SOCKS5,
   * or `ref` is the connection's `ref` (its own raw stream) — the connection
   * has nothing left: it closes (`close` with null, no reconnection) without
   * touching the duplex or the sockets under it.
   *
   * Throws `ERR_NOT_A_TUNNEL` when `ref` is not an open raw tunnel of this
   * connection (not up yet, closed, or another protocol).
   */
  detach(ref: StreamRef): Socket | Duplex {
    const { duplex, connectionWide } = this.#requests.detach(ref);
    if (connectionWide) this.#lifecycle.handedOver();
    return duplex;
  }

  // ---------------------------------------------------------------- WebSocket

  /**
   * Opens a WebSocket at `path` on the connection's layer, or on the layer
   * inside `opts.tunnel`: an HTTP/1.1 `Upgrade` (the whole connection, or the
   * conn-wide tunnel, becomes the WebSocket) or, on HTTP/2, an extended
   * CONNECT (RFC 8441: one stream; the server must allow it in its SETTINGS,
   * else `ERR_WS_UNSUPPORTED`). Returns the WebSocket's ref at once. Its
   * messages: `upgrade` when it is up, then `ws` messages (one per text or
   * binary message, ping and pong when `silencePings` is false); a received
   * `close` frame is the last. A refused or invalid handshake is an
   * `ERR_WS_HANDSHAKE` error with the answer's status and headers in
   * `error.response`. Options are Gun's `ws_opts` over the connection's `ws`
   * defaults.
   */
  wsUpgrade(path: string, headers?: HeadersInit, opts?: WsUpgradeOptions): StreamRef {
    return this.#ws.upgrade(path, headers, opts);
  }

  /**
   * Sends one frame or several, in order, on the WebSocket `ref` (frames sent
   * before it is up wait for it). Text and binary messages are compressed
   * when permessage-deflate was negotiated and they reach its threshold.
   * Sending `close` starts the close handshake: the stream's last message is
   * then the server's close frame (or `ERR_WS_CLOSE_TIMEOUT` after
   * `closingTimeout`). Throws `ERR_INVALID_REQUEST` for a bad frame; resolves
   * when the transport can take more; rejects with `ERR_WS_CLOSED` when the
   * frames cannot be sent (after a close frame, or once the WebSocket ended).
   */
  wsSend(ref: StreamRef, frames: WsSendFrame | readonly WsSendFrame[]): Promise<void> {
    return this.#ws.send(ref, Array.isArray(frames) ? (frames as readonly WsSendFrame[]) : [frames as WsSendFrame]);
  }

  /** Gives a stream `increment` more data messages of flow budget (Gun's message-count flow control). */
  updateFlow(ref: StreamRef, increment: number): void {
    this.#requests.updateFlow(ref, increment);
  }

  /**
   * Sends an HTTP/2 PING to the connection's layer, or to the layer inside
   * `opts.tunnel`, and resolves with the round-trip time in ms. Rejects with
   * `ERR_PING_UNSUPPORTED` on HTTP/1.1 (the connection stays up).
   */
  ping(opts?: { tunnel?: StreamRef }): Promise<number> {
    return this.#requests.ping(opts);
  }

  /**
   * The HTTP/2 server's SETTINGS for the connection's layer, or for the layer
   * inside `opts.tunnel`, once they have arrived (the `notify` event reports
   * them too); undefined before that, on HTTP/1.1 and raw layers, and when the
   * layer is unknown.
   */
  remoteSettings(opts?: { tunnel?: StreamRef }): Http2SettingsReport | undefined {
    return this.#requests.remoteSettings(opts);
  }

  // ---------------------------------------------------------------- awaiting

  /**
   * Resolves with the connection's protocol once it is up and takes requests
   * (after any SOCKS layers given in `protocols`); rejects after `timeout` ms or
   * if the connection gives up.
   */
  awaitUp(timeout: number = DEFAULT_AWAIT_TIMEOUT): Promise<LayerProtocolName> {
    return this.#lifecycle.awaitUp(timeout);
  }

  /** The next message of a stream (default timeout 5000 ms; `ERR_AWAIT_TIMEOUT` after it). */
  await(ref: StreamRef, timeout: number = DEFAULT_AWAIT_TIMEOUT): Promise<StreamMessage> {
    try {
      return this.#streams.mailbox(ref).next(timeout);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Reads a stream's body to its end (the timeout applies to each message).
   * Informational and response messages on the way are skipped; an error message rejects.
   */
  async awaitBody(ref: StreamRef, timeout: number = DEFAULT_AWAIT_TIMEOUT): Promise<BodyResult> {
    const mb = this.#streams.mailbox(ref);
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

  /**
   * Drops the messages the mailboxes hold and nobody has taken yet (Gun's
   * `flush`): those of the stream `ref` (its own messages, not those of the
   * streams inside it when it is a tunnel), or, without `ref`, of every stream
   * of the connection. Returns how many were dropped. It takes effect at once,
   * inside a callback too; messages arriving later are queued as before. A
   * stream whose last message was dropped is forgotten: `await(ref)` then
   * throws `ERR_STREAM_NOT_FOUND`. Callers waiting in `await` lose nothing
   * (a message is queued only when nobody waits), and streams with a `replyTo`
   * have nothing queued. Connection events (`up`, `down`, `notify`) are
   * events, not mailbox messages: nothing to drop.
   *
   * @example
   * ```ts
   * const ref = conn.get('/');
   * await conn.await(ref);          // the response head
   * conn.flush(ref);                // the body received so far is dropped
   * ```
   */
  flush(ref?: StreamRef): number {
    return this.#streams.flush(ref);
  }

  /** Iterates over a stream's messages until its last one. */
  async *messages(ref: StreamRef): AsyncGenerator<StreamMessage, void, undefined> {
    const mb = this.#streams.mailbox(ref);
    for (;;) {
      const m = await mb.next(Infinity);
      yield m;
      if (mb.drained) return;
    }
  }

  // ---------------------------------------------------------------- information

  /**
   * True while `ref` is a stream or tunnel of this connection that is open or
   * waiting to be sent: `streamInfo(ref) !== undefined`, without building the info.
   */
  hasStream(ref: StreamRef): boolean {
    return hasStream(this.#describe, ref);
  }

  /** A stream's state and the proxies it goes through, or undefined when the connection does not know it. */
  streamInfo(ref: StreamRef): StreamInfo | undefined {
    return streamInfo(this.#describe, ref);
  }

  /**
   * The connection's state and the innermost connection-wide endpoint it
   * reaches, with the connection-wide proxies traversed (Gun semantics: an
   * HTTP/2 CONNECT tunnel does not change it).
   */
  info(): ConnectionInfo {
    return connectionInfo(this.#describe);
  }

  /** @internal The layers still coming up (the connection's own, and those of pending CONNECT tunnels), outermost first. */
  layersStarting(): LayerInfo[] {
    return layersStarting(this.#describe);
  }

  // ---------------------------------------------------------------- closing

  /**
   * Graceful close: HTTP/2 sends GOAWAY and lets open streams finish; HTTP/1.1
   * finishes the in-flight responses; tunnels are shut down the same way. New
   * requests fail with `ERR_CLOSING`. No reconnection follows. Resolves once
   * everything is closed.
   */
  shutdown(): Promise<void> {
    return this.#lifecycle.shutdown();
  }

  /** Immediate close: open streams get `ERR_CLOSED`; no reconnection. Resolves once everything is closed. */
  close(): Promise<void> {
    return this.#lifecycle.close();
  }

  /**
   * Lets the process exit while the connection's socket is open (`socket.unref()`), as
   * pools do with idle connections; {@link refSocket} undoes it. Acts on the current socket
   * (a reconnection makes a new one, referenced).
   */
  unrefSocket(): void {
    this.#describe.tree.socket?.unref();
  }

  /** Undoes {@link unrefSocket}: the open socket keeps the process running again. */
  refSocket(): void {
    this.#describe.tree.socket?.ref();
  }
}
