/**
 * A proxy hop's `auth` option: what it may hold, its check, and the settings
 * it resolves to together with the credentials of the hop's URL.
 */
import { invalidOption } from '../../errors/errors.js';
import { checkInt, checkKeys, isObject } from '../../shared/options/validate.js';
import { SCHEME_ORDER, type ProxyAuthScheme, type ResolvedProxyAuth } from './authenticator.js';

/** Authentication to one CONNECT proxy (`via` entries' `auth`; docs/proxy-auth.md). */
export interface ProxyAuthOptions {
  /** User name; default the one in the hop's URL. `DOMAIN\user` gives NTLM its domain. */
  username?: string;
  /** Password; default the one in the hop's URL. */
  password?: string;
  /** NTLM domain, when the user name does not carry one. */
  domain?: string;
  /** Schemes allowed, in any order (the strongest offered wins: NTLM > Digest > Basic); default all three. */
  schemes?: readonly ProxyAuthScheme[];
  /** Send Basic on the first CONNECT, before any challenge; default true when Basic is allowed. */
  preemptive?: boolean;
  /** 407 answers answered before failing with `ERR_PROXY_AUTH`; default 3, 1 to 10. */
  maxRounds?: number;
}

/** The default bound on 407 rounds. */
export const DEFAULT_MAX_ROUNDS = 3;

/**
 * The settings of one hop: from its `auth` option, with the URL's credentials as defaults.
 * Undefined when the hop has no credentials at all. Throws `ERR_INVALID_OPTION` naming `name`.
 */
export function resolveProxyAuth(name: string, v: unknown, urlUser: string | undefined, urlPassword: string | undefined): ResolvedProxyAuth | undefined {
  if (v === undefined) {
    if (urlUser === undefined) return undefined;
    return { username: urlUser, password: urlPassword ?? '', domain: undefined, schemes: SCHEME_ORDER, preemptive: true, maxRounds: DEFAULT_MAX_ROUNDS };
  }
  if (!isObject(v)) throw invalidOption(name, 'must be an object { username, password, domain, schemes, preemptive, maxRounds }');
  checkKeys(name, v, ['username', 'password', 'domain', 'schemes', 'preemptive', 'maxRounds']);
  const username = v['username'] ?? urlUser;
  const password = v['password'] ?? urlPassword ?? '';
  if (typeof username !== 'string' || username.length === 0) throw invalidOption(`${name}.username`, "must be a non-empty string (or the hop's URL must carry one)");
  if (typeof password !== 'string') throw invalidOption(`${name}.password`, 'must be a string');
  if (/[\r\n\0]/.test(username) || /[\r\n\0]/.test(password)) throw invalidOption(`${name}.username`, 'credentials cannot contain CR, LF or NUL');
  const domain = v['domain'];
  if (domain !== undefined && typeof domain !== 'string') throw invalidOption(`${name}.domain`, 'must be a string');
  const schemesIn = v['schemes'] ?? SCHEME_ORDER;
  if (!Array.isArray(schemesIn) || schemesIn.length === 0 || schemesIn.some((s) => !SCHEME_ORDER.includes(s as ProxyAuthScheme))) {
    throw invalidOption(`${name}.schemes`, "must be a non-empty list of 'basic', 'digest', 'ntlm'");
  }
  const schemes = SCHEME_ORDER.filter((s) => (schemesIn as unknown[]).includes(s));
  const preemptive = v['preemptive'] ?? schemes.includes('basic');
  if (typeof preemptive !== 'boolean') throw invalidOption(`${name}.preemptive`, 'must be a boolean');
  if (preemptive && !schemes.includes('basic')) throw invalidOption(`${name}.preemptive`, 'preemptive sends Basic, which schemes does not allow');
  if (schemes.includes('basic') && username.includes(':')) throw invalidOption(`${name}.username`, 'a Basic user name cannot contain ":"');
  return {
    username,
    password,
    domain: domain as string | undefined,
    schemes,
    preemptive,
    maxRounds: checkInt(`${name}.maxRounds`, v['maxRounds'], DEFAULT_MAX_ROUNDS, 1, 10),
  };
}
