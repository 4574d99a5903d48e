/**
 * burrow's HTTP/1.1 request encoder, sans-I/O: it only produces bytes.
 *
 * {@link decideFraming} chooses how a request body is delimited,
 * {@link encodeRequestHead} writes the request line and header block, and
 * {@link encodeChunk} / {@link encodeLastChunk} frame a streamed chunked body.
 * Everything is validated before any byte is produced.
 */
import { BurrowError } from '../../../errors/errors.js';
import { checkHeader, checkRequestLine, type HeaderList } from '../../../shared/headers.js';

/** How a request body is delimited on the wire. */
export type BodyFraming = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' };

/** What {@link encodeRequestHead} needs. */
export interface RequestHead {
  /** Request method (an RFC 9110 token, case-sensitive). */
  method: string;
  /** Request target: origin form (`/path?q`), absolute form, or authority form (`host:port`) for CONNECT. */
  target: string;
  /** Request headers (lowercase names). host, content-length and transfer-encoding are handled by the encoder. */
  headers: HeaderList;
  /** host header value used when `headers` has none. */
  host: string;
  /** The request line's version; default `'1.1'`. An HTTP/1.0 request cannot be framed `chunked`. */
  version?: '1.0' | '1.1';
}

const CRLF = Buffer.from('\r\n', 'latin1');
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);
// Characters that latin1 encoding cannot represent: they would be truncated to
// one byte on the wire (U+010A would become LF), so they are refused.
const NOT_LATIN1 = /[\u0100-\uffff]/;

function invalidRequest(message: string): BurrowError {
  return new BurrowError('ERR_INVALID_REQUEST', message, { stage: 'http' });
}

function invalidHeader(message: string, name: string): BurrowError {
  return new BurrowError('ERR_INVALID_HEADER', message, { stage: 'http', details: { header: name } });
}

/** Case-insensitive comparison of a header name with a lowercase constant. */
function isName(name: string, lower: string): boolean {
  return name.length === lower.length && (name === lower || name.toLowerCase() === lower);
}

/** Validates one header for the wire: checkHeader plus "every character fits in one byte". */
function checkWireHeader(name: string, value: string): void {
  checkHeader(name, value);
  if (NOT_LATIN1.test(value)) {
    throw invalidHeader(`invalid value for header ${name}: contains characters above U+00FF`, name);
  }
}

/** Parses a content-length value given by the user: digits only (repeated values must agree). */
function userContentLength(values: string[]): number {
  let result = -1;
  for (const raw of values) {
    for (const part of raw.split(',')) {
      const v = part.trim();
      if (!/^[0-9]+$/.test(v) || !Number.isSafeInteger(Number(v))) {
        throw invalidHeader(`invalid content-length ${JSON.stringify(raw)}: must be digits`, 'content-length');
      }
      const n = Number(v);
      if (result !== -1 && n !== result) {
        throw invalidHeader(`conflicting content-length values ${JSON.stringify(values.join(', '))}`, 'content-length');
      }
      result = n;
    }
  }
  return result;
}

/**
 * Decides framing: body Buffer given (full request) → 'length' with its
 * byteLength, except an empty body on a method other than POST/PUT/PATCH →
 * 'none'; body null (streamed with data() later) → 'length' if headers contain
 * content-length (validated: digits) else 'chunked'. A CONNECT always gets
 * 'none' (a non-empty body for a CONNECT throws ERR_INVALID_REQUEST).
 */
export function decideFraming(method: string, headers: HeaderList, body: Buffer | null): BodyFraming {
  if (method === 'CONNECT') {
    if (body !== null && body.byteLength > 0) throw invalidRequest('a CONNECT request cannot have a body');
    return { kind: 'none' };
  }
  if (body !== null) {
    if (body.byteLength === 0 && !BODY_METHODS.has(method)) return { kind: 'none' };
    return { kind: 'length', length: body.byteLength };
  }
  const cl: string[] = [];
  for (const [name, value] of headers) if (isName(name, 'content-length')) cl.push(value);
  if (cl.length > 0) return { kind: 'length', length: userContentLength(cl) };
  return { kind: 'chunked' };
}

/**
 * Request line + headers + CRLF as one Buffer. Writes `host` first (the user's
 * host header value if given, else `head.host`), then the user headers in
 * order except host, content-length and transfer-encoding, then the framing
 * header (`content-length: N` or `transfer-encoding: chunked`). Validates
 * everything before producing bytes: ERR_INVALID_REQUEST (method, target,
 * framing) or ERR_INVALID_HEADER (headers; also characters above U+00FF,
 * which cannot be written as single bytes, and a repeated host header).
 */
export function encodeRequestHead(head: RequestHead, framing: BodyFraming): Buffer {
  const { method, target, headers } = head;
  checkRequestLine(method, target);
  if (NOT_LATIN1.test(target)) throw invalidRequest(`invalid path ${JSON.stringify(target)}: contains characters above U+00FF`);

  let host: string | undefined;
  let rest = '';
  for (let i = 0; i < headers.length; i++) {
    const h = headers[i];
    if (h === undefined) continue;
    const name = h[0];
    const value = h[1];
    checkWireHeader(name, value);
    if (isName(name, 'host')) {
      if (host !== undefined) throw invalidHeader('more than one host header', 'host');
      host = value;
    } else if (!isName(name, 'content-length') && !isName(name, 'transfer-encoding')) {
      rest += `${name}: ${value}\r\n`;
    }
  }
  if (host === undefined) {
    host = head.host;
    checkWireHeader('host', host);
  }

  let framingLine: string;
  switch (framing.kind) {
    case 'none':
      framingLine = '';
      break;
    case 'length':
      if (!Number.isSafeInteger(framing.length) || framing.length < 0) {
        throw invalidRequest(`invalid body length ${String(framing.length)}`);
      }
      framingLine = `content-length: ${framing.length}\r\n`;
      break;
    case 'chunked':
      if (head.version === '1.0') throw invalidRequest('an HTTP/1.0 request cannot be chunked: a streamed body needs a content-length');
      framingLine = 'transfer-encoding: chunked\r\n';
      break;
    default:
      throw invalidRequest('invalid body framing');
  }
  if (method === 'CONNECT' && framingLine !== '') {
    throw invalidRequest('a CONNECT request is never framed with content-length or transfer-encoding');
  }
  return Buffer.from(`${method} ${target} HTTP/${head.version ?? '1.1'}\r\nhost: ${host}\r\n${rest}${framingLine}\r\n`, 'latin1');
}

/**
 * One chunk of a chunked body: `${hex}\r\n`, data, `\r\n`, as three Buffers so
 * large data is not copied (the CRLF Buffer is shared: do not modify it). Empty
 * data returns [] (a zero-size chunk would end the body).
 */
export function encodeChunk(data: Buffer): Buffer[] {
  const n = data.byteLength;
  if (n === 0) return [];
  return [Buffer.from(`${n.toString(16)}\r\n`, 'latin1'), data, CRLF];
}

/** The last chunk: `0\r\n`, the trailer fields (validated), `\r\n`. */
export function encodeLastChunk(trailers?: HeaderList): Buffer {
  if (trailers === undefined || trailers.length === 0) return Buffer.from('0\r\n\r\n', 'latin1');
  let s = '0\r\n';
  for (const [name, value] of trailers) {
    checkWireHeader(name, value);
    s += `${name}: ${value}\r\n`;
  }
  return Buffer.from(`${s}\r\n`, 'latin1');
}
