// Regressions of the async context burrow's events are published in, with a store bound to
// tracing:burrow:request:start (as APM tools do): a stream's events run in the context of the request that
// started it, a connection's events in the context of the request that opened it, on pooled connections too.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import dc from 'node:diagnostics_channel';
import { CHANNEL_NAMES, open, request, Pool, type RequestCallContext } from '../../src/index.js';
import { within } from '../regressions/util.js';
import { startServers, type Servers } from './chains.js';

interface Seen {
  readonly channel: string;
  readonly connection: number;
  readonly stream: readonly number[] | undefined;
  readonly store: string | undefined;
}

/** Records every burrow message with the store current when it was published. */
function watch(): { readonly seen: Seen[]; readonly closed: (connection: number) => Promise<void>; stop(): void } {
  const als = new AsyncLocalStorage<string>();
  const tc = dc.tracingChannel<unknown, RequestCallContext>('burrow:request');
  // The store of a request() call: its URL's path.
  const transform = (ctx: RequestCallContext): string => new URL(ctx.url).pathname;
  tc.start.bindStore(als, transform);
  const noop = (): void => undefined;
  const tracing = { start: noop, end: noop, asyncStart: noop, asyncEnd: noop, error: noop };
  tc.subscribe(tracing);
  const seen: Seen[] = [];
  const waiters = new Map<number, () => void>();
  const subs = CHANNEL_NAMES.map((channel) => {
    const fn = (m: unknown): void => {
      const msg = m as { connection: number; stream?: readonly number[] };
      seen.push({ channel, connection: msg.connection, stream: msg.stream, store: als.getStore() });
      if (channel === 'burrow:connection:closed') waiters.get(msg.connection)?.();
    };
    dc.subscribe(channel, fn);
    return [channel, fn] as const;
  });
  return {
    seen,
    closed: (connection) => new Promise<void>((resolve) => waiters.set(connection, resolve)),
    stop: () => {
      for (const [channel, fn] of subs) dc.unsubscribe(channel, fn);
      tc.unsubscribe(tracing);
      tc.start.unbindStore(als);
    },
  };
}

const same = (a: readonly number[] | undefined, b: readonly number[]): boolean => a !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);

describe('the async context of events', () => {
  let s: Servers;
  before(async () => {
    s = await startServers();
  });
  after(() => s.close());

  it("HTTP/1.1, pooled: each request's stream events run in its own context; the connection's in the context of the request that opened it", async () => {
    const w = watch();
    const pool = new Pool();
    try {
      const a = await request(`http://localhost:${s.http.port}/first`, { via: [`http://localhost:${s.proxy.port}`], pool });
      await a.text();
      const b = await request(`http://localhost:${s.http.port}/second`, { via: [`http://localhost:${s.proxy.port}`], pool });
      await b.text();
      assert.equal(b.info.reused, true);
      const conn = a.info.connection;
      const mine = w.seen.filter((e) => e.connection === conn);
      const streamOf = (stream: readonly number[]): Seen[] => mine.filter((e) => same(e.stream, stream));
      assert.ok(streamOf(b.info.stream).length >= 4, 'start, headers-sent, response, end');
      assert.deepEqual([...new Set(streamOf(a.info.stream).map((e) => e.store))], ['/first']);
      assert.deepEqual([...new Set(streamOf(b.info.stream).map((e) => e.store))], ['/second']);
      const connectionLevel = mine.filter((e) => e.stream === undefined);
      assert.ok(connectionLevel.length > 0);
      assert.deepEqual([...new Set(connectionLevel.map((e) => e.store))], ['/first']);
    } finally {
      await pool.close();
      w.stop();
    }
  });

  it('HTTP/2, pooled: the idle close of a connection runs in the context of the request that opened it, not of the one that released it last', async () => {
    const w = watch();
    const pool = new Pool({ idleTimeout: 20 });
    try {
      // Both at once: the first opens the connection, the second shares it and ends last (its release
      // makes the connection idle, and arms the idle timer).
      const [a, b] = await Promise.all([
        request(`https://localhost:${s.h2.port}/opener`, { tls: { ca: s.pki.ca }, pool }),
        request(`https://localhost:${s.h2.port}/delay/30`, { tls: { ca: s.pki.ca }, pool }),
      ]);
      assert.equal(b.info.connection, a.info.connection);
      const closed = w.closed(a.info.connection);
      await a.text();
      await b.text();
      await within(closed, 3000, 'the idle connection closed');
      const mine = w.seen.filter((e) => e.connection === a.info.connection);
      const closing = mine.filter((e) => e.channel === 'burrow:layer:down' || e.channel === 'burrow:connection:closed');
      assert.deepEqual(closing.map((e) => e.channel), ['burrow:layer:down', 'burrow:layer:down', 'burrow:layer:down', 'burrow:connection:closed']);
      assert.deepEqual([...new Set(closing.map((e) => e.store))], ['/opener']);
      assert.deepEqual([...new Set(mine.filter((e) => same(e.stream, b.info.stream)).map((e) => e.store))], ['/delay/30']);
    } finally {
      await pool.close();
      w.stop();
    }
  });

  it('open() outside any request: its events carry no store', async () => {
    const w = watch();
    try {
      const conn = open({ host: 'localhost', port: s.http.port, protocols: ['http'], retry: 0 });
      await conn.awaitBody(conn.get('/'), 3000);
      await conn.close();
      const mine = w.seen.filter((e) => e.connection === conn.id);
      assert.ok(mine.some((e) => e.channel === 'burrow:connection:closed'));
      assert.ok(mine.every((e) => e.store === undefined));
    } finally {
      w.stop();
    }
  });
});
