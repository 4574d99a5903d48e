// PAC scripts served by the real nginx of the suite, choosing among its real proxies (squid for PROXY, dante
// for SOCKS5) with the first choice down: request() takes the second, remembers the dead one, and reaches
// nginx over TLS through it.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request, type RouteAttempt } from '../../src/request/request.js';
import { forgetDeadRoutes } from '../../src/request/failover.js';
import { Pool } from '../../src/request/pool.js';
import { startPeers, type Peers } from './harness.js';

const TEST_TIMEOUT = { timeout: 60_000 };

describe('PAC scripts served by nginx, choosing among squid and dante', () => {
  let peers: Peers;
  let pool: Pool;

  before(async () => {
    peers = await startPeers();
  });
  beforeEach(() => {
    forgetDeadRoutes();
  });
  after(async () => {
    await peers?.stop();
  });

  const origin = (): string => `https://localhost:${peers.ports.nginxTls}/small`;
  const pac = (name: string): string => `http://127.0.0.1:${peers.ports.nginxHttp}/pac/${name}`;

  it('PROXY: the first proxy down, squid second; the dead one is tried last next time', TEST_TIMEOUT, async () => {
    pool = new Pool();
    try {
      const seen: RouteAttempt[] = [];
      const res = await request(origin(), { pac: pac('squid.pac'), tls: { ca: peers.ca }, pool, onRoute: (a) => a.outcome !== 'trying' && seen.push(a) });
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'hello from nginx\n');
      assert.deepEqual(seen.map((a) => [a.route, a.error?.code]), [
        [[`http://127.0.0.1:${peers.ports.closed}`], 'ERR_CONNECT'],
        [[`http://127.0.0.1:${peers.ports.squid}`], undefined],
      ]);
      assert.deepEqual(res.info.chain.map((l) => l.kind), ['tcp', 'http1-connect', 'tls', 'http2']);
      const again: RouteAttempt[] = [];
      const res2 = await request(origin(), { pac: pac('squid.pac'), tls: { ca: peers.ca }, pool: false, onRoute: (a) => again.push(a) });
      assert.equal(await res2.text(), 'hello from nginx\n');
      assert.deepEqual(again.map((a) => [a.outcome, a.route]), [['trying', [`http://127.0.0.1:${peers.ports.squid}`]], ['taken', [`http://127.0.0.1:${peers.ports.squid}`]]]);
    } finally {
      await pool.close();
    }
  });

  it('SOCKS5: the first server down, dante second (names resolved by dante)', TEST_TIMEOUT, async () => {
    pool = new Pool();
    try {
      const seen: RouteAttempt[] = [];
      const res = await request(origin(), { via: [`pac+${pac('dante.pac')}`], tls: { ca: peers.ca }, pool, onRoute: (a) => a.outcome !== 'trying' && seen.push(a) });
      assert.equal(await res.text(), 'hello from nginx\n');
      assert.deepEqual(seen.map((a) => [a.route, a.error?.code]), [
        [[`socks5h://127.0.0.1:${peers.ports.closed}`], 'ERR_CONNECT'],
        [[`socks5h://127.0.0.1:${peers.ports.dante}`], undefined],
      ]);
    } finally {
      await pool.close();
    }
  });

  it('SOCKS (SOCKS4, as browsers read it): the first gateway down, dante second', TEST_TIMEOUT, async () => {
    pool = new Pool();
    try {
      const seen: RouteAttempt[] = [];
      const res = await request(`https://127.0.0.1:${peers.ports.nginxTls}/small`, { pac: pac('dante4.pac'), tls: { ca: peers.ca }, pool, onRoute: (a) => a.outcome !== 'trying' && seen.push(a) });
      assert.equal(await res.text(), 'hello from nginx\n');
      assert.deepEqual(seen.map((a) => [a.route, a.error?.code]), [
        [[`socks4://127.0.0.1:${peers.ports.closed}`], 'ERR_CONNECT'],
        [[`socks4://127.0.0.1:${peers.ports.dante}`], undefined],
      ]);
    } finally {
      await pool.close();
    }
  });

  it('helpers on the host name: localhost goes through dante after the dead proxy', TEST_TIMEOUT, async () => {
    pool = new Pool();
    try {
      const seen: RouteAttempt[] = [];
      const res = await request(origin(), { env: { https_proxy: `pac+${pac('by-host.pac')}` }, tls: { ca: peers.ca }, pool, onRoute: (a) => a.outcome === 'taken' && seen.push(a) });
      assert.equal(await res.text(), 'hello from nginx\n');
      assert.deepEqual(seen.map((a) => a.route), [[`socks5h://127.0.0.1:${peers.ports.dante}`]]);
    } finally {
      await pool.close();
    }
  });
});
