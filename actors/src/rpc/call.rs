//! One call in progress: [`PendingCall`], and [`CallFuture`] to await it elsewhere.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use serde::de::DeserializeOwned;
use tokio::sync::oneshot;
use webmessaging_core::rpc::CallId;
use webmessaging_core::Error;

use crate::browser::WindowHandle;
use crate::scope::Scope;

use super::client::ClientInner;
use super::error::{Failure, RpcError};
use super::waiter::Settle;
use super::wire::{self, Fault, Kind};
use super::WeakScope;

/// Reads an answer as the method's types.
pub(crate) fn decode_answer<R: DeserializeOwned, E: DeserializeOwned>(
    settle: Settle<'_>,
    realm: &WeakScope,
) -> std::result::Result<R, RpcError<E>> {
    match settle {
        Settle::Failed(f) => Err(f.into_typed()),
        Settle::Reply { event, kind, fault } => match kind {
            Kind::Ok => wire::read_value::<R>(event, realm).map_err(RpcError::Runtime),
            Kind::Err => match wire::read_value::<E>(event, realm) {
                Ok(e) => Err(RpcError::Method(e)),
                Err(e) => Err(RpcError::Runtime(e)),
            },
            _ => Err(fault_to_error(fault).into_typed()),
        },
    }
}

/// A `fault` message as the failure it names.
pub(crate) fn fault_to_error(fault: Option<Fault>) -> Failure {
    let Some(f) = fault else {
        return RpcError::Runtime(Error::data_clone("a fault without details"));
    };
    let e = f.into_error();
    match e {
        Error::NotFound(m) => RpcError::NoSuchMethod { method: m },
        other => RpcError::Runtime(other),
    }
}

/// How a call ended, as its method's types.
pub(crate) type Outcome<R, E> = std::result::Result<R, RpcError<E>>;

/// What runs when a call ends.
type ThenFn<R, E> = Box<dyn FnOnce(&Scope, Outcome<R, E>)>;

/// Where a call's outcome goes: a callback, a future's channel, or kept until asked.
pub(crate) struct CallSlot<R, E> {
    outcome: RefCell<Option<Outcome<R, E>>>,
    then: RefCell<Option<ThenFn<R, E>>>,
    sender: RefCell<Option<oneshot::Sender<Outcome<R, E>>>>,
    detached: Cell<bool>,
}

impl<R, E> Default for CallSlot<R, E> {
    fn default() -> Self {
        CallSlot {
            outcome: RefCell::new(None),
            then: RefCell::new(None),
            sender: RefCell::new(None),
            detached: Cell::new(false),
        }
    }
}

impl<R, E> CallSlot<R, E> {
    pub(crate) fn finish(&self, scope: &Scope, outcome: Outcome<R, E>) {
        let then = self.then.borrow_mut().take();
        if let Some(f) = then {
            return f(scope, outcome);
        }
        let sender = self.sender.borrow_mut().take();
        if let Some(tx) = sender {
            let _ = tx.send(outcome);
            return;
        }
        if !self.detached.get() {
            *self.outcome.borrow_mut() = Some(outcome);
        }
    }
}

/// A call in progress.
///
/// Attach what happens next with [`then`](Self::then) (in the realm) or
/// [`into_future`](Self::into_future) (from anywhere), or let it go on unattended with
/// [`detach`](Self::detach). Dropping it without any of these cancels the call
/// ([`RpcError::Cancelled`]), as dropping a Rust future does.
#[must_use = "dropping a PendingCall cancels the call"]
pub struct PendingCall<R, E> {
    pub(crate) client: Rc<ClientInner>,
    pub(crate) id: Option<CallId>,
    pub(crate) slot: Rc<CallSlot<R, E>>,
    pub(crate) armed: bool,
}

impl<R: 'static, E: 'static> PendingCall<R, E> {
    /// The call's correlation id (`None` if it ended before it got one: a closed client).
    pub fn id(&self) -> Option<CallId> {
        self.id
    }

    /// Runs `f` in this realm when the call ends (as part of the task that ends it; at
    /// the next microtask checkpoint if it has ended already).
    pub fn then(mut self, f: impl FnOnce(&Scope, Outcome<R, E>) + 'static) {
        self.armed = false;
        let ready = self.slot.outcome.borrow_mut().take();
        match ready {
            Some(outcome) => {
                if let Some(scope) = self.client.realm.get() {
                    scope.queue_microtask(move |scope: &Scope| f(scope, outcome));
                }
            }
            None => *self.slot.then.borrow_mut() = Some(Box::new(f)),
        }
    }

    /// Lets the call go on; its outcome is dropped.
    pub fn detach(mut self) {
        self.armed = false;
        self.slot.detached.set(true);
    }

    /// Cancels the call: it ends with [`RpcError::Cancelled`] (unless it has ended
    /// already) and the service is told, so it drops its answer.
    pub fn cancel(mut self) {
        self.armed = false;
        self.slot.detached.set(true);
        if let Some(id) = self.id {
            self.client.cancel(id);
        }
    }

    /// The call as a future that can be awaited anywhere (it is `Send` when `R` and `E`
    /// are). Dropping it before it is ready cancels the call when the calling realm is a
    /// window (a task is queued there to cancel it, the service is told); in a worker the
    /// call then goes on, and ends by its answer, deadline or the connection's loss.
    pub fn into_future(mut self) -> CallFuture<R, E> {
        self.armed = false;
        let (tx, rx) = oneshot::channel();
        let ready = self.slot.outcome.borrow_mut().take();
        match ready {
            Some(outcome) => {
                let _ = tx.send(outcome);
            }
            None => *self.slot.sender.borrow_mut() = Some(tx),
        }
        // Step 1: how the future, dropped on any thread, reaches this realm: a task run in
        // this window's current realm (a worker has no such handle).
        let cancel = match (self.id, self.client.realm.get()) {
            (Some(id), Some(scope)) => scope.window().map(|w| CancelOnDrop {
                window: scope.browser().handle(&w),
                key: self.client.key(),
                id,
            }),
            _ => None,
        };
        CallFuture {
            rx,
            cancel,
            done: false,
        }
    }
}

impl<R, E> Drop for PendingCall<R, E> {
    fn drop(&mut self) {
        if self.armed {
            self.slot.detached.set(true);
            if let Some(id) = self.id {
                self.client.cancel(id);
            }
        }
    }
}

/// A call's outcome, awaitable from any thread ([`PendingCall::into_future`]).
pub struct CallFuture<R, E> {
    rx: oneshot::Receiver<Outcome<R, E>>,
    cancel: Option<CancelOnDrop>,
    done: bool,
}

/// What a dropped [`CallFuture`] needs to cancel its call.
struct CancelOnDrop {
    window: WindowHandle,
    key: u64,
    id: CallId,
}

impl<R, E> Future for CallFuture<R, E> {
    type Output = Outcome<R, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let polled = Pin::new(&mut self.rx).poll(cx);
        if polled.is_ready() {
            self.done = true;
        }
        polled.map(|r| {
            r.unwrap_or_else(|_| {
                Err(RpcError::Disconnected {
                    reason: "the calling realm went away".into(),
                })
            })
        })
    }
}

impl<R, E> Drop for CallFuture<R, E> {
    fn drop(&mut self) {
        let Some(c) = self.cancel.take() else {
            return;
        };
        if self.done {
            return;
        }
        // Step 2: a task in the calling window's current realm cancels the call, if that
        // realm is still the one that made it (its registry has the client).
        let (key, id) = (c.key, c.id);
        let task = c.window.run(move |scope: &Scope| {
            if let Some(client) = super::lookup(scope, key) {
                if let Ok(client) = client.downcast::<ClientInner>() {
                    client.cancel(id);
                }
            }
        });
        // `run` queues its task when first polled; its answer is not waited for.
        poll_once(task);
    }
}

/// Polls `f` once, with a waker that does nothing.
fn poll_once<F: Future>(f: F) {
    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: std::sync::Arc<Self>) {}
    }
    let waker = Waker::from(std::sync::Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    let _ = f.as_mut().poll(&mut cx);
}
