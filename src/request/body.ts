/**
 * Request bodies of the web platform's types turned into what a connection
 * sends: `URLSearchParams` (form-urlencoded), `FormData` (multipart/form-data,
 * files streamed), `Blob` (streamed, its type), `ArrayBuffer` and typed
 * arrays, web `ReadableStream`; each with its `content-type` unless the caller
 * set one, and `content-length` when known. Done for each exchange, so such a
 * body can be sent again (a redirect that keeps the body, a retry).
 */
import { randomBytes } from 'node:crypto';
import { BurrowError } from '../errors/errors.js';
import { hasHeader, type Header } from '../shared/headers.js';
import type { RequestBody } from './init.js';

/** A body as the connection takes it: whole, or streamed. */
export type WireBody = string | Uint8Array | AsyncIterable<Uint8Array | string>;

/** The wire form of `body`; adds `content-type` (unless set) and, for a streamed body of known size, `content-length` (unless set) to `headers`. */
export function wireBody(body: RequestBody | null | undefined, headers: Header[]): WireBody | null {
  if (body === undefined || body === null) return null;
  if (typeof body === 'string' || body instanceof Uint8Array) return body;
  if (body instanceof URLSearchParams) {
    setDefault(headers, 'content-type', 'application/x-www-form-urlencoded;charset=UTF-8');
    return body.toString();
  }
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  if (ArrayBuffer.isView(body)) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof Blob) {
    if (body.type !== '') setDefault(headers, 'content-type', body.type);
    setDefault(headers, 'content-length', String(body.size));
    return blobChunks(body);
  }
  if (body instanceof FormData) return multipart(body, headers);
  if (typeof body === 'object' && Symbol.asyncIterator in body) return body as AsyncIterable<Uint8Array | string>;
  throw new BurrowError('ERR_INVALID_REQUEST', 'invalid body: a string, bytes, a Blob, FormData, URLSearchParams, a ReadableStream or an async iterable', { stage: 'http' });
}

function setDefault(headers: Header[], name: string, value: string): void {
  if (!hasHeader(headers, name)) headers.push([name, value]);
}

async function* blobChunks(blob: Blob): AsyncGenerator<Uint8Array> {
  // A Blob's stream in Node is async-iterable; typed through its reader to stay within Node 20's types.
  const reader = blob.stream().getReader();
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) return;
      yield r.value as Uint8Array;
    }
  } finally {
    reader.releaseLock();
  }
}

/** A name or file name in a multipart header, as the WHATWG multipart/form-data encoding escapes it. */
function escapeName(s: string): string {
  return s.replace(/\r\n|\r|\n/g, '\r\n').replace(/\n/g, '%0A').replace(/\r/g, '%0D').replace(/"/g, '%22');
}

/**
 * `form` as multipart/form-data (RFC 7578, the WHATWG encoding as Node's own
 * fetch sends it): string values with their line breaks as CRLF, files with
 * their name and type and their bytes streamed. Its length is known: every
 * part's size is.
 */
function multipart(form: FormData, headers: Header[]): WireBody {
  const boundary = `----burrow-formdata-${randomBytes(12).toString('hex')}`;
  const parts: (Buffer | Blob)[] = [];
  let text = '';
  for (const [name, value] of form) {
    text += `--${boundary}\r\nContent-Disposition: form-data; name="${escapeName(name)}"`;
    if (typeof value === 'string') {
      text += `\r\n\r\n${value.replace(/\r\n|\r|\n/g, '\r\n')}\r\n`;
      continue;
    }
    text += `; filename="${escapeName(value.name)}"\r\nContent-Type: ${value.type || 'application/octet-stream'}\r\n\r\n`;
    parts.push(Buffer.from(text), value);
    text = '\r\n';
  }
  text += `--${boundary}--\r\n`;
  parts.push(Buffer.from(text));
  setDefault(headers, 'content-type', `multipart/form-data; boundary=${boundary}`);
  if (parts.length === 1) return parts[0] as Buffer;
  let length = 0;
  for (const p of parts) length += p instanceof Blob ? p.size : p.length;
  setDefault(headers, 'content-length', String(length));
  return multipartChunks(parts);
}

async function* multipartChunks(parts: readonly (Buffer | Blob)[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) {
    if (p instanceof Blob) yield* blobChunks(p);
    else yield p;
  }
}
