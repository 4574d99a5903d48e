#!/usr/bin/env node
// B1–B4: download throughput through tunnels, burrow vs peers vs the raw primitive.
//
//   B1  HTTPS proxy (HTTP/1.1 CONNECT over TLS) -> HTTPS origin (TLS in TLS)
//   B2  HTTP/2 CONNECT proxy over TLS -> HTTPS origin (TLS in an h2 stream); also ×8:
//       8 tunnels at once on ONE proxy connection, aggregate
//   B3  SOCKS5 (TCP) -> HTTPS origin
//   B4  HTTPS proxy -> HTTPS proxy -> HTTPS origin (TLS three deep)
//
// The far side (origin + proxies, burrow's dist/testing servers) runs in its own
// process (lib/tunnel-server.mjs); every client run is a fresh process
// (lib/tunnel-client.mjs) or one curl. Per path: one warm-up round, then --runs
// counted rounds, clients interleaved (A B C A B C ...). Client CPU = user+sys of
// the client process from before the connection to the end of the body
// (process.cpuUsage()); curl's is whole-process (bash `times` on the curl child).
//
// Usage (burrow must be built: `npm run build` at the repository root):
//   node tunnel-download.mjs                  5 runs of 1 GiB, rewrites docs/benchmarks.md
//   node tunnel-download.mjs --quick          smoke: 1 run of 16 MiB, no warm-up, docs untouched
//   node tunnel-download.mjs --size 1024 --runs 7 --paths B1,B4 [--no-docs]
//   node tunnel-download.mjs --paths B1 --clients raw,burrow-request --no-docs   these clients only (also `agent`,
//       burrow's ChainAgent + https.get, on any path; variants:
//       burrow@base with BENCH_BASELINE_DIST=/other/dist for a before/after, undici8@node24, burrow@node24)
//   BENCH_CLIENT_NODE_FLAGS='--max-semi-space-size=2' node tunnel-download.mjs ...   Node/V8 flags for every client
//       process (also `--trace-gc`, `--import FILE`)
//   node tunnel-download.mjs --profile [--paths B1] [--clients c,...]   one --cpu-prof run per burrow client and raw (or per client named),
//       summarised (profiles in bench/.build/profiles/); writes section tunnel-download-profile
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { writeSection } from './lib/docs.mjs';
import { GiB, MiB, BUILD_DIR, Noise, detectCurl, metaHeader, parseCommon, profileClient, runCurl, runNodeClient, startTunnelServer } from './lib/tunnel-bench.mjs';
import { fmtFixed, max, median, min } from './lib/stats.mjs';
import { PEER_NODE_VERSION, clientVariant } from './lib/node-versions.mjs';

const NAME = 'tunnel-download';
const usage = readFileSync(new URL(import.meta.url), 'utf8').split('\n').filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n');
const args = parseCommon({ size: { type: 'string' }, paths: { type: 'string' }, clients: { type: 'string' } }, usage);
const QUICK = args.quick;
const RUNS = Math.max(1, Math.min(20, Number(args.runs ?? (QUICK ? 1 : 5))));
const WARMUP_ROUNDS = QUICK ? 0 : 1;
const SIZE_MIB = Math.max(1, Math.min(4096, Number(args.size ?? (QUICK ? 16 : 1024))));
const BYTES = SIZE_MIB * MiB;

const LABELS = {
  raw: 'raw primitive (hand-written CONNECT/SOCKS + `tls.connect({socket})` + hand-read HTTP/1.1)',
  'raw-await': 'raw primitive, body read with `for await` (one promise per chunk)',
  burrow: 'burrow low-level (`open` + `connect` + `get` with `replyTo`)',
  'burrow-request': 'burrow `request()` (`for await` body, `pool: false`)',
  undici: 'undici `ProxyAgent` + `request()` (`for await` body)',
  'undici-socks': 'undici `Socks5ProxyAgent` + `request()`',
  hpa: 'https-proxy-agent + `https.get`',
  agent: 'burrow `ChainAgent` + `https.get`',
  spa: 'socks-proxy-agent (`socks5h://`) + `https.get`',
  h2w: 'http2-wrapper `proxies.HttpsOverHttp2` + `https.get`',
  curl: 'curl (whole process)',
  'raw-x8': 'raw primitive, 8 tunnels on one proxy connection (aggregate)',
  'burrow-x8': 'burrow low-level, 8 tunnels on one proxy connection (aggregate)',
  'h2w-x8': 'http2-wrapper, 8 concurrent requests = 8 tunnels on its one proxy session (aggregate)',
  'raw@node24': `raw primitive, Node ${PEER_NODE_VERSION}`,
  'burrow@node24': `burrow low-level, Node ${PEER_NODE_VERSION}`,
  'burrow-request@node24': `burrow \`request()\`, Node ${PEER_NODE_VERSION}`,
  'undici8@node24': `undici 8 \`ProxyAgent\` + \`request()\`, Node ${PEER_NODE_VERSION}`,
  'fetch-chain': 'undici 7 `fetch()` + burrow `ChainDispatcher`',
  'fetch-proxyagent': 'undici 7 `fetch()` + undici `ProxyAgent`',
  'fetch-socket': 'undici 7 `fetch()` + undici `Agent` whose `connect` returns a hand-built tunnel (the other design)',
  'fetch-chain@node24': `undici 8 \`fetch()\` + burrow \`ChainDispatcher\`, Node ${PEER_NODE_VERSION}`,
  'fetch-proxyagent@node24': `undici 8 \`fetch()\` + undici \`ProxyAgent\`, Node ${PEER_NODE_VERSION}`,
  'burrow@base': 'burrow low-level, baseline build (BENCH_BASELINE_DIST)',
  'burrow-request@base': 'burrow `request()`, baseline build (BENCH_BASELINE_DIST)',
  'burrow@observed': 'burrow low-level, a subscriber on every channel',
  'burrow-request@observed': 'burrow `request()`, a subscriber on every channel',
};

const PATHS = {
  B1: {
    title: 'B1: HTTPS proxy (HTTP/1.1 CONNECT over TLS) → HTTPS origin (TLS in TLS)',
    clients: ['raw', 'raw-await', 'burrow', 'burrow-request', 'undici', 'hpa', 'curl', 'raw@node24', 'burrow@node24', 'burrow-request@node24', 'undici8@node24', 'fetch-chain', 'fetch-proxyagent', 'fetch-socket', 'fetch-chain@node24', 'fetch-proxyagent@node24'],
  },
  B2: { title: 'B2: HTTP/2 CONNECT proxy over TLS → HTTPS origin (TLS inside an HTTP/2 stream)', clients: ['raw', 'burrow', 'burrow-request', 'h2w', 'raw-x8', 'burrow-x8', 'h2w-x8', 'fetch-chain'] },
  B3: { title: 'B3: SOCKS5 (TCP) → HTTPS origin', clients: ['raw', 'burrow', 'burrow-request', 'spa', 'undici-socks', 'curl'] },
  B4: { title: 'B4: HTTPS proxy → HTTPS proxy → HTTPS origin (TLS nested three deep)', clients: ['raw', 'raw-await', 'burrow', 'burrow-request', 'fetch-chain', 'fetch-socket'] },
};
const pathNames = (args.paths ?? Object.keys(PATHS).join(',')).split(',').map((s) => s.trim()).filter(Boolean);
const onlyClients = args.clients?.split(',').map((s) => s.trim()).filter(Boolean);
for (const p of pathNames) if (!PATHS[p]) throw new Error(`unknown path ${p}; known: ${Object.keys(PATHS).join(', ')}`);

function nodeConfig(path, name) {
  const v = clientVariant(name);
  const x8 = v.client.endsWith('-x8');
  const base = x8 ? v.client.slice(0, -3) : v.client;
  return { mode: 'download', path, client: base === 'undici-socks' ? 'undici' : base, bytes: BYTES, tunnels: x8 ? 8 : 1, undici: v.undici, fork: v.fork };
}

function curlArgs(server, path) {
  const { ports, caFile } = server;
  const url = `https://127.0.0.1:${ports.originH1}/bytes/${BYTES}`;
  const common = ['--http1.1', '--cacert', caFile];
  if (path === 'B1') return [...common, '--proxy', `https://127.0.0.1:${ports.https1}`, '--proxy-cacert', caFile, url];
  if (path === 'B3') return [...common, '--socks5-hostname', `127.0.0.1:${ports.socks}`, url];
  throw new Error(`no curl for ${path}`);
}

async function runOne(server, path, client, noise) {
  const r = client === 'curl' ? await runCurl(server, curlArgs(server, path), noise) : await runNodeClient(server, nodeConfig(path, client), noise);
  if (r.fatal) return { failed: true, fatal: r.fatal };
  const bytes = r.bytes;
  if (bytes !== (client.endsWith('-x8') ? Math.floor(BYTES / 8) * 8 : BYTES)) return { failed: true, fatal: `wrong byte count ${bytes}` };
  return {
    mbps: bytes / r.ms / 1000,
    cpuPerGiB: r.cpuUs / 1e6 / (bytes / GiB),
    wholePerGiB: (r.wholeCpuUs ?? r.cpuUs) / 1e6 / (bytes / GiB),
    farPerGiB: r.serverCpuUs / 1e6 / (bytes / GiB),
    sysShare: r.sysUs !== undefined ? r.sysUs / r.cpuUs : undefined,
    rest: r.restCores,
  };
}

async function bench(server, noise) {
  const results = {};
  for (const path of pathNames) {
    const clients = onlyClients ?? PATHS[path].clients;
    results[path] = Object.fromEntries(clients.map((c) => [c, []]));
    process.stderr.write(`${path}: ${WARMUP_ROUNDS} warm-up + ${RUNS} rounds of ${clients.join(', ')}, ${SIZE_MIB} MiB each\n`);
    for (let round = 0; round < WARMUP_ROUNDS + RUNS; round++) {
      for (const client of clients) {
        const run = await runOne(server, path, client, noise);
        const tag = round < WARMUP_ROUNDS ? 'warm-up' : `round ${round - WARMUP_ROUNDS + 1}`;
        process.stderr.write(
          run.failed
            ? `  ${client.padEnd(15)} ${tag}: FAILED ${run.fatal}\n`
            : `  ${client.padEnd(15)} ${tag}: ${fmtFixed(run.mbps, 0).padStart(5)} MB/s  ${fmtFixed(run.cpuPerGiB, 2)} s/GiB client  ${fmtFixed(run.farPerGiB, 2)} s/GiB far  rest ${fmtFixed(run.rest, 2)}${run.sysShare !== undefined ? `  sys ${fmtFixed(run.sysShare * 100, 0)}%` : ''}\n`,
        );
        if (round >= WARMUP_ROUNDS) results[path][client].push(run);
      }
    }
  }
  return results;
}

function summarise(results) {
  const rows = {};
  for (const [path, byClient] of Object.entries(results)) {
    rows[path] = [];
    for (const [client, runs] of Object.entries(byClient)) {
      const ok = runs.filter((r) => !r.failed);
      const col = (k) => ok.map((r) => r[k]);
      rows[path].push({
        client,
        n: ok.length,
        failed: runs.length - ok.length,
        fatal: runs.find((r) => r.failed)?.fatal,
        mbps: median(col('mbps')),
        mbpsMin: min(col('mbps')),
        mbpsMax: max(col('mbps')),
        cpu: median(col('cpuPerGiB')),
        cpuMin: min(col('cpuPerGiB')),
        cpuMax: max(col('cpuPerGiB')),
        whole: median(col('wholePerGiB')),
        far: median(col('farPerGiB')),
      });
    }
  }
  return rows;
}

function table(path, rows) {
  const refName = (c) => (c.endsWith('-x8') ? 'raw-x8' : c.endsWith('@node24') ? 'raw@node24' : 'raw');
  const raw = rows.find((r) => r.client === 'raw');
  const rawOf = (r) => rows.find((x) => x.client === refName(r.client)) ?? raw;
  const out = [
    '| client | MB/s median (min–max) | MB/s × raw | client CPU s/GiB median (min–max) | CPU × raw | client CPU s/GiB whole process | far side CPU s/GiB |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    const b = r.client.startsWith('burrow') ? '**' : '';
    const ref = rawOf(r);
    if (r.n === 0) {
      out.push(`| ${LABELS[r.client]} | failed: ${String(r.fatal).split('\n')[0].slice(0, 120)} | | | | | |`);
      continue;
    }
    const isCurl = r.client === 'curl';
    out.push(
      `| ${b}${LABELS[r.client]}${b} | ${b}${fmtFixed(r.mbps, 0)}${b} (${fmtFixed(r.mbpsMin, 0)}–${fmtFixed(r.mbpsMax, 0)}) | ${fmtFixed(r.mbps / ref?.mbps, 2)} | ` +
        `${isCurl ? '–' : `${b}${fmtFixed(r.cpu, 2)}${b} (${fmtFixed(r.cpuMin, 2)}–${fmtFixed(r.cpuMax, 2)})`} | ${isCurl ? `${fmtFixed(r.whole / ref?.whole, 2)} (whole)` : fmtFixed(r.cpu / ref?.cpu, 2)} | ` +
        `${fmtFixed(r.whole, 2)} | ${fmtFixed(r.far, 2)} |${r.failed ? ` (${r.failed} failed)` : ''}`,
    );
  }
  return out.join('\n');
}

/** The issue's targets for B1–B4, checked against the medians. */
function targets(rows) {
  const get = (p, c) => rows[p]?.find((r) => r.client === c && r.n > 0);
  const out = [];
  const check = (label, value, limit, fmt = (x) => fmtFixed(x, 2)) => {
    if (!Number.isFinite(value)) return;
    out.push(`| ${label} | ${fmt(value)} | ${fmt(limit)} | ${value <= limit ? 'met' : '**missed**'} |`);
  };
  for (const [p, lim] of [['B1', 1.05], ['B4', 1.05], ['B2', 1.1]]) {
    for (const c of ['burrow', 'burrow-request', 'burrow@node24', 'burrow-request@node24']) {
      const a = get(p, c);
      const raw = get(p, c.endsWith('@node24') ? 'raw@node24' : 'raw');
      if (a && raw) check(`${p} ${c}: client CPU/GiB ÷ raw primitive`, a.cpu / raw.cpu, lim);
    }
  }
  // fetch + ChainDispatcher against fetch + undici's ProxyAgent (the same fetch, the same Node): ≤ 1.0× CPU.
  for (const [c, peer] of [['fetch-chain', 'fetch-proxyagent'], ['fetch-chain@node24', 'fetch-proxyagent@node24'], ['fetch-chain', 'fetch-socket']]) {
    const a = get('B1', c);
    const b = get('B1', peer);
    if (a && b) check(`B1 ${c}: client CPU/GiB ÷ ${peer}'s`, a.cpu / b.cpu, 1.0);
  }
  for (const c of ['burrow', 'burrow-request']) {
    const a = get('B1', c);
    const curl = get('B1', 'curl');
    if (a && curl) check(`B1 ${c}: client CPU/GiB (in-process) ÷ curl's (whole process)`, a.cpu / curl.whole, 1.0);
  }
  for (const [p, peer, clients] of [
    ['B1', 'undici', ['burrow', 'burrow-request']],
    ['B1', 'undici8@node24', ['burrow@node24', 'burrow-request@node24']],
    ['B2', 'h2w', ['burrow', 'burrow-request']],
  ]) {
    for (const c of clients) {
      const a = get(p, c);
      const b = get(p, peer);
      if (a && b) {
        const v = a.mbps / b.mbps;
        out.push(`| ${p} ${c}: MB/s ÷ ${peer} (target ≥ 1.2) | ${fmtFixed(v, 2)} | 1.20 | ${v >= 1.2 ? 'met' : '**missed**'} |`);
        const cv = b.cpu / a.cpu;
        out.push(`| ${p} ${c}: ${peer}'s CPU/GiB ÷ burrow's (the same target in CPU terms, ≥ 1.2) | ${fmtFixed(cv, 2)} | 1.20 | ${cv >= 1.2 ? 'met' : '**missed**'} |`);
      }
    }
  }
  if (out.length === 0) return '';
  return ['| target | value | limit | |', '|---|---:|---:|---|', ...out].join('\n');
}

await detectCurl();
const server = await startTunnelServer();
let exitCode = 0;
try {
  if (args.profile) {
    const texts = [];
    for (const path of pathNames) {
      for (const client of onlyClients ?? ['raw', 'burrow', 'burrow-request', ...(path === 'B2' ? ['burrow-x8'] : [])]) {
        const t = await profileClient(server, nodeConfig(path, client), `${path}-${client}`, 18);
        texts.push(`#### ${path} / ${client}\n\n\`\`\`\n${t}\n\`\`\``);
      }
    }
    if (args.writeDocs || args.docs) {
      writeSection(`${NAME}-profile`, `### CPU profiles of one download per client (\`node bench/${NAME}.mjs --profile\`, ${SIZE_MIB} MiB, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC)\n\nSelf time by function, burrow's mapped to \`src/*.ts\` (\`bench/lib/cpuprofile.mjs\`).\n\n${texts.join('\n\n')}\n`);
      console.log(`docs/benchmarks.md: section ${NAME}-profile rewritten`);
    }
  } else {
    const noise = new Noise({ quick: QUICK, maxRest: Number(args['max-rest']) });
    const started = new Date();
    const results = await bench(server, noise);
    const finished = new Date();
    const rows = summarise(results);
    const tables = pathNames.map((p) => `### ${PATHS[p].title}\n\n${table(p, rows[p])}`).join('\n\n');
    const tgt = targets(rows);
    console.log(`\n${tables}\n\n${tgt}\n`);
    mkdirSync(new URL('./results/', BUILD_DIR), { recursive: true });
    const json = new URL(`./results/${NAME}-${started.toISOString().replace(/[:.]/g, '-')}.json`, BUILD_DIR);
    writeFileSync(json, JSON.stringify({ args, rows, results }, null, 2));
    console.log(`raw results: ${json.pathname}\n${noise.describe()}`);
    if (Object.values(rows).some((rs) => rs.some((r) => r.failed > 0))) exitCode = 1;
    if (args.writeDocs) {
      const body = `## Tunnels: download throughput and client CPU per GiB (B1–B4)

${metaHeader(`${NAME}.mjs`, started, finished, noise, ` Download size ${SIZE_MIB} MiB per run; ${WARMUP_ROUNDS} warm-up round and ${RUNS} counted rounds per path, clients interleaved.`)}
${tables}

**Targets** (from the performance issue):

${tgt}

**Method.**
- The far side is burrow's own test servers (\`dist/testing\`: \`startOrigin\` HTTP/1.1 over TLS with \`/bytes/N\`,
  \`startConnectProxy\` over TLS ×2, \`startH2ConnectProxy\` over TLS with 16 MiB / 64 MiB windows, \`startSocks5Server\`),
  all in ONE other Node process (\`bench/lib/tunnel-server.mjs\`), on 127.0.0.1, ECDSA test PKI, TLS 1.3 default suite.
  With 2 cores, that process does at least as much crypto as the client and is usually the bottleneck of MB/s
  (see "far side CPU"): **client CPU s/GiB is the discriminator**, MB/s ratios are compressed.
- Each run is a fresh client process: connect, CONNECT/SOCKS, inner TLS, \`GET /bytes/${BYTES}\`, body read to the end
  and its length checked. "client CPU" is \`process.cpuUsage()\` (user+sys, all threads of the client process)
  from before the first connection to the end of the body; "whole process" adds Node start-up and module loading.
  curl has only the whole-process figure: it runs under \`bash -c 'curl …; times'\`, and bash's \`times\` reports the
  user+sys of its finished child (curl alone, not bash), which includes curl's start-up and CA loading.
- Peers pass \`ca\` per connection (what users do); burrow and the raw primitive reuse one \`SecureContext\`.
- "raw primitive, body read with \`for await\`" is the raw primitive whose body goes through a minimal one-promise-per-chunk
  async iterator: the control for what reading a body with \`for await\` (as \`request()\`'s users do) costs by itself.
- Processes are pinned: the client to CPU 0, the far side to CPU 1 (\`taskset -a\`; see bench/README.md).
- ×8 rows: 8 tunnels opened at once on one HTTP/2 proxy connection, each downloading ${SIZE_MIB}/8 MiB; MB/s is the aggregate.
- undici ${'7'} \`ProxyAgent\` cannot speak HTTP/2 to a proxy, so B2 has one peer (http2-wrapper). curl 7.88 has no HTTP/2 to
  proxies (\`--proxy-http2\` is 8.1+) and cannot chain proxies, so curl appears in B1 and B3 only; B4 has no peer.
`;
      writeSection(NAME, body);
      console.log(`docs/benchmarks.md: section ${NAME} rewritten`);
    } else console.log('docs/benchmarks.md not changed');
  }
} finally {
  await server.close();
}
process.exitCode = exitCode;
