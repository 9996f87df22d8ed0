//! Memory per live `MessageChannel` at 10k, 100k and 1M channels, idle and started, each
//! measured in a fresh child process (RSS delta per channel), like
//! `../shared/bench-peers/node/messagechannel-memory.js`.
//!
//! ```text
//! cargo bench -p webmessaging --bench memory
//! BENCH_CHANNELS=100000 cargo bench -p webmessaging --bench memory   # one size
//! ```

#[path = "support/memory.rs"]
mod memory;
#[path = "support/nested.rs"]
mod nested;
#[path = "support/workloads.rs"]
mod workloads;

fn main() {
    if memory::run_child_if_asked() {
        return;
    }
    let sizes: Vec<usize> = match std::env::var("BENCH_CHANNELS") {
        Ok(v) => v.split(',').filter_map(|s| s.trim().parse().ok()).collect(),
        Err(_) => vec![10_000, 100_000, 1_000_000],
    };
    println!("| channels | variant | RSS bytes per channel | RSS delta |");
    println!("|---:|---|---:|---:|");
    for c in sizes {
        for variant in ["idle", "started"] {
            match memory::measure(variant, c) {
                Some(m) => println!(
                    "| {c} | {variant} | {:.0} | {:.1} MiB |",
                    m.rss_bytes_per_channel, m.rss_delta_mib
                ),
                None => println!("| {c} | {variant} | failed | |"),
            }
        }
    }
}
