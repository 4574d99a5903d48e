/**
 * Watching a route come up, for `burrow -v`, `--trace-json` and `burrow demo`,
 * with nothing but the public options of `request()`:
 *
 * - a {@link TracingPool} (a `Pool` whose `acquire` is wrapped) sees the
 *   opened route (`OpenRoute.layers`, `conn.info()`) before the request is
 *   sent, and every lease (new or reused);
 * - each hop's TLS options get a `checkServerIdentity` wrapper, called when
 *   that hop's certificate chain has been verified: the certificate and the
 *   time the handshake reached it, for every TLS layer, however deep;
 * - a `lookup` wrapper sees the DNS lookups burrow makes.
 *
 * Events are buffered while the route opens and handed over in the order the
 * layers stack (hop by hop: DNS, TCP, TLS, then what the hop speaks), each
 * with the time by which it was up.
 */
import { lookup as dnsLookup } from 'node:dns';
import { checkServerIdentity as defaultCheckServerIdentity, type PeerCertificate } from 'node:tls';
import type { LookupFunction } from '../shared/options/open.js';
import type { TlsOptions } from '../shared/options/tls.js';
import { Pool, type AcquireOptions, type Lease } from '../request/pool.js';
import type { ProxyHop } from '../request/proxy-url.js';
import type { OpenRoute } from '../request/route.js';

/** One endpoint of a route: a proxy, or the origin (last). */
export interface HopDesc {
  /** Position, 0 for the first hop dialled (the numbering of error messages). */
  readonly index: number;
  readonly kind: 'connect' | 'socks5' | 'origin';
  /** Proxy URL scheme (`h2`, `socks5hs`...) or the origin's (`https`, `http`). */
  readonly scheme: string;
  readonly host: string;
  readonly port: number;
  readonly transport: 'tcp' | 'tls';
  /** Proxy URL (password masked) or origin `scheme://host:port`. */
  readonly url: string;
}

/** Something that happened to one layer; `t` is ms since the command started. */
export type LayerEvent =
  | { readonly event: 'dns'; readonly hop: number; readonly t: number; readonly host: string; readonly addresses: readonly string[] }
  | { readonly event: 'tcp'; readonly hop: number; readonly t: number; readonly host: string; readonly port: number; readonly local?: string; readonly remote?: string }
  | {
      readonly event: 'tls';
      readonly hop: number;
      readonly t: number;
      readonly host: string;
      /** The certificate chain and name were verified (false with -k / --proxy-insecure). */
      readonly verified: boolean;
      /** How many TLS layers deep this one is (1: the outermost). */
      readonly depth?: number;
      readonly subject?: string;
      readonly issuer?: string;
      readonly validTo?: string;
      readonly fingerprint256?: string;
      readonly version?: string;
      readonly cipher?: string;
      readonly alpn?: string;
    }
  | { readonly event: 'connect'; readonly hop: number; readonly t: number; readonly host: string; readonly port: number; readonly target: string; readonly status?: number; readonly via: string }
  | { readonly event: 'socks5'; readonly hop: number; readonly t: number; readonly host: string; readonly port: number; readonly target: string; readonly bound?: string }
  | { readonly event: 'http'; readonly hop: number; readonly t: number; readonly host: string; readonly port: number; readonly protocol: string }
  | { readonly event: 'reused'; readonly hop: number; readonly t: number; readonly protocol: string };

const ORDER: Readonly<Record<LayerEvent['event'], number>> = { reused: 0, dns: 1, tcp: 2, tls: 3, connect: 4, socks5: 4, http: 5 };

/** Describes a route: its proxies then the origin. */
export function describeRoute(proxies: readonly ProxyHop[], target: URL): HopDesc[] {
  const hops: HopDesc[] = proxies.map((p, index) => ({ index, kind: p.kind, scheme: p.scheme, host: p.host, port: p.port, transport: p.transport, url: p.url }));
  const https = target.protocol === 'https:';
  const host = target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname;
  const port = target.port === '' ? (https ? 443 : 80) : Number(target.port);
  hops.push({ index: proxies.length, kind: 'origin', scheme: https ? 'https' : 'http', host, port, transport: https ? 'tls' : 'tcp', url: `${target.protocol}//${target.host}` });
  return hops;
}

/** `CN=localhost, O=burrow` from a certificate subject or issuer. */
function dn(name: PeerCertificate['subject'] | undefined): string | undefined {
  if (name === undefined || name === null) return undefined;
  const parts = Object.entries(name).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`);
  return parts.length > 0 ? parts.join(', ') : undefined;
}

/** Hooks of a {@link TracingPool}. */
export interface PoolHooks {
  /** A route starts opening; the function returned runs when it is open or failed. */
  opening(): () => void;
  opened(route: OpenRoute, startedAtMs: number): void;
  leased(lease: Lease): void;
}

/** A pool that reports what it opens and leases. */
export class TracingPool extends Pool {
  readonly #hooks: PoolHooks;
  readonly #now: () => number;

  constructor(hooks: PoolHooks, now: () => number) {
    super();
    this.#hooks = hooks;
    this.#now = now;
  }

  override tryAcquire(key: string): Lease | undefined {
    const lease = super.tryAcquire(key);
    if (lease !== undefined) this.#hooks.leased(lease);
    return lease;
  }

  override async acquire(key: string, openRoute: () => Promise<OpenRoute>, opts?: AcquireOptions): Promise<Lease> {
    const lease = await super.acquire(key, async () => {
      const startedAt = this.#now();
      const done = this.#hooks.opening();
      try {
        const route = await openRoute();
        this.#hooks.opened(route, startedAt);
        return route;
      } finally {
        done();
      }
    }, opts);
    this.#hooks.leased(lease);
    return lease;
  }
}

/**
 * Records the layers of the routes opened through {@link pool}: give each hop
 * the TLS options from {@link tlsFor}, `lookup` as the DNS lookup, and set
 * {@link route} before each request.
 */
export class RouteRecorder {
  readonly #t0 = process.hrtime.bigint();
  #pending: LayerEvent[] = [];
  #hops: HopDesc[] = [];
  #expectedLookups: number[] = [];
  readonly #tls = new Map<string, TlsOptions>();
  /** Receives the events of a route, in stacking order, once it is open (or has failed: {@link flush}). */
  onLayers: (events: LayerEvent[]) => void = () => {};
  /** Runs when a route starts opening; the function returned when it is open or failed. */
  onOpening: () => () => void = () => () => {};
  /** Runs once a connection is leased for the request, before the request is sent. */
  onLease: (lease: Lease) => void = () => {};
  readonly pool: TracingPool;

  constructor() {
    this.pool = new TracingPool(
      {
        opening: () => this.onOpening(),
        opened: (route, startedAt) => this.#opened(route, startedAt),
        leased: (lease) => {
          if (lease.reused) {
            this.#pending.push({ event: 'reused', hop: 0, t: this.now(), protocol: lease.route.protocol === 'http2' ? 'HTTP/2' : 'HTTP/1.1' });
            this.flush();
          }
          this.onLease(lease);
        },
      },
      () => this.now(),
    );
  }

  /** ms since the recorder was made. */
  now(): number {
    return Number(process.hrtime.bigint() - this.#t0) / 1e6;
  }

  /** The route the next request takes. */
  set route(hops: HopDesc[]) {
    this.#hops = hops;
    this.#expectedLookups = [];
    hops.forEach((h, i) => {
      if (h.scheme === 'socks5' || h.scheme === 'socks5s') this.#expectedLookups.push(i + 1);
    });
    this.#expectedLookups.push(0);
  }

  get route(): HopDesc[] {
    return this.#hops;
  }

  /**
   * TLS options for a hop that report its certificate: `key` is `origin` or
   * the proxy position; the same object is returned for the same key (pooled
   * connections are keyed by it).
   */
  tlsFor(key: 'origin' | number, base: TlsOptions): TlsOptions {
    const k = String(key);
    const known = this.#tls.get(k);
    if (known !== undefined) return known;
    const check = base.checkServerIdentity ?? defaultCheckServerIdentity;
    const opts: TlsOptions = {
      ...base,
      checkServerIdentity: (hostname: string, cert: PeerCertificate): Error | undefined => {
        const err = check(hostname, cert);
        const hop = key === 'origin' ? this.#hops.length - 1 : key;
        this.#pending.push({
          event: 'tls',
          hop,
          t: this.now(),
          host: hostname,
          verified: err === undefined,
          ...(dn(cert.subject) !== undefined ? { subject: dn(cert.subject) } : {}),
          ...(dn(cert.issuer) !== undefined ? { issuer: dn(cert.issuer) } : {}),
          ...(cert.valid_to ? { validTo: cert.valid_to } : {}),
          ...(cert.fingerprint256 ? { fingerprint256: cert.fingerprint256 } : {}),
        });
        return err;
      },
    };
    this.#tls.set(k, opts);
    return opts;
  }

  /** DNS lookups (the first hop, and names a `socks5://` hop needs resolved by the client). */
  readonly lookup: LookupFunction = (host) => {
    // Whose name is it: the route resolves the targets of socks5:// and socks5s:// hops first, then the first hop.
    const i = this.#expectedLookups.findIndex((j) => this.#hops[j]?.host === host);
    const hop = i < 0 ? 0 : (this.#expectedLookups.splice(i, 1)[0] as number);
    return new Promise((resolve, reject) => {
      dnsLookup(host, { all: true }, (err, addrs) => {
        if (err) {
          reject(err);
          return;
        }
        this.#pending.push({ event: 'dns', hop, t: this.now(), host, addresses: addrs.map((a) => a.address) });
        resolve(addrs.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 })));
      });
    });
  };

  /** Hands over the events recorded so far (a failed route: the layers that came up). */
  flush(): void {
    if (this.#pending.length === 0) return;
    const events = order(this.#pending, new Set());
    this.#pending = [];
    this.onLayers(events);
  }

  #opened(route: OpenRoute, startedAt: number): void {
    const hops = this.#hops;
    const n = hops.length - 1;
    const events = this.#pending;
    this.#pending = [];
    const nextName = (i: number): string => {
      const h = hops[i + 1];
      return h === undefined ? '?' : `${h.host.includes(':') ? `[${h.host}]` : h.host}:${h.port}`;
    };
    const find = (kind: 'connect' | 'socks5', host: string, port: number, from: number): number => {
      for (let i = from; i < n; i++) {
        const h = hops[i] as HopDesc;
        if (h.kind === kind && h.host === host && h.port === port) return i;
      }
      for (let i = from; i < n; i++) if ((hops[i] as HopDesc).kind === kind) return i;
      return from;
    };
    const notUpperBound = new Set<LayerEvent>();
    let cursor = 0;
    for (const l of route.layers) {
      const t = startedAt + l.atMs;
      if (l.kind === 'tcp') {
        const m = /^(.*) -> (.*)$/.exec(l.detail ?? '');
        events.push({ event: 'tcp', hop: 0, t, host: l.host, port: l.port, ...(m ? { local: m[1] as string, remote: m[2] as string } : {}) });
      } else if (l.kind === 'connect') {
        const i = find('connect', l.host, l.port, cursor);
        cursor = i;
        const m = /^(\d{3}) via (\S+)$/.exec(l.detail ?? '');
        const h = hops[i];
        events.push({ event: 'connect', hop: i, t, host: l.host, port: l.port, target: nextName(i), via: m ? (m[2] as string) : (h?.scheme ?? 'http'), ...(m ? { status: Number(m[1]) } : {}) });
      } else if (l.kind === 'socks5') {
        const i = find('socks5', l.host, l.port, cursor);
        cursor = i;
        const bound = /^bound (.*)$/.exec(l.detail ?? '');
        const e: LayerEvent = { event: 'socks5', hop: i, t, host: l.host, port: l.port, target: nextName(i), ...(bound ? { bound: bound[1] as string } : {}) };
        // Recorded when the SOCKS layer started (tunnelled) or when everything was up (first hop): the
        // handshake completed before the next layer, whose time bounds it.
        notUpperBound.add(e);
        events.push(e);
      } else {
        events.push({ event: 'http', hop: n, t, host: l.host, port: l.port, protocol: l.kind });
      }
    }
    // Version, cipher and ALPN: known for the innermost connection-wide TLS endpoint only.
    const info = route.conn.info();
    if (info.tls !== undefined) {
      let idx = -1;
      for (let i = n; i >= 0; i--) {
        const h = hops[i] as HopDesc;
        if (h.transport === 'tls' && h.host === info.origin.host && h.port === info.origin.port) {
          idx = i;
          break;
        }
      }
      if (idx >= 0) {
        const extra = {
          ...(info.tls.version ? { version: info.tls.version } : {}),
          ...(info.tls.cipher ? { cipher: info.tls.cipher } : {}),
          ...(typeof info.tls.alpn === 'string' ? { alpn: info.tls.alpn } : {}),
        };
        const k = events.findIndex((e) => e.event === 'tls' && e.hop === idx);
        const old = events[k];
        if (old !== undefined && old.event === 'tls') events[k] = { ...old, ...extra };
        else {
          const e: LayerEvent = { event: 'tls', hop: idx, t: this.now(), host: (hops[idx] as HopDesc).host, verified: false, ...extra };
          notUpperBound.add(e);
          events.push(e);
        }
      }
    }
    // TLS layers whose certificate was not checked (-k, --proxy-insecure) report nothing: show them anyway.
    for (const h of hops) {
      if (h.transport === 'tls' && !events.some((e) => e.event === 'tls' && e.hop === h.index)) {
        const e: LayerEvent = { event: 'tls', hop: h.index, t: this.now(), host: h.host, verified: false };
        notUpperBound.add(e);
        events.push(e);
      }
    }
    this.onLayers(order(events, notUpperBound));
  }
}

/**
 * Sorts events in stacking order and gives each the time by which it was up:
 * its own time, or a later layer's when that is earlier (a layer is up before
 * the layers above it).
 */
function order(events: readonly LayerEvent[], notUpperBound: Set<LayerEvent>): LayerEvent[] {
  // Every lookup happens before the first hop is dialled (names for socks5:// hops included).
  const sorted = events
    .map((e, i) => ({ e, i }))
    .sort((a, b) => {
      const da = a.e.event === 'dns' ? 0 : 1;
      const db = b.e.event === 'dns' ? 0 : 1;
      if (da !== db) return da - db;
      if (da === 0) return a.e.t - b.e.t;
      return a.e.hop - b.e.hop || ORDER[a.e.event] - ORDER[b.e.event] || a.i - b.i;
    })
    .map((x) => x.e);
  const out: LayerEvent[] = new Array<LayerEvent>(sorted.length);
  let depth = 0;
  for (let i = 0; i < sorted.length; i++) {
    const e = sorted[i] as LayerEvent;
    if (e.event === 'tls') {
      const withDepth: LayerEvent = { ...e, depth: ++depth };
      if (notUpperBound.has(e)) notUpperBound.add(withDepth);
      sorted[i] = withDepth;
    }
  }
  let bound = Infinity;
  for (let i = sorted.length - 1; i >= 0; i--) {
    const e = sorted[i] as LayerEvent;
    const t = notUpperBound.has(e) ? (bound === Infinity ? e.t : bound) : Math.min(e.t, bound);
    out[i] = { ...e, t: Math.round(t * 100) / 100 };
    bound = t;
  }
  return out;
}
