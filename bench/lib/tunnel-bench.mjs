// Shared plumbing of the tunnel scenario scripts (tunnel-*.mjs): common options,
// the far-side process (lib/tunnel-server.mjs), one client run in its own process
// (lib/tunnel-client.mjs) or one curl run, the quiet-machine wait and the noise
// record, profiling, and the header of each docs section.
import { spawn, fork } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { formatSummary, summarize } from './cpuprofile.mjs';
import { cpuTimes, machineInfo, packageVersion } from './machine.mjs';
import { PEER_NODE_VERSION } from './node-versions.mjs';
import { pinChild, pinning, requireBuild, trackChild, waitQuiet } from './runner.mjs';
import { fmtFixed, max, median } from './stats.mjs';

export const BUILD_DIR = new URL('../.build/', import.meta.url);

export const MiB = 2 ** 20;
export const GiB = 2 ** 30;

/** Parses the common options plus `extra` (parseArgs option specs). */
export function parseCommon(extra = {}, usage = '') {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      runs: { type: 'string' },
      'no-docs': { type: 'boolean', default: false },
      docs: { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      'max-rest': { type: 'string', default: '0.3' },
      help: { type: 'boolean', short: 'h', default: false },
      ...extra,
    },
    strict: false, // run-all.mjs passes every argument to every scenario
  });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  requireBuild();
  // A --quick run is a smoke test: it does not rewrite the docs unless --docs is given.
  values.writeDocs = values.docs || (!values['no-docs'] && !values.quick && !values.profile);
  return values;
}

/** The command line that produced a run, for the docs. */
export function commandLine(file) {
  const argv = process.argv.slice(2).join(' ');
  return `npm run build && cd bench && npm ci && node ${file}${argv ? ` ${argv}` : ''}`;
}

export async function startTunnelServer(role = 'main') {
  mkdirSync(BUILD_DIR, { recursive: true });
  const caFile = new URL(`./ca-${role}-${process.pid}.pem`, BUILD_DIR).pathname;
  const child = trackChild(fork(new URL('./tunnel-server.mjs', import.meta.url), [role, caFile], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  pinChild(child, 1);
  let seq = 0;
  const pending = new Map();
  const ready = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('the tunnel server did not start in time')), 30_000);
    child.once('exit', (code) => reject(new Error(`the tunnel server exited early (${code})`)));
    child.on('message', (m) => {
      if (m?.type === 'ready') {
        clearTimeout(t);
        resolve(m);
      } else if (m?.id !== undefined && pending.has(m.id)) {
        pending.get(m.id)(m);
        pending.delete(m.id);
      }
    });
  });
  return {
    ports: ready.ports,
    ca: ready.ca,
    caFile,
    pid: child.pid,
    stats: () =>
      new Promise((resolve, reject) => {
        const id = ++seq;
        const t = setTimeout(() => {
          pending.delete(id);
          reject(new Error('the tunnel server did not answer stats'));
        }, 10_000);
        pending.set(id, (m) => {
          clearTimeout(t);
          resolve(m);
        });
        child.send({ type: 'stats', id });
      }),
    close: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        child.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
        child.send({ type: 'exit' });
      }),
  };
}

/**
 * Records how noisy the machine was: the quiet wait before each run, and per run the
 * busy cores of the machine not spent by the client or the far side ("rest").
 */
export class Noise {
  constructor({ quick = false, maxRest = 0.3 } = {}) {
    this.quietCores = 0.15;
    this.quietLimitMs = quick ? 300 : Number(process.env.BENCH_QUIET_WAIT_MS ?? 15_000);
    this.quick = quick;
    this.maxRest = maxRest;
    this.waitedMs = 0;
    this.notQuiet = 0;
    this.rests = [];
    this.redone = 0;
    this.kept = 0;
  }
  async wait() {
    const q = await waitQuiet({ maxCores: this.quietCores, limitMs: this.quietLimitMs });
    this.waitedMs += q.waitedMs;
    if (!q.quiet) this.notQuiet++;
  }
  describe() {
    const rest = this.rests.filter(Number.isFinite);
    return (
      `Before each run the script waited until the whole machine was below ${this.quietCores} cores busy ` +
      `(${Math.round(this.waitedMs / 1000)} s of waiting in all${this.notQuiet ? `; ${this.notQuiet} run(s) started without quiet after ${this.quietLimitMs / 1000} s` : ''}). ` +
      `During the counted runs the rest of the machine (busy time from \`/proc/stat\` minus the client and the far side) ` +
      `was a median of ${fmtFixed(Math.max(0, median(rest)), 2)} cores, at most ${fmtFixed(Math.max(0, max(rest)), 2)}; ` +
      `a run above ${this.maxRest} cores was redone (at most 3 tries): ${this.redone} redone, ${this.kept} kept after the last try.`
    );
  }
}

/**
 * Runs one tunnel-client process with `config` (ports and CA are added) and returns
 * its result plus { serverCpuUs, restCores, wallS }. Redoes a run disturbed by other
 * jobs (at most 3 tries) when `redo` is set.
 */
/** `others`: more far-side processes (their CPU is not counted as the rest of the machine). */
/**
 * Node/V8 flags for every client process (BENCH_CLIENT_NODE_FLAGS, space-separated), e.g.
 * `--max-semi-space-size=2` or `--trace-gc`: to see how much of a CPU difference is the garbage
 * collector's heap sizing rather than the client's own work.
 */
const CLIENT_NODE_FLAGS = (process.env.BENCH_CLIENT_NODE_FLAGS ?? '').split(' ').filter((f) => f.length > 0);

export async function runNodeClient(server, config, noise, { execArgv = [], timeoutMs = 180_000, redo = true, others = [] } = {}) {
  const othersCpu = async () => {
    let us = 0;
    for (const o of others) {
      const st = await o.stats();
      us += st.cpu.user + st.cpu.system;
    }
    return us;
  };
  for (let attempt = 1; ; attempt++) {
    await noise.wait();
    const o0 = await othersCpu();
    const s0 = await server.stats();
    const m0 = cpuTimes();
    const t0 = process.hrtime.bigint();
    const { fork: forkOpts = {}, ...cfg } = config;
    const r = await forkClient({ ...cfg, ports: server.ports, ca: server.ca, watchdogMs: timeoutMs - 5000 }, [...execArgv, ...CLIENT_NODE_FLAGS], timeoutMs, forkOpts);
    const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
    const m1 = cpuTimes();
    const s1 = await server.stats();
    const otherCpuUs = (await othersCpu()) - o0;
    const serverCpuUs = s1.cpu.user + s1.cpu.system - (s0.cpu.user + s0.cpu.system);
    const childCpuS = (r.wholeCpuUs ?? r.childCpuUs ?? 0) / 1e6;
    const restCores = m0 && m1 ? (m1.busy - m0.busy + (m1.steal - m0.steal)) / 100 / wallS - childCpuS / wallS - (serverCpuUs + otherCpuUs) / 1e6 / wallS : NaN;
    const out = { ...r, serverCpuUs, restCores, wallS, attempts: attempt };
    if (!redo || noise.quick || r.fatal || !(restCores > noise.maxRest) || attempt >= 3) {
      if (restCores > noise.maxRest) noise.kept++;
      if (!r.fatal) noise.rests.push(restCores);
      return out;
    }
    noise.redone++;
    process.stderr.write(`    (disturbed: rest ${fmtFixed(restCores, 2)} cores, redone)\n`);
  }
}

/** `forkOpts`: `execPath` (another Node binary) and `env` for the client process. */
function forkClient(config, execArgv, timeoutMs, forkOpts = {}) {
  return new Promise((resolve) => {
    const child = trackChild(
      fork(new URL('./tunnel-client.mjs', import.meta.url), [JSON.stringify(config)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv, ...forkOpts }),
    );
    pinChild(child, 0);
    let result;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ fatal: `overran ${timeoutMs} ms, killed` });
    }, timeoutMs);
    child.on('message', (m) => {
      if (m?.type === 'result') result = m;
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(result ?? { fatal: `exited without a result (code ${code}, signal ${signal})` });
    });
  });
}

/**
 * Runs curl once under bash and reads curl's own CPU time with bash's `times`
 * builtin (user+sys of the shell's finished children, i.e. of curl alone, whole
 * process: start-up, CA loading, handshakes, transfer). Returns { fatal } or
 * { bytes, ms, ttfbMs, cpuUs }.
 */
export function curlOnce(args, timeoutMs = 180_000) {
  const q = (s) => `'${String(s).replace(/'/g, "'\\''")}'`;
  const script = `curl -sS -o /dev/null --max-time ${Math.ceil(timeoutMs / 1000)} -w '%{http_code} %{size_download} %{time_total} %{time_starttransfer}\\n' ${args.map(q).join(' ')}; rc=$?; times; exit $rc`;
  return new Promise((resolve) => {
    const child = trackChild(spawn('bash', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs + 5000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      const lines = out.trim().split('\n');
      const w = /^(\d+) (\d+) ([\d.]+) ([\d.]+)$/.exec(lines[0] ?? '');
      // `times`: line 1 the shell's own user/sys, line 2 its children's ("0m1.234s 0m0.567s").
      const t = /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/.exec(lines[2] ?? '');
      if (code !== 0 || !w || !t || w[1] !== '200') return resolve({ fatal: `curl exit ${code}: ${err.trim() || out.trim()}` });
      const cpuS = Number(t[1]) * 60 + Number(t[2]) + Number(t[3]) * 60 + Number(t[4]);
      resolve({ bytes: Number(w[2]), ms: Number(w[3]) * 1000, ttfbMs: Number(w[4]) * 1000, cpuUs: cpuS * 1e6, childCpuUs: cpuS * 1e6 });
    });
  });
}

/** curl with the quiet wait and the noise record (like runNodeClient). */
export async function runCurl(server, args, noise, { redo = true } = {}) {
  for (let attempt = 1; ; attempt++) {
    await noise.wait();
    const s0 = await server.stats();
    const m0 = cpuTimes();
    const t0 = process.hrtime.bigint();
    const r = await curlOnce(args);
    const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
    const m1 = cpuTimes();
    const s1 = await server.stats();
    const serverCpuUs = s1.cpu.user + s1.cpu.system - (s0.cpu.user + s0.cpu.system);
    // /proc/stat counts in 10 ms ticks and bash's own fork/exec is not in curl's `times`: for a run shorter
    // than half a second (a B5 sample) the rest of the machine cannot be told apart, so it is not estimated.
    const restCores =
      m0 && m1 && wallS >= 0.5 ? (m1.busy - m0.busy + (m1.steal - m0.steal)) / 100 / wallS - (r.cpuUs ?? 0) / 1e6 / wallS - serverCpuUs / 1e6 / wallS : NaN;
    const out = { ...r, serverCpuUs, restCores, wallS };
    if (!redo || noise.quick || r.fatal || !(restCores > noise.maxRest) || attempt >= 3) {
      if (restCores > noise.maxRest) noise.kept++;
      if (!r.fatal && Number.isFinite(restCores)) noise.rests.push(restCores);
      return out;
    }
    noise.redone++;
  }
}

/** Runs a client once under --cpu-prof and prints the top self-time functions; returns the summary text. */
export async function profileClient(server, config, name, top = 20) {
  const dir = new URL('./profiles/', BUILD_DIR);
  mkdirSync(dir, { recursive: true });
  const prefix = `${name}-${Date.now()}`;
  const noise = new Noise({ quick: true });
  const r = await runNodeClient(server, config, noise, {
    execArgv: ['--cpu-prof', '--cpu-prof-dir', dir.pathname, '--cpu-prof-name', `${prefix}.cpuprofile`],
    redo: false,
  });
  if (r.fatal) return `${name}: FAILED ${r.fatal}`;
  const file = new URL(`${prefix}.cpuprofile`, dir);
  const text = formatSummary(summarize(JSON.parse(readFileSync(file, 'utf8'))), top);
  const head = `=== ${name} (${file.pathname})`;
  console.log(`\n${head}\n${text}`);
  writeFileSync(new URL(`${prefix}.txt`, dir), `${head}\n${text}\n`);
  return text;
}

export function metaHeader(file, started, finished, noise, extra = '') {
  const m = machineInfo();
  const burrow = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;
  return (
    `Produced by \`${commandLine(file)}\` on ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC ` +
    `(${Math.round((finished - started) / 1000)} s). Script: \`bench/${file}\`.\n\n` +
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB; ${m.os}; Node ${m.node} (OpenSSL ${m.openssl}); ` +
    `burrow ${burrow} from \`dist/\`; undici ${packageVersion('undici')} (and ${packageVersion('undici8')} under Node ${PEER_NODE_VERSION}), http2-wrapper ${packageVersion('http2-wrapper')}, ` +
    `https-proxy-agent ${packageVersion('https-proxy-agent')}, socks-proxy-agent ${packageVersion('socks-proxy-agent')}; ${curlVersion()}.${extra}\n\n` +
    `**Noise.** ${pinning ? 'The client process is pinned to CPU 0 and the far side to CPU 1 (`taskset -a`); other jobs on the machine can still use either.' : `The client, the far side and other jobs share the ${m.cores} cores (nothing pinned).`} ${noise.describe()}\n`
  );
}

export function curlVersion() {
  return CURL_VERSION;
}
let CURL_VERSION = 'curl (not found)';
/** Reads `curl --version` once (call before metaHeader). */
export async function detectCurl() {
  await new Promise((resolve) => {
    const c = spawn('curl', ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.once('error', () => resolve());
    c.once('exit', () => {
      const m = /^curl (\S+).*?(OpenSSL\/\S+)?/.exec(out);
      if (m) CURL_VERSION = `curl ${m[1]}`;
      resolve();
    });
  });
  return CURL_VERSION;
}
