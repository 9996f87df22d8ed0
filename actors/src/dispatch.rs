//! Event dispatch: firing `message`, `messageerror`, `close`, `error` and lifecycle events
//! at a realm's listeners, with the deserialization and transfer-receiving steps first.
//!
//! Spec: <https://html.spec.whatwg.org/multipage/web-messaging.html#posting-messages>
//! (steps 7.4-7.6 of the window post message steps) and
//! <https://dom.spec.whatwg.org/#concept-event-dispatch>. A listener's panic is returned
//! as [`Crashed`]: the caller crashes the realm (see [`crate::supervision`]); a returned
//! error is reported (an `error` event and a log line) and dispatch goes on.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use webmessaging_core::clone::{self, SerializedWithTransfer, Transferred};

use crate::event::{
    self, EventTarget, EventType, Listeners, MessageEvent, MessageEventSource, Outcome,
};
use crate::kernel::trace;
use crate::observer::ObservedEvent;
use crate::port::MessagePort;
use crate::realm::{RealmInner, RealmKind, RealmPortReceiver};
use crate::scope::Scope;

/// A listener panicked: the realm crashed with this message.
pub(crate) type Crashed = Option<String>;

/// Deserializes (transfer-receiving steps first) and fires `message` at `listeners`, or
/// `messageerror` if that fails. Returns the panic message if a listener panicked.
pub(crate) fn deliver(
    realm: &Rc<RealmInner>,
    listeners: &Listeners,
    target: EventTarget,
    data: SerializedWithTransfer,
    origin: event::EventStr,
    source: Option<MessageEventSource>,
) -> Crashed {
    let SerializedWithTransfer { record, transfer } = data;
    deliver_record(
        realm,
        listeners,
        target,
        event::EventRecord::Owned(record),
        Some(transfer),
        origin,
        source,
    )
}

/// [`deliver`] for a record that may be shared (a broadcast's destinations share one
/// record instead of copying it per destination).
pub(crate) fn deliver_record(
    realm: &Rc<RealmInner>,
    listeners: &Listeners,
    target: EventTarget,
    record: event::EventRecord,
    transfer: Option<clone::TransferData>,
    origin: event::EventStr,
    source: Option<MessageEventSource>,
) -> Crashed {
    let transferred = match transfer {
        Some(transfer) if !transfer.is_empty() => {
            match clone::receive_transfer(transfer, &mut RealmPortReceiver { realm }) {
                Ok(t) => t,
                Err(e) => {
                    log::debug!(target: "webmessaging::realm", "{}: transfer could not be received: {e}", realm.name);
                    let ev = error_event(EventType::MessageError, target, origin, source);
                    return fire(realm, listeners, &ev);
                }
            }
        }
        _ => Transferred::default(),
    };
    let ports = if transferred.ports.is_empty() {
        event::no_ports()
    } else {
        transferred
            .ports
            .iter()
            .filter_map(MessagePort::from_object)
            .collect::<Vec<_>>()
            .into()
    };
    let ev = MessageEvent {
        event_type: EventType::Message,
        data: event::serialized_data(record, transferred),
        origin,
        last_event_id: event::empty_str(),
        source,
        ports,
        target: Some(target),
        trusted: true,
        error_message: None,
    };
    fire(realm, listeners, &ev)
}

/// Fires a shared worker's `connect` event at its global: the transfer-receiving steps
/// of the inside port first, then the event with `data ""`, `origin ""`, the port as
/// `ports[0]` and as `source` (the "run a worker" algorithm, and the `SharedWorker`
/// constructor's step 8.4.7).
pub(crate) fn deliver_connect(realm: &Rc<RealmInner>, data: SerializedWithTransfer) -> Crashed {
    let transferred = match clone::receive_transfer(data.transfer, &mut RealmPortReceiver { realm })
    {
        Ok(t) => t,
        Err(e) => {
            log::error!(target: "webmessaging::worker", "{}: connect port could not be received: {e}", realm.name);
            return None;
        }
    };
    let ports: Vec<MessagePort> = transferred
        .ports
        .iter()
        .filter_map(MessagePort::from_object)
        .collect();
    let source = ports.first().cloned().map(MessageEventSource::Port);
    let ev = MessageEvent {
        event_type: EventType::Connect,
        data: event::EventData::Value(webmessaging_core::value::Value::from("")),
        origin: event::empty_str(),
        last_event_id: event::empty_str(),
        source,
        ports: ports.into(),
        target: Some(EventTarget::WorkerGlobal),
        trusted: true,
        error_message: None,
    };
    fire(realm, &realm.listeners, &ev)
}

/// Dispatches `ev` to `listeners`, catching panics (a crash, returned) and reporting
/// returned errors. For `message` events, data is deserialized before the first listener
/// that reads it as a `Value`; failure turns the event into `messageerror`.
pub(crate) fn fire(realm: &Rc<RealmInner>, listeners: &Listeners, ev: &MessageEvent) -> Crashed {
    fire_in(&Scope(realm.clone()), listeners, ev)
}

/// A broadcast's `message` event, built once per delivery batch (see
/// `broadcast::run_deliveries`): every destination shares the record and origin; each
/// delivery sets its own target and starts with an empty value cell, so each destination
/// still deserializes its own copy.
pub(crate) fn broadcast_event(record: event::EventRecord, origin: event::EventStr) -> MessageEvent {
    MessageEvent {
        event_type: EventType::Message,
        data: event::serialized_data(record, Transferred::default()),
        origin,
        last_event_id: event::empty_str(),
        source: None,
        ports: event::no_ports(),
        target: None,
        trusted: true,
        error_message: None,
    }
}

/// [`fire`] with the realm's [`Scope`] borrowed from the caller (a broadcast batch makes
/// one per realm instead of one per delivery).
#[inline]
pub(crate) fn fire_in(scope: &Scope, listeners: &Listeners, ev: &MessageEvent) -> Crashed {
    let realm = &scope.0;
    // Document lifecycle events (`load`, `pagehide`, `unload`) are not logged to
    // observers: the log shows what the realm's messaging does.
    if realm.observers.is_active() && ev.event_type.is_messaging() {
        realm
            .observers
            .send(ObservedEvent::from_event(&realm.name, ev));
    }
    if trace::is_enabled() {
        let target = target_name(realm, ev.target());
        trace::delivered(&realm.name, &target, ev.event_type().as_str(), ev.origin());
    }
    // Fast path: the target's only listener, when it needs no `Value` first (a typed
    // `onmessage`, which reads the record itself): no snapshot to build and drop. Its
    // callback is cloned out of the list, as a snapshot would, so it may replace or
    // remove itself while it runs.
    if let Some(callback) = listeners.sole(ev.event_type, ev.event_type == EventType::Message) {
        if !realm.is_alive() {
            return None;
        }
        let r = catch_unwind(AssertUnwindSafe(|| callback(scope, ev)));
        // The listener ran and returned `Ok` (checked inline, the rest out of line). That
        // variant owns nothing: `forget` skips the call to the result's drop glue.
        if matches!(r, Ok(Outcome::Ran(Ok(())))) {
            std::mem::forget(r);
            return None;
        }
        return after_listener(realm, listeners, ev, r, &mut false).unwrap_or(None);
    }
    fire_snapshot(scope, listeners, ev)
}

/// [`fire_in`] for any other set of listeners: on a snapshot of them, deserializing the
/// data first if one of them reads it as a `Value`. Out of line, so that the fast path
/// stays small.
#[inline(never)]
fn fire_snapshot(scope: &Scope, listeners: &Listeners, ev: &MessageEvent) -> Crashed {
    let realm = &scope.0;
    let snapshot = listeners.snapshot(ev.event_type);
    // Iterated by reference: cheaper than the snapshot's by-value chained iterator.
    let snapshot = snapshot.as_slice();
    if snapshot.is_empty() {
        return None;
    }
    if ev.event_type == EventType::Message && snapshot.iter().any(|l| l.reads_value) {
        if let event::EventData::Serialized {
            record,
            transferred,
            value,
        } = &ev.data
        {
            if value.get().is_none() {
                match clone::deserialize_record(record, transferred) {
                    Ok(v) => {
                        let _ = value.set(v);
                    }
                    Err(e) => {
                        log::debug!(target: "webmessaging::realm", "{}: message could not be deserialized: {e}", realm.name);
                        let err = error_event(
                            EventType::MessageError,
                            ev.target.clone().unwrap_or(EventTarget::Window),
                            ev.origin.clone(),
                            ev.source.clone(),
                        );
                        return fire(realm, listeners, &err);
                    }
                }
            }
        }
    }
    let mut message_error_fired = false;
    for l in snapshot {
        if !realm.is_alive() {
            return None;
        }
        match catch_unwind(AssertUnwindSafe(|| (l.callback)(scope, ev))) {
            Ok(Outcome::Ran(Ok(()))) => {}
            r => {
                if let Some(crashed) =
                    after_listener(realm, listeners, ev, r, &mut message_error_fired)
                {
                    return crashed;
                }
            }
        }
    }
    None
}

/// What one listener's invocation (`r`) means for its dispatch ([`fire_in`]): reports a
/// returned error, fires `messageerror` (once per event) for a typed listener that could
/// not deserialize. `Some(result)` ends the dispatch with that result (a panic: the realm
/// crashed, no other listener runs; or a crash in the `messageerror` listeners), `None`
/// goes on with the next listener.
#[inline(never)]
fn after_listener(
    realm: &Rc<RealmInner>,
    listeners: &Listeners,
    ev: &MessageEvent,
    r: std::thread::Result<Outcome>,
    message_error_fired: &mut bool,
) -> Option<Crashed> {
    match r {
        Ok(Outcome::Ran(Ok(()))) => None,
        Ok(Outcome::Ran(Err(e))) => {
            if ev.event_type == EventType::Error {
                log::error!(target: "webmessaging::realm", "{}: error listener failed: {e}", realm.name);
            } else {
                report_error(realm, &e.to_string());
            }
            None
        }
        Ok(Outcome::Undeserializable(e)) => {
            if !*message_error_fired {
                *message_error_fired = true;
                log::debug!(target: "webmessaging::realm", "{}: typed listener could not deserialize: {e}", realm.name);
                let err = error_event(
                    EventType::MessageError,
                    ev.target.clone().unwrap_or(EventTarget::Window),
                    ev.origin.clone(),
                    ev.source.clone(),
                );
                if let Some(p) = fire(realm, listeners, &err) {
                    return Some(Some(p));
                }
            }
            None
        }
        Err(panic) => {
            let message = panic_message(&panic);
            log::error!(target: "webmessaging::realm", "{}: {} listener panicked: {message}", realm.name, ev.event_type);
            // No other listener of a crashed realm runs; the caller tears it down.
            Some(Some(message))
        }
    }
}

pub(crate) fn drop_msg(at: &str, reason: &str) {
    log::debug!(target: "webmessaging::realm", "{at}: message dropped: {reason}");
    trace::dropped(at, reason);
}

fn error_event(
    event_type: EventType,
    target: EventTarget,
    origin: event::EventStr,
    source: Option<MessageEventSource>,
) -> MessageEvent {
    let mut ev = MessageEvent::simple(event_type, target);
    ev.origin = origin;
    ev.source = source;
    ev
}

fn target_name(realm: &RealmInner, target: Option<&EventTarget>) -> String {
    match target {
        Some(EventTarget::Port(p)) => p.name().to_owned(),
        Some(EventTarget::Worker(id)) => format!("{}/worker{}", realm.name, id.0),
        Some(EventTarget::BroadcastChannel(c)) => format!("{}/bc:{}", realm.name, c.name()),
        _ => realm.name.to_string(),
    }
}

/// Reports an error a listener or script returned: a log line and an `error` event at the
/// realm's global.
pub(crate) fn report_error(realm: &Rc<RealmInner>, message: &str) {
    log::error!(target: "webmessaging::realm", "{}: uncaught error: {message}", realm.name);
    if trace::is_enabled() {
        trace::record(trace::TraceKind::Error, &realm.name, "", message);
    }
    let target = match realm.kind {
        RealmKind::Window(_) => EventTarget::Window,
        RealmKind::Worker(_) => EventTarget::WorkerGlobal,
    };
    let mut ev = MessageEvent::simple(EventType::Error, target);
    ev.error_message = Some(message.to_owned());
    if realm.observers.is_active() {
        realm
            .observers
            .send(ObservedEvent::from_event(&realm.name, &ev));
    }
    let scope = Scope(realm.clone());
    for l in realm.listeners.snapshot(EventType::Error) {
        // A panic in an error listener is contained here; the realm goes on.
        match catch_unwind(AssertUnwindSafe(|| (l.callback)(&scope, &ev))) {
            Ok(Outcome::Ran(Ok(()))) | Ok(Outcome::Undeserializable(_)) => {}
            Ok(Outcome::Ran(Err(e))) => {
                log::error!(target: "webmessaging::realm", "{}: error listener failed: {e}", realm.name)
            }
            Err(p) => {
                log::error!(target: "webmessaging::realm", "{}: error listener panicked: {}", realm.name, panic_message(&p))
            }
        }
    }
    if let RealmKind::Worker(s) = &realm.kind {
        s.report_error_to_parent(message);
    }
}

pub(crate) fn panic_message(p: &Box<dyn Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}
