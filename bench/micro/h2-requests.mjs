#!/usr/bin/env node
// A fixed HTTP/2 workload for counting instructions (valgrind --tool=callgrind), which do not depend on the rest
// of the machine: N request() calls, 100 in flight, to a node:http2 origin in the same process answering `hello`.
// Usage: node bench/micro/h2-requests.mjs [DIST] [N]   (DIST: a burrow dist/ directory, default ../../dist)
//   valgrind --tool=callgrind --smc-check=all-non-file --callgrind-out-file=/dev/null \
//     node --single-threaded bench/micro/h2-requests.mjs dist 20000
import http2 from 'node:http2';
import { pathToFileURL } from 'node:url';

const dist = process.argv[2] ? pathToFileURL(`${process.argv[2].replace(/\/$/, '')}/index.js`).href : new URL('../../dist/index.js', import.meta.url).href;
const N = Number(process.argv[3] ?? 20000);
const { request, Pool } = await import(dist);
const srv = http2.createServer();
srv.on('stream', (s) => {
  s.respond({ ':status': 200, 'content-length': '5' });
  s.end('hello');
});
await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${srv.address().port}/`;
const pool = new Pool();
const opts = { pool, protocols: ['http2'] };
let n = 0;
const c0 = process.cpuUsage();
async function loop() {
  while (n < N) {
    n++;
    const r = await request(url, opts);
    if ((await r.text()) !== 'hello') throw new Error('bad body');
  }
}
await Promise.all(Array.from({ length: 100 }, loop));
const c = process.cpuUsage(c0);
await pool.close();
srv.close();
console.log(`${n} requests, ${((c.user + c.system) / n).toFixed(1)} µs CPU per request (client and origin)`);
