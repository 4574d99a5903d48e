/**
 * The layer tree of one connection: what is stacked on what. The node at key
 * '' runs on the socket of the first hop. A successful CONNECT on stream `T`
 * adds a node at key `T.key` running on the tunnel: connection-wide (HTTP/1.1:
 * the socket itself, and the parent node is "taken over") or stream-wide
 * (HTTP/2: one stream of the parent). A request with `{ tunnel: T }` goes to
 * node `T.key`; its ref is `[...T.path, id]`.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { HopInfo } from '../errors/errors.js';
import type { LayerRecord } from '../observe/layer-record.js';
import type { IntermediaryInfo } from '../shared/info.js';
import type { HttpLayer } from '../shared/layer.js';
import type { StreamRef } from '../shared/stream-ref.js';
import type { EndpointInfo } from '../tunnel/establish.js';

/** One layer of the tree. */
export interface LayerNode {
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
  /**
   * The layers this node brought up, outermost first: the TCP connection (root)
   * or the CONNECT tunnel (a tunnel node), then TLS and SOCKS5 layers, then the
   * protocol layer (last).
   */
  readonly records: readonly LayerRecord[];
  /** The node this one runs inside (the tunnel's carrier or parent layer); undefined for the root. */
  readonly parentNode: LayerNode | undefined;
}

/** The nodes of one connection, by key. */
export class LayerTree {
  readonly #nodes = new Map<string, LayerNode>();
  /** The node whose layer owns the connection's socket (the innermost conn-wide one). */
  connNode: LayerNode | undefined;
  /** The TCP socket to the first hop. */
  socket: Socket | undefined;

  get(key: string): LayerNode | undefined {
    return this.#nodes.get(key);
  }

  add(node: LayerNode): void {
    this.#nodes.set(node.key, node);
  }

  /** True when `node` is in the tree (a node removed meanwhile is not). */
  holds(node: LayerNode): boolean {
    return this.#nodes.get(node.key) === node;
  }

  /** The layer of the connection level, once up. */
  get root(): LayerNode | undefined {
    return this.#nodes.get('');
  }

  nodes(): IterableIterator<LayerNode> {
    return this.#nodes.values();
  }

  /**
   * The node that carries stream `ref`: the node of its tunnel, or, for the
   * bytes of a raw layer (the connection's own `connRef`, or a raw tunnel) and
   * for a WebSocket, its own node.
   */
  nodeOfStream(ref: StreamRef, connRef: StreamRef): LayerNode | undefined {
    if (ref.key === connRef.key) return this.#nodes.get('');
    const own = this.#nodes.get(ref.key);
    if (own !== undefined && (own.layer.protocol === 'raw' || own.layer.protocol === 'websocket')) return own;
    return this.#nodes.get(ref.parentKey);
  }

  /** The first node of a conn-wide chain (the one whose transport the others took over). */
  rootOf(node: LayerNode): LayerNode {
    let n = node;
    while (n.carrier !== undefined) n = n.carrier;
    return n;
  }

  /** Removes `node` and every node nested in its streams; returns them, `node` first. */
  removeSubtree(node: LayerNode): LayerNode[] {
    const prefix = node.key === '' ? '' : `${node.key}/`;
    const removed: LayerNode[] = [];
    for (const [key, n] of [...this.#nodes]) {
      if (key === node.key || key.startsWith(prefix)) {
        this.#nodes.delete(key);
        if (n === node) removed.unshift(n);
        else removed.push(n);
      }
    }
    return removed;
  }

  /** Removes every node; returns them. */
  clear(): LayerNode[] {
    const all = [...this.#nodes.values()];
    this.#nodes.clear();
    this.connNode = undefined;
    this.socket = undefined;
    return all;
  }

  /** The records of `node`'s chain, from the TCP connection to its protocol layer. */
  chainOf(node: LayerNode): LayerRecord[] {
    const nodes: LayerNode[] = [];
    for (let n: LayerNode | undefined = node; n !== undefined; n = n.parentNode) nodes.unshift(n);
    return nodes.flatMap((n) => (n === node ? [...n.records] : n.records.slice(0, -1).concat(n.takenOverBy === undefined ? n.records.slice(-1) : [])));
  }

  /** The layers still running their own protocol (not taken over), innermost first: the order of a graceful shutdown. */
  innermostFirst(): LayerNode[] {
    return [...this.#nodes.values()].filter((n) => n.takenOverBy === undefined).sort((a, b) => b.key.length - a.key.length);
  }
}
