// The WebSocket layer's writes: frames sent in one synchronous run go out in one write of the transport (one
// system call, one TLS record), in order, and are on the transport when the send settles; a send waits for the
// transport's drain only when the transport asked for it; frames written just before the layer is destroyed
// still reach the transport; a send after the transport closed is refused instead of waiting for ever.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { BurrowError } from '../../../src/errors/errors.js';
import { PerMessageDeflate } from '../../../src/protocols/websocket/deflate.js';
import { WebSocketLayer } from '../../../src/protocols/websocket/layer.js';
import { resolveWsOptions } from '../../../src/shared/options/ws.js';
import { StreamRef } from '../../../src/shared/stream-ref.js';
import type { LayerSink } from '../../../src/shared/layer.js';
import type { StreamMessage } from '../../../src/shared/messages.js';

/** A transport that records each write it gets (a `writev` is one write of several buffers). */
class Recorder extends Duplex {
  readonly writes: Buffer[][] = [];
  /** While set, write callbacks wait for release(): the transport's buffer fills up. */
  held: Array<() => void> | undefined;

  constructor(highWaterMark = 16384) {
    super({ writableHighWaterMark: highWaterMark });
  }

  override _read(): void {}

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.writes.push([chunk]);
    this.#done(cb);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (e?: Error | null) => void): void {
    this.writes.push(chunks.map((c) => c.chunk));
    this.#done(cb);
  }

  #done(cb: () => void): void {
    if (this.held !== undefined) this.held.push(cb);
    else cb();
  }

  release(): void {
    const h = this.held ?? [];
    this.held = undefined;
    for (const cb of h) cb();
  }
}

/** The payloads of masked client frames (single-frame messages), in order. */
function clientPayloads(bytes: Buffer): Array<{ opcode: number; payload: Buffer }> {
  const out: Array<{ opcode: number; payload: Buffer }> = [];
  let at = 0;
  while (at < bytes.length) {
    const opcode = (bytes[at] as number) & 0x0f;
    let len = (bytes[at + 1] as number) & 0x7f;
    assert.ok(((bytes[at + 1] as number) & 0x80) !== 0, 'a client frame is masked');
    let p = at + 2;
    if (len === 126) {
      len = bytes.readUInt16BE(p);
      p += 2;
    } else if (len === 127) {
      len = Number(bytes.readBigUInt64BE(p));
      p += 8;
    }
    const key = bytes.subarray(p, p + 4);
    const payload = Buffer.from(bytes.subarray(p + 4, p + 4 + len));
    for (let i = 0; i < len; i++) payload[i] = (payload[i] as number) ^ (key[i & 3] as number);
    out.push({ opcode, payload });
    at = p + 4 + len;
  }
  return out;
}

function setup(highWaterMark?: number, deflate?: PerMessageDeflate): { layer: WebSocketLayer; t: Recorder; delivered: StreamMessage[]; closed: Array<unknown> } {
  const t = new Recorder(highWaterMark);
  const delivered: StreamMessage[] = [];
  const closed: unknown[] = [];
  const sink: LayerSink = {
    deliver: (m) => delivered.push(m),
    notify: () => undefined,
    closed: (e) => closed.push(e),
    tunnel: () => undefined,
    sent: () => undefined,
  };
  const hop = { index: 0, kind: 'origin' as const, host: '127.0.0.1', port: 1, transport: 'tcp' as const };
  const layer = new WebSocketLayer(t, { ref: new StreamRef([1]), origin: { host: '127.0.0.1', port: 1, transport: 'tcp', hop }, options: resolveWsOptions('ws', {}), deflate }, sink);
  return { layer, t, delivered, closed };
}

const done = (): BurrowError => new BurrowError('ERR_STREAM_CANCELED', 'the test is over', { stage: 'state' });
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('WebSocket layer: writes', () => {
  it('frames sent in one synchronous run go out in one write, in order; frames sent later in another', async () => {
    const { layer, t } = setup();
    const sends: Array<Promise<void>> = [];
    for (let i = 0; i < 20; i++) sends.push(layer.send([{ type: 'binary', data: Buffer.from([i, i, i]) }]));
    sends.push(layer.send([{ type: 'text', data: 'a' }, { type: 'text', data: 'b' }]));
    assert.equal(t.writes.length, 0, 'nothing is written before the synchronous run ends');
    await Promise.all(sends);
    assert.equal(t.writes.length, 1, 'written once the sends settle');
    const frames = clientPayloads(Buffer.concat(t.writes[0] as Buffer[]));
    assert.deepEqual(frames.map((f) => [...f.payload]), [...Array.from({ length: 20 }, (_, i) => [i, i, i]), [0x61], [0x62]]);
    assert.deepEqual(frames.map((f) => f.opcode), [...Array<number>(20).fill(2), 1, 1]);
    await layer.send([{ type: 'binary', data: Buffer.from('later') }]);
    assert.equal(t.writes.length, 2);
    assert.equal(clientPayloads(Buffer.concat(t.writes[1] as Buffer[]))[0]?.payload.toString(), 'later');
    layer.destroy(done());
  });

  it('large messages: every byte masked and in order, across writes', async () => {
    const { layer, t } = setup();
    const big = Buffer.alloc(200_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    const odd = Buffer.concat([Buffer.alloc(1), big]).subarray(1, 70_001);
    await Promise.all([layer.send([{ type: 'binary', data: big }]), layer.send([{ type: 'binary', data: odd }])]);
    await tick();
    const frames = clientPayloads(Buffer.concat(t.writes.flat()));
    assert.equal(frames.length, 2);
    assert.ok(frames[0]?.payload.equals(big));
    assert.ok(frames[1]?.payload.equals(odd));
    layer.destroy(done());
  });

  it('a send resolves at once while the transport takes more, and on its drain once it is full (one wait shared by the sends)', async () => {
    const { layer, t } = setup(1024);
    t.held = [];
    let first = false;
    const p1 = layer.send([{ type: 'binary', data: Buffer.alloc(4000) }]).then(() => (first = true));
    let second = false;
    const p2 = layer.send([{ type: 'binary', data: Buffer.alloc(10) }]).then(() => (second = true));
    await tick();
    await tick();
    assert.equal(first, false, 'the transport is over its high-water mark: the send waits for its drain');
    assert.equal(second, false);
    t.release();
    await Promise.all([p1, p2]);
    assert.equal(clientPayloads(Buffer.concat(t.writes.flat())).length, 2);
    // Below the high-water mark: resolved without waiting for a write to complete.
    let third = false;
    await layer.send([{ type: 'binary', data: Buffer.alloc(10) }]).then(() => (third = true));
    assert.equal(third, true);
    layer.destroy(done());
  });

  it('frames written in the tick the layer is destroyed reach the transport before it is destroyed', async () => {
    const { layer, t, closed } = setup();
    void layer.send([{ type: 'binary', data: Buffer.from('last words') }]).catch(() => undefined);
    layer.destroy(done());
    await tick();
    assert.equal(clientPayloads(Buffer.concat(t.writes.flat()))[0]?.payload.toString(), 'last words');
    assert.equal(t.destroyed, true);
    assert.equal(closed.length, 1);
  });

  it('a send after the transport closed, while a received message is still being inflated, is refused (ERR_WS_CLOSED), not left waiting', async () => {
    /** An inflater that holds every message until the test lets it go. */
    class HeldInflate extends PerMessageDeflate {
      readonly waiting: Array<() => void> = [];
      override decompress(): Promise<Buffer> {
        return new Promise((resolve) => this.waiting.push(() => resolve(Buffer.from('late'))));
      }
    }
    const params = { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15 };
    const inflate = new HeldInflate(params, { maxPayload: 1 << 20 });
    const { layer, t, delivered, closed } = setup(undefined, inflate);
    // A compressed server frame (RSV1): its inflation is held.
    t.push(Buffer.from([0xc2, 0x01, 0x00]));
    while (inflate.waiting.length === 0) await tick();
    t.destroy();
    await new Promise((resolve) => t.once('close', resolve));
    assert.equal(closed.length, 0, 'the layer waits for the message being inflated');
    await assert.rejects(layer.send([{ type: 'binary', data: Buffer.from('x') }]), (e: BurrowError) => e.code === 'ERR_WS_CLOSED');
    for (const release of inflate.waiting.splice(0)) release();
    while (closed.length === 0) await tick();
    assert.ok(delivered.some((m) => m.type === 'ws' && m.frame.type === 'binary' && m.frame.data.toString() === 'late'), 'the inflated message is still delivered');
  });
});
