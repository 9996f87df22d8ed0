//! Ports held by a user's own actix actor: a service that is not a realm (a pricing
//! engine, a database front, a test double) takes one end of a channel from a page and
//! talks over it with typed actix messages, without a realm closure.
//!
//! Taking a port out of a realm ([`ActorPort::take`]) is a transfer: the realm's
//! `MessagePort` is detached and the channel is shipped, exactly as when the port is
//! posted. An [`ActorPort`] not attached yet is the port in transit: its messages wait,
//! and dropping it closes the port (its peer gets `close`). [`ActorPort::attach`] gives it
//! to an actor: every message arrives at the actor's mailbox as a [`PortEvent`], in order,
//! deserialized as the actor's `T`; the returned [`AttachedPort`] posts and closes, and
//! closes the port when dropped. A port that arrives in a message (in its transfer list)
//! comes as an [`ActorPort`] too: a capability the actor can attach to itself or hand on.

use std::sync::Arc;

use actix::Recipient;
use serde::de::DeserializeOwned;
use serde::Serialize;
use webmessaging_core::clone::SerializedRecord;
use webmessaging_core::rehoming::Body;
use webmessaging_core::serde_bridge::{from_record, to_record};
use webmessaging_core::value::TransferablePort;
use webmessaging_core::{Error, Result};

use super::bounded::ActorFlow;
use super::shipped::{PortAddr, PortMsg};
use super::{Dispatch, MessagePort, PortDataHolder, Queued, ShippedPort, Slot};

/// What an actor holding a port receives: one actix message per task of the port's queue.
#[derive(Debug)]
pub enum PortEvent<T> {
    /// `message`: the data as the actor's type, and the ports that came with it.
    Message {
        /// The message's data.
        data: T,
        /// The ports in its transfer list, each in transit to this actor.
        ports: Vec<ActorPort>,
    },
    /// `messageerror`: the data could not be read as `T`.
    MessageError {
        /// Why (a `DataCloneError`).
        error: Error,
    },
    /// `close`: the other end was closed, or its owner went away. Nothing follows.
    Close,
}

impl<T: 'static> actix::Message for PortEvent<T> {
    type Result = ();
}

/// One end of a shipped channel on its way to an actor (not attached yet).
///
/// `Send`: hand it to an actor in a message. Dropped unattached, it closes the port.
///
/// A doubling service, an actix actor outside any realm, answers a page over a port:
///
/// ```
/// use std::time::Duration;
/// use actix::{Actor, AsyncContext, Context, Handler, Message};
/// use webmessaging::prelude::*;
/// use webmessaging::{ActorPort, AttachedPort, PortEvent};
///
/// struct Doubler(Option<AttachedPort>);
/// impl Actor for Doubler {
///     type Context = Context<Self>;
/// }
/// struct Take(ActorPort);
/// impl Message for Take {
///     type Result = ();
/// }
/// impl Handler<Take> for Doubler {
///     type Result = ();
///     fn handle(&mut self, m: Take, ctx: &mut Context<Self>) {
///         self.0 = Some(m.0.attach::<u32>(ctx.address().recipient()));
///     }
/// }
/// impl Handler<PortEvent<u32>> for Doubler {
///     type Result = ();
///     fn handle(&mut self, ev: PortEvent<u32>, _: &mut Context<Self>) {
///         if let (PortEvent::Message { data, .. }, Some(port)) = (ev, &self.0) {
///             port.post(&(data * 2)).unwrap();
///         }
///     }
/// }
///
/// # #[actix_rt::main]
/// # async fn main() -> webmessaging::Result<()> {
/// let doubler = Doubler(None).start();
/// let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
/// let browser = Browser::new();
/// let _page = browser.open_with("https://app.example/", move |scope: &Scope| -> webmessaging::Result<()> {
///     let (mine, theirs) = scope.message_channel().into_ports();
///     let tx = tx.clone();
///     mine.on_message_as(move |_: &Scope, _: &MessageEvent, n: u32| {
///         let _ = tx.send(n);
///     });
///     doubler.do_send(Take(ActorPort::take(&theirs)?));
///     mine.post(&21u32)?;
///     scope.set_global(mine);
///     Ok(())
/// })?;
/// let answer = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
/// assert_eq!(answer.ok().flatten(), Some(42));
/// browser.shutdown();
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ActorPort {
    holder: PortDataHolder,
}

impl std::fmt::Debug for PortDataHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PortDataHolder({:?}, {})", self.end, self.generation)
    }
}

impl ActorPort {
    /// Takes `port` out of its realm (the transfer steps: the port is detached there).
    ///
    /// # Errors
    /// `DataCloneError` if the port is detached already (closed or transferred).
    pub fn take(port: &MessagePort) -> Result<ActorPort> {
        if port.0.is_detached() {
            return Err(Error::data_clone(
                "the MessagePort is detached (closed or transferred)",
            ));
        }
        let holder = port
            .0
            .transfer()
            .downcast::<PortDataHolder>()
            .map_err(|_| Error::data_clone("not a MessagePort's data holder"))?;
        Ok(ActorPort { holder: *holder })
    }

    /// A port that arrived in a message's transfer list.
    pub(crate) fn from_holder(holder: PortDataHolder) -> ActorPort {
        ActorPort { holder }
    }

    /// Gives the port to the actor behind `recipient`: a port actor starts on this
    /// thread (the next incarnation of the end, step 4 of the re-homing protocol), its
    /// queue enabled, and every task, those that waited first, arrives at the actor as a
    /// [`PortEvent<T>`], in order. Call it from inside an actix arbiter (an actor's
    /// handler, say).
    pub fn attach<T>(self, recipient: Recipient<PortEvent<T>>) -> AttachedPort
    where
        T: DeserializeOwned + Send + 'static,
    {
        self.attach_raw(move |event: RawPortEvent| {
            let event = match event {
                RawPortEvent::Message { record, ports } => match from_record::<T>(&record) {
                    Ok(data) => PortEvent::Message { data, ports },
                    Err(error) => PortEvent::MessageError { error },
                },
                RawPortEvent::Close => PortEvent::Close,
            };
            recipient.do_send(event);
        })
    }

    /// Like [`attach`](ActorPort::attach), but every task of the port's queue goes to
    /// `sink` as a [`RawPortEvent`]: the serialized record as it was posted, not
    /// deserialized. For code that forwards messages without reading them (a bridge to
    /// another process, say): `sink` runs on this thread, in the port's order, once per
    /// task. Call it from inside an actix arbiter.
    pub fn attach_raw<F>(mut self, sink: F) -> AttachedPort
    where
        F: Fn(RawPortEvent) + 'static,
    {
        let channel = self.holder.channel.as_ref().map_or(0, |c| c.id);
        let flow = self
            .holder
            .channel
            .as_ref()
            .and_then(|c| c.bound.as_ref())
            .map(|b| Arc::new(ActorFlow::new(b)));
        let Some((end, directory)) = self.holder.shipped.take() else {
            sink(RawPortEvent::Close);
            if let Some(f) = &flow {
                f.close();
            }
            return AttachedPort { addr: None, flow };
        };
        let closing = flow.clone();
        let body_sink = move |body: Body<Slot>| {
            let event = match body {
                Body::Message(slot) => {
                    let Some(q) = slot.take() else { return };
                    let (record, transfer) = q.into_parts();
                    let ports = transfer
                        .map(|mut t| t.take_port_holders())
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|h| h.downcast::<PortDataHolder>().ok())
                        .map(|h| ActorPort::from_holder(*h))
                        .collect();
                    RawPortEvent::Message { record, ports }
                }
                Body::Close => {
                    if let Some(f) = &closing {
                        f.close();
                    }
                    RawPortEvent::Close
                }
            };
            sink(event);
        };
        let dispatch = Dispatch::Sink(Box::new(body_sink), flow.clone());
        let sp = ShippedPort::receive(end, channel, directory, dispatch);
        sp.start_queue();
        AttachedPort {
            addr: Some(sp.addr()),
            flow,
        }
    }
}

/// What [`ActorPort::attach_raw`]'s sink receives: one per task of the port's queue,
/// the data still serialized.
#[derive(Debug)]
pub enum RawPortEvent {
    /// `message`: the serialized record as posted, and the ports that came with it.
    Message {
        /// The message's data, serialized (read it with
        /// [`from_record`](webmessaging_core::serde_bridge::from_record) or forward it).
        record: SerializedRecord,
        /// The ports in its transfer list, each in transit.
        ports: Vec<ActorPort>,
    },
    /// `close`: the other end was closed, or its owner went away. Nothing follows.
    Close,
}

/// An end of a shipped channel held by an actor: posts to the other end, closes the port
/// when dropped. `Send + Sync`: it talks to the end's port actor through its mailbox.
///
/// On a bounded channel ([`Scope::bounded_message_channel`](crate::Scope::bounded_message_channel))
/// it keeps the channel's bound (see [`crate::port::bounded`]): [`ready`](Self::ready)
/// waits for room, [`post_when_ready`](Self::post_when_ready) waits and posts.
pub struct AttachedPort {
    addr: Option<PortAddr>,
    flow: Option<Arc<ActorFlow>>,
}

impl std::fmt::Debug for AttachedPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AttachedPort")
    }
}

impl AttachedPort {
    /// `postMessage(data)` to the other end, any `T: Serialize` (no transfer list).
    /// Posting after either end closed does nothing, as in a browser.
    ///
    /// # Errors
    /// `DataCloneError` if `data` cannot be serialized.
    ///
    /// On a bounded channel with [`Overflow::Reject`](crate::Overflow::Reject), a full
    /// queue refuses the post with `QuotaExceededError` (nothing is sent); with
    /// `DropOldest` the post goes in and the oldest waiting message is dropped.
    pub fn post<T: Serialize + ?Sized>(&self, data: &T) -> Result<()> {
        let record = to_record(data)?;
        self.send_record(record, false)
    }

    /// Like [`post`](Self::post), but refuses with `QuotaExceededError` on a full bounded
    /// queue whatever the channel's policy. On an unbounded channel, the same as `post`.
    ///
    /// # Errors
    /// `DataCloneError` if `data` cannot be serialized; `QuotaExceededError` when full.
    pub fn try_post<T: Serialize + ?Sized>(&self, data: &T) -> Result<()> {
        let record = to_record(data)?;
        self.send_record(record, true)
    }

    /// `postMessage` of data already serialized (a record received from elsewhere, say;
    /// no transfer list). The other end reads it as if it had been posted here.
    /// Posting after either end closed does nothing.
    ///
    /// It is never refused for lack of room (a forwarder must not lose what it already
    /// took from elsewhere): it counts in a bounded queue, and with `DropOldest` a full
    /// one drops its oldest message. Await [`ready`](Self::ready) first to stay within
    /// the bound.
    pub fn post_record(&self, record: SerializedRecord) {
        if let Some(flow) = &self.flow {
            flow.force();
        }
        self.send(record);
    }

    fn send_record(&self, record: SerializedRecord, strict: bool) -> Result<()> {
        if let Some(flow) = &self.flow {
            if flow.is_closed() {
                return Ok(());
            }
            flow.admit(strict)?;
        }
        self.send(record);
        Ok(())
    }

    fn send(&self, record: SerializedRecord) {
        if let Some(addr) = &self.addr {
            addr.send(PortMsg::Post(Slot::new(Queued::plain(record))));
        }
    }

    /// Resolves when a post would find room in the bounded queue to the other end (the
    /// receiver acked enough): backpressure for a producing actor, the asynchronous form
    /// of a `MessagePort`'s `drain` event. At once on an unbounded channel.
    ///
    /// # Errors
    /// `InvalidStateError` once either end is closed (no room will come: a producer
    /// waiting in a loop stops instead of hanging).
    pub async fn ready(&self) -> Result<()> {
        match &self.flow {
            Some(flow) => flow.ready().await,
            None if self.addr.is_none() => Err(Error::InvalidState("the port is closed".into())),
            None => Ok(()),
        }
    }

    /// Waits for room ([`ready`](Self::ready)), then posts `data`: an asynchronous post
    /// that never drops or refuses for lack of room, whatever the channel's policy.
    /// Several tasks may await it on one port; each takes a place when it has one.
    ///
    /// # Errors
    /// `DataCloneError` if `data` cannot be serialized; `InvalidStateError` once either
    /// end is closed.
    pub async fn post_when_ready<T: Serialize + ?Sized>(&self, data: &T) -> Result<()> {
        let record = to_record(data)?;
        loop {
            self.ready().await?;
            match self.send_record(record.clone(), true) {
                Err(Error::QuotaExceeded(_)) => continue,
                other => return other,
            }
        }
    }

    /// Messages this end posted that a full queue dropped (`Overflow::DropOldest`).
    pub fn overflow_drops(&self) -> u64 {
        self.flow.as_ref().map_or(0, |f| f.dropped())
    }

    /// The capacity of this port's channel, if it is bounded.
    pub fn capacity(&self) -> Option<usize> {
        self.flow.as_ref().map(|f| f.capacity())
    }

    /// `close()`: the other end gets `close` after every message posted before.
    pub fn close(&mut self) {
        if let Some(flow) = &self.flow {
            flow.close();
        }
        if let Some(addr) = &self.addr {
            addr.send(PortMsg::Close);
        }
    }
}

impl Drop for AttachedPort {
    fn drop(&mut self) {
        if let Some(addr) = self.addr.take() {
            addr.send(PortMsg::Release);
        }
    }
}
