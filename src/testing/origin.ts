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
 * | `/gzip/N` | 200, N bytes of text (words) gzip-compressed, `content-encoding: gzip`, content-length of the compressed bytes |
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
import { H1Exchange, H2Exchange, handle, noop, type Exchange } from './origin-routes.js';
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
