/**
 * What a connection reports about itself: `info()` (the innermost
 * connection-wide endpoint, Gun semantics) and `streamInfo()` (one stream's
 * state and the proxies it goes through).
 */
import type { ConnectionInfo, StreamInfo } from '../shared/info.js';
import type { LayerInfo } from '../shared/events.js';
import type { LayerRecord } from '../observe/layer-record.js';
import type { ResolvedOptions } from '../shared/options/open.js';
import type { StreamRef } from '../shared/stream-ref.js';
import type { EndpointInfo } from '../tunnel/establish.js';
import type { LayerTree } from './layer-tree.js';
import type { Router } from './routing.js';
import type { ConnectionStatus } from './status.js';
import type { TunnelBook } from './tunnels.js';

function schemeOf(e: EndpointInfo): 'http' | 'https' | undefined {
  if (e.protocol !== 'http' && e.protocol !== 'http2') return undefined;
  return e.transport === 'tls' ? 'https' : 'http';
}

/** The parts of a connection its descriptions are read from. */
export interface DescribeParts {
  readonly config: ResolvedOptions;
  readonly status: ConnectionStatus;
  readonly tree: LayerTree;
  readonly tunnels: TunnelBook;
  readonly router: Router;
  readonly connRef: StreamRef;
  readonly retriesLeft: () => number;
  /** True while the opening of `ref` waits for a callback in progress. */
  readonly isQueued: (ref: StreamRef) => boolean;
  /** The layers of the connection attempt in progress, if any. */
  readonly attemptRecords: () => readonly LayerRecord[] | undefined;
}

/**
 * The layers still coming up, outermost first: those of the connection attempt in progress, then, for each
 * pending CONNECT, its tunnel layer (until answered) and the layers being set up inside it.
 */
export function layersStarting(p: DescribeParts): LayerInfo[] {
  const out: LayerInfo[] = [];
  const add = (r: LayerRecord | undefined): void => {
    if (r !== undefined && r.state === 'starting') out.push(r.snapshot());
  };
  for (const r of p.attemptRecords() ?? []) add(r);
  for (const t of p.tunnels.values()) {
    if (t.kind !== 'connect') continue;
    add(t.record);
    for (const r of t.setup?.records ?? []) if (r !== t.record) add(r);
  }
  return out;
}

/**
 * True while `ref` is a stream or tunnel of the connection that is open or
 * waiting to be sent: `streamInfo(ref) !== undefined`, without building the info.
 */
export function hasStream(p: DescribeParts, ref: StreamRef): boolean {
  const tunnel = p.tree.get(ref.key);
  // A tunnel is a stream while it is up; a WebSocket until its last message (below).
  if (tunnel !== undefined && tunnel.tunnelRef !== undefined && tunnel.layer.protocol !== 'websocket') return true;
  const node = p.tree.nodeOfStream(ref, p.connRef);
  if (node !== undefined && node.layer.streamState(ref) !== undefined) return true;
  return streamInfo(p, ref) !== undefined;
}

/** A stream's state and the proxies it goes through, or undefined when the connection does not know it. */
export function streamInfo(p: DescribeParts, ref: StreamRef): StreamInfo | undefined {
  const tunnel = p.tree.get(ref.key);
  if (tunnel !== undefined && tunnel.tunnelRef !== undefined && tunnel.layer.protocol !== 'websocket') {
    const r = tunnel.reached;
    return {
      ref,
      state: 'running',
      intermediaries: tunnel.viaParent.map((i) => ({ ...i })),
      tunnel: { transport: r.transport, protocol: r.protocol, scheme: schemeOf(r), host: r.host, port: r.port },
      layers: p.tree.chainOf(tunnel).map((l) => l.snapshot()),
    };
  }
  const node = p.tree.nodeOfStream(ref, p.connRef);
  const state = node?.layer.streamState(ref);
  if (node !== undefined && state !== undefined) return { ref, state, intermediaries: node.intermediaries.map((i) => ({ ...i })), layers: p.tree.chainOf(node).map((l) => l.snapshot()) };
  if (p.isQueued(ref) || p.router.isPostponed(ref) || p.tunnels.isWaiting(ref)) return { ref, state: 'pending', intermediaries: [], layers: [] };
  if (p.tunnels.has(ref.key)) return { ref, state: 'running', intermediaries: [], layers: [] };
  return undefined;
}

/** The connection's state and the innermost connection-wide endpoint it reaches. */
export function connectionInfo(p: DescribeParts): ConnectionInfo {
  const s = p.tree.socket;
  const node = p.tree.connNode;
  const tlsSocket = node?.tls;
  const cipher = tlsSocket?.getCipher();
  const ep = node?.endpoint;
  const config = p.config;
  return {
    state: p.status.state,
    protocol: p.status.running ? node?.layer.protocol : undefined,
    transport: ep?.transport ?? config.transport,
    origin: ep
      ? { scheme: schemeOf(ep), host: ep.host, port: ep.port }
      : { scheme: config.transport === 'tls' ? 'https' : 'http', host: config.host, port: config.port },
    intermediaries: node ? node.intermediaries.map((i) => ({ ...i })) : [],
    localAddress: s?.localAddress,
    localPort: s?.localPort,
    remoteAddress: s?.remoteAddress,
    remotePort: s?.remotePort,
    tls: tlsSocket ? { version: tlsSocket.getProtocol(), cipher: cipher?.name ?? '', alpn: tlsSocket.alpnProtocol, resumed: tlsSocket.isSessionReused() } : undefined,
    retriesLeft: p.retriesLeft(),
    layers: node === undefined ? [] : p.tree.chainOf(node).map((l) => l.snapshot()),
  };
}
