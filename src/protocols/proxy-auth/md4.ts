/**
 * MD4 (RFC 1320), for the NT hash of NTLM. OpenSSL 3 keeps MD4 in its legacy
 * provider, which Node 20 does not load: `createHash('md4')` throws there, so
 * burrow uses the platform's MD4 when it has one and this implementation
 * otherwise. MD4 is broken as a hash; NTLM needs it anyway, for a password
 * that never leaves the process.
 */
import { createHash } from 'node:crypto';

function rotl(x: number, n: number): number {
  return (x << n) | (x >>> (32 - n));
}

/** MD4 of `data`, computed here (exported for its tests; use {@link md4}). */
export function md4Portable(data: Uint8Array): Buffer {
  const bitLen = data.length * 8;
  const padded = Buffer.alloc((((data.length + 8) >> 6) + 1) * 64);
  padded.set(data);
  padded[data.length] = 0x80;
  padded.writeUInt32LE(bitLen >>> 0, padded.length - 8);
  padded.writeUInt32LE(Math.floor(bitLen / 0x100000000), padded.length - 4);
  let a = 0x67452301;
  let b = 0xefcdab89;
  let c = 0x98badcfe;
  let d = 0x10325476;
  const x = new Array<number>(16);
  const F = (p: number, q: number, r: number): number => (p & q) | (~p & r);
  const G = (p: number, q: number, r: number): number => (p & q) | (p & r) | (q & r);
  const H = (p: number, q: number, r: number): number => p ^ q ^ r;
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) x[i] = padded.readUInt32LE(off + i * 4);
    const aa = a;
    const bb = b;
    const cc = c;
    const dd = d;
    const X = (i: number): number => x[i] as number;
    // Round 1.
    for (const i of [0, 4, 8, 12]) {
      a = rotl((a + F(b, c, d) + X(i)) | 0, 3);
      d = rotl((d + F(a, b, c) + X(i + 1)) | 0, 7);
      c = rotl((c + F(d, a, b) + X(i + 2)) | 0, 11);
      b = rotl((b + F(c, d, a) + X(i + 3)) | 0, 19);
    }
    // Round 2.
    for (const i of [0, 1, 2, 3]) {
      a = rotl((a + G(b, c, d) + X(i) + 0x5a827999) | 0, 3);
      d = rotl((d + G(a, b, c) + X(i + 4) + 0x5a827999) | 0, 5);
      c = rotl((c + G(d, a, b) + X(i + 8) + 0x5a827999) | 0, 9);
      b = rotl((b + G(c, d, a) + X(i + 12) + 0x5a827999) | 0, 13);
    }
    // Round 3.
    for (const i of [0, 2, 1, 3]) {
      a = rotl((a + H(b, c, d) + X(i) + 0x6ed9eba1) | 0, 3);
      d = rotl((d + H(a, b, c) + X(i + 8) + 0x6ed9eba1) | 0, 9);
      c = rotl((c + H(d, a, b) + X(i + 4) + 0x6ed9eba1) | 0, 11);
      b = rotl((b + H(c, d, a) + X(i + 12) + 0x6ed9eba1) | 0, 15);
    }
    a = (a + aa) | 0;
    b = (b + bb) | 0;
    c = (c + cc) | 0;
    d = (d + dd) | 0;
  }
  const out = Buffer.alloc(16);
  out.writeInt32LE(a, 0);
  out.writeInt32LE(b, 4);
  out.writeInt32LE(c, 8);
  out.writeInt32LE(d, 12);
  return out;
}

let platform: boolean | undefined;

/** MD4 of `data`: the platform's when OpenSSL provides it, else {@link md4Portable}. */
export function md4(data: Uint8Array): Buffer {
  if (platform === undefined) {
    try {
      createHash('md4');
      platform = true;
    } catch {
      platform = false;
    }
  }
  return platform ? createHash('md4').update(data).digest() : md4Portable(data);
}
