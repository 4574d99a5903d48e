/**
 * The bounds of one `request()` call across all its exchanges (redirects
 * followed, retries): the user's abort signal and the total timeout, as one
 * abort signal and one timer for the whole call. Each exchange holds the
 * scope while it runs (its body included) and the call holds it until it
 * settles; the timer and the signal listener go when the last hold is
 * released.
 */
import { BurrowError } from '../errors/errors.js';
import { checkTimeout } from '../shared/options/validate.js';
import type { RequestInit } from './init.js';

/** Where a scope travels inside a `RequestInit` (a symbol key: kept by `{ ...init }` copies of the steps between). */
export const CALL_SCOPE: unique symbol = Symbol('burrow.callScope');

/** @internal A `RequestInit` that may carry its call's scope. */
export type ScopedInit = RequestInit & { [CALL_SCOPE]?: CallScope };

/** @internal The abort signal and total timeout of one call. */
export class CallScope {
  readonly #ac = new AbortController();
  readonly #user: AbortSignal | undefined;
  readonly #onUserAbort: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #holds = 1;
  /** Why the call was aborted (`ERR_ABORTED` with the user's reason as cause, or `ERR_REQUEST_TIMEOUT`), once it was. */
  error: BurrowError | undefined;

  constructor(signal: AbortSignal | undefined, total: number) {
    this.#user = signal;
    if (signal !== undefined) {
      const onUserAbort = (): void => this.#abort(new BurrowError('ERR_ABORTED', 'the request was aborted', { stage: 'state', cause: signal.reason }));
      this.#onUserAbort = onUserAbort;
      if (signal.aborted) onUserAbort();
      else signal.addEventListener('abort', onUserAbort);
    }
    if (total !== Infinity && this.error === undefined) {
      this.#timer = setTimeout(() => this.#abort(new BurrowError('ERR_REQUEST_TIMEOUT', `the request did not complete within ${total} ms`, { stage: 'timeout', details: { timeoutMs: total } })), total);
    }
  }

  /** Aborts when the call is aborted or times out; its reason is {@link error}. */
  get signal(): AbortSignal {
    return this.#ac.signal;
  }

  #abort(e: BurrowError): void {
    if (this.error !== undefined) return;
    this.error = e;
    this.#dispose();
    this.#ac.abort(e);
  }

  /** One more user of the scope (an exchange starting). */
  hold(): void {
    this.#holds++;
  }

  /** A user is done; the last one stops the timer and forgets the user's signal. */
  release(): void {
    if (--this.#holds === 0) this.#dispose();
  }

  #dispose(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#onUserAbort !== undefined) this.#user?.removeEventListener('abort', this.#onUserAbort);
  }
}

/**
 * `init` with a scope for the whole call when it has a signal or a total timeout (else `init` itself, and no
 * scope: nothing to bound). Throws `ERR_INVALID_OPTION` for a bad signal or timeout.
 */
export function scoped(init: RequestInit): { init: ScopedInit; scope: CallScope | undefined } {
  const signal = init.signal;
  const totalOpt = init.timeouts?.total;
  if (signal === undefined && totalOpt === undefined) return { init, scope: undefined };
  if ((init as ScopedInit)[CALL_SCOPE] !== undefined) return { init, scope: undefined };
  if (signal !== undefined && !(typeof signal === 'object' && signal !== null && typeof signal.aborted === 'boolean' && typeof signal.addEventListener === 'function')) {
    throw new BurrowError('ERR_INVALID_OPTION', 'invalid option signal: an AbortSignal', { stage: 'options', details: { option: 'signal' } });
  }
  const scope = new CallScope(signal, checkTimeout('timeouts.total', totalOpt, Infinity));
  return { init: { ...init, [CALL_SCOPE]: scope }, scope };
}

/** Waits `ms`, or rejects at once with the scope's error when the call is aborted (the timer is then cleared). */
export function sleep(ms: number, scope: CallScope | undefined): Promise<void> {
  if (scope?.error !== undefined) return Promise.reject(scope.error);
  return new Promise<void>((resolve, reject) => {
    const signal = scope?.signal;
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(scope?.error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
