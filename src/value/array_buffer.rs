//! ArrayBuffers and their views: typed arrays and DataView (the
//! `[[ArrayBufferData]]` and `[[ViewedArrayBuffer]]` branches of
//! <https://html.spec.whatwg.org/multipage/structured-data.html#structuredserializeinternal>).

use crate::error::{Error, Result};

use super::{Object, ObjectData};

/// The kind of a typed-array view or DataView.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ViewKind {
    /// `Int8Array`.
    Int8,
    /// `Uint8Array`.
    Uint8,
    /// `Uint8ClampedArray`.
    Uint8Clamped,
    /// `Int16Array`.
    Int16,
    /// `Uint16Array`.
    Uint16,
    /// `Int32Array`.
    Int32,
    /// `Uint32Array`.
    Uint32,
    /// `Float16Array`.
    Float16,
    /// `Float32Array`.
    Float32,
    /// `Float64Array`.
    Float64,
    /// `BigInt64Array`.
    BigInt64,
    /// `BigUint64Array`.
    BigUint64,
    /// `DataView` (its length is in bytes).
    DataView,
}

impl ViewKind {
    /// All kinds, in the order of their serialized tags.
    pub const ALL: [ViewKind; 13] = [
        ViewKind::Int8,
        ViewKind::Uint8,
        ViewKind::Uint8Clamped,
        ViewKind::Int16,
        ViewKind::Uint16,
        ViewKind::Int32,
        ViewKind::Uint32,
        ViewKind::Float16,
        ViewKind::Float32,
        ViewKind::Float64,
        ViewKind::BigInt64,
        ViewKind::BigUint64,
        ViewKind::DataView,
    ];

    /// Bytes per element (1 for DataView, whose length counts bytes).
    pub const fn element_size(self) -> usize {
        match self {
            ViewKind::Int8 | ViewKind::Uint8 | ViewKind::Uint8Clamped | ViewKind::DataView => 1,
            ViewKind::Int16 | ViewKind::Uint16 | ViewKind::Float16 => 2,
            ViewKind::Int32 | ViewKind::Uint32 | ViewKind::Float32 => 4,
            ViewKind::Float64 | ViewKind::BigInt64 | ViewKind::BigUint64 => 8,
        }
    }

    /// The constructor name, for example `"Uint8Array"`.
    pub const fn class_name(self) -> &'static str {
        match self {
            ViewKind::Int8 => "Int8Array",
            ViewKind::Uint8 => "Uint8Array",
            ViewKind::Uint8Clamped => "Uint8ClampedArray",
            ViewKind::Int16 => "Int16Array",
            ViewKind::Uint16 => "Uint16Array",
            ViewKind::Int32 => "Int32Array",
            ViewKind::Uint32 => "Uint32Array",
            ViewKind::Float16 => "Float16Array",
            ViewKind::Float32 => "Float32Array",
            ViewKind::Float64 => "Float64Array",
            ViewKind::BigInt64 => "BigInt64Array",
            ViewKind::BigUint64 => "BigUint64Array",
            ViewKind::DataView => "DataView",
        }
    }

    pub(crate) fn tag(self) -> u8 {
        self as u8
    }

    pub(crate) fn from_tag(tag: u8) -> Option<ViewKind> {
        ViewKind::ALL.get(tag as usize).copied()
    }
}

/// An ArrayBuffer's state.
#[derive(Clone, Debug, Default)]
pub struct ArrayBufferData {
    /// The bytes (empty once detached).
    pub bytes: Vec<u8>,
    /// `maxByteLength` of a resizable buffer; `None` for a fixed-length one.
    pub max_byte_length: Option<usize>,
    /// True once detached (transferred).
    pub detached: bool,
}

/// A typed-array view or DataView.
#[derive(Clone)]
pub struct ViewData {
    /// Its kind.
    pub kind: ViewKind,
    /// The ArrayBuffer object it views.
    pub buffer: Object,
    /// Offset in bytes into the buffer.
    pub byte_offset: usize,
    /// Fixed length in elements (bytes for DataView), or `None` when it tracks the
    /// length of a resizable buffer.
    pub length: Option<usize>,
}

impl ViewData {
    /// `(current length in elements, out_of_bounds)` against the buffer's current size.
    pub fn current_length(&self) -> (usize, bool) {
        let b = self.buffer.borrow();
        let buf_len = match &*b {
            ObjectData::ArrayBuffer(ab) if !ab.detached => ab.bytes.len(),
            _ => return (0, true),
        };
        let es = self.kind.element_size();
        match self.length {
            Some(len) => {
                let end = len
                    .checked_mul(es)
                    .and_then(|n| n.checked_add(self.byte_offset));
                match end {
                    Some(end) if end <= buf_len => (len, false),
                    _ => (0, true),
                }
            }
            None => {
                if self.byte_offset > buf_len {
                    (0, true)
                } else {
                    ((buf_len - self.byte_offset) / es, false)
                }
            }
        }
    }
}

impl Object {
    // --- ArrayBuffer ---

    /// A fixed-length ArrayBuffer holding `bytes`.
    pub fn new_array_buffer(bytes: Vec<u8>) -> Object {
        Object::from_data(ObjectData::ArrayBuffer(ArrayBufferData {
            bytes,
            max_byte_length: None,
            detached: false,
        }))
    }

    /// A resizable ArrayBuffer; `max_byte_length` is raised to the length if smaller.
    pub fn new_resizable_array_buffer(bytes: Vec<u8>, max_byte_length: usize) -> Object {
        let max = max_byte_length.max(bytes.len());
        Object::from_data(ObjectData::ArrayBuffer(ArrayBufferData {
            bytes,
            max_byte_length: Some(max),
            detached: false,
        }))
    }

    /// `byteLength` of an ArrayBuffer (0 once detached), a view or a Blob/File.
    pub fn byte_length(&self) -> Option<usize> {
        match &*self.borrow() {
            ObjectData::ArrayBuffer(ab) => Some(ab.bytes.len()),
            ObjectData::View(v) => Some(v.current_length().0 * v.kind.element_size()),
            ObjectData::Blob(b) => Some(b.bytes.len()),
            ObjectData::File(f) => Some(f.blob.bytes.len()),
            _ => None,
        }
    }

    /// `maxByteLength` of a resizable ArrayBuffer.
    pub fn max_byte_length(&self) -> Option<usize> {
        match &*self.borrow() {
            ObjectData::ArrayBuffer(ab) => ab.max_byte_length,
            _ => None,
        }
    }

    /// True for a detached ArrayBuffer, or a detached MessagePort.
    pub fn is_detached(&self) -> bool {
        match &*self.borrow() {
            ObjectData::ArrayBuffer(ab) => ab.detached,
            ObjectData::Port(p) => p.is_detached(),
            _ => false,
        }
    }

    /// Runs `f` on the bytes of an ArrayBuffer, the viewed bytes of a view, or a
    /// Blob's bytes.
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        match &*self.borrow() {
            ObjectData::ArrayBuffer(ab) => Some(f(&ab.bytes)),
            ObjectData::View(v) => {
                let (len, oob) = v.current_length();
                if oob {
                    return Some(f(&[]));
                }
                let b = v.buffer.borrow();
                match &*b {
                    ObjectData::ArrayBuffer(ab) => {
                        let start = v.byte_offset;
                        let end = start + len * v.kind.element_size();
                        Some(f(&ab.bytes[start..end]))
                    }
                    _ => None,
                }
            }
            ObjectData::Blob(b) => Some(f(&b.bytes)),
            ObjectData::File(fd) => Some(f(&fd.blob.bytes)),
            _ => None,
        }
    }

    /// Runs `f` on the bytes of a (non-detached) ArrayBuffer, mutably.
    pub fn with_bytes_mut<R>(&self, f: impl FnOnce(&mut [u8]) -> R) -> Option<R> {
        match &mut *self.borrow_mut() {
            ObjectData::ArrayBuffer(ab) if !ab.detached => Some(f(&mut ab.bytes)),
            _ => None,
        }
    }

    /// `ArrayBuffer.prototype.resize`: only for resizable, non-detached buffers and
    /// `new_len <= maxByteLength` (else `TypeError`/`RangeError`-like `Error::Type`).
    /// New bytes are zero.
    pub fn resize(&self, new_len: usize) -> Result<()> {
        match &mut *self.borrow_mut() {
            ObjectData::ArrayBuffer(ab) => {
                if ab.detached {
                    return Err(Error::Type("ArrayBuffer is detached".into()));
                }
                match ab.max_byte_length {
                    None => Err(Error::Type("ArrayBuffer is not resizable".into())),
                    Some(max) if new_len > max => Err(Error::Type(format!(
                        "new length {new_len} exceeds maxByteLength {max}"
                    ))),
                    Some(_) => {
                        ab.bytes.resize(new_len, 0);
                        Ok(())
                    }
                }
            }
            _ => Err(Error::Type("not an ArrayBuffer".into())),
        }
    }

    /// Detaches an ArrayBuffer (as `ArrayBuffer.prototype.transfer` would), returning
    /// its bytes; `None` when not an ArrayBuffer or already detached.
    pub fn detach(&self) -> Option<Vec<u8>> {
        match &mut *self.borrow_mut() {
            ObjectData::ArrayBuffer(ab) if !ab.detached => {
                ab.detached = true;
                Some(std::mem::take(&mut ab.bytes))
            }
            _ => None,
        }
    }

    // --- views ---

    /// A typed array (or DataView, with `ViewKind::DataView`) over `buffer`.
    /// `length` is in elements (bytes for DataView); `None` makes a length-tracking
    /// view that follows a resizable buffer. Fails with `Error::Type` (RangeError in
    /// JavaScript) for a misaligned offset, a view past the end of the buffer, a
    /// detached buffer, or a `buffer` that is not an ArrayBuffer.
    pub fn new_typed_array(
        kind: ViewKind,
        buffer: &Object,
        byte_offset: usize,
        length: Option<usize>,
    ) -> Result<Object> {
        check_view(kind, buffer, byte_offset, length).map_err(Error::Type)?;
        Ok(Object::from_data(ObjectData::View(ViewData {
            kind,
            buffer: buffer.clone(),
            byte_offset,
            length,
        })))
    }

    /// A DataView over `buffer` (`byte_length: None` = length-tracking).
    pub fn new_data_view(
        buffer: &Object,
        byte_offset: usize,
        byte_length: Option<usize>,
    ) -> Result<Object> {
        Object::new_typed_array(ViewKind::DataView, buffer, byte_offset, byte_length)
    }

    /// The kind of a view.
    pub fn view_kind(&self) -> Option<ViewKind> {
        match &*self.borrow() {
            ObjectData::View(v) => Some(v.kind),
            _ => None,
        }
    }

    /// The buffer of a view.
    pub fn view_buffer(&self) -> Option<Object> {
        match &*self.borrow() {
            ObjectData::View(v) => Some(v.buffer.clone()),
            _ => None,
        }
    }

    /// True for a view whose buffer shrank (or was detached) below its range.
    pub fn is_out_of_bounds(&self) -> bool {
        match &*self.borrow() {
            ObjectData::View(v) => v.current_length().1,
            _ => false,
        }
    }
}

/// Checks a view's parameters against its buffer; the message says what is wrong.
pub(crate) fn check_view(
    kind: ViewKind,
    buffer: &Object,
    byte_offset: usize,
    length: Option<usize>,
) -> std::result::Result<(), String> {
    let b = buffer.borrow();
    let ab = match &*b {
        ObjectData::ArrayBuffer(ab) => ab,
        other => {
            return Err(format!(
                "a view needs an ArrayBuffer, not {}",
                other.class_name()
            ))
        }
    };
    if ab.detached {
        return Err("ArrayBuffer is detached".into());
    }
    let es = kind.element_size();
    if !byte_offset.is_multiple_of(es) {
        return Err(format!(
            "start offset of {} should be a multiple of {es}",
            kind.class_name()
        ));
    }
    let len = ab.bytes.len();
    match length {
        Some(n) => {
            let end = n.checked_mul(es).and_then(|x| x.checked_add(byte_offset));
            match end {
                Some(end) if end <= len => Ok(()),
                _ => Err(format!(
                    "{} range is out of the buffer's bounds",
                    kind.class_name()
                )),
            }
        }
        None => {
            if byte_offset > len {
                Err(format!(
                    "start offset {byte_offset} is outside the bounds of the buffer"
                ))
            } else if ab.max_byte_length.is_none() && !(len - byte_offset).is_multiple_of(es) {
                Err(format!(
                    "byte length of {} should be a multiple of {es}",
                    kind.class_name()
                ))
            } else {
                Ok(())
            }
        }
    }
}
