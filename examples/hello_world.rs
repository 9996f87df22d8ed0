//! The standard's first example: document A (`https://example.com`) contains an iframe
//! showing document B (`https://b.example.org`). A posts "Hello world" to B; B checks who
//! sent it and answers "Hello" to `event.source`, using `event.origin` as the target
//! origin; A checks who answered.
//!
//! Both sides check origins:
//! - the *sender* names the origin it means to talk to (`targetOrigin`): a message posted
//!   for the wrong origin is dropped by the runtime, never shown to B;
//! - the *receiver* checks `event.origin`: B ignores a message from a third site that
//!   posted with `"*"`.
//!
//! Run with `cargo run --example hello_world`.

use std::time::Duration;

use tokio::sync::mpsc;
use webmessaging::prelude::*;

/// Everything B and A see, reported to `main`.
#[derive(Debug)]
enum Seen {
    BAnswered,
    BIgnored(String),
    AGotReply(String),
}

#[actix_rt::main]
async fn main() -> webmessaging::Result<()> {
    env_logger::init();
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel::<Seen>();

    // Document B: the iframe. It only talks to https://example.com.
    let tx_b = tx.clone();
    browser.route("https://b.example.org/", move |scope: &Scope| {
        let tx = tx_b.clone();
        scope.on_message(
            move |scope: &Scope, e: &MessageEvent| -> webmessaging::Result<()> {
                let data = e.data().as_str().unwrap_or("<not a string>").to_owned();
                if e.origin() == "https://example.com" {
                    println!(
                        "B: got {data:?} from {} (trusted): answering \"Hello\"",
                        e.origin()
                    );
                    if data == "Hello world" {
                        let source = e.source_window().expect("window messages have a source");
                        source.post_message(scope, &Value::from("Hello"), e.origin(), &[])?;
                        let _ = tx.send(Seen::BAnswered);
                    }
                } else {
                    println!(
                        "B: got {data:?} from {}: not the origin I trust, ignored",
                        e.origin()
                    );
                    let _ = tx.send(Seen::BIgnored(e.origin().to_owned()));
                }
                Ok(())
            },
        );
    })?;

    // Document A: the top-level page.
    let tx_a = tx.clone();
    let a = browser.open_with(
        "https://example.com/",
        move |scope: &Scope| -> webmessaging::Result<()> {
            let tx = tx_a.clone();
            scope.on_message(move |_scope: &Scope, e: &MessageEvent| {
                let data = e.data().as_str().unwrap_or("<not a string>").to_owned();
                if e.origin() == "https://b.example.org" {
                    println!("A: got {data:?} from {} (the iframe I expect)", e.origin());
                    let _ = tx.send(Seen::AGotReply(data));
                } else {
                    println!("A: got {data:?} from {}: ignored", e.origin());
                }
            });
            let b = scope.create_iframe("https://b.example.org/")?;
            // Sender-side check: this message names the wrong origin, so it is dropped at
            // delivery (B's document is https://b.example.org), silently.
            println!("A: posting \"secret\" for https://not-b.example (wrong target origin)");
            b.post_message(scope, &Value::from("secret"), "https://not-b.example", &[])?;
            println!("A: posting \"Hello world\" for https://b.example.org");
            b.post_message(
                scope,
                &Value::from("Hello world"),
                "https://b.example.org/",
                &[],
            )?;
            Ok(())
        },
    )?;

    // Wait for B's answer and A's receipt of it: explicit signals, no sleeping.
    let mut answered = false;
    let mut reply = None;
    while !(answered && reply.is_some()) {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(Seen::BAnswered)) => answered = true,
            Ok(Some(Seen::AGotReply(r))) => reply = Some(r),
            Ok(Some(other)) => panic!("unexpected: {other:?}"),
            Ok(None) | Err(_) => panic!("timed out waiting for the hello world exchange"),
        }
    }
    // Window messages from one sender are delivered in order, so B got "secret" first if
    // at all: it did not, the runtime dropped it (origin mismatch).
    println!("main: B never saw \"secret\": the runtime dropped it because of targetOrigin");

    // Receiver-side check: a third origin posts to B with "*".
    let b = a.run(|scope: &Scope| scope.iframes()[0].clone()).await?;
    let b_for_evil = b.clone();
    a.run(move |scope: &Scope| {
        scope.create_iframe_with(
            "https://evil.example/",
            IframeOptions {
                script: Some(script(move |scope: &Scope| -> webmessaging::Result<()> {
                    println!(
                        "evil.example: posting \"add me as a friend\" to B with targetOrigin \"*\""
                    );
                    b_for_evil.post_message(scope, &Value::from("add me as a friend"), "*", &[])
                })),
                ..Default::default()
            },
        )
    })
    .await??;
    match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
        Ok(Some(Seen::BIgnored(origin))) => {
            println!("main: B ignored the message from {origin}, as its origin check says")
        }
        other => panic!("expected B to ignore evil.example, got {other:?}"),
    }

    println!("main: done");
    browser.shutdown();
    Ok(())
}
