// The clients ChainAgent is tested with, behind one shape: GET, POST with a streamed body, and the
// error a failed chain gives each of them. Real packages: Node's http/https, axios, got, node-fetch, ws.
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import axios from 'axios';
import got from 'got';
import fetch from 'node-fetch';
import WebSocket from 'ws';
import type { ChainAgent } from '../../../src/index.js';

export interface Reply {
  readonly status: number;
  readonly body: Buffer;
}

/** One client: each call takes the agent and the origin's CA (given the way that client takes TLS options). */
export interface Client {
  readonly name: string;
  get(url: string, agent: ChainAgent, ca: string): Promise<Reply>;
  post(url: string, agent: ChainAgent, ca: string, body: Readable): Promise<Reply>;
  /** The error the client gives for a request that fails (rejection or error event). */
  fail(url: string, agent: ChainAgent, ca: string): Promise<unknown>;
}

/** `count` chunks of 16 KiB, each different, as a stream; `sha256` of the whole. */
export function streamedBody(count: number): { body: Readable; size: number; sha256: string } {
  const chunks = Array.from({ length: count }, (_, i) => Buffer.alloc(16 * 1024, i % 251));
  const h = createHash('sha256');
  for (const c of chunks) h.update(c);
  async function* gen(): AsyncGenerator<Buffer> {
    for (const c of chunks) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      yield c;
    }
  }
  return { body: Readable.from(gen()), size: count * 16 * 1024, sha256: h.digest('hex') };
}

function nodeRequest(url: string, agent: ChainAgent, ca: string, method: string, body?: Readable): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.request(url, { method, agent, ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body) body.pipe(req);
    else req.end();
  });
}

export const nodeHttp: Client = {
  name: 'http.request',
  get: (url, agent, ca) => nodeRequest(url, agent, ca, 'GET'),
  post: (url, agent, ca, body) => nodeRequest(url, agent, ca, 'POST', body),
  fail: (url, agent, ca) => nodeRequest(url, agent, ca, 'GET').then(() => undefined, (e: unknown) => e),
};

export const axiosClient: Client = {
  name: 'axios',
  async get(url, agent) {
    const r = await axios.get<ArrayBuffer>(url, { httpAgent: agent, httpsAgent: agent, proxy: false, responseType: 'arraybuffer' });
    return { status: r.status, body: Buffer.from(r.data) };
  },
  async post(url, agent, _ca, body) {
    const r = await axios.post<ArrayBuffer>(url, body, { httpAgent: agent, httpsAgent: agent, proxy: false, responseType: 'arraybuffer', maxBodyLength: Infinity });
    return { status: r.status, body: Buffer.from(r.data) };
  },
  fail: (url, agent) => axios.get(url, { httpAgent: agent, httpsAgent: agent, proxy: false }).then(() => undefined, (e: unknown) => e),
};

export const gotClient: Client = {
  name: 'got',
  async get(url, agent, ca) {
    const r = await got(url, { agent: { http: agent, https: agent }, https: { certificateAuthority: ca }, responseType: 'buffer', retry: { limit: 0 } });
    return { status: r.statusCode, body: r.body };
  },
  async post(url, agent, ca, body) {
    const r = await got.post(url, { body, agent: { http: agent, https: agent }, https: { certificateAuthority: ca }, responseType: 'buffer', retry: { limit: 0 } });
    return { status: r.statusCode, body: r.body };
  },
  fail: (url, agent, ca) => got(url, { agent: { http: agent, https: agent }, https: { certificateAuthority: ca }, retry: { limit: 0 } }).then(() => undefined, (e: unknown) => e),
};

export const fetchClient: Client = {
  name: 'node-fetch',
  async get(url, agent) {
    const r = await fetch(url, { agent: agent });
    return { status: r.status, body: Buffer.from(await r.arrayBuffer()) };
  },
  async post(url, agent, _ca, body) {
    const r = await fetch(url, { method: 'POST', body, agent: agent });
    return { status: r.status, body: Buffer.from(await r.arrayBuffer()) };
  },
  fail: (url, agent) => fetch(url, { agent: agent }).then(() => undefined, (e: unknown) => e),
};

/**
 * ws: "GET" opens a WebSocket to an echo server and reads the greeting it sends; "POST" sends the body's
 * chunks as messages, one by one, and gets them back.
 */
export const wsClient: Client = {
  name: 'ws',
  get(url, agent, ca) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url.replace(/^http/, 'ws'), { agent, ca });
      ws.once('message', (data: Buffer) => {
        ws.close();
        ws.once('close', () => resolve({ status: 101, body: data }));
      });
      ws.once('error', reject);
    });
  },
  post(url, agent, ca, body) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url.replace(/^http/, 'ws'), { agent, ca });
      const got: Buffer[] = [];
      let sent = 0;
      let ended = false;
      ws.once('error', reject);
      ws.once('open', () => {
        body.on('data', (c: Buffer) => {
          sent++;
          ws.send(c);
        });
        body.on('end', () => {
          ended = true;
          if (got.length === sent) {
            ws.close();
            ws.once('close', () => resolve({ status: 101, body: Buffer.concat(got) }));
          }
        });
      });
      let greeted = false;
      ws.on('message', (data: Buffer) => {
        if (!greeted) {
          greeted = true;
          return;
        }
        got.push(data);
        if (ended && got.length === sent) {
          ws.close();
          ws.once('close', () => resolve({ status: 101, body: Buffer.concat(got) }));
        }
      });
    });
  },
  fail(url, agent, ca) {
    return new Promise((resolve) => {
      const ws = new WebSocket(url.replace(/^http/, 'ws'), { agent, ca });
      ws.once('error', resolve);
      ws.once('open', () => {
        ws.close();
        resolve(undefined);
      });
    });
  },
};

export const CLIENTS: readonly Client[] = [nodeHttp, axiosClient, gotClient, fetchClient, wsClient];
