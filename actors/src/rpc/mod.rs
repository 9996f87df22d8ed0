//! Typed RPC over message ports: what comlink and penpal users build by hand, without
//! calls that hang, errors that lose their fields, or a default target origin of `*`.
//!
//! A realm **exposes** a [`Service`] (typed methods: serde requests, responses and errors)
//! and another realm **connects** to it, through a window or over a port it already has:
//!
//! - [`expose`] listens for `hello` messages posted to this realm's window
//!   ([`Window.postMessage`](https://html.spec.whatwg.org/multipage/web-messaging.html#posting-messages)),
//!   accepts those whose `event.origin` is on an explicit allow-list (default: this
//!   realm's own origin; `*` is refused), and serves the
//!   [`MessageChannel`](https://html.spec.whatwg.org/multipage/web-messaging.html#message-channels)
//!   port that came with the `hello`. [`connect`] is the other side: it makes a dedicated
//!   channel and posts its `hello` with a `targetOrigin` that is never `*` (default: the
//!   caller's own origin), so only that origin can ever hold the port.
//! - In a dedicated worker, [`expose`] accepts `hello`s from the worker's creator, which
//!   reaches it with [`connect_worker`] (only the creator can post to a dedicated worker).
//! - [`serve_port`] and [`connect_port`] do the same over a port already shared (a
//!   shared worker's connection, a capability), without origins: holding the port is the
//!   permission.
//!
//! # Calls
//!
//! A [`Method`] names a method and its types once, for both sides. [`Client::call`] sends
//! a request with a fresh correlation id and returns a [`PendingCall`]: attach a callback
//! with [`then`](PendingCall::then), or await it from outside the realm with
//! [`into_future`](PendingCall::into_future). Every call ends exactly once
//! (`webmessaging_core::rpc::calls` is the state machine, with property tests):
//!
//! - with its value, or the method's own error as itself ([`RpcError::Method`]);
//! - at its deadline ([`RpcError::Timeout`], `TimeoutError`); every call has one unless
//!   asked otherwise (30 s by default, [`ConnectOptions::deadline`], [`CallOptions`]);
//! - when cancelled ([`PendingCall::cancel`], dropping the `PendingCall`, or dropping
//!   its [`CallFuture`] when the caller is a window:
//!   [`RpcError::Cancelled`], `AbortError`; the service is told and drops its answer);
//! - when the port closes: the other realm closed it, crashed, navigated, reloaded or was
//!   restarted by its supervisor ([`RpcError::Disconnected`], `AbortError`). The port's
//!   `close` event is how the client learns it.
//!
//! # Reconnecting
//!
//! A client connected through a window or to a worker handshakes again by itself when its
//! port closes: the `WindowProxy` reaches the new document after a navigation, reload or
//! restart (the `Worker` handle the restarted worker), so new calls go to the new
//! instance. Calls that were in flight are rejected
//! ([`RpcError::Disconnected`]), never retried: they may have run. Calls made while
//! (re)connecting wait for the connection (their deadlines still run).
//!
//! # Capabilities, callbacks, streams
//!
//! - A [`Capability`] is a service served on a fresh channel whose other port travels
//!   inside a request or answer (transferred, not copied): the receiver connects to it.
//!   A [`Callback`] is a one-method capability. Both are released when the receiver drops
//!   them, or when either side closes or goes away.
//! - A [`StreamMethod`] answers with a stream of items, with credit-based backpressure of
//!   its own: the consumer grants a window of credits, the producer sends one item per
//!   credit and queues the rest on its side ([`StreamSink`]).
//!
//! # Malformed messages
//!
//! Anything on an RPC port that does not read as an RPC message is dropped (logged at
//! `debug`); a call whose arguments do not deserialize, or that names no method, is
//! answered with a typed error (`DataCloneError`, `NotFoundError`). Nothing the other side
//! sends can panic this side.
//!
//! ```
//! use std::time::Duration;
//! use serde::{Deserialize, Serialize};
//! use webmessaging::prelude::*;
//! use webmessaging::rpc::{self, ConnectOptions, ExposeOptions, Method, RpcError, Service};
//!
//! #[derive(Debug, Serialize, Deserialize, PartialEq)]
//! struct TooBig { limit: u32 }
//! const DOUBLE: Method<u32, u32, TooBig> = Method::new("double");
//!
//! # #[actix_rt::main]
//! # async fn main() -> webmessaging::Result<()> {
//! let browser = Browser::new();
//! browser.route("https://calc.example/", |scope: &Scope| -> webmessaging::Result<()> {
//!     let service = Service::new("calc").method(&DOUBLE, |_: &Scope, n: u32| {
//!         if n > 100 { Err(TooBig { limit: 100 }) } else { Ok(n * 2) }
//!     });
//!     rpc::expose(scope, service, ExposeOptions::new().allow_origin("https://app.example")?)?;
//!     Ok(())
//! })?;
//! let app = browser.open_with("https://app.example/", |scope: &Scope| -> webmessaging::Result<()> {
//!     let calc = scope.create_iframe("https://calc.example/")?;
//!     let client = rpc::connect(scope, &calc, "calc", ConnectOptions::to_origin("https://calc.example")?)?;
//!     scope.set_global(client);
//!     Ok(())
//! })?;
//! let call = |n: u32| app.run(move |scope: &Scope| {
//!     scope.global::<rpc::Client>().unwrap().call(&DOUBLE, n).into_future()
//! });
//! let wait = Duration::from_secs(5);
//! assert_eq!(tokio::time::timeout(wait, call(21).await?).await.unwrap(), Ok(42));
//! let too_big = tokio::time::timeout(wait, call(500).await?).await.unwrap();
//! assert_eq!(too_big, Err(RpcError::Method(TooBig { limit: 100 })));
//! browser.shutdown();
//! # Ok(())
//! # }
//! ```

use std::marker::PhantomData;
use std::rc::{Rc, Weak};

use crate::realm::RealmInner;
use crate::scope::Scope;

mod call;
mod capability;
mod client;
mod error;
mod handshake;
mod options;
mod service;
mod stream;
mod waiter;
mod wire;

pub use call::{CallFuture, PendingCall};
pub use capability::{Callback, Capability};
pub use client::Client;
pub use error::{NoError, RpcError};
pub use handshake::{
    connect, connect_port, connect_worker, expose, serve_port, ExposeOptions, Exposed,
};
pub use options::{CallOptions, ConnectOptions, ConnectionInfo, DEFAULT_DEADLINE};
pub use service::{Reply, Served, Service};
pub use stream::{StreamHandle, StreamOptions, StreamSink};

/// A method of a service: its name, request type `Req`, response type `Resp` and error
/// type `E` (default [`NoError`]). Declare it once as a `const` and use it on both sides.
pub struct Method<Req, Resp, E = NoError> {
    name: &'static str,
    types: PhantomData<fn(Req) -> (Resp, E)>,
}

impl<Req, Resp, E> Method<Req, Resp, E> {
    /// The method called `name`.
    pub const fn new(name: &'static str) -> Self {
        Method {
            name,
            types: PhantomData,
        }
    }

    /// Its name.
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

/// A method that answers with a stream of `Item`s, ended by success or by an error `E`.
pub struct StreamMethod<Req, Item, E = NoError> {
    name: &'static str,
    types: PhantomData<fn(Req) -> (Item, E)>,
}

impl<Req, Item, E> StreamMethod<Req, Item, E> {
    /// The stream method called `name`.
    pub const fn new(name: &'static str) -> Self {
        StreamMethod {
            name,
            types: PhantomData,
        }
    }

    /// Its name.
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

/// A realm, held without keeping it alive (RPC state outlives no realm).
#[derive(Clone)]
pub(crate) struct WeakScope(Weak<RealmInner>);

impl WeakScope {
    pub(crate) fn of(scope: &Scope) -> WeakScope {
        WeakScope(Rc::downgrade(&scope.0))
    }

    /// The realm, if it still exists and is fully active.
    pub(crate) fn get(&self) -> Option<Scope> {
        self.0
            .upgrade()
            .map(Scope)
            .filter(|s: &Scope| s.is_fully_active())
    }
}

/// What keeps the RPC objects of a realm (clients, served connections) alive: the realm's
/// own registry, a global of the realm, so they go away with it. Port listeners and timers
/// only hold them weakly, so no reference cycle outlives the realm.
#[derive(Default)]
struct Registry(std::cell::RefCell<std::collections::HashMap<u64, Rc<dyn std::any::Any>>>);

thread_local! {
    static NEXT_KEY: std::cell::Cell<u64> = const { std::cell::Cell::new(1) };
}

/// Keeps `object` alive as long as `scope`'s realm (or until [`release`]); returns its key.
pub(crate) fn keep(scope: &Scope, object: Rc<dyn std::any::Any>) -> u64 {
    let key = NEXT_KEY.with(|k| {
        let n = k.get();
        k.set(n + 1);
        n
    });
    let registry = match scope.global::<Registry>() {
        Some(r) => r,
        None => scope.set_global(Registry::default()),
    };
    registry.0.borrow_mut().insert(key, object);
    key
}

/// The object kept under `key` in `scope`'s realm, if it is still kept.
pub(crate) fn lookup(scope: &Scope, key: u64) -> Option<Rc<dyn std::any::Any>> {
    let registry = scope.global::<Registry>()?;
    let found = registry.0.borrow().get(&key).cloned();
    found
}

/// Stops keeping the object of `key` (it lives on while something else holds it).
pub(crate) fn release(realm: &WeakScope, key: u64) {
    if let Some(registry) = realm
        .0
        .upgrade()
        .map(Scope)
        .and_then(|s| s.global::<Registry>())
    {
        let gone = registry.0.borrow_mut().remove(&key);
        drop(gone);
    }
}

/// This realm's instance serial, a global of the realm (a new realm, such as a reloaded
/// document or a restarted worker, gets a new one).
struct Instance(u64);

/// How a service names its realm in `welcome`: the realm's name and its instance serial,
/// like `https://svc.example/#2 (realm 7)`.
pub(crate) fn instance_of(scope: &Scope) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let serial = match scope.global::<Instance>() {
        Some(i) => i.0,
        None => {
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            scope.set_global(Instance(n)).0
        }
    };
    format!("{} (realm {serial})", scope.name())
}
