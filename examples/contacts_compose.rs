//! The standard's "two libraries" example: a page loads `contacts.js` (a contacts
//! object) and `compose-mail.js` (a composer object), which know nothing about each other.
//! The page wires them together with a `MessageChannel`:
//!
//! ```js
//! var channel = new MessageChannel();
//! composer.addContactsProvider(channel.port1);
//! contacts.registerConsumer(channel.port2);
//! ```
//!
//! The composer searches the address book; the contacts library answers with
//! `search-result` messages, then `search-done` (or `search-error`). Messages are serde
//! types, tagged by `messageType` as in the standard's example. The composer uses the
//! standard's second style, one `addEventListener` per message type and an explicit
//! `port.start()`: until then the port's queue holds the replies, nothing is lost.
//!
//! Run with `cargo run --example contacts_compose`.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use webmessaging::prelude::*;

/// What the composer asks.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "messageType", rename_all = "kebab-case")]
enum Request {
    Search { query: String },
}

/// What the contacts library answers (the names are the standard's `messageType`s).
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "messageType", rename_all = "kebab-case")]
enum Reply {
    SearchResult { results: Vec<Contact> },
    SearchDone,
    SearchError { message: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Contact {
    name: String,
    email: String,
}

/// contacts.js: an address book that serves whoever holds the port it is given.
struct Contacts {
    book: Vec<Contact>,
}

impl Contacts {
    fn register_consumer(self: &Rc<Self>, port: &MessagePort) {
        let me = self.clone();
        port.on_message_as(
            move |_s: &Scope, e: &MessageEvent, req: Request| -> webmessaging::Result<()> {
                let port = match e.target() {
                    Some(webmessaging::EventTarget::Port(p)) => p.clone(),
                    _ => unreachable!("a port listener fires at its port"),
                };
                let Request::Search { query } = req;
                println!("contacts: searching for {query:?}");
                if query.len() < 2 {
                    return port.post(&Reply::SearchError {
                        message: format!("query {query:?} is too short"),
                    });
                }
                let hits: Vec<Contact> = me
                    .book
                    .iter()
                    .filter(|c| c.name.to_lowercase().contains(&query.to_lowercase()))
                    .cloned()
                    .collect();
                // Results arrive in pages of one, as a slow backend would send them.
                for c in hits {
                    port.post(&Reply::SearchResult { results: vec![c] })?;
                }
                port.post(&Reply::SearchDone)
            },
        );
    }
}

/// compose-mail.js: a composer that wants recipients, from whatever provider it is given.
struct Composer {
    recipients: RefCell<Vec<String>>,
    done: mpsc::UnboundedSender<Vec<String>>,
}

impl Composer {
    fn add_contacts_provider(self: &Rc<Self>, port: &MessagePort) -> webmessaging::Result<()> {
        // The standard's second form: one listener per message type, then start().
        let me = self.clone();
        port.add_event_listener(EventType::Message, move |_s: &Scope, e: &MessageEvent| {
            if let Ok(Reply::SearchResult { results }) = e.data_as::<Reply>() {
                for c in results {
                    println!("composer: search-result: {} <{}>", c.name, c.email);
                    me.recipients.borrow_mut().push(c.email);
                }
            }
        });
        let me = self.clone();
        port.add_event_listener(EventType::Message, move |_s: &Scope, e: &MessageEvent| {
            if let Ok(Reply::SearchDone) = e.data_as::<Reply>() {
                println!(
                    "composer: search-done, {} recipient(s)",
                    me.recipients.borrow().len()
                );
                let _ = me.done.send(me.recipients.borrow().clone());
            }
        });
        let me = self.clone();
        port.add_event_listener(EventType::Message, move |_s: &Scope, e: &MessageEvent| {
            if let Ok(Reply::SearchError { message }) = e.data_as::<Reply>() {
                println!("composer: search-error: {message}");
                let _ = me.done.send(Vec::new());
            }
        });
        // Ask before starting: the replies wait in the port message queue until start().
        port.post(&Request::Search { query: "x".into() })?;
        port.post(&Request::Search { query: "gu".into() })?;
        println!("composer: two searches sent; starting the port");
        port.start();
        Ok(())
    }
}

/// The next finished search, waiting for it (an explicit signal, never a sleep).
async fn wait(rx: &mut mpsc::UnboundedReceiver<Vec<String>>) -> Vec<String> {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("timed out")
        .expect("the page went away")
}

#[actix_rt::main]
async fn main() -> webmessaging::Result<()> {
    env_logger::init();
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<String>>();

    let page = browser.open_with(
        "https://mail.example/",
        move |scope: &Scope| -> webmessaging::Result<()> {
            let contacts = Rc::new(Contacts {
                book: vec![
                    Contact {
                        name: "Guillaume Tell".into(),
                        email: "tell@pomme.example.net".into(),
                    },
                    Contact {
                        name: "Walter Fürst".into(),
                        email: "walter@uri.example".into(),
                    },
                    Contact {
                        name: "Gudrun Ensslin".into(),
                        email: "gudrun@example.org".into(),
                    },
                ],
            });
            let composer = Rc::new(Composer {
                recipients: RefCell::new(Vec::new()),
                done: tx.clone(),
            });
            // The page's glue code, as in the standard.
            let channel = scope.message_channel();
            composer.add_contacts_provider(channel.port1())?;
            contacts.register_consumer(channel.port2());
            // The libraries keep their ports (listeners keep them alive); keep the objects too.
            scope.set_global(contacts);
            scope.set_global(composer);
            Ok(())
        },
    )?;

    // The first search fails (too short), the second finds two people.
    let first = wait(&mut rx).await;
    assert!(first.is_empty());
    let second = wait(&mut rx).await;
    println!("main: the composer will write to {second:?}");
    assert_eq!(second, vec!["tell@pomme.example.net", "gudrun@example.org"]);

    page.settle().await?;
    println!("main: done");
    browser.shutdown();
    Ok(())
}
