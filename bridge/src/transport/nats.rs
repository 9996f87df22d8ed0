//! [`Transport`] over NATS JetStream (`async-nats`): one file-backed stream holds every
//! subject of the bridge (`PREFIX.>`); a frame is published with its `Nats-Msg-Id`, so
//! the stream's dedup window drops a resent copy; each direction is read through a
//! durable pull consumer with explicit acks, which the server keeps across its own
//! restarts and the bridge's.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
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
        let stream = js
            .get_or_create_stream(stream::Config {
                name: config.stream.clone(),
                subjects: vec![format!("{}.>", config.prefix)],
                storage: stream::StorageType::File,
                max_age: config.max_age,
                duplicate_window: config.duplicate_window,
                ..Default::default()
            })
            .await
            .map_err(|e| err("stream", e))?;
        Ok(NatsTransport { js, stream, config })
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
            let floor_seq = self
                .stream
                .consumer_info(&durable)
                .await
                .map_err(|e| err("consumer info", e))?
                .ack_floor
                .stream_sequence;
            let floor = if floor_seq == 0 {
                None
            } else {
                let m = self
                    .stream
                    .get_raw_message(floor_seq)
                    .await
                    .map_err(|e| err("floor message", e))?;
                Some(m.payload.to_vec())
            };
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
                floor,
            })
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
