//! Structured clone with transfer, and the binary record it produces.
//!
//! Implements, over the value model of [`crate::value`]:
//!
//! - [StructuredSerializeInternal](https://html.spec.whatwg.org/multipage/structured-data.html#structuredserializeinternal)
//!   and [StructuredSerializeWithTransfer](https://html.spec.whatwg.org/multipage/structured-data.html#structuredserializewithtransfer):
//!   [`structured_serialize`], [`structured_serialize_with_transfer`];
//! - [StructuredDeserialize](https://html.spec.whatwg.org/multipage/structured-data.html#structureddeserialize)
//!   and [StructuredDeserializeWithTransfer](https://html.spec.whatwg.org/multipage/structured-data.html#structureddeserializewithtransfer):
//!   [`deserialize_record`], [`structured_deserialize`], [`structured_deserialize_with_transfer`],
//!   split into [`receive_transfer`] (the transfer-receiving steps, run once per message)
//!   and [`deserialize_record`] (run once per deserialization);
//! - [`structuredClone`](https://html.spec.whatwg.org/multipage/structured-data.html#dom-structuredclone):
//!   [`structured_clone`], [`structured_clone_with_ports`].
//!
//! # The record
//!
//! The spec's "serialized record" is a tree of Records; here it is one compact binary
//! buffer ([`SerializedRecord`]): a version byte, then one value in a tagged,
//! pre-order encoding with LEB128 lengths and UTF-8 strings written as bytes. Every
//! object gets an id in the order it is first met (pre-order); meeting it again
//! writes a back-reference to its id, so shared references and cycles survive (the
//! spec's `memory` map). Blob bytes are not copied into the buffer: they sit in a
//! side table of `Arc<[u8]>`, shared.
//!
//! The decoder treats the bytes as untrusted: it never panics, bounds every
//! allocation by the remaining input, bounds nesting depth ([`MAX_DEPTH`]), and
//! reports garbage as `DataCloneError`.
//!
//! # Modelling notes
//!
//! - Note: transferred ArrayBuffers and ports are numbered per kind (not with one
//!   shared transfer index as in the spec), so [`Transferred`] lists each kind in
//!   transfer-list order.
//! - Note: there is no SharedArrayBuffer, no ImageBitmap and no user code (getters)
//!   in this model; the ordering rules still hold where observable: a bad transfer
//!   list wins over an unserializable value, which wins over a detached transferable.
//! - Note: only objects that can be met twice (more than one reference exists) are
//!   numbered, behind a `SHARED` prefix; back-references point at those. This keeps
//!   tree-shaped data free of identity-map work on both sides.
//! - Note: graphs nested deeper than [`MAX_DEPTH`] objects fail with
//!   `DataCloneError` (browsers fail on stack exhaustion instead); the limit keeps
//!   serialization and deserialization within a 2 MiB thread stack even in debug
//!   builds.
//! - [`structured_clone`] without ports copies the graph directly instead of going
//!   through a record (same checks, order, errors and result; see `direct_clone`).
//!
//! # Performance notes
//!
//! Measured with callgrind (instruction counts; see the report of 2026-11-26): the
//! cost of a clone is dominated by building objects (one `Rc` allocation each, plus
//! one for a container's contents) and by freeing them again, so the code avoids any
//! further allocation and copy per object: the serializer writes into a per-thread
//! scratch buffer and copies the record out once at its exact size; the decoder
//! collects a container's items on per-thread scratch stacks and then allocates
//! them once at the exact size (the record does not carry counts); the direct clone
//! knows the sizes and skips the duplicate-key lookups a decoder must do on
//! untrusted input. The per-value functions are `#[inline(always)]` and the
//! per-object ones `#[inline(never)]`, so that primitives (most values) cost no call.
//!
//! Since the 2026-11-26 afternoon pass, objects are recycled per thread (see the
//! pool in [`crate::value`]): the last reference to an object hands its allocation
//! back, a plain object or array with its emptied buffer, keyed by capacity; the
//! direct clone and the decoder build unshared plain objects and arrays in place in
//! a recycled one of the right size (`Object::build_plain`, `Object::build_array`),
//! so a steady stream of clones makes almost no `malloc`/`free` calls (glibc's
//! per-thread cache holds only 7 blocks of a size, and freeing a message of dozens
//! of objects went through its slow path). Values that own nothing are copied
//! bitwise, and emptying a container skips the drop call for them.

use crate::error::Result;
use crate::value::{ObjectData, PortReceiver, Value};

// Layout:
//
// - `record`: the record and transfer data types (`SerializedRecord`,
//   `TransferData`, `SerializedWithTransfer`, `Transferred`);
// - `tag`: the tags of the binary format;
// - `writer` and `reader`: encoding and bounds-checked decoding of the primitives
//   of the format (shared with `crate::serde_bridge`);
// - `memory`: the identity map (the spec's `memory`);
// - `data_clone_error`: the `DataCloneError`s the algorithms throw;
// - `transfer`: the transfer list's checks and transfer steps, and the
//   transfer-receiving steps;
// - `serialize`: StructuredSerializeInternal and its callers;
// - `deserialize`: StructuredDeserialize and its callers;
// - `direct`: the same-realm `structuredClone` that copies the graph directly;
// - this module: `structuredClone`.
mod data_clone_error;
mod deserialize;
mod direct;
mod memory;
mod queued;
mod reader;
mod record;
mod serialize;
pub(crate) mod tag;
mod transfer;
mod writer;

pub use deserialize::{
    deserialize_record, structured_deserialize, structured_deserialize_with_transfer,
};
pub use queued::QueuedMessage;
pub use record::{SerializedRecord, SerializedWithTransfer, TransferData, Transferred};
pub use serialize::{
    serialize_transfer_only, structured_serialize, structured_serialize_with_transfer,
};
pub use transfer::{receive_transfer, NoPorts};

pub(crate) use data_clone_error::clone_err;
pub(crate) use reader::Reader;
pub(crate) use writer::{unzigzag, write_bigint, write_number, write_str, write_varint};

use direct::direct_clone;
use transfer::TransferList;

/// The record format version written as the first byte.
pub const FORMAT_VERSION: u8 = 1;

/// The deepest nesting of objects serialization, deserialization, the direct clone
/// and the serde bridge accept; deeper graphs fail with `DataCloneError` instead of
/// overflowing the stack.
pub const MAX_DEPTH: u32 = 256;

/// [`structuredClone(value, { transfer })`](https://html.spec.whatwg.org/multipage/structured-data.html#dom-structuredclone)
/// for values and transfer lists without ports (a port in `transfer` fails with
/// `DataCloneError` before anything happens: use [`structured_clone_with_ports`]).
pub fn structured_clone(value: &Value, transfer: &[Value]) -> Result<Value> {
    if transfer.iter().any(|t| {
        t.as_object()
            .is_some_and(|o| matches!(&*o.borrow(), ObjectData::Port(_)))
    }) {
        // Still report list errors first, as structuredClone would.
        TransferList::check(transfer)?;
        return Err(clone_err(
            "structured_clone cannot receive MessagePorts; use structured_clone_with_ports",
        ));
    }
    structured_clone_with_ports(value, transfer, &mut NoPorts)
}

fn has_port(transfer: &[Value]) -> bool {
    transfer.iter().any(|t| {
        t.as_object()
            .is_some_and(|o| matches!(&*o.borrow(), ObjectData::Port(_)))
    })
}

/// `structuredClone(value, { transfer })` in a realm that can receive ports.
pub fn structured_clone_with_ports(
    value: &Value,
    transfer: &[Value],
    ports: &mut dyn PortReceiver,
) -> Result<Value> {
    if !has_port(transfer) {
        // Same realm and no ports: copy the graph directly (see `direct_clone`).
        return direct_clone(value, transfer);
    }
    // Step 1: serialized = StructuredSerializeWithTransfer(value, transfer).
    let s = structured_serialize_with_transfer(value, transfer)?;
    // Step 2: deserializeRecord = StructuredDeserializeWithTransfer(serialized, realm).
    let (v, _) = structured_deserialize_with_transfer(s, ports)?;
    // Step 3: return deserializeRecord.[[Deserialized]].
    Ok(v)
}
