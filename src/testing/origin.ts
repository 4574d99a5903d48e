/**
 * A test origin server: HTTP/1.1 or HTTP/2, over TCP or TLS, with a fixed set
 * of routes that behave the same on both protocols.
 *
 * - `http` + `tcp`: `node:http`.
 * - `http` + `tls`: `node:https`, offering the `alpn` list given (default `['http/1.1']`).
 * - `http2` + `tcp`: `node:http2` `createServer` (h2c with prior knowledge only).
 * - `http2` + `tls`: a `node:tls` server offering exactly the `alpn` list
 *   (default `['h2', 'http/1.1']`) that hands each connection to a `node:http2`
 *   server when `h2` was negotiated and to a `node:http` server otherwise (only
 *   when `alpn` includes `http/1.1`; a connection without ALPN is then served as
 *   HTTP/1.1 too). This is what `http2.createSecureServer({ allowHTTP1 })` does,
 *   except that the offered ALPN list is honoured exactly (createSecureServer
 *   always offers `['h2']` or `['h2', 'http/1.1']`).
 *
 * Routes (method-independent unless noted; the query string is ignored):
 *
 * | path | response |
 * | --- | --- |
 * | `/` | 200 `hello` |
 * | `/echo` | 200 JSON `{ method, path, headers, body, bodyLength, httpVersion }` |
 * | `/bytes/N` | 200, N bytes, byte i = i % 251, 64 KiB writes with backpressure, content-length |
 * | `/chunked` | 200 `a` `bb` `ccc` in three writes, no content-length |
 * | `/trailers` | 200 `body` then trailer `x-checksum: abc` |
 * | `/status/N` | status N (200-599) with body `status N`; no body for 204, 205 and 304 |
 * | `/inform` | 103 with `link: </style.css>; rel=preload`, then 200 `informed` |
 * | `/delay/MS` | 200 `delayed` after MS milliseconds |
 * | `/never` | no response until the client goes away or the server closes |
 * | `/push`, `/push-other` | HTTP/2: pushes `/pushed` (body `pushed`; `:authority` `other.example` for `/push-other`), then 200 `parent` |
 * | `/close` | HTTP/1.1: 200 `bye` with `connection: close`, then the socket is ended |
 * | `/headers-count/N` | 200 `ok` with N extra headers `x-h-0: 0` ... `x-h-(N-1): N-1` |
 * | `/slow-body/N` | 200, N chunks of 1 KiB 10 ms apart, content-length N * 1024 |
 * | `/goaway` | HTTP/2: 200 `ok`, then GOAWAY (NO_ERROR, last stream id = this stream) |
 * | `/rst` | HTTP/2: RST_STREAM INTERNAL_ERROR without a response; HTTP/1.1: the socket is destroyed without a response |
 * | anything else | 404 `not found` (also the HTTP/2-only routes on HTTP/1.1 and `/close` on HTTP/2) |
 *
 * Text bodies are `text/plain; charset=utf-8` with a content-length. HEAD
 * requests get the same head without a body.
 */
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as https from 'node:https';
import type * as net from 'node:net';
import * as tls from 'node:tls';
import { Listener, serverUrl, tlsServerOptions } from './listen.js';
import { createTestPki, type TestPki } from './pki.js';

/** HTTP version an origin speaks. */
export type OriginProtocol = 'http' | 'http2';
/** Transport an origin listens on. */
export type OriginTransport = 'tcp' | 'tls';

/** Options of {@link startOrigin}. */
export interface StartOriginOptions {
  /** `http` (HTTP/1.1) or `http2`. */
  protocol: OriginProtocol;
  /** `tcp` (cleartext) or `tls`. */
  transport: OriginTransport;
  /** Certificates for `tls`; a new {@link createTestPki} is made when omitted. */
  pki?: TestPki;
  /**
   * For `tls`: the ALPN protocols the server offers, in its order of
   * preference. Default `['h2', 'http/1.1']` for http2, `['http/1.1']` for
   * http. An empty list offers no ALPN at all.
   */
  alpn?: readonly string[];
  /** Address to listen on, default `127.0.0.1` (`::1` for IPv6). */
  host?: string;
  /** For `tls`: require a client certificate signed by `pki.ca`. */
  requestCert?: boolean;
  /** For `http2`: the SETTINGS_MAX_CONCURRENT_STREAMS the server announces. */
  maxConcurrentStreams?: number;
}

/** One request the origin received, recorded when its head arrived. */
export interface OriginRequest {
  readonly method: string;
  /** The request target as sent (`:path` for HTTP/2). */
  readonly path: string;
  /**
   * Header pairs in arrival order, names as sent (HTTP/2 names are lowercase
   * and the list starts with the pseudo-headers `:method`, `:path`...).
   */
  readonly headers: Array<[string, string]>;
  /** `1.1`, `1.0` or `2.0`. */
  readonly httpVersion: string;
  /** The ALPN protocol negotiated on a TLS connection, when any. */
  readonly alpn?: string;
  /** The `host` header (HTTP/1) or `:authority` (HTTP/2), when sent. */
  readonly authority?: string;
  /** Sequence number (1, 2...) of the TCP connection that carried it, in accept order. */
  readonly connectionId: number;
  /** The client's source port. */
  readonly remotePort: number;
}

/** A running origin, see {@link startOrigin}. */
export interface TestOrigin {
  /** The address it listens on (`127.0.0.1`, `::1`...). */
  readonly host: string;
  readonly port: number;
  readonly transport: OriginTransport;
  readonly protocol: OriginProtocol;
  /** `http://127.0.0.1:PORT` or `https://...`, IPv6 bracketed, no trailing slash. */
  readonly url: string;
  /** The certificates of a `tls` origin (the ones given or made). */
  readonly pki: TestPki | undefined;
  /** Requests received so far, in arrival order. */
  readonly requests: OriginRequest[];
  /** TCP connections accepted so far. */
  readonly connections: number;
  /** Stops listening, destroys every connection and session, resolves when all are closed. */
  close(): Promise<void>;
}

const TEXT = 'text/plain; charset=utf-8';
const CHUNK = 64 * 1024;
const PATTERN_MOD = 251;
const PATTERN = Buffer.alloc(CHUNK + PATTERN_MOD, 0);
for (let i = 0; i < PATTERN.length; i++) PATTERN[i] = i % PATTERN_MOD;
const MAX_HEADERS_COUNT = 100_000;
const EARLY_HINT_LINK = '</style.css>; rel=preload';

type HeaderValues = Record<string, string | number>;

/** One request/response exchange, independent of the HTTP version. */
interface Exchange {
  readonly method: string;
  readonly path: string;
  readonly httpVersion: string;
  readonly headers: Array<[string, string]>;
  readonly h2: { readonly stream: http2.ServerHttp2Stream; readonly session: http2.ServerHttp2Session } | undefined;
  /** True once the response is finished or the client went away. */
  readonly closed: boolean;
  /** Runs `cb` once when the exchange closes (normally or not). */
  onClose(cb: () => void): void;
  readBody(): Promise<Buffer>;
  discardBody(): void;
  info(headers: HeaderValues): void;
  respond(status: number, headers: HeaderValues, trailers?: HeaderValues): void;
  /** Writes a body chunk; resolves when more may be written (after 'drain' if needed). */
  write(chunk: Buffer | string): Promise<void>;
  end(chunk?: Buffer | string): void;
  /** Abandons the exchange without a (complete) response. */
  abort(): void;
}

function pairs(raw: readonly string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i] as string, raw[i + 1] as string]);
  return out;
}

function drained(stream: NodeJS.EventEmitter): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}

function collect(readable: NodeJS.ReadableStream & NodeJS.EventEmitter): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    readable.on('data', (c: Buffer) => chunks.push(c));
    readable.once('end', () => resolve(Buffer.concat(chunks)));
    readable.once('error', reject);
    readable.once('close', () => reject(new Error('request aborted')));
  });
}

class H1Exchange implements Exchange {
  readonly h2 = undefined;
  readonly method: string;
  readonly path: string;
  readonly httpVersion: string;
  readonly headers: Array<[string, string]>;
  private trailers: HeaderValues | undefined;
  private resClosed = false;

  constructor(
    private readonly req: http.IncomingMessage,
    private readonly res: http.ServerResponse,
  ) {
    this.method = req.method ?? '';
    this.path = req.url ?? '';
    this.httpVersion = req.httpVersion;
    this.headers = pairs(req.rawHeaders);
    req.on('error', noop);
    res.on('error', noop);
    res.once('close', () => {
      this.resClosed = true;
    });
  }

  get closed(): boolean {
    return this.resClosed || this.res.writableEnded;
  }
  onClose(cb: () => void): void {
    if (this.resClosed) cb();
    else this.res.once('close', cb);
  }
  readBody(): Promise<Buffer> {
    return collect(this.req);
  }
  discardBody(): void {
    this.req.resume();
  }
  info(headers: HeaderValues): void {
    this.res.writeEarlyHints(Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, String(v)])));
  }
  respond(status: number, headers: HeaderValues, trailers?: HeaderValues): void {
    if (trailers !== undefined) {
      this.trailers = trailers;
      headers = { ...headers, trailer: Object.keys(trailers).join(', ') };
    }
    this.res.writeHead(status, headers);
  }
  write(chunk: Buffer | string): Promise<void> {
    if (this.closed) return Promise.resolve();
    return this.res.write(chunk) ? Promise.resolve() : drained(this.res);
  }
  end(chunk?: Buffer | string): void {
    if (this.closed) return;
    if (this.trailers !== undefined) this.res.addTrailers(Object.fromEntries(Object.entries(this.trailers).map(([k, v]) => [k, String(v)])));
    if (chunk === undefined) this.res.end();
    else this.res.end(chunk);
  }
  abort(): void {
    this.req.socket.destroy();
  }
  /** Ends the response with `connection: close` and then the socket. */
  closeConnection(body: string): void {
    const socket = this.req.socket;
    this.res.writeHead(200, { 'content-type': TEXT, 'content-length': Buffer.byteLength(body), connection: 'close' });
    this.res.end(body, () => socket.end());
  }
}

class H2Exchange implements Exchange {
  readonly method: string;
  readonly path: string;
  readonly httpVersion = '2.0';
  readonly headers: Array<[string, string]>;
  readonly h2: { readonly stream: http2.ServerHttp2Stream; readonly session: http2.ServerHttp2Session };
  private bodyless = false;
  private ended = false;

  constructor(
    private readonly stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    rawHeaders: readonly string[],
  ) {
    this.method = headers[':method'] ?? '';
    this.path = headers[':path'] ?? '';
    this.headers = pairs(rawHeaders);
    this.h2 = { stream, session: stream.session as http2.ServerHttp2Session };
  }

  get closed(): boolean {
    // Not writableEnded: node:http2 ends the writable side of a HEAD request's stream on arrival.
    return this.stream.closed || this.stream.destroyed || this.ended;
  }
  onClose(cb: () => void): void {
    if (this.stream.closed || this.stream.destroyed) cb();
    else this.stream.once('close', cb);
  }
  readBody(): Promise<Buffer> {
    return collect(this.stream);
  }
  discardBody(): void {
    this.stream.resume();
  }
  info(headers: HeaderValues): void {
    if (!this.closed) this.stream.additionalHeaders({ ':status': 103, ...headers });
  }
  respond(status: number, headers: HeaderValues, trailers?: HeaderValues): void {
    if (this.closed) return;
    // node:http2 ends the stream itself for these (and rejects later writes).
    this.bodyless = this.method === 'HEAD' || status === 204 || status === 205 || status === 304;
    if (trailers !== undefined && !this.bodyless) {
      this.stream.once('wantTrailers', () => this.stream.sendTrailers(trailers));
      this.stream.respond({ ':status': status, ...headers }, { waitForTrailers: true });
    } else {
      this.stream.respond({ ':status': status, ...headers });
    }
  }
  write(chunk: Buffer | string): Promise<void> {
    if (this.closed || this.bodyless) return Promise.resolve();
    return this.stream.write(chunk) ? Promise.resolve() : drained(this.stream);
  }
  end(chunk?: Buffer | string): void {
    if (this.closed) return;
    this.ended = true;
    if (this.bodyless) return;
    if (chunk === undefined) this.stream.end();
    else this.stream.end(chunk);
  }
  abort(): void {
    if (!this.stream.destroyed) this.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  }
}

function noop(): void {}

function text(ex: Exchange, status: number, body: string, extra: HeaderValues = {}): void {
  ex.respond(status, { 'content-type': TEXT, 'content-length': Buffer.byteLength(body), ...extra });
  ex.end(body);
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Resolves after `ms`, or at once when the exchange closes (the timer is then cleared). */
function sleepUnlessClosed(ex: Exchange, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    ex.onClose(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function pathnameOf(target: string): string {
  if (target.startsWith('/')) {
    const q = target.search(/[?#]/);
    return q === -1 ? target : target.slice(0, q);
  }
  try {
    return new URL(target).pathname;
  } catch {
    return target;
  }
}

function numberParam(pathname: string, prefix: string): number | undefined {
  if (!pathname.startsWith(prefix)) return undefined;
  const s = pathname.slice(prefix.length);
  if (!/^\d{1,15}$/.test(s)) return undefined;
  return Number(s);
}

async function route(ex: Exchange): Promise<void> {
  const p = pathnameOf(ex.path);
  if (p === '/echo') {
    const body = await ex.readBody();
    const json = JSON.stringify({
      method: ex.method,
      path: ex.path,
      headers: ex.headers,
      body: body.toString('utf8'),
      bodyLength: body.length,
      httpVersion: ex.httpVersion,
    });
    text(ex, 200, json, { 'content-type': 'application/json' });
    return;
  }
  ex.discardBody();
  if (p === '/') return text(ex, 200, 'hello');

  let n: number | undefined;
  if ((n = numberParam(p, '/bytes/')) !== undefined) {
    ex.respond(200, { 'content-type': 'application/octet-stream', 'content-length': n });
    for (let off = 0; off < n && !ex.closed; off += CHUNK) {
      const len = Math.min(CHUNK, n - off);
      const start = off % PATTERN_MOD;
      await ex.write(PATTERN.subarray(start, start + len));
    }
    ex.end();
    return;
  }
  if (p === '/chunked') {
    ex.respond(200, { 'content-type': TEXT });
    for (const piece of ['a', 'bb', 'ccc']) {
      await ex.write(piece);
      await nextTurn();
    }
    ex.end();
    return;
  }
  if (p === '/trailers') {
    ex.respond(200, { 'content-type': TEXT }, { 'x-checksum': 'abc' });
    ex.end('body');
    return;
  }
  if ((n = numberParam(p, '/status/')) !== undefined) {
    if (n < 200 || n > 599) return text(ex, 400, 'status must be 200-599');
    if (n === 204 || n === 205 || n === 304) {
      ex.respond(n, {});
      ex.end();
      return;
    }
    return text(ex, n, `status ${n}`);
  }
  if (p === '/inform') {
    ex.info({ link: EARLY_HINT_LINK });
    return text(ex, 200, 'informed');
  }
  if ((n = numberParam(p, '/delay/')) !== undefined) {
    await sleepUnlessClosed(ex, n);
    if (!ex.closed) text(ex, 200, 'delayed');
    return;
  }
  if (p === '/never') return;
  if ((n = numberParam(p, '/headers-count/')) !== undefined) {
    if (n > MAX_HEADERS_COUNT) return text(ex, 400, `at most ${MAX_HEADERS_COUNT} headers`);
    const extra: HeaderValues = {};
    for (let i = 0; i < n; i++) extra[`x-h-${i}`] = String(i);
    return text(ex, 200, 'ok', extra);
  }
  if ((n = numberParam(p, '/slow-body/')) !== undefined) {
    ex.respond(200, { 'content-type': 'application/octet-stream', 'content-length': n * 1024 });
    for (let i = 0; i < n && !ex.closed; i++) {
      if (i > 0) await sleepUnlessClosed(ex, 10);
      await ex.write(Buffer.alloc(1024, 0x61 + (i % 26)));
    }
    ex.end();
    return;
  }
  if (p === '/rst') {
    ex.abort();
    return;
  }
  const h2 = ex.h2;
  if (h2 !== undefined && (p === '/push' || p === '/push-other')) {
    const { stream } = h2;
    if (!stream.pushAllowed) return text(ex, 200, 'parent');
    const pushHeaders: http2.OutgoingHttpHeaders = { ':path': '/pushed' };
    if (p === '/push-other') pushHeaders[':authority'] = 'other.example';
    await new Promise<void>((resolve) => {
      stream.pushStream(pushHeaders, (err, push) => {
        if (err === null) {
          push.on('error', noop);
          push.respond({ ':status': 200, 'content-type': TEXT, 'content-length': 6 });
          push.end('pushed');
        }
        resolve();
      });
    });
    return text(ex, 200, 'parent');
  }
  if (h2 !== undefined && p === '/goaway') {
    const { stream, session } = h2;
    text(ex, 200, 'ok');
    stream.once('close', () => {
      if (!session.destroyed && !session.closed) session.goaway(http2.constants.NGHTTP2_NO_ERROR, stream.id);
    });
    return;
  }
  if (ex instanceof H1Exchange && p === '/close') return ex.closeConnection('bye');
  return text(ex, 404, 'not found');
}

function handle(ex: Exchange): void {
  route(ex).catch(() => {
    if (!ex.closed) ex.abort();
  });
}

/** Starts a test origin; see the module documentation for its routes. */
export async function startOrigin(opts: StartOriginOptions): Promise<TestOrigin> {
  const { protocol, transport } = opts;
  if (protocol !== 'http' && protocol !== 'http2') throw new TypeError(`invalid protocol ${String(protocol)}`);
  if (transport !== 'tcp' && transport !== 'tls') throw new TypeError(`invalid transport ${String(transport)}`);
  const host = opts.host ?? '127.0.0.1';
  const pki = transport === 'tls' ? (opts.pki ?? createTestPki()) : undefined;
  const alpn = [...(opts.alpn ?? (protocol === 'http2' ? ['h2', 'http/1.1'] : ['http/1.1']))];

  const requests: OriginRequest[] = [];
  const listener = new Listener('origin');

  const record = (ex: Exchange, socket: net.Socket, authority: string | undefined): void => {
    const alpnProtocol = socket instanceof tls.TLSSocket && typeof socket.alpnProtocol === 'string' ? socket.alpnProtocol : undefined;
    requests.push({
      method: ex.method,
      path: ex.path,
      headers: ex.headers,
      httpVersion: ex.httpVersion,
      ...(alpnProtocol !== undefined ? { alpn: alpnProtocol } : {}),
      ...(authority !== undefined ? { authority } : {}),
      connectionId: listener.connectionId(socket),
      remotePort: socket.remotePort ?? 0,
    });
  };

  const onH1Request = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const ex = new H1Exchange(req, res);
    record(ex, req.socket, req.headers.host);
    handle(ex);
  };

  const h2Options: http2.ServerOptions = { maxSendHeaderBlockLength: 4 * 1024 * 1024 };
  if (opts.maxConcurrentStreams !== undefined) h2Options.settings = { maxConcurrentStreams: opts.maxConcurrentStreams };
  const makeH2 = (): http2.Http2Server => {
    const h2 = http2.createServer(h2Options);
    h2.on('session', (session: http2.ServerHttp2Session) => listener.trackSession(session));
    h2.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, _flags: number, rawHeaders: readonly string[]) => {
      stream.on('error', noop);
      const ex = new H2Exchange(stream, headers, rawHeaders);
      const socket = stream.session?.socket;
      if (socket !== undefined) record(ex, socket, headers[':authority']);
      handle(ex);
    });
    return h2;
  };

  const tlsOptions: tls.TlsOptions = pki === undefined ? {} : tlsServerOptions(pki, { alpn, requestCert: opts.requestCert });

  let server: net.Server;
  if (protocol === 'http' && transport === 'tcp') {
    server = http.createServer(onH1Request);
  } else if (protocol === 'http' && transport === 'tls') {
    server = https.createServer(tlsOptions, onH1Request);
  } else if (transport === 'tcp') {
    server = makeH2();
  } else {
    const h2 = makeH2();
    const h1 = alpn.includes('http/1.1') ? http.createServer(onH1Request) : undefined;
    server = tls.createServer(tlsOptions, (socket: tls.TLSSocket) => {
      if (socket.alpnProtocol === 'h2') h2.emit('connection', socket);
      else if (h1 !== undefined) h1.emit('connection', socket);
      else socket.destroy();
    });
  }

  const port = await listener.listen(server, host);
  return {
    host,
    port,
    transport,
    protocol,
    url: serverUrl(transport === 'tls' ? 'https' : 'http', host, port),
    pki,
    requests,
    get connections() {
      return listener.connections;
    },
    close: () => listener.close(),
  };
}
