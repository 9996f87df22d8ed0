//! Service evolution, the standard's example: a contacts provider first answers each
//! client session in its own document (one backend request per lookup, as with an
//! `XMLHttpRequest` per iframe). Version 2 moves the work to a worker holding *one* shared
//! connection, and simply forwards the provider-side ports of the sessions to it. The
//! clients do not change at all: same code, same messages.
//!
//! A client opens a session by making a `MessageChannel`, keeping `port1` and transferring
//! `port2` to the provider's window; it posts its first lookup on `port1` at once. That
//! lookup waits in `port2`'s queue while the port travels to the provider, and (in v2) on
//! to the worker: nothing is lost or reordered on the way.
//!
//! Run with `cargo run --example service_evolution`.

use std::cell::Cell;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use webmessaging::prelude::*;

const SOCIAL: &str = "https://social.example";
const CONTACTS: &str = "https://contacts.example";

#[derive(Debug, Serialize, Deserialize)]
struct Connect {
    client: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Lookup {
    name: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Answer {
    name: String,
    email: Option<String>,
    served_by: String,
}

fn lookup(name: &str) -> Option<String> {
    match name {
        "Guillaume Tell" => Some("tell@pomme.example.net".into()),
        "Walter Fürst" => Some("walter@uri.example".into()),
        _ => None,
    }
}

/// The client library: identical against both versions of the provider.
fn open_session(
    scope: &Scope,
    provider: &WindowProxy,
    client: &str,
    name: &str,
    tx: mpsc::UnboundedSender<Answer>,
) -> webmessaging::Result<()> {
    let (mine, theirs) = scope.message_channel().into_ports();
    let who = client.to_owned();
    mine.on_message_as(move |_s: &Scope, _e: &MessageEvent, a: Answer| {
        println!(
            "{who}: {} is {:?} (served by {})",
            a.name, a.email, a.served_by
        );
        let _ = tx.send(a);
    });
    provider.post_with_transfer(
        scope,
        &Connect {
            client: client.into(),
        },
        CONTACTS,
        &[theirs.to_value()],
    )?;
    // Posted before the provider even has the port: it travels with it.
    mine.post(&Lookup { name: name.into() })
}

/// Provider v1: every session is served by the provider's document itself.
fn provider_v1(scope: &Scope) {
    let fetches = std::rc::Rc::new(Cell::new(0u32));
    scope.on_message_as(move |_s: &Scope, e: &MessageEvent, c: Connect| {
        if e.origin() != SOCIAL {
            return;
        }
        println!(
            "provider v1: session for {} served in the document",
            c.client
        );
        let fetches = fetches.clone();
        e.ports()[0].on_message_as(
            move |_s: &Scope, e: &MessageEvent, l: Lookup| -> webmessaging::Result<()> {
                fetches.set(fetches.get() + 1);
                let Some(webmessaging::EventTarget::Port(port)) = e.target() else {
                    return Ok(());
                };
                port.post(&Answer {
                    email: lookup(&l.name),
                    name: l.name,
                    served_by: format!("provider v1 document, backend request {}", fetches.get()),
                })
            },
        );
    });
}

/// Provider v2: the sessions' ports are forwarded to a worker with one connection.
fn provider_v2(scope: &Scope) -> webmessaging::Result<()> {
    let backend = scope.spawn_worker("https://contacts.example/backend.js")?;
    let b = backend.clone();
    scope.on_message_as(
        move |_s: &Scope, e: &MessageEvent, c: Connect| -> webmessaging::Result<()> {
            if e.origin() != SOCIAL {
                return Ok(());
            }
            println!(
                "provider v2: forwarding {}'s session port to the backend worker",
                c.client
            );
            b.post_with_transfer(&c.client, &[e.ports()[0].to_value()])
        },
    );
    scope.set_global(backend);
    Ok(())
}

/// The v2 backend: a worker holding the one shared connection.
struct Connection {
    requests: Cell<u32>,
}

fn backend(scope: &Scope) {
    println!("backend worker: opening the one shared connection");
    scope.set_global(Connection {
        requests: Cell::new(0),
    });
    scope.on_message_as(|_s: &Scope, e: &MessageEvent, client: String| {
        println!("backend worker: now serving {client}'s session");
        e.ports()[0].on_message_as(
            |scope: &Scope, e: &MessageEvent, l: Lookup| -> webmessaging::Result<()> {
                let conn = scope.global::<Connection>().expect("connection");
                conn.requests.set(conn.requests.get() + 1);
                let Some(webmessaging::EventTarget::Port(port)) = e.target() else {
                    return Ok(());
                };
                port.post(&Answer {
                    email: lookup(&l.name),
                    name: l.name,
                    served_by: format!(
                        "backend worker, shared connection, request {}",
                        conn.requests.get()
                    ),
                })
            },
        );
    });
}

async fn answers(rx: &mut mpsc::UnboundedReceiver<Answer>, n: usize) -> Vec<Answer> {
    let mut v = Vec::new();
    while v.len() < n {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(a)) => v.push(a),
            _ => panic!("timed out after {} answers", v.len()),
        }
    }
    v
}

#[actix_rt::main]
async fn main() -> webmessaging::Result<()> {
    env_logger::init();
    let browser = Browser::new();
    browser.route("https://contacts.example/v1", provider_v1)?;
    browser.route("https://contacts.example/v2", provider_v2)?;
    browser.route("https://contacts.example/backend.js", backend)?;
    let (tx, mut rx) = mpsc::unbounded_channel::<Answer>();

    for version in ["v1", "v2"] {
        println!("--- the social site with contacts provider {version} ---");
        let tx = tx.clone();
        let url = format!("https://contacts.example/{version}");
        let social = browser.open_with(
            "https://social.example/",
            move |scope: &Scope| -> webmessaging::Result<()> {
                let provider = scope.create_iframe(&url)?;
                // Two independent client libraries of the page, unchanged between versions.
                open_session(
                    scope,
                    &provider,
                    "mail client",
                    "Guillaume Tell",
                    tx.clone(),
                )?;
                open_session(scope, &provider, "chat client", "Walter Fürst", tx.clone())
            },
        )?;
        let got = answers(&mut rx, 2).await;
        assert!(got.iter().all(|a| a.email.is_some()));
        let expected = if version == "v1" {
            "provider v1"
        } else {
            "backend worker"
        };
        assert!(got.iter().all(|a| a.served_by.starts_with(expected)));
        social.close();
    }
    println!("main: same clients, same messages; v2 served both sessions over one connection");
    browser.shutdown();
    Ok(())
}
