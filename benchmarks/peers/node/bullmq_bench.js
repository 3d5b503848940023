// BullMQ (Node) side of benchmarks/run.py. NODE_PATH must hold bullmq + ioredis
// (`make bench-peers-venv` installs them into .bench/node/node_modules).
//   node bullmq_bench.js enqueue N            sequential Queue.add; prints {"seconds"}
//   node bullmq_bench.js bulk N CHUNK         Queue.addBulk in chunks
//   node bullmq_bench.js latency N GAP_MS     sequential adds of {i, t: enqueue epoch s}
//   node bullmq_bench.js warm                 one warm-up job {w: 1}
//   node bullmq_bench.js worker               one Worker at BENCH_CONCURRENCY
// Env: BENCH_REDIS_HOST/PORT, BENCH_N, BENCH_DONE_FILE, BENCH_READY_FILE, BENCH_CONCURRENCY.
'use strict';
const fs = require('fs');
const { Queue, Worker } = require('bullmq');

const connection = {
  host: process.env.BENCH_REDIS_HOST || '127.0.0.1',
  port: parseInt(process.env.BENCH_REDIS_PORT || '6390', 10),
};
const QNAME = 'peerbench';
const nowS = () => (performance.timeOrigin + performance.now()) / 1000;
const hr = () => Number(process.hrtime.bigint()) / 1e9;

async function producer(mode, args) {
  const q = new Queue(QNAME, { connection });
  await q.waitUntilReady();
  const out = {};
  if (mode === 'enqueue') {
    const n = parseInt(args[0], 10);
    const t0 = hr();
    for (let i = 0; i < n; i++) await q.add('noop', { i });
    out.seconds = hr() - t0;
  } else if (mode === 'bulk') {
    const n = parseInt(args[0], 10), chunk = parseInt(args[1] || '1000', 10);
    const t0 = hr();
    for (let s = 0; s < n; s += chunk) {
      const jobs = [];
      for (let i = s; i < Math.min(n, s + chunk); i++) jobs.push({ name: 'noop', data: { i } });
      await q.addBulk(jobs);
    }
    out.seconds = hr() - t0;
  } else if (mode === 'latency') {
    const n = parseInt(args[0], 10), gap = parseFloat(args[1] || '5');
    const t0 = hr();
    for (let i = 0; i < n; i++) {
      await q.add('noop', { i, t: nowS() });
      await new Promise((r) => setTimeout(r, gap));
    }
    out.seconds = hr() - t0;
  } else if (mode === 'warm') {
    await q.add('noop', { i: -1, w: 1 });
  } else {
    throw new Error('unknown mode ' + mode);
  }
  await q.close();
  process.stdout.write(JSON.stringify(out) + '\n');
}

function worker() {
  const N = parseInt(process.env.BENCH_N || '0', 10);
  const DONE = process.env.BENCH_DONE_FILE || '';
  const READY = process.env.BENCH_READY_FILE || '';
  const conc = parseInt(process.env.BENCH_CONCURRENCY || '10', 10);
  let count = 0, tFirst = null, cpuFirst = null, readyDone = false;
  const cpuS = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
  const lat = [];
  const w = new Worker(
    QNAME,
    async (job) => {
      const now = nowS();
      const p = job.data || {};
      if (p.w) {
        if (READY && !readyDone) { readyDone = true; fs.writeFileSync(READY, String(now)); }
        return null;
      }
      count++;
      if (tFirst === null) { tFirst = now; cpuFirst = cpuS(); }
      if (p.t !== undefined) lat.push(now - p.t);
      if (N && count === N && DONE) {
        const tmp = DONE + '.' + process.pid + '.tmp';
        fs.writeFileSync(tmp, JSON.stringify({ count, t_first: tFirst, t_last: now, cpu_first: cpuFirst, cpu_last: cpuS(), lat }));
        fs.renameSync(tmp, DONE);
      }
      return null;
    },
    { connection, concurrency: conc },
  );
  w.on('error', (e) => console.error('worker error', e));
  const stop = async () => { await w.close(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'worker') worker();
else producer(mode, args).catch((e) => { console.error(e); process.exit(1); });
