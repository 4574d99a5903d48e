// Reconnection: retry counts and delays (Gun's semantics), custom retry
// functions, losing an established connection, postponed requests, and
// closing while connecting or waiting to retry.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import {
  open,
  isBurrowError,
  type BurrowError,
  type Connection,
  type DownEvent,
  type LookupFunction,
  type RetryFunction,
} from '../../src/index.js';
import { startScriptedServer, type ScriptedConnection, type ScriptedServer } from '../../src/testing/scripted.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';

function response(body: string, extra = ''): string {
  return `HTTP/1.1 200 OK\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
}

/** A port nothing listens on: bound, then released. */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, '127.0.0.1', resolve);
  });
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** A lookup resolving to 127.0.0.1 that records when it is called: one call per connection attempt. */
function countingLookup(): LookupFunction & { times: number[] } {
  const times: number[] = [];
  const fn = async (): Promise<Array<{ address: string; family: 4 }>> => {
    times.push(performance.now());
    return [{ address: '127.0.0.1', family: 4 }];
  };
  return Object.assign(fn, { times });
}

function closeEvent(conn: Connection): Promise<BurrowError | null> {
  return new Promise((resolve) => conn.once('close', resolve));
}

function nextEvent<K extends 'up' | 'down' | 'error'>(conn: Connection, name: K): Promise<unknown> {
  return new Promise((resolve) => (conn as unknown as NodeJS.EventEmitter).once(name, resolve));
}

/** The request target of a request head. */
function target(head: string): string {
  return head.split(' ')[1] ?? '';
}

/** A request made on a second, independent connection: once it is answered, every earlier connect has been accepted. */
async function probe(srv: ScriptedServer): Promise<void> {
  const p = open({ host: '127.0.0.1', port: srv.port, protocols: ['http'], retry: 0 });
  try {
    assert.equal((await p.awaitBody(p.get('/probe'))).body.toString(), 'probe');
  } finally {
    await p.close();
  }
}

describe('reconnect: failed connection attempts', () => {
  it('retry: 2, retryTimeout: 30 against a refused port: 3 attempts, an error event each, then close with the last error', async (t) => {
    const baseline = resourceSnapshot();
    const port = await freePort();
    const lookup = countingLookup();
    const conn = open({ host: 'refused.test', port, retry: 2, retryTimeout: 30, lookup });
    t.after(() => conn.close());
    const events: string[] = [];
    const errors: BurrowError[] = [];
    conn.on('error', (e) => {
      events.push('error');
      errors.push(e);
    });
    const closed = new Promise<BurrowError | null>((resolve) => {
      conn.once('close', (e) => {
        events.push('close');
        resolve(e);
      });
    });
    const upResult = conn.awaitUp().then(
      () => assert.fail('the connection came up'),
      (e: unknown) => e,
    );
    const closeErr = await closed;
    const upErr = await upResult;
    assert.equal(lookup.times.length, 3, 'attempts');
    assert.deepEqual(events, ['error', 'error', 'error', 'close']);
    for (const e of errors) {
      assert.equal(e.code, 'ERR_CONNECT');
      assert.equal(e.stage, 'tcp');
      assert.equal((e.cause as NodeJS.ErrnoException).code, 'ECONNREFUSED');
    }
    assert.equal(closeErr, errors[2]);
    assert.equal(upErr, errors[2]);
    // The first retry is immediate; the second waits retryTimeout.
    const [, t1 = 0, t2 = 0] = lookup.times;
    assert.ok(t2 - t1 >= 28, `second retry after ${t2 - t1} ms`);
    assert.equal(conn.state, 'closed');
    assert.equal(conn.info().retriesLeft, 0);
    // awaitUp after the end rejects at once with the last failure.
    await assert.rejects(conn.awaitUp(), (e: unknown) => e === errors[2]);
    await conn.close();
    await assertNoLeaks(baseline);
  });

  it('the first retry is immediate with the default retry function', async (t) => {
    // retryTimeout is far longer than the awaitUp timeout: only an immediate retry lets the connection give up in time.
    const port = await freePort();
    const lookup = countingLookup();
    const conn = open({ host: 'refused.test', port, retry: 1, retryTimeout: 60_000, lookup });
    t.after(() => conn.close());
    await assert.rejects(conn.awaitUp(2000), (e: unknown) => isBurrowError(e, 'ERR_CONNECT'));
    assert.equal(lookup.times.length, 2);
    await conn.close();
  });

  it('retry: 0 makes exactly one attempt and never calls retryFn', async (t) => {
    const baseline = resourceSnapshot();
    const port = await freePort();
    const lookup = countingLookup();
    let retryCalls = 0;
    const conn = open({
      host: 'refused.test',
      port,
      retry: 0,
      lookup,
      retryFn: (left) => {
        retryCalls++;
        return { retries: left - 1, timeout: 0 };
      },
    });
    t.after(() => conn.close());
    const errors: BurrowError[] = [];
    conn.on('error', (e) => errors.push(e));
    const closed = closeEvent(conn);
    await assert.rejects(conn.awaitUp(), (e: unknown) => isBurrowError(e, 'ERR_CONNECT'));
    assert.equal(await closed, errors[0]);
    assert.equal(lookup.times.length, 1);
    assert.equal(errors.length, 1);
    assert.equal(retryCalls, 0);
    await conn.close();
    await assertNoLeaks(baseline);
  });

  it('a custom retryFn gets (retriesLeft, { retry, retryTimeout }) and its timeout is honoured', async (t) => {
    const baseline = resourceSnapshot();
    const port = await freePort();
    const lookup = countingLookup();
    const calls: Array<[number, { retry: number; retryTimeout: number }]> = [];
    const retryFn: RetryFunction = (left, opts) => {
      calls.push([left, { ...opts }]);
      return { retries: left - 1, timeout: 60 };
    };
    const conn = open({ host: 'refused.test', port, retry: 2, retryTimeout: 7, retryFn, lookup });
    t.after(() => conn.close());
    await assert.rejects(conn.awaitUp(), (e: unknown) => isBurrowError(e, 'ERR_CONNECT'));
    assert.deepEqual(calls, [
      [2, { retry: 2, retryTimeout: 7 }],
      [1, { retry: 2, retryTimeout: 7 }],
    ]);
    assert.equal(lookup.times.length, 3);
    const [t0 = 0, t1 = 0, t2 = 0] = lookup.times;
    // Its 60 ms apply to every retry, the first one included (not the default's 0, nor retryTimeout).
    assert.ok(t1 - t0 >= 58, `first retry after ${t1 - t0} ms`);
    assert.ok(t2 - t1 >= 58, `second retry after ${t2 - t1} ms`);
    await conn.close();
    await assertNoLeaks(baseline);
  });

  it('a custom retryFn decides how many retries are left', async (t) => {
    const port = await freePort();
    const lookup = countingLookup();
    // Gives up after the first failure although retry is 10.
    const conn = open({ host: 'refused.test', port, retry: 10, lookup, retryFn: () => ({ retries: 0, timeout: 0 }) });
    t.after(() => conn.close());
    await assert.rejects(conn.awaitUp(), (e: unknown) => isBurrowError(e, 'ERR_CONNECT'));
    assert.equal(lookup.times.length, 2);
    await conn.close();
  });

  it('a retryFn whose decision is not a number of retries does not make the connection retry forever', async (t) => {
    const port = await freePort();
    const lookup = countingLookup();
    const conn = open({
      host: 'refused.test',
      port,
      retry: 1,
      lookup,
      retryFn: () => ({ retries: Number.NaN, timeout: 1 }),
    });
    t.after(() => conn.close());
    const err: unknown = await conn.awaitUp(1000).then(
      () => assert.fail('the connection came up'),
      (e: unknown) => e,
    );
    assert.ok(isBurrowError(err));
    assert.notEqual(err.code, 'ERR_AWAIT_TIMEOUT', `still retrying after ${lookup.times.length} attempts (retriesLeft ${conn.info().retriesLeft})`);
    assert.equal(conn.state, 'closed');
  });

  it('a retryFn that throws ends the connection with an error instead of an unhandled rejection', { timeout: 5000 }, async (t) => {
    // Waits for whichever comes first: the connection closing (right) or an
    // unhandled rejection (the failure leaves the connection stuck in
    // 'connecting', with no timer that would ever end it).
    let onUnhandled: ((reason: unknown) => void) | undefined;
    t.after(() => {
      if (onUnhandled) process.off('unhandledRejection', onUnhandled);
    });
    const unhandled = new Promise<unknown>((resolve) => {
      onUnhandled = resolve;
      process.on('unhandledRejection', onUnhandled);
    });
    const port = await freePort();
    const thrown = new Error('bad strategy');
    const conn = open({
      host: '127.0.0.1',
      port,
      retry: 2,
      retryFn: () => {
        throw thrown;
      },
    });
    t.after(() => conn.close());
    const up = conn.awaitUp(Infinity).then(
      () => 'up',
      (e: unknown) => e,
    );
    const outcome = await Promise.race([
      closeEvent(conn).then((e) => ({ closed: e })),
      unhandled.then((reason) => ({ unhandled: reason })),
    ]);
    assert.ok('closed' in outcome, `unhandled rejection instead of a close (state ${conn.state}): ${String((outcome as { unhandled: unknown }).unhandled)}`);
    assert.ok(isBurrowError(outcome.closed), 'close carries an error');
    assert.equal(outcome.closed.cause, thrown, 'the error keeps what retryFn threw as its cause');
    assert.equal(conn.state, 'closed');
    const upErr = await up;
    assert.equal(upErr, outcome.closed);
  });

  it('close() while waiting to retry clears the timer and fails pending streams with ERR_CLOSED', async (t) => {
    const baseline = resourceSnapshot();
    const port = await freePort();
    const conn = open({ host: '127.0.0.1', port, retry: 3, retryFn: (left) => ({ retries: left - 1, timeout: 60_000 }) });
    t.after(() => conn.close());
    const ref = conn.get('/');
    const up = conn.awaitUp(Infinity);
    const closed = closeEvent(conn);
    await nextEvent(conn, 'error');
    // The retry timer is armed right after the error event.
    assert.equal(conn.state, 'waiting-retry');
    assert.equal(conn.streamInfo(ref)?.state, 'pending');
    await conn.close();
    assert.equal(await closed, null);
    assert.equal(conn.state, 'closed');
    const m = await conn.await(ref);
    assert.ok(m.type === 'error' && m.error.code === 'ERR_CLOSED', m.type);
    await assert.rejects(up, (e: unknown) => isBurrowError(e, 'ERR_CLOSED'));
    // Requests after close fail at once.
    const late = await conn.await(conn.get('/'));
    assert.ok(late.type === 'error' && late.error.code === 'ERR_CLOSED');
    await assertNoLeaks(baseline);
  });

  it('shutdown() before up closes without connecting further', async (t) => {
    const baseline = resourceSnapshot();
    const srv = await startScriptedServer({
      onConnection: async (c) => {
        await c.readRequestHead();
        await c.write(response('probe'));
      },
    });
    t.after(() => srv.close());
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let lookupCalls = 0;
    let called!: () => void;
    const lookupCalled = new Promise<void>((resolve) => {
      called = resolve;
    });
    const conn = open({
      host: 'gated.test',
      port: srv.port,
      retry: 3,
      lookup: async () => {
        lookupCalls++;
        called();
        await gate;
        return [{ address: '127.0.0.1', family: 4 }];
      },
    });
    t.after(() => conn.close());
    const ref = conn.get('/');
    const closed = closeEvent(conn);
    await lookupCalled;
    await conn.shutdown();
    assert.equal(await closed, null);
    assert.equal(conn.state, 'closed');
    const m = await conn.await(ref);
    assert.ok(m.type === 'error' && (m.error.code === 'ERR_CLOSED' || m.error.code === 'ERR_CLOSING'), m.type);
    // The lookup answers after the shutdown: nothing may be dialled.
    release();
    await probe(srv);
    assert.equal(srv.connections.length, 1, 'only the probe connected');
    assert.equal(lookupCalls, 1);
    await srv.close();
    await assertNoLeaks(baseline);
  });
});

describe('reconnect: losing an established connection', () => {
  for (const how of ['end', 'reset'] as const) {
    it(`server ${how === 'end' ? 'ends' : 'resets'} the connection: down lists the killed streams, then up again; nothing is re-sent`, async (t) => {
      const baseline = resourceSnapshot();
      const targets: string[][] = [];
      let aReceived!: () => void;
      const aDone = new Promise<void>((resolve) => {
        aReceived = resolve;
      });
      const srv = await startScriptedServer({
        onConnection: async (c: ScriptedConnection) => {
          const seen: string[] = [];
          targets.push(seen);
          if (targets.length === 1) {
            seen.push(target(await c.readRequestHead()));
            seen.push(target(await c.readRequestHead()));
            await c.write(response('a'));
            await aDone;
            if (how === 'end') c.end();
            else c.reset();
            return;
          }
          seen.push(target(await c.readRequestHead()));
          await c.write(response('c'));
        },
      });
      t.after(() => srv.close());
      const conn = open({ host: '127.0.0.1', port: srv.port, protocols: ['http'], retry: 3, retryTimeout: 10 });
      t.after(() => conn.close());
      const events: string[] = [];
      conn.on('up', () => events.push('up'));
      conn.on('down', () => events.push('down'));
      const down = nextEvent(conn, 'down') as Promise<DownEvent>;
      const a = conn.get('/a');
      const b = conn.get('/b');
      assert.equal((await conn.awaitBody(a)).body.toString(), 'a');
      aReceived();
      const mb = await conn.await(b);
      assert.ok(mb.type === 'error', mb.type);
      assert.equal(mb.error.code, 'ERR_CONNECTION_CLOSED');
      const d = await down;
      assert.equal(d.protocol, 'http');
      assert.equal(d.willRetry, true);
      assert.equal(d.reason.code, 'ERR_CONNECTION_CLOSED');
      assert.deepEqual(d.killedStreams.map((r) => r.key), [b.key]);
      assert.equal(await conn.awaitUp(), 'http');
      const c = conn.get('/c');
      assert.equal((await conn.awaitBody(c)).body.toString(), 'c');
      assert.deepEqual(events, ['up', 'down', 'up']);
      assert.deepEqual(targets, [['/a', '/b'], ['/c']]);
      assert.equal(targets.flat().filter((t) => t === '/b').length, 1, '/b was sent once');
      assert.equal(conn.info().retriesLeft, 3);
      await conn.close();
      await srv.close();
      await assertNoLeaks(baseline);
    });
  }

  it('requests made while reconnecting are postponed and sent once the connection is up again', async (t) => {
    const baseline = resourceSnapshot();
    const perConnection: string[][] = [];
    const srv = await startScriptedServer({
      onConnection: async (c) => {
        const seen: string[] = [];
        perConnection.push(seen);
        const first = perConnection.length === 1;
        seen.push(target(await c.readRequestHead()));
        if (first) {
          // Answer, then close the idle connection.
          await c.write(response('first'));
          c.end();
          return;
        }
        await c.write(response('later'));
      },
    });
    t.after(() => srv.close());
    let lookups = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let secondLookup!: () => void;
    const reconnecting = new Promise<void>((resolve) => {
      secondLookup = resolve;
    });
    const conn = open({
      host: 'flaky.test',
      port: srv.port,
      protocols: ['http'],
      retry: 2,
      lookup: async () => {
        lookups++;
        if (lookups === 2) {
          secondLookup();
          await gate;
        }
        return [{ address: '127.0.0.1', family: 4 }];
      },
    });
    t.after(() => conn.close());
    const down = nextEvent(conn, 'down') as Promise<DownEvent>;
    assert.equal((await conn.awaitBody(conn.get('/first'))).body.toString(), 'first');
    const d = await down;
    assert.deepEqual(d.killedStreams, []);
    assert.equal(d.willRetry, true);
    await reconnecting;
    assert.equal(conn.state, 'connecting');
    const later = conn.get('/later');
    assert.equal(conn.streamInfo(later)?.state, 'pending');
    assert.equal(srv.connections.length, 1);
    const up = nextEvent(conn, 'up');
    release();
    await up;
    assert.equal((await conn.awaitBody(later)).body.toString(), 'later');
    assert.deepEqual(perConnection, [['/first'], ['/later']]);
    await conn.close();
    await srv.close();
    await assertNoLeaks(baseline);
  });

  it('with retry: 0 a lost connection is not re-established: down (willRetry false), then close with the reason', async (t) => {
    const baseline = resourceSnapshot();
    const srv: ScriptedServer = await startScriptedServer({
      onConnection: async (c) => {
        const index = srv.connections.indexOf(c);
        await c.readRequestHead();
        if (index === 0) c.destroy();
        else await c.write(response('probe'));
      },
    });
    t.after(() => srv.close());
    const conn = open({ host: '127.0.0.1', port: srv.port, protocols: ['http'], retry: 0 });
    t.after(() => conn.close());
    const down = nextEvent(conn, 'down') as Promise<DownEvent>;
    const closed = closeEvent(conn);
    const ref = conn.get('/');
    const m = await conn.await(ref);
    assert.ok(m.type === 'error' && m.error.code === 'ERR_CONNECTION_CLOSED');
    const d = await down;
    assert.equal(d.willRetry, false);
    assert.deepEqual(d.killedStreams.map((r) => r.key), [ref.key]);
    assert.equal(await closed, d.reason);
    assert.equal(conn.state, 'closed');
    await assert.rejects(conn.awaitUp(), (e: unknown) => e === d.reason);
    await probe(srv);
    assert.equal(srv.connections.length, 2, 'no reconnection: only the probe connected again');
    await srv.close();
    await assertNoLeaks(baseline);
  });

  it('reconnects at once after a loss, then lets retryFn pace the failed attempts until it gives up', async (t) => {
    const baseline = resourceSnapshot();
    let srv: ScriptedServer | undefined = await startScriptedServer({
      onConnection: async (c) => {
        await c.readRequestHead();
        await c.write(response('ok'));
      },
    });
    t.after(() => srv?.close());
    const lookup = countingLookup();
    const calls: number[] = [];
    const conn = open({
      host: 'gone.test',
      port: srv.port,
      protocols: ['http'],
      retry: 2,
      lookup,
      retryFn: (left) => {
        calls.push(left);
        return { retries: left - 1, timeout: 5 };
      },
    });
    t.after(() => conn.close());
    const errors: BurrowError[] = [];
    conn.on('error', (e) => errors.push(e));
    assert.equal((await conn.awaitBody(conn.get('/'))).body.toString(), 'ok');
    const down = nextEvent(conn, 'down') as Promise<DownEvent>;
    const closed = closeEvent(conn);
    // The server goes away for good: its connections are destroyed and the port refuses.
    await srv.close();
    srv = undefined;
    assert.equal((await down).willRetry, true);
    const closeErr = await closed;
    assert.ok(isBurrowError(closeErr, 'ERR_CONNECT'));
    assert.equal(closeErr, errors.at(-1));
    // One lookup for the first connection, then the immediate reconnection and one per retry.
    assert.deepEqual(calls, [2, 1]);
    assert.equal(lookup.times.length, 1 + 1 + 2);
    assert.equal(errors.length, 3);
    await conn.close();
    await assertNoLeaks(baseline);
  });

  it('close() from a down listener stops the reconnection for good', async (t) => {
    const baseline = resourceSnapshot();
    const srv: ScriptedServer = await startScriptedServer({
      onConnection: async (c) => {
        const index = srv.connections.indexOf(c);
        await c.readRequestHead();
        if (index === 0) {
          await c.write(response('bye'));
          c.end();
          return;
        }
        await c.write(response('probe'));
      },
    });
    t.after(() => srv.close());
    const conn = open({ host: '127.0.0.1', port: srv.port, protocols: ['http'], retry: 3 });
    t.after(() => conn.close());
    let ups = 0;
    const closes: Array<BurrowError | null> = [];
    conn.on('up', () => ups++);
    conn.on('close', (e) => closes.push(e));
    const closed = closeEvent(conn);
    conn.on('down', () => {
      void conn.close();
    });
    try {
      assert.equal((await conn.awaitBody(conn.get('/'))).body.toString(), 'bye');
      assert.equal(await closed, null);
      await probe(srv);
      assert.equal(srv.connections.length, 2, 'no reconnection after close(): only the probe connected again');
      assert.equal(conn.state, 'closed');
      assert.equal(ups, 1);
      assert.deepEqual(closes, [null]);
    } finally {
      await conn.close();
      await srv.close();
    }
    await assertNoLeaks(baseline);
  });
});

describe('reconnect: regression guards', () => {
  it('a server that accepts and closes at once cannot cause a hot reconnect loop (retries stay bounded)', async () => {
    let accepted = 0;
    const server = net.createServer((s) => {
      accepted++;
      s.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const conn = open({ host: '127.0.0.1', port, protocols: ['http'], retry: 2, retryTimeout: 5 });
    const closed = new Promise<unknown>((resolve) => conn.once('close', resolve));
    const reason = await closed;
    assert.ok(isBurrowError(reason), String(reason));
    // The first connection plus at most `retry` reconnections, however fast the server hangs up.
    assert.ok(accepted <= 3, `accepted ${accepted} connections`);
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});
