//! Shared workers: `SharedWorker` objects, the shared worker manager, owner sets and the
//! `connect` event.
//!
//! Spec: <https://html.spec.whatwg.org/multipage/workers.html#shared-workers-and-the-sharedworker-interface>.
//!
//! One shared worker global exists per *(constructor origin, constructor URL, name)* in
//! a runtime, on an event loop (a thread) of its own, started by the first constructor
//! that names it. Every `new SharedWorker(url, name)` gets a new [`MessagePort`]
//! ([`SharedWorker::port`]); its twin arrives in the worker as the `connect` event
//! (`event.ports[0]`, `event.source` that same port, `data ""`, `origin ""`), a task on
//! the worker's DOM manipulation task source queued after the worker's script ran, so a
//! listener the script set with [`Scope::on_connect`] sees the first one.
//!
//! What the standard fixes and this module keeps:
//! - *Matching* (the constructor's step 8.2): an existing global is reused when its
//!   constructor origin is same origin with the constructor's, its constructor URL
//!   equals the parsed URL, its name equals the name, and it is not closing. So a second
//!   name gets a second worker, and so does a second URL under one name (the current
//!   standard keys on the URL; the old `URLMismatchError` is gone). Another origin never
//!   reaches the worker, whatever URL it names. The same `data:` URL reaches one worker
//!   from one origin (the worker's own origin is opaque), never across origins.
//! - *Options mismatch* (step 8.3): a match whose `type` or `credentials` differ fires
//!   `error` at the new `SharedWorker` (a DOM manipulation task), and its port is never
//!   entangled with anything.
//! - *Fetch*: a worker script is fetched with mode `same-origin`, so a URL of another
//!   origin (not `data:`) fails: `error` at the `SharedWorker`, no worker. The URL is
//!   parsed relative to the constructor's URL; failure is a `SyntaxError`, thrown.
//! - *Owner set and lifetime*: the document (or worker global) that constructed it joins
//!   the worker's owner set. The worker lives while its owner set is not empty; when the
//!   last owner goes away (closed, navigated, crashed, removed, terminated) its closing
//!   flag is set at once (no "between-loads" grace period here) and it is torn down: its
//!   ports close and their peers get `close`. A constructor after that starts a fresh
//!   global. `close()` inside the worker does the same.
//!
//! Beyond the standard, as for dedicated workers (see [`crate::supervision`]): a panic
//! in the worker is a crash. It fires `error` at every `SharedWorker` object connected
//! to it; its ports close (every client's port gets `close`); then its restart policy
//! ([`SharedWorker::set_restart_policy`], one per global: the last set wins) decides, with
//! the runtime's root as its supervisor, as for a top-level window: `Reload` (default)
//! runs the script again in a new global on the same thread (clients connect again with a
//! new constructor), `Stop` and `Escalate` stop it.

use std::fmt;
use std::rc::{Rc, Weak};
use std::sync::{Arc, Mutex};

use url::Url;
use webmessaging_core::clone;
use webmessaging_core::origin::Origin;
use webmessaging_core::value::Value;
use webmessaging_core::{Error, Result};

use crate::event::{self, EventType, ListenerId, ListenerOutput, Listeners, MessageEvent};
use crate::kernel::trace;
use crate::port::MessagePort;
use crate::realm::RealmInner;
use crate::realm_actor::{RealmAddr, RealmMessage};
use crate::runtime::{Runtime, Script};
use crate::scope::Scope;
use crate::supervision::RestartPolicy;
use crate::worker::{WorkerFlavor, WorkerId, WorkerShared};

/// `WorkerOptions.type`: how the worker's script is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WorkerType {
    /// `"classic"` (the default).
    #[default]
    Classic,
    /// `"module"`.
    Module,
}

/// `WorkerOptions.credentials`: the credentials mode of the script fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WorkerCredentials {
    /// `"omit"`.
    Omit,
    /// `"same-origin"` (the default).
    #[default]
    SameOrigin,
    /// `"include"`.
    Include,
}

/// Options of [`SharedWorker::with_options`] (`WorkerOptions`, and the script to run).
#[derive(Clone, Default)]
pub struct SharedWorkerOptions {
    /// `name` (default `""`): part of what the worker is matched on.
    pub name: String,
    /// `type`: a match with another type fires `error` at the new object.
    pub worker_type: WorkerType,
    /// `credentials`: a match with other credentials fires `error` at the new object.
    pub credentials: WorkerCredentials,
    /// The worker's script when this constructor starts it; when `None`, the script the
    /// `Browser` routes for the URL (if any). Ignored when the worker runs already.
    pub script: Option<Script>,
}

impl SharedWorkerOptions {
    /// Options with this `name` and the defaults otherwise.
    pub fn named(name: &str) -> SharedWorkerOptions {
        SharedWorkerOptions {
            name: name.to_owned(),
            ..SharedWorkerOptions::default()
        }
    }
}

/// What the shared worker manager matches a constructor on.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct SharedWorkerKey {
    constructor_origin: Origin,
    url: Url,
    name: String,
}

/// A member of a worker's owner set: one document (or worker global), with the
/// `SharedWorker` objects it made for this worker.
struct Owner {
    /// The owner realm's token ([`RealmInner::owner_token`]).
    token: u64,
    addr: RealmAddr,
    document: u64,
    objects: Vec<u64>,
}

/// The shared worker's part of its [`WorkerShared`].
pub(crate) struct SharedGlobal {
    key: SharedWorkerKey,
    worker_type: WorkerType,
    credentials: WorkerCredentials,
    /// The owner set, in the order the owners joined.
    owners: Mutex<Vec<Owner>>,
}

impl SharedGlobal {
    fn owners(&self) -> std::sync::MutexGuard<'_, Vec<Owner>> {
        self.owners.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The `name` the worker was created with.
    pub(crate) fn name(&self) -> &str {
        &self.key.name
    }

    /// Fires `error` (a DOM manipulation task) at every `SharedWorker` object connected
    /// to the worker.
    pub(crate) fn report_error(&self, message: &str) {
        for o in self.owners().iter() {
            for &object in &o.objects {
                o.addr.do_send(RealmMessage::WorkerError {
                    worker: object,
                    document: o.document,
                    message: message.into(),
                });
            }
        }
    }
}

/// Forgets `worker` in the manager (it closed, crashed and stopped, or was terminated):
/// the next constructor naming it starts a fresh global.
pub(crate) fn forget(worker: &Arc<WorkerShared>) {
    let Some(g) = worker.shared_global() else {
        return;
    };
    let mut registry = worker.browser.shared_workers();
    if registry.get(&g.key).is_some_and(|w| Arc::ptr_eq(w, worker)) {
        registry.remove(&g.key);
    }
}

/// Owner `token` went away (its document is torn down): it leaves the owner set of each
/// of `workers`; a worker whose owner set is now empty closes.
pub(crate) fn owner_gone(browser: &Runtime, token: u64, workers: &[Arc<WorkerShared>]) {
    let mut registry = browser.shared_workers();
    for w in workers {
        let Some(g) = w.shared_global() else { continue };
        let mut owners = g.owners();
        owners.retain(|o| o.token != token);
        if owners.is_empty() && w.begin_closing() {
            drop(owners);
            log::debug!(target: "webmessaging::worker", "{}: closing: its last owner went away", w.name);
            if registry.get(&g.key).is_some_and(|x| Arc::ptr_eq(x, w)) {
                registry.remove(&g.key);
            }
        }
    }
}

/// Every shared worker of `browser` closes (the runtime shuts down).
pub(crate) fn close_all(browser: &Runtime) {
    let workers: Vec<Arc<WorkerShared>> =
        browser.shared_workers().drain().map(|(_, w)| w).collect();
    for w in workers {
        w.begin_closing();
    }
}

/// A live shared worker, as [`Browser::shared_workers`](crate::Browser::shared_workers)
/// lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedWorkerInfo {
    /// The worker global's id (shared by every `SharedWorker` object connected to it).
    pub id: WorkerId,
    /// Its constructor URL.
    pub url: String,
    /// Its name.
    pub name: String,
    /// The serialized origin of the constructors that reach it.
    pub constructor_origin: String,
    /// How many documents (or workers) hold it: its owner set's size.
    pub owners: usize,
}

/// The live shared workers of `browser`, by id.
pub(crate) fn list(browser: &Runtime) -> Vec<SharedWorkerInfo> {
    let mut v: Vec<SharedWorkerInfo> = browser
        .shared_workers()
        .values()
        .filter(|w| !w.is_stopped())
        .filter_map(|w| {
            let g = w.shared_global()?;
            Some(SharedWorkerInfo {
                id: w.id,
                url: g.key.url.to_string(),
                name: g.key.name.clone(),
                constructor_origin: g.key.constructor_origin.serialize().to_owned(),
                owners: g.owners().len(),
            })
        })
        .collect();
    v.sort_by_key(|i| i.id);
    v
}

pub(crate) struct SharedWorkerObject {
    /// This object's id (distinct from its worker's: several objects share a worker).
    pub(crate) id: u64,
    /// The worker this object is connected to (`None` when the constructor failed
    /// asynchronously: a script of another origin, or mismatched options).
    pub(crate) worker: Option<Arc<WorkerShared>>,
    port: MessagePort,
    /// The twin of `port` when no worker took it (an unconnected port stays quiet).
    _unconnected: Option<MessagePort>,
    url: Url,
    pub(crate) listeners: Listeners,
    realm: Weak<RealmInner>,
}

/// A `SharedWorker` object: one connection to a shared worker global.
///
/// Not `Send`: it belongs to the realm that constructed it. Talk to the worker over
/// [`port`](Self::port) (start it, or set `on_message`, as for any port).
///
/// Two pages of one origin share a counter held by one shared worker:
///
/// ```
/// use std::time::Duration;
/// use webmessaging::prelude::*;
/// use webmessaging::SharedWorker;
///
/// # #[actix_rt::main]
/// # async fn main() -> webmessaging::Result<()> {
/// let browser = Browser::new();
/// browser.route("https://app.example/counter.js", |w: &Scope| {
///     let count = w.set_global(std::cell::Cell::new(0u32));
///     w.on_connect(move |_: &Scope, e: &MessageEvent| -> webmessaging::Result<()> {
///         count.set(count.get() + 1);
///         e.ports()[0].post(&count.get())
///     });
/// })?;
/// let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
/// for _ in 0..2 {
///     let tx = tx.clone();
///     browser.open_with("https://app.example/", move |scope: &Scope| -> webmessaging::Result<()> {
///         let worker = SharedWorker::new(scope, "/counter.js", "counter")?;
///         let tx = tx.clone();
///         worker.port().on_message_as(move |_: &Scope, _: &MessageEvent, n: u32| {
///             let _ = tx.send(n);
///         });
///         scope.set_global(worker);
///         Ok(())
///     })?;
/// }
/// let wait = Duration::from_secs(5);
/// let mut seen = vec![
///     tokio::time::timeout(wait, rx.recv()).await.ok().flatten(),
///     tokio::time::timeout(wait, rx.recv()).await.ok().flatten(),
/// ];
/// seen.sort();
/// // One worker: the second connection counts 2.
/// assert_eq!(seen, vec![Some(1), Some(2)]);
/// browser.shutdown();
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SharedWorker(pub(crate) Rc<SharedWorkerObject>);

impl fmt::Debug for SharedWorker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.worker {
            Some(w) => write!(f, "SharedWorker({} -> {})", self.0.url, w.name),
            None => write!(f, "SharedWorker({}, not connected)", self.0.url),
        }
    }
}

impl PartialEq for SharedWorker {
    fn eq(&self, other: &SharedWorker) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl SharedWorker {
    /// `new SharedWorker(url, name)` in the realm of `scope`.
    ///
    /// `url` is parsed relative to the realm's URL (`SyntaxError` if that fails); an
    /// inactive realm gets `InvalidStateError`.
    pub fn new(scope: &Scope, url: &str, name: &str) -> Result<SharedWorker> {
        SharedWorker::with_options(scope, url, SharedWorkerOptions::named(name))
    }

    /// `new SharedWorker(url, options)` in the realm of `scope`, with the script to run
    /// if this constructor starts the worker.
    pub fn with_options(
        scope: &Scope,
        url: &str,
        options: SharedWorkerOptions,
    ) -> Result<SharedWorker> {
        let creator = &scope.0;
        if !scope.is_fully_active() {
            return Err(Error::InvalidState(
                "the constructing realm is not fully active".into(),
            ));
        }
        // Step 2: parse the URL relative to the constructor's settings.
        let url = creator
            .url
            .join(url)
            .map_err(|e| Error::Syntax(format!("invalid worker URL {url:?}: {e}")))?;
        // Step 4-5: the outside port, and the inside port it will be entangled with.
        let (outside, inside) = scope.message_channel().into_ports();
        let id = creator.browser.next_id();
        // The script fetch has mode "same-origin": another origin's script fails.
        let fetch_ok =
            url.scheme() == "data" || Origin::from_url(&url).same_origin(&creator.origin);
        let worker = if fetch_ok {
            connect(creator, &url, &options, id)
        } else {
            Err(format!(
                "the script {url} is not same origin with {}",
                creator.origin.serialize()
            ))
        };
        let (worker, unconnected) = match worker {
            Ok(w) => {
                // Step 8.4.5-8.4.7: the inside port goes to the worker's realm, and a
                // `connect` task is queued there (after its script, for a new worker).
                let data = clone::structured_serialize_with_transfer(
                    &Value::from(""),
                    &[inside.to_value()],
                )?;
                if let Some(a) = w.addr.get() {
                    a.do_send(RealmMessage::Connect(Box::new(data)));
                }
                trace::worker_posted(&w.name, Some(&creator.name), true);
                (Some(w), None)
            }
            Err(why) => {
                // Step 8.3 (or the failed fetch): `error` at the worker object, as a task.
                log::debug!(target: "webmessaging::worker", "{}: SharedWorker {url}: {why}", creator.name);
                creator.addr.do_send(RealmMessage::WorkerError {
                    worker: id,
                    document: creator.document,
                    message: why.into(),
                });
                (None, Some(inside))
            }
        };
        let obj = Rc::new(SharedWorkerObject {
            id,
            worker,
            port: outside,
            _unconnected: unconnected,
            url,
            listeners: Listeners::default(),
            realm: Rc::downgrade(creator),
        });
        creator.add_shared_worker(obj.clone());
        Ok(SharedWorker(obj))
    }

    /// `sharedWorker.port`: this connection's end.
    pub fn port(&self) -> &MessagePort {
        &self.0.port
    }

    /// The URL the constructor named, parsed.
    pub fn url(&self) -> &Url {
        &self.0.url
    }

    /// The id of the worker global this object is connected to (every object connected
    /// to one worker has the same), or `None` if it is connected to none.
    pub fn worker_id(&self) -> Option<WorkerId> {
        self.0.worker.as_ref().map(|w| w.id)
    }

    /// Sets what happens when the worker's realm crashes (default `Reload`). One policy
    /// per worker global: setting it through any of its objects sets it for all.
    pub fn set_restart_policy(&self, policy: RestartPolicy) {
        if let Some(w) = &self.0.worker {
            *w.policy.lock().unwrap_or_else(|p| p.into_inner()) = policy;
        }
    }

    /// `sharedWorker.addEventListener(type, listener)` (`error` is the event it gets).
    pub fn add_event_listener<F, R>(&self, event_type: EventType, listener: F) -> ListenerId
    where
        F: Fn(&Scope, &MessageEvent) -> R + 'static,
        R: ListenerOutput,
    {
        self.0
            .listeners
            .add(event_type, event::untyped(listener), false)
    }

    /// `sharedWorker.removeEventListener(...)`.
    pub fn remove_event_listener(&self, id: ListenerId) -> bool {
        self.0.listeners.remove(id)
    }

    /// `sharedWorker.onerror = listener`: the constructor failed (a script of another
    /// origin, mismatched options), or the worker crashed.
    pub fn on_error<F, R>(&self, listener: F)
    where
        F: Fn(&Scope, &MessageEvent) -> R + 'static,
        R: ListenerOutput,
    {
        self.0
            .listeners
            .set_handler(EventType::Error, Some((event::untyped(listener), false)));
    }

    /// Whether the realm that constructed this object is still fully active.
    pub fn is_owner_active(&self) -> bool {
        self.0.realm.upgrade().is_some_and(|r| r.is_alive())
    }
}

/// The constructor's step 8 (the shared worker manager's part): finds the matching live
/// worker or starts one, and adds the constructing realm to its owner set. `Err` is the
/// message of the `error` event when the options do not match.
fn connect(
    creator: &Rc<RealmInner>,
    url: &Url,
    options: &SharedWorkerOptions,
    object: u64,
) -> std::result::Result<Arc<WorkerShared>, String> {
    let browser = &creator.browser;
    let key = SharedWorkerKey {
        constructor_origin: creator.origin.clone(),
        url: url.clone(),
        name: options.name.clone(),
    };
    let mut registry = browser.shared_workers();
    // Step 8.2: a live global of this key (a closing one does not match).
    let existing = registry.get(&key).filter(|w| !w.is_stopped()).cloned();
    let worker = match existing {
        Some(w) => {
            let g = w.shared_global().expect("a shared worker");
            // Step 8.3: the options must match.
            if g.worker_type != options.worker_type || g.credentials != options.credentials {
                return Err(format!(
                    "the shared worker {:?} at {url} runs with other options",
                    options.name
                ));
            }
            w
        }
        None => {
            // Step 8.5: run a new worker.
            let id = WorkerId(browser.next_id());
            let origin = match url.scheme() {
                "data" => Origin::new_opaque(),
                _ => creator.origin.clone(),
            };
            let script = options.script.clone().or_else(|| browser.script_for(url));
            let flavor = WorkerFlavor::Shared(SharedGlobal {
                key: key.clone(),
                worker_type: options.worker_type,
                credentials: options.credentials,
                owners: Mutex::new(Vec::new()),
            });
            let name = format!("shared-worker{}({url} {:?})", id.0, options.name);
            let w = Arc::new(WorkerShared::new(
                id,
                name,
                browser.clone(),
                (url.clone(), origin, script),
                flavor,
            ));
            trace::worker_spawned(&w.name, &creator.name);
            crate::realm_actor::start_worker(w.clone());
            registry.insert(key, w.clone());
            w
        }
    };
    // Step 8.4.8: the constructing realm joins the owner set (once per realm).
    let g = worker.shared_global().expect("a shared worker");
    let token = creator.owner_token();
    let mut owners = g.owners();
    match owners.iter_mut().find(|o| o.token == token) {
        Some(o) => o.objects.push(object),
        None => owners.push(Owner {
            token,
            addr: creator.addr.clone(),
            document: creator.document,
            objects: vec![object],
        }),
    }
    drop(owners);
    Ok(worker)
}
