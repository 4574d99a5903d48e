/**
 * What `FindProxyForURL()` returns, parsed: `;`-separated directives, in
 * order, each `DIRECT` or `KEYWORD host[:port]`.
 *
 * | directive | burrow's proxy URL | default port |
 * |---|---|---|
 * | `PROXY h:p`, `HTTP h:p` | `http://h:p` (CONNECT) | 80 |
 * | `HTTPS h:p` | `https://h:p` (CONNECT over TLS) | 443 |
 * | `SOCKS h:p`, `SOCKS4 h:p` | `socks4://h:p` (as browsers read `SOCKS`: the client resolves) | 1080 |
 * | `SOCKS5 h:p` | `socks5h://h:p` (the proxy resolves names, as browsers do) | 1080 |
 * | `DIRECT` | no proxy | — |
 *
 * Keywords are case-insensitive. A directive burrow cannot read (an unknown
 * keyword such as `QUIC`, a bad host or port) is skipped, as browsers skip
 * it; an empty result means `DIRECT`; a result with no usable directive, or that is not a string, is
 * `ERR_PAC_RESULT`.
 */
import { isIP } from 'node:net';
import { BurrowError } from '../errors/errors.js';

/** One route a PAC result names: direct, or through the proxy at `url`. */
export type PacDirective = { readonly direct: true; readonly text: string } | { readonly direct: false; readonly url: string; readonly text: string };

const KEYWORDS: Readonly<Record<string, { scheme: string; port: number }>> = {
  PROXY: { scheme: 'http', port: 80 },
  HTTP: { scheme: 'http', port: 80 },
  HTTPS: { scheme: 'https', port: 443 },
  SOCKS: { scheme: 'socks4', port: 1080 },
  SOCKS4: { scheme: 'socks4', port: 1080 },
  SOCKS5: { scheme: 'socks5h', port: 1080 },
};

/** The longest result read, characters: longer is `ERR_PAC_RESULT`. */
const MAX_RESULT = 64 * 1024;

const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/;

/** `host[:port]` → the URL authority, or undefined when it is not one. */
function authorityOf(s: string, defaultPort: number): string | undefined {
  let host: string;
  let port: string | undefined;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (bracket !== null) {
    host = bracket[1] ?? '';
    port = bracket[2];
    if (isIP(host) !== 6) return undefined;
    host = `[${host}]`;
  } else {
    const colon = s.lastIndexOf(':');
    if (colon >= 0 && s.indexOf(':') !== colon) return undefined; // a bare IPv6 address: ambiguous with a port
    host = colon < 0 ? s : s.slice(0, colon);
    port = colon < 0 ? undefined : s.slice(colon + 1);
    if (!HOST_NAME.test(host) && isIP(host) !== 4) return undefined;
  }
  if (port !== undefined && (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535)) return undefined;
  return `${host}:${port ?? defaultPort}`;
}

/** Parses one directive, or undefined when burrow cannot read it. */
function directive(text: string): PacDirective | undefined {
  const words = text.split(/\s+/);
  const keyword = (words[0] ?? '').toUpperCase();
  if (keyword === 'DIRECT' && words.length === 1) return { direct: true, text };
  const info = KEYWORDS[keyword];
  if (info === undefined || words.length !== 2) return undefined;
  const authority = authorityOf(words[1] ?? '', info.port);
  if (authority === undefined) return undefined;
  const url = `${info.scheme}://${authority}`;
  // A host the URL parser refuses (`y127.0.0.1`: a last label that is a number but no IPv4 address) is unreadable.
  if (!URL.canParse(url)) return undefined;
  return { direct: false, url, text };
}

/** The routes of a PAC result, in order (duplicates dropped). Throws `ERR_PAC_RESULT` when there is none. */
export function parsePacResult(result: unknown, script: string): PacDirective[] {
  if (typeof result !== 'string') {
    throw new BurrowError('ERR_PAC_RESULT', `the PAC script ${script} returned ${result === null ? 'null' : typeof result}, not a string`, { stage: 'pac', details: { script, type: result === null ? 'null' : typeof result } });
  }
  if (result.length > MAX_RESULT) throw new BurrowError('ERR_PAC_RESULT', `the PAC script ${script} returned ${result.length} characters (at most ${MAX_RESULT})`, { stage: 'pac', details: { script } });
  // An empty answer means no proxy (Netscape's specification).
  if (result.trim() === '') return [{ direct: true, text: '' }];
  const out: PacDirective[] = [];
  const seen = new Set<string>();
  for (const raw of result.split(';')) {
    const text = raw.trim();
    if (text === '') continue;
    const d = directive(text);
    if (d === undefined) continue;
    const key = d.direct ? 'DIRECT' : d.url;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(d);
  }
  if (out.length === 0) {
    const shown = result.length > 200 ? `${result.slice(0, 200)}…` : result;
    throw new BurrowError('ERR_PAC_RESULT', `the PAC script ${script} returned no usable route: ${JSON.stringify(shown)}`, { stage: 'pac', details: { script, result: shown } });
  }
  return out;
}
