//! Maps and Sets (the `[[MapData]]` and `[[SetData]]` branches of
//! <https://html.spec.whatwg.org/multipage/structured-data.html#structuredserializeinternal>):
//! insertion-ordered entries keyed by SameValueZero.

use std::collections::HashMap;

use num_bigint::BigInt;

use super::property_map::INDEX_THRESHOLD;
use super::{JsString, Object, ObjectData, Value};

/// The kind-specific key used to find Map keys and Set values (SameValueZero).
#[derive(Clone, PartialEq, Eq, Hash)]
pub(super) enum KeyId {
    Undefined,
    Null,
    Bool(bool),
    Number(u64),
    BigInt(BigInt),
    String(JsString),
    Symbol(usize),
    Object(usize),
}

impl KeyId {
    fn of(v: &Value) -> KeyId {
        match v {
            Value::Undefined => KeyId::Undefined,
            Value::Null => KeyId::Null,
            Value::Bool(b) => KeyId::Bool(*b),
            Value::Number(n) => KeyId::Number(if *n == 0.0 {
                0
            } else if n.is_nan() {
                f64::NAN.to_bits()
            } else {
                n.to_bits()
            }),
            Value::BigInt(b) => KeyId::BigInt(b.clone()),
            Value::String(s) => KeyId::String(s.clone()),
            Value::Symbol(s) => KeyId::Symbol(s.addr()),
            Value::Object(o) => KeyId::Object(o.addr()),
        }
    }
}

/// The entries of a Map (or the values of a Set, with `undefined` values), in
/// insertion order, keyed by SameValueZero.
#[derive(Clone, Default)]
pub struct CollectionData {
    pub(super) entries: Vec<(Value, Value)>,
    /// Boxed so that a Map or Set does not make `ObjectData` (every object) larger.
    #[allow(clippy::box_collection)]
    pub(super) index: Option<Box<HashMap<KeyId, usize>>>,
}

impl CollectionData {
    /// An empty collection.
    pub fn new() -> CollectionData {
        CollectionData::default()
    }

    /// A collection of entries whose keys are known to be distinct by SameValueZero
    /// (crate use: copying a collection), taking the `Vec` as is.
    pub(crate) fn from_unique(entries: Vec<(Value, Value)>) -> CollectionData {
        let index = (entries.len() > INDEX_THRESHOLD).then(|| {
            Box::new(
                entries
                    .iter()
                    .enumerate()
                    .map(|(i, (k, _))| (KeyId::of(k), i))
                    .collect(),
            )
        });
        CollectionData { entries, index }
    }

    /// A collection of these entries in order, with one allocation of the right
    /// size; duplicates behave as repeated [`CollectionData::insert`]s.
    pub(crate) fn from_entries(
        entries: impl ExactSizeIterator<Item = (Value, Value)>,
    ) -> CollectionData {
        let mut c = CollectionData {
            entries: Vec::with_capacity(entries.len()),
            index: None,
        };
        for (k, v) in entries {
            c.insert(k, v);
        }
        c
    }

    fn position(&self, key: &Value) -> Option<usize> {
        match &self.index {
            Some(ix) => ix.get(&KeyId::of(key)).copied(),
            None => self
                .entries
                .iter()
                .position(|(k, _)| k.same_value_zero(key)),
        }
    }

    /// The value for `key`.
    pub fn get(&self, key: &Value) -> Option<&Value> {
        self.position(key).map(|i| &self.entries[i].1)
    }

    /// True when `key` is present.
    pub fn contains(&self, key: &Value) -> bool {
        self.position(key).is_some()
    }

    /// `Map.prototype.set`: an existing key keeps its position; -0 keys become +0.
    pub fn insert(&mut self, key: Value, value: Value) {
        if let Some(i) = self.position(&key) {
            self.entries[i].1 = value;
            return;
        }
        let key = match key {
            // -0 keys become +0 (Map.prototype.set step 5).
            Value::Number(n) => Value::Number(if n == 0.0 { 0.0 } else { n }),
            k => k,
        };
        if let Some(ix) = &mut self.index {
            ix.insert(KeyId::of(&key), self.entries.len());
        }
        self.entries.push((key, value));
        if self.index.is_none() && self.entries.len() > INDEX_THRESHOLD {
            self.index = Some(Box::new(
                self.entries
                    .iter()
                    .enumerate()
                    .map(|(i, (k, _))| (KeyId::of(k), i))
                    .collect(),
            ));
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &Value) -> Option<Value> {
        let i = self.position(key)?;
        let (_, v) = self.entries.remove(i);
        if self.index.is_some() {
            self.index = Some(Box::new(
                self.entries
                    .iter()
                    .enumerate()
                    .map(|(i, (k, _))| (KeyId::of(k), i))
                    .collect(),
            ));
        }
        Some(v)
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&Value, &Value)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

impl Object {
    // --- Map, Set ---

    /// A Map with these entries (later duplicates overwrite, keeping the first position).
    pub fn new_map(entries: impl IntoIterator<Item = (Value, Value)>) -> Object {
        let mut c = CollectionData::new();
        for (k, v) in entries {
            c.insert(k, v);
        }
        Object::from_data(ObjectData::Map(c))
    }

    /// A Set with these values (duplicates by SameValueZero dropped).
    pub fn new_set(items: impl IntoIterator<Item = Value>) -> Object {
        let mut c = CollectionData::new();
        for k in items {
            c.insert(k, Value::Undefined);
        }
        Object::from_data(ObjectData::Set(c))
    }

    /// `Map.prototype.get`.
    pub fn map_get(&self, key: &Value) -> Option<Value> {
        match &*self.borrow() {
            ObjectData::Map(m) => m.get(key).cloned(),
            _ => None,
        }
    }

    /// `Map.prototype.set` (ignored on other objects).
    pub fn map_set(&self, key: Value, value: Value) {
        if let ObjectData::Map(m) = &mut *self.borrow_mut() {
            m.insert(key, value);
        }
    }

    /// The entries of a Map, in insertion order.
    pub fn map_entries(&self) -> Option<Vec<(Value, Value)>> {
        match &*self.borrow() {
            ObjectData::Map(m) => Some(m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
            _ => None,
        }
    }

    /// `Set.prototype.add` (ignored on other objects).
    pub fn set_add(&self, value: Value) {
        if let ObjectData::Set(s) = &mut *self.borrow_mut() {
            s.insert(value, Value::Undefined);
        }
    }

    /// `Set.prototype.has` (or `Map.prototype.has` on a Map).
    pub fn collection_has(&self, key: &Value) -> bool {
        match &*self.borrow() {
            ObjectData::Map(m) | ObjectData::Set(m) => m.contains(key),
            _ => false,
        }
    }

    /// The values of a Set, in insertion order.
    pub fn set_values(&self) -> Option<Vec<Value>> {
        match &*self.borrow() {
            ObjectData::Set(s) => Some(s.iter().map(|(k, _)| k.clone()).collect()),
            _ => None,
        }
    }
}
