// Regressions of the HTTP/2 layer: trailers behind buffered data, a cancelled
// stream's queued messages, a CONNECT answered 2xx with END_STREAM, and the
// :authority of a CONNECT.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { open, isBurrowError, type Connection, type StreamMessage } from '../../src/index.js';
import { request } from '../../src/request/request.js';
import { startH2ConnectProxy } from '../../src/testing/h2-proxy.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';
import { deferred, flushed, startH2Server, within } from './util.js';

const CHUNK = 16384;
const CHUNKS = 200;
const TOTAL = CHUNK * CHUNKS;

function conn2(port: number): Connection {
  return open({ host: '127.0.0.1', port, protocols: ['http2'], retry: 0 });
}

/**
 * Serves TOTAL bytes then a trailer `x-check: done`; `delivered` resolves once
 * the client has read every frame of the response, trailers included (the
 * client may not have handed the data on yet: that is the point).
 */
async function trailersServer(): Promise<{ port: number; delivered: Promise<void>; close(): Promise<void> }> {
  const delivered = deferred();
  const srv = await startH2Server((st, _h, session) => {
    st.respond({ ':status': 200 }, { waitForTrailers: true });
    st.on('wantTrailers', () => st.sendTrailers({ 'x-check': 'done' }));
    st.once('close', () => void flushed(session).then(() => delivered.resolve()));
    for (let i = 0; i < CHUNKS; i++) st.write(Buffer.alloc(CHUNK, 97));
    st.end();
  });
  return { port: srv.port, delivered: delivered.promise, close: () => srv.close() };
}

describe('regressions: HTTP/2 trailers under flow control', () => {
  it('trailers come after every data message even when they arrive while data is held back by the flow budget', async (t) => {
    const baseline = resourceSnapshot();
    const srv = await trailersServer();
    const conn = conn2(srv.port);
    t.after(async () => {
      await conn.close();
      await srv.close();
    });
    const ref = conn.get('/', {}, { flow: 4 });
    const head = await conn.await(ref, 2000);
    assert.equal(head.type, 'response');
    // The whole response, trailers included, reaches the client while 4 data messages at most were let through.
    await within(srv.delivered, 5000, 'the response reaching the client');
    const types: string[] = [];
    let bytes = 0;
    let last: StreamMessage | undefined;
    for (;;) {
      const m = await conn.await(ref, 2000);
      last = m;
      if (m.type === 'data') {
        bytes += m.data.length;
        if (m.fin) break;
        conn.updateFlow(ref, 1);
        continue;
      }
      types.push(m.type);
      break;
    }
    assert.equal(bytes, TOTAL, `every byte before the end (ended with ${types.join(',') || 'data'})`);
    assert.ok(last?.type === 'trailers', `ends with trailers, not ${last?.type}`);
    assert.deepEqual(last.headers, [['x-check', 'done']]);
    await conn.close();
    await srv.close();
    await assertNoLeaks(baseline);
  });

  it('request() with a slow reader gets every byte and then the trailers', async (t) => {
    const baseline = resourceSnapshot();
    const srv = await trailersServer();
    t.after(() => srv.close());
    const res = await request(`http://127.0.0.1:${srv.port}/`, { protocols: ['http2'], pool: false });
    // Nothing read yet: request() lets a few data messages through, the rest waits in the stream.
    await within(srv.delivered, 5000, 'the response reaching the client');
    const body = await res.buffer();
    assert.equal(body.length, TOTAL);
    assert.ok(body.every((b) => b === 97));
    assert.deepEqual(res.trailers, [['x-check', 'done']]);
    await srv.close();
    await assertNoLeaks(baseline);
  });
});

describe('regressions: HTTP/2 cancel()', () => {
  it('a cancelled stream keeps only its cancel error: await after cancel() gives the error, not data queued before it', async (t) => {
    const baseline = resourceSnapshot();
    const srv = await startH2Server((st) => {
      st.respond({ ':status': 200 });
      st.end(Buffer.alloc(256 * 1024, 1));
    });
    const conn = conn2(srv.port);
    t.after(async () => {
      await conn.close();
      await srv.close();
    });
    const ref = conn.get('/');
    const firstData = deferred();
    conn.on('message', (m) => {
      if (m.ref.equals(ref) && m.type === 'data') firstData.resolve();
    });
    const head = await conn.await(ref, 2000);
    assert.equal(head.type, 'response');
    // At least one data message is now queued, unread.
    await within(firstData.promise, 2000, 'the first data message');
    conn.cancel(ref);
    const m = await conn.await(ref, 1000);
    assert.ok(m.type === 'error' && m.error.code === 'ERR_STREAM_CANCELED', `got ${m.type}`);
    // Nothing else is left for it: the data queued before the cancel is gone.
    await assert.rejects(conn.await(ref, 1000), (e: unknown) => isBurrowError(e, 'ERR_STREAM_NOT_FOUND'));
    // The connection is fine for the next request.
    const again = conn.get('/');
    assert.equal((await conn.awaitBody(again, 2000)).body.length, 256 * 1024);
    await conn.close();
    await srv.close();
    await assertNoLeaks(baseline);
  });
});

describe('regressions: HTTP/2 CONNECT', () => {
  it('a CONNECT answered 2xx with END_STREAM ends with ERR_TUNNEL_CLOSED (stage connect-response), and requests waiting for it fail', async (t) => {
    const baseline = resourceSnapshot();
    const srv = await startH2Server((st) => {
      st.respond({ ':status': 200 }, { endStream: true });
    });
    const conn = conn2(srv.port);
    t.after(async () => {
      await conn.close();
      await srv.close();
    });
    const tunnel = conn.connect({ host: 'x.test', port: 80 });
    const inside = conn.get('/', {}, { tunnel });
    const seen: StreamMessage[] = [];
    for (;;) {
      const m = await conn.await(tunnel, 2000);
      seen.push(m);
      if (m.type === 'error' || m.type === 'up') break;
    }
    const last = seen.at(-1);
    assert.ok(last?.type === 'error', `the tunnel ends with an error, got ${seen.map((m) => m.type).join(',')}`);
    assert.equal(last.error.code, 'ERR_TUNNEL_CLOSED');
    assert.equal(last.error.stage, 'connect-response');
    assert.equal(last.error.hop?.kind, 'connect');
    const mi = await conn.await(inside, 2000);
    assert.equal(mi.type, 'error');
    assert.equal(conn.streamInfo(tunnel), undefined);
    assert.equal(conn.streamInfo(inside), undefined);
    await conn.close();
    await srv.close();
    await assertNoLeaks(baseline);
  });

  it("a CONNECT's :authority is its destination even when a host header is given", async (t) => {
    const baseline = resourceSnapshot();
    const proxy = await startH2ConnectProxy({ transport: 'tcp', behavior: { status: 403 } });
    const conn = conn2(proxy.port);
    t.after(async () => {
      await conn.close();
      await proxy.close();
    });
    const tunnel = conn.connect({ host: 'intended.test', port: 443 }, { host: 'other.test:25' });
    const m = await conn.await(tunnel, 2000);
    assert.ok(m.type === 'response' && m.status === 403);
    assert.equal(proxy.requests.length, 1);
    assert.equal(proxy.requests[0]?.authority, 'intended.test:443');
    assert.ok(!proxy.requests[0]?.headers.some(([n, v]) => n === 'host' || v === 'other.test:25'));
    await conn.close();
    await proxy.close();
    await assertNoLeaks(baseline);
  });
});
