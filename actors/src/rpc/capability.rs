//! Capabilities: a service served on a channel of its own, whose other port travels inside
//! a request or an answer (transferred, as the standard's capability example does by
//! hand), and [`Callback`]s, one-method capabilities.
//!
//! A capability is released when the receiver drops it (or the client made from it),
//! when the serving side closes it ([`Served::close`]), or when either realm goes away:
//! the port's `close` event tells the other side, whose pending calls end with
//! [`RpcError::Disconnected`](super::RpcError::Disconnected).

use std::cell::RefCell;
use std::marker::PhantomData;

use serde::de::{DeserializeOwned, Deserializer};
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};

use crate::port::MessagePort;
use crate::scope::Scope;

use super::call::PendingCall;
use super::client::Client;
use super::error::NoError;
use super::options::ConnectOptions;
use super::service::{Conn, Served, Service};
use super::{connect_port, wire, Method};

/// The field that marks a capability inside a value.
const MARKER: &str = "$rpc_port";

/// A service reachable through a port of its own, to put inside a request or an answer.
///
/// Serialized inside an RPC message, its port goes in the message's transfer list; outside
/// one, serializing it is a `DataCloneError`. The receiver [`connect`](Self::connect)s to
/// it, or drops it to release it.
#[derive(Debug)]
pub struct Capability {
    port: MessagePort,
    service: String,
}

impl Capability {
    /// Serves `service` on a new channel of this realm; the capability holds the other
    /// port. The [`Served`] handle watches the connection or revokes it.
    pub fn serve(scope: &Scope, service: Service) -> (Capability, Served) {
        let (mine, theirs) = scope.message_channel().into_ports();
        let name = service.name().to_owned();
        let served = Conn::serve(scope, &mine, service, false);
        (
            Capability {
                port: theirs,
                service: name,
            },
            served,
        )
    }

    /// The name of the service behind it.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Connects to it (in the realm that received it).
    pub fn connect(self, scope: &Scope) -> Client {
        self.connect_with(scope, ConnectOptions::new())
    }

    /// Connects to it with options (a deadline).
    pub fn connect_with(self, scope: &Scope, options: ConnectOptions) -> Client {
        connect_port(scope, &self.port, &self.service, options)
    }
}

impl Serialize for Capability {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let index = match wire::transfer_index(&self.port) {
            Ok(Some(i)) => i,
            Ok(None) => return Err(wire::needs_transfer()),
            Err(e) => return Err(serde::ser::Error::custom(e.message())),
        };
        let mut st = s.serialize_struct("Capability", 2)?;
        st.serialize_field(MARKER, &index)?;
        st.serialize_field("service", &self.service)?;
        st.end()
    }
}

#[derive(Deserialize)]
struct Marker {
    #[serde(rename = "$rpc_port")]
    port: usize,
    service: String,
}

impl<'de> Deserialize<'de> for Capability {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let m = Marker::deserialize(d)?;
        match wire::incoming_port(m.port) {
            Some((port, _)) => Ok(Capability {
                port,
                service: m.service,
            }),
            None => Err(serde::de::Error::custom(format!(
                "no transferred port {} for a capability",
                m.port
            ))),
        }
    }
}

enum CallbackState {
    /// Not used yet: the capability.
    Fresh(Capability),
    /// Connected.
    Connected(Client),
    /// Released.
    Released,
}

/// A function of the other realm, called through a port: a one-method [`Capability`].
///
/// The side that makes it keeps the function; the side that receives it calls it with
/// [`call`](Self::call), and releases it by dropping it (or [`release`](Self::release)).
pub struct Callback<Req, Resp, E = NoError> {
    state: RefCell<CallbackState>,
    types: PhantomData<fn(Req) -> (Resp, E)>,
}

impl<Req, Resp, E> std::fmt::Debug for Callback<Req, Resp, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &*self.state.borrow() {
            CallbackState::Fresh(_) => "fresh",
            CallbackState::Connected(_) => "connected",
            CallbackState::Released => "released",
        };
        f.debug_struct("Callback").field("state", &state).finish()
    }
}

/// The one method of a callback's service.
const CALLBACK: &str = "callback";

impl<Req, Resp, E> Callback<Req, Resp, E>
where
    Req: Serialize + DeserializeOwned + 'static,
    Resp: Serialize + DeserializeOwned + 'static,
    E: Serialize + DeserializeOwned + 'static,
{
    /// A callback running `f` in this realm.
    pub fn new(
        scope: &Scope,
        f: impl Fn(&Scope, Req) -> std::result::Result<Resp, E> + 'static,
    ) -> (Self, Served) {
        let method: Method<Req, Resp, E> = Method::new("call");
        let service = Service::new(CALLBACK).method(&method, f);
        let (cap, served) = Capability::serve(scope, service);
        (
            Callback {
                state: RefCell::new(CallbackState::Fresh(cap)),
                types: PhantomData,
            },
            served,
        )
    }

    /// Calls it (connecting on first use).
    pub fn call(&self, scope: &Scope, request: Req) -> PendingCall<Resp, E> {
        let method: Method<Req, Resp, E> = Method::new("call");
        let mut st = self.state.borrow_mut();
        if let CallbackState::Fresh(_) = &*st {
            if let CallbackState::Fresh(cap) = std::mem::replace(&mut *st, CallbackState::Released)
            {
                *st = CallbackState::Connected(cap.connect(scope));
            }
        }
        let client = match &*st {
            CallbackState::Connected(c) => c.clone(),
            _ => {
                // Released: a closed client refuses the call with `Closed`.
                let c = Client::closed(scope, CALLBACK);
                drop(st);
                return c.call(&method, request);
            }
        };
        drop(st);
        client.call(&method, request)
    }

    /// Releases it now: the port closes, and the side that made it lets go of `f`.
    pub fn release(&self) {
        let st = std::mem::replace(&mut *self.state.borrow_mut(), CallbackState::Released);
        match st {
            CallbackState::Connected(c) => c.close(),
            CallbackState::Fresh(cap) => cap.port.close(),
            CallbackState::Released => {}
        }
    }
}

impl<Req, Resp, E> Serialize for Callback<Req, Resp, E> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match &*self.state.borrow() {
            CallbackState::Fresh(cap) => cap.serialize(s),
            _ => Err(serde::ser::Error::custom(
                "a callback already used or released cannot be sent",
            )),
        }
    }
}

impl<'de, Req, Resp, E> Deserialize<'de> for Callback<Req, Resp, E> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(Callback {
            state: RefCell::new(CallbackState::Fresh(Capability::deserialize(d)?)),
            types: PhantomData,
        })
    }
}
