// WebSocket messages: fragments joined with control frames between them, UTF-8 checked, close frames read,
// permessage-deflate negotiated and inflated in order, and decompression bombs stopped.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createDeflateRaw, deflateRawSync } from 'node:zlib';
import { MessageAssembler, type WsFrame } from '../../../src/protocols/websocket/messages.js';
import { acceptDeflate, deflateOffer, ExtensionError, parseExtensions, PerMessageDeflate } from '../../../src/protocols/websocket/deflate.js';
import { acceptFor, checkAnswer, HandshakeError, upgradeHeaders } from '../../../src/protocols/websocket/handshake.js';
import { WsProtocolError, type RawFrame } from '../../../src/protocols/websocket/frames.js';

const f = (opcode: number, payload: Buffer | string, fin = true, rsv1 = false): RawFrame => ({ opcode, fin, rsv1, payload: Buffer.from(payload) });

async function assemble(frames: RawFrame[], deflate?: PerMessageDeflate, maxPayload = 1 << 20): Promise<{ out: WsFrame[]; error: WsProtocolError | undefined }> {
  const out: WsFrame[] = [];
  let error: WsProtocolError | undefined;
  const a = new MessageAssembler({ maxPayload, deflate }, (x) => out.push(x), (e) => {
    error = e;
  });
  try {
    for (const x of frames) a.push(x);
  } catch (e) {
    error = e as WsProtocolError;
  }
  await a.settled();
  return { out, error };
}

/** A message compressed as a server would send it (the 00 00 ff ff tail removed). */
function compressed(text: string): Buffer {
  const c = deflateRawSync(Buffer.from(text), { finishFlush: 2 /* Z_SYNC_FLUSH */ });
  return c.subarray(0, c.length - 4);
}

describe('WebSocket messages', () => {
  it('fragments are joined, with a ping between them delivered first', async () => {
    const { out, error } = await assemble([f(1, 'Hel', false), f(9, 'p'), f(0, 'lo', false), f(0, '!')]);
    assert.equal(error, undefined);
    assert.deepEqual(out.map((x) => (x.type === 'text' ? `text:${x.data}` : x.type)), ['ping', 'text:Hello!']);
  });

  it('text must be UTF-8 (1007), also split across fragments', async () => {
    assert.equal((await assemble([f(1, Buffer.from([0xc3, 0x28]))])).error?.closeCode, 1007);
    const euro = Buffer.from('€');
    const ok = await assemble([f(1, euro.subarray(0, 1), false), f(0, euro.subarray(1))]);
    assert.deepEqual(ok.out, [{ type: 'text', data: '€' }]);
  });

  it('close frames: code and reason; no payload is code undefined; bad ones are 1002 / 1007', async () => {
    const c = Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from('bye')]);
    assert.deepEqual((await assemble([f(8, c)])).out, [{ type: 'close', code: 1000, reason: 'bye' }]);
    assert.deepEqual((await assemble([f(8, '')])).out, [{ type: 'close', code: undefined, reason: '' }]);
    assert.equal((await assemble([f(8, Buffer.from([3]))])).error?.closeCode, 1002);
    assert.equal((await assemble([f(8, Buffer.from([0x03, 0xed]))])).error?.closeCode, 1002, '1005 is never sent');
    assert.equal((await assemble([f(8, Buffer.from([0x03, 0xe8, 0xc3, 0x28]))])).error?.closeCode, 1007);
  });

  it('fragmentation errors are 1002; a message over maxPayload is 1009', async () => {
    assert.equal((await assemble([f(0, 'x')])).error?.closeCode, 1002);
    assert.equal((await assemble([f(1, 'a', false), f(1, 'b')])).error?.closeCode, 1002);
    assert.equal((await assemble([f(2, Buffer.alloc(60), false), f(0, Buffer.alloc(60))], undefined, 100)).error?.closeCode, 1009);
  });

  it('compressed messages are inflated, in order with the frames around them; context taken over', async () => {
    const d = new PerMessageDeflate({ serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 }, { maxPayload: 1 << 20 });
    // Two messages compressed with one context, as a server keeping its context sends them.
    const z = createDeflateRaw();
    const chunks: Buffer[] = [];
    z.on('data', (c: Buffer) => chunks.push(c));
    const flush = (): Promise<Buffer> => new Promise((resolve) => z.flush(2, () => {
      const all = Buffer.concat(chunks.splice(0));
      resolve(all.subarray(0, all.length - 4));
    }));
    z.write('hello hello hello');
    const m1 = await flush();
    z.write('hello hello hello');
    const m2 = await flush();
    z.close();
    const { out, error } = await assemble([f(1, m1, true, true), f(9, 'between'), f(1, m2, true, true), f(1, 'plain')], d);
    assert.equal(error, undefined);
    assert.deepEqual(out.map((x) => (x.type === 'text' ? x.data : x.type)), ['hello hello hello', 'ping', 'hello hello hello', 'plain']);
    assert.ok(m2.length < m1.length, 'the second message used the first one\'s context');
    d.close();
  });

  it('a decompression bomb stops at maxPayload with 1009', async () => {
    const bomb = compressed('A'.repeat(50 * 1024 * 1024));
    assert.ok(bomb.length < 100_000);
    const d = new PerMessageDeflate({ serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15 }, { maxPayload: 1024 * 1024 });
    const { out, error } = await assemble([f(2, bomb, true, true)], d);
    assert.deepEqual(out, []);
    assert.equal(error?.closeCode, 1009);
    d.close();
  });

  it('compress then decompress gives the message back; the tail is stripped', async () => {
    const params = { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 };
    const a = new PerMessageDeflate(params, { maxPayload: 1 << 20 });
    const b = new PerMessageDeflate(params, { maxPayload: 1 << 20 });
    for (const msg of ['first message', 'second message, more text', '']) {
      const c = await a.compress(Buffer.from(msg));
      assert.notDeepEqual([...c.subarray(-4)], [0, 0, 0xff, 0xff]);
      assert.equal((await b.decompress(c)).toString(), msg);
    }
    a.close();
    b.close();
  });
});

describe('permessage-deflate negotiation (RFC 7692)', () => {
  it('the offer', () => {
    assert.equal(deflateOffer({}), 'permessage-deflate; client_max_window_bits');
    assert.equal(deflateOffer({ clientMaxWindowBits: 10, serverMaxWindowBits: 12, clientNoContextTakeover: true, serverNoContextTakeover: true }), 'permessage-deflate; client_max_window_bits=10; server_max_window_bits=12; client_no_context_takeover; server_no_context_takeover');
    assert.throws(() => deflateOffer({ clientMaxWindowBits: 16 }), RangeError);
  });

  it('accepted answers', () => {
    assert.equal(acceptDeflate(undefined, {}), undefined);
    assert.deepEqual(acceptDeflate('permessage-deflate', {}), { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 });
    assert.deepEqual(acceptDeflate('permessage-deflate; server_no_context_takeover; client_max_window_bits=10; server_max_window_bits="9"', {}), { serverNoContextTakeover: true, clientNoContextTakeover: false, serverMaxWindowBits: 9, clientMaxWindowBits: 10 });
  });

  it('refused answers: not offered, unknown or repeated parameters, bad values, asked and not granted', () => {
    const bad = (h: string, o: Parameters<typeof acceptDeflate>[1] = {}): void => {
      assert.throws(() => acceptDeflate(h, o), ExtensionError, h);
    };
    assert.throws(() => acceptDeflate('permessage-deflate', undefined), ExtensionError);
    bad('x-webkit-deflate-frame');
    bad('permessage-deflate, permessage-deflate');
    bad('permessage-deflate; foo');
    bad('permessage-deflate; server_no_context_takeover; server_no_context_takeover');
    bad('permessage-deflate; server_max_window_bits=7');
    bad('permessage-deflate; server_max_window_bits');
    bad('permessage-deflate; client_no_context_takeover=1');
    bad('permessage-deflate; client_max_window_bits=12', { clientMaxWindowBits: 10 });
    bad('permessage-deflate', { serverNoContextTakeover: true });
    bad('permessage-deflate; server_max_window_bits=12', { serverMaxWindowBits: 10 });
    assert.deepEqual(parseExtensions('a; b=1, c'), [{ name: 'a', params: [['b', '1']] }, { name: 'c', params: [] }]);
  });
});

describe('WebSocket handshake', () => {
  it('RFC 6455 §1.3: the accept of dGhlIHNhbXBsZSBub25jZQ==', () => {
    assert.equal(acceptFor('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });

  it('request headers, and the checks of the answer', () => {
    const offer = { protocols: ['chat', 'superchat'], deflate: {} };
    const key = 'dGhlIHNhbXBsZSBub25jZQ==';
    assert.deepEqual(upgradeHeaders(offer, key), [
      ['connection', 'upgrade'], ['upgrade', 'websocket'], ['sec-websocket-key', key], ['sec-websocket-version', '13'],
      ['sec-websocket-protocol', 'chat, superchat'], ['sec-websocket-extensions', 'permessage-deflate; client_max_window_bits'],
    ]);
    const good: Array<[string, string]> = [['upgrade', 'websocket'], ['connection', 'Upgrade'], ['sec-websocket-accept', acceptFor(key)], ['sec-websocket-protocol', 'chat']];
    assert.deepEqual(checkAnswer(good, offer, key), { protocol: 'chat', extensions: '', deflate: undefined });
    assert.throws(() => checkAnswer(good.map(([n, v]) => [n, n === 'sec-websocket-accept' ? 'wrong' : v] as [string, string]), offer, key), HandshakeError);
    assert.throws(() => checkAnswer(good.map(([n, v]) => [n, n === 'sec-websocket-protocol' ? 'other' : v] as [string, string]), offer, key), HandshakeError);
    assert.throws(() => checkAnswer([...good, ['sec-websocket-extensions', 'x-unknown']], offer, key), HandshakeError);
    assert.throws(() => checkAnswer(good.filter(([n]) => n !== 'upgrade'), offer, key), HandshakeError);
    // HTTP/2 (RFC 8441): no key, no accept.
    assert.equal(checkAnswer([['sec-websocket-extensions', 'permessage-deflate']], offer, undefined).deflate?.serverMaxWindowBits, 15);
  });
});
