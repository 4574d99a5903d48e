/**
 * The options of {@link ChainAgent}: Node's `http.Agent` options (keep-alive,
 * socket limits) plus the chain every request goes through, and their checks.
 */
import type { AgentOptions } from 'node:http';
import { BurrowError } from '../../errors/errors.js';
import type { ProxyEnv } from '../../request/env.js';
import type { ViaEntry } from '../../request/request.js';
import type { EventHandler } from '../../shared/events.js';
import type { LookupFunction } from '../../shared/options/open.js';
import type { TlsOptions } from '../../shared/options/tls.js';

/**
 * Options of {@link ChainAgent}. Node's own agent options keep their meaning:
 * `keepAlive`, `keepAliveMsecs`, `maxSockets`, `maxTotalSockets`,
 * `maxFreeSockets`, `scheduling` and `timeout` apply to the sockets the agent
 * hands out, one tunnel each; sockets are pooled per route (origin, TLS
 * options to the origin), as Node pools them per host.
 */
export interface ChainAgentOptions extends AgentOptions {
  /**
   * The proxy chain, first hop first, as in `request()`: proxy URLs
   * (`http://`, `https://`, `h2c://`, `h2://`, `socks5://`, `socks5h://`,
   * `socks5s://`, `socks5hs://`, `socks4://`, `socks4a://`), or `{ url, tls, connectTimeout,
   * tlsHandshakeTimeout, socksTimeout }` for the options of one hop (its TLS
   * options belong to that proxy only). A string may name a whole chain. An
   * empty chain connects directly.
   */
  via?: readonly ViaEntry[] | string;
  /**
   * When `via` is not given: the chain of each request comes from the proxy
   * environment variables (`true`: `process.env`), per URL, with `NO_PROXY`
   * (CIDR blocks included) sending a request directly. See
   * {@link ChainAgent.fromEnv}.
   */
  env?: boolean | ProxyEnv;
  /**
   * TLS options for `https:` origins, under those of each request (a
   * request's `ca`, `servername`, `rejectUnauthorized`… win). They never
   * reach a proxy.
   */
  originTls?: TlsOptions;
  /** Custom DNS lookup for the hops burrow resolves. */
  lookup?: LookupFunction;
  /** TCP connect timeout of the first hop, ms (a hop's own `connectTimeout` wins). */
  connectTimeout?: number;
  /** TLS handshake timeout with an `https:` origin, ms; default 30000. */
  originTlsHandshakeTimeout?: number;
  /** Methods called as each tunnel's layers come up and go down (docs/events.md). */
  events?: EventHandler;
}

/** The keys of {@link ChainAgentOptions} that are burrow's, not Node's. */
export const CHAIN_KEYS = ['via', 'env', 'originTls', 'lookup', 'connectTimeout', 'originTlsHandshakeTimeout', 'events'] as const;

function invalid(option: string, what: string): BurrowError {
  return new BurrowError('ERR_INVALID_OPTION', `invalid option ${option}: ${what}`, { stage: 'options', details: { option } });
}

/** Checks the burrow-specific options (the chain itself is checked per request, when its hops are resolved). */
export function checkChainOptions(o: ChainAgentOptions): void {
  if (o.via !== undefined && typeof o.via !== 'string' && !Array.isArray(o.via)) throw invalid('via', 'a list of proxy URLs or a string');
  if (o.env !== undefined && typeof o.env !== 'boolean' && (typeof o.env !== 'object' || o.env === null)) throw invalid('env', 'a boolean or an object of variables');
  if (o.originTls !== undefined && (typeof o.originTls !== 'object' || o.originTls === null)) throw invalid('originTls', 'an object of TLS options');
  if (o.lookup !== undefined && typeof o.lookup !== 'function') throw invalid('lookup', 'a function');
  for (const k of ['connectTimeout', 'originTlsHandshakeTimeout'] as const) {
    const v = o[k];
    if (v !== undefined && (typeof v !== 'number' || !(v > 0))) throw invalid(k, 'a positive number of ms');
  }
}

/** Node's agent options only: burrow's stay out of `agent.options`, which Node merges into every request. */
export function nodeAgentOptions(o: ChainAgentOptions): AgentOptions {
  const out: Record<string, unknown> = { ...o };
  for (const k of CHAIN_KEYS) delete out[k];
  return out as AgentOptions;
}
