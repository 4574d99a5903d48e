// The connection core over HTTP/1.1: byte-exact fake servers for wire details,
// the in-repo origin for whole exchanges.
import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { open, isBurrowError, type StreamMessage, type Connection } from '../../src/index.js';
import { startScriptedServer, type ScriptedConnection, type ScriptedServer } from '../../src/testing/scripted.js';
import { startOrigin, type TestOrigin } from '../../src/testing/origin.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';

type Script = (c: ScriptedConnection) => Promise<void>;

async function scripted(script: Script): Promise<ScriptedServer> {
  return startScriptedServer({ onConnection: script });
}

function conn1(port: number, extra: Record<string, unknown> = {}): Connection {
  return open({ host: '127.0.0.1', port, protocols: ['http'], retry: 0, ...extra });
}

async function collect(conn: Connection, ref: ReturnType<Connection['get']>): Promise<StreamMessage[]> {
  const out: StreamMessage[] = [];
  for await (const m of conn.messages(ref)) out.push(m);
  return out;
}

describe('HTTP/1.1 connection: wire format', () => {
  it('writes the exact request head for a GET, with host first and the default port omitted from nothing', async () => {
    let head = '';
    const srv = await scripted(async (c) => {
      head = (await c.readRequestHead()).toString();
      await c.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    });
    const conn = conn1(srv.port);
    const ref = conn.get('/path?q=1', { accept: 'text/plain', 'x-multi': ['a', 'b'] });
    const { body } = await conn.awaitBody(ref);
    assert.equal(body.toString(), 'ok');
    assert.equal(head, `GET /path?q=1 HTTP/1.1\r\nhost: 127.0.0.1:${srv.port}\r\naccept: text/plain\r\nx-multi: a\r\nx-multi: b\r\n\r\n`);
    await conn.close();
    await srv.close();
  });

  it('sends content-length for a whole body and chunked for a streamed one', async () => {
    const heads: string[] = [];
    let chunked = '';
    const srv = await scripted(async (c) => {
      heads.push((await c.readRequestHead()).toString());
      heads.push((await c.readUntil('hello')).toString());
      await c.write('HTTP/1.1 204 No Content\r\n\r\n');
      heads.push((await c.readRequestHead()).toString());
      chunked = (await c.readUntil('0\r\n\r\n')).toString();
      await c.write('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n');
    });
    const conn = conn1(srv.port);
    const a = conn.post('/a', { 'content-type': 'text/plain' }, 'hello');
    const b = conn.post('/b', {});
    await conn.data(b, false, 'abc');
    await conn.data(b, true, Buffer.from('de'));
    assert.deepEqual((await conn.await(a)).type, 'response');
    const rb = await conn.await(b);
    assert.equal(rb.type, 'response');
    assert.equal(heads[0], `POST /a HTTP/1.1\r\nhost: 127.0.0.1:${srv.port}\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\n`);
    assert.equal(heads[2], `POST /b HTTP/1.1\r\nhost: 127.0.0.1:${srv.port}\r\ntransfer-encoding: chunked\r\n\r\n`);
    assert.equal(chunked, '3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n');
    await conn.close();
    await srv.close();
  });

  it('uses a user-given host header and brackets nothing it was not asked to', async () => {
    let head = '';
    const srv = await scripted(async (c) => {
      head = (await c.readRequestHead()).toString();
      await c.write('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n');
    });
    const conn = conn1(srv.port);
    const ref = conn.get('/', { host: 'example.test' });
    await conn.awaitBody(ref);
    assert.match(head, /^GET \/ HTTP\/1\.1\r\nhost: example\.test\r\n\r\n$/);
    await conn.close();
    await srv.close();
  });

  it('rejects CR, LF or NUL in header names, values, method and path before anything is written', async () => {
    const srv = await scripted(async () => undefined);
    const conn = conn1(srv.port);
    const bad: Array<() => unknown> = [
      () => conn.get('/', { 'x-a': 'v\r\nx-injected: 1' }),
      () => conn.get('/', { 'x-a': 'v\nx' }),
      () => conn.get('/', { 'x-a': 'v\0' }),
      () => conn.get('/', { 'x-a\r\nb': 'v' }),
      () => conn.get('/', [['bad name', 'v']]),
      () => conn.get('/a b'),
      () => conn.get('/\r\n'),
      () => conn.request('GET\r\n', '/', {}, null),
      () => conn.get(''),
    ];
    for (const f of bad) {
      assert.throws(f, (e: unknown) => isBurrowError(e) && (e.code === 'ERR_INVALID_HEADER' || e.code === 'ERR_INVALID_REQUEST'));
    }
    await conn.awaitUp();
    await conn.close();
    // Nothing reached the server.
    assert.equal(srv.connections[0]?.received.length ?? 0, 0);
    await srv.close();
  });

  it('matches pipelined responses to requests in order, including when they arrive in one write', async () => {
    const srv = await scripted(async (c) => {
      await c.readUntil('/3 HTTP/1.1\r\n');
      await c.readUntil('\r\n\r\n');
      await c.write(
        'HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n1' +
          'HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n1\r\n2\r\n0\r\n\r\n' +
          'HTTP/1.1 202 Accepted\r\ncontent-length: 1\r\n\r\n3',
      );
    });
    const conn = conn1(srv.port);
    const refs = [conn.get('/1'), conn.get('/2'), conn.get('/3')];
    const results = await Promise.all(refs.map(async (r) => {
      const res = await conn.await(r);
      const { body } = await conn.awaitBody(r);
      return [res.type === 'response' ? res.status : 0, body.toString()];
    }));
    assert.deepEqual(results, [[200, '1'], [201, '2'], [202, '3']]);
    await conn.close();
    await srv.close();
  });

  it('delivers 1xx as inform before the response, and trailers last', async () => {
    const srv = await scripted(async (c) => {
      await c.readRequestHead();
      await c.write('HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\nx-sum: 42\r\n\r\n');
    });
    const conn = conn1(srv.port);
    const ref = conn.get('/');
    const msgs = await collect(conn, ref);
    assert.deepEqual(msgs.map((m) => m.type), ['inform', 'response', 'data', 'trailers']);
    const inform = msgs[0];
    assert.ok(inform?.type === 'inform' && inform.status === 103);
    assert.deepEqual(inform.headers, [['link', '</a.css>']]);
    const t = msgs[3];
    assert.ok(t?.type === 'trailers');
    assert.deepEqual(t.headers, [['x-sum', '42']]);
    await conn.close();
    await srv.close();
  });

  it('HEAD, 204 and 304 responses have no body even with a content-length', async () => {
    const srv = await scripted(async (c) => {
      await c.readRequestHead();
      await c.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n');
      await c.readRequestHead();
      await c.write('HTTP/1.1 204 No Content\r\n\r\n');
      await c.readRequestHead();
      await c.write('HTTP/1.1 304 Not Modified\r\ncontent-length: 10\r\n\r\n');
      await c.readRequestHead();
      await c.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    });
    const conn = conn1(srv.port);
    for (const [ref, status] of [[conn.head('/'), 200], [conn.get('/'), 204], [conn.get('/'), 304]] as const) {
      const m = await conn.await(ref);
      assert.ok(m.type === 'response' && m.fin === true && m.status === status, `fin response ${status}`);
    }
    assert.equal((await conn.awaitBody(conn.get('/'))).body.toString(), 'ok');
    await conn.close();
    await srv.close();
  });

  it('reads a close-delimited HTTP/1.0 body, then reconnects for the next request', async () => {
    const srv = await scripted(async (c) => {
      await c.readRequestHead();
      await c.write('HTTP/1.0 200 OK\r\n\r\nuntil close');
      c.end();
    });
    const conn = open({ host: '127.0.0.1', port: srv.port, protocols: ['http'], retry: 1, retryTimeout: 0 });
    const downSeen = new Promise<unknown>((resolve) => conn.once('down', resolve));
    const ref = conn.get('/');
    const res = await conn.await(ref);
    assert.ok(res.type === 'response' && res.version === '1.0');
    assert.equal((await conn.awaitBody(ref)).body.toString(), 'until close');
    assert.ok(await downSeen);
    await conn.awaitUp();
    assert.equal(srv.connections.length, 2);
    await conn.close();
    await srv.close();
  });

  it('fails pipelined requests behind a connection: close response with a not-processed error', async () => {
    const srv = await scripted(async (c) => {
      await c.readUntil('/2 HTTP/1.1');
      await c.readUntil('\r\n\r\n');
      await c.write('HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok');
      c.end();
    });
    const conn = conn1(srv.port);
    const a = conn.get('/1');
    const b = conn.get('/2');
    assert.equal((await conn.awaitBody(a)).body.toString(), 'ok');
    const mb = await conn.await(b);
    assert.ok(mb.type === 'error' && mb.error.code === 'ERR_CONNECTION_CLOSED');
    assert.match(mb.error.message, /not processed/);
    await conn.close();
    await srv.close();
  });

  it('turns a 101 into an upgrade message and keeps the bytes after it', async () => {
    const srv = await scripted(async (c) => {
      await c.readRequestHead();
      await c.write('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\nfirst-bytes');
      const got = await c.readUntil('ping');
      await c.write(`pong:${got.toString()}`);
    });
    const conn = conn1(srv.port);
    const ref = conn.get('/', { connection: 'upgrade', upgrade: 'echo' });
    const up = await conn.await(ref);
    assert.ok(up.type === 'upgrade');
    assert.deepEqual(up.protocols, ['echo']);
    const first = await conn.await(ref);
    assert.ok(first.type === 'data' && first.data.toString() === 'first-bytes');
    await conn.data(ref, false, 'ping');
    const reply = await conn.await(ref);
    assert.ok(reply.type === 'data' && reply.data.toString() === 'pong:ping');
    await conn.close();
    await srv.close();
  });

  it('an upgraded stream half-closes: after the peer ends its side, what the client sends still arrives', async () => {
    let received = '';
    let resolveGot: () => void = () => undefined;
    const got = new Promise<void>((resolve) => {
      resolveGot = resolve;
    });
    const srv = await scripted(async (c) => {
      await c.readRequestHead();
      await c.write('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\nbye');
      c.socket.end();
      try {
        received = (await c.readUntil('last-words', 2000)).toString();
      } finally {
        resolveGot();
      }
    });
    const conn = conn1(srv.port);
    const ref = conn.get('/', { connection: 'upgrade', upgrade: 'echo' });
    assert.equal((await conn.await(ref)).type, 'upgrade');
    let text = '';
    for (;;) {
      const m = await conn.await(ref);
      assert.equal(m.type, 'data');
      if (m.type === 'data') text += m.data.toString();
      if (m.type === 'data' && m.fin) break;
    }
    assert.equal(text, 'bye');
    await conn.data(ref, true, 'last-words');
    await got;
    assert.match(received, /last-words$/);
    await conn.close();
    await srv.close();
  });

  it('reports an unexpected 101 as a typed error naming the hop', async () => {
    const srv = await scripted(async (c) => {
      await c.readRequestHead();
      await c.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\n\r\n');
    });
    const conn = conn1(srv.port);
    const m = await conn.await(conn.get('/'));
    assert.ok(m.type === 'error');
    assert.equal(m.error.code, 'ERR_UNEXPECTED_101');
    assert.equal(m.error.hop?.port, srv.port);
    assert.equal(m.error.stage, 'http');
    await conn.close();
    await srv.close();
  });

  it('enforces the header block limit with a clear error', async () => {
    const srv = await scripted(async (c) => {
      await c.readRequestHead();
      await c.write(`HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(2000)}\r\n\r\n`);
    });
    const conn = conn1(srv.port, { http: { maxHeaderBlockSize: 1024 } });
    const m = await conn.await(conn.get('/'));
    assert.ok(m.type === 'error' && m.error.code === 'ERR_HEADER_BLOCK_TOO_LARGE');
    await conn.close();
    await srv.close();
  });

  it('rejects conflicting content-lengths', async () => {
    const srv = await scripted(async (c) => {
      await c.readRequestHead();
      await c.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nabc');
    });
    const conn = conn1(srv.port);
    const m = await conn.await(conn.get('/'));
    assert.ok(m.type === 'error' && m.error.code === 'ERR_CONFLICTING_CONTENT_LENGTH');
    await conn.close();
    await srv.close();
  });

  it('reports a response cut short by the server', async () => {
    const srv = await scripted(async (c) => {
      await c.readRequestHead();
      await c.write('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc');
      c.end();
    });
    const conn = conn1(srv.port);
    const ref = conn.get('/');
    await assert.rejects(conn.awaitBody(ref), (e: unknown) => isBurrowError(e) && (e.code === 'ERR_HTTP_PARSE' || e.code === 'ERR_CONNECTION_CLOSED'));
    await conn.close();
    await srv.close();
  });

  it('fails a streamed body longer than its content-length and closes the connection', async () => {
    const srv = await scripted(async (c) => {
      await c.readRequestHead();
    });
    const conn = conn1(srv.port);
    const ref = conn.post('/', { 'content-length': 3 });
    await conn.data(ref, false, 'abcd');
    const m = await conn.await(ref);
    assert.ok(m.type === 'error' && m.error.code === 'ERR_BODY_LENGTH');
    await conn.close();
    await srv.close();
  });

  it('keeps the second request until the first streamed body ends, so bodies never interleave', async () => {
    let all = '';
    const srv = await scripted(async (c) => {
      all = (await c.readUntil('GET /second HTTP/1.1\r\n')).toString();
      await c.readUntil('\r\n\r\n');
      await c.write('HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n1HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n2');
    });
    const conn = conn1(srv.port);
    const first = conn.post('/first', {});
    await conn.awaitUp();
    await conn.data(first, false, 'part');
    const second = conn.get('/second');
    await conn.data(first, true, 'end');
    assert.equal((await conn.awaitBody(first)).body.toString(), '1');
    assert.equal((await conn.awaitBody(second)).body.toString(), '2');
    assert.match(all, /4\r\npart\r\n3\r\nend\r\n0\r\n\r\nGET \/second HTTP\/1\.1\r\n$/);
    await conn.close();
    await srv.close();
  });
});

describe('HTTP/1.1 connection: API behaviour', () => {
  let origin: TestOrigin;
  before(async () => {
    origin = await startOrigin({ protocol: 'http', transport: 'tcp' });
  });
  after(async () => {
    await origin.close();
  });

  it('queues requests made before the connection is up and sends them once it is', async () => {
    const conn = conn1(origin.port);
    const ref = conn.get('/');
    assert.equal(conn.streamInfo(ref)?.state, 'pending');
    assert.equal(conn.hasStream(ref), true);
    assert.equal((await conn.awaitBody(ref)).body.toString(), 'hello');
    await conn.close();
  });

  it('delivers the same messages through await, events and replyTo', async () => {
    const conn = conn1(origin.port);
    const seen: string[] = [];
    const viaReply: string[] = [];
    conn.on('message', (m) => seen.push(m.type));
    const done = new Promise<void>((resolve) => {
      conn.get('/chunked', {}, {
        replyTo: (m) => {
          viaReply.push(m.type);
          if ((m.type === 'data' && m.fin) || m.type === 'error') resolve();
        },
      });
    });
    await done;
    assert.ok(viaReply[0] === 'response' && viaReply.at(-1) === 'data');
    assert.deepEqual(seen, viaReply);
    await conn.close();
  });

  it('awaitBody returns trailers', async () => {
    const conn = conn1(origin.port);
    const r = await conn.awaitBody(conn.get('/trailers'));
    assert.equal(r.body.toString(), 'body');
    assert.deepEqual(r.trailers, [['x-checksum', 'abc']]);
    await conn.close();
  });

  it('await times out with ERR_AWAIT_TIMEOUT and the stream goes on', async () => {
    const conn = conn1(origin.port);
    const ref = conn.get('/delay/200');
    await assert.rejects(conn.await(ref, 20), (e: unknown) => isBurrowError(e, 'ERR_AWAIT_TIMEOUT'));
    const m = await conn.await(ref, 5000);
    assert.equal(m.type, 'response');
    await conn.close();
  });

  it('cancel ends the stream with ERR_STREAM_CANCELED and keeps the connection usable', async () => {
    const conn = conn1(origin.port);
    const slow = conn.get('/delay/50');
    conn.cancel(slow);
    const m = await conn.await(slow);
    assert.ok(m.type === 'error' && m.error.code === 'ERR_STREAM_CANCELED');
    assert.equal((await conn.awaitBody(conn.get('/'))).body.toString(), 'hello');
    await conn.close();
  });

  it('flow control stops delivery after the budget and resumes with updateFlow', async () => {
    const conn = conn1(origin.port);
    const ref = conn.get('/slow-body/6', {}, { flow: 1 });
    const res = await conn.await(ref);
    assert.equal(res.type, 'response');
    const first = await conn.await(ref);
    assert.equal(first.type, 'data');
    // No more data is delivered until the budget grows.
    await assert.rejects(conn.await(ref, 100), (e: unknown) => isBurrowError(e, 'ERR_AWAIT_TIMEOUT'));
    conn.updateFlow(ref, 100);
    const { body } = await conn.awaitBody(ref);
    assert.ok(body.length > 0);
    await conn.close();
  });

  it('ping on HTTP/1.1 is a clear error and the connection stays up', async () => {
    const conn = conn1(origin.port);
    await conn.awaitUp();
    await assert.rejects(conn.ping(), (e: unknown) => isBurrowError(e, 'ERR_PING_UNSUPPORTED'));
    assert.equal(conn.state, 'up');
    assert.equal((await conn.awaitBody(conn.get('/'))).body.toString(), 'hello');
    await conn.close();
  });

  it('shutdown finishes every in-flight response, refuses new requests and does not reconnect', async () => {
    const conn = open({ host: '127.0.0.1', port: origin.port, protocols: ['http'] });
    const a = conn.get('/delay/30');
    const b = conn.get('/');
    await conn.awaitUp();
    const closed = conn.shutdown();
    const c = conn.get('/');
    assert.equal((await conn.awaitBody(a)).body.toString(), 'delayed');
    assert.equal((await conn.awaitBody(b)).body.toString(), 'hello');
    const mc = await conn.await(c);
    assert.ok(mc.type === 'error' && mc.error.code === 'ERR_CLOSING');
    await closed;
    assert.equal(conn.state, 'closed');
  });

  it('close() fails open streams with ERR_CLOSED and leaves no socket or timer behind', async () => {
    const baseline = resourceSnapshot();
    const conn = conn1(origin.port, { http: { keepalive: 1000 } });
    const ref = conn.get('/never');
    await conn.awaitUp();
    await conn.close();
    const m = await conn.await(ref);
    assert.ok(m.type === 'error' && m.error.code === 'ERR_CLOSED');
    await assertNoLeaks(baseline);
  });

  it('info() and streamInfo() describe the connection and its streams', async () => {
    const conn = conn1(origin.port);
    const ref = conn.get('/delay/30');
    await conn.awaitUp();
    const info = conn.info();
    assert.equal(info.protocol, 'http');
    assert.equal(info.state, 'up');
    assert.deepEqual(info.origin, { scheme: 'http', host: '127.0.0.1', port: origin.port });
    assert.deepEqual(info.intermediaries, []);
    assert.equal(info.remotePort, origin.port);
    assert.equal(conn.streamInfo(ref)?.state, 'running');
    assert.equal(conn.hasStream(ref), true);
    await conn.awaitBody(ref);
    assert.equal(conn.streamInfo(ref), undefined);
    assert.equal(conn.hasStream(ref), false);
    await conn.close();
  });
});
