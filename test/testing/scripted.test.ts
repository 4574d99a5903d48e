import * as assert from 'node:assert/strict';
import { AssertionError } from 'node:assert';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { createTestPki, startScriptedServer, type ScriptedConnection, type ScriptedServer, type TestPki } from '../../src/testing/index.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';

const baseline = resourceSnapshot();

interface Client {
  socket: net.Socket;
  chunks: Buffer[];
  /** Resolves with everything received once the server ends or the socket closes. */
  done: Promise<Buffer>;
}

function watch(socket: net.Socket): Client {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<Buffer>((resolve) => {
    socket.on('error', () => {});
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('close', () => resolve(Buffer.concat(chunks)));
  });
  return { socket, chunks, done };
}

function connect(server: ScriptedServer, opts: { allowHalfOpen?: boolean } = {}): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: server.host, port: server.port, allowHalfOpen: opts.allowHalfOpen ?? false }, () => resolve(watch(socket)));
    socket.once('error', reject);
  });
}

function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Starts a server whose single script is `script`, and returns a promise of the script's outcome too. */
async function withScript(
  script: (conn: ScriptedConnection) => Promise<void>,
  extra: { transport?: 'tcp' | 'tls'; pki?: TestPki; alpn?: string[] } = {},
): Promise<{ server: ScriptedServer; finished: Promise<void> }> {
  let settle!: { resolve: () => void; reject: (e: unknown) => void };
  const finished = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  const server = await startScriptedServer({
    ...extra,
    onConnection: async (conn) => {
      try {
        await script(conn);
        settle.resolve();
      } catch (e) {
        settle.reject(e);
        throw e;
      }
    },
  });
  return { server, finished };
}

describe('scripted server over tcp', () => {
  const servers: ScriptedServer[] = [];
  const track = (s: ScriptedServer): ScriptedServer => (servers.push(s), s);
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await assertNoLeaks(baseline);
  });

  it('reads a request head arriving in pieces and writes a response byte by byte', async () => {
    const response = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi';
    const { server, finished } = await withScript(async (conn) => {
      const head = await conn.readRequestHead();
      assert.equal(head, 'GET / HTTP/1.1\r\nhost: x\r\n\r\n');
      await conn.writeSlowly(response);
      conn.end();
    });
    track(server);
    const client = await connect(server);
    for (const piece of ['GET / HT', 'TP/1.1\r\nho', 'st: x\r', '\n\r\n']) {
      client.socket.write(piece);
      await tick();
    }
    const got = await client.done;
    await finished;
    assert.equal(got.toString('latin1'), response);
    assert.ok(client.chunks.length > 1, 'slow writes arrive in several reads');
    assert.equal(server.connections.length, 1);
    assert.equal(server.connections[0]?.received.toString('latin1'), 'GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    client.socket.destroy();
  });

  it('readUntil continues after the previous read; readExactly and Buffer markers work', async () => {
    const { server, finished } = await withScript(async (conn) => {
      assert.equal((await conn.readUntil('|')).toString(), 'one|');
      assert.equal((await conn.readUntil('|')).toString(), 'two|');
      assert.equal((await conn.readExactly(3)).toString(), 'thr');
      assert.equal((await conn.readUntil(Buffer.from([0x00, 0xff]))).toString('latin1'), 'ee\x00\xff');
      assert.equal(conn.unread.toString(), 'rest');
      await conn.write(Buffer.from('ok'));
      conn.end();
    });
    track(server);
    const client = await connect(server);
    client.socket.write('one|tw');
    await tick();
    client.socket.write(Buffer.concat([Buffer.from('o|three'), Buffer.from([0x00]), Buffer.from([0xff]), Buffer.from('rest')]));
    assert.equal((await client.done).toString(), 'ok');
    await finished;
  });

  it('readUntil rejects on timeout and when the client ends first', async () => {
    const results: string[] = [];
    const { server, finished } = await withScript(async (conn) => {
      await assert.rejects(conn.readUntil('never', 20), /timed out after 20 ms/);
      await conn.write('go');
      await assert.rejects(conn.readUntil('\r\n\r\n'), /ended before/);
      assert.equal(conn.remoteEnded, true);
      assert.equal(conn.unread.toString(), 'partial');
      results.push('checked');
      // Half-open: the server may still write after the client ended.
      await conn.write('late');
      conn.end();
    });
    track(server);
    const client = await connect(server, { allowHalfOpen: true });
    await new Promise<void>((resolve) => client.socket.once('data', () => resolve()));
    client.socket.end('partial');
    const got = await client.done;
    await finished;
    assert.deepEqual(results, ['checked']);
    assert.equal(got.toString(), 'golate');
    client.socket.destroy();
  });

  it('closed resolves when the client goes away, and a pending read rejects', async () => {
    const { server, finished } = await withScript(async (conn) => {
      await assert.rejects(conn.readUntil('x'), /closed before|ended before/);
      // Sockets are half-open: the server side stays open until the script ends it.
      conn.end();
      await conn.closed;
    });
    track(server);
    const client = await connect(server);
    client.socket.destroy();
    await finished;
  });

  it('keeps errors thrown by the script and destroys the connection', async () => {
    const server = track(
      await startScriptedServer({
        onConnection: async (conn) => {
          await conn.readUntil('\n');
          throw new Error('script failed');
        },
      }),
    );
    const client = await connect(server);
    client.socket.write('boom\n');
    await client.done;
    assert.equal(server.errors.length, 1);
    assert.match(String(server.errors[0]), /script failed/);
  });

  it('close() destroys open connections and leaks nothing', async () => {
    const snapshot = resourceSnapshot();
    const server = await startScriptedServer({ onConnection: () => {} });
    const clients = await Promise.all([connect(server), connect(server), connect(server)]);
    await new Promise<void>((resolve, reject) => {
      const check = (n: number): void => {
        if (server.connections.length === 3) resolve();
        else if (n > 1000) reject(new Error('connections not accepted'));
        else setImmediate(() => check(n + 1));
      };
      check(0);
    });
    await server.close();
    await Promise.all(clients.map((c) => c.done));
    await Promise.all(server.connections.map((c) => c.closed));
    await server.close();
    await assertNoLeaks(snapshot);
  });
});

describe('scripted server over tls', () => {
  let pki: TestPki;
  const servers: ScriptedServer[] = [];
  before(() => {
    pki = createTestPki();
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await assertNoLeaks(baseline);
  });

  it('negotiates ALPN, verifies against pki.ca and exchanges exact bytes', async () => {
    const { server, finished } = await withScript(
      async (conn) => {
        assert.equal(conn.alpn, 'h2');
        assert.equal((await conn.readUntil('PING')).toString(), 'PING');
        await conn.writeSlowly('PONG', 2);
        conn.end();
      },
      { transport: 'tls', pki, alpn: ['h2', 'http/1.1'] },
    );
    servers.push(server);
    const socket = tls.connect({ host: server.host, port: server.port, ca: pki.ca, servername: 'localhost', ALPNProtocols: ['h2'] });
    const client = watch(socket);
    await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
    assert.equal(socket.authorized, true);
    assert.equal(socket.alpnProtocol, 'h2');
    socket.write('PING');
    assert.equal((await client.done).toString(), 'PONG');
    await finished;
    socket.destroy();
  });

  it('half-open works over TLS too', async () => {
    const { server, finished } = await withScript(
      async (conn) => {
        assert.equal((await conn.readToEnd()).toString(), 'request');
        await conn.write('response');
        conn.end();
      },
      { transport: 'tls', pki },
    );
    servers.push(server);
    // (allowHalfOpen is honoured by tls.connect but missing from its option type.)
    const options: tls.ConnectionOptions & { allowHalfOpen: boolean } = { host: server.host, port: server.port, ca: pki.ca, servername: 'localhost', allowHalfOpen: true };
    const socket = tls.connect(options);
    const client = watch(socket);
    await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
    socket.end('request');
    assert.equal((await client.done).toString(), 'response');
    await finished;
    socket.destroy();
  });
});

describe('assertNoLeaks', () => {
  it('reports a listening server, an open socket and a pending timer, per type', async () => {
    const snapshot = resourceSnapshot();
    const server = await startScriptedServer({ onConnection: () => {} });
    const client = await connect(server);
    const timer = setTimeout(() => {}, 60_000);
    try {
      await assert.rejects(assertNoLeaks(snapshot), (e: unknown) => {
        assert.ok(e instanceof AssertionError);
        assert.match(e.message, /TCPServerWrap x1/);
        assert.match(e.message, /TCPSocketWrap x2/);
        assert.match(e.message, /Timeout x1/);
        return true;
      });
    } finally {
      clearTimeout(timer);
      client.socket.destroy();
      await server.close();
    }
    await assertNoLeaks(snapshot);
  });
});
