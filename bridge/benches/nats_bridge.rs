//! Throughput and round trip of a bridged MessagePort over NATS JetStream on loopback,
//! between two Browsers on two threads with an actix System each (two "processes" that
//! share nothing but the server).
//!
//! ```sh
//! nats-server -js -a 127.0.0.1 -p 4222 -sd /tmp/nats-bench &
//! WEBMESSAGING_NATS_URL=nats://127.0.0.1:4222 cargo bench -p webmessaging-nats --bench nats_bridge
//! ```
//!
//! `BENCH_QUICK=1` sends fewer messages. Without `WEBMESSAGING_NATS_URL` it says so and
//! exits.

use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::unbounded_channel;
use webmessaging::prelude::*;
use webmessaging::{ActorPort, EventTarget};
use webmessaging_nats::{Bridge, NatsConfig, PortOrigins};

const APP: &str = "https://app.example";
const SVC: &str = "https://svc.example";

fn config(tag: &str) -> NatsConfig {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tag = format!("{tag}{}x{nanos}", std::process::id());
    NatsConfig {
        stream: format!("WMBENCH_{tag}"),
        prefix: format!("wmb{tag}"),
        ..NatsConfig::default()
    }
}

/// The importing "process": a service page that counts what arrives (throughput) or
/// echoes it (round trip). Runs until `stop` says so.
fn service(
    url: String,
    cfg: NatsConfig,
    echo: bool,
    counted: tokio::sync::mpsc::UnboundedSender<u64>,
    stop: std_mpsc::Receiver<()>,
) {
    actix_rt::System::new().block_on(async move {
        let bridge = Bridge::connect_nats(&url, "svc", cfg)
            .await
            .expect("connect");
        let browser = Browser::new();
        let page = browser.open("https://svc.example/").expect("open");
        let _link = bridge
            .import_port(
                "bench",
                &page,
                APP,
                move |scope: &Scope, port: MessagePort| {
                    let counted = counted.clone();
                    port.on_message_as(move |_: &Scope, e: &MessageEvent, n: u64| {
                        if echo {
                            if let Some(EventTarget::Port(p)) = e.target() {
                                let _ = p.post(&n);
                            }
                        } else {
                            let _ = counted.send(n);
                        }
                    });
                    scope.set_global(port);
                },
            )
            .await
            .expect("import");
        while stop.try_recv().is_err() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        browser.shutdown();
    });
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let Ok(url) = std::env::var("WEBMESSAGING_NATS_URL") else {
        println!("nats_bridge bench: set WEBMESSAGING_NATS_URL to a nats-server -js (skipped)");
        return;
    };
    let quick = std::env::var("BENCH_QUICK").is_ok();
    let n: u64 = if quick { 20_000 } else { 100_000 };
    let trips: usize = if quick { 300 } else { 2_000 };

    // Throughput: n messages one way.
    let cfg = config("tput");
    let (counted_tx, mut counted_rx) = unbounded_channel();
    let (stop_tx, stop_rx) = std_mpsc::channel();
    let (u, c) = (url.clone(), cfg.clone());
    let svc = std::thread::spawn(move || service(u, c, false, counted_tx, stop_rx));
    let elapsed = actix_rt::System::new().block_on(async move {
        let bridge = Bridge::connect_nats(&url, "app", cfg)
            .await
            .expect("connect");
        let browser = Browser::new();
        let page = browser.open("https://app.example/").expect("open");
        let end = page
            .run(|scope: &Scope| {
                let (mine, theirs) = scope.message_channel().into_ports();
                scope.set_global(mine);
                ActorPort::take(&theirs)
            })
            .await
            .expect("run")
            .expect("take");
        let origins = PortOrigins {
            local: APP.into(),
            admit: SVC.into(),
        };
        let link = bridge
            .export_port("bench", end, origins)
            .await
            .expect("export");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let t0 = Instant::now();
        page.run(move |scope: &Scope| {
            let port = scope.global::<MessagePort>().expect("end");
            for i in 0..n {
                port.post(&i).expect("post");
            }
        })
        .await
        .expect("run");
        let mut last = 0;
        while last + 1 < n {
            // Awaited, never blocking: the bridge's tasks run on this thread.
            match tokio::time::timeout(Duration::from_secs(20), counted_rx.recv()).await {
                Ok(Some(v)) => last = v,
                _ => panic!("stalled after {last}: {:?}", link.stats()),
            }
        }
        let elapsed = t0.elapsed();
        browser.shutdown();
        elapsed
    });
    let _ = stop_tx.send(());
    let _ = svc.join();
    println!(
        "bridged port, one way, {n} u64 messages: {:.0} msgs/s ({elapsed:.2?})",
        n as f64 / elapsed.as_secs_f64()
    );

    // Round trip: post, wait for the echo, one at a time.
    let url = std::env::var("WEBMESSAGING_NATS_URL").expect("checked");
    let cfg = config("rtt");
    let (counted_tx, _unused) = unbounded_channel();
    let (stop_tx, stop_rx) = std_mpsc::channel();
    let (u, c) = (url.clone(), cfg.clone());
    let svc = std::thread::spawn(move || service(u, c, true, counted_tx, stop_rx));
    let mut samples = actix_rt::System::new().block_on(async move {
        let bridge = Bridge::connect_nats(&url, "app", cfg)
            .await
            .expect("connect");
        let browser = Browser::new();
        let (tx, mut rx) = unbounded_channel::<u64>();
        let page = browser.open("https://app.example/").expect("open");
        let end = page
            .run(move |scope: &Scope| {
                let (mine, theirs) = scope.message_channel().into_ports();
                mine.on_message_as(move |_: &Scope, _: &MessageEvent, n: u64| {
                    let _ = tx.send(n);
                });
                scope.set_global(mine);
                ActorPort::take(&theirs)
            })
            .await
            .expect("run")
            .expect("take");
        let origins = PortOrigins {
            local: APP.into(),
            admit: SVC.into(),
        };
        let _link = bridge
            .export_port("bench", end, origins)
            .await
            .expect("export");
        let mut samples = Vec::with_capacity(trips);
        for i in 0..(trips + 50) as u64 {
            let t0 = Instant::now();
            page.run(move |scope: &Scope| {
                scope
                    .global::<MessagePort>()
                    .expect("end")
                    .post(&i)
                    .expect("post");
            })
            .await
            .expect("run");
            let back = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await;
            assert_eq!(back.ok().flatten(), Some(i), "the echo of {i}");
            if i >= 50 {
                samples.push(t0.elapsed()); // after 50 warm-up trips
            }
        }
        browser.shutdown();
        samples
    });
    let _ = stop_tx.send(());
    let _ = svc.join();
    samples.sort();
    println!(
        "bridged port round trip ({} trips): p50 {:.2?}, p99 {:.2?}, max {:.2?}",
        samples.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples[samples.len() - 1]
    );
}
