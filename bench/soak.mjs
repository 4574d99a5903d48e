#!/usr/bin/env node
// `npm run soak`: minutes of load, outside CI's budget. Two parts:
//
//   restart   1 000 concurrent requests through one HTTP/2 proxy (real nghttpx, squid behind it, nginx over
//             TLS with HTTP/2 as the origin; the peers of test/peers/harness.ts, so: root and the Debian packages), the proxy killed
//             when 300 have completed and started again at once; then 1 000 more. Every request must end
//             (success or a typed BurrowError) within the bound; the second wave must all succeed; nginx's
//             access log says how many times each request reached the origin.
//   churn     a steady load of tunnels opened and closed (default 100/s) over a 3-hop chain (an h2c proxy,
//             then two HTTP/1.1 CONNECT proxies, then an HTTP/1.1 origin; burrow's test servers in another
//             process), one request in each, for --minutes (default 10). RSS, heap and active handles are
//             sampled every 5 s; the slope (least squares, after the first minute) is reported.
//
// Usage: node bench/soak.mjs [--part restart|churn|all] [--minutes 10] [--rate 100] [--no-docs]
// Needs `npm run build` (dist/) and `npx tsc -p tsconfig.json` (.build/, for the peer harness).
import { fork } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as net from 'node:net';
import { writeSection } from './lib/docs.mjs';

const { values: args } = parseArgs({
  options: { part: { type: 'string', default: 'all' }, minutes: { type: 'string', default: '10' }, rate: { type: 'string', default: '100' }, 'no-docs': { type: 'boolean', default: false } },
});
const dist = new URL('../dist/index.js', import.meta.url);
const burrow = await import(dist.href);
const started = new Date();
const sections = [];

function waitAccepting(port, attempts = 200) {
  return new Promise((resolve, reject) => {
    let n = 0;
    const tryOnce = () => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (++n >= attempts) reject(new Error(`nothing accepts on ${port}`));
        else setTimeout(tryOnce, 50);
      });
    };
    tryOnce();
  });
}

async function restartPart() {
  const { startPeers } = await import(new URL('../.build/test/peers/harness.js', import.meta.url).href);
  const peers = await startPeers();
  const dir = peers.dir;
  let replacement;
  try {
    const pool = new burrow.Pool();
    const tls = { ca: peers.ca };
    const via = [{ url: `h2://127.0.0.1:${peers.ports.nghttpxTls}`, tls }];
    const url = (wave, i) => `https://127.0.0.1:${peers.ports.nginxTls}/small?wave=${wave}&id=${i}`;
    const BOUND = 60_000;
    const wave = async (w, n, onDone) => {
      const outcomes = await Promise.all(
        Array.from({ length: n }, async (_, i) => {
          const t0 = performance.now();
          try {
            const res = await request(url(w, i));
            await res.text();
            onDone?.();
            return { ok: res.status === 200, ms: performance.now() - t0 };
          } catch (e) {
            onDone?.();
            return { ok: false, code: e instanceof burrow.BurrowError ? e.code : `untyped ${e?.constructor?.name}: ${e?.message}`, hop: e?.hop?.index, stage: e?.stage, ms: performance.now() - t0 };
          }
        }),
      );
      return outcomes;
    };
    const request = (u) => burrow.request(u, { via, tls, pool, timeouts: { total: BOUND } });
    // Wave 1: the proxy is killed after 300 responses and started again at once.
    let done = 0;
    let killedAt;
    const pidFile = join(dir, 'nghttpx', 'nghttpx.pid');
    const kill = async () => {
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      // The master and its worker (which holds the listening socket and the connections).
      spawnSync('pkill', ['-KILL', '-P', String(pid)]);
      process.kill(pid, 'SIGKILL');
      killedAt = performance.now();
      // nghttpx's worker may outlive its master for a moment: wait until the port is free, then start it again.
      for (let i = 0; i < 100; i++) {
        const free = await new Promise((r) => {
          const s = net.connect(peers.ports.nghttpxTls, '127.0.0.1');
          s.once('connect', () => (s.destroy(), r(false)));
          s.once('error', () => (s.destroy(), r(true)));
        });
        if (free) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      replacement = spawn('nghttpx', [`--conf=${join(dir, 'nghttpx', 'nghttpx.conf')}`], { stdio: 'ignore' });
      await waitAccepting(peers.ports.nghttpxTls);
    };
    let killing;
    const t0 = performance.now();
    const w1 = await wave(1, 1000, () => {
      if (++done === 300) killing = kill();
    });
    await killing;
    const w1ms = performance.now() - t0;
    const restartMs = performance.now() - killedAt;
    const t1 = performance.now();
    const w2 = await wave(2, 1000);
    const w2ms = performance.now() - t1;
    await pool.close();
    const log = readFileSync(join(dir, 'nginx', 'access.log'), 'utf8');
    const seen = (w) => {
      const counts = new Map();
      for (const m of log.matchAll(new RegExp(`/small\\?wave=${w}&id=(\\d+)`, 'g'))) counts.set(m[1], (counts.get(m[1]) ?? 0) + 1);
      return counts;
    };
    const summary = (w, outcomes) => {
      const byCode = {};
      for (const o of outcomes) if (!o.ok) byCode[`${o.code} (stage ${o.stage}, hop ${o.hop})`] = (byCode[`${o.code} (stage ${o.stage}, hop ${o.hop})`] ?? 0) + 1;
      const counts = seen(w);
      const twice = [...counts.values()].filter((c) => c > 1).length;
      return { ok: outcomes.filter((o) => o.ok).length, failed: outcomes.length - outcomes.filter((o) => o.ok).length, byCode, reached: counts.size, twice, slowest: Math.max(...outcomes.map((o) => o.ms)), untyped: outcomes.filter((o) => String(o.code).startsWith('untyped')).length };
    };
    const s1 = summary(1, w1);
    const s2 = summary(2, w2);
    const row = (name, s, ms) => `| ${name} | ${s.ok} | ${s.failed} | ${Object.entries(s.byCode).map(([k, v]) => `${v} × ${k}`).join('; ') || '—'} | ${s.untyped} | ${s.reached} | ${s.twice} | ${(s.slowest / 1000).toFixed(1)} s | ${(ms / 1000).toFixed(1)} s |`;
    const text = [
      `### Proxy killed and restarted under 1 000 concurrent requests`,
      '',
      `${peers.versions.nghttpx ?? 'nghttpx'} (HTTP/2 CONNECT over TLS, squid behind it) → nginx over TLS with HTTP/2 (the requests multiplexed in the tunnels the pool opens), \`GET /small\`, one \`Pool\`. The proxy was SIGKILLed when 300 responses of wave 1 had arrived and started again; it accepted again after ${(restartMs / 1000).toFixed(2)} s. Every request is bounded by a 60 s total timeout.`,
      '',
      '| wave | succeeded | failed | failures | untyped errors | ids that reached nginx | ids that reached it twice | slowest request | wave time |',
      '|---|---:|---:|---|---:|---:|---:|---:|---:|',
      row('1 (proxy killed)', s1, w1ms),
      row('2 (after the restart)', s2, w2ms),
    ].join('\n');
    console.log(text);
    sections.push(text);
    if (s1.untyped + s2.untyped > 0 || s2.failed > 0 || s1.ok + s1.failed !== 1000) process.exitCode = 1;
  } finally {
    replacement?.kill('SIGKILL');
    await peers.stop();
  }
}

function slope(points) {
  // Least squares of y over x (minutes): units of y per minute.
  const n = points.length;
  if (n < 2) return NaN;
  const mx = points.reduce((a, p) => a + p[0], 0) / n;
  const my = points.reduce((a, p) => a + p[1], 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return num / den;
}

async function churnPart() {
  const minutes = Number(args.minutes);
  const rate = Number(args.rate);
  const far = fork(new URL('./lib/soak-server.mjs', import.meta.url), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ports = await new Promise((resolve, reject) => {
    far.once('message', (m) => resolve(m.ports));
    far.once('exit', (c) => reject(new Error(`the soak server exited (${c})`)));
  });
  try {
    const conn = burrow.open({ host: '127.0.0.1', port: ports.h2c, transport: 'tcp', protocols: ['http2'], retry: 0 });
    await conn.awaitUp(10_000);
    const connect = async (dest, tunnel) => {
      const ref = conn.connect(dest, undefined, tunnel ? { tunnel } : undefined);
      const r = await conn.await(ref, 10_000);
      if (r.type !== 'response' || r.status !== 200) throw new Error(`CONNECT: ${r.type} ${r.status ?? r.error?.message}`);
      const up = await conn.await(ref, 10_000);
      if (up.type !== 'up') throw new Error(`CONNECT: ${up.type}`);
      return ref;
    };
    const one = async () => {
      const t1 = await connect({ host: '127.0.0.1', port: ports.p2, protocols: ['http'] });
      const t2 = await connect({ host: '127.0.0.1', port: ports.p3, protocols: ['http'] }, t1);
      const t3 = await connect({ host: '127.0.0.1', port: ports.origin, protocols: ['http'] }, t2);
      const ref = conn.get('/', undefined, { tunnel: t3 });
      const res = await conn.await(ref, 10_000);
      if (res.type !== 'response' || res.status !== 200) throw new Error(`GET: ${res.type}`);
      const body = await conn.awaitBody(ref, 10_000);
      if (body.body.toString() !== 'hello') throw new Error('bad body');
      conn.cancel(t1); // closes the whole tunnel (its CONNECT stream) and what runs in it
    };
    const samples = [];
    const endAt = performance.now() + minutes * 60_000;
    const t0 = performance.now();
    let ok = 0;
    let failed = 0;
    let firstError;
    let inflight = 0;
    const sample = () => {
      const m = process.memoryUsage();
      samples.push({ min: (performance.now() - t0) / 60_000, rss: m.rss / 2 ** 20, heap: m.heapUsed / 2 ** 20, handles: process.getActiveResourcesInfo().length, ok, failed, inflight });
      const s = samples[samples.length - 1];
      process.stderr.write(`  ${s.min.toFixed(1)} min: ${ok} tunnels, ${failed} failed, rss ${s.rss.toFixed(1)} MiB, heap ${s.heap.toFixed(1)} MiB, handles ${s.handles}, in flight ${inflight}\n`);
    };
    const timer = setInterval(sample, 5000);
    // Open `rate` tunnels per second, spread evenly, with a bound on those in flight.
    await new Promise((resolve) => {
      const tick = setInterval(() => {
        if (performance.now() >= endAt) {
          clearInterval(tick);
          const wait = setInterval(() => {
            if (inflight === 0) {
              clearInterval(wait);
              resolve();
            }
          }, 50);
          return;
        }
        for (let k = 0; k < rate / 20; k++) {
          if (inflight >= rate) break;
          inflight++;
          one().then(
            () => ok++,
            (e) => {
              failed++;
              firstError ??= String(e?.message ?? e);
            },
          ).finally(() => inflight--);
        }
      }, 50);
    });
    clearInterval(timer);
    sample();
    await conn.close();
    const steady = samples.filter((s) => s.min >= 1);
    const rssSlope = slope(steady.map((s) => [s.min, s.rss]));
    const heapSlope = slope(steady.map((s) => [s.min, s.heap]));
    const handleSlope = slope(steady.map((s) => [s.min, s.handles]));
    const last = samples[samples.length - 1];
    const text = [
      `### Tunnel churn over a 3-hop chain for ${minutes} minutes`,
      '',
      `One HTTP/2 connection to an h2c proxy; each tunnel: CONNECT over it, then two HTTP/1.1 CONNECTs inside, then \`GET /\` at the origin, then the tunnel cancelled (burrow's test servers, in another process). Target rate ${rate} tunnels/s, at most ${rate} in flight.`,
      '',
      '| tunnels completed | failed | achieved rate | RSS first → last (MiB) | RSS slope after 1 min (MiB/min) | heap slope (MiB/min) | active handles first → last | handle slope (/min) |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|',
      `| ${ok} | ${failed}${firstError ? ` (first: ${firstError})` : ''} | ${(ok / (minutes * 60)).toFixed(0)}/s | ${samples[0]?.rss.toFixed(1)} → ${last.rss.toFixed(1)} | ${rssSlope.toFixed(3)} | ${heapSlope.toFixed(3)} | ${samples[0]?.handles} → ${last.handles} | ${handleSlope.toFixed(3)} |`,
    ].join('\n');
    console.log(text);
    sections.push(text);
    if (failed > 0) process.exitCode = 1;
  } finally {
    far.send({ type: 'exit' });
  }
}

if (args.part === 'restart' || args.part === 'all') {
  if (!existsSync(new URL('../.build/test/peers/harness.js', import.meta.url))) throw new Error('run `npx tsc -p tsconfig.json` first (the peer harness)');
  await restartPart();
}
if (args.part === 'churn' || args.part === 'all') await churnPart();
if (!args['no-docs']) {
  writeSection(
    `soak-${args.part}`,
    `## Soak (\`node bench/soak.mjs --part ${args.part} --minutes ${args.minutes} --rate ${args.rate}\`, ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC, Node ${process.version})\n\n${sections.join('\n\n')}\n`,
    new URL('../docs/reliability.md', import.meta.url),
  );
}
