/**
 * The retry step of `request()`: sends again an attempt that failed in a way
 * that another attempt may not, when sending it again is safe.
 *
 * - A request that was never handed to a connection (its route did not come
 *   up: DNS, TCP, TLS, a CONNECT or SOCKS5 answer at any hop — the error names
 *   that hop — or the pool could not lease) cannot have reached the origin: it
 *   is retried whatever its method, streamed body included (it was not read).
 * - Otherwise only the `methods` (idempotent ones by default), only when no
 *   response byte arrived (the failure came before the head) and only when the
 *   body was not streamed (an async iterable is read once).
 * - Which failures: transient ones of the connection (refused, reset, closed,
 *   timed out while coming up, a stream refused or a GOAWAY). Not a TLS or DNS
 *   failure, a refused CONNECT, a bad answer, nor the call's own abort/timeout.
 * - Responses with a status of `statusCodes` (408, 429, 503) for the `methods`,
 *   after `Retry-After` (seconds or an HTTP date) when it is not longer than
 *   `maxRetryAfter` (else the response is returned).
 *
 * The next attempt goes through the steps below again: a route that failed is
 * not pooled (the pool drops a connection that is down or failed an HTTP/1.1
 * exchange), so a new one is opened; a response retried gives its connection
 * back first. Backoff waits end at once when the call is aborted or times out.
 * The error of the last attempt says how many were made (`details.attempts`).
 */
import { BurrowError, type ErrorCode } from '../errors/errors.js';
import { drain } from './drain.js';
import { wasNotSent } from './exchange.js';
import type { RequestBody, RequestInit, RetryInfo, RetryOptions } from './init.js';
import type { Hop } from './redirect.js';
import type { Response } from './response.js';
import { CALL_SCOPE, sleep, type ScopedInit } from './scope.js';

/** A retry policy, checked. */
interface Policy {
  readonly limit: number;
  readonly methods: ReadonlySet<string>;
  readonly statusCodes: ReadonlySet<number>;
  readonly backoff: (info: RetryInfo) => number;
  readonly maxRetryAfter: number;
}

/** Failures of the connection that a new attempt may not meet. */
const TRANSIENT: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'ERR_CONNECT',
  'ERR_CONNECT_TIMEOUT',
  'ERR_CONNECTION_CLOSED',
  'ERR_TUNNEL_CLOSED',
  'ERR_STREAM_RESET',
  'ERR_GOAWAY',
  'ERR_LOOKUP_TIMEOUT',
  'ERR_TLS_HANDSHAKE_TIMEOUT',
  'ERR_SOCKS_TIMEOUT',
  'ERR_CONNECT_RESPONSE_TIMEOUT',
]);

/** `100 · 2^(attempt-1)` ms, at most 5 s, times a random factor in [0.5, 1); `Retry-After` when there is one. */
export function defaultBackoff(info: RetryInfo): number {
  if (info.retryAfter !== undefined) return info.retryAfter;
  return Math.min(5000, 100 * 2 ** (info.attempt - 1)) * (0.5 + Math.random() / 2);
}

const DEFAULT: Policy = {
  limit: 2,
  methods: new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']),
  statusCodes: new Set([408, 429, 503]),
  backoff: defaultBackoff,
  maxRetryAfter: 10000,
};

function invalid(option: string, why: string): BurrowError {
  return new BurrowError('ERR_INVALID_OPTION', `invalid option ${option}: ${why}`, { stage: 'options', details: { option } });
}

/** The policy of `retry`; undefined for none. */
function policyOf(retry: RetryOptions | number | false | undefined): Policy | undefined {
  if (retry === undefined) return DEFAULT;
  if (retry === false) return undefined;
  if (typeof retry === 'number') {
    if (!Number.isInteger(retry) || retry < 0) throw invalid('retry', 'an integer >= 0, false or { limit, methods, statusCodes, backoff, maxRetryAfter }');
    return retry === 0 ? undefined : { ...DEFAULT, limit: retry };
  }
  if (typeof retry !== 'object' || retry === null) throw invalid('retry', 'an integer >= 0, false or { limit, methods, statusCodes, backoff, maxRetryAfter }');
  const { limit, methods, statusCodes, backoff, maxRetryAfter } = retry;
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) throw invalid('retry.limit', 'an integer >= 0');
  if (methods !== undefined && !(Array.isArray(methods) && methods.every((m) => typeof m === 'string'))) throw invalid('retry.methods', 'a list of method names');
  if (statusCodes !== undefined && !(Array.isArray(statusCodes) && statusCodes.every((s) => Number.isInteger(s) && s >= 100 && s <= 999))) {
    throw invalid('retry.statusCodes', 'a list of status codes');
  }
  if (backoff !== undefined && typeof backoff !== 'function') throw invalid('retry.backoff', 'a function');
  if (maxRetryAfter !== undefined && !(typeof maxRetryAfter === 'number' && maxRetryAfter >= 0)) throw invalid('retry.maxRetryAfter', 'a number of ms >= 0');
  const p: Policy = {
    limit: limit ?? DEFAULT.limit,
    methods: methods === undefined ? DEFAULT.methods : new Set(methods.map((m) => m.toUpperCase())),
    statusCodes: statusCodes === undefined ? DEFAULT.statusCodes : new Set(statusCodes),
    backoff: backoff ?? DEFAULT.backoff,
    maxRetryAfter: maxRetryAfter ?? DEFAULT.maxRetryAfter,
  };
  return p.limit === 0 ? undefined : p;
}

/** A `Retry-After` value in ms (0 for a date in the past); undefined when absent or not understood. */
export function retryAfterMs(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function isStreamed(body: RequestBody | null | undefined): boolean {
  return body !== null && body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array);
}

/** One call's attempts. */
class Attempts {
  readonly #url: string | URL;
  readonly #init: RequestInit;
  readonly #next: Hop;
  readonly #policy: Policy;
  /** The method may be sent again after it may have reached the origin. */
  readonly #repeatable: boolean;
  /** Attempts made so far. */
  made = 1;

  constructor(url: string | URL, init: RequestInit, next: Hop, policy: Policy) {
    this.#url = url;
    this.#init = init;
    this.#next = next;
    this.#policy = policy;
    this.#repeatable = policy.methods.has((init.method ?? 'GET').toUpperCase()) && !isStreamed(init.body);
  }

  /** The delay before the next attempt after failure `e`, or undefined when it is not retried. */
  afterError(e: unknown): number | undefined {
    if (this.made > this.#policy.limit || !(e instanceof BurrowError) || !TRANSIENT.has(e.code)) return undefined;
    if (!this.#repeatable && !wasNotSent(e)) return undefined;
    return this.#delay({ attempt: this.made, error: e, status: undefined, retryAfter: undefined });
  }

  /** The delay before the next attempt after response `res`, or undefined when it is returned. */
  afterResponse(res: Response): number | undefined {
    if (this.made > this.#policy.limit || !this.#repeatable || !this.#policy.statusCodes.has(res.status)) return undefined;
    const retryAfter = retryAfterMs(res.header('retry-after'), Date.now());
    if (retryAfter !== undefined && retryAfter > this.#policy.maxRetryAfter) return undefined;
    return this.#delay({ attempt: this.made, error: undefined, status: res.status, retryAfter });
  }

  #delay(info: RetryInfo): number {
    const ms = this.#policy.backoff(info);
    return Number.isFinite(ms) && ms > 0 ? ms : 0;
  }

  /** The error of the last attempt, saying how many were made. */
  final(e: unknown): unknown {
    return this.made > 1 && e instanceof BurrowError ? e.withDetails({ attempts: this.made }, ` (after ${this.made} attempts)`) : e;
  }

  async again(delay: number, dropped: Response | undefined): Promise<Response> {
    const scope = (this.#init as ScopedInit)[CALL_SCOPE];
    let wait = delay;
    let last = dropped;
    for (;;) {
      if (last !== undefined) await drain(last);
      try {
        await sleep(wait, scope);
      } catch (e) {
        throw this.final(e);
      }
      this.made++;
      let res: Response;
      try {
        res = await this.#next(this.#url, this.#init);
      } catch (e) {
        const d = this.afterError(e);
        if (d === undefined) throw this.final(e);
        wait = d;
        last = undefined;
        continue;
      }
      const d = this.afterResponse(res);
      if (d === undefined) return res;
      wait = d;
      last = res;
    }
  }
}

/** Sends `init` to `url` through `next`, retrying as `init.retry` says. */
export function withRetries(url: string | URL, init: RequestInit, next: Hop): Promise<Response> {
  let policy: Policy | undefined;
  try {
    policy = policyOf(init.retry);
  } catch (e) {
    return Promise.reject(e);
  }
  if (policy === undefined) return next(url, init);
  const p = policy;
  return next(url, init).then(
    (res) => {
      // Most responses: one set lookup, nothing allocated.
      if (!p.statusCodes.has(res.status)) return res;
      const attempts = new Attempts(url, init, next, p);
      const d = attempts.afterResponse(res);
      return d === undefined ? res : attempts.again(d, res);
    },
    (e: unknown) => {
      const attempts = new Attempts(url, init, next, p);
      const d = attempts.afterError(e);
      if (d === undefined) throw e;
      return attempts.again(d, undefined);
    },
  );
}
