// Regressions of tunnels: cancel() of a request waiting for its tunnel or of a
// tunnel being set up, a lost connection's tunnel refs, and a conn-wide tunnel
// failing inside an HTTP/2 tunnel.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { open, type BurrowError, type DownEvent, type StreamMessage, type StreamRef, type Connection } from '../../src/index.js';
import { startScriptedServer, type ScriptedConnection, type ScriptedServer } from '../../src/testing/scripted.js';
import { startH2ConnectProxy } from '../../src/testing/h2-proxy.js';
import { startConnectProxy } from '../../src/testing/connect-proxy.js';
import { startEchoServer } from '../../src/testing/echo-server.js';
import { startOrigin } from '../../src/testing/origin.js';
import { createTestPki } from '../../src/testing/pki.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';
import { deferred, within } from './util.js';

async function scripted(script: (c: ScriptedConnection, index: number) => Promise<void>): Promise<ScriptedServer> {
  let accepted = 0;
  return startScriptedServer({ onConnection: (c) => script(c, accepted++) });
}

function ok(body: string): string {
  return `HTTP/1.1 200 OK\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/** Every message of `ref` up to and including the first error (or the end of its mailbox). */
async function untilError(conn: Connection, ref: StreamRef, ms: number): Promise<StreamMessage[]> {
  const out: StreamMessage[] = [];
  for (;;) {
    const m = await conn.await(ref, ms);
    out.push(m);
    if (m.type === 'error') return out;
  }
}

function describeMessages(ms: readonly StreamMessage[]): string[] {
  return ms.map((m) => (m.type === 'error' ? `error:${m.error.code}` : m.type));
}

describe('regressions: cancel() and tunnels being set up', () => {
  it('a request cancelled while it waits for its HTTP/1.1 tunnel is never sent', async (t) => {
    const baseline = resourceSnapshot();
    const connectSeen = deferred();
    const answer = deferred();
    const firstInside = deferred<string>();
    // One scripted server is both the CONNECT proxy and the origin behind it.
    const srv = await scripted(async (c) => {
      await c.readRequestHead();
      connectSeen.resolve();
      await answer.promise;
      await c.write('HTTP/1.1 200 Connection established\r\n\r\n');
      firstInside.resolve(await c.readRequestHead());
      await c.write(ok('after'));
    });
    const conn = open({ host: '127.0.0.1', port: srv.port, protocols: ['http'], retry: 0 });
    t.after(async () => {
      await conn.close();
      await srv.close();
    });
    await conn.awaitUp();
    const tunnel = conn.connect({ host: 'origin.test', port: 80 });
    const del = conn.delete('/account', {}, { tunnel });
    await connectSeen.promise;
    conn.cancel(del);
    const md = await conn.await(del, 1000);
    assert.ok(md.type === 'error' && md.error.code === 'ERR_STREAM_CANCELED');
    answer.resolve();
    assert.deepEqual(describeMessages([await conn.await(tunnel, 2000), await conn.await(tunnel, 2000)]), ['response', 'up']);
    const after = conn.get('/after', {}, { tunnel });
    assert.equal((await conn.awaitBody(after, 2000)).body.toString(), 'after');
    assert.match(await firstInside.promise, /^GET \/after HTTP\/1\.1\r\n/, 'the cancelled DELETE never reached the origin');
    await conn.close();
    await srv.close();
    await assertNoLeaks(baseline);
  });

  it('cancel() of an HTTP/2 tunnel while its SOCKS5 handshake runs: no tunnel comes up and the request waiting for it is never sent', async (t) => {
    const baseline = resourceSnapshot();
    const greetingSeen = deferred();
    const answer = deferred();
    const afterHandshake = deferred<string>();
    // A SOCKS5 server (reached through the HTTP/2 proxy) that holds its greeting reply until told.
    const socks = await scripted(async (c) => {
      await c.readExactly(3); // 05 01 00
      greetingSeen.resolve();
      await answer.promise;
      await c.write(Buffer.from([5, 0]));
      // If the client goes on, answer its request so that nothing waits on this server.
      const req = await c.readExactly(5).catch(() => undefined);
      if (req !== undefined) {
        const rest = req[3] === 3 ? (req[4] ?? 0) + 2 : req[3] === 4 ? 17 : 5;
        await c.readExactly(rest);
        await c.write(Buffer.from([5, 0, 0, 1, 127, 0, 0, 1, 0, 80]));
      }
      afterHandshake.resolve((await c.readToEnd()).toString('latin1'));
    });
    const proxy = await startH2ConnectProxy({ transport: 'tcp' });
    const conn = open({ host: '127.0.0.1', port: proxy.port, protocols: ['http2'], retry: 0 });
    t.after(async () => {
      await conn.close();
      await proxy.close();
      await socks.close();
    });
    const tunnel = conn.connect({ host: '127.0.0.1', port: socks.port, protocols: [{ socks: { host: 'origin.test', port: 80 } }] });
    const inside = conn.get('/secret', {}, { tunnel });
    const seen: StreamMessage[] = [];
    const first = await conn.await(tunnel, 2000);
    seen.push(first);
    assert.ok(first.type === 'response' && first.status === 200);
    assert.equal(conn.hasStream(tunnel), true);
    await greetingSeen.promise;
    conn.cancel(tunnel);
    answer.resolve();
    seen.push(...(await untilError(conn, tunnel, 2000)));
    assert.deepEqual(describeMessages(seen), ['response', 'error:ERR_STREAM_CANCELED']);
    const mi = await conn.await(inside, 2000);
    assert.equal(mi.type, 'error');
    // The tunnel's stream goes away: the SOCKS server sees the end, and no request came through.
    const rest = await within(afterHandshake.promise, 3000, 'the end of the SOCKS connection');
    assert.ok(!rest.includes('/secret'), `the origin got ${JSON.stringify(rest)}`);
    assert.equal(conn.streamInfo(tunnel), undefined);
    assert.equal(conn.hasStream(tunnel), false);
    assert.equal(conn.state, 'up');
    await conn.close();
    await proxy.close();
    await socks.close();
    await assertNoLeaks(baseline);
  });
});

describe('regressions: a lost connection and its tunnel refs', () => {
  for (const retry of [2, 0]) {
    it(`retry: ${retry}: an HTTP/1.1 tunnel ref gets a final ERR_TUNNEL_CLOSED and is in down.killedStreams`, async (t) => {
      const baseline = resourceSnapshot();
      const kill = deferred();
      // Proxy and origin in one: CONNECT, one request through the tunnel, then the connection is dropped.
      const srv = await scripted(async (c, index) => {
        if (index > 0) return;
        await c.readRequestHead();
        await c.write('HTTP/1.1 200 Connection established\r\n\r\n');
        await c.readRequestHead();
        await c.write(ok('ok'));
        await kill.promise;
        c.destroy();
      });
      const conn = open({ host: '127.0.0.1', port: srv.port, protocols: ['http'], retry, retryTimeout: 0 });
      t.after(async () => {
        await conn.close();
        await srv.close();
      });
      const tunnel = conn.connect({ host: 'origin.test', port: 80 });
      const r0 = conn.get('/', {}, { tunnel });
      assert.equal((await conn.awaitBody(r0, 2000)).body.toString(), 'ok');
      const seen: StreamMessage[] = [];
      const iterated = (async () => {
        for await (const m of conn.messages(tunnel)) seen.push(m);
      })();
      const down = new Promise<DownEvent>((resolve) => conn.once('down', resolve));
      const upAgain = retry > 0 ? new Promise<void>((resolve) => conn.once('up', () => resolve())) : undefined;
      kill.resolve();
      const d = await within(down, 2000, 'the down event');
      assert.equal(d.willRetry, retry > 0);
      assert.ok(d.killedStreams.some((r) => r.equals(tunnel)), `killedStreams: ${d.killedStreams.map(String).join(', ')}`);
      await within(iterated, 2000, 'the end of the tunnel ref messages');
      assert.deepEqual(describeMessages(seen), ['response', 'up', 'error:ERR_TUNNEL_CLOSED']);
      if (upAgain !== undefined) {
        await within(upAgain, 2000, 'the reconnection');
        assert.equal(conn.state, 'up');
        assert.equal(srv.connections.length, 2);
      } else {
        assert.equal(conn.state, 'closed');
      }
      assert.equal(conn.streamInfo(tunnel), undefined);
      assert.equal(conn.hasStream(tunnel), false);
      await conn.close();
      await srv.close();
      await assertNoLeaks(baseline);
    });
  }
});

describe('regressions: nested tunnels', () => {
  it('a conn-wide tunnel failing inside an HTTP/2 tunnel closes the outer tunnel ref with an error', async (t) => {
    const baseline = resourceSnapshot();
    // The innermost target closes every connection at once: the TLS handshake through the tunnels fails.
    const notTls = await scripted(async (c) => c.destroy());
    const h1 = await startConnectProxy({ transport: 'tcp' });
    const h2 = await startH2ConnectProxy({ transport: 'tcp' });
    const conn = open({ host: '127.0.0.1', port: h2.port, protocols: ['http2'], retry: 0 });
    t.after(async () => {
      await conn.close();
      await h2.close();
      await h1.close();
      await notTls.close();
    });
    const outer = conn.connect({ host: '127.0.0.1', port: h1.port });
    const inner = conn.connect({ host: '127.0.0.1', port: notTls.port, transport: 'tls' }, {}, { tunnel: outer });
    const mInner = await untilError(conn, inner, 2000);
    assert.equal(mInner.at(-1)?.type, 'error');
    const mOuter = await untilError(conn, outer, 2000);
    assert.deepEqual(describeMessages(mOuter), ['response', 'up', 'error:ERR_TUNNEL_CLOSED']);
    assert.equal(conn.streamInfo(outer), undefined, 'no stale running tunnel');
    assert.equal(conn.hasStream(outer), false);
    const g = conn.get('/', {}, { tunnel: outer });
    const mg = await conn.await(g, 2000);
    assert.ok(mg.type === 'error' && mg.error.code === 'ERR_TUNNEL_CLOSED', `a request in the closed tunnel: ${describeMessages([mg]).join()}`);
    // The HTTP/2 connection itself is fine.
    assert.equal(conn.state, 'up');
    await conn.close();
    await h2.close();
    await h1.close();
    await notTls.close();
    await assertNoLeaks(baseline);
  });
});

describe('regressions: many tunnels at once', () => {
  it('setting up more than 10 tunnels at once on one connection prints no MaxListenersExceededWarning', async () => {
    const pki = createTestPki();
    const origin = await startOrigin({ protocol: 'http', transport: 'tls', pki });
    const proxy = await startH2ConnectProxy({ transport: 'tcp' });
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w);
    };
    process.on('warning', onWarning);
    const conn = open({ host: '127.0.0.1', port: proxy.port, protocols: ['http2'], retry: 0 });
    try {
      // TLS handshakes inside the tunnels: each setup listens to the connection's session signal meanwhile.
      const refs = Array.from({ length: 24 }, () => conn.connect({ host: 'localhost', port: origin.port, transport: 'tls', tls: { ca: pki.ca }, protocols: ['http'] }));
      const reqs = refs.map((tunnel) => conn.get('/', {}, { tunnel }));
      const bodies = await Promise.all(reqs.map((r) => conn.awaitBody(r, 5000)));
      assert.equal(bodies.filter((b) => b.body.toString() === 'hello').length, 24);
      await new Promise<void>((resolve) => setImmediate(resolve));
      assert.deepEqual(warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message), []);
    } finally {
      process.off('warning', onWarning);
      await conn.close();
      await proxy.close();
      await origin.close();
    }
  });
});

describe('regressions: HTTP/2 CONNECT inside a tunnel', () => {
  it('bytes an HTTP/2 proxy reached through a tunnel sends with its 200 are the first bytes of the tunnel, not lost', async () => {
    const baseline = resourceSnapshot();
    const echo = await startEchoServer({ transport: 'tcp' });
    const outer = await startH2ConnectProxy({ transport: 'tcp' });
    const inner = await startH2ConnectProxy({ transport: 'tcp', behavior: { extraBytes: 'EXTRA|' } });
    const conn = open({ host: '127.0.0.1', port: outer.port, protocols: ['http2'], retry: 0 });
    try {
      const t1 = conn.connect({ host: '127.0.0.1', port: inner.port, protocols: ['http2'] });
      const t2 = conn.connect({ host: '127.0.0.1', port: echo.port, protocols: ['raw'] }, {}, { tunnel: t1 });
      const seen: string[] = [];
      for (;;) {
        const m = await within(conn.await(t2, 10_000), 5000, 'the inner tunnel');
        seen.push(m.type);
        if (m.type === 'up' || m.type === 'error') break;
      }
      assert.deepEqual(seen, ['response', 'up']);
      await conn.data(t2, false, 'echoed');
      let got = '';
      while (got.length < 'EXTRA|echoed'.length) {
        const m = await within(conn.await(t2, 10_000), 5000, `the tunnel's bytes (so far ${JSON.stringify(got)})`);
        assert.equal(m.type, 'data');
        if (m.type === 'data') got += m.data.toString('latin1');
      }
      assert.equal(got, 'EXTRA|echoed');
    } finally {
      await conn.close();
      await Promise.all([inner.close(), outer.close(), echo.close()]);
    }
    await assertNoLeaks(baseline);
  });
});

describe('regressions: a CONNECT that fails before its answer is a failure of the CONNECT response', () => {
  it('an HTTP/1.1 proxy closing the connection before answering the CONNECT: stage connect-response, hop kind connect', async () => {
    const { request } = await import('../../src/request/request.js');
    const { BurrowError } = await import('../../src/errors/errors.js');
    const proxy = await startConnectProxy({ behavior: { closeAfterHead: true } });
    try {
      const err = await request('http://127.0.0.1:9/', { via: [proxy.url], pool: false }).then(
        () => assert.fail('the request succeeded'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof BurrowError, String(err));
      assert.equal(err.code, 'ERR_CONNECTION_CLOSED');
      assert.equal(err.stage, 'connect-response');
      assert.equal(err.hop?.kind, 'connect');
      assert.equal(err.hop?.index, 0);
    } finally {
      await proxy.close();
    }
  });

  it('an HTTP/2 proxy resetting the CONNECT stream: stage connect-response, hop kind connect', async () => {
    const { request } = await import('../../src/request/request.js');
    const { BurrowError } = await import('../../src/errors/errors.js');
    const proxy = await startH2ConnectProxy({ behavior: { rst: true } });
    try {
      const err = await request('http://127.0.0.1:9/', { via: [`h2c://127.0.0.1:${proxy.port}`], pool: false }).then(
        () => assert.fail('the request succeeded'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof BurrowError, String(err));
      assert.equal(err.code, 'ERR_STREAM_RESET');
      assert.equal(err.stage, 'connect-response');
      assert.equal(err.hop?.kind, 'connect');
    } finally {
      await proxy.close();
    }
  });
});

describe('regressions: closing tunnels on an HTTP/2 proxy connection', () => {
  it('a tunnel closed without an error ends its stream (END_STREAM) and sends no RST_STREAM, which servers limit (rapid reset): 50 tunnels', async () => {
    const http2 = await import('node:http2');
    const net = await import('node:net');
    const origin = await startOrigin({ protocol: 'http', transport: 'tcp' });
    const server = http2.createServer();
    server.on('stream', (stream, headers) => {
      stream.on('error', () => undefined);
      const [host, port] = String(headers[':authority']).split(':');
      const up = net.connect(Number(port), host);
      up.on('error', () => stream.destroy());
      up.once('connect', () => {
        if (stream.destroyed) return up.destroy();
        stream.respond({ ':status': 200 });
        stream.pipe(up);
        up.pipe(stream);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    // A relay in front of it counts the frames the client sends, by type.
    const frames = new Map<number, number>();
    const sockets = new Set<import('node:net').Socket>();
    const relay = net.createServer((c) => {
      const s2 = net.connect((server.address() as { port: number }).port, '127.0.0.1');
      for (const x of [c, s2]) {
        sockets.add(x);
        x.on('error', () => undefined);
        x.once('close', () => sockets.delete(x));
      }
      let buf = Buffer.alloc(0);
      let at = 24; // after the client preface
      c.on('data', (d: Buffer) => {
        s2.write(d);
        buf = Buffer.concat([buf, d]);
        while (at + 9 <= buf.length) {
          const len = buf.readUIntBE(at, 3);
          if (at + 9 + len > buf.length) break;
          const type = buf[at + 3] as number;
          frames.set(type, (frames.get(type) ?? 0) + 1);
          at += 9 + len;
        }
        buf = buf.subarray(at);
        at = 0;
      });
      s2.pipe(c);
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    const conn = open({ host: '127.0.0.1', port: (relay.address() as { port: number }).port, protocols: ['http2'], retry: 0 });
    try {
      for (let i = 0; i < 50; i++) {
        const ref = conn.connect({ host: '127.0.0.1', port: origin.port, protocols: ['http'] });
        const r = await within(conn.await(ref), 5000, 'CONNECT answer');
        assert.equal(r.type, 'response', `tunnel ${i}: ${r.type === 'error' ? r.error.message : r.type}`);
        assert.equal((await conn.await(ref)).type, 'up');
        const get = conn.get('/', {}, { tunnel: ref });
        assert.equal((await conn.awaitBody(get)).body.toString(), 'hello');
        conn.cancel(ref);
      }
      assert.equal(conn.state, 'up');
      assert.equal(frames.get(0x3) ?? 0, 0, `${frames.get(0x3)} RST_STREAM frames sent`);
      assert.ok((frames.get(0x1) ?? 0) >= 50);
    } finally {
      await conn.close();
      for (const x of sockets) x.destroy();
      await new Promise<void>((r) => relay.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
      await origin.close();
    }
  });
});

describe('regressions: memory of cancelled streams', () => {
  it('a connection keeps the cancel error of at most 1 024 unread cancelled streams (tunnels churned for hours keep no more)', async () => {
    const { MAX_CANCELLED_UNREAD } = await import('../../src/connection/streams.js');
    const origin = await startOrigin({ protocol: 'http', transport: 'tcp' });
    const conn = open({ host: '127.0.0.1', port: origin.port, protocols: ['http'], retry: 0 });
    try {
      await conn.awaitUp();
      // Requests that never get an answer, cancelled at once: each leaves only its cancel error.
      const refs: StreamRef[] = [];
      for (let i = 0; i < MAX_CANCELLED_UNREAD + 10; i++) {
        const ref = conn.get('/never');
        conn.cancel(ref);
        refs.push(ref);
      }
      const last = await conn.await(refs[refs.length - 1] as StreamRef);
      assert.ok(last.type === 'error' && last.error.code === 'ERR_STREAM_CANCELED');
      // The oldest were forgotten.
      await assert.rejects(conn.await(refs[0] as StreamRef), (e: BurrowError) => e.code === 'ERR_STREAM_NOT_FOUND');
      const kept = await conn.await(refs[10] as StreamRef);
      assert.ok(kept.type === 'error' && kept.error.code === 'ERR_STREAM_CANCELED');
    } finally {
      await conn.close();
      await origin.close();
    }
  });
});

describe('regressions: memory of tunnels closed under other tunnels', () => {
  it('the errors of the tunnels inside a cancelled tunnel, never read, are kept for the last 1 024 such streams only', async () => {
    const { MAX_CANCELLED_UNREAD } = await import('../../src/connection/streams.js');
    const origin = await startOrigin({ protocol: 'http', transport: 'tcp' });
    const proxy = await startH2ConnectProxy();
    const inner = await startConnectProxy();
    const conn = open({ host: '127.0.0.1', port: proxy.port, protocols: ['http2'], retry: 0 });
    try {
      const innerRefs: StreamRef[] = [];
      const rounds = Math.ceil(MAX_CANCELLED_UNREAD / 2) + 20;
      for (let i = 0; i < rounds; i++) {
        const outer = conn.connect({ host: '127.0.0.1', port: inner.port, protocols: ['http'] });
        await conn.await(outer);
        await conn.await(outer);
        const t2 = conn.connect({ host: '127.0.0.1', port: origin.port, protocols: ['http'] }, undefined, { tunnel: outer });
        await conn.await(t2);
        await conn.await(t2);
        const get = conn.get('/never', {}, { tunnel: t2 });
        innerRefs.push(t2, get);
        // Closing the outer tunnel ends t2 and the request with errors nobody reads.
        conn.cancel(outer);
      }
      const last = await conn.await(innerRefs[innerRefs.length - 1] as StreamRef);
      assert.equal(last.type, 'error');
      await assert.rejects(conn.await(innerRefs[0] as StreamRef), (e: BurrowError) => e.code === 'ERR_STREAM_NOT_FOUND');
    } finally {
      await conn.close();
      await Promise.all([origin.close(), proxy.close(), inner.close()]);
    }
  });
});

describe('regressions: cancel() of a tunnel with a conn-wide tunnel inside', () => {
  it('the tunnel inside and the streams in it get their last message, and their layers close', async () => {
    const origin = await startOrigin({ protocol: 'http', transport: 'tcp' });
    const proxy = await startH2ConnectProxy();
    const inner = await startConnectProxy();
    const conn = open({ host: '127.0.0.1', port: proxy.port, protocols: ['http2'], retry: 0 });
    try {
      const outer = conn.connect({ host: '127.0.0.1', port: inner.port, protocols: ['http'] });
      await conn.await(outer);
      await conn.await(outer);
      const t2 = conn.connect({ host: '127.0.0.1', port: origin.port, protocols: ['http'] }, undefined, { tunnel: outer });
      await conn.await(t2);
      assert.equal((await conn.await(t2)).type, 'up');
      const get = conn.get('/never', {}, { tunnel: t2 });
      conn.cancel(outer);
      const [a, b] = await Promise.all([within(conn.await(t2), 2000, 't2 last message'), within(conn.await(get), 2000, 'request last message')]);
      assert.ok(a.type === 'error' && a.error.code === 'ERR_TUNNEL_CLOSED', a.type);
      assert.ok(b.type === 'error', b.type);
      assert.equal(conn.streamInfo(t2), undefined);
      assert.equal(conn.state, 'up');
    } finally {
      await conn.close();
      await Promise.all([origin.close(), proxy.close(), inner.close()]);
    }
  });
});
