// Regressions of what a layer's record reports: the tunnel bytes that came with a CONNECT's 2xx counted on
// the tunnel and on the layer inside it.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { open, type Connection, type LayerInfo, type StreamRef } from '../../src/index.js';
import { startEchoServer, type TestEchoServer } from '../../src/testing/echo-server.js';
import { startScriptedServer } from '../../src/testing/scripted.js';
import { startConnectProxy } from '../../src/testing/connect-proxy.js';
import { startH2ConnectProxy } from '../../src/testing/h2-proxy.js';
import { EventLog } from './event-log.js';

async function untilUp(conn: Connection, ref: StreamRef): Promise<void> {
  for (;;) {
    const m = await conn.await(ref, 3000);
    if (m.type === 'error') throw m.error;
    if (m.type === 'up' && m.protocol !== 'socks') return;
  }
}

/** Reads `n` bytes of a raw tunnel. */
async function readBytes(conn: Connection, ref: StreamRef, n: number): Promise<string> {
  let got = '';
  while (got.length < n) {
    const m = await conn.await(ref, 3000);
    if (m.type === 'error') throw m.error;
    if (m.type === 'data') got += m.data.toString('latin1');
  }
  return got;
}

describe('layer records: the tunnel bytes that came with the 2xx', () => {
  let echo: TestEchoServer;
  before(async () => {
    echo = await startEchoServer();
  });
  after(() => echo.close());

  it('HTTP/1.1 CONNECT: counted on the CONNECT layer and on the layer inside (5 early + 6 later = 11 in)', async () => {
    // One write: the 2xx and the first tunnel bytes arrive in the same read.
    const srv = await startScriptedServer({
      onConnection: async (c) => {
        await c.readRequestHead();
        await c.write('HTTP/1.1 200 OK\r\n\r\nEARLY');
        await c.readUntil('x');
        await c.write('LATE!!');
        await c.readToEnd();
      },
    });
    const conn = open({ host: '127.0.0.1', port: srv.port, protocols: ['http'], retry: 0 });
    try {
      const t = conn.connect({ host: 'target.test', port: 1, protocols: ['raw'] });
      await untilUp(conn, t);
      assert.equal(await readBytes(conn, t, 5), 'EARLY');
      await conn.data(t, false, 'x');
      assert.equal(await readBytes(conn, t, 6), 'LATE!!');
      const layers = conn.streamInfo(t)?.layers ?? assert.fail('no layers');
      const connect = layers.find((l) => l.kind === 'http1-connect') ?? assert.fail();
      const raw = layers.find((l) => l.kind === 'raw') ?? assert.fail();
      assert.equal(connect.connect?.earlyBytes, 5);
      assert.deepEqual([connect.bytesIn, connect.bytesOut], [11, 1]);
      assert.deepEqual([raw.bytesIn, raw.bytesOut], [11, 1]);
    } finally {
      await conn.close();
      await srv.close();
    }
  });

  for (const [kind, start] of [
    ['HTTP/1.1', () => startConnectProxy({ behavior: { extraBytes: 'EARLY' } })],
    ['HTTP/2', () => startH2ConnectProxy({ behavior: { extraBytes: 'EARLY' } })],
  ] as const) {
    it(`${kind} CONNECT to an echo server: the CONNECT layer and the raw layer inside read the same 11 bytes`, async () => {
      const proxy = await start();
      const log = new EventLog();
      const conn = open({ host: '127.0.0.1', port: proxy.port, protocols: [kind === 'HTTP/2' ? 'http2' : 'http'], retry: 0 });
      let downs: LayerInfo[] = [];
      try {
        const t = conn.connect({ host: '127.0.0.1', port: echo.port, protocols: ['raw'] });
        await untilUp(conn, t);
        await conn.data(t, false, 'LATE!!');
        assert.equal(await readBytes(conn, t, 11), 'EARLYLATE!!');
        const layers = conn.streamInfo(t)?.layers ?? assert.fail('no layers');
        const connect = layers.find((l) => l.kind.endsWith('-connect')) ?? assert.fail();
        const raw = layers.find((l) => l.kind === 'raw') ?? assert.fail();
        assert.deepEqual([connect.bytesIn, connect.bytesOut, raw.bytesIn, raw.bytesOut], [11, 6, 11, 6]);
      } finally {
        await conn.close();
        log.stop();
        downs = log.on(conn.id, 'burrow:layer:down').map((e) => e.layer);
        await proxy.close();
      }
      const raw = downs.find((l) => l.kind === 'raw');
      assert.deepEqual([raw?.bytesIn, raw?.bytesOut], [11, 6], 'final counts on layer:down');
    });
  }
});
