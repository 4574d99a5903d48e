/**
 * The messages of a WebSocket waiting for a reader (its async iterator or its
 * duplex view), in order, with the close or the failure that ends them. Each
 * message taken gives one message of credit back to the server.
 */
import type { BurrowError } from '../errors/errors.js';

/** A message as readers get it: text as a string, binary as a Buffer. */
export type WsMessageData = string | Buffer;

/** Messages for the readers of one WebSocket. */
export class MessageQueue {
  readonly #items: WsMessageData[] = [];
  #head = 0;
  #ended = false;
  #error: BurrowError | undefined;
  #wake: (() => void) | undefined;
  readonly #taken: (n: number) => void;

  /** @param taken told of each message a reader took (its credit goes back to the server) */
  constructor(taken: (n: number) => void) {
    this.#taken = taken;
  }

  /** Messages waiting. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  /** A message arrived; true: the queue gives its credit back when it is taken. */
  push(m: WsMessageData): boolean {
    if (this.#ended) return false;
    this.#items.push(m);
    this.#signal();
    return true;
  }

  /** The WebSocket closed: readers get what is queued, then the end. */
  end(): void {
    this.#ended = true;
    this.#signal();
  }

  /** The WebSocket failed: readers get what is queued, then `error`. */
  fail(error: BurrowError): void {
    this.#error ??= error;
    this.end();
  }

  /** The next message, undefined once ended; throws the failure after the queued messages. */
  take(): WsMessageData | undefined {
    if (this.#head < this.#items.length) {
      const m = this.#items[this.#head] as WsMessageData;
      this.#items[this.#head++] = '';
      if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
        this.#items.splice(0, this.#head);
        this.#head = 0;
      }
      this.#taken(1);
      return m;
    }
    if (this.#error !== undefined) throw this.#error;
    return undefined;
  }

  get ended(): boolean {
    return this.#ended && this.#head >= this.#items.length;
  }

  /** Resolves when a message, the end or a failure is there. */
  ready(): Promise<void> {
    if (this.length > 0 || this.#ended) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.#wake = resolve;
    });
  }

  #signal(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  /** An async iterator over the messages. */
  iterator(): AsyncIterator<WsMessageData> & AsyncIterable<WsMessageData> {
    const it: AsyncIterator<WsMessageData> & AsyncIterable<WsMessageData> = {
      next: async (): Promise<IteratorResult<WsMessageData>> => {
        for (;;) {
          const m = this.take();
          if (m !== undefined) return { value: m, done: false };
          if (this.#ended) return { value: undefined, done: true };
          await this.ready();
        }
      },
      return: (): Promise<IteratorResult<WsMessageData>> => Promise.resolve({ value: undefined, done: true }),
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }
}
