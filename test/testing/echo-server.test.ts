// The raw echo origin: echoes over TCP and TLS, greets first when asked, ends
// on `close`, relays half-close, and close() leaves nothing.
import * as assert from 'node:assert/strict';
import { once } from 'node:events';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { after, afterEach, before, describe, it } from 'node:test';
import { createTestPki, ScriptedConnection, startEchoServer, type StartEchoServerOptions, type TestEchoServer, type TestPki } from '../../src/testing/index.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';

const baseline = resourceSnapshot();
let pki: TestPki;
const clients: net.Socket[] = [];
const servers: TestEchoServer[] = [];

before(() => {
  pki = createTestPki();
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

after(async () => {
  await assertNoLeaks(baseline);
});

async function server(opts: StartEchoServerOptions = {}): Promise<TestEchoServer> {
  const s = await startEchoServer({ pki, ...opts });
  servers.push(s);
  return s;
}

async function dial(s: TestEchoServer): Promise<ScriptedConnection> {
  const socket =
    s.transport === 'tls' ? tls.connect({ host: s.host, port: s.port, ca: pki.ca, servername: 'localhost' }) : net.connect({ host: s.host, port: s.port });
  clients.push(socket);
  socket.setNoDelay(true);
  await once(socket, s.transport === 'tls' ? 'secureConnect' : 'connect');
  return new ScriptedConnection(socket);
}

for (const transport of ['tcp', 'tls'] as const) {
  describe(`echo server over ${transport}`, () => {
    it('describes itself', async () => {
      const s = await server({ transport });
      assert.equal(s.host, '127.0.0.1');
      assert.equal(s.transport, transport);
      assert.equal(s.pki, transport === 'tls' ? pki : undefined);
      assert.equal(s.connections, 0);
    });

    it('echoes every byte, on each connection', async () => {
      const s = await server({ transport });
      const a = await dial(s);
      const b = await dial(s);
      const all = Buffer.alloc(256);
      for (let i = 0; i < 256; i++) all[i] = i;
      await a.write(all);
      await b.write('bee');
      assert.deepEqual(await a.readExactly(256), all);
      assert.equal((await b.readExactly(3)).toString(), 'bee');
      const big = Buffer.alloc(4 * 1024 * 1024, 0x61);
      await a.write(big);
      assert.equal((await a.readExactly(big.length)).length, big.length);
      assert.equal(s.connections, 2);
    });

    it('greets first when asked to', async () => {
      const s = await server({ transport, greeting: 'SSH-2.0-echo\r\n' });
      const c = await dial(s);
      assert.equal((await c.readUntil('\r\n')).toString(), 'SSH-2.0-echo\r\n');
      await c.write('after');
      assert.equal((await c.readExactly(5)).toString(), 'after');
    });

    it('ends the connection after echoing `close`, as a chunk, at the end of one, or split', async () => {
      const s = await server({ transport });
      for (const pieces of [['close'], ['hello close'], ['clo', 'se']]) {
        const c = await dial(s);
        for (const p of pieces) {
          await c.write(p);
          if (p !== pieces.at(-1)) assert.equal((await c.readExactly(p.length)).toString(), p);
        }
        const last = pieces.at(-1) ?? '';
        assert.equal((await c.readToEnd()).toString(), last);
        assert.ok(c.remoteEnded);
      }
    });

    it('does not end on `close` in the middle of a chunk', async () => {
      const s = await server({ transport });
      const c = await dial(s);
      await c.write('closed');
      assert.equal((await c.readExactly(6)).toString(), 'closed');
      await c.write('more');
      assert.equal((await c.readExactly(4)).toString(), 'more');
    });

    it('ends its side after the echo when the client ends', async () => {
      const s = await server({ transport });
      const c = await dial(s);
      await c.write('bye');
      c.end();
      assert.equal((await c.readToEnd()).toString(), 'bye');
      await c.closed;
    });
  });
}

describe('echo server: close()', () => {
  it('destroys open connections and leaks nothing', async () => {
    const snapshot = resourceSnapshot();
    const plain = await startEchoServer();
    const secure = await startEchoServer({ transport: 'tls', pki, greeting: Buffer.from([0]) });
    const conns = [await dial(plain), await dial(plain), await dial(secure)];
    await conns[2]?.readExactly(1);
    await Promise.all([plain.close(), secure.close()]);
    await Promise.all(conns.map((c) => c.closed));
    for (const c of clients.splice(0)) c.destroy();
    await secure.close(); // idempotent
    await assertNoLeaks(snapshot);
  });
});
