//! Drawing a simulated run: its record ([`SimTrace`]) as a Mermaid sequence diagram and
//! as Chrome trace-event JSON, by the same exporters as the threaded runtime's trace.
//!
//! Each observed event becomes a delivery from its source (the sending browsing context,
//! or the realm itself) to the realm it fired in; each fault a crash or lifecycle note;
//! the tasks themselves are left out of the diagram (the text form lists them). In the
//! Chrome JSON the time axis is the step number (one microsecond per step), since virtual
//! time stands still while tasks run, and each realm is a lane.

use crate::kernel::trace::{TraceEvent, TraceKind};
use crate::kernel::FaultKind;
use crate::simulation::{data_text, SimEntry, SimTrace};
use crate::trace::{to_chrome_json, to_mermaid};

impl SimTrace {
    /// The run as trace events (what [`SimTrace::to_mermaid`] and
    /// [`SimTrace::to_chrome_json`] draw).
    pub fn to_trace_events(&self) -> Vec<TraceEvent> {
        let mut out = Vec::new();
        let mut step = 0u64;
        for e in &self.entries {
            match e {
                SimEntry::Task { step: s, .. } => step = *s,
                SimEntry::Event(ev) => {
                    let from = ev.source.clone().unwrap_or_else(|| ev.realm.clone());
                    let mut detail = format!("{} at {}", ev.event_type, ev.target);
                    if ev.record.is_some() {
                        detail.push_str(&format!(": {}", data_text(ev)));
                    }
                    out.push(TraceEvent {
                        at_us: step as f64,
                        kind: TraceKind::Deliver,
                        from,
                        to: ev.realm.clone(),
                        detail,
                        thread: ev.realm.clone(),
                    });
                }
                SimEntry::Fault(f) => out.push(TraceEvent {
                    at_us: f.step as f64,
                    kind: match f.kind {
                        FaultKind::Crash => TraceKind::Crash,
                        _ => TraceKind::Lifecycle,
                    },
                    from: f.target.clone(),
                    to: String::new(),
                    detail: format!("simulated fault: {} ({})", f.kind, f.detail),
                    thread: f.target.clone(),
                }),
                SimEntry::Clock { .. } => {}
            }
        }
        out
    }

    /// The run as a Mermaid sequence diagram.
    pub fn to_mermaid(&self) -> String {
        to_mermaid(&self.to_trace_events())
    }

    /// The run as Chrome trace-event JSON (opens in <https://ui.perfetto.dev>).
    pub fn to_chrome_json(&self) -> String {
        to_chrome_json(&self.to_trace_events())
    }
}
