// Proxy URLs: parseProxyUrl / parseProxyChain. Pure functions, no I/O.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { isBurrowError } from '../../src/errors/errors.js';
import { parseProxyUrl, parseProxyChain, maskProxyUrl, type ProxyHop } from '../../src/request/proxy-url.js';

/** The fields of a hop, as a plain object, for deepEqual. */
function plain(h: ProxyHop): Record<string, unknown> {
  return { ...h, protocols: h.protocols === undefined ? undefined : [...h.protocols] };
}

/** Asserts that fn throws ERR_INVALID_OPTION naming `option`, and returns the message. */
function assertInvalid(fn: () => unknown, option: string, what: string): string {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  assert.ok(isBurrowError(thrown, 'ERR_INVALID_OPTION'), `${what}: expected ERR_INVALID_OPTION, got ${inspect(thrown)}`);
  assert.equal(thrown.stage, 'options', what);
  assert.equal(thrown.details['option'], option, `${what}: details.option`);
  assert.ok(thrown.message.startsWith(`invalid option ${option}: `), `${what}: message ${thrown.message}`);
  return thrown.message;
}

describe('parseProxyUrl: schemes and default ports', () => {
  const table: Array<[string, Omit<ProxyHop, 'username' | 'password'>]> = [
    ['http://proxy.test', { url: 'http://proxy.test:80', scheme: 'http', host: 'proxy.test', port: 80, transport: 'tcp', kind: 'connect', protocols: ['http'], remoteDns: false }],
    ['https://proxy.test', { url: 'https://proxy.test:443', scheme: 'https', host: 'proxy.test', port: 443, transport: 'tls', kind: 'connect', protocols: ['http2', 'http'], remoteDns: false }],
    ['h2c://proxy.test', { url: 'h2c://proxy.test:80', scheme: 'h2c', host: 'proxy.test', port: 80, transport: 'tcp', kind: 'connect', protocols: ['http2'], remoteDns: false }],
    ['h2://proxy.test', { url: 'h2://proxy.test:443', scheme: 'h2', host: 'proxy.test', port: 443, transport: 'tls', kind: 'connect', protocols: ['http2'], remoteDns: false }],
    ['socks5://proxy.test', { url: 'socks5://proxy.test:1080', scheme: 'socks5', host: 'proxy.test', port: 1080, transport: 'tcp', kind: 'socks5', protocols: undefined, remoteDns: false }],
    ['socks5h://proxy.test', { url: 'socks5h://proxy.test:1080', scheme: 'socks5h', host: 'proxy.test', port: 1080, transport: 'tcp', kind: 'socks5', protocols: undefined, remoteDns: true }],
    ['socks5s://proxy.test', { url: 'socks5s://proxy.test:1080', scheme: 'socks5s', host: 'proxy.test', port: 1080, transport: 'tls', kind: 'socks5', protocols: undefined, remoteDns: false }],
    ['socks5hs://proxy.test', { url: 'socks5hs://proxy.test:1080', scheme: 'socks5hs', host: 'proxy.test', port: 1080, transport: 'tls', kind: 'socks5', protocols: undefined, remoteDns: true }],
  ];
  for (const [input, want] of table) {
    it(`${input} → ${want.transport} ${want.kind} port ${want.port}`, () => {
      assert.deepEqual(plain(parseProxyUrl(input)), { ...want, username: undefined, password: undefined });
      // The same with a trailing slash, and as a URL object.
      assert.deepEqual(plain(parseProxyUrl(`${input}/`)), { ...want, username: undefined, password: undefined });
      assert.deepEqual(plain(parseProxyUrl(new URL(input))), { ...want, username: undefined, password: undefined });
    });
  }

  it('keeps an explicit port for every scheme, including another scheme\'s default', () => {
    const cases: Array<[string, number]> = [
      ['http://p:3128', 3128], ['http://p:80', 80], ['http://p:443', 443], ['https://p:80', 80], ['https://p:8443', 8443],
      ['h2c://p:8080', 8080], ['h2c://p:443', 443], ['h2://p:80', 80], ['h2://p:1', 1],
      ['socks5://p:80', 80], ['socks5h://p:9050', 9050], ['socks5s://p:443', 443], ['socks5hs://p:65535', 65535],
      ['socks5://p:01080', 1080], ['http://p:', 80], ['socks5://p:', 1080],
    ];
    for (const [input, port] of cases) {
      const h = parseProxyUrl(input);
      assert.equal(h.port, port, input);
      assert.equal(h.url, `${h.scheme}://p:${port}`, input);
    }
  });

  it('reads the scheme case-insensitively and normalizes the host', () => {
    const cases: Array<[string, string, string]> = [
      ['HTTP://Proxy.Test:3128', 'http', 'proxy.test'],
      ['SOCKS5H://Proxy.TEST', 'socks5h', 'proxy.test'],
      ['H2://PROXY.test', 'h2', 'proxy.test'],
      ['socks5://bücher.test', 'socks5', 'xn--bcher-kva.test'],
      ['http://bücher.test', 'http', 'xn--bcher-kva.test'],
      ['socks5://0x7f.1', 'socks5', '127.0.0.1'],
      ['http://0x7f.1', 'http', '127.0.0.1'],
      ['socks5://proxy.test.', 'socks5', 'proxy.test.'],
      ['  http://proxy.test  ', 'http', 'proxy.test'],
    ];
    for (const [input, scheme, host] of cases) {
      const h = parseProxyUrl(input);
      assert.equal(h.scheme, scheme, input);
      assert.equal(h.host, host, input);
    }
  });

  it('returns frozen hops', () => {
    const h = parseProxyUrl('https://p');
    assert.ok(Object.isFrozen(h));
    assert.ok(h.protocols !== undefined && Object.isFrozen(h.protocols));
  });
});

describe('parseProxyUrl: IP literals', () => {
  const cases: Array<[string, string, number, string]> = [
    ['http://[::1]:3128', '::1', 3128, 'http://[::1]:3128'],
    ['http://[::1]', '::1', 80, 'http://[::1]:80'],
    ['https://[2001:DB8::1]:8443', '2001:db8::1', 8443, 'https://[2001:db8::1]:8443'],
    ['socks5://[::1]:1080', '::1', 1080, 'socks5://[::1]:1080'],
    ['socks5h://[2001:db8:0:0:0:0:0:1]', '2001:db8::1', 1080, 'socks5h://[2001:db8::1]:1080'],
    ['h2://[::ffff:10.1.2.3]:443', '::ffff:a01:203', 443, 'h2://[::ffff:a01:203]:443'],
    ['h2c://127.0.0.1:8080', '127.0.0.1', 8080, 'h2c://127.0.0.1:8080'],
    ['socks5://10.0.0.1', '10.0.0.1', 1080, 'socks5://10.0.0.1:1080'],
  ];
  for (const [input, host, port, url] of cases) {
    it(`${input} → host ${host}`, () => {
      const h = parseProxyUrl(input);
      assert.equal(h.host, host);
      assert.equal(h.port, port);
      assert.equal(h.url, url);
    });
  }
});

describe('parseProxyUrl: user info', () => {
  const cases: Array<[string, string | undefined, string | undefined, string]> = [
    ['http://user:pass@p:3128', 'user', 'pass', 'http://user:***@p:3128'],
    ['http://user%40corp:p%3Ass@p:3128', 'user@corp', 'p:ss', 'http://user%40corp:***@p:3128'],
    ['socks5://user%40corp:p%3Ass@p', 'user@corp', 'p:ss', 'socks5://user%40corp:***@p:1080'],
    ['socks5h://u:p%20w%2F%3F%23@p', 'u', 'p w/?#', 'socks5h://u:***@p:1080'],
    ['https://%C3%BC:%E2%82%AC@p', 'ü', '€', 'https://%C3%BC:***@p:443'],
    ['https://ü:€@p', 'ü', '€', 'https://%C3%BC:***@p:443'],
    ['http://user@p', 'user', undefined, 'http://user@p:80'],
    ['http://user:@p', 'user', undefined, 'http://user@p:80'],
    ['http://@p', undefined, undefined, 'http://p:80'],
    ['http://u:a:b@p', 'u', 'a:b', 'http://u:***@p:80'],
    ['http://u:p@ss@p', 'u', 'p@ss', 'http://u:***@p:80'],
    ['h2://u:pw@[::1]:8443', 'u', 'pw', 'h2://u:***@[::1]:8443'],
    ['socks5s://u:pw@p:1081', 'u', 'pw', 'socks5s://u:***@p:1081'],
  ];
  for (const [input, username, password, url] of cases) {
    it(`${maskProxyUrl(input)} → ${String(username)} / ${password === undefined ? 'no password' : 'password'}`, () => {
      const h = parseProxyUrl(input);
      assert.equal(h.username, username);
      assert.equal(h.password, password);
      assert.equal(h.url, url);
      if (password !== undefined) assert.ok(!h.url.includes(password), h.url);
    });
  }

  it('masks the password when given a URL object too', () => {
    const u = new URL('http://proxy.test:3128');
    u.username = 'alice';
    u.password = 's3cret!';
    const h = parseProxyUrl(u);
    assert.equal(h.password, 's3cret!');
    assert.equal(h.url, 'http://alice:***@proxy.test:3128');
  });

  it('util.inspect (console.log) and JSON.stringify of a hop show the password as ***, and the hop keeps it', () => {
    const h = parseProxyUrl('socks5h://alice:s3cret-pw@proxy.test:1080');
    for (const shown of [inspect(h), inspect(h, { depth: Infinity, showHidden: true }), inspect([h], { depth: Infinity }), JSON.stringify(h), JSON.stringify({ via: [h] })]) {
      assert.ok(!shown.includes('s3cret-pw'), shown);
      assert.match(shown, /password: '\*\*\*'|"password":"\*\*\*"/);
    }
    assert.equal(h.password, 's3cret-pw');
    assert.deepEqual(Object.keys(h), ['url', 'scheme', 'host', 'port', 'transport', 'kind', 'protocols', 'remoteDns', 'username', 'password']);
    assert.equal({ ...h }.password, 's3cret-pw');
    assert.ok(Object.isFrozen(h));
    // A hop without a password prints as it is.
    assert.match(inspect(parseProxyUrl('http://alice@proxy.test:3128')), /password: undefined/);
  });
});

describe('parseProxyUrl: invalid forms throw ERR_INVALID_OPTION without the password', () => {
  const SECRET = 'Sup3rSecretPw';
  const cases: Array<[string, RegExp]> = [
    [`ftp://u:${SECRET}@p:21`, /unsupported scheme "ftp:".*http, https, h2c, h2, socks5, socks5h, socks5s, socks5hs/],
    [`socks4://u:${SECRET}@p`, /SOCKS4 has no password/],
    [`socks4a://u:${SECRET}@p`, /SOCKS4 has no password/],
    [`socks://u:${SECRET}@p`, /unsupported scheme "socks:"/],
    [`localhost:3128`, /unsupported scheme "localhost:"/],
    [`u:${SECRET}@p:3128`, /unsupported scheme "u:"/],
    [`127.0.0.1:3128`, /missing scheme/],
    [`//p:3128`, /missing scheme/],
    [``, /missing scheme/],
    [`http:p:3128`, /missing host/],
    [`socks5:u:${SECRET}@p`, /missing host/],
    [`http://`, /missing host|not a valid URL/],
    [`http://u:${SECRET}@`, /missing host|not a valid URL/],
    [`socks5://u:${SECRET}@:1080`, /missing host/],
    [`http://u:${SECRET}@:3128`, /missing host/],
    [`http://u:${SECRET}@p:0`, /port must be an integer from 1 to 65535/],
    [`socks5://u:${SECRET}@p:0`, /port must be an integer from 1 to 65535/],
    [`http://u:${SECRET}@p:65536`, /port must be an integer from 1 to 65535/],
    [`socks5://u:${SECRET}@p:99999`, /port must be an integer from 1 to 65535/],
    [`h2://u:${SECRET}@p:abc`, /port must be an integer from 1 to 65535/],
    [`http://u:${SECRET}@p:-1`, /port must be an integer from 1 to 65535/],
    [`http://u:${SECRET}@[::1]:70000`, /port must be an integer from 1 to 65535/],
    [`http://u:${SECRET}@p/path`, /no path/],
    [`socks5://u:${SECRET}@p:1080/x`, /no path/],
    [`http://u:${SECRET}@p//`, /no path/],
    [`http://u:${SECRET}@p/?a=b`, /no query/],
    [`http://u:${SECRET}@p?`, /no query/],
    [`socks5h://u:${SECRET}@p?x`, /no query/],
    [`http://u:${SECRET}@p#frag`, /no fragment/],
    [`https://u:${SECRET}@p/#`, /no fragment/],
    [`socks5://u:${SECRET}@p#`, /no fragment/],
    [`http://:${SECRET}@p`, /password without a user name/],
    [`socks5://:${SECRET}@p`, /password without a user name/],
    [`http://u%zz:${SECRET}@p`, /invalid percent-encoding in the user name/],
    [`http://u:${SECRET}%zz@p`, /invalid percent-encoding in the password/],
    [`http://u:${SECRET}%@p`, /invalid percent-encoding in the password/],
    [`socks5://u:${SECRET}%C3@p`, /invalid percent-encoding in the password/],
    [`http://u:${SECRET}@exa mple.test`, /not a valid URL/],
    [`socks5://u:${SECRET}@exa%20mple.test`, /invalid host|not a host name/],
    [`socks5://u:${SECRET}@a<b`, /not a valid URL/],
    [`http://u:${SECRET}@[::1`, /not a valid URL/],
    [`http://u:${SECRET}@[zz::1]`, /not a valid URL/],
    [`socks5://u:${SECRET}@256.256.256.256`, /invalid host|not a host name/],
  ];
  for (const [input, why] of cases) {
    it(`${JSON.stringify(maskProxyUrl(input))}: ${why.source}`, () => {
      const msg = assertInvalid(() => parseProxyUrl(input), 'via', input);
      assert.match(msg, why);
      assert.ok(!msg.includes(SECRET), `message leaks the password: ${msg}`);
      assert.ok(!msg.toLowerCase().includes(SECRET.toLowerCase()), `message leaks the password: ${msg}`);
    });
  }

  it('names the option given', () => {
    assertInvalid(() => parseProxyUrl('ftp://p', 'proxy'), 'proxy', 'custom name');
    assertInvalid(() => parseProxyUrl('ftp://p', 'HTTPS_PROXY'), 'HTTPS_PROXY', 'env name');
  });

  it('rejects values that are not strings or URLs (JS callers)', () => {
    for (const v of [undefined, null, 42, {}, ['http://p']]) {
      assertInvalid(() => parseProxyUrl(v as unknown as string), 'via', inspect(v));
    }
  });

  it('never echoes the password, even with unescaped delimiters in it', () => {
    for (const pw of ['a/b', 'a?b', 'a#b', 'a@b', 'a b']) {
      const input = `http://user:${SECRET}${pw}@p:99999`;
      let msg = '';
      try {
        parseProxyUrl(input);
      } catch (e) {
        msg = String(e);
      }
      assert.notEqual(msg, '', `${pw}: expected a throw`);
      assert.ok(!msg.includes(SECRET), `${pw}: ${msg}`);
    }
  });
});

describe('maskProxyUrl', () => {
  const cases: Array<[string, string]> = [
    ['http://u:pw@p:1', 'http://u:***@p:1'],
    ['http://u@p:1', 'http://u@p:1'],
    ['http://p:1', 'http://p:1'],
    ['http://[::1]:1', 'http://[::1]:1'],
    ['u:pw@p:1', 'u:***@p:1'],
    ['http://u:a/b@c@p', 'http://u:***@p'],
    ['socks5://u:pw@[::1]:1080', 'socks5://u:***@[::1]:1080'],
  ];
  for (const [input, want] of cases) {
    it(`${want}`, () => assert.equal(maskProxyUrl(input), want));
  }
});

describe('parseProxyChain', () => {
  const urls = (hops: ProxyHop[]): string[] => hops.map((h) => h.url);

  it('parses the string form: commas, spaces, tabs, newlines, mixed', () => {
    const want = ['http://a:80', 'socks5h://b:1080', 'h2://c:443'];
    const cases = [
      'http://a,socks5h://b,h2://c',
      'http://a socks5h://b h2://c',
      'http://a, socks5h://b ,h2://c',
      ' http://a,,socks5h://b ,\th2://c\n',
      'http://a\n\nsocks5h://b\t,\t h2://c,',
      ',,http://a , , socks5h://b h2://c',
    ];
    for (const c of cases) assert.deepEqual(urls(parseProxyChain(c)), want, JSON.stringify(c));
  });

  it('parses an array of strings and URLs, first hop first', () => {
    const hops = parseProxyChain(['socks5://u:p@a:1', new URL('https://b:2'), 'h2c://c']);
    assert.deepEqual(urls(hops), ['socks5://u:***@a:1', 'https://b:2', 'h2c://c:80']);
    assert.equal(hops[0]?.password, 'p');
    assert.equal(hops[1]?.password, undefined);
  });

  it('keeps each hop\'s credentials to itself', () => {
    const hops = parseProxyChain('http://u1:p1@a socks5://b http://u3@c');
    assert.deepEqual(hops.map((h) => [h.username, h.password]), [['u1', 'p1'], [undefined, undefined], ['u3', undefined]]);
  });

  it('gives [] for an empty list', () => {
    assert.deepEqual(parseProxyChain(''), []);
    assert.deepEqual(parseProxyChain('  , ,\n'), []);
    assert.deepEqual(parseProxyChain([]), []);
  });

  it('parses a single URL', () => {
    assert.deepEqual(urls(parseProxyChain('socks5://p')), ['socks5://p:1080']);
  });

  it('names the failing element', () => {
    assertInvalid(() => parseProxyChain('ftp://a'), 'via', 'single string');
    assertInvalid(() => parseProxyChain('http://a ftp://b'), 'via[1]', 'second of a string');
    assertInvalid(() => parseProxyChain(['ftp://a']), 'via[0]', 'array of one');
    assertInvalid(() => parseProxyChain(['http://a', 'http://b', 'http://c:0']), 'via[2]', 'third of an array');
    assertInvalid(() => parseProxyChain(['http://a', 'http://b c']), 'via[1]', 'an array element is one URL, not a list');
    assertInvalid(() => parseProxyChain('ftp://a', 'proxies'), 'proxies', 'custom name');
    assertInvalid(() => parseProxyChain(['http://a', 7] as unknown as string[]), 'via[1]', 'non-string element');
    assertInvalid(() => parseProxyChain(42 as unknown as string), 'via', 'not a list');
  });

  it('does not leak a password from a chain element in errors', () => {
    const msg = assertInvalid(() => parseProxyChain('http://a socks5://u:TopSecret@b:0'), 'via[1]', 'chain');
    assert.ok(!msg.includes('TopSecret'), msg);
  });
});
