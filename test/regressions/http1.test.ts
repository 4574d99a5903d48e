// Regressions of the HTTP/1.1 layer: request bodies queued behind another
// body, early responses, CONNECT cancelled or shut down before its 2xx, and
// `connection: close` seen at the head.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { open, isBurrowError, type BurrowError, type Connection, type DownEvent, type StreamMessage } from '../../src/index.js';
import { startScriptedServer, type ScriptedConnection, type ScriptedServer } from '../../src/testing/scripted.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';
import { deferred, within } from './util.js';

async function scripted(script: (c: ScriptedConnection, index: number) => Promise<void>): Promise<ScriptedServer> {
  let accepted = 0;
  return startScriptedServer({ onConnection: (c) => script(c, accepted++) });
}

function conn1(port: number, extra: Record<string, unknown> = {}): Connection {
  return open({ host: '127.0.0.1', port, protocols: ['http'], retry: 0, ...extra });
}

function ok(body: string, extra = ''): string {
  return `HTTP/1.1 200 OK\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
}

function closeEvent(conn: Connection): Promise<BurrowError | null> {
  return new Promise((resolve) => conn.once('close', resolve));
}

describe('regressions: HTTP/1.1 request bodies', () => {
  it('data() for a request queued behind another streamed body is sent right after its head, and a later GET still goes out', async (t) => {
    const baseline = resourceSnapshot();
    const heads: string[] = [];
    let bodyA = '';
    let bodyB = '';
    const srv = await scripted(async (c) => {
      heads.push(await c.readRequestHead());
      bodyA = (await c.readUntil('0\r\n\r\n')).toString();
      heads.push(await c.readRequestHead());
      bodyB = (await c.readUntil('0\r\n\r\n')).toString();
      await c.write(ok('a') + ok('b'));
      heads.push(await c.readRequestHead());
      await c.write(ok('c'));
    });
    const conn = conn1(srv.port);
    t.after(async () => {
      await conn.close();
      await srv.close();
    });
    await conn.awaitUp();
    const a = conn.post('/a', {});
    const b = conn.post('/b', {});
    // b's head waits until a's body is complete. Its data is kept for it: the call
    // neither fails nor waits for a's body (which the caller sends only afterwards).
    await within(conn.data(b, true, 'bbb'), 2000, 'data() for the queued request');
    await conn.data(a, true, 'aaa');
    assert.equal((await conn.awaitBody(a, 2000)).body.toString(), 'a');
    assert.equal((await conn.awaitBody(b, 2000)).body.toString(), 'b');
    const c = conn.get('/c');
    assert.equal((await conn.awaitBody(c, 2000)).body.toString(), 'c');
    assert.match(heads[0] ?? '', /^POST \/a HTTP\/1\.1\r\n.*transfer-encoding: chunked\r\n\r\n$/s);
    assert.match(heads[1] ?? '', /^POST \/b HTTP\/1\.1\r\n.*transfer-encoding: chunked\r\n\r\n$/s);
    assert.match(heads[2] ?? '', /^GET \/c HTTP\/1\.1\r\n/);
    assert.equal(bodyA, '3\r\naaa\r\n0\r\n\r\n');
    assert.equal(bodyB, '3\r\nbbb\r\n0\r\n\r\n');
    await conn.close();
    await srv.close();
    await assertNoLeaks(baseline);
  });

  it('after an early keep-alive response (413) to an unfinished body, the next request goes on a new connection, not into that body', async (t) => {
    const baseline = resourceSnapshot();
    const restOnFirst = deferred<string>();
    const srv = await scripted(async (c, index) => {
      if (index === 0) {
        await c.readRequestHead();
        await c.readUntil('abc');
        await c.write('HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\n\r\n');
        // Everything the client still writes on this connection, up to its FIN.
        restOnFirst.resolve((await c.readToEnd()).toString());
        return;
      }
      await c.readRequestHead();
      await c.write(ok('next'));
    });
    const conn = conn1(srv.port, { retry: 1, retryTimeout: 0 });
    t.after(async () => {
      await conn.close();
      await srv.close();
    });
    await conn.awaitUp();
    const a = conn.post('/upload', { 'content-length': '10' });
    await conn.data(a, false, 'abc');
    const ra = await conn.await(a, 2000);
    assert.ok(ra.type === 'response' && ra.status === 413);
    const g = conn.get('/next');
    assert.equal((await conn.awaitBody(g, 2000)).body.toString(), 'next');
    assert.equal(srv.connections.length, 2);
    assert.equal(await within(restOnFirst.promise, 2000, 'the end of the first connection'), '', 'nothing was written after the unfinished body');
    await conn.close();
    await srv.close();
    await assertNoLeaks(baseline);
  });

  it('after an early keep-alive response to an unfinished body, without retry, the next request fails unsent', async (t) => {
    const restOnFirst = deferred<string>();
    const srv = await scripted(async (c) => {
      await c.readRequestHead();
      await c.readUntil('abc');
      await c.write('HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\n\r\n');
      restOnFirst.resolve((await c.readToEnd()).toString());
    });
    const conn = conn1(srv.port);
    t.after(async () => {
      await conn.close();
      await srv.close();
    });
    await conn.awaitUp();
    const a = conn.post('/upload', { 'content-length': '10' });
    await conn.data(a, false, 'abc');
    assert.equal((await conn.await(a, 2000)).type, 'response');
    const g = conn.get('/next');
    const mg = await conn.await(g, 2000);
    assert.ok(mg.type === 'error', `got ${mg.type}`);
    assert.equal(await within(restOnFirst.promise, 2000, 'the end of the connection'), '', 'the GET was not written into the unfinished body');
    assert.equal(srv.connections.length, 1);
    await conn.close();
    await srv.close();
  });
});

describe('regressions: HTTP/1.1 CONNECT before its 2xx', () => {
  it('cancel() of a CONNECT before its 2xx does not leave the connection up with a socket that now belongs to no one', async (t) => {
    const baseline = resourceSnapshot();
    const connectSeen = deferred();
    const answer = deferred();
    const afterAnswer = deferred<string>();
    const srv = await scripted(async (c) => {
      await c.readRequestHead();
      connectSeen.resolve();
      await answer.promise;
      await c.write('HTTP/1.1 200 Connection established\r\n\r\n');
      afterAnswer.resolve((await c.readToEnd()).toString());
    });
    const conn = conn1(srv.port);
    t.after(async () => {
      await conn.close();
      await srv.close();
    });
    await conn.awaitUp();
    const tunnel = conn.connect({ host: 'example.test', port: 80 });
    await connectSeen.promise;
    const closed = closeEvent(conn);
    conn.cancel(tunnel);
    const mt = await conn.await(tunnel, 1000);
    assert.ok(mt.type === 'error' && mt.error.code === 'ERR_STREAM_CANCELED');
    answer.resolve();
    // The 2xx made the socket a tunnel nobody wants: the connection ends (retry: 0 closes it).
    await within(closed, 2000, "the connection's close event");
    assert.equal(conn.state, 'closed');
    const g = conn.get('/');
    const mg = await conn.await(g, 1000);
    assert.ok(mg.type === 'error' && mg.error.code === 'ERR_CLOSED', 'a new request is not postponed forever');
    await within(conn.shutdown(), 1000, 'shutdown()');
    assert.equal(await within(afterAnswer.promise, 2000, 'the end of the connection'), '', 'nothing was sent into the unwanted tunnel');
    await conn.close();
    await srv.close();
    await assertNoLeaks(baseline);
  });

  it('shutdown() while a CONNECT is pending resolves once it is answered, without waiting for closingTimeout, and sets up no tunnel', async (t) => {
    const baseline = resourceSnapshot();
    const connectSeen = deferred();
    const answer = deferred();
    const afterAnswer = deferred<string>();
    const srv = await scripted(async (c) => {
      await c.readRequestHead();
      connectSeen.resolve();
      await answer.promise;
      await c.write('HTTP/1.1 200 Connection established\r\n\r\n');
      afterAnswer.resolve((await c.readToEnd()).toString());
    });
    const conn = conn1(srv.port, { http: { closingTimeout: 30_000 } });
    t.after(async () => {
      await conn.close();
      await srv.close();
    });
    await conn.awaitUp();
    const seen: StreamMessage[] = [];
    const tunnel = conn.connect({ host: '127.0.0.1', port: 9 }, {}, { replyTo: (m) => seen.push(m) });
    await connectSeen.promise;
    const done = conn.shutdown();
    answer.resolve();
    await within(done, 2000, 'shutdown() (closingTimeout is 30 s)');
    assert.equal(conn.state, 'closed');
    assert.deepEqual(seen.map((m) => m.type), ['error'], 'no 2xx response, no up: the tunnel was not set up');
    const last = seen[0];
    assert.ok(last?.type === 'error' && last.ref.equals(tunnel) && isBurrowError(last.error));
    assert.equal(await within(afterAnswer.promise, 2000, 'the end of the connection'), '', 'nothing was sent into the unwanted tunnel');
    await conn.close();
    await srv.close();
    await assertNoLeaks(baseline);
  });
});

describe('regressions: HTTP/1.1 CONNECT requests', () => {
  it("a CONNECT's host header is its target: one given by the caller is replaced", async (t) => {
    const baseline = resourceSnapshot();
    const head = deferred<string>();
    const srv = await scripted(async (c) => {
      head.resolve(await c.readRequestHead());
      await c.write('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
    });
    const conn = conn1(srv.port);
    t.after(async () => {
      await conn.close();
      await srv.close();
    });
    const tunnel = conn.connect({ host: 'intended.test', port: 443 }, { host: 'other.test:25', 'x-extra': '1' });
    const m = await conn.await(tunnel, 2000);
    assert.ok(m.type === 'response' && m.status === 403);
    const sent = await head.promise;
    assert.match(sent, /^CONNECT intended\.test:443 HTTP\/1\.1\r\nhost: intended\.test:443\r\n/);
    assert.doesNotMatch(sent, /other\.test/);
    assert.match(sent, /\r\nx-extra: 1\r\n/);
    await conn.close();
    await srv.close();
    await assertNoLeaks(baseline);
  });

  it('a CONNECT waiting for the connection (after connection: close) survives the loss of that connection and opens its tunnel on the next one', async (t) => {
    const baseline = resourceSnapshot();
    const connectMade = deferred();
    const srv = await scripted(async (c, index) => {
      if (index === 0) {
        // A response that says connection: close, whose body is still coming when the CONNECT is made.
        await c.readRequestHead();
        await c.write('HTTP/1.1 200 OK\r\ncontent-length: 10\r\nconnection: close\r\n\r\n12345');
        await connectMade.promise;
        await c.write('67890');
        c.end();
        return;
      }
      // The next connection: the CONNECT, then a request inside the tunnel.
      assert.match(await c.readRequestHead(), /^CONNECT example\.test:80 /);
      await c.write('HTTP/1.1 200 Connection established\r\n\r\n');
      assert.match(await c.readRequestHead(), /^GET \/inside /);
      await c.write(ok('inside'));
    });
    const conn = conn1(srv.port, { retry: 1, retryTimeout: 0 });
    t.after(async () => {
      await conn.close();
      await srv.close();
    });
    const first = conn.get('/first');
    const m = await conn.await(first, 2000);
    assert.ok(m.type === 'response' && m.status === 200);
    // The layer takes no new request (connection: close): the CONNECT waits for the next connection.
    const tunnel = conn.connect({ host: 'example.test', port: 80 });
    const inside = conn.get('/inside', {}, { tunnel });
    assert.equal(conn.streamInfo(tunnel)?.state, 'pending');
    connectMade.resolve();
    assert.equal((await conn.awaitBody(first, 2000)).body.toString(), '1234567890');
    assert.equal((await conn.awaitBody(inside, 3000)).body.toString(), 'inside');
    assert.deepEqual(srv.errors, []);
    await conn.close();
    await srv.close();
    await assertNoLeaks(baseline);
  });
});

describe('regressions: HTTP/1.1 connection: close', () => {
  it('a request made after a `connection: close` head, before that body ends, goes to the next connection instead of failing', async (t) => {
    const baseline = resourceSnapshot();
    const bMade = deferred();
    const firstRequests: string[] = [];
    const restOnFirst = deferred<string>();
    const srv = await scripted(async (c, index) => {
      if (index === 0) {
        firstRequests.push(await c.readRequestHead());
        await c.write('HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 4\r\n\r\nab');
        await bMade.promise;
        await c.write('cd');
        c.end();
        restOnFirst.resolve((await c.readToEnd()).toString());
        return;
      }
      await c.readRequestHead();
      await c.write(ok('second'));
    });
    const conn = conn1(srv.port, { retry: 1, retryTimeout: 0 });
    t.after(async () => {
      await conn.close();
      await srv.close();
    });
    const a = conn.get('/a');
    const ra = await conn.await(a, 2000);
    assert.ok(ra.type === 'response' && ra.status === 200);
    const b = conn.get('/b');
    bMade.resolve();
    assert.equal((await conn.awaitBody(a, 2000)).body.toString(), 'abcd');
    const rb = await conn.await(b, 2000);
    assert.ok(rb.type === 'response' && rb.status === 200, `b got ${rb.type === 'error' ? rb.error.code : rb.type}`);
    assert.equal((await conn.awaitBody(b, 2000)).body.toString(), 'second');
    assert.equal(srv.connections.length, 2);
    assert.equal(await within(restOnFirst.promise, 2000, 'the end of the first connection'), '', 'b was not written on the closing connection');
    assert.equal(firstRequests.length, 1);
    await conn.close();
    await srv.close();
    await assertNoLeaks(baseline);
  });
});

describe('regressions: reconnection', () => {
  it('down.willRetry is false when no retry will follow (retry: 1, a server that drops every connection)', async (t) => {
    const baseline = resourceSnapshot();
    // The n-th connection is dropped once the client has seen it up (its n-th up event).
    const ups = [deferred(), deferred(), deferred()];
    const srv = await scripted(async (c, index) => {
      await ups[index]?.promise;
      c.destroy();
    });
    const conn = conn1(srv.port, { retry: 1, retryTimeout: 0 });
    t.after(async () => {
      await conn.close();
      await srv.close();
    });
    let upCount = 0;
    conn.on('up', () => ups[upCount++]?.resolve());
    const downs: DownEvent[] = [];
    conn.on('down', (d) => downs.push(d));
    const closed = closeEvent(conn);
    const reason = await within(closed, 3000, "the connection's close event");
    assert.ok(reason !== null && reason.code === 'ERR_CONNECTION_CLOSED');
    assert.deepEqual(downs.map((d) => d.willRetry), [true, false]);
    assert.equal(srv.connections.length, 2, 'exactly one retry');
    await conn.close();
    await srv.close();
    await assertNoLeaks(baseline);
  });
});

describe('regressions: HTTP/1.1 parse errors', () => {
  it('a complete response followed by garbage in the same read is delivered; only the next stream gets the parse error', async (t) => {
    const baseline = resourceSnapshot();
    const srv = await scripted(async (c) => {
      await c.readRequestHead();
      await c.readRequestHead();
      await c.write(`${ok('a')}GARBAGE\r\n\r\n`);
    });
    const conn = conn1(srv.port);
    t.after(async () => {
      await conn.close();
      await srv.close();
    });
    const a = conn.get('/a');
    const b = conn.get('/b');
    assert.equal((await conn.awaitBody(a, 2000)).body.toString(), 'a');
    await assert.rejects(conn.awaitBody(b, 2000), (e: unknown) => isBurrowError(e, 'ERR_HTTP_PARSE') && e.hop?.index === 0 && /GARBAGE/.test(e.message));
    await conn.close();
    await srv.close();
    await assertNoLeaks(baseline);
  });
});

describe('regressions: HTTP/1.1 empty lines between responses', () => {
  it('an empty line a server sends after a body does not fail the idle keep-alive connection: the next request reuses it', async (t) => {
    const baseline = resourceSnapshot();
    const srv = await scripted(async (c) => {
      await c.readRequestHead();
      await c.write(`${ok('a')}\r\n`);
      await c.readRequestHead();
      await c.write(`\n${ok('b')}\r\n\r\n`);
      await c.readRequestHead();
      await c.write(ok('c'));
    });
    const conn = conn1(srv.port);
    const closed = closeEvent(conn);
    t.after(async () => {
      await conn.close();
      await srv.close();
    });
    assert.equal((await conn.awaitBody(conn.get('/a'), 2000)).body.toString(), 'a');
    assert.equal((await conn.awaitBody(conn.get('/b'), 2000)).body.toString(), 'b');
    assert.equal((await conn.awaitBody(conn.get('/c'), 2000)).body.toString(), 'c');
    assert.equal(srv.connections.length, 1);
    await conn.close();
    assert.equal(await closed, null);
    await srv.close();
    await assertNoLeaks(baseline);
  });

  it('an empty line between pipelined responses in one read is skipped', async (t) => {
    const baseline = resourceSnapshot();
    const srv = await scripted(async (c) => {
      await c.readRequestHead();
      await c.readRequestHead();
      await c.write(`${ok('a')}\r\n${ok('b')}`);
    });
    const conn = conn1(srv.port);
    t.after(async () => {
      await conn.close();
      await srv.close();
    });
    const a = conn.get('/a');
    const b = conn.get('/b');
    assert.equal((await conn.awaitBody(a, 2000)).body.toString(), 'a');
    assert.equal((await conn.awaitBody(b, 2000)).body.toString(), 'b');
    await conn.close();
    await srv.close();
    await assertNoLeaks(baseline);
  });
});
