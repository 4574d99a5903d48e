/**
 * WebSocket frames (RFC 6455 §5), sans-I/O: a decoder (bytes in, frames out)
 * for what a server sends, and an encoder for what a client sends (masked, a
 * fresh random key per frame). Every protocol error is a {@link WsProtocolError}
 * carrying the close code to answer with (RFC 6455 §7.4.1).
 */
import { randomFillSync } from 'node:crypto';

/** Opcodes (RFC 6455 §5.2). */
export const OP_CONTINUATION = 0x0;
export const OP_TEXT = 0x1;
export const OP_BINARY = 0x2;
export const OP_CLOSE = 0x8;
export const OP_PING = 0x9;
export const OP_PONG = 0xa;

/** Close codes burrow sends (RFC 6455 §7.4.1). */
export const CLOSE_NORMAL = 1000;
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_PROTOCOL_ERROR = 1002;
export const CLOSE_UNSUPPORTED = 1003;
export const CLOSE_NO_STATUS = 1005;
export const CLOSE_ABNORMAL = 1006;
export const CLOSE_INVALID_PAYLOAD = 1007;
export const CLOSE_POLICY = 1008;
export const CLOSE_TOO_BIG = 1009;
export const CLOSE_EXTENSION = 1010;
export const CLOSE_INTERNAL = 1011;

/** A protocol error of the peer: the connection is closed with `closeCode`. */
export class WsProtocolError extends Error {
  readonly closeCode: number;

  constructor(closeCode: number, message: string) {
    super(message);
    this.name = 'WsProtocolError';
    this.closeCode = closeCode;
  }
}

/** One frame as it came off the wire (payload unmasked). */
export interface RawFrame {
  readonly fin: boolean;
  /** RSV1: the message is compressed (permessage-deflate). */
  readonly rsv1: boolean;
  readonly opcode: number;
  readonly payload: Buffer;
}

/** What the decoder accepts. */
export interface DecoderOptions {
  /** RSV1 may be set (permessage-deflate was negotiated). */
  readonly allowRsv1: boolean;
  /** Largest frame payload accepted; a larger one is `1009`. */
  readonly maxFramePayload: number;
}

const EMPTY = Buffer.alloc(0);

/** True for an opcode RFC 6455 defines. */
function known(opcode: number): boolean {
  return opcode <= OP_BINARY || (opcode >= OP_CLOSE && opcode <= OP_PONG);
}

/** Decodes the frames a server sends (they must not be masked). */
export class FrameDecoder {
  readonly #opts: DecoderOptions;
  /** Bytes received and not yet framed, in order (a large frame is joined once, when whole). */
  #chunks: Buffer[] = [];
  #bytes = 0;
  #dead = false;

  constructor(opts: DecoderOptions) {
    this.#opts = opts;
  }

  /** Bytes of an incomplete frame held. */
  get buffered(): number {
    return this.#bytes;
  }

  /**
   * Feeds bytes; returns the frames they complete, in order. Throws
   * {@link WsProtocolError} at the first invalid byte (after which the decoder
   * is dead); the frames completed before it are in `into`.
   */
  feed(chunk: Buffer, into: RawFrame[] = []): RawFrame[] {
    if (this.#dead) throw new WsProtocolError(CLOSE_PROTOCOL_ERROR, 'data after a protocol error');
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#bytes += chunk.length;
    }
    try {
      for (;;) {
        if (this.#bytes < 2) break;
        const head = this.#peek(Math.min(this.#bytes, 14));
        const b0 = head[0] as number;
        const b1 = head[1] as number;
        const fin = (b0 & 0x80) !== 0;
        const rsv1 = (b0 & 0x40) !== 0;
        const opcode = b0 & 0x0f;
        if ((b0 & 0x30) !== 0) throw new WsProtocolError(CLOSE_PROTOCOL_ERROR, 'RSV2 or RSV3 set');
        if (rsv1 && (!this.#opts.allowRsv1 || opcode >= OP_CLOSE || opcode === OP_CONTINUATION)) throw new WsProtocolError(CLOSE_PROTOCOL_ERROR, 'RSV1 set where no negotiated extension allows it');
        if (!known(opcode)) throw new WsProtocolError(CLOSE_PROTOCOL_ERROR, `reserved opcode 0x${opcode.toString(16)}`);
        if ((b1 & 0x80) !== 0) throw new WsProtocolError(CLOSE_PROTOCOL_ERROR, 'a server frame is masked');
        const control = opcode >= OP_CLOSE;
        let len = b1 & 0x7f;
        let headLen = 2;
        if (control && (!fin || len > 125)) throw new WsProtocolError(CLOSE_PROTOCOL_ERROR, !fin ? 'a fragmented control frame' : 'a control frame longer than 125 bytes');
        if (len === 126) {
          if (head.length < 4) break;
          len = head.readUInt16BE(2);
          if (len < 126) throw new WsProtocolError(CLOSE_PROTOCOL_ERROR, 'a payload length not in its shortest form');
          headLen = 4;
        } else if (len === 127) {
          if (head.length < 10) break;
          const hi = head.readUInt32BE(2);
          const lo = head.readUInt32BE(6);
          if (hi & 0x80000000) throw new WsProtocolError(CLOSE_PROTOCOL_ERROR, 'a payload length with its top bit set');
          len = hi * 2 ** 32 + lo;
          if (len < 65536) throw new WsProtocolError(CLOSE_PROTOCOL_ERROR, 'a payload length not in its shortest form');
          headLen = 10;
        }
        if (len > this.#opts.maxFramePayload) throw new WsProtocolError(CLOSE_TOO_BIG, `a frame of ${len} bytes is larger than maxPayload (${this.#opts.maxFramePayload})`);
        if (this.#bytes < headLen + len) break;
        this.#take(headLen);
        into.push({ fin, rsv1, opcode, payload: len === 0 ? EMPTY : this.#take(len) });
      }
    } catch (e) {
      this.#dead = true;
      this.#chunks = [];
      this.#bytes = 0;
      throw e;
    }
    return into;
  }

  /** The first `n` buffered bytes, without consuming them. */
  #peek(n: number): Buffer {
    const first = this.#chunks[0] as Buffer;
    if (first.length >= n) return first;
    // Only the chunks holding those bytes: joining every buffered chunk on each read is quadratic when a large
    // frame arrives in many small reads.
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    for (const c of this.#chunks) {
      off += c.copy(out, off, 0, Math.min(c.length, n - off));
      if (off === n) break;
    }
    return out;
  }

  /** Consumes the next `n` buffered bytes (a subarray of the chunk they arrived in when they are in one). */
  #take(n: number): Buffer {
    this.#bytes -= n;
    const first = this.#chunks[0] as Buffer;
    if (first.length > n) {
      this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    if (first.length === n) {
      this.#chunks.shift();
      return first;
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    let used = 0;
    while (off < n) {
      const c = this.#chunks[used] as Buffer;
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) used++;
      else this.#chunks[used] = c.subarray(k);
    }
    this.#chunks.splice(0, used);
    return out;
  }
}

/** True on a little-endian machine: how the bytes of a 32-bit word are laid out in memory. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * Below this many bytes a payload is masked byte by byte: the two typed-array
 * views of the word loop cost more than they save on a small payload.
 */
const WORDS_FROM = 256;

/**
 * Writes `src` XOR the repeated key `k0 k1 k2 k3` (starting at key offset 0)
 * into `dst` from offset `d` (room for all of `src`; may be `src` itself with
 * `d` 0). 32 bits at a time where `src` and the destination sit at the same
 * offset modulo 4 in their memory, byte by byte otherwise and at the ends.
 */
function xorKey(src: Uint8Array, dst: Uint8Array, d: number, k0: number, k1: number, k2: number, k3: number): void {
  const n = src.length;
  let i = 0;
  if (n >= WORDS_FROM && ((src.byteOffset ^ (dst.byteOffset + d)) & 3) === 0) {
    const lead = (4 - (src.byteOffset & 3)) & 3;
    const key = [k0, k1, k2, k3];
    for (; i < lead; i++) dst[d + i] = (src[i] as number) ^ (key[i] as number);
    // The key as it lines up with the words that start at `lead`, in memory order.
    const a = key[lead & 3] as number;
    const b = key[(lead + 1) & 3] as number;
    const c = key[(lead + 2) & 3] as number;
    const e = key[(lead + 3) & 3] as number;
    const k = LITTLE_ENDIAN ? a | (b << 8) | (c << 16) | (e << 24) : (a << 24) | (b << 16) | (c << 8) | e;
    const words = (n - lead) >>> 2;
    const sw = new Int32Array(src.buffer, src.byteOffset + lead, words);
    const dw = src === dst && d === 0 ? sw : new Int32Array(dst.buffer, dst.byteOffset + d + lead, words);
    let j = 0;
    for (; j + 4 <= words; j += 4) {
      dw[j] = (sw[j] as number) ^ k;
      dw[j + 1] = (sw[j + 1] as number) ^ k;
      dw[j + 2] = (sw[j + 2] as number) ^ k;
      dw[j + 3] = (sw[j + 3] as number) ^ k;
    }
    for (; j < words; j++) dw[j] = (sw[j] as number) ^ k;
    for (i = lead + (words << 2); i < n; i++) dst[d + i] = (src[i] as number) ^ (key[i & 3] as number);
    return;
  }
  for (; i + 4 <= n; i += 4) {
    dst[d + i] = (src[i] as number) ^ k0;
    dst[d + i + 1] = (src[i + 1] as number) ^ k1;
    dst[d + i + 2] = (src[i + 2] as number) ^ k2;
    dst[d + i + 3] = (src[i + 3] as number) ^ k3;
  }
  if (i < n) dst[d + i] = (src[i] as number) ^ k0;
  if (i + 1 < n) dst[d + i + 1] = (src[i + 1] as number) ^ k1;
  if (i + 2 < n) dst[d + i + 2] = (src[i + 2] as number) ^ k2;
}

/** Masks `data` in place with `key` (4 bytes), starting at key offset 0. */
export function mask(data: Buffer, key: Buffer): void {
  xorKey(data, data, 0, key[0] as number, key[1] as number, key[2] as number, key[3] as number);
}

/**
 * Random bytes for masking keys, drawn from the CSPRNG in blocks: one
 * `randomFillSync` per {@link KEY_POOL_SIZE} / 4 frames instead of one per
 * frame (the call costs about a microsecond, more than framing a small
 * message). Every key is used once.
 */
const KEY_POOL_SIZE = 8192;
const keyPool = Buffer.allocUnsafe(KEY_POOL_SIZE);
let keyPoolAt = KEY_POOL_SIZE;

/** The offset in {@link keyPool} of 4 fresh random bytes. */
function takeKey(): number {
  if (keyPoolAt === KEY_POOL_SIZE) {
    randomFillSync(keyPool);
    keyPoolAt = 0;
  }
  const at = keyPoolAt;
  keyPoolAt += 4;
  return at;
}

/** A fresh random masking key (RFC 6455 §5.3: unpredictable, one per frame). */
export function newMaskKey(): Buffer {
  const at = takeKey();
  return Buffer.from(keyPool.subarray(at, at + 4));
}

/**
 * One client frame, masked with `key` (by default a fresh random one): the
 * header and the masked payload in one buffer. `payload` is not changed; it
 * is masked as it is copied (one pass), with the frame laid out so that its
 * payload sits at the same offset modulo 4 as `payload`'s bytes.
 */
export function encodeFrame(opcode: number, payload: Uint8Array, fin = true, rsv1 = false, key?: Uint8Array): Buffer {
  const len = payload.length;
  const head = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const size = head + 4 + len;
  let out: Buffer;
  if (len < WORDS_FROM) out = Buffer.allocUnsafe(size);
  else {
    // A few spare bytes in front, so that the payload can start at the right offset.
    const room = Buffer.allocUnsafe(size + 3);
    const skip = (payload.byteOffset - (room.byteOffset + head + 4)) & 3;
    out = room.subarray(skip, skip + size);
  }
  out[0] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
  if (len < 126) out[1] = 0x80 | len;
  else if (len < 65536) {
    out[1] = 0x80 | 126;
    out[2] = len >>> 8;
    out[3] = len & 0xff;
  } else {
    out[1] = 0x80 | 127;
    out.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
    out.writeUInt32BE(len >>> 0, 6);
  }
  const at = key === undefined ? takeKey() : 0;
  const src = key ?? keyPool;
  const k0 = src[at] as number;
  const k1 = src[at + 1] as number;
  const k2 = src[at + 2] as number;
  const k3 = src[at + 3] as number;
  out[head] = k0;
  out[head + 1] = k1;
  out[head + 2] = k2;
  out[head + 3] = k3;
  xorKey(payload, out, head + 4, k0, k1, k2, k3);
  return out;
}

/** The payload of a close frame: the code and a UTF-8 reason (at most 123 bytes). */
export function closePayload(code: number | undefined, reason: string | undefined): Buffer {
  if (code === undefined) return EMPTY;
  const r = Buffer.from(reason ?? '', 'utf8');
  const out = Buffer.allocUnsafe(2 + r.length);
  out.writeUInt16BE(code, 0);
  r.copy(out, 2);
  return out;
}

/** True for a close code a peer may send (RFC 6455 §7.4; 1005, 1006, 1015 are never sent). */
export function validCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}
