//! Our runtime and Node.js doing the same work, in one run, interleaved over several
//! rounds, summarized in one table (figure, ours, Node, ratio, target, met).
//!
//! ```text
//! cargo bench -p webmessaging --bench compare
//! BENCH_ROUNDS=5 cargo bench -p webmessaging --bench compare   # more rounds (default 3)
//! BENCH_QUICK=1 cargo bench -p webmessaging --bench compare    # smaller sizes, 1 round
//! ```
//!
//! Other knobs: `BENCH_ONLY=mc,shipped,many,worker,rpc,clone,bc,mem,iframes,scale` runs only those groups,
//! `BENCH_NO_NODE=1` runs only our side, `BENCH_MEMORY_1M=0` skips the 1M-channel memory figures (about two
//! minutes of Node), `BENCH_NODE=/path/to/node` picks the Node binary, `BENCH_PEERS=dir`
//! the folder holding `node/*.js` (default `../shared/bench-peers` next to the
//! workspace). When `chromium` is installed (`apt-get install chromium`; or set
//! `CHROMIUM`), the peers' `chromium/perf.js` runs once after the rounds and the table
//! gains a Chromium column and ratio; `BENCH_NO_CHROMIUM=1` skips it. The table is also written as markdown to `target/bench-compare.md`.
//!
//! Each round runs one of our workloads, then the Node script doing the same work, then
//! the next pair; ours are timed with their own clocks (not criterion) at the Node
//! scripts' sizes. Medians are over rounds.

#[path = "support/chromium.rs"]
mod chromium;
#[path = "support/groups.rs"]
mod groups;
#[path = "support/memory.rs"]
mod memory;
#[path = "support/nested.rs"]
mod nested;
#[path = "support/rows.rs"]
mod rows;
#[path = "support/rpc.rs"]
mod rpc_workloads;
#[path = "support/scale.rs"]
mod scale;
#[path = "support/table.rs"]
mod table;
#[path = "support/workloads.rs"]
mod workloads;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rows::*;
use table::{render, Samples};
use workloads::*;

/// Sizes, the same as the Node scripts' defaults (smaller with `BENCH_QUICK=1`).
struct Sizes {
    n: u64,
    rt: usize,
    window: u64,
    bc_n: u64,
    bc_batch: u64,
    bc10k_n: u64,
    bc10k_batch: u64,
    obj_iters: u64,
    buf_iters: u64,
    xfer_iters: u64,
    many_total: u64,
    mem: Vec<usize>,
    mem_1m: bool,
}

impl Sizes {
    fn from_env(quick: bool) -> Sizes {
        let mem_1m = std::env::var("BENCH_MEMORY_1M")
            .map(|v| v != "0")
            .unwrap_or(!quick);
        if quick {
            Sizes {
                n: 100_000,
                rt: 10_000,
                window: 1000,
                bc_n: 10_000,
                bc_batch: 1000,
                bc10k_n: 20,
                bc10k_batch: 10,
                obj_iters: 20_000,
                buf_iters: 500,
                xfer_iters: 20_000,
                many_total: 100_000,
                mem: vec![10_000, 100_000],
                mem_1m,
            }
        } else {
            Sizes {
                n: 1_000_000,
                rt: 100_000,
                window: 1000,
                bc_n: 100_000,
                bc_batch: 1000,
                bc10k_n: 200,
                bc10k_batch: 100,
                obj_iters: 200_000,
                buf_iters: 5000,
                xfer_iters: 200_000,
                many_total: 1_000_000,
                mem: vec![10_000, 100_000],
                mem_1m,
            }
        }
    }
}

/// `total` messages spread over each of `ks` busy channels (after a warm-up), as rows
/// `{prefix}_{k}` in messages delivered per second.
async fn many_rows(bench: &Bench, ours: &mut Samples, prefix: &str, ks: &[usize], total: u64) {
    mc_many(bench, 10, total.min(50_000)).await;
    for &k in ks {
        let d = mc_many(bench, k, total).await;
        let delivered = total / k as u64 * k as u64;
        ours.push(&format!("{prefix}_{k}"), per_sec(delivered, d));
    }
}

fn per_sec(count: u64, d: Duration) -> f64 {
    count as f64 / d.as_secs_f64()
}

fn us_per(d: Duration, iters: u64) -> f64 {
    d.as_secs_f64() * 1e6 / iters as f64
}

/// The Node side: finds `node` and the scripts, runs one, returns its JSON line.
struct NodeSide {
    node: String,
    peers: PathBuf,
    ours: PathBuf,
}

impl NodeSide {
    fn find(root: &Path) -> std::result::Result<NodeSide, String> {
        let node = std::env::var("BENCH_NODE").unwrap_or_else(|_| "node".to_owned());
        let version = Command::new(&node).arg("--version").output();
        match version {
            Ok(o) if o.status.success() => {}
            _ => return Err(format!("`{node}` was not found or does not run")),
        }
        let candidates = [
            std::env::var("BENCH_PEERS").ok().map(PathBuf::from),
            Some(root.join("../shared/bench-peers")),
            Some(root.join("shared/bench-peers")),
        ];
        let peers = candidates
            .into_iter()
            .flatten()
            .find(|p| p.join("node/messagechannel-same-thread.js").is_file())
            .ok_or_else(|| {
                format!(
                    "the Node scripts were not found (looked for {}; set BENCH_PEERS)",
                    root.join("../shared/bench-peers").display()
                )
            })?;
        Ok(NodeSide {
            node,
            peers,
            ours: root.join("benches/node"),
        })
    }

    fn run(&self, script: &str, args: &[String], round: usize) -> Option<serde_json::Value> {
        let path = if self.ours.join(script).is_file() {
            self.ours.join(script)
        } else {
            self.peers.join("node").join(script)
        };
        let out = Command::new(&self.node)
            .arg(&path)
            .args(args)
            .env("BENCH_RUN", round.to_string())
            .output();
        let out = match out {
            Ok(o) => o,
            Err(e) => {
                eprintln!("  node {script}: {e}");
                return None;
            }
        };
        if !out.status.success() {
            eprintln!(
                "  node {script} failed: {}",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            );
            return None;
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().rev().find(|l| l.starts_with('{'))?;
        serde_json::from_str(line).ok()
    }
}

fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // actors/ is the runtime package; the workspace root is its parent.
    if manifest.join("../Cargo.toml").is_file() && manifest.join("../benches").is_dir() {
        manifest.join("..")
    } else {
        manifest
    }
}

fn main() {
    if memory::run_child_if_asked() || scale::run_child_if_asked() {
        return;
    }
    // `cargo bench` passes `--bench`; nothing else is expected.
    let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| v != "0");
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 1 } else { 3 });
    let sizes = Sizes::from_env(quick);
    let root = workspace_root();
    let node = if std::env::var("BENCH_NO_NODE").is_ok_and(|v| v != "0") {
        Err("BENCH_NO_NODE is set".to_owned())
    } else {
        NodeSide::find(&root)
    };
    let only: Option<Vec<String>> = std::env::var("BENCH_ONLY")
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect());
    let wants = |group: &str| only.as_ref().is_none_or(|o| o.iter().any(|g| g == group));
    if let Err(why) = &node {
        eprintln!("NOTE: Node.js side skipped: {why}. Only our figures are printed; install Node.js (or set BENCH_NODE) to compare.");
    }
    let node = node.ok();
    eprintln!(
        "bench compare: {rounds} round(s){}, N={}, round trips={}",
        if quick { " (quick sizes)" } else { "" },
        sizes.n,
        sizes.rt
    );

    let mut ours = Samples::default();
    let mut theirs = Samples::default();
    let sys = actix_rt::System::new();
    let bench = sys.block_on(Bench::new());

    for round in 0..rounds {
        eprintln!("round {} of {rounds}", round + 1);
        let node_run = |theirs: &mut Samples, bench_name: &str, script: &str, args: Vec<String>| {
            if let Some(n) = &node {
                eprintln!("  node: {script} {}", args.join(" "));
                if let Some(v) = n.run(script, &args, round) {
                    if let Some(obj) = v.as_object() {
                        for (k, val) in obj {
                            if let Some(x) = val.as_f64() {
                                theirs.push(&format!("{bench_name}.{k}"), x);
                            }
                        }
                    }
                }
            }
        };

        if !wants("mc") && wants("rtt") {
            // Only the same-thread round trip (for profiling).
            sys.block_on(async {
                let lat = mc_ping_pong(&bench, sizes.rt, (sizes.rt / 10).max(1)).await;
                ours.push("mc_rtt_p50", lat.p50_us);
                ours.push("mc_rtt_p99", lat.p99_us);
            });
        }
        if wants("mc") {
            // MessageChannel, same thread.
            eprintln!("  ours: MessageChannel same thread");
            sys.block_on(async {
                mc_burst(&bench, sizes.n.min(50_000)).await; // warm-up, as Node does
                let (total, posted) = mc_burst(&bench, sizes.n).await;
                ours.push("mc_burst", per_sec(sizes.n, total));
                ours.push("mc_post_only", per_sec(sizes.n, posted));
                let bounded = mc_bounded_pump(&bench, sizes.n, 1024).await;
                ours.push("mc_bounded", per_sec(sizes.n, bounded));
                let one = mc_one_in_flight(&bench, sizes.n).await;
                ours.push("mc_one", per_sec(sizes.n, one));
                let lat = mc_ping_pong(&bench, sizes.rt, (sizes.rt / 10).max(1)).await;
                ours.push("mc_rtt_p50", lat.p50_us);
                ours.push("mc_rtt_p99", lat.p99_us);
            });
            node_run(
                &mut theirs,
                SAME,
                "messagechannel-same-thread.js",
                vec![format!("--n={}", sizes.n), format!("--rt={}", sizes.rt)],
            );
        }

        if wants("shipped") {
            // A shipped channel, same thread.
            eprintln!("  ours: shipped MessageChannel same thread");
            sys.block_on(async {
                mc_shipped_burst(&bench, sizes.n.min(50_000)).await;
                let d = mc_shipped_burst(&bench, sizes.n).await;
                ours.push("shipped_burst", per_sec(sizes.n, d));
                let lat = mc_shipped_ping_pong(&bench, sizes.rt, (sizes.rt / 10).max(1)).await;
                ours.push("shipped_rtt_p50", lat.p50_us);
                ours.push("shipped_rtt_p99", lat.p99_us);
            });
            if let Some(m) = memory::measure("shipped", 100_000) {
                ours.push("mem_shipped_100k", m.rss_bytes_per_channel);
            }
            node_run(
                &mut theirs,
                SHIPPED,
                "messagechannel-shipped.js",
                vec![
                    format!("--n={}", sizes.n),
                    format!("--rt={}", sizes.rt),
                    "--channels=100000".to_owned(),
                ],
            );
        }

        if wants("many") {
            // Many channels busy at once.
            eprintln!("  ours: 1 to 1,000 channels busy");
            sys.block_on(many_rows(
                &bench,
                &mut ours,
                "many",
                &[1, 10, 100, 1000],
                sizes.many_total,
            ));
            node_run(
                &mut theirs,
                MANY,
                "messagechannel-many.js",
                vec![format!("--total={}", sizes.many_total)],
            );
        }

        if wants("worker") {
            // A port moved to a worker; worker round trips.
            eprintln!("  ours: worker");
            sys.block_on(async {
                worker_burst(&bench, sizes.n.min(50_000)).await;
                let d = worker_burst(&bench, sizes.n).await;
                ours.push("worker_burst", per_sec(sizes.n, d));
                let d = worker_windowed(&bench, sizes.n, sizes.window).await;
                ours.push("worker_windowed", per_sec(sizes.n, d));
                let lat = worker_port_ping_pong(&bench, sizes.rt, (sizes.rt / 10).max(1)).await;
                ours.push("worker_rtt_p50", lat.p50_us);
                ours.push("worker_rtt_p99", lat.p99_us);
                let lat = worker_global_ping_pong(&bench, sizes.rt, (sizes.rt / 10).max(1)).await;
                ours.push("wg_rtt_p50", lat.p50_us);
                ours.push("wg_rtt_p99", lat.p99_us);
                window_to_window(&bench, sizes.n.min(50_000)).await;
                let d = window_to_window(&bench, sizes.n).await;
                ours.push("w2w", per_sec(sizes.n, d));
                let d = window_to_iframe(&bench, sizes.n, "https://other.example").await;
                ours.push("w2w_xsite", per_sec(sizes.n, d));
                let d =
                    groups::window_to_other_group(&bench, sizes.n, "https://other.example").await;
                ours.push("w2w_group", per_sec(sizes.n, d));
                scenario_fresh_browser(20).await;
                let d = scenario_fresh_browser(200).await;
                ours.push("scenario_fresh", d.as_secs_f64() * 1e6);
                let d = scenario_new_window(&bench, 200).await;
                ours.push("scenario_window", d.as_secs_f64() * 1e6);
            });
            node_run(
                &mut theirs,
                WORKER,
                "messagechannel-worker.js",
                vec![
                    format!("--n={}", sizes.n),
                    format!("--rt={}", sizes.rt),
                    format!("--window={}", sizes.window),
                ],
            );
        }

        if wants("scale") {
            // How cost grows: live realms (fresh child processes) and busy channels.
            for r in scale::SIZES {
                eprintln!(
                    "  ours: scale, {r} live iframes over {} groups",
                    scale::GROUPS
                );
                if let Some(f) = scale::measure(r) {
                    ours.push(&format!("scale_realms_{r}_tput"), f.msgs_per_sec);
                    ours.push(&format!("scale_realms_{r}_mem"), f.rss_bytes_per_realm);
                    ours.push(
                        &format!("scale_realms_{r}_create"),
                        f.create.as_secs_f64() * 1e6,
                    );
                }
            }
            eprintln!("  ours: scale, 1 to 10,000 channels busy");
            sys.block_on(many_rows(
                &bench,
                &mut ours,
                "scale_ch",
                &[1, 100, 10_000],
                sizes.many_total,
            ));
            node_run(
                &mut theirs,
                MANY_SCALE,
                "messagechannel-many.js",
                vec![
                    format!("--total={}", sizes.many_total),
                    "--channels=1,100,10000".to_owned(),
                ],
            );
        }

        if wants("rpc") {
            // Typed RPC round trips (webmessaging::rpc), same thread and to a worker.
            eprintln!("  ours: RPC round trips");
            sys.block_on(async {
                let warm = (sizes.rt / 10).max(1);
                let lat = rpc_workloads::rpc_same_thread(&bench, sizes.rt, warm).await;
                ours.push("rpc_same_p50", lat.p50_us);
                ours.push("rpc_same_p99", lat.p99_us);
                let lat = rpc_workloads::rpc_worker(&bench, sizes.rt, warm).await;
                ours.push("rpc_worker_p50", lat.p50_us);
                ours.push("rpc_worker_p99", lat.p99_us);
            });
            node_run(
                &mut theirs,
                RPC,
                "rpc-roundtrip.js",
                vec![format!("--rt={}", sizes.rt)],
            );
        }

        if wants("clone") {
            // Structured clone.
            eprintln!("  ours: structured clone");
            ours.push(
                "clone_nested",
                per_sec(sizes.obj_iters, clone_nested(sizes.obj_iters)),
            );
            ours.push(
                "buf1_copy",
                us_per(clone_buffer_copy(1 << 20, sizes.buf_iters), sizes.buf_iters),
            );
            ours.push(
                "buf1_xfer",
                us_per(
                    clone_buffer_transfer(1 << 20, sizes.xfer_iters),
                    sizes.xfer_iters,
                ),
            );
            ours.push(
                "buf64_xfer",
                us_per(
                    clone_buffer_transfer(64 << 20, sizes.xfer_iters),
                    sizes.xfer_iters,
                ),
            );
            node_run(
                &mut theirs,
                CLONE,
                "structuredclone.js",
                vec![
                    format!("--obj_iters={}", sizes.obj_iters),
                    format!("--buf_iters={}", sizes.buf_iters),
                    format!("--xfer_iters={}", sizes.xfer_iters),
                ],
            );
        }

        if wants("bc") {
            // BroadcastChannel fan-out.
            eprintln!("  ours: BroadcastChannel");
            sys.block_on(async {
                bc_fanout(&bench, sizes.bc_n.min(2000), 100, sizes.bc_batch.min(1000)).await;
                let d = bc_fanout(&bench, sizes.bc_n, 100, sizes.bc_batch).await;
                ours.push("bc_100", per_sec(sizes.bc_n * 100, d));
                let d = bc_fanout(&bench, sizes.bc_n, 1, sizes.bc_batch).await;
                ours.push("bc_1", per_sec(sizes.bc_n, d));
                let d = bc_fanout(&bench, sizes.bc10k_n, 10_000, sizes.bc10k_batch).await;
                ours.push("bc_10000", per_sec(sizes.bc10k_n * 10_000, d));
            });
            node_run(
                &mut theirs,
                BC,
                "broadcastchannel-fanout.js",
                vec![
                    format!("--n={}", sizes.bc_n),
                    "--receivers=100".into(),
                    format!("--batch={}", sizes.bc_batch),
                    "--workers=0".into(),
                ],
            );
            node_run(
                &mut theirs,
                BC10K,
                "broadcastchannel-fanout.js",
                vec![
                    format!("--n={}", sizes.bc10k_n),
                    "--receivers=10000".into(),
                    format!("--batch={}", sizes.bc10k_batch),
                    "--workers=0".into(),
                ],
            );
        }

        // Memory per same-origin iframe (a fresh process; Chromium's is in its column).
        if wants("iframes") || wants("mem") {
            eprintln!("  ours: memory, 1,000 same-origin iframes");
            if let Some(m) = memory::measure("iframes", 1000) {
                ours.push("mem_iframe_1k", m.rss_bytes_per_channel);
            }
        }

        // Memory per live channel (fresh processes on both sides).
        let mut mem_sizes = if wants("mem") {
            sizes.mem.clone()
        } else {
            Vec::new()
        };
        if sizes.mem_1m && round == 0 && wants("mem") {
            mem_sizes.push(1_000_000);
        }
        for c in mem_sizes {
            let suffix = match c {
                10_000 => "10k",
                100_000 => "100k",
                1_000_000 => "1m",
                _ => continue,
            };
            eprintln!("  ours: memory, {c} channels");
            for variant in ["idle", "started"] {
                if let Some(m) = memory::measure(variant, c) {
                    ours.push(&format!("mem_{variant}_{suffix}"), m.rss_bytes_per_channel);
                }
            }
            let name = match c {
                100_000 => MEM,
                10_000 => MEM10K,
                _ => MEM1M,
            };
            node_run(
                &mut theirs,
                name,
                "messagechannel-memory.js",
                vec![format!("--channels={c}")],
            );
        }
    }
    bench.shutdown();
    drop(sys);

    // Headless Chromium, once (it takes a minute and a half).
    let chrome = if std::env::var("BENCH_NO_CHROMIUM").is_ok_and(|v| v != "0") {
        Err("BENCH_NO_CHROMIUM is set".to_owned())
    } else {
        match &node {
            Some(n) => chromium::run(
                &n.node,
                &n.peers,
                sizes.n.min(200_000),
                sizes.rt.min(20_000),
            ),
            None => Err("it is driven by Node.js, which was not found".to_owned()),
        }
    };
    if let Err(why) = &chrome {
        eprintln!("NOTE: Chromium side skipped: {why}. The Chromium column is empty.");
    }
    let chrome = chrome.unwrap_or_default();

    let table = render(
        &ours,
        &theirs,
        &chrome,
        rounds,
        node.is_some(),
        sizes.n,
        sizes.rt,
    );
    println!("{table}");
    let target_dir = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    let path = target_dir.join("bench-compare.md");
    match std::fs::write(&path, &table) {
        Ok(()) => eprintln!("(also written to {})", path.display()),
        Err(e) => eprintln!("could not write {}: {e}", path.display()),
    }
}
