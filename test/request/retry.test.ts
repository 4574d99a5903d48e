// request()'s retry step: what is retried (and what never is), Retry-After, the backoff function, the error
// of the last attempt, and a backoff cut short by the signal or the total timeout. No sleeps: delays come
// from an injected backoff function, and attempts are counted on the servers.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { request, type RetryInfo } from '../../src/request/request.js';
import { Pool } from '../../src/request/pool.js';
import { retryAfterMs } from '../../src/request/retry.js';
import { isBurrowError } from '../../src/errors/errors.js';
import { startConnectProxy, type TestConnectProxy } from '../../src/testing/connect-proxy.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';

/** What the origin does with request `k` (0 first) of connection `n` (0 first): `reset`, or a raw response (then `close` or keep the connection). */
type Script = (n: number, head: string, k: number) => 'reset' | string | { keep: string };

/** A raw origin: reads one request head per connection and does what `script` says (then closes). */
async function startRawOrigin(script: Script): Promise<{ url: string; port: number; heads: string[]; close(): Promise<void> }> {
  const heads: string[] = [];
  const sockets = new Set<net.Socket>();
  let n = 0;
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    const i = n++;
    let k = 0;
    let got = '';
    s.on('data', (c: Buffer) => {
      got += c.toString('latin1');
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = got.slice(0, end);
      got = got.slice(end + 4);
      heads.push(head);
      const what = script(i, head, k++);
      if (what === 'reset') s.resetAndDestroy();
      else if (typeof what === 'string') s.end(what);
      else s.write(what.keep);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    heads,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const OK = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok';

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A backoff function that waits 0 ms and records what it was told. */
function recorder(): { infos: RetryInfo[]; backoff: (i: RetryInfo) => number } {
  const infos: RetryInfo[] = [];
  return { infos, backoff: (i) => (infos.push(i), 0) };
}

async function* streamed(text: string): AsyncIterable<Uint8Array> {
  yield Buffer.from(text);
}

describe('request(): retries', () => {
  let baseline: string[];
  let pool: Pool;
  let proxy: TestConnectProxy;
  before(async () => {
    baseline = resourceSnapshot();
    pool = new Pool();
    proxy = await startConnectProxy({ transport: 'tcp' });
  });
  after(async () => {
    await pool.close();
    await proxy.close();
    await assertNoLeaks(baseline);
  });

  it('retries a GET reset before any response byte, on a new connection, and says which attempt it was', async () => {
    const o = await startRawOrigin((n) => (n < 2 ? 'reset' : OK));
    const r = recorder();
    const res = await request(`${o.url}/x`, { pool, retry: { backoff: r.backoff } });
    assert.equal(await res.text(), 'ok');
    assert.equal(o.heads.length, 3);
    assert.deepEqual(r.infos.map((i) => [i.attempt, i.error?.code, i.status]), [[1, 'ERR_CONNECTION_CLOSED', undefined], [2, 'ERR_CONNECTION_CLOSED', undefined]]);
    await o.close();
  });

  it('a pooled connection the server dropped: the GET goes again on a new connection, the dead one is not reused', async () => {
    const keep = { keep: 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok' };
    const o = await startRawOrigin((n, _head, k) => (n === 0 && k === 1 ? 'reset' : keep));
    const own = new Pool();
    const r = recorder();
    const first = await request(`${o.url}/`, { pool: own, retry: { backoff: r.backoff } });
    assert.equal(await first.text(), 'ok');
    const second = await request(`${o.url}/`, { pool: own, retry: { backoff: r.backoff } });
    assert.equal(await second.text(), 'ok');
    assert.equal(second.info.reused, false);
    assert.deepEqual(r.infos.map((i) => i.error?.code), ['ERR_CONNECTION_CLOSED']);
    assert.equal(o.heads.length, 3);
    await own.close();
    await o.close();
  });

  it('gives up after limit retries: the last error keeps its code and cause and says how many attempts were made', async () => {
    const o = await startRawOrigin(() => 'reset');
    const r = recorder();
    await assert.rejects(request(`${o.url}/`, { pool, retry: { limit: 3, backoff: r.backoff } }), (e: unknown) => {
      assert.ok(isBurrowError(e, 'ERR_CONNECTION_CLOSED'), String(e));
      assert.equal(e.details['attempts'], 4);
      assert.match(e.message, /after 4 attempts/);
      return true;
    });
    assert.equal(o.heads.length, 4);
    await o.close();
  });

  it('never retries a POST, nor a streamed body, once the request may have reached the origin', async () => {
    const o = await startRawOrigin(() => 'reset');
    const r = recorder();
    await assert.rejects(request(`${o.url}/`, { method: 'POST', body: 'pay=1', pool, retry: { backoff: r.backoff } }), (e: unknown) => isBurrowError(e, 'ERR_CONNECTION_CLOSED') && e.details['attempts'] === undefined);
    assert.equal(o.heads.length, 1);
    await assert.rejects(request(`${o.url}/`, { method: 'PUT', body: streamed('x'), pool, retry: { backoff: r.backoff } }), (e: unknown) => isBurrowError(e, 'ERR_CONNECTION_CLOSED'));
    assert.equal(o.heads.length, 2);
    assert.equal(r.infos.length, 0);
    await o.close();
  });

  it('retries even a POST whose route did not come up (the error names the proxy hop)', async () => {
    const port = await closedPort();
    const r = recorder();
    await assert.rejects(request('http://127.0.0.1:1/', { method: 'POST', body: streamed('x'), via: [`http://127.0.0.1:${port}`], pool, retry: { backoff: r.backoff } }), (e: unknown) => {
      assert.ok(isBurrowError(e, 'ERR_CONNECT'), String(e));
      assert.equal(e.hop?.kind, 'connect');
      assert.equal(e.hop?.index, 0);
      assert.equal(e.details['attempts'], 3);
      return true;
    });
    assert.equal(r.infos.length, 2);
  });

  it('does not retry what another attempt cannot fix: a refused CONNECT', async () => {
    const refuser = await startConnectProxy({ transport: 'tcp', behavior: { status: 403 } });
    const r = recorder();
    await assert.rejects(request('http://127.0.0.1:1/', { via: [refuser.url], pool, retry: { backoff: r.backoff } }), (e: unknown) => isBurrowError(e, 'ERR_CONNECT_STATUS'));
    assert.equal(refuser.requests.length, 1);
    assert.equal(r.infos.length, 0);
    await refuser.close();
  });

  it('retries 503/429/408 after Retry-After (seconds or a date); a longer one than maxRetryAfter is returned as is', async () => {
    const past = new Date(Date.now() - 60_000).toUTCString();
    const answers = [
      `HTTP/1.1 503 Service Unavailable\r\nretry-after: 0\r\ncontent-length: 4\r\nconnection: close\r\n\r\nbusy`,
      `HTTP/1.1 429 Too Many Requests\r\nretry-after: ${past}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`,
      OK,
    ];
    const o = await startRawOrigin((n) => answers[n] ?? OK);
    const r = recorder();
    const res = await request(`${o.url}/`, { pool, retry: { backoff: r.backoff } });
    assert.equal(res.status, 200);
    await res.text();
    assert.deepEqual(r.infos.map((i) => [i.attempt, i.status, i.retryAfter]), [[1, 503, 0], [2, 429, 0]]);
    await o.close();

    // connection: close — the server ends each connection after its answer; the next request must not meet that end.
    const slow = await startRawOrigin(() => 'HTTP/1.1 503 Service Unavailable\r\nretry-after: 3600\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    const r2 = recorder();
    const res2 = await request(`${slow.url}/`, { pool, retry: { backoff: r2.backoff, maxRetryAfter: 5000 } });
    assert.equal(res2.status, 503);
    assert.equal(slow.heads.length, 1);
    assert.equal(r2.infos.length, 0);
    // A POST's 503 is the answer.
    const post = await request(`${slow.url}/`, { method: 'POST', body: 'x', pool, retry: { backoff: r2.backoff } });
    assert.equal(post.status, 503);
    assert.equal(slow.heads.length, 2);
    await slow.close();
  });

  it('the default backoff honours Retry-After and grows exponentially with jitter otherwise', async () => {
    const { defaultBackoff } = await import('../../src/request/retry.js');
    assert.equal(defaultBackoff({ attempt: 1, error: undefined, status: 503, retryAfter: 1234 }), 1234);
    for (const [attempt, lo, hi] of [[1, 50, 100], [2, 100, 200], [3, 200, 400], [10, 2500, 5000]] as const) {
      const d = defaultBackoff({ attempt, error: undefined, status: undefined, retryAfter: undefined });
      assert.ok(d >= lo && d < hi, `attempt ${attempt}: ${d}`);
    }
    assert.equal(retryAfterMs('120', 0), 120_000);
    assert.equal(retryAfterMs('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('Wed, 21 Oct 2015 07:27:00 GMT')), 60_000);
    assert.equal(retryAfterMs('soon', 0), undefined);
    assert.equal(retryAfterMs(undefined, 0), undefined);
  });

  it('retry: false and retry: 0 send once; bad retry options are refused before sending', async () => {
    const o = await startRawOrigin(() => 'reset');
    await assert.rejects(request(`${o.url}/`, { pool, retry: false }), (e: unknown) => isBurrowError(e, 'ERR_CONNECTION_CLOSED'));
    await assert.rejects(request(`${o.url}/`, { pool, retry: 0 }), (e: unknown) => isBurrowError(e, 'ERR_CONNECTION_CLOSED'));
    assert.equal(o.heads.length, 2);
    for (const retry of [-1, 1.5, { limit: -1 }, { methods: 'GET' }, { statusCodes: [42] }, { backoff: 5 }, { maxRetryAfter: -1 }]) {
      await assert.rejects(request(`${o.url}/`, { pool, retry: retry as never }), (e: unknown) => isBurrowError(e, 'ERR_INVALID_OPTION'));
    }
    assert.equal(o.heads.length, 2);
    await o.close();
  });

  it('an abort during the backoff rejects at once and clears the timer', async () => {
    const o = await startRawOrigin(() => 'reset');
    const ac = new AbortController();
    const snap = resourceSnapshot();
    const p = request(`${o.url}/`, {
      pool,
      signal: ac.signal,
      retry: {
        backoff: () => {
          setImmediate(() => ac.abort(new Error('stop')));
          return 3_600_000;
        },
      },
    });
    await assert.rejects(p, (e: unknown) => isBurrowError(e, 'ERR_ABORTED') && (e.cause as Error).message === 'stop' && e.details['attempts'] === undefined);
    assert.equal(o.heads.length, 1);
    await assertNoLeaks(snap);
    await o.close();
  });

  it('timeouts.total ends a backoff too: one timer for every attempt', async () => {
    const o = await startRawOrigin(() => 'reset');
    const snap = resourceSnapshot();
    await assert.rejects(request(`${o.url}/`, { pool, timeouts: { total: 100 }, retry: { backoff: () => 3_600_000 } }), (e: unknown) => isBurrowError(e, 'ERR_REQUEST_TIMEOUT'));
    await assertNoLeaks(snap);
    await o.close();
  });
});
