// Bad WebSocket peers against the WebSocket class: a handshake answered wrongly fails the opening, a protocol error
// after it is an `error` event carrying the typed BurrowError and a `close` event 1006 (not clean), while the peer
// reads the close code burrow sent; a peer that never answers the close is cut after timeouts.closing. Nothing is
// left behind (active resources compared with those before the WebSocket).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deflateRawSync } from 'node:zlib';
import { CloseEvent, WebSocket, WebSocketErrorEvent, type BurrowError, type WebSocketInit } from '../../src/index.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';
import { closeCodeOf, startBadPeer, type BadPeerScript } from '../helpers/ws-bad-peer.js';
import { closeBody, serverFrame, type ClientFrame } from '../protocols/websocket/wire.js';
import { within } from '../regressions/util.js';

interface Outcome {
  /** Event types in order, messages as `message:<data>`. */
  readonly events: string[];
  readonly error: BurrowError | undefined;
  readonly close: CloseEvent;
  readonly clientClose: ClientFrame | undefined;
}

async function against(script: BadPeerScript, init: WebSocketInit = {}, onOpen?: (ws: WebSocket) => void): Promise<Outcome> {
  const peer = await startBadPeer(script);
  try {
    const baseline = resourceSnapshot();
    const ws = new WebSocket(`ws://127.0.0.1:${peer.port}/`, { perMessageDeflate: false, ...init });
    ws.binaryType = 'nodebuffer';
    const events: string[] = [];
    let error: BurrowError | undefined;
    ws.addEventListener('open', () => {
      events.push('open');
      onOpen?.(ws);
    });
    ws.addEventListener('message', (e) => events.push(`message:${String((e as MessageEvent).data)}`));
    ws.addEventListener('error', (e) => {
      events.push('error');
      error = (e as WebSocketErrorEvent).error;
    });
    const close = await within(new Promise<CloseEvent>((resolve) => ws.addEventListener('close', (e) => {
      events.push('close');
      resolve(e as CloseEvent);
    })), 15_000, 'the close event');
    assert.equal(ws.readyState, WebSocket.CLOSED);
    const clientClose = await within(peer.clientClose, 15_000, 'the peer reads what the client sends');
    peer.release();
    await within(peer.closed, 15_000, "the peer's socket closes");
    await assertNoLeaks(baseline);
    return { events, error, close, clientClose };
  } finally {
    await peer.close();
  }
}

/** A failure after the opening: error (the typed one, with `code` sent on the wire), then close 1006. */
function assertFailed(o: Outcome, code: number, events = ['open', 'error', 'close']): void {
  assert.deepEqual(o.events, events);
  assert.equal(o.error?.code, 'ERR_WS_PROTOCOL', o.error?.message);
  assert.equal(o.error?.details['closeCode'], code);
  assert.equal(o.close.code, 1006);
  assert.equal(o.close.wasClean, false);
  assert.ok(o.clientClose !== undefined, 'burrow sent a close frame');
  assert.equal(closeCodeOf(o.clientClose), code);
}

const frames = (...b: Buffer[]): (() => Buffer) => () => Buffer.concat(b);

describe('bad WebSocket peers: the WebSocket class', () => {
  it('a wrong Sec-WebSocket-Accept or a subprotocol not offered fails the opening: error ERR_WS_HANDSHAKE, close 1006', async () => {
    for (const script of [{ accept: () => 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=' }, { headers: () => ({ 'Sec-WebSocket-Protocol': 'other' }) }] satisfies BadPeerScript[]) {
      const o = await against(script, { protocols: ['mine'] });
      assert.deepEqual(o.events, ['error', 'close']);
      assert.equal(o.error?.code, 'ERR_WS_HANDSHAKE');
      assert.equal(o.close.code, 1006);
      assert.equal(o.close.wasClean, false);
      assert.equal(o.clientClose, undefined);
    }
  });

  it('an extension not offered (permessage-deflate when perMessageDeflate is false) fails the opening', async () => {
    const o = await against({ headers: () => ({ 'Sec-WebSocket-Extensions': 'permessage-deflate' }) });
    assert.deepEqual(o.events, ['error', 'close']);
    assert.equal(o.error?.code, 'ERR_WS_HANDSHAKE');
  });

  it('a masked frame: error ERR_WS_PROTOCOL (1002 sent), close 1006', async () => {
    assertFailed(await against({ frames: frames(serverFrame(2, 'm', { maskKey: Buffer.from([9, 9, 9, 9]) })) }), 1002);
  });

  it('invalid UTF-8 after a good message: the good one is dispatched, then error (1007 sent), close 1006', async () => {
    assertFailed(await against({ frames: frames(serverFrame(1, 'ok'), serverFrame(1, Buffer.from([0xed, 0xa0, 0x80]))) }), 1007, ['open', 'message:ok', 'error', 'close']);
  });

  it('a close frame with the code 1005 on the wire: error (1002 sent), close 1006', async () => {
    assertFailed(await against({ frames: frames(serverFrame(8, closeBody(1005))) }), 1002);
  });

  it('a message over maxPayload (1009 sent), uncompressed or a compression bomb', async () => {
    assertFailed(await against({ frames: frames(serverFrame(2, Buffer.alloc(5000))) }, { maxPayload: 4096 }), 1009);
    const bomb = deflateRawSync(Buffer.alloc(20 * 1024 * 1024), { level: 9 });
    assertFailed(
      await against({ headers: () => ({ 'Sec-WebSocket-Extensions': 'permessage-deflate' }), frames: frames(serverFrame(2, bomb, { rsv1: true })) }, { perMessageDeflate: true, maxPayload: 1024 * 1024 }),
      1009,
    );
  });

  it('a peer that never answers close(): error ERR_WS_CLOSE_TIMEOUT after timeouts.closing, close 1006, TCP closed', async () => {
    const o = await against({ then: 'silent' }, { timeouts: { closing: 200 } }, (ws) => ws.close(1000, 'bye'));
    assert.deepEqual(o.events, ['open', 'error', 'close']);
    assert.equal(o.error?.code, 'ERR_WS_CLOSE_TIMEOUT');
    assert.equal(o.close.code, 1006);
    assert.equal(o.close.wasClean, false);
    assert.equal(o.clientClose !== undefined && closeCodeOf(o.clientClose), 1000);
  });

  it('a peer that closes with a code and a reason (control case): close event with them, clean', async () => {
    const o = await against({ frames: frames(serverFrame(8, closeBody(4321, 'über'))) });
    assert.deepEqual(o.events, ['open', 'close']);
    assert.equal(o.close.code, 4321);
    assert.equal(o.close.reason, 'über');
    assert.equal(o.close.wasClean, true);
  });
});
