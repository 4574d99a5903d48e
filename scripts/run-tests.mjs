#!/usr/bin/env node
// Runs every compiled test file (.build/test/**/*.test.js) with Node's built-in runner.
// Usage: node scripts/run-tests.mjs [substring filter...]
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('../.build/test/', import.meta.url).pathname;
const filters = process.argv.slice(2);
const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js') && (filters.length === 0 || filters.some((f) => p.includes(f)))) files.push(p);
  }
})(root);
if (files.length === 0) {
  console.error('no test files found under .build/test (run `npx tsc -p tsconfig.json` first)');
  process.exit(1);
}
const node = process.env.BURROW_TEST_NODE || process.execPath;
const concurrency = process.env.BURROW_TEST_CONCURRENCY || '2';
const r = spawnSync(node, ['--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
