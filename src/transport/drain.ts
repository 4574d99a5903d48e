/**
 * Backpressure for `data()`: resolves when a writable can take more (its
 * `drain`), or when it closed (nothing more will be taken). Never rejects.
 */
import type { Writable } from 'node:stream';

/** Resolves at once when `ok` (the last write was accepted), else on `drain` or `close`. */
export function whenWritable(stream: Writable, ok: boolean): Promise<void> {
  if (ok) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      stream.removeListener('drain', done);
      stream.removeListener('close', done);
      resolve();
    };
    stream.once('drain', done);
    stream.once('close', done);
  });
}
