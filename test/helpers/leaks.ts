/**
 * Leak checks for tests: compares the process's active resources
 * (`process.getActiveResourcesInfo()`) with a snapshot, per resource type.
 */
import { AssertionError } from 'node:assert';
import { Socket } from 'node:net';

// Resource types that betray a socket, server, TLS or HTTP/2 session, DNS
// lookup or timer left behind. Pipes and TTYs (the test runner's stdio) and
// immediates (this module's own waiting) are ignored.
const WATCHED = /^(TCP|TLS|Http2|JSStream|ConnectWrap|PipeConnectWrap|ShutdownWrap|GetAddrInfo|GetNameInfo|QueryWrap|UDP|Timeout)/;

/** How many event-loop turns {@link assertNoLeaks} waits for resources to go away. */
const MAX_TURNS = 200;

/** The current active resources: take one before a test and pass it to {@link assertNoLeaks}. */
export function resourceSnapshot(): string[] {
  return process.getActiveResourcesInfo();
}

function countWatched(resources: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of resources) if (WATCHED.test(r)) counts.set(r, (counts.get(r) ?? 0) + 1);
  return counts;
}

/** Resource types with more instances now than in `baseline`, with the excess. */
function excess(baseline: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [type, n] of countWatched(process.getActiveResourcesInfo())) {
    const extra = n - (baseline.get(type) ?? 0);
    if (extra > 0) out.set(type, extra);
  }
  return out;
}

/**
 * Resolves when no socket, server, TLS, HTTP/2, DNS or timer resource is
 * active beyond those in `baseline` (default: none at all), waiting at most
 * a bounded number of event-loop turns (setImmediate) for closes in flight to
 * finish. Otherwise throws an AssertionError that lists what leaked.
 */
export async function assertNoLeaks(baseline: readonly string[] = []): Promise<void> {
  const base = countWatched(baseline);
  let extra = excess(base);
  for (let turn = 0; turn < MAX_TURNS && extra.size > 0; turn++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    extra = excess(base);
  }
  if (extra.size === 0) return;
  const leaked = [...extra].map(([type, n]) => `${type} x${n}`).join(', ');
  throw new AssertionError({
    message: `leaked resources: ${leaked} (active now: ${process.getActiveResourcesInfo().join(', ') || 'none'})`,
    actual: Object.fromEntries(countWatched(process.getActiveResourcesInfo())),
    expected: Object.fromEntries(base),
    operator: 'assertNoLeaks',
  });
}

/** Client-side sockets (those no server accepted) connected to `port` (any port: undefined), and timers, now active. */
function clientResources(port: number | undefined): { sockets: number; timers: number } {
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  let sockets = 0;
  for (const h of handles) {
    if (!(h instanceof Socket) || (h as Socket & { server?: unknown }).server != null) continue;
    if (port === undefined || h.remotePort === port || h.remotePort === undefined) sockets++;
  }
  const timers = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  return { sockets, timers };
}

/** What {@link assertNoClientLeaks} compares with. */
export function clientSnapshot(port?: number): { sockets: number; timers: number } {
  return clientResources(port);
}

/**
 * Resolves when no client-side socket (one the process opened, not one a test server accepted; with `port`,
 * only those connected to it: the client's, when test proxies open sockets of their own) and no timer is
 * active beyond `baseline`, waiting a bounded number of event-loop turns; else throws. For tests whose servers
 * may keep sockets of their own open after the client left (a TLS server with `allowHalfOpen` whose client
 * went away in the middle of the handshake keeps its side until it is closed, and so does a proxy relaying to it).
 */
export async function assertNoClientLeaks(baseline: { sockets: number; timers: number }, port?: number): Promise<void> {
  let now = clientResources(port);
  for (let turn = 0; turn < MAX_TURNS && (now.sockets > baseline.sockets || now.timers > baseline.timers); turn++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    now = clientResources(port);
  }
  if (now.sockets <= baseline.sockets && now.timers <= baseline.timers) return;
  throw new AssertionError({ message: `leaked: ${now.sockets - baseline.sockets} client socket(s), ${now.timers - baseline.timers} timer(s)`, actual: now, expected: baseline, operator: 'assertNoClientLeaks' });
}
