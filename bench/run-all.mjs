#!/usr/bin/env node
// Runs every benchmark scenario file of bench/ in sequence: each top-level
// `*.mjs` file here except this one (helpers live in lib/; bench/codec/ has its
// own micro-benchmarks and is not run from here). Extra arguments are passed to
// every scenario (e.g. `node run-all.mjs --no-docs`). Each scenario gets at most
// BENCH_SCENARIO_LIMIT_S seconds (default 900) and is killed past that.
// Exit code: 0 when every scenario exited 0, else 1.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const self = path.basename(fileURLToPath(import.meta.url));
const limitMs = Number(process.env.BENCH_SCENARIO_LIMIT_S ?? 900) * 1000;
const files = readdirSync(here)
  .filter((f) => f.endsWith('.mjs') && f !== self)
  .sort();

let current;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    if (current && current.exitCode === null) current.kill('SIGTERM');
    process.exit(130);
  });
}

let failed = 0;
for (const f of files) {
  console.log(`\n### ${f}`);
  const code = await new Promise((resolve) => {
    current = spawn(process.execPath, [path.join(here, f), ...process.argv.slice(2)], { cwd: here, stdio: 'inherit' });
    const t = setTimeout(() => {
      console.error(`${f}: over ${limitMs / 1000} s, killed`);
      current.kill('SIGTERM');
      setTimeout(() => current.kill('SIGKILL'), 5000).unref();
    }, limitMs);
    current.once('exit', (c, s) => {
      clearTimeout(t);
      resolve(c ?? (s ? 1 : 0));
    });
  });
  if (code !== 0) {
    failed++;
    console.error(`${f}: exit code ${code}`);
  }
}
console.log(`\n${files.length - failed} passed, ${failed} failed`);
process.exitCode = failed ? 1 : 0;
