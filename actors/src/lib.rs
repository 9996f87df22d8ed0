//! # webmessaging
//!
//! The HTML Standard's [web messaging](https://html.spec.whatwg.org/multipage/web-messaging.html)
//! — `Window.postMessage`, `MessageChannel` and `MessagePort`, `BroadcastChannel`,
//! structured clone with transfer — as a Rust runtime on [Actix](https://docs.rs/actix),
//! where every window, iframe and worker is an actor. Build a simulated multi-window web
//! app (micro-frontends, embedded widgets, payment iframes, worker offload), run its
//! cross-origin protocol with the standard's semantics, test it and trace it, without a
//! browser.
//!
//! ```
//! use std::time::Duration;
//! use webmessaging::prelude::*;
//!
//! #[actix_rt::main]
//! async fn main() -> webmessaging::Result<()> {
//!     let browser = Browser::new();
//!     // The widget's document answers "ping" with "pong", to its parent only.
//!     browser.route("https://widget.example/", |scope: &Scope| {
//!         scope.on_message(|scope: &Scope, event: &MessageEvent| -> webmessaging::Result<()> {
//!             if event.origin() == "https://app.example" {
//!                 let parent = scope.parent().expect("an iframe has a parent");
//!                 parent.post(scope, "pong", "https://app.example")?;
//!             }
//!             Ok(())
//!         });
//!     })?;
//!     // The app embeds the widget and pings it; `main` hears about the answer.
//!     let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
//!     let _app = browser.open_with("https://app.example/", move |scope: &Scope| -> webmessaging::Result<()> {
//!         let tx = tx.clone();
//!         scope.on_message(move |_scope: &Scope, event: &MessageEvent| {
//!             if event.origin() == "https://widget.example" {
//!                 let _ = tx.send(event.data_as::<String>().unwrap_or_default());
//!             }
//!         });
//!         let widget = scope.create_iframe("https://widget.example/")?;
//!         widget.post(scope, "ping", "https://widget.example")?;
//!         Ok(())
//!     })?;
//!     let answer = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
//!     assert_eq!(answer.ok().flatten().as_deref(), Some("pong"));
//!     browser.shutdown();
//!     Ok(())
//! }
//! ```
//!
//! # How the standard maps onto actors
//!
//! | standard | here |
//! | --- | --- |
//! | agent / event loop | one event-loop actor ([`event_loop`]) on an actix [`Arbiter`](actix::Arbiter): one thread per browsing-context group (a top-level window and its iframes), one per dedicated worker or shared worker |
//! | realm + global (`Window` with its `Document`, `DedicatedWorkerGlobalScope`) | a realm shell ([`realm_actor::RealmActor`]) hosted by its agent's event loop; each task it runs is one task of the standard's event loop; script sees the global as a [`Scope`] |
//! | `WindowProxy` | [`WindowProxy`]: a `Send` handle naming a browsing context; after navigation or restart it reaches the new document |
//! | `window.postMessage(message, targetOrigin, transfer)` | [`WindowProxy::post_message`], [`WindowProxy::post`] for any `T: Serialize` |
//! | `MessageChannel`, `MessagePort`, port message queue | [`MessageChannel`], [`MessagePort`]; a never-shipped channel's queues live in its entanglement, in the unshipped port message queue; once shipped, each end is a port actor, re-homed on transfer by the protocol of [`webmessaging_core::rehoming`] ([`port`] explains why) |
//! | `BroadcastChannel` | [`BroadcastChannel`], fanned out by the broadcast registry (shared state under one lock, called by the posting thread) |
//! | `Worker`, dedicated worker global | [`Worker`], and a [`Scope`] whose [`kind`](Scope::kind) is [`GlobalKind::DedicatedWorker`] |
//! | `SharedWorker`, shared worker global, `connect` | [`SharedWorker`] ([`shared_worker`] explains matching and owner sets), and a [`Scope`] whose kind is [`GlobalKind::SharedWorker`], with [`Scope::on_connect`] |
//! | `MessageEvent` | [`MessageEvent`]; `data` as a [`Value`](webmessaging_core::value::Value) or any `T: Deserialize` ([`MessageEvent::data_as`]) |
//! | task sources and their task queues (posted messages, the unshipped port message queue, each shipped port's queue, DOM manipulation, timers, navigation) | [`TaskSource`], one FIFO queue each per event loop ([`kernel::TaskQueues`]); a [`kernel::Scheduler`] picks the next task among the sources that have one, fairly ([`kernel::OldestFirst`]) |
//! | microtask queue, microtask checkpoint | [`Scope::queue_microtask`]; the checkpoint runs after every task |
//! | timers (`setTimeout`, `setInterval`) | [`Scope::set_timeout`], [`Scope::set_interval`] on the timer task source; the loop owns the clock ([`kernel::Clock`]) |
//! | navigation, `pagehide`, `unload`, `load` | [`WindowProxy::navigate`] queues a navigation task; the old document stays active until it runs |
//! | `DOMException` names (`DataCloneError`, `SyntaxError`, `InvalidStateError`) | [`Error`] variants, named by [`ExceptionName`], returned synchronously |
//!
//! Script is Rust closures running inside realm actors: a load script per document (routed
//! by URL with [`Browser::route`], or given to [`Browser::open_with`]) and event listeners.
//! They get a [`Scope`], the global object's API. Code outside the runtime (`main`, a
//! test) drives it with async [`WindowHandle`]s: [`WindowHandle::run`] runs a closure as a
//! task of a realm and returns its result, [`WindowHandle::settle`] waits for what is
//! queued, [`WindowHandle::events`] watches what fires there.
//!
//! # Layers
//!
//! Imports only go down (a test in `tests/layers.rs` checks every `crate::` path):
//! - kernel ([`kernel`]): task sources, queues, the scheduler, the clock, timers, lifecycle
//!   data, the trace hooks; no actors;
//! - actors ([`event_loop`], the broadcast registry, the supervision decision): generic
//!   over the realm they host, they never name a handle type;
//! - handles: realms, listeners, [`MessageEvent`], [`Scope`], [`WindowProxy`],
//!   [`MessagePort`], [`BroadcastChannel`], [`Worker`], carrying out supervision;
//! - API: [`Browser`], [`WindowHandle`], and the RPC layer ([`rpc`]) built on the handles;
//! - operations: [`observe`], [`trace`] export.
//!
//! # Where to look
//!
//! - [`browser`]: the runtime, routing, threads; [`scope`]: what script can do.
//! - [`window`], [`port`], [`broadcast`], [`worker`]: the four ways to post a message.
//! - [`supervision`]: crashes (panics in script) are isolated to their realm, and their
//!   supervisor reloads, stops or escalates, with OTP strategies and restart intensity.
//! - [`trace`]: a recorder (off by default, free when off) of posts, deliveries, drops with
//!   their reason, transfers, errors, crashes and restarts, exported as a Mermaid sequence
//!   diagram or Chrome trace-event JSON.
//! - [`rpc`]: typed RPC over ports (expose a service, connect through a window or a
//!   port; deadlines, cancellation, reconnection, capabilities, streams).
//! - [`observe`]: watch the events of a browsing context from a test.
//! - [`core`] (the `webmessaging-core` crate): origins, target origins, the value model and
//!   structured clone, without actors.
//!
//! The repository's `examples/` run the standard's examples (hello world between a
//! document and its iframe, the contacts and compose-mail libraries, capability
//! delegation, the logout broadcast, service evolution to a worker) and a tour of every
//! feature: `cargo run --example tour`.
#![deny(missing_docs)]

pub mod broadcast;
mod broadcast_registry;
pub mod browser;
mod dispatch;
pub mod event;
pub mod event_loop;
pub mod global_scope;
mod id_hash;
pub mod kernel;
pub mod observe;
mod observer;
pub mod port;
mod realm;
pub mod realm_actor;
pub mod rpc;
mod runtime;
pub mod scope;
pub mod shared_worker;
mod sim_export;
pub mod simulation;
pub mod supervision;
mod supervisor;
pub mod trace;
pub mod window;
pub mod worker;

pub use webmessaging_core as core;
pub use webmessaging_core::{Error, ExceptionName, Result};

pub use broadcast::BroadcastChannel;
pub use browser::{script, Browser, Script, WindowHandle};
pub use event::{
    EventTarget, EventType, ListenerId, MessageEvent, MessageEventInit, MessageEventSource,
};
pub use kernel::{MetricsSnapshot, TaskSource, TimerId};
pub use observe::{EventLog, ObservedEvent};
pub use port::Overflow;
pub use port::{
    ActorPort, AttachedPort, MessageChannel, MessagePort, PortEvent, RawPortEvent,
    StructuredSerializeOptions,
};
pub use rpc::RpcError;
pub use runtime::Limits;
pub use scope::{GlobalKind, IframeOptions, Scope};
pub use shared_worker::{
    SharedWorker, SharedWorkerInfo, SharedWorkerOptions, WorkerCredentials, WorkerType,
};
pub use supervision::{Intensity, LifecycleEvent, RestartPolicy, Strategy, SupervisorSpec};
pub use webmessaging_core::rate_limit::RateLimit;
pub use window::{BrowsingContextId, WindowPostMessageOptions, WindowProxy};
pub use worker::{Worker, WorkerId};

/// Everything a program or test usually needs: `use webmessaging::prelude::*;`.
pub mod prelude {
    pub use crate::{
        script, BroadcastChannel, Browser, EventType, IframeOptions, LifecycleEvent,
        MessageChannel, MessageEvent, MessagePort, RestartPolicy, Scope, Strategy,
        StructuredSerializeOptions, SupervisorSpec, WindowHandle, WindowPostMessageOptions,
        WindowProxy, Worker,
    };
    pub use webmessaging_core::clone::{structured_clone, SerializedRecord};
    pub use webmessaging_core::origin::Origin;
    pub use webmessaging_core::target_origin::TargetOrigin;
    pub use webmessaging_core::value::{JsString, Object, Value};
    pub use webmessaging_core::{Error, ExceptionName};
}
