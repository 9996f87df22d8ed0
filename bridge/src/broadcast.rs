//! BroadcastChannels of one (origin, name) across processes.
//!
//! In each process the bridge opens a relay: a top-level window at a URL of the origin
//! whose document holds one `BroadcastChannel(name)`. What the process's other channels
//! of that origin and name post reaches the relay (a channel does not hear itself), which
//! sends it on `PREFIX.bc.KEY.NODE` (KEY: the origin and name in hex; NODE: this bridge's
//! node id). The relay reads `PREFIX.bc.KEY.*` through its durable consumer, skips its
//! own node's subject, puts each other node's frames in order (one cursor per sender),
//! drops frames whose origin is not the relay's, and posts the rest from its channel, so
//! every local channel but the relay gets them, in each sender's order.
//!
//! A relay hears what is posted once its consumer exists (no history). The message is
//! re-serialized from the `MessageEvent`'s data (a structured clone): Blobs cannot cross.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use webmessaging::{BroadcastChannel, Browser, MessageEvent, Scope, WindowHandle};
use webmessaging_core::clone::{structured_deserialize, structured_serialize, SerializedRecord};

use crate::frame::FrameBody;
use crate::link::{admit, run_sender, subscribe, Start, HOLD};
use crate::seq::{Received, Reorder};
use crate::stats::{Counters, Stats};
use crate::transport::{Acker, StartAt, Transport};

/// The subject token for (origin, name): both in hex, so any name is a valid token.
pub(crate) fn key(origin: &str, name: &str) -> String {
    let mut k = String::with_capacity(2 * (origin.len() + name.len()) + 1);
    for b in origin.bytes() {
        k.push_str(&format!("{b:02x}"));
    }
    k.push('_');
    for b in name.bytes() {
        k.push_str(&format!("{b:02x}"));
    }
    k
}

/// A bridged BroadcastChannel, running: its relay window and its link's tasks.
#[derive(Debug)]
pub struct BridgedBroadcast {
    relay: WindowHandle,
    origin: String,
    counters: Arc<Counters>,
    tasks: Vec<JoinHandle<()>>,
}

impl BridgedBroadcast {
    /// The relay's window (its document holds the bridging channel).
    pub fn relay(&self) -> &WindowHandle {
        &self.relay
    }

    /// The origin bridged (ASCII serialization).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// What it has done so far.
    pub fn stats(&self) -> Stats {
        self.counters.snapshot()
    }

    /// Stops relaying (as a crash would: the durable consumer keeps what comes meanwhile)
    /// and closes the relay window.
    pub fn stop(&self) {
        for t in &self.tasks {
            t.abort();
        }
        self.relay.close();
    }
}

pub(crate) async fn start(
    transport: Arc<dyn Transport>,
    prefix: &str,
    node: &str,
    browser: &Browser,
    url: &str,
    name: &str,
) -> webmessaging_core::Result<BridgedBroadcast> {
    let counters = Arc::new(Counters::default());
    let (tx, rx) = mpsc::unbounded_channel::<FrameBody>();
    let channel_name = name.to_owned();
    let script_counters = counters.clone();
    let relay = browser.open_with(url, move |scope: &Scope| {
        let bc = scope.broadcast_channel(&channel_name);
        let tx = tx.clone();
        let counters = script_counters.clone();
        bc.on_message(
            move |_: &Scope, e: &MessageEvent| match structured_serialize(e.data()) {
                Ok(record) => {
                    let _ = tx.send(FrameBody::Message(record.as_bytes().to_vec()));
                }
                Err(err) => {
                    log::warn!(target: "webmessaging_nats::broadcast", "not bridged: {err}");
                    Counters::add(&counters.bad_frames, 1);
                }
            },
        );
        scope.set_global(bc);
    })?;
    let origin = relay
        .run(|scope: &Scope| scope.origin().to_string())
        .await?;
    let key = key(&origin, name);
    let own = format!("{prefix}.bc.{key}.{node}");
    let filter = format!("{prefix}.bc.{key}.*");
    let durable = format!("bc_{key}_{node}");
    // Subscribe before anything is posted, so this relay hears every later frame.
    let sub = subscribe(&*transport, &durable, &filter, StartAt::New).await;
    let sender = tokio::spawn(run_sender(
        transport.clone(),
        own.clone(),
        origin.clone(),
        Start::AfterLast,
        rx,
        counters.clone(),
    ));
    let receiver = tokio::spawn(run_receiver(
        sub.inbox,
        own,
        origin.clone(),
        relay.clone(),
        counters.clone(),
    ));
    Ok(BridgedBroadcast {
        relay,
        origin,
        counters,
        tasks: vec![sender, receiver],
    })
}

async fn run_receiver(
    mut inbox: Box<dyn crate::transport::Inbox>,
    own: String,
    origin: String,
    relay: WindowHandle,
    counters: Arc<Counters>,
) {
    let mut cursors: HashMap<String, Reorder<(FrameBody, Acker)>> = HashMap::new();
    while let Some(delivery) = inbox.next().await {
        if delivery.subject == own {
            (delivery.ack)().await;
            continue;
        }
        let sender = delivery.subject.clone();
        let Some((frame, ack)) = admit(delivery, &origin, &counters).await else {
            continue;
        };
        let cursor = cursors
            .entry(sender)
            .or_insert_with(|| Reorder::new(None, HOLD));
        match cursor.receive(frame.seq, (frame.body, ack)) {
            Received::Deliver(items) => {
                let mut records = Vec::with_capacity(items.len());
                let mut acks = Vec::with_capacity(items.len());
                for (_, (body, ack)) in items {
                    if let FrameBody::Message(bytes) = body {
                        records.push(bytes);
                    }
                    acks.push(ack);
                }
                let n = records.len() as u64;
                let posted = relay
                    .run(move |scope: &Scope| {
                        let Some(bc) = scope.global::<BroadcastChannel>() else {
                            return;
                        };
                        for bytes in records {
                            match structured_deserialize(&SerializedRecord::from_bytes(bytes)) {
                                Ok(v) => {
                                    if let Err(e) = bc.post_message(&v) {
                                        log::warn!(target: "webmessaging_nats::broadcast", "{e}");
                                    }
                                }
                                Err(e) => {
                                    log::warn!(target: "webmessaging_nats::broadcast", "undecodable: {e}");
                                }
                            }
                        }
                    })
                    .await;
                if posted.is_err() {
                    // The relay is gone: leave the frames unacknowledged for its next
                    // incarnation.
                    return;
                }
                Counters::add(&counters.delivered, n);
                for ack in acks {
                    ack().await;
                }
            }
            Received::Duplicate((_, ack)) => {
                Counters::add(&counters.duplicates, 1);
                ack().await;
            }
            Received::Void((_, ack)) => {
                Counters::add(&counters.voided, 1);
                ack().await;
            }
            Received::Held => {}
            Received::Refused(_) => Counters::add(&counters.refused, 1),
        }
    }
}
