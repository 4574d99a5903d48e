// tracing:burrow:dns and the handler's dnsStart/dnsEnd: every lookup published ends exactly once, also
// when it is given up before it answers (its timeout, close(), an aborted request).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dc from 'node:diagnostics_channel';
import { open, request, Pool, type BurrowError, type DnsLookupContext, type EventHandler, type LookupFunction } from '../../src/index.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';
import { startServers, type Servers } from './chains.js';

/** Lookups as published: `start host@hop` then `end host@hop CODE` (an error) or `end host@hop addresses`. */
function watchDns(): { readonly log: string[]; readonly handler: EventHandler; readonly ended: Promise<void>; stop(): void } {
  const log: string[] = [];
  let onEnd = (): void => undefined;
  const ended = new Promise<void>((resolve) => {
    onEnd = resolve;
  });
  const tc = dc.tracingChannel<unknown, DnsLookupContext>('burrow:dns');
  const line = (what: string, c: DnsLookupContext): string =>
    `${what} ${c.host}@${c.hop.index}${what.endsWith('start') ? '' : c.error !== undefined ? ` ${(c.error as BurrowError).code ?? 'error'}` : ` ${(c.addresses ?? []).join(',')}`}`;
  const sub = {
    start: (c: DnsLookupContext) => log.push(line('start', c)),
    end: () => undefined,
    asyncStart: () => undefined,
    asyncEnd: (c: DnsLookupContext) => {
      log.push(line('end', c));
      onEnd();
    },
    error: (c: DnsLookupContext) => log.push(line('error', c)),
  };
  tc.subscribe(sub);
  const handler: EventHandler = {
    dnsStart: (c) => log.push(line('handler start', c)),
    dnsEnd: (c) => log.push(line('handler end', c)),
  };
  return { log, handler, ended, stop: () => tc.unsubscribe(sub) };
}

/** A lookup that never answers `silentHost` and answers 127.0.0.1 for any other name. */
function lookupNeverAnswering(silentHost: string): { readonly lookup: LookupFunction; readonly asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    lookup: (host) => {
      asked.push(host);
      return host === silentHost ? new Promise(() => undefined) : Promise.resolve([{ address: '127.0.0.1', family: 4 }]);
    },
  };
}

describe('DNS lookups: every trace start ends once', () => {
  let s: Servers;
  before(async () => {
    s = await startServers();
  });
  after(() => s.close());

  it('a lookup that never answers, past the lookup timeout: the trace ends with ERR_LOOKUP_TIMEOUT', { timeout: 5000 }, async () => {
    const baseline = resourceSnapshot();
    const w = watchDns();
    const { lookup } = lookupNeverAnswering('silent.test');
    const conn = open({ host: 'silent.test', port: 1, protocols: ['http'], retry: 0, lookup, lookupTimeout: 30, connectTimeout: 30, events: w.handler });
    try {
      const closed = await new Promise<BurrowError | null>((resolve) => conn.once('close', resolve));
      assert.equal(closed?.code, 'ERR_LOOKUP_TIMEOUT');
      await w.ended;
    } finally {
      await conn.close();
      w.stop();
    }
    assert.deepEqual(w.log, [
      'handler start silent.test@0', 'start silent.test@0',
      'handler end silent.test@0 ERR_LOOKUP_TIMEOUT', 'error silent.test@0 ERR_LOOKUP_TIMEOUT', 'end silent.test@0 ERR_LOOKUP_TIMEOUT',
    ]);
    await assertNoLeaks(baseline);
  });

  it('close() while a lookup is outstanding: the trace ends with ERR_CLOSED', { timeout: 5000 }, async () => {
    const baseline = resourceSnapshot();
    const w = watchDns();
    const { lookup, asked } = lookupNeverAnswering('silent.test');
    const conn = open({ host: 'silent.test', port: 1, protocols: ['http'], retry: 0, lookup, events: w.handler });
    try {
      assert.deepEqual(asked, ['silent.test']);
      await conn.close();
      await w.ended;
    } finally {
      w.stop();
    }
    assert.deepEqual(w.log, [
      'handler start silent.test@0', 'start silent.test@0',
      'handler end silent.test@0 ERR_CLOSED', 'error silent.test@0 ERR_CLOSED', 'end silent.test@0 ERR_CLOSED',
    ]);
    await assertNoLeaks(baseline);
  });

  it("request()'s total timeout while the first hop's lookup is outstanding: the trace ends", { timeout: 5000 }, async () => {
    const baseline = resourceSnapshot();
    const w = watchDns();
    const { lookup } = lookupNeverAnswering('silent.test');
    const pool = new Pool();
    try {
      await assert.rejects(
        request('http://silent.test/', { pool, lookup, timeouts: { total: 30 }, events: w.handler }),
        (e: BurrowError) => e.code === 'ERR_REQUEST_TIMEOUT',
      );
      await w.ended;
    } finally {
      await pool.close();
      w.stop();
    }
    assert.equal(w.log.length, 5, w.log.join('\n'));
    assert.deepEqual(w.log.slice(0, 2), ['handler start silent.test@0', 'start silent.test@0']);
    assert.ok(w.log.slice(2).every((l) => / silent\.test@0 ERR_/.test(l) && !l.includes('start')), w.log.join('\n'));
    await assertNoLeaks(baseline);
  });

  it('an aborted request while a socks5:// hop\'s lookup (made by the client) is outstanding: the trace ends with the abort', { timeout: 5000 }, async () => {
    const baseline = resourceSnapshot();
    const w = watchDns();
    const { lookup } = lookupNeverAnswering('silent.test');
    const ac = new AbortController();
    const pool = new Pool();
    try {
      const pending = request('http://silent.test/', {
        via: [`socks5://localhost:${s.socks.port}`],
        pool,
        lookup,
        signal: ac.signal,
        events: { ...w.handler, dnsStart: (c) => {
          w.handler.dnsStart?.(c);
          queueMicrotask(() => ac.abort());
        } },
      });
      await assert.rejects(pending, (e: BurrowError) => e.code === 'ERR_ABORTED');
      await w.ended;
    } finally {
      await pool.close();
      w.stop();
    }
    assert.deepEqual(w.log, [
      'handler start silent.test@1', 'start silent.test@1',
      'handler end silent.test@1 ERR_ABORTED', 'error silent.test@1 ERR_ABORTED', 'end silent.test@1 ERR_ABORTED',
    ]);
    await assertNoLeaks(baseline);
  });
});
