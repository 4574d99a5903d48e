/**
 * A per-stream mailbox: messages wait here until `await`, `awaitBody` or an
 * async iterator takes them, in arrival order.
 */
import { BurrowError } from '../errors/errors.js';
import type { StreamMessage } from '../shared/messages.js';
import type { StreamRef } from '../shared/stream-ref.js';

interface Waiter {
  resolve(m: StreamMessage): void;
  reject(e: BurrowError): void;
  timer: NodeJS.Timeout | undefined;
}

/** Queue of one stream's messages plus the callers waiting for them. */
export class Mailbox {
  readonly ref: StreamRef;
  readonly #queue: StreamMessage[] = [];
  #head = 0;
  readonly #waiters: Waiter[] = [];
  /** The final message has arrived. */
  #ended = false;
  readonly #onDrained: () => void;

  constructor(ref: StreamRef, onDrained: () => void) {
    this.ref = ref;
    this.#onDrained = onDrained;
  }

  /** True when the final message has arrived and been taken. */
  get drained(): boolean {
    return this.#ended && this.#head >= this.#queue.length;
  }

  /** Messages waiting to be taken. */
  get size(): number {
    return this.#queue.length - this.#head;
  }

  /** Adds a message; `final` marks the stream's last one. */
  push(m: StreamMessage, final: boolean): void {
    if (this.#ended) return;
    if (final) this.#ended = true;
    const w = this.#waiters.shift();
    if (w) {
      if (w.timer) clearTimeout(w.timer);
      w.resolve(m);
      if (this.drained) this.#onDrained();
      return;
    }
    this.#queue.push(m);
  }

  /** The next message; rejects with ERR_AWAIT_TIMEOUT after `timeout` ms. */
  next(timeout: number): Promise<StreamMessage> {
    if (this.#head < this.#queue.length) {
      const m = this.#queue[this.#head] as StreamMessage;
      this.#queue[this.#head++] = undefined as unknown as StreamMessage;
      if (this.#head > 64 && this.#head * 2 > this.#queue.length) {
        this.#queue.splice(0, this.#head);
        this.#head = 0;
      }
      if (this.drained) this.#onDrained();
      return Promise.resolve(m);
    }
    if (this.#ended) {
      return Promise.reject(new BurrowError('ERR_STREAM_NOT_FOUND', `${this.ref} has no more messages`, { stage: 'state' }));
    }
    return new Promise((resolve, reject) => {
      const w: Waiter = { resolve, reject, timer: undefined };
      if (timeout !== Infinity) {
        w.timer = setTimeout(() => {
          const i = this.#waiters.indexOf(w);
          if (i >= 0) this.#waiters.splice(i, 1);
          reject(new BurrowError('ERR_AWAIT_TIMEOUT', `no message for ${this.ref} within ${timeout} ms`, { stage: 'timeout', details: { timeoutMs: timeout } }));
        }, timeout);
      }
      this.#waiters.push(w);
    });
  }

  /** Drops every message waiting to be taken; returns how many. A mailbox whose final message was among them is drained. */
  flush(): number {
    const n = this.#queue.length - this.#head;
    if (n === 0) return 0;
    this.#queue.length = 0;
    this.#head = 0;
    if (this.drained) this.#onDrained();
    return n;
  }

  /** Drops every queued message and ends the mailbox with `m` (a cancelled stream keeps only its error). */
  replaceWith(m: StreamMessage): void {
    this.#queue.length = 0;
    this.#head = 0;
    this.#ended = false;
    this.push(m, true);
  }

  /** Rejects every waiter (the mailbox is going away). */
  abort(e: BurrowError): void {
    for (const w of this.#waiters.splice(0)) {
      if (w.timer) clearTimeout(w.timer);
      w.reject(e);
    }
  }
}
