//! Watching a realm's events from outside the runtime.
//!
//! [`WindowHandle::events`](crate::WindowHandle::events) returns an [`EventLog`]: every event
//! fired in that browsing context from then on (at the window, its ports, its workers'
//! objects, its broadcast channels) arrives there as an [`ObservedEvent`], a `Send` summary
//! with the serialized data, which a test can read as any `T: Deserialize`. When nobody
//! watches, the cost is one relaxed atomic load per event.

use std::time::Duration;

use tokio::sync::mpsc;

use crate::browser::WindowHandle;
pub use crate::observer::ObservedEvent;

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

impl WindowHandle {
    /// Starts recording the events fired in this browsing context (in any of its
    /// documents, from now on) and returns the log to read them from.
    pub fn events(&self) -> EventLog {
        let (tx, rx) = mpsc::unbounded_channel();
        self.proxy()
            .0
            .browser
            .observers_for(self.proxy().id())
            .add(tx);
        EventLog { rx }
    }
}
