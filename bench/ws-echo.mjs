#!/usr/bin/env node
// WebSocket echo: one WebSocket per client process, binary messages echoed by a
// `ws` server (the npm package, permessage-deflate off, no native add-ons) in
// another process; burrow against the `ws` client and Node's global WebSocket
// (undici's), all in the same run.
//
//   sizes   small  100-byte messages: messages/s (and client CPU µs per message)
//           big    64 KiB messages: client CPU s per GiB echoed (and MB/s)
//   paths   direct  ws://127.0.0.1 (no proxy)
//           squid   through squid's https_port (an https:// proxy: TLS to the proxy, HTTP/1.1 CONNECT)
//           h2      through nghttpx --http2-proxy (an h2:// proxy: TLS, HTTP/2 CONNECT; burrow only,
//                   neither peer can use an HTTP/2 proxy)
//
// Each client keeps --window-small / --window-big messages in flight (an echo
// received sends the next), so the client, not round trips, is measured. Every
// run is a fresh process (lib/ws-client.mjs): open, warm up for --warmup ms,
// count the messages sent and echoed in a --duration ms phase. --runs rounds,
// clients interleaved (A B C A B C ...); medians. Client CPU is process.cpuUsage()
// of the client process over the counted phase; the far side (echo server,
// squid, nghttpx: lib/ws-far.mjs) is measured apart, pinned to the other core.
// Rows ending @node24 run under Node 24 (its global WebSocket is stable there; on
// Node 20 it needs --experimental-websocket, which the bench passes).
//
// Usage: node ws-echo.mjs [--quick] [--runs 5] [--duration 2000] [--warmup 1000] [--no-docs] [--profile]
//          [--paths direct,squid,h2] [--sizes small,big] [--clients burrow,burrow-low,ws,global,...]
//          [--window-small 128] [--window-big 16]
import { execFileSync, fork } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { formatSummary, summarize } from './lib/cpuprofile.mjs';
import { writeSection } from './lib/docs.mjs';
import { cpuTimes, machineInfo, packageVersion } from './lib/machine.mjs';
import { PEER_NODE_VERSION, clientVariant, nodeBinary } from './lib/node-versions.mjs';
import { pinChild, pinning, trackChild } from './lib/runner.mjs';
import { fmtFixed, fmtInt, max, median, min } from './lib/stats.mjs';
import { BUILD_DIR, GiB, Noise, commandLine, parseCommon } from './lib/tunnel-bench.mjs';
import { startWsFarSide } from './lib/ws-far.mjs';

const NAME = 'ws-echo';
const usage = readFileSync(new URL(import.meta.url), 'utf8').split('\n').filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n');
const args = parseCommon(
  { duration: { type: 'string' }, warmup: { type: 'string' }, clients: { type: 'string' }, paths: { type: 'string' }, sizes: { type: 'string' }, 'window-small': { type: 'string' }, 'window-big': { type: 'string' } },
  usage,
);
const QUICK = args.quick;
const RUNS = Math.max(1, Math.min(20, Number(args.runs ?? (QUICK ? 1 : 5))));
const DURATION = Math.max(200, Math.min(30_000, Number(args.duration ?? (QUICK ? 500 : 2000))));
const WARMUP = Math.max(0, Math.min(30_000, Number(args.warmup ?? (QUICK ? 300 : 1000))));
const SIZES = {
  small: { bytes: 100, inflight: Math.max(1, Number(args['window-small'] ?? 128)), title: '100-byte messages' },
  big: { bytes: 64 * 1024, inflight: Math.max(1, Number(args['window-big'] ?? 16)), title: '64 KiB messages' },
};
const PATHS = {
  direct: 'no proxy (ws://127.0.0.1)',
  squid: 'squid `https_port` (https:// proxy, HTTP/1.1 CONNECT over TLS) → ws://',
  h2: 'nghttpx `--http2-proxy` (h2:// proxy, HTTP/2 CONNECT over TLS; squid behind it) → ws://',
};

const LABELS = {
  burrow: 'burrow `WebSocket` (`message` events, `binaryType = \'nodebuffer\'`)',
  'burrow-iter': 'burrow `WebSocket`, async iterator (`for await`)',
  'burrow-low': 'burrow low-level (`wsUpgrade` with `replyTo`, `wsSend`)',
  ws: '`ws` (`message` events; no bufferutil/utf-8-validate)',
  global: 'Node\'s global `WebSocket` (undici; `binaryType = \'arraybuffer\'`)',
};
const label = (c) => {
  const [base, variant] = c.split('@');
  const l = LABELS[base] ?? base;
  if (variant === 'node24') return `${l}, Node ${PEER_NODE_VERSION}`;
  if (variant === 'base') return `${l}, baseline build (BENCH_BASELINE_DIST)`;
  return variant ? `${l} @${variant}` : l;
};
const isBurrow = (c) => c.startsWith('burrow');
const PEERS = ['ws', 'global'];
const nodeOf = (c) => (c.endsWith('@node24') ? 'node24' : 'node20');
/** Clients that cannot take a path, with the reason (reported as n/a). */
function notApplicable(c, p) {
  const base = c.split('@')[0];
  if (p === 'h2' && base === 'ws') return '`ws` has no HTTP/2 CONNECT (its `agent`/`createConnection` take a socket from an HTTP/1.1 world; an HTTP/2 stream would need a hand-written adapter, not the library)';
  if (p === 'h2' && base === 'global') return "undici's `ProxyAgent` speaks HTTP/1.1 CONNECT only (forcing h2 to the proxy fails: docs/benchmarks.md, peer notes)";
  return undefined;
}

const CLIENTS = args.clients?.split(',').map((x) => x.trim()).filter(Boolean) ?? ['burrow', 'burrow-low', 'ws', 'global', 'burrow@node24', 'burrow-low@node24', 'ws@node24', 'global@node24'];
const PATH_LIST = args.paths?.split(',').map((x) => x.trim()).filter(Boolean) ?? Object.keys(PATHS);
const SIZE_LIST = args.sizes?.split(',').map((x) => x.trim()).filter(Boolean) ?? Object.keys(SIZES);

// The peers run without ws's native add-ons: they must not be installed.
{
  const require = createRequire(new URL('./package.json', import.meta.url));
  for (const m of ['bufferutil', 'utf-8-validate']) {
    let found = false;
    try {
      require.resolve(m);
      found = true;
    } catch {
      // not installed: as wanted
    }
    if (found) {
      console.error(`ws-echo: ${m} is installed in bench/node_modules; remove it (the ws rows are measured without native add-ons)`);
      process.exit(2);
    }
  }
}

/**
 * One client run in its own process, pinned to CPU 0; the far side's CPU and the
 * machine's busy time are read at the counted phase's edges. Redoes a run during
 * which the rest of the machine was busy (at most 3 tries).
 */
async function runWsClient(far, name, cfg, noise, { execArgv = [], redo = true } = {}) {
  const v = clientVariant(name);
  // Node 20's global WebSocket is behind a flag (Node 22 and later have it on by default).
  const flags = v.client === 'global' && !v.fork.execPath ? ['--experimental-websocket'] : [];
  const timeoutMs = WARMUP + DURATION + 60_000;
  for (let attempt = 1; ; attempt++) {
    await noise.wait();
    const r = await new Promise((resolve) => {
      const child = trackChild(
        fork(new URL('./lib/ws-client.mjs', import.meta.url), [JSON.stringify({ ...cfg, client: v.client, ports: far.ports, ca: far.ca, watchdogMs: timeoutMs - 5000 })], {
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
          execArgv: [...flags, ...execArgv],
          ...v.fork,
          env: { ...(v.fork.env ?? process.env), WS_NO_BUFFER_UTIL: '1', WS_NO_UTF_8_VALIDATE: '1' },
        }),
      );
      pinChild(child, 0);
      let result;
      let s0;
      let m0;
      let t0;
      const edges = {};
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve({ fatal: `overran ${timeoutMs} ms, killed` });
      }, timeoutMs);
      child.on('message', async (m) => {
        if (m?.type === 'window' && m.edge === 'start') {
          s0 = await far.stats();
          m0 = cpuTimes();
          t0 = process.hrtime.bigint();
          child.send({ type: 'go' });
        } else if (m?.type === 'window' && m.edge === 'end') {
          const m1 = cpuTimes();
          const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
          const s1 = await far.stats();
          edges.farUs = s1.cpuUs - s0.cpuUs;
          edges.echoUs = s1.echoUs - s0.echoUs;
          edges.serverMessages = s1.messages - s0.messages;
          edges.busyCores = m0 && m1 ? (m1.busy - m0.busy + (m1.steal - m0.steal)) / 100 / wallS : NaN;
          edges.wallS = wallS;
          child.send({ type: 'go' });
        } else if (m?.type === 'result') result = m;
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        resolve(result ? { ...result, ...edges } : { fatal: `exited without a result (code ${code}, signal ${signal})` });
      });
    });
    if (r.fatal) return r;
    r.restCores = r.busyCores - r.cpuUs / 1e6 / r.wallS - r.farUs / 1e6 / r.wallS;
    if (!redo || noise.quick || !(r.restCores > noise.maxRest) || attempt >= 3) {
      if (r.restCores > noise.maxRest) noise.kept++;
      noise.rests.push(r.restCores);
      return r;
    }
    noise.redone++;
    process.stderr.write(`    (disturbed: rest ${fmtFixed(r.restCores, 2)} cores, redone)\n`);
  }
}

const far = await startWsFarSide({ proxies: PATH_LIST.some((p) => p !== 'direct') });
for (const [k, why] of Object.entries(far.missing)) process.stderr.write(`ws-echo: ${k}: ${why}\n`);
const pathMissing = (p) => (p === 'squid' ? far.missing.squid : p === 'h2' ? far.missing.nghttpx : undefined);

const noise = new Noise({ quick: QUICK, maxRest: Number(args['max-rest']) });
const started = new Date();
/** res[path][size][client] = runs */
const res = {};
try {
  if (args.profile) {
    const dir = new URL('./profiles/', BUILD_DIR);
    mkdirSync(dir, { recursive: true });
    const texts = [];
    for (const p of PATH_LIST) {
      if (pathMissing(p)) continue;
      for (const s of SIZE_LIST) {
        for (const c of CLIENTS) {
          if (notApplicable(c, p)) continue;
          const prefix = `ws-${p}-${s}-${c.replace('@', '-')}-${Date.now()}`;
          const r = await runWsClient(far, c, { path: p, size: SIZES[s].bytes, inflight: SIZES[s].inflight, warmupMs: WARMUP, durationMs: DURATION }, new Noise({ quick: true }), {
            execArgv: ['--cpu-prof', '--cpu-prof-dir', dir.pathname, '--cpu-prof-name', `${prefix}.cpuprofile`],
            redo: false,
          });
          if (r.fatal) {
            texts.push(`#### ${p} / ${s} / ${label(c)}\n\nFAILED ${r.fatal.split('\n')[0]}`);
            continue;
          }
          const text = formatSummary(summarize(JSON.parse(readFileSync(new URL(`${prefix}.cpuprofile`, dir), 'utf8'))), 15);
          console.log(`\n=== ${p} / ${s} / ${c} (${new URL(`${prefix}.cpuprofile`, dir).pathname})\n${text}`);
          writeFileSync(new URL(`${prefix}.txt`, dir), `${text}\n`);
          texts.push(`#### ${p} / ${s} / ${label(c)}\n\n\`\`\`\n${text}\n\`\`\``);
        }
      }
    }
    if (args.docs) {
      writeSection(
        `${NAME}-profile`,
        `### CPU profiles of the WebSocket echo (\`node bench/${NAME}.mjs --profile --docs\`, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC)\n\n` +
          `One run per client (${WARMUP} ms warm-up + ${DURATION} ms) under \`--cpu-prof\`; self time by function, burrow's mapped to \`src/*.ts\`.\n\n${texts.join('\n\n')}\n`,
      );
    }
  } else {
    for (const p of PATH_LIST) {
      res[p] = {};
      if (pathMissing(p)) continue;
      for (const s of SIZE_LIST) {
        const list = CLIENTS.filter((c) => !notApplicable(c, p));
        res[p][s] = Object.fromEntries(list.map((c) => [c, []]));
        process.stderr.write(`${p} / ${s}: ${RUNS} rounds of ${list.join(', ')} (${WARMUP} ms warm-up + ${DURATION} ms, ${SIZES[s].inflight} in flight)\n`);
        for (let round = 0; round < RUNS; round++) {
          for (const c of list) {
            const r = await runWsClient(far, c, { path: p, size: SIZES[s].bytes, inflight: SIZES[s].inflight, warmupMs: WARMUP, durationMs: DURATION }, noise);
            const run = r.fatal
              ? { failed: true, fatal: r.fatal }
              : {
                  rate: (r.messages / r.elapsedMs) * 1000,
                  mbps: r.bytes / r.elapsedMs / 1000,
                  cpuUsPerMsg: r.cpuUs / r.messages,
                  cpuPerGiB: r.cpuUs / 1e6 / (r.bytes / GiB),
                  farUsPerMsg: r.farUs / r.messages,
                  farPerGiB: r.farUs / 1e6 / (r.bytes / GiB),
                  errors: r.errors + (r.warmErrors ?? 0),
                  firstError: r.firstError,
                  lost: r.serverMessages - r.messages,
                };
            res[p][s][c].push(run);
            process.stderr.write(
              `  ${c.padEnd(16)} round ${round + 1}: ${run.failed ? `FAILED ${run.fatal.split('\n')[0]}` : `${fmtInt(run.rate)} msg/s  ${fmtFixed(run.mbps, 0)} MB/s  ${fmtFixed(run.cpuUsPerMsg, 2)} µs/msg  ${fmtFixed(run.cpuPerGiB, 2)} s/GiB  far ${fmtFixed(run.farUsPerMsg, 2)} µs/msg${run.errors ? `  ${run.errors} errors (${run.firstError})` : ''}`}\n`,
            );
          }
        }
      }
    }
  }
} finally {
  await far.close();
}
if (args.profile) process.exit(0);
const finished = new Date();

// ------------------------------------------------------------------ tables

const agg = (runs) => {
  const ok = runs.filter((r) => !r.failed);
  const col = (k) => ok.map((r) => r[k]);
  return {
    n: ok.length,
    failed: runs.length - ok.length,
    fatal: runs.find((r) => r.failed)?.fatal,
    errors: ok.reduce((a, r) => a + (r.errors ?? 0), 0),
    firstError: ok.find((r) => r.errors)?.firstError,
    rate: median(col('rate')),
    rateMin: min(col('rate')),
    rateMax: max(col('rate')),
    mbps: median(col('mbps')),
    cpuMsg: median(col('cpuUsPerMsg')),
    cpuMsgMin: min(col('cpuUsPerMsg')),
    cpuMsgMax: max(col('cpuUsPerMsg')),
    cpuGiB: median(col('cpuPerGiB')),
    cpuGiBMin: min(col('cpuPerGiB')),
    cpuGiBMax: max(col('cpuPerGiB')),
    farMsg: median(col('farUsPerMsg')),
    farGiB: median(col('farPerGiB')),
  };
};
const A = {};
for (const p of Object.keys(res)) {
  A[p] = {};
  for (const s of Object.keys(res[p])) {
    A[p][s] = {};
    for (const c of Object.keys(res[p][s])) A[p][s][c] = agg(res[p][s][c]);
  }
}
/** The best peer of a row (same path, size and Node): highest messages/s (small) or lowest CPU/GiB (big). */
function bestPeer(p, s, c) {
  const node = nodeOf(c);
  const peers = Object.entries(A[p]?.[s] ?? {}).filter(([name, a]) => PEERS.includes(name.split('@')[0]) && nodeOf(name) === node && a.n > 0);
  if (peers.length === 0) return undefined;
  peers.sort((x, y) => (s === 'small' ? y[1].rate - x[1].rate : x[1].cpuGiB - y[1].cpuGiB));
  return { name: peers[0][0], ...peers[0][1] };
}
let bad = false;
const sections = [];
for (const s of SIZE_LIST) {
  const small = s === 'small';
  const lines = [
    small
      ? '| path | client | messages/s median (min–max) | × best peer | client CPU µs/message median (min–max) | CPU: best peer ÷ this | far side CPU µs/message |'
      : '| path | client | client CPU s/GiB median (min–max) | CPU: best peer ÷ this | MB/s echoed median | × best peer | far side CPU s/GiB |',
    '|---|---|---:|---:|---:|---:|---:|',
  ];
  for (const p of PATH_LIST) {
    if (pathMissing(p)) {
      lines.push(`| ${p} | all | n/a: ${pathMissing(p)} | | | | |`);
      continue;
    }
    for (const c of CLIENTS) {
      const na = notApplicable(c, p);
      if (na) {
        lines.push(`| ${p} | ${label(c)} | n/a | | | | |`);
        continue;
      }
      const a = A[p][s]?.[c];
      if (!a) continue;
      if (a.failed || a.errors) bad = true;
      const b = isBurrow(c) ? '**' : '';
      if (a.n === 0) {
        lines.push(`| ${p} | ${b}${label(c)}${b} | failed: ${String(a.fatal).split('\n')[0].slice(0, 160)} | | | | |`);
        continue;
      }
      const best = bestPeer(p, s, c);
      const errs = a.errors ? ` (${a.errors} errors: ${a.firstError})` : '';
      if (small) {
        lines.push(
          `| ${p} | ${b}${label(c)}${b} | ${b}${fmtInt(a.rate)}${b} (${fmtInt(a.rateMin)}–${fmtInt(a.rateMax)})${errs} | ${fmtFixed(a.rate / best?.rate, 2)} | ` +
            `${fmtFixed(a.cpuMsg, 2)} (${fmtFixed(a.cpuMsgMin, 2)}–${fmtFixed(a.cpuMsgMax, 2)}) | ${fmtFixed(best?.cpuMsg / a.cpuMsg, 2)} | ${fmtFixed(a.farMsg, 2)} |`,
        );
      } else {
        lines.push(
          `| ${p} | ${b}${label(c)}${b} | ${b}${fmtFixed(a.cpuGiB, 2)}${b} (${fmtFixed(a.cpuGiBMin, 2)}–${fmtFixed(a.cpuGiBMax, 2)})${errs} | ${fmtFixed(best?.cpuGiB / a.cpuGiB, 2)} | ` +
            `${fmtFixed(a.mbps, 0)} | ${fmtFixed(a.mbps / best?.mbps, 2)} | ${fmtFixed(a.farGiB, 2)} |`,
        );
      }
    }
  }
  sections.push(`### ${SIZES[s].title} (${SIZES[s].inflight} in flight)\n\n${lines.join('\n')}`);
}

// Targets: burrow ≥ 1.0× the best peer (messages/s for 100 B, CPU per GiB for 64 KiB), on every path a peer takes;
// burrow through the HTTP/2 CONNECT proxy within 1.2× of its own direct figure.
const tgt = ['| target | burrow client | value | limit | |', '|---|---|---:|---:|---|'];
const check = (what, c, value, limit, higherIsBetter) => {
  if (!Number.isFinite(value)) return;
  const ok = higherIsBetter ? value >= limit : value <= limit;
  tgt.push(`| ${what} | ${label(c)} | ${fmtFixed(value, 2)}× | ${higherIsBetter ? '≥' : '≤'} ${fmtFixed(limit, 1)}× | ${ok ? 'met' : '**missed**'} |`);
};
for (const p of PATH_LIST.filter((x) => x !== 'h2' && !pathMissing(x))) {
  for (const c of CLIENTS.filter(isBurrow)) {
    const sm = A[p].small?.[c];
    const bs = bestPeer(p, 'small', c);
    if (sm?.n && bs) check(`${p}, 100 B: messages/s ÷ best peer's (${bs.name})`, c, sm.rate / bs.rate, 1.0, true);
    const bg = A[p].big?.[c];
    const bb = bestPeer(p, 'big', c);
    if (bg?.n && bb) check(`${p}, 64 KiB: best peer's (${bb.name}) CPU/GiB ÷ burrow's`, c, bb.cpuGiB / bg.cpuGiB, 1.0, true);
  }
}
if (A.h2 && A.direct && !pathMissing('h2')) {
  for (const c of CLIENTS.filter(isBurrow)) {
    const d = A.direct.small?.[c];
    const h = A.h2.small?.[c];
    if (d?.n && h?.n) check('h2 proxy, 100 B: direct messages/s ÷ h2 messages/s', c, d.rate / h.rate, 1.2, false);
    const dg = A.direct.big?.[c];
    const hg = A.h2.big?.[c];
    if (dg?.n && hg?.n) check('h2 proxy, 64 KiB: h2 CPU/GiB ÷ direct CPU/GiB', c, hg.cpuGiB / dg.cpuGiB, 1.2, false);
  }
}
const text = `${sections.join('\n\n')}\n\n**Targets** (medians of this run):\n\n${tgt.join('\n')}`;
console.log(`\n${text}\n\n${noise.describe()}`);

if (args.writeDocs) {
  const m = machineInfo();
  const burrowVersion = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;
  let node24 = '';
  if (CLIENTS.some((c) => c.endsWith('@node24'))) {
    const undici24 = execFileSync(nodeBinary(), ['-p', 'process.versions.undici'], { encoding: 'utf8' }).trim();
    node24 = ` Node ${PEER_NODE_VERSION} (its global WebSocket: undici ${undici24}).`;
  }
  writeSection(
    NAME,
    `## WebSocket echo: messages/s and client CPU per GiB, burrow vs \`ws\` and Node's global WebSocket

Produced by \`${commandLine(`${NAME}.mjs`)}\` on ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC (${Math.round((finished - started) / 1000)} s). Script: \`bench/${NAME}.mjs\`.

Machine: ${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB; ${m.os}; Node ${m.node} (OpenSSL ${m.openssl}; its global WebSocket: undici ${process.versions.undici}, behind \`--experimental-websocket\`);${node24}
burrow ${burrowVersion} from \`dist/\`; ws ${packageVersion('ws')} (client and echo server; \`WS_NO_BUFFER_UTIL=1\`, \`WS_NO_UTF_8_VALIDATE=1\`, bufferutil and utf-8-validate not installed); undici ${packageVersion('undici')} (\`ProxyAgent\` for the global WebSocket through squid); ${far.versions.squid ?? 'squid: not run'}; ${far.versions.nghttpx ?? 'nghttpx: not run'}.
${RUNS} counted runs per client (${WARMUP} ms warm-up + ${DURATION} ms counted phase each), interleaved.

**Noise.** ${pinning ? 'The client process is pinned to CPU 0 and the far side (echo server, squid, nghttpx) to CPU 1 (`taskset -a`).' : 'Nothing pinned.'} ${noise.describe()}

${text}

- "best peer": of \`ws\` and the global WebSocket, on the same path and the same Node, the one with the most messages/s (100 B)
  or the least client CPU per GiB (64 KiB). Ratios above 1 favour burrow in every "×" column.
- The echo server is a \`ws\` \`WebSocketServer\` (\`perMessageDeflate: false\`) in its own process; it sends each
  binary message back as it came. No client offers permessage-deflate (burrow: \`perMessageDeflate: false\`; \`ws\`:
  \`perMessageDeflate: false\`; undici offers it, the server declines). Messages are binary; every echo's length is
  checked and one echo in 256 is compared byte for byte.
- A counted phase keeps the window full until its deadline, then waits for the messages in flight: every message
  counted was sent and echoed inside it. Client CPU = \`process.cpuUsage()\` (all threads) of the client process over
  the phase; "per GiB" is per GiB echoed (each byte sent once and received once). Far side = echo server + squid +
  nghttpx, read at the phase's edges.
- Paths: squid's \`https_port\` (GnuTLS, HTTP/1.1 CONNECT) and nghttpx \`--http2-proxy\` (TLS, ALPN h2, squid's plain port
  as its backend, frontend windows 16 MiB per stream / 64 MiB per connection), started by \`bench/lib/ws-far.mjs\` with
  private configurations and a throwaway CA. Through squid: burrow \`via: [{ url: 'https://…', tls }]\`; \`ws\` with a
  \`createConnection\` that writes the CONNECT and hands the proxy's \`TLSSocket\` on; the global WebSocket with
  \`dispatcher: new ProxyAgent({ uri: 'https://…', proxyTls })\` (npm undici ${packageVersion('undici')}). Through
  nghttpx: burrow \`via: [{ url: 'h2://…', tls }]\`; neither peer can use an HTTP/2 CONNECT proxy (n/a).
`,
  );
  console.log(`docs/benchmarks.md: section ${NAME} rewritten`);
}
process.exitCode = bad ? 1 : 0;
