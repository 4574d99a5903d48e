// WebSocket frames (RFC 6455 §5): exact bytes of client frames, server frames decoded whole and split at every
// byte, and every protocol error with its close code.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { closePayload, encodeFrame, FrameDecoder, mask, newMaskKey, validCloseCode, WsProtocolError, type RawFrame } from '../../../src/protocols/websocket/frames.js';
import { WorkCounter } from './budget.js';

/** A server frame: no mask. */
function serverFrame(opcode: number, payload: Buffer, fin = true, rsv1 = false): Buffer {
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0, len]) : len < 65536 ? Buffer.from([0, 126, len >> 8, len & 255]) : Buffer.concat([Buffer.from([0, 127]), (() => {
    const b = Buffer.alloc(8);
    b.writeUInt32BE(Math.floor(len / 2 ** 32), 0);
    b.writeUInt32BE(len >>> 0, 4);
    return b;
  })()]);
  head[0] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
  return Buffer.concat([head, payload]);
}

function decode(bytes: Buffer, opts = { allowRsv1: false, maxFramePayload: 1 << 30 }): RawFrame[] {
  return new FrameDecoder(opts).feed(bytes);
}

function closeCode(fn: () => unknown): number {
  try {
    fn();
  } catch (e) {
    if (e instanceof WsProtocolError) return e.closeCode;
    throw e;
  }
  throw new Error('no error');
}

describe('WebSocket frames: encoding (client)', () => {
  it('RFC 6455 §5.7 example: a masked "Hello"', () => {
    const key = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
    assert.deepEqual([...encodeFrame(0x1, Buffer.from('Hello'), true, false, key)], [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
  });

  it('lengths 125, 126, 65535, 65536 take 7, 16 and 64 bits', () => {
    const key = Buffer.from([1, 2, 3, 4]);
    assert.deepEqual([...encodeFrame(2, Buffer.alloc(125), true, false, key).subarray(0, 2)], [0x82, 0x80 | 125]);
    assert.deepEqual([...encodeFrame(2, Buffer.alloc(126), true, false, key).subarray(0, 4)], [0x82, 0x80 | 126, 0, 126]);
    assert.deepEqual([...encodeFrame(2, Buffer.alloc(65535), true, false, key).subarray(0, 4)], [0x82, 0x80 | 126, 0xff, 0xff]);
    assert.deepEqual([...encodeFrame(2, Buffer.alloc(65536), true, false, key).subarray(0, 10)], [0x82, 0x80 | 127, 0, 0, 0, 0, 0, 1, 0, 0]);
    assert.equal(encodeFrame(2, Buffer.alloc(65536), true, false, key).length, 10 + 4 + 65536);
  });

  it('a fresh random key per frame, and the payload given is left as it was', () => {
    const payload = Buffer.from('same payload');
    const a = encodeFrame(1, payload);
    const b = encodeFrame(1, payload);
    assert.equal(payload.toString(), 'same payload');
    assert.notDeepEqual(a.subarray(2, 6), b.subarray(2, 6));
    const unmasked = Buffer.from(a.subarray(6));
    mask(unmasked, a.subarray(2, 6));
    assert.equal(unmasked.toString(), 'same payload');
  });

  it('fin, rsv1 and a close payload', () => {
    const key = Buffer.from([0, 0, 0, 0]);
    assert.equal(encodeFrame(1, Buffer.from('a'), false, false, key)[0], 0x01);
    assert.equal(encodeFrame(1, Buffer.from('a'), true, true, key)[0], 0xc1);
    assert.deepEqual([...closePayload(1000, 'bye')], [0x03, 0xe8, 0x62, 0x79, 0x65]);
    assert.equal(closePayload(undefined, 'x').length, 0);
  });
});

/** RFC 6455 §5.3, byte by byte: what every way of masking must give. */
function maskedByBytes(payload: Uint8Array, key: Uint8Array): Buffer {
  const out = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) out[i] = (payload[i] as number) ^ (key[i & 3] as number);
  return out;
}

describe('WebSocket frames: masking 32 bits at a time', () => {
  it('mask() equals the byte-by-byte definition at every length around the word threshold and at every alignment', () => {
    const key = Buffer.from([0x9e, 0x01, 0xf7, 0x5c]);
    const backing = Buffer.alloc(4096 + 8);
    for (let i = 0; i < backing.length; i++) backing[i] = (i * 131 + 7) & 0xff;
    for (const len of [0, 1, 2, 3, 4, 5, 7, 63, 64, 65, 127, 128, 129, 255, 256, 257, 258, 259, 260, 1000, 4096]) {
      for (let offset = 0; offset < 4; offset++) {
        const data = Buffer.from(backing.subarray(0, len + offset)).subarray(offset);
        const want = maskedByBytes(data, key);
        mask(data, key);
        assert.deepEqual(data, want, `length ${len} at offset ${offset}`);
      }
    }
  });

  it('encodeFrame masks any payload (length, offset in its memory, key) as RFC 6455 says, and leaves it unchanged', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 3000 }), fc.integer({ min: 0, max: 7 }), fc.uint8Array({ minLength: 4, maxLength: 4 }), (bytes, offset, key) => {
        // The payload at `offset` inside a larger ArrayBuffer: every alignment of its first byte.
        const payload = new Uint8Array(new ArrayBuffer(bytes.length + 8), offset, bytes.length);
        payload.set(bytes);
        const frame = encodeFrame(2, payload, true, false, key);
        const head = bytes.length < 126 ? 2 : bytes.length < 65536 ? 4 : 10;
        assert.deepEqual([...frame.subarray(head, head + 4)], [...key]);
        assert.deepEqual(frame.subarray(head + 4), maskedByBytes(bytes, key));
        assert.deepEqual(payload, bytes);
      }),
      { numRuns: 300 },
    );
  });

  it('a 64 KiB payload (a 64-bit length) and a payload of 200 000 bytes at an odd offset', () => {
    const key = Buffer.from([1, 2, 3, 0xff]);
    for (const [len, offset] of [[65536, 0], [200_000, 3]] as const) {
      const payload = Buffer.alloc(len + offset).subarray(offset);
      for (let i = 0; i < len; i++) payload[i] = (i * 7) & 0xff;
      const frame = encodeFrame(2, payload, true, false, key);
      assert.equal(frame.length, 10 + 4 + len);
      assert.deepEqual(frame.subarray(14), maskedByBytes(payload, key));
    }
  });

  it('keys come from a pool refilled from the CSPRNG: 5000 frames (more than a pool) get fresh keys', () => {
    const payload = Buffer.from('x');
    const keys = new Set<string>();
    // More frames than one pool of keys (8 KiB = 2048 keys): the pool is refilled, keys stay fresh.
    for (let i = 0; i < 5000; i++) keys.add(encodeFrame(1, payload).subarray(2, 6).toString('hex'));
    // 5000 draws of 32 random bits: a repeat is possible (p ≈ 0.3%) but more than two are not.
    assert.ok(keys.size >= 4998, `${keys.size} distinct keys of 5000`);
    const a = newMaskKey();
    const b = newMaskKey();
    assert.equal(a.length, 4);
    assert.notDeepEqual(a, b);
  });
});

describe('WebSocket frames: decoding (server frames)', () => {
  it('text, binary, fragments, control frames; 16- and 64-bit lengths', () => {
    const big = Buffer.alloc(70000, 7);
    const bytes = Buffer.concat([
      serverFrame(1, Buffer.from('Hello')),
      serverFrame(2, Buffer.alloc(300, 1), false),
      serverFrame(9, Buffer.from('ping')),
      serverFrame(0, big),
      serverFrame(8, closePayload(1000, '')),
    ]);
    const frames = decode(bytes);
    assert.deepEqual(frames.map((f) => [f.opcode, f.fin, f.payload.length]), [[1, true, 5], [2, false, 300], [9, true, 4], [0, true, 70000], [8, true, 2]]);
    assert.equal(frames[0]?.payload.toString(), 'Hello');
  });

  it('any split of the bytes gives the same frames', () => {
    fc.assert(fc.property(fc.array(fc.record({ op: fc.constantFrom(1, 2, 9, 10), len: fc.integer({ min: 0, max: 300 }) }), { minLength: 1, maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 20 }), (specs, cuts) => {
      const bytes = Buffer.concat(specs.map((s, i) => serverFrame(s.op, Buffer.alloc(s.op >= 8 ? Math.min(s.len, 125) : s.len, i))));
      const whole = decode(bytes).map((f) => [f.opcode, f.payload.toString('hex')]);
      const d = new FrameDecoder({ allowRsv1: false, maxFramePayload: 1 << 20 });
      const got: RawFrame[] = [];
      let at = 0;
      let i = 0;
      while (at < bytes.length) {
        const n = cuts[i++ % cuts.length] as number;
        d.feed(bytes.subarray(at, at + n), got);
        at += n;
      }
      assert.deepEqual(got.map((f) => [f.opcode, f.payload.toString('hex')]), whole);
      assert.equal(d.buffered, 0);
    }), { numRuns: 300 });
  });

  it('every protocol error has its close code (RFC 6455 §5, §7.4.1)', () => {
    const b = (...x: number[]): Buffer => Buffer.from(x);
    assert.equal(closeCode(() => decode(b(0xa1, 0))), 1002, 'RSV2');
    assert.equal(closeCode(() => decode(b(0x91, 0))), 1002, 'RSV3');
    assert.equal(closeCode(() => decode(b(0xc1, 0))), 1002, 'RSV1 without permessage-deflate');
    assert.equal(closeCode(() => decode(b(0xc9, 0), { allowRsv1: true, maxFramePayload: 100 })), 1002, 'RSV1 on a control frame');
    assert.equal(closeCode(() => decode(b(0x40, 0), { allowRsv1: true, maxFramePayload: 100 })), 1002, 'RSV1 on a continuation');
    for (const op of [3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]) assert.equal(closeCode(() => decode(b(0x80 | op, 0))), 1002, `opcode ${op}`);
    assert.equal(closeCode(() => decode(b(0x81, 0x81, 1, 2, 3, 4, 0))), 1002, 'masked');
    assert.equal(closeCode(() => decode(b(0x09, 0))), 1002, 'fragmented ping');
    assert.equal(closeCode(() => decode(b(0x89, 126, 0, 126))), 1002, 'control over 125 bytes');
    assert.equal(closeCode(() => decode(b(0x82, 126, 0, 5))), 1002, 'non-minimal 16-bit length');
    assert.equal(closeCode(() => decode(b(0x82, 127, 0, 0, 0, 0, 0, 0, 0, 5))), 1002, 'non-minimal 64-bit length');
    assert.equal(closeCode(() => decode(b(0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0))), 1002, 'length top bit');
    assert.equal(closeCode(() => decode(serverFrame(2, Buffer.alloc(200)), { allowRsv1: false, maxFramePayload: 100 })), 1009, 'over maxPayload');
  });

  it('frames before a bad byte are kept; the decoder is dead after it', () => {
    const d = new FrameDecoder({ allowRsv1: false, maxFramePayload: 100 });
    const got: RawFrame[] = [];
    assert.throws(() => d.feed(Buffer.concat([serverFrame(1, Buffer.from('ok')), Buffer.from([0xf1, 0])]), got));
    assert.deepEqual(got.map((f) => f.payload.toString()), ['ok']);
    assert.throws(() => d.feed(serverFrame(1, Buffer.from('later'))), WsProtocolError);
  });

  it('a large frame delivered in many small reads decodes in linear time (the header is not re-joined from every buffered chunk)', () => {
    // The work is counted, not timed: every fed chunk counts the times the decoder looks at it. Joining every
    // buffered chunk to read the header again on each read made this about N²/2 looks (5·10⁸ here); linear, it is
    // a small constant per byte. The budget throws as soon as it is passed, so a regression fails at once.
    const len = 32_000;
    const bytes = serverFrame(2, Buffer.alloc(len, 7));
    const work = new WorkCounter(64 * bytes.length);
    const d = new FrameDecoder({ allowRsv1: false, maxFramePayload: 1 << 20 });
    const got: RawFrame[] = [];
    for (let i = 0; i < bytes.length; i++) d.feed(work.mark(bytes.subarray(i, i + 1)), got);
    assert.equal(got.length, 1);
    assert.equal(got[0]?.payload.length, len);
    assert.ok(got[0]?.payload.every((b) => b === 7));
    assert.equal(d.buffered, 0);
    assert.ok(work.reads >= bytes.length, `each chunk was looked at (${work.reads} reads): the count measures the decoder`);
  });

  it('close codes a peer may send', () => {
    for (const c of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999]) assert.ok(validCloseCode(c), String(c));
    for (const c of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000]) assert.ok(!validCloseCode(c), String(c));
  });
});
