/**
 * Watching a route come up, for `burrow -v`, `--trace-json` and `burrow demo`,
 * from burrow's own events (the `events` option of `request()`): each layer as
 * it comes up — DNS, TCP, TLS (with its certificate), CONNECT, SOCKS5, SOCKS4, the HTTP
 * version spoken with the origin — with the time it came up.
 *
 * Layer lines are held until the request is sent (or the route failed), then
 * handed over in the order the layers stacked, so that the TLS layer carrying
 * the whole connection can be told apart (its version, cipher and ALPN are
 * shown; the protocol line after each other TLS layer says what it carries).
 */
import type { HeaderList } from '../shared/headers.js';
import { HANDLER_OF, type BurrowChannelName, type EventHandler, type LayerInfo } from '../shared/events.js';
import { Pool } from '../request/pool.js';
import type { ProxyHop } from '../request/proxy-url.js';

/** One endpoint of a route: a proxy, or the origin (last). */
export interface HopDesc {
  /** Position, 0 for the first hop dialled (the numbering of error messages). */
  readonly index: number;
  readonly kind: 'connect' | 'socks5' | 'socks4' | 'origin';
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
  | { readonly event: 'connect'; readonly hop: number; readonly t: number; readonly host: string; readonly port: number; readonly target: string; readonly status?: number; readonly via: string; readonly offered?: readonly string[] }
  | {
      readonly event: 'socks5';
      readonly hop: number;
      readonly t: number;
      readonly host: string;
      readonly port: number;
      /** The next hop as named in the route (`host:port`). */
      readonly target: string;
      /** The address sent in its place, when the client resolved the name (`socks5://`, `socks5s://`). */
      readonly resolved?: string;
      readonly bound?: string;
    }
  | {
      readonly event: 'socks4';
      readonly hop: number;
      readonly t: number;
      readonly host: string;
      readonly port: number;
      /** `4` or `4a`. */
      readonly version: string;
      /** The next hop as named in the route (`host:port`). */
      readonly target: string;
      /** The IPv4 address sent in its place, when the client resolved the name (`socks4://`). */
      readonly resolved?: string;
      readonly bound?: string;
    }
  | { readonly event: 'http'; readonly hop: number; readonly t: number; readonly host: string; readonly port: number; readonly protocol: string }
  | { readonly event: 'reused'; readonly hop: number; readonly t: number; readonly protocol: string };

/** Describes a route: its proxies then the origin. */
export function describeRoute(proxies: readonly ProxyHop[], target: URL): HopDesc[] {
  const hops: HopDesc[] = proxies.map((p, index) => ({ index, kind: p.kind, scheme: p.scheme, host: p.host, port: p.port, transport: p.transport, url: p.url }));
  const https = target.protocol === 'https:';
  const host = target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname;
  const port = target.port === '' ? (https ? 443 : 80) : Number(target.port);
  hops.push({ index: proxies.length, kind: 'origin', scheme: https ? 'https' : 'http', host, port, transport: https ? 'tls' : 'tcp', url: `${target.protocol}//${target.host}` });
  return hops;
}

/** The TLS layer carrying the whole connection: the innermost one below the first HTTP/2 CONNECT tunnel. */
function connectionWideTls(layers: readonly LayerInfo[]): number | undefined {
  let id: number | undefined;
  for (const l of layers) {
    if (l.kind === 'http2-connect') break;
    if (l.kind === 'tls') id = l.id;
  }
  return id;
}

/** Follows one `burrow` run's requests through the events of `request()`. */
export class RouteTracer {
  readonly #t0 = performance.timeOrigin + performance.now();
  #hops: HopDesc[] = [];
  /** Layers up since the current request started, in the order they came up. */
  #layers: LayerInfo[] = [];
  #dns: LayerEvent[] = [];
  /** The ref path of the request's stream, once it started. */
  #request: readonly number[] | undefined;
  /** Receives layer lines, in stacking order: when the request is sent, or when {@link flush}ed after a failure. */
  onLayers: (events: LayerEvent[]) => void = () => {};
  /** A route starts opening; the function returned runs once the request is sent on it. */
  onOpening: () => () => void = () => () => {};
  /** The request's head is sent, on a connection speaking `protocol`, with `headers` (credentials masked). */
  onRequest: (protocol: 'HTTP/1.1' | 'HTTP/2', headers: HeaderList) => void = () => {};
  /** Every event of the run's requests, with its channel name (`burrow:dns:start`/`end` for lookups), as it happens. */
  onEvent: (name: string, payload: object) => void = () => {};
  /** The pool the run's requests share. */
  readonly pool = new Pool();
  #opened: (() => void) | undefined;

  /** ms since the tracer was made. */
  now(): number {
    return performance.timeOrigin + performance.now() - this.#t0;
  }

  #at(epochMs: number | undefined): number {
    return Math.round(((epochMs ?? performance.timeOrigin + performance.now()) - this.#t0) * 100) / 100;
  }

  /** The route the next request takes. */
  set route(hops: HopDesc[]) {
    this.#hops = hops;
    this.#layers = [];
    this.#dns = [];
    this.#request = undefined;
  }

  get route(): HopDesc[] {
    return this.#hops;
  }

  /** The handler given to `request()`: every event goes to {@link onEvent}; some also make the layer lines. */
  get events(): EventHandler {
    this.#handler ??= this.#makeHandler();
    return this.#handler;
  }

  #handler: EventHandler | undefined;

  #makeHandler(): EventHandler {
    const own = this.#own as Record<string, ((p: never) => void) | undefined>;
    const handler: Record<string, (payload: object) => void> = {};
    const forward = (method: string, name: string): void => {
      handler[method] = (payload: object) => {
        own[method]?.(payload as never);
        this.onEvent(name, payload);
      };
    };
    for (const name of Object.keys(HANDLER_OF) as BurrowChannelName[]) forward(HANDLER_OF[name], name);
    forward('dnsStart', 'burrow:dns:start');
    forward('dnsEnd', 'burrow:dns:end');
    return handler as EventHandler;
  }

  readonly #own: EventHandler = {
    connectionCreated: () => {
      this.#opened?.();
      this.#opened = this.onOpening();
    },
    dnsEnd: (c) => {
      if (c.addresses === undefined) return;
      this.#dns.push({ event: 'dns', hop: c.hop.index, t: this.now(), host: c.host, addresses: c.addresses });
    },
    layerUp: (e) => {
      this.#layers.push(e.layer);
    },
    layerError: (e) => {
      // A 407 answered by the route's next CONNECT: shown with the schemes the proxy offered.
      if ((e.layer.kind === 'http1-connect' || e.layer.kind === 'http2-connect') && e.layer.connect?.status === 407) this.#layers.push(e.layer);
    },
    streamStart: (e) => {
      if (e.method === 'CONNECT' || this.#request !== undefined) return;
      this.#request = e.stream;
      this.#opened?.();
      this.#opened = undefined;
    },
    streamHeadersSent: (e) => {
      const req = this.#request;
      if (req === undefined || req.length !== e.stream.length || req.some((id, i) => e.stream[i] !== id)) return;
      const protocol = e.protocol === 'http2' ? 'HTTP/2' : 'HTTP/1.1';
      if (this.#layers.length === 0 && this.#dns.length === 0) this.onLayers([{ event: 'reused', hop: 0, t: this.now(), protocol }]);
      else this.flush();
      this.#request = undefined;
      this.onRequest(protocol, e.headers);
    },
  };

  /** Hands over the layer lines recorded so far (a failed route: the layers that came up). */
  flush(): void {
    this.#opened?.();
    this.#opened = undefined;
    const layers = this.#layers;
    const dns = this.#dns;
    this.#layers = [];
    this.#dns = [];
    if (layers.length === 0 && dns.length === 0) return;
    const hops = this.#hops;
    const last = hops.length - 1;
    const wide = connectionWideTls(layers);
    const out: LayerEvent[] = [...dns];
    let depth = 0;
    for (const l of layers) {
      const t = this.#at(l.upAt ?? (l.state === 'failed' ? l.startedAt : undefined));
      const hop = l.hop.index;
      // A hop reached through a socks5:// hop is reached by the address the client resolved: show it as named.
      const host = hops[hop]?.host ?? l.hop.host;
      const port = hops[hop]?.port ?? l.hop.port;
      switch (l.kind) {
        case 'tcp':
          out.push({
            event: 'tcp', hop, t, host, port,
            ...(l.tcp?.localAddress !== undefined ? { local: addr(l.tcp.localAddress, l.tcp.localPort ?? 0), remote: addr(l.tcp.remoteAddress ?? '?', l.tcp.remotePort ?? 0) } : {}),
          });
          break;
        case 'tls': {
          const tls = l.tls;
          const cert = tls?.certificate;
          out.push({
            event: 'tls', hop, t, host, verified: tls?.authorized === true, depth: ++depth,
            ...(cert !== undefined ? { subject: cert.subject, issuer: cert.issuer, validTo: cert.validTo, fingerprint256: cert.fingerprint256 } : {}),
            ...(l.id === wide && tls !== undefined ? { ...(tls.version !== null ? { version: tls.version } : {}), cipher: tls.cipher, ...(tls.alpn !== null ? { alpn: tls.alpn } : {}) } : {}),
          });
          break;
        }
        case 'http1-connect':
        case 'http2-connect':
          out.push({
            event: 'connect', hop, t, host, port, target: l.connect?.target ?? '?',
            via: hops[hop]?.scheme ?? (l.kind === 'http2-connect' ? 'h2' : 'http'), ...(l.connect?.status !== undefined ? { status: l.connect.status } : {}),
            ...(l.connect?.status === 407 ? { offered: [...new Set((l.connect.headers ?? []).filter(([k]) => k === 'proxy-authenticate').map(([, v]) => v.split(/[\s,]/, 1)[0] ?? ''))] } : {}),
          });
          break;
        case 'socks5': {
          const sent = l.socks5?.target ?? '?';
          const next = hops[hop + 1];
          const named = next !== undefined ? addr(next.host, next.port) : sent;
          out.push({
            event: 'socks5', hop, t, host, port, target: named,
            ...(named !== sent ? { resolved: sent } : {}),
            ...(l.socks5?.bound !== undefined ? { bound: addr(l.socks5.bound.host, l.socks5.bound.port) } : {}),
          });
          break;
        }
        case 'socks4': {
          const sent = l.socks4?.target ?? '?';
          const next = hops[hop + 1];
          const named = next !== undefined ? addr(next.host, next.port) : sent;
          out.push({
            event: 'socks4', hop, t, host, port, version: String(l.socks4?.version ?? 4), target: named,
            ...(named !== sent ? { resolved: sent } : {}),
            ...(l.socks4?.bound !== undefined ? { bound: addr(l.socks4.bound.host, l.socks4.bound.port) } : {}),
          });
          break;
        }
        case 'http1':
        case 'http2':
          if (hop === last) out.push({ event: 'http', hop, t, host, port, protocol: l.kind === 'http2' ? 'HTTP/2' : 'HTTP/1.1' });
          break;
        default:
          break;
      }
    }
    this.onLayers(out);
  }
}

function addr(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

