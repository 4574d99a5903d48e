// The rps clients of the request-features benchmark (request-features.mjs), loaded by tunnel-client.mjs
// when the config has a `feature`: small requests through one HTTPS-proxy tunnel to an HTTPS origin, with
//   gzip     GET /gzip/10240: a 10 KiB text body gzip-compressed; the client decompresses (10 240 bytes checked)
//   cookies  GET /: a 50-cookie jar for the origin; the client sends its cookie header (5-byte body checked)
// Clients: burrow `request()` (its decompression, its CookieJar), undici `request()` through a ProxyAgent
// (the decompress interceptor; tough-cookie's jar for the cookie header), got (its decompression, tough-cookie
// as its cookieJar) on https-proxy-agent.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const COOKIES = 50;

/** What the body must be after decoding, per feature. */
export function expectedBytes(feature) {
  return feature === 'gzip' ? 10240 : 5;
}

function pathOf(feature) {
  return feature === 'gzip' ? '/gzip/10240' : '/';
}

async function toughJar(url) {
  const { CookieJar } = await import('tough-cookie');
  const jar = new CookieJar();
  for (let i = 0; i < COOKIES; i++) jar.setCookieSync(`c${i}=value-${i}-${'x'.repeat(20)}; Path=/`, url);
  return jar;
}

/**
 * One client: { one(): Promise<bytes>, close() }.
 * ctx: { client, feature, url(path), HOST, ports, ca, TLS, viaOf, burrowMod, UNDICI, originProtocol }.
 */
export async function featureClient(ctx) {
  const { client, feature } = ctx;
  const u = ctx.url(pathOf(feature));
  if (client.startsWith('burrow-request')) {
    const burrow = await ctx.burrowMod();
    const pool = new burrow.Pool();
    const init = { via: ctx.viaOf(), tls: ctx.TLS, protocols: [ctx.originProtocol], pool };
    if (feature === 'cookies') {
      const jar = new burrow.CookieJar();
      for (let i = 0; i < COOKIES; i++) jar.setCookie(`c${i}=value-${i}-${'x'.repeat(20)}; Path=/`, u);
      init.cookies = jar;
    }
    return {
      async one() {
        const res = await burrow.request(u, init);
        if (res.status !== 200) throw new Error(`status ${res.status}`);
        let n = 0;
        for await (const c of res.body) n += c.length;
        return n;
      },
      close: () => pool.close?.(),
    };
  }
  if (client.startsWith('undici')) {
    const undici = require(ctx.UNDICI);
    const agent = new undici.ProxyAgent({ uri: `https://${ctx.HOST}:${ctx.ports.https1}`, proxyTls: { ca: ctx.ca }, requestTls: { ca: ctx.ca }, connections: 1, pipelining: 1 });
    const dispatcher = feature === 'gzip' ? agent.compose(undici.interceptors.decompress()) : agent;
    const jar = feature === 'cookies' ? await toughJar(u) : undefined;
    return {
      async one() {
        const headers = jar ? { cookie: jar.getCookieStringSync(u) } : { 'accept-encoding': 'gzip, deflate, br' };
        const { statusCode, body } = await undici.request(u, { dispatcher, headers });
        if (statusCode !== 200) throw new Error(`status ${statusCode}`);
        let n = 0;
        for await (const c of body) n += c.length;
        return n;
      },
      close: () => agent.close(),
    };
  }
  if (client === 'got') {
    const { got } = await import('got');
    const { HttpsProxyAgent } = await import('https-proxy-agent');
    const agent = new HttpsProxyAgent(`https://${ctx.HOST}:${ctx.ports.https1}`, { ca: ctx.ca, keepAlive: true, maxSockets: 1 });
    const cookieJar = feature === 'cookies' ? await toughJar(u) : undefined;
    const g = got.extend({ agent: { https: agent }, https: { certificateAuthority: ctx.ca }, retry: { limit: 0 }, decompress: true, cookieJar, responseType: 'buffer' });
    return {
      async one() {
        const res = await g(u);
        if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
        return res.rawBody.length;
      },
      close: () => agent.destroy(),
    };
  }
  throw new Error(`unknown features client ${client}`);
}
