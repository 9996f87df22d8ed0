//! `MessageChannel` and `MessagePort`.
//!
//! Spec: <https://html.spec.whatwg.org/multipage/web-messaging.html#channel-messaging>.
//!
//! # Which ports are actors, and why
//!
//! A port whose "has been shipped" flag is false (neither it, nor its twin, nor the object
//! it was cloned from was ever transferred) is not an actor: both of its channel's port
//! message queues live in one [`EntangledPair`] (the *entanglement*), both ends belong to
//! the realm that made the channel, and their tasks run from that event loop's unshipped
//! port message queue, one entry per run of tasks. That is the standard's own model, and
//! it costs a few hundred bytes per channel.
//!
//! The first transfer of either end ships the channel: both ends become port actors
//! (`PortActor`, one per end, on its owner's thread, with the typed mailbox `PortMsg`),
//! each holding its end's state machine from [`webmessaging_core::rehoming`]; what waited
//! in the entanglement is carried over (as sent and not acked by one end, accepted and not
//! dispatched by the other). The two ends hold each other's address; the runtime's port
//! directory (an actor of its own) publishes where each end lives when it moves. A shipped
//! end's tasks run as tasks of its owner's event loop, on its own task source.
//!
//! # The re-homing protocol, in the runtime
//!
//! 1. Each message on a shipped channel carries a sequence number per direction; the
//!    sender keeps it (a shared slot the dispatching incarnation empties) until the peer's
//!    cumulative ack, sent after each batch of dispatches.
//! 2. Transferring an end (inside `postMessage`) stops its incarnation: the data holder
//!    carries the send half and the dispatch cursor; whatever reaches the old incarnation
//!    afterwards is dropped, neither dispatched nor acked. The old owner may then close,
//!    navigate, crash or be terminated: it holds nothing the port still needs.
//! 3. A holder dropped undelivered (the message carrying it was discarded) closes the end
//!    in band: its unacked messages and a `Close` go to the directory, for the peer.
//! 4. The receiving realm starts the next incarnation, disabled, and registers it.
//! 5. The directory tells the peer the new address, and the newcomer the peer's latest.
//! 6. On a newer address the peer resends every unacked message after the newcomer's
//!    cursor; the receiver drops what it has seen already. Both ends moving at once
//!    converge.
//! 7. `close()` is an in-band `Close`; an end whose realm goes away hands its unacked
//!    messages and its `Close` to the directory.
//!
//! Within one task, the messages for one destination go as one actor message at the end
//! of the task (the receiver cannot run before the sending task ends); between two ends
//! on one thread the actor message is handled at once (the receiver still dispatches it
//! as a task of its own event loop).
//!
//! # Ports held by your own actors
//!
//! An actix actor that is not a realm can hold a port: [`ActorPort::take`] takes a port
//! out of its realm (a transfer: the realm's port is detached), [`ActorPort::attach`]
//! gives it to the actor, whose mailbox then gets every message as a typed
//! [`PortEvent<T>`] (`message` with the data as `T` and the ports that came with it as
//! more [`ActorPort`]s, `messageerror`, `close`), in order; the [`AttachedPort`] posts any
//! `T: Serialize` and closes the port when dropped. See `examples/pricing_actor.rs`.
//!
//! # Lifetime
//!
//! A port lives while a [`MessagePort`] handle to it exists, or while it has a listener
//! (`message`, `messageerror` or `close`, however it was added) and its owner realm lives.
//! Dropping every handle of a port with no listener closes it (its peer gets `close`), as
//! garbage collection would; so does the destruction of its owner realm (closed, navigated
//! away, crashed, terminated), and so does the loss of a message carrying it (discarded
//! undelivered: a non-matching `targetOrigin`, a target gone meanwhile, a doomed post).
//! Removing a listener does not release the port early: it then lives as long as its realm.
//! After the `close` event the realm stops keeping the port (nothing can arrive any more).
//! Closed ports release their queue at once; creating and closing channels in a loop keeps
//! memory flat (tests/ports.rs measures 1M channels).
//!
//! # Which realm owns a port
//!
//! The ports of a channel belong to the realm whose [`Scope::message_channel`] made them
//! (the standard's *current* realm, the one whose `MessageChannel` constructor was used),
//! not to the realm whose code made the call: a channel built with the scope of an iframe
//! stops when that iframe navigates away or is removed, and never fires if it was built
//! after the removal.
//!
//! # Identity
//!
//! [`MessagePort::to_value`] wraps the same port each time; a transfer list naming one port
//! twice (even through two wrappers) is a `DataCloneError`, and a wrapper inside the message
//! refers to the transferred port listed in the transfer list.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::{Rc, Weak};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::Serialize;
use webmessaging_core::clone;
use webmessaging_core::port_queue::{End, EntangledPair, Ownership};
use webmessaging_core::serde_bridge::to_record;
use webmessaging_core::value::{Object, TransferablePort, Value};
use webmessaging_core::{Error, Result};

use crate::event::{self, EventType, ListenerId, ListenerOutput, Listeners, MessageEvent};
use crate::event_loop::Task;
use crate::kernel::trace;
use crate::kernel::TaskSource;
use crate::realm::RealmInner;
use crate::scope::Scope;

mod actor_port;
pub mod bounded;
pub(crate) mod directory;
mod entanglement;
mod message_channel;
mod ship;
mod shipped;

pub use actor_port::{ActorPort, AttachedPort, PortEvent};
pub use bounded::Overflow;
pub(crate) use entanglement::{wake, Channel, PortDataHolder, PortOwner, Queued};
pub(crate) use shipped::{Dispatch, PortDirectory, ShippedPort, Slot};
pub use {actor_port::RawPortEvent, message_channel::MessageChannel};

/// The state of one port object (one `MessagePort` in one realm).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PortObjectState {
    /// Owns its end of the channel.
    Active,
    /// Transferred away: this object is inert; the end lives on elsewhere.
    Shipped,
    /// Closed: detached, will never fire again.
    Closed,
}

pub(crate) struct PortObject {
    pub(crate) key: u64,
    pub(crate) channel: Arc<Channel>,
    pub(crate) end: End,
    pub(crate) generation: u64,
    pub(crate) realm: Weak<RealmInner>,
    pub(crate) state: Cell<PortObjectState>,
    pub(crate) listeners: Listeners,
    pub(crate) name: Rc<str>,
    /// The sequence numbers (in the event loop's order) of the tasks added to this port's
    /// queue while it was disabled and unshipped: they join the unshipped port message
    /// queue at their places when the port is started.
    pending: RefCell<Vec<u64>>,
    /// Once the channel is shipped: this end's incarnation (a port actor and its state).
    shipped: RefCell<Option<Rc<ShippedPort>>>,
}

impl PortObject {
    pub(crate) fn new(
        realm: &Rc<RealmInner>,
        channel: Arc<Channel>,
        end: End,
        generation: u64,
        key: u64,
    ) -> Rc<PortObject> {
        let name: Rc<str> = Rc::from(format!(
            "port{}.{}{}",
            channel.id,
            match end {
                End::First => 1,
                End::Second => 2,
            },
            if generation > 0 {
                format!("@{generation}")
            } else {
                String::new()
            }
        ));
        let obj = Rc::new(PortObject {
            key,
            channel,
            end,
            generation,
            realm: Rc::downgrade(realm),
            state: Cell::new(PortObjectState::Active),
            listeners: Listeners::default(),
            name,
            pending: RefCell::new(Vec::new()),
            shipped: RefCell::new(None),
        });
        realm.register_port(&obj);
        trace::port_owned(&obj.name, &realm.name);
        obj
    }

    /// This end's port actor, once the channel is shipped.
    pub(crate) fn shipped_port(&self) -> Option<Rc<ShippedPort>> {
        self.shipped.borrow().clone()
    }

    /// A port received in a message: its incarnation here.
    pub(crate) fn set_shipped_port(&self, sp: Rc<ShippedPort>) {
        *self.shipped.borrow_mut() = Some(sp);
    }

    /// Whether the has-been-shipped flag is set (on this port and its twin).
    pub(crate) fn is_shipped(&self) -> bool {
        self.channel.shipped.load(Ordering::Acquire)
    }

    /// For a never-shipped channel: the peer end's key and whether its queue is enabled
    /// (both ends are in this realm). `None` once shipped.
    fn unshipped_peer(&self, pair: &EntangledPair<Queued, PortOwner>) -> Option<(u64, bool)> {
        if self.is_shipped() {
            return None;
        }
        let peer = self.end.peer();
        match pair.ownership(peer) {
            Ownership::Owned { owner, .. } => Some((owner.key, pair.is_enabled(peer))),
            _ => None,
        }
    }

    /// A task was added to the queue of the unshipped peer `(key, enabled)`: it takes its
    /// place in the unshipped port message queue now, or, while the peer's queue is
    /// disabled, its place in line for when it is started.
    fn task_added_unshipped(&self, (key, enabled): (u64, bool)) {
        let Some(realm) = self.realm.upgrade() else {
            return;
        };
        if enabled {
            realm.event_loop.enqueue_unshipped(realm.host_id(), key, 0);
        } else if let Some(peer) = realm.port(key) {
            let seq = realm.event_loop.next_seq();
            peer.pending.borrow_mut().push(seq);
        }
    }

    /// Closes this end in the entanglement; the peer's `close` task is queued by the
    /// wake-up protocol or, unshipped, in the unshipped port message queue.
    fn close_end(&self) {
        if let Some(sp) = self.shipped_port() {
            sp.close();
            return;
        }
        let mut pair = self.channel.lock();
        let notify = pair.close_would_notify(self.end);
        let unshipped = if notify {
            self.unshipped_peer(&pair)
        } else {
            None
        };
        let (dropped, w) = pair.close(self.end);
        drop(pair);
        match unshipped {
            Some(peer) => self.task_added_unshipped(peer),
            None => wake(w),
        }
        // Dropping the undelivered messages drops the ports they carried, which closes them.
        drop(dropped);
    }

    fn close(&self) {
        if self.state.get() != PortObjectState::Active {
            self.state.set(PortObjectState::Closed);
            return;
        }
        self.state.set(PortObjectState::Closed);
        self.close_end();
        trace::port_closed(&self.name);
        self.listeners.clear();
        if let Some(realm) = self.realm.upgrade() {
            realm.release_port(self.key);
        }
    }
}

impl Drop for PortObject {
    fn drop(&mut self) {
        if let Some(sp) = self.shipped.get_mut().take() {
            // The owner lets go of the end: what it sent and was not acked, and its
            // `close`, go to the directory for the peer.
            sp.orphan();
            trace::port_closed(&self.name);
        } else if self.state.get() == PortObjectState::Active {
            self.close_end();
            trace::port_closed(&self.name);
        }
        if let Some(realm) = self.realm.upgrade() {
            realm.forget_port(self.key);
        }
    }
}

impl TransferablePort for PortObject {
    fn is_detached(&self) -> bool {
        self.state.get() != PortObjectState::Active
    }

    fn transfer(&self) -> Box<dyn Any + Send> {
        // Transfer steps: set the has-been-shipped flag, move the port message queue into
        // the data holder (here: the queue stays in the entanglement, ownerless), and
        // remember the remote port (the entanglement itself).
        self.set_shipped();
        let shipped = self.shipped.borrow_mut().take().map(|sp| {
            let directory = sp.directory().clone();
            (sp.ship(), directory)
        });
        let generation = shipped.as_ref().map(|(s, _)| s.epoch());
        self.state.set(PortObjectState::Shipped);
        self.listeners.clear();
        if let Some(realm) = self.realm.upgrade() {
            realm.release_port(self.key);
        }
        Box::new(PortDataHolder {
            channel: Some(self.channel.clone()),
            end: self.end,
            generation: generation.unwrap_or(u64::MAX),
            shipped,
            silent: false,
        })
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A `MessagePort` (<https://html.spec.whatwg.org/multipage/web-messaging.html#messageport>).
///
/// Here a page hands one end of a channel to a worker (transferring it), talks over it,
/// and closes its own end: the worker's end gets `close` after the messages sent before.
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
///     let tx = tx.clone();
///     let worker = scope.spawn_worker_with("https://app.example/w.js", move |w: &Scope| {
///         let tx = tx.clone();
///         w.on_message(move |_: &Scope, e: &MessageEvent| {
///             let port = e.ports()[0].clone();
///             let (t1, t2) = (tx.clone(), tx.clone());
///             port.on_message_as(move |_: &Scope, _: &MessageEvent, s: String| {
///                 let _ = t1.send(s);
///             });
///             port.on_close(move |_: &Scope, _: &MessageEvent| {
///                 let _ = t2.send("close".into());
///             });
///         });
///     })?;
///     let (mine, theirs) = scope.message_channel().into_ports();
///     // After the transfer, `theirs` is detached here: it lives in the worker now.
///     worker.post_with_transfer(&"take this port", &[theirs.to_value()])?;
///     assert!(!theirs.is_active());
///     mine.post("over the port")?;
///     mine.close();
///     Ok(())
/// })?;
/// let mut got = Vec::new();
/// while got.len() < 2 {
///     let next = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
///     got.push(next.ok().flatten().expect("an event"));
/// }
/// assert_eq!(got, ["over the port", "close"]);
/// browser.shutdown();
/// # Ok(())
/// # }
/// ```
///
/// A handle to a port object of one realm; clones are the same object. It is not `Send`:
/// it belongs to the realm that owns the port, as a JavaScript object does. To move a port
/// elsewhere, transfer it in a `postMessage` (`port.to_value()` in the transfer list).
#[derive(Clone)]
pub struct MessagePort(pub(crate) Rc<PortObject>);

impl fmt::Debug for MessagePort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessagePort({}, {:?})", self.0.name, self.0.state.get())
    }
}

impl PartialEq for MessagePort {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for MessagePort {}

/// Options of `postMessage(message, options)` (`StructuredSerializeOptions`).
#[derive(Clone, Default)]
pub struct StructuredSerializeOptions {
    /// Objects to transfer rather than clone (ports, ArrayBuffers).
    pub transfer: Vec<Value>,
}

impl MessagePort {
    pub(crate) fn from_object(obj: &Object) -> Option<MessagePort> {
        let port = obj.as_port()?;
        let any: Rc<dyn Any> = port;
        any.downcast::<PortObject>().ok().map(MessagePort)
    }

    /// The `MessagePort` a value refers to, if it is one: a port read from `event.data`
    /// or returned by [`Scope::structured_clone`].
    pub fn from_value(value: &Value) -> Option<MessagePort> {
        match value {
            Value::Object(o) => MessagePort::from_object(o),
            _ => None,
        }
    }

    /// This port as a value, to put in a transfer list or inside a message. Every call
    /// wraps the same port: wrappers of one port are one transferable (listing two of
    /// them is a duplicate).
    pub fn to_value(&self) -> Value {
        Value::Object(Object::new_port(self.0.clone()))
    }

    /// A readable name for logs and traces, like `port3.2` (channel 3, `port2`), with
    /// `@n` after n transfers.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Whether this object can still be used: false once it was closed or transferred.
    pub fn is_active(&self) -> bool {
        self.0.state.get() == PortObjectState::Active
    }

    /// Whether this port is still entangled with another.
    pub fn is_entangled(&self) -> bool {
        if !self.is_active() {
            return false;
        }
        match self.0.shipped_port() {
            Some(sp) => sp.state.borrow().is_entangled(),
            None => self.0.channel.lock().is_entangled(),
        }
    }

    /// `port.postMessage(message, transfer)`.
    ///
    /// Errors (`DataCloneError`) are returned synchronously; then nothing was sent and
    /// nothing was detached. Posting on a closed, transferred or unentangled port does
    /// nothing, silently.
    pub fn post_message(&self, message: &Value, transfer: &[Value]) -> Result<()> {
        self.post_checked(transfer, false, |t| {
            clone::structured_serialize_with_transfer(message, t).map(Queued::new)
        })
    }

    /// `port.postMessage(message, { transfer })`.
    pub fn post_message_with_options(
        &self,
        message: &Value,
        options: &StructuredSerializeOptions,
    ) -> Result<()> {
        self.post_message(message, &options.transfer)
    }

    /// Posts any `T: Serialize`, serialized straight into the record.
    pub fn post<T: Serialize + ?Sized>(&self, data: &T) -> Result<()> {
        self.post_bounded(data, false)
    }

    /// Posts any `T: Serialize` with a transfer list (the transferred ports arrive in
    /// `event.ports`).
    pub fn post_with_transfer<T: Serialize + ?Sized>(
        &self,
        data: &T,
        transfer: &[Value],
    ) -> Result<()> {
        self.post_checked(transfer, false, |t| {
            clone::serialize_transfer_only(to_record(data)?, t).map(Queued::new)
        })
    }

    fn post_checked(
        &self,
        transfer: &[Value],
        strict: bool,
        serialize: impl FnOnce(&[Value]) -> Result<Queued>,
    ) -> Result<()> {
        // Step 1: targetPort is the entangled port, if any (the entanglement knows it).
        // Step 2: this port in its own transfer list is a DataCloneError.
        // Step 3-4: the entangled port in the transfer list dooms the message.
        let mut doomed = false;
        for p in ports_in(transfer) {
            if Rc::ptr_eq(&p.0, &self.0) {
                return Err(Error::data_clone(
                    "a MessagePort cannot be transferred through itself",
                ));
            }
            if Arc::ptr_eq(&p.0.channel, &self.0.channel) && p.0.end != self.0.end {
                doomed = true;
            }
        }
        // A bounded queue (not in the standard) that is full refuses the post before
        // anything is serialized or detached (see `bounded`).
        let drop_oldest = if self.0.state.get() == PortObjectState::Active {
            bounded::before_post(&self.0, strict)?
        } else {
            false
        };
        // Step 5: serialize with transfer; rethrow.
        let serialized = serialize(transfer).inspect_err(|e| {
            if let Some(realm) = self.0.realm.upgrade() {
                trace::thrown(&realm.name, "MessagePort.postMessage", e);
            }
        })?;
        if self.0.state.get() != PortObjectState::Active {
            trace::dropped(&self.0.name, "port is closed or was transferred");
            return Ok(());
        }
        if doomed {
            // Step 6: the target port was posted to itself: the channel is lost.
            log::warn!(target: "webmessaging::port", "{}: the entangled port was transferred through its own channel; message discarded, channel lost", self.0.name);
            trace::dropped(&self.0.name, "target port posted to itself (doomed)");
            // Both ends die silently: no `close` at this port (the shipped twin's holder,
            // dropped with the message, finds the pair already closed).
            let lost = self.0.channel.lock().lose();
            drop(lost);
            let mut serialized = serialized;
            if let Some(transfer) = serialized.transfer_mut() {
                // The twin goes silently; any other port in the list closes as a port
                // lost with a discarded message does (its peer gets `close`).
                for h in transfer.take_port_holders() {
                    if let Ok(mut h) = h.downcast::<PortDataHolder>() {
                        if h.channel
                            .as_ref()
                            .is_some_and(|c| Arc::ptr_eq(c, &self.0.channel))
                        {
                            h.silent = true;
                        }
                    }
                }
            }
            if let Some(sp) = self.0.shipped_port() {
                sp.lose();
            }
            drop(serialized);
            return Ok(());
        }
        if let Some(sp) = self.0.shipped_port() {
            // Step 7, shipped: the peer's incarnation gets it, wherever it lives.
            trace::port_posted(&self.0.name);
            sp.post(serialized);
            if drop_oldest {
                bounded::after_post(&self.0);
            }
            return Ok(());
        }
        // Step 7: add a task to the entangled port's port message queue.
        let mut pair = self.0.channel.lock();
        let r = pair.post(self.0.end, serialized);
        match r {
            Ok(w) => {
                let unshipped = self.0.unshipped_peer(&pair);
                drop(pair);
                trace::port_posted(&self.0.name);
                match unshipped {
                    Some(peer) => self.0.task_added_unshipped(peer),
                    None => wake(w),
                }
                if drop_oldest {
                    bounded::after_post(&self.0);
                }
            }
            Err(undelivered) => {
                trace::dropped(&self.0.name, "port not entangled");
                drop(undelivered)
            }
        }
        Ok(())
    }

    /// `port.start()`: enables the port message queue.
    pub fn start(&self) {
        if self.is_active() {
            if let Some(sp) = self.0.shipped_port() {
                sp.start_queue();
                return;
            }
            let w = self.0.channel.lock().start(self.0.end);
            if self.0.is_shipped() {
                wake(w);
                return;
            }
            // Unshipped: the tasks added while the queue was disabled join the unshipped
            // port message queue in the order they were added, among the other ports'.
            let pending = std::mem::take(&mut *self.0.pending.borrow_mut());
            if let Some(realm) = self.0.realm.upgrade() {
                for seq in pending {
                    realm.event_loop.enqueue_at(
                        TaskSource::UnshippedPorts,
                        seq,
                        Task::Unshipped {
                            realm: realm.host_id(),
                            key: self.0.key,
                            generation: self.0.generation,
                            count: 1,
                        },
                    );
                }
            }
        }
    }

    /// `port.close()`: disentangles the port; the peer gets a `close` event after the
    /// messages this port sent before. The port is then detached: transferring it is a
    /// `DataCloneError`. Closing twice does nothing.
    pub fn close(&self) {
        self.0.close();
    }

    pub(crate) fn keep_alive(&self) {
        if let Some(realm) = self.0.realm.upgrade() {
            realm.retain_port(&self.0);
        }
    }

    /// `port.addEventListener(type, listener)`. Does not start the port.
    pub fn add_event_listener<F, R>(&self, event_type: EventType, listener: F) -> ListenerId
    where
        F: Fn(&Scope, &MessageEvent) -> R + 'static,
        R: ListenerOutput,
    {
        self.keep_alive();
        self.0
            .listeners
            .add(event_type, event::untyped(listener), true)
    }

    /// `port.removeEventListener(...)`.
    pub fn remove_event_listener(&self, id: ListenerId) -> bool {
        self.0.listeners.remove(id)
    }

    /// `port.onmessage = listener`: replaces the handler and, the first time, starts the
    /// port (as if `start()` had been called).
    pub fn on_message<F, R>(&self, listener: F)
    where
        F: Fn(&Scope, &MessageEvent) -> R + 'static,
        R: ListenerOutput,
    {
        self.keep_alive();
        self.0
            .listeners
            .set_handler(EventType::Message, Some((event::untyped(listener), true)));
        self.start();
    }

    /// Like [`on_message`](Self::on_message), reading `event.data` as a `T`; when the data
    /// does not deserialize as `T`, a `messageerror` event is fired instead.
    pub fn on_message_as<T, F, R>(&self, listener: F)
    where
        T: DeserializeOwned,
        F: Fn(&Scope, &MessageEvent, T) -> R + 'static,
        R: ListenerOutput,
    {
        self.keep_alive();
        self.0
            .listeners
            .set_handler(EventType::Message, Some((event::typed(listener), false)));
        self.start();
    }

    /// `port.onmessageerror = listener`. Like the other listeners, it keeps the port
    /// alive while its owner realm lives. Does not start the port.
    pub fn on_message_error<F, R>(&self, listener: F)
    where
        F: Fn(&Scope, &MessageEvent) -> R + 'static,
        R: ListenerOutput,
    {
        self.keep_alive();
        self.0.listeners.set_handler(
            EventType::MessageError,
            Some((event::untyped(listener), false)),
        );
    }

    /// `port.onclose = listener` (the `close` event of the living standard).
    pub fn on_close<F, R>(&self, listener: F)
    where
        F: Fn(&Scope, &MessageEvent) -> R + 'static,
        R: ListenerOutput,
    {
        self.keep_alive();
        self.0
            .listeners
            .set_handler(EventType::Close, Some((event::untyped(listener), false)));
    }
}

/// The ports named in a transfer list (duplicates are the core's check, made with every
/// other transfer-list check when the message is serialized).
fn ports_in(transfer: &[Value]) -> impl Iterator<Item = MessagePort> + '_ {
    transfer.iter().filter_map(|v| match v {
        Value::Object(o) => MessagePort::from_object(o),
        _ => None,
    })
}
