// Connection.flush(ref?) (Gun's flush): what the mailboxes hold and nobody has taken is dropped — for one stream
// (its exact ref) or the whole connection — and counted; later messages queue as before; a waiting await loses
// nothing; a stream whose last message was dropped is forgotten; replyTo streams have nothing to drop.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { open, isBurrowError, type Connection, type StreamMessage, type StreamRef } from '../../src/index.js';
import { startScriptedServer, type ScriptedConnection } from '../../src/testing/scripted.js';
import { within, deferred } from '../regressions/util.js';

/** Counts the messages delivered per stream (the `message` event sees every one) and resolves when `ref` got its last. */
function watch(conn: Connection): { count: Map<string, number>; final(ref: StreamRef): Promise<void>; next(ref: StreamRef): Promise<StreamMessage> } {
  const count = new Map<string, number>();
  const waiting: Array<{ key: string; fin: boolean; resolve(m: StreamMessage): void }> = [];
  conn.on('message', (m) => {
    count.set(m.ref.key, (count.get(m.ref.key) ?? 0) + 1);
    const done = m.type === 'error' || m.type === 'trailers' || (m.type === 'response' && m.fin) || (m.type === 'data' && m.fin);
    for (let i = waiting.length - 1; i >= 0; i--) {
      const w = waiting[i];
      if (w !== undefined && w.key === m.ref.key && (!w.fin || done)) {
        waiting.splice(i, 1);
        w.resolve(m);
      }
    }
  });
  const wait = (ref: StreamRef, fin: boolean): Promise<StreamMessage> => {
    const d = deferred<StreamMessage>();
    waiting.push({ key: ref.key, fin, resolve: d.resolve });
    return within(d.promise, 5000, `a message of ${ref}`);
  };
  return { count, final: async (ref) => void (await wait(ref, true)), next: (ref) => wait(ref, false) };
}

async function withServer(script: (c: ScriptedConnection) => Promise<void>, test: (conn: Connection) => Promise<void>): Promise<void> {
  const srv = await startScriptedServer({ onConnection: script });
  const conn = open({ host: '127.0.0.1', port: srv.port, protocols: ['http'], retry: 0 });
  try {
    await test(conn);
  } finally {
    await conn.close();
    await srv.close();
  }
}

const TWO = 'HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\none' + 'HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\ntwo';

describe('Connection.flush', () => {
  it('flush(ref) drops one stream\'s queued messages, returns how many, and forgets the finished stream; the other stream keeps its own', async () => {
    await withServer(async (c) => {
      await c.readRequestHead();
      await c.readRequestHead();
      await c.write(TWO);
    }, async (conn) => {
      const w = watch(conn);
      const a = conn.get('/a');
      const b = conn.get('/b');
      await Promise.all([w.final(a), w.final(b)]);
      const queuedA = w.count.get(a.key) ?? 0;
      assert.ok(queuedA >= 2, 'a response and its body at least');
      assert.equal(conn.flush(a), queuedA);
      assert.equal(conn.flush(a), 0, 'nothing left to drop');
      await assert.rejects(conn.await(a, 100), (e: unknown) => isBurrowError(e, 'ERR_STREAM_NOT_FOUND'));
      assert.equal((await conn.awaitBody(b)).body.toString(), 'two');
    });
  });

  it('flush() drops what every stream holds', async () => {
    await withServer(async (c) => {
      await c.readRequestHead();
      await c.readRequestHead();
      await c.write(TWO);
    }, async (conn) => {
      const w = watch(conn);
      const a = conn.get('/a');
      const b = conn.get('/b');
      await Promise.all([w.final(a), w.final(b)]);
      assert.equal(conn.flush(), (w.count.get(a.key) ?? 0) + (w.count.get(b.key) ?? 0));
      assert.equal(conn.flush(), 0);
      await assert.rejects(conn.await(b, 100), (e: unknown) => isBurrowError(e, 'ERR_STREAM_NOT_FOUND'));
    });
  });

  it('on an open stream: what came before is dropped, what comes after is queued as before', async () => {
    const more = deferred();
    await withServer(async (c) => {
      await c.readRequestHead();
      await c.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n');
      await more.promise;
      await c.write('6\r\nsecond\r\n0\r\n\r\n');
    }, async (conn) => {
      const w = watch(conn);
      const ref = conn.get('/');
      let seen = 0;
      // The response head and the first chunk: two messages.
      while (seen < 2) {
        await w.next(ref);
        seen = w.count.get(ref.key) ?? 0;
      }
      assert.equal(conn.flush(ref), 2);
      more.resolve();
      const { body } = await conn.awaitBody(ref);
      assert.equal(body.toString(), 'second');
    });
  });

  it('a caller waiting in await loses nothing: flush has nothing to drop and the waiter gets the next message', async () => {
    const go = deferred();
    await withServer(async (c) => {
      await c.readRequestHead();
      await go.promise;
      await c.write('HTTP/1.1 204 No Content\r\n\r\n');
    }, async (conn) => {
      const ref = conn.get('/');
      const waiting = conn.await(ref, 5000);
      assert.equal(conn.flush(ref), 0);
      assert.equal(conn.flush(), 0);
      go.resolve();
      const m = await waiting;
      assert.equal(m.type, 'response');
    });
  });

  it('a stream with replyTo has no mailbox: nothing to drop; an unknown ref neither', async () => {
    await withServer(async (c) => {
      await c.readRequestHead();
      await c.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    }, async (conn) => {
      const got: StreamMessage[] = [];
      const done = deferred();
      const ref = conn.get('/', {}, { replyTo: (m) => {
        got.push(m);
        if (m.type === 'data' && m.fin) done.resolve();
      } });
      await within(done.promise, 5000, 'the body');
      assert.equal(conn.flush(ref), 0);
      assert.equal(conn.flush(), 0);
      assert.deepEqual(got.map((m) => m.type), ['response', 'data']);
      assert.equal(conn.flush(conn.ref), 0);
    });
  });
});
