// Regressions of the WebSocket layer, against the `ws` package's server.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket as WsPeer } from 'ws';
import { open, type StreamMessage } from '../../src/index.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';
import { startH2ConnectProxy } from '../../src/testing/h2-proxy.js';
import { startH2Server, within } from './util.js';

/** A ws server on loopback (permessage-deflate accepted) that records what each connection receives. */
async function wsServer(): Promise<{ port: number; received: Promise<Array<{ kind: string; size: number }>>; close(): Promise<void> }> {
  const server = http.createServer();
  const wss = new WebSocketServer({ server, perMessageDeflate: true });
  const peers = new Set<WsPeer>();
  const received = new Promise<Array<{ kind: string; size: number }>>((resolve) => {
    wss.on('connection', (ws) => {
      peers.add(ws);
      const log: Array<{ kind: string; size: number }> = [];
      ws.on('message', (data, isBinary) => log.push({ kind: isBinary ? 'binary' : 'text', size: (data as Buffer).length }));
      ws.on('close', (code) => {
        log.push({ kind: 'close', size: code });
        peers.delete(ws);
        resolve(log);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    received,
    close: () => new Promise<void>((resolve) => {
      for (const p of peers) p.terminate();
      wss.close();
      server.close(() => resolve());
    }),
  };
}

describe('regressions: WebSocket', () => {
  it('frames sent while a message is being compressed go out after it, in the order of the sends (small messages, pings and the close do not overtake)', async () => {
    const baseline = resourceSnapshot();
    const server = await wsServer();
    const conn = open({ host: '127.0.0.1', port: server.port, retry: 0 });
    try {
      const ref = conn.wsUpgrade('/', {}, { compress: true });
      const up = await within(conn.await(ref, 10_000), 5000, 'the upgrade');
      assert.equal(up.type, 'upgrade');
      // Compressed (≥ 1024 bytes), not compressed (< 1024), compressed, then a ping and the close.
      const sends = [
        conn.wsSend(ref, { type: 'binary', data: Buffer.alloc(4 << 20, 'a') }),
        conn.wsSend(ref, { type: 'text', data: 'small' }),
        conn.wsSend(ref, [{ type: 'binary', data: Buffer.alloc(70_000, 'b') }, { type: 'text', data: 'tiny' }, { type: 'ping' }]),
        conn.wsSend(ref, { type: 'close', code: 1000 }),
      ];
      await within(Promise.all(sends), 5000, 'the sends');
      const last: StreamMessage = await within(conn.await(ref, 10_000), 5000, "the server's close");
      assert.deepEqual(last.type === 'ws' ? last.frame : last, { type: 'close', code: 1000, reason: '' });
      assert.deepEqual(await within(server.received, 5000, 'what the server received'), [
        { kind: 'binary', size: 4 << 20 },
        { kind: 'text', size: 5 },
        { kind: 'binary', size: 70_000 },
        { kind: 'text', size: 4 },
        { kind: 'close', size: 1000 },
      ]);
    } finally {
      await conn.close();
      await server.close();
    }
    await assertNoLeaks(baseline);
  });

  it('RFC 8441 inside an HTTP/2 CONNECT tunnel: the frame the server sends with its 200 is not lost', async () => {
    const baseline = resourceSnapshot();
    // An RFC 8441 origin (h2c) that speaks first: a text frame "hello" right after its 200, then answers a close.
    const origin = await startH2Server((stream, headers) => {
      if (headers[':method'] !== 'CONNECT' || headers[':protocol'] !== 'websocket') {
        stream.respond({ ':status': 400 }, { endStream: true });
        return;
      }
      stream.respond({ ':status': 200 });
      stream.write(Buffer.from([0x81, 5, ...Buffer.from('hello')]));
      stream.on('data', (b: Buffer) => {
        if (((b[0] ?? 0) & 0x0f) === 8) stream.end(Buffer.from([0x88, 2, 0x03, 0xe8]));
      });
    }, { enableConnectProtocol: true });
    const proxy = await startH2ConnectProxy({ transport: 'tcp' });
    const conn = open({ host: '127.0.0.1', port: proxy.port, protocols: ['http2'], retry: 0 });
    try {
      const tunnel = conn.connect({ host: '127.0.0.1', port: origin.port, protocols: ['http2'] });
      for (;;) {
        const m = await within(conn.await(tunnel, 10_000), 5000, 'the tunnel');
        if (m.type === 'up') break;
        assert.equal(m.type, 'response');
      }
      const ref = conn.wsUpgrade('/', {}, { tunnel });
      assert.equal((await within(conn.await(ref, 10_000), 5000, 'the upgrade')).type, 'upgrade');
      const first = await within(conn.await(ref, 10_000), 5000, 'the first frame');
      assert.deepEqual(first.type === 'ws' ? first.frame : first, { type: 'text', data: 'hello' });
      await conn.wsSend(ref, { type: 'close', code: 1000 });
      const last = await within(conn.await(ref, 10_000), 5000, "the server's close");
      assert.deepEqual(last.type === 'ws' ? last.frame : last, { type: 'close', code: 1000, reason: '' });
    } finally {
      await conn.close();
      await proxy.close();
      await origin.close();
    }
    await assertNoLeaks(baseline);
  });
});
