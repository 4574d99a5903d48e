/**
 * `open()` options: their types, defaults and validation. Invalid options
 * throw at once, naming the option (`ERR_INVALID_OPTION`).
 */
import type { WsOptions } from '../ws.js';
import { resolveWsOptions, type ResolvedWsOptions } from './ws.js';
import { invalidOption } from '../../errors/errors.js';
import type { EventHandler } from '../events.js';
import { resolveProtocols, type ProtocolSpec, type ResolvedProtocol } from './hop.js';
import { resolveHttp1Options, resolveHttp2Options, type Http1Options, type Http2Options, type ResolvedHttp1Options, type ResolvedHttp2Options } from './http.js';
import { checkTlsOptions, type TlsOptions } from './tls.js';
import { checkHost, checkInt, checkKeys, checkPort, checkTimeout, checkTransport, isObject } from './validate.js';

/** What the retry function decides. */
export interface RetryDecision {
  /** Retries left after this one. */
  retries: number;
  /** Delay before the next attempt, ms. */
  timeout: number;
}

/** Decides the next reconnection attempt. `retriesLeft` counts down from `retry`. */
export type RetryFunction = (retriesLeft: number, opts: { retry: number; retryTimeout: number }) => RetryDecision;

/** A DNS lookup function: resolves a host name to the addresses to try, in order. */
export type LookupFunction = (host: string) => Promise<ReadonlyArray<{ address: string; family: 4 | 6 }>>;

/** Options of {@link open}. */
export interface OpenOptions {
  /** Host name or IP address of the first hop. */
  host: string;
  /** TCP port. */
  port: number;
  /** A Unix domain socket to dial instead of TCP (see {@link OpenUnixOptions}). */
  path?: string;
  /** `'tls'` by default for port 443, else `'tcp'`. */
  transport?: 'tcp' | 'tls';
  /**
   * What runs on this endpoint. Over TCP exactly one of `'http'`, `'http2'`
   * (prior knowledge), `'raw'` or `{ socks: SocksOptions }`; over TLS the ALPN
   * preference list, default `['http2', 'http']`, or a single raw/SOCKS layer.
   */
  protocols?: readonly ProtocolSpec[];
  /** TLS options for this endpoint only. */
  tls?: TlsOptions;
  /** DNS lookup timeout, ms; default 30000. */
  lookupTimeout?: number;
  /** TCP connect timeout (all addresses together), ms; default 30000. */
  connectTimeout?: number;
  /** TLS handshake timeout, ms; default 30000. */
  tlsHandshakeTimeout?: number;
  /** Reconnection attempts; default 5. 0 disables reconnection. */
  retry?: number;
  /** Delay between reconnection attempts, ms; default 5000 (the first retry is immediate). */
  retryTimeout?: number;
  /** Custom retry strategy. */
  retryFn?: RetryFunction;
  /** Custom DNS lookup (default: `dns.lookup` with `all: true`). */
  lookup?: LookupFunction;
  /** HTTP/1.1 options. */
  http?: Http1Options;
  /** HTTP/2 options. */
  http2?: Http2Options;
  /** Defaults of the WebSockets opened with `wsUpgrade` (Gun's `ws_opts`). */
  ws?: WsOptions;
  /**
   * Methods called synchronously as each layer, stream and the connection itself
   * start, come up, fail and end: the payloads of burrow's `diagnostics_channel`
   * channels (docs/events.md).
   */
  events?: EventHandler;
  /**
   * Keep per-stream mailboxes for `await`/`awaitBody`/`messages` (default true).
   * Set false when consuming only through events or `replyTo`, so nothing queues.
   */
  mailbox?: boolean;
}

/**
 * Options of {@link open} for a first hop reached by a Unix domain socket
 * (Gun's `open_unix`): `path` instead of TCP; `host` (default `localhost`) and
 * `port` (default 80, 443 with `transport: 'tls'`) are only what requests name
 * (the `host` header, TLS's server name).
 */
export type OpenUnixOptions = Omit<OpenOptions, 'host' | 'port' | 'path'> & { path: string; host?: string; port?: number };

/** Options after defaults are applied. */
export interface ResolvedOptions {
  host: string;
  port: number;
  /** The Unix domain socket dialled instead of TCP to `host:port`, when given. */
  path: string | undefined;
  transport: 'tcp' | 'tls';
  protocols: readonly ResolvedProtocol[];
  tls: TlsOptions;
  lookupTimeout: number;
  connectTimeout: number;
  tlsHandshakeTimeout: number;
  retry: number;
  retryTimeout: number;
  retryFn: RetryFunction;
  lookup: LookupFunction | undefined;
  http: ResolvedHttp1Options;
  http2: ResolvedHttp2Options;
  ws: ResolvedWsOptions;
  mailbox: boolean;
  events: EventHandler | undefined;
}

/** Gun's default: the first retry is immediate, the others wait `retryTimeout`. */
export const defaultRetryFn: RetryFunction = (retriesLeft, opts) => ({
  retries: retriesLeft - 1,
  timeout: retriesLeft === opts.retry ? 0 : opts.retryTimeout,
});

const OPEN_KEYS: ReadonlySet<string> = new Set([
  'host', 'port', 'path', 'transport', 'protocols', 'tls', 'lookupTimeout', 'connectTimeout', 'tlsHandshakeTimeout',
  'retry', 'retryTimeout', 'retryFn', 'lookup', 'http', 'http2', 'ws', 'mailbox', 'events',
]);

/** Validates `open()` options and applies defaults. Throws `ERR_INVALID_OPTION`. */
export function resolveOpenOptions(input: unknown): ResolvedOptions {
  if (!isObject(input)) throw invalidOption('options', 'must be an object');
  checkKeys('', input, OPEN_KEYS);
  const path = checkSocketPath(input['path']);
  const host = path !== undefined && input['host'] === undefined ? 'localhost' : checkHost('host', input['host']);
  const unixPort = path !== undefined && input['port'] === undefined ? (input['transport'] === 'tls' ? 443 : 80) : undefined;
  const port = unixPort ?? checkPort('port', input['port']);
  const transport = checkTransport('transport', input['transport'], port === 443 ? 'tls' : 'tcp');
  const retryFn = input['retryFn'];
  if (retryFn !== undefined && typeof retryFn !== 'function') throw invalidOption('retryFn', 'must be a function');
  const lookup = input['lookup'];
  if (lookup !== undefined && typeof lookup !== 'function') throw invalidOption('lookup', 'must be a function');
  const mailbox = input['mailbox'];
  if (mailbox !== undefined && typeof mailbox !== 'boolean') throw invalidOption('mailbox', 'must be a boolean');
  const events = input['events'];
  if (events !== undefined && (typeof events !== 'object' || events === null)) throw invalidOption('events', 'must be an object of event handler methods');
  if (transport === 'tcp' && input['tls'] !== undefined) throw invalidOption('tls', "only meaningful with transport 'tls'");
  return {
    host,
    port,
    path,
    transport,
    protocols: resolveProtocols('protocols', input['protocols'], transport),
    tls: checkTlsOptions('tls', input['tls']),
    lookupTimeout: checkTimeout('lookupTimeout', input['lookupTimeout'], 30000),
    connectTimeout: checkTimeout('connectTimeout', input['connectTimeout'], 30000),
    tlsHandshakeTimeout: checkTimeout('tlsHandshakeTimeout', input['tlsHandshakeTimeout'], 30000),
    retry: checkInt('retry', input['retry'], 5, 0, 2 ** 31 - 1),
    retryTimeout: checkTimeout('retryTimeout', input['retryTimeout'], 5000),
    retryFn: (retryFn as RetryFunction | undefined) ?? defaultRetryFn,
    lookup: lookup as LookupFunction | undefined,
    http: resolveHttp1Options(input['http']),
    http2: resolveHttp2Options(input['http2']),
    ws: resolveWsOptions('ws', input['ws']),
    mailbox: (mailbox as boolean | undefined) ?? true,
    events: events as EventHandler | undefined,
  };
}


/** Checks a Unix domain socket path: a non-empty string without NUL. */
export function checkSocketPath(v: unknown, name = 'path'): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length === 0 || v.includes('\0')) throw invalidOption(name, 'a Unix domain socket path: a non-empty string without NUL');
  return v;
}
