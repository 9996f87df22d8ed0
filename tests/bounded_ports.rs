//! Bounded port queues (issue 14 item 1): `try_post` on a full queue, the reject and
//! drop-oldest policies, `drain`, and backpressure across threads that loses nothing.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

mod common;

use common::{recv, Rx, Tx};
use tokio::sync::mpsc;
use webmessaging::prelude::*;
use webmessaging::Overflow;

fn channel() -> (Tx, Rx) {
    mpsc::unbounded_channel::<String>()
}

/// Reject: three messages wait in a queue of three that is not started; the fourth post
/// fails with `QuotaExceededError` before anything is detached (a port in its transfer
/// list stays usable); once the receiver starts, the three arrive in order, `drain`
/// fires at the sender, and posting works again.
#[actix_rt::test]
async fn reject_then_drain() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let _page = browser
        .open_with(
            "https://app.example/",
            move |s: &Scope| -> webmessaging::Result<()> {
                let (a, b) = s.bounded_message_channel(3, Overflow::Reject).into_ports();
                assert_eq!(a.capacity(), Some(3));
                for i in 0..3u32 {
                    a.post(&i)?;
                }
                let name = |r: webmessaging::Result<()>| r.map_err(|e| e.name());
                let other = s.message_channel();
                let refused = a.post_with_transfer(&3u32, &[other.port1().to_value()]);
                let t = tx.clone();
                let _ = t.send(format!(
                    "{:?} {:?} {:?} transfer kept {}",
                    name(a.post(&3u32)),
                    name(a.try_post(&3u32)),
                    name(refused),
                    other.port1().is_active()
                ));
                let t2 = tx.clone();
                a.on_drain(
                    move |_: &Scope, e: &MessageEvent| -> webmessaging::Result<()> {
                        let _ = t2.send(format!("drain ({})", e.event_type().as_str()));
                        let Some(webmessaging::EventTarget::Port(p)) = e.target() else {
                            return Ok(());
                        };
                        p.post(&100u32)
                    },
                );
                let t3 = tx.clone();
                b.on_message_as(move |_: &Scope, _: &MessageEvent, n: u32| {
                    let _ = t3.send(format!("got {n}"));
                });
                s.set_global((a, b, other));
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(
        recv(&mut rx).await,
        "Err(QuotaExceededError) Err(QuotaExceededError) Err(QuotaExceededError) transfer kept true"
    );
    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(recv(&mut rx).await);
    }
    // The drain task comes after the first dispatch made room; the three queued ones
    // and the one posted from the drain listener all arrive, in order.
    let messages: Vec<&String> = got.iter().filter(|s| s.starts_with("got")).collect();
    assert_eq!(messages, ["got 0", "got 1", "got 2", "got 100"]);
    assert!(got.contains(&"drain (drain)".to_string()), "{got:?}");
    browser.shutdown();
}

/// Drop oldest: ten posts into a queue of three that is not started keep the last
/// three; the seven dropped are counted at the sender; `try_post` on the full queue still
/// fails.
#[actix_rt::test]
async fn drop_oldest_keeps_the_newest() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let page = browser
        .open_with(
            "https://app.example/",
            move |s: &Scope| -> webmessaging::Result<()> {
                let (a, b) = s
                    .bounded_message_channel(3, Overflow::DropOldest)
                    .into_ports();
                for i in 0..10u32 {
                    a.post(&i)?;
                }
                let strict = a.try_post(&10u32).map_err(|e| e.name());
                let _ = tx.send(format!("drops {} try_post {strict:?}", a.overflow_drops()));
                let t = tx.clone();
                b.on_message_as(move |_: &Scope, _: &MessageEvent, n: u32| {
                    let _ = t.send(format!("got {n}"));
                });
                s.set_global((a, b));
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(
        recv(&mut rx).await,
        "drops 7 try_post Err(QuotaExceededError)"
    );
    for n in 7..10 {
        assert_eq!(recv(&mut rx).await, format!("got {n}"));
    }
    page.settle().await.unwrap();
    assert!(rx.try_recv().is_err(), "nothing else arrives");
    browser.shutdown();
}

/// Drop oldest on a shipped channel: a worker posts 100 messages into a queue of five
/// whose receiver (the page) has not started it; 95 are dropped at the worker and the
/// page, once it starts, gets the last five in order.
#[actix_rt::test]
async fn drop_oldest_across_threads() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let t = tx.clone();
    let page = browser
        .open_with(
            "https://app.example/",
            move |s: &Scope| -> webmessaging::Result<()> {
                let (mine, theirs) = s
                    .bounded_message_channel(5, Overflow::DropOldest)
                    .into_ports();
                let t = t.clone();
                let worker =
                    s.spawn_worker_with("https://app.example/w.js", move |w: &Scope| {
                        let t = t.clone();
                        w.on_message(
                            move |_: &Scope, e: &MessageEvent| -> webmessaging::Result<()> {
                                let port = &e.ports()[0];
                                for i in 0..100u32 {
                                    port.post(&i)?;
                                }
                                let _ = t.send(format!("worker dropped {}", port.overflow_drops()));
                                Ok(())
                            },
                        );
                    })?;
                worker.post_with_transfer(&"take", &[theirs.to_value()])?;
                s.set_global((worker, mine));
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(recv(&mut rx).await, "worker dropped 95");
    let t = tx.clone();
    page.run(move |s: &Scope| {
        let (_, mine) = &*s.global::<(Worker, MessagePort)>().unwrap();
        mine.on_message_as(move |_: &Scope, _: &MessageEvent, n: u32| {
            let _ = t.send(format!("got {n}"));
        });
    })
    .await
    .unwrap();
    for n in 95..100 {
        assert_eq!(recv(&mut rx).await, format!("got {n}"));
    }
    browser.shutdown();
}

/// Backpressure across threads: a producer worker pumps 20,000 numbers into a queue of
/// 16 with `try_post`, stopping at each refusal until `drain`; the page gets every one,
/// in order, and the producer was refused at least once (it did wait).
#[actix_rt::test]
async fn backpressure_loses_nothing() {
    const N: u32 = 20_000;
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let t = tx.clone();
    let _page = browser
        .open_with(
            "https://app.example/",
            move |s: &Scope| -> webmessaging::Result<()> {
                let (mine, theirs) = s.bounded_message_channel(16, Overflow::Reject).into_ports();
                let next = Rc::new(Cell::new(0u32));
                let t2 = t.clone();
                let bad = Rc::new(RefCell::new(None::<String>));
                mine.on_message_as(move |_: &Scope, _: &MessageEvent, n: u32| {
                    if n != next.get() && bad.borrow().is_none() {
                        *bad.borrow_mut() = Some(format!("expected {} got {n}", next.get()));
                        let _ = t2.send(bad.borrow().clone().unwrap_or_default());
                    }
                    next.set(n + 1);
                    if n + 1 == N {
                        let _ = t2.send(format!("page got all {N} in order"));
                    }
                });
                let t = t.clone();
                let worker =
                    s.spawn_worker_with("https://app.example/producer.js", move |w: &Scope| {
                        let t = t.clone();
                        w.on_message(move |_: &Scope, e: &MessageEvent| {
                            let port = e.ports()[0].clone();
                            let state = Rc::new((Cell::new(0u32), Cell::new(0u32)));
                            let pump = {
                                let t = t.clone();
                                move |port: &MessagePort, state: &(Cell<u32>, Cell<u32>)| {
                                    while state.0.get() < N {
                                        match port.try_post(&state.0.get()) {
                                            Ok(()) => state.0.set(state.0.get() + 1),
                                            Err(e) => {
                                                assert_eq!(
                                                    e.name(),
                                                    ExceptionName::QuotaExceededError
                                                );
                                                state.1.set(state.1.get() + 1);
                                                return;
                                            }
                                        }
                                    }
                                    let _ = t.send(format!(
                                        "producer done, refused {} times",
                                        state.1.get()
                                    ));
                                }
                            };
                            let (p, st, pump2) = (port.clone(), state.clone(), pump.clone());
                            port.on_drain(move |_: &Scope, _: &MessageEvent| pump2(&p, &st));
                            pump(&port, &state);
                        });
                    })?;
                worker.post_with_transfer(&"produce", &[theirs.to_value()])?;
                s.set_global((worker, mine));
                Ok(())
            },
        )
        .unwrap();
    let mut got = vec![recv(&mut rx).await, recv(&mut rx).await];
    got.sort();
    assert_eq!(got[0], format!("page got all {N} in order"));
    let refused: u32 = got[1]
        .trim_start_matches("producer done, refused ")
        .trim_end_matches(" times")
        .parse()
        .unwrap_or_else(|_| panic!("{got:?}"));
    assert!(refused > 0, "{got:?}");
    browser.shutdown();
}

/// A producer actor outside any realm (a user's actix actor): it holds the sending end of
/// a bounded channel and pumps messages with `AttachedPort::post_when_ready`.
struct Producer {
    port: Option<std::sync::Arc<webmessaging::AttachedPort>>,
    tx: Tx,
}

impl actix::Actor for Producer {
    type Context = actix::Context<Self>;
}

/// Gives the producer its port and what to do with it.
struct Produce {
    port: webmessaging::ActorPort,
    count: u32,
    overflow: Overflow,
}

impl actix::Message for Produce {
    type Result = ();
}

impl actix::Handler<Produce> for Producer {
    type Result = ();

    fn handle(&mut self, m: Produce, ctx: &mut actix::Context<Self>) {
        use actix::AsyncContext;
        let port = std::sync::Arc::new(m.port.attach::<String>(ctx.address().recipient()));
        self.port = Some(port.clone());
        let tx = self.tx.clone();
        let count = m.count;
        if m.overflow == Overflow::DropOldest {
            for i in 0..count {
                port.post(&i).unwrap();
            }
            return;
        }
        actix_rt::spawn(async move {
            let mut refused = 0u32;
            for i in 0..count {
                // try first, to see the bound bite; then wait for room.
                match port.try_post(&i) {
                    Ok(()) => continue,
                    Err(e) => {
                        assert_eq!(e.name(), ExceptionName::QuotaExceededError);
                        refused += 1;
                    }
                }
                if let Err(e) = port.post_when_ready(&i).await {
                    let _ = tx.send(format!("producer stopped at {i}: {}", e.name()));
                    return;
                }
            }
            let _ = tx.send(format!("producer done, refused {refused} times"));
        });
    }
}

impl actix::Handler<webmessaging::PortEvent<String>> for Producer {
    type Result = ();

    fn handle(&mut self, ev: webmessaging::PortEvent<String>, _: &mut actix::Context<Self>) {
        if let (webmessaging::PortEvent::Message { data, .. }, Some(port)) = (ev, &self.port) {
            let _ = self
                .tx
                .send(format!("actor: {data}, {} dropped", port.overflow_drops()));
        }
    }
}

/// Opens a page whose bounded channel's far end goes to a new `Producer`; the page reads
/// with `on_read` once `start_after` has passed (its queue fills meanwhile).
fn producer_page(
    browser: &Browser,
    tx: &Tx,
    capacity: usize,
    overflow: Overflow,
    count: u32,
    start_after: std::time::Duration,
    on_read: impl Fn(&Scope, &MessagePort, u32) + Clone + Send + Sync + 'static,
) -> WindowHandle {
    let producer = actix::Actor::start(Producer {
        port: None,
        tx: tx.clone(),
    });
    browser
        .open_with(
            "https://app.example/",
            move |s: &Scope| -> webmessaging::Result<()> {
                let (mine, theirs) = s.bounded_message_channel(capacity, overflow).into_ports();
                producer.do_send(Produce {
                    port: webmessaging::ActorPort::take(&theirs)?,
                    count,
                    overflow,
                });
                let on_read = on_read.clone();
                let port = mine.clone();
                s.set_timeout(start_after, move |_: &Scope| {
                    let p = port.clone();
                    let on_read = on_read.clone();
                    port.on_message_as(move |s: &Scope, _: &MessageEvent, n: u32| {
                        on_read(s, &p, n)
                    });
                });
                s.set_global(mine);
                Ok(())
            },
        )
        .unwrap()
}

/// Backpressure from a page to a user's actor: the actor's `post_when_ready` waits
/// while the page's queue of 8 is full (the page starts reading only after 100 ms), and
/// all 5,000 messages arrive in order; the bound was hit (a `try_post` was refused).
#[actix_rt::test]
async fn an_actor_producer_waits_for_room_and_loses_nothing() {
    const N: u32 = 5_000;
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let t = tx.clone();
    let _page = producer_page(
        &browser,
        &tx,
        8,
        Overflow::Reject,
        N,
        std::time::Duration::from_millis(100),
        move |_, _, n| {
            let expected = next.swap(n + 1, std::sync::atomic::Ordering::Relaxed);
            if n != expected {
                let _ = t.send(format!("page: expected {expected} got {n}"));
            }
            if n + 1 == N {
                let _ = t.send(format!("page got all {N} in order"));
            }
        },
    );
    let mut got = vec![recv(&mut rx).await, recv(&mut rx).await];
    got.sort();
    assert_eq!(got[0], format!("page got all {N} in order"), "{got:?}");
    let refused: u32 = got[1]
        .trim_start_matches("producer done, refused ")
        .trim_end_matches(" times")
        .parse()
        .unwrap_or_else(|_| panic!("{got:?}"));
    assert!(refused > 0, "{got:?}");
    browser.shutdown();
}

/// A waiting producer never hangs: the page reads 3 of a queue of 4 and closes its
/// port; the actor's `post_when_ready` then fails with `InvalidStateError`.
#[actix_rt::test]
async fn a_waiting_actor_producer_stops_when_the_port_closes() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let t = tx.clone();
    let _page = producer_page(
        &browser,
        &tx,
        4,
        Overflow::Reject,
        1_000,
        std::time::Duration::from_millis(50),
        move |_, port, n| {
            if n == 2 {
                port.close();
                let _ = t.send("page closed".into());
            }
        },
    );
    assert_eq!(recv(&mut rx).await, "page closed");
    let stopped = recv(&mut rx).await;
    assert!(
        stopped.starts_with("producer stopped at ") && stopped.ends_with(": InvalidStateError"),
        "{stopped}"
    );
    browser.shutdown();
}

/// DropOldest from a user's actor: ten posts into a queue of four that is not read yet
/// keep the newest four; the actor counts six dropped, and the page reads 6..9 in order.
#[actix_rt::test]
async fn an_actor_with_drop_oldest_keeps_the_newest() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let t = tx.clone();
    let _page = producer_page(
        &browser,
        &tx,
        4,
        Overflow::DropOldest,
        10,
        std::time::Duration::from_millis(100),
        move |_, port, n| {
            let _ = t.send(format!("page got {n}"));
            if n == 9 {
                port.post(&"done").unwrap();
            }
        },
    );
    for n in 6..10 {
        assert_eq!(recv(&mut rx).await, format!("page got {n}"));
    }
    assert_eq!(recv(&mut rx).await, "actor: done, 6 dropped");
    browser.shutdown();
}
