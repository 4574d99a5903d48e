/**
 * Fuzz target: the SOCKS5 client codec against what a server sends. The first
 * input byte chooses the request (destination kind, methods offered); the rest
 * is the server's bytes. Outcome: the bytes the client sent, the method, the
 * bound address, the tunnel's bytes (the reply's rest and all that follows),
 * or the typed error. On an error the events of the failing piece are not
 * compared (the handshake is over; nothing more is sent).
 */
import { BurrowError } from '../../../src/errors/errors.js';
import { Socks5Client, type SocksRequest } from '../../../src/protocols/socks5/index.js';
import { FuzzFailure, pieces, type FuzzTarget } from '../engine.js';

const PASSWORD = 'pw\u00a7secret';
const HOSTS = ['example.com', '10.1.2.3', '::1', 'a'.repeat(255)];
const AUTHS: SocksRequest['auth'][] = [['none'], [{ username: 'user', password: PASSWORD }], ['none', { username: 'u', password: PASSWORD }], [{ username: 'u', password: PASSWORD }, 'none']];

function typed(e: unknown): string {
  if (!(e instanceof BurrowError)) throw e;
  if (!e.code.startsWith('ERR_SOCKS')) throw new FuzzFailure(`an unexpected error code ${e.code}: ${e.message}`);
  if (e.message.includes(PASSWORD) || JSON.stringify(e.details).includes(PASSWORD)) throw new FuzzFailure('the password is in the error');
  return `!${e.code}`;
}

function run(input: Buffer, splits: readonly number[]): string {
  const mode = input[0] ?? 0;
  const client = new Socks5Client({ host: HOSTS[mode & 3] as string, port: 443, auth: AUTHS[(mode >> 2) & 3] });
  const sent: Buffer[] = [];
  const out: string[] = [];
  for (const e of client.start()) if (e.kind === 'send') sent.push(e.data);
  let tunnel: Buffer[] | undefined;
  for (const part of pieces(input.subarray(1), splits.map((s) => Math.max(0, s - 1)))) {
    if (tunnel !== undefined) {
      tunnel.push(part);
      continue;
    }
    try {
      for (const e of client.feed(part)) {
        if (e.kind === 'send') sent.push(e.data);
        else if (e.kind === 'method') out.push(`M${e.method}`);
        else {
          out.push(`B${e.bound.addressType} ${e.bound.host} ${e.bound.port}`);
          tunnel = [e.rest];
        }
      }
    } catch (e) {
      return `${typed(e)} ${client.phase}`;
    }
  }
  out.unshift(`S${Buffer.concat(sent).toString('hex')}`);
  if (tunnel !== undefined) out.push(`T${Buffer.concat(tunnel).toString('hex')}`);
  out.push(`P${client.phase}`);
  return out.join('\n');
}

/** The SOCKS5 handshake against a server's bytes. */
export const socks5: FuzzTarget = {
  name: 'socks5',
  streaming: true,
  dictionary: ['\x05', '\x00', '\x01', '\x02', '\x03', '\x04', '\xff', '\x05\x00', '\x05\x02', '\x01\x00', '\x05\x00\x00\x01', '\x05\x00\x00\x03\x0b', '\x05\x00\x00\x04'],
  seeds: () => [
    Buffer.from([0x00, 0x05, 0x00, 0x05, 0x00, 0x00, 0x01, 127, 0, 0, 1, 0x1f, 0x90]),
    Buffer.from([0x04, 0x05, 0x02, 0x01, 0x00, 0x05, 0x00, 0x00, 0x03, 3, 0x61, 0x62, 0x63, 0x00, 0x50, 0x16, 0x03]),
    Buffer.from([0x0a, 0x05, 0x00, 0x05, 0x00, 0x00, 0x04, ...Array.from({ length: 16 }, (_, i) => i), 0x01, 0xbb]),
    Buffer.from([0x01, 0x05, 0x00, 0x05, 0x05, 0x00, 0x01, 0, 0, 0, 0, 0, 0]),
    Buffer.from([0x04, 0x05, 0x02, 0x01, 0x01]),
    Buffer.from([0x00, 0x05, 0xff]),
  ],
  run,
  shape: (o) => o.split('\n').map((l) => (l.startsWith('!') ? l.slice(0, 50) : l.startsWith('M') || l.startsWith('P') ? l : l[0])).join(','),
};
