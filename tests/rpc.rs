//! Typed RPC over ports (`webmessaging::rpc`, issue 15): exposing and connecting through a
//! window with origin allow-lists or over a port, correlated calls, deadlines,
//! cancellation, the loss of the connection (close, crash, navigation, restart),
//! reconnection, errors that keep their fields and their exception names, callbacks and
//! capabilities, credit-paced streams, and malformed messages.
//!
//! Realms report what they see as strings on a channel; calls made from the test are run
//! in the calling realm and awaited with [`PendingCall::into_future`]. No assertion is
//! about time: a deadline test uses a short deadline against a method that never answers
//! and checks the typed error.
//!
//! The panics these tests provoke (to crash a realm) print to stderr; that is expected.

mod common;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::time::Duration;

use common::{expect, recv, send, Rx, Tx};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use webmessaging::prelude::*;
use webmessaging::rpc::{
    self, CallOptions, Callback, Capability, Client, ConnectOptions, ExposeOptions, Method,
    NoError, Reply, RpcError, Service, StreamMethod, StreamOptions, StreamSink,
};
use webmessaging::Script;

const APP: &str = "https://app.example";
const SVC: &str = "https://svc.example";
const SVC_URL: &str = "https://svc.example/";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Lookup {
    name: String,
}

/// A method's own error, with fields: it must cross as itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum LookupError {
    NotFound {
        name: String,
        suggestions: Vec<String>,
    },
    Forbidden(u16),
}

const ECHO: Method<String, String> = Method::new("echo");
const LOOKUP: Method<Lookup, u32, LookupError> = Method::new("lookup");
/// Never answers (the reply is kept in a global).
const HANG: Method<(), ()> = Method::new("hang");
/// Whether each kept `hang` reply was cancelled.
const HUNG: Method<(), Vec<bool>> = Method::new("hung");
/// Panics: crashes the service's realm.
const BOOM: Method<(), ()> = Method::new("boom");
/// The serving realm's name.
const WHOAMI: Method<(), String> = Method::new("whoami");
/// How many calls this instance of the service has received (this one included).
const CALLS: Method<(), u32> = Method::new("calls");
/// Answers once five calls are waiting, in reverse order.
const GATHER: Method<u32, u32> = Method::new("gather");
/// Calls the callback with 1, 2, 3 and answers the sum of its answers.
const WITH_CALLBACK: Method<Callback<u32, u32>, u32> = Method::new("with-callback");
/// Answers a capability to a counter of its own.
const COUNTER: Method<(), Capability> = Method::new("counter");
const INC: Method<u32, u32> = Method::new("inc");
/// Takes a capability and drops it unused.
const DISCARD: Method<Capability, String> = Method::new("discard");
/// 0..n then end; n = 13 fails after three items.
const NUMBERS: StreamMethod<u32, u32, LookupError> = StreamMethod::new("numbers");
/// Ten items sent at once, never ended (the sink is kept).
const TEN: StreamMethod<(), u32> = StreamMethod::new("ten");
/// (credit, buffered, cancelled) of the kept `ten` sink.
const SINK: Method<(), (u32, u32, bool)> = Method::new("sink");

/// The service's state, a global of its document.
#[derive(Default)]
struct State {
    calls: Cell<u32>,
    hung: RefCell<Vec<Reply<(), NoError>>>,
    gathered: RefCell<Vec<(u32, Reply<u32, NoError>)>>,
    sink: RefCell<Option<StreamSink<u32, NoError>>>,
}

fn state(scope: &Scope) -> std::rc::Rc<State> {
    scope.global::<State>().expect("state")
}

fn counted(scope: &Scope) {
    let s = state(scope);
    s.calls.set(s.calls.get() + 1);
}

fn counter_service() -> Service {
    let total = Cell::new(0u32);
    Service::new("counter").method(&INC, move |_: &Scope, n: u32| {
        total.set(total.get() + n);
        Ok(total.get())
    })
}

fn service(tx: Tx) -> Service {
    let tx2 = tx.clone();
    Service::new("test")
        .method(&ECHO, |s: &Scope, x: String| {
            counted(s);
            Ok(x)
        })
        .method(&LOOKUP, |s: &Scope, q: Lookup| {
            counted(s);
            match q.name.as_str() {
                "tell" => Ok(7),
                "gessler" => Err(LookupError::Forbidden(403)),
                _ => Err(LookupError::NotFound {
                    suggestions: vec![format!("{}s", q.name)],
                    name: q.name,
                }),
            }
        })
        .deferred(&HANG, |s: &Scope, (): (), reply| {
            counted(s);
            state(s).hung.borrow_mut().push(reply);
        })
        .method(&HUNG, |s: &Scope, (): ()| {
            let st = state(s);
            let hung = st.hung.borrow();
            Ok(hung.iter().map(|r| r.is_cancelled()).collect())
        })
        .method(&BOOM, |_: &Scope, (): ()| -> Result<(), NoError> {
            panic!("boom")
        })
        .method(&WHOAMI, |s: &Scope, (): ()| Ok(s.name()))
        .method(&CALLS, |s: &Scope, (): ()| {
            counted(s);
            Ok(state(s).calls.get())
        })
        .deferred(&GATHER, |s: &Scope, n: u32, reply| {
            let st = state(s);
            st.gathered.borrow_mut().push((n, reply));
            if st.gathered.borrow().len() == 5 {
                let all: Vec<_> = st.gathered.borrow_mut().drain(..).collect();
                for (n, reply) in all.into_iter().rev() {
                    reply.send(Ok(n * 10));
                }
            }
        })
        .method(&WITH_CALLBACK, move |s: &Scope, cb: Callback<u32, u32>| {
            let tx = tx2.clone();
            let sum = std::rc::Rc::new(Cell::new(0));
            for i in 1..=3u32 {
                let (tx, sum) = (tx.clone(), sum.clone());
                cb.call(s, i).then(move |_: &Scope, r| {
                    sum.set(sum.get() + r.unwrap_or(0));
                    send(&tx, format!("svc: callback({i}) -> {}", sum.get()));
                });
            }
            // The callback is dropped here: released once its calls are answered.
            Ok(0)
        })
        .method(&COUNTER, move |s: &Scope, (): ()| {
            let (cap, served) = Capability::serve(s, counter_service());
            let tx = tx.clone();
            served.on_close(move |_: &Scope| send(&tx, "svc: counter released"));
            Ok(cap)
        })
        .method(&DISCARD, |_: &Scope, cap: Capability| {
            Ok(cap.service().to_owned())
        })
        .stream(&NUMBERS, |_: &Scope, n: u32, sink| {
            for i in 0..n {
                if n == 13 && i == 3 {
                    return sink.fail(LookupError::Forbidden(13));
                }
                sink.send(i).expect("open");
            }
            sink.end();
        })
        .stream(&TEN, |s: &Scope, (): (), sink| {
            for i in 0..10 {
                sink.send(i).expect("open");
            }
            *state(s).sink.borrow_mut() = Some(sink);
        })
        .method(&SINK, |s: &Scope, (): ()| {
            let st = state(s);
            let sink = st.sink.borrow();
            let sink = sink.as_ref().expect("a ten stream");
            Ok((sink.credit(), sink.buffered() as u32, sink.is_cancelled()))
        })
}

/// The service's document: exposes `test` to `allow` (none: its own origin).
fn service_script(tx: Tx, allow: Option<&'static str>) -> Script {
    script(move |scope: &Scope| -> webmessaging::Result<()> {
        scope.set_global(State::default());
        let options = match allow {
            Some(o) => ExposeOptions::new().allow_origin(o)?,
            None => ExposeOptions::new(),
        };
        rpc::expose(scope, service(tx.clone()), options)?;
        send(&tx, format!("svc: loaded {}", scope.name()));
        Ok(())
    })
}

/// The calling page: an iframe of `frame_url`, a client connected to it with `options`,
/// reporting its connections.
fn open_app(
    browser: &Browser,
    tx: &Tx,
    frame_url: &'static str,
    options: ConnectOptions,
) -> WindowHandle {
    let tx = tx.clone();
    browser
        .open_with(
            "https://app.example/",
            move |scope: &Scope| -> webmessaging::Result<()> {
                let frame = scope.create_iframe(frame_url)?;
                let client = rpc::connect(scope, &frame, "test", options.clone())?;
                let t = tx.clone();
                client.on_connect(move |_: &Scope, info| {
                    send(
                        &t,
                        format!("app: connected {} epoch {}", info.instance, info.epoch),
                    )
                });
                let t = tx.clone();
                client.on_disconnect(move |_: &Scope, e| {
                    send(&t, format!("app: disconnected {:?}", e.name()))
                });
                scope.set_global(frame);
                scope.set_global(client);
                Ok(())
            },
        )
        .expect("open")
}

fn client(scope: &Scope) -> std::rc::Rc<Client> {
    scope.global::<Client>().expect("client")
}

async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .expect("timed out")
}

/// Calls `method` from the page and waits for the outcome.
async fn ask<Req, Resp, E>(
    page: &WindowHandle,
    method: &'static Method<Req, Resp, E>,
    req: Req,
) -> Result<Resp, RpcError<E>>
where
    Req: Serialize + Send + 'static,
    Resp: serde::de::DeserializeOwned + Send + 'static,
    E: serde::de::DeserializeOwned + Send + 'static,
{
    let fut = page
        .run(move |s: &Scope| client(s).call(method, req).into_future())
        .await
        .expect("page alive");
    within(fut).await
}

/// The page's iframe, to drive it from the test.
async fn frame(browser: &Browser, page: &WindowHandle) -> WindowHandle {
    let proxy = page
        .run(|s: &Scope| (*s.global::<WindowProxy>().expect("frame")).clone())
        .await
        .expect("page alive");
    browser.handle(&proxy)
}

fn setup(allow: Option<&'static str>) -> (Browser, Tx, Rx) {
    let browser = Browser::new();
    let (tx, rx) = mpsc::unbounded_channel();
    browser
        .route(SVC_URL, {
            let s = service_script(tx.clone(), allow);
            move |scope: &Scope| s(scope)
        })
        .expect("route");
    (browser, tx, rx)
}

fn to_svc() -> ConnectOptions {
    ConnectOptions::to_origin(SVC).expect("an origin")
}

/// The next report of the page (skipping the service's load reports, whose order
/// against the page's depends on two event loops).
async fn next_app(rx: &mut Rx) -> String {
    loop {
        let m = recv(rx).await;
        if !m.starts_with("svc: loaded") {
            return m;
        }
    }
}

/// Waits for the connection report (skipping the service's load reports).
async fn connected(rx: &mut Rx) -> String {
    loop {
        let m = recv(rx).await;
        if m.starts_with("app: connected") {
            return m;
        }
        assert!(m.starts_with("svc: loaded"), "unexpected {m}");
    }
}

#[actix_rt::test]
async fn a_call_through_a_window_answers_and_errors_keep_their_fields() {
    let (browser, tx, mut rx) = setup(Some(APP));
    let page = open_app(&browser, &tx, SVC_URL, to_svc());
    // Calls made before the handshake completes wait for it, and go out in order.
    let early = page
        .run(|s: &Scope| {
            let c = client(s);
            (
                c.call(&ECHO, "first".to_owned()).into_future(),
                c.call(&CALLS, ()).into_future(),
            )
        })
        .await
        .unwrap();
    assert_eq!(within(early.0).await, Ok("first".to_owned()));
    assert_eq!(within(early.1).await, Ok(2));
    let c = connected(&mut rx).await;
    assert!(
        c.starts_with("app: connected https://svc.example/#") && c.ends_with("epoch 0"),
        "{c}"
    );

    assert_eq!(
        ask(
            &page,
            &LOOKUP,
            Lookup {
                name: "tell".into()
            }
        )
        .await,
        Ok(7)
    );
    let e = ask(
        &page,
        &LOOKUP,
        Lookup {
            name: "melchtal".into(),
        },
    )
    .await;
    assert_eq!(
        e,
        Err(RpcError::Method(LookupError::NotFound {
            name: "melchtal".into(),
            suggestions: vec!["melchtals".into()],
        }))
    );
    assert_eq!(
        e.unwrap_err().name(),
        None,
        "a method's error is not a DOMException"
    );
    let e = ask(
        &page,
        &LOOKUP,
        Lookup {
            name: "gessler".into(),
        },
    )
    .await;
    assert_eq!(e, Err(RpcError::Method(LookupError::Forbidden(403))));
    browser.shutdown();
}

#[actix_rt::test]
async fn runtime_failures_carry_exception_names() {
    let (browser, tx, mut rx) = setup(Some(APP));
    let page = open_app(&browser, &tx, SVC_URL, to_svc());
    connected(&mut rx).await;
    // No such method: NotFoundError, with the method's name.
    const NOPE: Method<(), ()> = Method::new("nope");
    let e = ask(&page, &NOPE, ()).await.unwrap_err();
    assert_eq!(e.name(), Some(ExceptionName::NotFoundError));
    assert!(
        matches!(&e, RpcError::NoSuchMethod { method } if method.contains("nope")),
        "{e:?}"
    );
    // Arguments of the wrong shape: the service answers DataCloneError, it does not panic.
    const ECHO_NUMBER: Method<u32, String> = Method::new("echo");
    let e = ask(&page, &ECHO_NUMBER, 5).await.unwrap_err();
    assert_eq!(e.name(), Some(ExceptionName::DataCloneError), "{e:?}");
    // An answer of the wrong shape: DataCloneError on this side.
    const ECHO_AS_NUMBER: Method<String, u32> = Method::new("echo");
    let e = ask(&page, &ECHO_AS_NUMBER, "x".into()).await.unwrap_err();
    assert_eq!(e.name(), Some(ExceptionName::DataCloneError), "{e:?}");
    let dom = e.to_dom_error().expect("a DOMException");
    assert_eq!(dom.name().as_str(), "DataCloneError");
    // The service is still there.
    assert_eq!(ask(&page, &ECHO, "still".into()).await, Ok("still".into()));
    browser.shutdown();
}

#[actix_rt::test]
async fn origins_are_checked_on_both_sides_and_star_is_refused() {
    // `*` is never accepted, on either side.
    let e = ExposeOptions::new().allow_origin("*").unwrap_err();
    assert_eq!(e.name(), ExceptionName::SyntaxError);
    let e = ConnectOptions::to_origin("*").unwrap_err();
    assert_eq!(e.name(), ExceptionName::SyntaxError);

    // The service's default allow-list is its own origin: another origin is refused.
    let (browser, tx, mut rx) = setup(None);
    let page = open_app(&browser, &tx, SVC_URL, to_svc());
    let e = ask(&page, &ECHO, "hi".into()).await.unwrap_err();
    assert!(
        matches!(&e, RpcError::Refused { reason } if reason.contains(APP)),
        "{e:?}"
    );
    assert_eq!(e.name(), Some(ExceptionName::SecurityError));
    assert_eq!(
        recv(&mut rx).await.split('#').next(),
        Some("svc: loaded https://svc.example/")
    );
    browser.shutdown();

    // The client's default target origin is its own: a cross-origin frame never gets the
    // port, so the call can only end by its deadline.
    let (browser, tx, _rx) = setup(Some(APP));
    let options = ConnectOptions::new().deadline(Some(Duration::from_millis(50)));
    let page = open_app(&browser, &tx, SVC_URL, options);
    let e = ask(&page, &ECHO, "hi".into()).await.unwrap_err();
    assert_eq!(e.name(), Some(ExceptionName::TimeoutError), "{e:?}");
    browser.shutdown();
}

#[actix_rt::test]
async fn same_origin_defaults_connect() {
    let (browser, tx, mut rx) = setup(None);
    browser
        .route("https://app.example/svc", {
            let s = service_script(tx.clone(), None);
            move |scope: &Scope| s(scope)
        })
        .unwrap();
    let page = open_app(
        &browser,
        &tx,
        "https://app.example/svc",
        ConnectOptions::new(),
    );
    assert_eq!(ask(&page, &ECHO, "same".into()).await, Ok("same".into()));
    connected(&mut rx).await;
    browser.shutdown();
}

#[actix_rt::test]
async fn answers_are_matched_to_their_calls_by_id() {
    let (browser, tx, mut rx) = setup(Some(APP));
    let page = open_app(&browser, &tx, SVC_URL, to_svc());
    connected(&mut rx).await;
    // Five calls, answered in reverse order: each gets its own answer.
    let futs = page
        .run(|s: &Scope| {
            let c = client(s);
            (1..=5u32)
                .map(|n| c.call(&GATHER, n).into_future())
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
    let mut got = Vec::new();
    for f in futs {
        got.push(within(f).await.unwrap());
    }
    assert_eq!(got, [10, 20, 30, 40, 50]);
    browser.shutdown();
}

#[actix_rt::test]
async fn a_deadline_ends_a_call_with_a_timeout_error_and_tells_the_service() {
    let (browser, tx, mut rx) = setup(Some(APP));
    let page = open_app(&browser, &tx, SVC_URL, to_svc());
    connected(&mut rx).await;
    let fut = page
        .run(|s: &Scope| {
            client(s)
                .call_with(&HANG, (), CallOptions::deadline(Duration::from_millis(20)))
                .into_future()
        })
        .await
        .unwrap();
    let e = within(fut).await.unwrap_err();
    assert!(matches!(e, RpcError::Timeout { .. }), "{e:?}");
    assert_eq!(e.name(), Some(ExceptionName::TimeoutError));
    // The `cancel` went before this call on the same port: the service has let go.
    assert_eq!(ask(&page, &HUNG, ()).await, Ok(vec![true]));
    browser.shutdown();
}

#[actix_rt::test]
async fn cancelling_or_dropping_a_call_aborts_it_on_both_sides() {
    let (browser, tx, mut rx) = setup(Some(APP));
    let page = open_app(&browser, &tx, SVC_URL, to_svc());
    connected(&mut rx).await;
    let t = tx.clone();
    page.run(move |s: &Scope| {
        let c = client(s);
        let call = c.call(&HANG, ());
        let t = t.clone();
        // A handle to the call, cancelled: the caller gets AbortError at once.
        let id = call.id();
        call.cancel();
        send(&t, format!("cancelled {}", id.is_some()));
        // Dropped without being awaited: cancelled too.
        drop(c.call(&HANG, ()));
    })
    .await
    .unwrap();
    expect(&mut rx, &["cancelled true"]).await;
    // Both were in flight; the service saw both cancellations before this call.
    assert_eq!(ask(&page, &HUNG, ()).await, Ok(vec![true, true]));
    // A future dropped here, on the test's thread, before it is ready: its call is
    // cancelled in the page, and the service is told before the next call.
    let fut = page
        .run(|s: &Scope| {
            client(s)
                .call_with(&HANG, (), CallOptions::no_deadline())
                .into_future()
        })
        .await
        .unwrap();
    drop(fut);
    assert_eq!(ask(&page, &HUNG, ()).await, Ok(vec![true, true, true]));
    // A cancelled call's callback runs with Cancelled (AbortError).
    let t = tx.clone();
    page.run(move |s: &Scope| {
        let c = client(s);
        let t = t.clone();
        c.call_with(&HANG, (), CallOptions::no_deadline())
            .then(move |_: &Scope, r| send(&t, format!("then {:?}", r.map_err(|e| e.name()))));
        c.close();
    })
    .await
    .unwrap();
    expect(&mut rx, &["then Err(Some(InvalidStateError))"]).await;
    browser.shutdown();
}

#[actix_rt::test]
async fn a_crash_rejects_the_call_in_flight_and_the_client_reconnects_to_the_restart() {
    let (browser, tx, mut rx) = setup(Some(APP));
    let page = open_app(&browser, &tx, SVC_URL, to_svc());
    let first = connected(&mut rx).await;
    let before = ask(&page, &WHOAMI, ()).await.unwrap();
    // The method panics: the service's realm crashes, its supervisor reloads it.
    let e = ask(&page, &BOOM, ()).await.unwrap_err();
    assert!(matches!(e, RpcError::Disconnected { .. }), "{e:?}");
    assert_eq!(e.name(), Some(ExceptionName::AbortError));
    assert_eq!(
        next_app(&mut rx).await,
        "app: disconnected Some(AbortError)"
    );
    let second = connected(&mut rx).await;
    assert!(second.ends_with("epoch 1"), "{second}");
    assert_ne!(first, second);
    // New calls go to the new instance, which never saw the call that crashed the old one.
    let after = ask(&page, &WHOAMI, ()).await.unwrap();
    assert_ne!(before, after);
    assert_eq!(ask(&page, &CALLS, ()).await, Ok(1));
    browser.shutdown();
}

#[actix_rt::test]
async fn a_reload_during_a_call_rejects_it_and_new_calls_go_to_the_new_document() {
    let (browser, tx, mut rx) = setup(Some(APP));
    let page = open_app(&browser, &tx, SVC_URL, to_svc());
    connected(&mut rx).await;
    let hang = page
        .run(|s: &Scope| client(s).call(&HANG, ()).into_future())
        .await
        .unwrap();
    // The echo is answered after the hang was received (one port, in order).
    assert_eq!(ask(&page, &ECHO, "x".into()).await, Ok("x".into()));
    let svc = frame(&browser, &page).await;
    svc.navigate(SVC_URL).unwrap();
    let e = within(hang).await.unwrap_err();
    assert!(matches!(e, RpcError::Disconnected { .. }), "{e:?}");
    assert_eq!(
        next_app(&mut rx).await,
        "app: disconnected Some(AbortError)"
    );
    let again = connected(&mut rx).await;
    assert!(again.ends_with("epoch 1"), "{again}");
    // Not retried: the new document has seen exactly one call, this one.
    assert_eq!(ask(&page, &CALLS, ()).await, Ok(1));
    assert_eq!(ask(&page, &HUNG, ()).await, Ok(vec![]));
    browser.shutdown();
}

#[actix_rt::test]
async fn over_a_port_to_a_worker_and_closing_ends_pending_calls() {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let t = tx.clone();
    let page = browser
        .open_with(
            "https://app.example/",
            move |scope: &Scope| -> webmessaging::Result<()> {
                let t = t.clone();
                let worker =
                    scope.spawn_worker_with("https://app.example/w.js", move |ws: &Scope| {
                        let t = t.clone();
                        ws.on_message(move |ws: &Scope, e: &MessageEvent| {
                            ws.set_global(State::default());
                            let served = rpc::serve_port(ws, &e.ports()[0], service(t.clone()));
                            let t = t.clone();
                            served.on_close(move |_: &Scope| send(&t, "worker: connection closed"));
                            ws.set_global(served);
                        });
                    })?;
                let (mine, theirs) = scope.message_channel().into_ports();
                worker.post_with_transfer(&"port", &[theirs.to_value()])?;
                scope.set_global(rpc::connect_port(
                    scope,
                    &mine,
                    "test",
                    ConnectOptions::new(),
                ));
                scope.set_global(worker);
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(
        ask(&page, &ECHO, "to the worker".into()).await,
        Ok("to the worker".into())
    );
    assert_eq!(
        ask(
            &page,
            &LOOKUP,
            Lookup {
                name: "tell".into()
            }
        )
        .await,
        Ok(7)
    );
    // A call in flight, then the client closes: it ends with Closed, the worker lets go.
    let hang = page
        .run(|s: &Scope| {
            let c = client(s);
            let f = c.call(&HANG, ()).into_future();
            c.close();
            (f, c.call(&ECHO, "late".into()).into_future())
        })
        .await
        .unwrap();
    assert_eq!(within(hang.0).await, Err(RpcError::Closed));
    assert_eq!(
        within(hang.1).await.unwrap_err().name(),
        Some(ExceptionName::InvalidStateError)
    );
    assert_eq!(recv(&mut rx).await, "worker: connection closed");
    browser.shutdown();
}

#[actix_rt::test]
async fn the_service_closing_its_port_disconnects_a_port_client_for_good() {
    let browser = Browser::new();
    let (tx, _rx) = mpsc::unbounded_channel::<String>();
    let page = browser
        .open_with("https://app.example/", move |scope: &Scope| {
            scope.set_global(State::default());
            let (a, b) = scope.message_channel().into_ports();
            let served = rpc::serve_port(scope, &a, service(tx.clone()));
            scope.set_global(served);
            scope.set_global(rpc::connect_port(scope, &b, "test", ConnectOptions::new()));
        })
        .unwrap();
    assert_eq!(ask(&page, &ECHO, "x".into()).await, Ok("x".into()));
    let hang = page
        .run(|s: &Scope| client(s).call(&HANG, ()).into_future())
        .await
        .unwrap();
    page.run(|s: &Scope| s.global::<rpc::Served>().unwrap().close())
        .await
        .unwrap();
    let e = within(hang).await.unwrap_err();
    assert!(matches!(e, RpcError::Disconnected { .. }), "{e:?}");
    let e = ask(&page, &ECHO, "after".into()).await.unwrap_err();
    assert!(matches!(e, RpcError::Disconnected { .. }), "{e:?}");
    browser.shutdown();
}

#[actix_rt::test]
async fn a_callback_argument_is_called_back_and_released() {
    let (browser, tx, mut rx) = setup(Some(APP));
    let page = open_app(&browser, &tx, SVC_URL, to_svc());
    connected(&mut rx).await;
    let t = tx.clone();
    let fut = page
        .run(move |s: &Scope| {
            let t2 = t.clone();
            let (cb, served) = Callback::new(s, move |_: &Scope, n: u32| {
                send(&t2, format!("app: callback({n})"));
                Ok::<u32, NoError>(n * 100)
            });
            let t = t.clone();
            served.on_close(move |_: &Scope| send(&t, "app: callback released"));
            client(s).call(&WITH_CALLBACK, cb).into_future()
        })
        .await
        .unwrap();
    assert_eq!(within(fut).await, Ok(0));
    // The service called back three times, in order, then dropped it: released.
    expect(
        &mut rx,
        &[
            "app: callback(1)",
            "app: callback(2)",
            "app: callback(3)",
            "svc: callback(1) -> 100",
            "svc: callback(2) -> 300",
            "svc: callback(3) -> 600",
            "app: callback released",
        ],
    )
    .await;
    // A capability outside an RPC message cannot be sent: DataCloneError, not a panic.
    let e = page
        .run(|s: &Scope| {
            let (cb, _served) = Callback::<u32, u32>::new(s, |_: &Scope, n| Ok(n));
            let port = s.message_channel();
            port.port1().post(&cb).unwrap_err().name()
        })
        .await
        .unwrap();
    assert_eq!(e, ExceptionName::DataCloneError);
    browser.shutdown();
}

#[actix_rt::test]
async fn a_capability_in_an_answer_is_a_service_of_its_own_until_dropped() {
    let (browser, tx, mut rx) = setup(Some(APP));
    let page = open_app(&browser, &tx, SVC_URL, to_svc());
    connected(&mut rx).await;
    let t = tx.clone();
    page.run(move |s: &Scope| {
        let t = t.clone();
        client(s).call(&COUNTER, ()).then(move |s: &Scope, cap| {
            let counter = cap.expect("a capability").connect(s);
            let t2 = t.clone();
            counter
                .call(&INC, 2)
                .then(move |_: &Scope, r| send(&t2, format!("inc {r:?}")));
            let t2 = t.clone();
            counter
                .call(&INC, 3)
                .then(move |_: &Scope, r| send(&t2, format!("inc {r:?}")));
            // `counter` is dropped here: released once its two calls are answered.
        });
    })
    .await
    .unwrap();
    expect(
        &mut rx,
        &["inc Ok(2)", "inc Ok(5)", "svc: counter released"],
    )
    .await;
    // A capability the receiver drops without using it is released too; one whose
    // serving side closes ends the receiver's calls with AbortError.
    let t = tx.clone();
    let fut = page
        .run(move |s: &Scope| {
            let (cap, served) = Capability::serve(s, counter_service());
            let t = t.clone();
            served.on_close(move |_: &Scope| send(&t, "app: unused capability released"));
            client(s).call(&DISCARD, cap).into_future()
        })
        .await
        .unwrap();
    assert_eq!(within(fut).await, Ok("counter".to_owned()));
    expect(&mut rx, &["app: unused capability released"]).await;
    let fut = page
        .run(|s: &Scope| {
            let (cap, served) = Capability::serve(s, counter_service());
            served.close();
            cap.connect(s).call(&INC, 1).into_future()
        })
        .await
        .unwrap();
    let e = within(fut).await.unwrap_err();
    assert!(matches!(e, RpcError::Disconnected { .. }), "{e:?}");
    browser.shutdown();
}

/// What a stream reports: each item, then how it ended.
async fn open_stream<Req: Serialize + Send + 'static, E>(
    page: &WindowHandle,
    tx: &Tx,
    method: &'static StreamMethod<Req, u32, E>,
    req: Req,
    options: StreamOptions,
) where
    E: serde::de::DeserializeOwned + std::fmt::Debug + 'static,
{
    let tx = tx.clone();
    page.run(move |s: &Scope| {
        let t = tx.clone();
        let handle = client(s).stream(
            method,
            req,
            options,
            move |_: &Scope, n: u32| send(&t, format!("item {n}")),
            move |_: &Scope, end| {
                let e = end.map_err(|e| format!("{:?} {:?}", e.name(), e.method_error()));
                send(&tx, format!("end {e:?}"))
            },
        );
        s.set_global(handle);
    })
    .await
    .expect("page alive");
}

#[actix_rt::test]
async fn a_stream_delivers_every_item_in_order_then_ends() {
    let (browser, tx, mut rx) = setup(Some(APP));
    let page = open_app(&browser, &tx, SVC_URL, to_svc());
    connected(&mut rx).await;
    // 40 items through a window of 4: credit is granted as they are consumed.
    let options = StreamOptions {
        window: 4,
        ..StreamOptions::default()
    };
    open_stream(&page, &tx, &NUMBERS, 40, options).await;
    for i in 0..40 {
        assert_eq!(recv(&mut rx).await, format!("item {i}"));
    }
    assert_eq!(recv(&mut rx).await, "end Ok(())");
    // A stream that fails with the method's error, after the items before it.
    open_stream(&page, &tx, &NUMBERS, 13, StreamOptions::default()).await;
    expect(&mut rx, &["item 0", "item 1", "item 2"]).await;
    assert_eq!(
        recv(&mut rx).await,
        r#"end Err("None Some(Forbidden(13))")"#
    );
    browser.shutdown();
}

#[actix_rt::test]
async fn a_stream_never_has_more_than_its_credit_in_flight() {
    let (browser, tx, mut rx) = setup(Some(APP));
    let page = open_app(&browser, &tx, SVC_URL, to_svc());
    connected(&mut rx).await;
    let options = StreamOptions {
        window: 3,
        manual: true,
        ..StreamOptions::default()
    };
    // The producer sends ten items at once; three go, seven wait in its sink.
    open_stream(&page, &tx, &TEN, (), options).await;
    expect(&mut rx, &["item 0", "item 1", "item 2"]).await;
    // Answered after everything the sink posted before it: nothing more came.
    assert_eq!(ask(&page, &SINK, ()).await, Ok((0, 7, false)));
    let granted = page
        .run(|s: &Scope| s.global::<rpc::StreamHandle>().unwrap().request(2))
        .await
        .unwrap();
    assert_eq!(granted, 2);
    expect(&mut rx, &["item 3", "item 4"]).await;
    assert_eq!(ask(&page, &SINK, ()).await, Ok((0, 5, false)));
    // More than the window is capped at the window.
    let granted = page
        .run(|s: &Scope| s.global::<rpc::StreamHandle>().unwrap().request(100))
        .await
        .unwrap();
    assert_eq!(granted, 3);
    expect(&mut rx, &["item 5", "item 6", "item 7"]).await;
    assert_eq!(ask(&page, &SINK, ()).await, Ok((0, 2, false)));
    // Cancelled: it ends with AbortError, and the sink stops (its queue dropped).
    page.run(|s: &Scope| s.global::<rpc::StreamHandle>().unwrap().cancel())
        .await
        .unwrap();
    assert_eq!(recv(&mut rx).await, r#"end Err("Some(AbortError) None")"#);
    assert_eq!(ask(&page, &SINK, ()).await, Ok((0, 0, true)));
    browser.shutdown();
}

#[actix_rt::test]
async fn a_crash_during_a_stream_ends_it_with_an_abort_error() {
    let (browser, tx, mut rx) = setup(Some(APP));
    let page = open_app(&browser, &tx, SVC_URL, to_svc());
    connected(&mut rx).await;
    let options = StreamOptions {
        window: 2,
        manual: true,
        ..StreamOptions::default()
    };
    open_stream(&page, &tx, &TEN, (), options).await;
    expect(&mut rx, &["item 0", "item 1"]).await;
    let svc = frame(&browser, &page).await;
    // Crash the service's realm from outside (a panic in a task of its own).
    let crashed = svc
        .run(|_: &Scope| -> () { panic!("crash during a stream") })
        .await;
    assert!(crashed.is_err());
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let m = recv(&mut rx).await;
        if !m.starts_with("svc: loaded") && !m.starts_with("app: connected") {
            seen.push(m);
        }
    }
    assert_eq!(
        seen,
        [
            r#"end Err("Some(AbortError) None")"#,
            "app: disconnected Some(AbortError)"
        ]
    );
    // The client reconnects to the restarted document.
    assert_eq!(ask(&page, &CALLS, ()).await, Ok(1));
    browser.shutdown();
}

#[actix_rt::test]
async fn malformed_messages_are_dropped_or_answered_never_a_panic() {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let t = tx.clone();
    let page = browser
        .open_with("https://app.example/", move |scope: &Scope| -> webmessaging::Result<()> {
            scope.set_global(State::default());
            let (a, b) = scope.message_channel().into_ports();
            scope.set_global(rpc::serve_port(scope, &a, service(t.clone())));
            b.on_message(common::reporter(&t, "raw"));
            // Not RPC at all, an unknown kind, a call without a method, a call with
            // arguments of the wrong shape, a credit for no stream, a hello for another
            // service, then a good call.
            b.post(&"garbage")?;
            b.post(&serde_json::json!({"rpc": "launch-missiles"}))?;
            b.post(&serde_json::json!({"rpc": "call", "id": 1}))?;
            b.post(&serde_json::json!({"rpc": "call", "id": 2, "method": "lookup", "args": [1, 2]}))?;
            b.post(&serde_json::json!({"rpc": "credit", "id": 99, "credit": 4}))?;
            b.post(&serde_json::json!({"rpc": "hello", "service": "other"}))?;
            b.post(&serde_json::json!({"rpc": "call", "id": 3, "method": "echo", "args": "ok"}))?;
            Ok(())
        })
        .unwrap();
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(recv(&mut rx).await);
    }
    assert!(
        got[0].contains("fault") && got[0].contains("NotFoundError"),
        "{got:?}"
    );
    assert!(
        got[1].contains("fault") && got[1].contains("DataCloneError"),
        "{got:?}"
    );
    assert!(got[2].contains("refused"), "{got:?}");
    assert!(
        got[3].contains("ok") && got[3].contains("\"ok\""),
        "{got:?}"
    );
    page.settle().await.unwrap();
    browser.shutdown();
}

#[actix_rt::test]
async fn a_worker_service_is_reconnected_to_after_its_supervisor_restarts_it() {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let t = tx.clone();
    let page = browser
        .open_with(
            "https://app.example/",
            move |scope: &Scope| -> webmessaging::Result<()> {
                let t2 = t.clone();
                let worker =
                    scope.spawn_worker_with("https://app.example/svc.js", move |ws: &Scope| {
                        ws.set_global(State::default());
                        // In a dedicated worker, only its creator can say hello.
                        rpc::expose(ws, service(t2.clone()), ExposeOptions::new()).expect("expose");
                    })?;
                let client = rpc::connect_worker(scope, &worker, "test", ConnectOptions::new());
                let t = t.clone();
                client.on_connect(move |_: &Scope, info| {
                    send(&t, format!("connected epoch {}", info.epoch))
                });
                scope.set_global(client);
                scope.set_global(worker);
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(
        ask(&page, &ECHO, "to the worker".into()).await,
        Ok("to the worker".into())
    );
    assert_eq!(recv(&mut rx).await, "connected epoch 0");
    let instance = || page.run(|s: &Scope| client(s).connection().expect("connected").instance);
    let before = instance().await.unwrap();
    let e = ask(&page, &BOOM, ()).await.unwrap_err();
    assert!(matches!(e, RpcError::Disconnected { .. }), "{e:?}");
    assert_eq!(recv(&mut rx).await, "connected epoch 1");
    // The restarted worker: a new instance, which never saw the call that crashed the old.
    assert_ne!(instance().await.unwrap(), before);
    assert_eq!(ask(&page, &CALLS, ()).await, Ok(1));
    browser.shutdown();
}
