//! Object-capability patterns built from `MessagePort`s: whoever holds a port can use it,
//! and the only way to get one is to be given it. An app (`https://app.example`) holds
//! sessions with a storage service (`https://service.example`) and hands a third-party
//! client (`https://client.example`) *wrapped* access, never the service's ports:
//!
//! - **Caretaker (revocable forwarder)**: the client gets a port the app forwards to the
//!   service; the app can revoke it at any time, and the client's port is then closed.
//! - **Attenuating filter**: the forwarder passes only `read` requests; writes are refused
//!   by the app, without the service ever seeing them.
//! - **Membrane**: a forwarder that also wraps every port passed through it (here, the
//!   port to a document the client opens), so one `revoke()` cuts all of them at once.
//!
//! Run with `cargo run --example capability_patterns`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use webmessaging::prelude::*;

const APP: &str = "https://app.example";
const SERVICE: &str = "https://service.example";
const CLIENT: &str = "https://client.example";

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
enum Request {
    Read {
        key: String,
    },
    Write {
        key: String,
        value: String,
    },
    /// Opens a document: the reply carries a port to it.
    OpenDoc {
        name: String,
    },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
enum Reply {
    Value { key: String, value: Option<String> },
    Written { key: String },
    Opened { name: String },
    Refused { why: String },
}

/// A window message carrying a port (in `event.ports`) and what it is for.
#[derive(Debug, Serialize, Deserialize)]
struct Grant {
    label: String,
}

// ----- the service -----

/// Serves `Request`s on `port`, for the store `scope` (a document named `doc`, or the root).
fn serve(port: &MessagePort, doc: Option<String>) {
    port.on_message_as(
        move |scope: &Scope, e: &MessageEvent, req: Request| -> webmessaging::Result<()> {
            let Some(webmessaging::EventTarget::Port(port)) = e.target() else {
                return Ok(());
            };
            let store = scope
                .global::<RefCell<HashMap<String, String>>>()
                .expect("store");
            let path = |k: &str| match &doc {
                Some(d) => format!("{d}/{k}"),
                None => k.to_owned(),
            };
            println!("service: {req:?}");
            match req {
                Request::Read { key } => {
                    let value = store.borrow().get(&path(&key)).cloned();
                    port.post(&Reply::Value { key, value })
                }
                Request::Write { key, value } => {
                    store.borrow_mut().insert(path(&key), value);
                    port.post(&Reply::Written { key })
                }
                Request::OpenDoc { name } => {
                    let (mine, theirs) = scope.message_channel().into_ports();
                    serve(&mine, Some(name.clone()));
                    port.post_with_transfer(&Reply::Opened { name }, &[theirs.to_value()])
                }
            }
        },
    );
}

fn service(scope: &Scope) {
    let mut store = HashMap::new();
    store.insert("motto".to_owned(), "one for all".to_owned());
    store.insert("notes/todo".to_owned(), "buy apples".to_owned());
    scope.set_global(RefCell::new(store));
    scope.on_message(|_s: &Scope, e: &MessageEvent| {
        if e.origin() == APP {
            if let Some(p) = e.ports().first() {
                serve(p, None);
            }
        }
    });
}

// ----- the app's wrappers -----

/// What can be revoked: every port a forwarder (or membrane) made.
#[derive(Default)]
struct Gate {
    revoked: Cell<bool>,
    ports: RefCell<Vec<MessagePort>>,
}

impl Gate {
    fn revoke(&self) {
        self.revoked.set(true);
        let ports: Vec<MessagePort> = self.ports.borrow_mut().drain(..).collect();
        println!("app: revoking: closing {} forwarding port(s)", ports.len());
        for p in ports {
            p.close();
        }
    }
}

/// Which requests from outside pass.
type Filter = Rc<dyn Fn(&Request) -> Result<(), String>>;

/// Forwards between the client's end of a new channel (returned) and `target`, through
/// `gate`; requests the `filter` refuses are answered by the app. With `membrane`, every
/// port passed through, either way, is wrapped the same way (and so revoked with it).
fn forward(
    scope: &Scope,
    target: MessagePort,
    gate: &Rc<Gate>,
    filter: Filter,
    membrane: bool,
) -> MessagePort {
    let (inner, outer) = scope.message_channel().into_ports();
    gate.ports.borrow_mut().push(inner.clone());
    gate.ports.borrow_mut().push(target.clone());
    let wrap = {
        let gate = gate.clone();
        move |scope: &Scope, ports: &[MessagePort]| -> Vec<Value> {
            ports
                .iter()
                .map(|p| {
                    if membrane {
                        let allow_all: Filter = Rc::new(|_| Ok(()));
                        forward(scope, p.clone(), &gate, allow_all, true).to_value()
                    } else {
                        p.to_value()
                    }
                })
                .collect()
        }
    };
    // Outside -> target.
    {
        let (gate, target, wrap) = (gate.clone(), target.clone(), wrap.clone());
        inner.on_message(
            move |scope: &Scope, e: &MessageEvent| -> webmessaging::Result<()> {
                let Some(webmessaging::EventTarget::Port(inner)) = e.target() else {
                    return Ok(());
                };
                if gate.revoked.get() {
                    return Ok(());
                }
                if let Ok(req) = e.data_as::<Request>() {
                    if let Err(why) = filter(&req) {
                        println!("app: filter refused {req:?}");
                        return inner.post(&Reply::Refused { why });
                    }
                }
                target.post_message(e.data(), &wrap(scope, e.ports()))
            },
        );
    }
    // Target -> outside.
    {
        let (gate, inner2) = (gate.clone(), inner.clone());
        target.on_message(
            move |scope: &Scope, e: &MessageEvent| -> webmessaging::Result<()> {
                if gate.revoked.get() {
                    return Ok(());
                }
                inner2.post_message(e.data(), &wrap(scope, e.ports()))
            },
        );
    }
    // Either side closing closes the other.
    let t = target.clone();
    inner.on_close(move |_s: &Scope, _e: &MessageEvent| t.close());
    let i = inner.clone();
    target.on_close(move |_s: &Scope, _e: &MessageEvent| i.close());
    outer
}

/// A fresh session port with the service.
fn session(scope: &Scope, service: &WindowProxy) -> webmessaging::Result<MessagePort> {
    let (mine, theirs) = scope.message_channel().into_ports();
    service.post_with_transfer(
        scope,
        &Grant {
            label: "session".into(),
        },
        SERVICE,
        &[theirs.to_value()],
    )?;
    Ok(mine)
}

/// The app's gates, kept so `main` can revoke them.
struct Gates {
    caretaker: Rc<Gate>,
    membrane: Rc<Gate>,
}

fn app(scope: &Scope) -> webmessaging::Result<()> {
    let service = scope.create_iframe(&format!("{SERVICE}/"))?;
    let client = scope.create_iframe(&format!("{CLIENT}/"))?;
    let allow_all: Filter = Rc::new(|_| Ok(()));
    let read_only: Filter = Rc::new(|r| match r {
        Request::Read { .. } => Ok(()),
        other => Err(format!("read-only access: {other:?} is not allowed")),
    });

    let caretaker = Rc::new(Gate::default());
    let p = forward(
        scope,
        session(scope, &service)?,
        &caretaker,
        allow_all.clone(),
        false,
    );
    client.post_with_transfer(
        scope,
        &Grant {
            label: "caretaker".into(),
        },
        CLIENT,
        &[p.to_value()],
    )?;

    let filter_gate = Rc::new(Gate::default());
    let p = forward(
        scope,
        session(scope, &service)?,
        &filter_gate,
        read_only,
        false,
    );
    client.post_with_transfer(
        scope,
        &Grant {
            label: "read-only".into(),
        },
        CLIENT,
        &[p.to_value()],
    )?;

    let membrane = Rc::new(Gate::default());
    let p = forward(scope, session(scope, &service)?, &membrane, allow_all, true);
    client.post_with_transfer(
        scope,
        &Grant {
            label: "membrane".into(),
        },
        CLIENT,
        &[p.to_value()],
    )?;

    scope.set_global(Gates {
        caretaker,
        membrane,
    });
    scope.set_global(filter_gate);
    Ok(())
}

// ----- the client -----

type Report = mpsc::UnboundedSender<(String, String)>;

/// The client's ports, by label.
type Ports = RefCell<HashMap<String, MessagePort>>;

fn hold(scope: &Scope, label: &str, port: &MessagePort, tx: &Report) {
    let (l, t) = (label.to_owned(), tx.clone());
    port.on_message_as(move |scope: &Scope, e: &MessageEvent, reply: Reply| {
        println!("client: on {l}: {reply:?}");
        if let (Reply::Opened { name }, Some(p)) = (&reply, e.ports().first()) {
            hold(scope, &format!("{l}/{name}"), p, &t);
        }
        let _ = t.send((l.clone(), format!("{reply:?}")));
    });
    let (l, t) = (label.to_owned(), tx.clone());
    port.on_close(move |_s: &Scope, _e: &MessageEvent| {
        println!("client: {l} was closed");
        let _ = t.send((l.clone(), "closed".into()));
    });
    scope
        .global::<Ports>()
        .expect("ports")
        .borrow_mut()
        .insert(label.to_owned(), port.clone());
    let _ = tx.send((label.to_owned(), "granted".into()));
}

fn client(tx: Report) -> impl Fn(&Scope) + Send + Sync + 'static {
    move |scope: &Scope| {
        scope.set_global(Ports::default());
        let tx = tx.clone();
        scope.on_message_as(move |scope: &Scope, e: &MessageEvent, g: Grant| {
            if e.origin() == APP {
                hold(scope, &g.label, &e.ports()[0], &tx);
            }
        });
    }
}

/// Has the client post `req` on its port `label`.
async fn ask(client: &WindowHandle, label: &str, req: Request) -> webmessaging::Result<()> {
    let label = label.to_owned();
    client
        .run(move |scope: &Scope| -> webmessaging::Result<()> {
            let port = scope
                .global::<Ports>()
                .expect("ports")
                .borrow()
                .get(&label)
                .cloned();
            let port = port.expect("no such port");
            println!(
                "client: on {label}: asking {req:?} (entangled: {})",
                port.is_entangled()
            );
            port.post(&req)
        })
        .await?
}

async fn expect(rx: &mut mpsc::UnboundedReceiver<(String, String)>, label: &str, starts: &str) {
    let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("timed out")
        .expect("closed");
    assert!(
        got.0 == label && got.1.starts_with(starts),
        "expected {label} {starts}, got {got:?}"
    );
}

#[actix_rt::main]
async fn main() -> webmessaging::Result<()> {
    env_logger::init();
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel::<(String, String)>();
    browser.route(&format!("{SERVICE}/"), service)?;
    browser.route(&format!("{CLIENT}/"), client(tx))?;
    let app_window = browser.open_with(&format!("{APP}/"), app)?;
    for label in ["caretaker", "read-only", "membrane"] {
        expect(&mut rx, label, "granted").await;
    }
    let client_proxy = app_window
        .run(|scope: &Scope| scope.iframes()[1].clone())
        .await?;
    let client = browser.handle(&client_proxy);

    println!("--- caretaker ---");
    ask(
        &client,
        "caretaker",
        Request::Read {
            key: "motto".into(),
        },
    )
    .await?;
    expect(&mut rx, "caretaker", "Value").await;
    app_window
        .run(|scope: &Scope| scope.global::<Gates>().expect("gates").caretaker.revoke())
        .await?;
    expect(&mut rx, "caretaker", "closed").await;
    ask(
        &client,
        "caretaker",
        Request::Read {
            key: "motto".into(),
        },
    )
    .await?;
    println!("client: (nothing comes back: the capability is gone)");

    println!("--- attenuating filter ---");
    ask(
        &client,
        "read-only",
        Request::Write {
            key: "motto".into(),
            value: "mine".into(),
        },
    )
    .await?;
    expect(&mut rx, "read-only", "Refused").await;
    ask(
        &client,
        "read-only",
        Request::Read {
            key: "motto".into(),
        },
    )
    .await?;
    expect(
        &mut rx,
        "read-only",
        "Value { key: \"motto\", value: Some(\"one for all\")",
    )
    .await;

    println!("--- membrane ---");
    ask(
        &client,
        "membrane",
        Request::OpenDoc {
            name: "notes".into(),
        },
    )
    .await?;
    expect(&mut rx, "membrane/notes", "granted").await;
    expect(&mut rx, "membrane", "Opened").await;
    ask(
        &client,
        "membrane/notes",
        Request::Read { key: "todo".into() },
    )
    .await?;
    expect(&mut rx, "membrane/notes", "Value").await;
    app_window
        .run(|scope: &Scope| scope.global::<Gates>().expect("gates").membrane.revoke())
        .await?;
    let mut closed = Vec::new();
    for _ in 0..2 {
        let (label, what) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("timed out")
            .expect("closed");
        assert_eq!(what, "closed");
        closed.push(label);
    }
    closed.sort();
    assert_eq!(closed, ["membrane", "membrane/notes"]);
    println!("main: one revoke closed both the session and the document port it handed out");

    // The client's wrapped ports are all it ever had: it never saw a service port.
    browser.shutdown();
    Ok(())
}
