// Response: the body iterator over a BodySource (buffered chunks handed out at once,
// waiting only when empty, errors after the chunks that came before them, read once).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Response, type BodySource } from '../../src/request/response.js';
import { BurrowError, isBurrowError } from '../../src/errors/errors.js';

/** A BodySource driven by hand: push chunks, end, fail. */
function source(): BodySource & { push(b: string): void; end(): void; fail(e: Error): void; cancels: number; waits: number } {
  const queue: Buffer[] = [];
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const s = {
    cancels: 0,
    waits: 0,
    push(b: string) {
      queue.push(Buffer.from(b));
      wake?.();
    },
    end() {
      ended = true;
      wake?.();
    },
    fail(e: Error) {
      failure = e;
      wake?.();
    },
    read() {
      const c = queue.shift();
      if (c !== undefined) return c;
      if (failure) throw failure;
      return ended ? null : undefined;
    },
    wait() {
      s.waits++;
      return new Promise<void>((r) => {
        wake = () => {
          wake = undefined;
          r();
        };
      });
    },
    cancel() {
      s.cancels++;
    },
    trailers: () => undefined,
  };
  return s;
}

function response(src: BodySource): Response {
  return new Response({ status: 200, headers: [], version: '1.1', url: 'http://x/', info: { layers: [], reused: false, headersMs: 0 } }, src);
}

describe('Response body', () => {
  it('hands out buffered chunks without waiting, and waits only when nothing is buffered', async () => {
    const src = source();
    src.push('a');
    src.push('b');
    const it = response(src).body[Symbol.asyncIterator]();
    assert.deepEqual(await it.next(), { done: false, value: Buffer.from('a') });
    assert.deepEqual(await it.next(), { done: false, value: Buffer.from('b') });
    assert.equal(src.waits, 0);
    const later = it.next();
    src.push('c');
    assert.deepEqual(await later, { done: false, value: Buffer.from('c') });
    assert.equal(src.waits, 1);
    src.end();
    assert.deepEqual(await it.next(), { done: true, value: undefined });
    assert.deepEqual(await it.next(), { done: true, value: undefined });
    assert.equal(src.cancels, 0, 'a body read to its end is not cancelled');
  });

  it('delivers the chunks that came before an error, then rejects with it', async () => {
    const src = source();
    const res = response(src);
    src.push('one');
    src.fail(new BurrowError('ERR_CONNECTION_CLOSED', 'gone', { stage: 'tcp' }));
    const got: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const c of res.body) got.push(c.toString());
      })(),
      (e: unknown) => isBurrowError(e) && e.code === 'ERR_CONNECTION_CLOSED',
    );
    assert.deepEqual(got, ['one']);
  });

  it('a for-await loop that stops early cancels the stream once', async () => {
    const src = source();
    const res = response(src);
    src.push('x');
    src.push('y');
    for await (const c of res.body) {
      assert.equal(c.toString(), 'x');
      break;
    }
    assert.equal(src.cancels, 1);
  });

  it('can be read once: a second reader gets ERR_BAD_STATE and does not cancel the first', async () => {
    const src = source();
    const res = response(src);
    const first = res.body[Symbol.asyncIterator]();
    await assert.rejects(res.text(), (e: unknown) => isBurrowError(e) && e.code === 'ERR_BAD_STATE');
    assert.equal(src.cancels, 0);
    src.push('ok');
    src.end();
    assert.deepEqual(await first.next(), { done: false, value: Buffer.from('ok') });
  });

  it('buffer() joins every chunk, also when they arrive over several turns', async () => {
    const src = source();
    const res = response(src);
    src.push('he');
    const whole = res.text();
    await new Promise<void>((r) => setImmediate(r));
    src.push('llo');
    src.end();
    assert.equal(await whole, 'hello');
  });
});
