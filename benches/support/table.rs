//! The table of `--bench compare`: samples over rounds, medians, the figures' formats,
//! and the markdown table with the Node and Chromium columns and each row's verdict.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::chromium;
use crate::rows::{Target, Unit, ROWS};

/// Our samples, or a peer's, by row key (or `bench.field`), over rounds.
#[derive(Default)]
pub struct Samples(BTreeMap<String, Vec<f64>>);

impl Samples {
    pub fn push(&mut self, key: &str, v: f64) {
        self.0.entry(key.to_owned()).or_default().push(v);
    }

    pub fn median(&self, key: &str) -> Option<f64> {
        let v = self.0.get(key)?;
        if v.is_empty() {
            return None;
        }
        let mut s = v.clone();
        s.sort_by(|a, b| a.total_cmp(b));
        let m = s.len() / 2;
        Some(if s.len() % 2 == 1 {
            s[m]
        } else {
            (s[m - 1] + s[m]) / 2.0
        })
    }

    pub fn count(&self, key: &str) -> usize {
        self.0.get(key).map_or(0, Vec::len)
    }
}

fn fmt_value(unit: Unit, v: f64) -> String {
    match unit {
        Unit::PerSec => {
            if v >= 1e6 {
                format!("{:.2}M/s", v / 1e6)
            } else if v >= 1e3 {
                format!("{:.1}k/s", v / 1e3)
            } else {
                format!("{v:.0}/s")
            }
        }
        Unit::Micros => {
            if v >= 10_000.0 {
                format!("{:.1} ms", v / 1000.0)
            } else if v >= 100.0 {
                format!("{v:.0} us")
            } else if v >= 1.0 {
                format!("{v:.2} us")
            } else {
                format!("{:.0} ns", v * 1000.0)
            }
        }
        Unit::Bytes => format!("{v:.0} B"),
    }
}

/// A ratio: `2.50x`, or `1/7541` when it is far below one.
fn fmt_ratio(q: f64) -> String {
    if q > 0.0 && q <= 0.01 {
        format!("1/{:.0}", 1.0 / q)
    } else {
        format!("{q:.2}x")
    }
}

pub fn render(
    ours: &Samples,
    theirs: &Samples,
    chrome: &BTreeMap<String, f64>,
    rounds: usize,
    have_node: bool,
    n: u64,
    rt: usize,
) -> String {
    let mut out = String::new();
    let machine = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let _ = writeln!(
        out,
        "# webmessaging vs Node.js and headless Chromium: medians over {rounds} round(s), {cpus} CPUs ({machine}), N = {}, round trips = {}\n",
        n, rt
    );
    if chrome.is_empty() {
        let _ = writeln!(
            out,
            "**Headless Chromium did not run (not installed, or skipped): the Chromium column is empty.**\n"
        );
    } else {
        let _ = writeln!(
            out,
            "Chromium: one run of `bench-peers/chromium/perf.js` after the rounds (N = {}, round trips = {}).\n",
            n.min(200_000),
            rt.min(20_000)
        );
    }
    if !have_node {
        let _ = writeln!(
            out,
            "**Node.js was not found: the Node column is empty.**\n"
        );
    }
    let _ = writeln!(
        out,
        "| figure | ours (median) | Node (median) | ratio ours/Node | Chromium (one run) | ratio ours/Chromium | target | met |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---|---|");
    for r in ROWS {
        let o = ours.median(r.key);
        let n = r.node.and_then(|(b, f)| theirs.median(&format!("{b}.{f}")));
        let ratio = match (o, n) {
            (Some(o), Some(n)) if n != 0.0 => Some(o / n),
            _ => None,
        };
        let c = chromium::FIELDS
            .iter()
            .find(|(k, _, _)| *k == r.key)
            .and_then(|(_, f, note)| chrome.get(*f).map(|v| (*v, *note)));
        let c_q = match (o, c) {
            (Some(o), Some((c, _))) if c != 0.0 => Some(o / c),
            _ => None,
        };
        let c_ratio = c_q.map_or("—".into(), fmt_ratio);
        let (target, met) = match r.target {
            Target::None => ("—".to_owned(), "—".to_owned()),
            Target::AtLeast(x) => (
                format!("≥ {x}x Node"),
                ratio.map_or(
                    "?".into(),
                    |q| if q >= x { "yes".into() } else { "NO".into() },
                ),
            ),
            Target::AtMost(x) => (
                format!("≤ {x}x Node"),
                ratio.map_or(
                    "?".into(),
                    |q| if q <= x { "yes".into() } else { "NO".into() },
                ),
            ),
            Target::AtLeastChromium(x) => (
                format!("≥ {x}x Chromium"),
                c_q.map_or(
                    "?".into(),
                    |q| if q >= x { "yes".into() } else { "NO".into() },
                ),
            ),
            Target::AtMostChromium(x) => (
                format!("≤ {} Chromium", fmt_ratio(x)),
                c_q.map_or(
                    "?".into(),
                    |q| if q <= x { "yes".into() } else { "NO".into() },
                ),
            ),
            Target::ConstantVs(other, x) => {
                let base = ours.median(other);
                (
                    format!("constant (≤ {x}x the 1 MiB time)"),
                    match (o, base) {
                        (Some(o), Some(b)) => {
                            let q = o / b;
                            if q <= x {
                                format!("yes ({q:.2}x)")
                            } else {
                                format!("NO ({q:.2}x)")
                            }
                        }
                        _ => "?".into(),
                    },
                )
            }
        };
        let rounds_note = match ours.count(r.key) {
            c if c > 0 && c < rounds => format!(" ({c} run)"),
            _ => String::new(),
        };
        let c_cell = match c {
            Some((v, "")) => fmt_value(r.unit, v),
            Some((v, note)) => format!("{} ({note})", fmt_value(r.unit, v)),
            None => "—".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {}{} | {} | {} | {c_cell} | {c_ratio} | {} | {} |",
            r.label.trim(),
            o.map_or("—".into(), |v| fmt_value(r.unit, v)),
            rounds_note,
            n.map_or("—".into(), |v| fmt_value(r.unit, v)),
            ratio.map_or("—".into(), fmt_ratio),
            target,
            met
        );
    }
    let _ = writeln!(
        out,
        "\nRatios are ours ÷ Node and ours ÷ Chromium: above 1 is more for throughput, below 1 is less for times and bytes. \
         Throughput rows deliver to listeners that deserialize each message (`on_message_as::<Msg>`, \
         Node: `e.data`)."
    );
    out
}
