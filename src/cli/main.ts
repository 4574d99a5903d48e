#!/usr/bin/env node
/**
 * The `burrow` command. For now: `burrow demo` (a request and a download
 * against an embedded local HTTPS origin speaking HTTP/2) and `--help`.
 */
import { readFileSync } from 'node:fs';
import { runDemo } from './demo.js';

const USAGE = `burrow — an HTTP client whose connections travel through proxy chains

Usage:
  burrow demo          run a request and a 100 MB download against an embedded
                       local HTTPS origin (HTTP/2, throwaway CA), and print
                       the layers with timings and throughput
  burrow --help        show this help
  burrow --version     print the version

Library: import { open } from 'burrow' (see README.md).
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const [cmd] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (cmd === '--version' || cmd === '-V') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  if (cmd === 'demo') return runDemo(process.stdout);
  process.stderr.write(`burrow: unknown command ${JSON.stringify(cmd)}\n\n${USAGE}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`burrow: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
