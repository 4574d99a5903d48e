/**
 * Stream-ref routing: which layer a call goes to. A new stream goes to the
 * layer of the tunnel its options name (the connection's own layer without
 * one); body data goes to the layer carrying its stream. A call that cannot
 * run yet waits: for the connection to come up (postponed, Gun semantics), or
 * for its tunnel's CONNECT to be answered. One that can never run fails with
 * the precise reason: closed, shutting down, not a tunnel, unknown.
 */
import { BurrowError } from '../errors/errors.js';
import type { HttpLayer } from '../shared/layer.js';
import type { StreamRef } from '../shared/stream-ref.js';
import type { LayerNode, LayerTree } from './layer-tree.js';
import type { ConnectionStatus } from './status.js';
import type { StreamTable } from './streams.js';
import { dropFrom, type TunnelBook, type Waiting } from './tunnels.js';

/** What runs once the layer is known. */
export type OnLayer = (layer: HttpLayer, node: LayerNode) => void;

/** Routes calls to layers; holds the calls postponed until the connection is up. */
export class Router {
  readonly #status: ConnectionStatus;
  readonly #tree: LayerTree;
  readonly #tunnels: TunnelBook;
  readonly #streams: StreamTable;
  readonly #connRef: StreamRef;
  /** Calls waiting for the connection (or a reconnection) to be up, in call order. */
  readonly #postponed: Waiting[] = [];

  constructor(status: ConnectionStatus, tree: LayerTree, tunnels: TunnelBook, streams: StreamTable, connRef: StreamRef) {
    this.#status = status;
    this.#tree = tree;
    this.#tunnels = tunnels;
    this.#streams = streams;
    this.#connRef = connRef;
  }

  /** Runs `run` on the layer that takes a new stream `ref` in `tunnel` (the connection's own layer when undefined). */
  open(ref: StreamRef | undefined, tunnel: StreamRef | undefined, run: OnLayer, fail: (e: BurrowError) => void): void {
    const status = this.#status;
    if (status.state === 'closed' || status.state === 'closing') {
      failSoon(fail, this.#stateError());
      return;
    }
    if (status.state !== 'up') {
      this.#postpone(ref, () => this.open(ref, tunnel, run, fail), fail);
      return;
    }
    const key = tunnel?.key ?? '';
    const node = this.#tree.get(key);
    if (node !== undefined) {
      if (node.takenOverBy !== undefined) {
        failSoon(fail, new BurrowError('ERR_BAD_STATE', `this layer became the tunnel ${node.takenOverBy} (CONNECT): send requests with { tunnel: ${node.takenOverBy} }`, {
          stage: 'state',
          hop: node.hop,
        }));
        return;
      }
      if (node.layer.accepting) run(node.layer, node);
      // GOAWAY or `connection: close` at the connection level: sent after the reconnection.
      else if (key === '') this.#postpone(ref, () => this.open(ref, tunnel, run, fail), fail);
      else failSoon(fail, new BurrowError('ERR_CLOSING', `the layer in ${String(tunnel)} accepts no new requests`, { stage: 'state', hop: node.hop }));
      return;
    }
    const pending = this.#tunnels.get(key);
    if (pending !== undefined) {
      pending.waiting.push({ ref, run: () => this.open(ref, tunnel, run, fail), fail });
      return;
    }
    const closed = this.#tunnels.closedError(key);
    if (closed !== undefined) {
      failSoon(fail, closed);
      return;
    }
    const known =
      this.#tunnels.isRefused(key) ||
      this.#streams.has(key) ||
      (tunnel !== undefined && this.#tree.nodeOfStream(tunnel, this.#connRef)?.layer.streamState(tunnel) !== undefined);
    failSoon(
      fail,
      known
        ? this.notATunnel(tunnel as StreamRef)
        : new BurrowError('ERR_STREAM_NOT_FOUND', `${String(tunnel)} is not a tunnel of this connection`, { stage: 'state', hop: this.#status.hop }),
    );
  }

  /**
   * Runs `run` on the layer that carries the existing stream `ref` (body data,
   * raw bytes). A call that waits and whose stream is cancelled meanwhile is
   * `drop`ped: neither run nor failed.
   */
  toStream(ref: StreamRef, run: OnLayer, fail: (e: BurrowError) => void, drop?: () => void): void {
    const status = this.#status;
    if (status.state === 'closed') {
      failSoon(fail, this.#stateError());
      return;
    }
    if (!status.running) {
      this.#postpone(ref, () => this.toStream(ref, run, fail, drop), fail, drop);
      return;
    }
    // Body data for a request still waiting for its tunnel (or for the connection) waits behind it.
    const waitingIn = this.#tunnels.get(ref.parentKey);
    if (waitingIn !== undefined) {
      waitingIn.waiting.push({ ref, run: () => this.toStream(ref, run, fail, drop), fail, drop });
      return;
    }
    if (this.isPostponed(ref)) {
      this.#postpone(ref, () => this.toStream(ref, run, fail, drop), fail, drop);
      return;
    }
    const node = this.#tree.nodeOfStream(ref, this.#connRef);
    if (node !== undefined) run(node.layer, node);
    else failSoon(fail, new BurrowError('ERR_STREAM_NOT_FOUND', `${String(ref)} is not an open stream of this connection`, { stage: 'state', hop: this.#status.hop }));
  }

  /** The error for a request sent in a ref whose CONNECT was not answered with a 2xx. */
  notATunnel(ref: StreamRef): BurrowError {
    return new BurrowError('ERR_NOT_A_TUNNEL', `${ref} is not a tunnel (its CONNECT was not answered with a 2xx)`, { stage: 'state', hop: this.#status.hop });
  }

  /** True when a call for `ref` waits for the connection. */
  isPostponed(ref: StreamRef): boolean {
    return this.#postponed.some((p) => p.ref?.equals(ref) === true);
  }

  /** Drops the postponed calls for `ref` (a cancelled stream); true when there was one. */
  dropPostponed(ref: StreamRef): boolean {
    return dropFrom(this.#postponed, ref);
  }

  /** The connection is up: runs the postponed calls, in order. */
  runPostponed(): void {
    for (const p of this.#postponed.splice(0)) p.run();
  }

  /** The postponed calls will never run. */
  failPostponed(error: BurrowError): void {
    for (const p of this.#postponed.splice(0)) p.fail(error);
  }

  #postpone(ref: StreamRef | undefined, run: () => void, fail: (e: BurrowError) => void, drop?: () => void): void {
    this.#postponed.push({ ref, run, fail, drop });
  }

  #stateError(): BurrowError {
    const status = this.#status;
    return status.state === 'closing'
      ? new BurrowError('ERR_CLOSING', 'the connection is shutting down and accepts no new requests', { stage: 'state', hop: status.hop })
      : new BurrowError('ERR_CLOSED', 'the connection is closed', { stage: 'state', hop: status.hop, cause: status.lastError });
  }
}

/** Fails a call on a later microtask: a call never sees its own failure before it has returned. */
function failSoon(fail: (e: BurrowError) => void, error: BurrowError): void {
  queueMicrotask(() => fail(error));
}
