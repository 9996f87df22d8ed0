//! Decodes arbitrary bytes as a structured-clone record, as a `Value` and through
//! the serde bridge: it must never panic, only return `DataCloneError`.
//! Run with `cargo +nightly fuzz run record` from this folder.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use webmessaging_core::clone::{structured_deserialize, structured_serialize, SerializedRecord};
use webmessaging_core::serde_bridge::from_record;

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Msg {
    seq: u32,
    text: String,
    tags: Vec<Option<String>>,
    map: HashMap<String, f64>,
}

fuzz_target!(|data: &[u8]| {
    let rec = SerializedRecord::from_bytes(data.to_vec());
    if let Ok(v) = structured_deserialize(&rec) {
        // What decodes must serialize again.
        structured_serialize(&v).expect("a decoded value serializes");
    }
    let _ = from_record::<Msg>(&rec);
    let _ = from_record::<Vec<String>>(&rec);
    let _ = from_record::<serde::de::IgnoredAny>(&rec);
});
