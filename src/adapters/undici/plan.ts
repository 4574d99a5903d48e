/**
 * What one `dispatch()` resolves to before anything is sent: the route for
 * its origin (the chain, from `via` or the environment, and the origin's TLS
 * and protocols) and the request in burrow's terms (checked headers, a body of
 * bytes or an async iterable, the kind: request, upgrade or CONNECT).
 */
import { BurrowError } from '../../errors/errors.js';
import { authority, hasHeader, normalizeHeaders, type Header, type HeadersInit } from '../../shared/headers.js';
import type { TlsOptions } from '../../shared/options/tls.js';
import { checkTimeout } from '../../shared/options/validate.js';
import type { ProxyEnv } from '../../request/env.js';
import { routeHops } from '../../request/request.js';
import { routeKey, type RouteHop, type RouteOrigin } from '../../request/route.js';
import type { ChainDispatcherOptions, DispatchOptions } from './options.js';

const HTTPS_PROTOCOLS: readonly ('http' | 'http2')[] = Object.freeze(['http2', 'http'] as const);
const HTTP_ONLY: readonly ('http' | 'http2')[] = Object.freeze(['http'] as const);
const NO_TLS: TlsOptions = Object.freeze({});

/** @internal A route resolved for one origin. */
export interface Route {
  readonly hops: RouteHop[];
  readonly origin: RouteOrigin;
  readonly key: string;
  readonly host: string;
}

/** @internal What one dispatch resolves to. */
export interface Plan {
  readonly route: Route;
  readonly method: string;
  readonly path: string;
  readonly headers: Header[];
  readonly body: Buffer | AsyncIterable<Uint8Array | string> | null;
  readonly kind: 'request' | 'upgrade' | 'connect';
  readonly headersTimeout: number;
}

/** @internal What planning needs of the dispatcher. */
export interface PlanContext {
  /** The (cached) route for `origin`; `h1only`: HTTP/1.1 to the origin. */
  route(origin: string, h1only: boolean): Route;
  /** The dispatcher's headers timeout (ms, Infinity for none). */
  readonly headersTimeout: number;
}

function toBuffer(b: string | Uint8Array | ArrayBuffer): Buffer {
  if (typeof b === 'string') return Buffer.from(b);
  if (b instanceof ArrayBuffer) return Buffer.from(b);
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** undici's header shapes → burrow's checked list. */
function headerList(h: DispatchOptions['headers']): Header[] {
  if (h === undefined || h === null) return [];
  if (Array.isArray(h)) {
    if (h.length > 0 && typeof h[0] === 'string') {
      // undici's flat form: name, value, name, value …
      const pairs: [string, string][] = [];
      for (let i = 0; i + 1 < h.length; i += 2) {
        const v = h[i + 1] as string | string[];
        for (const item of Array.isArray(v) ? v : [v]) pairs.push([h[i] as string, item]);
      }
      return normalizeHeaders(pairs);
    }
    return normalizeHeaders(h as unknown as HeadersInit);
  }
  if (typeof (h as Iterable<unknown>)[Symbol.iterator] === 'function') return normalizeHeaders([...(h as Iterable<readonly [string, string]>)]);
  return normalizeHeaders(h as HeadersInit);
}

function bodyOf(b: DispatchOptions['body']): Buffer | AsyncIterable<Uint8Array | string> | null {
  if (b === undefined || b === null) return null;
  if (typeof b === 'string' || b instanceof Uint8Array || b instanceof ArrayBuffer) return toBuffer(b);
  if (typeof (b as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') return b as AsyncIterable<Uint8Array | string>;
  if (b instanceof Blob) {
    const blob = b;
    return (async function* () {
      yield* blob.stream() as unknown as AsyncIterable<Uint8Array>;
    })();
  }
  if (typeof (b as Iterable<unknown>)[Symbol.iterator] === 'function') {
    const it = b as Iterable<Uint8Array | string>;
    return (async function* () {
      yield* it;
    })();
  }
  throw new BurrowError('ERR_INVALID_REQUEST', 'invalid request body: a string, bytes, a Blob, or an (async) iterable of chunks', { stage: 'http' });
}

/** @internal The route for `origin` with the dispatcher's chain (`via`, else the environment snapshot `env`). */
export function resolveRoute(origin: string, h1only: boolean, options: ChainDispatcherOptions, env: ProxyEnv | undefined): Route {
  let u: URL;
  try {
    u = new URL(origin);
  } catch (e) {
    throw new BurrowError('ERR_INVALID_REQUEST', `invalid origin ${JSON.stringify(origin)}`, { stage: 'options', cause: e });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new BurrowError('ERR_INVALID_REQUEST', `invalid origin: ${u.protocol} is not http: or https:`, { stage: 'options' });
  const scheme = u.protocol === 'https:' ? 'https' : 'http';
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const port = u.port === '' ? (scheme === 'https' ? 443 : 80) : Number(u.port);
  const protocols = scheme === 'http' || h1only ? HTTP_ONLY : (options.protocols ?? HTTPS_PROTOCOLS);
  const hops = routeHops(options.via, u.href, options.via === undefined ? env : undefined);
  const ro: RouteOrigin = { scheme, host, port, tls: options.tls ?? NO_TLS, protocols, tlsHandshakeTimeout: options.timeouts?.tlsHandshake };
  return { hops, origin: ro, key: routeKey(hops, ro), host: authority(host, port, scheme === 'https' ? 'tls' : 'tcp') };
}

/** @internal Checks and resolves one dispatch; throws a {@link BurrowError} for what it cannot send. */
export function planOf(core: PlanContext, opts: DispatchOptions): Plan {
  if (opts === null || typeof opts !== 'object') throw new BurrowError('ERR_INVALID_REQUEST', 'dispatch options must be an object', { stage: 'options' });
  const origin = opts.origin instanceof URL ? opts.origin.origin : opts.origin;
  if (typeof origin !== 'string') throw new BurrowError('ERR_INVALID_REQUEST', 'dispatch options: origin is required', { stage: 'options' });
  const method = typeof opts.method === 'string' ? opts.method.toUpperCase() : 'GET';
  const path = typeof opts.path === 'string' ? opts.path : '/';
  const kind = method === 'CONNECT' ? 'connect' : typeof opts.upgrade === 'string' && opts.upgrade !== '' ? 'upgrade' : 'request';
  // An upgraded stream takes its connection: HTTP/1.1, never an HTTP/2 connection that others share.
  const route = core.route(origin, kind === 'upgrade' || opts.allowH2 === false);
  const headers = headerList(opts.headers);
  if (kind === 'upgrade') {
    if (!hasHeader(headers, 'upgrade')) headers.push(['upgrade', opts.upgrade as string]);
    if (!hasHeader(headers, 'connection')) headers.push(['connection', 'upgrade']);
  }
  if (!hasHeader(headers, 'host')) headers.unshift(['host', route.host]);
  const headersTimeout = opts.headersTimeout === undefined || opts.headersTimeout === null || opts.headersTimeout === 0 ? core.headersTimeout : checkTimeout('headersTimeout', opts.headersTimeout, Infinity);
  return { route, method, path, headers, body: bodyOf(opts.body), kind, headersTimeout };
}

/** @internal `host:port` of a CONNECT (`[v6]:port` allowed, and `/host:port` as undici's `connect()` sends it). */
export function connectTarget(path: string): { host: string; port: number } {
  // undici's top-level connect() puts a slash before the path it is given.
  const m = /^\/?(?:\[([^\]]+)\]|([^:/[\]]+)):(\d{1,5})$/.exec(path);
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || !(port >= 1 && port <= 65535)) throw new BurrowError('ERR_INVALID_REQUEST', `invalid CONNECT target ${JSON.stringify(path)}: host:port`, { stage: 'http' });
  return { host: (m[1] ?? m[2]) as string, port };
}

