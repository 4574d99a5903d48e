/**
 * The one interface every HTTP protocol implementation (HTTP/1.1, HTTP/2)
 * exposes to the connection that owns it. A layer runs over a duplex it was
 * given (a TCP socket, a TLS socket or a tunnel) and never dials anything.
 */
import type { BurrowError, HopInfo } from '../errors/errors.js';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Http2SettingsReport, Notification, StreamMessage } from './messages.js';
import type { StreamRef } from './stream-ref.js';
import type { Header } from './headers.js';
import type { WsSendFrame } from './ws.js';

/** Where a layer reports to. Implemented by the connection. */
export interface LayerSink {
  /** A message for one stream. */
  deliver(msg: StreamMessage): void;
  /** A connection-level notification. */
  notify(n: Notification): void;
  /**
   * The layer is finished: its duplex is closed. `error` is null for a clean
   * close (graceful shutdown done, idle peer close). `killed` lists streams that
   * were still open; the layer has already delivered an error message to each.
   */
  closed(error: BurrowError | null, killed: readonly StreamRef[]): void;
  /**
   * A CONNECT on stream `ref` succeeded (its 2xx response was delivered) and
   * `duplex` now carries the tunnel: the connection's socket for HTTP/1.1 (the
   * layer has let go of it, with any bytes read past the response put back with
   * `unshift`), or the HTTP/2 stream. The connection builds the next layer on it.
   * `earlyBytes`: tunnel bytes that arrived together with the 2xx.
   */
  tunnel(ref: StreamRef, duplex: Socket | Duplex, earlyBytes: number): void;
  /** The request head (`headers`), or the end of the request body (`body`), of `ref` was handed to the transport. */
  sent(ref: StreamRef, what: 'headers' | 'body'): void;
}

/** The endpoint a layer talks to: used for `host` / `:authority` and `:scheme`. */
export interface LayerOrigin {
  readonly host: string;
  readonly port: number;
  readonly transport: 'tcp' | 'tls';
  /** The hop this layer's duplex reaches (named in errors). */
  readonly hop: HopInfo;
}

/** One request as a layer receives it: validated and normalised. */
export interface RequestSpec {
  readonly ref: StreamRef;
  readonly method: string;
  readonly path: string;
  /** Lowercase, validated. */
  readonly headers: readonly Header[];
  /** The whole body, or null when the body will be streamed with `data()`. */
  readonly body: Buffer | null;
  /** Initial flow budget in data messages (Infinity: no flow control). */
  readonly flow: number;
  /**
   * A WebSocket handshake: over HTTP/1.1 the request is an `Upgrade` whose
   * `101` hands the socket over (like a CONNECT's 2xx); over HTTP/2 it is sent
   * as an extended CONNECT (RFC 8441) with `:protocol` set to this, once the
   * server allowed it, and its 2xx hands the stream over.
   */
  readonly upgrade?: 'websocket' | undefined;
  /** `'1.0'`: an HTTP/1.0 request (HTTP/1.1 layer only). */
  readonly version?: '1.0' | undefined;
}

/** Stream state as reported by `streamInfo`. */
export type LayerStreamState = 'running' | 'stopping';

/** An HTTP protocol running over one duplex. */
export interface HttpLayer {
  readonly protocol: 'http' | 'http2' | 'raw' | 'websocket';
  /** Resolves when the layer can take requests; rejects if it failed to start. */
  readonly ready: Promise<void>;
  /** False once the layer takes no new requests (shutdown, GOAWAY, connection: close). */
  readonly accepting: boolean;
  /** Sends a request. Failures are delivered as an error message on `spec.ref`. */
  request(spec: RequestSpec): void;
  /** Streams request body bytes; resolves when the transport can take more. Never rejects. */
  data(ref: StreamRef, fin: boolean, chunk: Buffer): Promise<void>;
  /** Stops delivering messages for `ref` (HTTP/2: RST_STREAM CANCEL). False when unknown. */
  cancel(ref: StreamRef): boolean;
  /** Adds `increment` to the stream's flow budget. */
  updateFlow(ref: StreamRef, increment: number): void;
  /** HTTP/2 PING; resolves with the round-trip time in ms. Rejects with ERR_PING_UNSUPPORTED on HTTP/1.1. */
  ping(): Promise<number>;
  /** HTTP/2: the server's SETTINGS once they have arrived; undefined before, and on HTTP/1.1 and raw layers. */
  remoteSettings(): Http2SettingsReport | undefined;
  /** Graceful close: finish what is in flight, accept nothing new, then close. */
  shutdown(): void;
  /** Immediate close; open streams get `reason` as their error. */
  destroy(reason: BurrowError): void;
  /** Streams still open. */
  activeStreams(): StreamRef[];
  /** State of one stream, or undefined when unknown to this layer. */
  streamState(ref: StreamRef): LayerStreamState | undefined;
  /**
   * Raw layers only: lets go of the duplex without closing it and returns it
   * (paused, listeners removed); the layer is finished and reports nothing
   * more. Throws `ERR_BAD_STATE` when it cannot (see `RawLayer.detach`).
   */
  detach?(): Socket | Duplex;
}

/** A WebSocket layer: one stream, whose frames are sent with `send`. */
export interface WsLayer extends HttpLayer {
  readonly protocol: 'websocket';
  /** Sends frames in order; resolves when the transport takes more, rejects with `ERR_WS_CLOSED` after a close frame. */
  send(frames: readonly WsSendFrame[]): Promise<void>;
}

/** True for a WebSocket layer. */
export function isWsLayer(layer: HttpLayer): layer is WsLayer {
  return layer.protocol === 'websocket';
}
