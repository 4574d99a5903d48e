/**
 * HTTP/2 header mapping: request pseudo-headers, connection-specific headers
 * that HTTP/2 forbids (RFC 9113 §8.2.2), and Node header objects to lists.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import type { Header } from '../../shared/headers.js';

/** Connection-specific headers that must not appear in HTTP/2 (RFC 9113 §8.2.2). */
const FORBIDDEN = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host']);

/**
 * Builds the HTTP/2 request header object: pseudo-headers first, forbidden
 * headers dropped. With `protocol`, an extended CONNECT (RFC 8441): `:protocol`,
 * `:scheme` and `:path` are sent, and `:authority` is the origin's.
 */
export function requestHeaders(method: string, path: string, scheme: 'http' | 'https', authority: string, headers: readonly Header[], protocol?: string): OutgoingHttpHeaders {
  const plainConnect = method === 'CONNECT' && protocol === undefined;
  let auth = authority;
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of headers) {
    if (name === 'host') {
      // A user-given host header becomes :authority, except for CONNECT, whose
      // :authority is the tunnel's target and nothing else.
      if (!plainConnect) auth = value;
      continue;
    }
    if (FORBIDDEN.has(name)) continue;
    if (name === 'te' && value.toLowerCase() !== 'trailers') continue;
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = [String(prev), value];
  }
  const pseudo: OutgoingHttpHeaders = plainConnect
    ? { ':method': method, ':authority': auth }
    : protocol !== undefined
      ? { ':method': 'CONNECT', ':protocol': protocol, ':scheme': scheme, ':authority': auth, ':path': path }
      : { ':method': method, ':scheme': scheme, ':authority': auth, ':path': path };
  return Object.assign(pseudo, out);
}

/** Converts a Node header object to a header list, without pseudo-headers. */
export function toHeaderList(h: IncomingHttpHeaders): Header[] {
  const out: Header[] = [];
  for (const name of Object.keys(h)) {
    if (name.startsWith(':')) continue;
    const v = h[name];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const item of v) out.push([name, item]);
    else out.push([name, String(v)]);
  }
  return out;
}
