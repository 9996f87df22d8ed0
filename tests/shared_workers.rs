//! Shared workers end to end (issue 16): one global per (constructor origin, URL, name),
//! the `connect` event, owner sets and teardown, errors, crashes, nesting (WK-NESTED's
//! shared-worker chain) and broadcasts with a shared worker (BC-WORKER).
//!
//! Results leave the realms through tokio channels. A worker's teardown is observed with
//! a drop guard stored in its globals: globals drop when the realm is torn down.

use std::cell::Cell;
use std::time::Duration;

use tokio::sync::mpsc;
use webmessaging::prelude::*;
use webmessaging::{
    EventTarget, GlobalKind, SharedWorker, SharedWorkerOptions, WorkerId, WorkerType,
};

mod common;

use common::{recv, Rx, Tx};

fn channel() -> (Tx, Rx) {
    mpsc::unbounded_channel::<String>()
}

/// Sends `"<name> torn down"` when dropped (kept in a worker's globals).
struct TeardownGuard(Tx, &'static str);

impl Drop for TeardownGuard {
    fn drop(&mut self) {
        let _ = self.0.send(format!("{} torn down", self.1));
    }
}

/// A shared worker that counts its connections in its global and answers each one with
/// `"<label> connection <n>"`, then echoes `"<label> echo <data>"` on that port.
fn counter_worker(label: &'static str, tx: Tx) -> impl Fn(&Scope) + Send + Sync + 'static {
    move |w: &Scope| {
        let count = w.set_global(Cell::new(0u32));
        w.set_global(TeardownGuard(tx.clone(), label));
        w.on_connect(
            move |_: &Scope, e: &MessageEvent| -> webmessaging::Result<()> {
                count.set(count.get() + 1);
                let port = e.ports()[0].clone();
                port.on_message(
                    move |_: &Scope, e: &MessageEvent| -> webmessaging::Result<()> {
                        let Some(EventTarget::Port(p)) = e.target() else {
                            return Ok(());
                        };
                        p.post(&format!("{label} echo {}", e.data_as::<String>()?))
                    },
                );
                port.post(&format!("{label} connection {}", count.get()))
            },
        );
    }
}

/// Connects to `url`/`name` from `scope`, forwarding what its port receives to `tx`.
fn connect(scope: &Scope, url: &str, name: &str, tx: &Tx) -> webmessaging::Result<SharedWorker> {
    let worker = SharedWorker::new(scope, url, name)?;
    let t = tx.clone();
    worker
        .port()
        .on_message(move |_: &Scope, e: &MessageEvent| {
            let _ = t.send(e.data_as::<String>().unwrap_or_else(|e| e.to_string()));
        });
    let t = tx.clone();
    worker
        .port()
        .add_event_listener(EventType::Close, move |_: &Scope, _: &MessageEvent| {
            let _ = t.send("port closed".into());
        });
    let t = tx.clone();
    worker.on_error(move |_: &Scope, e: &MessageEvent| {
        let _ = t.send(format!("error: {}", e.error_message().unwrap_or("")));
    });
    Ok(worker)
}

/// In `page`: [`connect`]s to `url`/`name`, keeps the object in the page's globals, and
/// returns the id of the worker it reached (`None`: connected to none).
async fn connect_in(page: &WindowHandle, url: &str, name: &str, tx: &Tx) -> Option<WorkerId> {
    let (url, name, t) = (url.to_owned(), name.to_owned(), tx.clone());
    page.run(move |s: &Scope| {
        let w = connect(s, &url, &name, &t)?;
        let id = w.worker_id();
        s.set_global(w);
        Ok::<_, Error>(id)
    })
    .await
    .unwrap()
    .unwrap()
}

/// Two windows of one origin share one worker: the second constructor reaches the same
/// global (its connection count goes on), both ports talk to it; the `connect` event
/// has `data ""`, `origin ""`, one port, and that port as `source`.
#[actix_rt::test]
async fn two_windows_share_one_worker() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let (ev_tx, mut ev_rx) = channel();
    browser
        .route("https://app.example/shared.js", move |w: &Scope| {
            let t = ev_tx.clone();
            w.add_event_listener(EventType::Connect, move |s: &Scope, e: &MessageEvent| {
                let same = e.source_port() == e.ports().first();
                let _ = t.send(format!(
                    "{} data {:?} origin {:?} ports {} source is port {same} kind {:?} name {:?}",
                    e.event_type().as_str(),
                    e.data_as::<String>().unwrap_or_default(),
                    e.origin(),
                    e.ports().len(),
                    s.kind(),
                    s.worker_name(),
                ));
            });
            counter_worker("shared", ev_tx.clone())(w);
        })
        .unwrap();
    let a = browser.open("https://app.example/a").unwrap();
    let b = browser.open("https://app.example/b").unwrap();
    let id_a = connect_in(&a, "shared.js", "counter", &tx).await;
    assert_eq!(recv(&mut rx).await, "shared connection 1");
    let t = tx.clone();
    let id_b = b
        .run(move |s: &Scope| {
            let w = connect(s, "/shared.js", "counter", &t)?;
            w.port().post(&"hello from b")?;
            s.set_global(w.clone());
            Ok::<_, Error>(w.worker_id())
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(id_a, Some(id_b.unwrap()));
    assert_eq!(recv(&mut rx).await, "shared connection 2");
    assert_eq!(recv(&mut rx).await, "shared echo hello from b");
    let expected = r#"connect data "" origin "" ports 1 source is port true kind SharedWorker name Some("counter")"#;
    assert_eq!(recv(&mut ev_rx).await, expected);
    assert_eq!(recv(&mut ev_rx).await, expected);
    let workers = browser.shared_workers();
    assert_eq!(workers.len(), 1);
    assert_eq!(workers[0].url, "https://app.example/shared.js");
    assert_eq!(workers[0].name, "counter");
    assert_eq!(workers[0].constructor_origin, "https://app.example");
    assert_eq!(workers[0].owners, 2);
    browser.shutdown();
}

/// The worker lives while a document that holds it is active: closing one of two owners
/// leaves it running (the survivor still talks to it), closing the second tears it down
/// (its globals drop, the manager forgets it), and a constructor after that starts a
/// fresh global (its count starts again at 1, under a new id).
#[actix_rt::test]
async fn worker_closes_with_its_last_owner_and_restarts_fresh() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let (down_tx, mut down_rx) = channel();
    browser
        .route(
            "https://app.example/w.js",
            counter_worker("w", down_tx.clone()),
        )
        .unwrap();
    let mut pages = Vec::new();
    let mut ids = Vec::new();
    for path in ["a", "b"] {
        let page = browser
            .open(&format!("https://app.example/{path}"))
            .unwrap();
        let (t, down) = (tx.clone(), down_tx.clone());
        let id = page
            .run(move |s: &Scope| {
                let w = connect(s, "/w.js", "", &t)?;
                s.set_global(w.clone());
                s.set_global(TeardownGuard(down.clone(), "page"));
                Ok::<_, Error>(w.worker_id())
            })
            .await
            .unwrap()
            .unwrap();
        ids.push(id);
        pages.push(page);
    }
    // The two answers travel on two ports to two event loops: either may come first.
    let mut got = vec![recv(&mut rx).await, recv(&mut rx).await];
    got.sort();
    assert_eq!(got, ["w connection 1", "w connection 2"]);
    assert_eq!(ids[0], ids[1]);
    pages[0].close();
    assert_eq!(recv(&mut down_rx).await, "page torn down");
    // The survivor's connection still works: the worker outlived its first owner.
    pages[1]
        .run(|s: &Scope| {
            s.global::<SharedWorker>()
                .unwrap()
                .port()
                .post(&"still here")
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(recv(&mut rx).await, "w echo still here");
    assert_eq!(browser.shared_workers()[0].owners, 1);
    pages[1].close();
    let mut got = vec![recv(&mut down_rx).await, recv(&mut down_rx).await];
    got.sort();
    assert_eq!(got, ["page torn down", "w torn down"]);
    assert!(browser.shared_workers().is_empty());
    let c = browser.open("https://app.example/c").unwrap();
    let id_c = connect_in(&c, "/w.js", "", &tx).await;
    assert_eq!(recv(&mut rx).await, "w connection 1");
    assert_ne!(id_c, ids[0]);
    browser.shutdown();
}

/// A document that navigates away leaves the owner set: the worker it alone held closes.
#[actix_rt::test]
async fn owner_navigating_away_closes_the_worker() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let (down_tx, mut down_rx) = channel();
    browser
        .route("https://app.example/w.js", counter_worker("w", down_tx))
        .unwrap();
    let page = browser.open("https://app.example/").unwrap();
    connect_in(&page, "/w.js", "n", &tx).await;
    assert_eq!(recv(&mut rx).await, "w connection 1");
    page.navigate("https://app.example/next").unwrap();
    assert_eq!(recv(&mut down_rx).await, "w torn down");
    assert!(browser.shared_workers().is_empty());
    browser.shutdown();
}

/// Matching: same URL and another name is another worker; the same name and another URL
/// is another worker too (the standard keys on the URL: no `URLMismatchError`).
#[actix_rt::test]
async fn name_and_url_select_the_worker() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let (down_tx, _down_rx) = channel();
    browser
        .route(
            "https://app.example/one.js",
            counter_worker("one", down_tx.clone()),
        )
        .unwrap();
    browser
        .route("https://app.example/two.js", counter_worker("two", down_tx))
        .unwrap();
    let page = browser.open("https://app.example/").unwrap();
    let t = tx.clone();
    let ids = page
        .run(move |s: &Scope| {
            let a = connect(s, "/one.js", "x", &t)?;
            let b = connect(s, "/one.js", "y", &t)?;
            let c = connect(s, "/two.js", "x", &t)?;
            let d = connect(s, "/one.js", "x", &t)?;
            let ids = [&a, &b, &c, &d].map(|w| w.worker_id().unwrap());
            s.set_global(vec![a, b, c, d]);
            Ok::<_, Error>(ids)
        })
        .await
        .unwrap()
        .unwrap();
    assert_ne!(ids[0], ids[1]);
    assert_ne!(ids[0], ids[2]);
    assert_eq!(ids[0], ids[3]);
    let mut got = vec![
        recv(&mut rx).await,
        recv(&mut rx).await,
        recv(&mut rx).await,
        recv(&mut rx).await,
    ];
    got.sort();
    assert_eq!(
        got,
        [
            "one connection 1",
            "one connection 1",
            "one connection 2",
            "two connection 1"
        ]
    );
    assert_eq!(browser.shared_workers().len(), 3);
    browser.shutdown();
}

/// Another origin never reaches a worker: a script URL of another origin fails the
/// same-origin fetch (`error` at the object, no worker), and the other origin's own
/// worker of the same path and name is a different global.
#[actix_rt::test]
async fn other_origins_never_reach_the_worker() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let (down_tx, _down_rx) = channel();
    browser
        .route(
            "https://a.example/w.js",
            counter_worker("a", down_tx.clone()),
        )
        .unwrap();
    browser
        .route("https://b.example/w.js", counter_worker("b", down_tx))
        .unwrap();
    let a = browser.open("https://a.example/").unwrap();
    let b = browser.open("https://b.example/").unwrap();
    let id_a = connect_in(&a, "/w.js", "n", &tx).await;
    assert_eq!(recv(&mut rx).await, "a connection 1");
    let cross = connect_in(&b, "https://a.example/w.js", "n", &tx).await;
    assert_eq!(cross, None);
    let err = recv(&mut rx).await;
    assert!(
        err.starts_with("error: ") && err.contains("not same origin"),
        "{err}"
    );
    let id_b = connect_in(&b, "/w.js", "n", &tx).await;
    assert_eq!(recv(&mut rx).await, "b connection 1");
    assert_ne!(id_a, id_b);
    let origins: Vec<String> = browser
        .shared_workers()
        .into_iter()
        .map(|i| i.constructor_origin)
        .collect();
    assert_eq!(origins, ["https://a.example", "https://b.example"]);
    browser.shutdown();
}

/// `data:` URLs: the worker's origin is opaque; the same URL reaches one worker from one
/// origin, and a separate one from another origin.
#[actix_rt::test]
async fn data_url_workers_are_per_constructor_origin() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let (down_tx, _down_rx) = channel();
    let url = "data:text/javascript,shared";
    let script = webmessaging::script(counter_worker("data", down_tx));
    let mut ids = Vec::new();
    for origin in [
        "https://a.example/1",
        "https://a.example/2",
        "https://b.example/",
    ] {
        let page = browser.open(origin).unwrap();
        let (t, script) = (tx.clone(), script.clone());
        let id = page
            .run(move |s: &Scope| {
                let options = SharedWorkerOptions {
                    script: Some(script),
                    ..SharedWorkerOptions::named("d")
                };
                let w = SharedWorker::with_options(s, url, options)?;
                let t = t.clone();
                w.port().on_message(move |_: &Scope, e: &MessageEvent| {
                    let _ = t.send(e.data_as::<String>().unwrap_or_default());
                });
                s.set_global(w.clone());
                Ok::<_, Error>(w.worker_id())
            })
            .await
            .unwrap()
            .unwrap();
        ids.push(id);
        recv(&mut rx).await;
    }
    assert_eq!(ids[0], ids[1]);
    assert_ne!(ids[0], ids[2]);
    browser.shutdown();
}

/// Errors: a URL that does not parse is a `SyntaxError`, thrown; a match whose options
/// differ (`type: "module"` against a classic worker) fires `error` at the new object,
/// whose port stays unconnected, and the first connection goes on working.
#[actix_rt::test]
async fn constructor_errors() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let (down_tx, _down_rx) = channel();
    browser
        .route("https://app.example/w.js", counter_worker("w", down_tx))
        .unwrap();
    let page = browser.open("https://app.example/").unwrap();
    let name = page
        .run(|s: &Scope| SharedWorker::new(s, "https://exa mple.com/w.js", "").map(|_| ()))
        .await
        .unwrap()
        .unwrap_err()
        .name();
    assert_eq!(name, ExceptionName::SyntaxError);
    let t = tx.clone();
    page.run(move |s: &Scope| -> webmessaging::Result<()> {
        let first = connect(s, "/w.js", "n", &t)?;
        let w = SharedWorker::with_options(
            s,
            "/w.js",
            SharedWorkerOptions {
                worker_type: WorkerType::Module,
                ..SharedWorkerOptions::named("n")
            },
        )?;
        assert_eq!(w.worker_id(), None);
        let t2 = t.clone();
        w.on_error(move |_: &Scope, e: &MessageEvent| {
            let _ = t2.send(format!(
                "error at the module one ({})",
                e.event_type().as_str()
            ));
        });
        w.port().post(&"lost")?;
        s.set_global(vec![first, w]);
        Ok(())
    })
    .await
    .unwrap()
    .unwrap();
    let mut got = vec![recv(&mut rx).await, recv(&mut rx).await];
    got.sort();
    assert_eq!(got, ["error at the module one (error)", "w connection 1"]);
    page.run(|s: &Scope| {
        s.global::<Vec<SharedWorker>>().unwrap()[0]
            .port()
            .post(&"ok")
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(recv(&mut rx).await, "w echo ok");
    browser.shutdown();
}

/// A shared worker's global has no `postMessage` (`NotSupportedError`), nor a window.
#[actix_rt::test]
async fn shared_worker_global_has_no_post_message() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    browser
        .route("https://app.example/w.js", move |w: &Scope| {
            let t = tx.clone();
            w.on_connect(
                move |s: &Scope, e: &MessageEvent| -> webmessaging::Result<()> {
                    let post = s.post(&1).map_err(|e| e.name());
                    let window = s
                        .window_post_message(&Value::from(1), "*", &[])
                        .map_err(|e| e.name());
                    // The port in hand was not detached by the failed posts.
                    let _ = t.send(format!("{post:?} {window:?} {}", s.window().is_none()));
                    e.ports()[0].post(&"fine")
                },
            );
        })
        .unwrap();
    let page = browser.open("https://app.example/").unwrap();
    let (t2, mut rx2) = channel();
    connect_in(&page, "/w.js", "", &t2).await;
    assert_eq!(
        recv(&mut rx).await,
        "Err(NotSupportedError) Err(NotSupportedError) true"
    );
    assert_eq!(recv(&mut rx2).await, "fine");
    browser.shutdown();
}

/// A crash is supervised: every connected object gets `error`, every client's port gets
/// `close`; with the default `Reload` the script runs again in a fresh global of the same
/// worker, which a new constructor reaches (its count starts again).
#[actix_rt::test]
async fn crash_reloads_and_closes_every_connection() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    browser
        .route("https://app.example/w.js", |w: &Scope| {
            let count = w.set_global(Cell::new(0u32));
            w.on_connect(
                move |_: &Scope, e: &MessageEvent| -> webmessaging::Result<()> {
                    count.set(count.get() + 1);
                    let port = e.ports()[0].clone();
                    port.on_message(|_: &Scope, e: &MessageEvent| {
                        if e.data_as::<String>().as_deref() == Ok("crash") {
                            panic!("worker bug");
                        }
                    });
                    port.post(&format!("connection {}", count.get()))
                },
            );
        })
        .unwrap();
    let (a_tx, mut a_rx) = channel();
    let (b_tx, mut b_rx) = channel();
    let a = browser.open("https://app.example/a").unwrap();
    let b = browser.open("https://app.example/b").unwrap();
    for (page, t) in [(&a, a_tx.clone()), (&b, b_tx.clone())] {
        connect_in(page, "/w.js", "", &t).await;
    }
    assert_eq!(recv(&mut a_rx).await, "connection 1");
    assert_eq!(recv(&mut b_rx).await, "connection 2");
    a.run(|s: &Scope| s.global::<SharedWorker>().unwrap().port().post(&"crash"))
        .await
        .unwrap()
        .unwrap();
    for rx in [&mut a_rx, &mut b_rx] {
        let mut got = vec![recv(rx).await, recv(rx).await];
        got.sort();
        assert_eq!(got, ["error: worker bug", "port closed"]);
    }
    let events = browser
        .wait_lifecycle(Duration::from_secs(5), |e| {
            matches!(e, LifecycleEvent::Restarted { .. })
        })
        .await;
    assert!(events.is_some(), "{:?}", browser.lifecycle_events());
    connect_in(&a, "/w.js", "", &tx).await;
    assert_eq!(recv(&mut rx).await, "connection 1");
    browser.shutdown();
}

/// A listener that crashes its realm.
fn boom(_: &Scope, _: &MessageEvent) {
    panic!("boom")
}

/// With policy `Stop` a crashed shared worker stays down: the manager forgets it and the
/// next constructor starts a new worker.
#[actix_rt::test]
async fn crash_with_stop_policy_forgets_the_worker() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    browser
        .route("https://app.example/w.js", |w: &Scope| {
            w.on_connect(|_: &Scope, e: &MessageEvent| {
                e.ports()[0].on_message(boom);
            });
        })
        .unwrap();
    let page = browser.open("https://app.example/").unwrap();
    let t = tx.clone();
    let first = page
        .run(move |s: &Scope| -> webmessaging::Result<_> {
            let w = connect(s, "/w.js", "", &t)?;
            w.set_restart_policy(RestartPolicy::Stop);
            w.port().post(&"go")?;
            let id = w.worker_id();
            s.set_global(w);
            Ok(id)
        })
        .await
        .unwrap()
        .unwrap();
    let mut got = vec![recv(&mut rx).await, recv(&mut rx).await];
    got.sort();
    assert_eq!(got, ["error: boom", "port closed"]);
    let stopped = browser
        .wait_lifecycle(Duration::from_secs(5), |e| {
            matches!(e, LifecycleEvent::Stopped { .. })
        })
        .await;
    assert!(stopped.is_some(), "{:?}", browser.lifecycle_events());
    assert!(browser.shared_workers().is_empty());
    let t = tx.clone();
    let second = page
        .run(move |s: &Scope| connect(s, "/w.js", "", &t).map(|w| w.worker_id()))
        .await
        .unwrap()
        .unwrap();
    assert_ne!(first, second);
    browser.shutdown();
}

/// WK-NESTED, the shared-worker chain: a dedicated worker inside a shared worker inside
/// a dedicated worker relays "123" up to the page.
#[actix_rt::test]
async fn wk_nested_dedicated_in_shared_in_dedicated() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    browser
        .route("https://app.example/inner.js", |w: &Scope| {
            w.post(&"3").unwrap();
        })
        .unwrap();
    browser
        .route("https://app.example/shared.js", |w: &Scope| {
            w.on_connect(|s: &Scope, e: &MessageEvent| -> webmessaging::Result<()> {
                let port = e.ports()[0].clone();
                let inner = s.spawn_worker("https://app.example/inner.js")?;
                inner.on_message(
                    move |_: &Scope, e: &MessageEvent| -> webmessaging::Result<()> {
                        port.post(&format!("2{}", e.data_as::<String>()?))
                    },
                );
                s.set_global(inner);
                Ok(())
            });
        })
        .unwrap();
    browser
        .route(
            "https://app.example/outer.js",
            |w: &Scope| -> webmessaging::Result<()> {
                assert_eq!(w.kind(), GlobalKind::DedicatedWorker);
                let shared = SharedWorker::new(w, "https://app.example/shared.js", "")?;
                shared.port().on_message(
                    |s: &Scope, e: &MessageEvent| -> webmessaging::Result<()> {
                        s.post(&format!("1{}", e.data_as::<String>()?))
                    },
                );
                w.set_global(shared);
                Ok(())
            },
        )
        .unwrap();
    let t = tx.clone();
    let _page = browser
        .open_with(
            "https://app.example/",
            move |s: &Scope| -> webmessaging::Result<()> {
                let outer = s.spawn_worker("https://app.example/outer.js")?;
                let t = t.clone();
                outer.on_message(move |_: &Scope, e: &MessageEvent| {
                    let _ = t.send(e.data_as::<String>().unwrap_or_default());
                });
                s.set_global(outer);
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(recv(&mut rx).await, "123");
    browser.shutdown();
}

/// BC-WORKER with a shared worker: the worker's broadcast reaches the window's channel,
/// and the window's later broadcast reaches the worker, in order.
#[actix_rt::test]
async fn bc_worker_shared() {
    let browser = Browser::new();
    let (tx, mut rx) = channel();
    let t = tx.clone();
    browser
        .route("https://app.example/w.js", move |w: &Scope| {
            let c = w.broadcast_channel("bc");
            let t = t.clone();
            c.on_message(move |_: &Scope, e: &MessageEvent| {
                let _ = t.send(format!(
                    "worker got {}",
                    e.data_as::<String>().unwrap_or_default()
                ));
            });
            w.set_global(c);
            w.on_connect(|s: &Scope, _: &MessageEvent| {
                s.global::<BroadcastChannel>().unwrap().post(&"from worker")
            });
        })
        .unwrap();
    let t = tx.clone();
    let _page = browser
        .open_with(
            "https://app.example/",
            move |s: &Scope| -> webmessaging::Result<()> {
                let c = s.broadcast_channel("bc");
                let t = t.clone();
                c.on_message(
                    move |_: &Scope, e: &MessageEvent| -> webmessaging::Result<()> {
                        let data = e.data_as::<String>()?;
                        let _ = t.send(format!("window got {data}"));
                        let Some(EventTarget::BroadcastChannel(c)) = e.target() else {
                            return Ok(());
                        };
                        c.post(&"from window")?;
                        c.post(&"done")
                    },
                );
                s.set_global(c);
                let w = SharedWorker::new(s, "/w.js", "")?;
                s.set_global(w);
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(recv(&mut rx).await, "window got from worker");
    assert_eq!(recv(&mut rx).await, "worker got from window");
    assert_eq!(recv(&mut rx).await, "worker got done");
    browser.shutdown();
}

/// In the simulation mode two windows racing to connect reach one global in every
/// order the seeds explore: each seed gives "connection 1" to one window and
/// "connection 2" to the other, both orders are reached, and each seed replays its own.
#[test]
fn simulated_connections_race_to_one_global() {
    use webmessaging::simulation::{replay, SimConfig};
    let scenario = |browser: &Browser| -> webmessaging::Result<()> {
        browser.route("https://app.example/w.js", |w: &Scope| {
            let count = w.set_global(Cell::new(0u32));
            w.on_connect(move |_: &Scope, e: &MessageEvent| {
                count.set(count.get() + 1);
                e.ports()[0].post(&format!("connection {}", count.get()))
            });
        })?;
        for page in ["a", "b"] {
            browser.open_with(
                &format!("https://app.example/{page}"),
                |s: &Scope| -> webmessaging::Result<()> {
                    let w = SharedWorker::new(s, "/w.js", "")?;
                    w.port().on_message(|_: &Scope, _: &MessageEvent| {});
                    s.set_global(w);
                    Ok(())
                },
            )?;
        }
        Ok(())
    };
    let answers = |seed: u64| -> Vec<String> {
        let o = replay(SimConfig::new(seed), scenario);
        let mut m: Vec<String> = o
            .events()
            .filter(|e| e.event_type == EventType::Message)
            .map(|e| format!("{} {}", e.realm, e.data_as::<String>().unwrap_or_default()))
            .collect();
        m.sort();
        m
    };
    let mut orders = std::collections::BTreeSet::new();
    for seed in 0..40 {
        let m = answers(seed);
        assert_eq!(m.len(), 2, "seed {seed}: {m:?}");
        let mut counts: Vec<&str> = m.iter().map(|s| &s[s.len() - 1..]).collect();
        counts.sort();
        assert_eq!(counts, ["1", "2"], "seed {seed}: one global: {m:?}");
        assert_eq!(answers(seed), m, "seed {seed} replays");
        orders.insert(m);
    }
    assert_eq!(orders.len(), 2, "both orders reached: {orders:?}");
}
