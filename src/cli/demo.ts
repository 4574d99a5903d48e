/**
 * `burrow demo`: starts on loopback, with a throwaway CA, a chain that
 * exercises the whole mission — an HTTP/2 CONNECT proxy over TLS, then a
 * SOCKS5 server over TLS, then an HTTPS origin speaking HTTP/2 — and sends a
 * request and a 100 MB download through it with `request()`, every
 * certificate verified. Prints the layers (TLS three deep) with their timings,
 * verifies the bytes, and reports the throughput. Leaves nothing running.
 */
import { createHash } from 'node:crypto';
import type { Writable } from 'node:stream';
import { parseProxyUrl } from '../request/proxy-url.js';
import { request, type RequestInit } from '../request/request.js';
import { createTestPki } from '../testing/pki.js';
import { startOrigin } from '../testing/origin.js';
import { startH2ConnectProxy } from '../testing/h2-proxy.js';
import { startSocks5Server } from '../testing/socks5-server.js';
import { describeRoute, RouteTracer, type HopDesc, type LayerEvent } from './route-trace.js';

const DOWNLOAD_BYTES = 100 * 1000 * 1000;
const MOD = 251;
const PIECE = 64 * 1024;
const PATTERN = Buffer.alloc(PIECE + MOD);
for (let i = 0; i < PATTERN.length; i++) PATTERN[i] = i % MOD;

/** Checks a stream of bytes against byte i = i % 251 and hashes it. */
class PatternCheck {
  offset = 0;
  firstMismatch: number | undefined;
  readonly #hash = createHash('sha256');

  add(chunk: Buffer): void {
    this.#hash.update(chunk);
    for (let at = 0; at < chunk.length; at += PIECE) {
      const piece = chunk.subarray(at, Math.min(at + PIECE, chunk.length));
      const start = this.offset % MOD;
      if (this.firstMismatch === undefined && !piece.equals(PATTERN.subarray(start, start + piece.length))) {
        let k = 0;
        while (piece[k] === PATTERN[start + k]) k++;
        this.firstMismatch = this.offset + k;
      }
      this.offset += piece.length;
    }
  }

  digest(): string {
    return this.#hash.digest('hex');
  }
}

/** sha256 of the first `n` bytes of the pattern. */
function expectedDigest(n: number): string {
  const h = createHash('sha256');
  for (let off = 0; off < n; off += PIECE) {
    const len = Math.min(PIECE, n - off);
    const start = off % MOD;
    h.update(PATTERN.subarray(start, start + len));
  }
  return h.digest('hex');
}

function roleOf(h: HopDesc): string {
  if (h.kind === 'origin') return 'the origin';
  if (h.kind === 'socks4') return 'the SOCKS4 server';
  return h.kind === 'connect' ? `the ${h.scheme === 'h2' || h.scheme === 'h2c' ? 'HTTP/2' : 'HTTP/1.1'} CONNECT proxy` : 'the SOCKS5 server';
}

/** The layers as an indented picture: each layer inside the one above it. */
function picture(events: readonly LayerEvent[], route: readonly HopDesc[]): string[] {
  const lines: string[] = [];
  let depth = 0;
  for (const ev of events) {
    const indent = depth === 0 ? '' : `${'  '.repeat(depth - 1)}└ `;
    const time = `${ev.t.toFixed(1).padStart(8)} ms  `;
    const hop = route[ev.hop];
    let text: string;
    switch (ev.event) {
      case 'dns':
        text = `DNS     ${ev.host} -> ${ev.addresses.join(', ')}`;
        lines.push(`${time}${text}`);
        continue;
      case 'tcp':
        text = `TCP     ${ev.local ?? ''} -> ${ev.remote ?? `${ev.host}:${ev.port}`}  (hop ${ev.hop}: ${hop ? roleOf(hop) : '?'})`;
        break;
      case 'tls': {
        const params = [ev.version, ev.cipher, ev.alpn !== undefined ? `ALPN ${ev.alpn}` : undefined].filter((x) => x !== undefined);
        text = `TLS     depth ${ev.depth ?? '?'} with ${hop ? roleOf(hop) : '?'} ${ev.host}${params.length > 0 ? `, ${params.join(', ')}` : ''}; certificate ${ev.subject ?? '?'} ${ev.verified ? 'verified' : 'NOT verified'}`;
        break;
      }
      case 'connect':
        text = `CONNECT ${ev.target} -> ${ev.status ?? '2xx'}: a tunnel on one stream of the proxy's HTTP/2 connection`;
        break;
      case 'socks5':
        text = `SOCKS5  CONNECT ${ev.target} (${ev.resolved !== undefined ? `sent as ${ev.resolved}, resolved by the client` : 'name resolved by the server'}) -> succeeded`;
        break;
      case 'socks4':
        text = `SOCKS${ev.version.padEnd(3)}CONNECT ${ev.target} -> granted`;
        break;
      case 'http':
        text = `${ev.protocol.padEnd(8)}with the origin ${ev.host}:${ev.port}`;
        break;
      case 'reused':
        text = `re-using the connection (${ev.protocol})`;
        break;
    }
    lines.push(`${time}${indent}${text}`);
    depth++;
  }
  return lines;
}

/** Runs the demo, writing a report to `out`. Returns the exit code. */
export async function runDemo(out: Writable): Promise<number> {
  const say = (s = ''): void => {
    out.write(`${s}\n`);
  };
  const pki = createTestPki();
  const recorder = new RouteTracer();
  const closers: Array<() => Promise<void>> = [];
  try {
    const h2proxy = await startH2ConnectProxy({ transport: 'tls', pki });
    closers.push(() => h2proxy.close());
    const socks = await startSocks5Server({ transport: 'tls', pki });
    closers.push(() => socks.close());
    const origin = await startOrigin({ protocol: 'http2', transport: 'tls', pki });
    closers.push(() => origin.close());

    const proxies = [`h2://localhost:${h2proxy.port}`, `socks5hs://localhost:${socks.port}`];
    const base = `https://localhost:${origin.port}`;
    const route = describeRoute(proxies.map((p) => parseProxyUrl(p)), new URL(base));
    recorder.route = route;
    const layers: LayerEvent[] = [];
    recorder.onLayers = (events) => layers.push(...events);
    const init: RequestInit = {
      via: proxies.map((url) => ({ url, tls: { ca: pki.ca } })),
      tls: { ca: pki.ca },
      pool: recorder.pool,
      events: recorder.events,
    };

    say('burrow demo: a request and a 100 MB download through a proxy chain, all on loopback,');
    say('with a throwaway CA: every certificate on the way is verified.');
    say();
    say('the chain (request(url, { via: [...] })):');
    for (const h of route) say(`  hop ${h.index}  ${roleOf(h).padEnd(31)} ${h.url}${h.kind !== 'origin' && h.transport === 'tls' ? '  (over TLS)' : ''}`);
    say();

    const t1 = recorder.now();
    const res = await request(`${base}/`, { ...init, headers: { accept: 'text/plain' } });
    const text = await res.text();
    const t1ms = recorder.now() - t1;

    const tlsLayers = layers.filter((e) => e.event === 'tls').length;
    say(`layers, each inside the one above it (time by which each was up, from the start):`);
    for (const l of picture(layers, route)) say(`  ${l}`);
    say();
    say(`TLS depth ${tlsLayers}: the origin's TLS runs inside the SOCKS5 server's TLS, inside a stream of`);
    say(`the HTTP/2 proxy's TLS connection. One TCP connection carries it all.`);
    say();
    say(`GET /            -> ${res.status} ${JSON.stringify(text)} in ${t1ms.toFixed(1)} ms (${res.info.reused ? 'a reused' : 'a new'} route, HTTP/${res.version})`);

    const t2 = recorder.now();
    const dl = await request(`${base}/bytes/${DOWNLOAD_BYTES}`, init);
    const check = new PatternCheck();
    for await (const chunk of dl.body) check.add(chunk);
    const secs = (recorder.now() - t2) / 1000;
    const received = check.offset;
    say(`GET /bytes/${DOWNLOAD_BYTES} -> ${dl.status}, ${received} bytes in ${secs.toFixed(2)} s = ${(received / secs / 1e6).toFixed(0)} MB/s (${(received * 8 / secs / 1e9).toFixed(2)} Gbit/s), ${dl.info.reused ? 'on the same connection (HTTP/2 multiplexing inside the tunnel)' : 'on a new connection'}`);
    if (received !== DOWNLOAD_BYTES) throw new Error(`expected ${DOWNLOAD_BYTES} bytes, got ${received}`);
    if (check.firstMismatch !== undefined) throw new Error(`byte ${check.firstMismatch} is not ${check.firstMismatch % MOD} (byte i must be i % 251)`);
    const digest = check.digest();
    const expected = expectedDigest(DOWNLOAD_BYTES);
    if (digest !== expected) throw new Error(`sha256 ${digest} differs from the expected ${expected}`);
    say(`verified: byte i = i % 251 for every byte; sha256 ${digest.slice(0, 16)}… as expected`);
    return 0;
  } finally {
    await recorder.pool.close();
    for (const close of closers.reverse()) await close();
  }
}
