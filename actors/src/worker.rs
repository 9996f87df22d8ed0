//! Dedicated workers: `Worker` objects and the worker global scope.
//!
//! Spec: <https://html.spec.whatwg.org/multipage/workers.html#dedicated-workers-and-the-worker-interface>.
//!
//! Each dedicated worker runs on an [`actix::Arbiter`] (a thread) of its own, as its own
//! agent with its own event loop. The [`Worker`] object lives in the realm that created it;
//! messages between the two carry origin `""` and no source, in both directions.
//! `terminate()` discards every task not yet run, at once; a worker that calls `close()`
//! on itself discards its queued tasks too. Either way its ports close (peers get
//! `close`) and its broadcast channels close.

use std::fmt;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use serde::de::DeserializeOwned;
use serde::Serialize;
use url::Url;
use webmessaging_core::clone::{self, SerializedWithTransfer};
use webmessaging_core::origin::Origin;
use webmessaging_core::serde_bridge::to_record;
use webmessaging_core::value::Value;
use webmessaging_core::{Error, Result};

use crate::event::{self, EventType, ListenerId, ListenerOutput, Listeners, MessageEvent};
use crate::kernel::metrics::refused_by_loop_bound;
use crate::kernel::trace;
use crate::realm::RealmInner;
use crate::realm_actor::{RealmAddr, RealmMessage};
use crate::runtime::{Runtime, Script};
use crate::scope::Scope;
use crate::shared_worker::SharedGlobal;
use crate::supervision::RestartPolicy;

/// Identifies a dedicated worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkerId(pub u64);

const RUNNING: u8 = 0;
const CLOSING: u8 = 1;
const TERMINATED: u8 = 2;

/// What kind of worker a [`WorkerShared`] is, with what that kind needs.
pub(crate) enum WorkerFlavor {
    /// A dedicated worker, reached through one `Worker` object in its creator's realm.
    Dedicated {
        /// The creator's realm shell.
        parent: RealmAddr,
        /// The creator's document, when the worker was created.
        parent_document: u64,
    },
    /// A shared worker (see [`crate::shared_worker`]).
    Shared(SharedGlobal),
}

/// State shared by a worker's global scope (on the worker's thread) and its `Worker`
/// object (in the creator's realm).
pub(crate) struct WorkerShared {
    pub(crate) id: WorkerId,
    pub(crate) name: String,
    pub(crate) browser: Runtime,
    pub(crate) url: Url,
    pub(crate) origin: Origin,
    pub(crate) script: Option<Script>,
    pub(crate) addr: OnceLock<RealmAddr>,
    /// Dedicated (its creator) or shared (its key and owner set).
    pub(crate) flavor: WorkerFlavor,
    state: AtomicU8,
    pub(crate) policy: Mutex<RestartPolicy>,
}

impl WorkerShared {
    /// A running worker, not started yet: its script at `url` runs with `origin`.
    pub(crate) fn new(
        id: WorkerId,
        name: String,
        browser: Runtime,
        (url, origin, script): (Url, Origin, Option<Script>),
        flavor: WorkerFlavor,
    ) -> WorkerShared {
        WorkerShared {
            id,
            name,
            browser,
            url,
            origin,
            script,
            addr: OnceLock::new(),
            flavor,
            state: AtomicU8::new(RUNNING),
            policy: Mutex::new(RestartPolicy::default()),
        }
    }

    /// Closing (it called `close()`) or terminated: runs no more tasks.
    pub(crate) fn is_stopped(&self) -> bool {
        self.state.load(Ordering::Acquire) != RUNNING
    }

    pub(crate) fn is_terminated(&self) -> bool {
        self.state.load(Ordering::Acquire) == TERMINATED
    }

    pub(crate) fn mark_terminated(&self) {
        self.state.store(TERMINATED, Ordering::Release);
    }

    /// Marks the worker terminated unless it closed itself (then it stays closing: what it
    /// posted before its teardown is still delivered).
    pub(crate) fn mark_destroyed(&self) {
        let _ =
            self.state
                .compare_exchange(RUNNING, TERMINATED, Ordering::AcqRel, Ordering::Acquire);
    }

    /// The worker's own `postMessage`: a task on its `Worker` object's realm.
    ///
    /// After `close()` the worker's posts still go out (its closing flag discards the
    /// tasks queued *for* it, not what it sends; WPT `WorkerGlobalScope-close.js`: "close();
    /// postMessage(...)" is delivered); after `terminate()` nothing does.
    ///
    /// A shared worker has no `postMessage` of its own: it talks over the ports its
    /// `connect` events bring (`NotSupportedError` here).
    pub(crate) fn post_to_parent(&self, data: SerializedWithTransfer) -> Result<()> {
        let WorkerFlavor::Dedicated {
            parent,
            parent_document,
        } = &self.flavor
        else {
            return self.can_post();
        };
        if self.is_terminated() {
            return Ok(());
        }
        trace::worker_posted(&self.name, None, false);
        let bound = self.browser.loop_bound();
        let msg = RealmMessage::FromWorker {
            worker: self.id.0,
            document: *parent_document,
            data: Box::new(data),
        };
        if parent.try_send_posted(msg, bound).is_err() {
            refused_by_loop_bound(&self.name, "message from the worker");
        }
        Ok(())
    }

    /// Whether the global has a `postMessage` (a dedicated worker's): `NotSupportedError`
    /// for a shared worker's.
    pub(crate) fn can_post(&self) -> Result<()> {
        match self.flavor {
            WorkerFlavor::Dedicated { .. } => Ok(()),
            WorkerFlavor::Shared(_) => Err(Error::NotSupported(
                "a SharedWorkerGlobalScope has no postMessage: post on a connected port".into(),
            )),
        }
    }

    /// Whether the worker's origin differs from its creator's: a `data:` worker's is
    /// opaque.
    pub(crate) fn is_cross_origin(&self) -> bool {
        self.url.scheme() == "data"
    }

    /// The rate limiter's key for messages between this worker and its creator.
    pub(crate) fn limit_key(&self) -> u64 {
        self.id.0 | (1 << 62)
    }

    /// The shared worker's part, if this is one.
    pub(crate) fn shared_global(&self) -> Option<&SharedGlobal> {
        match &self.flavor {
            WorkerFlavor::Shared(g) => Some(g),
            WorkerFlavor::Dedicated { .. } => None,
        }
    }

    /// The realm that supervises this worker: a dedicated worker's creator (a shared
    /// worker has none; the runtime's root decides for it).
    pub(crate) fn supervisor_addr(&self) -> Option<&RealmAddr> {
        match &self.flavor {
            WorkerFlavor::Dedicated { parent, .. } => Some(parent),
            WorkerFlavor::Shared(_) => None,
        }
    }

    /// `close()` in the worker: discard queued tasks, then tear down.
    pub(crate) fn close_self(&self) {
        self.begin_closing();
    }

    /// Sets the closing flag (queued tasks are discarded) and queues the teardown;
    /// false if the worker was closing or terminated already.
    pub(crate) fn begin_closing(&self) -> bool {
        let now = self
            .state
            .compare_exchange(RUNNING, CLOSING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if now {
            if let Some(a) = self.addr.get() {
                a.do_send(RealmMessage::Destroy);
            }
        }
        now
    }

    /// Fires `error` at the `Worker` object (an error a listener of the worker returned,
    /// or its crash). A shared worker's script errors stay in the worker (the standard
    /// reports them to no `SharedWorker` object); see [`Self::report_crash`].
    pub(crate) fn report_error_to_parent(&self, message: &str) {
        if let WorkerFlavor::Dedicated {
            parent,
            parent_document,
        } = &self.flavor
        {
            parent.do_send(RealmMessage::WorkerError {
                worker: self.id.0,
                document: *parent_document,
                message: message.into(),
            });
        }
    }

    /// The worker crashed: `error` at its `Worker` object, or at every `SharedWorker`
    /// object connected to it.
    pub(crate) fn report_crash(&self, message: &str) {
        match &self.flavor {
            WorkerFlavor::Dedicated { .. } => self.report_error_to_parent(message),
            WorkerFlavor::Shared(g) => g.report_error(message),
        }
    }

    pub(crate) fn restart_policy(&self) -> RestartPolicy {
        *self.policy.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub(crate) struct WorkerObject {
    pub(crate) id: WorkerId,
    pub(crate) shared: Arc<WorkerShared>,
    pub(crate) listeners: Listeners,
    pub(crate) realm: Weak<RealmInner>,
}

impl WorkerObject {
    /// `worker.terminate()`: no task the worker has not run yet will run.
    pub(crate) fn terminate(&self) {
        let was = self.shared.state.swap(TERMINATED, Ordering::AcqRel);
        if was != TERMINATED {
            if let Some(a) = self.shared.addr.get() {
                a.do_send(RealmMessage::Destroy);
            }
        }
    }
}

/// A `Worker` object: the creator's handle on a dedicated worker.
///
/// Not `Send`: it belongs to the realm that created the worker. The worker stays alive
/// until it is terminated, closes itself, or its creator's document goes away.
///
/// A dedicated worker that echoes numbers back, doubled:
///
/// ```
/// use std::time::Duration;
/// use webmessaging::prelude::*;
///
/// # #[actix_rt::main]
/// # async fn main() -> webmessaging::Result<()> {
/// let browser = Browser::new();
/// let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(u32, String)>();
/// let _page = browser.open_with("https://app.example/", move |scope: &Scope| -> webmessaging::Result<()> {
///     let worker = scope.spawn_worker_with("https://app.example/double.js", |w: &Scope| {
///         w.on_message_as(|w: &Scope, _: &MessageEvent, n: u32| w.post(&(n * 2)));
///     })?;
///     let tx = tx.clone();
///     worker.on_message(move |_: &Scope, e: &MessageEvent| {
///         let _ = tx.send((e.data_as::<u32>().unwrap_or(0), e.origin().to_owned()));
///     });
///     worker.post(&21u32)
/// })?;
/// let answer = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
/// // Messages between a worker and its creator carry origin "".
/// assert_eq!(answer.ok().flatten(), Some((42, String::new())));
/// browser.shutdown();
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Worker(pub(crate) Rc<WorkerObject>);

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Worker({} {})", self.0.id.0, self.0.shared.url)
    }
}

impl Worker {
    pub(crate) fn spawn(
        creator: &Rc<RealmInner>,
        url: Url,
        script: Option<Script>,
    ) -> Result<Worker> {
        if !creator.is_alive() {
            return Err(Error::InvalidState(
                "the creator is not fully active".into(),
            ));
        }
        let origin = match url.scheme() {
            "data" => Origin::new_opaque(),
            _ => creator.origin.clone(),
        };
        let id = WorkerId(creator.browser.next_id());
        let shared = Arc::new(WorkerShared::new(
            id,
            format!("worker{}({})", id.0, url),
            creator.browser.clone(),
            (url, origin, script),
            WorkerFlavor::Dedicated {
                parent: creator.addr.clone(),
                parent_document: creator.document,
            },
        ));
        trace::worker_spawned(&shared.name, &creator.name);
        crate::realm_actor::start_worker(shared.clone());
        let obj = Rc::new(WorkerObject {
            id,
            shared,
            listeners: Listeners::default(),
            realm: Rc::downgrade(creator),
        });
        creator.add_worker(id.0, obj.clone());
        Ok(Worker(obj))
    }

    /// The worker's id.
    pub fn id(&self) -> WorkerId {
        self.0.id
    }

    /// The message tasks waiting in the worker's event loop now, the most that waited at
    /// once, and how many
    /// [`Limits::max_queued_per_event_loop`](crate::Limits::max_queued_per_event_loop)
    /// refused (all zero before the worker's loop started).
    pub fn event_loop_load(&self) -> crate::kernel::metrics::LoadSnapshot {
        self.0
            .shared
            .addr
            .get()
            .map(|a| a.load().snapshot())
            .unwrap_or_default()
    }

    /// The worker's script URL.
    pub fn url(&self) -> &Url {
        &self.0.shared.url
    }

    /// Whether `terminate()` was called (or the worker closed itself or crashed and was
    /// stopped).
    pub fn is_terminated(&self) -> bool {
        self.0.shared.is_stopped()
    }

    fn send(&self, data: SerializedWithTransfer) {
        if self.0.shared.is_stopped() {
            return;
        }
        // The runtime's rate limit: a `data:` worker's origin differs from its creator's.
        if let Some(r) = self.0.realm.upgrade() {
            if !r.admit(
                self.0.shared.limit_key(),
                self.0.shared.is_cross_origin(),
                "message to a worker",
            ) {
                return;
            }
        }
        if trace::is_enabled() {
            let creator = self.0.realm.upgrade().map(|r| r.name.to_string());
            trace::worker_posted(&self.0.shared.name, creator.as_deref(), true);
        }
        if let Some(a) = self.0.shared.addr.get() {
            let bound = self.0.shared.browser.loop_bound();
            let msg = RealmMessage::ToWorkerGlobal {
                data: Box::new(data),
            };
            if a.try_send_posted(msg, bound).is_err() {
                refused_by_loop_bound(&self.0.shared.name, "message to the worker");
            }
        }
    }

    /// `worker.postMessage(message, transfer)`.
    pub fn post_message(&self, message: &Value, transfer: &[Value]) -> Result<()> {
        let data = clone::structured_serialize_with_transfer(message, transfer)?;
        self.send(data);
        Ok(())
    }

    /// `worker.postMessage(message, { transfer })`.
    pub fn post_message_with_options(
        &self,
        message: &Value,
        options: &crate::port::StructuredSerializeOptions,
    ) -> Result<()> {
        self.post_message(message, &options.transfer)
    }

    /// Posts any `T: Serialize` to the worker.
    pub fn post<T: Serialize + ?Sized>(&self, data: &T) -> Result<()> {
        let data = SerializedWithTransfer {
            record: to_record(data)?,
            transfer: clone::TransferData::empty(),
        };
        self.send(data);
        Ok(())
    }

    /// Posts any `T: Serialize` with a transfer list.
    pub fn post_with_transfer<T: Serialize + ?Sized>(
        &self,
        data: &T,
        transfer: &[Value],
    ) -> Result<()> {
        let data = clone::serialize_transfer_only(to_record(data)?, transfer)?;
        self.send(data);
        Ok(())
    }

    /// `worker.terminate()`: the worker stops at once; messages it has not dispatched yet
    /// are dropped, its ports close and its channels close.
    pub fn terminate(&self) {
        self.0.terminate();
        if let Some(realm) = self.0.realm.upgrade() {
            let removed = realm.remove_worker(self.0.id.0);
            drop(removed);
        }
    }

    /// Sets what happens when the worker's realm crashes (default: `Reload`, the same
    /// script again on the same thread; see [`crate::supervision`]).
    pub fn set_restart_policy(&self, policy: RestartPolicy) {
        *self
            .0
            .shared
            .policy
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = policy;
    }

    /// `worker.addEventListener(type, listener)`.
    pub fn add_event_listener<F, R>(&self, event_type: EventType, listener: F) -> ListenerId
    where
        F: Fn(&Scope, &MessageEvent) -> R + 'static,
        R: ListenerOutput,
    {
        self.0
            .listeners
            .add(event_type, event::untyped(listener), true)
    }

    /// `worker.removeEventListener(...)`.
    pub fn remove_event_listener(&self, id: ListenerId) -> bool {
        self.0.listeners.remove(id)
    }

    /// `worker.onmessage = listener`.
    pub fn on_message<F, R>(&self, listener: F)
    where
        F: Fn(&Scope, &MessageEvent) -> R + 'static,
        R: ListenerOutput,
    {
        self.0
            .listeners
            .set_handler(EventType::Message, Some((event::untyped(listener), true)));
    }

    /// `worker.onmessage` reading `event.data` as a `T` (`messageerror` when it does not
    /// deserialize).
    pub fn on_message_as<T, F, R>(&self, listener: F)
    where
        T: DeserializeOwned,
        F: Fn(&Scope, &MessageEvent, T) -> R + 'static,
        R: ListenerOutput,
    {
        self.0
            .listeners
            .set_handler(EventType::Message, Some((event::typed(listener), false)));
    }

    /// `worker.onmessageerror = listener`.
    pub fn on_message_error<F, R>(&self, listener: F)
    where
        F: Fn(&Scope, &MessageEvent) -> R + 'static,
        R: ListenerOutput,
    {
        self.0.listeners.set_handler(
            EventType::MessageError,
            Some((event::untyped(listener), false)),
        );
    }

    /// `worker.onerror = listener`: errors the worker's listeners returned, and its crash.
    pub fn on_error<F, R>(&self, listener: F)
    where
        F: Fn(&Scope, &MessageEvent) -> R + 'static,
        R: ListenerOutput,
    {
        self.0
            .listeners
            .set_handler(EventType::Error, Some((event::untyped(listener), false)));
    }
}
