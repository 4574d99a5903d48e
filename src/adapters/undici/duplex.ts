/**
 * The socket undici's `onUpgrade` is handed: a Duplex over one stream of a
 * burrow connection — an HTTP/1.1 stream after its `101`, or a raw CONNECT
 * tunnel — at the end of the route's chain. Writes go out with `data()`;
 * the stream's data messages are pushed in, with message-count flow control
 * following the reader.
 */
import { Duplex } from 'node:stream';
import type { Connection } from '../../connection/connection.js';
import type { StreamRef } from '../../shared/stream-ref.js';

const EMPTY = Buffer.alloc(0);

/** Data messages delivered ahead of the reader. */
export const DUPLEX_WINDOW = 16;

/** @internal A Duplex over stream `ref` of `conn`; `onClose` runs once, when it is destroyed or both sides ended. */
export class StreamDuplex extends Duplex {
  readonly #conn: Connection;
  readonly #ref: StreamRef;
  readonly #onClose: () => void;
  /** Data messages pushed since flow credit last went back. */
  #owed = 0;
  #wantsMore = true;
  #ended = false;
  #closed = false;

  constructor(conn: Connection, ref: StreamRef, onClose: () => void) {
    // As undici's own sockets (net.Socket's default): the end of the peer's side ends ours.
    super({ allowHalfOpen: false });
    this.#conn = conn;
    this.#ref = ref;
    this.#onClose = onClose;
    this.once('close', () => this.#close());
  }

  /** A data message of the stream. */
  incoming(chunk: Buffer, fin: boolean): void {
    if (this.destroyed) return;
    if (chunk.length > 0) this.#wantsMore = this.push(chunk);
    if (fin) {
      this.#ended = true;
      this.push(null);
      return;
    }
    this.#owed++;
    if (this.#wantsMore && this.#owed >= DUPLEX_WINDOW / 2) this.#credit();
  }

  /** The stream failed or was closed under it. */
  failed(err: Error): void {
    this.#ended = true;
    this.destroy(err);
  }

  #credit(): void {
    const n = this.#owed;
    if (n === 0 || this.#ended) return;
    this.#owed = 0;
    this.#conn.updateFlow(this.#ref, n);
  }

  override _read(): void {
    this.#wantsMore = true;
    this.#credit();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.#conn.data(this.#ref, false, chunk).then(() => cb(), cb);
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.#conn.data(this.#ref, true, EMPTY).then(() => cb(), cb);
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    if (!this.#ended) {
      this.#ended = true;
      this.#conn.cancel(this.#ref);
    }
    cb(err);
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#onClose();
  }
}
