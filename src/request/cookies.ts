/**
 * The cookie step of `request()` (`{ cookies: jar }`): the jar's `Cookie`
 * header added to the request for its URL, and every `Set-Cookie` of the
 * response stored. It wraps each exchange, so that each redirect hop and each
 * retry attempt gets the cookies of its own URL. Cookies go to the origin
 * only: they travel inside the tunnel, never in a CONNECT request or a SOCKS
 * handshake.
 */
import { BurrowError } from '../errors/errors.js';
import type { CookieJar } from '../cookies/jar.js';
import { getHeaders, normalizeHeaders, type Header } from '../shared/headers.js';
import type { RequestInit } from './init.js';
import type { Response } from './response.js';

/** The next step: sends one request. */
export type SendStep = (url: string | URL, init: RequestInit) => Promise<Response>;

function isJar(j: unknown): j is CookieJar {
  return typeof j === 'object' && j !== null && typeof (j as CookieJar).getCookieHeader === 'function' && typeof (j as CookieJar).setCookie === 'function';
}

/**
 * The request's headers with the jar's cookies: one `cookie` header, the
 * user's own `cookie` values first (where the first of them was), then the
 * jar's pairs, joined by `; `.
 */
export function withCookieHeader(headers: RequestInit['headers'], jarCookies: string): Header[] {
  const list = normalizeHeaders(headers);
  const own: string[] = [];
  let at = -1;
  for (let i = list.length - 1; i >= 0; i--) {
    const h = list[i] as Header;
    if (h[0] !== 'cookie') continue;
    if (h[1] !== '') own.unshift(h[1]);
    list.splice(i, 1);
    at = i;
  }
  own.push(jarCookies);
  const merged: Header = ['cookie', own.join('; ')];
  if (at < 0) list.push(merged);
  else list.splice(at, 0, merged);
  return list;
}

/**
 * Sends `url` through `next` with the cookies of `jar`, and stores the
 * response's cookies in it. A `Set-Cookie` the jar refuses is skipped (the
 * jar's `onReject` sees it); it never fails the request.
 */
export async function withCookies(url: string | URL, init: RequestInit, jar: CookieJar, next: SendStep): Promise<Response> {
  if (!isJar(jar)) throw new BurrowError('ERR_INVALID_OPTION', 'invalid option cookies: a CookieJar', { stage: 'options', details: { option: 'cookies' } });
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // Not a URL: the exchange rejects it with its own error.
    return next(url, init);
  }
  let cookie: string;
  try {
    cookie = jar.getCookieHeader(u);
  } catch (e) {
    throw jarThrew(e);
  }
  const res = await next(url, cookie === '' ? init : { ...init, headers: withCookieHeader(init.headers, cookie) });
  try {
    for (const v of getHeaders(res.headers, 'set-cookie')) jar.setCookie(v, u);
  } catch (e) {
    // The response is not handed back: its body is dropped so that its connection is released.
    res.cancel();
    throw jarThrew(e);
  }
  return res;
}

/** The jar (its `onReject`, or a jar of the caller's own) threw. */
function jarThrew(e: unknown): BurrowError {
  return new BurrowError('ERR_CALLBACK', `the cookie jar threw: ${e instanceof Error ? e.message : String(e)}`, { stage: 'state', cause: e, details: { callback: 'cookies' } });
}
