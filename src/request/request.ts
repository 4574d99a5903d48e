/**
 * `request(url, { via })`: one call, through any proxy chain, with
 * connection reuse. Built on the connection API (open/connect/request):
 * each exchange is exchange.ts's; the steps around it are composed here.
 */
import type { RequestCallContext } from '../shared/events.js';
import { maskUrl } from '../shared/redact.js';
import { REQUEST_TRACE, tracing } from '../observe/channels.js';
import { exchange } from './exchange.js';
import { decompressed } from './decompress.js';
import { withCookies } from './cookies.js';
import { failover } from './failover.js';
import { choosesRoute } from './route-choice.js';
import type { RequestInit } from './init.js';
import { parseProxyChain, rememberedProxyUrl } from './proxy-url.js';
import { followRedirects, type Hop } from './redirect.js';
import { withRetries } from './retry.js';
import { scoped } from './scope.js';
import type { Response } from './response.js';

export type { RequestBody, RequestInit, RouteAttempt, ViaEntry } from './init.js';
export type { RedirectInfo, RedirectMode, RedirectOverride, RetryInfo, RetryOptions } from './init.js';
export type { Hop } from './redirect.js';
export { routeHops } from './init.js';

/**
 * Sends one HTTP request to `url`, through the proxies of `via` (or the
 * environment's), and resolves with the {@link Response} once its headers
 * arrive; the body streams. Rejects with a {@link BurrowError} naming the hop
 * and the stage.
 *
 * @example
 * ```ts
 * const res = await request('https://example.com/', { via: ['h2://proxy:443', 'socks5h://10.0.0.2:1080'] });
 * console.log(res.status, await res.text());
 * ```
 */
export function request(url: string | URL, init: RequestInit = {}): Promise<Response> {
  if (!tracing(REQUEST_TRACE)) return send(url, init);
  const ctx: RequestCallContext = { method: (typeof init.method === 'string' ? init.method : 'GET').toUpperCase(), url: maskUrl(url), via: viaForTrace(init.via) };
  return REQUEST_TRACE.tracePromise(async () => {
    const res = await send(url, init);
    ctx.response = { status: res.status, version: res.version, connection: res.info.connection, stream: res.info.stream };
    return res;
  }, ctx);
}

/** The proxy chain of a request, passwords masked, for the `burrow:request` tracing channel. */
function viaForTrace(via: RequestInit['via']): string[] {
  try {
    if (via === undefined) return [];
    if (typeof via === 'string') return parseProxyChain(via).map((h) => h.url);
    return via.map((e, i) => rememberedProxyUrl(typeof e === 'string' || e instanceof URL ? e : e.url, `via[${i}]`).url);
  } catch {
    return [];
  }
}

/**
 * The steps of one call, outermost first: redirects → retries → route choice → cookies → exchange, with
 * decompression applied to the final response. Each step is a {@link Hop}, `(url, init) => Promise<Response>`,
 * given the step below it as `next`: it may call it several times (a redirect, a retry), with another URL
 * or another `init` (copies made with `{ ...init }`, which keep the call's scope). The call's signal and
 * total timeout bound every step (scope.ts): one timer for the whole call, held until the last body ends.
 */
function send(url: string | URL, init: RequestInit): Promise<Response> {
  let s: ReturnType<typeof scoped>;
  try {
    s = scoped(init);
  } catch (e) {
    return Promise.reject(e);
  }
  const p = decompressed(url, s.init, redirecting);
  const scope = s.scope;
  if (scope === undefined) return p;
  return p.then(
    (r) => {
      scope.release();
      return r;
    },
    (e: unknown) => {
      scope.release();
      throw e;
    },
  );
}

/** Route choice (PAC, `fallback`) when the call has one, then the exchange (with its cookie step). */
function chooseRoute(url: string | URL, init: RequestInit): Promise<Response> {
  const next = init.cookies === undefined ? exchange : exchangeWithCookies;
  if (choosesRoute(url, init)) return failover(url, init, next);
  return next(url, init);
}

/** The cookie step, innermost: around each exchange (each redirect hop, each retry attempt, each route tried). */
function exchangeWithCookies(url: string | URL, init: RequestInit): Promise<Response> {
  return withCookies(url, init, init.cookies as NonNullable<RequestInit['cookies']>, exchange);
}

/** The redirect chain (its final response is the one decompression decodes). */
const redirecting: Hop = (url, init) => followRedirects(url, init, perHop);

/** One hop of a redirect chain: its attempts, each through the route choice, the cookie step and the exchange. */
const perHop: Hop = (url, init) => withRetries(url, init, chooseRoute);
