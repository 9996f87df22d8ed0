//! Structured clone benchmarks, side by side with
//! `/work/shared/bench-peers/node/structuredclone.js`:
//!
//! - `nested_1kb`: `structured_clone` of the same ~1 KB nested object (objects,
//!   arrays, strings, numbers, a Date, a Map);
//! - `buf1mib_copy` / `buf1mib_transfer`: a 1 MiB ArrayBuffer cloned by copy, and
//!   transferred (constant time: the bytes move);
//! - `small_serde` / `small_value`: `{seq, text: "hello"}` through a record and back,
//!   as a serde struct and as a `Value`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use serde::{Deserialize, Serialize};

use webmessaging_core::clone::{structured_clone, structured_deserialize, structured_serialize};
use webmessaging_core::serde_bridge::{from_record, to_record};
use webmessaging_core::value::{Object, Value};

#[path = "support/nested.rs"]
mod nested;
use nested::make_nested;

#[derive(Serialize, Deserialize)]
struct Small {
    seq: u32,
    text: String,
}

fn benches(c: &mut Criterion) {
    let nested = make_nested();
    eprintln!(
        "nested object: {} record bytes",
        structured_serialize(&nested).unwrap().len()
    );
    c.bench_function("nested_1kb_structured_clone", |b| {
        b.iter(|| structured_clone(black_box(&nested), &[]).unwrap())
    });
    let rec = structured_serialize(&nested).unwrap();
    c.bench_function("nested_1kb_serialize_only", |b| {
        b.iter(|| structured_serialize(black_box(&nested)).unwrap())
    });
    c.bench_function("nested_1kb_deserialize_only", |b| {
        b.iter(|| structured_deserialize(black_box(&rec)).unwrap())
    });

    let buf = Value::from(Object::new_array_buffer(vec![7u8; 1 << 20]));
    c.bench_function("buf1mib_copy_clone", |b| {
        b.iter(|| structured_clone(black_box(&buf), &[]).unwrap())
    });
    c.bench_function("buf1mib_transfer_clone", |b| {
        let mut cur = Value::from(Object::new_array_buffer(vec![7u8; 1 << 20]));
        b.iter(|| {
            let next = structured_clone(&cur, std::slice::from_ref(&cur)).unwrap();
            cur = next;
        })
    });

    let mut seq = 0u32;
    c.bench_function("small_serde_to_from_record", |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            let rec = to_record(&Small {
                seq,
                text: "hello".to_string(),
            })
            .unwrap();
            let back: Small = from_record(black_box(&rec)).unwrap();
            back.seq
        })
    });
    let small = Value::from(Object::from_pairs([
        ("seq", Value::from(1)),
        ("text", Value::from("hello")),
    ]));
    c.bench_function("small_value_serialize_deserialize", |b| {
        b.iter(|| {
            let rec = structured_serialize(black_box(&small)).unwrap();
            structured_deserialize(&rec).unwrap()
        })
    });
}

criterion_group! {
    name = clone_benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1)).sample_size(30);
    targets = benches
}
criterion_main!(clone_benches);
