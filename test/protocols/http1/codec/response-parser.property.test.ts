import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { BurrowError, type ErrorCode } from '../../../../src/errors/errors.js';
import { MAX_EMPTY_LINES, ResponseParser, type ParseEvent } from '../../../../src/protocols/http1/codec/index.js';

// ---------------------------------------------------------------------------
// A model of valid response streams: bytes on the wire and the events they mean.


interface Msg {
  method: 'GET' | 'HEAD' | 'POST';
  informs: Array<{ status: number; reason: string; headers: Array<[string, string, string]> }>;
  status: number;
  reason: string;
  version: '1.0' | '1.1';
  /** [wire name, wire value (with OWS), expected value] */
  headers: Array<[string, string, string]>;
  connection: 'close' | 'keep-alive' | undefined;
  framingAt: number;
  body: { kind: 'length' | 'chunked' | 'close'; data: string; chunks: Array<{ size: number; ext: string; hex: string }>; lastExt: string; trailers: Array<[string, string, string]> };
  eol: '\r\n' | '\n';
  /** Empty lines before each head: the informs' (0, 1) and the final one's (2). */
  leads: string[];
}

/** One "event" as compared: Buffers as latin1 strings, consecutive data merged. */
type Shown = { kind: string; [k: string]: unknown };

function show(events: readonly ParseEvent[]): Shown[] {
  const out: Shown[] = [];
  for (const e of events) {
    if (e.kind === 'data') {
      const last = out[out.length - 1];
      if (last !== undefined && last.kind === 'data') last.data = (last.data as string) + e.data.toString('latin1');
      else out.push({ kind: 'data', data: e.data.toString('latin1') });
    } else if (e.kind === 'switch') {
      out.push({ ...e, rest: e.rest.toString('latin1') });
    } else {
      out.push({ ...e });
    }
  }
  return out;
}

const FRAMING_NAMES = new Set(['content-length', 'transfer-encoding', 'connection']);
const nameArb = fc
  .oneof(
    fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,14}$/),
    fc.constantFrom('Content-Type', 'content-type', 'DATE', 'Server', 'set-cookie', 'ETag', 'Vary', 'Cache-Control', 'X-Request-Id', 'WWW-Authenticate'),
    fc.string({ unit: fc.constantFrom(..."!#$%&'*+-.^_`|~0123456789abcdefXYZ"), minLength: 1, maxLength: 8 }),
  )
  .filter((n) => !FRAMING_NAMES.has(n.toLowerCase()));
const valueChars = fc.constantFrom(...'abcXYZ019 \t!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~\x80\xe9\xff');
const owsArb = fc.constantFrom('', ' ', '  ', '\t', ' \t ');
const headerArb: fc.Arbitrary<[string, string, string]> = fc
  .tuple(nameArb, owsArb, fc.string({ unit: valueChars, maxLength: 20 }), owsArb)
  .map(([n, pre, v, post]) => [n, pre + v + post, (pre + v + post).replace(/^[ \t]+|[ \t]+$/g, '')]);
const headersArb = fc.array(headerArb, { maxLength: 6 });
const reasonArb = fc.string({ unit: fc.constantFrom(...'OK Not Found\tabc\xe9'), maxLength: 12 });
const dataArb = fc.uint8Array({ maxLength: 80 }).map((u) => Buffer.from(u).toString('latin1'));
const extArb = fc.constantFrom('', ';a', ';a=b', ' ; name = "q\\"x;y"', ';x;y=z', '\t;k=v', ';a =\tb ;c');
/** Up to MAX_EMPTY_LINES empty lines, CRLF or LF. */
const leadArb = fc.array(fc.constantFrom('\r\n', '\n'), { maxLength: MAX_EMPTY_LINES }).map((a) => a.join(''));

const bodyArb = fc.record({
  kind: fc.constantFrom<'length' | 'chunked' | 'close'>('length', 'chunked', 'close'),
  data: dataArb,
  splits: fc.array(fc.nat(), { maxLength: 5 }),
  exts: fc.array(extArb, { minLength: 6, maxLength: 6 }),
  upper: fc.boolean(),
  zeros: fc.nat(2),
  lastExt: extArb,
  trailers: fc.array(headerArb, { maxLength: 3 }),
});

const msgArb: fc.Arbitrary<Msg> = fc
  .record({
    method: fc.constantFrom<'GET' | 'HEAD' | 'POST'>('GET', 'GET', 'POST', 'HEAD'),
    informs: fc.array(fc.record({ status: fc.constantFrom(100, 102, 103, 199), reason: reasonArb, headers: headersArb }), { maxLength: 2 }),
    status: fc.oneof(fc.integer({ min: 200, max: 599 }), fc.constantFrom(200, 204, 304, 404)),
    reason: reasonArb,
    version: fc.constantFrom<'1.0' | '1.1'>('1.1', '1.1', '1.0'),
    headers: headersArb,
    connection: fc.constantFrom<'close' | 'keep-alive' | undefined>(undefined, undefined, 'close', 'keep-alive'),
    framingAt: fc.nat(),
    body: bodyArb,
    eol: fc.constantFrom<'\r\n' | '\n'>('\r\n', '\r\n', '\n'),
    leads: fc.array(fc.oneof(fc.constant(''), leadArb), { minLength: 3, maxLength: 3 }),
  })
  .map((r) => {
    const data = r.body.data;
    const cuts = [...new Set(r.body.splits.map((s) => (data.length === 0 ? 0 : s % data.length)).filter((c) => c > 0))].sort((a, b) => a - b);
    const sizes: number[] = [];
    let prev = 0;
    for (const c of [...cuts, data.length]) {
      if (c > prev) sizes.push(c - prev);
      prev = c;
    }
    const chunks = sizes.map((size, i) => {
      let hex = size.toString(16);
      if (r.body.upper) hex = hex.toUpperCase();
      return { size, ext: r.body.exts[i % r.body.exts.length] as string, hex: '0'.repeat(r.body.zeros) + hex };
    });
    return { ...r, body: { kind: r.body.kind, data, chunks, lastExt: r.body.lastExt, trailers: r.body.trailers } };
  });

/** Forces every message but the last to leave the connection reusable. */
const streamArb = fc.array(msgArb, { minLength: 1, maxLength: 4 }).map((msgs) =>
  msgs.map((m, i) => (i < msgs.length - 1 ? { ...m, version: '1.1' as const, connection: undefined, body: { ...m.body, kind: m.body.kind === 'close' ? ('length' as const) : m.body.kind } } : m)),
);

function encodeHeaders(h: ReadonlyArray<[string, string, string]>, eol: string): string {
  return h.map(([n, v]) => `${n}:${v}${eol}`).join('');
}

/** Wire bytes and expected events (with finish() at the end) for a stream of messages. */
function build(msgs: readonly Msg[]): { wire: string; expected: Shown[]; expects: string[] } {
  let wire = '';
  const expected: Shown[] = [];
  const expects: string[] = [];
  for (const m of msgs) {
    const eol = m.eol;
    expects.push(m.method);
    for (const [k, inf] of m.informs.entries()) {
      wire += `${m.leads[k] as string}HTTP/1.1 ${inf.status} ${inf.reason}${eol}${encodeHeaders(inf.headers, eol)}${eol}`;
      expected.push({ kind: 'inform', status: inf.status, reason: inf.reason, version: '1.1', headers: inf.headers.map(([n, , v]) => [n.toLowerCase(), v]) });
    }
    const noBody = m.method === 'HEAD' || m.status === 204 || m.status === 304;
    const wireHeaders = [...m.headers];
    const b = m.body;
    let framing: [string, string, string] | undefined;
    if (b.kind === 'length') framing = ['Content-Length', ` ${b.data.length}`, String(b.data.length)];
    else if (b.kind === 'chunked') framing = ['Transfer-Encoding', ' chunked', 'chunked'];
    if (framing !== undefined) wireHeaders.splice(m.framingAt % (wireHeaders.length + 1), 0, framing);
    if (m.connection !== undefined) wireHeaders.push(['Connection', ` ${m.connection}`, m.connection]);
    wire += `${m.leads[2] as string}HTTP/${m.version} ${m.status}${m.reason === '' && m.status % 2 === 0 ? '' : ` ${m.reason}`}${eol}${encodeHeaders(wireHeaders, eol)}${eol}`;
    const kind = noBody ? 'none' : b.kind;
    let keepAlive = m.version === '1.1' ? m.connection !== 'close' : m.connection === 'keep-alive';
    // Close-delimited, or transfer-encoding in an HTTP/1.0 response (RFC 9112 §6.1): not reusable.
    if (kind === 'close' || (kind === 'chunked' && m.version === '1.0')) keepAlive = false;
    expected.push({
      kind: 'head',
      status: m.status,
      reason: m.reason,
      version: m.version,
      headers: wireHeaders.map(([n, , v]) => [n.toLowerCase(), v]),
      body: kind,
      contentLength: kind === 'length' ? b.data.length : undefined,
      keepAlive,
    });
    if (kind === 'none') {
      expected.push({ kind: 'end', keepAlive });
      continue;
    }
    if (kind === 'length' || kind === 'close') wire += b.data;
    else {
      let off = 0;
      for (const c of b.chunks) {
        wire += `${c.hex}${c.ext}${eol}${b.data.slice(off, off + c.size)}${eol}`;
        off += c.size;
      }
      wire += `0${b.lastExt}${eol}${encodeHeaders(b.trailers, eol)}${eol}`;
    }
    if (b.data.length > 0) expected.push({ kind: 'data', data: b.data });
    if (kind === 'chunked' && b.trailers.length > 0) {
      expected.push({ kind: 'trailers', headers: b.trailers.map(([n, , v]) => [n.toLowerCase(), v]) });
    }
    expected.push({ kind: 'end', keepAlive });
  }
  return { wire, expected, expects };
}

/** Cuts `wire` at the given positions (taken modulo its length). */
function cut(wire: Buffer, positions: readonly number[]): Buffer[] {
  const at = [...new Set(positions.map((p) => p % (wire.length + 1)))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let prev = 0;
  for (const p of [...at, wire.length]) {
    if (p > prev) pieces.push(wire.subarray(prev, p));
    prev = p;
  }
  return pieces;
}

function feedAll(pieces: readonly Buffer[], expects: readonly string[]): ParseEvent[] {
  const p = new ResponseParser();
  for (const m of expects) p.expect(m);
  const events: ParseEvent[] = [];
  for (const piece of pieces) events.push(...p.feed(piece));
  events.push(...p.finish());
  assert.equal(p.pending, 0);
  return events;
}

// ---------------------------------------------------------------------------

describe('ResponseParser properties', () => {
  it('valid response streams parse to the modelled events, fed whole or cut anywhere', () => {
    fc.assert(
      fc.property(streamArb, fc.array(fc.nat(), { maxLength: 40 }), (msgs, positions) => {
        const { wire, expected, expects } = build(msgs);
        const buf = Buffer.from(wire, 'latin1');
        const whole = show(feedAll([buf], expects));
        assert.deepEqual(whole, expected);
        assert.deepEqual(show(feedAll(cut(buf, positions), expects)), whole);
      }),
      { numRuns: 400 },
    );
  });

  it('feeding one byte at a time gives the same events as feeding the whole stream', () => {
    fc.assert(
      fc.property(streamArb, (msgs) => {
        const { wire, expected, expects } = build(msgs);
        const buf = Buffer.from(wire, 'latin1');
        const pieces: Buffer[] = [];
        for (let i = 0; i < buf.length; i++) pieces.push(buf.subarray(i, i + 1));
        assert.deepEqual(show(feedAll(pieces, expects)), expected);
      }),
      { numRuns: 150 },
    );
  });

  it('switch rest holds exactly the bytes after the head, whatever the cut', () => {
    const switchArb = fc.record({
      before: fc.array(msgArb, { maxLength: 2 }),
      connect: fc.boolean(),
      status: fc.integer({ min: 200, max: 299 }),
      informs: fc.array(fc.constantFrom(100, 103), { maxLength: 2 }),
      headers: headersArb,
      eol: fc.constantFrom('\r\n', '\n'),
      rest: fc.oneof(
        fc.uint8Array({ maxLength: 100 }).map((u) => Buffer.from(u).toString('latin1')),
        fc.constantFrom('', 'HTTP/1.1 200 OK\r\n\r\n', '\r\n\r\n', '\x16\x03\x01\x02\x00'),
      ),
      positions: fc.array(fc.nat(), { maxLength: 20 }),
    });
    fc.assert(
      fc.property(switchArb, (s) => {
        const before = s.before.map((m) => ({ ...m, version: '1.1' as const, connection: undefined, body: { ...m.body, kind: m.body.kind === 'close' ? ('length' as const) : m.body.kind } }));
        const { wire: pre, expected, expects } = build(before);
        const status = s.connect ? s.status : 101;
        const eol = s.eol;
        let wire = pre;
        for (const st of s.informs) {
          wire += `HTTP/1.1 ${st} Info${eol}${eol}`;
          expected.push({ kind: 'inform', status: st, reason: 'Info', version: '1.1', headers: [] });
        }
        wire += `HTTP/1.1 ${status} Go${eol}${encodeHeaders(s.headers, eol)}${eol}`;
        const all = Buffer.from(wire + s.rest, 'latin1');
        const pieces = cut(all, s.positions);
        const p = new ResponseParser();
        for (const m of expects) p.expect(m);
        if (s.connect) p.expect('CONNECT');
        else p.expect('GET', { upgrade: true });
        const events: ParseEvent[] = [];
        let k = 0;
        while (k < pieces.length && !events.some((e) => e.kind === 'switch')) events.push(...p.feed(pieces[k++] as Buffer));
        const sw = events.at(-1);
        assert.ok(sw !== undefined && sw.kind === 'switch');
        assert.equal(Buffer.concat([sw.rest, ...pieces.slice(k)]).toString('latin1'), s.rest);
        expected.push({ kind: 'switch', status, reason: 'Go', version: '1.1', headers: s.headers.map(([n, , v]) => [n.toLowerCase(), v]), rest: sw.rest.toString('latin1') });
        assert.deepEqual(show(events), expected);
        assert.throws(() => p.feed(Buffer.from('x')), (e: unknown) => e instanceof BurrowError && e.code === 'ERR_HTTP_PARSE');
      }),
      { numRuns: 300 },
    );
  });
});

// ---------------------------------------------------------------------------
// Fuzzing: whatever the bytes, only BurrowError is ever thrown.

const CODES = new Set<ErrorCode>([
  'ERR_HTTP_PARSE',
  'ERR_HEADER_BLOCK_TOO_LARGE',
  'ERR_TRAILER_BLOCK_TOO_LARGE',
  'ERR_TOO_MANY_HEADERS',
  'ERR_CONFLICTING_CONTENT_LENGTH',
  'ERR_UNEXPECTED_101',
]);

const expectArb = fc.array(
  fc.constantFrom<[string, boolean]>(['GET', false], ['HEAD', false], ['CONNECT', false], ['GET', true], ['POST', false]),
  { maxLength: 4 },
);

/** Feeds pieces then finish(); checks that any error is a BurrowError, and basic invariants. */
function fuzzOnce(input: Buffer, expects: ReadonlyArray<[string, boolean]>, positions: readonly number[], small: boolean): void {
  const p = small ? new ResponseParser({ maxHeaderBlockSize: 64, maxTrailerBlockSize: 16, maxHeaderCount: 3 }) : new ResponseParser();
  for (const [m, upgrade] of expects) p.expect(m, { upgrade });
  let dataBytes = 0;
  let switched = false;
  try {
    for (const piece of cut(input, positions)) {
      if (switched) break;
      for (const e of p.feed(piece)) {
        if (e.kind === 'data') dataBytes += e.data.length;
        if (e.kind === 'switch') {
          switched = true;
          dataBytes += e.rest.length;
        }
      }
    }
    for (const e of p.finish()) assert.equal(e.kind, 'end');
  } catch (e) {
    if (!(e instanceof BurrowError)) throw e;
    assert.ok(CODES.has(e.code), e.code);
    assert.equal(e.stage, 'http');
    assert.throws(() => p.feed(Buffer.from('x')), (x: unknown) => x instanceof BurrowError && x.code === 'ERR_HTTP_PARSE');
  }
  assert.ok(dataBytes <= input.length);
  assert.ok(p.pending >= 0 && p.pending <= expects.length);
}

const STATUS_LINES = ['HTTP/1.1 200 OK\r\n', 'HTTP/1.0 200 OK\n', 'HTTP/1.1 101 S\r\n', 'HTTP/1.1 100 C\r\n', 'HTTP/1.1 204\r\n', 'HTTP/1.1 407 P\r\n', 'HTTP/1.1 '];
const HEADER_TOKENS = [
  '\r\n', '\n', '\r', ':', ' ', '\t', 'x-a', 'content-length: ', 'Content-Length: 5\r\n', 'content-length: 1, 2\r\n', 'content-length: 0\r\n',
  'transfer-encoding: chunked\r\n', 'Transfer-Encoding: gzip\r\n', 'connection: close\r\n', 'connection: keep-alive\n', 'x-a: b\r\n',
  '5', 'a', '\x00', '\x7f', '\xff', 'HTTP/1.1 200 OK\r\n',
];
const BODY_TOKENS = [
  '\r\n', '\n', '\r', '0', '1', '5', 'f', 'A', 'ffffffffffffffff', ';', '=', '"', '\\', ' ', 'hello', ';a=b', ';a="x\\"y"',
  '\x00', '\xff', '0\r\n\r\n', '0\r\n', 'x-t: v\r\n', '3\r\nabc\r\n', 'HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nx',
];
const soupArb = fc
  .tuple(
    fc.constantFrom(...STATUS_LINES),
    fc.array(fc.constantFrom(...HEADER_TOKENS), { maxLength: 20 }),
    fc.constantFrom('\r\n', '\n', ''),
    fc.array(fc.constantFrom(...BODY_TOKENS), { maxLength: 30 }),
  )
  .map(([a, b, c, d]) => a + b.join('') + c + d.join(''));

describe('ResponseParser fuzzing', () => {
  it('random bytes only ever throw BurrowError', { timeout: 20_000 }, () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), expectArb, fc.array(fc.nat(), { maxLength: 10 }), fc.boolean(), (bytes, expects, positions, small) => {
        fuzzOnce(Buffer.from(bytes), expects, positions, small);
      }),
      { numRuns: 1500 },
    );
  });

  it('HTTP-like token soup only ever throws BurrowError', { timeout: 20_000 }, () => {
    fc.assert(
      fc.property(soupArb, expectArb, fc.array(fc.nat(), { maxLength: 10 }), fc.boolean(), (soup, expects, positions, small) => {
        fuzzOnce(Buffer.from(soup, 'latin1'), expects, positions, small);
      }),
      { numRuns: 1500 },
    );
  });

  it('mutated valid responses only ever throw BurrowError', { timeout: 20_000 }, () => {
    const mutation = fc.record({
      op: fc.constantFrom('set', 'insert', 'delete', 'dup'),
      at: fc.nat(),
      len: fc.integer({ min: 1, max: 8 }),
      byte: fc.oneof(fc.constantFrom(0x0d, 0x0a, 0x3a, 0x20, 0x09, 0x00, 0x3b, 0x22, 0x30, 0x66, 0x7f, 0xff), fc.nat(255)),
    });
    fc.assert(
      fc.property(streamArb, fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.array(fc.nat(), { maxLength: 10 }), fc.boolean(), (msgs, mutations, positions, small) => {
        const { wire, expects } = build(msgs);
        let b = Buffer.from(wire, 'latin1');
        for (const m of mutations) {
          const at = b.length === 0 ? 0 : m.at % b.length;
          if (m.op === 'set' && b.length > 0) b[at] = m.byte;
          else if (m.op === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from([m.byte]), b.subarray(at)]);
          else if (m.op === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.len)]);
          else b = Buffer.concat([b.subarray(0, at + m.len), b.subarray(at)]);
        }
        fuzzOnce(b, expects.map((e) => [e, false] as [string, boolean]), positions, small);
      }),
      { numRuns: 1500 },
    );
  });
});
