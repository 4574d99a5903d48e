/**
 * Leak checks for tests: compares the process's active resources
 * (`process.getActiveResourcesInfo()`) with a snapshot, per resource type.
 */
import { AssertionError } from 'node:assert';

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
