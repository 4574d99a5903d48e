// Regressions of calls made from inside callbacks (they take effect after the event) and of
// calls racing the end of the connection: each stream gets exactly one last message, before
// `close`; nothing is sent after close(); no promise is left pending.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { open, isFinal, type BurrowError, type StreamMessage, type StreamRef } from '../../src/index.js';
import { startOrigin } from '../../src/testing/origin.js';
import { startConnectProxy } from '../../src/testing/connect-proxy.js';
import { createTestPki } from '../../src/testing/pki.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';
import { deferred, within } from './util.js';

function label(m: StreamMessage): string {
  return m.type === 'error' ? `error:${m.error.code}` : m.type;
}

describe('regressions: calls from callbacks racing the end of the connection', () => {
  it('streams opened from a callback right after close() get exactly one last message, before close', async () => {
    const baseline = resourceSnapshot();
    const origin = await startOrigin({ protocol: 'http', transport: 'tcp' });
    const conn = open({ host: '127.0.0.1', port: origin.port, protocols: ['http'], retry: 0 });
    const log: string[] = [];
    const byRef = new Map<string, string[]>();
    conn.on('message', (m) => byRef.set(m.ref.key, [...(byRef.get(m.ref.key) ?? []), label(m)]));
    const closed = new Promise<void>((resolve) => conn.once('close', () => {
      log.push('close');
      resolve();
    }));
    const opened: string[] = [];
    conn.get('/', {}, {
      replyTo: (m) => {
        if (m.type !== 'response') return;
        void conn.close();
        const b = conn.get('/b', {}, { replyTo: (x) => log.push(`b ${label(x)}`) });
        const c = conn.get('/c');
        const t = conn.connect({ host: 'example.test', port: 80 });
        opened.push(b.key, c.key, t.key);
      },
    });
    await within(closed, 2000, 'close');
    await new Promise<void>((resolve) => setImmediate(resolve));
    assert.deepEqual(log, ['b error:ERR_CLOSED', 'close']);
    for (const key of opened) assert.deepEqual(byRef.get(key), ['error:ERR_CLOSED'], key);
    assert.equal(origin.requests.length, 1, 'nothing was sent after close()');
    await origin.close();
    await assertNoLeaks(baseline);
  });

  it('a stream cancelled from a callback while the connection closes keeps the error it got, before close', async () => {
    const baseline = resourceSnapshot();
    const origin = await startOrigin({ protocol: 'http', transport: 'tcp' });
    const conn = open({ host: '127.0.0.1', port: origin.port, protocols: ['http'], retry: 0 });
    await conn.awaitUp();
    const log: string[] = [];
    // A before B: A's error comes first, and A's callback cancels B before B's turn.
    const later: { b?: StreamRef } = {};
    conn.get('/never', {}, {
      replyTo: (m) => {
        log.push(`A ${label(m)}`);
        if (m.type === 'error' && later.b !== undefined) conn.cancel(later.b);
      },
    });
    later.b = conn.get('/never', {}, { replyTo: (m) => log.push(`B ${label(m)}`) });
    conn.once('close', () => log.push('close'));
    await conn.close();
    await new Promise<void>((resolve) => setImmediate(resolve));
    assert.deepEqual(log.filter((l) => l !== 'A error:ERR_CLOSED').sort(), ['B error:ERR_CLOSED', 'close'].sort());
    assert.equal(log.at(-1), 'close', log.join(', '));
    assert.equal(log.filter((l) => l.startsWith('B')).length, 1);
    await origin.close();
    await assertNoLeaks(baseline);
  });

  it('close() from an up listener: the requests that waited for the connection are never sent (HTTP/2)', async () => {
    const baseline = resourceSnapshot();
    const origin = await startOrigin({ protocol: 'http2', transport: 'tcp' });
    const conn = open({ host: '127.0.0.1', port: origin.port, protocols: ['http2'], retry: 0 });
    conn.on('up', () => void conn.close());
    const charge = conn.request('POST', '/echo', {}, 'charge me once');
    const up = conn.awaitUp(2000).then(() => 'up', (e: BurrowError) => e.code);
    const m = await conn.await(charge, 2000);
    assert.ok(m.type === 'error' && m.error.code === 'ERR_CLOSED', label(m));
    assert.equal(await up, 'ERR_CLOSED');
    assert.equal(origin.requests.length, 0, 'the POST never reached the origin');
    await origin.close();
    await assertNoLeaks(baseline);
  });

  it('data() waiting for the connection settles when its stream is cancelled', async () => {
    const baseline = resourceSnapshot();
    const origin = await startOrigin({ protocol: 'http', transport: 'tcp' });
    const conn = open({ host: '127.0.0.1', port: origin.port, protocols: ['http'], retry: 0 });
    const ref = conn.headers('POST', '/echo', {});
    const sent = conn.data(ref, true, 'x');
    conn.cancel(ref);
    await within(sent, 2000, 'data() after cancel');
    const m = await conn.await(ref, 2000);
    assert.ok(m.type === 'error' && m.error.code === 'ERR_STREAM_CANCELED');
    await conn.close();
    await origin.close();
    await assertNoLeaks(baseline);
  });

  it('ping() from a callback right after close() rejects ERR_NOT_CONNECTED', async () => {
    const origin = await startOrigin({ protocol: 'http2', transport: 'tcp' });
    const conn = open({ host: '127.0.0.1', port: origin.port, protocols: ['http2'], retry: 0 });
    const pinged = deferred<string>();
    conn.get('/', {}, {
      replyTo: (m) => {
        if (m.type !== 'response') return;
        void conn.close();
        conn.ping().then(() => pinged.resolve('ok'), (e: BurrowError) => pinged.resolve(e.code));
      },
    });
    assert.equal(await within(pinged.promise, 2000, 'ping'), 'ERR_NOT_CONNECTED');
    await origin.close();
  });
});

describe('regressions: shutdown() while a tunnel is being set up', () => {
  it('shutdown() during an HTTP/1.1 CONNECT tunnel’s TLS handshake resolves once the tunnel is up and shut', async () => {
    const baseline = resourceSnapshot();
    const pki = createTestPki();
    const origin = await startOrigin({ protocol: 'http', transport: 'tls', pki });
    // A relay that holds the tunnel's bytes until the test has called shutdown().
    const release = deferred();
    const sockets: net.Socket[] = [];
    const relay = net.createServer((s) => {
      sockets.push(s);
      s.pause();
      s.on('error', () => undefined);
      void release.promise.then(() => {
        const t = net.connect(origin.port, '127.0.0.1');
        sockets.push(t);
        t.on('error', () => undefined);
        s.pipe(t);
        t.pipe(s);
        s.resume();
      });
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const proxy = await startConnectProxy({});
    const conn = open({ host: proxy.host, port: proxy.port, retry: 0 });
    try {
      await conn.awaitUp();
      const answered = deferred();
      conn.on('message', (m) => {
        if (m.type === 'response') answered.resolve();
      });
      const t = conn.connect({ host: '127.0.0.1', port: (relay.address() as net.AddressInfo).port, transport: 'tls', tls: { ca: pki.ca, servername: 'localhost' }, protocols: ['http'] });
      await within(answered.promise, 2000, "the CONNECT's 2xx");
      const done = conn.shutdown();
      release.resolve();
      await within(done, 3000, 'shutdown()');
      assert.equal(conn.state, 'closed');
      const last: StreamMessage[] = [];
      for await (const m of conn.messages(t)) if (isFinal(m) || m.type === 'up') last.push(m);
      assert.ok(last.length > 0);
    } finally {
      await conn.close();
      await proxy.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => relay.close(() => resolve()));
      await origin.close();
    }
    await assertNoLeaks(baseline);
  });
});
