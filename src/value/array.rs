//! Arrays (Array exotic objects): elements with holes, `length`, and extra
//! non-index properties.

use super::{JsString, PropertyMap, Value};

/// An Array's elements (out of line, for the same reason as [`PropertyMap`]'s entries).
pub type ArrayElements = Vec<Option<Value>>;

/// An Array's elements and extra (non-index) properties.
#[derive(Clone, Default)]
pub struct ArrayData {
    /// The array's `length`. Indices at or past `elements.len()` (and below `length`)
    /// are holes.
    pub length: u32,
    /// Elements by index; `None` is a hole. Never longer than `length`.
    pub elements: ArrayElements,
    /// Own non-index properties (`arr.foo`), in insertion order; `None` when there
    /// are none (the common case, kept out of line).
    pub props: Option<Box<PropertyMap>>,
}

impl ArrayData {
    /// The element at `i`; `None` for a hole or past the end.
    pub fn get(&self, i: u32) -> Option<&Value> {
        self.elements.get(i as usize).and_then(Option::as_ref)
    }

    /// Sets the element at `i`, growing `length` as JavaScript does.
    pub fn set(&mut self, i: u32, v: Value) {
        let iu = i as usize;
        if iu >= self.elements.len() {
            self.elements.resize(iu + 1, None);
        }
        self.elements[iu] = Some(v);
        if i >= self.length {
            self.length = i + 1;
        }
    }

    /// The extra (non-index) properties.
    pub fn props(&self) -> impl Iterator<Item = (&JsString, &Value)> {
        self.props.iter().flat_map(|p| p.iter())
    }

    /// The extra property `key`.
    pub fn prop(&self, key: &str) -> Option<&Value> {
        self.props.as_ref().and_then(|p| p.get(key))
    }

    /// Sets an extra property.
    pub fn set_prop(&mut self, key: JsString, value: Value) {
        self.props
            .get_or_insert_with(Default::default)
            .insert(key, value)
    }

    /// Sets `length`, dropping elements past it.
    pub fn set_length(&mut self, len: u32) {
        self.elements.truncate(len as usize);
        self.length = len;
    }
}

/// Parses a canonical array index (`"0"`, `"17"`, not `"01"` or `"4294967295"`).
pub(crate) fn parse_array_index(key: &str) -> Option<u32> {
    if key.is_empty() || (key.len() > 1 && key.starts_with('0')) {
        return None;
    }
    if !key.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = key.parse().ok()?;
    if n < u32::MAX as u64 {
        Some(n as u32)
    } else {
        None
    }
}
