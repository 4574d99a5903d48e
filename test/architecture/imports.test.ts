// The import rules of src/: no cycles, no import towards a higher layer, no protocol reaching into another.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkImports, checkSourceTree, importSpecifiers, type ImportEdge } from './import-graph.js';

const SRC = fileURLToPath(new URL('../../../src/', import.meta.url));

function edges(list: Array<[string, string]>): ImportEdge[] {
  return list.map(([from, to]) => ({ from, to, spec: to }));
}

describe('src/ import graph', () => {
  it('has no cycle, no upward import and no protocol importing another', () => {
    const violations = checkSourceTree(SRC);
    assert.deepEqual(violations.map((v) => v.message), []);
  });

  it('reads every form of import, type-only and re-exports included, and skips comments', () => {
    const src = [
      "import { a } from './a.js';",
      "import type { B } from '../b.js';",
      "export { c } from './c.js';",
      "export type { D } from './d.js';",
      "import './side-effect.js';",
      "const m = await import('./lazy.js');",
      "import { readFileSync } from 'node:fs';",
      "// import { x } from './commented.js';",
      "/* import { y } from './block.js'; */",
      "import {\n  e,\n  f,\n} from './multi.js';",
    ].join('\n');
    assert.deepEqual(importSpecifiers(src), ['./a.js', '../b.js', './c.js', './d.js', './side-effect.js', './lazy.js', './multi.js']);
  });

  it('fails on a cycle', () => {
    const files = ['shared/a.ts', 'shared/b.ts', 'shared/c.ts'];
    const v = checkImports(files, edges([['shared/a.ts', 'shared/b.ts'], ['shared/b.ts', 'shared/c.ts'], ['shared/c.ts', 'shared/a.ts']]));
    assert.deepEqual(v.map((x) => x.kind), ['cycle']);
    assert.match(v[0]?.message ?? '', /shared\/a\.ts -> shared\/b\.ts -> shared\/c\.ts/);
  });

  it('fails on an upward import, type-only included', () => {
    const files = ['protocols/http1/layer.ts', 'connection/connection.ts'];
    const v = checkImports(files, edges([['protocols/http1/layer.ts', 'connection/connection.ts']]));
    assert.deepEqual(v.map((x) => x.kind), ['upward']);
  });

  it('fails when one protocol imports another', () => {
    const files = ['protocols/http1/layer.ts', 'protocols/http2/layer.ts'];
    const v = checkImports(files, edges([['protocols/http2/layer.ts', 'protocols/http1/layer.ts']]));
    assert.deepEqual(v.map((x) => x.kind), ['across-protocols']);
  });

  it('fails on a folder that is in no layer, and on an import it cannot resolve', () => {
    const v = checkImports(['misc/x.ts'], [], [{ from: 'misc/x.ts', to: 'misc/y.ts', spec: './y.js' }]);
    assert.deepEqual(v.map((x) => x.kind).sort(), ['unknown-layer', 'unresolved']);
  });

  it('allows imports downwards and within a folder', () => {
    const files = ['errors/errors.ts', 'shared/a.ts', 'shared/b.ts', 'connection/c.ts', 'index.ts'];
    const v = checkImports(files, edges([['shared/a.ts', 'errors/errors.ts'], ['shared/b.ts', 'shared/a.ts'], ['connection/c.ts', 'shared/b.ts'], ['index.ts', 'connection/c.ts']]));
    assert.deepEqual(v, []);
  });
});
