/**
 * `burrow [options] URL`: one request (and its redirects with -L) through the
 * proxy chain, the response streamed to stdout or a file.
 */
import { readFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { basename } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { TlsOptions } from '../shared/options/tls.js';
import { BurrowError } from '../errors/errors.js';
import { noProxyMatches, proxyForUrl, type ProxyEnv } from '../request/env.js';
import { parseProxyUrl, type ProxyHop } from '../request/proxy-url.js';
import { request, type RedirectInfo, type RedirectOverride, type RouteAttempt, type ViaEntry } from '../request/request.js';
import { ACCEPT_ENCODING } from '../request/decompress.js';
import { envPacChain } from '../request/route-choice.js';
import { targetOf } from '../request/target.js';
import type { Response } from '../request/response.js';
import { parseHeaderArg, UsageError, type CliOptions } from './args.js';
import { prepareBody, ReadError, type PreparedBody } from './body.js';
import { openCookies, saveCookies, type CliCookies } from './cookies.js';
import { describeError, EXIT, exitCodeFor } from './exit-codes.js';
import { fileSink, ProgressBar, streamSink, WriteError, type Sink } from './output.js';
import { describeRoute, type HopDesc, type LayerEvent } from './route-trace.js';
import { openTracing, type Tracer } from './trace.js';
import { maskCredentialHeaders, maskUrl } from '../shared/redact.js';
import { hopAuth, ProxyAuthArgError, proxyAuthHops } from './proxy-auth-args.js';
import type { HeaderList } from '../shared/headers.js';

/** What a run talks to. */
export interface RunIo {
  readonly stdout: Writable;
  /** What a WebSocket run sends (one text message per line); default none. */
  readonly stdin?: Readable;
  /** stderr: `write` and whether it is a terminal. */
  readonly stderr: { write(s: string): unknown; readonly isTTY?: boolean };
  readonly env: ProxyEnv;
  readonly version: string;
}

/** A CA file could not be read (curl: CURLE_SSL_CACERT_BADFILE). */
export const EXIT_CACERT = 77;

/** A failure with its exit code. */
export class CliFailure extends Error {
  constructor(
    message: string,
    readonly exit: number,
  ) {
    super(message);
  }
}

/** Reads a CA file; fails with exit 77. */
export function readCa(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new CliFailure(`cannot read ${what} ${path}: ${(e as Error).message}`, EXIT_CACERT);
  }
}

/** A proxy URL with its credentials, from a parsed hop (the environment's). */
function hopUrl(h: ProxyHop): string {
  const host = h.host.includes(':') ? `[${h.host}]` : h.host;
  const user = h.username === undefined ? '' : `${encodeURIComponent(h.username)}${h.password === undefined ? '' : `:${encodeURIComponent(h.password)}`}@`;
  return `${h.scheme}://${user}${host}:${h.port}`;
}

function statusLine(res: Response): string {
  return res.version === '2' ? `HTTP/2 ${res.status}` : `HTTP/${res.version} ${res.status} ${STATUS_CODES[res.status] ?? ''}`.trimEnd();
}

function headerBlock(res: Response): Buffer {
  // The headers as received (with --compressed, content-encoding and content-length included), as curl writes them.
  return Buffer.from(`${[statusLine(res), ...(res.decoded?.headers ?? res.headers).map(([k, v]) => `${k}: ${v}`)].join('\r\n')}\r\n\r\n`, 'latin1');
}

/** `-O`: the last segment of the URL path. */
export function remoteName(url: URL): string {
  const seg = url.pathname.split('/').pop() ?? '';
  let name: string;
  try {
    name = decodeURIComponent(seg);
  } catch {
    name = seg;
  }
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\\') || name !== basename(name)) {
    throw new CliFailure(`-O: the URL ${maskUrl(url)} has no file name in its path (use -o FILE)`, EXIT.WRITE);
  }
  return name;
}

/** The `via` of a chain: each hop with its own CA, verification and stage timeouts. `proxyTls` keeps one TLS object per hop for the run. */
export function viaOf(o: CliOptions, chain: Chain, proxyTls: Map<number, TlsOptions>, proxyCas: ReadonlyMap<number, string>, stageTimeout: number | undefined): ViaEntry[] {
  for (const n of [...proxyCas.keys(), ...o.proxyInsecure, ...proxyAuthHops(o.proxyUsers, o.proxyAuth)]) {
    if (n > chain.hops.length) throw new UsageError(`hop ${n} is not in the proxy chain (${chain.hops.length} ${chain.hops.length === 1 ? 'proxy' : 'proxies'})`);
  }
  return chain.urls.map((url, i) => {
    const ca = proxyCas.get(i + 1);
    let tls = proxyTls.get(i);
    if (tls === undefined) {
      tls = { ...(ca !== undefined ? { ca } : {}), ...(o.proxyInsecure.includes(i + 1) ? { rejectUnauthorized: false } : {}) };
      proxyTls.set(i, tls);
    }
    if (chain.hops[i]?.kind !== 'connect' && o.proxyUsers.some((u) => u.hop === i + 1)) throw new UsageError(`--proxy-user ${i + 1}: proxy ${i + 1} is not an HTTP proxy (give SOCKS credentials in its URL)`);
    let auth;
    try {
      auth = chain.hops[i]?.kind === 'connect' ? hopAuth(o.proxyUsers, o.proxyAuth, i + 1, chain.urls.length) : undefined;
    } catch (e) {
      throw e instanceof ProxyAuthArgError ? new UsageError(e.message) : e;
    }
    return {
      url,
      tls,
      ...(auth !== undefined ? { auth } : {}),
      ...(stageTimeout !== undefined ? { connectTimeout: stageTimeout, tlsHandshakeTimeout: stageTimeout, socksTimeout: stageTimeout } : {}),
    };
  });
}

/** A proxy chain and where it came from. */
export interface Chain {
  readonly hops: ProxyHop[];
  readonly urls: string[];
  readonly from: 'option' | 'environment' | 'none';
}

/** The proxy chain for `target`: `-x`, else the environment's (`--noproxy` applies to both). */
export function chainFor(o: CliOptions, target: URL, env: ProxyEnv): Chain {
  const port = target.port === '' ? (target.protocol === 'https:' ? 443 : 80) : Number(target.port);
  const host = target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname;
  if (o.proxies !== undefined) {
    if (o.proxies.length === 0 || (o.noproxy !== undefined && noProxyMatches(o.noproxy, host, port))) return { hops: [], urls: [], from: 'none' };
    const hops = o.proxies.map((p, i) => parseProxyUrl(p, o.proxies && o.proxies.length > 1 ? `-x[${i + 1}]` : '-x'));
    return { hops, urls: [...o.proxies], from: 'option' };
  }
  const e: ProxyEnv = o.noproxy === undefined ? env : { ...env, no_proxy: o.noproxy, NO_PROXY: o.noproxy };
  const hops = proxyForUrl(target, e);
  return { hops, urls: hops.map(hopUrl), from: hops.length > 0 ? 'environment' : 'none' };
}

/** Builds the request headers: defaults, then -H (which replace or, with `Name:`, remove them). */
function buildHeaders(o: CliOptions, target: URL, version: string, body: PreparedBody | undefined): Array<[string, string]> {
  const list: Array<[string, string]> = [
    ['host', target.host],
    ['user-agent', o.userAgent ?? `burrow/${version}`],
    ['accept', '*/*'],
  ];
  if (o.compressed) list.push(['accept-encoding', ACCEPT_ENCODING]);
  if (body !== undefined) {
    if (body.contentType !== undefined) list.push(['content-type', body.contentType]);
    if (body.length !== undefined) list.push(['content-length', String(body.length)]);
  }
  const defaults = new Set(list.map(([k]) => k));
  for (const h of o.headers) {
    const { name, value } = parseHeaderArg(h);
    const lower = name.toLowerCase();
    if (defaults.has(lower)) {
      defaults.delete(lower);
      const i = list.findIndex(([k]) => k === lower);
      if (value === undefined) list.splice(i, 1);
      else list[i] = [lower, value];
    } else if (value === undefined) {
      for (let i = list.length - 1; i >= 0; i--) if ((list[i] as [string, string])[0] === lower) list.splice(i, 1);
    } else {
      list.push([lower, value]);
    }
  }
  return list;
}

/**
 * The connection API labels its first hop `origin` for DNS, TCP and TLS
 * failures even when it is a proxy: name it as the route does.
 */
export function relabelHop(e: unknown, route: readonly HopDesc[]): unknown {
  if (!(e instanceof BurrowError) || e.hop === undefined) return e;
  const h = route[e.hop.index];
  if (h === undefined || h.kind === e.hop.kind || h.host !== e.hop.host || h.port !== e.hop.port) return e;
  const oldPrefix = new BurrowError(e.code, '', { stage: e.stage, hop: e.hop }).message;
  if (!e.message.startsWith(oldPrefix)) return e;
  const hop = { ...e.hop, kind: h.kind };
  const fixed = new BurrowError(e.code, e.message.slice(oldPrefix.length), { stage: e.stage, hop, cause: e.cause, details: e.details });
  fixed.stack = e.stack;
  return fixed;
}

/** The hop being set up after `last` came up (the next one once a hop's protocol is through). */
function hopAfter(last: LayerEvent | undefined, route: readonly HopDesc[]): HopDesc | undefined {
  if (last === undefined) return route[0];
  const done = last.event === 'connect' || last.event === 'socks5' || last.event === 'socks4' || last.event === 'http';
  return route[Math.min(last.hop + (done ? 1 : 0), route.length - 1)];
}

/** Runs a request as the command line says. Returns the exit code. */
export async function runRequest(o: CliOptions, io: RunIo): Promise<number> {
  const err = (s: string): void => {
    io.stderr.write(s);
  };
  const tracing = openTracing(o, err);
  if (tracing === undefined) return EXIT.WRITE;
  const { tracer, recorder } = tracing;
  const warn = (message: string): void => {
    tracer.emit({ event: 'warning', t: recorder.now(), message });
    err(`burrow: warning: ${message}\n`);
  };
  let lastLayer: LayerEvent | undefined;
  recorder.onLayers = (events) => {
    for (const ev of events) tracer.emit(ev, false);
    lastLayer = events[events.length - 1] ?? lastLayer;
  };
  let sink: Sink | undefined;
  let current: URL | undefined;
  let currentRoute: HopDesc[] = [];
  let cookies: CliCookies | undefined;
  try {
    cookies = openCookies(o);
    if (o.insecure) warn("-k/--insecure: the origin's certificate is NOT verified");
    for (const n of o.proxyInsecure) warn(`--proxy-insecure ${n}: the certificate of proxy ${n} is NOT verified`);
    const originTls: TlsOptions = {
      ...(o.cacert !== undefined ? { ca: readCa(o.cacert, '--cacert') } : {}),
      ...(o.insecure ? { rejectUnauthorized: false } : {}),
    };
    // One TLS options object per hop for the whole run: routes opened again (redirects) are pooled by value anyway.
    const proxyTls = new Map<number, TlsOptions>();
    const proxyCas = new Map<number, string>();
    for (const c of o.proxyCacerts) proxyCas.set(c.hop, readCa(c.path, `--proxy-cacert ${c.hop}:`));
    const body = o.data === undefined ? undefined : await prepareBody(o.data);
    const stageTimeout = o.connectTimeout === undefined ? undefined : Math.round(o.connectTimeout * 1000);
    const deadline = o.maxTime === undefined ? undefined : recorder.now() + o.maxTime * 1000;

    const target = new URL(o.url);
    const outputName = o.output ?? (o.remoteName ? remoteName(target) : undefined);
    let method = o.method ?? (o.head ? 'HEAD' : body !== undefined ? 'POST' : 'GET');
    const headers = buildHeaders(o, target, io.version, body);
    if (cookies.pairs !== undefined) headers.push(['cookie', cookies.pairs]);
    const progressWanted = outputName !== undefined && outputName !== '-' && !o.silent && (io.stderr.isTTY === true || io.env['BURROW_FORCE_PROGRESS'] === '1');
    const output = (): Sink => {
      sink ??= outputName === undefined || outputName === '-' ? streamSink(io.stdout, 'stdout') : fileSink(outputName);
      return sink;
    };

    // A PAC script (--proxy-pac, or a pac+ URL in the proxy variables) chooses the first hop; -x hops follow it.
    const pac = o.proxyPac ?? (o.proxies === undefined ? envPacChain(targetOf(target), o.noproxy === undefined ? io.env : { ...io.env, no_proxy: o.noproxy, NO_PROXY: o.noproxy })?.[0] : undefined);
    /** Starts the trace of a request to `t` (the first, or a redirect's) and returns its proxy chain. */
    const begin = (t: URL, m: string, hs: HeaderList): ViaEntry[] => {
      current = t;
      const chain = pac !== undefined && o.proxies === undefined ? { hops: [], urls: [], from: 'none' as const } : chainFor(o, t, io.env);
      const via = viaOf(o, chain, proxyTls, proxyCas, stageTimeout);
      const route = describeRoute(chain.hops, t);
      currentRoute = route;
      recorder.route = route;
      tracer.emit({ event: 'start', t: recorder.now(), method: m, url: maskUrl(t), route, proxiesFrom: chain.from });
      const path = `${t.pathname}${t.search}` || '/';
      recorder.onRequest = (protocol) => {
        tracer.emit({ event: 'request', t: recorder.now(), method: m, path, protocol, headers: maskCredentialHeaders(hs) });
      };
      return via;
    };

    // --connect-timeout also bounds the whole connection phase of each route, every hop together.
    const ac = new AbortController();
    let connectDeadlineHit = false;
    recorder.onOpening = () => {
      if (stageTimeout === undefined) return () => {};
      const timer = setTimeout(() => {
        connectDeadlineHit = true;
        ac.abort();
      }, stageTimeout);
      return () => clearTimeout(timer);
    };
    const total = deadline === undefined ? undefined : Math.max(1, Math.round(deadline - recorder.now()));

    // -L: the library follows the redirects (its rules for methods, bodies and headers to another origin);
    // onRedirect keeps the trace, the -i output of each redirect and the route chosen per URL.
    const onRedirect = async (r: RedirectInfo): Promise<RedirectOverride> => {
      tracer.emit({ event: 'response', t: recorder.now(), status: r.status, version: r.response.version, headers: r.response.headers });
      if (o.include || o.head) await output().write(headerBlock(r.response));
      if (r.body && body !== undefined && !body.replayable) throw new CliFailure(`cannot send the body from stdin again for the ${r.status} redirect to ${maskUrl(r.to)}`, EXIT.OTHER);
      tracer.emit({ event: 'redirect', t: recorder.now(), status: r.status, to: maskUrl(r.to), method: r.method, dropped: r.dropped });
      method = r.method;
      const via = begin(r.to, r.method, r.headers);
      return r.body && body !== undefined ? { via, body: body.open() } : { via };
    };

    let res: Response;
    try {
      res = await request(target, {
        method,
        headers,
        body: body === undefined ? null : body.open(),
        via: begin(target, method, headers),
        tls: originTls,
        ...(o.protocols !== undefined ? { protocols: o.protocols } : {}),
        timeouts: {
          ...(stageTimeout !== undefined ? { connect: stageTimeout, tlsHandshake: stageTimeout } : {}),
          ...(total !== undefined ? { total } : {}),
        },
        pool: recorder.pool,
        events: recorder.events,
        signal: ac.signal,
        decompress: o.compressed,
        ...(o.unixSocket !== undefined ? { socketPath: o.unixSocket } : {}),
        retry: false,
        redirect: o.location ? 'follow' : 'manual',
        maxRedirects: o.maxRedirs,
        onRedirect,
        ...(cookies.jar !== undefined ? { cookies: cookies.jar } : {}),
        ...(pac !== undefined ? { pac } : {}),
        ...(o.proxyFallback.length > 0 ? { fallback: o.proxyFallback } : {}),
        onRoute: (a: RouteAttempt) => {
          if (a.outcome === 'failed') recorder.flush();
          if (a.outcome === 'trying') recorder.route = describeRoute(a.route.map((u) => parseProxyUrl(u, 'route')), current ?? target);
          tracer.emit({ event: 'route', t: recorder.now(), outcome: a.outcome, source: a.source, route: a.route, remembered: a.remembered, ...(a.error !== undefined ? { code: a.error.code, message: a.error.message } : {}) });
        },
      });
    } catch (e) {
      recorder.flush();
      if (connectDeadlineHit && e instanceof BurrowError && e.code === 'ERR_ABORTED') {
        const last = lastLayer === undefined ? 'none' : `hop ${lastLayer.hop} ${lastLayer.event.toUpperCase()}`;
        const h = hopAfter(lastLayer, currentRoute);
        // request() names the hop and stage it was waiting for when the route was not up yet.
        const during = e.details['during'];
        const hop = e.hop ?? (h !== undefined ? { index: h.index, kind: h.kind, host: h.host, port: h.port, transport: h.transport } : undefined);
        const waiting = typeof during === 'string' ? ` (waiting for ${during})` : '';
        throw new BurrowError('ERR_CONNECT_TIMEOUT', `the route to ${current?.host ?? target.host} was not up within ${o.connectTimeout ?? 0} s (--connect-timeout); last layer up: ${last}${waiting}`, {
          stage: 'timeout',
          hop,
          details: { timeoutMs: stageTimeout ?? 0, ...(typeof during === 'string' ? { during } : {}) },
        });
      }
      if (e instanceof BurrowError && e.code === 'ERR_TOO_MANY_REDIRECTS') throw new CliFailure(`more than ${o.maxRedirs} redirects (--max-redirs)`, EXIT.TOO_MANY_REDIRECTS);
      if (e instanceof BurrowError && e.code === 'ERR_REDIRECT_LOCATION') {
        const location = String(e.details['location']);
        throw new CliFailure(
          e.details['reason'] === 'scheme' ? `not following a redirect to ${location}` : `the redirect location ${JSON.stringify(location)} is not a valid URL`,
          EXIT.OTHER,
        );
      }
      throw e;
    }
    tracer.emit({ event: 'response', t: recorder.now(), status: res.status, version: res.version, headers: res.decoded?.headers ?? res.headers });

    if (o.fail && res.status >= 400) {
      res.cancel();
      const at = current ?? target;
      throw new CliFailure(`origin ${at.protocol}//${at.host}: ${maskUrl(at)} returned HTTP ${res.status} (--fail) [stage http]`, EXIT.HTTP_ERROR);
    }

    const out = output();
    if (o.include || o.head) await out.write(headerBlock(res));
    let bytes = 0;
    if (method === 'HEAD') {
      res.cancel();
    } else {
      const length = res.header('content-length');
      const bar = progressWanted ? new ProgressBar(err, length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined) : undefined;
      for await (const chunk of res.body) {
        bytes += chunk.length;
        bar?.add(chunk.length);
        await out.write(chunk);
      }
      bar?.finish();
    }
    await out.close();
    tracer.emit({ event: 'done', t: recorder.now(), status: res.status, bytes });
    if (tracer.writeError !== undefined) throw new WriteError(`writing the trace to ${o.traceJson ?? ''} failed: ${tracer.writeError.message}`);
    return EXIT.OK;
  } catch (e) {
    return reportFailure(e, o, { url: current, route: currentRoute, tracer, now: recorder.now(), err });
  } finally {
    const saveError = await saveCookies(o, cookies?.jar, io.stdout);
    if (saveError !== undefined) err(`burrow: warning: ${saveError}\n`);
    await sink?.abort();
    await recorder.pool.close();
    tracer.close();
  }
}

/** Reports a run's failure (stderr, the trace) and returns its exit code. */
export function reportFailure(e: unknown, o: CliOptions, at: { url: URL | undefined; route: readonly HopDesc[]; tracer: Tracer; now: number; err: (s: string) => void }): number {
  let exit: number;
  let message: string;
  const body = e instanceof BurrowError && e.code === 'ERR_INVALID_REQUEST' && e.cause instanceof ReadError ? e.cause : relabelHop(e, at.route);
  if (body instanceof UsageError) {
    exit = EXIT.USAGE;
    message = `${body.message} (see burrow --help)`;
  } else if (body instanceof WriteError) {
    exit = EXIT.WRITE;
    message = body.message;
  } else if (body instanceof ReadError) {
    exit = EXIT.READ;
    message = body.message;
  } else if (body instanceof CliFailure) {
    exit = body.exit;
    message = body.message;
  } else {
    exit = exitCodeFor(body);
    message = describeError(body, at.url === undefined ? undefined : `request to ${maskUrl(at.url)}`);
    if (body instanceof BurrowError && body.code === 'ERR_REQUEST_TIMEOUT' && o.maxTime !== undefined) message += ` (-m ${o.maxTime})`;
  }
  const be = body instanceof BurrowError ? body : undefined;
  at.tracer.emit({
    event: 'error',
    t: at.now,
    message,
    exit,
    ...(be !== undefined ? { code: be.code, stage: be.stage, ...(be.hop !== undefined ? { hop: be.hop } : {}) } : {}),
  });
  at.err(`burrow: ${message}\n`);
  return exit;
}
