/**
 * One proxy's authentication, as a state machine, sans-I/O: 407 challenges
 * in, `proxy-authorization` values out. The caller sends the CONNECTs; this
 * decides what each one carries and when to give up.
 *
 * The scheme answered is the strongest one offered that the hop has
 * credentials for and allows: **NTLM > Digest > Basic** (NTLM and Digest never
 * send the password; Basic does). NTLM needs its three messages on one
 * HTTP/1.1 connection, so it is skipped when the CONNECT travels on an
 * HTTP/2 stream. A complete answer refused (Basic, a Digest response, an NTLM
 * type 3) ends the authentication — the credentials are wrong, and a weaker
 * scheme would only expose them more — except preemptive Basic, a guess after
 * which the offered schemes are tried; a Digest `stale=true` is a new nonce,
 * not a refusal. Each 407 answered counts
 * one round (stale ones excepted, which have their own small bound); past
 * `maxRounds` the authentication fails.
 */
import { parseChallenges, type Challenge } from './challenge.js';
import { basicAuthorization } from './basic.js';
import { digestAuthorization, digestStrength, newCnonce, parseDigestChallenge, type DigestChallenge } from './digest.js';
import { ntlmAuthenticate, ntlmNegotiate, parseNtlmChallenge, splitNtlmUser } from './ntlm.js';
import { digestCache, type DigestCacheEntry } from './cache.js';

/** An authentication scheme burrow answers a proxy with. */
export type ProxyAuthScheme = 'basic' | 'digest' | 'ntlm';

/** The schemes, strongest first: the order in which an offered scheme is chosen. */
export const SCHEME_ORDER: readonly ProxyAuthScheme[] = ['ntlm', 'digest', 'basic'];

/** A hop's authentication settings after validation. */
export interface ResolvedProxyAuth {
  readonly username: string;
  readonly password: string;
  /** The NTLM domain (a `DOMAIN\user` name gives its own). */
  readonly domain: string | undefined;
  /** Schemes allowed; default all three. */
  readonly schemes: readonly ProxyAuthScheme[];
  /** Send Basic on the first CONNECT, before any challenge. */
  readonly preemptive: boolean;
  /** 407s answered before giving up. */
  readonly maxRounds: number;
}

/** What the CONNECT carrying the answer travels on: NTLM needs an HTTP/1.1 connection. */
export type AuthCarrier = 'http1' | 'http2';

/** The next step after a 407. */
export type AuthStep =
  | {
      readonly kind: 'send';
      /** The `proxy-authorization` value of the next CONNECT. */
      readonly header: string;
      readonly scheme: ProxyAuthScheme;
      /** The next CONNECT must go on the connection that carried this 407 (NTLM's type 3). */
      readonly sameConnection: boolean;
    }
  | { readonly kind: 'fail'; readonly reason: string; readonly scheme: ProxyAuthScheme | undefined };

/** The `send` step. */
export type SendStep = Extract<AuthStep, { kind: 'send' }>;

/** Stale nonces answered in a row before giving up. */
const MAX_STALE = 3;

interface Sent {
  readonly scheme: ProxyAuthScheme;
  /** Basic, a Digest response, an NTLM type 3: a 407 to it refuses the credentials. */
  readonly complete: boolean;
  /** A Digest answer computed from a cached challenge (its nonce may simply have expired). */
  readonly fromCache: boolean;
  /** Basic sent before any challenge: a guess, whose refusal says nothing of the other schemes. */
  readonly preemptive: boolean;
}

interface DigestState {
  challenge: DigestChallenge;
  nc: number;
  cnonce: string;
}

/** The authentication state of one proxy hop, for one route being opened. */
export class ProxyAuthenticator {
  readonly #auth: ResolvedProxyAuth | undefined;
  readonly #uri: string;
  readonly #cacheKey: string | undefined;
  #rounds = 0;
  #stale = 0;
  readonly #refused = new Set<ProxyAuthScheme>();
  #sent: Sent | undefined;
  /** The scheme chosen after a challenge: a CONNECT on a new connection starts with it. */
  #chosen: ProxyAuthScheme | undefined;
  #digest: DigestState | undefined;

  /**
   * @param auth the hop's credentials and settings, or undefined (a 407 then fails at once)
   * @param uri the CONNECT's request-target, `host:port`
   * @param cacheKey where this proxy's last Digest challenge is kept (hop address + a digest of the credentials)
   */
  constructor(auth: ResolvedProxyAuth | undefined, uri: string, cacheKey: string | undefined) {
    this.#auth = auth;
    this.#uri = uri;
    this.#cacheKey = cacheKey;
  }

  /** 407s answered so far. */
  get rounds(): number {
    return this.#rounds;
  }

  /**
   * The `proxy-authorization` of a CONNECT on a new connection: NTLM's type 1 when NTLM was chosen
   * before; Digest from the proxy's last challenge (nonce reused, nc incremented); preemptive Basic; or none.
   */
  opening(): string | undefined {
    const a = this.#auth;
    this.#sent = undefined;
    if (a === undefined) return undefined;
    if (this.#chosen === 'ntlm') return this.#send('ntlm', false, false, `NTLM ${ntlmNegotiate().toString('base64')}`).header;
    if (this.#chosen === 'basic') return this.#send('basic', true, false, basicAuthorization(a.username, a.password)).header;
    if (a.schemes.includes('digest')) {
      const cached = this.#digest === undefined && this.#cacheKey !== undefined ? digestCache.take(this.#cacheKey) : undefined;
      if (cached !== undefined) this.#digest = { challenge: cached.challenge, nc: cached.nc, cnonce: cached.cnonce };
      if (this.#digest !== undefined) return this.#send('digest', true, cached !== undefined, this.#digestHeader()).header;
    }
    if (a.preemptive && a.schemes.includes('basic')) return this.#send('basic', true, false, basicAuthorization(a.username, a.password), false, true).header;
    return undefined;
  }

  /** A 407 with these `Proxy-Authenticate` lines answered the last CONNECT, sent on `carrier`. */
  challenged(lines: readonly string[], carrier: AuthCarrier): AuthStep {
    const a = this.#auth;
    const { challenges, malformed } = parseChallenges(lines);
    const offered = challenges.map((c) => c.scheme).filter((s, i, all) => all.indexOf(s) === i);
    const offer = offered.length > 0 ? `offered: ${offered.join(', ')}` : 'no challenge offered';
    if (a === undefined) return fail(`the proxy requires authentication (${offer}) and this hop has no credentials`, undefined);
    if (challenges.length === 0) {
      return fail(malformed > 0 ? 'the proxy sent a malformed Proxy-Authenticate challenge' : 'the proxy answered 407 without a Proxy-Authenticate challenge', this.#sent?.scheme);
    }
    const sent = this.#sent;
    const stale = sent?.scheme === 'digest' && challenges.some((c) => c.scheme === 'digest' && c.params.get('stale')?.toLowerCase() === 'true');
    if (stale) {
      if (++this.#stale > MAX_STALE) return fail(`the proxy called the Digest nonce stale ${MAX_STALE + 1} times in a row`, 'digest');
    } else {
      this.#stale = 0;
      if (++this.#rounds > a.maxRounds) return fail(`no success after ${a.maxRounds} rounds`, sent?.scheme);
    }
    if (sent !== undefined) {
      if (sent.scheme === 'ntlm' && !sent.complete) return this.#ntlmType3(challenges, carrier);
      if (sent.complete && !stale && !sent.fromCache) {
        // The credentials themselves were refused: trying a weaker scheme with them would only send the
        // password more openly (Basic after Digest), so this ends here — unless it was preemptive Basic.
        if (!sent.preemptive) return fail(`the proxy refused the ${sent.scheme} credentials`, sent.scheme);
        this.#refused.add(sent.scheme);
      }
      if (sent.scheme === 'digest' && !stale) this.#digest = undefined;
      this.#chosen = undefined;
    }
    return this.#choose(challenges, carrier, offer);
  }

  /** The last CONNECT went through: the Digest challenge is kept for the next CONNECT to this proxy. */
  succeeded(): void {
    if (this.#digest !== undefined && this.#cacheKey !== undefined) {
      const entry: DigestCacheEntry = { challenge: this.#digest.challenge, nc: this.#digest.nc, cnonce: this.#digest.cnonce };
      digestCache.put(this.#cacheKey, entry);
    }
  }

  #choose(challenges: readonly Challenge[], carrier: AuthCarrier, offer: string): AuthStep {
    const a = this.#auth as ResolvedProxyAuth;
    const reasons: string[] = [];
    for (const scheme of SCHEME_ORDER) {
      const mine = challenges.filter((c) => c.scheme === scheme);
      if (mine.length === 0) continue;
      if (!a.schemes.includes(scheme)) {
        reasons.push(`${scheme} is not allowed for this hop`);
        continue;
      }
      if (this.#refused.has(scheme)) {
        reasons.push(`the proxy refused the ${scheme} credentials`);
        continue;
      }
      if (scheme === 'ntlm') {
        if (carrier === 'http2') {
          reasons.push('NTLM authenticates a connection and cannot run over an HTTP/2 CONNECT stream');
          continue;
        }
        this.#chosen = 'ntlm';
        return this.#send('ntlm', false, false, `NTLM ${ntlmNegotiate().toString('base64')}`);
      }
      if (scheme === 'digest') {
        let best: DigestChallenge | undefined;
        for (const c of mine) {
          const d = parseDigestChallenge(c);
          if ('refused' in d) reasons.push(d.refused);
          else if (best === undefined || digestStrength(d.algorithm) > digestStrength(best.algorithm)) best = d;
        }
        if (best === undefined) continue;
        this.#digest = { challenge: best, nc: 0, cnonce: newCnonce() };
        this.#chosen = 'digest';
        return this.#send('digest', true, false, this.#digestHeader());
      }
      this.#chosen = 'basic';
      return this.#send('basic', true, false, basicAuthorization(a.username, a.password));
    }
    const unknown = challenges.every((c) => !SCHEME_ORDER.includes(c.scheme as ProxyAuthScheme));
    if (unknown) return fail(`no scheme burrow can answer (${offer})`, undefined);
    return fail(`no scheme left to answer with (${offer}): ${reasons.join('; ')}`, this.#sent?.scheme);
  }

  #ntlmType3(challenges: readonly Challenge[], carrier: AuthCarrier): AuthStep {
    const a = this.#auth as ResolvedProxyAuth;
    const token = challenges.find((c) => c.scheme === 'ntlm' && c.token68 !== undefined)?.token68;
    if (token === undefined) {
      this.#refused.add('ntlm');
      this.#chosen = undefined;
      return this.#choose(challenges.filter((c) => c.scheme !== 'ntlm'), carrier, 'NTLM answered without a challenge message');
    }
    const ch = parseNtlmChallenge(Buffer.from(token, 'base64'));
    if (typeof ch === 'string') return fail(`the proxy's NTLM challenge is invalid: ${ch}`, 'ntlm');
    const { user, domain } = splitNtlmUser(a.username, a.domain);
    const msg = ntlmAuthenticate({ challenge: ch, username: user, password: a.password, domain });
    return this.#send('ntlm', true, false, `NTLM ${msg.toString('base64')}`, true);
  }

  #digestHeader(): string {
    const a = this.#auth as ResolvedProxyAuth;
    const d = this.#digest as DigestState;
    d.nc++;
    return digestAuthorization({ challenge: d.challenge, username: a.username, password: a.password, method: 'CONNECT', uri: this.#uri, nc: d.nc, cnonce: d.cnonce });
  }

  #send(scheme: ProxyAuthScheme, complete: boolean, fromCache: boolean, header: string, sameConnection = false, preemptive = false): SendStep {
    this.#sent = { scheme, complete, fromCache, preemptive };
    return { kind: 'send', header, scheme, sameConnection };
  }
}

function fail(reason: string, scheme: ProxyAuthScheme | undefined): AuthStep {
  return { kind: 'fail', reason, scheme };
}
