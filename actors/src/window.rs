//! Browsing contexts, `WindowProxy` and `Window.postMessage`.
//!
//! Spec: <https://html.spec.whatwg.org/multipage/web-messaging.html#posting-messages> and
//! <https://html.spec.whatwg.org/multipage/nav-history-apis.html#the-windowproxy-exotic-object>.
//!
//! A [`WindowProxy`] names a browsing context, not a document: after a navigation (or a
//! supervised restart) the same proxy reaches the new document. It is `Send + Sync` and
//! cheap to clone, and it offers only what cross-origin script may do with a window
//! (`postMessage`, `closed`, `parent`, `top`, `focus`-free navigation by its parent); the
//! document and the realm's state are reachable only by running code *in* that realm.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use serde::Serialize;
use url::Url;
use webmessaging_core::clone::{self, SerializedWithTransfer};
use webmessaging_core::origin::Origin;
use webmessaging_core::serde_bridge::to_record;
use webmessaging_core::target_origin::{ResolvedTargetOrigin, TargetOrigin};
use webmessaging_core::value::Value;
use webmessaging_core::{Error, Result};

use crate::kernel::metrics::{self, Metrics, MetricsSnapshot};
use crate::kernel::trace;
use crate::realm_actor::{RealmAddr, RealmMessage};
use crate::runtime::{Limits, Runtime, Script};
use crate::scope::Scope;
use crate::supervision::{LifecycleEvent, RestartPolicy};

/// Identifies a browsing context for its whole life (across navigations and restarts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BrowsingContextId(pub u64);

impl fmt::Display for BrowsingContextId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bc{}", self.0)
    }
}

/// The document a browsing context currently shows.
/// A navigation queued by `navigate`, applied by the browsing context's navigation task.
pub(crate) struct PendingNavigation {
    pub(crate) id: u64,
    pub(crate) url: Url,
    pub(crate) origin: Origin,
    pub(crate) script: Option<Script>,
}

#[derive(Clone)]
pub(crate) struct DocumentState {
    /// Increases with every new document (navigation, restart).
    pub(crate) document: u64,
    pub(crate) url: Url,
    pub(crate) origin: Origin,
    pub(crate) script: Option<Script>,
}

pub(crate) struct BrowsingContext {
    pub(crate) id: BrowsingContextId,
    pub(crate) name: String,
    pub(crate) browser: Runtime,
    pub(crate) addr: OnceLock<RealmAddr>,
    pub(crate) parent: Option<WindowProxy>,
    /// The browsing context that opened this one (`window.open`), if any.
    pub(crate) opener: Option<WindowProxy>,
    /// The navigation queued and not yet applied (a later one replaces it).
    pub(crate) pending_navigation: Mutex<Option<PendingNavigation>>,
    pub(crate) doc: Mutex<DocumentState>,
    pub(crate) closed: AtomicBool,
    pub(crate) policy: Mutex<RestartPolicy>,
    /// What happened to the messages on their way to this browsing context.
    pub(crate) metrics: Metrics,
}

impl BrowsingContext {
    /// The one constructor of a browsing context (top-level, iframe, or opened by
    /// script): its first document is `url` with `origin` and `script`, not yet loaded;
    /// the `Browser` knows it from here on. The caller starts its shell on a loop.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn create(
        browser: &Runtime,
        name: String,
        parent: Option<WindowProxy>,
        opener: Option<WindowProxy>,
        url: Url,
        origin: Origin,
        script: Option<Script>,
        policy: RestartPolicy,
    ) -> Arc<BrowsingContext> {
        let ctx = Arc::new(BrowsingContext {
            id: BrowsingContextId(browser.next_id()),
            name,
            browser: browser.clone(),
            addr: OnceLock::new(),
            parent,
            opener,
            pending_navigation: Mutex::new(None),
            doc: Mutex::new(DocumentState {
                document: 1,
                url,
                origin,
                script,
            }),
            closed: AtomicBool::new(false),
            policy: Mutex::new(policy),
            metrics: Metrics::default(),
        });
        browser.register_context(&WindowProxy(ctx.clone()));
        ctx
    }

    fn doc(&self) -> MutexGuard<'_, DocumentState> {
        self.doc.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current document's state (a copy).
    pub(crate) fn document(&self) -> DocumentState {
        self.doc().clone()
    }

    /// A new document at the same URL (a supervised restart): the serial grows, so
    /// messages still queued for the old document are dropped.
    pub(crate) fn begin_restart(&self) {
        self.doc().document += 1;
    }

    /// The new document of a navigation exists from now: the proxy shows it, and
    /// messages still queued for the old one are dropped.
    pub(crate) fn replace_document(&self, url: Url, origin: Origin, script: Option<Script>) {
        let mut doc = self.doc();
        doc.document += 1;
        doc.url = url;
        doc.origin = origin;
        doc.script = script;
    }

    pub(crate) fn addr(&self) -> Option<&RealmAddr> {
        self.addr.get()
    }

    /// Takes the pending navigation if it is the one with id `navigation` (a later call to
    /// `navigate` replaced any earlier one).
    pub(crate) fn take_pending_navigation(&self, navigation: u64) -> Option<PendingNavigation> {
        let mut p = self
            .pending_navigation
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match &*p {
            Some(n) if n.id == navigation => p.take(),
            _ => None,
        }
    }
}

impl Drop for BrowsingContext {
    /// A chain of nested iframes (each holding its parent) is dropped in a loop, not by
    /// recursion: 10,000 nested browsing contexts must not overflow the stack.
    fn drop(&mut self) {
        let mut next: Vec<WindowProxy> = self.parent.take().into_iter().collect();
        next.extend(self.opener.take());
        while let Some(w) = next.pop() {
            if let Ok(mut ctx) = Arc::try_unwrap(w.0) {
                next.extend(ctx.parent.take());
                next.extend(ctx.opener.take());
            }
        }
    }
}

/// A `WindowProxy`: a handle on a browsing context (a top-level window or an iframe).
///
/// Compare proxies with `==`: two proxies are equal when they name the same browsing
/// context (`event.source === iframe.contentWindow`).
///
/// ```
/// use std::time::Duration;
/// use webmessaging::prelude::*;
///
/// # #[actix_rt::main]
/// # async fn main() -> webmessaging::Result<()> {
/// let browser = Browser::new();
/// let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
/// browser.route("https://widget.example/", move |scope: &Scope| {
///     let tx = tx.clone();
///     scope.on_message(move |_: &Scope, e: &MessageEvent| {
///         let _ = tx.send(format!("{} from {}", e.data_as::<String>().unwrap_or_default(), e.origin()));
///     });
/// })?;
/// let app = browser.open_with("https://app.example/", |scope: &Scope| -> webmessaging::Result<()> {
///     let widget = scope.create_iframe("https://widget.example/")?; // iframe.contentWindow
///     // The first is for another origin: dropped at delivery, silently.
///     widget.post_message(scope, &Value::from("secret"), "https://evil.example", &[])?;
///     widget.post_message(scope, &Value::from("hello"), "https://widget.example", &[])?;
///     // A malformed targetOrigin throws at once.
///     let err = widget.post_message(scope, &Value::Null, "widget.example", &[]).unwrap_err();
///     assert_eq!(err.name(), ExceptionName::SyntaxError);
///     Ok(())
/// })?;
/// let got = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
/// assert_eq!(got.ok().flatten().as_deref(), Some("hello from https://app.example"));
///
/// // window.frames, readable from any thread: the cross-origin iframe.
/// let frames = app.proxy().frames();
/// assert_eq!(frames.len(), 1);
/// assert_eq!(frames[0].parent(), *app.proxy());
/// assert_eq!(frames[0].current_origin().serialize(), "https://widget.example");
/// browser.shutdown();
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct WindowProxy(pub(crate) Arc<BrowsingContext>);

impl PartialEq for WindowProxy {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for WindowProxy {}

impl fmt::Debug for WindowProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WindowProxy({} {})", self.0.id, self.0.name)
    }
}

/// Options of `window.postMessage(message, options)` (`WindowPostMessageOptions`).
#[derive(Clone)]
pub struct WindowPostMessageOptions {
    /// `targetOrigin`, default `"/"` (the caller's origin).
    pub target_origin: String,
    /// Objects to transfer (ports, ArrayBuffers).
    pub transfer: Vec<Value>,
}

impl Default for WindowPostMessageOptions {
    fn default() -> Self {
        WindowPostMessageOptions {
            target_origin: "/".to_owned(),
            transfer: Vec::new(),
        }
    }
}

/// Only script in a window may call `window.postMessage` (a worker has no `WindowProxy`
/// in the standard; one captured from outside cannot post): `NotSupportedError`, checked
/// before anything is serialized or detached.
fn check_window_caller(caller: &Scope) -> Result<()> {
    match caller.kind() {
        crate::scope::GlobalKind::Window => Ok(()),
        crate::scope::GlobalKind::DedicatedWorker | crate::scope::GlobalKind::SharedWorker => {
            Err(Error::NotSupported(
                "window.postMessage can only be called by script in a window".into(),
            ))
        }
    }
}

/// A window message on its way: the task the posted message task source runs.
pub(crate) struct PostedMessage {
    pub(crate) data: SerializedWithTransfer,
    pub(crate) target_origin: ResolvedTargetOrigin,
    pub(crate) origin: Origin,
    pub(crate) source: WindowProxy,
    pub(crate) target_document: u64,
}

impl WindowProxy {
    /// The browsing context's id.
    pub fn id(&self) -> BrowsingContextId {
        self.0.id
    }

    /// A readable name for logs and traces (the URL it was opened at, or an iframe name).
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// `window.closed`: true once the window was closed or the iframe removed.
    pub fn closed(&self) -> bool {
        self.0.closed.load(Ordering::Acquire)
    }

    /// `window.parent`: the parent browsing context, or this one for a top-level window.
    pub fn parent(&self) -> WindowProxy {
        self.0.parent.clone().unwrap_or_else(|| self.clone())
    }

    /// `window.top`: the top-level browsing context.
    pub fn top(&self) -> WindowProxy {
        let mut w = self.clone();
        while let Some(p) = w.0.parent.clone() {
            w = p;
        }
        w
    }

    /// `window.opener`: the browsing context whose script opened this one with
    /// [`Scope::open`], if any.
    pub fn opener(&self) -> Option<WindowProxy> {
        self.0.opener.clone()
    }

    /// `window.frames`: the child browsing contexts (iframes) of this window's current
    /// document, cross-origin ones too, in creation order. Readable from any thread, as a
    /// `WindowProxy` is.
    pub fn frames(&self) -> Vec<WindowProxy> {
        self.0
            .browser
            .contexts()
            .into_iter()
            .filter(|c| !c.closed() && c.0.parent.as_ref() == Some(self))
            .collect()
    }

    /// The first top-level window of this window's browsing-context group (following
    /// `top`, then openers).
    pub(crate) fn group_root(&self) -> WindowProxy {
        let mut w = self.top();
        while let Some(o) = w.0.opener.clone() {
            w = o.top();
        }
        w
    }

    /// Whether this is a top-level window.
    pub fn is_top_level(&self) -> bool {
        self.0.parent.is_none()
    }

    /// The origin of the document this browsing context shows now.
    ///
    /// Available to code outside any realm (tests, `main`); script in a realm should use
    /// it only for same-origin windows, as a browser would.
    pub fn current_origin(&self) -> Origin {
        self.0.doc().origin.clone()
    }

    /// The URL of the document this browsing context shows now (see
    /// [`current_origin`](Self::current_origin)).
    pub fn current_url(&self) -> Url {
        self.0.doc().url.clone()
    }

    /// The serial number of the current document: it grows with every navigation and
    /// restart.
    pub fn document_serial(&self) -> u64 {
        self.0.doc().document
    }

    /// The URL of the current document, if `caller` may see it (same origin); else a
    /// `SecurityError`, as touching `document` of a cross-origin window throws.
    pub fn location_for(&self, caller: &Scope) -> Result<Url> {
        let doc = self.0.doc();
        if doc.origin.same_origin(caller.origin()) {
            Ok(doc.url.clone())
        } else {
            Err(Error::Security(format!(
                "blocked a frame with origin \"{}\" from accessing a cross-origin frame",
                caller.origin()
            )))
        }
    }

    /// `window.postMessage(message, targetOrigin, transfer)`, called by script in `caller`.
    ///
    /// `SyntaxError` for a bad `targetOrigin` and `DataCloneError` for what cannot be
    /// cloned or transferred are returned here, synchronously; a message whose target's
    /// origin does not match is dropped silently when it is delivered.
    pub fn post_message(
        &self,
        caller: &Scope,
        message: &Value,
        target_origin: &str,
        transfer: &[Value],
    ) -> Result<()> {
        let thrown = |e: &Error| trace::thrown(&caller.name(), "window.postMessage", e);
        check_window_caller(caller).inspect_err(thrown)?;
        let target = TargetOrigin::parse(target_origin).inspect_err(thrown)?;
        // Step 6: serialize with transfer; rethrow any exception.
        let data =
            clone::structured_serialize_with_transfer(message, transfer).inspect_err(thrown)?;
        self.queue_posted(caller, target, data);
        Ok(())
    }

    /// `window.postMessage(message, options)`: `targetOrigin` defaults to `"/"`.
    pub fn post_message_with_options(
        &self,
        caller: &Scope,
        message: &Value,
        options: &WindowPostMessageOptions,
    ) -> Result<()> {
        self.post_message(caller, message, &options.target_origin, &options.transfer)
    }

    /// Posts any `T: Serialize` (serialized straight into the record) to this window.
    pub fn post<T: Serialize + ?Sized>(
        &self,
        caller: &Scope,
        data: &T,
        target_origin: &str,
    ) -> Result<()> {
        let thrown = |e: &Error| trace::thrown(&caller.name(), "window.postMessage", e);
        check_window_caller(caller).inspect_err(thrown)?;
        let target = TargetOrigin::parse(target_origin).inspect_err(thrown)?;
        let data = SerializedWithTransfer {
            record: to_record(data).inspect_err(thrown)?,
            transfer: clone::TransferData::empty(),
        };
        self.queue_posted(caller, target, data);
        Ok(())
    }

    /// Posts any `T: Serialize` with a transfer list.
    pub fn post_with_transfer<T: Serialize + ?Sized>(
        &self,
        caller: &Scope,
        data: &T,
        target_origin: &str,
        transfer: &[Value],
    ) -> Result<()> {
        check_window_caller(caller)?;
        let target = TargetOrigin::parse(target_origin)?;
        let data = clone::serialize_transfer_only(to_record(data)?, transfer)?;
        self.queue_posted(caller, target, data);
        Ok(())
    }

    fn queue_posted(&self, caller: &Scope, target: TargetOrigin, data: SerializedWithTransfer) {
        // Steps 4-5: "/" means the incumbent settings object's origin.
        let target_origin = target.resolve(caller.origin());
        let source = match caller.window() {
            Some(w) => w,
            None => {
                // Only windows have a WindowProxy; workers post through their own API.
                log::error!(target: "webmessaging::window", "postMessage to a window from a non-window realm");
                return;
            }
        };
        // The task is tied to the Window the proxy shows *now*: if the browsing context
        // navigates before the task runs, the message is dropped, never shown to the new
        // document.
        let (target_document, cross_origin) = {
            let d = self.0.doc();
            (d.document, !d.origin.same_origin(caller.origin()))
        };
        // Limits (off by default): the rate limit per (sender origin, target document),
        // then the bound on what one origin may have queued here.
        let browser = &self.0.browser;
        let limits = browser.limits();
        let now = caller
            .0
            .event_loop
            .is_simulated()
            .then(|| caller.0.event_loop.now());
        let doc_key = (self.0.id.0 << 20) ^ target_document;
        if !browser.admit(&limits, caller.origin(), doc_key, cross_origin, now) {
            self.refused(caller, &limits, target_document, metrics::RATE_LIMITED);
            return;
        }
        let queued = self.0.metrics.try_enqueue(
            caller.origin().serialize(),
            limits.max_queued_per_origin,
            limits.max_queued,
        );
        let depth = match queued {
            Err(reason) => {
                self.refused(caller, &limits, target_document, reason);
                return;
            }
            Ok(n) => n,
        };
        if trace::is_enabled() {
            trace::record(
                trace::TraceKind::Post,
                &caller.name(),
                &self.0.name,
                &format!("window.postMessage (targetOrigin {target_origin})"),
            );
        }
        // Step 7: queue a task on the posted message task source of the target.
        if let Some(addr) = self.0.addr() {
            let msg = RealmMessage::Posted(Box::new(PostedMessage {
                data,
                target_origin,
                origin: caller.origin().clone(),
                source,
                target_document,
            }));
            // The bound over every message task of the target's event loop.
            match addr.try_send_posted(msg, limits.max_queued_per_event_loop) {
                Ok(()) => trace::depth(&self.0.name, depth),
                Err(_) => {
                    self.0.metrics.dequeued(caller.origin().serialize());
                    self.refused(caller, &limits, target_document, metrics::OVER_LOOP_BOUND);
                }
            }
        }
    }

    /// A message to this context refused by a limit: counted here (and at the sender's
    /// context for the rate limit), traced and logged, never delivered.
    fn refused(&self, caller: &Scope, limits: &Limits, document: u64, reason: &'static str) {
        self.0.metrics.dropped(reason);
        if reason == metrics::RATE_LIMITED {
            if let Some(w) = caller.window() {
                w.0.metrics.sent_rate_limited();
            }
        }
        log::debug!(target: "webmessaging::window", "{}: message from {} dropped: {reason}", self.0.name, caller.origin());
        trace::dropped(&self.0.name, reason);
        let origin = caller.origin().serialize();
        if limits.report_floods && self.0.metrics.first_flood(document, origin, reason) {
            log::warn!(target: "webmessaging::window", "{}: flooded by {origin} ({reason})", self.0.name);
            let e = LifecycleEvent::Flooded {
                realm: self.0.name.clone(),
                origin: origin.to_owned(),
                reason: reason.to_owned(),
            };
            if let Some(a) = self.0.parent.as_ref().and_then(|p| p.0.addr()) {
                a.do_send(RealmMessage::Lifecycle(Box::new(e.clone())));
            }
            self.0.browser.0.lifecycle.push(e);
        }
    }

    /// What happened so far to the messages on their way to this browsing context.
    pub fn metrics(&self) -> MetricsSnapshot {
        let mut m = self.0.metrics.snapshot();
        if let Some(a) = self.0.addr() {
            m.event_loop = a.load().snapshot();
        }
        m
    }

    /// Navigates this browsing context to `url` (what setting an iframe's `src` or
    /// `location.href` does): a new document, maybe of another origin, whose script is the
    /// one routed for that URL in the [`Browser`](crate::Browser). The old document stops being fully
    /// active at once: window messages still queued for it are dropped.
    pub fn navigate(&self, url: &str) -> Result<()> {
        let url =
            Url::parse(url).map_err(|e| Error::Syntax(format!("invalid URL {url:?}: {e}")))?;
        let script = self.0.browser.script_for(&url);
        self.navigate_with(url, script, None)
    }

    pub(crate) fn navigate_with(
        &self,
        url: Url,
        script: Option<Script>,
        initiator: Option<Origin>,
    ) -> Result<()> {
        if self.closed() {
            return Err(Error::InvalidState("the browsing context is closed".into()));
        }
        let origin = crate::runtime::origin_for(
            &url,
            initiator
                .as_ref()
                .or(self.0.parent.as_ref().map(|p| p.current_origin()).as_ref()),
        );
        // The navigation is queued: the current document stays active (and receives the
        // messages posted to it) until the navigation task creates the new one. A later
        // navigation replaces this one if it has not run yet.
        let id = self.0.browser.next_id();
        *self
            .0
            .pending_navigation
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(PendingNavigation {
            id,
            url,
            origin,
            script,
        });
        if let Some(addr) = self.0.addr() {
            addr.do_send(RealmMessage::Navigate { navigation: id });
        }
        Ok(())
    }

    /// Closes the window (or removes the iframe): its document is destroyed, its ports
    /// are closed (their peers get `close`), its workers terminated and its iframes
    /// removed.
    pub fn close(&self) {
        if self.0.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(addr) = self.0.addr() {
            addr.do_send(RealmMessage::Destroy);
        }
    }

    /// Sets what the supervisor does when this browsing context's realm crashes.
    pub fn set_restart_policy(&self, policy: RestartPolicy) {
        *self.0.policy.lock().unwrap_or_else(|p| p.into_inner()) = policy;
    }

    pub(crate) fn restart_policy(&self) -> RestartPolicy {
        *self.0.policy.lock().unwrap_or_else(|p| p.into_inner())
    }
}
