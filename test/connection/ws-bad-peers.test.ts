// Bad WebSocket peers against wsUpgrade: scripted servers on loopback that answer the handshake wrongly or break
// RFC 6455 / 7692 after it. Each gives the typed error docs/websocket.md lists (ERR_WS_HANDSHAKE; ERR_WS_PROTOCOL
// with the close code burrow sent, which the peer reads on the wire; ERR_WS_CLOSE_TIMEOUT), the connection closes,
// and no socket or timer is left (active resources compared with those before the connection).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { constants, deflateRawSync } from 'node:zlib';
import { open, type BurrowError, type Connection, type StreamMessage, type StreamRef, type WsOptions } from '../../src/index.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';
import { closeCodeOf, startBadPeer, type BadPeerScript } from '../helpers/ws-bad-peer.js';
import { closeBody, parseClientFrames, serverFrame } from '../protocols/websocket/wire.js';
import { startH2Server, within } from '../regressions/util.js';
import type { ClientFrame } from '../protocols/websocket/wire.js';

interface Outcome {
  /** Every message of the WebSocket's stream, the upgrade (if any) first. */
  readonly messages: StreamMessage[];
  /** The stream's error, if it ended with one. */
  readonly error: BurrowError | undefined;
  /** The close frame burrow sent the peer (undefined: none). */
  readonly clientClose: ClientFrame | undefined;
  /** The peer ended TCP before burrow did. */
  readonly serverClosedFirst?: boolean;
}

/**
 * Runs one WebSocket against a bad peer until its stream ends (an error, or the peer's close frame), then waits for
 * the connection and the peer's socket to close and checks that nothing is left behind.
 */
async function against(script: BadPeerScript, opts: WsOptions = {}, onUpgrade?: (conn: Connection, ref: StreamRef) => Promise<void>): Promise<Outcome> {
  const peer = await startBadPeer(script);
  try {
    const baseline = resourceSnapshot();
    const conn = open({ host: '127.0.0.1', port: peer.port, protocols: ['http'], retry: 0 });
    const connClosed = new Promise<void>((resolve) => conn.once('close', () => resolve()));
    const ref = conn.wsUpgrade('/', {}, opts);
    const messages: StreamMessage[] = [];
    let error: BurrowError | undefined;
    for (;;) {
      const m = await conn.await(ref, 10_000);
      messages.push(m);
      if (m.type === 'upgrade' && onUpgrade !== undefined) await onUpgrade(conn, ref);
      if (m.type === 'error') {
        error = m.error;
        break;
      }
      if (m.type === 'ws' && m.frame.type === 'close') break;
    }
    const clientClose = await within(peer.clientClose, 15_000, 'the peer reads what the client sends');
    await within(connClosed, 15_000, 'the connection closes');
    peer.release();
    await within(peer.closed, 15_000, "the peer's socket closes");
    assert.equal(conn.state, 'closed');
    assert.equal(conn.hasStream(ref), false);
    await assertNoLeaks(baseline);
    const serverClosedFirst = script.then === undefined || script.then === 'close-after-close' ? await within(peer.serverClosedFirst, 5000, 'the peer ends TCP') : undefined;
    return { messages, error, clientClose, ...(serverClosedFirst !== undefined ? { serverClosedFirst } : {}) };
  } finally {
    await peer.close();
  }
}

/** Checks a protocol error: ERR_WS_PROTOCOL at stage websocket naming the hop, with `code` sent to the peer. */
function assertProtocolError(o: Outcome, code: number, message?: RegExp): void {
  assert.equal(o.messages[0]?.type, 'upgrade');
  const e = o.error;
  assert.ok(e !== undefined, `an error, not ${JSON.stringify(o.messages.map((m) => m.type))}`);
  assert.equal(e.code, 'ERR_WS_PROTOCOL', e.message);
  assert.equal(e.stage, 'websocket');
  assert.equal(e.details['closeCode'], code, e.message);
  assert.equal(e.hop?.host, '127.0.0.1');
  if (message !== undefined) assert.match(e.message, message);
  assert.ok(o.clientClose !== undefined, 'burrow sent a close frame');
  assert.equal(closeCodeOf(o.clientClose), code, 'the close code on the wire');
  assert.equal(o.messages.filter((m) => m.type === 'error').length, 1, 'one error');
}

function assertHandshakeError(o: Outcome, message: RegExp): void {
  assert.deepEqual(o.messages.map((m) => m.type), ['error']);
  const e = o.error;
  assert.ok(e !== undefined);
  assert.equal(e.code, 'ERR_WS_HANDSHAKE', e.message);
  assert.equal(e.stage, 'http');
  assert.match(e.message, message);
  assert.equal(o.clientClose, undefined, 'no WebSocket frame after a refused handshake');
}

const frames = (...b: Buffer[]): (() => Buffer) => () => Buffer.concat(b);

describe('bad WebSocket peers: the handshake (wsUpgrade)', () => {
  it('a wrong Sec-WebSocket-Accept is ERR_WS_HANDSHAKE; the connection closes', async () => {
    assertHandshakeError(await against({ accept: () => 'dGhpcyBpcyBub3QgdGhlIGFjY2VwdA==' }), /wrong sec-websocket-accept/);
  });

  it('an extension that was not offered (none offered; another than the one offered) is ERR_WS_HANDSHAKE', async () => {
    assertHandshakeError(await against({ headers: () => ({ 'Sec-WebSocket-Extensions': 'permessage-deflate' }) }), /not offered/);
    assertHandshakeError(await against({ headers: () => ({ 'Sec-WebSocket-Extensions': 'x-webkit-deflate-frame' }) }, { compress: true }), /not offered/);
    assertHandshakeError(await against({ headers: () => ({ 'Sec-WebSocket-Extensions': 'permessage-deflate; server_max_window_bits=16' }) }, { compress: true }), /server_max_window_bits/);
  });

  it('a subprotocol that was not offered (none offered; another than those offered) is ERR_WS_HANDSHAKE', async () => {
    assertHandshakeError(await against({ headers: () => ({ 'Sec-WebSocket-Protocol': 'chat' }) }), /subprotocol "chat", which was not offered/);
    assertHandshakeError(await against({ headers: () => ({ 'Sec-WebSocket-Protocol': 'b' }) }, { protocols: ['a'] }), /subprotocol "b"/);
  });
});

describe('bad WebSocket peers: frames (wsUpgrade)', () => {
  it('a masked server frame is 1002, also when it comes in the same read as the 101', async () => {
    assertProtocolError(await against({ frames: frames(serverFrame(1, 'hi', { maskKey: Buffer.from([1, 2, 3, 4]) })) }), 1002, /masked/);
    assertProtocolError(await against({ frames: frames(serverFrame(1, 'hi', { maskKey: Buffer.from([1, 2, 3, 4]) })), sameWrite: true }), 1002, /masked/);
  });

  it('reserved opcodes (3–7, 0xB–0xF) are 1002', async () => {
    for (const op of [0x3, 0x7, 0xb, 0xf]) assertProtocolError(await against({ frames: frames(serverFrame(op, 'x')) }), 1002, /reserved opcode/);
  });

  it('reserved bits without an extension are 1002: RSV1 when permessage-deflate was not negotiated, RSV2, RSV3', async () => {
    assertProtocolError(await against({ frames: frames(serverFrame(2, 'x', { rsv1: true })) }), 1002, /RSV1/);
    assertProtocolError(await against({ frames: frames(serverFrame(2, 'x', { rsv2: true })) }), 1002, /RSV2/);
    assertProtocolError(await against({ frames: frames(serverFrame(1, 'x', { rsv3: true })) }, { compress: true }), 1002, /RSV2 or RSV3/);
  });

  it('a control frame over 125 bytes, and a fragmented control frame, are 1002', async () => {
    assertProtocolError(await against({ frames: frames(serverFrame(9, Buffer.alloc(126))) }), 1002, /longer than 125/);
    assertProtocolError(await against({ frames: frames(serverFrame(9, 'p', { fin: false })) }), 1002, /fragmented control/);
    assertProtocolError(await against({ frames: frames(serverFrame(8, closeBody(1000, 'x'.repeat(124)))) }), 1002, /longer than 125/);
  });

  it('text that is not UTF-8 is 1007, also when the bad sequence is split across fragments; messages before it are delivered', async () => {
    const o = await against({ frames: frames(serverFrame(1, 'fine'), serverFrame(1, Buffer.from([0x61, 0xff, 0x62]))) });
    assertProtocolError(o, 1007, /not UTF-8/);
    assert.deepEqual(o.messages[1], { type: 'ws', ref: o.messages[1]?.ref, frame: { type: 'text', data: 'fine' } });
    const euro = Buffer.from('€');
    assertProtocolError(await against({ frames: frames(serverFrame(1, euro.subarray(0, 2), { fin: false }), serverFrame(0, Buffer.from([0x41]))) }), 1007);
  });

  it('close frames with a code a peer may not send (1005, 1006, 1015, 999, 1004, 5000, 2999) or a one-byte body are 1002', async () => {
    for (const code of [1005, 1006, 1015, 999, 1004, 5000, 2999]) assertProtocolError(await against({ frames: frames(serverFrame(8, closeBody(code, 'bad'))) }), 1002, new RegExp(`invalid code ${code}`));
    assertProtocolError(await against({ frames: frames(serverFrame(8, Buffer.from([3]))) }), 1002, /one-byte/);
  });

  it('a close reason that is not UTF-8 is 1007', async () => {
    assertProtocolError(await against({ frames: frames(serverFrame(8, Buffer.concat([closeBody(1000), Buffer.from([0xc3, 0x28])]))) }), 1007, /close reason/);
  });

  it('a message over maxPayload is 1009: one frame (refused from its header), or fragments adding up past it', async () => {
    assertProtocolError(await against({ frames: frames(serverFrame(2, Buffer.alloc(2000))) }, { maxPayload: 1000 }), 1009, /maxPayload/);
    assertProtocolError(await against({ frames: frames(serverFrame(2, Buffer.alloc(600), { fin: false }), serverFrame(0, Buffer.alloc(600))) }, { maxPayload: 1000 }), 1009, /maxPayload/);
  });

  it('a compression bomb (a small frame inflating past maxPayload) is 1009; inflation stops there', async () => {
    const bomb = deflateRawSync(Buffer.alloc(50 * 1024 * 1024), { level: 9 });
    // The sync-flush tail is not sent (RFC 7692 §7.2.1); deflateRawSync ends the stream instead, which inflates the same.
    assert.ok(bomb.length < 100_000);
    const o = await against({ headers: () => ({ 'Sec-WebSocket-Extensions': 'permessage-deflate' }), frames: frames(serverFrame(2, bomb, { rsv1: true })) }, { compress: true, maxPayload: 1024 * 1024 });
    assertProtocolError(o, 1009, /decompressed to more than maxPayload/);
  });

  it('compressed messages before a protocol error in the same read are delivered before the error, in order', async () => {
    const hello = deflateRawSync(Buffer.from('hello'), { finishFlush: constants.Z_SYNC_FLUSH }).subarray(0, -4);
    for (const bad of [serverFrame(1, 'x', { maskKey: Buffer.from([1, 2, 3, 4]) }), serverFrame(1, Buffer.from([0xff])), serverFrame(8, closeBody(1005))]) {
      const o = await against(
        { headers: () => ({ 'Sec-WebSocket-Extensions': 'permessage-deflate' }), frames: frames(serverFrame(1, hello, { rsv1: true }), serverFrame(2, 'plain'), serverFrame(1, hello, { rsv1: true }), bad), sameWrite: true },
        { compress: true },
      );
      assert.deepEqual(
        o.messages.map((m) => (m.type === 'ws' ? (m.frame.type === 'binary' ? ['binary', m.frame.data.toString()] : m.frame) : m.type)),
        ['upgrade', { type: 'text', data: 'hello' }, ['binary', 'plain'], { type: 'text', data: 'hello' }, 'error'],
      );
      assert.equal(o.error?.code, 'ERR_WS_PROTOCOL');
    }
  });

  it('data that is not a deflate stream in a compressed message is 1007', async () => {
    const o = await against({ headers: () => ({ 'Sec-WebSocket-Extensions': 'permessage-deflate' }), frames: frames(serverFrame(2, Buffer.from([0xff, 0xff, 0xff, 0xff]), { rsv1: true })) }, { compress: true });
    assertProtocolError(o, 1007, /does not decompress/);
  });
});

describe('bad WebSocket peers: the close handshake (wsUpgrade)', () => {
  it('a peer that never answers our close: ERR_WS_CLOSE_TIMEOUT after closingTimeout, then TCP is closed', async () => {
    const o = await against({ then: 'silent' }, { closingTimeout: 200 }, async (conn, ref) => {
      await conn.wsSend(ref, { type: 'close', code: 1000, reason: 'bye' });
    });
    assert.equal(o.error?.code, 'ERR_WS_CLOSE_TIMEOUT');
    assert.equal(o.error?.stage, 'timeout');
    assert.equal(o.error?.details['timeoutMs'], 200);
    assert.equal(o.clientClose !== undefined && closeCodeOf(o.clientClose), 1000);
  });

  it('a peer that breaks the protocol and then never closes TCP: ERR_WS_PROTOCOL, and closingTimeout cuts the transport', async () => {
    const o = await against({ frames: frames(serverFrame(0xb, 'x')), then: 'silent' }, { closingTimeout: 200 });
    assertProtocolError(o, 1002);
  });

  it('a peer that sends its close frame and then never closes TCP: the close is the last message, closingTimeout cuts the transport', async () => {
    const o = await against({ frames: frames(serverFrame(8, closeBody(1001, 'away'))), then: 'silent' }, { closingTimeout: 200 });
    assert.deepEqual(o.messages.slice(1).map((m) => (m.type === 'ws' ? m.frame : m.type)), [{ type: 'close', code: 1001, reason: 'away' }]);
    assert.equal(o.clientClose !== undefined && closeCodeOf(o.clientClose), 1001);
  });

  it('frames after the close frame are ignored', async () => {
    const o = await against({ frames: frames(serverFrame(8, closeBody(1000)), serverFrame(1, 'late'), serverFrame(0xb, 'bad')) });
    assert.deepEqual(o.messages.slice(1).map((m) => (m.type === 'ws' ? m.frame : m.type)), [{ type: 'close', code: 1000, reason: '' }]);
  });

  it('a protocol error after our close frame: ERR_WS_PROTOCOL, no second close frame, the transport is closed', async () => {
    const peer = await startBadPeer({ then: 'silent' });
    try {
      const baseline = resourceSnapshot();
      const conn = open({ host: '127.0.0.1', port: peer.port, protocols: ['http'], retry: 0 });
      const connClosed = new Promise<void>((resolve) => conn.once('close', () => resolve()));
      const ref = conn.wsUpgrade('/', {}, { closingTimeout: 10_000 });
      assert.equal((await conn.await(ref, 5000)).type, 'upgrade');
      await conn.wsSend(ref, { type: 'close', code: 4000 });
      const ours = await within(peer.clientClose, 5000, 'our close frame');
      assert.equal(ours !== undefined && closeCodeOf(ours), 4000);
      const c = peer.server.connections[0];
      assert.ok(c !== undefined);
      await c.write(serverFrame(0xc, 'reserved'));
      const m = await conn.await(ref, 5000);
      assert.equal(m.type === 'error' && m.error.code, 'ERR_WS_PROTOCOL');
      assert.equal(m.type === 'error' && m.error.details['closeCode'], 1002);
      // Burrow ends its side at once: the peer reads the end of the stream, with no frame after our close.
      assert.equal((await within(c.readToEnd(), 5000, 'the client ends TCP')).length, 0);
      peer.release();
      await within(connClosed, 5000, 'the connection closes');
      await within(peer.closed, 5000, "the peer's socket closes");
      await assertNoLeaks(baseline);
    } finally {
      await peer.close();
    }
  });

  it('a peer that closes TCP without a close frame (right after the 101, or in the middle of a frame): ERR_WS_CLOSED, 1006', async () => {
    for (const bytes of [Buffer.alloc(0), serverFrame(2, Buffer.alloc(300)).subarray(0, 100)]) {
      const o = await against({ frames: () => bytes, then: 'drop' });
      assert.equal(o.error?.code, 'ERR_WS_CLOSED', o.error?.message);
      assert.equal(o.error?.stage, 'websocket');
      assert.equal(o.error?.details['closeCode'], 1006);
    }
  });

  it('a peer that never answers the upgrade: ERR_WS_HANDSHAKE at stage timeout after handshakeTimeout', async () => {
    const o = await against({ noAnswer: true }, { handshakeTimeout: 100 });
    assert.deepEqual(o.messages.map((m) => m.type), ['error']);
    assert.equal(o.error?.code, 'ERR_WS_HANDSHAKE');
    assert.equal(o.error?.stage, 'timeout');
  });

  it('with keepalive pings running, a protocol error is still its close code and leaves no socket or timer behind', async () => {
    assertProtocolError(await against({ frames: frames(serverFrame(1, Buffer.from([0xff]))) }, { keepalive: 20 }), 1007);
  });

  it('a peer that closes cleanly (control case): its close frame is the last message, echoed with its code; the server closes TCP first', async () => {
    const o = await against({ frames: frames(serverFrame(1, 'hello'), serverFrame(8, closeBody(4000, 'done'))) });
    assert.equal(o.serverClosedFirst, true, 'burrow waited for the server to close TCP (RFC 6455 §7.1.1)');
    assert.deepEqual(o.messages.slice(1).map((m) => (m.type === 'ws' ? m.frame : m.type)), [{ type: 'text', data: 'hello' }, { type: 'close', code: 4000, reason: 'done' }]);
    assert.equal(o.error, undefined);
    assert.equal(o.clientClose !== undefined && closeCodeOf(o.clientClose), 4000);
  });
});

/** An RFC 8441 peer: answers every extended CONNECT with `status` and `headers`, writes `bytes`, then `then`. */
async function h2Against(
  answer: { headers?: Record<string, string>; bytes?: Buffer; then: 'close-after-close' | 'silent' },
  opts: WsOptions = {},
  onUpgrade?: (conn: Connection, ref: StreamRef) => Promise<void>,
): Promise<Outcome & { readonly streamClosed: Promise<void> }> {
  let resolveClose!: (f: ClientFrame | undefined) => void;
  const clientClose = new Promise<ClientFrame | undefined>((r) => (resolveClose = r));
  let resolveStreamClosed!: () => void;
  const streamClosed = new Promise<void>((r) => (resolveStreamClosed = r));
  const server = await startH2Server((stream) => {
    let got = Buffer.alloc(0);
    let seen = false;
    stream.on('close', () => {
      if (!seen) resolveClose(undefined);
      resolveStreamClosed();
    });
    stream.on('data', (c: Buffer) => {
      got = Buffer.concat([got, c]);
      const close = parseClientFrames(got).frames.find((f) => f.opcode === 8);
      if (close === undefined || seen) return;
      seen = true;
      resolveClose(close);
      if (answer.then === 'close-after-close') stream.end();
    });
    stream.respond({ ':status': 200, ...answer.headers });
    if (answer.bytes !== undefined) stream.write(answer.bytes);
  }, { enableConnectProtocol: true });
  try {
    const baseline = resourceSnapshot();
    const conn = open({ host: '127.0.0.1', port: server.port, protocols: ['http2'], retry: 0 });
    const ref = conn.wsUpgrade('/', {}, opts);
    const messages: StreamMessage[] = [];
    let error: BurrowError | undefined;
    for (;;) {
      const m = await conn.await(ref, 10_000);
      messages.push(m);
      if (m.type === 'upgrade' && onUpgrade !== undefined) await onUpgrade(conn, ref);
      if (m.type === 'error') {
        error = m.error;
        break;
      }
      if (m.type === 'ws' && m.frame.type === 'close') break;
    }
    const got = await within(clientClose, 15_000, 'the peer reads what the client sends');
    await within(streamClosed, 15_000, "the peer's stream closes");
    // The connection goes on without the WebSocket.
    assert.equal(conn.state, 'up');
    assert.equal(conn.hasStream(ref), false);
    await conn.close();
    await assertNoLeaks(baseline);
    return { messages, error, clientClose: got, streamClosed };
  } finally {
    await server.close();
  }
}

describe('bad WebSocket peers over HTTP/2 (RFC 8441)', () => {
  it('a subprotocol or an extension not offered: ERR_WS_HANDSHAKE, and the connection goes on', async () => {
    const answers: Array<Record<string, string>> = [{ 'sec-websocket-protocol': 'chat' }, { 'sec-websocket-extensions': 'permessage-deflate' }];
    for (const headers of answers) {
      const o = await h2Against({ headers, then: 'close-after-close' });
      assert.deepEqual(o.messages.map((m) => m.type), ['error']);
      assert.equal(o.error?.code, 'ERR_WS_HANDSHAKE');
      assert.equal(o.clientClose, undefined);
    }
  });

  it('a masked frame and a reserved opcode are 1002 on the stream; the connection goes on', async () => {
    assertProtocolError(await h2Against({ bytes: serverFrame(1, 'x', { maskKey: Buffer.from([1, 1, 1, 1]) }), then: 'close-after-close' }), 1002, /masked/);
    assertProtocolError(await h2Against({ bytes: serverFrame(0x5, 'x'), then: 'close-after-close' }), 1002, /reserved opcode/);
  });

  it('a peer that never answers our close: ERR_WS_CLOSE_TIMEOUT, the stream is reset after closingTimeout', async () => {
    const o = await h2Against({ then: 'silent' }, { closingTimeout: 200 }, async (conn, ref) => {
      await conn.wsSend(ref, { type: 'close', code: 1000 });
    });
    assert.equal(o.error?.code, 'ERR_WS_CLOSE_TIMEOUT');
    assert.equal(o.clientClose !== undefined && closeCodeOf(o.clientClose), 1000);
  });
});
