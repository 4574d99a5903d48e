/**
 * WebSocket terms shared by the connection, the WebSocket layer and the API:
 * the frames a stream receives and sends (Gun's frame terms), and the options
 * of a WebSocket stream.
 */
import type { StreamMessage } from './messages.js';

/**
 * A frame to send with `wsSend`. `text` data may be a string or UTF-8 bytes;
 * `binary`, `ping` and `pong` data are bytes (or a string, sent as UTF-8).
 * A `close` without `code` sends an empty close frame (received as 1005).
 */
export type WsSendFrame =
  | { readonly type: 'text'; readonly data: string | Uint8Array }
  | { readonly type: 'binary'; readonly data: Uint8Array | string }
  | { readonly type: 'ping'; readonly data?: Uint8Array | string | undefined }
  | { readonly type: 'pong'; readonly data?: Uint8Array | string | undefined }
  | { readonly type: 'close'; readonly code?: number | undefined; readonly reason?: string | undefined };

/** The client's permessage-deflate options (RFC 7692). */
export interface WsDeflateOptions {
  /** Largest LZ77 window the client compresses with (`client_max_window_bits`, 8–15); default 15. */
  clientMaxWindowBits?: number;
  /** Asks the server for a smaller window (`server_max_window_bits`, 8–15); default: not asked. */
  serverMaxWindowBits?: number;
  /** The client resets its compression context after each message (`client_no_context_takeover`). */
  clientNoContextTakeover?: boolean;
  /** Asks the server to reset its context after each message (`server_no_context_takeover`). */
  serverNoContextTakeover?: boolean;
  /** zlib compression level, 0–9; default 6. */
  level?: number;
  /** Messages shorter than this many bytes are sent uncompressed; default 1024. */
  threshold?: number;
}

/**
 * A subprotocol offered in the handshake, with the function that receives the
 * stream's messages when the server chooses it (Gun's per-protocol handler).
 */
export interface WsProtocolHandler {
  readonly name: string;
  /** Receives every message of the stream from the `upgrade` on (instead of the mailbox or the request's `replyTo`). */
  readonly replyTo: (msg: StreamMessage) => void;
}

/** WebSocket options (Gun's `ws_opts`): `open({ ws })` defaults, or per `wsUpgrade`. */
export interface WsOptions {
  /** How long to wait for the server's close frame after sending one, then for the transport to close, ms; default 15000. */
  closingTimeout?: number;
  /** Offer permessage-deflate (`true`, or its parameters); default false. */
  compress?: boolean | WsDeflateOptions;
  /** Subprotocols offered, in order of preference: names, or names with a handler. */
  protocols?: ReadonlyArray<string | WsProtocolHandler>;
  /** Flow budget in messages (text and binary); default `Infinity`. */
  flow?: number;
  /** Interval in ms at which a ping is sent; default `Infinity` (off). */
  keepalive?: number;
  /** Ping and pong frames are not delivered (pings are still answered); default true. */
  silencePings?: boolean;
  /** Largest message accepted, bytes, counted after decompression (a larger one closes with 1009); default 100 MiB. */
  maxPayload?: number;
  /** How long the handshake may take (from the request to its 101 / 200), ms; default `Infinity`. */
  handshakeTimeout?: number;
}
