//! The bridge over the in-process transport, with faults injected: two Browsers in one
//! process, each with its own bridge over one shared store.

mod support;

use std::time::Duration;

use support::{close_end, import, msgs, page_with_end, post_range, quiet, take, Got};
use webmessaging::prelude::*;
use webmessaging_nats::frame::{Frame, FrameBody};
use webmessaging_nats::{Bridge, Death, MemoryFaults, MemoryTransport, PortOrigins};

const APP: &str = "https://app.example";
const SVC: &str = "https://svc.example";
const WAIT: Duration = Duration::from_secs(5);

fn origins(local: &str, admit: &str) -> PortOrigins {
    PortOrigins {
        local: local.into(),
        admit: admit.into(),
    }
}

fn faulty() -> MemoryTransport {
    MemoryTransport::new(MemoryFaults {
        lose_publish_every: 97,
        lose_store_ack_every: 89,
        duplicate_delivery_every: 13,
    })
}

#[actix_rt::test]
async fn a_bridged_port_is_fifo_exactly_once_both_ways_over_a_faulty_store() {
    let store = faulty();
    let (a, b) = (Browser::new(), Browser::new());
    let bridge_a = Bridge::new(store.clone(), "wm", "a").unwrap();
    let bridge_b = Bridge::new(store.clone(), "wm", "b").unwrap();
    let (page, end, mut page_rx) = page_with_end(&a, "https://app.example/").await;
    let x = bridge_a
        .export_port("p1", end, origins(APP, SVC))
        .await
        .unwrap();
    let (svc, y, mut svc_rx) = import(&bridge_b, &b, "https://svc.example/", "p1", APP).await;

    post_range(&page, 0, 3000).await;
    post_range(&svc, 10_000, 11_000).await;
    assert_eq!(take(&mut svc_rx, 3000, WAIT).await, msgs(0, 3000));
    assert_eq!(take(&mut page_rx, 1000, WAIT).await, msgs(10_000, 11_000));
    assert!(quiet(&mut svc_rx, Duration::from_millis(300))
        .await
        .is_empty());

    let (sx, sy) = (x.stats(), y.stats());
    assert_eq!(sx.stored, 3000);
    assert_eq!(sy.delivered, 3000);
    assert!(sx.resent > 0, "the faults made the sender resend: {sx:?}");
    assert!(sy.duplicates > 0, "the faults made copies arrive: {sy:?}");
    assert_eq!(sy.origin_mismatches + sy.bad_frames, 0);
    a.shutdown();
    b.shutdown();
}

#[actix_rt::test]
async fn close_crosses_after_the_messages_before_it() {
    let store = MemoryTransport::default();
    let (a, b) = (Browser::new(), Browser::new());
    let bridge_a = Bridge::new(store.clone(), "wm", "a").unwrap();
    let bridge_b = Bridge::new(store.clone(), "wm", "b").unwrap();
    let (page, end, _page_rx) = page_with_end(&a, "https://app.example/").await;
    let x = bridge_a
        .export_port("p2", end, origins(APP, SVC))
        .await
        .unwrap();
    let (_svc, y, mut svc_rx) = import(&bridge_b, &b, "https://svc.example/", "p2", APP).await;
    post_range(&page, 0, 5).await;
    close_end(&page).await;
    let mut want = msgs(0, 5);
    want.push(Got::Close);
    assert_eq!(take(&mut svc_rx, 6, WAIT).await, want);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        x.is_finished() && y.is_finished(),
        "both links end after a close"
    );
    a.shutdown();
    b.shutdown();
}

#[actix_rt::test]
async fn frames_from_another_origin_and_garbage_are_dropped_and_counted() {
    let store = MemoryTransport::default();
    let (a, b) = (Browser::new(), Browser::new());
    let bridge_a = Bridge::new(store.clone(), "wm", "a").unwrap();
    let bridge_b = Bridge::new(store.clone(), "wm", "b").unwrap();
    // The exporter claims a third origin: the importer admits only APP.
    let (page, end, _rx) = page_with_end(&a, "https://evil.example/").await;
    let _x = bridge_a
        .export_port("p3", end, origins("https://evil.example", SVC))
        .await
        .unwrap();
    let (_svc, y, mut svc_rx) = import(&bridge_b, &b, "https://svc.example/", "p3", APP).await;
    post_range(&page, 0, 20).await;
    // A forged frame and a garbage frame on the same subject, then a genuine one.
    let forged = Frame {
        seq: 21,
        origin: "https://other.example".into(),
        body: FrameBody::Close,
    };
    store.inject("wm.port.p3.x2i", forged.encode().unwrap());
    store.inject("wm.port.p3.x2i", vec![1, 2, 3]);
    let record = webmessaging_core::serde_bridge::to_record(&7u64).unwrap();
    let genuine = Frame::message(1, APP, &record);
    store.inject("wm.port.p3.x2i", genuine.encode().unwrap());
    assert_eq!(take(&mut svc_rx, 1, WAIT).await, vec![Got::Msg(7)]);
    assert!(quiet(&mut svc_rx, Duration::from_millis(300))
        .await
        .is_empty());
    let s = y.stats();
    assert_eq!((s.origin_mismatches, s.bad_frames, s.delivered), (21, 1, 1));
    a.shutdown();
    b.shutdown();
}

#[actix_rt::test]
async fn a_restarted_importer_gets_what_came_while_it_was_down_and_a_restarted_exporter_numbers_on()
{
    let store = faulty();
    let a = Browser::new();
    let bridge_a = Bridge::new(store.clone(), "wm", "a").unwrap();
    let (page, end, _rx) = page_with_end(&a, "https://app.example/").await;
    let x = bridge_a
        .export_port("p4", end, origins(APP, SVC))
        .await
        .unwrap();

    // First incarnation of the importing process.
    let b1 = Browser::new();
    let bridge_b1 = Bridge::new(store.clone(), "wm", "b").unwrap();
    let (_svc1, y1, mut rx1) = import(&bridge_b1, &b1, "https://svc.example/", "p4", APP).await;
    post_range(&page, 0, 500).await;
    assert_eq!(take(&mut rx1, 500, WAIT).await, msgs(0, 500));
    // It dies once its cursor is stored (before that, the frames it handed over would
    // come again: the at-least-once window, tested below).
    assert!(cursor_reaches(&store, "wm.port.p4.x2i", 500).await);
    y1.stop();
    b1.shutdown();

    // While it is down, the page goes on.
    post_range(&page, 500, 1000).await;
    // Second incarnation: it imports the same name and resumes.
    let b2 = Browser::new();
    let bridge_b2 = Bridge::new(store.clone(), "wm", "b").unwrap();
    let (_svc2, _y2, mut rx2) = import(&bridge_b2, &b2, "https://svc.example/", "p4", APP).await;
    assert_eq!(take(&mut rx2, 500, WAIT).await, msgs(500, 1000));

    // The exporting process restarts too: a new page and end under the same name.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(x.stats().stored, 1000);
    x.stop();
    a.shutdown();
    let a2 = Browser::new();
    let bridge_a2 = Bridge::new(store.clone(), "wm", "a").unwrap();
    let (page2, end2, _rx) = page_with_end(&a2, "https://app.example/").await;
    let _x2 = bridge_a2
        .export_port("p4", end2, origins(APP, SVC))
        .await
        .unwrap();
    post_range(&page2, 1000, 1100).await;
    assert_eq!(take(&mut rx2, 100, WAIT).await, msgs(1000, 1100));
    assert!(quiet(&mut rx2, Duration::from_millis(300)).await.is_empty());
    a2.shutdown();
    b2.shutdown();
}

/// A page at `url` with a BroadcastChannel `name` that reports every string it hears.
async fn listener(
    browser: &Browser,
    url: &str,
    name: &'static str,
) -> (WindowHandle, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let page = browser.open(url).unwrap();
    page.run(move |scope: &Scope| {
        let bc = scope.broadcast_channel(name);
        bc.on_message_as(move |_: &Scope, _: &MessageEvent, s: String| {
            let _ = tx.send(s);
        });
        scope.set_global(bc);
    })
    .await
    .unwrap();
    (page, rx)
}

async fn strings(rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout(WAIT, rx.recv()).await {
            Ok(Some(s)) => out.push(s),
            _ => break,
        }
    }
    out
}

#[actix_rt::test]
async fn a_bridged_broadcast_channel_reaches_the_other_process_in_each_senders_order() {
    let store = faulty();
    let (a, b) = (Browser::new(), Browser::new());
    let bridge_a = Bridge::new(store.clone(), "wm", "a").unwrap();
    let bridge_b = Bridge::new(store.clone(), "wm", "b").unwrap();
    let ra = bridge_a
        .bridge_broadcast(&a, "https://app.example/relay", "auth")
        .await
        .unwrap();
    let rb = bridge_b
        .bridge_broadcast(&b, "https://app.example/relay", "auth")
        .await
        .unwrap();
    let (_la, mut heard_a) = listener(&a, "https://app.example/a", "auth").await;
    let (_lb, mut heard_b) = listener(&b, "https://app.example/b", "auth").await;
    let (_other, mut heard_other) = listener(&b, "https://other.example/", "auth").await;
    // A sender in each process.
    let sa = a.open("https://app.example/sender").unwrap();
    sa.run(|scope: &Scope| {
        let bc = scope.broadcast_channel("auth");
        for i in 0..200 {
            bc.post(&format!("a{i}")).unwrap();
        }
    })
    .await
    .unwrap();
    let sb = b.open("https://app.example/sender").unwrap();
    sb.run(|scope: &Scope| {
        let bc = scope.broadcast_channel("auth");
        for i in 0..100 {
            bc.post(&format!("b{i}")).unwrap();
        }
    })
    .await
    .unwrap();
    let want_a: Vec<String> = (0..200).map(|i| format!("a{i}")).collect();
    let want_b: Vec<String> = (0..100).map(|i| format!("b{i}")).collect();
    // Process b hears a's 200 (and its own 100 locally), each sender in order.
    let got_b = strings(&mut heard_b, 300).await;
    let from_a: Vec<String> = got_b
        .iter()
        .filter(|s| s.starts_with('a'))
        .cloned()
        .collect();
    let from_b: Vec<String> = got_b
        .iter()
        .filter(|s| s.starts_with('b'))
        .cloned()
        .collect();
    assert_eq!((from_a, from_b), (want_a.clone(), want_b.clone()));
    let got_a = strings(&mut heard_a, 300).await;
    let from_a: Vec<String> = got_a
        .iter()
        .filter(|s| s.starts_with('a'))
        .cloned()
        .collect();
    let from_b: Vec<String> = got_a
        .iter()
        .filter(|s| s.starts_with('b'))
        .cloned()
        .collect();
    assert_eq!((from_a, from_b), (want_a, want_b));
    // Another origin's channel of the same name hears nothing.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), heard_other.recv())
            .await
            .is_err()
    );
    // The relays deliver no echo: each delivered exactly the other side's frames.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!((ra.stats().delivered, rb.stats().delivered), (100, 200));
    a.shutdown();
    b.shutdown();
}

#[test]
fn bad_names_are_syntax_errors() {
    let e = Bridge::new(MemoryTransport::default(), "wm", "a.b").unwrap_err();
    assert_eq!(e.name(), ExceptionName::SyntaxError);
    let e = Bridge::new(MemoryTransport::default(), "", "a").unwrap_err();
    assert_eq!(e.name(), ExceptionName::SyntaxError);
}

/// Waits until the store has `key`'s cursor at `want` or beyond.
async fn cursor_reaches(store: &MemoryTransport, key: &str, want: u64) -> bool {
    let deadline = std::time::Instant::now() + WAIT;
    while store.cursor(key).unwrap_or(0) < want && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    store.cursor(key).unwrap_or(0) >= want
}

/// Waits until `party` has died (at the point it was told to).
async fn dead(party: &MemoryTransport) -> bool {
    let deadline = std::time::Instant::now() + WAIT;
    while !party.is_dead() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    party.is_dead()
}

/// The direction from the exporter to the importer of the channel `name`.
fn x2i(name: &str) -> String {
    format!("wm.port.{name}.x2i")
}

#[actix_rt::test]
async fn a_receiver_dying_between_acking_frames_stored_out_of_order_resumes_at_its_cursor() {
    // The stream holds 1, 2, 4, 3 (3 a resend stored after 4); the receiving process
    // dies after acknowledging 3 and before acknowledging 4.
    let store = MemoryTransport::default();
    store.store_late(&x2i("oo1"), 3, 4);
    let a = Browser::new();
    let bridge_a = Bridge::new(store.party(), "wm", "a").unwrap();
    let (page, end, _rx) = page_with_end(&a, "https://app.example/").await;
    let _x = bridge_a
        .export_port("oo1", end, origins(APP, SVC))
        .await
        .unwrap();
    let b1_store = store.party();
    b1_store.die_at(Death::AfterAck {
        subject: x2i("oo1"),
        seq: 3,
    });
    let b1 = Browser::new();
    let bridge_b1 = Bridge::new(b1_store.clone(), "wm", "b").unwrap();
    let (_s1, y1, mut rx1) = import(&bridge_b1, &b1, "https://svc.example/", "oo1", APP).await;
    post_range(&page, 0, 4).await;
    let mut got = take(&mut rx1, 4, WAIT).await;
    assert!(dead(&b1_store).await, "the receiver died after acking 3");
    y1.stop();
    b1.shutdown();

    // Its next incarnation gets what follows, once, in order: no wait for a frame
    // (3 or 4) it already had.
    post_range(&page, 4, 10).await;
    let b2 = Browser::new();
    let bridge_b2 = Bridge::new(store.party(), "wm", "b").unwrap();
    let (_s2, y2, mut rx2) = import(&bridge_b2, &b2, "https://svc.example/", "oo1", APP).await;
    got.extend(take(&mut rx2, 10 - got.len(), WAIT).await);
    assert_eq!(got, msgs(0, 10), "0 lost, 0 duplicated, 0 reordered");
    assert!(quiet(&mut rx2, Duration::from_millis(300)).await.is_empty());
    assert_eq!(y2.stats().duplicates, 1, "4 came again and was dropped");
    a.shutdown();
    b2.shutdown();
}

/// Exports `name` from a new page of `browser` over `transport`.
async fn exporter(
    transport: MemoryTransport,
    browser: &Browser,
    name: &str,
) -> (WindowHandle, webmessaging_nats::BridgedPort) {
    let bridge = Bridge::new(transport, "wm", "a").unwrap();
    let (page, end, _rx) = page_with_end(browser, "https://app.example/").await;
    let link = bridge
        .export_port(name, end, origins(APP, SVC))
        .await
        .unwrap();
    (page, link)
}

#[actix_rt::test]
async fn a_sender_dying_between_storing_a_frame_and_the_earlier_one_it_resent_leaves_no_stall() {
    // Frame 3 is held back until after 4, and the sending process dies once 4 is
    // stored: 3 is never stored, and 4 follows a hole.
    let store = MemoryTransport::default();
    store.store_late(&x2i("oo2"), 3, 4);
    let a1_store = store.party();
    a1_store.die_at(Death::AfterStore {
        subject: x2i("oo2"),
        seq: 4,
    });
    let b = Browser::new();
    let bridge_b = Bridge::new(store.party(), "wm", "b").unwrap();
    let (_svc, y, mut rx) = import(&bridge_b, &b, "https://svc.example/", "oo2", APP).await;
    let a1 = Browser::new();
    let (page1, x1) = exporter(a1_store.clone(), &a1, "oo2").await;
    post_range(&page1, 0, 4).await;
    assert!(dead(&a1_store).await, "the sender died after storing 4");
    assert_eq!(take(&mut rx, 2, WAIT).await, msgs(0, 2));
    x1.stop();
    a1.shutdown();

    // Its successor declares what followed the hole void and goes on: the receiver has
    // a prefix of what the dead process posted, then everything the new one posts.
    let a2 = Browser::new();
    let (page2, _x2) = exporter(store.party(), &a2, "oo2").await;
    post_range(&page2, 100, 103).await;
    assert_eq!(take(&mut rx, 3, WAIT).await, msgs(100, 103));
    assert!(quiet(&mut rx, Duration::from_millis(300)).await.is_empty());
    assert_eq!(
        y.stats().voided,
        1,
        "4, posted after the lost 3, is dropped"
    );
    a2.shutdown();
    b.shutdown();
}

#[actix_rt::test]
async fn a_sender_dying_after_an_out_of_order_store_numbers_on_past_the_highest_frame() {
    // The stream holds 1, 2, 4, 3, and the sending process dies once 3 is stored: the
    // last frame stored is 3, the highest 4.
    let store = MemoryTransport::default();
    store.store_late(&x2i("oo3"), 3, 4);
    let a1_store = store.party();
    a1_store.die_at(Death::AfterStore {
        subject: x2i("oo3"),
        seq: 3,
    });
    let b = Browser::new();
    let bridge_b = Bridge::new(store.party(), "wm", "b").unwrap();
    let (_svc, _y, mut rx) = import(&bridge_b, &b, "https://svc.example/", "oo3", APP).await;
    let a1 = Browser::new();
    let (page1, x1) = exporter(a1_store.clone(), &a1, "oo3").await;
    post_range(&page1, 0, 4).await;
    assert!(dead(&a1_store).await, "the sender died after storing 3");
    assert_eq!(take(&mut rx, 4, WAIT).await, msgs(0, 4));
    x1.stop();
    a1.shutdown();

    // Its successor's first frame is 5: numbered 4, it would be dropped as a copy.
    let a2 = Browser::new();
    let (page2, _x2) = exporter(store.party(), &a2, "oo3").await;
    post_range(&page2, 100, 103).await;
    assert_eq!(take(&mut rx, 3, WAIT).await, msgs(100, 103));
    assert!(quiet(&mut rx, Duration::from_millis(300)).await.is_empty());
    a2.shutdown();
    b.shutdown();
}

#[actix_rt::test]
async fn a_receiver_dying_before_its_cursor_write_hands_those_frames_to_its_successor() {
    // The one at-least-once window: the receiving process dies in the cursor write that
    // would cover frame 3, after handing frames up to it to its realm.
    let store = MemoryTransport::default();
    let a = Browser::new();
    let (page, _x) = exporter(store.party(), &a, "w1").await;
    let b1_store = store.party();
    b1_store.die_at(Death::AtCursor {
        key: x2i("w1"),
        seq: 3,
    });
    let b1 = Browser::new();
    let bridge_b1 = Bridge::new(b1_store.clone(), "wm", "b").unwrap();
    let (_s1, y1, mut rx1) = import(&bridge_b1, &b1, "https://svc.example/", "w1", APP).await;
    post_range(&page, 0, 5).await;
    assert!(
        dead(&b1_store).await,
        "the receiver died in its cursor write"
    );
    let got1 = quiet(&mut rx1, Duration::from_millis(300)).await;
    y1.stop();
    b1.shutdown();
    let cursor = store.cursor(&x2i("w1")).unwrap_or(0);
    assert!(cursor < 3);
    // The realm had every frame up to the one the lost write covered (handed over
    // first: nothing is lost) ...
    assert!(got1.len() >= 3, "{got1:?}");
    assert_eq!(got1, msgs(0, got1.len() as u64));

    // ... and the next incarnation gets every frame after the stored cursor, those
    // again included, once each, in order.
    let b2 = Browser::new();
    let bridge_b2 = Bridge::new(store.party(), "wm", "b").unwrap();
    let (_s2, _y2, mut rx2) = import(&bridge_b2, &b2, "https://svc.example/", "w1", APP).await;
    assert_eq!(
        take(&mut rx2, 5 - cursor as usize, WAIT).await,
        msgs(cursor, 5)
    );
    assert!(quiet(&mut rx2, Duration::from_millis(300)).await.is_empty());
    a.shutdown();
    b2.shutdown();
}

/// The at-least-once window's bound: 8 rounds of at most 1,000 frames (the bridge's
/// `UNSTORED_ROUNDS` and `BATCH`).
const WINDOW_FRAMES: u64 = 8 * 1000;

#[actix_rt::test]
async fn a_receiver_dying_with_a_cursor_write_in_flight_hands_at_most_the_window_again() {
    // The receiving process's cursor writes from 2 on never complete (a slow store) and
    // 20,000 frames wait for it: it goes on handing rounds behind the write in flight,
    // but stops at the bound; then it dies.
    const N: u64 = 20_000;
    // Redeliveries late enough not to crowd out the first incarnation's new frames.
    let store = MemoryTransport::with_redelivery(MemoryFaults::default(), Duration::from_secs(30));
    let a = Browser::new();
    let (page, _x) = exporter(store.party(), &a, "w2").await;
    let b1_store = store.party();
    b1_store.stall_cursor(&x2i("w2"), 2);
    for from in (0..N).step_by(1000) {
        post_range(&page, from, from + 1000).await;
    }
    // All stored before the receiver starts: its rounds are full (1,000 each).
    let deadline = std::time::Instant::now() + WAIT;
    while (store.stored() as u64) < N && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let b1 = Browser::new();
    let bridge_b1 = Bridge::new(b1_store.clone(), "wm", "b").unwrap();
    let (_s1, y1, mut rx1) = import(&bridge_b1, &b1, "https://svc.example/", "w2", APP).await;
    let got1 = quiet(&mut rx1, Duration::from_millis(500)).await;
    b1_store.kill();
    y1.stop();
    b1.shutdown();
    let cursor = store.cursor(&x2i("w2")).unwrap_or(0);
    assert!(
        cursor < 2,
        "the write from 2 on never landed (cursor {cursor})"
    );
    assert_eq!(got1, msgs(0, got1.len() as u64), "in order, once");
    let again = got1.len() as u64 - cursor;
    eprintln!(
        "DEBUG again={again} cursor={cursor} stored={} stats={:?}",
        store.stored(),
        y1.stats()
    );
    assert!(
        again > 1000,
        "it handed more than one round while the write was in flight ({again})"
    );
    assert!(
        again <= WINDOW_FRAMES,
        "{again} frames handed beyond the stored cursor, over the bound of {WINDOW_FRAMES}"
    );

    // Its next incarnation gets every frame after the stored cursor: those handed again
    // (at most the bound) and the rest, once each, in order; none lost.
    let b2 = Browser::new();
    let bridge_b2 = Bridge::new(store.party(), "wm", "b").unwrap();
    let (_s2, _y2, mut rx2) = import(&bridge_b2, &b2, "https://svc.example/", "w2", APP).await;
    assert_eq!(
        take(&mut rx2, (N - cursor) as usize, WAIT).await,
        msgs(cursor, N)
    );
    assert!(quiet(&mut rx2, Duration::from_millis(300)).await.is_empty());
    a.shutdown();
    b2.shutdown();
}
