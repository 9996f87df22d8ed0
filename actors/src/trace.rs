//! The trace recorder: what was posted, delivered, dropped (and why), transferred, closed,
//! thrown, crashed and restarted, exported as a Mermaid sequence diagram or Chrome
//! trace-event JSON (opens in <https://ui.perfetto.dev> and `chrome://tracing`).
//!
//! Off by default, and then free: every hook is one relaxed atomic load and a branch.
//! [`start`] turns it on for the whole process, [`take`] stops it and returns the events,
//! [`snapshot`] copies them while recording goes on.
//!
//! # Names
//!
//! Events name *realms* the way logs do: a window or iframe realm is its browsing
//! context's name followed by `#` and the document's serial (`https://b.example/#2` is the
//! second document of that iframe: it navigated or was restarted once), a worker realm is
//! `workerN(URL)#0`. Ports are `portC.E` (channel `C`, end `1` or `2`) with `@n` after `n`
//! transfers. A port event is attributed to the realm that owns the port when it happens
//! (the port name is in the detail), so the diagram shows realms talking, whatever ports
//! they use. Broadcasts go to a pseudo-participant `BroadcastChannel NAME`.
//!
//! In the diagram every browsing context or worker is one participant (its documents
//! share it; a new document shows up as a note), and in the JSON every participant is one
//! track.
//!
//! ```
//! use webmessaging::prelude::*;
//! use webmessaging::trace;
//!
//! #[actix_rt::main]
//! async fn main() -> webmessaging::Result<()> {
//!     trace::start();
//!     let browser = Browser::new();
//!     let page = browser.open("https://a.example/")?;
//!     page.run(|scope: &Scope| {
//!         let channel = scope.message_channel();
//!         channel.port2().on_message(|_s: &Scope, _e: &MessageEvent| {});
//!         channel.port1().post("hello")
//!     })
//!     .await??;
//!     page.settle().await?;
//!     browser.shutdown();
//!     let events = trace::take();
//!     let diagram = trace::to_mermaid(&events);
//!     assert!(diagram.starts_with("sequenceDiagram"));
//!     assert!(diagram.contains("participant p1 as https://a.example/"));
//!     assert!(diagram.contains("p1->>p1: port"));
//!     let json = trace::to_chrome_json(&events);
//!     assert!(json.contains("\"traceEvents\""));
//!     Ok(())
//! }
//! ```
//!
//! The tour example (`cargo run --example tour`) writes both files of a whole app's run
//! under `target/`.

use std::collections::HashMap;
use std::fmt::Write as _;

pub use crate::kernel::trace::{is_enabled, snapshot, start, take, TraceEvent, TraceKind};

// ----- export -----

/// The participant a realm name belongs to: its browsing context or worker (the
/// document serial after `#` is dropped).
fn participant_of(name: &str) -> &str {
    match name.rsplit_once('#') {
        Some((stem, serial))
            if !serial.is_empty() && serial.bytes().all(|b| b.is_ascii_digit()) =>
        {
            stem
        }
        _ => name,
    }
}

/// Keeps text Mermaid accepts in labels, notes and messages: no `#` or `;` (they start
/// entity codes and end statements), no line breaks, no HTML-ish `<` `>`.
fn mermaid_text(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| match c {
            '#' => ' ',
            ';' => ',',
            '"' => '\'',
            '<' => '(',
            '>' => ')',
            '{' => '(',
            '}' => ')',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    if out.trim().is_empty() {
        out = "-".to_owned();
    }
    out
}

/// Assigns participants (`p1`, `p2`, ...) in order of appearance.
struct Participants {
    ids: HashMap<String, usize>,
    order: Vec<String>,
}

impl Participants {
    fn new() -> Participants {
        Participants {
            ids: HashMap::new(),
            order: Vec::new(),
        }
    }

    fn id(&mut self, name: &str) -> usize {
        let p = participant_of(name);
        if let Some(&i) = self.ids.get(p) {
            return i;
        }
        self.order.push(p.to_owned());
        self.ids.insert(p.to_owned(), self.order.len());
        self.order.len()
    }
}

/// Renders events as a Mermaid sequence diagram (`sequenceDiagram`): one participant per
/// browsing context, worker or broadcast channel name; posts and closes are arrows,
/// everything else is a note over where it happened.
pub fn to_mermaid(events: &[TraceEvent]) -> String {
    let mut parts = Participants::new();
    let mut body = String::new();
    let mut documents: HashMap<usize, String> = HashMap::new();
    for e in events {
        // Queue depths are counters: the JSON export draws them, the diagram does not.
        if e.kind == TraceKind::Depth {
            continue;
        }
        let from = parts.id(&e.from);
        let to = if e.to.is_empty() {
            from
        } else {
            parts.id(&e.to)
        };
        // A new document of a browsing context shows up as a note.
        for name in [&e.from, &e.to] {
            if let Some((_, serial)) = name.rsplit_once('#') {
                let id = parts.id(name);
                let serial = serial.to_owned();
                if documents.get(&id) != Some(&serial) {
                    let first = !documents.contains_key(&id);
                    documents.insert(id, serial.clone());
                    if !first {
                        let _ = writeln!(
                            body,
                            "    Note over p{id}: document {serial} is now current"
                        );
                    }
                }
            }
        }
        let detail = mermaid_text(&e.detail);
        let _ = match e.kind {
            TraceKind::Post => writeln!(body, "    p{from}->>p{to}: {detail}"),
            TraceKind::Deliver => writeln!(body, "    Note over p{to}: {detail}"),
            TraceKind::Transfer => writeln!(body, "    Note over p{to}: {detail}"),
            TraceKind::Drop => writeln!(body, "    Note over p{from}: DROPPED {detail}"),
            TraceKind::Close => writeln!(body, "    p{from}--xp{to}: {detail}"),
            TraceKind::Error => writeln!(body, "    Note over p{from}: ERROR {detail}"),
            TraceKind::Crash => writeln!(body, "    Note over p{from}: CRASH {detail}"),
            TraceKind::Lifecycle => writeln!(body, "    Note over p{from}: {detail}"),
            TraceKind::Depth => Ok(()),
        };
    }
    let mut out = String::from("sequenceDiagram\n");
    for (i, name) in parts.order.iter().enumerate() {
        let _ = writeln!(out, "    participant p{} as {}", i + 1, mermaid_text(name));
    }
    out.push_str(&body);
    out
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Renders events as Chrome trace-event JSON (the JSON object format): one instant event
/// per trace event, one track per participant (browsing context, worker or broadcast
/// channel), named by metadata events. Opens in Perfetto and `chrome://tracing`.
pub fn to_chrome_json(events: &[TraceEvent]) -> String {
    let mut parts = Participants::new();
    let mut out = String::from("{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n");
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            out.push_str(",\n");
        }
        if e.kind == TraceKind::Depth {
            // A counter track per queue: its depth over time.
            let _ = write!(
                out,
                "{{\"name\":{},\"cat\":\"depth\",\"ph\":\"C\",\"ts\":{:.3},\"pid\":1,\"args\":{{\"tasks\":{}}}}}",
                json_str(&format!("queued: {}", participant_of(&e.from))),
                e.at_us,
                e.detail.parse::<u64>().unwrap_or(0),
            );
            continue;
        }
        // The track is where the event happened: the sender for posts and closes, the
        // receiver for deliveries and transfers.
        let at = match e.kind {
            TraceKind::Deliver | TraceKind::Transfer if !e.to.is_empty() => &e.to,
            _ => &e.from,
        };
        let tid = parts.id(at);
        let _ = write!(
            out,
            "{{\"name\":{},\"cat\":{},\"ph\":\"i\",\"s\":\"t\",\"ts\":{:.3},\"pid\":1,\"tid\":{},\"args\":{{\"from\":{},\"to\":{},\"detail\":{},\"thread\":{}}}}}",
            json_str(&format!("{} {}", e.kind.as_str(), e.detail)),
            json_str(e.kind.as_str()),
            e.at_us,
            tid,
            json_str(&e.from),
            json_str(&e.to),
            json_str(&e.detail),
            json_str(&e.thread),
        );
    }
    let sep = if events.is_empty() { "" } else { ",\n" };
    let _ = write!(
        out,
        "{sep}{{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"tid\":0,\"args\":{{\"name\":\"webmessaging\"}}}}"
    );
    for (i, name) in parts.order.iter().enumerate() {
        let _ = write!(
            out,
            ",\n{{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":{},\"args\":{{\"name\":{}}}}}",
            i + 1,
            json_str(name)
        );
        let _ = write!(
            out,
            ",\n{{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":1,\"tid\":{},\"args\":{{\"sort_index\":{}}}}}",
            i + 1,
            i + 1
        );
    }
    out.push_str("\n]}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: TraceKind, from: &str, to: &str, detail: &str) -> TraceEvent {
        TraceEvent {
            at_us: 1.5,
            kind,
            from: from.into(),
            to: to.into(),
            detail: detail.into(),
            thread: "actix-rt|system:0|arbiter:1".into(),
        }
    }

    fn sample() -> Vec<TraceEvent> {
        vec![
            ev(
                TraceKind::Post,
                "https://a.example/#1",
                "https://b.example/",
                "window message (targetOrigin \"https://b.example\"); x",
            ),
            ev(
                TraceKind::Deliver,
                "https://b.example/#1",
                "https://b.example/#1",
                "message from https://a.example",
            ),
            ev(
                TraceKind::Drop,
                "https://b.example/#1",
                "",
                "origin mismatch #1 <b>",
            ),
            ev(
                TraceKind::Post,
                "https://b.example/#1",
                "BroadcastChannel auth",
                "broadcast",
            ),
            ev(
                TraceKind::Transfer,
                "worker5(https://a.example/w.js)#0",
                "worker5(https://a.example/w.js)#0",
                "received port3.2@1\nline 2",
            ),
            ev(TraceKind::Post, "port3.1", "port3.2", "port3.1 to port3.2"),
            ev(
                TraceKind::Close,
                "https://a.example/#1",
                "worker5(https://a.example/w.js)#0",
                "port3.1 closed",
            ),
            ev(
                TraceKind::Error,
                "https://a.example/#1",
                "",
                "postMessage threw DataCloneError: \"fn\" {x}",
            ),
            ev(
                TraceKind::Crash,
                "https://b.example/#1",
                "",
                "boom \\ \u{1} \t",
            ),
            ev(
                TraceKind::Lifecycle,
                "https://b.example/",
                "",
                "restarted (restart 1)",
            ),
            ev(
                TraceKind::Deliver,
                "https://b.example/#2",
                "https://b.example/#2",
                "message",
            ),
        ]
    }

    #[test]
    fn mermaid_is_a_valid_sequence_diagram() {
        let m = to_mermaid(&sample());
        let mut lines = m.lines();
        assert_eq!(lines.next(), Some("sequenceDiagram"));
        let mut declared = Vec::new();
        for line in lines {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("participant ") {
                let (id, label) = rest.split_once(" as ").expect("participant id as label");
                assert!(id.chars().all(|c| c.is_ascii_alphanumeric()), "{line}");
                assert!(!label.contains(['#', ';', '\n']), "{line}");
                declared.push(id.to_owned());
                continue;
            }
            // Every statement is `A->>B: text`, `A--xB: text` or `Note over A: text`.
            let (head, text) = line.split_once(": ").expect("statement with text");
            assert!(
                !text.contains(['#', ';', '<', '>', '{', '}', '"']),
                "{line}"
            );
            assert!(!text.trim().is_empty(), "{line}");
            let ids: Vec<&str> = if let Some(id) = head.strip_prefix("Note over ") {
                vec![id]
            } else if let Some((a, b)) = head.split_once("->>") {
                vec![a, b]
            } else if let Some((a, b)) = head.split_once("--x") {
                vec![a, b]
            } else {
                panic!("unknown statement {line}")
            };
            for id in ids {
                assert!(
                    declared.iter().any(|d| d == id),
                    "undeclared {id} in {line}"
                );
            }
        }
        // Documents of one browsing context share a participant.
        assert_eq!(m.matches(" as https://b.example/\n").count(), 1, "{m}");
        assert!(m.contains("document 2 is now current"), "{m}");
        // Port events whose owner is unknown fall back to the port's name.
        assert!(m.contains(" as port3.1\n"), "{m}");
    }

    #[test]
    fn chrome_json_is_valid_trace_event_json() {
        for events in [sample(), Vec::new()] {
            let json = to_chrome_json(&events);
            let v: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
            let list = v["traceEvents"].as_array().expect("traceEvents array");
            let instants: Vec<_> = list.iter().filter(|e| e["ph"] == "i").collect();
            assert_eq!(instants.len(), events.len());
            for e in &instants {
                assert!(e["name"].is_string());
                assert!(e["ts"].is_number());
                assert!(e["pid"].is_u64() && e["tid"].is_u64());
                assert_eq!(e["s"], "t");
            }
            for m in list.iter().filter(|e| e["ph"] == "M") {
                assert!(m["args"]["name"].is_string() || m["args"]["sort_index"].is_u64());
            }
            if !events.is_empty() {
                assert_eq!(instants[8]["args"]["detail"], "boom \\ \u{1} \t");
                assert!(list.iter().any(
                    |e| e["name"] == "thread_name" && e["args"]["name"] == "https://b.example/"
                ));
            }
        }
    }
}
