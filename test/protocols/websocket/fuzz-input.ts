// Worker of the input fuzz in messages.property.test.ts: random bytes, and valid server streams with bytes
// flipped, inserted or cut off, go through the frame decoder and the message assembler (with permessage-deflate
// or without) in random pieces. Every failure must be a WsProtocolError with a close code the client may send;
// whatever comes out must be well formed; the input is looked at a bounded number of times per read and per frame;
// each run must settle within its bound. Posts a FuzzResult.
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { FrameDecoder, validCloseCode, WsProtocolError, type RawFrame } from '../../../src/protocols/websocket/frames.js';
import { MessageAssembler, type WsFrame } from '../../../src/protocols/websocket/messages.js';
import { PerMessageDeflate } from '../../../src/protocols/websocket/deflate.js';
import { WorkCounter } from './budget.js';
import { ServerDeflater, serverBytes, streamArb } from './model.js';

export interface FuzzSettings {
  readonly numRuns: number;
  readonly perRunTimeoutMs: number;
}

export interface FuzzResult {
  readonly failed: boolean;
  readonly numRuns: number;
  readonly report: string;
}

interface Mutation {
  readonly at: number;
  readonly kind: 'flip' | 'insert' | 'delete';
  readonly value: number;
}

function mutate(bytes: Buffer, mutations: readonly Mutation[], truncate: number | undefined): Buffer {
  const b = [...bytes];
  for (const m of mutations) {
    if (b.length === 0) break;
    const i = m.at % b.length;
    if (m.kind === 'flip') b[i] = ((b[i] as number) ^ (1 << m.value % 8)) & 0xff;
    else if (m.kind === 'insert') b.splice(i, 0, m.value & 0xff);
    else b.splice(i, 1);
  }
  const out = Buffer.from(b);
  return truncate === undefined ? out : out.subarray(0, truncate % (out.length + 1));
}

/** Close codes a client may fail a connection with for a peer's error. */
const FAIL_CODES = new Set([1002, 1007, 1009]);

function checkOut(f: WsFrame): void {
  switch (f.type) {
    case 'text':
      if (!isUtf8(Buffer.from(f.data, 'utf8')) || Buffer.from(f.data, 'utf8').toString('utf8') !== f.data) throw new Error('a text message that is not UTF-8');
      return;
    case 'close':
      if (f.code !== undefined && !validCloseCode(f.code)) throw new Error(`a close frame with code ${f.code} came out`);
      return;
    case 'ping':
    case 'pong':
      if (f.data.length > 125) throw new Error(`a ${f.type} of ${f.data.length} bytes came out`);
      return;
    default:
  }
}

const input = fc.oneof(
  fc.uint8Array({ maxLength: 200 }).map((u) => ({ random: Buffer.from(u) as Buffer | undefined, spec: undefined })),
  fc.record({
    spec: streamArb(true),
    mutations: fc.array(fc.record({ at: fc.nat(), kind: fc.constantFrom<Mutation['kind']>('flip', 'insert', 'delete'), value: fc.nat() }), { minLength: 1, maxLength: 4 }),
    truncate: fc.option(fc.nat(), { nil: undefined }),
  }).map((x) => ({ random: undefined, spec: x })),
);

async function runOne(
  x: { random: Buffer | undefined; spec: { spec: Parameters<typeof serverBytes>[0]; mutations: Mutation[]; truncate: number | undefined } | undefined },
  useDeflate: boolean,
  keepContext: boolean,
  maxPayload: number,
  sizes: readonly number[],
  timeoutMs: number,
): Promise<void> {
  const server = new ServerDeflater(15, keepContext);
  const deflate = useDeflate ? new PerMessageDeflate({ serverNoContextTakeover: !keepContext, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 }, { maxPayload }) : undefined;
  try {
    const bytes = x.random ?? mutate((await serverBytes(x.spec!.spec, useDeflate ? server : undefined)).bytes, x.spec!.mutations, x.spec!.truncate);
    const decoder = new FrameDecoder({ allowRsv1: useDeflate, maxFramePayload: maxPayload });
    const errors: unknown[] = [];
    const assembler = new MessageAssembler({ maxPayload, deflate }, checkOut, (e) => errors.push(e));
    const frames: RawFrame[] = [];
    const work = new WorkCounter();
    let reads = 0;
    let decoded = 0;
    let at = 0;
    let i = 0;
    let dead = false;
    while (at < bytes.length) {
      const n = sizes[i++ % sizes.length] as number;
      const piece = work.mark(bytes.subarray(at, at + n));
      at += n;
      reads++;
      try {
        decoder.feed(piece, frames);
      } catch (e) {
        errors.push(e);
        dead = true;
      }
      decoded += frames.length;
      try {
        for (const f of frames.splice(0)) assembler.push(f);
      } catch (e) {
        errors.push(e);
      }
      if (dead) {
        // The decoder stays dead after an error.
        try {
          decoder.feed(Buffer.from([0x81, 0x00]));
          throw new Error('the decoder took bytes after a protocol error');
        } catch (e) {
          if (!(e instanceof WsProtocolError)) throw e;
        }
        break;
      }
    }
    // Bounded work per byte: the chunks fed are looked at a bounded number of times per read and per frame.
    if (work.reads > 64 * (reads + decoded)) throw new Error(`${work.reads} looks at the input for ${reads} reads and ${decoded} frames`);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      assembler.settled(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the assembler did not settle within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
    for (const e of errors) {
      if (!(e instanceof WsProtocolError)) throw new Error(`a failure that is not a WsProtocolError: ${String(e)}`, { cause: e });
      if (!FAIL_CODES.has(e.closeCode)) throw new Error(`a WsProtocolError with close code ${e.closeCode}`);
    }
  } finally {
    server.close();
    deflate?.close();
  }
}

export async function runInputFuzz(settings: FuzzSettings): Promise<FuzzResult> {
  const details = await fc.check(
    fc.asyncProperty(
      input,
      fc.boolean(),
      fc.boolean(),
      fc.oneof(fc.constant(1 << 20), fc.integer({ min: 1, max: 300 })),
      fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 }),
      async (x, useDeflate, keepContext, maxPayload, sizes) => {
        await runOne(x, useDeflate, keepContext, maxPayload, sizes, settings.perRunTimeoutMs);
      },
    ),
    { numRuns: settings.numRuns },
  );
  return { failed: details.failed, numRuns: details.numRuns, report: details.failed ? (fc.defaultReportMessage(details) ?? 'failed') : '' };
}

if (!isMainThread && parentPort !== null) {
  const port = parentPort;
  void runInputFuzz(workerData as FuzzSettings).then(
    (r) => port.postMessage(r),
    (e: unknown) => port.postMessage({ failed: true, numRuns: 0, report: String((e as Error).stack ?? e) } satisfies FuzzResult),
  );
}
