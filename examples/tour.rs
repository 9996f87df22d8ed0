//! A tour of webmessaging: a small shop, as a multi-window web app, touching every
//! feature, with the trace recorder on. At the end it writes the message flow as a
//! Mermaid sequence diagram and as Chrome trace-event JSON under `target/`.
//!
//! - Two tabs of `https://shop.example` (two top-level windows, each on its own thread).
//! - The first embeds a payment widget from another origin (`https://pay.example`) in an
//!   iframe; they talk with `postMessage`, checking origins both ways, after a readiness
//!   handshake. A message posted with the wrong `targetOrigin` is dropped.
//! - Prices come from a dedicated worker: the shop makes a `MessageChannel` and transfers
//!   one port to it; requests and quotes are serde types.
//! - An order placed in one tab is announced to the other with a `BroadcastChannel`.
//! - Posting a function throws `DataCloneError`; a bad `targetOrigin` throws `SyntaxError`.
//! - The payment widget hits a bug and panics: its realm crashes alone, its supervisor
//!   (the shop's page) reloads it, and it shakes hands again.
//!
//! Run with `cargo run --example tour` (add `RUST_LOG=webmessaging=debug` for the logs).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use webmessaging::prelude::*;
use webmessaging::trace;

const SHOP: &str = "https://shop.example";
const PAY: &str = "https://pay.example";

/// Between the shop and the payment widget (window messages).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum PayMsg {
    Ready,
    Checkout {
        order: u32,
        total_cents: u64,
    },
    Paid {
        order: u32,
        receipt: String,
    },
    /// Makes the widget hit its bug.
    Glitch,
}

/// On the pricing port.
#[derive(Debug, Serialize, Deserialize)]
struct PriceRequest {
    items: Vec<(String, u32)>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Quote {
    total_cents: u64,
}

/// On the `orders` broadcast channel.
#[derive(Debug, Serialize, Deserialize)]
struct OrderPlaced {
    order: u32,
    receipt: String,
}

/// What `main` waits for.
#[derive(Debug, PartialEq)]
enum Step {
    PayReady,
    Quoted(u64),
    Paid(String),
    OtherTabHeard(u32),
    PricingClosed,
}

type Tx = mpsc::UnboundedSender<Step>;

/// The pricing worker: answers `PriceRequest`s on the port it is given.
fn pricing_worker(tx: Tx) -> impl Fn(&Scope) + Send + Sync + 'static {
    move |scope: &Scope| {
        println!("pricing worker: started on a thread of its own");
        let tx = tx.clone();
        scope.on_message(move |_s: &Scope, e: &MessageEvent| {
            let Some(port) = e.ports().first() else {
                return;
            };
            println!("pricing worker: got a port ({}) by transfer", port.name());
            let tx = tx.clone();
            port.on_close(move |_s: &Scope, _e: &MessageEvent| {
                println!("pricing worker: the shop closed its end: close event");
                let _ = tx.send(Step::PricingClosed);
            });
            port.on_message_as(
                |_s: &Scope, e: &MessageEvent, req: PriceRequest| -> webmessaging::Result<()> {
                    let total_cents = req
                        .items
                        .iter()
                        .map(|(item, n)| u64::from(*n) * if item == "apple" { 45 } else { 120 })
                        .sum();
                    println!("pricing worker: {:?} costs {total_cents} cents", req.items);
                    let Some(webmessaging::EventTarget::Port(port)) = e.target() else {
                        return Ok(());
                    };
                    port.post(&Quote { total_cents })
                },
            );
        });
    }
}

/// The payment widget (runs again after every restart).
fn pay_widget(scope: &Scope) -> webmessaging::Result<()> {
    println!(
        "pay widget: document {} loaded, announcing ready",
        scope.name()
    );
    scope.on_message_as(
        |scope: &Scope, e: &MessageEvent, msg: PayMsg| -> webmessaging::Result<()> {
            if e.origin() != SHOP {
                println!("pay widget: ignoring a message from {}", e.origin());
                return Ok(());
            }
            match msg {
                PayMsg::Checkout { order, total_cents } => {
                    println!("pay widget: charging {total_cents} cents for order {order}");
                    let reply = PayMsg::Paid {
                        order,
                        receipt: format!("R-{order}-{total_cents}"),
                    };
                    e.source_window()
                        .expect("source")
                        .post(scope, &reply, e.origin())
                }
                PayMsg::Glitch => {
                    println!("pay widget: hitting a bug (a panic in a listener)...");
                    panic!("the payment widget hit a bug");
                }
                _ => Ok(()),
            }
        },
    );
    scope
        .parent()
        .expect("iframe")
        .post(scope, &PayMsg::Ready, SHOP)
}

/// The shop's first tab.
fn shop_tab(tx: Tx) -> impl Fn(&Scope) -> webmessaging::Result<()> + Send + Sync + 'static {
    move |scope: &Scope| {
        println!("shop: loading; embedding {PAY} and starting the pricing worker");
        let pay = scope.create_iframe(&format!("{PAY}/widget"))?;
        let tx1 = tx.clone();
        let pay1 = pay.clone();
        scope.on_message_as(
            move |scope: &Scope, e: &MessageEvent, msg: PayMsg| -> webmessaging::Result<()> {
                if e.origin() != PAY || e.source_window() != Some(&pay1) {
                    return Ok(());
                }
                match msg {
                    PayMsg::Ready => {
                        println!("shop: the pay widget is ready");
                        let _ = tx1.send(Step::PayReady);
                    }
                    PayMsg::Paid { order, receipt } => {
                        println!(
                            "shop: order {order} paid, receipt {receipt}; telling the other tabs"
                        );
                        let orders = scope.global::<BroadcastChannel>().expect("orders channel");
                        orders.post(&OrderPlaced {
                            order,
                            receipt: receipt.clone(),
                        })?;
                        let _ = tx1.send(Step::Paid(receipt));
                    }
                    _ => {}
                }
                Ok(())
            },
        );

        // Pricing: a worker, reached through a port transferred to it.
        let worker = scope.spawn_worker(&format!("{SHOP}/pricing.js"))?;
        let (mine, theirs) = scope.message_channel().into_ports();
        worker.post_message(&Value::from("here is your port"), &[theirs.to_value()])?;
        let tx2 = tx.clone();
        mine.on_message_as(move |_s: &Scope, _e: &MessageEvent, q: Quote| {
            println!("shop: quote received: {} cents", q.total_cents);
            let _ = tx2.send(Step::Quoted(q.total_cents));
        });
        scope.set_global(mine);
        scope.set_global(worker);
        scope.set_global(pay);
        scope.set_global(scope.broadcast_channel("orders"));
        Ok(())
    }
}

/// The shop's second tab: shows new orders.
fn orders_tab(tx: Tx) -> impl Fn(&Scope) + Send + Sync + 'static {
    move |scope: &Scope| {
        let orders = scope.broadcast_channel("orders");
        let tx = tx.clone();
        orders.on_message_as(move |_s: &Scope, e: &MessageEvent, o: OrderPlaced| {
            println!(
                "orders tab: order {} placed ({}), heard from {}",
                o.order,
                o.receipt,
                e.origin()
            );
            let _ = tx.send(Step::OtherTabHeard(o.order));
        });
    }
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Step>) -> Step {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("timed out")
        .expect("closed")
}

/// `target/` of this workspace: `CARGO_TARGET_DIR` if set, else next to the workspace's
/// `Cargo.toml`.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("target"),
    }
}

#[actix_rt::main]
async fn main() -> std::io::Result<()> {
    env_logger::init();
    // A panic in a realm is contained by the runtime (the realm crashes, its supervisor
    // decides); print it in one line instead of a backtrace.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("panic in a realm (contained): {info}")
    }));
    trace::start();
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel::<Step>();
    browser
        .route(&format!("{PAY}/widget"), pay_widget)
        .expect("route");
    browser
        .route(&format!("{SHOP}/pricing.js"), pricing_worker(tx.clone()))
        .expect("route");
    browser
        .route(&format!("{SHOP}/orders"), orders_tab(tx.clone()))
        .expect("route");

    println!("== 1. two tabs, an iframe from another origin, a worker ==");
    let orders = browser.open(&format!("{SHOP}/orders")).expect("open");
    orders.settle().await.expect("orders tab");
    let shop = browser
        .open_with(&format!("{SHOP}/"), shop_tab(tx.clone()))
        .expect("open");
    assert_eq!(next(&mut rx).await, Step::PayReady);

    println!("== 2. a price from the worker, over a transferred port ==");
    shop.run(|scope: &Scope| -> webmessaging::Result<()> {
        let port = scope.global::<MessagePort>().expect("pricing port");
        port.post(&PriceRequest {
            items: vec![("apple".into(), 3), ("pear".into(), 1)],
        })
    })
    .await
    .expect("shop")
    .expect("post");
    let total = match next(&mut rx).await {
        Step::Quoted(t) => t,
        other => panic!("{other:?}"),
    };

    println!("== 3. cross-origin checkout; a message for the wrong origin is dropped ==");
    shop.run(move |scope: &Scope| -> webmessaging::Result<()> {
        let pay = scope.global::<WindowProxy>().expect("pay iframe");
        println!("shop: posting a checkout for https://evil.example (wrong targetOrigin)");
        pay.post(
            scope,
            &PayMsg::Checkout {
                order: 0,
                total_cents: 1,
            },
            "https://evil.example",
        )?;
        println!("shop: posting the checkout for {PAY}");
        pay.post(
            scope,
            &PayMsg::Checkout {
                order: 1,
                total_cents: total,
            },
            PAY,
        )
    })
    .await
    .expect("shop")
    .expect("post");
    let mut paid = false;
    let mut heard = false;
    while !(paid && heard) {
        match next(&mut rx).await {
            Step::Paid(_) => paid = true,
            Step::OtherTabHeard(1) => heard = true,
            other => panic!("{other:?}"),
        }
    }

    println!("== 4. errors come back synchronously, with the standard's names ==");
    let errors = shop
        .run(|scope: &Scope| {
            let pay = scope.global::<WindowProxy>().expect("pay iframe");
            let function = Value::Object(Object::new_function("onPaid"));
            let e1 = pay.post_message(scope, &function, PAY, &[]).unwrap_err();
            let e2 = pay
                .post_message(scope, &Value::from("hi"), "not an origin", &[])
                .unwrap_err();
            (e1, e2)
        })
        .await
        .expect("shop");
    println!("shop: posting a function: {}", errors.0);
    println!("shop: targetOrigin \"not an origin\": {}", errors.1);
    assert_eq!(errors.0.name(), ExceptionName::DataCloneError);
    assert_eq!(errors.1.name(), ExceptionName::SyntaxError);

    println!("== 5. the widget crashes; its supervisor reloads it ==");
    shop.run(|scope: &Scope| -> webmessaging::Result<()> {
        let pay = scope.global::<WindowProxy>().expect("pay iframe");
        pay.post(scope, &PayMsg::Glitch, PAY)
    })
    .await
    .expect("shop")
    .expect("post");
    let restarted = browser
        .wait_lifecycle(Duration::from_secs(10), |e| {
            matches!(e, LifecycleEvent::Restarted { .. })
        })
        .await
        .expect("the widget was restarted");
    println!("supervisor: {restarted:?}");
    assert_eq!(next(&mut rx).await, Step::PayReady);
    println!("shop: the other realms never noticed; the same WindowProxy reaches the new widget");

    shop.run(move |scope: &Scope| -> webmessaging::Result<()> {
        let pay = scope.global::<WindowProxy>().expect("pay iframe");
        pay.post(
            scope,
            &PayMsg::Checkout {
                order: 2,
                total_cents: total,
            },
            PAY,
        )
    })
    .await
    .expect("shop")
    .expect("post");
    let mut paid = false;
    let mut heard = false;
    while !(paid && heard) {
        match next(&mut rx).await {
            Step::Paid(_) => paid = true,
            Step::OtherTabHeard(2) => heard = true,
            other => panic!("{other:?}"),
        }
    }

    println!("== 6. the shop closes the pricing session ==");
    shop.run(|scope: &Scope| scope.global::<MessagePort>().expect("pricing port").close())
        .await
        .expect("shop");
    assert_eq!(next(&mut rx).await, Step::PricingClosed);

    // Let every realm finish what is queued, then stop recording.
    shop.settle().await.expect("shop");
    orders.settle().await.expect("orders");
    browser.shutdown();
    let events = trace::take();

    let dir = target_dir();
    std::fs::create_dir_all(&dir)?;
    let mmd = dir.join("tour-trace.mmd");
    let json = dir.join("tour-trace.json");
    std::fs::write(&mmd, trace::to_mermaid(&events))?;
    std::fs::write(&json, trace::to_chrome_json(&events))?;
    let drops = events
        .iter()
        .filter(|e| e.kind == trace::TraceKind::Drop)
        .count();
    println!(
        "== done: {} trace events ({drops} dropped messages) ==",
        events.len()
    );
    println!(
        "sequence diagram (Mermaid): {}",
        mmd.canonicalize()?.display()
    );
    println!(
        "  paste it into https://mermaid.live, or view it in any Markdown renderer with Mermaid"
    );
    println!(
        "trace events (Chrome JSON): {}",
        json.canonicalize()?.display()
    );
    println!("  open it in https://ui.perfetto.dev or chrome://tracing");
    Ok(())
}
