// Properties of WebSocket message assembly (RFC 6455 §5.4–5.6, RFC 7692): messages cut into fragments, with
// pings and pongs between the fragments, compressed or not, come out whole and in order whatever the split of the
// byte stream; sizes are bounded by maxPayload; random and mutated input only ever fails with a WsProtocolError
// and never hangs (checked in a worker thread, so that a hang fails the test instead of stalling the suite).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { FrameDecoder, WsProtocolError, type RawFrame } from '../../../src/protocols/websocket/frames.js';
import { MessageAssembler, type WsFrame } from '../../../src/protocols/websocket/messages.js';
import { PerMessageDeflate } from '../../../src/protocols/websocket/deflate.js';
import { fragments, ServerDeflater, serverBytes, shownFrames, streamArb } from './model.js';
import { runs } from './budget.js';
import { serverFrame } from './wire.js';
import type { FuzzResult, FuzzSettings } from './fuzz-input.js';

const cuts = fc.array(fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 32 }), fc.integer({ min: 1, max: 100_000 })), { minLength: 1, maxLength: 20 });

/** Runs `bytes` (cut into pieces of `sizes`, cycled) through a decoder and an assembler; what came out and the error. */
async function receive(bytes: Buffer, sizes: readonly number[], deflate: PerMessageDeflate | undefined, maxPayload = 1 << 24): Promise<{ out: WsFrame[]; error: unknown }> {
  const out: WsFrame[] = [];
  let error: unknown;
  const decoder = new FrameDecoder({ allowRsv1: deflate !== undefined, maxFramePayload: maxPayload });
  const assembler = new MessageAssembler({ maxPayload, deflate }, (f) => out.push(f), (e) => {
    error ??= e;
  });
  const frames: RawFrame[] = [];
  let at = 0;
  let i = 0;
  try {
    while (at < bytes.length && error === undefined) {
      const n = sizes[i++ % sizes.length] as number;
      decoder.feed(bytes.subarray(at, at + n), frames);
      at += n;
      for (const f of frames.splice(0)) assembler.push(f);
    }
  } catch (e) {
    error ??= e;
  }
  await assembler.settled();
  return { out, error };
}

describe('WebSocket messages (properties)', () => {
  it('fragmented messages with pings and pongs between the fragments come out whole and in order, whatever the split', async () => {
    await fc.assert(
      fc.asyncProperty(streamArb(false), cuts, async (spec, sizes) => {
        const { bytes, expected } = await serverBytes(spec, undefined);
        const { out, error } = await receive(bytes, sizes, undefined);
        assert.equal(error, undefined);
        assert.deepEqual(shownFrames(out), shownFrames(expected));
      }),
      { numRuns: runs(150) },
    );
  });

  it('compressed and plain messages mixed, any window and context takeover, come out in order, whatever the split', async () => {
    await fc.assert(
      fc.asyncProperty(
        streamArb(true),
        cuts,
        fc.integer({ min: 8, max: 15 }),
        fc.boolean(),
        fc.boolean(),
        async (spec, sizes, windowBits, serverKeepsContext, clientResetsAnyway) => {
          const server = new ServerDeflater(windowBits, serverKeepsContext);
          // A server that resets its context may be read by a client that keeps one or not; one that keeps it needs a client that does.
          const client = new PerMessageDeflate(
            { serverNoContextTakeover: !serverKeepsContext && clientResetsAnyway, clientNoContextTakeover: false, serverMaxWindowBits: windowBits, clientMaxWindowBits: 15 },
            { maxPayload: 1 << 24 },
          );
          try {
            const { bytes, expected } = await serverBytes(spec, server);
            const { out, error } = await receive(bytes, sizes, client);
            assert.equal(error, undefined);
            assert.deepEqual(shownFrames(out), shownFrames(expected));
          } finally {
            server.close();
            client.close();
          }
        },
      ),
      { numRuns: runs(80) },
    );
  });

  it('a message of N bytes in any fragments is 1009 exactly when N > maxPayload', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 1, maxLength: 5 }), fc.integer({ min: 1, max: 1200 }), async (sizes, maxPayload) => {
        const bytes = Buffer.concat(sizes.map((n, i) => serverFrame(i === 0 ? 2 : 0, Buffer.alloc(n, 1), { fin: i === sizes.length - 1 })));
        const { out, error } = await receive(bytes, [bytes.length], undefined, maxPayload);
        const total = sizes.reduce((a, b) => a + b, 0);
        if (total > maxPayload) {
          assert.ok(error instanceof WsProtocolError, String(error));
          assert.equal(error.closeCode, 1009);
          assert.deepEqual(out, []);
        } else {
          assert.equal(error, undefined);
          assert.equal(out.length, 1);
        }
      }),
      { numRuns: runs(300) },
    );
  });

  it('a compressed message inflating to N bytes is 1009 exactly when N > maxPayload, whatever its compressed size', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 200_000 }), fc.integer({ min: 1, max: 100_000 }), fc.array(fc.nat(), { maxLength: 3 }), async (n, maxPayload, seeds) => {
        const server = new ServerDeflater(15, false);
        const client = new PerMessageDeflate({ serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15 }, { maxPayload });
        try {
          const c = await server.compress(Buffer.alloc(n, 0x41));
          const frags = fragments(c, seeds);
          const bytes = Buffer.concat(frags.map((p, i) => serverFrame(i === 0 ? 2 : 0, p, { fin: i === frags.length - 1, rsv1: i === 0 })));
          // Frames are bounded by maxPayload too; a compressed payload this small always passes that bound here.
          const { out, error } = await receive(bytes, [bytes.length], client, Math.max(maxPayload, c.length));
          if (n > maxPayload) {
            assert.ok(error instanceof WsProtocolError, String(error));
            assert.equal(error.closeCode, 1009);
            assert.deepEqual(out, []);
          } else {
            assert.equal(error, undefined);
            assert.equal(out.length, 1);
            assert.equal(out[0]?.type === 'binary' ? out[0].data.length : -1, n);
          }
        } finally {
          server.close();
          client.close();
        }
      }),
      { numRuns: runs(40) },
    );
  });

  it('random and mutated input never throws anything but a WsProtocolError and never hangs (in a worker, bounded)', async () => {
    const settings: FuzzSettings = { numRuns: runs(600), perRunTimeoutMs: 5000 };
    // Far more than the runs take (about 2 ms each): only a hang comes near it.
    const boundMs = Math.max(120_000, settings.numRuns * 200);
    const worker = new Worker(new URL('./fuzz-input.js', import.meta.url), { workerData: settings });
    const exited = once(worker, 'exit');
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        once(worker, 'message').then(([m]) => m as FuzzResult),
        once(worker, 'error').then(([e]) => {
          throw e;
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new assert.AssertionError({ message: `the input fuzz did not finish within ${boundMs} ms: the decoder or the assembler hangs` })), boundMs);
        }),
      ]);
      assert.equal(result.failed, false, result.report);
      assert.equal(result.numRuns, settings.numRuns);
    } finally {
      clearTimeout(timer);
      await worker.terminate();
      await exited;
    }
  });
});
