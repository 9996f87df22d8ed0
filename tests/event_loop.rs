//! The event-loop kernel seen from script: task sources and their order, the unshipped
//! port message queue, timers, the microtask checkpoint, fairness, asynchronous
//! navigation and its lifecycle events, `window.open`/`opener`/`frames`, and teardown
//! that neither recurses nor escapes supervision.

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use common::{recv, send, Rx, Tx};
use tokio::sync::mpsc;
use webmessaging::prelude::*;
use webmessaging::{EventTarget, Script};

fn channel() -> (Tx, Rx) {
    mpsc::unbounded_channel::<String>()
}

/// Nothing more arrives within `ms`.
async fn quiet(rx: &mut Rx, ms: u64) {
    let r = tokio::time::timeout(Duration::from_millis(ms), rx.recv()).await;
    assert!(r.is_err(), "unexpected report: {r:?}");
}

/// The seed's unshipped port message queue: never-shipped ports of one event loop act as
/// ONE task source, in the order their tasks were added: 'a' on channel 1, 'b' on channel
/// 2, 'c' on channel 1 dispatch a, b, c.
#[actix_rt::test]
async fn unshipped_ports_are_one_task_source_in_post_order() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let _w = browser
        .open_with("https://a.example/", move |scope: &Scope| {
            let c1 = scope.message_channel();
            let c2 = scope.message_channel();
            for (c, name) in [(&c1, "ch1"), (&c2, "ch2")] {
                let t = tx.clone();
                c.port2().on_message(move |_s: &Scope, e: &MessageEvent| {
                    send(&t, format!("{name}:{}", e.data_as::<String>().unwrap()));
                });
            }
            c1.port1().post("a").unwrap();
            c2.port1().post("b").unwrap();
            c1.port1().post("c").unwrap();
            scope.set_global((c1, c2));
        })
        .unwrap();
    for want in ["ch1:a", "ch2:b", "ch1:c"] {
        assert_eq!(recv(&mut rx).await, want);
    }
    browser.shutdown();
}

/// A burst on one port interleaved with another port's message keeps post order across
/// both; and a port transferred by its own listener in the middle of a burst takes every
/// message it had not run yet with it: each arrives once, in order, at the new owner.
#[actix_rt::test]
async fn bursts_keep_post_order_and_move_whole_with_a_transfer() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let _w = browser
        .open_with(
            "https://a.example/",
            move |scope: &Scope| -> webmessaging::Result<()> {
                let worker_tx = tx.clone();
                let worker =
                    scope.spawn_worker_with("https://a.example/w.js", move |w: &Scope| {
                        let t = worker_tx.clone();
                        w.on_message(move |_w: &Scope, e: &MessageEvent| {
                            let t = t.clone();
                            e.ports()[0].on_message_as(
                                move |_: &Scope, _: &MessageEvent, n: u32| {
                                    send(&t, format!("worker:{n}"));
                                },
                            );
                        });
                    })?;
                let (burst, other) = (scope.message_channel(), scope.message_channel());
                let t = tx.clone();
                other
                    .port2()
                    .on_message_as(move |_: &Scope, _: &MessageEvent, n: u32| {
                        send(&t, format!("other:{n}"));
                    });
                let (t, port2) = (tx.clone(), burst.port2().clone());
                burst
                    .port2()
                    .on_message_as(move |_: &Scope, _: &MessageEvent, n: u32| {
                        send(&t, format!("page:{n}"));
                        if n == 12 {
                            // Mid-burst: the rest of the burst goes with the port.
                            worker
                                .post_with_transfer(&"port", &[port2.to_value()])
                                .unwrap();
                        }
                    });
                for n in 0..10 {
                    burst.port1().post(&n)?;
                }
                other.port1().post(&100u32)?;
                for n in 10..20 {
                    burst.port1().post(&n)?;
                }
                scope.set_global((burst, other));
                Ok(())
            },
        )
        .unwrap();
    let mut want: Vec<String> = (0..10).map(|n| format!("page:{n}")).collect();
    want.push("other:100".into());
    want.extend((10..13).map(|n| format!("page:{n}")));
    let mut got = Vec::new();
    for _ in 0..want.len() {
        got.push(recv(&mut rx).await);
    }
    assert_eq!(got, want);
    for n in 13..20 {
        assert_eq!(recv(&mut rx).await, format!("worker:{n}"));
    }
    quiet(&mut rx, 100).await;
    browser.shutdown();
}

/// A disabled port's tasks keep the place they were added at: started later, its message
/// posted first still runs before a message posted after it on another (enabled) port, if
/// that one has not run yet.
#[actix_rt::test]
async fn a_started_port_keeps_the_order_its_tasks_were_added_in() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let _w = browser
        .open_with("https://a.example/", move |scope: &Scope| {
            let late = scope.message_channel();
            let early = scope.message_channel();
            let t = tx.clone();
            early
                .port2()
                .on_message(move |_s: &Scope, e: &MessageEvent| {
                    send(&t, format!("early:{}", e.data_as::<String>().unwrap()));
                });
            // Posted while `late.port2` is not started yet.
            late.port1().post("x").unwrap();
            early.port1().post("y").unwrap();
            late.port1().post("z").unwrap();
            let t = tx.clone();
            late.port2().add_event_listener(
                EventType::Message,
                move |_s: &Scope, e: &MessageEvent| {
                    send(&t, format!("late:{}", e.data_as::<String>().unwrap()));
                },
            );
            late.port2().start();
            scope.set_global((late, early));
        })
        .unwrap();
    for want in ["late:x", "early:y", "late:z"] {
        assert_eq!(recv(&mut rx).await, want);
    }
    browser.shutdown();
}

/// A shipped port's queue is a task source of its own: a channel whose port went to an
/// iframe and back still delivers in order, and its messages do not wait behind the
/// unshipped queue's order.
#[actix_rt::test]
async fn shipped_port_queue_is_its_own_source_and_stays_fifo() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let _w = browser
        .open_with("https://a.example/", move |scope: &Scope| {
            let c = scope.message_channel();
            // Shipping through structuredClone sets the has-been-shipped flag.
            let back = scope
                .structured_clone(&c.port2().to_value(), &[c.port2().to_value()])
                .unwrap();
            let p2 = MessagePort::from_value(&back).unwrap();
            let t = tx.clone();
            p2.on_message(move |_s: &Scope, e: &MessageEvent| {
                send(&t, format!("shipped:{}", e.data_as::<u32>().unwrap()));
            });
            for i in 0..5u32 {
                c.port1().post(&i).unwrap();
            }
            scope.set_global((c, p2));
        })
        .unwrap();
    for i in 0..5 {
        assert_eq!(recv(&mut rx).await, format!("shipped:{i}"));
    }
    browser.shutdown();
}

/// Microtasks run at the checkpoint after the task that queued them, before any other
/// task, in order, including microtasks queued by microtasks.
#[actix_rt::test]
async fn microtask_checkpoint_after_each_task() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let _w = browser
        .open_with("https://a.example/", move |scope: &Scope| {
            let t = tx.clone();
            scope.on_message(move |scope: &Scope, e: &MessageEvent| {
                let d = e.data_as::<String>().unwrap();
                send(&t, format!("task {d}"));
                let t2 = t.clone();
                let d2 = d.clone();
                scope.queue_microtask(move |scope: &Scope| {
                    send(&t2, format!("micro {d2}"));
                    let t3 = t2.clone();
                    scope.queue_microtask(move |_s: &Scope| send(&t3, format!("nested {d2}")));
                });
            });
            scope.post("one").unwrap();
            scope.post("two").unwrap();
        })
        .unwrap();
    for want in [
        "task one",
        "micro one",
        "nested one",
        "task two",
        "micro two",
        "nested two",
    ] {
        assert_eq!(recv(&mut rx).await, want);
    }
    browser.shutdown();
}

/// Timer initialisation step 5: past nesting level 5, a timeout under 4 ms waits 4 ms.
/// A chain of ten 0 ms timeouts, each set from the previous one's callback: the last four
/// are nested deeper than 5, so the chain takes at least 16 ms.
#[actix_rt::test]
async fn deeply_nested_zero_timeouts_are_clamped() {
    fn chain(scope: &Scope, left: u32, start: std::time::Instant, tx: Tx) {
        if left == 0 {
            send(&tx, format!("{}", start.elapsed().as_millis()));
            return;
        }
        scope.set_timeout(Duration::ZERO, move |s: &Scope| {
            chain(s, left - 1, start, tx)
        });
    }
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let _w = browser
        .open_with("https://a.example/", move |scope: &Scope| {
            chain(scope, 10, std::time::Instant::now(), tx.clone());
        })
        .unwrap();
    let ms: u128 = recv(&mut rx).await.parse().unwrap();
    assert!(ms >= 16, "ten nested 0 ms timeouts took {ms} ms");
    browser.shutdown();
}

/// Timers: deadline order (ties in set order), clearTimeout, intervals until cleared.
#[actix_rt::test]
async fn timers_order_cancellation_and_intervals() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let _w = browser
        .open_with("https://a.example/", move |scope: &Scope| {
            let ms = Duration::from_millis;
            let t = tx.clone();
            scope.set_timeout(ms(30), move |_s: &Scope| send(&t, "30ms"));
            let t = tx.clone();
            scope.set_timeout(ms(10), move |_s: &Scope| send(&t, "10ms a"));
            let t = tx.clone();
            scope.set_timeout(ms(10), move |_s: &Scope| send(&t, "10ms b"));
            let t = tx.clone();
            let cancelled = scope.set_timeout(ms(5), move |_s: &Scope| send(&t, "cancelled"));
            scope.clear_timeout(cancelled);
            let t = tx.clone();
            let n = Rc::new(Cell::new(0));
            let id = Rc::new(Cell::new(None));
            let id2 = id.clone();
            let interval = scope.set_interval(ms(40), move |scope: &Scope| {
                n.set(n.get() + 1);
                send(&t, format!("tick {}", n.get()));
                if n.get() == 3 {
                    scope.clear_interval(id2.get().unwrap());
                }
            });
            id.set(Some(interval));
            assert!(interval.0 > 0);
        })
        .unwrap();
    for want in ["10ms a", "10ms b", "30ms", "tick 1", "tick 2", "tick 3"] {
        assert_eq!(recv(&mut rx).await, want);
    }
    quiet(&mut rx, 150).await;
    browser.shutdown();
}

/// A ping-pong over a port (same thread) does not starve a 0 ms timeout.
#[actix_rt::test]
async fn ping_pong_does_not_starve_a_zero_timeout() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let _w = browser
        .open_with("https://a.example/", move |scope: &Scope| {
            let c = scope.message_channel();
            let (p1, p2) = (c.port1().clone(), c.port2().clone());
            let back = p1.clone();
            p2.on_message(move |_s: &Scope, _e: &MessageEvent| {
                back.post(&0u8).unwrap();
            });
            let fwd = p2.clone();
            let stop = Rc::new(Cell::new(false));
            let s2 = stop.clone();
            p1.on_message(move |_s: &Scope, _e: &MessageEvent| {
                if !s2.get() {
                    fwd.post(&0u8).unwrap();
                }
            });
            p1.post(&0u8).unwrap();
            let t = tx.clone();
            scope.set_timeout(Duration::ZERO, move |_s: &Scope| {
                stop.set(true);
                send(&t, "timeout ran");
            });
            scope.set_global(c);
        })
        .unwrap();
    assert_eq!(recv(&mut rx).await, "timeout ran");
    browser.shutdown();
}

/// Fairness: an iframe posting to itself in a loop does not starve the other realms of
/// its event loop (sibling iframes) nor other top-level windows, and the loop ends with
/// `Browser::shutdown`.
#[actix_rt::test]
async fn a_self_posting_loop_does_not_starve_other_realms() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let t = tx.clone();
    let top = browser
        .open_with("https://a.example/", move |scope: &Scope| {
            let looping = script(|scope: &Scope| {
                scope.on_message(|scope: &Scope, _e: &MessageEvent| {
                    scope
                        .window_post_message(&Value::from("again"), "*", &[])
                        .unwrap();
                });
                scope
                    .window_post_message(&Value::from("go"), "*", &[])
                    .unwrap();
            });
            scope
                .create_iframe_with(
                    "https://loop.example/",
                    IframeOptions {
                        script: Some(looping),
                        ..Default::default()
                    },
                )
                .unwrap();
            for i in 0..5 {
                scope
                    .create_iframe(&format!("https://sibling{i}.example/"))
                    .unwrap();
            }
            send(&t, "created");
        })
        .unwrap();
    assert_eq!(recv(&mut rx).await, "created");
    let others: Vec<WindowHandle> = (0..5)
        .map(|i| browser.open(&format!("https://other{i}.example/")).unwrap())
        .collect();
    let siblings = top
        .run(|scope: &Scope| scope.iframes()[1..].to_vec())
        .await
        .unwrap();
    // 10 probe tasks: 5 siblings in the looping iframe's event loop, 5 other windows.
    let mut probes = Vec::new();
    for s in &siblings {
        probes.push(browser.handle(s));
    }
    probes.extend(others);
    for p in &probes {
        let name = tokio::time::timeout(Duration::from_secs(3), p.run(|s: &Scope| s.name()))
            .await
            .expect("a probe task ran within 3 s")
            .unwrap();
        assert!(!name.is_empty());
    }
    browser.shutdown();
    // The looping iframe's window is closed with its group.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(siblings.iter().all(|s| s.closed()));
}

/// Asynchronous navigation: `pagehide` then `unload` at the old document, `load` at the
/// new one, then `load` at the iframe element in the parent; the old document's timers
/// are cleared; the proxy shows the old document until the new one exists.
#[actix_rt::test]
async fn navigation_lifecycle_events_in_order() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let lifecycle = |tx: Tx, label: &'static str| {
        script(move |scope: &Scope| {
            for ty in [EventType::Load, EventType::PageHide, EventType::Unload] {
                let t = tx.clone();
                scope.add_event_listener(ty, move |_s: &Scope, e: &MessageEvent| {
                    send(&t, format!("{label} {}", e.event_type()));
                });
            }
            if label == "first" {
                let t = tx.clone();
                scope.set_timeout(Duration::from_millis(60), move |_s: &Scope| {
                    send(&t, "stale timer fired")
                });
            }
        })
    };
    browser
        .route("https://b.example/", {
            let s = lifecycle(tx.clone(), "first");
            move |scope: &Scope| s(scope)
        })
        .unwrap();
    browser
        .route("https://c.example/", {
            let s = lifecycle(tx.clone(), "second");
            move |scope: &Scope| s(scope)
        })
        .unwrap();
    let t = tx.clone();
    let top = browser
        .open_with("https://a.example/", move |scope: &Scope| {
            let t = t.clone();
            scope.on_iframe_load(move |_s: &Scope, e: &MessageEvent| {
                if let Some(EventTarget::Iframe(w)) = e.target() {
                    send(&t, format!("iframe load {}", w.current_url()));
                }
            });
            let f = scope.create_iframe("https://b.example/").unwrap();
            scope.set_global(f);
        })
        .unwrap();
    assert_eq!(recv(&mut rx).await, "first load");
    assert_eq!(recv(&mut rx).await, "iframe load https://b.example/");
    let serials = top
        .run(|scope: &Scope| {
            let f = scope.global::<WindowProxy>().unwrap();
            let before = f.document_serial();
            f.navigate("https://c.example/").unwrap();
            (before, f.document_serial(), f.current_url().to_string())
        })
        .await
        .unwrap();
    assert_eq!(
        serials.0, serials.1,
        "the old document stays until the new one exists"
    );
    assert_eq!(serials.2, "https://b.example/");
    for want in [
        "first pagehide",
        "first unload",
        "second load",
        "iframe load https://c.example/",
    ] {
        assert_eq!(recv(&mut rx).await, want);
    }
    quiet(&mut rx, 150).await;
    browser.shutdown();
}

/// A document's load runs exactly once however navigations race: of several navigations
/// queued before any runs, only the last creates a document.
#[actix_rt::test]
async fn racing_navigations_load_one_document_once() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    for i in 0..5 {
        let t = tx.clone();
        browser
            .route(&format!("https://n{i}.example/"), move |scope: &Scope| {
                send(&t, format!("loaded {} #{}", scope.url(), scope.name()));
            })
            .unwrap();
    }
    let t = tx.clone();
    browser
        .route("https://start.example/", move |_s: &Scope| {
            send(&t, "start")
        })
        .unwrap();
    let top = browser.open("https://start.example/").unwrap();
    assert_eq!(recv(&mut rx).await, "start");
    let h = top.clone();
    top.run(move |_s: &Scope| {
        for i in 0..5 {
            h.navigate(&format!("https://n{i}.example/")).unwrap();
        }
    })
    .await
    .unwrap();
    let got = recv(&mut rx).await;
    assert!(got.starts_with("loaded https://n4.example/"), "{got}");
    quiet(&mut rx, 150).await;
    browser.shutdown();
}

/// `window.open(url, name)`: a top-level window in the opener's group whose `opener` is
/// the caller; the same name again navigates that window; `frames` lists child browsing
/// contexts, cross-origin ones too; a window posts to itself with any target origin.
#[actix_rt::test]
async fn open_opener_frames_and_self_post() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let t = tx.clone();
    browser
        .route("https://popup.example/", move |scope: &Scope| {
            let opener = scope.opener().expect("an opener");
            send(&t, format!("popup opened by {}", opener.current_url()));
            opener
                .post_message(scope, &Value::from("hi opener"), "https://a.example", &[])
                .unwrap();
        })
        .unwrap();
    let t = tx.clone();
    let top = browser
        .open_with("https://a.example/", move |scope: &Scope| {
            let t2 = t.clone();
            scope.on_message(move |_s: &Scope, e: &MessageEvent| {
                send(&t2, format!("top got {}", e.data().as_str().unwrap_or("?")));
            });
            scope.create_iframe("https://x.example/").unwrap();
            scope.create_iframe("https://a.example/inner").unwrap();
            let popup = scope.open("https://popup.example/", "pay").unwrap();
            assert!(popup.is_top_level());
            assert_eq!(popup.opener(), scope.window());
            assert_eq!(popup.name(), "pay");
            // The same name again reuses (and navigates) that window.
            let again = scope.open("https://popup.example/", "pay").unwrap();
            assert_eq!(again, popup);
            scope
                .window_post_message(&Value::from("to myself"), "https://a.example", &[])
                .unwrap();
            scope
                .window_post_message(&Value::from("dropped"), "https://elsewhere.example", &[])
                .unwrap();
            assert!(scope
                .window_post_message(&Value::Null, "not a url", &[])
                .is_err());
        })
        .unwrap();
    let mut got = Vec::new();
    for _ in 0..5 {
        match tokio::time::timeout(Duration::from_secs(3), rx.recv()).await {
            Ok(Some(m)) => got.push(m),
            _ => panic!("got only {got:?}"),
        }
    }
    got.sort();
    assert_eq!(
        got,
        [
            "popup opened by https://a.example/",
            "popup opened by https://a.example/",
            "top got hi opener",
            "top got hi opener",
            "top got to myself",
        ]
    );
    let frames: Vec<String> = top
        .proxy()
        .frames()
        .iter()
        .map(|f| f.current_url().to_string())
        .collect();
    assert_eq!(frames, ["https://x.example/", "https://a.example/inner"]);
    quiet(&mut rx, 100).await;
    browser.shutdown();
}

/// Teardown is iterative: closing a window with 10,000 nested iframes does not overflow
/// the stack.
#[actix_rt::test]
async fn closing_ten_thousand_nested_iframes() {
    const DEPTH: u32 = 10_000;
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let t = tx.clone();
    let nest: Script = script(move |scope: &Scope| {
        let depth: u32 = scope.url().path()[1..].parse().unwrap_or(0);
        if depth == DEPTH {
            send(&t, "deepest loaded");
            return;
        }
        scope
            .create_iframe(&format!("https://nest.example/{}", depth + 1))
            .unwrap();
    });
    let n2 = nest.clone();
    browser
        .route("https://nest.example/", move |s: &Scope| n2(s))
        .unwrap();
    for d in 1..=DEPTH {
        let n = nest.clone();
        browser
            .route(&format!("https://nest.example/{d}"), move |s: &Scope| n(s))
            .unwrap();
    }
    let top = browser.open("https://nest.example/").unwrap();
    tokio::time::timeout(Duration::from_secs(60), rx.recv())
        .await
        .expect("the deepest iframe loaded")
        .unwrap();
    top.close();
    let closed = browser
        .wait_lifecycle(Duration::from_millis(300), |_| false)
        .await;
    assert!(closed.is_none());
    assert!(top.proxy().closed());
    browser.shutdown();
}

/// A panic in teardown (a global's destructor) is a crash of that realm, seen by its
/// supervisor: the iframe navigates, its old document's global panics when dropped, the
/// crash is recorded, and the new document still loads.
#[actix_rt::test]
async fn panic_in_teardown_is_a_crash_seen_by_the_supervisor() {
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("destructor bomb");
        }
    }
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let t = tx.clone();
    browser
        .route("https://bomb.example/", move |scope: &Scope| {
            scope.set_global(Bomb);
            send(&t, "bomb loaded");
        })
        .unwrap();
    let t = tx.clone();
    browser
        .route("https://after.example/", move |_s: &Scope| {
            send(&t, "after loaded")
        })
        .unwrap();
    let top = browser
        .open_with("https://a.example/", |scope: &Scope| {
            let f = scope.create_iframe("https://bomb.example/").unwrap();
            scope.set_global(f);
        })
        .unwrap();
    assert_eq!(recv(&mut rx).await, "bomb loaded");
    top.run(|scope: &Scope| {
        scope
            .global::<WindowProxy>()
            .unwrap()
            .navigate("https://after.example/")
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(recv(&mut rx).await, "after loaded");
    let crash = browser
        .wait_lifecycle(Duration::from_secs(5), |e| {
            matches!(e, LifecycleEvent::Crashed { message, .. } if message.contains("destructor bomb"))
        })
        .await;
    assert!(crash.is_some(), "{:?}", browser.lifecycle_events());
    browser.shutdown();
}
