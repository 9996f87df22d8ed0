//! The transfer list: its checks and the transfer steps (StructuredSerializeWithTransfer
//! steps 1-4 and 6-7), and the transfer-receiving steps of
//! [StructuredDeserializeWithTransfer](https://html.spec.whatwg.org/multipage/structured-data.html#structureddeserializewithtransfer).

use std::any::Any;
use std::rc::Rc;

use super::clone_err;
use super::record::{BufferHolder, TransferData, Transferred};
use crate::error::Result;
use crate::value::{Object, ObjectData, PortReceiver, TransferablePort, Value};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum TransferKind {
    ArrayBuffer,
    Port,
}

/// Whether two transfer-list entries are the same transferable: the same object, or two
/// `Object` wrappers of the same runtime port (a port handle may be wrapped more than
/// once, as each `MessagePort::to_value()` call does; it is still one `MessagePort`).
fn same_transferable(a: &Object, b: &Object) -> bool {
    if Object::ptr_eq(a, b) {
        return true;
    }
    match (a.as_port(), b.as_port()) {
        (Some(x), Some(y)) => {
            std::ptr::eq(Rc::as_ptr(&x) as *const (), Rc::as_ptr(&y) as *const ())
        }
        _ => false,
    }
}

/// The transfer list after its checks: each entry with its kind and per-kind index.
pub(super) struct TransferList {
    pub(super) entries: Vec<(Object, TransferKind)>,
}

impl TransferList {
    /// StructuredSerializeWithTransfer steps 1-4: validate the transfer list before
    /// anything is serialized.
    pub(super) fn check(transfer: &[Value]) -> Result<TransferList> {
        let mut entries: Vec<(Object, TransferKind)> = Vec::with_capacity(transfer.len());
        // Step 4: for each transferable of transferList:
        for (i, t) in transfer.iter().enumerate() {
            // Step 4.1: it must be a platform object that is transferable, or an
            // ArrayBuffer; otherwise throw a DataCloneError.
            let Value::Object(o) = t else {
                return Err(clone_err(format!(
                    "transfer list entry {i} ({}) is not a transferable object",
                    t.type_of()
                )));
            };
            let kind = match &*o.borrow() {
                ObjectData::ArrayBuffer(_) => TransferKind::ArrayBuffer,
                ObjectData::Port(_) => TransferKind::Port,
                other => {
                    let name = match other {
                        ObjectData::Platform { interface } => interface.clone(),
                        d => d.class_name().to_string(),
                    };
                    return Err(clone_err(format!(
                        "transfer list entry {i} ({name}) is not transferable"
                    )));
                }
            };
            // Step 4.2 (SharedArrayBuffer) does not apply: there is none in this model.
            // Step 4.3: if memory[transferable] exists, throw a DataCloneError.
            if entries.iter().any(|(e, _)| same_transferable(e, o)) {
                return Err(clone_err(match kind {
                    TransferKind::ArrayBuffer => "duplicate ArrayBuffer in transfer list",
                    TransferKind::Port => "duplicate MessagePort in transfer list",
                }));
            }
            // Step 4.4: memory[transferable] = { [[Type]], [[Index]] }.
            entries.push((o.clone(), kind));
        }
        Ok(TransferList { entries })
    }

    pub(super) fn lookup(&self, o: &Object, kind: TransferKind) -> Option<u64> {
        let mut idx = 0u64;
        for (e, k) in &self.entries {
            if *k == kind {
                if same_transferable(e, o) {
                    return Some(idx);
                }
                idx += 1;
            }
        }
        None
    }

    /// Steps 6-7: after serialization, every transferable must still be transferable;
    /// only when all are, transfer them all (so a failing call changes nothing).
    pub(super) fn detach_all(self) -> Result<TransferData> {
        // Step 6: for each transferable, if it is a detached ArrayBuffer or a detached
        // platform object, throw a DataCloneError.
        for (o, kind) in &self.entries {
            if o.is_detached() {
                return Err(clone_err(match kind {
                    TransferKind::ArrayBuffer => {
                        "ArrayBuffer is detached and cannot be transferred"
                    }
                    TransferKind::Port => "MessagePort is detached (closed or already transferred)",
                }));
            }
        }
        // Step 7: for each transferable, run its transfer steps.
        let mut data = TransferData::default();
        for (o, kind) in self.entries {
            match kind {
                TransferKind::ArrayBuffer => {
                    let mut d = o.borrow_mut();
                    if let ObjectData::ArrayBuffer(ab) = &mut *d {
                        // Step 7.2: the data holder takes the bytes (moved, not
                        // copied); DetachArrayBuffer empties the sender's.
                        ab.detached = true;
                        data.buffers.push(BufferHolder {
                            bytes: std::mem::take(&mut ab.bytes),
                            max_byte_length: ab.max_byte_length,
                        });
                    }
                }
                TransferKind::Port => {
                    let port = o.as_port();
                    if let Some(p) = port {
                        // Step 7.3: the interface's transfer steps.
                        data.ports.push(p.transfer());
                    }
                }
            }
        }
        Ok(data)
    }
}

/// The transfer-receiving steps of
/// [StructuredDeserializeWithTransfer](https://html.spec.whatwg.org/multipage/structured-data.html#structureddeserializewithtransfer)
/// (step 3): builds the new ArrayBuffers (taking the moved bytes) and the new ports.
/// Call exactly once per message.
pub fn receive_transfer(data: TransferData, ports: &mut dyn PortReceiver) -> Result<Transferred> {
    let array_buffers = data
        .buffers
        .into_iter()
        .map(|h| match h.max_byte_length {
            None => Object::new_array_buffer(h.bytes),
            Some(max) => Object::new_resizable_array_buffer(h.bytes, max),
        })
        .collect();
    let mut out_ports = Vec::with_capacity(data.ports.len());
    for holder in data.ports {
        out_ports.push(Object::new_port(ports.receive_port(holder)?));
    }
    Ok(Transferred {
        array_buffers,
        ports: out_ports,
    })
}

/// A [`PortReceiver`] for realms or messages that take no ports (BroadcastChannel,
/// `structured_clone`): receiving any port fails with `DataCloneError`.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoPorts;

impl PortReceiver for NoPorts {
    fn receive_port(&mut self, _holder: Box<dyn Any + Send>) -> Result<Rc<dyn TransferablePort>> {
        Err(clone_err("this realm cannot receive MessagePorts"))
    }
}
