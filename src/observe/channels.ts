/**
 * burrow's `diagnostics_channel` channels, created once. A message is built
 * and published only when its channel has subscribers (`hasSubscribers`), so
 * nobody pays for what nobody watches.
 */
import dc from 'node:diagnostics_channel';
import { CHANNEL_NAMES, type BurrowChannelName, type DnsLookupContext, type RequestCallContext } from '../shared/events.js';

/** The plain channels by name. */
export const CHANNELS: { readonly [K in BurrowChannelName]: dc.Channel } = Object.fromEntries(
  CHANNEL_NAMES.map((name) => [name, dc.channel(name)]),
) as { [K in BurrowChannelName]: dc.Channel };

/** `tracing:burrow:dns:*`: one DNS lookup. */
export const DNS_TRACE = dc.tracingChannel<unknown, DnsLookupContext>('burrow:dns');

/** `tracing:burrow:request:*`: one `request()` call, to its response head. */
export const REQUEST_TRACE = dc.tracingChannel<unknown, RequestCallContext>('burrow:request');

/** True when any channel of a tracing channel has a subscriber (`TracingChannel.hasSubscribers` is newer than Node 20.0). */
export function tracing(tc: dc.TracingChannel<unknown, object>): boolean {
  return tc.start.hasSubscribers || tc.end.hasSubscribers || tc.asyncStart.hasSubscribers || tc.asyncEnd.hasSubscribers || tc.error.hasSubscribers;
}
