/**
 * Fuzz target: the HTTP/1.1 request encoder behind user input. The input is
 * cut at 0xFE bytes into a method, a target, a host and header names and
 * values (decoded as latin1, or as UTF-8 when the first byte says so); they go
 * through `normalizeHeaders` (what request() does with the user's headers) and
 * `encodeRequestHead`, and trailers through `encodeLastChunk`. Either the
 * input is refused with a typed error, or the bytes produced are well-formed
 * lines: no CR, LF or NUL from user data anywhere but at the line ends.
 */
import { BurrowError } from '../../../src/errors/errors.js';
import { encodeLastChunk, encodeRequestHead, type BodyFraming } from '../../../src/protocols/http1/codec/index.js';
import { normalizeHeaders, type HeaderList } from '../../../src/shared/headers.js';
import { FuzzFailure, type FuzzTarget } from '../engine.js';

const TYPED = new Set(['ERR_INVALID_HEADER', 'ERR_INVALID_REQUEST', 'ERR_INVALID_OPTION']);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function typed(e: unknown): string {
  if (!(e instanceof BurrowError) || !TYPED.has(e.code)) throw e;
  return `!${e.code}`;
}

/** Checks the bytes of a head or trailer block: lines, each without CR, LF or NUL inside. */
function checkLines(bytes: Buffer, first: string | undefined, headers: HeaderList): void {
  const s = bytes.toString('latin1');
  if (!s.endsWith('\r\n\r\n')) throw new FuzzFailure(`the block does not end with an empty line: ${JSON.stringify(s.slice(-40))}`);
  const lines = s.slice(0, -4).split('\r\n');
  for (const l of lines) if (/[\r\n\0]/.test(l)) throw new FuzzFailure(`CR, LF or NUL inside a line: ${JSON.stringify(l)}`);
  const fields = first === undefined ? lines : lines.slice(1);
  if (first !== undefined && lines[0] !== first) throw new FuzzFailure(`request line ${JSON.stringify(lines[0])}, expected ${JSON.stringify(first)}`);
  for (const l of fields) {
    const colon = l.indexOf(':');
    if (colon <= 0 || !TOKEN.test(l.slice(0, colon))) throw new FuzzFailure(`a header line without a token name: ${JSON.stringify(l)}`);
  }
  // Every user header (but the framing ones, replaced by the encoder) is on the wire as given.
  for (const [n, v] of headers) {
    if (n === 'content-length' || n === 'transfer-encoding') continue;
    if (!fields.includes(`${n}: ${v}`)) throw new FuzzFailure(`header ${JSON.stringify([n, v])} is not on the wire as given`);
  }
}

function run(input: Buffer): string {
  const utf8 = ((input[0] ?? 0) & 1) === 1;
  const framingKind = (input[0] ?? 0) >> 1;
  const fields: string[] = [];
  let from = 1;
  for (let i = 1; i <= input.length; i++) {
    if (i === input.length || input[i] === 0xfe) {
      const b = input.subarray(from, i);
      fields.push(utf8 ? b.toString('utf8') : b.toString('latin1'));
      from = i + 1;
    }
  }
  const [method = 'GET', target = '/', host = 'h', ...rest] = fields;
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i + 1 < rest.length; i += 2) pairs.push([rest[i] as string, rest[i + 1] as string]);
  let headers: HeaderList;
  try {
    headers = normalizeHeaders(pairs);
  } catch (e) {
    return typed(e);
  }
  const framing: BodyFraming = framingKind % 3 === 0 ? { kind: 'none' } : framingKind % 3 === 1 ? { kind: 'length', length: framingKind } : { kind: 'chunked' };
  const out: string[] = [];
  try {
    const head = encodeRequestHead({ method, target, headers, host }, framing);
    checkLines(head, `${method} ${target} HTTP/1.1`, headers.filter(([n]) => n !== 'host'));
    out.push(`head ${head.length}`);
  } catch (e) {
    if (e instanceof FuzzFailure) throw e;
    out.push(typed(e));
  }
  try {
    const last = encodeLastChunk(headers);
    if (!last.subarray(0, 3).equals(Buffer.from('0\r\n'))) throw new FuzzFailure('the last chunk does not start with 0 CRLF');
    checkLines(last.subarray(3).length === 2 ? Buffer.from('x\r\n\r\n') : Buffer.concat([Buffer.from('x\r\n'), last.subarray(3)]), 'x', headers);
    out.push(`last ${last.length}`);
  } catch (e) {
    if (e instanceof FuzzFailure) throw e;
    out.push(typed(e));
  }
  return out.join(' ');
}

const SEP = '\xfe';
const g = (mode: number, ...f: string[]): Buffer => Buffer.concat([Buffer.from([mode]), Buffer.from(f.join(SEP), 'latin1')]);

/** The request encoder behind the user's method, path and headers. */
export const requestEncoder: FuzzTarget = {
  name: 'request-encoder',
  streaming: false,
  dictionary: ['\r', '\n', '\r\n', '\0', ' ', '\t', ':', SEP, 'host', 'content-length', 'transfer-encoding', 'CONNECT', 'h:443', '\xc4\x8a', '\xe2\x80\xa8', '\x7f', '\xff'],
  seeds: () => [
    g(0, 'GET', '/', 'example.com'),
    g(2, 'POST', '/upload?x=1', 'example.com:8080', 'content-type', 'text/plain', 'x-a', ' padded '),
    g(4, 'CONNECT', 'origin:443', 'origin:443', 'proxy-authorization', 'Basic dTpw'),
    g(1, 'PUT', '/\xc3\xa9', 'h', 'x-utf8', '\xc3\xa9\xe2\x82\xac'),
    g(0, 'GET', '/', 'h', 'Host', 'other', 'content-length', '5', 'Transfer-Encoding', 'chunked'),
  ],
  run,
  shape: (o) => o.replace(/\d+/g, 'n'),
};
