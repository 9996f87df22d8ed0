//! The trace recorder: what was posted, delivered, dropped (and why), transferred, closed,
//! crashed and restarted, exported as a Mermaid sequence diagram or Chrome trace-event
//! JSON (opens in Perfetto and `chrome://tracing`).
//!
//! Off by default, and then free: every hook is one relaxed atomic load and a branch.
//! [`start`] turns it on for the whole process, [`take`] stops it and returns the events.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

static ENABLED: AtomicBool = AtomicBool::new(false);
static NEXT_CHANNEL: AtomicU64 = AtomicU64::new(1);
static EVENTS: Mutex<Vec<TraceEvent>> = Mutex::new(Vec::new());
static EPOCH: Mutex<Option<Instant>> = Mutex::new(None);

pub(crate) fn next_channel_id() -> u64 {
    NEXT_CHANNEL.fetch_add(1, Ordering::Relaxed)
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceKind {
    /// A message was posted from `from` to `to`.
    Post,
    /// A message event was dispatched at `to`.
    Deliver,
    /// A message was dropped; `detail` says why.
    Drop,
    /// A port was transferred (`from` is the port, `to` the receiving realm).
    Transfer,
    /// A port was closed.
    Close,
    /// A listener returned an error.
    Error,
    /// A realm crashed (`detail`: the panic message).
    Crash,
    /// A realm was restarted or stopped by its supervisor (`detail` says which).
    Lifecycle,
}

/// One recorded event.
#[derive(Debug, Clone)]
pub struct TraceEvent {
    /// Microseconds since the recording started.
    pub at_us: f64,
    /// What happened.
    pub kind: TraceKind,
    /// The sending side (a realm or port name).
    pub from: String,
    /// The receiving side (a realm or port name), if any.
    pub to: String,
    /// Free text: the event type, the drop reason, the error message.
    pub detail: String,
    /// The thread it was recorded on.
    pub thread: String,
}

/// Whether recording is on.
#[inline]
pub fn is_enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Starts recording (clearing earlier events).
pub fn start() {
    EVENTS.lock().unwrap_or_else(|p| p.into_inner()).clear();
    *EPOCH.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    ENABLED.store(true, Ordering::Relaxed);
}

/// Stops recording and returns what was recorded, in order.
pub fn take() -> Vec<TraceEvent> {
    ENABLED.store(false, Ordering::Relaxed);
    std::mem::take(&mut *EVENTS.lock().unwrap_or_else(|p| p.into_inner()))
}

/// Returns a copy of what was recorded so far, recording on.
pub fn snapshot() -> Vec<TraceEvent> {
    EVENTS.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

#[cold]
pub(crate) fn record(kind: TraceKind, from: &str, to: &str, detail: &str) {
    let at_us = EPOCH
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .map(|e| e.elapsed().as_secs_f64() * 1e6)
        .unwrap_or(0.0);
    let thread = std::thread::current()
        .name()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{:?}", std::thread::current().id()));
    EVENTS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(TraceEvent {
            at_us,
            kind,
            from: from.to_owned(),
            to: to.to_owned(),
            detail: detail.to_owned(),
            thread,
        });
}

#[inline]
pub(crate) fn port_posted(port: &str) {
    if is_enabled() {
        record(TraceKind::Post, port, &peer_name(port), "port message");
    }
}

#[inline]
pub(crate) fn port_closed(port: &str) {
    if is_enabled() {
        record(TraceKind::Close, port, &peer_name(port), "close");
    }
}

#[inline]
pub(crate) fn dropped(at: &str, reason: &str) {
    if is_enabled() {
        record(TraceKind::Drop, at, at, reason);
    }
}

#[inline]
pub(crate) fn dropped_crash(realm: &str, message: &str) {
    if is_enabled() {
        record(TraceKind::Crash, realm, "", message);
    }
}

fn peer_name(port: &str) -> String {
    // "port3.1@2" -> "port3.2"
    let base = port.split('@').next().unwrap_or(port);
    if let Some(stem) = base.strip_suffix(".1") {
        format!("{stem}.2")
    } else if let Some(stem) = base.strip_suffix(".2") {
        format!("{stem}.1")
    } else {
        base.to_owned()
    }
}

fn participant(name: &str) -> String {
    // Port names follow their channel; realm names are used as they are.
    let base = name.split('@').next().unwrap_or(name);
    base.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Renders events as a Mermaid sequence diagram (`sequenceDiagram`).
pub fn to_mermaid(events: &[TraceEvent]) -> String {
    let mut out = String::from("sequenceDiagram\n");
    let mut seen: Vec<String> = Vec::new();
    for e in events {
        for n in [&e.from, &e.to] {
            if !n.is_empty() && !seen.contains(n) {
                seen.push(n.clone());
                let _ = writeln!(out, "    participant {} as {}", participant(n), n.replace(':', "#colon;"));
            }
        }
    }
    for e in events {
        let from = participant(&e.from);
        let to = participant(if e.to.is_empty() { &e.from } else { &e.to });
        let detail = e.detail.replace([';', '\n', '#'], " ");
        let _ = match e.kind {
            TraceKind::Post => writeln!(out, "    {from}->>{to}: post {detail}"),
            TraceKind::Deliver => writeln!(out, "    Note over {to}: {detail}"),
            TraceKind::Transfer => writeln!(out, "    {from}-->>{to}: transfer {detail}"),
            TraceKind::Drop => writeln!(out, "    Note over {from}: dropped: {detail}"),
            TraceKind::Close => writeln!(out, "    {from}--x{to}: close"),
            TraceKind::Error => writeln!(out, "    Note over {from}: error: {detail}"),
            TraceKind::Crash => writeln!(out, "    Note over {from}: CRASH {detail}"),
            TraceKind::Lifecycle => writeln!(out, "    Note over {from}: {detail}"),
        };
    }
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
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Renders events as Chrome trace-event JSON (instant events, one track per thread).
pub fn to_chrome_json(events: &[TraceEvent]) -> String {
    let mut threads: Vec<&str> = Vec::new();
    let mut out = String::from("{\"traceEvents\":[\n");
    for (i, e) in events.iter().enumerate() {
        let tid = match threads.iter().position(|t| *t == e.thread) {
            Some(p) => p,
            None => {
                threads.push(&e.thread);
                threads.len() - 1
            }
        };
        if i > 0 {
            out.push_str(",\n");
        }
        let _ = write!(
            out,
            "{{\"name\":{},\"cat\":{},\"ph\":\"i\",\"s\":\"t\",\"ts\":{:.3},\"pid\":1,\"tid\":{},\"args\":{{\"from\":{},\"to\":{},\"detail\":{}}}}}",
            json_str(&format!("{:?} {}", e.kind, e.detail)),
            json_str(&format!("{:?}", e.kind).to_lowercase()),
            e.at_us,
            tid,
            json_str(&e.from),
            json_str(&e.to),
            json_str(&e.detail)
        );
    }
    for (tid, t) in threads.iter().enumerate() {
        let _ = write!(
            out,
            ",\n{{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":{tid},\"args\":{{\"name\":{}}}}}",
            json_str(t)
        );
    }
    out.push_str("\n]}\n");
    out
}
