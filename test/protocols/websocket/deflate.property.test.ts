// Properties of permessage-deflate (RFC 7692): what the client compresses, with any window and context takeover
// on or off, is read back by a plain zlib inflater of the peer's window and by the client's own decompressor
// configured as a server's; without context takeover every message stands alone; the tail is always removed;
// garbage given to the decompressor only ever fails with 1007 or 1009, and never hangs.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createInflateRaw, inflateRawSync, type InflateRaw } from 'node:zlib';
import fc from 'fast-check';
import { acceptDeflate, deflateOffer, parseExtensions, PerMessageDeflate, type DeflateParams } from '../../../src/protocols/websocket/deflate.js';
import { WsProtocolError } from '../../../src/protocols/websocket/frames.js';
import { within } from '../../regressions/util.js';
import { runs } from './budget.js';
import { ServerDeflater } from './model.js';

const TAIL = Buffer.from([0, 0, 0xff, 0xff]);

const message = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 200 }).map((s) => Buffer.from(s)),
  fc.uint8Array({ maxLength: 2000 }).map((u) => Buffer.from(u)),
  fc.record({ word: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 8 }), n: fc.integer({ min: 1, max: 3000 }) }).map(({ word, n }) => Buffer.from(word.repeat(n))),
);

/** A peer's inflater (plain zlib), keeping its context between messages or not. */
class PeerInflater {
  readonly #windowBits: number;
  readonly #keepContext: boolean;
  #z: InflateRaw | undefined;

  constructor(windowBits: number, keepContext: boolean) {
    this.#windowBits = windowBits;
    this.#keepContext = keepContext;
  }

  inflate(data: Buffer): Promise<Buffer> {
    const z = (this.#z ??= createInflateRaw({ windowBits: this.#windowBits }));
    const chunks: Buffer[] = [];
    const onData = (c: Buffer): void => {
      chunks.push(c);
    };
    z.on('data', onData);
    return new Promise((resolve, reject) => {
      z.once('error', reject);
      z.write(Buffer.concat([data, TAIL]));
      z.flush(constants.Z_SYNC_FLUSH, () => {
        z.removeListener('data', onData);
        z.removeListener('error', reject);
        if (!this.#keepContext) this.close();
        resolve(Buffer.concat(chunks));
      });
    });
  }

  close(): void {
    this.#z?.close();
    this.#z = undefined;
  }
}

describe('permessage-deflate (properties)', () => {
  it('compress: a peer inflater with the negotiated window reads every message back; the sync-flush tail is removed', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(message, { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 8, max: 15 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 9 }),
        async (messages, clientMaxWindowBits, clientNoContextTakeover, level) => {
          const params: DeflateParams = { serverNoContextTakeover: false, clientNoContextTakeover, serverMaxWindowBits: 15, clientMaxWindowBits };
          const client = new PerMessageDeflate(params, { maxPayload: 1 << 24, level });
          // The peer inflates with the window it allowed (zlib's raw deflate never uses a window of 8: 9 it is, and
          // its distances stay within 256 bytes, so an inflater of 8 bits reads it).
          const peer = new PeerInflater(clientMaxWindowBits, !clientNoContextTakeover);
          try {
            for (const m of messages) {
              const c = await client.compress(m);
              assert.ok(c.length < 4 || !c.subarray(-4).equals(TAIL), 'the tail is removed');
              assert.ok((await peer.inflate(c)).equals(m));
              if (clientNoContextTakeover) {
                // Each message stands alone: a fresh inflater reads it.
                assert.ok(inflateRawSync(Buffer.concat([c, TAIL]), { windowBits: Math.max(9, clientMaxWindowBits), finishFlush: constants.Z_SYNC_FLUSH }).equals(m));
              }
            }
          } finally {
            client.close();
            peer.close();
          }
        },
      ),
      { numRuns: runs(100) },
    );
  });

  it('without client context takeover, the same message always compresses to the same bytes', async () => {
    await fc.assert(
      fc.asyncProperty(message, fc.integer({ min: 8, max: 15 }), async (m, clientMaxWindowBits) => {
        const client = new PerMessageDeflate({ serverNoContextTakeover: false, clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits }, { maxPayload: 1 << 24 });
        try {
          const a = await client.compress(m);
          const b = await client.compress(m);
          assert.ok(a.equals(b));
        } finally {
          client.close();
        }
      }),
      { numRuns: runs(66) },
    );
  });

  it('round trip through two PerMessageDeflate ends (one compressing as a client, one decompressing as its server), any window, context takeover on or off', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(message, { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 8, max: 15 }),
        fc.boolean(),
        fc.boolean(),
        async (messages, windowBits, senderResets, receiverResetsAnyway) => {
          const sender = new PerMessageDeflate({ serverNoContextTakeover: false, clientNoContextTakeover: senderResets, serverMaxWindowBits: 15, clientMaxWindowBits: windowBits }, { maxPayload: 1 << 24 });
          // The receiver reads what the sender compressed as if it were a server's: same window, same context rule.
          const receiver = new PerMessageDeflate(
            { serverNoContextTakeover: senderResets && receiverResetsAnyway, clientNoContextTakeover: false, serverMaxWindowBits: windowBits, clientMaxWindowBits: 15 },
            { maxPayload: 1 << 24 },
          );
          try {
            // All at once: each side handles its messages in order.
            const compressed = await Promise.all(messages.map((m) => sender.compress(m)));
            const back = await Promise.all(compressed.map((c) => receiver.decompress(c)));
            back.forEach((b, i) => assert.ok(b.equals(messages[i] as Buffer), `message ${i}`));
          } finally {
            sender.close();
            receiver.close();
          }
        },
      ),
      { numRuns: runs(100) },
    );
  });

  it('decompress: garbage either inflates or rejects with 1007 / 1009, and always settles', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 4 }), fc.integer({ min: 1, max: 5000 }), fc.boolean(), async (inputs, maxPayload, reset) => {
        const d = new PerMessageDeflate({ serverNoContextTakeover: reset, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 }, { maxPayload });
        try {
          const results = await within(Promise.allSettled(inputs.map((u) => d.decompress(Buffer.from(u)))), 5000, 'decompress of garbage');
          for (const r of results) {
            if (r.status === 'fulfilled') {
              assert.ok(r.value.length <= maxPayload);
              continue;
            }
            assert.ok(r.reason instanceof WsProtocolError, String(r.reason));
            assert.ok(r.reason.closeCode === 1007 || r.reason.closeCode === 1009, String(r.reason.closeCode));
          }
        } finally {
          d.close();
        }
      }),
      { numRuns: runs(200) },
    );
  });
  it('every negotiated parameter combination (client_max_window_bits and server_max_window_bits 8–15, either *_no_context_takeover): offered, granted, and messages round-trip both ways', async () => {
    // Messages that refer back to each other and within themselves, so that a window or a context that does not
    // match what was negotiated shows.
    const base = Buffer.from('the quick brown fox jumps over the lazy dog; '.repeat(40));
    const messages = [base, Buffer.concat([base.subarray(0, 300), Buffer.alloc(700, 0x61), base.subarray(100, 900)]), base, Buffer.alloc(0), Buffer.from('x')];
    let combinations = 0;
    for (let clientMaxWindowBits = 8; clientMaxWindowBits <= 15; clientMaxWindowBits++) {
      for (let serverMaxWindowBits = 8; serverMaxWindowBits <= 15; serverMaxWindowBits++) {
        for (const clientNoContextTakeover of [false, true]) {
          for (const serverNoContextTakeover of [false, true]) {
            const opts = { clientMaxWindowBits, serverMaxWindowBits, clientNoContextTakeover, serverNoContextTakeover };
            const what = JSON.stringify(opts);
            // The offer asks for exactly these, and a server grants them as they were asked.
            const offer = parseExtensions(deflateOffer(opts));
            assert.equal(offer.length, 1, what);
            const asked = new Map((offer[0]?.params ?? []).map(([k, v]) => [k, v]));
            assert.equal(asked.get('client_max_window_bits'), String(clientMaxWindowBits), what);
            assert.equal(asked.get('server_max_window_bits'), String(serverMaxWindowBits), what);
            assert.equal(asked.get('client_no_context_takeover'), clientNoContextTakeover ? true : undefined, what);
            assert.equal(asked.get('server_no_context_takeover'), serverNoContextTakeover ? true : undefined, what);
            const answer = [
              'permessage-deflate',
              `client_max_window_bits=${clientMaxWindowBits}`,
              `server_max_window_bits=${serverMaxWindowBits}`,
              ...(clientNoContextTakeover ? ['client_no_context_takeover'] : []),
              ...(serverNoContextTakeover ? ['server_no_context_takeover'] : []),
            ].join('; ');
            const params = acceptDeflate(answer, opts);
            assert.deepEqual(params, opts, what);
            const client = new PerMessageDeflate(params as DeflateParams, { maxPayload: 1 << 20, threshold: 0 });
            const peerInflater = new PeerInflater(clientMaxWindowBits, !clientNoContextTakeover);
            const serverDeflater = new ServerDeflater(serverMaxWindowBits, !serverNoContextTakeover);
            try {
              for (const [i, m] of messages.entries()) {
                // Client to server: the server inflates with the window it granted, keeping its context only when allowed.
                assert.ok((await peerInflater.inflate(await client.compress(m))).equals(m), `${what}: message ${i} to the server`);
                // Server to client: compressed with the server's window and context rule, read by the client.
                assert.ok((await client.decompress(await serverDeflater.compress(m))).equals(m), `${what}: message ${i} from the server`);
              }
            } finally {
              client.close();
              peerInflater.close();
              serverDeflater.close();
            }
            combinations++;
          }
        }
      }
    }
    assert.equal(combinations, 256);
  });
});
