#!/usr/bin/env node
// Checks that docs/reference (the API reference, `npm run docs:api`) is what TypeDoc makes from the
// TSDoc of the public API now, and that TypeDoc has no warning (every type the API names is exported).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const out = mkdtempSync(join(tmpdir(), 'burrow-reference-'));
try {
  execFileSync(process.execPath, [join(root, 'node_modules/typedoc/bin/typedoc'), '--out', out, '--logLevel', 'Warn'], { cwd: root, stdio: 'inherit' });
  const list = (dir) => readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.md')).sort();
  const committed = join(root, 'docs/reference');
  const made = list(out);
  const have = list(committed);
  const stale = [...new Set([...made, ...have])].filter((f) => !made.includes(f) || !have.includes(f) || readFileSync(join(out, f), 'utf8') !== readFileSync(join(committed, f), 'utf8'));
  if (stale.length > 0) {
    console.error(`docs/reference is out of date (${stale.join(', ')}): run npm run docs:api`);
    process.exit(1);
  }
  console.log(`docs/reference is up to date (${made.length} files)`);
} finally {
  rmSync(out, { recursive: true, force: true });
}
