//! RPC round trips (`webmessaging::rpc`), the peer of `benches/node/rpc-roundtrip.js`: a
//! call of an `echo` method with the `{seq, text: "hello"}` message, awaited before the
//! next, over a port on the same thread and over a port moved to a dedicated worker.
//! Every call has the default deadline (a timer set and cleared per call), as the Node
//! version sets and clears a `setTimeout` per call.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Instant;

use tokio::sync::oneshot;
use webmessaging::prelude::*;
use webmessaging::rpc::{self, Client, ConnectOptions, Method, Service};

use crate::workloads::{Bench, Latency, Msg};

const ECHO: Method<Msg, Msg> = Method::new("echo");

fn echo_service() -> Service {
    Service::new("bench").method(&ECHO, |_: &Scope, m: Msg| Ok(m))
}

/// Calls `echo` `warm + n` times in sequence, timing each of the last `n`.
fn run_calls(client: Rc<Client>, n: usize, warm: usize, done: oneshot::Sender<Latency>) {
    struct Loop {
        client: Rc<Client>,
        samples: RefCell<Vec<u64>>,
        i: Cell<i64>,
        n: usize,
        t: Cell<Instant>,
        t_start: Cell<Instant>,
        done: RefCell<Option<oneshot::Sender<Latency>>>,
    }
    fn next(l: Rc<Loop>) {
        l.t.set(Instant::now());
        let seq = l.i.get().max(0) as u64;
        let me = l.clone();
        l.client
            .call(&ECHO, Msg::new(seq))
            .then(move |_: &Scope, r| {
                let dt = me.t.get().elapsed().as_nanos() as u64;
                r.expect("echo answers");
                if me.i.get() >= 0 {
                    me.samples.borrow_mut().push(dt);
                }
                me.i.set(me.i.get() + 1);
                if me.i.get() == 0 {
                    me.t_start.set(Instant::now());
                }
                if me.i.get() == me.n as i64 {
                    let total = me.t_start.get().elapsed();
                    let lat = Latency::from_samples(me.samples.take(), total);
                    if let Some(tx) = me.done.borrow_mut().take() {
                        let _ = tx.send(lat);
                    }
                    me.client.close();
                    return;
                }
                next(me);
            });
    }
    next(Rc::new(Loop {
        client,
        samples: RefCell::new(Vec::with_capacity(n)),
        i: Cell::new(-(warm as i64)),
        n,
        t: Cell::new(Instant::now()),
        t_start: Cell::new(Instant::now()),
        done: RefCell::new(Some(done)),
    }));
}

/// Round trips to a service on the same thread (both ends of one channel in the window).
pub async fn rpc_same_thread(b: &Bench, n: usize, warm: usize) -> Latency {
    let (tx, rx) = oneshot::channel();
    b.window
        .run(move |scope: &Scope| {
            let (a, c) = scope.message_channel().into_ports();
            let served = rpc::serve_port(scope, &a, echo_service());
            let client = Rc::new(rpc::connect_port(scope, &c, "bench", ConnectOptions::new()));
            run_calls(client, n, warm, tx);
            drop(served);
        })
        .await
        .expect("run in window");
    rx.await.expect("workload finished")
}

/// Round trips to a service in a dedicated worker, over a port moved to it.
pub async fn rpc_worker(b: &Bench, n: usize, warm: usize) -> Latency {
    let (tx, rx) = oneshot::channel();
    b.window
        .run(move |scope: &Scope| {
            let worker = scope
                .spawn_worker_with("https://bench.example/rpc.js", |ws: &Scope| {
                    ws.on_message(|ws: &Scope, e: &MessageEvent| {
                        if let Some(p) = e.ports().first() {
                            rpc::serve_port(ws, p, echo_service());
                        }
                    });
                })
                .expect("spawn worker");
            let (mine, theirs) = scope.message_channel().into_ports();
            worker
                .post_with_transfer(&"port", &[theirs.to_value()])
                .expect("transfer port");
            let client = Rc::new(rpc::connect_port(
                scope,
                &mine,
                "bench",
                ConnectOptions::new(),
            ));
            let (t2, r2) = oneshot::channel();
            run_calls(client, n, warm, t2);
            actix_rt::spawn(async move {
                if let Ok(lat) = r2.await {
                    worker.terminate();
                    let _ = tx.send(lat);
                }
            });
        })
        .await
        .expect("run in window");
    rx.await.expect("workload finished")
}
