/**
 * One family of typed errors for the whole library.
 *
 * Every failure burrow reports is a {@link BurrowError}: it carries a stable
 * machine-readable `code`, the `stage` at which it happened, the `hop` it
 * concerns (when a network endpoint is involved) and the original `cause`.
 * The full list of codes is in `docs/errors.md`.
 */

/** The stage of a connection or request at which a failure happened. */
export type ErrorStage =
  | 'options'
  | 'dns'
  | 'tcp'
  | 'tls'
  | 'connect-response'
  | 'socks-auth'
  | 'socks-reply'
  | 'http'
  | 'timeout'
  | 'websocket'
  | 'state'
  | 'pac'
  | 'route';

/** The kind of endpoint a hop is. */
export type HopKind = 'origin' | 'connect' | 'socks5' | 'socks4';

/** Identifies one hop of a connection: its position, kind and address. */
export interface HopInfo {
  /** Position in the chain, 0 for the first hop the connection dials. */
  readonly index: number;
  /** What this hop is. */
  readonly kind: HopKind;
  /** Host name or IP address of the hop. */
  readonly host: string;
  /** TCP port of the hop. */
  readonly port: number;
  /** Transport used to reach it. */
  readonly transport: 'tcp' | 'tls';
  /**
   * The Unix domain socket the hop was reached by (`open({ path })`,
   * `request(url, { socketPath })`), instead of TCP to `host:port`; only ever
   * on the first hop. `host` and `port` are then what requests name (the
   * `host` header, TLS's server name).
   */
  readonly path?: string;
}

/** Stable error codes. See `docs/errors.md` for what each one means. */
export type ErrorCode =
  | 'ERR_INVALID_OPTION'
  | 'ERR_INVALID_HEADER'
  | 'ERR_INVALID_REQUEST'
  | 'ERR_DNS'
  | 'ERR_LOOKUP_TIMEOUT'
  | 'ERR_CONNECT'
  | 'ERR_CONNECT_TIMEOUT'
  | 'ERR_TLS'
  | 'ERR_TLS_HANDSHAKE_TIMEOUT'
  | 'ERR_ALPN'
  | 'ERR_HTTP_PARSE'
  | 'ERR_HEADER_BLOCK_TOO_LARGE'
  | 'ERR_TRAILER_BLOCK_TOO_LARGE'
  | 'ERR_TOO_MANY_HEADERS'
  | 'ERR_CONFLICTING_CONTENT_LENGTH'
  | 'ERR_UNEXPECTED_101'
  | 'ERR_BODY_LENGTH'
  | 'ERR_HTTP2'
  | 'ERR_STREAM_RESET'
  | 'ERR_GOAWAY'
  | 'ERR_TOO_MANY_STREAMS'
  | 'ERR_KEEPALIVE_TIMEOUT'
  | 'ERR_CONNECTION_CLOSED'
  | 'ERR_CLOSING'
  | 'ERR_STREAM_CANCELED'
  | 'ERR_STREAM_NOT_FOUND'
  | 'ERR_STREAM_CLOSED'
  | 'ERR_NOT_A_TUNNEL'
  | 'ERR_PING_UNSUPPORTED'
  | 'ERR_BAD_STATE'
  | 'ERR_AWAIT_TIMEOUT'
  | 'ERR_NOT_CONNECTED'
  | 'ERR_CLOSED'
  | 'ERR_SOCKS_AUTH'
  | 'ERR_SOCKS_NO_ACCEPTABLE_METHOD'
  | 'ERR_SOCKS_REPLY'
  | 'ERR_SOCKS_PROTOCOL'
  | 'ERR_SOCKS_TIMEOUT'
  | 'ERR_CONNECT_RESPONSE_TIMEOUT'
  | 'ERR_TUNNEL_CLOSED'
  | 'ERR_CONNECT_STATUS'
  | 'ERR_PROXY_AUTH'
  | 'ERR_ABORTED'
  | 'ERR_HEADERS_TIMEOUT'
  | 'ERR_REQUEST_TIMEOUT'
  | 'ERR_DECOMPRESS'
  | 'ERR_RESPONSE_TOO_LARGE'
  | 'ERR_TOO_MANY_REDIRECTS'
  | 'ERR_REDIRECT_LOCATION'
  | 'ERR_REDIRECT_REFUSED'
  | 'ERR_BODY_NOT_REPLAYABLE'
  | 'ERR_CALLBACK'
  | 'ERR_WS_HANDSHAKE'
  | 'ERR_WS_UNSUPPORTED'
  | 'ERR_WS_PROTOCOL'
  | 'ERR_WS_CLOSED'
  | 'ERR_WS_CLOSE_TIMEOUT'
  | 'ERR_SSE_EVENT_TOO_LARGE'
  | 'ERR_EVENT_SOURCE'
  | 'ERR_PAC_FETCH'
  | 'ERR_PAC_SCRIPT'
  | 'ERR_PAC_TIMEOUT'
  | 'ERR_PAC_RESULT'
  | 'ERR_PAC_UNSUPPORTED'
  | 'ERR_ALL_ROUTES_FAILED';

/** Options accepted by the {@link BurrowError} constructor. */
export interface BurrowErrorOptions {
  /** The stage at which the failure happened. */
  stage: ErrorStage;
  /** The hop concerned, when the failure concerns a network endpoint. */
  hop?: HopInfo | undefined;
  /** The underlying error, kept as `cause`. */
  cause?: unknown;
  /** Extra structured details (status code, HTTP/2 error name, option name...). */
  details?: Readonly<Record<string, string | number | boolean>> | undefined;
  /** The HTTP answer that made the failure, when one did. */
  response?: ErrorResponse | undefined;
}

/** The status and headers of an answer that made a failure (a refused CONNECT or WebSocket handshake). */
export interface ErrorResponse {
  readonly status: number;
  readonly headers: ReadonlyArray<readonly [string, string]>;
}

/** The error type of everything burrow reports. */
export class BurrowError extends Error {
  /** Stable machine-readable code. */
  readonly code: ErrorCode;
  /** The stage at which the failure happened. */
  readonly stage: ErrorStage;
  /** The hop concerned, when any. */
  readonly hop: HopInfo | undefined;
  /** Extra structured details. */
  readonly details: Readonly<Record<string, string | number | boolean>>;
  /** The answer that made the failure (`ERR_CONNECT_STATUS`, `ERR_WS_HANDSHAKE`), when there was one. */
  readonly response: ErrorResponse | undefined;

  /** The message without the hop prefix. */
  readonly #bare: string;

  constructor(code: ErrorCode, message: string, opts: BurrowErrorOptions) {
    super(hopPrefix(opts.hop) + message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'BurrowError';
    this.code = code;
    this.stage = opts.stage;
    this.hop = opts.hop;
    this.details = opts.details ?? {};
    this.response = opts.response;
    this.#bare = message;
  }

  /** The same error describing another hop (used where the layer above knows more about the hop). */
  withHop(hop: HopInfo): BurrowError {
    const e = new BurrowError(this.code, this.#bare, { stage: this.stage, hop, cause: this.cause, details: this.details, response: this.response });
    e.stack = this.stack;
    return e;
  }

  /** The same error with more details, `note` appended to its message (used where a layer above adds what it knows, e.g. retry attempts). */
  withDetails(details: Readonly<Record<string, string | number | boolean>>, note: string): BurrowError {
    const e = new BurrowError(this.code, `${this.#bare}${note}`, { stage: this.stage, hop: this.hop, cause: this.cause, details: { ...this.details, ...details }, response: this.response });
    e.stack = this.stack;
    return e;
  }
}

function hopPrefix(hop: HopInfo | undefined): string {
  if (hop === undefined) return '';
  if (hop.path !== undefined) return `hop ${hop.index} (${hop.kind} ${hop.transport === 'tls' ? 'tls+' : ''}unix:${hop.path}): `;
  const host = hop.host.includes(':') ? `[${hop.host}]` : hop.host;
  return `hop ${hop.index} (${hop.kind} ${hop.transport}://${host}:${hop.port}): `;
}

/** Thrown synchronously by `open()` and request calls when an option is invalid. */
export function invalidOption(name: string, why: string): BurrowError {
  return new BurrowError('ERR_INVALID_OPTION', `invalid option ${name}: ${why}`, {
    stage: 'options',
    details: { option: name },
  });
}

/** True when `e` is a {@link BurrowError}, optionally with the given code. */
export function isBurrowError(e: unknown, code?: ErrorCode): e is BurrowError {
  return e instanceof BurrowError && (code === undefined || e.code === code);
}

/**
 * Set by the HTTP/2 layer on the error of a CONNECT stream (a tunnel) that its proxy reset: the layers
 * running inside the tunnel see it as their transport's error, and {@link socketError} names the proxy.
 */
export const TUNNEL_RESET: unique symbol = Symbol('burrow.tunnelReset');

/** What {@link TUNNEL_RESET} holds. */
export interface TunnelReset {
  readonly hop: HopInfo;
  readonly h2Code: number;
  readonly h2Error: string;
}

/**
 * The error for a failed socket: a TLS alert or TLS failure after the handshake
 * (Node's `ERR_SSL_*` codes) is `ERR_TLS` at stage `tls`; anything else is
 * `ERR_CONNECTION_CLOSED` at stage `tcp`.
 */
export function socketError(err: Error, hop: HopInfo, what: string): BurrowError {
  const reset = (err as { [TUNNEL_RESET]?: TunnelReset })[TUNNEL_RESET];
  if (reset !== undefined) {
    // The layer's transport was an HTTP/2 CONNECT stream that its proxy reset: the failure is that proxy's.
    return new BurrowError('ERR_STREAM_RESET', `the proxy reset the tunnel's stream (${reset.h2Error})`, {
      stage: 'http',
      hop: reset.hop,
      cause: err,
      details: { h2Code: reset.h2Code, h2Error: reset.h2Error },
    });
  }
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && code.startsWith('ERR_SSL_')) {
    return new BurrowError('ERR_TLS', `TLS failure: ${err.message}`, { stage: 'tls', hop, cause: err });
  }
  return new BurrowError('ERR_CONNECTION_CLOSED', `${what}: ${err.message}`, { stage: 'tcp', hop, cause: err });
}
