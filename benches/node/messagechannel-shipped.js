'use strict';
// A MessageChannel whose port2 was transferred (posted through another channel) to the
// same thread: the peer of our `shipped` workloads (benches/support/workloads.rs). Burst
// throughput and ping-pong round trips on such a channel, and memory per idle shipped
// channel (a fresh `--expose-gc` child, as messagechannel-memory.js measures). Plain
// Node.js, no packages; prints one JSON line like ../shared/bench-peers/node/*.js.
const os = require('os');
const { execFileSync } = require('child_process');

const nowNs = () => Number(process.hrtime.bigint());
const arg = (name, def) => {
  const a = process.argv.find((s) => s.startsWith(`--${name}=`));
  return a ? Number(a.slice(name.length + 3)) : def;
};
const N = arg('n', 1_000_000);
const RT = arg('rt', 100_000);
const C = arg('channels', 100_000);
const WARM = Math.max(1, Math.floor(RT / 10));

// Ships `port` through a helper channel; resolves with the port as received.
function shipped(port) {
  return new Promise((resolve) => {
    const h = new MessageChannel();
    h.port2.onmessage = (e) => {
      h.port1.close();
      resolve(e.ports[0]);
    };
    h.port1.postMessage(null, [port]);
  });
}

async function burst(n) {
  const { port1, port2 } = new MessageChannel();
  const p2 = await shipped(port2);
  return new Promise((resolve) => {
    let count = 0;
    let sum = 0;
    const t0 = nowNs();
    p2.onmessage = (e) => {
      sum += e.data.seq;
      if (++count === n) {
        const secs = (nowNs() - t0) / 1e9;
        port1.close();
        resolve({ secs, sum });
      }
    };
    for (let i = 0; i < n; i++) port1.postMessage({ seq: i, text: 'hello' });
  });
}

async function pingPong(n, warm) {
  const { port1, port2 } = new MessageChannel();
  const p2 = await shipped(port2);
  p2.onmessage = (e) => p2.postMessage(e.data);
  return new Promise((resolve) => {
    const samples = new Float64Array(n);
    let i = -warm;
    let t = 0;
    port1.onmessage = () => {
      const dt = nowNs() - t;
      if (i >= 0) samples[i] = dt;
      i++;
      if (i === n) {
        port1.close();
        samples.sort();
        const at = (p) => samples[Math.round((n - 1) * p)] / 1000;
        resolve({ p50: at(0.5), p99: at(0.99) });
        return;
      }
      t = nowNs();
      port1.postMessage({ seq: i, text: 'hello' });
    };
    t = nowNs();
    port1.postMessage({ seq: i, text: 'hello' });
  });
}

async function memoryChild(c) {
  const settle = async () => {
    for (let i = 0; i < 4; i++) {
      global.gc();
      await new Promise((r) => setImmediate(r));
    }
  };
  await settle();
  const before = process.memoryUsage().rss;
  const live = new Array(c);
  const h = new MessageChannel();
  let got = 0;
  await new Promise((resolve) => {
    h.port2.onmessage = (e) => {
      live[got++] = e.ports[0];
      if (got === c) resolve();
    };
    for (let i = 0; i < c; i++) {
      const ch = new MessageChannel();
      live[i] = ch.port1;
      h.port1.postMessage(null, [ch.port2]);
    }
  });
  await settle();
  const after = process.memoryUsage().rss;
  process.stdout.write(JSON.stringify({ rss_bytes_per_channel: +((after - before) / c).toFixed(1) }));
  for (const p of live) p.close();
  h.port1.close();
}

(async () => {
  if (process.argv.includes('--memory-child')) {
    await memoryChild(C);
    return;
  }
  await burst(Math.min(N, 50_000)); // warm-up
  const b = await burst(N);
  const rtt = await pingPong(RT, WARM);
  const mem = JSON.parse(
    execFileSync(process.execPath, ['--expose-gc', __filename, '--memory-child', `--channels=${C}`]).toString()
  );
  process.stdout.write(
    JSON.stringify({
      suite: 'node',
      bench: 'messagechannel_shipped',
      run: Number(process.env.BENCH_RUN || 0),
      node: process.version,
      cpus: os.cpus().length,
      burst_msgs_per_sec: Math.round(N / b.secs),
      rtt_p50_us: +rtt.p50.toFixed(3),
      rtt_p99_us: +rtt.p99.toFixed(3),
      idle_rss_bytes_per_channel: mem.rss_bytes_per_channel,
    }) + '\n'
  );
})();
