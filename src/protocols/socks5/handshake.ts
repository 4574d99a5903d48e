/**
 * Runs a SOCKS5 handshake (the sans-I/O codec in ./codec) over a duplex. On
 * success the duplex is left paused, with the bytes read past the reply put
 * back, ready for the next layer.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { BurrowError, type HopInfo } from '../../errors/errors.js';
import type { ResolvedSocks } from '../../shared/options/hop.js';
import { withTimeout, type StepContext } from '../../transport/timeout.js';
import { Socks5Client, type SocksBound, type SocksEvent } from './codec.js';

/** A SOCKS5 handshake that succeeded. */
export interface SocksResult {
  /** The address the server reported it bound. */
  readonly bound: SocksBound;
  /** The authentication method the server chose. */
  readonly method: 'none' | 'username-password';
  /** Bytes read past the reply and put back into the duplex: they belong to the next layer. */
  readonly rest: number;
}

/**
 * Asks the SOCKS server at the end of `duplex` to connect to `socks.next`.
 * Stages `socks-auth` / `socks-reply`; a timeout covers the whole handshake and
 * names the phase it stopped in (`details.during`). `onAuthenticated` is told
 * the method the server chose once authentication is over (the CONNECT is sent).
 */
export function socks5Handshake(ctx: StepContext, duplex: Socket | Duplex, socks: ResolvedSocks, onAuthenticated?: (method: SocksResult['method']) => void): Promise<SocksResult> {
  let cleanup = (): void => undefined;
  let current: Socks5Client | undefined;
  const run = (): Promise<SocksResult> =>
    new Promise<SocksResult>((resolve, reject) => {
      let method: SocksResult['method'] = 'none';
      let client: Socks5Client;
      try {
        client = new Socks5Client({ host: socks.next.host, port: socks.next.port, auth: socks.auth });
        current = client;
      } catch (e) {
        reject(e);
        return;
      }
      const fail = (e: BurrowError): void => {
        cleanup();
        duplex.destroy();
        reject(e.hop ? e : new BurrowError(e.code, e.message, { stage: e.stage, hop: ctx.hop, cause: e.cause, details: e.details }));
      };
      let authenticated = false;
      const apply = (events: SocksEvent[]): void => {
        for (const ev of events) {
          if (ev.kind === 'send') duplex.write(ev.data);
          else if (ev.kind === 'method') method = ev.method;
          else if (ev.kind === 'done') {
            cleanup();
            duplex.pause();
            if (ev.rest.length > 0) duplex.unshift(ev.rest);
            resolve({ bound: ev.bound, method, rest: ev.rest.length });
          }
        }
        if (!authenticated && client.phase === 'connect') {
          authenticated = true;
          onAuthenticated?.(method);
        }
      };
      const onData = (chunk: Buffer): void => {
        try {
          apply(client.feed(chunk));
        } catch (e) {
          fail(e instanceof BurrowError ? e : new BurrowError('ERR_SOCKS_PROTOCOL', String(e), { stage: 'socks-reply', hop: ctx.hop, cause: e }));
        }
      };
      const onEnd = (): void => {
        fail(closedError(ctx.hop, client.phase));
      };
      const onError = (err: Error): void => {
        const e = closedError(ctx.hop, client.phase);
        fail(new BurrowError(e.code, `${e.message}: ${err.message}`, { stage: e.stage, hop: ctx.hop, cause: err }));
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
      apply(client.start());
      duplex.resume();
    });
  return withTimeout(ctx, socks.handshakeTimeout, 'ERR_SOCKS_TIMEOUT', 'SOCKS5 handshake', () => (current?.phase === 'connect' ? 'socks-reply' : 'socks-auth'), run, () => {
    cleanup();
    duplex.destroy();
  });
}

function closedError(hop: HopInfo, phase: string): BurrowError {
  return new BurrowError('ERR_SOCKS_PROTOCOL', `the SOCKS5 server closed the connection during the ${phase} phase`, {
    stage: phase === 'connect' ? 'socks-reply' : 'socks-auth',
    hop,
    details: { phase },
  });
}
