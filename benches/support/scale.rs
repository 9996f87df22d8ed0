//! How cost grows with the number of live realms: `realms` same-origin iframes spread
//! over [`GROUPS`] browsing-context groups (top-level windows opened with
//! [`Browser::open_with`], each on a thread of its own), each iframe's document with a
//! `message` listener that deserializes (`on_message_as::<Msg>`). Measured: the time to
//! create and load them all, the RSS per realm once they are loaded, and the throughput
//! of window-to-iframe posts when every group posts to each of its iframes in turn
//! (about [`MESSAGES`] in all, at least one per iframe), all groups at once.
//!
//! `--bench compare` (`BENCH_ONLY=scale`) runs each size in a fresh child process (this
//! binary again, with `BENCH_SCALE_CHILD=realms`), so the RSS delta is this size's only.

#![allow(dead_code)]

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use webmessaging::prelude::*;

use crate::memory::rss_bytes;
use crate::workloads::Msg;

/// Browsing-context groups the realms are spread over.
pub const GROUPS: usize = 5;
/// Messages posted in the throughput phase (rounded to a whole number per iframe).
pub const MESSAGES: u64 = 500_000;
/// The sizes `--bench compare` measures.
pub const SIZES: [usize; 3] = [10, 1000, 100_000];
/// The environment variable that makes a benchmark binary a scale child.
pub const CHILD_ENV: &str = "BENCH_SCALE_CHILD";

/// Iframes whose document has loaded (its script ran).
static LOADED: AtomicU64 = AtomicU64::new(0);
/// Messages still to be delivered in the throughput phase.
static LEFT: AtomicU64 = AtomicU64::new(0);
/// Told when the last message is delivered.
static DONE: Mutex<Option<tokio::sync::oneshot::Sender<Instant>>> = Mutex::new(None);

/// The figures of one size.
#[derive(Clone, Copy, Debug, Default)]
pub struct ScaleFigures {
    /// Live iframes (realms besides the groups' top-level windows).
    pub realms: usize,
    /// Time to create and load them all.
    pub create: Duration,
    /// RSS delta per realm once loaded.
    pub rss_bytes_per_realm: f64,
    /// Window-to-iframe messages delivered per second, all groups at once.
    pub msgs_per_sec: f64,
}

fn iframe_script(s: &Scope) {
    LOADED.fetch_add(1, Ordering::Relaxed);
    s.on_message_as::<Msg, _, _>(|_: &Scope, _, _m| {
        if LEFT.fetch_sub(1, Ordering::AcqRel) == 1 {
            if let Some(tx) = DONE.lock().unwrap().take() {
                let _ = tx.send(Instant::now());
            }
        }
    });
}

fn origin(g: usize) -> String {
    format!("https://group{g}.example")
}

/// Creates `realms` iframes over [`GROUPS`] groups in a fresh [`Browser`] (its own actix
/// `System`, on this thread), then posts about `messages` to them; returns the figures.
pub fn realms(realms: usize, messages: u64) -> ScaleFigures {
    let groups = GROUPS.min(realms.max(1));
    let per_group = realms / groups;
    let realms = per_group * groups;
    let per_frame = (messages / realms.max(1) as u64).max(1);
    LOADED.store(0, Ordering::Relaxed);
    let sys = actix_rt::System::new();
    sys.block_on(async move {
        let browser = Browser::new();
        let before = rss_bytes();
        let t0 = Instant::now();
        let mut windows = Vec::with_capacity(groups);
        for g in 0..groups {
            let w = browser
                .open_with(&format!("{}/", origin(g)), move |scope: &Scope| {
                    let base = origin(g);
                    for i in 0..per_group {
                        let options = IframeOptions {
                            script: Some(webmessaging::script(iframe_script)),
                            ..IframeOptions::default()
                        };
                        let url = format!("{base}/frame{i}.html");
                        scope.create_iframe_with(&url, options).expect("iframe");
                    }
                })
                .expect("open a group");
            windows.push(w);
        }
        while LOADED.load(Ordering::Relaxed) < realms as u64 {
            actix_rt::time::sleep(Duration::from_millis(2)).await;
        }
        let create = t0.elapsed();
        let after = rss_bytes();

        let (tx, rx) = tokio::sync::oneshot::channel();
        *DONE.lock().unwrap() = Some(tx);
        LEFT.store(per_frame * realms as u64, Ordering::Release);
        let start = Instant::now();
        for (g, w) in windows.iter().enumerate() {
            w.run(move |scope: &Scope| {
                let base = origin(g);
                let frames = scope.window().expect("a window").frames();
                for i in 0..per_frame {
                    for f in &frames {
                        f.post(scope, &Msg::new(i), &base).unwrap();
                    }
                }
            })
            .await
            .expect("post");
        }
        let end = rx.await.expect("every message delivered");
        let secs = end.duration_since(start).as_secs_f64();
        browser.shutdown();
        ScaleFigures {
            realms,
            create,
            rss_bytes_per_realm: (after as f64 - before as f64) / realms as f64,
            msgs_per_sec: (per_frame * realms as u64) as f64 / secs,
        }
    })
}

/// If this process is a scale child, measures, prints one JSON line and returns true.
pub fn run_child_if_asked() -> bool {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return false;
    };
    let n: usize = spec.parse().expect("realm count");
    let f = realms(n, MESSAGES);
    println!(
        "{{\"realms\":{},\"create_ms\":{:.1},\"rss_bytes_per_realm\":{:.1},\"msgs_per_sec\":{:.1}}}",
        f.realms,
        f.create.as_secs_f64() * 1e3,
        f.rss_bytes_per_realm,
        f.msgs_per_sec
    );
    true
}

/// Runs this binary again as a scale child for `n` realms.
pub fn measure(n: usize) -> Option<ScaleFigures> {
    let exe = std::env::current_exe().ok()?;
    let out = Command::new(exe)
        .env(CHILD_ENV, n.to_string())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with('{'))?;
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    Some(ScaleFigures {
        realms: v["realms"].as_u64()? as usize,
        create: Duration::from_secs_f64(v["create_ms"].as_f64()? / 1e3),
        rss_bytes_per_realm: v["rss_bytes_per_realm"].as_f64()?,
        msgs_per_sec: v["msgs_per_sec"].as_f64()?,
    })
}
