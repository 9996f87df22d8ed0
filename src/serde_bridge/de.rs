//! The `serde::Deserializer` that reads any `T: Deserialize` straight from a record,
//! leniently where JavaScript is (see the module documentation).

use serde::de::{self, IntoDeserializer, Visitor};

use super::access::EnumAccess;
use super::error::{SResult, SerdeError};
use super::read::{tag_name, RecordDeserializer};
use crate::clone::tag;

macro_rules! de_int {
    ($method:ident, $visit:ident, $t:ty) => {
        fn $method<V: Visitor<'de>>(self, visitor: V) -> SResult<V::Value> {
            let i = self.integer()?;
            match <$t>::try_from(i) {
                Ok(v) => visitor.$visit(v),
                Err(_) => Err(out_of_range(i, stringify!($t))),
            }
        }
    };
}

impl<'de> de::Deserializer<'de> for &mut RecordDeserializer<'_> {
    type Error = SerdeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> SResult<V::Value> {
        if self.r.peek_is(tag::OBJECT) {
            return self.plain_object(visitor);
        }
        let back = self.follow()?;
        let (t, id) = self.begin_value()?;
        let v = self.any_tagged(t, id, visitor)?;
        self.unfollow(back);
        Ok(v)
    }

    de_int!(deserialize_i8, visit_i8, i8);
    de_int!(deserialize_i16, visit_i16, i16);
    de_int!(deserialize_i32, visit_i32, i32);
    de_int!(deserialize_i64, visit_i64, i64);
    de_int!(deserialize_i128, visit_i128, i128);
    de_int!(deserialize_u8, visit_u8, u8);
    de_int!(deserialize_u16, visit_u16, u16);
    de_int!(deserialize_u32, visit_u32, u32);
    de_int!(deserialize_u64, visit_u64, u64);

    fn deserialize_u128<V: Visitor<'de>>(self, visitor: V) -> SResult<V::Value> {
        let back = self.follow()?;
        if matches!(self.peek_tag()?, tag::BIGINT | tag::BIGINT_OBJECT) {
            let (_, id) = self.begin_value()?;
            let b = self.r.bigint_body()?;
            self.end_value(id);
            self.unfollow(back);
            return match u128::try_from(&b) {
                Ok(u) => visitor.visit_u128(u),
                Err(_) => self.err(format!("{b} is out of range for u128")),
            };
        }
        self.unfollow(back);
        let i = self.integer()?;
        match u128::try_from(i) {
            Ok(u) => visitor.visit_u128(u),
            Err(_) => self.err(format!("{i} is out of range for u128")),
        }
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> SResult<V::Value> {
        let f = self.float()?;
        visitor.visit_f32(f as f32)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> SResult<V::Value> {
        let f = self.float()?;
        visitor.visit_f64(f)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> SResult<V::Value> {
        self.deserialize_any(visitor)
    }
    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> SResult<V::Value> {
        self.deserialize_any(visitor)
    }
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> SResult<V::Value> {
        match self.short_str() {
            Some(s) => visitor.visit_str(s),
            None => str_long(self, visitor),
        }
    }
    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> SResult<V::Value> {
        match self.short_str() {
            Some(s) => visitor.visit_str(s),
            None => str_long(self, visitor),
        }
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> SResult<V::Value> {
        let back = self.follow()?;
        if self.peek_tag()? == tag::ARRAY {
            // An array of numbers reads as bytes too.
            self.unfollow(back);
            let v: Vec<u8> = de::Deserialize::deserialize(&mut *self)?;
            return visitor.visit_byte_buf(v);
        }
        let (t, id) = self.begin_value()?;
        let v = self.any_tagged(t, id, visitor)?;
        self.unfollow(back);
        Ok(v)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> SResult<V::Value> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> SResult<V::Value> {
        match self.r.peek()? {
            tag::NULL | tag::UNDEFINED | tag::HOLE => {
                self.r.u8()?;
                visitor.visit_none()
            }
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> SResult<V::Value> {
        self.deserialize_any(visitor)
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> SResult<V::Value> {
        self.deserialize_any(visitor)
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> SResult<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> SResult<V::Value> {
        let back = self.follow()?;
        let (t, id) = self.begin_value()?;
        let v = match t {
            tag::ARRAY_BUFFER | tag::RESIZABLE_ARRAY_BUFFER | tag::VIEW | tag::BLOB | tag::FILE => {
                let bytes = match t {
                    tag::VIEW => self.view_bytes()?,
                    tag::BLOB => {
                        let b = self.blob_bytes()?;
                        self.read_string()?;
                        b
                    }
                    tag::FILE => {
                        let b = self.blob_bytes()?;
                        self.read_string()?;
                        self.read_string()?;
                        self.r.varint()?;
                        b
                    }
                    _ => {
                        let n = self.r.len(1)?;
                        if t == tag::RESIZABLE_ARRAY_BUFFER {
                            self.r.varint()?;
                        }
                        self.r.bytes(n)?.to_vec()
                    }
                };
                self.end_value(id);
                visitor.visit_seq(de::value::SeqDeserializer::<_, SerdeError>::new(
                    bytes.into_iter(),
                ))?
            }
            _ => self.any_tagged(t, id, visitor)?,
        };
        self.unfollow(back);
        Ok(v)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> SResult<V::Value> {
        self.deserialize_seq(visitor)
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> SResult<V::Value> {
        self.deserialize_seq(visitor)
    }
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> SResult<V::Value> {
        self.deserialize_any(visitor)
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> SResult<V::Value> {
        self.deserialize_any(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> SResult<V::Value> {
        let back = self.follow()?;
        let (t, id) = self.begin_value()?;
        let v = match t {
            tag::STRING | tag::STRING16 => {
                let s = self.str_of(t)?;
                visitor.visit_enum(IntoDeserializer::<SerdeError>::into_deserializer(s))?
            }
            tag::OBJECT => {
                let v = visitor.visit_enum(EnumAccess { de: &mut *self })?;
                if self.r.u8()? != tag::END {
                    return self.err("an enum variant object must have exactly one key");
                }
                self.end_value(id);
                v
            }
            _ => {
                return self.err(format!(
                    "expected an enum (a string or a one-key object), found {}",
                    tag_name(t)
                ))
            }
        };
        self.unfollow(back);
        Ok(v)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> SResult<V::Value> {
        match self.short_str() {
            Some(s) => visitor.visit_str(s),
            None => str_long(self, visitor),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> SResult<V::Value> {
        self.deserialize_any(visitor)
    }
}

/// A string (or an identifier) in general, out of line: the path behind the fast path
/// of short ASCII strings (keeps its callers small).
#[inline(never)]
fn str_long<'de, V: Visitor<'de>>(
    de: &mut RecordDeserializer<'_>,
    visitor: V,
) -> SResult<V::Value> {
    match de.plain_str()? {
        Some(s) => visitor.visit_str(s),
        None => de::Deserializer::deserialize_any(de, visitor),
    }
}

/// An integer that does not fit the type asked for.
#[cold]
#[inline(never)]
fn out_of_range(i: i128, ty: &str) -> SerdeError {
    SerdeError::new(crate::clone::clone_err(format!(
        "{i} is out of range for {ty}"
    )))
}
