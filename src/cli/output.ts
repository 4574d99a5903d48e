/**
 * Where the response goes: stdout or a file, written chunk by chunk with
 * backpressure (the body is never held whole), and a progress bar.
 */
import { open, type FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';

/** Writing the output failed: exit code 23. */
export class WriteError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WriteError';
  }
}

/** An output. */
export interface Sink {
  /** Resolves when more may be written; rejects with a {@link WriteError}. */
  write(chunk: Buffer): Promise<void>;
  /** Flushes and closes (stdout is flushed, not closed); a file not written yet is created empty. Once only. */
  close(): Promise<void>;
  /** After a failure: closes what is open, creates nothing, never rejects. */
  abort(): Promise<void>;
}

/** A sink over a stream (stdout): waits for 'drain' when the stream's buffer is full. */
export function streamSink(stream: Writable, name: string): Sink {
  let failure: WriteError | undefined;
  const onError = (e: Error): void => {
    failure ??= new WriteError(`writing to ${name} failed: ${e.message}`, { cause: e });
  };
  stream.on('error', onError);
  const wait = (event: 'drain' | 'finish'): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const done = (): void => {
        stream.off(event, done);
        stream.off('error', fail);
        stream.off('close', done);
        if (failure) reject(failure);
        else resolve();
      };
      const fail = (): void => done();
      stream.once(event, done);
      stream.once('error', fail);
      stream.once('close', done);
    });
  return {
    async write(chunk) {
      if (failure) throw failure;
      if (!stream.write(chunk)) await wait('drain');
      if (failure) throw failure;
    },
    async close() {
      if (failure) throw failure;
      // Flushed when the write buffer is empty.
      if (stream.writableLength > 0) await wait('drain');
      stream.off('error', onError);
      if (failure) throw failure;
    },
    async abort() {
      stream.off('error', onError);
    },
  };
}

/** A sink over a file, created (truncated) on the first write or close. */
export function fileSink(path: string): Sink {
  let fh: FileHandle | undefined;
  let opening: Promise<FileHandle> | undefined;
  let closed = false;
  const handle = async (): Promise<FileHandle> => {
    if (fh) return fh;
    opening ??= open(path, 'w');
    try {
      fh = await opening;
      return fh;
    } catch (e) {
      throw new WriteError(`cannot create ${path}: ${(e as Error).message}`, { cause: e });
    }
  };
  return {
    async write(chunk) {
      const h = await handle();
      try {
        let off = 0;
        while (off < chunk.length) {
          const { bytesWritten } = await h.write(chunk, off, chunk.length - off);
          off += bytesWritten;
        }
      } catch (e) {
        throw new WriteError(`writing to ${path} failed: ${(e as Error).message}`, { cause: e });
      }
    },
    async close() {
      if (closed) return;
      const h = await handle();
      closed = true;
      try {
        await h.close();
      } catch (e) {
        throw new WriteError(`closing ${path} failed: ${(e as Error).message}`, { cause: e });
      }
    },
    async abort() {
      if (closed) return;
      closed = true;
      const h = fh ?? (opening ? await opening.catch(() => undefined) : undefined);
      await h?.close().catch(() => undefined);
    },
  };
}

function size(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

const BAR = 30;
const REDRAW_MS = 100;

/** A one-line progress bar redrawn in place (`\r`) at most every 100 ms. */
export class ProgressBar {
  readonly #write: (s: string) => void;
  readonly #total: number | undefined;
  readonly #start = Date.now();
  #last = 0;
  #bytes = 0;
  #drawn = false;

  constructor(write: (s: string) => void, total: number | undefined) {
    this.#write = write;
    this.#total = total !== undefined && total > 0 ? total : undefined;
  }

  add(n: number): void {
    this.#bytes += n;
    const now = Date.now();
    if (now - this.#last >= REDRAW_MS) {
      this.#last = now;
      this.#draw(now);
    }
  }

  /** Draws the final state and ends the line. */
  finish(): void {
    this.#draw(Date.now());
    if (this.#drawn) this.#write('\n');
  }

  #draw(now: number): void {
    const secs = Math.max((now - this.#start) / 1000, 0.001);
    const rate = `${size(this.#bytes / secs)}/s`;
    let line: string;
    if (this.#total !== undefined) {
      const frac = Math.min(this.#bytes / this.#total, 1);
      const full = Math.round(frac * BAR);
      line = `${(frac * 100).toFixed(1).padStart(5)}% [${'#'.repeat(full)}${'.'.repeat(BAR - full)}] ${size(this.#bytes)} / ${size(this.#total)}  ${rate}`;
    } else {
      line = `${size(this.#bytes)}  ${rate}`;
    }
    this.#write(`\r${line.padEnd(72)}`);
    this.#drawn = true;
  }
}
