/**
 * The parts of one connection's core, as the lifecycle and the calls are
 * given them (the `Connection` builds them once and hands each part those it
 * needs).
 */
import type { ResolvedOptions } from '../shared/options/open.js';
import type { Observer } from '../observe/observer.js';
import type { StreamRef } from '../shared/stream-ref.js';
import type { CallbackGuard } from './callbacks.js';
import type { LayerStack } from './layer-stack.js';
import type { LayerTree } from './layer-tree.js';
import type { Router } from './routing.js';
import type { ConnectionStatus } from './status.js';
import type { StreamEvents } from './stream-events.js';
import type { StreamTable } from './streams.js';
import type { TunnelBook } from './tunnels.js';

/** Every part of one connection's core. */
export interface CoreParts {
  readonly config: ResolvedOptions;
  readonly status: ConnectionStatus;
  readonly tree: LayerTree;
  readonly tunnels: TunnelBook;
  readonly streams: StreamTable;
  readonly router: Router;
  readonly stack: LayerStack;
  readonly guard: CallbackGuard;
  /** The connection-level ref (`Connection.ref`). */
  readonly connRef: StreamRef;
  /** Publishes the connection's events. */
  readonly observer: Observer;
  readonly streamEvents: StreamEvents;
}
