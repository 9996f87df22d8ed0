//! The bound over every message task of one event loop (issue 14,
//! `Limits::max_queued_per_event_loop`): window messages, messages between a worker and
//! its creator and broadcast deliveries, from any sender, share one bound per loop;
//! what it refuses is dropped at post time, counted and never delivered late, and what
//! it admits arrives in order.

use std::cell::RefCell;
use std::time::Duration;

mod common;

use common::{recv, Tx};
use tokio::sync::mpsc;
use webmessaging::kernel::metrics::OVER_LOOP_BOUND;
use webmessaging::prelude::*;
use webmessaging::Limits;

fn bound(n: usize) -> Limits {
    Limits {
        max_queued_per_event_loop: Some(n),
        ..Limits::default()
    }
}

type Got = RefCell<Vec<u32>>;

/// Keeps the numbers received as window messages in the realm's `Got`.
fn collect_window_messages(s: &Scope) {
    let got = s.set_global(Got::default());
    s.on_message_as(move |_: &Scope, _: &MessageEvent, n: u32| got.borrow_mut().push(n));
}

fn taken(s: &Scope) -> Vec<u32> {
    s.global::<Got>().expect("Got").take()
}

/// Waits (up to a minute) until what `page` received plus what its loop refused is
/// `sent`; returns the numbers received and the metrics.
async fn settled(
    page: &WindowHandle,
    sent: u32,
) -> (Vec<u32>, webmessaging::kernel::MetricsSnapshot) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        page.settle().await.unwrap();
        let got = page
            .run(|s: &Scope| s.global::<Got>().unwrap().borrow().clone())
            .await
            .unwrap();
        let m = page.metrics();
        if got.len() as u64 + m.event_loop.refused == u64::from(sent) {
            return (got, m);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} + {m:?} != {sent}",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One task posts 10,000 window messages to its own window: none can run before the
/// task ends, so exactly the first 1,000 queue, in order, and the other 9,000 are
/// refused at post time and counted by the context and by its loop.
#[actix_rt::test]
async fn a_burst_past_the_bound_is_refused_at_post_time() {
    let browser = Browser::new();
    browser.set_limits(bound(1_000));
    let page = browser
        .open_with("https://app.example/", collect_window_messages)
        .unwrap();
    page.run(|s: &Scope| {
        for i in 0..10_000u32 {
            s.post(&i).unwrap();
        }
    })
    .await
    .unwrap();
    page.settle().await.unwrap();
    let got = page.run(taken).await.unwrap();
    assert_eq!(got, (0..1_000).collect::<Vec<_>>());
    let m = page.metrics();
    assert_eq!(m.dropped.get(OVER_LOOP_BOUND), Some(&9_000), "{m:?}");
    assert_eq!(m.over_quota, 9_000);
    assert_eq!(m.event_loop.refused, 9_000);
    assert_eq!(m.event_loop.peak, 1_000);
    assert_eq!(m.event_loop.queued, 0, "every admitted task ran");
    assert_eq!(
        m.queued, 0,
        "the refused ones left no trace in the context's count"
    );
    // Room again once the queue drained: the bound is on what waits, not a budget.
    page.run(|s: &Scope| s.post(&7u32).unwrap()).await.unwrap();
    page.settle().await.unwrap();
    assert_eq!(page.run(taken).await.unwrap(), [7]);
    browser.shutdown();
}

/// The realms of one browsing-context group share their loop's bound: a page posting
/// 600 to itself and then 600 to its cross-origin iframe, in one task, gets 600 and 400
/// through; the iframe's context counts the 200 refused.
#[actix_rt::test]
async fn the_realms_of_one_loop_share_its_bound() {
    let browser = Browser::new();
    browser
        .route("https://widget.example/", collect_window_messages)
        .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let page = browser
        .open_with("https://app.example/", move |s: &Scope| {
            collect_window_messages(s);
            let frame = s.create_iframe("https://widget.example/").unwrap();
            s.set_global(frame);
            let _ = tx.send("framed".into());
        })
        .unwrap();
    assert_eq!(recv(&mut rx).await, "framed");
    page.settle().await.unwrap();
    browser.set_limits(bound(1_000));
    page.run(|s: &Scope| {
        let frame = s.global::<WindowProxy>().unwrap();
        for i in 0..600u32 {
            s.post(&i).unwrap();
        }
        for i in 0..600u32 {
            frame.post(s, &i, "*").unwrap();
        }
    })
    .await
    .unwrap();
    page.settle().await.unwrap();
    assert_eq!(page.run(taken).await.unwrap(), (0..600).collect::<Vec<_>>());
    let frame = page
        .run(|s: &Scope| (*s.global::<WindowProxy>().unwrap()).clone())
        .await
        .unwrap();
    let m = frame.metrics();
    assert_eq!(m.dropped.get(OVER_LOOP_BOUND), Some(&200), "{m:?}");
    assert_eq!(m.event_loop.refused, 200);
    assert_eq!(
        m.event_loop,
        page.metrics().event_loop,
        "one loop, one load"
    );
    browser.shutdown();
}

/// A runaway worker posting 50,000 messages to a page that is busy: the page's loop
/// never holds more than the bound, the messages that got in arrive in order, and
/// received + refused = sent.
#[actix_rt::test]
async fn a_runaway_worker_is_bounded_by_its_creators_loop() {
    const SENT: u32 = 50_000;
    let browser = Browser::new();
    browser.set_limits(bound(1_000));
    let page = browser
        .open_with("https://app.example/", move |s: &Scope| {
            let got = s.set_global(Got::default());
            let worker = s
                .spawn_worker_with("https://app.example/w.js", |w: &Scope| {
                    w.on_message(|w: &Scope, _: &MessageEvent| {
                        for i in 0..SENT {
                            w.post(&i).unwrap();
                        }
                        w.post(&u32::MAX).unwrap();
                    });
                })
                .unwrap();
            worker.on_message(move |_: &Scope, e: &MessageEvent| {
                let n: u32 = e.data_as().unwrap();
                if got.borrow().is_empty() {
                    // Busy: the worker's posts pile up meanwhile.
                    std::thread::sleep(Duration::from_millis(300));
                }
                got.borrow_mut().push(n);
            });
            worker.post(&"go").unwrap();
            s.set_global(worker);
        })
        .unwrap();
    // The last one may be refused too, so wait until every post is accounted for.
    let (got, m) = settled(&page, SENT + 1).await;
    assert!(got.windows(2).all(|w| w[0] < w[1]), "in order");
    assert!(
        got.len() >= 1_000,
        "the bound's worth at least: {}",
        got.len()
    );
    assert!(m.event_loop.refused > 0, "{m:?}");
    assert!(m.event_loop.peak <= 1_000, "{m:?}");
    browser.shutdown();
}

/// A page flooding its worker: the worker's own loop holds at most the bound, and its
/// load (read from the `Worker` object) counts what was refused.
#[actix_rt::test]
async fn a_flood_into_a_worker_is_bounded_by_the_workers_loop() {
    const SENT: u32 = 20_000;
    let browser = Browser::new();
    browser.set_limits(bound(500));
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let page = browser
        .open_with("https://app.example/", move |s: &Scope| {
            let t: Tx = tx.clone();
            let worker = s
                .spawn_worker_with("https://app.example/w.js", move |w: &Scope| {
                    let seen = w.set_global(RefCell::new((0u32, true)));
                    let t = t.clone();
                    w.on_message(move |_: &Scope, e: &MessageEvent| {
                        let n: u32 = e.data_as().unwrap();
                        let mut s = seen.borrow_mut();
                        if n == u32::MAX {
                            let _ = t.send(format!("{} {}", s.0, s.1));
                            return;
                        }
                        if s.0 == 0 {
                            std::thread::sleep(Duration::from_millis(300));
                        }
                        s.1 &= n >= s.0;
                        s.0 += 1;
                    });
                    let _ = w.post(&"ready");
                })
                .unwrap();
            let t = tx.clone();
            worker.on_message(move |_: &Scope, _: &MessageEvent| {
                let _ = t.send("ready".into());
            });
            s.set_global(worker);
        })
        .unwrap();
    assert_eq!(recv(&mut rx).await, "ready");
    page.run(|s: &Scope| {
        let w = s.global::<Worker>().unwrap();
        for i in 0..SENT {
            w.post(&i).unwrap();
        }
    })
    .await
    .unwrap();
    // Room again for the report request once the worker drained.
    let load = loop {
        let l = page
            .run(|s: &Scope| s.global::<Worker>().unwrap().event_loop_load())
            .await
            .unwrap();
        if l.queued == 0 {
            break l;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    page.run(|s: &Scope| s.global::<Worker>().unwrap().post(&u32::MAX).unwrap())
        .await
        .unwrap();
    let report = recv(&mut rx).await;
    let (count, in_order) = report.split_once(' ').unwrap();
    let count: u64 = count.parse().unwrap();
    assert_eq!(in_order, "true");
    assert!(load.refused > 0 && load.peak <= 500, "{load:?}");
    assert_eq!(count + load.refused, u64::from(SENT), "{load:?}");
    browser.shutdown();
}

/// Broadcast deliveries count one task per destination loop: a tab that is busy while
/// another posts 5,000 broadcasts gets the ones its loop's bound admitted, in order, and
/// its loop counts the rest.
#[actix_rt::test]
async fn broadcasts_into_a_busy_loop_are_bounded() {
    const SENT: u32 = 5_000;
    let browser = Browser::new();
    browser.set_limits(bound(1_000));
    let listener = browser
        .open_with("https://app.example/a", |s: &Scope| {
            let got = s.set_global(Got::default());
            let c = s.broadcast_channel("news");
            c.on_message(move |_: &Scope, e: &MessageEvent| {
                got.borrow_mut().push(e.data_as().unwrap());
            });
            s.set_global(c);
        })
        .unwrap();
    listener.settle().await.unwrap();
    let sender = browser.open("https://app.example/b").unwrap();
    // The listener's loop is busy for a while ...
    let l = listener.clone();
    let busy = async move {
        l.run(|_: &Scope| std::thread::sleep(Duration::from_millis(1_000)))
            .await
    };
    let post = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        // ... while the other tab posts.
        sender
            .run(|s: &Scope| {
                let c = s.broadcast_channel("news");
                for i in 0..SENT {
                    c.post(&i).unwrap();
                }
            })
            .await
            .unwrap();
    };
    let busy = actix_rt::spawn(busy);
    post.await;
    busy.await.unwrap().unwrap();
    // Deliveries may still be on their way through the registry.
    let (got, m) = settled(&listener, SENT).await;
    let load = m.event_loop;
    assert!(got.windows(2).all(|w| w[0] < w[1]), "in order");
    assert!(load.refused > 0 && load.peak <= 1_000, "{load:?}");
    assert_eq!(
        sender.metrics().event_loop.refused,
        0,
        "the sender's loop is not the target"
    );
    browser.shutdown();
}
