// The far side of the churn part of soak.mjs, in its own process: an h2c CONNECT proxy, two HTTP/1.1
// CONNECT proxies and an HTTP/1.1 origin (burrow's test servers, dist/testing), on 127.0.0.1, port 0.
// Sends { ports } over IPC; exits on { type: 'exit' } or when the parent goes away. The servers' records of
// requests are dropped now and then so that a long run does not grow this side's heap.
const t = await import('../../dist/testing/index.js');
const servers = {
  h2c: await t.startH2ConnectProxy({ transport: 'tcp' }),
  p2: await t.startConnectProxy({ transport: 'tcp' }),
  p3: await t.startConnectProxy({ transport: 'tcp' }),
  origin: await t.startOrigin({ protocol: 'http', transport: 'tcp' }),
};
setInterval(() => {
  for (const s of Object.values(servers)) for (const k of ['requests', 'events']) if (Array.isArray(s[k]) && s[k].length > 1000) s[k].length = 0;
}, 1000).unref();
const shutdown = async () => {
  setTimeout(() => process.exit(0), 1500).unref();
  await Promise.allSettled(Object.values(servers).map((s) => s.close()));
  process.exit(0);
};
process.on('disconnect', shutdown);
process.on('message', (m) => {
  if (m?.type === 'exit') shutdown();
});
process.send({ ports: Object.fromEntries(Object.entries(servers).map(([k, s]) => [k, s.port])) });
