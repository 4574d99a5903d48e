/**
 * The `burrow` command line, parsed without side effects: curl-style short
 * options (combinable: `-sL`, `-XPOST`, `-ofile`), long options (`--opt value`
 * or `--opt=value`), `--` to end the options, and one URL.
 */
import { maskUrl } from '../shared/redact.js';
import { parseProxyAuthArg, parseProxyUser, ProxyAuthArgError, proxyAuthHops, type ProxyAuthArg, type ProxyUserArg } from './proxy-auth-args.js';

import { UsageError, type Command, type DataPart, type DataSource, type HopFile } from './options.js';
import { hopFile, hopNumber, parseHeaderArg, seconds, socksHop, splitProxyList, withScheme } from './arg-values.js';

export { UsageError, type Command, type CliOptions, type DataPart, type DataSource, type HopFile } from './options.js';
export { parseHeaderArg, splitProxyList, withScheme } from './arg-values.js';

interface OptionSpec {
  readonly long: string;
  readonly short?: string;
  readonly value: boolean;
  /** A flag that may take `=VALUE` (`--proxy-digest=2`). */
  readonly optional?: boolean;
}

const SPECS: readonly OptionSpec[] = [
  { long: 'proxy', short: 'x', value: true },
  { long: 'proxy-cacert', value: true },
  { long: 'proxy-insecure', value: true },
  { long: 'socks4', value: true },
  { long: 'socks4a', value: true },
  { long: 'proxy-user', short: 'U', value: true },
  { long: 'proxy-basic', value: false, optional: true },
  { long: 'proxy-digest', value: false, optional: true },
  { long: 'proxy-ntlm', value: false, optional: true },
  { long: 'proxy-anyauth', value: false, optional: true },
  { long: 'proxy-pac', value: true },
  { long: 'proxy-fallback', value: true },
  { long: 'request', short: 'X', value: true },
  { long: 'header', short: 'H', value: true },
  { long: 'user-agent', short: 'A', value: true },
  { long: 'data', short: 'd', value: true },
  { long: 'data-binary', value: true },
  { long: 'output', short: 'o', value: true },
  { long: 'remote-name', short: 'O', value: false },
  { long: 'include', short: 'i', value: false },
  { long: 'head', short: 'I', value: false },
  { long: 'location', short: 'L', value: false },
  { long: 'max-redirs', value: true },
  { long: 'compressed', value: false },
  { long: 'verbose', short: 'v', value: false },
  { long: 'trace-json', value: true },
  { long: 'cacert', value: true },
  { long: 'insecure', short: 'k', value: false },
  { long: 'http1.1', value: false },
  { long: 'http1.0', short: '0', value: false },
  { long: 'http2', value: false },
  { long: 'connect-timeout', value: true },
  { long: 'max-time', short: 'm', value: true },
  { long: 'fail', short: 'f', value: false },
  { long: 'noproxy', value: true },
  { long: 'silent', short: 's', value: false },
  { long: 'base64', value: false },
  { long: 'unix-socket', value: true },
  { long: 'cookie', short: 'b', value: true },
  { long: 'cookie-jar', short: 'c', value: true },
  { long: 'junk-session-cookies', short: 'j', value: false },
  { long: 'help', short: 'h', value: false },
  { long: 'version', short: 'V', value: false },
];

const BY_LONG = new Map(SPECS.map((s) => [s.long, s]));
const BY_SHORT = new Map(SPECS.filter((s) => s.short !== undefined).map((s) => [s.short as string, s]));

/** Default and largest `--max-redirs`. */
export const DEFAULT_MAX_REDIRS = 20;

interface Mutable {
  url: string | undefined;
  proxies: string[] | undefined;
  proxyCacerts: HopFile[];
  proxyInsecure: number[];
  proxyUsers: ProxyUserArg[];
  proxyAuth: ProxyAuthArg[];
  proxyPac: string | undefined;
  proxyFallback: string[][];
  method: string | undefined;
  headers: string[];
  userAgent: string | undefined;
  form: DataPart[];
  binary: DataSource | undefined;
  output: string | undefined;
  remoteName: boolean;
  include: boolean;
  head: boolean;
  location: boolean;
  maxRedirs: number;
  compressed: boolean;
  verbose: boolean;
  traceJson: string | undefined;
  cacert: string | undefined;
  insecure: boolean;
  protocols: ('http' | 'http2' | 'http/1.0')[] | undefined;
  connectTimeout: number | undefined;
  maxTime: number | undefined;
  fail: boolean;
  noproxy: string | undefined;
  silent: boolean;
  base64: boolean;
  unixSocket?: string;
  cookie: string[];
  cookieJar: string | undefined;
  junkSessionCookies: boolean;
  help: boolean;
  version: boolean;
}

function apply(o: Mutable, spec: OptionSpec, value: string | undefined): void {
  const v = value ?? '';
  switch (spec.long) {
    case 'proxy':
      o.proxies = [...(o.proxies ?? []), ...splitProxyList(v)];
      return;
    case 'socks4':
    case 'socks4a':
      o.proxies = [...(o.proxies ?? []), socksHop(spec.long, v)];
      return;
    case 'proxy-cacert':
      o.proxyCacerts.push(hopFile(spec.long, v));
      return;
    case 'proxy-insecure':
      o.proxyInsecure.push(hopNumber(spec.long, v));
      return;
    case 'proxy-user':
    case 'proxy-basic':
    case 'proxy-digest':
    case 'proxy-ntlm':
    case 'proxy-anyauth':
      try {
        if (spec.long === 'proxy-user') o.proxyUsers.push(parseProxyUser(v));
        else o.proxyAuth.push(parseProxyAuthArg(spec.long.slice(6) as ProxyAuthArg['mode'], value));
      } catch (e) {
        throw e instanceof ProxyAuthArgError ? new UsageError(e.message) : e;
      }
      return;
    case 'proxy-pac':
      if (v === '') throw new UsageError('--proxy-pac needs a URL or a file name');
      o.proxyPac = v;
      return;
    case 'proxy-fallback':
      o.proxyFallback.push(splitProxyList(v).map(withScheme));
      return;
    case 'request':
      if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(v)) throw new UsageError(`-X ${JSON.stringify(v)}: not a valid method`);
      o.method = v;
      return;
    case 'header':
      parseHeaderArg(v);
      o.headers.push(v);
      return;
    case 'user-agent':
      o.userAgent = v;
      return;
    case 'data':
      if (o.binary !== undefined) throw new UsageError('-d cannot be combined with --data-binary');
      if (v === '@') throw new UsageError('-d @FILE: missing file name');
      o.form.push(v.startsWith('@') ? { kind: 'file', path: v.slice(1) } : { kind: 'literal', value: v });
      return;
    case 'data-binary':
      if (o.binary !== undefined || o.form.length > 0) throw new UsageError('--data-binary can be given once, and not with -d');
      if (v === '@') throw new UsageError('--data-binary @FILE: missing file name');
      o.binary = v.startsWith('@') ? { kind: 'binary-file', path: v.slice(1) } : { kind: 'binary-string', value: v };
      return;
    case 'output':
      if (v === '') throw new UsageError('-o needs a file name');
      o.output = v;
      return;
    case 'remote-name':
      o.remoteName = true;
      return;
    case 'include':
      o.include = true;
      return;
    case 'head':
      o.head = true;
      return;
    case 'location':
      o.location = true;
      return;
    case 'max-redirs':
      if (!/^\d{1,3}$/.test(v)) throw new UsageError(`--max-redirs needs a number, got ${JSON.stringify(v)}`);
      o.maxRedirs = Number(v);
      return;
    case 'compressed':
      o.compressed = true;
      return;
    case 'verbose':
      o.verbose = true;
      return;
    case 'trace-json':
      if (v === '') throw new UsageError('--trace-json needs a file name');
      o.traceJson = v;
      return;
    case 'cacert':
      if (v === '') throw new UsageError('--cacert needs a file name');
      o.cacert = v;
      return;
    case 'insecure':
      o.insecure = true;
      return;
    case 'http1.1':
      o.protocols = ['http'];
      return;
    case 'http1.0':
      o.protocols = ['http/1.0'];
      return;
    case 'http2':
      o.protocols = ['http2'];
      return;
    case 'connect-timeout':
      o.connectTimeout = seconds(spec.long, v);
      return;
    case 'max-time':
      o.maxTime = seconds(spec.long, v);
      return;
    case 'fail':
      o.fail = true;
      return;
    case 'noproxy':
      o.noproxy = v;
      return;
    case 'silent':
      o.silent = true;
      return;
    case 'base64':
      o.base64 = true;
      return;
    case 'unix-socket':
      if (v === '') throw new UsageError('--unix-socket needs a socket path');
      o.unixSocket = v;
      return;
    case 'cookie':
      if (v === '') throw new UsageError('-b needs a file name or name=value pairs');
      o.cookie.push(v);
      return;
    case 'cookie-jar':
      if (v === '') throw new UsageError('-c needs a file name');
      o.cookieJar = v;
      return;
    case 'junk-session-cookies':
      o.junkSessionCookies = true;
      return;
    case 'help':
      o.help = true;
      return;
    case 'version':
      o.version = true;
      return;
    default:
      throw new UsageError(`unhandled option --${spec.long}`);
  }
}

/**
 * Parses the arguments after `burrow`. Throws {@link UsageError} for any
 * mistake (unknown option, missing value, no URL, two URLs...).
 */
export function parseArgs(argv: readonly string[]): Command {
  if (argv[0] === 'demo' && argv.length === 1) return { type: 'demo' };
  if (argv[0] === 'help' && argv.length === 1) return { type: 'help' };
  const o: Mutable = {
    url: undefined,
    proxies: undefined,
    proxyCacerts: [],
    proxyInsecure: [],
    proxyUsers: [],
    proxyAuth: [],
    proxyPac: undefined,
    proxyFallback: [],
    method: undefined,
    headers: [],
    userAgent: undefined,
    form: [],
    binary: undefined,
    output: undefined,
    remoteName: false,
    include: false,
    head: false,
    location: false,
    maxRedirs: DEFAULT_MAX_REDIRS,
    compressed: false,
    verbose: false,
    traceJson: undefined,
    cacert: undefined,
    insecure: false,
    protocols: undefined,
    connectTimeout: undefined,
    maxTime: undefined,
    fail: false,
    noproxy: undefined,
    silent: false,
    base64: false,
    cookie: [],
    cookieJar: undefined,
    junkSessionCookies: false,
    help: false,
    version: false,
  };
  const positional: string[] = [];
  let i = 0;
  const next = (what: string): string => {
    const v = argv[i + 1];
    if (v === undefined) throw new UsageError(`${what} needs a value`);
    i++;
    return v;
  };
  for (; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const spec = BY_LONG.get(name);
      if (spec === undefined) throw new UsageError(`unknown option --${name}`);
      if (!spec.value && eq >= 0 && spec.optional !== true) throw new UsageError(`--${name} takes no value`);
      apply(o, spec, spec.value ? (eq >= 0 ? arg.slice(eq + 1) : next(`--${name}`)) : eq >= 0 ? arg.slice(eq + 1) : undefined);
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const c = arg[j] as string;
        const spec = BY_SHORT.get(c);
        if (spec === undefined) throw new UsageError(`unknown option -${c}`);
        if (spec.value) {
          const rest = arg.slice(j + 1);
          apply(o, spec, rest !== '' ? rest : next(`-${c}`));
          break;
        }
        apply(o, spec, undefined);
      }
      continue;
    }
    positional.push(arg);
  }
  if (o.help) return { type: 'help' };
  if (o.version) return { type: 'version' };
  if (positional.length === 0) throw new UsageError('no URL given');
  if (positional.includes('demo')) throw new UsageError('demo takes no options (to fetch a host named demo, write http://demo)');
  if (positional.length > 1) {
    throw new UsageError(`one URL at a time (got ${positional.map((p) => JSON.stringify(maskUrl(p))).join(', ')})`);
  }
  const given = positional[0] as string;
  // A bare word is a command, not a host name (`http://intranet` fetches the host intranet).
  if (/^[A-Za-z][A-Za-z0-9_-]*$/.test(given) && given.toLowerCase() !== 'localhost') {
    throw new UsageError(`unknown command ${JSON.stringify(given)} (to fetch the host ${given}, write http://${given})`, true);
  }
  o.url = withScheme(given);
  let url: URL;
  try {
    url = new URL(o.url);
  } catch {
    throw new UsageError(`${JSON.stringify(maskUrl(given))} is not a valid URL`);
  }
  const websocket = url.protocol === 'ws:' || url.protocol === 'wss:';
  if (url.protocol !== 'http:' && url.protocol !== 'https:' && !websocket) throw new UsageError(`${url.protocol} URLs are not supported (http:, https:, ws: and wss: only)`);
  if (websocket) {
    const notForWs = [
      [o.method !== undefined, '-X'], [o.form.length > 0 || o.binary !== undefined, '-d/--data-binary'], [o.remoteName, '-O'], [o.include, '-i'],
      [o.head, '-I'], [o.location, '-L'], [o.fail, '-f'], [o.unixSocket !== undefined, '--unix-socket'], [o.cookie.length > 0 || o.cookieJar !== undefined, '-b/-c'],
    ] as const;
    const used = notForWs.filter(([u]) => u).map(([, name]) => name);
    if (used.length > 0) throw new UsageError(`${used.join(', ')} ${used.length === 1 ? 'is' : 'are'} not for WebSocket URLs (stdin lines are sent as messages)`);
  } else if (o.base64) throw new UsageError('--base64 is for WebSocket URLs (ws:, wss:)');
  if (o.head && (o.form.length > 0 || o.binary !== undefined)) throw new UsageError('-I (HEAD) cannot send a body (-d, --data-binary)');
  if (o.output !== undefined && o.remoteName) throw new UsageError('-o and -O cannot be combined');
  const hops = o.proxies?.length ?? 0;
  for (const h of [...o.proxyCacerts.map((c) => c.hop), ...o.proxyInsecure, ...proxyAuthHops(o.proxyUsers, o.proxyAuth)]) {
    if (o.proxies !== undefined && h > hops) throw new UsageError(`hop ${h} is not in the proxy chain given with -x (${hops} ${hops === 1 ? 'proxy' : 'proxies'})`);
  }
  const data: DataSource | undefined = o.binary ?? (o.form.length > 0 ? { kind: 'form', parts: o.form } : undefined);
  return {
    type: websocket ? 'websocket' : 'request',
    options: {
      url: o.url,
      proxies: o.proxies,
      proxyCacerts: o.proxyCacerts,
      proxyInsecure: o.proxyInsecure,
      proxyUsers: o.proxyUsers,
      proxyAuth: o.proxyAuth,
      proxyPac: o.proxyPac,
      proxyFallback: o.proxyFallback,
      method: o.method,
      headers: o.headers,
      userAgent: o.userAgent,
      data,
      output: o.output,
      remoteName: o.remoteName,
      include: o.include,
      head: o.head,
      location: o.location,
      maxRedirs: o.maxRedirs,
      compressed: o.compressed,
      verbose: o.verbose,
      traceJson: o.traceJson,
      cacert: o.cacert,
      insecure: o.insecure,
      protocols: o.protocols,
      connectTimeout: o.connectTimeout,
      maxTime: o.maxTime,
      fail: o.fail,
      noproxy: o.noproxy,
      ...(o.unixSocket !== undefined ? { unixSocket: o.unixSocket } : {}),
      silent: o.silent,
      base64: o.base64,
      cookie: o.cookie,
      cookieJar: o.cookieJar,
      junkSessionCookies: o.junkSessionCookies,
    },
  };
}
