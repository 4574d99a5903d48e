/**
 * What `info()` and `streamInfo()` report: the endpoint reached and the
 * proxies traversed to reach it (Gun's `intermediaries`).
 */
import type { LayerInfo } from './events.js';
import type { LayerProtocolName } from './protocol-name.js';
import type { StreamRef } from './stream-ref.js';

/** One proxy a stream's data goes through. */
export interface IntermediaryInfo {
  /** `connect`: an HTTP/1.1 or HTTP/2 CONNECT proxy; `socks5`: a SOCKS5 server; `socks4`: a SOCKS4 or SOCKS4a server. */
  type: 'connect' | 'socks5' | 'socks4';
  host: string;
  port: number;
  transport: 'tcp' | 'tls';
  /** The protocol spoken with the proxy: `http`, `http2` or `socks`. */
  protocol: string;
  /** For SOCKS: the address the server reported it bound for the tunnel (SOCKS4: DSTIP/DSTPORT of its reply). */
  bound?: { host: string; port: number };
}

/** An endpoint reached through a tunnel. */
export interface TunnelEndpointInfo {
  transport: 'tcp' | 'tls';
  /** The protocol running at the endpoint (`socks` when the tunnel leads to a SOCKS server). */
  protocol: string;
  /** `http`/`https` for HTTP endpoints, undefined for raw and SOCKS. */
  scheme: 'http' | 'https' | undefined;
  host: string;
  port: number;
}

/** What `streamInfo(ref)` reports. */
export interface StreamInfo {
  ref: StreamRef;
  /** `pending`: waiting for the connection or its tunnel; `stopping`: cancelled, its response still being read. */
  state: 'running' | 'stopping' | 'pending';
  /** Proxies between the client and this stream's endpoint, first hop first. */
  intermediaries: IntermediaryInfo[];
  /** For a tunnel (a CONNECT stream that succeeded): the endpoint it reached. */
  tunnel?: TunnelEndpointInfo;
  /**
   * Every layer this stream goes through, from the TCP connection to the
   * protocol layer that carries it (for a tunnel: to the protocol reached
   * inside it); empty while pending. See docs/events.md.
   */
  layers: LayerInfo[];
}

/** Where a connection is in its life. */
export type ConnectionState = 'connecting' | 'up' | 'waiting-retry' | 'closing' | 'closed';

/** What `info()` reports: the innermost connection-wide endpoint (Gun semantics). */
export interface ConnectionInfo {
  state: ConnectionState;
  /** The protocol spoken with that endpoint, once up. */
  protocol: LayerProtocolName | undefined;
  /** Transport to that endpoint. */
  transport: 'tcp' | 'tls';
  /** That endpoint. Stream-wide (HTTP/2 CONNECT) tunnels do not change it. */
  origin: { scheme: 'http' | 'https' | undefined; host: string; port: number };
  /** Connection-wide proxies traversed to reach it (HTTP/1.1 CONNECT, SOCKS5), first hop first. */
  intermediaries: IntermediaryInfo[];
  /** Addresses of the TCP connection to the first hop. */
  localAddress: string | undefined;
  localPort: number | undefined;
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  /** TLS with the innermost connection-wide endpoint, when it uses TLS. */
  tls: { version: string | null; cipher: string; alpn: string | false | null; resumed: boolean } | undefined;
  /** Reconnection attempts left. */
  retriesLeft: number;
  /**
   * Every layer from the TCP connection to that endpoint's protocol layer, each
   * with its hop, timings, bytes, and TLS / CONNECT / SOCKS5 details. See docs/events.md.
   */
  layers: LayerInfo[];
}
