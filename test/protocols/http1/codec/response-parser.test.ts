import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { BurrowError, type ErrorCode } from '../../../../src/errors/errors.js';
import { MAX_EMPTY_LINES, ResponseParser, type ParseEvent, type ParserLimits } from '../../../../src/protocols/http1/codec/index.js';

// ---------------------------------------------------------------------------
// Helpers

/** An event with Buffers shown as latin1 strings, for deepEqual. */
type Shown =
  | Exclude<ParseEvent, { kind: 'data' } | { kind: 'switch' }>
  | { kind: 'data'; data: string }
  | (Omit<Extract<ParseEvent, { kind: 'switch' }>, 'rest'> & { rest: string });

/** Shows events with Buffers as strings and consecutive 'data' events merged. */
function show(events: readonly ParseEvent[]): Shown[] {
  const out: Shown[] = [];
  for (const e of events) {
    if (e.kind === 'data') {
      const last = out[out.length - 1];
      if (last !== undefined && last.kind === 'data') last.data += e.data.toString('latin1');
      else out.push({ kind: 'data', data: e.data.toString('latin1') });
    } else if (e.kind === 'switch') {
      out.push({ ...e, rest: e.rest.toString('latin1') });
    } else {
      out.push(e);
    }
  }
  return out;
}

type Exp = string | readonly [string, { upgrade: boolean }];

function parser(expects: readonly Exp[] = ['GET'], limits?: Partial<ParserLimits>): ResponseParser {
  const p = new ResponseParser(limits);
  for (const e of expects) {
    if (typeof e === 'string') p.expect(e);
    else p.expect(e[0], e[1]);
  }
  return p;
}

/** Feeds `pieces` (latin1 strings) to a new parser and returns the shown events. */
function run(pieces: string | readonly string[], expects: readonly Exp[] = ['GET'], limits?: Partial<ParserLimits>): Shown[] {
  const p = parser(expects, limits);
  const events: ParseEvent[] = [];
  for (const piece of typeof pieces === 'string' ? [pieces] : pieces) events.push(...p.feed(Buffer.from(piece, 'latin1')));
  return show(events);
}

/** Feeds `input` byte by byte. */
function runBytewise(input: string, expects: readonly Exp[] = ['GET'], limits?: Partial<ParserLimits>): Shown[] {
  return run(input.split(''), expects, limits);
}

function isErr(code: ErrorCode): (e: unknown) => boolean {
  return (e: unknown) => {
    if (!(e instanceof BurrowError)) assert.fail(`expected a BurrowError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.equal(e.stage, 'http');
    return true;
  };
}

function throwsCode(fn: () => unknown, code: ErrorCode): BurrowError {
  let caught: unknown;
  assert.throws(() => {
    try {
      fn();
    } catch (e) {
      caught = e;
      throw e;
    }
  }, isErr(code));
  return caught as BurrowError;
}

/** Feeding `input` (whole, and in a fresh parser byte by byte) throws `code`. */
function rejects(input: string, code: ErrorCode, expects: readonly Exp[] = ['GET'], limits?: Partial<ParserLimits>): BurrowError {
  throwsCode(() => runBytewise(input, expects, limits), code);
  return throwsCode(() => run(input, expects, limits), code);
}

/** Feeding `input` cut in two at every position gives `expected`; so does feeding it whole and byte by byte. */
function parsesAtEverySplit(input: string, expected: readonly Shown[], expects: readonly Exp[] = ['GET']): void {
  parses(input, expected, expects);
  for (let i = 0; i <= input.length; i++) {
    assert.deepEqual(run([input.slice(0, i), input.slice(i)], expects), expected, `cut at ${i}`);
  }
}

/** Feeding `input` cut in two at every position (and whole, and byte by byte) throws `code` with a message matching `message`. */
function rejectsAtEverySplit(input: string, code: ErrorCode, message: RegExp, expects: readonly Exp[] = ['GET']): void {
  assert.match(rejects(input, code, expects).message, message);
  for (let i = 0; i <= input.length; i++) {
    const e = throwsCode(() => run([input.slice(0, i), input.slice(i)], expects), code);
    assert.match(e.message, message, `cut at ${i}`);
  }
}

/** Feeding `input` gives `expected`, whole and byte by byte. */
function parses(input: string, expected: readonly Shown[], expects: readonly Exp[] = ['GET'], limits?: Partial<ParserLimits>): void {
  assert.deepEqual(run(input, expects, limits), expected);
  assert.deepEqual(runBytewise(input, expects, limits), expected);
}

function head(
  status: number,
  headers: Array<[string, string]>,
  body: 'none' | 'length' | 'chunked' | 'close',
  opts: { reason?: string; version?: '1.0' | '1.1'; contentLength?: number; keepAlive?: boolean } = {},
): Shown {
  return {
    kind: 'head',
    status,
    reason: opts.reason ?? 'OK',
    version: opts.version ?? '1.1',
    headers,
    body,
    contentLength: opts.contentLength,
    keepAlive: opts.keepAlive ?? true,
  };
}

const END: Shown = { kind: 'end', keepAlive: true };
const END_CLOSE: Shown = { kind: 'end', keepAlive: false };
const data = (s: string): Shown => ({ kind: 'data', data: s });

// ---------------------------------------------------------------------------

describe('ResponseParser: status line', () => {
  it('parses a simple response with a content-length body', () => {
    parses('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello', [
      head(200, [['content-length', '5']], 'length', { contentLength: 5 }),
      data('hello'),
      END,
    ]);
  });

  it('accepts an empty reason with or without the space', () => {
    parses('HTTP/1.1 204 \r\n\r\n', [head(204, [], 'none', { reason: '' }), END]);
    parses('HTTP/1.1 204\r\n\r\n', [head(204, [], 'none', { reason: '' }), END]);
  });

  it('keeps the reason phrase as sent, spaces and obs-text included', () => {
    parses('HTTP/1.1 404 Not  Found \r\ncontent-length: 0\r\n\r\n', [
      head(404, [['content-length', '0']], 'length', { reason: 'Not  Found ', contentLength: 0 }),
      END,
    ]);
    parses('HTTP/1.1 200 caf\xe9\r\ncontent-length: 0\r\n\r\n', [
      head(200, [['content-length', '0']], 'length', { reason: 'caf\xe9', contentLength: 0 }),
      END,
    ]);
  });

  it('accepts HTTP/1.0 and the whole 100..999 status range', () => {
    parses('HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\nx', [
      head(200, [['content-length', '1']], 'length', { version: '1.0', contentLength: 1, keepAlive: false }),
      data('x'),
      END_CLOSE,
    ]);
    parses('HTTP/1.1 999 Odd\r\ncontent-length: 0\r\n\r\n', [
      head(999, [['content-length', '0']], 'length', { reason: 'Odd', contentLength: 0 }),
      END,
    ]);
    parses('HTTP/1.1 599 X\r\ncontent-length: 0\r\n\r\n', [
      head(599, [['content-length', '0']], 'length', { reason: 'X', contentLength: 0 }),
      END,
    ]);
  });

  for (const bad of [
    'HTTP/2.0 200 OK',
    'HTTP/1.2 200 OK',
    'HTTP/0.9 200 OK',
    'http/1.1 200 OK',
    'HTTP/1.1 099 OK',
    'HTTP/1.1 000 OK',
    'HTTP/1.1 99 OK',
    'HTTP/1.1 2000 OK',
    'HTTP/1.1 20a OK',
    'HTTP/1.1 -20 OK',
    'HTTP/1.1  200 OK',
    'HTTP/1.1 200OK',
    'HTTP/1.1\t200 OK',
    'HTTP/1.1',
    'HTTP/1.1 20',
    ' HTTP/1.1 200 OK',
    'ICY 200 OK',
    '',
  ]) {
    it(`rejects the status line ${JSON.stringify(bad)}`, () => {
      rejects(`${bad}\r\ncontent-length: 0\r\n\r\n`, 'ERR_HTTP_PARSE');
    });
  }

  it('rejects control characters in the reason phrase, but accepts HTAB', () => {
    rejects('HTTP/1.1 200 O\x00K\r\n\r\n', 'ERR_HTTP_PARSE');
    rejects('HTTP/1.1 200 O\x7fK\r\n\r\n', 'ERR_HTTP_PARSE');
    parses('HTTP/1.1 200 O\tK\r\ncontent-length: 0\r\n\r\n', [
      head(200, [['content-length', '0']], 'length', { reason: 'O\tK', contentLength: 0 }),
      END,
    ]);
  });
});

describe('ResponseParser: line endings', () => {
  it('accepts bare LF as a line end everywhere (RFC 9112 §2.2)', () => {
    parses('HTTP/1.1 200 OK\nContent-Length: 2\nX-A: b\n\nhi', [
      head(200, [['content-length', '2'], ['x-a', 'b']], 'length', { contentLength: 2 }),
      data('hi'),
      END,
    ]);
    parses('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\n\r\n2\nhi\n0\nx: y\n\n', [
      head(200, [['transfer-encoding', 'chunked']], 'chunked'),
      data('hi'),
      { kind: 'trailers', headers: [['x', 'y']] },
      END,
    ]);
  });

  it('rejects a bare CR inside the status line, a header line, or as a line end', () => {
    rejects('HTTP/1.1 200 O\rK\r\n\r\n', 'ERR_HTTP_PARSE');
    rejects('HTTP/1.1 200 OK\r\nX-A: b\rc\r\n\r\n', 'ERR_HTTP_PARSE');
    rejects('HTTP/1.1 200 OK\rX-A: b\r\n\r\n', 'ERR_HTTP_PARSE');
    rejects('HTTP/1.1 200 OK\r\nX-A: b\r\r\n\r\n', 'ERR_HTTP_PARSE');
    rejects('HTTP/1.1 200 OK\r\nX-A: b\r\n\rX\r\n\r\n', 'ERR_HTTP_PARSE');
    rejects('HTTP/1.1 200 OK\r\nX-A\r: b\r\n\r\n', 'ERR_HTTP_PARSE');
  });
});

describe('ResponseParser: empty lines before a status line', () => {
  const OK = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi';
  const ok = [head(200, [['content-length', '2']], 'length', { contentLength: 2 }), data('hi'), END];

  it('skips an empty line (CRLF or LF) before the first status line', () => {
    parsesAtEverySplit(`\r\n${OK}`, ok);
    parsesAtEverySplit(`\n${OK}`, ok);
    parsesAtEverySplit(`\r\n\n\r\n\n${OK}`, ok);
  });

  it('skips an empty line sent after a body, between pipelined responses', () => {
    parsesAtEverySplit(`${OK}\r\n${OK}\n\r\n${OK}`, [...ok, ...ok, ...ok], ['GET', 'GET', 'GET']);
    // After a chunked body and after a 1xx too.
    const chunked = 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n';
    parsesAtEverySplit(`${chunked}\r\nHTTP/1.1 100 Continue\r\n\r\n\r\n${OK}`, [
      head(200, [['transfer-encoding', 'chunked']], 'chunked'),
      data('hi'),
      END,
      { kind: 'inform', status: 100, reason: 'Continue', version: '1.1', headers: [] },
      ...ok,
    ], ['GET', 'GET']);
  });

  it('skips an empty line after the last response while no request is pending: the connection stays idle and reusable', () => {
    const p = parser(['GET']);
    assert.deepEqual(show(p.feed(Buffer.from(`${OK}\r`))), ok);
    assert.equal(p.idle, false);
    assert.deepEqual(p.feed(Buffer.from('\n')), []);
    assert.equal(p.idle, true);
    assert.equal(p.pending, 0);
    p.expect('GET');
    assert.deepEqual(show(p.feed(Buffer.from(`\r\n${OK}`))), ok);
    assert.deepEqual(p.finish(), []);
  });

  it(`accepts ${MAX_EMPTY_LINES} empty lines before one status line and rejects one more`, () => {
    parsesAtEverySplit(`${'\r\n'.repeat(MAX_EMPTY_LINES)}${OK}`, ok);
    parsesAtEverySplit(`${'\n'.repeat(MAX_EMPTY_LINES)}${OK}${'\r\n'.repeat(MAX_EMPTY_LINES)}${OK}`, [...ok, ...ok], ['GET', 'GET']);
    rejectsAtEverySplit(`${'\r\n'.repeat(MAX_EMPTY_LINES + 1)}${OK}`, 'ERR_HTTP_PARSE', /more than 4 empty lines before a status line/);
    rejectsAtEverySplit(`${OK}${'\n'.repeat(MAX_EMPTY_LINES + 1)}`, 'ERR_HTTP_PARSE', /more than 4 empty lines/);
    rejectsAtEverySplit(`${OK}${'\r\n'.repeat(MAX_EMPTY_LINES + 1)}${OK}`, 'ERR_HTTP_PARSE', /more than 4 empty lines/, ['GET', 'GET']);
  });

  it('rejects a bare CR, or a line of whitespace, before a status line', () => {
    rejectsAtEverySplit(`\r${OK}`, 'ERR_HTTP_PARSE', /bare CR/);
    rejectsAtEverySplit(`\r\n\r\r\n${OK}`, 'ERR_HTTP_PARSE', /bare CR/);
    rejectsAtEverySplit(` \r\n${OK}`, 'ERR_HTTP_PARSE', /invalid status line/);
    rejectsAtEverySplit(`\r\n \r\n${OK}`, 'ERR_HTTP_PARSE', /invalid status line/);
  });

  it('refuses HTTP/0.9 (a body with no status line), with or without empty lines before it', () => {
    rejectsAtEverySplit('hello\r\n\r\n', 'ERR_HTTP_PARSE', /invalid status line "hello"/);
    rejectsAtEverySplit('\r\n<html>\n\n', 'ERR_HTTP_PARSE', /invalid status line "<html>"/);
    // A body that ends with the connection and never has an empty line: refused at finish().
    for (const body of ['hello', '\r\n<html></html>']) {
      const p = parser(['GET']);
      assert.deepEqual(p.feed(Buffer.from(body)), []);
      throwsCode(() => p.finish(), 'ERR_HTTP_PARSE');
    }
  });

  it('finish() after empty lines alone is a clean close', () => {
    const p = parser(['GET']);
    assert.deepEqual(p.feed(Buffer.from('\r\n\n\r')), []);
    assert.deepEqual(p.finish(), []);
    assert.equal(p.pending, 1);
  });
});

describe('ResponseParser: header fields', () => {
  it('lowercases names, trims OWS from values, keeps repeated names in order', () => {
    parses('HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX-Thing:  \t spaced value \t \r\nset-cookie:b=2\r\nX-Empty:\r\nX-Blank:   \r\nCONTENT-LENGTH: 0\r\n\r\n', [
      head(
        200,
        [
          ['set-cookie', 'a=1'],
          ['x-thing', 'spaced value'],
          ['set-cookie', 'b=2'],
          ['x-empty', ''],
          ['x-blank', ''],
          ['content-length', '0'],
        ],
        'length',
        { contentLength: 0 },
      ),
      END,
    ]);
  });

  it('accepts every token character in names and obs-text and HTAB in values', () => {
    parses("HTTP/1.1 200 OK\r\n!#$%&'*+-.^_`|~09AZaz: v\xe9\tw\r\ncontent-length: 0\r\n\r\n", [
      head(200, [["!#$%&'*+-.^_`|~09azaz", 'v\xe9\tw'], ['content-length', '0']], 'length', { contentLength: 0 }),
      END,
    ]);
  });

  it('does not confuse names that differ from common names by non-letters', () => {
    // '_' | 0x20 is not '-': Content_Length is not content-length (so the body is close-delimited).
    parses('HTTP/1.1 200 OK\r\nContent_Length: 3\r\n\r\nabc', [
      head(200, [['content_length', '3']], 'close', { keepAlive: false }),
      data('abc'),
    ]);
    parses('HTTP/1.1 200 OK\r\nContent-Lengt^: 3\r\nContent-Length: 1\r\n\r\nx', [
      head(200, [['content-lengt^', '3'], ['content-length', '1']], 'length', { contentLength: 1 }),
      data('x'),
      END,
    ]);
  });

  for (const [what, line] of [
    ['whitespace before the colon', 'X-A : b'],
    ['a tab before the colon', 'X-A\t: b'],
    ['a missing colon', 'X-A b'],
    ['an empty name', ': b'],
    ['a non-token name character', 'X(A): b'],
    ['a space inside the name', 'X A: b'],
    ['a non-ASCII name character', 'X\xe9: b'],
    ['obs-fold with SP', 'X-A: b\r\n  continued'],
    ['obs-fold with HTAB', 'X-A: b\r\n\tcontinued'],
    ['NUL in a value', 'X-A: b\x00c'],
    ['a control character in a value', 'X-A: b\x01c'],
    ['ESC in a value', 'X-A: \x1b[31m'],
    ['DEL in a value', 'X-A: b\x7f'],
    ['a vertical tab in a value', 'X-A: b\x0bc'],
    ['a form feed in a value', 'X-A: \x0c'],
  ] as const) {
    it(`rejects ${what}`, () => {
      rejects(`HTTP/1.1 200 OK\r\n${line}\r\ncontent-length: 0\r\n\r\n`, 'ERR_HTTP_PARSE');
    });
  }

  it('rejects a header block that starts with obs-fold right after the status line', () => {
    rejects('HTTP/1.1 200 OK\r\n folded: x\r\n\r\n', 'ERR_HTTP_PARSE');
  });
});

describe('ResponseParser: limits', () => {
  // A block of exactly `size` bytes: status line, one padded header, empty line.
  function blockOf(size: number, status = '200 OK'): string {
    const fixed = `HTTP/1.1 ${status}\r\nx-pad: \r\n\r\n`.length;
    return `HTTP/1.1 ${status}\r\nx-pad: ${'a'.repeat(size - fixed)}\r\n\r\n`;
  }

  it('accepts a header block of exactly maxHeaderBlockSize bytes and rejects one more', () => {
    const ok = blockOf(200);
    assert.equal(ok.length, 200);
    assert.deepEqual(run(ok, ['HEAD'], { maxHeaderBlockSize: 200 }).map((e) => e.kind), ['head', 'end']);
    assert.deepEqual(runBytewise(ok, ['HEAD'], { maxHeaderBlockSize: 200 }).map((e) => e.kind), ['head', 'end']);
    const e = rejects(blockOf(201), 'ERR_HEADER_BLOCK_TOO_LARGE', ['HEAD'], { maxHeaderBlockSize: 200 });
    assert.equal(e.details.limit, 200);
    // With bare LF line ends the count is in bytes as sent.
    const lf = blockOf(200).replace(/\r\n/g, '\n');
    assert.deepEqual(run(lf, ['HEAD'], { maxHeaderBlockSize: lf.length }).map((x) => x.kind), ['head', 'end']);
    rejects(lf, 'ERR_HEADER_BLOCK_TOO_LARGE', ['HEAD'], { maxHeaderBlockSize: lf.length - 1 });
  });

  it('applies the default limit of 100 000 bytes', () => {
    assert.deepEqual(run(blockOf(100_000), ['HEAD']).map((e) => e.kind), ['head', 'end']);
    throwsCode(() => run(blockOf(100_001), ['HEAD']), 'ERR_HEADER_BLOCK_TOO_LARGE');
  });

  it('fails as soon as more than the limit is buffered without the end of the block', () => {
    const p = parser(['GET'], { maxHeaderBlockSize: 1000 });
    const never = `HTTP/1.1 200 OK\r\nx-a: ${'a'.repeat(2000)}`;
    let fed = 0;
    for (; fed < 1000; fed += 100) assert.deepEqual(p.feed(Buffer.from(never.slice(fed, fed + 100))), []);
    throwsCode(() => p.feed(Buffer.from('a')), 'ERR_HEADER_BLOCK_TOO_LARGE');
    // One chunk larger than the limit with no end of block fails at once.
    throwsCode(() => parser(['GET'], { maxHeaderBlockSize: 1000 }).feed(Buffer.from(never)), 'ERR_HEADER_BLOCK_TOO_LARGE');
    // Many complete lines, never an empty one.
    const lines = parser(['GET'], { maxHeaderBlockSize: 1000, maxHeaderCount: 10_000 });
    lines.feed(Buffer.from('HTTP/1.1 200 OK\r\n'));
    assert.throws(() => {
      for (let i = 0; i < 1000; i++) lines.feed(Buffer.from('x-a: b\r\n'));
    }, isErr('ERR_HEADER_BLOCK_TOO_LARGE'));
  });

  it('counts each 1xx block separately', () => {
    const block = blockOf(100, '103 Early Hints');
    const input = block + block + blockOf(100);
    const events = run(input, ['HEAD'], { maxHeaderBlockSize: 100 });
    assert.deepEqual(events.map((e) => e.kind), ['inform', 'inform', 'head', 'end']);
    rejects(block + blockOf(101), 'ERR_HEADER_BLOCK_TOO_LARGE', ['HEAD'], { maxHeaderBlockSize: 100 });
  });

  function withHeaders(n: number): string {
    let s = 'HTTP/1.1 200 OK\r\n';
    for (let i = 0; i < n - 1; i++) s += `x-h${i}: ${i}\r\n`;
    return `${s}content-length: 0\r\n\r\n`;
  }

  it('accepts exactly maxHeaderCount fields and rejects one more', () => {
    assert.equal((run(withHeaders(5), ['GET'], { maxHeaderCount: 5 })[0] as { headers: unknown[] }).headers.length, 5);
    const e = rejects(withHeaders(6), 'ERR_TOO_MANY_HEADERS', ['GET'], { maxHeaderCount: 5 });
    assert.equal(e.details.limit, 5);
    assert.equal((run(withHeaders(100))[0] as { headers: unknown[] }).headers.length, 100);
    throwsCode(() => run(withHeaders(101)), 'ERR_TOO_MANY_HEADERS');
    // maxHeaderCount 0: only an empty header block is accepted.
    parses('HTTP/1.1 204 No Content\r\n\r\n', [head(204, [], 'none', { reason: 'No Content' }), END], ['GET'], { maxHeaderCount: 0 });
  });

  const CHUNKED_HEAD = 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n';
  // A trailer block of exactly `size` bytes (fields and the final empty line).
  function trailersOf(size: number): string {
    const fixed = 'x-t: \r\n\r\n'.length;
    return `x-t: ${'b'.repeat(size - fixed)}\r\n\r\n`;
  }

  it('accepts a trailer block of exactly maxTrailerBlockSize bytes and rejects one more', () => {
    const ok = run(CHUNKED_HEAD + trailersOf(50), ['GET'], { maxTrailerBlockSize: 50 });
    assert.deepEqual(ok.map((e) => e.kind), ['head', 'data', 'trailers', 'end']);
    assert.deepEqual(runBytewise(CHUNKED_HEAD + trailersOf(50), ['GET'], { maxTrailerBlockSize: 50 }), ok);
    const e = rejects(CHUNKED_HEAD + trailersOf(51), 'ERR_TRAILER_BLOCK_TOO_LARGE', ['GET'], { maxTrailerBlockSize: 50 });
    assert.equal(e.details.limit, 50);
    // Default 10 000.
    assert.equal(run(CHUNKED_HEAD + trailersOf(10_000)).length, 4);
    throwsCode(() => run(CHUNKED_HEAD + trailersOf(10_001)), 'ERR_TRAILER_BLOCK_TOO_LARGE');
    // A trailer block that never ends.
    const p = parser(['GET'], { maxTrailerBlockSize: 50 });
    p.feed(Buffer.from(`${CHUNKED_HEAD}x-t: ${'b'.repeat(45)}`));
    throwsCode(() => p.feed(Buffer.from('b')), 'ERR_TRAILER_BLOCK_TOO_LARGE');
  });

  it('limits the trailer count with maxHeaderCount', () => {
    const t = (n: number): string => Array.from({ length: n }, (_, i) => `t${i}: v\r\n`).join('') + '\r\n';
    assert.equal(run(CHUNKED_HEAD + t(3), ['GET'], { maxHeaderCount: 3 }).length, 4);
    const e = rejects(CHUNKED_HEAD + t(4), 'ERR_TOO_MANY_HEADERS', ['GET'], { maxHeaderCount: 3 });
    assert.equal(e.details.limit, 3);
  });

  it('rejects invalid limit values', () => {
    assert.throws(() => new ResponseParser({ maxHeaderBlockSize: 0 }), (e: unknown) => e instanceof BurrowError && e.code === 'ERR_INVALID_OPTION');
    assert.throws(() => new ResponseParser({ maxHeaderCount: -1 }), (e: unknown) => e instanceof BurrowError && e.code === 'ERR_INVALID_OPTION');
    assert.throws(() => new ResponseParser({ maxTrailerBlockSize: 1.5 }), (e: unknown) => e instanceof BurrowError && e.code === 'ERR_INVALID_OPTION');
  });
});

describe('ResponseParser: body length (RFC 9112 §6.3)', () => {
  it('emits body bytes as subarrays of the fed chunk (zero copy)', () => {
    const input = Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello');
    const p = parser();
    const events = p.feed(input);
    const d = events[1];
    assert.ok(d !== undefined && d.kind === 'data');
    assert.equal(d.data.buffer, input.buffer);
    assert.equal(d.data.byteOffset, input.byteOffset + input.length - 5);
    assert.equal(d.data.length, 5);
    const chunked = Buffer.from('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
    const c = parser().feed(chunked)[1];
    assert.ok(c !== undefined && c.kind === 'data');
    assert.equal(c.data.buffer, chunked.buffer);
    assert.equal(c.data.toString(), 'hello');
  });

  it('content-length: 0 ends at once with body kind length', () => {
    parses('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n', [head(200, [['content-length', '0']], 'length', { contentLength: 0 }), END]);
  });

  it('splits a content-length body over several feeds', () => {
    const p = parser();
    const a = p.feed(Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n0123'));
    assert.deepEqual(show(a), [head(200, [['content-length', '10']], 'length', { contentLength: 10 }), data('0123')]);
    assert.deepEqual(show(p.feed(Buffer.from('456'))), [data('456')]);
    assert.equal(p.idle, false);
    assert.deepEqual(show(p.feed(Buffer.from('789'))), [data('789'), END]);
    assert.equal(p.idle, true);
  });

  it('accepts several equal content-length values, in a list or repeated', () => {
    parses('HTTP/1.1 200 OK\r\ncontent-length: 3, 3,3\r\n\r\nabc', [
      head(200, [['content-length', '3, 3,3']], 'length', { contentLength: 3 }),
      data('abc'),
      END,
    ]);
    parses('HTTP/1.1 200 OK\r\ncontent-length: 3\r\nx: y\r\nContent-Length: 003\r\n\r\nabc', [
      head(200, [['content-length', '3'], ['x', 'y'], ['content-length', '003']], 'length', { contentLength: 3 }),
      data('abc'),
      END,
    ]);
  });

  it('rejects differing content-length values', () => {
    const e = rejects('HTTP/1.1 200 OK\r\ncontent-length: 3, 4\r\n\r\nabcd', 'ERR_CONFLICTING_CONTENT_LENGTH');
    assert.equal(e.details.values, '3, 4');
    rejects('HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabcd', 'ERR_CONFLICTING_CONTENT_LENGTH');
  });

  for (const bad of ['', 'abc', '5a', '-1', '+5', '0x10', '1.5', '1 2', '5,', ',5', '5,,5', '1e3', '9007199254740992', '99999999999999999999']) {
    it(`rejects content-length ${JSON.stringify(bad)}`, () => {
      rejects(`HTTP/1.1 200 OK\r\ncontent-length: ${bad}\r\n\r\n`, 'ERR_HTTP_PARSE');
    });
  }

  it('accepts content-length up to Number.MAX_SAFE_INTEGER', () => {
    const p = parser();
    const events = p.feed(Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 9007199254740991\r\n\r\nab'));
    assert.deepEqual(show(events), [head(200, [['content-length', '9007199254740991']], 'length', { contentLength: Number.MAX_SAFE_INTEGER }), data('ab')]);
  });

  it('chunked wins over content-length (and the connection is then not reused)', () => {
    parses('HTTP/1.1 200 OK\r\ncontent-length: 100\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n', [
      head(200, [['content-length', '100'], ['transfer-encoding', 'chunked']], 'chunked', { keepAlive: false }),
      data('abc'),
      END_CLOSE,
    ]);
  });

  it('uses the final transfer coding, case-insensitively, across repeated headers', () => {
    parses('HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, CHUNKED\r\n\r\n1\r\nx\r\n0\r\n\r\n', [
      head(200, [['transfer-encoding', 'gzip, CHUNKED']], 'chunked'),
      data('x'),
      END,
    ]);
    parses('HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\ntransfer-encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n', [
      head(200, [['transfer-encoding', 'gzip'], ['transfer-encoding', 'chunked']], 'chunked'),
      data('x'),
      END,
    ]);
  });

  it('transfer-encoding not ending in chunked means close-delimited', () => {
    const p = parser();
    assert.deepEqual(show(p.feed(Buffer.from('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, gzip\r\ncontent-length: 2\r\n\r\n1\r\nx'))), [
      head(200, [['transfer-encoding', 'chunked, gzip'], ['content-length', '2']], 'close', { keepAlive: false }),
      data('1\r\nx'),
    ]);
    assert.deepEqual(show(p.finish()), [END_CLOSE]);
    parses('HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\nzz', [head(200, [['transfer-encoding', 'gzip']], 'close', { keepAlive: false }), data('zz')]);
  });

  it('without content-length or transfer-encoding the body is close-delimited', () => {
    const p = parser();
    assert.deepEqual(show(p.feed(Buffer.from('HTTP/1.1 200 OK\r\nconnection: keep-alive\r\n\r\nab'))), [
      head(200, [['connection', 'keep-alive']], 'close', { keepAlive: false }),
      data('ab'),
    ]);
    assert.deepEqual(show(p.feed(Buffer.from('HTTP/1.1 200 OK'))), [data('HTTP/1.1 200 OK')]);
    assert.equal(p.pending, 1);
    assert.deepEqual(show(p.finish()), [END_CLOSE]);
    assert.equal(p.pending, 0);
    assert.equal(p.idle, false);
    throwsCode(() => p.feed(Buffer.from('x')), 'ERR_HTTP_PARSE');
    assert.deepEqual(p.finish(), []);
  });

  it('HEAD responses have no body, whatever their headers say', () => {
    parses(
      'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok',
      [
        head(200, [['content-length', '100']], 'none'),
        END,
        head(200, [['transfer-encoding', 'chunked']], 'none'),
        END,
        head(200, [['content-length', '2']], 'length', { contentLength: 2 }),
        data('ok'),
        END,
      ],
      ['HEAD', 'HEAD', 'GET'],
    );
  });

  it('204 and 304 have no body', () => {
    parses(
      'HTTP/1.1 204 No Content\r\ncontent-length: 10\r\n\r\nHTTP/1.1 304 Not Modified\r\ntransfer-encoding: chunked\r\n\r\n',
      [
        head(204, [['content-length', '10']], 'none', { reason: 'No Content' }),
        END,
        head(304, [['transfer-encoding', 'chunked']], 'none', { reason: 'Not Modified' }),
        END,
      ],
      ['GET', 'GET'],
    );
  });

  it('does not validate content-length when the body kind does not depend on it', () => {
    parses('HTTP/1.1 304 Not Modified\r\ncontent-length: 1, 2\r\n\r\n', [
      head(304, [['content-length', '1, 2']], 'none', { reason: 'Not Modified' }),
      END,
    ]);
  });
});

describe('ResponseParser: keep-alive', () => {
  const cases: Array<[string, string, boolean]> = [
    ['1.1', '', true],
    ['1.1', 'connection: close\r\n', false],
    ['1.1', 'Connection: CLOSE\r\n', false],
    ['1.1', 'connection: keep-alive, close\r\n', false],
    ['1.1', 'connection: upgrade\r\nconnection: close\r\n', false],
    ['1.1', 'connection: upgrade\r\n', true],
    ['1.1', 'connection: closed\r\n', true],
    ['1.0', '', false],
    ['1.0', 'connection: keep-alive\r\n', true],
    ['1.0', 'Connection: Keep-Alive\r\n', true],
    ['1.0', 'connection: foo, keep-alive\r\n', true],
    ['1.0', 'connection: keep-alive, close\r\n', false],
  ];
  for (const [version, hdr, keepAlive] of cases) {
    it(`HTTP/${version} with ${JSON.stringify(hdr)} → keepAlive ${keepAlive}`, () => {
      const events = run(`HTTP/${version} 200 OK\r\n${hdr}content-length: 1\r\n\r\nx`);
      const h = events[0];
      assert.ok(h !== undefined && h.kind === 'head');
      assert.equal(h.keepAlive, keepAlive);
      assert.deepEqual(events[2], { kind: 'end', keepAlive });
    });
  }

  it('a close-delimited body is never keep-alive, even for HTTP/1.0 keep-alive', () => {
    const events = run('HTTP/1.0 200 OK\r\nconnection: keep-alive\r\n\r\nabc');
    assert.deepEqual(events, [head(200, [['connection', 'keep-alive']], 'close', { version: '1.0', keepAlive: false }), data('abc')]);
  });

  it('HTTP/1.0 with transfer-encoding is read but the connection is not reused', () => {
    parses('HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ntransfer-encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n', [
      head(200, [['connection', 'keep-alive'], ['transfer-encoding', 'chunked']], 'chunked', { version: '1.0', keepAlive: false }),
      data('x'),
      END_CLOSE,
    ]);
  });

  it('rejects bytes after a response that ended with keepAlive false', () => {
    const p = parser(['GET', 'GET']);
    throwsCode(() => p.feed(Buffer.from('HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 1\r\n\r\nxH')), 'ERR_HTTP_PARSE');
    const q = parser(['GET', 'GET']);
    assert.deepEqual(show(q.feed(Buffer.from('HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 1\r\n\r\nx'))).at(-1), END_CLOSE);
    assert.equal(q.pending, 1);
    assert.equal(q.idle, false);
    throwsCode(() => q.feed(Buffer.from('HTTP/1.1 200 OK\r\n\r\n')), 'ERR_HTTP_PARSE');
    assert.deepEqual(q.finish(), []);
  });
});

describe('ResponseParser: chunked', () => {
  const H = 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n';
  const h = head(200, [['transfer-encoding', 'chunked']], 'chunked');

  it('parses chunks, hex sizes in either case with leading zeros, and extensions', () => {
    parses(`${H}5\r\nhello\r\nA;name=value\r\n0123456789\r\n00b ; a ; b = "quo\\"ted;\tx" ;c=d\r\n\xff\xfe\r\n\x00abcdef\r\n0;last\r\n\r\n`, [
      h,
      data('hello0123456789\xff\xfe\r\n\x00abcdef'),
      END,
    ]);
  });

  it('emits non-empty trailers before end, and no trailers event for an empty trailer block', () => {
    parses(`${H}3\r\nabc\r\n0\r\nX-Checksum: abc\r\nx-b:  c \r\n\r\n`, [
      h,
      data('abc'),
      { kind: 'trailers', headers: [['x-checksum', 'abc'], ['x-b', 'c']] },
      END,
    ]);
    parses(`${H}0\r\n\r\n`, [h, END]);
  });

  it('rejects invalid trailers like invalid headers', () => {
    rejects(`${H}0\r\nx : y\r\n\r\n`, 'ERR_HTTP_PARSE');
    rejects(`${H}0\r\nx: y\r\n z\r\n\r\n`, 'ERR_HTTP_PARSE');
    rejects(`${H}0\r\nx: \x00\r\n\r\n`, 'ERR_HTTP_PARSE');
    rejects(`${H}0\r\n\rx\r\n\r\n`, 'ERR_HTTP_PARSE');
  });

  for (const bad of ['', ' 5', 'x', '-5', '0x5', '5;', '5; ', '5;=x', '5;a=', '5;a="unterminated', '5;a="x"y', '5;a=b c', '5 5', '5;a=\x01', '5\x00', '5;a="\\\x01"', '5\rx']) {
    it(`rejects the chunk-size line ${JSON.stringify(bad)}`, () => {
      rejects(`${H}${bad}\r\nhello\r\n0\r\n\r\n`, 'ERR_HTTP_PARSE');
    });
  }

  it('rejects whitespace after a chunk size with no extension (response splitting, RFC 9112 §7.1)', () => {
    for (const line of ['25  ', '5 \t', '5\t', '0 ']) {
      const body = line.startsWith('0') ? `${line}\r\n\r\n` : `${line}\r\n${'x'.repeat(parseInt(line, 16))}\r\n0\r\n\r\n`;
      rejectsAtEverySplit(`${H}${body}`, 'ERR_HTTP_PARSE', /whitespace before the line end/);
    }
    rejectsAtEverySplit(`${H}5 \nhello\n0\n\n`, 'ERR_HTTP_PARSE', /whitespace before the line end/);
  });

  it('rejects whitespace after a chunk extension, before the line end', () => {
    rejectsAtEverySplit(`${H}5;a=b \r\nhello\r\n0\r\n\r\n`, 'ERR_HTTP_PARSE', /whitespace before the line end/);
    rejectsAtEverySplit(`${H}5;a\t\r\nhello\r\n0\r\n\r\n`, 'ERR_HTTP_PARSE', /whitespace before the line end/);
    rejectsAtEverySplit(`${H}5\r\nhello\r\n0;last \r\n\r\n`, 'ERR_HTTP_PARSE', /whitespace before the line end/);
  });

  it('accepts BWS before ";" and around "=" in chunk extensions (RFC 9112 §7.1.1)', () => {
    parsesAtEverySplit(`${H}5 ;ext\r\nhello\r\n3\t; a = "b" ;c\r\nabc\r\n0 ;last\r\n\r\n`, [h, data('helloabc'), END]);
  });

  it('limits chunk sizes to 15 hex digits and Number.MAX_SAFE_INTEGER', () => {
    const p = parser();
    const ok = p.feed(Buffer.from(`${H}1fffffffffffff\r\nabc`));
    assert.deepEqual(show(ok), [h, data('abc')]);
    const q = parser();
    q.feed(Buffer.from(`${H}00000000000000f\r\n`));
    assert.deepEqual(show(q.feed(Buffer.from('0123456789abcde\r\n0\r\n\r\n'))), [data('0123456789abcde'), END]);
    rejects(`${H}20000000000000\r\n`, 'ERR_HTTP_PARSE'); // MAX_SAFE_INTEGER + 1
    rejects(`${H}fffffffffffffff\r\n`, 'ERR_HTTP_PARSE'); // 15 digits, too large
    rejects(`${H}0000000000000001\r\nx\r\n0\r\n\r\n`, 'ERR_HTTP_PARSE'); // 16 digits
  });

  it('accepts a chunk-size line of 4096 bytes and rejects 4097', () => {
    const line = (n: number): string => `1;x=${'a'.repeat(n - 4)}`;
    assert.equal(line(4096).length, 4096);
    parses(`${H}${line(4096)}\r\nx\r\n0\r\n\r\n`, [h, data('x'), END]);
    parses(`${H}${line(4096)}\nx\n0\n\n`, [h, data('x'), END]);
    rejects(`${H}${line(4097)}\r\nx\r\n0\r\n\r\n`, 'ERR_HTTP_PARSE');
    rejects(`${H}${line(4097)}\nx\n0\n\n`, 'ERR_HTTP_PARSE');
    // A line that never ends fails once more than the limit is buffered.
    const p = parser();
    p.feed(Buffer.from(`${H}${line(4096)}\r`));
    throwsCode(() => p.feed(Buffer.from('a')), 'ERR_HTTP_PARSE');
  });

  it('requires CRLF (or LF) after chunk data', () => {
    rejects(`${H}5\r\nhelloX\r\n0\r\n\r\n`, 'ERR_HTTP_PARSE');
    rejects(`${H}5\r\nhello\rX0\r\n\r\n`, 'ERR_HTTP_PARSE');
    rejects(`${H}5\r\nhello0\r\n\r\n`, 'ERR_HTTP_PARSE');
    parses(`${H}5\r\nhello\n0\r\n\r\n`, [h, data('hello'), END]);
  });
});

describe('ResponseParser: 1xx, upgrade and CONNECT', () => {
  it('emits 100/102/103 as inform and waits for the final response', () => {
    const p = parser();
    const events = p.feed(Buffer.from('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\nLink: </a.js>\r\n\r\n'));
    assert.deepEqual(show(events), [
      { kind: 'inform', status: 100, reason: 'Continue', version: '1.1', headers: [] },
      { kind: 'inform', status: 103, reason: 'Early Hints', version: '1.1', headers: [['link', '</s.css>; rel=preload'], ['link', '</a.js>']] },
    ]);
    assert.equal(p.pending, 1);
    assert.equal(p.idle, true);
    assert.deepEqual(show(p.feed(Buffer.from('HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n'))), [
      { kind: 'inform', status: 102, reason: 'Processing', version: '1.1', headers: [] },
      head(200, [['content-length', '0']], 'length', { contentLength: 0 }),
      END,
    ]);
    assert.equal(p.pending, 0);
  });

  it('1xx responses never have a body, even with content-length', () => {
    parses('HTTP/1.1 100 Continue\r\ncontent-length: 5\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nx', [
      { kind: 'inform', status: 100, reason: 'Continue', version: '1.1', headers: [['content-length', '5']] },
      head(200, [['content-length', '1']], 'length', { contentLength: 1 }),
      data('x'),
      END,
    ]);
  });

  it('101 to a request registered with upgrade switches, with every following byte in rest', () => {
    const input = Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello HTTP/1.1 200 OK\r\n\r\n', 'latin1');
    const p = parser([['GET', { upgrade: true }], 'GET']);
    const events = p.feed(input);
    assert.deepEqual(show(events), [
      {
        kind: 'switch',
        status: 101,
        reason: 'Switching Protocols',
        version: '1.1',
        headers: [['upgrade', 'websocket'], ['connection', 'Upgrade']],
        rest: '\x81\x05hello HTTP/1.1 200 OK\r\n\r\n',
      },
    ]);
    const sw = events[0];
    assert.ok(sw !== undefined && sw.kind === 'switch');
    assert.equal(sw.rest.buffer, input.buffer); // zero copy
    assert.equal(p.pending, 1);
    throwsCode(() => p.feed(Buffer.from('more')), 'ERR_HTTP_PARSE');
    throwsCode(() => p.feed(Buffer.alloc(0)), 'ERR_HTTP_PARSE');
    assert.deepEqual(p.finish(), []);
  });

  it('101 after a 100 Continue, and an empty rest', () => {
    parses('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 Switching\r\n\r\n', [
      { kind: 'inform', status: 100, reason: 'Continue', version: '1.1', headers: [] },
      { kind: 'switch', status: 101, reason: 'Switching', version: '1.1', headers: [], rest: '' },
    ], [['GET', { upgrade: true }]]);
  });

  it('101 to a request without upgrade throws ERR_UNEXPECTED_101', () => {
    const e = rejects('HTTP/1.1 101 Switching Protocols\r\nupgrade: h2c\r\n\r\n', 'ERR_UNEXPECTED_101');
    assert.equal(e.details.status, 101);
    rejects('HTTP/1.1 101 Switching Protocols\r\n\r\n', 'ERR_UNEXPECTED_101', ['CONNECT']);
  });

  it('an upgrade request answered with 200 is an ordinary response', () => {
    parses('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nno', [head(200, [['content-length', '2']], 'length', { contentLength: 2 }), data('no'), END], [
      ['GET', { upgrade: true }],
    ]);
  });

  it('CONNECT 2xx switches regardless of body headers; rest keeps the tunnel bytes', () => {
    const input = Buffer.from('HTTP/1.1 200 Connection established\r\ncontent-length: 10\r\ntransfer-encoding: chunked\r\n\r\n\x16\x03\x01\x00\x05hello', 'latin1');
    for (const cut of [input.length, 60, 1]) {
      const p = parser(['CONNECT']);
      const events: ParseEvent[] = [];
      let fed = 0;
      while (events.length === 0 && fed < input.length) {
        events.push(...p.feed(input.subarray(fed, Math.min(input.length, fed + cut))));
        fed += cut;
      }
      assert.equal(events.length, 1);
      const sw = events[0];
      assert.ok(sw !== undefined && sw.kind === 'switch');
      assert.equal(sw.status, 200);
      assert.equal(sw.reason, 'Connection established');
      assert.deepEqual(Buffer.concat([sw.rest, input.subarray(Math.min(fed, input.length))]).toString('latin1'), '\x16\x03\x01\x00\x05hello');
    }
    assert.deepEqual(run('HTTP/1.0 204 No Content\r\n\r\nX', ['CONNECT']), [
      { kind: 'switch', status: 204, reason: 'No Content', version: '1.0', headers: [], rest: 'X' },
    ]);
  });

  it('CONNECT non-2xx is an ordinary response with a body', () => {
    parses(
      'HTTP/1.1 407 Proxy Authentication Required\r\nproxy-authenticate: Basic realm="x"\r\ncontent-length: 6\r\n\r\ndenied',
      [
        head(407, [['proxy-authenticate', 'Basic realm="x"'], ['content-length', '6']], 'length', {
          reason: 'Proxy Authentication Required',
          contentLength: 6,
        }),
        data('denied'),
        END,
      ],
      ['CONNECT'],
    );
    parses('HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\n\r\nbad', [
      head(502, [['connection', 'close']], 'close', { reason: 'Bad Gateway', keepAlive: false }),
      data('bad'),
    ], ['CONNECT']);
  });
});

describe('ResponseParser: pipelining and connection state', () => {
  it('parses several responses in one chunk, matched in order', () => {
    const input =
      'HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\none' +
      'HTTP/1.1 200 OK\r\ncontent-length: 99\r\n\r\n' +
      'HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n' +
      'HTTP/1.1 404 Not Found\r\ncontent-length: 5\r\n\r\nthree';
    const expected: Shown[] = [
      head(200, [['content-length', '3']], 'length', { contentLength: 3 }),
      data('one'),
      END,
      head(200, [['content-length', '99']], 'none'),
      END,
      head(201, [['transfer-encoding', 'chunked']], 'chunked', { reason: 'Created' }),
      data('two'),
      END,
      head(404, [['content-length', '5']], 'length', { reason: 'Not Found', contentLength: 5 }),
      data('three'),
      END,
    ];
    parses(input, expected, ['GET', 'HEAD', 'POST', 'GET']);
    const p = parser(['GET', 'HEAD', 'POST', 'GET']);
    assert.equal(p.pending, 4);
    p.feed(Buffer.from(input.slice(0, 60)));
    assert.equal(p.pending, 3);
    p.feed(Buffer.from(input.slice(60)));
    assert.equal(p.pending, 0);
    assert.equal(p.idle, true);
  });

  it('rejects bytes when no request is pending', () => {
    throwsCode(() => parser([]).feed(Buffer.from('H')), 'ERR_HTTP_PARSE');
    throwsCode(() => run('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n'), 'ERR_HTTP_PARSE');
    throwsCode(() => run('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n\r\nH'), 'ERR_HTTP_PARSE');
    const p = parser([]);
    assert.deepEqual(p.feed(Buffer.alloc(0)), []);
    p.expect('GET');
    assert.equal(show(p.feed(Buffer.from('HTTP/1.1 204 No\r\n\r\n'))).length, 2);
  });

  it('tracks idle and pending', () => {
    const p = new ResponseParser();
    assert.equal(p.idle, true);
    assert.equal(p.pending, 0);
    p.expect('GET');
    p.expect('GET');
    assert.equal(p.pending, 2);
    p.feed(Buffer.from('HTTP/1.1 200'));
    assert.equal(p.idle, false);
    p.feed(Buffer.from(' OK\r\ncontent-length: 1\r\n\r\n'));
    assert.equal(p.idle, false);
    p.feed(Buffer.from('x'));
    assert.equal(p.idle, true);
    assert.equal(p.pending, 1);
  });

  it('is dead after an error: further feed() throws ERR_HTTP_PARSE', () => {
    const p = parser(['GET', 'GET']);
    throwsCode(() => p.feed(Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 1, 2\r\n\r\n')), 'ERR_CONFLICTING_CONTENT_LENGTH');
    const e = throwsCode(() => p.feed(Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n')), 'ERR_HTTP_PARSE');
    assert.match(e.message, /ERR_CONFLICTING_CONTENT_LENGTH/);
    assert.equal(p.idle, false);
  });
});

describe('ResponseParser: finish()', () => {
  it('returns [] when idle, even with requests pending', () => {
    const p = parser(['GET']);
    assert.deepEqual(p.finish(), []);
    assert.equal(p.pending, 1);
    throwsCode(() => p.feed(Buffer.from('HTTP/1.1 200 OK\r\n\r\n')), 'ERR_HTTP_PARSE');
  });

  it('throws on a truncated header block', () => {
    const p = parser();
    p.feed(Buffer.from('HTTP/1.1 200 OK\r\ncontent-le'));
    throwsCode(() => p.finish(), 'ERR_HTTP_PARSE');
    const q = parser();
    q.feed(Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 1\r\n'));
    throwsCode(() => q.finish(), 'ERR_HTTP_PARSE');
  });

  it('throws when a content-length body is short', () => {
    const p = parser();
    p.feed(Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc'));
    const e = throwsCode(() => p.finish(), 'ERR_HTTP_PARSE');
    assert.equal(e.details.missing, 7);
  });

  it('throws when a chunked body is unfinished, at any point', () => {
    const full = 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3;a=b\r\nabc\r\n0\r\nx: y\r\n\r\n';
    const start = full.indexOf('\r\n\r\n') + 4;
    for (let cut = start; cut < full.length; cut++) {
      const p = parser();
      p.feed(Buffer.from(full.slice(0, cut)));
      throwsCode(() => p.finish(), 'ERR_HTTP_PARSE');
    }
  });

  it('ends a close-delimited body', () => {
    const p = parser();
    p.feed(Buffer.from('HTTP/1.1 200 OK\r\n\r\n'));
    assert.deepEqual(show(p.finish()), [END_CLOSE]);
    // An empty close-delimited body.
    const q = parser();
    assert.deepEqual(show(q.feed(Buffer.from('HTTP/1.1 500 Oops\r\n\r\n'))), [head(500, [], 'close', { reason: 'Oops', keepAlive: false })]);
    assert.deepEqual(show(q.finish()), [END_CLOSE]);
  });
});

describe('ResponseParser: feedInto() keeps what a chunk completed before a bad byte', () => {
  it('a complete response, then garbage in the same chunk: its events, then the error', () => {
    const p = parser(['GET', 'GET']);
    const events: ParseEvent[] = [];
    assert.throws(
      () => p.feedInto(Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhiGARBAGE\r\n\r\n', 'latin1'), events),
      (e: unknown) => e instanceof BurrowError && e.code === 'ERR_HTTP_PARSE' && /invalid status line "GARBAGE"/.test(e.message),
    );
    assert.deepEqual(show(events), [
      { kind: 'head', status: 200, reason: 'OK', version: '1.1', headers: [['content-length', '2']], body: 'length', contentLength: 2, keepAlive: true },
      { kind: 'data', data: 'hi' },
      { kind: 'end', keepAlive: true },
    ]);
    assert.throws(() => p.feed(Buffer.from('x')), (e: unknown) => e instanceof BurrowError && /a previous error/.test(e.message));
  });

  it('body bytes of a chunked response before a bad chunk line are kept', () => {
    const p = parser();
    const events: ParseEvent[] = [];
    assert.throws(() => p.feedInto(Buffer.from('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\nZZ\r\n', 'latin1'), events));
    assert.deepEqual(show(events).map((e) => e.kind), ['head', 'data']);
    assert.equal((show(events)[1] as { data: string }).data, 'abc');
  });

  it('feed() is feedInto() into a new array', () => {
    const bytes = Buffer.from('HTTP/1.1 204 No Content\r\n\r\n', 'latin1');
    const a: ParseEvent[] = [];
    parser().feedInto(bytes, a);
    assert.deepEqual(show(parser().feed(bytes)), show(a));
  });
});
