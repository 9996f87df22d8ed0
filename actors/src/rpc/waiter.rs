//! What a pending call is waiting with: its timer, and what it resumes when it ends.

use std::rc::Rc;

use webmessaging_core::rpc::CallId;
use webmessaging_core::Result;

use crate::event::MessageEvent;
use crate::kernel::TimerId;
use crate::port::MessagePort;
use crate::scope::Scope;

use super::error::Failure;
use super::stream::StreamState;
use super::wire::{Fault, Kind};

/// What a call resumes when it ends.
type SettleFn = Box<dyn FnOnce(&Scope, Settle<'_>)>;

/// What ends a waiter: an answer message, or a failure.
pub(crate) enum Settle<'a> {
    /// A message for the call (`ok`, `err`, `fault`, `end`).
    Reply {
        event: &'a MessageEvent,
        kind: Kind,
        fault: Option<Fault>,
    },
    /// A failure of the call itself.
    Failed(Failure),
}

/// How a call is posted, once it has an id and a port.
pub(crate) type SendFn = Box<dyn FnOnce(&MessagePort, CallId) -> Result<()>>;

/// What a pending call resumes.
pub(crate) enum WaiterKind {
    Call(SettleFn),
    Stream(Rc<StreamState>),
}

/// A pending call: its deadline, its timer, what it resumes.
pub(crate) struct Waiter {
    pub(crate) timer: Option<TimerId>,
    pub(crate) deadline: Option<std::time::Duration>,
    pub(crate) kind: WaiterKind,
}

/// Ends a waiter: clears its timer and resumes it.
pub(crate) fn finish(scope: &Scope, w: Waiter, settle: Settle<'_>) {
    if let Some(t) = w.timer {
        scope.clear_timeout(t);
    }
    match w.kind {
        WaiterKind::Call(f) => f(scope, settle),
        WaiterKind::Stream(s) => s.end(scope, settle),
    }
}

/// A waiter whose realm is gone: nothing can run; its future (if any) sees the sender
/// dropped.
pub(crate) fn finish_without_scope(w: Waiter) {
    drop(w);
}
