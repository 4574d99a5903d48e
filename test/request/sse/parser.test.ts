// The event stream parser against the WHATWG HTML "event stream interpretation" (§9.2.6): the spec's own
// examples, its edge cases (BOM, CR/LF/CRLF, comments, id with NUL, retry digits only, empty data, no
// dispatch at the end of the stream), every split of a sample stream, and the bound on an event's size.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SseParser, type SseEvent } from '../../../src/request/sse/parser.js';
import { readEvents } from '../../../src/request/sse/read.js';
import { isBurrowError } from '../../../src/errors/errors.js';

function parse(...chunks: Array<string | Uint8Array>): { events: SseEvent[]; parser: SseParser } {
  const parser = new SseParser();
  const events: SseEvent[] = [];
  for (const c of chunks) events.push(...parser.push(typeof c === 'string' ? Buffer.from(c, 'utf8') : c));
  parser.end();
  return { events, parser };
}

const ev = (data: string, event = 'message', id = '', retry: number | undefined = undefined): SseEvent => ({ event, data, id, retry });

describe('SseParser: the spec examples', () => {
  it('stock ticker: two data lines joined by LF, the last line without an empty line is not dispatched', () => {
    const { events } = parse('data: YHOO\ndata: +2\ndata: 10\n\n');
    assert.deepEqual(events, [ev('YHOO\n+2\n10')]);
  });

  it('four blocks: a comment, two events with ids, and the last id kept for the event without one', () => {
    const { events, parser } = parse(': test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n');
    // The second block's `id` with no value resets the last event ID; the third block has no empty line.
    assert.deepEqual(events, [ev('first event', 'message', '1'), ev('second event', 'message', '')]);
    assert.equal(parser.lastEventId, '');
  });

  it('"data" and "data:" alone dispatch empty data; two "data" give one LF', () => {
    const { events } = parse('data\n\ndata\ndata\n\ndata:\n');
    assert.deepEqual(events, [ev(''), ev('\n')]);
  });

  it('one space after the colon is dropped, not two', () => {
    const { events } = parse('data:test\n\ndata: test\n\ndata:  test\n\n');
    assert.deepEqual(events.map((e) => e.data), ['test', 'test', ' test']);
  });

  it('named events: event type resets after each dispatch', () => {
    const { events } = parse('event: add\ndata: 73857293\n\nevent: remove\ndata: 2153\n\ndata: plain\n\n');
    assert.deepEqual(events, [ev('73857293', 'add'), ev('2153', 'remove'), ev('plain')]);
  });
});

describe('SseParser: edge cases', () => {
  it('CR, LF and CRLF line ends, mixed', () => {
    const { events } = parse('data: a\rdata: b\r\ndata: c\n\r\ndata: d\r\rdata: e\n\n');
    assert.deepEqual(events.map((e) => e.data), ['a\nb\nc', 'd', 'e']);
  });

  it('a CR at the end of a chunk and an LF at the start of the next are one line end', () => {
    const { events } = parse('data: a\r', '\ndata: b\r', '\n\r', '\n');
    assert.deepEqual(events.map((e) => e.data), ['a\nb']);
  });

  it('a CR at the end of a chunk followed by another line is a line end of its own', () => {
    const { events } = parse('data: a\r', 'data: b\r', '\r');
    assert.deepEqual(events.map((e) => e.data), ['a\nb']);
  });

  it('strips one leading BOM, not a second one, and not one later in the stream', () => {
    const bom = '\uFEFF';
    assert.deepEqual(parse(`${bom}data: x\n\n`).events.map((e) => e.data), ['x']);
    // A second BOM makes the first line's field name "\uFEFFdata": ignored.
    assert.deepEqual(parse(`${bom}${bom}data: x\n\ndata: y\n\n`).events.map((e) => e.data), ['y']);
    assert.deepEqual(parse(`data: ${bom}x\n\n`).events.map((e) => e.data), [`${bom}x`]);
  });

  it('a BOM split across chunks is stripped', () => {
    const bytes = Buffer.from('\uFEFFdata: x\n\n', 'utf8');
    assert.deepEqual(parse(bytes.subarray(0, 1), bytes.subarray(1, 2), bytes.subarray(2)).events.map((e) => e.data), ['x']);
  });

  it('a UTF-8 character split across chunks is kept whole; invalid bytes become U+FFFD', () => {
    const bytes = Buffer.from('data: é€😀\n\n', 'utf8');
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i++) chunks.push(bytes.subarray(i, i + 1));
    assert.deepEqual(parse(...chunks).events.map((e) => e.data), ['é€😀']);
    assert.deepEqual(parse(Buffer.from([0x64, 0x61, 0x74, 0x61, 0x3a, 0xff, 0x0a, 0x0a])).events.map((e) => e.data), ['\uFFFD']);
  });

  it('comments and unknown fields are ignored; a field name is case-sensitive', () => {
    const { events } = parse(':comment\n: another\nfoo: bar\nData: no\nEVENT: no\ndata: yes\n\n');
    assert.deepEqual(events, [ev('yes')]);
  });

  it('an id holding NUL is ignored; an id without an event still sets the last event ID at the empty line', () => {
    const { events, parser } = parse('id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\nid: 3\n\ndata: c\n\n');
    assert.deepEqual(events, [ev('a', 'message', '1'), ev('b', 'message', '1'), ev('c', 'message', '3')]);
    assert.equal(parser.lastEventId, '3');
  });

  it('an id read in an event the stream ends before is not the last event ID', () => {
    const p = new SseParser();
    assert.deepEqual(p.push(Buffer.from('id: 1\ndata: a\n\nid: 2\ndata: b\n')), [ev('a', 'message', '1')]);
    p.end();
    assert.equal(p.lastEventId, '1');
  });

  it('retry: ASCII digits only, set at once (no dispatch needed), kept for later events', () => {
    const { events, parser } = parse('retry: 1500\n\ndata: a\n\nretry: 15x\nretry: -1\nretry: 1.5\nretry:  20\nretry\ndata: b\n\nretry: 0\n');
    assert.deepEqual(events, [ev('a', 'message', '', 1500), ev('b', 'message', '', 1500)]);
    assert.equal(parser.retry, 0);
  });

  it('an event without data is not dispatched and its event type does not leak into the next', () => {
    const { events } = parse('event: x\n\ndata: a\n\n');
    assert.deepEqual(events, [ev('a')]);
  });

  it('a colon in the value is kept; a line without colon is a field with empty value', () => {
    const { events } = parse('data: a:b: c\n\nevent\ndata\n\n');
    assert.deepEqual(events, [ev('a:b: c'), ev('')]);
  });

  it('pending data at the end of the stream is discarded', () => {
    const { events } = parse('data: a\n\ndata: b');
    assert.deepEqual(events.map((e) => e.data), ['a']);
  });

  it('starts from a given last event ID (a reconnection) until the stream sets another', () => {
    const p = new SseParser({}, '41');
    assert.deepEqual(p.push(Buffer.from('data: a\n\nid: 42\ndata: b\n\n')), [ev('a', 'message', '41'), ev('b', 'message', '42')]);
  });
});

describe('SseParser: every split of a sample stream', () => {
  const sample = Buffer.from('\uFEFF: hi\r\nretry: 250\r\nevent: add\r\nid: 7\r\ndata: é1\r\ndata:2\r\r\ndata: x\rid: 8\r\n\r\n:\n\ndata\n\nevent: e\ndata: 😀\n\ndata: tail', 'utf8');
  const expected = parse(sample).events;

  it('the whole sample gives the expected events', () => {
    assert.deepEqual(expected, [ev('é1\n2', 'add', '7', 250), ev('x', 'message', '8', 250), ev('', 'message', '8', 250), ev('😀', 'e', '8', 250)]);
  });

  it('split in two at every byte offset', () => {
    for (let i = 0; i <= sample.length; i++) {
      assert.deepEqual(parse(sample.subarray(0, i), sample.subarray(i)).events, expected, `split at ${i}`);
    }
  });

  it('split in three at every pair of offsets', () => {
    for (let i = 0; i <= sample.length; i++) {
      for (let j = i; j <= sample.length; j++) {
        const got = parse(sample.subarray(0, i), sample.subarray(i, j), sample.subarray(j)).events;
        if (JSON.stringify(got) !== JSON.stringify(expected)) assert.fail(`split at ${i}, ${j}: ${JSON.stringify(got)}`);
      }
    }
    assert.ok(true);
  });

  it('one byte at a time', () => {
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < sample.length; i++) chunks.push(sample.subarray(i, i + 1));
    assert.deepEqual(parse(...chunks).events, expected);
  });
});

describe('SseParser: the size bound', () => {
  it('a line longer than maxEventSize fails with ERR_SSE_EVENT_TOO_LARGE, and every later push too', () => {
    const p = new SseParser({ maxEventSize: 16 });
    assert.deepEqual(p.push(Buffer.from('data: 0123456789')), []);
    assert.throws(() => p.push(Buffer.from('x')), (e: unknown) => isBurrowError(e, 'ERR_SSE_EVENT_TOO_LARGE') && e.stage === 'http' && e.details['maxEventSize'] === 16);
    assert.throws(() => p.push(Buffer.from('\n\n')), (e: unknown) => isBurrowError(e, 'ERR_SSE_EVENT_TOO_LARGE'));
  });

  it('data lines adding up past the bound fail; under it they pass', () => {
    const p = new SseParser({ maxEventSize: 20 });
    assert.deepEqual(p.push(Buffer.from('data: 12345\ndata: 12345\n\n')), [ev('12345\n12345')]);
    assert.throws(() => p.push(Buffer.from('data: 12345\ndata: 12345\ndata: 12345\n')), (e: unknown) => isBurrowError(e, 'ERR_SSE_EVENT_TOO_LARGE'));
  });

  it('comments do not add up: a keep-alive comment every line never fails', () => {
    const p = new SseParser({ maxEventSize: 16 });
    for (let i = 0; i < 1000; i++) p.push(Buffer.from(': keep-alive\n'));
    assert.deepEqual(p.push(Buffer.from('data: ok\n\n')), [ev('ok')]);
  });

  it('a 100 MiB line is refused after maxEventSize, never held whole', async () => {
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let sent = 0;
    async function* body(): AsyncGenerator<Uint8Array> {
      yield Buffer.from('data: ');
      while (sent < 100 * 1024 * 1024) {
        sent += chunk.length;
        yield chunk;
      }
    }
    await assert.rejects(async () => {
      for await (const e of readEvents(body(), { maxEventSize: 1024 * 1024 })) assert.fail(`no event expected: ${e.data.length}`);
    }, (e: unknown) => isBurrowError(e, 'ERR_SSE_EVENT_TOO_LARGE'));
    assert.ok(sent <= 1024 * 1024 + chunk.length, `read ${sent} bytes before failing`);
  });

  it('rejects a maxEventSize that is not a positive integer', () => {
    for (const v of [0, -1, 1.5, '4', Number.NaN]) {
      assert.throws(() => new SseParser({ maxEventSize: v as number }), (e: unknown) => isBurrowError(e, 'ERR_INVALID_OPTION'));
    }
    // readEvents() (res.events()) checks it at once, before the body is read.
    let read = false;
    const body: AsyncIterable<Uint8Array> = { [Symbol.asyncIterator]: () => { read = true; return [][Symbol.iterator]() as unknown as AsyncIterator<Uint8Array>; } };
    assert.throws(() => readEvents(body, { maxEventSize: 0 }), (e: unknown) => isBurrowError(e, 'ERR_INVALID_OPTION'));
    assert.equal(read, false);
  });
});

describe('SseParser: regressions found by the fuzzer', () => {
  it('the events completed before a line past maxEventSize in the same chunk are handed out; the error comes next', () => {
    const p = new SseParser({ maxEventSize: 64 });
    const events = p.push(Buffer.from(`data: first\n\ndata: ${'y'.repeat(100)}\n\n`));
    assert.deepEqual(events.map((e) => e.data), ['first']);
    assert.throws(() => p.push(Buffer.from('data: more\n\n')), (e: unknown) => isBurrowError(e) && e.code === 'ERR_SSE_EVENT_TOO_LARGE');
  });

  it('an error found after the events before it is thrown by end() when the stream ends there', () => {
    const p = new SseParser({ maxEventSize: 64 });
    assert.equal(p.push(Buffer.from(`data: first\n\ndata: ${'y'.repeat(100)}`)).length, 1);
    assert.throws(() => p.end(), (e: unknown) => isBurrowError(e) && e.code === 'ERR_SSE_EVENT_TOO_LARGE');
    // Thrown once.
    assert.doesNotThrow(() => p.end());
  });

  it('res.events() yields the events before an oversized one, then rejects with ERR_SSE_EVENT_TOO_LARGE', async () => {
    async function* body(): AsyncGenerator<Uint8Array> {
      yield Buffer.from(`data: a\n\ndata: b\n\ndata: ${'z'.repeat(100)}\n\n`);
    }
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const e of readEvents(body(), { maxEventSize: 64 })) seen.push(e.data);
      })(),
      (e: unknown) => isBurrowError(e) && e.code === 'ERR_SSE_EVENT_TOO_LARGE',
    );
    assert.deepEqual(seen, ['a', 'b']);
  });

  it('a retry field beyond 2^53 is kept as the largest exact integer', () => {
    const p = new SseParser();
    p.push(Buffer.from(`retry: ${'9'.repeat(40)}\ndata: x\n\n`));
    assert.equal(p.retry, Number.MAX_SAFE_INTEGER);
  });
});
