//! The runtime workloads the benchmarks time, shared by `runtime.rs` (criterion) and
//! `compare.rs` (the side-by-side run with Node.js). Each one does the same work as the
//! matching function of `../shared/bench-peers/node/*.js`, with the same message shape
//! (`{seq, text: "hello"}`), and times itself inside the realm, as the Node scripts do.
//!
//! Every workload runs in a realm of an open window: the setup is a closure run with
//! [`WindowHandle::run`], and the result comes back through a oneshot channel when the
//! last listener call sees the work done.

#![allow(dead_code)]

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use webmessaging::prelude::*;

/// The message every throughput workload posts: `{seq: i, text: "hello"}`.
///
/// `text` borrows `"hello"` when posting (no allocation, like a string literal in JS)
/// and is an owned string when read back.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Msg {
    pub seq: u64,
    pub text: Cow<'static, str>,
}

impl Msg {
    #[inline]
    pub fn new(seq: u64) -> Msg {
        Msg {
            seq,
            text: Cow::Borrowed("hello"),
        }
    }
}

/// Control messages between the two sides of the cross-thread workloads.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub enum Ctl {
    Ready,
    Ack(u64),
    Done { count: u64, sum: u64 },
}

/// What a worker does with the port it is sent.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Setup {
    /// `"sink"` (count, ack every `ack`, report when `n` arrived) or `"echo"`.
    pub mode: String,
    pub n: u64,
    pub ack: u64,
}

/// Round-trip samples, summarized as the Node scripts do (`percentiles` of common.js).
#[derive(Clone, Copy, Debug, Default)]
pub struct Latency {
    pub n: usize,
    pub p50_us: f64,
    pub p99_us: f64,
    pub mean_us: f64,
    pub roundtrips_per_sec: f64,
}

impl Latency {
    pub fn from_samples(mut ns: Vec<u64>, total: Duration) -> Latency {
        ns.sort_unstable();
        let at = |p: f64| ns[((ns.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0;
        let sum: u64 = ns.iter().sum();
        Latency {
            n: ns.len(),
            p50_us: at(0.5),
            p99_us: at(0.99),
            mean_us: sum as f64 / ns.len() as f64 / 1000.0,
            roundtrips_per_sec: ns.len() as f64 / total.as_secs_f64(),
        }
    }
}

/// A runtime with one window to run workloads in. Create it inside a running actix
/// `System`.
pub struct Bench {
    pub browser: Browser,
    pub window: WindowHandle,
}

impl Bench {
    pub async fn new() -> Bench {
        let browser = Browser::new();
        let window = browser
            .open_with("https://bench.example/", |_: &Scope| {})
            .expect("open window");
        window.settle().await.expect("window loads");
        Bench { browser, window }
    }

    pub fn shutdown(&self) {
        self.browser.shutdown();
    }

    /// Runs `setup` in the window; it gets a sender to report its result with.
    async fn run<T: Send + 'static>(
        &self,
        setup: impl FnOnce(&Scope, oneshot::Sender<T>) + Send + 'static,
    ) -> T {
        let (tx, rx) = oneshot::channel();
        self.window
            .run(move |scope| setup(scope, tx))
            .await
            .expect("run in window");
        rx.await.expect("workload finished")
    }
}

type Reply<T> = Rc<RefCell<Option<oneshot::Sender<T>>>>;

fn reply<T>(tx: oneshot::Sender<T>) -> Reply<T> {
    Rc::new(RefCell::new(Some(tx)))
}

fn send<T>(r: &Reply<T>, v: T) {
    if let Some(tx) = r.borrow_mut().take() {
        let _ = tx.send(v);
    }
}

// ---------------------------------------------------------------------------
// MessageChannel, same thread (messagechannel-same-thread.js)
// ---------------------------------------------------------------------------

/// Burst: post all `n` messages in one task, then let the event loop deliver them to a
/// listener that deserializes each (`on_message_as::<Msg>`). Returns (end to end, posting
/// only).
pub async fn mc_burst(b: &Bench, n: u64) -> (Duration, Duration) {
    b.run(move |scope, tx| {
        let (p1, p2) = scope.message_channel().into_ports();
        burst_on(p1, p2, n, reply(tx));
    })
    .await
}

/// The burst of [`mc_burst`] from `p1` to `p2`: reports (end to end, posting only).
fn burst_on(p1: MessagePort, p2: MessagePort, n: u64, done: Reply<(Duration, Duration)>) {
    let count = Rc::new(Cell::new(0u64));
    let sum = Rc::new(Cell::new(0u64));
    let t0 = Instant::now();
    let posted = Rc::new(Cell::new(Duration::ZERO));
    let (c, s, pd, keep) = (count.clone(), sum.clone(), posted.clone(), p1.clone());
    p2.on_message_as::<Msg, _, _>(move |_, _, m| {
        s.set(s.get() + m.seq);
        c.set(c.get() + 1);
        if c.get() == n {
            let secs = t0.elapsed();
            keep.close();
            send(&done, (secs, pd.get()));
        }
    });
    for i in 0..n {
        p1.post(&Msg::new(i)).unwrap();
    }
    posted.set(t0.elapsed());
}

/// The burst of [`mc_burst`] on a bounded channel (`capacity`, `Overflow::Reject`): the
/// producer posts with `try_post` until refused and goes on at each `drain`. Returns end
/// to end.
pub async fn mc_bounded_pump(b: &Bench, n: u64, capacity: usize) -> Duration {
    b.run(move |scope, tx| {
        let (p1, p2) = scope
            .bounded_message_channel(capacity, webmessaging::Overflow::Reject)
            .into_ports();
        let done = reply(tx);
        let count = Rc::new(Cell::new(0u64));
        let t0 = Instant::now();
        let (c, keep) = (count.clone(), p1.clone());
        p2.on_message_as::<Msg, _, _>(move |_, _, _m| {
            c.set(c.get() + 1);
            if c.get() == n {
                keep.close();
                send(&done, t0.elapsed());
            }
        });
        let next = Rc::new(Cell::new(0u64));
        let pump = move |p: &MessagePort, next: &Cell<u64>| {
            while next.get() < n {
                if p.try_post(&Msg::new(next.get())).is_err() {
                    return;
                }
                next.set(next.get() + 1);
            }
        };
        let (p, nx) = (p1.clone(), next.clone());
        p1.on_drain(move |_, _| pump(&p, &nx));
        pump(&p1, &next);
    })
    .await
}

/// One in flight: the next message is posted only when the previous one arrived.
pub async fn mc_one_in_flight(b: &Bench, n: u64) -> Duration {
    b.run(move |scope, tx| {
        let (p1, p2) = scope.message_channel().into_ports();
        let done = reply(tx);
        let count = Rc::new(Cell::new(0u64));
        let t0 = Instant::now();
        let sender = p1.clone();
        p2.on_message_as::<Msg, _, _>(move |_, _, _m| {
            count.set(count.get() + 1);
            if count.get() == n {
                let secs = t0.elapsed();
                sender.close();
                send(&done, secs);
            } else {
                sender.post(&Msg::new(count.get())).unwrap();
            }
        });
        p1.post(&Msg::new(0)).unwrap();
    })
    .await
}

/// Ping-pong: port1 -> port2 -> port1, `warm` unmeasured round trips first, then `n`
/// timed ones; port2 echoes the data it read.
pub async fn mc_ping_pong(b: &Bench, n: usize, warm: usize) -> Latency {
    b.run(move |scope, tx| {
        let (p1, p2) = scope.message_channel().into_ports();
        ping_pong_on(p1, p2, n, warm, reply(tx));
    })
    .await
}

/// The ping-pong of [`mc_ping_pong`] between `p1` and `p2`.
fn ping_pong_on(p1: MessagePort, p2: MessagePort, n: usize, warm: usize, done: Reply<Latency>) {
    let (echo, closer) = (p2.clone(), p2.clone());
    p2.on_message_as::<Msg, _, _>(move |_, _, m| echo.post(&m).unwrap());
    // Break the listener's reference cycle when port1 closes.
    p2.on_close(move |_, _| closer.close());
    let samples = RefCell::new(Vec::with_capacity(n));
    let i = Cell::new(-(warm as i64));
    let t = Rc::new(Cell::new(Instant::now()));
    let t_start = Cell::new(Instant::now());
    let (me, t2) = (p1.clone(), t.clone());
    p1.on_message_as::<Msg, _, _>(move |_, _, _m| {
        let dt = t2.get().elapsed().as_nanos() as u64;
        if i.get() >= 0 {
            samples.borrow_mut().push(dt);
        }
        i.set(i.get() + 1);
        if i.get() == 0 {
            t_start.set(Instant::now());
        }
        if i.get() == n as i64 {
            let total = t_start.get().elapsed();
            me.close();
            send(&done, Latency::from_samples(samples.take(), total));
            return;
        }
        t2.set(Instant::now());
        me.post(&Msg::new(i.get() as u64)).unwrap();
    });
    t.set(Instant::now());
    p1.post(&Msg::new(0)).unwrap();
}

// ---------------------------------------------------------------------------
// A shipped MessageChannel, same thread (benches/node/messagechannel-shipped.js)
// ---------------------------------------------------------------------------

/// Transfers `port` to this same realm through a helper channel (so its channel is
/// shipped), then runs `then` with the port as received.
fn ship_here(scope: &Scope, port: &MessagePort, then: impl FnOnce(&Scope, MessagePort) + 'static) {
    let (h1, h2) = scope.message_channel().into_ports();
    let then = RefCell::new(Some(then));
    let closer = h1.clone();
    h2.on_message(move |s: &Scope, e: &MessageEvent| {
        if let Some(f) = then.borrow_mut().take() {
            closer.close();
            f(s, e.ports()[0].clone());
        }
    });
    h1.post_with_transfer(&(), &[port.to_value()]).unwrap();
}

/// Burst on a shipped channel: port2 goes through another channel first, then `n`
/// messages are posted in one task to its listener (same thread).
pub async fn mc_shipped_burst(b: &Bench, n: u64) -> Duration {
    b.run(move |scope, tx| {
        let (p1, p2) = scope.message_channel().into_ports();
        let done = reply(tx);
        ship_here(scope, &p2, move |_s, p2| burst_on(p1, p2, n, done));
    })
    .await
    .0
}

/// Ping-pong on a shipped channel (same thread): as [`mc_ping_pong`], port2 shipped first.
pub async fn mc_shipped_ping_pong(b: &Bench, n: usize, warm: usize) -> Latency {
    b.run(move |scope, tx| {
        let (p1, p2) = scope.message_channel().into_ports();
        let done = reply(tx);
        ship_here(scope, &p2, move |_s, p2| {
            ping_pong_on(p1, p2, n, warm, done)
        });
    })
    .await
}

/// `k` channels busy at once: `total` messages spread evenly, posted interleaved in one
/// task (channel 0, 1, ..., k-1, 0, 1, ...), all delivered to listeners that deserialize.
pub async fn mc_many(b: &Bench, k: usize, total: u64) -> Duration {
    b.run(move |scope, tx| {
        let per = total / k as u64;
        let target = per * k as u64;
        let done = reply(tx);
        let count = Rc::new(Cell::new(0u64));
        let senders: Rc<RefCell<Vec<MessagePort>>> = Rc::new(RefCell::new(Vec::with_capacity(k)));
        let t0 = Instant::now();
        for _ in 0..k {
            let (p1, p2) = scope.message_channel().into_ports();
            let (c, done, all) = (count.clone(), done.clone(), senders.clone());
            p2.on_message_as::<Msg, _, _>(move |_, _, _m| {
                c.set(c.get() + 1);
                if c.get() == target {
                    let secs = t0.elapsed();
                    for p in all.borrow_mut().drain(..) {
                        p.close();
                    }
                    send(&done, secs);
                }
            });
            senders.borrow_mut().push(p1);
        }
        let list = senders.borrow().clone();
        for i in 0..per {
            for p in &list {
                p.post(&Msg::new(i)).unwrap();
            }
        }
    })
    .await
}

// ---------------------------------------------------------------------------
// A port moved to a worker (messagechannel-worker.js)
// ---------------------------------------------------------------------------

fn worker_script(scope: &Scope) {
    scope.on_message_as::<Setup, _, _>(|_, e, setup| {
        let port = e.ports()[0].clone();
        let me = port.clone();
        match setup.mode.as_str() {
            "sink" => {
                let count = Cell::new(0u64);
                let sum = Cell::new(0u64);
                let (n, ack) = (setup.n, setup.ack);
                port.on_message_as::<Msg, _, _>(move |_, _, m| {
                    sum.set(sum.get() + m.seq);
                    count.set(count.get() + 1);
                    let c = count.get();
                    if ack > 0 && c.is_multiple_of(ack) {
                        me.post(&Ctl::Ack(c)).unwrap();
                    }
                    if c == n {
                        me.post(&Ctl::Done {
                            count: c,
                            sum: sum.get(),
                        })
                        .unwrap();
                        me.close();
                    }
                });
            }
            _ => {
                port.on_message_as::<Option<Msg>, _, _>(move |_, _, m| match m {
                    Some(m) => me.post(&Some(m)).unwrap(),
                    None => me.close(),
                });
            }
        }
        port.post(&Ctl::Ready).unwrap();
    });
}

/// Posts `setup` and port2 of a new channel to a new worker; returns port1 and the worker.
fn spawn_with_port(scope: &Scope, setup: &Setup) -> (MessagePort, Worker) {
    let worker = scope
        .spawn_worker_with("https://bench.example/worker.js", worker_script)
        .expect("spawn worker");
    let (p1, p2) = scope.message_channel().into_ports();
    worker
        .post_with_transfer(setup, &[p2.to_value()])
        .expect("transfer port");
    (p1, worker)
}

/// Burst of `n` to a worker that acknowledges when all arrived; timed from the worker's
/// "ready" (its port is set up, as Node times from the worker being online).
pub async fn worker_burst(b: &Bench, n: u64) -> Duration {
    b.run(move |scope, tx| {
        let setup = Setup {
            mode: "sink".into(),
            n,
            ack: 0,
        };
        let (p1, worker) = spawn_with_port(scope, &setup);
        let done = reply(tx);
        let t0 = Cell::new(Instant::now());
        let me = p1.clone();
        p1.on_message_as::<Ctl, _, _>(move |_, _, c| match c {
            Ctl::Ready => {
                t0.set(Instant::now());
                for i in 0..n {
                    me.post(&Msg::new(i)).unwrap();
                }
            }
            Ctl::Done { count, .. } if count == n => {
                let secs = t0.get().elapsed();
                me.close();
                worker.terminate();
                send(&done, secs);
            }
            _ => {}
        });
    })
    .await
}

/// At most `win` unacknowledged messages in flight; the worker acks every `win/2`.
pub async fn worker_windowed(b: &Bench, n: u64, win: u64) -> Duration {
    b.run(move |scope, tx| {
        let half = (win / 2).max(1);
        let setup = Setup {
            mode: "sink".into(),
            n,
            ack: half,
        };
        let (p1, worker) = spawn_with_port(scope, &setup);
        let done = reply(tx);
        let t0 = Cell::new(Instant::now());
        let sent = Cell::new(0u64);
        let acked = Rc::new(Cell::new(0u64));
        let me = p1.clone();
        let acked2 = acked.clone();
        let pump = move |me: &MessagePort| {
            let acked = &acked2;
            while sent.get() < n && sent.get() - acked.get() < win {
                me.post(&Msg::new(sent.get())).unwrap();
                sent.set(sent.get() + 1);
            }
        };
        p1.on_message_as::<Ctl, _, _>(move |_, _, c| match c {
            Ctl::Ready => {
                t0.set(Instant::now());
                pump(&me);
            }
            Ctl::Ack(a) => {
                acked.set(a);
                pump(&me);
            }
            Ctl::Done { count, .. } if count == n => {
                let secs = t0.get().elapsed();
                me.close();
                worker.terminate();
                send(&done, secs);
            }
            Ctl::Done { .. } => {}
        });
    })
    .await
}

/// Round trips through a port moved to a worker that echoes.
pub async fn worker_port_ping_pong(b: &Bench, n: usize, warm: usize) -> Latency {
    b.run(move |scope, tx| {
        let setup = Setup {
            mode: "echo".into(),
            n: 0,
            ack: 0,
        };
        let (p1, worker) = spawn_with_port(scope, &setup);
        let done = reply(tx);
        let samples = RefCell::new(Vec::with_capacity(n));
        let i = Cell::new(-(warm as i64));
        let t = Cell::new(Instant::now());
        let t_start = Cell::new(Instant::now());
        let started = Cell::new(false);
        let me = p1.clone();
        // The first message is the worker's Ready (a Ctl, not an Option<Msg>): read raw.
        p1.on_message(move |_, e: &MessageEvent| {
            if !started.replace(true) {
                t.set(Instant::now());
                me.post(&Some(Msg::new(0))).unwrap();
                return;
            }
            let dt = t.get().elapsed().as_nanos() as u64;
            let _m: Option<Msg> = e.data_as().unwrap();
            if i.get() >= 0 {
                samples.borrow_mut().push(dt);
            }
            i.set(i.get() + 1);
            if i.get() == 0 {
                t_start.set(Instant::now());
            }
            if i.get() == n as i64 {
                let total = t_start.get().elapsed();
                me.post(&None::<Msg>).unwrap();
                me.close();
                worker.terminate();
                send(&done, Latency::from_samples(samples.take(), total));
                return;
            }
            t.set(Instant::now());
            me.post(&Some(Msg::new(i.get() as u64))).unwrap();
        });
    })
    .await
}

/// Round trips with `worker.postMessage` and the worker's own `postMessage` (no port).
pub async fn worker_global_ping_pong(b: &Bench, n: usize, warm: usize) -> Latency {
    b.run(move |scope, tx| {
        let worker = scope
            .spawn_worker_with("https://bench.example/echo.js", |scope: &Scope| {
                scope.on_message_as::<Msg, _, _>(|scope, _, m| scope.post(&m).unwrap());
            })
            .expect("spawn worker");
        let done = reply(tx);
        let samples = RefCell::new(Vec::with_capacity(n));
        let i = Cell::new(-(warm as i64));
        let t = Rc::new(Cell::new(Instant::now()));
        let t_start = Cell::new(Instant::now());
        let (me, t2) = (worker.clone(), t.clone());
        worker.on_message_as::<Msg, _, _>(move |_, _, _m| {
            let dt = t2.get().elapsed().as_nanos() as u64;
            if i.get() >= 0 {
                samples.borrow_mut().push(dt);
            }
            i.set(i.get() + 1);
            if i.get() == 0 {
                t_start.set(Instant::now());
            }
            if i.get() == n as i64 {
                let total = t_start.get().elapsed();
                me.terminate();
                send(&done, Latency::from_samples(samples.take(), total));
                return;
            }
            t2.set(Instant::now());
            me.post(&Msg::new(i.get() as u64)).unwrap();
        });
        t.set(Instant::now());
        worker.post(&Msg::new(0)).unwrap();
    })
    .await
}

// ---------------------------------------------------------------------------
// Window to window on one thread (no Node peer: Node has no windows)
// ---------------------------------------------------------------------------

/// The window posts `n` messages to its iframe (same thread), which deserializes each and
/// tells its parent when all arrived.
pub async fn window_to_window(b: &Bench, n: u64) -> Duration {
    window_to_iframe(b, n, "https://bench.example").await
}

/// [`window_to_window`] to an iframe of `origin` (same thread: one browsing-context
/// group), the target origin named exactly.
pub async fn window_to_iframe(b: &Bench, n: u64, origin: &'static str) -> Duration {
    b.run(move |scope, tx| {
        let child = move |scope: &Scope| {
            let count = Cell::new(0u64);
            scope.on_message_as::<Msg, _, _>(move |scope: &Scope, _, _m| {
                count.set(count.get() + 1);
                if count.get() == n {
                    let parent = scope.parent().unwrap();
                    parent
                        .post(scope, &Ctl::Done { count: n, sum: 0 }, "*")
                        .unwrap();
                }
            });
            let parent = scope.parent().unwrap();
            parent.post(scope, &Ctl::Ready, "*").unwrap();
        };
        let iframe = scope
            .create_iframe_with(
                &format!("{origin}/frame.html"),
                IframeOptions {
                    script: Some(webmessaging::script(child)),
                    ..IframeOptions::default()
                },
            )
            .expect("iframe");
        let done = reply(tx);
        let t0 = Cell::new(Instant::now());
        let frame = iframe.clone();
        scope.on_message_as::<Ctl, _, _>(move |scope: &Scope, _, c| match c {
            Ctl::Ready => {
                t0.set(Instant::now());
                for i in 0..n {
                    frame.post(scope, &Msg::new(i), origin).unwrap();
                }
            }
            Ctl::Done { .. } => {
                let secs = t0.get().elapsed();
                scope.remove_iframe(&frame);
                send(&done, secs);
            }
            Ctl::Ack(_) => {}
        });
    })
    .await
}

// ---------------------------------------------------------------------------
// BroadcastChannel fan-out (broadcastchannel-fanout.js, same thread)
// ---------------------------------------------------------------------------

/// One sender, `r` receivers in the same window, `n` messages in batches of `batch`
/// (the next batch is posted when every delivery of the previous one happened).
/// Returns the elapsed time; deliveries are `n * r`.
pub async fn bc_fanout(b: &Bench, n: u64, r: usize, batch: u64) -> Duration {
    static NAME: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let name = format!(
        "bench-{}",
        NAME.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    b.run(move |scope, tx| {
        struct State {
            tx: BroadcastChannel,
            rxs: Vec<BroadcastChannel>,
            sent: u64,
            target: u64,
            deliveries: u64,
        }
        let state = Rc::new(RefCell::new(State {
            tx: scope.broadcast_channel(&name),
            rxs: Vec::with_capacity(r),
            sent: 0,
            target: 0,
            deliveries: 0,
        }));
        let send_batch = move |s: &mut State| {
            let end = (s.sent + batch).min(n);
            while s.sent < end {
                s.tx.post(&Msg::new(s.sent)).unwrap();
                s.sent += 1;
            }
            s.target = s.sent * r as u64;
        };
        let done = reply(tx);
        let t0 = Instant::now();
        for _ in 0..r {
            let c = scope.broadcast_channel(&name);
            let (st, done) = (state.clone(), done.clone());
            c.on_message_as::<Msg, _, _>(move |_, _, _m| {
                let mut s = st.borrow_mut();
                s.deliveries += 1;
                if s.deliveries == s.target {
                    if s.sent == n {
                        let secs = t0.elapsed();
                        s.tx.close();
                        for c in s.rxs.drain(..) {
                            c.close();
                        }
                        send(&done, secs);
                    } else {
                        send_batch(&mut s);
                    }
                }
            });
            state.borrow_mut().rxs.push(c);
        }
        send_batch(&mut state.borrow_mut());
    })
    .await
}

// ---------------------------------------------------------------------------
// Structured clone (structuredclone.js)
// ---------------------------------------------------------------------------

pub use crate::nested::make_nested;

/// `iters` structured clones of the nested object (after 5,000 warm-up clones).
pub fn clone_nested(iters: u64) -> Duration {
    let obj = make_nested();
    for _ in 0..5000.min(iters) {
        std::hint::black_box(structured_clone(&obj, &[]).unwrap());
    }
    let t0 = Instant::now();
    for _ in 0..iters {
        std::hint::black_box(structured_clone(std::hint::black_box(&obj), &[]).unwrap());
    }
    t0.elapsed()
}

/// `iters` clones (copies) of an ArrayBuffer of `bytes`.
pub fn clone_buffer_copy(bytes: usize, iters: u64) -> Duration {
    let buf = Value::from(Object::new_array_buffer(vec![7u8; bytes]));
    for _ in 0..50.min(iters) {
        std::hint::black_box(structured_clone(&buf, &[]).unwrap());
    }
    let t0 = Instant::now();
    for _ in 0..iters {
        std::hint::black_box(structured_clone(std::hint::black_box(&buf), &[]).unwrap());
    }
    t0.elapsed()
}

/// `iters` transfers of an ArrayBuffer of `bytes` (`structuredClone(buf, {transfer:
/// [buf]})`, the result becomes the next source).
pub fn clone_buffer_transfer(bytes: usize, iters: u64) -> Duration {
    let mut buf = Value::from(Object::new_array_buffer(vec![7u8; bytes]));
    for _ in 0..1000.min(iters) {
        buf = structured_clone(&buf, std::slice::from_ref(&buf)).unwrap();
    }
    let t0 = Instant::now();
    for _ in 0..iters {
        buf = structured_clone(&buf, std::slice::from_ref(&buf)).unwrap();
    }
    t0.elapsed()
}

// ---------------------------------------------------------------------------
// What a protocol scenario costs (chromium/perf.js: a fresh browser, a new tab)
// ---------------------------------------------------------------------------

/// The hello scenario in `browser`: a page, a cross-site iframe that says "ready", the
/// page's ping, the iframe's echo; returns when the echo arrived (the page is closed).
async fn hello_in(browser: &Browser) {
    let (tx, rx) = oneshot::channel::<()>();
    // The load script is `Send + Sync` (it may run again on a restart).
    let done = std::sync::Arc::new(std::sync::Mutex::new(Some(tx)));
    let page = browser
        .open_with("https://app.example/", move |scope: &Scope| {
            let frame = scope
                .create_iframe_with(
                    "https://widget.example/",
                    IframeOptions {
                        script: Some(webmessaging::script(|s: &Scope| {
                            s.on_message(|s: &Scope, e: &MessageEvent| {
                                if e.origin() == "https://app.example" {
                                    let src = e.source_window().unwrap();
                                    src.post(s, "echo", "https://app.example").unwrap();
                                }
                            });
                            let parent = s.parent().unwrap();
                            parent.post(s, "ready", "https://app.example").unwrap();
                        })),
                        ..IframeOptions::default()
                    },
                )
                .unwrap();
            let done = done.clone();
            scope.on_message(move |scope: &Scope, e: &MessageEvent| {
                match e.data_as::<String>().as_deref() {
                    Ok("ready") => frame.post(scope, "ping", "https://widget.example").unwrap(),
                    Ok("echo") => {
                        if let Some(tx) = done.lock().ok().and_then(|mut d| d.take()) {
                            let _ = tx.send(());
                        }
                    }
                    _ => {}
                }
            });
        })
        .expect("open");
    rx.await.expect("echo");
    page.close();
}

/// The hello scenario from nothing: a fresh `Browser` each time. Median of `runs`.
pub async fn scenario_fresh_browser(runs: usize) -> Duration {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t0 = Instant::now();
        let browser = Browser::new();
        hello_in(&browser).await;
        browser.shutdown();
        times.push(t0.elapsed());
    }
    times.sort();
    times[times.len() / 2]
}

/// The hello scenario in a new top-level window of the bench's `Browser`. Median of
/// `runs`.
pub async fn scenario_new_window(b: &Bench, runs: usize) -> Duration {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t0 = Instant::now();
        hello_in(&b.browser).await;
        times.push(t0.elapsed());
    }
    times.sort();
    times[times.len() / 2]
}
