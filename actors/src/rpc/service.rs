//! The serving side: a [`Service`] of typed methods, and each connection it serves
//! ([`Served`]).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use serde::de::DeserializeOwned;
use serde::Serialize;
use webmessaging_core::rpc::CallId;
use webmessaging_core::Error;

use crate::event::MessageEvent;
use crate::port::MessagePort;
use crate::scope::Scope;

use super::stream::{SinkShared, StreamSink};
use super::wire::{self, Control, Fault, Kind, ValueOut};
use super::{keep, release, Method, StreamMethod, WeakScope};

/// How a method runs: given the connection, the call's id, the message and (for a
/// stream) the caller's initial credit.
type Handler = Rc<dyn Fn(&Scope, &Rc<Conn>, CallId, &MessageEvent, Option<u32>)>;

/// A service: a name and typed methods. Build it with [`method`](Self::method),
/// [`deferred`](Self::deferred) and [`stream`](Self::stream), then
/// [`expose`](super::expose) it on a window or [`serve_port`](super::serve_port) it.
#[derive(Clone)]
pub struct Service {
    pub(crate) inner: Rc<ServiceInner>,
}

pub(crate) struct ServiceInner {
    pub(crate) name: String,
    methods: RefCell<HashMap<&'static str, Handler>>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&str> = self.inner.methods.borrow().keys().copied().collect();
        names.sort_unstable();
        f.debug_struct("Service")
            .field("name", &self.inner.name)
            .field("methods", &names)
            .finish()
    }
}

impl Service {
    /// A service called `name`, with no methods yet.
    pub fn new(name: &str) -> Service {
        Service {
            inner: Rc::new(ServiceInner {
                name: name.to_owned(),
                methods: RefCell::new(HashMap::new()),
            }),
        }
    }

    /// The service's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    fn add(self, name: &'static str, handler: Handler) -> Service {
        self.inner.methods.borrow_mut().insert(name, handler);
        self
    }

    /// A method answered at once by `f`: its `Ok` is the value, its `Err` the method's
    /// own error, which reaches the caller as itself.
    pub fn method<Req, Resp, E, F>(self, method: &Method<Req, Resp, E>, f: F) -> Service
    where
        Req: DeserializeOwned + 'static,
        Resp: Serialize + 'static,
        E: Serialize + 'static,
        F: Fn(&Scope, Req) -> std::result::Result<Resp, E> + 'static,
    {
        self.deferred(
            method,
            move |scope: &Scope, req: Req, reply: Reply<Resp, E>| {
                reply.send(f(scope, req));
            },
        )
    }

    /// A method that answers later, through its [`Reply`] (which can be kept, moved into
    /// a timer or another call's callback). A `Reply` dropped unanswered answers with an
    /// `AbortError`, so the caller never waits for nothing.
    pub fn deferred<Req, Resp, E, F>(self, method: &Method<Req, Resp, E>, f: F) -> Service
    where
        Req: DeserializeOwned + 'static,
        Resp: Serialize + 'static,
        E: Serialize + 'static,
        F: Fn(&Scope, Req, Reply<Resp, E>) + 'static,
    {
        let handler: Handler = Rc::new(move |scope, conn, id, event, _credit| {
            // Step 1: read the request as `Req`; a mismatch is answered, not panicked on.
            let req = match wire::read_args::<Req>(event, &conn.realm) {
                Ok(r) => r,
                Err(e) => return conn.fault(id, &e),
            };
            // Step 2: the call is active until answered or cancelled.
            let cancelled = conn.activate(id, None);
            let reply = Reply {
                conn: Rc::downgrade(conn),
                id,
                cancelled,
                answered: false,
                types: std::marker::PhantomData,
            };
            // Step 3: run the method.
            f(scope, req, reply);
        });
        self.add(method.name(), handler)
    }

    /// A method that answers with a stream: `f` gets a [`StreamSink`] to send items on
    /// (paced by the caller's credits), then end or fail it.
    pub fn stream<Req, Item, E, F>(self, method: &StreamMethod<Req, Item, E>, f: F) -> Service
    where
        Req: DeserializeOwned + 'static,
        Item: Serialize + 'static,
        E: Serialize + 'static,
        F: Fn(&Scope, Req, StreamSink<Item, E>) + 'static,
    {
        let handler: Handler = Rc::new(move |scope, conn, id, event, credit| {
            let req = match wire::read_args::<Req>(event, &conn.realm) {
                Ok(r) => r,
                Err(e) => return conn.fault(id, &e),
            };
            let shared = Rc::new(SinkShared::new(conn, id, credit.unwrap_or(1)));
            conn.activate(id, Some(shared.clone()));
            f(scope, req, StreamSink::new(shared));
        });
        self.add(method.name(), handler)
    }

    pub(crate) fn handler(&self, name: &str) -> Option<Handler> {
        self.inner.methods.borrow().get(name).cloned()
    }
}

/// What runs when a served connection closes.
type CloseHook = Box<dyn FnOnce(&Scope)>;

/// One call being served.
struct Active {
    cancelled: Rc<Cell<bool>>,
    stream: Option<Rc<SinkShared>>,
}

/// One connection a service serves (one port).
pub(crate) struct Conn {
    pub(crate) realm: WeakScope,
    pub(crate) port: RefCell<Option<MessagePort>>,
    service: Service,
    active: RefCell<HashMap<CallId, Active>>,
    closed: Cell<bool>,
    on_close: RefCell<Vec<CloseHook>>,
    key: Cell<u64>,
    served: Cell<u64>,
}

impl Conn {
    /// Serves `service` on `port`; with `welcome`, the connection is open at once (a
    /// window handshake), else the client's `hello` on the port opens it.
    pub(crate) fn serve(
        scope: &Scope,
        port: &MessagePort,
        service: Service,
        welcome: bool,
    ) -> Served {
        let conn = Rc::new(Conn {
            realm: WeakScope::of(scope),
            port: RefCell::new(Some(port.clone())),
            service,
            active: RefCell::new(HashMap::new()),
            closed: Cell::new(false),
            on_close: RefCell::new(Vec::new()),
            key: Cell::new(0),
            served: Cell::new(0),
        });
        conn.key.set(keep(scope, conn.clone()));
        let me = Rc::downgrade(&conn);
        port.on_message(move |scope: &Scope, e: &MessageEvent| {
            if let Some(me) = me.upgrade() {
                me.on_message(scope, e);
            }
        });
        let me = Rc::downgrade(&conn);
        port.on_close(move |scope: &Scope, _: &MessageEvent| {
            if let Some(me) = me.upgrade() {
                me.closed(scope);
            }
        });
        if welcome {
            conn.welcome(scope);
        }
        Served(conn)
    }

    fn welcome(&self, scope: &Scope) {
        let instance = super::instance_of(scope);
        self.post(&Control {
            instance: Some(&instance),
            ..Control::new(Kind::Welcome, 0)
        });
    }

    fn on_message(self: &Rc<Self>, scope: &Scope, event: &MessageEvent) {
        let Some(h) = wire::header(event) else {
            return;
        };
        match h.rpc {
            Kind::Hello => {
                if h.service.as_deref() == Some(self.service.name()) {
                    self.welcome(scope);
                } else {
                    let reason = format!(
                        "this port serves {:?}, not {:?}",
                        self.service.name(),
                        h.service.unwrap_or_default()
                    );
                    self.post(&Control {
                        reason: Some(&reason),
                        ..Control::new(Kind::Refused, 0)
                    });
                }
            }
            Kind::Call => {
                let method = h.method.unwrap_or_default();
                if self.active.borrow().contains_key(&h.id) {
                    // A duplicate id: the first call keeps it.
                    return;
                }
                match self.service.handler(&method) {
                    Some(handler) => {
                        self.served.set(self.served.get() + 1);
                        handler(scope, self, h.id, event, h.credit);
                    }
                    None => self.fault(
                        h.id,
                        &Error::NotFound(format!(
                            "{:?} has no method {method:?}",
                            self.service.name()
                        )),
                    ),
                }
            }
            Kind::Cancel => {
                let active = self.active.borrow_mut().remove(&h.id);
                if let Some(a) = active {
                    a.cancelled.set(true);
                    if let Some(s) = a.stream {
                        s.cancelled();
                    }
                }
            }
            Kind::Credit => {
                let stream = self
                    .active
                    .borrow()
                    .get(&h.id)
                    .and_then(|a| a.stream.clone());
                if let (Some(s), Some(n)) = (stream, h.credit) {
                    s.grant(scope, n);
                }
            }
            other => {
                log::debug!(target: "webmessaging::rpc", "service dropped a {other:?} message");
            }
        }
    }

    /// Registers an active call; returns its cancellation flag.
    fn activate(&self, id: CallId, stream: Option<Rc<SinkShared>>) -> Rc<Cell<bool>> {
        let cancelled = Rc::new(Cell::new(false));
        self.active.borrow_mut().insert(
            id,
            Active {
                cancelled: cancelled.clone(),
                stream,
            },
        );
        cancelled
    }

    /// The call `id` is over on this side.
    pub(crate) fn deactivate(&self, id: CallId) -> bool {
        self.active.borrow_mut().remove(&id).is_some()
    }

    pub(crate) fn post<T: Serialize>(&self, msg: &T) {
        let port = self.port.borrow().clone();
        if let Some(port) = port {
            if let Err(e) = wire::post(&port, msg) {
                log::debug!(target: "webmessaging::rpc", "service message not sent: {e}");
            }
        }
    }

    /// Posts a value message; if the value does not serialize, a `fault` instead.
    pub(crate) fn post_value<T: Serialize>(&self, kind: Kind, id: CallId, value: &T) {
        let port = self.port.borrow().clone();
        let Some(port) = port else {
            return;
        };
        if let Err(e) = wire::post(
            &port,
            &ValueOut {
                rpc: kind,
                id,
                value,
            },
        ) {
            self.fault(id, &e);
        }
    }

    /// Answers `id` with a runtime failure.
    pub(crate) fn fault(&self, id: CallId, e: &Error) {
        self.deactivate(id);
        self.post(&Control {
            fault: Some(Fault::of(e)),
            ..Control::new(Kind::Fault, id)
        });
    }

    /// The port closed (the client let go, closed, or its realm went away).
    fn closed(&self, scope: &Scope) {
        if self.closed.replace(true) {
            return;
        }
        self.port.borrow_mut().take();
        let active: Vec<Active> = self.active.borrow_mut().drain().map(|(_, a)| a).collect();
        for a in active {
            a.cancelled.set(true);
            if let Some(s) = a.stream {
                s.cancelled();
            }
        }
        let hooks: Vec<_> = self.on_close.borrow_mut().drain(..).collect();
        for h in hooks {
            h(scope);
        }
        release(&self.realm, self.key.get());
    }
}

/// One connection being served: watch it, or close it (revoking a capability).
#[derive(Clone)]
pub struct Served(pub(crate) Rc<Conn>);

impl std::fmt::Debug for Served {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Served")
            .field("service", &self.0.service.name())
            .field("closed", &self.0.closed.get())
            .finish()
    }
}

impl Served {
    /// Whether the connection is closed (by either side, or because a realm went away).
    pub fn is_closed(&self) -> bool {
        self.0.closed.get()
    }

    /// How many calls and streams are being served now.
    pub fn active_calls(&self) -> usize {
        self.0.active.borrow().len()
    }

    /// How many calls this connection has received.
    pub fn calls_received(&self) -> u64 {
        self.0.served.get()
    }

    /// Runs `f` once when the connection closes (the service is released then).
    pub fn on_close(&self, f: impl FnOnce(&Scope) + 'static) {
        if self.is_closed() {
            if let Some(scope) = self.0.realm.get() {
                f(&scope);
            }
            return;
        }
        self.0.on_close.borrow_mut().push(Box::new(f));
    }

    /// Closes the connection: the client's pending calls end with
    /// [`RpcError::Disconnected`](super::RpcError::Disconnected) after whatever was
    /// answered before, and the service lets go of it.
    pub fn close(&self) {
        let port = self.0.port.borrow().clone();
        if let Some(p) = port {
            p.close();
        }
        if let Some(scope) = self.0.realm.get() {
            self.0.closed(&scope);
        }
    }
}

/// The answer of a deferred call: send it once, now or later.
///
/// Dropped unanswered, it answers with an `AbortError` fault, so no caller waits for an
/// answer that will never come. [`is_cancelled`](Self::is_cancelled) tells whether the
/// caller gave up (then the answer is dropped).
pub struct Reply<Resp: Serialize, E: Serialize> {
    conn: Weak<Conn>,
    id: CallId,
    cancelled: Rc<Cell<bool>>,
    answered: bool,
    types: std::marker::PhantomData<fn(Resp, E)>,
}

impl<Resp: Serialize, E: Serialize> Reply<Resp, E> {
    /// The call's correlation id.
    pub fn id(&self) -> CallId {
        self.id
    }

    /// Whether the caller cancelled, timed out, or went away.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.get()
    }

    /// Answers the call (`Err` is the method's own error). Nothing is sent if the caller
    /// gave up.
    pub fn send(mut self, result: std::result::Result<Resp, E>) {
        self.answered = true;
        let Some(conn) = self.conn.upgrade() else {
            return;
        };
        if self.cancelled.get() || !conn.deactivate(self.id) {
            return;
        }
        match result {
            Ok(v) => conn.post_value(Kind::Ok, self.id, &v),
            Err(e) => conn.post_value(Kind::Err, self.id, &e),
        }
    }

    /// Answers with a runtime failure (an exception name and message).
    pub fn fail(mut self, error: Error) {
        self.answered = true;
        if let Some(conn) = self.conn.upgrade() {
            if !self.cancelled.get() {
                conn.fault(self.id, &error);
            }
        }
    }
}

impl<Resp: Serialize, E: Serialize> Drop for Reply<Resp, E> {
    fn drop(&mut self) {
        // A method that panicked crashes its realm, which closes the port: no answer.
        if self.answered || self.cancelled.get() || std::thread::panicking() {
            return;
        }
        if let Some(conn) = self.conn.upgrade() {
            conn.fault(
                self.id,
                &Error::Abort("the service dropped the call without answering".into()),
            );
        }
    }
}
