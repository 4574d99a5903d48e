/**
 * Fuzz target: `CookieJar` against the `Set-Cookie` values a server sends.
 * The first input byte chooses the response URL (http or https, host, path);
 * the rest, split at LF, are `Set-Cookie` values. Invariants: nothing throws,
 * the `Cookie` header for the URL holds no control character but HTAB, and
 * the JSON and Netscape round trips give back the same cookies (the Netscape
 * format without `SameSite`, in whole seconds, and without cookies holding a tab).
 */
import { CookieJar, type CookieRejection } from '../../../src/cookies/jar.js';
import type { Cookie } from '../../../src/cookies/cookie.js';
import { FuzzFailure, type FuzzTarget } from '../engine.js';

const NOW = Date.UTC(2030, 0, 1);
const URLS = ['http://www.example.com/a/b', 'https://www.example.com/', 'https://user.github.io/x', 'http://127.0.0.1:8080/', 'https://a.b.example.co.uk/p/q/r', 'http://localhost/', 'https://[::1]/x/', 'http://xn--nxasmq6b.example/'];

const PARSED = URLS.map((u) => new URL(u));

// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;

/** True when `a` and `b` hold the same cookies (with `netscape`: as that format keeps them). */
function same(a: readonly Cookie[], b: readonly Cookie[], netscape: boolean): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as Cookie;
    const y = b[i] as Cookie;
    if (x.name !== y.name || x.value !== y.value || x.domain !== y.domain || x.path !== y.path || x.hostOnly !== y.hostOnly || x.secure !== y.secure || x.httpOnly !== y.httpOnly) return false;
    if (netscape ? (x.expires === undefined ? y.expires !== undefined : y.expires !== Math.floor(x.expires / 1000) * 1000) : x.expires !== y.expires || x.sameSite !== y.sameSite || x.creation !== y.creation) return false;
  }
  return true;
}

function run(input: Buffer): string {
  const url = PARSED[(input[0] ?? 0) & 7] as URL;
  const reasons: string[] = [];
  const jar = new CookieJar({ now: () => NOW, maxCookiesPerDomain: 8, maxCookies: 20, onReject: (r: CookieRejection) => reasons.push(r.reason) });
  for (const line of input.subarray(1).toString('latin1').split('\n')) jar.setCookie(line, url);
  const header = jar.getCookieHeader(url);
  if (CONTROL.test(header)) throw new FuzzFailure(`a control character in the Cookie header ${JSON.stringify(header)}`);
  const all = jar.getAllCookies();
  if (!same(CookieJar.fromJSON(jar.toJSON(), { now: () => NOW }).getAllCookies(), all, false)) throw new FuzzFailure('the JSON round trip changed the cookies');
  const writable = all.filter((c) => !c.name.includes('\t') && !c.value.includes('\t') && !c.path.includes('\t'));
  if (!same(writable, CookieJar.fromNetscape(jar.toNetscape(), { now: () => NOW }).getAllCookies(), true)) throw new FuzzFailure('the Netscape round trip changed the cookies');
  return `${reasons.join(',')}\n${all.length}\n${header}`;
}

/** CookieJar's parsing, storage model and serialisations against Set-Cookie values. */
export const setCookie: FuzzTarget = {
  name: 'set-cookie',
  streaming: false,
  dictionary: ['; ', '=', 'Domain=', 'Path=/', 'Secure', 'HttpOnly', 'SameSite=None', 'SameSite=Lax', 'Max-Age=', 'Expires=', '__Host-', '__Secure-', '.example.com', 'co.uk', 'github.io', '\t', '\n', '\x00', 'Thu, 01 Jan 2031 00:00:00 GMT', '-1', '0'],
  seeds: () => [
    Buffer.from('\x00a=1; Path=/\nb=2; Domain=example.com; Max-Age=60\nc', 'latin1'),
    Buffer.from('\x01__Host-x=1; Secure; Path=/\n__Secure-y=2; Secure; SameSite=None\nz=3; Expires=Wed, 01 Jan 2031 00:00:00 GMT; HttpOnly', 'latin1'),
    Buffer.from('\x02a=1; Domain=github.io\nb=2; Domain=user.github.io; Path=/x\n=\n=v', 'latin1'),
    Buffer.from('\x04a=1; Domain=co.uk\nb=\tq\t; Path=/p\tq\nc=1; Domain=example.co.uk; Max-Age=-1', 'latin1'),
  ],
  run: (input) => run(input),
  shape: (o) => {
    const [reasons, count] = o.split('\n');
    return `${reasons ?? ''}|${count ?? ''}`;
  },
};
