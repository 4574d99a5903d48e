/**
 * NTLM over HTTP (MS-NLMP, as proxies speak it in `Proxy-Authenticate: NTLM`),
 * sans-I/O, NTLMv2 only: the NEGOTIATE message (type 1) out, the CHALLENGE
 * message (type 2) in, the AUTHENTICATE message (type 3) out. No signing, no
 * sealing, no key exchange: HTTP needs only the authentication.
 *
 * NTLM authenticates a *connection*: type 1, type 2 and type 3 must travel on
 * one kept-alive connection, which is why it cannot run over HTTP/2 CONNECT
 * streams (RFC 9113 §8.2.2 forbids connection-specific authentication).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { md4 } from './md4.js';

const SIGNATURE = Buffer.from('NTLMSSP\0', 'latin1');

/** Negotiate flags (MS-NLMP §2.2.2.5). */
export const NTLM_FLAGS = {
  UNICODE: 0x00000001,
  OEM: 0x00000002,
  REQUEST_TARGET: 0x00000004,
  NTLM: 0x00000200,
  ALWAYS_SIGN: 0x00008000,
  EXTENDED_SESSIONSECURITY: 0x00080000,
  TARGET_INFO: 0x00800000,
} as const;

/** The flags of the NEGOTIATE message burrow sends. */
export const NEGOTIATE_FLAGS = NTLM_FLAGS.UNICODE | NTLM_FLAGS.OEM | NTLM_FLAGS.REQUEST_TARGET | NTLM_FLAGS.NTLM | NTLM_FLAGS.ALWAYS_SIGN | NTLM_FLAGS.EXTENDED_SESSIONSECURITY;

/** The workstation name sent in type 3: fixed, like curl's, so that the host's name does not leak. */
export const NTLM_WORKSTATION = 'WORKSTATION';

/** The NEGOTIATE message (type 1): 32 bytes, no domain, no workstation. */
export function ntlmNegotiate(): Buffer {
  const b = Buffer.alloc(32);
  SIGNATURE.copy(b, 0);
  b.writeUInt32LE(1, 8);
  b.writeUInt32LE(NEGOTIATE_FLAGS, 12);
  // Domain and workstation security buffers: empty, offset at the end of the message.
  b.writeUInt32LE(32, 20);
  b.writeUInt32LE(32, 28);
  return b;
}

/** A CHALLENGE message (type 2), read. */
export interface NtlmChallenge {
  readonly flags: number;
  /** The 8-byte server challenge. */
  readonly serverChallenge: Buffer;
  /** The target information (AV pairs), as sent; empty when absent. */
  readonly targetInfo: Buffer;
}

/** Reads a type 2 message; a string says why it is not one. */
export function parseNtlmChallenge(msg: Buffer): NtlmChallenge | string {
  if (msg.length < 32 || !msg.subarray(0, 8).equals(SIGNATURE)) return 'not an NTLM message';
  if (msg.readUInt32LE(8) !== 2) return `an NTLM type ${msg.readUInt32LE(8)} message where a type 2 was expected`;
  const flags = msg.readUInt32LE(20);
  const serverChallenge = Buffer.from(msg.subarray(24, 32));
  let targetInfo = Buffer.alloc(0);
  // Read only when the flags say it is there: older type 2s (squid's ntlm_fake_auth) are 40 bytes of header
  // followed by the target name, where bytes 40..48 are that name, not a security buffer.
  if (msg.length >= 48 && (flags & NTLM_FLAGS.TARGET_INFO) !== 0) {
    const len = msg.readUInt16LE(40);
    const off = msg.readUInt32LE(44);
    if (len > 0) {
      if (off + len > msg.length || off < 48) return 'the NTLM type 2 target information is out of bounds';
      targetInfo = Buffer.from(msg.subarray(off, off + len));
      // AV pairs must be well formed: id(2) len(2) value, ending with MsvAvEOL.
      let p = 0;
      for (;;) {
        if (p + 4 > targetInfo.length) return 'the NTLM type 2 target information is malformed';
        const id = targetInfo.readUInt16LE(p);
        const l = targetInfo.readUInt16LE(p + 2);
        if (p + 4 + l > targetInfo.length) return 'the NTLM type 2 target information is malformed';
        if (id === 0) break;
        p += 4 + l;
      }
    }
  }
  return { flags, serverChallenge, targetInfo };
}

/** NTOWFv2 (MS-NLMP §3.3.2): HMAC-MD5 of the NT hash over UPPER(user) + domain, UTF-16LE. */
export function ntowfv2(username: string, password: string, domain: string): Buffer {
  const ntHash = md4(Buffer.from(password, 'utf16le'));
  return createHmac('md5', ntHash).update(Buffer.from(username.toUpperCase() + domain, 'utf16le')).digest();
}

/** The timestamp a type 2's target information carries (MsvAvTimestamp), when it has one. */
export function avTimestamp(targetInfo: Buffer): Buffer | undefined {
  let p = 0;
  while (p + 4 <= targetInfo.length) {
    const id = targetInfo.readUInt16LE(p);
    const l = targetInfo.readUInt16LE(p + 2);
    if (id === 0) return undefined;
    if (id === 7 && l === 8) return Buffer.from(targetInfo.subarray(p + 4, p + 12));
    p += 4 + l;
  }
  return undefined;
}

/** Now as a Windows FILETIME (100 ns since 1601-01-01), little-endian. */
export function fileTimeNow(nowMs: number = Date.now()): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE((BigInt(nowMs) + 11644473600000n) * 10000n);
  return b;
}

/** The NTLMv2 and LMv2 responses (MS-NLMP §3.3.2). */
export interface NtlmV2Responses {
  /** NTProofStr followed by the client blob (`temp`). */
  readonly nt: Buffer;
  /** LMv2: HMAC-MD5(key, server challenge + client challenge) + client challenge; zeros when the server sent a timestamp. */
  readonly lm: Buffer;
}

/** Computes the NTLMv2 responses from the key, the challenge, the client challenge and the time. */
export function ntlmV2Responses(key: Buffer, ch: NtlmChallenge, clientChallenge: Buffer, timestamp: Buffer, serverTimestamp: boolean): NtlmV2Responses {
  const temp = Buffer.concat([Buffer.from([1, 1, 0, 0, 0, 0, 0, 0]), timestamp, clientChallenge, Buffer.alloc(4), ch.targetInfo, Buffer.alloc(4)]);
  const proof = createHmac('md5', key).update(Buffer.concat([ch.serverChallenge, temp])).digest();
  const lm = serverTimestamp
    ? Buffer.alloc(24)
    : Buffer.concat([createHmac('md5', key).update(Buffer.concat([ch.serverChallenge, clientChallenge])).digest(), clientChallenge]);
  return { nt: Buffer.concat([proof, temp]), lm };
}

/** What a type 3 is made of. */
export interface NtlmAuthenticateInput {
  readonly challenge: NtlmChallenge;
  readonly username: string;
  readonly password: string;
  readonly domain: string;
  /** Default: {@link NTLM_WORKSTATION}. */
  readonly workstation?: string;
  /** Default: 8 random bytes. */
  readonly clientChallenge?: Buffer;
  /** Default: the server's MsvAvTimestamp, else now. */
  readonly timestamp?: Buffer;
}

/** The AUTHENTICATE message (type 3), NTLMv2, with a 64-byte header (no version, no MIC). */
export function ntlmAuthenticate(i: NtlmAuthenticateInput): Buffer {
  const ch = i.challenge;
  const unicode = (ch.flags & NTLM_FLAGS.UNICODE) !== 0;
  const enc = (s: string): Buffer => Buffer.from(s, unicode ? 'utf16le' : 'latin1');
  const serverTime = avTimestamp(ch.targetInfo);
  const timestamp = i.timestamp ?? serverTime ?? fileTimeNow();
  const clientChallenge = i.clientChallenge ?? randomBytes(8);
  const key = ntowfv2(i.username, i.password, i.domain);
  const { nt, lm } = ntlmV2Responses(key, ch, clientChallenge, timestamp, serverTime !== undefined);
  const domain = enc(i.domain);
  const user = enc(i.username);
  const ws = enc(i.workstation ?? NTLM_WORKSTATION);
  const fields = [lm, nt, domain, user, ws, Buffer.alloc(0)];
  const head = Buffer.alloc(64);
  SIGNATURE.copy(head, 0);
  head.writeUInt32LE(3, 8);
  let off = 64;
  fields.forEach((f, k) => {
    const at = 12 + k * 8;
    head.writeUInt16LE(f.length, at);
    head.writeUInt16LE(f.length, at + 2);
    head.writeUInt32LE(off, at + 4);
    off += f.length;
  });
  const flags = (unicode ? NTLM_FLAGS.UNICODE : NTLM_FLAGS.OEM) | NTLM_FLAGS.REQUEST_TARGET | NTLM_FLAGS.NTLM | NTLM_FLAGS.ALWAYS_SIGN |
    (ch.flags & (NTLM_FLAGS.EXTENDED_SESSIONSECURITY | NTLM_FLAGS.TARGET_INFO));
  head.writeUInt32LE(flags >>> 0, 60);
  return Buffer.concat([head, ...fields]);
}

/** `DOMAIN\user` → its parts; a name without a backslash has the domain given (or none). */
export function splitNtlmUser(username: string, domain: string | undefined): { user: string; domain: string } {
  const bs = username.indexOf('\\');
  if (bs >= 0) return { domain: username.slice(0, bs), user: username.slice(bs + 1) };
  return { user: username, domain: domain ?? '' };
}
