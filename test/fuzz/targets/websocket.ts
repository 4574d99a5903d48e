/**
 * Fuzz target: the WebSocket frame decoder and message assembler (without
 * permessage-deflate, whose inflation is asynchronous: its own fuzz runs in
 * test/protocols/websocket/) against a server's bytes. The first input byte
 * chooses the limits. Outcome: the messages and control frames, or the close
 * code of the protocol error; a close code must be one a client may send.
 */
import { FrameDecoder, validCloseCode, WsProtocolError, type RawFrame } from '../../../src/protocols/websocket/frames.js';
import { MessageAssembler, type WsFrame } from '../../../src/protocols/websocket/messages.js';
import { FuzzFailure, pieces, type FuzzTarget } from '../engine.js';

function typed(e: unknown): string {
  if (!(e instanceof WsProtocolError)) throw e;
  if (!validCloseCode(e.closeCode) && e.closeCode !== 1009) throw new FuzzFailure(`close code ${e.closeCode} is not one to send`);
  return `!${e.closeCode} ${JSON.stringify(e.message)}`;
}

function show(f: WsFrame): string {
  if (f.type === 'text') return `t${JSON.stringify(f.data)}`;
  if (f.type === 'close') {
    if (f.code !== undefined && !validCloseCode(f.code)) throw new FuzzFailure(`a close frame with code ${f.code} came out`);
    return `c${String(f.code)} ${JSON.stringify(f.reason)}`;
  }
  return `${f.type[0] ?? '?'}${f.data.toString('hex')}`;
}

function run(input: Buffer, splits: readonly number[]): string {
  const small = ((input[0] ?? 0) & 1) === 1;
  const maxPayload = small ? 64 : 1 << 20;
  const decoder = new FrameDecoder({ allowRsv1: false, maxFramePayload: maxPayload });
  const out: string[] = [];
  let failed: string | undefined;
  const assembler = new MessageAssembler(
    { maxPayload, deflate: undefined },
    (f) => out.push(show(f)),
    (e) => {
      failed ??= typed(e);
    },
  );
  const frames: RawFrame[] = [];
  for (const part of pieces(input.subarray(1), splits.map((s) => Math.max(0, s - 1)))) {
    frames.length = 0;
    let err: string | undefined;
    try {
      decoder.feed(part, frames);
    } catch (e) {
      err = typed(e);
    }
    for (const f of frames) {
      try {
        assembler.push(f);
      } catch (e) {
        failed ??= typed(e);
      }
      if (failed !== undefined) break;
    }
    if (failed !== undefined || err !== undefined) {
      out.push(failed ?? (err as string));
      return out.join('\n');
    }
  }
  out.push(`~${decoder.buffered}`);
  return out.join('\n');
}

const f = (...b: number[]): number[] => b;
/** WebSocket frames and messages from a server. */
export const websocket: FuzzTarget = {
  name: 'websocket',
  streaming: true,
  dictionary: ['\x81', '\x82', '\x01', '\x00', '\x80', '\x88', '\x89', '\x8a', '\x7e', '\x7f', '\x7e\x00\x7e', '\x03\xe8', '\xc3\xa9', '\xed\xa0\x80', '\xf4\x90\x80\x80'],
  seeds: () => [
    Buffer.from(f(0, 0x81, 0x02, 0x68, 0x69)),
    Buffer.from(f(0, 0x01, 0x01, 0x61, 0x89, 0x00, 0x80, 0x02, 0x62, 0x63)),
    Buffer.from(f(0, 0x82, 0x7e, 0x00, 0x03, 1, 2, 3, 0x88, 0x04, 0x03, 0xe8, 0x6f, 0x6b)),
    Buffer.from(f(1, 0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0x41, ...new Array<number>(65).fill(7))),
    Buffer.from(f(0, 0x8a, 0x01, 0x70, 0x81, 0x04, 0xce, 0xbb, 0xe2, 0x82)),
  ],
  run,
  shape: (o) => o.split('\n').map((l) => (l.startsWith('!') ? l.slice(0, 40) : l[0])).join(','),
};
