//! Ports as capabilities, the standard's example: a social site
//! (`https://social.example`) embeds the user's contacts provider
//! (`https://contacts.example`, a second origin) and a game (`https://game.example`, a
//! third origin).
//!
//! The provider trusts the social site, and only it. The game wants to add one contact.
//! Rather than proxying the game's requests (and checking each one), the social site asks
//! the provider for *the capability to add a single contact*: the provider makes a
//! `MessageChannel`, keeps one port and sends the other back; the social site forwards it
//! to the game. The game and the provider now talk directly, and the provider honours
//! exactly one "add contact" request on that port, nothing else.
//!
//! The run shows:
//! - the first add through the capability is honoured;
//! - a second add, and a read of the address book, through the same port are refused;
//! - the game asking the provider directly (another origin than the trusted one) is refused.
//!
//! Run with `cargo run --example capability_delegation`.

use std::cell::{Cell, RefCell};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use webmessaging::prelude::*;

const SOCIAL: &str = "https://social.example";
const CONTACTS: &str = "https://contacts.example";
const GAME: &str = "https://game.example";

/// Window messages between the three sites.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum WindowMsg {
    /// game -> social: "I would like to add a contact".
    WantAddContact,
    /// social -> provider: "give me the capability to add one contact".
    GrantAddOne,
    /// provider -> social -> game: here it is (the port is in `event.ports`).
    Capability,
    /// anyone -> provider: add a contact directly (trusted sites only).
    AddContact { name: String, email: String },
}

/// Requests on the capability port.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum PortRequest {
    AddContact { name: String, email: String },
    ListContacts,
}

/// Replies on the capability port.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum PortReply {
    Added { name: String },
    Refused { why: String },
}

/// What `main` hears about.
#[derive(Debug)]
enum Report {
    Game(String),
    ProviderRefusedWindowMessage(String),
}

/// The provider's address book (a global of its document).
#[derive(Default)]
struct Book(RefCell<Vec<(String, String)>>);

#[actix_rt::main]
async fn main() -> webmessaging::Result<()> {
    env_logger::init();
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel::<Report>();

    // ----- the contacts provider -----
    let tx_provider = tx.clone();
    browser.route("https://contacts.example/", move |scope: &Scope| {
        scope.set_global(Book::default());
        let tx = tx_provider.clone();
        scope.on_message_as(move |scope: &Scope, e: &MessageEvent, msg: WindowMsg| -> webmessaging::Result<()> {
            if e.origin() != SOCIAL {
                println!("provider: refused {msg:?} from {}: only {SOCIAL} may ask", e.origin());
                let _ = tx.send(Report::ProviderRefusedWindowMessage(e.origin().to_owned()));
                return Ok(());
            }
            match msg {
                WindowMsg::AddContact { name, email } => {
                    println!("provider: {SOCIAL} adds {name} directly");
                    scope.global::<Book>().expect("book").0.borrow_mut().push((name, email));
                }
                WindowMsg::GrantAddOne => {
                    println!("provider: minting a capability to add ONE contact");
                    let channel = scope.message_channel();
                    let (mine, theirs) = channel.into_ports();
                    let used = Cell::new(false);
                    mine.on_message_as(move |scope: &Scope, e: &MessageEvent, req: PortRequest| -> webmessaging::Result<()> {
                        let Some(webmessaging::EventTarget::Port(port)) = e.target() else {
                            return Ok(());
                        };
                        let reply = match req {
                            PortRequest::AddContact { name, email } if !used.get() => {
                                used.set(true);
                                println!("provider: capability used: adding {name} <{email}>");
                                scope.global::<Book>().expect("book").0.borrow_mut().push((name.clone(), email));
                                PortReply::Added { name }
                            }
                            PortRequest::AddContact { name, .. } => {
                                println!("provider: refusing a second add ({name}): the capability was for one");
                                PortReply::Refused { why: "this capability added its one contact already".into() }
                            }
                            PortRequest::ListContacts => {
                                println!("provider: refusing a read: this capability can only add");
                                PortReply::Refused { why: "this capability cannot read contacts".into() }
                            }
                        };
                        port.post(&reply)
                    });
                    let source = e.source_window().expect("window messages have a source");
                    source.post_with_transfer(scope, &WindowMsg::Capability, e.origin(), &[theirs.to_value()])?;
                }
                other => println!("provider: ignoring {other:?}"),
            }
            Ok(())
        });
    })?;

    // ----- the game -----
    // What `parent.frames[0]` would give the game in a browser: the provider's window.
    let provider_window: Arc<OnceLock<WindowProxy>> = Arc::new(OnceLock::new());
    let pw = provider_window.clone();
    let tx_game = tx.clone();
    browser.route(
        "https://game.example/",
        move |scope: &Scope| -> webmessaging::Result<()> {
            let tx = tx_game.clone();
            let pw = pw.clone();
            scope.on_message_as(
                move |scope: &Scope,
                      e: &MessageEvent,
                      msg: WindowMsg|
                      -> webmessaging::Result<()> {
                    if e.origin() != SOCIAL || !matches!(msg, WindowMsg::Capability) {
                        return Ok(());
                    }
                    let port = e.ports()[0].clone();
                    println!(
                        "game: got a capability port ({}) from the social site",
                        port.name()
                    );
                    let tx = tx.clone();
                    port.on_message_as(move |_s: &Scope, _e: &MessageEvent, reply: PortReply| {
                        let line = format!("{reply:?}");
                        println!("game: provider answered {line}");
                        let _ = tx.send(Report::Game(line));
                    });
                    port.post(&PortRequest::AddContact {
                        name: "Guillaume Tell".into(),
                        email: "tell@pomme.example.net".into(),
                    })?;
                    port.post(&PortRequest::AddContact {
                        name: "Arnold von Melchtal".into(),
                        email: "arnold@melchtal.example".into(),
                    })?;
                    port.post(&PortRequest::ListContacts)?;
                    // Trying the provider's window directly, bypassing the capability.
                    let provider = pw.get().expect("set before the game runs");
                    println!("game: also asking the provider's window directly");
                    provider.post(
                        scope,
                        &WindowMsg::AddContact {
                            name: "Gessler".into(),
                            email: "gessler@vogt.example".into(),
                        },
                        CONTACTS,
                    )?;
                    Ok(())
                },
            );
            println!("game: asking the social site for permission to add a contact");
            scope
                .parent()
                .expect("iframe")
                .post(scope, &WindowMsg::WantAddContact, SOCIAL)
        },
    )?;

    // ----- the social site -----
    let pw = provider_window.clone();
    let social = browser.open_with("https://social.example/", move |scope: &Scope| -> webmessaging::Result<()> {
        let provider = scope.create_iframe("https://contacts.example/")?;
        let _ = pw.set(provider.clone());
        let game = scope.create_iframe("https://game.example/")?;
        scope.on_message_as(move |scope: &Scope, e: &MessageEvent, msg: WindowMsg| -> webmessaging::Result<()> {
            match (e.origin(), msg) {
                (GAME, WindowMsg::WantAddContact) => {
                    println!("social: the game wants to add a contact; asking the provider for a one-shot capability");
                    provider.post(scope, &WindowMsg::GrantAddOne, CONTACTS)
                }
                (CONTACTS, WindowMsg::Capability) => {
                    println!("social: forwarding the capability to the game (transfer, no proxying)");
                    let port = e.ports()[0].to_value();
                    game.post_with_transfer(scope, &WindowMsg::Capability, GAME, &[port])
                }
                (origin, msg) => {
                    println!("social: ignoring {msg:?} from {origin}");
                    Ok(())
                }
            }
        });
        Ok(())
    })?;

    // Three answers on the port, and one refused window message.
    let mut answers = Vec::new();
    let mut refused_from = None;
    while answers.len() < 3 || refused_from.is_none() {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(Report::Game(a))) => answers.push(a),
            Ok(Some(Report::ProviderRefusedWindowMessage(o))) => refused_from = Some(o),
            _ => panic!("timed out: got {answers:?} and {refused_from:?}"),
        }
    }
    assert!(answers[0].starts_with("Added"), "{answers:?}");
    assert!(answers[1].starts_with("Refused"), "{answers:?}");
    assert!(answers[2].starts_with("Refused"), "{answers:?}");
    assert_eq!(refused_from.as_deref(), Some(GAME));

    // Look into the provider's document: exactly one contact was added.
    let provider = browser.handle(provider_window.get().expect("provider"));
    let book = provider
        .run(|scope: &Scope| {
            scope
                .global::<Book>()
                .map(|b| b.0.borrow().clone())
                .unwrap_or_default()
        })
        .await?;
    println!("main: the address book now holds {book:?}");
    assert_eq!(book.len(), 1);

    social.settle().await?;
    println!("main: done");
    browser.shutdown();
    Ok(())
}
