/**
 * What the parts of a connection's layer stack share: its state (the layer
 * tree, the pending tunnels, the stream table), what it reports to, and the
 * stack operations that a layer coming up inside a tunnel uses
 * (`tunnel-up.ts`, `ws-handover.ts`). {@link LayerStack} implements it.
 */
import type { BurrowError } from '../errors/errors.js';
import type { LayerSink } from '../shared/layer.js';
import type { LayerProtocolName, Notification, StreamMessage } from '../shared/messages.js';
import type { IntermediaryInfo } from '../shared/info.js';
import type { ResolvedHttp1Options, ResolvedHttp2Options } from '../shared/options/http.js';
import type { StreamRef } from '../shared/stream-ref.js';
import type { LayerRecord } from '../observe/layer-record.js';
import type { Observer } from '../observe/observer.js';
import type { Established } from '../tunnel/establish.js';
import type { LayerNode, LayerTree } from './layer-tree.js';
import type { Router } from './routing.js';
import type { ConnectionStatus } from './status.js';
import type { StreamEvents } from './stream-events.js';
import type { StreamTable } from './streams.js';
import type { TunnelBook } from './tunnels.js';

/** What the stack tells the connection's lifecycle. */
export interface StackHooks {
  /** The root of the tree closed: the connection's socket is gone (`killed`: streams the layer killed). */
  lost(error: BurrowError | null, killed: readonly StreamRef[]): void;
  /** The connection-level layer finished closing after `close()`/`shutdown()`. */
  ended(): void;
  /** The first response of the current connection arrived. */
  responded(): void;
  /** A layer's notification (HTTP/2 SETTINGS, ping acknowledgement). */
  notify(n: Notification): void;
}

/** The options layers are built with. */
export interface StackOptions {
  readonly http: ResolvedHttp1Options;
  readonly http2: ResolvedHttp2Options;
}

/** The layer stack as its parts see it. */
export interface StackCore {
  readonly status: ConnectionStatus;
  readonly tree: LayerTree;
  readonly tunnels: TunnelBook;
  readonly streams: StreamTable;
  readonly router: Router;
  readonly connRef: StreamRef;
  readonly hooks: StackHooks;
  readonly obs: Observer;
  readonly streamEvents: StreamEvents;
  /** A message from a layer, routed to its stream (a handshake's or a CONNECT's answer settles its tunnel). */
  deliver(msg: StreamMessage): void;
  /** Creates the layer for an established endpoint and its node (not in the tree yet). */
  build(key: string, tunnelRef: StreamRef | undefined, est: Established, scope: 'conn' | 'stream', carrier: LayerNode | undefined, parentNode: LayerNode | undefined, flow: number, below: readonly LayerRecord[], viaParent?: readonly IntermediaryInfo[]): LayerNode;
  /** Where the layer of `holder.node` reports to. */
  sinkFor(holder: { node: LayerNode | undefined }, tunnelRef: StreamRef | undefined, protocol: LayerProtocolName): LayerSink;
  /** The node's protocol layer is ready: its record is up. */
  ready(node: LayerNode): void;
  /** A node that was being set up failed. */
  setupFailed(records: readonly LayerRecord[], error: BurrowError): void;
  /** A node's layer finished: its subtree goes; the root's close is the connection's loss. */
  nodeClosed(node: LayerNode, error: BurrowError | null, killed: readonly StreamRef[]): void;
  /** A conn-wide tunnel that failed or was cancelled leaves its parent without a socket. */
  carrierGone(parent: LayerNode, ref: StreamRef, error: BurrowError): void;
}
