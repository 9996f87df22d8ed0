//! Dedicated workers end to end: WK-*, EV-* rows of conformance.md.
//!
//! Results leave the realms through tokio channels. To assert that a worker handled no
//! message after some point without sleeping, a drop guard captured by the worker's
//! listener reports when the worker's realm is torn down: every task queued before the
//! teardown has run (or been discarded) by then, so the guard's report is the marker.
//!
//! Rows marked "partly" that types settle: WK-ARITY-RETURN (the worker-side `postMessage`
//! returns `Result<()>`, and a call with no arguments does not compile) and
//! WK-NULL-SECOND-ARG / PM-TRANSFER-NULL (`transfer` is a `&[Value]`: neither null nor an
//! array with a null entry can be expressed; "no list" is `&[]`, tested in
//! `wk_transfer_ports`). WK-ONMESSAGE-NONCALLABLE: `on_message` takes a closure, so a
//! non-callable handler cannot be assigned.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use webmessaging::prelude::*;
use webmessaging::EventTarget;

mod common;

use common::{recv, Rx, Tx};

fn channel() -> (Tx, Rx) {
    mpsc::unbounded_channel::<String>()
}

/// Sends `"torn down"` when dropped: captured by a worker's listener, it reports the
/// teardown of the worker's realm (its listeners are dropped then).
struct TeardownGuard(Tx);

impl Drop for TeardownGuard {
    fn drop(&mut self) {
        let _ = self.0.send("torn down".into());
    }
}

/// Values checked one by one in WK-ROUNDTRIP.
fn roundtrip_values() -> Vec<Value> {
    vec![
        Value::Undefined,
        Value::Null,
        Value::from(true),
        Value::from(0),
        Value::from(-0.0),
        Value::from(f64::NAN),
        Value::from(f64::INFINITY),
        Value::from(f64::NEG_INFINITY),
        Value::from("string"),
        Value::from(Object::new_date(1_234_567.0)),
        Value::from(Object::new_regexp("a|b", "m")),
        Value::from(Object::new_array(vec![
            Value::from(1),
            Value::from("x"),
            Value::Null,
        ])),
        Value::from(Object::from_pairs([
            ("k", Value::from(1)),
            ("nested", Value::from(Object::new_plain())),
        ])),
    ]
}

/// WK-ROUNDTRIP: values posted to the worker arrive in order with structured-clone
/// semantics, and the worker's posts arrive at the `Worker` object in order too (each
/// value checked against its index).
#[actix_rt::test]
async fn wk_roundtrip_in_order_both_directions() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let t = tx.clone();
    let _top = browser
        .open_with(
            "https://example.com/",
            move |scope: &Scope| -> webmessaging::Result<()> {
                let t2 = t.clone();
                let w = scope.spawn_worker_with(
                    "https://example.com/worker.js",
                    move |scope: &Scope| {
                        let tx = t2.clone();
                        let n = std::cell::Cell::new(0);
                        scope.on_message(move |scope: &Scope, e: &MessageEvent| {
                            tx.send(format!("worker {}:{:?}", n.get(), e.data()))
                                .unwrap();
                            n.set(n.get() + 1);
                            scope.post_message(e.data(), &[])
                        });
                    },
                )?;
                let tx = t.clone();
                let n = std::cell::Cell::new(0);
                w.on_message(move |_s: &Scope, e: &MessageEvent| {
                    tx.send(format!("page {}:{:?}", n.get(), e.data())).unwrap();
                    n.set(n.get() + 1);
                });
                for v in roundtrip_values() {
                    w.post_message(&v, &[])?;
                }
                scope.set_global(w);
                Ok(())
            },
        )
        .unwrap();
    let values = roundtrip_values();
    let mut worker = Vec::new();
    let mut page = Vec::new();
    for _ in 0..2 * values.len() {
        let s = recv(&mut rx).await;
        if s.starts_with("worker") {
            worker.push(s);
        } else {
            page.push(s);
        }
    }
    let expect = |side: &str| -> Vec<String> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{side} {i}:{v:?}"))
            .collect()
    };
    assert_eq!(worker, expect("worker"));
    assert_eq!(page, expect("page"));
    browser.shutdown();
}

/// WK-EVENT-FIELDS, EV-PORTS-EMPTY, EV-SHAPE: both the worker global and the `Worker`
/// object get trusted MessageEvents with origin "", no source, lastEventId "", empty
/// ports, not bubbling or cancelable.
#[actix_rt::test]
async fn wk_event_fields() {
    fn fields(e: &MessageEvent) -> String {
        format!(
            "type={} origin={:?} source={} lastEventId={:?} ports={} bubbles={} cancelable={} trusted={}",
            e.event_type(),
            e.origin(),
            e.source().is_some(),
            e.last_event_id(),
            e.ports().len(),
            e.bubbles(),
            e.cancelable(),
            e.is_trusted(),
        )
    }
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let t = tx.clone();
    let _top = browser
        .open_with(
            "https://example.com/",
            move |scope: &Scope| -> webmessaging::Result<()> {
                let t2 = t.clone();
                let w =
                    scope.spawn_worker_with("https://example.com/w.js", move |scope: &Scope| {
                        let tx = t2.clone();
                        scope.on_message(move |scope: &Scope, e: &MessageEvent| {
                            assert!(matches!(e.target(), Some(EventTarget::WorkerGlobal)));
                            assert_eq!(scope.kind(), webmessaging::GlobalKind::DedicatedWorker);
                            tx.send(format!("worker {}", fields(e))).unwrap();
                            scope.post_message(&Value::from("reply"), &[])
                        });
                    })?;
                let tx = t.clone();
                let id = w.id();
                w.on_message(move |_s: &Scope, e: &MessageEvent| {
                    assert!(matches!(e.target(), Some(EventTarget::Worker(i)) if *i == id));
                    tx.send(format!("page {}", fields(e))).unwrap();
                });
                w.post_message(&Value::from("hi"), &[])?;
                scope.set_global(w);
                Ok(())
            },
        )
        .unwrap();
    let common = "type=message origin=\"\" source=false lastEventId=\"\" ports=0 bubbles=false cancelable=false trusted=true";
    assert_eq!(recv(&mut rx).await, format!("worker {common}"));
    assert_eq!(recv(&mut rx).await, format!("page {common}"));
    browser.shutdown();
}

/// WK-TRANSFER-PORTS: `worker.postMessage(msg, [port1, port2])` gives the worker two
/// ports (in order, usable); an empty list gives none. The worker can answer on them.
#[actix_rt::test]
async fn wk_transfer_ports() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let t = tx.clone();
    let _top = browser
        .open_with(
            "https://example.com/",
            move |scope: &Scope| -> webmessaging::Result<()> {
                let t2 = t.clone();
                let w =
                    scope.spawn_worker_with("https://example.com/w.js", move |scope: &Scope| {
                        let tx = t2.clone();
                        scope.on_message(
                            move |_s: &Scope, e: &MessageEvent| -> webmessaging::Result<()> {
                                tx.send(format!(
                                    "worker got {:?} with {} ports",
                                    e.data(),
                                    e.ports().len()
                                ))
                                .unwrap();
                                for (i, p) in e.ports().iter().enumerate() {
                                    p.post_message(&Value::from(format!("on port {i}")), &[])?;
                                }
                                Ok(())
                            },
                        );
                    })?;
                let a = scope.message_channel();
                let b = scope.message_channel();
                for (name, ch) in [("a", &a), ("b", &b)] {
                    let tx = t.clone();
                    ch.port1().on_message(move |_s: &Scope, e: &MessageEvent| {
                        tx.send(format!("{name} got {:?}", e.data())).unwrap();
                    });
                }
                w.post_message(&Value::from("none"), &[])?;
                w.post_message(
                    &Value::from("two"),
                    &[a.port2().to_value(), b.port2().to_value()],
                )?;
                assert!(
                    !a.port2().is_active(),
                    "a transferred port is detached at the sender"
                );
                scope.set_global((w, a, b));
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(recv(&mut rx).await, "worker got \"none\" with 0 ports");
    assert_eq!(recv(&mut rx).await, "worker got \"two\" with 2 ports");
    let mut rest = vec![recv(&mut rx).await, recv(&mut rx).await];
    rest.sort();
    assert_eq!(rest, ["a got \"on port 0\"", "b got \"on port 1\""]);
    browser.shutdown();
}

/// WK-DICT-TRANSFER: the page transfers an ArrayBuffer in with `{transfer}`, the worker
/// transfers the received buffer back the same way; each sender's buffer is detached
/// (byteLength 0) and each receiver gets the bytes.
#[actix_rt::test]
async fn wk_dict_transfer_array_buffer() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let t = tx.clone();
    let _top = browser
        .open_with(
            "https://example.com/",
            move |scope: &Scope| -> webmessaging::Result<()> {
                let t2 = t.clone();
                let w =
                    scope.spawn_worker_with("https://example.com/w.js", move |scope: &Scope| {
                        let tx = t2.clone();
                        scope.on_message(
                            move |scope: &Scope, e: &MessageEvent| -> webmessaging::Result<()> {
                                let ab = e.data().as_object().unwrap().clone();
                                tx.send(format!("worker got {:?}", ab.with_bytes(|b| b.to_vec())))
                                    .unwrap();
                                let opts = StructuredSerializeOptions {
                                    transfer: vec![e.data().clone()],
                                };
                                scope.post_message(e.data(), &opts.transfer)?;
                                tx.send(format!(
                                    "worker's byteLength after {:?}",
                                    ab.byte_length()
                                ))
                                .unwrap();
                                Ok(())
                            },
                        );
                    })?;
                let tx = t.clone();
                w.on_message(move |_s: &Scope, e: &MessageEvent| {
                    let ab = e.data().as_object().unwrap();
                    tx.send(format!("page got back {:?}", ab.with_bytes(|b| b.to_vec())))
                        .unwrap();
                });
                let ab = Object::new_array_buffer(vec![7]);
                let v = Value::from(ab.clone());
                w.post_message_with_options(
                    &v,
                    &StructuredSerializeOptions {
                        transfer: vec![v.clone()],
                    },
                )?;
                t.send(format!("page's byteLength after {:?}", ab.byte_length()))
                    .unwrap();
                scope.set_global(w);
                Ok(())
            },
        )
        .unwrap();
    // Two threads report; each one's lines are in order, their interleaving is not.
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(recv(&mut rx).await);
    }
    let (page, worker): (Vec<String>, Vec<String>) =
        got.into_iter().partition(|s| s.starts_with("page"));
    assert_eq!(
        page,
        ["page's byteLength after Some(0)", "page got back Some([7])"]
    );
    assert_eq!(
        worker,
        ["worker got Some([7])", "worker's byteLength after Some(0)"]
    );
    browser.shutdown();
}

/// WK-NESTED: a worker spawns a worker that spawns a worker; the innermost posts "3", each
/// level prepends its digit, and the page gets "123". Each worker has a thread of its own.
#[actix_rt::test]
async fn wk_nested_workers_relay() {
    fn level(depth: u32) -> impl Fn(&Scope) -> webmessaging::Result<()> + Send + Sync + 'static {
        move |scope: &Scope| {
            if depth == 3 {
                let id = format!("{:?}", std::thread::current().id());
                return scope.post(&("3".to_owned(), vec![id]));
            }
            let inner = scope.spawn_worker_with(
                &format!("https://example.com/level{}.js", depth + 1),
                level(depth + 1),
            )?;
            inner.on_message_as::<(String, Vec<String>), _, _>(
                move |scope: &Scope, _e: &MessageEvent, (s, mut ids): (String, Vec<String>)| {
                    ids.push(format!("{:?}", std::thread::current().id()));
                    scope.post(&(format!("{depth}{s}"), ids))
                },
            );
            scope.set_global(inner);
            Ok(())
        }
    }
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let t = tx.clone();
    let _top = browser
        .open_with(
            "https://example.com/",
            move |scope: &Scope| -> webmessaging::Result<()> {
                let w = scope.spawn_worker_with("https://example.com/level1.js", level(1))?;
                let tx = t.clone();
                w.on_message_as::<(String, Vec<String>), _, _>(
                    move |_s: &Scope, _e: &MessageEvent, (s, mut ids): (String, Vec<String>)| {
                        ids.push(format!("{:?}", std::thread::current().id()));
                        let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
                        tx.send(format!(
                            "{s} threads={} distinct={}",
                            ids.len(),
                            distinct.len()
                        ))
                        .unwrap();
                    },
                );
                scope.set_global(w);
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(recv(&mut rx).await, "123 threads=4 distinct=4");
    browser.shutdown();
}

/// WK-NESTED (siblings): two sibling workers each deliver to their own `Worker` object.
#[actix_rt::test]
async fn wk_sibling_workers_deliver_to_own_object() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let t = tx.clone();
    let _top = browser
        .open_with(
            "https://example.com/",
            move |scope: &Scope| -> webmessaging::Result<()> {
                let mut ws = Vec::new();
                for name in ["a", "b"] {
                    let w = scope.spawn_worker_with(
                        &format!("https://example.com/{name}.js"),
                        move |scope: &Scope| scope.post_message(&Value::from(name), &[]),
                    )?;
                    let tx = t.clone();
                    w.on_message(move |_s: &Scope, e: &MessageEvent| {
                        tx.send(format!("{name} object got {:?}", e.data()))
                            .unwrap();
                    });
                    ws.push(w);
                }
                scope.set_global(ws);
                Ok(())
            },
        )
        .unwrap();
    let mut got = vec![recv(&mut rx).await, recv(&mut rx).await];
    got.sort();
    assert_eq!(got, ["a object got \"a\"", "b object got \"b\""]);
    browser.shutdown();
}

/// `terminate()` drops every message the worker has not dispatched yet. The worker's
/// handler blocks on the first message while the page posts 1000 more and terminates;
/// when it is released, no later message is handled: the teardown report follows the
/// first message directly.
#[actix_rt::test]
async fn wk_terminate_drops_undispatched_messages() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let (gate_tx, gate_rx) = std::sync::mpsc::channel::<()>();
    let gate = Arc::new(Mutex::new(gate_rx));
    let top = browser.open("https://example.com/").unwrap();
    let t = tx.clone();
    top.run(move |scope: &Scope| {
        let w = scope
            .spawn_worker_with("https://example.com/slow.js", move |scope: &Scope| {
                let tx = t.clone();
                let gate = gate.clone();
                let guard = TeardownGuard(t.clone());
                scope.on_message(move |_s: &Scope, e: &MessageEvent| {
                    let _keep = &guard;
                    let n = e.data().as_number().unwrap();
                    tx.send(format!("handling {n}")).unwrap();
                    if n == 0.0 {
                        gate.lock()
                            .unwrap()
                            .recv_timeout(Duration::from_secs(5))
                            .expect("the test releases the gate");
                        tx.send("released".into()).unwrap();
                    }
                });
            })
            .unwrap();
        w.post_message(&Value::from(0), &[]).unwrap();
        scope.set_global(w);
    })
    .await
    .unwrap();
    assert_eq!(recv(&mut rx).await, "handling 0");
    let terminated = top
        .run(|scope: &Scope| {
            let w = scope.global::<Worker>().unwrap();
            for i in 1..=1000 {
                w.post_message(&Value::from(i), &[]).unwrap();
            }
            w.terminate();
            // Posting after terminate() is accepted and goes nowhere.
            w.post_message(&Value::from(2000), &[]).unwrap();
            w.is_terminated()
        })
        .await
        .unwrap();
    assert!(terminated);
    gate_tx.send(()).unwrap();
    assert_eq!(recv(&mut rx).await, "released");
    assert_eq!(
        recv(&mut rx).await,
        "torn down",
        "no message after the first was handled"
    );
    browser.shutdown();
}

/// A worker that calls `close()` on itself discards its queued tasks: the page posts 100
/// messages while the worker is busy with the first, whose handler then closes the
/// worker; none of the 100 is handled, while what the worker posts after `close()` in
/// that same task is still delivered.
#[actix_rt::test]
async fn wk_close_self_discards_queued_tasks() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let (gate_tx, gate_rx) = std::sync::mpsc::channel::<()>();
    let gate = Arc::new(Mutex::new(gate_rx));
    let top = browser.open("https://example.com/").unwrap();
    let t = tx.clone();
    top.run(move |scope: &Scope| {
        let t2 = t.clone();
        let w = scope
            .spawn_worker_with("https://example.com/closer.js", move |scope: &Scope| {
                let tx = t2.clone();
                let gate = gate.clone();
                let guard = TeardownGuard(t2.clone());
                scope.on_message(
                    move |scope: &Scope, e: &MessageEvent| -> webmessaging::Result<()> {
                        let _keep = &guard;
                        let n = e.data().as_number().unwrap();
                        tx.send(format!("handling {n}")).unwrap();
                        gate.lock()
                            .unwrap()
                            .recv_timeout(Duration::from_secs(5))
                            .expect("the test releases the gate");
                        scope.close();
                        // What the worker posts after close() in the same task still goes out
                        // (WPT WorkerGlobalScope-close.js: "Should be delivered").
                        scope.post_message(&Value::from("posted after close()"), &[])?;
                        Ok(())
                    },
                );
            })
            .unwrap();
        let tx = t.clone();
        w.on_message(move |_s: &Scope, e: &MessageEvent| {
            tx.send(format!("page got {:?}", e.data())).unwrap();
        });
        w.post_message(&Value::from(0), &[]).unwrap();
        scope.set_global(w);
    })
    .await
    .unwrap();
    assert_eq!(recv(&mut rx).await, "handling 0");
    top.run(|scope: &Scope| {
        let w = scope.global::<Worker>().unwrap();
        for i in 1..=100 {
            w.post_message(&Value::from(i), &[]).unwrap();
        }
    })
    .await
    .unwrap();
    gate_tx.send(()).unwrap();
    // Two threads report: the worker's teardown and the page's receipt, in either order;
    // a handled queued message would show up as "handling N" before "torn down".
    let mut got = vec![recv(&mut rx).await, recv(&mut rx).await];
    got.sort();
    assert_eq!(got, ["page got \"posted after close()\"", "torn down"]);
    let stopped = top
        .run(|scope: &Scope| scope.global::<Worker>().unwrap().is_terminated())
        .await
        .unwrap();
    assert!(stopped);
    browser.shutdown();
}

/// Window-worker round trips across threads: the worker runs on a thread other than the
/// page's, and 100 ping/pong round trips complete in order.
#[actix_rt::test]
async fn window_worker_round_trips_across_threads() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let t = tx.clone();
    let _top = browser
        .open_with(
            "https://example.com/",
            move |scope: &Scope| -> webmessaging::Result<()> {
                let w =
                    scope.spawn_worker_with("https://example.com/pong.js", |scope: &Scope| {
                        scope.on_message_as::<u32, _, _>(
                            |scope: &Scope, _e: &MessageEvent, n: u32| {
                                scope.post(&(n, format!("{:?}", std::thread::current().id())))
                            },
                        );
                    })?;
                let page_thread = format!("{:?}", std::thread::current().id());
                let tx = t.clone();
                w.on_message_as::<(u32, String), _, _>(
                    move |scope: &Scope,
                          _e: &MessageEvent,
                          (n, worker_thread): (u32, String)|
                          -> webmessaging::Result<()> {
                        assert_ne!(
                            worker_thread, page_thread,
                            "the worker runs on its own thread"
                        );
                        if n < 100 {
                            scope.global::<Worker>().unwrap().post(&(n + 1))?;
                        } else {
                            tx.send(format!(
                                "done {n} page={page_thread} worker={worker_thread}"
                            ))
                            .unwrap();
                        }
                        Ok(())
                    },
                );
                w.post(&1u32)?;
                scope.set_global(w);
                Ok(())
            },
        )
        .unwrap();
    let done = recv(&mut rx).await;
    assert!(done.starts_with("done 100 "), "{done}");
    let (page, worker) = done["done 100 page=".len()..]
        .split_once(" worker=")
        .unwrap();
    assert_ne!(page, worker);
    let test_thread = format!("{:?}", std::thread::current().id());
    assert_ne!(worker, test_thread);
    browser.shutdown();
}

/// EV-TRUSTED: a BroadcastChannel message sent from a worker reaches a window's channel
/// as a trusted event.
#[actix_rt::test]
async fn ev_trusted_broadcast_from_worker() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let t = tx.clone();
    let _top = browser
        .open_with(
            "https://example.com/",
            move |scope: &Scope| -> webmessaging::Result<()> {
                let bc = scope.broadcast_channel("news");
                let tx = t.clone();
                bc.on_message(move |_s: &Scope, e: &MessageEvent| {
                    tx.send(format!(
                        "bc got {:?} trusted={} origin={}",
                        e.data(),
                        e.is_trusted(),
                        e.origin()
                    ))
                    .unwrap();
                });
                let w = scope.spawn_worker_with(
                    "https://example.com/bc.js",
                    |scope: &Scope| -> webmessaging::Result<()> {
                        let bc = scope.broadcast_channel("news");
                        bc.post_message(&Value::from("from worker"))?;
                        scope.set_global(bc);
                        Ok(())
                    },
                )?;
                scope.set_global((bc, w));
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(
        recv(&mut rx).await,
        "bc got \"from worker\" trusted=true origin=https://example.com"
    );
    browser.shutdown();
}

/// Issue items 6 and 7 in a worker: a typed `Worker.onmessage` that cannot deserialize gets
/// `messageerror` (origin "", no source); an error returned by a worker's listener fires
/// `error` at the worker's global and at its `Worker` object, and the worker goes on.
#[actix_rt::test]
async fn wk_messageerror_and_error_events() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let t = tx.clone();
    let _top = browser
        .open_with(
            "https://example.com/",
            move |scope: &Scope| -> webmessaging::Result<()> {
                let t2 = t.clone();
                let w =
                    scope.spawn_worker_with("https://example.com/w.js", move |scope: &Scope| {
                        let tx = t2.clone();
                        scope.on_message(
                            move |scope: &Scope, e: &MessageEvent| -> Result<(), String> {
                                match e.data().as_str() {
                                    Some("fail") => Err("worker listener failed".into()),
                                    Some(s) => scope.post(s).map_err(|e| e.to_string()),
                                    None => scope.post(&5u32).map_err(|e| e.to_string()),
                                }
                            },
                        );
                        let tx2 = tx.clone();
                        scope.on_error(move |_s: &Scope, e: &MessageEvent| {
                            tx2.send(format!(
                                "worker global error: {}",
                                e.error_message().unwrap_or("")
                            ))
                            .unwrap();
                        });
                        drop(tx);
                    })?;
                let tx = t.clone();
                w.on_message_as::<u32, _, _>(move |_s: &Scope, _e: &MessageEvent, n: u32| {
                    tx.send(format!("page got number {n}")).unwrap();
                });
                let tx = t.clone();
                w.on_message_error(move |_s: &Scope, e: &MessageEvent| {
                    tx.send(format!(
                        "page messageerror origin={:?} source={} data={:?}",
                        e.origin(),
                        e.source().is_some(),
                        e.data()
                    ))
                    .unwrap();
                });
                let tx = t.clone();
                w.on_error(move |_s: &Scope, e: &MessageEvent| {
                    tx.send(format!(
                        "worker object error: {}",
                        e.error_message().unwrap_or("")
                    ))
                    .unwrap();
                });
                w.post_message(&Value::from("not a number"), &[])?;
                w.post_message(&Value::from("fail"), &[])?;
                w.post_message(&Value::Null, &[])?;
                scope.set_global(w);
                Ok(())
            },
        )
        .unwrap();
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(recv(&mut rx).await);
    }
    let page: Vec<&String> = got
        .iter()
        .filter(|s| s.starts_with("page") || s.starts_with("worker object"))
        .collect();
    assert_eq!(
        page,
        [
            "page messageerror origin=\"\" source=false data=null",
            "worker object error: worker listener failed",
            "page got number 5",
        ]
    );
    assert!(
        got.contains(&"worker global error: worker listener failed".to_owned()),
        "{got:?}"
    );
    browser.shutdown();
}

/// A worker has no `WindowProxy` in the standard; one captured from outside cannot be used
/// to post: `NotSupportedError`, returned before anything is serialized, so a port in the
/// transfer list stays usable.
#[actix_rt::test]
async fn worker_cannot_post_through_a_window_proxy() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let top = browser.open("https://example.com/").unwrap();
    let proxy = top.proxy().clone();
    let t = tx.clone();
    top.run(move |scope: &Scope| {
        let tx = t.clone();
        scope.on_message(move |_s: &Scope, e: &MessageEvent| {
            tx.send(format!("window got {:?}", e.data())).unwrap();
        });
        let t2 = t.clone();
        let w = scope
            .spawn_worker_with("https://example.com/w.js", move |scope: &Scope| {
                let ch = scope.message_channel();
                let err = proxy
                    .post_message(scope, &Value::from("x"), "*", &[ch.port1().to_value()])
                    .unwrap_err();
                let err2 = proxy.post(scope, "y", "*").unwrap_err();
                t2.send(format!(
                    "{:?} {:?} port active={}",
                    err.name(),
                    err2.name(),
                    ch.port1().is_active()
                ))
                .unwrap();
            })
            .unwrap();
        scope.set_global(w);
        scope.post_message(&Value::from("marker"), &[]).unwrap();
    })
    .await
    .unwrap();
    let mut got = vec![recv(&mut rx).await, recv(&mut rx).await];
    got.sort();
    assert_eq!(
        got,
        [
            "NotSupportedError NotSupportedError port active=true",
            "window got \"marker\"",
        ]
    );
    browser.shutdown();
}
