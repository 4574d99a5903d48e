// A model of what a server sends on a WebSocket, for property tests: messages (text or binary, compressed or
// not, cut into fragments), with ping and pong frames between the fragments and an optional close frame at the
// end; the bytes a server writes for them, and the frames a client's message assembler must give out.
import { constants, createDeflateRaw, type DeflateRaw } from 'node:zlib';
import fc from 'fast-check';
import type { WsFrame } from '../../../src/protocols/websocket/messages.js';
import { closeBody, serverFrame } from './wire.js';

export interface ControlSpec {
  readonly opcode: 9 | 10;
  readonly data: Buffer;
}

export interface MessageSpec {
  readonly text: boolean;
  /** The message (UTF-8 for text). */
  readonly data: Buffer;
  readonly compress: boolean;
  /** Where the (possibly compressed) payload is cut into fragments: seeds taken modulo its length + 1. */
  readonly cuts: readonly number[];
  /** Control frames after each fragment (index i: after fragment i; the last: after the message). */
  readonly controls: ReadonlyArray<readonly ControlSpec[]>;
}

export interface StreamSpec {
  readonly messages: readonly MessageSpec[];
  readonly close: { code: number; reason: string } | undefined;
}

const control: fc.Arbitrary<ControlSpec> = fc.record({
  opcode: fc.constantFrom<9 | 10>(9, 10),
  data: fc.uint8Array({ maxLength: 125 }).map((u) => Buffer.from(u)),
});

const textData = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 60 }),
  fc.string({ unit: 'grapheme-ascii', maxLength: 400 }),
  fc.constantFrom('€uro', '𝄞 clef', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'),
).map((s) => Buffer.from(s, 'utf8'));

const binaryData = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)),
  fc.record({ len: fc.integer({ min: 0, max: 70_000 }), seed: fc.integer({ min: 0, max: 255 }) }).map(({ len, seed }) => Buffer.alloc(len, seed)),
);

export function messageArb(allowCompress: boolean): fc.Arbitrary<MessageSpec> {
  return fc
    .record({
      text: fc.boolean(),
      compress: allowCompress ? fc.boolean() : fc.constant(false),
      cuts: fc.array(fc.nat(), { maxLength: 4 }),
    })
    .chain(({ text, compress, cuts }) =>
      fc.record({
        data: text ? textData : binaryData,
        controls: fc.array(fc.array(control, { maxLength: 2 }), { minLength: cuts.length + 1, maxLength: cuts.length + 1 }),
      }).map(({ data, controls }) => ({ text, data, compress, cuts, controls })),
    );
}

const validCloseCode = fc.oneof(fc.constantFrom(1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014), fc.integer({ min: 3000, max: 4999 }));

export function streamArb(allowCompress: boolean): fc.Arbitrary<StreamSpec> {
  return fc.record({
    messages: fc.array(messageArb(allowCompress), { maxLength: 5 }),
    close: fc.option(fc.record({ code: validCloseCode, reason: fc.string({ unit: 'grapheme-ascii', maxLength: 40 }) }), { nil: undefined }),
  });
}

/** A server's permessage-deflate compressor (test side, straight zlib): its window and whether it keeps its context. */
export class ServerDeflater {
  readonly #windowBits: number;
  readonly #keepContext: boolean;
  #z: DeflateRaw | undefined;

  constructor(windowBits: number, keepContext: boolean) {
    this.#windowBits = windowBits;
    this.#keepContext = keepContext;
  }

  /** One message compressed and flushed, its 00 00 ff ff tail removed (RFC 7692 §7.2.1). */
  compress(data: Buffer): Promise<Buffer> {
    const z = (this.#z ??= createDeflateRaw({ windowBits: this.#windowBits }));
    const chunks: Buffer[] = [];
    const onData = (c: Buffer): void => {
      chunks.push(c);
    };
    z.on('data', onData);
    return new Promise((resolve, reject) => {
      z.once('error', reject);
      z.write(data);
      z.flush(constants.Z_SYNC_FLUSH, () => {
        z.removeListener('data', onData);
        z.removeListener('error', reject);
        const all = Buffer.concat(chunks);
        if (!all.subarray(-4).equals(Buffer.from([0, 0, 0xff, 0xff]))) {
          reject(new Error('a sync flush that does not end with 00 00 ff ff'));
          return;
        }
        if (!this.#keepContext) this.close();
        resolve(all.subarray(0, all.length - 4));
      });
    });
  }

  close(): void {
    this.#z?.close();
    this.#z = undefined;
  }
}

/** Cuts `payload` at `seeds` (modulo its length + 1, sorted): one part per seed plus one. */
export function fragments(payload: Buffer, seeds: readonly number[]): Buffer[] {
  const at = seeds.map((s) => s % (payload.length + 1)).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of at) {
    out.push(payload.subarray(prev, p));
    prev = p;
  }
  out.push(payload.subarray(prev));
  return out;
}

/** The bytes a server writes for `spec`, and the frames the assembler must give out for them, in order. */
export async function serverBytes(spec: StreamSpec, deflater: ServerDeflater | undefined): Promise<{ bytes: Buffer; expected: WsFrame[] }> {
  const parts: Buffer[] = [];
  const expected: WsFrame[] = [];
  for (const m of spec.messages) {
    const compressed = m.compress && deflater !== undefined;
    const payload = compressed ? await deflater.compress(m.data) : m.data;
    const frags = fragments(payload, m.cuts);
    frags.forEach((frag, i) => {
      const last = i === frags.length - 1;
      parts.push(serverFrame(i === 0 ? (m.text ? 1 : 2) : 0, frag, { fin: last, rsv1: i === 0 && compressed }));
      if (last) expected.push(m.text ? { type: 'text', data: m.data.toString('utf8') } : { type: 'binary', data: m.data });
      for (const c of m.controls[i] ?? []) {
        parts.push(serverFrame(c.opcode, c.data));
        expected.push({ type: c.opcode === 9 ? 'ping' : 'pong', data: c.data });
      }
    });
  }
  if (spec.close !== undefined) {
    parts.push(serverFrame(8, closeBody(spec.close.code, spec.close.reason)));
    expected.push({ type: 'close', code: spec.close.code, reason: spec.close.reason });
  }
  return { bytes: Buffer.concat(parts), expected };
}

/** Frames as comparable values (Buffers as hex). */
export function shownFrames(frames: readonly WsFrame[]): unknown[] {
  return frames.map((f) => {
    switch (f.type) {
      case 'text':
        return ['text', f.data];
      case 'close':
        return ['close', f.code, f.reason];
      default:
        return [f.type, f.data.toString('hex')];
    }
  });
}
