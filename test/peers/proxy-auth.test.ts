// Proxy authentication against real squid: Digest (digest_file_auth) and NTLM (ntlm_fake_auth), as hop 1 and as
// hop 2 behind nghttpx (HTTP/2 CONNECT) — where NTLM is allowed, since the CONNECT to squid is HTTP/1.1 inside
// the stream; no credentials, a wrong password: a typed error, no loop, no credential in the message.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { request } from '../../src/request/request.js';
import { isBurrowError, type BurrowError } from '../../src/errors/errors.js';
import { digestCache } from '../../src/protocols/proxy-auth/cache.js';
import { startPeers, type PeerPorts, type Peers } from './harness.js';

describe('proxy authentication with real squid (Digest, NTLM)', () => {
  let peers: Peers;
  let P: PeerPorts;
  before(async () => {
    peers = await startPeers();
    P = peers.ports;
  });
  after(async () => {
    await peers?.stop();
  });

  const origin = (): string => `http://127.0.0.1:${P.nginxHttp}/hello.txt`;
  const user = (): { username: string; password: string } => peers.squidUser;
  /** The masked proxy-authorization of each CONNECT sent while `fn` runs ('-' when none). */
  async function connects(fn: () => Promise<void>): Promise<string[]> {
    const seen: string[] = [];
    const on = (m: unknown): void => {
      const e = m as { method: string; headers: Array<[string, string]> };
      if (e.method === 'CONNECT') seen.push(e.headers.find(([k]) => k === 'proxy-authorization')?.[1] ?? '-');
    };
    subscribe('burrow:stream:start', on);
    try {
      await fn();
    } finally {
      unsubscribe('burrow:stream:start', on);
    }
    return seen;
  }
  const get = async (via: Parameters<typeof request>[1] extends infer O ? (O extends { via?: infer V } ? V : never) : never): Promise<void> => {
    const res = await request(origin(), { via, pool: false });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'hello, static file\n');
  };

  it('Digest squid as hop 1: the 407 answered; the next CONNECT reuses the nonce at once', async () => {
    digestCache.clear();
    const { username, password } = user();
    const first = await connects(() => get([{ url: `http://127.0.0.1:${P.squidDigest}`, auth: { username, password, schemes: ['digest'] } }]));
    assert.deepEqual(first, ['-', 'Digest ***']);
    const second = await connects(() => get([{ url: `http://127.0.0.1:${P.squidDigest}`, auth: { username, password, schemes: ['digest'] } }]));
    assert.deepEqual(second, ['Digest ***']);
  });

  it('Digest squid with credentials in the URL: preemptive Basic, which squid takes on any port (auth_schemes restricts its challenges only)', async () => {
    digestCache.clear();
    const { username, password } = user();
    const seen = await connects(() => get([`http://${username}:${encodeURIComponent(password)}@127.0.0.1:${P.squidDigest}`]));
    assert.deepEqual(seen, ['Basic ***']);
  });

  it('NTLM squid as hop 1: type 1 → type 2 → type 3 on one connection', async () => {
    const seen = await connects(() => get([{ url: `http://127.0.0.1:${P.squidNtlm}`, auth: { username: 'CORP\\bob', password: 'any', schemes: ['ntlm'] } }]));
    assert.deepEqual(seen, ['-', 'NTLM ***', 'NTLM ***']);
  });

  it('Digest and NTLM squid as hop 2 behind nghttpx (HTTP/2 CONNECT), and Digest behind squid', async () => {
    digestCache.clear();
    const { username, password } = user();
    const h2 = { url: `h2://localhost:${P.nghttpxTls}`, tls: { ca: peers.ca } };
    const d = await connects(() => get([h2, { url: `http://127.0.0.1:${P.squidDigest}`, auth: { username, password, schemes: ['digest'] } }]));
    assert.deepEqual(d, ['-', '-', 'Digest ***']);
    const n = await connects(() => get([h2, { url: `http://127.0.0.1:${P.squidNtlm}`, auth: { username: 'bob', password: 'any', domain: 'CORP', preemptive: false } }]));
    assert.deepEqual(n, ['-', '-', 'NTLM ***', 'NTLM ***']);
    digestCache.clear();
    const s = await connects(() => get([`http://127.0.0.1:${P.squid}`, { url: `http://127.0.0.1:${P.squidDigest}`, auth: { username, password, preemptive: false } }]));
    assert.deepEqual(s, ['-', '-', 'Digest ***']);
  });

  it('Digest at hop 1 over HTTP/2 CONNECT: nghttpx relays the 407 of the Digest squid, answered on a new stream', async () => {
    digestCache.clear();
    const { username, password } = user();
    const seen = await connects(() => get([{ url: `h2://localhost:${P.nghttpxDigest}`, tls: { ca: peers.ca }, auth: { username, password, schemes: ['digest'] } }]));
    assert.deepEqual(seen, ['-', 'Digest ***']);
  });

  it('NTLM offered through an HTTP/2 proxy (nghttpx in front of the NTLM squid): ERR_PROXY_AUTH, no handshake tried', async () => {
    const seen = await connects(() =>
      assert.rejects(
        request(origin(), { via: [{ url: `h2://localhost:${P.nghttpxNtlm}`, tls: { ca: peers.ca }, auth: { username: 'bob', password: 'any', schemes: ['ntlm'] } }], pool: false }),
        (e: unknown) => isBurrowError(e, 'ERR_PROXY_AUTH') && e.hop?.index === 0 && /cannot run over an HTTP\/2 CONNECT stream/.test(e.message),
      ),
    );
    assert.deepEqual(seen, ['-']);
  });

  it('no credentials: ERR_PROXY_AUTH at the hop; a wrong Digest password: ERR_PROXY_AUTH after one answer, no loop', async () => {
    digestCache.clear();
    const check = (hop: number, re: RegExp, secret?: string) => (e: unknown): boolean => {
      assert.ok(isBurrowError(e, 'ERR_PROXY_AUTH'), String(e));
      const b = e as BurrowError;
      assert.equal(b.hop?.index, hop);
      assert.equal(b.stage, 'connect-response');
      assert.equal(b.details['status'], 407);
      if (secret !== undefined) assert.ok(!b.message.includes(secret));
      return re.test(b.message);
    };
    await assert.rejects(request(origin(), { via: [`http://127.0.0.1:${P.squidDigest}`], pool: false }), check(0, /no credentials \(offered: digest\)|no credentials/));
    await assert.rejects(request(origin(), { via: [`http://127.0.0.1:${P.squid}`, `http://127.0.0.1:${P.squidNtlm}`], pool: false }), check(1, /offered: ntlm/));
    const wrong = 'not-the-password-42';
    const seen = await connects(() =>
      assert.rejects(
        request(origin(), { via: [{ url: `http://127.0.0.1:${P.squidDigest}`, auth: { username: user().username, password: wrong, schemes: ['digest'] } }], pool: false }),
        check(0, /refused the digest credentials/, wrong),
      ),
    );
    assert.deepEqual(seen, ['-', 'Digest ***']);
  });
});
