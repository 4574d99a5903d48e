/**
 * Request bodies from the command line: `-d` (literals and `@file`, joined
 * with `&`), `--data-binary STRING` and `--data-binary @FILE` (streamed from
 * the file, never read whole; `@-` streams stdin).
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { DataSource } from './args.js';

/** Reading the request body failed: exit code 26. */
export class ReadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ReadError';
  }
}

/** A body ready to send, and how to send it again (redirects 307 and 308). */
export interface PreparedBody {
  /** A new body for one request. */
  open(): string | AsyncIterable<Uint8Array>;
  /** Its length when known (sent as content-length). */
  readonly length: number | undefined;
  /** The content-type sent when the user gives none. */
  readonly contentType: string | undefined;
  /** False for stdin: it cannot be read twice. */
  readonly replayable: boolean;
}

/** The file's chunks; a reading error becomes a {@link ReadError} (the request fails with it as its cause). */
async function* streamFile(path: string): AsyncGenerator<Uint8Array, void, undefined> {
  const stream = path === '-' ? process.stdin : createReadStream(path, { highWaterMark: 256 * 1024 });
  try {
    for await (const chunk of stream) yield typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
  } catch (e) {
    throw new ReadError(`reading ${path === '-' ? 'stdin' : path} failed: ${(e as Error).message}`, { cause: e });
  }
}

/** Reads `-d @file` values and checks `--data-binary @FILE`; rejects with a {@link ReadError}. */
export async function prepareBody(data: DataSource): Promise<PreparedBody> {
  if (data.kind === 'form') {
    const parts: string[] = [];
    for (const p of data.parts) {
      if (p.kind === 'literal') parts.push(p.value);
      else {
        try {
          const text = p.path === '-' ? await readStdin() : await readFile(p.path, 'utf8');
          parts.push(text.replace(/[\r\n]/g, ''));
        } catch (e) {
          throw new ReadError(`reading ${p.path} for -d failed: ${(e as Error).message}`, { cause: e });
        }
      }
    }
    const body = parts.join('&');
    return { open: () => body, length: Buffer.byteLength(body), contentType: 'application/x-www-form-urlencoded', replayable: true };
  }
  if (data.kind === 'binary-string') {
    const body = data.value;
    return { open: () => body, length: Buffer.byteLength(body), contentType: 'application/x-www-form-urlencoded', replayable: true };
  }
  const path = data.path;
  let length: number | undefined;
  if (path !== '-') {
    try {
      const s = await stat(path);
      if (s.isDirectory()) throw new Error('is a directory');
      if (s.isFile()) length = s.size;
    } catch (e) {
      throw new ReadError(`cannot read ${path} for --data-binary: ${(e as Error).message}`, { cause: e });
    }
  }
  let opened = false;
  return {
    open: () => {
      if (opened && path === '-') throw new ReadError('stdin cannot be sent twice');
      opened = true;
      return streamFile(path);
    },
    length,
    contentType: 'application/x-www-form-urlencoded',
    replayable: path !== '-',
  };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}
