'use strict';
// Throughput with K MessageChannels busy at once, the peer of our `mc_many` workload
// (benches/support/workloads.rs): TOTAL messages `{seq, text: "hello"}` spread evenly
// over K channels, posted interleaved in one task (channel 0, 1, ..., K-1, 0, ...),
// each delivered to a port2.onmessage that reads e.data. Plain Node.js, no packages;
// prints one JSON line like ../shared/bench-peers/node/*.js.
const os = require('os');

const nowNs = () => Number(process.hrtime.bigint());
const arg = (name, def) => {
  const a = process.argv.find((s) => s.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : def;
};
const TOTAL = Number(arg('total', 1_000_000));
const KS = arg('channels', '1,10,100,1000').split(',').map(Number);

function many(k, total) {
  return new Promise((resolve) => {
    const per = Math.floor(total / k);
    const target = per * k;
    let count = 0;
    let sum = 0;
    const ports = [];
    const t0 = nowNs();
    const onmsg = (e) => {
      sum += e.data.seq;
      if (++count === target) {
        const secs = (nowNs() - t0) / 1e9;
        for (const p of ports) p.close();
        resolve({ secs, target, sum });
      }
    };
    for (let c = 0; c < k; c++) {
      const { port1, port2 } = new MessageChannel();
      port2.onmessage = onmsg;
      ports.push(port1);
    }
    for (let i = 0; i < per; i++) {
      for (let c = 0; c < k; c++) ports[c].postMessage({ seq: i, text: 'hello' });
    }
  });
}

(async () => {
  await many(10, Math.min(TOTAL, 50_000)); // warm-up
  const out = {
    suite: 'node',
    bench: 'messagechannel_many',
    run: Number(process.env.BENCH_RUN || 0),
    node: process.version,
    cpus: os.cpus().length,
    total: TOTAL,
  };
  for (const k of KS) {
    const r = await many(k, TOTAL);
    out[`channels_${k}_msgs_per_sec`] = Math.round(r.target / r.secs);
  }
  process.stdout.write(JSON.stringify(out) + '\n');
})();
