//! BroadcastChannel end to end: the BC-* rows of conformance.md, WPT's
//! `webmessaging/broadcastchannel/*` scenarios (basics, interface, workers, blobs,
//! cross-origin, opaque-origin, sandbox, detached-iframe, ordering), threads and teardown.
//!
//! Every listener reports what it saw as a string on an mpsc channel. Within one event loop
//! (a top-level window and its iframes) reports arrive in delivery order. Non-delivery is
//! shown with a later marker on the same path: every post goes through the registry, which
//! handles posts in the order they were made (causally) and hands each event loop its
//! deliveries in that order, so a message that should not arrive would arrive before a
//! marker posted after it.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;
use webmessaging::prelude::*;
use webmessaging::{EventTarget, ListenerId};

type Tx = mpsc::UnboundedSender<String>;
type Rx = mpsc::UnboundedReceiver<String>;

// ----- helpers -----

async fn recv(rx: &mut Rx) -> String {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("timed out waiting for a report")
        .expect("report channel closed")
}

/// Reports up to and including the first equal to `last`.
async fn recv_until(rx: &mut Rx, last: &str) -> Vec<String> {
    let mut v = Vec::new();
    loop {
        let s = recv(rx).await;
        let done = s == last;
        v.push(s);
        if done {
            return v;
        }
    }
}

async fn recv_n(rx: &mut Rx, n: usize) -> Vec<String> {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(recv(rx).await);
    }
    v
}

/// Polls `cond` until it holds (a failure guard of 5 s, not a wait for non-delivery).
async fn eventually<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..500 {
        if cond().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}

fn show(v: &Value) -> String {
    if let Some(s) = v.as_str() {
        return s.to_owned();
    }
    if let Some(o) = v.as_object() {
        if let Some(b) = o.blob_bytes() {
            return format!("blob({}):{}", b.len(), String::from_utf8_lossy(&b));
        }
        return o.class_name().to_owned();
    }
    format!("{v:?}")
}

/// The channels a realm made with [`add_chan`], by label.
#[derive(Default)]
struct Chans(RefCell<HashMap<String, BroadcastChannel>>);

fn new_chan(
    scope: &Scope,
    name: &str,
    label: &str,
    tx: &Tx,
    with_origin: bool,
) -> BroadcastChannel {
    let c = scope.broadcast_channel(name);
    let tx = tx.clone();
    let l = label.to_owned();
    c.on_message(move |_s: &Scope, e: &MessageEvent| {
        let r = if with_origin {
            format!("{l}:{}@{}", show(e.data()), e.origin())
        } else {
            format!("{l}:{}", show(e.data()))
        };
        let _ = tx.send(r);
    });
    let chans = scope
        .global::<Chans>()
        .unwrap_or_else(|| scope.set_global(Chans::default()));
    chans.0.borrow_mut().insert(label.to_owned(), c.clone());
    c
}

/// A channel named `name` whose `onmessage` reports `label:data`.
fn add_chan(scope: &Scope, name: &str, label: &str, tx: &Tx) -> BroadcastChannel {
    new_chan(scope, name, label, tx, false)
}

/// Like [`add_chan`], reporting `label:data@origin`.
fn add_chan_o(scope: &Scope, name: &str, label: &str, tx: &Tx) -> BroadcastChannel {
    new_chan(scope, name, label, tx, true)
}

fn chan(scope: &Scope, label: &str) -> BroadcastChannel {
    scope
        .global::<Chans>()
        .expect("no channels here")
        .0
        .borrow()[label]
        .clone()
}

async fn post_on(h: &WindowHandle, label: &'static str, msg: &'static str) {
    h.run(move |s| chan(s, label).post_message(&Value::from(msg)))
        .await
        .expect("realm gone")
        .expect("postMessage failed");
}

/// A worker script: makes a channel `name` per label (reporting with origin), reports
/// `ready` on `ctl`, then on `post:<label>:<msg>` posts and reports `ack`.
fn island_worker(
    name: &'static str,
    labels: &'static [&'static str],
    tx: Tx,
    ctl: Tx,
) -> impl Fn(&Scope) + Send + Sync + 'static {
    move |scope: &Scope| {
        for l in labels {
            add_chan_o(scope, name, l, &tx);
        }
        let ctl2 = ctl.clone();
        scope.on_message(move |s: &Scope, e: &MessageEvent| {
            let cmd = show(e.data());
            let mut parts = cmd.splitn(3, ':');
            if let (Some("post"), Some(l), Some(m)) = (parts.next(), parts.next(), parts.next()) {
                chan(s, l).post_message(&Value::from(m)).unwrap();
                let _ = ctl2.send("ack".into());
            }
        });
        let _ = ctl.send(format!("ready:{}", labels.join(",")));
    }
}

struct KeepWorkers(RefCell<Vec<Worker>>);

async fn worker_cmd(h: &WindowHandle, index: usize, cmd: &'static str, ctl: &mut Rx) {
    h.run(move |s| {
        let w = s.global::<KeepWorkers>().unwrap().0.borrow()[index].clone();
        w.post_message(&Value::from(cmd), &[]).unwrap();
    })
    .await
    .unwrap();
    assert_eq!(recv(ctl).await, "ack");
}

fn name_of(err: &Error) -> ExceptionName {
    err.name()
}

// ----- interface.any.js -----

/// BC-NAME: the name is the constructor's argument and `name` reflects it; `""` is
/// allowed. The `TypeError` for a missing argument and the `ToString` of `null`,
/// `undefined` or `123` are moot here: the constructor takes a `&str`, so a name is always
/// given and always a string (the stringified forms are just names like any other).
#[actix_rt::test]
async fn bc_name() {
    let browser = Browser::new();
    let top = browser.open("https://a.example/").unwrap();
    let names = top
        .run(|s| {
            ["", "null", "undefined", "123", "ünï côdé", "foo bar"]
                .iter()
                .map(|n| {
                    let c = s.broadcast_channel(n);
                    let r = (c.name().to_owned(), c.is_closed());
                    c.close();
                    r
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
    assert_eq!(
        names,
        vec![
            (String::new(), false),
            ("null".into(), false),
            ("undefined".into(), false),
            ("123".into(), false),
            ("ünï côdé".into(), false),
            ("foo bar".into(), false),
        ]
    );
    browser.shutdown();
}

/// BC-NAME: `""` is a name like any other: channels named `""` talk to each other and not
/// to other names.
#[actix_rt::test]
async fn bc_name_empty_string_delivers() {
    let browser = Browser::new();
    let top = browser.open("https://a.example/").unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    top.run(move |s| {
        let c1 = add_chan(s, "", "e1", &tx);
        add_chan(s, "", "e2", &tx);
        add_chan(s, "x", "x1", &tx);
        c1.post_message(&Value::from("hi")).unwrap();
        c1.post_message(&Value::from("end")).unwrap();
    })
    .await
    .unwrap();
    assert_eq!(recv_until(&mut rx, "e2:end").await, ["e2:hi", "e2:end"]);
    browser.shutdown();
}

/// BC-CLOSED-INVALIDSTATE: `close()` never throws, even repeated; after it, `postMessage`
/// (and the typed `post`) is an `InvalidStateError`.
#[actix_rt::test]
async fn bc_closed_invalidstate() {
    let browser = Browser::new();
    let top = browser.open("https://a.example/").unwrap();
    let r = top
        .run(|s| {
            let c = s.broadcast_channel("closed");
            assert!(c.post_message(&Value::Null).is_ok());
            c.close();
            c.close();
            c.close();
            assert!(c.is_closed());
            (
                name_of(&c.post_message(&Value::from("x")).unwrap_err()),
                name_of(&c.post_message(&Value::Null).unwrap_err()),
                name_of(&c.post(&42u32).unwrap_err()),
            )
        })
        .await
        .unwrap();
    assert_eq!(
        r,
        (
            ExceptionName::InvalidStateError,
            ExceptionName::InvalidStateError,
            ExceptionName::InvalidStateError
        )
    );
    browser.shutdown();
}

/// BC-CLOSED-CHECK-FIRST: on a closed channel, an unserializable value (a Symbol, a
/// function) is `InvalidStateError`, not `DataCloneError`: the closed check comes first.
#[actix_rt::test]
async fn bc_closed_check_first() {
    let browser = Browser::new();
    let top = browser.open("https://a.example/").unwrap();
    let r = top
        .run(|s| {
            let c = s.broadcast_channel("closed-first");
            c.close();
            let sym = Value::Symbol(webmessaging::core::value::Symbol::new(Some("s")));
            let fun = Value::from(Object::new_function("f"));
            (
                name_of(&c.post_message(&sym).unwrap_err()),
                name_of(&c.post_message(&fun).unwrap_err()),
            )
        })
        .await
        .unwrap();
    assert_eq!(
        r,
        (
            ExceptionName::InvalidStateError,
            ExceptionName::InvalidStateError
        )
    );
    browser.shutdown();
}

/// BC-DATACLONE: on an open channel, a Symbol or a function is `DataCloneError`, and
/// nothing is sent (the receiver's next message is the later marker).
#[actix_rt::test]
async fn bc_dataclone() {
    let browser = Browser::new();
    let top = browser.open("https://a.example/").unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let r = top
        .run(move |s| {
            let c1 = s.broadcast_channel("dataclone");
            add_chan(s, "dataclone", "c2", &tx);
            let sym = Value::Symbol(webmessaging::core::value::Symbol::new(None));
            let fun = Value::from(Object::new_function("f"));
            let nested = Value::from(Object::new_array(vec![Value::from(1), fun.clone()]));
            let r = (
                name_of(&c1.post_message(&sym).unwrap_err()),
                name_of(&c1.post_message(&fun).unwrap_err()),
                name_of(&c1.post_message(&nested).unwrap_err()),
            );
            // The channel is still usable.
            c1.post_message(&Value::from("marker")).unwrap();
            r
        })
        .await
        .unwrap();
    assert_eq!(
        r,
        (
            ExceptionName::DataCloneError,
            ExceptionName::DataCloneError,
            ExceptionName::DataCloneError
        )
    );
    assert_eq!(recv(&mut rx).await, "c2:marker");
    browser.shutdown();
}

// ----- basics.any.js -----

/// BC-EVENT-SHAPE: `type` "message", `target` the receiving channel, `origin` the
/// sender's serialized origin, no `source`, cloned `data`, trusted, no ports.
#[actix_rt::test]
async fn bc_event_shape() {
    let browser = Browser::new();
    let top = browser.open("https://a.example:8443/page?q#f").unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    top.run(move |s| {
        let c1 = s.broadcast_channel("eventType");
        let c2 = s.broadcast_channel("eventType");
        let me = c2.clone();
        let tx = tx.clone();
        c2.on_message(move |_s: &Scope, e: &MessageEvent| {
            let target_is_c2 = matches!(e.target(), Some(EventTarget::BroadcastChannel(t)) if *t == me);
            let obj = e.data().as_object().unwrap().clone();
            let _ = tx.send(format!(
                "type={} target_is_c2={} origin={} source_none={} data={} trusted={} ports={} last_event_id={:?}",
                e.event_type().as_str(),
                target_is_c2,
                e.origin(),
                e.source().is_none(),
                show(&obj.get("text").unwrap()),
                e.is_trusted(),
                e.ports().len(),
                e.last_event_id(),
            ));
        });
        let sent = Object::from_pairs([("text", Value::from("hello world"))]);
        c1.post_message(&Value::from(sent.clone())).unwrap();
        // The receiver got a clone: changing ours afterwards changes nothing there.
        sent.set("text", Value::from("changed"));
    })
    .await
    .unwrap();
    assert_eq!(
        recv(&mut rx).await,
        "type=message target_is_c2=true origin=https://a.example:8443 source_none=true \
         data=hello world trusted=true ports=0 last_event_id=\"\""
    );
    browser.shutdown();
}

/// BC-NOT-SELF: every *other* open same-name channel gets the message, including those in
/// the same global; the poster never does, other names never do.
#[actix_rt::test]
async fn bc_not_self() {
    let browser = Browser::new();
    let top = browser.open("https://a.example/").unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    top.run(move |s| {
        let c1 = add_chan(s, "not-self", "c1", &tx);
        add_chan(s, "not-self", "c2", &tx);
        add_chan(s, "Not-Self", "other-case", &tx);
        add_chan(s, "not-self ", "other-space", &tx);
        add_chan(s, "not-self", "c3", &tx);
        c1.post_message(&Value::from("m")).unwrap();
        // Marker back to c1 on the same path: had c1 got its own "m", it would come first.
        chan(s, "c2").post_message(&Value::from("end")).unwrap();
        chan(s, "other-case")
            .post_message(&Value::from("end-other"))
            .unwrap();
    })
    .await
    .unwrap();
    assert_eq!(
        recv_n(&mut rx, 4).await,
        ["c2:m", "c3:m", "c1:end", "c3:end"],
        "c1 never hears itself; other names hear nothing"
    );
    // "end-other" has no same-name receiver but its poster; nothing else is pending.
    top.settle().await.unwrap();
    post_on(&top, "c3", "final").await;
    assert_eq!(recv_n(&mut rx, 2).await, ["c1:final", "c2:final"]);
    browser.shutdown();
}

/// BC-CREATION-ORDER: receivers get a message in creation order, messages in post order:
/// exactly the 6 events of WPT's basics test.
#[actix_rt::test]
async fn bc_creation_order() {
    let browser = Browser::new();
    let top = browser.open("https://a.example/").unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    top.run(move |s| {
        let c1 = add_chan(s, "order", "c1", &tx);
        let c2 = add_chan(s, "order", "c2", &tx);
        let c3 = add_chan(s, "order", "c3", &tx);
        c1.post_message(&Value::from("from c1")).unwrap();
        c3.post_message(&Value::from("from c3")).unwrap();
        c2.post_message(&Value::from("done")).unwrap();
    })
    .await
    .unwrap();
    assert_eq!(
        recv_n(&mut rx, 6).await,
        [
            "c2:from c1",
            "c3:from c1",
            "c1:from c3",
            "c2:from c3",
            "c1:done",
            "c3:done"
        ]
    );
    // Exactly 6: a marker after them is the next report.
    post_on(&top, "c1", "marker").await;
    assert_eq!(recv(&mut rx).await, "c2:marker");
    browser.shutdown();
}

/// BC-CREATION-ORDER: the destinations are fixed when postMessage is called, and closing
/// and creating channels during delivery works (WPT "create-in-onmessage").
#[actix_rt::test]
async fn bc_creation_order_create_in_onmessage() {
    let browser = Browser::new();
    let top = browser.open("https://a.example/").unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    top.run(move |s| {
        let c1 = s.broadcast_channel("create-in-onmessage");
        let c2 = s.broadcast_channel("create-in-onmessage");
        let me = c2.clone();
        let c1b = c1.clone();
        let tx2 = tx.clone();
        c2.on_message(move |s: &Scope, e: &MessageEvent| {
            let _ = tx2.send(format!("c2:{}", show(e.data())));
            me.close();
            // Created after "second" was posted: it must not get it, only "done".
            add_chan(s, "create-in-onmessage", "c3", &tx2);
            c1b.post_message(&Value::from("done")).unwrap();
        });
        c1.post_message(&Value::from("first")).unwrap();
        c2.post_message(&Value::from("second")).unwrap();
    })
    .await
    .unwrap();
    assert_eq!(
        recv_until(&mut rx, "c3:done").await,
        ["c2:first", "c3:done"]
    );
    browser.shutdown();
}

/// BC-CLOSED-BEFORE-POST: a same-name channel closed before the post gets nothing; the
/// open ones do.
#[actix_rt::test]
async fn bc_closed_before_post() {
    let browser = Browser::new();
    let top = browser.open("https://a.example/").unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    top.run(move |s| {
        let c1 = s.broadcast_channel("closed");
        let c2 = add_chan(s, "closed", "c2", &tx);
        add_chan(s, "closed", "c3", &tx);
        c2.close();
        c1.post_message(&Value::from("test")).unwrap();
        c1.post_message(&Value::from("end")).unwrap();
    })
    .await
    .unwrap();
    // c2 was created before c3: had it received, its report would come first.
    assert_eq!(recv_until(&mut rx, "c3:end").await, ["c3:test", "c3:end"]);
    browser.shutdown();
}

/// BC-CLOSED-AFTER-POST: a channel closed after postMessage, before its task ran, gets
/// nothing.
#[actix_rt::test]
async fn bc_closed_after_post() {
    let browser = Browser::new();
    let top = browser.open("https://a.example/").unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    top.run(move |s| {
        let c1 = s.broadcast_channel("closed");
        let c2 = add_chan(s, "closed", "c2", &tx);
        add_chan(s, "closed", "c3", &tx);
        c1.post_message(&Value::from("test")).unwrap();
        c2.close();
        c1.post_message(&Value::from("end")).unwrap();
    })
    .await
    .unwrap();
    assert_eq!(recv_until(&mut rx, "c3:end").await, ["c3:test", "c3:end"]);
    browser.shutdown();
}

/// BC-CLOSED-AFTER-POST: closing a channel in a listener stops tasks already queued for
/// it (WPT "Closing a channel in onmessage prevents already queued tasks").
#[actix_rt::test]
async fn bc_closed_after_post_in_onmessage() {
    let browser = Browser::new();
    let top = browser.open("https://a.example/").unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    top.run(move |s| {
        let c1 = add_chan(s, "close-in-onmessage", "c1", &tx);
        let c2 = add_chan(s, "close-in-onmessage", "c2", &tx);
        add_chan(s, "close-in-onmessage", "c3", &tx);
        let me = c2.clone();
        c2.add_event_listener(EventType::Message, move |_s: &Scope, _e: &MessageEvent| {
            me.close();
        });
        c1.post_message(&Value::from("first")).unwrap();
        c1.post_message(&Value::from("done")).unwrap();
    })
    .await
    .unwrap();
    assert_eq!(
        recv_until(&mut rx, "c3:done").await,
        ["c2:first", "c3:first", "c3:done"]
    );
    browser.shutdown();
}

// ----- ordering.html -----

const MULTI: &str = "multi-frame-order";

/// State of one frame of WPT's `resources/ordering.html`.
#[derive(Default)]
struct OrderingFrame {
    sent1: Cell<u32>,
    sent2: Cell<u32>,
    sent3: Cell<u32>,
}

fn post_label(s: &Scope, label: &str, msg: &str) {
    chan(s, label).post_message(&Value::from(msg)).unwrap();
}

fn log_label(tx: &Tx, label: &str, e: &MessageEvent) {
    let _ = tx.send(format!("{label}:{}", show(e.data())));
}

/// The handlers of WPT's `resources/ordering.html`: bc1 lives in iframe1 (and creates bc3
/// there on its first message), bc2 in iframe2.
fn ordering_frame(id: &'static str, tx: Tx) -> impl Fn(&Scope) + Send + Sync + 'static {
    fn bc3_handler(tx: Tx) -> impl Fn(&Scope, &MessageEvent) + 'static {
        move |s: &Scope, e: &MessageEvent| {
            log_label(&tx, "BC3", e);
            let f = s.global::<OrderingFrame>().unwrap();
            match f.sent3.get() {
                0 => post_label(s, "BC3", "from BC3 - first"),
                1 => post_label(s, "BC3", "done"),
                2 => return chan(s, "BC3").close(),
                _ => {}
            }
            f.sent3.set(f.sent3.get() + 1);
        }
    }
    move |s: &Scope| {
        s.set_global(OrderingFrame::default());
        let tx = tx.clone();
        let chans = s.set_global(Chans::default());
        let c = s.broadcast_channel(MULTI);
        if id == "iframe1" {
            chans.0.borrow_mut().insert("BC1".into(), c.clone());
            c.on_message(move |s: &Scope, e: &MessageEvent| {
                log_label(&tx, "BC1", e);
                let f = s.global::<OrderingFrame>().unwrap();
                match f.sent1.get() {
                    0 => {
                        let bc3 = s.broadcast_channel(MULTI);
                        bc3.on_message(bc3_handler(tx.clone()));
                        s.global::<Chans>()
                            .unwrap()
                            .0
                            .borrow_mut()
                            .insert("BC3".into(), bc3);
                        post_label(s, "BC1", "from BC1 - first");
                    }
                    1 => post_label(s, "BC1", "from BC1 - second"),
                    2 => return chan(s, "BC1").close(),
                    _ => {}
                }
                f.sent1.set(f.sent1.get() + 1);
            });
        } else {
            chans.0.borrow_mut().insert("BC2".into(), c.clone());
            c.on_message(move |s: &Scope, e: &MessageEvent| {
                log_label(&tx, "BC2", e);
                let f = s.global::<OrderingFrame>().unwrap();
                match f.sent2.get() {
                    0 => {
                        post_label(s, "BC2", "from BC2 - first");
                        post_label(s, "BC2", "from BC2 - second");
                        f.sent2.set(2);
                    }
                    2 => chan(s, "BC2").close(),
                    _ => {}
                }
            });
        }
    }
}

/// BC-CREATION-ORDER across frames (WPT `broadcastchannel/ordering.html`): channels in two
/// iframes and the top window of one event loop, created and closed while messages fly.
/// Every receiver sees messages in post order, and the receivers of one message fire in
/// creation order across frames. The expected sequence is the standard's one queue of
/// tasks, worked out by hand (destinations fixed at post time in creation order; closed
/// ones skipped when their task runs).
#[actix_rt::test]
async fn bc_creation_order_across_frames() {
    let browser = Browser::new();
    let top = browser.open("https://a.example/").unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    for id in ["iframe1", "iframe2"] {
        let script = webmessaging::script(ordering_frame(id, tx.clone()));
        let frame = top
            .run(move |s| {
                s.create_iframe_with(
                    &format!("https://a.example/resources/ordering.html?id={id}"),
                    IframeOptions {
                        script: Some(script),
                        ..Default::default()
                    },
                )
            })
            .await
            .unwrap()
            .unwrap();
        // Loaded (its channel made) before the next one is created.
        browser.handle(&frame).settle().await.unwrap();
    }
    let t0 = tx.clone();
    top.run(move |s| {
        let sent0 = std::rc::Rc::new(Cell::new(0));
        let bc0 = s.broadcast_channel(MULTI);
        let me = bc0.clone();
        bc0.on_message(move |_s: &Scope, e: &MessageEvent| {
            log_label(&t0, "BC0", e);
            if sent0.replace(sent0.get() + 1) == 0 {
                me.post_message(&Value::from("from BC0 - second")).unwrap();
            }
        });
        bc0.post_message(&Value::from("from BC0 - first")).unwrap();
    })
    .await
    .unwrap();
    assert_eq!(
        recv_until(&mut rx, "BC0:done").await,
        [
            "BC1:from BC0 - first",
            "BC2:from BC0 - first",
            "BC2:from BC1 - first",
            "BC0:from BC1 - first",
            "BC3:from BC1 - first",
            "BC1:from BC2 - first",
            "BC0:from BC2 - first",
            "BC3:from BC2 - first",
            "BC1:from BC2 - second",
            "BC0:from BC2 - second",
            "BC3:from BC2 - second",
            "BC0:from BC3 - first",
            "BC0:from BC1 - second",
            "BC0:done",
        ]
    );
    browser.shutdown();
}

// ----- cross-origin.html, opaque-origin.html, sandbox.html -----

/// BC-SAME-ORIGIN-ONLY: channels of a cross-site iframe talk among themselves, never with
/// the parent's same-name channels.
#[actix_rt::test]
async fn bc_same_origin_only() {
    let browser = Browser::new();
    let top = browser.open("https://a.example/").unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let t2 = tx.clone();
    top.run(move |s| {
        add_chan_o(s, "cross", "t1", &t2);
        add_chan_o(s, "cross", "t2", &t2);
    })
    .await
    .unwrap();
    let t3 = tx.clone();
    let frame = top
        .run(move |s| {
            s.create_iframe_with(
                "https://b.example/cross-origin.html",
                IframeOptions {
                    script: Some(webmessaging::script(move |s: &Scope| {
                        add_chan_o(s, "cross", "i1", &t3);
                        add_chan_o(s, "cross", "i2", &t3);
                    })),
                    ..Default::default()
                },
            )
        })
        .await
        .unwrap()
        .unwrap();
    let frame = browser.handle(&frame);
    frame.settle().await.unwrap();
    post_on(&frame, "i1", "from b").await;
    post_on(&top, "t1", "from a").await;
    post_on(&frame, "i2", "b-end").await;
    post_on(&top, "t2", "a-end").await;
    assert_eq!(
        recv_n(&mut rx, 4).await,
        [
            "i2:from b@https://b.example",
            "t2:from a@https://a.example",
            "i1:b-end@https://b.example",
            "t1:a-end@https://a.example",
        ]
    );
    browser.shutdown();
}

/// BC-OPAQUE-NULL and BC-OPAQUE-ISOLATED: in `data:` and sandboxed iframes, and `data:`
/// workers, channels work (constructing one does not fail) and report origin `"null"`;
/// each opaque origin is an island: two `data:` iframes, a sandboxed iframe, two `data:`
/// workers and the parent, all using one name, hear only their own island. A worker a
/// `data:` iframe spawns (from a `blob:` URL) shares its opaque origin, so it is in that
/// island.
#[actix_rt::test]
async fn bc_opaque_null_and_opaque_isolated() {
    let browser = Browser::new();
    let top = browser.open("https://a.example/").unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (ctl_tx, mut ctl) = mpsc::unbounded_channel();
    let t = tx.clone();
    let c = ctl_tx.clone();
    top.run(move |s| {
        add_chan_o(s, "x", "t1", &t);
        add_chan_o(s, "x", "t2", &t);
        let w1 = s
            .spawn_worker_with(
                "data:text/javascript,dw1",
                island_worker("x", &["dw1a", "dw1b"], t.clone(), c.clone()),
            )
            .unwrap();
        let w2 = s
            .spawn_worker_with(
                "data:text/javascript,dw2",
                island_worker("x", &["dw2a", "dw2b"], t.clone(), c.clone()),
            )
            .unwrap();
        s.set_global(KeepWorkers(RefCell::new(vec![w1, w2])));
    })
    .await
    .unwrap();
    let mut frames = Vec::new();
    for (url, sandboxed, labels) in [
        ("data:text/html,A", false, ["a1", "a2"]),
        ("data:text/html,B", false, ["b1", "b2"]),
        ("https://a.example/sandboxed.html", true, ["s1", "s2"]),
    ] {
        let t = tx.clone();
        let c = ctl_tx.clone();
        let with_worker = url.ends_with(",A");
        let script = webmessaging::script(move |s: &Scope| {
            for l in labels {
                let ch = add_chan_o(s, "x", l, &t);
                assert_eq!(ch.name(), "x");
                assert!(!ch.is_closed());
            }
            if with_worker {
                let w = s
                    .spawn_worker_with(
                        "blob:null/4b1d",
                        island_worker("x", &["wa"], t.clone(), c.clone()),
                    )
                    .unwrap();
                s.set_global(KeepWorkers(RefCell::new(vec![w])));
            }
        });
        let f = top
            .run(move |s| {
                s.create_iframe_with(
                    url,
                    IframeOptions {
                        script: Some(script),
                        sandboxed,
                        ..Default::default()
                    },
                )
            })
            .await
            .unwrap()
            .unwrap();
        let h = browser.handle(&f);
        h.settle().await.unwrap();
        let origin = h.run(|s| s.origin().serialize().to_owned()).await.unwrap();
        assert_eq!(origin, "null", "{url}");
        frames.push(h);
    }
    let mut ready = vec![
        recv(&mut ctl).await,
        recv(&mut ctl).await,
        recv(&mut ctl).await,
    ];
    ready.sort();
    assert_eq!(ready, ["ready:dw1a,dw1b", "ready:dw2a,dw2b", "ready:wa"]);
    let (fa, fb, fs) = (&frames[0], &frames[1], &frames[2]);

    // The posts, one after the other (workers acknowledge theirs).
    post_on(&top, "t1", "t").await;
    post_on(fa, "a1", "a").await;
    post_on(fb, "b1", "b").await;
    post_on(fs, "s1", "s").await;
    worker_cmd(&top, 0, "post:dw1a:dw1", &mut ctl).await;
    worker_cmd(&top, 1, "post:dw2a:dw2", &mut ctl).await;
    worker_cmd(fa, 0, "post:wa:wa", &mut ctl).await;
    // Markers reaching every channel, after all of the above.
    for (h, l) in [
        (&top, "t1"),
        (&top, "t2"),
        (fa, "a1"),
        (fa, "a2"),
        (fb, "b1"),
        (fb, "b2"),
        (fs, "s1"),
        (fs, "s2"),
    ] {
        post_on(h, l, "end").await;
    }
    worker_cmd(&top, 0, "post:dw1a:end", &mut ctl).await;
    worker_cmd(&top, 0, "post:dw1b:end", &mut ctl).await;
    worker_cmd(&top, 1, "post:dw2a:end", &mut ctl).await;
    worker_cmd(&top, 1, "post:dw2b:end", &mut ctl).await;

    let mut expected = vec![
        // parent
        "t2:t@https://a.example",
        "t2:end@https://a.example",
        "t1:end@https://a.example",
        // data: iframe A and the worker it spawned
        "a2:a@null",
        "wa:a@null",
        "a1:wa@null",
        "a2:wa@null",
        "a2:end@null",
        "wa:end@null",
        "a1:end@null",
        "wa:end@null",
        // data: iframe B
        "b2:b@null",
        "b2:end@null",
        "b1:end@null",
        // sandboxed iframe
        "s2:s@null",
        "s2:end@null",
        "s1:end@null",
        // data: workers
        "dw1b:dw1@null",
        "dw1b:end@null",
        "dw1a:end@null",
        "dw2b:dw2@null",
        "dw2b:end@null",
        "dw2a:end@null",
    ];
    let mut got = recv_n(&mut rx, expected.len()).await;
    expected.sort_unstable();
    got.sort_unstable();
    assert_eq!(got, expected);
    browser.shutdown();
}

// ----- detached-iframe.html -----

thread_local! {
    /// The scope of the about:blank iframe of the detached-iframe test (on its group's
    /// thread), kept as a script holding `iframe.contentWindow` would.
    static STASH: RefCell<Option<Scope>> = const { RefCell::new(None) };
    /// A channel of that scope's realm (its globals go with its teardown).
    static STASH_CHANNEL: RefCell<Option<BroadcastChannel>> = const { RefCell::new(None) };
}

fn stash() -> Scope {
    STASH.with(|s| s.borrow().clone().expect("no stashed scope"))
}

#[derive(Clone, Copy, Debug)]
enum Detach {
    BeforeCreation,
    AfterCreation,
}

async fn open_blank_iframe(browser: &Browser, top: &WindowHandle) -> WindowProxy {
    let f = top
        .run(|s| {
            s.create_iframe_with(
                "about:blank",
                IframeOptions {
                    script: Some(webmessaging::script(|s: &Scope| {
                        STASH.with(|st| *st.borrow_mut() = Some(s.clone()));
                    })),
                    ..Default::default()
                },
            )
        })
        .await
        .unwrap()
        .unwrap();
    browser.handle(&f).settle().await.unwrap();
    f
}

async fn detach(top: &WindowHandle, frame: &WindowProxy) {
    let f = frame.clone();
    top.run(move |s| s.remove_iframe(&f)).await.unwrap();
    eventually(
        "the iframe's document is no longer fully active",
        || async move { top.run(|_| !stash().is_fully_active()).await.unwrap() },
    )
    .await;
}

/// BC-DETACHED-IFRAME: channels of a removed iframe, created before or after it was
/// removed, neither send to nor receive from the parent's channels, nor talk to each
/// other; posting on them does not throw (not eligible for messaging: the post is ignored).
#[actix_rt::test]
async fn bc_detached_iframe() {
    let browser = Browser::new();
    let top = browser.open("https://a.example/").unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    for (i, action) in [Detach::AfterCreation, Detach::BeforeCreation]
        .into_iter()
        .enumerate()
    {
        let name: &'static str = if i == 0 {
            "detached-pre"
        } else {
            "detached-post"
        };
        let frame = open_blank_iframe(&browser, &top).await;
        if let Detach::BeforeCreation = action {
            detach(&top, &frame).await;
        }
        // Parent to iframe and iframe to parent: the iframe's channel is created first, so
        // it would hear "done" before bc1 does.
        let t = tx.clone();
        top.run(move |s| {
            let inner = stash();
            let ifr = add_chan(&inner, name, "ifr", &t);
            let ifr_b = add_chan(&inner, name, "ifr_b", &t);
            add_chan(s, name, "bc1", &t);
            let keep = s.global::<Chans>().unwrap();
            keep.0.borrow_mut().insert("ifr".into(), ifr);
            keep.0.borrow_mut().insert("ifr_b".into(), ifr_b);
        })
        .await
        .unwrap();
        if let Detach::AfterCreation = action {
            detach(&top, &frame).await;
        }
        let r = top
            .run(move |s| {
                let ifr = chan(s, "ifr");
                // Not eligible for messaging: ignored, no exception, even for values that
                // cannot be serialized.
                let r1 = ifr.post_message(&Value::from("test"));
                let r2 = ifr.post_message(&Value::from(Object::new_function("f")));
                let r3 = chan(s, "ifr_b").post_message(&Value::from("within"));
                let bc2 = s.broadcast_channel(name);
                bc2.post_message(&Value::from("done")).unwrap();
                bc2.close();
                ifr.close();
                chan(s, "ifr_b").close();
                (r1.is_ok(), r2.is_ok(), r3.is_ok())
            })
            .await
            .unwrap();
        assert_eq!(r, (true, true, true), "{action:?}");
        assert_eq!(recv(&mut rx).await, "bc1:done", "{action:?}");
        // Within the detached document (WPT creates a fresh pair after detaching too).
        let t = tx.clone();
        top.run(move |s| {
            let inner = stash();
            add_chan(&inner, name, "in1", &t);
            inner
                .broadcast_channel(name)
                .post_message(&Value::from("inside"))
                .unwrap();
            let bc1 = chan(s, "bc1");
            bc1.close();
            add_chan(s, name, "bc3", &t);
            s.broadcast_channel(name)
                .post_message(&Value::from("marker"))
                .unwrap();
        })
        .await
        .unwrap();
        assert_eq!(recv(&mut rx).await, "bc3:marker", "{action:?}");
        top.run(|s| {
            chan(s, "bc3").close();
            STASH.with(|st| st.borrow_mut().take());
        })
        .await
        .unwrap();
    }
    browser.shutdown();
}

// ----- workers.html -----

/// WPT `resources/worker.js`: `channel:<name>` opens a channel that posts "from worker"
/// and collects what it hears (ignoring "ready") until "done", then replies with the list;
/// `ping:<msg>` posts `msg`; `blob:<text>` posts a Blob of `text`.
fn wpt_worker(scope: &Scope) {
    scope.on_message(|s: &Scope, e: &MessageEvent| {
        let cmd = show(e.data());
        let (verb, arg) = cmd.split_once(':').unwrap();
        match verb {
            "channel" => {
                let c = s.broadcast_channel(arg);
                let heard = std::rc::Rc::new(RefCell::new(Vec::<String>::new()));
                c.on_message(move |s: &Scope, e: &MessageEvent| {
                    let d = show(e.data());
                    if d == "ready" {
                        return;
                    }
                    heard.borrow_mut().push(d.clone());
                    if d == "done" {
                        s.post_message(&Value::from(heard.borrow().join(",")), &[])
                            .unwrap();
                    }
                });
                c.post_message(&Value::from("from worker")).unwrap();
                s.set_global(c);
            }
            "ping" => s
                .global::<BroadcastChannel>()
                .unwrap()
                .post_message(&Value::from(arg))
                .unwrap(),
            "blob" => {
                let blob = Object::new_blob(arg.as_bytes().to_vec(), "text/plain");
                s.global::<BroadcastChannel>()
                    .unwrap()
                    .post_message(&Value::from(blob))
                    .unwrap();
            }
            _ => panic!("unknown command {cmd}"),
        }
    });
}

/// BC-WORKER: a window and a same-origin dedicated worker: the worker's "from worker"
/// reaches c1 then c2; the window's later "from c2" and "done" reach the worker in order.
#[actix_rt::test]
async fn bc_worker() {
    let browser = Browser::new();
    let top = browser.open("https://a.example/").unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    top.run(move |s| {
        let c1 = add_chan(s, "worker", "c1", &tx);
        let c2 = add_chan(s, "worker", "c2", &tx);
        let (c1b, c2b) = (c1.clone(), c2.clone());
        c2.add_event_listener(EventType::Message, move |_s: &Scope, e: &MessageEvent| {
            if e.data().as_str() == Some("from worker") {
                c2b.post_message(&Value::from("from c2")).unwrap();
                c1b.post_message(&Value::from("done")).unwrap();
            }
        });
        let w = s
            .spawn_worker_with("https://a.example/resources/worker.js", wpt_worker)
            .unwrap();
        let t = tx.clone();
        w.on_message(move |_s: &Scope, e: &MessageEvent| {
            let _ = t.send(format!("worker:{}", show(e.data())));
        });
        w.post_message(&Value::from("channel:worker"), &[]).unwrap();
    })
    .await
    .unwrap();
    let got = recv_n(&mut rx, 5).await;
    let window: Vec<&str> = got
        .iter()
        .map(String::as_str)
        .filter(|s| !s.starts_with("worker:"))
        .collect();
    assert_eq!(
        window,
        ["c1:from worker", "c2:from worker", "c1:from c2", "c2:done"]
    );
    assert!(got.contains(&"worker:from c2,done".to_owned()), "{got:?}");
    browser.shutdown();
}

/// BC-REOPEN: after closing a channel, a new same-name channel in the same window gets
/// later messages, including the worker's, and reaches the worker; the closed one gets
/// nothing more (WPT "Closing and re-opening a channel works").
#[actix_rt::test]
async fn bc_reopen() {
    let browser = Browser::new();
    let top = browser.open("https://a.example/").unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    top.run(move |s| {
        let w = s
            .spawn_worker_with("https://a.example/resources/worker.js", wpt_worker)
            .unwrap();
        let t = tx.clone();
        w.on_message(move |_s: &Scope, e: &MessageEvent| {
            let _ = t.send(format!("worker:{}", show(e.data())));
        });
        let c = add_chan(s, "worker-close", "c1", &tx);
        let me = c.clone();
        let (w2, t2) = (w.clone(), tx.clone());
        c.add_event_listener(EventType::Message, move |s: &Scope, e: &MessageEvent| {
            if e.data().as_str() != Some("from worker") {
                return;
            }
            me.close();
            let c2 = s.broadcast_channel("worker-close");
            let (c2b, w3, t3) = (c2.clone(), w2.clone(), t2.clone());
            c2.on_message(move |_s: &Scope, e: &MessageEvent| {
                let d = show(e.data());
                let _ = t3.send(format!("c2:{d}"));
                if d == "ready" {
                    w3.post_message(&Value::from("ping:echo"), &[]).unwrap();
                } else {
                    c2b.post_message(&Value::from("done")).unwrap();
                    c2b.close();
                }
            });
            let c3 = s.broadcast_channel("worker-close");
            c3.post_message(&Value::from("ready")).unwrap();
            c3.close();
        });
        w.post_message(&Value::from("channel:worker-close"), &[])
            .unwrap();
    })
    .await
    .unwrap();
    assert_eq!(
        recv_until(&mut rx, "worker:done").await,
        ["c1:from worker", "c2:ready", "c2:echo", "worker:done"]
    );
    browser.shutdown();
}

/// BC-WORKER (closing worker): posts from a worker that called `close()` are ignored,
/// whether its channel was made before or after `close()` (no exception, even for a
/// Symbol), and it receives nothing: a channel of the worker later in the same delivery
/// batch as the message whose listener closed it does not get it.
#[actix_rt::test]
async fn bc_closing_worker_neither_sends_nor_receives() {
    let browser = Browser::new();
    let b = &browser;
    let top = browser.open("https://a.example/").unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let (ctl_tx, mut ctl) = mpsc::unbounded_channel::<String>();
    let t = tx.clone();
    top.run(move |s| {
        add_chan(s, "closing", "win", &t);
        add_chan(s, "closing", "win2", &t);
    })
    .await
    .unwrap();
    // Sending: the worker posts "before", closes, then posts on the old channel and on a
    // new one; it reports the results on `ctl`.
    let c = ctl_tx.clone();
    top.run(move |s| {
        s.spawn_worker_with("https://a.example/closing.js", move |s: &Scope| {
            let old = s.broadcast_channel("closing");
            old.post_message(&Value::from("before")).unwrap();
            s.close();
            let new = s.broadcast_channel("closing");
            let sym = Value::Symbol(webmessaging::core::value::Symbol::new(None));
            let r = [
                old.post_message(&Value::from("after-old")).is_ok(),
                new.post_message(&Value::from("after-new")).is_ok(),
                old.post_message(&sym).is_ok(),
            ];
            let _ = c.send(format!("{r:?}"));
        })
        .unwrap();
    })
    .await
    .unwrap();
    assert_eq!(recv(&mut ctl).await, "[true, true, true]");
    // Any post the worker made went to the registry before its report; this marker comes
    // after it on the same path.
    post_on(&top, "win2", "marker").await;
    assert_eq!(
        recv_until(&mut rx, "win:marker").await,
        ["win:before", "win2:before", "win:marker"]
    );

    // Receiving: the worker's first channel closes the worker when it hears "m1"; its
    // second channel, next in the same delivery, must not hear it; nor anything later.
    let t = tx.clone();
    let c = ctl_tx.clone();
    top.run(move |s| {
        s.spawn_worker_with("https://a.example/closing2.js", move |s: &Scope| {
            let first = s.broadcast_channel("closing2");
            let t1 = t.clone();
            first.on_message(move |s: &Scope, e: &MessageEvent| {
                let _ = t1.send(format!("wk1:{}", show(e.data())));
                s.close();
            });
            add_chan(s, "closing2", "wk2", &t);
            let _ = c.send("ready".into());
        })
        .unwrap();
    })
    .await
    .unwrap();
    assert_eq!(recv(&mut ctl).await, "ready");
    let t = tx.clone();
    top.run(move |s| {
        let c = s.broadcast_channel("closing2");
        add_chan(s, "closing2", "win3", &t);
        c.post_message(&Value::from("m1")).unwrap();
        c.post_message(&Value::from("m2")).unwrap();
    })
    .await
    .unwrap();
    // The window's own receiver marks the end of both posts on the window's side; the
    // worker's reports (from its one delivery of "m1") come before its teardown.
    let got = recv_until(&mut rx, "win3:m2").await;
    let worker_side: Vec<&str> = got
        .iter()
        .map(String::as_str)
        .filter(|s| s.starts_with("wk"))
        .collect();
    let window_side: Vec<&str> = got
        .iter()
        .map(String::as_str)
        .filter(|s| !s.starts_with("wk"))
        .collect();
    assert_eq!(window_side, ["win3:m1", "win3:m2"]);
    // wk1 may or may not be reported yet; wk2 never is.
    assert!(worker_side.iter().all(|s| *s == "wk1:m1"), "{got:?}");
    eventually("the closed worker's channels are released", || async move {
        b.broadcast_channel_count().await == 3
    })
    .await;
    let later: Vec<String> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
    assert!(later.iter().all(|s| s == "wk1:m1"), "{later:?}");
    browser.shutdown();
}

/// BC-WORKER (document not fully active): a navigated-away document's channel does not
/// send (no exception) nor receive.
#[actix_rt::test]
async fn bc_not_fully_active_document() {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let t = tx.clone();
    let w1 = browser
        .open_with("https://a.example/old", move |s: &Scope| {
            STASH.with(|st| *st.borrow_mut() = Some(s.clone()));
            let old = add_chan(s, "nfa", "old", &t);
            STASH_CHANNEL.with(|st| *st.borrow_mut() = Some(old));
        })
        .unwrap();
    w1.settle().await.unwrap();
    let t = tx.clone();
    w1.navigate_with("https://a.example/new", move |s: &Scope| {
        add_chan(s, "nfa", "new1", &t);
        add_chan(s, "nfa", "new2", &t);
    })
    .unwrap();
    let w1r = &w1;
    eventually(
        "the old document is no longer fully active",
        || async move { w1r.run(|_| !stash().is_fully_active()).await.unwrap() },
    )
    .await;
    let r = w1
        .run(|s| {
            let old = stash();
            let old_channel = STASH_CHANNEL.with(|st| st.borrow_mut().take()).unwrap();
            let r1 = old_channel.post_message(&Value::from("from-old")).is_ok();
            let r2 = old
                .broadcast_channel("nfa")
                .post_message(&Value::from("from-old-new"))
                .is_ok();
            chan(s, "new1")
                .post_message(&Value::from("to-all"))
                .unwrap();
            STASH.with(|st| st.borrow_mut().take());
            (r1, r2)
        })
        .await
        .unwrap();
    assert_eq!(r, (true, true));
    // "old" was created first: had it heard "to-all", it would be reported first.
    assert_eq!(recv(&mut rx).await, "new2:to-all");
    browser.shutdown();
}

// ----- blobs.html -----

/// BC-BLOB: a Blob posted on a channel reaches every receiver, each reading "foobar"; a
/// Blob made in a worker arrives in the window with its size and bytes.
#[actix_rt::test]
async fn bc_blob() {
    let browser = Browser::new();
    let top = browser.open("https://a.example/").unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    top.run(move |s| {
        let c1 = s.broadcast_channel("blobs");
        add_chan(s, "blobs", "c2", &tx);
        add_chan(s, "blobs", "c3", &tx);
        c1.post_message(&Value::from(Object::new_blob(
            b"foobar".to_vec(),
            "text/plain",
        )))
        .unwrap();
    })
    .await
    .unwrap();
    assert_eq!(
        recv_n(&mut rx, 2).await,
        ["c2:blob(6):foobar", "c3:blob(6):foobar"]
    );

    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    top.run(move |s| {
        add_chan(s, "worker-blobs", "c", &tx);
        let w = s
            .spawn_worker_with("https://a.example/resources/worker.js", wpt_worker)
            .unwrap();
        w.post_message(&Value::from("channel:worker-blobs"), &[])
            .unwrap();
        w.post_message(&Value::from("blob:hello-world"), &[])
            .unwrap();
    })
    .await
    .unwrap();
    assert_eq!(
        recv_n(&mut rx, 2).await,
        ["c:from worker", "c:blob(11):hello-world"]
    );
    browser.shutdown();
}

// ----- threads -----

/// Windows of two browsing-context groups (two threads) and a dedicated worker (a third)
/// hear each other's messages, in post order per sender.
#[actix_rt::test]
async fn bc_threads_post_order_per_sender() {
    const N: usize = 300;
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let (ctl_tx, mut ctl) = mpsc::unbounded_channel::<String>();
    let w1 = browser.open("https://a.example/one").unwrap();
    let w2 = browser.open("https://a.example/two").unwrap();
    for (h, l) in [(&w1, "w1"), (&w2, "w2")] {
        let t = tx.clone();
        h.run(move |s| {
            let c = s.broadcast_channel("threads");
            c.on_message(move |_s: &Scope, e: &MessageEvent| {
                let _ = t.send(format!("{l}<-{}", show(e.data())));
            });
            s.set_global(c);
        })
        .await
        .unwrap();
    }
    let (t, c) = (tx.clone(), ctl_tx.clone());
    w1.run(move |s| {
        let w = s
            .spawn_worker_with("https://a.example/threads.js", move |s: &Scope| {
                let ch = s.broadcast_channel("threads");
                let t = t.clone();
                ch.on_message(move |_s: &Scope, e: &MessageEvent| {
                    let _ = t.send(format!("wk<-{}", show(e.data())));
                });
                s.set_global(ch);
                s.on_message(|s: &Scope, _e: &MessageEvent| {
                    let ch = s.global::<BroadcastChannel>().unwrap();
                    for i in 0..N {
                        ch.post_message(&Value::from(format!("wk:{i}"))).unwrap();
                    }
                });
                let _ = c.send("ready".into());
            })
            .unwrap();
        s.set_global(KeepWorkers(RefCell::new(vec![w])));
    })
    .await
    .unwrap();
    assert_eq!(recv(&mut ctl).await, "ready");
    fn post_all(
        h: &WindowHandle,
        l: &'static str,
    ) -> actix_rt::task::JoinHandle<webmessaging::Result<()>> {
        let h = h.clone();
        actix_rt::spawn(async move {
            h.run(move |s| {
                let ch = s.global::<BroadcastChannel>().unwrap();
                for i in 0..N {
                    ch.post_message(&Value::from(format!("{l}:{i}"))).unwrap();
                }
            })
            .await
        })
    }
    let (a, b) = (post_all(&w1, "w1"), post_all(&w2, "w2"));
    w1.run(|s| {
        let w = s.global::<KeepWorkers>().unwrap().0.borrow()[0].clone();
        w.post_message(&Value::from("go"), &[]).unwrap();
    })
    .await
    .unwrap();
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();
    let got = recv_n(&mut rx, 6 * N).await;
    let mut seen: HashMap<(String, String), Vec<usize>> = HashMap::new();
    for r in &got {
        let (receiver, msg) = r.split_once("<-").unwrap();
        let (sender, i) = msg.split_once(':').unwrap();
        assert_ne!(receiver, sender, "a channel heard itself: {r}");
        seen.entry((receiver.to_owned(), sender.to_owned()))
            .or_default()
            .push(i.parse().unwrap());
    }
    assert_eq!(seen.len(), 6);
    for (pair, v) in seen {
        assert_eq!(
            v,
            (0..N).collect::<Vec<_>>(),
            "{pair:?} out of order or incomplete"
        );
    }
    browser.shutdown();
}

// ----- teardown -----

struct Held(RefCell<Option<BroadcastChannel>>);

/// `close()` releases the registry entry; dropping the last handle of a channel without a
/// listener closes it; a channel with a listener is kept while open; a realm that goes
/// away (iframe removed, navigation, worker terminated or closed) closes its channels.
#[actix_rt::test]
async fn bc_teardown_releases_registry_entries() {
    let browser = Browser::new();
    let b = &browser;
    let top = browser.open("https://a.example/").unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let (ctl_tx, mut ctl) = mpsc::unbounded_channel::<String>();
    assert_eq!(browser.broadcast_channel_count().await, 0);
    let t = tx.clone();
    let n = top
        .run(move |s| {
            add_chan(s, "td", "a", &t);
            // Kept by its listener alone (no handle held).
            let kept = s.broadcast_channel("td");
            let t2 = t.clone();
            kept.on_message(move |_s: &Scope, e: &MessageEvent| {
                let _ = t2.send(format!("kept:{}", show(e.data())));
            });
            drop(kept);
            s.set_global(Held(RefCell::new(Some(s.broadcast_channel("td")))));
            s.open_broadcast_channel_count()
        })
        .await
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(browser.broadcast_channel_count().await, 3);
    let n = top
        .run(|s| {
            let a = chan(s, "a");
            a.close();
            a.close();
            s.open_broadcast_channel_count()
        })
        .await
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(browser.broadcast_channel_count().await, 2);
    let n = top
        .run(|s| {
            // The last handle of a channel with no listener: dropping it closes it.
            drop(s.global::<Held>().unwrap().0.borrow_mut().take());
            s.open_broadcast_channel_count()
        })
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(browser.broadcast_channel_count().await, 1);
    // The listener-kept one still hears.
    top.run(|s| {
        s.broadcast_channel("td")
            .post_message(&Value::from("still"))
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(recv(&mut rx).await, "kept:still");
    assert_eq!(browser.broadcast_channel_count().await, 1);

    // An iframe's channels go with it.
    let t = tx.clone();
    let frame = top
        .run(move |s| {
            s.create_iframe_with(
                "https://a.example/frame",
                IframeOptions {
                    script: Some(webmessaging::script(move |s: &Scope| {
                        add_chan(s, "td", "f1", &t);
                        add_chan(s, "td", "f2", &t);
                    })),
                    ..Default::default()
                },
            )
        })
        .await
        .unwrap()
        .unwrap();
    browser.handle(&frame).settle().await.unwrap();
    assert_eq!(browser.broadcast_channel_count().await, 3);
    let f = frame.clone();
    top.run(move |s| s.remove_iframe(&f)).await.unwrap();
    eventually(
        "the removed iframe's channels are released",
        || async move { b.broadcast_channel_count().await == 1 },
    )
    .await;

    // Workers' channels go when they are terminated or close themselves.
    let c = ctl_tx.clone();
    top.run(move |s| {
        let mk = |c: Tx| {
            move |s: &Scope| {
                for _ in 0..2 {
                    let ch = s.broadcast_channel("td");
                    ch.on_message(|_s: &Scope, _e: &MessageEvent| {});
                }
                s.on_message(|s: &Scope, _e: &MessageEvent| s.close());
                let _ = c.send("ready".into());
            }
        };
        let w1 = s
            .spawn_worker_with("https://a.example/td1.js", mk(c.clone()))
            .unwrap();
        let w2 = s
            .spawn_worker_with("https://a.example/td2.js", mk(c.clone()))
            .unwrap();
        s.set_global(KeepWorkers(RefCell::new(vec![w1, w2])));
    })
    .await
    .unwrap();
    assert_eq!(recv(&mut ctl).await, "ready");
    assert_eq!(recv(&mut ctl).await, "ready");
    assert_eq!(browser.broadcast_channel_count().await, 5);
    top.run(|s| {
        let ws = s.global::<KeepWorkers>().unwrap();
        let ws = ws.0.borrow();
        ws[0].terminate();
        ws[1].post_message(&Value::Null, &[]).unwrap();
    })
    .await
    .unwrap();
    eventually("the workers' channels are released", || async move {
        b.broadcast_channel_count().await == 1
    })
    .await;

    // Navigation: the old document's channels close.
    top.navigate("https://a.example/next").unwrap();
    eventually("the old document's channels are released", || async move {
        b.broadcast_channel_count().await == 0
    })
    .await;
    let n = top.run(|s| s.open_broadcast_channel_count()).await.unwrap();
    assert_eq!(n, 0);
    browser.shutdown();
}

/// No growth over 100k create-and-close cycles (in batches inside `WindowHandle::run`):
/// the realm's open-channel count and the registry's entry count return to the baseline
/// after every batch.
#[actix_rt::test]
async fn bc_no_growth_over_100k_cycles() {
    const BATCHES: usize = 10;
    const PER_BATCH: usize = 10_000;
    let browser = Browser::new();
    let top = browser.open("https://a.example/").unwrap();
    // A baseline with a live channel and a live receiver under the same name.
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let base_scope = top
        .run(move |s| {
            add_chan(s, "cycle", "live", &tx);
            s.open_broadcast_channel_count()
        })
        .await
        .unwrap();
    let base = browser.broadcast_channel_count().await;
    assert_eq!((base_scope, base), (1, 1));
    for _ in 0..BATCHES {
        let n = top
            .run(|s| {
                for i in 0..PER_BATCH {
                    match i % 3 {
                        0 => {
                            let c = s.broadcast_channel("cycle");
                            c.on_message(|_s: &Scope, _e: &MessageEvent| {});
                            c.close();
                        }
                        // No listener: dropping the handle closes it.
                        1 => drop(s.broadcast_channel(&format!("cycle-{i}"))),
                        _ => {
                            let c = s.broadcast_channel("cycle");
                            c.close();
                            c.close();
                        }
                    }
                }
                s.open_broadcast_channel_count()
            })
            .await
            .unwrap();
        assert_eq!(n, base_scope);
        assert_eq!(browser.broadcast_channel_count().await, base);
    }
    // The surviving channel still works.
    top.run(|s| {
        s.broadcast_channel("cycle")
            .post_message(&Value::from("after"))
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(recv(&mut rx).await, "live:after");
    browser.shutdown();
}

// ----- crash isolation -----

/// A listener that panics during a delivery crashes its own realm only: the channels of
/// other realms in the same delivery still get the message, the crashed realm's other
/// channels (later in the same delivery) do not, and the restarted document's new channels
/// hear later messages.
#[actix_rt::test]
async fn bc_crash_in_listener_is_isolated() {
    let browser = Browser::new();
    let b = &browser;
    let top = browser.open("https://a.example/").unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let (ctl_tx, mut ctl) = mpsc::unbounded_channel::<String>();
    let t = tx.clone();
    let frame = top
        .run(move |s| {
            s.create_iframe_with(
                "https://a.example/crashy",
                IframeOptions {
                    script: Some(webmessaging::script(move |s: &Scope| {
                        let p1 = s.broadcast_channel("crash");
                        p1.on_message(|_s: &Scope, e: &MessageEvent| {
                            if e.data().as_str() == Some("explode") {
                                panic!("listener exploded");
                            }
                        });
                        add_chan(s, "crash", "p2", &t);
                        let _ = ctl_tx.send("loaded".into());
                    })),
                    ..Default::default()
                },
            )
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(recv(&mut ctl).await, "loaded");
    browser.handle(&frame).settle().await.unwrap();
    let t = tx.clone();
    top.run(move |s| {
        add_chan(s, "crash", "t1", &t);
        add_chan(s, "crash", "t2", &t);
        chan(s, "t1").post_message(&Value::from("explode")).unwrap();
    })
    .await
    .unwrap();
    // The delivery runs p1 (panics), p2 (same realm: skipped), t2.
    assert_eq!(recv(&mut rx).await, "t2:explode");
    // The iframe's document is reloaded (the default policy) and makes new channels.
    assert_eq!(recv(&mut ctl).await, "loaded");
    eventually(
        "the crashed document's channels are released",
        || async move { b.broadcast_channel_count().await == 4 },
    )
    .await;
    post_on(&top, "t1", "after").await;
    assert_eq!(recv_n(&mut rx, 2).await, ["t2:after", "p2:after"]);
    browser.shutdown();
}

/// A channel kept alive by its `message` listener is released once the listener is
/// removed and no handle is left (the standard's strong reference lasts only while the
/// listener is registered).
#[actix_rt::test]
async fn bc_removed_listener_no_longer_keeps_channel() {
    let browser = Browser::new();
    let top = browser.open("https://a.example/").unwrap();
    let n = top
        .run(|s| {
            let c = s.broadcast_channel("unkeep");
            let id = c.add_event_listener(EventType::Message, |_s: &Scope, _e: &MessageEvent| {});
            let d = s.broadcast_channel("unkeep");
            d.add_event_listener(EventType::Message, |_s: &Scope, _e: &MessageEvent| {});
            s.set_global(id);
            s.set_global(Held(RefCell::new(Some(c))));
            drop(d);
            s.open_broadcast_channel_count()
        })
        .await
        .unwrap();
    assert_eq!(n, 2);
    let n = top
        .run(|s| {
            let c = s.global::<Held>().unwrap().0.borrow_mut().take().unwrap();
            assert!(c.remove_event_listener(*s.global::<ListenerId>().unwrap()));
            drop(c);
            s.open_broadcast_channel_count()
        })
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(browser.broadcast_channel_count().await, 1);
    browser.shutdown();
}

/// `onmessageerror`: a receiver that cannot read the data (here a typed listener expecting
/// a number) gets `messageerror` with the sender's origin instead of `message`; other
/// receivers are unaffected.
#[actix_rt::test]
async fn bc_message_error_for_undeserializable_data() {
    let browser = Browser::new();
    let top = browser.open("https://a.example/").unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    top.run(move |s| {
        let c1 = s.broadcast_channel("typed");
        let c2 = s.broadcast_channel("typed");
        let (t1, t2) = (tx.clone(), tx.clone());
        c2.on_message_as(move |_s: &Scope, _e: &MessageEvent, n: u32| {
            let _ = t1.send(format!("c2:number {n}"));
        });
        c2.on_message_error(move |_s: &Scope, e: &MessageEvent| {
            let _ = t2.send(format!(
                "c2:{} origin={} source_none={}",
                e.event_type().as_str(),
                e.origin(),
                e.source().is_none()
            ));
        });
        add_chan(s, "typed", "c3", &tx);
        c1.post_message(&Value::from("not a number")).unwrap();
        c1.post(&7u32).unwrap();
    })
    .await
    .unwrap();
    assert_eq!(
        recv_n(&mut rx, 4).await,
        [
            "c2:messageerror origin=https://a.example source_none=true",
            "c3:not a number",
            "c2:number 7",
            "c3:7",
        ]
    );
    browser.shutdown();
}
