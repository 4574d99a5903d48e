// The events handler option (open() and request()) and the burrow:request tracing channel.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dc from 'node:diagnostics_channel';
import { open, request, Pool, type BurrowError, type EventHandler, type RequestCallContext } from '../../src/index.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';
import { startServers, type Servers } from './chains.js';

describe('events handler', () => {
  let s: Servers;
  before(async () => {
    s = await startServers();
  });
  after(() => s.close());

  it('a throwing handler method never breaks the connection: each throw is one ERR_CALLBACK error event', async () => {
    const baseline = resourceSnapshot();
    let calls = 0;
    const conn = open({
      host: 'localhost', port: s.proxyTls.port, transport: 'tls', tls: { ca: s.pki.ca }, protocols: ['http'], retry: 0,
      events: {
        layerUp: () => {
          calls++;
          throw new Error('handler bug');
        },
      },
    });
    const errors: BurrowError[] = [];
    conn.on('error', (e) => errors.push(e));
    try {
      const t = conn.connect({ host: 'localhost', port: s.https.port, transport: 'tls', tls: { ca: s.pki.ca }, protocols: ['http'] });
      assert.equal((await conn.awaitBody(conn.get('/', {}, { tunnel: t }), 3000)).body.toString(), 'hello');
    } finally {
      await conn.close();
    }
    assert.equal(calls, 6, 'tcp, tls, http1, http1-connect, tls, http1');
    assert.equal(errors.length, calls);
    assert.ok(errors.every((e) => e.code === 'ERR_CALLBACK' && e.details['callback'] === "the events handler's layerUp" && (e.cause as Error).message === 'handler bug'));
    await assertNoLeaks(baseline);
  });

  it('methods that throw while open() runs (connectionCreated, layerStart, dnsStart) are ERR_CALLBACK events for a listener added after it', async () => {
    const baseline = resourceSnapshot();
    const thrower = (name: string) => () => {
      throw new Error(`${name} bug`);
    };
    const conn = open({
      host: 'localhost', port: s.http.port, protocols: ['http'], retry: 0,
      lookup: async () => [{ address: '127.0.0.1', family: 4 }],
      events: { connectionCreated: thrower('connectionCreated'), layerStart: thrower('layerStart'), dnsStart: thrower('dnsStart') },
    });
    const errors: BurrowError[] = [];
    conn.on('error', (e) => errors.push(e));
    try {
      assert.equal((await conn.awaitBody(conn.get('/'), 3000)).body.toString(), 'hello');
    } finally {
      await conn.close();
    }
    assert.ok(errors.every((e) => e.code === 'ERR_CALLBACK'), errors.map((e) => e.message).join('\n'));
    const callbacks = errors.map((e) => String(e.details['callback']));
    for (const m of ['connectionCreated', 'layerStart', 'dnsStart']) assert.ok(callbacks.includes(`the events handler's ${m}`), `${m}: ${callbacks.join(', ')}`);
    assert.equal(errors.find((e) => e.details['callback'] === "the events handler's connectionCreated")?.cause instanceof Error, true);
    await assertNoLeaks(baseline);
  });

  it("dnsStart/dnsEnd that throw for a socks5:// hop's lookup (made before the route's connection) never fail the request: re-thrown on the next tick", async () => {
    const baseline = resourceSnapshot();
    const uncaught: unknown[] = [];
    const listeners = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    const capture = (e: unknown): void => {
      uncaught.push(e);
    };
    process.on('uncaughtException', capture);
    const pool = new Pool();
    try {
      const res = await request(`http://localhost:${s.http.port}/`, {
        via: [`socks5://localhost:${s.socks.port}`],
        pool,
        lookup: async () => [{ address: '127.0.0.1', family: 4 }],
        events: {
          dnsStart: (c) => {
            throw new Error(`dnsStart ${c.host}@${c.hop.index}`);
          },
          dnsEnd: (c) => {
            throw new Error(`dnsEnd ${c.host}@${c.hop.index}`);
          },
        },
      });
      assert.equal(await res.text(), 'hello');
      await new Promise<void>((resolve) => setImmediate(resolve));
    } finally {
      process.removeListener('uncaughtException', capture);
      for (const l of listeners) process.on('uncaughtException', l);
      await pool.close();
    }
    // The socks5:// hop's lookup of the origin (hop 1), then the connection's of the first hop (hop 0).
    assert.deepEqual(uncaught.map((e) => (e as Error).message), ['dnsStart localhost@1', 'dnsEnd localhost@1', 'dnsStart localhost@0', 'dnsEnd localhost@0']);
    await assertNoLeaks(baseline);
  });

  it("an invalid events option is ERR_INVALID_OPTION", () => {
    assert.throws(() => open({ host: 'localhost', port: 1, events: 'no' as unknown as EventHandler }), (e: BurrowError) => e.code === 'ERR_INVALID_OPTION' && e.details['option'] === 'events');
  });

  it("request(): the route's layers go to the handler of the request that opened it, stream events to each request's own", async () => {
    const pool = new Pool();
    const seen: string[] = [];
    const handler = (who: string): EventHandler => ({
      layerUp: (e) => seen.push(`${who} layer ${e.layer.kind}@${e.layer.hop.index}`),
      streamStart: (e) => seen.push(`${who} start ${e.method} ${e.target}`),
      streamEnd: (e) => seen.push(`${who} end ${e.bytes}`),
      dnsEnd: (e) => seen.push(`${who} dns ${e.host}@${e.hop.index}`),
    });
    const via = [{ url: `https://localhost:${s.proxyTls.port}`, tls: { ca: s.pki.ca } }];
    try {
      const a = await request(`http://localhost:${s.http.port}/`, { via, pool, events: handler('A') });
      await a.text();
      const b = await request(`http://localhost:${s.http.port}/`, { via, pool, events: handler('B') });
      await b.text();
      assert.equal(b.info.reused, true);
    } finally {
      await pool.close();
    }
    assert.deepEqual(seen.filter((l) => l.startsWith('A')), [
      'A dns localhost@0', 'A layer tcp@0', 'A layer tls@0', 'A layer http1@0', `A start CONNECT localhost:${s.http.port}`,
      'A layer http1-connect@0', 'A layer http1@1', 'A start GET /', 'A end 5',
    ]);
    assert.deepEqual(seen.filter((l) => l.startsWith('B')), ['B start GET /', 'B end 5']);
  });

  it("request(): a request without events on a pooled connection opened by one with events sends none of its stream events to that handler", async () => {
    const pool = new Pool();
    const seen: string[] = [];
    const a: EventHandler = {
      streamStart: (e) => seen.push(`start ${e.target} [${e.stream.join(',')}]`),
      streamEnd: (e) => seen.push(`end [${e.stream.join(',')}]`),
    };
    let bStream: readonly number[] = [];
    try {
      const ra = await request(`http://localhost:${s.http.port}/`, { pool, events: a });
      await ra.text();
      const rb = await request(`http://localhost:${s.http.port}/status/201`, { pool, headers: { authorization: 'Bearer B-ONLY' } });
      await rb.text();
      assert.equal(rb.info.reused, true);
      assert.equal(rb.info.connection, ra.info.connection);
      bStream = rb.info.stream;
      // The connection's own handler (the low-level API) still gets the streams given none.
      const conn = open({ host: 'localhost', port: s.http.port, protocols: ['http'], retry: 0, events: a });
      try {
        await conn.awaitBody(conn.get('/low-level'), 3000);
      } finally {
        await conn.close();
      }
    } finally {
      await pool.close();
    }
    assert.equal(seen.filter((l) => l.includes(`[${bStream.join(',')}]`)).length, 0, seen.join('\n'));
    assert.deepEqual(seen.map((l) => l.replace(/ \[[\d,]+\]$/, '')), ['start /', 'end', 'start /low-level', 'end']);
  });

  it('tracing:burrow:request: start with the call, asyncEnd with the response (the call\'s async context), error on failure', async () => {
    const tc = dc.tracingChannel<unknown, RequestCallContext>('burrow:request');
    const log: string[] = [];
    const sub = {
      start: (c: RequestCallContext) => log.push(`start ${c.method} ${c.url} via ${c.via.join(',')}`),
      end: () => undefined,
      asyncStart: () => undefined,
      asyncEnd: (c: RequestCallContext) => log.push(`asyncEnd ${c.response?.status ?? '-'} stream ${c.response?.stream.length ?? 0}`),
      error: (c: RequestCallContext) => log.push(`error ${(c.error as BurrowError).code}`),
    };
    tc.subscribe(sub);
    const pool = new Pool();
    try {
      await (await request(`http://localhost:${s.http.port}/`, { via: `http://u:secret@localhost:${s.proxy.port}`, pool })).text();
      await assert.rejects(request(`http://localhost:${s.http.port}/`, { via: [`http://localhost:${s.refusing.port}`], pool }));
    } finally {
      tc.unsubscribe(sub);
      await pool.close();
    }
    assert.deepEqual(log, [
      `start GET http://localhost:${s.http.port}/ via http://u:***@localhost:${s.proxy.port}`,
      'asyncEnd 200 stream 2',
      `start GET http://localhost:${s.http.port}/ via http://localhost:${s.refusing.port}`,
      'error ERR_CONNECT_STATUS',
      'asyncEnd - stream 0',
    ]);
  });
});
