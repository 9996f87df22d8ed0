//! Schedules explored per second: the hello scenario (a page, a cross-origin iframe, a
//! ready message, a ping and its echo) run under many seeds by `simulation::explore`.
//!
//! ```text
//! cargo bench -p webmessaging --bench simulation
//! SIM_BENCH_SEEDS=100000 cargo bench -p webmessaging --bench simulation
//! ```
//!
//! Prints one line per thread count (1, and every core) and writes them to
//! `target/bench-simulation.md`. Every run records its full trace, as `explore` does.

use std::fmt::Write as _;

use webmessaging::prelude::*;
use webmessaging::simulation::{explore, ExploreConfig, Outcome};

/// The hello scenario, from nothing: the routes, the page, the iframe.
fn hello(browser: &Browser) -> webmessaging::Result<()> {
    browser.route("https://widget.example/", |scope: &Scope| {
        scope.on_message(|scope: &Scope, e: &MessageEvent| {
            if e.origin() == "https://app.example" {
                let page = e.source_window().expect("a window message has a source");
                page.post(scope, "echo", e.origin()).expect("echo");
            }
        });
        let page = scope.parent().expect("an iframe has a parent");
        page.post(scope, "ready", "https://app.example")
            .expect("ready");
    })?;
    browser.open_with("https://app.example/", |scope: &Scope| {
        let frame = scope.create_iframe("https://widget.example/")?;
        scope.on_message(move |scope: &Scope, e: &MessageEvent| {
            if e.origin() == "https://widget.example"
                && e.data_as::<String>().ok().as_deref() == Some("ready")
            {
                frame
                    .post(scope, "ping", "https://widget.example")
                    .expect("ping");
            }
        });
        Ok::<(), Error>(())
    })?;
    Ok(())
}

/// Every complete run ends with the echo at the page.
fn echoed(o: &Outcome) -> Result<(), String> {
    let echo = o.events().any(|e| {
        e.event_type == EventType::Message
            && e.realm.starts_with("https://app.example")
            && e.data_as::<String>().as_deref() == Some("echo")
    });
    if o.is_complete() && !echo {
        return Err(format!("no echo after {} tasks", o.steps));
    }
    Ok(())
}

fn main() {
    let seeds: u64 = std::env::var("SIM_BENCH_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut out = String::from("| threads | runs | schedules/s |\n|---|---|---|\n");
    let mut configs = vec![1];
    if cores > 1 {
        configs.push(cores);
    }
    // Warm up (thread start, allocator).
    let _ = explore(ExploreConfig::new(0..200).threads(1), hello, echoed);
    for threads in configs {
        let report = explore(ExploreConfig::new(0..seeds).threads(threads), hello, echoed);
        assert!(report.failure.is_none(), "{report}");
        let line = format!(
            "| {threads} | {} | {:.0} |",
            report.runs,
            report.schedules_per_second()
        );
        println!("{line}");
        let _ = writeln!(out, "{line}");
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let _ = std::fs::create_dir_all(&target);
    let _ = std::fs::write(target.join("bench-simulation.md"), out);
}
