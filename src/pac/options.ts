/**
 * The `pac` option of `request()`: where the script is, and the bounds of its
 * calls, checked. Light on purpose: the engine (`find.ts` and below, with its
 * packages) is imported only when a request has a PAC script.
 */
import { invalidOption } from '../errors/errors.js';
import type { TlsOptions } from '../shared/options/tls.js';
import { checkInt, checkTimeout } from '../shared/options/validate.js';
import { pacSourceOf, type PacSource } from './source.js';

/** The bounds of one script's calls. */
export interface PacLimits {
  /** Engine time one call (or the loading of the script) may use, ms. */
  readonly cpuMs: number;
  /** Wall time one call may take, DNS lookups included, ms. */
  readonly timeoutMs: number;
  /** The virtual machine's memory, bytes. */
  readonly memoryBytes: number;
}

/** Default bounds: 1 s of engine time, 5 s in all, 32 MiB. */
export const DEFAULT_PAC_LIMITS: PacLimits = Object.freeze({ cpuMs: 1000, timeoutMs: 5000, memoryBytes: 32 * 1024 * 1024 });

/** A PAC script with options. Give exactly one of `url` and `script`. */
export interface PacOptions {
  /** Where the script is: an `http:`, `https:` or `file:` URL, or a file path. */
  url?: string | URL;
  /** The script itself. */
  script?: string;
  /** TLS options for fetching an `https:` script (default: the system's CAs). */
  tls?: TlsOptions;
  /** Engine time one `FindProxyForURL()` call may use, ms; default 1000. */
  cpuTimeout?: number;
  /** Time one call may take in all, DNS lookups of the helpers included, ms; default 5000. */
  timeout?: number;
  /** The script's memory, bytes; default 32 MiB (at least 1 MiB). */
  memoryLimit?: number;
}

/**
 * A PAC script for `request()`: a URL (`http:`, `https:`, `file:`), a file
 * path, the script itself (a string holding `FindProxyForURL`), or
 * {@link PacOptions}.
 */
export type PacInit = string | URL | PacOptions;

/** The `pac` option resolved. */
export interface ResolvedPac {
  readonly source: PacSource;
  readonly limits: PacLimits;
  readonly tls: TlsOptions | undefined;
}

/** Checks `pac` (named `option` in errors): throws `ERR_INVALID_OPTION`. */
export function resolvePac(pac: PacInit, option = 'pac'): ResolvedPac {
  if (typeof pac === 'string' || pac instanceof URL) return { source: pacSourceOf(pac, option), limits: DEFAULT_PAC_LIMITS, tls: undefined };
  if (typeof pac !== 'object' || pac === null) throw invalidOption(option, 'a URL, a file path, a script, or { url | script, … }');
  if ((pac.url === undefined) === (pac.script === undefined)) throw invalidOption(option, 'give exactly one of url and script');
  if (pac.script !== undefined && typeof pac.script !== 'string') throw invalidOption(`${option}.script`, 'must be a string');
  if (pac.url !== undefined && typeof pac.url !== 'string' && !(pac.url instanceof URL)) throw invalidOption(`${option}.url`, 'must be a string or a URL');
  const source: PacSource = pac.script !== undefined ? { kind: 'script', text: pac.script, name: 'given as a string' } : pacSourceOf(pac.url as string | URL, `${option}.url`);
  const cpuMs = checkTimeout(`${option}.cpuTimeout`, pac.cpuTimeout, DEFAULT_PAC_LIMITS.cpuMs);
  const timeoutMs = checkTimeout(`${option}.timeout`, pac.timeout, DEFAULT_PAC_LIMITS.timeoutMs);
  const memoryBytes = checkInt(`${option}.memoryLimit`, pac.memoryLimit, DEFAULT_PAC_LIMITS.memoryBytes, 1024 * 1024, 2 ** 31);
  const limits = cpuMs === DEFAULT_PAC_LIMITS.cpuMs && timeoutMs === DEFAULT_PAC_LIMITS.timeoutMs && memoryBytes === DEFAULT_PAC_LIMITS.memoryBytes ? DEFAULT_PAC_LIMITS : { cpuMs, timeoutMs, memoryBytes };
  return { source, limits, tls: pac.tls };
}
