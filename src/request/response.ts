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
  /** Next chunk, or null at the end. Rejects with the stream's error. */
  next(): Promise<Buffer | null>;
  /** Stop: the rest of the body is not wanted. */
  cancel(): void;
  /** Trailers, once the body has ended. */
  trailers(): HeaderList | undefined;
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
    return { [Symbol.asyncIterator]: () => this.#iterate() };
  }

  async *#iterate(): AsyncGenerator<Buffer, void, undefined> {
    if (this.#used) throw new BurrowError('ERR_BAD_STATE', 'the response body was already read', { stage: 'state' });
    this.#used = true;
    let done = false;
    try {
      for (;;) {
        const chunk = await this.#source.next();
        if (chunk === null) {
          done = true;
          return;
        }
        yield chunk;
      }
    } finally {
      if (!done) this.#source.cancel();
    }
  }

  /** The whole body as bytes. */
  async arrayBuffer(): Promise<ArrayBuffer> {
    const b = await this.buffer();
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  }

  /** The whole body as a Buffer. */
  async buffer(): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of this.body) chunks.push(c);
    return Buffer.concat(chunks);
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
