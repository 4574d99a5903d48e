/**
 * The duplex stream view of a WebSocket: the readable side gives each
 * message's bytes as it is read (the server waits while nobody reads); each
 * write is one message. Ending the writable side closes the WebSocket.
 */
import { Duplex } from 'node:stream';
import type { MessageQueue } from './queue.js';

/** What the view needs of its WebSocket. */
export interface DuplexTarget {
  readonly readyState: number;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'close', listener: () => void, options?: { once?: boolean }): void;
}

/** A duplex over `ws`, reading from `queue`. */
export function webSocketDuplex(ws: DuplexTarget, queue: MessageQueue): Duplex {
  let reading = false;
  const whenOpen = (then: (err?: Error | null) => void): void => {
    if (ws.readyState === 1) {
      then();
      return;
    }
    if (ws.readyState > 1) {
      then(new Error('the WebSocket is closed'));
      return;
    }
    ws.addEventListener('open', () => then(), { once: true });
    ws.addEventListener('close', () => then(new Error('the WebSocket closed before it opened')), { once: true });
  };
  const d: Duplex = new Duplex({
    decodeStrings: false,
    read(): void {
      if (reading) return;
      reading = true;
      const pump = (): void => {
        for (;;) {
          let m;
          try {
            m = queue.take();
          } catch (e) {
            reading = false;
            d.destroy(e as Error);
            return;
          }
          if (m === undefined) {
            if (queue.ended) {
              reading = false;
              d.push(null);
              return;
            }
            void queue.ready().then(pump);
            return;
          }
          if (!d.push(typeof m === 'string' ? Buffer.from(m) : m)) {
            reading = false;
            return;
          }
        }
      };
      pump();
    },
    write(chunk: string | Buffer, _enc, cb): void {
      whenOpen((err) => {
        if (err) {
          cb(err);
          return;
        }
        try {
          ws.send(chunk);
          cb();
        } catch (e) {
          cb(e as Error);
        }
      });
    },
    final(cb): void {
      whenOpen((err) => {
        if (err === undefined || err === null) ws.close(1000);
        cb();
      });
    },
    destroy(err, cb): void {
      if (ws.readyState < 2) ws.close(err ? 3000 : 1000);
      cb(err);
    },
  });
  return d;
}
