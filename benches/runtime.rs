//! Criterion benchmarks of the runtime: the workloads of `support/workloads.rs` (the same
//! work as `../shared/bench-peers/node/*.js`), each iteration one whole workload timed by
//! its own clock inside the realm (`iter_custom`). Sizes are smaller than the Node
//! scripts' so a criterion sample stays short; the side-by-side comparison at full size
//! is `cargo bench -p webmessaging --bench compare`. Memory per live channel is measured
//! in child processes by `--bench memory`.
//!
//! ```text
//! cargo bench -p webmessaging --bench runtime
//! cargo bench -p webmessaging --bench runtime -- mc_burst    # one group
//! ```

#[path = "support/nested.rs"]
mod nested;
#[path = "support/workloads.rs"]
mod workloads;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use workloads::*;

/// Runs `f` `iters` times in the actix system, summing the durations it measured.
fn timed<F, Fut>(sys: &actix_rt::SystemRunner, iters: u64, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Duration>,
{
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        total += sys.block_on(f());
    }
    total
}

fn runtime(c: &mut Criterion) {
    let sys = actix_rt::System::new();
    let bench = sys.block_on(Bench::new());
    let b = &bench;

    const N: u64 = 100_000;
    let mut g = c.benchmark_group("mc_same_thread");
    g.throughput(Throughput::Elements(N));
    g.bench_function("burst_100k", |i| {
        i.iter_custom(|iters| timed(&sys, iters, || async { mc_burst(b, N).await.0 }))
    });
    g.bench_function("one_in_flight_100k", |i| {
        i.iter_custom(|iters| timed(&sys, iters, || mc_one_in_flight(b, N)))
    });
    g.finish();

    let mut g = c.benchmark_group("round_trip");
    g.throughput(Throughput::Elements(1));
    // One timed round trip per iteration, its time as ping-pong measures it.
    g.bench_function("port_same_thread", |i| {
        i.iter_custom(|iters| {
            sys.block_on(async {
                let l = mc_ping_pong(b, iters as usize, 100).await;
                Duration::from_secs_f64(l.mean_us * 1e-6 * iters as f64)
            })
        })
    });
    g.bench_function("port_to_worker", |i| {
        i.iter_custom(|iters| {
            sys.block_on(async {
                let l = worker_port_ping_pong(b, iters as usize, 100).await;
                Duration::from_secs_f64(l.mean_us * 1e-6 * iters as f64)
            })
        })
    });
    g.bench_function("window_worker", |i| {
        i.iter_custom(|iters| {
            sys.block_on(async {
                let l = worker_global_ping_pong(b, iters as usize, 100).await;
                Duration::from_secs_f64(l.mean_us * 1e-6 * iters as f64)
            })
        })
    });
    g.finish();

    let mut g = c.benchmark_group("cross_thread");
    g.throughput(Throughput::Elements(N));
    g.bench_function("worker_burst_100k", |i| {
        i.iter_custom(|iters| timed(&sys, iters, || worker_burst(b, N)))
    });
    g.bench_function("worker_windowed_100k_w1000", |i| {
        i.iter_custom(|iters| timed(&sys, iters, || worker_windowed(b, N, 1000)))
    });
    g.finish();

    let mut g = c.benchmark_group("window_post_message");
    g.throughput(Throughput::Elements(N));
    g.bench_function("window_to_iframe_100k", |i| {
        i.iter_custom(|iters| timed(&sys, iters, || window_to_window(b, N)))
    });
    g.finish();

    let mut g = c.benchmark_group("broadcast");
    g.throughput(Throughput::Elements(1000 * 100));
    g.bench_function("1_to_100_x1000", |i| {
        i.iter_custom(|iters| timed(&sys, iters, || bc_fanout(b, 1000, 100, 1000)))
    });
    g.throughput(Throughput::Elements(10 * 10_000));
    g.bench_function("1_to_10000_x10", |i| {
        i.iter_custom(|iters| timed(&sys, iters, || bc_fanout(b, 10, 10_000, 10)))
    });
    g.finish();

    let mut g = c.benchmark_group("busy_channels");
    g.throughput(Throughput::Elements(N));
    for k in [1usize, 10, 100, 1000] {
        g.bench_function(format!("{k}_channels_100k"), |i| {
            i.iter_custom(|iters| timed(&sys, iters, || mc_many(b, k, N)))
        });
    }
    g.finish();

    bench.shutdown();
}

criterion_group! {
    name = runtime_benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = runtime
}
criterion_main!(runtime_benches);
