// Properties of the WebSocket layer over a duplex of the test's own: a valid server stream (messages compressed or
// not, fragmented, with pings and pongs between fragments) followed by one frame that breaks the protocol, cut at
// random: every message before the bad frame comes out, in order, then exactly one ERR_WS_PROTOCOL with the
// frame's close code, which is also the code of the close frame written; nothing comes out after it, and the layer
// closes once when the peer closes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import fc from 'fast-check';
import { WebSocketLayer } from '../../../src/protocols/websocket/layer.js';
import { PerMessageDeflate } from '../../../src/protocols/websocket/deflate.js';
import { resolveWsOptions } from '../../../src/shared/options/ws.js';
import { StreamRef } from '../../../src/shared/stream-ref.js';
import type { LayerSink } from '../../../src/shared/layer.js';
import type { StreamMessage, WsFrame } from '../../../src/shared/messages.js';
import type { BurrowError } from '../../../src/errors/errors.js';
import { runs } from './budget.js';
import { ServerDeflater, serverBytes, shownFrames, streamArb } from './model.js';
import { closeBody, closeCodeOf, parseClientFrames, serverFrame } from './wire.js';

const hop = { index: 0, kind: 'origin' as const, host: '127.0.0.1', port: 1, transport: 'tcp' as const };

/** Frames a server must not send, with the close code each one is answered with. */
const badFrames: ReadonlyArray<readonly [string, Buffer, number]> = [
  ['masked', serverFrame(2, 'm', { maskKey: Buffer.from([1, 2, 3, 4]) }), 1002],
  ['reserved opcode', serverFrame(0x3, 'r'), 1002],
  ['RSV2', serverFrame(2, 'r', { rsv2: true }), 1002],
  ['ping over 125 bytes', serverFrame(9, Buffer.alloc(126)), 1002],
  ['fragmented ping', serverFrame(9, 'p', { fin: false }), 1002],
  ['continuation with no message', serverFrame(0, 'c'), 1002],
  ['close code 1005', serverFrame(8, closeBody(1005)), 1002],
  ['text not UTF-8', serverFrame(1, Buffer.from([0xc3, 0x28])), 1007],
  ['close reason not UTF-8', serverFrame(8, Buffer.concat([closeBody(1000), Buffer.from([0xff])])), 1007],
];

/** Bounded waiting for an event (event-loop turns, no timer). */
async function until(what: string, done: () => boolean): Promise<void> {
  for (let turn = 0; turn < 100_000; turn++) {
    if (done()) return;
    await new Promise<void>((r) => setImmediate(r));
  }
  assert.fail(`${what}: not after 100000 event-loop turns`);
}

describe('WebSocket layer (properties)', () => {
  it('messages before a protocol error all come out, in order, then one ERR_WS_PROTOCOL with the close code sent; nothing after', async () => {
    await fc.assert(
      fc.asyncProperty(
        streamArb(true),
        fc.boolean(),
        fc.constantFrom(...badFrames),
        fc.array(fc.integer({ min: 1, max: 2000 }), { minLength: 1, maxLength: 6 }),
        async (spec, useDeflate, [what, bad, code], sizes) => {
          const server = new ServerDeflater(15, true);
          const deflate = useDeflate ? new PerMessageDeflate({ serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 }, { maxPayload: 1 << 24 }) : undefined;
          try {
            const { bytes, expected } = await serverBytes({ messages: spec.messages, close: undefined }, useDeflate ? server : undefined);
            const written: Buffer[] = [];
            const messages: StreamMessage[] = [];
            const closed: Array<BurrowError | null> = [];
            const duplex = new Duplex({
              read() {},
              write(chunk: Buffer, _enc, cb) {
                written.push(chunk);
                cb();
              },
            });
            const sink: LayerSink = { deliver: (m) => messages.push(m), notify: () => undefined, closed: (e) => closed.push(e), tunnel: () => undefined, sent: () => undefined };
            new WebSocketLayer(duplex, { ref: new StreamRef([1]), origin: { host: '127.0.0.1', port: 1, transport: 'tcp', hop }, options: resolveWsOptions('ws', { silencePings: false, closingTimeout: 60_000 }), deflate, serverClosesFirst: true }, sink);
            const all = Buffer.concat([bytes, bad]);
            let at = 0;
            for (let i = 0; at < all.length; i++) {
              const n = sizes[i % sizes.length] as number;
              duplex.push(all.subarray(at, at + n));
              at += n;
            }
            await until('the error', () => messages.some((m) => m.type === 'error'));
            const frames = messages.filter((m): m is StreamMessage & { type: 'ws' } => m.type === 'ws').map((m) => m.frame as WsFrame);
            assert.deepEqual(shownFrames(frames), shownFrames(expected), `${what}: every message before it, in order`);
            const last = messages.at(-1);
            assert.ok(last?.type === 'error', `${what}: the error is the last message`);
            assert.equal(last.error.code, 'ERR_WS_PROTOCOL');
            assert.equal(last.error.details['closeCode'], code, `${what}: ${last.error.message}`);
            const closeFrames = parseClientFrames(Buffer.concat(written)).frames.filter((f) => f.opcode === 8);
            assert.equal(closeFrames.length, 1, 'one close frame');
            assert.equal(closeCodeOf(closeFrames[0] as (typeof closeFrames)[0]), code);
            assert.equal(duplex.writableEnded, true, 'after a protocol error our side ends at once');
            const count = messages.length;
            duplex.push(serverFrame(1, 'after'));
            duplex.push(null);
            await until('the layer closes', () => closed.length > 0);
            assert.equal(messages.length, count, 'nothing after the error');
            assert.equal(closed.length, 1);
          } finally {
            server.close();
            deflate?.close();
          }
        },
      ),
      { numRuns: runs(100) },
    );
  });
});
