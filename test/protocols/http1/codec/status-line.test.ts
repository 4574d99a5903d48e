// The status line alone (src/protocols/http1/codec/status-line.ts).
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { isBurrowError } from '../../../../src/errors/errors.js';
import { newStatusLine, scanStatusLine } from '../../../../src/protocols/http1/codec/status-line.js';

function scan(s: string, start = 0): { end: number; line: ReturnType<typeof newStatusLine> } {
  const buf = Buffer.from(s, 'latin1');
  const line = newStatusLine();
  return { end: scanStatusLine(buf, start, buf.length, line), line };
}

describe('status line', () => {
  it('records status, minor version and the reason offsets; returns the index past CRLF', () => {
    const { end, line } = scan('HTTP/1.1 404 Not Found\r\nrest');
    assert.equal(end, 24);
    assert.deepEqual(line, { status: 404, minor: 1, reasonStart: 13, reasonEnd: 22 });
  });

  it('accepts a bare LF line end, HTTP/1.0, and no reason (with or without the space)', () => {
    assert.deepEqual(scan('HTTP/1.0 200\n').line, { status: 200, minor: 0, reasonStart: 13, reasonEnd: 12 });
    assert.equal(scan('HTTP/1.0 200\n').end, 13);
    assert.equal(scan('HTTP/1.1 204 \r\n').end, 15);
  });

  it('scans from an offset inside the buffer', () => {
    const { end, line } = scan('xxHTTP/1.1 200 OK\r\n', 2);
    assert.equal(end, 19);
    assert.equal(line.status, 200);
    assert.equal(line.reasonStart, 15);
  });

  it('returns -1 while the line end has not arrived, even after a CR', () => {
    assert.equal(scan('HTTP/1.1 200 O').end, -1);
    assert.equal(scan('HTTP/1.1 200 OK\r').end, -1);
  });

  const bad: Array<[string, RegExp]> = [
    ['HTTP/2.0 200 OK\r\n', /invalid status line/],
    ['HTTP/1.1 20 OK\r\n', /invalid status line/],
    ['HTTP/1.1 099 OK\r\n', /invalid status code/],
    ['HTTP/1.1 2x0 OK\r\n', /invalid status code/],
    ['HTTP/1.1 200OK\r\n', /invalid status line/],
    ['http/1.1 200 OK\r\n', /invalid status line/],
    ['HTTP/1.1 200 OK\rX', /bare CR/],
    ['HTTP/1.1 200 O\x00K\r\n', /invalid character/],
    ['\r\n', /invalid status line ""/],
  ];
  for (const [line, why] of bad) {
    it(`refuses ${JSON.stringify(line)}`, () => {
      assert.throws(() => scan(line), (e: unknown) => isBurrowError(e, 'ERR_HTTP_PARSE') && e.stage === 'http' && why.test(e.message));
    });
  }
});
