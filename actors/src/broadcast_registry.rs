//! The broadcast registry: every open `BroadcastChannel` of the runtime by (origin,
//! name), in creation order, fanning a post out as one batch per destination event loop.
//!
//! [`BroadcastChannel.postMessage()`](https://html.spec.whatwg.org/multipage/web-messaging.html#dom-broadcastchannel-postmessage)
//! steps 7-10: the destinations are the channels of the same origin and name, open, other
//! than the source, created before the post; one task each, queued on the DOM manipulation
//! task source of the destination's event loop, in creation order. The registry sees
//! channels as ids, slots and event-loop addresses: it never names a realm (the handles
//! layer runs a batch through its [`Host`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use webmessaging_core::clone::SerializedRecord;
use webmessaging_core::origin::Origin;

use crate::event_loop::{Host, LoopAddr};
use crate::id_hash::IdHash;
use crate::kernel::metrics::refused_by_loop_bound;

/// A destination of a broadcast: the channel's id and its slot in its thread's
/// channel table.
#[derive(Clone, Copy)]
pub(crate) struct Target {
    pub(crate) id: u64,
    pub(crate) slot: u32,
}

/// A channel list's key: (origin, name), with its hash made once, when the channel is
/// constructed, instead of at every post the registry routes.
///
/// The hash is SipHash with the process's random keys (the name is chosen by script, so
/// the registry keeps the protection against chosen collisions); equality still compares
/// the origin and the name.
#[derive(Clone)]
pub(crate) struct Key {
    hash: u64,
    origin: Origin,
    name: Arc<str>,
}

impl Key {
    /// The key of the channels named `name` of `origin`.
    pub(crate) fn new(origin: Origin, name: Arc<str>) -> Key {
        use std::hash::BuildHasher;
        static KEYS: std::sync::OnceLock<std::collections::hash_map::RandomState> =
            std::sync::OnceLock::new();
        let hash = KEYS
            .get_or_init(Default::default)
            .hash_one((&origin, &*name));
        Key { hash, origin, name }
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.hash == other.hash && self.name == other.name && self.origin == other.origin
    }
}

impl Eq for Key {}

impl std::hash::Hash for Key {
    fn hash<S: std::hash::Hasher>(&self, state: &mut S) {
        state.write_u64(self.hash);
    }
}

/// A batch of deliveries for one event loop, in creation order.
pub(crate) struct BroadcastDelivery {
    /// Shared with the registry's cache of the source's destinations ([`ChannelList`]).
    pub(crate) targets: Arc<[Target]>,
    pub(crate) record: DeliveryRecord,
    pub(crate) origin: Arc<str>,
}

/// A post's serialized message, as a batch carries it: its own when the post has one
/// destination loop (no shared allocation), else shared by the batches.
pub(crate) enum DeliveryRecord {
    /// The only batch of its post.
    Owned(SerializedRecord),
    /// One of several batches of its post.
    Shared(Arc<SerializedRecord>),
}

/// One open channel, as the registry knows it.
pub(crate) struct Entry<H: Host> {
    id: u64,
    slot: u32,
    /// Unregistered (see [`ChannelList::removed`]).
    removed: bool,
    closed: Arc<AtomicBool>,
    /// The channel's event loop (with the message tasks waiting in it).
    event_loop: LoopAddr<H>,
}

impl<H: Host> Clone for Entry<H> {
    fn clone(&self) -> Self {
        Entry {
            id: self.id,
            slot: self.slot,
            removed: self.removed,
            closed: self.closed.clone(),
            event_loop: self.event_loop.clone(),
        }
    }
}

impl<H: Host> Entry<H> {
    /// The registration of channel `id` (in `slot` of its thread's table), open while
    /// `closed` is false, living on `event_loop`.
    pub(crate) fn new(
        id: u64,
        slot: u32,
        closed: Arc<AtomicBool>,
        event_loop: LoopAddr<H>,
    ) -> Self {
        Entry {
            id,
            slot,
            removed: false,
            closed,
            event_loop,
        }
    }
}

/// The broadcast registry: every open `BroadcastChannel` of a runtime, keyed by (origin,
/// name), in creation order.
///
/// It is shared state behind one lock, not an actor: a channel registers, unregisters
/// and posts by calling it on its own thread, so a post costs no hop through a registry
/// thread. The lock orders every registration and post of the runtime (a post's
/// destinations are those registered, open and created before it when it takes the
/// lock), and each post's batches are queued (on the loop's own thread) or sent to the
/// destination loop's mailbox while it is held, so every event loop receives the posts
/// in that one order.
pub(crate) struct BroadcastRegistry<H: Host> {
    /// Hashed by [`Key`]'s own (keyed) hash, folded by [`IdHash`].
    channels: Mutex<HashMap<Key, ChannelList<H>, IdHash>>,
    /// Set by [`BroadcastRegistry::stop`] (the runtime shut down): posts go nowhere.
    stopped: AtomicBool,
}

/// The channels of one (origin, name), sorted by id (creation order).
struct ChannelList<H: Host> {
    entries: Vec<Entry<H>>,
    /// Entries unregistered but still in `entries` (marked `removed`): removing from the
    /// middle of a long list shifts it, so closing n channels one by one would be O(n^2);
    /// they are dropped in one pass once they are half the list.
    removed: usize,
    /// The destinations of the last post (its source channel's id and the batches), reused
    /// by the next posts from the same source while the list does not change: a burst from
    /// one channel does not rebuild (and allocate) the same batches per post. Cleared by
    /// every `Register` and `Unregister`. Channels closed since it was made are still in it;
    /// the event loop skips them (a closed channel never reopens).
    cache: Option<(u64, Batches<H>)>,
}

/// A post's destinations, one list per event loop, each in creation order.
type Batches<H> = Vec<Batch<H, Arc<[Target]>>>;

/// One event loop's destinations of a post: the loop, the targets.
type Batch<H, T> = (LoopAddr<H>, T);

impl<H: Host> Default for ChannelList<H> {
    fn default() -> Self {
        ChannelList {
            entries: Vec::new(),
            removed: 0,
            cache: None,
        }
    }
}

impl<H: Host> ChannelList<H> {
    fn live(&self) -> usize {
        self.entries.len() - self.removed
    }

    /// Steps 7-9: the destinations of a post from `source` with creation number `seq`: same
    /// origin and name (this list), open, not the source, created before the post, grouped
    /// by event loop in creation order.
    fn destinations(&self, source: u64, seq: u64) -> Batches<H> {
        let mut batches: Vec<Batch<H, Vec<Target>>> = Vec::new();
        for e in &self.entries {
            if e.id == source || e.id > seq || e.removed || e.closed.load(Ordering::Acquire) {
                continue;
            }
            let t = Target {
                id: e.id,
                slot: e.slot,
            };
            // Consecutive destinations are usually on one event loop: the last batch is
            // tried first.
            if let Some((_, v)) = batches.last_mut().filter(|(a, _)| a == &e.event_loop) {
                v.push(t);
                continue;
            }
            match batches.iter_mut().find(|(a, _)| a == &e.event_loop) {
                Some((_, v)) => v.push(t),
                None => batches.push((e.event_loop.clone(), vec![t])),
            }
        }
        batches
            .into_iter()
            .map(|(a, v)| (a, Arc::from(v)))
            .collect()
    }
}

impl<H: Host<Delivery = BroadcastDelivery>> BroadcastRegistry<H> {
    /// An empty registry.
    pub(crate) fn new() -> Self {
        BroadcastRegistry {
            channels: Mutex::new(HashMap::default()),
            stopped: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Key, ChannelList<H>, IdHash>> {
        self.channels.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The constructor's registration of channel `entry` under `key`.
    pub(crate) fn register(&self, key: Key, entry: Entry<H>) {
        let mut channels = self.lock();
        let list = channels.entry(key).or_default();
        list.cache = None;
        let list = &mut list.entries;
        // Keep creation order even if registrations from two threads cross (a channel's
        // number is taken before the lock).
        let at = list.partition_point(|e| e.id < entry.id);
        list.insert(at, entry);
    }

    /// `close()`: channel `id` of `key` leaves the registry.
    pub(crate) fn unregister(&self, key: &Key, id: u64) {
        let mut channels = self.lock();
        let Some(list) = channels.get_mut(key) else {
            return;
        };
        list.cache = None;
        // The list is sorted by id (see `register`): find the entry by binary search and
        // mark it removed; the marked entries are dropped in one pass once they are half
        // the list, so closing n channels of one name is O(n log n), not O(n^2) (a
        // `Vec::remove` each).
        let at = list.entries.partition_point(|e| e.id < id);
        if let Some(e) = list.entries.get_mut(at) {
            if e.id == id && !e.removed {
                e.removed = true;
                list.removed += 1;
            }
        }
        if list.live() == 0 {
            channels.remove(key);
        } else if list.removed * 2 > list.entries.len() {
            list.entries.retain(|e| !e.removed);
            list.removed = 0;
        }
    }

    /// Steps 7-10 of `post`, made on a channel of `key`: one task per destination, queued
    /// as one batch per destination event loop.
    pub(crate) fn post(&self, key: &Key, post: Post) {
        if self.stopped.load(Ordering::Acquire) {
            return;
        }
        let Post {
            source,
            seq,
            mut record,
            origin,
            loop_bound,
        } = post;
        let mut channels = self.lock();
        let Some(list) = channels.get_mut(key) else {
            return;
        };
        // The cached destinations serve this post if they were made for the same source
        // and every channel of the list was created before this post (the list is sorted
        // by id), so none is excluded by `seq`.
        let all_before = list.entries.last().is_some_and(|e| e.id < seq);
        let fresh;
        let batches = match &list.cache {
            Some((s, b)) if *s == source && all_before => b,
            _ => {
                let b = list.destinations(source, seq);
                if all_before {
                    &list.cache.insert((source, b)).1
                } else {
                    fresh = b;
                    &fresh
                }
            }
        };
        // One destination loop (the usual case) takes the record itself; several share it.
        let shared = (batches.len() > 1).then(|| Arc::new(std::mem::take(&mut record)));
        // Step 10: queue one task per destination (as one batch per event loop), under
        // the lock, so that every loop receives the posts in the registry's order (a
        // loop of this thread queues its batch at once).
        for (event_loop, targets) in batches {
            if !event_loop.load().try_admit(loop_bound) {
                refused_by_loop_bound(
                    "BroadcastChannel",
                    &format!("broadcast to {} channel(s)", targets.len()),
                );
                continue;
            }
            let record = match &shared {
                Some(r) => DeliveryRecord::Shared(r.clone()),
                None => DeliveryRecord::Owned(std::mem::take(&mut record)),
            };
            event_loop.deliver(BroadcastDelivery {
                targets: targets.clone(),
                record,
                origin: origin.clone(),
            });
        }
    }

    /// How many channels are registered (for leak checks).
    pub(crate) fn count(&self) -> usize {
        self.lock().values().map(ChannelList::live).sum()
    }

    /// The runtime shut down: later posts go nowhere (the loops are closing).
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
    }
}

/// A post, as the registry routes it.
pub(crate) struct Post {
    /// The posting channel's id (it gets no copy).
    pub(crate) source: u64,
    /// The post's place in creation order.
    pub(crate) seq: u64,
    /// The serialized message (every delivery deserializes its own copy from it).
    pub(crate) record: SerializedRecord,
    /// `event.origin` at the receivers.
    pub(crate) origin: Arc<str>,
    /// [`Limits::max_queued_per_event_loop`](crate::Limits::max_queued_per_event_loop)
    /// when the post was made: a destination loop with that many message tasks waiting
    /// gets none of this post's deliveries.
    pub(crate) loop_bound: Option<usize>,
}
