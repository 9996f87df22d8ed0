//! [`MessageChannel`](https://html.spec.whatwg.org/multipage/web-messaging.html#message-channels):
//! two new ports of the current realm, entangled.

use super::*;

/// A `MessageChannel`: two new ports, entangled, owned by the realm that made them.
///
/// Ports that were never transferred share their event loop's *unshipped port message
/// queue*: their messages run in the order they were posted, across channels.
///
/// ```
/// use std::time::Duration;
/// use webmessaging::prelude::*;
///
/// # #[actix_rt::main]
/// # async fn main() -> webmessaging::Result<()> {
/// let browser = Browser::new();
/// let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
/// let _page = browser.open_with("https://app.example/", move |scope: &Scope| -> webmessaging::Result<()> {
///     let (one, two) = (scope.message_channel(), scope.message_channel());
///     for channel in [&one, &two] {
///         let tx = tx.clone();
///         channel.port2().on_message_as(move |_: &Scope, _: &MessageEvent, s: String| {
///             let _ = tx.send(s);
///         });
///     }
///     one.port1().post("a")?;
///     two.port1().post("b")?;
///     one.port1().post("c")
/// })?;
/// let mut got = Vec::new();
/// while got.len() < 3 {
///     let next = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
///     got.push(next.ok().flatten().expect("a message"));
/// }
/// assert_eq!(got, ["a", "b", "c"]);
/// browser.shutdown();
/// # Ok(())
/// # }
/// ```
pub struct MessageChannel {
    port1: MessagePort,
    port2: MessagePort,
}

impl MessageChannel {
    pub(crate) fn new_in(realm: &Rc<RealmInner>) -> MessageChannel {
        MessageChannel::new_bounded_in(realm, None)
    }

    /// A channel whose queues have `bound` (`None`: the standard's unbounded ones).
    pub(crate) fn new_bounded_in(
        realm: &Rc<RealmInner>,
        bound: Option<super::bounded::Bound>,
    ) -> MessageChannel {
        // Step 1-2: two new ports whose owner is the current realm.
        let k1 = realm.next_key();
        let k2 = realm.next_key();
        let owner = |key| PortOwner {
            addr: realm.shared_addr.clone(),
            key,
        };
        // Step 3: entangle them.
        let channel = Arc::new(Channel {
            id: trace::next_channel_id(),
            pair: Mutex::new(EntangledPair::new(owner(k1), owner(k2))),
            shipped: std::sync::atomic::AtomicBool::new(false),
            bound,
        });
        let p1 = PortObject::new(realm, channel.clone(), End::First, 0, k1);
        let p2 = PortObject::new(realm, channel, End::Second, 0, k2);
        MessageChannel {
            port1: MessagePort(p1),
            port2: MessagePort(p2),
        }
    }

    /// `channel.port1`.
    pub fn port1(&self) -> &MessagePort {
        &self.port1
    }

    /// `channel.port2`.
    pub fn port2(&self) -> &MessagePort {
        &self.port2
    }

    /// Both ports, by value.
    pub fn into_ports(self) -> (MessagePort, MessagePort) {
        (self.port1, self.port2)
    }
}
