//! Blobs, Files and FileLists (serializable platform objects of the File API,
//! <https://w3c.github.io/FileAPI/>).

use std::sync::Arc;

use super::{JsString, Object, ObjectData, Value};

/// A Blob's state: shared immutable bytes and a type.
#[derive(Clone, Debug)]
pub struct BlobData {
    /// The bytes, shared (never copied by cloning).
    pub bytes: Arc<[u8]>,
    /// `type` (a MIME type, possibly empty).
    pub mime: JsString,
}

/// A File's state: a Blob plus a name and a modification time.
#[derive(Clone, Debug)]
pub struct FileData {
    /// The Blob part.
    pub blob: BlobData,
    /// `name`.
    pub name: JsString,
    /// `lastModified`, milliseconds since the epoch.
    pub last_modified: i64,
}

impl Object {
    // --- Blob, File, FileList ---

    /// A Blob with these bytes (shared, not copied) and `type`.
    pub fn new_blob(bytes: impl Into<Arc<[u8]>>, mime: &str) -> Object {
        Object::from_data(ObjectData::Blob(BlobData {
            bytes: bytes.into(),
            mime: JsString::from(mime),
        }))
    }

    /// A File.
    pub fn new_file(
        bytes: impl Into<Arc<[u8]>>,
        mime: &str,
        name: &str,
        last_modified: i64,
    ) -> Object {
        Object::from_data(ObjectData::File(FileData {
            blob: BlobData {
                bytes: bytes.into(),
                mime: JsString::from(mime),
            },
            name: JsString::from(name),
            last_modified,
        }))
    }

    /// A FileList of these File objects (serializing it fails if one is not a File).
    pub fn new_file_list(files: Vec<Object>) -> Object {
        Object::from_data(ObjectData::FileList(files))
    }

    /// The shared bytes of a Blob or File.
    pub fn blob_bytes(&self) -> Option<Arc<[u8]>> {
        match &*self.borrow() {
            ObjectData::Blob(b) => Some(b.bytes.clone()),
            ObjectData::File(f) => Some(f.blob.bytes.clone()),
            _ => None,
        }
    }
}

pub(super) fn blob_prop(b: &BlobData, key: &str) -> Option<Value> {
    match key {
        "size" => Some(Value::Number(b.bytes.len() as f64)),
        "type" => Some(Value::String(b.mime.clone())),
        _ => None,
    }
}
