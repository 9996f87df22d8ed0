//! A user's own actix actor holding a shipped port: typed messages in its mailbox, posts
//! and close from it, ports arriving as capabilities, and every way the port can end.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use actix::{Actor, AsyncContext, Context, Handler, Message};
use common::{expect, recv, send, Rx, Tx};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use webmessaging::prelude::*;
use webmessaging::{ActorPort, AttachedPort, PortEvent};

#[derive(Debug, Serialize, Deserialize)]
enum Request {
    Quote {
        item: String,
        qty: u32,
    },
    /// Drop the port.
    Bye,
}

/// A pricing service: answers each quote on the port it was given, reports what it saw.
struct Pricing {
    port: Option<AttachedPort>,
    others: Vec<AttachedPort>,
    tx: Tx,
}

impl Actor for Pricing {
    type Context = Context<Self>;
}

/// Hands the actor a port.
struct Connect(ActorPort);

impl Message for Connect {
    type Result = ();
}

impl Handler<Connect> for Pricing {
    type Result = ();

    fn handle(&mut self, m: Connect, ctx: &mut Self::Context) {
        self.port = Some(m.0.attach::<Request>(ctx.address().recipient()));
    }
}

impl Handler<PortEvent<Request>> for Pricing {
    type Result = ();

    fn handle(&mut self, ev: PortEvent<Request>, ctx: &mut Self::Context) {
        match ev {
            PortEvent::Message {
                data: Request::Quote { item, qty },
                ports,
            } => {
                send(
                    &self.tx,
                    format!("actor: quote {item} x{qty}, {} ports", ports.len()),
                );
                let price = qty * 3;
                if let Some(p) = &self.port {
                    p.post(&format!("{item}: {price}")).unwrap();
                }
                // A port that came along is a capability: answer on it too.
                for port in ports {
                    let other = port.attach::<Request>(ctx.address().recipient());
                    other.post("via the capability").unwrap();
                    self.others.push(other);
                }
            }
            PortEvent::Message {
                data: Request::Bye, ..
            } => {
                send(&self.tx, "actor: bye");
                self.port = None;
            }
            PortEvent::MessageError { error } => {
                send(&self.tx, format!("actor: messageerror {}", error.name()));
            }
            PortEvent::Close => send(&self.tx, "actor: close"),
        }
    }
}

/// Reports until `last` (included).
async fn until(rx: &mut Rx, last: &str) -> Vec<String> {
    let mut got = Vec::new();
    while got.last().map(String::as_str) != Some(last) {
        got.push(recv(rx).await);
    }
    got
}

/// Reports until `n` of them come from `side`.
async fn until_count(rx: &mut Rx, side: &str, n: usize) -> Vec<String> {
    let mut got: Vec<String> = Vec::new();
    while from(&got, side).len() < n {
        got.push(recv(rx).await);
    }
    got
}

/// The reports of one side (`"page"`, `"actor"`), in their order.
fn from<'a>(got: &'a [String], side: &str) -> Vec<&'a str> {
    got.iter()
        .map(String::as_str)
        .filter(|s| s.starts_with(side))
        .collect()
}

fn pricing(tx: &Tx) -> actix::Addr<Pricing> {
    Pricing {
        port: None,
        others: Vec::new(),
        tx: tx.clone(),
    }
    .start()
}

/// A page with the channel's port1; port2 goes to the actor after `before` messages.
fn page(browser: &Browser, tx: &Tx, addr: actix::Addr<Pricing>) -> WindowHandle {
    let tx = tx.clone();
    browser
        .open_with("https://shop.example/", move |scope: &Scope| {
            let (mine, theirs) = scope.message_channel().into_ports();
            let t = tx.clone();
            mine.on_message(move |_: &Scope, e: &MessageEvent| {
                send(&t, format!("page: {}", e.data_as::<String>().unwrap()));
            });
            let t = tx.clone();
            mine.on_close(move |_: &Scope, _: &MessageEvent| send(&t, "page: close"));
            // Posted before the actor has the port: they wait for it, in order.
            let q = |item: &str, qty| Request::Quote {
                item: item.into(),
                qty,
            };
            mine.post(&q("apples", 2)).unwrap();
            let theirs_handle = ActorPort::take(&theirs).unwrap();
            assert!(!theirs.is_active(), "taken: detached in the realm");
            let again = ActorPort::take(&theirs).unwrap_err();
            send(&tx, format!("page: take again: {}", again.name()));
            addr.do_send(Connect(theirs_handle));
            mine.post(&q("pears", 5)).unwrap();
            scope.set_global(mine);
        })
        .unwrap()
}

#[actix_rt::test]
async fn an_actor_answers_typed_messages_in_order() {
    let browser = Browser::new();
    let (tx, mut rx): (Tx, Rx) = mpsc::unbounded_channel();
    let addr = pricing(&tx);
    let _page = page(&browser, &tx, addr);
    // Each side's reports in its own order (the two threads interleave freely).
    let got = until(&mut rx, "page: pears: 15").await;
    assert_eq!(
        from(&got, "actor"),
        [
            "actor: quote apples x2, 0 ports",
            "actor: quote pears x5, 0 ports"
        ]
    );
    assert_eq!(
        from(&got, "page"),
        [
            "page: take again: DataCloneError",
            "page: apples: 6",
            "page: pears: 15"
        ]
    );
    browser.shutdown();
}

#[actix_rt::test]
async fn messageerror_then_close_when_the_page_closes() {
    let browser = Browser::new();
    let (tx, mut rx): (Tx, Rx) = mpsc::unbounded_channel();
    let addr = pricing(&tx);
    let page = page(&browser, &tx, addr);
    expect(&mut rx, &["page: take again: DataCloneError"]).await;
    page.run(|scope: &Scope| {
        let mine = scope.global::<MessagePort>().unwrap();
        mine.post(&42u32).unwrap();
        mine.post(&Request::Quote {
            item: "figs".into(),
            qty: 1,
        })
        .unwrap();
        mine.close();
    })
    .await
    .unwrap();
    let got = until_count(&mut rx, "actor", 5).await;
    assert_eq!(
        from(&got, "actor"),
        [
            "actor: quote apples x2, 0 ports",
            "actor: quote pears x5, 0 ports",
            "actor: messageerror DataCloneError",
            "actor: quote figs x1, 0 ports",
            // Then the close, after everything the page posted before closing.
            "actor: close",
        ]
    );
    browser.shutdown();
}

#[actix_rt::test]
async fn the_page_gets_close_when_the_actor_drops_its_port() {
    let browser = Browser::new();
    let (tx, mut rx): (Tx, Rx) = mpsc::unbounded_channel();
    let addr = pricing(&tx);
    let page = page(&browser, &tx, addr);
    expect(&mut rx, &["page: take again: DataCloneError"]).await;
    page.run(|scope: &Scope| {
        scope
            .global::<MessagePort>()
            .unwrap()
            .post(&Request::Bye)
            .unwrap()
    })
    .await
    .unwrap();
    // Each side's reports in its own order (the two threads interleave freely).
    let got = until(&mut rx, "page: close").await;
    assert_eq!(
        from(&got, "page"),
        ["page: apples: 6", "page: pears: 15", "page: close"]
    );
    assert!(got.contains(&"actor: bye".to_string()));
    browser.shutdown();
}

#[actix_rt::test]
async fn a_port_in_a_message_arrives_as_a_capability() {
    let browser = Browser::new();
    let (tx, mut rx): (Tx, Rx) = mpsc::unbounded_channel();
    let addr = pricing(&tx);
    let page = page(&browser, &tx, addr);
    expect(&mut rx, &["page: take again: DataCloneError"]).await;
    let t = tx.clone();
    page.run(move |scope: &Scope| {
        let (keep, give) = scope.message_channel().into_ports();
        keep.on_message(move |_: &Scope, e: &MessageEvent| {
            send(
                &t,
                format!("capability: {}", e.data_as::<String>().unwrap()),
            );
        });
        let mine = scope.global::<MessagePort>().unwrap();
        mine.post_with_transfer(
            &Request::Quote {
                item: "plums".into(),
                qty: 4,
            },
            &[give.to_value()],
        )
        .unwrap();
        scope.set_global((mine.clone(), keep));
    })
    .await
    .unwrap();
    let mut got = Vec::new();
    for want in [
        "actor: quote plums x4, 1 ports",
        "capability: via the capability",
        "page: plums: 12",
    ] {
        while !got.iter().any(|g| g == want) {
            got.push(recv(&mut rx).await);
        }
    }
    browser.shutdown();
}

#[actix_rt::test]
async fn an_unattached_actor_port_dropped_closes_the_channel() {
    let browser = Browser::new();
    let (tx, mut rx): (Tx, Rx) = mpsc::unbounded_channel();
    let t = tx.clone();
    let _page = browser
        .open_with("https://shop.example/", move |scope: &Scope| {
            let (mine, theirs) = scope.message_channel().into_ports();
            let t = t.clone();
            mine.on_close(move |_: &Scope, _: &MessageEvent| send(&t, "page: close"));
            mine.start();
            drop(ActorPort::take(&theirs).unwrap());
            scope.set_global(mine);
        })
        .unwrap();
    expect(&mut rx, &["page: close"]).await;
    let late = tokio::time::timeout(Duration::from_millis(100), rx.recv()).await;
    assert!(late.is_err(), "nothing else: {late:?}");
    browser.shutdown();
}

/// Shipped channels come and go without a trace: once both ends of each are gone (closed
/// and dropped, or their realm gone), the port directory forgets them.
#[actix_rt::test]
async fn the_directory_forgets_channels_whose_ends_are_gone() {
    let browser = Browser::new();
    let page = browser
        .open_with("https://shop.example/", |_: &Scope| {})
        .unwrap();
    page.run(|scope: &Scope| {
        let mut kept = Vec::new();
        for _ in 0..2_000 {
            let (a, b) = scope.message_channel().into_ports();
            // Transferred to this same realm: the channel is shipped.
            let (h1, h2) = scope.message_channel().into_ports();
            let arrived: Rc<RefCell<Vec<MessagePort>>> = Default::default();
            let keep = arrived.clone();
            h2.on_message(move |_: &Scope, e: &MessageEvent| {
                keep.borrow_mut().push(e.ports()[0].clone());
            });
            h1.post_with_transfer(&(), &[b.to_value()]).unwrap();
            kept.push((a, h1, h2, arrived));
        }
        scope.set_global(RefCell::new(kept));
    })
    .await
    .unwrap();
    page.settle().await.unwrap();
    assert_eq!(browser.shipped_channel_count().await, 2_000);
    // Both ends of each go: one closed and dropped, the other dropped.
    page.run(|scope: &Scope| {
        let kept = scope
            .global::<RefCell<
                Vec<(
                    MessagePort,
                    MessagePort,
                    MessagePort,
                    Rc<RefCell<Vec<MessagePort>>>,
                )>,
            >>()
            .unwrap();
        for (a, h1, h2, arrived) in kept.borrow_mut().drain(..) {
            a.close();
            h1.close();
            h2.close();
            arrived.borrow_mut().clear();
        }
    })
    .await
    .unwrap();
    page.settle().await.unwrap();
    let mut n = usize::MAX;
    for _ in 0..100 {
        n = browser.shipped_channel_count().await;
        if n == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(n, 0, "shipped channels left in the directory");
    browser.shutdown();
}

#[actix_rt::test]
async fn a_raw_attachment_forwards_records_unread_in_order() {
    // A forwarder that never reads the data: the records it gets from one channel go
    // out on another as they are (what a bridge to another process does).
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let browser = Browser::new();
    let page = browser.open("https://app.example/").unwrap();
    let (a, b) = page
        .run(move |scope: &Scope| {
            let (mine, theirs) = scope.message_channel().into_ports();
            let (echo_in, echo_out) = scope.message_channel().into_ports();
            let t = tx.clone();
            echo_in.on_message_as(move |_: &Scope, _: &MessageEvent, s: String| {
                let _ = t.send(s);
            });
            echo_in.on_close(move |_: &Scope, _: &MessageEvent| {
                let _ = tx.send("close".into());
            });
            scope.set_global((mine, echo_in));
            (
                ActorPort::take(&theirs).unwrap(),
                ActorPort::take(&echo_out).unwrap(),
            )
        })
        .await
        .unwrap();
    let out = Rc::new(b.attach_raw(|_| {}));
    let fwd = out.clone();
    let seen = Rc::new(RefCell::new(0usize));
    let counted = seen.clone();
    let _in = a.attach_raw(move |ev: webmessaging::RawPortEvent| match ev {
        webmessaging::RawPortEvent::Message { record, ports } => {
            assert!(ports.is_empty());
            *counted.borrow_mut() += 1;
            fwd.post_record(record);
        }
        webmessaging::RawPortEvent::Close => {}
    });
    page.run(|scope: &Scope| {
        let (mine, _) = &*scope.global::<(MessagePort, MessagePort)>().unwrap();
        for i in 0..100 {
            mine.post(&format!("m{i}")).unwrap();
        }
    })
    .await
    .unwrap();
    let mut got = Vec::new();
    while got.len() < 100 {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(s)) => got.push(s),
            _ => break,
        }
    }
    let want: Vec<String> = (0..100).map(|i| format!("m{i}")).collect();
    assert_eq!(got, want);
    assert_eq!(*seen.borrow(), 100);
    // Dropping the outgoing attachment closes that channel: its far end hears `close`.
    drop(_in);
    drop(out);
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .ok()
            .flatten()
            .as_deref(),
        Some("close")
    );
    browser.shutdown();
}
