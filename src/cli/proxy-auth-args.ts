/**
 * The proxy authentication options of the command line, as curl spells them:
 * `--proxy-user [N:]USER:PASSWORD` (`-U`), `--proxy-basic`, `--proxy-digest`,
 * `--proxy-ntlm`, `--proxy-anyauth`, each scheme option for every proxy or,
 * as `--proxy-digest=N`, for proxy N only (1 = first). The last scheme option
 * given for a hop wins, as in curl.
 */
import type { ProxyAuthOptions } from '../protocols/proxy-auth/index.js';

/** A mistake in these options (the caller reports it as a usage error, exit 2). */
export class ProxyAuthArgError extends Error {}

/** `--proxy-user` for one hop (or, without N, for the only proxy). */
export interface ProxyUserArg {
  readonly hop: number | undefined;
  readonly username: string;
  readonly password: string;
}

/** A scheme option: which schemes, for one hop or every hop. */
export interface ProxyAuthArg {
  readonly hop: number | undefined;
  readonly mode: 'basic' | 'digest' | 'ntlm' | 'anyauth';
}

/**
 * `[N:]USER:PASSWORD`. The hop prefix is read when the value starts with digits and a colon and still
 * holds a colon after it (a numeric user name needs the prefix: `1:42:pw`).
 */
export function parseProxyUser(v: string): ProxyUserArg {
  let hop: number | undefined;
  let rest = v;
  const m = /^([1-9]\d{0,2}):(.*:.*)$/s.exec(v);
  if (m !== null) {
    hop = Number(m[1]);
    rest = m[2] as string;
  }
  const colon = rest.indexOf(':');
  if (colon <= 0) throw new ProxyAuthArgError('--proxy-user takes [N:]USER:PASSWORD');
  const username = rest.slice(0, colon);
  const password = rest.slice(colon + 1);
  if (/[\r\n\0]/.test(rest)) throw new ProxyAuthArgError('--proxy-user: CR, LF or NUL in the credentials');
  return { hop, username, password };
}

/** `--proxy-digest` or `--proxy-digest=N`. */
export function parseProxyAuthArg(mode: ProxyAuthArg['mode'], value: string | undefined): ProxyAuthArg {
  if (value === undefined) return { hop: undefined, mode };
  if (!/^[1-9]\d{0,2}$/.test(value)) throw new ProxyAuthArgError(`--proxy-${mode}=N: N must be a position in the proxy chain, 1 for the first proxy; got ${JSON.stringify(value)}`);
  return { hop: Number(value), mode };
}

/** The hops these options name, for checking them against the chain. */
export function proxyAuthHops(users: readonly ProxyUserArg[], modes: readonly ProxyAuthArg[]): number[] {
  return [...users, ...modes].flatMap((a) => (a.hop === undefined ? [] : [a.hop]));
}

/** The `auth` option of hop `n` (1-based) of a chain of `count` proxies; undefined when nothing applies. */
export function hopAuth(users: readonly ProxyUserArg[], modes: readonly ProxyAuthArg[], n: number, count: number): ProxyAuthOptions | undefined {
  const anyHop = users.filter((u) => u.hop === undefined);
  if (anyHop.length > 0 && count > 1) throw new ProxyAuthArgError(`--proxy-user without a hop, with ${count} proxies: say which proxy it is for (--proxy-user N:USER:PASSWORD), so that no password goes to another one`);
  const user = [...users].reverse().find((u) => u.hop === n || (u.hop === undefined && count === 1));
  const mode = [...modes].reverse().find((m) => m.hop === n || m.hop === undefined)?.mode;
  if (user === undefined && mode === undefined) return undefined;
  const out: ProxyAuthOptions = user === undefined ? {} : { username: user.username, password: user.password };
  if (mode === 'anyauth') return { ...out, preemptive: false };
  if (mode !== undefined) return { ...out, schemes: [mode], preemptive: mode === 'basic' };
  return out;
}
