/**
 * A stored cookie (RFC 6265bis §5.7) and the storage model's checks that need
 * only the cookie and the request URL: domain, public suffix, `Secure`,
 * `SameSite=None`, the `__Host-` and `__Secure-` prefixes.
 */
import { domainToASCII } from 'node:url';
import { defaultPath, domainMatch, isPublicSuffix, isSecureScheme } from './match.js';
import type { CookieRejectReason, ParsedSetCookie, SameSite } from './parse.js';

/** One cookie as the jar keeps it. Times are ms since the epoch. */
export interface Cookie {
  readonly name: string;
  readonly value: string;
  /** Canonical host (host-only) or the `Domain` attribute, lowercase, no leading dot. */
  readonly domain: string;
  readonly path: string;
  /** True when sent to `domain` only; false when sent to its subdomains too (a `Domain` attribute was given). */
  readonly hostOnly: boolean;
  /** Sent over https (and wss) only. */
  readonly secure: boolean;
  /** Kept and sent (burrow is an HTTP client): the flag is stored and serialised, not used to hide anything. */
  readonly httpOnly: boolean;
  /** Stored and serialised; see docs/cookies.md for how burrow uses it. */
  readonly sameSite: SameSite;
  /** When the cookie expires; undefined for a session cookie (no `Max-Age` nor `Expires`). */
  readonly expires: number | undefined;
  /** When it was first stored (kept when a cookie replaces one of the same name, domain and path). */
  readonly creation: number;
  /** When it was last stored or sent. */
  readonly lastAccess: number;
}

/** The jar's own record: a cookie plus the order it was created in (ties of `creation`). */
export interface StoredCookie {
  name: string;
  value: string;
  domain: string;
  path: string;
  hostOnly: boolean;
  secure: boolean;
  httpOnly: boolean;
  sameSite: SameSite;
  /** Infinity for a session cookie. */
  expires: number;
  creation: number;
  lastAccess: number;
  seq: number;
}

function startsWithCi(s: string, prefix: string): boolean {
  return s.length >= prefix.length && s.slice(0, prefix.length).toLowerCase() === prefix.toLowerCase();
}

/**
 * The storage model's steps that need no other cookie (RFC 6265bis §5.7):
 * the new cookie for `parsed` received from `url` at `now`, or why it is
 * ignored. `host` is the URL's canonical host; `seq` orders equal creation times.
 */
export function cookieFrom(parsed: ParsedSetCookie, url: URL, now: number, seq: number, rejectPublicSuffixes: boolean): StoredCookie | CookieRejectReason {
  const { name, value } = parsed;
  if (name === '' && value === '') return 'empty';
  if (name === '' && (startsWithCi(value, '__secure-') || startsWithCi(value, '__host-'))) return 'bad-prefix';
  const host = url.hostname;
  let domain = parsed.domain ?? '';
  // An internationalised Domain is compared as the URL's host is: in A-labels (`xn--…`).
  // eslint-disable-next-line no-control-regex
  if (/[^\x00-\x7f]/.test(domain)) {
    domain = domainToASCII(domain);
    if (domain === '') return 'domain-mismatch';
  }
  if (domain !== '' && rejectPublicSuffixes && isPublicSuffix(domain)) {
    if (domain !== host) return 'public-suffix';
    domain = '';
  }
  let hostOnly = true;
  if (domain !== '') {
    if (!domainMatch(host, domain)) return 'domain-mismatch';
    hostOnly = false;
  } else {
    domain = host;
  }
  const path = parsed.path ?? defaultPath(url.pathname);
  const secure = parsed.secure;
  if (secure && !isSecureScheme(url.protocol)) return 'secure-from-insecure';
  if (parsed.sameSite === 'None' && !secure) return 'samesite-none-insecure';
  if (startsWithCi(name, '__secure-') && !secure) return 'bad-prefix';
  if (startsWithCi(name, '__host-') && !(secure && hostOnly && parsed.pathGiven && path === '/')) return 'bad-prefix';
  const expires = parsed.maxAge ?? parsed.expires ?? Infinity;
  return { name, value, domain, path, hostOnly, secure, httpOnly: parsed.httpOnly, sameSite: parsed.sameSite, expires, creation: now, lastAccess: now, seq };
}

/** A read-only copy of a stored cookie, for callers. */
export function publicCookie(c: StoredCookie): Cookie {
  return {
    name: c.name,
    value: c.value,
    domain: c.domain,
    path: c.path,
    hostOnly: c.hostOnly,
    secure: c.secure,
    httpOnly: c.httpOnly,
    sameSite: c.sameSite,
    expires: c.expires === Infinity ? undefined : c.expires,
    creation: c.creation,
    lastAccess: c.lastAccess,
  };
}
