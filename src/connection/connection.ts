/**
 * The connection: the one owner of a connection's sockets, layers, timers and
 * stream mailboxes. Protocol layers report to it; it routes user calls to the
 * right layer (the layer tree below), delivers messages, builds tunnels, and
 * reconnects per the retry options.
 *
 * The layer tree: the node at key '' runs on the socket of the first hop. A
 * successful CONNECT on stream `T` adds a node at key `T.key` running on the
 * tunnel: connection-wide (HTTP/1.1: the socket itself, the parent node is
 * "taken over") or stream-wide (HTTP/2: one stream of the parent). A request
 * with `{ tunnel: T }` goes to node `T.key`; its ref is `[...T.path, id]`.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { BurrowError, type HopInfo } from '../errors/errors.js';
import { authorityHost, checkRequestLine, hasHeader, normalizeHeaders, type Header, type HeaderList, type HeadersInit } from '../shared/headers.js';
import type { HttpLayer, LayerOrigin, LayerSink } from '../shared/layer.js';
import { Http1Layer } from '../protocols/http1/layer.js';
import { Http2Layer } from '../protocols/http2/layer.js';
import { RawLayer } from '../protocols/raw/layer.js';
import { dialTcp } from '../transport/dial.js';
import { establish, type Established, type EndpointInfo } from '../tunnel/establish.js';
import { resolveDestination, type ConnectDestination, type ResolvedDestination, type ResolvedHop } from '../shared/options/hop.js';
import type { ConnectionInfo, ConnectionState, IntermediaryInfo, StreamInfo } from '../shared/info.js';
import { Mailbox } from './mailbox.js';
import { isFinal, type DownEvent, type Http2SettingsReport, type Notification, type StreamMessage, type UpEvent } from '../shared/messages.js';
import type { ResolvedOptions } from '../shared/options/open.js';
import { checkFlow } from '../shared/options/validate.js';
import { StreamRef, nextStreamId } from '../shared/stream-ref.js';

export type { ConnectionInfo, ConnectionState, IntermediaryInfo, StreamInfo } from '../shared/info.js';

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
  resolve(p: 'http' | 'http2' | 'raw'): void;
  reject(e: BurrowError): void;
  timer: NodeJS.Timeout | undefined;
}

/** One layer of the tree. */
interface LayerNode {
  /** '' for the connection level, else the key of the tunnel ref. */
  readonly key: string;
  readonly tunnelRef: StreamRef | undefined;
  readonly layer: HttpLayer;
  /** The endpoint the layer talks to. */
  readonly endpoint: EndpointInfo;
  /** The first endpoint reached through the tunnel (a SOCKS server, or `endpoint`). */
  readonly reached: EndpointInfo;
  readonly intermediaries: readonly IntermediaryInfo[];
  /** For a tunnel node: the intermediaries of the layer the CONNECT was sent on. */
  readonly viaParent: readonly IntermediaryInfo[];
  readonly hop: HopInfo;
  /** `conn`: runs on the connection's socket; `stream`: on an HTTP/2 stream of the parent. */
  readonly scope: 'conn' | 'stream';
  /** For a conn-wide tunnel: the node whose socket it took over. */
  readonly carrier: LayerNode | undefined;
  /** The TLS socket with `endpoint`, when TLS. */
  readonly tls: TLSSocket | undefined;
  /** Set when a conn-wide CONNECT on this layer made the socket a tunnel. */
  takenOverBy: StreamRef | undefined;
}

/** A CONNECT sent and not yet answered (or being set up). */
interface PendingTunnel {
  readonly ref: StreamRef;
  readonly dest: ResolvedDestination;
  /** Flow budget for a raw protocol reached through the tunnel. */
  readonly flow: number;
  timer: NodeJS.Timeout | undefined;
  /** Requests made with `{ tunnel: ref }` before the tunnel was up. */
  readonly waiting: Postponed[];
}

const DEFAULT_AWAIT_TIMEOUT = 5000;
/** How many refused CONNECT refs are remembered, to answer "not a tunnel" rather than "not found". */
const NOT_TUNNEL_MEMORY = 1024;

function toBuffer(body: Body): Buffer {
  if (typeof body === 'string') return Buffer.from(body);
  if (Buffer.isBuffer(body)) return body;
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  throw new BurrowError('ERR_INVALID_REQUEST', 'a body must be a string, Buffer or Uint8Array', { stage: 'http' });
}


function schemeOf(e: EndpointInfo): 'http' | 'https' | undefined {
  if (e.protocol !== 'http' && e.protocol !== 'http2') return undefined;
  return e.transport === 'tls' ? 'https' : 'http';
}

/**
 * A connection to one endpoint, and through it to whatever its tunnels reach.
 * Created by {@link open}. Every request method returns a {@link StreamRef} at
 * once; messages arrive through `await`, `awaitBody`, `messages()`, the
 * `message` event, or a `replyTo` function.
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
  readonly #hop: HopInfo;
  readonly #firstHop: ResolvedHop;
  #state: ConnectionState = 'connecting';
  /** The layer tree, by key. */
  readonly #nodes = new Map<string, LayerNode>();
  /** The node whose layer owns the connection's socket (the innermost conn-wide one). */
  #connNode: LayerNode | undefined;
  #socket: Socket | undefined;
  readonly #postponed: Postponed[] = [];
  readonly #pendingTunnels = new Map<string, PendingTunnel>();
  readonly #notTunnels = new Set<string>();
  /** Tunnels that were up and closed, with the error a request on them gets. */
  readonly #closedTunnels = new Map<string, BurrowError>();
  readonly #entries = new Map<string, StreamEntry>();
  #retriesLeft: number;
  #attempt: AbortController | undefined;
  /** Aborted when the current connection (and every tunnel on it) goes away. */
  #session: AbortController | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #lastError: BurrowError | undefined;
  #userClosing = false;
  /** The current connection delivered a response: losing it resets the retry budget. */
  #useful = false;
  readonly #upWaiters: UpWaiter[] = [];
  readonly #closed: Promise<void>;
  #resolveClosed!: () => void;

  /** @internal Use {@link open}. */
  constructor(options: ResolvedOptions) {
    super();
    this.config = options;
    this.ref = new StreamRef([nextStreamId()]);
    this.#hop = { index: 0, kind: 'origin', host: options.host, port: options.port, transport: options.transport };
    this.#firstHop = {
      host: options.host,
      port: options.port,
      transport: options.transport,
      tls: options.tls,
      protocols: options.protocols,
      tlsHandshakeTimeout: options.tlsHandshakeTimeout,
    };
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
    const o = this.config;
    let socket: Socket | undefined;
    let node: LayerNode | undefined;
    try {
      socket = await dialTcp({ hop: this.#hop, signal: attempt.signal }, o);
      const est = await establish({ signal: attempt.signal, hopIndex: 0, intermediaries: [] }, this.#firstHop, socket);
      if (est.protocol === 'raw') this.#register(this.ref, undefined);
      node = this.#makeNode('', undefined, est, 'conn', undefined, Infinity);
      await node.layer.ready;
      if (attempt.signal.aborted) throw new BurrowError('ERR_CLOSED', 'the connection was closed', { stage: 'state', hop: this.#hop });
    } catch (e) {
      socket?.destroy();
      node?.layer.destroy(new BurrowError('ERR_CLOSED', 'the connection attempt failed', { stage: 'state', hop: this.#hop }));
      if (attempt.signal.aborted) return;
      this.#attempt = undefined;
      const err = e instanceof BurrowError ? e : new BurrowError('ERR_CONNECT', `connection failed: ${(e as Error).message}`, { stage: 'tcp', hop: this.#hop, cause: e });
      this.#attemptFailed(err);
      return;
    }
    this.#attempt = undefined;
    this.#session = new AbortController();
    this.#nodes.set('', node);
    this.#connNode = node;
    this.#socket = socket;
    this.#state = 'up';
    this.#useful = false;
    const protocol = node.layer.protocol;
    this.emit('up', { protocol, intermediaries: [...node.intermediaries] });
    for (const w of this.#upWaiters.splice(0)) {
      if (w.timer) clearTimeout(w.timer);
      w.resolve(protocol);
    }
    for (const p of this.#postponed.splice(0)) p.run();
  }

  /** Creates the layer for an established endpoint and its tree node (not registered yet). */
  #makeNode(key: string, tunnelRef: StreamRef | undefined, est: Established, scope: 'conn' | 'stream', carrier: LayerNode | undefined, flow: number, viaParent: readonly IntermediaryInfo[] = []): LayerNode {
    const holder: { node: LayerNode | undefined } = { node: undefined };
    const sink: LayerSink = {
      deliver: (msg) => this.#deliver(msg),
      notify: (n) => this.emit('notify', tunnelRef === undefined ? n : { ...n, tunnel: tunnelRef }),
      closed: (error, killed) => {
        if (holder.node !== undefined) this.#nodeClosed(holder.node, error, killed);
      },
      tunnel: (ref, duplex) => {
        if (holder.node !== undefined) void this.#tunnelUp(holder.node, ref, duplex);
        else duplex.destroy();
      },
    };
    const origin: LayerOrigin = { host: est.endpoint.host, port: est.endpoint.port, transport: est.endpoint.transport, hop: est.hop };
    const layer: HttpLayer =
      est.protocol === 'http2'
        ? new Http2Layer(est.duplex, origin, this.config.http2, sink)
        : est.protocol === 'raw'
          ? new RawLayer(est.duplex, tunnelRef ?? this.ref, origin, flow, sink)
          : new Http1Layer(est.duplex, origin, this.config.http, sink);
    const node: LayerNode = {
      key,
      tunnelRef,
      layer,
      endpoint: est.endpoint,
      reached: est.reached,
      intermediaries: est.intermediaries,
      viaParent,
      hop: est.hop,
      scope,
      carrier,
      tls: est.tls,
      takenOverBy: undefined,
    };
    holder.node = node;
    return node;
  }

  #attemptFailed(err: BurrowError): void {
    this.#lastError = err;
    if (this.listenerCount('error') > 0) this.emit('error', err);
    if (this.#userClosing || this.#retriesLeft <= 0) {
      this.#terminate(err);
      return;
    }
    let retries: number;
    let delay: number;
    try {
      const d: unknown = this.config.retryFn(this.#retriesLeft, { retry: this.config.retry, retryTimeout: this.config.retryTimeout });
      const r = typeof d === 'object' && d !== null ? (d as { retries?: unknown; timeout?: unknown }) : {};
      // A decision that is not a number of retries ends the retries rather than looping forever.
      retries = typeof r.retries === 'number' && Number.isFinite(r.retries) ? Math.max(0, Math.floor(r.retries)) : 0;
      delay = typeof r.timeout === 'number' && Number.isFinite(r.timeout) ? Math.min(Math.max(0, r.timeout), 2 ** 31 - 1) : this.config.retryTimeout;
    } catch (e) {
      this.#terminate(new BurrowError('ERR_INVALID_OPTION', `retryFn threw: ${(e as Error).message}`, { stage: 'options', cause: e, details: { option: 'retryFn' } }));
      return;
    }
    this.#retriesLeft = retries;
    this.#state = 'waiting-retry';
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      void this.#connect();
    }, delay);
  }

  // ---------------------------------------------------------------- tunnels

  /** A CONNECT on `parent`'s layer succeeded: build the next layers on `duplex`. */
  async #tunnelUp(parent: LayerNode, ref: StreamRef, duplex: Socket | Duplex): Promise<void> {
    const pending = this.#pendingTunnels.get(ref.key);
    const session = this.#session;
    if (pending === undefined || session === undefined || this.#userClosing) {
      // Cancelled, timed out or shutting down: no tunnel. A conn-wide one took the parent's socket with it.
      duplex.destroy();
      if (pending !== undefined) {
        this.#pendingTunnels.delete(ref.key);
        const err = new BurrowError('ERR_CLOSING', 'the connection is shutting down; the tunnel was not set up', { stage: 'state', hop: parent.hop });
        for (const w of pending.waiting.splice(0)) w.fail(err);
        this.#deliver({ type: 'error', ref, error: err });
      }
      if (parent.layer.protocol !== 'http2') this.#nodeClosed(parent, null, []);
      return;
    }
    if (pending.timer) clearTimeout(pending.timer);
    pending.timer = undefined;
    const scope = parent.layer.protocol === 'http2' ? 'stream' : 'conn';
    if (scope === 'conn') parent.takenOverBy = ref;
    const proxy: IntermediaryInfo = {
      type: 'connect',
      host: parent.endpoint.host,
      port: parent.endpoint.port,
      transport: parent.endpoint.transport,
      protocol: parent.layer.protocol,
    };
    let node: LayerNode | undefined;
    try {
      const est = await establish(
        {
          signal: session.signal,
          hopIndex: parent.hop.index + 1,
          intermediaries: [...parent.intermediaries, proxy],
          onSocksUp: () => this.#deliver({ type: 'up', ref, protocol: 'socks' }),
        },
        pending.dest,
        duplex,
      );
      node = this.#makeNode(ref.key, ref, est, scope, scope === 'conn' ? parent : undefined, pending.flow, parent.intermediaries);
      await node.layer.ready;
      if (session.signal.aborted) throw new BurrowError('ERR_CLOSED', 'the connection was closed', { stage: 'state', hop: est.hop });
      if (this.#pendingTunnels.get(ref.key) !== pending) {
        throw new BurrowError('ERR_STREAM_CANCELED', `${ref} was cancelled while its tunnel was set up`, { stage: 'state', hop: est.hop });
      }
    } catch (e) {
      const stillPending = this.#pendingTunnels.get(ref.key) === pending;
      this.#pendingTunnels.delete(ref.key);
      const err = e instanceof BurrowError ? e : new BurrowError('ERR_TUNNEL_CLOSED', `tunnel setup failed: ${(e as Error).message}`, { stage: 'tcp', cause: e });
      node?.layer.destroy(err);
      duplex.destroy();
      for (const w of pending.waiting.splice(0)) w.fail(err);
      if (stillPending) this.#deliver({ type: 'error', ref, error: err });
      if (session.signal.aborted) return;
      // A conn-wide tunnel that failed leaves its parent without a socket: the connection
      // (at connection level) or the stream-wide tunnel carrying it is gone too.
      if (scope === 'conn') {
        if (this.#rootOf(parent).key === '') this.#connectionLost(err, [ref]);
        else this.#nodeClosed(parent, err, []);
      }
      return;
    }
    this.#pendingTunnels.delete(ref.key);
    this.#nodes.set(node.key, node);
    if (scope === 'conn' && this.#connNode === parent) this.#connNode = node;
    this.#deliver({ type: 'up', ref, protocol: node.layer.protocol });
    for (const w of pending.waiting.splice(0)) w.run();
  }

  /** The first node of a conn-wide chain (the one whose transport the others took over). */
  #rootOf(node: LayerNode): LayerNode {
    let n = node;
    while (n.carrier !== undefined) n = n.carrier;
    return n;
  }

  /** A node's layer finished. */
  #nodeClosed(node: LayerNode, error: BurrowError | null, killed: readonly StreamRef[]): void {
    if (this.#nodes.get(node.key) !== node) return;
    const root = this.#rootOf(node);
    if (root.key === '') {
      if (this.#userClosing) {
        this.#removeSubtree(node, null);
        if (node === this.#connNode) this.#terminate(null);
        return;
      }
      this.#connectionLost(error, killed);
      return;
    }
    // A stream-wide tunnel (or a conn-wide chain inside one) closed: only its subtree goes.
    const err =
      error ?? new BurrowError('ERR_TUNNEL_CLOSED', 'the tunnel closed', { stage: 'tcp', hop: node.hop });
    for (let n: LayerNode | undefined = node; n !== undefined; n = n.carrier) {
      this.#removeSubtree(n, err);
      if (n.tunnelRef !== undefined) {
        const closed = new BurrowError('ERR_TUNNEL_CLOSED', `${n.tunnelRef} closed`, { stage: err.stage, hop: n.hop, cause: error ?? undefined });
        this.#rememberClosedTunnel(n.key, closed);
        if (n.layer.protocol !== 'raw') this.#deliver({ type: 'error', ref: n.tunnelRef, error: closed });
      }
    }
  }

  /** Removes `node` and every node nested in its streams, destroying their layers. */
  #removeSubtree(node: LayerNode, reason: BurrowError | null): void {
    const prefix = node.key === '' ? '' : `${node.key}/`;
    for (const [key, n] of [...this.#nodes]) {
      if (key === node.key || key.startsWith(prefix)) {
        this.#nodes.delete(key);
        if (n !== node) n.layer.destroy(reason ?? new BurrowError('ERR_TUNNEL_CLOSED', 'the tunnel carrying this layer closed', { stage: 'tcp', hop: n.hop }));
      }
    }
    for (const [key, p] of [...this.#pendingTunnels]) {
      if (key.startsWith(prefix)) {
        if (p.timer) clearTimeout(p.timer);
        this.#pendingTunnels.delete(key);
        const err = reason ?? new BurrowError('ERR_TUNNEL_CLOSED', 'the layer carrying this CONNECT closed', { stage: 'tcp', hop: node.hop });
        for (const w of p.waiting) w.fail(err);
      }
    }
  }

  /** The connection's socket is gone: everything on it goes, then reconnection per the options. */
  #connectionLost(error: BurrowError | null, killedByLayer: readonly StreamRef[]): void {
    const protocol = this.#nodes.get('')?.layer.protocol ?? this.#connNode?.layer.protocol ?? 'http';
    const reason = error ?? new BurrowError('ERR_CONNECTION_CLOSED', 'the server closed the connection', { stage: 'tcp', hop: this.#hop });
    const killed = [...killedByLayer];
    for (const n of this.#nodes.values()) killed.push(...n.layer.activeStreams());
    // Aborted with a reason: no DOMException (and its stack) is built.
    this.#session?.abort(reason);
    this.#session = undefined;
    const closedTunnels: Array<[StreamRef, BurrowError]> = [];
    for (const [key, n] of [...this.#nodes]) {
      this.#nodes.delete(key);
      if (n.tunnelRef !== undefined) {
        const closed = new BurrowError('ERR_TUNNEL_CLOSED', `${n.tunnelRef} closed with the connection`, { stage: reason.stage, hop: n.hop, cause: reason });
        this.#rememberClosedTunnel(key, closed);
        closedTunnels.push([n.tunnelRef, closed]);
        killed.push(n.tunnelRef);
      }
      n.layer.destroy(reason);
    }
    for (const [ref, closed] of closedTunnels) this.#deliver({ type: 'error', ref, error: closed });
    for (const p of [...this.#pendingTunnels.values()]) {
      if (p.timer) clearTimeout(p.timer);
      for (const w of p.waiting) w.fail(reason);
    }
    this.#pendingTunnels.clear();
    this.#connNode = undefined;
    this.#socket = undefined;
    if (this.#state === 'closed') return;
    this.#lastError = reason;
    const willRetry = this.config.retry > 0 && !this.#userClosing && (this.#useful || this.#retriesLeft > 0);
    this.emit('down', { protocol, reason, killedStreams: killed, willRetry });
    // A `down` listener may have closed the connection.
    if ((this.#state as ConnectionState) === 'closed') return;
    if (!willRetry || this.#userClosing) {
      this.#terminate(this.#userClosing ? null : reason);
      return;
    }
    if (!this.#useful) {
      // A connection that never answered anything (a server that accepts and closes, a TLS
      // alert after the handshake) counts as a failed attempt: retries are paced and bounded.
      this.#attemptFailed(reason);
      return;
    }
    void this.#connect();
  }

  /** Ends the connection for good. */
  #terminate(error: BurrowError | null): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    const streamError = error ?? new BurrowError('ERR_CLOSED', 'the connection was closed', { stage: 'state', hop: this.#hop });
    this.#attempt?.abort(streamError);
    this.#attempt = undefined;
    this.#session?.abort(streamError);
    this.#session = undefined;
    for (const [key, n] of [...this.#nodes]) {
      this.#nodes.delete(key);
      n.layer.destroy(streamError);
    }
    for (const p of this.#pendingTunnels.values()) {
      if (p.timer) clearTimeout(p.timer);
      for (const w of p.waiting) w.fail(streamError);
    }
    this.#pendingTunnels.clear();
    this.#connNode = undefined;
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

  /** True when `msg` ends its stream (a 2xx to a CONNECT does not: the tunnel goes on). */
  #isFinal(msg: StreamMessage): boolean {
    if (msg.type === 'response' && msg.status >= 200 && msg.status < 300 && this.#pendingTunnels.has(msg.ref.key)) return false;
    return isFinal(msg);
  }

  #deliver(msg: StreamMessage): void {
    const key = msg.ref.key;
    if (msg.type === 'data' && !msg.fin) {
      // The hot path (body bytes): a data message that does not end its stream changes no
      // tunnel or stream state, so it goes straight to its receiver.
      const e = this.#entries.get(key);
      if (e !== undefined && !e.done) {
        if (e.replyTo) e.replyTo(msg);
        else e.mailbox?.push(msg, false);
      }
      if (this.listenerCount('message') > 0) this.emit('message', msg);
      return;
    }
    if (msg.type === 'response' && !this.#useful) {
      this.#useful = true;
      this.#retriesLeft = this.config.retry;
    }
    const pending = this.#pendingTunnels.get(key);
    if (pending !== undefined && msg.type === 'response') {
      if (pending.timer) clearTimeout(pending.timer);
      pending.timer = undefined;
    }
    const final = this.#isFinal(msg);
    if (final && pending !== undefined && !(msg.type === 'response' && msg.status >= 200 && msg.status < 300)) {
      // A refused (or failed) CONNECT: the ref is no tunnel.
      if (pending.timer) clearTimeout(pending.timer);
      pending.timer = undefined;
      this.#pendingTunnels.delete(key);
      const err = msg.type === 'error' ? msg.error : this.#notATunnel(msg.ref);
      for (const w of pending.waiting.splice(0)) w.fail(err);
      this.#rememberNotTunnel(key);
    }
    const e = this.#entries.get(key);
    if (e !== undefined) {
      if (e.done) return;
      if (msg.type === 'push') this.#register(msg.pushRef, e.replyTo);
      if (final) e.done = true;
      if (e.replyTo) e.replyTo(msg);
      else e.mailbox?.push(msg, final);
      if (e.done && (e.mailbox === undefined || e.mailbox.drained)) this.#entries.delete(key);
    } else if (msg.type === 'push') {
      this.#register(msg.pushRef, undefined);
    }
    if (this.listenerCount('message') > 0) this.emit('message', msg);
  }

  #rememberClosedTunnel(key: string, error: BurrowError): void {
    this.#closedTunnels.set(key, error);
    if (this.#closedTunnels.size > NOT_TUNNEL_MEMORY) {
      const oldest = this.#closedTunnels.keys().next().value;
      if (oldest !== undefined) this.#closedTunnels.delete(oldest);
    }
  }

  #rememberNotTunnel(key: string): void {
    this.#notTunnels.add(key);
    if (this.#notTunnels.size > NOT_TUNNEL_MEMORY) {
      const oldest = this.#notTunnels.values().next().value;
      if (oldest !== undefined) this.#notTunnels.delete(oldest);
    }
  }

  #notATunnel(ref: StreamRef): BurrowError {
    return new BurrowError('ERR_NOT_A_TUNNEL', `${ref} is not a tunnel (its CONNECT was not answered with a 2xx)`, { stage: 'state', hop: this.#hop });
  }

  #register(ref: StreamRef, replyTo: ((msg: StreamMessage) => void) | undefined): void {
    if (!replyTo && !this.config.mailbox) return;
    const mailbox = replyTo ? undefined : new Mailbox(ref, () => {
      const cur = this.#entries.get(ref.key);
      if (cur?.done && cur.mailbox?.drained) this.#entries.delete(ref.key);
    });
    this.#entries.set(ref.key, { ref, replyTo, mailbox, done: false });
  }

  // ---------------------------------------------------------------- routing

  /** The node that carries stream `ref`. */
  #nodeOfStream(ref: StreamRef): LayerNode | undefined {
    if (ref.equals(this.ref)) return this.#nodes.get('');
    // A raw tunnel's bytes travel on the tunnel ref itself.
    const own = this.#nodes.get(ref.key);
    if (own !== undefined && own.layer.protocol === 'raw') return own;
    const n = this.#nodes.get(ref.parentKey);
    return n;
  }

  /**
   * Runs `run` on the layer for a new stream in `tunnel` (or on the layer of an
   * existing stream when `opens` is false) now, or once the connection or the
   * tunnel is up; `fail` otherwise.
   */
  #dispatch(ref: StreamRef | undefined, tunnel: StreamRef | undefined, run: (layer: HttpLayer, node: LayerNode) => void, fail: (e: BurrowError) => void, opens = true): void {
    if (this.#state === 'closed' || (this.#state === 'closing' && opens)) {
      const err =
        this.#state === 'closing'
          ? new BurrowError('ERR_CLOSING', 'the connection is shutting down and accepts no new requests', { stage: 'state', hop: this.#hop })
          : new BurrowError('ERR_CLOSED', 'the connection is closed', { stage: 'state', hop: this.#hop, cause: this.#lastError });
      queueMicrotask(() => fail(err));
      return;
    }
    if (this.#state !== 'up' && this.#state !== 'closing') {
      this.#postpone(ref, tunnel, run, fail, opens);
      return;
    }
    if (!opens) {
      // Body data for a request still waiting for its tunnel (or the connection) waits behind it.
      const waitingIn = ref === undefined ? undefined : this.#pendingTunnels.get(ref.parentKey);
      if (waitingIn !== undefined) {
        waitingIn.waiting.push({ ref, run: () => this.#dispatch(ref, tunnel, run, fail, opens), fail });
        return;
      }
      if (ref !== undefined && this.#postponed.some((p) => p.ref?.equals(ref))) {
        this.#postpone(ref, tunnel, run, fail, opens);
        return;
      }
      const node = ref === undefined ? undefined : this.#nodeOfStream(ref);
      if (node !== undefined) run(node.layer, node);
      else {
        const err = new BurrowError('ERR_STREAM_NOT_FOUND', `${String(ref)} is not an open stream of this connection`, { stage: 'state', hop: this.#hop });
        queueMicrotask(() => fail(err));
      }
      return;
    }
    const key = tunnel?.key ?? '';
    const node = this.#nodes.get(key);
    if (node !== undefined) {
      if (node.takenOverBy !== undefined) {
        const err = new BurrowError('ERR_BAD_STATE', `this layer became the tunnel ${node.takenOverBy} (CONNECT): send requests with { tunnel: ${node.takenOverBy} }`, {
          stage: 'state',
          hop: node.hop,
        });
        queueMicrotask(() => fail(err));
        return;
      }
      if (node.layer.accepting) run(node.layer, node);
      else if (key === '') this.#postpone(ref, tunnel, run, fail, opens); // GOAWAY or connection: close: sent after the reconnection.
      else {
        const err = new BurrowError('ERR_CLOSING', `the layer in ${String(tunnel)} accepts no new requests`, { stage: 'state', hop: node.hop });
        queueMicrotask(() => fail(err));
      }
      return;
    }
    const pending = this.#pendingTunnels.get(key);
    if (pending !== undefined) {
      pending.waiting.push({ ref, run: () => this.#dispatch(ref, tunnel, run, fail, opens), fail });
      return;
    }
    const closed = this.#closedTunnels.get(key);
    if (closed !== undefined) {
      queueMicrotask(() => fail(closed));
      return;
    }
    const known = this.#notTunnels.has(key) || this.#entries.has(key) || (tunnel !== undefined && this.#nodeOfStream(tunnel)?.layer.streamState(tunnel) !== undefined);
    const err = known
      ? this.#notATunnel(tunnel as StreamRef)
      : new BurrowError('ERR_STREAM_NOT_FOUND', `${String(tunnel)} is not a tunnel of this connection`, { stage: 'state', hop: this.#hop });
    queueMicrotask(() => fail(err));
  }

  /** Runs the dispatch again once the connection is up (after a reconnection, or a GOAWAY's). */
  #postpone(ref: StreamRef | undefined, tunnel: StreamRef | undefined, run: (layer: HttpLayer, node: LayerNode) => void, fail: (e: BurrowError) => void, opens: boolean): void {
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

  #checkRequestOptions(opts: RequestOptions | undefined): void {
    checkFlow('flow', opts?.flow);
    if (opts?.replyTo !== undefined && typeof opts.replyTo !== 'function') {
      throw new BurrowError('ERR_INVALID_OPTION', 'invalid option replyTo: must be a function', { stage: 'options', details: { option: 'replyTo' } });
    }
  }

  #start(method: string, path: string, headersInit: HeadersInit | undefined, body: Buffer | null, opts: RequestOptions | undefined): StreamRef {
    checkRequestLine(method, path);
    if (method === 'CONNECT') {
      throw new BurrowError('ERR_INVALID_REQUEST', 'use connect() to open a tunnel', { stage: 'http' });
    }
    const headers = normalizeHeaders(headersInit);
    this.#checkRequestOptions(opts);
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
   * Opens a tunnel: sends CONNECT to the HTTP layer addressed by `opts.tunnel`
   * (or the connection's own layer). On success the ref gets a `response` (2xx,
   * fin) then one `up` message per layer that comes up inside (`socks`, then
   * the protocol reached). Requests then go through it with `{ tunnel: ref }`;
   * a raw tunnel carries bytes with `data(ref, …)`. A non-2xx is an ordinary
   * response and the ref is no tunnel. Over HTTP/1.1 the whole connection
   * becomes the tunnel; over HTTP/2 only this stream does.
   */
  connect(destination: ConnectDestination, headers?: HeadersInit, opts?: RequestOptions): StreamRef {
    const dest = resolveDestination(destination);
    const hs: Header[] = normalizeHeaders(headers).filter(([n]) => n !== 'content-length' && n !== 'transfer-encoding');
    const target = `${authorityHost(dest.host)}:${dest.port}`;
    if (!hasHeader(hs, 'host')) hs.unshift(['host', target]);
    if (dest.username !== undefined && dest.password !== undefined && !hasHeader(hs, 'proxy-authorization')) {
      hs.push(['proxy-authorization', `Basic ${Buffer.from(`${dest.username}:${dest.password}`).toString('base64')}`]);
    }
    this.#checkRequestOptions(opts);
    const ref = this.#newRef(opts?.tunnel);
    this.#register(ref, opts?.replyTo);
    const pending: PendingTunnel = { ref, dest, flow: opts?.flow ?? Infinity, timer: undefined, waiting: [] };
    this.#pendingTunnels.set(ref.key, pending);
    this.#dispatch(ref, opts?.tunnel, (layer, node) => {
      if (dest.connectTimeout !== Infinity) {
        pending.timer = setTimeout(() => this.#connectTimedOut(pending, layer, node), dest.connectTimeout);
      }
      layer.request({ ref, method: 'CONNECT', path: target, headers: hs, body: null, flow: Infinity });
    }, (e) => {
      this.#pendingTunnels.delete(ref.key);
      for (const w of pending.waiting) w.fail(e);
      this.#failStream(ref)(e);
    });
    return ref;
  }

  #connectTimedOut(pending: PendingTunnel, layer: HttpLayer, node: LayerNode): void {
    pending.timer = undefined;
    if (this.#pendingTunnels.get(pending.ref.key) !== pending) return;
    this.#pendingTunnels.delete(pending.ref.key);
    const err = new BurrowError('ERR_CONNECT_RESPONSE_TIMEOUT', `no response to CONNECT ${pending.dest.host}:${pending.dest.port} within ${pending.dest.connectTimeout} ms`, {
      stage: 'timeout',
      hop: { ...node.hop, kind: 'connect' },
      details: { timeoutMs: pending.dest.connectTimeout, during: 'connect-response' },
    });
    for (const w of pending.waiting) w.fail(err);
    this.#deliver({ type: 'error', ref: pending.ref, error: err });
    // HTTP/2 resets the one stream; an HTTP/1.1 connection waiting for a CONNECT answer is stuck, so it closes.
    if (layer.protocol === 'http2') layer.cancel(pending.ref);
    else layer.destroy(err);
  }

  /**
   * Sends request body bytes on a stream opened with {@link headers} (or raw
   * bytes on an upgraded stream or a raw tunnel); `fin` ends the body. Resolves
   * when the transport can take more (backpressure); never rejects — failures
   * arrive as an error message on the stream.
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
   * messages (its response is still read off the connection). Cancelling a
   * tunnel closes it (for a connection-wide tunnel: the connection). The
   * stream's last message is an error with code `ERR_STREAM_CANCELED`.
   */
  cancel(ref: StreamRef): void {
    let known = false;
    // Nothing for this stream may run later: not its request, not its body data.
    const drop = (list: Postponed[]): void => {
      for (let i = list.length - 1; i >= 0; i--) {
        if (list[i]?.ref?.equals(ref)) {
          list.splice(i, 1);
          known = true;
        }
      }
    };
    drop(this.#postponed);
    for (const p of this.#pendingTunnels.values()) drop(p.waiting);
    const err = new BurrowError('ERR_STREAM_CANCELED', `${ref} was cancelled`, { stage: 'state', hop: this.#hop });
    const tunnelNode = this.#nodes.get(ref.key);
    if (tunnelNode !== undefined && !ref.equals(this.ref)) {
      this.#deliver({ type: 'error', ref, error: err });
      tunnelNode.layer.destroy(err);
      return;
    }
    const pending = this.#pendingTunnels.get(ref.key);
    if (pending !== undefined) {
      if (pending.timer) clearTimeout(pending.timer);
      this.#pendingTunnels.delete(ref.key);
      for (const w of pending.waiting.splice(0)) w.fail(err);
    }
    if (this.#nodeOfStream(ref)?.layer.cancel(ref)) known = true;
    if (known || this.#entries.has(ref.key)) {
      this.#deliver({ type: 'error', ref, error: err });
      // Messages queued for a cancelled stream are of no use: it keeps only the cancel error.
      const e = this.#entries.get(ref.key);
      if (e?.mailbox !== undefined) {
        e.done = true;
        e.mailbox.replaceWith({ type: 'error', ref, error: err });
      }
    }
  }

  /** Gives a stream `increment` more data messages of flow budget (Gun's message-count flow control). */
  updateFlow(ref: StreamRef, increment: number): void {
    if (!Number.isInteger(increment) || increment < 1) {
      throw new BurrowError('ERR_INVALID_OPTION', 'invalid option increment: must be an integer >= 1', { stage: 'options', details: { option: 'increment' } });
    }
    this.#nodeOfStream(ref)?.layer.updateFlow(ref, increment);
  }

  /**
   * Sends an HTTP/2 PING to the connection's layer, or to the layer inside
   * `opts.tunnel`, and resolves with the round-trip time in ms. Rejects with
   * `ERR_PING_UNSUPPORTED` on HTTP/1.1 (the connection stays up).
   */
  ping(opts?: { tunnel?: StreamRef }): Promise<number> {
    if (this.#state !== 'up') {
      return Promise.reject(new BurrowError('ERR_NOT_CONNECTED', 'the connection is not up', { stage: 'state', hop: this.#hop }));
    }
    const node = this.#nodes.get(opts?.tunnel?.key ?? '');
    if (node === undefined) {
      return Promise.reject(new BurrowError('ERR_NOT_A_TUNNEL', `${String(opts?.tunnel)} is not a tunnel`, { stage: 'state', hop: this.#hop }));
    }
    if (node.takenOverBy !== undefined) {
      return Promise.reject(new BurrowError('ERR_BAD_STATE', `this layer became the tunnel ${node.takenOverBy}: ping with { tunnel }`, { stage: 'state', hop: node.hop }));
    }
    return node.layer.ping();
  }

  /**
   * The HTTP/2 server's SETTINGS for the connection's layer, or for the layer
   * inside `opts.tunnel`, once they have arrived (the `notify` event reports
   * them too); undefined before that, on HTTP/1.1 and raw layers, and when the
   * layer is unknown.
   */
  remoteSettings(opts?: { tunnel?: StreamRef }): Http2SettingsReport | undefined {
    if (this.#state !== 'up') return undefined;
    return this.#nodes.get(opts?.tunnel?.key ?? '')?.layer.remoteSettings();
  }

  // ---------------------------------------------------------------- awaiting

  /**
   * Resolves with the connection's protocol once it is up and takes requests
   * (after any SOCKS layers given in `protocols`); rejects after `timeout` ms or
   * if the connection gives up.
   */
  awaitUp(timeout: number = DEFAULT_AWAIT_TIMEOUT): Promise<'http' | 'http2' | 'raw'> {
    const root = this.#nodes.get('');
    if (this.#state === 'up' && root) return Promise.resolve(root.layer.protocol);
    if (this.#state === 'closed') {
      const closed = new BurrowError('ERR_CLOSED', 'the connection is closed', { stage: 'state', hop: this.#hop, cause: this.#lastError });
      return Promise.reject(this.#userClosing ? closed : (this.#lastError ?? closed));
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
      if (mb.drained) return;
    }
  }

  // ---------------------------------------------------------------- information

  /**
   * True while `ref` is a stream or tunnel of this connection that is open or
   * waiting to be sent: `streamInfo(ref) !== undefined`, without building the info.
   */
  hasStream(ref: StreamRef): boolean {
    const tunnel = this.#nodes.get(ref.key);
    if (tunnel !== undefined && tunnel.tunnelRef !== undefined) return true;
    const node = this.#nodeOfStream(ref);
    if (node !== undefined && node.layer.streamState(ref) !== undefined) return true;
    return this.streamInfo(ref) !== undefined;
  }

  /** A stream's state and the proxies it goes through, or undefined when the connection does not know it. */
  streamInfo(ref: StreamRef): StreamInfo | undefined {
    const tunnel = this.#nodes.get(ref.key);
    if (tunnel !== undefined && tunnel.tunnelRef !== undefined) {
      const r = tunnel.reached;
      return {
        ref,
        state: 'running',
        intermediaries: tunnel.viaParent.map((i) => ({ ...i })),
        tunnel: { transport: r.transport, protocol: r.protocol, scheme: schemeOf(r), host: r.host, port: r.port },
      };
    }
    const node = this.#nodeOfStream(ref);
    const state = node?.layer.streamState(ref);
    if (node !== undefined && state !== undefined) return { ref, state, intermediaries: node.intermediaries.map((i) => ({ ...i })) };
    const waiting = (p: Postponed): boolean => p.ref?.equals(ref) === true;
    if (this.#postponed.some(waiting) || [...this.#pendingTunnels.values()].some((p) => p.waiting.some(waiting))) {
      return { ref, state: 'pending', intermediaries: [] };
    }
    if (this.#pendingTunnels.has(ref.key)) return { ref, state: 'running', intermediaries: [] };
    return undefined;
  }

  /**
   * The connection's state and the innermost connection-wide endpoint it
   * reaches, with the connection-wide proxies traversed (Gun semantics: an
   * HTTP/2 CONNECT tunnel does not change it).
   */
  info(): ConnectionInfo {
    const s = this.#socket;
    const node = this.#connNode;
    const tlsSocket = node?.tls;
    const cipher = tlsSocket?.getCipher();
    const ep = node?.endpoint;
    return {
      state: this.#state,
      protocol: this.#state === 'up' || this.#state === 'closing' ? node?.layer.protocol : undefined,
      transport: ep?.transport ?? this.config.transport,
      origin: ep
        ? { scheme: schemeOf(ep), host: ep.host, port: ep.port }
        : { scheme: this.config.transport === 'tls' ? 'https' : 'http', host: this.config.host, port: this.config.port },
      intermediaries: node ? node.intermediaries.map((i) => ({ ...i })) : [],
      localAddress: s?.localAddress,
      localPort: s?.localPort,
      remoteAddress: s?.remoteAddress,
      remotePort: s?.remotePort,
      tls: tlsSocket ? { version: tlsSocket.getProtocol(), cipher: cipher?.name ?? '', alpn: tlsSocket.alpnProtocol, resumed: tlsSocket.isSessionReused() } : undefined,
      retriesLeft: this.#retriesLeft,
    };
  }

  // ---------------------------------------------------------------- closing

  /**
   * Graceful close: HTTP/2 sends GOAWAY and lets open streams finish; HTTP/1.1
   * finishes the in-flight responses; tunnels are shut down the same way. New
   * requests fail with `ERR_CLOSING`. No reconnection follows. Resolves once
   * everything is closed.
   */
  shutdown(): Promise<void> {
    if (this.#state === 'closed') return this.#closed;
    this.#userClosing = true;
    if (this.#state === 'up' && this.#connNode !== undefined) {
      this.#state = 'closing';
      const err = new BurrowError('ERR_CLOSING', 'the connection is shutting down and accepts no new requests', { stage: 'state', hop: this.#hop });
      for (const p of this.#postponed.splice(0)) p.fail(err);
      // Innermost layers first.
      const nodes = [...this.#nodes.values()].filter((n) => n.takenOverBy === undefined).sort((a, b) => b.key.length - a.key.length);
      for (const n of nodes) n.layer.shutdown();
      return this.#closed;
    }
    return this.close();
  }

  /** Immediate close: open streams get `ERR_CLOSED`; no reconnection. Resolves once everything is closed. */
  close(): Promise<void> {
    if (this.#state === 'closed') return this.#closed;
    this.#userClosing = true;
    this.#terminate(null);
    return this.#closed;
  }
}
