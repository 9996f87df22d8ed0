//! The `serde::Serializer` that writes any `T: Serialize` straight into a record,
//! in the mapping of the module documentation.

use serde::ser::{self, Serialize};

use super::error::{SResult, SerdeError};
use crate::clone::{
    clone_err, tag, write_bigint, write_number, write_str, write_varint, MAX_DEPTH,
};

const MAX_SAFE: u64 = 1 << 53;

pub(super) struct RecordSerializer<'o> {
    pub(super) out: &'o mut Vec<u8>,
    pub(super) depth: u32,
}

impl RecordSerializer<'_> {
    fn enter(&mut self) -> SResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(SerdeError::new(clone_err(format!(
                "value nested deeper than {MAX_DEPTH}"
            ))));
        }
        Ok(())
    }

    fn int(&mut self, n: i128) {
        if n.unsigned_abs() <= MAX_SAFE as u128 {
            let i = n as i64;
            write_int(self.out, ((i << 1) ^ (i >> 63)) as u64);
        } else {
            self.out.push(tag::BIGINT);
            write_bigint(self.out, &num_bigint::BigInt::from(n));
        }
    }

    fn big_u(&mut self, n: u128) {
        if n <= i128::MAX as u128 {
            self.int(n as i128)
        } else {
            self.out.push(tag::BIGINT);
            write_bigint(self.out, &num_bigint::BigInt::from(n));
        }
    }
}

/// An INT tag and its (zigzagged) varint: one fixed-size chunk when the varint is one
/// to three bytes, as for most integers (one capacity check, no loop).
#[inline(always)]
fn write_int(out: &mut Vec<u8>, z: u64) {
    if z < 1 << 7 {
        out.extend_from_slice(&[tag::INT, z as u8]);
    } else if z < 1 << 14 {
        out.extend_from_slice(&[tag::INT, z as u8 | 0x80, (z >> 7) as u8]);
    } else if z < 1 << 21 {
        out.extend_from_slice(&[
            tag::INT,
            z as u8 | 0x80,
            (z >> 7) as u8 | 0x80,
            (z >> 14) as u8,
        ]);
    } else {
        out.push(tag::INT);
        write_varint(out, z);
    }
}

/// Compound serializer: arrays, objects, maps, and the variant wrappers.
pub(super) struct Compound<'a, 'o> {
    ser: &'a mut RecordSerializer<'o>,
    /// Where the container's tag was written (maps decide between object and Map at
    /// their first key).
    tag_pos: usize,
    /// Number of elements written (maps: keys).
    count: usize,
    /// Close an extra `{Variant: ...}` object after the container.
    variant: bool,
}

impl Compound<'_, '_> {
    fn end_array(self) -> SResult<()> {
        self.ser.out.push(tag::END);
        write_varint(self.ser.out, self.count as u64);
        self.ser.out.push(tag::END);
        self.finish()
    }

    fn end_object(self) -> SResult<()> {
        self.ser.out.push(tag::END);
        self.finish()
    }

    fn finish(self) -> SResult<()> {
        if self.variant {
            self.ser.out.push(tag::END);
            self.ser.depth -= 1;
        }
        self.ser.depth -= 1;
        Ok(())
    }
}

impl<'a, 'o> RecordSerializer<'o> {
    fn begin(&'a mut self, t: u8, variant: Option<&str>) -> SResult<Compound<'a, 'o>> {
        if let Some(v) = variant {
            self.enter()?;
            self.out.push(tag::OBJECT);
            write_str(self.out, v);
        }
        self.enter()?;
        let tag_pos = self.out.len();
        self.out.push(t);
        Ok(Compound {
            ser: self,
            tag_pos,
            count: 0,
            variant: variant.is_some(),
        })
    }
}

impl<'a, 'o> ser::Serializer for &'a mut RecordSerializer<'o> {
    type Ok = ();
    type Error = SerdeError;
    type SerializeSeq = Compound<'a, 'o>;
    type SerializeTuple = Compound<'a, 'o>;
    type SerializeTupleStruct = Compound<'a, 'o>;
    type SerializeTupleVariant = Compound<'a, 'o>;
    type SerializeMap = Compound<'a, 'o>;
    type SerializeStruct = Compound<'a, 'o>;
    type SerializeStructVariant = Compound<'a, 'o>;

    fn serialize_bool(self, v: bool) -> SResult<()> {
        self.out.push(if v { tag::TRUE } else { tag::FALSE });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> SResult<()> {
        self.int(v as i128);
        Ok(())
    }
    fn serialize_i16(self, v: i16) -> SResult<()> {
        self.int(v as i128);
        Ok(())
    }
    fn serialize_i32(self, v: i32) -> SResult<()> {
        self.int(v as i128);
        Ok(())
    }
    fn serialize_i64(self, v: i64) -> SResult<()> {
        self.int(v as i128);
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> SResult<()> {
        self.int(v);
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> SResult<()> {
        self.int(v as i128);
        Ok(())
    }
    fn serialize_u16(self, v: u16) -> SResult<()> {
        self.int(v as i128);
        Ok(())
    }
    fn serialize_u32(self, v: u32) -> SResult<()> {
        self.int(v as i128);
        Ok(())
    }
    fn serialize_u64(self, v: u64) -> SResult<()> {
        self.int(v as i128);
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> SResult<()> {
        self.big_u(v);
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> SResult<()> {
        write_number(self.out, v as f64);
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> SResult<()> {
        write_number(self.out, v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> SResult<()> {
        write_str(self.out, v.encode_utf8(&mut [0u8; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> SResult<()> {
        write_str(self.out, v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> SResult<()> {
        self.out.push(tag::ARRAY_BUFFER);
        write_varint(self.out, v.len() as u64);
        self.out.extend_from_slice(v);
        Ok(())
    }
    fn serialize_none(self) -> SResult<()> {
        self.out.push(tag::NULL);
        Ok(())
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> SResult<()> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> SResult<()> {
        self.out.push(tag::NULL);
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> SResult<()> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> SResult<()> {
        write_str(self.out, variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        value: &T,
    ) -> SResult<()> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> SResult<()> {
        self.enter()?;
        self.out.push(tag::OBJECT);
        write_str(self.out, variant);
        value.serialize(&mut *self)?;
        self.out.push(tag::END);
        self.depth -= 1;
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> SResult<Compound<'a, 'o>> {
        self.begin(tag::ARRAY, None)
    }
    fn serialize_tuple(self, _len: usize) -> SResult<Compound<'a, 'o>> {
        self.begin(tag::ARRAY, None)
    }
    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> SResult<Compound<'a, 'o>> {
        self.begin(tag::ARRAY, None)
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> SResult<Compound<'a, 'o>> {
        self.begin(tag::ARRAY, Some(variant))
    }
    fn serialize_map(self, _len: Option<usize>) -> SResult<Compound<'a, 'o>> {
        // The tag (OBJECT or MAP) is decided by the first key.
        self.begin(tag::OBJECT, None)
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> SResult<Compound<'a, 'o>> {
        self.begin(tag::OBJECT, None)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> SResult<Compound<'a, 'o>> {
        self.begin(tag::OBJECT, Some(variant))
    }
}

impl ser::SerializeSeq for Compound<'_, '_> {
    type Ok = ();
    type Error = SerdeError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> SResult<()> {
        self.count += 1;
        value.serialize(&mut *self.ser)
    }
    fn end(self) -> SResult<()> {
        self.end_array()
    }
}

impl ser::SerializeTuple for Compound<'_, '_> {
    type Ok = ();
    type Error = SerdeError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> SResult<()> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> SResult<()> {
        self.end_array()
    }
}

impl ser::SerializeTupleStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = SerdeError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> SResult<()> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> SResult<()> {
        self.end_array()
    }
}

impl ser::SerializeTupleVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = SerdeError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> SResult<()> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> SResult<()> {
        self.end_array()
    }
}

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = SerdeError;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> SResult<()> {
        let key_pos = self.ser.out.len();
        key.serialize(&mut *self.ser)?;
        let is_string = matches!(self.ser.out.get(key_pos), Some(&tag::STRING));
        if self.count == 0 {
            // The first key decides: string keys make a plain object, others a Map.
            self.ser.out[self.tag_pos] = if is_string { tag::OBJECT } else { tag::MAP };
        } else if self.ser.out[self.tag_pos] == tag::OBJECT && !is_string {
            return Err(SerdeError::new(clone_err(
                "cannot serialize a map whose first key is a string and a later key is not",
            )));
        }
        self.count += 1;
        Ok(())
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> SResult<()> {
        value.serialize(&mut *self.ser)
    }
    fn end(self) -> SResult<()> {
        self.end_object()
    }
}

impl ser::SerializeStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = SerdeError;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> SResult<()> {
        write_str(self.ser.out, key);
        value.serialize(&mut *self.ser)
    }
    fn end(self) -> SResult<()> {
        self.end_object()
    }
}

impl ser::SerializeStructVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = SerdeError;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> SResult<()> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }
    fn end(self) -> SResult<()> {
        self.end_object()
    }
}
