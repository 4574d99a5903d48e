/**
 * `request(url, { via })`: one call, through any proxy chain, with
 * connection reuse. Built on the connection API (open/connect/request).
 */
import { BurrowError } from '../errors/errors.js';
import type { LookupFunction, TlsOptions } from '../api/options.js';
import { checkTimeout } from '../api/options.js';
import type { StreamMessage } from '../api/messages.js';
import type { StreamRef } from '../api/stream-ref.js';
import { authority, hasHeader, normalizeHeaders, type HeaderList, type HeadersInit } from '../protocols/headers.js';
import { proxyForUrl, type ProxyEnv } from './env.js';
import { defaultPool, type Lease, type Pool } from './pool.js';
import { parseProxyChain, parseProxyUrl, type ProxyHop } from './proxy-url.js';
import { BodyQueue, Response } from './response.js';
import { openRoute, routeKey, type RouteHop, type RouteOrigin, type ViaHopOptions } from './route.js';

/** A request body: whole (string, bytes) or streamed (a Readable or any async iterable of chunks). */
export type RequestBody = string | Buffer | Uint8Array | AsyncIterable<Uint8Array | string>;

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
   * `socks5h://`, `socks5s://`, `socks5hs://`; credentials in the userinfo are for that hop only), or
   * `{ url, tls, connectTimeout, tlsHandshakeTimeout, socksTimeout }` for per-hop options. A string may name a
   * chain (URLs separated by commas or spaces).
   */
  via?: readonly ViaEntry[] | string;
  /** When `via` is not given: take the chain from the proxy environment variables (`true`: process.env). */
  env?: boolean | ProxyEnv;
  /** Aborts the request (`ERR_ABORTED`). */
  signal?: AbortSignal;
  /** TLS options for the origin only. */
  tls?: TlsOptions;
  /** Protocols for the origin: default `['http2', 'http']` for https, `['http']` for http (`['http2']`: prior knowledge). */
  protocols?: readonly ('http' | 'http2')[];
  /** Timeouts, ms: TCP connect of the first hop, TLS handshake with the origin, response headers, whole request. */
  timeouts?: { connect?: number; tlsHandshake?: number; headers?: number; total?: number };
  /** Connection reuse: a {@link Pool}, or false for a connection of its own. Default: a shared pool. */
  pool?: Pool | false;
  /** Custom DNS lookup. */
  lookup?: LookupFunction;
}

/** Data messages delivered ahead of the reader: bounds the memory a slow reader costs. */
const BODY_WINDOW = 16;

// Proxy URLs given as strings parse to the same hop every time: parse each once.
const MAX_PARSED_PROXIES = 256;
const parsedProxies = new Map<string, ProxyHop>();

function proxyOf(entry: string | URL, name: string): ProxyHop {
  const key = typeof entry === 'string' ? entry : entry.href;
  let hop = parsedProxies.get(key);
  if (hop === undefined) {
    hop = parseProxyUrl(entry, name);
    Object.freeze(hop.protocols);
    Object.freeze(hop);
    if (parsedProxies.size >= MAX_PARSED_PROXIES) parsedProxies.clear();
    parsedProxies.set(key, hop);
  }
  return hop;
}

function toHops(via: RequestInit['via'], target: URL, env: RequestInit['env']): RouteHop[] {
  if (via === undefined) {
    if (env === undefined || env === false) return [];
    return proxyForUrl(target, env === true ? process.env : env).map((proxy) => ({ proxy, options: {} }));
  }
  if (typeof via === 'string') return parseProxyChain(via).map((proxy) => ({ proxy, options: {} }));
  if (!Array.isArray(via)) throw new BurrowError('ERR_INVALID_OPTION', 'invalid option via: a list of proxy URLs or a string', { stage: 'options', details: { option: 'via' } });
  return via.map((entry, i) => {
    if (typeof entry === 'string' || entry instanceof URL) return { proxy: proxyOf(entry, `via[${i}]`), options: {} };
    const { url, ...options } = entry;
    return { proxy: proxyOf(url, `via[${i}]`), options };
  });
}

function isWholeBody(b: RequestBody): b is string | Buffer | Uint8Array {
  return typeof b === 'string' || b instanceof Uint8Array;
}

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
export async function request(url: string | URL, init: RequestInit = {}): Promise<Response> {
  const started = process.hrtime.bigint();
  let target: URL;
  try {
    target = new URL(url);
  } catch (e) {
    throw new BurrowError('ERR_INVALID_OPTION', `invalid url ${JSON.stringify(String(url))}`, { stage: 'options', cause: e, details: { option: 'url' } });
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') {
    throw new BurrowError('ERR_INVALID_OPTION', `invalid url: ${target.protocol} is not http: or https:`, { stage: 'options', details: { option: 'url' } });
  }
  const scheme = target.protocol === 'https:' ? 'https' : 'http';
  const host = target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname;
  const port = target.port === '' ? (scheme === 'https' ? 443 : 80) : Number(target.port);
  const protocols = init.protocols ?? (scheme === 'https' ? ['http2', 'http'] : ['http']);
  if (scheme === 'http' && protocols.length !== 1) throw new BurrowError('ERR_INVALID_OPTION', "invalid option protocols: over http, exactly one of 'http' or 'http2'", { stage: 'options', details: { option: 'protocols' } });
  const timeouts = init.timeouts ?? {};
  const headersTimeout = checkTimeout('timeouts.headers', timeouts.headers, Infinity);
  const totalTimeout = checkTimeout('timeouts.total', timeouts.total, Infinity);
  const hops = toHops(init.via, target, init.env);
  const origin: RouteOrigin = {
    scheme,
    host,
    port,
    tls: init.tls ?? {},
    protocols,
    tlsHandshakeTimeout: timeouts.tlsHandshake,
  };
  const method = (init.method ?? 'GET').toUpperCase();
  const headers = normalizeHeaders(init.headers);
  if (!hasHeader(headers, 'host')) headers.unshift(['host', authority(host, port, scheme === 'https' ? 'tls' : 'tcp')]);
  const path = `${target.pathname}${target.search}` || '/';
  const body = init.body ?? null;

  // One controller for the user's signal and the whole-request timeout; none when neither is given.
  const ac = init.signal !== undefined || totalTimeout !== Infinity ? new AbortController() : undefined;
  let abortError: BurrowError | undefined;
  const abort = (e: BurrowError): void => {
    if (abortError) return;
    abortError = e;
    ac?.abort(e);
  };
  const onUserAbort = (): void => abort(new BurrowError('ERR_ABORTED', 'the request was aborted', { stage: 'state', cause: init.signal?.reason }));
  if (init.signal?.aborted) onUserAbort();
  init.signal?.addEventListener('abort', onUserAbort);
  const totalTimer = totalTimeout === Infinity ? undefined : setTimeout(() => abort(new BurrowError('ERR_REQUEST_TIMEOUT', `the request did not complete within ${totalTimeout} ms`, { stage: 'timeout', details: { timeoutMs: totalTimeout } })), totalTimeout);
  let headersTimer: NodeJS.Timeout | undefined;
  const cleanup = (): void => {
    if (totalTimer) clearTimeout(totalTimer);
    if (headersTimer) clearTimeout(headersTimer);
    init.signal?.removeEventListener('abort', onUserAbort);
  };

  let lease: Lease;
  try {
    if (abortError) throw abortError;
    const open = (): ReturnType<typeof openRoute> => openRoute(hops, origin, { lookup: init.lookup, signal: ac?.signal, connectTimeout: timeouts.connect });
    if (init.pool === false) {
      const route = await open();
      lease = { route, reused: false, release: () => void route.conn.close() };
    } else {
      lease = await (init.pool ?? defaultPool).acquire(routeKey(hops, origin), open, { multiplexed: protocols.includes('http2'), signal: ac?.signal });
      if (abortError) {
        lease.release(true);
        throw abortError;
      }
    }
  } catch (e) {
    cleanup();
    throw abortError ?? e;
  }

  const { conn, tunnel } = lease.route;
  return new Promise<Response>((resolve, reject) => {
    let headDone = false;
    let finished = false;
    let ended = false;
    let trailers: HeaderList | undefined;
    let ref: StreamRef | undefined;
    let consumed = 0;
    const finish = (reusable: boolean): void => {
      if (finished) return;
      finished = true;
      cleanup();
      ac?.signal.removeEventListener('abort', onAbort);
      lease.release(reusable);
    };
    const bodyQueue = new BodyQueue({
      consumed: () => {
        // Flow credit goes back in batches of half the window, not one call per chunk.
        if (!ended && ref !== undefined && ++consumed >= BODY_WINDOW / 2) {
          conn.updateFlow(ref, consumed);
          consumed = 0;
        }
      },
      cancel: () => {
        if (finished) return;
        if (ref !== undefined && !ended) conn.cancel(ref);
        finish(ended || lease.route.protocol === 'http2');
      },
      trailers: () => trailers,
    });
    const fail = (e: BurrowError): void => {
      if (!headDone) {
        headDone = true;
        reject(e);
      } else {
        bodyQueue.fail(e);
      }
      // One failed stream on a multiplexed HTTP/2 connection leaves it usable for the others
      // (the pool checks the connection is still up); an HTTP/1.1 connection is not reused.
      finish(lease.route.protocol === 'http2' && conn.state === 'up');
    };
    const onAbort = (): void => {
      fail(abortError ?? new BurrowError('ERR_ABORTED', 'the request was aborted', { stage: 'state' }));
      if (ref !== undefined) conn.cancel(ref);
    };
    ac?.signal.addEventListener('abort', onAbort);
    if (headersTimeout !== Infinity) {
      headersTimer = setTimeout(() => {
        if (headDone) return;
        fail(new BurrowError('ERR_HEADERS_TIMEOUT', `no response headers within ${headersTimeout} ms`, { stage: 'timeout', details: { timeoutMs: headersTimeout } }));
        if (ref !== undefined) conn.cancel(ref);
      }, headersTimeout);
    }
    const replyTo = (m: StreamMessage): void => {
      switch (m.type) {
        case 'response': {
          if (headDone) return;
          headDone = true;
          if (headersTimer) clearTimeout(headersTimer);
          if (m.fin) {
            ended = true;
            bodyQueue.end();
            finish(true);
          }
          const headersMs = Number(process.hrtime.bigint() - started) / 1e6;
          resolve(new Response({ status: m.status, headers: m.headers, version: m.version, url: target.href, info: { layers: lease.route.layers, reused: lease.reused, headersMs } }, bodyQueue));
          return;
        }
        case 'data':
          if (m.fin) ended = true;
          if (m.data.length > 0) bodyQueue.push(m.data);
          if (m.fin) {
            bodyQueue.end();
            finish(true);
          }
          return;
        case 'trailers':
          trailers = m.headers;
          ended = true;
          bodyQueue.end();
          finish(true);
          return;
        case 'error':
          fail(m.error);
          return;
        default:
          return;
      }
    };
    const opts = { replyTo, flow: BODY_WINDOW, ...(tunnel ? { tunnel } : {}) };
    try {
      if (body === null || isWholeBody(body)) {
        ref = conn.request(method, path, headers, body, opts);
      } else {
        ref = conn.headers(method, path, headers, opts);
        const streamRef = ref;
        void (async () => {
          try {
            for await (const chunk of body) {
              if (finished) return;
              await conn.data(streamRef, false, typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
            }
            if (!finished) await conn.data(streamRef, true, Buffer.alloc(0));
          } catch (e) {
            conn.cancel(streamRef);
            fail(new BurrowError('ERR_INVALID_REQUEST', `reading the request body failed: ${(e as Error).message}`, { stage: 'http', cause: e }));
          }
        })();
      }
    } catch (e) {
      fail(e instanceof BurrowError ? e : new BurrowError('ERR_INVALID_REQUEST', String(e), { stage: 'http', cause: e }));
    }
  });
}
