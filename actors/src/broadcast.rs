//! `BroadcastChannel` and the broadcast registry.
//!
//! Spec: <https://html.spec.whatwg.org/multipage/web-messaging.html#broadcasting-to-other-browsing-contexts>.
//!
//! # How it is carried by actors
//!
//! One registry per [`Browser`](crate::Browser) keeps every open channel keyed by
//! (origin, name), in creation order. Each opaque origin is a key of its own, so it is an
//! island. The registry is shared state under one lock, not an actor: creating, closing
//! and posting call it on the channel's own thread, so they are ordered as they were made
//! (per thread, and across threads in the order they take the lock), and a post costs no
//! hop through another thread. A post's destinations are the channels created before it
//! and still open when it takes the lock. "Created before" is decided by one process-wide
//! sequence shared by channels and posts, so a channel made after a post never gets it.
//!
//! Deliveries are grouped by event loop: the post sends one batch per event loop (the
//! thread of a browsing-context group, or a worker's thread), while it holds the lock, so
//! every loop receives the posts in the registry's one order. Each batch is addressed to
//! that loop's root actor (the group's top-level window, or the worker), listing the destinations in
//! creation order. The root runs them in that order, each as its own task, so deliveries
//! follow creation order across every frame that shares the event loop, as the standard
//! requires. Each destination deserializes its own copy, and a channel closed after the
//! post but before its task runs gets nothing. A listener that panics crashes its own
//! realm only: the realm stops being fully active at once (no more deliveries to it, in
//! this batch or later ones) and its actor tears it down and tells its supervisor.
//!
//! # Eligibility and teardown
//!
//! Only channels whose global is *eligible for messaging* (a window whose document is fully
//! active, a worker whose closing flag is false) send or receive. A channel created in a
//! context that is not eligible is never registered; a realm that goes away (navigation,
//! iframe removal, window close, worker `close()`/`terminate()`, crash) closes its
//! channels, which releases their registry entries. Following the living standard, the
//! eligibility check comes first in `postMessage`, so posting on such a channel is
//! silently ignored rather than an `InvalidStateError` (WPT `detached-iframe.html`).
//!
//! # Names
//!
//! The IDL constructor takes a `DOMString`: `new BroadcastChannel()` is a `TypeError` and
//! other values are `ToString`ed (`null` → `"null"`). Here the name is a `&str`, so neither
//! can happen; `""` is a valid name.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use webmessaging_core::clone::{self, SerializedRecord};
use webmessaging_core::serde_bridge::to_record;
use webmessaging_core::value::Value;
use webmessaging_core::{Error, Result};

use crate::broadcast_registry::{self, DeliveryRecord, Entry, Key, Post, Target};
use crate::dispatch;
use crate::event::{
    self, EventTarget, EventType, ListenerId, ListenerOutput, Listeners, MessageEvent,
};
use crate::kernel::trace;
use crate::realm::{RealmInner, RealmKind};
use crate::realm_actor::{RealmActor, RealmAddr, RealmMessage};
use crate::scope::Scope;

/// Creation order of channels and posts, one counter for both: a post's destinations are
/// the channels whose number is smaller than the post's.
static SEQ: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The channels living on this thread (an event loop), for the root actor that runs
    /// their deliveries.
    static CHANNELS: RefCell<ChannelTable> = const {
        RefCell::new(ChannelTable {
            slots: Vec::new(),
            free: Vec::new(),
        })
    };
}

/// A slab of this thread's channels. The registry carries each destination's slot with its
/// id ([`Target`]), so a delivery finds its channel by index instead of hashing the id; the
/// id is checked because a freed slot is reused by a later channel.
struct ChannelTable {
    /// (channel id, channel); id 0 marks a free slot (ids start at 1).
    slots: Vec<(u64, Weak<ChannelObject>)>,
    free: Vec<u32>,
}

impl ChannelTable {
    fn insert(&mut self, id: u64, channel: Weak<ChannelObject>) -> u32 {
        if let Some(slot) = self.free.pop() {
            self.slots[slot as usize] = (id, channel);
            slot
        } else {
            self.slots.push((id, channel));
            u32::try_from(self.slots.len() - 1).expect("fewer than 2^32 channels per thread")
        }
    }

    /// Frees `slot` if it still holds channel `id`; returns its `Weak` (to drop outside
    /// the borrow).
    fn remove(&mut self, slot: u32, id: u64) -> Option<Weak<ChannelObject>> {
        let s = self.slots.get_mut(slot as usize)?;
        if s.0 != id {
            return None;
        }
        s.0 = 0;
        let w = std::mem::take(&mut s.1);
        self.free.push(slot);
        Some(w)
    }

    #[inline]
    fn get(&self, t: Target) -> Option<Rc<ChannelObject>> {
        let s = self.slots.get(t.slot as usize)?;
        if s.0 == t.id {
            s.1.upgrade()
        } else {
            None
        }
    }
}

pub(crate) struct ChannelObject {
    id: u64,
    /// The channel's slot in its thread's [`ChannelTable`] (registered channels only).
    slot: u32,
    name: Arc<str>,
    /// The registry's key (origin, name), hashed once.
    key: Key,
    /// The rate limiter's key for this channel's name ([`channel_key`]), made once.
    rate_key: u64,
    /// The origin serialized, shared by every post (`event.origin` at the receivers).
    serialized_origin: Arc<str>,
    realm: Weak<RealmInner>,
    realm_addr: RealmAddr,
    closed: Arc<AtomicBool>,
    /// Registered with the registry (false for channels made in a realm that was not
    /// fully active: they neither send nor receive).
    registered: bool,
    registry: Arc<BroadcastRegistry>,
    listeners: Listeners,
    kept: Cell<bool>,
}

impl ChannelObject {
    fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        if self.registered {
            self.registry.unregister(&self.key, self.id);
        }
        // `try_with`: a channel may be dropped while its thread's locals are torn down.
        if self.registered {
            let _ = CHANNELS.try_with(|c| {
                if let Ok(mut c) = c.try_borrow_mut() {
                    c.remove(self.slot, self.id);
                }
            });
        }
        self.listeners.clear();
        if let Some(realm) = self.realm.upgrade() {
            realm.broadcast.release(self.id);
        }
    }
}

impl Drop for ChannelObject {
    fn drop(&mut self) {
        self.close();
    }
}

/// A `BroadcastChannel` (<https://html.spec.whatwg.org/multipage/web-messaging.html#broadcastchannel>).
///
/// Not `Send`: it belongs to the realm that made it. It stays open while a handle to it
/// exists, or while it has a `message` listener and its realm lives; `close()`, dropping
/// every handle of a channel with no listener, or the realm going away closes it.
///
/// A post reaches every other open channel of the same name and origin, in any window or
/// worker, never its own channel, and never another origin's:
///
/// ```
/// use std::time::Duration;
/// use webmessaging::prelude::*;
///
/// # #[actix_rt::main]
/// # async fn main() -> webmessaging::Result<()> {
/// let browser = Browser::new();
/// let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
/// for url in ["https://app.example/a", "https://app.example/b", "https://other.example/"] {
///     let tx = tx.clone();
///     let window = browser.open_with(url, move |scope: &Scope| {
///         let tx = tx.clone();
///         let me = scope.url().to_string();
///         scope.broadcast_channel("session").on_message_as(
///             move |_: &Scope, e: &MessageEvent, s: String| {
///                 let _ = tx.send(format!("{me} got {s:?} from {}", e.origin()));
///             },
///         );
///     })?;
///     window.settle().await?;
/// }
/// let sender = browser.open("https://app.example/sender")?;
/// sender.run(|scope: &Scope| scope.broadcast_channel("session").post("logout")).await??;
/// let mut got = Vec::new();
/// while got.len() < 2 {
///     let next = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
///     got.push(next.ok().flatten().expect("a delivery"));
/// }
/// got.sort();
/// assert_eq!(got, [
///     r#"https://app.example/a got "logout" from https://app.example"#,
///     r#"https://app.example/b got "logout" from https://app.example"#,
/// ]);
/// // https://other.example/ got nothing: another origin.
/// assert!(tokio::time::timeout(Duration::from_millis(50), rx.recv()).await.is_err());
/// browser.shutdown();
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct BroadcastChannel(Rc<ChannelObject>);

impl fmt::Debug for BroadcastChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BroadcastChannel({:?} #{})", &*self.0.name, self.0.id)
    }
}

impl PartialEq for BroadcastChannel {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl BroadcastChannel {
    pub(crate) fn new_in(realm: &Rc<RealmInner>, name: &str) -> BroadcastChannel {
        // The constructor: channel name, settings object = this realm, closed = false.
        let id = SEQ.fetch_add(1, Ordering::Relaxed);
        let name: Arc<str> = Arc::from(name);
        let rate_key = channel_key(&name);
        // Only a channel made in a context eligible for messaging is registered (sends or
        // receives).
        let registered = eligible(realm);
        let registry = realm.browser.registry();
        let closed = Arc::new(AtomicBool::new(false));
        let obj = Rc::new_cyclic(|weak| ChannelObject {
            id,
            // Registered channels take a slot in this thread's table now (a `Weak` that
            // upgrades once the channel is built).
            slot: if registered {
                CHANNELS.with(|c| c.borrow_mut().insert(id, weak.clone()))
            } else {
                u32::MAX
            },
            name: name.clone(),
            key: Key::new(realm.origin.clone(), name.clone()),
            rate_key,
            serialized_origin: Arc::from(realm.origin.serialize()),
            realm: Rc::downgrade(realm),
            realm_addr: realm.addr.clone(),
            closed: closed.clone(),
            registered,
            registry: registry.clone(),
            listeners: Listeners::default(),
            kept: Cell::new(false),
        });
        if obj.registered {
            realm.broadcast.track(&obj);
            registry.register(
                obj.key.clone(),
                Entry::new(id, obj.slot, closed, realm.addr.loop_addr().clone()),
            );
        }
        BroadcastChannel(obj)
    }

    /// `channel.name`.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Whether `close()` was called (or the realm went away).
    pub fn is_closed(&self) -> bool {
        self.0.closed.load(Ordering::Acquire)
    }

    /// `channel.postMessage(message)`: to every *other* open channel of the same name and
    /// origin, each with its own copy, never back to this one.
    ///
    /// A post from a context that is not eligible for messaging (a document that is not
    /// fully active, such as a removed iframe's, or a worker that is closing) is ignored:
    /// `Ok(())`, nothing sent, nothing serialized.
    ///
    /// # Errors
    /// `InvalidStateError` on a closed channel (checked before serializing, so it wins over
    /// `DataCloneError`); `DataCloneError` for what cannot be cloned.
    pub fn post_message(&self, message: &Value) -> Result<()> {
        self.post_record(|| clone::structured_serialize(message))
    }

    /// Posts any `T: Serialize`.
    pub fn post<T: Serialize + ?Sized>(&self, data: &T) -> Result<()> {
        self.post_record(|| to_record(data))
    }

    fn post_record(&self, serialize: impl FnOnce() -> Result<SerializedRecord>) -> Result<()> {
        // Living standard, step 2: if this is not eligible for messaging (its global is a
        // Window whose document is not fully active, or a worker whose closing flag is
        // set), return. Note: the seed excerpt has no such step; we follow the living
        // standard, where it comes before the closed check, so a channel of a removed
        // iframe (closed by its realm's teardown) neither throws nor sends.
        let Some(realm) = self.0.realm.upgrade() else {
            return Ok(());
        };
        if !eligible(&realm) || !self.0.registered {
            trace::dropped(
                &realm.name,
                "broadcast from a context that is not fully active",
            );
            return Ok(());
        }
        // Step 3: a closed channel throws InvalidStateError, before serializing.
        let thrown = |e: &Error| trace::thrown(&realm.name, "BroadcastChannel.postMessage", e);
        if self.is_closed() {
            let e = Error::InvalidState(format!("BroadcastChannel {:?} is closed", &*self.0.name));
            thrown(&e);
            return Err(e);
        }
        // Step 4 (seed step 6): serialize; rethrow.
        let record = serialize().inspect_err(thrown)?;
        // The runtime's rate limit, if same-origin traffic is limited: one bucket per
        // origin and channel name. Refused: sent nowhere (counted, traced).
        if !realm.admit(self.0.rate_key, false, "broadcast") {
            return Ok(());
        }
        // The post's place in creation order: destinations are the channels created
        // before it (step 5's list is made now; the registry applies it).
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        if trace::is_enabled() {
            trace::record(
                trace::TraceKind::Post,
                &realm.name,
                &format!("BroadcastChannel {}", self.0.name),
                "BroadcastChannel.postMessage",
            );
        }
        self.0.registry.post(
            &self.0.key,
            Post {
                source: self.0.id,
                seq,
                record,
                origin: self.0.serialized_origin.clone(),
                loop_bound: realm.browser.loop_bound(),
            },
        );
        Ok(())
    }

    /// `channel.close()`: never throws, even when repeated.
    pub fn close(&self) {
        self.0.close();
    }

    fn keep(&self) {
        if !self.0.kept.replace(true) {
            if let Some(realm) = self.0.realm.upgrade() {
                realm.broadcast.keep(&self.0);
            }
        }
    }

    /// `channel.addEventListener(type, listener)`.
    pub fn add_event_listener<F, R>(&self, event_type: EventType, listener: F) -> ListenerId
    where
        F: Fn(&Scope, &MessageEvent) -> R + 'static,
        R: ListenerOutput,
    {
        self.keep();
        self.0
            .listeners
            .add(event_type, event::untyped(listener), true)
    }

    /// `channel.removeEventListener(...)`.
    ///
    /// When no `message` listener is left, the realm stops keeping the channel alive: it
    /// lives on only while a handle to it exists.
    pub fn remove_event_listener(&self, id: ListenerId) -> bool {
        let removed = self.0.listeners.remove(id);
        if removed && self.0.kept.get() && self.0.listeners.snapshot(EventType::Message).is_empty()
        {
            self.0.kept.set(false);
            if let Some(realm) = self.0.realm.upgrade() {
                realm.broadcast.unkeep(self.0.id);
            }
        }
        removed
    }

    /// `channel.onmessage = listener`.
    pub fn on_message<F, R>(&self, listener: F)
    where
        F: Fn(&Scope, &MessageEvent) -> R + 'static,
        R: ListenerOutput,
    {
        self.keep();
        self.0
            .listeners
            .set_handler(EventType::Message, Some((event::untyped(listener), true)));
    }

    /// `onmessage` reading `event.data` as a `T` (`messageerror` when it does not
    /// deserialize).
    pub fn on_message_as<T, F, R>(&self, listener: F)
    where
        T: DeserializeOwned,
        F: Fn(&Scope, &MessageEvent, T) -> R + 'static,
        R: ListenerOutput,
    {
        self.keep();
        self.0
            .listeners
            .set_handler(EventType::Message, Some((event::typed(listener), false)));
    }

    /// `channel.onmessageerror = listener`.
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
}

/// [Eligible for messaging](https://html.spec.whatwg.org/multipage/web-messaging.html#eligible-for-messaging):
/// a window whose document is fully active, or a worker whose closing flag is false.
///
/// A document stops being fully active as soon as its browsing context or an ancestor's
/// is closed or removed (synchronously, as in a browser), before its actor has handled the
/// teardown.
fn eligible(realm: &RealmInner) -> bool {
    realm.is_alive()
        && match &realm.kind {
            RealmKind::Worker(s) => !s.is_stopped(),
            RealmKind::Window(w) => {
                let mut bc = Some(w);
                while let Some(w) = bc {
                    if w.closed() {
                        return false;
                    }
                    bc = w.0.parent.as_ref();
                }
                true
            }
        }
}

/// The broadcast channels of one realm: kept alive while they have listeners, closed when
/// the realm goes away.
pub(crate) struct BroadcastScope {
    channels: RefCell<HashMap<u64, TrackedChannel>>,
}

/// A channel of a realm: always weakly, and strongly while it has a `message` listener.
type TrackedChannel = (Weak<ChannelObject>, Option<Rc<ChannelObject>>);

impl BroadcastScope {
    pub(crate) fn new() -> BroadcastScope {
        BroadcastScope {
            channels: RefCell::new(HashMap::new()),
        }
    }

    fn track(&self, c: &Rc<ChannelObject>) {
        self.channels
            .borrow_mut()
            .insert(c.id, (Rc::downgrade(c), None));
    }

    fn keep(&self, c: &Rc<ChannelObject>) {
        if let Some(e) = self.channels.borrow_mut().get_mut(&c.id) {
            e.1 = Some(c.clone());
        }
    }

    fn unkeep(&self, id: u64) {
        let strong = self
            .channels
            .borrow_mut()
            .get_mut(&id)
            .and_then(|e| e.1.take());
        // Dropped outside the borrow (the caller holds a handle, so it is not the last).
        drop(strong);
    }

    fn release(&self, id: u64) {
        if let Ok(mut ch) = self.channels.try_borrow_mut() {
            let e = ch.remove(&id);
            drop(ch);
            drop(e);
        }
    }

    /// Closes every channel of the realm.
    pub(crate) fn close_all(&self) {
        // In creation order (ids grow), whatever the map's hashing.
        let mut all: Vec<_> = self.channels.borrow_mut().drain().collect();
        all.sort_by_key(|(id, _)| *id);
        for (_, (w, strong)) in all {
            if let Some(c) = w.upgrade() {
                c.close();
            }
            drop(strong);
        }
    }

    /// How many channels the realm has open.
    pub(crate) fn len(&self) -> usize {
        self.channels.borrow().len()
    }
}

/// Runs a batch on the event loop's thread (called by its root actor).
///
/// Each destination is still its own task in creation order, with the checks made when
/// its turn comes (an earlier listener of the batch may have closed it or made its realm
/// not fully active), but what every delivery shares is made once per batch: one event
/// (`realm::broadcast_event`: the shared record and origin; each delivery sets its target
/// and starts with an empty value cell, so each destination deserializes its own copy)
/// and the `Scope` of consecutive destinations in one realm.
pub(crate) fn run_deliveries(d: BroadcastDelivery) {
    let record = match d.record {
        DeliveryRecord::Owned(r) => event::EventRecord::Owned(r),
        DeliveryRecord::Shared(r) => event::EventRecord::Shared(r),
    };
    let mut ev = dispatch::broadcast_event(record, origin_here(&d.origin).into());
    // The realm of the previous destination (kept for the batch only).
    let mut scope: Option<Scope> = None;
    for &t in d.targets.iter() {
        let Some(channel) = CHANNELS.with(|c| c.borrow().get(t)) else {
            continue;
        };
        // Closed after the message was posted (or never open): it gets nothing.
        if channel.closed.load(Ordering::Acquire) {
            continue;
        }
        let s = match &mut scope {
            // Same realm as the previous destination: the cached `Scope` holds it alive,
            // so the address comparison is sound.
            Some(s) if std::ptr::eq(Rc::as_ptr(&s.0), channel.realm.as_ptr()) => s,
            cached => {
                let Some(realm) = channel.realm.upgrade() else {
                    continue;
                };
                cached.insert(Scope(realm))
            }
        };
        // A destination that stopped being eligible (its document is no longer fully
        // active, its worker is closing) runs no task.
        if !eligible(&s.0) {
            continue;
        }
        // The event's target holds this delivery's handle on the channel.
        ev.target = Some(EventTarget::BroadcastChannel(BroadcastChannel(channel)));
        let Some(EventTarget::BroadcastChannel(BroadcastChannel(channel))) = &ev.target else {
            unreachable!("set above");
        };
        if let Some(message) = dispatch::fire_in(s, &channel.listeners, &ev) {
            // The destination's realm crashed: its own actor tears it down and tells its
            // supervisor; no more deliveries to it in this batch.
            // Until then it is not fully active: nothing more is delivered to it, in this
            // batch or in batches already queued on this event loop.
            s.0.mark_not_fully_active();
            channel.realm_addr.do_send(RealmMessage::Crash { message });
        }
        // What this delivery made is dropped now, before the next one (as its own event
        // was before): the channel handle, and the value a listener may have deserialized.
        ev.target = None;
        ev.clear_value();
    }
}

thread_local! {
    /// The last sender origin a batch on this thread carried, as `event.origin` (a burst
    /// from one channel shares one `Rc`, instead of a copy per batch). Keyed by the
    /// `Arc`'s address: a pointer compare, cheaper than `event::share_str`'s string compare
    /// on this path.
    static LAST_ORIGIN: RefCell<Option<(Arc<str>, Rc<str>)>> = const { RefCell::new(None) };
}

/// `origin` as an `Rc<str>` of this thread, shared with the previous batch's when it
/// is the same sender origin.
fn origin_here(origin: &Arc<str>) -> Rc<str> {
    LAST_ORIGIN.with(|last| {
        let mut last = last.borrow_mut();
        match &*last {
            Some((a, rc)) if Arc::ptr_eq(a, origin) => rc.clone(),
            _ => {
                let rc: Rc<str> = Rc::from(&**origin);
                *last = Some((origin.clone(), rc.clone()));
                rc
            }
        }
    })
}

/// The registry of the threaded runtime, holding every open [`BroadcastChannel`] by
/// (origin, name), in creation order (see [`crate::broadcast_registry`]).
pub(crate) type BroadcastRegistry = broadcast_registry::BroadcastRegistry<RealmActor>;

/// A batch of broadcast deliveries for one event loop, as the realms' host receives it.
pub(crate) type BroadcastDelivery = broadcast_registry::BroadcastDelivery;

/// The rate limiter's key for the broadcast channels named `name` (of the sender's
/// origin, which the limiter keys on too).
fn channel_key(name: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut h);
    h.finish() | (1 << 63)
}
