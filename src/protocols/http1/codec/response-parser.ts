/**
 * burrow's HTTP/1.1 response parser, sans-I/O: bytes in, events out.
 *
 * The parser owns no socket and no timer. The connection layer registers every
 * request it sends with {@link ResponseParser.expect} (in order: responses match
 * requests first in, first out, which is what makes pipelining work), feeds the
 * bytes it reads with {@link ResponseParser.feedInto} and tells it when the peer
 * closed with {@link ResponseParser.finish}.
 *
 * This file is the message state machine; the pieces it drives are each in
 * their own module and testable alone: the status line (`status-line.ts`),
 * header and trailer blocks (`header-block.ts`), body framing
 * (`framing.ts`: length, chunked or close-delimited, keep-alive), chunk-size
 * lines (`chunked.ts`) and the empty lines skipped before a status line
 * (`empty-lines.ts`).
 *
 * Hot-path design: a header block that arrives whole in one chunk is decoded
 * with a single `latin1` conversion and parsed as a string; only an incomplete
 * header block, trailer block or chunk-size line is copied; body bytes are
 * emitted as subarrays of the chunk that was fed (no copy).
 *
 * Framing follows RFC 9112 §6.3; every protocol error throws a
 * {@link BurrowError} with stage `'http'`, after which the parser is dead.
 */
import { BurrowError, invalidOption } from '../../../errors/errors.js';
import type { Header } from '../../../shared/headers.js';
import { parseError } from './chars.js';
import { ChunkSizeReader } from './chunked.js';
import { EmptyLineSkipper } from './empty-lines.js';
import { newFraming, responseFraming, type BodyKind, type HttpVersion } from './framing.js';
import { HeaderBlockReader } from './header-block.js';

export { MAX_CHUNK_SIZE_LINE } from './chunked.js';
export { MAX_EMPTY_LINES } from './empty-lines.js';
export type { BodyKind, HttpVersion } from './framing.js';

/** Limits protecting the client from a peer that sends oversized metadata. */
export interface ParserLimits {
  /**
   * Largest header block accepted, in bytes: status line, header fields and the
   * empty line that ends the block, line terminators included. Default 100 000.
   * Each 1xx block counts separately.
   */
  maxHeaderBlockSize: number;
  /**
   * Largest chunked trailer block accepted, in bytes: the trailer field lines
   * and the final empty line, line terminators included (the last-chunk line
   * `0\r\n` is not counted). Default 10 000.
   */
  maxTrailerBlockSize: number;
  /** Most header fields accepted in one header block (and in one trailer block). Default 100. */
  maxHeaderCount: number;
}

/** Default {@link ParserLimits}. */
export const DEFAULT_PARSER_LIMITS: Readonly<ParserLimits> = Object.freeze({
  maxHeaderBlockSize: 100_000,
  maxTrailerBlockSize: 10_000,
  maxHeaderCount: 100,
});

/** One thing a fed chunk completed. */
export type ParseEvent =
  /** A 1xx response other than an expected 101; the final response of the same request follows. */
  | { kind: 'inform'; status: number; reason: string; version: HttpVersion; headers: Header[] }
  /** The head of a final response. */
  | {
      kind: 'head';
      status: number;
      reason: string;
      version: HttpVersion;
      headers: Header[];
      body: BodyKind;
      /** Set when `body` is `'length'`. */
      contentLength: number | undefined;
      keepAlive: boolean;
    }
  /** Body bytes: a subarray of the chunk that was fed whenever possible (zero copy). */
  | { kind: 'data'; data: Buffer }
  /** Chunked trailers, only when there are some; always followed by 'end'. */
  | { kind: 'trailers'; headers: Header[] }
  /** The response is complete; `keepAlive` false means the connection must be closed. */
  | { kind: 'end'; keepAlive: boolean }
  /**
   * The connection switched protocols: a 101 to a request registered with
   * `upgrade: true`, or a 2xx to a CONNECT. The parser stops here; `rest` holds
   * every byte fed after the header block (they belong to the next protocol).
   */
  | { kind: 'switch'; status: number; reason: string; version: HttpVersion; headers: Header[]; rest: Buffer };

interface Expected {
  readonly head: boolean;
  readonly connect: boolean;
  readonly upgrade: boolean;
}

const LF = 0x0a;
const CR = 0x0d;

// Parser states.
const S_HEAD = 0; // reading a status line and header fields (or waiting for one)
const S_BODY_LENGTH = 1; // content-length body
const S_BODY_CLOSE = 2; // close-delimited body
const S_CHUNK_SIZE = 3; // reading a chunk-size line
const S_CHUNK_DATA = 4; // inside chunk data
const S_CHUNK_CR = 5; // after chunk data: expecting CR or LF
const S_CHUNK_LF = 6; // after chunk data and CR: expecting LF
const S_TRAILERS = 7; // reading the trailer block
const S_CLOSED = 8; // a response ended with keepAlive false, or finish() was called
const S_DEAD = 9; // after a protocol error or a 'switch'

function checkLimit(name: string, v: number | undefined, min: number, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw invalidOption(`limits.${name}`, `must be an integer >= ${min}`);
  }
  return v;
}

/**
 * Incremental HTTP/1.1 response parser for one connection.
 *
 * Usage: call {@link expect} for each request as it is sent, {@link feedInto}
 * every chunk read from the socket and act on the events, {@link finish} when
 * the peer closes.
 */
export class ResponseParser {
  /** Registered requests; `qHead` indexes the one being answered. */
  private queue: Expected[] = [];
  private qHead = 0;

  private state = S_HEAD;
  /** Why the parser is dead (for the error thrown by a later feed()). */
  private deadReason = '';

  private readonly blocks: HeaderBlockReader;
  private readonly chunkSize = new ChunkSizeReader();
  private readonly emptyLines = new EmptyLineSkipper();
  private readonly framing = newFraming();

  // Current message.
  private keepAlive = true;
  private remaining = 0;

  constructor(limits?: Partial<ParserLimits>) {
    this.blocks = new HeaderBlockReader({
      maxHeaderBlockSize: checkLimit('maxHeaderBlockSize', limits?.maxHeaderBlockSize, 1, DEFAULT_PARSER_LIMITS.maxHeaderBlockSize),
      maxTrailerBlockSize: checkLimit('maxTrailerBlockSize', limits?.maxTrailerBlockSize, 1, DEFAULT_PARSER_LIMITS.maxTrailerBlockSize),
      maxHeaderCount: checkLimit('maxHeaderCount', limits?.maxHeaderCount, 0, DEFAULT_PARSER_LIMITS.maxHeaderCount),
    });
  }

  /** Registers the next request sent on the connection (FIFO; responses match requests in order: pipelining). */
  expect(method: string, opts?: { upgrade?: boolean }): void {
    this.queue.push({ head: method === 'HEAD', connect: method === 'CONNECT', upgrade: opts?.upgrade === true });
  }

  /** Requests registered whose response has not ended. */
  get pending(): number {
    return this.queue.length - this.qHead;
  }

  /** True between messages with no bytes buffered (false once closed or dead). */
  get idle(): boolean {
    return this.state === S_HEAD && this.blocks.buffered === 0 && !this.emptyLines.pendingCR;
  }

  /**
   * Feeds bytes; returns the events they complete. Throws BurrowError (stage
   * 'http') on any protocol error — the events completed before the bad byte
   * are then lost: use {@link feedInto} to keep them. After a throw or a
   * 'switch' the parser is dead and further feeds throw ERR_HTTP_PARSE.
   */
  feed(chunk: Buffer): ParseEvent[] {
    const events: ParseEvent[] = [];
    this.feedInto(chunk, events);
    return events;
  }

  /**
   * Feeds bytes, appending the events they complete to `events`. On a protocol
   * error it throws BurrowError (stage 'http') after appending every event
   * completed before the bad byte, so that a caller can act on those first.
   * After a throw or a 'switch' the parser is dead.
   */
  feedInto(chunk: Buffer, events: ParseEvent[]): void {
    if (this.state >= S_CLOSED) throw this.afterEndError();
    try {
      this.run(chunk, events);
    } catch (e) {
      throw this.fail(e);
    }
  }

  private run(chunk: Buffer, events: ParseEvent[]): void {
    const len = chunk.length;
    let p = 0;
    while (p < len) {
      switch (this.state) {
        case S_HEAD: {
          if (this.blocks.buffered === 0) {
            const c = chunk[p];
            if (c === CR || c === LF || this.emptyLines.pendingCR) {
              p = this.emptyLines.skip(chunk, p);
              break;
            }
          }
          p = this.readHead(chunk, p, events);
          break;
        }
        case S_BODY_LENGTH: {
          const n = Math.min(this.remaining, len - p);
          events.push({ kind: 'data', data: n === len ? chunk : chunk.subarray(p, p + n) });
          p += n;
          this.remaining -= n;
          if (this.remaining === 0) this.endMessage(events);
          break;
        }
        case S_BODY_CLOSE:
          events.push({ kind: 'data', data: p === 0 ? chunk : chunk.subarray(p) });
          p = len;
          break;
        case S_CHUNK_SIZE: {
          const next = this.chunkSize.read(chunk, p);
          if (next === -1) return;
          p = next;
          const size = this.chunkSize.size;
          if (size === 0) this.state = S_TRAILERS;
          else {
            this.remaining = size;
            this.state = S_CHUNK_DATA;
          }
          break;
        }
        case S_CHUNK_DATA: {
          const n = Math.min(this.remaining, len - p);
          events.push({ kind: 'data', data: n === len ? chunk : chunk.subarray(p, p + n) });
          p += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = S_CHUNK_CR;
          break;
        }
        case S_CHUNK_CR: {
          const c = chunk[p++];
          if (c === CR) this.state = S_CHUNK_LF;
          else if (c === LF) this.state = S_CHUNK_SIZE;
          else throw parseError('missing CRLF after chunk data');
          break;
        }
        case S_CHUNK_LF:
          if (chunk[p++] !== LF) throw parseError('missing CRLF after chunk data');
          this.state = S_CHUNK_SIZE;
          break;
        case S_TRAILERS:
          p = this.readTrailers(chunk, p, events);
          break;
        default:
          // S_CLOSED / S_DEAD reached inside this chunk with bytes left.
          throw this.afterEndError();
      }
    }
  }

  /**
   * The peer closed the connection: ends a close-delimited body ('end' with
   * keepAlive false); throws ERR_HTTP_PARSE if a message was in progress
   * otherwise (truncated headers, content-length short, chunked unfinished).
   * Returns [] when idle (requests may still be pending: see {@link pending}),
   * closed or dead. Afterwards the parser is closed.
   */
  finish(): ParseEvent[] {
    switch (this.state) {
      case S_CLOSED:
      case S_DEAD:
        return [];
      case S_HEAD:
        if (this.blocks.buffered === 0) {
          this.close('the connection was closed');
          return [];
        }
        throw this.fail(parseError('connection closed before the end of the response header block'));
      case S_BODY_CLOSE: {
        const events: ParseEvent[] = [];
        this.keepAlive = false;
        this.endMessage(events);
        this.close('the connection was closed');
        return events;
      }
      case S_BODY_LENGTH:
        throw this.fail(parseError(`connection closed ${this.remaining} bytes before the end of the response body`, { missing: this.remaining }));
      default:
        throw this.fail(parseError('connection closed before the end of the chunked response body'));
    }
  }

  // ---------------------------------------------------------------------------

  /** The parser is dead after `e`; returns it as a BurrowError. */
  private fail(e: unknown): BurrowError {
    const err = e instanceof BurrowError ? e : new BurrowError('ERR_HTTP_PARSE', `invalid response: ${(e as Error).message}`, { stage: 'http', cause: e });
    if (this.deadReason === '') this.deadReason = `a previous error (${err.code}: ${err.message})`;
    this.state = S_DEAD;
    this.blocks.reset();
    this.chunkSize.reset();
    this.emptyLines.reset();
    return err;
  }

  private close(reason: string): void {
    this.state = S_CLOSED;
    this.deadReason = reason;
    this.blocks.reset();
    this.chunkSize.reset();
    this.emptyLines.reset();
  }

  private afterEndError(): BurrowError {
    return parseError(`unexpected data: the parser is closed after ${this.deadReason}`);
  }

  /** Reads (part of) a header block; returns the new position. */
  private readHead(chunk: Buffer, p: number, events: ParseEvent[]): number {
    if (this.qHead >= this.queue.length) {
      throw parseError('unexpected data: no request is pending on this connection');
    }
    const block = this.blocks.gather(chunk, p, false);
    if (block === null) return chunk.length;
    this.emptyLines.reset();
    const { buf, start, end, next } = block;
    const st = this.blocks.status;
    const s = buf.toString('latin1', start, end);
    const reason = st.reasonEnd > st.reasonStart ? s.slice(st.reasonStart - start, st.reasonEnd - start) : '';
    const headers = this.blocks.fields(s, start);
    return this.onHead(st.status, reason, st.minor === 1 ? '1.1' : '1.0', headers, chunk, next, events);
  }

  private onHead(status: number, reason: string, version: HttpVersion, headers: Header[], chunk: Buffer, p: number, events: ParseEvent[]): number {
    const req = this.queue[this.qHead] as Expected;
    if (status < 200) {
      if (status === 101) {
        if (!req.upgrade) {
          throw new BurrowError('ERR_UNEXPECTED_101', 'unexpected 101 Switching Protocols to a request that did not ask for an upgrade', {
            stage: 'http',
            details: { status },
          });
        }
        return this.switchProtocols(status, reason, version, headers, chunk, p, events);
      }
      events.push({ kind: 'inform', status, reason, version, headers });
      return p;
    }
    if (req.connect && status < 300) return this.switchProtocols(status, reason, version, headers, chunk, p, events);
    const { body, contentLength, keepAlive } = responseFraming(status, version, headers, req.head, this.framing);
    this.keepAlive = keepAlive;
    events.push({ kind: 'head', status, reason, version, headers, body, contentLength, keepAlive });
    if (body === 'none' || contentLength === 0) {
      this.endMessage(events);
    } else if (body === 'length') {
      this.remaining = contentLength as number;
      this.state = S_BODY_LENGTH;
    } else if (body === 'chunked') {
      this.state = S_CHUNK_SIZE;
    } else {
      this.state = S_BODY_CLOSE;
    }
    return p;
  }

  private switchProtocols(status: number, reason: string, version: HttpVersion, headers: Header[], chunk: Buffer, p: number, events: ParseEvent[]): number {
    this.qHead++;
    this.compactQueue();
    this.state = S_DEAD;
    this.deadReason = `a ${status} response switched the connection to another protocol`;
    this.blocks.reset();
    events.push({ kind: 'switch', status, reason, version, headers, rest: chunk.subarray(p) });
    return chunk.length;
  }

  /** Reads (part of) the trailer block; returns the new position. */
  private readTrailers(chunk: Buffer, p: number, events: ParseEvent[]): number {
    const block = this.blocks.gather(chunk, p, true);
    if (block === null) return chunk.length;
    const { buf, start, end, next } = block;
    if (this.blocks.fieldCount > 0) {
      const s = buf.toString('latin1', start, end);
      events.push({ kind: 'trailers', headers: this.blocks.fields(s, start) });
    }
    this.endMessage(events);
    return next;
  }

  private endMessage(events: ParseEvent[]): void {
    const keepAlive = this.keepAlive;
    events.push({ kind: 'end', keepAlive });
    this.qHead++;
    this.compactQueue();
    this.remaining = 0;
    this.keepAlive = true;
    if (keepAlive) this.state = S_HEAD;
    else this.close('a response that ended with keepAlive false');
  }

  private compactQueue(): void {
    if (this.qHead === this.queue.length) {
      this.queue.length = 0;
      this.qHead = 0;
    } else if (this.qHead >= 64) {
      this.queue = this.queue.slice(this.qHead);
      this.qHead = 0;
    }
  }
}
