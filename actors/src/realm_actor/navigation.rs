//! Documents of a browsing context: the first load, a supervised reload, and
//! [navigation](https://html.spec.whatwg.org/multipage/browsing-the-web.html#navigate)
//! as its task runs: `pagehide` and `unload` at the old document, the old realm torn down,
//! the new document created (its load script run exactly once), `load` at it and at the
//! iframe element in the parent's document.

use super::*;

impl RealmActor {
    /// The first document: created once; tasks that came before it run after it.
    pub(super) fn first_load(&mut self, cx: &mut Cx) {
        if self.loaded {
            return;
        }
        self.loaded = true;
        if self.keeps_loop {
            cx.event_loop().retain();
        }
        self.load(cx);
        self.fire_load(cx);
        for m in std::mem::take(&mut self.before_load) {
            cx.notify(m);
        }
    }

    /// Loads the document again (supervised restart).
    pub(crate) fn reload(&mut self, cx: &mut Cx) {
        self.load(cx);
        self.fire_load(cx);
    }

    /// Builds the realm for the current document (or the worker) and runs its script.
    pub(super) fn load(&mut self, cx: &mut Cx) {
        let (origin, url, document, script, observers) = match &self.kind {
            RealmKind::Window(w) => {
                if w.closed() {
                    return;
                }
                let d = w.0.document();
                (
                    d.origin.clone(),
                    d.url.clone(),
                    d.document,
                    d.script.clone(),
                    w.0.browser.observers_for(w.id()),
                )
            }
            RealmKind::Worker(s) => {
                if s.is_stopped() {
                    return;
                }
                (
                    s.origin.clone(),
                    s.url.clone(),
                    0,
                    s.script.clone(),
                    s.browser.fresh_observers(),
                )
            }
        };
        if let Some(old) = self.current.take() {
            if let Some(p) = old.tear_down("replaced by a new document") {
                // A panic while the old document went away: a crash of that realm, which
                // its supervisor hears of; the new document still loads.
                supervision::record_crash_of_replaced(self, p);
            }
        }
        let realm = RealmInner::new(RealmInit {
            addr: cx.address(),
            event_loop: cx.event_loop().clone(),
            browser: self.browser(),
            kind: self.kind.clone(),
            origin,
            url,
            document,
            name: Rc::from(format!("{}#{}", self.name, document)),
            observers,
        });
        self.current = Some(realm.clone());
        if let Some(script) = script {
            let scope = Scope(realm.clone());
            let r = catch_unwind(AssertUnwindSafe(|| script(&scope)));
            self.after_script(cx, &realm, r, "load script");
        }
    }

    /// Fires `load` at the new document and, for an iframe, at its element in the
    /// parent's document (a task there).
    pub(super) fn fire_load(&mut self, cx: &mut Cx) {
        let Some(realm) = self.realm() else { return };
        if let RealmKind::Window(w) = self.kind.clone() {
            let ev = MessageEvent::simple(EventType::Load, EventTarget::Window);
            let crashed = fire(&realm, &realm.listeners, &ev);
            if self.crashed(cx, crashed) {
                return;
            }
            if let Some(parent) = &w.0.parent {
                if let Some(a) = parent.0.addr() {
                    a.do_send(RealmMessage::ChildLoaded(w.clone()));
                }
            }
        }
    }

    pub(super) fn child_loaded(&mut self, cx: &mut Cx, child: WindowProxy) {
        let Some(realm) = self.realm() else { return };
        if !realm.has_child(&child) {
            return;
        }
        let ev = MessageEvent::simple(EventType::Load, EventTarget::Iframe(child));
        let crashed = fire(&realm, &realm.iframe_listeners, &ev);
        self.crashed(cx, crashed);
    }

    /// The navigation task: unless superseded, the old document hides and unloads, and
    /// the new one is created and loaded.
    pub(super) fn navigate(&mut self, cx: &mut Cx, navigation: u64) {
        let RealmKind::Window(w) = self.kind.clone() else {
            return;
        };
        if w.closed() {
            return;
        }
        let Some(PendingNavigation {
            url,
            origin,
            script,
            ..
        }) = w.0.take_pending_navigation(navigation)
        else {
            // A later navigation replaced this one before it ran.
            return;
        };
        // Unload the old document: `pagehide`, then `unload`.
        if let Some(old) = self.realm() {
            for t in [EventType::PageHide, EventType::Unload] {
                let ev = MessageEvent::simple(t, EventTarget::Window);
                if let Some(p) = fire(&old, &old.listeners, &ev) {
                    log::error!(target: "webmessaging::realm", "{}: {t} listener panicked: {p}", old.name);
                    supervision::record_crash_of_replaced(self, p);
                    break;
                }
            }
        }
        {
            // The new document exists from here: the proxy shows it, and messages still
            // queued for the old one are dropped.
            w.0.replace_document(url, origin, script);
        }
        trace::record(
            trace::TraceKind::Lifecycle,
            &self.name,
            "",
            &format!("navigated to {}", w.current_url()),
        );
        self.load(cx);
        self.fire_load(cx);
    }
}
