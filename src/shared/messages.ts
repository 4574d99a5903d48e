/**
 * The messages a connection delivers: per-stream messages (a discriminated
 * union on `type`) and connection-level events.
 */
import type { BurrowError } from '../errors/errors.js';
import type { HeaderList } from './headers.js';
import type { IntermediaryInfo } from './info.js';
import type { LayerProtocolName } from './protocol-name.js';
import type { StreamRef } from './stream-ref.js';

/** An HTTP protocol burrow speaks on a layer. */
export type HttpProtocolName = 'http' | 'http2';

export type { LayerProtocolName };

/** An informational (1xx) response, before the final one. */
export interface InformMessage {
  readonly type: 'inform';
  readonly ref: StreamRef;
  readonly status: number;
  readonly headers: HeaderList;
}

/** The final response's status and headers. `fin` is true when no body follows. */
export interface ResponseMessage {
  readonly type: 'response';
  readonly ref: StreamRef;
  readonly fin: boolean;
  readonly status: number;
  readonly headers: HeaderList;
  /** HTTP version of the response: '1.0', '1.1' or '2'. */
  readonly version: '1.0' | '1.1' | '2';
}

/** A piece of the response body (or raw tunnel data). `fin` marks the last one. */
export interface DataMessage {
  readonly type: 'data';
  readonly ref: StreamRef;
  readonly fin: boolean;
  readonly data: Buffer;
}

/** Response trailers; they end the response. */
export interface TrailersMessage {
  readonly type: 'trailers';
  readonly ref: StreamRef;
  readonly headers: HeaderList;
}

/** An HTTP/2 server push promised on the stream `ref`; `pushRef` names the pushed stream. */
export interface PushMessage {
  readonly type: 'push';
  readonly ref: StreamRef;
  readonly pushRef: StreamRef;
  readonly method: string;
  /** `scheme://authority/path` of the pushed resource. */
  readonly url: string;
  readonly headers: HeaderList;
}

/** The stream switched protocols (HTTP/1.1 101); data messages carry the new protocol's bytes. */
export interface UpgradeMessage {
  readonly type: 'upgrade';
  readonly ref: StreamRef;
  readonly protocols: readonly string[];
  readonly headers: HeaderList;
}

/**
 * A WebSocket frame as a stream receives it: a whole text or binary message
 * (fragments joined, decompressed), a ping, a pong, or a close with its code
 * and reason.
 */
export type WsFrame =
  | { readonly type: 'text'; readonly data: string }
  | { readonly type: 'binary'; readonly data: Buffer }
  | { readonly type: 'ping'; readonly data: Buffer }
  | { readonly type: 'pong'; readonly data: Buffer }
  /** `code` undefined: the close frame had no status (1005). */
  | { readonly type: 'close'; readonly code: number | undefined; readonly reason: string };

/** A WebSocket frame received on the stream `ref` (after its `upgrade`). A close frame is the stream's last message. */
export interface WsMessage {
  readonly type: 'ws';
  readonly ref: StreamRef;
  readonly frame: WsFrame;
}

/** A tunnel layer came up on the stream `ref`, speaking `protocol`. */
export interface UpMessage {
  readonly type: 'up';
  readonly ref: StreamRef;
  readonly protocol: string;
}

/** The stream failed; no more messages follow for it. */
export interface ErrorMessage {
  readonly type: 'error';
  readonly ref: StreamRef;
  readonly error: BurrowError;
}

/** Every per-stream message. */
export type StreamMessage =
  | InformMessage
  | ResponseMessage
  | DataMessage
  | TrailersMessage
  | PushMessage
  | UpgradeMessage
  | WsMessage
  | UpMessage
  | ErrorMessage;

/** True when `m` is the last message its stream will receive. */
export function isFinal(m: StreamMessage): boolean {
  switch (m.type) {
    case 'response':
    case 'data':
      return m.fin;
    case 'trailers':
    case 'error':
      return true;
    case 'ws':
      return m.frame.type === 'close';
    default:
      return false;
  }
}

/** HTTP/2 settings as reported by the peer. */
export interface Http2SettingsReport {
  readonly headerTableSize?: number | undefined;
  readonly enablePush?: boolean | undefined;
  readonly maxConcurrentStreams?: number | undefined;
  readonly initialWindowSize?: number | undefined;
  readonly maxFrameSize?: number | undefined;
  readonly maxHeaderListSize?: number | undefined;
  readonly enableConnectProtocol?: boolean | undefined;
}

/** Connection-level notifications. */
export type Notification =
  | { readonly type: 'settings'; readonly settings: Http2SettingsReport; readonly tunnel?: StreamRef | undefined }
  | { readonly type: 'ping-ack'; readonly id: number; readonly rttMs: number; readonly tunnel?: StreamRef | undefined };

/** Payload of the connection's `up` event. */
export interface UpEvent {
  readonly protocol: LayerProtocolName;
  /** SOCKS5 servers traversed (given in `open()`'s `protocols`), first first. */
  readonly intermediaries: readonly IntermediaryInfo[];
}

/** Payload of the connection's `down` event. */
export interface DownEvent {
  readonly protocol: LayerProtocolName;
  /** Why the connection went down. */
  readonly reason: BurrowError;
  /** The streams that were open and got an error message. */
  readonly killedStreams: readonly StreamRef[];
  /** True when the connection will try to reconnect. */
  readonly willRetry: boolean;
}
