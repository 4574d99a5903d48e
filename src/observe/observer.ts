/**
 * One connection's publisher: sends each event to its `diagnostics_channel`
 * channel when that channel has subscribers, and to the connection's `events`
 * handler (or a stream's own) when it has the method. Callers ask
 * {@link Observer.wants} first and build a payload only when it says yes.
 */
import { AsyncResource } from 'node:async_hooks';
import { CHANNELS } from './channels.js';
import { HANDLER_OF, type BurrowChannelName, type BurrowChannels, type EventHandler } from '../shared/events.js';

/** Calls a handler method as a user callback (re-entrancy rules, exceptions reported). */
export type InvokeHandler = (fn: (payload: unknown) => void, payload: unknown, callback: string) => void;

let nextConnectionId = 1;

/** A new connection id (unique in the process). */
export function nextConnection(): number {
  return nextConnectionId++;
}

/** Publishes one connection's events. */
export class Observer {
  readonly connection: number;
  readonly handler: EventHandler | undefined;
  readonly #invoke: InvokeHandler;
  /** Errors already published for a layer: a layer that goes down because of the same error does not repeat it. */
  readonly #reported = new WeakSet<object>();
  /**
   * The async context of the code that made the connection (for `request()`: the call that opened the
   * route): the connection's events are published in it, whatever triggers them (a socket, a pool's idle
   * timer, another request's call).
   */
  readonly #scope: AsyncResource;

  constructor(connection: number, handler: EventHandler | undefined, invoke: InvokeHandler) {
    this.connection = connection;
    this.handler = handler;
    this.#invoke = invoke;
    this.#scope = new AsyncResource('burrow:connection');
  }

  /** True when `name` has a subscriber, or the handler (`handler`, default the connection's) has its method. */
  wants(name: BurrowChannelName, handler: EventHandler | undefined = this.handler): boolean {
    return CHANNELS[name].hasSubscribers || (handler !== undefined && typeof handler[HANDLER_OF[name]] === 'function');
  }

  /**
   * Publishes `message` on `name` and gives it to the handler's method, in the
   * async context `scope` (default: the connection's; a stream's events: the stream's).
   */
  publish<K extends BurrowChannelName>(name: K, message: BurrowChannels[K], handler: EventHandler | undefined = this.handler, scope: AsyncResource = this.#scope): void {
    scope.runInAsyncScope(this.#publish, this, name, message, handler);
  }

  #publish<K extends BurrowChannelName>(name: K, message: BurrowChannels[K], handler: EventHandler | undefined): void {
    const ch = CHANNELS[name];
    if (ch.hasSubscribers) ch.publish(message);
    if (handler === undefined) return;
    const method = HANDLER_OF[name];
    const fn = handler[method] as ((m: BurrowChannels[K]) => void) | undefined;
    if (typeof fn === 'function') this.#invoke((m) => fn.call(handler, m as BurrowChannels[K]), message, `the events handler's ${method}`);
  }

  /** True the first time `error` is given: a layer error is published once, for the layer it happened in. */
  firstReport(error: object): boolean {
    if (this.#reported.has(error)) return false;
    this.#reported.add(error);
    return true;
  }

  /** Calls one of the handler's DNS methods. */
  dns(method: 'dnsStart' | 'dnsEnd', context: Parameters<NonNullable<EventHandler['dnsStart']>>[0]): void {
    const handler = this.handler;
    const fn = handler?.[method];
    if (typeof fn === 'function') this.#invoke((c) => fn.call(handler, c as typeof context), context, `the events handler's ${method}`);
  }
}

/**
 * `handler`'s DNS methods where no connection exists yet to report to (the lookups a `socks5://` hop needs,
 * made before the route's connection is opened): a method that throws is reported as a connection with no
 * `error` listener reports it, re-thrown on the next tick, and the lookup goes on.
 */
export function detachedDns(handler: EventHandler | undefined): Observer['dns'] {
  return (method, context) => {
    const fn = handler?.[method];
    if (typeof fn !== 'function') return;
    try {
      fn.call(handler, context);
    } catch (e) {
      process.nextTick(() => {
        throw e;
      });
    }
  };
}
