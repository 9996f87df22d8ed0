//! Exposing a service and connecting to it: through a window, with an origin check on
//! both sides, or over a port shared already.
//!
//! The window handshake:
//!
//! 1. The client makes a dedicated `MessageChannel` and posts
//!    `{rpc: "hello", service, v}` to the service's `WindowProxy`, with port2 in the
//!    transfer list and a `targetOrigin` naming the service's origin (never `*`), so a
//!    document of any other origin never gets the port (the message is dropped, the port
//!    with it, and the client's port1 gets `close`: it tries again, backing off, until
//!    the calls' deadlines).
//! 2. The service's window listener ([`expose`]) checks `event.origin` against its
//!    allow-list (default: its own origin), and the service name.
//! 3. Allowed: it serves port2 and answers `welcome` (with its instance) on it. Not
//!    allowed: it answers `refused` and closes the port; the client's calls end with
//!    [`RpcError::Refused`](super::RpcError::Refused) (`SecurityError`).
//! 4. The client sends the calls made meanwhile, in order.
//!
//! Over a port ([`connect_port`], [`serve_port`]) the `hello` goes on the port itself.

use std::cell::RefCell;
use std::rc::Rc;

use webmessaging_core::{Error, Result};

use crate::event::{EventType, ListenerId, MessageEvent};
use crate::port::MessagePort;
use crate::scope::{GlobalKind, Scope};
use crate::window::WindowProxy;
use crate::worker::Worker;

use super::client::{Client, Target};
use super::options::{parse_origin, ConnectOptions};
use super::service::{Conn, Served, Service};
use super::wire::{self, Control, Kind};

/// Which origins may connect to an exposed service.
#[derive(Debug, Clone, Default)]
pub struct ExposeOptions {
    origins: Vec<String>,
}

impl ExposeOptions {
    /// The default: only this realm's own origin may connect.
    pub fn new() -> Self {
        ExposeOptions::default()
    }

    /// Allows `origin` (an absolute URL; only its origin counts) to connect.
    ///
    /// # Errors
    /// `SyntaxError` for `*` (a service must name whom it serves), `/`, or a string that
    /// is not an absolute URL.
    pub fn allow_origin(mut self, origin: &str) -> Result<Self> {
        self.origins.push(parse_origin(origin)?);
        Ok(self)
    }

    /// The origins allowed, as serialized origins.
    pub fn origins(&self) -> &[String] {
        &self.origins
    }
}

/// A service exposed on a window: stop accepting connections with
/// [`remove`](Self::remove) (connections already made go on).
#[derive(Debug, Clone)]
pub struct Exposed {
    listener: ListenerId,
    connections: Rc<RefCell<Vec<Served>>>,
}

impl Exposed {
    /// Stops accepting new connections.
    pub fn remove(&self, scope: &Scope) {
        scope.remove_event_listener(self.listener);
    }

    /// The connections accepted (the open ones, and those closed since the last one was
    /// accepted).
    pub fn connections(&self) -> Vec<Served> {
        self.connections.borrow().clone()
    }
}

/// Exposes `service` on this realm's global: in a window, a client in a window of an
/// allowed origin can [`connect`] to it; in a dedicated worker, its creator can
/// [`connect_worker`] to it (the options are not used there: only the creator can post to
/// a dedicated worker).
///
/// # Errors
/// `NotSupportedError` in a shared worker (its global gets no messages: use
/// [`serve_port`] on each connection's port); `SecurityError` in a window when the
/// allow-list is empty and this realm's origin is opaque (`"null"` would admit every
/// opaque origin).
pub fn expose(scope: &Scope, service: Service, options: ExposeOptions) -> Result<Exposed> {
    // In a dedicated worker, only its creator (through its `Worker` object) can post to
    // the global: there is no origin to check (worker messages have origin "").
    let allowed = match scope.kind() {
        GlobalKind::Window => Some(allow_list(scope, options)?),
        GlobalKind::DedicatedWorker => None,
        GlobalKind::SharedWorker => {
            return Err(Error::NotSupported(
                "a shared worker's global gets no messages: serve each connection's port".into(),
            ))
        }
    };
    let connections = Rc::new(RefCell::new(Vec::<Served>::new()));
    let conns = connections.clone();
    let listener = scope.add_event_listener(
        EventType::Message,
        move |scope: &Scope, e: &MessageEvent| {
            // Step 2: only hellos for this service, carrying exactly one port.
            let Some(h) = wire::header(e) else { return };
            if h.rpc != Kind::Hello || h.service.as_deref() != Some(service.name()) {
                return;
            }
            let [port] = e.ports() else {
                log::debug!(target: "webmessaging::rpc", "hello without its port dropped");
                return;
            };
            if let Some(allowed) = &allowed {
                if !allowed.iter().any(|o| o == e.origin()) {
                    // Step 3, refused: say why, and let go of the port.
                    let reason = format!(
                        "{} does not accept connections from {}",
                        service.name(),
                        e.origin()
                    );
                    log::info!(target: "webmessaging::rpc", "{reason}");
                    let _ = port.post(&Control {
                        reason: Some(&reason),
                        ..Control::new(Kind::Refused, 0)
                    });
                    port.close();
                    return;
                }
            }
            // Step 3, allowed: serve the port, welcome the client.
            let served = Conn::serve(scope, port, service.clone(), true);
            let mut conns = conns.borrow_mut();
            // Closed connections are let go of (a client that reconnects often must not
            // grow the list).
            conns.retain(|c| !c.is_closed());
            conns.push(served);
        },
    );
    Ok(Exposed {
        listener,
        connections,
    })
}

/// The origins a window's service admits: the options', or its own.
fn allow_list(scope: &Scope, options: ExposeOptions) -> Result<Vec<String>> {
    if options.origins.is_empty() {
        if scope.origin().is_opaque() {
            return Err(Error::Security(
                "an opaque origin cannot be the default allow-list: name the origins".into(),
            ));
        }
        Ok(vec![scope.origin().serialize().to_owned()])
    } else {
        Ok(options.origins)
    }
}

/// Serves `service` on a port this realm holds (from a worker, a shared worker's
/// `connect`, a capability): the client's `hello` on the port opens the connection.
pub fn serve_port(scope: &Scope, port: &MessagePort, service: Service) -> Served {
    Conn::serve(scope, port, service, false)
}

/// Connects to the service called `service` exposed on `window`.
///
/// Calls can be made at once; they go out when the connection opens. The client
/// reconnects by itself after the service's document is replaced (navigation, reload,
/// crash and restart).
///
/// # Errors
/// `SecurityError` when no target origin is given and this realm's origin is opaque.
pub fn connect(
    scope: &Scope,
    window: &WindowProxy,
    service: &str,
    options: ConnectOptions,
) -> Result<Client> {
    let origin = match &options.target_origin {
        Some(o) => o.clone(),
        None if scope.origin().is_opaque() => {
            return Err(Error::Security(
                "an opaque origin cannot be the default target origin: name it".into(),
            ))
        }
        None => scope.origin().serialize().to_owned(),
    };
    let target = Target::Window {
        proxy: window.clone(),
        origin,
    };
    let client = Client::new(scope, service, target, &options);
    client.inner.handshake(scope);
    Ok(client)
}

/// Connects to the service called `service` exposed (with [`expose`]) in the dedicated
/// worker `worker`, which this realm created.
///
/// Like [`connect`], it reconnects by itself when the worker is restarted by its
/// supervisor (the `Worker` handle reaches the new instance); calls in flight then are
/// rejected.
pub fn connect_worker(
    scope: &Scope,
    worker: &Worker,
    service: &str,
    options: ConnectOptions,
) -> Client {
    let client = Client::new(scope, service, Target::Worker(worker.clone()), &options);
    client.inner.handshake(scope);
    client
}

/// Connects to the service called `service` over `port` (served on the other side with
/// [`serve_port`]). There is nothing to reconnect to: when the port closes, pending calls
/// end with [`RpcError::Disconnected`](super::RpcError::Disconnected) and later calls too.
pub fn connect_port(
    scope: &Scope,
    port: &MessagePort,
    service: &str,
    options: ConnectOptions,
) -> Client {
    let client = Client::new(scope, service, Target::Port, &options);
    if let Err(e) = client.inner.hello_on(port) {
        client.inner.close_with(scope, super::RpcError::Runtime(e));
    }
    client
}
