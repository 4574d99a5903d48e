/**
 * The reconnection decision: after a failed attempt, the user's `retryFn`
 * (Gun's default: first retry at once, then every `retryTimeout`) says how
 * many retries are left and how long to wait.
 */
import { BurrowError } from '../errors/errors.js';
import type { RetryFunction } from '../shared/options/open.js';

/** What to do after a failed attempt. */
export interface RetryPlan {
  /** Retries left after the next attempt. */
  readonly retries: number;
  /** Delay before the next attempt, ms. */
  readonly delay: number;
}

/**
 * Asks `retryFn` for the next attempt. A decision that is not a number of
 * retries ends the retries rather than looping forever; a delay that is not a
 * number is `retryTimeout`. Throws `ERR_INVALID_OPTION` when `retryFn` throws.
 */
export function nextRetry(retryFn: RetryFunction, retriesLeft: number, opts: { retry: number; retryTimeout: number }): RetryPlan {
  let d: unknown;
  try {
    d = retryFn(retriesLeft, { retry: opts.retry, retryTimeout: opts.retryTimeout });
  } catch (e) {
    throw new BurrowError('ERR_INVALID_OPTION', `retryFn threw: ${(e as Error).message}`, { stage: 'options', cause: e, details: { option: 'retryFn' } });
  }
  const r = typeof d === 'object' && d !== null ? (d as { retries?: unknown; timeout?: unknown }) : {};
  return {
    retries: typeof r.retries === 'number' && Number.isFinite(r.retries) ? Math.max(0, Math.floor(r.retries)) : 0,
    delay: typeof r.timeout === 'number' && Number.isFinite(r.timeout) ? Math.min(Math.max(0, r.timeout), 2 ** 31 - 1) : opts.retryTimeout,
  };
}
