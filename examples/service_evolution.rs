//! Service evolution, the standard's example: a contacts provider first answers each
//! client session in its own document (one backend request per lookup, as with an
//! `XMLHttpRequest` per iframe). Version 2, the "before", moves the work of each provider
//! iframe to a dedicated worker of its own: one connection per iframe. Version 3 is what
//! the standard describes: a *shared* worker holding one connection (its WebSocket) for
//! every provider iframe, in every tab; each iframe simply forwards the provider-side
//! ports of its sessions to it over its `SharedWorker` port. The clients do not change
//! at all: same code, same messages. Two tabs of the social site open two sessions each:
//! v2 opens two connections, v3 one.
//!
//! A client opens a session by making a `MessageChannel`, keeping `port1` and transferring
//! `port2` to the provider's window; it posts its first lookup on `port1` at once. That
//! lookup waits in `port2`'s queue while the port travels to the provider, and (in v2) on
//! to the worker: nothing is lost or reordered on the way.
//!
//! Run with `cargo run --example service_evolution`.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use webmessaging::prelude::*;
use webmessaging::SharedWorker;

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

/// Opens the service's "connection" (a WebSocket to the contacts backend, in the
/// standard's story): each one gets a number, so the answers tell how many were opened.
fn open_connection(who: &str) -> Connection {
    let id = CONNECTIONS.fetch_add(1, Ordering::Relaxed) + 1;
    println!("{who}: opening backend connection #{id}");
    Connection {
        id,
        requests: Cell::new(0),
    }
}

static CONNECTIONS: AtomicU32 = AtomicU32::new(0);

/// One backend connection and the requests made over it.
struct Connection {
    id: u32,
    requests: Cell<u32>,
}

/// Serves one session's port over the realm's connection (a worker's global).
fn serve_session(port: &MessagePort, served_by: &'static str) {
    port.on_message_as(
        move |scope: &Scope, e: &MessageEvent, l: Lookup| -> webmessaging::Result<()> {
            let conn = scope.global::<Connection>().expect("connection");
            conn.requests.set(conn.requests.get() + 1);
            let Some(webmessaging::EventTarget::Port(port)) = e.target() else {
                return Ok(());
            };
            port.post(&Answer {
                email: lookup(&l.name),
                name: l.name,
                served_by: format!(
                    "{served_by}, connection #{}, request {}",
                    conn.id,
                    conn.requests.get()
                ),
            })
        },
    );
}

/// Provider v2 (the "before"): each provider iframe forwards its sessions' ports to a
/// dedicated worker of its own: one connection per iframe.
fn provider_v2(scope: &Scope) -> webmessaging::Result<()> {
    let backend = scope.spawn_worker("https://contacts.example/backend.js")?;
    let b = backend.clone();
    scope.on_message_as(
        move |_s: &Scope, e: &MessageEvent, c: Connect| -> webmessaging::Result<()> {
            if e.origin() != SOCIAL {
                return Ok(());
            }
            println!(
                "provider v2: forwarding {}'s session port to this iframe's worker",
                c.client
            );
            b.post_with_transfer(&c.client, &[e.ports()[0].to_value()])
        },
    );
    scope.set_global(backend);
    Ok(())
}

/// The v2 backend: a dedicated worker holding its iframe's connection.
fn backend(scope: &Scope) {
    scope.set_global(open_connection("dedicated worker"));
    scope.on_message_as(|_s: &Scope, e: &MessageEvent, client: String| {
        println!("dedicated worker: now serving {client}'s session");
        serve_session(&e.ports()[0], "dedicated worker");
    });
}

/// Provider v3, as the standard describes: every provider iframe connects to one shared
/// worker and forwards its sessions' ports over its `SharedWorker` port.
fn provider_v3(scope: &Scope) -> webmessaging::Result<()> {
    let shared = SharedWorker::new(scope, "/shared-backend.js", "contacts")?;
    let port = shared.port().clone();
    scope.on_message_as(
        move |_s: &Scope, e: &MessageEvent, c: Connect| -> webmessaging::Result<()> {
            if e.origin() != SOCIAL {
                return Ok(());
            }
            println!(
                "provider v3: forwarding {}'s session port to the shared worker",
                c.client
            );
            port.post_with_transfer(&c.client, &[e.ports()[0].to_value()])
        },
    );
    scope.set_global(shared);
    Ok(())
}

/// The v3 backend: one shared worker, one connection, for every provider iframe.
fn shared_backend(scope: &Scope) {
    scope.set_global(open_connection("shared worker"));
    scope.on_connect(|_s: &Scope, e: &MessageEvent| {
        println!("shared worker: a provider iframe connected");
        e.ports()[0].on_message_as(|_s: &Scope, e: &MessageEvent, client: String| {
            println!("shared worker: now serving {client}'s session");
            serve_session(&e.ports()[0], "shared worker");
        });
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
    browser.route("https://contacts.example/v3", provider_v3)?;
    browser.route("https://contacts.example/backend.js", backend)?;
    browser.route("https://contacts.example/shared-backend.js", shared_backend)?;
    let (tx, mut rx) = mpsc::unbounded_channel::<Answer>();

    for (version, served_by, connections) in [
        ("v1", "provider v1", 0),
        ("v2", "dedicated worker", 2),
        ("v3", "shared worker", 1),
    ] {
        println!("--- two tabs of the social site, contacts provider {version} ---");
        let before = CONNECTIONS.load(Ordering::Relaxed);
        let mut tabs = Vec::new();
        for tab in ["inbox", "profile"] {
            let tx = tx.clone();
            let url = format!("https://contacts.example/{version}");
            tabs.push(browser.open_with(
                &format!("https://social.example/{tab}"),
                move |scope: &Scope| -> webmessaging::Result<()> {
                    let provider = scope.create_iframe(&url)?;
                    // Two independent client libraries of the page, unchanged between
                    // versions.
                    open_session(
                        scope,
                        &provider,
                        &format!("{tab} mail client"),
                        "Guillaume Tell",
                        tx.clone(),
                    )?;
                    open_session(
                        scope,
                        &provider,
                        &format!("{tab} chat client"),
                        "Walter Fürst",
                        tx.clone(),
                    )
                },
            )?);
        }
        let got = answers(&mut rx, 4).await;
        assert!(got.iter().all(|a| a.email.is_some()));
        assert!(got.iter().all(|a| a.served_by.starts_with(served_by)));
        let opened = CONNECTIONS.load(Ordering::Relaxed) - before;
        assert_eq!(opened, connections);
        println!("{version}: 4 sessions in 2 tabs, {opened} backend connection(s)");
        for tab in tabs {
            tab.close();
        }
    }
    println!("main: same clients, same messages; v3 served every tab over one shared connection");
    browser.shutdown();
    Ok(())
}
