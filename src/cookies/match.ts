/**
 * Domain and path rules of RFC 6265bis §5.1.2–§5.1.4, and the public-suffix
 * test of the storage model (§5.7 step 9), with the `tldts` list.
 */
import { getPublicSuffix } from 'tldts';

/** True when `host` is an IPv4 or IPv6 address (a URL's hostname: IPv6 in brackets). */
export function isIpAddress(host: string): boolean {
  return host.charCodeAt(0) === 0x5b || /^\d+\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * RFC 6265bis §5.1.3: `host` domain-matches `domain` when they are equal, or
 * when `domain` is a suffix of `host` that starts after a dot and `host` is a
 * host name (not an IP address). Both are canonical (lowercase, A-labels).
 */
export function domainMatch(host: string, domain: string): boolean {
  if (host === domain) return true;
  return host.length > domain.length && host.endsWith(domain) && host.charCodeAt(host.length - domain.length - 1) === 0x2e && !isIpAddress(host);
}

/** RFC 6265bis §5.1.4: the directory of a request path (`/a/b/c` → `/a/b`), `/` for a path with one slash or none. */
export function defaultPath(path: string): string {
  if (path.charCodeAt(0) !== 0x2f) return '/';
  const last = path.lastIndexOf('/');
  return last <= 0 ? '/' : path.slice(0, last);
}

/** RFC 6265bis §5.1.4: a request path path-matches a cookie path when equal, or a prefix ending at `/` in either. */
export function pathMatch(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.charCodeAt(cookiePath.length - 1) === 0x2f || requestPath.charCodeAt(cookiePath.length) === 0x2f;
}

/**
 * True when `domain` is a public suffix: an ICANN suffix (`com`, `co.uk`) or a
 * private one of the Public Suffix List (`github.io`), as `tldts` knows them;
 * a single unknown label (`localhost`, `corp`) counts as one, by the list's
 * default `*` rule. An IP address is never one.
 */
export function isPublicSuffix(domain: string): boolean {
  const d = domain.endsWith('.') ? domain.slice(0, -1) : domain;
  if (d === '' || isIpAddress(d)) return false;
  return getPublicSuffix(d, { allowPrivateDomains: true, extractHostname: false }) === d;
}

/** The scheme of a URL whose cookies may be `Secure` ones: https and wss. */
export function isSecureScheme(protocol: string): boolean {
  return protocol === 'https:' || protocol === 'wss:';
}
