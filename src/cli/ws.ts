/**
 * `burrow [options] ws[s]://…`: a WebSocket through the proxy chain. Each
 * stdin line is sent as a text message; each message received is written on
 * its own line (binary ones as they are, or as base64 with `--base64`). When
 * stdin ends, the WebSocket is closed (1000) and the run ends with the
 * server's close: exit 0 when the close handshake finished.
 */
import { createInterface } from 'node:readline';
import type { TlsOptions } from '../shared/options/tls.js';
import { BurrowError } from '../errors/errors.js';
import type { StreamUpgradeEvent } from '../shared/events.js';
import { WebSocket } from '../websocket/websocket.js';
import type { CloseEvent, WebSocketErrorEvent } from '../websocket/events.js';
import { parseHeaderArg, type CliOptions } from './args.js';
import { EXIT } from './exit-codes.js';
import { fileSink, streamSink, type Sink } from './output.js';
import { describeRoute } from './route-trace.js';
import { chainFor, readCa, reportFailure, viaOf, type RunIo } from './run.js';
import { maskUrl } from '../shared/redact.js';
import { openTracing } from './trace.js';

/** The run's outcome once the WebSocket closed. */
type Outcome = { readonly clean: true } | { readonly clean: false; readonly error: BurrowError };

/** Opens the WebSocket, pumps stdin to it and its messages out. Returns the exit code. */
export async function runWebSocket(o: CliOptions, io: RunIo): Promise<number> {
  const err = (s: string): void => {
    io.stderr.write(s);
  };
  const tracing = openTracing(o, err);
  if (tracing === undefined) return EXIT.WRITE;
  const { tracer, recorder } = tracing;
  recorder.onLayers = (events) => {
    for (const ev of events) tracer.emit(ev, false);
  };
  const target = new URL(o.url);
  // Proxies and route as for the http(s) URL of the same host.
  const httpTarget = new URL(o.url.replace(/^ws/i, 'http'));
  const route = describeRoute([], httpTarget);
  let sink: Sink | undefined;
  let ws: WebSocket | undefined;
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  try {
    if (o.insecure) {
      tracer.emit({ event: 'warning', t: recorder.now(), message: "-k/--insecure: the origin's certificate is NOT verified" });
      err("burrow: warning: -k/--insecure: the origin's certificate is NOT verified\n");
    }
    const originTls: TlsOptions = {
      ...(o.cacert !== undefined ? { ca: readCa(o.cacert, '--cacert') } : {}),
      ...(o.insecure ? { rejectUnauthorized: false } : {}),
    };
    const proxyCas = new Map<number, string>();
    for (const c of o.proxyCacerts) proxyCas.set(c.hop, readCa(c.path, `--proxy-cacert ${c.hop}:`));
    const stageTimeout = o.connectTimeout === undefined ? undefined : Math.round(o.connectTimeout * 1000);
    const chain = chainFor(o, httpTarget, io.env);
    const via = viaOf(o, chain, new Map(), proxyCas, stageTimeout);
    // The origin as the URL names it (ws: / wss:).
    const hops = describeRoute(chain.hops, httpTarget).map((h) => (h.kind === 'origin' ? { ...h, url: `${target.protocol}//${target.host}` } : h));
    route.splice(0, route.length, ...hops);
    recorder.route = hops;
    tracer.emit({ event: 'start', t: recorder.now(), method: 'GET', url: maskUrl(target), route: hops, proxiesFrom: chain.from });
    const headers: Array<[string, string]> = [['user-agent', o.userAgent ?? `burrow/${io.version}`]];
    for (const h of o.headers) {
      const { name, value } = parseHeaderArg(h);
      const lower = name.toLowerCase();
      for (let i = headers.length - 1; i >= 0; i--) if ((headers[i] as [string, string])[0] === lower) headers.splice(i, 1);
      if (value !== undefined) headers.push([lower, value]);
    }
    const path = `${target.pathname}${target.search}` || '/';
    // The handshake as sent: the user's headers and the sec-websocket-* ones (the version, the key, the offers).
    recorder.onRequest = (protocol, sent) => {
      tracer.emit({ event: 'request', t: recorder.now(), method: protocol === 'HTTP/2' ? 'CONNECT' : 'GET', path, protocol, headers: sent });
    };
    const events = { ...recorder.events };
    const upgraded = events.streamUpgrade;
    events.streamUpgrade = (e: StreamUpgradeEvent): void => {
      upgraded?.(e);
      const status = e.headers.some(([n]) => n === 'sec-websocket-accept') ? 101 : 200;
      tracer.emit({ event: 'response', t: recorder.now(), status, version: status === 101 ? '1.1' : '2', headers: e.headers });
    };
    const out = (sink = o.output === undefined || o.output === '-' ? streamSink(io.stdout, 'stdout') : fileSink(o.output));
    const socket = new WebSocket(target, [], {
      via,
      tls: originTls,
      headers,
      http2: o.protocols?.[0] === 'http2',
      timeouts: { ...(stageTimeout !== undefined ? { connect: stageTimeout, tlsHandshake: stageTimeout, handshake: stageTimeout } : {}) },
      events,
    });
    ws = socket;
    socket.binaryType = 'nodebuffer';
    // Written in order, one line per message; a failed write ends the run (exit 23).
    let writes = Promise.resolve();
    let writeFailed: unknown;
    let sent = 0;
    let received = 0;
    socket.onmessage = (ev: Event): void => {
      received++;
      const data = (ev as MessageEvent).data as string | Buffer;
      const line = typeof data === 'string' ? Buffer.from(`${data}\n`) : o.base64 ? Buffer.from(`${data.toString('base64')}\n`) : Buffer.concat([data, Buffer.from('\n')]);
      writes = writes.then(() => out.write(line)).catch((e: unknown) => {
        writeFailed ??= e;
        socket.close(1000);
      });
    };
    const outcome = await new Promise<Outcome>((resolve) => {
      let failure: BurrowError | undefined;
      socket.onerror = (ev: Event): void => {
        failure = (ev as WebSocketErrorEvent).error;
      };
      socket.onclose = (ev: Event): void => {
        const c = ev as CloseEvent;
        tracer.emit({ event: 'ws-closed', t: recorder.now(), code: c.code, reason: c.reason, wasClean: c.wasClean, sent, received });
        resolve(c.wasClean ? { clean: true } : { clean: false, error: failure ?? new BurrowError('ERR_WS_CLOSED', `the WebSocket closed without a close handshake (${c.code})`, { stage: 'websocket' }) });
      };
      socket.onopen = (): void => {
        if (io.stdin === undefined) {
          socket.close(1000);
          return;
        }
        const lines = createInterface({ input: io.stdin, crlfDelay: Infinity });
        lines.on('line', (line) => {
          if (socket.readyState !== 1) return;
          socket.send(line);
          sent++;
        });
        lines.on('close', () => {
          if (socket.readyState === 1) socket.close(1000);
        });
      };
      if (o.maxTime !== undefined) {
        timer = setTimeout(() => {
          timedOut = true;
          socket.close(1000);
        }, o.maxTime * 1000);
      }
    });
    await writes;
    if (writeFailed !== undefined) throw writeFailed;
    await out.close();
    if (timedOut) throw new BurrowError('ERR_REQUEST_TIMEOUT', `the WebSocket was still open after ${o.maxTime ?? 0} s (-m)`, { stage: 'timeout' });
    if (!outcome.clean) throw outcome.error;
    return EXIT.OK;
  } catch (e) {
    recorder.flush();
    return reportFailure(e, o, { url: target, route, tracer, now: recorder.now(), err });
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    if (ws !== undefined && ws.readyState < 2) ws.close();
    await sink?.abort();
    tracer.close();
  }
}
