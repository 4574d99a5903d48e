/**
 * The `Set-Cookie` parsing algorithm of RFC 6265bis §5.6: one header value
 * into a name, a value and the attributes the storage model reads. No
 * exception: a value the algorithm ignores gives the reason instead.
 */
import { parseCookieDate } from './date.js';

/** A cookie's `SameSite` attribute as stored: `Default` when none (or an unknown value) was given. */
export type SameSite = 'Strict' | 'Lax' | 'None' | 'Default';

/** Largest name + value, in characters (RFC 6265bis §5.6 step 5). */
export const MAX_NAME_VALUE = 4096;
/** Largest attribute value, in characters; a longer one is ignored (RFC 6265bis §5.6.1). */
export const MAX_ATTRIBUTE_VALUE = 1024;
/** The longest lifetime a cookie may be given: 400 days, in ms (RFC 6265bis §5.6.1, §5.6.2). */
export const MAX_AGE_MS = 400 * 24 * 3600 * 1000;

/** What §5.6 gives: a name, a value and the last value of each attribute (expiry times are absolute, ms). */
export interface ParsedSetCookie {
  readonly name: string;
  readonly value: string;
  /** Absolute time from `Max-Age` (which wins over `Expires`), capped at 400 days. */
  readonly maxAge?: number;
  /** Absolute time from `Expires`, capped at 400 days. */
  readonly expires?: number;
  /** Lowercase, without its leading dot. */
  readonly domain?: string;
  /** The `Path` attribute when it starts with `/`; undefined when it was absent or did not. */
  readonly path?: string;
  /** True when a `Path` attribute (valid or not) was present. */
  readonly pathGiven: boolean;
  readonly secure: boolean;
  readonly httpOnly: boolean;
  readonly sameSite: SameSite;
}

/** Why a `Set-Cookie` value was not stored. */
export type CookieRejectReason =
  | 'control-character'
  | 'too-large'
  | 'empty'
  | 'bad-prefix'
  | 'public-suffix'
  | 'domain-mismatch'
  | 'secure-from-insecure'
  | 'overwrites-secure'
  | 'samesite-none-insecure'
  | 'http-only'
  | 'not-http';

// CTLs except HTAB: %x00-08 / %x0A-1F / %x7F.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;

/** Removes leading and trailing WSP (SP, HTAB). */
function trimWsp(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 0x20 || s.charCodeAt(a) === 0x09)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 0x20 || s.charCodeAt(b - 1) === 0x09)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

function maxAgeOf(v: string, now: number): number | undefined {
  if (!/^-?\d+$/.test(v)) return undefined;
  const seconds = Number(v);
  if (seconds <= 0) return -Infinity;
  return now + Math.min(seconds * 1000, MAX_AGE_MS);
}

/**
 * Parses one `Set-Cookie` value at time `now` (ms) by RFC 6265bis §5.6, or
 * returns why the algorithm ignores it: a control character (other than
 * HTAB), or a name + value over 4096 characters.
 */
export function parseSetCookie(header: string, now: number): ParsedSetCookie | CookieRejectReason {
  if (CONTROL.test(header)) return 'control-character';
  const semi = header.indexOf(';');
  const pair = semi < 0 ? header : header.slice(0, semi);
  const eq = pair.indexOf('=');
  const name = eq < 0 ? '' : trimWsp(pair.slice(0, eq));
  const value = trimWsp(eq < 0 ? pair : pair.slice(eq + 1));
  if (name.length + value.length > MAX_NAME_VALUE) return 'too-large';
  let maxAge: number | undefined;
  let expires: number | undefined;
  let domain: string | undefined;
  let path: string | undefined;
  let pathGiven = false;
  let secure = false;
  let httpOnly = false;
  let sameSite: SameSite = 'Default';
  let pos = semi;
  while (pos >= 0) {
    const next = header.indexOf(';', pos + 1);
    const av = header.slice(pos + 1, next < 0 ? header.length : next);
    pos = next;
    const aeq = av.indexOf('=');
    const attr = trimWsp(aeq < 0 ? av : av.slice(0, aeq)).toLowerCase();
    const v = aeq < 0 ? '' : trimWsp(av.slice(aeq + 1));
    if (v.length > MAX_ATTRIBUTE_VALUE) continue;
    switch (attr) {
      case 'expires': {
        const t = parseCookieDate(v);
        if (t !== undefined) expires = Math.min(t, now + MAX_AGE_MS);
        break;
      }
      case 'max-age': {
        const t = maxAgeOf(v, now);
        if (t !== undefined) maxAge = t;
        break;
      }
      case 'domain':
        // An empty Domain is ignored (the cookie stays host-only).
        if (v !== '') domain = (v.charCodeAt(0) === 0x2e ? v.slice(1) : v).toLowerCase();
        break;
      case 'path':
        pathGiven = true;
        path = v.charCodeAt(0) === 0x2f ? v : undefined;
        break;
      case 'secure':
        secure = true;
        break;
      case 'httponly':
        httpOnly = true;
        break;
      case 'samesite': {
        const s = v.toLowerCase();
        sameSite = s === 'none' ? 'None' : s === 'strict' ? 'Strict' : s === 'lax' ? 'Lax' : 'Default';
        break;
      }
      default:
        break;
    }
  }
  return { name, value, maxAge, expires, domain, path, pathGiven, secure, httpOnly, sameSite };
}
