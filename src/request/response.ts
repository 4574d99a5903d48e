/**
 * The result of `request()`: status and headers at once, the body as an async
 * iterable that streams (never buffered whole unless asked), trailers once the
 * body is read, and what the request went through.
 */
import { Readable } from 'node:stream';
import { BurrowError } from '../errors/errors.js';
import type { HeaderList } from '../shared/headers.js';
import { getHeader } from '../shared/headers.js';
import type { LayerInfo } from '../shared/events.js';
import type { LayerTiming } from './route.js';
import type { SseEvent, SseOptions } from './sse/parser.js';
import { readEvents } from './sse/read.js';

/** What a response went through. */
export interface ResponseInfo {
  /** The layers traversed, first hop first, with the time each came up (ms from the start of the request). */
  readonly layers: readonly LayerTiming[];
  /** True when a pooled connection was reused (no layer was set up for this request). */
  readonly reused: boolean;
  /** ms from the start of the request to the response headers. */
  readonly headersMs: number;
  /**
   * Every layer of the route (TCP, TLS, CONNECT, SOCKS5, the protocol with the
   * origin) with its hop, timings, byte counts and TLS / CONNECT / SOCKS5
   * details, as `Connection.info()` reports them. Read from the connection on
   * first access (while it is open: empty once it has closed), then kept.
   */
  readonly chain: readonly LayerInfo[];
  /** The id of the connection that carried the request (the `connection` of its events). */
  readonly connection: number;
  /** The request's stream ref path (the `stream` of its events). */
  readonly stream: readonly number[];
}

/** @internal What the body queue asks of the request behind it. */
export interface BodyHooks {
  /** A chunk was handed to the reader (flow credit can go back). */
  consumed(): void;
  /** The reader stopped before the end: the rest of the body is not wanted. */
  cancel(): void;
  /** Trailers, once the body has ended. */
  trailers(): HeaderList | undefined;
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

interface Waiter {
  resolve(r: IteratorResult<Buffer, undefined>): void;
  reject(e: Error): void;
}

/**
 * @internal The body between the connection and the reader. A chunk that
 * arrives while the reader waits settles the reader's promise directly; a chunk
 * that arrives first is queued and handed out at once by the next `next()`.
 * One promise per chunk, no generator.
 */
export class BodyQueue {
  readonly #hooks: BodyHooks;
  readonly #chunks: Buffer[] = [];
  #ended = false;
  #error: Error | undefined;
  #waiter: Waiter | undefined;
  /** The reader saw the end or the error. */
  #settled = false;
  /** The reader stopped before the end (the stream was cancelled). */
  #stopped = false;

  constructor(hooks: BodyHooks) {
    this.#hooks = hooks;
  }

  /** Chunks queued and not yet read. */
  get buffered(): number {
    return this.#chunks.length;
  }

  push(chunk: Buffer): void {
    if (this.#ended || this.#error || this.#stopped) return;
    const w = this.#waiter;
    if (w !== undefined) {
      this.#waiter = undefined;
      this.#hooks.consumed();
      w.resolve({ done: false, value: chunk });
    } else this.#chunks.push(chunk);
  }

  end(): void {
    if (this.#ended || this.#error) return;
    this.#ended = true;
    const w = this.#waiter;
    if (w !== undefined) {
      this.#waiter = undefined;
      this.#settled = true;
      w.resolve(DONE);
    }
  }

  /** The body failed: the reader gets the chunks that came before, then `e`. Ignored after the end. */
  fail(e: Error): void {
    if (this.#ended || this.#error) return;
    this.#error = e;
    const w = this.#waiter;
    if (w !== undefined) {
      this.#waiter = undefined;
      this.#settled = true;
      w.reject(e);
    }
  }

  next(): Promise<IteratorResult<Buffer, undefined>> {
    if (this.#stopped) return Promise.resolve(DONE);
    const chunk = this.#chunks.shift();
    if (chunk !== undefined) {
      this.#hooks.consumed();
      return Promise.resolve({ done: false, value: chunk });
    }
    if (this.#error) {
      this.#settled = true;
      return Promise.reject(this.#error);
    }
    if (this.#ended) {
      this.#settled = true;
      return Promise.resolve(DONE);
    }
    if (this.#waiter !== undefined) return Promise.reject(new BurrowError('ERR_BAD_STATE', 'next() called while the previous next() is pending', { stage: 'state' }));
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  /** The reader stops: cancels the stream unless the reader already saw its end. */
  stop(): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#stopped = true;
    this.#chunks.length = 0;
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.resolve(DONE);
    this.#hooks.cancel();
  }

  trailers(): HeaderList | undefined {
    return this.#hooks.trailers();
  }
}

/** The body iterator handed to `for await`: reads the queue, once. */
class BodyIterator implements AsyncIterableIterator<Buffer> {
  readonly #queue: BodyQueue;
  readonly #used: boolean;

  constructor(queue: BodyQueue, used: boolean) {
    this.#queue = queue;
    this.#used = used;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<Buffer, undefined>> {
    if (this.#used) return Promise.reject(new BurrowError('ERR_BAD_STATE', 'the response body was already read', { stage: 'state' }));
    return this.#queue.next();
  }

  /** Called when a `for await` loop stops early: the rest of the body is not wanted. */
  return(): Promise<IteratorResult<Buffer, undefined>> {
    if (!this.#used) this.#queue.stop();
    return Promise.resolve(DONE);
  }
}

/**
 * What `Response.body` returns: an async iterable whose iterator reads the body. A class rather than an
 * object literal with a computed `Symbol.asyncIterator` key, which V8 builds on a slow path.
 */
class BodyIterable implements AsyncIterable<Buffer> {
  readonly #open: () => BodyIterator;

  constructor(open: () => BodyIterator) {
    this.#open = open;
  }

  [Symbol.asyncIterator](): BodyIterator {
    return this.#open();
  }
}

/** What decompression did to a response: see {@link Response.decoded}. */
export interface DecodedBody {
  /** The content codings removed, as the server listed them (applied in this order, decoded in reverse). */
  readonly encodings: readonly string[];
  /** The headers as received, `content-encoding` and `content-length` included. */
  readonly headers: HeaderList;
}

/** One redirect followed on the way to a response. */
export interface RedirectHop {
  /** The URL that answered with the redirect, its password masked. */
  readonly url: string;
  /** The redirect's status (301, 302, 303, 307, 308). */
  readonly status: number;
}

const NO_REDIRECTS: readonly RedirectHop[] = Object.freeze([]);

/** An HTTP response. */
export class Response {
  /** Status code. */
  readonly status: number;
  /** Headers, `[name, value]` pairs with lowercase names. */
  readonly headers: HeaderList;
  /** HTTP version: '1.0', '1.1' or '2'. */
  readonly version: '1.0' | '1.1' | '2';
  /** The URL requested, its password masked (`***`): a response is published (`tracing:burrow:request`). */
  readonly url: string;
  /** Layers traversed, with timings. */
  readonly info: ResponseInfo;
  #source: BodyQueue;
  #used = false;
  #decoded: DecodedBody | undefined;
  #redirects: readonly RedirectHop[] = NO_REDIRECTS;

  /** @internal */
  constructor(init: { status: number; headers: HeaderList; version: '1.0' | '1.1' | '2'; url: string; info: ResponseInfo }, source: BodyQueue) {
    this.status = init.status;
    this.headers = init.headers;
    this.version = init.version;
    this.url = init.url;
    this.info = init.info;
    this.#source = source;
  }

  /** The redirects followed to reach this response, first first (empty when none was). */
  get redirects(): readonly RedirectHop[] {
    return this.#redirects;
  }

  /** @internal Set by the redirect step on the response it hands back. */
  setRedirects(hops: readonly RedirectHop[]): void {
    this.#redirects = hops;
  }

  /** True for a 2xx status. */
  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  /** The first value of a header, lowercase name. */
  header(name: string): string | undefined {
    return getHeader(this.headers, name.toLowerCase());
  }

  /** Trailers, once the body has been read to its end. */
  get trailers(): HeaderList | undefined {
    return this.#source.trailers();
  }

  /** The body, chunk by chunk, as it arrives. It can be read once. */
  get body(): AsyncIterable<Buffer> {
    return new BodyIterable(() => this.#iterator());
  }

  #iterator(): BodyIterator {
    const used = this.#used;
    this.#used = true;
    return new BodyIterator(this.#source, used);
  }

  /** The whole body as bytes. */
  async arrayBuffer(): Promise<ArrayBuffer> {
    const b = await this.buffer();
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  }

  /** The whole body as a Buffer. */
  async buffer(): Promise<Buffer> {
    const it = this.#iterator();
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for (;;) {
        const r = await it.next();
        if (r.done) break;
        chunks.push(r.value);
        size += r.value.length;
      }
    } catch (e) {
      await it.return();
      throw e;
    }
    return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
  }

  /** The whole body as UTF-8 text. */
  async text(): Promise<string> {
    return (await this.buffer()).toString('utf8');
  }

  /** The whole body parsed as JSON. */
  async json(): Promise<unknown> {
    return JSON.parse(await this.text()) as unknown;
  }

  /** The whole body as bytes (a Uint8Array of its own). */
  async bytes(): Promise<Uint8Array> {
    const b = await this.buffer();
    return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? new Uint8Array(b.buffer, 0, b.byteLength) : new Uint8Array(b);
  }

  /**
   * The body as a web `ReadableStream` of bytes, built when called (the body is
   * read as the stream is read; cancelling the stream cancels the body). Like
   * `body`, the body can be read once, by one of these.
   */
  stream(): ReadableStream<Uint8Array> {
    const it = this.#iterator();
    return new ReadableStream<Uint8Array>(
      {
        async pull(c): Promise<void> {
          const r = await it.next();
          if (r.done) c.close();
          else c.enqueue(r.value);
        },
        async cancel(): Promise<void> {
          await it.return();
        },
      },
      { highWaterMark: 0 },
    );
  }

  /** The body as a Node `Readable` of Buffers, built when called (destroying it cancels the body). */
  readable(): Readable {
    return Readable.from(this.#iterator(), { objectMode: false });
  }

  /**
   * What decompression did (`decompress`, on by default): the codings removed
   * and the headers as received. Undefined when the body was not decoded (no
   * `content-encoding`, an unknown coding, `decompress: false`, HEAD, 204, 304).
   * When it was, `res.headers` has neither `content-encoding` nor
   * `content-length`; `decoded.headers` has them.
   */
  get decoded(): DecodedBody | undefined {
    return this.#decoded;
  }

  /**
   * @internal A step of `request()` (decompression, the size bound) puts its own
   * body queue between the received one and the reader, before the response is
   * handed out; with `decoded`, the headers change as well.
   */
  static transformBody(res: Response, through: (source: BodyQueue) => BodyQueue, decoded?: { headers: HeaderList; decoded: DecodedBody }): void {
    res.#source = through(res.#source);
    if (decoded !== undefined) {
      (res as { headers: HeaderList }).headers = decoded.headers;
      res.#decoded = decoded.decoded;
    }
  }

  /**
   * The body read as a Server-Sent Events stream (WHATWG HTML §9.2): each
   * event as it completes, `{ event, data, id, retry }`. The body is read
   * once, as by `body`; leaving the loop early cancels the stream. An event
   * larger than `opts.maxEventSize` (default 4 MiB) fails with
   * `ERR_SSE_EVENT_TOO_LARGE`. The content type is not checked. Throws
   * `ERR_INVALID_OPTION` at once for a `maxEventSize` that is not a positive integer.
   *
   * @example
   * ```ts
   * const res = await request('https://feed.example/events', { headers: { accept: 'text/event-stream' } });
   * for await (const e of res.events()) console.log(e.event, e.data, e.id);
   * ```
   */
  events(opts?: SseOptions): AsyncIterableIterator<SseEvent> {
    return readEvents(this.body, opts);
  }

  /** Drops the body without reading it (the stream is cancelled). */
  cancel(): void {
    this.#used = true;
    this.#source.stop();
  }
}
