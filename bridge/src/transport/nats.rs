//! [`Transport`] over NATS JetStream (`async-nats`): one file-backed stream holds every
//! subject of the bridge (`PREFIX.>`); a frame is published with its `Nats-Msg-Id`, so
//! the stream's dedup window drops a resent copy; each direction is read through a
//! durable pull consumer with explicit acks, which the server keeps across its own
//! restarts and the bridge's. Receivers' cursors live in a key-value bucket beside the
//! stream (`STREAM_cursors`, file-backed, one value per key: the direction's subject).

use std::time::Duration;

use async_nats::jetstream::{self, consumer, kv, stream};
use futures_util::StreamExt;

use super::{
    Acker, BoxFuture, Delivery, Inbox, StartAt, StoreAck, Subscribed, Transport, TransportError,
};

/// How the bridge uses JetStream. `Default` is what the tests and examples use.
#[derive(Clone, Debug)]
pub struct NatsConfig {
    /// The stream's name (default `WEBMESSAGING`).
    pub stream: String,
    /// The subject prefix every bridge subject starts with (default `wm`): the stream
    /// holds `PREFIX.>`.
    pub prefix: String,
    /// How long the stream keeps frames (default 24 hours).
    pub max_age: Duration,
    /// JetStream's dedup window for `Nats-Msg-Id` (default 2 minutes).
    pub duplicate_window: Duration,
    /// How long a store ack may take before the frame is sent again (default 2 s).
    pub ack_timeout: Duration,
    /// How long a delivery may stay unacknowledged before the server delivers it again
    /// (default 2 s).
    pub redeliver_after: Duration,
    /// How many deliveries a consumer may have unacknowledged (default 20,000).
    pub max_ack_pending: i64,
}

impl Default for NatsConfig {
    fn default() -> Self {
        NatsConfig {
            stream: "WEBMESSAGING".into(),
            prefix: "wm".into(),
            max_age: Duration::from_secs(24 * 3600),
            duplicate_window: Duration::from_secs(120),
            ack_timeout: Duration::from_secs(2),
            redeliver_after: Duration::from_secs(2),
            max_ack_pending: 20_000,
        }
    }
}

/// JetStream as the bridge's store. `Clone`: clones share the connection.
#[derive(Clone)]
pub struct NatsTransport {
    js: jetstream::Context,
    stream: stream::Stream,
    cursors: kv::Store,
    config: NatsConfig,
}

impl std::fmt::Debug for NatsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NatsTransport({})", self.config.stream)
    }
}

fn err(context: &str, e: impl std::fmt::Display) -> TransportError {
    TransportError(format!("{context}: {e}"))
}

impl NatsTransport {
    /// Connects to the server at `url` (`nats://127.0.0.1:4222`), which must run with
    /// JetStream (`nats-server -js`), and creates the stream if it is missing. The
    /// connection reconnects by itself, forever, when the server goes away.
    ///
    /// # Errors
    /// A [`TransportError`] if the server cannot be reached or refuses the stream.
    pub async fn connect(url: &str, config: NatsConfig) -> Result<NatsTransport, TransportError> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .max_reconnects(None)
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis((50 * attempts as u64).min(500))
            })
            .connect(url)
            .await
            .map_err(|e| err("connect", e))?;
        let mut js = jetstream::new(client);
        js.set_timeout(config.ack_timeout);
        let stream = stream_shared_by_racers(
            &js,
            stream::Config {
                name: config.stream.clone(),
                subjects: vec![format!("{}.>", config.prefix)],
                storage: stream::StorageType::File,
                max_age: config.max_age,
                duplicate_window: config.duplicate_window,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| err("stream", e))?;
        // Note: `create_key_value` first asks for the account's info, which async-nats
        // 0.42 cannot parse from Debian's nats-server 2.9; the bucket's stream is made
        // here with the settings it would give it (one value per key), then opened.
        let bucket = format!("{}_cursors", config.stream);
        stream_shared_by_racers(
            &js,
            stream::Config {
                name: format!("KV_{bucket}"),
                subjects: vec![format!("$KV.{bucket}.>")],
                max_messages_per_subject: 1,
                storage: stream::StorageType::File,
                allow_rollup: true,
                deny_delete: true,
                allow_direct: true,
                discard: stream::DiscardPolicy::New,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| err("cursor bucket", e))?;
        let cursors = js
            .get_key_value(&bucket)
            .await
            .map_err(|e| err("cursor bucket", e))?;
        Ok(NatsTransport {
            js,
            stream,
            cursors,
            config,
        })
    }

    /// Every message on `subject` from stream position `from` to `last`, through an
    /// ordered consumer of its own (deleted with it).
    async fn scan(
        &self,
        subject: &str,
        from: u64,
        last: u64,
    ) -> Result<Vec<Vec<u8>>, TransportError> {
        let consumer = self
            .stream
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: subject.to_owned(),
                deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: from,
                },
                ..Default::default()
            })
            .await
            .map_err(|e| err("scan consumer", e))?;
        let mut messages = consumer.messages().await.map_err(|e| err("scan", e))?;
        let mut out = Vec::new();
        loop {
            let m = match tokio::time::timeout(self.config.ack_timeout, messages.next()).await {
                Ok(Some(Ok(m))) => m,
                Ok(Some(Err(e))) => return Err(err("scan", e)),
                Ok(None) => return Err(err("scan", "the consumer ended")),
                Err(_) => return Err(err("scan", "timed out")),
            };
            let at = m.info().map_err(|e| err("scan info", e))?.stream_sequence;
            out.push(m.payload.to_vec());
            if at >= last {
                return Ok(out);
            }
        }
    }

    /// The configuration it was connected with.
    pub fn config(&self) -> &NatsConfig {
        &self.config
    }

    async fn open(
        &self,
        durable: &str,
        filter: &str,
        start: StartAt,
    ) -> Result<consumer::Consumer<consumer::pull::Config>, TransportError> {
        let deliver_policy = match start {
            StartAt::First => consumer::DeliverPolicy::All,
            StartAt::New => consumer::DeliverPolicy::New,
        };
        self.stream
            .get_or_create_consumer(
                durable,
                consumer::pull::Config {
                    durable_name: Some(durable.to_owned()),
                    filter_subject: filter.to_owned(),
                    deliver_policy,
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: self.config.redeliver_after,
                    max_ack_pending: self.config.max_ack_pending,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| err("consumer", e))
    }
}

impl Transport for NatsTransport {
    fn publish(
        &self,
        subject: String,
        msg_id: String,
        payload: Vec<u8>,
    ) -> BoxFuture<'_, Result<StoreAck, TransportError>> {
        Box::pin(async move {
            let publish = jetstream::context::Publish::build()
                .payload(payload.into())
                .message_id(msg_id);
            let ack = self
                .js
                .send_publish(subject, publish)
                .await
                .map_err(|e| err("publish", e))?;
            let ack: StoreAck =
                Box::pin(async move { ack.await.map(|_| ()).map_err(|e| err("store ack", e)) });
            Ok(ack)
        })
    }

    fn last_on_subject(
        &self,
        subject: String,
    ) -> BoxFuture<'_, Result<Option<Vec<u8>>, TransportError>> {
        Box::pin(async move {
            match self.stream.get_last_raw_message_by_subject(&subject).await {
                Ok(m) => Ok(Some(m.payload.to_vec())),
                Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => Ok(None),
                Err(e) => Err(err("last message", e)),
            }
        })
    }

    fn subscribe(
        &self,
        durable: String,
        filter: String,
        start: StartAt,
    ) -> BoxFuture<'_, Result<Subscribed, TransportError>> {
        Box::pin(async move {
            let consumer = self.open(&durable, &filter, start).await?;
            let inbox = NatsInbox {
                transport: self.clone(),
                durable,
                filter,
                start,
                consumer: Some(consumer),
                messages: None,
            };
            Ok(Subscribed {
                inbox: Box::new(inbox),
            })
        })
    }

    fn unacked_on_subject(
        &self,
        durable: String,
        subject: String,
    ) -> BoxFuture<'_, Result<Vec<Vec<u8>>, TransportError>> {
        Box::pin(async move {
            // Step 1: the floor first (what is acknowledged by then stays so).
            let floor = match self.stream.consumer_info(&durable).await {
                Ok(info) => info.ack_floor.stream_sequence,
                Err(e) if e.kind() == jetstream::context::ConsumerInfoErrorKind::NotFound => 0,
                Err(e) => return Err(err("consumer info", e)),
            };
            // Step 2: the subject's last position bounds the scan.
            let last = match self.stream.get_last_raw_message_by_subject(&subject).await {
                Ok(m) => m.sequence,
                Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => {
                    return Ok(Vec::new())
                }
                Err(e) => return Err(err("last message", e)),
            };
            if last <= floor {
                return Ok(Vec::new());
            }
            self.scan(&subject, floor + 1, last).await
        })
    }

    fn load_cursor(&self, key: String) -> BoxFuture<'_, Result<Option<u64>, TransportError>> {
        Box::pin(async move {
            let Some(value) = self.cursors.get(&key).await.map_err(|e| err("cursor", e))? else {
                return Ok(None);
            };
            std::str::from_utf8(&value)
                .ok()
                .and_then(|v| v.parse().ok())
                .map(Some)
                .ok_or_else(|| err("cursor", format!("{key}: not a number")))
        })
    }

    fn store_cursor(&self, key: String, value: u64) -> BoxFuture<'_, Result<(), TransportError>> {
        Box::pin(async move {
            self.cursors
                .put(&key, value.to_string().into())
                .await
                .map(|_| ())
                .map_err(|e| err("cursor write", e))
        })
    }
}

struct NatsInbox {
    transport: NatsTransport,
    durable: String,
    filter: String,
    start: StartAt,
    consumer: Option<consumer::Consumer<consumer::pull::Config>>,
    messages: Option<consumer::pull::Stream>,
}

impl NatsInbox {
    /// (Re)opens the pull stream, retrying until the server answers.
    async fn reopen(&mut self) {
        let mut delay = Duration::from_millis(50);
        loop {
            if self.consumer.is_none() {
                match self
                    .transport
                    .open(&self.durable, &self.filter, self.start)
                    .await
                {
                    Ok(c) => self.consumer = Some(c),
                    Err(e) => log::debug!(target: "webmessaging_nats::transport", "{e}"),
                }
            }
            if let Some(c) = &self.consumer {
                let opened = c
                    .stream()
                    .max_messages_per_batch(1000)
                    .heartbeat(Duration::from_secs(1))
                    .expires(Duration::from_secs(5))
                    .messages()
                    .await;
                match opened {
                    Ok(m) => {
                        self.messages = Some(m);
                        return;
                    }
                    Err(e) => {
                        log::debug!(target: "webmessaging_nats::transport", "messages: {e}");
                        self.consumer = None;
                    }
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(500));
        }
    }
}

impl Inbox for NatsInbox {
    fn next(&mut self) -> BoxFuture<'_, Option<Delivery>> {
        Box::pin(async move {
            loop {
                if self.messages.is_none() {
                    self.reopen().await;
                }
                let Some(messages) = self.messages.as_mut() else {
                    continue;
                };
                match messages.next().await {
                    Some(Ok(m)) => {
                        let subject = m.subject.to_string();
                        let payload = m.payload.to_vec();
                        let ack: Acker = Box::new(move || {
                            Box::pin(async move {
                                if let Err(e) = m.ack().await {
                                    log::debug!(target: "webmessaging_nats::transport", "ack: {e}");
                                }
                            })
                        });
                        return Some(Delivery {
                            subject,
                            payload,
                            ack,
                        });
                    }
                    Some(Err(e)) => {
                        log::debug!(target: "webmessaging_nats::transport", "pull: {e}; reopening");
                        self.messages = None;
                        self.consumer = None;
                    }
                    None => {
                        self.messages = None;
                    }
                }
            }
        })
    }
}

/// The stream `config` names, made if it does not exist yet. Every process of a bridge
/// makes the same streams at start-up: when two race, both find none and one creation
/// fails (nats-server 2.9 answers "subjects overlap with an existing stream"), so a
/// failed creation looks the stream up again (a few times, briefly) before giving up.
async fn stream_shared_by_racers(
    js: &jetstream::Context,
    config: stream::Config,
) -> std::result::Result<stream::Stream, jetstream::context::CreateStreamError> {
    let name = config.name.clone();
    let created = match js.get_or_create_stream(config).await {
        Ok(s) => return Ok(s),
        Err(e) => e,
    };
    for attempt in 0..5u64 {
        if let Ok(s) = js.get_stream(&name).await {
            return Ok(s);
        }
        tokio::time::sleep(Duration::from_millis(20 * (attempt + 1))).await;
    }
    Err(created)
}
