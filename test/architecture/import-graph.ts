/**
 * The import graph of `src/` and the rules it must follow: no cycles, and
 * imports only towards the layers below (see docs/architecture.md, "Module map").
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

/**
 * The layers of `src/`, bottom first: a module may import modules of its own
 * folder and of the folders listed before it, never after it. `testing/` is a
 * separate entry point that imports nothing of the library.
 */
export const LAYERS: readonly string[] = ['errors', 'testing', 'shared', 'cookies', 'observe', 'transport', 'protocols', 'tunnel', 'connection', 'pac', 'request', 'websocket', 'adapters', 'cli', 'index.ts'];

/** One import: from which file to which, as written. */
export interface ImportEdge {
  readonly from: string;
  readonly to: string;
  readonly spec: string;
}

/** What the rules found. */
export interface Violation {
  readonly kind: 'cycle' | 'upward' | 'across-protocols' | 'unknown-layer' | 'unresolved';
  readonly message: string;
}

// `import … from '…'`, `export … from '…'`, `import '…'` and `import('…')`, type-only ones included.
const SPEC = /(?:^|[\s;])(?:import|export)\s[^'";]*?from\s*['"]([^'"]+)['"]|(?:^|[\s;])import\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)/g;

/** The relative module specifiers in `source` (comments removed first). */
export function importSpecifiers(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  const out: string[] = [];
  for (const m of code.matchAll(SPEC)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (spec !== undefined && spec.startsWith('.')) out.push(spec);
  }
  return out;
}

/** Every `.ts` file under `dir`, as paths relative to `dir`. */
export function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out;
}

/** The import edges between the files of `files` (paths relative to the source root, read with `read`). */
export function importEdges(files: readonly string[], read: (file: string) => string): { edges: ImportEdge[]; unresolved: ImportEdge[] } {
  const known = new Set(files);
  const edges: ImportEdge[] = [];
  const unresolved: ImportEdge[] = [];
  for (const from of files) {
    for (const spec of importSpecifiers(read(from))) {
      const to = normalize(join(dirname(from), spec.replace(/\.js$/, '.ts')));
      (known.has(to) ? edges : unresolved).push({ from, to, spec });
    }
  }
  return { edges, unresolved };
}

/** The layer of a file: its top folder, or the file itself at the top. */
export function layerOf(file: string): string {
  const i = file.indexOf('/');
  return i < 0 ? file : file.slice(0, i);
}

/** The strongly connected components with more than one file (or a file importing itself). */
export function cycles(files: readonly string[], edges: readonly ImportEdge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const f of files) next.set(f, []);
  for (const e of edges) next.get(e.from)?.push(e.to);
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, idx.get(w) as number));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      for (;;) {
        const w = stack.pop() as string;
        onStack.delete(w);
        scc.push(w);
        if (w === v) break;
      }
      if (scc.length > 1 || (next.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const f of files) if (!idx.has(f)) visit(f);
  return out;
}

/** Checks the rules over a set of files and their edges. */
export function checkImports(files: readonly string[], edges: readonly ImportEdge[], unresolved: readonly ImportEdge[] = [], layers: readonly string[] = LAYERS): Violation[] {
  const out: Violation[] = [];
  for (const e of unresolved) out.push({ kind: 'unresolved', message: `${e.from} imports ${e.spec}, which is not a file of src/` });
  for (const f of files) {
    if (!layers.includes(layerOf(f))) out.push({ kind: 'unknown-layer', message: `${f} is in no layer (add its folder to LAYERS in test/architecture/import-graph.ts)` });
  }
  for (const e of edges) {
    const a = layers.indexOf(layerOf(e.from));
    const b = layers.indexOf(layerOf(e.to));
    if (a >= 0 && b >= 0 && b > a) out.push({ kind: 'upward', message: `${e.from} imports ${e.to}: ${layerOf(e.to)}/ is above ${layerOf(e.from)}/` });
    // One module per protocol: a protocol never reaches into another one.
    const pa = /^protocols\/([^/]+)\//.exec(e.from)?.[1];
    const pb = /^protocols\/([^/]+)\//.exec(e.to)?.[1];
    if (pa !== undefined && pb !== undefined && pa !== pb) out.push({ kind: 'across-protocols', message: `${e.from} imports ${e.to}: protocols/${pa}/ reaches into protocols/${pb}/` });
  }
  for (const c of cycles(files, edges)) out.push({ kind: 'cycle', message: `import cycle: ${c.join(' -> ')}` });
  return out;
}

/** Reads `root` (a `src/` folder) and checks it. */
export function checkSourceTree(root: string): Violation[] {
  const files = sourceFiles(root);
  const { edges, unresolved } = importEdges(files, (f) => readFileSync(join(root, f), 'utf8'));
  return checkImports(files, edges, unresolved);
}
