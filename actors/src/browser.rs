//! The runtime: [`Browser`] opens top-level windows, routes URLs to scripts, and hands out
//! [`WindowHandle`]s for driving realms from outside (tests, `main`).
//!
//! # Threads
//!
//! Every top-level window opened with [`Browser::open`] starts a new browsing-context
//! group with an [`actix::Arbiter`] (a thread) of its own; the iframes inside it share that
//! thread, as the windows of one group share an event loop in a browser. Every dedicated
//! worker gets an arbiter of its own. The `Browser` must be used inside a running actix
//! `System` (for example in `#[actix_rt::main]` or `#[actix_rt::test]`).

use std::fmt;

use url::Url;
use webmessaging_core::{Error, Result};

use crate::event::ListenerOutput;
use crate::realm_actor::RealmMessage;
use crate::runtime::{origin_for, parse, Limits, Runtime};
pub use crate::runtime::{script, Script};
use crate::scope::Scope;
use crate::supervision::{LifecycleEvent, RestartPolicy};
use crate::window::{BrowsingContext, WindowProxy};

/// The runtime: a set of browsing-context groups, workers and the broadcast registry.
///
/// Cheap to clone (all clones are the same runtime).
///
/// ```
/// use std::time::Duration;
/// use webmessaging::prelude::*;
///
/// # #[actix_rt::main]
/// # async fn main() -> webmessaging::Result<()> {
/// let browser = Browser::new();
/// let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
/// // Every document loaded from this URL runs this script, on its window's thread.
/// browser.route("https://app.example/", move |scope: &Scope| {
///     let _ = tx.send(format!("loaded {} with origin {}", scope.url(), scope.origin()));
/// })?;
/// let app = browser.open("https://app.example/")?;
/// let loaded = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
/// assert_eq!(
///     loaded.ok().flatten().as_deref(),
///     Some("loaded https://app.example/ with origin https://app.example")
/// );
/// assert_eq!(browser.contexts(), [app.proxy().clone()]);
///
/// // Shutting down closes every window (and their iframes and workers); no new ones open.
/// browser.shutdown();
/// assert!(app.proxy().closed());
/// let err = browser.open("https://app.example/").unwrap_err();
/// assert_eq!(err.name(), ExceptionName::InvalidStateError);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Browser(pub(crate) Runtime);

impl fmt::Debug for Browser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Browser({} browsing contexts)", self.0.context_count())
    }
}

impl Default for Browser {
    fn default() -> Self {
        Browser::new()
    }
}

impl Browser {
    /// A new runtime with no windows.
    pub fn new() -> Browser {
        Browser(Runtime::new())
    }

    /// Serves `script` at `url`: every document or worker loaded from that URL (fragment
    /// ignored) runs it: top-level windows, iframes, navigations, restarts.
    ///
    /// # Errors
    /// `SyntaxError` if `url` is not an absolute URL.
    pub fn route<F, R>(&self, url: &str, f: F) -> Result<()>
    where
        F: Fn(&Scope) -> R + Send + Sync + 'static,
        R: ListenerOutput,
    {
        let url = parse(url)?;
        self.0.route(&url, script(f));
        Ok(())
    }

    /// Opens a top-level window at `url` (in a new browsing-context group, on a thread of
    /// its own); its document runs the script routed for `url`, if any.
    pub fn open(&self, url: &str) -> Result<WindowHandle> {
        let parsed = parse(url)?;
        let script = self.0.script_for(&parsed);
        self.open_inner(parsed, script, RestartPolicy::default())
    }

    /// Opens a top-level window at `url` whose document runs `script`.
    pub fn open_with<F, R>(&self, url: &str, f: F) -> Result<WindowHandle>
    where
        F: Fn(&Scope) -> R + Send + Sync + 'static,
        R: ListenerOutput,
    {
        let parsed = parse(url)?;
        self.open_inner(parsed, Some(script(f)), RestartPolicy::default())
    }

    fn open_inner(
        &self,
        url: Url,
        script: Option<Script>,
        policy: RestartPolicy,
    ) -> Result<WindowHandle> {
        if self.0.is_shut_down() {
            return Err(Error::InvalidState("the browser was shut down".into()));
        }
        let origin = origin_for(&url, None);
        let name = url.to_string();
        let ctx = BrowsingContext::create(&self.0, name, None, None, url, origin, script, policy);
        let proxy = WindowProxy(ctx.clone());
        crate::realm_actor::start_window_actor(ctx);
        Ok(WindowHandle { proxy })
    }

    /// Sets the bounds that protect realms from floods (see [`Limits`]); takes effect
    /// for the messages posted from now on.
    pub fn set_limits(&self, limits: Limits) {
        self.0.set_limits(limits);
    }

    /// The bounds in force (all off by default).
    pub fn limits(&self) -> Limits {
        self.0.limits()
    }

    /// The shared workers running now (not closing), by id: URL, name, constructor origin
    /// and how many documents or workers hold each (see [`crate::shared_worker`]).
    pub fn shared_workers(&self) -> Vec<crate::shared_worker::SharedWorkerInfo> {
        crate::shared_worker::list(&self.0)
    }

    /// The browsing contexts that are open now (windows and iframes), by id.
    pub fn contexts(&self) -> Vec<WindowProxy> {
        self.0.contexts()
    }

    /// A driving handle for any browsing context (an iframe, say).
    pub fn handle(&self, proxy: &WindowProxy) -> WindowHandle {
        WindowHandle {
            proxy: proxy.clone(),
        }
    }

    /// Lifecycle events of supervised realms (crashed, restarted, stopped, escalated)
    /// recorded so far, oldest first.
    pub fn lifecycle_events(&self) -> Vec<LifecycleEvent> {
        self.0 .0.lifecycle.snapshot()
    }

    /// How many lifecycle events the log let go: it keeps the last
    /// [`LIFECYCLE_LOG_CAPACITY`](crate::supervision::LIFECYCLE_LOG_CAPACITY).
    pub fn lifecycle_events_forgotten(&self) -> u64 {
        self.0 .0.lifecycle.forgotten()
    }

    /// Waits for the next lifecycle event matching `pred` (recorded before or after the
    /// call), up to `timeout`.
    pub async fn wait_lifecycle(
        &self,
        timeout: std::time::Duration,
        pred: impl Fn(&LifecycleEvent) -> bool,
    ) -> Option<LifecycleEvent> {
        self.0 .0.lifecycle.wait_for(timeout, pred).await
    }

    /// How many broadcast channels are registered now, over every name and origin (for
    /// leak checks: a closed or collected channel leaves the broadcast registry at once).
    pub async fn broadcast_channel_count(&self) -> usize {
        self.0.registry().count()
    }

    /// How many shipped channels the port directory tracks now (a channel leaves it when
    /// both its ends are gone; for leak checks).
    pub async fn shipped_channel_count(&self) -> usize {
        self.0
            .port_directory()
            .send(crate::port::directory::CountChannels)
            .await
            .unwrap_or_default()
    }

    /// Closes every top-level window (and so every iframe and worker under it).
    pub fn shutdown(&self) {
        self.0.shut_down();
        for w in self.contexts() {
            if w.is_top_level() {
                w.close();
            }
        }
    }
}

impl Scope {
    /// The runtime this realm belongs to.
    pub fn browser(&self) -> Browser {
        Browser(self.0.browser.clone())
    }
}

/// Drives one browsing context from outside the runtime: run closures in its current
/// realm, navigate it, close it, watch its events.
///
/// ```
/// use std::time::Duration;
/// use webmessaging::prelude::*;
///
/// # #[actix_rt::main]
/// # async fn main() -> webmessaging::Result<()> {
/// let browser = Browser::new();
/// let page = browser.open_with("https://app.example/", |scope: &Scope| {
///     scope.on_message(|_: &Scope, _: &MessageEvent| {});
/// })?;
/// // Record the page's events from now on, then post to it from inside its realm:
/// // `run` executes the closure as a task of the page and returns its result.
/// let mut events = page.events();
/// let url = page
///     .run(|scope: &Scope| scope.post(&"hello").map(|()| scope.url().to_string()))
///     .await??;
/// assert_eq!(url, "https://app.example/");
///
/// let event = events.next_within(Duration::from_secs(5)).await.expect("a message");
/// assert_eq!(event.event_type, EventType::Message);
/// assert_eq!(event.origin, "https://app.example");
/// assert_eq!(event.data_as::<String>().as_deref(), Some("hello"));
/// // Nothing else is queued once the page has settled.
/// page.settle().await?;
/// assert!(events.drain().is_empty());
/// browser.shutdown();
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct WindowHandle {
    proxy: WindowProxy,
}

impl WindowHandle {
    /// What happened so far to the messages on their way to this browsing context
    /// (drops by reason, rate-limit and quota refusals, window messages queued now).
    pub fn metrics(&self) -> crate::kernel::MetricsSnapshot {
        self.proxy.metrics()
    }

    /// The browsing context's `WindowProxy`.
    pub fn proxy(&self) -> &WindowProxy {
        &self.proxy
    }

    /// Runs `f` in the current realm of this browsing context, as a task of its event loop,
    /// and returns its result.
    ///
    /// # Errors
    /// `AbortError` if the window is closed, its document is not fully active (crashed and
    /// stopped) or `f` panicked (which crashes the realm).
    pub async fn run<F, T>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Scope) -> T + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task: Box<dyn FnOnce(&Scope) + Send> = Box::new(move |scope: &Scope| {
            let _ = tx.send(f(scope));
        });
        let addr = self
            .proxy
            .0
            .addr()
            .ok_or_else(|| Error::Abort("window not started".into()))?;
        addr.do_send(RealmMessage::Run(task));
        rx.await.map_err(|_| {
            Error::Abort(format!(
                "{}: the realm is gone (closed, crashed or not fully active)",
                self.proxy.name()
            ))
        })
    }

    /// Waits until every task queued for this realm before the call has run.
    pub async fn settle(&self) -> Result<()> {
        self.run(|_| ()).await
    }

    /// Navigates to `url` (see [`WindowProxy::navigate`]).
    pub fn navigate(&self, url: &str) -> Result<()> {
        self.proxy.navigate(url)
    }

    /// Navigates to `url` with a document running `script`.
    pub fn navigate_with<F, R>(&self, url: &str, f: F) -> Result<()>
    where
        F: Fn(&Scope) -> R + Send + Sync + 'static,
        R: ListenerOutput,
    {
        let parsed = parse(url)?;
        self.proxy.navigate_with(parsed, Some(script(f)), None)
    }

    /// Closes the window.
    pub fn close(&self) {
        self.proxy.close()
    }
}
