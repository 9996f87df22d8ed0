//! Helpers shared by the runtime's integration tests: realms report what they observe as
//! strings on a tokio channel, and the test reads them back in order.
#![allow(dead_code)]

use std::time::Duration;

use tokio::sync::mpsc;
use webmessaging::prelude::*;

/// The sending side, captured by scripts and listeners (it is `Send + Sync`).
pub type Tx = mpsc::UnboundedSender<String>;
/// The test's side.
pub type Rx = mpsc::UnboundedReceiver<String>;

/// The next report, failing the test after 10 s.
pub async fn recv(rx: &mut Rx) -> String {
    recv_within(rx, Duration::from_secs(10)).await
}

/// The next report, failing the test after `limit`.
pub async fn recv_within(rx: &mut Rx, limit: Duration) -> String {
    tokio::time::timeout(limit, rx.recv())
        .await
        .expect("timed out")
        .expect("channel closed")
}

/// Receives exactly `expected`, in order.
pub async fn expect(rx: &mut Rx, expected: &[&str]) {
    for e in expected {
        assert_eq!(recv(rx).await, *e);
    }
}

/// Reports `s`, ignoring a test that stopped listening.
pub fn send(tx: &Tx, s: impl Into<String>) {
    let _ = tx.send(s.into());
}

/// `event.data` as text: strings as they are, numbers printed, anything else debugged.
pub fn text(e: &MessageEvent) -> String {
    match e.data().as_str() {
        Some(s) => s.to_owned(),
        None => match e.data().as_number() {
            Some(n) => n.to_string(),
            None => format!("{:?}", e.data()),
        },
    }
}

/// A listener that reports `"<tag>:<data>"` for messages and `"<tag>:close"` for close.
pub fn reporter(tx: &Tx, tag: &str) -> impl Fn(&Scope, &MessageEvent) + 'static {
    let tx = tx.clone();
    let tag = tag.to_owned();
    move |_s: &Scope, e: &MessageEvent| match e.event_type() {
        EventType::Close => send(&tx, format!("{tag}:close")),
        _ => send(&tx, format!("{tag}:{}", text(e))),
    }
}
