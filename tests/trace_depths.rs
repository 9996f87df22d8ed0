//! Queue depths in the trace (issue 14 item 5): with recording on, every change of a
//! browsing context's window-message queue and of an event loop's message tasks is a
//! `depth` record, drawn as a counter track in the Chrome trace JSON and left out of the
//! Mermaid diagram; refusals are `drop` records with their reason.
//!
//! One test per process: the recorder is global.

use webmessaging::kernel::metrics::OVER_LOOP_BOUND;
use webmessaging::prelude::*;
use webmessaging::trace::{self, TraceKind};
use webmessaging::Limits;

#[actix_rt::test]
async fn queue_depths_and_refusals_are_traced() {
    let browser = Browser::new();
    browser.set_limits(Limits {
        max_queued_per_event_loop: Some(3),
        ..Limits::default()
    });
    let page = browser
        .open_with("https://app.example/", |s: &Scope| {
            s.on_message(|_: &Scope, _: &MessageEvent| {});
        })
        .unwrap();
    page.settle().await.unwrap();
    trace::start();
    // Four in one task: three wait, the fourth is refused; then the three run.
    page.run(|s: &Scope| {
        for i in 0..4u32 {
            s.post(&i).unwrap();
        }
    })
    .await
    .unwrap();
    page.settle().await.unwrap();
    let events = trace::take();
    browser.shutdown();
    let depths = |queue: &dyn Fn(&str) -> bool| -> Vec<String> {
        events
            .iter()
            .filter(|e| e.kind == TraceKind::Depth && queue(&e.from))
            .map(|e| e.detail.clone())
            .collect()
    };
    let name = page.proxy().name().to_owned();
    assert_eq!(
        depths(&|q| q == name),
        ["1", "2", "3", "2", "1", "0"],
        "the context's window messages"
    );
    assert_eq!(
        depths(&|q| q.starts_with("event loop ")),
        ["1", "2", "3", "2", "1", "0"],
        "the event loop's message tasks"
    );
    let drops: Vec<_> = events
        .iter()
        .filter(|e| e.kind == TraceKind::Drop)
        .map(|e| e.detail.as_str())
        .collect();
    assert_eq!(drops, [OVER_LOOP_BOUND]);
    let json = trace::to_chrome_json(&events);
    let counter = format!("{{\"name\":\"queued: {name}\",\"cat\":\"depth\",\"ph\":\"C\"");
    assert_eq!(json.matches(&counter).count(), 6, "{json}");
    assert!(json.contains("\"args\":{\"tasks\":3}"));
    let diagram = trace::to_mermaid(&events);
    assert!(
        !diagram.contains("as event loop"),
        "no participant for a queue: {diagram}"
    );
    assert!(
        diagram.contains(&format!("DROPPED {OVER_LOOP_BOUND}")),
        "{diagram}"
    );
}
