/**
 * The routes of the test origin (`origin.ts` has the table) and the
 * exchange abstraction that lets them answer HTTP/1.1 and HTTP/2 alike.
 */
import type * as http from 'node:http';
import * as http2 from 'node:http2';
import { gzipSync } from 'node:zlib';

const TEXT = 'text/plain; charset=utf-8';
const CHUNK = 64 * 1024;
const PATTERN_MOD = 251;
const PATTERN = Buffer.alloc(CHUNK + PATTERN_MOD, 0);
for (let i = 0; i < PATTERN.length; i++) PATTERN[i] = i % PATTERN_MOD;
const MAX_HEADERS_COUNT = 100_000;
const EARLY_HINT_LINK = '</style.css>; rel=preload';

type HeaderValues = Record<string, string | number>;

/** One request/response exchange, independent of the HTTP version. */
export interface Exchange {
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

export class H1Exchange implements Exchange {
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

export class H2Exchange implements Exchange {
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

export function noop(): void {}

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

const GZIPPED = new Map<number, Buffer>();
const MAX_GZIPPED = 64 * 1024 * 1024;

/** `n` bytes of text (words from a small vocabulary, as compressible as prose), gzipped; remembered per size. */
function gzipped(n: number): Buffer {
  let body = GZIPPED.get(n);
  if (body === undefined) {
    const words = ['tunnel', 'proxy', 'chain', 'hop', 'burrow', 'stream', 'layer', 'socket', 'request', 'origin'];
    const parts: string[] = [];
    let len = 0;
    for (let i = 0; len < n; i++) {
      const w = `${words[(i * 7 + (i >> 3)) % words.length] as string} `;
      parts.push(w);
      len += w.length;
    }
    body = gzipSync(Buffer.from(parts.join('').slice(0, Math.min(n, MAX_GZIPPED))));
    if (GZIPPED.size > 16) GZIPPED.clear();
    GZIPPED.set(n, body);
  }
  return body;
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
  if ((n = numberParam(p, '/gzip/')) !== undefined) {
    // N bytes of text, gzip-compressed once per size, `content-encoding: gzip`.
    const body = gzipped(n);
    ex.respond(200, { 'content-type': TEXT, 'content-encoding': 'gzip', 'content-length': body.length });
    ex.end(body);
    return;
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

/** Answers one exchange by its route (see origin.ts for the table); a failure aborts it. */
export function handle(ex: Exchange): void {
  route(ex).catch(() => {
    if (!ex.closed) ex.abort();
  });
}

