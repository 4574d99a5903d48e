/**
 * Where a PAC script comes from: an `http:`/`https:` URL, a file (`file:`
 * URL or path), or the script itself. `pac+http://…`, `pac+https://…` and
 * `pac+file://…` (proxy-agents' spelling, for `via` and the proxy
 * environment variables) name the same sources.
 */
import { resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { invalidOption } from '../errors/errors.js';
import { maskUrl } from '../shared/redact.js';

/** A PAC script's source, checked. */
export type PacSource =
  | { readonly kind: 'url'; readonly url: string; readonly name: string }
  | { readonly kind: 'file'; readonly path: string; readonly name: string }
  | { readonly kind: 'script'; readonly text: string; readonly name: string };

/** The prefix of a PAC URL in `via` or the environment. */
const PAC_PREFIX = /^pac\+/i;

/** True when a `via` entry or proxy variable names a PAC script (`pac+http://`, `pac+https://`, `pac+file://`). */
export function isPacUrl(s: string | URL): boolean {
  return PAC_PREFIX.test(typeof s === 'string' ? s : s.protocol);
}

/**
 * The source `input` names (`option` is the option or variable it came from,
 * for errors): a `URL` or a string starting with `http:`, `https:` or `file:`
 * (with or without `pac+`) is fetched or read; a string holding
 * `FindProxyForURL` is the script itself; any other string is a file path.
 */
export function pacSourceOf(input: string | URL, option: string): PacSource {
  const raw = typeof input === 'string' ? input.trim().replace(PAC_PREFIX, '') : input.href.replace(PAC_PREFIX, '');
  if (typeof input === 'string' && raw.includes('FindProxyForURL')) return { kind: 'script', text: input, name: 'given as a string' };
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(raw) && !/^[A-Za-z]:[\\/]/.test(raw)) {
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      throw invalidOption(option, `${maskUrl(raw)} is not a valid URL`);
    }
    if (u.protocol === 'http:' || u.protocol === 'https:') {
      u.hash = '';
      return { kind: 'url', url: u.href, name: maskUrl(u.href) };
    }
    if (u.protocol === 'file:') {
      let path: string;
      try {
        path = fileURLToPath(u);
      } catch (e) {
        throw invalidOption(option, `${u.href}: ${(e as Error).message}`);
      }
      return { kind: 'file', path, name: path };
    }
    throw invalidOption(option, `a PAC script is fetched over http: or https:, or read from a file: URL or path (got ${u.protocol})`);
  }
  if (raw === '') throw invalidOption(option, 'an empty PAC location');
  const path = resolvePath(raw);
  return { kind: 'file', path, name: path };
}
