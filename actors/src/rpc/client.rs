//! The calling side: [`Client`], its calls ([`PendingCall`]) and their options.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use webmessaging_core::rpc::{CallId, CallTable, Phase, Start};
use webmessaging_core::Result;

use crate::event::MessageEvent;
use crate::kernel::TimerId;
use crate::port::MessagePort;
use crate::scope::Scope;
use crate::window::WindowProxy;
use crate::worker::Worker;

use super::call::{decode_answer, CallSlot, PendingCall};
use super::error::{Failure, RpcError};
use super::options::{CallOptions, ConnectOptions, ConnectionInfo};
use super::stream::StreamState;
use super::waiter::{finish, finish_without_scope, SendFn, Settle, Waiter, WaiterKind};
use super::wire::{self, CallOut, Control, Kind};
use super::{keep, release, Method, WeakScope};

/// What a realm runs when a connection opens.
type ConnectHook = Rc<dyn Fn(&Scope, &ConnectionInfo)>;
/// What a realm runs when a connection is lost.
type DisconnectHook = Rc<dyn Fn(&Scope, &RpcError<super::NoError>)>;

/// The longest wait between two handshake attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

pub(crate) enum Target {
    Window { proxy: WindowProxy, origin: String },
    Worker(Worker),
    Port,
}

impl Target {
    /// Whether a lost connection can be made again (a window or worker handle reaches the
    /// new document or the restarted worker; a port does not).
    fn reconnects(&self) -> bool {
        !matches!(self, Target::Port)
    }
}

struct State {
    table: CallTable<Waiter>,
    port: Option<MessagePort>,
    attempt: u64,
    outbox: BTreeMap<CallId, SendFn>,
    info: Option<ConnectionInfo>,
    on_connect: Vec<ConnectHook>,
    on_disconnect: Vec<DisconnectHook>,
    backoff: Duration,
    retry: Option<TimerId>,
    /// Why the client is closed, once it is.
    closed_by: Option<Failure>,
}

pub(crate) struct ClientInner {
    pub(crate) realm: WeakScope,
    service: String,
    target: Target,
    deadline: Option<Duration>,
    st: RefCell<State>,
    handles: Cell<usize>,
    key: Cell<u64>,
}

/// A connection to a service: make calls and streams with it.
///
/// Cheap to clone (clones share the connection). It belongs to its realm's thread. When
/// the last clone is dropped and no call is pending, the connection is released (its
/// port closes, and the service side lets go of it).
pub struct Client {
    pub(crate) inner: Rc<ClientInner>,
}

impl Clone for Client {
    fn clone(&self) -> Self {
        self.inner.handles.set(self.inner.handles.get() + 1);
        Client {
            inner: self.inner.clone(),
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.inner.handles.set(self.inner.handles.get() - 1);
        self.inner.maybe_release();
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.inner.st.borrow();
        f.debug_struct("Client")
            .field("service", &self.inner.service)
            .field("phase", &st.table.phase())
            .field("pending", &st.table.len())
            .finish()
    }
}

impl Client {
    pub(crate) fn new(
        scope: &Scope,
        service: &str,
        target: Target,
        opts: &ConnectOptions,
    ) -> Client {
        let inner = Rc::new(ClientInner {
            realm: WeakScope::of(scope),
            service: service.to_owned(),
            target,
            deadline: opts.deadline,
            st: RefCell::new(State {
                table: CallTable::new(),
                port: None,
                attempt: 0,
                outbox: BTreeMap::new(),
                info: None,
                on_connect: Vec::new(),
                on_disconnect: Vec::new(),
                backoff: Duration::from_millis(2),
                retry: None,
                closed_by: None,
            }),
            handles: Cell::new(1),
            key: Cell::new(0),
        });
        inner.key.set(keep(scope, inner.clone()));
        Client { inner }
    }

    /// A client that is closed already (its calls end with [`RpcError::Closed`]).
    pub(crate) fn closed(scope: &Scope, service: &str) -> Client {
        let c = Client::new(scope, service, Target::Port, &ConnectOptions::new());
        c.inner.close_with(scope, RpcError::Closed);
        c
    }

    /// Calls `method` with `request`. The call is sent now if connected, else when the
    /// connection opens; it has the client's deadline.
    pub fn call<Req, Resp, E>(
        &self,
        method: &Method<Req, Resp, E>,
        request: Req,
    ) -> PendingCall<Resp, E>
    where
        Req: Serialize + 'static,
        Resp: DeserializeOwned + 'static,
        E: DeserializeOwned + 'static,
    {
        self.call_with(method, request, CallOptions::default())
    }

    /// [`call`](Self::call) with options (a deadline of its own).
    pub fn call_with<Req, Resp, E>(
        &self,
        method: &Method<Req, Resp, E>,
        request: Req,
        options: CallOptions,
    ) -> PendingCall<Resp, E>
    where
        Req: Serialize + 'static,
        Resp: DeserializeOwned + 'static,
        E: DeserializeOwned + 'static,
    {
        let slot = Rc::new(CallSlot::<Resp, E>::default());
        let s = slot.clone();
        let realm = self.inner.realm.clone();
        let settle = Box::new(move |scope: &Scope, settle: Settle<'_>| {
            s.finish(scope, decode_answer::<Resp, E>(settle, &realm));
        });
        let name = method.name();
        let send: SendFn = Box::new(move |port, id| {
            let call = CallOut {
                rpc: Kind::Call,
                id,
                method: name,
                args: &request,
                credit: None,
            };
            wire::post(port, &call)
        });
        let deadline = options.resolve(self.inner.deadline);
        let id = self.inner.start(WaiterKind::Call(settle), deadline, send);
        PendingCall {
            client: self.inner.clone(),
            id,
            slot,
            armed: true,
        }
    }

    /// Starts a stream call (see [`stream`](super::stream)).
    pub(crate) fn start_stream(
        &self,
        state: Rc<StreamState>,
        deadline: Option<Duration>,
        send: SendFn,
    ) -> Option<CallId> {
        self.inner.start(WaiterKind::Stream(state), deadline, send)
    }

    /// The connection's details, once connected (the latest after a reconnection).
    pub fn connection(&self) -> Option<ConnectionInfo> {
        self.inner.st.borrow().info.clone()
    }

    /// Whether the client is connected now.
    pub fn is_connected(&self) -> bool {
        self.inner.st.borrow().table.phase() == Phase::Open
    }

    /// How many calls and streams are pending.
    pub fn pending(&self) -> usize {
        self.inner.st.borrow().table.len()
    }

    /// Runs `listener` each time a connection opens (the first, and each reconnection).
    pub fn on_connect(&self, listener: impl Fn(&Scope, &ConnectionInfo) + 'static) {
        self.inner
            .st
            .borrow_mut()
            .on_connect
            .push(Rc::new(listener));
    }

    /// Runs `listener` each time the connection is lost (before reconnecting, if it does).
    pub fn on_disconnect(&self, listener: impl Fn(&Scope, &RpcError<super::NoError>) + 'static) {
        self.inner
            .st
            .borrow_mut()
            .on_disconnect
            .push(Rc::new(listener));
    }

    /// Closes the connection: every pending call ends with [`RpcError::Closed`], later
    /// calls too, and the port closes (the service side lets go of it).
    pub fn close(&self) {
        if let Some(scope) = self.inner.realm.get() {
            self.inner.close_with(&scope, RpcError::Closed);
        }
    }
}

impl ClientInner {
    /// The key of this client in its realm's registry.
    pub(crate) fn key(&self) -> u64 {
        self.key.get()
    }

    /// The deadline of calls that do not set one.
    pub(crate) fn default_deadline(&self) -> Option<Duration> {
        self.deadline
    }

    /// Registers a call; `None` if it ended at once (closed client, or a request that
    /// could not be serialized).
    fn start(
        self: &Rc<Self>,
        kind: WaiterKind,
        deadline: Option<Duration>,
        send: SendFn,
    ) -> Option<CallId> {
        let waiter = Waiter {
            timer: None,
            deadline,
            kind,
        };
        let Some(scope) = self.realm.get() else {
            finish_without_scope(waiter);
            return None;
        };
        let start = self.st.borrow_mut().table.start(waiter);
        let id = match start {
            Start::Refused(w) => {
                let why = self
                    .st
                    .borrow()
                    .closed_by
                    .clone()
                    .unwrap_or(RpcError::Closed);
                finish(&scope, w, Settle::Failed(why));
                return None;
            }
            Start::Send(id) => id,
            Start::Queued(id) => {
                self.st.borrow_mut().outbox.insert(id, send);
                self.arm(&scope, id);
                return Some(id);
            }
        };
        self.arm(&scope, id);
        let port = self.st.borrow().port.clone();
        if let Some(port) = port {
            if let Err(e) = send(&port, id) {
                self.end(&scope, id, RpcError::Runtime(e));
            }
        }
        Some(id)
    }

    /// Sets (or sets again) the deadline timer of `id`.
    pub(crate) fn arm(self: &Rc<Self>, scope: &Scope, id: CallId) {
        let mut st = self.st.borrow_mut();
        let Some(w) = st.table.get_mut(id) else {
            return;
        };
        if let Some(t) = w.timer.take() {
            scope.clear_timeout(t);
        }
        if let Some(d) = w.deadline {
            let me = Rc::downgrade(self);
            w.timer = Some(scope.set_timeout(d, move |scope: &Scope| {
                if let Some(me) = me.upgrade() {
                    me.timed_out(scope, id, d);
                }
            }));
        }
    }

    fn timed_out(self: &Rc<Self>, scope: &Scope, id: CallId, deadline: Duration) {
        let (waiter, in_flight) = {
            let mut st = self.st.borrow_mut();
            let in_flight = st.table.is_in_flight(id);
            st.outbox.remove(&id);
            (st.table.expire(id), in_flight)
        };
        if let Some(mut w) = waiter {
            w.timer = None;
            if in_flight {
                self.post_control(Control::new(Kind::Cancel, id));
            }
            finish(scope, w, Settle::Failed(RpcError::Timeout { deadline }));
        }
        self.maybe_release();
    }

    /// Cancels `id`: the caller gets [`RpcError::Cancelled`], the service a `cancel`.
    pub(crate) fn cancel(self: &Rc<Self>, id: CallId) {
        let ended = {
            let mut st = self.st.borrow_mut();
            st.outbox.remove(&id);
            st.table.cancel(id)
        };
        if let Some((w, in_flight)) = ended {
            if in_flight {
                self.post_control(Control::new(Kind::Cancel, id));
            }
            match self.realm.get() {
                Some(scope) => finish(&scope, w, Settle::Failed(RpcError::Cancelled)),
                None => finish_without_scope(w),
            }
        }
        self.maybe_release();
    }

    /// Ends `id` with a failure (the service is told if it was in flight).
    pub(crate) fn end(self: &Rc<Self>, scope: &Scope, id: CallId, why: Failure) {
        let ended = {
            let mut st = self.st.borrow_mut();
            st.outbox.remove(&id);
            st.table.cancel(id)
        };
        if let Some((w, in_flight)) = ended {
            if in_flight {
                self.post_control(Control::new(Kind::Cancel, id));
            }
            finish(scope, w, Settle::Failed(why));
        }
        self.maybe_release();
    }

    pub(crate) fn post_control(&self, msg: Control<'_>) {
        let port = self.st.borrow().port.clone();
        if let Some(port) = port {
            if let Err(e) = port.post(&msg) {
                log::debug!(target: "webmessaging::rpc", "control message not sent: {e}");
            }
        }
    }

    /// Opens a connection attempt on `port` (the client's end of a dedicated channel).
    pub(crate) fn listen(self: &Rc<Self>, port: &MessagePort) -> u64 {
        let attempt = {
            let mut st = self.st.borrow_mut();
            st.attempt += 1;
            st.port = Some(port.clone());
            st.attempt
        };
        let me = Rc::downgrade(self);
        port.on_message(move |scope: &Scope, e: &MessageEvent| {
            if let Some(me) = me.upgrade() {
                me.on_message(scope, e, attempt);
            }
        });
        let me = Rc::downgrade(self);
        port.on_close(move |scope: &Scope, _: &MessageEvent| {
            if let Some(me) = me.upgrade() {
                me.on_close(scope, attempt);
            }
        });
        attempt
    }

    /// Posts the handshake's `hello` to the service's window or worker, with a new
    /// channel.
    pub(crate) fn handshake(self: &Rc<Self>, scope: &Scope) {
        if !self.target.reconnects() {
            return;
        }
        // Step 1: a dedicated channel; this side keeps port1.
        let (mine, theirs) = scope.message_channel().into_ports();
        self.listen(&mine);
        // Step 2: hello, with port2, to the service's window (for its origin only) or to
        // the worker (only its creator can post to it).
        let hello = Control {
            service: Some(&self.service),
            v: Some(wire::VERSION),
            ..Control::new(Kind::Hello, 0)
        };
        let posted = match &self.target {
            Target::Window { proxy, origin } => {
                wire::post_to_window(scope, proxy, &hello, origin, &theirs)
            }
            Target::Worker(w) => w.post_with_transfer(&hello, &[theirs.to_value()]),
            Target::Port => Ok(()),
        };
        if let Err(e) = posted {
            // Step 3: a failing post (a bad targetOrigin, a detached window) ends it all.
            self.close_with(scope, RpcError::Runtime(e));
        }
        // Step 4 is the service's: it answers `welcome` (or `refused`) on the port.
    }

    /// Posts `hello` on a port shared already.
    pub(crate) fn hello_on(self: &Rc<Self>, port: &MessagePort) -> Result<()> {
        self.listen(port);
        let hello = Control {
            service: Some(&self.service),
            v: Some(wire::VERSION),
            ..Control::new(Kind::Hello, 0)
        };
        port.post(&hello)
    }

    fn on_message(self: &Rc<Self>, scope: &Scope, event: &MessageEvent, attempt: u64) {
        if self.st.borrow().attempt != attempt {
            return;
        }
        let Some(h) = wire::header(event) else {
            return;
        };
        match h.rpc {
            Kind::Welcome => self.opened(scope, h.instance.unwrap_or_default()),
            Kind::Refused => {
                let reason = h.reason.unwrap_or_else(|| "refused".into());
                self.close_with(scope, RpcError::Refused { reason });
            }
            Kind::Ok | Kind::Err | Kind::Fault | Kind::End => {
                let waiter = self.st.borrow_mut().table.answer(h.id);
                if let Some(w) = waiter {
                    let settle = Settle::Reply {
                        event,
                        kind: h.rpc,
                        fault: h.fault,
                    };
                    finish(scope, w, settle);
                    self.maybe_release();
                }
            }
            Kind::Item => {
                let stream = {
                    let st = self.st.borrow();
                    match st.table.get(h.id) {
                        Some(Waiter {
                            kind: WaiterKind::Stream(s),
                            ..
                        }) if st.table.is_in_flight(h.id) => Some(s.clone()),
                        _ => None,
                    }
                };
                if let Some(s) = stream {
                    match s.item(scope, event, &self.realm) {
                        Ok(grant) => {
                            self.arm(scope, h.id);
                            if let Some(n) = grant {
                                self.post_control(Control {
                                    credit: Some(n),
                                    ..Control::new(Kind::Credit, h.id)
                                });
                            }
                        }
                        Err(why) => self.end(scope, h.id, why),
                    }
                }
            }
            other => {
                log::debug!(target: "webmessaging::rpc", "client dropped a {other:?} message");
            }
        }
    }

    fn opened(self: &Rc<Self>, scope: &Scope, instance: String) {
        let (ids, info, hooks) = {
            let mut st = self.st.borrow_mut();
            if st.table.phase() != Phase::Connecting {
                return;
            }
            let ids = st.table.opened();
            let info = ConnectionInfo {
                instance,
                epoch: st.table.epoch(),
            };
            st.info = Some(info.clone());
            st.backoff = Duration::from_millis(2);
            let sends: Vec<(CallId, SendFn)> = ids
                .into_iter()
                .filter_map(|id| st.outbox.remove(&id).map(|s| (id, s)))
                .collect();
            (sends, info, st.on_connect.clone())
        };
        let port = self.st.borrow().port.clone();
        // The calls made while connecting go out now, in order.
        for (id, send) in ids {
            if let Some(port) = &port {
                if let Err(e) = send(port, id) {
                    self.end(scope, id, RpcError::Runtime(e));
                }
            }
        }
        for h in hooks {
            h(scope, &info);
        }
    }

    fn on_close(self: &Rc<Self>, scope: &Scope, attempt: u64) {
        let phase = {
            let mut st = self.st.borrow_mut();
            if st.attempt != attempt {
                return;
            }
            st.port = None;
            st.table.phase()
        };
        let window = self.target.reconnects();
        match phase {
            Phase::Open => {
                let reconnect = window && self.handles.get() > 0;
                let reason = format!(
                    "the connection to {:?} was lost (its port closed: the other side closed it, crashed, navigated or was restarted)",
                    self.service
                );
                let why = RpcError::Disconnected { reason };
                let (failed, hooks) = {
                    let mut st = self.st.borrow_mut();
                    let failed = st.table.disconnected(reconnect);
                    if !reconnect {
                        st.closed_by = Some(why.clone());
                    }
                    (failed, st.on_disconnect.clone())
                };
                // In-flight calls are rejected, never retried.
                for (_, w) in failed {
                    finish(scope, w, Settle::Failed(why.clone()));
                }
                for h in hooks {
                    h(scope, &why);
                }
                if reconnect {
                    self.handshake(scope);
                }
                self.maybe_release();
            }
            Phase::Connecting if window => {
                // The hello was not taken (the document was not listening yet, or is
                // being replaced): try again a little later.
                let delay = {
                    let mut st = self.st.borrow_mut();
                    let d = st.backoff;
                    st.backoff = (d * 2).min(MAX_BACKOFF);
                    d
                };
                let me = Rc::downgrade(self);
                let t = scope.set_timeout(delay, move |scope: &Scope| {
                    if let Some(me) = me.upgrade() {
                        me.st.borrow_mut().retry = None;
                        if me.st.borrow().table.phase() == Phase::Connecting {
                            me.handshake(scope);
                        }
                    }
                });
                self.st.borrow_mut().retry = Some(t);
            }
            Phase::Connecting => {
                let reason = format!("the port closed before {:?} answered", self.service);
                self.close_with(scope, RpcError::Disconnected { reason });
            }
            Phase::Closed => {}
        }
    }

    /// Closes for good: pending calls end with `why`, later calls too.
    pub(crate) fn close_with(self: &Rc<Self>, scope: &Scope, why: Failure) {
        let (failed, port, retry) = {
            let mut st = self.st.borrow_mut();
            if st.table.phase() == Phase::Closed {
                return;
            }
            st.closed_by = Some(why.clone());
            st.outbox.clear();
            st.attempt += 1;
            (st.table.close(), st.port.take(), st.retry.take())
        };
        if let Some(t) = retry {
            scope.clear_timeout(t);
        }
        if let Some(p) = port {
            p.close();
        }
        for (_, w) in failed {
            finish(scope, w, Settle::Failed(why.clone()));
        }
        release(&self.realm, self.key.get());
    }

    /// Lets go of the connection once nobody holds the client and nothing is pending.
    fn maybe_release(self: &Rc<Self>) {
        if self.handles.get() > 0 || !self.st.borrow().table.is_empty() {
            return;
        }
        if let Some(scope) = self.realm.get() {
            self.close_with(&scope, RpcError::Closed);
        } else {
            release(&self.realm, self.key.get());
        }
    }
}
