//! serde's access types over the record: the properties of a plain object, the
//! entries of a Map, the elements of an Array or Set, a FileList, and enum variants.

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use super::error::{SResult, SerdeError};
use super::read::RecordDeserializer;
use crate::clone::tag;

/// Reads and ignores the rest of a map's entries (up to its end).
fn skip_entries<'de>(m: &mut impl MapAccess<'de, Error = SerdeError>) -> SResult<()> {
    while m.next_key::<de::IgnoredAny>()?.is_some() {
        m.next_value::<de::IgnoredAny>()?;
    }
    Ok(())
}

/// Properties of a plain object (keys are strings).
pub(super) struct ObjectAccess<'d, 'a> {
    pub(super) de: &'d mut RecordDeserializer<'a>,
    pub(super) done: bool,
}

impl ObjectAccess<'_, '_> {
    /// Skips the properties the visitor did not read (none, usually).
    #[inline(always)]
    pub(super) fn drain(&mut self) -> SResult<()> {
        if self.done {
            return Ok(());
        }
        self.drain_rest()
    }

    #[inline(never)]
    fn drain_rest(&mut self) -> SResult<()> {
        skip_entries(self)
    }
}

impl<'de> MapAccess<'de> for ObjectAccess<'_, '_> {
    type Error = SerdeError;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> SResult<Option<K::Value>> {
        if self.done {
            return Ok(None);
        }
        match self.de.r.peek()? {
            tag::END => {
                self.de.r.pos += 1;
                self.done = true;
                Ok(None)
            }
            tag::STRING | tag::STRING16 => seed.deserialize(&mut *self.de).map(Some),
            t => self
                .de
                .err(format!("expected a property key, found tag {t}")),
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> SResult<V::Value> {
        seed.deserialize(&mut *self.de)
    }
}

/// Entries of a Map (keys are any values).
pub(super) struct MapEntries<'d, 'a> {
    pub(super) de: &'d mut RecordDeserializer<'a>,
    pub(super) done: bool,
}

impl MapEntries<'_, '_> {
    /// Skips the entries the visitor did not read.
    pub(super) fn drain(&mut self) -> SResult<()> {
        skip_entries(self)
    }
}

impl<'de> MapAccess<'de> for MapEntries<'_, '_> {
    type Error = SerdeError;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> SResult<Option<K::Value>> {
        if self.done {
            return Ok(None);
        }
        if self.de.r.peek()? == tag::END {
            self.de.r.u8()?;
            self.done = true;
            return Ok(None);
        }
        seed.deserialize(&mut *self.de).map(Some)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> SResult<V::Value> {
        seed.deserialize(&mut *self.de)
    }
}

/// Elements of an Array (holes read as unit) or values of a Set, up to END.
pub(super) struct Elements<'d, 'a> {
    pub(super) de: &'d mut RecordDeserializer<'a>,
    pub(super) done: bool,
}

impl Elements<'_, '_> {
    pub(super) fn drain(&mut self) -> SResult<()> {
        while !self.done {
            if self.next_element::<de::IgnoredAny>()?.is_none() {
                break;
            }
        }
        Ok(())
    }
}

impl<'de> SeqAccess<'de> for Elements<'_, '_> {
    type Error = SerdeError;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> SResult<Option<T::Value>> {
        if self.done {
            return Ok(None);
        }
        if self.de.r.peek()? == tag::END {
            self.de.r.u8()?;
            self.done = true;
            return Ok(None);
        }
        seed.deserialize(&mut *self.de).map(Some)
    }
}

/// A counted list of values (FileList).
pub(super) struct CountedElements<'d, 'a> {
    pub(super) de: &'d mut RecordDeserializer<'a>,
    pub(super) left: usize,
}

impl<'de> SeqAccess<'de> for CountedElements<'_, '_> {
    type Error = SerdeError;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> SResult<Option<T::Value>> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.de).map(Some)
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

/// `{Variant: content}`: the key names the variant.
pub(super) struct EnumAccess<'d, 'a> {
    pub(super) de: &'d mut RecordDeserializer<'a>,
}

impl<'de> de::EnumAccess<'de> for EnumAccess<'_, '_> {
    type Error = SerdeError;
    type Variant = Self;
    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> SResult<(V::Value, Self)> {
        match self.de.r.peek()? {
            tag::STRING | tag::STRING16 => {}
            _ => {
                return self
                    .de
                    .err("an enum variant object must have exactly one key")
            }
        }
        let v = seed.deserialize(&mut *self.de)?;
        Ok((v, self))
    }
}

impl<'de> de::VariantAccess<'de> for EnumAccess<'_, '_> {
    type Error = SerdeError;
    fn unit_variant(self) -> SResult<()> {
        de::Deserialize::deserialize(&mut *self.de)
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> SResult<T::Value> {
        seed.deserialize(&mut *self.de)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> SResult<V::Value> {
        de::Deserializer::deserialize_seq(&mut *self.de, visitor)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> SResult<V::Value> {
        de::Deserializer::deserialize_any(&mut *self.de, visitor)
    }
}
