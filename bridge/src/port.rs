//! A MessageChannel whose two ends live in two processes.
//!
//! One process **exports** an end: script takes it out of its realm with
//! [`ActorPort::take`] (a transfer) and the bridge attaches it to itself
//! ([`Bridge::export_port`](crate::Bridge::export_port)). The other process **imports**
//! the channel under the same name: the bridge creates a channel in a realm there, hands
//! script one end and attaches the other
//! ([`Bridge::import_port`](crate::Bridge::import_port)). From then on each direction is
//! one subject (`PREFIX.port.NAME.x2i`, `PREFIX.port.NAME.i2x`) read by one durable
//! consumer; every frame carries the sending side's origin, and the receiving side
//! drops (and counts) frames from any other origin than the one it admits.
//!
//! | what happens | what the other side sees |
//! | --- | --- |
//! | `postMessage` on the local end | the message, in order, once |
//! | `close()` on the local end (or its owner goes away) | `close`, after every message sent before |
//! | the NATS server restarts | nothing: frames are resent until stored, copies dropped |
//! | this process stops and starts again, importing or exporting the same name | the new incarnation resumes: the stored frames it had not acknowledged, and its sequence numbers run on |
//! | a message transfers ports | the message crosses; the ports cannot, and are closed (counted) |

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use webmessaging::{ActorPort, AttachedPort, MessagePort, RawPortEvent, Scope, WindowHandle};
use webmessaging_core::clone::SerializedRecord;

use crate::frame::FrameBody;
use crate::link::{admit, run_sender, subscribe, HOLD};
use crate::seq::{Received, Reorder};
use crate::stats::{Counters, Stats};
use crate::transport::{StartAt, Transport};

/// Which end of a bridged channel this process holds (it picks the subjects).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The side that exported a port (sends on `x2i`, reads `i2x`).
    Exporter,
    /// The side that imported the channel (sends on `i2x`, reads `x2i`).
    Importer,
}

impl Role {
    fn directions(self) -> (&'static str, &'static str) {
        match self {
            Role::Exporter => ("x2i", "i2x"),
            Role::Importer => ("i2x", "x2i"),
        }
    }
}

/// The origins of a bridged end: the one its frames carry, the one it admits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortOrigins {
    /// The origin of the realm that holds the local end (ASCII serialization, as
    /// `Origin`'s `Display` writes it: `https://app.example`).
    pub local: String,
    /// The only origin whose frames the local end accepts.
    pub admit: String,
}

/// A bridged end, running. Dropping it changes nothing; [`BridgedPort::stop`] stops it
/// as a crash would (no `close` crosses).
#[derive(Debug)]
pub struct BridgedPort {
    name: String,
    counters: Arc<Counters>,
    task: JoinHandle<()>,
}

impl BridgedPort {
    /// The channel's name on the bridge.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What it has done so far.
    pub fn stats(&self) -> Stats {
        self.counters.snapshot()
    }

    /// True once the channel is closed (a `close` went out, or came in) and the link
    /// has stopped.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops the link at once, without a `close` on the wire: what the other side sees
    /// of a crash of this process. The local end is closed.
    pub fn stop(&self) {
        self.task.abort();
    }
}

pub(crate) struct PortLink {
    pub(crate) transport: Arc<dyn Transport>,
    pub(crate) prefix: String,
    pub(crate) name: String,
    pub(crate) role: Role,
    pub(crate) origins: PortOrigins,
}

impl PortLink {
    /// Attaches `port` (call from inside an actix arbiter: the port's actor starts on
    /// this thread) and starts the link's tasks.
    pub(crate) fn start(self, port: ActorPort) -> BridgedPort {
        let counters = Arc::new(Counters::default());
        let (tx, rx) = mpsc::unbounded_channel();
        let sink_counters = counters.clone();
        let attached = port.attach_raw(move |event: RawPortEvent| {
            let body = match event {
                RawPortEvent::Message { record, ports } => {
                    if !ports.is_empty() {
                        log::warn!(target: "webmessaging_nats::port", "{} ports in a bridged message cannot cross: closed", ports.len());
                        Counters::add(&sink_counters.ports_dropped, ports.len() as u64);
                    }
                    FrameBody::Message(record.as_bytes().to_vec())
                }
                RawPortEvent::Close => FrameBody::Close,
            };
            let _ = tx.send(body);
        });
        let (out, inn) = self.role.directions();
        let out_subject = format!("{}.port.{}.{out}", self.prefix, self.name);
        let in_subject = format!("{}.port.{}.{inn}", self.prefix, self.name);
        let durable = format!("port_{}_{inn}", self.name);
        let sender = tokio::spawn(run_sender(
            self.transport.clone(),
            out_subject,
            self.origins.local.clone(),
            rx,
            counters.clone(),
        ));
        let receiver = tokio::spawn(run_receiver(
            self.transport,
            durable,
            in_subject,
            self.origins.admit,
            attached,
            counters.clone(),
        ));
        let task = tokio::spawn(async move {
            let mut sender = Abort(sender);
            let mut receiver = Abort(receiver);
            // A close either way ends the link: after ours is stored, nothing the
            // other side sends can be delivered; after theirs, nothing more comes.
            tokio::select! {
                _ = &mut sender.0 => {}
                _ = &mut receiver.0 => {}
            }
        });
        BridgedPort {
            name: self.name,
            counters,
            task,
        }
    }
}

/// Aborts its task when dropped (so aborting the link's task stops both halves).
struct Abort(JoinHandle<()>);

impl Drop for Abort {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn run_receiver(
    transport: Arc<dyn Transport>,
    durable: String,
    subject: String,
    admitted: String,
    mut port: AttachedPort,
    counters: Arc<Counters>,
) {
    let (sub, floor) = subscribe(&*transport, &durable, &subject, StartAt::First).await;
    let mut inbox = sub.inbox;
    let mut reorder = Reorder::new(Some(floor.map_or(1, |f| f.seq + 1)), HOLD);
    while let Some(delivery) = inbox.next().await {
        let Some((frame, ack)) = admit(delivery, &admitted, &counters).await else {
            continue;
        };
        match reorder.receive(frame.seq, (frame.body, ack)) {
            Received::Deliver(items) => {
                for (_, (body, ack)) in items {
                    Counters::add(&counters.delivered, 1);
                    match body {
                        FrameBody::Message(bytes) => {
                            port.post_record(SerializedRecord::from_bytes(bytes));
                            ack().await;
                        }
                        FrameBody::Close => {
                            port.close();
                            ack().await;
                            return;
                        }
                    }
                }
            }
            Received::Duplicate((_, ack)) => {
                Counters::add(&counters.duplicates, 1);
                ack().await;
            }
            Received::Held => {}
            Received::Refused(_) => Counters::add(&counters.refused, 1),
        }
    }
}

/// Creates a channel in `window`'s realm, gives `f` one end and returns the other, out
/// of the realm, with the realm's origin.
pub(crate) async fn channel_in_realm<F>(
    window: &WindowHandle,
    f: F,
) -> webmessaging_core::Result<(ActorPort, String)>
where
    F: FnOnce(&Scope, MessagePort) + Send + 'static,
{
    window
        .run(move |scope: &Scope| {
            let (mine, theirs) = scope.message_channel().into_ports();
            let taken = ActorPort::take(&theirs)?;
            f(scope, mine);
            Ok((taken, scope.origin().to_string()))
        })
        .await?
}
