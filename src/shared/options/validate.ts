/**
 * The checks every option goes through: plain objects, known keys, timeouts,
 * integers, flow budgets, hosts and ports. Each failure throws
 * `ERR_INVALID_OPTION` naming the option.
 */
import { isIP } from 'node:net';
import { invalidOption } from '../../errors/errors.js';

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
export function checkInterval(name: string, v: unknown): number {
  const ms = checkTimeout(name, v, Infinity);
  if (ms === 0) throw invalidOption(name, 'must be more than 0 ms (or Infinity for none)');
  return ms;
}

/** Checks an integer in `[min, max]`; `dflt` when absent. */
export function checkInt(name: string, v: unknown, dflt: number, min: number, max: number): number {
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

/** Validates a transport: `'tcp'` (the default) or `'tls'`. */
export function checkTransport(name: string, v: unknown, dflt: 'tcp' | 'tls' = 'tcp'): 'tcp' | 'tls' {
  if (v === undefined) return dflt;
  if (v !== 'tcp' && v !== 'tls') throw invalidOption(name, "must be 'tcp' or 'tls'");
  return v;
}
