// The WebSocket layer over a duplex of the test's own: what it writes (masked frames, in order,
// compressed or not), flow control holding the transport, pings answered, the close handshake
// and its timeout, and the errors of a broken peer.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { WebSocketLayer } from '../../../src/protocols/websocket/layer.js';
import { PerMessageDeflate } from '../../../src/protocols/websocket/deflate.js';
import { resolveWsOptions } from '../../../src/shared/options/ws.js';
import { StreamRef } from '../../../src/shared/stream-ref.js';
import type { LayerSink } from '../../../src/shared/layer.js';
import type { StreamMessage } from '../../../src/shared/messages.js';
import type { BurrowError } from '../../../src/errors/errors.js';

const hop = { index: 0, kind: 'origin' as const, host: '127.0.0.1', port: 1, transport: 'tcp' as const };

/** A server frame (unmasked). */
function serverFrame(opcode: number, payload: Buffer | string, opts: { fin?: boolean; rsv1?: boolean } = {}): Buffer {
  const p = Buffer.from(payload);
  const head = p.length < 126 ? Buffer.from([0, p.length]) : Buffer.from([0, 126, p.length >> 8, p.length & 0xff]);
  head[0] = ((opts.fin ?? true) ? 0x80 : 0) | (opts.rsv1 === true ? 0x40 : 0) | opcode;
  return Buffer.concat([head, p]);
}

/** Client frames written to the wire, unmasked: [opcode, rsv1, payload]. */
function clientFrames(bytes: Buffer): Array<{ opcode: number; rsv1: boolean; payload: Buffer }> {
  const out = [];
  let i = 0;
  while (i < bytes.length) {
    const b0 = bytes[i] as number;
    const b1 = bytes[i + 1] as number;
    assert.ok((b1 & 0x80) !== 0, 'client frames are masked');
    let len = b1 & 0x7f;
    let off = i + 2;
    if (len === 126) {
      len = bytes.readUInt16BE(off);
      off += 2;
    } else if (len === 127) {
      len = Number(bytes.readBigUInt64BE(off));
      off += 8;
    }
    const key = bytes.subarray(off, off + 4);
    const payload = Buffer.from(bytes.subarray(off + 4, off + 4 + len));
    for (let j = 0; j < payload.length; j++) payload[j] = (payload[j] as number) ^ (key[j & 3] as number);
    out.push({ opcode: b0 & 0x0f, rsv1: (b0 & 0x40) !== 0, payload });
    i = off + 4 + len;
  }
  return out;
}

function harness(opts: Record<string, unknown> = {}, deflate?: PerMessageDeflate, serverClosesFirst = false) {
  const written: Buffer[] = [];
  const messages: StreamMessage[] = [];
  const closed: Array<BurrowError | null> = [];
  let ended = false;
  const duplex = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      written.push(chunk);
      cb();
    },
    final(cb) {
      ended = true;
      cb();
    },
  });
  const sink: LayerSink = {
    deliver: (m) => messages.push(m),
    notify: () => undefined,
    closed: (e) => closed.push(e),
    tunnel: () => undefined,
    sent: () => undefined,
  };
  const ref = new StreamRef([1]);
  const layer = new WebSocketLayer(duplex, { ref, origin: { host: '127.0.0.1', port: 1, transport: 'tcp', hop }, options: resolveWsOptions('ws', opts), deflate, serverClosesFirst }, sink);
  return { duplex, layer, ref, written, messages, closed, ended: () => ended, wire: () => clientFrames(Buffer.concat(written)) };
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('WebSocket layer', () => {
  it('flow control holds the transport after `flow` messages; updateFlow releases it', async () => {
    const h = harness({ flow: 2 });
    h.duplex.push(Buffer.concat([serverFrame(1, 'a'), serverFrame(1, 'b')]));
    await settle();
    assert.equal(h.messages.length, 2);
    assert.equal(h.duplex.isPaused(), true, 'the transport is not read after the budget is spent');
    h.duplex.push(serverFrame(1, 'c'));
    await settle();
    assert.equal(h.messages.length, 2, 'the third message waits');
    h.layer.updateFlow(h.ref, 1);
    await settle();
    assert.deepEqual(h.messages.map((m) => (m.type === 'ws' && m.frame.type === 'text' ? m.frame.data : m.type)), ['a', 'b', 'c']);
    h.layer.destroy(new (await import('../../../src/errors/errors.js')).BurrowError('ERR_CLOSED', 'done', { stage: 'state' }));
  });

  it('pings are answered with a pong carrying the same payload, masked', async () => {
    const h = harness();
    h.duplex.push(serverFrame(9, 'xyz'));
    await settle();
    assert.deepEqual(h.wire().map((f) => [f.opcode, f.payload.toString()]), [[10, 'xyz']]);
    assert.equal(h.messages.length, 0, 'silencePings: not delivered');
  });

  it('a compressed message and the small uncompressed one sent after it go out in the order sent', async () => {
    const params = { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 };
    const h = harness({}, new PerMessageDeflate(params, { maxPayload: 1 << 20 }));
    const big = 'z'.repeat(50_000);
    await h.layer.send([{ type: 'text', data: big }, { type: 'text', data: 'small' }, { type: 'ping', data: 'p' }]);
    await settle();
    const frames = h.wire();
    assert.deepEqual(frames.map((f) => [f.opcode, f.rsv1]), [[1, true], [1, false], [9, false]]);
    const f0 = frames[0] as { payload: Buffer };
    assert.equal(inflateRawSync(Buffer.concat([f0.payload, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: 2 }).toString(), big);
    assert.equal(frames[1]?.payload.toString(), 'small');
  });

  it('a compressed message from the server is inflated; one arriving with the close frame is delivered before it', async () => {
    const params = { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15 };
    const h = harness({}, new PerMessageDeflate(params, { maxPayload: 1 << 20 }));
    const c = deflateRawSync(Buffer.from('inflated'), { finishFlush: 2 });
    h.duplex.push(Buffer.concat([serverFrame(1, c.subarray(0, c.length - 4), { rsv1: true }), serverFrame(8, Buffer.from([0x03, 0xe8]))]));
    h.duplex.push(null);
    while (h.closed.length === 0) await settle();
    assert.deepEqual(h.messages.map((m) => (m.type === 'ws' ? m.frame : m.type)), [{ type: 'text', data: 'inflated' }, { type: 'close', code: 1000, reason: '' }]);
    assert.deepEqual(h.closed, [null]);
  });

  it('our close: the server close frame ends the stream; without an answer, ERR_WS_CLOSE_TIMEOUT after closingTimeout', async () => {
    const h = harness({ closingTimeout: 30 });
    await h.layer.send([{ type: 'close', code: 1000, reason: 'bye' }]);
    await assert.rejects(h.layer.send([{ type: 'text', data: 'after' }]), (e: BurrowError) => e.code === 'ERR_WS_CLOSED');
    assert.deepEqual(h.wire().map((f) => [f.opcode, f.payload.readUInt16BE(0), f.payload.subarray(2).toString()]), [[8, 1000, 'bye']]);
    while (h.closed.length === 0) await settle();
    const last = h.messages.at(-1);
    assert.equal(last?.type === 'error' && last.error.code, 'ERR_WS_CLOSE_TIMEOUT');
    assert.equal(h.closed[0]?.code, 'ERR_WS_CLOSE_TIMEOUT');
  });

  it('a protocol error sends the close code, delivers ERR_WS_PROTOCOL once, and ends our side', async () => {
    const h = harness({ closingTimeout: 1000 });
    h.duplex.push(serverFrame(3, 'reserved'));
    await settle();
    assert.deepEqual(h.wire().map((f) => [f.opcode, f.payload.readUInt16BE(0)]), [[8, 1002]]);
    assert.equal(h.messages.length, 1);
    const m = h.messages[0];
    assert.equal(m?.type === 'error' && m.error.code, 'ERR_WS_PROTOCOL');
    assert.equal(m?.type === 'error' && m.error.details['closeCode'], 1002);
    assert.equal(h.ended(), true);
    h.duplex.destroy();
    while (h.closed.length === 0) await settle();
    assert.equal(h.messages.length, 1, 'no second error');
  });

  it('the transport closing without a close frame is ERR_WS_CLOSED (1006)', async () => {
    const h = harness();
    h.duplex.push(serverFrame(1, 'last words'));
    h.duplex.push(null);
    while (h.closed.length === 0) await settle();
    assert.deepEqual(h.messages.map((m) => (m.type === 'ws' ? m.frame.type : m.type === 'error' ? m.error.code : m.type)), ['text', 'ERR_WS_CLOSED']);
  });
  it('after a clean close handshake over HTTP/1.1 the server closes TCP first: our side ends only when the server has ended its own', async () => {
    for (const whoCloses of ['server', 'us'] as const) {
      const h = harness({ closingTimeout: 60_000 }, undefined, true);
      if (whoCloses === 'us') await h.layer.send([{ type: 'close', code: 1000 }]);
      h.duplex.push(serverFrame(8, Buffer.from([0x03, 0xe8])));
      while (!h.messages.some((m) => m.type === 'ws' && m.frame.type === 'close')) await settle();
      assert.deepEqual(h.wire().map((f) => f.opcode), [8], 'one close frame from us');
      assert.equal(h.duplex.writableEnded, false, `${whoCloses}: burrow does not end TCP before the server`);
      h.duplex.push(null);
      while (h.closed.length === 0) await settle();
      assert.equal(h.duplex.writableEnded, true, 'our side ended in answer to the server');
      assert.deepEqual(h.closed, [null]);
    }
  });

  it('a server that does not close TCP after the close handshake is cut after closingTimeout, cleanly', async () => {
    const h = harness({ closingTimeout: 30 }, undefined, true);
    h.duplex.push(serverFrame(8, Buffer.from([0x03, 0xe8])));
    while (h.closed.length === 0) await settle();
    assert.deepEqual(h.closed, [null]);
    assert.equal(h.duplex.destroyed, true);
  });

  it('over an HTTP/2 stream, our side ends as soon as the close handshake is done', async () => {
    const h = harness({ closingTimeout: 60_000 }, undefined, false);
    h.duplex.push(serverFrame(8, Buffer.from([0x03, 0xe8])));
    while (!h.messages.some((m) => m.type === 'ws' && m.frame.type === 'close')) await settle();
    assert.equal(h.duplex.writableEnded, true);
    h.duplex.push(null);
    while (h.closed.length === 0) await settle();
    assert.deepEqual(h.closed, [null]);
  });
});
