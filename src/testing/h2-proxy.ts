/**
 * A test HTTP/2 CONNECT proxy (RFC 9113 §8.5): h2c with prior knowledge over
 * `tcp`, or h2 over `tls` (ALPN `h2` only), built on `node:http2`.
 *
 * - A stream with `:method: CONNECT` and `:authority: host:port` (a
 *   node:http2 client refuses to send `:scheme` / `:path` with CONNECT:
 *   ERR_HTTP2_CONNECT_PATH) is answered, with the default
 *   behaviour, by connecting to the target (`localhost` means 127.0.0.1),
 *   responding `:status: 200` and relaying DATA both ways. END_STREAM from the
 *   client ends the target's writes (FIN) and the target's FIN ends the stream
 *   (END_STREAM); a target failure resets the stream with CONNECT_ERROR; a
 *   stream reset destroys the target connection.
 * - A refusal (non-2xx, 407 for missing or wrong credentials, 502 when the
 *   target cannot be reached) is a response with body `proxy says no`.
 * - Any other request gets `200` with body `proxy ok`.
 *
 * Response headers given in a behaviour go through node:http2: it throws on
 * connection-specific ones (`transfer-encoding`, `connection`...), and the
 * proxy then resets the stream with INTERNAL_ERROR; nghttp2 clients drop a
 * `content-length` on a 2xx CONNECT response before the application sees it.
 *
 * Every session gets a 16 MiB initial stream window and a 64 MiB connection
 * window, so throughput tests are not bound by flow control.
 */
import * as http2 from 'node:http2';
import * as net from 'node:net';
import type { ConnectBehavior } from './connect-proxy.js';
import { Listener, serverUrl, tlsServerOptions } from './listen.js';
import { createTestPki, type TestPki } from './pki.js';
import { connectTarget } from './relay.js';
import type { ProxyAuthGate } from './auth-gate.js';

/** What the proxy does with one CONNECT stream. Everything is optional; the default tunnels. */
export interface H2ConnectBehavior extends Pick<ConnectBehavior, 'status' | 'headers' | 'delayMs' | 'neverAnswer' | 'refuseTarget' | 'extraBytes'> {
  /** Resets the CONNECT stream with RST_STREAM CONNECT_ERROR instead of responding. */
  rst?: boolean;
}

/** One CONNECT stream the proxy received. */
export interface H2ProxyConnectRequest {
  /** `:authority` as sent. */
  readonly authority: string;
  /** The target host, without brackets (`::1`); `''` when `:authority` is not `host:port`. */
  readonly host: string;
  /** The target port; 0 when `:authority` is not `host:port`. */
  readonly port: number;
  /** Header pairs in arrival order (lowercase names), pseudo-headers first. */
  readonly headers: Array<[string, string]>;
  /** Sequence number (1, 2...) of the HTTP/2 session that carried it. */
  readonly sessionId: number;
  /** The stream id within its session. */
  readonly streamId: number;
}

/** Options of {@link startH2ConnectProxy}. */
export interface StartH2ConnectProxyOptions {
  /** `tcp` (h2c, default) or `tls` (h2). */
  transport?: 'tcp' | 'tls';
  /** Certificates for `tls`; a new {@link createTestPki} is made when omitted. */
  pki?: TestPki;
  /** Address to listen on, default `127.0.0.1`. */
  host?: string;
  /** SETTINGS_MAX_CONCURRENT_STREAMS announced to clients (default: node's, unlimited). */
  maxConcurrentStreams?: number;
  /**
   * Require `proxy-authorization: Basic` with these credentials on CONNECT, else 407 with `proxy-authenticate`;
   * or a gate deciding each CONNECT (`digestGate`, `ntlmGate`; `close` is ignored: a stream has no connection to close).
   */
  auth?: { username: string; password: string } | ProxyAuthGate;
  /** The behaviour of every CONNECT, or a function choosing it per stream (after authentication). */
  behavior?: H2ConnectBehavior | ((req: H2ProxyConnectRequest) => H2ConnectBehavior);
}

/** A running HTTP/2 CONNECT proxy, see {@link startH2ConnectProxy}. */
export interface TestH2ConnectProxy {
  readonly host: string;
  readonly port: number;
  readonly transport: 'tcp' | 'tls';
  /** `http://127.0.0.1:PORT` or `https://...`, IPv6 bracketed, no trailing slash. */
  readonly url: string;
  /** The certificates of a `tls` proxy (the ones given or made). */
  readonly pki: TestPki | undefined;
  /** CONNECT streams received so far, in arrival order. */
  readonly requests: H2ProxyConnectRequest[];
  /** HTTP/2 sessions accepted so far. */
  readonly sessions: number;
  /** Streams received so far, CONNECT or not. */
  readonly streams: number;
  /** Stops listening, destroys every session, connection and tunnel, resolves when all are closed. */
  close(): Promise<void>;
}

const REFUSAL_BODY = 'proxy says no';
const STATUS_BODY = 'proxy ok';
const INITIAL_WINDOW_SIZE = 16 * 1024 * 1024;
const CONNECTION_WINDOW_SIZE = 64 * 1024 * 1024;
const { NGHTTP2_CONNECT_ERROR, NGHTTP2_INTERNAL_ERROR } = http2.constants;

function noop(): void {}

/** Splits an authority (`host:port`, `[v6]:port`) or returns undefined. */
function parseAuthority(authority: string): { host: string; port: number } | undefined {
  const m = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(authority) ?? /^([^\s:[\]/@]+):(\d{1,5})$/.exec(authority);
  if (m === null) return undefined;
  const host = m[1] as string;
  const port = Number(m[2]);
  if (port < 1 || port > 65535 || (authority.startsWith('[') && !net.isIPv6(host))) return undefined;
  return { host, port };
}

function authorized(headers: http2.IncomingHttpHeaders, auth: { username: string; password: string }): boolean {
  const expected = Buffer.from(`${auth.username}:${auth.password}`, 'utf8').toString('base64');
  const value = headers['proxy-authorization'];
  const m = typeof value === 'string' ? /^basic\s+(\S+)$/i.exec(value.trim()) : null;
  return m !== null && m[1] === expected;
}

function outgoing(status: number, extra: H2ConnectBehavior['headers']): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = { ':status': status };
  const list = extra === undefined ? [] : Array.isArray(extra) ? (extra as Array<readonly [string, string]>) : Object.entries(extra as Record<string, string>);
  for (const [k, v] of list) {
    const name = k.toLowerCase();
    const prev = out[name];
    out[name] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [String(prev), v];
  }
  return out;
}

/** Responds with a text body and ends the stream. */
function refuse(stream: http2.ServerHttp2Stream, status: number, extra: H2ConnectBehavior['headers'] = [], body = REFUSAL_BODY): void {
  if (stream.closed || stream.destroyed) return;
  const headers = { ...outgoing(status, extra), 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) };
  stream.respond(headers);
  stream.end(body);
}

/** Resolves after `ms`, or as soon as `stream` closes (true when the wait ran its course). */
function delay(ms: number, stream: http2.ServerHttp2Stream): Promise<boolean> {
  if (stream.closed || stream.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onClose = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      stream.off('close', onClose);
      resolve(true);
    }, ms);
    stream.once('close', onClose);
  });
}

/** Relays DATA both ways; a target failure resets the stream, a closed stream destroys the target. */
function relay(stream: http2.ServerHttp2Stream, target: net.Socket): void {
  const fail = (): void => {
    if (!stream.closed && !stream.destroyed) stream.close(NGHTTP2_CONNECT_ERROR);
    target.destroy();
  };
  target.on('error', fail);
  target.once('close', (hadError: boolean) => {
    if (hadError) fail();
  });
  stream.once('close', () => target.destroy());
  target.pipe(stream);
  stream.pipe(target);
}

interface ProxyContext {
  readonly auth: StartH2ConnectProxyOptions['auth'];
  readonly behavior: StartH2ConnectProxyOptions['behavior'];
  /** Tracks the tunnels' targets. */
  readonly listener: Listener;
}

async function answerConnect(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, req: H2ProxyConnectRequest, ctx: ProxyContext): Promise<void> {
  if (req.port === 0) return refuse(stream, 400);
  if (typeof ctx.auth === 'function') {
    const refusal = ctx.auth({ headers: req.headers, connection: req.sessionId });
    if (refusal !== undefined) return refuse(stream, 407, refusal.challenges.map((c) => ['proxy-authenticate', c] as const));
  } else if (ctx.auth !== undefined && !authorized(headers, ctx.auth)) {
    return refuse(stream, 407, [['proxy-authenticate', 'Basic realm="burrow test proxy"']]);
  }
  const b = (typeof ctx.behavior === 'function' ? ctx.behavior(req) : ctx.behavior) ?? {};
  if (b.delayMs !== undefined && b.delayMs > 0 && !(await delay(b.delayMs, stream))) return;
  if (b.rst === true) {
    stream.close(NGHTTP2_CONNECT_ERROR);
    return;
  }
  if (b.neverAnswer === true) return;
  if (b.refuseTarget === true) return refuse(stream, 502);
  const status = b.status ?? 200;
  if (status < 200 || status > 299) return refuse(stream, status, b.headers);
  const target = await connectTarget(req.host, req.port, ctx.listener);
  if (target instanceof Error) return refuse(stream, 502);
  if (stream.closed || stream.destroyed) {
    target.destroy();
    return;
  }
  try {
    stream.respond(outgoing(status, b.headers));
  } catch (e) {
    // node:http2 refuses connection-specific headers (transfer-encoding, connection...).
    target.destroy();
    throw e;
  }
  if (b.extraBytes !== undefined) stream.write(typeof b.extraBytes === 'string' ? Buffer.from(b.extraBytes, 'latin1') : b.extraBytes);
  relay(stream, target);
}

/** Starts an HTTP/2 CONNECT proxy. */
export async function startH2ConnectProxy(opts: StartH2ConnectProxyOptions = {}): Promise<TestH2ConnectProxy> {
  const transport = opts.transport ?? 'tcp';
  const host = opts.host ?? '127.0.0.1';
  const requests: H2ProxyConnectRequest[] = [];
  const sessionIds = new WeakMap<http2.Http2Session, number>();
  // settle: close() waits a turn before destroying sessions, for a node:http2 bug (see ListenerOptions.settle).
  const listener = new Listener('h2 proxy', { settle: true });
  const ctx: ProxyContext = { auth: opts.auth, behavior: opts.behavior, listener };
  let sessions = 0;
  let streams = 0;
  let pki: TestPki | undefined;

  const settings: http2.Settings = { initialWindowSize: INITIAL_WINDOW_SIZE };
  if (opts.maxConcurrentStreams !== undefined) settings.maxConcurrentStreams = opts.maxConcurrentStreams;
  let server: http2.Http2Server | http2.Http2SecureServer;
  if (transport === 'tls') {
    pki = opts.pki ?? createTestPki();
    server = http2.createSecureServer({ ...tlsServerOptions(pki), settings });
  } else if (transport === 'tcp') {
    server = http2.createServer({ settings });
  } else {
    throw new TypeError(`invalid transport ${String(transport)}`);
  }
  server.on('session', (session: http2.ServerHttp2Session) => {
    sessionIds.set(session, ++sessions);
    listener.trackSession(session);
    session.setLocalWindowSize(CONNECTION_WINDOW_SIZE);
  });
  server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, _flags: number, rawHeaders: readonly string[]) => {
    streams++;
    stream.on('error', noop);
    if (headers[':method'] !== 'CONNECT') {
      refuse(stream, 200, [], STATUS_BODY);
      return;
    }
    const authority = headers[':authority'] ?? '';
    const target = parseAuthority(authority);
    const pairs: Array<[string, string]> = [];
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) pairs.push([rawHeaders[i] as string, rawHeaders[i + 1] as string]);
    const req: H2ProxyConnectRequest = {
      authority,
      host: target?.host ?? '',
      port: target?.port ?? 0,
      headers: pairs,
      sessionId: stream.session === undefined ? 0 : (sessionIds.get(stream.session) ?? 0),
      streamId: stream.id ?? 0,
    };
    requests.push(req);
    answerConnect(stream, headers, req, ctx).catch(() => {
      if (!stream.closed && !stream.destroyed) stream.close(NGHTTP2_INTERNAL_ERROR);
    });
  });

  const port = await listener.listen(server, host);
  return {
    host,
    port,
    transport,
    url: serverUrl(transport === 'tls' ? 'https' : 'http', host, port),
    pki,
    requests,
    get sessions() {
      return sessions;
    },
    get streams() {
      return streams;
    },
    close: () => listener.close(),
  };
}
