/**
 * The layer stack of one connection: building a layer on an established
 * endpoint (the first hop, or a tunnel once its CONNECT succeeded), taking
 * each layer's reports (messages, notifications, its close, a tunnel handed
 * over), and tearing layers down in order when one closes: a layer's subtree
 * goes with it; the root's loss is the connection's. Each layer's record is
 * published as it comes up and goes down.
 */
import type { ClientHttp2Stream } from 'node:http2';
import { closeTunnelAtOnce } from '../protocols/http2/tunnel-close.js';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { BurrowError } from '../errors/errors.js';
import type { LayerKind } from '../shared/events.js';
import type { IntermediaryInfo } from '../shared/info.js';
import type { LayerSink } from '../shared/layer.js';
import { isFinal, type LayerProtocolName, type StreamMessage } from '../shared/messages.js';
import type { StreamRef } from '../shared/stream-ref.js';
import { chainFailed, layerBroke, layersDown, layerUp, startLayer } from '../observe/layer-events.js';
import type { LayerRecord } from '../observe/layer-record.js';
import type { Observer } from '../observe/observer.js';
import type { Established } from '../tunnel/establish.js';
import { createProtocolLayer } from '../tunnel/protocol-layer.js';
import type { LayerNode, LayerTree } from './layer-tree.js';
import type { Router } from './routing.js';
import type { ConnectionStatus } from './status.js';
import type { StreamEvents } from './stream-events.js';
import type { StreamTable } from './streams.js';
import type { StackCore, StackHooks, StackOptions } from './stack-core.js';
import { tunnelUp } from './tunnel-up.js';
import type { TunnelBook } from './tunnels.js';
import { wsAnswer } from './ws-handover.js';

export type { StackHooks, StackOptions } from './stack-core.js';

/** What the stack publishes through. */
export interface StackObservers {
  readonly observer: Observer;
  readonly streamEvents: StreamEvents;
}

const PROTOCOL_KIND: Readonly<Record<'http' | 'http2' | 'raw', LayerKind>> = { http: 'http1', http2: 'http2', raw: 'raw' };

/** Builds, feeds and tears down the layers of one connection. */
export class LayerStack implements StackCore {
  readonly status: ConnectionStatus;
  readonly tree: LayerTree;
  readonly tunnels: TunnelBook;
  readonly streams: StreamTable;
  readonly router: Router;
  readonly options: StackOptions;
  readonly connRef: StreamRef;
  readonly hooks: StackHooks;
  readonly obs: Observer;
  readonly streamEvents: StreamEvents;

  constructor(status: ConnectionStatus, tree: LayerTree, tunnels: TunnelBook, streams: StreamTable, router: Router, options: StackOptions, connRef: StreamRef, hooks: StackHooks, observers: StackObservers) {
    this.status = status;
    this.tree = tree;
    this.tunnels = tunnels;
    this.streams = streams;
    this.router = router;
    this.options = options;
    this.connRef = connRef;
    this.hooks = hooks;
    this.obs = observers.observer;
    this.streamEvents = observers.streamEvents;
  }

  /**
   * Creates the layer for an established endpoint and its node (not in the tree
   * yet). `below`: the records of the layers under it that this node owns (the
   * TCP connection or the CONNECT tunnel, then `est.layers`); the protocol
   * layer's record is added last, started.
   */
  build(key: string, tunnelRef: StreamRef | undefined, est: Established, scope: 'conn' | 'stream', carrier: LayerNode | undefined, parentNode: LayerNode | undefined, flow: number, below: readonly LayerRecord[], viaParent: readonly IntermediaryInfo[] = []): LayerNode {
    const holder: { node: LayerNode | undefined } = { node: undefined };
    const sink = this.sinkFor(holder, tunnelRef, est.protocol);
    const protocolRecord = startLayer(this.obs, PROTOCOL_KIND[est.protocol], est.hop, est.top, tunnelRef?.path);
    protocolRecord.countOn(est.duplex, est.pending);
    const layer = createProtocolLayer(est, { rawRef: tunnelRef ?? this.connRef, flow, http: this.options.http, http2: this.options.http2, sink });
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
      records: [...below, protocolRecord],
      parentNode,
    };
    holder.node = node;
    return node;
  }

  /** Where the layer of `holder.node` reports to. */
  sinkFor(holder: { node: LayerNode | undefined }, tunnelRef: StreamRef | undefined, protocol: LayerProtocolName): LayerSink {
    const hooks = this.hooks;
    return {
      deliver: this.deliver,
      notify: (n) => hooks.notify(tunnelRef === undefined ? n : { ...n, tunnel: tunnelRef }),
      closed: (error, killed) => {
        if (holder.node !== undefined) this.nodeClosed(holder.node, error, killed);
      },
      tunnel: (ref, duplex, earlyBytes) => {
        if (holder.node !== undefined) void tunnelUp(this, holder.node, ref, duplex, earlyBytes);
        else duplex.destroy();
      },
      sent: (ref, what) => {
        if (this.streamEvents.size > 0) this.streamEvents.sent(ref, what, protocol);
      },
    };
  }

  /** The node's protocol layer is ready: its record is up. */
  ready(node: LayerNode): void {
    const r = node.records[node.records.length - 1];
    if (r !== undefined && r.state === 'starting') layerUp(this.obs, r);
  }

  /** A node that was being set up failed: its layer still starting fails with `error`, the others go down. */
  setupFailed(records: readonly LayerRecord[], error: BurrowError): void {
    chainFailed(this.obs, records, error);
  }

  /**
   * Nodes removed from the tree: their layers go down, innermost nodes first.
   * `error`: why, reported for the layer where it happened in `broken`'s chain
   * (see {@link brokenLayer}); `beforeDown` ends what was being set up inside
   * them first (it runs after the error is reported, before any layer goes down).
   */
  nodesDown(nodes: readonly LayerNode[], error: BurrowError | null, broken?: LayerNode, beforeDown?: () => void): void {
    if (error !== null && broken !== undefined) {
      const r = brokenLayer(broken, error);
      if (r !== undefined) layerBroke(this.obs, r, error);
    }
    beforeDown?.();
    const sorted = [...nodes].sort((a, b) => b.key.length - a.key.length);
    for (const n of sorted) layersDown(this.obs, n.records);
  }

  /**
   * A message from a layer (or about a stream, from the connection itself).
   * A CONNECT's answer settles its pending tunnel: a 2xx does not end the
   * stream (the tunnel goes on), anything else makes the ref no tunnel.
   */
  readonly deliver = (msg: StreamMessage): void => {
    if (msg.type === 'data' && !msg.fin) {
      if (this.streamEvents.size > 0) this.streamEvents.message(msg, false);
      this.streams.deliverData(msg);
      return;
    }
    if (msg.type === 'response' && !this.status.useful) this.hooks.responded();
    const key = msg.ref.key;
    const pending = this.tunnels.get(key);
    if (pending === undefined) {
      const final = isFinal(msg);
      if (this.streamEvents.size > 0) this.streamEvents.message(msg, final);
      this.streams.deliver(msg, final);
      return;
    }
    if (pending.kind === 'websocket') {
      wsAnswer(this, pending, msg);
      return;
    }
    const ok = msg.type === 'response' && msg.status >= 200 && msg.status < 300;
    if (msg.type === 'response') {
      this.tunnels.answered(pending);
      if (pending.record?.connect !== undefined) pending.record.connect = { ...pending.record.connect, status: msg.status, headers: msg.headers };
    }
    const final = !ok && isFinal(msg);
    if (final) {
      // A refused (or failed) CONNECT: the ref is no tunnel.
      const rec = pending.record;
      const err = msg.type === 'error'
        ? msg.error
        : new BurrowError('ERR_CONNECT_STATUS', `the proxy refused CONNECT ${pending.dest.host}:${pending.dest.port} with status ${msg.type === 'response' ? msg.status : '?'}`, {
            stage: 'connect-response',
            hop: rec?.hop,
            details: msg.type === 'response' ? { status: msg.status } : undefined,
            response: msg.type === 'response' ? { status: msg.status, headers: msg.headers } : undefined,
          });
      this.tunnels.take(key, err);
      const refused = msg.type === 'error' ? msg.error : this.router.notATunnel(msg.ref);
      for (const w of pending.waiting.splice(0)) w.fail(refused);
      this.tunnels.refused(key);
    }
    if (this.streamEvents.size > 0) this.streamEvents.message(msg, final);
    this.streams.deliver(msg, final);
  };



  /**
   * A conn-wide tunnel that failed or was cancelled leaves its parent without a
   * socket: the connection (at connection level) or the stream-wide tunnel carrying it is gone too.
   */
  carrierGone(parent: LayerNode, ref: StreamRef, error: BurrowError): void {
    if (this.tree.rootOf(parent).key === '') this.hooks.lost(error, [ref]);
    else this.nodeClosed(parent, error, []);
  }

  /**
   * Takes the raw layer of `node` out of the connection and returns its duplex
   * (`Connection.detach`). The node goes from the tree, and with it the nodes
   * whose transport it took over (its carriers: HTTP/1.1 CONNECT layers that
   * handed their socket on), since their sockets now belong to the duplex. Their
   * layers go down; each tunnel ref among them gets `ERR_TUNNEL_CLOSED`
   * (`details.detached`) as its last message. Returns whether the chain reached
   * the connection's own socket (then the connection has nothing left).
   */
  detach(node: LayerNode): { duplex: Socket | Duplex; connectionWide: boolean } {
    const layer = node.layer;
    if (layer.detach === undefined) throw new BurrowError('ERR_NOT_A_TUNNEL', `${node.tunnelRef ?? 'the connection'} is not a raw layer`, { stage: 'state', hop: node.hop });
    const duplex = layer.detach();
    // A bare HTTP/2 tunnel stream handed over: destroying it resets it, as node:http2 does (no graceful close).
    if ('rstCode' in duplex && typeof (duplex as { close?: unknown }).close === 'function') closeTunnelAtOnce(duplex as ClientHttp2Stream);
    const chain: LayerNode[] = [];
    for (let n: LayerNode | undefined = node; n !== undefined; n = n.carrier) chain.push(n);
    const connectionWide = this.tree.rootOf(node).key === '';
    for (const n of chain) this.tree.removeSubtree(n);
    this.nodesDown(chain, null);
    for (const n of chain) {
      // The connection's own raw stream (no tunnel) is detached with its connection.
      const ref = n.tunnelRef ?? (n === node ? this.connRef : undefined);
      if (ref === undefined) continue;
      const err = new BurrowError('ERR_TUNNEL_CLOSED', `${ref} was detached: its transport belongs to the caller now`, { stage: 'state', hop: n.hop, details: { detached: true } });
      if (n.tunnelRef !== undefined) this.tunnels.closed(n.key, err);
      this.deliver({ type: 'error', ref, error: err });
    }
    if (connectionWide) this.tree.connNode = undefined;
    return { duplex, connectionWide };
  }

  /** A node's layer finished: its subtree goes; the root's close is the connection's loss. */
  nodeClosed(node: LayerNode, error: BurrowError | null, killed: readonly StreamRef[]): void {
    const tree = this.tree;
    if (!tree.holds(node)) return;
    const root = tree.rootOf(node);
    if (root.key === '') {
      if (this.status.userClosing) {
        this.#removeSubtree(node, null, null);
        if (node === tree.connNode) this.hooks.ended();
        return;
      }
      this.hooks.lost(error, killed);
      return;
    }
    // A stream-wide tunnel (or a conn-wide chain inside one) closed: only its subtree goes.
    const err = error ?? new BurrowError('ERR_TUNNEL_CLOSED', 'the tunnel closed', { stage: 'tcp', hop: node.hop });
    for (let n: LayerNode | undefined = node; n !== undefined; n = n.carrier) {
      this.#removeSubtree(n, err, n === node ? error : null);
      if (n.tunnelRef !== undefined) {
        const closed = new BurrowError('ERR_TUNNEL_CLOSED', `${n.tunnelRef} closed`, { stage: err.stage, hop: n.hop, cause: error ?? undefined });
        this.tunnels.closed(n.key, closed);
        // A raw or WebSocket layer delivered its stream's last message itself.
        if (n.layer.protocol !== 'raw' && n.layer.protocol !== 'websocket') this.deliver({ type: 'error', ref: n.tunnelRef, error: closed });
      }
    }
  }

  /** Removes `node` and every node nested in its streams, destroying their layers, and the CONNECTs sent inside. */
  #removeSubtree(node: LayerNode, reason: BurrowError | null, brokenBy: BurrowError | null): void {
    const removed = this.tree.removeSubtree(node);
    for (const n of removed) {
      if (n !== node) n.layer.destroy(reason ?? new BurrowError('ERR_TUNNEL_CLOSED', 'the tunnel carrying this layer closed', { stage: 'tcp', hop: n.hop }));
    }
    const prefix = node.key === '' ? '' : `${node.key}/`;
    const carrierGone = reason ?? new BurrowError('ERR_TUNNEL_CLOSED', 'the layer carrying this CONNECT closed', { stage: 'tcp', hop: node.hop });
    // The CONNECTs sent inside (and the tunnels being set up there) end before the layers carrying them.
    this.nodesDown(removed, brokenBy, node, () => this.tunnels.failUnder(prefix, carrierGone));
  }
}

/** A Node.js system error (`ECONNRESET`, `EPIPE`…): the socket itself failed. */
function isSocketFailure(e: unknown): boolean {
  return typeof e === 'object' && e !== null && typeof (e as { syscall?: unknown }).syscall === 'string' && typeof (e as { code?: unknown }).code === 'string';
}

/**
 * The layer of `node`'s transport chain (the node and the conn-wide nodes whose
 * socket it took over: from the TCP connection, or the CONNECT tunnel of a
 * stream-wide node, to `node`'s protocol layer) where `error` happened, when
 * that can be told: the bottom of the chain for a socket failure (stage `tcp`,
 * or a system error such as `ECONNRESET` as its cause, whichever layer noticed
 * it), the TLS layer of the error's hop for a TLS failure; else the protocol
 * layer that reported it.
 */
function brokenLayer(node: LayerNode, error: BurrowError): LayerRecord | undefined {
  const top = node.records[node.records.length - 1];
  if (error.stage === 'tcp' || isSocketFailure(error.cause)) {
    let bottom: LayerNode = node;
    while (bottom.carrier !== undefined) bottom = bottom.carrier;
    return bottom.records[0] ?? top;
  }
  if (error.stage === 'tls') {
    let any: LayerRecord | undefined;
    let match: LayerRecord | undefined;
    for (let n: LayerNode | undefined = node; n !== undefined; n = n.carrier) {
      for (const r of n.records) {
        if (r.kind !== 'tls') continue;
        any ??= r;
        if (error.hop !== undefined && r.hop.index === error.hop.index) match = r;
      }
    }
    return match ?? any ?? top;
  }
  return top;
}

/** The kind of a CONNECT layer sent on a layer speaking `protocol`. */
export function connectKind(protocol: LayerProtocolName): LayerKind {
  return protocol === 'http2' ? 'http2-connect' : 'http1-connect';
}

