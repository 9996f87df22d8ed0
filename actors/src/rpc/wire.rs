//! The messages of the RPC protocol, as they cross a port (or, for the first one, a
//! window's `postMessage`).
//!
//! Every message is a plain object with an `rpc` field naming its kind:
//!
//! | kind | from | fields | meaning |
//! | --- | --- | --- | --- |
//! | `hello` | client | `service`, `v` | opens a connection (the port travels with it) |
//! | `welcome` | service | `instance` | the connection is open; `instance` names the serving realm |
//! | `refused` | service | `reason` | the connection is refused (origin not allowed, no such service) |
//! | `call` | client | `id`, `method`, `args`, `credit` (streams) | a call |
//! | `ok` | service | `id`, `value` | the call's value |
//! | `err` | service | `id`, `value` | the method's own error |
//! | `fault` | service | `id`, `fault: {name, message}` | a runtime failure, by exception name |
//! | `item` | service | `id`, `value` | one item of a stream (spends one credit) |
//! | `end` | service | `id` | the stream is complete |
//! | `credit` | client | `id`, `credit` | more credit for a stream |
//! | `cancel` | client | `id` | the caller gave up on the call or stream |
//!
//! Values are serde types, serialized straight into the structured-clone record. A
//! [`Capability`](super::Capability) inside a value is written as `{"$rpc_port": i,
//! "service": name}` and its port travels in the message's transfer list at index `i`.
//! Anything that does not read as one of these messages is dropped, never a panic.

use std::cell::RefCell;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use webmessaging_core::{Error, ExceptionName, Result};

use crate::event::MessageEvent;
use crate::port::MessagePort;
use crate::window::WindowProxy;

use super::WeakScope;

/// The protocol version sent in `hello`.
pub(crate) const VERSION: u32 = 1;

/// The kind of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Kind {
    Hello,
    Welcome,
    Refused,
    Call,
    Ok,
    Err,
    Fault,
    Item,
    End,
    Credit,
    Cancel,
}

/// A runtime failure on the wire.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Fault {
    pub name: String,
    pub message: String,
}

impl Fault {
    pub(crate) fn of(e: &Error) -> Fault {
        Fault {
            name: e.name().as_str().to_owned(),
            message: e.message().to_owned(),
        }
    }

    /// Back to an error; a name this side does not know reads as `DataCloneError`.
    pub(crate) fn into_error(self) -> Error {
        let name = ExceptionName::from_name(&self.name).unwrap_or(ExceptionName::DataCloneError);
        Error::new(name, self.message)
    }
}

/// What every message is read as first (its other fields are skipped).
#[derive(Debug, Deserialize)]
pub(crate) struct Header {
    pub rpc: Kind,
    #[serde(default)]
    pub id: u64,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub credit: Option<u32>,
    #[serde(default)]
    pub instance: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub fault: Option<Fault>,
}

/// A control message (everything but calls and values).
#[derive(Debug, Serialize)]
pub(crate) struct Control<'a> {
    pub rpc: Kind,
    #[serde(skip_serializing_if = "is_zero")]
    pub id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub v: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<Fault>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl<'a> Control<'a> {
    pub(crate) fn new(rpc: Kind, id: u64) -> Control<'a> {
        Control {
            rpc,
            id,
            service: None,
            v: None,
            credit: None,
            instance: None,
            reason: None,
            fault: None,
        }
    }
}

/// A call.
#[derive(Serialize)]
pub(crate) struct CallOut<'a, A> {
    pub rpc: Kind,
    pub id: u64,
    pub method: &'a str,
    pub args: &'a A,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credit: Option<u32>,
}

/// A value: an answer, a method's error, a stream item.
#[derive(Serialize)]
pub(crate) struct ValueOut<'a, T> {
    pub rpc: Kind,
    pub id: u64,
    pub value: &'a T,
}

#[derive(Deserialize)]
struct ArgsIn<T> {
    args: T,
}

#[derive(Deserialize)]
struct ValueIn<T> {
    value: T,
}

// ----- capabilities inside values -----

/// How a `Capability` serializes on this thread right now.
enum Outgoing {
    /// Not inside an RPC message: a capability cannot be sent.
    Off,
    /// Inside one: the ports listed so far (a capability not listed yet is added, and the
    /// serialization is abandoned, to be done again with the longer transfer list).
    Collecting {
        ports: Vec<MessagePort>,
        missing: bool,
    },
}

thread_local! {
    static OUTGOING: RefCell<Outgoing> = const { RefCell::new(Outgoing::Off) };
    static INCOMING: RefCell<Option<(Vec<MessagePort>, WeakScope)>> = const { RefCell::new(None) };
}

/// The message that marks an abandoned serialization (a capability was found that is not
/// in the transfer list yet).
const NEEDS_TRANSFER: &str = "rpc: capability needs a transfer list entry";

/// Where a capability's port goes in the transfer list: its index, or `None` when the
/// serialization must be abandoned and redone (see [`post`]).
pub(crate) fn transfer_index(port: &MessagePort) -> Result<Option<usize>> {
    OUTGOING.with(|o| match &mut *o.borrow_mut() {
        Outgoing::Off => Err(Error::data_clone(
            "a Capability can only be sent inside an RPC call or answer",
        )),
        Outgoing::Collecting { ports, missing } => {
            if let Some(i) = ports.iter().position(|p| p == port) {
                return Ok(Some(i));
            }
            ports.push(port.clone());
            *missing = true;
            Ok(None)
        }
    })
}

/// The serde error a capability returns to abandon a serialization.
pub(crate) fn needs_transfer<E: serde::ser::Error>() -> E {
    E::custom(NEEDS_TRANSFER)
}

/// Posts `msg` on `port`, with the ports of the capabilities it holds in the transfer
/// list: serialized once when it holds none, once more per capability otherwise.
pub(crate) fn post<T: Serialize>(port: &MessagePort, msg: &T) -> Result<()> {
    let previous = OUTGOING.with(|o| {
        std::mem::replace(
            &mut *o.borrow_mut(),
            Outgoing::Collecting {
                ports: Vec::new(),
                missing: false,
            },
        )
    });
    let result = loop {
        let transfer: Vec<_> = OUTGOING.with(|o| match &mut *o.borrow_mut() {
            Outgoing::Collecting { ports, missing } => {
                *missing = false;
                ports.iter().map(MessagePort::to_value).collect()
            }
            Outgoing::Off => Vec::new(),
        });
        let r = if transfer.is_empty() {
            port.post(msg)
        } else {
            port.post_with_transfer(msg, &transfer)
        };
        let missing = OUTGOING.with(|o| match &*o.borrow() {
            Outgoing::Collecting { missing, .. } => *missing,
            Outgoing::Off => false,
        });
        match r {
            Err(_) if missing => continue,
            other => break other,
        }
    };
    OUTGOING.with(|o| *o.borrow_mut() = previous);
    result
}

/// Posts `msg` to a window with a transfer list (the handshake's `hello`).
pub(crate) fn post_to_window<T: Serialize>(
    scope: &crate::scope::Scope,
    window: &WindowProxy,
    msg: &T,
    target_origin: &str,
    port: &MessagePort,
) -> Result<()> {
    window.post_with_transfer(scope, msg, target_origin, &[port.to_value()])
}

/// Takes the port at `index` of the message being read, for a capability.
pub(crate) fn incoming_port(index: usize) -> Option<(MessagePort, WeakScope)> {
    INCOMING.with(|i| {
        i.borrow()
            .as_ref()
            .and_then(|(ports, realm)| ports.get(index).map(|p| (p.clone(), realm.clone())))
    })
}

/// Reads `T` from the event's data, with its ports available to capabilities.
fn read<T: DeserializeOwned>(event: &MessageEvent, realm: &WeakScope) -> Result<T> {
    let previous = INCOMING.with(|i| i.replace(Some((event.ports().to_vec(), realm.clone()))));
    let r = event.data_as::<T>();
    INCOMING.with(|i| *i.borrow_mut() = previous);
    r
}

/// The `args` of a call.
pub(crate) fn read_args<T: DeserializeOwned>(event: &MessageEvent, realm: &WeakScope) -> Result<T> {
    read::<ArgsIn<T>>(event, realm).map(|a| a.args)
}

/// The `value` of an answer, an error or an item.
pub(crate) fn read_value<T: DeserializeOwned>(
    event: &MessageEvent,
    realm: &WeakScope,
) -> Result<T> {
    read::<ValueIn<T>>(event, realm).map(|v| v.value)
}

/// The header of a message, or `None` for anything that is not an RPC message.
pub(crate) fn header(event: &MessageEvent) -> Option<Header> {
    match event.data_as::<Header>() {
        Ok(h) => Some(h),
        Err(e) => {
            log::debug!(target: "webmessaging::rpc", "dropped a message that is not RPC: {e}");
            None
        }
    }
}
