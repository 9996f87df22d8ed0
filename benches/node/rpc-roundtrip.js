'use strict';
// RPC round trips written by hand over MessagePort, the peer of our `rpc` workloads
// (benches/support/rpc.rs): what comlink-style code does, with correlation ids, a map of
// pending calls, and a per-call deadline timer (set, then cleared on the answer). An
// `echo` method with the `{seq, text: "hello"}` message, each call awaited before the
// next; over a port on the same thread, and over a port moved to a worker_threads
// worker. Plain Node.js, no packages; prints one JSON line like ../shared/bench-peers.
const os = require('os');
const { Worker, isMainThread, parentPort } = require('worker_threads');

const nowNs = () => Number(process.hrtime.bigint());
const arg = (name, def) => {
  const a = process.argv.find((s) => s.startsWith(`--${name}=`));
  return a ? Number(a.slice(name.length + 3)) : def;
};

// The serving side: answers `call` messages by method name.
function serve(port, methods) {
  port.onmessage = (e) => {
    const m = e.data;
    if (!m || m.rpc !== 'call') return;
    const f = methods[m.method];
    if (!f) {
      port.postMessage({ rpc: 'fault', id: m.id, fault: { name: 'NotFoundError', message: m.method } });
      return;
    }
    try {
      port.postMessage({ rpc: 'ok', id: m.id, value: f(m.args) });
    } catch (err) {
      port.postMessage({ rpc: 'err', id: m.id, value: String(err) });
    }
  };
}

// The calling side: ids, pending calls, deadlines.
function client(port, deadlineMs = 30000) {
  let next = 1;
  const pending = new Map();
  port.onmessage = (e) => {
    const m = e.data;
    const p = m && pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.rpc === 'ok') p.resolve(m.value);
    else p.reject(new Error(m.rpc));
  };
  port.onclose = () => {
    for (const [, p] of pending) { clearTimeout(p.timer); p.reject(new Error('AbortError')); }
    pending.clear();
  };
  return (method, args) => new Promise((resolve, reject) => {
    const id = next++;
    const timer = setTimeout(() => { pending.delete(id); reject(new Error('TimeoutError')); }, deadlineMs);
    pending.set(id, { resolve, reject, timer });
    port.postMessage({ rpc: 'call', id, method, args });
  });
}

const echo = { echo: (m) => m };

async function roundTrips(call, n, warm) {
  const samples = new Float64Array(n);
  for (let i = -warm; i < n; i++) {
    const t = nowNs();
    await call('echo', { seq: Math.max(i, 0), text: 'hello' });
    const dt = nowNs() - t;
    if (i >= 0) samples[i] = dt;
  }
  samples.sort();
  const at = (p) => samples[Math.round((samples.length - 1) * p)] / 1000;
  return { p50: +at(0.5).toFixed(3), p99: +at(0.99).toFixed(3) };
}

if (!isMainThread) {
  parentPort.once('message', (port) => serve(port, echo));
} else {
  (async () => {
    const RT = arg('rt', 100_000);
    const WARM = Math.max(1, Math.floor(RT / 10));
    // Same thread.
    const a = new MessageChannel();
    serve(a.port1, echo);
    const same = await roundTrips(client(a.port2), RT, WARM);
    a.port1.close();
    // A worker.
    const w = new Worker(__filename);
    const b = new MessageChannel();
    w.postMessage(b.port1, [b.port1]);
    const worker = await roundTrips(client(b.port2), RT, WARM);
    b.port2.close();
    await w.terminate();
    process.stdout.write(JSON.stringify({
      suite: 'node',
      bench: 'rpc_roundtrip',
      run: Number(process.env.BENCH_RUN || 0),
      node: process.version,
      cpus: os.cpus().length,
      rt: RT,
      same_thread_rtt_p50_us: same.p50,
      same_thread_rtt_p99_us: same.p99,
      worker_rtt_p50_us: worker.p50,
      worker_rtt_p99_us: worker.p99,
    }) + '\n');
  })();
}
