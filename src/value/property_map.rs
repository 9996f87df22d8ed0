//! An ordinary object's own properties: insertion-ordered, string-keyed data
//! properties (the only kind this model has), as StructuredSerializeInternal's
//! last step enumerates them.

use std::collections::HashMap;
use std::fmt;

use super::{JsString, Value};

/// Insertion-ordered own properties with string keys.
///
/// A plain `Vec` of entries, searched linearly while small; past a dozen entries a
/// hash index is kept as well. The entries live out of
/// line (one allocation of exactly the right size when built by a clone) so that
/// `ObjectData`, and with it every object's allocation, stays small: an inline
/// `SmallVec` of four entries made every object (even a Date) a 272-byte allocation,
/// past glibc's fast bins, and cost a 248-byte copy per object built.
#[derive(Clone, Default)]
pub struct PropertyMap {
    pub(super) entries: Vec<(JsString, Value)>,
    /// Boxed on purpose: a bare HashMap would add 40 bytes to every object.
    #[allow(clippy::box_collection)]
    pub(super) index: Option<Box<HashMap<JsString, usize>>>,
}

pub(super) const INDEX_THRESHOLD: usize = 12;

impl PropertyMap {
    /// An empty map.
    pub fn new() -> PropertyMap {
        PropertyMap::default()
    }

    /// An empty map with room for `n` properties.
    pub fn with_capacity(n: usize) -> PropertyMap {
        PropertyMap {
            entries: Vec::with_capacity(n),
            index: None,
        }
    }

    /// A map of these entries in order, with one allocation of the right size.
    /// Duplicate keys behave as repeated [`PropertyMap::insert`]s (the later value
    /// wins, at the first position), so untrusted input cannot break the map.
    pub(crate) fn from_entries(
        entries: impl ExactSizeIterator<Item = (JsString, Value)>,
    ) -> PropertyMap {
        let mut map = PropertyMap::with_capacity(entries.len());
        map.extend_entries(entries);
        map
    }

    /// Adds these entries to an empty map, as [`PropertyMap::from_entries`] does.
    pub(super) fn extend_entries(
        &mut self,
        entries: impl ExactSizeIterator<Item = (JsString, Value)>,
    ) {
        if entries.len() > INDEX_THRESHOLD {
            for (k, v) in entries {
                self.insert(k, v);
            }
            return;
        }
        // Small maps (nearly all): `insert` without its index checks, since no
        // index is built at this size.
        for (k, v) in entries {
            match self.entries.iter().position(|(e, _)| *e == k) {
                Some(i) => self.entries[i].1 = v,
                None => self.entries.push((k, v)),
            }
        }
    }

    fn position(&self, key: &JsString) -> Option<usize> {
        match &self.index {
            Some(ix) => ix.get(key).copied(),
            None => self.entries.iter().position(|(k, _)| k == key),
        }
    }

    fn position_str(&self, key: &str) -> Option<usize> {
        match &self.index {
            Some(_) => self.position(&JsString::from(key)),
            None => self.entries.iter().position(|(k, _)| k == key),
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.position_str(key).map(|i| &self.entries[i].1)
    }

    /// The value of `key` (any string, lone surrogates included).
    pub fn get_js(&self, key: &JsString) -> Option<&Value> {
        self.position(key).map(|i| &self.entries[i].1)
    }

    /// Sets `key`; an existing key keeps its position (`CLONE-PROP-ORDER`).
    pub fn insert(&mut self, key: JsString, value: Value) {
        if let Some(i) = self.position(&key) {
            self.entries[i].1 = value;
            return;
        }
        if let Some(ix) = &mut self.index {
            ix.insert(key.clone(), self.entries.len());
        }
        self.entries.push((key, value));
        if self.index.is_none() && self.entries.len() > INDEX_THRESHOLD {
            self.rebuild_index();
        }
    }

    /// A map of entries whose keys are known to be distinct (crate use: copying a
    /// map), taking the `Vec` as is.
    pub(crate) fn from_unique(entries: Vec<(JsString, Value)>) -> PropertyMap {
        let mut map = PropertyMap {
            entries,
            index: None,
        };
        if map.entries.len() > INDEX_THRESHOLD {
            map.rebuild_index();
        }
        map
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.position_str(key)?;
        let (_, v) = self.entries.remove(i);
        if self.index.is_some() {
            self.rebuild_index();
        }
        Some(v)
    }

    pub(super) fn rebuild_index(&mut self) {
        let ix = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (k.clone(), i))
            .collect();
        self.index = Some(Box::new(ix));
    }

    /// The number of properties.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no properties.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The properties in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&JsString, &Value)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

impl fmt::Debug for PropertyMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}
