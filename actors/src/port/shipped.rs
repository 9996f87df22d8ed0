//! Shipped ports as actors: once a port, its twin, or the object it was cloned from has
//! been transferred (the "has been shipped" flag), each end of the channel is a
//! [`PortActor`] at its owner, with a typed mailbox ([`PortMsg`]), holding the end's
//! state machine ([`PortEnd`] of the core's re-homing protocol); the two ends hold each
//! other's address, and the runtime's [`PortDirectory`] publishes where each end lives
//! when it moves.
//!
//! A transfer re-homes the end: the old incarnation stops (what reaches it afterwards is
//! dropped, neither dispatched nor acked), the data holder carries the send half and the
//! dispatch cursor, and the next incarnation starts at the receiving owner, disabled,
//! and registers with the directory. The peer then sends again what was not acked. See
//! [`webmessaging_core::rehoming`] for the protocol's steps.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use actix::{Actor, ActorContext, Addr, AsyncContext, Context, Handler, Recipient};
use webmessaging_core::rehoming::{Body, Effect, Envelope, Location, PortEnd, ShippedEnd};

pub(crate) use super::directory::DirMsg;
pub(crate) use super::directory::PortDirectory;
use super::Queued;
use crate::realm::RealmInner;
use crate::realm_actor::RealmMessage;

/// A message on a shipped channel: the sender keeps it until acked, and may send it again
/// after a move; the incarnation that dispatches it takes its contents, once.
///
/// The messages one task posts on one port share one allocation (a [`Batch`]): a slot is
/// the batch and an index in it, so a burst costs one allocation, not one per message.
#[derive(Clone)]
pub(crate) struct Slot {
    batch: Arc<Batch>,
    index: u32,
}

/// The messages of one task on one port, each taken once by whoever dispatches it.
pub(crate) struct Batch {
    items: Mutex<Vec<Option<Queued>>>,
}

impl Slot {
    /// A slot of its own.
    pub(crate) fn new(q: Queued) -> Slot {
        Slot {
            batch: Arc::new(Batch {
                items: Mutex::new(vec![Some(q)]),
            }),
            index: 0,
        }
    }

    /// A slot in `batch`, or in a new batch kept in `current` when there is none yet or
    /// it is full.
    fn in_batch(current: &mut Option<Arc<Batch>>, q: Queued) -> Slot {
        if let Some(batch) = current {
            let mut items = batch.items.lock().unwrap_or_else(|p| p.into_inner());
            if items.len() < u32::MAX as usize {
                items.push(Some(q));
                let index = (items.len() - 1) as u32;
                drop(items);
                return Slot {
                    batch: batch.clone(),
                    index,
                };
            }
        }
        let slot = Slot::new(q);
        *current = Some(slot.batch.clone());
        slot
    }

    /// The message, for the dispatching incarnation (`None` if taken already).
    pub(crate) fn take(&self) -> Option<Queued> {
        self.batch
            .items
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(self.index as usize)?
            .take()
    }
}

static NEXT_ADDR: AtomicU64 = AtomicU64::new(1);

/// The address of one incarnation of a shipped end.
#[derive(Clone)]
pub(crate) struct PortAddr {
    id: u64,
    /// Shared: a `Recipient` clone allocates (a boxed sender), and the state machine
    /// clones the address for every envelope.
    to: Arc<Recipient<PortMsg>>,
}

impl PartialEq for PortAddr {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

thread_local! {
    /// The incarnations living on this thread, by address: a message between two ends on
    /// one thread is handled at once, as a same-thread task is queued directly, instead
    /// of a round through an actor mailbox (the receiver still dispatches it as a task of
    /// its own event loop, after the sending task).
    static LOCAL: RefCell<HashMap<u64, Weak<ShippedPort>>> = RefCell::new(HashMap::new());
}

impl PortAddr {
    /// The incarnation, if it lives on this thread.
    fn local(&self) -> Option<Rc<ShippedPort>> {
        LOCAL
            .try_with(|l| l.borrow().get(&self.id).and_then(Weak::upgrade))
            .ok()
            .flatten()
    }

    /// Sends `m` to the incarnation: handled now if it lives on this thread, through its
    /// mailbox otherwise.
    pub(crate) fn send(&self, m: PortMsg) {
        match self.local() {
            Some(port) => {
                if port.handle(m) {
                    port.actor.do_send(StopPort);
                }
            }
            None => self.to.do_send(m),
        }
    }
}

/// Sends an effect that goes straight to a port actor (a delivery, an ack, a peer's new
/// address); a registration, which goes to the directory, is the caller's.
pub(crate) fn send_effect(e: Effect<PortAddr, Slot>) {
    match e {
        Effect::Deliver { to, envelopes, .. } => to.send(PortMsg::Deliver(envelopes)),
        Effect::Ack { to, upto, .. } => to.send(PortMsg::Ack(upto)),
        Effect::PeerMoved { to, peer, .. } => to.send(PortMsg::PeerMoved(peer)),
        Effect::Register { .. } => {}
    }
}

/// What a port actor's mailbox takes.
pub(crate) enum PortMsg {
    /// Envelopes from the peer (step 1).
    Deliver(Vec<Envelope<Slot>>),
    /// The peer dispatched up to this sequence number.
    Ack(u64),
    /// The peer lives elsewhere now (step 6).
    PeerMoved(Location<PortAddr>),
    /// Post from a handle on another thread (a user's actor's [`AttachedPort`]).
    ///
    /// [`AttachedPort`]: super::AttachedPort
    Post(Slot),
    /// `close()` from such a handle.
    Close,
    /// That handle was dropped: the owner is gone.
    Release,
}

impl actix::Message for PortMsg {
    type Result = ();
}

/// Where a shipped end's tasks run.
pub(crate) enum Dispatch {
    /// As tasks of its realm's event loop (the shipped port's task source).
    Realm {
        realm: Weak<RealmInner>,
        key: u64,
        epoch: u64,
    },
    /// Into a user's actor: each body, in order; with the flow of a bounded channel's
    /// end held there (see [`super::bounded::ActorFlow`]).
    Sink(
        Box<dyn Fn(Body<Slot>)>,
        Option<Arc<super::bounded::ActorFlow>>,
    ),
}

/// One incarnation of a shipped end, on its owner's thread.
pub(crate) struct ShippedPort {
    pub(crate) state: RefCell<PortEnd<PortAddr, Slot>>,
    me: PortAddr,
    actor: Addr<PortActor>,
    channel: u64,
    directory: Addr<PortDirectory>,
    dispatch: Dispatch,
    /// A dispatch task is queued (realm owners).
    scheduled: Cell<bool>,
    /// Envelopes posted in the current task, by destination, sent at its end as one
    /// message each (realm owners: the receiver cannot run before the task ends, so the
    /// batching cannot be seen).
    outbox: RefCell<Vec<(PortAddr, Vec<Envelope<Slot>>)>>,
    flush_pending: Cell<bool>,
    /// The batch the current task's messages go into (until the flush).
    batch: RefCell<Option<Arc<Batch>>>,
    /// Itself, for the deferred flush.
    this: RefCell<Weak<ShippedPort>>,
}

impl ShippedPort {
    /// The transfer-receiving steps (step 4): the next incarnation of `shipped` starts on
    /// this thread, disabled, and registers with the directory. A user's actor (a sink)
    /// owns its incarnation; a realm's port object owns the others.
    pub(crate) fn receive(
        shipped: ShippedEnd<PortAddr, Slot>,
        channel: u64,
        directory: Addr<PortDirectory>,
        dispatch: Dispatch,
    ) -> Rc<ShippedPort> {
        let r = Reserved::new();
        let (state, register) = shipped.receive(r.addr());
        let strong = matches!(dispatch, Dispatch::Sink(..));
        let port = ShippedPort::launch(r, channel, directory, dispatch, strong, state);
        port.apply([register]);
        port
    }

    /// Starts the incarnation whose address was `reserved`, with `state`.
    pub(crate) fn launch(
        reserved: Reserved,
        channel: u64,
        directory: Addr<PortDirectory>,
        dispatch: Dispatch,
        strong: bool,
        state: PortEnd<PortAddr, Slot>,
    ) -> Rc<ShippedPort> {
        let Reserved { ctx, actor, me } = reserved;
        let port = Rc::new(ShippedPort {
            state: RefCell::new(state),
            me,
            actor,
            channel,
            directory,
            dispatch,
            scheduled: Cell::new(false),
            outbox: RefCell::new(Vec::new()),
            flush_pending: Cell::new(false),
            batch: RefCell::new(None),
            this: RefCell::new(Weak::new()),
        });
        *port.this.borrow_mut() = Rc::downgrade(&port);
        let held = if strong {
            Held::Strong(port.clone())
        } else {
            Held::Weak(Rc::downgrade(&port))
        };
        ctx.run(PortActor { port: held });
        let _ = LOCAL.try_with(|l| {
            l.borrow_mut().insert(port.me.id, Rc::downgrade(&port));
        });
        port
    }

    /// Handles a message for this incarnation; `true` when it ends (its handle was
    /// released).
    fn handle(&self, msg: PortMsg) -> bool {
        match msg {
            PortMsg::Deliver(envelopes) => {
                self.state.borrow_mut().on_deliver(envelopes);
                self.schedule();
            }
            PortMsg::Ack(upto) => {
                let before = self.state.borrow().unacked();
                self.state.borrow_mut().on_ack(upto);
                if let Dispatch::Sink(_, Some(flow)) = &self.dispatch {
                    flow.acked(before - self.state.borrow().unacked());
                }
                // A bounded channel's refused sender waits for this room.
                if let Dispatch::Realm { realm, key, .. } = &self.dispatch {
                    if let Some(port) = realm.upgrade().and_then(|r| r.port(*key)) {
                        super::bounded::acked(&port);
                    }
                }
            }
            PortMsg::PeerMoved(peer) => {
                let e = self.state.borrow_mut().on_peer_moved(peer);
                self.apply(e);
            }
            PortMsg::Post(slot) => {
                let e = self.state.borrow_mut().post(slot);
                self.apply(e);
                if let Dispatch::Sink(_, Some(flow)) = &self.dispatch {
                    flow.after_post(&self.state.borrow());
                }
            }
            PortMsg::Close => self.close(),
            PortMsg::Release => {
                self.orphan();
                return true;
            }
        }
        false
    }

    /// This incarnation stops being reachable on this thread.
    fn unlist(&self) {
        let _ = LOCAL.try_with(|l| {
            l.borrow_mut().remove(&self.me.id);
        });
    }

    /// This incarnation's address.
    pub(crate) fn addr(&self) -> PortAddr {
        self.me.clone()
    }

    /// The channel's directory.
    pub(crate) fn directory(&self) -> &Addr<PortDirectory> {
        &self.directory
    }

    /// Sends what the state machine asks for.
    pub(crate) fn apply(&self, effects: impl IntoIterator<Item = Effect<PortAddr, Slot>>) {
        for e in effects {
            match e {
                Effect::Deliver { to, envelopes, .. } => self.send_envelopes(to, envelopes),
                Effect::Register { end, location } => self.directory.do_send(DirMsg::Register {
                    channel: self.channel,
                    end,
                    location,
                }),
                other => send_effect(other),
            }
        }
    }

    /// Sends envelopes to `to`: at the end of the current task, batched, for a realm's
    /// port; at once otherwise.
    fn send_envelopes(&self, to: PortAddr, envelopes: Vec<Envelope<Slot>>) {
        if let Dispatch::Sink(..) = &self.dispatch {
            to.send(PortMsg::Deliver(envelopes));
            return;
        }
        for env in envelopes {
            self.send_envelope(to.clone(), env);
        }
    }

    /// One envelope to `to`, batched like [`send_envelopes`](Self::send_envelopes): it
    /// joins the outbox's last batch when that goes to `to`.
    fn send_envelope(&self, to: PortAddr, env: Envelope<Slot>) {
        let Dispatch::Realm { realm, .. } = &self.dispatch else {
            to.send(PortMsg::Deliver(vec![env]));
            return;
        };
        {
            let mut out = self.outbox.borrow_mut();
            match out.last_mut() {
                Some((addr, batch)) if *addr == to => batch.push(env),
                _ => out.push((to, vec![env])),
            }
        }
        if self.flush_pending.replace(true) {
            return;
        }
        match realm.upgrade() {
            Some(realm) => {
                let this = self.this.borrow().clone();
                realm.event_loop.after_task(Box::new(move || {
                    if let Some(port) = this.upgrade() {
                        port.flush();
                    }
                }));
            }
            None => self.flush(),
        }
    }

    /// Sends what the current task posted.
    pub(crate) fn flush(&self) {
        self.flush_pending.set(false);
        *self.batch.borrow_mut() = None;
        let out = std::mem::take(&mut *self.outbox.borrow_mut());
        for (to, envelopes) in out {
            to.send(PortMsg::Deliver(envelopes));
        }
    }

    /// `postMessage` on this end.
    pub(crate) fn post(&self, q: Queued) {
        let slot = match &self.dispatch {
            Dispatch::Realm { .. } => Slot::in_batch(&mut self.batch.borrow_mut(), q),
            Dispatch::Sink(..) => Slot::new(q),
        };
        let one = self.state.borrow_mut().post_one(slot);
        if let Some((to, env)) = one {
            self.send_envelope(to, env);
        }
    }

    /// `start()`.
    pub(crate) fn start_queue(&self) {
        self.state.borrow_mut().start();
        self.schedule();
    }

    /// `close()`: in band, after what was sent.
    pub(crate) fn close(&self) {
        let e = self.state.borrow_mut().close();
        self.apply(e);
        self.schedule();
    }

    /// Acks what was dispatched.
    pub(crate) fn ack(&self) {
        let e = self.state.borrow_mut().ack();
        self.apply(e);
    }

    /// Makes sure the waiting tasks will run: a task of the owner realm's event loop, or
    /// straight into the user's actor.
    pub(crate) fn schedule(&self) {
        if !self.state.borrow().has_task() {
            return;
        }
        match &self.dispatch {
            Dispatch::Realm { realm, key, epoch } => {
                if self.scheduled.replace(true) {
                    return;
                }
                if let Some(realm) = realm.upgrade() {
                    realm.shared_addr.do_send(RealmMessage::PortReady {
                        key: *key,
                        generation: *epoch,
                    });
                }
            }
            Dispatch::Sink(sink, _) => {
                loop {
                    let next = self.state.borrow_mut().next_dispatch();
                    match next {
                        Some(body) => sink(body),
                        None => break,
                    }
                }
                self.ack();
            }
        }
    }

    /// The next task for the realm's dispatch task; `None` ends the batch (and a later
    /// delivery schedules a new one).
    pub(crate) fn next_task(&self) -> Option<Body<Slot>> {
        let next = self.state.borrow_mut().next_dispatch();
        if next.is_none() {
            self.scheduled.set(false);
            self.ack();
        }
        next
    }

    /// This incarnation stops: what it posted goes out, its state is taken out (a lost
    /// end stays in its place), and its actor stops.
    fn retire(&self) -> PortEnd<PortAddr, Slot> {
        self.flush();
        let end = self.state.borrow().end();
        let mut placeholder = PortEnd::new(end, self.me.clone(), self.me.clone());
        placeholder.lose();
        self.unlist();
        self.actor.do_send(StopPort);
        std::mem::replace(&mut *self.state.borrow_mut(), placeholder)
    }

    /// The transfer steps (step 2): this incarnation stops; its state goes with the port.
    pub(crate) fn ship(&self) -> ShippedEnd<PortAddr, Slot> {
        self.retire().ship()
    }

    /// The owner went away (step 7): the unacked messages and the `Close` go to the
    /// directory, for the peer wherever it lives.
    pub(crate) fn orphan(&self) {
        let state = self.retire();
        self.directory.do_send(DirMsg::Orphan {
            channel: self.channel,
            end: state.end(),
            envelopes: state.orphan(),
        });
    }

    /// The channel is lost (a doomed post): nothing more happens at this end, no `close`,
    /// and the directory counts the end as gone.
    pub(crate) fn lose(&self) {
        let end = {
            let mut state = self.state.borrow_mut();
            state.lose();
            state.end()
        };
        self.directory.do_send(DirMsg::Orphan {
            channel: self.channel,
            end,
            envelopes: Vec::new(),
        });
    }
}

impl Drop for ShippedPort {
    fn drop(&mut self) {
        self.unlist();
    }
}

/// A port actor's mailbox made before its state (two ends made at once need each other's
/// address first).
pub(crate) struct Reserved {
    ctx: Context<PortActor>,
    actor: Addr<PortActor>,
    me: PortAddr,
}

impl Reserved {
    /// A new mailbox on this thread.
    pub(crate) fn new() -> Reserved {
        let ctx = Context::<PortActor>::new();
        let actor = ctx.address();
        let me = PortAddr {
            id: NEXT_ADDR.fetch_add(1, Ordering::Relaxed),
            to: Arc::new(actor.clone().recipient()),
        };
        Reserved { ctx, actor, me }
    }

    /// Its address.
    pub(crate) fn addr(&self) -> PortAddr {
        self.me.clone()
    }
}

/// Stops a port actor (its incarnation shipped or orphaned).
struct StopPort;

impl actix::Message for StopPort {
    type Result = ();
}

enum Held {
    /// A realm's port object owns the incarnation.
    Weak(Weak<ShippedPort>),
    /// A user's actor holds it through an `AttachedPort` handle: the actor owns it.
    Strong(Rc<ShippedPort>),
}

/// The mailbox of one incarnation of a shipped end.
pub(crate) struct PortActor {
    port: Held,
}

impl Actor for PortActor {
    type Context = Context<Self>;
}

impl Handler<StopPort> for PortActor {
    type Result = ();

    fn handle(&mut self, _: StopPort, ctx: &mut Self::Context) {
        self.port = Held::Weak(Weak::new());
        ctx.stop();
    }
}

impl Handler<PortMsg> for PortActor {
    type Result = ();

    fn handle(&mut self, msg: PortMsg, ctx: &mut Self::Context) {
        let port = match &self.port {
            Held::Weak(w) => w.upgrade(),
            Held::Strong(p) => Some(p.clone()),
        };
        let Some(port) = port else {
            // The incarnation is gone (shipped on, or its owner went away): what reaches
            // it now is dropped, neither dispatched nor acked (step 2).
            ctx.stop();
            return;
        };
        if port.handle(msg) {
            self.port = Held::Weak(Weak::new());
            ctx.stop();
        }
    }
}
