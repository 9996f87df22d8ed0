//! Simulate and explore: find the order that breaks a naive readiness handshake, replay
//! it, and show the fixed protocol keeping its property over 10,000 seeds, with iframe
//! reloads injected as faults.
//!
//! The naive protocol: the page makes a widget iframe and posts "ping" to it a task
//! later; the widget starts listening only once it has initialised (a task after its
//! script ran). Whether the ping finds a listener depends on which of two tasks the
//! event loop runs first, an order the standard leaves open: in a browser it fails
//! now and then, on some machines, under load. The simulation tries the orders
//! deliberately, one per seed, and stops at the first seed that loses the ping.
//!
//! The half-fixed protocol: the widget announces "ready" once it listens and the page
//! pings after "ready", but once: a reload of the iframe racing the exchange leaves the
//! new document unanswered. Reloads injected as faults find that.
//!
//! The fixed protocol: the page pings after every "ready" (a reloaded widget announces
//! itself again, so a reload racing a message is covered).
//!
//! Run with `cargo run --example simulate` (`SIM_SEEDS=N` changes the 10,000).

use std::time::Duration;

use webmessaging::kernel::{FaultKind, Faults};
use webmessaging::prelude::*;
use webmessaging::simulation::{explore, replay, ExploreConfig, Outcome};

/// The widget's listener in every version: it answers the page's ping with "echo".
fn listen_and_echo(scope: &Scope) {
    scope.on_message(|scope: &Scope, e: &MessageEvent| {
        if e.origin() == "https://app.example" {
            let page = e.source_window().expect("a window message has a source");
            page.post(scope, "echo", e.origin()).expect("echo");
        }
    });
}

/// The naive page and widget.
fn naive(browser: &Browser) -> webmessaging::Result<()> {
    browser.route("https://widget.example/", |scope: &Scope| {
        // Initialise first (a task later), then listen.
        scope.set_timeout(Duration::ZERO, listen_and_echo);
    })?;
    browser.open_with("https://app.example/", |scope: &Scope| {
        let frame = scope.create_iframe("https://widget.example/")?;
        scope.on_message(|_s: &Scope, _e: &MessageEvent| {});
        scope.set_timeout(Duration::ZERO, move |scope: &Scope| {
            frame
                .post(scope, "ping", "https://widget.example")
                .expect("ping");
        });
        Ok::<(), Error>(())
    })?;
    Ok(())
}

/// The widget of the two later protocols: it listens, then announces "ready".
fn widget_announcing_ready(browser: &Browser) -> webmessaging::Result<()> {
    browser.route("https://widget.example/", |scope: &Scope| {
        scope.set_timeout(Duration::ZERO, |scope: &Scope| {
            listen_and_echo(scope);
            let page = scope.parent().expect("an iframe has a parent");
            page.post(scope, "ready", "https://app.example")
                .expect("ready");
        });
    })
}

/// The widget announcing "ready", and a page that pings after "ready": after the first
/// one only (`once`), or after every one.
fn page_pinging_after_ready(browser: &Browser, once: bool) -> webmessaging::Result<()> {
    widget_announcing_ready(browser)?;
    browser.open_with("https://app.example/", move |scope: &Scope| {
        let frame = scope.create_iframe("https://widget.example/")?;
        let pinged = std::cell::Cell::new(false);
        scope.on_message(move |scope: &Scope, e: &MessageEvent| {
            let ready = e.origin() == "https://widget.example"
                && e.data_as::<String>().ok().as_deref() == Some("ready");
            if ready && !(once && pinged.replace(true)) {
                frame
                    .post(scope, "ping", "https://widget.example")
                    .expect("ping");
            }
        });
        Ok::<(), Error>(())
    })?;
    Ok(())
}

/// The half-fixed page: it waits for "ready", but pings only once. A reload of the widget
/// after the ping (a new document, a new "ready") leaves the new document unanswered.
fn once_only(browser: &Browser) -> webmessaging::Result<()> {
    page_pinging_after_ready(browser, true)
}

/// The fixed page: ping after "ready", every time.
fn fixed(browser: &Browser) -> webmessaging::Result<()> {
    page_pinging_after_ready(browser, false)
}

/// The property: a complete run ends with the page holding an echo from the widget's
/// latest document (the last "ready" is answered).
fn echoed(o: &Outcome) -> Result<(), String> {
    if !o.is_complete() {
        return Ok(());
    }
    let mut waiting = true;
    let mut saw_any = false;
    for e in o.events() {
        if e.event_type != EventType::Message || !e.realm.starts_with("https://app.example") {
            continue;
        }
        match e.data_as::<String>().as_deref() {
            Some("ready") => waiting = true,
            Some("echo") => {
                waiting = false;
                saw_any = true;
            }
            _ => {}
        }
    }
    if !saw_any || waiting {
        return Err(
            "the widget's latest document never answered: its ping was lost or never sent".into(),
        );
    }
    Ok(())
}

fn main() {
    env_logger::init();
    let seeds: u64 = std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);

    println!("1. The naive handshake, explored over seeds 0..{seeds}:");
    let report = explore(ExploreConfig::new(0..seeds), naive, echoed);
    println!(
        "   {} runs, {:.0} schedules/s",
        report.runs,
        report.schedules_per_second()
    );
    let Some(failure) = report.failure else {
        println!("   no failing order found (unexpected)");
        std::process::exit(1);
    };
    println!(
        "   seed {} breaks it: {}",
        failure.config.seed(),
        failure.reason
    );
    println!("   replay it with: {}", failure.replay_call());
    println!("   its run, task by task:");
    for line in failure.outcome.trace.to_string().lines() {
        println!("     {line}");
    }
    let again = replay(failure.config.clone(), naive);
    println!(
        "   replayed: {}",
        match echoed(&again) {
            Err(e) => format!(
                "fails again ({e}), the same trace: {}",
                again.trace.to_string() == failure.outcome.trace.to_string()
            ),
            Ok(()) => "passed (unexpected)".into(),
        }
    );
    std::fs::create_dir_all("target").ok();
    let _ = std::fs::write(
        "target/simulate-failure.mmd",
        failure.outcome.trace.to_mermaid(),
    );
    let _ = std::fs::write(
        "target/simulate-failure.json",
        failure.outcome.trace.to_chrome_json(),
    );
    println!("   drawn in target/simulate-failure.mmd and target/simulate-failure.json");

    println!();
    println!("2. Waiting for \"ready\" but pinging once, with iframe reloads injected:");
    let reloads = Faults::none().with(FaultKind::Navigate, 0.05).at_most(3);
    let report = explore(
        ExploreConfig::new(0..seeds).faults(reloads),
        once_only,
        echoed,
    );
    let Some(f) = report.failure else {
        println!("   no failing order found (unexpected)");
        std::process::exit(1);
    };
    println!("   seed {} breaks it: {}", f.config.seed(), f.reason);
    println!("   replay it with: {}", f.replay_call());
    for line in f.outcome.trace.to_string().lines() {
        println!("     {line}");
    }

    println!();
    println!("3. The fixed handshake (a ping after every \"ready\") over seeds 0..{seeds}, with iframe reloads and delays injected:");
    let faults = Faults::none()
        .with(FaultKind::Navigate, 0.05)
        .with(FaultKind::Delay, 0.05)
        .at_most(3);
    let report = explore(ExploreConfig::new(0..seeds).faults(faults), fixed, echoed);
    println!("   {report}");
    if report.failure.is_some() {
        std::process::exit(1);
    }
}
