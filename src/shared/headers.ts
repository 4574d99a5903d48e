/**
 * Header lists: the representation burrow uses for request and response
 * headers, and the validation every outgoing header goes through.
 *
 * A header list is an ordered array of `[name, value]` pairs with lowercase
 * names; a name may repeat. This keeps the order and repetition the peer sent.
 */
import { BurrowError } from '../errors/errors.js';

/** One header: a lowercase name and its value. */
export type Header = readonly [name: string, value: string];

/** An ordered list of headers; names are lowercase and may repeat. */
export type HeaderList = readonly Header[];

/**
 * Headers as a user may give them: a list of pairs, or an object whose values
 * are strings, numbers or arrays of them (an array repeats the header).
 */
export type HeadersInit =
  | ReadonlyArray<readonly [string, string | number]>
  | Readonly<Record<string, string | number | ReadonlyArray<string | number> | undefined>>;

// RFC 9110 §5.6.2 token characters.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// CR, LF and NUL are never allowed in a value (RFC 9110 §5.5).
const FORBIDDEN_IN_VALUE = /[\r\n\0]/;

/** True when `s` is a valid RFC 9110 token (method names, header names). */
export function isToken(s: string): boolean {
  return TOKEN.test(s);
}

function invalidHeader(message: string, name: string): BurrowError {
  return new BurrowError('ERR_INVALID_HEADER', message, { stage: 'http', details: { header: name } });
}

/**
 * Checks one outgoing header. Throws `ERR_INVALID_HEADER` for a name that is
 * not a token or a value with CR, LF or NUL, before anything is written.
 */
export function checkHeader(name: string, value: string): void {
  if (!isToken(name)) {
    throw invalidHeader(`invalid header name ${JSON.stringify(name)}: not an RFC 9110 token`, name);
  }
  if (FORBIDDEN_IN_VALUE.test(value)) {
    throw invalidHeader(`invalid value for header ${name}: contains CR, LF or NUL`, name);
  }
}

/**
 * Turns user-given headers into a validated {@link HeaderList} with lowercase
 * names and values trimmed of surrounding whitespace. Throws `ERR_INVALID_HEADER`.
 */
export function normalizeHeaders(init: HeadersInit | undefined): Header[] {
  const out: Header[] = [];
  if (init === undefined) return out;
  const add = (rawName: string, rawValue: string | number): void => {
    const value = typeof rawValue === 'number' ? String(rawValue) : rawValue;
    if (typeof value !== 'string') {
      throw invalidHeader(`invalid value for header ${rawName}: must be a string or number`, rawName);
    }
    checkHeader(rawName, value);
    out.push([rawName.toLowerCase(), value.trim()]);
  };
  if (Array.isArray(init)) {
    for (const pair of init as ReadonlyArray<readonly [string, string | number]>) {
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string') {
        throw invalidHeader('invalid header pair: expected [name, value]', String(pair));
      }
      add(pair[0], pair[1]);
    }
    return out;
  }
  for (const [name, v] of Object.entries(init as Record<string, string | number | ReadonlyArray<string | number> | undefined>)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const item of v as ReadonlyArray<string | number>) add(name, item);
    else add(name, v as string | number);
  }
  return out;
}

/** The first value of header `name` (lowercase) in `headers`, or undefined. */
export function getHeader(headers: HeaderList, name: string): string | undefined {
  for (const [n, v] of headers) if (n === name) return v;
  return undefined;
}

/** Every value of header `name` (lowercase) in `headers`, in order. */
export function getHeaders(headers: HeaderList, name: string): string[] {
  const out: string[] = [];
  for (const [n, v] of headers) if (n === name) out.push(v);
  return out;
}

/** True when `headers` has header `name` (lowercase). */
export function hasHeader(headers: HeaderList, name: string): boolean {
  for (const [n] of headers) if (n === name) return true;
  return false;
}

/**
 * Checks a request method and path (target): the method must be a token and
 * the path must be non-empty with no CR, LF, NUL, space or other control
 * characters. Throws `ERR_INVALID_REQUEST`.
 */
export function checkRequestLine(method: string, path: string): void {
  if (typeof method !== 'string' || !isToken(method)) {
    throw new BurrowError('ERR_INVALID_REQUEST', `invalid method ${JSON.stringify(method)}: not an RFC 9110 token`, {
      stage: 'http',
    });
  }
  // eslint-disable-next-line no-control-regex
  if (typeof path !== 'string' || path.length === 0 || /[\x00-\x20\x7f]/.test(path)) {
    throw new BurrowError('ERR_INVALID_REQUEST', `invalid path ${JSON.stringify(path)}: empty or contains CR, LF, NUL, space or control characters`, {
      stage: 'http',
    });
  }
}

/** Formats `host` for an authority: IPv6 literals are bracketed. */
export function authorityHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** The `host` header / `:authority` for an endpoint; default ports are omitted. */
export function authority(host: string, port: number, transport: 'tcp' | 'tls'): string {
  const h = authorityHost(host);
  if ((transport === 'tcp' && port === 80) || (transport === 'tls' && port === 443)) return h;
  return `${h}:${port}`;
}
