/**
 * Fuzz targets: the `Proxy-Authenticate` challenge parser (lines a proxy
 * sends, split at 0xFE bytes) and the PAC result parser (what a script
 * returns). Neither may throw on any input but with its typed error; what
 * comes out must be well formed: a scheme that is a lower-case token,
 * parameter names lower-cased, a PAC route a URL burrow parses back.
 */
import { BurrowError } from '../../../src/errors/errors.js';
import { parseChallenges } from '../../../src/protocols/proxy-auth/challenge.js';
import { parsePacResult } from '../../../src/pac/result.js';
import { FuzzFailure, type FuzzTarget } from '../engine.js';

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;

function challenges(input: Buffer): string {
  const lines = input.toString('latin1').split('\xfe');
  const parsed = parseChallenges(lines);
  if (parsed.malformed < 0 || parsed.malformed > lines.length) throw new FuzzFailure(`malformed ${parsed.malformed} of ${lines.length} lines`);
  const out: string[] = [];
  for (const c of parsed.challenges) {
    if (!TOKEN.test(c.scheme)) throw new FuzzFailure(`scheme ${JSON.stringify(c.scheme)} is not a lower-case token`);
    for (const k of c.params.keys()) if (!TOKEN.test(k)) throw new FuzzFailure(`parameter name ${JSON.stringify(k)} is not a lower-case token`);
    out.push(`${c.scheme}${c.token68 !== undefined ? ' t68' : ''} ${[...c.params.keys()].join(',')}`);
  }
  return `${out.join(';')} malformed=${parsed.malformed}`;
}

function pacResult(input: Buffer): string {
  let routes;
  try {
    routes = parsePacResult(input.toString('latin1'), 'fuzz.pac');
  } catch (e) {
    if (!(e instanceof BurrowError) || e.code !== 'ERR_PAC_RESULT' || e.stage !== 'pac') throw e;
    return '!';
  }
  for (const r of routes) {
    if (r.direct) continue;
    const u = new URL(r.url);
    if (!['http:', 'https:', 'socks4:', 'socks5h:', 'socks5:'].includes(u.protocol)) throw new FuzzFailure(`route ${r.url}`);
    if (u.port === '' && !/^(http|https):$/.test(u.protocol)) throw new FuzzFailure(`route ${r.url} without a port`);
  }
  return routes.map((r) => (r.direct ? 'DIRECT' : r.url.split(':')[0])).join(';');
}

/** Proxy-Authenticate lines. */
export const proxyChallenges: FuzzTarget = {
  name: 'proxy-authenticate',
  streaming: false,
  dictionary: ['\xfe', 'Basic', 'Digest', 'NTLM', 'Negotiate', ' realm="r"', ', ', ',', '=', '"', '\\"', 'nonce=', 'qop="auth,auth-int"', 'algorithm=SHA-256-sess', 'stale=true', 'TlRMTVNTUAACAAAA', '==', ' '],
  seeds: () => [
    Buffer.from('Basic realm="proxy"', 'latin1'),
    Buffer.from('Digest realm="r", nonce="abc", qop="auth", algorithm=MD5, opaque="o"\xfeNTLM\xfeBasic realm="x"', 'latin1'),
    Buffer.from('NTLM TlRMTVNTUAACAAAAAAAAADgAAAAFgomi, Negotiate', 'latin1'),
    Buffer.from('Digest realm="a\\"b", nonce=xyz, stale=TRUE, userhash=true', 'latin1'),
  ],
  run: challenges,
  shape: (o) => o.replace(/[a-z0-9-]+=?/g, 'w').slice(0, 60),
};

/** What a PAC script returns. */
export const pacResults: FuzzTarget = {
  name: 'pac-result',
  streaming: false,
  dictionary: [';', ' ', 'PROXY ', 'HTTPS ', 'SOCKS ', 'SOCKS4 ', 'SOCKS5 ', 'DIRECT', 'HTTP ', ':8080', ':0', ':65536', '[::1]', '127.0.0.1', 'a.b', '\t'],
  seeds: () => [Buffer.from('PROXY p:8080; DIRECT'), Buffer.from('HTTPS [::1]:443;SOCKS5 s:1080; SOCKS h'), Buffer.from(''), Buffer.from('SOCKS4 x:1; PROXY y')],
  run: pacResult,
  shape: (o) => o,
};
