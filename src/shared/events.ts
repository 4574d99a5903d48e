/**
 * What burrow reports about every layer of every chain: the payloads of its
 * `diagnostics_channel` channels and of the `events` handler option, one
 * shape for both. See docs/events.md.
 */
import type { BurrowError, HopInfo } from '../errors/errors.js';
import type { HeaderList } from './headers.js';
import type { LayerProtocolName } from './protocol-name.js';

/**
 * What a layer is: `tcp` (the connection to the first hop), `tls` (a TLS
 * session with one hop), `http1-connect` / `http2-connect` (a CONNECT tunnel
 * through a proxy: the whole connection for HTTP/1.1, one stream for HTTP/2),
 * `socks5` (a SOCKS5 handshake), `socks4` (a SOCKS4 or SOCKS4a handshake),
 * `http1`, `http2`, `raw` (the protocol spoken with an endpoint).
 */
export type LayerKind = 'tcp' | 'tls' | 'http1-connect' | 'http2-connect' | 'socks5' | 'socks4' | 'http1' | 'http2' | 'raw' | 'websocket';

/** Where a layer is in its life. */
export type LayerState = 'starting' | 'up' | 'failed' | 'down';

/** The certificate a TLS peer presented. */
export interface PeerCertificateInfo {
  /** `CN=example.com, O=Example`. */
  readonly subject: string;
  readonly issuer: string;
  /** SHA-256 fingerprint, `AB:CD:…`. */
  readonly fingerprint256: string;
  readonly serialNumber: string;
  readonly validFrom: string;
  readonly validTo: string;
  /** `DNS:example.com, IP Address:127.0.0.1`, when present. */
  readonly subjectAltName: string | undefined;
}

/** A TLS layer once its handshake is done. */
export interface TlsLayerDetails {
  /** `TLSv1.3`, `TLSv1.2`. */
  readonly version: string | null;
  /** The cipher suite's standard name. */
  readonly cipher: string;
  /** The ALPN protocol chosen (`h2`, `http/1.1`), or null. */
  readonly alpn: string | null;
  /** The SNI sent, or null (none is sent for an IP address). */
  readonly servername: string | null;
  /** The session was resumed (no full handshake). */
  readonly resumed: boolean;
  /** The certificate chain and name were verified. */
  readonly authorized: boolean;
  readonly certificate: PeerCertificateInfo | undefined;
}

/** The TCP connection to the first hop. */
export interface TcpLayerDetails {
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
}

/** A CONNECT tunnel through a proxy. */
export interface ConnectLayerDetails {
  /** `host:port` asked for. */
  readonly target: string;
  /** The proxy's answer, once it came. */
  readonly status: number | undefined;
  readonly headers: HeaderList | undefined;
  /** Tunnel bytes that arrived in the same read as the 2xx (HTTP/1.1). */
  readonly earlyBytes: number | undefined;
}

/** A WebSocket: its handshake and what it settled. */
export interface WebSocketLayerDetails {
  /** The path asked for. */
  readonly path: string;
  /** How it was opened: an HTTP/1.1 upgrade, or an HTTP/2 extended CONNECT (RFC 8441). */
  readonly via: 'http1-upgrade' | 'http2-connect';
  /** The subprotocol the server chose ('' for none), once it answered. */
  readonly protocol: string | undefined;
  /** The extensions in force ('' for none), once it answered. */
  readonly extensions: string | undefined;
  /** The status of the answer (101 or 200), once it came. */
  readonly status: number | undefined;
}

/** A SOCKS5 handshake. */
export interface Socks5LayerDetails {
  /** `host:port` asked for. */
  readonly target: string;
  /** The authentication method the server chose. */
  readonly method: 'none' | 'username-password' | undefined;
  /** The reply code (0: succeeded), once it came. */
  readonly reply: number | undefined;
  /** The address the server reported it bound. */
  readonly bound: { readonly host: string; readonly port: number } | undefined;
}

/** A SOCKS4 or SOCKS4a handshake. */
export interface Socks4LayerDetails {
  /** `host:port` asked for (an IPv4 address, or with SOCKS4a a name). */
  readonly target: string;
  /** `4` or `'4a'`. */
  readonly version: 4 | '4a';
  /** The reply code (0x5A = 90: granted), once it came. */
  readonly reply: number | undefined;
  /** DSTIP / DSTPORT of the granted reply. */
  readonly bound: { readonly host: string; readonly port: number } | undefined;
}

/** One layer of a chain, as a snapshot. */
export interface LayerInfo {
  /** Unique in the process. */
  readonly id: number;
  /** The connection it belongs to (`Connection.id`). */
  readonly connection: number;
  readonly kind: LayerKind;
  /** The endpoint this layer talks to: its position in the chain, kind, address. */
  readonly hop: HopInfo;
  /** The layer this one runs over (undefined for `tcp`). */
  readonly parent: number | undefined;
  /** For a CONNECT layer: its stream ref path; for layers inside a tunnel: the tunnel's ref path. */
  readonly tunnel: readonly number[] | undefined;
  readonly state: LayerState;
  /** When it started, ms since the epoch (fractional). */
  readonly startedAt: number;
  /** When it came up (ms since the epoch), once it did. */
  readonly upAt: number | undefined;
  /** How long it took to come up, ms. */
  readonly durationMs: number | undefined;
  /**
   * Bytes this layer read from and wrote to what carries it (for `tcp`: the
   * wire; for `tls`: the ciphertext; for an HTTP layer over TLS: the plaintext).
   */
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly tcp?: TcpLayerDetails;
  readonly tls?: TlsLayerDetails;
  readonly connect?: ConnectLayerDetails;
  readonly socks5?: Socks5LayerDetails;
  readonly socks4?: Socks4LayerDetails;
  readonly websocket?: WebSocketLayerDetails;
}

/** `burrow:connection:created`: `open()` made a connection. */
export interface ConnectionCreatedEvent {
  readonly connection: number;
  readonly host: string;
  readonly port: number;
  readonly transport: 'tcp' | 'tls';
}

/** `burrow:connection:up`: the connection (or a reconnection) takes requests. */
export interface ConnectionUpEvent {
  readonly connection: number;
  readonly protocol: LayerProtocolName;
  /** The layers from the TCP connection to the protocol layer. */
  readonly layers: readonly LayerInfo[];
  /** Since this attempt started, ms. */
  readonly durationMs: number;
}

/** `burrow:connection:down`: the connection was lost. */
export interface ConnectionDownEvent {
  readonly connection: number;
  readonly reason: BurrowError;
  /** A reconnection follows. */
  readonly willRetry: boolean;
  /** Ref paths of the streams it killed. */
  readonly killedStreams: ReadonlyArray<readonly number[]>;
}

/** `burrow:connection:retry`: an attempt failed; the next one is scheduled. */
export interface ConnectionRetryEvent {
  readonly connection: number;
  readonly error: BurrowError;
  /** Retries left after the next attempt. */
  readonly retriesLeft: number;
  readonly delayMs: number;
}

/** `burrow:connection:closed`: the connection is closed for good (`error` null after `close()`/`shutdown()`). */
export interface ConnectionClosedEvent {
  readonly connection: number;
  readonly error: BurrowError | null;
}

/** `burrow:layer:start`, `burrow:layer:up`, `burrow:layer:down`. */
export interface LayerEvent {
  readonly connection: number;
  readonly layer: LayerInfo;
}

/** `burrow:layer:error`: the layer failed; `error` names its hop and stage. */
export interface LayerErrorEvent {
  readonly connection: number;
  readonly layer: LayerInfo;
  readonly error: BurrowError;
}

/** What every stream event carries. */
export interface StreamEventBase {
  readonly connection: number;
  /** The stream's ref path (`[tunnel, id]` inside a tunnel). */
  readonly stream: readonly number[];
}

/** `burrow:stream:start`: a request (or CONNECT) was made. */
export interface StreamStartEvent extends StreamEventBase {
  readonly method: string;
  /** The path, or `host:port` for a CONNECT. */
  readonly target: string;
  /** The request headers; `authorization` and `proxy-authorization` show their scheme only (`Basic ***`). */
  readonly headers: HeaderList;
  /** The tunnel it is sent in, if any. */
  readonly tunnel: readonly number[] | undefined;
}

/** `burrow:stream:headers-sent`: the request head was handed to the transport. */
export interface StreamHeadersSentEvent extends StreamEventBase {
  readonly protocol: 'http1' | 'http2';
  /**
   * The request headers handed to the layer, masked as in `stream:start`: those of `stream:start`, and for a
   * WebSocket also its handshake's (`sec-websocket-key`, `-version`, `-extensions`, `-protocol`, and
   * `upgrade`/`connection` over HTTP/1.1).
   */
  readonly headers: HeaderList;
}

/** `burrow:stream:body-sent`: the request body ended (the last byte was handed to the transport). */
export interface StreamBodySentEvent extends StreamEventBase {
  readonly bytes: number;
}

/** `burrow:stream:inform`: a 1xx. */
export interface StreamInformEvent extends StreamEventBase {
  readonly status: number;
  readonly headers: HeaderList;
}

/** `burrow:stream:response`: the response head. */
export interface StreamResponseEvent extends StreamEventBase {
  readonly status: number;
  readonly headers: HeaderList;
  readonly version: '1.0' | '1.1' | '2';
}

/** `burrow:stream:upgrade`: the stream switched protocols (a WebSocket is up, or an HTTP/1.1 `101`). */
export interface StreamUpgradeEvent extends StreamEventBase {
  readonly protocols: readonly string[];
  readonly headers: HeaderList;
}

/**
 * `burrow:ws:received` and `burrow:ws:sent`: one WebSocket frame (a whole
 * message for text and binary) received or handed to the WebSocket layer.
 */
export interface WsFrameEvent extends StreamEventBase {
  readonly type: 'text' | 'binary' | 'ping' | 'pong' | 'close';
  /** Payload bytes (a text message's UTF-8 length; before compression). */
  readonly bytes: number;
  /** A close frame's code (undefined for none). */
  readonly code?: number | undefined;
}

/** `burrow:stream:trailers`. */
export interface StreamTrailersEvent extends StreamEventBase {
  readonly headers: HeaderList;
}

/** `burrow:stream:end`: the response ended. */
export interface StreamEndEvent extends StreamEventBase {
  /** Body bytes received. */
  readonly bytes: number;
  /** Since `stream:start`, ms (undefined when nobody observed its start). */
  readonly durationMs: number | undefined;
}

/** `burrow:stream:error`: the stream failed. */
export interface StreamErrorEvent extends StreamEventBase {
  readonly error: BurrowError;
}

/** `burrow:stream:cancel`: the stream was cancelled by the caller. */
export type StreamCancelEvent = StreamEventBase;

/** `burrow:stream:push`: an HTTP/2 push promised on `stream`. */
export interface StreamPushEvent extends StreamEventBase {
  readonly pushStream: readonly number[];
  readonly method: string;
  readonly url: string;
  readonly headers: HeaderList;
}

/**
 * The context object of the `burrow:dns` tracing channel (`tracing:burrow:dns:start`,
 * `…:asyncEnd`, `…:error`): one DNS lookup. `addresses` is set when it succeeds, `error` when it fails
 * or is given up before it answers (its timeout, `close()`, the request's abort): each lookup ends once.
 */
export interface DnsLookupContext {
  /** The connection that resolves (undefined for a name resolved for a `socks5://` or `socks4://` hop before any connection). */
  readonly connection: number | undefined;
  readonly host: string;
  /** The hop whose name it is. */
  readonly hop: HopInfo;
  addresses?: readonly string[];
  error?: unknown;
}

/**
 * The context object of the `burrow:request` tracing channel: one `request()`
 * call, from the call to its response head (`tracing:burrow:request:start`,
 * `…:asyncEnd` with `response`, `…:error` with `error`).
 */
export interface RequestCallContext {
  readonly method: string;
  /** The URL as given, its password masked (`***`). */
  readonly url: string;
  /** The proxy chain, first hop first, passwords masked. */
  readonly via: readonly string[];
  /** Set at `asyncEnd`. */
  response?: { readonly status: number; readonly version: '1.0' | '1.1' | '2'; readonly connection: number; readonly stream: readonly number[] };
  error?: unknown;
}

/** Every plain channel and its message. */
export interface BurrowChannels {
  'burrow:connection:created': ConnectionCreatedEvent;
  'burrow:connection:up': ConnectionUpEvent;
  'burrow:connection:down': ConnectionDownEvent;
  'burrow:connection:retry': ConnectionRetryEvent;
  'burrow:connection:closed': ConnectionClosedEvent;
  'burrow:layer:start': LayerEvent;
  'burrow:layer:up': LayerEvent;
  'burrow:layer:error': LayerErrorEvent;
  'burrow:layer:down': LayerEvent;
  'burrow:stream:start': StreamStartEvent;
  'burrow:stream:headers-sent': StreamHeadersSentEvent;
  'burrow:stream:body-sent': StreamBodySentEvent;
  'burrow:stream:inform': StreamInformEvent;
  'burrow:stream:response': StreamResponseEvent;
  'burrow:stream:trailers': StreamTrailersEvent;
  'burrow:stream:end': StreamEndEvent;
  'burrow:stream:error': StreamErrorEvent;
  'burrow:stream:cancel': StreamCancelEvent;
  'burrow:stream:push': StreamPushEvent;
  'burrow:stream:upgrade': StreamUpgradeEvent;
  'burrow:ws:received': WsFrameEvent;
  'burrow:ws:sent': WsFrameEvent;
}

/** The name of a plain channel. */
export type BurrowChannelName = keyof BurrowChannels;

/** A message of any plain channel, with its channel's name. */
export type BurrowChannelMessage = { [K in BurrowChannelName]: { readonly channel: K; readonly message: BurrowChannels[K] } }[BurrowChannelName];

/**
 * The `events` option of `open()` and `request()`: methods called synchronously
 * at the same points as the channels, with the same payloads. Every method is
 * optional. A method that throws never breaks the connection: the exception is
 * reported once, as the connection's `error` event (`ERR_CALLBACK`; for a method
 * called while `open()` runs, once it has returned), or re-thrown on the next tick
 * when the connection has no `error` listener (`request()`'s connections, and the
 * lookups of `socks5://` hops made before the route's connection exists).
 */
export interface EventHandler {
  connectionCreated?(e: ConnectionCreatedEvent): void;
  connectionUp?(e: ConnectionUpEvent): void;
  connectionDown?(e: ConnectionDownEvent): void;
  connectionRetry?(e: ConnectionRetryEvent): void;
  connectionClosed?(e: ConnectionClosedEvent): void;
  layerStart?(e: LayerEvent): void;
  layerUp?(e: LayerEvent): void;
  layerError?(e: LayerErrorEvent): void;
  layerDown?(e: LayerEvent): void;
  streamStart?(e: StreamStartEvent): void;
  streamHeadersSent?(e: StreamHeadersSentEvent): void;
  streamBodySent?(e: StreamBodySentEvent): void;
  streamInform?(e: StreamInformEvent): void;
  streamResponse?(e: StreamResponseEvent): void;
  streamTrailers?(e: StreamTrailersEvent): void;
  streamEnd?(e: StreamEndEvent): void;
  streamError?(e: StreamErrorEvent): void;
  streamCancel?(e: StreamCancelEvent): void;
  streamPush?(e: StreamPushEvent): void;
  streamUpgrade?(e: StreamUpgradeEvent): void;
  wsReceived?(e: WsFrameEvent): void;
  wsSent?(e: WsFrameEvent): void;
  /** A DNS lookup starts (the context of `tracing:burrow:dns:start`). */
  dnsStart?(e: DnsLookupContext): void;
  /** A DNS lookup ended: `addresses` or `error` is set. */
  dnsEnd?(e: DnsLookupContext): void;
}

/** The handler method of each plain channel. */
export const HANDLER_OF: { readonly [K in BurrowChannelName]: keyof EventHandler } = {
  'burrow:connection:created': 'connectionCreated',
  'burrow:connection:up': 'connectionUp',
  'burrow:connection:down': 'connectionDown',
  'burrow:connection:retry': 'connectionRetry',
  'burrow:connection:closed': 'connectionClosed',
  'burrow:layer:start': 'layerStart',
  'burrow:layer:up': 'layerUp',
  'burrow:layer:error': 'layerError',
  'burrow:layer:down': 'layerDown',
  'burrow:stream:start': 'streamStart',
  'burrow:stream:headers-sent': 'streamHeadersSent',
  'burrow:stream:body-sent': 'streamBodySent',
  'burrow:stream:inform': 'streamInform',
  'burrow:stream:response': 'streamResponse',
  'burrow:stream:trailers': 'streamTrailers',
  'burrow:stream:end': 'streamEnd',
  'burrow:stream:error': 'streamError',
  'burrow:stream:cancel': 'streamCancel',
  'burrow:stream:push': 'streamPush',
  'burrow:stream:upgrade': 'streamUpgrade',
  'burrow:ws:received': 'wsReceived',
  'burrow:ws:sent': 'wsSent',
};

/** The names of the plain channels. */
export const CHANNEL_NAMES: readonly BurrowChannelName[] = Object.keys(HANDLER_OF) as BurrowChannelName[];

/** The names given to `diagnostics_channel.tracingChannel()`: `burrow:dns` (a lookup) and `burrow:request` (a `request()` call). */
export const TRACING_CHANNEL_NAMES = ['burrow:dns', 'burrow:request'] as const;
