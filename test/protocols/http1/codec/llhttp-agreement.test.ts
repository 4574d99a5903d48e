// burrow's HTTP/1.1 response parser and Node's llhttp (a `node:http` client
// against a raw `net` server sending the same bytes) on the edge cases of
// empty lines, chunk-size lines and line endings: where they agree, and the
// few places where burrow deliberately differs (each one named below).
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import { isBurrowError } from '../../../../src/errors/errors.js';
import { ResponseParser, type ParseEvent } from '../../../../src/protocols/http1/codec/index.js';

type Outcome = { ok: true; status: number; body: string } | { ok: false };

/** What burrow's parser makes of `wire` as the answer to one GET (the peer closes after it). */
function burrow(wire: string): Outcome {
  const p = new ResponseParser();
  p.expect('GET');
  const events: ParseEvent[] = [];
  try {
    events.push(...p.feed(Buffer.from(wire, 'latin1')), ...p.finish());
  } catch (e) {
    assert.ok(isBurrowError(e, 'ERR_HTTP_PARSE'), String(e));
    return { ok: false };
  }
  const head = events.find((e) => e.kind === 'head');
  assert.ok(head !== undefined && head.kind === 'head' && events.at(-1)?.kind === 'end', `incomplete response: ${JSON.stringify(wire)}`);
  const body = Buffer.concat(events.flatMap((e) => (e.kind === 'data' ? [e.data] : []))).toString('latin1');
  return { ok: true, status: head.status, body };
}

/** What Node's `http` client (llhttp) makes of `wire`, sent by a raw server that then closes. */
async function llhttp(wire: string): Promise<Outcome> {
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    s.once('data', () => s.end(Buffer.from(wire, 'latin1')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  try {
    return await new Promise<Outcome>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, agent: false }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve({ ok: true, status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('latin1') }));
        res.on('error', () => resolve({ ok: false }));
      });
      req.on('error', () => resolve({ ok: false }));
    });
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

const OK = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi';
const CH = 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n';
const hi: Outcome = { ok: true, status: 200, body: 'hi' };
const hello: Outcome = { ok: true, status: 200, body: 'hello' };
const refused: Outcome = { ok: false };

/** Inputs on which both parsers give the same outcome. */
const AGREE: ReadonlyArray<[string, string, Outcome]> = [
  ['a plain response', OK, hi],
  ['an empty line (CRLF) before the status line', `\r\n${OK}`, hi],
  ['an empty line (LF) before the status line', `\n${OK}`, hi],
  ['4 empty lines before the status line', `\r\n\n\r\n\r\n${OK}`, hi],
  ['a line of whitespace before the status line', ` \r\n${OK}`, refused],
  ['HTTP/0.9 (no status line)', 'hello', refused],
  ['whitespace after a chunk size with no extension', `${CH}5  \r\nhello\r\n0\r\n\r\n`, refused],
  ['HTAB after a chunk size with no extension', `${CH}5\t\r\nhello\r\n0\r\n\r\n`, refused],
  ['whitespace after the last-chunk size', `${CH}5\r\nhello\r\n0 \r\n\r\n`, refused],
  ['whitespace after a chunk extension', `${CH}5;a=b \r\nhello\r\n0\r\n\r\n`, refused],
  ['a chunk extension without whitespace', `${CH}5;a=b;c\r\nhello\r\n0\r\n\r\n`, hello],
  ['a bare CR inside the status line', 'HTTP/1.1 200 O\rK\r\ncontent-length: 2\r\n\r\nhi', refused],
];

/**
 * Inputs on which burrow deliberately differs from llhttp: [name, wire, burrow, llhttp].
 * - Bare LF line ends: RFC 9112 §2.2 lets a recipient accept them; burrow does, llhttp (strict) does not.
 * - BWS before ";" and around "=" in a chunk extension: in RFC 9112 §7.1.1's grammar; llhttp (strict) refuses it.
 * - Empty lines before a status line: llhttp skips any number, burrow at most 4.
 * - A bare CR before a status line: llhttp skips it, burrow refuses it (a CR not followed by LF).
 */
const DIFFER: ReadonlyArray<[string, string, Outcome, Outcome]> = [
  ['bare LF line ends', 'HTTP/1.1 200 OK\ncontent-length: 2\n\nhi', hi, refused],
  ['BWS before ";" in a chunk extension', `${CH}5 ;ext\r\nhello\r\n0\r\n\r\n`, hello, refused],
  ['BWS after ";" and around "=" in a chunk extension', `${CH}5; a = b\r\nhello\r\n0\r\n\r\n`, hello, refused],
  ['5 empty lines before the status line', `${'\r\n'.repeat(5)}${OK}`, refused, hi],
  ['a bare CR before the status line', `\r${OK}`, refused, hi],
];

describe("HTTP/1.1 parsing: burrow's parser and Node's llhttp on the same bytes", () => {
  for (const [name, wire, both] of AGREE) {
    it(`agree: ${name}`, async () => {
      assert.deepEqual(burrow(wire), both, 'burrow');
      assert.deepEqual(await llhttp(wire), both, 'llhttp');
    });
  }
  for (const [name, wire, ours, theirs] of DIFFER) {
    it(`differ on purpose: ${name}`, async () => {
      assert.deepEqual(burrow(wire), ours, 'burrow');
      assert.deepEqual(await llhttp(wire), theirs, 'llhttp');
    });
  }
});
