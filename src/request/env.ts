/**
 * Proxy environment variables, with curl's semantics plus chains. Pure
 * functions: the environment is passed in (default `process.env`), nothing is
 * resolved through DNS.
 *
 * Which variable applies (the first one that is *set* decides, even when it is
 * empty, as in curl):
 *
 * | target   | variables, in order                                          |
 * |----------|--------------------------------------------------------------|
 * | https:   | `https_proxy`, `HTTPS_PROXY`, `all_proxy`, `ALL_PROXY`        |
 * | http:    | `http_proxy`, (`HTTP_PROXY`), `all_proxy`, `ALL_PROXY`        |
 *
 * Uppercase `HTTP_PROXY` is ignored unless `allowUppercaseHttpProxy` is true.
 * The reason is CGI (RFC 3875 §4.1.18): a web server exports each request
 * header `Foo` to a CGI program as the variable `HTTP_FOO`, so a client
 * sending `Proxy: http://attacker` sets `HTTP_PROXY` in the program's
 * environment, and any outgoing HTTP request the program makes would go
 * through the attacker ("httpoxy", CVE-2016-5385 and siblings). No request
 * header can produce a lowercase name, so curl reads `http_proxy` only in
 * lowercase, and burrow follows curl. (On Windows, where environment names are
 * case-insensitive, `process.env.http_proxy` also reads `HTTP_PROXY`: pass an
 * explicit `env` object there if that matters.)
 *
 * A value is one proxy URL or, as burrow's extension, a chain: several URLs
 * separated by commas and/or whitespace, first hop first. A URL without a
 * scheme (`proxy:3128`, `user:pw@proxy`) means `http://` (curl). An empty or
 * blank value means no proxy. An invalid URL throws `ERR_INVALID_OPTION`
 * naming the variable: falling back to a direct connection would silently
 * bypass the proxy.
 */
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { invalidOption } from '../errors/errors.js';
import { parseProxyUrl, splitChain, type ProxyHop } from './proxy-url.js';

/** An environment: `process.env` or any object of the same shape. */
export interface ProxyEnv {
  [name: string]: string | undefined;
}

/** Options of {@link proxyForUrl}. */
export interface ProxyForUrlOptions {
  /** Also read uppercase `HTTP_PROXY` (unsafe under CGI, see the module comment); default false. */
  allowUppercaseHttpProxy?: boolean;
}

function firstSet(env: ProxyEnv, names: readonly string[]): { name: string; value: string } | undefined {
  for (const name of names) {
    const value = env[name];
    if (typeof value === 'string') return { name, value };
  }
  return undefined;
}

/**
 * The proxy chain to use for `target` (an `http:` or `https:` URL) according
 * to the environment, or `[]` to connect directly. See the module comment for
 * the variables read; `NO_PROXY` / `no_proxy` (lowercase wins) is applied
 * first, with {@link noProxyMatches}.
 *
 * Throws `ERR_INVALID_OPTION` when `target` is not an http(s) URL (option
 * `url`) or when the chosen variable holds an invalid proxy URL (option: the
 * variable's name, or `name[i]` for the i-th URL of a chain).
 */
export function proxyForUrl(target: string | URL, env: ProxyEnv = process.env, opts: ProxyForUrlOptions = {}): ProxyHop[] {
  let u: URL;
  try {
    u = typeof target === 'string' ? new URL(target) : new URL(target.href);
  } catch {
    throw invalidOption('url', 'must be an absolute http: or https: URL');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw invalidOption('url', `unsupported scheme ${JSON.stringify(u.protocol)} (expected http: or https:)`);
  }
  if (opts.allowUppercaseHttpProxy !== undefined && typeof opts.allowUppercaseHttpProxy !== 'boolean') {
    throw invalidOption('allowUppercaseHttpProxy', 'must be a boolean');
  }

  const https = u.protocol === 'https:';
  const names = https
    ? ['https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY']
    : opts.allowUppercaseHttpProxy === true
      ? ['http_proxy', 'HTTP_PROXY', 'all_proxy', 'ALL_PROXY']
      : ['http_proxy', 'all_proxy', 'ALL_PROXY'];
  const chosen = firstSet(env, names);
  if (chosen === undefined) return [];
  const parts = splitChain(chosen.value);
  if (parts.length === 0) return [];

  const noProxy = firstSet(env, ['no_proxy', 'NO_PROXY']);
  const port = u.port === '' ? (https ? 443 : 80) : Number(u.port);
  if (noProxy !== undefined && noProxyMatches(noProxy.value, u.hostname, port)) return [];

  return parts.map((p, i) =>
    parseProxyUrl(
      /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(p) ? p : `http://${p}`,
      parts.length === 1 ? chosen.name : `${chosen.name}[${i}]`,
    ),
  );
}

// ---------------------------------------------------------------------------
// NO_PROXY

type Bytes = readonly number[];

/** One parsed NO_PROXY entry. */
type Entry =
  | { readonly type: 'all' }
  | { readonly type: 'name'; readonly name: string; readonly port: number | undefined }
  | { readonly type: 'ip'; readonly bytes: Bytes; readonly prefix: number; readonly port: number | undefined };

function parseIPv4(s: string): Bytes {
  return s.split('.').map(Number);
}

/** Parses an address `isIP` accepted as IPv6 (a zone id is allowed and ignored) into 16 bytes. */
function parseIPv6(s: string): Bytes {
  const zone = s.indexOf('%');
  let a = zone < 0 ? s : s.slice(0, zone);
  const tail: number[] = [];
  const lastColon = a.lastIndexOf(':');
  const last = a.slice(lastColon + 1);
  if (last.includes('.')) {
    // An embedded IPv4 address in the last 32 bits (::ffff:10.1.2.3).
    const [b0 = 0, b1 = 0, b2 = 0, b3 = 0] = parseIPv4(last);
    tail.push((b0 << 8) | b1, (b2 << 8) | b3);
    a = a.slice(0, lastColon + 1);
    if (!a.endsWith('::')) a = a.slice(0, -1);
  }
  const words = (part: string): number[] => (part === '' ? [] : part.split(':').map((w) => parseInt(w, 16)));
  let groups: number[];
  const dbl = a.indexOf('::');
  if (dbl < 0) {
    groups = [...words(a), ...tail];
  } else {
    const head = words(a.slice(0, dbl));
    const rest = [...words(a.slice(dbl + 2)), ...tail];
    groups = [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest];
  }
  const out: number[] = [];
  for (const g of groups) out.push((g >> 8) & 0xff, g & 0xff);
  return out;
}

/** The bytes of an IP literal (4 or 16), or undefined when `s` is not one. */
function ipBytes(s: string): Bytes | undefined {
  const family = isIP(s);
  if (family === 4) return parseIPv4(s);
  if (family === 6) return parseIPv6(s);
  return undefined;
}

/** The IPv4 address inside an IPv4-mapped IPv6 address (::ffff:a.b.c.d), if it is one. */
function unmap(b: Bytes): Bytes | undefined {
  if (b.length !== 16) return undefined;
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return undefined;
  if (b[10] !== 0xff || b[11] !== 0xff) return undefined;
  return b.slice(12);
}

function prefixMatches(net: Bytes, prefix: number, addr: Bytes): boolean {
  if (net.length !== addr.length) return false;
  const full = Math.floor(prefix / 8);
  for (let i = 0; i < full; i++) if (net[i] !== addr[i]) return false;
  const bits = prefix % 8;
  if (bits === 0) return true;
  const mask = (0xff << (8 - bits)) & 0xff;
  return ((net[full] ?? 0) & mask) === ((addr[full] ?? 0) & mask);
}

function stripTrailingDot(s: string): string {
  return s.endsWith('.') ? s.slice(0, -1) : s;
}

function parsePort(s: string): number | undefined {
  if (!/^\d{1,5}$/.test(s)) return undefined;
  const n = Number(s);
  return n >= 1 && n <= 65535 ? n : undefined;
}

/** Parses one NO_PROXY entry (already trimmed, non-empty); undefined when invalid. */
function parseEntry(raw: string): Entry | undefined {
  let e = raw.toLowerCase();
  if (e === '*') return { type: 'all' };

  // CIDR block: address/prefix (IPv6 may be bracketed); no port.
  const slash = e.indexOf('/');
  if (slash >= 0) {
    let addr = e.slice(0, slash);
    const bits = e.slice(slash + 1);
    if (addr.startsWith('[') && addr.endsWith(']')) addr = addr.slice(1, -1);
    const bytes = ipBytes(addr);
    if (bytes === undefined || !/^\d{1,3}$/.test(bits)) return undefined;
    const prefix = Number(bits);
    if (prefix > bytes.length * 8) return undefined;
    return { type: 'ip', bytes, prefix, port: undefined };
  }

  // [IPv6] or [IPv6]:port.
  if (e.startsWith('[')) {
    const close = e.indexOf(']');
    if (close < 0) return undefined;
    const bytes = isIP(e.slice(1, close)) === 6 ? ipBytes(e.slice(1, close)) : undefined;
    if (bytes === undefined) return undefined;
    const after = e.slice(close + 1);
    let port: number | undefined;
    if (after !== '') {
      if (!after.startsWith(':')) return undefined;
      port = parsePort(after.slice(1));
      if (port === undefined) return undefined;
    }
    return { type: 'ip', bytes, prefix: 128, port };
  }

  // A bare IPv6 address (never with a port: `::1:8080` is itself an address).
  if (isIP(e) === 6) {
    const bytes = ipBytes(e);
    return bytes === undefined ? undefined : { type: 'ip', bytes, prefix: 128, port: undefined };
  }

  // host or host:port (host a name or an IPv4 address).
  let port: number | undefined;
  const colon = e.lastIndexOf(':');
  if (colon >= 0) {
    port = parsePort(e.slice(colon + 1));
    if (port === undefined) return undefined;
    e = e.slice(0, colon);
  }
  const v4 = isIP(e) === 4 ? ipBytes(e) : undefined;
  if (v4 !== undefined) return { type: 'ip', bytes: v4, prefix: 32, port };

  // Domain: `example.com`, `.example.com` and `*.example.com` all mean the
  // name and its subdomains.
  if (e.startsWith('*.')) e = e.slice(2);
  else if (e.startsWith('.')) e = e.slice(1);
  e = stripTrailingDot(e);
  if (/[^\x21-\x7e]/.test(e)) e = domainToASCII(e);
  if (e === '' || !/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(e)) return undefined;
  return { type: 'name', name: e, port };
}

/**
 * True when the NO_PROXY value `noProxy` says that `host:port` must be reached
 * directly. Used by {@link proxyForUrl}; exported for tests and the CLI's
 * `--noproxy`.
 *
 * `noProxy` is a list of entries separated by commas and/or whitespace (empty
 * entries are skipped). Matching is case-insensitive, and a trailing dot on
 * the host or on an entry is ignored.
 * - `*` matches every host. (curl honours it only as the whole value; burrow,
 *   like Go and undici, also as one entry of a list.)
 * - A name (`example.com`, `.example.com` or `*.example.com`) matches the
 *   name itself and its subdomains (`a.example.com`), never `badexample.com`.
 *   Names never match IP-literal hosts.
 * - An IPv4 or IPv6 literal (`10.1.2.3`, `::1`, `[::1]`) matches that address
 *   exactly (compared as bytes, so `::1` = `0:0::1`).
 * - A CIDR block (`10.0.0.0/8`, `192.168.0.0/23`, `fd00::/8`, `::/0`) matches
 *   IP-literal hosts inside it; bits past the prefix are ignored. Host names
 *   are NOT resolved to check CIDR blocks (no DNS lookups, as in curl):
 *   `localhost` is not matched by `127.0.0.0/8`.
 * - An IPv4-mapped IPv6 host (`::ffff:10.1.2.3`) also matches IPv4 literals
 *   and blocks, as its IPv4 address.
 * - A name or an address may carry a port (`example.com:8080`, `10.1.2.3:80`,
 *   `[::1]:8080`) and then matches only that port. CIDR blocks carry none.
 *
 * Invalid entries (`10.0.0.0/33`, `host:99999`, `host:abc`, `::1/`,
 * `http://host`...) are ignored rather than thrown: the value comes from the
 * environment, where a stray typo should not break every request, and an
 * ignored entry can only make burrow use the proxy, never bypass it.
 */
export function noProxyMatches(noProxy: string, host: string, port: number): boolean {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  h = stripTrailingDot(h);
  if (h === '') return false;
  const addr = ipBytes(h);
  const mapped = addr === undefined ? undefined : unmap(addr);

  for (const raw of splitChain(noProxy)) {
    const entry = parseEntry(raw);
    if (entry === undefined) continue;
    if (entry.type === 'all') return true;
    if (entry.port !== undefined && entry.port !== port) continue;
    if (entry.type === 'name') {
      if (addr === undefined && (h === entry.name || h.endsWith(`.${entry.name}`))) return true;
    } else if (addr !== undefined) {
      if (prefixMatches(entry.bytes, entry.prefix, addr)) return true;
      if (mapped !== undefined && prefixMatches(entry.bytes, entry.prefix, mapped)) return true;
    }
  }
  return false;
}
