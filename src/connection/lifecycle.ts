/**
 * A connection's life: connecting (DNS → TCP → TLS → SOCKS → layer ready),
 * up, lost (streams killed, `down`), reconnected or given up per the retry
 * options, shut down gracefully or closed. This is where a reconnection is
 * decided, and the only writer of the connection's status.
 */
import { setMaxListeners } from 'node:events';
import type { Socket } from 'node:net';
import { BurrowError } from '../errors/errors.js';
import type { DownEvent, LayerProtocolName, UpEvent } from '../shared/messages.js';
import type { ResolvedHop } from '../shared/options/hop.js';
import type { StreamRef } from '../shared/stream-ref.js';
import { layerUp, startLayer } from '../observe/layer-events.js';
import { epochNow, type LayerRecord } from '../observe/layer-record.js';
import { dialTcp, dialUnix } from '../transport/dial.js';
import { establish } from '../tunnel/establish.js';
import type { LayerNode } from './layer-tree.js';
import type { CoreParts } from './parts.js';
import { nextRetry } from './retry.js';

/** The connection events the lifecycle emits. */
export interface LifecycleEvents {
  up(e: UpEvent): void;
  down(e: DownEvent): void;
  /** A connection attempt failed. */
  error(e: BurrowError): void;
  close(e: BurrowError | null): void;
}

/** The parts of the connection the lifecycle drives, and where it reports. */
export interface LifecycleParts extends CoreParts {
  readonly events: LifecycleEvents;
  /** The streams opened from callbacks whose opening has not run yet get `error` now; their openings will not run. */
  readonly dropQueued: (error: BurrowError) => void;
}

interface UpWaiter {
  resolve(p: LayerProtocolName): void;
  reject(e: BurrowError): void;
  timer: NodeJS.Timeout | undefined;
}

/** Connects, reconnects, shuts down and closes one connection. */
export class Lifecycle {
  readonly #p: LifecycleParts;
  readonly #firstHop: ResolvedHop;
  #retriesLeft: number;
  #attempt: AbortController | undefined;
  /** The records of the attempt in progress (TCP, TLS, SOCKS5, the protocol layer), as they start. */
  #attemptRecords: LayerRecord[] | undefined;

  /** The layers of the connection attempt in progress, outermost first (undefined between attempts). */
  get attemptRecords(): readonly LayerRecord[] | undefined {
    return this.#attemptRecords;
  }
  #retryTimer: NodeJS.Timeout | undefined;
  readonly #upWaiters: UpWaiter[] = [];
  readonly #closed: Promise<void>;
  #resolveClosed!: () => void;

  constructor(parts: LifecycleParts) {
    this.#p = parts;
    const o = parts.config;
    this.#firstHop = { host: o.host, port: o.port, transport: o.transport, tls: o.tls, protocols: o.protocols, tlsHandshakeTimeout: o.tlsHandshakeTimeout };
    this.#retriesLeft = o.retry;
    this.#closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
  }

  /** Reconnection attempts left. */
  get retriesLeft(): number {
    return this.#retriesLeft;
  }

  /** Resolves once the connection is closed for good. */
  get closed(): Promise<void> {
    return this.#closed;
  }

  /** One connection attempt; on success the connection is up and postponed calls run. */
  async connect(): Promise<void> {
    const { status, config, tree, stack, streams, observer } = this.#p;
    status.state = 'connecting';
    const attempt = new AbortController();
    this.#attempt = attempt;
    const startedAt = epochNow();
    let socket: Socket | undefined;
    let node: LayerNode | undefined;
    // Every layer of the attempt as it starts: terminate() ends them at once if the attempt is abandoned.
    const records: LayerRecord[] = [];
    this.#attemptRecords = records;
    try {
      // The TCP layer: its DNS lookup, then the connection.
      const tcp = startLayer(observer, 'tcp', status.hop, undefined, undefined);
      records.push(tcp);
      socket = config.path === undefined
        ? await dialTcp({ hop: status.hop, signal: attempt.signal }, { ...config, observer })
        : await dialUnix({ hop: status.hop, signal: attempt.signal }, config.path, config.connectTimeout);
      tcp.countOn(socket);
      tcp.tcp = config.path === undefined
        ? { localAddress: socket.localAddress, localPort: socket.localPort, remoteAddress: socket.remoteAddress, remotePort: socket.remotePort }
        : { localAddress: undefined, localPort: undefined, remoteAddress: config.path, remotePort: undefined };
      layerUp(observer, tcp);
      const est = await establish({ signal: attempt.signal, hopIndex: 0, intermediaries: [], observer, parent: tcp, tunnel: undefined, records }, this.#firstHop, socket);
      if (est.protocol === 'raw') streams.register(this.#p.connRef, undefined);
      node = stack.build('', undefined, est, 'conn', undefined, undefined, Infinity, records.slice());
      records.push(node.records[node.records.length - 1] as LayerRecord);
      await node.layer.ready;
      if (attempt.signal.aborted) throw new BurrowError('ERR_CLOSED', 'the connection was closed', { stage: 'state', hop: status.hop });
    } catch (e) {
      if (this.#attemptRecords === records) this.#attemptRecords = undefined;
      const err = e instanceof BurrowError ? e : new BurrowError('ERR_CONNECT', `connection failed: ${(e as Error).message}`, { stage: 'tcp', hop: status.hop, cause: e });
      // establish() published the failure of its own layers; the others fail or go down with them
      // (nothing more when the connection was closed meanwhile: terminate() ended them).
      stack.setupFailed(records, err);
      socket?.destroy();
      node?.layer.destroy(new BurrowError('ERR_CLOSED', 'the connection attempt failed', { stage: 'state', hop: status.hop }));
      if (attempt.signal.aborted) return;
      this.#attempt = undefined;
      this.#attemptFailed(err);
      return;
    }
    this.#attemptRecords = undefined;
    this.#attempt = undefined;
    status.session = new AbortController();
    // Every tunnel being set up on this connection listens to it: any number of them is expected.
    setMaxListeners(0, status.session.signal);
    tree.add(node);
    tree.connNode = node;
    tree.socket = socket;
    stack.ready(node);
    status.state = 'up';
    status.useful = false;
    const protocol = node.layer.protocol;
    if (observer.wants('burrow:connection:up')) {
      observer.publish('burrow:connection:up', { connection: observer.connection, protocol, layers: node.records.map((r) => r.snapshot()), durationMs: epochNow() - startedAt });
    }
    this.#p.events.up({ protocol, intermediaries: [...node.intermediaries] });
    // An `up` listener that called close() or shutdown(): nothing waiting is sent; the close fails it.
    if (status.userClosing) return;
    for (const w of this.#upWaiters.splice(0)) {
      if (w.timer) clearTimeout(w.timer);
      w.resolve(protocol);
    }
    this.#p.router.runPostponed();
  }

  /** The current connection answered a response: it was useful, the retry budget starts again. */
  responded(): void {
    this.#p.status.useful = true;
    this.#retriesLeft = this.#p.config.retry;
  }

  #attemptFailed(err: BurrowError): void {
    const { status, config } = this.#p;
    status.lastError = err;
    this.#p.events.error(err);
    if (status.userClosing || this.#retriesLeft <= 0) {
      this.terminate(status.userClosing ? null : err);
      return;
    }
    let plan;
    try {
      plan = nextRetry(config.retryFn, this.#retriesLeft, config);
    } catch (e) {
      this.terminate(e as BurrowError);
      return;
    }
    this.#retriesLeft = plan.retries;
    status.state = 'waiting-retry';
    const observer = this.#p.observer;
    if (observer.wants('burrow:connection:retry')) {
      observer.publish('burrow:connection:retry', { connection: observer.connection, error: err, retriesLeft: plan.retries, delayMs: plan.delay });
    }
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      void this.connect();
    }, plan.delay);
  }

  /** The connection's socket is gone: everything on it goes, then reconnection per the options. */
  lost(error: BurrowError | null, killedByLayer: readonly StreamRef[]): void {
    const { status, tree, tunnels, stack, config } = this.#p;
    const protocol = tree.root?.layer.protocol ?? tree.connNode?.layer.protocol ?? 'http';
    const reason = error ?? new BurrowError('ERR_CONNECTION_CLOSED', 'the server closed the connection', { stage: 'tcp', hop: status.hop });
    const killed = [...killedByLayer];
    for (const n of tree.nodes()) killed.push(...n.layer.activeStreams());
    // Aborted with a reason: no DOMException (and its stack) is built.
    status.session?.abort(reason);
    status.session = undefined;
    const closedTunnels: Array<[StreamRef, BurrowError]> = [];
    const broken = tree.connNode ?? tree.root;
    const nodes = tree.clear();
    // The error is reported where it happened; the CONNECTs sent and the tunnels being set up end
    // first (innermost), then the layers that were up.
    stack.nodesDown(nodes, error, broken, () => tunnels.endRecordsUnder('', reason));
    for (const n of nodes) {
      // A WebSocket that delivered its last message (its close frame) has nothing to be told.
      if (n.tunnelRef !== undefined && (n.layer.protocol !== 'websocket' || n.layer.activeStreams().length > 0)) {
        const closed = new BurrowError('ERR_TUNNEL_CLOSED', `${n.tunnelRef} closed with the connection`, { stage: reason.stage, hop: n.hop, cause: reason });
        tunnels.closed(n.key, closed);
        closedTunnels.push([n.tunnelRef, closed]);
        killed.push(n.tunnelRef);
      }
      n.layer.destroy(reason);
    }
    for (const [ref, closed] of closedTunnels) stack.deliver({ type: 'error', ref, error: closed });
    // CONNECTs not yet sent wait for the next connection like any postponed request.
    tunnels.failUnder('', reason, true);
    if (status.state === 'closed') return;
    status.lastError = reason;
    const willRetry = config.retry > 0 && !status.userClosing && (status.useful || this.#retriesLeft > 0);
    const observer = this.#p.observer;
    if (observer.wants('burrow:connection:down')) {
      observer.publish('burrow:connection:down', { connection: observer.connection, reason, willRetry, killedStreams: killed.map((r) => r.path) });
    }
    this.#p.events.down({ protocol, reason, killedStreams: killed, willRetry });
    if ((status.state as string) === 'closed') return;
    if (!willRetry || status.userClosing) {
      this.terminate(status.userClosing ? null : reason);
      return;
    }
    if (!status.useful) {
      // A connection that never answered anything (a server that accepts and closes, a TLS
      // alert after the handshake) counts as a failed attempt: retries are paced and bounded.
      this.#attemptFailed(reason);
      return;
    }
    void this.connect();
  }

  /** Ends the connection for good: every stream still open gets a final error, `close` is emitted. */
  terminate(error: BurrowError | null): void {
    const { status, tree, tunnels, router, streams, stack } = this.#p;
    if (status.state === 'closed') return;
    status.state = 'closed';
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    const streamError = error ?? new BurrowError('ERR_CLOSED', 'the connection was closed', { stage: 'state', hop: status.hop });
    // Every layer's last event comes before `connection:closed`, innermost first: those of an attempt
    // in progress, of the CONNECTs sent and of the tunnels being set up, then those that were up.
    const attemptRecords = this.#attemptRecords;
    this.#attemptRecords = undefined;
    if (attemptRecords !== undefined) stack.setupFailed(attemptRecords, streamError);
    this.#attempt?.abort(streamError);
    this.#attempt = undefined;
    status.session?.abort(streamError);
    status.session = undefined;
    const nodes = tree.clear();
    stack.nodesDown(nodes, null, undefined, () => tunnels.endRecordsUnder('', streamError));
    for (const n of nodes) n.layer.destroy(streamError);
    tunnels.failUnder('', streamError);
    router.failPostponed(streamError);
    this.#rejectUpWaiters(streamError);
    // Streams that still wait for messages get a final error so no await hangs; calls queued by
    // callbacks find the connection closed and do nothing more.
    streams.unsilenceAll();
    this.#p.dropQueued(streamError);
    for (const ref of streams.unfinished()) stack.deliver({ type: 'error', ref, error: streamError });
    // A callback among those may have cancelled a stream after its turn: it keeps the error it got.
    streams.unsilenceAll();
    const observer = this.#p.observer;
    if (observer.wants('burrow:connection:closed')) observer.publish('burrow:connection:closed', { connection: observer.connection, error });
    this.#p.events.close(error);
    this.#resolveClosed();
  }

  /**
   * Graceful close: innermost layers first, each finishing what is in flight.
   * From inside a callback, no reconnection is decided from then on and the
   * layers are told once the callback's event is handled.
   */
  shutdown(): Promise<void> {
    const { status, guard } = this.#p;
    if (status.state === 'closed') return this.#closed;
    status.userClosing = true;
    guard.run(() => {
      if (status.state === 'closed' || status.state === 'closing') return;
      if (status.state === 'up' && this.#p.tree.connNode !== undefined) {
        status.state = 'closing';
        const err = new BurrowError('ERR_CLOSING', 'the connection is shutting down and accepts no new requests', { stage: 'state', hop: status.hop });
        this.#p.router.failPostponed(err);
        this.#rejectUpWaiters(err);
        for (const n of this.#p.tree.innermostFirst()) n.layer.shutdown();
        return;
      }
      this.terminate(null);
    });
    return this.#closed;
  }

  /**
   * The connection's transport was handed to the caller (`detach`): the
   * connection ends (no reconnection, `close` with null) without closing it.
   */
  handedOver(): void {
    const { status, guard } = this.#p;
    status.userClosing = true;
    guard.run(() => this.terminate(null));
  }

  /** Immediate close (no reconnection): open streams get `ERR_CLOSED`. */
  close(): Promise<void> {
    const { status, guard } = this.#p;
    if (status.state === 'closed') return this.#closed;
    status.userClosing = true;
    guard.run(() => this.terminate(null));
    return this.#closed;
  }

  #rejectUpWaiters(error: BurrowError): void {
    for (const w of this.#upWaiters.splice(0)) {
      if (w.timer) clearTimeout(w.timer);
      w.reject(error);
    }
  }

  /** Resolves with the protocol once the connection is up; rejects after `timeout` ms or when it gives up. */
  awaitUp(timeout: number): Promise<LayerProtocolName> {
    const { status, tree } = this.#p;
    const root = tree.root;
    if (status.state === 'up' && root) return Promise.resolve(root.layer.protocol);
    if (status.state === 'closed') {
      const closed = new BurrowError('ERR_CLOSED', 'the connection is closed', { stage: 'state', hop: status.hop, cause: status.lastError });
      return Promise.reject(status.userClosing ? closed : (status.lastError ?? closed));
    }
    return new Promise((resolve, reject) => {
      const w: UpWaiter = { resolve, reject, timer: undefined };
      if (timeout !== Infinity) {
        w.timer = setTimeout(() => {
          const i = this.#upWaiters.indexOf(w);
          if (i >= 0) this.#upWaiters.splice(i, 1);
          reject(new BurrowError('ERR_AWAIT_TIMEOUT', `the connection was not up within ${timeout} ms`, {
            stage: 'timeout',
            hop: status.hop,
            cause: status.lastError,
            details: { timeoutMs: timeout },
          }));
        }, timeout);
      }
      this.#upWaiters.push(w);
    });
  }
}
