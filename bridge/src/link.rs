//! The two halves every bridged direction has: the sender task (an [`Outbox`] over
//! [`Transport::publish`], pipelined, go-back-N on failure, resuming where its
//! predecessor's frames end) and the helpers a receiver uses (subscribe with retry,
//! decode, check the origin).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;

use crate::frame::{Frame, FrameBody};
use crate::seq::{resume_point, Outbox, ResumePoint};
use crate::stats::Counters;
use crate::transport::{Delivery, StartAt, StoreAck, Subscribed, Transport};

/// How many frames a sender has in flight at most.
pub(crate) const WINDOW: usize = 512;

/// How many frames a receiver holds ahead of a gap at most.
pub(crate) const HOLD: usize = 50_000;

/// How many deliveries a port receiver takes in one round at most (of those already
/// arrived), and how many frames it hands to the realm in one round at most.
pub(crate) const BATCH: usize = 1000;

const LOG: &str = "webmessaging_nats::link";

/// Retries `f` with a growing delay (at most 1 s) until it succeeds.
pub(crate) async fn retry<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, crate::transport::TransportError>>,
{
    let mut delay = Duration::from_millis(50);
    loop {
        match f().await {
            Ok(v) => return v,
            Err(e) => {
                log::debug!(target: LOG, "{what}: {e}; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// Where a sender's numbering starts.
pub(crate) enum Start {
    /// One past the last frame stored on the subject (a broadcast sender: its readers
    /// are many and keep no cursor the sender could read).
    AfterLast,
    /// Past the highest frame stored in a port direction, from its receiver's durable
    /// consumer `durable` and cursor `cursor` (see [`resume`]).
    Resume {
        /// The receiving side's durable consumer.
        durable: String,
        /// The receiving side's cursor key.
        cursor: String,
    },
}

/// The sequence number a restarted sender continues from: one past the last frame it
/// stored on `subject` before (1 for a new subject).
async fn after_last(transport: &dyn Transport, subject: &str) -> u64 {
    let last = retry("last frame", || {
        transport.last_on_subject(subject.to_owned())
    })
    .await;
    last.and_then(|b| Frame::decode(&b).ok())
        .map_or(1, |f| f.seq.saturating_add(1))
}

/// Where a restarted port sender continues ([`resume_point`]): past the highest frame of
/// `origin` stored on `subject`, with the holes its predecessor left declared.
pub(crate) async fn resume(
    transport: &dyn Transport,
    subject: &str,
    durable: &str,
    cursor: &str,
    origin: &str,
) -> ResumePoint {
    // Step 1: what the receiver has not acknowledged (its floor read first), then its
    // cursor: everything acknowledged by the floor's reading is at or below the cursor
    // read after it.
    let frames = retry("unacknowledged frames", || {
        transport.unacked_on_subject(durable.to_owned(), subject.to_owned())
    })
    .await;
    let delivered = retry("cursor", || transport.load_cursor(cursor.to_owned()))
        .await
        .unwrap_or(0);
    // Step 2: this side's frames only (a forged frame does not move the numbering).
    let stored = frames
        .iter()
        .filter_map(|b| Frame::decode(b).ok())
        .filter(|f| f.origin == origin)
        .map(|f| match f.body {
            FrameBody::Resume { after } => (f.seq, Some(after)),
            _ => (f.seq, None),
        });
    resume_point(delivered, stored)
}

/// Opens the durable consumer, retrying.
pub(crate) async fn subscribe(
    transport: &dyn Transport,
    durable: &str,
    filter: &str,
    start: StartAt,
) -> Subscribed {
    retry("subscribe", || {
        transport.subscribe(durable.to_owned(), filter.to_owned(), start)
    })
    .await
}

/// Decodes a delivery and checks its origin; a frame that fails either is counted,
/// acknowledged (it will never be acceptable) and dropped.
pub(crate) async fn admit(
    delivery: Delivery,
    admitted: &str,
    counters: &Counters,
) -> Option<(Frame, crate::transport::Acker)> {
    let Delivery {
        payload,
        ack,
        subject,
    } = delivery;
    match Frame::decode(&payload) {
        Ok(frame) if frame.origin == admitted => Some((frame, ack)),
        Ok(frame) => {
            log::warn!(target: LOG, "{subject}: dropped a frame from origin {:?} (admitting {admitted:?})", frame.origin);
            Counters::add(&counters.origin_mismatches, 1);
            ack().await;
            None
        }
        Err(e) => {
            log::warn!(target: LOG, "{subject}: dropped an undecodable frame: {e}");
            Counters::add(&counters.bad_frames, 1);
            ack().await;
            None
        }
    }
}

/// Sends every body from `input` on `subject`, in order, each exactly once into the
/// store, until the input ends (its sender dropped) or a close was stored. Returns when
/// everything queued is stored.
pub(crate) async fn run_sender(
    transport: Arc<dyn Transport>,
    subject: String,
    origin: String,
    start: Start,
    mut input: UnboundedReceiver<FrameBody>,
    counters: Arc<Counters>,
) {
    let mut outbox: Outbox<FrameBody> = match start {
        Start::AfterLast => Outbox::new(after_last(&*transport, &subject).await),
        Start::Resume { durable, cursor } => {
            let at = resume(&*transport, &subject, &durable, &cursor, &origin).await;
            let mut outbox = Outbox::new(at.next_seq);
            if let Some(after) = at.void_after {
                log::info!(target: LOG, "{subject}: the previous sender died with frames after {after} missing; {after}+1..{} are void", at.next_seq);
                outbox.push(FrameBody::Resume { after });
            }
            outbox
        }
    };
    let mut in_flight: VecDeque<(u64, StoreAck)> = VecDeque::new();
    let mut input_open = true;
    let mut closing = false;
    let mut delay = Duration::from_millis(20);
    let fail = |outbox: &mut Outbox<FrameBody>, in_flight: &mut VecDeque<(u64, StoreAck)>| {
        in_flight.clear();
        let n = outbox.rewind();
        Counters::add(&counters.resent, n as u64);
    };
    loop {
        // Fill the window.
        let mut failed = false;
        while in_flight.len() < WINDOW {
            let Some((seq, body)) = outbox.next_to_send() else {
                break;
            };
            let frame = Frame {
                seq,
                origin: origin.clone(),
                body: body.clone(),
            };
            let payload = match frame.encode() {
                Ok(p) => p,
                Err(e) => {
                    // Only an origin over 64 KiB: the link cannot work at all.
                    log::error!(target: LOG, "{subject}: {e}; the sender stops");
                    return;
                }
            };
            let msg_id = format!("{subject}:{seq}");
            match transport.publish(subject.clone(), msg_id, payload).await {
                Ok(ack) => in_flight.push_back((seq, ack)),
                Err(e) => {
                    log::debug!(target: LOG, "{subject}: publish {seq}: {e}");
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            fail(&mut outbox, &mut in_flight);
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(500));
            continue;
        }
        if in_flight.is_empty() {
            if closing || (!input_open && outbox.unconfirmed() == 0) {
                return;
            }
            match input.recv().await {
                Some(body) => {
                    closing |= body == FrameBody::Close;
                    outbox.push(body);
                    Counters::add(&counters.queued, 1);
                }
                None => input_open = false,
            }
            continue;
        }
        let front = &mut in_flight.front_mut().expect("not empty").1;
        tokio::select! {
            biased;
            stored = front => {
                let (seq, _) = in_flight.pop_front().expect("not empty");
                match stored {
                    Ok(()) => {
                        outbox.confirm(seq);
                        Counters::add(&counters.stored, 1);
                        delay = Duration::from_millis(20);
                    }
                    Err(e) => {
                        log::debug!(target: LOG, "{subject}: frame {seq}: {e}; resending from it");
                        fail(&mut outbox, &mut in_flight);
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_millis(500));
                    }
                }
            }
            body = input.recv(), if input_open && !closing => match body {
                Some(body) => {
                    closing |= body == FrameBody::Close;
                    outbox.push(body);
                    Counters::add(&counters.queued, 1);
                }
                None => input_open = false,
            },
        }
    }
}
