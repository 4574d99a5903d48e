// Chunk-size lines alone (src/protocols/http1/codec/chunked.ts).
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { isBurrowError } from '../../../../src/errors/errors.js';
import { ChunkSizeReader, MAX_CHUNK_SIZE_LINE, parseChunkSizeLine } from '../../../../src/protocols/http1/codec/chunked.js';

function size(line: string): number {
  const b = Buffer.from(line, 'latin1');
  return parseChunkSizeLine(b, 0, b.length);
}

describe('chunk-size line', () => {
  it('hex sizes, with or without CR, with extensions', () => {
    assert.equal(size('1a\r'), 26);
    assert.equal(size('FF'), 255);
    assert.equal(size('0'), 0);
    assert.equal(size('5;name=value\r'), 5);
    assert.equal(size('5 ; a ; b="q\\"uoted" ;c=d\r'), 5);
  });

  it('accepts BWS around ";" and "=" in chunk extensions (RFC 9112 §7.1.1)', () => {
    for (const line of ['5 ;a\r', '5\t;a\r', '5; a\r', '5;a = b\r', '5;a=\t"v"\r', '5;a=b ;c\r', '5;a="v" ;c\r', '0 ;last']) {
      assert.equal(size(line), line.startsWith('0') ? 0 : 5, JSON.stringify(line));
    }
  });

  it('refuses whitespace before the line end: after the size or after an extension (response splitting)', () => {
    for (const line of ['5 \r', '5\t\r', '25  \r', '5 ', '0 \r', '5;a \r', '5;a=b \r', '5;a="v"\t\r', '5 ;a \r', '5 \r\r']) {
      assert.throws(() => size(line), (e: unknown) => isBurrowError(e, 'ERR_HTTP_PARSE'), JSON.stringify(line));
    }
    assert.throws(() => size('25  \r'), (e: unknown) => isBurrowError(e, 'ERR_HTTP_PARSE') && /whitespace before the line end/.test(e.message));
  });

  it('refuses a missing size, a too large size and bad extensions', () => {
    for (const line of ['\r', ';x\r', 'g\r', '5;\r', '5;a=\r', '5;a="open\r', '1000000000000000\r', '5 x\r']) {
      assert.throws(() => size(line), (e: unknown) => isBurrowError(e, 'ERR_HTTP_PARSE'), JSON.stringify(line));
    }
  });

  it('reads a line split across chunks, and bounds what it buffers', () => {
    const r = new ChunkSizeReader();
    assert.equal(r.read(Buffer.from('1'), 0), -1);
    assert.equal(r.buffered, 1);
    assert.equal(r.read(Buffer.from('f;x=y'), 0), -1);
    assert.equal(r.read(Buffer.from('\r\nDATA'), 0), 2);
    assert.equal(r.size, 31);
    assert.equal(r.buffered, 0);
    const long = new ChunkSizeReader();
    assert.throws(() => long.read(Buffer.from(`1;${'a'.repeat(MAX_CHUNK_SIZE_LINE)}`), 0), (e: unknown) => isBurrowError(e, 'ERR_HTTP_PARSE') && /longer than 4096/.test(e.message));
  });
});
