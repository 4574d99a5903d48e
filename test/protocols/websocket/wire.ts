// Test-side WebSocket wire helpers, written independently of src/: an encoder of server frames (unmasked, or
// masked when a test wants a bad peer), a decoder of client frames that checks and removes their mask, and a
// reader of client frames off a scripted connection.
import { createHash } from 'node:crypto';
import type { ScriptedConnection } from '../../../src/testing/scripted.js';

/** Options of {@link serverFrame}. */
export interface ServerFrameOptions {
  fin?: boolean;
  rsv1?: boolean;
  rsv2?: boolean;
  rsv3?: boolean;
  /** Mask the frame with this key (a server must not: for bad peers). */
  maskKey?: Buffer;
}

/** One frame as a server writes it: header in its shortest form, payload unmasked unless `maskKey` is given. */
export function serverFrame(opcode: number, payload: Buffer | string, o: ServerFrameOptions = {}): Buffer {
  const data = Buffer.from(payload);
  const len = data.length;
  const b0 = ((o.fin ?? true) ? 0x80 : 0) | (o.rsv1 === true ? 0x40 : 0) | (o.rsv2 === true ? 0x20 : 0) | (o.rsv3 === true ? 0x10 : 0) | (opcode & 0x0f);
  const maskBit = o.maskKey !== undefined ? 0x80 : 0;
  let head: number[];
  if (len < 126) head = [b0, maskBit | len];
  else if (len < 65536) head = [b0, maskBit | 126, len >> 8, len & 0xff];
  else {
    head = [b0, maskBit | 127];
    const hi = Math.floor(len / 2 ** 32);
    for (const w of [hi, len >>> 0]) head.push((w >>> 24) & 0xff, (w >>> 16) & 0xff, (w >>> 8) & 0xff, w & 0xff);
  }
  if (o.maskKey === undefined) return Buffer.concat([Buffer.from(head), data]);
  const key = o.maskKey;
  const masked = Buffer.from(data.map((b, i) => b ^ (key[i % 4] as number)));
  return Buffer.concat([Buffer.from(head), key.subarray(0, 4), masked]);
}

/** A close frame's payload: the code (two bytes) and a UTF-8 reason. */
export function closeBody(code: number, reason = ''): Buffer {
  return Buffer.concat([Buffer.from([code >> 8, code & 0xff]), Buffer.from(reason, 'utf8')]);
}

/** A client frame, unmasked. */
export interface ClientFrame {
  readonly fin: boolean;
  readonly rsv1: boolean;
  readonly rsv2: boolean;
  readonly rsv3: boolean;
  readonly opcode: number;
  readonly masked: boolean;
  readonly key: Buffer;
  /** The payload with the mask removed. */
  readonly payload: Buffer;
  /** Bytes the frame took on the wire. */
  readonly size: number;
}

/**
 * Decodes the client frame at the start of `buf`; undefined when it is not all there. Throws when the length is
 * not in its shortest form or the frame is not masked (both are client bugs).
 */
export function parseClientFrame(buf: Buffer): ClientFrame | undefined {
  if (buf.length < 2) return undefined;
  const b0 = buf[0] as number;
  const b1 = buf[1] as number;
  let len = b1 & 0x7f;
  let at = 2;
  if (len === 126) {
    if (buf.length < 4) return undefined;
    len = buf.readUInt16BE(2);
    if (len < 126) throw new Error(`a 16-bit length ${len} not in its shortest form`);
    at = 4;
  } else if (len === 127) {
    if (buf.length < 10) return undefined;
    len = buf.readUInt32BE(2) * 2 ** 32 + buf.readUInt32BE(6);
    if (len < 65536) throw new Error(`a 64-bit length ${len} not in its shortest form`);
    at = 10;
  }
  const masked = (b1 & 0x80) !== 0;
  if (!masked) throw new Error('a client frame is not masked');
  if (buf.length < at + 4 + len) return undefined;
  const key = Buffer.from(buf.subarray(at, at + 4));
  const payload = Buffer.from(buf.subarray(at + 4, at + 4 + len).map((b, i) => b ^ (key[i % 4] as number)));
  return {
    fin: (b0 & 0x80) !== 0,
    rsv1: (b0 & 0x40) !== 0,
    rsv2: (b0 & 0x20) !== 0,
    rsv3: (b0 & 0x10) !== 0,
    opcode: b0 & 0x0f,
    masked,
    key,
    payload,
    size: at + 4 + len,
  };
}

/** Every whole client frame in `buf`, and the bytes left over. */
export function parseClientFrames(buf: Buffer): { frames: ClientFrame[]; rest: Buffer } {
  const frames: ClientFrame[] = [];
  let at = 0;
  for (;;) {
    const f = parseClientFrame(buf.subarray(at));
    if (f === undefined) break;
    frames.push(f);
    at += f.size;
  }
  return { frames, rest: buf.subarray(at) };
}

/** Reads the next client frame from a scripted connection. */
export async function readClientFrame(c: ScriptedConnection, timeoutMs?: number): Promise<ClientFrame> {
  const head = await c.readExactly(2, timeoutMs);
  const n = (head[1] as number) & 0x7f;
  const ext = n === 126 ? await c.readExactly(2, timeoutMs) : n === 127 ? await c.readExactly(8, timeoutMs) : Buffer.alloc(0);
  const len = n === 126 ? ext.readUInt16BE(0) : n === 127 ? ext.readUInt32BE(0) * 2 ** 32 + ext.readUInt32BE(4) : n;
  const rest = await c.readExactly(((head[1] as number) & 0x80 ? 4 : 0) + len, timeoutMs);
  const f = parseClientFrame(Buffer.concat([head, ext, rest]));
  if (f === undefined) throw new Error('unreachable: a whole frame was read');
  return f;
}

/** The code of a close frame's payload, or undefined for an empty one. */
export function closeCodeOf(f: ClientFrame): number | undefined {
  return f.payload.length >= 2 ? f.payload.readUInt16BE(0) : undefined;
}

/** `Sec-WebSocket-Accept` for `key` (RFC 6455 §4.2.2), computed here rather than taken from src/. */
export function acceptOf(key: string): string {
  return createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
}
