//! A user's own actix actor holding a port: a pricing service that is not a realm.
//!
//! A shop page creates a `MessageChannel`, keeps `port1`, and hands `port2` to the
//! pricing actor (`ActorPort::take`: a transfer, so the page's `port2` is detached). The
//! actor attaches the port to its own mailbox: each message the page posts arrives as a
//! typed `PortEvent<PriceRequest>`, and it answers on the port. With the last request the
//! page sends a second port, a capability for a "receipt" channel, which the actor
//! attaches too. When the page closes its port, the actor gets `close`.
//!
//! Run with `cargo run --example pricing_actor`.

use std::time::Duration;

use actix::{Actor, AsyncContext, Context, Handler, Message};
use serde::{Deserialize, Serialize};
use webmessaging::prelude::*;
use webmessaging::{ActorPort, AttachedPort, PortEvent};

#[derive(Debug, Serialize, Deserialize)]
struct PriceRequest {
    item: String,
    qty: u32,
}

#[derive(Debug, Serialize, Deserialize)]
struct Price {
    item: String,
    cents: u32,
}

/// The service: a plain actix actor with a price list.
struct Pricing {
    shop: Option<AttachedPort>,
    receipts: Option<AttachedPort>,
}

impl Actor for Pricing {
    type Context = Context<Self>;
}

/// "Here is a port to the shop."
struct Connect(ActorPort);

impl Message for Connect {
    type Result = ();
}

impl Handler<Connect> for Pricing {
    type Result = ();

    fn handle(&mut self, m: Connect, ctx: &mut Self::Context) {
        self.shop = Some(m.0.attach::<PriceRequest>(ctx.address().recipient()));
    }
}

impl Handler<PortEvent<PriceRequest>> for Pricing {
    type Result = ();

    fn handle(&mut self, ev: PortEvent<PriceRequest>, ctx: &mut Self::Context) {
        match ev {
            PortEvent::Message { data, ports } => {
                let unit = match data.item.as_str() {
                    "apple" => 40,
                    "pear" => 55,
                    _ => 99,
                };
                let price = Price {
                    cents: unit * data.qty,
                    item: data.item,
                };
                println!(
                    "pricing: {} x{} -> {} cents",
                    price.item, data.qty, price.cents
                );
                if let Some(receipt) = ports.into_iter().next() {
                    let receipts = receipt.attach::<PriceRequest>(ctx.address().recipient());
                    receipts
                        .post(&format!("receipt for {}", price.item))
                        .unwrap();
                    self.receipts = Some(receipts);
                }
                if let Some(shop) = &self.shop {
                    shop.post(&price).unwrap();
                }
            }
            PortEvent::MessageError { error } => println!("pricing: unreadable request: {error}"),
            PortEvent::Close => {
                println!("pricing: the shop closed its port");
                self.shop = None;
                self.receipts = None;
            }
        }
    }
}

#[actix_rt::main]
async fn main() -> webmessaging::Result<()> {
    let pricing = Pricing {
        shop: None,
        receipts: None,
    }
    .start();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let browser = Browser::new();
    let shop = browser.open_with(
        "https://shop.example/",
        move |scope: &Scope| -> webmessaging::Result<()> {
            let (mine, theirs) = scope.message_channel().into_ports();
            let t = tx.clone();
            mine.on_message_as(move |_: &Scope, _: &MessageEvent, p: Price| {
                let _ = t.send(format!("shop: {} costs {} cents", p.item, p.cents));
            });
            pricing.do_send(Connect(ActorPort::take(&theirs)?));
            mine.post(&PriceRequest {
                item: "apple".into(),
                qty: 3,
            })?;
            // The last request carries a capability: a port for receipts.
            let (receipts, give) = scope.message_channel().into_ports();
            let t = tx.clone();
            receipts.on_message_as(move |_: &Scope, _: &MessageEvent, r: String| {
                let _ = t.send(format!("shop: {r}"));
            });
            mine.post_with_transfer(
                &PriceRequest {
                    item: "pear".into(),
                    qty: 2,
                },
                &[give.to_value()],
            )?;
            scope.set_global((mine, receipts));
            Ok(())
        },
    )?;
    for _ in 0..3 {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(line)) => println!("{line}"),
            _ => break,
        }
    }
    shop.run(|scope: &Scope| {
        let (mine, _) = &*scope
            .global::<(MessagePort, MessagePort)>()
            .expect("set above");
        mine.close();
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(50)).await;
    browser.shutdown();
    Ok(())
}
