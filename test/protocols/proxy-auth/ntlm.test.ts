// NTLM (MS-NLMP §4.2.4, NTLMv2 test vectors) and MD4 (RFC 1320 §A.5), byte for byte.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { md4, md4Portable } from '../../../src/protocols/proxy-auth/md4.js';
import { avTimestamp, fileTimeNow, ntlmAuthenticate, ntlmNegotiate, ntowfv2, parseNtlmChallenge, splitNtlmUser, type NtlmChallenge } from '../../../src/protocols/proxy-auth/ntlm.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const TARGET_INFO = '02000c0044006f006d00610069006e0001000c0053006500720076006500720000000000';
// MS-NLMP §4.2.4.3: the CHALLENGE message.
const CHALLENGE = hex(`4e544c4d53535000020000000c000c003800000033828ae20123456789abcdef00000000000000002400240044000000060070170000000f
  53006500720076006500720002000c0044006f006d00610069006e0001000c0053006500720076006500720000000000`);

describe('MD4', () => {
  const vectors: Array<[string, string]> = [
    ['', '31d6cfe0d16ae931b73c59d7e0c089c0'],
    ['a', 'bde52cb31de33e46245e05fbdbd6fb24'],
    ['abc', 'a448017aaf21d8525fc10ae87aa6729d'],
    ['message digest', 'd9130a8164549fe818874806e1c7014b'],
    ['abcdefghijklmnopqrstuvwxyz', 'd79e1c308aa5bbcdeea8ed63df412da9'],
    ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', '043f8582f241db351ce627e153e7f0e4'],
    ['1234567890'.repeat(8), 'e33b4ddc9c38f2199c3e7b164fcc0536'],
  ];
  it('RFC 1320 §A.5 test suite, portable and platform', () => {
    for (const [input, digest] of vectors) {
      assert.equal(md4Portable(Buffer.from(input)).toString('hex'), digest, input);
      assert.equal(md4(Buffer.from(input)).toString('hex'), digest, input);
    }
  });
  it('the NT hash of "Password" (MS-NLMP §4.2.2.1.2, NTOWFv1)', () => {
    assert.equal(md4(Buffer.from('Password', 'utf16le')).toString('hex'), 'a4f49c406510bdcab6824ee7c30fd852');
  });
});

describe('NTLM', () => {
  it('NEGOTIATE (type 1): exact bytes', () => {
    assert.equal(ntlmNegotiate().toString('hex'), '4e544c4d53535000' + '01000000' + '07820800' + '0000000020000000' + '0000000020000000');
  });

  it('reads the §4.2.4.3 CHALLENGE message', () => {
    const ch = parseNtlmChallenge(CHALLENGE);
    assert.ok(typeof ch !== 'string');
    assert.equal(ch.flags, 0xe28a8233);
    assert.equal(ch.serverChallenge.toString('hex'), '0123456789abcdef');
    assert.equal(ch.targetInfo.toString('hex'), TARGET_INFO);
    assert.equal(avTimestamp(ch.targetInfo), undefined);
  });

  it('regression: a type 2 without the target-info flag (squid ntlm_fake_auth: 40-byte header, garbage offsets) is read without target info', () => {
    const squid = Buffer.from('TlRMTVNTUAACAAAACQAJAK6qqqoHgggAI0EJWloCXpkAAAAAAAA6AFdPUktHUk9VUA==', 'base64');
    const ch = parseNtlmChallenge(squid);
    assert.ok(typeof ch !== 'string', String(ch));
    assert.equal(ch.serverChallenge.toString('hex'), '2341095a5a025e99');
    assert.equal(ch.targetInfo.length, 0);
    const m = ntlmAuthenticate({ challenge: ch, username: 'bob', password: 'x', domain: 'CORP', clientChallenge: Buffer.alloc(8, 1), timestamp: Buffer.alloc(8) });
    assert.equal(m.readUInt16LE(20), 16 + 28 + 4);
  });

  it('refuses what is not a well-formed type 2', () => {
    assert.equal(parseNtlmChallenge(Buffer.from('nope')), 'not an NTLM message');
    assert.match(String(parseNtlmChallenge(ntlmNegotiate())), /type 1/);
    const bad = Buffer.from(CHALLENGE);
    bad.writeUInt32LE(200, 44);
    assert.match(String(parseNtlmChallenge(bad)), /out of bounds/);
    const trunc = Buffer.from(CHALLENGE);
    trunc.writeUInt16LE(0x30, 72 - 4 + 2);
    assert.match(String(parseNtlmChallenge(trunc)), /malformed|out of bounds/);
  });

  it('NTOWFv2 (§4.2.4.1.1)', () => {
    assert.equal(ntowfv2('User', 'Password', 'Domain').toString('hex'), '0c868a403bfd7a93a3001ef22ef02e3f');
  });

  it('AUTHENTICATE (type 3) with the §4.2.4 inputs: LMv2 and NTLMv2 responses exact (§4.2.4.2.1, §4.2.4.2.2), the whole message exact', () => {
    const ch = parseNtlmChallenge(CHALLENGE) as NtlmChallenge;
    const m = ntlmAuthenticate({ challenge: ch, username: 'User', password: 'Password', domain: 'Domain', clientChallenge: Buffer.alloc(8, 0xaa), timestamp: Buffer.alloc(8) });
    const lm = '86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa';
    const nt = '68cd0ab851e51c96aabc927bebef6a1c' + '0101000000000000' + '0000000000000000' + 'aaaaaaaaaaaaaaaa' + '00000000' + TARGET_INFO + '00000000';
    const u16 = (s: string): string => Buffer.from(s, 'utf16le').toString('hex');
    const secbuf = (len: number, off: number): string => {
      const b = Buffer.alloc(8);
      b.writeUInt16LE(len, 0);
      b.writeUInt16LE(len, 2);
      b.writeUInt32LE(off, 4);
      return b.toString('hex');
    };
    const ntLen = nt.length / 2;
    const expected =
      '4e544c4d53535000' + '03000000' +
      secbuf(24, 64) + secbuf(ntLen, 88) + secbuf(12, 88 + ntLen) + secbuf(8, 100 + ntLen) + secbuf(22, 108 + ntLen) + secbuf(0, 130 + ntLen) +
      '05828800' + lm + nt + u16('Domain') + u16('User') + u16('WORKSTATION');
    assert.equal(m.toString('hex'), expected);
  });

  it('uses the server timestamp when the target info has one, with an all-zero LMv2 response', () => {
    const ti = hex('0700080001020304050607080000' + '0000');
    const ch: NtlmChallenge = { flags: 1, serverChallenge: Buffer.alloc(8, 1), targetInfo: ti.subarray(0, 16) };
    assert.equal(avTimestamp(ch.targetInfo)?.toString('hex'), '0102030405060708');
    const m = ntlmAuthenticate({ challenge: ch, username: 'u', password: 'p', domain: '', clientChallenge: Buffer.alloc(8, 2) });
    const lmOff = m.readUInt32LE(16);
    assert.deepEqual(m.subarray(lmOff, lmOff + 24), Buffer.alloc(24));
    const ntOff = m.readUInt32LE(24);
    assert.equal(m.subarray(ntOff + 24, ntOff + 32).toString('hex'), '0102030405060708');
  });

  it('DOMAIN\\user, FILETIME', () => {
    assert.deepEqual(splitNtlmUser('CORP\\alice', 'X'), { domain: 'CORP', user: 'alice' });
    assert.deepEqual(splitNtlmUser('alice', 'X'), { domain: 'X', user: 'alice' });
    assert.deepEqual(splitNtlmUser('alice', undefined), { domain: '', user: 'alice' });
    assert.equal(fileTimeNow(0).readBigUInt64LE(), 116444736000000000n);
  });
});
