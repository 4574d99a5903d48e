#!/usr/bin/env node
// Micro-benchmark: burrow's SOCKS4/SOCKS4a client codec, one full handshake per
// operation (new Socks4Client, start(), feed every server chunk, to 'done').
// Usage: npm run build && node bench/codec/socks4.mjs [iterations]
// burrow alone (no peer). Medians of 5 runs after a warm-up. Run it with
// bench/codec/socks5.mjs, its peer, in the same session.
import { Buffer } from 'node:buffer';
import { Socks4Client } from '../../dist/protocols/socks4/index.js';

const N = Number(process.argv[2] ?? 200_000);
const RUNS = 5;

const hex = (s) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

const SCENARIOS = [
  {
    label: 'SOCKS4, IPv4 destination, no user id (1 server chunk)',
    req: { host: '10.0.0.1', port: 443 },
    chunks: [hex('00 5a 0000 00000000')],
  },
  {
    label: 'SOCKS4a, hostname and user id (1 server chunk)',
    req: { host: 'example.com', port: 443, version: '4a', userId: 'alice' },
    chunks: [hex('00 5a 0000 00000000')],
  },
  {
    label: 'SOCKS4, reply and first tunnel bytes in 1 chunk',
    req: { host: '10.0.0.1', port: 80 },
    chunks: [Buffer.concat([hex('00 5a 0050 0a000001'), Buffer.from('HTTP/1.1 200 OK\r\n')])],
  },
  {
    label: 'SOCKS4, server bytes 1 at a time (pending-buffer path)',
    req: { host: '10.0.0.1', port: 443 },
    chunks: [...hex('00 5a 0000 00000000')].map((b) => Buffer.from([b])),
  },
];

let sink = 0;

function handshake(req, chunks) {
  const c = new Socks4Client(req);
  sink += c.start()[0].data.length;
  for (let i = 0; i < chunks.length; i++) {
    const events = c.feed(chunks[i]);
    for (let j = 0; j < events.length; j++) {
      const e = events[j];
      if (e.kind === 'send') sink += e.data.length;
      else if (e.kind === 'done') sink += e.bound.port + e.rest.length;
    }
  }
  if (c.phase !== 'done') throw new Error(`handshake ended in phase ${c.phase}`);
}

function time(req, chunks, n) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) handshake(req, chunks);
  const ns = Number(process.hrtime.bigint() - t0);
  return (n * 1e9) / ns;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x) => Math.round(x).toLocaleString('en-US').padStart(12);

console.log(`node ${process.version}, ${N} handshakes x ${RUNS} runs, medians`);
for (const { label, req, chunks } of SCENARIOS) {
  time(req, chunks, Math.min(N, 50_000)); // warm-up
  const runs = [];
  for (let r = 0; r < RUNS; r++) runs.push(time(req, chunks, N));
  console.log(`\n${label}`);
  console.log(`  burrow  ${fmt(median(runs))} handshakes/s`);
}
if (sink === 42) console.log(''); // keep results observable
