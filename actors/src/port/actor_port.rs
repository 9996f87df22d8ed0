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

use std::sync::{Arc, Weak};

use actix::Recipient;
use serde::de::DeserializeOwned;
use serde::Serialize;
use webmessaging_core::port_queue::{End, Next, PortTask};
use webmessaging_core::serde_bridge::{from_record, to_record};
use webmessaging_core::value::TransferablePort;
use webmessaging_core::{Error, Result};

use super::{wake, ActorSink, Channel, MessagePort, PortDataHolder, PortOwner, Queued};

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

    /// Gives the port to the actor behind `recipient`: its queue is enabled and every
    /// task, those that waited first, arrives there as a [`PortEvent<T>`], in order.
    pub fn attach<T>(mut self, recipient: Recipient<PortEvent<T>>) -> AttachedPort
    where
        T: DeserializeOwned + Send + 'static,
    {
        let end = self.holder.end;
        let generation = self.holder.generation;
        let Some(channel) = self.holder.channel.take() else {
            recipient.do_send(PortEvent::Close);
            return AttachedPort { channel: None, end };
        };
        let sink = Arc::new(Sink {
            channel: Arc::downgrade(&channel),
            end,
            recipient: recipient.clone(),
        });
        let received = channel
            .lock()
            .receive(end, generation, PortOwner::Actor(sink));
        if !received {
            // Closed while in transit: there is nothing to talk to.
            recipient.do_send(PortEvent::Close);
            return AttachedPort { channel: None, end };
        }
        let w = channel.lock().start(end);
        wake(w);
        AttachedPort {
            channel: Some(channel),
            end,
        }
    }
}

/// An end of a shipped channel held by an actor: posts to the other end, closes the port
/// when dropped. `Send + Sync`.
pub struct AttachedPort {
    channel: Option<Arc<Channel>>,
    end: End,
}

impl std::fmt::Debug for AttachedPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AttachedPort({:?})", self.end)
    }
}

impl AttachedPort {
    /// `postMessage(data)` to the other end, any `T: Serialize` (no transfer list).
    /// Posting after either end closed does nothing, as in a browser.
    ///
    /// # Errors
    /// `DataCloneError` if `data` cannot be serialized.
    pub fn post<T: Serialize + ?Sized>(&self, data: &T) -> Result<()> {
        let record = to_record(data)?;
        let Some(channel) = &self.channel else {
            return Ok(());
        };
        let r = channel.lock().post(self.end, Queued::Plain(record));
        if let Ok(w) = r {
            wake(w);
        }
        Ok(())
    }

    /// Whether the channel is still entangled (neither end closed).
    pub fn is_entangled(&self) -> bool {
        self.channel
            .as_ref()
            .is_some_and(|c| c.lock().is_entangled())
    }

    /// `close()`: the other end gets `close` after every message posted before.
    pub fn close(&mut self) {
        if let Some(channel) = self.channel.take() {
            let (dropped, w) = channel.lock().close(self.end);
            wake(w);
            drop(dropped);
        }
    }
}

impl Drop for AttachedPort {
    fn drop(&mut self) {
        self.close();
    }
}

/// Drains an actor-held end into the actor's mailbox.
struct Sink<T: Send + 'static> {
    /// Weak: the pair holds its owners, and the `AttachedPort` holds the channel.
    channel: Weak<Channel>,
    end: End,
    recipient: Recipient<PortEvent<T>>,
}

impl<T: DeserializeOwned + Send + 'static> ActorSink for Sink<T> {
    fn run(&self, generation: u64) {
        let Some(channel) = self.channel.upgrade() else {
            return;
        };
        loop {
            let next = channel.lock().next_task(self.end, generation);
            let event = match next {
                Next::Task(PortTask::Message(q)) => {
                    let (record, mut transfer) = q.into_parts();
                    let ports = transfer
                        .take_port_holders()
                        .into_iter()
                        .filter_map(|h| h.downcast::<PortDataHolder>().ok())
                        .map(|h| ActorPort::from_holder(*h))
                        .collect();
                    match from_record::<T>(&record) {
                        Ok(data) => PortEvent::Message { data, ports },
                        Err(error) => PortEvent::MessageError { error },
                    }
                }
                Next::Task(PortTask::Close) => PortEvent::Close,
                Next::Idle | Next::Stale => return,
            };
            if !self.recipient.connected() {
                // The actor is gone: the port goes with it.
                let (dropped, w) = channel.lock().close(self.end);
                wake(w);
                drop(dropped);
                return;
            }
            self.recipient.do_send(event);
        }
    }
}
