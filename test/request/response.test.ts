// Response and its BodyQueue: chunks queued ahead of the reader are handed out at once, a
// waiting reader is settled by the next chunk, errors come after the chunks before them,
// the body reads once, and a reader that stops early cancels the stream exactly once.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BodyQueue, Response } from '../../src/request/response.js';
import { BurrowError, isBurrowError } from '../../src/errors/errors.js';

function setup(): { q: BodyQueue; res: Response; counts: { consumed: number; cancels: number } } {
  const counts = { consumed: 0, cancels: 0 };
  const q = new BodyQueue({
    consumed: () => void counts.consumed++,
    cancel: () => void counts.cancels++,
    trailers: () => [['x-t', '1']],
  });
  const res = new Response({ status: 200, headers: [], version: '1.1', url: 'http://x/', info: { layers: [], reused: false, headersMs: 0, chain: [], connection: 0, stream: [] } }, q);
  return { q, res, counts };
}

describe('Response body (BodyQueue)', () => {
  it('hands out queued chunks at once and settles a waiting reader with the next chunk', async () => {
    const { q, res, counts } = setup();
    q.push(Buffer.from('a'));
    q.push(Buffer.from('b'));
    assert.equal(q.buffered, 2);
    const it = res.body[Symbol.asyncIterator]();
    assert.deepEqual(await it.next(), { done: false, value: Buffer.from('a') });
    assert.deepEqual(await it.next(), { done: false, value: Buffer.from('b') });
    const later = it.next();
    q.push(Buffer.from('c'));
    assert.equal(q.buffered, 0, 'a chunk for a waiting reader is not queued');
    assert.deepEqual(await later, { done: false, value: Buffer.from('c') });
    assert.equal(counts.consumed, 3);
    const end = it.next();
    q.end();
    assert.deepEqual(await end, { done: true, value: undefined });
    assert.deepEqual(await it.next(), { done: true, value: undefined });
    assert.deepEqual(res.trailers, [['x-t', '1']]);
    await it.return?.();
    assert.equal(counts.cancels, 0, 'a body read to its end is not cancelled');
  });

  it('delivers the chunks that came before an error, then rejects with it; nothing after the end fails it', async () => {
    const { q, res } = setup();
    q.push(Buffer.from('one'));
    q.fail(new BurrowError('ERR_CONNECTION_CLOSED', 'gone', { stage: 'tcp' }));
    q.push(Buffer.from('late'));
    const got: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const c of res.body) got.push(c.toString());
      })(),
      (e: unknown) => isBurrowError(e) && e.code === 'ERR_CONNECTION_CLOSED',
    );
    assert.deepEqual(got, ['one']);

    const b = setup();
    b.q.push(Buffer.from('ok'));
    b.q.end();
    b.q.fail(new Error('after the end'));
    assert.equal(await b.res.text(), 'ok');
  });

  it('a reader waiting when the stream fails is rejected', async () => {
    const { q, res } = setup();
    const it = res.body[Symbol.asyncIterator]();
    const waiting = it.next();
    q.fail(new BurrowError('ERR_STREAM_RESET', 'reset', { stage: 'http' }));
    await assert.rejects(waiting, (e: unknown) => isBurrowError(e) && e.code === 'ERR_STREAM_RESET');
  });

  it('a for-await loop that stops early cancels the stream once', async () => {
    const { q, res, counts } = setup();
    q.push(Buffer.from('x'));
    q.push(Buffer.from('y'));
    for await (const c of res.body) {
      assert.equal(c.toString(), 'x');
      break;
    }
    res.cancel();
    assert.equal(counts.cancels, 1);
  });

  it('cancel() while a reader waits ends that reader and cancels the stream', async () => {
    const { res, counts } = setup();
    const it = res.body[Symbol.asyncIterator]();
    const waiting = it.next();
    res.cancel();
    assert.deepEqual(await waiting, { done: true, value: undefined });
    assert.equal(counts.cancels, 1);
    assert.deepEqual(await it.next(), { done: true, value: undefined }, 'a stopped body stays at its end');
  });

  it('can be read once: a second reader gets ERR_BAD_STATE and does not cancel the first', async () => {
    const { q, res, counts } = setup();
    const first = res.body[Symbol.asyncIterator]();
    await assert.rejects(res.text(), (e: unknown) => isBurrowError(e) && e.code === 'ERR_BAD_STATE');
    assert.equal(counts.cancels, 0);
    q.push(Buffer.from('ok'));
    q.end();
    assert.deepEqual(await first.next(), { done: false, value: Buffer.from('ok') });
  });

  it('buffer() joins every chunk, also when they arrive over several turns', async () => {
    const { q, res } = setup();
    q.push(Buffer.from('he'));
    const whole = res.text();
    await new Promise<void>((r) => setImmediate(r));
    q.push(Buffer.from('llo'));
    q.end();
    assert.equal(await whole, 'hello');
  });
});
