/**
 * The WebSocket layer's writes to its transport. Frames written in one
 * synchronous run (a burst of sends, the answers to the messages of one read)
 * go out in one write of the transport (one system call, one TLS record): the
 * transport is corked at the first and uncorked in a microtask, so a send's
 * frames are on the transport by the time the promise it returned settles.
 * Sends waiting for the transport's `drain` share one wait.
 */
import type { Duplex } from 'node:stream';

const RESOLVED = Promise.resolve();

/** Batched writes and the drain wait of one transport. */
export class BatchedWrites {
  readonly #duplex: Duplex;
  /** The transport is corked until the current run's microtasks. */
  #corked = false;
  /** Resolves on the transport's next `drain` (or `close`): shared by every send waiting for it. */
  #drained: Promise<void> | undefined;

  constructor(duplex: Duplex) {
    this.#duplex = duplex;
  }

  /** Writes `frame` in the current batch; false when the transport asks to wait for its drain. */
  write(frame: Buffer): boolean {
    if (!this.#corked) {
      this.#corked = true;
      this.#duplex.cork();
      queueMicrotask(this.flush);
    }
    return this.#duplex.write(frame);
  }

  /** Hands the batch to the transport now (before it is ended or destroyed). */
  readonly flush = (): void => {
    if (!this.#corked) return;
    this.#corked = false;
    this.#duplex.uncork();
  };

  /** Resolves at once when `ok` (the transport took the last write), else once it drains or closes. */
  writable(ok: boolean): Promise<void> {
    const d = this.#duplex;
    // A destroyed transport never drains (and may have emitted its close already).
    if (ok || d.destroyed) return RESOLVED;
    if (this.#drained === undefined) {
      this.#drained = new Promise<void>((resolve) => {
        const done = (): void => {
          d.removeListener('drain', done);
          d.removeListener('close', done);
          this.#drained = undefined;
          resolve();
        };
        d.on('drain', done);
        d.on('close', done);
      });
    }
    return this.#drained;
  }
}
