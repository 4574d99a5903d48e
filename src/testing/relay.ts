/**
 * The far side of a test proxy's tunnel: connecting to the target and
 * relaying bytes between it and the client.
 */
import * as net from 'node:net';
import type { Listener } from './listen.js';

/** How long a proxy waits for a target to accept before it gives up (and refuses the tunnel). */
const TARGET_CONNECT_TIMEOUT_MS = 10_000;

/**
 * Connects to a tunnel's target (`localhost` means 127.0.0.1), allowing
 * half-open; resolves with the connected socket, or with the error (code
 * `ETIMEDOUT` when it did not accept in time). The socket is tracked by
 * `listener`, so that closing the proxy destroys it.
 */
export function connectTarget(host: string, port: number, listener: Listener): Promise<net.Socket | Error> {
  return new Promise((resolve) => {
    const target = net.connect({ host: host.toLowerCase() === 'localhost' ? '127.0.0.1' : host, port, allowHalfOpen: true });
    listener.trackOutgoing(target);
    target.setNoDelay(true);
    target.setTimeout(TARGET_CONNECT_TIMEOUT_MS, () => target.destroy(Object.assign(new Error('target connect timed out'), { code: 'ETIMEDOUT' })));
    const onError = (e: Error): void => {
      target.destroy();
      resolve(e);
    };
    target.once('error', onError);
    target.once('connect', () => {
      target.setTimeout(0);
      target.off('error', onError);
      // Until the relay starts (a reply may still be written slowly), a target error must not crash the proxy.
      target.on('error', () => target.destroy());
      resolve(target);
    });
  });
}

/**
 * Relays bytes both ways between two sockets (opened with `allowHalfOpen`):
 * one side's end ends the other side's writes, and either side failing or
 * closing destroys both.
 */
export function relay(a: net.Socket, b: net.Socket): void {
  const kill = (): void => {
    a.destroy();
    b.destroy();
  };
  a.on('error', kill);
  b.on('error', kill);
  a.once('close', kill);
  b.once('close', kill);
  a.pipe(b);
  b.pipe(a);
}
