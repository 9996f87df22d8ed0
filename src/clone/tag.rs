//! Tags of the binary format (one byte before each value).

pub const UNDEFINED: u8 = 0;
pub const NULL: u8 = 1;
pub const FALSE: u8 = 2;
pub const TRUE: u8 = 3;
/// Zigzag varint: a Number that is an integer in ±2^53 and not -0.
pub const INT: u8 = 4;
/// 8 bytes little-endian f64.
pub const DOUBLE: u8 = 5;
/// Sign byte (0 zero, 1 positive, 2 negative), varint length, magnitude LE.
pub const BIGINT: u8 = 6;
/// Varint byte length, UTF-8 bytes.
pub const STRING: u8 = 7;
/// Varint code-unit count, UTF-16 LE code units (only for lone surrogates).
pub const STRING16: u8 = 8;
/// Varint object id.
pub const BACKREF: u8 = 9;
/// (key value)* END.
pub const OBJECT: u8 = 10;
/// (value | HOLE)* END, varint length, (key value)* END.
pub const ARRAY: u8 = 11;
pub const BOOLEAN_OBJECT: u8 = 12;
pub const NUMBER_OBJECT: u8 = 13;
pub const STRING_OBJECT: u8 = 14;
pub const BIGINT_OBJECT: u8 = 15;
pub const DATE: u8 = 16;
pub const REGEXP: u8 = 17;
/// Varint length, bytes.
pub const ARRAY_BUFFER: u8 = 18;
/// Varint length, varint max length, bytes.
pub const RESIZABLE_ARRAY_BUFFER: u8 = 19;
/// Varint index into the transferred ArrayBuffers.
pub const TRANSFERRED_ARRAY_BUFFER: u8 = 20;
/// Varint index into the transferred ports.
pub const TRANSFERRED_PORT: u8 = 21;
/// Kind byte, varint offset, varint (length + 1, or 0 when length-tracking), buffer value.
pub const VIEW: u8 = 22;
/// Varint blob index, type string.
pub const BLOB: u8 = 23;
/// Varint blob index, type, name, zigzag last-modified.
pub const FILE: u8 = 24;
/// Varint count, File values.
pub const FILE_LIST: u8 = 25;
/// (key value)* END.
pub const MAP: u8 = 26;
/// value* END.
pub const SET: u8 = 27;
/// Kind byte, flags byte (1 message, 2 stack), then those strings.
pub const ERROR: u8 = 28;
/// Name string, message string.
pub const DOM_EXCEPTION: u8 = 29;
pub const END: u8 = 30;
pub const HOLE: u8 = 31;
/// Prefix of an object that may be met again: it gets the next object id (only
/// these objects are numbered, so back-references only target them).
pub const SHARED: u8 = 32;
