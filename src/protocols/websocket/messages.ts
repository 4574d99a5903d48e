/**
 * WebSocket messages from frames (RFC 6455 §5.4–5.6): fragments joined, control
 * frames passed through between them, compressed messages inflated, text
 * checked as UTF-8, close frames read, sizes bounded. Messages come out in the
 * order their frames came in, even while a compressed one is being inflated.
 */
import { isUtf8 } from 'node:buffer';
import {
  CLOSE_INVALID_PAYLOAD,
  CLOSE_PROTOCOL_ERROR,
  CLOSE_TOO_BIG,
  OP_BINARY,
  OP_CLOSE,
  OP_CONTINUATION,
  OP_PING,
  OP_PONG,
  OP_TEXT,
  validCloseCode,
  WsProtocolError,
  type RawFrame,
} from './frames.js';
import type { PerMessageDeflate } from './deflate.js';
import type { WsFrame } from '../../shared/messages.js';

export type { WsFrame };

const EMPTY = Buffer.alloc(0);

/** Assembles the messages of one connection. */
export class MessageAssembler {
  readonly #maxPayload: number;
  readonly #deflate: PerMessageDeflate | undefined;
  readonly #emit: (frame: WsFrame) => void;
  readonly #fail: (e: WsProtocolError) => void;
  /** The message being fragmented: its opcode, whether compressed, its parts. */
  #opcode = 0;
  #compressed = false;
  #parts: Buffer[] = [];
  #size = 0;
  /** Messages and control frames waiting behind a message being inflated, in order. */
  #pending: Array<Promise<WsFrame | undefined>> = [];
  #failed = false;
  #draining: Promise<void> = Promise.resolve();

  constructor(opts: { maxPayload: number; deflate: PerMessageDeflate | undefined }, emit: (frame: WsFrame) => void, fail: (e: WsProtocolError) => void) {
    this.#maxPayload = opts.maxPayload;
    this.#deflate = opts.deflate;
    this.#emit = emit;
    this.#fail = fail;
  }

  /** Takes one frame; emits what it completes (now, or once the messages before it are inflated). Throws a {@link WsProtocolError}. */
  push(f: RawFrame): void {
    if (this.#failed) return;
    const op = f.opcode;
    if (op >= OP_CLOSE) {
      this.#out(controlFrame(f));
      return;
    }
    if (op === OP_CONTINUATION) {
      if (this.#opcode === 0) throw new WsProtocolError(CLOSE_PROTOCOL_ERROR, 'a continuation frame with no message started');
    } else {
      if (this.#opcode !== 0) throw new WsProtocolError(CLOSE_PROTOCOL_ERROR, 'a new message started before the previous one ended');
      this.#opcode = op;
      this.#compressed = f.rsv1;
    }
    this.#size += f.payload.length;
    if (this.#size > this.#maxPayload) throw new WsProtocolError(CLOSE_TOO_BIG, `a message larger than maxPayload (${this.#maxPayload} bytes)`);
    if (f.payload.length > 0) this.#parts.push(f.payload);
    if (!f.fin) return;
    const opcode = this.#opcode;
    const compressed = this.#compressed;
    const data = this.#parts.length === 0 ? EMPTY : this.#parts.length === 1 ? (this.#parts[0] as Buffer) : Buffer.concat(this.#parts, this.#size);
    this.#opcode = 0;
    this.#compressed = false;
    this.#parts = [];
    this.#size = 0;
    if (!compressed) {
      this.#out(dataFrame(opcode, data));
      return;
    }
    const deflate = this.#deflate;
    if (deflate === undefined) throw new WsProtocolError(CLOSE_PROTOCOL_ERROR, 'a compressed message without permessage-deflate');
    this.#out(deflate.decompress(data).then((plain) => dataFrame(opcode, plain)));
  }

  /** True while messages wait for one being inflated. */
  get busy(): boolean {
    return this.#pending.length > 0;
  }

  #out(frame: WsFrame | Promise<WsFrame>): void {
    if (!(frame instanceof Promise) && this.#pending.length === 0) {
      this.#emit(frame);
      return;
    }
    const p = Promise.resolve(frame).then(
      (v) => v,
      (e: unknown) => {
        if (!this.#failed) {
          this.#failed = true;
          this.#fail(e instanceof WsProtocolError ? e : new WsProtocolError(CLOSE_INVALID_PAYLOAD, String(e)));
        }
        return undefined;
      },
    );
    this.#pending.push(p);
    if (this.#pending.length === 1) this.#draining = this.#drain();
  }

  /** Resolves once every message taken so far is emitted (or the assembler failed or stopped). */
  settled(): Promise<void> {
    return this.#draining;
  }

  async #drain(): Promise<void> {
    while (this.#pending.length > 0) {
      let f: WsFrame | undefined;
      try {
        f = await (this.#pending[0] as Promise<WsFrame | undefined>);
      } catch (e) {
        f = undefined;
        if (!this.#failed) {
          this.#failed = true;
          this.#fail(e instanceof WsProtocolError ? e : new WsProtocolError(CLOSE_INVALID_PAYLOAD, String(e)));
        }
      }
      this.#pending.shift();
      if (this.#failed) {
        this.#pending = [];
        return;
      }
      if (f !== undefined) {
        try {
          this.#emit(f);
        } catch (e) {
          this.#failed = true;
          this.#pending = [];
          this.#fail(e instanceof WsProtocolError ? e : new WsProtocolError(CLOSE_PROTOCOL_ERROR, String(e)));
          return;
        }
      }
    }
  }

  /** Stops: nothing more is emitted. */
  stop(): void {
    this.#failed = true;
    this.#pending = [];
  }
}

/** A text or binary message; text must be UTF-8 (`1007` otherwise). */
function dataFrame(opcode: number, data: Buffer): WsFrame {
  if (opcode === OP_TEXT) {
    if (!isUtf8(data)) throw new WsProtocolError(CLOSE_INVALID_PAYLOAD, 'a text message that is not UTF-8');
    return { type: 'text', data: data.toString('utf8') };
  }
  if (opcode !== OP_BINARY) throw new WsProtocolError(CLOSE_PROTOCOL_ERROR, `opcode ${opcode} for a message`);
  return { type: 'binary', data };
}

/** A ping, pong or close frame. */
function controlFrame(f: RawFrame): WsFrame {
  switch (f.opcode) {
    case OP_PING:
      return { type: 'ping', data: f.payload };
    case OP_PONG:
      return { type: 'pong', data: f.payload };
    default: {
      const p = f.payload;
      if (p.length === 0) return { type: 'close', code: undefined, reason: '' };
      if (p.length === 1) throw new WsProtocolError(CLOSE_PROTOCOL_ERROR, 'a close frame with a one-byte payload');
      const code = p.readUInt16BE(0);
      if (!validCloseCode(code)) throw new WsProtocolError(CLOSE_PROTOCOL_ERROR, `a close frame with the invalid code ${code}`);
      const reason = p.subarray(2);
      if (!isUtf8(reason)) throw new WsProtocolError(CLOSE_INVALID_PAYLOAD, 'a close reason that is not UTF-8');
      return { type: 'close', code, reason: reason.toString('utf8') };
    }
  }
}
