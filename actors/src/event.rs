//! Events and event listeners: `MessageEvent`, `addEventListener`, the `onmessage` family.
//!
//! Spec: <https://html.spec.whatwg.org/multipage/comms.html#the-messageevent-interface> and
//! <https://dom.spec.whatwg.org/#concept-event-listener>.
//!
//! Every event the runtime fires is a [`MessageEvent`]: `message` and `messageerror` as the
//! standard defines them, and, with the same shape and empty data, the `close` event of a
//! `MessagePort` and the `error` event a realm gets when a listener returns an error.
//! A listener is a Rust closure `Fn(&Scope, &MessageEvent) -> R` where `R` is `()` or a
//! `Result<(), E>`; returning an error reports it (an `error` event and a log line) and the
//! realm goes on, as an uncaught exception does in a browser.

use std::cell::{Cell, OnceCell, RefCell};
use std::fmt;
use std::rc::Rc;

use serde::de::DeserializeOwned;
use webmessaging_core::clone::{deserialize_record, SerializedRecord, Transferred};
use webmessaging_core::serde_bridge::from_record;
use webmessaging_core::value::Value;

use crate::port::MessagePort;
use crate::scope::Scope;
use crate::window::WindowProxy;

/// The event types web messaging fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// `message`: a message arrived and was deserialized.
    Message,
    /// `messageerror`: a message arrived but could not be deserialized.
    MessageError,
    /// `close`: the entangled `MessagePort` was closed or its owner went away.
    Close,
    /// `error`: a listener of this realm returned an error.
    Error,
    /// `load`: a document finished loading (at its `Window`), or an iframe's document did
    /// (at the iframe element, in the parent's document).
    Load,
    /// `pagehide`: the document is being navigated away from (before `unload`).
    PageHide,
    /// `unload`: the document is being unloaded.
    Unload,
    /// `connect`: a `SharedWorker` was constructed; fired at the shared worker's global
    /// with the new connection's port (`ports[0]`, also `source`).
    Connect,
    /// `drain` (not in the standard): room came back in a bounded port queue after a
    /// post was refused (see [`crate::port::bounded`]).
    Drain,
}

impl EventType {
    /// Whether this is a messaging event (`message`, `messageerror`, `close`, `error`),
    /// not a document lifecycle one.
    pub fn is_messaging(self) -> bool {
        !matches!(
            self,
            EventType::Load | EventType::PageHide | EventType::Unload
        )
    }

    /// The event type as the standard spells it (`"message"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Message => "message",
            EventType::MessageError => "messageerror",
            EventType::Close => "close",
            EventType::Error => "error",
            EventType::Load => "load",
            EventType::PageHide => "pagehide",
            EventType::Unload => "unload",
            EventType::Connect => "connect",
            EventType::Drain => "drain",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an event was fired at.
#[derive(Clone, Debug)]
pub enum EventTarget {
    /// A `Window` (the realm's global, for a window realm).
    Window,
    /// A `DedicatedWorkerGlobalScope` or `SharedWorkerGlobalScope` (the realm's global,
    /// for a worker).
    WorkerGlobal,
    /// A `Worker` object in the realm that created the worker.
    Worker(crate::worker::WorkerId),
    /// A `SharedWorker` object in the realm that constructed it.
    SharedWorker(crate::shared_worker::SharedWorker),
    /// A `MessagePort`.
    Port(MessagePort),
    /// A `BroadcastChannel`.
    BroadcastChannel(crate::broadcast::BroadcastChannel),
    /// An iframe element of the realm's document, named by its content window.
    Iframe(WindowProxy),
}

/// `MessageEvent.source`: a `WindowProxy` for window messages, the new connection's
/// `MessagePort` for a shared worker's `connect` event (the standard also allows a
/// `ServiceWorker`, which the runtime does not have).
#[derive(Clone, Debug)]
pub enum MessageEventSource {
    /// The sender's browsing context.
    Window(WindowProxy),
    /// A port: the `connect` event's.
    Port(MessagePort),
}

/// Initial values of a synthetic [`MessageEvent`] (`MessageEventInit`).
#[derive(Clone, Default)]
pub struct MessageEventInit {
    /// `data` (default `null`).
    pub data: Option<Value>,
    /// `origin` (default `""`, not validated).
    pub origin: String,
    /// `lastEventId` (default `""`).
    pub last_event_id: String,
    /// `source` (default `null`).
    pub source: Option<MessageEventSource>,
    /// `ports` (default empty).
    pub ports: Vec<MessagePort>,
}

/// A message's record: owned by the event (port, window and worker messages), or shared
/// by every destination of one broadcast (each still deserializes its own copy).
pub(crate) enum EventRecord {
    Owned(SerializedRecord),
    Shared(std::sync::Arc<SerializedRecord>),
}

impl std::ops::Deref for EventRecord {
    type Target = SerializedRecord;

    #[inline]
    fn deref(&self) -> &SerializedRecord {
        match self {
            EventRecord::Owned(r) => r,
            EventRecord::Shared(r) => r,
        }
    }
}

pub(crate) enum EventData {
    /// A serialized message whose data is deserialized on first use (once per event).
    Serialized {
        record: EventRecord,
        transferred: Transferred,
        value: OnceCell<Value>,
    },
    /// Data already in this realm (synthetic events, `null` for close/error).
    Value(Value),
}

/// A `MessageEvent` (<https://html.spec.whatwg.org/multipage/comms.html#messageevent>).
///
/// `bubbles`, `cancelable` and `isTrusted` are fixed for events the runtime fires (false,
/// false, true), as the standard requires; `preventDefault` has no effect on them.
///
/// A listener reading a window message that carries a transferred port, then answering
/// through the port (port messages have origin `""` and no source):
///
/// ```
/// use std::time::Duration;
/// use webmessaging::prelude::*;
///
/// # #[actix_rt::main]
/// # async fn main() -> webmessaging::Result<()> {
/// let browser = Browser::new();
/// let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
/// let _page = browser.open_with("https://app.example/", move |scope: &Scope| -> webmessaging::Result<()> {
///     let (t1, t2) = (tx.clone(), tx.clone());
///     scope.on_message(move |scope: &Scope, e: &MessageEvent| -> webmessaging::Result<()> {
///         let from_self = e.source_window() == scope.window().as_ref();
///         let _ = t1.send(format!("{:?} from {} ({from_self}), {} port", e.data(), e.origin(), e.ports().len()));
///         e.ports()[0].post(&"reply")
///     });
///     let channel = scope.message_channel();
///     channel.port1().on_message(move |_: &Scope, e: &MessageEvent| {
///         let _ = t2.send(format!("{:?} with origin {:?}", e.data(), e.origin()));
///     });
///     scope.post_with_transfer(&"take this", &[channel.port2().to_value()])?;
///     Ok(())
/// })?;
/// let wait = Duration::from_secs(5);
/// let window_message = tokio::time::timeout(wait, rx.recv()).await.ok().flatten();
/// assert_eq!(window_message.as_deref(), Some(r#""take this" from https://app.example (true), 1 port"#));
/// let port_message = tokio::time::timeout(wait, rx.recv()).await.ok().flatten();
/// assert_eq!(port_message.as_deref(), Some(r#""reply" with origin """#));
/// browser.shutdown();
/// # Ok(())
/// # }
/// ```
pub struct MessageEvent {
    pub(crate) event_type: EventType,
    pub(crate) data: EventData,
    pub(crate) origin: EventStr,
    pub(crate) last_event_id: EventStr,
    pub(crate) source: Option<MessageEventSource>,
    pub(crate) ports: EventPorts,
    pub(crate) target: Option<EventTarget>,
    pub(crate) trusted: bool,
    pub(crate) error_message: Option<String>,
}

/// A string of an event (`origin`, `lastEventId`): `""` is no allocation and no
/// reference count to move (most events' strings are empty); any other is shared (a
/// burst of messages from one origin shares one).
#[derive(Clone, Default)]
pub(crate) struct EventStr(Option<Rc<str>>);

impl EventStr {
    pub(crate) fn as_str(&self) -> &str {
        self.0.as_deref().unwrap_or("")
    }
}

impl From<Rc<str>> for EventStr {
    fn from(s: Rc<str>) -> Self {
        EventStr((!s.is_empty()).then_some(s))
    }
}

impl From<String> for EventStr {
    fn from(s: String) -> Self {
        EventStr((!s.is_empty()).then(|| Rc::from(s)))
    }
}

/// An event's `ports`: none is no allocation and no reference count to move (most
/// messages carry no port); else a frozen list, shared by clones of the event.
#[derive(Clone, Default)]
pub(crate) struct EventPorts(Option<Rc<[MessagePort]>>);

impl EventPorts {
    pub(crate) fn as_slice(&self) -> &[MessagePort] {
        self.0.as_deref().unwrap_or(&[])
    }
}

impl From<Vec<MessagePort>> for EventPorts {
    fn from(ports: Vec<MessagePort>) -> Self {
        EventPorts((!ports.is_empty()).then(|| Rc::from(ports)))
    }
}

/// The `""` of an event string.
pub(crate) fn empty_str() -> EventStr {
    EventStr::default()
}

/// An event's empty `ports`.
pub(crate) fn no_ports() -> EventPorts {
    EventPorts::default()
}

/// `s` as an `Rc<str>`, shared with `last` when `last` holds the same string, else made
/// and kept in `last`: consecutive messages from one origin share one `event.origin`.
pub(crate) fn share_str(last: &mut Option<Rc<str>>, s: &str) -> Rc<str> {
    match last {
        Some(o) if **o == *s => o.clone(),
        _ => last.insert(Rc::from(s)).clone(),
    }
}

impl MessageEvent {
    /// `new MessageEvent(type, init)`: an untrusted event built by script, with the
    /// constructor's defaults (`data` null, `origin` "", `lastEventId` "", `source` null,
    /// `ports` empty, `target` null).
    pub fn new(event_type: EventType, init: MessageEventInit) -> MessageEvent {
        MessageEvent {
            event_type,
            data: EventData::Value(init.data.unwrap_or(Value::Null)),
            origin: init.origin.into(),
            last_event_id: init.last_event_id.into(),
            source: init.source,
            ports: init.ports.into(),
            target: None,
            trusted: false,
            error_message: None,
        }
    }

    pub(crate) fn simple(event_type: EventType, target: EventTarget) -> MessageEvent {
        MessageEvent {
            event_type,
            data: EventData::Value(Value::Null),
            origin: empty_str(),
            last_event_id: empty_str(),
            source: None,
            ports: no_ports(),
            target: Some(target),
            trusted: true,
            error_message: None,
        }
    }

    /// Empties the cell of `data` deserialized as a `Value`, so the event can be fired at
    /// another destination that deserializes its own copy (a broadcast batch's event).
    #[inline]
    pub(crate) fn clear_value(&mut self) {
        if let EventData::Serialized { value, .. } = &mut self.data {
            // Usually unset (typed listeners read the record): no write then.
            if value.get().is_some() {
                value.take();
            }
        }
    }

    /// The event's type.
    pub fn event_type(&self) -> EventType {
        self.event_type
    }

    /// `event.data` as a [`Value`]: the message deserialized in this realm (fresh objects,
    /// same sharing and cycles as sent), or `null` for `messageerror`, `close` and `error`.
    pub fn data(&self) -> &Value {
        match &self.data {
            EventData::Value(v) => v,
            EventData::Serialized {
                record,
                transferred,
                value,
            } => value.get_or_init(|| {
                deserialize_record(record, transferred).unwrap_or_else(|e| {
                    // The dispatcher deserializes before firing `message` when a listener
                    // reads values, so this only happens for records that failed there.
                    log::warn!(target: "webmessaging::event", "data() on undeserializable message: {e}");
                    Value::Null
                })
            }),
        }
    }

    /// `event.data` read straight from the serialized record as any `T: Deserialize`.
    ///
    /// A mismatch is a `DataCloneError`; listeners registered with
    /// [`Scope::on_message_as`] get a `messageerror` event instead in that case.
    #[inline]
    pub fn data_as<T: DeserializeOwned>(&self) -> webmessaging_core::Result<T> {
        match &self.data {
            EventData::Serialized { record, .. } => from_record(record),
            EventData::Value(v) => webmessaging_core::serde_bridge::from_value(v),
        }
    }

    /// The serialized record behind `data`, when the event carries a message.
    pub fn record(&self) -> Option<&SerializedRecord> {
        match &self.data {
            EventData::Serialized { record, .. } => Some(&**record),
            EventData::Value(_) => None,
        }
    }

    /// `event.origin`: the sender's serialized origin for window and broadcast messages,
    /// `""` for port and worker messages.
    pub fn origin(&self) -> &str {
        self.origin.as_str()
    }

    /// `event.lastEventId`: always `""` for web messaging.
    pub fn last_event_id(&self) -> &str {
        self.last_event_id.as_str()
    }

    /// `event.source`: the sender's `WindowProxy` for window messages, else `None`.
    pub fn source(&self) -> Option<&MessageEventSource> {
        self.source.as_ref()
    }

    /// The sender's `WindowProxy`, if `source` is a window.
    pub fn source_window(&self) -> Option<&WindowProxy> {
        match &self.source {
            Some(MessageEventSource::Window(w)) => Some(w),
            _ => None,
        }
    }

    /// The port, if `source` is a `MessagePort` (a `connect` event's).
    pub fn source_port(&self) -> Option<&MessagePort> {
        match &self.source {
            Some(MessageEventSource::Port(p)) => Some(p),
            _ => None,
        }
    }

    /// `event.ports`: the transferred ports, in transfer-list order (a frozen array: the
    /// slice cannot be changed and every read returns the same objects).
    pub fn ports(&self) -> &[MessagePort] {
        self.ports.as_slice()
    }

    /// `event.target`, `None` for an event not dispatched yet.
    pub fn target(&self) -> Option<&EventTarget> {
        self.target.as_ref()
    }

    /// `event.isTrusted`: true for every event the runtime fires.
    pub fn is_trusted(&self) -> bool {
        self.trusted
    }

    /// `event.bubbles`: false for message events.
    pub fn bubbles(&self) -> bool {
        false
    }

    /// `event.cancelable`: false for message events.
    pub fn cancelable(&self) -> bool {
        false
    }

    /// `event.defaultPrevented`: always false (message events are not cancelable).
    pub fn default_prevented(&self) -> bool {
        false
    }

    /// For `error` events: what the listener returned.
    pub fn error_message(&self) -> Option<&str> {
        self.error_message.as_deref()
    }
}

impl fmt::Debug for MessageEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageEvent")
            .field("type", &self.event_type)
            .field("origin", &self.origin.as_str())
            .field("source", &self.source)
            .field("ports", &self.ports.as_slice().len())
            .field("error", &self.error_message)
            .finish_non_exhaustive()
    }
}

/// An error a listener or script returned; it is reported, not propagated.
pub type ScriptError = Box<dyn std::error::Error + 'static>;

/// What a listener or script may return: `()` or `Result<(), E>` for any error type.
pub trait ListenerOutput {
    /// The output as a result.
    fn into_result(self) -> Result<(), ScriptError>;
}

impl ListenerOutput for () {
    fn into_result(self) -> Result<(), ScriptError> {
        Ok(())
    }
}

impl<E: Into<ScriptError>> ListenerOutput for Result<(), E> {
    fn into_result(self) -> Result<(), ScriptError> {
        self.map_err(Into::into)
    }
}

/// Identifies a listener for [`remove_event_listener`](Scope::remove_event_listener).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerId(pub(crate) u64);

/// What a listener invocation came to.
pub(crate) enum Outcome {
    /// The listener ran (and maybe returned an error to report).
    Ran(Result<(), ScriptError>),
    /// A typed listener could not deserialize the data: fire `messageerror` instead.
    Undeserializable(webmessaging_core::Error),
}

pub(crate) type Callback = Rc<dyn Fn(&Scope, &MessageEvent) -> Outcome>;

#[derive(Clone)]
pub(crate) struct Listener {
    pub(crate) id: ListenerId,
    pub(crate) event_type: EventType,
    pub(crate) callback: Callback,
    /// Typed listeners read the record themselves; untyped ones need `data` as a Value.
    pub(crate) reads_value: bool,
}

thread_local! {
    static NEXT_LISTENER: Cell<u64> = const { Cell::new(1) };
}

fn next_listener_id() -> ListenerId {
    NEXT_LISTENER.with(|n| {
        let id = n.get();
        n.set(id + 1);
        ListenerId(id)
    })
}

pub(crate) fn untyped<F, R>(f: F) -> Callback
where
    F: Fn(&Scope, &MessageEvent) -> R + 'static,
    R: ListenerOutput,
{
    Rc::new(move |s, e| Outcome::Ran(f(s, e).into_result()))
}

pub(crate) fn typed<T, F, R>(f: F) -> Callback
where
    T: DeserializeOwned,
    F: Fn(&Scope, &MessageEvent, T) -> R + 'static,
    R: ListenerOutput,
{
    Rc::new(move |s, e| match e.data_as::<T>() {
        Ok(v) => Outcome::Ran(f(s, e, v).into_result()),
        Err(err) => Outcome::Undeserializable(err),
    })
}

/// The listeners of one event target, in registration order, with the event handler
/// attributes (`onmessage`, ...) holding the place where they were first set.
#[derive(Default)]
pub(crate) struct Listeners {
    list: RefCell<Vec<Listener>>,
    handlers: RefCell<Vec<(EventType, ListenerId)>>,
}

impl Listeners {
    pub(crate) fn add(
        &self,
        event_type: EventType,
        callback: Callback,
        reads_value: bool,
    ) -> ListenerId {
        let id = next_listener_id();
        self.list.borrow_mut().push(Listener {
            id,
            event_type,
            callback,
            reads_value,
        });
        id
    }

    pub(crate) fn remove(&self, id: ListenerId) -> bool {
        let mut list = self.list.borrow_mut();
        let before = list.len();
        list.retain(|l| l.id != id);
        self.handlers.borrow_mut().retain(|(_, h)| *h != id);
        before != list.len()
    }

    /// Sets the event handler attribute for `event_type` (`onmessage = f`): replaces the
    /// previous handler in place, or appends if none was set. `None` removes it.
    /// Returns true if a handler was set for the first time.
    pub(crate) fn set_handler(
        &self,
        event_type: EventType,
        callback: Option<(Callback, bool)>,
    ) -> bool {
        let existing = self
            .handlers
            .borrow()
            .iter()
            .find(|(t, _)| *t == event_type)
            .map(|(_, id)| *id);
        match (existing, callback) {
            (Some(id), Some((cb, reads_value))) => {
                for l in self.list.borrow_mut().iter_mut() {
                    if l.id == id {
                        l.callback = cb.clone();
                        l.reads_value = reads_value;
                    }
                }
                false
            }
            (None, Some((cb, reads_value))) => {
                let id = self.add(event_type, cb, reads_value);
                self.handlers.borrow_mut().push((event_type, id));
                true
            }
            (Some(id), None) => {
                self.remove(id);
                false
            }
            (None, None) => false,
        }
    }

    /// The listeners for `event_type`, snapshotted so listeners may add or remove
    /// listeners while the event is dispatched.
    ///
    /// Allocation-free when at most one listener matches (the usual case: one
    /// `onmessage`), which keeps the dispatch of every message free of a `Vec`.
    #[inline]
    pub(crate) fn snapshot(&self, event_type: EventType) -> Snapshot {
        let list = self.list.borrow();
        let mut matching = list.iter().filter(|l| l.event_type == event_type);
        let Some(first) = matching.next() else {
            return Snapshot::Empty;
        };
        let Some(second) = matching.next() else {
            return Snapshot::One(first.clone());
        };
        let mut v = Vec::with_capacity(list.len());
        v.push(first.clone());
        v.push(second.clone());
        v.extend(matching.cloned());
        Snapshot::Many(v)
    }

    /// The callback of the target's only listener, if it is for `event_type` and, when
    /// `no_value` is set, reads no `Value` (see `realm::fire_in`'s fast path); `None`
    /// otherwise (dispatch then takes a [`snapshot`](Self::snapshot)).
    #[inline]
    pub(crate) fn sole(&self, event_type: EventType, no_value: bool) -> Option<Callback> {
        match &self.list.borrow()[..] {
            [l] if l.event_type == event_type && !(no_value && l.reads_value) => {
                Some(l.callback.clone())
            }
            _ => None,
        }
    }

    pub(crate) fn clear(&self) {
        self.list.borrow_mut().clear();
        self.handlers.borrow_mut().clear();
    }
}

/// The listeners of one dispatch ([`Listeners::snapshot`]).
pub(crate) enum Snapshot {
    Empty,
    One(Listener),
    Many(Vec<Listener>),
}

impl Snapshot {
    #[inline]
    pub(crate) fn as_slice(&self) -> &[Listener] {
        match self {
            Snapshot::Empty => &[],
            Snapshot::One(l) => std::slice::from_ref(l),
            Snapshot::Many(v) => v,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }
}

impl IntoIterator for Snapshot {
    type Item = Listener;
    type IntoIter = std::iter::Chain<std::option::IntoIter<Listener>, std::vec::IntoIter<Listener>>;

    fn into_iter(self) -> Self::IntoIter {
        match self {
            Snapshot::Empty => None.into_iter().chain(Vec::new()),
            Snapshot::One(l) => Some(l).into_iter().chain(Vec::new()),
            Snapshot::Many(v) => None.into_iter().chain(v),
        }
    }
}

pub(crate) fn serialized_data(record: EventRecord, transferred: Transferred) -> EventData {
    EventData::Serialized {
        record,
        transferred,
        value: OnceCell::new(),
    }
}
