//! Window messages across browsing-context groups: the bench window (its own group, on
//! its own thread) posts to a top-level window of another group it holds a
//! [`WindowProxy`] to.
//!
//! The standard gives a script no way to reach a window of another browsing-context
//! group (that is what a group is: `noopener` windows, separate tabs); the runtime lets
//! Rust code hand one over ([`WindowHandle::proxy`](webmessaging::WindowHandle::proxy)),
//! and `postMessage` to it then crosses event loops, so threads. This is the runtime's
//! nearest counterpart of Chromium's cross-site iframe, which site isolation puts in
//! another renderer process; neither peer measures a post across groups.

#![allow(dead_code)]

use std::cell::Cell;
use std::time::{Duration, Instant};

use webmessaging::prelude::*;

use crate::workloads::{Bench, Ctl, Msg};

/// `n` messages `{seq, text}` posted in one task from the bench window to a top-level
/// window of `origin` in another browsing-context group (opened with
/// [`Browser::open_with`], so on another thread), the target origin named exactly; the
/// receiver deserializes each (`on_message_as::<Msg>`) and answers the last through
/// `event.source`. Timed from the receiver's "ready".
pub async fn window_to_other_group(b: &Bench, n: u64, origin: &'static str) -> Duration {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = std::sync::Mutex::new(Some(tx));
    b.window
        .run(move |scope: &Scope| {
            let me = scope.window().expect("the bench realm is a window");
            let peer = scope
                .browser()
                .open_with(&format!("{origin}/peer.html"), move |s: &Scope| {
                    let count = Cell::new(0u64);
                    s.on_message_as::<Msg, _, _>(move |s: &Scope, e, _m| {
                        count.set(count.get() + 1);
                        if count.get() == n {
                            let back = e.source_window().expect("posted by a window");
                            back.post(s, &Ctl::Done { count: n, sum: 0 }, "*").unwrap();
                        }
                    });
                    me.post(s, &Ctl::Ready, "*").unwrap();
                })
                .expect("open a window in another group");
            let target = peer.proxy().clone();
            let t0 = Cell::new(Instant::now());
            scope.on_message_as::<Ctl, _, _>(move |scope: &Scope, _, c| match c {
                Ctl::Ready => {
                    t0.set(Instant::now());
                    for i in 0..n {
                        target.post(scope, &Msg::new(i), origin).unwrap();
                    }
                }
                Ctl::Done { .. } => {
                    let secs = t0.get().elapsed();
                    peer.close();
                    if let Some(tx) = tx.lock().unwrap().take() {
                        let _ = tx.send(secs);
                    }
                }
                Ctl::Ack(_) => {}
            });
        })
        .await
        .expect("run in window");
    rx.await.expect("workload finished")
}
