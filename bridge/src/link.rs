//! The two halves every bridged direction has: the sender task (an [`Outbox`] over
//! [`Transport::publish`], pipelined, go-back-N on failure) and the helpers a receiver
//! uses (subscribe with retry, decode, check the origin).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;

use crate::frame::{Frame, FrameBody};
use crate::seq::Outbox;
use crate::stats::Counters;
use crate::transport::{Delivery, StartAt, StoreAck, Subscribed, Transport};

/// How many frames a sender has in flight at most.
pub(crate) const WINDOW: usize = 512;

/// How many frames a receiver holds ahead of a gap at most.
pub(crate) const HOLD: usize = 50_000;

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

/// The sequence number a restarted sender continues from: one past the last frame it
/// stored on `subject` before (1 for a new subject).
pub(crate) async fn first_seq(transport: &dyn Transport, subject: &str) -> u64 {
    let last = retry("last frame", || {
        transport.last_on_subject(subject.to_owned())
    })
    .await;
    last.and_then(|b| Frame::decode(&b).ok())
        .map_or(1, |f| f.seq.saturating_add(1))
}

/// Opens the durable consumer, retrying; returns it and the frame at its floor, decoded.
pub(crate) async fn subscribe(
    transport: &dyn Transport,
    durable: &str,
    filter: &str,
    start: StartAt,
) -> (Subscribed, Option<Frame>) {
    let sub = retry("subscribe", || {
        transport.subscribe(durable.to_owned(), filter.to_owned(), start)
    })
    .await;
    let floor = sub.floor.as_deref().and_then(|b| Frame::decode(b).ok());
    (sub, floor)
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
    mut input: UnboundedReceiver<FrameBody>,
    counters: Arc<Counters>,
) {
    let mut outbox: Outbox<FrameBody> = Outbox::new(first_seq(&*transport, &subject).await);
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
