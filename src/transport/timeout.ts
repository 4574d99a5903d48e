/**
 * Runs an asynchronous step under a timeout and an abort signal, always
 * clearing its timer: the one place where stage timeouts are armed.
 */
import { BurrowError, type ErrorCode, type HopInfo } from '../errors/errors.js';

/** What a step needs to know to fail well. */
export interface StepContext {
  readonly hop: HopInfo;
  readonly signal: AbortSignal;
}

/** The error given to a step that was aborted because the connection closed. */
export function abortedError(hop: HopInfo): BurrowError {
  return new BurrowError('ERR_CLOSED', 'the connection was closed while connecting', { stage: 'state', hop });
}

/**
 * Runs `start(cleanup)` and settles with its result, or rejects with a timeout
 * error after `ms` (Infinity: never), or with ERR_CLOSED when `signal` aborts.
 * `onCancel` is called on timeout or abort, with the error the step fails with,
 * to release what the step holds. `during` names the stage waited for
 * (`dns`, `tcp`, `tls`, `socks-auth`, `socks-reply`…), read when the timer fires:
 * the timeout's `details.during`.
 */
export function withTimeout<T>(
  ctx: StepContext,
  ms: number,
  code: ErrorCode,
  what: string,
  during: string | (() => string),
  start: () => Promise<T>,
  onCancel: (reason: BurrowError) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (): boolean => {
      if (done) return false;
      done = true;
      if (timer !== undefined) clearTimeout(timer);
      ctx.signal.removeEventListener('abort', onAbort);
      return true;
    };
    const onAbort = (): void => {
      if (finish()) {
        const err = abortedError(ctx.hop);
        onCancel(err);
        reject(err);
      }
    };
    if (ctx.signal.aborted) {
      done = true;
      reject(abortedError(ctx.hop));
      return;
    }
    ctx.signal.addEventListener('abort', onAbort);
    if (ms !== Infinity) {
      timer = setTimeout(() => {
        if (finish()) {
          const err = new BurrowError(code, `${what} timed out after ${ms} ms`, { stage: 'timeout', hop: ctx.hop, details: { timeoutMs: ms, during: typeof during === 'string' ? during : during() } });
          onCancel(err);
          reject(err);
        }
      }, ms);
    }
    start().then(
      (v) => {
        if (finish()) resolve(v);
      },
      (e: unknown) => {
        if (finish()) reject(e);
      },
    );
  });
}
