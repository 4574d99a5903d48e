// Proxy environment variables: proxyForUrl and noProxyMatches. Pure functions,
// every test passes its own environment object (process.env is never read).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { isBurrowError } from '../../src/errors/errors.js';
import { proxyForUrl, noProxyMatches, type ProxyEnv } from '../../src/request/env.js';

/** The hop URLs proxyForUrl picks. */
function chain(target: string, env: ProxyEnv, opts?: { allowUppercaseHttpProxy?: boolean }): string[] {
  return proxyForUrl(target, env, opts).map((h) => h.url);
}

function assertInvalid(fn: () => unknown, option: string, what: string): string {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  assert.ok(isBurrowError(thrown, 'ERR_INVALID_OPTION'), `${what}: expected ERR_INVALID_OPTION, got ${inspect(thrown)}`);
  assert.equal(thrown.details['option'], option, `${what}: details.option`);
  return thrown.message;
}

describe('proxyForUrl: which variable applies', () => {
  // [what, target, env, expected chain]
  const table: Array<[string, string, ProxyEnv, string[]]> = [
    ['no variables → direct', 'https://o.test/', {}, []],
    ['https_proxy for https', 'https://o.test/', { https_proxy: 'http://s:1' }, ['http://s:1']],
    ['HTTPS_PROXY for https', 'https://o.test/', { HTTPS_PROXY: 'http://S:1' }, ['http://s:1']],
    ['lowercase https_proxy wins over HTTPS_PROXY', 'https://o.test/', { https_proxy: 'http://lower:1', HTTPS_PROXY: 'http://upper:1' }, ['http://lower:1']],
    ['https_proxy is not used for http', 'http://o.test/', { https_proxy: 'http://s:1', HTTPS_PROXY: 'http://s:2' }, []],
    ['http_proxy for http', 'http://o.test/', { http_proxy: 'http://h:1' }, ['http://h:1']],
    ['http_proxy is not used for https', 'https://o.test/', { http_proxy: 'http://h:1' }, []],
    ['all_proxy fallback for https', 'https://o.test/', { all_proxy: 'socks5h://a' }, ['socks5h://a:1080']],
    ['all_proxy fallback for http', 'http://o.test/', { all_proxy: 'socks5h://a' }, ['socks5h://a:1080']],
    ['ALL_PROXY fallback', 'https://o.test/', { ALL_PROXY: 'socks5://A' }, ['socks5://a:1080']],
    ['lowercase all_proxy wins over ALL_PROXY', 'http://o.test/', { all_proxy: 'http://lo:1', ALL_PROXY: 'http://up:1' }, ['http://lo:1']],
    ['scheme variable beats all_proxy', 'https://o.test/', { HTTPS_PROXY: 'http://s:1', all_proxy: 'http://a:1' }, ['http://s:1']],
    ['scheme variable beats all_proxy (http)', 'http://o.test/', { http_proxy: 'http://h:1', ALL_PROXY: 'http://a:1' }, ['http://h:1']],
    // curl: the first variable that is *set* decides, even when empty.
    ['empty https_proxy → direct, blocks HTTPS_PROXY', 'https://o.test/', { https_proxy: '', HTTPS_PROXY: 'http://s:1' }, []],
    ['empty HTTPS_PROXY → direct, blocks ALL_PROXY', 'https://o.test/', { HTTPS_PROXY: '', ALL_PROXY: 'http://a:1' }, []],
    ['blank (whitespace, commas) value → direct', 'https://o.test/', { https_proxy: ' \t, ', ALL_PROXY: 'http://a:1' }, []],
    ['empty all_proxy → direct', 'http://o.test/', { all_proxy: '', ALL_PROXY: 'http://a:1' }, []],
    ['undefined values count as unset', 'https://o.test/', { https_proxy: undefined, HTTPS_PROXY: 'http://s:1' }, ['http://s:1']],
    ['unrelated variables are ignored', 'https://o.test/', { ftp_proxy: 'http://f:1', Https_Proxy: 'http://x:1', PROXY: 'http://y:1' }, []],
  ];
  for (const [what, target, env, want] of table) {
    it(what, () => assert.deepEqual(chain(target, env), want));
  }

  // Uppercase HTTP_PROXY is ignored by default, as in curl: under CGI
  // (RFC 3875), a web server exports each request header `Foo` as the
  // environment variable `HTTP_FOO`, so any client can set HTTP_PROXY in a CGI
  // program's environment by sending a `Proxy:` header and redirect its
  // outgoing HTTP requests through a proxy of its choice ("httpoxy",
  // CVE-2016-5385). No header can produce the lowercase `http_proxy`.
  describe('uppercase HTTP_PROXY (httpoxy guard)', () => {
    it('is ignored by default', () => {
      assert.deepEqual(chain('http://o.test/', { HTTP_PROXY: 'http://attacker:1' }), []);
    });
    it('is ignored by default and all_proxy applies instead', () => {
      assert.deepEqual(chain('http://o.test/', { HTTP_PROXY: 'http://attacker:1', all_proxy: 'http://a:1' }), ['http://a:1']);
      assert.deepEqual(chain('http://o.test/', { HTTP_PROXY: 'http://attacker:1', ALL_PROXY: 'http://a:1' }), ['http://a:1']);
    });
    it('never affects https targets', () => {
      assert.deepEqual(chain('https://o.test/', { HTTP_PROXY: 'http://attacker:1' }), []);
      assert.deepEqual(chain('https://o.test/', { HTTP_PROXY: 'http://attacker:1' }, { allowUppercaseHttpProxy: true }), []);
    });
    it('is read with allowUppercaseHttpProxy: true, after http_proxy and before all_proxy', () => {
      const opts = { allowUppercaseHttpProxy: true };
      assert.deepEqual(chain('http://o.test/', { HTTP_PROXY: 'http://up:1' }, opts), ['http://up:1']);
      assert.deepEqual(chain('http://o.test/', { HTTP_PROXY: 'http://up:1', http_proxy: 'http://lo:1' }, opts), ['http://lo:1']);
      assert.deepEqual(chain('http://o.test/', { HTTP_PROXY: 'http://up:1', all_proxy: 'http://a:1' }, opts), ['http://up:1']);
    });
    it('allowUppercaseHttpProxy: false is the default', () => {
      assert.deepEqual(chain('http://o.test/', { HTTP_PROXY: 'http://up:1' }, { allowUppercaseHttpProxy: false }), []);
    });
    it('rejects a non-boolean allowUppercaseHttpProxy', () => {
      assertInvalid(() => proxyForUrl('http://o.test/', {}, { allowUppercaseHttpProxy: 'yes' as unknown as boolean }), 'allowUppercaseHttpProxy', 'flag');
    });
  });
});

describe('proxyForUrl: values', () => {
  const table: Array<[string, string, string[]]> = [
    ['proxy.test:3128', 'no scheme means http://', ['http://proxy.test:3128']],
    ['proxy.test', 'no scheme, no port', ['http://proxy.test:80']],
    ['10.0.0.1:8080', 'IPv4 without scheme', ['http://10.0.0.1:8080']],
    ['[::1]:3128', 'IPv6 without scheme', ['http://[::1]:3128']],
    ['user:pw@proxy.test:3128', 'credentials without scheme', ['http://user:***@proxy.test:3128']],
    ['HTTPS://proxy.test', 'uppercase scheme', ['https://proxy.test:443']],
    ['socks5h://proxy.test:9050', 'socks scheme', ['socks5h://proxy.test:9050']],
    ['http://proxy.test:3128/', 'trailing slash', ['http://proxy.test:3128']],
    ['  http://proxy.test:3128  ', 'surrounding whitespace', ['http://proxy.test:3128']],
    ['http://a:1,socks5://b:2', 'chain with a comma', ['http://a:1', 'socks5://b:2']],
    ['http://a:1 socks5://b:2', 'chain with a space', ['http://a:1', 'socks5://b:2']],
    ['a:1, socks5h://b:2\th2://c', 'chain, mixed separators and scheme-less hops', ['http://a:1', 'socks5h://b:2', 'h2://c:443']],
    ['https://u1:p1@a,b:3128', 'chain keeps credentials per hop', ['https://u1:***@a:443', 'http://b:3128']],
  ];
  for (const [value, what, want] of table) {
    it(`${what}: ${JSON.stringify(value)}`, () => {
      assert.deepEqual(chain('https://o.test/', { HTTPS_PROXY: value }), want);
    });
  }

  it('decodes credentials', () => {
    const [hop] = proxyForUrl('https://o.test/', { https_proxy: 'user%40corp:p%3Ass@proxy.test:3128' });
    assert.equal(hop?.username, 'user@corp');
    assert.equal(hop?.password, 'p:ss');
  });

  it('throws for an invalid proxy URL, naming the variable, without the password', () => {
    let msg = assertInvalid(() => proxyForUrl('https://o.test/', { HTTPS_PROXY: 'ftp://u:Hush1234@p' }), 'HTTPS_PROXY', 'bad scheme');
    assert.ok(!msg.includes('Hush1234'), msg);
    msg = assertInvalid(() => proxyForUrl('https://o.test/', { https_proxy: 'u:Hush1234@p:99999' }), 'https_proxy', 'bad port');
    assert.ok(!msg.includes('Hush1234'), msg);
    assertInvalid(() => proxyForUrl('http://o.test/', { all_proxy: 'http://p/path' }), 'all_proxy', 'path');
    assertInvalid(() => proxyForUrl('http://o.test/', { ALL_PROXY: 'http://a socks9://b' }), 'ALL_PROXY[1]', 'chain element');
  });

  it('does not parse a proxy value when NO_PROXY excludes the target', () => {
    assert.deepEqual(chain('https://o.test/', { HTTPS_PROXY: 'ftp://bad', NO_PROXY: 'o.test' }), []);
  });

  it('rejects targets that are not absolute http(s) URLs', () => {
    for (const t of ['ftp://o.test/', 'ws://o.test/', 'o.test', '/path', '']) {
      assertInvalid(() => proxyForUrl(t, { ALL_PROXY: 'http://p' }), 'url', t);
    }
  });

  it('accepts a URL object as target', () => {
    assert.deepEqual(proxyForUrl(new URL('https://o.test/x?y'), { HTTPS_PROXY: 'p:1' }).map((h) => h.url), ['http://p:1']);
  });

  it('reads process.env by default', () => {
    const saved = { ...process.env };
    try {
      for (const k of ['https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY', 'no_proxy', 'NO_PROXY']) delete process.env[k];
      process.env['HTTPS_PROXY'] = 'http://from-env.test:1';
      assert.deepEqual(proxyForUrl('https://o.test/').map((h) => h.url), ['http://from-env.test:1']);
      process.env['NO_PROXY'] = 'o.test';
      assert.deepEqual(proxyForUrl('https://o.test/'), []);
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });
});

describe('proxyForUrl: NO_PROXY', () => {
  const P = 'http://p:1';
  // [what, target, env, proxied?]
  const table: Array<[string, string, ProxyEnv, boolean]> = [
    ['NO_PROXY excludes', 'https://o.test/', { HTTPS_PROXY: P, NO_PROXY: 'o.test' }, false],
    ['no_proxy excludes', 'https://o.test/', { HTTPS_PROXY: P, no_proxy: 'o.test' }, false],
    ['lowercase no_proxy wins', 'https://o.test/', { HTTPS_PROXY: P, no_proxy: 'other.test', NO_PROXY: 'o.test' }, true],
    ['lowercase no_proxy wins (2)', 'https://o.test/', { HTTPS_PROXY: P, no_proxy: 'o.test', NO_PROXY: 'other.test' }, false],
    ['empty no_proxy wins over NO_PROXY', 'https://o.test/', { HTTPS_PROXY: P, no_proxy: '', NO_PROXY: '*' }, true],
    ['empty NO_PROXY excludes nothing', 'https://o.test/', { HTTPS_PROXY: P, NO_PROXY: '' }, true],
    ['* excludes all', 'http://anything.test/', { all_proxy: P, NO_PROXY: '*' }, false],
    ['default https port 443 is matched', 'https://o.test/', { HTTPS_PROXY: P, NO_PROXY: 'o.test:443' }, false],
    ['default http port 80 is matched', 'http://o.test/', { http_proxy: P, NO_PROXY: 'o.test:80' }, false],
    ['port mismatch keeps the proxy', 'https://o.test/', { HTTPS_PROXY: P, NO_PROXY: 'o.test:80' }, true],
    ['explicit target port', 'https://o.test:8443/', { HTTPS_PROXY: P, NO_PROXY: 'o.test:8443' }, false],
    ['explicit default port in the URL', 'https://o.test:443/', { HTTPS_PROXY: P, NO_PROXY: 'o.test:443' }, false],
    ['IPv6 target', 'http://[::1]:8080/', { http_proxy: P, NO_PROXY: '[::1]:8080' }, false],
    ['IPv6 target, CIDR', 'http://[fd00::5]/', { http_proxy: P, NO_PROXY: 'fd00::/8' }, false],
    ['IPv4 target normalized by the URL parser', 'http://0x0a000001/', { http_proxy: P, NO_PROXY: '10.0.0.0/8' }, false],
    ['uppercase target host', 'https://O.TEST/', { HTTPS_PROXY: P, NO_PROXY: 'o.test' }, false],
    ['trailing-dot target host', 'https://a.o.test./', { HTTPS_PROXY: P, NO_PROXY: 'o.test' }, false],
    ['hostname not resolved for CIDR', 'http://localhost/', { http_proxy: P, NO_PROXY: '127.0.0.0/8' }, true],
  ];
  for (const [what, target, env, proxied] of table) {
    it(what, () => assert.equal(proxyForUrl(target, env).length, proxied ? 1 : 0));
  }
});

describe('noProxyMatches', () => {
  // [NO_PROXY value, host, port, expected]
  type Row = [string, string, number, boolean];
  const groups: Array<[string, Row[]]> = [
    ['wildcard', [
      ['*', 'example.com', 443, true],
      ['*', '10.1.2.3', 80, true],
      ['*', '::1', 80, true],
      [' * ', 'example.com', 443, true],
      ['localhost,*', 'example.com', 443, true],
      ['*.example.com', 'a.example.com', 443, true],
      ['*.example.com', 'example.com', 443, true],
      ['*.example.com', 'other.com', 443, false],
      ['**', 'example.com', 443, false],
      ['*example.com', 'example.com', 443, false],
    ]],
    ['names and subdomains', [
      ['example.com', 'example.com', 443, true],
      ['example.com', 'a.example.com', 443, true],
      ['example.com', 'a.b.example.com', 443, true],
      ['example.com', 'badexample.com', 443, false],
      ['example.com', 'example.com.evil.test', 443, false],
      ['example.com', 'example.co', 443, false],
      ['example.com', 'com', 443, false],
      ['.example.com', 'example.com', 443, true],
      ['.example.com', 'a.example.com', 443, true],
      ['.example.com', 'badexample.com', 443, false],
      ['a.example.com', 'example.com', 443, false],
      ['a.example.com', 'b.example.com', 443, false],
      ['localhost', 'localhost', 80, true],
      ['localhost', 'notlocalhost', 80, false],
      ['com', 'example.com', 80, true],
      ['internal', 'svc.internal', 80, true],
      ['bücher.test', 'xn--bcher-kva.test', 80, true],
      ['xn--bcher-kva.test', 'xn--bcher-kva.test', 80, true],
    ]],
    ['case', [
      ['EXAMPLE.COM', 'example.com', 443, true],
      ['example.com', 'A.EXAMPLE.COM', 443, true],
      ['.Example.Com:8080', 'www.EXAMPLE.com', 8080, true],
      ['FD00::/8', 'fd00::1', 80, true],
      ['fd00::/8', 'FD00::1', 80, true],
    ]],
    ['trailing dots', [
      ['example.com.', 'example.com', 443, true],
      ['example.com', 'example.com.', 443, true],
      ['example.com.', 'a.example.com.', 443, true],
      ['.example.com.', 'example.com', 443, true],
      ['example.com.:8080', 'example.com', 8080, true],
      ['example.com', 'badexample.com.', 443, false],
    ]],
    ['ports', [
      ['example.com:8080', 'example.com', 8080, true],
      ['example.com:8080', 'example.com', 80, false],
      ['example.com:8080', 'a.example.com', 8080, true],
      ['example.com:443', 'example.com', 443, true],
      ['example.com:443', 'example.com', 80, false],
      ['example.com', 'example.com', 12345, true],
      ['10.1.2.3:8080', '10.1.2.3', 8080, true],
      ['10.1.2.3:8080', '10.1.2.3', 80, false],
      ['[::1]:8080', '::1', 8080, true],
      ['[::1]:8080', '::1', 80, false],
      ['[::1]', '::1', 443, true],
      ['other.test:80,example.com:443', 'example.com', 443, true],
    ]],
    ['IPv4 literals', [
      ['10.1.2.3', '10.1.2.3', 80, true],
      ['10.1.2.3', '10.1.2.4', 80, false],
      ['10.1.2.3', '110.1.2.3', 80, false],
      ['0.1.2.3', '10.1.2.3', 80, false],
      ['1.2.3', '10.1.2.3', 80, false],
      ['10.1.2.3', '10.1.2.3.example.com', 80, false],
      ['127.0.0.1', 'localhost', 80, false],
      ['localhost', '127.0.0.1', 80, false],
      ['10.1.2.3', '::ffff:10.1.2.3', 80, true],
      ['10.1.2.3', '::ffff:a01:203', 80, true],
      ['10.1.2.3', '::10.1.2.3', 80, false],
    ]],
    ['IPv6 literals', [
      ['::1', '::1', 80, true],
      ['::1', '0:0:0:0:0:0:0:1', 80, true],
      ['0:0::1', '::1', 80, true],
      ['[::1]', '[::1]', 80, true],
      ['::1', '[::1]', 80, true],
      ['::1', '::2', 80, false],
      ['::1', '127.0.0.1', 80, false],
      ['2001:db8::1', '2001:DB8:0:0:0:0:0:1', 80, true],
      ['2001:db8::1', '2001:db8::1:0', 80, false],
      ['::ffff:10.1.2.3', '::ffff:a01:203', 80, true],
      ['::ffff:10.1.2.3', '10.1.2.3', 80, false],
      ['::1:8080', '::1:8080', 80, true],
      ['::1:8080', '::1', 8080, false],
      ['fe80::1', 'fe80::1%eth0', 80, true],
    ]],
    ['IPv4 CIDR', [
      ['10.0.0.0/8', '10.0.0.1', 80, true],
      ['10.0.0.0/8', '10.255.255.255', 80, true],
      ['10.0.0.0/8', '11.0.0.0', 80, false],
      ['10.0.0.0/8', '9.255.255.255', 80, false],
      ['192.168.1.0/24', '192.168.1.77', 80, true],
      ['192.168.1.0/24', '192.168.2.77', 80, false],
      ['192.168.0.0/23', '192.168.0.1', 80, true],
      ['192.168.0.0/23', '192.168.1.254', 80, true],
      ['192.168.0.0/23', '192.168.2.1', 80, false],
      ['192.168.0.0/23', '192.167.255.255', 80, false],
      ['192.168.1.0/23', '192.168.0.9', 80, true],
      ['172.16.0.0/12', '172.31.255.255', 80, true],
      ['172.16.0.0/12', '172.32.0.0', 80, false],
      ['10.1.2.3/32', '10.1.2.3', 80, true],
      ['10.1.2.3/32', '10.1.2.2', 80, false],
      ['10.1.2.3/31', '10.1.2.2', 80, true],
      ['10.1.2.3/31', '10.1.2.4', 80, false],
      ['0.0.0.0/0', '1.2.3.4', 80, true],
      ['0.0.0.0/0', '255.255.255.255', 80, true],
      ['0.0.0.0/0', '::1', 80, false],
      ['0.0.0.0/0', 'example.com', 80, false],
      ['10.0.0.0/8', '::ffff:10.1.2.3', 80, true],
      ['10.0.0.0/8', '::ffff:11.1.2.3', 80, false],
      ['0.0.0.0/0', '::ffff:1.2.3.4', 80, true],
      ['10.0.0.0/8', '::a01:203', 80, false],
      ['127.0.0.0/8', 'localhost', 80, false],
      ['10.0.0.0/8', '10.0.0.1', 12345, true],
    ]],
    ['IPv6 CIDR', [
      ['::1/128', '::1', 80, true],
      ['::1/128', '::2', 80, false],
      ['fd00::/8', 'fd12:3456::1', 80, true],
      ['fd00::/8', 'fe00::1', 80, false],
      ['fd00::/8', 'fc00::1', 80, false],
      ['fc00::/7', 'fd00::1', 80, true],
      ['fc00::/7', 'fe00::1', 80, false],
      ['2001:db8::/32', '2001:db8:ffff::1', 80, true],
      ['2001:db8::/32', '2001:db9::1', 80, false],
      ['2001:db8:abcd::/47', '2001:db8:abcd:1::1', 80, true],
      ['2001:db8:abcd::/47', '2001:db8:abcc::1', 80, true], // abcc and abcd share their first 15 bits
      ['2001:db8:abcd::/47', '2001:db8:abcb::1', 80, false],
      ['2001:db8:abcd::/47', '2001:db8:abce::1', 80, false],
      ['[fd00::]/8', 'fd00::1', 80, true],
      ['::/0', '::1', 80, true],
      ['::/0', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 80, true],
      ['::/0', '10.1.2.3', 80, false],
      ['::/0', '::ffff:10.1.2.3', 80, true],
      ['::ffff:0:0/96', '::ffff:10.1.2.3', 80, true],
      ['::ffff:10.0.0.0/104', '::ffff:10.9.9.9', 80, true],
      ['::ffff:10.0.0.0/104', '::ffff:11.9.9.9', 80, false],
      ['::ffff:0:0/96', '10.1.2.3', 80, false],
      ['fe80::/10', 'fe80::1%eth0', 80, true],
      ['fe80::/10', 'febf::1', 80, true],
      ['fe80::/10', 'fec0::1', 80, false],
      ['1:2:3:4:5:6:7:8/128', '1:2:3:4:5:6:7:8', 80, true],
      ['1:2:3:4:5:6:7:0/112', '1:2:3:4:5:6:7:ffff', 80, true],
      ['1:2:3:4:5:6:7:0/112', '1:2:3:4:5:6:8:0', 80, false],
      ['::1.2.3.4/128', '::102:304', 80, true],
    ]],
    ['lists, whitespace and empty entries', [
      ['a.test,b.test', 'b.test', 80, true],
      ['a.test b.test', 'b.test', 80, true],
      ['a.test, b.test', 'b.test', 80, true],
      [' a.test ,\tb.test\n', 'b.test', 80, true],
      [',,a.test,,', 'a.test', 80, true],
      ['a.test,,', 'c.test', 80, false],
      ['', 'a.test', 80, false],
      ['   ', 'a.test', 80, false],
      [',', 'a.test', 80, false],
      ['10.0.0.0/8 , .example.com , [::1]:8080', '::1', 8080, true],
      ['10.0.0.0/8 , .example.com , [::1]:8080', 'x.example.com', 1, true],
      ['10.0.0.0/8 , .example.com , [::1]:8080', '10.2.3.4', 1, true],
      ['10.0.0.0/8 , .example.com , [::1]:8080', '11.2.3.4', 1, false],
    ]],
    // Invalid entries are skipped, never thrown: NO_PROXY comes from the
    // environment, and skipping an entry can only keep the proxy in use.
    ['invalid entries are ignored', [
      ['10.0.0.0/33', '10.0.0.1', 80, false],
      ['::/129', '::1', 80, false],
      ['10.0.0.0/', '10.0.0.1', 80, false],
      ['10.0.0.0/x', '10.0.0.1', 80, false],
      ['10.0.0.0/-1', '10.0.0.1', 80, false],
      ['10.0.0/8', '10.0.0.1', 80, false],
      ['example.com/8', 'example.com', 80, false],
      ['10.0.0.0/8:80', '10.0.0.1', 80, false],
      ['example.com:0', 'example.com', 80, false],
      ['example.com:99999', 'example.com', 80, false],
      ['example.com:abc', 'example.com', 80, false],
      ['example.com:', 'example.com', 80, false],
      ['[::1', '::1', 80, false],
      ['[::1]x', '::1', 80, false],
      ['[::1]:', '::1', 80, false],
      ['[example.com]', 'example.com', 80, false],
      ['http://example.com', 'example.com', 80, false],
      ['exa mple.com', 'mple.com', 80, true],
      ['.', 'example.com', 80, false],
      ['..', 'example.com', 80, false],
      ['a..b', 'a..b', 80, false],
      ['10.0.0.0/33,example.com:abc,[::1,good.test', 'good.test', 80, true],
    ]],
  ];
  for (const [group, rows] of groups) {
    it(group, () => {
      for (const [noProxy, host, port, want] of rows) {
        assert.equal(noProxyMatches(noProxy, host, port), want, `noProxyMatches(${JSON.stringify(noProxy)}, ${JSON.stringify(host)}, ${port})`);
      }
    });
  }

  it('never throws on garbage', () => {
    const junk = ['/', '//', '[]', '[', ']', ':', '::::', '1.2.3.4/', '/8', '*:80', '%', '[::1]:80:80', '\u0000', 'ü', '::/', '[::]/0x'];
    for (const j of junk) {
      assert.doesNotThrow(() => noProxyMatches(j, 'example.com', 80), j);
      assert.doesNotThrow(() => noProxyMatches(j, '::1', 80), j);
      assert.doesNotThrow(() => noProxyMatches(j, '10.0.0.1', 80), j);
    }
  });

  it('an empty host matches nothing', () => {
    assert.equal(noProxyMatches('example.com', '', 80), false);
  });
});
