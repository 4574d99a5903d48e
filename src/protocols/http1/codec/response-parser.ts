/**
 * burrow's HTTP/1.1 response parser, sans-I/O: bytes in, events out.
 *
 * The parser owns no socket and no timer. The connection layer registers every
 * request it sends with {@link ResponseParser.expect} (in order: responses match
 * requests first in, first out, which is what makes pipelining work), feeds the
 * bytes it reads with {@link ResponseParser.feed} and tells it when the peer
 * closed with {@link ResponseParser.finish}.
 *
 * Hot-path design:
 * - a header block that arrives whole in one chunk is decoded with a single
 *   `latin1` conversion and parsed as a string; only an incomplete header block,
 *   trailer block or chunk-size line is copied, into a small growable buffer;
 * - body bytes are emitted as subarrays of the chunk that was fed (no copy).
 *
 * A header block that starts in a chunk is validated as it is scanned; once it
 * spans several chunks its content is validated when its end arrives (its size
 * is checked on every chunk, so buffering stays bounded by the limit).
 *
 * Framing follows RFC 9112 §6.3; every protocol error throws a
 * {@link BurrowError} with stage `'http'`, after which the parser is dead.
 */
import { BurrowError, invalidOption } from '../../../errors/errors.js';
import type { Header } from '../../../shared/headers.js';

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

/** Longest chunk-size line (size and extensions, without its line terminator). */
export const MAX_CHUNK_SIZE_LINE = 4096;

/** HTTP versions the parser accepts. */
export type HttpVersion = '1.0' | '1.1';

/**
 * How a response body is delimited: `none` (HEAD, 204, 304), `length`
 * (content-length), `chunked`, or `close` (read until the peer closes).
 */
export type BodyKind = 'none' | 'length' | 'chunked' | 'close';

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

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HT = 0x09;

/** 1 for RFC 9110 tchar bytes. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;

/** Hex digit value + 1 (0 for a non-hex byte). */
const HEXVAL = new Uint8Array(256);
for (let c = 0; c < 10; c++) HEXVAL[0x30 + c] = c + 1;
for (let c = 0; c < 6; c++) {
  HEXVAL[0x41 + c] = c + 11;
  HEXVAL[0x61 + c] = c + 11;
}

const EMPTY = Buffer.alloc(0);

/**
 * Common response header names. A name that matches one (case-insensitively)
 * is returned as this constant string: no slice, no toLowerCase, and later
 * comparisons with literals are pointer comparisons.
 */
const KNOWN_NAMES: readonly string[] = [
  'accept-ranges', 'access-control-allow-credentials', 'access-control-allow-headers', 'access-control-allow-methods',
  'access-control-allow-origin', 'access-control-expose-headers', 'access-control-max-age', 'age', 'allow', 'alt-svc',
  'cache-control', 'cf-cache-status', 'cf-ray', 'connection', 'content-disposition', 'content-encoding',
  'content-language', 'content-length', 'content-location', 'content-range', 'content-security-policy', 'content-type',
  'cross-origin-embedder-policy', 'cross-origin-opener-policy', 'cross-origin-resource-policy', 'date', 'etag',
  'expires', 'keep-alive', 'last-modified', 'link', 'location', 'nel', 'permissions-policy', 'pragma',
  'proxy-authenticate', 'proxy-connection', 'referrer-policy', 'report-to', 'retry-after', 'server', 'set-cookie',
  'strict-transport-security', 'timing-allow-origin', 'trailer', 'transfer-encoding', 'upgrade', 'vary', 'via',
  'www-authenticate', 'x-cache', 'x-content-type-options', 'x-frame-options', 'x-powered-by', 'x-request-id',
  'x-xss-protection',
];

/** For each name length, the indexes into KNOWN_NAMES and their lowercase bytes. */
const KNOWN_BY_LENGTH: Array<Array<{ index: number; bytes: Uint8Array }>> = [];
KNOWN_NAMES.forEach((name, index) => {
  (KNOWN_BY_LENGTH[name.length] ??= []).push({ index, bytes: Buffer.from(name, 'latin1') });
});

/**
 * 2 + the index in KNOWN_NAMES of the name in `buf[start, end)` (token bytes,
 * compared case-insensitively), or 0. `b | 0x20` lowercases a letter and maps
 * no other token byte onto a letter, digit or '-'.
 */
function knownName(buf: Buffer, start: number, end: number): number {
  const candidates = KNOWN_BY_LENGTH[end - start];
  if (candidates === undefined) return 0;
  for (let c = 0; c < candidates.length; c++) {
    const cand = candidates[c] as { index: number; bytes: Uint8Array };
    const bytes = cand.bytes;
    let j = 0;
    while (j < bytes.length && ((buf[start + j] as number) | 0x20) === bytes[j]) j++;
    if (j === bytes.length) return cand.index + 2;
  }
  return 0;
}

function parseError(message: string, details?: Record<string, string | number | boolean>): BurrowError {
  return new BurrowError('ERR_HTTP_PARSE', message, { stage: 'http', details });
}

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
 * Usage: call {@link expect} for each request as it is sent, {@link feed} every
 * chunk read from the socket and act on the returned events, {@link finish} when
 * the peer closes.
 */
export class ResponseParser {
  private readonly maxHeaderBlockSize: number;
  private readonly maxTrailerBlockSize: number;
  private readonly maxHeaderCount: number;

  /** Registered requests; `qHead` indexes the one being answered. */
  private queue: Expected[] = [];
  private qHead = 0;

  private state = S_HEAD;
  /** Why the parser is dead (for the error thrown by a later feed()). */
  private deadReason = '';

  /** Bytes of an incomplete header block, trailer block or chunk-size line. */
  private pend: Buffer = EMPTY;
  private pendLen = 0;
  /** Block-end scanner state: 0 in a line, 1 just after LF, 2 after LF CR. */
  private scan = 0;

  /** Field offsets recorded by scanBlock(): [nameStart, nameEnd, valueStart, valueEnd, hasUpper] each. */
  private readonly offs: number[] = [];
  private nFields = 0;
  // Status line recorded by scanBlock().
  private stStatus = 0;
  private stMinor = 0;
  private stReasonStart = 0;
  private stReasonEnd = 0;

  // Current message.
  private keepAlive = true;
  private remaining = 0;

  constructor(limits?: Partial<ParserLimits>) {
    this.maxHeaderBlockSize = checkLimit('maxHeaderBlockSize', limits?.maxHeaderBlockSize, 1, DEFAULT_PARSER_LIMITS.maxHeaderBlockSize);
    this.maxTrailerBlockSize = checkLimit('maxTrailerBlockSize', limits?.maxTrailerBlockSize, 1, DEFAULT_PARSER_LIMITS.maxTrailerBlockSize);
    this.maxHeaderCount = checkLimit('maxHeaderCount', limits?.maxHeaderCount, 0, DEFAULT_PARSER_LIMITS.maxHeaderCount);
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
    return this.state === S_HEAD && this.pendLen === 0;
  }

  /**
   * Feeds bytes; returns the events they complete. Throws BurrowError (stage
   * 'http') on any protocol error; after a throw or a 'switch' the parser is
   * dead and further feed() throws ERR_HTTP_PARSE.
   */
  feed(chunk: Buffer): ParseEvent[] {
    if (this.state >= S_CLOSED) throw this.afterEndError();
    const events: ParseEvent[] = [];
    const len = chunk.length;
    let p = 0;
    while (p < len) {
      switch (this.state) {
        case S_HEAD:
          p = this.readHead(chunk, p, events);
          break;
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
        case S_CHUNK_SIZE:
          p = this.readChunkSize(chunk, p);
          break;
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
          else throw this.fail(parseError('missing CRLF after chunk data'));
          break;
        }
        case S_CHUNK_LF:
          if (chunk[p++] !== LF) throw this.fail(parseError('missing CRLF after chunk data'));
          this.state = S_CHUNK_SIZE;
          break;
        case S_TRAILERS:
          p = this.readTrailers(chunk, p, events);
          break;
        default:
          // S_CLOSED / S_DEAD reached inside this chunk with bytes left.
          throw this.fail(this.afterEndError());
      }
    }
    return events;
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
        if (this.pendLen === 0) {
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

  private fail(e: BurrowError): BurrowError {
    this.state = S_DEAD;
    if (this.deadReason === '') this.deadReason = `a previous error (${e.code}: ${e.message})`;
    this.pend = EMPTY;
    this.pendLen = 0;
    return e;
  }

  private close(reason: string): void {
    this.state = S_CLOSED;
    this.deadReason = reason;
    this.pend = EMPTY;
    this.pendLen = 0;
  }

  private afterEndError(): BurrowError {
    return parseError(`unexpected data: the parser is closed after ${this.deadReason}`);
  }

  private append(src: Buffer, start: number, end: number): void {
    const n = end - start;
    const need = this.pendLen + n;
    if (need > this.pend.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.pend.length * 2, 256));
      this.pend.copy(grown, 0, 0, this.pendLen);
      this.pend = grown;
    }
    src.copy(this.pend, this.pendLen, start, end);
    this.pendLen = need;
  }

  /**
   * Looks for the end of a header/trailer block (an empty line) from `p`,
   * continuing from `this.scan`. Returns the index just past it, or -1 (and
   * updates `this.scan`).
   */
  private findBlockEnd(buf: Buffer, p: number): number {
    const len = buf.length;
    let st = this.scan;
    let i = p;
    while (i < len) {
      if (st === 1) {
        const c = buf[i];
        if (c === LF) return i + 1;
        if (c === CR) {
          st = 2;
          i++;
          continue;
        }
        st = 0;
      } else if (st === 2) {
        if (buf[i] === LF) return i + 1;
        st = 0;
      }
      const j = buf.indexOf(LF, i);
      if (j === -1) {
        st = 0;
        break;
      }
      i = j + 1;
      st = 1;
    }
    this.scan = st;
    return -1;
  }

  /**
   * Gathers a complete header (or trailer) block starting at `p`: in place when
   * the whole block is in this chunk, else in the pending buffer. Returns null
   * when more bytes are needed (they were buffered); enforces the size limit as
   * bytes arrive.
   */
  private gatherBlock(chunk: Buffer, p: number, trailers: boolean): { buf: Buffer; start: number; end: number; next: number } | null {
    const max = trailers ? this.maxTrailerBlockSize : this.maxHeaderBlockSize;
    const tooLarge = (): BurrowError => (trailers ? this.trailersTooLarge() : this.headTooLarge());
    const invalid = trailers ? 'invalid trailer block' : 'invalid response header block';
    const len = chunk.length;
    if (this.pendLen === 0) {
      // Common case: the whole block is in this chunk; scan it in place.
      const end = this.scanBlock(chunk, p, len, trailers);
      if (end === -1) {
        if (len - p > max) throw this.fail(tooLarge());
        this.scan = trailers ? 1 : 0;
        if (this.findBlockEnd(chunk, p) !== -1) throw this.fail(parseError(invalid));
        this.append(chunk, p, len);
        return null;
      }
      if (end - p > max) throw this.fail(tooLarge());
      return { buf: chunk, start: p, end, next: end };
    }
    const next = this.findBlockEnd(chunk, p);
    if (next === -1) {
      if (this.pendLen + (len - p) > max) throw this.fail(tooLarge());
      this.append(chunk, p, len);
      return null;
    }
    if (this.pendLen + (next - p) > max) throw this.fail(tooLarge());
    this.append(chunk, p, next);
    const buf = this.pend;
    const end = this.scanBlock(buf, 0, this.pendLen, trailers);
    if (end !== this.pendLen) throw this.fail(parseError(invalid));
    this.pendLen = 0;
    if (!trailers && buf.length > 16384) this.pend = EMPTY; // do not keep a large buffer around
    return { buf, start: 0, end, next };
  }

  /** Reads (part of) a header block; returns the new position. */
  private readHead(chunk: Buffer, p: number, events: ParseEvent[]): number {
    if (this.qHead >= this.queue.length) {
      throw this.fail(parseError('unexpected data: no request is pending on this connection'));
    }
    const block = this.gatherBlock(chunk, p, false);
    if (block === null) return chunk.length;
    const { buf, start, end, next } = block;
    this.scan = 0;
    const s = buf.toString('latin1', start, end);
    const reason = this.stReasonEnd > this.stReasonStart ? s.slice(this.stReasonStart - start, this.stReasonEnd - start) : '';
    const headers = this.buildFields(s, start);
    return this.onHead(this.stStatus, reason, this.stMinor === 1 ? '1.1' : '1.0', headers, chunk, next, events);
  }

  private headTooLarge(): BurrowError {
    return new BurrowError('ERR_HEADER_BLOCK_TOO_LARGE', `response header block larger than ${this.maxHeaderBlockSize} bytes`, {
      stage: 'http',
      details: { limit: this.maxHeaderBlockSize },
    });
  }

  /**
   * Scans and validates a header block (status line and fields; `trailer`
   * false) or a trailer block (fields only) in `buf[start, limit)`. Returns the
   * index just past the empty line that ends the block, or -1 when `limit` comes
   * first. Records the status line in `st*` and field offsets in `offs`; throws
   * on invalid content (which never depends on bytes after `limit`).
   */
  private scanBlock(buf: Buffer, start: number, limit: number, trailer: boolean): number {
    let i = start;
    let c: number;
    if (!trailer) {
      let le: number;
      for (;;) {
        if (i >= limit) return -1;
        c = buf[i] as number;
        if ((c >= SP && c !== 0x7f) || c === HT) {
          i++;
          continue;
        }
        if (c === LF) {
          le = i;
          i++;
          break;
        }
        if (c === CR) {
          if (i + 1 >= limit) return -1;
          if (buf[i + 1] !== LF) throw this.fail(bareCR('status line'));
          le = i;
          i += 2;
          break;
        }
        throw this.fail(parseError('invalid character in the status line'));
      }
      this.checkStatusLine(buf, start, le);
    }
    const section = trailer ? 'trailer' : 'header';
    const offs = this.offs;
    const max = this.maxHeaderCount;
    let n = 0;
    for (;;) {
      if (i >= limit) return -1;
      c = buf[i] as number;
      if (c === LF) {
        this.nFields = n;
        return i + 1;
      }
      if (c === CR) {
        if (i + 1 >= limit) return -1;
        if (buf[i + 1] !== LF) throw this.fail(bareCR(`${section} block`));
        this.nFields = n;
        return i + 2;
      }
      if (c === SP || c === HT) throw this.fail(parseError(`obsolete line folding in the ${section} block is not accepted`));
      const ns = i;
      let upper = 0;
      while (TCHAR[c] === 1) {
        if (c <= 0x5a && c >= 0x41) upper = 1;
        if (++i >= limit) return -1;
        c = buf[i] as number;
      }
      if (c !== 0x3a || i === ns) {
        throw this.fail(parseError(`invalid ${section} field line: ${i === ns ? 'empty or invalid name' : 'invalid character in name or missing colon'}`));
      }
      const ne = i++;
      while (i < limit && (buf[i] === SP || buf[i] === HT)) i++;
      const vs = i;
      // Field value: VCHAR, obs-text, SP and HTAB, up to the line end.
      while (i < limit) {
        c = buf[i] as number;
        if (c >= SP ? c === 0x7f : c !== HT) break;
        i++;
      }
      if (i >= limit) return -1;
      let ve = i;
      while (ve > vs && (buf[ve - 1] === SP || buf[ve - 1] === HT)) ve--;
      if (c === LF) i++;
      else if (c === CR) {
        if (i + 1 >= limit) return -1;
        if (buf[i + 1] !== LF) throw this.fail(bareCR(`${section} field value`));
        i += 2;
      } else {
        throw this.fail(parseError(`invalid character 0x${c.toString(16).padStart(2, '0')} in a ${section} field value`));
      }
      if (n >= max) {
        throw this.fail(
          new BurrowError('ERR_TOO_MANY_HEADERS', `more than ${max} ${section} fields`, {
            stage: 'http',
            details: { limit: max, section },
          }),
        );
      }
      const k = n * 5;
      offs[k] = ns;
      offs[k + 1] = ne;
      offs[k + 2] = vs;
      offs[k + 3] = ve;
      offs[k + 4] = knownName(buf, ns, ne) || upper;
      n++;
    }
  }

  /** Checks `HTTP/1.x SSS[ reason]` in `buf[start, le)`; records status, minor version and reason offsets. */
  private checkStatusLine(buf: Buffer, start: number, le: number): void {
    const minor = buf[start + 7];
    if (
      le - start < 12 ||
      buf[start] !== 0x48 || // H
      buf[start + 1] !== 0x54 || // T
      buf[start + 2] !== 0x54 || // T
      buf[start + 3] !== 0x50 || // P
      buf[start + 4] !== 0x2f || // /
      buf[start + 5] !== 0x31 || // 1
      buf[start + 6] !== 0x2e || // .
      (minor !== 0x31 && minor !== 0x30) ||
      buf[start + 8] !== SP ||
      (le - start > 12 && buf[start + 12] !== SP)
    ) {
      throw this.fail(parseError(`invalid status line ${JSON.stringify(buf.toString('latin1', start, Math.min(le, start + 64)))}`));
    }
    const d0 = (buf[start + 9] as number) - 0x30;
    const d1 = (buf[start + 10] as number) - 0x30;
    const d2 = (buf[start + 11] as number) - 0x30;
    if (!(d0 >= 1 && d0 <= 9 && d1 >= 0 && d1 <= 9 && d2 >= 0 && d2 <= 9)) {
      throw this.fail(parseError(`invalid status code in status line ${JSON.stringify(buf.toString('latin1', start, Math.min(le, start + 64)))}`));
    }
    this.stStatus = d0 * 100 + d1 * 10 + d2;
    this.stMinor = minor - 0x30;
    this.stReasonStart = start + 13;
    this.stReasonEnd = le;
  }

  /** Builds the header list recorded by scanBlock() from `s`, the block decoded from offset `base`. */
  private buildFields(s: string, base: number): Header[] {
    const n = this.nFields;
    const offs = this.offs;
    const out: Header[] = [];
    for (let k = 0; k < n * 5; k += 5) {
      const how = offs[k + 4] as number;
      let name: string;
      if (how >= 2) name = KNOWN_NAMES[how - 2] as string;
      else {
        name = s.slice((offs[k] as number) - base, (offs[k + 1] as number) - base);
        if (how === 1) name = name.toLowerCase();
      }
      out.push([name, s.slice((offs[k + 2] as number) - base, (offs[k + 3] as number) - base)]);
    }
    return out;
  }

  private onHead(
    status: number,
    reason: string,
    version: HttpVersion,
    headers: Header[],
    chunk: Buffer,
    p: number,
    events: ParseEvent[],
  ): number {
    const req = this.queue[this.qHead] as Expected;
    if (status < 200) {
      if (status === 101) {
        if (!req.upgrade) {
          throw this.fail(
            new BurrowError('ERR_UNEXPECTED_101', 'unexpected 101 Switching Protocols to a request that did not ask for an upgrade', {
              stage: 'http',
              details: { status },
            }),
          );
        }
        return this.switchProtocols(status, reason, version, headers, chunk, p, events);
      }
      events.push({ kind: 'inform', status, reason, version, headers });
      return p;
    }
    if (req.connect && status < 300) return this.switchProtocols(status, reason, version, headers, chunk, p, events);

    let te: string | undefined;
    let cl: string | undefined;
    let clCount = 0;
    let conn: string | undefined;
    for (let k = 0; k < headers.length; k++) {
      const h = headers[k] as Header;
      const n = h[0];
      if (n === 'content-length') {
        cl = clCount === 0 ? h[1] : `${cl as string},${h[1]}`;
        clCount++;
      } else if (n === 'transfer-encoding') {
        te = te === undefined ? h[1] : `${te},${h[1]}`;
      } else if (n === 'connection') {
        conn = conn === undefined ? h[1] : `${conn},${h[1]}`;
      }
    }

    let keepAlive = version === '1.1';
    if (conn !== undefined) keepAlive = connectionKeepAlive(conn, keepAlive);

    let body: BodyKind;
    let contentLength: number | undefined;
    if (req.head || status === 204 || status === 304) {
      body = 'none';
    } else if (te !== undefined) {
      body = finalCodingIsChunked(te) ? 'chunked' : 'close';
      // RFC 9112 §6.1 / §6.3: TE together with Content-Length, or TE in an
      // HTTP/1.0 message, means faulty framing: close after this response.
      if (cl !== undefined || version === '1.0') keepAlive = false;
    } else if (cl !== undefined) {
      body = 'length';
      contentLength = this.parseContentLength(cl);
    } else {
      body = 'close';
    }
    if (body === 'close') keepAlive = false;
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

  private switchProtocols(
    status: number,
    reason: string,
    version: HttpVersion,
    headers: Header[],
    chunk: Buffer,
    p: number,
    events: ParseEvent[],
  ): number {
    this.qHead++;
    this.compactQueue();
    this.state = S_DEAD;
    this.deadReason = `a ${status} response switched the connection to another protocol`;
    this.pend = EMPTY;
    this.pendLen = 0;
    events.push({ kind: 'switch', status, reason, version, headers, rest: chunk.subarray(p) });
    return chunk.length;
  }

  /** Parses a (possibly comma-joined) content-length value; all values must agree. */
  private parseContentLength(v: string): number {
    const len = v.length;
    let result = -1;
    let i = 0;
    for (;;) {
      while (i < len && (v.charCodeAt(i) === SP || v.charCodeAt(i) === HT)) i++;
      const ds = i;
      let n = 0;
      for (; i < len; i++) {
        const d = v.charCodeAt(i) - 0x30;
        if (d < 0 || d > 9) break;
        n = n * 10 + d;
        if (n > Number.MAX_SAFE_INTEGER) throw this.fail(parseError(`content-length too large: ${JSON.stringify(v)}`));
      }
      while (i < len && (v.charCodeAt(i) === SP || v.charCodeAt(i) === HT)) i++;
      if (i === ds || (i < len && v.charCodeAt(i) !== 0x2c)) {
        throw this.fail(parseError(`invalid content-length ${JSON.stringify(v)}`));
      }
      if (result === -1) result = n;
      else if (result !== n) {
        throw this.fail(
          new BurrowError('ERR_CONFLICTING_CONTENT_LENGTH', `conflicting content-length values ${JSON.stringify(v)}`, {
            stage: 'http',
            details: { values: v.length > 200 ? `${v.slice(0, 200)}...` : v },
          }),
        );
      }
      if (i === len) return result;
      i++; // the comma
    }
  }

  /** Reads (part of) a chunk-size line; returns the new position. */
  private readChunkSize(chunk: Buffer, p: number): number {
    const len = chunk.length;
    const nl = chunk.indexOf(LF, p);
    const maxLine = MAX_CHUNK_SIZE_LINE + 1; // + a CR before the LF
    if (nl === -1) {
      if (this.pendLen + (len - p) > maxLine) throw this.fail(chunkLineTooLong());
      this.append(chunk, p, len);
      return len;
    }
    if (this.pendLen === 0) {
      this.parseChunkSizeLine(chunk, p, nl);
    } else {
      if (this.pendLen + (nl - p) > maxLine) throw this.fail(chunkLineTooLong());
      this.append(chunk, p, nl);
      this.parseChunkSizeLine(this.pend, 0, this.pendLen);
      this.pendLen = 0;
    }
    return nl + 1;
  }

  /** Parses `buf[start, end)`: a chunk-size line without its LF. */
  private parseChunkSizeLine(buf: Buffer, start: number, end: number): void {
    if (end > start && buf[end - 1] === CR) end--;
    if (end - start > MAX_CHUNK_SIZE_LINE) throw this.fail(chunkLineTooLong());
    let i = start;
    let size = 0;
    for (; i < end; i++) {
      const h = HEXVAL[buf[i] as number] as number;
      if (h === 0) break;
      size = size * 16 + (h - 1);
    }
    const digits = i - start;
    if (digits === 0) throw this.fail(parseError('invalid chunk size line: missing hex size'));
    if (digits > 15 || size > Number.MAX_SAFE_INTEGER) throw this.fail(parseError('chunk size too large'));
    if (i < end) this.checkChunkExtensions(buf, i, end);
    if (size === 0) {
      this.state = S_TRAILERS;
      this.scan = 1; // just after the LF of the last-chunk line
    } else {
      this.remaining = size;
      this.state = S_CHUNK_DATA;
    }
  }

  /** Validates `*( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ) [ OWS ]`. */
  private checkChunkExtensions(buf: Buffer, i: number, end: number): void {
    const bad = (): BurrowError => this.fail(parseError('invalid chunk extension'));
    for (;;) {
      while (i < end && (buf[i] === SP || buf[i] === HT)) i++;
      if (i === end) return;
      if (buf[i] !== 0x3b) throw bad();
      i++;
      while (i < end && (buf[i] === SP || buf[i] === HT)) i++;
      const ns = i;
      while (i < end && TCHAR[buf[i] as number] === 1) i++;
      if (i === ns) throw bad();
      let j = i;
      while (j < end && (buf[j] === SP || buf[j] === HT)) j++;
      if (j < end && buf[j] === 0x3d) {
        i = j + 1;
        while (i < end && (buf[i] === SP || buf[i] === HT)) i++;
        if (i < end && buf[i] === 0x22) {
          i++;
          for (;;) {
            if (i >= end) throw bad();
            const c = buf[i] as number;
            if (c === 0x22) {
              i++;
              break;
            }
            if (c === 0x5c) {
              const q = buf[i + 1];
              if (i + 1 >= end || q === undefined || (q < SP && q !== HT) || q === 0x7f) throw bad();
              i += 2;
              continue;
            }
            if (c === HT || c === SP || c === 0x21 || (c >= 0x23 && c <= 0x7e) || c >= 0x80) i++;
            else throw bad();
          }
        } else {
          const vs = i;
          while (i < end && TCHAR[buf[i] as number] === 1) i++;
          if (i === vs) throw bad();
        }
      }
    }
  }

  /** Reads (part of) the trailer block; returns the new position. */
  private readTrailers(chunk: Buffer, p: number, events: ParseEvent[]): number {
    const block = this.gatherBlock(chunk, p, true);
    if (block === null) return chunk.length;
    const { buf, start, end, next } = block;
    this.scan = 0;
    if (this.nFields > 0) {
      const s = buf.toString('latin1', start, end);
      events.push({ kind: 'trailers', headers: this.buildFields(s, start) });
    }
    this.endMessage(events);
    return next;
  }

  private trailersTooLarge(): BurrowError {
    return new BurrowError('ERR_TRAILER_BLOCK_TOO_LARGE', `response trailer block larger than ${this.maxTrailerBlockSize} bytes`, {
      stage: 'http',
      details: { limit: this.maxTrailerBlockSize },
    });
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

function bareCR(where: string): BurrowError {
  return parseError(`bare CR (not followed by LF) in the ${where}`);
}

function chunkLineTooLong(): BurrowError {
  return parseError(`chunk size line longer than ${MAX_CHUNK_SIZE_LINE} bytes`, { limit: MAX_CHUNK_SIZE_LINE });
}

/** Applies the tokens of a `connection` header value to the default keep-alive. */
function connectionKeepAlive(v: string, dflt: boolean): boolean {
  let sawKeepAlive = false;
  const lower = v.toLowerCase();
  if (lower === 'close') return false;
  if (lower === 'keep-alive') return true;
  for (const part of lower.split(',')) {
    const t = part.trim();
    if (t === 'close') return false;
    if (t === 'keep-alive') sawKeepAlive = true;
  }
  return dflt || sawKeepAlive;
}

/** True when the last transfer coding of a (comma-joined) transfer-encoding value is `chunked`. */
function finalCodingIsChunked(v: string): boolean {
  const parts = v.split(',');
  for (let i = parts.length - 1; i >= 0; i--) {
    const t = (parts[i] as string).trim();
    if (t !== '') return t.toLowerCase() === 'chunked';
  }
  return false;
}
