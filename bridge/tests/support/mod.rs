//! Helpers shared by the bridge's tests: pages holding one end of a bridged channel.
#![allow(dead_code)]

use std::time::Duration;

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use webmessaging::prelude::*;
use webmessaging::ActorPort;
use webmessaging_nats::{Bridge, BridgedPort};

/// What a page's end heard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Got {
    /// A message (a number).
    Msg(u64),
    /// `close`.
    Close,
}

/// Makes `port` report to `tx` and keeps it in the realm.
pub fn listen(scope: &Scope, port: MessagePort, tx: UnboundedSender<Got>) {
    let t = tx.clone();
    port.on_message_as(move |_: &Scope, _: &MessageEvent, n: u64| {
        let _ = t.send(Got::Msg(n));
    });
    port.on_close(move |_: &Scope, _: &MessageEvent| {
        let _ = tx.send(Got::Close);
    });
    scope.set_global(port);
}

/// Opens a page at `url` with a new channel: the page keeps one end (reporting to the
/// returned receiver), the other comes back taken out of the realm.
pub async fn page_with_end(
    browser: &Browser,
    url: &str,
) -> (WindowHandle, ActorPort, UnboundedReceiver<Got>) {
    let (tx, rx) = unbounded_channel();
    let page = browser.open(url).expect("open");
    let end = page
        .run(move |scope: &Scope| {
            let (mine, theirs) = scope.message_channel().into_ports();
            listen(scope, mine, tx);
            ActorPort::take(&theirs)
        })
        .await
        .expect("run")
        .expect("take");
    (page, end, rx)
}

/// Imports `name` into a new page at `url`, reporting to the returned receiver.
pub async fn import(
    bridge: &Bridge,
    browser: &Browser,
    url: &str,
    name: &str,
    admit: &str,
) -> (WindowHandle, BridgedPort, UnboundedReceiver<Got>) {
    let (tx, rx) = unbounded_channel();
    let page = browser.open(url).expect("open");
    let link = bridge
        .import_port(
            name,
            &page,
            admit,
            move |scope: &Scope, port: MessagePort| listen(scope, port, tx),
        )
        .await
        .expect("import");
    (page, link, rx)
}

/// Posts `from..to` on the page's kept end, in one task.
pub async fn post_range(page: &WindowHandle, from: u64, to: u64) {
    page.run(move |scope: &Scope| {
        let port = scope
            .global::<MessagePort>()
            .expect("the page keeps its end");
        for n in from..to {
            port.post(&n).expect("post");
        }
    })
    .await
    .expect("run");
}

/// Closes the page's kept end.
pub async fn close_end(page: &WindowHandle) {
    page.run(|scope: &Scope| scope.global::<MessagePort>().expect("end").close())
        .await
        .expect("run");
}

/// Receives exactly `n` events (or fewer if `within` passes with nothing new).
pub async fn take(rx: &mut UnboundedReceiver<Got>, n: usize, within: Duration) -> Vec<Got> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        match tokio::time::timeout(within, rx.recv()).await {
            Ok(Some(g)) => out.push(g),
            _ => break,
        }
    }
    out
}

/// Nothing more arrives within `within`.
pub async fn quiet(rx: &mut UnboundedReceiver<Got>, within: Duration) -> Vec<Got> {
    let mut extra = Vec::new();
    while let Ok(Some(g)) = tokio::time::timeout(within, rx.recv()).await {
        extra.push(g);
    }
    extra
}

/// `from..to` as messages.
pub fn msgs(from: u64, to: u64) -> Vec<Got> {
    (from..to).map(Got::Msg).collect()
}
