/**
 * Fuzz target: the SOCKS4 / SOCKS4a client codec against what a server sends.
 * The first input byte chooses the request (SOCKS4 to an IPv4 address, SOCKS4a
 * to a name or a 255-byte name, with or without a user id); the rest is the
 * server's bytes. Outcome: the request kind and bytes sent, the bound address,
 * the tunnel's bytes (the reply's rest and all that follows), or the typed
 * error with its reason (stage `socks-reply`, the user id never in it).
 */
import { BurrowError } from '../../../src/errors/errors.js';
import { Socks4Client, type Socks4Request } from '../../../src/protocols/socks4/index.js';
import { FuzzFailure, pieces, type FuzzTarget } from '../engine.js';

const USER_ID = 'uid\u00a7marker';
const REQUESTS: Socks4Request[] = [
  { host: '10.1.2.3', port: 443 },
  { host: '10.1.2.3', port: 443, userId: USER_ID },
  { host: 'example.com', port: 80, version: '4a' },
  { host: 'a'.repeat(255), port: 8080, version: '4a', userId: USER_ID },
];

function typed(e: unknown): string {
  if (!(e instanceof BurrowError)) throw e;
  if (e.code !== 'ERR_SOCKS_REPLY' && e.code !== 'ERR_SOCKS_PROTOCOL') throw new FuzzFailure(`an unexpected error code ${e.code}: ${e.message}`);
  if (e.stage !== 'socks-reply') throw new FuzzFailure(`an error at stage ${e.stage}: ${e.message}`);
  if (e.message.includes(USER_ID) || JSON.stringify(e.details).includes(USER_ID)) throw new FuzzFailure('the user id is in the error');
  const why = typeof e.details['replyName'] === 'string' ? e.details['replyName'] : typeof e.details['version'] === 'number' ? 'version' : 'closed';
  return `!${e.code} ${why}`;
}

function run(input: Buffer, splits: readonly number[]): string {
  const mode = (input[0] ?? 0) & 3;
  const client = new Socks4Client(REQUESTS[mode] as Socks4Request);
  const out: string[] = [`R${mode}`];
  for (const e of client.start()) if (e.kind === 'send') out.push(`S${e.data.toString('hex')}`);
  let tunnel: Buffer[] | undefined;
  for (const part of pieces(input.subarray(1), splits.map((s) => Math.max(0, s - 1)))) {
    if (tunnel !== undefined) {
      tunnel.push(part);
      continue;
    }
    try {
      for (const e of client.feed(part)) {
        if (e.kind === 'done') {
          out.push(`B${e.bound.host} ${e.bound.port}`);
          tunnel = [e.rest];
        }
      }
    } catch (e) {
      return `R${mode}\n${typed(e)} ${client.phase}`;
    }
  }
  if (tunnel !== undefined) out.push(`T${Buffer.concat(tunnel).toString('hex')}`);
  out.push(`P${client.phase}`);
  return out.join('\n');
}

/** The SOCKS4 / SOCKS4a handshake against a server's bytes. */
export const socks4: FuzzTarget = {
  name: 'socks4',
  streaming: true,
  dictionary: ['\x00', '\x5a', '\x5b', '\x5c', '\x5d', '\x04', '\x05', '\x00\x5a', '\x00\x5b', '\x00\x5a\x00\x00\x00\x00\x00\x00'],
  seeds: () => [
    Buffer.from([0x00, 0x00, 0x5a, 0x00, 0x00, 0, 0, 0, 0]),
    Buffer.from([0x02, 0x00, 0x5a, 0x1f, 0x90, 127, 0, 0, 1, 0x16, 0x03, 0x01]),
    Buffer.from([0x01, 0x00, 0x5b, 0x00, 0x00, 0, 0, 0, 0]),
    Buffer.from([0x03, 0x00, 0x5d]),
    Buffer.from([0x00, 0x05, 0x00]),
  ],
  run,
  // The request kind, the error with its reason, the phase, and whether the tunnel got bytes with the reply.
  shape: (o) => o.split('\n').map((l) => (l.startsWith('!') || l.startsWith('R') || l.startsWith('P') ? l.slice(0, 60) : l.startsWith('T') ? (l.length > 1 ? 'T+' : 'T') : l[0])).join(','),
};
