/**
 * The routes a request may take, in order, when it has a choice: the PAC
 * script's answer (`pac`, a `pac+…` first entry of `via`, or a `pac+…` proxy
 * variable), each followed by the rest of `via` (a script that fails is one
 * failed route when `fallback` chains follow, else the request's error); or
 * `via` (or the environment's chain) itself; then each chain of `fallback`. A PAC script
 * fetched over HTTP(S) is fetched directly, never through a proxy (as
 * browsers fetch theirs): the script is what says which proxy to use.
 */
import { BurrowError } from '../errors/errors.js';
import type { PacFetcher } from '../pac/cache.js';
import type { PacLookup } from '../pac/helpers.js';
import { resolvePac, type ResolvedPac } from '../pac/options.js';
import { isPacUrl } from '../pac/source.js';
import { noProxyMatches, type ProxyEnv } from './env.js';
import { exchange } from './exchange.js';
import { routeHops, type RequestInit, type ViaEntry } from './init.js';
import { parseProxyUrl, rememberedProxyUrl, splitChain } from './proxy-url.js';
import { targetOf, type Target } from './target.js';

/** One route to try. */
export interface Alternative {
  /** The chain, as `via`; undefined: the proxy environment variables' (as `env` says). */
  readonly via: readonly ViaEntry[] | undefined;
  /** Its proxies, passwords masked. */
  readonly label: readonly string[];
  /** `pac (PROXY a:1)`, `via`, `environment`, `fallback[i]`. */
  readonly source: string;
  /** A route known to be unusable before it is tried (a PAC directive burrow cannot follow). */
  readonly error?: BurrowError;
}

/** How long a PAC script's fetch may take, ms. */
const PAC_FETCH_TIMEOUT = 10_000;
/** The largest PAC script fetched, bytes. */
const MAX_PAC_BYTES = 4 * 1024 * 1024;

const ACCEPT: readonly [string, string] = ['accept', 'application/x-ns-proxy-autoconfig, application/javascript, */*;q=0.8'];

/** The proxy variable `proxyForUrl` would read for `target`, when it names a PAC script (and `no_proxy` does not exclude the target). */
export function envPacChain(target: Target, env: RequestInit['env']): string[] | undefined {
  if (env === undefined || env === false) return undefined;
  const e: ProxyEnv = env === true ? process.env : env;
  const names = target.scheme === 'https' ? ['https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY'] : ['http_proxy', 'all_proxy', 'ALL_PROXY'];
  for (const name of names) {
    const value = e[name];
    if (typeof value !== 'string') continue;
    if (!isPacUrl(value.trim())) return undefined;
    const noProxy = e['no_proxy'] ?? e['NO_PROXY'];
    if (noProxy !== undefined && noProxyMatches(noProxy, target.host, target.port)) return [];
    return splitChain(value);
  }
  return undefined;
}

function entryUrl(e: ViaEntry): string | URL {
  return typeof e === 'string' || e instanceof URL ? e : e.url;
}

/** True when `via`'s first entry names a PAC script. */
export function viaHasPac(via: RequestInit['via']): boolean {
  if (via === undefined) return false;
  if (typeof via === 'string') return isPacUrl(via.trim());
  const first = Array.isArray(via) ? (via[0] as ViaEntry | undefined) : undefined;
  return first !== undefined && isPacUrl(entryUrl(first));
}

/** True when `request()` has routes to choose from for this call (PAC, `fallback`): the fail-over step runs. */
export function choosesRoute(url: string | URL, init: RequestInit): boolean {
  if (init.pac !== undefined || init.fallback !== undefined) return true;
  if (init.via !== undefined) return viaHasPac(init.via);
  if (init.env === undefined || init.env === false) return false;
  try {
    return envPacChain(targetOf(url), init.env) !== undefined;
  } catch {
    return false; // a bad URL: the exchange reports it
  }
}

function labelOf(via: readonly ViaEntry[], name: string): string[] {
  return via.map((e, i) => rememberedProxyUrl(entryUrl(e), `${name}[${i}]`).url);
}

function chainOf(v: readonly ViaEntry[] | string, name: string): ViaEntry[] {
  if (typeof v === 'string') return splitChain(v);
  if (!Array.isArray(v)) throw new BurrowError('ERR_INVALID_OPTION', `invalid option ${name}: a list of proxy URLs or a string`, { stage: 'options', details: { option: name } });
  return [...v];
}

/** The PAC script of the call and the hops that follow its choice, or undefined when it has none. */
function pacOf(target: Target, init: RequestInit): { pac: ResolvedPac; rest: ViaEntry[] } | undefined {
  const via = init.via === undefined ? undefined : chainOf(init.via, 'via');
  if (init.pac !== undefined) return { pac: resolvePac(init.pac), rest: via ?? [] };
  if (via !== undefined && via.length > 0 && isPacUrl(entryUrl(via[0] as ViaEntry))) {
    for (let i = 1; i < via.length; i++) if (isPacUrl(entryUrl(via[i] as ViaEntry))) throw new BurrowError('ERR_INVALID_OPTION', `invalid option via[${i}]: a PAC script can only be the first entry`, { stage: 'options', details: { option: `via[${i}]` } });
    return { pac: resolvePac(String(entryUrl(via[0] as ViaEntry)), 'via[0]'), rest: via.slice(1) };
  }
  if (via !== undefined) return undefined;
  const env = envPacChain(target, init.env);
  if (env === undefined || env.length === 0) return undefined;
  return { pac: resolvePac(env[0] as string, 'proxy environment'), rest: env.slice(1) };
}

/** Fetches a PAC script directly, with the request's `lookup` and pool and the script's TLS options. */
function fetcherFor(init: RequestInit, pac: ResolvedPac): PacFetcher {
  return async (url, headers) => {
    const res = await exchange(url, {
      via: [],
      headers: [ACCEPT, ...headers],
      ...(pac.tls !== undefined ? { tls: pac.tls } : {}),
      ...(init.lookup !== undefined ? { lookup: init.lookup } : {}),
      ...(init.pool !== undefined ? { pool: init.pool } : {}),
      timeouts: { total: PAC_FETCH_TIMEOUT },
    });
    if (res.status !== 200) {
      res.cancel();
      return { status: res.status, headers: res.headers, text: '' };
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += chunk.length;
      if (size > MAX_PAC_BYTES) {
        res.cancel();
        throw new Error(`the script is larger than ${MAX_PAC_BYTES} bytes`);
      }
      chunks.push(chunk);
    }
    return { status: 200, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') };
  };
}

/** The routes of the call, in the order they are to be tried. Rejects with `ERR_INVALID_OPTION` or a PAC error (stage `pac`). */
export async function alternativesOf(target: Target, init: RequestInit): Promise<Alternative[]> {
  const out: Alternative[] = [];
  const pac = pacOf(target, init);
  if (pac !== undefined) {
    const lookup = init.lookup as PacLookup | undefined;
    // The engine and its packages load with the first PAC script, not with burrow.
    const { findRoutes } = await import('../pac/find.js');
    const restLabel = labelOf(pac.rest, 'via');
    let directives: Awaited<ReturnType<typeof findRoutes>>;
    try {
      directives = await findRoutes(pac.pac, target.href, fetcherFor(init, pac.pac), lookup);
    } catch (e) {
      // With fallback chains, a PAC script that fails (fetch, run, answer) is one failed route: the chains follow.
      if (!(e instanceof BurrowError) || e.stage !== 'pac' || (init.fallback ?? []).length === 0) throw e;
      directives = [];
      out.push({ via: [], label: [], source: `pac (${pac.pac.source.name})`, error: e });
    }
    for (const d of directives) {
      const source = `pac (${d.text === '' ? 'DIRECT' : d.text})`;
      if (d.direct) {
        out.push({ via: pac.rest, label: restLabel, source });
        continue;
      }
      try {
        const hop = parseProxyUrl(d.url, 'pac');
        out.push({ via: [hop.url, ...pac.rest], label: [hop.url, ...restLabel], source });
      } catch (e) {
        const error = new BurrowError('ERR_PAC_UNSUPPORTED', `the PAC directive ${JSON.stringify(d.text)} names a proxy burrow cannot use (${d.url.slice(0, d.url.indexOf(':'))})`, { stage: 'pac', cause: e, details: { directive: d.text } });
        out.push({ via: [], label: [d.url, ...restLabel], source, error });
      }
    }
  } else if (init.via !== undefined) {
    const via = chainOf(init.via, 'via');
    out.push({ via, label: labelOf(via, 'via'), source: 'via' });
  } else {
    // The environment's chain (or none): `via` left unset lets the exchange read it as usual.
    const label = routeHops(undefined, target.href, init.env).map((h) => h.proxy.url);
    out.push({ via: undefined, label, source: init.env === undefined || init.env === false ? 'direct' : 'environment' });
  }
  const fallback = init.fallback ?? [];
  if (!Array.isArray(fallback)) throw new BurrowError('ERR_INVALID_OPTION', 'invalid option fallback: a list of chains', { stage: 'options', details: { option: 'fallback' } });
  (fallback as RequestInit['fallback'] & unknown[]).forEach((chain, i) => {
    const via = chainOf(chain, `fallback[${i}]`);
    out.push({ via, label: labelOf(via, `fallback[${i}]`), source: `fallback[${i}]` });
  });
  return out;
}
