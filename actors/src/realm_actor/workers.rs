//! The tasks of workers and of worker objects: messages to a worker's global, from a
//! worker to its `Worker` object, `error` at `Worker` and `SharedWorker` objects, and a
//! shared worker's `connect`.

use super::*;
use crate::shared_worker::SharedWorker;

impl RealmActor {
    pub(super) fn handle_to_worker_global(&mut self, cx: &mut Cx, data: SerializedWithTransfer) {
        let Some(realm) = self.realm() else { return };
        if let RealmKind::Worker(s) = &self.kind {
            if s.is_stopped() {
                drop_msg(&realm.name, "worker is closing or terminated");
                return;
            }
        }
        let crashed = deliver(
            &realm,
            &realm.listeners,
            EventTarget::WorkerGlobal,
            data,
            event::empty_str(),
            None,
        );
        self.crashed(cx, crashed);
    }

    pub(super) fn handle_from_worker(
        &mut self,
        cx: &mut Cx,
        worker: u64,
        document: u64,
        data: SerializedWithTransfer,
    ) {
        let Some(realm) = self.realm() else { return };
        if realm.document != document {
            drop_msg(&realm.name, "worker message for a previous document");
            return;
        }
        let Some(obj) = realm.worker(worker) else {
            drop_msg(&realm.name, "worker object is gone");
            return;
        };
        if obj.shared.is_terminated() {
            drop_msg(&realm.name, "worker was terminated");
            return;
        }
        let target = EventTarget::Worker(obj.id);
        let crashed = deliver(
            &realm,
            &obj.listeners,
            target,
            data,
            event::empty_str(),
            None,
        );
        self.crashed(cx, crashed);
    }

    pub(super) fn handle_worker_error(
        &mut self,
        cx: &mut Cx,
        worker: u64,
        document: u64,
        message: String,
    ) {
        let Some(realm) = self.realm() else { return };
        if realm.document != document {
            return;
        }
        if let Some(obj) = realm.worker(worker) {
            let mut ev = MessageEvent::simple(EventType::Error, EventTarget::Worker(obj.id));
            ev.error_message = Some(message);
            let crashed = fire(&realm, &obj.listeners, &ev);
            self.crashed(cx, crashed);
        } else if let Some(obj) = realm.shared_worker(worker) {
            let target = EventTarget::SharedWorker(SharedWorker(obj.clone()));
            let mut ev = MessageEvent::simple(EventType::Error, target);
            ev.error_message = Some(message);
            let crashed = fire(&realm, &obj.listeners, &ev);
            self.crashed(cx, crashed);
        }
    }

    /// A `SharedWorker` was constructed: `connect` at this shared worker's global, with
    /// `data ""`, `origin ""`, the new port as `ports[0]` and as `source`.
    pub(super) fn handle_connect(&mut self, cx: &mut Cx, data: SerializedWithTransfer) {
        let Some(realm) = self.realm() else {
            // Closing or gone: the port (in `data`) is dropped and its twin gets `close`.
            drop_msg(&self.name, "shared worker is closing or terminated");
            return;
        };
        let crashed = dispatch::deliver_connect(&realm, data);
        self.crashed(cx, crashed);
    }
}
