import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { BurrowError, type ErrorCode } from '../../../../src/errors/errors.js';
import type { HeaderList } from '../../../../src/shared/headers.js';
import {
  decideFraming,
  encodeChunk,
  encodeLastChunk,
  encodeRequestHead,
  type BodyFraming,
  type RequestHead,
} from '../../../../src/protocols/http1/codec/index.js';

function bytes(b: Buffer | Buffer[]): string {
  return (Array.isArray(b) ? Buffer.concat(b) : b).toString('latin1');
}

function throwsCode(fn: () => unknown, code: ErrorCode): BurrowError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  if (!(caught instanceof BurrowError)) assert.fail(`expected a BurrowError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.equal(caught.stage, 'http');
  return caught;
}

function req(method: string, target: string, headers: HeaderList = [], host = 'example.com'): RequestHead {
  return { method, target, headers, host };
}

describe('decideFraming', () => {
  it('a full body gets content-length with its byte length', () => {
    assert.deepEqual(decideFraming('POST', [], Buffer.from('héllo')), { kind: 'length', length: 6 });
    assert.deepEqual(decideFraming('GET', [], Buffer.from('x')), { kind: 'length', length: 1 });
    // A user content-length is ignored when the body is given: the encoder writes the true length.
    assert.deepEqual(decideFraming('PUT', [['content-length', '99']], Buffer.from('abc')), { kind: 'length', length: 3 });
  });

  it('an empty body is content-length: 0 for POST/PUT/PATCH and no framing otherwise', () => {
    for (const m of ['POST', 'PUT', 'PATCH']) assert.deepEqual(decideFraming(m, [], Buffer.alloc(0)), { kind: 'length', length: 0 });
    for (const m of ['GET', 'HEAD', 'DELETE', 'OPTIONS', 'post']) assert.deepEqual(decideFraming(m, [], Buffer.alloc(0)), { kind: 'none' });
  });

  it('a streamed body is chunked unless the headers give a content-length', () => {
    assert.deepEqual(decideFraming('POST', [['x-a', 'b']], null), { kind: 'chunked' });
    assert.deepEqual(decideFraming('POST', [['content-length', '1024']], null), { kind: 'length', length: 1024 });
    assert.deepEqual(decideFraming('PUT', [['content-length', '5'], ['content-length', '5, 5']], null), { kind: 'length', length: 5 });
    assert.deepEqual(decideFraming('POST', [['content-length', ' 0 ']], null), { kind: 'length', length: 0 });
  });

  it('validates a user content-length for a streamed body', () => {
    for (const bad of ['', 'abc', '-1', '1.5', '0x10', '1e3', '9007199254740992', '5, 6']) {
      const e = throwsCode(() => decideFraming('POST', [['content-length', bad]], null), 'ERR_INVALID_HEADER');
      assert.equal(e.details.header, 'content-length');
    }
    throwsCode(() => decideFraming('POST', [['content-length', '5'], ['content-length', '6']], null), 'ERR_INVALID_HEADER');
  });

  it('CONNECT is never framed', () => {
    assert.deepEqual(decideFraming('CONNECT', [], null), { kind: 'none' });
    assert.deepEqual(decideFraming('CONNECT', [['content-length', '5']], null), { kind: 'none' });
    assert.deepEqual(decideFraming('CONNECT', [], Buffer.alloc(0)), { kind: 'none' });
    throwsCode(() => decideFraming('CONNECT', [], Buffer.from('x')), 'ERR_INVALID_REQUEST');
  });
});

describe('encodeRequestHead', () => {
  it('encodes a GET with the default host', () => {
    const out = encodeRequestHead(req('GET', '/a/b?c=d', [['accept', '*/*'], ['user-agent', 'burrow']]), { kind: 'none' });
    assert.equal(bytes(out), 'GET /a/b?c=d HTTP/1.1\r\nhost: example.com\r\naccept: */*\r\nuser-agent: burrow\r\n\r\n');
  });

  it('encodes a POST with a full body: content-length from the framing, user framing headers dropped', () => {
    const body = Buffer.from('{"a":1}');
    const headers: HeaderList = [['content-type', 'application/json'], ['content-length', '99'], ['transfer-encoding', 'chunked'], ['x-b', 'c']];
    const framing = decideFraming('POST', headers, body);
    assert.equal(
      bytes(encodeRequestHead(req('POST', '/submit', headers), framing)),
      'POST /submit HTTP/1.1\r\nhost: example.com\r\ncontent-type: application/json\r\nx-b: c\r\ncontent-length: 7\r\n\r\n',
    );
  });

  it('encodes a streamed chunked request and one with a user content-length', () => {
    assert.equal(
      bytes(encodeRequestHead(req('PUT', '/up', [['x-a', 'b']]), decideFraming('PUT', [['x-a', 'b']], null))),
      'PUT /up HTTP/1.1\r\nhost: example.com\r\nx-a: b\r\ntransfer-encoding: chunked\r\n\r\n',
    );
    const h: HeaderList = [['content-length', '4096'], ['x-a', 'b']];
    assert.equal(bytes(encodeRequestHead(req('PUT', '/up', h), decideFraming('PUT', h, null))), 'PUT /up HTTP/1.1\r\nhost: example.com\r\nx-a: b\r\ncontent-length: 4096\r\n\r\n');
  });

  it('writes the user host header first, in place of the default', () => {
    const out = encodeRequestHead(req('GET', '/', [['x-a', '1'], ['host', 'virtual.example:8080'], ['x-b', '2']]), { kind: 'none' });
    assert.equal(bytes(out), 'GET / HTTP/1.1\r\nhost: virtual.example:8080\r\nx-a: 1\r\nx-b: 2\r\n\r\n');
  });

  it('passes an IPv6 host value through', () => {
    assert.equal(bytes(encodeRequestHead(req('GET', '/', [], '[::1]:8443'), { kind: 'none' })), 'GET / HTTP/1.1\r\nhost: [::1]:8443\r\n\r\n');
  });

  it('accepts CONNECT in authority form, without framing headers', () => {
    assert.equal(
      bytes(encodeRequestHead(req('CONNECT', 'origin.example:443', [['proxy-authorization', 'Basic eDp5']], 'origin.example:443'), decideFraming('CONNECT', [], null))),
      'CONNECT origin.example:443 HTTP/1.1\r\nhost: origin.example:443\r\nproxy-authorization: Basic eDp5\r\n\r\n',
    );
    assert.equal(bytes(encodeRequestHead(req('CONNECT', '[2001:db8::1]:443', [], '[2001:db8::1]:443'), { kind: 'none' })), 'CONNECT [2001:db8::1]:443 HTTP/1.1\r\nhost: [2001:db8::1]:443\r\n\r\n');
    throwsCode(() => encodeRequestHead(req('CONNECT', 'a:443'), { kind: 'chunked' }), 'ERR_INVALID_REQUEST');
    throwsCode(() => encodeRequestHead(req('CONNECT', 'a:443'), { kind: 'length', length: 0 }), 'ERR_INVALID_REQUEST');
  });

  it('keeps obs-text (latin1) bytes as single bytes', () => {
    const out = encodeRequestHead(req('GET', '/caf\xe9', [['x-name', 'Ren\xe9']]), { kind: 'none' });
    assert.deepEqual([...out.subarray(8, 9)], [0xe9]);
    assert.equal(bytes(out), 'GET /caf\xe9 HTTP/1.1\r\nhost: example.com\r\nx-name: Ren\xe9\r\n\r\n');
  });

  const rejections: Array<[string, () => unknown, ErrorCode]> = [
    ['CR in a header value', () => encodeRequestHead(req('GET', '/', [['x-a', 'b\rc']]), { kind: 'none' }), 'ERR_INVALID_HEADER'],
    ['LF in a header value', () => encodeRequestHead(req('GET', '/', [['x-a', 'b\nx-injected: 1']]), { kind: 'none' }), 'ERR_INVALID_HEADER'],
    ['NUL in a header value', () => encodeRequestHead(req('GET', '/', [['x-a', 'b\0']]), { kind: 'none' }), 'ERR_INVALID_HEADER'],
    ['CR in a header name', () => encodeRequestHead(req('GET', '/', [['x-a\r', 'b']]), { kind: 'none' }), 'ERR_INVALID_HEADER'],
    ['LF in a header name', () => encodeRequestHead(req('GET', '/', [['x\na', 'b']]), { kind: 'none' }), 'ERR_INVALID_HEADER'],
    ['NUL in a header name', () => encodeRequestHead(req('GET', '/', [['x\0', 'b']]), { kind: 'none' }), 'ERR_INVALID_HEADER'],
    ['a space in a header name', () => encodeRequestHead(req('GET', '/', [['x a', 'b']]), { kind: 'none' }), 'ERR_INVALID_HEADER'],
    ['an empty header name', () => encodeRequestHead(req('GET', '/', [['', 'b']]), { kind: 'none' }), 'ERR_INVALID_HEADER'],
    ['a character above U+00FF in a value', () => encodeRequestHead(req('GET', '/', [['x-a', '\u010a']]), { kind: 'none' }), 'ERR_INVALID_HEADER'],
    ['CRLF in the default host', () => encodeRequestHead(req('GET', '/', [], 'a\r\nx: y'), { kind: 'none' }), 'ERR_INVALID_HEADER'],
    ['CRLF in a user host', () => encodeRequestHead(req('GET', '/', [['host', 'a\r\nx: y']]), { kind: 'none' }), 'ERR_INVALID_HEADER'],
    ['two host headers', () => encodeRequestHead(req('GET', '/', [['host', 'a'], ['host', 'b']]), { kind: 'none' }), 'ERR_INVALID_HEADER'],
    ['CR in the method', () => encodeRequestHead(req('GE\rT', '/'), { kind: 'none' }), 'ERR_INVALID_REQUEST'],
    ['LF in the method', () => encodeRequestHead(req('GET\n', '/'), { kind: 'none' }), 'ERR_INVALID_REQUEST'],
    ['NUL in the method', () => encodeRequestHead(req('G\0T', '/'), { kind: 'none' }), 'ERR_INVALID_REQUEST'],
    ['a space in the method', () => encodeRequestHead(req('GET /x', '/'), { kind: 'none' }), 'ERR_INVALID_REQUEST'],
    ['an empty method', () => encodeRequestHead(req('', '/'), { kind: 'none' }), 'ERR_INVALID_REQUEST'],
    ['CR in the target', () => encodeRequestHead(req('GET', '/a\rb'), { kind: 'none' }), 'ERR_INVALID_REQUEST'],
    ['LF in the target', () => encodeRequestHead(req('GET', '/a\nb'), { kind: 'none' }), 'ERR_INVALID_REQUEST'],
    ['NUL in the target', () => encodeRequestHead(req('GET', '/a\0b'), { kind: 'none' }), 'ERR_INVALID_REQUEST'],
    ['a space in the target', () => encodeRequestHead(req('GET', '/a b'), { kind: 'none' }), 'ERR_INVALID_REQUEST'],
    ['an empty target', () => encodeRequestHead(req('GET', ''), { kind: 'none' }), 'ERR_INVALID_REQUEST'],
    ['a character above U+00FF in the target', () => encodeRequestHead(req('GET', '/\u0120'), { kind: 'none' }), 'ERR_INVALID_REQUEST'],
    ['a negative length', () => encodeRequestHead(req('POST', '/'), { kind: 'length', length: -1 }), 'ERR_INVALID_REQUEST'],
    ['a fractional length', () => encodeRequestHead(req('POST', '/'), { kind: 'length', length: 1.5 }), 'ERR_INVALID_REQUEST'],
    ['an unknown framing', () => encodeRequestHead(req('POST', '/'), { kind: 'bogus' } as unknown as BodyFraming), 'ERR_INVALID_REQUEST'],
  ];
  for (const [what, fn, code] of rejections) {
    it(`rejects ${what} before producing bytes`, () => {
      throwsCode(fn, code);
    });
  }
});

describe('encodeChunk / encodeLastChunk', () => {
  it('frames a chunk in three parts without copying the data', () => {
    const data = Buffer.alloc(300, 0x61);
    const parts = encodeChunk(data);
    assert.equal(parts.length, 3);
    assert.equal(bytes(parts[0] as Buffer), '12c\r\n');
    assert.equal(parts[1], data);
    assert.equal(bytes(parts[2] as Buffer), '\r\n');
    assert.equal(bytes(encodeChunk(Buffer.from('hello'))), '5\r\nhello\r\n');
    assert.equal(bytes(encodeChunk(Buffer.alloc(16))), `10\r\n${'\0'.repeat(16)}\r\n`);
  });

  it('returns no parts for empty data', () => {
    assert.deepEqual(encodeChunk(Buffer.alloc(0)), []);
  });

  it('ends the body with the last chunk and optional trailers', () => {
    assert.equal(bytes(encodeLastChunk()), '0\r\n\r\n');
    assert.equal(bytes(encodeLastChunk([])), '0\r\n\r\n');
    assert.equal(bytes(encodeLastChunk([['x-checksum', 'abc'], ['x-more', 'd e']])), '0\r\nx-checksum: abc\r\nx-more: d e\r\n\r\n');
  });

  it('validates trailers', () => {
    throwsCode(() => encodeLastChunk([['x-a', 'b\r\nc']]), 'ERR_INVALID_HEADER');
    throwsCode(() => encodeLastChunk([['x a', 'b']]), 'ERR_INVALID_HEADER');
    throwsCode(() => encodeLastChunk([['x-a', '\u2028']]), 'ERR_INVALID_HEADER');
  });
});
