/**
 * The trace of a `burrow` run: human lines on stderr for `-v` (curl's `*`,
 * `>` and `<` lines) and JSON lines for `--trace-json FILE`, from the same
 * events.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { BurrowError, type HopInfo } from '../errors/errors.js';
import { RouteTracer, type HopDesc, type LayerEvent } from './route-trace.js';

/** Everything a run reports; `t` is ms since the command started. */
export type TraceEvent =
  | LayerEvent
  | { readonly event: 'start'; readonly t: number; readonly method: string; readonly url: string; readonly route: readonly HopDesc[]; readonly proxiesFrom: 'option' | 'environment' | 'none' }
  | { readonly event: 'request'; readonly t: number; readonly method: string; readonly path: string; readonly protocol: string; readonly headers: ReadonlyArray<readonly [string, string]> }
  | { readonly event: 'response'; readonly t: number; readonly status: number; readonly version: string; readonly headers: ReadonlyArray<readonly [string, string]> }
  | { readonly event: 'redirect'; readonly t: number; readonly status: number; readonly to: string; readonly method: string; readonly dropped: readonly string[] }
  | { readonly event: 'done'; readonly t: number; readonly status: number; readonly bytes: number }
  | { readonly event: 'ws-closed'; readonly t: number; readonly code: number; readonly reason: string; readonly wasClean: boolean; readonly sent: number; readonly received: number }
  | { readonly event: 'warning'; readonly t: number; readonly message: string }
  | { readonly event: 'route'; readonly t: number; readonly outcome: 'trying' | 'failed' | 'taken'; readonly source: string; readonly route: readonly string[]; readonly remembered: boolean; readonly code?: string; readonly message?: string }
  | {
      readonly event: 'error';
      readonly t: number;
      readonly message: string;
      readonly exit: number;
      readonly code?: string;
      readonly stage?: string;
      readonly hop?: HopInfo;
    };

/** `HTTP/2`, `HTTP/1.1` from a response version. */
export function httpVersionName(v: string): string {
  return v === '2' ? 'HTTP/2' : `HTTP/${v}`;
}

function ms(t: number): string {
  return `${t.toFixed(2).padStart(9)} ms`;
}

function addr(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** The `-v` lines of one event (without the trailing newline). */
export function renderEvent(ev: TraceEvent): string[] {
  const at = (hop: number, what: string, text: string): string => `* ${ms(ev.t)}  hop ${hop}  ${what.padEnd(7)} ${text}`;
  switch (ev.event) {
    case 'start': {
      const from = ev.proxiesFrom === 'option' ? ' (proxies from -x)' : ev.proxiesFrom === 'environment' ? ' (proxies from the environment)' : '';
      const lines = [`* ${ev.method} ${ev.url}${from}`];
      for (const h of ev.route) {
        const what = h.kind === 'origin' ? 'origin' : h.kind === 'connect' ? 'CONNECT proxy' : h.kind === 'socks4' ? 'SOCKS4 proxy' : 'SOCKS5 proxy';
        lines.push(`*   hop ${h.index}  ${what.padEnd(13)} ${h.url}${h.transport === 'tls' && h.kind !== 'origin' ? ' (TLS)' : ''}`);
      }
      return lines;
    }
    case 'dns':
      return [at(ev.hop, 'DNS', `${ev.host} -> ${ev.addresses.join(', ')}`)];
    case 'tcp':
      return [at(ev.hop, 'TCP', ev.local !== undefined ? `connected ${ev.local} -> ${ev.remote ?? '?'}` : `connected to ${addr(ev.host, ev.port)}`)];
    case 'tls': {
      const params = [ev.version, ev.cipher, ev.alpn !== undefined ? `ALPN ${ev.alpn}` : undefined].filter((x) => x !== undefined);
      const cert = ev.subject !== undefined ? `certificate ${ev.subject}${ev.issuer !== undefined ? `, issuer ${ev.issuer}` : ''}${ev.validTo !== undefined ? `, expires ${ev.validTo}` : ''}` : undefined;
      const verified = ev.verified ? 'verified' : 'NOT verified';
      const depth = ev.depth !== undefined ? `TLS depth ${ev.depth}` : undefined;
      return [at(ev.hop, 'TLS', [params.length > 0 ? params.join(', ') : undefined, depth, cert, verified].filter((x) => x !== undefined).join('; '))];
    }
    case 'connect':
      if (ev.status === 407) return [at(ev.hop, 'CONNECT', `${ev.target} -> 407 (${ev.via === 'h2' || ev.via === 'h2c' ? 'HTTP/2' : 'HTTP/1.1'} CONNECT via ${ev.via}://${addr(ev.host, ev.port)}), proxy authentication required${ev.offered !== undefined && ev.offered.length > 0 ? `: ${ev.offered.join(', ')} offered` : ''}`)];
      return [at(ev.hop, 'CONNECT', `${ev.target} -> ${ev.status ?? '2xx'} (${ev.via === 'h2' || ev.via === 'h2c' ? 'HTTP/2' : 'HTTP/1.1'} CONNECT via ${ev.via}://${addr(ev.host, ev.port)}), tunnel up`)];
    case 'socks5':
      return [at(ev.hop, 'SOCKS5', `CONNECT ${ev.target}${ev.resolved !== undefined ? ` (sent as ${ev.resolved}, resolved by the client)` : ''} -> succeeded${ev.bound !== undefined ? ` (bound ${ev.bound})` : ''}`)];
    case 'socks4':
      return [at(ev.hop, `SOCKS${ev.version}`, `CONNECT ${ev.target}${ev.resolved !== undefined ? ` (sent as ${ev.resolved}, resolved by the client)` : ''} -> granted${ev.bound !== undefined ? ` (bound ${ev.bound})` : ''}`)];
    case 'http':
      return [at(ev.hop, 'HTTP', `${ev.protocol} with the origin ${addr(ev.host, ev.port)}`)];
    case 'reused':
      return [`* ${ms(ev.t)}  re-using a pooled connection (${ev.protocol})`];
    case 'request':
      return [`> ${ev.method} ${ev.path} ${ev.protocol}`, ...ev.headers.map(([k, v]) => `> ${k}: ${v}`), '>'];
    case 'response':
      return [`< ${httpVersionName(ev.version)} ${ev.status}`, ...ev.headers.map(([k, v]) => `< ${k}: ${v}`), '<'];
    case 'redirect':
      return [`* ${ms(ev.t)}  redirect ${ev.status} -> ${ev.method} ${ev.to}${ev.dropped.length > 0 ? ` (another origin: not sending ${ev.dropped.join(', ')})` : ''}`];
    case 'done': {
      const secs = ev.t / 1000;
      return [`* ${ms(ev.t)}  done: ${ev.status}, ${ev.bytes} body bytes${secs > 0 && ev.bytes >= 1e6 ? ` (${(ev.bytes / secs / 1e6).toFixed(1)} MB/s overall)` : ''}`];
    }
    case 'ws-closed':
      return [`* ${ms(ev.t)}  WebSocket closed: ${ev.code}${ev.reason !== '' ? ` ${JSON.stringify(ev.reason)}` : ''} (${ev.wasClean ? 'clean' : 'not clean'}), ${ev.sent} messages sent, ${ev.received} received`];
    case 'route': {
      const chain = ev.route.length === 0 ? 'direct' : ev.route.join(' > ');
      if (ev.outcome === 'trying') return [`* ${ms(ev.t)}  route   trying ${ev.source}: ${chain}${ev.remembered ? ' (failed recently: tried last)' : ''}`];
      if (ev.outcome === 'taken') return [`* ${ms(ev.t)}  route   taken ${ev.source}: ${chain}`];
      return [`* ${ms(ev.t)}  route   failed ${ev.source}: ${ev.code ?? ''} ${ev.message ?? ''}`];
    }
    case 'warning':
    case 'error':
      return [];
  }
}

/** Errors as plain objects (their own fields are not enumerable as JSON otherwise). */
function jsonValue(_key: string, v: unknown): unknown {
  if (v instanceof BurrowError) return { name: v.name, code: v.code, stage: v.stage, hop: v.hop, message: v.message, details: v.details };
  if (v instanceof Error) return { name: v.name, message: v.message, ...('code' in v ? { code: (v as { code: unknown }).code } : {}) };
  return v;
}

/** Writes events to stderr (`-v`) and/or a JSON lines file. */
export class Tracer {
  readonly #verbose: boolean;
  readonly #err: (s: string) => void;
  #fd: number | undefined;
  /** The first error writing the trace file, if any. */
  writeError: Error | undefined;

  /** Throws when the trace file cannot be created. */
  constructor(opts: { verbose: boolean; jsonFile: string | undefined; err: (s: string) => void }) {
    this.#verbose = opts.verbose;
    this.#err = opts.err;
    this.#fd = opts.jsonFile === undefined ? undefined : openSync(opts.jsonFile, 'w');
  }

  /** True when anything is traced. */
  get active(): boolean {
    return this.#verbose || this.#fd !== undefined;
  }

  /** True when a JSON trace is written. */
  get json(): boolean {
    return this.#fd !== undefined;
  }

  /**
   * One of burrow's events (a `diagnostics_channel` message: `name` is its
   * channel), as a JSON line only: `{ t, event: name, ...payload }`, errors as
   * `{ name, code, stage, hop, message, details }`.
   */
  channel(name: string, payload: object, t: number): void {
    if (this.#fd === undefined || this.writeError !== undefined) return;
    try {
      writeSync(this.#fd, `${JSON.stringify({ t: Math.round(t * 100) / 100, event: name, ...payload }, jsonValue)}\n`);
    } catch (e) {
      this.writeError = e as Error;
    }
  }

  /** Writes `event`: its `-v` lines, and its JSON line unless `json` is false (layer lines: the JSON trace has the layer events themselves). */
  emit(event: TraceEvent, json = true): void {
    const ev: TraceEvent = { ...event, t: Math.round(event.t * 100) / 100 };
    if (this.#verbose) {
      const lines = renderEvent(ev);
      if (lines.length > 0) this.#err(`${lines.join('\n')}\n`);
    }
    if (json && this.#fd !== undefined && this.writeError === undefined) {
      try {
        writeSync(this.#fd, `${JSON.stringify(ev)}\n`);
      } catch (e) {
        this.writeError = e as Error;
      }
    }
  }

  close(): void {
    if (this.#fd !== undefined) {
      try {
        closeSync(this.#fd);
      } catch (e) {
        this.writeError ??= e as Error;
      }
      this.#fd = undefined;
    }
  }
}

/**
 * The trace of one run: the `-v` / `--trace-json` writer and the recorder of the
 * route's events feeding it. Undefined when the trace file cannot be created
 * (the message is written to `err`: the run exits with its write-error code).
 */
export function openTracing(o: { readonly verbose: boolean; readonly traceJson: string | undefined }, err: (s: string) => void): { tracer: Tracer; recorder: RouteTracer } | undefined {
  let tracer: Tracer;
  try {
    tracer = new Tracer({ verbose: o.verbose, jsonFile: o.traceJson, err });
  } catch (e) {
    err(`burrow: cannot create the trace file ${o.traceJson ?? ''}: ${(e as Error).message}\n`);
    return undefined;
  }
  const recorder = new RouteTracer();
  if (tracer.json) recorder.onEvent = (name, payload) => tracer.channel(name, payload, recorder.now());
  return { tracer, recorder };
}
