/**
 * Proxy URLs: parsing one proxy URL (`http://user:pass@proxy:3128`) or a
 * chain of them into {@link ProxyHop} descriptions. Pure functions, no I/O.
 *
 * Supported schemes:
 *
 * | scheme     | transport | speaks                          | default port |
 * |------------|-----------|---------------------------------|--------------|
 * | `http`     | tcp       | HTTP/1.1 CONNECT                | 80           |
 * | `https`    | tls       | CONNECT, HTTP/2 or 1.1 by ALPN  | 443          |
 * | `h2c`      | tcp       | HTTP/2 CONNECT (prior knowledge)| 80           |
 * | `h2`       | tls       | HTTP/2 CONNECT (ALPN `h2` only) | 443          |
 * | `socks5`   | tcp       | SOCKS5, client resolves names   | 1080         |
 * | `socks5h`  | tcp       | SOCKS5, proxy resolves names    | 1080         |
 * | `socks5s`  | tls       | SOCKS5 over TLS, client resolves| 1080         |
 * | `socks5hs` | tls       | SOCKS5 over TLS, proxy resolves | 1080         |
 * | `socks4`   | tcp       | SOCKS4, client resolves (IPv4)  | 1080         |
 * | `socks4a`  | tcp       | SOCKS4a, proxy resolves names   | 1080         |
 *
 * A SOCKS4 URL's user name is the USERID the request carries
 * (`socks4://alice@proxy:1080`); SOCKS4 has no password, so a URL with one is
 * refused.
 *
 * Every error is a `BurrowError` with code `ERR_INVALID_OPTION` whose
 * `details.option` names the option (or environment variable) and whose
 * message never contains the password: URLs are echoed with the password
 * replaced by `***`.
 */
import { domainToASCII } from 'node:url';
import { checkHost } from '../shared/options/validate.js';
import { maskUserinfo } from '../shared/redact.js';
import { invalidOption } from '../errors/errors.js';

/** The proxy URL schemes burrow understands. */
export type ProxyScheme = 'http' | 'https' | 'h2c' | 'h2' | 'socks5' | 'socks5h' | 'socks5s' | 'socks5hs' | 'socks4' | 'socks4a';

/** One proxy of a chain, as described by its URL. */
export interface ProxyHop {
  /**
   * The URL in canonical form, `scheme://[user[:***]@]host:port` (port always
   * written, IPv6 in brackets), with the password masked as `***`: safe to
   * print or to put in errors.
   */
  readonly url: string;
  readonly scheme: ProxyScheme;
  /** Host name (lowercase, IDNA-encoded) or IP address; IPv6 without brackets. */
  readonly host: string;
  /** TCP port; defaults: http 80, https 443, h2c 80, h2 443, socks5* and socks4* 1080. */
  readonly port: number;
  /** `'tls'` for https, h2, socks5s and socks5hs; `'tcp'` otherwise. */
  readonly transport: 'tcp' | 'tls';
  /** `connect` (http, https, h2c, h2), `socks5` (socks5*), `socks4` (socks4, socks4a). */
  readonly kind: 'connect' | 'socks5' | 'socks4';
  /**
   * For CONNECT hops: what to speak to the proxy. http → `['http']`;
   * https → `['http2', 'http']` (ALPN picks); h2c → `['http2']`;
   * h2 → `['http2']`. For SOCKS hops: `undefined`.
   */
  readonly protocols: readonly ('http' | 'http2')[] | undefined;
  /** SOCKS: true for socks5h, socks5hs and socks4a (the proxy resolves names); false otherwise (and for CONNECT hops). */
  readonly remoteDns: boolean;
  /** Percent-decoded user name, for this hop only (SOCKS4: the USERID); `undefined` when none. */
  readonly username: string | undefined;
  /**
   * Percent-decoded password, for this hop only; `undefined` when none. An
   * empty password counts as none (a WHATWG URL cannot tell `user:@` from `user@`).
   * `util.inspect` and `JSON.stringify` of the hop show it as `***`.
   */
  readonly password: string | undefined;
}

interface SchemeInfo {
  readonly port: number;
  readonly transport: 'tcp' | 'tls';
  readonly kind: 'connect' | 'socks5' | 'socks4';
  readonly protocols: readonly ('http' | 'http2')[] | undefined;
  readonly remoteDns: boolean;
}

const H1: readonly ('http' | 'http2')[] = Object.freeze(['http'] as const);
const H2: readonly ('http' | 'http2')[] = Object.freeze(['http2'] as const);
const ALPN: readonly ('http' | 'http2')[] = Object.freeze(['http2', 'http'] as const);

const SCHEMES: Readonly<Record<ProxyScheme, SchemeInfo>> = {
  http: { port: 80, transport: 'tcp', kind: 'connect', protocols: H1, remoteDns: false },
  https: { port: 443, transport: 'tls', kind: 'connect', protocols: ALPN, remoteDns: false },
  h2c: { port: 80, transport: 'tcp', kind: 'connect', protocols: H2, remoteDns: false },
  h2: { port: 443, transport: 'tls', kind: 'connect', protocols: H2, remoteDns: false },
  socks5: { port: 1080, transport: 'tcp', kind: 'socks5', protocols: undefined, remoteDns: false },
  socks5h: { port: 1080, transport: 'tcp', kind: 'socks5', protocols: undefined, remoteDns: true },
  socks5s: { port: 1080, transport: 'tls', kind: 'socks5', protocols: undefined, remoteDns: false },
  socks5hs: { port: 1080, transport: 'tls', kind: 'socks5', protocols: undefined, remoteDns: true },
  socks4: { port: 1080, transport: 'tcp', kind: 'socks4', protocols: undefined, remoteDns: false },
  socks4a: { port: 1080, transport: 'tcp', kind: 'socks4', protocols: undefined, remoteDns: true },
};

const SUPPORTED = Object.keys(SCHEMES).join(', ');

function isProxyScheme(s: string): s is ProxyScheme {
  return Object.prototype.hasOwnProperty.call(SCHEMES, s);
}

/** Masks the password of a proxy URL that may not parse (see {@link maskUserinfo}). */
export function maskProxyUrl(raw: string): string {
  return maskUserinfo(raw);
}

/** Why `new URL()` refused `raw`, as precisely as can be told without echoing the password. */
function diagnose(raw: string): string {
  const afterScheme = raw.slice(raw.indexOf('://') + 3);
  const at = afterScheme.lastIndexOf('@');
  const hostPort = afterScheme.slice(at + 1).split(/[/?#\\]/, 1)[0] ?? '';
  const m = /^(\[[^\]]*\]|[^:[\]]*)(?::(.*))?$/.exec(hostPort);
  if (m !== null) {
    const host = m[1] ?? '';
    const port = m[2];
    if (host === '') return 'missing host';
    if (port !== undefined && port !== '' && (!/^\d+$/.test(port) || Number(port) > 65535 || Number(port) < 1)) {
      return 'port must be an integer from 1 to 65535';
    }
  }
  return 'not a valid URL';
}

function decode(name: string, shown: string, what: string, v: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    throw invalidOption(name, `${shown}: invalid percent-encoding in the ${what}`);
  }
}

/**
 * Parses one proxy URL.
 *
 * Throws `BurrowError` `ERR_INVALID_OPTION` (`details.option` = `name`) for:
 * a missing or unknown scheme (the message lists the supported ones), a
 * missing host, a bad port (not 1..65535), a path other than `/` or empty, a
 * query or a fragment (even empty: `http://p/?`), a password without a user
 * name, a password in a SOCKS4 URL, and invalid percent-encoding in the user info. The message shows the
 * URL with its password masked.
 */
export function parseProxyUrl(url: string | URL, name = 'via'): ProxyHop {
  let raw: string;
  if (typeof url === 'string') raw = url.trim();
  else if (url instanceof URL) raw = url.href;
  else throw invalidOption(name, 'must be a proxy URL (string or URL)');
  const shown = JSON.stringify(maskProxyUrl(raw));

  const sm = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(raw);
  if (sm === null) throw invalidOption(name, `${shown}: missing scheme (supported: ${SUPPORTED})`);
  const scheme = (sm[1] ?? '').toLowerCase();
  if (!isProxyScheme(scheme)) throw invalidOption(name, `${shown}: unsupported scheme "${scheme}:" (supported: ${SUPPORTED})`);
  if (raw.slice(sm[0].length, sm[0].length + 2) !== '//') {
    throw invalidOption(name, `${shown}: missing host (expected ${scheme}://host[:port])`);
  }
  const info = SCHEMES[scheme];

  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw invalidOption(name, `${shown}: ${diagnose(raw)}`);
  }
  if (u.hostname === '') throw invalidOption(name, `${shown}: missing host`);
  if (u.pathname !== '' && u.pathname !== '/') throw invalidOption(name, `${shown}: a proxy URL has no path`);
  // The serialization keeps '?' / '#' for an empty query or fragment; the user
  // info and the host never hold them unescaped.
  if (u.href.includes('?')) throw invalidOption(name, `${shown}: a proxy URL has no query`);
  if (u.href.includes('#')) throw invalidOption(name, `${shown}: a proxy URL has no fragment`);

  // http/https hosts are already normalized by the WHATWG parser; the other
  // schemes are "non-special" there (opaque, percent-encoded host), so they
  // get the same normalization here: lowercase, IDNA, IPv4 forms.
  let host: string;
  if (u.hostname.startsWith('[')) {
    host = u.hostname.slice(1, -1);
  } else if (scheme === 'http' || scheme === 'https') {
    host = u.hostname;
  } else {
    let decoded: string;
    try {
      decoded = decodeURIComponent(u.hostname);
    } catch {
      throw invalidOption(name, `${shown}: invalid host`);
    }
    host = domainToASCII(decoded);
    if (host === '') throw invalidOption(name, `${shown}: invalid host`);
  }
  host = checkHost(name, host);

  let port = info.port;
  if (u.port !== '') {
    port = Number(u.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw invalidOption(name, `${shown}: port must be an integer from 1 to 65535`);
    }
  }

  if (u.username === '' && u.password !== '') throw invalidOption(name, `${shown}: a password without a user name`);
  const username = u.username === '' ? undefined : decode(name, shown, 'user name', u.username);
  const password = u.password === '' ? undefined : decode(name, shown, 'password', u.password);
  if (info.kind === 'socks4' && password !== undefined) {
    throw invalidOption(name, `${shown}: SOCKS4 has no password (the user name is sent as the USERID: ${scheme}://user@host)`);
  }
  if (info.kind === 'socks4' && username !== undefined && (username.includes('\0') || Buffer.byteLength(username) > 255)) {
    throw invalidOption(name, `${shown}: a SOCKS4 USERID is at most 255 bytes, without NUL`);
  }

  const userinfo = u.username === '' ? '' : `${u.username}${password === undefined ? '' : ':***'}@`;
  const hostInUrl = host.includes(':') ? `[${host}]` : host;
  const hop: ProxyHop = {
    url: `${scheme}://${userinfo}${hostInUrl}:${port}`,
    scheme,
    host,
    port,
    transport: info.transport,
    kind: info.kind,
    protocols: info.protocols,
    remoteDns: info.remoteDns,
    username,
    password,
  };
  if (password !== undefined) maskPassword(hop);
  return Object.freeze(hop);
}

/**
 * Makes `util.inspect` (console.log) and `JSON.stringify` of a hop show its
 * password as `***`; the property itself stays readable and enumerable.
 */
function maskPassword(hop: ProxyHop): void {
  const masked = (): Record<string, unknown> => ({ ...hop, password: '***' });
  Object.defineProperty(hop, 'toJSON', { value: masked, enumerable: false });
  Object.defineProperty(hop, Symbol.for('nodejs.util.inspect.custom'), {
    value: (_depth: number, options: object, inspect: (v: unknown, o: object) => string) => inspect(masked(), options),
    enumerable: false,
  });
}

/**
 * Parses a proxy chain, first hop first: an array of URLs, or one string of
 * URLs separated by commas and/or whitespace (the form used in environment
 * variables; a comma or space inside a password must be percent-encoded). An
 * empty array or a blank string gives `[]`.
 *
 * Errors name the element: `details.option` is `name[i]` for an array, and for
 * a string `name` when it holds one URL, `name[i]` when it holds several.
 */
export function parseProxyChain(input: string | readonly (string | URL)[], name = 'via'): ProxyHop[] {
  if (typeof input === 'string') {
    const parts = splitChain(input);
    return parts.map((p, i) => parseProxyUrl(p, parts.length === 1 ? name : `${name}[${i}]`));
  }
  if (!Array.isArray(input)) throw invalidOption(name, 'must be a proxy URL, a list of them, or an array of URLs');
  return (input as readonly unknown[]).map((p, i) => {
    if (typeof p !== 'string' && !(p instanceof URL)) throw invalidOption(`${name}[${i}]`, 'must be a proxy URL (string or URL)');
    return parseProxyUrl(p, `${name}[${i}]`);
  });
}

/** Splits the string form of a chain on commas and whitespace, dropping empty items. */
export function splitChain(s: string): string[] {
  return s.split(/[\s,]+/).filter((p) => p !== '');
}

// Proxy URLs given again and again (the same `via` for every request) parse to the same hop: each is
// parsed once and remembered, up to a bound. Those with credentials in them are parsed every time and
// never remembered, so no proxy credential stays in memory after the requests that use it; nor are long ones.
const MAX_REMEMBERED = 256;
const MAX_REMEMBERED_LENGTH = 2048;
const remembered = new Map<string, ProxyHop>();

/**
 * {@link parseProxyUrl}, remembering the hops of URLs without credentials
 * (at most 256, each up to 2 KiB): the parse `request()` uses for `via`.
 */
export function rememberedProxyUrl(entry: string | URL, name: string): ProxyHop {
  const key = typeof entry === 'string' ? entry : entry instanceof URL ? entry.href : undefined;
  if (key !== undefined) {
    const known = remembered.get(key);
    if (known !== undefined) return known;
  }
  const hop = parseProxyUrl(entry, name);
  if (key !== undefined && key.length <= MAX_REMEMBERED_LENGTH && hop.username === undefined && hop.password === undefined) {
    if (remembered.size >= MAX_REMEMBERED) remembered.clear();
    remembered.set(key, hop);
  }
  return hop;
}

/** Whether the hop of `url` is remembered (for tests: URLs with credentials and long ones never are). */
export function isProxyRemembered(url: string): boolean {
  return remembered.has(url);
}

/** How many proxy URLs are remembered (for tests: never more than the bound). */
export function rememberedProxyCount(): number {
  return remembered.size;
}
