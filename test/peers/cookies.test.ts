// request(url, { cookies: jar }) against nginx through real proxy chains: squid over TLS, and nghttpx (HTTP/2
// CONNECT) -> dante behind stunnel (SOCKS5 over TLS). nginx sets the cookies (`/cookies/set`) and echoes the
// cookie header it receives (`/cookies/echo`); see the `# request(): cookies` block of harness.ts.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CookieJar, Pool, request, type CookieRejection, type TlsOptions, type ViaEntry } from '../../src/index.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';
import { startPeers, type PeerPorts, type Peers } from './harness.js';

const TEST_TIMEOUT = { timeout: 60_000 };

describe('request() cookies through real peers (nginx behind squid, nghttpx, dante)', () => {
  let peers: Peers;
  let P: PeerPorts;
  let tls: TlsOptions;
  let pool: Pool;
  let baseline: string[];
  before(async () => {
    peers = await startPeers();
    P = peers.ports;
    tls = { ca: peers.ca };
    pool = new Pool();
    baseline = resourceSnapshot();
  });
  after(async () => {
    await pool.close();
    await assertNoLeaks(baseline);
    await peers?.stop();
  });

  const chains = (): Array<[string, ViaEntry[]]> => [
    ['squid over TLS', [{ url: `https://localhost:${P.squidTls}`, tls }]],
    ['nghttpx -> SOCKS5 over TLS', [{ url: `h2://localhost:${P.nghttpxTls}`, tls }, { url: `socks5hs://localhost:${P.stunnelSocks}`, tls }]],
  ];

  for (const [i, chainName] of ['squid over TLS', 'nghttpx -> SOCKS5 over TLS'].entries()) {
    it(`https origin (HTTP/2) through ${chainName}: nginx's cookies stored and sent back, in order`, TEST_TIMEOUT, async () => {
      const [name, via] = chains()[i] as [string, ViaEntry[]];
      const rejected: CookieRejection[] = [];
      const jar = new CookieJar({ onReject: (r) => rejected.push(r) });
      const set = await request(`https://localhost:${P.nginxTls}/cookies/set`, { via, tls, pool, cookies: jar });
      assert.equal(set.status, 200, name);
      assert.equal(set.version, '2');
      assert.equal(set.headers.filter(([n]) => n === 'set-cookie').length, 4);
      await set.text();
      assert.deepEqual(rejected.map((r) => r.reason), ['public-suffix']);
      assert.deepEqual(jar.getAllCookies().map((c) => [c.name, c.secure, c.httpOnly, c.sameSite]), [
        ['peer', true, true, 'Lax'],
        ['plain', false, false, 'Default'],
        ['__Host-h', true, false, 'Default'],
      ]);
      const echo = await request(`https://localhost:${P.nginxTls}/cookies/echo`, { via, tls, pool, cookies: jar });
      assert.equal((await echo.text()).trim(), 'cookie=peer=nginx; plain=1; __Host-h=1', name);
    });
  }

  it('http origin through squid over TLS: the Secure and __Host- cookies are refused, the others sent', TEST_TIMEOUT, async () => {
    const via = (chains()[0] as [string, ViaEntry[]])[1];
    const rejected: CookieRejection[] = [];
    const jar = new CookieJar({ onReject: (r) => rejected.push(r) });
    await (await request(`http://127.0.0.1:${P.nginxHttp}/cookies/set`, { via, pool, cookies: jar })).text();
    assert.deepEqual(rejected.map((r) => r.reason), ['secure-from-insecure', 'secure-from-insecure', 'public-suffix']);
    const echo = await request(`http://127.0.0.1:${P.nginxHttp}/cookies/echo`, { via, pool, cookies: jar, headers: { cookie: 'mine=1' } });
    assert.equal((await echo.text()).trim(), 'cookie=mine=1; plain=1');
  });
});
