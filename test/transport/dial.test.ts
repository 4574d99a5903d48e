// The TCP transport: DNS through the `lookup` option, connect failures and
// timeouts, address failover, IP literals. Every failure is typed, names the
// hop, and leaves no socket, lookup or timer behind.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as net from 'node:net';
import { Worker } from 'node:worker_threads';
import { open, isBurrowError, type BurrowError, type Connection, type LookupFunction, type OpenOptions } from '../../src/index.js';
import { startOrigin, type TestOrigin } from '../../src/testing/origin.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';

/** A port nothing listens on: bound, then released. */
async function freePort(host = '127.0.0.1'): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, host, resolve);
  });
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

const accepted = new WeakMap<net.Server, Set<net.Socket>>();

async function listen(host: string, port = 0): Promise<net.Server> {
  const sockets = new Set<net.Socket>();
  const s = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => sockets.delete(socket));
  });
  accepted.set(s, sockets);
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(port, host, resolve);
  });
  return s;
}

async function closeServer(s: net.Server): Promise<void> {
  for (const socket of accepted.get(s) ?? []) socket.destroy();
  await new Promise<void>((resolve) => s.close(() => resolve()));
}

/** True when this host can listen on ::1. */
async function hasIpv6Loopback(): Promise<boolean> {
  try {
    await closeServer(await listen('::1'));
    return true;
  } catch {
    return false;
  }
}

/**
 * Waits for the connection to give up (retry: 0): `awaitUp` must reject, and
 * the `close` event must carry the same error.
 */
async function failure(conn: Connection): Promise<BurrowError> {
  const closed = new Promise<BurrowError | null>((resolve) => conn.once('close', resolve));
  const err: unknown = await conn.awaitUp().then(
    () => assert.fail('the connection came up'),
    (e: unknown) => e,
  );
  assert.ok(isBurrowError(err), `expected a BurrowError, got ${String(err)}`);
  assert.equal(await closed, err, 'close event carries the failure');
  assert.equal(conn.state, 'closed');
  return err;
}

function hop(host: string, port: number): object {
  return { index: 0, kind: 'origin', host, port, transport: 'tcp' };
}

function fixedLookup(...addresses: string[]): LookupFunction & { calls: string[] } {
  const calls: string[] = [];
  const fn = async (host: string) => {
    calls.push(host);
    return addresses.map((address) => ({ address, family: net.isIP(address) === 6 ? (6 as const) : (4 as const) }));
  };
  return Object.assign(fn, { calls });
}

function tcp(host: string, port: number, extra: Partial<OpenOptions> = {}): Connection {
  return open({ host, port, protocols: ['http'], retry: 0, ...extra });
}

// A listener whose accept queue is full, so that a TCP connect to it hangs in
// SYN_SENT (Linux drops the SYN; the client retransmits after 1 s, 3 s...).
// Node accepts connections as soon as its event loop runs, so the listening
// socket lives in a worker thread whose event loop is blocked on Atomics.wait:
// the kernel completes backlog + 1 handshakes into the accept queue and drops
// every further SYN. The worker wakes up, closes and exits when released.
const STALLED_LISTENER = `
const { parentPort, workerData } = require('node:worker_threads');
const net = require('node:net');
const flag = new Int32Array(workerData);
const server = net.createServer((s) => s.destroy());
server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
  parentPort.postMessage(server.address().port);
  Atomics.wait(flag, 0, 0);
  server.close();
  parentPort.close();
});
`;

interface StalledListener {
  readonly port: number;
  release(): Promise<void>;
}

async function startStalledListener(): Promise<StalledListener> {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(STALLED_LISTENER, { eval: true, workerData: flag.buffer });
  const exited = once(worker, 'exit');
  const [port] = (await once(worker, 'message')) as [number];
  const fillers: net.Socket[] = [];
  const release = async (): Promise<void> => {
    for (const s of fillers) s.destroy();
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
    await exited;
  };
  try {
    // Linux queues backlog + 1 = 2 established connections.
    for (let i = 0; i < 2; i++) {
      const s = net.connect({ host: '127.0.0.1', port });
      s.on('error', () => undefined);
      fillers.push(s);
      await once(s, 'connect');
    }
  } catch (e) {
    await release();
    throw e;
  }
  return { port, release };
}

describe('dial: DNS through the lookup option', () => {
  it('a rejecting lookup fails with ERR_DNS, stage dns, the hop, and the cause kept', async (t) => {
    const baseline = resourceSnapshot();
    const cause = Object.assign(new Error('getaddrinfo ENOTFOUND nx.test'), { code: 'ENOTFOUND' });
    const calls: string[] = [];
    const conn = tcp('nx.test', 8080, {
      lookup: async (host) => {
        calls.push(host);
        throw cause;
      },
    });
    t.after(() => conn.close());
    const errors: BurrowError[] = [];
    conn.on('error', (e) => errors.push(e));
    const err = await failure(conn);
    assert.equal(err.code, 'ERR_DNS');
    assert.equal(err.stage, 'dns');
    assert.deepEqual(err.hop, hop('nx.test', 8080));
    assert.equal(err.cause, cause);
    assert.ok(err.message.startsWith('hop 0 (origin tcp://nx.test:8080): '), err.message);
    assert.match(err.message, /nx\.test/);
    assert.deepEqual(calls, ['nx.test']);
    assert.deepEqual(errors, [err]);
    await conn.close();
    await assertNoLeaks(baseline);
  });

  it('a lookup that throws synchronously is an ERR_DNS too, not a crash', async (t) => {
    const baseline = resourceSnapshot();
    const cause = new Error('boom');
    const conn = tcp('sync.test', 8080, {
      lookup: () => {
        throw cause;
      },
    });
    t.after(() => conn.close());
    const err = await failure(conn);
    assert.equal(err.code, 'ERR_DNS');
    assert.equal(err.stage, 'dns');
    assert.equal(err.cause, cause);
    await conn.close();
    await assertNoLeaks(baseline);
  });

  it('a lookup that never settles fails with ERR_LOOKUP_TIMEOUT after lookupTimeout', async (t) => {
    const baseline = resourceSnapshot();
    const conn = tcp('slow.test', 8080, { lookupTimeout: 50, lookup: () => new Promise(() => undefined) });
    t.after(() => conn.close());
    const started = performance.now();
    const err = await failure(conn);
    const elapsed = performance.now() - started;
    assert.equal(err.code, 'ERR_LOOKUP_TIMEOUT');
    assert.equal(err.stage, 'timeout');
    assert.deepEqual(err.hop, hop('slow.test', 8080));
    assert.equal(err.details['timeoutMs'], 50);
    // Not at once (libuv arms timers from its cached loop time, so allow for some skew).
    assert.ok(elapsed >= 25, `timed out after ${elapsed} ms`);
    await conn.close();
    await assertNoLeaks(baseline);
  });

  it('a lookup returning no address fails with ERR_DNS', async (t) => {
    const baseline = resourceSnapshot();
    const conn = tcp('empty.test', 8080, { lookup: async () => [] });
    t.after(() => conn.close());
    const err = await failure(conn);
    assert.equal(err.code, 'ERR_DNS');
    assert.equal(err.stage, 'dns');
    assert.deepEqual(err.hop, hop('empty.test', 8080));
    assert.match(err.message, /no address/);
    await conn.close();
    await assertNoLeaks(baseline);
  });

  it('a lookup resolving to something that is not a list of addresses fails with ERR_DNS', async (t) => {
    const baseline = resourceSnapshot();
    const conn = tcp('garbage.test', 8080, { lookup: (async () => undefined) as unknown as LookupFunction });
    t.after(() => conn.close());
    const err = await failure(conn);
    assert.equal(err.code, 'ERR_DNS', err.message);
    assert.equal(err.stage, 'dns');
    assert.deepEqual(err.hop, hop('garbage.test', 8080));
    await conn.close();
    await assertNoLeaks(baseline);
  });

  it('an address from lookup that is not an IP address is an ERR_DNS, never handed to the system resolver', async (t) => {
    // 'localhost' resolves through /etc/hosts: if burrow passed it on to
    // net.connect, the system resolver would be used behind the custom lookup
    // (and its lookupTimeout) and the connection would come up.
    const baseline = resourceSnapshot();
    const origin = await startOrigin({ protocol: 'http', transport: 'tcp', host: '127.0.0.1' });
    t.after(() => origin.close());
    const conn = tcp('pinned.test', origin.port, { lookup: async () => [{ address: 'localhost', family: 4 }] });
    t.after(() => conn.close());
    const err = await failure(conn);
    assert.equal(err.code, 'ERR_DNS', err.message);
    assert.equal(err.stage, 'dns');
    assert.equal(origin.connections, 0);
    await conn.close();
    await origin.close();
    await assertNoLeaks(baseline);
  });

  it('close() during a pending lookup ends the attempt at once and clears the lookup timer', async (t) => {
    const baseline = resourceSnapshot();
    let called!: () => void;
    const lookupCalled = new Promise<void>((resolve) => {
      called = resolve;
    });
    const conn = tcp('hang.test', 8080, {
      lookupTimeout: 60_000,
      lookup: () => {
        called();
        return new Promise(() => undefined);
      },
    });
    t.after(() => conn.close());
    await lookupCalled;
    const up = conn.awaitUp();
    await conn.close();
    await assert.rejects(up, (e: unknown) => isBurrowError(e, 'ERR_CLOSED'));
    await assertNoLeaks(baseline);
  });
});

describe('dial: TCP connect', () => {
  it('a refused connection fails with ERR_CONNECT, stage tcp, cause ECONNREFUSED', async (t) => {
    const baseline = resourceSnapshot();
    const port = await freePort();
    const conn = tcp('127.0.0.1', port);
    t.after(() => conn.close());
    const err = await failure(conn);
    assert.equal(err.code, 'ERR_CONNECT');
    assert.equal(err.stage, 'tcp');
    assert.deepEqual(err.hop, hop('127.0.0.1', port));
    assert.equal((err.cause as NodeJS.ErrnoException).code, 'ECONNREFUSED');
    assert.ok(err.message.startsWith(`hop 0 (origin tcp://127.0.0.1:${port}): `), err.message);
    await conn.close();
    await assertNoLeaks(baseline);
  });

  it('tries every resolved address in order and connects to the first that answers', async (t) => {
    const baseline = resourceSnapshot();
    const origin = await startOrigin({ protocol: 'http', transport: 'tcp', host: '127.0.0.1' });
    t.after(() => origin.close());
    // 127.0.0.2 is loopback too, but nothing listens there on this port.
    const lookup = fixedLookup('127.0.0.2', '127.0.0.1');
    const conn = tcp('multi.test', origin.port, { lookup });
    t.after(() => conn.close());
    assert.equal(await conn.awaitUp(), 'http');
    assert.equal(conn.info().remoteAddress, '127.0.0.1');
    assert.equal(conn.info().remotePort, origin.port);
    assert.deepEqual(lookup.calls, ['multi.test']);
    assert.equal((await conn.awaitBody(conn.get('/'))).body.toString(), 'hello');
    assert.equal(origin.requests[0]?.authority, `multi.test:${origin.port}`);
    await conn.close();
    await origin.close();
    await assertNoLeaks(baseline);
  });

  it('prefers the first address when several answer', async (t) => {
    const baseline = resourceSnapshot();
    const second = await listen('127.0.0.1');
    t.after(() => closeServer(second));
    const port = (second.address() as net.AddressInfo).port;
    const first = await listen('127.0.0.2', port);
    t.after(() => closeServer(first));
    let secondHits = 0;
    second.on('connection', () => secondHits++);
    const firstHit = once(first, 'connection');
    const conn = tcp('both.test', port, { lookup: fixedLookup('127.0.0.2', '127.0.0.1') });
    t.after(() => conn.close());
    await conn.awaitUp();
    assert.equal(conn.info().remoteAddress, '127.0.0.2');
    await firstHit;
    assert.equal(secondHits, 0);
    await conn.close();
    await closeServer(first);
    await closeServer(second);
    await assertNoLeaks(baseline);
  });

  it('fails with ERR_CONNECT only when every address failed, with the last error as cause', async (t) => {
    const baseline = resourceSnapshot();
    const port = await freePort();
    const conn = tcp('none.test', port, { lookup: fixedLookup('127.0.0.2', '127.0.0.3') });
    t.after(() => conn.close());
    const err = await failure(conn);
    assert.equal(err.code, 'ERR_CONNECT');
    assert.equal(err.stage, 'tcp');
    assert.deepEqual(err.hop, hop('none.test', port));
    const cause = err.cause as NodeJS.ErrnoException & { address?: string };
    assert.equal(cause.code, 'ECONNREFUSED');
    assert.equal(cause.address, '127.0.0.3', 'the last address was tried last');
    await conn.close();
    await assertNoLeaks(baseline);
  });

  it('a TCP connect that hangs fails with ERR_CONNECT_TIMEOUT after connectTimeout', async (t) => {
    const baseline = resourceSnapshot();
    const stalled = await startStalledListener();
    try {
      const conn = tcp('127.0.0.1', stalled.port, { connectTimeout: 100 });
      t.after(() => conn.close());
      const started = performance.now();
      const err = await failure(conn);
      const elapsed = performance.now() - started;
      assert.equal(err.code, 'ERR_CONNECT_TIMEOUT', `expected a connect timeout (is the accept queue full?), got ${err.message}`);
      assert.equal(err.stage, 'timeout');
      assert.deepEqual(err.hop, hop('127.0.0.1', stalled.port));
      assert.equal(err.details['timeoutMs'], 100);
      // Not at once (libuv arms timers from its cached loop time, so allow for some skew).
      assert.ok(elapsed >= 50, `timed out after ${elapsed} ms`);
      await conn.close();
    } finally {
      await stalled.release();
    }
    await assertNoLeaks(baseline);
  });

  it('the connect timeout covers all addresses together, failover included', async (t) => {
    const baseline = resourceSnapshot();
    const stalled = await startStalledListener();
    try {
      const conn = tcp('stall.test', stalled.port, { connectTimeout: 100, lookup: fixedLookup('127.0.0.2', '127.0.0.1') });
      t.after(() => conn.close());
      const err = await failure(conn);
      assert.equal(err.code, 'ERR_CONNECT_TIMEOUT');
      assert.deepEqual(err.hop, hop('stall.test', stalled.port));
      await conn.close();
    } finally {
      await stalled.release();
    }
    await assertNoLeaks(baseline);
  });

  it('close() during a hanging connect ends it with ERR_CLOSED and leaves no socket', async (t) => {
    const baseline = resourceSnapshot();
    const stalled = await startStalledListener();
    try {
      const tcpHandles = (): number => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
      const handlesBefore = tcpHandles();
      let called!: () => void;
      const lookupCalled = new Promise<void>((resolve) => {
        called = resolve;
      });
      const conn = tcp('stall.test', stalled.port, {
        connectTimeout: 60_000,
        lookup: async () => {
          called();
          return [{ address: '127.0.0.1', family: 4 }];
        },
      });
      t.after(() => conn.close());
      const up = conn.awaitUp();
      await lookupCalled;
      // The lookup result reaches net.connect through microtasks only: one
      // event-loop turn later the TCP connect is under way (and hanging).
      await new Promise<void>((resolve) => setImmediate(resolve));
      assert.equal(conn.state, 'connecting');
      assert.equal(tcpHandles(), handlesBefore + 1, 'a TCP connect is in progress');
      await conn.close();
      await assert.rejects(up, (e: unknown) => isBurrowError(e, 'ERR_CLOSED'));
    } finally {
      await stalled.release();
    }
    await assertNoLeaks(baseline);
  });
});

describe('dial: IP literals skip DNS', () => {
  let ipv6 = false;
  before(async () => {
    ipv6 = await hasIpv6Loopback();
  });

  const throwingLookup = (): LookupFunction & { calls: number } => {
    const fn = Object.assign(
      (): never => {
        fn.calls++;
        throw new Error('lookup must not be called for an IP literal');
      },
      { calls: 0 },
    );
    return fn;
  };

  let origin4: TestOrigin;
  before(async () => {
    origin4 = await startOrigin({ protocol: 'http', transport: 'tcp', host: '127.0.0.1' });
  });
  after(async () => {
    await origin4.close();
  });

  it('127.0.0.1 connects without calling lookup', async (t) => {
    const lookup = throwingLookup();
    const conn = tcp('127.0.0.1', origin4.port, { lookup });
    t.after(() => conn.close());
    assert.equal((await conn.awaitBody(conn.get('/'))).body.toString(), 'hello');
    assert.equal(lookup.calls, 0);
    await conn.close();
  });

  it('::1 and [::1] connect without calling lookup (when ::1 is available)', async (t) => {
    if (!ipv6) {
      t.diagnostic('::1 is not available here; only 127.0.0.1 was checked');
      return;
    }
    const origin6 = await startOrigin({ protocol: 'http', transport: 'tcp', host: '::1' });
    try {
      for (const host of ['::1', '[::1]']) {
        const lookup = throwingLookup();
        const conn = tcp(host, origin6.port, { lookup });
        assert.equal((await conn.awaitBody(conn.get('/'))).body.toString(), 'hello');
        assert.equal(conn.info().remoteAddress, '::1');
        assert.equal(lookup.calls, 0);
        await conn.close();
      }
      // The host header brackets the IPv6 literal.
      assert.equal(origin6.requests[0]?.authority, `[::1]:${origin6.port}`);
    } finally {
      await origin6.close();
    }
  });

  it('a refused IP literal fails with ERR_CONNECT without calling lookup', async (t) => {
    const baseline = resourceSnapshot();
    const port = await freePort();
    const lookup = throwingLookup();
    const conn = tcp('127.0.0.1', port, { lookup });
    t.after(() => conn.close());
    const err = await failure(conn);
    assert.equal(err.code, 'ERR_CONNECT');
    assert.equal(lookup.calls, 0);
    await conn.close();
    await assertNoLeaks(baseline);
  });
});
