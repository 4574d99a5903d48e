// Process plumbing shared by the scenario scripts: start the origin server in
// its own process, run one client in its own process, and make sure no child
// outlives the benchmark (every child is killed by pid on exit, on a signal,
// and when it overruns its time limit).
import { execFileSync, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { cpuTimes } from './machine.mjs';

const children = new Set();

function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Registers a child process so that it is killed (by pid) when the benchmark exits. */
export function trackChild(child) {
  return track(child);
}

const PIN = process.env.BENCH_PIN !== '0' && process.platform === 'linux' && availableParallelism() >= 2 && existsSync('/usr/bin/taskset');

/**
 * Pins every thread of a child process to one CPU (`taskset -a`), so the client and the far
 * side each own a core instead of migrating between the two (on a 2-core machine that
 * migration, not the code, was most of the run-to-run spread). BENCH_PIN=0 turns it off.
 * Returns true when pinned.
 */
export function pinChild(child, cpu) {
  if (!PIN || child.pid === undefined) return false;
  try {
    execFileSync('taskset', ['-a', '-cp', String(cpu), String(child.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** True when scenario processes are pinned (for the docs). */
export const pinning = PIN;

function killAll() {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
}
process.once('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    killAll();
    process.exit(130);
  });
}

/**
 * Waits until the rest of the machine is quiet: busy below `maxCores` over a
 * `sampleMs` sample (our server and this process are idle between runs). Gives
 * up after `limitMs`. Resolves with { quiet, waitedMs, cores }.
 */
export async function waitQuiet({ maxCores = 0.15, sampleMs = 300, limitMs = 60_000 } = {}) {
  const t0 = Date.now();
  let cores = NaN;
  while (Date.now() - t0 < limitMs) {
    const a = cpuTimes();
    if (!a) return { quiet: true, waitedMs: 0, cores };
    await new Promise((r) => setTimeout(r, sampleMs));
    const b = cpuTimes();
    cores = (b.busy - a.busy + (b.steal - a.steal)) / 100 / (sampleMs / 1000);
    if (cores < maxCores) return { quiet: true, waitedMs: Date.now() - t0, cores };
  }
  return { quiet: false, waitedMs: Date.now() - t0, cores };
}

/** Fails early with a clear message when burrow has not been built. */
export function requireBuild() {
  const dist = new URL('../../dist/index.js', import.meta.url);
  if (!existsSync(dist)) {
    console.error('burrow is not built: run `npm run build` at the repository root first (bench/ imports ../dist/index.js).');
    process.exit(2);
  }
}

/** Starts lib/server.mjs; resolves with { ports, stats(), close() }. */
export async function startServer({ timeoutMs = 10_000 } = {}) {
  const child = track(fork(new URL('./server.mjs', import.meta.url), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  pinChild(child, 1);
  let seq = 0;
  const pending = new Map();
  const ready = new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('the bench server did not start in time')), timeoutMs);
    child.once('exit', (code) => reject(new Error(`the bench server exited early (${code})`)));
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
  const { ports } = await ready;
  const ask = (type) =>
    new Promise((resolve, reject) => {
      const id = ++seq;
      const t = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`the bench server did not answer ${type}`));
      }, 5000);
      pending.set(id, (m) => {
        clearTimeout(t);
        resolve(m);
      });
      child.send({ type, id });
    });
  return {
    ports,
    pid: child.pid,
    stats: () => ask('stats'),
    resetMax: () => ask('reset-max'),
    close: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const t = setTimeout(() => {
          child.kill('SIGKILL');
        }, 3000);
        child.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
        child.send({ type: 'exit' });
      }),
  };
}

/**
 * Runs lib/client.mjs once with `config` (see that file). Around the counted
 * window it samples the server's CPU and the machine's busy time. Resolves with
 * the client's result plus { serverCpuUs, serverRequests, maxConcurrentH2, machineBusyCores, machineStealCores, windowWallS }.
 */
export async function runClient(server, config, { execArgv = [], timeoutMs, execPath } = {}) {
  const limit = timeoutMs ?? config.warmupMs + config.durationMs + 30_000;
  const child = track(
    fork(new URL('./client.mjs', import.meta.url), [JSON.stringify(config)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv,
      ...(execPath ? { execPath } : {}),
    }),
  );
  pinChild(child, 0);
  let s0;
  let m0;
  let t0;
  const edges = {};
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`client ${config.client} overran its ${limit} ms limit and was killed`));
    }, limit);
    const onExit = (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`client ${config.client} exited without a result (code ${code}, signal ${signal})`));
    };
    child.once('exit', onExit);
    child.on('message', async (m) => {
      try {
        if (m?.type === 'window' && m.edge === 'start') {
          await server.resetMax();
          s0 = await server.stats();
          m0 = cpuTimes();
          t0 = process.hrtime.bigint();
          child.send({ type: 'go' });
        } else if (m?.type === 'window' && m.edge === 'end') {
          const m1 = cpuTimes();
          const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
          const s1 = await server.stats();
          edges.serverCpuUs = s1.cpu.user + s1.cpu.system - (s0.cpu.user + s0.cpu.system);
          edges.serverRequests = s1.requests - s0.requests;
          edges.maxConcurrentH2 = s1.maxConcurrentH2;
          // Whole-machine busy cores during the window (Linux clock ticks are 100 Hz: coarse).
          if (m0 && m1) {
            edges.machineBusyCores = (m1.busy - m0.busy) / 100 / wallS;
            edges.machineStealCores = (m1.steal - m0.steal) / 100 / wallS;
            edges.windowWallS = wallS;
          }
          child.send({ type: 'go' });
        } else if (m?.type === 'result') {
          clearTimeout(timer);
          child.removeListener('exit', onExit);
          const done = () => resolve({ ...m, ...edges });
          if (child.exitCode !== null || child.signalCode !== null) done();
          else {
            const t = setTimeout(() => child.kill('SIGKILL'), 3000);
            child.once('exit', () => {
              clearTimeout(t);
              done();
            });
          }
        }
      } catch (e) {
        clearTimeout(timer);
        child.kill('SIGKILL');
        reject(e);
      }
    });
  });
}
