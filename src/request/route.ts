/**
 * A route: a proxy chain plus an origin, turned into a burrow connection with
 * the low-level API — `open()` to the first hop, then one `connect()` per
 * CONNECT proxy, with SOCKS hops folded into the `protocols` of the endpoint
 * before them. Also the route's pool key.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { BurrowError, type HopInfo } from '../errors/errors.js';
import { open } from '../connection/open.js';
import type { Connection } from '../connection/connection.js';
import type { IntermediaryInfo } from '../shared/info.js';
import type { LookupFunction } from '../shared/options/open.js';
import type { TlsOptions } from '../shared/options/tls.js';
import type { StreamRef } from '../shared/stream-ref.js';
import type { ConnectDestination, ProtocolSpec } from '../shared/options/hop.js';
import { authorityHost } from '../shared/headers.js';
import type { ProxyHop } from './proxy-url.js';
import type { EventHandler } from '../shared/events.js';
import { observedLookup } from '../transport/dial.js';
import { detachedDns } from '../observe/observer.js';
import { tlsOptionsKeyOf } from '../transport/tls.js';
import { ProxyAuthenticator, resolveProxyAuth, type ProxyAuthOptions, type ResolvedProxyAuth } from '../protocols/proxy-auth/index.js';
import { connectThrough, RestartRoute } from './proxy-connect.js';

/** Options for one hop of a `via` chain, by position. */
export interface ViaHopOptions {
  /** TLS options for this proxy only (`https`, `h2`, `socks5s`, `socks5hs` hops). */
  tls?: TlsOptions;
  /**
   * The TCP connect timeout of the first hop and, for a CONNECT proxy, how long it may take to answer the
   * CONNECT sent to it (`ERR_CONNECT_RESPONSE_TIMEOUT`), ms; default 30000.
   */
  connectTimeout?: number;
  /** TLS handshake timeout with this proxy, ms; default 30000. */
  tlsHandshakeTimeout?: number;
  /** How long this SOCKS5 or SOCKS4 proxy may take to answer: its whole handshake (`ERR_SOCKS_TIMEOUT`), ms; default 30000. */
  socksTimeout?: number;
  /**
   * Authentication to this CONNECT proxy (Basic, Digest, NTLM; docs/proxy-auth.md). Credentials default to the
   * URL's; with credentials in the URL and no `auth`, Basic is sent preemptively and a 407 is answered with the
   * strongest scheme offered.
   */
  auth?: ProxyAuthOptions;
}

/** One resolved hop of a route. */
export interface RouteHop {
  readonly proxy: ProxyHop;
  readonly options: ViaHopOptions;
}

/** The origin of a route. */
export interface RouteOrigin {
  readonly scheme: 'http' | 'https';
  readonly host: string;
  readonly port: number;
  readonly tls: TlsOptions;
  /** What to speak to the origin; `['raw']`: a route whose last layer is a raw tunnel, for its duplex (`Connection.detach`). */
  readonly protocols: readonly ('http' | 'http2' | 'raw')[];
  readonly tlsHandshakeTimeout: number | undefined;
  /**
   * The Unix domain socket the route's first hop — the first proxy, or the
   * origin when there is none — is reached by instead of TCP to its host and
   * port; the rest of the chain continues from it.
   */
  readonly socketPath?: string | undefined;
  /** `'1.0'`: HTTP/1.0 requests on the origin's HTTP/1.1 layer (a route of its own in the pool). */
  readonly version?: '1.0';
}

/** When each layer of a route came up. */
export interface LayerTiming {
  /** `tcp`, `tls`, `connect` (a CONNECT tunnel), `socks5`, `socks4`, or the HTTP protocol reached. */
  readonly kind: string;
  readonly host: string;
  readonly port: number;
  /** ms since the route started opening. */
  readonly atMs: number;
  readonly detail?: string;
}

/** An open route: the connection and the innermost tunnel (undefined when the origin is the first hop). */
export interface OpenRoute {
  readonly conn: Connection;
  readonly tunnel: StreamRef | undefined;
  /** `raw` only for an origin opened with `protocols: ['raw']`. */
  readonly protocol: 'http' | 'http2' | 'raw';
  readonly layers: LayerTiming[];
}

function tlsKey(o: TlsOptions | undefined): string {
  return o === undefined ? '' : tlsOptionsKeyOf(o);
}

/** A value of the key written so that no value can contain the key's separators (strings JSON-quoted). */
function part(v: string | number | undefined): string {
  return v === undefined ? '-' : typeof v === 'number' ? String(v) : JSON.stringify(v);
}

// Credentials enter a route key as a keyed digest, never as they are: pool keys live as long as their
// connections, and must not keep a proxy's password in memory (the key is random per process).
const CREDENTIALS_KEY = randomBytes(32);

function credentialsPart(username: string | undefined, password: string | undefined): string {
  if (username === undefined && password === undefined) return '-';
  return createHmac('sha256', CREDENTIALS_KEY).update(`${part(username)}\n${part(password)}`).digest('base64');
}

function authPart(a: ProxyAuthOptions): string {
  const { username, password, ...rest } = a;
  return `${credentialsPart(username, password)} ${JSON.stringify(rest)}`;
}

/** The Digest cache's key for a hop: its address and a keyed digest of the credentials. */
function authCacheKey(hop: ProxyHop, a: ResolvedProxyAuth): string {
  return `${hop.host}:${hop.port}\n${credentialsPart(a.username, a.password)}`;
}

/**
 * Two requests share a connection only when this key is equal: every hop, its credentials (as a keyed
 * digest) and options, and the origin. Built by concatenation (it is computed for every request): a line per
 * value, a `|` line between hops; strings that may hold any character are JSON-quoted, host names cannot hold
 * a newline or `|`, TLS keys and digests are base64.
 */
export function routeKey(hops: readonly RouteHop[], origin: RouteOrigin): string {
  let k = '';
  for (const h of hops) {
    const p = h.proxy;
    const o = h.options;
    k += `${p.scheme}\n${p.host}\n${p.port}\n${credentialsPart(p.username, p.password)}\n${o.auth === undefined ? '-' : authPart(o.auth)}\n${tlsKey(o.tls)}\n${part(o.connectTimeout)}\n${part(o.tlsHandshakeTimeout)}\n${part(o.socksTimeout)}\n|\n`;
  }
  const key = `${k}${origin.scheme}\n${origin.host}\n${origin.port}\n${tlsKey(origin.tls)}\n${JSON.stringify(origin.protocols)}\n${part(origin.tlsHandshakeTimeout)}${origin.version === undefined ? '' : `\nHTTP/${origin.version}`}`;
  return origin.socketPath === undefined ? key : `${key}\nunix\n${JSON.stringify(origin.socketPath)}`;
}

interface Target {
  host: string;
  port: number;
  transport: 'tcp' | 'tls';
  tls: TlsOptions;
  tlsHandshakeTimeout: number | undefined;
}

function hopInfo(index: number, hop: ProxyHop): HopInfo {
  return { index, kind: hop.kind, host: hop.host, port: hop.port, transport: hop.transport };
}

/** What a route was waiting for when it was aborted: the hop and the stage (`details.during` of a timeout). */
export interface RouteProgress {
  readonly hop: HopInfo;
  readonly during: string;
}

const DURING: Readonly<Record<string, string>> = { tcp: 'tcp', tls: 'tls', 'http1-connect': 'connect-response', 'http2-connect': 'connect-response' };

/**
 * The layer of `conn` still coming up (the innermost one), as a hop and a stage; undefined when none is.
 * A SOCKS5 layer whose server has not chosen a method yet waits in `socks-auth`, after that in `socks-reply`.
 */
function settingUp(conn: Connection): RouteProgress | undefined {
  const layers = conn.layersStarting();
  for (let i = layers.length - 1; i >= 0; i--) {
    const l = layers[i];
    if (l === undefined) continue;
    const during = l.kind === 'socks5' ? (l.socks5?.method === undefined ? 'socks-auth' : 'socks-reply') : l.kind === 'socks4' ? 'socks-reply' : DURING[l.kind];
    if (during !== undefined) return { hop: l.hop, during };
  }
  return undefined;
}

/** Settles like `p`, or rejects as soon as `signal` aborts. */
function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return p;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/**
 * Opens a connection along `hops` to `origin`. Rejects with a BurrowError naming the hop and the stage.
 * When `signal` aborts while the route is coming up, `onAbortAt` is told (synchronously, in the abort) which hop
 * and stage it was waiting for.
 */
export async function openRoute(hops: readonly RouteHop[], origin: RouteOrigin, opts: RouteOpenOptions): Promise<OpenRoute> {
  // Each CONNECT proxy's authentication lives across the route's attempts (a proxy closing after its 407).
  const auths = hops.map((h, i) => {
    if (h.proxy.kind !== 'connect') {
      if (h.options.auth !== undefined) throw new BurrowError('ERR_INVALID_OPTION', `invalid option via[${i}].auth: only for CONNECT proxies`, { stage: 'options', details: { option: `via[${i}].auth` } });
      return undefined;
    }
    const a = resolveProxyAuth(`via[${i}].auth`, h.options.auth, h.proxy.username, h.proxy.password);
    const next = i + 1 < hops.length ? (hops[i + 1] as RouteHop).proxy : origin;
    return new ProxyAuthenticator(a, `${authorityHost(next.host)}:${next.port}`, a === undefined ? undefined : authCacheKey(h.proxy, a));
  });
  for (let attempt = 1; ; attempt++) {
    try {
      return await openOnce(hops, origin, opts, auths);
    } catch (e) {
      if (!(e instanceof RestartRoute) || attempt > MAX_ROUTE_RESTARTS) {
        if (e instanceof RestartRoute) throw new BurrowError('ERR_PROXY_AUTH', `proxy authentication failed: the proxies closed the connection after ${attempt} 407 answers`, { stage: 'connect-response' });
        throw e;
      }
    }
  }
}

/** Times a route opens again because a proxy closed its connection after a 407 (each also counts a round). */
const MAX_ROUTE_RESTARTS = 6;

/** What {@link openRoute} takes besides the hops and the origin. */
export interface RouteOpenOptions {
  lookup?: LookupFunction | undefined;
  signal?: AbortSignal | undefined;
  connectTimeout?: number | undefined;
  events?: EventHandler | undefined;
  onAbortAt?: ((where: RouteProgress) => void) | undefined;
}

async function openOnce(hops: readonly RouteHop[], origin: RouteOrigin, opts: RouteOpenOptions, auths: ReadonlyArray<ProxyAuthenticator | undefined>): Promise<OpenRoute> {
  const t0 = process.hrtime.bigint();
  const at = (): number => Number(process.hrtime.bigint() - t0) / 1e6;
  const layers: LayerTiming[] = [];
  const n = hops.length;
  const target = (i: number): Target => {
    if (i === n) return { host: origin.host, port: origin.port, transport: origin.scheme === 'https' ? 'tls' : 'tcp', tls: origin.tls, tlsHandshakeTimeout: origin.tlsHandshakeTimeout };
    const h = hops[i] as RouteHop;
    return { host: h.proxy.host, port: h.proxy.port, transport: h.proxy.transport, tls: h.options.tls ?? {}, tlsHandshakeTimeout: h.options.tlsHandshakeTimeout };
  };
  // socks5://, socks5s:// and socks4:// resolve the next host here (the others send names to the proxy);
  // socks4:// keeps an IPv4 address, the only kind SOCKS4 carries.
  const resolved = new Map<number, string>();
  // A proxy's kind as the route knows it (the connection names every HTTP endpoint `origin`).
  const named = (hop: HopInfo): HopInfo => (hop.index < n && hop.kind !== (hops[hop.index] as RouteHop).proxy.kind ? { ...hop, kind: (hops[hop.index] as RouteHop).proxy.kind } : hop);
  for (let i = 0; i < n; i++) {
    const h = (hops[i] as RouteHop).proxy;
    if (h.kind === 'socks5' && h.username !== undefined && (h.password === undefined || h.password.length === 0)) {
      throw new BurrowError('ERR_INVALID_OPTION', `invalid option via[${i}]: SOCKS5 username/password authentication needs a password of 1 to 255 bytes`, {
        stage: 'options',
        details: { option: `via[${i}]` },
      });
    }
    const next = target(i + 1);
    if (h.kind === 'socks4' && isIP(next.host) === 6) {
      throw new BurrowError('ERR_INVALID_OPTION', `invalid option via[${i}]: SOCKS4 carries IPv4 addresses only; ${h.url} cannot reach the IPv6 address [${next.host}]`, {
        stage: 'options',
        hop: hopInfo(i, h),
        details: { option: `via[${i}]` },
      });
    }
    if (h.kind !== 'connect' && !h.remoteDns && isIP(next.host) === 0) {
      const ipv4Only = h.kind === 'socks4';
      try {
        const lookupFn = opts.lookup;
        const events = opts.events;
        // Published like the connection's own lookups, with no connection yet (the route is not open).
        const lookup: Promise<ReadonlyArray<{ address: string }>> = observedLookup(
          { connection: undefined, dns: detachedDns(events) },
          { host: next.host, hop: { index: i + 1, kind: i + 1 === n ? 'origin' : (hops[i + 1] as RouteHop).proxy.kind, host: next.host, port: next.port, transport: next.transport } },
          () => (lookupFn ? lookupFn(next.host) : ipv4Only ? dnsLookup(next.host, { family: 4 }).then((a) => [a]) : dnsLookup(next.host).then((a) => [a])),
          typeof events?.dnsStart === 'function' || typeof events?.dnsEnd === 'function',
          opts.signal,
        );
        const onLookupAbort = (): void => opts.onAbortAt?.({ hop: hopInfo(i, h), during: 'dns' });
        opts.signal?.addEventListener('abort', onLookupAbort, { once: true });
        const addrs = await abortable(lookup, opts.signal).finally(() => opts.signal?.removeEventListener('abort', onLookupAbort));
        const a = ipv4Only ? addrs.find((x) => isIP(x.address) === 4) : addrs[0];
        if (a === undefined) throw new Error(ipv4Only ? 'no IPv4 address (SOCKS4 carries IPv4 only)' : 'no address');
        resolved.set(i + 1, a.address);
      } catch (e) {
        if (opts.signal?.aborted) throw new BurrowError('ERR_ABORTED', 'the request was aborted', { stage: 'state', cause: opts.signal.reason });
        throw new BurrowError('ERR_DNS', `DNS lookup of ${next.host} (for ${h.url}, which does not resolve names) failed: ${(e as Error).message}`, {
          stage: 'dns',
          hop: hopInfo(i, h),
          cause: e,
        });
      }
    }
  }
  const tlsFor = (i: number): TlsOptions => {
    const t = target(i);
    const ip = resolved.get(i);
    // Reached by address, verified by name.
    return ip !== undefined && t.transport === 'tls' && t.tls.servername === undefined ? { ...t.tls, servername: t.host } : t.tls;
  };
  const protocolsFor = (i: number): ProtocolSpec[] => {
    if (i === n) return [...origin.protocols];
    const h = hops[i] as RouteHop;
    if (h.proxy.kind === 'connect') return [...(h.proxy.protocols ?? ['http'])];
    const next = target(i + 1);
    if (h.proxy.kind === 'socks4') {
      return [
        {
          socks: {
            host: resolved.get(i + 1) ?? next.host,
            port: next.port,
            version: h.proxy.remoteDns ? '4a' : 4,
            ...(h.proxy.username !== undefined ? { userId: h.proxy.username } : {}),
            transport: next.transport,
            ...(next.transport === 'tls' ? { tls: tlsFor(i + 1) } : {}),
            protocols: protocolsFor(i + 1),
            ...(h.options.socksTimeout !== undefined ? { handshakeTimeout: h.options.socksTimeout } : {}),
            ...(next.tlsHandshakeTimeout !== undefined ? { tlsHandshakeTimeout: next.tlsHandshakeTimeout } : {}),
          },
        },
      ];
    }
    return [
      {
        socks: {
          host: resolved.get(i + 1) ?? next.host,
          port: next.port,
          auth: h.proxy.username !== undefined ? [{ username: h.proxy.username, password: h.proxy.password ?? '' }] : ['none'],
          transport: next.transport,
          ...(next.transport === 'tls' ? { tls: tlsFor(i + 1) } : {}),
          protocols: protocolsFor(i + 1),
          ...(h.options.socksTimeout !== undefined ? { handshakeTimeout: h.options.socksTimeout } : {}),
          ...(next.tlsHandshakeTimeout !== undefined ? { tlsHandshakeTimeout: next.tlsHandshakeTimeout } : {}),
        },
      },
    ];
  };
  /** The first index at or after `i` that speaks HTTP (a CONNECT proxy or the origin). */
  const httpEndpoint = (i: number): number => {
    let j = i;
    while (j < n && (hops[j] as RouteHop).proxy.kind !== 'connect') j++;
    return j;
  };

  const first = target(0);
  const firstHop = hops[0];
  const conn = open({
    host: first.host,
    port: first.port,
    ...(origin.socketPath !== undefined ? { path: origin.socketPath } : {}),
    transport: first.transport,
    ...(first.transport === 'tls' ? { tls: tlsFor(0) } : {}),
    protocols: protocolsFor(0),
    retry: 0,
    ...(opts.lookup ? { lookup: opts.lookup } : {}),
    ...(opts.events ? { events: opts.events } : {}),
    ...((firstHop?.options.connectTimeout ?? opts.connectTimeout) !== undefined ? { connectTimeout: firstHop?.options.connectTimeout ?? opts.connectTimeout } : {}),
    ...(first.tlsHandshakeTimeout !== undefined ? { tlsHandshakeTimeout: first.tlsHandshakeTimeout } : {}),
  });
  // The CONNECT being answered, while the loop below waits for it.
  let answering: HopInfo | undefined;
  const onAbort = (): void => {
    if (opts.onAbortAt !== undefined) {
      const where = settingUp(conn) ?? (answering !== undefined ? { hop: answering, during: 'connect-response' } : undefined);
      if (where !== undefined) opts.onAbortAt({ hop: named(where.hop), during: where.during });
    }
    void conn.close();
  };
  opts.signal?.addEventListener('abort', onAbort);
  try {
    let protocol = await conn.awaitUp(Infinity);
    const info = conn.info();
    layers.push({ kind: 'tcp', host: first.host, port: first.port, atMs: at(), detail: `${info.localAddress}:${info.localPort} -> ${info.remoteAddress}:${info.remotePort}` });
    const describe = (list: readonly IntermediaryInfo[], from: number): void => {
      for (const im of list.slice(from)) {
        layers.push({ kind: im.type, host: im.host, port: im.port, atMs: at(), detail: im.bound ? `bound ${im.bound.host}:${im.bound.port}` : im.protocol });
      }
    };
    describe(info.intermediaries, 0);
    let e = httpEndpoint(0);
    let tunnel: StreamRef | undefined;
    while (e < n) {
      // Endpoint e is a CONNECT proxy: tunnel to the next target through it.
      const proxy = (hops[e] as RouteHop).proxy;
      const nextIndex = e + 1;
      const next = target(nextIndex);
      const dest: ConnectDestination = {
        host: next.host,
        port: next.port,
        transport: next.transport,
        ...(next.transport === 'tls' ? { tls: tlsFor(nextIndex) } : {}),
        protocols: protocolsFor(nextIndex),
        ...((hops[e] as RouteHop).options.connectTimeout !== undefined ? { connectTimeout: (hops[e] as RouteHop).options.connectTimeout } : {}),
        ...(next.tlsHandshakeTimeout !== undefined ? { tlsHandshakeTimeout: next.tlsHandshakeTimeout } : {}),
      };
      const carrier = tunnel;
      const { ref, status } = await connectThrough({
        conn,
        send: (authorization) => conn.connect(dest, authorization === undefined ? {} : [['proxy-authorization', authorization]], carrier ? { tunnel: carrier } : {}),
        authn: auths[e],
        carrier: protocol === 'http2' ? 'http2' : 'http1',
        hop: hopInfo(e, proxy),
        what: `${proxy.url} refused CONNECT ${next.host}:${next.port}`,
        answering: (h) => {
          answering = h;
        },
      });
      layers.push({ kind: 'connect', host: proxy.host, port: proxy.port, atMs: at(), detail: `${status} via ${proxy.scheme}` });
      for (;;) {
        const m = await conn.await(ref, Infinity);
        if (m.type === 'up') {
          if (m.protocol === 'socks') layers.push({ kind: (hops[nextIndex] as RouteHop | undefined)?.proxy.kind === 'socks4' ? 'socks4' : 'socks5', host: next.host, port: next.port, atMs: at() });
          else {
            protocol = m.protocol === 'http2' || m.protocol === 'raw' ? m.protocol : 'http';
            break;
          }
        } else if (m.type === 'error') {
          throw m.error;
        }
      }
      tunnel = ref;
      e = httpEndpoint(nextIndex);
    }
    const wantRaw = origin.protocols[0] === 'raw';
    if (protocol === 'websocket' || (protocol === 'raw') !== wantRaw) throw new BurrowError('ERR_BAD_STATE', `the route ended in a ${protocol} layer`, { stage: 'state' });
    layers.push({ kind: protocol === 'http2' ? 'HTTP/2' : protocol === 'raw' ? 'raw' : origin.version === '1.0' ? 'HTTP/1.0' : 'HTTP/1.1', host: origin.host, port: origin.port, atMs: at() });
    return { conn, tunnel, protocol, layers };
  } catch (err) {
    await conn.close();
    if (opts.signal?.aborted) throw new BurrowError('ERR_ABORTED', 'the request was aborted', { stage: 'state', cause: opts.signal.reason });
    // The connection API names a hop by what it can see; the route knows which hops are proxies.
    if (err instanceof BurrowError && err.hop !== undefined && named(err.hop) !== err.hop) throw err.withHop(named(err.hop));
    throw err;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
