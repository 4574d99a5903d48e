#!/usr/bin/env node
// Micro-benchmark: burrow's HTTP/1.1 response parser vs Node's built-in llhttp
// binding (process.binding('http_parser'), response mode), in the same run.
// Usage: npm run build && node bench/codec/http1-parser.mjs [iterations]
// Both parsers are reused across iterations (like a keep-alive connection) and
// parse one whole response per iteration. Runs are interleaved; medians of 5.
// With BENCH_BASELINE_DIST=/path/to/other/dist, that build's parser runs too
// ("burrow@base"), interleaved with the others: a before/after in one run.
import { Buffer } from 'node:buffer';
import { pathToFileURL } from 'node:url';
import { ResponseParser } from '../../dist/protocols/http1/codec/index.js';

const BASE_DIST = process.env.BENCH_BASELINE_DIST;
const BaseParser = BASE_DIST
  ? (await import(pathToFileURL(`${BASE_DIST.replace(/\/$/, '')}/protocols/http1/codec/index.js`).href)).ResponseParser
  : undefined;

const N = Number(process.argv[2] ?? 200_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

const SMALL = Buffer.from(
  'HTTP/1.1 200 OK\r\n' +
    'Date: Mon, 27 Jul 2009 12:28:53 GMT\r\n' +
    'Server: Apache/2.2.14 (Win32)\r\n' +
    'Last-Modified: Wed, 22 Jul 2009 19:15:56 GMT\r\n' +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    'Cache-Control: max-age=3600\r\n' +
    'ETag: "34aa387-d-1568eb00"\r\n' +
    'Vary: Accept-Encoding\r\n' +
    'Content-Length: 13\r\n' +
    '\r\n' +
    'Hello, World!',
  'latin1',
);

const CHUNKED = Buffer.from(
  'HTTP/1.1 200 OK\r\n' +
    'Date: Mon, 27 Jul 2009 12:28:53 GMT\r\n' +
    'Server: Apache/2.2.14 (Win32)\r\n' +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    'Cache-Control: no-cache\r\n' +
    'Vary: Accept-Encoding\r\n' +
    'Transfer-Encoding: chunked\r\n' +
    '\r\n' +
    '7\r\nHello, \r\n' +
    '6\r\nWorld!\r\n' +
    '0\r\n\r\n',
  'latin1',
);

let sink = 0;

function makeBurrow(Parser = ResponseParser) {
  const parser = new Parser();
  return (buf) => {
    parser.expect('GET');
    const events = parser.feed(buf);
    for (let i = 0; i < events.length; i++) {
      const e = events[i];
      if (e.kind === 'head') sink += e.status + e.headers.length;
      else if (e.kind === 'data') sink += e.data.length;
      else if (e.kind === 'end') sink += 1;
    }
  };
}

function loadLlhttp() {
  try {
    const origEmit = process.emitWarning;
    process.emitWarning = () => {}; // silence DEP0111 for this one access
    let binding;
    try {
      binding = process.binding('http_parser');
    } finally {
      process.emitWarning = origEmit;
    }
    const { HTTPParser } = binding;
    if (typeof HTTPParser !== 'function') return { why: 'HTTPParser missing from the binding' };
    return { HTTPParser };
  } catch (e) {
    return { why: String(e && e.message ? e.message : e) };
  }
}

function makeLlhttp(HTTPParser) {
  const parser = new HTTPParser();
  parser.initialize(HTTPParser.RESPONSE, {}, 0, 0);
  parser[HTTPParser.kOnHeaders] = () => {};
  parser[HTTPParser.kOnHeadersComplete] = (major, minor, headers, method, url, statusCode) => {
    sink += statusCode + (headers ? headers.length / 2 : 0);
    return 0;
  };
  parser[HTTPParser.kOnBody] = (b, start, len) => {
    // Node >= 18 passes one Buffer; older versions passed (buffer, start, len).
    sink += typeof len === 'number' ? len : b.length;
  };
  parser[HTTPParser.kOnMessageComplete] = () => {
    sink += 1;
  };
  parser[HTTPParser.kOnExecute] = () => {};
  return (buf) => {
    const r = parser.execute(buf);
    if (r instanceof Error) throw r;
  };
}

function time(fn, buf, n) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(buf);
  const ns = Number(process.hrtime.bigint() - t0);
  return (n * 1e9) / ns;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x) => Math.round(x).toLocaleString('en-US').padStart(12);

const ll = loadLlhttp();
console.log(`node ${process.version}, ${N} iterations x ${RUNS} runs (interleaved), medians`);
if (!ll.HTTPParser) console.log(`llhttp binding unavailable on this Node version (${ll.why}); running burrow alone`);

for (const [label, buf] of [
  ['small (8 headers, content-length 13)', SMALL],
  ['chunked (6 headers, 2 chunks)', CHUNKED],
]) {
  const burrow = makeBurrow();
  const base = BaseParser ? makeBurrow(BaseParser) : null;
  const llhttp = ll.HTTPParser ? makeLlhttp(ll.HTTPParser) : null;
  // Warm-up.
  time(burrow, buf, Math.min(N, 50_000));
  if (base) time(base, buf, Math.min(N, 50_000));
  if (llhttp) time(llhttp, buf, Math.min(N, 50_000));
  const rb = [];
  const rbase = [];
  const rl = [];
  for (let r = 0; r < RUNS; r++) {
    rb.push(time(burrow, buf, N));
    if (base) rbase.push(time(base, buf, N));
    if (llhttp) rl.push(time(llhttp, buf, N));
  }
  const mb = median(rb);
  console.log(`\n${label}, ${buf.length} bytes`);
  console.log(`  burrow  ${fmt(mb)} ops/s`);
  if (base) {
    const mbase = median(rbase);
    console.log(`  burrow@base ${fmt(mbase)} ops/s`);
    console.log(`  ratio   ${(mb / mbase).toFixed(2)}x (burrow / burrow@base)`);
  }
  if (llhttp) {
    const ml = median(rl);
    console.log(`  llhttp  ${fmt(ml)} ops/s`);
    console.log(`  ratio   ${(mb / ml).toFixed(2)}x (burrow / llhttp)`);
  }
}
if (sink === 42) console.log(''); // keep results observable
