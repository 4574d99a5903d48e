/**
 * How a response body is delimited and whether the connection stays open
 * after it (RFC 9112 §6.3, §9.3): from the request method, the status, the
 * version and the `content-length`, `transfer-encoding` and `connection`
 * headers.
 */
import { BurrowError } from '../../../errors/errors.js';
import type { Header } from '../../../shared/headers.js';
import { parseError } from './chars.js';

// Byte values as module-local constants: an imported binding is read through its module cell (with a
// hole check) on every use, which costs ~10% in the scanning loops.
const SP = 0x20;
const HT = 0x09;

/** HTTP versions the parser accepts. */
export type HttpVersion = '1.0' | '1.1';

/**
 * How a response body is delimited: `none` (HEAD, 204, 304), `length`
 * (content-length), `chunked`, or `close` (read until the peer closes).
 */
export type BodyKind = 'none' | 'length' | 'chunked' | 'close';

/** The framing of one response. */
export interface Framing {
  body: BodyKind;
  /** Set when `body` is `'length'`. */
  contentLength: number | undefined;
  /** False when the connection must be closed after this response. */
  keepAlive: boolean;
}

/** A record for {@link responseFraming} to fill (a parser reuses one: no allocation per response). */
export function newFraming(): Framing {
  return { body: 'none', contentLength: undefined, keepAlive: true };
}

/**
 * The framing of a final response (status >= 200) to a request that was
 * `head` or not, written into `out` (a new record when not given), which is
 * returned. Throws `ERR_HTTP_PARSE` for an invalid content-length and
 * `ERR_CONFLICTING_CONTENT_LENGTH` when several disagree.
 */
export function responseFraming(status: number, version: HttpVersion, headers: readonly Header[], head: boolean, out: Framing = newFraming()): Framing {
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
  if (head || status === 204 || status === 304) {
    body = 'none';
  } else if (te !== undefined) {
    body = finalCodingIsChunked(te) ? 'chunked' : 'close';
    // RFC 9112 §6.1 / §6.3: TE together with Content-Length, or TE in an
    // HTTP/1.0 message, means faulty framing: close after this response.
    if (cl !== undefined || version === '1.0') keepAlive = false;
  } else if (cl !== undefined) {
    body = 'length';
    contentLength = parseContentLength(cl);
  } else {
    body = 'close';
  }
  if (body === 'close') keepAlive = false;
  out.body = body;
  out.contentLength = contentLength;
  out.keepAlive = keepAlive;
  return out;
}

/** Parses a (possibly comma-joined) content-length value; all values must agree. */
export function parseContentLength(v: string): number {
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
      if (n > Number.MAX_SAFE_INTEGER) throw parseError(`content-length too large: ${JSON.stringify(v)}`);
    }
    while (i < len && (v.charCodeAt(i) === SP || v.charCodeAt(i) === HT)) i++;
    if (i === ds || (i < len && v.charCodeAt(i) !== 0x2c)) {
      throw parseError(`invalid content-length ${JSON.stringify(v)}`);
    }
    if (result === -1) result = n;
    else if (result !== n) {
      throw new BurrowError('ERR_CONFLICTING_CONTENT_LENGTH', `conflicting content-length values ${JSON.stringify(v)}`, {
        stage: 'http',
        details: { values: v.length > 200 ? `${v.slice(0, 200)}...` : v },
      });
    }
    if (i === len) return result;
    i++; // the comma
  }
}

/** Applies the tokens of a `connection` header value to the default keep-alive. */
export function connectionKeepAlive(v: string, dflt: boolean): boolean {
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
export function finalCodingIsChunked(v: string): boolean {
  const parts = v.split(',');
  for (let i = parts.length - 1; i >= 0; i--) {
    const t = (parts[i] as string).trim();
    if (t !== '') return t.toLowerCase() === 'chunked';
  }
  return false;
}
