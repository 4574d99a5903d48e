// Regression: the PAC engine's packages (quickjs-wasi, pac-resolver and its parser) cost ~0.2 s of CPU to
// import; they load with the first PAC script, never with `import 'burrow'`. Follows every static import from
// src/index.ts (dynamic `import()` excluded) and checks none reaches them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../../src/', import.meta.url));
const STATIC = /^\s*(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/gm;

function staticImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(STATIC)) {
    // Type-only imports are erased.
    if (/^\s*(?:import|export)\s+type\s/.test(m[0])) continue;
    out.push(m[1] as string);
  }
  return out;
}

describe('loading burrow', () => {
  it('does not load the PAC engine or its packages', () => {
    const seen = new Set<string>();
    const packages = new Set<string>();
    const queue = [join(SRC, 'index.ts')];
    while (queue.length > 0) {
      const file = queue.pop() as string;
      if (seen.has(file)) continue;
      seen.add(file);
      for (const spec of staticImports(file)) {
        if (spec.startsWith('.')) queue.push(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
        else if (!spec.startsWith('node:')) packages.add(spec);
      }
    }
    assert.ok(seen.size > 50, `followed ${seen.size} files`);
    assert.ok(seen.has(join(SRC, 'request', 'route-choice.ts')));
    assert.deepEqual([...packages].filter((p) => /quickjs|pac-resolver|degenerator/.test(p)), []);
    assert.equal(seen.has(join(SRC, 'pac', 'engine.ts')), false);
  });
});
