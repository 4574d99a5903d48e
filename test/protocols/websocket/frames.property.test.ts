// Properties of the WebSocket frame codec (RFC 6455 §5): client frames encoded by encodeFrame decode (with a
// test-side decoder that removes the mask) to what was given; server frames encoded by a test-side encoder decode
// to what was given, whatever the split of the byte stream; masking is an involution equal to a byte-wise XOR.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeFrame, FrameDecoder, mask, type RawFrame } from '../../../src/protocols/websocket/frames.js';
import { runs, WorkCounter } from './budget.js';
import { parseClientFrame, serverFrame } from './wire.js';

/** Payload lengths around every length-encoding boundary, and small ones. */
const payloadLength = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 140 }) },
  { weight: 2, arbitrary: fc.constantFrom(125, 126, 127, 65535, 65536, 65537) },
  { weight: 1, arbitrary: fc.integer({ min: 141, max: 70_000 }) },
);

const payloadOf = (len: number): fc.Arbitrary<Buffer> =>
  len <= 256 ? fc.uint8Array({ minLength: len, maxLength: len }).map((u) => Buffer.from(u)) : fc.integer({ min: 0, max: 255 }).map((seed) => Buffer.alloc(len, seed));

/** A server frame that is valid on its own (control frames short and final). */
interface FrameSpec {
  opcode: number;
  fin: boolean;
  rsv1: boolean;
  payload: Buffer;
}

const dataFrameSpec: fc.Arbitrary<FrameSpec> = fc
  .record({ opcode: fc.constantFrom(0, 1, 2), fin: fc.boolean(), rsv1: fc.boolean(), len: payloadLength })
  .chain(({ opcode, fin, rsv1, len }) => payloadOf(len).map((payload) => ({ opcode, fin, rsv1: rsv1 && opcode !== 0, payload })));

const controlFrameSpec: fc.Arbitrary<FrameSpec> = fc
  .record({ opcode: fc.constantFrom(8, 9, 10), len: fc.integer({ min: 0, max: 125 }) })
  .chain(({ opcode, len }) => payloadOf(len).map((payload) => ({ opcode, fin: true, rsv1: false, payload })));

const frameSpecs = fc.array(fc.oneof(dataFrameSpec, controlFrameSpec), { minLength: 1, maxLength: 8 });

/** Cut sizes: a byte at a time sometimes, bigger pieces often. */
const cuts = fc.array(fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 70_000 })), { minLength: 1, maxLength: 30 });

/** Feeds `bytes` to `d` in pieces of the sizes in `sizes` (cycled). */
function feedSplit(d: FrameDecoder, bytes: Buffer, sizes: readonly number[]): RawFrame[] {
  const out: RawFrame[] = [];
  let at = 0;
  let i = 0;
  while (at < bytes.length) {
    const n = sizes[i++ % sizes.length] as number;
    d.feed(bytes.subarray(at, at + n), out);
    at += n;
  }
  return out;
}

const shown = (f: { opcode: number; fin: boolean; rsv1: boolean; payload: Buffer }): [number, boolean, boolean, string] => [f.opcode, f.fin, f.rsv1, f.payload.toString('hex')];

describe('WebSocket frames (properties)', () => {
  it('encodeFrame: the test-side decoder gets back opcode, fin, rsv1, the key and the payload; the length is in its shortest form', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(0, 1, 2, 8, 9, 10),
        fc.boolean(),
        fc.boolean(),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        payloadLength.chain(payloadOf),
        (opcode, fin, rsv1, keyBytes, payload) => {
          const key = Buffer.from(keyBytes);
          const before = Buffer.from(payload);
          const wire = encodeFrame(opcode, payload, fin, rsv1, key);
          const f = parseClientFrame(wire);
          assert.ok(f !== undefined);
          assert.equal(f.size, wire.length, 'one frame, nothing after it');
          assert.deepEqual([f.opcode, f.fin, f.rsv1, f.rsv2, f.rsv3, f.masked], [opcode, fin, rsv1, false, false, true]);
          assert.deepEqual(f.key, key);
          assert.ok(f.payload.equals(payload));
          assert.ok(payload.equals(before), 'the payload given is not changed');
          const headLen = payload.length < 126 ? 2 : payload.length < 65536 ? 4 : 10;
          assert.equal(wire.length, headLen + 4 + payload.length);
        },
      ),
      { numRuns: runs(400) },
    );
  });

  it('encodeFrame with its own random key: always masked, a fresh key per frame, and the mask comes off', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 2, maxLength: 8 }), (us) => {
        const keys = new Set<string>();
        for (const u of us) {
          const payload = Buffer.from(u);
          const f = parseClientFrame(encodeFrame(2, payload));
          assert.ok(f !== undefined && f.masked);
          assert.ok(f.payload.equals(payload));
          keys.add(f.key.toString('hex'));
        }
        // Random 32-bit keys: two of eight frames share one with a chance below 10⁻⁸ (a constant key fails at once).
        assert.equal(keys.size, us.length, 'a fresh key per frame');
      }),
      { numRuns: runs(100) },
    );
  });

  it('mask is a byte-wise XOR with the key repeated, whatever the alignment, and masking twice gives the data back', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.integer({ min: 0, max: 7 }), fc.uint8Array({ minLength: 4, maxLength: 4 }), (u, offset, k) => {
        const key = Buffer.from(k);
        // A view that does not start on a 4-byte boundary of its ArrayBuffer.
        const backing = Buffer.alloc(offset + u.length);
        const data = backing.subarray(offset);
        data.set(u);
        mask(data, key);
        assert.deepEqual([...data], [...u].map((b, i) => b ^ (key[i % 4] as number)));
        mask(data, key);
        assert.deepEqual([...data], [...u]);
      }),
      { numRuns: runs(300) },
    );
  });

  it('server frames from the test-side encoder decode to what was encoded, whatever the split', () => {
    fc.assert(
      fc.property(frameSpecs, cuts, (specs, sizes) => {
        const bytes = Buffer.concat(specs.map((s) => serverFrame(s.opcode, s.payload, { fin: s.fin, rsv1: s.rsv1 })));
        const opts = { allowRsv1: true, maxFramePayload: 1 << 20 };
        const whole = new FrameDecoder(opts).feed(bytes);
        assert.deepEqual(whole.map(shown), specs.map(shown));
        const d = new FrameDecoder(opts);
        const split = feedSplit(d, bytes, sizes);
        assert.deepEqual(split.map(shown), specs.map(shown));
        assert.equal(d.buffered, 0);
      }),
      { numRuns: runs(300) },
    );
  });

  it('a stream cut short holds its incomplete frame: the frames before it come out, the rest is buffered', () => {
    fc.assert(
      fc.property(frameSpecs, fc.nat(), (specs, seed) => {
        const encoded = specs.map((s) => serverFrame(s.opcode, s.payload, { fin: s.fin, rsv1: s.rsv1 }));
        const bytes = Buffer.concat(encoded);
        const cut = seed % bytes.length;
        const d = new FrameDecoder({ allowRsv1: true, maxFramePayload: 1 << 20 });
        const got = d.feed(bytes.subarray(0, cut));
        let whole = 0;
        let used = 0;
        while (whole < encoded.length && used + (encoded[whole] as Buffer).length <= cut) used += (encoded[whole++] as Buffer).length;
        assert.equal(got.length, whole);
        assert.equal(d.buffered, cut - used);
        d.feed(bytes.subarray(cut), got);
        assert.deepEqual(got.map(shown), specs.map(shown));
      }),
      { numRuns: runs(300) },
    );
  });
  it('bounded work: the decoder looks at the chunks it was fed a bounded number of times per read and per frame, whatever the split', () => {
    fc.assert(
      fc.property(frameSpecs, cuts, (specs, sizes) => {
        const bytes = Buffer.concat(specs.map((s) => serverFrame(s.opcode, s.payload, { fin: s.fin, rsv1: s.rsv1 })));
        const work = new WorkCounter();
        const d = new FrameDecoder({ allowRsv1: true, maxFramePayload: 1 << 20 });
        const out: RawFrame[] = [];
        let reads = 0;
        let at = 0;
        let i = 0;
        while (at < bytes.length) {
          const n = sizes[i++ % sizes.length] as number;
          d.feed(work.mark(bytes.subarray(at, at + n)), out);
          at += n;
          reads++;
        }
        assert.equal(out.length, specs.length);
        // A header is at most 14 bytes, so at most 14 chunks are looked at to read one; each chunk is consumed once.
        const bound = 64 * (reads + specs.length);
        assert.ok(work.reads <= bound, `${work.reads} looks for ${reads} reads and ${specs.length} frames (bound ${bound})`);
      }),
      { numRuns: runs(50) },
    );
  });
});
