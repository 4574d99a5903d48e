/**
 * What a dispatcher's requests share: the pool keyed by the whole route, the
 * routes resolved per origin, the connections carrying upgraded streams and
 * CONNECT tunnels, which requests are in flight, and which sockets keep the
 * process running (only those a request is using, as undici's idle sockets).
 */
import type { Connection } from '../../connection/connection.js';
import type { ProxyEnv } from '../../request/env.js';
import { Pool, type Lease } from '../../request/pool.js';
import { openRoute, type OpenRoute } from '../../request/route.js';
import type { ChainDispatcherOptions } from './options.js';
import { resolveRoute, type Plan, type PlanContext, type Route } from './plan.js';

/** Routes remembered by origin. */
const MAX_ROUTES = 256;

/** @internal One request in flight, as the core sees it. */
export interface InFlight {
  abort(reason: Error): void;
}

/** @internal What the exchanges share with their dispatcher. */
export interface Core extends PlanContext {
  readonly pool: Pool;
  readonly options: ChainDispatcherOptions;
  started(ex: InFlight): void;
  ended(ex: InFlight): void;
  /** A lease on a connection at the end of the plan's route: pooled for requests, its own route for an upgrade or a CONNECT. */
  lease(plan: Plan, signal: AbortSignal): Promise<Lease>;
  /** A request is using `conn`: its socket keeps the process running. */
  hold(conn: Connection): void;
  /** A request is done with `conn`: when none is left, its socket no longer keeps the process running. */
  letGo(conn: Connection): void;
}

/** @internal The core's own state, for the dispatcher's close() and destroy(). */
export interface CoreState {
  readonly core: Core;
  readonly active: Set<InFlight>;
  /** Routes opened for one upgraded stream or CONNECT tunnel (outside the pool). */
  readonly dedicated: Set<Connection>;
  /** Called when the last request in flight ended. */
  onIdle: (() => void) | undefined;
}

/** @internal A new core for `options` (already checked) with the environment snapshot `env`. */
export function createCore(options: ChainDispatcherOptions, headersTimeout: number, env: ProxyEnv | undefined): CoreState {
  const pool = new Pool(options.pool);
  const routes = new Map<string, Route>();
  const active = new Set<InFlight>();
  const dedicated = new Set<Connection>();
  const inUse = new WeakMap<Connection, number>();
  const state: CoreState = { core: undefined as unknown as Core, active, dedicated, onIdle: undefined };
  const core: Core = {
    pool,
    options,
    headersTimeout,
    route: (origin, h1only) => {
      const cacheKey = h1only ? `1${origin}` : `2${origin}`;
      let r = routes.get(cacheKey);
      if (r !== undefined) return r;
      r = resolveRoute(origin, h1only, options, env);
      if (routes.size >= MAX_ROUTES) routes.clear();
      routes.set(cacheKey, r);
      return r;
    },
    lease: async (plan, signal) => {
      const { hops, origin, key } = plan.route;
      const open = (): Promise<OpenRoute> => openRoute(hops, origin, { lookup: options.lookup, signal, connectTimeout: options.timeouts?.connect, events: options.events });
      if (plan.kind === 'request') return pool.acquire(key, open, { multiplexed: origin.protocols.includes('http2'), signal });
      // An upgraded stream or a CONNECT tunnel owns its route: opened for it, closed with it.
      const route = await open();
      dedicated.add(route.conn);
      return {
        route,
        reused: false,
        release: () => {
          dedicated.delete(route.conn);
          void route.conn.close();
        },
      };
    },
    hold: (conn) => {
      const n = inUse.get(conn) ?? 0;
      inUse.set(conn, n + 1);
      if (n === 0) conn.refSocket();
    },
    letGo: (conn) => {
      const n = (inUse.get(conn) ?? 1) - 1;
      inUse.set(conn, n);
      if (n === 0) conn.unrefSocket();
    },
    started: (ex) => void active.add(ex),
    ended: (ex) => {
      active.delete(ex);
      if (active.size === 0) state.onIdle?.();
    },
  };
  (state as { core: Core }).core = core;
  return state;
}
