//! The standard's contacts provider as a typed RPC service (`webmessaging::rpc`), used by
//! the compose page and handed, as a one-call capability, to a game.
//!
//! This is `contacts_compose.rs` and `capability_delegation.rs` again, without the
//! hand-written message protocol: no `messageType` tags, no listeners per reply, no
//! matching replies to requests, no origin checks written by hand.
//!
//! - `https://contacts.example` (the provider, an iframe) exposes the `contacts` service
//!   to the mail site's origin only: `search` streams the matching contacts (the
//!   standard's `search-result` pages, with credit-based backpressure) or fails with the
//!   method's own error, fields and all; `grant_add_one` answers a capability to add
//!   exactly one contact.
//! - `https://mail.example` (the compose page) connects through the provider's window,
//!   searches, then asks for the capability and hands it to the game by calling the
//!   game's own service with it (the port is transferred twice, never proxied).
//! - `https://game.example` (another iframe) adds one contact through the capability;
//!   its second add is refused (the capability closed itself after one use: the call ends
//!   with `AbortError`), and connecting to the provider directly is refused
//!   (`SecurityError`: its origin is not on the allow-list).
//!
//! Run with `cargo run --example rpc_contacts`.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use webmessaging::prelude::*;
use webmessaging::rpc::{
    self, Capability, ConnectOptions, ExposeOptions, Method, NoError, RpcError, Service,
    StreamMethod, StreamOptions,
};

const MAIL: &str = "https://mail.example";
const CONTACTS: &str = "https://contacts.example";
const GAME: &str = "https://game.example";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Contact {
    name: String,
    email: String,
}

/// The `search` method's own error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum SearchError {
    TooShort { query: String, min: usize },
}

/// contacts.js's API, declared once for both sides.
const SEARCH: StreamMethod<String, Contact, SearchError> = StreamMethod::new("search");
const GRANT_ADD_ONE: Method<(), Capability> = Method::new("grant_add_one");
/// The capability's one method.
const ADD: Method<Contact, usize> = Method::new("add");
/// The game's service: it is handed the capability.
const TAKE_CAPABILITY: Method<Capability, Vec<String>> = Method::new("take_capability");

/// The provider's address book, a global of its document.
#[derive(Default)]
struct Book(RefCell<Vec<Contact>>);

/// The provider's document.
fn provider(scope: &Scope) -> webmessaging::Result<()> {
    let book = scope.set_global(Book::default());
    book.0.borrow_mut().extend([
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
    ]);
    let service = Service::new("contacts")
        .stream(&SEARCH, |scope: &Scope, query: String, sink| {
            println!("contacts: searching for {query:?}");
            if query.len() < 2 {
                return sink.fail(SearchError::TooShort { query, min: 2 });
            }
            let book = scope.global::<Book>().expect("book");
            for c in book.0.borrow().iter() {
                if c.name.to_lowercase().contains(&query.to_lowercase()) {
                    // Paced by the caller's credits: waits in the sink when it has none.
                    let _ = sink.send(c.clone());
                }
            }
            sink.end();
        })
        .method(&GRANT_ADD_ONE, |scope: &Scope, (): ()| {
            println!("contacts: minting a capability to add ONE contact");
            let served: Rc<RefCell<Option<rpc::Served>>> = Rc::default();
            let s = served.clone();
            let add_one =
                Service::new("add-contact").method(&ADD, move |scope: &Scope, c: Contact| {
                    println!("contacts: capability used: adding {} <{}>", c.name, c.email);
                    let book = scope.global::<Book>().expect("book");
                    book.0.borrow_mut().push(c);
                    // One call only: the answer goes out, then the port closes.
                    if let Some(served) = s.borrow_mut().take() {
                        scope.queue_microtask(move |_: &Scope| served.close());
                    }
                    let count = book.0.borrow().len();
                    Ok::<usize, NoError>(count)
                });
            let (cap, handle) = Capability::serve(scope, add_one);
            handle.on_close(|_: &Scope| println!("contacts: the capability is released"));
            *served.borrow_mut() = Some(handle);
            Ok::<Capability, NoError>(cap)
        });
    rpc::expose(scope, service, ExposeOptions::new().allow_origin(MAIL)?)?;
    Ok(())
}

/// The game's document: uses a capability it is given, and tries the provider directly.
fn game(scope: &Scope) -> webmessaging::Result<()> {
    let service =
        Service::new("game").deferred(&TAKE_CAPABILITY, |scope: &Scope, cap: Capability, reply| {
            println!("game: got a capability for {:?}", cap.service());
            let adder = cap.connect(scope);
            let report: Rc<RefCell<Vec<String>>> = Rc::default();
            let r = report.clone();
            adder
                .call(
                    &ADD,
                    Contact {
                        name: "Arnold von Melchtal".into(),
                        email: "arnold@melchtal.example".into(),
                    },
                )
                .then(move |_: &Scope, res| r.borrow_mut().push(format!("first add: {res:?}")));
            let r = report.clone();
            adder
                .call(
                    &ADD,
                    Contact {
                        name: "Gessler".into(),
                        email: "gessler@vogt.example".into(),
                    },
                )
                .then(move |scope: &Scope, res| {
                    let line = match res {
                        Err(e) => format!("second add: {:?}", e.name()),
                        Ok(n) => format!("second add: Ok({n})"),
                    };
                    r.borrow_mut().push(line);
                    // And the provider directly, bypassing the capability: refused by origin.
                    let provider = scope.parent().expect("iframe").frames()[0].clone();
                    let direct = rpc::connect(
                        scope,
                        &provider,
                        "contacts",
                        ConnectOptions::to_origin(CONTACTS).expect("origin"),
                    );
                    let direct = direct.expect("connect");
                    let r = r.clone();
                    direct.stream(
                        &SEARCH,
                        "gu".into(),
                        StreamOptions::default(),
                        |_: &Scope, c: Contact| println!("game: read {c:?}?!"),
                        move |_: &Scope, end| {
                            r.borrow_mut()
                                .push(format!("direct search: {:?}", end.map_err(|e| e.name())));
                            reply.send(Ok(r.borrow().clone()));
                        },
                    );
                });
        });
    rpc::expose(scope, service, ExposeOptions::new().allow_origin(MAIL)?)?;
    Ok(())
}

/// What the compose page tells `main`.
#[derive(Debug)]
enum Report {
    Search(Result<Vec<String>, RpcError<SearchError>>),
    Game(Result<Vec<String>, RpcError<NoError>>),
}

#[actix_rt::main]
async fn main() -> webmessaging::Result<()> {
    env_logger::init();
    let browser = Browser::new();
    browser.route("https://contacts.example/", provider)?;
    browser.route("https://game.example/", game)?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Report>();

    // The compose page (compose-mail.js): the provider and the game are its iframes.
    let page = browser.open_with(
        "https://mail.example/",
        move |scope: &Scope| -> webmessaging::Result<()> {
            let provider = scope.create_iframe("https://contacts.example/")?;
            let game = scope.create_iframe("https://game.example/")?;
            let contacts = rpc::connect(
                scope,
                &provider,
                "contacts",
                ConnectOptions::to_origin(CONTACTS)?,
            )?;
            let game = rpc::connect(scope, &game, "game", ConnectOptions::to_origin(GAME)?)?;
            for query in ["x", "gu"] {
                let found: Rc<RefCell<Vec<String>>> = Rc::default();
                let (f, tx) = (found.clone(), tx.clone());
                contacts.stream(
                    &SEARCH,
                    query.to_owned(),
                    StreamOptions {
                        window: 1,
                        ..StreamOptions::default()
                    },
                    move |_: &Scope, c: Contact| {
                        println!("compose: search-result: {} <{}>", c.name, c.email);
                        f.borrow_mut().push(c.email);
                    },
                    move |_: &Scope, end| {
                        let _ = tx.send(Report::Search(end.map(|()| found.borrow().clone())));
                    },
                );
            }
            // The capability, from the provider to the game, through this page.
            let tx = tx.clone();
            contacts
                .call(&GRANT_ADD_ONE, ())
                .then(move |_: &Scope, cap| {
                    let cap = cap.expect("a capability");
                    println!("compose: handing the capability to the game");
                    game.call(&TAKE_CAPABILITY, cap)
                        .then(move |_: &Scope, report| {
                            let _ = tx.send(Report::Game(report));
                        });
                });
            scope.set_global(contacts);
            Ok(())
        },
    )?;

    let wait = Duration::from_secs(5);
    macro_rules! next {
        () => {
            tokio::time::timeout(wait, rx.recv())
                .await
                .expect("timed out")
                .expect("the page went away")
        };
    }
    // The first search fails with the method's own error, fields and all.
    let Report::Search(first) = next!() else {
        panic!("a search first")
    };
    println!("main: search \"x\": {first:?}");
    assert_eq!(
        first,
        Err(RpcError::Method(SearchError::TooShort {
            query: "x".into(),
            min: 2
        }))
    );
    let Report::Search(second) = next!() else {
        panic!("then the second")
    };
    println!("main: search \"gu\": {second:?}");
    assert_eq!(
        second,
        Ok(vec![
            "tell@pomme.example.net".to_owned(),
            "gudrun@example.org".to_owned()
        ])
    );
    let Report::Game(game) = next!() else {
        panic!("then the game")
    };
    let game = game.expect("the game answers");
    println!("main: the game reports {game:?}");
    assert_eq!(
        game,
        [
            "first add: Ok(4)",
            "second add: Some(AbortError)",
            "direct search: Err(Some(SecurityError))",
        ]
    );
    page.settle().await?;
    println!("main: done");
    browser.shutdown();
    Ok(())
}
