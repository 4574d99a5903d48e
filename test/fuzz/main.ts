/**
 * `npm run fuzz`: the long fuzz runs, one worker thread per target at a time
 * (as many at once as the machine has cores).
 *
 *   npm run fuzz -- [--inputs 10000000] [--target name[,name]] [--seed N]
 *
 * Prints one line per target (inputs, bytes, time, outcome shapes reached,
 * slowest µs per byte, findings) and each finding with its input in hex; exits
 * 1 on a finding.
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { fuzz, type FuzzReport } from './engine.js';
import { TARGETS } from './targets/index.js';

interface Job {
  readonly target: string;
  readonly inputs: number;
  readonly seed: number;
}

if (!isMainThread) {
  const job = workerData as Job;
  const target = TARGETS.find((t) => t.name === job.target);
  if (target === undefined) throw new Error(`no target ${job.target}`);
  const report = fuzz(target, {
    inputs: job.inputs,
    seed: job.seed,
    progressEvery: 1_000_000,
    onProgress: (n) => parentPort?.postMessage({ progress: n }),
  });
  parentPort?.postMessage({ report });
} else {
  const { values } = parseArgs({ options: { inputs: { type: 'string' }, target: { type: 'string' }, seed: { type: 'string' } } });
  const inputs = Number(values.inputs ?? 10_000_000);
  const seed = Number(values.seed ?? Date.now() % 2 ** 31);
  const names = values.target?.split(',') ?? TARGETS.map((t) => t.name);
  const queue = [...names];
  const reports: FuzzReport[] = [];
  const started = Date.now();
  console.log(`fuzz: ${names.length} targets × ${inputs} inputs, seed ${seed}, node ${process.version}`);
  const runOne = async (): Promise<void> => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      const w = new Worker(new URL(import.meta.url), { workerData: { target: name, inputs, seed } satisfies Job });
      const target = name;
      await new Promise<void>((resolve, reject) => {
        w.on('message', (m: { progress?: number; report?: FuzzReport }) => {
          if (m.progress !== undefined) console.log(`  ${target}: ${m.progress} inputs (${((Date.now() - started) / 1000).toFixed(0)} s)`);
          if (m.report !== undefined) reports.push(m.report);
        });
        w.on('error', reject);
        w.on('exit', () => resolve());
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(availableParallelism(), names.length) }, runOne));
  console.log('\n| target | inputs | MiB | seconds | inputs/s | outcome shapes | slowest µs/byte | findings |\n|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of reports.sort((a, b) => names.indexOf(a.target) - names.indexOf(b.target))) {
    console.log(`| ${r.target} | ${r.inputs} | ${(r.bytes / 2 ** 20).toFixed(0)} | ${(r.ms / 1000).toFixed(0)} | ${Math.round(r.inputs / (r.ms / 1000))} | ${r.shapes} | ${r.slowestUsPerByte.toFixed(2)} | ${r.findings.length} |`);
  }
  let found = 0;
  for (const r of reports) {
    for (const f of r.findings) {
      found++;
      console.log(`\n${f.target} #${f.index} (seed ${r.seed}): ${f.problem}\n  input ${f.input}`);
    }
  }
  process.exitCode = found > 0 || reports.length !== names.length ? 1 : 0;
}
