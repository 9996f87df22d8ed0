//! The serialized record (the spec's "serialized record", here one compact binary
//! buffer) and the transfer data holders of
//! [StructuredSerializeWithTransfer](https://html.spec.whatwg.org/multipage/structured-data.html#structuredserializewithtransfer).

use std::any::Any;
use std::sync::Arc;

use smallvec::SmallVec;

use crate::value::Object;

/// Records up to this many bytes are stored inline, without an allocation of their own:
/// a small message (`{seq: 1, text: "hello"}` is 26 bytes) costs no `malloc` and no
/// `free`, and a queue of a million of them is a million fewer heap blocks.
pub(crate) const INLINE_RECORD: usize = 32;

/// The record's bytes: inline up to [`INLINE_RECORD`], on the heap above.
pub(crate) type RecordBytes = SmallVec<[u8; INLINE_RECORD]>;

/// The serialized record: a compact versioned binary encoding (version byte first,
/// stored inline when small) plus a side table of shared Blob bytes (`Arc<[u8]>`,
/// shared, not copied). `Send + Sync + Clone`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SerializedRecord {
    pub(crate) bytes: RecordBytes,
    pub(crate) blobs: Blobs,
}

/// A record's side table of Blob bytes: one word, null for none (most records have
/// none), so that a queued message is a word smaller than with a boxed slice.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Blobs(Option<Box<BlobTable>>);

/// The Blob bytes of a record, by index (`BLOB` values refer to them).
type BlobTable = Box<[Arc<[u8]>]>;

impl Blobs {
    /// The table of `blobs` (none when empty).
    pub(crate) fn new(blobs: Vec<Arc<[u8]>>) -> Blobs {
        Blobs((!blobs.is_empty()).then(|| Box::new(blobs.into_boxed_slice())))
    }

    /// The Blob bytes, by index.
    pub(crate) fn as_slice(&self) -> &[Arc<[u8]>] {
        self.0.as_deref().map_or(&[], |b| b)
    }
}

impl SerializedRecord {
    /// The encoded bytes (without the Blob side table).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// A record from bytes, for example received from elsewhere. The bytes are
    /// untrusted: decoding them never panics and fails with `DataCloneError` on
    /// garbage. Such a record has no Blob side table, so a Blob in it fails to decode.
    pub fn from_bytes(bytes: Vec<u8>) -> SerializedRecord {
        SerializedRecord {
            bytes: RecordBytes::from_vec(bytes),
            blobs: Blobs::default(),
        }
    }

    /// A record holding a copy of `bytes` (inline when small: no allocation).
    pub(crate) fn copy_of(bytes: &[u8], blobs: Blobs) -> SerializedRecord {
        SerializedRecord {
            bytes: RecordBytes::from_slice(bytes),
            blobs,
        }
    }

    /// The encoded length in bytes (Blob bytes not counted).
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True when the record holds no bytes at all (never the case for a record this
    /// crate produced).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The number of Blob byte buffers shared by the record.
    pub fn blob_count(&self) -> usize {
        self.blobs.as_slice().len()
    }
}

/// A transferred ArrayBuffer's data holder: the bytes themselves, moved.
#[derive(Debug)]
pub(super) struct BufferHolder {
    pub(super) bytes: Vec<u8>,
    pub(super) max_byte_length: Option<usize>,
}

/// The transfer data holders of a message: moved ArrayBuffer bytes (the `Vec<u8>`
/// itself, never copied) and the ports' holders. `Send`, not `Clone`.
#[derive(Default)]
pub struct TransferData {
    pub(super) buffers: Vec<BufferHolder>,
    pub(super) ports: Vec<Box<dyn Any + Send>>,
}

impl TransferData {
    /// No transferables.
    pub fn empty() -> Self {
        TransferData::default()
    }

    /// True when nothing was transferred.
    pub fn is_empty(&self) -> bool {
        self.buffers.is_empty() && self.ports.is_empty()
    }

    /// The number of transferred ports.
    pub fn port_count(&self) -> usize {
        self.ports.len()
    }

    /// The number of transferred ArrayBuffers.
    pub fn array_buffer_count(&self) -> usize {
        self.buffers.len()
    }

    /// Takes the port holders out (for a runtime that receives ports itself; the
    /// buffers stay).
    pub fn take_port_holders(&mut self) -> Vec<Box<dyn Any + Send>> {
        std::mem::take(&mut self.ports)
    }
}

impl std::fmt::Debug for TransferData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransferData")
            .field("array_buffers", &self.buffers.len())
            .field("ports", &self.ports.len())
            .finish()
    }
}

/// StructuredSerializeWithTransfer's result: the record plus the transfer data holders.
#[derive(Debug)]
pub struct SerializedWithTransfer {
    /// The serialized value.
    pub record: SerializedRecord,
    /// The transferred objects' data holders.
    pub transfer: TransferData,
}

/// What the receiving realm gets for the transfer data: the new ArrayBuffer objects
/// and the new port objects, in transfer-list order per kind.
#[derive(Debug, Default, Clone)]
pub struct Transferred {
    /// New ArrayBuffer objects.
    pub array_buffers: Vec<Object>,
    /// New MessagePort objects.
    pub ports: Vec<Object>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_records_are_inline_and_large_ones_on_the_heap() {
        let small = SerializedRecord::copy_of(&[1u8; INLINE_RECORD], Blobs::default());
        assert!(!small.bytes.spilled());
        let large = SerializedRecord::copy_of(&[1u8; INLINE_RECORD + 1], Blobs::default());
        assert!(large.bytes.spilled());
        assert_eq!(large.as_bytes(), &[1u8; INLINE_RECORD + 1][..]);
        // A record from a Vec keeps its bytes, inline or not.
        let from_vec = SerializedRecord::from_bytes(vec![7; 3]);
        assert_eq!(from_vec.as_bytes(), &[7, 7, 7]);
        assert!(!from_vec.bytes.spilled());
        assert_eq!(from_vec.len(), 3);
    }

    #[test]
    fn a_record_is_six_words() {
        // 32 inline bytes and a capacity word, then the Blob table (one pointer).
        assert_eq!(std::mem::size_of::<SerializedRecord>(), 48);
    }
}
