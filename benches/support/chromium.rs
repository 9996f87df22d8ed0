//! The headless Chromium side of `--bench compare`: runs the peers' `chromium/perf.js`
//! (the same workloads timed inside a page, over the DevTools pipe, no npm packages)
//! once, when `chromium` is installed, and maps its figures onto our rows.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Our row key, the perf.js field with the same figure, and a note when the two differ
/// in kind (the table shows it).
pub const FIELDS: &[(&str, &str, &str)] = &[
    ("mc_burst", "mc_burst_msgs_per_sec", ""),
    ("mc_post_only", "mc_burst_post_only_msgs_per_sec", ""),
    ("mc_bounded", "mc_burst_msgs_per_sec", "unbounded"),
    ("mc_one", "mc_one_in_flight_msgs_per_sec", ""),
    ("mc_rtt_p50", "mc_rtt_mean_us", "mean"),
    ("w2w", "window_to_same_origin_iframe_msgs_per_sec", ""),
    ("w2w_xsite", "window_to_cross_site_iframe_msgs_per_sec", ""),
    (
        "scenario_fresh",
        "scenario_fresh_browser_us",
        "fresh browser",
    ),
    ("scenario_window", "scenario_new_tab_us", "new tab"),
    ("clone_nested", "clone_nested_per_sec", ""),
    ("mem_idle_100k", "mem_per_channel_idle_bytes", ""),
    ("mem_started_100k", "mem_per_channel_started_bytes", ""),
    (
        "mem_iframe_1k",
        "mem_per_same_origin_iframe_bytes",
        "100 iframes",
    ),
    ("bc_100", "bc_1_to_100_deliveries_per_sec", ""),
    ("bc_1", "bc_1_to_1_deliveries_per_sec", ""),
];

/// The Chromium figures of one run, by perf.js field, or why there are none.
pub fn run(node: &str, peers: &Path, n: u64, rt: usize) -> Result<BTreeMap<String, f64>, String> {
    let exe = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    if !Path::new(&exe).is_file() {
        return Err(format!(
            "{exe} is not installed (`apt-get install chromium`, or set CHROMIUM)"
        ));
    }
    let script = peers.join("chromium/perf.js");
    if !script.is_file() {
        return Err(format!("{} was not found", script.display()));
    }
    eprintln!("  chromium: perf.js --n={n} --rt={rt} (about a minute and a half)");
    let out = Command::new(node)
        .arg(&script)
        .arg(format!("--n={n}"))
        .arg(format!("--rt={rt}"))
        .env("CHROMIUM", &exe)
        .output()
        .map_err(|e| format!("perf.js: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "perf.js failed: {}",
            err.lines().last().unwrap_or("")
        ));
    }
    // One JSON object, pretty-printed over several lines.
    let text = String::from_utf8_lossy(&out.stdout);
    let start = text.find('{').ok_or("perf.js printed no JSON")?;
    let v: serde_json::Value =
        serde_json::from_str(&text[start..]).map_err(|e| format!("perf.js JSON: {e}"))?;
    let obj = v.as_object().ok_or("perf.js JSON is not an object")?;
    let mut figures: BTreeMap<String, f64> = obj
        .iter()
        .filter_map(|(k, v)| v.as_f64().map(|x| (k.clone(), x)))
        .collect();
    // The scenario costs come in milliseconds; the rows are in microseconds.
    for (ms, us) in [
        (
            "scenario_fresh_browser_ms_median",
            "scenario_fresh_browser_us",
        ),
        ("scenario_new_tab_ms_median", "scenario_new_tab_us"),
    ] {
        if let Some(v) = figures.get(ms).copied() {
            figures.insert(us.to_owned(), v * 1000.0);
        }
    }
    Ok(figures)
}
