/**
 * Fuzz target: the Server-Sent Events parser (WHATWG event stream
 * interpretation) against a server's bytes. The first input byte chooses the
 * event size bound (64 characters or the default). Outcome: the events, the
 * last event ID and retry the stream set, or `ERR_SSE_EVENT_TOO_LARGE`.
 */
import { BurrowError } from '../../../src/errors/errors.js';
import { SseParser } from '../../../src/request/sse/parser.js';
import { FuzzFailure, pieces, type FuzzTarget } from '../engine.js';

function run(input: Buffer, splits: readonly number[]): string {
  const small = ((input[0] ?? 0) & 1) === 1;
  const parser = new SseParser(small ? { maxEventSize: 64 } : {});
  const out: string[] = [];
  for (const part of pieces(input.subarray(1), splits.map((s) => Math.max(0, s - 1)))) {
    try {
      for (const e of parser.push(part)) {
        if (e.event === '' ) throw new FuzzFailure('an event with an empty type');
        if (e.id.includes('\0')) throw new FuzzFailure('an id with NUL');
        if (e.retry !== undefined && !(Number.isSafeInteger(e.retry) && e.retry >= 0)) throw new FuzzFailure(`retry ${e.retry}: not a safe integer`);
        out.push(`E${JSON.stringify([e.event, e.data, e.id, e.retry])}`);
      }
    } catch (e) {
      if (!(e instanceof BurrowError) || e.code !== 'ERR_SSE_EVENT_TOO_LARGE') throw e;
      // Which line crossed the bound first may depend on the pieces; that it failed, after which events, may not.
      out.push('!');
      return out.join('\n');
    }
  }
  try {
    parser.end();
  } catch (e) {
    if (!(e instanceof BurrowError) || e.code !== 'ERR_SSE_EVENT_TOO_LARGE') throw e;
    out.push('!');
    return out.join('\n');
  }
  out.push(`L${JSON.stringify([parser.lastEventId, parser.retry])}`);
  return out.join('\n');
}

/** Server-sent events from a server. */
export const sse: FuzzTarget = {
  name: 'sse',
  streaming: true,
  dictionary: ['\n', '\r', '\r\n', '\n\n', ':', ': ', 'data', 'data:', 'data: ', 'event:', 'id:', 'retry:', '123', '\0', '\xef\xbb\xbf', '\xc3\xa9', '\xf0\x9f\x98'],
  seeds: () => [
    Buffer.from('\x00data: one\n\n', 'latin1'),
    Buffer.from('\x00: comment\nevent: tick\r\ndata: a\r\ndata: b\r\nid: 7\r\n\r\n', 'latin1'),
    Buffer.from('\x00\xef\xbb\xbfretry: 2500\ndata\n\ndata:x\rid\r\r', 'latin1'),
    Buffer.from('\x01data: ' + 'y'.repeat(80) + '\n\n', 'latin1'),
    Buffer.from('\x00id: a\0b\ndata: c\n\nevent\ndata: \xc3\xa9\n\n', 'latin1'),
  ],
  run,
  shape: (o) => o.split('\n').map((l) => l[0]).join(''),
};
