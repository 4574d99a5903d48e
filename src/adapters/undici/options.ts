/**
 * The options of {@link ChainDispatcher} and of one `dispatch()`, and their
 * checks: what the dispatcher is built with, validated once, with the proxy
 * environment read once into a snapshot.
 */
import { invalidOption } from '../../errors/errors.js';
import type { EventHandler } from '../../shared/events.js';
import type { LookupFunction } from '../../shared/options/open.js';
import type { TlsOptions } from '../../shared/options/tls.js';
import { checkTimeout } from '../../shared/options/validate.js';
import type { ProxyEnv } from '../../request/env.js';
import type { PoolOptions } from '../../request/pool.js';
import { routeHops, type ViaEntry } from '../../request/request.js';

/** Options of {@link ChainDispatcher}. */
export interface ChainDispatcherOptions {
  /**
   * The proxy chain, first hop first, as `request()`'s `via`: proxy URLs (`http://`, `https://`, `h2c://`,
   * `h2://`, `socks5://`, `socks5h://`, `socks5s://`, `socks5hs://`, `socks4://`, `socks4a://`) or `{ url, tls, connectTimeout, … }`
   * for options of one hop; a string may name a chain. Every request goes through it.
   */
  via?: readonly ViaEntry[] | string;
  /**
   * When `via` is not given: the chain for each origin comes from these proxy environment variables
   * (`https_proxy`, `http_proxy`, `all_proxy`, `no_proxy`; burrow's semantics: chains allowed, CIDR in
   * `no_proxy`). `true` reads `process.env` once, now. No `via` and no `env`: direct connections.
   */
  env?: boolean | ProxyEnv;
  /** TLS options for the origins only (each hop has its own in `via`). */
  tls?: TlsOptions;
  /** What to offer https origins, in order of preference: default `['http2', 'http']` (ALPN decides). */
  protocols?: readonly ('http' | 'http2')[];
  /** The dispatcher's own connection pool (keyed by the whole route): idle timeout, streams per HTTP/2 connection. */
  pool?: PoolOptions;
  /** Timeouts, ms: `connect` (TCP to the first hop), `tlsHandshake` (the origin), `headers` (until the response head). */
  timeouts?: { connect?: number; tlsHandshake?: number; headers?: number };
  /** Custom DNS for the first hop and for `socks5://` and `socks4://` hops. */
  lookup?: LookupFunction;
  /** burrow's events handler for the routes this dispatcher opens and their streams (docs/events.md). */
  events?: EventHandler;
}

/**
 * What undici passes to `dispatch()`: the fields burrow reads. Other fields
 * (`blocking`, `reset`, `idempotent`, `maxRedirections` …) are accepted and
 * ignored: redirects are the caller's (fetch follows them itself).
 */
export interface DispatchOptions {
  /** `https://host:port` (a string or a URL). */
  origin?: string | URL;
  /** Path and query; for CONNECT, `host:port`. */
  path: string;
  method: string;
  /** A string, bytes, a `Blob`, or an async iterable of chunks (a `Readable`, or fetch's body generator). */
  body?: string | Uint8Array | ArrayBuffer | Blob | AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string> | null;
  /** An object, a flat `[name, value, …]` list, or any iterable of pairs. */
  headers?: Record<string, string | string[] | number | undefined> | readonly (string | string[])[] | Iterable<readonly [string, string]> | null;
  /** `'websocket'` (or another protocol): an HTTP/1.1 `Upgrade`; the socket goes to `onUpgrade`. */
  upgrade?: string | null;
  /** False: HTTP/1.1 to the origin even when it offers HTTP/2. */
  allowH2?: boolean;
  /** Ms until the response head (overrides the dispatcher's `timeouts.headers`). */
  headersTimeout?: number | null;
}

const KNOWN = new Set(['via', 'env', 'tls', 'protocols', 'pool', 'timeouts', 'lookup', 'events']);
const PROXY_VARIABLES = ['https_proxy', 'HTTPS_PROXY', 'http_proxy', 'HTTP_PROXY', 'all_proxy', 'ALL_PROXY', 'no_proxy', 'NO_PROXY'];

/** @internal What the checks of the options give: the headers timeout and the environment snapshot. */
export interface CheckedOptions {
  readonly headersTimeout: number;
  /** The proxy variables, read once (only when `via` is not given and `env` is). */
  readonly env: ProxyEnv | undefined;
}

/** @internal Checks `options` (a proxy URL of `via` included); throws `ERR_INVALID_OPTION`. */
export function checkOptions(options: ChainDispatcherOptions): CheckedOptions {
  if (typeof options !== 'object' || options === null) throw invalidOption('options', 'an object');
  for (const k of Object.keys(options)) if (!KNOWN.has(k)) throw invalidOption(k, 'unknown option');
  const protocols = options.protocols;
  if (protocols !== undefined && (!Array.isArray(protocols) || protocols.length === 0 || protocols.some((p) => p !== 'http' && p !== 'http2'))) {
    throw invalidOption('protocols', "a non-empty list of 'http' and 'http2'");
  }
  const headersTimeout = checkTimeout('timeouts.headers', options.timeouts?.headers, Infinity);
  checkTimeout('timeouts.connect', options.timeouts?.connect, Infinity);
  checkTimeout('timeouts.tlsHandshake', options.timeouts?.tlsHandshake, Infinity);
  let env: ProxyEnv | undefined;
  // The environment is read once: a snapshot of the proxy variables.
  if (options.via === undefined && options.env !== undefined && options.env !== false) {
    const src = options.env === true ? process.env : options.env;
    const snap: ProxyEnv = {};
    for (const name of PROXY_VARIABLES) if (typeof src[name] === 'string') snap[name] = src[name];
    env = snap;
  }
  // A chain given now is checked now (routeHops parses every URL).
  if (options.via !== undefined) routeHops(options.via, 'https://check.invalid/', undefined);
  return { headersTimeout, env };
}
