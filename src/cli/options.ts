/**
 * What the `burrow` command line means once parsed: the command and its options, and the usage error.
 */
import type { ProxyAuthArg, ProxyUserArg } from './proxy-auth-args.js';

/** A command-line mistake: exit code 2. */
export class UsageError extends Error {
  /** True when the full usage text should follow the message. */
  readonly showUsage: boolean;

  constructor(message: string, showUsage = false) {
    super(message);
    this.name = 'UsageError';
    this.showUsage = showUsage;
  }
}

/** Where the request body comes from. */
export type DataSource =
  /** `-d`: the values (files already named, not read), joined with `&`. */
  | { readonly kind: 'form'; readonly parts: readonly DataPart[] }
  /** `--data-binary STRING`. */
  | { readonly kind: 'binary-string'; readonly value: string }
  /** `--data-binary @FILE` (`-` = stdin), streamed. */
  | { readonly kind: 'binary-file'; readonly path: string };

/** One `-d` value: a literal, or `@file` (read whole, CR and LF removed, as curl does). */
export type DataPart = { readonly kind: 'literal'; readonly value: string } | { readonly kind: 'file'; readonly path: string };

/** A per-hop setting given as `N:...` (N: 1-based position in the proxy chain). */
export interface HopFile {
  readonly hop: number;
  readonly path: string;
}

/** What the command line asks for. */
export type Command =
  | { readonly type: 'help' }
  | { readonly type: 'version' }
  | { readonly type: 'demo' }
  | { readonly type: 'request'; readonly options: CliOptions }
  /** A `ws:` or `wss:` URL: stdin lines sent as text messages, messages received written out. */
  | { readonly type: 'websocket'; readonly options: CliOptions };

/** The options of a request. */
export interface CliOptions {
  readonly url: string;
  /** The `-x` values, split into single proxy URLs, in order; `[]` with `-x ''` (no proxy at all). Undefined: none given. */
  readonly proxies: readonly string[] | undefined;
  readonly proxyCacerts: readonly HopFile[];
  /** 1-based hop positions whose certificate is not verified. */
  readonly proxyInsecure: readonly number[];
  /** `--proxy-user` values. */
  readonly proxyUsers: readonly ProxyUserArg[];
  /** `--proxy-basic`, `--proxy-digest`, `--proxy-ntlm`, `--proxy-anyauth`, in order. */
  readonly proxyAuth: readonly ProxyAuthArg[];
  /** `--proxy-pac`: a PAC script's URL or file; the `-x` proxies, if any, follow the hop it chooses. */
  readonly proxyPac: string | undefined;
  /** `--proxy-fallback` chains, in order, each split like `-x` (`[]`: direct). */
  readonly proxyFallback: readonly (readonly string[])[];
  readonly method: string | undefined;
  /** `-H` values as given. */
  readonly headers: readonly string[];
  readonly userAgent: string | undefined;
  readonly data: DataSource | undefined;
  readonly output: string | undefined;
  readonly remoteName: boolean;
  readonly include: boolean;
  readonly head: boolean;
  readonly location: boolean;
  readonly maxRedirs: number;
  /** `--compressed`: ask for a compressed response and decode it (request()'s `decompress`). */
  readonly compressed: boolean;
  readonly verbose: boolean;
  readonly traceJson: string | undefined;
  readonly cacert: string | undefined;
  readonly insecure: boolean;
  readonly protocols: readonly ('http' | 'http2' | 'http/1.0')[] | undefined;
  /** Seconds. */
  readonly connectTimeout: number | undefined;
  /** Seconds. */
  readonly maxTime: number | undefined;
  readonly fail: boolean;
  readonly noproxy: string | undefined;
  readonly silent: boolean;
  /** WebSocket: binary messages are written as base64 lines. */
  readonly base64: boolean;
  /** `--unix-socket`: the first hop (the origin, or the first proxy) is reached by this Unix domain socket. */
  readonly unixSocket?: string | undefined;
  /** `-b` values: a cookie file (Netscape format) or, with a `=` in it, `name=value; n2=v2` to send. */
  readonly cookie: readonly string[];
  /** `-c FILE`: the cookie jar written after the transfer (`-` = stdout). */
  readonly cookieJar: string | undefined;
  /** `-j`: session cookies of the `-b` files are not loaded. */
  readonly junkSessionCookies: boolean;
}
