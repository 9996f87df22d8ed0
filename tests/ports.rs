//! MessageChannel and MessagePort end to end: the CH-* and PORT-* rows of
//! ../shared/conformance.md, and the port lifetime policy (issue 4, items 1, 2 and 5).
//!
//! Each test names the rows it covers. To show that something did *not* arrive, a later
//! marker is sent on the same ordered path (the same port, or the same realm's mailbox),
//! and timeouts are failure guards only.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::time::Duration;

use tokio::sync::mpsc;
use webmessaging::prelude::*;
use webmessaging::EventTarget;

// ----- a counting allocator, per thread (for the 1M channels test) -----

/// Counts live bytes allocated minus freed on the current thread. Each top-level window
/// has a thread of its own, so the count on a window's thread is not disturbed by tests
/// running in parallel.
struct CountingAlloc;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn add_live(d: isize) {
    let _ = LIVE.try_with(|l| l.set(l.get() + d));
}

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            add_live(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        add_live(-(layout.size() as isize));
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            add_live(layout.size() as isize);
        }
        p
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            add_live(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn live_bytes_on_this_thread() -> isize {
    LIVE.with(|l| l.get())
}

// ----- helpers -----

mod common;
use common::{expect, recv, reporter, send, text, Rx, Tx};

/// A started channel in `scope` whose port2 reports `marker:<data>`: posting on its port1
/// queues a task behind every port task already queued for this realm.
fn marker_channel(scope: &Scope, tx: &Tx) -> MessagePort {
    let (m1, m2) = scope.message_channel().into_ports();
    m2.on_message(reporter(tx, "marker"));
    m1
}

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

fn channel() -> (Tx, Rx) {
    mpsc::unbounded_channel()
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

// ----- CH-* -----

/// CH-BASIC, PORT-START: `port1.postMessage(1)` before any listener exists; a listener
/// added with `addEventListener` and `start()` afterwards still gets `1`, then later ones
/// in order.
#[actix_rt::test]
async fn ch_basic_post_before_listener_then_start() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let _w = browser
        .open_with("https://a.example/", move |scope: &Scope| {
            let (p1, p2) = scope.message_channel().into_ports();
            p1.post_message(&Value::from(1), &[]).unwrap();
            p1.post_message(&Value::from(2), &[]).unwrap();
            p2.add_event_listener(EventType::Message, reporter(&tx, "p2"));
            p2.start();
            p1.post_message(&Value::from(3), &[]).unwrap();
            keep(scope, &[p1, p2]);
        })
        .unwrap();
    expect(&mut rx, &["p2:1", "p2:2", "p2:3"]).await;
    browser.shutdown();
}

/// CH-PORT-TYPES (partly): `channel.port1`/`port2` are `MessagePort`s, entangled with each
/// other. `new MessagePort()` has no counterpart: `MessagePort` has no public constructor,
/// so it cannot be called (a compile error rather than a `TypeError`), in windows and
/// workers alike.
#[actix_rt::test]
async fn ch_port_types() {
    let browser = Browser::new();
    let w = browser.open("https://a.example/").unwrap();
    let r = w
        .run(|scope| {
            let ch = scope.message_channel();
            let p1: &MessagePort = ch.port1();
            let p2: &MessagePort = ch.port2();
            (
                p1 != p2,
                p1.is_entangled(),
                p2.is_entangled(),
                p1.is_active(),
            )
        })
        .await
        .unwrap();
    assert_eq!(r, (true, true, true, true));
    browser.shutdown();
}

/// CH-TARGET-IS-PEER: the event from `port1.postMessage` is dispatched at the entangled
/// `port2`, never at the sender.
#[actix_rt::test]
async fn ch_target_is_peer() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let _w = browser
        .open_with("https://a.example/", move |scope: &Scope| {
            let (p1, p2) = scope.message_channel().into_ports();
            let tx = tx.clone();
            let (a, b) = (p1.clone(), p2.clone());
            p2.on_message(move |_s: &Scope, e: &MessageEvent| {
                let Some(EventTarget::Port(t)) = e.target() else {
                    panic!("target is not a port");
                };
                send(
                    &tx,
                    format!("target is port2: {}, is port1: {}", *t == b, *t == a),
                );
            });
            p1.post_message(&Value::from("x"), &[]).unwrap();
            keep(scope, &[p1]);
        })
        .unwrap();
    expect(&mut rx, &["target is port2: true, is port1: false"]).await;
    browser.shutdown();
}

/// CH-CROSS-DOCUMENT: `port1` goes to iframe A and `port2` to iframe B in separate window
/// posts. A writes through its port; B's port, started by `onmessage`, receives `1` and B
/// relays it to the parent.
#[actix_rt::test]
async fn ch_cross_document() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let _w = browser
        .open_with("https://parent.example/", move |scope: &Scope| {
            let tx = tx.clone();
            scope.on_message(move |_s: &Scope, e: &MessageEvent| {
                send(&tx, format!("parent got {}", text(e)))
            });
            let a = iframe(scope, "https://a.example/", |scope| {
                scope.on_message(|_s: &Scope, e: &MessageEvent| {
                    e.ports()[0].post_message(&Value::from(1), &[]).unwrap();
                });
            });
            let b = iframe(scope, "https://b.example/", |scope| {
                scope.on_message(|_s: &Scope, e: &MessageEvent| {
                    let parent = e.source_window().unwrap().clone();
                    e.ports()[0].on_message(move |s: &Scope, e: &MessageEvent| {
                        parent.post_message(s, e.data(), "*", &[]).unwrap();
                    });
                });
            });
            let (p1, p2) = scope.message_channel().into_ports();
            a.post_message(scope, &Value::from("port"), "*", &[p1.to_value()])
                .unwrap();
            b.post_message(scope, &Value::from("port"), "*", &[p2.to_value()])
                .unwrap();
        })
        .unwrap();
    expect(&mut rx, &["parent got 1"]).await;
    browser.shutdown();
}

thread_local! {
    /// The scope of an iframe, stashed by its load script for its parent (same thread).
    static STASHED: RefCell<Option<Scope>> = const { RefCell::new(None) };
}

/// Waits until the iframe's load script stashed its scope (it loads in a later task of
/// the shared thread); a failure guard bounds the wait.
async fn wait_for_stashed_scope(w: &WindowHandle) {
    for _ in 0..1000 {
        if w.run(|_| STASHED.with(|s| s.borrow().is_some()))
            .await
            .unwrap()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("the iframe did not load");
}

/// CH-DETACHED-IFRAME: a MessageChannel built with the constructor of an iframe that is
/// removed before or after construction never fires `message` or `messageerror`.
///
/// The iframe's actor stops when the iframe is removed; its ports are closed (removed
/// after construction) or owned by a realm that never runs a task again (removed before).
/// The marker channel of the parent runs on the same thread after both.
#[actix_rt::test]
async fn ch_detached_iframe_never_fires() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let w = browser
        .open_with("https://parent.example/", |scope: &Scope| {
            iframe(scope, "https://parent.example/child", |scope| {
                STASHED.with(|s| *s.borrow_mut() = Some(scope.clone()));
            });
        })
        .unwrap();
    wait_for_stashed_scope(&w).await;
    let t = tx.clone();
    w.run(move |scope| {
        let child = STASHED.with(|s| s.borrow().clone()).unwrap();
        // Constructed before removal.
        let (a1, a2) = child.message_channel().into_ports();
        a2.on_message(reporter(&t, "before-removal"));
        a2.on_message_error(reporter(&t, "before-removal-error"));
        a1.post_message(&Value::from("lost"), &[]).unwrap();
        scope.remove_iframe(&scope.iframes()[0]);
        keep(scope, &[a1, a2]);
    })
    .await
    .unwrap();
    let t = tx.clone();
    w.run(move |scope| {
        let child = STASHED.with(|s| s.borrow_mut().take()).unwrap();
        assert!(!child.is_fully_active());
        // Constructed after removal.
        let (b1, b2) = child.message_channel().into_ports();
        b2.on_message(reporter(&t, "after-removal"));
        b2.on_message_error(reporter(&t, "after-removal-error"));
        b1.post_message(&Value::from("lost"), &[]).unwrap();
        keep(scope, &[b1, b2]);
        let m = marker_channel(scope, &t);
        m.post_message(&Value::from("end"), &[]).unwrap();
        keep(scope, &[m]);
    })
    .await
    .unwrap();
    // Let the event loop run further tasks before checking the marker came alone.
    w.settle().await.unwrap();
    w.settle().await.unwrap();
    expect(&mut rx, &["marker:end"]).await;
    w.run(|_| ()).await.unwrap();
    assert!(rx.try_recv().is_err(), "a port of a removed iframe fired");
    browser.shutdown();
}

/// CH-OWNER-CURRENT (partly): ports belong to the realm whose constructor was used (the
/// current realm, here the scope `message_channel` is called on). Ports built with an
/// iframe's scope stop when that iframe navigates away; ports built with the parent's
/// scope from code the iframe called (the incumbent) keep working after the iframe
/// navigates.
#[actix_rt::test]
async fn ch_owner_is_the_current_realm() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let w = browser
        .open_with("https://parent.example/", |scope: &Scope| {
            iframe(scope, "https://parent.example/child", |scope| {
                STASHED.with(|s| *s.borrow_mut() = Some(scope.clone()));
            });
        })
        .unwrap();
    wait_for_stashed_scope(&w).await;
    let t = tx.clone();
    w.run(move |scope| {
        let child = STASHED.with(|s| s.borrow_mut().take()).unwrap();
        // Current realm = the iframe.
        let (c1, c2) = child.message_channel().into_ports();
        c2.on_message(reporter(&t, "child-owned"));
        // Current realm = the parent, while "called from" the iframe's realm.
        let (p1, p2) = scope.message_channel().into_ports();
        p2.on_message(reporter(&t, "parent-owned"));
        keep(scope, &[c1, c2, p1, p2]);
        scope.iframes()[0]
            .navigate("https://parent.example/elsewhere")
            .unwrap();
    })
    .await
    .unwrap();
    // The navigation task runs on the shared thread; wait until the new document is in.
    let iframe_proxy = w.run(|scope| scope.iframes()[0].clone()).await.unwrap();
    let child_handle = browser.handle(&iframe_proxy);
    child_handle.settle().await.unwrap();
    let t = tx.clone();
    w.run(move |scope| {
        send(
            &t,
            format!("child-owned active: {}", kept(scope, 0).is_active()),
        );
        kept(scope, 0).post_message(&Value::from("x"), &[]).unwrap();
        kept(scope, 2).post_message(&Value::from("y"), &[]).unwrap();
    })
    .await
    .unwrap();
    expect(&mut rx, &["child-owned active: false", "parent-owned:y"]).await;
    // The child-owned ports were closed with the iframe's document (the post above was a
    // no-op), so nothing can fire there.
    w.settle().await.unwrap();
    assert!(rx.try_recv().is_err());
    browser.shutdown();
}

/// CH-BLOB (partly): a Blob sent over a port arrives with the same bytes (size 6,
/// "foobar") after the sender dropped its reference.
#[actix_rt::test]
async fn ch_blob_over_port() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let _w = browser
        .open_with("https://a.example/", move |scope: &Scope| {
            let (p1, p2) = scope.message_channel().into_ports();
            let tx = tx.clone();
            p2.on_message(move |_s: &Scope, e: &MessageEvent| {
                let o = e.data().as_object().unwrap().get("blob").unwrap();
                let bytes = o.as_object().unwrap().blob_bytes().unwrap();
                send(
                    &tx,
                    format!("{} {}", bytes.len(), String::from_utf8_lossy(&bytes)),
                );
            });
            {
                let blob = Object::new_blob(b"foobar".to_vec(), "text/plain");
                let msg = Object::from_pairs([("blob", Value::from(blob))]);
                p1.post_message(&Value::from(msg), &[]).unwrap();
            }
            keep(scope, &[p1]);
        })
        .unwrap();
    expect(&mut rx, &["6 foobar"]).await;
    browser.shutdown();
}

/// CH-DICT-TRANSFER: `port.postMessage(ab, {transfer: [ab]})` (options form) works: the
/// peer gets a buffer of byteLength 1 and the sender's is detached.
#[actix_rt::test]
async fn ch_dictionary_transfer() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let _w = browser
        .open_with("https://a.example/", move |scope: &Scope| {
            let (p1, p2) = scope.message_channel().into_ports();
            let t = tx.clone();
            p2.on_message(move |_s: &Scope, e: &MessageEvent| {
                let n = e.data().as_object().unwrap().byte_length().unwrap();
                send(&t, format!("received byteLength {n}"));
            });
            let ab = Object::new_array_buffer(vec![7]);
            let opts = StructuredSerializeOptions {
                transfer: vec![Value::from(ab.clone())],
            };
            p1.post_message_with_options(&Value::from(ab.clone()), &opts)
                .unwrap();
            send(&tx, format!("sender detached {}", ab.is_detached()));
            keep(scope, &[p1]);
        })
        .unwrap();
    expect(&mut rx, &["sender detached true", "received byteLength 1"]).await;
    browser.shutdown();
}

// ----- PORT-* -----

/// PORT-QUEUE-DISABLED: a new port's queue starts disabled; `addEventListener` alone
/// never receives. The marker channel's wake-up is queued after the one port2 would have
/// needed, in the same mailbox.
#[actix_rt::test]
async fn port_queue_disabled_until_start() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let w = browser
        .open_with("https://a.example/", move |scope: &Scope| {
            let (p1, p2) = scope.message_channel().into_ports();
            p2.add_event_listener(EventType::Message, reporter(&tx, "p2"));
            p1.post_message(&Value::from("queued"), &[]).unwrap();
            let m = marker_channel(scope, &tx);
            m.post_message(&Value::from("end"), &[]).unwrap();
            keep(scope, &[p1, p2, m]);
        })
        .unwrap();
    expect(&mut rx, &["marker:end"]).await;
    w.settle().await.unwrap();
    assert!(rx.try_recv().is_err(), "a disabled queue delivered");
    // start() then delivers what waited.
    w.run(|scope| kept(scope, 1).start()).await.unwrap();
    expect(&mut rx, &["p2:queued"]).await;
    browser.shutdown();
}

/// PORT-ONMESSAGE-START: setting `onmessage` starts the port; messages queued before are
/// dispatched without `start()`.
#[actix_rt::test]
async fn port_onmessage_starts() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let _w = browser
        .open_with("https://a.example/", move |scope: &Scope| {
            let (p1, p2) = scope.message_channel().into_ports();
            p1.post_message(&Value::from("early"), &[]).unwrap();
            p2.on_message(reporter(&tx, "p2"));
            p1.post_message(&Value::from("late"), &[]).unwrap();
            keep(scope, &[p1]);
        })
        .unwrap();
    expect(&mut rx, &["p2:early", "p2:late"]).await;
    browser.shutdown();
}

/// PORT-ONMESSAGE-REASSIGN: re-assigning `onmessage` inside the handler neither replays
/// nor duplicates the message. The marker goes through the same port afterwards.
#[actix_rt::test]
async fn port_onmessage_reassign_in_handler() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let _w = browser
        .open_with("https://a.example/", move |scope: &Scope| {
            let (p1, p2) = scope.message_channel().into_ports();
            let tx = tx.clone();
            let p2c = p2.clone();
            p2.on_message(move |_s: &Scope, e: &MessageEvent| {
                send(&tx, format!("first:{}", text(e)));
                p2c.on_message(reporter(&tx, "second"));
            });
            p1.post_message(&Value::from("one"), &[]).unwrap();
            p1.post_message(&Value::from("two"), &[]).unwrap();
            keep(scope, &[p1]);
        })
        .unwrap();
    expect(&mut rx, &["first:one", "second:two"]).await;
    browser.shutdown();
}

/// PORT-CLOSE-RECEIVER: after `port1.close()`, `port2.postMessage` does not throw and
/// `port1`'s handler never fires.
#[actix_rt::test]
async fn port_close_receiver() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let w = browser
        .open_with("https://a.example/", move |scope: &Scope| {
            let (p1, p2) = scope.message_channel().into_ports();
            p1.on_message(reporter(&tx, "p1"));
            p1.close();
            send(
                &tx,
                format!(
                    "post ok: {}",
                    p2.post_message(&Value::from("x"), &[]).is_ok()
                ),
            );
            let m = marker_channel(scope, &tx);
            m.post_message(&Value::from("end"), &[]).unwrap();
            keep(scope, &[p1, p2, m]);
        })
        .unwrap();
    expect(&mut rx, &["post ok: true", "marker:end"]).await;
    w.settle().await.unwrap();
    assert!(rx.try_recv().is_err());
    browser.shutdown();
}

/// PORT-CLOSE-SENDER: after `port2.close()`, `port2.postMessage` is a silent no-op; `port1`
/// receives no message (only the `close` event of the living standard).
#[actix_rt::test]
async fn port_close_sender() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let w = browser
        .open_with("https://a.example/", move |scope: &Scope| {
            let (p1, p2) = scope.message_channel().into_ports();
            p1.on_message(reporter(&tx, "p1"));
            p1.on_close(reporter(&tx, "p1"));
            p2.close();
            send(
                &tx,
                format!(
                    "post ok: {}",
                    p2.post_message(&Value::from("x"), &[]).is_ok()
                ),
            );
            let m = marker_channel(scope, &tx);
            m.post_message(&Value::from("end"), &[]).unwrap();
            keep(scope, &[p1, p2, m]);
        })
        .unwrap();
    expect(&mut rx, &["post ok: true", "p1:close", "marker:end"]).await;
    w.settle().await.unwrap();
    assert!(rx.try_recv().is_err());
    browser.shutdown();
}

/// PORT-CLOSE-INFLIGHT, PORT-CLOSE-EVENT-EXPLICIT: a message posted just before `close()`
/// in the same task is still delivered, and `close` fires on the peer after it.
#[actix_rt::test]
async fn port_close_inflight_message_delivered_before_close_event() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let _w = browser
        .open_with("https://a.example/", move |scope: &Scope| {
            let (p1, p2) = scope.message_channel().into_ports();
            p2.on_message(reporter(&tx, "p2"));
            p2.on_close(reporter(&tx, "p2"));
            p1.post_message(&Value::from("a"), &[]).unwrap();
            p1.post_message(&Value::from("b"), &[]).unwrap();
            p1.close();
            keep(scope, &[p1, p2]);
        })
        .unwrap();
    expect(&mut rx, &["p2:a", "p2:b", "p2:close"]).await;
    browser.shutdown();
}

/// PORT-CLOSE-IN-HANDLER (partly): closing the receiving port inside its own handler does
/// not break the event being dispatched (the handler runs to its end, other listeners of
/// that event still run); later queued messages are not dispatched at the closed port.
#[actix_rt::test]
async fn port_close_in_handler() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let w = browser
        .open_with("https://a.example/", move |scope: &Scope| {
            let (p1, p2) = scope.message_channel().into_ports();
            let t = tx.clone();
            let p2c = p2.clone();
            p2.add_event_listener(EventType::Message, move |_s: &Scope, e: &MessageEvent| {
                p2c.close();
                send(&t, format!("handler ran to the end with {}", text(e)));
            });
            p2.start();
            p1.post_message(&Value::from("one"), &[]).unwrap();
            p1.post_message(&Value::from("two"), &[]).unwrap();
            let m = marker_channel(scope, &tx);
            m.post_message(&Value::from("end"), &[]).unwrap();
            keep(scope, &[p1, p2, m]);
        })
        .unwrap();
    expect(&mut rx, &["handler ran to the end with one", "marker:end"]).await;
    w.settle().await.unwrap();
    assert!(rx.try_recv().is_err());
    browser.shutdown();
}

/// PORT-CLOSE-DETACHES: after `close()` the port is detached: transferring it (window,
/// port and worker postMessage, structuredClone) throws `DataCloneError`; its former peer
/// is not detached and can still be transferred.
#[actix_rt::test]
async fn port_close_detaches() {
    let browser = Browser::new();
    let w = browser.open("https://a.example/").unwrap();
    let r = w
        .run(|scope| {
            let (p1, p2) = scope.message_channel().into_ports();
            let (q1, _q2) = scope.message_channel().into_ports();
            let worker = scope
                .spawn_worker_with("https://a.example/w.js", |_s: &Scope| {})
                .unwrap();
            p1.close();
            let me = scope.window().unwrap();
            let e1 = me
                .post_message(scope, &Value::Null, "*", &[p1.to_value()])
                .unwrap_err();
            let e2 = q1.post_message(&Value::Null, &[p1.to_value()]).unwrap_err();
            let e3 = scope
                .structured_clone(&p1.to_value(), &[p1.to_value()])
                .unwrap_err();
            let e4 = worker
                .post_message(&Value::Null, &[p1.to_value()])
                .unwrap_err();
            let ok = scope
                .structured_clone(&p2.to_value(), &[p2.to_value()])
                .is_ok();
            worker.terminate();
            format!("{:?} ok={ok}", [e1.name(), e2.name(), e3.name(), e4.name()])
        })
        .await
        .unwrap();
    assert_eq!(
        r,
        "[DataCloneError, DataCloneError, DataCloneError, DataCloneError] ok=true"
    );
    browser.shutdown();
}

/// PORT-CLOSE-EVENT-EXPLICIT: `port1.close()` in another (cross-origin) window fires
/// `close` on `port2`, after the messages port1 sent, and never on `port1` itself (its
/// close listener stays silent; the iframe's marker comes after).
#[actix_rt::test]
async fn port_close_event_explicit_across_windows() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let t = tx.clone();
    let _w = browser
        .open_with("https://parent.example/", move |scope: &Scope| {
            let t = t.clone();
            let t2 = t.clone();
            let child = iframe(scope, "https://child.example/", move |scope| {
                let t = t2.clone();
                scope.on_message(move |scope: &Scope, e: &MessageEvent| {
                    let p1 = e.ports()[0].clone();
                    p1.on_close(reporter(&t, "p1"));
                    p1.post_message(&Value::from("bye"), &[]).unwrap();
                    p1.close();
                    let m = marker_channel(scope, &t);
                    m.post_message(&Value::from("child end"), &[]).unwrap();
                    keep(scope, &[m]);
                });
            });
            let (p1, p2) = scope.message_channel().into_ports();
            p2.on_message(reporter(&t, "p2"));
            p2.on_close(reporter(&t, "p2"));
            child
                .post_message(scope, &Value::Null, "*", &[p1.to_value()])
                .unwrap();
            keep(scope, &[p2]);
        })
        .unwrap();
    let mut got = vec![
        recv(&mut rx).await,
        recv(&mut rx).await,
        recv(&mut rx).await,
    ];
    got.sort();
    assert_eq!(got, vec!["marker:child end", "p2:bye", "p2:close"]);
    browser.shutdown();
}

/// How the owner of port1 goes away in [`close_event_on_teardown`].
#[derive(Clone, Copy, Debug)]
enum Teardown {
    RemoveIframe,
    Navigate,
    Crash,
    TerminateWorker,
    WorkerCloses,
}

/// PORT-CLOSE-EVENT-TEARDOWN: the surviving port gets `close`, after the messages the
/// other side sent, when the other side's realm is removed, navigated away, crashed, or
/// (for a worker) terminated or closed by itself.
async fn close_event_on_teardown(how: Teardown) {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let t = tx.clone();
    let w = browser
        .open_with("https://parent.example/", move |scope: &Scope| {
            let t = t.clone();
            let (p1, p2) = scope.message_channel().into_ports();
            p2.on_message(reporter(&t, "p2"));
            p2.on_close(reporter(&t, "p2"));
            let owner_script = |scope: &Scope| {
                scope.on_message(|scope: &Scope, e: &MessageEvent| {
                    if let Some(p) = e.ports().first() {
                        p.post_message(&Value::from("hello"), &[]).unwrap();
                        p.start();
                        keep(scope, std::slice::from_ref(p));
                    } else if e.data().as_str() == Some("crash") {
                        panic!("crash on purpose (test)");
                    } else if e.data().as_str() == Some("close yourself") {
                        scope.close();
                    }
                });
            };
            match how {
                Teardown::TerminateWorker | Teardown::WorkerCloses => {
                    let worker = scope
                        .spawn_worker_with("https://parent.example/w.js", move |s: &Scope| {
                            owner_script(s)
                        })
                        .unwrap();
                    worker.post_message(&Value::Null, &[p1.to_value()]).unwrap();
                    let wk = worker.clone();
                    p2.on_message(move |_s: &Scope, e: &MessageEvent| {
                        send(&t, format!("p2:{}", text(e)));
                        match how {
                            Teardown::TerminateWorker => wk.terminate(),
                            _ => wk
                                .post_message(&Value::from("close yourself"), &[])
                                .unwrap(),
                        }
                    });
                }
                _ => {
                    let child = iframe(scope, "https://child.example/", owner_script);
                    child
                        .post_message(scope, &Value::Null, "*", &[p1.to_value()])
                        .unwrap();
                    let parent_t = t.clone();
                    p2.on_message(move |scope: &Scope, e: &MessageEvent| {
                        send(&parent_t, format!("p2:{}", text(e)));
                        match how {
                            Teardown::RemoveIframe => scope.remove_iframe(&child),
                            Teardown::Navigate => child.navigate("https://other.example/").unwrap(),
                            Teardown::Crash => child
                                .post_message(scope, &Value::from("crash"), "*", &[])
                                .unwrap(),
                            _ => unreachable!(),
                        }
                    });
                }
            }
            keep(scope, &[p2]);
        })
        .unwrap();
    expect(&mut rx, &["p2:hello", "p2:close"]).await;
    w.settle().await.unwrap();
    assert!(rx.try_recv().is_err(), "{how:?}: more than one close");
    browser.shutdown();
}

/// PORT-CLOSE-EVENT-TEARDOWN: iframe removed.
#[actix_rt::test]
async fn port_close_event_when_peer_iframe_removed() {
    close_event_on_teardown(Teardown::RemoveIframe).await;
}

/// PORT-CLOSE-EVENT-TEARDOWN: peer document navigated away.
#[actix_rt::test]
async fn port_close_event_when_peer_navigates() {
    close_event_on_teardown(Teardown::Navigate).await;
}

/// PORT-CLOSE-EVENT-TEARDOWN (the crash case of DESIGN.md): peer realm crashed.
#[actix_rt::test]
async fn port_close_event_when_peer_crashes() {
    close_event_on_teardown(Teardown::Crash).await;
}

/// PORT-CLOSE-EVENT-TEARDOWN: peer worker terminated.
#[actix_rt::test]
async fn port_close_event_when_peer_worker_terminated() {
    close_event_on_teardown(Teardown::TerminateWorker).await;
}

/// PORT-CLOSE-EVENT-TEARDOWN: peer worker closed itself.
#[actix_rt::test]
async fn port_close_event_when_peer_worker_closes_itself() {
    close_event_on_teardown(Teardown::WorkerCloses).await;
}

/// PORT-CLOSE-EVENT-TEARDOWN: the peer's top-level window is closed.
#[actix_rt::test]
async fn port_close_event_when_peer_window_closed() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let survivor = browser.open("https://a.example/").unwrap();
    let doomed = browser.open("https://b.example/").unwrap();
    // Two browsing-context groups (two threads); port1 crosses by a window message.
    let doomed_proxy = doomed.proxy().clone();
    doomed
        .run(|scope| {
            scope.on_message(|scope: &Scope, e: &MessageEvent| {
                let p = e.ports()[0].clone();
                p.post_message(&Value::from("hello"), &[]).unwrap();
                keep(scope, &[p]);
            });
        })
        .await
        .unwrap();
    let t = tx.clone();
    survivor
        .run(move |scope| {
            let (p1, p2) = scope.message_channel().into_ports();
            p2.on_message(reporter(&t, "p2"));
            p2.on_close(reporter(&t, "p2"));
            doomed_proxy
                .post_message(scope, &Value::Null, "*", &[p1.to_value()])
                .unwrap();
            keep(scope, &[p2]);
        })
        .await
        .unwrap();
    expect(&mut rx, &["p2:hello"]).await;
    doomed.close();
    expect(&mut rx, &["p2:close"]).await;
    survivor.settle().await.unwrap();
    assert!(rx.try_recv().is_err());
    browser.shutdown();
}

// ----- lifetime (item 5) -----

/// Lifetime: dropping every handle of a port with no listener closes it (its peer gets
/// `close`), as garbage collection would; a port with a listener and no handle keeps
/// working while its realm lives; closed ports leave the realm's table.
#[actix_rt::test]
async fn lifetime_dropped_handles_close_listener_keeps_alive() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let w = browser.open("https://a.example/").unwrap();
    let t = tx.clone();
    w.run(move |scope| {
        // 1. No listener, every handle dropped: the peer gets close.
        let (a1, a2) = scope.message_channel().into_ports();
        a2.on_close(reporter(&t, "a2"));
        a2.on_message(reporter(&t, "a2"));
        a1.post_message(&Value::from("before drop"), &[]).unwrap();
        drop(a1);
        // 2. A listener and no handle: keeps working.
        let (b1, b2) = scope.message_channel().into_ports();
        b2.on_message(reporter(&t, "b2"));
        drop(b2);
        keep(scope, &[b1]);
        // a2 is kept by its listeners (close listener and onmessage).
        drop(a2);
    })
    .await
    .unwrap();
    expect(&mut rx, &["a2:before drop", "a2:close"]).await;
    let t = tx.clone();
    w.run(move |scope| {
        kept(scope, 0)
            .post_message(&Value::from("still alive"), &[])
            .unwrap();
        let _ = t;
    })
    .await
    .unwrap();
    expect(&mut rx, &["b2:still alive"]).await;
    // Closing b1 releases both b ports: only nothing is left in the table (a2 released
    // after its close event, b2 after its close event, b1 by close()).
    w.run(|scope| kept(scope, 0).close()).await.unwrap();
    w.settle().await.unwrap();
    let n = w.run(|scope| scope.live_port_count()).await.unwrap();
    assert_eq!(n, 0, "ports left in the realm's table");
    browser.shutdown();
}

/// Lifetime: creating and closing 1M channels in a realm leaves memory flat. Counted on
/// the window's thread by the test binary's counting allocator, in 10 tasks of 100k so
/// the event loop runs in between.
#[actix_rt::test]
async fn lifetime_one_million_channels_memory_flat() {
    let browser = Browser::new();
    let w = browser.open("https://a.example/").unwrap();
    const BATCHES: usize = 10;
    const PER_BATCH: usize = 100_000;
    let churn = |scope: &Scope, n: usize| {
        for i in 0..n {
            let ch = scope.message_channel();
            if i % 2 == 0 {
                ch.port1().post_message(&Value::from(1), &[]).unwrap();
                ch.port1().close();
            } else {
                // A listener, then close: the listener goes with the close.
                ch.port2().on_message(|_s: &Scope, _e: &MessageEvent| {});
                ch.port2().close();
            }
        }
    };
    // Warm up (hash table capacity, thread-local caches).
    w.run(move |scope| churn(scope, 1000)).await.unwrap();
    w.settle().await.unwrap();
    let before = w.run(|_| live_bytes_on_this_thread()).await.unwrap();
    let mut max_growth = 0isize;
    for _ in 0..BATCHES {
        w.run(move |scope| churn(scope, PER_BATCH)).await.unwrap();
        w.settle().await.unwrap();
        let now = w.run(|_| live_bytes_on_this_thread()).await.unwrap();
        max_growth = max_growth.max(now - before);
    }
    let after = w.run(|_| live_bytes_on_this_thread()).await.unwrap();
    let ports = w.run(|scope| scope.live_port_count()).await.unwrap();
    assert_eq!(ports, 0);
    // 1M channels of a few hundred bytes each would be hundreds of MB: allow 64 KiB of
    // noise (hash table growth, allocator bookkeeping of other tasks on this thread).
    assert!(
        after - before < 64 * 1024 && max_growth < 64 * 1024,
        "live bytes grew by {} (max {max_growth}) over 1M channels",
        after - before
    );
    browser.shutdown();
}

/// Posting on a closed, transferred or unentangled port does nothing, silently, and
/// `start()`/`close()` on them are no-ops (issue 4 item 1).
#[actix_rt::test]
async fn posting_on_dead_ports_is_silent() {
    let browser = Browser::new();
    let w = browser.open("https://a.example/").unwrap();
    let ok = w
        .run(|scope| {
            let (p1, p2) = scope.message_channel().into_ports();
            let (q1, q2) = scope.message_channel().into_ports();
            let moved = scope
                .structured_clone(&q1.to_value(), &[q1.to_value()])
                .unwrap();
            p1.close();
            let r = [
                p1.post_message(&Value::from(1), &[]).is_ok(),
                p2.post_message(&Value::from(1), &[]).is_ok(),
                q1.post_message(&Value::from(1), &[]).is_ok(),
                p2.post(&"typed").is_ok(),
                !p1.is_active(),
                !p2.is_entangled(),
                !q1.is_active(),
                q2.is_entangled(),
            ];
            p1.start();
            p1.close();
            q1.close();
            drop(moved);
            r
        })
        .await
        .unwrap();
    assert_eq!(ok, [true; 8]);
    browser.shutdown();
}

/// `on_message_as` reads typed data; data of the wrong shape fires `messageerror` at the
/// port instead (and the port goes on).
#[actix_rt::test]
async fn typed_port_listener_and_messageerror() {
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Msg {
        seq: u32,
    }
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let _w = browser
        .open_with("https://a.example/", move |scope: &Scope| {
            let (p1, p2) = scope.message_channel().into_ports();
            let t = tx.clone();
            p2.on_message_as(move |_s: &Scope, _e: &MessageEvent, m: Msg| {
                send(&t, format!("seq {}", m.seq))
            });
            p2.on_message_error(reporter(&tx, "error"));
            p1.post(&Msg { seq: 1 }).unwrap();
            p1.post(&"not a Msg").unwrap();
            p1.post(&Msg { seq: 2 }).unwrap();
            keep(scope, &[p1]);
        })
        .unwrap();
    expect(&mut rx, &["seq 1", "error:null", "seq 2"]).await;
    browser.shutdown();
}
