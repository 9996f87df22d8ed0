//! The readiness handshake: a parent must not post to an iframe before the iframe's
//! document has set up its listeners, and a message queued for a document that is then
//! replaced (navigation, crash and restart) is dropped, never shown to the new one. So the
//! iframe announces "ready" when it can listen, and the parent holds its work until then,
//! and again after every new document.
//!
//! - The app (`https://app.example`) embeds a widget (`https://widget.example`) and
//!   submits a job at once; the job waits in the app until the widget says it is ready.
//! - The app then navigates the widget to a new version and submits another job: the
//!   widget is not ready again until its new document announces itself; then the job goes.
//!
//! The app checks `event.origin` and that `event.source` is its own iframe; the widget
//! checks that it talks to the app's origin.
//!
//! Run with `cargo run --example readiness_handshake`.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use webmessaging::prelude::*;

const APP: &str = "https://app.example";
const WIDGET: &str = "https://widget.example";

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum Msg {
    /// widget -> app: my listeners are set up.
    Ready { version: String },
    /// app -> widget: do this.
    Render { job: String },
    /// widget -> app: done.
    Rendered { job: String, version: String },
}

/// The app's side of the handshake.
struct Handshake {
    widget: WindowProxy,
    ready: Cell<bool>,
    pending: RefCell<Vec<String>>,
}

impl Handshake {
    /// Sends `job` now if the widget is ready, else keeps it until it is.
    fn submit(&self, scope: &Scope, job: &str) -> webmessaging::Result<()> {
        if self.ready.get() {
            println!("app: widget is ready, sending {job:?}");
            self.widget
                .post(scope, &Msg::Render { job: job.into() }, WIDGET)
        } else {
            println!("app: widget not ready yet, holding {job:?}");
            self.pending.borrow_mut().push(job.into());
            Ok(())
        }
    }

    fn on_ready(&self, scope: &Scope) -> webmessaging::Result<()> {
        self.ready.set(true);
        let jobs: Vec<String> = self.pending.borrow_mut().drain(..).collect();
        for job in jobs {
            println!("app: widget is ready now, sending held {job:?}");
            self.widget.post(scope, &Msg::Render { job }, WIDGET)?;
        }
        Ok(())
    }
}

/// The widget's document (both versions run it).
fn widget(scope: &Scope) -> webmessaging::Result<()> {
    let version = scope.url().path().trim_start_matches('/').to_owned();
    let version = if version.is_empty() {
        "v1".to_owned()
    } else {
        version
    };
    let v = version.clone();
    scope.on_message_as(
        move |scope: &Scope, e: &MessageEvent, msg: Msg| -> webmessaging::Result<()> {
            if e.origin() != APP {
                return Ok(());
            }
            if let Msg::Render { job } = msg {
                println!("widget {v}: rendering {job:?}");
                let parent = scope.parent().expect("iframe");
                parent.post(
                    scope,
                    &Msg::Rendered {
                        job,
                        version: v.clone(),
                    },
                    APP,
                )?;
            }
            Ok(())
        },
    );
    // Listeners are in place: announce it.
    println!("widget {version}: loaded, announcing ready");
    scope
        .parent()
        .expect("iframe")
        .post(scope, &Msg::Ready { version }, APP)
}

/// The next rendered job, waiting for it (an explicit signal, never a sleep).
async fn next(rx: &mut mpsc::UnboundedReceiver<(String, String)>) -> (String, String) {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("timed out")
        .expect("app gone")
}

#[actix_rt::main]
async fn main() -> webmessaging::Result<()> {
    env_logger::init();
    let browser = Browser::new();
    browser.route("https://widget.example/", widget)?;
    browser.route("https://widget.example/v2", widget)?;
    let (tx, mut rx) = mpsc::unbounded_channel::<(String, String)>();

    let app = browser.open_with(
        "https://app.example/",
        move |scope: &Scope| -> webmessaging::Result<()> {
            let iframe = scope.create_iframe("https://widget.example/")?;
            let hs = scope.set_global(Handshake {
                widget: iframe.clone(),
                ready: Cell::new(false),
                pending: RefCell::new(Vec::new()),
            });
            let tx = tx.clone();
            scope.on_message_as(
                move |scope: &Scope, e: &MessageEvent, msg: Msg| -> webmessaging::Result<()> {
                    // Only our own iframe, from the widget's origin.
                    if e.origin() != WIDGET || e.source_window() != Some(&iframe) {
                        println!("app: ignoring a message from {}", e.origin());
                        return Ok(());
                    }
                    let hs = scope.global::<Handshake>().expect("handshake");
                    match msg {
                        Msg::Ready { version } => {
                            println!("app: widget {version} says it is ready");
                            hs.on_ready(scope)
                        }
                        Msg::Rendered { job, version } => {
                            println!("app: widget {version} rendered {job:?}");
                            let _ = tx.send((job, version));
                            Ok(())
                        }
                        Msg::Render { .. } => Ok(()),
                    }
                },
            );
            hs.submit(scope, "chart for January")
        },
    )?;

    let first = next(&mut rx).await;
    assert_eq!(first, ("chart for January".to_owned(), "v1".to_owned()));

    // A new version of the widget: not ready until its new document says so.
    app.run(|scope: &Scope| -> webmessaging::Result<()> {
        let hs = scope.global::<Handshake>().expect("handshake");
        println!("app: navigating the widget to v2");
        hs.ready.set(false);
        hs.widget.navigate("https://widget.example/v2")?;
        hs.submit(scope, "chart for February")
    })
    .await??;
    let second = next(&mut rx).await;
    assert_eq!(second, ("chart for February".to_owned(), "v2".to_owned()));

    println!("main: both jobs were rendered, each by a widget that was ready for it");
    browser.shutdown();
    Ok(())
}
