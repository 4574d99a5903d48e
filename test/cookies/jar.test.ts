// CookieJar: the storage model (RFC 6265bis §5.7), retrieval (§5.8.3), prefixes, public suffixes, expiry and eviction.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CookieJar, type CookieJarOptions, type CookieRejection } from '../../src/cookies/jar.js';
import { isBurrowError } from '../../src/errors/errors.js';

function jarAt(start: number, options: CookieJarOptions = {}): { jar: CookieJar; clock: { t: number }; rejected: CookieRejection[] } {
  const clock = { t: start };
  const rejected: CookieRejection[] = [];
  const jar = new CookieJar({ now: () => clock.t, onReject: (r) => rejected.push(r), ...options });
  return { jar, clock, rejected };
}

const T0 = Date.UTC(2030, 0, 1);

describe('CookieJar: domains and paths', () => {
  it('a host-only cookie goes to its host only; a Domain cookie to its subdomains too', () => {
    const { jar } = jarAt(T0);
    jar.setCookie('h=1', 'http://www.example.com/');
    jar.setCookie('d=2; Domain=example.com', 'http://www.example.com/');
    assert.equal(jar.getCookieHeader('http://www.example.com/'), 'h=1; d=2');
    assert.equal(jar.getCookieHeader('http://a.www.example.com/'), 'd=2');
    assert.equal(jar.getCookieHeader('http://example.com/'), 'd=2');
    assert.equal(jar.getCookieHeader('http://other.com/'), '');
    assert.equal(jar.getCookieHeader('http://badexample.com/'), '');
  });

  it('an internationalised Domain is matched in A-labels, as the URL host is', () => {
    const { jar } = jarAt(T0);
    assert.equal(jar.setCookie('a=1; Domain=Bücher.example', 'http://www.bücher.example/')?.domain, 'xn--bcher-kva.example');
    assert.equal(jar.getCookieHeader('http://shop.xn--bcher-kva.example/'), 'a=1');
  });

  it('refuses a Domain the request host does not domain-match', () => {
    const { jar, rejected } = jarAt(T0);
    assert.equal(jar.setCookie('a=1; Domain=other.com', 'http://www.example.com/'), undefined);
    assert.equal(jar.setCookie('a=1; Domain=ww.example.com', 'http://www.example.com/'), undefined);
    assert.equal(jar.setCookie('a=1; Domain=a.www.example.com', 'http://www.example.com/'), undefined);
    assert.deepEqual(rejected.map((r) => r.reason), ['domain-mismatch', 'domain-mismatch', 'domain-mismatch']);
  });

  it('an IP address host: only its own address as Domain, never a suffix of it', () => {
    const { jar, rejected } = jarAt(T0);
    assert.equal(jar.setCookie('a=1; Domain=0.0.1', 'http://127.0.0.1/')?.hostOnly, undefined);
    assert.equal(jar.setCookie('b=1; Domain=127.0.0.1', 'http://127.0.0.1/')?.hostOnly, false);
    assert.equal(jar.getCookieHeader('http://127.0.0.1:8080/'), 'b=1');
    assert.deepEqual(rejected.map((r) => r.reason), ['domain-mismatch']);
  });

  it('default path is the directory of the request path; path-match on "/" boundaries', () => {
    const { jar } = jarAt(T0);
    assert.equal(jar.setCookie('a=1', 'http://h.test/dir/page?q=1')?.path, '/dir');
    assert.equal(jar.setCookie('b=1', 'http://h.test/page')?.path, '/');
    assert.equal(jar.setCookie('c=1; Path=/dir/', 'http://h.test/')?.path, '/dir/');
    assert.equal(jar.getCookieHeader('http://h.test/dir'), 'a=1; b=1');
    assert.equal(jar.getCookieHeader('http://h.test/dir/x'), 'c=1; a=1; b=1');
    assert.equal(jar.getCookieHeader('http://h.test/directory'), 'b=1');
  });

  it('Cookie header order: longer paths first, then earlier creation; a replaced cookie keeps its creation time', () => {
    const { jar, clock } = jarAt(T0);
    jar.setCookie('first=1; Path=/', 'http://h.test/');
    clock.t++;
    jar.setCookie('second=1; Path=/', 'http://h.test/');
    clock.t++;
    jar.setCookie('deep=1; Path=/a/b', 'http://h.test/');
    clock.t++;
    jar.setCookie('first=2; Path=/', 'http://h.test/');
    assert.equal(jar.getCookieHeader('http://h.test/a/b/c'), 'deep=1; first=2; second=1');
    assert.equal(jar.getCookies('http://h.test/')[0]?.creation, T0);
  });

  it('equal creation times keep the order of arrival', () => {
    const { jar } = jarAt(T0);
    for (const n of ['z', 'y', 'x', 'w']) jar.setCookie(`${n}=1`, 'http://h.test/');
    assert.equal(jar.getCookieHeader('http://h.test/'), 'z=1; y=1; x=1; w=1');
  });

  it('serialises a nameless cookie as its value, an empty value as "name="', () => {
    const { jar } = jarAt(T0);
    jar.setCookie('lonely', 'http://h.test/');
    jar.setCookie('e=', 'http://h.test/');
    assert.equal(jar.getCookieHeader('http://h.test/'), 'lonely; e=');
  });

  it('refuses a cookie with an empty name and value, and a nameless one whose value looks like a prefix', () => {
    const { jar, rejected } = jarAt(T0);
    jar.setCookie('=', 'https://h.test/');
    jar.setCookie('__Host-x', 'https://h.test/');
    jar.setCookie('=__secure-x=1', 'https://h.test/');
    assert.deepEqual(rejected.map((r) => r.reason), ['empty', 'bad-prefix', 'bad-prefix']);
  });
});

describe('CookieJar: Secure, prefixes, SameSite', () => {
  it('Secure cookies are set and sent over https (and wss) only', () => {
    const { jar, rejected } = jarAt(T0);
    assert.equal(jar.setCookie('s=1; Secure', 'http://h.test/'), undefined);
    assert.equal(jar.setCookie('s=1; Secure', 'https://h.test/')?.secure, true);
    assert.equal(jar.getCookieHeader('http://h.test/'), '');
    assert.equal(jar.getCookieHeader('https://h.test/'), 's=1');
    assert.equal(jar.getCookieHeader('wss://h.test/'), 's=1');
    assert.deepEqual(rejected.map((r) => r.reason), ['secure-from-insecure']);
  });

  it('an insecure origin cannot overwrite or shadow a Secure cookie (same name, related domain, path within)', () => {
    const { jar, rejected } = jarAt(T0);
    jar.setCookie('s=secure; Secure; Path=/a; Domain=example.com', 'https://www.example.com/');
    assert.equal(jar.setCookie('s=plain; Path=/a', 'http://www.example.com/'), undefined);
    assert.equal(jar.setCookie('s=plain; Path=/a/b', 'http://example.com/'), undefined);
    // Another path that does not path-match /a, or another name: allowed.
    assert.equal(jar.setCookie('s=plain; Path=/', 'http://www.example.com/')?.value, 'plain');
    assert.equal(jar.setCookie('t=plain; Path=/a', 'http://www.example.com/')?.value, 'plain');
    // Over https it may.
    assert.equal(jar.setCookie('s=new; Path=/a; Domain=example.com', 'https://www.example.com/')?.secure, false);
    assert.deepEqual(rejected.map((r) => r.reason), ['overwrites-secure', 'overwrites-secure']);
  });

  it('__Secure- needs Secure; __Host- needs Secure, no Domain and Path=/ (case-insensitive prefixes)', () => {
    const { jar, rejected } = jarAt(T0);
    assert.ok(jar.setCookie('__Secure-a=1; Secure', 'https://h.example.com/'));
    assert.equal(jar.setCookie('__Secure-b=1', 'https://h.example.com/'), undefined);
    assert.equal(jar.setCookie('__secure-c=1', 'https://h.example.com/'), undefined);
    assert.ok(jar.setCookie('__Host-d=1; Secure; Path=/', 'https://h.example.com/x/y'));
    assert.equal(jar.setCookie('__Host-e=1; Secure', 'https://h.example.com/'), undefined);
    assert.equal(jar.setCookie('__Host-f=1; Secure; Path=/x', 'https://h.example.com/'), undefined);
    assert.equal(jar.setCookie('__Host-g=1; Secure; Path=/; Domain=example.com', 'https://h.example.com/'), undefined);
    assert.equal(jar.setCookie('__HOST-h=1; Path=/', 'https://h.example.com/'), undefined);
    assert.equal(jar.setCookie('__Host-i=1; Secure; Path=/', 'http://h.example.com/'), undefined);
    assert.deepEqual(rejected.map((r) => r.reason), ['bad-prefix', 'bad-prefix', 'bad-prefix', 'bad-prefix', 'bad-prefix', 'bad-prefix', 'secure-from-insecure']);
  });

  it('SameSite is stored; SameSite=None needs Secure; every SameSite cookie is sent (no site-for-cookies)', () => {
    const { jar, rejected } = jarAt(T0);
    jar.setCookie('s=1; SameSite=Strict', 'https://h.test/');
    jar.setCookie('l=1; SameSite=Lax', 'https://h.test/');
    jar.setCookie('n=1; SameSite=None; Secure', 'https://h.test/');
    jar.setCookie('bad=1; SameSite=None', 'https://h.test/');
    assert.deepEqual(jar.getCookies('https://h.test/').map((c) => [c.name, c.sameSite]), [['s', 'Strict'], ['l', 'Lax'], ['n', 'None']]);
    assert.deepEqual(rejected.map((r) => r.reason), ['samesite-none-insecure']);
  });

  it('HttpOnly cookies are kept and sent (an HTTP client)', () => {
    const { jar } = jarAt(T0);
    assert.equal(jar.setCookie('h=1; HttpOnly', 'http://h.test/')?.httpOnly, true);
    assert.equal(jar.getCookieHeader('http://h.test/'), 'h=1');
  });
});

describe('CookieJar: public suffixes (tldts, ICANN and private rules)', () => {
  it('refuses Domain=co.uk and Domain=github.io (a private rule); accepts the registrable domain', () => {
    const { jar, rejected } = jarAt(T0);
    assert.equal(jar.setCookie('a=1; Domain=co.uk', 'http://www.example.co.uk/'), undefined);
    assert.equal(jar.setCookie('b=1; Domain=github.io', 'https://user.github.io/'), undefined);
    assert.equal(jar.setCookie('c=1; Domain=.COM', 'http://example.com/'), undefined);
    assert.equal(jar.setCookie('d=1; Domain=example.co.uk', 'http://www.example.co.uk/')?.hostOnly, false);
    assert.equal(jar.setCookie('e=1; Domain=user.github.io', 'https://user.github.io/')?.hostOnly, false);
    assert.deepEqual(rejected.map((r) => r.reason), ['public-suffix', 'public-suffix', 'public-suffix']);
    assert.equal(jar.getCookieHeader('http://other.co.uk/'), '');
    assert.equal(jar.getCookieHeader('https://other.github.io/'), '');
  });

  it('a Domain equal to the request host that is a public suffix gives a host-only cookie', () => {
    const { jar } = jarAt(T0);
    const c = jar.setCookie('a=1; Domain=github.io', 'https://github.io/');
    assert.equal(c?.hostOnly, true);
    assert.equal(jar.getCookieHeader('https://user.github.io/'), '');
    assert.equal(jar.getCookieHeader('https://github.io/'), 'a=1');
  });

  it('rejectPublicSuffixes: false accepts them', () => {
    const { jar } = jarAt(T0, { rejectPublicSuffixes: false });
    assert.equal(jar.setCookie('a=1; Domain=github.io', 'https://user.github.io/')?.domain, 'github.io');
  });
});

describe('CookieJar: expiry (injected clock)', () => {
  it('Max-Age counts from when the cookie is received, and wins over Expires in either order', () => {
    const { jar, clock } = jarAt(T0);
    jar.setCookie('a=1; Max-Age=10; Expires=Wed, 01 Jan 2031 00:00:00 GMT', 'http://h.test/');
    jar.setCookie('b=1; Expires=Wed, 01 Jan 2031 00:00:00 GMT; Max-Age=10', 'http://h.test/');
    jar.setCookie('c=1; Expires=Tue, 01 Jan 2030 00:00:20 GMT', 'http://h.test/');
    jar.setCookie('session=1', 'http://h.test/');
    assert.equal(jar.getCookies('http://h.test/')[0]?.expires, T0 + 10_000);
    clock.t = T0 + 9_999;
    assert.equal(jar.getCookieHeader('http://h.test/'), 'a=1; b=1; c=1; session=1');
    clock.t = T0 + 10_000;
    assert.equal(jar.getCookieHeader('http://h.test/'), 'c=1; session=1');
    assert.equal(jar.size, 2);
    clock.t = T0 + 20_000;
    assert.equal(jar.getCookieHeader('http://h.test/'), 'session=1');
    assert.equal(jar.getAllCookies()[0]?.expires, undefined);
  });

  it('an expired Set-Cookie deletes the cookie it replaces', () => {
    const { jar } = jarAt(T0);
    jar.setCookie('a=1; Path=/', 'http://h.test/');
    assert.equal(jar.setCookie('a=; Path=/; Max-Age=0', 'http://h.test/'), undefined);
    assert.equal(jar.size, 0);
    jar.setCookie('b=1', 'http://h.test/');
    jar.setCookie('b=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT', 'http://h.test/');
    assert.equal(jar.size, 0);
  });

  it('a lifetime is capped at 400 days', () => {
    const { jar, clock } = jarAt(T0);
    jar.setCookie('a=1; Max-Age=999999999', 'http://h.test/');
    clock.t = T0 + 400 * 86_400_000 - 1;
    assert.equal(jar.getCookieHeader('http://h.test/'), 'a=1');
    clock.t++;
    assert.equal(jar.getCookieHeader('http://h.test/'), '');
  });
});

describe('CookieJar: eviction', () => {
  it('per domain: the least recently used non-Secure cookie goes first, then Secure ones', () => {
    const { jar, clock } = jarAt(T0, { maxCookiesPerDomain: 3 });
    jar.setCookie('s=1; Secure', 'https://h.test/');
    clock.t++;
    jar.setCookie('a=1', 'https://h.test/');
    clock.t++;
    jar.setCookie('b=1', 'https://h.test/');
    clock.t++;
    jar.getCookies('https://h.test/');
    clock.t++;
    jar.setCookie('b=2', 'https://h.test/');
    jar.setCookie('c=1', 'https://h.test/');
    // a is the least recently used non-Secure one (b was replaced later).
    assert.deepEqual(jar.getAllCookies().map((c) => c.name), ['s', 'b', 'c']);
    clock.t++;
    jar.setCookie('d=1; Secure', 'https://h.test/');
    assert.deepEqual(jar.getAllCookies().map((c) => c.name), ['s', 'c', 'd']);
  });

  it('in all: the least recently used cookies go first', () => {
    const { jar, clock } = jarAt(T0, { maxCookies: 3 });
    for (const h of ['a.test', 'b.test', 'c.test']) {
      jar.setCookie('x=1', `http://${h}/`);
      clock.t++;
    }
    jar.getCookieHeader('http://a.test/');
    clock.t++;
    jar.setCookie('x=1', 'http://d.test/');
    assert.deepEqual(jar.getAllCookies().map((c) => c.domain), ['a.test', 'c.test', 'd.test']);
  });

  it('expired cookies are evicted before live ones', () => {
    const { jar, clock } = jarAt(T0, { maxCookiesPerDomain: 2 });
    jar.setCookie('old=1', 'http://h.test/');
    jar.setCookie('brief=1; Max-Age=1', 'http://h.test/');
    clock.t += 1000;
    jar.setCookie('new=1', 'http://h.test/');
    assert.deepEqual(jar.getAllCookies().map((c) => c.name), ['old', 'new']);
  });

  it('refuses limits that are not positive integers', () => {
    assert.throws(() => new CookieJar({ maxCookies: 0 }), (e) => isBurrowError(e) && e.code === 'ERR_INVALID_OPTION');
    assert.throws(() => new CookieJar({ maxCookiesPerDomain: 1.5 }), (e) => isBurrowError(e) && e.code === 'ERR_INVALID_OPTION');
  });
});

describe('CookieJar: retrievals kept between requests', () => {
  it('a kept Cookie header follows every change: set, replace, remove, clear, expiry', () => {
    const { jar, clock } = jarAt(T0);
    const url = new URL('http://h.test/a');
    jar.setCookie('a=1; Path=/; Max-Age=60', url);
    assert.equal(jar.getCookieHeader(url), 'a=1');
    assert.equal(jar.getCookieHeader(url), 'a=1');
    jar.setCookie('b=1; Path=/', url);
    assert.equal(jar.getCookieHeader(url), 'a=1; b=1');
    jar.setCookie('b=2; Path=/', url);
    assert.equal(jar.getCookieHeader(url), 'a=1; b=2');
    jar.removeCookie('h.test', '/', 'b');
    assert.equal(jar.getCookieHeader(url), 'a=1');
    clock.t = T0 + 60_000;
    assert.equal(jar.getCookieHeader(url), '');
    jar.setCookie('c=1; Path=/', url);
    assert.equal(jar.getCookieHeader('http://h.test/a'), 'c=1');
    jar.clear('h.test');
    assert.equal(jar.getCookieHeader(url), '');
  });

  it('a kept retrieval still updates the last-access time used by eviction', () => {
    const { jar, clock } = jarAt(T0, { maxCookiesPerDomain: 2 });
    jar.setCookie('a=1; Path=/x', 'http://h.test/');
    jar.setCookie('b=1; Path=/y', 'http://h.test/');
    jar.getCookieHeader('http://h.test/x');
    clock.t++;
    jar.getCookieHeader('http://h.test/x');
    assert.equal(jar.getCookies('http://h.test/x')[0]?.lastAccess, T0 + 1);
    clock.t++;
    jar.getCookieHeader('http://h.test/x');
    jar.setCookie('c=1; Path=/', 'http://h.test/');
    // b, last used when it was set, goes; a, read from the kept retrieval since, stays.
    assert.deepEqual(jar.getAllCookies().map((c) => c.name), ['a', 'c']);
  });
});

describe('CookieJar: removal and bad input', () => {
  it('removeCookie, clear(domain), clear(), removeSessionCookies', () => {
    const { jar } = jarAt(T0);
    jar.setCookie('a=1; Path=/', 'http://x.example.com/');
    jar.setCookie('b=1; Path=/; Max-Age=60', 'http://y.example.com/');
    jar.setCookie('c=1; Path=/', 'http://other.test/');
    assert.equal(jar.removeCookie('x.example.com', '/', 'nope'), false);
    assert.equal(jar.removeCookie('.X.example.com', '/', 'a'), true);
    jar.setCookie('a=1; Path=/', 'http://x.example.com/');
    jar.removeSessionCookies();
    assert.deepEqual(jar.getAllCookies().map((c) => c.name), ['b']);
    jar.setCookie('c=1; Path=/', 'http://other.test/');
    jar.clear('.Example.com');
    assert.deepEqual(jar.getAllCookies().map((c) => c.name), ['c']);
    jar.clear();
    assert.equal(jar.size, 0);
  });

  it('setCookie never throws for a bad header value; an unparseable URL is ERR_INVALID_OPTION', () => {
    const { jar } = jarAt(T0);
    for (const v of ['', ';;;', '\x00', '=;=', 'a=b; Expires', 'a=b; Max-Age=', 'a=b; Domain=.', ';a=b']) assert.doesNotThrow(() => jar.setCookie(v, 'http://h.test/'));
    assert.throws(() => jar.setCookie('a=1', 'not a url'), (e) => isBurrowError(e) && e.code === 'ERR_INVALID_OPTION');
    assert.throws(() => jar.getCookieHeader('::'), (e) => isBurrowError(e) && e.code === 'ERR_INVALID_OPTION');
  });
});
