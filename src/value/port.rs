//! MessagePorts inside values: what the runtime's port implements so that the
//! core can run its transfer steps, and what the receiving realm implements to
//! run the transfer-receiving steps
//! (<https://html.spec.whatwg.org/multipage/web-messaging.html#message-ports>).

use std::any::Any;
use std::rc::Rc;

use crate::error::Result;

/// Implemented by the runtime's MessagePort so the core can transfer ports inside values.
pub trait TransferablePort: Any {
    /// True when the port can no longer be transferred (closed, or already transferred).
    fn is_detached(&self) -> bool;
    /// The transfer steps: ship the port, detach this object and return the data
    /// holder the receiving realm turns back into a port. Called only after every
    /// check of the call has passed, so a failing call never calls it.
    fn transfer(&self) -> Box<dyn Any + Send>;
    /// Lets the runtime downcast to its own port type.
    fn as_any(&self) -> &dyn Any;
}

/// Implemented by the receiving realm: turns a data holder back into a port object
/// (the transfer-receiving steps).
pub trait PortReceiver {
    /// The transfer-receiving steps for one port: builds the new port from the holder
    /// that [`TransferablePort::transfer`] returned.
    fn receive_port(&mut self, holder: Box<dyn Any + Send>) -> Result<Rc<dyn TransferablePort>>;
}
