/**
 * The redirect step of `request()`: follows 301, 302, 303, 307 and 308 as
 * browsers do (RFC 9110 §15.4, the Fetch standard's method and header rules),
 * each hop sent by the step below it, the whole chain bounded by the call's
 * scope (scope.ts). Looks at the status synchronously once the head is there:
 * a response that is not a redirect is handed back as it came.
 */
import { BurrowError } from '../errors/errors.js';
import { normalizeHeaders, type HeaderList } from '../shared/headers.js';
import { maskUrl } from '../shared/redact.js';
import { drain } from './drain.js';
import type { RedirectOverride, RequestBody, RequestInit } from './init.js';
import type { RedirectHop, Response } from './response.js';

/**
 * One step of `request()`, and what each step calls below it: sends one request and settles with its
 * response head. request.ts composes them: redirects → retries → route choice → cookies → exchange.
 */
export type Hop = (url: string | URL, init: RequestInit) => Promise<Response>;

/** Headers not sent to another origin. */
const CROSS_ORIGIN_DROPPED: readonly string[] = ['authorization', 'cookie', 'proxy-authorization'];

/** A location longer than this is shown cut in error details. */
const SHOWN = 200;

/** True for a response `redirect` acts on: a redirect status with a `Location`. */
function isRedirect(res: Response): boolean {
  const s = res.status;
  return (s === 301 || s === 302 || s === 303 || s === 307 || s === 308) && res.header('location') !== undefined;
}

function isWholeBody(b: RequestBody): boolean {
  return typeof b === 'string' || b instanceof Uint8Array;
}

/** Headers describing a body, dropped with it when a redirect turns the request into a GET. */
function isBodyHeader(name: string): boolean {
  return name.startsWith('content-') || name === 'transfer-encoding';
}

function shown(s: string): string {
  return s.length > SHOWN ? `${s.slice(0, SHOWN)}...` : s;
}

/** Checks `init.redirect` and `init.maxRedirects`; returns the limit. */
function checkOptions(init: RequestInit): number {
  const mode = init.redirect;
  if (mode !== undefined && mode !== 'follow' && mode !== 'error' && mode !== 'manual') {
    throw new BurrowError('ERR_INVALID_OPTION', "invalid option redirect: 'follow', 'manual' or 'error'", { stage: 'options', details: { option: 'redirect' } });
  }
  const max = init.maxRedirects;
  if (max !== undefined && !(Number.isInteger(max) && max >= 0)) {
    throw new BurrowError('ERR_INVALID_OPTION', 'invalid option maxRedirects: an integer >= 0', { stage: 'options', details: { option: 'maxRedirects' } });
  }
  if (init.onRedirect !== undefined && typeof init.onRedirect !== 'function') {
    throw new BurrowError('ERR_INVALID_OPTION', 'invalid option onRedirect: a function', { stage: 'options', details: { option: 'onRedirect' } });
  }
  return max ?? 20;
}

/** Sends `init` to `url` through `next`, following redirects as `init.redirect` says. */
export function followRedirects(url: string | URL, init: RequestInit, next: Hop): Promise<Response> {
  if (init.redirect === 'manual') return next(url, init);
  let max: number;
  try {
    max = checkOptions(init);
  } catch (e) {
    return Promise.reject(e);
  }
  return next(url, init).then((res) => (isRedirect(res) ? follow(res, url, init, next, max) : res));
}

/** The URL a redirect leads to; `ERR_REDIRECT_LOCATION` when it cannot be followed. */
function target(res: Response, location: string, current: URL): URL {
  const bad = (reason: string, why: string): BurrowError =>
    new BurrowError('ERR_REDIRECT_LOCATION', `the ${res.status} redirect from ${res.url} ${why}`, {
      stage: 'http',
      details: { reason, status: res.status, location: shown(maskUrl(location)) },
    });
  // The parsers refuse these in a field value; a location built by other means must not smuggle a header or a line.
  if (/[\r\n\0]/.test(location)) throw bad('invalid', 'has a Location with CR, LF or NUL in it');
  let next: URL;
  try {
    next = new URL(location, current);
  } catch {
    throw bad('invalid', `has a Location that is not a URL: ${JSON.stringify(shown(maskUrl(location)))}`);
  }
  if (next.protocol !== 'http:' && next.protocol !== 'https:') throw bad('scheme', `leads to ${next.protocol} (only http: and https: are followed)`);
  // RFC 9110 §10.2.2: a Location without a fragment inherits the one of the URL it came from.
  if (next.hash === '' && current.hash !== '') next.hash = current.hash;
  return next;
}

async function follow(first: Response, url: string | URL, init: RequestInit, next: Hop, max: number): Promise<Response> {
  const hops: RedirectHop[] = [];
  let res = first;
  let current = new URL(typeof url === 'string' ? url : url.href);
  let method = (init.method ?? 'GET').toUpperCase();
  let headers: HeaderList = normalizeHeaders(init.headers);
  let body: RequestBody | null = init.body ?? null;
  let via = init.via;
  for (;;) {
    const status = res.status;
    const location = res.header('location') as string;
    if (init.redirect === 'error') {
      res.cancel();
      throw new BurrowError('ERR_REDIRECT_REFUSED', `${res.url} answered ${status} (redirect: 'error')`, {
        stage: 'http',
        details: { status, location: shown(maskUrl(location)) },
      });
    }
    if (hops.length >= max) {
      res.cancel();
      const chain = [...hops.map((h) => h.url), res.url];
      throw new BurrowError('ERR_TOO_MANY_REDIRECTS', `more than ${max} redirects: ${shown(chain.join(' -> '))}`, {
        stage: 'http',
        details: { redirects: hops.length + 1, maxRedirects: max, chain: chain.join(' ') },
      });
    }
    let to: URL;
    try {
      to = target(res, location, current);
    } catch (e) {
      res.cancel();
      throw e;
    }
    if (status === 303 ? method !== 'HEAD' : (status === 301 || status === 302) && method === 'POST') {
      method = 'GET';
      body = null;
      headers = headers.filter(([k]) => !isBodyHeader(k));
    }
    const dropped: string[] = [];
    if (to.origin !== current.origin) {
      for (const name of CROSS_ORIGIN_DROPPED) if (headers.some(([k]) => k === name)) dropped.push(name);
      if (dropped.length > 0) headers = headers.filter(([k]) => !CROSS_ORIGIN_DROPPED.includes(k));
      if (to.username !== '' || to.password !== '') {
        to.username = '';
        to.password = '';
      }
      // A host header given for the old origin names the new one now.
      if (headers.some(([k]) => k === 'host')) headers = headers.map((h) => (h[0] === 'host' ? ['host', to.host] : h));
    }
    hops.push({ url: res.url, status });
    let override: void | RedirectOverride = undefined;
    if (init.onRedirect !== undefined) {
      try {
        override = await init.onRedirect({ response: res, status, from: res.url, to, method, headers, body: body !== null, dropped });
      } catch (e) {
        res.cancel();
        throw e;
      }
    }
    if (override?.via !== undefined) via = override.via;
    if (override?.body !== undefined) body = override.body;
    else if (body !== null && !isWholeBody(body)) {
      res.cancel();
      throw new BurrowError('ERR_BODY_NOT_REPLAYABLE', `the ${status} redirect to ${maskUrl(to)} needs the request body again, and it was streamed (give it whole, or again from onRedirect)`, {
        stage: 'http',
        details: { status },
      });
    }
    await drain(res);
    current = to;
    res = await next(to, { ...init, method, headers, body, via });
    if (!isRedirect(res)) {
      res.setRedirects(hops);
      return res;
    }
  }
}
