//! Supervised realms: crash isolation, restart policies, OTP strategies, restart intensity,
//! lifecycle events, and what happens to each kind of message in flight across a crash
//! (see the module docs of `webmessaging::supervision`).
//!
//! The panics these tests provoke print to stderr; that is expected.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use webmessaging::prelude::*;
use webmessaging::{Intensity, Script};

type Tx = mpsc::UnboundedSender<String>;
type Rx = mpsc::UnboundedReceiver<String>;

const TIMEOUT: Duration = Duration::from_secs(5);

async fn recv<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(TIMEOUT, rx.recv())
        .await
        .expect("timed out")
        .expect("channel closed")
}

/// Asserts nothing more arrives for a little while (used after a message that must be
/// dropped; everything that could deliver it has already run or is stopped).
async fn assert_quiet(rx: &mut Rx) {
    if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(150), rx.recv()).await {
        panic!("expected nothing more, got {m:?}");
    }
}

/// A compact, comparable form of a lifecycle event.
fn brief(e: &LifecycleEvent) -> String {
    match e {
        LifecycleEvent::Crashed { realm, message } => format!("crashed {realm}: {message}"),
        LifecycleEvent::Restarted { realm, count } => format!("restarted {realm} {count}"),
        LifecycleEvent::Stopped { realm } => format!("stopped {realm}"),
        LifecycleEvent::Escalated { realm, to } => format!("escalated {realm} -> {to}"),
        LifecycleEvent::Flooded { realm, origin, .. } => format!("flooded {realm} by {origin}"),
        other => format!("{other:?}"),
    }
}

/// The browser's lifecycle log, for the realms named `names`.
fn log_of(browser: &Browser, names: &[&str]) -> Vec<String> {
    browser
        .lifecycle_events()
        .iter()
        .filter(|e| names.contains(&e.realm()))
        .map(brief)
        .collect()
}

async fn wait_for(browser: &Browser, what: &str) {
    let what = what.to_owned();
    browser
        .wait_lifecycle(TIMEOUT, |e| brief(e) == what)
        .await
        .unwrap_or_else(|| {
            panic!(
                "no lifecycle event {what:?}; log: {:?}",
                log_of_all(browser)
            )
        });
}

fn log_of_all(browser: &Browser) -> Vec<String> {
    browser.lifecycle_events().iter().map(brief).collect()
}

/// A widget document: reports its load and every window message it gets (with its realm
/// name, `name#document`), and panics on "boom" (after posting a message to itself, which
/// must never be delivered: it is queued for the document that crashes).
fn widget(tx: Tx) -> Script {
    script(move |scope: &Scope| {
        let _ = tx.send(format!("loaded {}", scope.name()));
        let tx = tx.clone();
        scope.on_message(move |scope: &Scope, e: &MessageEvent| {
            let d = e.data_as::<String>().unwrap_or_default();
            if d == "boom" {
                // Queued for this document, which crashes before it runs: dropped.
                let me = scope.window().unwrap();
                me.post(scope, "posted to itself before crashing", "*")
                    .unwrap();
                // Sent before the crash: delivered.
                let parent = scope.parent().unwrap();
                parent.post(scope, "last words", "*").unwrap();
                panic!("boom in {}", scope.name());
            }
            let _ = tx.send(format!("{} got {d}", scope.name()));
        });
    })
}

fn iframe_opts(name: &str, script: Script) -> IframeOptions {
    IframeOptions {
        script: Some(script),
        name: Some(name.to_owned()),
        ..Default::default()
    }
}

/// Posts each of `msgs` to `to`, from `from`'s current realm, in one task.
async fn post_all(from: &WindowHandle, to: &WindowProxy, msgs: &[&str]) {
    let to = to.clone();
    let msgs: Vec<String> = msgs.iter().map(|m| (*m).to_owned()).collect();
    from.run(move |s: &Scope| {
        for m in &msgs {
            to.post(s, m.as_str(), "*").unwrap();
        }
    })
    .await
    .unwrap();
}

async fn post(from: &WindowHandle, to: &WindowProxy, msg: &str) {
    post_all(from, to, &[msg]).await
}

async fn iframes(app: &WindowHandle) -> Vec<WindowProxy> {
    app.run(|s: &Scope| s.iframes()).await.unwrap()
}

/// A top-level app that records its children's lifecycle events (as the parent realm sees
/// them) and creates the iframes `make` makes.
fn open_app(
    browser: &Browser,
    lifecycle: mpsc::UnboundedSender<String>,
    make: impl Fn(&Scope) -> webmessaging::Result<()> + Send + Sync + 'static,
) -> WindowHandle {
    browser
        .open_with("https://app.example/", move |scope: &Scope| {
            let l = lifecycle.clone();
            scope.on_child_lifecycle(move |_s: &Scope, e: &LifecycleEvent| {
                let _ = l.send(brief(e));
            });
            make(scope)
        })
        .unwrap()
}

/// A listener panics while a message is dispatched: the iframe crashes, is reloaded (a new
/// document at the same URL, its load script runs again), and the same WindowProxy reaches
/// the new document. The parent realm sees Crashed and Restarted.
#[actix_rt::test]
async fn crash_during_dispatch_reloads_the_document() {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (ltx, mut lrx) = mpsc::unbounded_channel();
    let app = open_app(&browser, ltx, move |scope| {
        scope.create_iframe_with(
            "https://widget.example/",
            iframe_opts("w", widget(tx.clone())),
        )?;
        let t = tx.clone();
        scope.on_message(move |_s: &Scope, e: &MessageEvent| {
            let d = e.data_as::<String>().unwrap_or_default();
            let _ = t.send(format!("app got {d} from {}", e.origin()));
        });
        Ok(())
    });
    assert_eq!(recv(&mut rx).await, "loaded w#1");
    let w = iframes(&app).await.remove(0);
    post(&app, &w, "hello").await;
    assert_eq!(recv(&mut rx).await, "w#1 got hello");

    post(&app, &w, "boom").await;
    // What the widget posted before crashing is delivered.
    assert_eq!(
        recv(&mut rx).await,
        "app got last words from https://widget.example"
    );
    wait_for(&browser, "restarted w 1").await;
    assert_eq!(recv(&mut rx).await, "loaded w#2");
    assert_eq!(
        log_of(&browser, &["w"]),
        ["crashed w: boom in w#1", "restarted w 1"]
    );
    assert_eq!(w.document_serial(), 2);
    assert!(!w.closed());

    // The same proxy reaches the new document.
    post(&app, &w, "again").await;
    assert_eq!(recv(&mut rx).await, "w#2 got again");
    // The parent realm observed the crash (with the panic message) and the restart.
    assert_eq!(recv(&mut lrx).await, "crashed w: boom in w#1");
    assert_eq!(recv(&mut lrx).await, "restarted w 1");
    // The app itself was not affected.
    assert_eq!(
        app.run(|s: &Scope| s.name()).await.unwrap(),
        "https://app.example/#1"
    );
    browser.shutdown();
}

/// The load script panics on the first load only: the iframe is restarted and then works.
#[actix_rt::test]
async fn crash_in_the_load_script_restarts_and_then_works() {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let loads = Arc::new(AtomicU32::new(0));
    let inner = widget(tx);
    browser
        .route("https://widget.example/", move |scope: &Scope| {
            if loads.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("first load fails");
            }
            inner(scope)
        })
        .unwrap();
    let (ltx, mut lrx) = mpsc::unbounded_channel();
    let app = open_app(&browser, ltx, |scope| {
        scope.create_iframe_with(
            "https://widget.example/",
            IframeOptions {
                name: Some("w".into()),
                ..Default::default()
            },
        )?;
        Ok(())
    });
    wait_for(&browser, "restarted w 1").await;
    assert_eq!(recv(&mut rx).await, "loaded w#2");
    assert_eq!(
        log_of(&browser, &["w"]),
        ["crashed w: first load fails", "restarted w 1"]
    );
    let w = iframes(&app).await.remove(0);
    post(&app, &w, "hi").await;
    assert_eq!(recv(&mut rx).await, "w#2 got hi");
    assert_eq!(recv(&mut lrx).await, "crashed w: first load fails");
    assert_eq!(recv(&mut lrx).await, "restarted w 1");
    browser.shutdown();
}

/// A load script that always panics: the supervisor ("mid", allowing 2 restarts in 2 s)
/// restarts it twice; the third crash exceeds the intensity, so the child is stopped and
/// "mid" escalates (crashes); "mid"'s own supervisor, the app, reloads it.
#[actix_rt::test]
async fn crash_loop_hits_the_intensity_limit_and_escalates() {
    let browser = Browser::new();
    let mid_loads = Arc::new(AtomicU32::new(0));
    let (ltx, mut lrx) = mpsc::unbounded_channel();
    let ml = mid_loads.clone();
    let mid_script = script(move |scope: &Scope| -> webmessaging::Result<()> {
        scope.set_supervisor(SupervisorSpec {
            strategy: Strategy::OneForOne,
            intensity: Intensity {
                max_restarts: 2,
                within: Duration::from_secs(2),
            },
        });
        // Only the first document of "mid" creates the looping child.
        if ml.fetch_add(1, Ordering::SeqCst) == 0 {
            scope.create_iframe_with(
                "https://loop.example/",
                iframe_opts("loop", script(|_s: &Scope| -> () { panic!("loop panics") })),
            )?;
        }
        Ok(())
    });
    let app = open_app(&browser, ltx, move |scope| {
        scope.create_iframe_with(
            "https://mid.example/",
            iframe_opts("mid", mid_script.clone()),
        )?;
        Ok(())
    });
    wait_for(&browser, "restarted mid 1").await;
    let log = log_of(&browser, &["loop", "mid"]);
    assert_eq!(
        log[..7],
        [
            "crashed loop: loop panics",
            "restarted loop 1",
            "crashed loop: loop panics",
            "restarted loop 2",
            "crashed loop: loop panics",
            "stopped loop",
            "escalated loop -> mid",
        ]
    );
    assert!(
        log[7].starts_with(
            "crashed mid: restart intensity exceeded (2 in 2s): loop crashed: loop panics"
        ),
        "{log:?}"
    );
    assert_eq!(log[8], "restarted mid 1");
    assert_eq!(log.len(), 9, "{log:?}");
    // The app (mid's supervisor) saw mid crash and restart; mid is back and the app works.
    assert!(recv(&mut lrx)
        .await
        .starts_with("crashed mid: restart intensity exceeded"));
    assert_eq!(recv(&mut lrx).await, "restarted mid 1");
    let mid = iframes(&app).await.remove(0);
    assert_eq!(mid.document_serial(), 2);
    assert_eq!(mid_loads.load(Ordering::SeqCst), 2);
    let mid_handle = browser.handle(&mid);
    assert_eq!(
        mid_handle.run(|s: &Scope| s.iframes().len()).await.unwrap(),
        0
    );
    browser.shutdown();
}

/// The top-level window's supervisor is the group's root: the window's own policy, with the
/// default intensity (3 restarts in 5 s, then the window is stopped).
#[actix_rt::test]
async fn top_level_windows_are_supervised_by_the_root() {
    let browser = Browser::new();
    // Reload (the default): a crash in the first load script, then it works.
    let loads = Arc::new(AtomicU32::new(0));
    let l = loads.clone();
    let top = browser
        .open_with("https://top.example/", move |_s: &Scope| {
            if l.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("top fails once");
            }
        })
        .unwrap();
    wait_for(&browser, "restarted https://top.example/ 1").await;
    assert_eq!(
        top.run(|s: &Scope| s.name()).await.unwrap(),
        "https://top.example/#2"
    );
    assert_eq!(
        log_of(&browser, &["https://top.example/"]),
        [
            "crashed https://top.example/: top fails once",
            "restarted https://top.example/ 1"
        ]
    );

    // A crash loop at the top: 3 restarts, then the root gives up and stops the window.
    let looping = browser
        .open_with("https://loop.example/", |_s: &Scope| -> () {
            panic!("always")
        })
        .unwrap();
    wait_for(&browser, "stopped https://loop.example/").await;
    let c = "crashed https://loop.example/: always";
    assert_eq!(
        log_of(&browser, &["https://loop.example/"]),
        [
            c,
            "restarted https://loop.example/ 1",
            c,
            "restarted https://loop.example/ 2",
            c,
            "restarted https://loop.example/ 3",
            c,
            "stopped https://loop.example/"
        ]
    );
    assert!(looping.proxy().closed());

    // Stop: a crash closes the window; run() on it fails.
    top.proxy().set_restart_policy(RestartPolicy::Stop);
    assert!(top
        .run(|_s: &Scope| -> () { panic!("stop me") })
        .await
        .is_err());
    wait_for(&browser, "stopped https://top.example/").await;
    assert!(top.proxy().closed());
    assert!(top.run(|_s: &Scope| ()).await.is_err());

    // Escalate at the top: nothing to escalate to; the root stops the window.
    let esc = browser
        .open_with("https://esc.example/", |_s: &Scope| ())
        .unwrap();
    esc.settle().await.unwrap();
    esc.proxy().set_restart_policy(RestartPolicy::Escalate);
    assert!(esc.run(|_s: &Scope| -> () { panic!("esc") }).await.is_err());
    wait_for(&browser, "escalated https://esc.example/ -> root").await;
    assert_eq!(
        log_of(&browser, &["https://esc.example/"]),
        [
            "crashed https://esc.example/: esc",
            "stopped https://esc.example/",
            "escalated https://esc.example/ -> root"
        ]
    );
    assert!(esc.proxy().closed());
    browser.shutdown();
}

/// Three iframes a, b, c (created in that order) under a supervisor with `strategy`; b
/// crashes. Returns the document serials of a, b, c once the restarts are done.
async fn strategy_effect(strategy: Strategy, expect_restarted: &[&str]) -> [u64; 3] {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (ltx, _lrx) = mpsc::unbounded_channel();
    let app = open_app(&browser, ltx, move |scope| {
        scope.set_supervisor(SupervisorSpec {
            strategy,
            intensity: Intensity::default(),
        });
        for name in ["a", "b", "c"] {
            let url = format!("https://{name}.example/");
            scope.create_iframe_with(&url, iframe_opts(name, widget(tx.clone())))?;
        }
        Ok(())
    });
    let mut loaded: Vec<String> = vec![
        recv(&mut rx).await,
        recv(&mut rx).await,
        recv(&mut rx).await,
    ];
    loaded.sort();
    assert_eq!(loaded, ["loaded a#1", "loaded b#1", "loaded c#1"]);
    let frames = iframes(&app).await;
    post(&app, &frames[1], "boom").await;
    for name in expect_restarted {
        wait_for(&browser, &format!("restarted {name} 1")).await;
    }
    // Every Restart the supervisor sent was sent while it handled the crash, before b's
    // restart; once each sibling has run a later task, no restart of it is pending.
    for f in &frames {
        browser.handle(f).settle().await.unwrap();
    }
    let mut restarted: Vec<String> = log_of(&browser, &["a", "b", "c"])
        .into_iter()
        .filter(|e| e.starts_with("restarted"))
        .collect();
    restarted.sort();
    let expected: Vec<String> = expect_restarted
        .iter()
        .map(|n| format!("restarted {n} 1"))
        .collect();
    assert_eq!(restarted, expected);
    let mut reloaded = Vec::new();
    while let Ok(m) = rx.try_recv() {
        reloaded.push(m);
    }
    reloaded.sort();
    let expected: Vec<String> = expect_restarted
        .iter()
        .map(|n| format!("loaded {n}#2"))
        .collect();
    assert_eq!(reloaded, expected);
    // The non-restarted siblings still answer, from their first document.
    for f in &frames {
        post(&app, f, "ping").await;
        let m = recv(&mut rx).await;
        assert!(m.ends_with(" got ping"), "{m}");
    }
    let serials = [
        frames[0].document_serial(),
        frames[1].document_serial(),
        frames[2].document_serial(),
    ];
    browser.shutdown();
    serials
}

#[actix_rt::test]
async fn one_for_one_restarts_only_the_crashed_child() {
    assert_eq!(
        strategy_effect(Strategy::OneForOne, &["b"]).await,
        [1, 2, 1]
    );
}

#[actix_rt::test]
async fn one_for_all_restarts_every_child() {
    assert_eq!(
        strategy_effect(Strategy::OneForAll, &["a", "b", "c"]).await,
        [2, 2, 2]
    );
}

#[actix_rt::test]
async fn rest_for_one_restarts_the_crashed_child_and_later_ones() {
    assert_eq!(
        strategy_effect(Strategy::RestForOne, &["b", "c"]).await,
        [1, 2, 2]
    );
}

/// Policy Stop: the crashed iframe is closed, like a crashed tab; messages to it are
/// dropped; its parent goes on.
#[actix_rt::test]
async fn stop_policy_closes_the_realm() {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (ltx, mut lrx) = mpsc::unbounded_channel();
    let app = open_app(&browser, ltx, move |scope| {
        let mut o = iframe_opts("w", widget(tx.clone()));
        o.restart_policy = Some(RestartPolicy::Stop);
        scope.create_iframe_with("https://widget.example/", o)?;
        Ok(())
    });
    assert_eq!(recv(&mut rx).await, "loaded w#1");
    let w = iframes(&app).await.remove(0);
    post(&app, &w, "boom").await;
    wait_for(&browser, "stopped w").await;
    assert_eq!(
        log_of(&browser, &["w"]),
        ["crashed w: boom in w#1", "stopped w"]
    );
    assert_eq!(recv(&mut lrx).await, "crashed w: boom in w#1");
    assert_eq!(recv(&mut lrx).await, "stopped w");
    assert!(w.closed());
    assert!(browser.handle(&w).run(|_s: &Scope| ()).await.is_err());
    post(&app, &w, "anyone?").await;
    assert_quiet(&mut rx).await;
    assert_eq!(
        app.run(|s: &Scope| s.name()).await.unwrap(),
        "https://app.example/#1"
    );
    browser.shutdown();
}

/// Policy Escalate: the crashed iframe is stopped and its supervisor ("mid") crashes; mid's
/// supervisor reloads mid, whose new document creates a new iframe.
#[actix_rt::test]
async fn escalate_policy_crashes_the_supervisor() {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let (ltx, mut lrx) = mpsc::unbounded_channel();
    let t = tx.clone();
    let mid_script = script(move |scope: &Scope| -> webmessaging::Result<()> {
        let _ = t.send(format!("loaded {}", scope.name()));
        let mut o = iframe_opts("esc", widget(t.clone()));
        o.restart_policy = Some(RestartPolicy::Escalate);
        scope.create_iframe_with("https://esc.example/", o)?;
        Ok(())
    });
    let app = open_app(&browser, ltx, move |scope| {
        scope.create_iframe_with(
            "https://mid.example/",
            iframe_opts("mid", mid_script.clone()),
        )?;
        Ok(())
    });
    let mut first = vec![recv(&mut rx).await, recv(&mut rx).await];
    first.sort();
    assert_eq!(first, ["loaded esc#1", "loaded mid#1"]);
    let mid = iframes(&app).await.remove(0);
    let old_esc = browser
        .handle(&mid)
        .run(|s: &Scope| s.iframes())
        .await
        .unwrap()
        .remove(0);
    post(&app, &old_esc, "boom").await;
    wait_for(&browser, "restarted mid 1").await;
    assert_eq!(
        log_of(&browser, &["esc", "mid"]),
        [
            "crashed esc: boom in esc#1",
            "stopped esc",
            "escalated esc -> mid",
            "crashed mid: escalated: esc crashed: boom in esc#1",
            "restarted mid 1",
        ]
    );
    assert_eq!(
        recv(&mut lrx).await,
        "crashed mid: escalated: esc crashed: boom in esc#1"
    );
    assert_eq!(recv(&mut lrx).await, "restarted mid 1");
    let mut second = vec![recv(&mut rx).await, recv(&mut rx).await];
    second.sort();
    assert_eq!(second, ["loaded esc#1", "loaded mid#2"]);
    assert!(old_esc.closed());
    let new_esc = browser
        .handle(&mid)
        .run(|s: &Scope| s.iframes())
        .await
        .unwrap()
        .remove(0);
    assert_ne!(new_esc, old_esc);
    browser.shutdown();
}

/// A realm holding a port crashes: the peer gets every message sent before the crash, then
/// `close`; posting to the closed port afterwards is harmless and reaches nobody.
#[actix_rt::test]
async fn the_peer_of_a_crashed_realms_port_gets_close() {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let wtx = tx.clone();
    let widget_script = script(move |scope: &Scope| {
        let _ = wtx.send(format!("loaded {}", scope.name()));
        let wtx = wtx.clone();
        scope.on_message(move |scope: &Scope, e: &MessageEvent| {
            let Some(port) = e.ports().first().cloned() else {
                return;
            };
            scope.set_global(port.clone());
            let wtx = wtx.clone();
            port.on_message(move |s: &Scope, e: &MessageEvent| {
                let d = e.data_as::<String>().unwrap_or_default();
                let port = s.global::<MessagePort>().unwrap();
                if d == "boom" {
                    port.post("m1").unwrap();
                    port.post("m2").unwrap();
                    panic!("port boom");
                }
                let _ = wtx.send(format!("{} port got {d}", s.name()));
            });
            port.post("ready").unwrap();
        });
    });
    let (ltx, _lrx) = mpsc::unbounded_channel();
    let t = tx.clone();
    let app = open_app(&browser, ltx, move |scope| {
        let w = scope.create_iframe_with(
            "https://widget.example/",
            iframe_opts("w", widget_script.clone()),
        )?;
        let ch = scope.message_channel();
        let port1 = ch.port1().clone();
        let t1 = t.clone();
        port1.on_message(move |_s: &Scope, e: &MessageEvent| {
            let _ = t1.send(format!(
                "app port got {}",
                e.data_as::<String>().unwrap_or_default()
            ));
        });
        let t2 = t.clone();
        port1.on_close(move |_s: &Scope, _e: &MessageEvent| {
            let _ = t2.send("app port closed".to_owned());
        });
        scope.set_global(port1);
        w.post_message(scope, &Value::from("port"), "*", &[ch.port2().to_value()])?;
        Ok(())
    });
    assert_eq!(recv(&mut rx).await, "loaded w#1");
    assert_eq!(recv(&mut rx).await, "app port got ready");
    app.run(|s: &Scope| s.global::<MessagePort>().unwrap().post("boom").unwrap())
        .await
        .unwrap();
    assert_eq!(recv(&mut rx).await, "app port got m1");
    assert_eq!(recv(&mut rx).await, "app port got m2");
    assert_eq!(recv(&mut rx).await, "app port closed");
    wait_for(&browser, "restarted w 1").await;
    assert_eq!(recv(&mut rx).await, "loaded w#2");
    assert_eq!(
        log_of(&browser, &["w"]),
        ["crashed w: port boom", "restarted w 1"]
    );
    // The new document has no port; posting to the closed one reaches nobody.
    app.run(|s: &Scope| s.global::<MessagePort>().unwrap().post("late").unwrap())
        .await
        .unwrap();
    assert_quiet(&mut rx).await;
    browser.shutdown();
}

/// Ports the crashed realm had transferred away before crashing are not its ports any more:
/// they keep working.
#[actix_rt::test]
async fn ports_transferred_away_before_a_crash_keep_working() {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let widget_script = script(|scope: &Scope| -> webmessaging::Result<()> {
        // Make a channel and give both ends to the parent.
        let ch = scope.message_channel();
        let parent = scope.parent().unwrap();
        parent.post_message(
            scope,
            &Value::from("pair"),
            "*",
            &[ch.port1().to_value(), ch.port2().to_value()],
        )?;
        scope.on_message(|_s: &Scope, e: &MessageEvent| {
            if e.data_as::<String>().unwrap_or_default() == "boom" {
                panic!("boom");
            }
        });
        Ok(())
    });
    let (ltx, _lrx) = mpsc::unbounded_channel();
    let t = tx.clone();
    let app = open_app(&browser, ltx, move |scope| {
        scope.create_iframe_with(
            "https://widget.example/",
            iframe_opts("w", widget_script.clone()),
        )?;
        let t = t.clone();
        scope.on_message(move |s: &Scope, e: &MessageEvent| {
            // Keep the first pair only.
            if e.ports().len() == 2 && s.global::<Vec<MessagePort>>().is_none() {
                let t2 = t.clone();
                e.ports()[1].on_message(move |_s: &Scope, e: &MessageEvent| {
                    let _ = t2.send(format!(
                        "pair got {}",
                        e.data_as::<String>().unwrap_or_default()
                    ));
                });
                s.set_global(e.ports().to_vec());
                let _ = t.send("pair received".to_owned());
            }
        });
        Ok(())
    });
    assert_eq!(recv(&mut rx).await, "pair received");
    let w = iframes(&app).await.remove(0);
    post(&app, &w, "boom").await;
    wait_for(&browser, "crashed w: boom").await;
    app.run(|s: &Scope| {
        s.global::<Vec<MessagePort>>().unwrap()[0]
            .post("still")
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(recv(&mut rx).await, "pair got still");
    browser.shutdown();
}

/// Window messages queued for the crashed document are dropped: those queued behind the
/// fatal one, and those posted between the crash and the restart (they are addressed to
/// the crashed document, the current one when they were posted). Messages posted once the
/// restart has happened reach the new document, after its load script ran.
#[actix_rt::test]
async fn window_messages_queued_for_the_crashed_document_are_dropped() {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let t = tx.clone();
    let app = browser
        .open_with(
            "https://app.example/",
            move |scope: &Scope| -> webmessaging::Result<()> {
                scope.create_iframe_with(
                    "https://widget.example/",
                    iframe_opts("w", widget(t.clone())),
                )?;
                let lt = t.clone();
                scope.on_child_lifecycle(move |s: &Scope, e: &LifecycleEvent| {
                    let w = s.iframes().remove(0);
                    let msg = match e {
                        // The supervisor hears of the crash before it restarts the child.
                        LifecycleEvent::Crashed { .. } => "during the gap",
                        LifecycleEvent::Restarted { .. } => "after the restart",
                        _ => return,
                    };
                    w.post(s, msg, "*").unwrap();
                    let _ = lt.send(format!("app posted {msg:?}"));
                });
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(recv(&mut rx).await, "loaded w#1");
    let w = iframes(&app).await.remove(0);
    post_all(&app, &w, &["boom", "queued 1", "queued 2"]).await;
    // The iframe shares the app's thread: the app's supervision runs between the crash and
    // the new document's load, and its `Restarted` listener after that load.
    assert_eq!(recv(&mut rx).await, "app posted \"during the gap\"");
    assert_eq!(recv(&mut rx).await, "loaded w#2");
    assert_eq!(recv(&mut rx).await, "app posted \"after the restart\"");
    assert_eq!(recv(&mut rx).await, "w#2 got after the restart");
    post(&app, &w, "later").await;
    assert_eq!(recv(&mut rx).await, "w#2 got later");
    assert_eq!(
        log_of(&browser, &["w"]),
        ["crashed w: boom in w#1", "restarted w 1"]
    );
    browser.shutdown();
}

/// A crash in a BroadcastChannel listener is a crash of its realm; the crashed realm's
/// channels close; the new document's channel gets what is broadcast after the restart.
#[actix_rt::test]
async fn broadcast_channels_close_with_the_crashed_realm() {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let wtx = tx.clone();
    let widget_script = script(move |scope: &Scope| {
        let _ = wtx.send(format!("loaded {}", scope.name()));
        let t = wtx.clone();
        scope.on_message(move |s: &Scope, e: &MessageEvent| {
            let _ = t.send(format!(
                "{} got {}",
                s.name(),
                e.data_as::<String>().unwrap_or_default()
            ));
        });
        let bc = scope.broadcast_channel("news");
        let wtx = wtx.clone();
        bc.on_message(move |s: &Scope, e: &MessageEvent| {
            let d = e.data_as::<String>().unwrap_or_default();
            if d == "bc boom" {
                // Queued for this document, which crashes before it runs: dropped.
                let me = s.window().unwrap();
                me.post(s, "posted to itself before crashing", "*").unwrap();
                panic!("bc boom");
            }
            let _ = wtx.send(format!("{} bc got {d}", s.name()));
        });
    });
    let (ltx, _lrx) = mpsc::unbounded_channel();
    let app = open_app(&browser, ltx, move |scope| {
        // Same origin as the app: the channels see each other.
        scope.create_iframe_with(
            "https://app.example/w",
            iframe_opts("w", widget_script.clone()),
        )?;
        scope.set_global(scope.broadcast_channel("news"));
        Ok(())
    });
    let broadcast = |msg: &'static str| {
        app.run(move |s: &Scope| s.global::<BroadcastChannel>().unwrap().post(msg).unwrap())
    };
    assert_eq!(recv(&mut rx).await, "loaded w#1");
    broadcast("one").await.unwrap();
    assert_eq!(recv(&mut rx).await, "w#1 bc got one");
    broadcast("bc boom").await.unwrap();
    wait_for(&browser, "restarted w 1").await;
    assert_eq!(
        log_of(&browser, &["w"]),
        ["crashed w: bc boom", "restarted w 1"]
    );
    assert_eq!(recv(&mut rx).await, "loaded w#2");
    broadcast("two").await.unwrap();
    assert_eq!(recv(&mut rx).await, "w#2 bc got two");
    let w = iframes(&app).await.remove(0);
    assert_eq!(
        browser
            .handle(&w)
            .run(|s: &Scope| s.open_broadcast_channel_count())
            .await
            .unwrap(),
        1
    );
    assert_quiet(&mut rx).await;
    browser.shutdown();
}

/// A panic on a worker thread: the Worker object gets `error`, the worker is reloaded
/// (the default policy) and the same Worker handle reaches it; messages queued for the
/// crashed worker are dropped. With policy Stop the worker is terminated and messages to it
/// are dropped.
#[actix_rt::test]
async fn a_panic_on_a_worker_thread() {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let (ltx, mut lrx) = mpsc::unbounded_channel();
    let loads = Arc::new(AtomicU32::new(0));
    let app = open_app(&browser, ltx, move |scope| {
        let (t, loads) = (tx.clone(), loads.clone());
        let worker =
            scope.spawn_worker_with("https://app.example/worker.js", move |ws: &Scope| {
                let n = loads.fetch_add(1, Ordering::SeqCst) + 1;
                let _ = t.send(format!("worker load {n}"));
                ws.on_message(move |ws: &Scope, e: &MessageEvent| {
                    let d = e.data_as::<String>().unwrap_or_default();
                    if d == "boom" {
                        panic!("worker boom");
                    }
                    ws.post(&format!("echo {d} (load {n})")).unwrap();
                });
            })?;
        let t1 = tx.clone();
        worker.on_message(move |_s: &Scope, e: &MessageEvent| {
            let _ = t1.send(format!(
                "app got {}",
                e.data_as::<String>().unwrap_or_default()
            ));
        });
        let t2 = tx.clone();
        worker.on_error(move |_s: &Scope, e: &MessageEvent| {
            let _ = t2.send(format!(
                "app error {}",
                e.error_message().unwrap_or_default()
            ));
        });
        scope.set_global(worker);
        Ok(())
    });
    let to_worker = |msgs: &'static [&'static str]| {
        app.run(move |s: &Scope| {
            let w = s.global::<Worker>().unwrap();
            for m in msgs {
                w.post(m).unwrap();
            }
        })
    };
    assert_eq!(recv(&mut rx).await, "worker load 1");
    to_worker(&["hi"]).await.unwrap();
    assert_eq!(recv(&mut rx).await, "app got echo hi (load 1)");

    // Crash: the queued messages are dropped; the worker comes back on its thread.
    to_worker(&["boom", "queued 1", "queued 2"]).await.unwrap();
    assert_eq!(recv(&mut rx).await, "app error worker boom");
    assert_eq!(recv(&mut rx).await, "worker load 2");
    to_worker(&["after"]).await.unwrap();
    assert_eq!(recv(&mut rx).await, "app got echo after (load 2)");
    let name = app
        .run(|s: &Scope| s.global::<Worker>().unwrap().id().0)
        .await
        .unwrap();
    let name = format!("worker{name}(https://app.example/worker.js)");
    assert_eq!(
        log_of(&browser, &[&name]),
        [
            format!("crashed {name}: worker boom"),
            format!("restarted {name} 1")
        ]
    );
    assert_eq!(recv(&mut lrx).await, format!("crashed {name}: worker boom"));
    assert_eq!(recv(&mut lrx).await, format!("restarted {name} 1"));

    // Policy Stop: the worker is terminated; messages to it are dropped.
    app.run(|s: &Scope| {
        s.global::<Worker>()
            .unwrap()
            .set_restart_policy(RestartPolicy::Stop)
    })
    .await
    .unwrap();
    to_worker(&["boom"]).await.unwrap();
    assert_eq!(recv(&mut rx).await, "app error worker boom");
    wait_for(&browser, &format!("stopped {name}")).await;
    assert_eq!(recv(&mut lrx).await, format!("crashed {name}: worker boom"));
    assert_eq!(recv(&mut lrx).await, format!("stopped {name}"));
    assert!(app
        .run(|s: &Scope| s.global::<Worker>().unwrap().is_terminated())
        .await
        .unwrap());
    to_worker(&["anyone?"]).await.unwrap();
    assert_quiet(&mut rx).await;
    // The app is fine.
    assert_eq!(
        app.run(|s: &Scope| s.name()).await.unwrap(),
        "https://app.example/#1"
    );
    browser.shutdown();
}

/// A crash takes nothing else down: a sibling iframe on the same thread, the parent, and a
/// window in another browsing-context group (another thread) keep working and keep their
/// documents.
#[actix_rt::test]
async fn crash_isolation_same_thread_and_other_thread() {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (ltx, _lrx) = mpsc::unbounded_channel();
    let t = tx.clone();
    let app = open_app(&browser, ltx, move |scope| {
        let mut o = iframe_opts("crashy", widget(t.clone()));
        o.restart_policy = Some(RestartPolicy::Stop);
        scope.create_iframe_with("https://crashy.example/", o)?;
        scope.create_iframe_with(
            "https://steady.example/",
            iframe_opts("steady", widget(t.clone())),
        )?;
        Ok(())
    });
    let other_script = widget(tx.clone());
    let other = browser
        .open_with("https://other.example/", move |s: &Scope| other_script(s))
        .unwrap();
    let mut loaded = vec![
        recv(&mut rx).await,
        recv(&mut rx).await,
        recv(&mut rx).await,
    ];
    loaded.sort();
    assert_eq!(
        loaded,
        [
            "loaded crashy#1",
            "loaded https://other.example/#1",
            "loaded steady#1"
        ]
    );
    let frames = iframes(&app).await;
    let (crashy, steady) = (frames[0].clone(), frames[1].clone());
    // The fatal message and, in the same task, one for the sibling.
    let (c, s2) = (crashy.clone(), steady.clone());
    app.run(move |s: &Scope| {
        c.post(s, "boom", "*").unwrap();
        s2.post(s, "same thread", "*").unwrap();
    })
    .await
    .unwrap();
    assert_eq!(recv(&mut rx).await, "steady#1 got same thread");
    wait_for(&browser, "stopped crashy").await;
    post(&app, &steady, "after").await;
    assert_eq!(recv(&mut rx).await, "steady#1 got after");
    other
        .run(|s: &Scope| s.window().unwrap().post(s, "other thread", "*").unwrap())
        .await
        .unwrap();
    assert_eq!(
        recv(&mut rx).await,
        "https://other.example/#1 got other thread"
    );
    assert_eq!(
        app.run(|s: &Scope| s.name()).await.unwrap(),
        "https://app.example/#1"
    );
    assert_eq!(steady.document_serial(), 1);
    assert_eq!(other.proxy().document_serial(), 1);
    assert_eq!(
        log_of_all(&browser),
        ["crashed crashy: boom in crashy#1", "stopped crashy"]
    );
    browser.shutdown();
}

/// A BroadcastChannel listener navigates its document, then panics: the crash is recorded,
/// but it is the old document's; the document it navigated to is not torn down or
/// restarted.
#[actix_rt::test]
async fn a_broadcast_crash_after_navigating_does_not_hit_the_new_document() {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let t = tx.clone();
    browser
        .route("https://app.example/next", move |s: &Scope| {
            let _ = t.send(format!("loaded {}", s.name()));
        })
        .unwrap();
    let wtx = tx.clone();
    let widget_script = script(move |scope: &Scope| {
        let _ = wtx.send(format!("loaded {}", scope.name()));
        let bc = scope.broadcast_channel("news");
        bc.on_message(|s: &Scope, _e: &MessageEvent| -> () {
            s.window()
                .unwrap()
                .navigate("https://app.example/next")
                .unwrap();
            panic!("navigated, then panicked");
        });
    });
    let (ltx, _lrx) = mpsc::unbounded_channel();
    let app = open_app(&browser, ltx, move |scope| {
        scope.create_iframe_with(
            "https://app.example/w",
            iframe_opts("w", widget_script.clone()),
        )?;
        scope.set_global(scope.broadcast_channel("news"));
        Ok(())
    });
    assert_eq!(recv(&mut rx).await, "loaded w#1");
    app.run(|s: &Scope| s.global::<BroadcastChannel>().unwrap().post("go").unwrap())
        .await
        .unwrap();
    assert_eq!(recv(&mut rx).await, "loaded w#2");
    wait_for(&browser, "crashed w: navigated, then panicked").await;
    let w = iframes(&app).await.remove(0);
    // The navigated-to document is still there, alive.
    assert_eq!(
        browser.handle(&w).run(|s: &Scope| s.name()).await.unwrap(),
        "w#2"
    );
    assert_eq!(w.document_serial(), 2);
    assert_eq!(
        log_of(&browser, &["w"]),
        ["crashed w: navigated, then panicked"]
    );
    assert_quiet(&mut rx).await;
    browser.shutdown();
}

/// Across a worker's restart: messages posted to it before its supervisor restarted it (in
/// the `Crashed` listener, say) are dropped; messages posted once it has restarted (in the
/// `Restarted` listener) reach the new worker realm, after its script ran.
#[actix_rt::test]
async fn worker_messages_across_a_restart() {
    let browser = Browser::new();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let loads = Arc::new(AtomicU32::new(0));
    let app = browser
        .open_with(
            "https://app.example/",
            move |scope: &Scope| -> webmessaging::Result<()> {
                let (t, loads) = (tx.clone(), loads.clone());
                let worker =
                    scope.spawn_worker_with("https://app.example/w.js", move |ws: &Scope| {
                        let n = loads.fetch_add(1, Ordering::SeqCst) + 1;
                        let t = t.clone();
                        ws.on_message(move |_ws: &Scope, e: &MessageEvent| {
                            let d = e.data_as::<String>().unwrap_or_default();
                            if d == "boom" {
                                panic!("worker boom");
                            }
                            let _ = t.send(format!("worker (load {n}) got {d}"));
                        });
                    })?;
                scope.set_global(worker);
                let t = tx.clone();
                scope.on_child_lifecycle(move |s: &Scope, e: &LifecycleEvent| {
                    let msg = match e {
                        LifecycleEvent::Crashed { .. } => "during the gap",
                        LifecycleEvent::Restarted { .. } => "after the restart",
                        _ => return,
                    };
                    // Report first: the worker answers from another thread.
                    let _ = t.send(format!("app posted {msg:?}"));
                    s.global::<Worker>().unwrap().post(msg).unwrap();
                });
                Ok(())
            },
        )
        .unwrap();
    app.run(|s: &Scope| {
        let w = s.global::<Worker>().unwrap();
        w.post("hi").unwrap();
        w.post("boom").unwrap();
        w.post("queued").unwrap();
    })
    .await
    .unwrap();
    assert_eq!(recv(&mut rx).await, "worker (load 1) got hi");
    assert_eq!(recv(&mut rx).await, "app posted \"during the gap\"");
    assert_eq!(recv(&mut rx).await, "app posted \"after the restart\"");
    assert_eq!(recv(&mut rx).await, "worker (load 2) got after the restart");
    assert_quiet(&mut rx).await;
    browser.shutdown();
}
