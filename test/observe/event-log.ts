// Records every burrow channel message (and the DNS tracing channel) and renders each as a short line,
// so that tests can compare exact sequences; payloads stay available for detailed checks.
import dc from 'node:diagnostics_channel';
import { CHANNEL_NAMES, type BurrowChannelName, type BurrowChannels, type DnsLookupContext, type LayerInfo } from '../../src/index.js';

/** One recorded message. */
export interface Logged {
  readonly channel: BurrowChannelName | 'dns:start' | 'dns:end';
  readonly message: unknown;
}

function layerName(l: LayerInfo): string {
  return `${l.kind}@${l.hop.index}`;
}

/** The short line of a message. */
export function render(e: Logged): string {
  const m = e.message as Record<string, unknown>;
  const name = e.channel.replace(/^burrow:/, '');
  switch (e.channel) {
    case 'dns:start':
    case 'dns:end': {
      const c = e.message as DnsLookupContext;
      return `${name} ${c.host}@${c.hop.index}${e.channel === 'dns:end' ? (c.error !== undefined ? ' failed' : ` ${(c.addresses ?? []).join(',')}`) : ''}`;
    }
    case 'burrow:connection:up':
      return `${name} ${String(m['protocol'])} [${(m['layers'] as LayerInfo[]).map(layerName).join(',')}]`;
    case 'burrow:connection:down':
      return `${name} ${(m['reason'] as { code: string }).code} retry=${String(m['willRetry'])}`;
    case 'burrow:connection:retry':
      return `${name} ${(m['error'] as { code: string }).code}`;
    case 'burrow:connection:closed':
      return `${name} ${m['error'] === null ? 'null' : (m['error'] as { code: string }).code}`;
    case 'burrow:layer:start':
    case 'burrow:layer:up':
    case 'burrow:layer:down':
      return `${name} ${layerName(m['layer'] as LayerInfo)}`;
    case 'burrow:layer:error': {
      const err = m['error'] as { code: string; stage: string; hop?: { index: number } };
      return `${name} ${layerName(m['layer'] as LayerInfo)} ${err.code}/${err.stage}@${String(err.hop?.index)}`;
    }
    case 'burrow:stream:start':
      return `${name} ${String(m['method'])} ${String(m['target'])}`;
    case 'burrow:stream:response':
    case 'burrow:stream:inform':
      return `${name} ${String(m['status'])}`;
    case 'burrow:stream:end':
      return `${name} ${String(m['bytes'])}`;
    case 'burrow:stream:error':
      return `${name} ${(m['error'] as { code: string }).code}`;
    default:
      return name;
  }
}

/** Subscribes to every channel until {@link stop}. */
export class EventLog {
  readonly all: Logged[] = [];
  readonly #subs: Array<() => void> = [];

  constructor() {
    for (const channel of CHANNEL_NAMES) {
      const fn = (message: unknown): void => {
        this.all.push({ channel, message });
      };
      dc.subscribe(channel, fn);
      this.#subs.push(() => dc.unsubscribe(channel, fn));
    }
    const tc = dc.tracingChannel<unknown, DnsLookupContext>('burrow:dns');
    const handlers = {
      start: (c: DnsLookupContext) => this.all.push({ channel: 'dns:start', message: c }),
      end: () => undefined,
      asyncStart: () => undefined,
      asyncEnd: (c: DnsLookupContext) => this.all.push({ channel: 'dns:end', message: c }),
      error: (c: DnsLookupContext) => this.all.push({ channel: 'dns:end', message: c }),
    };
    tc.subscribe(handlers);
    this.#subs.push(() => tc.unsubscribe(handlers));
  }

  stop(): void {
    for (const u of this.#subs.splice(0)) u();
  }

  /** The messages of one connection (DNS lookups of no connection included), in order. */
  of(connection: number): Logged[] {
    return this.all.filter((e) => {
      const c = (e.message as { connection?: number }).connection;
      return c === connection || c === undefined;
    });
  }

  /** The short lines of one connection's messages. */
  lines(connection: number): string[] {
    return this.of(connection).map(render);
  }

  /** The messages of one channel for a connection. */
  on<K extends BurrowChannelName>(connection: number, channel: K): Array<BurrowChannels[K]> {
    return this.of(connection).filter((e) => e.channel === channel).map((e) => e.message as BurrowChannels[K]);
  }
}
