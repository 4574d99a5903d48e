import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BurrowError } from '../../../src/errors/errors.js';
import { Socks5Client, socksReplyName, type SocksAuthMethod, type SocksEvent, type SocksRequest } from '../../../src/protocols/socks5/index.js';

// ---------------------------------------------------------------------------
// A model of valid server scripts: the bytes a server sends and what they mean.

interface Script {
  req: SocksRequest;
  /** Index into req.auth of the method the server chooses. */
  choice: number;
  authStatus: number;
  reply: number;
  atyp: 1 | 3 | 4;
  addr: Uint8Array;
  boundPort: number;
  trailing: Uint8Array;
}

/** What a run shows: events (Buffers as hex; no 'done' rest), tunnel bytes, the error. */
interface Shown {
  events: unknown[];
  tunnel: string | undefined;
  error: { code: string; stage: string; message: string; details: unknown } | undefined;
}

const credsArb = fc.record({
  username: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }),
  // A marker no host or message text contains, so "the password is not in the message" is meaningful.
  password: fc.string({ unit: 'grapheme', maxLength: 12 }).map((p) => `\u00a7pw${p}`),
});

const authArb: fc.Arbitrary<SocksAuthMethod[]> = fc.oneof(
  fc.constant<SocksAuthMethod[]>(['none']),
  credsArb.map((c): SocksAuthMethod[] => [c]),
  credsArb.map((c): SocksAuthMethod[] => ['none', c]),
  credsArb.map((c): SocksAuthMethod[] => [c, 'none']),
);

const hostArb = fc.oneof(
  fc.domain(),
  fc.ipV4(),
  fc.ipV6(),
  fc.ipV6().map((a) => `[${a}]`),
  fc.stringMatching(/^[a-z0-9_-]{1,20}$/),
);

const scriptArb: fc.Arbitrary<Script> = fc
  .record({
    host: hostArb,
    port: fc.integer({ min: 1, max: 65535 }),
    auth: authArb,
    choiceSeed: fc.nat(),
    authStatus: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 255 }) }),
    reply: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 255 }) }),
    atyp: fc.constantFrom<1 | 3 | 4>(1, 3, 4),
    addrSeed: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    domain: fc.oneof(fc.uint8Array({ maxLength: 20 }), fc.uint8Array({ minLength: 250, maxLength: 255 })),
    boundPort: fc.integer({ min: 0, max: 65535 }),
    trailing: fc.uint8Array({ maxLength: 40 }),
  })
  .map((r) => ({
    req: { host: r.host, port: r.port, auth: r.auth },
    choice: r.choiceSeed % r.auth.length,
    authStatus: r.authStatus,
    reply: r.reply,
    atyp: r.atyp,
    addr: r.atyp === 1 ? r.addrSeed.subarray(0, 4) : r.atyp === 4 ? r.addrSeed : r.domain,
    boundPort: r.boundPort,
    trailing: r.trailing,
  }));

function methodCode(m: SocksAuthMethod): number {
  return m === 'none' ? 0 : 2;
}

/** The server's bytes for a script. */
function serverBytes(s: Script): Buffer {
  const auth = s.req.auth ?? ['none'];
  const chosen = auth[s.choice] as SocksAuthMethod;
  const parts: number[] = [5, methodCode(chosen)];
  if (chosen !== 'none') parts.push(1, s.authStatus);
  parts.push(5, s.reply, 0, s.atyp);
  if (s.atyp === 3) parts.push(s.addr.length);
  parts.push(...s.addr, s.boundPort >> 8, s.boundPort & 0xff);
  parts.push(...s.trailing);
  return Buffer.from(parts);
}

/** RFC 5952 form via the WHATWG URL serializer (an independent implementation). */
function ipv6Text(b: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((b[i] as number) << 8) | (b[i + 1] as number)).toString(16));
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/** What the model says a script produces (the greeting included). */
function expected(s: Script): { events: unknown[]; tunnel: string | undefined; errorCode: string | undefined } {
  const auth = s.req.auth ?? ['none'];
  const chosen = auth[s.choice] as SocksAuthMethod;
  const events: unknown[] = [{ kind: 'send', data: Buffer.from([5, auth.length, ...auth.map(methodCode)]).toString('hex') }];
  if (chosen === 'none') {
    events.push({ kind: 'method', method: 'none' }, { kind: 'send', data: 'connect' });
  } else {
    const u = Buffer.from(chosen.username);
    const p = Buffer.from(chosen.password);
    events.push(
      { kind: 'method', method: 'username-password' },
      { kind: 'send', data: Buffer.concat([Buffer.from([1, u.length]), u, Buffer.from([p.length]), p]).toString('hex') },
    );
    if (s.authStatus !== 0) return { events, tunnel: undefined, errorCode: 'ERR_SOCKS_AUTH' };
    events.push({ kind: 'send', data: 'connect' });
  }
  if (s.reply !== 0) return { events, tunnel: undefined, errorCode: 'ERR_SOCKS_REPLY' };
  const host =
    s.atyp === 1 ? Array.from(s.addr).join('.') : s.atyp === 4 ? ipv6Text(s.addr) : Buffer.from(s.addr).toString('latin1');
  const addressType = s.atyp === 1 ? 'ipv4' : s.atyp === 4 ? 'ipv6' : 'domain';
  events.push({ kind: 'done', bound: { host, port: s.boundPort, addressType } });
  return { events, tunnel: Buffer.from(s.trailing).toString('hex'), errorCode: undefined };
}

/** Drives a codec like a connection would: stops feeding at 'done'; later chunks are tunnel bytes. */
function drive(req: SocksRequest, chunks: readonly Buffer[]): Shown {
  const client = new Socks5Client(req);
  const events: unknown[] = [];
  const push = (evs: readonly SocksEvent[]): boolean => {
    for (const e of evs) {
      if (e.kind === 'send') {
        const hex = e.data.toString('hex');
        // CONNECT requests are shown as 'connect' (their exact bytes are tested elsewhere).
        events.push({ kind: 'send', data: hex.startsWith('050100') && events.length > 0 ? 'connect' : hex });
      } else if (e.kind === 'method') {
        events.push({ ...e });
      } else {
        events.push({ kind: 'done', bound: { ...e.bound } });
        tunnel.push(e.rest);
        return true;
      }
    }
    return false;
  };
  const tunnel: Buffer[] = [];
  push(client.start());
  let i = 0;
  try {
    for (; i < chunks.length; i++) {
      if (push(client.feed(chunks[i] as Buffer))) break;
    }
  } catch (e) {
    if (!(e instanceof BurrowError)) throw e;
    assert.equal(client.phase, 'failed');
    return { events, tunnel: undefined, error: { code: e.code, stage: e.stage, message: e.message, details: e.details } };
  }
  if (tunnel.length === 0) return { events, tunnel: undefined, error: undefined };
  tunnel.push(...chunks.slice(i + 1));
  return { events, tunnel: Buffer.concat(tunnel).toString('hex'), error: undefined };
}

const cutsArb = fc.array(fc.nat(), { maxLength: 12 });

function cut(buf: Buffer, seeds: readonly number[]): Buffer[] {
  const points = [...new Set(seeds.map((s) => s % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out;
}

/** A Buffer copied to its own memory, so no test depends on shared backing stores. */
function own(b: Buffer): Buffer {
  return Buffer.from(b);
}

describe('SOCKS5 codec properties', () => {
  it('valid server scripts cut into random pieces give the same events as fed whole, and as the model', () => {
    fc.assert(
      fc.property(scriptArb, cutsArb, (s, seeds) => {
        const bytes = serverBytes(s);
        const whole = drive(s.req, [bytes]);
        const split = drive(s.req, cut(bytes, seeds).map(own));
        const model = expected(s);
        if (model.errorCode === undefined) {
          assert.equal(whole.error, undefined, whole.error?.message);
          assert.deepEqual(whole.events, model.events);
          assert.equal(whole.tunnel, model.tunnel);
          assert.deepEqual(split, whole);
        } else {
          assert.equal(whole.error?.code, model.errorCode);
          assert.deepEqual(split.error, whole.error);
          // Before its error, a split run has seen a prefix of the model's events.
          assert.deepEqual(split.events, model.events.slice(0, split.events.length));
          if (model.errorCode === 'ERR_SOCKS_REPLY') {
            assert.deepEqual(whole.error?.details, { reply: s.reply, replyName: socksReplyName(s.reply) });
          }
          const auth = s.req.auth ?? ['none'];
          for (const m of auth) {
            if (m !== 'none') {
              assert.ok(!(whole.error?.message ?? '').includes(m.password));
              assert.ok(!JSON.stringify(whole.error?.details).includes(m.password));
            }
          }
        }
      }),
      { numRuns: 1500 },
    );
  });

  it('random bytes only ever throw BurrowError, the same one however they are split', () => {
    const reqArb = fc.constantFrom<SocksRequest>(
      { host: 'example.com', port: 443 },
      { host: '10.0.0.1', port: 80, auth: [{ username: 'user', password: 'pa55word!' }] },
      { host: '[::1]', port: 8080, auth: ['none', { username: 'u', password: 'pa55word!' }] },
    );
    // Random bytes, and random bytes after a plausible prefix (so later phases get fuzzed too).
    const prefixArb = fc.constantFrom('', '05', '0500', '0502', '05020100', '050205', '05000500', '0500050000', '050005000003');
    const inputArb = fc
      .tuple(prefixArb, fc.uint8Array({ maxLength: 300 }))
      .map(([p, r]) => Buffer.concat([Buffer.from(p, 'hex'), Buffer.from(r)]));
    const t0 = Date.now();
    fc.assert(
      fc.property(reqArb, inputArb, cutsArb, (req, input, seeds) => {
        const whole = drive(req, [input]);
        const split = drive(req, cut(input, seeds).map(own));
        assert.deepEqual(split.error, whole.error);
        if (whole.error === undefined) {
          assert.deepEqual(split, whole);
        } else {
          assert.match(whole.error.code, /^ERR_SOCKS_/);
          assert.ok(!whole.error.message.includes('pa55word!'));
          assert.ok(!JSON.stringify(whole.error.details).includes('pa55word!'));
        }
      }),
      { numRuns: 3000 },
    );
    assert.ok(Date.now() - t0 < 3000, `fuzz took ${Date.now() - t0} ms`);
  });

  it('after a throw, every feed() throws ERR_SOCKS_PROTOCOL', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 30 }), fc.uint8Array({ maxLength: 5 }), (bad, more) => {
        const c = new Socks5Client({ host: 'x', port: 1 });
        c.start();
        let threw = false;
        try {
          c.feed(Buffer.from(bad));
        } catch (e) {
          assert.ok(e instanceof BurrowError);
          threw = true;
        }
        if (!threw) return;
        assert.equal(c.phase, 'failed');
        assert.throws(() => c.feed(Buffer.from(more)), (e: unknown) => e instanceof BurrowError && e.code === 'ERR_SOCKS_PROTOCOL');
      }),
      { numRuns: 500 },
    );
  });
});
