import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BurrowError, type ErrorCode } from '../../../src/errors/errors.js';
import { Socks4Client, socks4ReplyName, type Socks4Event, type Socks4Request } from '../../../src/protocols/socks4/index.js';

const h = (hex: string): Buffer => Buffer.from(hex.replace(/\s+/g, ''), 'hex');

/** The request bytes a client starts with. */
function requestOf(req: Socks4Request): string {
  const events = new Socks4Client(req).start();
  assert.equal(events.length, 1);
  const e = events[0] as Socks4Event;
  assert.equal(e.kind, 'send');
  return e.kind === 'send' ? e.data.toString('hex') : '';
}

interface Outcome {
  done: { bound: { host: string; port: number }; rest: string } | undefined;
  error: BurrowError | undefined;
  client: Socks4Client;
}

/** Feeds `chunks` after start(); after 'done' the remaining chunks are tunnel bytes, appended to rest. */
function run(chunks: readonly Buffer[], req: Socks4Request = { host: '10.0.0.1', port: 80 }): Outcome {
  const client = new Socks4Client(req);
  client.start();
  try {
    for (let i = 0; i < chunks.length; i++) {
      const evs = client.feed(chunks[i] as Buffer);
      const done = evs.find((e) => e.kind === 'done');
      if (done !== undefined && done.kind === 'done') {
        assert.equal(evs.length, 1);
        return { client, error: undefined, done: { bound: { ...done.bound }, rest: Buffer.concat([done.rest, ...chunks.slice(i + 1)]).toString('hex') } };
      }
      assert.deepEqual(evs, []);
    }
  } catch (e) {
    assert.ok(e instanceof BurrowError, `not a BurrowError: ${String(e)}`);
    return { client, error: e, done: undefined };
  }
  return { client, error: undefined, done: undefined };
}

function expectError(o: Outcome, code: ErrorCode): BurrowError {
  assert.ok(o.error, `expected ${code}, got ${JSON.stringify(o.done)}`);
  assert.equal(o.error.code, code, o.error.message);
  assert.equal(o.error.stage, 'socks-reply');
  assert.equal(o.client.phase, 'failed');
  return o.error;
}

function invalid(req: unknown, option: string, message?: RegExp): void {
  assert.throws(
    () => new Socks4Client(req as Socks4Request),
    (e: unknown) => {
      assert.ok(e instanceof BurrowError);
      assert.equal(e.code, 'ERR_INVALID_OPTION');
      assert.equal(e.details['option'], option);
      if (message !== undefined) assert.match(e.message, message);
      return true;
    },
  );
}

/** Every way to cut `buf` in two, plus one byte at a time. */
function splits(buf: Buffer): Buffer[][] {
  const out: Buffer[][] = [];
  for (let i = 0; i <= buf.length; i++) out.push([buf.subarray(0, i), buf.subarray(i)]);
  out.push([...buf].map((b) => Buffer.from([b])));
  return out;
}

const GRANTED = h('00 5a 0000 00000000');

describe('SOCKS4 codec: the request', () => {
  it('SOCKS4: 04 01 DSTPORT DSTIP 00 without a user id', () => {
    assert.equal(requestOf({ host: '192.168.1.20', port: 443 }), '0401' + '01bb' + 'c0a80114' + '00');
  });

  it('SOCKS4: the user id before the NUL', () => {
    assert.equal(requestOf({ host: '10.0.0.1', port: 8080, userId: 'alice' }), '0401' + '1f90' + '0a000001' + Buffer.from('alice').toString('hex') + '00');
  });

  it('SOCKS4a: DSTIP 0.0.0.1, the user id, NUL, the name, NUL', () => {
    assert.equal(
      requestOf({ host: 'example.com', port: 80, version: '4a' }),
      '0401' + '0050' + '00000001' + '00' + Buffer.from('example.com').toString('hex') + '00',
    );
    assert.equal(
      requestOf({ host: 'example.com', port: 80, version: '4a', userId: 'bob' }),
      '0401' + '0050' + '00000001' + Buffer.from('bob').toString('hex') + '00' + Buffer.from('example.com').toString('hex') + '00',
    );
  });

  it('SOCKS4a sends an IPv4 literal as DSTIP, like SOCKS4', () => {
    assert.equal(requestOf({ host: '127.0.0.1', port: 1, version: '4a' }), requestOf({ host: '127.0.0.1', port: 1 }));
    assert.equal(requestOf({ host: '127.0.0.1', port: 1, version: '4a' }), '0401' + '0001' + '7f000001' + '00');
  });

  it('encodes a UTF-8 user id and name by their bytes, up to 255 bytes each', () => {
    const user = 'ü'.repeat(127) + 'a'; // 255 bytes
    const name = 'a'.repeat(255);
    const hex = requestOf({ host: name, port: 65535, version: '4a', userId: user });
    assert.equal(hex, '0401ffff00000001' + Buffer.from(user).toString('hex') + '00' + Buffer.from(name).toString('hex') + '00');
    invalid({ host: '10.0.0.1', port: 1, userId: 'ü'.repeat(128) }, 'userId', /at most 255 bytes/);
    invalid({ host: 'a'.repeat(256), port: 1, version: '4a' }, 'host', /at most 255 bytes/);
  });

  it('refuses an IPv6 destination in both versions: SOCKS4 carries IPv4 only', () => {
    for (const version of [4, '4a'] as const) {
      for (const host of ['::1', '[::1]', '2001:db8::1', '[fe80::1%eth0]', 'fe80::1%eth0']) {
        invalid({ host, port: 443, version }, 'host', /IPv4 addresses only/);
      }
    }
  });

  it('SOCKS4 refuses a name (it must be resolved first, or sent with 4a)', () => {
    invalid({ host: 'example.com', port: 443 }, 'host', /resolve it first.*'4a'/);
  });

  it('validates port, version, user id and names', () => {
    invalid({ host: '10.0.0.1', port: 0 }, 'port');
    invalid({ host: '10.0.0.1', port: 65536 }, 'port');
    invalid({ host: '10.0.0.1', port: 1.5 }, 'port');
    invalid({ host: '10.0.0.1', port: 1, version: 5 }, 'version');
    invalid({ host: '10.0.0.1', port: 1, userId: 'a\0b' }, 'userId', /NUL/);
    invalid({ host: '10.0.0.1', port: 1, userId: 42 }, 'userId');
    invalid({ host: 'a\0b', port: 1, version: '4a' }, 'host', /NUL/);
    invalid({ host: '', port: 1 }, 'host');
    invalid({ host: '[10.0.0.1]', port: 1 }, 'host', /bracketed/);
    invalid({ host: '0.0.0.7', port: 1 }, 'host', /mark a SOCKS4a request/);
    invalid(null, 'request');
  });

  it('start() twice and feed() before start() are state errors', () => {
    const c = new Socks4Client({ host: '10.0.0.1', port: 1 });
    assert.throws(() => c.feed(GRANTED), (e: unknown) => e instanceof BurrowError && e.code === 'ERR_BAD_STATE');
    c.start();
    assert.throws(() => c.start(), (e: unknown) => e instanceof BurrowError && e.code === 'ERR_BAD_STATE');
    assert.equal(c.phase, 'reply');
    assert.equal(run([GRANTED]).done?.rest, '');
  });
});

describe('SOCKS4 codec: the reply', () => {
  it('00 5A: granted, with DSTPORT/DSTIP as the bound address', () => {
    const o = run([h('00 5a 1f90 c0000201')]);
    assert.deepEqual(o.done, { bound: { host: '192.0.2.1', port: 8080 }, rest: '' });
    assert.equal(o.client.phase, 'done');
  });

  it('granted reply split at every byte offset, and one byte at a time', () => {
    const reply = h('00 5a 1f90 c0000201');
    for (const chunks of splits(reply)) {
      assert.deepEqual(run(chunks).done, { bound: { host: '192.0.2.1', port: 8080 }, rest: '' }, `split ${chunks.map((c) => c.length).join('+')}`);
    }
  });

  it('bytes after the reply are the tunnel\'s (early data), however the input is split', () => {
    const input = Buffer.concat([GRANTED, Buffer.from('HTTP/1.1 200 OK\r\n')]);
    for (const chunks of splits(input)) {
      assert.deepEqual(run(chunks).done, { bound: { host: '0.0.0.0', port: 0 }, rest: Buffer.from('HTTP/1.1 200 OK\r\n').toString('hex') });
    }
    // Whole in one chunk: rest is a view of that chunk, not a copy.
    const c = new Socks4Client({ host: '10.0.0.1', port: 1 });
    c.start();
    const [done] = c.feed(input);
    assert.ok(done !== undefined && done.kind === 'done');
    assert.equal(done.rest.buffer, input.buffer);
    assert.equal(done.rest.byteOffset, input.byteOffset + 8);
  });

  it('ignores empty chunks', () => {
    assert.deepEqual(run([Buffer.alloc(0), h('005a'), Buffer.alloc(0), h('0000 00000000')]).done?.rest, '');
  });

  it('names reply codes', () => {
    assert.equal(socks4ReplyName(0x5a), 'granted');
    assert.equal(socks4ReplyName(0x5b), 'rejected');
    assert.equal(socks4ReplyName(0x5c), 'identd_unreachable');
    assert.equal(socks4ReplyName(0x5d), 'identd_mismatch');
    assert.equal(socks4ReplyName(0x00), 'unknown_0');
    assert.equal(socks4ReplyName(0x5e), 'unknown_94');
  });

  const refusals: Array<[number, string, RegExp]> = [
    [0x5b, 'rejected', /request rejected or failed \(reply 0x5b\)/],
    [0x5c, 'identd_unreachable', /could not reach identd on the client \(reply 0x5c\)/],
    [0x5d, 'identd_mismatch', /identd on the client reported another user id than the one sent \(reply 0x5d\)/],
  ];
  for (const [code, name, message] of refusals) {
    it(`0x${code.toString(16)}: ERR_SOCKS_REPLY ${name}, with a message of its own, as soon as the code arrives`, () => {
      for (const chunks of [[h(`00 ${code.toString(16)} 0000 00000000`)], [h(`00 ${code.toString(16)}`)], [h('00'), h(code.toString(16))]]) {
        const e = expectError(run(chunks, { host: '10.1.2.3', port: 443, userId: 'alice' }), 'ERR_SOCKS_REPLY');
        assert.deepEqual(e.details, { reply: code, replyName: name });
        assert.match(e.message, message);
        assert.match(e.message, /^SOCKS4 server refused the CONNECT request for 10\.1\.2\.3:443/);
      }
    });
  }

  it('a SOCKS4a refusal says SOCKS4a and names the host sent', () => {
    const e = expectError(run([h('005b')], { host: 'internal.example', port: 80, version: '4a' }), 'ERR_SOCKS_REPLY');
    assert.match(e.message, /^SOCKS4a server refused the CONNECT request for internal\.example:80/);
  });

  it('an unknown reply code is a protocol error', () => {
    for (const code of [0x00, 0x01, 0x59, 0x5e, 0xff]) {
      const e = expectError(run([h(`00${code.toString(16).padStart(2, '0')}`)]), 'ERR_SOCKS_PROTOCOL');
      assert.equal(e.details['reply'], code);
      assert.match(e.message, /unknown reply code/);
    }
  });

  it('a reply version other than 0 is a protocol error, with a hint', () => {
    const cases: Array<[string, RegExp]> = [
      ['05', /version 0x05, expected 0x00 \(the proxy looks like a SOCKS5 server\)/],
      ['48', /looks like an HTTP server/],
      ['04', /0x04 is the request version/],
      ['ff', /version 0xff, expected 0x00$/],
    ];
    for (const [v, message] of cases) {
      const e = expectError(run([h(v)]), 'ERR_SOCKS_PROTOCOL');
      assert.match(e.message, message);
      assert.equal(e.details['version'], parseInt(v, 16));
    }
  });

  it('garbage: the first bad byte decides, however the input is split', () => {
    const garbage = Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n');
    const whole = run([garbage]).error;
    for (const chunks of splits(garbage)) {
      const e = run(chunks).error;
      assert.equal(e?.code, 'ERR_SOCKS_PROTOCOL');
      assert.equal(e?.message, whole?.message);
    }
  });

  it('is dead after done: feed() throws ERR_SOCKS_PROTOCOL', () => {
    const o = run([GRANTED]);
    assert.throws(() => o.client.feed(h('00')), (e: unknown) => e instanceof BurrowError && e.code === 'ERR_SOCKS_PROTOCOL' && /after the handshake completed/.test(e.message));
  });

  it('is dead after an error: feed() throws ERR_SOCKS_PROTOCOL naming the first error', () => {
    const o = run([h('005b')]);
    assert.throws(() => o.client.feed(GRANTED), (e: unknown) => e instanceof BurrowError && e.code === 'ERR_SOCKS_PROTOCOL' && /ERR_SOCKS_REPLY/.test(e.message));
  });
});
