/**
 * burrow: an HTTP client for Node.js whose connections can travel through
 * chains of proxies. This module is the public API.
 *
 * @module burrow
 */
export { open } from './connection/open.js';
export { request, type RequestBody, type RequestInit, type ViaEntry } from './request/request.js';
export type { Hop, RedirectInfo, RedirectMode, RedirectOverride, RetryInfo, RetryOptions } from './request/request.js';
export { WebSocket, type BinaryType, type WebSocketEventHandler, type WebSocketInit } from './websocket/websocket.js';
export { CloseEvent, WebSocketErrorEvent, type CloseEventInit } from './websocket/events.js';
export type { WsMessageData } from './websocket/queue.js';
export { Response, type DecodedBody, type ResponseInfo } from './request/response.js';
export { ACCEPT_ENCODING, ZSTD_SUPPORTED } from './request/decompress.js';
export { EventSource, EventSourceErrorEvent, type EventSourceEventHandler, type EventSourceInit } from './request/sse/event-source.js';
export { SseParser, type SseEvent, type SseOptions } from './request/sse/parser.js';
export type { RedirectHop } from './request/response.js';
export { Pool, defaultPool, type AcquireOptions, type Lease, type PoolOptions } from './request/pool.js';
export type { LayerTiming, OpenRoute, ViaHopOptions } from './request/route.js';
export type { ProxyAuthOptions, ProxyAuthScheme } from './protocols/proxy-auth/index.js';
export { parseProxyUrl, parseProxyChain, type ProxyHop, type ProxyScheme } from './request/proxy-url.js';
export { proxyForUrl, noProxyMatches, type ProxyEnv, type ProxyForUrlOptions } from './request/env.js';
export type { RouteAttempt } from './request/init.js';
export { AllRoutesFailedError } from './request/failover.js';
export type { PacInit, PacOptions } from './pac/options.js';
export {
  Connection,
  type Body,
  type BodyResult,
  type ConnectionEvents,
  type ConnectionInfo,
  type ConnectionState,
  type IntermediaryInfo,
  type RequestOptions,
  type StreamInfo,
} from './connection/connection.js';
export type { ReplyTo } from './connection/streams.js';
export type { TunnelEndpointInfo } from './shared/info.js';
export type { ConnectDestination, ProtocolName, ProtocolSpec, ResolvedHop, ResolvedProtocol, ResolvedSocks, SocksAuth, SocksOptions, SocksVersion } from './shared/options/hop.js';
export { StreamRef } from './shared/stream-ref.js';
export {
  isFinal,
  type DataMessage,
  type DownEvent,
  type ErrorMessage,
  type Http2SettingsReport,
  type HttpProtocolName,
  type InformMessage,
  type LayerProtocolName,
  type Notification,
  type PushMessage,
  type ResponseMessage,
  type StreamMessage,
  type TrailersMessage,
  type UpEvent,
  type UpgradeMessage,
  type UpMessage,
  type WsFrame,
  type WsMessage,
} from './shared/messages.js';
export type { WsDeflateOptions, WsOptions, WsProtocolHandler, WsSendFrame } from './shared/ws.js';
export type { WsUpgradeOptions } from './connection/websockets.js';
export {
  defaultRetryFn,
  type LookupFunction,
  type OpenOptions,
  type OpenUnixOptions,
  type ResolvedOptions,
  type RetryDecision,
  type RetryFunction,
} from './shared/options/open.js';
export type { Http1Options, Http2Options, ResolvedHttp1Options, ResolvedHttp2Options } from './shared/options/http.js';
export type { ResolvedWsOptions } from './shared/options/ws.js';
export type { TlsOptions } from './shared/options/tls.js';
export { BurrowError, isBurrowError, type BurrowErrorOptions, type ErrorCode, type ErrorResponse, type ErrorStage, type HopInfo, type HopKind } from './errors/errors.js';
export { getHeader, getHeaders, hasHeader, type Header, type HeaderList, type HeadersInit } from './shared/headers.js';
export type {
  BurrowChannelMessage,
  BurrowChannelName,
  BurrowChannels,
  ConnectLayerDetails,
  ConnectionClosedEvent,
  ConnectionCreatedEvent,
  ConnectionDownEvent,
  ConnectionRetryEvent,
  ConnectionUpEvent,
  DnsLookupContext,
  EventHandler,
  LayerErrorEvent,
  LayerEvent,
  LayerInfo,
  LayerKind,
  LayerState,
  PeerCertificateInfo,
  RequestCallContext,
  Socks4LayerDetails,
  Socks5LayerDetails,
  StreamBodySentEvent,
  StreamCancelEvent,
  StreamEndEvent,
  StreamErrorEvent,
  StreamEventBase,
  StreamHeadersSentEvent,
  StreamInformEvent,
  StreamPushEvent,
  StreamResponseEvent,
  StreamStartEvent,
  StreamTrailersEvent,
  StreamUpgradeEvent,
  TcpLayerDetails,
  TlsLayerDetails,
  WebSocketLayerDetails,
  WsFrameEvent,
} from './shared/events.js';
export { CHANNEL_NAMES, TRACING_CHANNEL_NAMES } from './shared/events.js';
export { ChainDispatcher } from './adapters/undici/dispatcher.js';
export type { ChainDispatcherOptions, DispatchOptions } from './adapters/undici/options.js';
export type { ControllerDispatchHandler, DispatchController, DispatchHandler, LegacyDispatchHandler, RawHeaders } from './adapters/undici/handler.js';
export { ChainAgent } from './adapters/agent/agent.js';
export type { ChainAgentOptions } from './adapters/agent/options.js';
export { CookieJar, type CookieJarOptions, type CookieRejection } from './cookies/jar.js';
export type { Cookie } from './cookies/cookie.js';
export type { CookieRejectReason, SameSite } from './cookies/parse.js';
export type { CookieJarJson, CookieJson } from './cookies/serialize.js';
