// Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time by function,
// by file and by category (burrow, undici, Node internals, GC, ...), plus the
// inclusive time of burrow's functions. Positions inside ../dist are mapped
// back to src/*.ts through the build's source maps.
//
// CLI: node lib/cpuprofile.mjs FILE.cpuprofile [top=30]
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const DIST = path.join(REPO, 'dist') + path.sep;

const maps = new Map();
function sourceMapFor(file) {
  if (!maps.has(file)) {
    let sm;
    try {
      if (existsSync(`${file}.map`)) sm = new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8')));
    } catch {
      sm = undefined;
    }
    maps.set(file, sm);
  }
  return maps.get(file);
}

/** Where a call frame is, as "src/x.ts:line" for burrow, a short name otherwise. */
function locate(cf) {
  const url = cf.url ?? '';
  if (url === '') return { category: categoryOfNative(cf.functionName), where: '' };
  let file = url;
  if (url.startsWith('file://')) file = fileURLToPath(url);
  if (file.startsWith(DIST)) {
    const sm = sourceMapFor(file);
    const e = sm?.findEntry(cf.lineNumber, cf.columnNumber);
    if (e && e.originalSource) {
      const src = e.originalSource.startsWith('file://') ? fileURLToPath(e.originalSource) : path.resolve(path.dirname(file), e.originalSource);
      return { category: 'burrow', where: `${path.relative(REPO, src)}:${e.originalLine + 1}` };
    }
    return { category: 'burrow', where: `${path.relative(REPO, file)}:${cf.lineNumber + 1}` };
  }
  for (const pkg of ['undici', 'undici8']) {
    if (file.includes(`${path.sep}node_modules${path.sep}${pkg}${path.sep}`)) {
      return { category: pkg, where: `${pkg}/${file.split(`${path.sep}${pkg}${path.sep}`)[1]}:${cf.lineNumber + 1}` };
    }
  }
  if (url.startsWith('node:')) return { category: 'node internals', where: `${url}:${cf.lineNumber + 1}` };
  if (file.startsWith(REPO)) return { category: 'bench harness', where: `${path.relative(REPO, file)}:${cf.lineNumber + 1}` };
  return { category: 'other JS', where: `${url}:${cf.lineNumber + 1}` };
}

function categoryOfNative(name) {
  if (name === '(garbage collector)') return 'GC';
  if (name === '(idle)') return 'idle';
  if (name === '(program)') return 'program (native, unattributed)';
  if (name === '(root)') return 'root';
  return 'native / builtins';
}

export function summarize(profile) {
  const self = new Map(); // node id -> µs
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    // timeDeltas[i] is the time before sample i; attribute the gap after a sample to it.
    const dt = deltas[i + 1] ?? 0;
    self.set(samples[i], (self.get(samples[i]) ?? 0) + Math.max(0, dt));
  }
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const info = new Map(); // node id -> {key, category, name, where}
  for (const n of profile.nodes) {
    const loc = locate(n.callFrame);
    const name = n.callFrame.functionName || '(anonymous)';
    info.set(n.id, { key: `${name} ${loc.where}`, name, category: loc.category, where: loc.where });
  }

  let total = 0;
  let idle = 0;
  const fnSelf = new Map();
  const catSelf = new Map();
  const fileSelf = new Map();
  for (const [id, us] of self) {
    const inf = info.get(id);
    total += us;
    if (inf.category === 'idle') {
      idle += us;
      continue;
    }
    fnSelf.set(inf.key, { ...inf, us: (fnSelf.get(inf.key)?.us ?? 0) + us });
    catSelf.set(inf.category, (catSelf.get(inf.category) ?? 0) + us);
    const file = inf.where.replace(/:\d+$/, '') || inf.category;
    fileSelf.set(file, (fileSelf.get(file) ?? 0) + us);
  }

  // Inclusive time of burrow functions (a function counted once per stack).
  const incl = new Map();
  for (const [id, us] of self) {
    if (info.get(id).category === 'idle') continue;
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const inf = info.get(cur);
      if (inf.category !== 'burrow' || seen.has(inf.key)) continue;
      seen.add(inf.key);
      incl.set(inf.key, { ...inf, us: (incl.get(inf.key)?.us ?? 0) + us });
    }
  }
  const busy = total - idle;
  const sortDesc = (m) => [...m].sort((a, b) => b[1] - a[1]);
  return {
    totalMs: total / 1000,
    busyMs: busy / 1000,
    categories: sortDesc(catSelf).map(([category, us]) => ({ category, ms: us / 1000, share: us / busy })),
    files: sortDesc(fileSelf).map(([file, us]) => ({ file, ms: us / 1000, share: us / busy })),
    functions: [...fnSelf.values()].sort((a, b) => b.us - a.us).map((f) => ({ ...f, ms: f.us / 1000, share: f.us / busy })),
    burrowInclusive: [...incl.values()].sort((a, b) => b.us - a.us).map((f) => ({ ...f, ms: f.us / 1000, share: f.us / busy })),
  };
}

const pct = (x) => `${(x * 100).toFixed(1).padStart(5)}%`;

export function formatSummary(s, top = 25) {
  const out = [];
  out.push(`busy ${s.busyMs.toFixed(0)} ms of ${s.totalMs.toFixed(0)} ms sampled (shares below are of busy time)`);
  out.push('  by category (self):');
  for (const c of s.categories) out.push(`    ${pct(c.share)}  ${c.category}`);
  out.push('  by file (self, top 12):');
  for (const f of s.files.slice(0, 12)) out.push(`    ${pct(f.share)}  ${f.file}`);
  out.push(`  top ${top} functions by self time:`);
  for (const f of s.functions.slice(0, top)) out.push(`    ${pct(f.share)}  ${f.name}  ${f.where}`);
  out.push('  burrow functions by inclusive time (top 15):');
  for (const f of s.burrowInclusive.slice(0, 15)) out.push(`    ${pct(f.share)}  ${f.name}  ${f.where}`);
  return out.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node lib/cpuprofile.mjs FILE.cpuprofile [top]');
    process.exit(2);
  }
  console.log(formatSummary(summarize(JSON.parse(readFileSync(file, 'utf8'))), Number(process.argv[3] ?? 30)));
}
