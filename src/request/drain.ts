/**
 * Dropping the body of a response that is not handed to the caller (a
 * redirect followed, a response retried) so that its connection can carry
 * the next request: an HTTP/1.1 body is read to its end when it is short and
 * arrives soon; otherwise, and over HTTP/2, the stream is cancelled.
 */
import type { Response } from './response.js';

/** Bytes of an HTTP/1.1 body read to keep its connection; past this the connection is closed instead. */
const DRAIN_BYTES = 64 * 1024;
/** How long an HTTP/1.1 body may take to end before its connection is closed instead, ms. */
const DRAIN_MS = 1000;

/** Drops `res`'s body; resolves once its connection is back in the pool or closed. Never rejects. */
export function drain(res: Response): Promise<void> {
  // Cancelling an HTTP/2 stream leaves its connection usable; a body that has already ended costs nothing either way.
  if (res.version === '2') {
    res.cancel();
    return Promise.resolve();
  }
  const it = res.body[Symbol.asyncIterator]();
  return new Promise<void>((resolve) => {
    let bytes = 0;
    let done = false;
    const stop = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      stop();
      void it.return?.();
    }, DRAIN_MS);
    const step = (): void => {
      it.next().then((r) => {
        if (r.done === true || done) return stop();
        bytes += r.value.length;
        if (bytes > DRAIN_BYTES) {
          stop();
          void it.return?.();
          return;
        }
        step();
      }, stop);
    };
    step();
  });
}
