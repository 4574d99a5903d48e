/**
 * User callbacks and re-entrancy. A connection calls user code (a `replyTo`
 * function, `message`/`up`/`down`/`close`/`notify`/`error` listeners) from
 * inside its own event handlers, often while a protocol layer is in the middle
 * of a chunk of input. Two rules keep it consistent whatever that code does:
 *
 * - a call on the connection made from inside a callback (`request()`,
 *   `connect()`, `data()`, `cancel()`, `updateFlow()`, `ping()`,
 *   `shutdown()`, `close()`) takes effect once the connection has finished
 *   handling the event that called the callback: it is queued, in call order,
 *   and run in a microtask. Calls made meanwhile from outside a callback queue
 *   behind it, so calls always take effect in the order they were made;
 * - an exception thrown by a callback never unwinds the connection: it is
 *   reported once, as an `ERR_CALLBACK` error event when the connection has an
 *   `error` listener, else re-thrown on the next tick (an uncaught exception,
 *   as for any throwing event listener).
 */

/** Where an exception of a callback goes. */
export type CallbackErrorSink = (error: unknown, callback: string) => void;

/** Counts callbacks in progress and queues the calls they make. */
export class CallbackGuard {
  #depth = 0;
  readonly #queued: Array<() => void> = [];
  #scheduled = false;
  readonly #report: CallbackErrorSink;

  constructor(report: CallbackErrorSink) {
    this.#report = report;
  }

  /** True inside a callback, or while calls made from one wait to run. */
  get busy(): boolean {
    return this.#depth > 0 || this.#queued.length > 0;
  }

  /** True inside a callback. */
  get inCallback(): boolean {
    return this.#depth > 0;
  }

  /** Calls `fn(arg)` as a callback: what it calls on the connection is queued; what it throws is reported. */
  call<T>(fn: (arg: T) => void, arg: T, callback: string): void {
    this.#depth++;
    try {
      fn(arg);
    } catch (e) {
      this.#report(e, callback);
    } finally {
      this.#depth--;
    }
  }

  /** Runs `command` now, or queues it behind the callback in progress (and what was queued before). */
  run(command: () => void): void {
    if (!this.busy) {
      command();
      return;
    }
    this.#queued.push(command);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(this.#flush);
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    // A queued command may call callbacks that queue more: they run in this same loop, in order.
    while (this.#queued.length > 0 && this.#depth === 0) {
      const command = this.#queued[0] as () => void;
      try {
        command();
      } catch (e) {
        this.#report(e, 'a queued call');
      } finally {
        this.#queued.shift();
      }
    }
    if (this.#queued.length > 0) this.#schedule();
  };
}
