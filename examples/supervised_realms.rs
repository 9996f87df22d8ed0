//! A widget iframe that crashes, is restarted by its parent's supervision, and shakes hands
//! with its parent again.
//!
//! The readiness handshake: the widget posts "ready" to its parent when its document
//! loads; the parent then sends it work, one job at a time. One job is bad: the widget
//! panics on it. That is a crash of the widget's realm only: its supervisor (the parent
//! window) reloads it (policy `Reload`, the default), the new document posts "ready"
//! again, and the parent resumes with the jobs that are left. The bad job is not retried.
//!
//! Run with `cargo run -p webmessaging --example supervised_realms`
//! (`RUST_LOG=webmessaging=info` shows the runtime's own log lines).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::mpsc;
use webmessaging::prelude::*;

const APP: &str = "https://app.example";
const WIDGET: &str = "https://widget.example";

/// The widget's document.
fn widget(scope: &Scope) -> webmessaging::Result<()> {
    println!(
        "widget: document {} loaded; telling the app it is ready",
        scope.name()
    );
    scope.on_message(
        |scope: &Scope, e: &MessageEvent| -> webmessaging::Result<()> {
            // Only the app may give work.
            if e.origin() != APP {
                return Ok(());
            }
            let job: String = e.data_as()?;
            let n: i64 = match job.strip_prefix("square ") {
                Some(n) => n
                    .parse()
                    .unwrap_or_else(|_| panic!("the widget choked on {job:?}")),
                None => panic!("the widget choked on {job:?}"),
            };
            println!("widget: squaring {n}");
            scope
                .parent()
                .unwrap()
                .post(scope, &format!("{n} squared is {}", n * n), APP)
        },
    );
    scope.parent().unwrap().post(scope, "ready", APP)
}

/// The jobs the app still has to hand out.
struct Jobs(RefCell<VecDeque<String>>);

/// The app's document: supervises the widget and drives the handshake.
fn app(scope: &Scope, done: mpsc::UnboundedSender<()>) -> webmessaging::Result<()> {
    let jobs = scope.set_global(Jobs(RefCell::new(
        ["square 3", "square x (a bad job)", "square 12", "square 40"]
            .into_iter()
            .map(String::from)
            .collect(),
    )));
    let widget = scope.create_iframe_with(
        &format!("{WIDGET}/"),
        IframeOptions {
            name: Some("widget".into()),
            restart_policy: Some(RestartPolicy::Reload),
            ..Default::default()
        },
    )?;
    scope.on_child_lifecycle(|_s: &Scope, e: &LifecycleEvent| match e {
        LifecycleEvent::Crashed { realm, message } => {
            println!("app: the {realm} crashed ({message}); its supervisor will reload it")
        }
        LifecycleEvent::Restarted { realm, count } => {
            println!("app: the {realm} was reloaded (restart #{count})")
        }
        other => println!("app: {other:?}"),
    });
    let next_job = move |scope: &Scope, widget: &WindowProxy| -> webmessaging::Result<()> {
        let job = jobs.0.borrow_mut().pop_front();
        match job {
            Some(job) => {
                println!("app: sending {job:?}");
                widget.post(scope, &job, WIDGET)
            }
            None => {
                println!("app: all jobs done");
                let _ = done.send(());
                Ok(())
            }
        }
    };
    scope.on_message(
        move |scope: &Scope, e: &MessageEvent| -> webmessaging::Result<()> {
            // Only messages from the widget count.
            if e.origin() != WIDGET || e.source_window() != Some(&widget) {
                return Ok(());
            }
            let text: String = e.data_as()?;
            if text == "ready" {
                println!(
                    "app: the widget says it is ready (document #{})",
                    widget.document_serial()
                );
            } else {
                println!("app: the widget answered {text:?}");
            }
            next_job(scope, &widget)
        },
    );
    Ok(())
}

#[actix_rt::main]
async fn main() -> webmessaging::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("off")).init();
    // Panics in realms are caught by the runtime; print them as one short line.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| {
                info.payload()
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
            })
            .unwrap_or_default();
        println!("  (a panic in a realm: {msg:?})");
    }));

    let browser = Browser::new();
    browser.route(&format!("{WIDGET}/"), widget)?;
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let _app = browser.open_with(&format!("{APP}/"), move |scope: &Scope| {
        app(scope, done_tx.clone())
    })?;

    let finished = tokio::time::timeout(Duration::from_secs(10), done_rx.recv()).await;
    let ok = matches!(finished, Ok(Some(())));
    println!();
    println!("lifecycle events recorded by the browser:");
    for e in browser.lifecycle_events() {
        println!("  {e:?}");
    }
    browser.shutdown();
    actix_rt::System::current().stop();
    if ok {
        println!("done: the widget crashed once, was reloaded, and the app finished its work");
        Ok(())
    } else {
        Err(webmessaging::Error::Abort(
            "the app did not finish in time".into(),
        ))
    }
}
