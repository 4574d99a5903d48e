// Scripted WebSocket servers that break RFC 6455 / 7692 on purpose (bad peers), on loopback port 0: each reads the
// client's HTTP/1.1 upgrade, answers it (rightly, or wrongly when the test wants), then writes exactly the frames
// the test gives and reports what the client sent back. The wire helpers are the test side's own
// (test/protocols/websocket/wire.ts), written independently of src/.
import { startScriptedServer, type ScriptedConnection, type ScriptedServer } from '../../src/testing/index.js';
import { acceptOf, closeCodeOf, readClientFrame, type ClientFrame } from '../protocols/websocket/wire.js';

/** The client's upgrade request, as the bad peer read it. */
export interface UpgradeRequest {
  readonly head: string;
  readonly key: string;
  /** `sec-websocket-protocol` and `sec-websocket-extensions` as sent ('' when absent). */
  readonly protocols: string;
  readonly extensions: string;
}

/** What a bad peer writes in answer to the upgrade. */
export interface BadPeerScript {
  /** Extra headers of the 101 (e.g. an unrequested extension). */
  readonly headers?: (req: UpgradeRequest) => Record<string, string>;
  /** The `sec-websocket-accept` sent (default: the right one). */
  readonly accept?: (req: UpgradeRequest) => string;
  /** Bytes written after the 101, in one write (in the same write as the 101 with `sameWrite`). */
  readonly frames?: (req: UpgradeRequest) => Buffer | Promise<Buffer>;
  readonly sameWrite?: boolean;
  /**
   * After the frames: `close-after-close` (default) reads the client's close frame, then closes TCP first as a server
   * should; `silent` reads it and never answers nor closes TCP until {@link BadPeer.release} (the client's
   * closingTimeout must end it); `drop` closes TCP right after the frames, without a close frame.
   */
  readonly then?: 'close-after-close' | 'silent' | 'drop';
  /** Never answer the upgrade (until the client gives up and closes TCP). */
  readonly noAnswer?: boolean;
}

/** A running bad peer. */
export interface BadPeer {
  readonly port: number;
  readonly server: ScriptedServer;
  /** The first connection's outcome: the client's close frame (undefined when the client sent none before closing). */
  readonly clientClose: Promise<ClientFrame | undefined>;
  /** The first connection's request. */
  readonly request: Promise<UpgradeRequest>;
  /** `close-after-close`: true when the client had not ended TCP when the peer ended it (the server closed first). */
  readonly serverClosedFirst: Promise<boolean>;
  /** Lets a `silent` peer close its socket (call it once the client has closed on its own). */
  release(): void;
  /** Resolves when the first connection's socket has closed on the server side. */
  readonly closed: Promise<void>;
  close(): Promise<void>;
}

function header(head: string, name: string): string {
  const re = new RegExp(`^${name}:[ \\t]*(.*?)[ \\t]*$`, 'gim');
  return [...head.matchAll(re)].map((m) => m[1] ?? '').join(', ');
}

/** Reads the upgrade request off `c`. */
export async function readUpgrade(c: ScriptedConnection): Promise<UpgradeRequest> {
  const head = await c.readRequestHead();
  return { head, key: header(head, 'sec-websocket-key'), protocols: header(head, 'sec-websocket-protocol'), extensions: header(head, 'sec-websocket-extensions') };
}

/** A 101 answer for `req`, with `accept` and `extra` headers. */
export function switchingProtocols(accept: string, extra: Record<string, string> = {}): string {
  const lines = ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${accept}`];
  for (const [k, v] of Object.entries(extra)) lines.push(`${k}: ${v}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** Reads client frames until a close frame (pongs and the like are skipped); undefined when the client closed first. */
async function awaitClientClose(c: ScriptedConnection): Promise<ClientFrame | undefined> {
  for (;;) {
    let f: ClientFrame;
    try {
      f = await readClientFrame(c, 10_000);
    } catch {
      return undefined;
    }
    if (f.opcode === 8) return f;
  }
}

/** Starts a bad peer that runs `script` on the first connection it accepts. */
export async function startBadPeer(script: BadPeerScript): Promise<BadPeer> {
  let resolveClose!: (f: ClientFrame | undefined) => void;
  let resolveRequest!: (r: UpgradeRequest) => void;
  let resolveClosed!: () => void;
  const clientClose = new Promise<ClientFrame | undefined>((r) => (resolveClose = r));
  const request = new Promise<UpgradeRequest>((r) => (resolveRequest = r));
  const closed = new Promise<void>((r) => (resolveClosed = r));
  let resolveFirst!: (b: boolean) => void;
  const serverClosedFirst = new Promise<boolean>((r) => (resolveFirst = r));
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let first = true;
  const server = await startScriptedServer({
    onConnection: async (c) => {
      if (!first) {
        c.destroy();
        return;
      }
      first = false;
      void c.closed.then(resolveClosed);
      try {
        const req = await readUpgrade(c);
        resolveRequest(req);
        if (script.noAnswer === true) {
          resolveFirst(false);
          resolveClose(await awaitClientClose(c));
          c.destroy();
          return;
        }
        const answer = Buffer.from(switchingProtocols(script.accept?.(req) ?? acceptOf(req.key), script.headers?.(req) ?? {}));
        const frames = (await script.frames?.(req)) ?? Buffer.alloc(0);
        if (script.sameWrite === true) await c.write(Buffer.concat([answer, frames]));
        else {
          await c.write(answer);
          if (frames.length > 0) await c.write(frames);
        }
        if (script.then === 'drop') {
          resolveFirst(true);
          c.end();
          resolveClose(await awaitClientClose(c));
          c.destroy();
          return;
        }
        const f = await awaitClientClose(c);
        resolveClose(f);
        if ((script.then ?? 'close-after-close') === 'close-after-close') {
          resolveFirst(!c.remoteEnded);
          c.end();
          return;
        }
        // Silent: no answer, TCP kept open until the test has seen the client close its side on its own.
        await released;
        c.destroy();
      } catch {
        resolveClose(undefined);
        resolveFirst(false);
        c.destroy();
      }
    },
  });
  return { port: server.port, server, clientClose, request, closed, serverClosedFirst, release, close: () => server.close() };
}

export { closeCodeOf };
