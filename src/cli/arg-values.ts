/**
 * The values of `burrow` options, checked: seconds, hop numbers and `N:FILE` forms, proxy lists, `-H` headers.
 * Each throws a {@link UsageError} naming the option.
 */
import { UsageError, type HopFile } from './options.js';

export function seconds(name: string, v: string): number {
  if (!/^\d+(\.\d+)?$|^\.\d+$/.test(v.trim())) throw new UsageError(`--${name} needs a number of seconds, got ${JSON.stringify(v)}`);
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new UsageError(`--${name} must be more than 0 seconds, got ${JSON.stringify(v)}`);
  return n;
}

export function hopNumber(name: string, v: string): number {
  if (!/^[1-9]\d{0,2}$/.test(v)) throw new UsageError(`--${name}: the hop must be a position in the proxy chain, 1 for the first proxy; got ${JSON.stringify(v)}`);
  return Number(v);
}

export function hopFile(name: string, v: string): HopFile {
  const colon = v.indexOf(':');
  if (colon < 0) throw new UsageError(`--${name} takes N:FILE (N: 1 for the first proxy), got ${JSON.stringify(v)}`);
  const path = v.slice(colon + 1);
  if (path === '') throw new UsageError(`--${name} ${v}: missing file name`);
  return { hop: hopNumber(name, v.slice(0, colon)), path };
}

/** Splits a `-x` value into single proxy URLs (commas and/or whitespace separate a chain). */
export function splitProxyList(v: string): string[] {
  return v.split(/[\s,]+/).filter((p) => p !== '');
}

/** `--socks4 HOST[:PORT]` (curl's form) → the proxy URL `socks4://HOST[:PORT]`, a hop after those given so far. */
export function socksHop(name: string, v: string): string {
  if (v === '') throw new UsageError(`--${name} needs HOST[:PORT]`);
  if (v.includes('://')) throw new UsageError(`--${name} takes HOST[:PORT] without a scheme (or use -x ${name}://${v.slice(v.indexOf('://') + 3)})`);
  return `${name}://${v}`;
}

/** Adds `http://` to a URL without a scheme, as curl does. */
export function withScheme(url: string): string {
  return /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(url) ? url : `http://${url}`;
}

/** Checks a `-H` value: `Name: value`, `Name:` (remove the header) or `Name;` (empty value). */
export function parseHeaderArg(h: string): { name: string; value: string | undefined } {
  const colon = h.indexOf(':');
  if (colon < 0) {
    if (h.endsWith(';') && h.length > 1) return { name: h.slice(0, -1).trim(), value: '' };
    throw new UsageError(`-H ${JSON.stringify(h)}: expected "Name: value"`);
  }
  const name = h.slice(0, colon).trim();
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) throw new UsageError(`-H ${JSON.stringify(h)}: ${JSON.stringify(name)} is not a valid header name`);
  const value = h.slice(colon + 1).trim();
  if (/[\r\n\0]/.test(value)) throw new UsageError(`-H ${JSON.stringify(h)}: the value has CR, LF or NUL`);
  return { name, value: value === '' ? undefined : value };
}
