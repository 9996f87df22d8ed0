//! The bridge over the in-process transport, with faults injected: two Browsers in one
//! process, each with its own bridge over one shared store.

mod support;

use std::time::Duration;

use support::{close_end, import, msgs, page_with_end, post_range, quiet, take, Got};
use webmessaging::prelude::*;
use webmessaging_nats::frame::{Frame, FrameBody};
use webmessaging_nats::{Bridge, MemoryFaults, MemoryTransport, PortOrigins};

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
