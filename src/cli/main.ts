#!/usr/bin/env node
/**
 * The `burrow` command: a curl-like client whose connections travel through
 * proxy chains (`burrow [options] URL`), and `burrow demo`. See docs/cli.md.
 */
import { readFileSync } from 'node:fs';
import { parseArgs, UsageError } from './args.js';
import { runDemo } from './demo.js';
import { EXIT } from './exit-codes.js';
import { runRequest } from './run.js';
import { runWebSocket } from './ws.js';

export const USAGE = `burrow — an HTTP client whose connections travel through proxy chains

Usage:
  burrow [options] URL     send a request, write the response body to stdout
  burrow [options] ws[s]://…  open a WebSocket: each stdin line is sent as a text
                           message, each message received is written on its own
                           line; exits 0 after a clean close
  burrow demo              a request and a 100 MB download through an embedded chain
                           (HTTP/2 CONNECT proxy over TLS -> SOCKS5 over TLS -> HTTPS
                           origin speaking HTTP/2, throwaway CA), printing the layers,
                           their timings and the throughput
  burrow --help | --version

Proxies (default: the proxy environment variables https_proxy, http_proxy,
all_proxy, no_proxy, with chains allowed):
  -x, --proxy URL          a proxy; repeat it (or give a comma-separated list) for a
                           chain, first hop first: http:// https:// h2c:// h2://
                           socks5:// socks5h:// socks5s:// socks5hs:// socks4://
                           socks4a://; -x '' = none
      --socks4 HOST[:PORT]   a SOCKS4 proxy (the client resolves names), as -x socks4://
      --socks4a HOST[:PORT]  a SOCKS4a proxy (the proxy resolves names), as -x socks4a://
      --proxy-cacert N:FILE  CA certificates (PEM) for proxy N (1 = first proxy)
      --proxy-insecure N   do not verify proxy N's certificate (warns)
  -U, --proxy-user [N:]USER:PASSWORD  credentials for proxy N (without N: the only
                           proxy); DOMAIN\\USER gives NTLM its domain
      --proxy-anyauth[=N]  answer the proxy's 407 with the strongest scheme it offers
                           (NTLM > Digest > Basic), nothing sent before (the default
                           also answers 407s, after a preemptive Basic)
      --proxy-basic[=N], --proxy-digest[=N], --proxy-ntlm[=N]
                           only this scheme (for proxy N, or every proxy)
      --proxy-pac URL|FILE a PAC script chooses the first proxy (or DIRECT) per URL; its
                           alternatives are tried in order; -x proxies follow its hop
      --proxy-fallback CHAIN another chain (like -x's list; '' for direct) tried when the
                           route fails before reaching the origin; repeatable
      --noproxy LIST       hosts to reach directly (overrides NO_PROXY; '*' = all)
      --unix-socket PATH   reach the first hop (the origin, or the first proxy) by
                           this Unix domain socket instead of TCP
Request:
  -X, --request METHOD     the method (default GET, POST with data, HEAD with -I)
  -H, --header 'N: V'      add a header; 'N:' removes a default one, 'N;' sends it empty
  -A, --user-agent UA      the user-agent (default burrow/VERSION)
  -d, --data DATA          send DATA (POST, form content-type); @FILE reads a file
                           (CR/LF removed); repeat to join with &
      --data-binary DATA   send DATA as is; @FILE streams the file (@- stdin)
  -L, --location           follow redirects (authorization, cookie and host headers
                           are not sent to another origin)
      --max-redirs N       at most N redirects with -L (default 20)
      --compressed         ask for a compressed response (gzip, deflate, br, zstd where
                           Node has it) and write it decoded
  -b, --cookie DATA|FILE   send cookies: 'name=value; n2=v2', or a cookie file (Netscape
                           format) whose cookies are sent where they match
  -c, --cookie-jar FILE    write the cookies (received and loaded) to FILE afterwards
  -j, --junk-session-cookies  do not load the session cookies of -b files
TLS and protocols:
      --cacert FILE        CA certificates (PEM) for the origin
  -k, --insecure           do not verify the origin's certificate (warns)
      --http1.1            HTTP/1.1 with the origin
  -0, --http1.0            HTTP/1.0 with the origin (no keep-alive unless it offers it)
      --http2              HTTP/2 with the origin (h2 over TLS, h2c prior knowledge)
Time limits:
      --connect-timeout S  the connection phase (every hop), seconds
  -m, --max-time S         the whole operation, seconds
Output:
  -o, --output FILE        write the body to FILE (- = stdout)
  -O, --remote-name        write the body to a file named like the URL's last segment
  -i, --include            write the response headers before the body
  -I, --head               HEAD: write the response headers only
  -f, --fail               no output and exit 22 on HTTP status >= 400
  -s, --silent             no progress bar and no warnings
      --base64             WebSocket: write binary messages as base64 lines
  -v, --verbose            each layer as it comes up (DNS, TCP, TLS, CONNECT, SOCKS,
                           HTTP) with timings, then > request and < response headers
      --trace-json FILE    the same events as JSON lines
  -h, --help               this help
  -V, --version            the version

Exit codes: 0 ok, 1 other failure, 2 usage, 6 DNS, 7 connection refused/closed,
22 HTTP error (--fail), 23 write error, 26 read error, 28 timeout, 35 TLS,
47 too many redirects, 56 proxy refused CONNECT, 77 CA file unreadable, 97 SOCKS.
Details and examples: docs/cli.md.
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0) {
    process.stdout.write(USAGE);
    return 0;
  }
  let cmd;
  try {
    cmd = parseArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(e.showUsage ? `burrow: ${e.message}\n\n${USAGE}` : `burrow: ${e.message} (see burrow --help)\n`);
    return EXIT.USAGE;
  }
  switch (cmd.type) {
    case 'help':
      process.stdout.write(USAGE);
      return 0;
    case 'version':
      process.stdout.write(`${version()}\n`);
      return 0;
    case 'demo':
      return runDemo(process.stdout);
    case 'request':
      return runRequest(cmd.options, { stdout: process.stdout, stderr: process.stderr, env: process.env, version: version() });
    case 'websocket':
      return runWebSocket(cmd.options, { stdout: process.stdout, stdin: process.stdin, stderr: process.stderr, env: process.env, version: version() });
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`burrow: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
