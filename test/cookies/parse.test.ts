// RFC 6265bis §5.6: the Set-Cookie parsing algorithm, and the cookie-date algorithm of §5.1.1.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_AGE_MS, parseSetCookie, type ParsedSetCookie } from '../../src/cookies/parse.js';
import { parseCookieDate } from '../../src/cookies/date.js';

const NOW = Date.UTC(2030, 0, 1);

function parsed(h: string): ParsedSetCookie {
  const p = parseSetCookie(h, NOW);
  assert.equal(typeof p, 'object', `expected ${JSON.stringify(h)} to parse`);
  return p as ParsedSetCookie;
}

describe('parseSetCookie', () => {
  it('splits name and value at the first "=", trims spaces and tabs, keeps quotes', () => {
    assert.deepEqual([parsed(' a = b=c ').name, parsed(' a = b=c ').value], ['a', 'b=c']);
    assert.deepEqual([parsed('\ta\t=\t"q"\t; Path=/').name, parsed('\ta\t=\t"q"\t; Path=/').value], ['a', '"q"']);
  });

  it('reads a pair without "=" as a cookie with an empty name', () => {
    assert.deepEqual([parsed('foo').name, parsed('foo').value], ['', 'foo']);
    assert.deepEqual([parsed('=bar').name, parsed('=bar').value], ['', 'bar']);
  });

  it('rejects control characters but HTAB, anywhere in the header', () => {
    assert.equal(parseSetCookie('a=b\x01', NOW), 'control-character');
    assert.equal(parseSetCookie('a=b; Path=/\x7f', NOW), 'control-character');
    assert.equal(parseSetCookie('a=b\0c', NOW), 'control-character');
    assert.equal(parsed('a=b\tc').value, 'b\tc');
  });

  it('limits name + value to 4096 characters', () => {
    assert.equal(parsed(`n=${'v'.repeat(4095)}`).value.length, 4095);
    assert.equal(parseSetCookie(`n=${'v'.repeat(4096)}`, NOW), 'too-large');
    assert.equal(parseSetCookie(`${'n'.repeat(4097)}=`, NOW), 'too-large');
  });

  it('ignores an attribute whose value is over 1024 characters', () => {
    const p = parsed(`a=b; Path=/ok; Path=/${'p'.repeat(1024)}; Domain=${'d'.repeat(1025)}`);
    assert.equal(p.path, '/ok');
    assert.equal(p.domain, undefined);
    assert.equal(parsed(`a=b; Path=/${'p'.repeat(1023)}`).path?.length, 1024);
  });

  it('matches attribute names case-insensitively; the last one wins', () => {
    const p = parsed('a=b; DOMAIN=.Example.COM; domain=Other.org; pAtH=/x; SECURE; httponly; SameSite=STRICT');
    assert.equal(p.domain, 'other.org');
    assert.equal(p.path, '/x');
    assert.equal(p.secure, true);
    assert.equal(p.httpOnly, true);
    assert.equal(p.sameSite, 'Strict');
  });

  it('ignores an empty Domain; removes one leading dot', () => {
    assert.equal(parsed('a=b; Domain=').domain, undefined);
    assert.equal(parsed('a=b; Domain=..x.com').domain, '.x.com');
  });

  it('a Path not starting with "/" means the default path, even after a valid one', () => {
    const p = parsed('a=b; Path=/x; Path=y');
    assert.equal(p.path, undefined);
    assert.equal(p.pathGiven, true);
    assert.equal(parsed('a=b').pathGiven, false);
  });

  it('SameSite: Strict, Lax, None, anything else Default', () => {
    assert.equal(parsed('a=b; SameSite=lax').sameSite, 'Lax');
    assert.equal(parsed('a=b; SameSite=None').sameSite, 'None');
    assert.equal(parsed('a=b; SameSite=bogus').sameSite, 'Default');
    assert.equal(parsed('a=b; SameSite').sameSite, 'Default');
    assert.equal(parsed('a=b').sameSite, 'Default');
  });

  it('Max-Age: digits with an optional minus; <= 0 is the earliest time; capped at 400 days', () => {
    assert.equal(parsed('a=b; Max-Age=10').maxAge, NOW + 10_000);
    assert.equal(parsed('a=b; Max-Age=0').maxAge, -Infinity);
    assert.equal(parsed('a=b; Max-Age=-5').maxAge, -Infinity);
    assert.equal(parsed('a=b; Max-Age=99999999999').maxAge, NOW + MAX_AGE_MS);
    for (const bad of ['', '+5', '2.63', '1e3', ' ', 'abc', '5s']) assert.equal(parsed(`a=b; Max-Age=${bad}`).maxAge, undefined, bad);
  });

  it('Expires: the cookie-date algorithm, capped at 400 days; an unparseable date is ignored', () => {
    assert.equal(parsed('a=b; Expires=Wed, 02 Jan 2030 00:00:00 GMT').expires, NOW + 86_400_000);
    assert.equal(parsed('a=b; Expires=Fri, 01 Jan 2100 00:00:00 GMT').expires, NOW + MAX_AGE_MS);
    assert.equal(parsed('a=b; Expires=Thu, 01 Jan 1970 00:00:00 GMT').expires, 0);
    assert.equal(parsed('a=b; Expires=yesterday').expires, undefined);
  });
});

describe('parseCookieDate', () => {
  it('reads the usual forms', () => {
    assert.equal(parseCookieDate('Sun, 06 Nov 1994 08:49:37 GMT'), Date.UTC(1994, 10, 6, 8, 49, 37));
    assert.equal(parseCookieDate('Sunday, 06-Nov-94 08:49:37 GMT'), Date.UTC(1994, 10, 6, 8, 49, 37));
    assert.equal(parseCookieDate('Sun Nov  6 08:49:37 1994'), Date.UTC(1994, 10, 6, 8, 49, 37));
    assert.equal(parseCookieDate('06 nov 2069 8:9:7'), Date.UTC(2069, 10, 6, 8, 9, 7));
  });

  it('fails on a missing or out-of-range field, a year before 1601 and a day not in the month', () => {
    for (const bad of ['06 Nov 1994', 'Nov 1994 08:49:37', '32 Nov 1994 08:49:37', '06 Nov 1600 08:49:37', '06 Nov 1994 24:00:00', '06 Nov 1994 08:60:00', '30 Feb 2001 00:00:00', '']) {
      assert.equal(parseCookieDate(bad), undefined, bad);
    }
    assert.equal(parseCookieDate('29 Feb 2000 00:00:00'), Date.UTC(2000, 1, 29));
  });
});
