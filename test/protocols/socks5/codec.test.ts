import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isIPv6 } from 'node:net';
import { BurrowError, type ErrorCode, type ErrorStage } from '../../../src/errors/errors.js';
import { Socks5Client, socksReplyName, type SocksEvent, type SocksRequest } from '../../../src/protocols/socks5/index.js';

const h = (hex: string): Buffer => Buffer.from(hex.replace(/\s+/g, ''), 'hex');

const USER = 'alice';
const PASS = 'correct-horse-battery-staple';
const CREDS = { username: USER, password: PASS };

/** Events with Buffers shown as hex strings. */
function show(events: readonly SocksEvent[]): unknown[] {
  return events.map((e) => {
    if (e.kind === 'send') return { kind: 'send', data: e.data.toString('hex') };
    if (e.kind === 'done') return { kind: 'done', bound: { ...e.bound }, rest: e.rest.toString('hex') };
    return { ...e };
  });
}

interface Outcome {
  events: unknown[];
  error: BurrowError | undefined;
}

/**
 * Starts a client and feeds `chunks` like a connection would: the greeting is
 * the first event; after 'done' the remaining chunks are tunnel bytes, shown
 * appended to the 'done' event's rest.
 */
function run(req: SocksRequest, chunks: readonly Buffer[]): Outcome & { client: Socks5Client } {
  const client = new Socks5Client(req);
  const events: SocksEvent[] = [...client.start()];
  try {
    for (let i = 0; i < chunks.length; i++) {
      const evs = client.feed(chunks[i] as Buffer);
      const done = evs.find((e) => e.kind === 'done');
      if (done !== undefined) {
        events.push(...evs.filter((e) => e !== done), { ...done, rest: Buffer.concat([done.rest, ...chunks.slice(i + 1)]) });
        break;
      }
      events.push(...evs);
    }
  } catch (e) {
    assert.ok(e instanceof BurrowError, `not a BurrowError: ${String(e)}`);
    return { client, events: show(events), error: e };
  }
  return { client, events: show(events), error: undefined };
}

function bytewise(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i++) out.push(buf.subarray(i, i + 1));
  return out;
}

function expectError(o: Outcome, code: ErrorCode, stage: ErrorStage): BurrowError {
  assert.ok(o.error, `expected ${code}, got events ${JSON.stringify(o.events)}`);
  assert.equal(o.error.code, code, o.error.message);
  assert.equal(o.error.stage, stage);
  return o.error;
}

function expectInvalid(req: SocksRequest, option: string): BurrowError {
  let caught: unknown;
  try {
    new Socks5Client(req);
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof BurrowError, 'expected a BurrowError');
  assert.equal(caught.code, 'ERR_INVALID_OPTION');
  assert.equal(caught.stage, 'options');
  assert.equal(caught.details.option, option);
  return caught;
}

function greetingOf(req: SocksRequest): string {
  const ev = new Socks5Client(req).start();
  assert.equal(ev.length, 1);
  const e = ev[0];
  assert.ok(e !== undefined && e.kind === 'send');
  return e.data.toString('hex');
}

/** The CONNECT request bytes the client sends after the server chose 'none'. */
function connectOf(host: string, port: number): string {
  const client = new Socks5Client({ host, port });
  client.start();
  const ev = client.feed(h('0500'));
  assert.equal(ev.length, 2);
  const e = ev[1];
  assert.ok(e !== undefined && e.kind === 'send');
  return e.data.toString('hex');
}

const OK_V4 = h('05 00 00 01 7f000001 1f90'); // bound 127.0.0.1:8080

describe('SOCKS5 greeting', () => {
  it('offers the methods in the order given', () => {
    assert.equal(greetingOf({ host: 'x', port: 1 }), '050100');
    assert.equal(greetingOf({ host: 'x', port: 1, auth: ['none'] }), '050100');
    assert.equal(greetingOf({ host: 'x', port: 1, auth: [CREDS] }), '050102');
    assert.equal(greetingOf({ host: 'x', port: 1, auth: ['none', CREDS] }), '05020002');
    assert.equal(greetingOf({ host: 'x', port: 1, auth: [CREDS, 'none'] }), '05020200');
  });

  it('start() twice and feed() before start() are state errors', () => {
    const c = new Socks5Client({ host: 'x', port: 1 });
    assert.throws(() => c.feed(h('0500')), (e: unknown) => e instanceof BurrowError && e.code === 'ERR_BAD_STATE');
    assert.equal(c.phase, 'greeting');
    c.start();
    assert.throws(() => c.start(), (e: unknown) => e instanceof BurrowError && e.code === 'ERR_BAD_STATE');
    assert.deepEqual(show(c.feed(h('0500'))), [
      { kind: 'method', method: 'none' },
      { kind: 'send', data: '050100' + '03' + '0178' + '0001' },
    ]);
  });
});

describe('SOCKS5 username/password sub-negotiation', () => {
  it('sends 01 ULEN USER PLEN PASS after the server chose method 02', () => {
    const c = new Socks5Client({ host: 'example.com', port: 443, auth: ['none', CREDS] });
    c.start();
    assert.equal(c.phase, 'greeting');
    const ev = c.feed(h('0502'));
    assert.equal(c.phase, 'auth');
    assert.deepEqual(show(ev), [
      { kind: 'method', method: 'username-password' },
      { kind: 'send', data: '01' + '05' + Buffer.from(USER).toString('hex') + '1c' + Buffer.from(PASS).toString('hex') },
    ]);
    const ev2 = c.feed(h('0100'));
    assert.equal(c.phase, 'connect');
    assert.deepEqual(show(ev2), [{ kind: 'send', data: '050100' + '030b' + Buffer.from('example.com').toString('hex') + '01bb' }]);
    const ev3 = c.feed(OK_V4);
    assert.equal(c.phase, 'done');
    assert.deepEqual(show(ev3), [{ kind: 'done', bound: { host: '127.0.0.1', port: 8080, addressType: 'ipv4' }, rest: '' }]);
  });

  it('encodes UTF-8 credentials with their byte lengths', () => {
    const c = new Socks5Client({ host: 'x', port: 1, auth: [{ username: 'é', password: 'p€' }] });
    c.start();
    assert.deepEqual(show(c.feed(h('0502'))), [
      { kind: 'method', method: 'username-password' },
      { kind: 'send', data: '01 02 c3a9 04 70e282ac'.replace(/ /g, '') },
    ]);
  });

  it('accepts 255-byte credentials and rejects 0 or 256 bytes', () => {
    const c = new Socks5Client({ host: 'x', port: 1, auth: [{ username: 'u'.repeat(255), password: 'p'.repeat(255) }] });
    c.start();
    const send = c.feed(h('0502'))[1];
    assert.ok(send !== undefined && send.kind === 'send');
    assert.equal(send.data.length, 3 + 255 + 255);
    assert.equal(send.data[1], 255);
    assert.equal(send.data[2 + 255], 255);
    expectInvalid({ host: 'x', port: 1, auth: [{ username: '', password: 'p' }] }, 'auth.username');
    expectInvalid({ host: 'x', port: 1, auth: [{ username: 'u'.repeat(256), password: 'p' }] }, 'auth.username');
    expectInvalid({ host: 'x', port: 1, auth: [{ username: 'é'.repeat(128), password: 'p' }] }, 'auth.username');
    expectInvalid({ host: 'x', port: 1, auth: [{ username: 'u', password: '' }] }, 'auth.password');
    const secret = 'S3CRET-' + 'x'.repeat(250);
    const e = expectInvalid({ host: 'x', port: 1, auth: [{ username: 'u', password: secret }] }, 'auth.password');
    assert.ok(!e.message.includes('S3CRET'));
    assert.ok(!JSON.stringify(e.details).includes('S3CRET'));
  });
});

describe('SOCKS5 CONNECT request', () => {
  it('sends a hostname as ATYP 3', () => {
    assert.equal(connectOf('localhost', 8080), '050100' + '03' + '09' + '6c6f63616c686f7374' + '1f90');
    assert.equal(connectOf('a', 65535), '050100' + '03' + '01' + '61' + 'ffff');
    assert.equal(connectOf('1.2.3', 1), '050100' + '03' + '05' + '312e322e33' + '0001');
    // Sent as given, in UTF-8 (the caller passes the A-label form when it wants IDNA).
    assert.equal(connectOf('bücher.de', 80), '050100' + '03' + '0a' + '62c3bc636865722e6465' + '0050');
  });

  it('sends an IPv4 literal as ATYP 1', () => {
    assert.equal(connectOf('192.168.1.2', 443), '050100' + '01' + 'c0a80102' + '01bb');
    assert.equal(connectOf('0.0.0.0', 1), '050100' + '01' + '00000000' + '0001');
  });

  it('sends an IPv6 literal, with or without brackets, as ATYP 4', () => {
    const loop = '050100' + '04' + '00000000000000000000000000000001' + '0050';
    assert.equal(connectOf('::1', 80), loop);
    assert.equal(connectOf('[::1]', 80), loop);
    assert.equal(connectOf('2001:db8::ff00:42:8329', 443), '050100' + '04' + '20010db8000000000000ff0000428329' + '01bb');
    assert.equal(connectOf('[2001:DB8:0:0:1:0:0:1]', 443), '050100' + '04' + '20010db8000000000001000000000001' + '01bb');
    assert.equal(connectOf('::ffff:1.2.3.4', 80), '050100' + '04' + '00000000000000000000ffff01020304' + '0050');
    assert.equal(connectOf('1:2:3:4:5:6:7::', 80), '050100' + '04' + '00010002000300040005000600070000' + '0050');
    assert.equal(connectOf('::', 80), '050100' + '04' + '00'.repeat(16) + '0050');
  });

  it('accepts a 255-byte hostname and rejects 256 bytes', () => {
    const name = ('a'.repeat(63) + '.').repeat(4).slice(0, 255);
    assert.equal(Buffer.byteLength(name), 255);
    assert.equal(connectOf(name, 443), '050100' + '03' + 'ff' + Buffer.from(name).toString('hex') + '01bb');
    expectInvalid({ host: name + 'a', port: 443 }, 'host');
    expectInvalid({ host: 'é'.repeat(128), port: 443 }, 'host');
  });

  it('validates host, port and auth', () => {
    expectInvalid({ host: '', port: 80 }, 'host');
    expectInvalid({ host: '[example.com]', port: 80 }, 'host');
    expectInvalid({ host: 'fe80::1%eth0', port: 80 }, 'host');
    for (const port of [0, -1, 65536, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) expectInvalid({ host: 'x', port }, 'port');
    expectInvalid({ host: 'x', port: 80, auth: [] }, 'auth');
    expectInvalid({ host: 'x', port: 80, auth: ['none', 'none'] }, 'auth');
    expectInvalid({ host: 'x', port: 80, auth: [CREDS, { username: 'b', password: 'c' }] }, 'auth');
    expectInvalid({ host: 'x', port: 80, auth: ['basic' as unknown as 'none'] }, 'auth');
  });
});

describe('SOCKS5 replies', () => {
  it('names reply codes', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 255].map(socksReplyName),
      [
        'general_failure',
        'connection_not_allowed',
        'network_unreachable',
        'host_unreachable',
        'connection_refused',
        'ttl_expired',
        'command_not_supported',
        'address_type_not_supported',
        'unknown_9',
        'unknown_255',
      ],
    );
  });

  it('every failure reply code gives ERR_SOCKS_REPLY with its name', () => {
    const names = ['', 'general_failure', 'connection_not_allowed', 'network_unreachable', 'host_unreachable',
      'connection_refused', 'ttl_expired', 'command_not_supported', 'address_type_not_supported'];
    for (const rep of [1, 2, 3, 4, 5, 6, 7, 8, 0x2a]) {
      const replyName = rep <= 8 ? names[rep] : 'unknown_42';
      const reply = Buffer.from([5, rep, 0, 1, 0, 0, 0, 0, 0, 0]);
      for (const chunks of [[h('0500'), reply], [Buffer.concat([h('0500'), reply])], bytewise(Buffer.concat([h('0500'), reply]))]) {
        const o = run({ host: 'example.com', port: 443 }, chunks);
        const e = expectError(o, 'ERR_SOCKS_REPLY', 'socks-reply');
        assert.deepEqual(e.details, { reply: rep, replyName });
        assert.equal(e.message, `SOCKS5 server replied ${replyName} (${rep}) to the CONNECT request for example.com:443`);
        assert.equal(o.client.phase, 'failed');
      }
    }
  });

  it('a failure reply is reported as soon as its code arrives (the server may close right after)', () => {
    const o = run({ host: '::1', port: 443 }, [h('0500'), h('0505')]);
    const e = expectError(o, 'ERR_SOCKS_REPLY', 'socks-reply');
    assert.match(e.message, /connection_refused \(5\) to the CONNECT request for \[::1\]:443/);
  });

  it('0xFF: no acceptable method', () => {
    const o = run({ host: 'x', port: 1, auth: ['none', CREDS] }, [h('05ff')]);
    const e = expectError(o, 'ERR_SOCKS_NO_ACCEPTABLE_METHOD', 'socks-auth');
    assert.match(e.message, /method selection/);
    assert.match(e.message, /none, username-password/);
    assert.ok(!e.message.includes(PASS));
  });

  it('a method that was not offered is a protocol error', () => {
    let e = expectError(run({ host: 'x', port: 1 }, [h('0502')]), 'ERR_SOCKS_PROTOCOL', 'socks-auth');
    assert.match(e.message, /method selection.*username-password.*not offered/);
    e = expectError(run({ host: 'x', port: 1, auth: [CREDS] }, [h('0500')]), 'ERR_SOCKS_PROTOCOL', 'socks-auth');
    assert.equal(e.details.method, 0);
    e = expectError(run({ host: 'x', port: 1, auth: ['none', CREDS] }, [h('0501')]), 'ERR_SOCKS_PROTOCOL', 'socks-auth');
    assert.equal(e.details.method, 1);
  });

  it('a wrong version in the method reply is a protocol error', () => {
    const e = expectError(run({ host: 'x', port: 1 }, [h('04')]), 'ERR_SOCKS_PROTOCOL', 'socks-auth');
    assert.match(e.message, /method selection.*version 4/);
    const http = expectError(run({ host: 'x', port: 1 }, [Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n')]), 'ERR_SOCKS_PROTOCOL', 'socks-auth');
    assert.match(http.message, /HTTP server/);
  });

  it('auth rejected: ERR_SOCKS_AUTH with the status, never the password', () => {
    for (const status of [1, 0x7f, 0xff]) {
      const o = run({ host: 'x', port: 1, auth: [CREDS] }, [h('0502'), Buffer.from([1, status])]);
      const e = expectError(o, 'ERR_SOCKS_AUTH', 'socks-auth');
      assert.equal(e.details.status, status);
      assert.match(e.message, /authentication/);
      assert.ok(!e.message.includes(PASS) && !JSON.stringify(e.details).includes(PASS));
      assert.equal(o.client.phase, 'failed');
    }
  });

  it('a wrong sub-negotiation version is a protocol error', () => {
    const e = expectError(run({ host: 'x', port: 1, auth: [CREDS] }, [h('0502'), h('0500')]), 'ERR_SOCKS_PROTOCOL', 'socks-auth');
    assert.match(e.message, /authentication.*version 5, expected 1/);
    assert.equal(e.details.phase, 'auth');
  });

  it('bad version, reserved byte or address type in the CONNECT reply is a protocol error', () => {
    let e = expectError(run({ host: 'x', port: 1 }, [h('0500'), h('0400')]), 'ERR_SOCKS_PROTOCOL', 'socks-reply');
    assert.match(e.message, /CONNECT.*version 4/);
    e = expectError(run({ host: 'x', port: 1 }, [h('0500'), h('05000101')]), 'ERR_SOCKS_PROTOCOL', 'socks-reply');
    assert.match(e.message, /CONNECT.*reserved/);
    for (const atyp of [0, 2, 5, 0xff]) {
      e = expectError(run({ host: 'x', port: 1 }, [h('0500'), Buffer.from([5, 0, 0, atyp])]), 'ERR_SOCKS_PROTOCOL', 'socks-reply');
      assert.match(e.message, /CONNECT.*address type/);
      assert.equal(e.details.addressType, atyp);
    }
  });

  it('parses the bound address of all three address types', () => {
    const bound = (reply: string): unknown => {
      const o = run({ host: 'x', port: 1 }, [h('0500'), h(reply)]);
      assert.equal(o.error, undefined, o.error?.message);
      const last = o.events[o.events.length - 1] as { kind: string; bound: unknown };
      assert.equal(last.kind, 'done');
      return last.bound;
    };
    assert.deepEqual(bound('050000 01 0a000001 0050'), { host: '10.0.0.1', port: 80, addressType: 'ipv4' });
    assert.deepEqual(bound('050000 01 ffffffff ffff'), { host: '255.255.255.255', port: 65535, addressType: 'ipv4' });
    assert.deepEqual(bound('050000 03 0b 6578616d706c652e636f6d 01bb'), { host: 'example.com', port: 443, addressType: 'domain' });
    assert.deepEqual(bound('050000 03 00 0000'), { host: '', port: 0, addressType: 'domain' });
    assert.deepEqual(bound('050000 03 02 e9ff 0001'), { host: '\u00e9\u00ff', port: 1, addressType: 'domain' });
    const v6: Array<[string, string]> = [
      ['00000000000000000000000000000000', '::'],
      ['00000000000000000000000000000001', '::1'],
      ['00010000000000000000000000000000', '1::'],
      ['20010db8000000000000000000000001', '2001:db8::1'],
      ['20010db8000000000001000000000001', '2001:db8::1:0:0:1'],
      ['20010db8000000010000000000000001', '2001:db8:0:1::1'],
      ['20010db8000000010001000100010001', '2001:db8:0:1:1:1:1:1'],
      ['20010db80000000000000000abcd0000', '2001:db8::abcd:0'],
      ['fe800000000000000000000000000000', 'fe80::'],
      ['00000000000000000000ffff01020304', '::ffff:102:304'],
      ['abcdef01234567890fedcba987654321', 'abcd:ef01:2345:6789:fed:cba9:8765:4321'],
    ];
    for (const [bytes, text] of v6) {
      assert.deepEqual(bound(`050000 04 ${bytes} 1f90`), { host: text, port: 8080, addressType: 'ipv6' });
      assert.ok(isIPv6(text), text);
    }
  });
});

describe('SOCKS5 tunnel bytes and chunking', () => {
  it('keeps the bytes after the reply (reply and first tunnel bytes in one chunk)', () => {
    const tunnel = Buffer.from('HTTP/1.1 200 OK\r\n');
    const c = new Socks5Client({ host: 'x', port: 1 });
    c.start();
    c.feed(h('0500'));
    const chunk = Buffer.concat([OK_V4, tunnel]);
    const ev = c.feed(chunk);
    assert.equal(ev.length, 1);
    const done = ev[0];
    assert.ok(done !== undefined && done.kind === 'done');
    assert.deepEqual(done.rest, tunnel);
    assert.equal(done.rest.buffer, chunk.buffer, 'rest is a subarray of the chunk, not a copy');
  });

  it('keeps tunnel bytes when the whole server script arrives in one chunk', () => {
    const o = run({ host: 'x', port: 1, auth: [CREDS] }, [Buffer.concat([h('0502 0100'), h('050000 03 01 61 0050'), h('deadbeef')])]);
    assert.equal(o.error, undefined);
    assert.deepEqual(o.events.at(-1), { kind: 'done', bound: { host: 'a', port: 80, addressType: 'domain' }, rest: 'deadbeef' });
  });

  it('keeps tunnel bytes after a reply that was split across chunks', () => {
    const o = run({ host: 'x', port: 1 }, [h('0500 0500'), h('0004 0000000000000000'), h('0000000000000001 01bb cafe')]);
    assert.deepEqual(o.events.at(-1), { kind: 'done', bound: { host: '::1', port: 443, addressType: 'ipv6' }, rest: 'cafe' });
  });

  it('ignores empty chunks and gives an empty rest when no tunnel bytes came', () => {
    const c = new Socks5Client({ host: 'x', port: 1 });
    c.start();
    assert.deepEqual(c.feed(Buffer.alloc(0)), []);
    c.feed(h('05'));
    assert.deepEqual(c.feed(Buffer.alloc(0)), []);
    c.feed(h('00'));
    const ev = c.feed(OK_V4);
    const done = ev[0];
    assert.ok(done !== undefined && done.kind === 'done');
    assert.equal(done.rest.length, 0);
  });

  it('every input fed one byte at a time gives the same events and errors', () => {
    const scripts: Array<[SocksRequest, string]> = [
      [{ host: 'localhost', port: 80 }, '0500 050000 01 7f000001 1f90'],
      [{ host: 'localhost', port: 80 }, '0500 050000 01 7f000001 1f90 474554'],
      [{ host: '::1', port: 80, auth: [CREDS] }, '0502 0100 050000 04 20010db8000000000000000000000001 0050 00'],
      [{ host: '10.1.2.3', port: 80, auth: ['none', CREDS] }, '0502 0100 050000 03 05 68656c6c6f 0050 0102030405'],
      [{ host: 'x', port: 80 }, '0500 050000 03 00 0050'],
      [{ host: 'x', port: 80 }, '0500 0504 000100000000 0000'],
      [{ host: 'x', port: 80, auth: [CREDS] }, '0502 0101'],
      [{ host: 'x', port: 80, auth: [CREDS] }, '0502 0200'],
      [{ host: 'x', port: 80 }, '05ff'],
      [{ host: 'x', port: 80 }, '0500 050001'],
      [{ host: 'x', port: 80 }, '0500 05000007'],
      [{ host: 'x', port: 80 }, '0400'],
    ];
    for (const [req, hex] of scripts) {
      const whole = run(req, [h(hex)]);
      const split = run(req, bytewise(h(hex)));
      const stepwise = run(req, [h(hex).subarray(0, 3), h(hex).subarray(3)]);
      for (const other of [split, stepwise]) {
        assert.equal(other.error?.code, whole.error?.code, hex);
        assert.equal(other.error?.message, whole.error?.message, hex);
        assert.deepEqual(other.error?.details, whole.error?.details, hex);
        if (whole.error === undefined) assert.deepEqual(other.events, whole.events, hex);
      }
    }
  });
});

describe('SOCKS5 codec lifetime', () => {
  it('is dead after done: feed() throws ERR_SOCKS_PROTOCOL', () => {
    const c = new Socks5Client({ host: 'x', port: 1 });
    c.start();
    c.feed(h('0500'));
    c.feed(OK_V4);
    assert.equal(c.phase, 'done');
    assert.throws(() => c.feed(h('00')), (e: unknown) => e instanceof BurrowError && e.code === 'ERR_SOCKS_PROTOCOL' && /after the handshake completed/.test(e.message));
    assert.equal(c.phase, 'done');
  });

  it('is dead after an error: feed() throws ERR_SOCKS_PROTOCOL naming the first error', () => {
    const c = new Socks5Client({ host: 'x', port: 1, auth: [CREDS] });
    c.start();
    c.feed(h('0502'));
    assert.throws(() => c.feed(h('0101')), (e: unknown) => e instanceof BurrowError && e.code === 'ERR_SOCKS_AUTH');
    assert.equal(c.phase, 'failed');
    assert.throws(
      () => c.feed(h('0100')),
      (e: unknown) => e instanceof BurrowError && e.code === 'ERR_SOCKS_PROTOCOL' && e.message.includes('ERR_SOCKS_AUTH') && !e.message.includes(PASS),
    );
  });

  it('reports its phase', () => {
    const c = new Socks5Client({ host: 'x', port: 1, auth: [CREDS] });
    const phases: string[] = [c.phase];
    c.start();
    for (const b of bytewise(h('0502 0100 050000 01 00000000 0000'))) {
      c.feed(b);
      if (phases[phases.length - 1] !== c.phase) phases.push(c.phase);
    }
    assert.deepEqual(phases, ['greeting', 'auth', 'connect', 'done']);
  });
});
