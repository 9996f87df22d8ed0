//! The simulated mode: one thread, a seeded scheduler over every event loop, virtual
//! time, faults as choices, explore / shrink / replay, and the bounded exhaustive mode.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{recv, send, Rx, Tx};
use tokio::sync::mpsc;
use webmessaging::kernel::{FaultKind, Faults};
use webmessaging::prelude::*;
use webmessaging::simulation::{
    exhaustive, explore, replay, replay_choices, ExploreConfig, Outcome, RunStatus, SimConfig,
    SimEntry, Simulation,
};

fn channel() -> (Tx, Rx) {
    mpsc::unbounded_channel::<String>()
}

/// The hello scenario: a page, a cross-site iframe that says "ready", a ping and its
/// echo, each side checking origins.
fn hello(browser: &Browser) -> webmessaging::Result<()> {
    browser.route("https://widget.example/", |scope: &Scope| {
        scope.on_message(|scope: &Scope, e: &MessageEvent| {
            if e.origin() == "https://app.example" {
                let src = e.source_window().unwrap();
                src.post(scope, "echo", e.origin()).unwrap();
            }
        });
        let parent = scope.parent().unwrap();
        parent.post(scope, "ready", "https://app.example").unwrap();
    })?;
    browser.open_with("https://app.example/", |scope: &Scope| {
        let frame = scope.create_iframe("https://widget.example/").unwrap();
        scope.on_message(move |scope: &Scope, e: &MessageEvent| {
            if e.data_as::<String>().ok().as_deref() == Some("ready") {
                frame.post(scope, "ping", "https://widget.example").unwrap();
            }
        });
    })?;
    Ok(())
}

/// Texts of the message events observed, as `realm<-data`.
fn messages(o: &Outcome) -> Vec<String> {
    o.events()
        .filter(|e| e.event_type == EventType::Message)
        .map(|e| format!("{}<-{}", e.realm, e.data_as::<String>().unwrap_or_default()))
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_trace_byte_for_byte() {
    for seed in [1, 2, 99] {
        let a = replay(SimConfig::new(seed), hello);
        let b = replay(SimConfig::new(seed), hello);
        assert!(a.is_complete());
        assert_eq!(a.trace.to_string(), b.trace.to_string(), "seed {seed}");
        assert_eq!(a.trace.to_chrome_json(), b.trace.to_chrome_json());
        assert_eq!(a.trace.to_mermaid(), b.trace.to_mermaid());
        let m = messages(&a);
        assert!(
            m.iter().any(|s| s.ends_with("<-echo")),
            "{m:?}\n{}",
            a.trace
        );
        assert!(a.steps > 3);
    }
}

/// Two workers (two event loops) racing to report to their creator: across seeds both
/// orders are seen, and each seed always gives its own. (Two iframes of one page would
/// not race: they share their parent's event loop, whose navigation task source is FIFO.)
#[test]
fn different_seeds_reach_different_orders() {
    let scenario = |browser: &Browser| -> webmessaging::Result<()> {
        browser.open_with("https://app.example/", |scope: &Scope| {
            let mut workers = Vec::new();
            for name in ["a", "b"] {
                let w = scope
                    .spawn_worker_with(
                        &format!("https://app.example/{name}.js"),
                        move |w: &Scope| {
                            w.post(name).unwrap();
                        },
                    )
                    .unwrap();
                w.on_message(|_s: &Scope, _e: &MessageEvent| {});
                workers.push(w);
            }
            scope.set_global(workers);
        })?;
        Ok(())
    };
    let mut orders = std::collections::BTreeSet::new();
    for seed in 0..40 {
        let o = replay(SimConfig::new(seed), scenario);
        let m = messages(&o);
        assert_eq!(m.len(), 2, "{m:?}");
        assert_eq!(
            messages(&replay(SimConfig::new(seed), scenario)),
            m,
            "replayable"
        );
        orders.insert(m);
    }
    assert_eq!(orders.len(), 2, "both orders reached: {orders:?}");
}

#[test]
fn virtual_time_is_exact_and_fast() {
    let fired = Arc::new(Mutex::new(Vec::<(u32, Duration)>::new()));
    let f = fired.clone();
    let o = replay(SimConfig::new(5), move |browser: &Browser| {
        let f = f.clone();
        browser.open_with("https://a.example/", move |scope: &Scope| {
            let f1 = f.clone();
            scope.set_timeout(Duration::from_secs(30), move |_s: &Scope| {
                f1.lock().unwrap().push((30, Duration::ZERO));
            });
            let f2 = f.clone();
            scope.set_timeout(Duration::from_millis(1500), move |_s: &Scope| {
                f2.lock().unwrap().push((1, Duration::ZERO));
            });
        })?;
        Ok(())
    });
    assert!(o.is_complete());
    assert_eq!(o.time, Duration::from_secs(30));
    let clock: Vec<Duration> = o
        .trace
        .entries
        .iter()
        .filter_map(|e| match e {
            SimEntry::Clock { to, .. } => Some(*to),
            _ => None,
        })
        .collect();
    assert_eq!(
        clock,
        [Duration::from_millis(1500), Duration::from_secs(30)]
    );
    let order: Vec<u32> = fired.lock().unwrap().iter().map(|(n, _)| *n).collect();
    assert_eq!(order, [1, 30]);
}

#[test]
fn faults_are_injected_as_asked_and_recorded() {
    // Crashes only, at most two: each is recorded, and supervision restarts the realm.
    let config = SimConfig::new(11).faults(Faults::none().with(FaultKind::Crash, 0.5).at_most(2));
    let o = replay(config, hello);
    let faults: Vec<_> = o.trace.faults().cloned().collect();
    assert_eq!(faults.len(), 2, "{}", o.trace);
    assert!(faults.iter().all(|f| f.kind == FaultKind::Crash));
    assert_eq!(o.faults, 2);
    assert!(
        o.lifecycle
            .iter()
            .any(|e| matches!(e, LifecycleEvent::Crashed { .. })),
        "{:?}",
        o.lifecycle
    );
    // No faults configured: none injected.
    let o = replay(SimConfig::new(11), hello);
    assert_eq!(o.trace.faults().count(), 0);
    // Navigation of the iframe: recorded with its target.
    let config = SimConfig::new(3).faults(Faults::none().with(FaultKind::Navigate, 1.0).at_most(1));
    let o = replay(config, hello);
    let f: Vec<_> = o.trace.faults().collect();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].kind, FaultKind::Navigate);
    assert!(f[0].target.contains("widget.example"), "{f:?}");
}

/// The naive readiness protocol: the parent posts soon after it made the iframe, and the
/// child starts listening only once it has initialised (a task later). Some orders lose
/// the ping; explore finds one, shrinks it, and its replay call reproduces it.
#[test]
fn explore_finds_the_naive_handshake_bug_and_replays_it() {
    let naive = |browser: &Browser| -> webmessaging::Result<()> {
        browser.route("https://widget.example/", |scope: &Scope| {
            scope.set_timeout(Duration::ZERO, |scope: &Scope| {
                scope.on_message(|scope: &Scope, e: &MessageEvent| {
                    let src = e.source_window().unwrap();
                    src.post(scope, "echo", e.origin()).unwrap();
                });
            });
        })?;
        browser.open_with("https://app.example/", |scope: &Scope| {
            let frame = scope.create_iframe("https://widget.example/").unwrap();
            scope.set_timeout(Duration::ZERO, move |scope: &Scope| {
                frame.post(scope, "ping", "https://widget.example").unwrap();
            });
            scope.on_message(|_s: &Scope, _e: &MessageEvent| {});
        })?;
        Ok(())
    };
    let property = |o: &Outcome| -> Result<(), String> {
        if !o.is_complete() {
            return Ok(());
        }
        if messages(o).iter().any(|m| m.ends_with("<-echo")) {
            Ok(())
        } else {
            Err("the ping was lost: no echo".into())
        }
    };
    let report = explore(ExploreConfig::new(0..500).threads(2), naive, property);
    let failure = report.failure.expect("the race is found");
    assert!(failure.reason.contains("no echo"));
    let seed = failure.config.seed();
    assert!(failure
        .replay_call()
        .contains(&format!("SimConfig::new({seed})")));
    // The replay fails the same way.
    assert!(property(&replay(failure.config.clone(), naive)).is_err());
    // The fixed protocol (wait for "ready") keeps the property on every seed.
    let fixed = explore(ExploreConfig::new(0..300).threads(2), hello, property);
    assert!(fixed.failure.is_none(), "{fixed}");
    assert_eq!(fixed.runs, 300);
}

#[test]
fn exhaustive_mode_tries_every_order_of_a_small_scenario() {
    let scenario = |browser: &Browser| -> webmessaging::Result<()> {
        browser.open_with("https://app.example/", |scope: &Scope| {
            let c1 = scope.message_channel();
            c1.port2().on_message(|_s: &Scope, _e: &MessageEvent| {});
            c1.port1().post("a").unwrap();
            scope.window().unwrap().post(scope, "w", "*").unwrap();
            scope.on_message(|_s: &Scope, _e: &MessageEvent| {});
            scope.set_global(c1);
        })?;
        Ok(())
    };
    let seen = Arc::new(Mutex::new(std::collections::BTreeSet::new()));
    let s2 = seen.clone();
    let report = exhaustive(8, 10_000, scenario, move |o: &Outcome| {
        s2.lock().unwrap().insert(messages(o));
        Ok(())
    });
    assert!(report.complete, "{} runs", report.runs);
    assert!(report.runs >= 2);
    // Both orders of the port message and the window message were tried.
    assert_eq!(seen.lock().unwrap().len(), 2, "{:?}", seen.lock().unwrap());
    // A property broken by one order is found, and its choices replay it.
    let report = exhaustive(8, 10_000, scenario, |o: &Outcome| {
        match messages(o).first().map(String::as_str) {
            Some(m) if m.ends_with("<-w") => Err("window message first".into()),
            _ => Ok(()),
        }
    });
    let failure = report.failure.expect("found");
    let again = replay_choices(failure.choices.clone().unwrap(), scenario);
    assert!(messages(&again)[0].ends_with("<-w"));
}

/// The ordinary way of writing a test works on a simulated browser too: scripts report on
/// a channel, the test awaits them; `run` drives to the end.
#[actix_rt::test]
async fn the_browser_api_runs_unchanged_in_a_simulation() {
    let sim = Simulation::new(4);
    let browser = sim.browser();
    let (tx, mut rx) = channel();
    let t = tx.clone();
    let w = browser
        .open_with("https://a.example/", move |scope: &Scope| {
            let worker = scope
                .spawn_worker_with("https://a.example/w.js", |w: &Scope| {
                    w.on_message(|w: &Scope, e: &MessageEvent| {
                        let n = e.data_as::<u32>().unwrap();
                        w.post_message(&Value::from(f64::from(n * 2)), &[]).unwrap();
                    });
                })
                .unwrap();
            let t = t.clone();
            worker.on_message(move |_s: &Scope, e: &MessageEvent| {
                send(&t, format!("doubled {}", e.data().as_number().unwrap()));
            });
            worker.post(&21u32).unwrap();
            scope.set_global(worker);
        })
        .unwrap();
    assert_eq!(recv(&mut rx).await, "doubled 42");
    let n = w.run(|scope| scope.live_port_count()).await.unwrap();
    assert_eq!(n, 0);
    assert_eq!(sim.run().await, RunStatus::Idle);
    assert!(sim.steps() >= 4);
}

/// Worker A gets a port, re-ships it to the page from inside the task of its fifth
/// message, and the page forwards it to worker B; the page posts 30 numbers meanwhile.
fn moving_port(browser: &Browser) -> webmessaging::Result<()> {
    browser.open_with("https://app.example/", |scope: &Scope| {
        let a = scope
            .spawn_worker_with("https://app.example/a.js", |w: &Scope| {
                w.on_message(|w: &Scope, e: &MessageEvent| {
                    let p = e.ports()[0].clone();
                    let again = p.clone();
                    let w2 = w.clone();
                    p.on_message(move |_s: &Scope, e: &MessageEvent| {
                        if e.data().as_number() == Some(5.0) {
                            w2.post_message(&Value::Null, &[again.to_value()]).unwrap();
                        }
                    });
                    w.set_global(p);
                });
            })
            .unwrap();
        let b = scope
            .spawn_worker_with("https://app.example/b.js", |w: &Scope| {
                w.on_message(|w: &Scope, e: &MessageEvent| {
                    let p = e.ports()[0].clone();
                    p.on_message(|_s: &Scope, _e: &MessageEvent| {});
                    w.set_global(p);
                });
            })
            .unwrap();
        a.on_message(move |_s: &Scope, e: &MessageEvent| {
            b.post_message(&Value::Null, &[e.ports()[0].to_value()])
                .unwrap();
        });
        let (p1, p2) = scope.message_channel().into_ports();
        for i in 1..=10 {
            p1.post_message(&Value::from(i), &[]).unwrap();
        }
        a.post_message(&Value::Null, &[p2.to_value()]).unwrap();
        for i in 11..=20 {
            p1.post_message(&Value::from(i), &[]).unwrap();
        }
        let later = p1.clone();
        scope.set_timeout(Duration::from_millis(1), move |_s: &Scope| {
            for i in 21..=30 {
                later.post_message(&Value::from(i), &[]).unwrap();
            }
        });
        scope.set_global((a, p1));
    })?;
    Ok(())
}

/// A port shipped to worker A, re-shipped from inside the task that received its fifth
/// message back to the page, and forwarded to worker B, while the page keeps posting on
/// the other end: under every seed (and with event loops held back at random), the
/// thirty messages are dispatched exactly once, in order, across the three holders.
#[test]
fn a_moving_port_keeps_fifo_and_exactly_once_under_every_schedule() {
    let scenario = moving_port;
    let property = |o: &Outcome| -> Result<(), String> {
        let got: Vec<u32> = o
            .events()
            .filter(|e| e.event_type == EventType::Message && e.target.starts_with("port"))
            .filter_map(|e| e.data_as::<f64>().map(|n| n as u32))
            .collect();
        let want: Vec<u32> = (1..=30).collect();
        if !o.is_complete() || got != want {
            return Err(format!("{:?}: port messages {got:?}", o.status));
        }
        Ok(())
    };
    let report = explore(ExploreConfig::new(0..200).threads(2), scenario, property);
    assert!(report.failure.is_none(), "{report}");
    let delayed = explore(
        ExploreConfig::new(0..200)
            .threads(2)
            .faults(Faults::none().with(FaultKind::Delay, 0.2).at_most(5)),
        scenario,
        property,
    );
    assert!(delayed.failure.is_none(), "{delayed}");
    // The seeds did explore: the tasks ran in different orders.
    let orders: std::collections::BTreeSet<Vec<String>> = (0..30)
        .map(|seed| {
            replay(SimConfig::new(seed), scenario)
                .trace
                .entries
                .iter()
                .filter_map(|e| match e {
                    SimEntry::Task { realm, task, .. } => Some(format!("{realm} {task}")),
                    _ => None,
                })
                .collect()
        })
        .collect();
    assert!(orders.len() > 1, "{orders:?}");
}

/// A worker broadcasts twice to two `BroadcastChannel` objects of its page: whatever the
/// seed, each object gets the sender's messages in order, and within the page's event loop
/// the deliveries of one message run in the objects' creation order.
#[test]
fn broadcast_order_is_kept_under_every_seed() {
    for seed in 0..40 {
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let s = seen.clone();
        let o = replay(SimConfig::new(seed), move |browser: &Browser| {
            let s = s.clone();
            browser.open_with("https://app.example/", move |scope: &Scope| {
                let mut keep = Vec::new();
                for tag in ["first", "second"] {
                    let bc = scope.broadcast_channel("news");
                    let s = s.clone();
                    bc.on_message(move |_s: &Scope, e: &MessageEvent| {
                        let d = e.data_as::<String>().unwrap();
                        s.lock().unwrap().push(format!("{tag}:{d}"));
                    });
                    keep.push(bc);
                }
                let w = scope
                    .spawn_worker_with("https://app.example/w.js", |w: &Scope| {
                        let bc = w.broadcast_channel("news");
                        bc.post("m1").unwrap();
                        bc.post("m2").unwrap();
                        w.set_global(bc);
                    })
                    .unwrap();
                scope.set_global((keep, w));
            })?;
            Ok(())
        });
        assert!(o.is_complete());
        assert_eq!(
            *seen.lock().unwrap(),
            ["first:m1", "second:m1", "first:m2", "second:m2"],
            "seed {seed}\n{}",
            o.trace
        );
    }
}

/// Every fault kind at once, at random, over many seeds: no run panics the runtime, hangs
/// or stalls; each ends with nothing left to run. `SIM_CHAOS_SEEDS` scales it (200 here).
#[test]
fn chaos_with_every_fault_kind_ends_every_run_cleanly() {
    let seeds: u64 = std::env::var("SIM_CHAOS_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let faults = FaultKind::ALL
        .iter()
        .fold(Faults::none(), |f, k| f.with(*k, 0.05))
        .at_most(4);
    let complete = |o: &Outcome| -> Result<(), String> {
        if o.is_complete() {
            Ok(())
        } else {
            Err(format!("ended {:?} after {} steps", o.status, o.steps))
        }
    };
    for scenario in [
        hello as fn(&Browser) -> webmessaging::Result<()>,
        moving_port,
    ] {
        let report = explore(
            ExploreConfig::new(0..seeds)
                .threads(2)
                .faults(faults.clone())
                .max_steps(20_000),
            scenario,
            complete,
        );
        assert!(report.failure.is_none(), "{report}");
        assert_eq!(report.runs, seeds);
    }
}

/// Shrinking: a property broken by any crash is found with several crashes; the report
/// keeps the smallest run that still breaks it (one fault, fewer steps), and replaying its
/// configuration breaks it again.
#[test]
fn shrinking_reports_the_smallest_failing_run() {
    let config = ExploreConfig::new(0..50)
        .threads(2)
        .faults(Faults::none().with(FaultKind::Crash, 0.6).at_most(4));
    let no_crash = |o: &Outcome| -> Result<(), String> {
        if o.faults > 0 {
            Err(format!("{} crashes", o.faults))
        } else {
            Ok(())
        }
    };
    let report = explore(config, moving_port, no_crash);
    let f = report.failure.expect("a crash is injected in some run");
    assert!(f.found_with.0 > 1, "found with {:?}", f.found_with);
    assert_eq!(f.outcome.faults, 1, "shrunk to one fault");
    assert_eq!(f.config.fault_config().max(), 1);
    assert!(
        f.outcome.steps < f.found_with.1,
        "{} steps",
        f.outcome.steps
    );
    assert!(f.config.step_limit() <= f.found_with.1);
    let again = replay(f.config.clone(), moving_port);
    assert_eq!(again.faults, 1);
    assert_eq!(again.trace.to_string(), f.outcome.trace.to_string());
}
