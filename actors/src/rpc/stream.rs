//! Streams: a method that answers with many items, paced by credits.
//!
//! The caller opens a stream with a window of `w` credits (the `credit` of its `call`).
//! The service's [`StreamSink`] posts one `item` per credit and keeps the rest in its own
//! queue; the caller grants more credit (a `credit` message) once it has consumed half its
//! window, or by hand with [`StreamHandle::request`]. So at most `w` items are ever on the
//! way or waiting at the caller, however fast the producer is (the state machines are
//! `webmessaging_core::rpc::credit`, with property tests). The stream ends with `end`, the
//! method's error, a fault, the caller's cancellation, the deadline (which counts from the
//! last item) or the loss of the connection.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use webmessaging_core::rpc::{CallId, CreditReceiver, CreditSender};
use webmessaging_core::{Error, Result};

use crate::event::MessageEvent;
use crate::scope::Scope;

use super::call::fault_to_error;
use super::client::{Client, ClientInner};
use super::error::{Failure, RpcError};
use super::options::CallOptions;
use super::service::Conn;
use super::waiter::Settle;
use super::wire::{self, CallOut, Control, Kind};
use super::{StreamMethod, WeakScope};

/// How a stream is consumed.
#[derive(Debug, Clone, Copy)]
pub struct StreamOptions {
    /// The most items on the way or waiting at once (at least 1; default 16).
    pub window: u32,
    /// Grant credit by hand with [`StreamHandle::request`] instead of as items are
    /// consumed (default false).
    pub manual: bool,
    /// The deadline for the first item, and between two items (default: the client's).
    pub deadline: CallOptions,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            window: 16,
            manual: false,
            deadline: CallOptions::default(),
        }
    }
}

type ItemFn = Box<dyn Fn(&Scope, &MessageEvent, &WeakScope) -> Result<()>>;
type EndFn = Box<dyn FnOnce(&Scope, Settle<'_>)>;

/// The caller's side of one stream.
pub(crate) struct StreamState {
    credit: RefCell<CreditReceiver>,
    manual: bool,
    on_item: ItemFn,
    on_end: RefCell<Option<EndFn>>,
}

impl StreamState {
    /// An item arrived: check its credit, read it, hand it over; returns the credit to
    /// grant now, if any.
    pub(crate) fn item(
        &self,
        scope: &Scope,
        event: &MessageEvent,
        realm: &WeakScope,
    ) -> std::result::Result<Option<u32>, Failure> {
        if self.credit.borrow_mut().received().is_err() {
            return Err(RpcError::Runtime(Error::InvalidState(
                "the service sent a stream item without credit".into(),
            )));
        }
        (self.on_item)(scope, event, realm).map_err(RpcError::Runtime)?;
        if self.manual {
            return Ok(None);
        }
        Ok(self.credit.borrow_mut().consumed())
    }

    /// The stream ended.
    pub(crate) fn end(&self, scope: &Scope, settle: Settle<'_>) {
        let f = self.on_end.borrow_mut().take();
        if let Some(f) = f {
            f(scope, settle);
        }
    }
}

/// A stream being consumed: ask for more items, or cancel it. Dropping the handle does
/// not cancel the stream (its callbacks keep running until it ends).
#[derive(Clone)]
pub struct StreamHandle {
    client: Rc<ClientInner>,
    id: Option<CallId>,
    state: Rc<StreamState>,
}

impl std::fmt::Debug for StreamHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamHandle")
            .field("id", &self.id)
            .finish()
    }
}

impl StreamHandle {
    /// The stream's correlation id (`None` if it ended at once).
    pub fn id(&self) -> Option<CallId> {
        self.id
    }

    /// Grants `n` more items (capped so that at most the window is outstanding); for
    /// streams opened with [`StreamOptions::manual`]. Returns what was granted.
    pub fn request(&self, n: u32) -> u32 {
        let Some(id) = self.id else {
            return 0;
        };
        let n = self.state.credit.borrow_mut().request(n);
        if n > 0 {
            self.client.post_control(Control {
                credit: Some(n),
                ..Control::new(Kind::Credit, id)
            });
        }
        n
    }

    /// Cancels the stream: it ends with [`RpcError::Cancelled`], and the service's sink
    /// stops (its queue is dropped).
    pub fn cancel(&self) {
        if let Some(id) = self.id {
            self.client.cancel(id);
        }
    }
}

impl Client {
    /// Calls a stream method: `on_item` runs for each item, in order, then `on_end` once
    /// with how it ended (`Ok(())` when the service ended it).
    pub fn stream<Req, Item, E>(
        &self,
        method: &StreamMethod<Req, Item, E>,
        request: Req,
        options: StreamOptions,
        on_item: impl Fn(&Scope, Item) + 'static,
        on_end: impl FnOnce(&Scope, std::result::Result<(), RpcError<E>>) + 'static,
    ) -> StreamHandle
    where
        Req: Serialize + 'static,
        Item: DeserializeOwned + 'static,
        E: DeserializeOwned + 'static,
    {
        let window = options.window.max(1);
        let end_realm = self.inner.realm.clone();
        let state = Rc::new(StreamState {
            credit: RefCell::new(CreditReceiver::new(window)),
            manual: options.manual,
            on_item: Box::new(move |scope, event, realm| {
                let item = wire::read_value::<Item>(event, realm)?;
                on_item(scope, item);
                Ok(())
            }),
            on_end: RefCell::new(Some(Box::new(move |scope: &Scope, settle: Settle<'_>| {
                let outcome = match settle {
                    Settle::Failed(f) => Err(f.into_typed()),
                    Settle::Reply {
                        kind: Kind::End, ..
                    } => Ok(()),
                    Settle::Reply {
                        event,
                        kind: Kind::Err,
                        ..
                    } => match wire::read_value::<E>(event, &end_realm) {
                        Ok(e) => Err(RpcError::Method(e)),
                        Err(e) => Err(RpcError::Runtime(e)),
                    },
                    Settle::Reply { kind: Kind::Ok, .. } => Err(RpcError::Runtime(
                        Error::InvalidState("a stream got a single answer".into()),
                    )),
                    Settle::Reply { fault, .. } => Err(fault_to_error(fault).into_typed()),
                };
                on_end(scope, outcome);
            }))),
        });
        let name = method.name();
        let send = Box::new(move |port: &crate::port::MessagePort, id: CallId| {
            wire::post(
                port,
                &CallOut {
                    rpc: Kind::Call,
                    id,
                    method: name,
                    args: &request,
                    credit: Some(window),
                },
            )
        });
        let deadline = options.deadline.resolve(self.inner_deadline());
        let id = self.start_stream(state.clone(), deadline, send);
        StreamHandle {
            client: self.inner.clone(),
            id,
            state,
        }
    }
}

/// What a producer runs when credit arrives.
type CreditHook = Rc<dyn Fn(&Scope)>;

/// What the sink posts later: an item (needs a credit) or the stream's last message.
enum Queued {
    Item(Box<dyn FnOnce(&Conn)>),
    Last(Box<dyn FnOnce(&Conn)>),
}

/// The service's side of one stream (shared by the sink and the connection).
pub(crate) struct SinkShared {
    conn: Weak<Conn>,
    id: CallId,
    credit: RefCell<CreditSender>,
    queue: RefCell<VecDeque<Queued>>,
    done: Cell<bool>,
    cancelled: Cell<bool>,
    on_credit: RefCell<Option<CreditHook>>,
}

impl SinkShared {
    pub(crate) fn new(conn: &Rc<Conn>, id: CallId, credit: u32) -> SinkShared {
        SinkShared {
            conn: Rc::downgrade(conn),
            id,
            credit: RefCell::new(CreditSender::new(credit)),
            queue: RefCell::new(VecDeque::new()),
            done: Cell::new(false),
            cancelled: Cell::new(false),
            on_credit: RefCell::new(None),
        }
    }

    /// The caller granted `n` credits: send what waited, then tell the producer.
    pub(crate) fn grant(&self, scope: &Scope, n: u32) {
        let now = self.credit.borrow_mut().grant(n);
        let conn = self.conn.upgrade();
        for _ in 0..now {
            let next = self.queue.borrow_mut().pop_front();
            if let (Some(Queued::Item(f)), Some(c)) = (next, &conn) {
                f(c);
            }
        }
        self.flush_last();
        let hook = self.on_credit.borrow().clone();
        if let Some(h) = hook {
            if self.credit.borrow().credit() > 0 && !self.done.get() {
                h(scope);
            }
        }
    }

    /// Posts the last message if nothing waits before it.
    fn flush_last(&self) {
        let last = {
            let mut q = self.queue.borrow_mut();
            match q.front() {
                Some(Queued::Last(_)) => q.pop_front(),
                _ => None,
            }
        };
        if let (Some(Queued::Last(f)), Some(c)) = (last, self.conn.upgrade()) {
            c.deactivate(self.id);
            f(&c);
        }
    }

    /// The caller cancelled, or the port closed.
    pub(crate) fn cancelled(&self) {
        self.cancelled.set(true);
        self.done.set(true);
        self.credit.borrow_mut().clear();
        self.queue.borrow_mut().clear();
    }
}

/// Where a stream method sends its items.
///
/// [`send`](Self::send) never blocks: without credit, the item waits in the sink's queue
/// (see [`buffered`](Self::buffered)) until the caller grants more. A producer that wants
/// to make items only when they can go uses [`credit`](Self::credit) and
/// [`on_credit`](Self::on_credit). Dropping the sink without ending it ends the stream with
/// an `AbortError` fault.
pub struct StreamSink<Item, E> {
    shared: Rc<SinkShared>,
    types: std::marker::PhantomData<fn(Item, E)>,
}

impl<Item: Serialize + 'static, E: Serialize + 'static> StreamSink<Item, E> {
    pub(crate) fn new(shared: Rc<SinkShared>) -> Self {
        StreamSink {
            shared,
            types: std::marker::PhantomData,
        }
    }

    /// Sends one item (now if there is credit, else when there is).
    ///
    /// # Errors
    /// `InvalidStateError` once the stream is over (ended, cancelled, or its port closed).
    pub fn send(&self, item: Item) -> Result<()> {
        if self.shared.done.get() {
            return Err(Error::InvalidState("the stream is over".into()));
        }
        let id = self.shared.id;
        let post = move |c: &Conn| c.post_value(Kind::Item, id, &item);
        if self.shared.credit.borrow_mut().offer() {
            if let Some(c) = self.shared.conn.upgrade() {
                post(&c);
            }
        } else {
            self.shared
                .queue
                .borrow_mut()
                .push_back(Queued::Item(Box::new(post)));
        }
        Ok(())
    }

    fn finish(&self, last: Box<dyn FnOnce(&Conn)>) {
        if self.shared.done.replace(true) {
            return;
        }
        self.shared.queue.borrow_mut().push_back(Queued::Last(last));
        self.shared.flush_last();
    }

    /// Ends the stream after the items sent before (the caller's `on_end` gets `Ok`).
    pub fn end(&self) {
        let id = self.shared.id;
        self.finish(Box::new(move |c: &Conn| {
            c.post(&Control::new(Kind::End, id))
        }));
    }

    /// Ends the stream with the method's own error, after the items sent before.
    pub fn fail(&self, error: E) {
        let id = self.shared.id;
        self.finish(Box::new(move |c: &Conn| {
            c.post_value(Kind::Err, id, &error)
        }));
    }

    /// Credit left: how many items can go now.
    pub fn credit(&self) -> u32 {
        self.shared.credit.borrow().credit()
    }

    /// Items waiting for credit in the sink.
    pub fn buffered(&self) -> usize {
        self.shared.credit.borrow().queued()
    }

    /// Whether the caller cancelled the stream or went away.
    pub fn is_cancelled(&self) -> bool {
        self.shared.cancelled.get()
    }

    /// Runs `f` each time the caller grants credit (and some is left), for producers that
    /// make items on demand.
    pub fn on_credit(&self, f: impl Fn(&Scope) + 'static) {
        *self.shared.on_credit.borrow_mut() = Some(Rc::new(f));
    }
}

impl<Item, E> Clone for StreamSink<Item, E> {
    fn clone(&self) -> Self {
        StreamSink {
            shared: self.shared.clone(),
            types: std::marker::PhantomData,
        }
    }
}

impl<Item, E> Drop for StreamSink<Item, E> {
    fn drop(&mut self) {
        // The last sink of an unfinished stream: the caller must not wait for nothing.
        if Rc::strong_count(&self.shared) == 2
            && !self.shared.done.get()
            && !std::thread::panicking()
        {
            let id = self.shared.id;
            self.shared.done.set(true);
            self.shared
                .queue
                .borrow_mut()
                .push_back(Queued::Last(Box::new(move |c: &Conn| {
                    c.fault(id, &Error::Abort("the service dropped the stream".into()));
                })));
            self.shared.flush_last();
        }
    }
}

impl Client {
    fn inner_deadline(&self) -> Option<Duration> {
        self.inner.default_deadline()
    }
}
