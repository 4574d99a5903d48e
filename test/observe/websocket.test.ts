// What a WebSocket publishes: its layer (start when the handshake is sent, up with what it settled,
// down with its bytes), the stream's start, upgrade, frames received and sent, and end.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { open, type EventHandler, type LayerInfo } from '../../src/index.js';
import { startWsOrigin, type WsOrigin } from '../helpers/ws-origin.js';

let origin: WsOrigin;
before(async () => {
  origin = await startWsOrigin({ deflate: true });
});
after(async () => {
  await origin.close();
});

describe('WebSocket events', () => {
  it('layer start/up/down and stream start, upgrade, ws:sent, ws:received, end, in order', async () => {
    const log: string[] = [];
    let up: LayerInfo | undefined;
    let down: LayerInfo | undefined;
    const events: EventHandler = {
      layerStart: (e) => log.push(`layer:start ${e.layer.kind}`),
      layerUp: (e) => {
        log.push(`layer:up ${e.layer.kind}`);
        if (e.layer.kind === 'websocket') up = e.layer;
      },
      layerDown: (e) => {
        log.push(`layer:down ${e.layer.kind}`);
        if (e.layer.kind === 'websocket') down = e.layer;
      },
      streamStart: (e) => log.push(`stream:start ${e.method} ${e.target}`),
      streamHeadersSent: (e) => log.push(`stream:headers-sent ${e.protocol}`),
      streamUpgrade: (e) => log.push(`stream:upgrade ${e.protocols.join()}`),
      wsSent: (e) => log.push(`ws:sent ${e.type} ${e.bytes}${e.code !== undefined ? ` ${e.code}` : ''}`),
      wsReceived: (e) => log.push(`ws:received ${e.type} ${e.bytes}${e.code !== undefined ? ` ${e.code}` : ''}`),
      streamEnd: () => log.push('stream:end'),
      streamError: (e) => log.push(`stream:error ${e.error.code}`),
    };
    const conn = open({ host: '127.0.0.1', port: origin.port, protocols: ['http'], retry: 0, events });
    const ref = conn.wsUpgrade('/events', {}, { compress: true, protocols: ['p'] });
    await conn.wsSend(ref, { type: 'text', data: 'héllo' });
    for (;;) {
      const m = await conn.await(ref, 5000);
      if (m.type === 'ws') break;
    }
    await conn.wsSend(ref, { type: 'close', code: 1000, reason: 'ok' });
    await conn.await(ref, 5000);
    await new Promise<void>((resolve) => conn.once('close', () => resolve()));
    assert.deepEqual(log, [
      'layer:start tcp',
      'stream:start GET /events',
      'layer:up tcp',
      'layer:start http1',
      'layer:up http1',
      'layer:start websocket',
      'stream:headers-sent http1',
      'layer:down http1',
      'layer:up websocket',
      'stream:upgrade websocket',
      'ws:sent text 6',
      'ws:received text 6',
      'ws:sent close 4 1000',
      'ws:received close 4 1000',
      'stream:end',
      'layer:down websocket',
      'layer:down tcp',
    ]);
    assert.deepEqual({ ...up?.websocket }, { path: '/events', via: 'http1-upgrade', status: 101, protocol: 'p', extensions: 'permessage-deflate' });
    assert.ok((down?.bytesOut ?? 0) > 0 && (down?.bytesIn ?? 0) > 0);
  });

  it('stream:headers-sent carries the handshake as sent: the caller\'s headers (credentials masked) and the sec-websocket-* ones', async () => {
    let sent: readonly (readonly [string, string])[] = [];
    const conn = open({ host: '127.0.0.1', port: origin.port, protocols: ['http'], retry: 0, events: { streamHeadersSent: (e) => (sent = e.headers) } });
    const ref = conn.wsUpgrade('/h', { authorization: 'Bearer s3cret', 'x-mine': '1' }, { compress: true, protocols: ['p'] });
    for (;;) if ((await conn.await(ref, 5000)).type === 'upgrade') break;
    conn.close();
    const names = sent.map(([n]) => n);
    assert.deepEqual(sent.slice(0, 2), [['authorization', 'Bearer ***'], ['x-mine', '1']]);
    for (const n of ['upgrade', 'connection', 'sec-websocket-version', 'sec-websocket-key', 'sec-websocket-protocol', 'sec-websocket-extensions']) assert.ok(names.includes(n), n);
    assert.ok(!JSON.stringify(sent).includes('s3cret'));
  });
});
