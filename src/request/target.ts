/**
 * A request URL read as its target: scheme, host, port, path. URLs given as
 * strings are parsed once and remembered (up to 256 of them).
 */
import { BurrowError } from '../errors/errors.js';
import { maskUrl } from '../shared/redact.js';

/** What a request URL says about its target. */
export interface Target {
  readonly scheme: 'http' | 'https';
  /** IPv6 without brackets. */
  readonly host: string;
  readonly port: number;
  /** Path and query, `/` when empty. */
  readonly path: string;
  readonly href: string;
}

// URLs given as strings parse to the same target every time: parse each once (URL objects are mutable: parsed each time).
// URLs with credentials in them, and long ones, are not kept.
const MAX_PARSED_URLS = 256;
const MAX_PARSED_URL_LENGTH = 2048;
const parsedUrls = new Map<string, Target>();

/** The target of `url`; throws `ERR_INVALID_OPTION` for a URL that is not http: or https:. */
export function targetOf(url: string | URL): Target {
  if (typeof url === 'string') {
    const known = parsedUrls.get(url);
    if (known !== undefined) return known;
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch (e) {
    const shown = maskUrl(url);
    // The parser's error holds its input: the cause is a copy with the input masked.
    const cause = Object.assign(new TypeError((e as Error).message), { code: (e as { code?: unknown }).code, input: shown });
    throw new BurrowError('ERR_INVALID_OPTION', `invalid url ${JSON.stringify(shown)}`, { stage: 'options', cause, details: { option: 'url' } });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new BurrowError('ERR_INVALID_OPTION', `invalid url: ${u.protocol} is not http: or https:`, { stage: 'options', details: { option: 'url' } });
  }
  const scheme = u.protocol === 'https:' ? 'https' : 'http';
  const t: Target = Object.freeze({
    scheme,
    host: u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname,
    port: u.port === '' ? (scheme === 'https' ? 443 : 80) : Number(u.port),
    path: `${u.pathname}${u.search}` || '/',
    href: u.href,
  });
  if (typeof url === 'string' && url.length <= MAX_PARSED_URL_LENGTH && u.username === '' && u.password === '') {
    if (parsedUrls.size >= MAX_PARSED_URLS) parsedUrls.clear();
    parsedUrls.set(url, t);
  }
  return t;
}

/** Whether `url` is among the remembered targets (for tests: URLs with credentials and long ones never are). */
export function isRemembered(url: string): boolean {
  return parsedUrls.has(url);
}
