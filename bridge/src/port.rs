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
//!
//! # Cursors and restarts
//!
//! The receiving side keeps an explicit cursor per direction in the store (JetStream: a
//! key-value bucket, the key being the direction's subject): the highest sequence number
//! handed to the local realm in order. It works in rounds. Each round takes the
//! deliveries that have arrived (up to [`BATCH`]), puts them in order ([`Reorder`]:
//! copies dropped, early frames held), and then:
//!
//! 1. hands at most [`BATCH`] frames now in order to the local end (the realm's port
//!    queue; the rest wait, unacknowledged, for the next round);
//! 2. leaves the round's acknowledgements waiting until the store has a cursor at or
//!    above the highest number it handed.
//!
//! Behind the rounds, one cursor write at a time is in flight, always of the latest
//! number handed (one write covers every round since the last); it starts once
//! [`WRITE_AFTER_ROUNDS`] rounds wait for it or the oldest has waited [`LINGER`], and
//! when it is stored the rounds it covers are acknowledged. The receiver keeps handing
//! rounds while a write is in flight, but never more than [`UNSTORED_ROUNDS`] (8) rounds
//! are handed and not covered by a stored cursor: then it waits for the write.
//!
//! A restarted receiver starts after the cursor, not after its consumer's
//! acknowledgement floor: if the stream holds a direction's frames out of order (a
//! resend stored after a later frame) the floor can lie below frames already delivered
//! or above frames not yet delivered, and the receiver would wait for a frame forever.
//! Nothing held is acknowledged before it is delivered, so whatever the receiver dies
//! with comes again.
//!
//! **The one at-least-once window** is between a round's hand-over and the stored cursor
//! covering it: a receiving process that dies then hands those frames again to its next
//! incarnation, **at most 8 rounds of at most 1,000 frames (8,000 frames)**, the rounds
//! handed since the last stored cursor. The other order loses them instead (a cursor
//! written first covers frames a dying process never handed over), and the window cannot
//! close without the realm's own state being stored with the cursor, atomically. A crash
//! after the cursor is stored and before the acknowledgements costs nothing: the
//! redeliveries are at or below the cursor and dropped as copies.
//!
//! A restarted sender continues past the highest number stored in its direction (the
//! larger of the cursor and the highest frame not yet acknowledged), not past the last
//! frame stored: after an out-of-order store the last one is not the highest, and a new
//! frame numbered after it would be taken for a copy. If its predecessor died between
//! storing a frame and an earlier one it was resending, the earlier one is gone with it:
//! the new sender's first frame declares the numbers after the last one with no hole
//! below it void ([`FrameBody::Resume`]), and the receiver passes over them. The receiver
//! gets a prefix of what the dead side posted, then what its successor posts.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use webmessaging::{ActorPort, AttachedPort, MessagePort, RawPortEvent, Scope, WindowHandle};
use webmessaging_core::clone::SerializedRecord;

use futures_util::FutureExt;

use crate::frame::FrameBody;
use crate::link::retry;
use crate::link::{admit, run_sender, subscribe, Start, BATCH, HOLD};
use crate::pipeline::{Pipeline, LINGER, UNSTORED_ROUNDS, WRITE_AFTER_ROUNDS};
use crate::seq::{Received, Reorder};
use crate::stats::{Counters, Stats};
use crate::transport::{Acker, BoxFuture, StartAt, Transport};

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
        // The other side's consumer and cursor for the direction this side sends.
        let start = Start::Resume {
            durable: format!("port_{}_{out}", self.name),
            cursor: out_subject.clone(),
        };
        let sender = tokio::spawn(run_sender(
            self.transport.clone(),
            out_subject,
            self.origins.local.clone(),
            start,
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

/// A delivery put in order and not yet handed to the realm: its number, body and ack.
type Ready = (u64, (FrameBody, Acker));

/// Writes `value` under `key` until the store has it; resolves to `value`.
fn write_cursor(transport: Arc<dyn Transport>, key: String, value: u64) -> BoxFuture<'static, u64> {
    Box::pin(async move {
        retry("cursor write", || {
            transport.store_cursor(key.clone(), value)
        })
        .await;
        value
    })
}

/// Sleeps until `deadline` (forever if none).
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

/// The cursor write in flight, if any (pending forever if none).
async fn written(write: &mut Option<BoxFuture<'static, u64>>) -> u64 {
    match write {
        Some(w) => w.await,
        None => std::future::pending().await,
    }
}

/// One direction's receiving side (see the module docs: rounds handed over, the cursor
/// written behind them, acknowledgements once it is stored).
async fn run_receiver(
    transport: Arc<dyn Transport>,
    durable: String,
    subject: String,
    admitted: String,
    mut port: AttachedPort,
    counters: Arc<Counters>,
) {
    // Step 1: the cursor, then the consumer: start after the last frame handed over.
    let cursor = retry("cursor", || transport.load_cursor(subject.clone()))
        .await
        .unwrap_or(0);
    let mut inbox = subscribe(&*transport, &durable, &subject, StartAt::First)
        .await
        .inbox;
    let mut reorder = Reorder::new(Some(cursor + 1), HOLD);
    let mut pipeline: Pipeline<Acker> = Pipeline::new(cursor, UNSTORED_ROUNDS, WRITE_AFTER_ROUNDS);
    let mut ready: VecDeque<Ready> = VecDeque::new();
    let mut write: Option<BoxFuture<'static, u64>> = None;
    let mut deadline: Option<Instant> = None;
    let mut closed = false;
    // The highest number handed to the realm.
    let mut last_handed = cursor;
    loop {
        // Step 2: the latest cursor goes out when no write is in flight and enough
        // rounds wait for it, or the oldest has waited LINGER.
        if write.is_none() {
            let due = closed || deadline.is_some_and(|d| Instant::now() >= d);
            if let Some(value) = pipeline.start_write(due) {
                write = Some(write_cursor(transport.clone(), subject.clone(), value));
                deadline = None;
            } else if deadline.is_none() && pipeline.waiting() > 0 {
                deadline = Some(Instant::now() + LINGER);
            }
        }
        if closed && pipeline.settled() {
            return;
        }
        // Step 3: wait for a stored cursor, or for room and something to hand over.
        let can_hand = pipeline.can_hand() && !closed;
        let mut deliveries = Vec::new();
        tokio::select! {
            biased;
            value = written(&mut write) => {
                write = None;
                for ack in pipeline.stored(value) {
                    ack().await;
                }
                continue;
            }
            _ = sleep_until(deadline), if write.is_none() && deadline.is_some() => continue,
            d = inbox.next(), if can_hand && ready.is_empty() => match d {
                Some(d) => deliveries.push(d),
                None => {
                    closed = true;
                    continue;
                }
            },
            _ = std::future::ready(()), if can_hand && !ready.is_empty() => {}
        }
        // Step 4: this round's deliveries: what else has arrived (unless a round's worth
        // already waits in order), put in order.
        while deliveries.len() < BATCH && ready.len() < BATCH {
            match inbox.next().now_or_never() {
                Some(Some(d)) => deliveries.push(d),
                _ => break,
            }
        }
        let taken = deliveries.len();
        let mut acks = Vec::with_capacity(taken);
        for delivery in deliveries {
            let Some((frame, ack)) = admit(delivery, &admitted, &counters).await else {
                continue;
            };
            if let FrameBody::Resume { after } = frame.body {
                for (_, (_, void)) in reorder.skip(after, frame.seq) {
                    Counters::add(&counters.voided, 1);
                    acks.push(void);
                }
            }
            match reorder.receive(frame.seq, (frame.body, ack)) {
                Received::Deliver(items) => ready.extend(items),
                Received::Duplicate((_, ack)) if frame.seq <= last_handed => {
                    Counters::add(&counters.duplicates, 1);
                    acks.push(ack);
                }
                Received::Duplicate((_, ack)) => {
                    // In order but not handed over yet: the newer delivery replaces the
                    // one waiting (acknowledging a copy now would acknowledge the frame).
                    Counters::add(&counters.duplicates, 1);
                    if let Ok(i) = ready.binary_search_by_key(&frame.seq, |(s, _)| *s) {
                        ready[i].1 .1 = ack;
                    }
                }
                Received::Void((_, ack)) => {
                    Counters::add(&counters.voided, 1);
                    acks.push(ack);
                }
                Received::Held => {}
                Received::Refused(_) => Counters::add(&counters.refused, 1),
            }
        }
        // Step 5: hand at most BATCH frames now in order to the local end (the rest wait
        // for the next round, unacknowledged).
        let mut upto = None;
        let mut handed = 0;
        while handed < BATCH {
            let Some((seq, (body, ack))) = ready.pop_front() else {
                break;
            };
            handed += 1;
            upto = Some(seq);
            last_handed = seq;
            acks.push(ack);
            match body {
                FrameBody::Message(bytes) => {
                    port.post_record(SerializedRecord::from_bytes(bytes));
                    Counters::add(&counters.delivered, 1);
                }
                FrameBody::Close => {
                    port.close();
                    Counters::add(&counters.delivered, 1);
                    closed = true;
                    // Nothing after a close is delivered (or acknowledged).
                    ready.clear();
                    break;
                }
                FrameBody::Resume { .. } => {}
            }
        }
        // Step 6: the acknowledgements wait for a stored cursor covering the round.
        for ack in pipeline.round(upto, acks) {
            ack().await;
        }
        // An inbox that is always ready (a flood of redeliveries) must not starve the
        // thread's other tasks: a full round yields, others once the budget is spent.
        if taken == BATCH {
            tokio::task::yield_now().await;
        } else {
            tokio::task::consume_budget().await;
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
