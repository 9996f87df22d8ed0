//! What the realms report to outside observers: every event fired in a browsing context
//! becomes an [`ObservedEvent`] (a `Send` summary) sent to the subscribers of that context.
//! When nobody watches, the cost is one relaxed atomic load per event. The reading side
//! (`WindowHandle::events`, [`EventLog`](crate::EventLog)) is in [`crate::observe`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

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
                Some(EventTarget::SharedWorker(_)) => "shared-worker".into(),
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

/// Where a simulation records every observed event: a sequence number shared with the
/// simulation's own record (so the two merge in order), and the channel.
#[derive(Clone)]
pub(crate) struct RecordSink {
    pub(crate) seq: Arc<std::sync::atomic::AtomicU64>,
    pub(crate) tx: mpsc::UnboundedSender<(u64, ObservedEvent)>,
}

#[derive(Default)]
struct ObserversInner {
    active: AtomicBool,
    senders: Mutex<Vec<mpsc::UnboundedSender<ObservedEvent>>>,
    record: Option<RecordSink>,
}

/// The subscribers of one browsing context.
#[derive(Clone, Default)]
pub(crate) struct Observers(Arc<ObserversInner>);

impl Observers {
    #[inline]
    pub(crate) fn is_active(&self) -> bool {
        self.0.active.load(Ordering::Relaxed)
    }

    /// Observers that also send every event to a simulation's record.
    pub(crate) fn recording(sink: RecordSink) -> Observers {
        Observers(Arc::new(ObserversInner {
            active: AtomicBool::new(true),
            senders: Mutex::new(Vec::new()),
            record: Some(sink),
        }))
    }

    pub(crate) fn send(&self, ev: ObservedEvent) {
        if let Some(r) = &self.0.record {
            let seq = r.seq.fetch_add(1, Ordering::Relaxed);
            let _ = r.tx.send((seq, ev.clone()));
        }
        let mut senders = self.0.senders.lock().unwrap_or_else(|p| p.into_inner());
        senders.retain(|s| s.send(ev.clone()).is_ok());
        if senders.is_empty() && self.0.record.is_none() {
            self.0.active.store(false, Ordering::Relaxed);
        }
    }

    /// Adds a subscriber: every event from now on is sent to `tx`.
    pub(crate) fn add(&self, tx: mpsc::UnboundedSender<ObservedEvent>) {
        self.0
            .senders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(tx);
        self.0.active.store(true, Ordering::Relaxed);
    }
}
