// open() option validation and defaults, and request-level option checks.
// No test here needs a server: connections that must not touch the network
// use a `lookup` that never settles and are closed at once.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { open, isBurrowError, defaultRetryFn, StreamRef, type Connection, type LookupFunction, type OpenOptions } from '../../../src/index.js';
import { assertNoLeaks, resourceSnapshot } from '../../helpers/leaks.js';

/** A lookup that never settles: the connection stays in `connecting` without any socket. */
const pendingLookup: LookupFunction = () => new Promise(() => undefined);

const BASE = { host: '127.0.0.1', port: 8080 } as const;
const TLS_BASE = { host: '127.0.0.1', port: 8443, transport: 'tls' } as const;

/**
 * Asserts that open(options) throws ERR_INVALID_OPTION naming `option`, in
 * `details.option` and in the message. When open() does not throw, the
 * connection it returned is closed at once (before it dials anything) and the
 * test fails.
 */
function assertInvalid(options: unknown, option: string): void {
  let conn: Connection | undefined;
  let thrown: unknown;
  try {
    conn = open(options as OpenOptions);
  } catch (e) {
    thrown = e;
  }
  if (conn !== undefined) {
    void conn.close();
    assert.fail(`open(${inspect(options)}) did not throw; expected ERR_INVALID_OPTION for ${option}`);
  }
  assert.ok(isBurrowError(thrown, 'ERR_INVALID_OPTION'), `open(${inspect(options)}): expected ERR_INVALID_OPTION, got ${inspect(thrown)}`);
  assert.equal(thrown.stage, 'options');
  assert.equal(thrown.details['option'], option, `details.option for ${inspect(options)}`);
  assert.ok(thrown.message.startsWith(`invalid option ${option}:`), `message names ${option}: ${thrown.message}`);
  assert.equal(thrown.hop, undefined);
}

/** The protocol names of a resolved protocol list. */
function names(list: Connection['config']['protocols']): string[] {
  return list.map((p) => p.name);
}

/** Opens a connection that never dials (pending lookup); close it when done. */
function idle(extra: Partial<OpenOptions> = {}): Connection {
  return open({ host: 'pending.test', port: 8080, lookup: pendingLookup, retry: 0, ...extra });
}

describe('open(): invalid options throw ERR_INVALID_OPTION naming the option', () => {
  it('rejects a missing, empty or malformed host', () => {
    assertInvalid({ port: 80 }, 'host');
    assertInvalid({ host: '', port: 80 }, 'host');
    assertInvalid({ host: undefined, port: 80 }, 'host');
    assertInvalid({ host: 42, port: 80 }, 'host');
    assertInvalid({ host: 'exa mple.test', port: 80 }, 'host');
    assertInvalid({ host: 'example.test:80', port: 80 }, 'host');
    assertInvalid({ host: 'a\r\nb', port: 80 }, 'host');
  });

  it('rejects a port that is not an integer from 1 to 65535', () => {
    for (const port of [0, -1, 65536, 70000, '80', 1.5, NaN, Infinity, null]) {
      assertInvalid({ host: '127.0.0.1', port }, 'port');
    }
  });

  it('rejects a missing port', () => {
    assertInvalid({ host: '127.0.0.1' }, 'port');
    assertInvalid({ host: '127.0.0.1', port: undefined }, 'port');
  });

  it('rejects a non-object options argument', () => {
    assertInvalid(undefined, 'options');
    assertInvalid(null, 'options');
    assertInvalid('https://example.test', 'options');
    assertInvalid([BASE], 'options');
  });

  it('rejects unknown top-level keys, naming the key', () => {
    assertInvalid({ ...BASE, hostname: 'x' }, 'hostname');
    assertInvalid({ ...BASE, timeout: 10 }, 'timeout');
    assertInvalid({ ...BASE, ALPNProtocols: ['h2'] }, 'ALPNProtocols');
  });

  it("rejects a transport other than 'tcp' or 'tls'", () => {
    for (const transport of ['udp', 'TLS', 'ssl', '', 1, null]) assertInvalid({ ...BASE, transport }, 'transport');
  });

  it('rejects protocols that are empty, not an array, unknown or duplicated, and two protocols over tcp', () => {
    assertInvalid({ ...BASE, protocols: [] }, 'protocols');
    assertInvalid({ ...BASE, protocols: 'http' }, 'protocols');
    assertInvalid({ ...BASE, protocols: ['http3'] }, 'protocols');
    assertInvalid({ ...BASE, protocols: ['HTTP'] }, 'protocols');
    assertInvalid({ ...TLS_BASE, protocols: ['http2', 'spdy'] }, 'protocols');
    assertInvalid({ ...TLS_BASE, protocols: ['http', 'http'] }, 'protocols');
    assertInvalid({ ...TLS_BASE, protocols: ['http2', 'http', 'http2'] }, 'protocols');
    assertInvalid({ ...BASE, protocols: ['http', 'http2'] }, 'protocols');
    assertInvalid({ ...BASE, transport: 'tcp', protocols: ['http2', 'http'] }, 'protocols');
    assertInvalid({ ...BASE, protocols: [null] }, 'protocols');
    assertInvalid({ ...BASE, protocols: [{ name: 'http' }] }, 'protocols');
    // raw (and SOCKS) cannot be negotiated by ALPN: alone only.
    assertInvalid({ ...TLS_BASE, protocols: ['raw', 'http'] }, 'protocols');
  });

  it("rejects tls options with transport 'tcp' (explicit or by default)", () => {
    assertInvalid({ ...BASE, tls: {} }, 'tls');
    assertInvalid({ ...BASE, transport: 'tcp', tls: { rejectUnauthorized: false } }, 'tls');
    assertInvalid({ host: '127.0.0.1', port: 443, transport: 'tcp', tls: {} }, 'tls');
  });

  it('rejects unknown tls.* keys, tls.ALPNProtocols and keys burrow sets itself', () => {
    assertInvalid({ ...TLS_BASE, tls: 'yes' }, 'tls');
    assertInvalid({ ...TLS_BASE, tls: null }, 'tls');
    assertInvalid({ ...TLS_BASE, tls: { foo: 1 } }, 'tls.foo');
    assertInvalid({ ...TLS_BASE, tls: { ca: 'x', requestCert: true } }, 'tls.requestCert');
    assertInvalid({ ...TLS_BASE, tls: { socket: {} } }, 'tls.socket');
    assertInvalid({ ...TLS_BASE, tls: { host: 'x' } }, 'tls.host');
    assertInvalid({ ...TLS_BASE, tls: { port: 1 } }, 'tls.port');
    let thrown: unknown;
    try {
      open({ ...TLS_BASE, tls: { ALPNProtocols: ['h2'] } } as unknown as OpenOptions);
    } catch (e) {
      thrown = e;
    }
    assert.ok(isBurrowError(thrown, 'ERR_INVALID_OPTION'));
    assert.equal(thrown.details['option'], 'tls.ALPNProtocols');
    assert.match(thrown.message, /^invalid option tls\.ALPNProtocols: .*protocols/);
  });

  it('rejects ill-typed tls.rejectUnauthorized and tls.servername', () => {
    assertInvalid({ ...TLS_BASE, tls: { rejectUnauthorized: 'false' } }, 'tls.rejectUnauthorized');
    assertInvalid({ ...TLS_BASE, tls: { rejectUnauthorized: 0 } }, 'tls.rejectUnauthorized');
    assertInvalid({ ...TLS_BASE, tls: { servername: 42 } }, 'tls.servername');
  });

  it('rejects bad timeouts: negative, NaN, strings, more than 2^31-1 ms', () => {
    for (const name of ['lookupTimeout', 'connectTimeout', 'tlsHandshakeTimeout', 'retryTimeout']) {
      for (const v of [-1, NaN, 'x', '100', null, 2 ** 31, -Infinity]) assertInvalid({ ...BASE, [name]: v }, name);
    }
    for (const name of ['keepalive', 'closingTimeout']) {
      assertInvalid({ ...BASE, http: { [name]: -1 } }, `http.${name}`);
      assertInvalid({ ...BASE, http2: { [name]: NaN } }, `http2.${name}`);
      assertInvalid({ ...BASE, http2: { [name]: 'x' } }, `http2.${name}`);
    }
  });

  it('accepts 0 and Infinity as timeouts', async (t) => {
    const conn = idle({ lookupTimeout: Infinity, connectTimeout: 0, tlsHandshakeTimeout: Infinity, retryTimeout: 0, http: { keepalive: Infinity } });
    t.after(() => conn.close());
    assert.equal(conn.config.lookupTimeout, Infinity);
    assert.equal(conn.config.connectTimeout, 0);
    assert.equal(conn.config.retryTimeout, 0);
    await conn.close();
  });

  it('rejects a bad retry count', () => {
    for (const retry of [-1, 1.5, '2', NaN, Infinity, null, true, 2 ** 31]) assertInvalid({ ...BASE, retry }, 'retry');
  });

  it('rejects a retryFn or lookup that is not a function', () => {
    for (const v of ['x', 1, {}, null, true]) {
      assertInvalid({ ...BASE, retryFn: v }, 'retryFn');
      assertInvalid({ ...BASE, lookup: v }, 'lookup');
    }
  });

  it('rejects a mailbox that is not a boolean', () => {
    assertInvalid({ ...BASE, mailbox: 'false' }, 'mailbox');
    assertInvalid({ ...BASE, mailbox: 0 }, 'mailbox');
  });

  it('rejects unknown http.* and http2.* keys, and non-object http / http2', () => {
    assertInvalid({ ...BASE, http: { foo: 1 } }, 'http.foo');
    assertInvalid({ ...BASE, http: { maxHeaders: 1 } }, 'http.maxHeaders');
    assertInvalid({ ...BASE, http: { enablePush: true } }, 'http.enablePush');
    assertInvalid({ ...BASE, http2: { foo: 1 } }, 'http2.foo');
    assertInvalid({ ...BASE, http2: { maxHeaderBlockSize: 1 } }, 'http2.maxHeaderBlockSize');
    assertInvalid({ ...BASE, http: 'x' }, 'http');
    assertInvalid({ ...BASE, http: null }, 'http');
    assertInvalid({ ...BASE, http: [] }, 'http');
    assertInvalid({ ...BASE, http2: 1 }, 'http2');
  });

  it('rejects a bad http2.initialStreamWindowSize and other out-of-range HTTP/2 settings', () => {
    for (const v of [-1, 1.5, 2 ** 31, '65535', NaN, Infinity]) {
      assertInvalid({ ...BASE, http2: { initialStreamWindowSize: v } }, 'http2.initialStreamWindowSize');
    }
    assertInvalid({ ...BASE, http2: { initialConnectionWindowSize: 1000 } }, 'http2.initialConnectionWindowSize');
    assertInvalid({ ...BASE, http2: { initialConnectionWindowSize: 2 ** 31 } }, 'http2.initialConnectionWindowSize');
    assertInvalid({ ...BASE, http2: { maxFrameSize: 16383 } }, 'http2.maxFrameSize');
    assertInvalid({ ...BASE, http2: { maxFrameSize: 2 ** 24 } }, 'http2.maxFrameSize');
    assertInvalid({ ...BASE, http2: { enablePush: 'yes' } }, 'http2.enablePush');
    assertInvalid({ ...BASE, http2: { keepaliveTolerance: -1 } }, 'http2.keepaliveTolerance');
    assertInvalid({ ...BASE, http2: { maxSessionMemory: 0 } }, 'http2.maxSessionMemory');
    assertInvalid({ ...BASE, http: { maxHeaderCount: 0 } }, 'http.maxHeaderCount');
    assertInvalid({ ...BASE, http: { maxHeaderBlockSize: 15 } }, 'http.maxHeaderBlockSize');
  });

  it('accepts the HTTP/2 window limits 0 and 2^31-1', async (t) => {
    const conn = idle({ http2: { initialStreamWindowSize: 2 ** 31 - 1, initialConnectionWindowSize: 2 ** 31 - 1 } });
    t.after(() => conn.close());
    assert.equal(conn.config.http2.initialStreamWindowSize, 2 ** 31 - 1);
    await conn.close();
    const conn0 = idle({ http2: { initialStreamWindowSize: 0, initialConnectionWindowSize: 65535 } });
    t.after(() => conn0.close());
    assert.equal(conn0.config.http2.initialStreamWindowSize, 0);
    await conn0.close();
  });

  it('rejects flow values that are not integers >= 1 (Infinity allowed)', async (t) => {
    for (const v of [0, -1, 1.5, '1', NaN, null, -Infinity]) {
      assertInvalid({ ...BASE, http: { flow: v } }, 'http.flow');
      assertInvalid({ ...BASE, http2: { flow: v } }, 'http2.flow');
    }
    const conn = idle({ http: { flow: 1 }, http2: { flow: Infinity } });
    t.after(() => conn.close());
    assert.equal(conn.config.http.flow, 1);
    assert.equal(conn.config.http2.flow, Infinity);
    await conn.close();
  });

  it('validates before anything is dialled: the lookup is never called for invalid options', () => {
    let calls = 0;
    const lookup: LookupFunction = async () => {
      calls++;
      return [];
    };
    assertInvalid({ host: 'x.test', port: 80, lookup, retry: -1 }, 'retry');
    assertInvalid({ host: 'x.test', port: 80, lookup, http2: { flow: 0 } }, 'http2.flow');
    assert.equal(calls, 0);
  });
});

describe('open(): defaults', () => {
  it("port 443 defaults to transport 'tls' and protocols ['http2', 'http']", async (t) => {
    const conn = idle({ port: 443 });
    t.after(() => conn.close());
    assert.equal(conn.config.transport, 'tls');
    assert.deepEqual(names(conn.config.protocols), ['http2', 'http']);
    assert.deepEqual(conn.info().origin, { scheme: 'https', host: 'pending.test', port: 443 });
    await conn.close();
  });

  it("port 80 (and any other port) defaults to transport 'tcp' and protocols ['http']", async (t) => {
    for (const port of [80, 8443, 1]) {
      const conn = idle({ port });
      t.after(() => conn.close());
      assert.equal(conn.config.transport, 'tcp');
      assert.deepEqual(names(conn.config.protocols), ['http']);
      assert.equal(conn.info().origin.scheme, 'http');
      await conn.close();
    }
  });

  it("explicit transports override the port: 'tls' on 80 offers ['http2', 'http'], 'tcp' on 443 speaks ['http']", async (t) => {
    const a = idle({ port: 80, transport: 'tls' });
    t.after(() => a.close());
    assert.equal(a.config.transport, 'tls');
    assert.deepEqual(names(a.config.protocols), ['http2', 'http']);
    await a.close();
    const b = idle({ port: 443, transport: 'tcp' });
    t.after(() => b.close());
    assert.equal(b.config.transport, 'tcp');
    assert.deepEqual(names(b.config.protocols), ['http']);
    await b.close();
  });

  it('keeps a valid protocol list as given (prior-knowledge http2 over tcp, http-only over tls)', async (t) => {
    const a = idle({ protocols: ['http2'] });
    t.after(() => a.close());
    assert.deepEqual(names(a.config.protocols), ['http2']);
    await a.close();
    const b = idle({ port: 443, protocols: ['http', 'http2'] });
    t.after(() => b.close());
    assert.deepEqual(names(b.config.protocols), ['http', 'http2']);
    await b.close();
  });

  it('strips the brackets of an IPv6 literal host', async (t) => {
    const conn = open({ host: '[::1]', port: 8080, retry: 0 });
    t.after(() => conn.close());
    assert.equal(conn.config.host, '::1');
    await conn.close();
  });

  it('conn.config holds the documented defaults', async (t) => {
    const baseline = resourceSnapshot();
    const conn = open({ host: 'pending.test', port: 8080, lookup: pendingLookup });
    t.after(() => conn.close());
    const c = conn.config;
    assert.equal(c.host, 'pending.test');
    assert.equal(c.port, 8080);
    assert.equal(c.retry, 5);
    assert.equal(c.retryTimeout, 5000);
    assert.equal(c.retryFn, defaultRetryFn);
    assert.equal(c.lookupTimeout, 30000);
    assert.equal(c.connectTimeout, 30000);
    assert.equal(c.tlsHandshakeTimeout, 30000);
    assert.equal(c.mailbox, true);
    assert.deepEqual(c.tls, {});
    assert.deepEqual(c.http, {
      keepalive: Infinity,
      closingTimeout: 15000,
      maxHeaderBlockSize: 100000,
      maxTrailerBlockSize: 10000,
      maxHeaderCount: 100,
      flow: Infinity,
    });
    assert.deepEqual(c.http2, {
      keepalive: Infinity,
      keepaliveTolerance: Infinity,
      closingTimeout: 15000,
      initialStreamWindowSize: 16 * 1024 * 1024,
      initialConnectionWindowSize: 64 * 1024 * 1024,
      maxConcurrentStreams: 100,
      maxFrameSize: 16384,
      maxHeaderListSize: 65536,
      headerTableSize: 4096,
      enablePush: false,
      flow: Infinity,
      maxSessionMemory: 64,
    });
    assert.equal(conn.info().retriesLeft, 5);
    await conn.close();
    await assertNoLeaks(baseline);
  });

  it('the default retry function retries at once first, then every retryTimeout, counting down', () => {
    const opts = { retry: 5, retryTimeout: 5000 };
    assert.deepEqual(defaultRetryFn(5, opts), { retries: 4, timeout: 0 });
    assert.deepEqual(defaultRetryFn(4, opts), { retries: 3, timeout: 5000 });
    assert.deepEqual(defaultRetryFn(1, opts), { retries: 0, timeout: 5000 });
  });
});

describe('request options', () => {
  it('flow: 0 (and other non-positive or fractional flows) throw ERR_INVALID_OPTION naming flow', async (t) => {
    const conn = idle();
    t.after(() => conn.close());
    for (const flow of [0, -1, 1.5, NaN, '2']) {
      assert.throws(
        () => conn.get('/', {}, { flow: flow as number }),
        (e: unknown) => isBurrowError(e, 'ERR_INVALID_OPTION') && e.details['option'] === 'flow' && /flow/.test(e.message),
        `flow ${String(flow)}`,
      );
    }
    // Valid flows are accepted.
    conn.get('/', {}, { flow: 1 });
    conn.get('/', {}, { flow: Infinity });
    await conn.close();
  });

  it('updateFlow(ref, 0) throws ERR_INVALID_OPTION', async (t) => {
    const conn = idle();
    t.after(() => conn.close());
    const ref = conn.get('/');
    for (const inc of [0, -3, 0.5, NaN]) {
      assert.throws(
        () => conn.updateFlow(ref, inc),
        (e: unknown) => isBurrowError(e, 'ERR_INVALID_OPTION') && e.stage === 'options' && typeof e.details['option'] === 'string',
        `increment ${inc}`,
      );
    }
    conn.updateFlow(ref, 1);
    await conn.close();
  });

  it('a tunnel that is not a StreamRef throws ERR_INVALID_OPTION naming tunnel', async (t) => {
    const conn = idle();
    t.after(() => conn.close());
    const real = conn.get('/');
    const fakes: unknown[] = [{ path: [...real.path], key: real.key }, real.key, 1, [1], { ...real }];
    for (const tunnel of fakes) {
      assert.throws(
        () => conn.get('/', {}, { tunnel: tunnel as StreamRef }),
        (e: unknown) => isBurrowError(e, 'ERR_INVALID_OPTION') && e.details['option'] === 'tunnel' && /tunnel/.test(e.message),
        inspect(tunnel),
      );
    }
    await conn.close();
  });

  it('a replyTo that is not a function throws ERR_INVALID_OPTION naming replyTo', async (t) => {
    const conn = idle();
    t.after(() => conn.close());
    assert.throws(
      () => conn.get('/', {}, { replyTo: 'me' as unknown as () => void }),
      (e: unknown) => isBurrowError(e, 'ERR_INVALID_OPTION') && e.details['option'] === 'replyTo',
    );
    await conn.close();
  });

  it('a request rejected for its options is never sent and leaves nothing pending', async (t) => {
    const conn = idle();
    t.after(() => conn.close());
    const before = conn.get('/ok');
    assert.throws(() => conn.get('/bad', {}, { flow: 0 }));
    assert.equal(conn.streamInfo(before)?.state, 'pending');
    // Only the valid request is pending: closing fails exactly that one.
    const failed: string[] = [];
    conn.on('message', (m) => {
      if (m.type === 'error') failed.push(m.ref.key);
    });
    await conn.close();
    assert.deepEqual(failed, [before.key]);
  });
});

describe('open(): keepalive intervals', () => {
  it('a keepalive of 0 ms is refused (it would mean a ping every millisecond)', () => {
    for (const [name, opts] of [['http.keepalive', { http: { keepalive: 0 } }], ['http2.keepalive', { http2: { keepalive: 0 } }]] as const) {
      assert.throws(
        () => open({ host: '127.0.0.1', port: 1, ...opts }),
        (e: unknown) => isBurrowError(e, 'ERR_INVALID_OPTION') && e.details['option'] === name,
      );
    }
  });
});
