// Rewrites one marker-delimited section of docs/benchmarks.md, leaving the
// rest of the file (other benchmarks' sections, hand-written text) alone:
//   <!-- bench:NAME --> ... <!-- /bench:NAME -->
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

const HEADER = `# Benchmarks

Measured figures for burrow, each next to a peer client measured in the same run. Every section
between \`<!-- bench:NAME -->\` markers is rewritten by the script it names (in \`bench/\`); do not
edit inside the markers by hand. How to run them: \`bench/README.md\`.
`;

export const DOCS_FILE = new URL('../../docs/benchmarks.md', import.meta.url);

export function writeSection(name, body, file = DOCS_FILE) {
  const open = `<!-- bench:${name} -->`;
  const close = `<!-- /bench:${name} -->`;
  const block = `${open}\n${body.trimEnd()}\n${close}`;
  let text = existsSync(file) ? readFileSync(file, 'utf8') : HEADER;
  const a = text.indexOf(open);
  const b = text.indexOf(close);
  if (a >= 0 && b > a) {
    text = text.slice(0, a) + block + text.slice(b + close.length);
  } else {
    text = `${text.trimEnd()}\n\n${block}\n`;
  }
  const tmp = new URL(`${file.href}.tmp-${process.pid}`);
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}
