/**
 * `ChainAgent`: an `http.Agent` whose sockets are tunnels through burrow's
 * proxy chains, for Node's HTTP client and every client built on it (axios,
 * got, node-fetch, ws). It serves `http:` and `https:` URLs alike: Node asks
 * it for a socket (`createSocket`), burrow opens the chain to the origin and
 * hands over the tunnel's duplex, with the origin's TLS on top for `https:`;
 * Node's agent pools those sockets per route (keep-alive, `maxSockets`).
 */
import { Agent, type ClientRequest, type ClientRequestArgs } from 'node:http';
import { Agent as HttpsAgent, type AgentOptions as HttpsAgentOptions } from 'node:https';
import { isIP, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ConnectionOptions } from 'node:tls';
import type { ProxyEnv } from '../../request/env.js';
import { routeHops } from '../../request/request.js';
import type { RouteHop } from '../../request/route.js';
import { checkChainOptions, nodeAgentOptions, type ChainAgentOptions } from './options.js';
import { isSecureEndpoint, originOf, originTlsOptions, type AgentRequestOptions } from './secure.js';
import { openTunnel } from './tunnel.js';

/** The parts of Node's `http.Agent` that agents override or call and `@types/node` does not declare. */
interface AgentInternals {
  createSocket(req: ClientRequest, options: AgentRequestOptions, cb: (err: Error | null, socket?: Socket | Duplex) => void): void;
  addRequest(req: ClientRequest, options: AgentRequestOptions): void;
  requests: Record<string, ClientRequest[] | undefined>;
  totalSocketCount: number;
  sockets: Record<string, Array<Socket | Duplex> | undefined>;
}

const DEFAULT_TLS_HANDSHAKE_TIMEOUT = 30_000;

/** True when the caller is Node's `https` module: how `https.request` finds out what the agent speaks. */
function calledFromHttps(): boolean {
  const { stack } = new Error();
  return typeof stack === 'string' && (stack.includes('(node:https:') || stack.includes('(https.js:'));
}

/**
 * An `http.Agent` that sends each request through a proxy chain, for
 * `http.request`/`https.request` and the clients built on them: axios
 * (`httpAgent` and `httpsAgent`), got (`agent: { http, https }`),
 * node-fetch (`agent`) and ws (`agent`). One agent serves `http:` and
 * `https:` URLs. Each socket it hands out is one tunnel to the origin,
 * through every hop of the chain (HTTP/1.1 CONNECT, HTTP/2 CONNECT, SOCKS5,
 * TLS at any hop); for `https:` the agent runs the origin's TLS on it with
 * the request's TLS options (`ca`, `servername`, `rejectUnauthorized`…),
 * ALPN `http/1.1`. Node's pooling applies: with `keepAlive`, a tunnel serves
 * the next request to the same origin; `maxSockets` bounds the tunnels per
 * origin.
 *
 * A failure anywhere in the chain is a {@link BurrowError} naming the hop and
 * the stage, given to the client as the socket's error (the request's `error`
 * event; axios and got keep it as their error's `cause`).
 *
 * @example
 * ```ts
 * const agent = new ChainAgent({ via: ['https://proxy-a:3129', 'socks5h://10.0.0.2:1080'], keepAlive: true });
 * https.get('https://example.com/', { agent }, (res) => res.pipe(process.stdout));
 * ```
 */
export class ChainAgent extends Agent {
  /**
   * Node's agent options as given (burrow's own options left out): Node's
   * `Agent` sets this; declared so that the agent is also typed as an
   * `https.Agent` where a client asks for one (got, node-fetch).
   */
  declare readonly options: HttpsAgentOptions;
  readonly #via: ChainAgentOptions['via'];
  readonly #env: boolean | ProxyEnv | undefined;
  /** The hops of a fixed `via`, resolved once. */
  readonly #hops: RouteHop[] | undefined;
  readonly #chain: ChainAgentOptions;
  /** The socket `createConnection` returns next (set right before Node's `createSocket` calls it). */
  #next: Socket | Duplex | undefined;

  /**
   * @param options Node's agent options plus the chain (`via`, or `env` for
   *   the proxy environment variables) and the options of its hops. Throws
   *   `ERR_INVALID_OPTION` for an invalid option or proxy URL.
   */
  constructor(options: ChainAgentOptions = {}) {
    checkChainOptions(options);
    super(nodeAgentOptions(options));
    this.#chain = { ...options };
    this.#via = options.via;
    this.#env = options.env;
    this.#hops = options.via !== undefined ? routeHops(options.via, 'http://localhost/', undefined) : undefined;
  }

  /**
   * An agent whose chain comes from the proxy environment variables, per
   * request URL, as `request(url, { env: true })` takes it: `HTTPS_PROXY` for
   * `https:`/`wss:` and `http_proxy` for `http:`/`ws:` (either may hold a
   * whole chain), `ALL_PROXY` otherwise, `NO_PROXY` (names, suffixes,
   * `host:port`, CIDR blocks, `*`) sending a request directly.
   *
   * @param options Agent options as for the constructor; `env` is the
   *   variables to read (default `process.env`).
   */
  static fromEnv(options: Omit<ChainAgentOptions, 'via' | 'env'> & { env?: ProxyEnv } = {}): ChainAgent {
    return new ChainAgent({ ...options, env: options.env ?? true });
  }

  /** `https:` when Node's `https` module asks (it checks the agent's protocol against the URL's). */
  get protocol(): string {
    return calledFromHttps() ? 'https:' : 'http:';
  }

  /** Set by Node's `Agent` constructor; the agent's protocol follows its caller, so this is ignored. */
  set protocol(_value: string) {
    // Ignored: see the getter.
  }

  /** 443 when Node's `https` module asks, else 80. */
  get defaultPort(): number {
    return calledFromHttps() ? 443 : 80;
  }

  /** Set by Node's `Agent` constructor; the default port follows the caller, so this is ignored. */
  set defaultPort(_value: number) {
    // Ignored: see the getter.
  }

  /** Node's pool key: `https:` requests are told apart by their TLS options too, as Node's `https.Agent` does. */
  override getName(options?: ClientRequestArgs): string {
    const o = (options ?? {}) as AgentRequestOptions;
    return isSecureEndpoint(o) ? HttpsAgent.prototype.getName.call(this, o as never) : super.getName(o as never);
  }

  /**
   * Opens a tunnel for `req` (Node's agent calls this when it needs a new socket); failures go to `cb`.
   *
   * @internal
   */
  createSocket(req: ClientRequest, options: AgentRequestOptions, cb: (err: Error | null, socket?: Socket | Duplex) => void): void {
    const secure = isSecureEndpoint(options);
    const o: AgentRequestOptions = { ...options, secureEndpoint: secure };
    const name = this.getName(o as ClientRequestArgs);
    const placeholder = this.#reserve(name);
    const ac = new AbortController();
    const onClose = (): void => ac.abort(new Error('the request was closed before it had a socket'));
    req.once('close', onClose);
    let opening: Promise<Socket | Duplex>;
    try {
      opening = openTunnel(this.#plan(o, secure, ac.signal));
    } catch (e) {
      opening = Promise.reject(e as Error);
    }
    opening.then(
      (socket) => {
        req.removeListener('close', onClose);
        this.#release(name, placeholder);
        this.#next = socket;
        (Agent.prototype as unknown as AgentInternals).createSocket.call(this, req, options, cb);
      },
      (err: unknown) => {
        req.removeListener('close', onClose);
        this.#release(name, placeholder);
        cb(err as Error);
        // Node hands a request queued for this route (maxSockets) only a socket that frees up: the next one
        // gets an attempt of its own instead.
        const requests = (this as unknown as AgentInternals).requests;
        const next = requests[name]?.shift();
        if (requests[name]?.length === 0) delete requests[name];
        if (next !== undefined) (this as unknown as AgentInternals).addRequest(next, options);
      },
    );
  }

  /**
   * The tunnel opened for the socket being created (Node's agent calls this from `createSocket`).
   *
   * @internal
   */
  override createConnection(): Duplex {
    const s = this.#next;
    this.#next = undefined;
    if (s === undefined) throw new Error('ChainAgent.createConnection is called by the agent only');
    return s;
  }

  #plan(o: AgentRequestOptions, secure: boolean, signal: AbortSignal): Parameters<typeof openTunnel>[0] {
    const { host, port } = originOf(o, secure);
    const chain = this.#chain;
    let hops = this.#hops;
    if (hops === undefined) {
      const h = isIP(host) === 6 ? `[${host}]` : host;
      hops = routeHops(this.#via, `${secure ? 'https' : 'http'}://${h}:${port}/`, this.#env);
    }
    const tls: ConnectionOptions | undefined = secure ? originTlsOptions(o, host, chain.originTls) : undefined;
    return {
      hops,
      host,
      port,
      tls,
      tlsHandshakeTimeout: chain.originTlsHandshakeTimeout ?? DEFAULT_TLS_HANDSHAKE_TIMEOUT,
      lookup: chain.lookup,
      connectTimeout: chain.connectTimeout,
      events: chain.events,
      signal,
    };
  }

  /**
   * Counts a socket being opened against `maxSockets`/`maxTotalSockets` while
   * its chain comes up (Node counts a socket from `createConnection` on, which
   * comes once the tunnel is open): a placeholder in `sockets[name]`.
   */
  #reserve(name: string): Socket | undefined {
    if (this.maxSockets === Infinity && this.maxTotalSockets === Infinity) return undefined;
    const placeholder = new Socket({ writable: false });
    ((this as unknown as AgentInternals).sockets[name] ??= []).push(placeholder);
    (this as unknown as AgentInternals).totalSocketCount++;
    return placeholder;
  }

  #release(name: string, placeholder: Socket | undefined): void {
    if (placeholder === undefined) return;
    const sockets = (this as unknown as AgentInternals).sockets;
    const list = sockets[name];
    const i = list?.indexOf(placeholder) ?? -1;
    if (list === undefined || i < 0) return;
    list.splice(i, 1);
    (this as unknown as AgentInternals).totalSocketCount--;
    if (list.length === 0) delete sockets[name];
  }
}
