//! The broadcast registry: one actor holding every open `BroadcastChannel` of the runtime
//! by (origin, name), in creation order, fanning a post out as one batch per destination
//! event loop.
//!
//! [`BroadcastChannel.postMessage()`](https://html.spec.whatwg.org/multipage/web-messaging.html#dom-broadcastchannel-postmessage)
//! steps 7-10: the destinations are the channels of the same origin and name, open, other
//! than the source, created before the post; one task each, queued on the DOM manipulation
//! task source of the destination's event loop, in creation order. The registry sees
//! channels as ids, slots and event-loop addresses: it never names a realm (the handles
//! layer runs a batch through its [`Host`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix::{Actor, Addr, Arbiter, Context, Handler};
use webmessaging_core::clone::SerializedRecord;
use webmessaging_core::origin::Origin;

use crate::event_loop::{EventLoop, Host, LoopMessage};
use crate::id_hash::IdHash;
use crate::kernel::metrics::{refused_by_loop_bound, LoopLoad};

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
    pub(crate) record: Arc<SerializedRecord>,
    pub(crate) origin: Arc<str>,
}

/// One open channel, as the registry knows it.
pub(crate) struct Entry<H: Host> {
    id: u64,
    slot: u32,
    /// Unregistered (see [`ChannelList::removed`]).
    removed: bool,
    closed: Arc<AtomicBool>,
    event_loop: Addr<EventLoop<H>>,
    /// The message tasks waiting in that loop.
    load: Arc<LoopLoad>,
}

impl<H: Host> Clone for Entry<H> {
    fn clone(&self) -> Self {
        Entry {
            id: self.id,
            slot: self.slot,
            removed: self.removed,
            closed: self.closed.clone(),
            event_loop: self.event_loop.clone(),
            load: self.load.clone(),
        }
    }
}

impl<H: Host> Entry<H> {
    /// The registration of channel `id` (in `slot` of its thread's table), open while
    /// `closed` is false, living on `event_loop` (whose waiting message tasks `load`
    /// counts).
    pub(crate) fn new(
        id: u64,
        slot: u32,
        closed: Arc<AtomicBool>,
        event_loop: Addr<EventLoop<H>>,
        load: Arc<LoopLoad>,
    ) -> Self {
        Entry {
            id,
            slot,
            removed: false,
            closed,
            event_loop,
            load,
        }
    }
}

/// What the registry is told.
pub(crate) enum RegistryMessage<H: Host> {
    Register {
        key: Key,
        entry: Entry<H>,
    },
    Unregister {
        key: Key,
        id: u64,
    },
    Post {
        key: Key,
        source: u64,
        seq: u64,
        record: Arc<SerializedRecord>,
        origin: Arc<str>,
        /// [`Limits::max_queued_per_event_loop`](crate::Limits::max_queued_per_event_loop)
        /// when the post was made: a destination loop with that many message tasks
        /// waiting gets none of this post's deliveries.
        loop_bound: Option<usize>,
    },
}

impl<H: Host> actix::Message for RegistryMessage<H> {
    type Result = ();
}

/// The registry actor: every open `BroadcastChannel`, keyed by (origin, name), in creation
/// order.
pub(crate) struct BroadcastRegistry<H: Host> {
    /// Hashed by [`Key`]'s own (keyed) hash, folded by [`IdHash`].
    channels: HashMap<Key, ChannelList<H>, IdHash>,
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

/// One event loop's destinations of a post: the loop, its load, the targets.
type Batch<H, T> = (Addr<EventLoop<H>>, Arc<LoopLoad>, T);

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
            if let Some((_, _, v)) = batches.last_mut().filter(|(a, _, _)| a == &e.event_loop) {
                v.push(t);
                continue;
            }
            match batches.iter_mut().find(|(a, _, _)| a == &e.event_loop) {
                Some((_, _, v)) => v.push(t),
                None => batches.push((e.event_loop.clone(), e.load.clone(), vec![t])),
            }
        }
        batches
            .into_iter()
            .map(|(a, l, v)| (a, l, Arc::from(v)))
            .collect()
    }
}

impl<H: Host<Delivery = BroadcastDelivery>> BroadcastRegistry<H> {
    /// Starts the registry on a thread of its own; returns its address and that thread's
    /// handle (stopped by `Browser::shutdown`). In the simulated mode (`on_this_thread`),
    /// on this thread, beside the simulated event loops.
    pub(crate) fn start(on_this_thread: bool) -> (Addr<Self>, Option<actix::ArbiterHandle>) {
        if on_this_thread {
            let addr = BroadcastRegistry {
                channels: HashMap::default(),
            }
            .start();
            return (addr, None);
        }
        let arbiter = Arbiter::new();
        let addr = Self::start_in_arbiter(&arbiter.handle(), |_| BroadcastRegistry {
            channels: HashMap::default(),
        });
        (addr, Some(arbiter.handle()))
    }
}

impl<H: Host<Delivery = BroadcastDelivery>> Actor for BroadcastRegistry<H> {
    type Context = Context<Self>;
}

impl<H: Host<Delivery = BroadcastDelivery>> Handler<RegistryMessage<H>> for BroadcastRegistry<H> {
    type Result = ();

    fn handle(&mut self, msg: RegistryMessage<H>, _ctx: &mut Self::Context) {
        match msg {
            RegistryMessage::Register { key, entry } => {
                let list = self.channels.entry(key).or_default();
                list.cache = None;
                let list = &mut list.entries;
                // Keep creation order even if registrations from two threads cross.
                let at = list.partition_point(|e| e.id < entry.id);
                list.insert(at, entry);
            }
            RegistryMessage::Unregister { key, id } => {
                if let Some(list) = self.channels.get_mut(&key) {
                    list.cache = None;
                    // The list is sorted by id (see Register): find the entry by binary
                    // search and mark it removed; the marked entries are dropped in one
                    // pass once they are half the list, so closing n channels of one
                    // name is O(n log n), not O(n^2) (a `Vec::remove` each).
                    let at = list.entries.partition_point(|e| e.id < id);
                    if let Some(e) = list.entries.get_mut(at) {
                        if e.id == id && !e.removed {
                            e.removed = true;
                            list.removed += 1;
                        }
                    }
                    if list.live() == 0 {
                        self.channels.remove(&key);
                    } else if list.removed * 2 > list.entries.len() {
                        list.entries.retain(|e| !e.removed);
                        list.removed = 0;
                    }
                }
            }
            RegistryMessage::Post {
                key,
                source,
                seq,
                record,
                origin,
                loop_bound,
            } => {
                let Some(list) = self.channels.get_mut(&key) else {
                    return;
                };
                // The cached destinations serve this post if they were made for the same
                // source and every channel of the list was created before this post (the
                // list is sorted by id), so none is excluded by `seq`.
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
                // Step 10: queue one task per destination (as one batch per event loop).
                for (addr, load, targets) in batches {
                    if !load.try_admit(loop_bound) {
                        refused_by_loop_bound(
                            "BroadcastChannel",
                            &format!("broadcast to {} channel(s)", targets.len()),
                        );
                        continue;
                    }
                    addr.do_send(LoopMessage::Delivery(BroadcastDelivery {
                        targets: targets.clone(),
                        record: record.clone(),
                        origin: origin.clone(),
                    }));
                }
            }
        }
    }
}

/// Asks the registry how many channels are registered (for leak checks).
pub(crate) struct CountChannels;

impl actix::Message for CountChannels {
    type Result = usize;
}

impl<H: Host<Delivery = BroadcastDelivery>> Handler<CountChannels> for BroadcastRegistry<H> {
    type Result = usize;

    fn handle(&mut self, _: CountChannels, _: &mut Self::Context) -> usize {
        self.channels.values().map(ChannelList::live).sum()
    }
}
