/**
 * Decompression, `request()`'s step applied to the final response: the
 * `accept-encoding` a request sends by default, and the response body decoded
 * as it streams (gzip, deflate zlib-wrapped or raw, br, zstd where Node has it,
 * stacked codings), with `maxResponseSize` bounding the bytes handed to the
 * reader (counted after decoding; a decompression bomb never fills memory).
 */
import * as zlib from 'node:zlib';
import { Transform } from 'node:stream';
import { BurrowError } from '../errors/errors.js';
import { hasHeader, type Header, type HeaderList } from '../shared/headers.js';
import type { RequestInit } from './init.js';
import { BodyQueue, Response, type BodyHooks } from './response.js';

type ZstdFactory = (options?: Record<string, unknown>) => Transform;
/** `zlib.createZstdDecompress` on Node lines that have it (≥ 22.15 / 23.8), else undefined. */
const createZstd = (zlib as unknown as { createZstdDecompress?: ZstdFactory }).createZstdDecompress;

/** True when this Node line decodes zstd (and `request()` advertises it). */
export const ZSTD_SUPPORTED: boolean = typeof createZstd === 'function';

/** The `accept-encoding` `request()` sends when the caller set none and `decompress` is not false. */
export const ACCEPT_ENCODING: string = ZSTD_SUPPORTED ? 'gzip, deflate, br, zstd' : 'gzip, deflate, br';

/** More content codings than this on one response fail it (`ERR_DECOMPRESS`): each one multiplies the work. */
const MAX_CODINGS = 5;

/** Decoded chunks queued ahead of the reader before decoding pauses. */
const HIGH_WATER = 16;

/** The codings decoded. */
const CODINGS = new Set(['gzip', 'x-gzip', 'deflate', 'br', ...(ZSTD_SUPPORTED ? ['zstd'] : [])]);

/** Adds `accept-encoding` to a request's headers unless `decompress` is false or the caller set one. */
export function addAcceptEncoding(headers: Header[], init: RequestInit): void {
  if (init.decompress !== false && !hasHeader(headers, 'accept-encoding')) headers.push(['accept-encoding', ACCEPT_ENCODING]);
}

/** Checks `decompress` and `maxResponseSize`; throws `ERR_INVALID_OPTION`. */
export function checkDecompressOptions(init: RequestInit): void {
  const { decompress, maxResponseSize } = init;
  if (decompress !== undefined && typeof decompress !== 'boolean') {
    throw new BurrowError('ERR_INVALID_OPTION', 'invalid option decompress: a boolean', { stage: 'options', details: { option: 'decompress' } });
  }
  if (maxResponseSize !== undefined && !(typeof maxResponseSize === 'number' && maxResponseSize >= 0 && !Number.isNaN(maxResponseSize))) {
    throw new BurrowError('ERR_INVALID_OPTION', 'invalid option maxResponseSize: a number of bytes, 0 or more', { stage: 'options', details: { option: 'maxResponseSize' } });
  }
}

/**
 * The decompression step: `next` sends the request (with `accept-encoding`,
 * see {@link addAcceptEncoding}); its response's body is decoded and bounded.
 */
export function decompressed(url: string | URL, init: RequestInit, next: (url: string | URL, init: RequestInit) => Promise<Response>): Promise<Response> {
  try {
    checkDecompressOptions(init);
  } catch (e) {
    return Promise.reject(e);
  }
  if (init.decompress === false && init.maxResponseSize === undefined) return next(url, init);
  return next(url, init).then((res) => decodeResponse(res, init));
}

/** The content codings of `headers` (every `content-encoding` field, in order), lowercase, `identity` left out. */
export function contentCodings(headers: HeaderList): string[] | undefined {
  let out: string[] | undefined;
  for (const [n, v] of headers) {
    if (n !== 'content-encoding') continue;
    for (const part of v.split(',')) {
      const c = part.trim().toLowerCase();
      if (c !== '' && c !== 'identity') (out ??= []).push(c);
    }
  }
  return out;
}

/** A response with nothing to decode: HEAD, 1xx, 204, 304. */
function hasNoBody(res: Response, method: string | undefined): boolean {
  return res.status === 204 || res.status === 304 || res.status < 200 || (method !== undefined && method.toUpperCase() === 'HEAD');
}

/** Decodes `res` as `init` says (in place: its body source and headers change); returns it. */
export function decodeResponse(res: Response, init: RequestInit): Response {
  const limit = init.maxResponseSize ?? Infinity;
  const codings = init.decompress === false ? undefined : contentCodings(res.headers);
  if ((codings === undefined && limit === Infinity) || hasNoBody(res, init.method)) return res;
  // An unknown coding: the body is left as it came, headers included (the caller sees content-encoding).
  if (codings !== undefined && codings.every((c) => CODINGS.has(c))) {
    if (codings.length > MAX_CODINGS) {
      res.cancel();
      throw new BurrowError('ERR_DECOMPRESS', `too many content codings (${codings.length}, at most ${MAX_CODINGS})`, { stage: 'http', details: { encodings: codings.join(', ') } });
    }
    const received = res.headers;
    const headers = received.filter(([n]) => n !== 'content-encoding' && n !== 'content-length');
    Response.transformBody(res, (source) => new BodyPipe(source, limit, new Decoder(codings)).out, { headers, decoded: { encodings: codings, headers: received } });
  } else if (limit !== Infinity) {
    Response.transformBody(res, (source) => new BodyPipe(source, limit, undefined).out);
  }
  return res;
}

/** One decoding stage for coding `c`. */
function stageFor(c: string): Transform {
  const Z = zlib.constants;
  switch (c) {
    case 'gzip':
    case 'x-gzip':
      return zlib.createGunzip({ flush: Z.Z_SYNC_FLUSH });
    case 'br':
      return zlib.createBrotliDecompress({ flush: Z.BROTLI_OPERATION_FLUSH });
    case 'zstd':
      return (createZstd as ZstdFactory)();
    default:
      return new SniffedInflate();
  }
}

/**
 * `deflate` as browsers decode it: zlib-wrapped (RFC 1950) or raw (RFC 1951),
 * told apart by the first byte (a zlib header's low nibble is 8, the
 * compression method).
 */
class SniffedInflate extends Transform {
  #inner: Transform | undefined;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    let inner = this.#inner;
    if (inner === undefined) {
      const flush = zlib.constants.Z_SYNC_FLUSH;
      const made = ((chunk[0] ?? 0) & 0x0f) === 0x08 ? zlib.createInflate({ flush }) : zlib.createInflateRaw({ flush });
      inner = made;
      this.#inner = made;
      made.on('data', (d: Buffer) => {
        if (!this.push(d)) made.pause();
      });
      made.on('error', (e: Error) => this.destroy(e));
    }
    if (inner.write(chunk)) cb();
    else inner.once('drain', () => cb());
  }

  override _flush(cb: (e?: Error | null) => void): void {
    const inner = this.#inner;
    if (inner === undefined) return cb();
    inner.once('end', () => cb());
    inner.end();
  }

  override _read(size: number): void {
    if (this.#inner?.isPaused() === true) this.#inner.resume();
    super._read(size);
  }

  override _destroy(e: Error | null, cb: (e: Error | null) => void): void {
    this.#inner?.destroy();
    cb(e);
  }
}

/** The stages of a response's codings, last applied first, piped together. */
class Decoder {
  readonly #stages: Transform[];
  #failed = false;

  constructor(codings: readonly string[]) {
    this.#stages = codings.map(stageFor).reverse();
    for (let i = 0; i + 1 < this.#stages.length; i++) (this.#stages[i] as Transform).pipe(this.#stages[i + 1] as Transform);
  }

  get #first(): Transform {
    return this.#stages[0] as Transform;
  }

  get #last(): Transform {
    return this.#stages[this.#stages.length - 1] as Transform;
  }

  /** Wires the outputs: decoded chunks, their end, the first failure, and the input's drain. */
  start(on: { data(b: Buffer): void; end(): void; error(e: Error): void; drain(): void }): void {
    for (const s of this.#stages) {
      s.on('error', (e: Error) => {
        if (this.#failed) return;
        this.#failed = true;
        on.error(e);
      });
    }
    this.#first.on('drain', on.drain);
    this.#last.on('end', on.end);
    this.#last.on('data', on.data);
  }

  /** Writes encoded bytes; false: wait for `drain`. */
  write(b: Buffer): boolean {
    return this.#first.write(b);
  }

  end(): void {
    this.#first.end();
  }

  pause(): void {
    this.#last.pause();
  }

  resume(): void {
    this.#last.resume();
  }

  get paused(): boolean {
    return this.#last.isPaused();
  }

  destroy(): void {
    this.#failed = true;
    for (const s of this.#stages) s.destroy();
  }
}

/**
 * A body between the received queue and the reader: decoded when there is a
 * decoder, and bounded by `limit` (bytes handed to the reader). It reads the
 * received queue only while fewer than {@link HIGH_WATER} chunks wait for the
 * reader and the decoder takes input, so flow credit goes back to the peer
 * only as the reader reads.
 */
class BodyPipe implements BodyHooks {
  readonly out: BodyQueue;
  readonly #source: BodyQueue;
  readonly #limit: number;
  readonly #decoder: Decoder | undefined;
  #size = 0;
  #reading = false;
  #waitDrain = false;
  /** The received body has ended (the decoder may still have output to give). */
  #inputEnded = false;
  #done = false;

  constructor(source: BodyQueue, limit: number, decoder: Decoder | undefined) {
    this.out = new BodyQueue(this);
    this.#source = source;
    this.#limit = limit;
    this.#decoder = decoder;
    decoder?.start({
      data: (b) => this.#emit(b),
      end: () => {
        this.#done = true;
        this.out.end();
      },
      error: (e) => this.#fail(new BurrowError('ERR_DECOMPRESS', `the response body could not be decoded: ${e.message}`, { stage: 'http', cause: e })),
      drain: () => {
        this.#waitDrain = false;
        void this.#pull();
      },
    });
    void this.#pull();
  }

  #emit(b: Buffer): void {
    if (this.#done) return;
    this.#size += b.length;
    if (this.#size > this.#limit) {
      this.#fail(new BurrowError('ERR_RESPONSE_TOO_LARGE', `the response body is larger than maxResponseSize (${this.#limit} bytes)`, { stage: 'http', details: { maxResponseSize: this.#limit } }));
      return;
    }
    this.out.push(b);
    if (this.out.buffered >= HIGH_WATER) this.#decoder?.pause();
  }

  #fail(e: BurrowError | Error): void {
    if (this.#done) return;
    this.#done = true;
    this.out.fail(e);
    this.#decoder?.destroy();
    this.#source.stop();
  }

  /** Reads the received body while the reader and the decoder want more. */
  async #pull(): Promise<void> {
    if (this.#reading) return;
    this.#reading = true;
    try {
      while (!this.#done && !this.#inputEnded && !this.#waitDrain && this.out.buffered < HIGH_WATER && !(this.#decoder?.paused ?? false)) {
        const r = await this.#source.next();
        if (this.#done) return;
        const decoder = this.#decoder;
        if (r.done) {
          this.#inputEnded = true;
          if (decoder === undefined) {
            this.#done = true;
            this.out.end();
          } else decoder.end();
          return;
        }
        if (decoder === undefined) this.#emit(r.value);
        else if (!decoder.write(r.value)) this.#waitDrain = true;
      }
    } catch (e) {
      this.#fail(e as Error);
    } finally {
      this.#reading = false;
    }
  }

  // BodyHooks: what the reader's queue asks.

  consumed(): void {
    if (this.#done || this.out.buffered > HIGH_WATER / 2) return;
    const decoder = this.#decoder;
    if (decoder?.paused === true) decoder.resume();
    void this.#pull();
  }

  cancel(): void {
    if (this.#done) return;
    this.#done = true;
    this.#decoder?.destroy();
    this.#source.stop();
  }

  trailers(): HeaderList | undefined {
    return this.#source.trailers();
  }
}
