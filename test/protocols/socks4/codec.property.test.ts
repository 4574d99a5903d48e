import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BurrowError } from '../../../src/errors/errors.js';
import { Socks4Client, socks4ReplyName, type Socks4Request } from '../../../src/protocols/socks4/index.js';

/** What a run shows: the request sent, the bound address, the tunnel bytes, the error. */
interface Shown {
  request: string;
  bound: { host: string; port: number } | undefined;
  tunnel: string | undefined;
  error: { code: string; stage: string; message: string; details: unknown } | undefined;
}

/** IPv4 addresses that can be sent (0.0.0.x, x != 0, marks a SOCKS4a name). */
const ipv4Arb = fc.ipV4().filter((a) => !a.startsWith('0.0.0.') || a === '0.0.0.0');

const reqArb: fc.Arbitrary<Socks4Request> = fc.oneof(
  fc.record({ host: ipv4Arb, port: fc.integer({ min: 1, max: 65535 }), userId: fc.string({ maxLength: 20 }).filter((s) => !s.includes('\0')) }),
  fc.record({
    host: fc.oneof(fc.domain(), ipv4Arb),
    port: fc.integer({ min: 1, max: 65535 }),
    userId: fc.string({ unit: 'grapheme', maxLength: 20 }).filter((s) => !s.includes('\0') && Buffer.byteLength(s) <= 255),
    version: fc.constant<'4a'>('4a'),
  }),
);

/** Drives a codec like a connection would: stops feeding at 'done'; later chunks are tunnel bytes. */
function drive(req: Socks4Request, chunks: readonly Buffer[]): Shown {
  const client = new Socks4Client(req);
  const [first] = client.start();
  const request = first?.kind === 'send' ? first.data.toString('hex') : '';
  let i = 0;
  try {
    for (; i < chunks.length; i++) {
      const evs = client.feed(chunks[i] as Buffer);
      const done = evs[0];
      if (done?.kind === 'done') {
        return { request, bound: { ...done.bound }, tunnel: Buffer.concat([done.rest, ...chunks.slice(i + 1)]).toString('hex'), error: undefined };
      }
    }
  } catch (e) {
    if (!(e instanceof BurrowError)) throw e;
    assert.equal(client.phase, 'failed');
    return { request, bound: undefined, tunnel: undefined, error: { code: e.code, stage: e.stage, message: e.message, details: e.details } };
  }
  return { request, bound: undefined, tunnel: undefined, error: undefined };
}

const cutsArb = fc.array(fc.nat(), { maxLength: 10 });

function cut(buf: Buffer, seeds: readonly number[]): Buffer[] {
  const points = [...new Set(seeds.map((s) => s % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(Buffer.from(buf.subarray(prev, p)));
    prev = p;
  }
  out.push(Buffer.from(buf.subarray(prev)));
  return out;
}

describe('SOCKS4 codec properties', () => {
  it('valid replies cut into random pieces give the same result as fed whole, and as the model', () => {
    fc.assert(
      fc.property(
        reqArb,
        fc.oneof({ weight: 3, arbitrary: fc.constant(0x5a) }, { weight: 1, arbitrary: fc.constantFrom(0x5b, 0x5c, 0x5d) }),
        fc.integer({ min: 0, max: 65535 }),
        fc.ipV4(),
        fc.uint8Array({ maxLength: 40 }),
        cutsArb,
        (req, code, port, ip, trailing, seeds) => {
          const reply = Buffer.alloc(8);
          reply[1] = code;
          reply.writeUInt16BE(port, 2);
          ip.split('.').forEach((p, k) => (reply[4 + k] = Number(p)));
          const bytes = Buffer.concat([reply, trailing]);
          const whole = drive(req, [bytes]);
          const split = drive(req, cut(bytes, seeds));
          assert.deepEqual(split, whole);
          if (code === 0x5a) {
            assert.equal(whole.error, undefined);
            assert.deepEqual(whole.bound, { host: ip, port });
            assert.equal(whole.tunnel, Buffer.from(trailing).toString('hex'));
          } else {
            assert.equal(whole.error?.code, 'ERR_SOCKS_REPLY');
            assert.deepEqual(whole.error?.details, { reply: code, replyName: socks4ReplyName(code) });
          }
        },
      ),
    );
  });

  it('the request is 04 01 DSTPORT DSTIP USERID 00 [HOST 00], as an independent model encodes it', () => {
    fc.assert(
      fc.property(reqArb, (req) => {
        const ipv4 = /^\d+\.\d+\.\d+\.\d+$/.test(req.host);
        const port = Buffer.alloc(2);
        port.writeUInt16BE(req.port);
        const ip = ipv4 ? Buffer.from(req.host.split('.').map(Number)) : Buffer.from([0, 0, 0, 1]);
        const tail = ipv4 ? Buffer.alloc(0) : Buffer.concat([Buffer.from(req.host), Buffer.from([0])]);
        const model = Buffer.concat([Buffer.from([4, 1]), port, ip, Buffer.from(req.userId ?? ''), Buffer.from([0]), tail]);
        assert.equal(drive(req, []).request, model.toString('hex'));
      }),
    );
  });

  it('fuzz: random bytes only ever give a BurrowError or done, the same however they are split', () => {
    // Random bytes, and random bytes after a plausible prefix (so the whole reply gets fuzzed).
    const prefixArb = fc.constantFrom('', '00', '005a', '005a0000', '005a000000', '005a00000000');
    const inputArb = fc.tuple(prefixArb, fc.uint8Array({ maxLength: 40 })).map(([p, r]) => Buffer.concat([Buffer.from(p, 'hex'), Buffer.from(r)]));
    const t0 = Date.now();
    fc.assert(
      fc.property(reqArb, inputArb, cutsArb, (req, bytes, seeds) => {
        const whole = drive(req, [bytes]);
        const split = drive(req, cut(bytes, seeds));
        assert.deepEqual(split, whole);
        if (whole.error !== undefined) {
          assert.match(whole.error.code, /^ERR_SOCKS_(REPLY|PROTOCOL)$/);
          assert.equal(whole.error.stage, 'socks-reply');
        }
        const bad = (bytes.length >= 1 && bytes[0] !== 0) || (bytes.length >= 2 && bytes[1] !== 0x5a);
        assert.equal(whole.error !== undefined, bad);
        assert.equal(whole.bound !== undefined, !bad && bytes.length >= 8);
      }),
      { numRuns: 3000 },
    );
    assert.ok(Date.now() - t0 < 3000, `fuzz took ${Date.now() - t0} ms`);
  });

  it('after a throw, every feed() throws ERR_SOCKS_PROTOCOL', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 12 }), fc.uint8Array({ maxLength: 5 }), (bad, more) => {
        const c = new Socks4Client({ host: '10.0.0.1', port: 1 });
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
