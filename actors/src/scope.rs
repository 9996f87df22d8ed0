//! The handle script gets: what a realm's global object offers.
//!
//! A [`Scope`] is passed to load scripts and to every listener. Through it script posts
//! messages, creates channels, iframes, workers and broadcast channels, registers
//! listeners on its global, and keeps state of its own ([`Scope::set_global`]). It is
//! cheap to clone and belongs to its realm's thread (it is not `Send`).

use std::fmt;
use std::rc::Rc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use url::Url;
use webmessaging_core::clone;
use webmessaging_core::origin::Origin;
use webmessaging_core::value::Value;
use webmessaging_core::{Error, Result};

use crate::broadcast::BroadcastChannel;
use crate::event::{self, EventType, ListenerId, ListenerOutput, MessageEvent};
use crate::port::MessageChannel;
use crate::realm::{RealmInner, RealmKind, RealmPortReceiver};
use crate::runtime::{origin_for, Script};
use crate::supervision::{LifecycleEvent, RestartPolicy, SupervisorSpec};
use crate::window::{BrowsingContext, WindowProxy};
use crate::worker::Worker;

/// What kind of global a realm has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlobalKind {
    /// A `Window` (top-level or in an iframe).
    Window,
    /// A `DedicatedWorkerGlobalScope`.
    DedicatedWorker,
    /// A `SharedWorkerGlobalScope`.
    SharedWorker,
}

/// Options for [`Scope::create_iframe_with`].
#[derive(Clone, Default)]
pub struct IframeOptions {
    /// The script of the iframe's document; when `None`, the script the [`Browser`]
    /// routes for the URL (if any) runs.
    ///
    /// [`Browser`]: crate::Browser
    pub script: Option<Script>,
    /// `sandbox` without `allow-same-origin`: the document gets a fresh opaque origin.
    pub sandboxed: bool,
    /// A name for logs and traces (default: the URL).
    pub name: Option<String>,
    /// What the supervisor does when the iframe's realm crashes.
    pub restart_policy: Option<RestartPolicy>,
}

/// The global scope of a realm, as script sees it.
///
/// A script posting to its own window: a message whose `targetOrigin` names another
/// origin is dropped when it is delivered; one with `"/"` (the default) arrives.
///
/// ```
/// use std::time::Duration;
/// use webmessaging::prelude::*;
/// use webmessaging::GlobalKind;
///
/// # #[actix_rt::main]
/// # async fn main() -> webmessaging::Result<()> {
/// let browser = Browser::new();
/// let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
/// let _page = browser.open_with("https://app.example/", move |scope: &Scope| -> webmessaging::Result<()> {
///     assert_eq!(scope.kind(), GlobalKind::Window);
///     let tx = tx.clone();
///     scope.on_message(move |_: &Scope, event: &MessageEvent| {
///         let _ = tx.send(event.data_as::<String>().unwrap_or_default());
///     });
///     scope.window_post_message(&Value::from("lost"), "https://other.example", &[])?;
///     scope.post(&"kept")?; // targetOrigin "/": this document's origin
///     Ok(())
/// })?;
/// // Messages arrive in order, so "kept" coming first means "lost" was dropped.
/// let first = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
/// assert_eq!(first.ok().flatten().as_deref(), Some("kept"));
/// browser.shutdown();
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Scope(pub(crate) Rc<RealmInner>);

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scope({})", self.0.name)
    }
}

impl Scope {
    /// The realm's origin (its document's, or the worker's).
    pub fn origin(&self) -> &Origin {
        &self.0.origin
    }

    /// The URL of the document or worker script.
    pub fn url(&self) -> &Url {
        &self.0.url
    }

    /// A readable name for logs and traces, like `https://a.example/#1` (the browsing
    /// context's name and the document's serial).
    pub fn name(&self) -> String {
        self.0.name.to_string()
    }

    /// Whether this is a window or a worker.
    pub fn kind(&self) -> GlobalKind {
        match &self.0.kind {
            RealmKind::Window(_) => GlobalKind::Window,
            RealmKind::Worker(s) if s.shared_global().is_some() => GlobalKind::SharedWorker,
            RealmKind::Worker(_) => GlobalKind::DedicatedWorker,
        }
    }

    /// `self.name` of a shared worker's global: the name it was constructed with
    /// (`None` in a window or a dedicated worker).
    pub fn worker_name(&self) -> Option<String> {
        match &self.0.kind {
            RealmKind::Worker(s) => s.shared_global().map(|g| g.name().to_owned()),
            RealmKind::Window(_) => None,
        }
    }

    /// Whether the realm is still the current one of its browsing context (or a running
    /// worker): false after navigation, close, crash or termination. Script captured by
    /// an old realm can still run this check.
    pub fn is_fully_active(&self) -> bool {
        // A removed iframe (closed window, terminated worker) stops being fully active at
        // once, before its actor handles the teardown.
        self.0.is_alive()
            && match &self.0.kind {
                RealmKind::Window(w) => !w.closed(),
                RealmKind::Worker(s) => !s.is_stopped(),
            }
    }

    /// `window` (the `WindowProxy` of this realm's browsing context); `None` in a worker.
    pub fn window(&self) -> Option<WindowProxy> {
        self.0.window().cloned()
    }

    /// `window.parent` (itself for a top-level window); `None` in a worker.
    pub fn parent(&self) -> Option<WindowProxy> {
        self.0.window().map(WindowProxy::parent)
    }

    /// `window.top`; `None` in a worker.
    pub fn top(&self) -> Option<WindowProxy> {
        self.0.window().map(WindowProxy::top)
    }

    // ----- listeners on the global -----

    /// `addEventListener(type, listener)` on the global (`Window` or worker global).
    pub fn add_event_listener<F, R>(&self, event_type: EventType, listener: F) -> ListenerId
    where
        F: Fn(&Scope, &MessageEvent) -> R + 'static,
        R: ListenerOutput,
    {
        self.0
            .listeners
            .add(event_type, event::untyped(listener), true)
    }

    /// `removeEventListener` for a listener added with
    /// [`add_event_listener`](Self::add_event_listener) or a port's or channel's.
    pub fn remove_event_listener(&self, id: ListenerId) -> bool {
        self.0.listeners.remove(id)
    }

    /// `onmessage = listener` on the global.
    pub fn on_message<F, R>(&self, listener: F)
    where
        F: Fn(&Scope, &MessageEvent) -> R + 'static,
        R: ListenerOutput,
    {
        self.0
            .listeners
            .set_handler(EventType::Message, Some((event::untyped(listener), true)));
    }

    /// `onmessage` reading `event.data` as a `T`: when the data does not deserialize as
    /// `T`, `messageerror` fires instead (with the same origin and source).
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

    /// `onmessageerror = listener` on the global.
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

    /// `onerror = listener` on the global: fired when a listener or script of this realm
    /// returns an error.
    pub fn on_error<F, R>(&self, listener: F)
    where
        F: Fn(&Scope, &MessageEvent) -> R + 'static,
        R: ListenerOutput,
    {
        self.0
            .listeners
            .set_handler(EventType::Error, Some((event::untyped(listener), false)));
    }

    /// `onconnect = listener` on a shared worker's global: a `SharedWorker` was
    /// constructed; `event.ports()[0]` (also `event.source_port()`) is its connection.
    pub fn on_connect<F, R>(&self, listener: F)
    where
        F: Fn(&Scope, &MessageEvent) -> R + 'static,
        R: ListenerOutput,
    {
        self.0
            .listeners
            .set_handler(EventType::Connect, Some((event::untyped(listener), false)));
    }

    // ----- posting -----

    /// The global `postMessage(message, transfer)`.
    ///
    /// In a window it posts to the window itself with `targetOrigin` `"/"` (the options
    /// form's default); in a dedicated worker it posts to the worker's `Worker` object
    /// (event origin `""`, no source). A shared worker's global has no `postMessage`
    /// (`NotSupportedError`, nothing detached): it posts on its connections' ports.
    pub fn post_message(&self, message: &Value, transfer: &[Value]) -> Result<()> {
        match &self.0.kind {
            RealmKind::Window(w) => w.post_message(self, message, "/", transfer),
            RealmKind::Worker(s) => {
                s.can_post()?;
                if !self
                    .0
                    .admit(s.limit_key(), s.is_cross_origin(), "message from a worker")
                {
                    return Ok(());
                }
                let data = clone::structured_serialize_with_transfer(message, transfer)?;
                s.post_to_parent(data)
            }
        }
    }

    /// `window.postMessage(message, targetOrigin, transfer)` called on this realm's own
    /// window, in one call: the message is checked against `target_origin` like any other
    /// window message (`"*"`, `"/"` or a URL). `NotSupportedError` in a worker, which has
    /// no `Window`.
    pub fn window_post_message(
        &self,
        message: &Value,
        target_origin: &str,
        transfer: &[Value],
    ) -> Result<()> {
        match &self.0.kind {
            RealmKind::Window(w) => w.post_message(self, message, target_origin, transfer),
            RealmKind::Worker(_) => Err(Error::NotSupported(
                "a worker has no Window to post to".into(),
            )),
        }
    }

    /// The global `postMessage` with any `T: Serialize`.
    pub fn post<T: Serialize + ?Sized>(&self, data: &T) -> Result<()> {
        match &self.0.kind {
            RealmKind::Window(w) => w.post(self, data, "/"),
            RealmKind::Worker(s) => {
                s.can_post()?;
                if !self
                    .0
                    .admit(s.limit_key(), s.is_cross_origin(), "message from a worker")
                {
                    return Ok(());
                }
                let data = clone::SerializedWithTransfer {
                    record: webmessaging_core::serde_bridge::to_record(data)?,
                    transfer: clone::TransferData::empty(),
                };
                s.post_to_parent(data)
            }
        }
    }

    /// The global `postMessage` with any `T: Serialize` and a transfer list.
    pub fn post_with_transfer<T: Serialize + ?Sized>(
        &self,
        data: &T,
        transfer: &[Value],
    ) -> Result<()> {
        match &self.0.kind {
            RealmKind::Window(w) => w.post_with_transfer(self, data, "/", transfer),
            RealmKind::Worker(s) => {
                s.can_post()?;
                if !self
                    .0
                    .admit(s.limit_key(), s.is_cross_origin(), "message from a worker")
                {
                    return Ok(());
                }
                let data = clone::serialize_transfer_only(
                    webmessaging_core::serde_bridge::to_record(data)?,
                    transfer,
                )?;
                s.post_to_parent(data)
            }
        }
    }

    /// `structuredClone(value, { transfer })` in this realm (ports in `transfer` come back
    /// as new ports of this realm, still entangled).
    pub fn structured_clone(&self, value: &Value, transfer: &[Value]) -> Result<Value> {
        clone::structured_clone_with_ports(
            value,
            transfer,
            &mut RealmPortReceiver { realm: &self.0 },
        )
    }

    // ----- creating things -----

    /// `new MessageChannel()`: two entangled ports owned by this realm.
    pub fn message_channel(&self) -> MessageChannel {
        MessageChannel::new_in(&self.0)
    }

    /// `new BroadcastChannel(name)` in this realm.
    pub fn broadcast_channel(&self, name: &str) -> BroadcastChannel {
        BroadcastChannel::new_in(&self.0, name)
    }

    /// Adds an iframe showing `url` (its script is the one the `Browser` routes for
    /// `url`); returns its `WindowProxy` (`iframe.contentWindow`). Its document loads as a
    /// later task. `about:blank` takes this document's origin; `data:` URLs are opaque.
    pub fn create_iframe(&self, url: &str) -> Result<WindowProxy> {
        self.create_iframe_with(url, IframeOptions::default())
    }

    /// Adds an iframe with options (its own script, sandboxing, a name, a restart policy).
    pub fn create_iframe_with(&self, url: &str, options: IframeOptions) -> Result<WindowProxy> {
        let (parent, url) = self.new_context_checks(url, "workers cannot create iframes")?;
        let origin = if options.sandboxed {
            Origin::new_opaque()
        } else {
            origin_for(&url, Some(self.origin()))
        };
        let script = options.script.or_else(|| self.0.browser.script_for(&url));
        let name = options.name.unwrap_or_else(|| url.to_string());
        let ctx = BrowsingContext::create(
            &self.0.browser,
            name,
            Some(parent),
            None,
            url,
            origin,
            script,
            options.restart_policy.unwrap_or_default(),
        );
        let proxy = WindowProxy(ctx.clone());
        self.0.add_child(proxy.clone());
        crate::realm_actor::start_on_this_loop(&self.0.event_loop, ctx);
        Ok(proxy)
    }

    /// `window.open(url, name)`: a new top-level browsing context in this window's
    /// browsing-context group (so on its event loop), whose [`opener`](WindowProxy::opener)
    /// is this window. If a window of this group already has the name `name` (not empty,
    /// not `_blank`), it is navigated to `url` instead and returned, as the rules for
    /// choosing a navigable say. Its first document loads as a later task.
    pub fn open(&self, url: &str, name: &str) -> Result<WindowProxy> {
        let (opener, url) = self.new_context_checks(url, "workers cannot open windows")?;
        if !name.is_empty() && !name.eq_ignore_ascii_case("_blank") {
            let group = opener.top();
            let existing = self.0.browser.contexts().into_iter().find(|w| {
                w.is_top_level()
                    && !w.closed()
                    && w.name() == name
                    && w.group_root() == group.group_root()
            });
            if let Some(w) = existing {
                let script = self.0.browser.script_for(&url);
                w.navigate_with(url, script, Some(self.origin().clone()))?;
                return Ok(w);
            }
        }
        let origin = origin_for(&url, Some(self.origin()));
        let script = self.0.browser.script_for(&url);
        let name = if name.is_empty() {
            url.to_string()
        } else {
            name.to_owned()
        };
        let ctx = BrowsingContext::create(
            &self.0.browser,
            name,
            None,
            Some(opener),
            url,
            origin,
            script,
            RestartPolicy::default(),
        );
        let proxy = WindowProxy(ctx.clone());
        crate::realm_actor::start_on_this_loop(&self.0.event_loop, ctx);
        Ok(proxy)
    }

    /// `window.opener`: the window that opened this one with [`open`](Self::open);
    /// `None` for other windows and in a worker.
    pub fn opener(&self) -> Option<WindowProxy> {
        self.0.window().and_then(WindowProxy::opener)
    }

    /// Listens for the `load` event of this document's iframe elements: fired (as a task)
    /// each time the document of one of its iframes has loaded, after that document's own
    /// `load`; `event.target()` is [`EventTarget::Iframe`](crate::EventTarget::Iframe).
    pub fn on_iframe_load<F, R>(&self, listener: F) -> ListenerId
    where
        F: Fn(&Scope, &MessageEvent) -> R + 'static,
        R: ListenerOutput,
    {
        self.0
            .iframe_listeners
            .add(EventType::Load, event::untyped(listener), false)
    }

    /// What creating a browsing context from script checks first: the caller is a window
    /// (else `NotSupportedError` with `in_worker`), its document is fully active (else
    /// `InvalidStateError`), and `url` parses (else `SyntaxError`).
    fn new_context_checks(&self, url: &str, in_worker: &str) -> Result<(WindowProxy, Url)> {
        let window = self
            .window()
            .ok_or_else(|| Error::NotSupported(in_worker.into()))?;
        if !self.is_fully_active() {
            return Err(Error::InvalidState(
                "the document is not fully active".into(),
            ));
        }
        let url =
            Url::parse(url).map_err(|e| Error::Syntax(format!("invalid URL {url:?}: {e}")))?;
        Ok((window, url))
    }

    /// Removes an iframe this document created: its browsing context is destroyed.
    pub fn remove_iframe(&self, iframe: &WindowProxy) {
        self.0.remove_child(iframe);
        iframe.close();
    }

    /// The iframes this document created and has not removed, in creation order.
    pub fn iframes(&self) -> Vec<WindowProxy> {
        self.0.children()
    }

    /// `new Worker(url)`: a dedicated worker on a thread of its own, running the script the
    /// `Browser` routes for `url`. Its origin is this realm's (a `data:` URL gives an
    /// opaque one).
    pub fn spawn_worker(&self, url: &str) -> Result<Worker> {
        let parsed =
            Url::parse(url).map_err(|e| Error::Syntax(format!("invalid URL {url:?}: {e}")))?;
        let script = self.0.browser.script_for(&parsed);
        Worker::spawn(&self.0, parsed, script)
    }

    /// `new Worker(url)` running `script`.
    pub fn spawn_worker_with<F, R>(&self, url: &str, script: F) -> Result<Worker>
    where
        F: Fn(&Scope) -> R + Send + Sync + 'static,
        R: ListenerOutput,
    {
        let parsed =
            Url::parse(url).map_err(|e| Error::Syntax(format!("invalid URL {url:?}: {e}")))?;
        Worker::spawn(&self.0, parsed, Some(crate::runtime::script(script)))
    }

    /// `close()`: in a worker, closes the worker (its queued tasks are discarded); in a
    /// window, closes the window.
    pub fn close(&self) {
        match &self.0.kind {
            RealmKind::Window(w) => w.close(),
            RealmKind::Worker(s) => s.close_self(),
        }
    }

    // ----- state -----

    /// Stores a value in this realm's globals (one per type), replacing any earlier one,
    /// and returns it. Globals go away with the realm.
    pub fn set_global<T: 'static>(&self, value: T) -> Rc<T> {
        self.0.set_global(value)
    }

    /// The value of type `T` stored with [`set_global`](Self::set_global).
    pub fn global<T: 'static>(&self) -> Option<Rc<T>> {
        self.0.global::<T>()
    }

    /// Sets how this realm supervises the iframes and workers it creates (strategy and
    /// restart intensity). Set it again after a restart: it belongs to the realm.
    pub fn set_supervisor(&self, spec: SupervisorSpec) {
        self.0.set_supervisor(spec);
    }

    /// Listens for lifecycle events (crashed, restarted, stopped, escalated) of the realms
    /// this realm supervises.
    pub fn on_child_lifecycle<F>(&self, listener: F)
    where
        F: Fn(&Scope, &LifecycleEvent) + 'static,
    {
        self.0.add_lifecycle_listener(Rc::new(listener));
    }

    /// How many broadcast channels this realm has open.
    pub fn open_broadcast_channel_count(&self) -> usize {
        self.0.broadcast.len()
    }

    /// How many ports this realm currently keeps in its table (for leak checks).
    pub fn live_port_count(&self) -> usize {
        self.0.port_count()
    }
}
