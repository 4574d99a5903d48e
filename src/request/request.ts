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
import type { Response } from './response.js';

export type { RequestBody, RequestInit, RouteAttempt, ViaEntry } from './init.js';
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

/** The steps of one call, outermost first; decompression (and `maxResponseSize`) applies to the final response. */
function send(url: string | URL, init: RequestInit): Promise<Response> {
  return decompressed(url, init, chooseRoute);
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
