/**
 * Fail-over: the step of `request()` that chooses among routes (a PAC
 * script's answer, `via` then `fallback`), trying each in order until one
 * carries the request. A route is given up, and the next tried, only when it
 * failed before the request could reach the origin (see
 * {@link failedBeforeOrigin}); any other failure is the request's. A route
 * that failed is remembered for `failoverTtl` ms (process-wide, at most
 * {@link MAX_DEAD_ROUTES}) and tried after the others meanwhile. The
 * request's signal and total timeout cover every attempt and the choice.
 */
import { BurrowError, type ErrorCode } from '../errors/errors.js';
import { checkTimeout } from '../shared/options/validate.js';
import type { RequestInit, RouteAttempt } from './init.js';
import type { Response } from './response.js';
import { alternativesOf, type Alternative } from './route-choice.js';
import { targetOf } from './target.js';

/** Default `failoverTtl`, ms. */
export const DEFAULT_FAILOVER_TTL = 30_000;
/** The most dead routes remembered. */
export const MAX_DEAD_ROUTES = 256;

/** `ERR_ALL_ROUTES_FAILED`: every route failed before reaching the origin; `attempts` has each with its error. */
export class AllRoutesFailedError extends BurrowError {
  /** Every route tried, in order, with its error. */
  readonly attempts: readonly RouteAttempt[];

  constructor(attempts: readonly RouteAttempt[]) {
    const lines = attempts.map((a, i) => `[${i + 1}] ${a.source} ${a.route.length === 0 ? 'direct' : a.route.join(' > ')}: ${a.error?.message ?? ''}`);
    super('ERR_ALL_ROUTES_FAILED', `every route failed (${attempts.length}): ${lines.join('; ')}`, {
      stage: 'route',
      cause: attempts[attempts.length - 1]?.error,
      details: { attempts: attempts.length },
    });
    this.attempts = attempts;
  }

  /** The errors of the attempts, in order (as an AggregateError's `errors`). */
  get errors(): readonly BurrowError[] {
    return this.attempts.map((a) => a.error as BurrowError);
  }
}

/** Failures that always happen before anything is sent: setting up a connection. */
const SETUP_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['ERR_DNS', 'ERR_LOOKUP_TIMEOUT', 'ERR_CONNECT', 'ERR_CONNECT_TIMEOUT', 'ERR_CONNECT_STATUS', 'ERR_CONNECT_RESPONSE_TIMEOUT', 'ERR_PAC_UNSUPPORTED']);
/** Failures of a TLS handshake: the route's fault only at a proxy (at the origin, every route would meet it). */
const TLS_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['ERR_TLS', 'ERR_TLS_HANDSHAKE_TIMEOUT', 'ERR_ALPN']);

/**
 * True when `e` says the route failed before the request could reach the
 * origin, so that another route may carry it: DNS, TCP connect, a proxy's TLS
 * handshake, a CONNECT refused or unanswered, any SOCKS failure, anything at
 * stage `connect-response`. Never a failure after a tunnel to the origin was
 * up (a closed connection, a reset stream, a timeout of the request).
 */
export function failedBeforeOrigin(e: unknown): e is BurrowError {
  if (!(e instanceof BurrowError)) return false;
  if (SETUP_CODES.has(e.code)) return true;
  if (e.code.startsWith('ERR_SOCKS')) return true;
  if (e.stage === 'connect-response') return true;
  if (TLS_CODES.has(e.code)) return e.hop !== undefined && e.hop.kind !== 'origin';
  return false;
}

/** Routes that failed, by their masked chain: until when they are tried last. */
const dead = new Map<string, number>();

function keyOf(a: Alternative): string {
  if (a.error !== undefined && a.error.stage === 'pac' && a.error.code !== 'ERR_PAC_UNSUPPORTED') return `script ${a.source}`;
  return a.label.length === 0 ? 'direct' : a.label.join(' > ');
}

function isDead(key: string, now: number): boolean {
  const until = dead.get(key);
  if (until === undefined) return false;
  if (until > now) return true;
  dead.delete(key);
  return false;
}

function markDead(key: string, ttl: number): void {
  if (ttl <= 0) return;
  dead.delete(key);
  dead.set(key, Date.now() + ttl);
  while (dead.size > MAX_DEAD_ROUTES) dead.delete(dead.keys().next().value as string);
}

/** Forgets every dead route (tests). */
export function forgetDeadRoutes(): void {
  dead.clear();
}

function report(init: RequestInit, attempt: RouteAttempt): void {
  try {
    init.onRoute?.(attempt);
  } catch {
    // A failing observer does not change the request.
  }
}

/** Settles with `p`, or rejects when the signal aborts or the deadline (performance.now()) passes first. */
function bounded<T>(p: Promise<T>, signal: AbortSignal | undefined, deadline: number, totalMs: number): Promise<T> {
  if (signal === undefined && deadline === Infinity) return p;
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const done = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = (): void => {
      done();
      reject(new BurrowError('ERR_ABORTED', 'the request was aborted (waiting for the route choice)', { stage: 'state', cause: signal?.reason, details: { during: 'pac' } }));
    };
    p.then(
      (v) => {
        done();
        resolve(v);
      },
      (e: unknown) => {
        done();
        reject(e);
      },
    );
    if (signal?.aborted === true) return onAbort();
    signal?.addEventListener('abort', onAbort);
    if (deadline !== Infinity) {
      timer = setTimeout(() => {
        done();
        reject(new BurrowError('ERR_REQUEST_TIMEOUT', `the request did not complete within ${totalMs} ms (waiting for the route choice)`, { stage: 'timeout', details: { timeoutMs: totalMs, during: 'pac' } }));
      }, Math.max(0, deadline - performance.now()));
    }
  });
}

/** The route-choice step: tries the routes of the call in order with `next` (the steps below). */
export async function failover(url: string | URL, init: RequestInit, next: (url: string | URL, init: RequestInit) => Promise<Response>): Promise<Response> {
  const started = performance.now();
  const target = targetOf(url);
  const totalMs = checkTimeout('timeouts.total', init.timeouts?.total, Infinity);
  const ttl = checkTimeout('failoverTtl', init.failoverTtl, DEFAULT_FAILOVER_TTL);
  const deadline = started + totalMs;
  if (init.signal?.aborted === true) throw new BurrowError('ERR_ABORTED', 'the request was aborted', { stage: 'state', cause: init.signal.reason });
  const alternatives = await bounded(alternativesOf(target, init), init.signal, deadline, totalMs);
  const now = Date.now();
  const live: Alternative[] = [];
  const remembered: Alternative[] = [];
  for (const a of alternatives) (isDead(keyOf(a), now) ? remembered : live).push(a);
  const ordered = [...live, ...remembered];
  const attempts: RouteAttempt[] = [];
  for (const a of ordered) {
    const wasDead = remembered.includes(a);
    let error: BurrowError;
    if (a.error !== undefined) {
      if (ordered.length === 1) throw a.error;
      error = a.error;
    } else {
      const left = totalMs === Infinity ? undefined : Math.floor(deadline - performance.now());
      if (left !== undefined && left <= 0) throw new BurrowError('ERR_REQUEST_TIMEOUT', `the request did not complete within ${totalMs} ms (${attempts.length} routes failed)`, { stage: 'timeout', details: { timeoutMs: totalMs } });
      report(init, { route: a.label, source: a.source, outcome: 'trying', error: undefined, remembered: wasDead });
      const attemptInit: RequestInit = { ...init, via: a.via, pac: undefined, fallback: undefined, timeouts: { ...init.timeouts, ...(left !== undefined ? { total: left } : {}) } };
      try {
        const res = await next(url, attemptInit);
        dead.delete(keyOf(a));
        report(init, { route: a.label, source: a.source, outcome: 'taken', error: undefined, remembered: wasDead });
        return res;
      } catch (e) {
        if (!failedBeforeOrigin(e) || ordered.length === 1) throw e;
        error = e;
      }
    }
    markDead(keyOf(a), ttl);
    const attempt: RouteAttempt = { route: a.label, source: a.source, outcome: 'failed', error, remembered: wasDead };
    attempts.push(attempt);
    report(init, attempt);
  }
  throw new AllRoutesFailedError(attempts);
}
