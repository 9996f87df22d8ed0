//! Window.postMessage end to end: PM-*, EV-* rows of conformance.md.

use std::time::Duration;

use tokio::sync::mpsc;
use webmessaging::prelude::*;

type Tx = mpsc::UnboundedSender<String>;

async fn recv(rx: &mut mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("timed out")
        .expect("channel closed")
}

/// The seed's example: document A posts 'Hello world' to its iframe B; B checks the origin
/// and answers 'Hello' to event.source with event.origin. (PM-EXACT-ORIGIN, EV-ORIGIN-SERIALIZED)
#[actix_rt::test]
async fn seed_iframe_example() {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let t2 = tx.clone();
    browser
        .route("https://b.example.org/", move |scope: &Scope| {
            let tx = t2.clone();
            scope.on_message(move |scope: &Scope, e: &MessageEvent| -> webmessaging::Result<()> {
                tx.send(format!("B got {:?} from {}", e.data().as_str(), e.origin())).unwrap();
                if e.origin() == "https://example.com" {
                    let src = e.source_window().unwrap();
                    src.post_message(scope, &Value::from("Hello"), e.origin(), &[])?;
                }
                Ok(())
            });
        })
        .unwrap();
    let t1: Tx = tx.clone();
    let _a = browser
        .open_with("https://example.com/", move |scope: &Scope| -> webmessaging::Result<()> {
            let tx = t1.clone();
            scope.on_message(move |_s: &Scope, e: &MessageEvent| {
                tx.send(format!("A got {:?} from {}", e.data().as_str(), e.origin())).unwrap();
            });
            let b = scope.create_iframe("https://b.example.org/")?;
            b.post_message(scope, &Value::from("Hello world"), "https://b.example.org/", &[])?;
            Ok(())
        })
        .unwrap();
    assert_eq!(recv(&mut rx).await, "B got Some(\"Hello world\") from https://example.com");
    assert_eq!(recv(&mut rx).await, "A got Some(\"Hello\") from https://b.example.org");
    browser.shutdown();
}
