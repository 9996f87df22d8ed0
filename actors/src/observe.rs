//! Watching a realm's events from outside the runtime.
//!
//! [`WindowHandle::events`](crate::WindowHandle::events) returns an [`EventLog`]: every event
//! fired in that browsing context from then on (at the window, its ports, its workers'
//! objects, its broadcast channels) arrives there as an [`ObservedEvent`], a `Send` summary
//! with the serialized data, which a test can read as any `T: Deserialize`. When nobody
//! watches, the cost is one relaxed atomic load per event.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use webmessaging_core::clone::SerializedRecord;
use webmessaging_core::serde_bridge::from_record;

use crate::event::{EventTarget, EventType, MessageEvent};

/// A `Send` summary of an event fired in a realm.
#[derive(Debug, Clone)]
pub struct ObservedEvent {
    /// The realm it fired in (`name#document`).
    pub realm: String,
    /// `message`, `messageerror`, `close` or `error`.
    pub event_type: EventType,
    /// What it fired at: `"window"`, `"worker-global"`, `"worker"`, a port name like
    /// `"port3.2"`, or `"broadcast:NAME"`.
    pub target: String,
    /// `event.origin`.
    pub origin: String,
    /// The name of `event.source`'s browsing context, if any.
    pub source: Option<String>,
    /// How many ports came with it.
    pub ports: usize,
    /// The serialized data, for `message` events.
    pub record: Option<SerializedRecord>,
    /// For `error` events, the message.
    pub error: Option<String>,
}

impl ObservedEvent {
    pub(crate) fn from_event(realm: &str, ev: &MessageEvent) -> ObservedEvent {
        ObservedEvent {
            realm: realm.to_owned(),
            event_type: ev.event_type(),
            target: match ev.target() {
                Some(EventTarget::Window) | None => "window".into(),
                Some(EventTarget::WorkerGlobal) => "worker-global".into(),
                Some(EventTarget::Worker(_)) => "worker".into(),
                Some(EventTarget::Port(p)) => p.name().to_owned(),
                Some(EventTarget::BroadcastChannel(c)) => format!("broadcast:{}", c.name()),
                Some(EventTarget::Iframe(w)) => format!("iframe:{}", w.name()),
            },
            origin: ev.origin().to_owned(),
            source: ev.source_window().map(|w| w.name().to_owned()),
            ports: ev.ports().len(),
            record: ev.record().cloned(),
            error: ev.error_message().map(str::to_owned),
        }
    }

    /// The data as any `T: Deserialize` (`None` for events without data or on mismatch).
    pub fn data_as<T: DeserializeOwned>(&self) -> Option<T> {
        self.record.as_ref().and_then(|r| from_record(r).ok())
    }
}

#[derive(Default)]
struct ObserversInner {
    active: AtomicBool,
    senders: Mutex<Vec<mpsc::UnboundedSender<ObservedEvent>>>,
}

/// The subscribers of one browsing context.
#[derive(Clone, Default)]
pub(crate) struct Observers(Arc<ObserversInner>);

impl Observers {
    #[inline]
    pub(crate) fn is_active(&self) -> bool {
        self.0.active.load(Ordering::Relaxed)
    }

    pub(crate) fn send(&self, ev: ObservedEvent) {
        let mut senders = self.0.senders.lock().unwrap_or_else(|p| p.into_inner());
        senders.retain(|s| s.send(ev.clone()).is_ok());
        if senders.is_empty() {
            self.0.active.store(false, Ordering::Relaxed);
        }
    }

    pub(crate) fn subscribe(&self) -> EventLog {
        let (tx, rx) = mpsc::unbounded_channel();
        self.0
            .senders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(tx);
        self.0.active.store(true, Ordering::Relaxed);
        EventLog { rx }
    }
}

/// The events of one browsing context, as they are fired.
///
/// Each arrives as an [`ObservedEvent`]; here a message, then the `error` event fired
/// because the listener returned an error:
///
/// ```
/// use std::time::Duration;
/// use webmessaging::prelude::*;
///
/// # #[actix_rt::main]
/// # async fn main() -> webmessaging::Result<()> {
/// let browser = Browser::new();
/// let page = browser.open_with("https://app.example/", |scope: &Scope| {
///     scope.on_message(|_: &Scope, e: &MessageEvent| -> Result<(), String> {
///         Err(format!("cannot handle {:?}", e.data_as::<String>().unwrap_or_default()))
///     });
/// })?;
/// let mut log = page.events();
/// page.run(|scope: &Scope| scope.post(&"order")).await??;
///
/// let wait = Duration::from_secs(5);
/// let message = log.next_within(wait).await.expect("the message");
/// assert_eq!((message.event_type, message.target.as_str()), (EventType::Message, "window"));
/// assert_eq!(message.data_as::<String>().as_deref(), Some("order"));
/// let error = log.next_within(wait).await.expect("the error");
/// assert_eq!(error.event_type, EventType::Error);
/// assert_eq!(error.error.as_deref(), Some(r#"cannot handle "order""#));
/// page.settle().await?;
/// assert!(log.drain().is_empty());
/// browser.shutdown();
/// # Ok(())
/// # }
/// ```
pub struct EventLog {
    rx: mpsc::UnboundedReceiver<ObservedEvent>,
}

impl EventLog {
    /// The next event, waiting for it; `None` when the browsing context is gone.
    pub async fn next(&mut self) -> Option<ObservedEvent> {
        self.rx.recv().await
    }

    /// The next event, waiting at most `timeout`.
    pub async fn next_within(&mut self, timeout: Duration) -> Option<ObservedEvent> {
        tokio::time::timeout(timeout, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// The events already recorded, without waiting.
    pub fn drain(&mut self) -> Vec<ObservedEvent> {
        let mut out = Vec::new();
        while let Ok(e) = self.rx.try_recv() {
            out.push(e);
        }
        out
    }
}
