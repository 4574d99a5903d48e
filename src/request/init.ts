/**
 * What `request()` takes: its options, its body types and the hops of `via`
 * (or of the proxy environment variables) resolved to a route's hops.
 */
import { BurrowError } from '../errors/errors.js';
import type { CookieJar } from '../cookies/jar.js';
import type { HeaderList, HeadersInit } from '../shared/headers.js';
import type { EventHandler } from '../shared/events.js';
import type { LookupFunction } from '../shared/options/open.js';
import type { PacInit } from '../pac/options.js';
import type { TlsOptions } from '../shared/options/tls.js';
import { proxyForUrl, type ProxyEnv } from './env.js';
import type { Pool } from './pool.js';
import type { Response } from './response.js';
import { parseProxyChain, rememberedProxyUrl } from './proxy-url.js';
import type { RouteHop, ViaHopOptions } from './route.js';

/**
 * A request body: whole (string, bytes, `ArrayBuffer` or any typed array, `URLSearchParams`) or streamed (a
 * Readable, a web `ReadableStream`, a `Blob`, a `FormData`, any async iterable of chunks). `URLSearchParams`,
 * `Blob` and `FormData` set their `content-type` unless the headers have one.
 */
export type RequestBody =
  | string
  | Buffer
  | Uint8Array
  | AsyncIterable<Uint8Array | string>
  | ArrayBuffer
  | ArrayBufferView
  | Blob
  | FormData
  | URLSearchParams
  | ReadableStream<Uint8Array>;

/** One hop of `via`: a proxy URL, or a URL with options for that hop only. */
export type ViaEntry = string | URL | (ViaHopOptions & { url: string | URL });

/** Options of {@link request}. */
export interface RequestInit {
  /** Default `GET`. */
  method?: string;
  headers?: HeadersInit;
  body?: RequestBody | null;
  /**
   * The proxy chain, first hop first: proxy URLs (`http://`, `https://`, `h2c://`, `h2://`, `socks5://`,
   * `socks5h://`, `socks5s://`, `socks5hs://`, `socks4://`, `socks4a://`; credentials in the userinfo are for that
   * hop only, a SOCKS4 URL's user name is its user id), or
   * `{ url, tls, connectTimeout, tlsHandshakeTimeout, socksTimeout, auth }` for per-hop options (`auth`: docs/proxy-auth.md). A string may name a
   * chain (URLs separated by commas or spaces).
   */
  via?: readonly ViaEntry[] | string;
  /** When `via` is not given: take the chain from the proxy environment variables (`true`: process.env). */
  env?: boolean | ProxyEnv;
  /** Aborts the request (`ERR_ABORTED`). */
  signal?: AbortSignal;
  /** TLS options for the origin only. */
  tls?: TlsOptions;
  /**
   * Protocols for the origin: default `['http2', 'http']` for https, `['http']` for http (`['http2']`: prior
   * knowledge). `['http/1.0']` (alone): HTTP/1.0 requests, no keep-alive unless the server answers
   * `connection: keep-alive`, a streamed body needs a `content-length` (no chunked encoding).
   */
  protocols?: readonly ('http' | 'http2' | 'http/1.0')[];
  /** Timeouts, ms: TCP connect of the first hop, TLS handshake with the origin, response headers, whole request. */
  timeouts?: { connect?: number; tlsHandshake?: number; headers?: number; total?: number };
  /** Connection reuse: a {@link Pool}, or false for a connection of its own. Default: a shared pool. */
  pool?: Pool | false;
  /** Custom DNS lookup. */
  lookup?: LookupFunction;
  /**
   * A Unix domain socket to reach the first hop by, instead of TCP: the origin
   * (its URL still gives the `host` header and TLS's server name), or with
   * `via` the first proxy; the chain continues from there. curl's
   * `--unix-socket`, undici's `socketPath`.
   */
  socketPath?: string;
  /**
   * Methods called as the route's layers and the request's stream start, come up
   * and end (docs/events.md). A route's layer and connection events go to the
   * handler of the request that opened it; stream events to each request's own
   * only (a request without a handler: to none).
   */
  events?: EventHandler;
  /**
   * Decompression (default true): sends `accept-encoding: gzip, deflate, br` (and `zstd` on Node lines that
   * decode it) unless the headers have one, and decodes a `content-encoding` body as it streams (stacked codings
   * too); `content-encoding` and `content-length` are then left out of `res.headers` (the received ones are in
   * `res.decoded`). An unknown coding leaves the body as received. False: nothing sent, nothing decoded.
   */
  decompress?: boolean;
  /**
   * The most body bytes handed to the reader, counted after decoding (default: no bound). A larger body fails
   * with `ERR_RESPONSE_TOO_LARGE` and its stream is cancelled, whether or not it was compressed.
   */
  maxResponseSize?: number;
  /**
   * A {@link CookieJar}: its cookies for the URL are sent (after the `cookie` header given in `headers`, in
   * one header) and every `Set-Cookie` of the response is stored in it; at each redirect hop and retry
   * attempt. Cookies go to the origin only, never to a proxy (docs/cookies.md).
   */
  cookies?: CookieJar;
  /**
   * A PAC script that chooses the route (docs/pac.md): a URL (`http:`, `https:`, `file:`), a file path, the
   * script itself, or `{ url | script, tls, cpuTimeout, timeout, memoryLimit }`. The proxy it names is the first
   * hop, followed by the hops of `via` if any; its alternatives (`PROXY a; PROXY b; DIRECT`) are tried in order.
   * `via: ['pac+https://…']` and a `pac+…` proxy variable do the same.
   */
  pac?: PacInit;
  /** Chains (each like `via`) tried in order when the route fails before the request reached the origin. */
  fallback?: ReadonlyArray<readonly ViaEntry[] | string>;
  /** How long a route that failed is tried last, ms; default 30000 (0: not remembered). */
  failoverTtl?: number;
  /** Called as each route is tried, fails, or is taken (the route-choice step only: with `pac` or `fallback`). Exceptions it throws are ignored. */
  onRoute?: (attempt: RouteAttempt) => void;
  /**
   * What to do with a redirect (301, 302, 303, 307, 308 with a `Location`): `'follow'` it (default), hand
   * it back as the response (`'manual'`), or reject with `ERR_REDIRECT_REFUSED` (`'error'`). Followed: a 303
   * (any method but HEAD) and a 301/302 after a POST become a GET without the body and its `content-*`
   * headers; 307/308 (and 301/302 of other methods) send the same method and body again — a streamed body
   * cannot be, `ERR_BODY_NOT_REPLAYABLE`. To another origin, `authorization`, `cookie`,
   * `proxy-authorization` and the URL's credentials are not sent. Each redirect followed is in
   * {@link Response.redirects}; the route is chosen again for each URL (`via` applies to all, `env` decides
   * per origin). `timeouts.total` and `signal` bound the whole chain.
   */
  redirect?: RedirectMode;
  /** Most redirects followed before `ERR_TOO_MANY_REDIRECTS`; default 20. */
  maxRedirects?: number;
  /**
   * Called before each redirect is followed, with the redirect response and the next request. It may
   * return (or resolve to) `{ body, via }` for the next request: a fresh body where the first was
   * streamed, another chain. What it throws rejects the request as it is.
   */
  onRedirect?: (redirect: RedirectInfo) => void | RedirectOverride | Promise<void | RedirectOverride>;
  /**
   * Retries of failed attempts (request.ts's retry step, docs/api.md): a number is `{ limit }`, `false` or
   * 0 none. Default: 2 retries of idempotent methods (GET HEAD OPTIONS PUT DELETE TRACE) after a connection
   * failure with no response byte, or a 408/429/503 (its `Retry-After` honoured up to `maxRetryAfter`),
   * with exponential backoff and jitter. A request that was never handed to a connection (its route did
   * not come up) is retried whatever its method.
   */
  retry?: RetryOptions | number | false;
}

/** A route `request()` tried (`onRoute`, `ERR_ALL_ROUTES_FAILED`'s `attempts`). */
export interface RouteAttempt {
  /** The route's proxies, first hop first, passwords masked (`[]`: direct). */
  readonly route: readonly string[];
  /** Where it came from: the PAC script (with its directive), `via` (or the environment), or `fallback[i]`. */
  readonly source: string;
  /** `trying`: about to be tried; `failed`: it failed before reaching the origin (`error`); `taken`: it carried the request. */
  readonly outcome: 'trying' | 'failed' | 'taken';
  /** Why it failed; undefined otherwise. */
  readonly error: BurrowError | undefined;
  /** True when it was tried last because it had failed within `failoverTtl`. */
  readonly remembered: boolean;
}

/** See {@link RequestInit.redirect}. */
export type RedirectMode = 'follow' | 'manual' | 'error';

/** What {@link RequestInit.onRedirect} is told about a redirect about to be followed. */
export interface RedirectInfo {
  /** The redirect response (its body is drained after the callback returns). */
  readonly response: Response;
  /** Its status. */
  readonly status: number;
  /** The URL that answered with the redirect, its password masked. */
  readonly from: string;
  /** The URL followed next (credentials included when it is the same origin: mask it before showing it). */
  readonly to: URL;
  /** The method of the next request. */
  readonly method: string;
  /** The headers of the next request (`host` included when one was given). */
  readonly headers: HeaderList;
  /** True when the next request sends the body again. */
  readonly body: boolean;
  /** Names of the headers not sent to the new origin (empty when the origin is the same). */
  readonly dropped: readonly string[];
}

/** What {@link RequestInit.onRedirect} may change for the next request. */
export interface RedirectOverride {
  /** The body to send again (for a 307/308 after a streamed body). */
  body?: RequestBody | null;
  /** The proxy chain for the next URL. */
  via?: RequestInit['via'];
}

/** Options of {@link RequestInit.retry}. */
export interface RetryOptions {
  /** Retries after the first attempt; default 2. */
  limit?: number;
  /** Methods retried after the request may have reached the origin; default GET HEAD OPTIONS PUT DELETE TRACE. */
  methods?: readonly string[];
  /** Response statuses retried (for the methods above); default 408, 429, 503. */
  statusCodes?: readonly number[];
  /**
   * The delay before retry `attempt` (1 for the first retry), ms. Default: the response's `Retry-After`
   * when it has one, else `100 · 2^(attempt-1)` ms (at most 5 s) scaled by a random factor in [0.5, 1).
   */
  backoff?: (info: RetryInfo) => number;
  /** A `Retry-After` longer than this (ms) is not waited for: the response is returned as is. Default 10000. */
  maxRetryAfter?: number;
}

/** What {@link RetryOptions.backoff} is told about the failed attempt. */
export interface RetryInfo {
  /** 1 for the first retry. */
  readonly attempt: number;
  /** The failure, for a failed attempt. */
  readonly error: BurrowError | undefined;
  /** The status, for a response retried. */
  readonly status: number | undefined;
  /** The response's `Retry-After`, ms (0 for a date in the past), when it has one. */
  readonly retryAfter: number | undefined;
}

/** The hops of `via` (or of the proxy environment variables, with `env`) for a request to `href`. */
export function routeHops(via: RequestInit['via'], href: string, env: RequestInit['env']): RouteHop[] {
  if (via === undefined) {
    if (env === undefined || env === false) return [];
    return proxyForUrl(new URL(href), env === true ? process.env : env).map((proxy) => ({ proxy, options: {} }));
  }
  if (typeof via === 'string') return parseProxyChain(via).map((proxy) => ({ proxy, options: {} }));
  if (!Array.isArray(via)) throw new BurrowError('ERR_INVALID_OPTION', 'invalid option via: a list of proxy URLs or a string', { stage: 'options', details: { option: 'via' } });
  return via.map((entry, i) => {
    if (typeof entry === 'string' || entry instanceof URL) return { proxy: rememberedProxyUrl(entry, `via[${i}]`), options: {} };
    const { url, ...options } = entry;
    return { proxy: rememberedProxyUrl(url, `via[${i}]`), options };
  });
}
