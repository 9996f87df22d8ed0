//! One workload at a fixed size, for profiling with callgrind (instruction counts are
//! stable on a loaded machine where wall-clock figures are not).
//!
//! ```text
//! export CARGO_TARGET_DIR=target   # or your own
//! cargo bench -p webmessaging --bench profile --no-run
//! BIN=$(ls -t $CARGO_TARGET_DIR/release/deps/profile-* | grep -v '\.d$' | head -1)
//! PROFILE=w2w PROFILE_N=100000 valgrind --tool=callgrind --callgrind-out-file=cg.w2w $BIN
//! callgrind_annotate --inclusive=yes cg.w2w | head -60
//! ```
//!
//! `PROFILE` picks the workload (default `w2w`), `PROFILE_N` its size (default 100,000
//! messages; for `scale`, the number of iframes). The workload runs twice, once at
//! 10,000 (warm-up: the allocator's and the runtime's pools reach their steady state)
//! and once at `PROFILE_N`; the per-message cost is the difference of the callgrind
//! totals at two sizes (`PROFILE_N=100000` and `200000`) divided by 100,000.
//!
//! | `PROFILE` | workload (`support/`) |
//! | --- | --- |
//! | `w2w` | window to same-origin iframe, same thread (`window_to_window`) |
//! | `w2w_xsite` | window to cross-site iframe, same thread |
//! | `w2w_group` | window to a window of another browsing-context group (`groups.rs`) |
//! | `mc` | MessageChannel same-thread burst (`mc_burst`) |
//! | `shipped` | shipped MessageChannel, same thread, burst (`mc_shipped_burst`) |
//! | `worker` | port moved to a worker, burst (`worker_burst`) |
//! | `bc1` | BroadcastChannel 1 → 1, batches of 1,000 (`bc_fanout`) |
//! | `bc100` | BroadcastChannel 1 → 100, `PROFILE_N` deliveries (posts ÷ 100), batches of 1,000 |
//! | `decode` | `from_record::<Msg>` alone, `PROFILE_N` times over one record (the listener's decoding) |
//! | `many` | `PROFILE_N` messages over 10,000 channels busy at once (`mc_many`) |
//! | `scale` | `PROFILE_N` iframes over 5 groups, created and loaded, then `PROFILE_MSGS` messages (default 10, at least one per iframe) posted to them (`scale.rs`) |

#[path = "support/groups.rs"]
mod groups;
#[path = "support/memory.rs"]
mod memory;
#[path = "support/nested.rs"]
mod nested;
#[path = "support/scale.rs"]
mod scale;
#[path = "support/workloads.rs"]
mod workloads;

use workloads::*;

fn main() {
    let which = std::env::var("PROFILE").unwrap_or_else(|_| "w2w".to_owned());
    let n: u64 = std::env::var("PROFILE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    if which == "decode" {
        // `from_record::<Msg>` alone, over one record, `PROFILE_N` times after 10,000.
        let record = webmessaging::core::serde_bridge::to_record(&Msg::new(7)).expect("record");
        for size in [n.min(10_000), n] {
            let mut sum = 0u64;
            for _ in 0..size {
                let m: Msg =
                    webmessaging::core::serde_bridge::from_record(std::hint::black_box(&record))
                        .expect("decode");
                sum += m.seq + m.text.len() as u64;
            }
            eprintln!("profile decode: {size} ({sum})");
        }
        return;
    }
    if which == "scale" {
        // `PROFILE_MSGS`: messages of the throughput phase (default 10: creation only).
        let msgs = std::env::var("PROFILE_MSGS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10);
        let f = scale::realms(n as usize, msgs);
        eprintln!("profile scale: {f:?}");
        return;
    }
    let sys = actix_rt::System::new();
    sys.block_on(async move {
        let b = Bench::new().await;
        for size in [n.min(10_000), n] {
            let d = match which.as_str() {
                "w2w" => window_to_window(&b, size).await,
                "w2w_xsite" => window_to_iframe(&b, size, "https://other.example").await,
                "w2w_group" => {
                    groups::window_to_other_group(&b, size, "https://other.example").await
                }
                "mc" => mc_burst(&b, size).await.0,
                "shipped" => mc_shipped_burst(&b, size).await,
                "worker" => worker_burst(&b, size).await,
                "bc1" => bc_fanout(&b, size, 1, 1000.min(size)).await,
                "bc100" => bc_fanout(&b, size / 100, 100, 1000.min(size / 100)).await,
                "many" => mc_many(&b, 10_000, size).await,
                other => panic!("unknown PROFILE={other}"),
            };
            eprintln!("profile {which}: {size} in {d:?}");
        }
        b.shutdown();
    });
}
