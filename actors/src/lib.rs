//! # webmessaging
//!
//! The HTML Standard's web messaging — `Window.postMessage`, `MessageChannel` and
//! `MessagePort`, `BroadcastChannel`, structured clone with transfer — as a Rust runtime on
//! [Actix](https://docs.rs/actix), where every window, iframe and worker is an actor.
//!
//! ```no_run
//! use webmessaging::prelude::*;
//!
//! #[actix_rt::main]
//! async fn main() -> webmessaging::Result<()> {
//!     let browser = Browser::new();
//!     // The widget's document answers "ping" with "pong", to its parent only.
//!     browser.route("https://widget.example/", |scope: &Scope| {
//!         scope.on_message(|scope: &Scope, event: &MessageEvent| -> webmessaging::Result<()> {
//!             if event.origin() == "https://app.example" {
//!                 let parent = scope.parent().unwrap();
//!                 parent.post(scope, "pong", "https://app.example")?;
//!             }
//!             Ok(())
//!         });
//!     })?;
//!     let app = browser.open_with("https://app.example/", |scope: &Scope| -> webmessaging::Result<()> {
//!         let widget = scope.create_iframe("https://widget.example/")?;
//!         widget.post(scope, "ping", "https://widget.example")?;
//!         Ok(())
//!     })?;
//!     app.settle().await?;
//!     browser.shutdown();
//!     Ok(())
//! }
//! ```
//!
//! # How the standard maps onto actors
//!
//! | standard | here |
//! | --- | --- |
//! | agent / event loop | an actix [`Arbiter`](actix::Arbiter): one thread per browsing-context group (a top-level window and its iframes), one per dedicated worker |
//! | realm + global (`Window` with its `Document`, `DedicatedWorkerGlobalScope`) | a realm actor ([`realm::RealmActor`]); each actix message it handles is one task |
//! | `WindowProxy` | [`WindowProxy`]: a `Send` handle naming a browsing context; after navigation or restart it reaches the new document |
//! | `MessagePort`, port message queue | [`MessagePort`]; both queues of a channel live in its entanglement, and the owner realm's actor runs them ([`port`] explains why) |
//! | `BroadcastChannel` | [`BroadcastChannel`], fanned out by the [`broadcast::BroadcastRegistry`] actor |
//! | posted message task source, port message queues, DOM manipulation task source | variants of the realm actor's message enum, dispatched in arrival order per source |
//!
//! Script is Rust closures running inside realm actors: a load script per document (routed
//! by URL with [`Browser::route`], or given to [`Browser::open_with`]) and event listeners.
//! They get a [`Scope`], the global object's API. Code outside the runtime drives it with
//! async [`WindowHandle`]s.
#![deny(missing_docs)]

pub mod broadcast;
pub mod browser;
pub mod event;
pub mod observe;
pub mod port;
pub mod realm;
pub mod scope;
pub mod supervision;
pub mod trace;
pub mod window;
pub mod worker;

pub use webmessaging_core as core;
pub use webmessaging_core::{Error, ExceptionName, Result};

pub use broadcast::BroadcastChannel;
pub use browser::{script, Browser, Script, WindowHandle};
pub use event::{EventTarget, EventType, ListenerId, MessageEvent, MessageEventInit, MessageEventSource};
pub use observe::{EventLog, ObservedEvent};
pub use port::{MessageChannel, MessagePort, StructuredSerializeOptions};
pub use scope::{GlobalKind, IframeOptions, Scope};
pub use supervision::{Intensity, LifecycleEvent, RestartPolicy, Strategy, SupervisorSpec};
pub use window::{BrowsingContextId, WindowPostMessageOptions, WindowProxy};
pub use worker::{Worker, WorkerId};

/// Everything a program or test usually needs: `use webmessaging::prelude::*;`.
pub mod prelude {
    pub use crate::{
        script, BroadcastChannel, Browser, EventType, IframeOptions, LifecycleEvent, MessageChannel,
        MessageEvent, MessagePort, RestartPolicy, Scope, Strategy, StructuredSerializeOptions,
        SupervisorSpec, WindowHandle, WindowPostMessageOptions, WindowProxy, Worker,
    };
    pub use webmessaging_core::clone::{structured_clone, SerializedRecord};
    pub use webmessaging_core::origin::Origin;
    pub use webmessaging_core::target_origin::TargetOrigin;
    pub use webmessaging_core::value::{JsString, Object, Value};
    pub use webmessaging_core::{Error, ExceptionName};
}
