//! A page in one process, a worker-like pricing service in another, one MessageChannel
//! between them over NATS JetStream.
//!
//! ```sh
//! nats-server -js -a 127.0.0.1 -p 4222 -sd /tmp/nats-store &   # Debian: apt-get install nats-server
//! cargo run -p webmessaging-nats --example nats_bridge         # spawns both roles
//! ```
//!
//! Without `--role`, the program starts itself twice, `--role service` and `--role
//! page`, with one channel name. The page (`https://shop.example`) exports one end of a
//! channel; the service process (`https://pricing.example`) imports it into a window,
//! which transfers it to its dedicated worker; the worker prices each request. The page
//! prints the answers and closes its end; the `close` crosses, and both processes exit.
//! `WEBMESSAGING_NATS_URL` (or `--url`) picks the server (default
//! `nats://127.0.0.1:4222`).

use std::process::Command;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use webmessaging::prelude::*;
use webmessaging::{ActorPort, EventTarget};
use webmessaging_nats::{Bridge, NatsConfig, PortOrigins};

#[derive(Serialize, Deserialize, Debug)]
struct Quote {
    item: String,
    qty: u32,
}

#[derive(Serialize, Deserialize, Debug)]
struct Price {
    item: String,
    cents: u64,
}

const SHOP: &str = "https://shop.example";
const PRICING: &str = "https://pricing.example";

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() -> webmessaging::Result<()> {
    let url = arg("--url")
        .or_else(|| std::env::var("WEBMESSAGING_NATS_URL").ok())
        .unwrap_or_else(|| "nats://127.0.0.1:4222".into());
    match arg("--role").as_deref() {
        Some("page") => actix_rt::System::new().block_on(page(&url, &name())),
        Some("service") => actix_rt::System::new().block_on(service(&url, &name())),
        _ => spawn_both(&url),
    }
}

fn name() -> String {
    arg("--name").unwrap_or_else(|| "pricing".into())
}

/// Starts this program twice, once per role, and waits for both.
fn spawn_both(url: &str) -> webmessaging::Result<()> {
    let exe = std::env::current_exe().map_err(|e| Error::Abort(e.to_string()))?;
    let name = format!("pricing-{}", std::process::id());
    let start = |role: &str| {
        Command::new(&exe)
            .args(["--role", role, "--url", url, "--name", &name])
            .spawn()
            .map_err(|e| Error::Abort(e.to_string()))
    };
    let mut service = start("service")?;
    let mut page = start("page")?;
    let ok = page.wait().map(|s| s.success()).unwrap_or(false)
        & service.wait().map(|s| s.success()).unwrap_or(false);
    if ok {
        println!("both processes finished");
        Ok(())
    } else {
        Err(Error::Abort(
            "a process failed (is nats-server -js running?)".into(),
        ))
    }
}

async fn page(url: &str, name: &str) -> webmessaging::Result<()> {
    let bridge = Bridge::connect_nats(url, "page", NatsConfig::default()).await?;
    let browser = Browser::new();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Price>();
    let shop = browser.open(&format!("{SHOP}/"))?;
    let end = shop
        .run(move |scope: &Scope| {
            let (mine, theirs) = scope.message_channel().into_ports();
            let tx = tx.clone();
            mine.on_message_as(move |_: &Scope, _: &MessageEvent, p: Price| {
                let _ = tx.send(p);
            });
            for (item, qty) in [("tea", 2), ("cups", 6), ("teapot", 1)] {
                mine.post(&Quote {
                    item: item.into(),
                    qty,
                })?;
            }
            scope.set_global(mine);
            ActorPort::take(&theirs)
        })
        .await??;
    let origins = PortOrigins {
        local: SHOP.into(),
        admit: PRICING.into(),
    };
    let _link = bridge.export_port(name, end, origins).await?;
    println!("page: asked for 3 quotes over the bridge ({name})");
    for _ in 0..3 {
        match tokio::time::timeout(Duration::from_secs(20), rx.recv()).await {
            Ok(Some(p)) => println!("page: {} costs {} cents", p.item, p.cents),
            _ => return Err(Error::Abort("page: no answer within 20 s".into())),
        }
    }
    shop.run(|scope: &Scope| scope.global::<MessagePort>().map(|p| p.close()))
        .await?;
    println!("page: closed its end");
    tokio::time::sleep(Duration::from_millis(500)).await; // the close is on its way
    browser.shutdown();
    Ok(())
}

async fn service(url: &str, name: &str) -> webmessaging::Result<()> {
    let bridge = Bridge::connect_nats(url, "service", NatsConfig::default()).await?;
    let browser = Browser::new();
    let (closed_tx, mut closed) = tokio::sync::mpsc::unbounded_channel::<()>();
    let window = browser.open(&format!("{PRICING}/"))?;
    let _link = bridge
        .import_port(
            name,
            &window,
            SHOP,
            move |scope: &Scope, port: MessagePort| {
                // The window hands the bridged port to its worker, which does the pricing.
                let closed_tx = closed_tx.clone();
                let worker =
                    scope.spawn_worker_with(&format!("{PRICING}/worker.js"), move |w: &Scope| {
                        let closed_tx = closed_tx.clone();
                        w.on_message(move |_: &Scope, e: &MessageEvent| {
                            let port = &e.ports()[0];
                            port.on_message_as(
                                |_: &Scope,
                                 e: &MessageEvent,
                                 q: Quote|
                                 -> webmessaging::Result<()> {
                                    println!("service worker: quote for {} {}", q.qty, q.item);
                                    let unit = 100 + 7 * q.item.len() as u64;
                                    if let Some(EventTarget::Port(port)) = e.target() {
                                        port.post(&Price {
                                            item: q.item,
                                            cents: unit * u64::from(q.qty),
                                        })?;
                                    }
                                    Ok(())
                                },
                            );
                            let closed_tx = closed_tx.clone();
                            port.on_close(move |_: &Scope, _: &MessageEvent| {
                                let _ = closed_tx.send(());
                            });
                        });
                    });
                match worker {
                    Ok(worker) => {
                        let _ = worker.post_message(&Value::from("port"), &[port.to_value()]);
                        scope.set_global(worker);
                    }
                    Err(e) => eprintln!("service: no worker: {e}"),
                }
            },
        )
        .await?;
    println!("service: imported {name}; its worker answers");
    match tokio::time::timeout(Duration::from_secs(30), closed.recv()).await {
        Ok(Some(())) => println!("service: the page closed the channel"),
        _ => return Err(Error::Abort("service: no close within 30 s".into())),
    }
    browser.shutdown();
    Ok(())
}
