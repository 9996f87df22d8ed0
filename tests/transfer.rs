//! Transferring MessagePorts end to end: the XFER-* port rows, PM-MANY-PORTS,
//! PM-OPTIONS-TRANSFER-PORTS and EV-PORTS-ORDER of ../shared/conformance.md, the "nothing
//! lost, nothing reordered" guarantees (issue 4 item 4), and the chaos property test
//! (item 6, [`chaos`]).
//!
//! To show that something did *not* arrive, a later marker is sent on the same ordered
//! path; timeouts are failure guards only.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use tokio::sync::mpsc;
use webmessaging::prelude::*;

mod common;
use common::{expect, recv, reporter, send, text, Tx};

struct Ports(RefCell<Vec<MessagePort>>);

fn keep(scope: &Scope, ports: &[MessagePort]) {
    match scope.global::<Ports>() {
        Some(p) => p.0.borrow_mut().extend(ports.iter().cloned()),
        None => {
            scope.set_global(Ports(RefCell::new(ports.to_vec())));
        }
    }
}

fn kept(scope: &Scope, i: usize) -> MessagePort {
    scope.global::<Ports>().expect("no ports kept").0.borrow()[i].clone()
}

fn iframe(scope: &Scope, url: &str, f: impl Fn(&Scope) + Send + Sync + 'static) -> WindowProxy {
    scope
        .create_iframe_with(
            url,
            IframeOptions {
                script: Some(script(f)),
                ..Default::default()
            },
        )
        .unwrap()
}

fn s(v: &str) -> Value {
    Value::from(v)
}

// ----- XFER-* -----

/// XFER-PORT-NEW-OBJECT: a transferred port arrives as a new MessagePort object, entangled
/// with the original's peer; a later ping from the peer reaches the new object. The old
/// object is inert.
#[actix_rt::test]
async fn xfer_port_new_object() {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _w = browser
        .open_with("https://a.example/", move |scope: &Scope| {
            let (p1, p2) = scope.message_channel().into_ports();
            let t = tx.clone();
            let original = p2.clone();
            scope.on_message(move |scope: &Scope, e: &MessageEvent| {
                let new = e.ports()[0].clone();
                send(
                    &t,
                    format!(
                        "new object: {}, old active: {}",
                        new != original,
                        original.is_active()
                    ),
                );
                new.on_message(reporter(&t, "new"));
                keep(scope, &[new]);
                kept(scope, 0).post_message(&s("ping"), &[]).unwrap();
            });
            let me = scope.window().unwrap();
            me.post_message(scope, &Value::Null, "/", &[p2.to_value()])
                .unwrap();
            keep(scope, &[p1]);
        })
        .unwrap();
    expect(
        &mut rx,
        &["new object: true, old active: false", "new:ping"],
    )
    .await;
    browser.shutdown();
}

/// XFER-PORT-OLD-INERT: once port1 is transferred to an iframe, postMessage on the old
/// port1 object silently does nothing. The peer receives the pre-transfer "PING", then
/// the new owner's message, and never "PONG" (the new owner's "end" marker comes after).
#[actix_rt::test]
async fn xfer_port_old_inert() {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _w = browser
        .open_with("https://parent.example/", move |scope: &Scope| {
            let child = iframe(scope, "https://child.example/", |scope| {
                scope.on_message(|_s: &Scope, e: &MessageEvent| {
                    let p = &e.ports()[0];
                    p.post_message(&s("from iframe"), &[]).unwrap();
                    p.post_message(&s("end"), &[]).unwrap();
                });
            });
            let (p1, p2) = scope.message_channel().into_ports();
            p2.on_message(reporter(&tx, "p2"));
            p1.post_message(&s("PING"), &[]).unwrap();
            child
                .post_message(scope, &Value::Null, "*", &[p1.to_value()])
                .unwrap();
            let r = p1.post_message(&s("PONG"), &[]);
            send(&tx, format!("old post ok: {}", r.is_ok()));
            keep(scope, &[p2]);
        })
        .unwrap();
    expect(
        &mut rx,
        &["old post ok: true", "p2:PING", "p2:from iframe", "p2:end"],
    )
    .await;
    browser.shutdown();
}

/// XFER-PORT-SELF: `port.postMessage(x, [port])` throws DataCloneError (untyped and typed
/// posts), and the port stays usable.
#[actix_rt::test]
async fn xfer_port_self_is_data_clone_error() {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _w = browser
        .open_with("https://a.example/", move |scope: &Scope| {
            let (p1, p2) = scope.message_channel().into_ports();
            p2.on_message(reporter(&tx, "p2"));
            let e1 = p1.post_message(&s("x"), &[p1.to_value()]).unwrap_err();
            let e2 = p1.post_with_transfer(&"x", &[p1.to_value()]).unwrap_err();
            send(&tx, format!("{:?} {:?}", e1.name(), e2.name()));
            p1.post_message(&s("still usable"), &[]).unwrap();
            keep(scope, &[p1]);
        })
        .unwrap();
    expect(
        &mut rx,
        &["DataCloneError DataCloneError", "p2:still usable"],
    )
    .await;
    browser.shutdown();
}

/// XFER-DUPLICATE (ports): the same port twice in one transfer list is a DataCloneError
/// for port, window and worker postMessage and structuredClone, even as two wrappers of
/// the port; and the failed calls leave the port usable.
#[actix_rt::test]
async fn xfer_duplicate_ports() {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _w = browser
        .open_with("https://a.example/", move |scope: &Scope| {
            let (p1, p2) = scope.message_channel().into_ports();
            let (q1, _q2) = scope.message_channel().into_ports();
            let worker = scope
                .spawn_worker_with("https://a.example/w.js", |_s: &Scope| {})
                .unwrap();
            let v = p2.to_value();
            let me = scope.window().unwrap();
            let errs = [
                q1.post_message(&Value::Null, &[v.clone(), v.clone()])
                    .unwrap_err(),
                q1.post_message(&Value::Null, &[p2.to_value(), p2.to_value()])
                    .unwrap_err(),
                me.post_message(scope, &Value::Null, "*", &[v.clone(), v.clone()])
                    .unwrap_err(),
                worker
                    .post_message(&Value::Null, &[v.clone(), v.clone()])
                    .unwrap_err(),
                scope
                    .structured_clone(&v, &[v.clone(), v.clone()])
                    .unwrap_err(),
            ];
            worker.terminate();
            let names: Vec<String> = errs.iter().map(|e| format!("{:?}", e.name())).collect();
            send(&tx, names.join(","));
            p2.on_message(reporter(&tx, "p2"));
            p1.post_message(&s("usable"), &[]).unwrap();
            keep(scope, &[p1, p2, q1]);
        })
        .unwrap();
    expect(
        &mut rx,
        &[
            "DataCloneError,DataCloneError,DataCloneError,DataCloneError,DataCloneError",
            "p2:usable",
        ],
    )
    .await;
    browser.shutdown();
}

/// Doomed (postMessage steps 3-6): transferring the entangled target port through its
/// own channel is no error; the message is discarded and the channel is lost: both ends
/// are dead, and (as in Chromium) no `close` fires at the sender's port. Nothing arrives,
/// not even what the sender posts afterwards.
#[actix_rt::test]
async fn xfer_doomed_target_port() {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let w = browser
        .open_with("https://a.example/", move |scope: &Scope| {
            let (p1, p2) = scope.message_channel().into_ports();
            p1.on_message(reporter(&tx, "p1"));
            p1.on_close(reporter(&tx, "p1"));
            p2.on_message(reporter(&tx, "p2"));
            let r = p1.post_message(&s("doomed"), &[p2.to_value()]);
            send(
                &tx,
                format!("ok: {}, p2 active: {}", r.is_ok(), p2.is_active()),
            );
            p1.post_message(&s("after"), &[]).unwrap();
            keep(scope, &[p1, p2]);
        })
        .unwrap();
    expect(&mut rx, &["ok: true, p2 active: false"]).await;
    w.settle().await.unwrap();
    let late = tokio::time::timeout(std::time::Duration::from_millis(100), rx.recv()).await;
    assert!(late.is_err(), "nothing else fires: {late:?}");
    browser.shutdown();
}

/// A doomed post that also carries another channel's port, on a shipped channel: the
/// doomed channel dies silently, but the other port is lost with the discarded message,
/// so its peer gets `close`.
#[actix_rt::test]
async fn xfer_doomed_post_closes_the_other_ports_it_carried() {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let w = browser
        .open_with("https://a.example/", move |scope: &Scope| {
            let (p1, p2) = scope.message_channel().into_ports();
            // Ship the channel first (p2 goes through another channel and back).
            let (h1, h2) = scope.message_channel().into_ports();
            let (q1, q2) = scope.message_channel().into_ports();
            q1.on_close(reporter(&tx, "q1"));
            p1.on_close(reporter(&tx, "p1"));
            q1.start();
            p1.start();
            let t = tx.clone();
            let (p1c, q2c) = (p1.clone(), q2.clone());
            h2.on_message(move |_s: &Scope, e: &MessageEvent| {
                let p2 = e.ports()[0].clone();
                let r = p1c.post_message(&s("doomed"), &[p2.to_value(), q2c.to_value()]);
                send(&t, format!("ok: {}", r.is_ok()));
            });
            h1.post_message(&Value::Null, &[p2.to_value()]).unwrap();
            keep(scope, &[p1, q1, h1, h2]);
        })
        .unwrap();
    expect(&mut rx, &["ok: true", "q1:close"]).await;
    w.settle().await.unwrap();
    let late = tokio::time::timeout(std::time::Duration::from_millis(100), rx.recv()).await;
    assert!(late.is_err(), "no close at p1: {late:?}");
    browser.shutdown();
}

/// A failed postMessage leaves every listed port usable: an unserializable message, a
/// bad targetOrigin, or a detached port later in the list.
#[actix_rt::test]
async fn xfer_failed_post_leaves_ports_usable() {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _w = browser
        .open_with("https://a.example/", move |scope: &Scope| {
            let (a1, a2) = scope.message_channel().into_ports();
            let (b1, b2) = scope.message_channel().into_ports();
            let (c1, _c2) = scope.message_channel().into_ports();
            let (d1, _d2) = scope.message_channel().into_ports();
            d1.close();
            let me = scope.window().unwrap();
            let f = Value::from(Object::new_function("f"));
            let list = [a2.to_value(), b2.to_value()];
            let e1 = c1.post_message(&f, &list).unwrap_err();
            let e2 = me
                .post_message(scope, &Value::Null, "not an origin", &list)
                .unwrap_err();
            let e3 = c1
                .post_message(&Value::Null, &[a2.to_value(), b2.to_value(), d1.to_value()])
                .unwrap_err();
            let e4 = me.post_message(scope, &f, "*", &list).unwrap_err();
            send(
                &tx,
                format!(
                    "{:?} {:?} {:?} {:?}",
                    e1.name(),
                    e2.name(),
                    e3.name(),
                    e4.name()
                ),
            );
            send(
                &tx,
                format!("active: {} {}", a2.is_active(), b2.is_active()),
            );
            a2.on_message(reporter(&tx, "a2"));
            b2.on_message(reporter(&tx, "b2"));
            a1.post_message(&s("x"), &[]).unwrap();
            b1.post_message(&s("y"), &[]).unwrap();
            keep(scope, &[a1, b1, c1]);
        })
        .unwrap();
    expect(
        &mut rx,
        &[
            "DataCloneError SyntaxError DataCloneError DataCloneError",
            "active: true true",
            "a2:x",
            "b2:y",
        ],
    )
    .await;
    browser.shutdown();
}

/// XFER-QUEUE-TRAVELS: messages queued at a port whose queue is not enabled travel with it
/// through several transfers (window message to an iframe, a port, structuredClone, a
/// window message back), with messages sent at each hop; once enabled it receives
/// First, Second, Third, Fourth.
#[actix_rt::test]
async fn xfer_queue_travels() {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let t = tx.clone();
    let _w = browser
        .open_with("https://parent.example/", move |scope: &Scope| {
            let t = t.clone();
            // Hop 2 and 3 happen in the iframe: it receives port2 (not started), tells the
            // parent to send "Third", then moves port2 through structuredClone and a port,
            // and posts it back to the parent.
            let child = iframe(scope, "https://child.example/", |scope| {
                scope.on_message(|scope: &Scope, e: &MessageEvent| {
                    let parent = e.source_window().unwrap().clone();
                    let p = e.ports()[0].clone();
                    let v = scope
                        .structured_clone(&p.to_value(), &[p.to_value()])
                        .unwrap();
                    let p = MessagePort::from_value(&v).unwrap();
                    let (c1, c2) = scope.message_channel().into_ports();
                    let parent2 = parent.clone();
                    c2.on_message(move |scope: &Scope, e: &MessageEvent| {
                        parent2
                            .post_message(scope, &s("back"), "*", &[e.ports()[0].to_value()])
                            .unwrap();
                    });
                    c1.post_message(&Value::Null, &[p.to_value()]).unwrap();
                    parent
                        .post_message(scope, &s("send third"), "*", &[])
                        .unwrap();
                    keep(scope, &[c1, c2]);
                });
            });
            let (p1, p2) = scope.message_channel().into_ports();
            p1.post_message(&s("First"), &[]).unwrap();
            child
                .post_message(scope, &Value::Null, "*", &[p2.to_value()])
                .unwrap();
            p1.post_message(&s("Second"), &[]).unwrap();
            scope.on_message(move |scope: &Scope, e: &MessageEvent| {
                if e.data().as_str() == Some("send third") {
                    kept(scope, 0).post_message(&s("Third"), &[]).unwrap();
                } else {
                    kept(scope, 0).post_message(&s("Fourth"), &[]).unwrap();
                    let p = e.ports()[0].clone();
                    p.on_message(reporter(&t, "final"));
                    keep(scope, &[p]);
                }
            });
            keep(scope, &[p1]);
        })
        .unwrap();
    expect(
        &mut rx,
        &["final:First", "final:Second", "final:Third", "final:Fourth"],
    )
    .await;
    browser.shutdown();
}

/// XFER-OUTGOING-ORDER: messages a port sends before its first transfer, between
/// transfers, and after a second transfer reach the peer in send order.
#[actix_rt::test]
async fn xfer_outgoing_order() {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _w = browser
        .open_with("https://parent.example/", move |scope: &Scope| {
            let b = iframe(scope, "https://b.example/", |scope| {
                scope.on_message(|scope: &Scope, e: &MessageEvent| {
                    let p = e.ports()[0].clone();
                    p.post_message(&s("Third"), &[]).unwrap();
                    p.post_message(&s("Fourth"), &[]).unwrap();
                    keep(scope, &[p]);
                });
            });
            let a = iframe(scope, "https://a.example/", move |scope| {
                let b = b.clone();
                scope.on_message(move |scope: &Scope, e: &MessageEvent| {
                    let p = e.ports()[0].clone();
                    p.post_message(&s("Second"), &[]).unwrap();
                    b.post_message(scope, &Value::Null, "*", &[p.to_value()])
                        .unwrap();
                });
            });
            let (p1, p2) = scope.message_channel().into_ports();
            p1.on_message(reporter(&tx, "p1"));
            p2.post_message(&s("First"), &[]).unwrap();
            a.post_message(scope, &Value::Null, "*", &[p2.to_value()])
                .unwrap();
            keep(scope, &[p1]);
        })
        .unwrap();
    expect(&mut rx, &["p1:First", "p1:Second", "p1:Third", "p1:Fourth"]).await;
    browser.shutdown();
}

/// XFER-STRUCTUREDCLONE-PORT: `structuredClone(port2, {transfer: [port2]})` returns a new
/// port still entangled with port1: posting on the copy reaches port1, and port1's
/// messages reach the copy.
#[actix_rt::test]
async fn xfer_structured_clone_port() {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _w = browser
        .open_with("https://a.example/", move |scope: &Scope| {
            let (p1, p2) = scope.message_channel().into_ports();
            let v = scope
                .structured_clone(&p2.to_value(), &[p2.to_value()])
                .unwrap();
            let copy = MessagePort::from_value(&v).expect("a port");
            send(
                &tx,
                format!("new object: {}, old active: {}", copy != p2, p2.is_active()),
            );
            p1.on_message(reporter(&tx, "p1"));
            copy.on_message(reporter(&tx, "copy"));
            copy.post_message(&s("from copy"), &[]).unwrap();
            keep(scope, &[p1.clone(), copy]);
            p1.post_message(&s("to copy"), &[]).unwrap();
        })
        .unwrap();
    let mut got = [
        recv(&mut rx).await,
        recv(&mut rx).await,
        recv(&mut rx).await,
    ];
    assert_eq!(got[0], "new object: true, old active: false");
    got[1..].sort();
    assert_eq!(
        got[1..],
        ["copy:to copy".to_owned(), "p1:from copy".to_owned()]
    );
    browser.shutdown();
}

// ----- PM-*, EV-* -----

/// PM-MANY-PORTS: 100 ports are transferred to a cross-origin iframe, in one call, or
/// split over two calls (positional list, then the options form). Every port stays
/// entangled: each local port gets back exactly the value it sent; the values total 4950.
async fn many_ports(split: bool) {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    browser
        .route("https://xorigin.example/", |scope: &Scope| {
            scope.on_message(|scope: &Scope, e: &MessageEvent| {
                for p in e.ports() {
                    let echo = p.clone();
                    p.on_message(move |_s: &Scope, e: &MessageEvent| {
                        echo.post_message(e.data(), &[]).unwrap();
                    });
                }
                keep(scope, e.ports());
            });
        })
        .unwrap();
    let _w = browser
        .open_with("https://parent.example/", move |scope: &Scope| {
            let child = scope.create_iframe("https://xorigin.example/").unwrap();
            let mut remote = Vec::new();
            let mut local = Vec::new();
            for i in 0..100 {
                let (p1, p2) = scope.message_channel().into_ports();
                let t = tx.clone();
                p1.on_message(move |_s: &Scope, e: &MessageEvent| {
                    send(&t, format!("{i}:{}", text(e)));
                });
                remote.push(p2.to_value());
                local.push(p1);
            }
            if split {
                child
                    .post_message(scope, &s("first half"), "*", &remote[..50])
                    .unwrap();
                let opts = WindowPostMessageOptions {
                    target_origin: "https://xorigin.example".into(),
                    transfer: remote[50..].to_vec(),
                };
                child
                    .post_message_with_options(scope, &s("second half"), &opts)
                    .unwrap();
            } else {
                child.post_message(scope, &s("all"), "*", &remote).unwrap();
            }
            for (i, p) in local.iter().enumerate() {
                p.post_message(&Value::from(i as u32), &[]).unwrap();
            }
            keep(scope, &local);
        })
        .unwrap();
    let mut sum = 0;
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..100 {
        let r = recv(&mut rx).await;
        let (i, v) = r.split_once(':').unwrap();
        assert_eq!(i, v, "port {i} got back another port's value");
        assert!(seen.insert(i.parse::<u32>().unwrap()));
        sum += v.parse::<u32>().unwrap();
    }
    assert_eq!(sum, 4950);
    browser.shutdown();
}

/// PM-MANY-PORTS, in one call.
#[actix_rt::test]
async fn pm_many_ports_one_call() {
    many_ports(false).await;
}

/// PM-MANY-PORTS, split over two calls (positional, then `{transfer}`).
#[actix_rt::test]
async fn pm_many_ports_two_calls() {
    many_ports(true).await;
}

/// PM-OPTIONS-TRANSFER-PORTS: both ports of one channel transferred in a single window
/// post, positional and `{targetOrigin: "*", transfer: [p1, p2]}`: the receiver gets two
/// ports, still entangled with each other.
#[actix_rt::test]
async fn pm_options_transfer_both_ports() {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let t = tx.clone();
    let _w = browser
        .open_with("https://parent.example/", move |scope: &Scope| {
            let t = t.clone();
            let child = iframe(scope, "https://child.example/", move |scope| {
                let t = t.clone();
                scope.on_message(move |scope: &Scope, e: &MessageEvent| {
                    let ports = e.ports();
                    send(&t, format!("{} ports: {}", text(e), ports.len()));
                    ports[1].on_message(reporter(&t, &text(e)));
                    ports[0].post_message(&s("entangled"), &[]).unwrap();
                    keep(scope, ports);
                });
            });
            let (p1, p2) = scope.message_channel().into_ports();
            child
                .post_message(
                    scope,
                    &s("positional"),
                    "*",
                    &[p1.to_value(), p2.to_value()],
                )
                .unwrap();
            let (q1, q2) = scope.message_channel().into_ports();
            let opts = WindowPostMessageOptions {
                target_origin: "*".into(),
                transfer: vec![q1.to_value(), q2.to_value()],
            };
            child
                .post_message_with_options(scope, &s("options"), &opts)
                .unwrap();
        })
        .unwrap();
    let mut got: Vec<String> = Vec::new();
    for _ in 0..4 {
        got.push(recv(&mut rx).await);
    }
    got.sort();
    assert_eq!(
        got,
        [
            "options ports: 2",
            "options:entangled",
            "positional ports: 2",
            "positional:entangled"
        ]
    );
    browser.shutdown();
}

/// EV-PORTS-ORDER: ports transferred with a window message appear in `event.ports` in
/// transfer-list order, and the receiver can pass them straight on with
/// `e.source.postMessage(..., e.ports)`: they come back, still in order.
#[actix_rt::test]
async fn ev_ports_order() {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let t = tx.clone();
    let _w = browser
        .open_with("https://parent.example/", move |scope: &Scope| {
            let t = t.clone();
            let t2 = t.clone();
            let child = iframe(scope, "https://child.example/", move |scope| {
                let t = t2.clone();
                scope.on_message(move |scope: &Scope, e: &MessageEvent| {
                    for (i, p) in e.ports().iter().enumerate() {
                        p.post_message(&Value::from(i as u32), &[]).unwrap();
                    }
                    let back: Vec<Value> = e.ports().iter().map(MessagePort::to_value).collect();
                    send(&t, format!("child got {}", e.ports().len()));
                    e.source_window()
                        .unwrap()
                        .post_message(scope, &s("back"), "*", &back)
                        .unwrap();
                });
            });
            let mut remote = Vec::new();
            let mut local = Vec::new();
            for name in ["a", "b", "c"] {
                let (p1, p2) = scope.message_channel().into_ports();
                p1.on_message(reporter(&t, name));
                remote.push(p2.to_value());
                local.push(p1);
            }
            let t3 = t.clone();
            scope.on_message(move |scope: &Scope, e: &MessageEvent| {
                // Each returned port answers with its index on its channel.
                for (i, p) in e.ports().iter().enumerate() {
                    p.post_message(&Value::from(10 + i as u32), &[]).unwrap();
                }
                send(&t3, format!("parent got {} back", e.ports().len()));
                keep(scope, e.ports());
            });
            // The returned ports are the ones entangled with p1 of a, b, c: answer through
            // them by writing on p1 and reading on the returned ports is symmetric, so
            // check the other way: returned port i writes 10+i, read by local p1 of i.
            child
                .post_message(scope, &Value::Null, "*", &remote)
                .unwrap();
            keep(scope, &local);
        })
        .unwrap();
    let mut got: Vec<String> = Vec::new();
    for _ in 0..8 {
        got.push(recv(&mut rx).await);
    }
    let get = |name: &str| -> Vec<String> {
        got.iter()
            .filter(|g| g.starts_with(&format!("{name}:")))
            .cloned()
            .collect()
    };
    assert_eq!(get("a"), ["a:0", "a:10"]);
    assert_eq!(get("b"), ["b:1", "b:11"]);
    assert_eq!(get("c"), ["c:2", "c:12"]);
    assert!(got.contains(&"child got 3".to_owned()));
    assert!(got.contains(&"parent got 3 back".to_owned()));
    browser.shutdown();
}

// ----- nothing lost, nothing reordered (item 4) -----

/// A port transferred from inside its own listener while more messages wait in its
/// queue: the waiting messages follow it, exactly once, in order.
#[actix_rt::test]
async fn transfer_from_inside_listener_with_messages_waiting() {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let t = tx.clone();
    let _w = browser
        .open_with("https://parent.example/", move |scope: &Scope| {
            let t = t.clone();
            let t2 = t.clone();
            let b = iframe(scope, "https://b.example/", move |scope| {
                let t = t2.clone();
                scope.on_message(move |scope: &Scope, e: &MessageEvent| {
                    let p = e.ports()[0].clone();
                    p.on_message(reporter(&t, "B"));
                    keep(scope, &[p]);
                });
            });
            let (p1, p2) = scope.message_channel().into_ports();
            let p2c = p2.clone();
            let t3 = t.clone();
            p2.on_message(move |scope: &Scope, e: &MessageEvent| {
                send(&t3, format!("A:{}", text(e)));
                if e.data().as_number() == Some(10.0) {
                    b.post_message(scope, &Value::Null, "*", &[p2c.to_value()])
                        .unwrap();
                }
            });
            for i in 1..=100 {
                p1.post_message(&Value::from(i), &[]).unwrap();
            }
            keep(scope, &[p1]);
        })
        .unwrap();
    for i in 1..=100 {
        let who = if i <= 10 { "A" } else { "B" };
        assert_eq!(recv(&mut rx).await, format!("{who}:{i}"));
    }
    browser.shutdown();
}

/// A port re-shipped inside the task that received it (an iframe forwards it to a worker
/// from the listener that got it), while its peer keeps posting before and after: the
/// worker gets every message once, in order; nothing stops at the iframe.
#[actix_rt::test]
async fn a_port_reshipped_in_the_task_that_received_it() {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let t = tx.clone();
    let w = browser
        .open_with("https://parent.example/", move |scope: &Scope| {
            let t = t.clone();
            let b = iframe(scope, "https://b.example/", move |scope| {
                let t = t.clone();
                let worker = scope
                    .spawn_worker_with("https://b.example/w.js", move |w: &Scope| {
                        let t = t.clone();
                        w.on_message(move |w: &Scope, e: &MessageEvent| {
                            let p = e.ports()[0].clone();
                            p.on_message(reporter(&t, "W"));
                            keep(w, &[p]);
                        });
                    })
                    .unwrap();
                scope.on_message(move |_s: &Scope, e: &MessageEvent| {
                    // Straight on, in the same task: the iframe never starts the port.
                    let p = e.ports()[0].clone();
                    worker.post_message(&Value::Null, &[p.to_value()]).unwrap();
                });
            });
            let (p1, p2) = scope.message_channel().into_ports();
            for i in 1..=20 {
                p1.post_message(&Value::from(i), &[]).unwrap();
            }
            b.post_message(scope, &Value::Null, "*", &[p2.to_value()])
                .unwrap();
            for i in 21..=40 {
                p1.post_message(&Value::from(i), &[]).unwrap();
            }
            keep(scope, &[p1]);
        })
        .unwrap();
    for i in 1..=40 {
        assert_eq!(recv(&mut rx).await, format!("W:{i}"));
    }
    // More after everything has moved.
    w.run(|scope: &Scope| {
        for i in 41..=45 {
            kept(scope, 0).post_message(&Value::from(i), &[]).unwrap();
        }
    })
    .await
    .unwrap();
    for i in 41..=45 {
        assert_eq!(recv(&mut rx).await, format!("W:{i}"));
    }
    assert!(rx.try_recv().is_err());
    browser.shutdown();
}

/// Both ends of one channel transferred in separate messages (port1 to a worker, port2
/// to an iframe), then ping-pong across threads: every message arrives once, in order.
#[actix_rt::test]
async fn both_ends_transferred_separately() {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let t = tx.clone();
    let _w = browser
        .open_with("https://parent.example/", move |scope: &Scope| {
            let t = t.clone();
            let t2 = t.clone();
            let child = iframe(scope, "https://child.example/", move |scope| {
                let t = t2.clone();
                scope.on_message(move |scope: &Scope, e: &MessageEvent| {
                    let p = e.ports()[0].clone();
                    let echo = p.clone();
                    let t = t.clone();
                    p.on_message(move |_s: &Scope, e: &MessageEvent| {
                        let n = e.data().as_number().unwrap() as u32;
                        if n < 200 {
                            echo.post_message(&Value::from(n + 1), &[]).unwrap();
                        } else {
                            send(&t, format!("iframe saw {n}"));
                        }
                    });
                    keep(scope, &[p]);
                });
            });
            let worker = scope
                .spawn_worker_with("https://parent.example/w.js", |scope: &Scope| {
                    scope.on_message(|scope: &Scope, e: &MessageEvent| {
                        let p = e.ports()[0].clone();
                        let echo = p.clone();
                        let expected = Rc::new(std::cell::Cell::new(1u32));
                        p.on_message(move |_s: &Scope, e: &MessageEvent| {
                            let n = e.data().as_number().unwrap() as u32;
                            assert_eq!(n, expected.get(), "worker: out of order");
                            expected.set(n + 2);
                            echo.post_message(&Value::from(n + 1), &[]).unwrap();
                        });
                        p.post_message(&Value::from(0), &[]).unwrap();
                        keep(scope, &[p]);
                    });
                })
                .unwrap();
            let (p1, p2) = scope.message_channel().into_ports();
            worker.post_message(&Value::Null, &[p1.to_value()]).unwrap();
            child
                .post_message(scope, &Value::Null, "*", &[p2.to_value()])
                .unwrap();
            scope.set_global(worker);
        })
        .unwrap();
    expect(&mut rx, &["iframe saw 200"]).await;
    browser.shutdown();
}

/// How the previous owner goes away in [`transferred_port_survives_previous_owner`].
#[derive(Clone, Copy, Debug)]
enum Gone {
    Removed,
    Navigated,
    Crashed,
    Terminated,
}

/// A transferred port keeps working after its previous owner is removed, navigates,
/// crashes or (a worker) is terminated: the previous owner receives port2, passes it on
/// to the parent, and goes away; port2 then still exchanges messages with port1.
async fn transferred_port_survives_previous_owner(how: Gone) {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let t = tx.clone();
    let relay = |scope: &Scope| {
        scope.on_message(|scope: &Scope, e: &MessageEvent| {
            if e.data().as_str() == Some("crash") {
                panic!("crash on purpose (test)");
            }
            let p = e.ports()[0].clone();
            // Messages queued before the move travel with it.
            match scope.window() {
                Some(_) => e
                    .source_window()
                    .unwrap()
                    .post_message(scope, &s("relayed"), "*", &[p.to_value()])
                    .unwrap(),
                None => scope.post_message(&s("relayed"), &[p.to_value()]).unwrap(),
            }
        });
    };
    let w = browser
        .open_with("https://parent.example/", move |scope: &Scope| {
            let t = t.clone();
            let (p1, p2) = scope.message_channel().into_ports();
            p1.on_message(reporter(&t, "p1"));
            p1.on_close(reporter(&t, "p1"));
            p1.post_message(&s("queued before the move"), &[]).unwrap();
            let on_relayed = {
                let t = t.clone();
                move |scope: &Scope, e: &MessageEvent, gone: &dyn Fn(&Scope)| {
                    let p = e.ports()[0].clone();
                    gone(scope);
                    p.on_message(reporter(&t, "p2"));
                    keep(scope, &[p]);
                    send(&t, "relayed");
                }
            };
            match how {
                Gone::Terminated => {
                    let worker = scope
                        .spawn_worker_with("https://parent.example/w.js", relay)
                        .unwrap();
                    worker.post_message(&Value::Null, &[p2.to_value()]).unwrap();
                    let wk = worker.clone();
                    worker.on_message(move |scope: &Scope, e: &MessageEvent| {
                        on_relayed(scope, e, &|_s| wk.terminate());
                    });
                }
                _ => {
                    let child = iframe(scope, "https://child.example/", relay);
                    child
                        .post_message(scope, &Value::Null, "*", &[p2.to_value()])
                        .unwrap();
                    let c = child.clone();
                    scope.on_message(move |scope: &Scope, e: &MessageEvent| {
                        let c = c.clone();
                        on_relayed(scope, e, &move |scope: &Scope| match how {
                            Gone::Removed => scope.remove_iframe(&c),
                            Gone::Navigated => c.navigate("https://other.example/").unwrap(),
                            Gone::Crashed => c.post_message(scope, &s("crash"), "*", &[]).unwrap(),
                            Gone::Terminated => unreachable!(),
                        });
                    });
                }
            }
            keep(scope, &[p1]);
        })
        .unwrap();
    let child = w
        .run(|scope| scope.iframes().first().cloned())
        .await
        .unwrap();
    expect(&mut rx, &["relayed", "p2:queued before the move"]).await;
    // Let the previous owner's teardown run before the port is used again: a task run in
    // the child's browsing context queues after it (after removal it finds no realm).
    if let Some(child) = child {
        let _ = browser.handle(&child).settle().await;
        if let Gone::Crashed = how {
            let _ = browser.handle(&child).settle().await;
        }
    }
    w.run(|scope| {
        kept(scope, 0).post_message(&s("to p2"), &[]).unwrap();
        kept(scope, 1).post_message(&s("to p1"), &[]).unwrap();
    })
    .await
    .unwrap();
    let mut got = vec![recv(&mut rx).await, recv(&mut rx).await];
    got.sort();
    assert_eq!(got, ["p1:to p1", "p2:to p2"], "{how:?}");
    w.settle().await.unwrap();
    assert!(
        rx.try_recv().is_err(),
        "{how:?}: unexpected event (a close?)"
    );
    browser.shutdown();
}

/// Previous owner (an iframe) removed.
#[actix_rt::test]
async fn transferred_port_survives_previous_owner_removed() {
    transferred_port_survives_previous_owner(Gone::Removed).await;
}

/// Previous owner (an iframe) navigated away.
#[actix_rt::test]
async fn transferred_port_survives_previous_owner_navigated() {
    transferred_port_survives_previous_owner(Gone::Navigated).await;
}

/// Previous owner (an iframe) crashed.
#[actix_rt::test]
async fn transferred_port_survives_previous_owner_crashed() {
    transferred_port_survives_previous_owner(Gone::Crashed).await;
}

/// Previous owner (a worker) terminated.
#[actix_rt::test]
async fn transferred_port_survives_previous_owner_terminated() {
    transferred_port_survives_previous_owner(Gone::Terminated).await;
}

/// What a hop does with the port when its turn is over.
type Next = Box<dyn Fn(&Scope, MessagePort)>;

/// Transfers across worker threads with messages in flight: port1 streams 1..=N while
/// port2 moves parent -> worker A -> worker B (through a port between the workers) ->
/// parent; every message is received once, in order, by whoever owns port2 then.
#[actix_rt::test]
async fn transfers_across_worker_threads_with_messages_in_flight() {
    const N: u32 = 300;
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let t = tx.clone();
    let w = browser
        .open_with("https://parent.example/", move |scope: &Scope| {
            let t = t.clone();
            // Each hop: record messages for a while, then pass the port on.
            let hop = |name: &'static str, t: Tx| {
                move |p: MessagePort, next: Next| {
                    let pc = p.clone();
                    let count = Rc::new(std::cell::Cell::new(0u32));
                    p.on_message(move |scope: &Scope, e: &MessageEvent| {
                        send(&t, format!("{name}:{}", text(e)));
                        count.set(count.get() + 1);
                        if count.get() == 40 {
                            next(scope, pc.clone());
                        }
                    });
                }
            };
            // Worker B receives the port from A over a channel between them (set up by the
            // parent), records 40 messages, then posts it back to the parent.
            let tb = t.clone();
            let worker_b = scope
                .spawn_worker_with("https://parent.example/b.js", move |scope: &Scope| {
                    let tb = tb.clone();
                    scope.on_message(move |scope: &Scope, e: &MessageEvent| {
                        let link = e.ports()[0].clone();
                        let tb = tb.clone();
                        link.on_message(move |_s: &Scope, e: &MessageEvent| {
                            let h = hop("B", tb.clone());
                            h(
                                e.ports()[0].clone(),
                                Box::new(|scope: &Scope, p: MessagePort| {
                                    scope.post_message(&s("back"), &[p.to_value()]).unwrap();
                                }),
                            );
                        });
                        keep(scope, &[link]);
                    });
                })
                .unwrap();
            let ta = t.clone();
            let worker_a = scope
                .spawn_worker_with("https://parent.example/a.js", move |scope: &Scope| {
                    let ta = ta.clone();
                    scope.on_message(move |scope: &Scope, e: &MessageEvent| {
                        if e.ports().len() == 1 {
                            let link = e.ports()[0].clone();
                            keep(scope, &[link]);
                        } else {
                            let h = hop("A", ta.clone());
                            h(
                                e.ports()[1].clone(),
                                Box::new(|scope: &Scope, p: MessagePort| {
                                    kept(scope, 0)
                                        .post_message(&Value::Null, &[p.to_value()])
                                        .unwrap();
                                }),
                            );
                        }
                    });
                })
                .unwrap();
            let (l1, l2) = scope.message_channel().into_ports();
            worker_a
                .post_message(&Value::Null, &[l1.to_value()])
                .unwrap();
            worker_b
                .post_message(&Value::Null, &[l2.to_value()])
                .unwrap();
            let (p1, p2) = scope.message_channel().into_ports();
            // The parent: first 40 messages, then to worker A (with a dummy second port
            // marking "data port" for A).
            let (d1, d2) = scope.message_channel().into_ports();
            let wa = worker_a.clone();
            let h = hop("P", t.clone());
            let d2v = d2.to_value();
            h(
                p2,
                Box::new(move |_scope: &Scope, p: MessagePort| {
                    wa.post_message(&Value::Null, &[d2v.clone(), p.to_value()])
                        .unwrap();
                }),
            );
            let tp = t.clone();
            worker_b.on_message(move |scope: &Scope, e: &MessageEvent| {
                let p = e.ports()[0].clone();
                p.on_message(reporter(&tp, "Q"));
                keep(scope, &[p]);
            });
            keep(scope, &[p1, d1]);
            scope.set_global((worker_a, worker_b));
        })
        .unwrap();
    // Stream while the port moves.
    for chunk in 0..(N / 20) {
        w.run(move |scope| {
            for i in 1..=20 {
                kept(scope, 0)
                    .post_message(&Value::from(chunk * 20 + i), &[])
                    .unwrap();
            }
        })
        .await
        .unwrap();
        tokio::task::yield_now().await;
    }
    let mut owners = Vec::new();
    for i in 1..=N {
        let r = recv(&mut rx).await;
        let (who, n) = r.split_once(':').unwrap();
        assert_eq!(
            n,
            i.to_string(),
            "message {i} lost, duplicated or reordered: got {r}"
        );
        if owners.last().map(String::as_str) != Some(who) {
            owners.push(who.to_owned());
        }
    }
    assert_eq!(owners, ["P", "A", "B", "Q"]);
    browser.shutdown();
}
/// A port in a message that is never delivered (a window message whose targetOrigin
/// does not match, a message to a worker terminated before it ran it) is not leaked
/// half-entangled: it closes, and the peer gets `close`, after the messages it sent.
async fn undelivered_port_closes(to_worker: bool) {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _w = browser
        .open_with("https://parent.example/", move |scope: &Scope| {
            let (p1, p2) = scope.message_channel().into_ports();
            p1.on_message(reporter(&tx, "p1"));
            p1.on_close(reporter(&tx, "p1"));
            p2.post_message(&s("sent before"), &[]).unwrap();
            if to_worker {
                let worker = scope
                    .spawn_worker_with("https://parent.example/w.js", |scope: &Scope| {
                        scope.on_message(|scope: &Scope, e: &MessageEvent| keep(scope, e.ports()));
                    })
                    .unwrap();
                worker.post_message(&Value::Null, &[p2.to_value()]).unwrap();
                worker.terminate();
            } else {
                let child = iframe(scope, "https://child.example/", |scope| {
                    scope.on_message(|scope: &Scope, e: &MessageEvent| keep(scope, e.ports()));
                });
                child
                    .post_message(
                        scope,
                        &Value::Null,
                        "https://not-the-child.example",
                        &[p2.to_value()],
                    )
                    .unwrap();
            }
            keep(scope, &[p1]);
        })
        .unwrap();
    expect(&mut rx, &["p1:sent before", "p1:close"]).await;
    browser.shutdown();
}

/// A port posted to a window with a non-matching targetOrigin closes.
#[actix_rt::test]
async fn port_in_dropped_window_message_closes() {
    undelivered_port_closes(false).await;
}

/// A port posted to a worker terminated before it ran the task closes.
#[actix_rt::test]
async fn port_in_message_to_terminated_worker_closes() {
    undelivered_port_closes(true).await;
}

// ----- the chaos property test (item 6) -----

/// Chaos: random realms (a top-level window with 0-2 iframes on one thread, 1-2
/// dedicated workers on threads of their own), 1-3 channels whose ends are moved around
/// at random (window postMessage parent <-> iframe, worker postMessage both ways, or
/// through a port of a "mesh" channel between every two realms), random start and close
/// (at most one end per channel is closed), both directions streaming sequence-numbered
/// messages, and "armed" transfers that move a port from inside its own listener while
/// more messages wait in its queue.
///
/// Every realm runs the same small *agent* script: a table of the channel ends it holds
/// (with each end's next sequence number, which travels with the port), and commands
/// (`Cmd`) the test drives from outside: through `WindowHandle::run` for windows, through
/// the `Worker` object for workers. The test keeps a model of who owns each end; a command
/// for an end still in flight waits at the agent until the port arrives. Receivers record
/// `(channel, end, seq)` and close events through one tokio channel.
///
/// Checked per case: each end received exactly the sequence 0, 1, 2, ... of what its peer
/// sent (all of it if it was not closed; a prefix if it was), no panic, one `close` event
/// at the survivor after all its messages when the other end was closed, and none
/// otherwise (a final message in both directions of every open channel comes after).
///
/// Faults too: an iframe or a worker crashes (a panic in its realm; it is restarted), a
/// worker is terminated, an iframe navigates away, at any point of the case, including
/// right after it transferred a port. Every end its document held (or that was on its way
/// to it) is closed with it: its peer gets one `close` after every message sent before,
/// and nothing sent to it arrives anywhere. Ports it had transferred away keep working.
///
/// `CHAOS_CASES` sets the number of cases (default 200).
mod chaos {
    use super::*;
    use proptest::prelude::*;
    use proptest::strategy::Strategy as _;
    use serde::{Deserialize, Serialize};
    use std::collections::HashMap;

    /// One end of a data channel: `end` 0 is port1, 1 is port2.
    #[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
    struct At {
        ch: u8,
        end: u8,
    }

    impl At {
        fn peer(self) -> At {
            At {
                ch: self.ch,
                end: 1 - self.end,
            }
        }
    }

    #[derive(Clone, Debug, Serialize, Deserialize)]
    enum Cmd {
        Send {
            at: At,
            n: u32,
        },
        Transfer {
            at: At,
            dest: u8,
            via_mesh: bool,
        },
        Start {
            at: At,
        },
        Close {
            at: At,
        },
        /// Post on `at` with its own peer (held here too) in the transfer list: the
        /// channel is lost, both ends dead, no `close` anywhere.
        Doom {
            at: At,
        },
        /// Start the port and, from inside its listener, transfer it to `dest` when the
        /// message with sequence number `trigger` (or a later one) arrives.
        Arm {
            at: At,
            dest: u8,
            trigger: u32,
        },
    }

    impl Cmd {
        fn at(&self) -> At {
            match self {
                Cmd::Send { at, .. }
                | Cmd::Transfer { at, .. }
                | Cmd::Start { at }
                | Cmd::Close { at }
                | Cmd::Doom { at }
                | Cmd::Arm { at, .. } => *at,
            }
        }
    }

    #[derive(Debug, Serialize, Deserialize)]
    enum Wire {
        Data {
            seq: u32,
        },
        Port {
            at: At,
            hop: u32,
            next_seq: u32,
            received: u32,
        },
        Mesh {
            peer: u8,
        },
        /// A command for the end's `hop`-th stay (counting its moves).
        Cmd(u32, Cmd),
        /// Panic in the realm's listener: a crash.
        Crash,
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Rec {
        Data {
            at: At,
            seq: u32,
        },
        /// The agent posted `n` messages on `at` (commands for a realm that goes away
        /// before the port reaches it never run).
        Sent {
            at: At,
            n: u32,
        },
        /// The agent adopted `at` for its `hop`-th stay.
        Adopted {
            at: At,
            hop: u32,
        },
        Close {
            at: At,
        },
        Ready {
            realm: u8,
        },
    }

    type RecTx = mpsc::UnboundedSender<Rec>;

    struct Entry {
        port: MessagePort,
        /// How many times this end has moved (commands name the stay they are for).
        hop: u32,
        next_seq: u32,
        received: u32,
        armed: Option<(u8, u32)>,
    }

    struct Agent {
        id: u8,
        n_windows: u8,
        n_realms: u8,
        tx: RecTx,
        ports: HashMap<At, Entry>,
        pending: HashMap<At, Vec<(u32, Cmd)>>,
        mesh: HashMap<u8, MessagePort>,
        /// In the top-level window: the iframes and workers, by realm id.
        windows: HashMap<u8, WindowProxy>,
        workers: HashMap<u8, Worker>,
    }

    fn agent(scope: &Scope) -> Rc<RefCell<Agent>> {
        scope
            .global::<RefCell<Agent>>()
            .expect("agent not installed")
    }

    fn install(scope: &Scope, id: u8, n_windows: u8, n_realms: u8, tx: RecTx) {
        scope.set_global(RefCell::new(Agent {
            id,
            n_windows,
            n_realms,
            tx,
            ports: HashMap::new(),
            pending: HashMap::new(),
            mesh: HashMap::new(),
            windows: HashMap::new(),
            workers: HashMap::new(),
        }));
    }

    fn on_wire(scope: &Scope, e: &MessageEvent) {
        let wire: Wire = e.data_as().expect("agent: undecodable wire message");
        match wire {
            Wire::Port {
                at,
                hop,
                next_seq,
                received,
            } => adopt(scope, at, e.ports()[0].clone(), hop, next_seq, received),
            Wire::Mesh { peer } => add_mesh(scope, peer, e.ports()[0].clone()),
            Wire::Cmd(hop, c) => exec(scope, hop, c),
            Wire::Crash => panic!("chaos: crash"),
            Wire::Data { .. } => panic!("agent: data on a control path"),
        }
    }

    fn add_mesh(scope: &Scope, peer: u8, port: MessagePort) {
        port.on_message(on_wire);
        let a = agent(scope);
        let mut a = a.borrow_mut();
        a.mesh.insert(peer, port);
        if a.mesh.len() == a.n_realms as usize - 1 {
            let _ = a.tx.send(Rec::Ready { realm: a.id });
        }
    }

    fn adopt(scope: &Scope, at: At, port: MessagePort, hop: u32, next_seq: u32, received: u32) {
        let a = agent(scope);
        let tx = a.borrow().tx.clone();
        let _ = tx.send(Rec::Adopted { at, hop });
        port.add_event_listener(
            EventType::Message,
            move |scope: &Scope, e: &MessageEvent| on_data(scope, at, e),
        );
        port.on_close(move |_s: &Scope, _e: &MessageEvent| {
            let _ = tx.send(Rec::Close { at });
        });
        a.borrow_mut().ports.insert(
            at,
            Entry {
                port,
                hop,
                next_seq,
                received,
                armed: None,
            },
        );
        // Run the commands that waited for this stay, in order; keep those for a later
        // stay here.
        let pending = a.borrow_mut().pending.remove(&at).unwrap_or_default();
        let (now, later): (Vec<_>, Vec<_>) = pending.into_iter().partition(|(h, _)| *h == hop);
        if !later.is_empty() {
            a.borrow_mut().pending.insert(at, later);
        }
        for (h, c) in now {
            exec(scope, h, c);
        }
    }

    fn on_data(scope: &Scope, at: At, e: &MessageEvent) {
        let Ok(Wire::Data { seq }) = e.data_as::<Wire>() else {
            panic!("agent: not a data message");
        };
        let a = agent(scope);
        let ship_to = {
            let mut a = a.borrow_mut();
            let _ = a.tx.send(Rec::Data { at, seq });
            let entry = a
                .ports
                .get_mut(&at)
                .expect("agent: message for a port not held");
            entry.received += 1;
            match entry.armed {
                Some((dest, trigger)) if seq >= trigger => Some(dest),
                _ => None,
            }
        };
        if let Some(dest) = ship_to {
            // From inside the port's own listener, with more messages maybe waiting.
            ship(scope, at, dest, false);
        }
    }

    fn exec(scope: &Scope, hop: u32, cmd: Cmd) {
        let at = cmd.at();
        let a = agent(scope);
        let here = a.borrow().ports.get(&at).is_some_and(|e| e.hop == hop);
        if !here {
            // Still on its way here (or here for an earlier stay, armed to move): run the
            // command when it arrives for this stay.
            a.borrow_mut()
                .pending
                .entry(at)
                .or_default()
                .push((hop, cmd));
            return;
        }
        match cmd {
            Cmd::Send { n, .. } => {
                let mut a = a.borrow_mut();
                let entry = a.ports.get_mut(&at).unwrap();
                for _ in 0..n {
                    let seq = entry.next_seq;
                    entry.next_seq += 1;
                    entry.port.post(&Wire::Data { seq }).unwrap();
                }
                let _ = a.tx.send(Rec::Sent { at, n });
            }
            Cmd::Start { .. } => a.borrow().ports[&at].port.start(),
            Cmd::Close { .. } => {
                let entry = a.borrow_mut().ports.remove(&at).unwrap();
                entry.port.close();
            }
            Cmd::Doom { .. } => {
                let (x, y) = {
                    let mut a = a.borrow_mut();
                    let x = a.ports.remove(&at).unwrap();
                    let y = a
                        .ports
                        .remove(&at.peer())
                        .expect("agent: doom without both ends here");
                    (x, y)
                };
                x.port
                    .post_message(&Value::Null, &[y.port.to_value()])
                    .expect("a doomed post is no error");
            }
            Cmd::Transfer { dest, via_mesh, .. } => ship(scope, at, dest, via_mesh),
            Cmd::Arm { dest, trigger, .. } => {
                let fire_now = {
                    let mut a = a.borrow_mut();
                    let entry = a.ports.get_mut(&at).unwrap();
                    entry.port.start();
                    if entry.received > trigger {
                        true
                    } else {
                        entry.armed = Some((dest, trigger));
                        false
                    }
                };
                if fire_now {
                    ship(scope, at, dest, false);
                }
            }
        }
    }

    fn ship(scope: &Scope, at: At, dest: u8, via_mesh: bool) {
        let a = agent(scope);
        let a = a.borrow_mut();
        let mut a = a;
        let entry = a
            .ports
            .remove(&at)
            .expect("agent: shipping a port not held");
        let msg = Wire::Port {
            at,
            hop: entry.hop + 1,
            next_seq: entry.next_seq,
            received: entry.received,
        };
        let transfer = [entry.port.to_value()];
        let (me, nw) = (a.id, a.n_windows);
        let r = if !via_mesh && me == 0 && dest < nw {
            a.windows[&dest].post_with_transfer(scope, &msg, "*", &transfer)
        } else if !via_mesh && me == 0 {
            a.workers[&dest].post_with_transfer(&msg, &transfer)
        } else if !via_mesh && dest == 0 && me < nw {
            scope
                .parent()
                .unwrap()
                .post_with_transfer(scope, &msg, "*", &transfer)
        } else if !via_mesh && dest == 0 {
            scope.post_with_transfer(&msg, &transfer)
        } else {
            a.mesh[&dest].post_with_transfer(&msg, &transfer)
        };
        r.expect("agent: transfer failed");
    }

    fn agent_script(
        id: u8,
        n_windows: u8,
        n_realms: u8,
        tx: RecTx,
    ) -> impl Fn(&Scope) + Send + Sync + 'static {
        move |scope: &Scope| {
            install(scope, id, n_windows, n_realms, tx.clone());
            scope.on_message(on_wire);
        }
    }

    /// The top-level window's script: iframes, workers, the mesh, the data channels.
    fn root_script(
        iframes: u8,
        workers: u8,
        channels: u8,
        tx: RecTx,
    ) -> impl Fn(&Scope) + Send + Sync + 'static {
        move |scope: &Scope| {
            let n_windows = 1 + iframes;
            let n_realms = n_windows + workers;
            install(scope, 0, n_windows, n_realms, tx.clone());
            scope.on_message(on_wire);
            let a = agent(scope);
            for i in 1..n_windows {
                let w = scope
                    .create_iframe_with(
                        &format!("https://frame{i}.example/"),
                        IframeOptions {
                            script: Some(script(agent_script(i, n_windows, n_realms, tx.clone()))),
                            ..Default::default()
                        },
                    )
                    .unwrap();
                a.borrow_mut().windows.insert(i, w);
            }
            for k in n_windows..n_realms {
                let w = scope
                    .spawn_worker_with(
                        &format!("https://chaos.example/worker{k}.js"),
                        agent_script(k, n_windows, n_realms, tx.clone()),
                    )
                    .unwrap();
                w.on_message(on_wire);
                a.borrow_mut().workers.insert(k, w);
            }
            // The mesh: one channel between every two realms.
            let send_mesh = |to: u8, peer: u8, port: MessagePort| {
                let a = a.borrow();
                let msg = Wire::Mesh { peer };
                if to < n_windows {
                    a.windows[&to]
                        .post_with_transfer(scope, &msg, "*", &[port.to_value()])
                        .unwrap();
                } else {
                    a.workers[&to]
                        .post_with_transfer(&msg, &[port.to_value()])
                        .unwrap();
                }
            };
            for x in 0..n_realms {
                for y in x + 1..n_realms {
                    let (p1, p2) = scope.message_channel().into_ports();
                    if x == 0 {
                        add_mesh(scope, y, p1);
                    } else {
                        send_mesh(x, y, p1);
                    }
                    send_mesh(y, x, p2);
                }
            }
            for ch in 0..channels {
                let (p1, p2) = scope.message_channel().into_ports();
                adopt(scope, At { ch, end: 0 }, p1, 0, 0, 0);
                adopt(scope, At { ch, end: 1 }, p2, 0, 0, 0);
            }
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Send {
            ch: u8,
            end: u8,
            n: u8,
        },
        Transfer {
            ch: u8,
            end: u8,
            dest: u8,
            via_mesh: bool,
        },
        Start {
            ch: u8,
            end: u8,
        },
        Close {
            ch: u8,
            end: u8,
        },
        Doom {
            ch: u8,
            end: u8,
        },
        Arm {
            ch: u8,
            end: u8,
            dest: u8,
        },
        /// A fault in realm `realm` (never the top-level window).
        Fault {
            realm: u8,
            kind: Fault,
        },
    }

    #[derive(Clone, Copy, Debug)]
    enum Fault {
        /// A panic in the realm (an iframe or worker; restarted by its supervisor).
        Crash,
        /// `worker.terminate()` (an iframe navigates instead).
        Terminate,
        /// The iframe navigates to another document (a worker crashes instead).
        Navigate,
    }

    #[derive(Clone, Debug)]
    struct Case {
        iframes: u8,
        workers: u8,
        channels: u8,
        ops: Vec<Op>,
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        let ch = 0u8..3;
        let end = 0u8..2;
        let dest = 0u8..5;
        prop_oneof![
            6 => (ch.clone(), end.clone(), 1u8..16).prop_map(|(ch, end, n)| Op::Send { ch, end, n }),
            4 => (ch.clone(), end.clone(), dest.clone(), any::<bool>())
                .prop_map(|(ch, end, dest, via_mesh)| Op::Transfer { ch, end, dest, via_mesh }),
            2 => (ch.clone(), end.clone()).prop_map(|(ch, end)| Op::Start { ch, end }),
            1 => (ch.clone(), end.clone()).prop_map(|(ch, end)| Op::Close { ch, end }),
            1 => (ch.clone(), end.clone()).prop_map(|(ch, end)| Op::Doom { ch, end }),
            2 => (ch, end, dest.clone()).prop_map(|(ch, end, dest)| Op::Arm { ch, end, dest }),
            1 => (dest, prop_oneof![Just(Fault::Crash), Just(Fault::Terminate), Just(Fault::Navigate)])
                .prop_map(|(realm, kind)| Op::Fault { realm, kind }),
        ]
    }

    fn case() -> impl proptest::strategy::Strategy<Value = Case> {
        (
            0u8..=2,
            1u8..=2,
            1u8..=3,
            prop::collection::vec(op(), 5..40),
        )
            .prop_map(|(iframes, workers, channels, ops)| Case {
                iframes,
                workers,
                channels,
                ops,
            })
    }

    /// The test's model of the system.
    struct Model {
        owner: HashMap<At, u8>,
        closed: HashMap<At, bool>,
        sent: HashMap<At, u32>,
        /// The one end of a channel that may be armed (so two armed ends never wait on
        /// each other).
        armable: HashMap<u8, u8>,
        /// Armed ends whose trigger message has not been seen yet: `(end, trigger)`.
        armed: Vec<(At, u32)>,
        /// Realms whose document is gone (crashed, terminated, navigated away): no
        /// destination any more.
        dead: Vec<u8>,
        /// Ends closed because their realm went away while the peer was closed already:
        /// they may have seen the peer's `close` before going.
        gone_after_peer: Vec<At>,
        /// Ends closed because their realm went away: what they sent is what the agent
        /// reported sending, not what was commanded.
        faulted: Vec<At>,
        /// The realm each end left on its latest move.
        from: HashMap<At, u8>,
    }

    impl Model {
        /// What `at`'s peer must receive from it: all it was told to send, or, if its
        /// realm went away, what it did send before.
        fn owed_to(&self, log: &[Rec], at: At) -> u32 {
            let from = at.peer();
            if self.faulted.contains(&from) {
                log.iter()
                    .map(|r| match r {
                        Rec::Sent { at, n } if *at == from => *n,
                        _ => 0,
                    })
                    .sum()
            } else {
                self.sent[&from]
            }
        }
    }

    struct Driver {
        w0: WindowHandle,
        handles: Vec<WindowHandle>,
        n_windows: u8,
        issued: RefCell<Vec<(u8, Cmd)>>,
        /// The stay of each end the next command is for.
        hops: RefCell<HashMap<At, u32>>,
    }

    impl Driver {
        async fn dispatch(&self, realm: u8, cmd: Cmd) {
            self.issued.borrow_mut().push((realm, cmd.clone()));
            let hop = {
                let mut hops = self.hops.borrow_mut();
                let h = hops.entry(cmd.at()).or_insert(0);
                let now = *h;
                if let Cmd::Transfer { .. } | Cmd::Arm { .. } = cmd {
                    *h += 1;
                }
                now
            };
            if realm < self.n_windows {
                self.handles[realm as usize]
                    .run(move |scope| exec(scope, hop, cmd))
                    .await
                    .expect("window realm gone");
            } else {
                self.w0
                    .run(move |scope| {
                        agent(scope).borrow().workers[&realm]
                            .post(&Wire::Cmd(hop, cmd))
                            .unwrap()
                    })
                    .await
                    .expect("top-level realm gone");
            }
        }
    }

    impl Driver {
        /// A fault in realm `realm`, run from the top-level window (its supervisor).
        async fn fault(&self, realm: u8, kind: Fault) {
            let worker = realm >= self.n_windows;
            self.w0
                .run(move |scope| {
                    let a = agent(scope);
                    let a = a.borrow();
                    match (kind, worker) {
                        (Fault::Terminate, true) => a.workers[&realm].terminate(),
                        (Fault::Crash | Fault::Navigate, true) => {
                            a.workers[&realm].post(&Wire::Crash).unwrap()
                        }
                        (Fault::Crash, false) => {
                            a.windows[&realm].post(scope, &Wire::Crash, "*").unwrap()
                        }
                        (Fault::Terminate | Fault::Navigate, false) => a.windows[&realm]
                            .navigate("https://elsewhere.example/")
                            .unwrap(),
                    }
                })
                .await
                .expect("top-level realm gone");
        }
    }

    async fn next_rec(rx: &mut mpsc::UnboundedReceiver<Rec>, log: &[Rec]) -> Result<Rec, String> {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(r)) => Ok(r),
            _ => Err(format!("timed out waiting; records so far: {log:?}")),
        }
    }

    fn data_of(log: &[Rec], at: At) -> Vec<u32> {
        log.iter()
            .filter_map(|r| match r {
                Rec::Data { at: a, seq } if *a == at => Some(*seq),
                _ => None,
            })
            .collect()
    }

    fn closes_of(log: &[Rec], at: At) -> usize {
        log.iter().filter(|r| **r == Rec::Close { at }).count()
    }

    /// Waits until every open end got everything its peer sent, and every survivor of a
    /// closed channel got its close event.
    async fn wait_quiet(
        rx: &mut mpsc::UnboundedReceiver<Rec>,
        log: &mut Vec<Rec>,
        model: &Model,
        ends: &[At],
    ) -> Result<(), String> {
        loop {
            let done = ends.iter().all(|&at| {
                if model.closed[&at] {
                    return true;
                }
                let got = data_of(log, at).len() as u32;
                let want = model.owed_to(log, at);
                let close_ok = !model.closed[&at.peer()] || closes_of(log, at) >= 1;
                got >= want && close_ok
            });
            if done {
                return Ok(());
            }
            let r = next_rec(rx, log).await?;
            log.push(r);
        }
    }

    async fn run_case(case: Case) -> Result<(), String> {
        let browser = Browser::new();
        let (tx, mut rx) = mpsc::unbounded_channel::<Rec>();
        let n_windows = 1 + case.iframes;
        let n_realms = n_windows + case.workers;
        let w0 = browser
            .open_with(
                "https://chaos.example/",
                root_script(case.iframes, case.workers, case.channels, tx.clone()),
            )
            .map_err(|e| e.to_string())?;
        // Wait for every agent to hold its mesh ports.
        let mut log = Vec::new();
        let mut ready = 0;
        while ready < n_realms {
            match next_rec(&mut rx, &log).await? {
                Rec::Ready { .. } => ready += 1,
                r => log.push(r),
            }
        }
        let mut handles = vec![w0.clone()];
        let frames = w0
            .run(|scope| scope.iframes())
            .await
            .map_err(|e| e.to_string())?;
        handles.extend(frames.iter().map(|f| browser.handle(f)));
        let driver = Driver {
            w0: w0.clone(),
            handles,
            n_windows,
            issued: RefCell::new(Vec::new()),
            hops: RefCell::new(HashMap::new()),
        };
        let ends: Vec<At> = (0..case.channels)
            .flat_map(|ch| [At { ch, end: 0 }, At { ch, end: 1 }])
            .collect();
        let mut model = Model {
            owner: ends.iter().map(|&a| (a, 0)).collect(),
            closed: ends.iter().map(|&a| (a, false)).collect(),
            sent: ends.iter().map(|&a| (a, 0)).collect(),
            armable: HashMap::new(),
            armed: Vec::new(),
            dead: Vec::new(),
            gone_after_peer: Vec::new(),
            faulted: Vec::new(),
            from: HashMap::new(),
        };
        let mut faults = 0;
        for op in &case.ops {
            if let Op::Fault { realm, kind } = *op {
                let realm = realm % n_realms;
                // At most two faults (the supervisor's intensity allows three restarts),
                // never the top-level window, never twice the same realm.
                if realm == 0 || faults == 2 || model.dead.contains(&realm) {
                    continue;
                }
                faults += 1;
                // Armed ends move once their trigger arrives: wait for that, so that the
                // model knows where each end is when the realm goes.
                let armed = std::mem::take(&mut model.armed);
                for (at, trigger) in armed {
                    while !data_of(&log, at).iter().any(|s| *s >= trigger) {
                        let r = next_rec(&mut rx, &log).await?;
                        log.push(r);
                    }
                }
                // Where is each end? Every transfer so far has landed, except one that
                // just left this realm (posted before the fault, it is delivered: the race
                // the fault is meant to hit). Terminating a dedicated worker empties the
                // port message queue of its Worker object, so there even that one lands
                // first.
                let hops = driver.hops.borrow().clone();
                for (at, hop) in hops {
                    let leaving =
                        model.from.get(&at) == Some(&realm) && !matches!(kind, Fault::Terminate);
                    let hop = if leaving { hop - 1 } else { hop };
                    // (An end closed while on its way closes when it lands; only an end
                    // lost with a realm never lands.)
                    while hop > 0
                        && !model.faulted.contains(&at)
                        && !log.contains(&Rec::Adopted { at, hop })
                    {
                        let r = next_rec(&mut rx, &log).await?;
                        log.push(r);
                    }
                }
                driver.fault(realm, kind).await;
                model.dead.push(realm);
                for &at in &ends {
                    if model.owner[&at] != realm {
                        continue;
                    }
                    if !model.closed[&at] {
                        model.closed.insert(at, true);
                        model.faulted.push(at);
                        if model.closed[&at.peer()] {
                            model.gone_after_peer.push(at);
                        }
                    } else if let (Fault::Terminate, true) = (kind, realm >= n_windows) {
                        // Closed by a command the worker may not have run: terminating
                        // discards the tasks queued in its event loop.
                        model.faulted.push(at);
                    }
                }
                continue;
            }
            let (ch, end) = match *op {
                Op::Send { ch, end, .. }
                | Op::Transfer { ch, end, .. }
                | Op::Start { ch, end }
                | Op::Close { ch, end }
                | Op::Doom { ch, end }
                | Op::Arm { ch, end, .. } => (ch % case.channels, end),
                Op::Fault { .. } => unreachable!("handled above"),
            };
            let at = At { ch, end };
            if model.closed[&at] {
                continue;
            }
            let owner = model.owner[&at];
            match *op {
                Op::Send { n, .. } => {
                    let n = n as u32;
                    *model.sent.get_mut(&at).unwrap() += n;
                    driver.dispatch(owner, Cmd::Send { at, n }).await;
                }
                Op::Transfer { dest, via_mesh, .. } => {
                    let dest = dest % n_realms;
                    if dest == owner || model.dead.contains(&dest) {
                        continue;
                    }
                    model.owner.insert(at, dest);
                    model.from.insert(at, owner);
                    driver
                        .dispatch(owner, Cmd::Transfer { at, dest, via_mesh })
                        .await;
                }
                Op::Start { .. } => driver.dispatch(owner, Cmd::Start { at }).await,
                Op::Close { .. } => {
                    if model.closed[&at.peer()] {
                        continue;
                    }
                    model.closed.insert(at, true);
                    driver.dispatch(owner, Cmd::Close { at }).await;
                }
                Op::Doom { .. } => {
                    let peer = at.peer();
                    let armed = model.armed.iter().any(|(a, _)| *a == at || *a == peer);
                    if model.closed[&peer] || model.owner[&peer] != owner || armed {
                        continue;
                    }
                    // Both ends must be at the owner now.
                    for end in [at, peer] {
                        let hop = driver.hops.borrow().get(&end).copied().unwrap_or(0);
                        while !log.contains(&Rec::Adopted { at: end, hop }) {
                            let r = next_rec(&mut rx, &log).await?;
                            log.push(r);
                        }
                    }
                    model.closed.insert(at, true);
                    model.closed.insert(peer, true);
                    driver.dispatch(owner, Cmd::Doom { at }).await;
                }
                Op::Arm { dest, .. } => {
                    let dest = dest % n_realms;
                    let peer = at.peer();
                    if dest == owner
                        || model.dead.contains(&dest)
                        || model.closed[&peer]
                        || *model.armable.entry(ch).or_insert(end) != end
                    {
                        continue;
                    }
                    // The peer sends two messages: the first (seq `trigger`) makes the
                    // armed port move from inside its listener; the second waits in its
                    // queue and must follow it.
                    let trigger = model.sent[&peer];
                    model.armed.push((at, trigger));
                    model.owner.insert(at, dest);
                    model.from.insert(at, owner);
                    driver.dispatch(owner, Cmd::Arm { at, dest, trigger }).await;
                    *model.sent.get_mut(&peer).unwrap() += 2;
                    driver
                        .dispatch(model.owner[&peer], Cmd::Send { at: peer, n: 2 })
                        .await;
                }
                Op::Fault { .. } => unreachable!("handled above"),
            }
        }
        // Start every open end, let everything arrive.
        for &at in &ends {
            if !model.closed[&at] {
                driver.dispatch(model.owner[&at], Cmd::Start { at }).await;
            }
        }
        let dump = |e: String, log: &[Rec], model: &Model| {
            let counts: Vec<String> = ends
                .iter()
                .map(|&at| {
                    format!(
                        "{at:?}: owner {} closed {} sent {} got {} closes {}",
                        model.owner[&at],
                        model.closed[&at],
                        model.sent[&at],
                        data_of(log, at).len(),
                        closes_of(log, at)
                    )
                })
                .collect();
            format!(
                "{e}\n{}\nissued: {:?}",
                counts.join("\n"),
                driver.issued.borrow()
            )
        };
        if let Err(e) = wait_quiet(&mut rx, &mut log, &model, &ends).await {
            return Err(dump(e, &log, &model));
        }
        // A last message both ways on every open channel: any stray close event or
        // message on these paths would come before it.
        for &at in &ends {
            if !model.closed[&at] && !model.closed[&at.peer()] {
                *model.sent.get_mut(&at).unwrap() += 1;
                driver
                    .dispatch(model.owner[&at], Cmd::Send { at, n: 1 })
                    .await;
            }
        }
        wait_quiet(&mut rx, &mut log, &model, &ends).await?;
        // Anything else already queued for the recorder.
        while let Ok(r) = rx.try_recv() {
            log.push(r);
        }
        // Check.
        for &at in &ends {
            let seqs = data_of(&log, at);
            let expected: Vec<u32> = (0..seqs.len() as u32).collect();
            if seqs != expected {
                return Err(format!(
                    "{at:?}: received {seqs:?}, not 0.. in order exactly once"
                ));
            }
            let sent = model.owed_to(&log, at);
            if model.closed[&at] {
                if seqs.len() as u32 > sent {
                    return Err(format!("{at:?}: more than sent"));
                }
            } else if seqs.len() as u32 != sent {
                return Err(format!("{at:?}: received {} of {sent}", seqs.len()));
            }
            let closes = closes_of(&log, at);
            let due = !model.closed[&at] && model.closed[&at.peer()];
            if model.gone_after_peer.contains(&at) && closes <= 1 {
                // It may have seen its peer's close before its realm went.
            } else if closes != usize::from(due) {
                return Err(format!(
                    "{at:?}: {closes} close events, expected {}",
                    usize::from(due)
                ));
            }
            if due {
                // The close event comes after every message of the closed peer.
                let last = log
                    .iter()
                    .rposition(|r| matches!(r, Rec::Data { at: a, .. } if *a == at));
                let close = log.iter().position(|r| *r == Rec::Close { at });
                if last.is_some() && last > close {
                    return Err(format!("{at:?}: close event before the last message"));
                }
            }
        }
        // No port is left that nobody holds: the port directory knows exactly the shipped
        // channels with an end still held (the mesh, and the data channels that moved and
        // are not closed at both ends).
        let n_mesh = (0..n_realms)
            .flat_map(|x| (x + 1..n_realms).map(move |y| (x, y)))
            .filter(|(x, y)| !(model.dead.contains(x) && model.dead.contains(y)))
            .count();
        let live_data = (0..case.channels)
            .filter(|&ch| {
                let (a, b) = (At { ch, end: 0 }, At { ch, end: 1 });
                let moved = model.from.contains_key(&a) || model.from.contains_key(&b);
                moved && !(model.closed[&a] && model.closed[&b])
            })
            .count();
        let want = n_mesh + live_data;
        let mut have = usize::MAX;
        for _ in 0..250 {
            have = browser.shipped_channel_count().await;
            if have == want {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if have != want {
            return Err(format!(
                "the port directory tracks {have} shipped channels, {want} have a live end"
            ));
        }
        if std::env::var_os("CHAOS_STATS").is_some() {
            let closes = log
                .iter()
                .filter(|r| matches!(r, Rec::Close { .. }))
                .count();
            let deliveries = log.iter().filter(|r| matches!(r, Rec::Data { .. })).count();
            eprintln!(
                "chaos case: {n_realms} realms, {} ops, {faults} faults, {deliveries} deliveries, {closes} close events",
                case.ops.len(),
            );
        }
        browser.shutdown();
        Ok(())
    }

    fn cases() -> u32 {
        std::env::var("CHAOS_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(200)
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: cases(),
            failure_persistence: None,
            max_shrink_iters: 64,
            .. ProptestConfig::default()
        })]

        /// Exactly-once, in-order delivery per direction, no panic, close events exactly
        /// when due, under random transfers, starts and closes across threads.
        #[test]
        fn chaos_transfers_keep_every_message_once_in_order(case in case()) {
            let r = actix_rt::System::new().block_on(run_case(case.clone()));
            prop_assert!(r.is_ok(), "{}", r.unwrap_err());
        }
    }
}
