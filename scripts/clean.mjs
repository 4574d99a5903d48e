#!/usr/bin/env node
// Removes build output folders given as arguments (e.g. `dist .build`), so that
// files of modules that were moved or deleted never linger in a build.
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
for (const dir of process.argv.slice(2)) {
  const path = resolve(root, dir);
  if (!path.startsWith(root) || path === resolve(root)) throw new Error(`refusing to remove ${path}`);
  rmSync(path, { recursive: true, force: true });
}
