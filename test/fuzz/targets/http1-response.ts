/**
 * Fuzz target: the HTTP/1.1 response parser, as a connection drives it. The
 * first input byte chooses the requests registered (GET, HEAD, CONNECT, an
 * upgrade; one to three of them) and the limits (defaults or small ones); the
 * rest is what the server sends. The `connect` variant registers a CONNECT
 * first, as a CONNECT hop does: its seeds are proxy answers.
 */
import { BurrowError } from '../../../src/errors/errors.js';
import { ResponseParser, type ParseEvent } from '../../../src/protocols/http1/codec/index.js';
import { FuzzFailure, pieces, type FuzzTarget } from '../engine.js';

const METHODS = ['GET', 'HEAD', 'CONNECT', 'UPGRADE'] as const;
const CTL = /[\0\r\n]/;

function checkHeaders(headers: readonly (readonly [string, string])[]): void {
  for (const [n, v] of headers) {
    if (CTL.test(n) || CTL.test(v)) throw new FuzzFailure(`a header with CR, LF or NUL came out: ${JSON.stringify([n, v])}`);
    if (n !== n.toLowerCase()) throw new FuzzFailure(`a header name not lowercased: ${JSON.stringify(n)}`);
    if (/^[ \t]|[ \t]$/.test(v)) throw new FuzzFailure(`a header value with surrounding whitespace: ${JSON.stringify(v)}`);
  }
}

function show(e: ParseEvent): string {
  switch (e.kind) {
    case 'data':
      return `D${JSON.stringify(e.data.toString('latin1'))}`;
    case 'head':
      checkHeaders(e.headers);
      return `H${e.status} ${e.version} ${e.body} ${String(e.contentLength)} ${String(e.keepAlive)} ${JSON.stringify(e.headers)}`;
    case 'inform':
      checkHeaders(e.headers);
      return `I${e.status} ${JSON.stringify(e.headers)}`;
    case 'trailers':
      checkHeaders(e.headers);
      return `T${JSON.stringify(e.headers)}`;
    case 'end':
      return `E${String(e.keepAlive)}`;
    case 'switch':
      checkHeaders(e.headers);
      return `S${e.status} ${JSON.stringify(e.headers)}`;
  }
}

/** The parser's typed error, or the exception as a failure. */
function typed(e: unknown): string {
  if (!(e instanceof BurrowError)) throw e;
  if (e.stage !== 'http') throw new FuzzFailure(`an error at stage ${e.stage}: ${e.message}`);
  if (e.cause !== undefined && !(e.cause instanceof BurrowError)) throw new FuzzFailure(`an error caused by an unexpected exception: ${String(e.cause)}`);
  return '!';
}

/**
 * The outcome: the events, then `!` for an error. Which check names an error first may depend on the split (a
 * block that arrives whole is checked line by line as it is scanned; one that arrives in pieces has its size
 * checked on every piece and its lines when it ends), so the error's code is not part of the outcome: an input
 * must fail in every split or in none, after the same events.
 */
function run(input: Buffer, splits: readonly number[]): string {
  const mode = input[0] ?? 0;
  const small = (mode & 0x80) !== 0;
  const parser = new ResponseParser(small ? { maxHeaderBlockSize: 200, maxTrailerBlockSize: 60, maxHeaderCount: 4 } : undefined);
  const count = 1 + ((mode >> 4) % 3);
  for (let k = 0; k < count; k++) {
    const m = METHODS[(mode >> (2 * k)) & 3] as (typeof METHODS)[number];
    if (m === 'UPGRADE') parser.expect('GET', { upgrade: true });
    else parser.expect(m);
  }
  const out: string[] = [];
  let data = '';
  const flush = (): void => {
    if (data !== '') out.push(`D${JSON.stringify(data)}`);
    data = '';
  };
  const events: ParseEvent[] = [];
  const parts = pieces(input.subarray(1), splits.map((s) => Math.max(0, s - 1)));
  let switched: Buffer[] | undefined;
  for (const part of parts) {
    if (switched !== undefined) {
      switched.push(part);
      continue;
    }
    events.length = 0;
    let err: string | undefined;
    try {
      parser.feedInto(part, events);
    } catch (e) {
      err = typed(e);
    }
    for (const e of events) {
      if (e.kind === 'data') {
        if (e.data.length === 0) throw new FuzzFailure('an empty data event');
        data += e.data.toString('latin1');
        continue;
      }
      flush();
      out.push(show(e));
      if (e.kind === 'switch') switched = [e.rest];
    }
    if (err !== undefined) {
      flush();
      out.push(err);
      return out.join('\n');
    }
  }
  flush();
  if (switched !== undefined) {
    out.push(`R${JSON.stringify(Buffer.concat(switched).toString('latin1'))}`);
    return out.join('\n');
  }
  try {
    for (const e of parser.finish()) out.push(show(e));
    out.push(`F${parser.pending}`);
  } catch (e) {
    out.push(typed(e));
  }
  return out.join('\n');
}

/** Event kinds, status classes, body kinds and keep-alive: what states were reached, not the data. */
function shape(outcome: string): string {
  return outcome
    .split('\n')
    .map((l) => {
      if (l.startsWith('H')) {
        const [status = '', version, body, , keepAlive] = l.split(' ');
        return `H${status.slice(1, 2)} ${String(version)} ${String(body)} ${String(keepAlive)}`;
      }
      return l.startsWith('I') || l.startsWith('S') ? l.slice(0, 2) : l.slice(0, 1);
    })
    .join(',');
}

const DICTIONARY = [
  '\r\n', '\n', '\r\n\r\n', ':', ': ', ' ', '\t', ',', ';', '"', '\\', '\0', '0', '1', 'f', 'HTTP/1.1 ', 'HTTP/1.0 ', 'HTTP/2 ', '200 OK', '101 ', '100 Continue\r\n\r\n', '204', '304',
  'Content-Length: ', 'content-length: 5\r\n', 'Transfer-Encoding: chunked\r\n', 'transfer-encoding: gzip, chunked\r\n', 'Connection: close\r\n', 'Connection: keep-alive\r\n',
  'upgrade: websocket\r\n', '0\r\n\r\n', '5\r\nhello\r\n', ';ext=1', 'x-trailer: 1\r\n', ' obs-fold\r\n',
];

function seedsOf(connect: boolean): Buffer[] {
  const g = (mode: number, s: string): Buffer => Buffer.concat([Buffer.from([mode]), Buffer.from(s, 'latin1')]);
  if (connect) {
    return [
      g(0x02, 'HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01'),
      g(0x02, 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'),
      g(0x02, 'HTTP/1.0 200 OK\r\nProxy-Agent: squid\r\n\r\nSSH-2.0'),
      g(0x02, 'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="p"\r\nContent-Length: 4\r\n\r\nnope'),
      g(0x02, 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n'),
      g(0x02, 'HTTP/1.1 502 Bad Gateway\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nbad\r\n0\r\n\r\n'),
      g(0x02, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello'),
      g(0x92, 'HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\nno'),
    ];
  }
  return [
    g(0x00, 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello'),
    g(0x00, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nx-t: 1\r\n\r\n'),
    g(0x00, 'HTTP/1.0 200 OK\r\n\r\nclose-delimited body'),
    g(0x01, 'HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n'),
    g(0x10, 'HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'),
    g(0x20, 'HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n\r\nHTTP/1.1 200 OK\nContent-Length: 1\n\nz'),
    g(0x03, 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x02hi'),
    g(0x80, 'HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nContent-Length: 0\r\n\r\n'),
    g(0x00, 'HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\nConnection: close\r\n\r\nabc'),
  ];
}

function target(name: string, connect: boolean): FuzzTarget {
  return { name, streaming: true, dictionary: DICTIONARY, seeds: () => seedsOf(connect), run, shape };
}

/** The response parser behind requests. */
export const http1Response = target('http1-response', false);
/** The response parser answering a CONNECT (a proxy's reply). */
export const connectResponse = target('connect-response', true);
