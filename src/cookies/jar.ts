/**
 * `CookieJar`: the cookie store of RFC 6265bis §5.7–§5.8, indexed by domain
 * so that finding a request's cookies looks at the request host and its
 * parent domains only.
 */
import { BurrowError } from '../errors/errors.js';
import { cookieFrom, publicCookie, type Cookie, type StoredCookie } from './cookie.js';
import { domainMatch, isIpAddress, isSecureScheme, pathMatch } from './match.js';
import { parseSetCookie, type CookieRejectReason } from './parse.js';
import { cookiesFromJson, cookiesFromNetscape, cookiesToJson, cookiesToNetscape, type CookieJarJson } from './serialize.js';

/** A `Set-Cookie` value the jar did not store, and why (see {@link CookieJarOptions.onReject}). */
export interface CookieRejection {
  /** The `Set-Cookie` value as received. */
  readonly setCookie: string;
  /** The URL of the response it came with. */
  readonly url: string;
  readonly reason: CookieRejectReason;
}

/** Options of a {@link CookieJar}. */
export interface CookieJarOptions {
  /** The clock, in ms since the epoch: default `Date.now`. Tests inject their own. */
  now?: () => number;
  /** Most cookies kept for one domain; the oldest used are evicted first (non-`Secure` ones before `Secure` ones). Default 50. */
  maxCookiesPerDomain?: number;
  /** Most cookies kept in all; the oldest used are evicted first. Default 3000. */
  maxCookies?: number;
  /** Reject a `Domain` attribute that is a public suffix (ICANN and private rules of the Public Suffix List). Default true. */
  rejectPublicSuffixes?: boolean;
  /** Called for each `Set-Cookie` value that is not stored (malformed, or refused by a rule of RFC 6265bis). */
  onReject?: (rejection: CookieRejection) => void;
}

function urlOf(url: string | URL): URL {
  if (url instanceof URL) return url;
  try {
    return new URL(url);
  } catch (e) {
    throw new BurrowError('ERR_INVALID_OPTION', `invalid cookie URL ${JSON.stringify(String(url))}`, { stage: 'options', cause: e, details: { option: 'url' } });
  }
}

/** A domain as the jar keys it: lowercase, without a leading dot. */
function bareDomain(domain: string): string {
  const d = domain.toLowerCase();
  return d.startsWith('.') ? d.slice(1) : d;
}

function positive(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < 1) throw new BurrowError('ERR_INVALID_OPTION', `invalid option ${name}: a positive integer`, { stage: 'options', details: { option: name } });
  return v;
}

/** What a retrieval found, kept until the store changes or one of them expires. */
interface Found {
  readonly list: StoredCookie[];
  /** The earliest expiry among them. */
  readonly until: number;
  header: string | undefined;
}

/** The retrieval of an empty jar. */
const NONE: Found = Object.freeze({ list: [], until: Infinity, header: '' }) as Found;

/** Most retrievals kept at once. */
const MAX_FOUND = 256;

/** Order of the `Cookie` header (RFC 6265bis §5.8.3): longer paths first, then earlier creation. */
function byPathThenCreation(a: StoredCookie, b: StoredCookie): number {
  return b.path.length - a.path.length || a.creation - b.creation || a.seq - b.seq;
}

/** Oldest use first; among equals, the earliest created. */
function byLastAccess(a: StoredCookie, b: StoredCookie): number {
  return a.lastAccess - b.lastAccess || a.seq - b.seq;
}

/**
 * A cookie store implementing RFC 6265bis (draft-ietf-httpbis-rfc6265bis):
 * `Set-Cookie` parsing, domain and path matching, host-only cookies,
 * `Secure`, `HttpOnly`, `SameSite`, `Max-Age`/`Expires`, the `__Host-` and
 * `__Secure-` prefixes, public-suffix rejection and eviction. Pass it to
 * `request(url, { cookies: jar })`; it serialises to JSON and to the Netscape
 * cookie file format that curl reads and writes.
 *
 * @example
 * ```ts
 * const jar = new CookieJar();
 * jar.setCookie('sid=abc; Path=/; Secure; HttpOnly', 'https://example.com/login');
 * jar.getCookieHeader('https://example.com/account'); // 'sid=abc'
 * ```
 */
export class CookieJar {
  readonly #now: () => number;
  readonly #perDomain: number;
  readonly #max: number;
  readonly #rejectPublicSuffixes: boolean;
  readonly #onReject: ((r: CookieRejection) => void) | undefined;
  /** Cookies by their `domain` field. */
  readonly #byDomain = new Map<string, StoredCookie[]>();
  /** The cookies (and header) last found for a scheme, host and path: emptied by any change to the store. */
  readonly #found = new Map<string, Found>();
  #size = 0;
  #seq = 0;

  /** An empty jar. */
  constructor(options: CookieJarOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#perDomain = positive('maxCookiesPerDomain', options.maxCookiesPerDomain, 50);
    this.#max = positive('maxCookies', options.maxCookies, 3000);
    this.#rejectPublicSuffixes = options.rejectPublicSuffixes ?? true;
    this.#onReject = options.onReject;
  }

  /** How many cookies the jar holds (expired ones not yet evicted included). */
  get size(): number {
    return this.#size;
  }

  /**
   * Stores the cookie of one `Set-Cookie` header value received from `url`
   * (RFC 6265bis §5.6–§5.7). Never throws for a bad value: returns the stored
   * cookie, or undefined when the value was refused (`onReject` says why) or
   * set a cookie that had already expired (which deletes the cookie it
   * replaces). Throws `ERR_INVALID_OPTION` for an unparseable `url` only.
   */
  setCookie(setCookie: string, url: string | URL): Cookie | undefined {
    const u = urlOf(url);
    const now = this.#now();
    const parsed = parseSetCookie(String(setCookie), now);
    const made = typeof parsed === 'string' ? parsed : cookieFrom(parsed, u, now, this.#seq++, this.#rejectPublicSuffixes);
    if (typeof made === 'string') return this.#reject(setCookie, u, made);
    if (!made.secure && !isSecureScheme(u.protocol) && this.#shadowsSecure(made)) return this.#reject(setCookie, u, 'overwrites-secure');
    return this.#insert(made, now);
  }

  /**
   * The cookies to send to `url` (RFC 6265bis §5.8.3), in `Cookie` header
   * order: longer paths first, then earlier creation. `Secure` cookies only
   * for https and wss; `SameSite` is not enforced (burrow is not a browser:
   * every request counts as same-site). Updates their last-access time.
   */
  getCookies(url: string | URL): Cookie[] {
    return this.#matching(urlOf(url)).list.map(publicCookie);
  }

  /** The `Cookie` header value for `url` (`a=1; b=2`), or `''` when no cookie applies. */
  getCookieHeader(url: string | URL): string {
    const found = this.#matching(urlOf(url));
    if (found.header !== undefined) return found.header;
    const list = found.list;
    let out = '';
    for (let i = 0; i < list.length; i++) {
      const c = list[i] as StoredCookie;
      if (i > 0) out += '; ';
      out += c.name === '' ? c.value : `${c.name}=${c.value}`;
    }
    found.header = out;
    return out;
  }

  /** Every cookie not expired, oldest created first. */
  getAllCookies(): Cookie[] {
    return this.#all().map(publicCookie);
  }

  /** Removes the cookie `name` of exactly `domain` (a leading dot ignored) and `path`; true when there was one. */
  removeCookie(domain: string, path: string, name: string): boolean {
    const d = bareDomain(domain);
    const list = this.#byDomain.get(d);
    const i = list === undefined ? -1 : list.findIndex((c) => c.name === name && c.path === path);
    if (i < 0) return false;
    this.#removeAt(d, list as StoredCookie[], i);
    return true;
  }

  /** Removes every cookie, or those whose domain is `domain` or one of its subdomains. */
  clear(domain?: string): void {
    this.#found.clear();
    if (domain === undefined) {
      this.#byDomain.clear();
      this.#size = 0;
      return;
    }
    const d = bareDomain(domain);
    for (const [key, list] of [...this.#byDomain]) {
      if (!domainMatch(key, d)) continue;
      this.#size -= list.length;
      this.#byDomain.delete(key);
    }
  }

  /** Removes the session cookies (those without `Max-Age` nor `Expires`), as a browser does when it closes; curl's `-j`. */
  removeSessionCookies(): void {
    for (const [key, list] of [...this.#byDomain]) {
      for (let i = list.length - 1; i >= 0; i--) if ((list[i] as StoredCookie).expires === Infinity) this.#removeAt(key, list, i);
    }
  }

  /** The jar as JSON-ready data (`{ version: 1, cookies: [...] }`; a session cookie has no `expires`). */
  toJSON(): CookieJarJson {
    return cookiesToJson(this.#all());
  }

  /** A jar holding the cookies of {@link CookieJar.toJSON}'s output (expired ones dropped). Throws `ERR_INVALID_OPTION` on malformed data. */
  static fromJSON(data: unknown, options?: CookieJarOptions): CookieJar {
    const jar = new CookieJar(options);
    for (const c of cookiesFromJson(data)) jar.#load(c);
    return jar;
  }

  /** The jar in the Netscape cookie file format (curl's `-c` file), with curl's header lines; `#HttpOnly_` marks HttpOnly cookies. */
  toNetscape(): string {
    return cookiesToNetscape(this.#all());
  }

  /**
   * A jar holding the cookies of a Netscape cookie file (curl's, wget's,
   * browsers' exports). Lines that are not cookies are skipped, as curl does;
   * an expiry of 0 is a session cookie. `SameSite` is not in that format: `Default`.
   */
  static fromNetscape(text: string, options?: CookieJarOptions): CookieJar {
    const jar = new CookieJar(options);
    const now = jar.#now();
    for (const c of cookiesFromNetscape(text, now)) jar.#load(c);
    return jar;
  }

  /** Adds a deserialised cookie (its own creation time kept), replacing one of the same identity. */
  #load(c: Omit<StoredCookie, 'seq'>): void {
    const now = this.#now();
    if (c.expires <= now) return;
    this.#insert({ ...c, seq: this.#seq++ }, now);
  }

  #reject(setCookie: string, url: URL, reason: CookieRejectReason): undefined {
    this.#onReject?.({ setCookie, url: url.href, reason });
    return undefined;
  }

  /** RFC 6265bis §5.7 step 18: an insecure origin may not set a cookie that would shadow a `Secure` one. */
  #shadowsSecure(c: StoredCookie): boolean {
    for (const [key, list] of this.#byDomain) {
      if (!domainMatch(key, c.domain) && !domainMatch(c.domain, key)) continue;
      for (const old of list) if (old.secure && old.name === c.name && pathMatch(c.path, old.path)) return true;
    }
    return false;
  }

  /** RFC 6265bis §5.7 last steps: replaces the cookie of the same identity (keeping its creation time), then evicts. */
  #insert(c: StoredCookie, now: number): Cookie | undefined {
    let list = this.#byDomain.get(c.domain);
    const i = list === undefined ? -1 : list.findIndex((o) => o.name === c.name && o.path === c.path && o.hostOnly === c.hostOnly);
    if (i >= 0) {
      const old = (list as StoredCookie[])[i] as StoredCookie;
      c.creation = old.creation;
      c.seq = old.seq;
      this.#removeAt(c.domain, list as StoredCookie[], i);
      list = this.#byDomain.get(c.domain);
    }
    if (c.expires <= now) return undefined;
    if (list === undefined) {
      list = [];
      this.#byDomain.set(c.domain, list);
    }
    list.push(c);
    this.#size++;
    this.#found.clear();
    if (list.length > this.#perDomain) this.#evictDomain(c.domain, list, now);
    if (this.#size > this.#max) this.#evictAll(now);
    return list.includes(c) ? publicCookie(c) : undefined;
  }

  #removeAt(key: string, list: StoredCookie[], i: number): void {
    this.#found.clear();
    list.splice(i, 1);
    this.#size--;
    if (list.length === 0) this.#byDomain.delete(key);
  }

  /** Too many cookies for one domain: expired ones go first, then the oldest used non-`Secure`, then the oldest used. */
  #evictDomain(key: string, list: StoredCookie[], now: number): void {
    for (let i = list.length - 1; i >= 0; i--) if ((list[i] as StoredCookie).expires <= now) this.#removeAt(key, list, i);
    while (list.length > this.#perDomain) {
      const pool = list.some((c) => !c.secure) ? list.filter((c) => !c.secure) : list;
      const victim = pool.reduce((a, b) => (byLastAccess(a, b) <= 0 ? a : b));
      this.#removeAt(key, list, list.indexOf(victim));
    }
  }

  /** Too many cookies in all: expired ones go first, then the oldest used. */
  #evictAll(now: number): void {
    for (const [key, list] of [...this.#byDomain]) {
      for (let i = list.length - 1; i >= 0; i--) if ((list[i] as StoredCookie).expires <= now) this.#removeAt(key, list, i);
    }
    if (this.#size <= this.#max) return;
    const all = [...this.#byDomain.values()].flat().sort(byLastAccess);
    for (const c of all.slice(0, this.#size - this.#max)) {
      const list = this.#byDomain.get(c.domain) as StoredCookie[];
      this.#removeAt(c.domain, list, list.indexOf(c));
    }
  }

  /** Every live cookie, in creation order; expired ones are evicted on the way. */
  #all(): StoredCookie[] {
    const now = this.#now();
    const out: StoredCookie[] = [];
    for (const [key, list] of [...this.#byDomain]) {
      for (let i = list.length - 1; i >= 0; i--) if ((list[i] as StoredCookie).expires <= now) this.#removeAt(key, list, i);
      out.push(...list);
    }
    return out.sort((a, b) => a.creation - b.creation || a.seq - b.seq);
  }

  /**
   * RFC 6265bis §5.8.3: the cookies for `url`, sorted, their last-access time updated. Looks only at the host
   * and its parent domains; the result is kept for the next request to the same scheme, host and path.
   */
  #matching(url: URL): Found {
    if (this.#size === 0) return NONE;
    const host = url.hostname;
    const path = url.pathname;
    const secure = isSecureScheme(url.protocol);
    const now = this.#now();
    const key = `${secure ? 's' : 'i'}${host}/${path}`;
    const known = this.#found.get(key);
    if (known !== undefined && now < known.until) {
      for (const c of known.list) c.lastAccess = now;
      return known;
    }
    const out: StoredCookie[] = [];
    let until = Infinity;
    let d = host;
    for (;;) {
      const list = this.#byDomain.get(d);
      if (list !== undefined) {
        for (let i = list.length - 1; i >= 0; i--) {
          const c = list[i] as StoredCookie;
          if (c.expires <= now) {
            this.#removeAt(d, list, i);
            continue;
          }
          if (c.hostOnly && d !== host) continue;
          if (c.secure && !secure) continue;
          if (!pathMatch(path, c.path)) continue;
          out.push(c);
          if (c.expires < until) until = c.expires;
        }
      }
      const dot = d.indexOf('.');
      if (dot < 0 || isIpAddress(host)) break;
      d = d.slice(dot + 1);
    }
    if (out.length > 1) out.sort(byPathThenCreation);
    for (const c of out) c.lastAccess = now;
    const found: Found = { list: out, until, header: undefined };
    if (this.#found.size >= MAX_FOUND) this.#found.clear();
    this.#found.set(key, found);
    return found;
  }
}
