//! What every global offers besides messaging: timers and `queueMicrotask`, the
//! `WindowOrWorkerGlobalScope` mixin.
//!
//! Spec: <https://html.spec.whatwg.org/multipage/timers-and-user-prompts.html#timers> and
//! <https://html.spec.whatwg.org/multipage/timers-and-user-prompts.html#microtask-queuing>.
//!
//! A timer's task is queued on the *timer task source* of the realm's event loop when it
//! is due (the loop owns the clock and the map of active timers, see
//! [`crate::kernel::Timers`]); a microtask runs at the checkpoint after the current task.
//! Both belong to the document that set them: when it goes away (navigation, close,
//! crash), its timers are cleared and its pending microtasks do not run.
//!
//! ```
//! use std::time::Duration;
//! use webmessaging::prelude::*;
//!
//! # #[actix_rt::main]
//! # async fn main() -> webmessaging::Result<()> {
//! let browser = Browser::new();
//! let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
//! let _page = browser.open_with("https://app.example/", move |scope: &Scope| {
//!     let (t1, t2, t3) = (tx.clone(), tx.clone(), tx.clone());
//!     scope.set_timeout(Duration::from_millis(5), move |_: &Scope| {
//!         let _ = t1.send("timeout");
//!     });
//!     scope.queue_microtask(move |_: &Scope| {
//!         let _ = t2.send("microtask");
//!     });
//!     let _ = t3.send("script");
//! })?;
//! // The script's task ends, then the microtask checkpoint, then the timer's task.
//! assert_eq!(rx.recv().await, Some("script"));
//! assert_eq!(rx.recv().await, Some("microtask"));
//! assert_eq!(rx.recv().await, Some("timeout"));
//! browser.shutdown();
//! # Ok(())
//! # }
//! ```

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use crate::kernel::TimerId;
use crate::realm_actor::Microtask;
use crate::scope::Scope;

impl Scope {
    /// `setTimeout(callback, timeout)`: runs `callback` once, as a task on the timer task
    /// source, `timeout` from now or later. Returns the timer's id for
    /// [`clear_timeout`](Self::clear_timeout). A timer set from a timer callback is
    /// nested one level deeper than that callback's; past level 5, a timeout under 4 ms
    /// becomes 4 ms (timer initialisation step 5), so a chain of 0 ms timeouts cannot
    /// spin the event loop. Intervals go one level deeper with every repetition.
    pub fn set_timeout<F>(&self, timeout: Duration, callback: F) -> TimerId
    where
        F: FnOnce(&Scope) + 'static,
    {
        let once = Cell::new(Some(callback));
        self.0.set_timer(
            timeout,
            false,
            Rc::new(move |s: &Scope| {
                if let Some(f) = once.take() {
                    f(s)
                }
            }),
        )
    }

    /// `setInterval(callback, timeout)`: runs `callback` every `timeout` (at least 1 ms
    /// apart) until cleared or until the document goes away.
    pub fn set_interval<F>(&self, timeout: Duration, callback: F) -> TimerId
    where
        F: Fn(&Scope) + 'static,
    {
        self.0.set_timer(timeout, true, Rc::new(callback))
    }

    /// `clearTimeout(id)`: the timer's callback will not run (if it has not yet). An id
    /// that is not one of this document's timers is ignored.
    pub fn clear_timeout(&self, id: TimerId) {
        self.0.clear_timer(id)
    }

    /// `clearInterval(id)`: the same as [`clear_timeout`](Self::clear_timeout), as in
    /// the standard (both clear from one map of active timers).
    pub fn clear_interval(&self, id: TimerId) {
        self.0.clear_timer(id)
    }

    /// `queueMicrotask(callback)`: runs `callback` at the microtask checkpoint that
    /// follows the current task (after it, before any other task), in the order queued;
    /// microtasks queued by a microtask run in the same checkpoint.
    pub fn queue_microtask<F>(&self, callback: F)
    where
        F: FnOnce(&Scope) + 'static,
    {
        self.0.event_loop.queue_microtask(
            self.0.host_id(),
            Microtask {
                document: self.0.document,
                callback: Box::new(callback),
            },
        );
    }
}
