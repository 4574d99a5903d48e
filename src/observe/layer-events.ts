/**
 * Publishing a layer's life: started, up, failed (with its typed error), down
 * (with its final byte counts). The record changes state whether or not
 * anyone watches; a payload is built only for a watcher.
 */
import type { BurrowError, HopInfo } from '../errors/errors.js';
import type { LayerKind } from '../shared/events.js';
import { LayerRecord } from './layer-record.js';
import type { Observer } from './observer.js';

/** Ends the records of layers that were up (innermost first): they go down with their duplex. */
export function layersDown(observer: Observer, records: readonly LayerRecord[]): void {
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i] as LayerRecord;
    if (r.state !== 'up') continue;
    r.end('down');
    if (observer.wants('burrow:layer:down')) observer.publish('burrow:layer:down', { connection: observer.connection, layer: r.snapshot() });
  }
}

/** A new record, published as started. */
export function startLayer(observer: Observer, kind: LayerKind, hop: HopInfo, parent: LayerRecord | undefined, tunnel: readonly number[] | undefined): LayerRecord {
  const r = new LayerRecord(observer.connection, kind, hop, parent, tunnel);
  if (observer.wants('burrow:layer:start')) observer.publish('burrow:layer:start', { connection: observer.connection, layer: r.snapshot() });
  return r;
}

/** Marks a record up and publishes it. */
export function layerUp(observer: Observer, r: LayerRecord): void {
  r.markUp();
  if (observer.wants('burrow:layer:up')) observer.publish('burrow:layer:up', { connection: observer.connection, layer: r.snapshot() });
  // Its details are read now (the snapshot read them) for the events that follow: a reset destroys the socket first.
  else if (observer.wants('burrow:layer:down') || observer.wants('burrow:layer:error')) void r.tls;
}

/**
 * Marks a record that was starting failed and publishes the error: its last
 * event, so it is published even when the same error was already reported for
 * another layer (a layer still starting when what carries it goes fails with
 * the error that took it).
 */
export function layerFailed(observer: Observer, r: LayerRecord, error: BurrowError): void {
  if (r.state === 'failed' || r.state === 'down') return;
  r.end('failed');
  observer.firstReport(error);
  if (observer.wants('burrow:layer:error')) observer.publish('burrow:layer:error', { connection: observer.connection, layer: r.snapshot(), error });
}

/**
 * A layer that was up failed (its connection reset, its tunnel closed with an
 * error): the error is published for it; it goes down with the others.
 */
export function layerBroke(observer: Observer, r: LayerRecord, error: BurrowError): void {
  if (r.state !== 'up') return;
  if (observer.firstReport(error) && observer.wants('burrow:layer:error')) observer.publish('burrow:layer:error', { connection: observer.connection, layer: r.snapshot(), error });
}

/** On a failed setup: the layer still starting fails with `error`; those that were up go down. */
export function chainFailed(observer: Observer, records: readonly LayerRecord[], error: BurrowError): void {
  for (const r of records) if (r.state === 'starting') layerFailed(observer, r, error);
  layersDown(observer, records);
}
