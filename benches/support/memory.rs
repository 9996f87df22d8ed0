//! Memory per live `MessageChannel`, as `../shared/bench-peers/node/messagechannel-memory.js`
//! measures it: each variant runs in a fresh child process (this benchmark binary run
//! again with `BENCH_MEMORY_CHILD=variant:channels`), which creates the channels in a
//! window, keeps them reachable, and reports the RSS delta per channel. Variants:
//! `idle` (no listener), `started` (port2 has a `message` listener, so it is started) and
//! `shipped` (idle, port2 transferred through another channel back to the same realm).
//! Variant `iframes` creates that many same-origin iframes instead (each document with a
//! `message` listener) and reports the RSS delta per iframe, as `chromium/perf.js` does
//! for Chromium's renderer.

#![allow(dead_code)]

use std::process::Command;

use webmessaging::prelude::*;

use crate::workloads::Bench;

/// The environment variable that makes a benchmark binary a memory child.
pub const CHILD_ENV: &str = "BENCH_MEMORY_CHILD";

/// Resident set size of this process, in bytes (`/proc/self/statm`).
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Per-channel figures of one child run.
#[derive(Clone, Copy, Debug, Default)]
pub struct MemFigures {
    pub rss_bytes_per_channel: f64,
    pub rss_delta_mib: f64,
}

/// If this process is a memory child, runs the measurement, prints one JSON line and
/// returns true.
pub fn run_child_if_asked() -> bool {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return false;
    };
    let (variant, channels) = spec.split_once(':').expect("variant:channels");
    let channels: usize = channels.parse().expect("channel count");
    let started = variant == "started";
    let shipped = variant == "shipped";
    let iframes = variant == "iframes";
    let sys = actix_rt::System::new();
    let (before, after) = sys.block_on(async move {
        let b = Bench::new().await;
        let before = b
            .window
            .run(move |scope: &Scope| {
                let before = rss_bytes();
                let mut live: Vec<MessagePort> = Vec::with_capacity(2 * channels);
                if iframes {
                    let mut frames = Vec::with_capacity(channels);
                    for i in 0..channels {
                        let script = webmessaging::script(|s: &Scope| {
                            s.on_message(|_: &Scope, _: &MessageEvent| {});
                        });
                        let options = IframeOptions {
                            script: Some(script),
                            ..IframeOptions::default()
                        };
                        let url = format!("https://bench.example/frame{i}.html");
                        frames.push(scope.create_iframe_with(&url, options).unwrap());
                    }
                    scope.set_global(frames);
                } else if shipped {
                    // Each port2 goes through one helper channel and comes back to this
                    // realm: every channel is shipped, idle (no listener on its ports).
                    let (h1, h2) = scope.message_channel().into_ports();
                    let arrived: std::rc::Rc<std::cell::RefCell<Vec<MessagePort>>> =
                        Default::default();
                    let keep = arrived.clone();
                    h2.on_message(move |_: &Scope, e: &MessageEvent| {
                        keep.borrow_mut().push(e.ports()[0].clone());
                    });
                    for _ in 0..channels {
                        let (p1, p2) = scope.message_channel().into_ports();
                        h1.post_with_transfer(&(), &[p2.to_value()]).unwrap();
                        live.push(p1);
                    }
                    scope.set_global((h1, h2, arrived));
                } else {
                    for _ in 0..channels {
                        let ch = scope.message_channel();
                        if started {
                            ch.port2().on_message(|_: &Scope, _: &MessageEvent| {});
                        }
                        let (p1, p2) = ch.into_ports();
                        live.push(p1);
                        live.push(p2);
                    }
                }
                // Keep them reachable until the realm goes away.
                scope.set_global(live);
                before
            })
            .await
            .expect("run");
        // Everything queued (the shipped ports on their way, the iframes' loads) has
        // happened.
        b.window.settle().await.expect("settle");
        let after = b.window.run(|_: &Scope| rss_bytes()).await.expect("run");
        b.shutdown();
        (before, after)
    });
    let per = (after as f64 - before as f64) / channels as f64;
    println!(
        "{{\"variant\":\"{variant}\",\"channels\":{channels},\"rss_bytes_per_channel\":{per:.1},\"rss_delta_mib\":{:.1}}}",
        (after as f64 - before as f64) / (1u64 << 20) as f64
    );
    true
}

/// Runs this binary again as a memory child for `variant` and `channels`.
pub fn measure(variant: &str, channels: usize) -> Option<MemFigures> {
    let exe = std::env::current_exe().ok()?;
    let out = Command::new(exe)
        .env(CHILD_ENV, format!("{variant}:{channels}"))
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with('{'))?;
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    Some(MemFigures {
        rss_bytes_per_channel: v["rss_bytes_per_channel"].as_f64()?,
        rss_delta_mib: v["rss_delta_mib"].as_f64()?,
    })
}
