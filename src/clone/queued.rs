//! A serialized message as a port message queue holds it: compact, because a burst
//! keeps a million of them waiting.

use super::record::{Blobs, RecordBytes, SerializedRecord, SerializedWithTransfer, TransferData};

/// A serialized message ([`SerializedWithTransfer`]) in six words: the record's bytes
/// (inline when small) and one pointer to everything else (the Blob table and the
/// transfer data holders), null for a message with neither, the usual case. A
/// `SerializedWithTransfer` is eleven words; the memory a burst of queued messages
/// writes and reads back is most of what it costs.
///
/// ```
/// use webmessaging_core::clone::{structured_serialize, QueuedMessage};
/// use webmessaging_core::value::Value;
///
/// let record = structured_serialize(&Value::from("hello")).unwrap();
/// let queued = QueuedMessage::plain(record.clone());
/// assert!(!queued.has_transfer());
/// let (back, transfer) = queued.into_parts();
/// assert_eq!(back, record);
/// assert!(transfer.is_none());
/// ```
#[derive(Debug)]
pub struct QueuedMessage {
    bytes: RecordBytes,
    rest: Option<Box<Rest>>,
}

/// What a [`QueuedMessage`] holds behind its pointer.
#[derive(Debug)]
struct Rest {
    blobs: Blobs,
    transfer: TransferData,
}

impl QueuedMessage {
    /// A message without transferables.
    pub fn plain(record: SerializedRecord) -> QueuedMessage {
        let SerializedRecord { bytes, blobs } = record;
        let rest = (!blobs.as_slice().is_empty()).then(|| {
            Box::new(Rest {
                blobs,
                transfer: TransferData::empty(),
            })
        });
        QueuedMessage { bytes, rest }
    }

    /// A message with its transfer data (none or some).
    pub fn new(message: SerializedWithTransfer) -> QueuedMessage {
        let SerializedWithTransfer { record, transfer } = message;
        if transfer.is_empty() {
            return QueuedMessage::plain(record);
        }
        let SerializedRecord { bytes, blobs } = record;
        QueuedMessage {
            bytes,
            rest: Some(Box::new(Rest { blobs, transfer })),
        }
    }

    /// Whether the message carries transferred objects.
    pub fn has_transfer(&self) -> bool {
        self.rest.as_ref().is_some_and(|r| !r.transfer.is_empty())
    }

    /// The transfer data, when the message carries transferred objects.
    pub fn transfer_mut(&mut self) -> Option<&mut TransferData> {
        match &mut self.rest {
            Some(r) if !r.transfer.is_empty() => Some(&mut r.transfer),
            _ => None,
        }
    }

    /// The record, and the transfer data when the message carries transferred objects.
    pub fn into_parts(self) -> (SerializedRecord, Option<TransferData>) {
        match self.rest {
            None => (
                SerializedRecord {
                    bytes: self.bytes,
                    blobs: Blobs::default(),
                },
                None,
            ),
            Some(rest) => {
                let Rest { blobs, transfer } = *rest;
                let record = SerializedRecord {
                    bytes: self.bytes,
                    blobs,
                };
                (record, (!transfer.is_empty()).then_some(transfer))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clone::{structured_serialize, structured_serialize_with_transfer};
    use crate::value::{Object, Value};

    #[test]
    fn a_queued_message_is_six_words() {
        assert_eq!(std::mem::size_of::<QueuedMessage>(), 48);
    }

    #[test]
    fn parts_come_back_as_they_went_in() {
        // Plain, inline and spilled.
        for v in [Value::from("hi"), Value::from("x".repeat(100).as_str())] {
            let record = structured_serialize(&v).unwrap();
            let q = QueuedMessage::plain(record.clone());
            assert!(!q.has_transfer());
            let (back, t) = q.into_parts();
            assert_eq!(back, record);
            assert!(t.is_none());
        }
        // A Blob: its table travels behind the pointer.
        let blob = Value::Object(Object::new_blob(&b"abc"[..], "text/plain"));
        let record = structured_serialize(&blob).unwrap();
        assert_eq!(record.blob_count(), 1);
        let (back, t) = QueuedMessage::plain(record.clone()).into_parts();
        assert_eq!(back, record);
        assert!(t.is_none());
        // An ArrayBuffer transferred: the transfer data comes back.
        let buf = Value::Object(Object::new_array_buffer(vec![1, 2, 3]));
        let s = structured_serialize_with_transfer(&buf, std::slice::from_ref(&buf)).unwrap();
        let record = s.record.clone();
        let mut q = QueuedMessage::new(s);
        assert!(q.has_transfer());
        assert_eq!(q.transfer_mut().map(|t| t.array_buffer_count()), Some(1));
        let (back, t) = q.into_parts();
        assert_eq!(back, record);
        assert_eq!(t.map(|t| t.array_buffer_count()), Some(1));
        // Nothing transferred: no transfer data to hand back.
        let s = structured_serialize_with_transfer(&Value::from(1.0), &[]).unwrap();
        let mut q = QueuedMessage::new(s);
        assert!(!q.has_transfer());
        assert!(q.transfer_mut().is_none());
        assert!(q.into_parts().1.is_none());
    }
}
