// Regressions of the raw protocol: half-close.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { open, type StreamMessage } from '../../src/index.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';
import { deferred, within } from './util.js';

const TOTAL = 64 << 20;

describe('regressions: raw half-close', () => {
  it("the peer's FIN does not truncate bytes the client already wrote: the server receives all of a large write", async (t) => {
    const baseline = resourceSnapshot();
    const serverDone = deferred<{ received: number; how: string }>();
    const sockets = new Set<net.Socket>();
    // A peer that is done talking as soon as the client starts, and still reads everything.
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      sockets.add(s);
      let received = 0;
      s.once('data', () => s.end('bye'));
      s.on('data', (d: Buffer) => {
        received += d.length;
      });
      s.on('end', () => serverDone.resolve({ received, how: 'end' }));
      s.on('error', (e: NodeJS.ErrnoException) => serverDone.resolve({ received, how: `error ${e.code ?? e.message}` }));
      s.on('close', () => {
        sockets.delete(s);
        serverDone.resolve({ received, how: 'close' });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const conn = open({ host: '127.0.0.1', port, protocols: ['raw'], retry: 0 });
    const closeServer = (): Promise<void> =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    t.after(async () => {
      await conn.close();
      if (server.listening) await closeServer();
    });
    await conn.awaitUp();
    const fromPeer: StreamMessage[] = [];
    const peerEnded = new Promise<void>((resolve) => {
      conn.on('message', (m) => {
        if (!m.ref.equals(conn.ref)) return;
        fromPeer.push(m);
        if (m.type === 'error' || (m.type === 'data' && m.fin)) resolve();
      });
    });
    await within(conn.data(conn.ref, true, Buffer.alloc(TOTAL, 7)), 10_000, 'data()');
    const done = await within(serverDone.promise, 10_000, 'the server seeing the end of the stream');
    assert.deepEqual(done, { received: TOTAL, how: 'end' });
    await within(peerEnded, 2000, "the peer's FIN reaching the client");
    const text = Buffer.concat(fromPeer.flatMap((m) => (m.type === 'data' ? [m.data] : []))).toString();
    assert.equal(text, 'bye');
    assert.ok(fromPeer.every((m) => m.type === 'data'), `messages: ${fromPeer.map((m) => m.type).join(',')}`);
    await conn.close();
    await closeServer();
    await assertNoLeaks(baseline);
  });
});
