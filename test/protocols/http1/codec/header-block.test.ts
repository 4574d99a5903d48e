// Header and trailer blocks alone (src/protocols/http1/codec/header-block.ts).
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { isBurrowError } from '../../../../src/errors/errors.js';
import { HeaderBlockReader, type BlockLimits } from '../../../../src/protocols/http1/codec/header-block.js';

const LIMITS: BlockLimits = { maxHeaderBlockSize: 1000, maxTrailerBlockSize: 100, maxHeaderCount: 10 };

/** Feeds `parts` in turn; returns the fields of the block and where the last part goes on. */
function read(parts: readonly string[], trailer = false, limits = LIMITS): { fields: Array<readonly [string, string]>; next: number; status: number } {
  const r = new HeaderBlockReader(limits);
  for (let i = 0; i < parts.length; i++) {
    const chunk = Buffer.from(parts[i] as string, 'latin1');
    const block = r.gather(chunk, 0, trailer);
    if (block === null) {
      assert.ok(i < parts.length - 1, 'the block is complete at the last part');
      continue;
    }
    assert.equal(i, parts.length - 1, 'the block completes at the last part only');
    const s = block.buf.toString('latin1', block.start, block.end);
    return { fields: r.fields(s, block.start), next: block.next, status: r.status.status };
  }
  throw new Error('unreachable');
}

describe('header block', () => {
  it('whole in one chunk: lowercase names (known names shared), trimmed values, order and repeats kept', () => {
    const { fields, next, status } = read(['HTTP/1.1 200 OK\r\nContent-Type: text/plain \r\nX-A:1\r\nx-a:  2\r\n\r\nBODY']);
    assert.deepEqual(fields, [['content-type', 'text/plain'], ['x-a', '1'], ['x-a', '2']]);
    assert.equal(next, 62);
    assert.equal(status, 200);
  });

  it('split at every byte: the same fields', () => {
    const text = 'HTTP/1.1 200 OK\r\nA: b\r\nC-D: e f\r\n\r\n';
    const whole = read([text]).fields;
    for (let cut = 1; cut < text.length; cut++) {
      assert.deepEqual(read([text.slice(0, cut), text.slice(cut)]).fields, whole, `cut at ${cut}`);
    }
  });

  it('a trailer block has no status line and may be empty', () => {
    assert.deepEqual(read(['X-Sum: abc\r\n\r\n'], true).fields, [['x-sum', 'abc']]);
    assert.deepEqual(read(['\r\n'], true).fields, []);
  });

  it('refuses obsolete line folding, a bad name, a control character, a bare CR', () => {
    const cases: Array<[string, RegExp]> = [
      ['HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n', /obsolete line folding/],
      ['HTTP/1.1 200 OK\r\nA b: c\r\n\r\n', /invalid header field line/],
      ['HTTP/1.1 200 OK\r\n: c\r\n\r\n', /empty or invalid name/],
      ['HTTP/1.1 200 OK\r\nA: b\x01c\r\n\r\n', /invalid character 0x01/],
      ['HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n', /bare CR/],
    ];
    for (const [text, why] of cases) {
      assert.throws(() => read([text]), (e: unknown) => isBurrowError(e, 'ERR_HTTP_PARSE') && why.test(e.message), text);
    }
  });

  it('enforces the size limits as bytes arrive, and the field count', () => {
    const big = `HTTP/1.1 200 OK\r\nA: ${'x'.repeat(2000)}`;
    assert.throws(() => read([big, '\r\n\r\n']), (e: unknown) => isBurrowError(e, 'ERR_HEADER_BLOCK_TOO_LARGE') && e.details['limit'] === 1000);
    assert.throws(() => read([`T: ${'y'.repeat(200)}\r\n\r\n`], true), (e: unknown) => isBurrowError(e, 'ERR_TRAILER_BLOCK_TOO_LARGE'));
    const many = `HTTP/1.1 200 OK\r\n${Array.from({ length: 11 }, (_, i) => `h${i}: v\r\n`).join('')}\r\n`;
    assert.throws(() => read([many]), (e: unknown) => isBurrowError(e, 'ERR_TOO_MANY_HEADERS') && e.details['limit'] === 10);
  });
});
