#!/usr/bin/env node
// Makes the built command executable (tsc writes every file 0644), so that
// `npx burrow`, `./node_modules/.bin/burrow` and `dist/cli/main.js` run as they are.
import { chmodSync, readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
for (const file of Object.values(pkg.bin ?? {})) {
  const path = new URL(`../${file}`, import.meta.url);
  if (!readFileSync(path, 'utf8').startsWith('#!/usr/bin/env node\n')) throw new Error(`${file} has no #!/usr/bin/env node line`);
  chmodSync(path, 0o755);
}
