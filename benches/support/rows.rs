//! The rows of `--bench compare`'s table: what each figure is, which Node and Chromium
//! figure it sits beside, and how it is judged (a target against Node, against
//! Chromium, or constant time).

/// How a row is judged.
#[derive(Clone, Copy)]
pub enum Target {
    /// Information only.
    None,
    /// ours / Node at least this (higher is better).
    AtLeast(f64),
    /// ours / Node at most this (lower is better).
    AtMost(f64),
    /// ours at most this multiple of another of our rows (constant time).
    ConstantVs(&'static str, f64),
    /// ours / Chromium at least this (higher is better).
    AtLeastChromium(f64),
    /// ours / Chromium at most this (lower is better).
    AtMostChromium(f64),
}

#[derive(Clone, Copy, PartialEq)]
pub enum Unit {
    PerSec,
    Micros,
    Bytes,
}

pub struct Row {
    pub key: &'static str,
    pub label: &'static str,
    pub unit: Unit,
    /// (Node bench name, JSON field), if Node has the figure.
    pub node: Option<(&'static str, &'static str)>,
    pub target: Target,
}

pub const fn row(
    key: &'static str,
    label: &'static str,
    unit: Unit,
    node: Option<(&'static str, &'static str)>,
    target: Target,
) -> Row {
    Row {
        key,
        label,
        unit,
        node,
        target,
    }
}

pub const SAME: &str = "messagechannel_same_thread";
pub const WORKER: &str = "messagechannel_worker";
pub const CLONE: &str = "structuredclone";
pub const BC: &str = "broadcastchannel_fanout";
pub const BC10K: &str = "broadcastchannel_fanout_10000";
pub const MANY: &str = "messagechannel_many";
pub const MEM: &str = "messagechannel_memory";
pub const MEM10K: &str = "messagechannel_memory_10000";
pub const MEM1M: &str = "messagechannel_memory_1000000";
pub const SHIPPED: &str = "messagechannel_shipped";
pub const RPC: &str = "rpc_roundtrip";
pub const MANY_SCALE: &str = "messagechannel_many_scale";

pub const ROWS: &[Row] = &[
    row(
        "mc_burst",
        "MessageChannel same thread, burst of N (msgs/s)",
        Unit::PerSec,
        Some((SAME, "burst_msgs_per_sec")),
        Target::AtLeast(8.0),
    ),
    row(
        "mc_post_only",
        "  same, posting only (msgs/s)",
        Unit::PerSec,
        Some((SAME, "burst_post_only_msgs_per_sec")),
        Target::None,
    ),
    row(
        "mc_bounded",
        "  same, bounded queue of 1,024 with backpressure (try_post + drain) (msgs/s; Node: unbounded burst)",
        Unit::PerSec,
        Some((SAME, "burst_msgs_per_sec")),
        Target::None,
    ),
    row(
        "mc_one",
        "MessageChannel same thread, one in flight (msgs/s)",
        Unit::PerSec,
        Some((SAME, "one_in_flight_msgs_per_sec")),
        Target::None,
    ),
    row(
        "mc_rtt_p50",
        "port round trip, same thread, p50",
        Unit::Micros,
        Some((SAME, "rtt_p50_us")),
        Target::AtMost(0.2),
    ),
    row(
        "mc_rtt_p99",
        "port round trip, same thread, p99",
        Unit::Micros,
        Some((SAME, "rtt_p99_us")),
        Target::None,
    ),
    row(
        "shipped_burst",
        "shipped MessageChannel, same thread, burst of N (msgs/s)",
        Unit::PerSec,
        Some((SHIPPED, "burst_msgs_per_sec")),
        Target::AtLeast(5.0),
    ),
    row(
        "shipped_rtt_p50",
        "shipped port round trip, same thread, p50",
        Unit::Micros,
        Some((SHIPPED, "rtt_p50_us")),
        Target::AtMost(0.25),
    ),
    row(
        "shipped_rtt_p99",
        "shipped port round trip, same thread, p99",
        Unit::Micros,
        Some((SHIPPED, "rtt_p99_us")),
        Target::None,
    ),
    row(
        "many_1",
        "1 channel busy (msgs/s)",
        Unit::PerSec,
        Some((MANY, "channels_1_msgs_per_sec")),
        Target::None,
    ),
    row(
        "many_10",
        "10 channels busy at once (msgs/s)",
        Unit::PerSec,
        Some((MANY, "channels_10_msgs_per_sec")),
        Target::None,
    ),
    row(
        "many_100",
        "100 channels busy at once (msgs/s)",
        Unit::PerSec,
        Some((MANY, "channels_100_msgs_per_sec")),
        Target::None,
    ),
    row(
        "many_1000",
        "1,000 channels busy at once (msgs/s)",
        Unit::PerSec,
        Some((MANY, "channels_1000_msgs_per_sec")),
        Target::None,
    ),
    row(
        "worker_burst",
        "port moved to a worker, burst (msgs/s)",
        Unit::PerSec,
        Some((WORKER, "burst_msgs_per_sec")),
        Target::AtLeast(3.0),
    ),
    row(
        "worker_windowed",
        "port moved to a worker, window 1000 (msgs/s)",
        Unit::PerSec,
        Some((WORKER, "windowed_msgs_per_sec")),
        Target::None,
    ),
    row(
        "worker_rtt_p50",
        "port round trip to a worker, p50",
        Unit::Micros,
        Some((WORKER, "rtt_p50_us")),
        Target::None,
    ),
    row(
        "worker_rtt_p99",
        "port round trip to a worker, p99",
        Unit::Micros,
        Some((WORKER, "rtt_p99_us")),
        Target::AtMost(1.0),
    ),
    row(
        "wg_rtt_p50",
        "window-worker round trip (worker.postMessage), p50 [Node: port]",
        Unit::Micros,
        Some((WORKER, "rtt_p50_us")),
        Target::None,
    ),
    row(
        "wg_rtt_p99",
        "window-worker round trip (worker.postMessage), p99 [Node: port]",
        Unit::Micros,
        Some((WORKER, "rtt_p99_us")),
        Target::None,
    ),
    row(
        "rpc_same_p50",
        "RPC call round trip, same thread, p50 [Node: by hand over MessagePort]",
        Unit::Micros,
        Some((RPC, "same_thread_rtt_p50_us")),
        Target::None,
    ),
    row(
        "rpc_same_p99",
        "RPC call round trip, same thread, p99",
        Unit::Micros,
        Some((RPC, "same_thread_rtt_p99_us")),
        Target::None,
    ),
    row(
        "rpc_worker_p50",
        "RPC call round trip to a worker, p50",
        Unit::Micros,
        Some((RPC, "worker_rtt_p50_us")),
        Target::None,
    ),
    row(
        "rpc_worker_p99",
        "RPC call round trip to a worker, p99",
        Unit::Micros,
        Some((RPC, "worker_rtt_p99_us")),
        Target::None,
    ),
    row(
        "w2w",
        "window to iframe postMessage, same thread (msgs/s)",
        Unit::PerSec,
        None,
        Target::AtLeastChromium(30.0),
    ),
    row(
        "mem_iframe_1k",
        "memory per same-origin iframe, 1,000 live (RSS)",
        Unit::Bytes,
        None,
        Target::AtMostChromium(0.01),
    ),
    row(
        "w2w_xsite",
        "window to cross-site iframe postMessage, same thread (msgs/s)",
        Unit::PerSec,
        None,
        Target::None,
    ),
    row(
        "w2w_group",
        "window to a cross-site window of another browsing-context group (another thread) (msgs/s)",
        Unit::PerSec,
        None,
        Target::None,
    ),
    row(
        "scenario_fresh",
        "hello scenario from a fresh Browser (page, cross-site iframe, ready, ping, echo), median",
        Unit::Micros,
        None,
        Target::AtMostChromium(0.001),
    ),
    row(
        "scenario_window",
        "hello scenario in a new top-level window of one Browser, median",
        Unit::Micros,
        None,
        Target::AtMostChromium(0.001),
    ),
    row(
        "clone_nested",
        "structured clone, 1 KB nested object (clones/s)",
        Unit::PerSec,
        Some((CLONE, "nested_clones_per_sec")),
        Target::AtLeast(5.0),
    ),
    row(
        "buf1_copy",
        "1 MiB ArrayBuffer clone by copy",
        Unit::Micros,
        Some((CLONE, "buf1mib_copy_us_per_clone")),
        Target::None,
    ),
    row(
        "buf1_xfer",
        "1 MiB ArrayBuffer transfer",
        Unit::Micros,
        Some((CLONE, "buf1mib_transfer_us_per_clone")),
        Target::None,
    ),
    row(
        "buf64_xfer",
        "64 MiB ArrayBuffer transfer (constant time: vs 1 MiB)",
        Unit::Micros,
        None,
        Target::ConstantVs("buf1_xfer", 2.0),
    ),
    row(
        "mem_shipped_100k",
        "memory per shipped channel, 100k idle (RSS)",
        Unit::Bytes,
        Some((SHIPPED, "idle_rss_bytes_per_channel")),
        Target::None,
    ),
    row(
        "mem_idle_10k",
        "memory per live channel, 10k idle (RSS)",
        Unit::Bytes,
        Some((MEM10K, "idle_rss_bytes_per_channel")),
        Target::None,
    ),
    row(
        "mem_idle_100k",
        "memory per live channel, 100k idle (RSS)",
        Unit::Bytes,
        Some((MEM, "idle_rss_bytes_per_channel")),
        Target::AtMost(0.25),
    ),
    row(
        "mem_idle_1m",
        "memory per live channel, 1M idle (RSS)",
        Unit::Bytes,
        Some((MEM1M, "idle_rss_bytes_per_channel")),
        Target::None,
    ),
    row(
        "mem_started_10k",
        "memory per live channel, 10k started (RSS)",
        Unit::Bytes,
        Some((MEM10K, "started_rss_bytes_per_channel")),
        Target::None,
    ),
    row(
        "mem_started_100k",
        "memory per live channel, 100k started (RSS)",
        Unit::Bytes,
        Some((MEM, "started_rss_bytes_per_channel")),
        Target::AtMost(0.25),
    ),
    row(
        "mem_started_1m",
        "memory per live channel, 1M started (RSS)",
        Unit::Bytes,
        Some((MEM1M, "started_rss_bytes_per_channel")),
        Target::None,
    ),
    row(
        "bc_100",
        "BroadcastChannel 1 -> 100, same thread (deliveries/s)",
        Unit::PerSec,
        Some((BC, "same_thread_deliveries_per_sec")),
        Target::AtLeast(10.0),
    ),
    row(
        "bc_1",
        "BroadcastChannel 1 -> 1, same thread (deliveries/s)",
        Unit::PerSec,
        Some((BC, "same_thread_1rx_deliveries_per_sec")),
        Target::AtLeast(4.0),
    ),
    row(
        "bc_10000",
        "BroadcastChannel 1 -> 10,000, same thread (deliveries/s)",
        Unit::PerSec,
        Some((BC10K, "same_thread_deliveries_per_sec")),
        Target::None,
    ),
    row(
        "scale_ch_1",
        "scale: 1 channel busy (msgs/s)",
        Unit::PerSec,
        Some((MANY_SCALE, "channels_1_msgs_per_sec")),
        Target::None,
    ),
    row(
        "scale_ch_100",
        "scale: 100 channels busy at once (msgs/s)",
        Unit::PerSec,
        Some((MANY_SCALE, "channels_100_msgs_per_sec")),
        Target::None,
    ),
    row(
        "scale_ch_10000",
        "scale: 10,000 channels busy at once (msgs/s)",
        Unit::PerSec,
        Some((MANY_SCALE, "channels_10000_msgs_per_sec")),
        Target::None,
    ),
    row(
        "scale_realms_10_tput",
        "scale: 10 live iframes over 5 groups, window to iframe (msgs/s)",
        Unit::PerSec,
        None,
        Target::None,
    ),
    row(
        "scale_realms_10_mem",
        "scale: 10 live iframes, memory per realm (RSS)",
        Unit::Bytes,
        None,
        Target::None,
    ),
    row(
        "scale_realms_10_create",
        "scale: 10 live iframes, time to create and load them all",
        Unit::Micros,
        None,
        Target::None,
    ),
    row(
        "scale_realms_1000_tput",
        "scale: 1,000 live iframes over 5 groups, window to iframe (msgs/s)",
        Unit::PerSec,
        None,
        Target::None,
    ),
    row(
        "scale_realms_1000_mem",
        "scale: 1,000 live iframes, memory per realm (RSS)",
        Unit::Bytes,
        None,
        Target::None,
    ),
    row(
        "scale_realms_1000_create",
        "scale: 1,000 live iframes, time to create and load them all",
        Unit::Micros,
        None,
        Target::None,
    ),
    row(
        "scale_realms_100000_tput",
        "scale: 100,000 live iframes over 5 groups, window to iframe (msgs/s)",
        Unit::PerSec,
        None,
        Target::None,
    ),
    row(
        "scale_realms_100000_mem",
        "scale: 100,000 live iframes, memory per realm (RSS)",
        Unit::Bytes,
        None,
        Target::None,
    ),
    row(
        "scale_realms_100000_create",
        "scale: 100,000 live iframes, time to create and load them all",
        Unit::Micros,
        None,
        Target::None,
    ),
];
