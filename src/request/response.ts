/**
 * The result of `request()`: status and headers at once, the body as an async
 * iterable that streams (never buffered whole unless asked), trailers once the
 * body is read, and what the request went through.
 */
import { BurrowError } from '../errors/errors.js';
import type { HeaderList } from '../protocols/headers.js';
import { getHeader } from '../protocols/headers.js';
import type { LayerTiming } from './route.js';

/** What a response went through. */
export interface ResponseInfo {
  /** The layers traversed, first hop first, with the time each came up (ms from the start of the request). */
  readonly layers: readonly LayerTiming[];
  /** True when a pooled connection was reused (no layer was set up for this request). */
  readonly reused: boolean;
  /** ms from the start of the request to the response headers. */
  readonly headersMs: number;
}

/** @internal How the body is fed. */
export interface BodySource {
  /** The next chunk if one is buffered, null at the end, undefined when nothing has arrived yet. Throws the stream's error. */
  read(): Buffer | null | undefined;
  /** Resolves when `read()` has something new to say (a chunk, the end or an error). */
  wait(): Promise<void>;
  /** Stop: the rest of the body is not wanted. */
  cancel(): void;
  /** Trailers, once the body has ended. */
  trailers(): HeaderList | undefined;
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/**
 * The body iterator: a chunk already buffered is handed out at once (one
 * resolved promise, no generator resume); only an empty buffer waits.
 */
class BodyIterator implements AsyncIterableIterator<Buffer> {
  readonly #source: BodySource;
  readonly #used: boolean;
  #done = false;

  constructor(source: BodySource, used: boolean) {
    this.#source = source;
    this.#used = used;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<Buffer, undefined>> {
    if (this.#used) {
      return Promise.reject(new BurrowError('ERR_BAD_STATE', 'the response body was already read', { stage: 'state' }));
    }
    if (this.#done) return Promise.resolve(DONE);
    let chunk: Buffer | null | undefined;
    try {
      chunk = this.#source.read();
    } catch (e) {
      this.#done = true;
      return Promise.reject(e as Error);
    }
    if (chunk === undefined) return this.#source.wait().then(() => this.next());
    if (chunk === null) {
      this.#done = true;
      return Promise.resolve(DONE);
    }
    return Promise.resolve({ done: false, value: chunk });
  }

  /** Called when a `for await` loop stops early: the rest of the body is not wanted. */
  return(): Promise<IteratorResult<Buffer, undefined>> {
    if (!this.#done && !this.#used) {
      this.#done = true;
      this.#source.cancel();
    }
    return Promise.resolve(DONE);
  }
}

/** An HTTP response. */
export class Response {
  /** Status code. */
  readonly status: number;
  /** Headers, `[name, value]` pairs with lowercase names. */
  readonly headers: HeaderList;
  /** HTTP version: '1.0', '1.1' or '2'. */
  readonly version: '1.0' | '1.1' | '2';
  /** The URL requested. */
  readonly url: string;
  /** Layers traversed, with timings. */
  readonly info: ResponseInfo;
  readonly #source: BodySource;
  #used = false;

  /** @internal */
  constructor(init: { status: number; headers: HeaderList; version: '1.0' | '1.1' | '2'; url: string; info: ResponseInfo }, source: BodySource) {
    this.status = init.status;
    this.headers = init.headers;
    this.version = init.version;
    this.url = init.url;
    this.info = init.info;
    this.#source = source;
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
    return { [Symbol.asyncIterator]: () => this.#iterator() };
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

  /** Drops the body without reading it (the stream is cancelled). */
  cancel(): void {
    this.#used = true;
    this.#source.cancel();
  }
}
