/**
 * Runs a SOCKS4 or SOCKS4a handshake (the sans-I/O codec in ./codec) over a
 * duplex. On success the duplex is left paused, with the bytes read past the
 * reply put back, ready for the next layer.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { BurrowError, type HopInfo } from '../../errors/errors.js';
import type { ResolvedSocks } from '../../shared/options/hop.js';
import { withTimeout, type StepContext } from '../../transport/timeout.js';
import { Socks4Client, type Socks4Bound } from './codec.js';

/** A SOCKS4 handshake that succeeded. */
export interface Socks4Result {
  /** DSTIP / DSTPORT of the reply. */
  readonly bound: Socks4Bound;
  /** Bytes read past the reply and put back into the duplex: they belong to the next layer. */
  readonly rest: number;
}

/**
 * Asks the SOCKS4 server at the end of `duplex` to connect to `socks.next`
 * (`socks.version` 4 or `'4a'`, the USERID `socks.userId`). Stage
 * `socks-reply`; a timeout covers the whole handshake (`ERR_SOCKS_TIMEOUT`).
 */
export function socks4Handshake(ctx: StepContext, duplex: Socket | Duplex, socks: ResolvedSocks): Promise<Socks4Result> {
  const label = socks.version === '4a' ? 'SOCKS4a' : 'SOCKS4';
  let cleanup = (): void => undefined;
  const run = (): Promise<Socks4Result> =>
    new Promise<Socks4Result>((resolve, reject) => {
      let client: Socks4Client;
      try {
        client = new Socks4Client({ host: socks.next.host, port: socks.next.port, userId: socks.userId, version: socks.version === '4a' ? '4a' : 4 });
      } catch (e) {
        reject(e instanceof BurrowError && e.hop === undefined ? e.withHop(ctx.hop) : e);
        return;
      }
      const fail = (e: BurrowError): void => {
        cleanup();
        duplex.destroy();
        reject(e.hop ? e : e.withHop(ctx.hop));
      };
      const onData = (chunk: Buffer): void => {
        let events;
        try {
          events = client.feed(chunk);
        } catch (e) {
          fail(e instanceof BurrowError ? e : new BurrowError('ERR_SOCKS_PROTOCOL', String(e), { stage: 'socks-reply', hop: ctx.hop, cause: e }));
          return;
        }
        for (const ev of events) {
          if (ev.kind !== 'done') continue;
          cleanup();
          duplex.pause();
          if (ev.rest.length > 0) duplex.unshift(ev.rest);
          resolve({ bound: ev.bound, rest: ev.rest.length });
        }
      };
      const onEnd = (): void => fail(closedError(ctx.hop, label));
      const onError = (err: Error): void => {
        const e = closedError(ctx.hop, label);
        fail(new BurrowError(e.code, `${e.message}: ${err.message}`, { stage: e.stage, hop: ctx.hop, cause: err, details: e.details }));
      };
      cleanup = () => {
        duplex.removeListener('data', onData);
        duplex.removeListener('end', onEnd);
        duplex.removeListener('close', onEnd);
        duplex.removeListener('error', onError);
      };
      duplex.on('data', onData);
      duplex.on('end', onEnd);
      duplex.on('close', onEnd);
      duplex.on('error', onError);
      for (const ev of client.start()) if (ev.kind === 'send') duplex.write(ev.data);
      duplex.resume();
    });
  return withTimeout(ctx, socks.handshakeTimeout, 'ERR_SOCKS_TIMEOUT', `${label} handshake`, 'socks-reply', run, () => {
    cleanup();
    duplex.destroy();
  });
}

function closedError(hop: HopInfo, label: string): BurrowError {
  return new BurrowError('ERR_SOCKS_PROTOCOL', `the ${label} server closed the connection before its reply`, { stage: 'socks-reply', hop, details: { phase: 'connect' } });
}
