/**
 * Connection options: their types, defaults and validation. Invalid options
 * throw at once, naming the option (`ERR_INVALID_OPTION`).
 */
import { isIP } from 'node:net';
import type { ConnectionOptions as NodeTlsOptions, SecureContext } from 'node:tls';
import { invalidOption } from '../errors/errors.js';
import { resolveProtocols, type ProtocolSpec, type ResolvedProtocol } from '../tunnel/destination.js';

/**
 * TLS options for one endpoint only (never shared with another hop). These are
 * Node's `tls.connect` options; certificate verification is on unless
 * `rejectUnauthorized: false` is given explicitly. SNI defaults to the host
 * (not sent for an IP address); ALPN comes from `protocols`.
 */
export type TlsOptions = Pick<
  NodeTlsOptions,
  | 'ca'
  | 'cert'
  | 'key'
  | 'passphrase'
  | 'pfx'
  | 'servername'
  | 'rejectUnauthorized'
  | 'checkServerIdentity'
  | 'minVersion'
  | 'maxVersion'
  | 'ciphers'
  | 'ecdhCurve'
  | 'sigalgs'
  | 'crl'
  | 'session'
  | 'secureContext'
  | 'honorCipherOrder'
>;

const TLS_KEYS: ReadonlySet<string> = new Set([
  'ca', 'cert', 'key', 'passphrase', 'pfx', 'servername', 'rejectUnauthorized', 'checkServerIdentity',
  'minVersion', 'maxVersion', 'ciphers', 'ecdhCurve', 'sigalgs', 'crl', 'session', 'secureContext', 'honorCipherOrder',
]);

/** HTTP/1.1 options. */
export interface Http1Options {
  /** Interval in ms at which an empty line is sent on an idle connection; default `Infinity` (off). */
  keepalive?: number;
  /** How long a graceful shutdown may take before the connection is closed, ms; default 15000. */
  closingTimeout?: number;
  /** Largest response header block, bytes; default 100000. */
  maxHeaderBlockSize?: number;
  /** Largest trailer block, bytes; default 10000. */
  maxTrailerBlockSize?: number;
  /** Most header fields in one block; default 100. */
  maxHeaderCount?: number;
  /** Default flow budget (data messages) for new streams; default `Infinity` (no flow control). */
  flow?: number;
}

/** HTTP/2 options. */
export interface Http2Options {
  /** Interval in ms between keepalive PINGs; default `Infinity` (off). */
  keepalive?: number;
  /** Unacknowledged keepalive PINGs tolerated before the connection is closed; default: no limit. */
  keepaliveTolerance?: number;
  /** How long a graceful shutdown may take, ms; default 15000. */
  closingTimeout?: number;
  /** Initial stream flow-control window, bytes; default 16 MiB (Node's 64 KiB default halves throughput). */
  initialStreamWindowSize?: number;
  /** Connection flow-control window, bytes; default 64 MiB. */
  initialConnectionWindowSize?: number;
  /** Local SETTINGS_MAX_CONCURRENT_STREAMS (streams the server may open: pushes); default 100. */
  maxConcurrentStreams?: number;
  /** Local SETTINGS_MAX_FRAME_SIZE; default 16384. */
  maxFrameSize?: number;
  /** Local SETTINGS_MAX_HEADER_LIST_SIZE; default 65536. */
  maxHeaderListSize?: number;
  /** Local SETTINGS_HEADER_TABLE_SIZE; default 4096. */
  headerTableSize?: number;
  /** Accept server push (SETTINGS_ENABLE_PUSH); default false. */
  enablePush?: boolean;
  /** Default flow budget (data messages) for new streams; default `Infinity`. */
  flow?: number;
  /** Most memory nghttp2 may use for this session, MiB; default 64. */
  maxSessionMemory?: number;
}

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
  /**
   * Keep per-stream mailboxes for `await`/`awaitBody`/`messages` (default true).
   * Set false when consuming only through events or `replyTo`, so nothing queues.
   */
  mailbox?: boolean;
}

/** Options after defaults are applied. */
export interface ResolvedOptions {
  host: string;
  port: number;
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
  http: Required<Http1Options>;
  http2: Required<Omit<Http2Options, 'keepaliveTolerance'>> & { keepaliveTolerance: number };
  mailbox: boolean;
}

/** Gun's default: the first retry is immediate, the others wait `retryTimeout`. */
export const defaultRetryFn: RetryFunction = (retriesLeft, opts) => ({
  retries: retriesLeft - 1,
  timeout: retriesLeft === opts.retry ? 0 : opts.retryTimeout,
});

const OPEN_KEYS: ReadonlySet<string> = new Set([
  'host', 'port', 'transport', 'protocols', 'tls', 'lookupTimeout', 'connectTimeout', 'tlsHandshakeTimeout',
  'retry', 'retryTimeout', 'retryFn', 'lookup', 'http', 'http2', 'mailbox',
]);

/** True for a plain object (not null, not an array). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks a timeout/interval: a non-negative finite number or Infinity. */
export function checkTimeout(name: string, v: unknown, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || Number.isNaN(v) || v < 0) throw invalidOption(name, 'must be a number of milliseconds >= 0 or Infinity');
  if (v !== Infinity && v > 2 ** 31 - 1) throw invalidOption(name, 'must be at most 2147483647 ms (or Infinity)');
  return v;
}

/** Checks a keepalive interval: a number of ms > 0, or Infinity (off). */
function checkInterval(name: string, v: unknown): number {
  const ms = checkTimeout(name, v, Infinity);
  if (ms === 0) throw invalidOption(name, 'must be more than 0 ms (or Infinity for none)');
  return ms;
}

function checkInt(name: string, v: unknown, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalidOption(name, `must be an integer from ${min} to ${max}`);
  }
  return v;
}

/** Checks a flow budget: an integer >= 1, or Infinity (no flow control). */
export function checkFlow(name: string, v: unknown): number {
  if (v === undefined || v === Infinity) return Infinity;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw invalidOption(name, 'must be an integer >= 1 or Infinity');
  return v;
}

/** Throws naming the first key of `obj` not in `allowed` (`name.key`). */
export function checkKeys(name: string, obj: Record<string, unknown>, allowed: ReadonlySet<string> | readonly string[]): void {
  const has = (k: string): boolean => (Array.isArray(allowed) ? allowed.includes(k) : (allowed as ReadonlySet<string>).has(k));
  for (const k of Object.keys(obj)) {
    if (!has(k)) throw invalidOption(`${name}${name ? '.' : ''}${k}`, 'unknown option');
  }
}

/** Validates a host option: a non-empty name or IP literal (IPv6 with or without brackets). */
export function checkHost(name: string, v: unknown): string {
  if (typeof v !== 'string' || v.length === 0) throw invalidOption(name, 'must be a non-empty string');
  const bare = v.startsWith('[') && v.endsWith(']') ? v.slice(1, -1) : v;
  if (isIP(bare) === 0 && !/^[A-Za-z0-9_.-]+$/.test(bare)) throw invalidOption(name, `${JSON.stringify(v)} is not a host name or IP address`);
  return bare;
}

/** Validates a TCP port. */
export function checkPort(name: string, v: unknown): number {
  if (v === undefined) throw invalidOption(name, 'is required');
  return checkInt(name, v, NaN, 1, 65535);
}

/** Validates the TLS options object of one endpoint. */
export function checkTlsOptions(name: string, v: unknown): TlsOptions {
  if (v === undefined) return {};
  if (!isObject(v)) throw invalidOption(name, 'must be an object of Node TLS client options');
  for (const k of Object.keys(v)) {
    if (!TLS_KEYS.has(k)) {
      const why = k === 'ALPNProtocols' ? 'ALPN comes from `protocols`' : k === 'socket' || k === 'host' || k === 'port' ? 'set by burrow' : 'unknown or unsupported TLS option';
      throw invalidOption(`${name}.${k}`, why);
    }
  }
  if (v['rejectUnauthorized'] !== undefined && typeof v['rejectUnauthorized'] !== 'boolean') {
    throw invalidOption(`${name}.rejectUnauthorized`, 'must be a boolean');
  }
  if (v['servername'] !== undefined && typeof v['servername'] !== 'string') throw invalidOption(`${name}.servername`, 'must be a string');
  return v as TlsOptions;
}

/**
 * Validates a protocols list for an endpoint reached over `transport`: over TCP
 * exactly one protocol; over TLS an ALPN preference list of `'http2'`/`'http'`,
 * or a single `'raw'` or SOCKS layer (no ALPN is offered for those).
 */
export function checkProtocolsList(name: string, v: unknown, transport: 'tcp' | 'tls'): ProtocolSpec[] {
  if (v === undefined) return transport === 'tls' ? ['http2', 'http'] : ['http'];
  if (!Array.isArray(v) || v.length === 0) throw invalidOption(name, 'must be a non-empty array');
  const seen = new Set<string>();
  for (const p of v as unknown[]) {
    const n = typeof p === 'string' ? p : isObject(p) && Object.keys(p).length === 1 && isObject(p['socks']) ? 'socks' : undefined;
    if (n !== 'http' && n !== 'http2' && n !== 'raw' && n !== 'socks') {
      throw invalidOption(name, `unknown protocol ${JSON.stringify(p)} (expected 'http', 'http2', 'raw' or { socks: {...} })`);
    }
    if (seen.has(n)) throw invalidOption(name, `protocol ${n} listed twice`);
    seen.add(n);
  }
  if (transport === 'tcp' && v.length !== 1) throw invalidOption(name, 'over tcp, exactly one protocol');
  if (v.length > 1 && (seen.has('raw') || seen.has('socks'))) throw invalidOption(name, "'raw' and socks cannot be negotiated by ALPN: give them alone");
  return [...(v as ProtocolSpec[])];
}

function checkHttp1(v: unknown): Required<Http1Options> {
  if (v === undefined) v = {};
  if (!isObject(v)) throw invalidOption('http', 'must be an object');
  checkKeys('http', v, new Set(['keepalive', 'closingTimeout', 'maxHeaderBlockSize', 'maxTrailerBlockSize', 'maxHeaderCount', 'flow']));
  return {
    keepalive: checkInterval('http.keepalive', v['keepalive']),
    closingTimeout: checkTimeout('http.closingTimeout', v['closingTimeout'], 15000),
    maxHeaderBlockSize: checkInt('http.maxHeaderBlockSize', v['maxHeaderBlockSize'], 100000, 16, 2 ** 31 - 1),
    maxTrailerBlockSize: checkInt('http.maxTrailerBlockSize', v['maxTrailerBlockSize'], 10000, 2, 2 ** 31 - 1),
    maxHeaderCount: checkInt('http.maxHeaderCount', v['maxHeaderCount'], 100, 1, 100000),
    flow: checkFlow('http.flow', v['flow']),
  };
}

function checkHttp2(v: unknown): ResolvedOptions['http2'] {
  if (v === undefined) v = {};
  if (!isObject(v)) throw invalidOption('http2', 'must be an object');
  checkKeys('http2', v, new Set([
    'keepalive', 'keepaliveTolerance', 'closingTimeout', 'initialStreamWindowSize', 'initialConnectionWindowSize',
    'maxConcurrentStreams', 'maxFrameSize', 'maxHeaderListSize', 'headerTableSize', 'enablePush', 'flow', 'maxSessionMemory',
  ]));
  if (v['enablePush'] !== undefined && typeof v['enablePush'] !== 'boolean') throw invalidOption('http2.enablePush', 'must be a boolean');
  return {
    keepalive: checkInterval('http2.keepalive', v['keepalive']),
    keepaliveTolerance: v['keepaliveTolerance'] === undefined ? Infinity : checkInt('http2.keepaliveTolerance', v['keepaliveTolerance'], 0, 0, 2 ** 31 - 1),
    closingTimeout: checkTimeout('http2.closingTimeout', v['closingTimeout'], 15000),
    initialStreamWindowSize: checkInt('http2.initialStreamWindowSize', v['initialStreamWindowSize'], 16 * 1024 * 1024, 0, 2 ** 31 - 1),
    initialConnectionWindowSize: checkInt('http2.initialConnectionWindowSize', v['initialConnectionWindowSize'], 64 * 1024 * 1024, 65535, 2 ** 31 - 1),
    maxConcurrentStreams: checkInt('http2.maxConcurrentStreams', v['maxConcurrentStreams'], 100, 0, 2 ** 32 - 1),
    maxFrameSize: checkInt('http2.maxFrameSize', v['maxFrameSize'], 16384, 16384, 16777215),
    maxHeaderListSize: checkInt('http2.maxHeaderListSize', v['maxHeaderListSize'], 65536, 0, 2 ** 32 - 1),
    headerTableSize: checkInt('http2.headerTableSize', v['headerTableSize'], 4096, 0, 2 ** 32 - 1),
    enablePush: (v['enablePush'] as boolean | undefined) ?? false,
    flow: checkFlow('http2.flow', v['flow']),
    maxSessionMemory: checkInt('http2.maxSessionMemory', v['maxSessionMemory'], 64, 1, 1 << 20),
  };
}

/** Validates `open()` options and applies defaults. Throws `ERR_INVALID_OPTION`. */
export function resolveOpenOptions(input: unknown): ResolvedOptions {
  if (!isObject(input)) throw invalidOption('options', 'must be an object');
  checkKeys('', input, OPEN_KEYS);
  const host = checkHost('host', input['host']);
  const port = checkPort('port', input['port']);
  const t = input['transport'];
  if (t !== undefined && t !== 'tcp' && t !== 'tls') throw invalidOption('transport', "must be 'tcp' or 'tls'");
  const transport: 'tcp' | 'tls' = t ?? (port === 443 ? 'tls' : 'tcp');
  const retryFn = input['retryFn'];
  if (retryFn !== undefined && typeof retryFn !== 'function') throw invalidOption('retryFn', 'must be a function');
  const lookup = input['lookup'];
  if (lookup !== undefined && typeof lookup !== 'function') throw invalidOption('lookup', 'must be a function');
  const mailbox = input['mailbox'];
  if (mailbox !== undefined && typeof mailbox !== 'boolean') throw invalidOption('mailbox', 'must be a boolean');
  if (transport === 'tcp' && input['tls'] !== undefined) throw invalidOption('tls', "only meaningful with transport 'tls'");
  return {
    host,
    port,
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
    http: checkHttp1(input['http']),
    http2: checkHttp2(input['http2']),
    mailbox: (mailbox as boolean | undefined) ?? true,
  };
}

/** @internal Re-exported type for layers that cache secure contexts. */
export type { SecureContext };
