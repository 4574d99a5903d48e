// Regressions of request() and the pool: a failed stream on a shared HTTP/2
// connection, dead pooled tunnels, the server's stream limit, a socks5://
// lookup that never answers, and SOCKS credentials without a password.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { request } from '../../src/request/request.js';
import { Pool } from '../../src/request/pool.js';
import { isBurrowError, type ErrorCode } from '../../src/errors/errors.js';
import { startOrigin } from '../../src/testing/origin.js';
import { startSocks5Server } from '../../src/testing/socks5-server.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';
import { deferred, flushed, startH2Server, within } from './util.js';

describe('regressions: request() on a shared HTTP/2 connection', () => {
  const failures: Array<[string, Parameters<typeof request>[1], ErrorCode]> = [
    ['aborted', {}, 'ERR_ABORTED'],
    ['timed out', { timeouts: { headers: 50 } }, 'ERR_HEADERS_TIMEOUT'],
  ];
  for (const [how, init, code] of failures) {
    it(`one ${how} request does not kill another in-flight request on the same pooled connection`, async (t) => {
      const baseline = resourceSnapshot();
      const finishSlow = deferred();
      const srv = await startH2Server((st, h) => {
        if (h[':path'] === '/slow') {
          st.respond({ ':status': 200 });
          st.write('slow ');
          void finishSlow.promise.then(() => st.end('done'));
        } else if (h[':path'] === '/hang-body') {
          st.respond({ ':status': 200 }); // a head, then nothing
        }
        // '/hang-head': no response at all.
      });
      const pool = new Pool();
      t.after(async () => {
        await pool.close();
        await srv.close();
      });
      const base = `http://127.0.0.1:${srv.port}`;
      const slow = await request(`${base}/slow`, { protocols: ['http2'], pool });
      const ac = new AbortController();
      let other: Promise<unknown>;
      if (how === 'aborted') {
        const res = await request(`${base}/hang-body`, { protocols: ['http2'], pool, signal: ac.signal });
        assert.equal(res.info.reused, true, 'both requests share the connection');
        other = res.text();
        ac.abort();
      } else {
        other = request(`${base}/hang-head`, { protocols: ['http2'], pool, ...init });
      }
      await assert.rejects(within(other, 3000, `the ${how} request`), (e: unknown) => isBurrowError(e, code));
      finishSlow.resolve();
      assert.equal(await within(slow.text(), 3000, 'the other request'), 'slow done');
      assert.equal(srv.sessions.length, 1);
      await pool.close();
      await srv.close();
      await assertNoLeaks(baseline);
    });
  }

  it('with a server allowing 2 concurrent streams, concurrent requests on one pooled route all succeed (none gets ERR_TOO_MANY_STREAMS, none is killed by it)', async (t) => {
    const baseline = resourceSnapshot();
    // Responses are held until two requests are in flight together, so they really are concurrent.
    const twoInFlight = deferred();
    let seen = 0;
    const srv = await startH2Server(
      (st, h) => {
        st.respond({ ':status': 200 });
        if (h[':path'] === '/warm-up') {
          st.end('ok');
          return;
        }
        if (++seen === 2) twoInFlight.resolve();
        void twoInFlight.promise.then(() => st.end('ok'));
      },
      { maxConcurrentStreams: 2 },
    );
    const pool = new Pool();
    t.after(async () => {
      await pool.close();
      await srv.close();
    });
    const url = `http://127.0.0.1:${srv.port}`;
    // The first request teaches the pool the server's SETTINGS.
    assert.equal(await (await request(`${url}/warm-up`, { protocols: ['http2'], pool })).text(), 'ok');
    const results = await within(
      Promise.allSettled([1, 2, 3, 4, 5].map(async () => (await request(`${url}/`, { protocols: ['http2'], pool })).text())),
      5000,
      'five concurrent requests',
    );
    const summary = results.map((r) => (r.status === 'fulfilled' ? r.value : String((r.reason as { code?: unknown }).code)));
    assert.deepEqual(summary, ['ok', 'ok', 'ok', 'ok', 'ok']);
    await pool.close();
    await srv.close();
    await assertNoLeaks(baseline);
  });
});

describe('regressions: pooled HTTP/2 tunnels', () => {
  it('the pool does not reuse a route whose HTTP/2 tunnel the proxy closed', async (t) => {
    const baseline = resourceSnapshot();
    const origin = await startOrigin({ protocol: 'http', transport: 'tcp' });
    const tunnels: http2.ServerHttp2Stream[] = [];
    const proxy = await startH2Server((st, h) => {
      const [host = '', port = '0'] = (h[':authority'] ?? '').split(':');
      const up = net.connect(Number(port), host, () => {
        st.respond({ ':status': 200 });
        st.pipe(up).pipe(st);
      });
      up.on('error', () => st.destroy());
      up.on('close', () => st.destroy());
      st.on('close', () => up.destroy());
      tunnels.push(st);
    });
    const pool = new Pool();
    t.after(async () => {
      await pool.close();
      await proxy.close();
      await origin.close();
    });
    const via = [`h2c://127.0.0.1:${proxy.port}`];
    const url = `http://127.0.0.1:${origin.port}/`;
    const r1 = await request(url, { via, pool });
    assert.equal(await r1.text(), 'hello');
    // The proxy drops the tunnel (RST_STREAM CANCEL) and keeps the HTTP/2 connection.
    const session = proxy.sessions[0];
    assert.ok(session !== undefined && tunnels[0] !== undefined);
    tunnels[0].close(http2.constants.NGHTTP2_CANCEL);
    await flushed(session);
    const r2 = await request(url, { via, pool });
    assert.equal(r2.status, 200);
    assert.equal(await r2.text(), 'hello');
    assert.equal(r2.info.reused, false, 'a new route, not the dead tunnel');
    const r3 = await request(url, { via, pool });
    assert.equal(await r3.text(), 'hello');
    assert.equal(r3.info.reused, true, 'the new route is pooled in turn');
    assert.equal(tunnels.length, 2);
    await pool.close();
    await proxy.close();
    await origin.close();
    await assertNoLeaks(baseline);
  });
});

describe('regressions: SOCKS hops in request()', () => {
  it('a socks5:// hop whose lookup never answers is ended by timeouts.total', async () => {
    const lookupCalled = deferred();
    const p = request('http://origin.test/', {
      via: ['socks5://127.0.0.1:1'],
      lookup: () => {
        lookupCalled.resolve();
        return new Promise(() => undefined);
      },
      timeouts: { total: 100 },
      pool: false,
    });
    await assert.rejects(within(p, 2000, 'request()'), (e: unknown) => isBurrowError(e, 'ERR_REQUEST_TIMEOUT'));
    await lookupCalled.promise;
  });

  it('a socks5:// hop whose lookup never answers is ended by the signal', async () => {
    const lookupCalled = deferred();
    const ac = new AbortController();
    const p = request('http://origin.test/', {
      via: ['socks5://127.0.0.1:1'],
      lookup: () => {
        lookupCalled.resolve();
        return new Promise(() => undefined);
      },
      signal: ac.signal,
      pool: false,
    });
    await within(lookupCalled.promise, 2000, 'the lookup');
    ac.abort();
    await assert.rejects(within(p, 2000, 'request()'), (e: unknown) => isBurrowError(e, 'ERR_ABORTED'));
  });

  it('SOCKS credentials without a password are ERR_INVALID_OPTION naming via[0], and nothing is sent', async (t) => {
    const socks = await startSocks5Server({ transport: 'tcp', auth: { username: 'alice', password: 'secret' } });
    t.after(() => socks.close());
    for (const userinfo of ['alice', 'alice:']) {
      for (const scheme of ['socks5h', 'socks5']) {
        await assert.rejects(
          request('http://127.0.0.1:9/', { via: [`${scheme}://${userinfo}@127.0.0.1:${socks.port}`], pool: false }),
          (e: unknown) => isBurrowError(e, 'ERR_INVALID_OPTION') && e.details['option'] === 'via[0]',
          `${scheme}://${userinfo}@`,
        );
      }
    }
    assert.equal(socks.connections, 0);
    await socks.close();
  });
});
